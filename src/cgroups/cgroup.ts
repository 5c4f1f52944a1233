/**
 * One interface over cgroup v1 and v2 (youki's CgroupManager, crun's
 * manager vtable). The runtime and the engine only ever see this; the two
 * drivers differ in file names and in how controllers are enabled.
 */
import { posix } from "node:path";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmdirSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import type { LinuxResources } from "../spec/oci-runtime.ts";
import {
  FailedPreconditionError,
  HakoError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from "../common/errors.ts";

export interface MemoryStats {
  /** Bytes in use now (v1 memory.usage_in_bytes, v2 memory.current). */
  usage: number;
  /** The highest usage seen (v1 max_usage_in_bytes, v2 memory.peak where present). */
  maxUsage: number;
  /** The limit in bytes; 0 when unlimited. */
  limit: number;
  /** memory.stat as key → value (bytes or counts, as the kernel prints them). */
  stat: Record<string, number>;
  /** Times the OOM killer killed a process in this cgroup. */
  oomKills: number;
  /** Times the limit was hit (v1 failcnt, v2 memory.events max). */
  failcnt: number;
}

export interface CpuStats {
  /** Total CPU time consumed, nanoseconds. */
  usageTotal: number;
  /** Per-CPU usage, nanoseconds (empty when the kernel does not say). */
  usagePerCpu: number[];
  usageUser: number;
  usageSystem: number;
  /** cpu.stat throttling counters. */
  throttling: { periods: number; throttledPeriods: number; throttledTime: number };
}

export interface PidsStats {
  current: number;
  /** 0 when unlimited. */
  limit: number;
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

export interface CgroupStats {
  memory: MemoryStats;
  cpu: CpuStats;
  pids: PidsStats;
  blkio: { ioServiceBytesRecursive: BlkioEntry[]; ioServicedRecursive: BlkioEntry[] };
}

export interface Cgroup {
  readonly version: 1 | 2;
  /** The cgroup's path below every hierarchy root, always starting with "/". */
  readonly path: string;
  /** Creates the cgroup (and parents) and applies the resources. Idempotent. */
  create(resources?: LinuxResources): void;
  /** The cgroup.procs files a new process must be written to, one per hierarchy. */
  procsFiles(): string[];
  /** Changes limits of a cgroup that exists (docker update). */
  update(resources: LinuxResources): void;
  stats(): CgroupStats;
  /** The pids of every process in the cgroup (and below). */
  pids(): number[];
  /** The OOM-kill counter, to tell an OOM kill from another SIGKILL. */
  oomKillCount(): number;
  freeze(): void;
  thaw(): void;
  /** True while the cgroup directory exists. */
  exists(): boolean;
  /** Removes the cgroup directories; processes still inside are killed first. */
  destroy(): void;
}

export interface CgroupOptions {
  /**
   * Where the cgroup filesystems are mounted; /sys/fs/cgroup by default.
   * Tests point this at a fake tree.
   */
  root?: string;
  /**
   * The text of /proc/self/mountinfo, to discover v1 hierarchies; read from
   * the kernel when absent. Tests pass a fake one whose mount points lie
   * below `root`. When no cgroup mount lies below `root`, the v1 driver
   * falls back to listing `root` (one directory per hierarchy).
   */
  mountinfo?: string;
  /**
   * The text of /proc/self/cgroup, the caller's own cgroup in each
   * hierarchy; relative cgroup paths are resolved below it (as runc does).
   * Read from the kernel when absent.
   */
  selfCgroup?: string;
}

// ---------------------------------------------------------------------------
// Helpers shared by the v1 and v2 drivers (youki's libcgroups common.rs).
// Not part of the interface: only src/cgroups/ uses them.

/** Blocks the thread; the drivers are synchronous and wait milliseconds at most. */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? "unknown error";
}

/** Turns a failed kernfs access into a hako error that names the file and errno. */
export function cgroupIoError(action: string, file: string, err: unknown): HakoError {
  const code = errnoOf(err);
  const message = `cgroup: cannot ${action} ${file}: ${code}`;
  // cgroupfs cannot create files, so opening a missing control file for
  // writing fails with EACCES rather than ENOENT: report both as "not found".
  if (code === "ENOENT" || (code === "EACCES" && !existsSync(file))) {
    return new NotFoundError(`${message} (no such control file: controller or feature not available)`, { cause: err });
  }
  if (code === "EINVAL" || code === "ERANGE") {
    return new InvalidArgumentError(`${message} (the kernel rejected the value)`, { cause: err });
  }
  return new InternalError(message, { cause: err });
}

export function readCgroupFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw cgroupIoError("read", file, err);
  }
}

/** The file's text, or undefined when it does not exist (an optional knob or stat). */
export function readOptionalFile(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return undefined;
    throw cgroupIoError("read", file, err);
  }
}

/**
 * Writes one value in one write(2), as kernfs expects. writeFileSync creates a
 * missing file, which is what a fake tree in a temp dir needs; cgroupfs refuses.
 */
export function writeCgroupFile(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch (err) {
    throw cgroupIoError(`write "${value}" to`, file, err);
  }
}

/**
 * Writes one rule line (devices.allow, io.max, ...). The kernel takes one rule
 * per write and ignores O_APPEND; appending lets a fake tree keep every rule.
 */
export function appendCgroupLine(file: string, line: string): void {
  appendCgroupLines(file, [line]);
}

/** Several rule lines to one file, one write each, through one open. */
export function appendCgroupLines(file: string, lines: readonly string[]): void {
  let fd: number | undefined;
  let line = lines[0] ?? "";
  try {
    fd = openSync(file, "a");
    for (line of lines) writeSync(fd, `${line}\n`);
  } catch (err) {
    throw cgroupIoError(`write "${line}" to`, file, err);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Removes an empty leaf cgroup: true when it is gone (or was). False when
 * something is left in it (processes, sub-cgroups, a fake tree's files),
 * for the caller's thorough path.
 */
export function rmdirIfEmpty(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    return errnoOf(err) === "ENOENT";
  }
}

/** Parses "key value" lines (memory.stat, cpu.stat, memory.events) into numbers. */
export function parseFlatKeyed(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? "").split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined) out[key] = Number(value);
  }
  return out;
}

const UNLIMITED_THRESHOLD = 2 ** 62;

/** A limit as the stats report it: 0 for "max" or v1's near-2^63 "unlimited". */
export function parseLimit(text: string | undefined): number {
  const value = (text ?? "").trim();
  if (value === "" || value === "max") return 0;
  const n = Number(value);
  return Number.isFinite(n) && n < UNLIMITED_THRESHOLD ? n : 0;
}

/** A single number from a file, 0 when the file is missing or empty. */
export function parseNumber(text: string | undefined): number {
  const n = Number((text ?? "").trim() || "0");
  return Number.isFinite(n) ? n : 0;
}

/**
 * Validates and normalizes a cgroup path. Absolute paths hang below each
 * hierarchy root; relative ones below the caller's own cgroup.
 */
export function normalizeCgroupPath(path: string): string {
  if (path === "" || path.includes("\0")) {
    throw new InvalidArgumentError(`cgroup path ${JSON.stringify(path)} is empty or contains NUL`);
  }
  if (path.split("/").includes("..")) {
    throw new InvalidArgumentError(`cgroup path ${JSON.stringify(path)} must not contain ".."`);
  }
  const normalized = posix.normalize(path).replace(/\/+$/, "");
  if (normalized === "" || normalized === "." || normalized === "/") {
    throw new InvalidArgumentError(`cgroup path ${JSON.stringify(path)} names a hierarchy root`);
  }
  return normalized;
}

/**
 * Parses /proc/self/cgroup ("id:controllers:path") into controller → path.
 * v1 lines give one entry per controller ("cpu", "cpuacct", "name=systemd");
 * the v2 line ("0::/x") is keyed by "".
 */
export function parseSelfCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    const path = line.slice(second + 1);
    const controllers = line.slice(first + 1, second);
    for (const c of controllers === "" ? [""] : controllers.split(",")) out.set(c, path);
  }
  return out;
}

/** Hugepage sizes become file names (hugetlb.2MB.max): accept only the kernel's spelling. */
export function checkHugepageSize(size: string): void {
  if (!/^\d+[KMG]B$/.test(size)) throw new InvalidArgumentError(`hugepage size ${JSON.stringify(size)} is not like 2MB or 1GB`);
}

/** An rdma.max line: "mlx4_0 hca_handle=2 hca_object=2000". */
export function rdmaLine(device: string, limit: { hcaHandles?: number; hcaObjects?: number }): string {
  if (!/^[\w.-]+$/.test(device)) throw new InvalidArgumentError(`rdma device ${JSON.stringify(device)} is not a device name`);
  const parts = [device];
  if (limit.hcaHandles !== undefined) parts.push(`hca_handle=${limit.hcaHandles}`);
  if (limit.hcaObjects !== undefined) parts.push(`hca_object=${limit.hcaObjects}`);
  return parts.join(" ");
}

/** Every pid in cgroup.procs of `dir` and of its sub-cgroups. */
export function listPidsRecursive(dir: string): number[] {
  const pids: number[] = [];
  const text = readOptionalFile(posix.join(dir, "cgroup.procs"));
  if (text === undefined && !existsSync(dir)) return pids;
  for (const line of (text ?? "").split("\n")) {
    if (line.trim() !== "") pids.push(Number(line));
  }
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) pids.push(...listPidsRecursive(posix.join(dir, entry.name)));
  }
  return pids;
}

export interface KillOptions {
  /** What to name in errors: the cgroup path. */
  what: string;
  /** Lists the processes still inside. */
  list: () => number[];
  /** Kills everything at once (v2 cgroup.kill); returns false when unsupported. */
  killAll?: () => boolean;
  timeoutMs?: number;
}

/**
 * SIGKILLs every process of a cgroup and waits until none is left. New
 * processes forked meanwhile are caught by the next round.
 */
export function killAndWait(options: KillOptions): void {
  const deadline = Date.now() + (options.timeoutMs ?? 1000);
  let usedKillAll = false;
  for (;;) {
    const pids = options.list();
    if (pids.length === 0) return;
    if (pids.includes(process.pid)) {
      throw new FailedPreconditionError(`cgroup ${options.what}: refusing to kill it, it holds the calling process ${process.pid}`);
    }
    if (Date.now() > deadline) {
      throw new UnavailableError(`cgroup ${options.what}: processes ${pids.join(", ")} still inside after SIGKILL`);
    }
    if (!usedKillAll && options.killAll) usedKillAll = options.killAll();
    if (!usedKillAll) {
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch (err) {
          if (errnoOf(err) !== "ESRCH") throw new InternalError(`cgroup ${options.what}: kill ${pid}: ${errnoOf(err)}`, { cause: err });
        }
      }
    }
    sleepSync(10);
  }
}

/**
 * Runs a create: `makeDirs` returns the directories it made, `apply` writes
 * limits. When either fails, only what this call made is removed, deepest
 * first, so a failed create leaves no trace.
 */
export function createOrUndo(makeDirs: () => string[], apply: () => void): void {
  const created: string[] = [];
  try {
    created.push(...makeDirs());
    apply();
  } catch (err) {
    for (const dir of created.reverse()) {
      try {
        removeCgroupTree(dir);
      } catch {
        // The original error matters more than a failed clean-up.
      }
    }
    throw err;
  }
}

/** Removes `dir` and the sub-cgroups inside it, leaf first. A missing dir is fine. */
export function removeCgroupTree(dir: string): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return;
    throw cgroupIoError("list", dir, err);
  }
  for (const entry of entries) {
    if (entry.isDirectory()) removeCgroupTree(posix.join(dir, entry.name));
  }
  rmdirWithRetry(dir);
}

function rmdirWithRetry(dir: string): void {
  let clearedFiles = false;
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      const code = errnoOf(err);
      if (code === "ENOENT") return;
      // cgroupfs never says ENOTEMPTY (a busy cgroup is EBUSY); a plain
      // directory does. That is a fake tree whose control files are real files.
      if (code === "ENOTEMPTY" && !clearedFiles) {
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          if (entry.isFile()) unlinkSync(posix.join(dir, entry.name));
        }
        clearedFiles = true;
        continue;
      }
      // The kernel releases a cgroup a moment after its last task exits.
      if (code === "EBUSY" && attempt < 5) {
        sleepSync(10 * 2 ** attempt);
        continue;
      }
      throw cgroupIoError("remove", dir, err);
    }
  }
}
