/**
 * One HTTP/1.1 exchange written and read by hand over a unix socket, for
 * the client's requests whose whole answer is read at once (the ping, JSON
 * answers). node:http costs a short command more than the exchange itself
 * (its modules, the parser, the request and response streams: ~4 ms of
 * `hako version`); the streams, uploads and hijacks still go through it.
 *
 * The request is byte for byte what node:http sends for the same options
 * (no agent, host "hako"): the caller's headers, `Host: hako:80`,
 * `Connection: close`, and `Content-Length: 0` for a bodiless method that
 * node sends chunked. Errors read as node:http's: the connection's own
 * before the answer, "socket hang up" (ECONNRESET) when it closes before
 * the headers, "aborted" (ECONNRESET) when it closes inside the body.
 *
 * A hijack (attach, exec start) is the same exchange with `Connection:
 * Upgrade` and `Upgrade: tcp`: on 101 (or an old daemon's 2xx) the
 * connection is handed over as it is, bytes read past the headers put back.
 */
import { connect, type Socket } from "node:net";

export interface RawResponse {
  statusCode: number;
  statusMessage: string;
  /** Lower-case names, repeated headers joined as node:http joins them. */
  headers: Record<string, string | string[]>;
  /** The whole body: rejects with node:http's "aborted" when the connection ends inside it. */
  body: Promise<Buffer>;
  /** With `upgrade`, on 101 or 2xx: the connection, paused, for raw bytes both ways (body is then empty). */
  socket?: Socket;
}

export interface RawRequestOptions {
  /** Aborting destroys the connection; the request (or the body still coming) rejects with an AbortError. */
  signal?: AbortSignal;
  /** Ask to take the connection over (hijack) instead of closing it after the answer. */
  upgrade?: boolean;
}

/** node:http's rules: a path with these characters is refused, so is a header value with these. */
const INVALID_PATH = /[^\u0021-\u00ff]/;
const INVALID_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const INVALID_HEADER_NAME = /[^^_`a-zA-Z\-0-9!#$%&'*+.|~]/;

/** Methods node:http sends without a body framing when none is given. */
const NO_DEFAULT_BODY = new Set(["GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"]);

/** Headers node:http keeps the first of when repeated (the rest it joins with ", "). */
const SINGLE = new Set([
  "age", "authorization", "content-length", "content-type", "etag", "expires", "from", "host",
  "if-modified-since", "if-unmodified-since", "last-modified", "location", "max-forwards",
  "proxy-authorization", "referer", "retry-after", "server", "user-agent",
]);

/**
 * Whether rawRequest sends exactly what node:http would for these: a valid
 * path and header set without the headers that change node's framing.
 */
export function rawRequestFits(method: string, path: string, headers: Record<string, string>): boolean {
  if (!/^[A-Z]+$/.test(method) || INVALID_PATH.test(path)) return false;
  for (const [name, value] of Object.entries(headers)) {
    if (name === "" || INVALID_HEADER_NAME.test(name) || INVALID_HEADER_VALUE.test(value)) return false;
    const lower = name.toLowerCase();
    if (lower === "host" || lower === "connection" || lower === "transfer-encoding" || lower === "expect" || lower === "upgrade") return false;
    if (lower === "content-length" && !/^\d+$/.test(value)) return false;
  }
  return true;
}

function connReset(message: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(message);
  err.code = "ECONNRESET";
  return err;
}

function abortError(): Error {
  const err = new Error("The operation was aborted") as Error & { code: string };
  err.name = "AbortError";
  err.code = "ABORT_ERR";
  return err;
}

function parseError(reason: string): Error {
  const err = new Error(`Parse Error: ${reason}`) as Error & { code: string };
  err.code = "HPE_INVALID_CONSTANT";
  return err;
}

/**
 * Sends one request on a new connection to the unix socket `socketPath`;
 * resolves once the status and headers are in (the body follows in
 * `body`). Check rawRequestFits first.
 */
export function rawRequest(
  socketPath: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  payload?: Buffer,
  options: RawRequestOptions = {},
): Promise<RawResponse> {
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let hasLength = false;
  for (const [name, value] of Object.entries(headers)) {
    head += `${name}: ${value}\r\n`;
    if (name.toLowerCase() === "content-length") hasLength = true;
  }
  head += options.upgrade ? "Host: hako:80\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n" : "Host: hako:80\r\nConnection: close\r\n";
  let body = payload;
  if (!hasLength && (payload !== undefined ? payload.length > 0 : !NO_DEFAULT_BODY.has(method))) {
    // node:http: end(data) without a length sets it from data; end() on a
    // method with a body sets Content-Length: 0.
    head += `Content-Length: ${payload?.length ?? 0}\r\n`;
  }
  if (body !== undefined && body.length === 0) body = undefined;
  head += "\r\n";

  const { signal, upgrade = false } = options;
  if (signal?.aborted) return Promise.reject(abortError());
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let buf: Buffer = Buffer.alloc(0);
    let response: RawResponse | undefined;
    let settleBody: ((b: Buffer) => void) | undefined;
    let failBody: ((err: Error) => void) | undefined;
    const parts: Buffer[] = [];
    // Body framing, once the headers are in.
    let mode: "length" | "chunked" | "close" | "none" = "none";
    let remaining = 0;
    let chunkState: "size" | "data" | "crlf" | "trailer" = "size";
    let done = false;

    const onAbort = (): void => fail(abortError());
    signal?.addEventListener("abort", onAbort, { once: true });
    const finish = (): void => {
      done = true;
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      settleBody?.(Buffer.concat(parts));
    };
    const fail = (err: Error): void => {
      if (done) return;
      done = true;
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      if (response) failBody?.(err);
      else reject(err);
    };
    // The connection goes to the caller as it is: paused (nothing read is
    // lost before they listen), what came past the headers put back.
    const handOver = (): void => {
      done = true;
      signal?.removeEventListener("abort", onAbort);
      socket.pause();
      socket.removeListener("data", onData);
      socket.removeListener("end", onEnd);
      socket.removeListener("error", fail);
      socket.removeListener("close", onClose);
      if (buf.length > 0) socket.unshift(buf);
    };

    const readHeaders = (): boolean => {
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return false;
        const lines = buf.subarray(0, end).toString("latin1").split("\r\n");
        buf = buf.subarray(end + 4);
        const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? "");
        if (!m) {
          fail(parseError("Expected HTTP/, RTSP/ or ICE/"));
          return false;
        }
        const statusCode = Number(m[1]);
        // Informational answers (100 Continue) come before the real one.
        if (statusCode >= 100 && statusCode < 200 && statusCode !== 101) continue;
        const takenOver = upgrade && (statusCode === 101 || (statusCode >= 200 && statusCode < 300));
        const headersOut: Record<string, string | string[]> = {};
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(":");
          if (colon <= 0) continue;
          const name = line.slice(0, colon).trim().toLowerCase();
          const value = line.slice(colon + 1).trim();
          const prev = headersOut[name];
          if (prev === undefined) headersOut[name] = name === "set-cookie" ? [value] : value;
          else if (name === "set-cookie") (prev as string[]).push(value);
          else if (!SINGLE.has(name)) headersOut[name] = `${prev as string}, ${value}`;
        }
        if (takenOver) {
          handOver();
          resolve({ statusCode, statusMessage: m[2] ?? "", headers: headersOut, body: Promise.resolve(Buffer.alloc(0)), socket });
          return false;
        }
        const te = headersOut["transfer-encoding"];
        const cl = headersOut["content-length"];
        if (method === "HEAD" || statusCode === 204 || statusCode === 304) mode = "none";
        else if (typeof te === "string" && /(^|,)\s*chunked\s*$/i.test(te)) mode = "chunked";
        else if (typeof cl === "string") {
          mode = "length";
          remaining = Number(cl);
          if (!Number.isSafeInteger(remaining) || remaining < 0) {
            fail(parseError("Invalid character in Content-Length"));
            return false;
          }
        } else mode = "close";
        response = {
          statusCode,
          statusMessage: m[2] ?? "",
          headers: headersOut,
          body: new Promise<Buffer>((res, rej) => {
            settleBody = res;
            failBody = rej;
          }),
        };
        // A body nobody reads must not become an unhandled rejection.
        response.body.catch(() => undefined);
        resolve(response);
        return true;
      }
    };

    const readBody = (): void => {
      if (mode === "none") return finish();
      if (mode === "close") {
        if (buf.length) parts.push(buf);
        buf = Buffer.alloc(0);
        return;
      }
      if (mode === "length") {
        const take = Math.min(remaining, buf.length);
        if (take) parts.push(buf.subarray(0, take));
        remaining -= take;
        buf = buf.subarray(take);
        if (remaining === 0) finish();
        return;
      }
      for (;;) {
        if (chunkState === "size") {
          const nl = buf.indexOf("\r\n");
          if (nl < 0) return;
          const size = Number.parseInt(buf.subarray(0, nl).toString("latin1").split(";")[0]!.trim(), 16);
          if (!Number.isSafeInteger(size) || size < 0) return fail(parseError("Invalid character in chunk size"));
          buf = buf.subarray(nl + 2);
          if (size === 0) chunkState = "trailer";
          else {
            remaining = size;
            chunkState = "data";
          }
        } else if (chunkState === "data") {
          const take = Math.min(remaining, buf.length);
          if (take) parts.push(buf.subarray(0, take));
          remaining -= take;
          buf = buf.subarray(take);
          if (remaining > 0) return;
          chunkState = "crlf";
        } else if (chunkState === "crlf") {
          if (buf.length < 2) return;
          buf = buf.subarray(2);
          chunkState = "size";
        } else {
          // Trailers end with an empty line.
          const nl = buf.indexOf("\r\n");
          if (nl < 0) return;
          const empty = nl === 0;
          buf = buf.subarray(nl + 2);
          if (empty) return finish();
        }
      }
    };

    const onData = (chunk: Buffer): void => {
      if (done) return;
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (!response && !readHeaders()) return;
      if (!done) readBody();
    };
    const onEnd = (): void => {
      if (done) return;
      if (!response) return fail(connReset("socket hang up"));
      if (mode === "close") return finish();
      fail(connReset("aborted"));
    };
    const onClose = (): void => {
      if (done) return;
      fail(response ? connReset("aborted") : connReset("socket hang up"));
    };
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("error", fail);
    socket.on("close", onClose);
    socket.write(body ? Buffer.concat([Buffer.from(head, "latin1"), body]) : head, "latin1");
  });
}
