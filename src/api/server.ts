/**
 * The Engine API over HTTP/1.1 (node:http): one listener per -H address,
 * the common headers on every answer, one wrapper around every handler so
 * a failing or disconnected request never takes the daemon down, and the
 * `upgrade` path for attach/exec hijacking.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Socket } from "node:net";
import { HakoError, NotFoundError, errorMessage, InvalidArgumentError } from "../common/errors.ts";
import type { DaemonContext } from "./context.ts";
import { errorResponse, httpStatusOf } from "./errors.ts";
import type { HostAddress } from "./host.ts";
import { JsonMessageStream, sendError, setCommonHeaders, noContent } from "./response.ts";
import { parseVersionedPath, splitRequestTarget, type ApiCall, type Router, type UpgradeCall } from "./router.ts";
import { API_VERSION, buildInfo } from "./version.ts";

/** How long a client may take to send the request head. */
const HEADERS_TIMEOUT_MS = 60_000;
/** How long an idle keep-alive connection stays open. */
const KEEP_ALIVE_TIMEOUT_MS = 60_000;

export class ApiServer {
  private readonly router: Router;
  private readonly ctx: DaemonContext;
  private readonly servers: http.Server[] = [];
  private readonly hijacked = new Set<Duplex>();

  constructor(router: Router, ctx: DaemonContext) {
    this.router = router;
    this.ctx = ctx;
  }

  /** Starts serving on `address`; resolves once it listens. Unix socket preparation (stale files, modes) is the caller's. */
  listen(address: HostAddress): Promise<http.Server> {
    const server = http.createServer({ keepAlive: true, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, requestTimeout: 0, headersTimeout: HEADERS_TIMEOUT_MS });
    // Pulls, event streams and attach sessions last as long as they last.
    server.requestTimeout = 0;
    server.timeout = 0;
    server.on("request", (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res));
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.handleUpgrade(req, socket, head));
    server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
      this.ctx.log.debug("bad request from a client", { error: err.message, code: err.code });
      if (socket.writable && !(socket as Socket).destroyed && err.code !== "ECONNRESET") {
        socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      } else {
        socket.destroy();
      }
    });
    server.on("connection", (socket: Socket) => {
      socket.on("error", (err) => this.ctx.log.debug("connection error", { error: err.message }));
    });
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once("error", onError);
      const ready = (): void => {
        server.off("error", onError);
        server.on("error", (err) => this.ctx.log.error("API listener failed", { error: err.message, addr: address.url }));
        this.servers.push(server);
        resolve(server);
      };
      if (address.proto === "unix") server.listen({ path: address.path }, ready);
      else server.listen({ host: address.host, port: address.port }, ready);
    });
  }

  /** Stops listening and drops every open connection (event streams, hijacked sessions included). */
  async close(): Promise<void> {
    await Promise.all(
      this.servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
    for (const socket of this.hijacked) socket.destroy();
    this.hijacked.clear();
    this.servers.length = 0;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    setCommonHeaders(res);
    const log = this.ctx.log;
    const started = process.hrtime.bigint();
    // Most handlers never look at the signal: it is made when one does.
    const gone = new ClientGone();
    req.on("error", (err) => log.debug("request stream error", { error: err.message }));
    res.on("error", (err) => log.debug("response stream error", { error: err.message }));
    res.on("close", () => {
      if (!res.writableFinished) gone.happened();
      if (log.debugEnabled) {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        log.debug("handled", { method: req.method, uri: req.url, status: res.statusCode, ms: Math.round(ms * 10) / 10, complete: res.writableFinished });
      }
    });
    if (log.debugEnabled) log.debug(`Calling ${req.method} ${req.url}`);

    let stream: JsonMessageStream | undefined;
    try {
      const url = splitRequestTarget(req.url);
      const { path, version } = parseVersionedPath(url.pathname);
      const match = this.router.match(req.method ?? "GET", path);
      if (!match) throw new NotFoundError("page not found");
      const call: ApiCall = {
        req,
        res,
        params: match.params,
        query: url.query,
        version,
        path,
        ctx: this.ctx,
        get signal() {
          return gone.signal;
        },
        stream: (contentType?: string) => (stream ??= new JsonMessageStream(res, contentType)),
      };
      await match.handler(call);
      if (stream) stream.end();
      else if (!res.headersSent) noContent(res, 200);
      else if (!res.writableEnded) res.end();
    } catch (err) {
      this.report(req, err, gone.hasHappened);
      if (gone.hasHappened || res.destroyed) return;
      if (stream) {
        stream.error(err);
        stream.end();
      } else if (!res.headersSent) {
        sendError(res, err);
      } else {
        // A raw body was half sent: the client can only learn of it by the connection closing.
        res.destroy();
      }
    }
  }

  private async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const log = this.ctx.log;
    socket.on("error", (err) => log.debug("hijacked connection error", { error: err.message }));
    this.hijacked.add(socket);
    const gone = new ClientGone();
    socket.on("close", () => {
      this.hijacked.delete(socket);
      gone.happened();
    });
    if (log.debugEnabled) log.debug(`Calling ${req.method} ${req.url} (upgrade)`);
    let upgraded = false;
    try {
      const url = splitRequestTarget(req.url);
      const { path, version } = parseVersionedPath(url.pathname);
      const match = this.router.matchUpgrade(req.method ?? "GET", path);
      if (!match) {
        if (this.router.match(req.method ?? "GET", path)) throw new InvalidArgumentError(`${req.method} ${path} does not support a connection upgrade`);
        throw new NotFoundError("page not found");
      }
      const call: UpgradeCall = {
        req,
        socket,
        head,
        params: match.params,
        query: url.query,
        version,
        path,
        ctx: this.ctx,
        get signal() {
          return gone.signal;
        },
        upgrade: (contentType: string) => {
          if (upgraded) return;
          upgraded = true;
          socket.write(
            rawHead(101, "UPGRADED", { "Content-Type": contentType, Connection: "Upgrade", Upgrade: req.headers.upgrade ?? "tcp" }),
          );
        },
      };
      await match.handler(call);
    } catch (err) {
      this.report(req, err, gone.hasHappened);
      if (gone.hasHappened) return;
      if (!upgraded && socket.writable) {
        const body = Buffer.from(`${JSON.stringify(errorResponse(err))}\n`);
        const status = httpStatusOf(err);
        socket.end(
          Buffer.concat([
            Buffer.from(rawHead(status, http.STATUS_CODES[status] ?? "Error", { "Content-Type": "application/json", "Content-Length": String(body.length), Connection: "close" })),
            body,
          ]),
        );
      } else {
        socket.destroy();
      }
    }
  }

  private report(req: IncomingMessage, err: unknown, aborted: boolean): void {
    const fields = { method: req.method, uri: req.url, error: errorMessage(err) };
    if (aborted) this.ctx.log.debug("request ended by the client", fields);
    else if (httpStatusOf(err) >= 500 && !(HakoError.is(err) && err.code === "ERR_NOT_IMPLEMENTED")) {
      this.ctx.log.error("handler failed", { ...fields, stack: err instanceof Error ? err.stack : undefined });
    } else this.ctx.log.debug("request refused", { ...fields, status: httpStatusOf(err) });
  }
}

/**
 * A request's client going away, as an AbortSignal for the handlers that
 * ask for one: the controller (and the error it aborts with) is made only
 * then, not for every request.
 */
class ClientGone {
  #aborter: AbortController | undefined;
  #happened = false;

  get hasHappened(): boolean {
    return this.#happened;
  }

  happened(): void {
    if (this.#happened) return;
    this.#happened = true;
    this.#aborter?.abort(new Error("the client closed the connection"));
  }

  get signal(): AbortSignal {
    if (!this.#aborter) {
      this.#aborter = new AbortController();
      if (this.#happened) this.#aborter.abort(new Error("the client closed the connection"));
    }
    return this.#aborter.signal;
  }
}

function rawHead(status: number, reason: string, headers: Record<string, string>): string {
  const all: Record<string, string> = {
    "Api-Version": API_VERSION,
    Ostype: "linux",
    Server: `Docker/${buildInfo().version} (linux)`,
    "Docker-Experimental": "false",
    ...headers,
  };
  return `HTTP/1.1 ${status} ${reason}\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;
}
