/**
 * The commands about a container's filesystem and processes: top, port,
 * diff, commit, export, update, container prune (docker/cli
 * cli/command/container/{top,port,diff,commit,export,update,prune}.go).
 */
import { createWriteStream, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { FlagValues } from "../../flags.ts";
import { renderFormat, tabwrite } from "../../template/index.ts";
import { parseReference, repository, tagNameOnly } from "../../../image/reference.ts";
import type { CliCommand } from "../command.ts";
import { humanSize } from "../image/units.ts";
import { containerPath, errorText, filtersJson, confirm, type ContainerInspect } from "./common.ts";
import { flagValue, memSwapBytes, parseCpus, parseRestartPolicy, ramInBytes } from "./parse.ts";

export const top: CliCommand = {
  name: "top",
  usage: "CONTAINER [ps OPTIONS]",
  summary: "Display the running processes of a container",
  args: [1, -1],
  stopAtFirstArg: true,
  async run(ctx, _flags, args) {
    const psArgs = args.slice(1);
    const list = await ctx.client().json<{ Titles?: string[] | null; Processes?: string[][] | null }>("GET", `${containerPath(args[0]!)}/top`, {
      query: { ps_args: psArgs.length ? psArgs.join(" ") : undefined },
    });
    let text = `${(list?.Titles ?? []).join("\t")}\n`;
    for (const proc of list?.Processes ?? []) text += `${proc.join("\t")}\n`;
    ctx.out(tabwrite(text, { minwidth: 20, tabwidth: 1, padding: 3, padchar: " " }));
    return 0;
  },
};

/** sortorder.NaturalLess: digit runs compare as numbers. */
export function naturalLess(a: string, b: string): boolean {
  let i = 0;
  let j = 0;
  const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9";
  while (i < a.length && j < b.length) {
    const ca = a[i]!;
    const cb = b[j]!;
    if (isDigit(ca) && isDigit(cb)) {
      let ei = i;
      while (isDigit(a[ei])) ei++;
      let ej = j;
      while (isDigit(b[ej])) ej++;
      const na = a.slice(i, ei).replace(/^0+/, "");
      const nb = b.slice(j, ej).replace(/^0+/, "");
      if (na.length !== nb.length) return na.length < nb.length;
      if (na !== nb) return na < nb;
      if (ei - i !== ej - j) return ei - i < ej - j;
      i = ei;
      j = ej;
      continue;
    }
    if (ca !== cb) return ca < cb;
    i++;
    j++;
  }
  return a.length - i < b.length - j;
}

function joinHostPort(host: string, port: string): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export const port: CliCommand = {
  name: "port",
  usage: "CONTAINER [PRIVATE_PORT[/PROTO]]",
  summary: "List port mappings or a specific mapping for the container",
  args: [1, 2],
  async run(ctx, _flags, args) {
    const c = await ctx.client().json<ContainerInspect>("GET", `${containerPath(args[0]!)}/json`);
    const ports = c.NetworkSettings?.Ports ?? {};
    const out: string[] = [];
    if (args[1] !== undefined) {
      const slash = args[1].indexOf("/");
      const p = slash < 0 ? args[1] : args[1].slice(0, slash);
      const proto = (slash < 0 ? "" : args[1].slice(slash + 1)) || "tcp";
      if (!/^\d+$/.test(p) || Number(p) > 65535) {
        throw new Error(`Error: invalid port (${p}): strconv.ParseUint: parsing ${JSON.stringify(p)}: ${/^\d+$/.test(p) ? "value out of range" : "invalid syntax"}`);
      }
      const frontends = ports[`${p}/${proto}`];
      if (!frontends || frontends.length === 0) throw new Error(`Error: No public port '${args[1]}' published for ${args[0]}`);
      for (const f of frontends) out.push(joinHostPort(f.HostIp, f.HostPort));
    } else {
      for (const [from, frontends] of Object.entries(ports)) {
        for (const f of frontends ?? []) out.push(`${from} -> ${joinHostPort(f.HostIp, f.HostPort)}`);
      }
    }
    if (out.length > 0) {
      out.sort((x, y) => (naturalLess(x, y) ? -1 : naturalLess(y, x) ? 1 : 0));
      ctx.out(`${out.join("\n")}\n`);
    }
    return 0;
  },
};

const CHANGE_KINDS = ["C", "A", "D"];

export const diff: CliCommand = {
  name: "diff",
  usage: "CONTAINER",
  summary: "Inspect changes to files or directories on a container's filesystem",
  args: [1, 1],
  async run(ctx, _flags, args) {
    const changes = await ctx.client().json<{ Kind: number; Path: string }[] | null>("GET", `${containerPath(args[0]!)}/changes`);
    const rows = (changes ?? []).map((c) => ({ Type: CHANGE_KINDS[c.Kind] ?? "", Path: c.Path }));
    ctx.out(renderFormat("{{.Type}} {{.Path}}", rows));
    return 0;
  },
};

export const commit: CliCommand = {
  name: "commit",
  usage: "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
  summary: "Create a new image from a container's changes",
  args: [1, 2],
  stopAtFirstArg: true,
  flags: [
    { name: "author", short: "a", type: "string", value: "string", help: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
    { name: "change", short: "c", type: "list", value: "list", help: "Apply Dockerfile instruction to the created image" },
    { name: "message", short: "m", type: "string", value: "string", help: "Commit message" },
    { name: "pause", short: "p", type: "bool", default: true, help: "Pause container during commit (default true)" },
  ],
  async run(ctx, flags, args) {
    let repo = "";
    let tag = "";
    if (args[1] !== undefined && args[1] !== "") {
      const ref = parseReference(args[1]);
      if (ref.digest !== undefined) throw new Error("refusing to create a tag with a digest reference");
      const tagged = tagNameOnly(ref);
      tag = tagged.tag ?? "";
      repo = repository(tagged);
    }
    const res = await ctx.client().json<{ Id?: string }>("POST", "/commit", {
      query: {
        author: (flags.author as string | undefined) ?? "",
        changes: flags.change as string[],
        comment: (flags.message as string | undefined) ?? "",
        container: args[0]!,
        pause: flags.pause === true ? undefined : "0",
        repo,
        tag,
      },
    });
    ctx.out(`${res?.Id ?? ""}\n`);
    return 0;
  },
};

export const exportCmd: CliCommand = {
  name: "export",
  usage: "[OPTIONS] CONTAINER",
  summary: "Export a container's filesystem as a tar archive",
  args: [1, 1],
  flags: [{ name: "output", short: "o", type: "string", value: "string", help: "Write to a file, instead of STDOUT" }],
  async run(ctx, flags, args) {
    const output = (flags.output as string | undefined) ?? "";
    if (output === "" && ctx.stdout.isTTY) throw new Error("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    if (output !== "") {
      const dir = path.dirname(path.resolve(output));
      const tmp = path.join(dir, `.${path.basename(output)}.${process.pid}.tmp`);
      const res = await ctx.client().request("GET", `${containerPath(args[0]!)}/export`);
      try {
        await pipeline(res, createWriteStream(tmp, { mode: 0o600 }));
        renameSync(tmp, output);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw new Error(`failed to export container: ${(err as Error).message}`);
      }
      return 0;
    }
    const res = await ctx.client().request("GET", `${containerPath(args[0]!)}/export`);
    for await (const chunk of res) {
      if (!ctx.stdout.write(chunk as Buffer)) await new Promise((r) => ctx.stdout.once("drain", r));
    }
    return 0;
  },
};

const UPDATE_FLAG_NAMES = ["blkio-weight", "cpu-period", "cpu-quota", "cpu-rt-period", "cpu-rt-runtime", "cpu-shares", "cpus", "cpuset-cpus", "cpuset-mems", "kernel-memory", "memory", "memory-reservation", "memory-swap", "pids-limit", "restart"];

/** The POST /containers/{id}/update body for update's flags (container.UpdateConfig, docker's key order). */
export function updateConfigOf(flags: FlagValues): Record<string, unknown> {
  const num = (name: string): number => (flags[name] as number | undefined) ?? 0;
  const str = (name: string): string => (flags[name] as string | undefined) ?? "";
  const size = (name: string, shown: string, parse: (v: string) => number): number => {
    const v = flags[name] as string | undefined;
    return v === undefined ? 0 : flagValue(shown, v, parse);
  };
  const restart = str("restart");
  const body: Record<string, unknown> = {
    CpuShares: num("cpu-shares"),
    Memory: size("memory", "-m, --memory", ramInBytes),
    NanoCpus: size("cpus", "--cpus", parseCpus),
    CgroupParent: "",
    BlkioWeight: num("blkio-weight"),
    BlkioWeightDevice: null,
    BlkioDeviceReadBps: null,
    BlkioDeviceWriteBps: null,
    BlkioDeviceReadIOps: null,
    BlkioDeviceWriteIOps: null,
    CpuPeriod: num("cpu-period"),
    CpuQuota: num("cpu-quota"),
    CpuRealtimePeriod: num("cpu-rt-period"),
    CpuRealtimeRuntime: num("cpu-rt-runtime"),
    CpusetCpus: str("cpuset-cpus"),
    CpusetMems: str("cpuset-mems"),
    Devices: null,
    DeviceCgroupRules: null,
    DeviceRequests: null,
  };
  const kernelMemory = size("kernel-memory", "--kernel-memory", ramInBytes);
  if (kernelMemory) body.KernelMemory = kernelMemory;
  Object.assign(body, {
    MemoryReservation: size("memory-reservation", "--memory-reservation", ramInBytes),
    MemorySwap: size("memory-swap", "--memory-swap", memSwapBytes),
    MemorySwappiness: null,
    OomKillDisable: null,
    PidsLimit: num("pids-limit") !== 0 ? num("pids-limit") : null,
    Ulimits: null,
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
    RestartPolicy: restart !== "" ? parseRestartPolicy(restart) : { Name: "", MaximumRetryCount: 0 },
  });
  return body;
}

export const update: CliCommand = {
  name: "update",
  usage: "[OPTIONS] CONTAINER [CONTAINER...]",
  summary: "Update configuration of one or more containers",
  args: [1, -1],
  flags: [
    { name: "blkio-weight", type: "int", value: "uint16", help: "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)" },
    { name: "cpu-period", type: "int", value: "int", help: "Limit CPU CFS (Completely Fair Scheduler) period" },
    { name: "cpu-quota", type: "int", value: "int", help: "Limit CPU CFS (Completely Fair Scheduler) quota" },
    { name: "cpu-rt-period", type: "int", value: "int", help: "Limit the CPU real-time period in microseconds" },
    { name: "cpu-rt-runtime", type: "int", value: "int", help: "Limit the CPU real-time runtime in microseconds" },
    { name: "cpu-shares", short: "c", type: "int", value: "int", help: "CPU shares (relative weight)" },
    { name: "cpus", type: "string", value: "decimal", help: "Number of CPUs" },
    { name: "cpuset-cpus", type: "string", value: "string", help: "CPUs in which to allow execution (0-3, 0,1)" },
    { name: "cpuset-mems", type: "string", value: "string", help: "MEMs in which to allow execution (0-3, 0,1)" },
    { name: "kernel-memory", type: "string", value: "bytes", help: "Kernel memory limit (deprecated)", hidden: true },
    { name: "memory", short: "m", type: "string", value: "bytes", help: "Memory limit" },
    { name: "memory-reservation", type: "string", value: "bytes", help: "Memory soft limit" },
    { name: "memory-swap", type: "string", value: "bytes", help: "Swap limit equal to memory plus swap: -1 to enable unlimited swap" },
    { name: "pids-limit", type: "int", value: "int", help: "Tune container pids limit (set -1 for unlimited)" },
    { name: "restart", type: "string", value: "string", help: "Restart policy to apply when a container exits" },
  ],
  async run(ctx, flags, args) {
    if (!UPDATE_FLAG_NAMES.some((n) => flags[n] !== undefined)) throw new Error("you must provide one or more flags when using this command");
    const body = updateConfigOf(flags);
    const warnings: string[] = [];
    const errors: string[] = [];
    for (const name of args) {
      try {
        const r = await ctx.client().json<{ Warnings?: string[] | null }>("POST", `${containerPath(name)}/update`, { body });
        ctx.out(`${name}\n`);
        warnings.push(...(r?.Warnings ?? []));
      } catch (err) {
        errors.push(errorText(err));
      }
    }
    if (warnings.length > 0) ctx.out(`${warnings.join("\n")}\n`);
    if (errors.length > 0) throw new Error(errors.join("\n"));
    return 0;
  },
};

export const containerPrune: CliCommand = {
  name: "prune",
  usage: "[OPTIONS]",
  summary: "Remove all stopped containers",
  args: [0, 0],
  flags: [
    { name: "filter", type: "list", value: "filter", help: 'Provide filter values (e.g. "until=<timestamp>")' },
    { name: "force", short: "f", type: "bool", help: "Do not prompt for confirmation" },
  ],
  async run(ctx, flags) {
    const filters = filtersJson(flags.filter as string[]);
    if (flags.force !== true) {
      if (!(await confirm(ctx, "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"))) return 0;
    }
    const report = await ctx.client().json<{ ContainersDeleted?: string[] | null; SpaceReclaimed?: number }>("POST", "/containers/prune", { query: { filters } });
    let space = 0;
    const deleted = report?.ContainersDeleted ?? [];
    if (deleted.length > 0) {
      ctx.out(`Deleted Containers:\n${deleted.map((id) => `${id}\n`).join("")}\n`);
      space = report?.SpaceReclaimed ?? 0;
    }
    ctx.out(`Total reclaimed space: ${humanSize(space)}\n`);
    return 0;
  },
};
