/**
 * The route table: method + path pattern → handler, with `{name}` for one
 * path segment and `{name:.*}` for the rest of the path up to a fixed
 * suffix (image names contain slashes: /images/localhost:5000/a/b/json
 * names "localhost:5000/a/b"). Paths may carry an API version prefix
 * (/v1.41/...), which is stripped and handed to the handler.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { InvalidArgumentError } from "../common/errors.ts";
import type { DaemonContext } from "./context.ts";
import { JsonMessageStream } from "./response.ts";
import { API_VERSION, MIN_API_VERSION, compareApiVersions } from "./version.ts";

export type Method = "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "OPTIONS";

/** What every handler, plain or upgrade, learns of its request. */
interface CallBase {
  readonly req: IncomingMessage;
  /** The `{name}` parts of the pattern, percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The API version of the request ("1.24" … "1.44"); 1.44 when the path has none. */
  readonly version: string;
  /** The path without its version prefix. */
  readonly path: string;
  readonly ctx: DaemonContext;
  /** Aborted when the client goes away before the response is complete. */
  readonly signal: AbortSignal;
}

/** What a handler receives for one request. */
export interface ApiCall extends CallBase {
  readonly res: ServerResponse;
  /**
   * Starts a JSON-message stream (200, headers sent now). Errors thrown by
   * the handler afterwards are written into it as errorDetail.
   */
  stream(contentType?: string): JsonMessageStream;
}

/** What an upgrade (hijack) handler receives: the raw socket after the request head. */
export interface UpgradeCall extends CallBase {
  readonly socket: Duplex;
  /** Bytes the client sent after the request head. */
  readonly head: Buffer;
  /**
   * Answers `101 UPGRADED` with Docker's headers (Connection: Upgrade,
   * Upgrade: tcp, the given Content-Type); from then on the socket carries
   * the raw stream. An error thrown before this call is answered as HTTP.
   */
  upgrade(contentType: string): void;
}

export type Handler = (call: ApiCall) => Promise<void> | void;
export type UpgradeHandler = (call: UpgradeCall) => Promise<void> | void;

interface Route<H> {
  method: Method;
  pattern: string;
  regex: RegExp;
  names: string[];
  handler: H;
}

export interface Match<H> {
  handler: H;
  params: Record<string, string>;
  pattern: string;
}

function compile(pattern: string): { regex: RegExp; names: string[] } {
  const names: string[] = [];
  let source = "";
  let rest = pattern;
  for (;;) {
    const open = rest.indexOf("{");
    if (open < 0) break;
    const close = rest.indexOf("}", open);
    if (close < 0) throw new Error(`route pattern ${pattern}: unclosed {`);
    source += escapeRegex(rest.slice(0, open));
    const [name, expr] = rest.slice(open + 1, close).split(":", 2) as [string, string | undefined];
    names.push(name);
    if (expr === undefined) source += "([^/]+)";
    else if (expr === ".*") source += "(.+)";
    else throw new Error(`route pattern ${pattern}: only {name} and {name:.*} are supported`);
    rest = rest.slice(close + 1);
  }
  source += escapeRegex(rest);
  return { regex: new RegExp(`^${source}$`), names };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

class Table<H> {
  private exact = new Map<string, Route<H>>();
  private patterns: Route<H>[] = [];

  add(method: Method, pattern: string, handler: H): void {
    if (!pattern.startsWith("/")) throw new Error(`route pattern ${pattern} must start with /`);
    const { regex, names } = compile(pattern);
    const route: Route<H> = { method, pattern, regex, names, handler };
    if (names.length === 0) {
      const key = `${method} ${pattern}`;
      if (this.exact.has(key)) throw new Error(`route ${key} registered twice`);
      this.exact.set(key, route);
    } else {
      if (this.patterns.some((r) => r.method === method && r.pattern === pattern)) throw new Error(`route ${method} ${pattern} registered twice`);
      this.patterns.push(route);
    }
  }

  // Fixed paths win over patterns (GET /images/json is not image "json"'s
  // inspect); patterns are tried in registration order.
  match(method: Method, path: string): Match<H> | undefined {
    const exact = this.exact.get(`${method} ${path}`);
    if (exact) return { handler: exact.handler, params: {}, pattern: exact.pattern };
    for (const route of this.patterns) {
      if (route.method !== method) continue;
      const m = route.regex.exec(path);
      if (!m) continue;
      const params: Record<string, string> = {};
      route.names.forEach((n, i) => (params[n] = m[i + 1]!));
      return { handler: route.handler, params, pattern: route.pattern };
    }
    return undefined;
  }
}

export class Router {
  private routes = new Table<Handler>();
  private upgrades = new Table<UpgradeHandler>();

  /**
   * Registers a handler; patterns are unversioned (the /vX.Y prefix is
   * handled for every route).
   *
   * @example router.add("GET", "/images/{name:.*}/json", inspectImage)
   */
  add(method: Method, pattern: string, handler: Handler): this {
    this.routes.add(method, pattern, handler);
    return this;
  }

  /**
   * Registers a handler for requests that ask to upgrade the connection
   * (`Connection: Upgrade`, `Upgrade: tcp`: attach, exec start). The same
   * path without upgrade headers reaches the handler registered with add().
   */
  addUpgrade(method: Method, pattern: string, handler: UpgradeHandler): this {
    this.upgrades.add(method, pattern, handler);
    return this;
  }

  /** The handler for a request; HEAD falls back to GET. */
  match(method: string, path: string): Match<Handler> | undefined {
    const m = method.toUpperCase() as Method;
    return this.routes.match(m, path) ?? (m === "HEAD" ? this.routes.match("GET", path) : undefined);
  }

  matchUpgrade(method: string, path: string): Match<UpgradeHandler> | undefined {
    return this.upgrades.match(method.toUpperCase() as Method, path);
  }
}

export interface VersionedPath {
  /** The path without the version prefix, percent-decoded. */
  path: string;
  /** The version the request is served at. */
  version: string;
  /** The version the path asked for, if any. */
  requested?: string;
}

/**
 * The path and query of a request target. Origin-form ("/a?b") is split by
 * hand: WHATWG URL parsing would read "//x" as a host.
 */
export function splitRequestTarget(target: string | undefined): { pathname: string; query: URLSearchParams } {
  let raw = target ?? "/";
  if (/^https?:\/\//i.test(raw)) {
    const u = new URL(raw);
    raw = `${u.pathname}${u.search}`;
  }
  const q = raw.indexOf("?");
  return { pathname: q < 0 ? raw : raw.slice(0, q), query: new URLSearchParams(q < 0 ? "" : raw.slice(q + 1)) };
}

const VERSION_PREFIX = /^\/v([0-9][0-9.]*)(\/.*)$/;

/**
 * Splits "/v1.41/containers/json" into the path and the version. No prefix
 * means the current version; a version newer than ours is served as ours
 * (lenient where dockerd refuses); one older than 1.24 is refused, with
 * dockerd's message.
 */
export function parseVersionedPath(rawPath: string): VersionedPath {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw new InvalidArgumentError(`malformed percent-encoding in the request path ${JSON.stringify(rawPath)}`);
  }
  const m = VERSION_PREFIX.exec(decoded);
  if (!m) return { path: decoded, version: API_VERSION };
  const requested = m[1]!;
  const path = m[2]!;
  if (compareApiVersions(requested, MIN_API_VERSION) < 0) {
    throw new InvalidArgumentError(
      `client version ${requested} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
  }
  const version = compareApiVersions(requested, API_VERSION) > 0 ? API_VERSION : requested;
  return { path, version, requested };
}
