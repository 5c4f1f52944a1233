/**
 * A client of one registry host speaking the OCI distribution spec (v2 API):
 * manifests, blobs, uploads (monolithic, chunked, cross-repository mount),
 * with Docker's scheme selection and its two auth schemes (Bearer tokens from
 * a token server, per the distribution token spec; and Basic).
 *
 * Blobs are streamed both ways and never held in memory; every blob read is
 * verified against its digest while it streams.
 */
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { lookup } from "node:dns/promises";
import { createHash, type Hash } from "node:crypto";
import { Readable, Transform, pipeline, type TransformCallback } from "node:stream";
import {
  HakoError,
  InternalError,
  InvalidArgumentError,
  UnauthorizedError,
  UnavailableError,
  errorForHttpStatus,
} from "../../common/errors.ts";
import { VERSION } from "../../common/version.ts";
import { MediaType } from "../../spec/oci-image.ts";
import { DigestMismatchError } from "./errors.ts";
import { trustedCas } from "./trust.ts";

export type RegistryCredentials =
  | { username: string; password: string }
  /** an identity (refresh) token from a previous login; exchanged with an OAuth2 POST */
  | { identitytoken: string; username?: string };

export interface RegistryClientOptions {
  /** "host[:port]" as in an image reference: "localhost:5000", "registry-1.docker.io" ("docker.io" is mapped to it) */
  host: string;
  /** true: plain HTTP; false: HTTPS; unset: Docker's default (HTTP for loopback and `insecureRegistries`) */
  insecure?: boolean;
  /** Docker's `insecure-registries`: "host[:port]" entries or CIDRs (matched against the host's addresses) */
  insecureRegistries?: string[];
  credentials?: RegistryCredentials;
  userAgent?: string;
  /** socket idle timeout, ms (default 60 000) */
  timeoutMs?: number;
  /** extra TLS settings for HTTPS (ca, cert, key, rejectUnauthorized) */
  tls?: Pick<https.AgentOptions, "ca" | "cert" | "key" | "rejectUnauthorized">;
  /** the clock used for token lifetimes (tests) */
  now?: () => number;
  /** a v1 index (search): the host as named, Docker Hub's being index.docker.io rather than its registry */
  index?: boolean;
}

/** One repository of a v1 index search (registry.SearchResult, in its field order). */
export interface SearchResult {
  star_count: number;
  is_official: boolean;
  name: string;
  is_automated: boolean;
  description: string;
}

export interface ManifestResult {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export interface BlobReadOptions {
  /** expected size: more bytes than this, or fewer at the end, is an error */
  size?: number;
  /** resume at this offset (Range request); the stream yields the bytes from `start` on */
  start?: number;
  /**
   * With `start`: a hash already fed with the first `start` bytes, so the
   * digest is still verified. Without it a resumed stream is checked for size only.
   */
  hash?: Hash;
  signal?: AbortSignal;
}

export interface PushBlobOptions {
  /** PATCH chunks of this many bytes (chunked upload); default: one monolithic PUT */
  chunkSize?: number;
  /** called with the number of bytes sent so far */
  onProgress?: (bytes: number) => void;
  /** a repository on this registry that may already hold the blob (cross-repository mount) */
  mountFrom?: string;
  signal?: AbortSignal;
}

export interface PushBlobResult {
  digest: string;
  /** set when the registry mounted the blob from this repository instead of receiving it */
  mountedFrom?: string;
}

export interface PingResult {
  /** Docker-Distribution-API-Version, when the registry sends it */
  apiVersion?: string;
  /** the auth scheme the registry asked for, if any */
  auth?: "bearer" | "basic";
  /** whether our credentials (or an anonymous token) were accepted */
  authenticated: boolean;
}

/** The Accept list for manifests: OCI index and manifest, Docker list and schema 2. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaType.OciIndex,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.DockerManifest,
];

/** Docker's limit for manifests fetched from a registry. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const DOCKER_HUB_HOSTS = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;
const MIN_TOKEN_SECONDS = 60;
const TOKEN_MARGIN_MS = 5_000;

// ---------------------------------------------------------------------------
// names and digests

const REPO_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const HASHES: Record<string, { hex: number }> = { sha256: { hex: 64 }, sha512: { hex: 128 } };

export function isDigest(reference: string): boolean {
  return DIGEST_RE.test(reference);
}

function checkRepo(repo: string): void {
  if (!REPO_RE.test(repo) || repo.length > 255) throw new InvalidArgumentError(`invalid repository name: ${JSON.stringify(repo)}`);
}

function checkReference(reference: string): void {
  if (!TAG_RE.test(reference) && !isDigest(reference)) {
    throw new InvalidArgumentError(`invalid reference (tag or digest): ${JSON.stringify(reference)}`);
  }
}

/** Splits "sha256:<hex>" and checks that we can compute it. */
export function parseDigest(digest: string): { algorithm: string; hex: string } {
  const i = digest.indexOf(":");
  const algorithm = digest.slice(0, i);
  const hex = digest.slice(i + 1);
  const known = HASHES[algorithm];
  if (i < 0 || !known) throw new InvalidArgumentError(`unsupported digest algorithm: ${JSON.stringify(digest)}`);
  if (hex.length !== known.hex || !/^[a-f0-9]+$/.test(hex)) throw new InvalidArgumentError(`invalid digest: ${JSON.stringify(digest)}`);
  return { algorithm, hex };
}

/** "sha256:<hex>" of `bytes` (or another supported algorithm). */
export function digestOf(bytes: Buffer, algorithm = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}

/**
 * A pass-through that checks the digest (and the size, when known) of what
 * flows through it: the stream ends with an error instead of 'end' on a
 * mismatch. `skip` drops that many leading bytes from the output (they are
 * still hashed); `hash` continues a hash of bytes already seen (`offset` of them).
 */
export function createVerifier(
  digest: string,
  opts: { size?: number; skip?: number; hash?: Hash | null; offset?: number } = {},
): Transform {
  const { algorithm } = parseDigest(digest);
  const hash = opts.hash === null ? undefined : (opts.hash ?? createHash(algorithm));
  let seen = opts.offset ?? 0;
  let skip = opts.skip ?? 0;
  const size = opts.size;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (typeof chunk === "string") chunk = Buffer.from(chunk);
      seen += chunk.length;
      if (size !== undefined && seen > size) {
        cb(new DigestMismatchError(`blob ${digest} is larger than its expected size ${size}`, `${size}`, `>${size}`));
        return;
      }
      hash?.update(chunk);
      if (skip > 0) {
        const drop = Math.min(skip, chunk.length);
        skip -= drop;
        chunk = chunk.subarray(drop);
        if (chunk.length === 0) return cb();
      }
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      if (size !== undefined && seen !== size) {
        cb(new DigestMismatchError(`blob ${digest} is truncated: ${seen} of ${size} bytes`, `${size}`, `${seen}`));
        return;
      }
      if (hash) {
        const actual = `${algorithm}:${hash.digest("hex")}`;
        if (actual !== digest) {
          cb(new DigestMismatchError(`filesystem layer verification failed for digest ${digest} (got ${actual})`, digest, actual));
          return;
        }
      }
      cb();
    },
  });
}

// ---------------------------------------------------------------------------
// hosts and schemes

/** The host part of "host[:port]" ("[::1]:5000" → "::1"). */
export function hostnameOf(host: string): string {
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end > 0 ? host.slice(1, end) : host;
  }
  const colons = host.split(":").length - 1;
  if (colons === 1) return host.slice(0, host.indexOf(":"));
  return host; // no port, or a bare IPv6 address
}

function ipInCidr(ip: string, cidr: string): boolean {
  const slash = cidr.indexOf("/");
  if (slash < 0) return false;
  const base = cidr.slice(0, slash);
  const bits = Number(cidr.slice(slash + 1));
  const family = net.isIP(base);
  if (!family || net.isIP(ip) !== family || !Number.isInteger(bits)) return false;
  const list = new net.BlockList();
  try {
    list.addSubnet(base, bits, family === 4 ? "ipv4" : "ipv6");
  } catch {
    return false;
  }
  return list.check(ip, family === 4 ? "ipv4" : "ipv6");
}

function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === "localhost" || h === "::1" || (net.isIPv4(h) && h.startsWith("127."));
}

/**
 * Docker's choice between HTTP and HTTPS for a registry host: HTTP for
 * loopback hosts ("localhost", 127.0.0.0/8, ::1, any port) and for hosts in
 * `insecureRegistries` (exact "host[:port]", or a CIDR holding the host's IP;
 * names are resolved for CIDR entries, as Docker does).
 */
export async function isInsecureRegistry(host: string, insecureRegistries: readonly string[] = []): Promise<boolean> {
  const hostname = hostnameOf(host);
  if (isLoopback(hostname)) return true;
  const lower = host.toLowerCase();
  if (insecureRegistries.some((e) => !e.includes("/") && e.toLowerCase() === lower)) return true;
  const cidrs = insecureRegistries.filter((e) => e.includes("/"));
  if (cidrs.length === 0) return false;
  let addresses: string[] = [];
  if (net.isIP(hostname)) addresses = [hostname];
  else {
    try {
      addresses = (await lookup(hostname, { all: true })).map((a) => a.address);
    } catch {
      return false;
    }
  }
  return addresses.some((a) => isLoopback(a) || cidrs.some((c) => ipInCidr(a, c)));
}

// ---------------------------------------------------------------------------
// WWW-Authenticate

export interface Challenge {
  scheme: string; // lower case: "bearer", "basic"
  params: Record<string, string>;
}

/** Parses WWW-Authenticate values (RFC 7235: several challenges, quoted strings). */
export function parseWwwAuthenticate(values: string | string[] | undefined): Challenge[] {
  const out: Challenge[] = [];
  for (const value of Array.isArray(values) ? values : values ? [values] : []) {
    let i = 0;
    const s = value;
    const skipWs = () => {
      while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
    };
    const token = () => {
      const start = i;
      while (i < s.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z/]/.test(s[i]!)) i++;
      return s.slice(start, i);
    };
    let current: Challenge | undefined;
    while (i < s.length) {
      skipWs();
      if (s[i] === ",") {
        i++;
        continue;
      }
      const name = token();
      if (!name) {
        i++;
        continue;
      }
      skipWs();
      if (s[i] === "=" && current) {
        i++;
        skipWs();
        let v = "";
        if (s[i] === '"') {
          i++;
          while (i < s.length && s[i] !== '"') {
            if (s[i] === "\\" && i + 1 < s.length) i++;
            v += s[i++];
          }
          i++;
        } else {
          const vs = i;
          while (i < s.length && s[i] !== "," && s[i] !== " ") i++;
          v = s.slice(vs, i);
        }
        current.params[name.toLowerCase()] = v;
      } else if (s[i] === "=" && !current) {
        // a param without a scheme: ignore up to the next comma
        while (i < s.length && s[i] !== ",") i++;
      } else {
        current = { scheme: name.toLowerCase(), params: {} };
        out.push(current);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// registry errors

interface RegistryErrorBody {
  errors?: { code?: string; message?: string; detail?: unknown }[];
  details?: string;
  message?: string;
}

/** "MANIFEST_UNKNOWN" + "manifest unknown" → "manifest unknown: manifest unknown" (Docker's errcode text). */
function registryErrorText(body: string): string | undefined {
  let parsed: RegistryErrorBody;
  try {
    parsed = JSON.parse(body) as RegistryErrorBody;
  } catch {
    return undefined;
  }
  if (Array.isArray(parsed?.errors) && parsed.errors.length > 0) {
    return parsed.errors
      .map((e) => {
        const code = (e.code ?? "unknown").toLowerCase().replace(/_/g, " ");
        return e.message ? `${code}: ${e.message}` : code;
      })
      .join("; ");
  }
  if (typeof parsed?.details === "string") return parsed.details;
  if (typeof parsed?.message === "string") return parsed.message;
  return undefined;
}

// ---------------------------------------------------------------------------
// HTTP plumbing

export interface RegistryResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
  url: URL;
  /** whether an Authorization header went with the final request */
  authorized: boolean;
}

type Body = Buffer | Readable | (() => Readable);

interface SendOptions {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: Body;
  /** token scopes for this request ("repository:name:pull,push"); [] = no scope */
  scopes: string[];
  followRedirects?: boolean;
  signal?: AbortSignal;
}

function readBody(res: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (res.readableEnded) return resolve(Buffer.alloc(0));
    const chunks: Buffer[] = [];
    let n = 0;
    res.on("data", (c: Buffer) => {
      n += c.length;
      if (n > limit) {
        res.destroy();
        reject(new InvalidArgumentError(`response body larger than ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.once("end", () => resolve(Buffer.concat(chunks)));
    res.once("error", reject);
    res.once("aborted", () => reject(new UnavailableError("connection closed while reading the response")));
  });
}

function drain(res: http.IncomingMessage): void {
  res.on("error", () => {});
  res.resume();
}

function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function mediaTypeOf(headers: http.IncomingHttpHeaders): string | undefined {
  const ct = header(headers, "content-type");
  return ct?.split(";")[0]?.trim().toLowerCase() || undefined;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** `repository:<name>:pull` / `repository:<name>:pull,push`, as Docker asks for them. */
export function repositoryScope(repo: string, push = false): string {
  return `repository:${repo}:${push ? "pull,push" : "pull"}`;
}

export class RegistryClient {
  /** the host requests go to ("docker.io" becomes "registry-1.docker.io") */
  readonly host: string;
  private readonly opts: RegistryClientOptions;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly userAgent: string;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private base?: Promise<URL>;
  private challenge?: Challenge;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pendingTokens = new Map<string, Promise<string>>();

  constructor(opts: RegistryClientOptions) {
    if (!opts.host || /[\s/@]/.test(opts.host)) throw new InvalidArgumentError(`invalid registry host: ${JSON.stringify(opts.host)}`);
    this.opts = opts;
    this.host = DOCKER_HUB_HOSTS.has(opts.host.toLowerCase()) ? (opts.index ? "index.docker.io" : "registry-1.docker.io") : opts.host;
    this.userAgent = opts.userAgent ?? `hako/${VERSION}`;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.now = opts.now ?? Date.now;
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, ...trustedCas(), ...opts.tls });
  }

  /** The registry's base URL ("http://127.0.0.1:5000"), after scheme selection. */
  baseUrl(): Promise<URL> {
    this.base ??= (async () => {
      const insecure = this.opts.insecure ?? (await isInsecureRegistry(this.host, this.opts.insecureRegistries));
      return new URL(`${insecure ? "http" : "https"}://${this.host}`);
    })();
    return this.base;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  // ------------------------------------------------------------------ API

  /** GET /v2/: checks the registry is there and, with credentials, that they are accepted. */
  async ping(opts: { signal?: AbortSignal } = {}): Promise<PingResult> {
    const url = await this.url("/v2/");
    let res: RegistryResponse;
    try {
      res = await this.send({ method: "GET", url, scopes: [], signal: opts.signal });
    } catch (err) {
      if (err instanceof UnauthorizedError && !this.opts.credentials) {
        return { auth: this.challengeScheme(), authenticated: false };
      }
      throw err;
    }
    const apiVersion = header(res.headers, "docker-distribution-api-version");
    if (res.status === 200) {
      drain(res.body);
      return { ...(apiVersion ? { apiVersion } : {}), auth: this.challengeScheme(), authenticated: res.authorized };
    }
    if (res.status === 401 && !this.opts.credentials) {
      drain(res.body);
      return { ...(apiVersion ? { apiVersion } : {}), auth: this.challengeScheme(), authenticated: false };
    }
    throw await this.failure(res, `ping ${this.host}`);
  }

  /** GET /v1/search?q=&n=: a v1 index's repositories matching `term` (the client made with `index`). */
  async search(term: string, limit: number, opts: { signal?: AbortSignal } = {}): Promise<SearchResult[]> {
    const url = await this.url(`/v1/search?q=${encodeURIComponent(term)}&n=${limit}`);
    const res = await this.send({ method: "GET", url, headers: { "X-Docker-Token": "true" }, scopes: ["registry:catalog:search"], followRedirects: true, signal: opts.signal });
    if (res.status !== 200) {
      drain(res.body);
      // moby: an Unknown error (500) whatever the index answered.
      throw new InternalError(`Unexpected status code ${res.status}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse((await readBody(res.body, MAX_MANIFEST_BYTES)).toString("utf8"));
    } catch (err) {
      throw new InternalError(`error decoding registry search results: ${(err as Error).message}`, { cause: err });
    }
    const results = (parsed as { results?: unknown } | null)?.results;
    if (!Array.isArray(results)) throw new InternalError("error decoding registry search results: no results list");
    const entries = results.filter((r): r is Record<string, unknown> => typeof r === "object" && r !== null && !Array.isArray(r));
    return entries.map((r) => ({
      star_count: typeof r.star_count === "number" ? r.star_count : 0,
      is_official: r.is_official === true,
      name: typeof r.name === "string" ? r.name : "",
      is_automated: r.is_automated === true,
      description: typeof r.description === "string" ? r.description : "",
    }));
  }

  /** GET /v2/<repo>/tags/list, every page (the Link header's next), in the registry's order. */
  async listTags(repo: string, opts: { signal?: AbortSignal } = {}): Promise<string[]> {
    checkRepo(repo);
    const tags: string[] = [];
    let next: string | undefined = `/v2/${repo}/tags/list`;
    for (let page = 0; next !== undefined && page < 1000; page++) {
      const url: URL = await this.url(next);
      const res = await this.send({ method: "GET", url, scopes: [repositoryScope(repo)], followRedirects: true, signal: opts.signal });
      if (res.status !== 200) throw await this.failure(res, `${this.host}/${repo}`, `repository ${this.host}/${repo} not found`);
      let body: { tags?: unknown };
      try {
        body = JSON.parse((await readBody(res.body, MAX_MANIFEST_BYTES)).toString("utf8")) as { tags?: unknown };
      } catch (err) {
        throw new InternalError(`the tag list of ${this.host}/${repo} is not JSON: ${(err as Error).message}`, { cause: err });
      }
      for (const t of Array.isArray(body?.tags) ? body.tags : []) if (typeof t === "string" && TAG_RE.test(t)) tags.push(t);
      // Link: </v2/<repo>/tags/list?last=x&n=y>; rel="next"
      const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header(res.headers, "link") ?? "")?.[1];
      next = link ? new URL(link, url).pathname + new URL(link, url).search : undefined;
    }
    return tags;
  }

  /** Fetches a manifest (or index) and verifies it when `reference` is a digest. */
  async getManifest(repo: string, reference: string, accept: readonly string[] = MANIFEST_MEDIA_TYPES, opts: { signal?: AbortSignal } = {}): Promise<ManifestResult> {
    checkRepo(repo);
    checkReference(reference);
    const url = await this.url(`/v2/${repo}/manifests/${reference}`);
    const res = await this.send({
      method: "GET",
      url,
      headers: { Accept: (accept.length ? accept : MANIFEST_MEDIA_TYPES).join(", ") },
      scopes: [repositoryScope(repo)],
      followRedirects: true,
      signal: opts.signal,
    });
    if (res.status !== 200) throw await this.failure(res, this.subject(repo, reference), "manifest unknown: manifest unknown");
    const bytes = await readBody(res.body, MAX_MANIFEST_BYTES);
    const digest = this.checkManifestDigest(bytes, reference, header(res.headers, "docker-content-digest"));
    let mediaType = mediaTypeOf(res.headers);
    if (!mediaType || !mediaType.startsWith("application/vnd.")) mediaType = sniffMediaType(bytes) ?? mediaType ?? "application/octet-stream";
    return { bytes, mediaType, digest };
  }

  /** HEAD of a manifest: its digest, media type and size, or undefined when it does not exist. */
  async headManifest(
    repo: string,
    reference: string,
    accept: readonly string[] = MANIFEST_MEDIA_TYPES,
    opts: { signal?: AbortSignal } = {},
  ): Promise<{ digest?: string; mediaType?: string; size?: number } | undefined> {
    checkRepo(repo);
    checkReference(reference);
    const url = await this.url(`/v2/${repo}/manifests/${reference}`);
    const res = await this.send({
      method: "HEAD",
      url,
      headers: { Accept: (accept.length ? accept : MANIFEST_MEDIA_TYPES).join(", ") },
      scopes: [repositoryScope(repo)],
      followRedirects: true,
      signal: opts.signal,
    });
    if (res.status === 404) {
      drain(res.body);
      return undefined;
    }
    if (res.status !== 200) throw await this.failure(res, this.subject(repo, reference));
    drain(res.body);
    const digest = header(res.headers, "docker-content-digest") ?? (isDigest(reference) ? reference : undefined);
    const mediaType = mediaTypeOf(res.headers);
    const length = header(res.headers, "content-length");
    return {
      ...(digest ? { digest } : {}),
      ...(mediaType ? { mediaType } : {}),
      ...(length !== undefined && /^\d+$/.test(length) ? { size: Number(length) } : {}),
    };
  }

  /** PUT a manifest under a tag or its digest; returns its digest. */
  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string, opts: { signal?: AbortSignal } = {}): Promise<string> {
    checkRepo(repo);
    checkReference(reference);
    const digest = digestOf(bytes);
    if (isDigest(reference)) {
      const computed = digestOf(bytes, parseDigest(reference).algorithm);
      if (computed !== reference) throw new DigestMismatchError(`manifest bytes do not match ${reference} (got ${computed})`, reference, computed);
    }
    const url = await this.url(`/v2/${repo}/manifests/${reference}`);
    const res = await this.send({
      method: "PUT",
      url,
      headers: { "Content-Type": mediaType, "Content-Length": String(bytes.length) },
      body: bytes,
      scopes: [repositoryScope(repo, true)],
      signal: opts.signal,
    });
    if (res.status !== 201 && res.status !== 200) throw await this.failure(res, `put manifest ${this.subject(repo, reference)}`);
    drain(res.body);
    const returned = header(res.headers, "docker-content-digest");
    if (returned && returned.startsWith("sha256:") && returned !== digest) {
      throw new DigestMismatchError(`registry stored the manifest as ${returned}, expected ${digest}`, digest, returned);
    }
    return digest;
  }

  /** DELETE a manifest by digest (the registry must have deletion enabled). */
  async deleteManifest(repo: string, digest: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    checkRepo(repo);
    parseDigest(digest);
    const url = await this.url(`/v2/${repo}/manifests/${digest}`);
    const res = await this.send({ method: "DELETE", url, scopes: [`repository:${repo}:delete`], signal: opts.signal });
    if (res.status !== 202 && res.status !== 200) throw await this.failure(res, `delete ${this.subject(repo, digest)}`, "manifest unknown: manifest unknown");
    drain(res.body);
  }

  /** HEAD of a blob: its size when the repository has it, else undefined. */
  async blobExists(repo: string, digest: string, opts: { signal?: AbortSignal } = {}): Promise<number | undefined> {
    checkRepo(repo);
    parseDigest(digest);
    const url = await this.url(`/v2/${repo}/blobs/${digest}`);
    const res = await this.send({ method: "HEAD", url, scopes: [repositoryScope(repo)], followRedirects: true, signal: opts.signal });
    if (res.status === 404) {
      drain(res.body);
      return undefined;
    }
    if (res.status !== 200) throw await this.failure(res, this.subject(repo, digest));
    drain(res.body);
    const length = header(res.headers, "content-length");
    return length !== undefined && /^\d+$/.test(length) ? Number(length) : 0;
  }

  /**
   * Streams a blob, verified against `digest` as it flows (the stream fails
   * with DigestMismatchError instead of ending). Redirects to other hosts are
   * followed without our Authorization header.
   */
  async getBlob(repo: string, digest: string, opts: BlobReadOptions = {}): Promise<Readable> {
    checkRepo(repo);
    parseDigest(digest);
    const start = opts.start ?? 0;
    if (!Number.isInteger(start) || start < 0) throw new InvalidArgumentError(`invalid blob offset ${start}`);
    const url = await this.url(`/v2/${repo}/blobs/${digest}`);
    const res = await this.send({
      method: "GET",
      url,
      headers: start > 0 ? { Range: `bytes=${start}-` } : {},
      scopes: [repositoryScope(repo)],
      followRedirects: true,
      signal: opts.signal,
    });
    if (res.status !== 200 && res.status !== 206) {
      throw await this.failure(res, this.subject(repo, digest), "blob unknown: blob unknown to registry");
    }
    let verifier: Transform;
    if (start > 0 && res.status === 206) {
      const range = /^bytes (\d+)-/.exec(header(res.headers, "content-range") ?? "");
      if (!range || Number(range[1]) !== start) {
        drain(res.body);
        throw new UnavailableError(`registry answered the range request for ${digest} with ${header(res.headers, "content-range") ?? "no Content-Range"}`);
      }
      verifier = createVerifier(digest, { size: opts.size, hash: opts.hash ?? null, offset: start });
    } else {
      // a full body (the server may ignore Range): hash it all, hand out from `start`
      verifier = createVerifier(digest, { size: opts.size, skip: start });
    }
    pipeline(res.body, verifier, () => {});
    return verifier;
  }

  /** DELETE a blob (the registry must have deletion enabled). */
  async deleteBlob(repo: string, digest: string): Promise<void> {
    checkRepo(repo);
    parseDigest(digest);
    const url = await this.url(`/v2/${repo}/blobs/${digest}`);
    const res = await this.send({ method: "DELETE", url, scopes: [`repository:${repo}:delete`] });
    if (res.status !== 202 && res.status !== 200) throw await this.failure(res, `delete ${this.subject(repo, digest)}`, "blob unknown: blob unknown to registry");
    drain(res.body);
  }

  /**
   * Asks the registry to mount `digest` from repository `from` into `repo`.
   * True when it did (201); false when it would not (202 — the upload session
   * it opened instead is cancelled).
   */
  async mountBlob(repo: string, digest: string, from: string, opts: { signal?: AbortSignal } = {}): Promise<boolean> {
    const res = await this.startUpload(repo, digest, from, opts.signal);
    if (res.mounted) return true;
    const del = await this.send({ method: "DELETE", url: res.location, scopes: this.pushScopes(repo, from), signal: opts.signal }).catch(() => undefined);
    if (del) drain(del.body);
    return false;
  }

  /**
   * Uploads a blob of `size` bytes: cross-repository mount first when
   * `mountFrom` is given, then a monolithic PUT (default) or PATCH chunks of
   * `chunkSize` bytes. `data` is streamed, never buffered whole; a factory
   * lets the client re-open it if the registry asks for auth mid-way.
   */
  async pushBlob(repo: string, digest: string, size: number, data: Readable | (() => Readable), opts: PushBlobOptions = {}): Promise<PushBlobResult> {
    checkRepo(repo);
    parseDigest(digest);
    if (!Number.isSafeInteger(size) || size < 0) throw new InvalidArgumentError(`invalid blob size ${size}`);
    if (opts.chunkSize !== undefined && (!Number.isSafeInteger(opts.chunkSize) || opts.chunkSize <= 0)) {
      throw new InvalidArgumentError(`invalid chunk size ${opts.chunkSize}`);
    }
    const opened: Readable[] = [];
    const open = (): Readable => {
      const stream = typeof data === "function" ? data() : data;
      opened.push(stream);
      return stream;
    };
    try {
      const started = await this.startUpload(repo, digest, opts.mountFrom, opts.signal);
      if (started.mounted) {
        if (typeof data !== "function") data.destroy();
        opts.onProgress?.(size);
        return { digest, mountedFrom: opts.mountFrom! };
      }
      const scopes = this.pushScopes(repo, opts.mountFrom);
      let location = started.location;
      let res: RegistryResponse;
      if (opts.chunkSize === undefined) {
        const put = withQuery(location, { digest });
        const body = typeof data === "function" ? () => counted(open(), opts.onProgress) : counted(open(), opts.onProgress);
        res = await this.send({
          method: "PUT",
          url: put,
          headers: { "Content-Type": "application/octet-stream", "Content-Length": String(size) },
          body,
          scopes,
          signal: opts.signal,
        });
      } else {
        location = await this.uploadChunks(location, open(), size, opts.chunkSize, scopes, opts);
        res = await this.send({
          method: "PUT",
          url: withQuery(location, { digest }),
          headers: { "Content-Type": "application/octet-stream", "Content-Length": "0" },
          body: Buffer.alloc(0),
          scopes,
          signal: opts.signal,
        });
      }
      if (res.status !== 201 && res.status !== 204 && res.status !== 200) throw await this.failure(res, `upload ${this.subject(repo, digest)}`);
      drain(res.body);
      const returned = header(res.headers, "docker-content-digest");
      if (returned && returned !== digest) throw new DigestMismatchError(`registry stored blob ${digest} as ${returned}`, digest, returned);
      return { digest };
    } finally {
      // nothing we opened (or were handed) stays open: file descriptors behind them are released
      for (const stream of opened) if (!stream.readableEnded) stream.destroy();
      if (opened.length === 0 && typeof data !== "function" && !data.readableEnded) data.destroy();
    }
  }

  // ------------------------------------------------------------ internals

  private async uploadChunks(
    location: URL,
    source: Readable,
    size: number,
    chunkSize: number,
    scopes: string[],
    opts: PushBlobOptions,
  ): Promise<URL> {
    const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
    let leftover: Buffer | undefined;
    let sent = 0;
    async function* take(n: number): AsyncGenerator<Buffer> {
      let remaining = n;
      while (remaining > 0) {
        let buf = leftover;
        leftover = undefined;
        if (!buf) {
          const next = await it.next();
          if (next.done) throw new InvalidArgumentError(`blob data ended ${remaining} bytes before its size ${size}`);
          buf = typeof next.value === "string" ? Buffer.from(next.value) : next.value;
        }
        if (buf.length > remaining) {
          leftover = buf.subarray(remaining);
          buf = buf.subarray(0, remaining);
        }
        remaining -= buf.length;
        sent += buf.length;
        opts.onProgress?.(sent);
        yield buf;
      }
    }
    let offset = 0;
    while (offset < size) {
      const len = Math.min(chunkSize, size - offset);
      const res = await this.send({
        method: "PATCH",
        url: location,
        headers: {
          "Content-Type": "application/octet-stream",
          "Content-Range": `${offset}-${offset + len - 1}`,
          "Content-Length": String(len),
        },
        body: Readable.from(take(len), { objectMode: false }),
        scopes,
        signal: opts.signal,
      });
      if (res.status !== 202 && res.status !== 204) throw await this.failure(res, `upload chunk ${offset}-${offset + len - 1}`);
      drain(res.body);
      location = resolveLocation(res, location);
      offset += len;
    }
    if (leftover?.length) throw new InvalidArgumentError(`blob data is longer than its size ${size}`);
    const end = await it.next();
    if (!end.done) throw new InvalidArgumentError(`blob data is longer than its size ${size}`);
    return location;
  }

  private pushScopes(repo: string, from?: string): string[] {
    return from && from !== repo ? [repositoryScope(repo, true), repositoryScope(from)] : [repositoryScope(repo, true)];
  }

  /** POST /v2/<repo>/blobs/uploads/ (with ?mount=&from= when mounting). */
  private async startUpload(repo: string, digest: string, from: string | undefined, signal?: AbortSignal): Promise<{ mounted: true } | { mounted: false; location: URL }> {
    checkRepo(repo);
    if (from !== undefined) checkRepo(from);
    let url = await this.url(`/v2/${repo}/blobs/uploads/`);
    if (from !== undefined) url = withQuery(url, { mount: digest, from });
    const res = await this.send({
      method: "POST",
      url,
      headers: { "Content-Length": "0" },
      body: Buffer.alloc(0),
      scopes: this.pushScopes(repo, from),
      signal,
    });
    if (res.status === 201 && from !== undefined) {
      drain(res.body);
      return { mounted: true };
    }
    if (res.status !== 202) throw await this.failure(res, `start upload to ${this.host}/${repo}`);
    drain(res.body);
    if (!header(res.headers, "location")) throw new InternalError(`registry ${this.host} started an upload without a Location`);
    return { mounted: false, location: resolveLocation(res, url) };
  }

  private checkManifestDigest(bytes: Buffer, reference: string, headerDigest: string | undefined): string {
    if (isDigest(reference)) {
      const computed = digestOf(bytes, parseDigest(reference).algorithm);
      if (computed !== reference) {
        throw new DigestMismatchError(`manifest verification failed for digest ${reference} (got ${computed})`, reference, computed);
      }
      if (headerDigest && headerDigest.startsWith(`${parseDigest(reference).algorithm}:`) && headerDigest !== reference) {
        throw new DigestMismatchError(`registry sent Docker-Content-Digest ${headerDigest} for ${reference}`, reference, headerDigest);
      }
      return reference;
    }
    const digest = digestOf(bytes);
    if (headerDigest && headerDigest.startsWith("sha256:") && headerDigest !== digest) {
      throw new DigestMismatchError(`manifest digest ${digest} does not match Docker-Content-Digest ${headerDigest}`, headerDigest, digest);
    }
    return digest;
  }

  private subject(repo: string, reference: string): string {
    return `${this.host}/${repo}${isDigest(reference) ? "@" : ":"}${reference}`;
  }

  private challengeScheme(): "bearer" | "basic" | undefined {
    const s = this.challenge?.scheme;
    return s === "bearer" || s === "basic" ? s : undefined;
  }

  private async url(path: string): Promise<URL> {
    return new URL(path, await this.baseUrl());
  }

  /** Reads an error response and turns it into the right HakoError. */
  private async failure(res: RegistryResponse, subject: string, notFoundDefault?: string): Promise<HakoError> {
    let body = "";
    try {
      body = (await readBody(res.body, 64 * 1024)).toString("utf8");
    } catch {
      // keep what we have
    }
    let text = registryErrorText(body);
    if (!text) {
      if (res.status === 404 && notFoundDefault) text = notFoundDefault;
      else if (res.status === 401) text = "unauthorized: authentication required";
      else {
        const snippet = body.trim().slice(0, 200);
        text = `unexpected status ${res.status} ${http.STATUS_CODES[res.status] ?? ""}`.trim() + (snippet ? `: ${snippet}` : "");
      }
    }
    return errorForHttpStatus(res.status, `${text} (${subject})`);
  }

  /**
   * One request with auth and redirects: Authorization only goes to the
   * registry host; a 401 teaches us the challenge and the request is retried
   * once with credentials (a streamed, non-reopenable body cannot be retried).
   */
  private async send(o: SendOptions): Promise<RegistryResponse> {
    const registryHost = (await this.baseUrl()).host;
    let url = o.url;
    let method = o.method;
    let body = o.body;
    let redirects = 0;
    let authRetried = false;
    for (;;) {
      const own = url.host === registryHost;
      const authorization = own ? await this.authorization(o.scopes) : undefined;
      const headers: Record<string, string> = { "User-Agent": this.userAgent, ...o.headers };
      if (authorization) headers.Authorization = authorization;
      const payload = typeof body === "function" ? body() : body;
      const res = await this.rawRequest(method, url, headers, payload, o.signal);
      const status = res.statusCode ?? 0;
      if (status === 401 && own && !authRetried) {
        const challenges = parseWwwAuthenticate(res.headersDistinct["www-authenticate"]);
        const challenge = challenges.find((c) => c.scheme === "bearer") ?? challenges.find((c) => c.scheme === "basic");
        const replayable = body === undefined || Buffer.isBuffer(body) || typeof body === "function";
        // retry when we learnt something: a first challenge, or a token that may have gone stale
        if (challenge) this.challenge = challenge;
        if (challenge && replayable && (!authorization || challenge.scheme === "bearer")) {
          authRetried = true;
          if (authorization) this.tokens.delete(this.tokenKey(o.scopes));
          let next: string | undefined;
          try {
            next = await this.authorization(o.scopes);
          } catch (err) {
            drain(res);
            throw err;
          }
          if (next !== undefined) {
            drain(res);
            continue;
          }
        }
      }
      if (o.followRedirects && REDIRECTS.has(status) && header(res.headers, "location")) {
        drain(res);
        if (++redirects > MAX_REDIRECTS) throw new UnavailableError(`too many redirects from ${o.url.href}`);
        url = new URL(header(res.headers, "location")!, url);
        if (status === 303) {
          method = method === "HEAD" ? "HEAD" : "GET";
          body = undefined;
        }
        continue;
      }
      return { status, headers: res.headers, body: res, url, authorized: authorization !== undefined };
    }
  }

  private rawRequest(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: Buffer | Readable | undefined,
    signal?: AbortSignal,
  ): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const secure = url.protocol === "https:";
      if (!secure && url.protocol !== "http:") {
        reject(new InvalidArgumentError(`unsupported URL scheme in ${url.href}`));
        return;
      }
      const req = (secure ? https : http).request(url, {
        method,
        headers,
        agent: secure ? this.httpsAgent : this.httpAgent,
        timeout: this.timeoutMs,
        ...(signal ? { signal } : {}),
      });
      req.once("timeout", () => req.destroy(new UnavailableError(`${method} ${url.href}: no activity for ${this.timeoutMs} ms`)));
      req.once("error", (err) => {
        if (body instanceof Readable) body.destroy();
        reject(HakoError.is(err) || (err as Error).name === "AbortError" ? err : new UnavailableError(`${method} ${url.href}: ${(err as Error).message}`, { cause: err }));
      });
      req.once("response", resolve);
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        body.once("error", (err) => req.destroy(err));
        body.pipe(req);
      }
    });
  }

  private tokenKey(scopes: string[]): string {
    return [...scopes].sort().join(" ");
  }

  /** The Authorization header value for these scopes, or undefined (no challenge yet, or nothing to send). */
  private async authorization(scopes: string[]): Promise<string | undefined> {
    const challenge = this.challenge;
    if (!challenge) return undefined;
    const creds = this.opts.credentials;
    if (challenge.scheme === "basic") {
      if (creds && "password" in creds) return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
      return undefined;
    }
    if (challenge.scheme !== "bearer") return undefined;
    const key = this.tokenKey(scopes);
    const cached = this.tokens.get(key);
    if (cached && this.now() < cached.expiresAt) return `Bearer ${cached.token}`;
    let pending = this.pendingTokens.get(key);
    if (!pending) {
      pending = this.fetchToken(challenge, scopes).finally(() => this.pendingTokens.delete(key));
      this.pendingTokens.set(key, pending);
    }
    return `Bearer ${await pending}`;
  }

  /** Token spec: GET realm?service=&scope= (Basic credentials), or the OAuth2 POST with a refresh token. */
  private async fetchToken(challenge: Challenge, scopes: string[]): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) throw new UnauthorizedError(`registry ${this.host} sent a Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new UnauthorizedError(`registry ${this.host} sent an invalid token realm ${JSON.stringify(realm)}`);
    }
    const service = challenge.params.service;
    const allScopes = [...scopes];
    const creds = this.opts.credentials;
    const headers: Record<string, string> = { "User-Agent": this.userAgent };
    let method = "GET";
    let body: Buffer | undefined;
    if (creds && "identitytoken" in creds) {
      method = "POST";
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: creds.identitytoken, client_id: "hako" });
      if (service) form.set("service", service);
      if (allScopes.length) form.set("scope", allScopes.join(" "));
      body = Buffer.from(form.toString());
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      headers["Content-Length"] = String(body.length);
    } else {
      if (service) url.searchParams.set("service", service);
      for (const s of allScopes) url.searchParams.append("scope", s);
      if (creds) {
        url.searchParams.set("account", creds.username);
        headers.Authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
      }
    }
    const issued = this.now();
    let res: http.IncomingMessage;
    try {
      res = await this.rawRequest(method, url, headers, body);
    } catch (err) {
      throw new UnavailableError(`token server ${url.origin}: ${(err as Error).message}`, { cause: err });
    }
    const text = (await readBody(res, 1024 * 1024)).toString("utf8");
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const detail = registryErrorText(text);
      if (status === 401 || status === 403) {
        const msg = creds ? "unauthorized: incorrect username or password" : "unauthorized: authentication required";
        throw new UnauthorizedError(`${msg}${detail ? ` (${detail})` : ""} (token server ${url.origin} for ${this.host})`);
      }
      throw errorForHttpStatus(status, `token server ${url.origin} answered ${status}${detail ? `: ${detail}` : ""}`);
    }
    let parsed: { token?: string; access_token?: string; expires_in?: number };
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new UnauthorizedError(`token server ${url.origin} sent an invalid response`);
    }
    const token = parsed.access_token || parsed.token;
    if (!token) throw new UnauthorizedError(`token server ${url.origin} sent no token`);
    const seconds = Math.max(MIN_TOKEN_SECONDS, Number(parsed.expires_in) || 0);
    this.tokens.set(this.tokenKey(scopes), { token, expiresAt: issued + seconds * 1000 - TOKEN_MARGIN_MS });
    return token;
  }
}

// ---------------------------------------------------------------------------
// helpers

/** The media type a manifest names inside itself, or the one its shape implies. */
export function sniffMediaType(bytes: Buffer): string | undefined {
  let doc: { mediaType?: unknown; manifests?: unknown; config?: unknown; schemaVersion?: unknown };
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof doc?.mediaType === "string" && doc.mediaType) return doc.mediaType;
  if (Array.isArray(doc?.manifests)) return MediaType.OciIndex;
  if (doc?.config && typeof doc.config === "object") return MediaType.OciManifest;
  if (doc?.schemaVersion === 1) return "application/vnd.docker.distribution.manifest.v1+prettyjws";
  return undefined;
}

function withQuery(url: URL, params: Record<string, string>): URL {
  const next = new URL(url.href);
  for (const [k, v] of Object.entries(params)) next.searchParams.set(k, v);
  return next;
}

function resolveLocation(res: RegistryResponse, base: URL): URL {
  const loc = header(res.headers, "location");
  return loc ? new URL(loc, res.url ?? base) : base;
}

function counted(stream: Readable, onProgress?: (bytes: number) => void): Readable {
  if (!onProgress) return stream;
  let n = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      onProgress(n);
      cb(null, chunk);
    },
  });
  pipeline(stream, t, () => {});
  return t;
}
