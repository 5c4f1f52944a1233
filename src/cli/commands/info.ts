/** hako info (hako system info): the daemon's SystemInfo, laid out as `docker info`. */
import { VERSION } from "../../common/version.ts";
import { goStruct } from "../template/index.ts";
import { clientSection } from "./version.ts";
import { bytesSize, checkFormat, renderFormat } from "../output.ts";
import { FORMAT_FLAG, type CliCommand, type CliContext } from "./command.ts";
import { daemonAnswer } from "./daemon-answer.ts";

type Info = Record<string, unknown> & {
  Plugins?: { Volume?: string[] | null; Network?: string[] | null; Authorization?: string[] | null; Log?: string[] | null };
  DriverStatus?: [string, string][] | null;
  SystemStatus?: [string, string][] | null;
  Runtimes?: Record<string, unknown> | null;
  Swarm?: { LocalNodeState?: string; NodeID?: string; NodeAddr?: string };
  ContainerdCommit?: { ID?: string };
  RuncCommit?: { ID?: string };
  InitCommit?: { ID?: string };
  SecurityOptions?: string[] | null;
  RegistryConfig?: { InsecureRegistryCIDRs?: string[] | null; IndexConfigs?: Record<string, { Name: string; Secure: boolean }> | null; Mirrors?: string[] | null } | null;
  Labels?: string[] | null;
  Warnings?: string[] | null;
  CDISpecDirs?: string[] | null;
};

/** docker's security.DecodeOptions: "name=seccomp,profile=builtin" → { name, options }. */
function decodeSecurityOptions(opts: string[]): { name: string; options: [string, string][] }[] {
  return opts.map((opt) => {
    const pairs = opt.split(",").map((kv) => {
      const eq = kv.indexOf("=");
      return (eq < 0 ? [kv, ""] : [kv.slice(0, eq), kv.slice(eq + 1)]) as [string, string];
    });
    const name = pairs.find(([k]) => k === "name")?.[1] ?? opt;
    return { name, options: pairs.filter(([k]) => k !== "name") };
  });
}

function serverLines(info: Info, clientDebug: boolean): string {
  const lines: string[] = [];
  const line = (...parts: unknown[]): void => void lines.push(parts.map((p) => String(p)).join(" "));
  const nonEmpty = (label: string, value: unknown): void => {
    if (value !== undefined && value !== null && value !== "") line(label, value);
  };
  line(" Containers:", info.Containers ?? 0);
  line("  Running:", info.ContainersRunning ?? 0);
  line("  Paused:", info.ContainersPaused ?? 0);
  line("  Stopped:", info.ContainersStopped ?? 0);
  line(" Images:", info.Images ?? 0);
  nonEmpty(" Server Version:", info.ServerVersion);
  nonEmpty(" Storage Driver:", info.Driver);
  for (const [k, v] of info.DriverStatus ?? []) lines.push(`  ${k}: ${v}`);
  for (const [k, v] of info.SystemStatus ?? []) lines.push(` ${k}: ${v}`);
  nonEmpty(" Logging Driver:", info.LoggingDriver);
  nonEmpty(" Cgroup Driver:", info.CgroupDriver);
  nonEmpty(" Cgroup Version:", info.CgroupVersion);
  line(" Plugins:");
  line("  Volume:", (info.Plugins?.Volume ?? []).join(" "));
  line("  Network:", (info.Plugins?.Network ?? []).join(" "));
  if ((info.Plugins?.Authorization ?? []).length) line("  Authorization:", (info.Plugins?.Authorization ?? []).join(" "));
  line("  Log:", (info.Plugins?.Log ?? []).join(" "));
  if ((info.CDISpecDirs ?? []).length) {
    line(" CDI spec directories:");
    for (const dir of info.CDISpecDirs ?? []) lines.push(`  ${dir}`);
  }
  line(" Swarm:", info.Swarm?.LocalNodeState ?? "");
  const runtimes = Object.keys(info.Runtimes ?? {});
  if (runtimes.length) {
    line(" Runtimes:", runtimes.join(" "));
    line(" Default Runtime:", info.DefaultRuntime ?? "");
  }
  if (info.OSType === "linux") {
    line(" Init Binary:", info.InitBinary ?? "");
    line(" containerd version:", info.ContainerdCommit?.ID ?? "");
    line(" runc version:", info.RuncCommit?.ID ?? "");
    line(" init version:", info.InitCommit?.ID ?? "");
    const secopts = decodeSecurityOptions(info.SecurityOptions ?? []);
    if (secopts.length) {
      line(" Security Options:");
      for (const so of secopts) {
        lines.push(`  ${so.name}`);
        for (const [k, v] of so.options) if (k === "profile") line("   Profile:", v);
      }
    }
  }
  nonEmpty(" Kernel Version:", info.KernelVersion);
  nonEmpty(" Operating System:", info.OperatingSystem);
  nonEmpty(" OSType:", info.OSType);
  nonEmpty(" Architecture:", info.Architecture);
  line(" CPUs:", info.NCPU ?? 0);
  line(" Total Memory:", bytesSize(Number(info.MemTotal ?? 0)));
  nonEmpty(" Name:", info.Name);
  nonEmpty(" ID:", info.ID);
  line(" Docker Root Dir:", info.DockerRootDir ?? "");
  line(" Debug Mode:", info.Debug ?? false);
  if (info.Debug || clientDebug) {
    line("  File Descriptors:", info.NFd ?? 0);
    line("  Goroutines:", info.NGoroutines ?? 0);
    line("  System Time:", info.SystemTime ?? "");
    line("  EventsListeners:", info.NEventsListener ?? 0);
  }
  nonEmpty(" HTTP Proxy:", info.HttpProxy);
  nonEmpty(" HTTPS Proxy:", info.HttpsProxy);
  nonEmpty(" No Proxy:", info.NoProxy);
  if ((info.Labels ?? []).length) {
    line(" Labels:");
    for (const l of info.Labels ?? []) lines.push(`  ${l}`);
  }
  line(" Experimental:", info.ExperimentalBuild ?? false);
  const reg = info.RegistryConfig;
  const insecure = reg?.InsecureRegistryCIDRs ?? [];
  const indexes = Object.values(reg?.IndexConfigs ?? {});
  if (reg && (insecure.length || indexes.length)) {
    line(" Insecure Registries:");
    for (const idx of indexes) if (!idx.Secure) lines.push(`  ${idx.Name}`);
    for (const cidr of insecure) lines.push(`  ${cidr}`);
  }
  if ((reg?.Mirrors ?? []).length) {
    line(" Registry Mirrors:");
    for (const m of reg?.Mirrors ?? []) lines.push(`  ${m}`);
  }
  line(" Live Restore Enabled:", info.LiveRestoreEnabled ?? false);
  return `${lines.join("\n")}\n\n`;
}

function clientLines(ctx: CliContext): string {
  return ` Version:    ${VERSION}\n Context:    default\n Debug Mode: ${ctx.global.debug}\n`;
}

export const info: CliCommand = {
  name: "info",
  usage: "[OPTIONS]",
  summary: "Display system-wide information",
  flags: [FORMAT_FLAG],
  args: [0, 0],
  async run(ctx, flags) {
    const format = flags.format as string | undefined;
    if (format) checkFormat(format, { plainExecuteErrors: true });
    const { answer: server, failure } = await daemonAnswer(() => ctx.client().json<Info>("GET", "/info"));
    if (format) {
      // docker's clientInfo: Debug, its clientVersion without the API version (omitted when empty), Plugins, Warnings.
      const { Platform: _platform, APIVersion: _api, ...version } = clientSection("");
      const clientInfo = goStruct({ Debug: ctx.global.debug, ...version, Plugins: [], Warnings: null, APIVersion: "" }, "*system.clientInfo", ({ APIVersion: _, ...rest }) => rest);
      const data = { ...(server ?? {}), ClientInfo: clientInfo, ClientErrors: [], ServerErrors: failure ? [String((failure as Error).message)] : [] };
      if (data.Plugins) goStruct(data.Plugins, "system.PluginsInfo");
      ctx.out(renderFormat(format, goStruct(data, "system.dockerInfo"), { plainExecuteErrors: true }));
    } else {
      ctx.out(`Client:\n${clientLines(ctx)}\nServer:\n`);
      if (server) {
        ctx.out(serverLines(server, ctx.global.debug));
        for (const w of server.Warnings ?? []) ctx.err(`${w}\n`);
      }
    }
    if (failure !== undefined) throw failure;
    return 0;
  },
};
