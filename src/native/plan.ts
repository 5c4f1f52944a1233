/**
 * The plan the native helper executes, and its wire encoding. This file and
 * native/src/plan.h describe the same format; they are built together, so
 * the version only guards against a stale binary.
 */

export const PLAN_MAGIC = 0x4f4b4148;
export const PLAN_VERSION = 1;

export enum Tag {
  Mode = 1,
  Rootfs = 2,
  RootfsReadonly = 3,
  RootfsPropagation = 4,
  CloneFlags = 5,
  JoinNamespace = 6,
  UidMap = 7,
  GidMap = 8,
  Hostname = 9,
  Domainname = 10,
  Mount = 11,
  Device = 12,
  Symlink = 13,
  Mask = 14,
  Readonly = 15,
  Sysctl = 16,
  CgroupProcs = 17,
  OomScoreAdj = 18,
  Caps = 19,
  NoNewPrivileges = 20,
  Rlimit = 21,
  User = 22,
  Umask = 23,
  Cwd = 24,
  Env = 25,
  Arg = 26,
  ExecFifo = 27,
  Terminal = 28,
  ConsoleSocket = 29,
  Seccomp = 30,
  SeccompRule = 31,
  PauseForHooks = 32,
  StartHook = 33,
  HookState = 34,
  PreserveFds = 35,
  TargetPid = 36,
  WaitStart = 37,
  SeccompCache = 40,
  RootfsMount = 41,
  ShimDir = 42,
  Log = 43,
  Stdio = 44,
  LoopbackUp = 45,
  SeccompCompiled = 46,
  DeviceFilter = 47,
}

export enum PlanMode {
  /** Set up, report the pid, exit; the init waits on the exec fifo for `start`. */
  Create = 1,
  /** Set up, start, stay as parent: forward signals and return the exit status. */
  Run = 2,
  /** Join a running container's namespaces and run one more process. */
  Exec = 3,
  ExecDetach = 4,
  /** Set up, start, then stay as the container's shim: log, attach socket, exit.json (docs/engine.md). */
  Shim = 5,
}

/** T_STDIO flags of plan.h. */
export const StdioFlag = {
  /** The container gets a stdin pipe (Config.OpenStdin). */
  OpenStdin: 0x1,
  /** Its stdin closes when the first client that attached stdin detaches (Config.StdinOnce). */
  StdinOnce: 0x2,
} as const;

/** Shim mode: where it keeps its state and writes the container's json-file log. */
export interface PlanShim {
  /** shim.pid, attach.sock, exit.json go here. */
  dir: string;
  /** maxSize 0: no rotation; maxFiles counts the current file. */
  log: { path: string; maxSize: number; maxFiles: number };
  /** StdioFlag bits. */
  stdio: number;
}

/** MOUNT_OPT_* of plan.h */
export const MountOpt = {
  BindRemount: 0x1,
  File: 0x2,
  SysfsFallback: 0x4,
  Optional: 0x8,
} as const;

export interface PlanMount {
  /** MS_* flags (MS_BIND, MS_REC, MS_RDONLY, ...). */
  flags: bigint;
  /** MS_SHARED/MS_PRIVATE/MS_SLAVE/MS_UNBINDABLE, with MS_REC; 0n for none. */
  propagation: bigint;
  opts: number;
  source: string;
  target: string;
  fstype: string;
  data: string;
}

export interface PlanDevice {
  /** S_IFCHR/S_IFBLK/S_IFIFO | permission bits */
  mode: number;
  major: number;
  minor: number;
  uid: number;
  gid: number;
  path: string;
}

export interface PlanSeccompArg {
  index: number;
  op: number;
  value: bigint;
  value2: bigint;
}

export interface PlanSeccompRule {
  /** libseccomp action value (SCMP_ACT_ALLOW = 0x7fff0000, SCMP_ACT_ERRNO(n) = 0x50000|n, ...). */
  action: number;
  syscall: string;
  args: PlanSeccompArg[];
}

export interface PlanSeccomp {
  /** A file for the compiled filter: read when present, written after compiling. */
  cacheFile?: string;
  /** The cache file is known to hold the compiled filter: the rules stay here (the helper fails without the file). */
  compiled?: boolean;
  defaultAction: number;
  flags: number;
  architectures: string[];
  rules: PlanSeccompRule[];
}

export interface PlanHook {
  path: string;
  args: string[];
  env: string[];
  timeout: number;
}

export interface PlanCapabilities {
  bounding: bigint;
  effective: bigint;
  inheritable: bigint;
  permitted: bigint;
  ambient: bigint;
}

/** A filesystem mounted on the rootfs directory before anything else (the image's overlay). */
export interface PlanRootfsMount {
  flags: bigint;
  fstype: string;
  source: string;
  data: string;
  /** mount(2) runs from here, so relative lowerdirs resolve. */
  cwd: string;
}

export interface Plan {
  mode: PlanMode;
  rootfs?: string;
  rootfsMount?: PlanRootfsMount;
  rootfsReadonly?: boolean;
  rootfsPropagation?: bigint;
  cloneFlags?: bigint;
  joinNamespaces?: { type: number; path: string }[];
  uidMap?: string;
  gidMap?: string;
  hostname?: string;
  domainname?: string;
  mounts?: PlanMount[];
  devices?: PlanDevice[];
  symlinks?: { target: string; path: string }[];
  maskedPaths?: string[];
  readonlyPaths?: string[];
  sysctls?: [string, string][];
  cgroupProcs?: string[];
  /** cgroup v2's device rules: a BPF_PROG_TYPE_CGROUP_DEVICE program (struct bpf_insn[]) for the cgroup's directory. */
  deviceFilter?: { cgroupDir: string; program: Buffer };
  oomScoreAdj?: number;
  capabilities?: PlanCapabilities;
  noNewPrivileges?: boolean;
  rlimits?: { resource: number; soft: bigint; hard: bigint }[];
  user?: { uid: number; gid: number; additionalGids: number[] };
  umask?: number;
  cwd?: string;
  env: string[];
  args: string[];
  execFifo?: string;
  terminal?: { rows: number; cols: number };
  consoleSocket?: string;
  seccomp?: PlanSeccomp;
  pauseForHooks?: boolean;
  startHooks?: PlanHook[];
  hookState?: string;
  preserveFds?: number;
  targetPid?: number;
  waitStart?: boolean;
  /** lo up in the new network namespace before exec (hakod's containers: Docker's sandboxes have it up). */
  loopbackUp?: boolean;
  shim?: PlanShim;
}

/**
 * Appends little-endian fields and whole records (tag, two zero bytes,
 * payload length, payload) to one buffer that grows as needed: a plan is
 * encoded for every start and exec, and a buffer per field cost more than
 * the fields.
 */
class PlanWriter {
  // Under half of Buffer.poolSize: an exec's plan (~1.5 KB) comes out of node's shared pool.
  private buf = Buffer.allocUnsafe(2048);
  private at = 0;

  private ensure(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
  }

  u32(v: number): this {
    this.ensure(4);
    this.at = this.buf.writeUInt32LE(v >>> 0, this.at);
    return this;
  }

  u64(v: bigint): this {
    this.ensure(8);
    this.at = this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.at);
    return this;
  }

  str(s: string): this {
    const n = Buffer.byteLength(s, "utf8");
    this.u32(n);
    this.ensure(n);
    this.at += this.buf.write(s, this.at, n, "utf8");
    return this;
  }

  strs(list: string[]): this {
    this.u32(list.length);
    for (const s of list) this.str(s);
    return this;
  }

  record(tag: Tag, build?: (w: this) => void): void {
    this.ensure(8);
    const head = this.at;
    this.buf.writeUInt16LE(tag, head);
    this.buf.writeUInt16LE(0, head + 2);
    this.at += 8;
    build?.(this);
    this.buf.writeUInt32LE(this.at - head - 8, head + 4);
  }

  raw(bytes: Buffer): void {
    this.ensure(bytes.length);
    this.at += bytes.copy(this.buf, this.at);
  }

  get length(): number {
    return this.at;
  }

  /** A copy of what was written from `from` on. */
  copyFrom(from: number): Buffer {
    return Buffer.from(this.buf.subarray(from, this.at));
  }

  patchU32(at: number, v: number): void {
    this.buf.writeUInt32LE(v >>> 0, at);
  }

  done(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}

/** The records of a filter already encoded: every exec of a container sends the same filter (plans are not changed once made). */
const encodedSeccomp = new WeakMap<PlanSeccomp, Buffer>();

/** Encodes a plan as the helper reads it, including the u32 length prefix. */
export function encodePlan(plan: Plan): Buffer {
  const out = new PlanWriter();
  // The header: the length of what follows it, the magic, the version.
  out.u32(0).u32(PLAN_MAGIC).u32(PLAN_VERSION);
  const add = (tag: Tag, build?: (w: PlanWriter) => void): void => out.record(tag, build);

  add(Tag.Mode, (w) => w.u32(plan.mode));
  if (plan.rootfs !== undefined) add(Tag.Rootfs, (w) => w.str(plan.rootfs!));
  if (plan.rootfsReadonly) add(Tag.RootfsReadonly);
  if (plan.rootfsMount) {
    const m = plan.rootfsMount;
    add(Tag.RootfsMount, (w) => w.u64(m.flags).str(m.fstype).str(m.source).str(m.data).str(m.cwd));
  }
  if (plan.rootfsPropagation !== undefined) add(Tag.RootfsPropagation, (w) => w.u64(plan.rootfsPropagation!));
  if (plan.cloneFlags !== undefined) add(Tag.CloneFlags, (w) => w.u64(plan.cloneFlags!));
  for (const j of plan.joinNamespaces ?? []) add(Tag.JoinNamespace, (w) => w.u32(j.type).str(j.path));
  if (plan.uidMap !== undefined) add(Tag.UidMap, (w) => w.str(plan.uidMap!));
  if (plan.gidMap !== undefined) add(Tag.GidMap, (w) => w.str(plan.gidMap!));
  if (plan.hostname !== undefined) add(Tag.Hostname, (w) => w.str(plan.hostname!));
  if (plan.domainname !== undefined) add(Tag.Domainname, (w) => w.str(plan.domainname!));
  for (const m of plan.mounts ?? []) {
    add(Tag.Mount, (w) =>
      w.u64(m.flags).u64(m.propagation).u32(m.opts).str(m.source).str(m.target).str(m.fstype).str(m.data),
    );
  }
  for (const d of plan.devices ?? []) {
    add(Tag.Device, (w) => w.u32(d.mode).u32(d.major).u32(d.minor).u32(d.uid).u32(d.gid).str(d.path));
  }
  for (const s of plan.symlinks ?? []) add(Tag.Symlink, (w) => w.str(s.target).str(s.path));
  for (const p of plan.maskedPaths ?? []) add(Tag.Mask, (w) => w.str(p));
  for (const p of plan.readonlyPaths ?? []) add(Tag.Readonly, (w) => w.str(p));
  for (const [k, v] of plan.sysctls ?? []) add(Tag.Sysctl, (w) => w.str(k).str(v));
  for (const p of plan.cgroupProcs ?? []) add(Tag.CgroupProcs, (w) => w.str(p));
  if (plan.oomScoreAdj !== undefined) add(Tag.OomScoreAdj, (w) => w.u32(plan.oomScoreAdj! | 0));
  if (plan.capabilities) {
    const c = plan.capabilities;
    add(Tag.Caps, (w) => w.u64(c.bounding).u64(c.effective).u64(c.inheritable).u64(c.permitted).u64(c.ambient));
  }
  if (plan.noNewPrivileges) add(Tag.NoNewPrivileges);
  for (const r of plan.rlimits ?? []) add(Tag.Rlimit, (w) => w.u32(r.resource).u64(r.soft).u64(r.hard));
  if (plan.user) {
    const u = plan.user;
    add(Tag.User, (w) => {
      w.u32(u.uid).u32(u.gid).u32(u.additionalGids.length);
      for (const g of u.additionalGids) w.u32(g);
    });
  }
  if (plan.umask !== undefined) add(Tag.Umask, (w) => w.u32(plan.umask!));
  if (plan.cwd !== undefined) add(Tag.Cwd, (w) => w.str(plan.cwd!));
  for (const e of plan.env) add(Tag.Env, (w) => w.str(e));
  for (const a of plan.args) add(Tag.Arg, (w) => w.str(a));
  if (plan.execFifo !== undefined) add(Tag.ExecFifo, (w) => w.str(plan.execFifo!));
  if (plan.terminal) add(Tag.Terminal, (w) => w.u32(plan.terminal!.rows).u32(plan.terminal!.cols));
  if (plan.consoleSocket !== undefined) add(Tag.ConsoleSocket, (w) => w.str(plan.consoleSocket!));
  if (plan.seccomp) {
    const s = plan.seccomp;
    const known = encodedSeccomp.get(s);
    if (known) out.raw(known);
    else {
      const from = out.length;
      add(Tag.Seccomp, (w) => w.u32(s.defaultAction).u32(s.flags).strs(s.architectures));
      for (const r of s.compiled && s.cacheFile ? [] : s.rules) {
        add(Tag.SeccompRule, (w) => {
          w.u32(r.action).str(r.syscall).u32(r.args.length);
          for (const a of r.args) w.u32(a.index).u32(a.op).u64(a.value).u64(a.value2);
        });
      }
      if (s.cacheFile) add(s.compiled ? Tag.SeccompCompiled : Tag.SeccompCache, (w) => w.str(s.cacheFile!));
      encodedSeccomp.set(s, out.copyFrom(from));
    }
  }
  if (plan.pauseForHooks) add(Tag.PauseForHooks);
  for (const h of plan.startHooks ?? []) {
    add(Tag.StartHook, (w) => w.u32(h.timeout).str(h.path).strs(h.args).strs(h.env));
  }
  if (plan.hookState !== undefined) add(Tag.HookState, (w) => w.str(plan.hookState!));
  if (plan.preserveFds) add(Tag.PreserveFds, (w) => w.u32(plan.preserveFds!));
  if (plan.targetPid !== undefined) add(Tag.TargetPid, (w) => w.u32(plan.targetPid!));
  if (plan.waitStart) add(Tag.WaitStart);
  if (plan.loopbackUp) add(Tag.LoopbackUp);
  if (plan.deviceFilter) {
    const f = plan.deviceFilter;
    add(Tag.DeviceFilter, (w) => {
      w.str(f.cgroupDir).u32(f.program.length / 8);
      w.raw(f.program);
    });
  }
  if (plan.shim) {
    const s = plan.shim;
    add(Tag.ShimDir, (w) => w.str(s.dir));
    add(Tag.Log, (w) => w.str(s.log.path).u64(BigInt(s.log.maxSize)).u32(s.log.maxFiles));
    add(Tag.Stdio, (w) => w.u32(s.stdio));
  }

  out.patchU32(0, out.length - 4);
  return out.done();
}
