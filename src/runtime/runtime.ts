/**
 * The OCI lifecycle (create, start, state, kill, delete) and runc's extras
 * (run, exec, ps, list) over bundles. Verbs of the hako-runtime command line
 * are thin wrappers of these methods; the engine uses them too.
 */
import { closeSync, constants as fsConstants, openSync, readFileSync, readSync, rmSync } from "node:fs";
import { constants as osConstants } from "node:os";
import path from "node:path";
import {
  ConflictError,
  FailedPreconditionError,
  HakoError,
  InvalidArgumentError,
  SyscallError,
  isErrno,
} from "../common/errors.ts";
import { writeFileAtomic } from "../common/fs.ts";
import type { Cgroup } from "../cgroups/cgroup.ts";
import { cgroupPathFor, openCgroup } from "../cgroups/open.ts";
import { PlanMode } from "../native/plan.ts";
import { startShim, type ShimOptions } from "../native/shim.ts";
import { OCI_VERSION, type LinuxResources, type Process, type Spec, type State } from "../spec/oci-runtime.ts";
import { DEFAULT_DEVICE_RULES } from "./devices.ts";
import { runHooks, runHooksBestEffort } from "./hooks.ts";
import { planContainer, planExec, type ContainerPlanContext } from "./plan.ts";
import { DEFAULT_STATE_ROOT, StateStore, processStartTime, type ContainerRecord } from "./state.ts";
import { validateSpec } from "./validate.ts";

export interface RuntimeOptions {
  /** Where state lives (runc's --root). */
  root?: string;
  /** Where cgroup filesystems are mounted (tests use a fake tree). */
  cgroupRoot?: string;
  /** Non-fatal problems (failing poststart/poststop hooks). */
  warn?: (message: string) => void;
}

export interface CreateOptions {
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  preserveFds?: number;
  stdio?: ShimOptions["stdio"];
  /** The rootfs's own mount (the engine's overlay of image layers), made inside the container. */
  rootfsMount?: ContainerPlanContext["rootfsMount"];
}

export interface RunOptions extends CreateOptions {
  /** Leave the container running and return once it started. */
  detach?: boolean;
  /** Keep the state after exit (runc run --keep). */
  keep?: boolean;
}

export interface ExecOptions {
  detach?: boolean;
  pidFile?: string;
  consoleSocket?: string;
  preserveFds?: number;
  stdio?: ShimOptions["stdio"];
}

export interface RunResult {
  exitCode: number;
  oomKilled: boolean;
}

/** A signal given as "KILL", "SIGKILL" or "9". */
export function parseSignal(signal: string): number {
  if (/^\d+$/.test(signal)) {
    const n = Number(signal);
    if (n > 0 && n < 65) return n;
  } else {
    const upper = signal.toUpperCase();
    const name = (upper.startsWith("SIG") ? upper : `SIG${upper}`) as NodeJS.Signals;
    const n = osConstants.signals[name] ?? realtimeSignal(name.slice(3));
    if (n !== undefined) return n;
  }
  throw new InvalidArgumentError(`unknown signal "${signal}"`);
}

/** Linux's real-time signals by name, as kill(1) and Docker name them: RTMIN (34), RTMIN+1..15, RTMAX-14..-1, RTMAX (64). */
function realtimeSignal(name: string): number | undefined {
  const m = /^RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (!m) return undefined;
  const offset = m[2] ? Number(m[3]) * (m[2] === "+" ? 1 : -1) : 0;
  if (m[1] === "MIN" ? offset < 0 || offset > 15 : offset > 0 || offset < -14) return undefined;
  return (m[1] === "MIN" ? 34 : 64) + offset;
}

export class Runtime {
  readonly store: StateStore;
  private readonly cgroupRoot: string | undefined;
  private readonly warn: (message: string) => void;

  constructor(options: RuntimeOptions = {}) {
    this.store = new StateStore(options.root ?? DEFAULT_STATE_ROOT);
    this.cgroupRoot = options.cgroupRoot;
    this.warn = options.warn ?? ((m) => process.stderr.write(`hako-runtime: warning: ${m}\n`));
  }

  /** Sets a container up to the point where only `start` is missing. */
  async create(id: string, options: CreateOptions): Promise<ContainerRecord> {
    const { record } = await this.setUp(id, options, PlanMode.Create);
    return record;
  }

  async start(id: string): Promise<void> {
    const record = this.store.load(id);
    const status = this.store.status(record);
    if (status !== "created") throw new ConflictError(`cannot start container "${id}": it is ${status}, not created`);
    try {
      await runHooks(record.spec.hooks?.prestart, this.store.state(record), "prestart");
    } catch (err) {
      // runtime-spec lifecycle step 4: stop the container and continue at step 9 (destroy, then poststop hooks).
      this.signalAll(record, osConstants.signals.SIGKILL);
      await this.waitGone(record, 10_000);
      await this.tearDown(record);
      throw err;
    }
    this.releaseFifo(record);
    // The state of the start that just happened, even if a short process already exited.
    const running: State = { ...this.store.state(record), status: "running", pid: record.pid };
    await runHooksBestEffort(record.spec.hooks?.poststart, running, "poststart", this.warn);
  }

  state(id: string): State {
    return this.store.state(this.store.load(id));
  }

  kill(id: string, signal: string, options: { all?: boolean } = {}): void {
    const record = this.store.load(id);
    const status = this.store.status(record);
    if (status !== "created" && status !== "running") {
      throw new FailedPreconditionError(`cannot kill container "${id}": it is ${status}`);
    }
    const sig = parseSignal(signal);
    if (options.all) this.signalAll(record, sig);
    else process.kill(record.pid, sig);
  }

  async delete(id: string, options: { force?: boolean } = {}): Promise<void> {
    const record = this.store.load(id);
    const status = this.store.status(record);
    if (status === "created" || status === "running") {
      if (!options.force) throw new ConflictError(`cannot delete container "${id}": it is ${status}, not stopped (use --force)`);
      this.signalAll(record, osConstants.signals.SIGKILL);
      await this.waitGone(record, 10_000);
    }
    await this.tearDown(record);
  }

  /** create + start; attached unless detach, then the container's exit status. */
  async run(id: string, options: RunOptions): Promise<RunResult> {
    if (options.detach) {
      await this.create(id, options);
      await this.start(id);
      return { exitCode: 0, oomKilled: false };
    }
    const { record, cgroup, shim } = await this.setUp(id, options, PlanMode.Run);
    const oomBefore = safeOomCount(cgroup);
    const stopForwarding = forwardSignals(shim.child!.pid);
    await runHooksBestEffort(record.spec.hooks?.poststart, this.store.state(record), "poststart", this.warn);
    const exit = await shim.exited;
    stopForwarding();
    const oomKilled = exit.code === 137 && safeOomCount(cgroup) > oomBefore;
    if (!options.keep) await this.tearDown(record, cgroup);
    if (exit.error && exit.code !== 0 && !oomKilled) {
      // The process never ran (or exec failed): that is our error, with the process's status.
      const err = exit.error;
      (err as SyscallError & { exitCode?: number }).exitCode = exit.code;
      throw err;
    }
    return { exitCode: exit.code, oomKilled };
  }

  /** Runs one more process in a running container. */
  async exec(id: string, proc: Process, options: ExecOptions = {}): Promise<number> {
    const record = this.store.load(id);
    const status = this.store.status(record);
    if (status !== "running") throw new FailedPreconditionError(`cannot exec in container "${id}": it is ${status}`);
    if (proc.terminal && options.detach && !options.consoleSocket) {
      throw new InvalidArgumentError("a detached process with a terminal needs --console-socket");
    }
    const cgroup = this.cgroupOf(record);
    const plan = planExec(proc, {
      pid: record.pid,
      cgroup: cgroup.exists() ? cgroup : undefined,
      detach: options.detach,
      consoleSocket: options.consoleSocket,
      preserveFds: options.preserveFds,
      seccomp: record.spec.linux?.seccomp,
      seccompCacheDir: this.seccompCacheDir(),
    });
    const shim = startShim(plan, { stdio: options.stdio });
    const stopForwarding = options.detach ? () => {} : forwardSignals(shim.child!.pid);
    let pid: number;
    try {
      pid = await shim.pid;
    } catch {
      const exit = await shim.exited;
      stopForwarding();
      const err = exit.error ?? new SyscallError("exec", 0, `exec in container "${id}" failed`);
      (err as SyscallError & { exitCode?: number }).exitCode = exit.code;
      throw err;
    }
    if (options.pidFile) writePidFile(options.pidFile, pid);
    const exit = await shim.exited;
    stopForwarding();
    if (exit.error) {
      (exit.error as SyscallError & { exitCode?: number }).exitCode = exit.code;
      throw exit.error;
    }
    return exit.code;
  }

  /** Pids of every process of the container. */
  ps(id: string): number[] {
    const record = this.store.load(id);
    const cgroup = this.cgroupOf(record);
    if (cgroup.exists()) return cgroup.pids();
    return this.store.alive(record) ? [record.pid] : [];
  }

  list(): (State & { created: string; rootfs: string })[] {
    const out: (State & { created: string; rootfs: string })[] = [];
    for (const id of this.store.list()) {
      try {
        const record = this.store.load(id);
        out.push({
          ...this.store.state(record),
          created: record.created,
          rootfs: path.resolve(record.bundle, record.spec.root?.path ?? "rootfs"),
        });
      } catch {
        // a container deleted while we listed
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- internals

  private async setUp(id: string, options: CreateOptions, mode: PlanMode.Create | PlanMode.Run) {
    const bundle = path.resolve(options.bundle);
    const spec = loadSpec(bundle);
    if (spec.process?.terminal && mode === PlanMode.Create && !options.consoleSocket) {
      throw new InvalidArgumentError("process.terminal is set: create needs --console-socket to hand over the terminal");
    }
    this.store.claim(id);
    const record: ContainerRecord = {
      id,
      bundle,
      pid: 0,
      pidStartTime: 0,
      created: new Date().toISOString(),
      phase: "creating",
      cgroupPath: cgroupPathFor(id, spec.linux?.cgroupsPath),
      spec,
    };
    let cgroup: Cgroup | undefined;
    try {
      this.store.save(record);
      cgroup = this.cgroupOf(record);
      cgroup.create(withDeviceRules(spec));
      const hooks = spec.hooks ?? {};
      const creating = (pid: number): State => ({ ...this.store.state(record), status: "creating", pid });
      const plan = planContainer(spec, {
        bundle,
        mode,
        cgroup,
        execFifo: mode === PlanMode.Create ? this.store.fifoPath(id) : undefined,
        consoleSocket: options.consoleSocket,
        pauseForHooks: Boolean(hooks.createRuntime?.length || hooks.createContainer?.length),
        waitStart: mode === PlanMode.Run && Boolean(hooks.prestart?.length),
        hookState: JSON.stringify({ ociVersion: OCI_VERSION, id, status: "created", bundle, annotations: spec.annotations }),
        preserveFds: options.preserveFds,
        seccompCacheDir: this.seccompCacheDir(),
        rootfsMount: options.rootfsMount,
      });
      const shim = startShim(plan, {
        stdio: options.stdio,
        onHooks: async (pid) => {
          await runHooks(hooks.createRuntime, creating(pid), "createRuntime");
          await runHooks(hooks.createContainer, creating(pid), "createContainer");
        },
      });
      let pid: number;
      try {
        pid = await shim.pid;
      } catch {
        const exit = await shim.exited;
        const err = exit.error ?? new SyscallError("create", 0, `container "${id}" could not be created`);
        (err as SyscallError & { exitCode?: number }).exitCode = exit.code;
        throw err;
      }
      record.pid = pid;
      record.pidStartTime = processStartTime(pid, { zombies: true });
      record.phase = "created";
      this.store.save(record);
      if (options.pidFile) writePidFile(options.pidFile, pid);
      if (mode === PlanMode.Run && hooks.prestart?.length) {
        await runHooks(hooks.prestart, this.store.state(record), "prestart");
        shim.start();
      }
      if (mode === PlanMode.Create) {
        const exit = await shim.exited;
        if (exit.error) throw exit.error;
      }
      return { record, cgroup, shim };
    } catch (err) {
      if (record.pid && this.store.alive(record)) {
        this.signalAll(record, osConstants.signals.SIGKILL);
        await this.waitGone(record, 5000);
      }
      try {
        cgroup?.destroy();
      } catch {
        // the original error matters more
      }
      this.store.remove(id);
      throw err;
    }
  }

  private seccompCacheDir(): string {
    return path.join(this.store.root, ".seccomp");
  }

  private cgroupOf(record: ContainerRecord): Cgroup {
    return openCgroup(record.cgroupPath, this.cgroupRoot ? { root: this.cgroupRoot } : undefined);
  }

  /** Lets a created init go on to exec: open the fifo's read end and take its byte. */
  private releaseFifo(record: ContainerRecord): void {
    const fifo = this.store.fifoPath(record.id);
    const fd = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    try {
      const buf = Buffer.alloc(1);
      const deadline = Date.now() + 10_000;
      for (;;) {
        let n = 0;
        try {
          n = readSync(fd, buf, 0, 1, null);
        } catch (err) {
          if (!isErrno(err, "EAGAIN")) throw err;
        }
        if (n === 1) break;
        if (!this.store.alive(record)) {
          throw new FailedPreconditionError(`container "${record.id}" exited before it could be started`);
        }
        if (Date.now() > deadline) throw new FailedPreconditionError(`container "${record.id}" did not take the start signal`);
        sleepMs(1);
      }
      // The init keeps its write end (close-on-exec) until execve: EOF means the process runs (or died).
      for (;;) {
        let n = -1;
        try {
          n = readSync(fd, buf, 0, 1, null);
        } catch (err) {
          if (!isErrno(err, "EAGAIN")) throw err;
        }
        if (n === 0 || !this.store.alive(record) || Date.now() > deadline) break;
        sleepMs(1);
      }
    } finally {
      closeSync(fd);
    }
    rmSync(fifo, { force: true });
  }

  private signalAll(record: ContainerRecord, signal: number): void {
    const pids = new Set<number>();
    if (this.store.alive(record)) pids.add(record.pid);
    try {
      const cgroup = this.cgroupOf(record);
      if (cgroup.exists()) for (const pid of cgroup.pids()) pids.add(pid);
    } catch {
      // no cgroup: the init is all there is
    }
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  }

  private async waitGone(record: ContainerRecord, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.store.alive(record) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }

  private async tearDown(record: ContainerRecord, cgroup: Cgroup = this.cgroupOf(record)): Promise<void> {
    try {
      cgroup.destroy();
    } catch (err) {
      this.warn(`remove cgroup ${record.cgroupPath}: ${(err as Error).message}`);
    }
    const state: State = { ...this.store.state(record), status: "stopped" };
    delete state.pid;
    await runHooksBestEffort(record.spec.hooks?.poststop, state, "poststop", this.warn);
    this.store.remove(record.id);
  }
}

/** The exit status a command should use for a runtime error (the process's own when it had one). */
export function exitCodeOf(err: unknown): number {
  const code = (err as { exitCode?: number }).exitCode;
  if (typeof code === "number" && code > 1) return code;
  return HakoError.is(err) ? 1 : 1;
}

function loadSpec(bundle: string): Spec {
  const file = path.join(bundle, "config.json");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) throw new InvalidArgumentError(`${file} does not exist (is ${bundle} a bundle?)`);
    throw err;
  }
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  return validateSpec(spec, file);
}

export function withDeviceRules(spec: Spec): LinuxResources {
  const resources = spec.linux?.resources ?? {};
  const configured = resources.devices ?? [];
  const own = (spec.linux?.devices ?? [])
    .filter((d) => d.type === "c" || d.type === "b")
    .map((d) => ({ allow: true, type: d.type as "c" | "b", major: d.major ?? null, minor: d.minor ?? null, access: "rwm" }));
  return { ...resources, devices: [...configured, ...DEFAULT_DEVICE_RULES, ...own] };
}

function writePidFile(file: string, pid: number): void {
  writeFileAtomic(path.resolve(file), String(pid));
}

function safeOomCount(cgroup: Cgroup): number {
  try {
    return cgroup.oomKillCount();
  } catch {
    return 0;
  }
}

/**
 * While a helper runs a process in the foreground, signals sent to us are
 * the process's: the helper forwards them. (A ^C from the terminal reaches
 * the helper directly, as it shares our process group.)
 */
function forwardSignals(helperPid: number | undefined): () => void {
  const signals = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const;
  const handler = (sig: NodeJS.Signals): void => {
    if (helperPid && sig !== "SIGINT") {
      try {
        process.kill(helperPid, sig);
      } catch {
        // the helper is gone; its exit is on its way
      }
    }
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}

const sleepBuffer = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleepBuffer, 0, 0, ms);
}
