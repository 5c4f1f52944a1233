/**
 * hakod's command line: `hakod [--data-root DIR] [-H unix:///path.sock]...
 * [--debug] [--pidfile FILE] [--group NAME] [--version]`, dockerd's names.
 */
import { createHash } from "node:crypto";
import path from "node:path";
import { formatFlags, parseFlags, type FlagSpec } from "../cli/flags.ts";
import { InvalidArgumentError } from "../common/errors.ts";
import { DEFAULT_HOST, parseHost, type HostAddress } from "../api/host.ts";

export const DEFAULT_DATA_ROOT = "/var/lib/hako";

export interface DaemonConfig {
  dataRoot: string;
  hosts: HostAddress[];
  debug: boolean;
  pidfile: string;
  /** The group that may use the unix socket (dockerd's -G, "docker" there). */
  group: string;
  /** overlay2, vfs or btrfs; chosen from the data root's filesystem when unset. */
  storageDriver?: string;
  /** Registries reached over plain HTTP (besides loopback): host[:port] or CIDR. */
  insecureRegistries: string[];
  /** Where the shims keep their state (dockerd's --exec-root): gone at reboot. */
  execRoot: string;
  /** The cgroup every container's cgroup goes under. */
  cgroupParent: string;
}

export const DAEMON_FLAGS: FlagSpec[] = [
  { name: "data-root", type: "string", value: "string", help: "Root directory of persistent hako state", default: DEFAULT_DATA_ROOT },
  { name: "host", short: "H", type: "list", value: "list", help: `Daemon socket(s) to connect to (default ${DEFAULT_HOST})` },
  { name: "debug", short: "D", type: "bool", help: "Enable debug mode" },
  { name: "pidfile", short: "p", type: "string", value: "string", help: "Path to use for daemon PID file (default <data-root>/hakod.pid)" },
  { name: "group", short: "G", type: "string", value: "string", help: "Group for the unix socket", default: "hako" },
  { name: "exec-root", type: "string", value: "string", help: "Root directory for execution state files (default /run/hako, or <data-root>/run)" },
  { name: "cgroup-parent", type: "string", value: "string", help: "Parent cgroup for all containers (default /hako, or /hako-<hash> for another data root)" },
  { name: "storage-driver", short: "s", type: "string", value: "string", help: "Storage driver to use (overlay2, vfs, btrfs)" },
  { name: "insecure-registry", type: "list", value: "list", help: "Enable insecure registry communication" },
  { name: "version", short: "v", type: "bool", help: "Print version information and quit" },
  { name: "help", short: "h", type: "bool", help: "Print usage" },
];

export type DaemonInvocation = { kind: "run"; config: DaemonConfig } | { kind: "version" } | { kind: "help" };

export function daemonUsage(): string {
  return `Usage:\thakod [OPTIONS]\n\nA self-sufficient runtime for containers: the hako daemon, serving the Docker Engine API.\n\nOptions:\n${formatFlags(DAEMON_FLAGS)}\n`;
}

/** Loopback only: with no TLS, a TCP socket is root access for whoever reaches it. */
function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Parses hakod's arguments.
 *
 * @example parseDaemonArgs(["-H", "unix:///tmp/h.sock", "--data-root", "/tmp/h"])
 */
export function parseDaemonArgs(argv: readonly string[]): DaemonInvocation {
  const { flags, args } = parseFlags(argv, DAEMON_FLAGS);
  if (flags.help) return { kind: "help" };
  if (flags.version) return { kind: "version" };
  if (args.length > 0) throw new InvalidArgumentError(`hakod takes no arguments, got ${JSON.stringify(args[0])}`);
  const dataRoot = path.resolve(flags["data-root"] as string);
  const specs = (flags.host as string[]).length > 0 ? (flags.host as string[]) : [DEFAULT_HOST];
  const hosts = specs.map((spec) => {
    const h = parseHost(spec);
    if (h.proto === "tcp" && !isLoopback(h.host)) {
      throw new InvalidArgumentError(`refusing to listen on ${h.url}: without TLS, hakod serves TCP on loopback addresses only (127.0.0.1, ::1)`);
    }
    return h;
  });
  return {
    kind: "run",
    config: {
      dataRoot,
      hosts,
      debug: flags.debug as boolean,
      pidfile: path.resolve((flags.pidfile as string | undefined) ?? path.join(dataRoot, "hakod.pid")),
      group: flags.group as string,
      storageDriver: flags["storage-driver"] as string | undefined,
      insecureRegistries: flags["insecure-registry"] as string[],
      // A second daemon on another data root must never see the first one's shims or cgroups.
      execRoot: path.resolve((flags["exec-root"] as string | undefined) ?? (dataRoot === DEFAULT_DATA_ROOT ? "/run/hako" : path.join(dataRoot, "run"))),
      cgroupParent:
        (flags["cgroup-parent"] as string | undefined) ??
        (dataRoot === DEFAULT_DATA_ROOT ? "/hako" : `/hako-${createHash("sha256").update(dataRoot).digest("hex").slice(0, 8)}`),
    },
  };
}
