/**
 * Writing API responses: the headers every answer carries, JSON bodies,
 * errors as Docker's ErrorResponse, and the JSON-message progress stream of
 * pull/push/load/build (moby's streamformatter: one object per line, flushed
 * as it is written; a failure after the 200 travels in-stream as errorDetail).
 */
import type { ServerResponse } from "node:http";
import { errorMessage } from "../common/errors.ts";
import type { JSONMessage } from "../spec/docker-api.ts";
import { errorResponse, httpStatusOf } from "./errors.ts";
import { API_VERSION, buildInfo } from "./version.ts";

/** Sets the headers dockerd's middlewares put on every response. */
export function setCommonHeaders(res: ServerResponse): void {
  res.setHeader("Api-Version", API_VERSION);
  res.setHeader("Ostype", "linux");
  res.setHeader("Server", `Docker/${buildInfo().version} (linux)`);
  res.setHeader("Docker-Experimental", "false");
}

/** A JSON body (Go's json.Encoder ends it with a newline; so do we). */
export function json(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(`${JSON.stringify(body)}\n`);
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json");
  res.setHeader("Content-Length", data.length);
  res.end(data);
}

/** 204 No Content (or another empty status). */
export function noContent(res: ServerResponse, status = 204): void {
  res.statusCode = status;
  res.end();
}

export function text(res: ServerResponse, status: number, body: string, contentType = "text/plain; charset=utf-8"): void {
  const data = Buffer.from(body);
  res.statusCode = status;
  res.setHeader("Content-Type", contentType);
  res.setHeader("Content-Length", data.length);
  res.end(data);
}

/** An error as its HTTP status and {"message": ...}. */
export function sendError(res: ServerResponse, err: unknown): void {
  json(res, httpStatusOf(err), errorResponse(err));
}

/**
 * A jsonmessage as it travels: the swagger's fields (src/spec/docker-api.ts)
 * plus the details moby's jsonmessage also knows (progress start and
 * units, timestamps).
 */
export type JsonMessage = JSONMessage & {
  progressDetail?: { current?: number; total?: number; start?: number; hidecounts?: boolean; units?: string };
  time?: number;
  timeNano?: number;
  from?: string;
};

/**
 * A JSON-message stream on a response: 200 and the headers go out at once,
 * then one object per line. Writes after the client went away are dropped.
 */
export class JsonMessageStream {
  private readonly res: ServerResponse;
  private ended = false;

  constructor(res: ServerResponse, contentType = "application/json") {
    this.res = res;
    if (!res.headersSent) {
      res.statusCode = 200;
      res.setHeader("Content-Type", contentType);
      res.flushHeaders();
    }
  }

  /** False once the stream was ended or the client disconnected. */
  get open(): boolean {
    return !this.ended && !this.res.destroyed && this.res.writable;
  }

  /** Writes one message; returns false when the client reads slower than we write (see drained()). */
  write(message: JsonMessage): boolean {
    return this.writeValue(message);
  }

  /** Writes any JSON value as one line (events, stats). */
  writeValue(value: unknown): boolean {
    if (!this.open) return false;
    return this.res.write(`${JSON.stringify(value)}\r\n`);
  }

  /** Resolves when the client has taken what was written (or is gone). */
  drained(): Promise<void> {
    if (!this.open || !this.res.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.res.off("drain", done);
        this.res.off("close", done);
        resolve();
      };
      this.res.on("drain", done);
      this.res.on("close", done);
    });
  }

  /** Reports a failure in-stream, the way dockerd does once the 200 is out. */
  error(err: unknown): void {
    const message = errorMessage(err);
    this.write({ errorDetail: { message }, error: message });
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.res.destroyed && !this.res.writableEnded) this.res.end();
  }
}
