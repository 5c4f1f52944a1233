/**
 * hako's client of the Engine API (node:http over the unix socket; the
 * ping and JSON answers by hand, http1.ts).
 * The address comes from -H, then $HAKO_HOST, then $DOCKER_HOST, else the
 * default socket — where, if nothing listens and the user named no
 * address, hakod is started in the background. The API version is
 * negotiated once through /_ping, as the docker CLI does.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { STATUS_CODES, request as httpRequest, type IncomingMessage, type RequestOptions as HttpRequestOptions } from "node:http";
import { connect } from "node:net";
import path from "node:path";
import { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { HakoError, InternalError, UnavailableError, errorMessage, isErrno } from "../common/errors.ts";
import { VERSION } from "../common/version.ts";
import { errorCodeForStatus } from "../api/errors.ts";
import { DEFAULT_HOST, parseHost, type HostAddress } from "../api/host.ts";
import { API_VERSION, MIN_API_VERSION, compareApiVersions } from "../api/version.ts";
import type { JsonMessage } from "../api/response.ts";
import { DEFAULT_DATA_ROOT } from "../daemon/config.ts";
import { openHijack, socketConnection, type HijackedConnection } from "./hijack.ts";
import { rawRequest, rawRequestFits } from "./http1.ts";

/** An error answer of the daemon: its HTTP status and its message. */
/** The headers and bytes of a request with a Buffer or JSON body (streams go elsewhere). */
function requestBody(options: RequestOptions): { headers: Record<string, string>; payload: Buffer | undefined } {
  const headers: Record<string, string> = { "User-Agent": `hako-cli/${VERSION} (linux)`, ...options.headers };
  let payload: Buffer | undefined;
  if (Buffer.isBuffer(options.body)) payload = options.body;
  else if (options.body !== undefined && !(options.body instanceof Readable)) {
    payload = Buffer.from(JSON.stringify(options.body));
    headers["Content-Type"] ??= "application/json";
  }
  return { headers, payload };
}

export class ApiError extends HakoError {
  readonly status: number;

  constructor(status: number, message: string) {
    super(errorCodeForStatus(status), message);
    this.status = status;
  }
}

/** Nothing answers at the daemon's address (or we may not connect to it). */
export class DaemonUnreachableError extends UnavailableError {
  readonly host: string;

  constructor(host: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.host = host;
  }
}

/** One jsonmessage of a progress stream (pull, push, load, build). */
export type { JsonMessage };

export interface PingResult {
  apiVersion: string;
  osType: string;
  experimental: boolean;
  builderVersion?: string;
  swarm?: string;
}

export type QueryValue = string | number | boolean | undefined | null | readonly string[];

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  /** A JSON value (sent as application/json), or raw bytes / a stream. */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface ClientOptions {
  /** -H/--host; an address given here (or in the environment) is never autostarted. */
  host?: string;
  env?: NodeJS.ProcessEnv;
  /** Start hakod when the default socket has nobody behind it (default true). */
  autostart?: boolean;
  /** Where notices go (autostart's). */
  notice?: (text: string) => void;
}

const DAEMON_START_TIMEOUT_MS = 5000;

/** The address the client will use and whether the user chose it. */
export function resolveHost(options: Pick<ClientOptions, "host" | "env"> = {}): { address: HostAddress; explicit: boolean } {
  const env = options.env ?? process.env;
  const chosen = options.host ?? (env.HAKO_HOST || undefined) ?? (env.DOCKER_HOST || undefined);
  return { address: parseHost(chosen ?? DEFAULT_HOST), explicit: chosen !== undefined };
}

export class ApiClient {
  readonly host: HostAddress;
  /** True when the address came from -H or the environment. */
  readonly explicitHost: boolean;
  private autostart: boolean;
  private readonly notice: (text: string) => void;
  private negotiated: Promise<string> | undefined;

  constructor(options: ClientOptions = {}) {
    const { address, explicit } = resolveHost(options);
    this.host = address;
    this.explicitHost = explicit;
    this.autostart = options.autostart ?? true;
    this.notice = options.notice ?? ((t) => void process.stderr.write(t));
  }

  /** No daemon is to be started any more (the command gave up before needing one). */
  giveUpAutostart(): void {
    this.autostart = false;
  }

  /** The API version requests are sent at, once negotiated. */
  async apiVersion(): Promise<string> {
    this.negotiated ??= this.negotiate();
    return this.negotiated;
  }

  /** HEAD /_ping (GET when HEAD is refused): the daemon's headers. */
  async ping(): Promise<PingResult> {
    let res = await this.exchange("HEAD", "/_ping", {});
    if (res.statusCode >= 400 && res.statusCode !== 500) res = await this.exchange("GET", "/_ping", {});
    const h = res.headers;
    const str = (name: string): string | undefined => {
      const v = h[name];
      return Array.isArray(v) ? v[0] : v;
    };
    return {
      apiVersion: str("api-version") ?? "",
      osType: str("ostype") ?? "",
      experimental: str("docker-experimental") === "true",
      builderVersion: str("builder-version"),
      swarm: str("swarm"),
    };
  }

  private async negotiate(): Promise<string> {
    let ping: PingResult;
    try {
      ping = await this.ping();
    } catch (err) {
      if (!(err instanceof DaemonUnreachableError) || !this.mayAutostart(err)) throw err;
      await this.startDaemon();
      ping = await this.ping();
    }
    // No header: a daemon too old to say; the docker CLI then assumes 1.24.
    const server = ping.apiVersion || MIN_API_VERSION;
    return compareApiVersions(server, API_VERSION) < 0 ? server : API_VERSION;
  }

  /**
   * A request at the negotiated version; resolves with the response once
   * its status is known. Statuses >= 400 throw ApiError with the daemon's message.
   */
  async request(method: string, apiPath: string, options: RequestOptions = {}): Promise<IncomingMessage> {
    const version = await this.apiVersion();
    const res = await this.send(method, `/v${version}${apiPath}${queryString(options.query)}`, options);
    const status = res.statusCode ?? 0;
    if (status >= 400) throw await apiErrorOf(res);
    return res;
  }

  /**
   * A request whose answer is read whole: resolves once the status and
   * headers are in, the body following in `body`. Statuses >= 400 throw
   * ApiError, as request() does.
   */
  async call(method: string, apiPath: string, options: RequestOptions = {}): Promise<Exchange> {
    const version = await this.apiVersion();
    const res = await this.exchange(method, `/v${version}${apiPath}${queryString(options.query)}`, options);
    if (res.statusCode >= 400) throw await apiErrorFrom(res.statusCode, res.body);
    return res;
  }

  /** A request whose answer is JSON (or nothing: 204 gives undefined). */
  async json<T = unknown>(method: string, apiPath: string, options: RequestOptions = {}): Promise<T> {
    const body = await (await this.call(method, apiPath, options)).body;
    if (body.length === 0) return undefined as T;
    try {
      return JSON.parse(body.toString("utf8")) as T;
    } catch (err) {
      throw new InternalError(`the daemon answered ${method} ${apiPath} with malformed JSON: ${(err as Error).message}`, { cause: err });
    }
  }

  /** A request whose answer is a stream of JSON messages, one per line. */
  async *stream(method: string, apiPath: string, options: RequestOptions = {}): AsyncGenerator<JsonMessage> {
    const res = await this.request(method, apiPath, options);
    yield* readJsonLines<JsonMessage>(res);
  }

  /**
   * A hijacked request (attach, exec start): sent with `Connection: Upgrade`
   * and `Upgrade: tcp`; resolves with the raw connection once the daemon
   * answered 101 (or 200, as older daemons do). Error statuses throw
   * ApiError with the daemon's message, as request() does.
   */
  async hijack(method: string, apiPath: string, options: RequestOptions = {}): Promise<HijackedConnection> {
    const version = await this.apiVersion();
    const { headers, payload } = requestBody(options);
    const fullPath = `/v${version}${apiPath}${queryString(options.query)}`;
    if (this.host.proto === "unix" && rawRequestFits(method, fullPath, headers)) {
      let res;
      try {
        res = await rawRequest(this.host.path, method, fullPath, headers, payload, { upgrade: true, signal: options.signal });
      } catch (err) {
        throw this.connectError(err as NodeJS.ErrnoException);
      }
      if (!res.socket) throw await apiErrorFrom(res.statusCode, res.body);
      res.socket.setNoDelay(true);
      const type = res.headers["content-type"];
      return socketConnection(res.socket, Array.isArray(type) ? type[0] : type, res.statusCode === 101);
    }
    const target = this.target();
    let outcome;
    try {
      outcome = await openHijack({ ...target, method, path: fullPath, headers, signal: options.signal }, payload);
    } catch (err) {
      throw this.connectError(err as NodeJS.ErrnoException);
    }
    if (outcome.response) throw await apiErrorOf(outcome.response);
    return outcome.conn;
  }

  private mayAutostart(err: DaemonUnreachableError): boolean {
    const code = (err.cause as NodeJS.ErrnoException | undefined)?.code;
    return (
      this.autostart &&
      !this.explicitHost &&
      this.host.proto === "unix" &&
      (code === "ENOENT" || code === "ECONNREFUSED") &&
      process.getuid?.() === 0
    );
  }

  /** Starts hakod in its own session, logging to <data-root>/hakod.log, and waits for its ping. */
  private async startDaemon(): Promise<void> {
    const bin = hakodPath();
    mkdirSync(DEFAULT_DATA_ROOT, { recursive: true, mode: 0o711 });
    const logFile = path.join(DEFAULT_DATA_ROOT, "hakod.log");
    const fd = openSync(logFile, "a", 0o600);
    let exited: number | null | undefined;
    let pid: number | undefined;
    try {
      const child = spawn(process.execPath, [bin], { detached: true, stdio: ["ignore", fd, fd] });
      pid = child.pid;
      child.on("error", () => (exited = -1));
      child.on("exit", (code) => (exited = code));
      child.unref();
    } finally {
      closeSync(fd);
    }
    this.notice(`hako: started hakod (pid ${pid ?? "?"}, log ${logFile})\n`);
    const deadline = Date.now() + DAEMON_START_TIMEOUT_MS;
    let exitedAt: number | undefined;
    for (;;) {
      try {
        await this.ping();
        return;
      } catch (err) {
        if (!(err instanceof DaemonUnreachableError)) throw err;
      }
      // Another hako may have started one at the same moment: ours then
      // exits, theirs answers; give it a moment before giving up.
      if (exited !== undefined) exitedAt ??= Date.now();
      if (Date.now() > deadline || (exitedAt !== undefined && Date.now() - exitedAt > 1000)) {
        const why = exited !== undefined ? `hakod exited (status ${exited})` : "hakod did not answer in time";
        throw new DaemonUnreachableError(this.host.url, `${why}; see ${logFile}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * One HTTP exchange whose whole answer is wanted: status and headers,
   * then the body (whose failure is not a connection error, as with
   * node:http's response). By hand on a unix socket (http1.ts), else
   * through send().
   */
  private async exchange(method: string, fullPath: string, options: RequestOptions): Promise<Exchange> {
    const host = this.host;
    if (host.proto === "unix" && !(options.body instanceof Readable)) {
      const { headers, payload } = requestBody(options);
      if (payload !== undefined) headers["Content-Length"] = String(payload.length);
      if (rawRequestFits(method, fullPath, headers)) {
        try {
          const res = await rawRequest(host.path, method, fullPath, headers, payload, { signal: options.signal });
          return { statusCode: res.statusCode, headers: res.headers, body: res.body };
        } catch (err) {
          throw this.connectError(err as NodeJS.ErrnoException);
        }
      }
    }
    const res = await this.send(method, fullPath, options);
    const body = readAll(res);
    body.catch(() => undefined);
    return { statusCode: res.statusCode ?? 0, headers: res.headers, body };
  }

  /** One HTTP exchange on the daemon's address; connection failures become DaemonUnreachableError. */
  private send(method: string, fullPath: string, options: RequestOptions): Promise<IncomingMessage> {
    const headers: Record<string, string> = { "User-Agent": `hako-cli/${VERSION} (linux)`, ...options.headers };
    let payload: Buffer | Readable | undefined;
    if (options.body instanceof Readable) payload = options.body;
    else if (Buffer.isBuffer(options.body)) payload = options.body;
    else if (options.body !== undefined) {
      payload = Buffer.from(JSON.stringify(options.body));
      headers["Content-Type"] ??= "application/json";
    }
    if (Buffer.isBuffer(payload)) headers["Content-Length"] = String(payload.length);
    const target = this.target();
    return new Promise((resolve, reject) => {
      const req = httpRequest({ ...target, method, path: fullPath, headers, signal: options.signal }, resolve);
      req.on("error", (err: NodeJS.ErrnoException) => reject(this.connectError(err)));
      if (payload instanceof Readable) payload.pipe(req);
      else req.end(payload);
    });
  }

  /**
   * Where a request goes. Each request has a connection of its own and no
   * agent: an agent's TLS servername check compiles node's IPv6 regex,
   * 5 ms of a short command's start-up.
   */
  private target(): HttpRequestOptions {
    const host = this.host;
    if (host.proto === "unix") return { createConnection: () => connect(host.path), host: "hako" };
    return { host: host.host, port: host.port, agent: false };
  }

  private connectError(err: NodeJS.ErrnoException): Error {
    if (err.name === "AbortError") return err;
    const url = this.host.url;
    if (isErrno(err, "ENOENT") || isErrno(err, "ECONNREFUSED")) {
      return new DaemonUnreachableError(url, `Cannot connect to the hako daemon at ${url}. Is the daemon running?`, { cause: err });
    }
    if (isErrno(err, "EACCES") || isErrno(err, "EPERM")) {
      return new DaemonUnreachableError(
        url,
        `permission denied while trying to connect to the hako daemon socket at ${url}: ${err.message}`,
        { cause: err },
      );
    }
    if (isErrno(err, "ECONNRESET") || isErrno(err, "EPIPE")) {
      return new DaemonUnreachableError(url, `the hako daemon at ${url} closed the connection: ${err.message}`, { cause: err });
    }
    return new DaemonUnreachableError(url, `error during connect to ${url}: ${errorMessage(err)}`, { cause: err });
  }
}

/** dist/hakod.cjs next to this bundle (or the checkout's, when run from source). */
export function hakodPath(): string {
  const candidates = [path.resolve(__dirname, "hakod.cjs"), path.resolve(__dirname, "../../dist/hakod.cjs")];
  for (const c of candidates) if (existsSync(c)) return c;
  throw new InternalError(`hakod was not found (looked in ${candidates.join(", ")}); run npm run build`);
}

function queryString(query: RequestOptions["query"]): string {
  if (!query) return "";
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const item of v) q.append(k, item);
    else if (typeof v === "boolean") q.set(k, v ? "1" : "0");
    else q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The headers and body of an exchange whose answer is read whole. */
export interface Exchange {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Promise<Buffer>;
}

function apiErrorOf(res: IncomingMessage): Promise<ApiError> {
  return apiErrorFrom(res.statusCode ?? 0, readAll(res));
}

async function apiErrorFrom(status: number, answer: Promise<Buffer>): Promise<ApiError> {
  let message = "";
  try {
    const body = (await answer).toString("utf8").trim();
    message = body;
    if (body.startsWith("{")) {
      const parsed = JSON.parse(body) as { message?: unknown };
      if (typeof parsed.message === "string") message = parsed.message;
    }
  } catch {
    // keep what we have
  }
  if (message === "") message = `${status} ${STATUS_CODES[status] ?? ""}`.trim();
  return new ApiError(status, message);
}

/** Parses a body of JSON values, one per line (blank lines and \r ignored). */
export async function* readJsonLines<T>(body: AsyncIterable<Buffer | string>): AsyncGenerator<T> {
  let pending = "";
  const decoder = new StringDecoder("utf8");
  const parse = (line: string): T => {
    try {
      return JSON.parse(line) as T;
    } catch (err) {
      throw new InternalError(`malformed message in the daemon's stream: ${JSON.stringify(line.slice(0, 200))}`, { cause: err });
    }
  };
  for await (const chunk of body) {
    pending += typeof chunk === "string" ? chunk : decoder.write(chunk);
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line) yield parse(line);
    }
  }
  const last = (pending + decoder.end()).trim();
  if (last) yield parse(last);
}
