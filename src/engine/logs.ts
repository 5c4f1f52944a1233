/**
 * docker logs over the json-file the shim writes: one JSON object per line,
 * {"log","stream","time"}, rotated to <log>.1, <log>.2 … (oldest last).
 * Reads with tail/since/until, then follows the live file across rotations.
 */
import { closeSync, createReadStream, existsSync, openSync, readSync, statSync } from "node:fs";
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

/** The lines of a file, up to byte `end` (exclusive) when given. */
async function* linesOf(file: string, end?: number): AsyncGenerator<string> {
  if (end === 0) return;
  const decoder = new StringDecoder("utf8");
  let rest = "";
  for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024, ...(end !== undefined ? { end: end - 1 } : {}) })) {
    rest += decoder.write(chunk as Buffer);
    let nl: number;
    while ((nl = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, nl);
      rest = rest.slice(nl + 1);
    }
  }
  rest += decoder.end();
  if (rest) yield rest;
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
 * The entries of a container's log. With `tail`, only the last N wanted
 * entries of the existing files (kept in a ring, so memory is bounded by N).
 */
export async function* readLogs(logPath: string, options: LogReadOptions = {}): AsyncGenerator<LogEntry> {
  const tail = options.tail;
  const files = logFiles(logPath);
  // Where the live file ends now, at a line's end: following continues from there.
  const offset = lineBoundary(logPath, existsSync(logPath) ? statSync(logPath).size : 0);
  if (tail !== undefined && tail >= 0) {
    const ring: LogEntry[] = [];
    if (tail > 0) {
      for (const file of files) {
        for await (const line of linesOf(file, file === logPath ? offset : undefined)) {
          const e = parseLine(line);
          if (!e || !wanted(e, options)) continue;
          ring.push(e);
          if (ring.length > tail) ring.shift();
        }
      }
    }
    yield* ring;
  } else {
    for (const file of files) {
      // The live file only up to where following starts: what the process writes meanwhile comes once, from there.
      for await (const line of linesOf(file, file === logPath ? offset : undefined)) {
        const e = parseLine(line);
        if (e && wanted(e, options)) yield e;
      }
    }
  }
  if (!options.follow) return;
  yield* follow(logPath, offset, options);
}

/** `size` moved back to just after the last newline before it (a line being written is read by the follower, whole). */
function lineBoundary(file: string, size: number): number {
  if (size === 0) return 0;
  const start = Math.max(0, size - 64 * 1024);
  const buf = Buffer.alloc(size - start);
  const fd = openSync(file, "r");
  try {
    const n = readSync(fd, buf, 0, buf.length, start);
    const nl = buf.subarray(0, n).lastIndexOf(0x0a);
    return nl < 0 ? start : start + nl + 1;
  } finally {
    closeSync(fd);
  }
}

/** Polls the live file from `offset`; a rotation (the file shrank or changed inode) starts over at 0. */
async function* follow(logPath: string, offset: number, options: LogReadOptions): AsyncGenerator<LogEntry> {
  let stopped = false;
  void options.stopped?.then(() => {
    stopped = true;
  });
  let ino = existsSync(logPath) ? statSync(logPath).ino : 0;
  let rest = "";
  const decoder = new StringDecoder("utf8");
  const buf = Buffer.alloc(256 * 1024);
  for (;;) {
    if (options.signal?.aborted) return;
    const wasStopped = stopped;
    let st;
    try {
      st = statSync(logPath);
    } catch {
      st = undefined;
    }
    if (st && (st.ino !== ino || st.size < offset)) {
      ino = st.ino;
      offset = 0;
    }
    let read = 0;
    if (st && st.size > offset) {
      const fd = openSync(logPath, "r");
      try {
        let n: number;
        while ((n = readSync(fd, buf, 0, buf.length, offset)) > 0) {
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
      } finally {
        closeSync(fd);
      }
    }
    // Checked before reading: everything written before the exit has been read.
    if (wasStopped && read === 0) return;
    if (options.until !== undefined && Date.now() / 1000 >= options.until) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
