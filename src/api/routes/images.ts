/**
 * Image endpoints (swagger tag "Image") over the image service, with
 * dockerd's semantics (moby daemon/server/router/image/image_routes.go):
 *
 * - pull, push and import answer a JSON-message stream. As with moby's
 *   WriteFlusher, a failure before anything was written is an HTTP error
 *   (a pull of a missing tag is a 404 "manifest for x:y not found"), one
 *   after that travels in the stream as errorDetail. A pull holds back its
 *   "Pulling from" line until the manifest was resolved, since dockerd
 *   writes it only then.
 * - a client that goes away aborts the pull or push (call.signal); the
 *   image service names an image only once all its layers are stored.
 * - X-Registry-Auth is base64url JSON (std base64 accepted too); a header
 *   that does not decode is ignored, as dockerd ignores it.
 *
 * {name:.*} because names contain slashes: the last /json, /history, ...
 * of the path decides the route. Plus one hako extension:
 * POST /hako/images/busybox?tag= makes busybox:latest from the host's
 * busybox-static.
 */
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import {
  ForbiddenError,
  HakoError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
  errorForHttpStatus,
  errorMessage,
} from "../../common/errors.ts";
import { saveImages, loadImages } from "../../image/archive/index.ts";
import { createBusyboxImage } from "../../image/busybox.ts";
import { isValidDigest } from "../../image/digest.ts";
import { pull, pullAllTags, push, search as searchIndex } from "../../image/distribution.ts";
import { shortId } from "../../image/ids.ts";
import {
  familiarName,
  familiarString,
  fullString,
  parseReference,
  repository,
  tagNameOnly,
  withTag,
  type Reference,
} from "../../image/reference.ts";
import type { ImageService } from "../../image/service.ts";
import type { AuthConfig, ImageSummary } from "../../spec/docker-api.ts";
import { requireService } from "../context.ts";
import { boolParam, boolParamOr, parseFilters, type Filters } from "../query.ts";
import { json, noContent, type JsonMessage, type JsonMessageStream } from "../response.ts";
import type { ApiCall, Router } from "../router.ts";
import { compareApiVersions } from "../version.ts";
import { trustedCas } from "../../image/registry/trust.ts";

/** Registers the image routes on `router`. */
export function registerImageRoutes(router: Router): void {
  router
    .add("POST", "/images/create", createImage)
    .add("GET", "/images/json", listImages)
    .add("GET", "/images/search", search)
    .add("GET", "/images/get", saveMany)
    .add("POST", "/images/load", loadArchive)
    .add("POST", "/images/prune", pruneImages)
    .add("GET", "/images/{name:.*}/json", inspectImage)
    .add("GET", "/images/{name:.*}/history", imageHistory)
    .add("POST", "/images/{name:.*}/push", pushImage)
    .add("POST", "/images/{name:.*}/tag", tagImage)
    .add("GET", "/images/{name:.*}/get", saveOne)
    .add("DELETE", "/images/{name:.*}", removeImage)
    .add("POST", "/hako/images/busybox", bootstrapBusybox);
}

function images(call: ApiCall): ImageService {
  return requireService(call.ctx, "images");
}

function before(call: ApiCall, version: string): boolean {
  return compareApiVersions(call.version, version) < 0;
}

function publish(call: ApiCall, action: string, id: string, attributes: Record<string, string> = {}): void {
  call.ctx.events.publish({ type: "image", action, id, attributes });
}

// ---------------------------------------------------------------- helpers

const AUTH_FIELDS = ["username", "password", "auth", "email", "serveraddress", "identitytoken", "registrytoken"] as const;

/**
 * X-Registry-Auth: base64url-encoded JSON AuthConfig (the docker CLI's
 * encoding; std base64 and missing padding are accepted too). Anything
 * that does not decode to a JSON object is ignored, as dockerd ignores it.
 */
export function decodeRegistryAuth(header: string | string[] | undefined): AuthConfig | undefined {
  const raw = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!raw) return undefined;
  let parsed: unknown;
  try {
    // Node's base64 decoder takes both alphabets and optional padding.
    parsed = JSON.parse(Buffer.from(raw, "base64").toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const config: AuthConfig = {};
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    const key = AUTH_FIELDS.find((k) => k === name.toLowerCase());
    if (key && typeof value === "string" && value !== "") config[key] = value;
  }
  return Object.keys(config).length ? config : undefined;
}

const GO_ARCH: Record<string, string> = { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64", mips: "mips", mipsel: "mipsle" };
const ARCH_ALIASES: Record<string, string> = { x86_64: "amd64", "x86-64": "amd64", aarch64: "arm64", i386: "386", i686: "386", armhf: "arm", armel: "arm" };
const KNOWN_OS = new Set(["linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix", "android", "ios", "js", "wasip1", "plan9", "dragonfly"]);

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** The daemon's own platform (what a pull picks when none is asked for). */
export function hostPlatform(): Platform {
  return { os: "linux", architecture: GO_ARCH[process.arch] ?? process.arch };
}

/**
 * containerd's platforms.Parse, for the forms clients send: "linux",
 * "amd64", "linux/arm64", "linux/arm/v7" (os/arch normalised: x86_64 is amd64).
 */
export function parsePlatform(value: string): Platform {
  const parts = value.toLowerCase().split("/");
  const bad = (): InvalidArgumentError => new InvalidArgumentError(`"${value}": unknown operating system or architecture: invalid argument`);
  if (parts.some((p) => p === "") || parts.length > 3) throw bad();
  const arch = (a: string): string => ARCH_ALIASES[a] ?? a;
  if (parts.length === 1) {
    const p = parts[0]!;
    if (KNOWN_OS.has(p)) return { os: p, architecture: hostPlatform().architecture };
    return { os: "linux", architecture: arch(p) };
  }
  if (!KNOWN_OS.has(parts[0]!)) throw bad();
  const platform: Platform = { os: parts[0]!, architecture: arch(parts[1]!) };
  if (parts[2]) platform.variant = parts[2];
  if (platform.architecture === "arm64" && platform.variant === "v8") delete platform.variant;
  return platform;
}

function platformParam(call: ApiCall, minVersion: string): Platform | undefined {
  const raw = call.query.get("platform")?.trim();
  if (!raw || before(call, minVersion)) return undefined;
  return parsePlatform(raw);
}

/** moby's httputils.RepoTagReference: "repo[:tag]" plus an optional tag parameter; a digest is refused. */
function repoTagReference(repo: string, tag: string): Reference | undefined {
  if (repo === "") return undefined;
  const ref = parseReference(repo);
  if (ref.digest !== undefined) throw new InvalidArgumentError("cannot import digest reference");
  return tag !== "" ? withTag(ref, tag) : tagNameOnly(ref);
}

/** Drops the " (registry/repo:tag)" the registry client appends to its messages. */
function registryText(err: unknown): string {
  return errorMessage(err).replace(/ \([^()]*\)$/, "");
}

/** moby distribution/errors.go translatePullError: what `docker pull` says about a missing image. */
function translatePullError(err: unknown, ref: Reference): unknown {
  if (!HakoError.is(err)) return err;
  const text = registryText(err);
  if (err.code === "ERR_NOT_FOUND" && text.startsWith("manifest unknown")) {
    return new NotFoundError(`manifest for ${familiarString(ref)} not found: ${text}`, { cause: err });
  }
  if (err.code === "ERR_NOT_FOUND" && text.startsWith("name unknown")) {
    return new NotFoundError(`repository ${familiarName(ref)} not found: ${text}`, { cause: err });
  }
  if (err.code === "ERR_FORBIDDEN" && text.startsWith("denied")) {
    return new NotFoundError(`pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login': ${text}`, { cause: err });
  }
  // Not a 401: the docker CLI would answer a 401 with an interactive login prompt
  // (dockerd reports registry auth failures of a pull as a plain error too).
  if (err.code === "ERR_UNAUTHORIZED") {
    return new ForbiddenError(`pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login': ${text}`, { cause: err });
  }
  return err;
}

/** Per-layer actions: moby sends them as progress updates (with an empty progressDetail). */
const LAYER_ACTIONS = new Set([
  "Pulling fs layer",
  "Waiting",
  "Downloading",
  "Verifying Checksum",
  "Download complete",
  "Extracting",
  "Pull complete",
  "Already exists",
  "Preparing",
  "Pushing",
  "Pushed",
  "Layer already exists",
  "Loading layer",
]);

/**
 * A per-layer status as moby's progress output writes it: `progressDetail`
 * is always there (`{}` when there are no counts), so the docker CLI keeps
 * one line per layer and rewrites it in place on a terminal.
 */
export function asLayerProgress(m: JsonMessage): JsonMessage {
  if (!m.id || m.progressDetail || m.aux !== undefined || m.errorDetail) return m;
  const status = m.status ?? "";
  if (LAYER_ACTIONS.has(status) || status.startsWith("Mounted from ") || status.startsWith("Retrying in ")) return { ...m, progressDetail: {} };
  return m;
}

/**
 * A JSON-message stream opened on the first write (moby's WriteFlusher:
 * until then a failure can still be an HTTP status). With `holdFirst`, the
 * first message waits for a second one (or the end) before it opens it.
 */
class DeferredStream {
  private stream: JsonMessageStream | undefined;
  private held: JsonMessage | undefined;
  private first = true;

  constructor(
    private readonly call: ApiCall,
    private readonly holdFirst = false,
  ) {}

  write(message: JsonMessage): void {
    if (this.holdFirst && this.first) {
      this.first = false;
      this.held = message;
      return;
    }
    this.open().write(asLayerProgress(message));
  }

  /** Opens the stream (writing any held message). */
  open(): JsonMessageStream {
    if (!this.stream) {
      this.stream = this.call.stream();
      if (this.held) this.stream.write(this.held);
      this.held = undefined;
    }
    return this.stream;
  }
}

// ---------------------------------------------------------------- pull and import

/** POST /images/create: pull (fromImage) or import (fromSrc). */
async function createImage(call: ApiCall): Promise<void> {
  const service = images(call);
  const platform = platformParam(call, "1.32");
  const fromImage = call.query.get("fromImage") ?? "";
  if (fromImage !== "") return pullImage(call, service, fromImage, platform);
  return importImage(call, service, platform);
}

async function pullImage(call: ApiCall, service: ImageService, fromImage: string, platform: Platform | undefined): Promise<void> {
  // "pull -a" may send the name with a trailing ":" (moby keeps accepting it).
  let ref = parseReference(fromImage.replace(/:$/, ""));
  const tag = call.query.get("tag") ?? "";
  if (tag !== "") {
    ref = isValidDigest(tag) ? { domain: ref.domain, path: ref.path, digest: tag } : withTag(ref, tag);
  }
  if (ref.tag === undefined && ref.digest === undefined) return pullEveryTag(call, service, ref, platform);
  if (ref.tag !== undefined && ref.digest !== undefined) ref = { domain: ref.domain, path: ref.path, digest: ref.digest };
  if (familiarName(ref) === "scratch") throw new ForbiddenError("'scratch' is a reserved name");
  const auth = decodeRegistryAuth(call.req.headers["x-registry-auth"]);
  const out = new DeferredStream(call, true);
  const name = familiarString(ref);
  try {
    const record = await pull(service, fullString(ref), {
      ...call.ctx.services.registry,
      auth,
      platform: platform ?? hostPlatform(),
      progress: (m) => out.write(m),
      signal: call.signal,
    });
    out.open();
    publish(call, "pull", name, { name: familiarName(ref) });
    call.ctx.log.debug("pulled", { image: name, id: record.id });
  } catch (err) {
    throw translatePullError(err, ref);
  }
}

/** POST /images/create?fromImage=repo with no tag (docker pull --all-tags). */
async function pullEveryTag(call: ApiCall, service: ImageService, ref: Reference, platform: Platform | undefined): Promise<void> {
  if (familiarName(ref) === "scratch") throw new ForbiddenError("'scratch' is a reserved name");
  const out = new DeferredStream(call, true);
  try {
    const tags = await pullAllTags(service, fullString(ref), {
      ...call.ctx.services.registry,
      auth: decodeRegistryAuth(call.req.headers["x-registry-auth"]),
      platform: platform ?? hostPlatform(),
      progress: (m) => out.write(m),
      signal: call.signal,
    });
    out.open();
    for (const tag of tags) publish(call, "pull", familiarString(withTag(ref, tag)), { name: familiarName(ref) });
  } catch (err) {
    throw translatePullError(err, ref);
  }
}

/** A stream that counts what flows through it for the "Importing" progress. */
class CountingStream extends Transform {
  private seen = 0;
  private lastReport = 0;
  private reported = -1;

  constructor(
    private readonly total: number,
    private readonly report: (current: number, total: number) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    const now = Date.now();
    if (now - this.lastReport >= 100) {
      this.lastReport = now;
      this.reported = this.seen;
      this.report(this.seen, this.total);
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.reported !== this.seen) this.report(this.seen, this.total);
    done();
  }
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;
const FETCH_ERROR_STATUSES = new Set([400, 401, 403, 404]);

function readSnippet(res: IncomingMessage, limit = 4096): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      if (text.length < limit) text += chunk;
    });
    res.on("end", () => resolve(text.slice(0, limit)));
    res.on("error", () => resolve(text.slice(0, limit)));
    res.on("close", () => resolve(text.slice(0, limit)));
  });
}

/**
 * moby's remotecontext.GetWithStatusError: GET `url`, following redirects;
 * a status of 400 or more is an error carrying the body.
 */
export async function fetchUrl(url: URL, signal: AbortSignal, redirects = 0): Promise<IncomingMessage> {
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new InvalidArgumentError(`unsupported URL scheme in ${url.href}: only http and https can be imported from`);
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const secure = url.protocol === "https:";
    const get = secure ? https.get : http.get;
    const req = get(url, { signal, headers: { "User-Agent": "hakod" }, agent: false, ...(secure ? trustedCas() : {}) }, resolve);
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err.name === "AbortError") return reject(err);
      const message = `Get "${url.href}": ${err.message}`;
      reject(err.code === "ENOTFOUND" ? new NotFoundError(message, { cause: err }) : new UnavailableError(message, { cause: err }));
    });
  });
  const status = res.statusCode ?? 0;
  if (REDIRECT_STATUSES.has(status) && res.headers.location) {
    res.resume();
    if (redirects >= MAX_REDIRECTS) throw new InvalidArgumentError(`Get "${url.href}": stopped after ${MAX_REDIRECTS} redirects`);
    return fetchUrl(new URL(res.headers.location, url), signal, redirects + 1);
  }
  if (status < 400) return res;
  const body = (await readSnippet(res)).trim();
  const statusText = `${status} ${http.STATUS_CODES[status] ?? ""}`.trim();
  const message = `failed to GET ${url.href} with status ${statusText}: ${body}`;
  // GetWithStatusError tells apart only these; any other status is a 500 (errdefs.Unknown), never the registry client's 503.
  throw FETCH_ERROR_STATUSES.has(status) ? errorForHttpStatus(status, message) : new InternalError(message);
}

async function importImage(call: ApiCall, service: ImageService, platform: Platform | undefined): Promise<void> {
  const src = call.query.get("fromSrc") ?? "";
  if (src === "") throw new InvalidArgumentError("either fromImage or fromSrc must be given");
  const ref = repoTagReference(call.query.get("repo") ?? "", call.query.get("tag") ?? "");
  const message = call.query.get("message") || `Imported from ${src}`;
  const changes = call.query.getAll("changes");
  if (platform && platform.os !== "linux") throw new InvalidArgumentError(`operating system is not supported: ${platform.os}`);
  const out = new DeferredStream(call);
  let input: Readable;
  if (src === "-") {
    input = call.req;
  } else {
    let url: URL;
    try {
      url = new URL(src.includes("://") ? src : `http://${src}`);
    } catch (err) {
      throw new InvalidArgumentError(`parse "${src}": invalid URL`, { cause: err });
    }
    const res = await fetchUrl(url, call.signal);
    out.write({ status: `Downloading from ${url.href}` });
    const total = Number(res.headers["content-length"] ?? -1);
    const counter = new CountingStream(total, (current, t) => out.write({ status: "Importing", progressDetail: t > 0 ? { current, total: t } : { current } }));
    res.on("error", (err) => counter.destroy(err));
    input = res.pipe(counter);
  }
  const record = await service.importTar(input, {
    tag: ref ? fullString(ref) : undefined,
    changes,
    message,
    platform: platform ? { os: platform.os, architecture: platform.architecture } : undefined,
  });
  publish(call, "import", record.id, { name: record.id });
  out.write({ status: record.id });
}

// ---------------------------------------------------------------- list, inspect, history

const LIST_FILTERS = ["dangling", "label", "label!", "reference", "before", "since", "until"];

function filtersObject(filters: Filters): Record<string, string[]> {
  return Object.fromEntries(filters.entries());
}

/** Go's path.Match as a regular expression: `*`, `?`, `[...]` (with `^` or `!`), `\\` escapes; none crosses a "/". */
function globRegex(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else if (ch === "\\" && i + 1 < pattern.length) re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
    else if (ch === "[") {
      const close = pattern.indexOf("]", i + 2);
      if (close < 0) throw new InvalidArgumentError("syntax error in pattern");
      let body = pattern.slice(i + 1, close);
      if (body.startsWith("^") || body.startsWith("!")) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\(?!.)/g, "")}]`;
      i = close;
    } else re += ch.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** distribution/reference's FamiliarMatch: the pattern against "name:tag", then against the name alone. */
function familiarMatch(pattern: string, familiar: string): boolean {
  const re = globRegex(pattern);
  if (re.test(familiar)) return true;
  try {
    return re.test(familiarName(parseReference(familiar)));
  } catch {
    return false;
  }
}

/** moby's filters.GetBoolOrDefault for `dangling`. */
function danglingValue(filters: Filters): string | undefined {
  const values = filters.get("dangling");
  if (!values || values.length === 0) return undefined;
  const norm = values.map((v) => {
    const l = v.toLowerCase();
    if (l === "true" || l === "1") return "true";
    if (l === "false" || l === "0") return "false";
    throw new InvalidArgumentError(`invalid filter 'dangling=${v}'`);
  });
  if (new Set(norm).size > 1) throw new InvalidArgumentError(`invalid filter 'dangling=${values.join(",")}'`);
  return norm[0];
}

/** GET /images/json. */
function listImages(call: ApiCall): void {
  const service = images(call);
  const filters = parseFilters(call.query, LIST_FILTERS);
  // API < 1.25: the `filter` parameter is a reference glob.
  const legacy = call.query.get("filter");
  if (before(call, "1.25") && legacy && !filters.has("reference")) filters.set("reference", [legacy]);
  const dangling = danglingValue(filters);
  if (dangling !== undefined) filters.set("dangling", [dangling]);
  const list: (ImageSummary & { VirtualSize?: number })[] = service.list({ all: boolParam(call.query, "all"), filters: filtersObject(filters) });
  const useNone = before(call, "1.43");
  const virtualSize = before(call, "1.44");
  const patterns = filters.get("reference") ?? [];
  const out: (ImageSummary & { VirtualSize?: number })[] = [];
  for (const img of list) {
    const item: ImageSummary & { VirtualSize?: number } = { ...img, Containers: -1 };
    // dockerd lists only the names that match a reference filter.
    if (patterns.length) {
      item.RepoTags = item.RepoTags.filter((t) => patterns.some((p) => familiarMatch(p, t)));
      item.RepoDigests = item.RepoDigests.filter((t) => patterns.some((p) => familiarMatch(p, t)));
      if (item.RepoTags.length === 0 && item.RepoDigests.length === 0) continue;
    }
    if (useNone && item.RepoTags.length === 0 && item.RepoDigests.length === 0) {
      item.RepoTags = ["<none>:<none>"];
      item.RepoDigests = ["<none>@<none>"];
    }
    if (virtualSize) item.VirtualSize = item.Size;
    out.push(item);
  }
  json(call.res, 200, out);
}

/** GET /images/{name}/json. */
function inspectImage(call: ApiCall): void {
  const service = images(call);
  const data: Record<string, unknown> = { ...service.inspect(call.params.name!) };
  if (before(call, "1.44")) {
    // VirtualSize sits after Size in dockerd's answer.
    const ordered: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(data)) {
      ordered[k] = v;
      if (k === "Size") ordered.VirtualSize = v;
    }
    json(call.res, 200, ordered);
    return;
  }
  json(call.res, 200, data);
}

/** GET /images/{name}/history. */
function imageHistory(call: ApiCall): void {
  json(call.res, 200, images(call).history(call.params.name!));
}

// ---------------------------------------------------------------- names and removal

/** POST /images/{name}/tag?repo=&tag= → 201. */
function tagImage(call: ApiCall): void {
  const service = images(call);
  const repo = call.query.get("repo") ?? "";
  if (repo === "") throw new InvalidArgumentError("repository name must have at least one component");
  const ref = repoTagReference(repo, call.query.get("tag") ?? "")!;
  if (familiarName(ref) === "sha256") throw new InvalidArgumentError("refusing to create an ambiguous tag using digest algorithm as name");
  const record = service.resolve(call.params.name!);
  service.images.tag(record.id, ref);
  publish(call, "tag", record.id, { name: familiarString(ref) });
  noContent(call.res, 201);
}

/** DELETE /images/{name}?force=&noprune=. */
async function removeImage(call: ApiCall): Promise<void> {
  const name = call.params.name ?? "";
  if (name.trim() === "") throw new InvalidArgumentError("image name cannot be blank");
  const service = images(call);
  const id = service.resolve(name).id;
  // Deleted entries name images and, after them, layers (by chain ID): only images have events.
  const imageIds = new Set(service.images.list().map((r) => r.id));
  const items = await service.remove(name, { force: boolParam(call.query, "force"), noPrune: boolParam(call.query, "noprune") });
  for (const item of items) {
    // moby names the image by its ID in untag events, whichever name went.
    if (item.Untagged) publish(call, "untag", id, { name: id });
    if (item.Deleted && imageIds.has(item.Deleted)) publish(call, "delete", item.Deleted, { name: item.Deleted });
  }
  json(call.res, 200, items);
}

const PRUNE_FILTERS = ["dangling", "label", "label!", "until"];

/** POST /images/prune?filters=. */
async function pruneImages(call: ApiCall): Promise<void> {
  const filters = parseFilters(call.query, PRUNE_FILTERS);
  const dangling = danglingValue(filters) ?? "true";
  filters.delete("dangling");
  const service = images(call);
  const imageIds = new Set(service.images.list().map((r) => r.id));
  const report = await service.prune({ all: dangling === "false", filters: filtersObject(filters) });
  for (const item of report.ImagesDeleted ?? []) {
    if (item.Deleted && imageIds.has(item.Deleted)) publish(call, "delete", item.Deleted, { name: item.Deleted });
  }
  publish(call, "prune", "", { reclaimed: String(report.SpaceReclaimed) });
  json(call.res, 200, report);
}

// ---------------------------------------------------------------- push

/** POST /images/{name}/push?tag=: one tag, or every tag of the repository when none is named. */
async function pushImage(call: ApiCall): Promise<void> {
  const service = images(call);
  const name = call.params.name!;
  const tag = call.query.get("tag") ?? "";
  let ref: Reference;
  if (tag !== "") ref = repoTagReference(name, tag)!;
  else ref = parseReference(name);
  if (ref.digest !== undefined) throw new InvalidArgumentError("cannot push a digest reference");
  const allTags = ref.tag === undefined;
  const auth = decodeRegistryAuth(call.req.headers["x-registry-auth"]);
  const out = new DeferredStream(call);
  let results: { tag: string }[];
  try {
    results = await push(service, fullString(ref), {
      ...call.ctx.services.registry,
      auth,
      allTags,
      progress: (m) => out.write(m),
      signal: call.signal,
    });
  } catch (err) {
    // moby distribution/push.go's words for a name that is not here.
    if (HakoError.is(err) && err.code === "ERR_NOT_FOUND" && errorMessage(err).startsWith("No such image")) {
      const repo = repository(ref);
      const named = Object.keys(service.images.references().tags).some((t) => repository(parseReference(t)) === repo);
      if (named && ref.tag !== undefined) throw new NotFoundError(`tag does not exist: ${familiarString(ref)}`, { cause: err });
      throw new NotFoundError(`An image does not exist locally with the tag: ${familiarName(ref)}`, { cause: err });
    }
    throw err;
  }
  for (const r of results) publish(call, "push", `${familiarName(ref)}:${r.tag}`, { name: familiarName(ref) });
}

// ---------------------------------------------------------------- save and load

async function save(call: ApiCall, names: string[]): Promise<void> {
  const service = images(call);
  if (names.length === 0) throw new InvalidArgumentError("no images named: give at least one image to save");
  // Unknown names are a 404 before any byte of the archive goes out.
  const ids = names.map((n) => service.resolve(n).id);
  call.res.statusCode = 200;
  call.res.setHeader("Content-Type", "application/x-tar");
  await saveImages(service, names, call.res, { format: "docker" });
  for (const id of new Set(ids)) publish(call, "save", id, { name: id });
}

/** GET /images/{name}/get. */
function saveOne(call: ApiCall): Promise<void> {
  return save(call, [call.params.name!]);
}

/** GET /images/get?names=a&names=b (a comma-separated list is accepted too, as old clients sent). */
function saveMany(call: ApiCall): Promise<void> {
  const names = call.query.getAll("names").flatMap((n) => n.split(",")).map((n) => n.trim()).filter(Boolean);
  return save(call, names);
}

/**
 * POST /images/load?quiet=: always a 200 JSON stream (dockerd reports load
 * failures in it); "Loaded image: x" lines as `stream`, layer progress
 * unless quiet.
 */
async function loadArchive(call: ApiCall): Promise<void> {
  const service = images(call);
  const quiet = boolParamOr(call.query, "quiet", true);
  const stream = call.stream("application/json");
  const known = new Set(service.images.list().map((r) => r.id));
  const { loaded } = await loadImages(service, call.req, quiet ? {} : { progress: (m) => stream.write(asLayerProgress(m)) });
  for (const line of loaded) stream.write({ stream: line.endsWith("\n") ? line : `${line}\n` });
  for (const r of service.images.list()) if (!known.has(r.id)) publish(call, "load", r.id, { name: r.id });
}

// ---------------------------------------------------------------- search, bootstrap

/** GET /images/search?term=&limit=&filters=: the registry's v1 index, as dockerd asks it. */
async function search(call: ApiCall): Promise<void> {
  const rawLimit = (call.query.get("limit") ?? "").trim();
  if (rawLimit !== "" && !/^[-+]?\d+$/.test(rawLimit)) throw new InvalidArgumentError(`invalid limit specified: strconv.Atoi: parsing ${JSON.stringify(rawLimit)}: invalid syntax`);
  if (Number(rawLimit) < 0) throw new InvalidArgumentError("invalid limit specified");
  const filters = parseFilters(call.query, ["is-automated", "is-official", "stars"]);
  // A search needs no auth: a header that does not decode is ignored, as dockerd ignores it.
  const auth = decodeRegistryAuth(call.req.headers["x-registry-auth"]);
  const results = await searchIndex(call.query.get("term") ?? "", {
    ...call.ctx.services.registry,
    limit: rawLimit === "" ? 0 : Number(rawLimit),
    filters,
    ...(auth ? { auth } : {}),
    signal: call.signal,
  });
  json(call.res, 200, results);
}

/** POST /hako/images/busybox?tag=: the host's busybox-static as an image (hako extension). */
async function bootstrapBusybox(call: ApiCall): Promise<void> {
  const service = images(call);
  const tag = call.query.get("tag") || "busybox:latest";
  const ref = tagNameOnly(parseReference(tag));
  if (ref.digest !== undefined) throw new InvalidArgumentError("refusing to create a tag with a digest reference");
  const record = await createBusyboxImage(service, { tag: fullString(ref) });
  publish(call, "import", record.id, { name: familiarString(ref) });
  call.ctx.log.info("created busybox image from the host", { id: shortId(record.id), tag: familiarString(ref) });
  json(call.res, 200, { Id: record.id });
}
