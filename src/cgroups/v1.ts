/**
 * The cgroup v1 driver: one directory per hierarchy (cpu, memory, ...,
 * name=systemd), each mounted on its own. Hierarchies are discovered from
 * /proc/self/mountinfo, never assumed: "cpu" and "cpuacct" may be separate
 * mounts or one "cpu,cpuacct" mount with symlinks. A cgroup2 mount next to
 * them (the "hybrid" layout, e.g. /sys/fs/cgroup/unified) is ignored.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { posix } from "node:path";
import {
  appendCgroupLine,
  appendCgroupLines,
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
  readCgroupFile,
  readOptionalFile,
  createOrUndo,
  removeCgroupTree,
  rmdirIfEmpty,
  sleepSync,
  writeCgroupFile,
} from "./cgroup.ts";
import type { BlkioEntry, Cgroup, CgroupOptions, CgroupStats } from "./cgroup.ts";
import type {
  LinuxBlockIO,
  LinuxCPU,
  LinuxDeviceCgroup,
  LinuxMemory,
  LinuxResources,
  LinuxThrottleDevice,
} from "../spec/oci-runtime.ts";
import {
  FailedPreconditionError,
  HakoError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from "../common/errors.ts";

const DEFAULT_ROOT = "/sys/fs/cgroup";

/** Controllers a v1 mount can carry; anything else in the super options is a mount option. */
const V1_CONTROLLERS = new Set([
  "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio",
  "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc", "debug",
]);

/** cpuacct.stat counts USER_HZ ticks; Linux fixes USER_HZ at 100 on every arch we run on. */
const NS_PER_USER_HZ_TICK = 1e9 / 100;

/** One mounted v1 hierarchy. */
export interface V1Mount {
  /** Controllers bound to it: "cpu", "cpuacct", "name=systemd", ... */
  controllers: string[];
  mountPoint: string;
  /** The hierarchy path the mount shows at its mount point ("/" on a host). */
  mountRoot: string;
}

interface Hierarchy extends V1Mount {
  /** This cgroup's directory in the hierarchy. */
  dir: string;
}

/**
 * Lists the v1 hierarchies mounted below `root` from mountinfo text. When
 * none is found there (a fake tree without a mountinfo), lists `root` itself.
 */
export function discoverV1Mounts(root: string, mountinfo: string): V1Mount[] {
  const mounts = parseV1Mountinfo(mountinfo).filter((m) => isBelow(m.mountPoint, root));
  return mounts.length > 0 ? mounts : listV1Root(root);
}

function isBelow(path: string, root: string): boolean {
  return path.startsWith(root.endsWith("/") ? root : `${root}/`);
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function parseV1Mountinfo(text: string): V1Mount[] {
  const seen = new Set<string>();
  const mounts: V1Mount[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const sep = fields.indexOf("-");
    if (sep < 0 || fields[sep + 1] !== "cgroup") continue;
    const controllers = (fields[sep + 3] ?? "")
      .split(",")
      .filter((opt) => V1_CONTROLLERS.has(opt) || opt.startsWith("name="));
    const key = [...controllers].sort().join(",");
    // The same hierarchy can be mounted twice (bind mounts); the first wins.
    if (controllers.length === 0 || seen.has(key)) continue;
    seen.add(key);
    mounts.push({ controllers, mountPoint: unescapeMountinfo(fields[4]!), mountRoot: unescapeMountinfo(fields[3]!) });
  }
  return mounts;
}

/** One directory per hierarchy, named after its controllers; symlinks ("cpu" → "cpu,cpuacct") are aliases. */
function listV1Root(root: string): V1Mount[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch (err) {
    throw cgroupIoError("list", root, err);
  }
  const mounts: V1Mount[] = [];
  for (const name of names.sort()) {
    const dir = posix.join(root, name);
    const st = lstatSync(dir);
    if (st.isSymbolicLink() || !st.isDirectory()) continue;
    // A cgroup2 mount (hybrid "unified") has cgroup.controllers; v1 ones never do.
    if (existsSync(posix.join(dir, "cgroup.controllers")) || !existsSync(posix.join(dir, "cgroup.procs"))) continue;
    const controllers = name.split(",").map((c) => (V1_CONTROLLERS.has(c) ? c : `name=${c}`));
    mounts.push({ controllers, mountPoint: dir, mountRoot: "/" });
  }
  return mounts;
}

/**
 * A cgroup in every v1 hierarchy. `path` is the cgroup's path in the memory
 * hierarchy (or the first one): for a relative path it includes the caller's
 * own cgroup there, which may differ from one hierarchy to another.
 */
export class CgroupV1 implements Cgroup {
  readonly version = 1 as const;
  readonly path: string;
  readonly #root: string;
  readonly #hierarchies: Hierarchy[];

  constructor(path: string, options: CgroupOptions = {}) {
    const normalized = normalizeCgroupPath(path);
    this.#root = options.root ?? DEFAULT_ROOT;
    const mountinfo = options.mountinfo ?? readFileSync("/proc/self/mountinfo", "utf8");
    const own = normalized.startsWith("/")
      ? new Map<string, string>()
      : parseSelfCgroup(options.selfCgroup ?? readFileSync("/proc/self/cgroup", "utf8"));
    this.#hierarchies = discoverV1Mounts(this.#root, mountinfo).map((m) => ({
      ...m,
      dir: resolveDir(m, normalized, own),
    }));
    const main = this.#primary();
    this.path = main ? posix.join("/", main.dir.slice(main.mountPoint.length)) : posix.join("/", normalized);
  }

  /** The hierarchies this cgroup lives in, with its directory in each. */
  hierarchies(): readonly Readonly<Hierarchy>[] {
    return this.#hierarchies;
  }

  create(resources: LinuxResources = {}): void {
    if (this.#hierarchies.length === 0) {
      throw new FailedPreconditionError(`cgroup ${this.path}: no cgroup v1 hierarchy found under ${this.#root}`);
    }
    this.#validate(resources);
    createOrUndo(
      () => this.#hierarchies.flatMap((h) => makeDirs(h)),
      () => this.#apply(resources),
    );
  }

  procsFiles(): string[] {
    return this.#hierarchies.map((h) => posix.join(h.dir, "cgroup.procs"));
  }

  update(resources: LinuxResources): void {
    this.#mustExist();
    this.#validate(resources);
    this.#apply(resources);
  }

  stats(): CgroupStats {
    this.#mustExist();
    const memDir = this.#dirOf("memory");
    const read = (dir: string | undefined, file: string) => (dir ? readOptionalFile(posix.join(dir, file)) : undefined);
    const cpuacct = this.#dirOf("cpuacct");
    const ticks = parseFlatKeyed(read(cpuacct, "cpuacct.stat"));
    const throttle = parseFlatKeyed(read(this.#dirOf("cpu"), "cpu.stat"));
    const pidsDir = this.#dirOf("pids");
    const blkio = this.#dirOf("blkio");
    return {
      memory: {
        usage: parseNumber(read(memDir, "memory.usage_in_bytes")),
        maxUsage: parseNumber(read(memDir, "memory.max_usage_in_bytes")),
        limit: parseLimit(read(memDir, "memory.limit_in_bytes")),
        stat: parseFlatKeyed(read(memDir, "memory.stat")),
        oomKills: parseFlatKeyed(read(memDir, "memory.oom_control"))["oom_kill"] ?? 0,
        failcnt: parseNumber(read(memDir, "memory.failcnt")),
      },
      cpu: {
        usageTotal: parseNumber(read(cpuacct, "cpuacct.usage")),
        usagePerCpu: (read(cpuacct, "cpuacct.usage_percpu") ?? "").trim().split(/\s+/).filter(Boolean).map(Number),
        usageUser: (ticks["user"] ?? 0) * NS_PER_USER_HZ_TICK,
        usageSystem: (ticks["system"] ?? 0) * NS_PER_USER_HZ_TICK,
        throttling: {
          periods: throttle["nr_periods"] ?? 0,
          throttledPeriods: throttle["nr_throttled"] ?? 0,
          throttledTime: throttle["throttled_time"] ?? 0,
        },
      },
      pids: {
        current: parseNumber(read(pidsDir, "pids.current")),
        limit: parseLimit(read(pidsDir, "pids.max")),
      },
      blkio: {
        ioServiceBytesRecursive: parseBlkioV1(read(blkio, "blkio.throttle.io_service_bytes_recursive")),
        ioServicedRecursive: parseBlkioV1(read(blkio, "blkio.throttle.io_serviced_recursive")),
      },
    };
  }

  pids(): number[] {
    const main = this.#primary();
    return main ? listPidsRecursive(main.dir) : [];
  }

  oomKillCount(): number {
    const dir = this.#dirOf("memory");
    if (!dir) return 0;
    return parseFlatKeyed(readOptionalFile(posix.join(dir, "memory.oom_control")))["oom_kill"] ?? 0;
  }

  freeze(): void {
    this.#setFreezer("FROZEN");
  }

  thaw(): void {
    this.#setFreezer("THAWED");
  }

  exists(): boolean {
    return this.#hierarchies.some((h) => existsSync(h.dir));
  }

  destroy(): void {
    if (!this.exists()) return; // destroyed already (the exit did it before rm)
    // The usual case: the processes are gone and nothing was made inside, one rmdir each.
    if (this.#hierarchies.every((h) => rmdirIfEmpty(h.dir))) return;
    // A frozen task does not act on SIGKILL until thawed.
    const freezer = this.#dirOf("freezer");
    const state = freezer ? readOptionalFile(posix.join(freezer, "freezer.state"))?.trim() : undefined;
    if (state === "FROZEN" || state === "FREEZING") writeCgroupFile(posix.join(freezer!, "freezer.state"), "THAWED");
    // Processes may sit in some hierarchies only (a half-done join): look in all.
    killAndWait({
      what: this.path,
      list: () => [...new Set(this.#hierarchies.flatMap((h) => listPidsRecursive(h.dir)))],
    });
    const failures: HakoError[] = [];
    for (const h of this.#hierarchies) {
      try {
        removeCgroupTree(h.dir);
      } catch (err) {
        failures.push(err as HakoError);
      }
    }
    if (failures.length > 0) {
      throw new InternalError(`cgroup ${this.path}: destroy failed: ${failures.map((e) => e.message).join("; ")}`, {
        cause: failures[0],
      });
    }
  }

  #primary(): Hierarchy | undefined {
    return this.#hierarchy("memory") ?? this.#hierarchies[0];
  }

  #hierarchy(controller: string): Hierarchy | undefined {
    return this.#hierarchies.find((h) => h.controllers.includes(controller));
  }

  #dirOf(controller: string): string | undefined {
    return this.#hierarchy(controller)?.dir;
  }

  #require(controller: string, what: string): string {
    const dir = this.#dirOf(controller);
    if (!dir) {
      throw new FailedPreconditionError(
        `cgroup ${this.path}: ${what} requested but no cgroup v1 hierarchy under ${this.#root} has the ${controller} controller`,
      );
    }
    return dir;
  }

  #mustExist(): void {
    if (!this.exists()) throw new NotFoundError(`cgroup ${this.path} does not exist under ${this.#root}`);
  }

  #setFreezer(target: "FROZEN" | "THAWED"): void {
    this.#mustExist();
    const file = posix.join(this.#require("freezer", "freeze/thaw"), "freezer.state");
    // The kernel may report FREEZING while tasks are still being stopped;
    // writing FROZEN again retries the ones that were busy (runc does the same).
    for (let attempt = 0; attempt < 200; attempt++) {
      writeCgroupFile(file, target);
      if (readCgroupFile(file).trim() === target) return;
      sleepSync(attempt < 10 ? 1 : 10);
    }
    if (target === "FROZEN") writeCgroupFile(file, "THAWED");
    throw new UnavailableError(`cgroup ${this.path}: ${file} did not reach ${target}`);
  }

  /** Checks what can be checked before anything is written, so a bad request leaves nothing behind. */
  #validate(r: LinuxResources): void {
    if (r.unified && Object.keys(r.unified).length > 0) {
      throw new InvalidArgumentError(`cgroup ${this.path}: linux.resources.unified needs cgroup v2; this host uses v1`);
    }
    const m = r.memory;
    if (m?.limit !== undefined && m.limit > 0 && m.swap !== undefined && m.swap > 0 && m.swap < m.limit) {
      throw new InvalidArgumentError(
        `cgroup ${this.path}: memory+swap limit ${m.swap} is below the memory limit ${m.limit}`,
      );
    }
    if (m?.swappiness !== undefined && (m.swappiness < 0 || m.swappiness > 100)) {
      throw new InvalidArgumentError(`cgroup ${this.path}: swappiness ${m.swappiness} is not in 0..100`);
    }
    for (const d of r.devices ?? []) deviceRule(d);
    for (const h of r.hugepageLimits ?? []) checkHugepageSize(h.pageSize);
    if (m && Object.values(m).some((v) => v !== undefined)) this.#require("memory", "a memory limit");
    const c = r.cpu;
    if (c && (c.shares || c.quota || c.period || c.burst !== undefined || c.realtimePeriod || c.realtimeRuntime || c.idle !== undefined)) {
      this.#require("cpu", "a cpu limit");
    }
    if (c?.cpus || c?.mems) this.#require("cpuset", "a cpuset");
    if (r.pids) this.#require("pids", "a pids limit");
    if (r.blockIO && Object.values(r.blockIO).some((v) => v !== undefined)) this.#require("blkio", "a block I/O limit");
    if (r.devices?.length) this.#require("devices", "a device rule");
    if (r.hugepageLimits?.length) this.#require("hugetlb", "a hugepage limit");
    if (r.network?.classID !== undefined) this.#require("net_cls", "a network class id");
    if (r.network?.priorities?.length) this.#require("net_prio", "network priorities");
    if (r.rdma && Object.keys(r.rdma).length > 0) this.#require("rdma", "an rdma limit");
  }

  #apply(r: LinuxResources): void {
    // cpuset first: a task cannot join a cpuset with no cpus or mems.
    if (r.cpu?.cpus) writeCgroupFile(posix.join(this.#dirOf("cpuset")!, "cpuset.cpus"), r.cpu.cpus);
    if (r.cpu?.mems) writeCgroupFile(posix.join(this.#dirOf("cpuset")!, "cpuset.mems"), r.cpu.mems);
    if (r.memory) applyMemory(this.#dirOf("memory")!, r.memory);
    if (r.cpu) applyCpu(this.#dirOf("cpu"), r.cpu);
    if (r.pids) writeCgroupFile(posix.join(this.#dirOf("pids")!, "pids.max"), r.pids.limit <= 0 ? "max" : String(r.pids.limit));
    if (r.blockIO) applyBlockIO(this.#dirOf("blkio")!, r.blockIO);
    if (r.devices?.length) applyDevices(this.#dirOf("devices")!, r.devices);
    for (const h of r.hugepageLimits ?? []) {
      writeCgroupFile(posix.join(this.#dirOf("hugetlb")!, `hugetlb.${h.pageSize}.limit_in_bytes`), String(h.limit));
    }
    if (r.network?.classID !== undefined) {
      writeCgroupFile(posix.join(this.#dirOf("net_cls")!, "net_cls.classid"), String(r.network.classID));
    }
    for (const p of r.network?.priorities ?? []) {
      appendCgroupLine(posix.join(this.#dirOf("net_prio")!, "net_prio.ifpriomap"), `${p.name} ${p.priority}`);
    }
    for (const [device, limit] of Object.entries(r.rdma ?? {})) {
      appendCgroupLine(posix.join(this.#dirOf("rdma")!, "rdma.max"), rdmaLine(device, limit));
    }
  }
}

/** Where a cgroup path lands in one hierarchy (runc's subsysPath). */
function resolveDir(m: V1Mount, path: string, own: Map<string, string>): string {
  if (path.startsWith("/")) return posix.join(m.mountPoint, path);
  const ownPath = m.controllers.map((c) => own.get(c)).find((p) => p !== undefined) ?? "/";
  const rel = posix.relative(m.mountRoot, ownPath);
  if (rel.startsWith("..")) {
    throw new FailedPreconditionError(
      `cgroup ${path}: own cgroup ${ownPath} is outside the ${m.controllers.join(",")} mount root ${m.mountRoot}`,
    );
  }
  return posix.join(m.mountPoint, rel, path);
}

/**
 * Creates the cgroup's directory level by level and returns the levels it
 * made. In the cpuset hierarchy a new cgroup starts with empty cpuset.cpus
 * and cpuset.mems, and no task can join it until they are filled: copy the
 * parent's values down every level that is still empty.
 */
function makeDirs(h: Hierarchy): string[] {
  const isCpuset = h.controllers.includes("cpuset");
  // The usual case: the parent is there (an earlier container's) with its cpuset filled.
  const parent = posix.dirname(h.dir);
  if (h.dir !== h.mountPoint && tryMkdir(h.dir)) {
    if (!isCpuset) return [h.dir];
    const values = ["cpuset.cpus", "cpuset.mems"].map((f) => (readOptionalFile(posix.join(parent, f)) ?? "").trim());
    if (values.every((v) => v !== "")) {
      writeCgroupFile(posix.join(h.dir, "cpuset.cpus"), values[0]!);
      writeCgroupFile(posix.join(h.dir, "cpuset.mems"), values[1]!);
      return [h.dir];
    }
    return [h.dir, ...walkDirs(h, isCpuset)];
  }
  return walkDirs(h, isCpuset);
}

/** mkdir that says whether it made the directory; false when the parent is missing or it exists already. */
function tryMkdir(dir: string): boolean {
  try {
    mkdirSync(dir);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EEXIST") return false;
    throw cgroupIoError("create", dir, err);
  }
}

function walkDirs(h: Hierarchy, isCpuset: boolean): string[] {
  const created: string[] = [];
  let current = h.mountPoint;
  for (const part of h.dir.slice(h.mountPoint.length).split("/").filter(Boolean)) {
    const parent = current;
    current = posix.join(current, part);
    try {
      mkdirSync(current);
      created.push(current);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw cgroupIoError("create", current, err);
    }
    if (isCpuset) {
      for (const file of ["cpuset.cpus", "cpuset.mems"]) {
        if ((readOptionalFile(posix.join(current, file)) ?? "").trim() !== "") continue;
        writeCgroupFile(posix.join(current, file), readCgroupFile(posix.join(parent, file)).trim());
      }
    }
  }
  return created;
}

/** One write the memory controller needs, in order. */
export interface MemoryWrite {
  file: "memory.limit_in_bytes" | "memory.memsw.limit_in_bytes";
  value: string;
}

/**
 * The writes that set the memory and memory+swap limits. OCI swap is
 * memory+swap (v1's memsw), and the kernel insists memsw >= memory at every
 * moment, so the order depends on the direction of change (runc's
 * setMemoryAndSwap). 0 means "leave as is", as in runc.
 */
export function memoryAndSwapWrites(
  m: Pick<LinuxMemory, "limit" | "swap">,
  state: { currentLimit: number; hasMemsw: boolean },
): MemoryWrite[] {
  const limit = m.limit || undefined;
  let swap = m.swap || undefined;
  // Lifting the memory limit must lift memsw too, or the kernel refuses.
  if (limit === -1 && swap === undefined && state.hasMemsw) swap = -1;
  if (swap !== undefined && !state.hasMemsw) {
    // Without swap accounting memsw cannot be set; that is only harmless
    // when the request means "no swap beyond memory" or "no limit".
    if (swap !== -1 && swap !== limit) {
      throw new FailedPreconditionError(
        "a swap limit was requested but swap accounting is off (no memory.memsw.limit_in_bytes; boot with swapaccount=1)",
      );
    }
    swap = undefined;
  }
  const memory: MemoryWrite[] = limit === undefined ? [] : [{ file: "memory.limit_in_bytes", value: String(limit) }];
  const memsw: MemoryWrite[] = swap === undefined ? [] : [{ file: "memory.memsw.limit_in_bytes", value: String(swap) }];
  const raising = swap === -1 || (swap !== undefined && state.currentLimit < swap);
  return raising ? [...memsw, ...memory] : [...memory, ...memsw];
}

function applyMemory(dir: string, m: LinuxMemory): void {
  const state = {
    currentLimit: parseNumber(readOptionalFile(posix.join(dir, "memory.limit_in_bytes"))),
    hasMemsw: existsSync(posix.join(dir, "memory.memsw.limit_in_bytes")),
  };
  let writes: MemoryWrite[];
  try {
    writes = memoryAndSwapWrites(m, state);
  } catch (err) {
    throw new FailedPreconditionError(`cgroup ${dir}: ${(err as Error).message}`);
  }
  for (const w of writes) writeCgroupFile(posix.join(dir, w.file), w.value);
  if (m.reservation) writeCgroupFile(posix.join(dir, "memory.soft_limit_in_bytes"), String(m.reservation));
  if (m.kernel) writeKernelMemory(posix.join(dir, "memory.kmem.limit_in_bytes"), m.kernel);
  if (m.kernelTCP) writeCgroupFile(posix.join(dir, "memory.kmem.tcp.limit_in_bytes"), String(m.kernelTCP));
  if (m.swappiness !== undefined) writeCgroupFile(posix.join(dir, "memory.swappiness"), String(m.swappiness));
  if (m.disableOOMKiller !== undefined) writeCgroupFile(posix.join(dir, "memory.oom_control"), m.disableOOMKiller ? "1" : "0");
  // useHierarchy is not written: kernels since 5.x force it to 1 and refuse 0.
}

/** Kernel memory limits are deprecated (gone from newer kernels): best effort. */
function writeKernelMemory(file: string, value: number): void {
  if (!existsSync(file)) return;
  try {
    writeCgroupFile(file, String(value));
  } catch (err) {
    const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    if (code !== "EOPNOTSUPP" && code !== "ENOTSUP") throw err;
  }
}

function applyCpu(dir: string | undefined, c: LinuxCPU): void {
  if (!dir) return; // cpus/mems only: handled by the caller in the cpuset hierarchy
  const file = (name: string) => posix.join(dir, name);
  if (c.shares) writeCgroupFile(file("cpu.shares"), String(c.shares));
  // Period before quota; but a shorter period can make the old quota exceed
  // the parent's bandwidth (EINVAL). Then write it again after the quota.
  let pendingPeriod: string | undefined;
  if (c.period) {
    try {
      writeCgroupFile(file("cpu.cfs_period_us"), String(c.period));
    } catch (err) {
      if (!(err instanceof InvalidArgumentError) || !c.quota) throw err;
      pendingPeriod = String(c.period);
    }
  }
  if (c.quota) {
    writeCgroupFile(file("cpu.cfs_quota_us"), String(c.quota));
    if (pendingPeriod) writeCgroupFile(file("cpu.cfs_period_us"), pendingPeriod);
  }
  if (c.burst !== undefined && existsSync(file("cpu.cfs_burst_us"))) {
    writeCgroupFile(file("cpu.cfs_burst_us"), String(c.burst));
  }
  // The runtime must fit in the period: set the period first.
  if (c.realtimePeriod) writeCgroupFile(file("cpu.rt_period_us"), String(c.realtimePeriod));
  if (c.realtimeRuntime) writeCgroupFile(file("cpu.rt_runtime_us"), String(c.realtimeRuntime));
  if (c.idle !== undefined) writeCgroupFile(file("cpu.idle"), String(c.idle));
}

/** blkio.weight is CFQ's knob; with BFQ it is blkio.bfq.weight. Use the one the kernel has. */
function weightFile(dir: string, base: string): string {
  const cfq = posix.join(dir, `blkio.${base}`);
  const bfq = posix.join(dir, `blkio.bfq.${base}`);
  if (existsSync(cfq)) return cfq;
  if (existsSync(bfq)) return bfq;
  throw new NotFoundError(`cgroup ${dir}: a block I/O weight was requested but neither ${cfq} nor ${bfq} exists`);
}

function applyBlockIO(dir: string, b: LinuxBlockIO): void {
  if (b.weight !== undefined) writeCgroupFile(weightFile(dir, "weight"), String(b.weight));
  if (b.leafWeight !== undefined) writeCgroupFile(posix.join(dir, "blkio.leaf_weight"), String(b.leafWeight));
  for (const d of b.weightDevice ?? []) {
    if (d.weight !== undefined) appendCgroupLine(weightFile(dir, "weight_device"), `${d.major}:${d.minor} ${d.weight}`);
    if (d.leafWeight !== undefined) {
      appendCgroupLine(posix.join(dir, "blkio.leaf_weight_device"), `${d.major}:${d.minor} ${d.leafWeight}`);
    }
  }
  const throttles: [LinuxThrottleDevice[] | undefined, string][] = [
    [b.throttleReadBpsDevice, "blkio.throttle.read_bps_device"],
    [b.throttleWriteBpsDevice, "blkio.throttle.write_bps_device"],
    [b.throttleReadIOPSDevice, "blkio.throttle.read_iops_device"],
    [b.throttleWriteIOPSDevice, "blkio.throttle.write_iops_device"],
  ];
  for (const [devices, name] of throttles) {
    for (const d of devices ?? []) appendCgroupLine(posix.join(dir, name), `${d.major}:${d.minor} ${d.rate}`);
  }
}

/** "c 1:3 rwm"; a missing major or minor is the wildcard. */
export function deviceRule(d: LinuxDeviceCgroup): string {
  const type = d.type ?? "a";
  const access = d.access ?? "rwm";
  if (!["a", "b", "c"].includes(type)) throw new InvalidArgumentError(`device rule: type ${JSON.stringify(type)} is not a, b or c`);
  if (!/^[rwm]{1,3}$/.test(access)) throw new InvalidArgumentError(`device rule: access ${JSON.stringify(access)} is not made of r, w, m`);
  const num = (n: number | null | undefined) => (n === undefined || n === null || n < 0 ? "*" : String(n));
  return `${type} ${num(d.major)}:${num(d.minor)} ${access}`;
}

/**
 * Rules go to the kernel in the order given: it keeps a default (allow or
 * deny) plus exceptions, and an "a" rule resets both, so a leading
 * "deny a" starts from an empty allow-list.
 */
function applyDevices(dir: string, devices: LinuxDeviceCgroup[]): void {
  // In order, each run of allows or denies through one open.
  for (let i = 0; i < devices.length; ) {
    const allow = devices[i]!.allow;
    const run: string[] = [];
    for (; i < devices.length && devices[i]!.allow === allow; i++) run.push(deviceRule(devices[i]!));
    appendCgroupLines(posix.join(dir, allow ? "devices.allow" : "devices.deny"), run);
  }
}

/** blkio "8:0 Read 4096" lines; the "Total N" lines are sums and are skipped. */
function parseBlkioV1(text: string | undefined): BlkioEntry[] {
  const entries: BlkioEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    const [device, op, value] = line.trim().split(/\s+/);
    const match = /^(\d+):(\d+)$/.exec(device ?? "");
    if (!match || op === undefined || value === undefined) continue;
    entries.push({ major: Number(match[1]), minor: Number(match[2]), op, value: Number(value) });
  }
  return entries;
}
