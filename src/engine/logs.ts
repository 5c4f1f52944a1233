/**
 * docker logs over the json-file the shim writes: one JSON object per line,
 * {"log","stream","time"}, rotated to <log>.1, <log>.2 … (oldest last).
 * Reads with tail/since/until, then follows the live file across rotations.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";

export interface LogEntry {
  stream: "stdout" | "stderr";
  /** RFC 3339 with nanoseconds, as written. */
  time: string;
  /** The line, with its newline when it had one. */
  log: string;
}

export interface LogReadOptions {
  stdout?: boolean;
  stderr?: boolean;
  /** Lines from the end; undefined or "all" for every line. */
  tail?: number;
  /** Unix seconds (fractions allowed): entries at or after. */
  since?: number;
  /** Unix seconds: entries at or before (when follow stops). */
  until?: number;
  /** The same instant exactly, in nanoseconds (the entries' own precision): entries at or before. */
  untilNanos?: bigint;
  follow?: boolean;
  signal?: AbortSignal;
  /** Follow stops once this resolves and the file has no more to give (the container exited). */
  stopped?: Promise<unknown>;
}

/** Nanoseconds since the epoch of unix seconds given as text ("1795532745.708970886"), exact. */
export function secondsTextToNanos(text: string): bigint {
  const m = /^(-?\d+)(?:\.(\d{1,9})\d*)?$/.exec(text.trim());
  if (!m) return BigInt(Math.round(Number(text) * 1e9));
  return BigInt(m[1]!) * 1_000_000_000n + BigInt((m[2] ?? "").padEnd(9, "0"));
}

/** Nanoseconds since the epoch of an entry's RFC 3339 timestamp, exact. */
function nanosOf(entry: LogEntry): bigint {
  const m = /^(.*?)(?:\.(\d{1,9}))?Z$/.exec(entry.time);
  if (!m) return BigInt(Date.parse(entry.time)) * 1_000_000n;
  return BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n + BigInt((m[2] ?? "").padEnd(9, "0"));
}

/** Seconds since the epoch of an RFC 3339 nanosecond timestamp, keeping sub-millisecond order. */
export function timeOf(entry: LogEntry): number {
  const m = /^(.*?)(?:\.(\d+))?Z$/.exec(entry.time);
  if (!m) return Date.parse(entry.time) / 1000;
  return Date.parse(`${m[1]}Z`) / 1000 + Number(`0.${m[2] ?? "0"}`);
}

function parseLine(line: string): LogEntry | undefined {
  try {
    const e = JSON.parse(line) as LogEntry;
    return typeof e.log === "string" ? e : undefined;
  } catch {
    return undefined; // a line cut by a crash
  }
}

/** The log files, oldest first: <log>.N … <log>.1, <log>. */
export function logFiles(logPath: string): string[] {
  const rotated: string[] = [];
  for (let i = 1; existsSync(`${logPath}.${i}`); i++) rotated.unshift(`${logPath}.${i}`);
  return existsSync(logPath) ? [...rotated, logPath] : rotated;
}

/** The lines of an open file from `start` up to byte `end` (exclusive), or to its end. */
function* linesOf(fd: number, start = 0, end = Infinity): Generator<string> {
  const decoder = new StringDecoder("utf8");
  const buf = Buffer.alloc(CHUNK);
  let rest = "";
  for (let at = start, n: number; at < end && (n = readSync(fd, buf, 0, Math.min(buf.length, end - at), at)) > 0; at += n) {
    rest += decoder.write(buf.subarray(0, n));
    let nl: number;
    while ((nl = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, nl);
      rest = rest.slice(nl + 1);
    }
  }
  rest += decoder.end();
  if (rest) yield rest;
}

/** The lines of a rotated file, gone meanwhile or not. */
function* linesOfFile(file: string): Generator<string> {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return;
  }
  try {
    yield* linesOf(fd);
  } finally {
    closeSync(fd);
  }
}

function wanted(e: LogEntry, o: LogReadOptions): boolean {
  if (e.stream === "stdout" && o.stdout === false) return false;
  if (e.stream === "stderr" && o.stderr === false) return false;
  if (o.since !== undefined && timeOf(e) < o.since) return false;
  // A line at `until` itself is shown (moby's After), compared to the nanosecond.
  const until = o.untilNanos ?? (o.until !== undefined ? BigInt(Math.round(o.until * 1e9)) : undefined);
  if (until !== undefined && nanosOf(e) > until) return false;
  return true;
}

/**
 * The live file, held open: a reader keeps what it opened even when the
 * container is removed or the shim rotates meanwhile (docker-py removes a
 * container before it reads the logs it asked to follow).
 */
class LiveLog {
  fd: number | undefined;
  ino = 0;

  constructor(private readonly path: string) {
    this.open();
  }

  /** Opens the file at the path when there is one; true when it is another file than the one held. */
  open(): boolean {
    let fd: number;
    try {
      fd = openSync(this.path, "r");
    } catch {
      return false;
    }
    const ino = fstatSync(fd).ino;
    if (this.fd !== undefined && ino === this.ino) {
      closeSync(fd);
      return false;
    }
    this.close();
    this.fd = fd;
    this.ino = ino;
    return true;
  }

  /** True when the path now names another file (a rotation) or a new one (the first write). */
  replaced(): boolean {
    try {
      return statSync(this.path).ino !== this.ino || this.fd === undefined;
    } catch {
      return false; // removed: what is held is all there will be
    }
  }

  size(): number {
    return this.fd === undefined ? 0 : fstatSync(this.fd).size;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * The entries of a container's log. With `tail`, only the last N wanted
 * entries of the existing files (kept in a ring, so memory is bounded by N).
 */
export async function* readLogs(logPath: string, options: LogReadOptions = {}): AsyncGenerator<LogEntry> {
  const tail = options.tail;
  const live = new LiveLog(logPath);
  try {
    const rotated = logFiles(logPath).filter((f) => f !== logPath);
    // Where the live file ends now, at a line's end: following continues from there.
    const offset = lineBoundary(live);
    const lines = function* (): Generator<string> {
      for (const file of rotated) yield* linesOfFile(file);
      // The live file only up to where following starts: what the process writes meanwhile comes once, from there.
      if (live.fd !== undefined) yield* linesOf(live.fd, 0, offset);
    };
    if (tail !== undefined && tail >= 0) {
      const ring: LogEntry[] = [];
      if (tail > 0) {
        for (const line of lines()) {
          const e = parseLine(line);
          if (!e || !wanted(e, options)) continue;
          ring.push(e);
          if (ring.length > tail) ring.shift();
        }
      }
      yield* ring;
    } else {
      for (const line of lines()) {
        const e = parseLine(line);
        if (e && wanted(e, options)) yield e;
      }
    }
    if (!options.follow) return;
    yield* follow(live, offset, options);
  } finally {
    live.close();
  }
}

const CHUNK = 256 * 1024;

/** The held file's size moved back to just after the last newline before it (a line being written is read by the follower, whole). */
function lineBoundary(live: LiveLog): number {
  const size = live.size();
  if (size === 0) return 0;
  const start = Math.max(0, size - 64 * 1024);
  const buf = Buffer.alloc(size - start);
  const n = readSync(live.fd!, buf, 0, buf.length, start);
  const nl = buf.subarray(0, n).lastIndexOf(0x0a);
  return nl < 0 ? start : start + nl + 1;
}

/**
 * Polls the held file from `offset`. A rotation is seen as a new file at the
 * path: the held one is read to its end first, then the new one from 0.
 */
async function* follow(live: LiveLog, offset: number, options: LogReadOptions): AsyncGenerator<LogEntry> {
  let stopped = false;
  let wake: (() => void) | undefined;
  void options.stopped?.then(() => {
    stopped = true;
    wake?.();
  });
  let rest = "";
  let decoder = new StringDecoder("utf8");
  const buf = Buffer.alloc(CHUNK);
  const drain = function* (): Generator<LogEntry, number> {
    if (live.fd === undefined) return 0;
    // Truncated in place (one file, no rotation): from its start again.
    if (live.size() < offset) offset = 0;
    let read = 0;
    let n: number;
    while ((n = readSync(live.fd, buf, 0, buf.length, offset)) > 0) {
      offset += n;
      read += n;
      rest += decoder.write(buf.subarray(0, n));
      let nl: number;
      while ((nl = rest.indexOf("\n")) >= 0) {
        const e = parseLine(rest.slice(0, nl));
        rest = rest.slice(nl + 1);
        if (e && wanted(e, options)) yield e;
      }
    }
    return read;
  };
  for (;;) {
    if (options.signal?.aborted) return;
    const wasStopped = stopped;
    let read = yield* drain();
    if (live.replaced()) {
      read += yield* drain(); // what was written to it before the switch
      if (live.open()) {
        offset = 0;
        rest = "";
        decoder = new StringDecoder("utf8");
        read += yield* drain();
      }
    }
    // Checked before reading: everything written before the exit has been read.
    if (wasStopped && read === 0) return;
    if (options.until !== undefined && Date.now() / 1000 >= options.until) return;
    await new Promise<void>((r) => {
      const t = setTimeout(r, 50);
      wake = () => {
        clearTimeout(t);
        r();
      };
    });
    wake = undefined;
  }
}
