/**
 * The per-container shim (docs/engine.md, "The shim"): the native helper in
 * MODE_SHIM. It is started here (one of the three modules that start the
 * helper) and, once the container runs, spoken to over its attach.sock:
 *
 *   startContainerShim  plan on fd 3; "shim N", "pid N", then "start" →
 *                       "running" (or "error <stage> <errno> <text>")
 *   ShimConnection      frames [u8 type][u32 BE length][payload] on attach.sock
 *   readExitFile        exit.json, once the shim is gone
 *   shimAlive           shim.pid names a live hako-shim
 */
import { spawn } from "node:child_process";
import { closeSync, constants as fsConstants, mkdirSync, openSync, readFileSync, readlinkSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { SyscallError } from "../common/errors.ts";
import { encodePlan, PlanMode, StdioFlag, type Plan } from "./plan.ts";
import { helperPath } from "./shim.ts";
import { currentSpawner } from "./spawner.ts";

export interface ContainerShimOptions {
  /** The shim's state dir: shim.pid, attach.sock, exit.json (made when missing). */
  shimDir: string;
  /** The json-file log; maxSize 0 = no rotation; maxFiles counts the current file. */
  log: { path: string; maxSize: number; maxFiles: number };
  /** Config.OpenStdin: the container gets a stdin pipe that attach clients write to. */
  openStdin?: boolean;
  /** Config.StdinOnce: stdin closes when the first client that attached it detaches. */
  stdinOnce?: boolean;
  /** A plan with pauseForHooks stops before pivot_root: run createRuntime/createContainer hooks here. */
  onHooks?: (pid: number) => Promise<void>;
}

/** A set-up failure: the helper's error line, with the status from exit.json when there is one. */
export type ShimError = SyscallError & { exitCode?: number };

export interface ContainerShimHandle {
  /** The shim's pid (init's child, in its own session). */
  readonly shimPid: number;
  /** The container process's pid (host view), set up and waiting for start. */
  readonly pid: number;
  /** Lets the process exec; resolves on "running", rejects with a ShimError (exitCode 127/126 when exec failed). */
  start(): Promise<void>;
  /** Gives up before start: the shim kills the process, writes exit.json and exits. */
  abort(): void;
  /**
   * The set-up failure the shim reports when the process is already gone
   * (it names the pid before its set-up ends); undefined while it lives.
   * For a caller whose own work on the process failed meanwhile.
   */
  setupFailure(): Promise<ShimError | undefined>;
}

/** What exit.json says. */
export interface ShimExit {
  /** The process's status, 128+n for a signal. */
  exitCode: number;
  /** The signal that ended it, 0 if none. */
  signal: number;
  /** RFC 3339 with nanoseconds, UTC. */
  finishedAt: string;
  /** Set when the process never ran (set-up or exec failed). */
  error?: string;
}

/** Reads the helper's control lines one at a time; undefined once it closed fd 3. */
class ControlLines {
  private buffered = "";
  private lines: string[] = [];
  private closed = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  readonly ended: Promise<void>;

  constructor(socket: net.Socket) {
    let ended!: () => void;
    this.ended = new Promise((r) => (ended = r));
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.buffered += chunk;
      let nl: number;
      while ((nl = this.buffered.indexOf("\n")) >= 0) {
        this.lines.push(this.buffered.slice(0, nl));
        this.buffered = this.buffered.slice(nl + 1);
      }
      this.poke();
    });
    socket.on("error", () => {}); // EPIPE/ECONNRESET: the close that follows says it
    socket.on("close", () => {
      this.closed = true;
      ended();
      this.poke();
    });
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.poke();
  }

  async next(): Promise<string | undefined> {
    for (;;) {
      if (this.failure) throw this.failure;
      const line = this.lines.shift();
      if (line !== undefined) return line;
      if (this.closed) return undefined;
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

/**
 * Starts a container under its own shim. The plan is a container plan
 * (planContainer); its mode, waitStart and shim settings are set here.
 * Resolves once the process is set up and waits for start().
 */
export async function startContainerShim(plan: Plan, opts: ContainerShimOptions): Promise<ContainerShimHandle> {
  mkdirSync(opts.shimDir, { recursive: true, mode: 0o700 });
  mkdirSync(path.dirname(opts.log.path), { recursive: true });
  const stdio = (opts.openStdin ? StdioFlag.OpenStdin : 0) | (opts.openStdin && opts.stdinOnce ? StdioFlag.StdinOnce : 0);
  const full: Plan = {
    ...plan,
    mode: PlanMode.Shim,
    waitStart: true,
    shim: { dir: path.resolve(opts.shimDir), log: { ...opts.log, path: path.resolve(opts.log.path) }, stdio },
  };
  const spawner = currentSpawner();
  let ctl: net.Socket;
  let lines: ControlLines;
  if (spawner) {
    // hakod's spawner forks the helper (no fork of the daemon, no exec); the shim it forks in turn is init's.
    const helper = await spawner.spawn(["ignore", "ignore", "ignore", "pipe"], { detached: true }).catch((err: Error) => {
      throw new SyscallError("spawn", 0, `start the native helper: ${err.message}`);
    });
    ctl = helper.stdio[3]!;
    lines = new ControlLines(ctl);
  } else {
    const child = spawn(helperPath(), [], { stdio: ["ignore", "ignore", "ignore", "pipe"], detached: true });
    child.unref(); // the helper exits at once; the shim it forked is init's
    ctl = child.stdio[3] as net.Socket;
    const l = new ControlLines(ctl);
    child.on("error", (err) => l.fail(new SyscallError("spawn", 0, `start the native helper: ${err.message}`)));
    lines = l;
  }
  ctl.write(encodePlan(full));

  /**
   * The failure, once the shim is gone (so exit.json, when it writes one, is
   * complete). Without an error line, exit.json's says why: a shim that
   * failed and exited before "start" was written has that write fail, and
   * Node drops the socket with the error line still unread in it.
   */
  const failure = async (err: SyscallError | undefined): Promise<ShimError> => {
    await Promise.race([lines.ended, new Promise((r) => setTimeout(r, 5000).unref())]);
    ctl.destroy();
    const exit = readExitFile(opts.shimDir);
    const e: ShimError = err ?? exitFileError(exit) ?? new SyscallError("shim", 0, "the shim exited before the container was set up");
    if (exit) e.exitCode = exit.exitCode;
    return e;
  };
  const errorOf = (line: string): SyscallError => {
    const [, stage, errno, ...rest] = line.split(" ");
    return new SyscallError(stage ?? "unknown", Number(errno) || 0, rest.join(" "));
  };

  let shimPid = 0;
  let pid = 0;
  try {
    for (;;) {
      const line = await lines.next();
      if (line === undefined) throw await failure(undefined);
      const [kind, arg] = line.split(" ");
      if (kind === "shim") shimPid = Number(arg);
      else if (kind === "hooks") {
        try {
          await opts.onHooks?.(Number(arg));
        } catch (err) {
          ctl.write("abort\n");
          throw await failure(new SyscallError("hooks", 0, String((err as Error)?.message ?? err)));
        }
        ctl.write("resume\n");
      } else if (kind === "pid") {
        pid = Number(arg);
        break;
      } else if (kind === "error") throw await failure(errorOf(line));
    }
  } catch (err) {
    ctl.destroy();
    throw err;
  }

  let started: Promise<void> | undefined;
  return {
    shimPid,
    pid,
    start(): Promise<void> {
      started ??= (async () => {
        ctl.write("start\n");
        for (;;) {
          const line = await lines.next();
          if (line === undefined) throw await failure(undefined);
          if (line === "running") {
            ctl.destroy(); // the shim closed its end; from here it is attach.sock
            return;
          }
          if (line.startsWith("error ")) throw await failure(errorOf(line));
        }
      })();
      return started;
    },
    abort(): void {
      ctl.destroy();
    },
    async setupFailure(): Promise<ShimError | undefined> {
      try {
        readlinkSync(`/proc/${pid}/ns/net`); // a process that exited (a zombie too) has no namespaces left
        return undefined;
      } catch {
        // gone: its error line is on the way
      }
      for (;;) {
        const line = await lines.next().catch(() => undefined);
        if (line === undefined) return failure(undefined);
        if (line.startsWith("error ")) return failure(errorOf(line));
      }
    },
  };
}

export interface AttachFlags {
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  /** Only the exit frame (hakod's own connection). */
  watch?: boolean;
}

const FRAME_HELLO = 0x48; // H
const FRAME_STDIN = 0x49; // I
const FRAME_CLOSE_STDIN = 0x43; // C
const FRAME_RESIZE = 0x52; // R
const FRAME_STDOUT = 0x31; // '1'
const FRAME_STDERR = 0x32; // '2'
const FRAME_EXIT = 0x58; // X

function frame(type: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.allocUnsafe(5);
  head[0] = type;
  head.writeUInt32BE(payload.length, 1);
  return payload.length ? Buffer.concat([head, payload]) : head;
}

/** sizeof(sockaddr_un.sun_path): a socket path must be shorter. */
const SUN_PATH_MAX = 108;

/** One client of a shim's attach.sock. */
export class ShimConnection {
  /** The exit status from the X frame; undefined when the connection ended without one. */
  readonly exited: Promise<number | undefined>;
  private readonly socket: net.Socket;
  private pending: Buffer = Buffer.alloc(0);
  private readonly listeners: ((stream: 1 | 2, data: Buffer) => void)[] = [];
  /** Output that came before anyone listened. */
  private early: [1 | 2, Buffer][] = [];
  private resolveExit!: (status: number | undefined) => void;

  private constructor(socket: net.Socket, flags: AttachFlags) {
    this.socket = socket;
    this.exited = new Promise((r) => (this.resolveExit = r));
    const bits = (flags.stdin ? 1 : 0) | (flags.stdout ? 2 : 0) | (flags.stderr ? 4 : 0) | (flags.watch ? 8 : 0);
    socket.write(frame(FRAME_HELLO, Buffer.from([bits])));
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", () => {}); // the close that follows ends it
    socket.on("close", () => this.resolveExit(undefined));
  }

  /** Connects to <shimDir>/attach.sock; rejects (ENOENT, ECONNREFUSED) when the shim is gone. */
  static connect(shimDir: string, flags: AttachFlags): Promise<ShimConnection> {
    return new Promise((resolve, reject) => {
      const sockPath = path.join(shimDir, "attach.sock");
      // A path past sun_path's 108 bytes (a deep --exec-root) is reached through a directory fd, as the shim bound it.
      let dirFd: number | undefined;
      if (Buffer.byteLength(sockPath) >= SUN_PATH_MAX) {
        try {
          dirFd = openSync(shimDir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
        } catch (err) {
          reject(err);
          return;
        }
      }
      const closeDir = (): void => {
        if (dirFd !== undefined) closeSync(dirFd);
        dirFd = undefined;
      };
      const socket = net.connect(dirFd === undefined ? sockPath : `/proc/self/fd/${dirFd}/attach.sock`);
      socket.once("error", (err) => {
        closeDir();
        reject(err);
      });
      socket.once("connect", () => {
        closeDir();
        socket.removeAllListeners("error");
        resolve(new ShimConnection(socket, flags));
      });
    });
  }

  /** Output frames: 1 stdout, 2 stderr (a tty's output is all 1). */
  onOutput(cb: (stream: 1 | 2, data: Buffer) => void): void {
    this.listeners.push(cb);
    const early = this.early;
    this.early = [];
    for (const [s, d] of early) cb(s, d);
  }

  /** Stdin for the process (needs the stdin flag and OpenStdin); false when the socket buffers. */
  write(data: Buffer | string): boolean {
    const payload = typeof data === "string" ? Buffer.from(data) : data;
    if (payload.length === 0) return true;
    return this.socket.write(frame(FRAME_STDIN, payload));
  }

  /** Closes the process's stdin (after what was written before). */
  closeStdin(): void {
    this.socket.write(frame(FRAME_CLOSE_STDIN));
  }

  /** Sizes the container's pty. */
  resize(rows: number, cols: number): void {
    const p = Buffer.alloc(4);
    p.writeUInt16BE(rows & 0xffff, 0);
    p.writeUInt16BE(cols & 0xffff, 2);
    this.socket.write(frame(FRAME_RESIZE, p));
  }

  /** Stops reading (the shim buffers up to its cap, then drops this client). */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Detaches (what was written is sent first). */
  close(): void {
    this.socket.end();
  }

  private onData(chunk: Buffer): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 5) {
      const len = buf.readUInt32BE(off + 1);
      if (buf.length - off - 5 < len) break;
      const type = buf[off]!;
      const payload = buf.subarray(off + 5, off + 5 + len);
      off += 5 + len;
      this.onFrame(type, payload);
    }
    buf = buf.subarray(off);
    // Keep only the unparsed tail, not the chunk it came in.
    this.pending = buf.length ? Buffer.from(buf) : Buffer.alloc(0);
  }

  private onFrame(type: number, payload: Buffer): void {
    if (type === FRAME_STDOUT || type === FRAME_STDERR) {
      const stream = type === FRAME_STDOUT ? 1 : 2;
      if (this.listeners.length === 0) this.early.push([stream, payload]);
      for (const cb of this.listeners) cb(stream, payload);
    } else if (type === FRAME_EXIT && payload.length >= 4) {
      this.resolveExit(payload.readInt32BE(0));
    }
  }
}

/** exit.json of a shim dir, or undefined when there is none (yet) or it is unreadable. */
export function readExitFile(shimDir: string): ShimExit | undefined {
  let text: string;
  try {
    text = readFileSync(path.join(shimDir, "exit.json"), "utf8");
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as Partial<ShimExit>;
    if (typeof v.exitCode !== "number") return undefined;
    const exit: ShimExit = { exitCode: v.exitCode, signal: v.signal ?? 0, finishedAt: v.finishedAt ?? "" };
    if (typeof v.error === "string") exit.error = v.error;
    return exit;
  } catch {
    return undefined;
  }
}

/** exit.json's error ("<stage>: <text>", as shim_fail writes it) as the error line would have said it. */
function exitFileError(exit: ShimExit | undefined): SyscallError | undefined {
  if (!exit?.error) return undefined;
  const colon = exit.error.indexOf(": ");
  if (colon <= 0) return new SyscallError("shim", 0, exit.error);
  return new SyscallError(exit.error.slice(0, colon), 0, exit.error.slice(colon + 2));
}

/** The pid in shim.pid, if the file is there. */
export function readShimPid(shimDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(shimDir, "shim.pid"), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** True while shim.pid names a live hako-shim (not another process that got its pid since). */
export function shimAlive(shimDir: string): boolean {
  const pid = readShimPid(shimDir);
  return pid !== undefined && isLiveShim(pid);
}

/** True while `pid` is a hako-shim that has not exited (a zombie has). */
export function isLiveShim(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return false;
  } catch {
    return false;
  }
  // It runs from a sealed memfd copy ("/memfd:hako-shim (deleted)"); its argv[0] is the helper's path.
  try {
    if (readlinkSync(`/proc/${pid}/exe`).includes("hako-shim")) return true;
  } catch {
    // a process of another user, or gone
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]!.includes("hako-shim");
  } catch {
    return false;
  }
}

/**
 * Resolves once a shim has let its process's mount namespace go. It holds
 * it past the process's exit (shim.c, hold_mount_namespace), so the
 * overlay of the container's last run lives a moment past the exit hakod
 * hears of: a new start waits rather than mount the same layer beside it.
 * The shim lets go, and removes shim.pid, once it has told its clients
 * the exit (or it is gone).
 */
export async function shimReleased(pid: number | undefined, shimDir: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // shim.pid goes as the namespace does, before the shim waits on slow attach clients.
  while (pid !== undefined && readShimPid(shimDir) === pid && isLiveShim(pid) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1));
  }
}
