/**
 * docker's container flags (docker/cli cli/command/container/opts.go) and
 * their translation into the create request: the body is built with the
 * same keys, key order and null/empty conventions the docker CLI (28.x)
 * sends at API 1.44, so a daemon sees the same JSON from both.
 */
import path from "node:path";
import type { FlagSpec, FlagValues } from "../../flags.ts";
import {
  FlagValueError,
  flagValue,
  isUserDefinedNetwork,
  kvStringsToMap,
  memSwapBytes,
  normalizeCapabilities,
  parseCpus,
  parseDevice,
  parseExpose,
  parseGoDuration,
  parseKvFile,
  parseMount,
  parseNetworkOpt,
  parsePortSpecs,
  parseRestartPolicy,
  parseSecurityOpts,
  parseThrottleBps,
  parseThrottleIops,
  parseUlimit,
  parseVolumeSpec,
  parseWeightDevice,
  ramInBytes,
  readKvEnvStrings,
  validateAttach,
  validateDeviceCgroupRule,
  validateDnsSearch,
  validateEnv,
  validateExtraHost,
  validateIpAddress,
  validateLabel,
  validateLink,
  validateSysctl,
  validMac,
  type MountSpec,
  type NetworkAttachment,
  type Ulimit,
} from "./parse.ts";

const list = (name: string, help: string, extra: Partial<FlagSpec> = {}): FlagSpec => ({ name, type: "list", value: "list", help, ...extra });
const str = (name: string, help: string, extra: Partial<FlagSpec> = {}): FlagSpec => ({ name, type: "string", value: "string", help, ...extra });
const bool = (name: string, help: string, extra: Partial<FlagSpec> = {}): FlagSpec => ({ name, type: "bool", help, ...extra });
const int = (name: string, help: string, extra: Partial<FlagSpec> = {}): FlagSpec => ({ name, type: "int", value: "int", help, ...extra });

/** The flags of `create` and `run` that become Config/HostConfig (opts.go addFlags). */
export const CONTAINER_FLAGS: FlagSpec[] = [
  list("add-host", "Add a custom host-to-IP mapping (host:ip)"),
  list("annotation", "Add an annotation to the container (passed through to the OCI runtime)", { value: "map" }),
  list("attach", "Attach to STDIN, STDOUT or STDERR", { short: "a" }),
  int("blkio-weight", "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)", { value: "uint16" }),
  list("blkio-weight-device", "Block IO weight (relative device weight)"),
  list("cap-add", "Add Linux capabilities"),
  list("cap-drop", "Drop Linux capabilities"),
  str("cgroup-parent", "Optional parent cgroup for the container"),
  str("cgroupns", "Cgroup namespace to use (host|private)"),
  str("cidfile", "Write the container ID to the file"),
  int("cpu-count", "CPU count (Windows only)", { hidden: true }),
  int("cpu-percent", "CPU percent (Windows only)", { hidden: true }),
  int("cpu-period", "Limit CPU CFS (Completely Fair Scheduler) period"),
  int("cpu-quota", "Limit CPU CFS (Completely Fair Scheduler) quota"),
  int("cpu-rt-period", "Limit CPU real-time period in microseconds"),
  int("cpu-rt-runtime", "Limit CPU real-time runtime in microseconds"),
  int("cpu-shares", "CPU shares (relative weight)", { short: "c" }),
  str("cpus", "Number of CPUs", { value: "decimal" }),
  str("cpuset-cpus", "CPUs in which to allow execution (0-3, 0,1)"),
  str("cpuset-mems", "MEMs in which to allow execution (0-3, 0,1)"),
  list("device", "Add a host device to the container"),
  list("device-cgroup-rule", "Add a rule to the cgroup allowed devices list"),
  list("device-read-bps", "Limit read rate (bytes per second) from a device"),
  list("device-read-iops", "Limit read rate (IO per second) from a device"),
  list("device-write-bps", "Limit write rate (bytes per second) to a device"),
  list("device-write-iops", "Limit write rate (IO per second) to a device"),
  list("dns", "Set custom DNS servers"),
  list("dns-opt", "Set DNS options", { hidden: true }),
  list("dns-option", "Set DNS options"),
  list("dns-search", "Set custom DNS search domains"),
  str("domainname", "Container NIS domain name"),
  str("entrypoint", "Overwrite the default ENTRYPOINT of the image"),
  list("env", "Set environment variables", { short: "e" }),
  list("env-file", "Read in a file of environment variables"),
  list("expose", "Expose a port or a range of ports"),
  list("gpus", "GPU devices to add to the container ('all' to pass all GPUs)", { value: "gpu-request", hidden: true }),
  list("group-add", "Add additional groups to join"),
  str("health-cmd", "Command to run to check health"),
  str("health-interval", "Time between running the check (ms|s|m|h) (default 0s)", { value: "duration" }),
  int("health-retries", "Consecutive failures needed to report unhealthy"),
  str("health-start-interval", "Time between running the check during the start period (ms|s|m|h) (default 0s)", { value: "duration" }),
  str("health-start-period", "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)", { value: "duration" }),
  str("health-timeout", "Maximum time to allow one check to run (ms|s|m|h) (default 0s)", { value: "duration" }),
  str("hostname", "Container host name", { short: "h" }),
  bool("init", "Run an init inside the container that forwards signals and reaps processes"),
  bool("interactive", "Keep STDIN open even if not attached", { short: "i" }),
  str("io-maxbandwidth", "Maximum IO bandwidth limit for the system drive (Windows only)", { value: "bytes", hidden: true }),
  int("io-maxiops", "Maximum IOps limit for the system drive (Windows only)", { value: "uint", hidden: true }),
  str("ip", "IPv4 address (e.g., 172.30.100.104)"),
  str("ip6", "IPv6 address (e.g., 2001:db8::33)"),
  str("ipc", "IPC mode to use"),
  str("isolation", "Container isolation technology"),
  str("kernel-memory", "Kernel memory limit", { value: "bytes", hidden: true }),
  list("label", "Set meta data on a container", { short: "l" }),
  list("label-file", "Read in a line delimited file of labels"),
  list("link", "Add link to another container"),
  list("link-local-ip", "Container IPv4/IPv6 link-local addresses"),
  str("log-driver", "Logging driver for the container"),
  list("log-opt", "Log driver options"),
  str("mac-address", "Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
  str("memory", "Memory limit", { short: "m", value: "bytes" }),
  str("memory-reservation", "Memory soft limit", { value: "bytes" }),
  str("memory-swap", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap", { value: "bytes" }),
  int("memory-swappiness", "Tune container memory swappiness (0 to 100)", { default: -1 }),
  list("mount", "Attach a filesystem mount to the container", { value: "mount" }),
  list("net", "Connect a container to a network", { value: "network", hidden: true }),
  list("net-alias", "Add network-scoped alias for the container", { hidden: true }),
  list("network", "Connect a container to a network", { value: "network" }),
  list("network-alias", "Add network-scoped alias for the container"),
  bool("no-healthcheck", "Disable any container-specified HEALTHCHECK"),
  bool("oom-kill-disable", "Disable OOM Killer"),
  int("oom-score-adj", "Tune host's OOM preferences (-1000 to 1000)"),
  str("pid", "PID namespace to use"),
  int("pids-limit", "Tune container pids limit (set -1 for unlimited)"),
  bool("privileged", "Give extended privileges to this container"),
  list("publish", "Publish a container's port(s) to the host", { short: "p" }),
  bool("publish-all", "Publish all exposed ports to random ports", { short: "P" }),
  bool("read-only", "Mount the container's root filesystem as read only"),
  str("restart", "Restart policy to apply when a container exits", { default: "no" }),
  bool("rm", "Automatically remove the container and its associated anonymous volumes when it exits"),
  str("runtime", "Runtime to use for this container"),
  list("security-opt", "Security Options"),
  str("shm-size", "Size of /dev/shm", { value: "bytes" }),
  str("stop-signal", "Signal to stop the container"),
  int("stop-timeout", "Timeout (in seconds) to stop a container"),
  list("storage-opt", "Storage driver options for the container"),
  list("sysctl", "Sysctl options", { value: "map" }),
  list("tmpfs", "Mount a tmpfs directory"),
  bool("tty", "Allocate a pseudo-TTY", { short: "t" }),
  list("ulimit", "Ulimit options", { value: "ulimit" }),
  str("user", "Username or UID (format: <name|uid>[:<group|gid>])", { short: "u" }),
  str("userns", "User namespace to use"),
  str("uts", "UTS namespace to use"),
  list("volume", "Bind mount a volume", { short: "v" }),
  str("volume-driver", "Optional volume driver for the container"),
  list("volumes-from", "Mount volumes from the specified container(s)"),
  str("workdir", "Working directory inside the container", { short: "w" }),
];

/** The flags of `create` that are not container options (create.go). */
export const CREATE_ONLY_FLAGS: FlagSpec[] = [
  bool("disable-content-trust", "Skip image verification", { default: true, hidden: true }),
  str("name", "Assign a name to the container"),
  str("platform", "Set platform if server is multi-platform capable"),
  str("pull", 'Pull image before creating ("always", "missing", "never")', { default: "missing" }),
  bool("quiet", "Suppress the pull output", { short: "q" }),
];

/** The flags of `run` that are not container options (run.go). */
export const RUN_ONLY_FLAGS: FlagSpec[] = [
  bool("detach", "Run container in background and print container ID", { short: "d" }),
  str("detach-keys", "Override the key sequence for detaching a container"),
  bool("sig-proxy", "Proxy received signals to the process", { default: true }),
  ...CREATE_ONLY_FLAGS.map((f) => (f.name === "pull" ? { ...f, help: 'Pull image before running ("always", "missing", "never")' } : f)),
];

const byName = (a: FlagSpec, b: FlagSpec): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** `hako create`'s flags, sorted as cobra lists them. */
export const CREATE_FLAGS: FlagSpec[] = [...CREATE_ONLY_FLAGS, ...CONTAINER_FLAGS].sort(byName);
/** `hako run`'s flags, sorted as cobra lists them. */
export const RUN_FLAGS: FlagSpec[] = [...RUN_ONLY_FLAGS, ...CONTAINER_FLAGS].sort(byName);

/** What the create request needs besides the flags. */
export interface ParseEnv {
  /** The client's environment (for -e KEY). */
  env?: NodeJS.ProcessEnv;
  /** For relative bind sources. */
  cwd?: string;
  /** [rows, cols] of the client's terminal; [0, 0] when not one. */
  consoleSize?: [number, number];
  /** The negotiated API version (Config.MacAddress goes away at 1.44). */
  apiVersion?: string;
}

export type EndpointSettings = Record<string, unknown>;

/** The parsed command line of create/run: the request body and what the client itself needs. */
export interface ContainerConfigs {
  /** The POST /containers/create body: Config fields, HostConfig, NetworkingConfig. */
  body: Record<string, unknown>;
  config: Record<string, unknown>;
  hostConfig: Record<string, unknown>;
  networkingConfig: { EndpointsConfig: Record<string, EndpointSettings> };
  image: string;
  tty: boolean;
  openStdin: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  autoRemove: boolean;
  /** -a was given. */
  attachGiven: boolean;
  containerIdFile: string;
}

const s = (flags: FlagValues, name: string): string => (flags[name] as string | undefined) ?? "";
const l = (flags: FlagValues, name: string): string[] => (flags[name] as string[] | undefined) ?? [];
const b = (flags: FlagValues, name: string): boolean => flags[name] === true;
const n = (flags: FlagValues, name: string): number => (flags[name] as number | undefined) ?? 0;

function flagName(spec: FlagSpec): string {
  return spec.short ? `-${spec.short}, --${spec.name}` : `--${spec.name}`;
}
const SPEC_BY_NAME = new Map([...CONTAINER_FLAGS, ...RUN_ONLY_FLAGS].map((f) => [f.name, f]));
const shown = (name: string): string => flagName(SPEC_BY_NAME.get(name) ?? { name, type: "string", help: "" });

/** A flag's values through a pflag Value.Set (errors name the flag). */
function each<T>(flags: FlagValues, name: string, parse: (v: string) => T): T[] {
  return l(flags, name).map((v) => flagValue(shown(name), v, parse));
}
function one<T>(flags: FlagValues, name: string, parse: (v: string) => T, otherwise: T): T {
  const v = flags[name] as string | undefined;
  return v === undefined ? otherwise : flagValue(shown(name), v, parse);
}

/** The deduplicated list (a ListOpts read through GetMap keeps the first position). */
function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

function endpoint(ep: NetworkAttachment): EndpointSettings | undefined {
  if (ep.target.trim() === "") throw new Error("no name set for network");
  if (!isUserDefinedNetwork(ep.target)) {
    if (ep.aliases.length > 0) throw new Error("network-scoped aliases are only supported for user-defined networks");
    if (ep.links.length > 0) throw new Error("links are only supported for user-defined networks");
  }
  let ipam: Record<string, unknown> | null = null;
  if (ep.ipv4Address !== "" || ep.ipv6Address !== "" || ep.linkLocalIps.length > 0) {
    ipam = {};
    if (ep.ipv4Address) ipam.IPv4Address = ep.ipv4Address;
    if (ep.ipv6Address) ipam.IPv6Address = ep.ipv6Address;
    if (ep.linkLocalIps.length) ipam.LinkLocalIPs = ep.linkLocalIps;
  }
  if (ep.macAddress !== "" && !validMac(ep.macAddress)) throw new Error(`${ep.macAddress} is not a valid mac address`);
  const settings: EndpointSettings = {
    ...emptyEndpoint(),
    IPAMConfig: ipam,
    Links: ep.links.length ? ep.links : null,
    Aliases: ep.aliases.length ? ep.aliases : null,
    MacAddress: ep.macAddress,
    DriverOpts: ep.driverOpts && Object.keys(ep.driverOpts).length ? goMap(ep.driverOpts) : null,
    GwPriority: ep.gwPriority,
  };
  const isEmpty = ipam === null && !ep.links.length && !ep.aliases.length && ep.macAddress === "" && !settings.DriverOpts && ep.gwPriority === 0;
  return isEmpty ? undefined : settings;
}

/**
 * docker's parse(): the flags of create/run and the image and command as
 * the create request. Flag value errors throw FlagValueError (pflag's
 * message); other problems throw Error with docker's message.
 */
export function parseContainerConfig(flags: FlagValues, image: string, args: readonly string[], penv: ParseEnv = {}): ContainerConfigs {
  const env = penv.env ?? process.env;
  const cwd = penv.cwd ?? process.cwd();

  // pflag Set-time validation, in flag order.
  const attach = each(flags, "attach", validateAttach);
  const dns = each(flags, "dns", validateIpAddress);
  const dnsSearch = each(flags, "dns-search", validateDnsSearch);
  const extraHosts = each(flags, "add-host", validateExtraHost);
  const envOverrides = each(flags, "env", (v) => validateEnv(v, env));
  const labels = each(flags, "label", validateLabel);
  const links = each(flags, "link", validateLink);
  const sysctls = each(flags, "sysctl", validateSysctl);
  const deviceCgroupRules = each(flags, "device-cgroup-rule", validateDeviceCgroupRule);
  const ulimitMap = new Map<string, Ulimit>();
  for (const u of each(flags, "ulimit", parseUlimit)) ulimitMap.set(u.Name, u);
  const mounts: MountSpec[] = each(flags, "mount", (v) => parseMount(v, cwd)).map((m) => {
    const vo = m.VolumeOptions;
    if (vo?.Labels) vo.Labels = goMap(vo.Labels);
    if (vo?.DriverConfig?.Options) vo.DriverConfig.Options = goMap(vo.DriverConfig.Options);
    return m;
  });
  const networks: NetworkAttachment[] = [...each(flags, "net", parseNetworkOpt), ...each(flags, "network", parseNetworkOpt)];
  const weightDevices = each(flags, "blkio-weight-device", parseWeightDevice);
  const readBps = each(flags, "device-read-bps", parseThrottleBps);
  const writeBps = each(flags, "device-write-bps", parseThrottleBps);
  const readIops = each(flags, "device-read-iops", parseThrottleIops);
  const writeIops = each(flags, "device-write-iops", parseThrottleIops);
  const memory = one(flags, "memory", ramInBytes, 0);
  const memoryReservation = one(flags, "memory-reservation", ramInBytes, 0);
  const memorySwap = one(flags, "memory-swap", memSwapBytes, 0);
  const kernelMemory = one(flags, "kernel-memory", ramInBytes, 0);
  const shmSize = one(flags, "shm-size", ramInBytes, 0);
  const ioMaxBandwidth = one(flags, "io-maxbandwidth", ramInBytes, 0);
  const nanoCpus = one(flags, "cpus", parseCpus, 0);
  const healthInterval = one(flags, "health-interval", parseGoDuration, 0);
  const healthTimeout = one(flags, "health-timeout", parseGoDuration, 0);
  const healthStartPeriod = one(flags, "health-start-period", parseGoDuration, 0);
  const healthStartInterval = one(flags, "health-start-interval", parseGoDuration, 0);
  const blkioWeight = n(flags, "blkio-weight");
  if (blkioWeight < 0 || blkioWeight > 65535) throw new FlagValueError(`invalid argument "${blkioWeight}" for "--blkio-weight" flag: strconv.ParseUint: parsing "${blkioWeight}": value out of range`);
  if (l(flags, "gpus").length > 0) throw new Error("--gpus is not supported by hako");

  // parse()
  const macAddress = s(flags, "mac-address");
  if (macAddress !== "" && !validMac(macAddress)) throw new Error(`${macAddress} is not a valid mac address`);
  const openStdin = b(flags, "interactive");
  let attachStdin = attach.includes("stdin") || openStdin;
  let attachStdout = attach.includes("stdout");
  let attachStderr = attach.includes("stderr");
  if (attach.length === 0) {
    attachStdout = true;
    attachStderr = true;
  }
  const swappiness = n(flags, "memory-swappiness");
  if (swappiness !== -1 && (swappiness < 0 || swappiness > 100)) throw new Error(`invalid value: ${swappiness}. Valid memory swappiness range is 0-100`);

  const volumeSpecs = unique(l(flags, "volume"));
  const binds: string[] = [];
  const volumes: Record<string, Record<string, never>> = {};
  for (const spec of volumeSpecs) {
    const parsed = parseVolumeSpec(spec);
    if (parsed.source !== "") {
      let toBind = spec;
      if (parsed.type === "bind") {
        const colon = spec.indexOf(":");
        if (colon >= 0) {
          let hostPart = spec.slice(0, colon);
          if (!path.isAbsolute(hostPart) && hostPart.startsWith(".")) hostPart = path.resolve(cwd, hostPart);
          toBind = `${hostPart}:${spec.slice(colon + 1)}`;
        }
      }
      binds.push(toBind);
    } else volumes[spec] = {};
  }

  const tmpfs: Record<string, string> = {};
  for (const t of l(flags, "tmpfs")) {
    const colon = t.indexOf(":");
    tmpfs[colon < 0 ? t : t.slice(0, colon)] = colon < 0 ? "" : t.slice(colon + 1);
  }

  const entrypointFlag = flags.entrypoint as string | undefined;
  const entrypoint = entrypointFlag === undefined ? null : [entrypointFlag];
  const cmd = args.length > 0 ? [...args] : null;

  const { exposed, bindings } = parsePortSpecs(l(flags, "publish"));
  for (const e of l(flags, "expose")) for (const p of parseExpose(e)) exposed[p] ??= {};

  const devices = l(flags, "device").map((d) => parseDevice(d));

  // -e: later values of a name replace earlier ones (docker collects them in a map)
  const envMap = new Map<string, string>();
  for (const e of envOverrides) {
    const eq = e.indexOf("=");
    envMap.set(eq < 0 ? e : e.slice(0, eq), e);
  }
  const envVars = readKvEnvStrings(l(flags, "env-file"), [...envMap.values()], env);
  const labelVars: string[] = [];
  for (const f of l(flags, "label-file")) labelVars.push(...parseKvFile(f));
  labelVars.push(...labels);

  const pidMode = s(flags, "pid");
  if (!(pidMode === "" || pidMode === "host" || (pidMode.startsWith("container:") && pidMode.length > "container:".length))) throw new Error("--pid: invalid PID mode");
  const utsMode = s(flags, "uts");
  if (!(utsMode === "" || utsMode === "host")) throw new Error("--uts: invalid UTS mode");
  const usernsMode = s(flags, "userns");
  if (!(usernsMode === "" || usernsMode === "host")) throw new Error("--userns: invalid USER mode");
  const cgroupnsMode = s(flags, "cgroupns");
  if (!["", "host", "private"].includes(cgroupnsMode)) throw new Error("--cgroupns: invalid CGROUP mode");

  const restartPolicy = parseRestartPolicy(s(flags, "restart"));
  const logDriver = s(flags, "log-driver");
  const logOpts = l(flags, "log-opt");
  if (logDriver === "none" && logOpts.length > 0) throw new Error(`invalid logging opts for driver ${logDriver}`);
  const loggingConfig = kvStringsToMap(logOpts);

  let securityOpts: string[] | null = l(flags, "security-opt").length ? parseSecurityOpts(l(flags, "security-opt")) : null;
  let maskedPaths: string[] | null = null;
  let readonlyPaths: string[] | null = null;
  if (securityOpts) {
    const filtered = securityOpts.filter((o) => o !== "systempaths=unconfined");
    if (filtered.length !== securityOpts.length) {
      maskedPaths = [];
      readonlyPaths = [];
    }
    securityOpts = filtered;
  }

  const storageOpts: Record<string, string> = {};
  for (const o of l(flags, "storage-opt")) {
    const eq = o.indexOf("=");
    if (eq < 0) throw new Error("invalid storage option");
    storageOpts[o.slice(0, eq)] = o.slice(eq + 1);
  }

  // Healthcheck
  const healthCmd = s(flags, "health-cmd");
  const healthRetries = n(flags, "health-retries");
  let healthcheck: Record<string, unknown> | undefined;
  const haveHealth = healthCmd !== "" || healthInterval !== 0 || healthTimeout !== 0 || healthStartPeriod !== 0 || healthRetries !== 0 || healthStartInterval !== 0;
  if (b(flags, "no-healthcheck")) {
    if (haveHealth) throw new Error("--no-healthcheck conflicts with --health-* options");
    healthcheck = { Test: ["NONE"] };
  } else if (haveHealth) {
    if (healthInterval < 0) throw new Error("--health-interval cannot be negative");
    if (healthTimeout < 0) throw new Error("--health-timeout cannot be negative");
    if (healthRetries < 0) throw new Error("--health-retries cannot be negative");
    if (healthStartPeriod < 0) throw new Error("--health-start-period cannot be negative");
    if (healthStartInterval < 0) throw new Error("--health-start-interval cannot be negative");
    healthcheck = {};
    if (healthCmd !== "") healthcheck.Test = ["CMD-SHELL", healthCmd];
    if (healthInterval) healthcheck.Interval = healthInterval;
    if (healthTimeout) healthcheck.Timeout = healthTimeout;
    if (healthStartPeriod) healthcheck.StartPeriod = healthStartPeriod;
    if (healthStartInterval) healthcheck.StartInterval = healthStartInterval;
    if (healthRetries) healthcheck.Retries = healthRetries;
  }

  const autoRemove = b(flags, "rm");
  if (autoRemove && restartPolicy.Name !== undefined && restartPolicy.Name !== "" && restartPolicy.Name !== "no") {
    throw new Error("conflicting options: cannot specify both --restart and --rm");
  }

  // Config, in container.Config's field order (omitempty fields left out when empty).
  const tty = b(flags, "tty");
  const config: Record<string, unknown> = {
    Hostname: s(flags, "hostname"),
    Domainname: s(flags, "domainname"),
    User: s(flags, "user"),
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
  };
  if (Object.keys(exposed).length) config.ExposedPorts = goMap(exposed);
  config.Tty = tty;
  config.OpenStdin = openStdin;
  config.StdinOnce = openStdin && attachStdin;
  config.Env = envVars.length ? envVars : null;
  config.Cmd = cmd;
  if (healthcheck) config.Healthcheck = healthcheck;
  config.Image = image;
  config.Volumes = goMap(volumes);
  config.WorkingDir = s(flags, "workdir");
  config.Entrypoint = entrypoint;
  config.OnBuild = null;
  config.Labels = goMap(kvStringsToMap(labelVars));
  if (s(flags, "stop-signal")) config.StopSignal = s(flags, "stop-signal");
  if (flags["stop-timeout"] !== undefined) config.StopTimeout = flags["stop-timeout"];

  // NetworkingConfig
  const applyContainerOptions = (att: NetworkAttachment): void => {
    const aliases = [...l(flags, "net-alias"), ...l(flags, "network-alias")];
    const linkLocal = l(flags, "link-local-ip");
    if (att.aliases.length > 0 && aliases.length > 0) throw new Error("conflicting options: cannot specify both --network-alias and per-network alias");
    if (att.links.length > 0 && links.length > 0) throw new Error("conflicting options: cannot specify both --link and per-network links");
    if (att.ipv4Address !== "" && s(flags, "ip") !== "") throw new Error("conflicting options: cannot specify both --ip and per-network IPv4 address");
    if (att.ipv6Address !== "" && s(flags, "ip6") !== "") throw new Error("conflicting options: cannot specify both --ip6 and per-network IPv6 address");
    if (att.macAddress !== "" && macAddress !== "") throw new Error("conflicting options: cannot specify both --mac-address and per-network MAC address");
    if (att.linkLocalIps.length > 0 && linkLocal.length > 0) throw new Error("conflicting options: cannot specify both --link-local-ip and per-network link-local IP addresses");
    if (aliases.length > 0) att.aliases = [...aliases];
    if (isUserDefinedNetwork(att.target) && links.length > 0) att.links = [...links];
    if (s(flags, "ip") !== "") att.ipv4Address = s(flags, "ip");
    if (s(flags, "ip6") !== "") att.ipv6Address = s(flags, "ip6");
    if (macAddress !== "") att.macAddress = macAddress;
    if (linkLocal.length > 0) att.linkLocalIps = [...linkLocal];
  };
  const endpoints: Record<string, EndpointSettings> = {};
  if (networks.length === 0) {
    const att: NetworkAttachment = { target: "default", aliases: [], links: [], ipv4Address: "", ipv6Address: "", linkLocalIps: [], macAddress: "", gwPriority: 0 };
    applyContainerOptions(att);
    endpoints.default = endpoint(att) ?? emptyEndpoint();
  }
  let userDefined = false;
  let nonUserDefined = false;
  networks.forEach((att, i) => {
    if (isUserDefinedNetwork(att.target)) userDefined = true;
    else nonUserDefined = true;
    if (i === 0) applyContainerOptions(att);
    const ep = endpoint(att);
    if (endpoints[att.target] !== undefined) throw new Error(`network ${JSON.stringify(att.target)} is specified multiple times`);
    if (i === 0 && networks.length === 1 && ep === undefined) return;
    endpoints[att.target] = ep ?? emptyEndpoint();
  });
  if (userDefined && nonUserDefined) throw new Error("conflicting options: cannot attach both user-defined and non-user-defined network-modes");
  const networkMode = networks[0]?.target ?? "default";
  const mainEndpoint = endpoints[networkMode];
  if (penv.apiVersion !== undefined && compareVersions(penv.apiVersion, "1.44") < 0 && mainEndpoint && mainEndpoint.MacAddress) {
    // Older daemons read the MAC address from Config.
    insertAfter(config, "Entrypoint", "MacAddress", mainEndpoint.MacAddress);
  }

  const ulimits = [...ulimitMap.values()].sort((a, c) => (a.Name < c.Name ? -1 : a.Name > c.Name ? 1 : 0));
  const dnsOptions = [...l(flags, "dns-opt"), ...l(flags, "dns-option")];
  const consoleSize = penv.consoleSize ?? [0, 0];
  const sysctlMap = kvStringsToMap(sysctls);
  const annotations = kvStringsToMap(l(flags, "annotation"));

  // HostConfig, in container.HostConfig's field order.
  const hostConfig: Record<string, unknown> = {
    Binds: binds.length ? binds : null,
    ContainerIDFile: s(flags, "cidfile"),
    LogConfig: { Type: logDriver, Config: goMap(loggingConfig) },
    NetworkMode: networkMode,
    PortBindings: goMap(bindings),
    RestartPolicy: restartPolicy,
    AutoRemove: autoRemove,
    VolumeDriver: s(flags, "volume-driver"),
    VolumesFrom: l(flags, "volumes-from").length ? l(flags, "volumes-from") : null,
    ConsoleSize: consoleSize,
  };
  if (Object.keys(annotations).length) hostConfig.Annotations = goMap(annotations);
  Object.assign(hostConfig, {
    CapAdd: normalizeCapabilities(l(flags, "cap-add")),
    CapDrop: normalizeCapabilities(l(flags, "cap-drop")),
    CgroupnsMode: cgroupnsMode,
    Dns: dns,
    DnsOptions: dnsOptions,
    DnsSearch: dnsSearch,
    ExtraHosts: extraHosts.length ? extraHosts : null,
    GroupAdd: l(flags, "group-add").length ? l(flags, "group-add") : null,
    IpcMode: s(flags, "ipc"),
    Cgroup: "",
    Links: links.length ? links : null,
    OomScoreAdj: n(flags, "oom-score-adj"),
    PidMode: pidMode,
    Privileged: b(flags, "privileged"),
    PublishAllPorts: b(flags, "publish-all"),
    ReadonlyRootfs: b(flags, "read-only"),
    SecurityOpt: securityOpts,
  });
  if (Object.keys(storageOpts).length) hostConfig.StorageOpt = goMap(storageOpts);
  if (Object.keys(tmpfs).length) hostConfig.Tmpfs = goMap(tmpfs);
  Object.assign(hostConfig, { UTSMode: utsMode, UsernsMode: usernsMode, ShmSize: shmSize });
  if (Object.keys(sysctlMap).length) hostConfig.Sysctls = goMap(sysctlMap);
  if (s(flags, "runtime")) hostConfig.Runtime = s(flags, "runtime");
  Object.assign(hostConfig, {
    Isolation: s(flags, "isolation"),
    CpuShares: n(flags, "cpu-shares"),
    Memory: memory,
    NanoCpus: nanoCpus,
    CgroupParent: s(flags, "cgroup-parent"),
    BlkioWeight: blkioWeight,
    BlkioWeightDevice: weightDevices,
    BlkioDeviceReadBps: readBps,
    BlkioDeviceWriteBps: writeBps,
    BlkioDeviceReadIOps: readIops,
    BlkioDeviceWriteIOps: writeIops,
    CpuPeriod: n(flags, "cpu-period"),
    CpuQuota: n(flags, "cpu-quota"),
    CpuRealtimePeriod: n(flags, "cpu-rt-period"),
    CpuRealtimeRuntime: n(flags, "cpu-rt-runtime"),
    CpusetCpus: s(flags, "cpuset-cpus"),
    CpusetMems: s(flags, "cpuset-mems"),
    Devices: devices,
    DeviceCgroupRules: deviceCgroupRules.length ? deviceCgroupRules : null,
    DeviceRequests: null,
  });
  // KernelMemory is dropped by the client at API >= 1.42.
  if (kernelMemory && penv.apiVersion !== undefined && compareVersions(penv.apiVersion, "1.40") >= 0 && compareVersions(penv.apiVersion, "1.42") < 0) {
    hostConfig.KernelMemory = kernelMemory;
  }
  Object.assign(hostConfig, {
    MemoryReservation: memoryReservation,
    MemorySwap: memorySwap,
    MemorySwappiness: swappiness,
    OomKillDisable: b(flags, "oom-kill-disable"),
    PidsLimit: n(flags, "pids-limit"),
    Ulimits: ulimits,
    CpuCount: n(flags, "cpu-count"),
    CpuPercent: n(flags, "cpu-percent"),
    IOMaximumIOps: n(flags, "io-maxiops"),
    IOMaximumBandwidth: ioMaxBandwidth,
  });
  if (mounts.length) hostConfig.Mounts = mounts;
  hostConfig.MaskedPaths = maskedPaths;
  hostConfig.ReadonlyPaths = readonlyPaths;
  if (b(flags, "init")) hostConfig.Init = true;

  const networkingConfig = { EndpointsConfig: goMap(endpoints) };
  const body = { ...config, HostConfig: hostConfig, NetworkingConfig: networkingConfig };
  return {
    body,
    config,
    hostConfig,
    networkingConfig,
    image,
    tty,
    openStdin,
    attachStdin,
    attachStdout,
    attachStderr,
    autoRemove,
    attachGiven: attach.length > 0,
    containerIdFile: s(flags, "cidfile"),
  };
}

/** A Go map as encoding/json writes it: keys in sorted order. */
export function goMap<T>(obj: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(obj).sort(compareBytes)) out[k] = obj[k]!;
  return out;
}

function compareBytes(a: string, b: string): number {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return Buffer.compare(x, y);
}

function emptyEndpoint(): EndpointSettings {
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: null,
    MacAddress: "",
    DriverOpts: null,
    GwPriority: 0,
    NetworkID: "",
    EndpointID: "",
    Gateway: "",
    IPAddress: "",
    IPPrefixLen: 0,
    IPv6Gateway: "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    DNSNames: null,
  };
}

function insertAfter(obj: Record<string, unknown>, after: string, key: string, value: unknown): void {
  const entries = Object.entries(obj);
  for (const k of Object.keys(obj)) delete obj[k];
  for (const [k, v] of entries) {
    obj[k] = v;
    if (k === after) obj[key] = value;
  }
}

function compareVersions(a: string, c: string): number {
  const pa = a.split(".").map(Number);
  const pc = c.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pc.length); i++) {
    const d = (pa[i] ?? 0) - (pc[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** A parse problem of create/run as docker prints it (exit status 125). */
export function usageErrorText(err: unknown, cmdPath: string): string {
  if (err instanceof FlagValueError) return `${err.message}\nSee '${cmdPath} --help'.\n`;
  return `hako: ${(err as Error).message}\n\nRun '${cmdPath} --help' for more information\n`;
}
