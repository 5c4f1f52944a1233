/**
 * Exec instances (docker exec): created against a running container, started
 * once, run by the native helper in MODE_EXEC inside the container's
 * namespaces and cgroup, with the container's security settings. The helper
 * is hakod's child: an exec ends with hakod, as it does with dockerd.
 *
 * Records stay after their process exits (the CLI asks for the exit code
 * afterwards) and go with their container, as dockerd's do.
 */
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { ConflictError, InvalidArgumentError, NotFoundError, SyscallError, errorMessage } from "../common/errors.ts";
import { randomHexId } from "../common/ids.ts";
import type { EngineEvent, EventBus } from "../daemon/events.ts";
import { startShim, type ShimProcess, type StdioSlot } from "../native/shim.ts";
import { currentSpawner } from "../native/spawner.ts";
import { hostCapabilities } from "../runtime/capabilities.ts";
import { CLONE_FLAGS, planExec } from "../runtime/plan.ts";
import type { Process } from "../spec/oci-runtime.ts";
import type { ContainerRecord } from "./container-store.ts";
import type { ContainerService } from "./containers.ts";
import { HealthMonitor } from "./health.ts";
import { containerEnv, replaceOrAppendEnv, resolveUser, userFilesStamp, withHome, type ResolvedUser } from "./specgen.ts";

/** Docker's ExecConfig (POST /containers/{id}/exec). */
export interface ExecConfig {
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  /** [height, width]. */
  ConsoleSize?: [number, number] | null;
  Env?: string[] | null;
  Cmd?: string[] | null;
  User?: string;
  Privileged?: boolean;
  WorkingDir?: string;
  DetachKeys?: string;
}

/** Docker's ExecInspectResponse. */
export interface ExecInspectResponse {
  CanRemove: boolean;
  ContainerID: string;
  DetachKeys: string;
  ExitCode: number | null;
  ID: string;
  OpenStderr: boolean;
  OpenStdin: boolean;
  OpenStdout: boolean;
  ProcessConfig: { arguments: string[]; entrypoint: string; privileged: boolean; tty: boolean; user?: string };
  Running: boolean;
  Pid: number;
}

export interface ExecStartOptions {
  /** Run without streams; the call returns once the process runs. */
  detach?: boolean;
  /** [height, width], overriding the one given at create. */
  consoleSize?: [number, number] | null;
  /** Called once the helper has its plan (the process is on its way), before start resolves. */
  launched?: () => void;
}

/** The streams of an attached exec: what the API copies to and from its client. */
export interface ExecSession {
  readonly tty: boolean;
  /** The process's stdin (AttachStdin), else null. */
  readonly stdin: Writable | null;
  /** With a TTY, everything comes on stdout. */
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** The exit status once the process and its output are done. */
  readonly exited: Promise<number>;
  /** SIGKILL to the process (its client went away). */
  kill(): void;
}

/** The failure of an exec whose process never ran: ExitCode 126 or 127, Docker's wording. */
export class ExecStartError extends InvalidArgumentError {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

interface ExecInstance {
  id: string;
  containerId: string;
  config: ExecConfig;
  cmd: string[];
  started: boolean;
  running: boolean;
  exitCode: number | null;
  pid: number;
  /** Health probes are not listed in the container's ExecIDs and go once done. */
  probe: boolean;
  shim?: ShimProcess;
  /** A size asked for before the process had its terminal. */
  pendingSize?: { rows: number; cols: number };
}

/** A user as resolveUser found it in a container, and what that answer depends on. */
interface KnownUser {
  key: string;
  stamp: string;
  user: ResolvedUser;
}

export interface ExecServiceOptions {
  containers: ContainerService;
  events: EventBus;
}

/** Finished user execs kept per container; older ones are dropped first. */
const KEEP_FINISHED = 64;

export class ExecService {
  readonly containers: ContainerService;
  readonly events: EventBus;
  readonly health: HealthMonitor;
  private readonly execs = new Map<string, ExecInstance>();
  /** The last user each container's execs ran as: a repeated exec reads no /etc/passwd while it is unchanged. */
  private readonly users = new Map<string, KnownUser>();
  private readonly unsubscribe: () => void;

  constructor(options: ExecServiceOptions) {
    this.containers = options.containers;
    this.events = options.events;
    this.unsubscribe = this.events.observe((ev) => this.onEvent(ev));
    this.health = new HealthMonitor({ containers: this.containers, events: this.events, exec: this });
  }

  /** Stops listening and stops every health monitor (running execs go on until they exit). */
  close(): void {
    this.unsubscribe();
    this.health.close();
  }

  // ---------------------------------------------------------------- create / inspect

  /** A new exec instance in a running container; returns its ID. */
  create(ref: string, config: ExecConfig, options: { probe?: boolean } = {}): string {
    const cfg = validateExecConfig(config);
    const c = this.activeContainer(ref);
    const id = randomHexId();
    const inst: ExecInstance = {
      id,
      containerId: c.ID,
      config: cfg,
      cmd: cfg.Cmd!,
      started: false,
      running: false,
      exitCode: null,
      pid: 0,
      probe: Boolean(options.probe),
    };
    this.execs.set(id, inst);
    // ExecIDs are never written (container-store.ts): the store's own record is the one to change.
    if (!inst.probe) c.ExecIDs = [...(c.ExecIDs ?? []), id];
    this.containers.publish(`exec_create: ${inst.cmd.join(" ")}`, c, { execID: id });
    return id;
  }

  inspect(id: string): ExecInspectResponse {
    const inst = this.get(id);
    const cfg = inst.config;
    return {
      CanRemove: false,
      ContainerID: inst.containerId,
      DetachKeys: cfg.DetachKeys ?? "",
      ExitCode: inst.exitCode,
      ID: inst.id,
      OpenStderr: Boolean(cfg.AttachStderr),
      OpenStdin: Boolean(cfg.AttachStdin),
      OpenStdout: Boolean(cfg.AttachStdout),
      ProcessConfig: {
        arguments: inst.cmd.slice(1),
        entrypoint: inst.cmd[0]!,
        privileged: Boolean(cfg.Privileged),
        tty: Boolean(cfg.Tty),
        ...(cfg.User ? { user: cfg.User } : {}),
      },
      Running: inst.running,
      Pid: inst.pid,
    };
  }

  /** Whether the exec's stream is a TTY (raw) or multiplexed. */
  isTty(id: string): boolean {
    return Boolean(this.get(id).config.Tty);
  }

  /**
   * Throws what start would refuse with before anything runs: an unknown
   * exec (404), one started already or a container that stopped (409). The
   * API checks this before it upgrades the connection.
   */
  checkStartable(id: string): void {
    const inst = this.get(id);
    if (inst.exitCode !== null) throw new ConflictError(`Error: Exec command ${id} has already run`);
    if (inst.started) throw new ConflictError(`Error: Exec command ${id} is already running`);
    this.activeContainer(inst.containerId);
  }

  // ---------------------------------------------------------------- start

  /**
   * Starts the process. Detached: resolves once it runs, with no streams.
   * Attached: resolves with its streams once it runs. A process that could
   * not be started (not found: 127, not executable: 126) rejects with
   * ExecStartError and its exit code is recorded.
   */
  async start(id: string, options: ExecStartOptions = {}): Promise<ExecSession> {
    this.checkStartable(id);
    const inst = this.get(id);
    inst.started = true;
    inst.running = true;
    const cfg = inst.config;
    const tty = Boolean(cfg.Tty);
    const detach = Boolean(options.detach);
    let c: ContainerRecord;
    let shim: ShimProcess;
    try {
      const running = this.containers.runningSpec(inst.containerId);
      c = running.record;
      const proc = this.processFor(inst, c, running.spec.process, options.consoleSize ?? cfg.ConsoleSize ?? null);
      const { cgroup } = this.containers.liveCgroup(c.ID);
      // Detached or not, the helper stays to report the exit code (PlanMode.Exec).
      const plan = planExec(proc, {
        pid: c.State.Pid,
        cgroup: cgroup.exists() ? cgroup : undefined,
        seccomp: running.spec.linux?.seccomp,
        seccompCacheDir: this.seccompCacheDir(c.ID),
        initKey: `${c.ID}:${c.State.Pid}`,
      });
      // planExec skips namespaces it cannot read: an init that just died would leave none to join,
      // and the process would run on the host. Every container has its own mount namespace.
      if (!plan.joinNamespaces?.some((j) => j.type === CLONE_FLAGS.mount)) {
        throw new ConflictError(`container ${c.ID} is not running`);
      }
      const slot = (wanted: boolean | undefined): StdioSlot => (wanted && !detach ? "pipe" : "ignore");
      // With a TTY the helper relays the pty on its own stdin/stdout; stderr carries nothing of the process.
      shim = startShim(plan, {
        stdio: [slot(cfg.AttachStdin), tty ? slot(cfg.AttachStdout || cfg.AttachStderr) : slot(cfg.AttachStdout), tty ? "ignore" : slot(cfg.AttachStderr)],
        spawner: currentSpawner(),
      });
    } catch (err) {
      this.finish(inst, 126);
      throw err;
    }
    inst.shim = shim;
    options.launched?.();
    this.containers.publish(`exec_start: ${inst.cmd.join(" ")}`, c, { execID: inst.id });
    try {
      inst.pid = await shim.pid;
    } catch {
      const exit = await shim.exited;
      // The helper's own status for exec failures (127/126); other set-up failures as dockerd
      // classifies them: a missing file or directory 127, anything else 126.
      const code = exit.code > 1 ? exit.code : exit.error?.errno === 2 ? 127 : 126;
      this.finish(inst, code);
      throw new ExecStartError(execFailure(exit.error, inst.containerId), code);
    }
    const stdin = shim.stdin;
    stdin?.on("error", () => {}); // the process closed its stdin: the rest has nowhere to go
    if (inst.pendingSize) this.sendResize(inst, inst.pendingSize.rows, inst.pendingSize.cols);
    const exited = shim.exited.then((exit) => {
      this.finish(inst, exit.code);
      // After the caller ended the client's stream (this turn of the loop), before any request it sends next.
      setImmediate(() => {
        const latest = this.containers.store.get(inst.containerId) ?? c;
        this.containers.publish("exec_die", latest, { execID: inst.id, exitCode: String(exit.code) });
      });
      return exit.code;
    });
    return {
      tty,
      stdin: stdin ?? null,
      stdout: shim.stdout,
      stderr: shim.stderr,
      exited,
      kill: () => this.signal(inst, 9),
    };
  }

  /** Sizes the exec's terminal (a size given before the process runs is applied when it does). */
  resize(id: string, rows: number, cols: number): void {
    const inst = this.get(id);
    if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0 || rows > 0xffff || cols > 0xffff) {
      throw new InvalidArgumentError(`invalid terminal size ${rows}x${cols}`);
    }
    if (inst.exitCode !== null) throw new ConflictError(`exec ${id} is not running`);
    if (!inst.pid) {
      inst.pendingSize = { rows, cols };
      return;
    }
    this.sendResize(inst, rows, cols);
  }

  /** Drops an exec record (health probes, once their result is read). */
  forget(id: string): void {
    const inst = this.execs.get(id);
    if (!inst) return;
    this.execs.delete(id);
    this.dropFromContainer(inst);
  }

  // ---------------------------------------------------------------- internals

  private get(id: string): ExecInstance {
    const inst = typeof id === "string" ? this.execs.get(id) : undefined;
    if (!inst) throw new NotFoundError(`No such exec instance: ${id}`);
    return inst;
  }

  /** dockerd's getActiveContainer: running, not paused, not restarting. */
  private activeContainer(ref: string): ContainerRecord {
    const c = this.containers.store.resolve(ref);
    if (!c.State.Running || !c.State.Pid) throw new ConflictError(`container ${c.ID} is not running`);
    if (c.State.Paused) throw new ConflictError(`container ${c.ID} is paused, unpause the container before exec`);
    if (c.State.Restarting) throw new ConflictError(`Container ${c.ID} is restarting, wait until the container is running`);
    return c;
  }

  /** The container's process with the exec's command, env, user, cwd, terminal and (privileged) capabilities. */
  private processFor(inst: ExecInstance, c: ContainerRecord, template: Process | undefined, consoleSize: [number, number] | null): Process {
    const cfg = inst.config;
    const tty = Boolean(cfg.Tty);
    const userSpec = cfg.User || c.Config.User || "";
    const user = this.userIn(c, userSpec);
    const env = withHome(replaceOrAppendEnv(containerEnv({ ...c.Config, Tty: tty }), cfg.Env ?? []), user.home);
    const proc: Process = {
      ...(template ?? { cwd: "/", user: { uid: 0, gid: 0 } }),
      terminal: tty,
      args: inst.cmd,
      env,
      cwd: cfg.WorkingDir || template?.cwd || "/",
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids, ...(template?.user.umask !== undefined ? { umask: template.user.umask } : {}) },
    };
    // No AppArmor on this host: the container ran without a profile, so does its exec.
    delete proc.apparmorProfile;
    delete proc.consoleSize;
    if (tty && consoleSize) proc.consoleSize = { height: consoleSize[0], width: consoleSize[1] };
    if (cfg.Privileged) {
      const all = hostCapabilities();
      proc.capabilities = { bounding: all, effective: all, permitted: all };
    }
    return proc;
  }

  /** The container's own /etc/passwd and /etc/group as they are now (a user added since create counts), as dockerd reads them at start. */
  private userIn(c: ContainerRecord, userSpec: string): KnownUser["user"] {
    const root = `/proc/${c.State.Pid}/root`;
    const groupAdd = c.HostConfig.GroupAdd ?? [];
    const key = `${c.State.Pid}\0${userSpec}\0${groupAdd.join(",")}`;
    const stamp = userFilesStamp(root);
    const known = this.users.get(c.ID);
    if (known && known.key === key && known.stamp === stamp) return known.user;
    const user = resolveUser(userSpec, root, groupAdd);
    this.users.set(c.ID, { key, stamp, user });
    return user;
  }

  private seccompCacheDir(containerId: string): string {
    // The container service keeps compiled filters in <run root>/seccomp, next to containers/<id>.
    return path.join(path.dirname(path.dirname(this.containers.shimDir(containerId))), "seccomp");
  }

  private sendResize(inst: ExecInstance, rows: number, cols: number): void {
    if (!inst.config.Tty) return;
    this.control(inst, `resize ${rows} ${cols}\n`);
  }

  private signal(inst: ExecInstance, sig: number): void {
    if (inst.exitCode !== null) return;
    this.control(inst, `signal ${sig}\n`);
  }

  /** A line on the helper's control socket (fd 3), which it reads while the process runs. */
  private control(inst: ExecInstance, line: string): void {
    inst.shim?.control(line);
  }

  private finish(inst: ExecInstance, code: number): void {
    inst.running = false;
    inst.exitCode = code;
    // As dockerd's: a container lists its execs that have not exited; the record stays for inspect.
    this.dropFromContainer(inst);
    this.pruneFinished(inst.containerId);
  }

  private pruneFinished(containerId: string): void {
    const finished = [...this.execs.values()].filter((e) => e.containerId === containerId && !e.probe && e.exitCode !== null);
    for (const e of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.forget(e.id);
  }

  private dropFromContainer(inst: ExecInstance): void {
    if (inst.probe) return;
    const c = this.containers.store.get(inst.containerId);
    if (!c || !c.ExecIDs?.includes(inst.id)) return;
    c.ExecIDs = c.ExecIDs.filter((x) => x !== inst.id);
  }

  private onEvent(ev: EngineEvent): void {
    if (ev.Type !== "container") return;
    if (ev.Action === "destroy") {
      for (const [id, e] of this.execs) if (e.containerId === ev.Actor.ID) this.execs.delete(id);
      this.users.delete(ev.Actor.ID);
    } else if (ev.Action === "die") {
      // dockerd forgets a stopped container's execs (ExecIDs); the records stay for their exit codes.
      const c = this.containers.store.get(ev.Actor.ID);
      if (c?.ExecIDs?.length) c.ExecIDs = [];
    }
  }
}

/** ExecConfig as the API gave it, checked: Cmd required, types right. */
function validateExecConfig(config: ExecConfig): ExecConfig {
  if (typeof config !== "object" || config === null || Array.isArray(config)) throw new InvalidArgumentError("exec config must be a JSON object");
  const cmd = config.Cmd;
  if (cmd !== undefined && cmd !== null && (!Array.isArray(cmd) || cmd.some((a) => typeof a !== "string"))) {
    throw new InvalidArgumentError("Cmd must be a list of strings");
  }
  if (!cmd || cmd.length === 0 || cmd[0] === "") throw new InvalidArgumentError("No exec command specified");
  const env = config.Env;
  if (env !== undefined && env !== null && (!Array.isArray(env) || env.some((e) => typeof e !== "string"))) {
    throw new InvalidArgumentError("Env must be a list of strings");
  }
  for (const e of env ?? []) {
    if (e.startsWith("=") || e === "") throw new InvalidArgumentError(`invalid environment variable: ${e}`);
  }
  for (const key of ["AttachStdin", "AttachStdout", "AttachStderr", "Tty", "Privileged"] as const) {
    const v = config[key];
    if (v !== undefined && v !== null && typeof v !== "boolean") throw new InvalidArgumentError(`${key} must be a boolean`);
  }
  for (const key of ["User", "WorkingDir", "DetachKeys"] as const) {
    const v = config[key];
    if (v !== undefined && v !== null && typeof v !== "string") throw new InvalidArgumentError(`${key} must be a string`);
  }
  if (config.WorkingDir && !config.WorkingDir.startsWith("/")) {
    throw new InvalidArgumentError(`the working directory '${config.WorkingDir}' is invalid, it needs to be an absolute path`);
  }
  const size = config.ConsoleSize;
  if (size !== undefined && size !== null) checkConsoleSize(size);
  return { ...config, Cmd: [...cmd], Env: env ? [...env] : [] };
}

/** A [height, width] pair of non-negative integers. */
export function checkConsoleSize(size: unknown): [number, number] {
  if (!Array.isArray(size) || size.length !== 2 || size.some((n) => !Number.isInteger(n) || n < 0 || n > 0xffff)) {
    throw new InvalidArgumentError("ConsoleSize must be [height, width] (two non-negative integers)");
  }
  return [size[0] as number, size[1] as number];
}

/** runc's wording, as docker exec prints it. */
function execFailure(err: SyscallError | undefined, containerId: string): string {
  if (!err) return `OCI runtime exec failed: exec failed: unable to start container process in container ${containerId}: unknown`;
  return `OCI runtime exec failed: exec failed: unable to start container process: ${errorMessage(err)}: unknown`;
}
