/**
 * specconv: an OCI config turned into the flat plan the native helper
 * executes. Every decision (flags, masks, defaults, paths) is made here.
 */
import { existsSync, readFileSync, readlinkSync, statSync } from "node:fs";
import path from "node:path";
import { InvalidArgumentError } from "../common/errors.ts";
import type { Cgroup } from "../cgroups/cgroup.ts";
import { deviceFilterProgram } from "../cgroups/device-filter.ts";
import { MountOpt, PlanMode, type Plan, type PlanDevice, type PlanHook, type PlanMount, type PlanSeccomp } from "../native/plan.ts";
import type { Hook, LinuxDevice, LinuxNamespaceType, LinuxSeccomp, Mount, Process, Spec } from "../spec/oci-runtime.ts";
import { capabilityMask, capabilityNames, capabilitySets, hostCapabilities } from "./capabilities.ts";
import { DEFAULT_DEV_SYMLINKS, DEFAULT_DEVICES, deviceTypeBits } from "./devices.ts";
import { MS, parseMountOptions, parsePropagation } from "./mount-options.ts";
import { resolveSeccomp, withSeccompCache } from "./seccomp.ts";

export const CLONE_FLAGS: Record<LinuxNamespaceType, number> = {
  mount: 0x00020000,
  cgroup: 0x02000000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  network: 0x40000000,
  time: 0x00000080,
};

/** The /proc/<pid>/ns/<name> file of each namespace type. */
export const NS_FILES: Record<LinuxNamespaceType, string> = {
  mount: "mnt",
  cgroup: "cgroup",
  uts: "uts",
  ipc: "ipc",
  user: "user",
  pid: "pid",
  network: "net",
  time: "time",
};

const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
};

const RLIM_INFINITY = 0xffffffffffffffffn;

export interface ContainerPlanContext {
  /** Absolute path of the bundle: root.path and bind sources are relative to it. */
  bundle: string;
  mode: PlanMode.Create | PlanMode.Run;
  /** The container's cgroup, already created. */
  cgroup?: Cgroup;
  execFifo?: string;
  consoleSocket?: string;
  /** State JSON given to startContainer hooks on stdin. */
  hookState?: string;
  /** Stop before pivot_root so createRuntime/createContainer hooks can run. */
  pauseForHooks?: boolean;
  waitStart?: boolean;
  preserveFds?: number;
  /** Where compiled seccomp filters are kept between runs. */
  seccompCacheDir?: string;
  /** A mount for root.path itself (the image's layers), made inside the container's namespace. */
  rootfsMount?: { type: string; source: string; options: string[]; cwd?: string };
  /** Set lo up in a new network namespace (not an OCI runtime's job: hakod asks for it). */
  loopbackUp?: boolean;
}

export function planContainer(spec: Spec, ctx: ContainerPlanContext): Plan {
  const proc = spec.process;
  if (!proc) throw new InvalidArgumentError("config.json: process is required to create a container");
  const linux = spec.linux ?? {};
  const namespaces = linux.namespaces ?? [];

  let cloneFlags = 0;
  const joins: { type: number; path: string }[] = [];
  const seen = new Set<string>();
  for (const ns of namespaces) {
    const flag = CLONE_FLAGS[ns.type];
    if (flag === undefined) throw new InvalidArgumentError(`config.json: unknown namespace type "${ns.type}"`);
    if (seen.has(ns.type)) throw new InvalidArgumentError(`config.json: namespace "${ns.type}" is listed twice`);
    seen.add(ns.type);
    if (ns.path) joins.push({ type: flag, path: ns.path });
    else cloneFlags |= flag;
  }
  const has = (t: LinuxNamespaceType): boolean => seen.has(t);
  const newUser = (cloneFlags & CLONE_FLAGS.user) !== 0;

  if (newUser && !linux.uidMappings?.length) {
    throw new InvalidArgumentError("config.json: a new user namespace needs linux.uidMappings");
  }
  if ((linux.uidMappings?.length || linux.gidMappings?.length) && !has("user")) {
    throw new InvalidArgumentError("config.json: uid/gid mappings need a user namespace");
  }
  if ((spec.hostname || spec.domainname) && !has("uts")) {
    throw new InvalidArgumentError("config.json: setting a hostname or domainname needs a uts namespace");
  }

  const root = spec.root?.path;
  if (!root) throw new InvalidArgumentError("config.json: root.path is required");
  const rootfs = path.resolve(ctx.bundle, root);
  let rootStat;
  try {
    rootStat = statSync(rootfs);
  } catch {
    throw new InvalidArgumentError(`rootfs ${rootfs} does not exist`);
  }
  if (!rootStat.isDirectory()) throw new InvalidArgumentError(`rootfs ${rootfs} is not a directory`);

  const plan: Plan = {
    mode: ctx.mode,
    rootfs,
    rootfsReadonly: spec.root?.readonly === true,
    cloneFlags: BigInt(cloneFlags),
    joinNamespaces: joins,
    env: [],
    args: [],
  };
  if (ctx.rootfsMount) {
    if (!has("mount")) throw new InvalidArgumentError("a rootfs mount needs a mount namespace");
    const parsed = parseMountOptions(ctx.rootfsMount.options);
    plan.rootfsMount = {
      flags: parsed.flags,
      fstype: ctx.rootfsMount.type,
      source: ctx.rootfsMount.source,
      data: parsed.data,
      cwd: ctx.rootfsMount.cwd ?? "",
    };
  }
  if (linux.rootfsPropagation) plan.rootfsPropagation = parsePropagation(linux.rootfsPropagation);
  if (newUser) {
    plan.uidMap = idMap(linux.uidMappings ?? []);
    plan.gidMap = idMap(linux.gidMappings ?? linux.uidMappings ?? []);
  }
  if (spec.hostname) plan.hostname = spec.hostname;
  if (spec.domainname) plan.domainname = spec.domainname;

  if (has("mount")) {
    const { mounts, readonly, devTmpfs } = planMounts(spec.mounts ?? [], ctx, has("cgroup"));
    plan.mounts = mounts;
    plan.devices = planDevices(devTmpfs ? [...DEFAULT_DEVICES, ...(linux.devices ?? [])] : (linux.devices ?? []));
    plan.symlinks = devTmpfs ? [...DEFAULT_DEV_SYMLINKS] : [];
    plan.maskedPaths = linux.maskedPaths ?? [];
    plan.readonlyPaths = [...(linux.readonlyPaths ?? []), ...readonly];
  }
  // Without a mount namespace the configured mounts would land on the host: skipped, as runc does.
  plan.sysctls = Object.entries(linux.sysctl ?? {});
  if (ctx.cgroup) plan.cgroupProcs = ctx.cgroup.procsFiles();
  // v1 took the device rules as files when the cgroup was made; v2 takes a program, which only the helper can load.
  if (ctx.cgroup?.version === 2) {
    const program = deviceFilterProgram(linux.resources?.devices ?? []);
    if (program) plan.deviceFilter = { cgroupDir: path.posix.dirname(ctx.cgroup.procsFiles()[0]!), program };
  }

  Object.assign(plan, planProcess(proc));
  if (linux.seccomp) plan.seccomp = planSeccomp(linux.seccomp, ctx.seccompCacheDir);
  if (ctx.execFifo) plan.execFifo = ctx.execFifo;
  if (ctx.consoleSocket) plan.consoleSocket = ctx.consoleSocket;
  if (ctx.pauseForHooks) plan.pauseForHooks = true;
  if (ctx.waitStart) plan.waitStart = true;
  if (ctx.loopbackUp) plan.loopbackUp = true;
  if (ctx.preserveFds) plan.preserveFds = ctx.preserveFds;
  const startHooks = spec.hooks?.startContainer ?? [];
  if (startHooks.length) {
    plan.startHooks = startHooks.map(planHook);
    plan.hookState = ctx.hookState ?? "{}";
  }
  return plan;
}

export interface ExecPlanContext {
  /** The container's init, whose namespaces the process joins. */
  pid: number;
  cgroup?: Cgroup;
  detach?: boolean;
  consoleSocket?: string;
  preserveFds?: number;
  seccomp?: LinuxSeccomp;
  seccompCacheDir?: string;
  /**
   * Names this container's init (its ID and pid, say): the namespaces it
   * has apart from ours are then looked up once, not on every exec. A
   * restarted container has another pid, so another key.
   */
  initKey?: string;
}

/** Namespace joins by initKey (bounded: cleared when it grows past a daemon's worth of containers). */
const joinsByInit = new Map<string, { type: number; path: string }[]>();
const MAX_KNOWN_INITS = 1024;

/** Our own namespaces do not change: read once ("" when unreadable: then the container's is joined). */
const ownNamespaces = new Map<string, string>();
function ownNamespace(file: string): string {
  let ns = ownNamespaces.get(file);
  if (ns === undefined) {
    try {
      ns = readlinkSync(`/proc/self/ns/${file}`);
    } catch {
      ns = "";
    }
    ownNamespaces.set(file, ns);
  }
  return ns;
}

/** The namespaces of `pid` that are not ours: the ones an exec joins. */
function namespacesToJoin(pid: number): { type: number; path: string }[] {
  const joins: { type: number; path: string }[] = [];
  for (const type of Object.keys(NS_FILES) as LinuxNamespaceType[]) {
    const file = NS_FILES[type];
    let theirs: string;
    try {
      theirs = readlinkSync(`/proc/${pid}/ns/${file}`);
    } catch {
      continue; // a namespace type this kernel lacks, or an init that is gone
    }
    if (theirs !== ownNamespace(file)) joins.push({ type: CLONE_FLAGS[type], path: `/proc/${pid}/ns/${file}` });
  }
  return joins;
}

/** A process run inside a running container (exec). */
export function planExec(proc: Process, ctx: ExecPlanContext): Plan {
  let joins = ctx.initKey ? joinsByInit.get(ctx.initKey) : undefined;
  if (!joins) {
    joins = namespacesToJoin(ctx.pid);
    // An init that is gone leaves nothing to remember (the caller refuses a plan without a mount namespace).
    if (ctx.initKey && joins.some((j) => j.type === CLONE_FLAGS.mount)) {
      if (joinsByInit.size >= MAX_KNOWN_INITS) joinsByInit.clear();
      joinsByInit.set(ctx.initKey, Object.freeze(joins) as { type: number; path: string }[]);
    }
  }
  const plan: Plan = {
    mode: ctx.detach ? PlanMode.ExecDetach : PlanMode.Exec,
    joinNamespaces: joins,
    targetPid: ctx.pid,
    env: [],
    args: [],
    ...planProcess(proc),
  };
  if (ctx.cgroup) plan.cgroupProcs = ctx.cgroup.procsFiles();
  if (ctx.seccomp) plan.seccomp = planSeccomp(ctx.seccomp, ctx.seccompCacheDir);
  if (ctx.consoleSocket) plan.consoleSocket = ctx.consoleSocket;
  if (ctx.preserveFds) plan.preserveFds = ctx.preserveFds;
  return plan;
}

/** Resolved filters by spec object: every exec of a container plans the same one (its spec is kept while it runs). */
const plannedSeccomp = new WeakMap<LinuxSeccomp, Map<string, { full: PlanSeccomp; compiled?: PlanSeccomp }>>();

/**
 * A spec's filter as the helper takes it, named in the compiled-filter
 * cache when there is one. Once that file exists, the plan names it alone:
 * ~400 rules less to encode, send and decode on every start and exec.
 */
function planSeccomp(spec: LinuxSeccomp, cacheDir: string | undefined): PlanSeccomp {
  const key = cacheDir ?? "";
  let known = plannedSeccomp.get(spec)?.get(key);
  if (!known) {
    const resolved = resolveSeccomp(spec);
    known = { full: cacheDir ? withSeccompCache(resolved, cacheDir) : resolved };
    const byDir = plannedSeccomp.get(spec) ?? new Map();
    byDir.set(key, known);
    plannedSeccomp.set(spec, byDir);
  }
  const file = known.full.cacheFile;
  if (!file || !existsSync(file)) return known.full;
  known.compiled ??= { ...known.full, compiled: true };
  return known.compiled;
}

/** The process part of a plan, shared by create and exec. */
function planProcess(proc: Process): Partial<Plan> {
  if (!Array.isArray(proc.args) || proc.args.length === 0) {
    throw new InvalidArgumentError("config.json: process.args must name the program to run");
  }
  if (!proc.cwd || !proc.cwd.startsWith("/")) {
    throw new InvalidArgumentError(`config.json: process.cwd "${proc.cwd ?? ""}" must be an absolute path`);
  }
  const out: Partial<Plan> = {
    args: proc.args,
    env: proc.env ?? [],
    cwd: proc.cwd,
    user: {
      uid: proc.user?.uid ?? 0,
      gid: proc.user?.gid ?? 0,
      additionalGids: proc.user?.additionalGids ?? [],
    },
  };
  if (proc.user?.umask !== undefined) out.umask = proc.user.umask;
  if (proc.capabilities) {
    const sets = capabilitySets(proc.capabilities);
    // A capability this host cannot grant would only fail at capset, after start: say so now.
    const missing = capabilityNames((sets.effective | sets.permitted | sets.inheritable | sets.ambient) & ~hostBoundingMask());
    if (missing.length) {
      throw new InvalidArgumentError(`process.capabilities: ${missing.join(", ")} not available on this host (not in its bounding set)`);
    }
    out.capabilities = sets;
  }
  if (proc.apparmorProfile) {
    // Confinement asked for and not given would be silent: refuse instead (crun does too).
    throw new InvalidArgumentError(
      hostHasAppArmor()
        ? `process.apparmorProfile "${proc.apparmorProfile}": AppArmor profiles are not supported by hako yet`
        : `process.apparmorProfile "${proc.apparmorProfile}": AppArmor is not enabled on this host`,
    );
  }
  if (proc.noNewPrivileges) out.noNewPrivileges = true;
  if (proc.oomScoreAdj !== undefined) out.oomScoreAdj = proc.oomScoreAdj;
  if (proc.terminal) out.terminal = { rows: proc.consoleSize?.height ?? 0, cols: proc.consoleSize?.width ?? 0 };
  const rlimits = new Map<number, { resource: number; soft: bigint; hard: bigint }>();
  for (const r of proc.rlimits ?? []) {
    const resource = RLIMITS[r.type];
    if (resource === undefined) throw new InvalidArgumentError(`config.json: unknown rlimit "${r.type}"`);
    if (rlimits.has(resource)) throw new InvalidArgumentError(`config.json: rlimit ${r.type} is set twice`);
    rlimits.set(resource, { resource, soft: toRlim(r.soft), hard: toRlim(r.hard) });
  }
  out.rlimits = [...rlimits.values()];
  return out;
}

function toRlim(v: number): bigint {
  return v < 0 ? RLIM_INFINITY : BigInt(v);
}

function idMap(maps: { containerID: number; hostID: number; size: number }[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join("");
}

function planHook(h: Hook): PlanHook {
  return { path: h.path, args: h.args ?? [h.path], env: h.env ?? [], timeout: h.timeout ?? 0 };
}

function planDevices(devices: readonly LinuxDevice[]): PlanDevice[] {
  const byPath = new Map<string, PlanDevice>();
  for (const d of devices) {
    if (!d.path?.startsWith("/dev/")) throw new InvalidArgumentError(`config.json: device path "${d.path}" must be under /dev`);
    if (d.type !== "p" && (d.major === undefined || d.minor === undefined)) {
      throw new InvalidArgumentError(`config.json: device ${d.path} needs major and minor numbers`);
    }
    byPath.set(d.path, {
      mode: deviceTypeBits(d.type) | ((d.fileMode ?? 0o666) & 0o7777),
      major: d.major ?? 0,
      minor: d.minor ?? 0,
      uid: d.uid ?? 0,
      gid: d.gid ?? 0,
      path: d.path,
    });
  }
  return [...byPath.values()];
}

/** The bind flags beyond MS_BIND|MS_REC that need a remount to take effect. */
const REMOUNT_FLAGS = ~(MS.BIND | MS.REC | MS.REMOUNT);

function planMounts(
  mounts: readonly Mount[],
  ctx: ContainerPlanContext,
  cgroupns: boolean,
): { mounts: PlanMount[]; readonly: string[]; devTmpfs: boolean } {
  const out: PlanMount[] = [];
  const readonly: string[] = [];
  let devTmpfs = false;
  for (const m of mounts) {
    if (!m.destination) throw new InvalidArgumentError("config.json: a mount has no destination");
    const target = m.destination.startsWith("/") ? m.destination : `/${m.destination}`;
    const parsed = parseMountOptions(m.options);
    const type = m.type ?? "";
    const isBind = type === "bind" || (parsed.flags & MS.BIND) !== 0n;

    if (type === "cgroup" || type === "cgroup2") {
      const expanded = planCgroupMount(target, parsed.flags, ctx.cgroup, cgroupns);
      out.push(...expanded.mounts);
      readonly.push(...expanded.readonly);
      continue;
    }
    if (target === "/dev" && !isBind) devTmpfs = true;

    if (isBind) {
      if (!m.source) throw new InvalidArgumentError(`config.json: bind mount on ${target} has no source`);
      const source = path.resolve(ctx.bundle, m.source);
      let isFile = false;
      try {
        isFile = !statSync(source).isDirectory();
      } catch {
        throw new InvalidArgumentError(`bind mount source ${source} (for ${target}) does not exist`);
      }
      const flags = parsed.flags | MS.BIND;
      out.push({
        flags,
        propagation: parsed.propagation,
        opts: ((flags & REMOUNT_FLAGS) !== 0n ? MountOpt.BindRemount : 0) | (isFile ? MountOpt.File : 0),
        source,
        target,
        fstype: "",
        data: "",
      });
      continue;
    }
    out.push({
      flags: parsed.flags,
      propagation: parsed.propagation,
      opts: type === "sysfs" ? MountOpt.SysfsFallback : 0,
      source: m.source ?? type,
      target,
      fstype: type,
      data: parsed.data,
    });
  }
  return { mounts: out, readonly, devTmpfs };
}

/**
 * A "cgroup" mount shows the container its own cgroup. cgroup v2, or any
 * cgroup namespace: mount the filesystem itself. cgroup v1 without one: a
 * tmpfs holding a bind of the container's directory of every hierarchy
 * (never a hierarchy root, so release_agent stays out of reach).
 */
function planCgroupMount(
  target: string,
  flags: bigint,
  cgroup: Cgroup | undefined,
  cgroupns: boolean,
): { mounts: PlanMount[]; readonly: string[] } {
  const common = MS.NOSUID | MS.NODEV | MS.NOEXEC;
  const ro = flags & MS.RDONLY;
  if (!cgroup) return { mounts: [], readonly: [] };
  if (cgroup.version === 2) {
    if (cgroupns) {
      return {
        mounts: [{ flags: common | ro | MS.RELATIME, propagation: 0n, opts: 0, source: "cgroup2", target, fstype: "cgroup2", data: "" }],
        readonly: [],
      };
    }
    const dir = path.dirname(cgroup.procsFiles()[0]!);
    return {
      mounts: [{ flags: MS.BIND | MS.REC | common | ro, propagation: 0n, opts: MountOpt.BindRemount, source: dir, target, fstype: "", data: "" }],
      readonly: [],
    };
  }
  const mounts: PlanMount[] = [
    { flags: common, propagation: 0n, opts: 0, source: "tmpfs", target, fstype: "tmpfs", data: "mode=755" },
  ];
  for (const procs of cgroup.procsFiles()) {
    const dir = path.dirname(procs);
    const mountPoint = cgroup.path === "/" ? dir : dir.slice(0, dir.length - cgroup.path.length);
    const name = path.basename(mountPoint);
    mounts.push({
      flags: MS.BIND | common | ro,
      propagation: 0n,
      opts: MountOpt.BindRemount,
      source: dir,
      target: `${target}/${name}`,
      fstype: "",
      data: "",
    });
  }
  return { mounts, readonly: ro ? [target] : [] };
}

let hostBounding: bigint | undefined;
function hostBoundingMask(): bigint {
  hostBounding ??= capabilityMask(hostCapabilities());
  return hostBounding;
}

function hostHasAppArmor(): boolean {
  try {
    return readFileSync("/sys/module/apparmor/parameters/enabled", "utf8").trim() === "Y";
  } catch {
    return false;
  }
}
