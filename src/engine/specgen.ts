/**
 * The Docker create body (Config + HostConfig) → the OCI spec Docker's
 * daemon would hand runc (moby daemon/oci_linux.go createSpec and the
 * helpers it calls: merge with the image config, verifyContainerSettings,
 * adaptContainerSettings, registerMountPoints, setupMounts, WithDevices,
 * WithResources, WithNamespaces, WithCapabilities, WithSeccomp, getUser).
 *
 * Everything here is a pure function of its input except for three things
 * Docker does at the same point: named and anonymous volumes are created
 * through the `volumes` callback, missing `-v /host:/ctr` sources are
 * created as directories, and host devices are stat'ed (`--device`,
 * `--privileged`, blkio throttles).
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, type Stats } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConflictError, FailedPreconditionError, HakoError, InvalidArgumentError, isErrno } from "../common/errors.ts";
import { resolveInRoot } from "../common/fs.ts";
import { randomHexId } from "../common/ids.ts";
import { CAPABILITIES, DOCKER_DEFAULT_CAPABILITIES, hostCapabilities as readHostCapabilities } from "../runtime/capabilities.ts";
import { resolveDockerDefault } from "../runtime/seccomp-default.ts";
import { DEFAULT_PATH_ENV, DOCKER_MASKED_PATHS, DOCKER_READONLY_PATHS, dockerDefaultMounts } from "../runtime/spec-defaults.ts";
import type { ContainerConfig, HostConfig, Mount as ApiMount, ThrottleDevice } from "../spec/docker-api.ts";
import type { ImageRuntimeConfig } from "../spec/oci-image.ts";
import {
  OCI_VERSION,
  type LinuxCPU,
  type LinuxDevice,
  type LinuxDeviceCgroup,
  type LinuxMemory,
  type LinuxNamespace,
  type LinuxNamespaceType,
  type LinuxResources,
  type LinuxSeccomp,
  type LinuxSeccompAction,
  type LinuxSeccompArg,
  type LinuxSyscall,
  type LinuxThrottleDevice,
  type LinuxWeightDevice,
  type Mount,
  type POSIXRlimit,
  type Process,
  type Spec,
} from "../spec/oci-runtime.ts";
import type { MountPointRecord, VolumeRequest } from "./types.ts";

/** Where --init's binary appears in the container (Docker: /sbin/docker-init). */
export const INIT_PATH_IN_CONTAINER = "/sbin/hako-init";
/** dockerd's default --default-shm-size. */
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;
/** Docker's floor for a memory limit or reservation (not the kernel's: room for the container to start). */
export const LINUX_MIN_MEMORY = 6 * 1024 * 1024;
const MAX_HOSTNAME_LEN = 64;
const CFS_PERIOD_US = 100_000;

/** Docker's device cgroup for an unprivileged container: deny all, then the standard nodes (runc's allowed list). */
export const DOCKER_DEVICE_RULES: readonly LinuxDeviceCgroup[] = [
  { allow: false, access: "rwm" },
  { allow: true, type: "c", major: null, minor: null, access: "m" },
  { allow: true, type: "b", major: null, minor: null, access: "m" },
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }, // /dev/null
  { allow: true, type: "c", major: 1, minor: 8, access: "rwm" }, // /dev/random
  { allow: true, type: "c", major: 1, minor: 7, access: "rwm" }, // /dev/full
  { allow: true, type: "c", major: 5, minor: 0, access: "rwm" }, // /dev/tty
  { allow: true, type: "c", major: 1, minor: 5, access: "rwm" }, // /dev/zero
  { allow: true, type: "c", major: 1, minor: 9, access: "rwm" }, // /dev/urandom
  { allow: true, type: "c", major: 136, minor: null, access: "rwm" }, // /dev/pts/*
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" }, // /dev/ptmx
  { allow: true, type: "c", major: 10, minor: 200, access: "rwm" }, // /dev/net/tun
];

/** The namespaces of a default container, in the order Docker-like configs list them. */
const DEFAULT_NAMESPACES: readonly LinuxNamespaceType[] = ["pid", "network", "ipc", "uts", "mount", "cgroup"];

// ---------------------------------------------------------------------------
// Host facts

/** What the host's kernel and cgroups offer (the parts of moby's sysinfo specgen uses). */
export interface SysInfo {
  cgroupVersion: 1 | 2;
  /** memory+swap limits can be set (v1: memory.memsw.* exists, i.e. swapaccount=1). */
  swapLimit: boolean;
  /** The CPUs and memory nodes cpusets may name ("0-3"). */
  cpus: string;
  mems: string;
  /** CPUs usable by the daemon (Go's runtime.NumCPU()). */
  numCPU: number;
}

function readTrimmed(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
}

let cachedSysInfo: SysInfo | undefined;

/** The host's SysInfo, read once from /sys/fs/cgroup. */
export function detectSysInfo(root = "/sys/fs/cgroup"): SysInfo {
  if (root === "/sys/fs/cgroup" && cachedSysInfo) return cachedSysInfo;
  const v2 = existsSync(path.join(root, "cgroup.controllers"));
  const numCPU = os.availableParallelism();
  const info: SysInfo = v2
    ? {
        cgroupVersion: 2,
        swapLimit: true,
        cpus: readTrimmed(path.join(root, "cpuset.cpus.effective")) || `0-${numCPU - 1}`,
        mems: readTrimmed(path.join(root, "cpuset.mems.effective")) || "0",
        numCPU,
      }
    : {
        cgroupVersion: 1,
        swapLimit: existsSync(path.join(root, "memory", "memory.memsw.limit_in_bytes")),
        cpus: readTrimmed(path.join(root, "cpuset", "cpuset.cpus")) || `0-${numCPU - 1}`,
        mems: readTrimmed(path.join(root, "cpuset", "cpuset.mems")) || "0",
        numCPU,
      };
  if (root === "/sys/fs/cgroup") cachedSysInfo = info;
  return info;
}

// ---------------------------------------------------------------------------
// Config: merge with the image, entrypoint, working dir

function containerRef(mode: string | undefined): string | undefined {
  if (!mode) return undefined;
  const i = mode.indexOf(":");
  if (i < 0 || mode.slice(0, i) !== "container") return undefined;
  const ref = mode.slice(i + 1);
  return ref === "" ? undefined : ref;
}

function isHostMode(mode: string | undefined): boolean {
  return mode === "host";
}

/**
 * The container's Config as Docker stores it: the create body's Config
 * merged with the image's (moby daemon/commit.go merge + mergeAndVerifyConfig),
 * Hostname defaulted (the short ID, or the host's name with --network host).
 * Throws "No command specified" when neither has an entrypoint or a command.
 */
export function mergeImageConfig(
  config: ContainerConfig,
  imageConfig: ImageRuntimeConfig | undefined,
  options: { id?: string; hostConfig?: HostConfig; imageUser?: string; hostHostname?: string } = {},
): ContainerConfig {
  const merged: ContainerConfig = structuredClone(config ?? {});
  const img = imageConfig ?? {};
  if (!merged.User) merged.User = options.imageUser || img.User || "";
  if (!merged.ExposedPorts || Object.keys(merged.ExposedPorts).length === 0) {
    merged.ExposedPorts = img.ExposedPorts ? { ...img.ExposedPorts } : merged.ExposedPorts;
  } else if (img.ExposedPorts) {
    for (const port of Object.keys(img.ExposedPorts)) merged.ExposedPorts[port] ??= {};
  }
  if (!merged.Env || merged.Env.length === 0) {
    merged.Env = img.Env ? [...img.Env] : merged.Env;
  } else {
    const keys = new Set(merged.Env.map((e) => envKey(e)));
    for (const e of img.Env ?? []) if (!keys.has(envKey(e))) merged.Env.push(e);
  }
  const labels: Record<string, string> = { ...(merged.Labels ?? {}) };
  for (const [k, v] of Object.entries(img.Labels ?? {})) if (!(k in labels)) labels[k] = v;
  merged.Labels = labels;
  if (!merged.Entrypoint || merged.Entrypoint.length === 0) {
    if (!merged.Cmd || merged.Cmd.length === 0) merged.Cmd = img.Cmd ? [...img.Cmd] : merged.Cmd;
    if (merged.Entrypoint === undefined || merged.Entrypoint === null) merged.Entrypoint = img.Entrypoint ? [...img.Entrypoint] : merged.Entrypoint;
  }
  if (img.Healthcheck) {
    if (!merged.Healthcheck) merged.Healthcheck = structuredClone(img.Healthcheck);
    else {
      const h = merged.Healthcheck;
      if (!h.Test || h.Test.length === 0) h.Test = img.Healthcheck.Test;
      if (!h.Interval) h.Interval = img.Healthcheck.Interval;
      if (!h.Timeout) h.Timeout = img.Healthcheck.Timeout;
      if (!h.StartPeriod) h.StartPeriod = img.Healthcheck.StartPeriod;
      if (!h.StartInterval) h.StartInterval = img.Healthcheck.StartInterval;
      if (!h.Retries) h.Retries = img.Healthcheck.Retries;
    }
  }
  if (!merged.WorkingDir) merged.WorkingDir = img.WorkingDir ?? "";
  if (!merged.Volumes || Object.keys(merged.Volumes).length === 0) {
    // moby takes the image's, nil included: the docker CLI's `{}` shows as null.
    merged.Volumes = img.Volumes ? { ...img.Volumes } : null;
  } else {
    Object.assign(merged.Volumes, img.Volumes ?? {});
  }
  if (!merged.StopSignal) merged.StopSignal = img.StopSignal ?? merged.StopSignal;
  // `--entrypoint ""` clears the image's entrypoint.
  if (merged.Entrypoint?.length === 1 && merged.Entrypoint[0] === "") merged.Entrypoint = null;
  if (!merged.Entrypoint?.length && !merged.Cmd?.length) throw new InvalidArgumentError("No command specified");
  if (!merged.Hostname && options.id) {
    merged.Hostname = isHostMode(options.hostConfig?.NetworkMode) ? (options.hostHostname ?? os.hostname()) : options.id.slice(0, 12);
  }
  return merged;
}

function envKey(e: string): string {
  const i = e.indexOf("=");
  return i < 0 ? e : e.slice(0, i);
}

/** The container's Path and Args (moby getEntrypointAndArgs). */
export function entrypointAndArgs(config: Pick<ContainerConfig, "Entrypoint" | "Cmd">): { path: string; args: string[] } {
  const entrypoint = config.Entrypoint ?? [];
  const cmd = config.Cmd ?? [];
  if (entrypoint.length === 0) {
    if (cmd.length === 0) throw new InvalidArgumentError("No command specified");
    return { path: cmd[0]!, args: cmd.slice(1) };
  }
  return { path: entrypoint[0]!, args: [...entrypoint.slice(1), ...cmd] };
}

/**
 * The directory the engine must create in the container's writable layer
 * before the start (Docker's SetupWorkingDirectory): the cleaned WorkingDir,
 * or undefined when there is none. An existing non-directory there is
 * Docker's "Cannot mkdir: <dir> is not a directory".
 */
export function workingDirToCreate(config: Pick<ContainerConfig, "WorkingDir">): string | undefined {
  if (!config.WorkingDir) return undefined;
  return cleanPath(config.WorkingDir);
}

/** Docker's ReplaceOrAppendEnvValues: overrides replace by key, "KEY" alone removes it. */
export function replaceOrAppendEnv(defaults: string[], overrides: readonly string[]): string[] {
  const out = [...defaults];
  const index = new Map<string, number>();
  out.forEach((e, i) => index.set(envKey(e), i));
  const removed = new Set<number>();
  for (const value of overrides) {
    const eq = value.indexOf("=");
    if (eq < 0) {
      const i = index.get(value);
      if (i !== undefined) removed.add(i);
      continue;
    }
    const i = index.get(value.slice(0, eq));
    if (i !== undefined) {
      out[i] = value;
      removed.delete(i);
    } else {
      index.set(value.slice(0, eq), out.length);
      out.push(value);
    }
  }
  return out.filter((_, i) => !removed.has(i));
}

/** The process environment Docker builds (CreateDaemonEnvironment). */
export function containerEnv(config: Pick<ContainerConfig, "Env" | "Hostname" | "Tty">): string[] {
  const base = [DEFAULT_PATH_ENV, `HOSTNAME=${config.Hostname ?? ""}`];
  if (config.Tty) base.push("TERM=xterm");
  return replaceOrAppendEnv(base, config.Env ?? []);
}

// ---------------------------------------------------------------------------
// HostConfig: defaults and validation

/** The OCI runtime hakod runs containers with: its own, the only one it knows. */
export const DEFAULT_RUNTIME = "hako";

/**
 * HostConfig with the defaults dockerd fills in at create
 * (adaptContainerSettings + createContainerOSSpecificSettings): MemorySwap
 * twice Memory, ShmSize 64 MiB, IpcMode "private", CgroupnsMode "private"
 * on cgroup v2 and "host" on v1 (and for privileged containers on v1),
 * OomKillDisable false, LogConfig json-file, the masked and read-only
 * paths. Returns a copy.
 */
export function adaptHostConfig(hostConfig: HostConfig | undefined, options: { cgroupVersion?: 1 | 2 } = {}): HostConfig {
  const hc: HostConfig = structuredClone(hostConfig ?? {});
  const v = options.cgroupVersion ?? detectSysInfo().cgroupVersion;
  if ((hc.Memory ?? 0) > 0 && !hc.MemorySwap) hc.MemorySwap = hc.Memory! * 2;
  if (!hc.ShmSize) hc.ShmSize = DEFAULT_SHM_SIZE;
  if (!hc.IpcMode) hc.IpcMode = "private";
  if (!hc.CgroupnsMode) hc.CgroupnsMode = hc.Privileged && v !== 2 ? "host" : v === 2 ? "private" : "host";
  if (hc.OomKillDisable === undefined || hc.OomKillDisable === null) hc.OomKillDisable = false;
  if (!hc.NetworkMode) hc.NetworkMode = "default";
  // The daemon's driver (hakod's only one) when none is named; docker-py's run() reads it back.
  if (!hc.Runtime) hc.Runtime = DEFAULT_RUNTIME;
  if (!hc.LogConfig?.Type) hc.LogConfig = { Type: "json-file", Config: hc.LogConfig?.Config ?? {} };
  if ((hc.MaskedPaths === undefined || hc.MaskedPaths === null) && !hc.Privileged) hc.MaskedPaths = [...DOCKER_MASKED_PATHS];
  if ((hc.ReadonlyPaths === undefined || hc.ReadonlyPaths === null) && !hc.Privileged) hc.ReadonlyPaths = [...DOCKER_READONLY_PATHS];
  return hc;
}

function bad(message: string): never {
  throw new InvalidArgumentError(message);
}

/** "0-2,4" → the set of numbers (moby parsers.ParseUintList). */
export function parseUintList(value: string): Set<number> {
  const out = new Set<number>();
  if (value === "") return out;
  const invalid = () => bad(`invalid format: ${value}`);
  for (const part of value.split(",")) {
    const dash = part.indexOf("-");
    if (dash < 0) {
      if (!/^\d+$/.test(part)) invalid();
      out.add(Number(part));
      continue;
    }
    const lo = part.slice(0, dash);
    const hi = part.slice(dash + 1);
    if (!/^\d+$/.test(lo) || !/^\d+$/.test(hi) || Number(hi) < Number(lo)) invalid();
    for (let i = Number(lo); i <= Number(hi); i++) out.add(i);
  }
  return out;
}

function cpusetAvailable(requested: string, available: string, what: "cpus" | "mems"): boolean {
  let want: Set<number>;
  try {
    want = parseUintList(requested);
  } catch (err) {
    bad(`Invalid value ${requested} for cpuset ${what}: ${(err as Error).message}`);
  }
  const have = parseUintList(available);
  for (const n of want) if (!have.has(n)) return false;
  return true;
}

const IPC_MODES = new Set(["", "host", "private", "shareable", "none"]);

/**
 * Docker's checks of a create (verifyContainerSettings and
 * verifyPlatformContainerResources), with its messages. Returns the
 * warnings; may adjust `hostConfig` the way dockerd does (swap dropped when
 * the kernel has no swap accounting, MemorySwappiness -1 → unset).
 */
export function verifyContainerSettings(config: ContainerConfig, hostConfig: HostConfig, sysInfo: SysInfo = detectSysInfo()): string[] {
  const warnings: string[] = [];
  if (hostConfig.Runtime && hostConfig.Runtime !== DEFAULT_RUNTIME) bad(`Unknown runtime specified ${hostConfig.Runtime}`);
  // Config
  if (config.WorkingDir && !config.WorkingDir.startsWith("/")) {
    bad(`the working directory '${config.WorkingDir}' is invalid, it needs to be an absolute path`);
  }
  for (const e of config.Env ?? []) if (envKey(e) === "") bad(`invalid environment variable: ${e}`);
  const hc = config.Healthcheck;
  if (hc) {
    const min = 1_000_000; // 1ms
    if (hc.Interval && hc.Interval < min) bad("Interval in Healthcheck cannot be less than 1ms");
    if (hc.Timeout && hc.Timeout < min) bad("Timeout in Healthcheck cannot be less than 1ms");
    if ((hc.Retries ?? 0) < 0) bad("Retries in Healthcheck cannot be negative");
    if (hc.StartPeriod && hc.StartPeriod < min) bad("StartPeriod in Healthcheck cannot be less than 1ms");
    if (hc.StartInterval && hc.StartInterval < min) bad("StartInterval in Healthcheck cannot be less than 1ms");
  }
  if (config.Hostname && Buffer.byteLength(config.Hostname) > MAX_HOSTNAME_LEN) {
    bad(`hostname ${JSON.stringify(config.Hostname)} is too long (maximum ${MAX_HOSTNAME_LEN} bytes)`);
  }

  // HostConfig (validateHostConfig)
  const policy = hostConfig.RestartPolicy ?? {};
  const policyName = policy.Name ?? "";
  const retries = policy.MaximumRetryCount ?? 0;
  if (policyName === "always" || policyName === "unless-stopped" || policyName === "no") {
    if (retries !== 0) {
      bad(`invalid restart policy: maximum retry count can only be used with 'on-failure'${retries < 0 ? " and cannot be negative" : ""}`);
    }
  } else if (policyName === "on-failure") {
    if (retries < 0) bad("invalid restart policy: maximum retry count cannot be negative");
  } else if (policyName !== "") {
    bad(`invalid restart policy: unknown policy '${policyName}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  if (hostConfig.AutoRemove && policyName !== "" && policyName !== "no") bad("can't create 'AutoRemove' container with restart policy");
  for (const m of hostConfig.Mounts ?? []) validateMountConfig(m, true);
  try {
    normalizeCapabilities(hostConfig.CapAdd ?? [], undefined);
  } catch (err) {
    bad(`invalid CapAdd: ${(err as Error).message}`);
  }
  try {
    normalizeCapabilities(hostConfig.CapDrop ?? [], undefined);
  } catch (err) {
    bad(`invalid CapDrop: ${(err as Error).message}`);
  }
  for (const k of Object.keys(hostConfig.Annotations ?? {})) {
    if (k === "") bad("invalid Annotations: the empty string is not permitted as an annotation key");
  }

  // Resources (verifyPlatformContainerResources)
  if (hostConfig.MemorySwappiness === -1) hostConfig.MemorySwappiness = null;
  const memory = hostConfig.Memory ?? 0;
  if (memory !== 0 && memory < LINUX_MIN_MEMORY) bad("Minimum memory limit allowed is 6MB");
  if (memory > 0 && hostConfig.MemorySwap !== -1 && !sysInfo.swapLimit) {
    warnings.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.");
    hostConfig.MemorySwap = -1;
  }
  const swap = hostConfig.MemorySwap ?? 0;
  if (memory > 0 && swap > 0 && swap < memory) bad("Minimum memoryswap limit should be larger than memory limit, see usage");
  if (memory === 0 && swap > 0) bad("You should always set the Memory limit when using Memoryswap limit, see usage");
  const swappiness = hostConfig.MemorySwappiness;
  if (swappiness !== undefined && swappiness !== null && (swappiness < 0 || swappiness > 100)) {
    bad(`Invalid value: ${swappiness}, valid memory swappiness range is 0-100`);
  }
  const reservation = hostConfig.MemoryReservation ?? 0;
  if (reservation > 0 && reservation < LINUX_MIN_MEMORY) bad("Minimum memory reservation allowed is 6MB");
  if (memory > 0 && reservation > 0 && memory < reservation) {
    bad("Minimum memory limit can not be less than memory reservation limit, see usage");
  }
  if (hostConfig.OomKillDisable && memory === 0) {
    warnings.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.");
  }
  if ((hostConfig.KernelMemory ?? 0) > 0) {
    warnings.push("Specifying a kernel memory limit is deprecated and will be removed in a future release.");
  }
  const nano = hostConfig.NanoCpus ?? 0;
  const period = hostConfig.CpuPeriod ?? 0;
  const quota = hostConfig.CpuQuota ?? 0;
  if (nano > 0 && period > 0) bad("Conflicting options: Nano CPUs and CPU Period cannot both be set");
  if (nano > 0 && quota > 0) bad("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  if (nano !== 0 && (nano < 0 || nano > sysInfo.numCPU * 1e9)) {
    bad(`range of CPUs is from 0.01 to ${sysInfo.numCPU}.00, as there are only ${sysInfo.numCPU} CPUs available`);
  }
  if ((hostConfig.CpuShares ?? 0) < 0) bad(`invalid CPU shares (${hostConfig.CpuShares}): value must be a positive integer`);
  if (period !== 0 && (period < 1000 || period > 1_000_000)) {
    bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
  }
  if (quota > 0 && quota < 1000) bad("CPU cfs quota can not be less than 1ms (i.e. 1000)");
  if ((hostConfig.CpuPercent ?? 0) > 0) {
    warnings.push("linux does not support CPU percent. Percent discarded.");
    hostConfig.CpuPercent = 0;
  }
  if (hostConfig.CpusetCpus && !cpusetAvailable(hostConfig.CpusetCpus, sysInfo.cpus, "cpus")) {
    bad(`Requested CPUs are not available - requested ${hostConfig.CpusetCpus}, available: ${sysInfo.cpus}`);
  }
  if (hostConfig.CpusetMems && !cpusetAvailable(hostConfig.CpusetMems, sysInfo.mems, "mems")) {
    bad(`Requested memory nodes are not available - requested ${hostConfig.CpusetMems}, available: ${sysInfo.mems}`);
  }
  const weight = hostConfig.BlkioWeight ?? 0;
  if (weight > 0 && (weight < 10 || weight > 1000)) bad("Range of blkio weight is from 10 to 1000");
  if ((hostConfig.IOMaximumBandwidth ?? 0) !== 0 || (hostConfig.IOMaximumIOps ?? 0) !== 0) {
    bad("Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps");
  }

  // Platform settings (verifyPlatformContainerSettings)
  const ipc = hostConfig.IpcMode ?? "";
  if (!IPC_MODES.has(ipc) && containerRef(ipc) === undefined) bad(`invalid IPC mode: ${ipc}`);
  const pid = hostConfig.PidMode ?? "";
  if (pid !== "" && pid !== "host" && containerRef(pid) === undefined) bad(`invalid PID mode: ${pid}`);
  if ((hostConfig.ShmSize ?? 0) < 0) bad("SHM size can not be less than 0");
  const uts = hostConfig.UTSMode ?? "";
  if (uts !== "" && uts !== "host") bad(`invalid UTS mode: ${uts}`);
  const oom = hostConfig.OomScoreAdj ?? 0;
  if (oom < -1000 || oom > 1000) bad(`Invalid value ${oom}, range for oom score adj is [-1000, 1000]`);
  if (hostConfig.NetworkMode === "host" && Object.keys(hostConfig.PortBindings ?? {}).length > 0) {
    warnings.push("Published ports are discarded when using host network mode");
  }
  for (const dest of Object.keys(hostConfig.Tmpfs ?? {})) validateTmpfsDestination(dest);
  const cgroupns = hostConfig.CgroupnsMode ?? "";
  if (cgroupns !== "" && cgroupns !== "private" && cgroupns !== "host") bad(`invalid cgroup namespace mode: ${cgroupns}`);
  const userns = hostConfig.UsernsMode ?? "";
  if (userns !== "" && userns !== "host") bad(`invalid UsernsMode: ${userns}: user namespaces are not supported`);
  const isolation = hostConfig.Isolation ?? "";
  if (isolation !== "" && isolation !== "default") bad(`invalid isolation '${isolation}' on linux`);
  return warnings;
}

// ---------------------------------------------------------------------------
// Users and groups, read from the container's own /etc

export { resolveInRoot };

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/**
 * What resolveUser's answer in this root depends on, as a string that
 * changes when /etc/passwd or /etc/group does (an answer worked out
 * earlier is still good while it is the same).
 */
export function userFilesStamp(root: string): string {
  const stamp = (st: Stats | undefined): string => (st ? `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` : "-");
  // Most roots: /etc a directory, the two files no symlinks; three lstats say all.
  try {
    if (lstatSync(`${root}/etc`, { throwIfNoEntry: false })?.isDirectory()) {
      const files = USER_FILES.map((f) => lstatSync(`${root}${f}`, { throwIfNoEntry: false }));
      if (files.every((st) => !st?.isSymbolicLink())) return files.map(stamp).join(" ");
    }
  } catch {
    // the walk below says what is wrong
  }
  return USER_FILES.map((f) => {
    try {
      // The file resolveUser reads: symlinks followed inside the root.
      return stamp(lstatSync(resolveInRoot(root, f), { throwIfNoEntry: false }));
    } catch (err) {
      return (err as NodeJS.ErrnoException).code ?? "?"; // resolveUser meets the same and says so
    }
  }).join(" ");
}

/** The files resolveUser reads in a container's root. */
const USER_FILES = ["/etc/passwd", "/etc/group"];

function readEtc(root: string, file: string): string | undefined {
  try {
    return readFileSync(resolveInRoot(root, file), "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) return undefined;
    throw err;
  }
}

function etcLines(text: string): string[][] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.split(":"));
}

function parsePasswd(text: string): PasswdEntry[] {
  return etcLines(text).map((f) => ({ name: f[0] ?? "", uid: intField(f[2]), gid: intField(f[3]), home: f[5] ?? "" }));
}

function parseGroup(text: string): GroupEntry[] {
  return etcLines(text).map((f) => ({
    name: f[0] ?? "",
    gid: intField(f[2]),
    members: (f[3] ?? "").split(",").map((m) => m.trim()).filter(Boolean),
  }));
}

function intField(s: string | undefined): number {
  const n = Number.parseInt(s ?? "", 10);
  return Number.isNaN(n) ? 0 : n;
}

const MAX_ID = 2 ** 31 - 1;
const numeric = (s: string): number | undefined => (/^\d+$/.test(s) ? Number(s) : undefined);

/**
 * A user spec ("name", "uid", "name:group", "uid:gid", "") resolved the way
 * Docker does against the container's /etc/passwd and /etc/group
 * (moby/sys/user GetExecUserPath, daemon getUser): names must exist, numbers
 * need not; a user named without a group gets its passwd group and its
 * supplementary groups; `groupAdd` (--group-add) names or numbers are
 * appended. additionalGids starts with the primary gid, as in Docker.
 */
export function resolveUser(user: string, rootfsDir: string, groupAdd: readonly string[] = []): ResolvedUser {
  const colon = user.indexOf(":");
  const userArg = colon < 0 ? user : user.slice(0, colon);
  const groupArg = colon < 0 ? "" : user.slice(colon + 1);
  const uidArg = numeric(userArg);
  const gidArg = numeric(groupArg);
  const passwdText = readEtc(rootfsDir, "/etc/passwd");
  const groupText = readEtc(rootfsDir, "/etc/group");
  const passwd = passwdText === undefined ? [] : parsePasswd(passwdText);
  const groups = groupText === undefined ? [] : parseGroup(groupText);

  let uid = 0;
  let gid = 0;
  let matchedName = "";
  let home = "/";
  const match = passwd.find((u) => (userArg === "" ? u.uid === 0 : uidArg !== undefined ? u.uid === uidArg : u.name === userArg));
  if (match) {
    matchedName = match.name;
    home = match.home || "/";
    uid = match.uid;
    gid = match.gid;
  } else if (userArg !== "") {
    if (uidArg === undefined) bad(`unable to find user ${userArg}: no matching entries in passwd file`);
    if (uidArg > MAX_ID) bad("uids and gids must be in range 0-2147483647");
    uid = uidArg;
  }

  let sgids: number[] = [];
  if (groupArg !== "") {
    const g = groups.find((x) => (gidArg !== undefined ? x.gid === gidArg : x.name === groupArg));
    if (g) gid = g.gid;
    else {
      if (gidArg === undefined) bad(`unable to find group ${groupArg}: no matching entries in group file`);
      if (gidArg > MAX_ID) bad("uids and gids must be in range 0-2147483647");
      gid = gidArg;
    }
  } else if (matchedName !== "") {
    sgids = groups.filter((g) => g.members.includes(matchedName)).map((g) => g.gid);
  }

  const added: number[] = [];
  for (const ag of groupAdd) {
    const n = numeric(ag);
    const found = groups.filter((g) => g.name === ag || (n !== undefined && g.gid === n));
    if (found.length > 0) {
      for (const g of found) if (!added.includes(g.gid)) added.push(g.gid);
      continue;
    }
    if (n === undefined) bad(`Unable to find group ${ag}: no matching entries in group file`);
    if (n > MAX_ID) bad(`Unable to find group ${ag}: uids and gids must be in range 0-2147483647`);
    if (!added.includes(n)) added.push(n);
  }
  return { uid, gid, additionalGids: [gid, ...sgids, ...added], home };
}

/** A user as the process runs: its ids, and the home runc puts in HOME when the environment has none. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

/** runc's setupUser: HOME from the user's passwd entry ("/" without one) unless the environment sets it. */
export function withHome(env: string[], home: string): string[] {
  return env.some((e) => e.startsWith("HOME=")) ? env : [...env, `HOME=${home}`];
}

// ---------------------------------------------------------------------------
// Capabilities and security options

function normalizeCapabilities(names: readonly string[], available: readonly string[] | undefined): string[] {
  const out: string[] = [];
  for (const raw of names) {
    let c = raw.toUpperCase();
    if (c === "ALL") {
      out.push(c);
      continue;
    }
    if (!c.startsWith("CAP_")) c = `CAP_${c}`;
    if (!CAPABILITIES.includes(c)) throw new InvalidArgumentError(`unknown capability: ${JSON.stringify(c)}`);
    if (available && !available.includes(c)) {
      throw new InvalidArgumentError(`capability not supported by your kernel or not available in the current environment: ${JSON.stringify(c)}`);
    }
    out.push(c);
  }
  return out;
}

/**
 * The bounding (= effective = permitted) set: Docker's default set, minus
 * CapDrop, plus CapAdd ("ALL" in either; names with or without CAP_, any
 * case); every capability of the host for a privileged container
 * (moby caps.TweakCapabilities).
 */
export function tweakCapabilities(
  capAdd: readonly string[],
  capDrop: readonly string[],
  privileged: boolean,
  hostCaps: readonly string[] = readHostCapabilities(),
): string[] {
  if (privileged) return [...hostCaps];
  if (capAdd.length === 0 && capDrop.length === 0) return [...DOCKER_DEFAULT_CAPABILITIES];
  const drop = normalizeCapabilities(capDrop, hostCaps);
  const add = normalizeCapabilities(capAdd, hostCaps);
  let caps: string[];
  if (add.includes("ALL")) caps = hostCaps.filter((c) => !drop.includes(c));
  else if (drop.includes("ALL")) caps = add;
  else caps = [...DOCKER_DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c)), ...add];
  return [...new Set(caps)];
}

export interface SecurityOptions {
  noNewPrivileges: boolean;
  /** "unconfined", "builtin", a profile's JSON, or a path to one; undefined: the default profile. */
  seccompProfile?: string;
  apparmorProfile?: string;
  writableCgroups?: boolean;
  labels: string[];
}

function parseBool(v: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  return undefined;
}

/** HostConfig.SecurityOpt (moby parseSecurityOpt); "key:value" is the deprecated spelling of "key=value". */
export function parseSecurityOpt(opts: readonly string[]): SecurityOptions {
  const out: SecurityOptions = { noNewPrivileges: false, labels: [] };
  for (const opt of opts) {
    if (opt === "no-new-privileges") {
      out.noNewPrivileges = true;
      continue;
    }
    if (opt === "writable-cgroups") {
      out.writableCgroups = true;
      continue;
    }
    if (opt === "disable") {
      out.labels.push("disable");
      continue;
    }
    const sep = opt.includes("=") ? "=" : opt.includes(":") ? ":" : undefined;
    if (!sep) bad(`invalid --security-opt 1: ${JSON.stringify(opt)}`);
    const i = opt.indexOf(sep);
    const k = opt.slice(0, i);
    const v = opt.slice(i + 1);
    switch (k) {
      case "label":
        out.labels.push(v);
        break;
      case "apparmor":
        out.apparmorProfile = v;
        break;
      case "seccomp":
        out.seccompProfile = v;
        break;
      case "no-new-privileges": {
        const b = parseBool(v);
        if (b === undefined) bad(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
        out.noNewPrivileges = b;
        break;
      }
      case "writable-cgroups": {
        const b = parseBool(v);
        if (b === undefined) bad(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
        out.writableCgroups = b;
        break;
      }
      default:
        bad(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Seccomp: Docker's profile format (moby/profiles seccomp.Seccomp)

/** A seccomp profile as `docker run --security-opt seccomp=profile.json` takes it. */
export interface DockerSeccompProfileJson {
  defaultAction?: LinuxSeccompAction | "";
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] | null }[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: {
    names?: string[];
    /** Deprecated single-name form. */
    name?: string;
    action: LinuxSeccompAction;
    errnoRet?: number;
    args?: LinuxSeccompArg[] | null;
    comment?: string;
    includes?: SeccompFilter;
    excludes?: SeccompFilter;
  }[];
}

interface SeccompFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

// Go's GOARCH for Node's process.arch.
function hostGoArch(): string {
  switch (process.arch) {
    case "x64":
      return "amd64";
    case "ia32":
      return "386";
    case "ppc64":
      return os.endianness() === "LE" ? "ppc64le" : "ppc64";
    case "mips":
      return "mips";
    case "mipsel":
      return "mipsle";
    default:
      return process.arch;
  }
}

// GOARCH → libseccomp's name (what profiles' arches conditions use), and → SCMP arch.
const GO_TO_NATIVE: Record<string, string> = {
  "386": "x86",
  amd64: "amd64",
  arm: "arm",
  arm64: "arm64",
  loong64: "loongarch64",
  mips64: "mips64",
  mips64p32: "mips64n32",
  mips64le: "mipsel64",
  mips64p32le: "mips3l64n32",
  mipsle: "mipsel",
  ppc: "ppc",
  ppc64: "ppc64",
  ppc64le: "ppc64le",
  riscv64: "riscv64",
  s390: "s390",
  s390x: "s390x",
};

const NATIVE_TO_SCMP: Record<string, string> = {
  x86: "SCMP_ARCH_X86",
  amd64: "SCMP_ARCH_X86_64",
  arm: "SCMP_ARCH_ARM",
  arm64: "SCMP_ARCH_AARCH64",
  loong64: "SCMP_ARCH_LOONGARCH64",
  mips64: "SCMP_ARCH_MIPS64",
  mips64n32: "SCMP_ARCH_MIPS64N32",
  mipsel64: "SCMP_ARCH_MIPSEL64",
  mips3l64n32: "SCMP_ARCH_MIPSEL64N32",
  mipsle: "SCMP_ARCH_MIPSEL",
  ppc: "SCMP_ARCH_PPC",
  ppc64: "SCMP_ARCH_PPC64",
  ppc64le: "SCMP_ARCH_PPC64LE",
  riscv64: "SCMP_ARCH_RISCV64",
  s390: "SCMP_ARCH_S390",
  s390x: "SCMP_ARCH_S390X",
};

function kernelVersion(s: string, what: string): [number, number] {
  const m = /^\s*(\d+)\.(\d+)/.exec(s);
  if (!m) bad(`invalid kernel version: ${JSON.stringify(s)}, expected "<kernel>.<major>"${what ? ` (${what})` : ""}`);
  return [Number(m[1]), Number(m[2])];
}

function kernelAtLeast(have: [number, number], want: [number, number]): boolean {
  return have[0] > want[0] || (have[0] === want[0] && have[1] >= want[1]);
}

/**
 * A Docker seccomp profile resolved for one container, as dockerd does
 * before handing it to runc (moby/profiles seccomp setupSeccomp): the host
 * arch's archMap entry becomes `architectures`, rules whose includes /
 * excludes (capabilities of the bounding set, arches, minimum kernel) do
 * not hold are dropped. Returns undefined for an empty profile (no default
 * action, no syscalls), which Docker takes as "no seccomp".
 */
export function resolveSeccompProfile(
  profile: DockerSeccompProfileJson,
  options: { capabilities: readonly string[]; arch?: string; kernel?: string },
): LinuxSeccomp | undefined {
  if (typeof profile !== "object" || profile === null || Array.isArray(profile)) {
    bad("Decoding seccomp profile failed: not a JSON object");
  }
  if (!profile.defaultAction && !(profile.syscalls?.length)) return undefined;
  if (profile.architectures?.length && profile.archMap?.length) {
    bad("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'");
  }
  const goArch = options.arch ?? hostGoArch();
  const arch = GO_TO_NATIVE[goArch] ?? goArch;
  const caps = new Set(options.capabilities);
  let kernel: [number, number] | undefined;
  const currentKernel = () => (kernel ??= kernelVersion(options.kernel ?? os.release(), "host"));

  const out: LinuxSeccomp = { defaultAction: (profile.defaultAction || "SCMP_ACT_ALLOW") as LinuxSeccompAction };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  if (profile.flags?.length) out.flags = [...profile.flags];
  if (profile.listenerPath) out.listenerPath = profile.listenerPath;
  if (profile.listenerMetadata) out.listenerMetadata = profile.listenerMetadata;
  if (profile.architectures?.length) out.architectures = [...profile.architectures];
  const scmp = NATIVE_TO_SCMP[arch];
  const entry = scmp === undefined ? undefined : profile.archMap?.find((a) => a.architecture === scmp);
  if (entry) out.architectures = [entry.architecture, ...(entry.subArchitectures ?? [])];

  const syscalls: LinuxSyscall[] = [];
  for (const call of profile.syscalls ?? []) {
    let names = call.names ?? [];
    if (call.name) {
      if (names.length) bad("both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'");
      names = [call.name];
    }
    const ex = call.excludes;
    if (ex) {
      if (ex.arches?.includes(arch)) continue;
      if (ex.caps?.some((c) => caps.has(c))) continue;
      if (ex.minKernel && kernelAtLeast(currentKernel(), kernelVersion(ex.minKernel, "excludes.minKernel"))) continue;
    }
    const inc = call.includes;
    if (inc) {
      if (inc.arches?.length && !inc.arches.includes(arch)) continue;
      if (inc.caps?.some((c) => !caps.has(c))) continue;
      if (inc.minKernel && !kernelAtLeast(currentKernel(), kernelVersion(inc.minKernel, "includes.minKernel"))) continue;
    }
    const s: LinuxSyscall = { names: [...names], action: call.action };
    if (call.errnoRet !== undefined) s.errnoRet = call.errnoRet;
    if (call.args?.length) s.args = call.args.map((a) => ({ ...a }));
    syscalls.push(s);
  }
  out.syscalls = syscalls;
  return out;
}

/** The text of seccomp=<value>: JSON content (what the docker CLI sends) or a path to it. */
function loadSeccompProfile(value: string): DockerSeccompProfileJson {
  let text = value;
  if (!value.trimStart().startsWith("{") && value.startsWith("/")) {
    try {
      text = readFileSync(value, "utf8");
    } catch (err) {
      bad(`opening seccomp profile (${value}) failed: ${(err as Error).message}`);
    }
  }
  try {
    return JSON.parse(text) as DockerSeccompProfileJson;
  } catch (err) {
    bad(`Decoding seccomp profile failed: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------
// Mounts

const RW_MODES = new Set(["rw", "ro"]);
const LABEL_MODES = new Set(["z", "Z"]);
const PROPAGATION_MODES = new Set(["private", "rprivate", "slave", "rslave", "shared", "rshared"]);
const CONSISTENCY_MODES = new Set(["consistent", "cached", "delegated"]);

function validMountMode(mode: string): boolean {
  if (mode === "") return true;
  const counts = { rw: 0, label: 0, prop: 0, copy: 0, consistency: 0 };
  for (const o of mode.split(",")) {
    if (RW_MODES.has(o)) counts.rw++;
    else if (LABEL_MODES.has(o)) counts.label++;
    else if (PROPAGATION_MODES.has(o)) counts.prop++;
    else if (o === "nocopy") counts.copy++;
    else if (CONSISTENCY_MODES.has(o)) counts.consistency++;
    else return false;
  }
  return Object.values(counts).every((n) => n <= 1);
}

function cleanPath(p: string): string {
  return path.posix.normalize(p).replace(/(.)\/+$/, "$1");
}

function mountConfigError(type: string | undefined, message: string): never {
  bad(`invalid mount config for type ${JSON.stringify(type ?? "")}: ${message}`);
}

function validateTarget(type: string | undefined, target: string | undefined): void {
  if (!target) mountConfigError(type, "field Target must not be empty");
  if (cleanPath(target) === "/") mountConfigError(type, "invalid specification: destination can't be '/'");
  if (!target.startsWith("/")) mountConfigError(type, `invalid mount path: '${target}' mount path must be absolute`);
}

function validateTmpfsDestination(dest: string): void {
  if (cleanPath(dest) === "/") bad("invalid specification: destination can't be '/'");
  if (!dest.startsWith("/")) bad(`invalid mount path: '${dest}' mount path must be absolute`);
}

/** HostConfig.Mounts validation (moby linuxParser.validateMountConfigImpl). */
function validateMountConfig(m: ApiMount, checkBindSource: boolean): void {
  const t = m.Type;
  if (t !== "bind" && m.BindOptions) mountConfigError(t, "field BindOptions must not be specified");
  if (t !== "volume" && m.VolumeOptions) mountConfigError(t, "field VolumeOptions must not be specified");
  if (t !== "tmpfs" && m.TmpfsOptions) mountConfigError(t, "field TmpfsOptions must not be specified");
  validateTarget(t, m.Target);
  switch (t) {
    case "bind": {
      if (!m.Source) mountConfigError(t, "field Source must not be empty");
      const prop = m.BindOptions?.Propagation;
      if (prop && !PROPAGATION_MODES.has(prop)) mountConfigError(t, `invalid propagation mode: ${prop}`);
      if (!m.Source.startsWith("/")) mountConfigError(t, `invalid mount path: '${m.Source}' mount path must be absolute`);
      if (checkBindSource && !existsSync(m.Source) && !m.BindOptions?.CreateMountpoint) {
        mountConfigError(t, `bind source path does not exist: ${m.Source}`);
      }
      break;
    }
    case "volume":
      if (m.VolumeOptions?.Subpath) {
        if (!m.Source) mountConfigError(t, "must not set Subpath when using anonymous volumes");
        mountConfigError(t, "volume subpaths are not supported");
      }
      break;
    case "tmpfs":
      if (m.Source) mountConfigError(t, "field Source must not be specified");
      convertTmpfsOptions(m.TmpfsOptions ?? undefined, m.ReadOnly ?? false);
      break;
    default:
      mountConfigError(t, "mount type unknown");
  }
}

/** --mount type=tmpfs options → mount data ("ro,mode=755,size=64m"), moby ConvertTmpfsOptions. */
export function convertTmpfsOptions(opt: ApiMount["TmpfsOptions"] | undefined, readOnly: boolean): string {
  const raw: string[] = [];
  if (readOnly) raw.push("ro");
  if (opt?.Mode) raw.push(`mode=${opt.Mode.toString(8)}`);
  if (opt?.SizeBytes) {
    let size = opt.SizeBytes;
    let suffix = "";
    for (const [s, d] of [
      ["g", 1 << 30],
      ["m", 1 << 20],
      ["k", 1 << 10],
    ] as const) {
      if (size % d === 0) {
        size /= d;
        suffix = s;
        break;
      }
    }
    raw.push(`size=${size}${suffix}`);
  }
  return raw.join(",");
}

// Flags that collide with each other in a tmpfs option list (moby/sys/mount's table), by the flag they set.
const TMPFS_FLAG_KEYS: Record<string, string> = {
  ro: "rdonly",
  rw: "rdonly",
  suid: "nosuid",
  nosuid: "nosuid",
  dev: "nodev",
  nodev: "nodev",
  exec: "noexec",
  noexec: "noexec",
  sync: "sync",
  async: "sync",
  dirsync: "dirsync",
  remount: "remount",
  mand: "mand",
  nomand: "mand",
  atime: "noatime",
  noatime: "noatime",
  diratime: "nodiratime",
  nodiratime: "nodiratime",
  relatime: "relatime",
  norelatime: "relatime",
  strictatime: "strictatime",
  nostrictatime: "strictatime",
  bind: "propagation",
  rbind: "propagation",
  unbindable: "propagation",
  runbindable: "propagation",
  private: "propagation",
  rprivate: "propagation",
  shared: "propagation",
  rshared: "propagation",
  slave: "propagation",
  rslave: "propagation",
};
const TMPFS_DATA_KEYS = new Set(["size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"]);

/** Later options win over earlier ones of the same kind (moby/sys/mount MergeTmpfsOptions). */
export function mergeTmpfsOptions(options: readonly string[]): string[] {
  const seenFlags = new Set<string>();
  const seenData = new Set<string>();
  const out: string[] = [];
  for (let i = options.length - 1; i >= 0; i--) {
    const option = options[i]!;
    if (option === "defaults") continue;
    const key = TMPFS_FLAG_KEYS[option];
    if (key !== undefined) {
      if (!seenFlags.has(key)) {
        out.unshift(option);
        seenFlags.add(key);
      }
      continue;
    }
    const eq = option.indexOf("=");
    const name = eq < 0 ? option : option.slice(0, eq);
    if (eq < 0 || !TMPFS_DATA_KEYS.has(name)) bad(`invalid tmpfs option ${JSON.stringify(name)}`);
    if (!seenData.has(name)) {
      out.unshift(option);
      seenData.add(name);
    }
  }
  return out;
}

function tmpfsSpecOptions(data: string): string[] {
  const options = ["noexec", "nosuid", "nodev", "rprivate"];
  if (data) options.push(...data.split(","));
  return mergeTmpfsOptions(options);
}

/**
 * One HostConfig.Binds entry parsed (moby linuxParser.ParseMountRaw):
 * "/host:/ctr[:mode]" is a bind, "name:/ctr[:mode]" a named volume, "/ctr"
 * an anonymous volume. Volume sources are not resolved here.
 */
export function parseBind(raw: string): MountPointRecord {
  const invalid = (detail?: string): never => bad(`invalid volume specification: '${raw}'${detail ? `: ${detail}` : ""}`);
  const arr = raw.split(":");
  if (arr.length > 3) {
    // SplitN(raw, ":", 4) with 4 parts is an error too.
    invalid();
  }
  if (arr[0] === "") invalid();
  let source = "";
  let target: string;
  let mode = "";
  if (arr.length === 1) target = arr[0]!;
  else if (arr.length === 2) {
    if (validMountMode(arr[1]!)) invalid();
    source = arr[0]!;
    target = arr[1]!;
  } else {
    source = arr[0]!;
    target = arr[1]!;
    mode = arr[2]!;
  }
  if (!validMountMode(mode)) bad(`invalid mode: ${mode}`);
  const type = source.startsWith("/") ? "bind" : "volume";
  const opts = mode.split(",");
  const rw = !opts.includes("ro");
  const prop = opts.find((o) => PROPAGATION_MODES.has(o));
  try {
    validateTarget(type, target);
  } catch (err) {
    invalid((err as Error).message);
  }
  if (type === "bind") {
    return { Type: "bind", Source: cleanPath(source), Destination: cleanPath(target), RW: rw, Mode: mode, Propagation: prop ?? "rprivate" };
  }
  return {
    Type: "volume",
    Source: "",
    Destination: cleanPath(target),
    RW: rw,
    Name: source || undefined,
    Driver: "local",
    Mode: mode,
    Propagation: prop ?? "",
    CopyData: !opts.includes("nocopy"),
    Anonymous: source === "",
  };
}

/** A random 64-hex name, as Docker gives anonymous volumes. */
export function anonymousVolumeName(): string {
  return randomHexId();
}

function depth(dest: string): number {
  return (cleanPath(dest).match(/\//g) ?? []).length;
}

// ---------------------------------------------------------------------------
// Devices

function devMajor(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}

function devMinor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

/** The device node at `p` (not following a final symlink), or undefined if it is not one (containerd DeviceFromPath). */
export function deviceFromPath(p: string): LinuxDevice | undefined {
  const st = lstatSync(p, { bigint: true });
  const fmt = Number(st.mode) & 0o170000;
  let type: LinuxDevice["type"];
  if (fmt === 0o060000) type = "b";
  else if (fmt === 0o020000) type = "c";
  else if (fmt === 0o010000) type = "p";
  else return undefined;
  return {
    path: p,
    type,
    major: devMajor(st.rdev),
    minor: devMinor(st.rdev),
    fileMode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

/**
 * --device host[:container[:perms]] (moby oci.DevicesFromPath): a node, or
 * every node under a directory; each gets an allow rule with `perms`.
 */
export function devicesFromPath(hostPath: string, ctrPath: string, perms: string): { devices: LinuxDevice[]; rules: LinuxDeviceCgroup[] } {
  let resolved = hostPath;
  try {
    if (lstatSync(hostPath).isSymbolicLink()) resolved = path.resolve(path.dirname(hostPath), readlinkSync(hostPath));
  } catch {
    // reported below
  }
  const devices: LinuxDevice[] = [];
  let error: string | undefined;
  try {
    const d = deviceFromPath(resolved);
    if (d) devices.push({ ...d, path: ctrPath });
    else if (statSync(resolved).isDirectory()) {
      const walk = (dir: string): void => {
        for (const e of readdirSync(dir, { withFileTypes: true })) {
          const full = path.join(dir, e.name);
          if (e.isDirectory()) walk(full);
          else {
            const child = deviceFromPath(full);
            if (child) devices.push({ ...child, path: full.replace(resolved, ctrPath) });
          }
        }
      };
      walk(resolved);
      if (devices.length === 0) error = "not a device node";
    } else error = "not a device node";
  } catch (err) {
    error = isErrno(err, "ENOENT") ? `lstat ${hostPath}: no such file or directory` : (err as Error).message;
  }
  if (devices.length === 0) bad(`error gathering device information while adding custom device ${JSON.stringify(hostPath)}: ${error}`);
  const rules = devices.map((d) => ({ allow: true, type: d.type === "b" ? ("b" as const) : ("c" as const), major: d.major, minor: d.minor, access: perms }));
  return { devices, rules };
}

const HOST_DEV_SKIP_DIRS = new Set(["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"]);

/** Every device node of the host's /dev, for --privileged (containerd HostDevices). */
export function hostDevices(root = "/dev"): LinuxDevice[] {
  const out: LinuxDevice[] = [];
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (!HOST_DEV_SKIP_DIRS.has(e.name)) walk(full);
        continue;
      }
      if (e.name === "console") continue;
      try {
        const d = deviceFromPath(full);
        if (d && d.type !== "p") out.push(d);
      } catch {
        // vanished meanwhile
      }
    }
  };
  walk(root);
  return out;
}

/** "c 1:3 rwm", "a *:* rwm" (--device-cgroup-rule). */
export function parseDeviceCgroupRule(rule: string): LinuxDeviceCgroup {
  const m = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/.exec(rule);
  if (!m) bad(`invalid device cgroup rule format: '${rule}'`);
  const num = (s: string) => (s === "*" ? null : Number(s));
  return { allow: true, type: m[1] as "a" | "b" | "c", major: num(m[2]!), minor: num(m[3]!), access: m[4]! };
}

function throttleDevices(list: readonly ThrottleDevice[] | null | undefined): LinuxThrottleDevice[] {
  return (list ?? []).map((d) => {
    const { major, minor } = statDevice(d.Path);
    return { major, minor, rate: d.Rate };
  });
}

function statDevice(p: string): { major: number; minor: number } {
  try {
    const st = statSync(p, { bigint: true });
    return { major: devMajor(st.rdev), minor: devMinor(st.rdev) };
  } catch (err) {
    bad(`stat ${p}: ${isErrno(err, "ENOENT") ? "no such file or directory" : (err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------
// Sysctls (runc's validation: only namespaced ones, in a namespace of our own)

const IPC_SYSCTLS = new Set(["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]);

function validateSysctls(sysctls: Record<string, string>, ns: Map<LinuxNamespaceType, LinuxNamespace>): void {
  for (const key of Object.keys(sysctls)) {
    if (IPC_SYSCTLS.has(key) || key.startsWith("fs.mqueue.")) {
      if (ns.has("ipc")) continue;
      bad(`sysctl ${JSON.stringify(key)} is not allowed in the hosts ipc namespace`);
    }
    if (key.startsWith("net.")) {
      if (ns.has("network")) continue;
      bad(`sysctl ${JSON.stringify(key)} is not allowed in the hosts network namespace`);
    }
    if (ns.has("uts")) {
      if (key === "kernel.domainname") continue;
      if (key === "kernel.hostname") bad(`sysctl ${JSON.stringify(key)} is not allowed as it conflicts with the OCI "hostname" field`);
    }
    bad(`sysctl ${JSON.stringify(key)} is not in a separate kernel namespace`);
  }
}

// ---------------------------------------------------------------------------
// The spec

export interface SpecInput {
  id: string;
  /** The container's name ("/name" or "name"); informational. */
  name: string;
  /**
   * The create body's Config as the client sent it; merged with the image's
   * here. Pass the stored, already merged Config with `merged: true` (a
   * second merge would bring back an entrypoint `--entrypoint ""` cleared).
   */
  config: ContainerConfig;
  merged?: boolean;
  hostConfig: HostConfig;
  image: { config?: ImageRuntimeConfig; user?: string };
  /** What root.path will be. */
  rootfs: string;
  /** Where to read /etc/passwd, /etc/group and look at image paths; default `rootfs`. */
  userRoot?: string;
  paths: { hosts: string; hostname: string; resolvConf: string };
  /** The host path of a volume's data, creating the volume if needed (VolumeStore.ensure). */
  volumes: (name: string, request?: VolumeRequest) => string;
  /** The mount points the container got at create; given, Binds/Mounts/Volumes are not parsed again. */
  mountPoints?: readonly MountPointRecord[];
  /** Mount points of another container, for VolumesFrom. */
  volumesFrom?: (idOrName: string) => readonly MountPointRecord[];
  /** The pid of a running container ("container:<x>" namespace modes); undefined when it is not running. */
  containerPid?: (idOrName: string) => number | undefined;
  /** The host directory of a shareable container's /dev/shm (--ipc container:<x>); throws Docker's refusal for one that is not shareable. */
  ipcShmDir?: (idOrName: string) => string;
  /** This container's own /dev/shm directory on the host, when its IpcMode is "shareable". */
  ownShmDir?: string;
  /** Host path of hako-init, for --init. */
  initBinary?: string;
  cgroupsPath: string;
  hostCapabilities?: string[];
  sysInfo?: SysInfo;
  /** GOARCH for seccomp (default: the host's). */
  arch?: string;
  /** Kernel release for seccomp's minKernel (default: os.release()). */
  kernel?: string;
  /** Docker's default net sysctls (ping_group_range, ip_unprivileged_port_start) in a private network namespace; default true. */
  defaultSysctls?: boolean;
  /** The host's /dev, for --privileged (tests). */
  devRoot?: string;
}

export interface SpecResult {
  spec: Spec;
  /** The merged Config (as Docker stores it). */
  config: ContainerConfig;
  /** The HostConfig with dockerd's defaults (as Docker stores it). */
  hostConfig: HostConfig;
  /** Path and Args of the record. */
  path: string;
  args: string[];
  /** The container's mount points (record.MountPoints; inspect's Mounts). */
  mountPoints: MountPointRecord[];
  /** Directory to create in the writable layer before start (WorkingDir). */
  workingDir?: string;
  warnings: string[];
}

/**
 * The OCI config Docker would hand runc for this container. See
 * `generateSpec` for everything else the engine needs from the same pass.
 */
export function dockerSpec(input: SpecInput): Spec {
  return generateSpec(input).spec;
}

export function generateSpec(input: SpecInput): SpecResult {
  const sysInfo = input.sysInfo ?? detectSysInfo();
  const hostConfig = adaptHostConfig(input.hostConfig, { cgroupVersion: sysInfo.cgroupVersion });
  const config: ContainerConfig = input.merged
    ? structuredClone(input.config)
    : mergeImageConfig(input.config, input.image.config, { id: input.id, hostConfig, imageUser: input.image.user });
  if (!config.Hostname) config.Hostname = input.id.slice(0, 12);
  const warnings = verifyContainerSettings(config, hostConfig, sysInfo);
  if (config.WorkingDir) config.WorkingDir = cleanPath(config.WorkingDir); // Docker stores it cleaned
  const security = parseSecurityOpt(hostConfig.SecurityOpt ?? []);
  const { path: entry, args } = entrypointAndArgs(config);
  const privileged = hostConfig.Privileged === true;
  const userRoot = input.userRoot ?? input.rootfs;
  const hostCaps = input.hostCapabilities ?? readHostCapabilities();

  // Namespaces
  const namespaces = new Map<LinuxNamespaceType, LinuxNamespace>(DEFAULT_NAMESPACES.filter((t) => t !== "cgroup").map((t) => [t, { type: t }]));
  const joinPath = (ref: string, nsFile: string, what: string): string => {
    if (!input.containerPid) throw new FailedPreconditionError(`cannot join the ${what} of container ${ref}: no container lookup`);
    let pid: number | undefined;
    try {
      pid = input.containerPid(ref);
    } catch (err) {
      if (HakoError.is(err) && err.code === "ERR_NOT_FOUND") throw new InvalidArgumentError(err.message, { cause: err });
      throw err;
    }
    if (!pid) throw new ConflictError(`container ${ref} is not running`);
    return `/proc/${pid}/ns/${nsFile}`;
  };
  const netMode = hostConfig.NetworkMode ?? "default";
  const netRef = containerRef(netMode);
  if (!config.NetworkDisabled) {
    if (netRef !== undefined) {
      if (netRef === input.id || netRef === input.name.replace(/^\//, "")) bad("cannot join own network namespace");
      namespaces.set("network", { type: "network", path: joinPath(netRef, "net", "network namespace") });
    } else if (netMode === "host") namespaces.delete("network");
  }
  const ipcMode = hostConfig.IpcMode ?? "private";
  const ipcRef = containerRef(ipcMode);
  // A shareable container's /dev/shm is a host directory its joiners bind too (Docker's: a tmpfs under the container's dir).
  let shmSource: string | undefined = ipcMode === "shareable" ? input.ownShmDir : undefined;
  if (ipcRef !== undefined) {
    namespaces.set("ipc", { type: "ipc", path: joinPath(ipcRef, "ipc", "IPC namespace") });
    shmSource = input.ipcShmDir?.(ipcRef);
  } else if (ipcMode === "host") {
    namespaces.delete("ipc");
    shmSource = "/dev/shm";
  }
  const pidMode = hostConfig.PidMode ?? "";
  const pidRef = containerRef(pidMode);
  if (pidRef !== undefined) namespaces.set("pid", { type: "pid", path: joinPath(pidRef, "pid", "PID namespace") });
  else if (pidMode === "host") namespaces.delete("pid");
  const utsHost = hostConfig.UTSMode === "host";
  if (utsHost) namespaces.delete("uts");
  if (hostConfig.CgroupnsMode === "private") namespaces.set("cgroup", { type: "cgroup" });

  // Capabilities, seccomp
  const caps = tweakCapabilities(hostConfig.CapAdd ?? [], hostConfig.CapDrop ?? [], privileged, hostCaps);
  let seccomp: LinuxSeccomp | undefined;
  const profile = security.seccompProfile;
  if (profile !== "unconfined") {
    if (profile === undefined || profile === "" || profile === "builtin") {
      if (!privileged) seccomp = resolveDockerDefault({ capabilities: caps, arch: input.arch, kernel: input.kernel });
    } else {
      seccomp = resolveSeccompProfile(loadSeccompProfile(profile), { capabilities: caps, arch: input.arch, kernel: input.kernel });
    }
  }

  // Process
  const { home, ...user } = resolveUser(config.User ?? "", userRoot, hostConfig.GroupAdd ?? []);
  const proc: Process = {
    terminal: config.Tty === true,
    user,
    args: [entry, ...args],
    env: withHome(containerEnv(config), home),
    cwd: config.WorkingDir ? cleanPath(config.WorkingDir) : "/",
    capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
    oomScoreAdj: hostConfig.OomScoreAdj ?? 0,
  };
  const consoleSize = hostConfig.ConsoleSize;
  if (config.Tty && consoleSize && ((consoleSize[0] ?? 0) > 0 || (consoleSize[1] ?? 0) > 0)) {
    proc.consoleSize = { height: consoleSize[0] ?? 0, width: consoleSize[1] ?? 0 };
  }
  if (security.noNewPrivileges) proc.noNewPrivileges = true;
  const rlimits: POSIXRlimit[] = (hostConfig.Ulimits ?? []).map((u) => ({ type: `RLIMIT_${u.Name.toUpperCase()}`, soft: u.Soft, hard: u.Hard }));
  if (rlimits.length) proc.rlimits = rlimits;

  // Mounts
  const mountPoints = input.mountPoints
    ? reuseMountPoints(input.mountPoints, input.volumes)
    : registerMountPoints(config, hostConfig, input, userRoot);
  const tmpfs = Object.entries(hostConfig.Tmpfs ?? {}).map(([dest, data]) => ({ dest: cleanPath(dest), data }));
  const tmpfsDests = new Set(tmpfs.map((t) => t.dest));
  const initMount: Mount | undefined = initMountFor(hostConfig, pidMode, input.initBinary);
  if (initMount) proc.args = [INIT_PATH_IN_CONTAINER, "--", ...proc.args!];

  // The user's mounts (setupMounts): volumes and binds, then hosts/hostname/resolv.conf, then tmpfs.
  const network = new Map<string, { source: string; rw: boolean }>();
  const readonly = hostConfig.ReadonlyRootfs === true;
  for (const [dest, src] of [
    ["/etc/resolv.conf", input.paths.resolvConf],
    ["/etc/hostname", input.paths.hostname],
    ["/etc/hosts", input.paths.hosts],
  ] as const) {
    if (src) network.set(dest, { source: src, rw: !readonly });
  }
  type UserMount = { m: Mount; dest: string };
  const fromPoints: UserMount[] = [];
  for (const mp of mountPoints) {
    if (tmpfsDests.has(mp.Destination)) continue;
    if (mp.Type === "tmpfs") continue; // below, with HostConfig.Tmpfs
    if (network.has(mp.Destination)) {
      network.set(mp.Destination, { source: mp.Source, rw: mp.RW });
      continue;
    }
    fromPoints.push({ m: bindMount(mp), dest: mp.Destination });
  }
  fromPoints.sort((a, b) => depth(a.dest) - depth(b.dest));
  const userMounts: UserMount[] = [...fromPoints];
  for (const [dest, n] of network) {
    userMounts.push({ m: { destination: dest, type: "bind", source: n.source, options: ["rbind", ...(n.rw ? [] : ["ro"]), "rprivate"] }, dest });
  }
  if (shmSource && !mountPoints.some((m) => m.Destination === "/dev/shm")) {
    const options = ipcMode === "host" ? ["rbind", "rprivate"] : ["rbind", "rprivate", "nosuid", "nodev", "noexec"];
    userMounts.push({ m: { destination: "/dev/shm", type: "bind", source: shmSource, options }, dest: "/dev/shm" });
  }
  for (const t of tmpfs) {
    userMounts.push({ m: { destination: t.dest, type: "tmpfs", source: "tmpfs", options: tmpfsSpecOptions(t.data) }, dest: t.dest });
  }
  for (const mp of mountPoints) {
    if (mp.Type !== "tmpfs" || tmpfsDests.has(mp.Destination)) continue;
    userMounts.push({ m: { destination: mp.Destination, type: "tmpfs", source: "tmpfs", options: tmpfsSpecOptions(mp.Data ?? "") }, dest: mp.Destination });
  }
  // withMounts sorts the lot by depth (stable here).
  userMounts.sort((a, b) => depth(a.dest) - depth(b.dest));
  const userDests = new Set(userMounts.map((u) => u.dest));
  const mountDev = userDests.has("/dev");

  const mounts: Mount[] = [];
  for (const m of dockerDefaultMounts()) {
    if (userDests.has(m.destination)) continue;
    if (mountDev && m.destination.startsWith("/dev/")) continue;
    if (m.destination === "/dev/shm") {
      if (ipcMode === "none" || shmSource) continue;
      m.options = [...(m.options ?? []).filter((o) => !o.startsWith("size=")), `size=${hostConfig.ShmSize ?? DEFAULT_SHM_SIZE}`];
    }
    mounts.push(m);
  }
  if (initMount) mounts.push(initMount);
  if (readonly) {
    for (const m of mounts) {
      if (["/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev"].includes(m.destination)) continue;
      if (!m.options?.includes("ro")) m.options = [...(m.options ?? []), "ro"];
    }
  }
  if (privileged) {
    for (const m of mounts) if (m.destination === "/sys") m.options = m.options?.filter((o) => o !== "ro");
  }
  const writableCgroups = security.writableCgroups ?? privileged;
  if (writableCgroups) {
    for (const m of mounts) if (m.type === "cgroup") m.options = m.options?.filter((o) => o !== "ro");
  }
  mounts.push(...userMounts.map((u) => u.m));

  // Devices
  const devices: LinuxDevice[] = [];
  let deviceRules: LinuxDeviceCgroup[];
  if (privileged) {
    devices.push(...hostDevices(input.devRoot));
    for (const dm of hostConfig.Devices ?? []) {
      const inCtr = dm.PathInContainer || dm.PathOnHost;
      if (dm.PathOnHost === inCtr) continue;
      devices.push(...devicesFromPath(dm.PathOnHost, inCtr, "rwm").devices);
    }
    deviceRules = [{ allow: true, access: "rwm" }];
  } else {
    deviceRules = DOCKER_DEVICE_RULES.map((r) => ({ ...r }));
    for (const dm of hostConfig.Devices ?? []) {
      const perms = dm.CgroupPermissions || "rwm";
      if (!/^[rwm]{1,3}$/.test(perms)) bad(`invalid device cgroup permissions: '${perms}'`);
      const inCtr = dm.PathInContainer || dm.PathOnHost;
      if (!inCtr.startsWith("/")) bad(`invalid device path in container: '${inCtr}'`);
      const found = devicesFromPath(dm.PathOnHost, inCtr, perms);
      devices.push(...found.devices);
      deviceRules.push(...found.rules);
    }
    for (const rule of hostConfig.DeviceCgroupRules ?? []) deviceRules.push(parseDeviceCgroupRule(rule));
  }
  for (const req of hostConfig.DeviceRequests ?? []) {
    const capsText = `[${(req.Capabilities ?? []).map((c) => `[${c.join(" ")}]`).join(" ")}]`;
    bad(`could not select device driver ${JSON.stringify(req.Driver ?? "")} with capabilities: ${capsText}`);
  }

  // Resources
  const resources: LinuxResources = { devices: deviceRules };
  const memory = memoryResources(hostConfig);
  if (memory) resources.memory = memory;
  const cpu = cpuResources(hostConfig);
  if (cpu) resources.cpu = cpu;
  if (hostConfig.PidsLimit !== undefined && hostConfig.PidsLimit !== null) {
    resources.pids = { limit: hostConfig.PidsLimit <= 0 ? -1 : hostConfig.PidsLimit };
  }
  const blkio = blockIO(hostConfig);
  if (blkio) resources.blockIO = blkio;

  // Sysctls
  const sysctl: Record<string, string> = {};
  if ((input.defaultSysctls ?? true) && netRef === undefined && netMode !== "host" && !config.NetworkDisabled) {
    if (existsSync("/proc/sys/net/ipv4/ping_group_range")) sysctl["net.ipv4.ping_group_range"] = "0 2147483647";
    if (existsSync("/proc/sys/net/ipv4/ip_unprivileged_port_start")) sysctl["net.ipv4.ip_unprivileged_port_start"] = "0";
  }
  Object.assign(sysctl, hostConfig.Sysctls ?? {});
  validateSysctls(sysctl, namespaces);

  const nsList = DEFAULT_NAMESPACES.filter((t) => namespaces.has(t)).map((t) => namespaces.get(t)!);
  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: proc,
    root: { path: input.rootfs, readonly },
    mounts,
    linux: {
      resources,
      cgroupsPath: input.cgroupsPath,
      namespaces: nsList,
    },
  };
  if (!utsHost) {
    spec.hostname = config.Hostname;
    if (config.Domainname) spec.domainname = config.Domainname;
  }
  const linux = spec.linux!;
  if (devices.length) linux.devices = devices;
  if (Object.keys(sysctl).length) linux.sysctl = sysctl;
  if (seccomp) linux.seccomp = seccomp;
  // adaptHostConfig gave unprivileged containers Docker's lists; privileged ones get only what was asked for.
  linux.maskedPaths = [...(hostConfig.MaskedPaths ?? [])];
  linux.readonlyPaths = [...(hostConfig.ReadonlyPaths ?? [])];

  return {
    spec,
    config,
    hostConfig,
    path: entry,
    args,
    mountPoints,
    workingDir: workingDirToCreate(config),
    warnings,
  };
}

function initMountFor(hostConfig: HostConfig, pidMode: string, initBinary: string | undefined): Mount | undefined {
  if (hostConfig.Init !== true) return undefined;
  // Only in a PID namespace of its own: elsewhere there already is an init.
  if (pidMode === "host" || containerRef(pidMode) !== undefined) return undefined;
  if (!initBinary) throw new FailedPreconditionError("--init: the hako-init binary was not found");
  return { destination: INIT_PATH_IN_CONTAINER, type: "bind", source: initBinary, options: ["bind", "ro"] };
}

function bindMount(mp: MountPointRecord): Mount {
  const nonRecursive = mp.Spec?.BindOptions?.NonRecursive === true;
  const options = [nonRecursive ? "bind" : "rbind"];
  if (!mp.RW) options.push("ro");
  if (mp.Propagation && PROPAGATION_MODES.has(mp.Propagation)) options.push(mp.Propagation);
  return { destination: mp.Destination, type: "bind", source: mp.Source, options };
}

function memoryResources(hc: HostConfig): LinuxMemory | undefined {
  const m: LinuxMemory = {};
  if ((hc.Memory ?? 0) > 0) m.limit = hc.Memory!;
  if ((hc.MemoryReservation ?? 0) > 0) m.reservation = hc.MemoryReservation!;
  if ((hc.MemorySwap ?? 0) > 0) m.swap = hc.MemorySwap!;
  else if (hc.MemorySwap === -1 && (hc.Memory ?? 0) > 0) m.swap = -1;
  if (hc.MemorySwappiness !== undefined && hc.MemorySwappiness !== null) m.swappiness = hc.MemorySwappiness;
  if ((hc.KernelMemoryTCP ?? 0) > 0) m.kernelTCP = hc.KernelMemoryTCP!;
  if (hc.OomKillDisable) m.disableOOMKiller = true;
  return Object.keys(m).length ? m : undefined;
}

function cpuResources(hc: HostConfig): LinuxCPU | undefined {
  const c: LinuxCPU = {};
  if ((hc.CpuShares ?? 0) !== 0) c.shares = hc.CpuShares!;
  if (hc.CpusetCpus) c.cpus = hc.CpusetCpus;
  if (hc.CpusetMems) c.mems = hc.CpusetMems;
  if ((hc.NanoCpus ?? 0) > 0) {
    c.period = CFS_PERIOD_US;
    c.quota = Math.floor((hc.NanoCpus! * CFS_PERIOD_US) / 1e9);
  }
  if ((hc.CpuPeriod ?? 0) !== 0) c.period = hc.CpuPeriod!;
  if ((hc.CpuQuota ?? 0) !== 0) c.quota = hc.CpuQuota!;
  if ((hc.CpuRealtimePeriod ?? 0) !== 0) c.realtimePeriod = hc.CpuRealtimePeriod!;
  if ((hc.CpuRealtimeRuntime ?? 0) !== 0) c.realtimeRuntime = hc.CpuRealtimeRuntime!;
  return Object.keys(c).length ? c : undefined;
}

function blockIO(hc: HostConfig): LinuxResources["blockIO"] | undefined {
  const b: NonNullable<LinuxResources["blockIO"]> = {};
  if ((hc.BlkioWeight ?? 0) > 0) b.weight = hc.BlkioWeight!;
  const weights: LinuxWeightDevice[] = (hc.BlkioWeightDevice ?? []).map((w) => ({ ...statDevice(w.Path), weight: w.Weight }));
  if (weights.length) b.weightDevice = weights;
  const rb = throttleDevices(hc.BlkioDeviceReadBps);
  if (rb.length) b.throttleReadBpsDevice = rb;
  const wb = throttleDevices(hc.BlkioDeviceWriteBps);
  if (wb.length) b.throttleWriteBpsDevice = wb;
  const ri = throttleDevices(hc.BlkioDeviceReadIOps);
  if (ri.length) b.throttleReadIOPSDevice = ri;
  const wi = throttleDevices(hc.BlkioDeviceWriteIOps);
  if (wi.length) b.throttleWriteIOPSDevice = wi;
  return Object.keys(b).length ? b : undefined;
}

/** At start: the mount points of the create, volumes re-resolved (and re-created if removed meanwhile), bind sources checked. */
function reuseMountPoints(points: readonly MountPointRecord[], volumes: SpecInput["volumes"]): MountPointRecord[] {
  return points.map((p) => {
    const mp = structuredClone(p);
    if (mp.Type === "volume" && mp.Name) mp.Source = volumes(mp.Name, mp.Anonymous ? { anonymous: true } : undefined);
    if (mp.Type === "bind" && !existsSync(mp.Source)) {
      if (mp.Spec && !mp.Spec.BindOptions?.CreateMountpoint) mountConfigError("bind", `bind source path does not exist: ${mp.Source}`);
      mkdirSync(mp.Source, { recursive: true, mode: 0o755 });
    }
    return mp;
  });
}

/**
 * The container's mount points at create (moby registerMountPoints +
 * createContainerVolumesOS): VolumesFrom, Binds, Mounts, then an anonymous
 * volume for each Config/image VOLUME nothing else covers.
 */
function registerMountPoints(config: ContainerConfig, hc: HostConfig, input: SpecInput, userRoot: string): MountPointRecord[] {
  const points = new Map<string, MountPointRecord>();
  const binds = new Set<string>();
  const tmpfs = new Set(Object.keys(hc.Tmpfs ?? {}).map(cleanPath));

  for (const v of hc.VolumesFrom ?? []) {
    if (v === "") bad("volumes-from specification cannot be an empty string");
    const i = v.indexOf(":");
    const ref = i < 0 ? v : v.slice(0, i);
    const mode = i < 0 ? "rw" : v.slice(i + 1);
    if (!validMountMode(mode) || mode.split(",").some((o) => PROPAGATION_MODES.has(o) || o === "nocopy")) bad(`invalid mode: ${mode}`);
    if (!input.volumesFrom) throw new FailedPreconditionError(`--volumes-from ${ref}: no container lookup`);
    let theirs: readonly MountPointRecord[];
    try {
      theirs = input.volumesFrom(ref);
    } catch (err) {
      if (HakoError.is(err) && err.code === "ERR_NOT_FOUND") throw new InvalidArgumentError(err.message, { cause: err });
      throw err;
    }
    const rw = !mode.split(",").includes("ro");
    for (const m of theirs) {
      points.set(m.Destination, { ...structuredClone(m), RW: m.RW && rw, CopyData: false, Anonymous: false });
    }
  }

  for (const raw of hc.Binds ?? []) {
    const mp = parseBind(raw);
    if (binds.has(mp.Destination) || tmpfs.has(mp.Destination)) bad(`Duplicate mount point: ${mp.Destination}`);
    if (mp.Type === "volume") {
      if (mp.Anonymous) mp.Name = anonymousVolumeName();
      mp.Source = input.volumes(mp.Name!, mp.Anonymous ? { anonymous: true } : undefined);
      if (mp.Mode === "") mp.Mode = "z";
    } else if (!existsSync(mp.Source)) {
      // Docker creates a missing bind source (but not for --mount).
      mkdirSync(mp.Source, { recursive: true, mode: 0o755 });
    }
    binds.add(mp.Destination);
    points.set(mp.Destination, mp);
  }

  for (const m of hc.Mounts ?? []) {
    validateMountConfig(m, true);
    const dest = cleanPath(m.Target!);
    if (binds.has(dest)) bad(`Duplicate mount point: ${m.Target}`);
    const spec = structuredClone(m);
    let mp: MountPointRecord;
    if (m.Type === "volume") {
      const anonymous = !m.Source;
      const name = m.Source || anonymousVolumeName();
      const request: VolumeRequest = {};
      if (anonymous) request.anonymous = true;
      if (m.VolumeOptions?.Labels) request.labels = { ...m.VolumeOptions.Labels };
      if (m.VolumeOptions?.DriverConfig?.Options) request.driverOpts = { ...m.VolumeOptions.DriverConfig.Options };
      const driver = m.VolumeOptions?.DriverConfig?.Name;
      if (driver && driver !== "local") bad(`error looking up volume plugin ${driver}: plugin "${driver}" not found`);
      mp = {
        Type: "volume",
        Source: input.volumes(name, Object.keys(request).length ? request : undefined),
        Destination: dest,
        RW: !m.ReadOnly,
        Name: name,
        Driver: "local",
        Mode: "z",
        Propagation: "",
        CopyData: !m.VolumeOptions?.NoCopy,
        Anonymous: anonymous,
        Spec: spec,
      };
    } else if (m.Type === "bind") {
      if (!existsSync(m.Source!)) mkdirSync(m.Source!, { recursive: true, mode: 0o755 }); // CreateMountpoint (checked above)
      mp = {
        Type: "bind",
        Source: cleanPath(m.Source!),
        Destination: dest,
        RW: !m.ReadOnly,
        Mode: "",
        Propagation: m.BindOptions?.Propagation || "rprivate",
        Spec: spec,
      };
    } else {
      mp = {
        Type: "tmpfs",
        Source: "",
        Destination: dest,
        RW: !m.ReadOnly,
        Mode: "",
        Propagation: "",
        Spec: spec,
        Data: convertTmpfsOptions(m.TmpfsOptions ?? undefined, m.ReadOnly ?? false),
      };
    }
    binds.add(dest);
    points.set(dest, mp);
  }

  for (const spec of Object.keys(config.Volumes ?? {}).sort()) {
    const dest = cleanPath(spec);
    if (points.has(dest) || tmpfs.has(dest)) continue;
    if (!dest.startsWith("/") || dest === "/") bad(`invalid volume specification: '${spec}'`);
    try {
      const st = statSync(resolveInRoot(userRoot, dest));
      if (!st.isDirectory()) bad(`cannot mount volume over existing file, file exists ${resolveInRoot(userRoot, dest)}`);
    } catch (err) {
      if (HakoError.is(err)) throw err;
      // absent: fine
    }
    const name = anonymousVolumeName();
    points.set(dest, {
      Type: "volume",
      Source: input.volumes(name, { anonymous: true }),
      Destination: dest,
      RW: true,
      Name: name,
      Driver: "local",
      Mode: "",
      Propagation: "",
      CopyData: true,
      Anonymous: true,
    });
  }
  return [...points.values()].sort((a, b) => depth(a.Destination) - depth(b.Destination));
}
