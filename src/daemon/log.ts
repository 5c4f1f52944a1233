/**
 * hakod's log: one line per event on stderr in logfmt, the way dockerd
 * (logrus) writes it: time="..." level=info msg="..." key=value.
 */
import type { LogFields, Logger } from "../api/context.ts";

export type Level = "debug" | "info" | "warn" | "error" | "fatal";

export interface LogSink {
  write(line: string): void;
}

export class LogfmtLogger implements Logger {
  readonly debugEnabled: boolean;
  private readonly sink: LogSink;

  constructor(options: { debug?: boolean; sink?: LogSink } = {}) {
    this.debugEnabled = options.debug ?? false;
    this.sink = options.sink ?? { write: (line) => void process.stderr.write(line) };
  }

  debug(msg: string, fields?: LogFields): void {
    if (this.debugEnabled) this.emit("debug", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.emit("info", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.emit("warn", msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.emit("error", msg, fields);
  }
  fatal(msg: string, fields?: LogFields): void {
    this.emit("fatal", msg, fields);
  }

  private emit(level: Level, msg: string, fields?: LogFields): void {
    let line = `time=${quote(new Date().toISOString())} level=${level} msg=${quote(msg)}`;
    for (const [k, v] of Object.entries(fields ?? {})) {
      if (v === undefined) continue;
      line += ` ${k}=${quote(typeof v === "string" ? v : v instanceof Error ? v.message : JSON.stringify(v) ?? String(v))}`;
    }
    try {
      this.sink.write(`${line}\n`);
    } catch {
      // a closed stderr must not take the daemon down
    }
  }
}

/** logfmt quoting: bare when safe, else a JSON string. */
function quote(v: string): string {
  return v !== "" && /^[A-Za-z0-9_.\-/:@+,]+$/.test(v) ? v : JSON.stringify(v);
}
