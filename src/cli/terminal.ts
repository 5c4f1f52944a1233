/**
 * The terminal side of attach, run -it and exec -it (docker/cli
 * cli/command/container/hijack.go and tty.go, moby/term's escape proxy):
 *
 * - stdin in raw mode while a TTY session lasts, restored when it ends,
 *   on exit and before signals end the process;
 * - detach keys (default ctrl-p,ctrl-q; `--detach-keys "ctrl-a,x"`): bytes
 *   that may begin the sequence are held back, passed on when the next byte
 *   does not continue it, and the whole sequence detaches without being sent;
 * - the hijacked connection: stdin bytes to the socket, a half-close when
 *   stdin ends (the output keeps coming), the output copied raw (TTY) or
 *   demultiplexed to stdout/stderr;
 * - the terminal size for resizes, and signal forwarding (sig-proxy).
 */
import type { Readable, Writable } from "node:stream";
import { copyRaw, demuxTo, type HijackedConnection } from "./hijack.ts";

/** docker's default detach sequence: ctrl-p, ctrl-q. */
export const DEFAULT_DETACH_KEYS = Uint8Array.from([16, 17]);

const CTRL_NAMES = [
  "ctrl-@", "ctrl-a", "ctrl-b", "ctrl-c", "ctrl-d", "ctrl-e", "ctrl-f", "ctrl-g", "ctrl-h", "ctrl-i", "ctrl-j",
  "ctrl-k", "ctrl-l", "ctrl-m", "ctrl-n", "ctrl-o", "ctrl-p", "ctrl-q", "ctrl-r", "ctrl-s", "ctrl-t", "ctrl-u",
  "ctrl-v", "ctrl-w", "ctrl-x", "ctrl-y", "ctrl-z", "ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_",
];

/**
 * moby/term ToBytes: "ctrl-a,x,DEL" → [1, 120, 127].
 *
 * @throws Error "Unknown character: 'ctrl-1'"
 */
export function parseDetachKeys(keys: string): Uint8Array {
  const codes: number[] = [];
  for (const key of keys.split(",")) {
    if (key.length === 1) {
      codes.push(key.charCodeAt(0) & 0xff);
      continue;
    }
    const ctrl = CTRL_NAMES.indexOf(key);
    if (ctrl >= 0) codes.push(ctrl);
    else if (key === "DEL") codes.push(127);
    else throw new Error(`Unknown character: '${key}'`);
  }
  return Uint8Array.from(codes);
}

/**
 * The detach keys to use: the given sequence, or the default one (with a
 * warning, as docker logs one) when it does not parse.
 */
export function detachKeysOrDefault(keys: string | undefined, warn?: (text: string) => void): Uint8Array {
  if (!keys) return DEFAULT_DETACH_KEYS;
  try {
    return parseDetachKeys(keys);
  } catch (err) {
    warn?.(`WARNING: invalid detach escape keys, using default: ${(err as Error).message}\n`);
    return DEFAULT_DETACH_KEYS;
  }
}

/**
 * moby/term's escapeProxy as a state machine over chunks of input. Bytes
 * matching the start of the sequence are held; a byte that does not
 * continue it releases them (that byte itself is not re-examined as a new
 * start, as in moby); the complete sequence ends the input: what came
 * before it in the chunk is returned, it and what follows are not.
 */
export class EscapeProxy {
  private pos = 0;
  private done = false;

  constructor(private readonly keys: Uint8Array = DEFAULT_DETACH_KEYS) {}

  /** True once the sequence was typed. */
  get detached(): boolean {
    return this.done;
  }

  /** How many bytes of a possible sequence are held back. */
  get pending(): number {
    return this.pos;
  }

  feed(chunk: Uint8Array): { data: Buffer; detached: boolean } {
    if (this.done) return { data: Buffer.alloc(0), detached: true };
    if (this.keys.length === 0) return { data: Buffer.from(chunk), detached: false };
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.pos]) {
        this.pos++;
        if (this.pos === this.keys.length) {
          this.done = true;
          this.pos = 0;
          return { data: Buffer.from(out), detached: true };
        }
        continue;
      }
      for (let i = 0; i < this.pos; i++) out.push(this.keys[i]!);
      this.pos = 0;
      out.push(b);
    }
    return { data: Buffer.from(out), detached: false };
  }
}

type RawCapable = Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown; isRaw?: boolean };

/** A terminal in raw mode; restore() (idempotent) puts it back, also on process exit. */
export interface RawTerminal {
  restore(): void;
}

/** Puts `input` into raw mode if it is a terminal (a no-op otherwise). */
export function setRawTerminal(input: Readable): RawTerminal {
  const tty = input as RawCapable;
  if (!tty.isTTY || typeof tty.setRawMode !== "function") return { restore: () => {} };
  const wasRaw = tty.isRaw === true;
  tty.setRawMode(true);
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    process.off("exit", restore);
    try {
      tty.setRawMode!(wasRaw);
    } catch {
      // the terminal is gone
    }
  };
  process.on("exit", restore);
  return { restore };
}

/** The size of a terminal output stream, [rows, columns]; [0, 0] when it is not a terminal. */
export function ttySize(out: Writable | NodeJS.WriteStream | undefined): [number, number] {
  const ws = out as (NodeJS.WriteStream & { isTTY?: boolean }) | undefined;
  if (!ws?.isTTY) return [0, 0];
  const size = typeof ws.getWindowSize === "function" ? ws.getWindowSize() : [ws.columns ?? 0, ws.rows ?? 0];
  return [size[1] ?? 0, size[0] ?? 0];
}

/** True when `s` is a terminal. */
export function isTerminal(s: unknown): boolean {
  return (s as { isTTY?: boolean } | undefined)?.isTTY === true;
}

/**
 * Calls `resize(rows, cols)` now and whenever the terminal changes size
 * (SIGWINCH); returns the function that stops watching.
 */
export function monitorTtySize(out: Writable | NodeJS.WriteStream, resize: (rows: number, cols: number) => Promise<void> | void): () => void {
  const fire = (): void => {
    const [rows, cols] = ttySize(out);
    if (rows === 0 && cols === 0) return;
    void Promise.resolve()
      .then(() => resize(rows, cols))
      .catch(() => {});
  };
  fire();
  const onWinch = (): void => fire();
  process.on("SIGWINCH", onWinch);
  return () => {
    process.off("SIGWINCH", onWinch);
  };
}

/**
 * The signals docker's CLI forwards with --sig-proxy (it catches them all;
 * SIGCHLD, SIGPIPE and SIGURG are skipped there too). Node cannot catch
 * SIGKILL/SIGSTOP, reserves SIGUSR1 for its inspector, and SIGWINCH is
 * kept for resizes.
 */
export const PROXIED_SIGNALS: NodeJS.Signals[] = [
  "SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR2", "SIGALRM", "SIGTERM", "SIGCONT", "SIGTSTP", "SIGTTIN", "SIGTTOU",
  "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGIO", "SIGPWR", "SIGSYS", "SIGTRAP", "SIGABRT",
];

/**
 * Forwards the signals this process receives to `send(name)` ("INT",
 * "TERM", ...: the names the kill endpoint takes, as docker sends them)
 * until the returned function is called. While installed, the signals do
 * not end this process: the container decides.
 */
export function forwardSignals(send: (signal: string) => Promise<unknown> | void): () => void {
  const handlers = new Map<NodeJS.Signals, () => void>();
  for (const sig of PROXIED_SIGNALS) {
    const handler = (): void => {
      void Promise.resolve()
        .then(() => send(sig.slice(3)))
        .catch(() => {});
    };
    try {
      process.on(sig, handler);
      handlers.set(sig, handler);
    } catch {
      // not available on this platform
    }
  }
  return () => {
    for (const [sig, handler] of handlers) process.off(sig, handler);
    handlers.clear();
  };
}

export interface StreamIOOptions {
  conn: HijackedConnection;
  /** The container (or exec) has a TTY: output is raw, input goes through raw mode and the escape proxy. */
  tty: boolean;
  /** Attached stdin, when the session takes input. */
  stdin?: Readable;
  /** Where stdout (and, with a TTY, everything) goes; absent: not attached. */
  stdout?: Writable;
  /** Where stderr goes without a TTY; absent: not attached. */
  stderr?: Writable;
  /** The detach sequence (moby/term syntax); the default when unset or invalid. */
  detachKeys?: string;
  /** Receives warnings (an invalid --detach-keys). */
  warn?: (text: string) => void;
  /** Ends the session early (run: the container exited without attached output). */
  signal?: AbortSignal;
}

export interface StreamIOResult {
  /** The user typed the detach sequence. */
  detached: boolean;
}

/**
 * docker's hijackedIOStreamer.stream: copies stdin to the connection and
 * the connection to stdout/stderr until the output ends, the detach keys
 * are typed, or (input ended and nothing is attached to output) the input
 * is done. The terminal is restored and stdin released before it resolves.
 * Output errors reject, after the cleanup.
 */
export async function streamIO(options: StreamIOOptions): Promise<StreamIOResult> {
  const { conn, tty, stdin, stdout, stderr } = options;
  const useEscape = stdin !== undefined && tty;
  const raw = useEscape ? setRawTerminal(stdin) : { restore: () => {} };
  const escape = useEscape ? new EscapeProxy(detachKeysOrDefault(options.detachKeys, options.warn)) : undefined;
  const hasOutput = stdout !== undefined || stderr !== undefined;

  let cleanupInput = (): void => {};
  const inputDone = new Promise<"input" | "detached">((resolve) => {
    if (!stdin) {
      conn.closeWrite();
      resolve("input");
      return;
    }
    let finished = false;
    const finish = (why: "input" | "detached"): void => {
      if (finished) return;
      finished = true;
      cleanupInput();
      raw.restore();
      if (why === "input") conn.closeWrite();
      resolve(why);
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      if (escape) {
        const r = escape.feed(bytes);
        if (r.data.length > 0) conn.write(r.data);
        if (r.detached) finish("detached");
        return;
      }
      if (!conn.write(bytes)) {
        stdin.pause();
        conn.socket.once("drain", () => {
          if (!finished) stdin.resume();
        });
      }
    };
    const onEnd = (): void => finish("input");
    cleanupInput = () => {
      stdin.off("data", onData);
      stdin.off("end", onEnd);
      stdin.off("error", onEnd);
      stdin.pause();
    };
    stdin.on("data", onData);
    stdin.on("end", onEnd);
    stdin.on("error", onEnd);
    stdin.resume();
  });

  const outputDone: Promise<"output"> = hasOutput
    ? (tty ? copyRaw(conn.reader, stdout) : demuxTo(conn.reader, stdout, stderr)).then(
        () => "output" as const,
        (err: unknown) => {
          throw err;
        },
      )
    : new Promise<"output">(() => {});

  const aborted = new Promise<"aborted">((resolve) => {
    if (!options.signal) return;
    if (options.signal.aborted) resolve("aborted");
    else options.signal.addEventListener("abort", () => resolve("aborted"), { once: true });
  });

  try {
    let first = await Promise.race([outputDone, inputDone, aborted]);
    if (first === "input" && hasOutput) first = await Promise.race([outputDone, aborted]);
    return { detached: first === "detached" };
  } finally {
    cleanupInput();
    raw.restore();
    outputDone.catch(() => {});
    conn.close();
  }
}
