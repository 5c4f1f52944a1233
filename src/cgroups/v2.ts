/**
 * The cgroup v2 driver: one unified hierarchy. Controllers must be enabled in
 * every ancestor's cgroup.subtree_control before a child can use them, and
 * v1's knobs map onto new files with new units (crun's and runc's
 * conversions are kept so limits mean the same on both drivers).
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { posix } from "node:path";
import {
  appendCgroupLine,
  cgroupIoError,
  checkHugepageSize,
  killAndWait,
  listPidsRecursive,
  normalizeCgroupPath,
  parseFlatKeyed,
  parseLimit,
  parseNumber,
  parseSelfCgroup,
  rdmaLine,
  readOptionalFile,
  createOrUndo,
  removeCgroupTree,
  sleepSync,
  writeCgroupFile,
} from "./cgroup.ts";
import type { BlkioEntry, Cgroup, CgroupOptions, CgroupStats } from "./cgroup.ts";
import type { LinuxBlockIO, LinuxCPU, LinuxMemory, LinuxResources, LinuxThrottleDevice } from "../spec/oci-runtime.ts";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, UnavailableError } from "../common/errors.ts";

const DEFAULT_ROOT = "/sys/fs/cgroup";

/** Controllers hako enables down the path, when the parent offers them. */
const WANTED_CONTROLLERS = ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma"];

/**
 * cpu.shares (2..262144, default 1024) → cpu.weight (1..10000, default 100),
 * crun's linear map: 1024 → 39, not 100, exactly as crun and runc write it.
 */
export function sharesToWeight(shares: number): number {
  const clamped = Math.min(Math.max(shares, 2), 262144);
  return 1 + Math.floor(((clamped - 2) * 9999) / 262142);
}

/** blkio.weight (10..1000) → io.weight (1..10000), runc's ConvertBlkIOToIOWeightValue. */
export function blkioWeightToIoWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * OCI swap is memory+swap (v1's memsw); v2's memory.swap.max is swap alone.
 * Returns the value for memory.swap.max, or undefined to leave it (runc's
 * ConvertMemorySwapToCgroupV2Value).
 */
export function swapToV2(swap: number | undefined, limit: number | undefined): string | undefined {
  // As on v1: an unlimited memory with no explicit swap means unlimited swap too.
  if (limit === -1 && !swap) return "max";
  if (!swap) return undefined;
  if (swap === -1) return "max";
  if (!limit || limit === -1) {
    throw new InvalidArgumentError(`memory+swap limit ${swap} needs a memory limit`);
  }
  if (swap < limit) throw new InvalidArgumentError(`memory+swap limit ${swap} is below the memory limit ${limit}`);
  return String(swap - limit);
}

/** A unified key names one file of the cgroup's own directory: no way out of it. */
function checkUnifiedKey(key: string): void {
  if (key === "" || key.includes("/") || key.includes("..") || key.includes("\0")) {
    throw new InvalidArgumentError(`linux.resources.unified key ${JSON.stringify(key)} is not a plain cgroup file name`);
  }
}

/** A cgroup in the unified (v2) hierarchy. */
export class CgroupV2 implements Cgroup {
  readonly version = 2 as const;
  readonly path: string;
  readonly #root: string;
  readonly #dir: string;

  constructor(path: string, options: CgroupOptions = {}) {
    const normalized = normalizeCgroupPath(path);
    this.#root = options.root ?? DEFAULT_ROOT;
    if (normalized.startsWith("/")) {
      this.path = normalized;
    } else {
      const own = parseSelfCgroup(options.selfCgroup ?? readFileSync("/proc/self/cgroup", "utf8")).get("");
      if (own === undefined) throw new FailedPreconditionError(`cgroup ${path}: /proc/self/cgroup has no cgroup v2 entry`);
      this.path = posix.join(own, normalized);
    }
    this.#dir = posix.join(this.#root, this.path);
  }

  /** The cgroup's directory. */
  dir(): string {
    return this.#dir;
  }

  create(resources: LinuxResources = {}): void {
    validate(this.path, resources);
    createOrUndo(
      () => this.#makeDirs(),
      () => {
        this.#enableControllers();
        this.#apply(resources);
      },
    );
  }

  procsFiles(): string[] {
    return [this.#file("cgroup.procs")];
  }

  update(resources: LinuxResources): void {
    this.#mustExist();
    validate(this.path, resources);
    this.#apply(resources);
  }

  stats(): CgroupStats {
    this.#mustExist();
    const read = (name: string) => readOptionalFile(this.#file(name));
    const events = parseFlatKeyed(read("memory.events"));
    const cpu = parseFlatKeyed(read("cpu.stat"));
    const io = parseIoStat(read("io.stat"));
    return {
      memory: {
        usage: parseNumber(read("memory.current")),
        maxUsage: parseNumber(read("memory.peak")),
        limit: parseLimit(read("memory.max")),
        stat: parseFlatKeyed(read("memory.stat")),
        oomKills: events["oom_kill"] ?? 0,
        failcnt: events["max"] ?? 0,
      },
      cpu: {
        usageTotal: (cpu["usage_usec"] ?? 0) * 1000,
        usagePerCpu: [],
        usageUser: (cpu["user_usec"] ?? 0) * 1000,
        usageSystem: (cpu["system_usec"] ?? 0) * 1000,
        throttling: {
          periods: cpu["nr_periods"] ?? 0,
          throttledPeriods: cpu["nr_throttled"] ?? 0,
          throttledTime: (cpu["throttled_usec"] ?? 0) * 1000,
        },
      },
      pids: { current: parseNumber(read("pids.current")), limit: parseLimit(read("pids.max")) },
      blkio: io,
    };
  }

  pids(): number[] {
    return listPidsRecursive(this.#dir);
  }

  oomKillCount(): number {
    return parseFlatKeyed(readOptionalFile(this.#file("memory.events")))["oom_kill"] ?? 0;
  }

  freeze(): void {
    this.#setFrozen(true);
  }

  thaw(): void {
    this.#setFrozen(false);
  }

  exists(): boolean {
    return existsSync(this.#dir);
  }

  destroy(): void {
    killAndWait({
      what: this.path,
      list: () => listPidsRecursive(this.#dir),
      // cgroup.kill (5.14+) kills the whole subtree atomically, forks included.
      killAll: () => {
        if (!existsSync(this.#file("cgroup.kill"))) return false;
        writeCgroupFile(this.#file("cgroup.kill"), "1");
        return true;
      },
    });
    removeCgroupTree(this.#dir);
  }

  #file(name: string): string {
    return posix.join(this.#dir, name);
  }

  #mustExist(): void {
    if (!this.exists()) throw new NotFoundError(`cgroup ${this.path} does not exist under ${this.#root}`);
  }

  #makeDirs(): string[] {
    const created: string[] = [];
    let current = this.#root;
    for (const part of this.path.split("/").filter(Boolean)) {
      current = posix.join(current, part);
      try {
        mkdirSync(current);
        created.push(current);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw cgroupIoError("create", current, err);
      }
    }
    return created;
  }

  /**
   * A child sees only the controllers its parent enabled in
   * cgroup.subtree_control, so enable them from the root down, stopping above
   * the leaf: a cgroup with controllers enabled for children cannot hold
   * processes itself ("no internal processes").
   */
  #enableControllers(): void {
    let current = this.#root;
    for (const part of this.path.split("/").filter(Boolean)) {
      const available = new Set(words(readOptionalFile(posix.join(current, "cgroup.controllers"))));
      const enabled = new Set(words(readOptionalFile(posix.join(current, "cgroup.subtree_control"))).map((w) => w.replace(/^\+/, "")));
      const missing = WANTED_CONTROLLERS.filter((c) => available.has(c) && !enabled.has(c));
      if (missing.length > 0) {
        writeCgroupFile(posix.join(current, "cgroup.subtree_control"), missing.map((c) => `+${c}`).join(" "));
      }
      current = posix.join(current, part);
    }
  }

  #apply(r: LinuxResources): void {
    // cpuset first: a task cannot join a cpuset with no cpus or mems.
    if (r.cpu?.cpus) writeCgroupFile(this.#file("cpuset.cpus"), r.cpu.cpus);
    if (r.cpu?.mems) writeCgroupFile(this.#file("cpuset.mems"), r.cpu.mems);
    if (r.memory) this.#applyMemory(r.memory);
    if (r.cpu) this.#applyCpu(r.cpu);
    if (r.pids) writeCgroupFile(this.#file("pids.max"), r.pids.limit <= 0 ? "max" : String(r.pids.limit));
    if (r.blockIO) this.#applyIo(r.blockIO);
    // linux.resources.devices: v2 has no file for them but a BPF program (device-filter.ts), which the helper attaches.
    for (const h of r.hugepageLimits ?? []) {
      writeCgroupFile(this.#file(`hugetlb.${h.pageSize}.max`), h.limit < 0 ? "max" : String(h.limit));
    }
    for (const [device, limit] of Object.entries(r.rdma ?? {})) appendCgroupLine(this.#file("rdma.max"), rdmaLine(device, limit));
    for (const [key, value] of Object.entries(r.unified ?? {})) writeCgroupFile(this.#file(key), value);
  }

  /** swappiness, kernel, kernelTCP and disableOOMKiller have no v2 file: runc and crun ignore them too. */
  #applyMemory(m: LinuxMemory): void {
    const limit = m.limit || undefined;
    if (limit !== undefined) writeCgroupFile(this.#file("memory.max"), limit < 0 ? "max" : String(limit));
    const swap = swapToV2(m.swap, limit);
    if (swap !== undefined) {
      const file = this.#file("memory.swap.max");
      // memory.swap.max is missing when swap accounting is off; "max" asks for nothing.
      if (existsSync(file) || swap !== "max") writeCgroupFile(file, swap);
    }
    if (m.reservation) writeCgroupFile(this.#file("memory.low"), m.reservation < 0 ? "max" : String(m.reservation));
  }

  #applyCpu(c: LinuxCPU): void {
    if (c.shares) writeCgroupFile(this.#file("cpu.weight"), String(sharesToWeight(c.shares)));
    if (c.quota || c.period) {
      // Without a period the kernel keeps the current one.
      const quota = c.quota && c.quota > 0 ? String(c.quota) : "max";
      writeCgroupFile(this.#file("cpu.max"), c.period ? `${quota} ${c.period}` : quota);
    }
    if (c.burst !== undefined) writeCgroupFile(this.#file("cpu.max.burst"), String(c.burst));
    if (c.idle !== undefined) writeCgroupFile(this.#file("cpu.idle"), String(c.idle));
  }

  #applyIo(b: LinuxBlockIO): void {
    // With BFQ, io.bfq.weight takes blkio's 1..1000 range as is; io.weight needs converting.
    const bfq = existsSync(this.#file("io.bfq.weight"));
    const weightFile = this.#file(bfq ? "io.bfq.weight" : "io.weight");
    const weight = (w: number) => String(bfq ? w : blkioWeightToIoWeight(w));
    if (b.weight) writeCgroupFile(weightFile, weight(b.weight));
    for (const d of b.weightDevice ?? []) {
      if (d.weight) appendCgroupLine(weightFile, `${d.major}:${d.minor} ${weight(d.weight)}`);
    }
    for (const line of ioMaxLines(b)) appendCgroupLine(this.#file("io.max"), line);
  }

  #setFrozen(frozen: boolean): void {
    this.#mustExist();
    writeCgroupFile(this.#file("cgroup.freeze"), frozen ? "1" : "0");
    const eventsFile = this.#file("cgroup.events");
    // The kernel confirms in cgroup.events once every task has stopped.
    for (let attempt = 0; attempt < 200; attempt++) {
      const events = readOptionalFile(eventsFile);
      if (events === undefined || (parseFlatKeyed(events)["frozen"] === 1) === frozen) return;
      sleepSync(attempt < 10 ? 1 : 10);
    }
    throw new UnavailableError(`cgroup ${this.path}: ${eventsFile} did not report frozen ${frozen ? 1 : 0}`);
  }
}

function validate(path: string, r: LinuxResources): void {
  const fail = (what: string) => new InvalidArgumentError(`cgroup ${path}: ${what}`);
  if (r.cpu?.realtimePeriod || r.cpu?.realtimeRuntime) throw fail("realtime CPU limits are not supported on cgroup v2");
  if (r.network?.classID !== undefined || r.network?.priorities?.length) {
    throw fail("net_cls/net_prio limits are not supported on cgroup v2");
  }
  if (r.memory) {
    try {
      swapToV2(r.memory.swap, r.memory.limit || undefined);
    } catch (err) {
      throw fail((err as Error).message);
    }
  }
  for (const h of r.hugepageLimits ?? []) checkHugepageSize(h.pageSize);
  for (const key of Object.keys(r.unified ?? {})) checkUnifiedKey(key);
}

/** One io.max line per device: "8:0 rbps=1048576 wiops=max". A rate of 0 means no limit. */
function ioMaxLines(b: LinuxBlockIO): string[] {
  const lines = new Map<string, string[]>();
  const add = (devices: LinuxThrottleDevice[] | undefined, key: string) => {
    for (const d of devices ?? []) {
      const device = `${d.major}:${d.minor}`;
      const parts = lines.get(device) ?? [];
      parts.push(`${key}=${d.rate === 0 ? "max" : d.rate}`);
      lines.set(device, parts);
    }
  };
  add(b.throttleReadBpsDevice, "rbps");
  add(b.throttleWriteBpsDevice, "wbps");
  add(b.throttleReadIOPSDevice, "riops");
  add(b.throttleWriteIOPSDevice, "wiops");
  return [...lines].map(([device, parts]) => `${device} ${parts.join(" ")}`);
}

/**
 * io.stat "8:0 rbytes=1 wbytes=2 rios=3 wios=4 ..." → Docker's v1-shaped
 * entries; ops are lower-case "read"/"write", as dockerd reports them on v2.
 */
function parseIoStat(text: string | undefined): CgroupStats["blkio"] {
  const ioServiceBytesRecursive: BlkioEntry[] = [];
  const ioServicedRecursive: BlkioEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    const [device, ...fields] = line.trim().split(/\s+/);
    const match = /^(\d+):(\d+)$/.exec(device ?? "");
    if (!match) continue;
    const major = Number(match[1]);
    const minor = Number(match[2]);
    const kv = Object.fromEntries(fields.map((f) => f.split("=")).map(([k, v]) => [k, Number(v)]));
    ioServiceBytesRecursive.push({ major, minor, op: "read", value: kv["rbytes"] ?? 0 }, { major, minor, op: "write", value: kv["wbytes"] ?? 0 });
    ioServicedRecursive.push({ major, minor, op: "read", value: kv["rios"] ?? 0 }, { major, minor, op: "write", value: kv["wios"] ?? 0 });
  }
  return { ioServiceBytesRecursive, ioServicedRecursive };
}

function words(text: string | undefined): string[] {
  return (text ?? "").split(/\s+/).filter(Boolean);
}
