/**
 * hako volume create|ls|inspect|rm|prune (docker/cli cli/command/volume/
 * and formatter/volume.go) over the /volumes endpoints.
 */
import { GO_TYPE, renderFormat } from "../../template/index.ts";
import type { CliCommand } from "../command.ts";
import { confirm, filtersJson } from "../container/common.ts";
import { humanSize } from "../image/units.ts";
import { naturalLess } from "../container/changes.ts";
import { errorText } from "../container/common.ts";
import { printInspected } from "../inspect.ts";
import { kvStringsToMap, validateLabel, flagValue } from "../container/parse.ts";

/** A volume as the API describes it (volume.Volume). */
export interface VolumeWire {
  Name: string;
  Driver?: string;
  Mountpoint?: string;
  CreatedAt?: string;
  Status?: Record<string, unknown> | null;
  Labels?: Record<string, string> | null;
  Scope?: string;
  Options?: Record<string, string> | null;
  UsageData?: { Size: number; RefCount: number } | null;
  ClusterVolume?: unknown;
}

export const VOLUME_HEADERS: Record<string, string> = {
  ID: "ID",
  Name: "VOLUME NAME",
  Group: "GROUP",
  Driver: "DRIVER",
  Scope: "SCOPE",
  Availability: "AVAILABILITY",
  Mountpoint: "MOUNTPOINT",
  Labels: "LABELS",
  Links: "LINKS",
  Size: "SIZE",
  Status: "STATUS",
};

/** formatter.NewVolumeFormat. */
export function volumeFormat(source: string, quiet: boolean): string {
  if (source === "table") return quiet ? "{{.Name}}" : "table {{.Driver}}\t{{.Name}}";
  if (source === "raw") return quiet ? "name: {{.Name}}" : "name: {{.Name}}\ndriver: {{.Driver}}\n";
  return source;
}

/** docker's volumeContext. */
export class VolumeRow {
  /** docker's formatter type: a field it does not have is an error, not "<no value>". */
  get [GO_TYPE](): string {
    return "*formatter.volumeContext";
  }

  constructor(private readonly v: VolumeWire) {}

  get Name(): string {
    return this.v.Name;
  }
  get Driver(): string {
    return this.v.Driver ?? "";
  }
  get Scope(): string {
    return this.v.Scope ?? "";
  }
  get Mountpoint(): string {
    return this.v.Mountpoint ?? "";
  }
  get Labels(): string {
    if (!this.v.Labels) return "";
    return Object.entries(this.v.Labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
  }
  Label(name: string): string {
    return this.v.Labels?.[name] ?? "";
  }
  get Links(): string {
    return this.v.UsageData ? String(this.v.UsageData.RefCount) : "N/A";
  }
  get Size(): string {
    return this.v.UsageData ? humanSize(this.v.UsageData.Size) : "N/A";
  }
  get Group(): string {
    return "N/A";
  }
  get Availability(): string {
    return "N/A";
  }
  get Status(): string {
    return "N/A";
  }
}

const volumeCreate: CliCommand = {
  name: "create",
  usage: "[OPTIONS] [VOLUME]",
  summary: "Create a volume",
  args: [0, 1],
  flags: [
    { name: "driver", short: "d", type: "string", value: "string", default: "local", help: 'Specify volume driver name (default "local")' },
    { name: "label", type: "list", value: "list", help: "Set metadata for a volume" },
    { name: "name", type: "string", value: "string", help: "Specify volume name", hidden: true },
    { name: "opt", short: "o", type: "list", value: "map", help: "Set driver specific options (default map[])" },
  ],
  async run(ctx, flags, args) {
    let name = (flags.name as string | undefined) ?? "";
    if (args.length === 1) {
      if (name !== "") throw new Error("conflicting options: cannot specify a volume-name through both --name and as a positional arg");
      name = args[0]!;
    }
    const labels = (flags.label as string[]).map((l) => flagValue("--label", l, validateLabel));
    const vol = await ctx.client().json<VolumeWire>("POST", "/volumes/create", {
      body: { Driver: flags.driver as string, DriverOpts: kvStringsToMap(flags.opt as string[]), Labels: kvStringsToMap(labels), Name: name },
    });
    ctx.out(`${vol.Name}\n`);
    return 0;
  },
};

const volumeLs: CliCommand = {
  name: "ls",
  aliases: ["list"],
  usage: "[OPTIONS]",
  summary: "List volumes",
  args: [0, 0],
  flags: [
    { name: "cluster", type: "bool", help: "Display only cluster volumes, and use cluster volume list formatting", hidden: true },
    { name: "filter", short: "f", type: "list", value: "filter", help: 'Provide filter values (e.g. "dangling=true")' },
    { name: "format", type: "string", value: "string", help: "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template." },
    { name: "quiet", short: "q", type: "bool", help: "Only display volume names" },
  ],
  async run(ctx, flags) {
    const quiet = flags.quiet === true;
    const format = volumeFormat((flags.format as string | undefined) || "table", quiet);
    renderFormat(format, [], VOLUME_HEADERS);
    const filters = filtersJson(flags.filter as string[]);
    const res = await ctx.client().json<{ Volumes?: VolumeWire[] | null; Warnings?: string[] | null }>("GET", "/volumes", { query: { filters } });
    const volumes = [...(res?.Volumes ?? [])];
    if (flags.cluster === true) volumes.splice(0, volumes.length, ...volumes.filter((v) => v.ClusterVolume));
    volumes.sort((a, b) => (naturalLess(a.Name, b.Name) ? -1 : naturalLess(b.Name, a.Name) ? 1 : 0));
    ctx.out(renderFormat(format, volumes.map((v) => new VolumeRow(v)), VOLUME_HEADERS));
    return 0;
  },
};

function sortedKeys<T>(m: Record<string, T> | null | undefined): Record<string, T> | null {
  if (m === null || m === undefined) return null;
  const out: Record<string, T> = {};
  for (const k of Object.keys(m).sort()) out[k] = m[k]!;
  return out;
}

/**
 * A volume as docker's `volume inspect` prints it: decoded into
 * volume.Volume and encoded again (its fields in struct order, maps sorted,
 * empty optional fields left out).
 */
export function typedVolume(v: VolumeWire): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (v.ClusterVolume) out.ClusterVolume = v.ClusterVolume;
  if (v.CreatedAt) out.CreatedAt = v.CreatedAt;
  out.Driver = v.Driver ?? "";
  out.Labels = sortedKeys(v.Labels);
  out.Mountpoint = v.Mountpoint ?? "";
  out.Name = v.Name;
  out.Options = sortedKeys(v.Options);
  out.Scope = v.Scope ?? "";
  if (v.Status && Object.keys(v.Status).length) out.Status = sortedKeys(v.Status);
  if (v.UsageData) out.UsageData = { RefCount: v.UsageData.RefCount, Size: v.UsageData.Size };
  return out;
}

const volumeInspect: CliCommand = {
  name: "inspect",
  usage: "[OPTIONS] VOLUME [VOLUME...]",
  summary: "Display detailed information on one or more volumes",
  args: [1, -1],
  flags: [{ name: "format", short: "f", type: "string", value: "string", help: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template." }],
  run(ctx, flags, args) {
    return printInspected(ctx, args, (flags.format as string | undefined) || undefined, async (ref) => {
      if (ref === "") throw new Error("volume name cannot be empty");
      return ctx.client().json<VolumeWire>("GET", `/volumes/${encodeURIComponent(ref)}`).then(typedVolume);
    });
  },
};

const volumeRm: CliCommand = {
  name: "rm",
  aliases: ["remove"],
  usage: "[OPTIONS] VOLUME [VOLUME...]",
  summary: "Remove one or more volumes",
  args: [1, -1],
  flags: [{ name: "force", short: "f", type: "bool", help: "Force the removal of one or more volumes" }],
  async run(ctx, flags, args) {
    const errors: string[] = [];
    for (const name of args) {
      try {
        const res = await ctx.client().request("DELETE", `/volumes/${encodeURIComponent(name)}`, { query: { force: flags.force === true ? "1" : undefined } });
        res.resume();
        ctx.out(`${name}\n`);
      } catch (err) {
        errors.push(errorText(err));
      }
    }
    if (errors.length === 0) return 0;
    ctx.err(`${errors.join("\n")}\n`);
    return 1;
  },
};

const ANONYMOUS_WARNING = "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?";
const ALL_WARNING = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?";

/** POST /volumes/prune; resolves with the space reclaimed and the "Deleted Volumes:" text. */
export async function pruneVolumes(ctx: Parameters<NonNullable<CliCommand["run"]>>[0], filterValues: string[], all: boolean): Promise<{ space: number; output: string }> {
  const values = [...filterValues];
  if (all) {
    if (values.some((v) => v.split("=")[0]!.trim().toLowerCase() === "all")) throw new Error("conflicting options: cannot specify both --all and --filter all=1");
    values.push("all=true");
  }
  const report = await ctx.client().json<{ VolumesDeleted?: string[] | null; SpaceReclaimed?: number }>("POST", "/volumes/prune", { query: { filters: filtersJson(values) } });
  const deleted = report?.VolumesDeleted ?? [];
  if (deleted.length === 0) return { space: 0, output: "" };
  return { space: report?.SpaceReclaimed ?? 0, output: `Deleted Volumes:\n${deleted.map((d) => `${d}\n`).join("")}` };
}

const volumePrune: CliCommand = {
  name: "prune",
  usage: "[OPTIONS]",
  summary: "Remove unused local volumes",
  args: [0, 0],
  flags: [
    { name: "all", short: "a", type: "bool", help: "Remove all unused volumes, not just anonymous ones" },
    { name: "filter", type: "list", value: "filter", help: 'Provide filter values (e.g. "label=<label>")' },
    { name: "force", short: "f", type: "bool", help: "Do not prompt for confirmation" },
  ],
  async run(ctx, flags) {
    const all = flags.all === true;
    if (flags.force !== true) {
      if (!(await confirm(ctx, all ? ALL_WARNING : ANONYMOUS_WARNING))) return 0;
    }
    const { space, output } = await pruneVolumes(ctx, flags.filter as string[], all);
    if (output !== "") ctx.out(`${output}\n`);
    ctx.out(`Total reclaimed space: ${humanSize(space)}\n`);
    return 0;
  },
};

export const volume: CliCommand = {
  name: "volume",
  usage: "COMMAND",
  summary: "Manage volumes",
  subcommands: [volumeCreate, volumeInspect, volumeLs, volumePrune, volumeRm],
};
