/**
 * Reading request bodies with a size limit. Malformed JSON is the client's
 * error (400), a body over the limit is refused with 413 before it is read,
 * and fields hakod does not know are ignored, as dockerd ignores them.
 */
import type { IncomingMessage } from "node:http";
import { InvalidArgumentError } from "../common/errors.ts";
import { PayloadTooLargeError } from "./errors.ts";

/** The default limit of a JSON request body: 10 MiB. */
export const JSON_BODY_LIMIT = 10 << 20;

export interface ReadBodyOptions {
  /** Bytes; JSON_BODY_LIMIT by default. */
  limit?: number;
}

function tooLarge(limit: number, size?: number): PayloadTooLargeError {
  const what = size === undefined ? "request body" : `request body of ${size} bytes`;
  return new PayloadTooLargeError(`${what} is too large: the limit is ${limit} bytes`);
}

/**
 * How much of a refused body is still read (and dropped) before the
 * answer, so that a client still sending it reads a clean 413 instead of a
 * broken pipe. Beyond this the connection is closed after the answer.
 */
const DRAIN_LIMIT = 64 << 20;

/** Reads and drops the rest of `req`, up to DRAIN_LIMIT bytes (`seen` already read). */
function drain(req: IncomingMessage, seen: number): Promise<void> {
  return new Promise((resolve) => {
    let total = seen;
    const done = (): void => {
      req.off("data", onData);
      req.off("end", done);
      req.off("close", done);
      req.off("error", done);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > DRAIN_LIMIT) done();
    };
    if (req.complete) return resolve();
    req.on("data", onData);
    req.on("end", done);
    req.on("close", done);
    req.on("error", done);
    req.resume();
  });
}

/**
 * The whole body of `req`, at most `limit` bytes. A body over the limit is
 * refused with PayloadTooLargeError (413) after what remains of it was
 * drained, so the connection can answer.
 */
export async function readBody(req: IncomingMessage, options: ReadBodyOptions = {}): Promise<Buffer> {
  const limit = options.limit ?? JSON_BODY_LIMIT;
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) {
    await drain(req, 0);
    throw tooLarge(limit, Number(declared));
  }
  let overflowAt = -1;
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        chunks.length = 0;
        overflowAt = size;
        resolve(Buffer.alloc(0));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(new InvalidArgumentError(`reading the request body: ${err.message}`, { cause: err }));
    };
    const onClose = (): void => {
      if (req.complete) return;
      cleanup();
      reject(new InvalidArgumentError("the client closed the connection before sending the whole request body"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
  if (overflowAt >= 0) {
    await drain(req, overflowAt);
    throw tooLarge(limit);
  }
  return body;
}

export interface ReadJsonOptions extends ReadBodyOptions {
  /** An empty body yields undefined instead of an error. */
  optional?: boolean;
}

/**
 * The body parsed as JSON. The caller validates the fields it uses.
 *
 * @example const auth = await readJson<AuthConfig>(call.req);
 */
export async function readJson<T = unknown>(req: IncomingMessage, options: ReadJsonOptions & { optional: true }): Promise<T | undefined>;
export async function readJson<T = unknown>(req: IncomingMessage, options?: ReadJsonOptions): Promise<T>;
export async function readJson<T = unknown>(req: IncomingMessage, options: ReadJsonOptions = {}): Promise<T | undefined> {
  const body = await readBody(req, options);
  const textBody = body.toString("utf8");
  if (textBody.trim() === "") {
    if (options.optional) return undefined;
    throw new InvalidArgumentError("the request body is empty: a JSON object was expected");
  }
  try {
    return JSON.parse(textBody) as T;
  } catch (err) {
    throw new InvalidArgumentError(`invalid JSON in the request body: ${(err as Error).message}`, { cause: err });
  }
}

/** The body as a JSON object (not an array, string or null). */
export async function readJsonObject(req: IncomingMessage, options: ReadJsonOptions & { optional: true }): Promise<Record<string, unknown> | undefined>;
export async function readJsonObject(req: IncomingMessage, options?: ReadJsonOptions): Promise<Record<string, unknown>>;
export async function readJsonObject(req: IncomingMessage, options: ReadJsonOptions = {}): Promise<Record<string, unknown> | undefined> {
  const value = await readJson<unknown>(req, options);
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`the request body must be a JSON object, not ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}`);
  }
  return value as Record<string, unknown>;
}
