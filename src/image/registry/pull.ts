/**
 * Pulls one image from a registry: tag → manifest (an index or list is
 * narrowed to one platform) → config → layers, downloaded in parallel and
 * streamed into the caller's sink, with Docker's per-layer progress events.
 * Storing blobs and extracting layers are the caller's job.
 */
import { Transform, pipeline, type Readable } from "node:stream";
import { InternalError, InvalidArgumentError, NotFoundError, NotImplementedError } from "../../common/errors.ts";
import { MediaType, type Descriptor, type Index, type Manifest } from "../../spec/oci-image.ts";
import { MANIFEST_MEDIA_TYPES, parseDigest, type ManifestResult, type RegistryClient } from "./client.ts";
import { DigestMismatchError } from "./errors.ts";
import { runPool, shortId, throttled, withRetries, type ProgressEvent } from "./jobs.ts";

export type PullProgress = ProgressEvent;

export interface PullPlatform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface PullOptions {
  client: RegistryClient;
  repo: string;
  /** a tag or a digest */
  reference: string;
  /** default linux/amd64 */
  platform?: PullPlatform;
  /** stores one layer blob; must consume `stream` and reject if it errors (the digest is verified as it flows) */
  blobSink: (desc: Descriptor, stream: Readable) => Promise<void>;
  /** true when the caller already holds the blob: it is not downloaded ("Already exists") */
  hasBlob: (digest: string) => boolean | Promise<boolean>;
  onProgress?: (event: PullProgress) => void;
  /** The verified config and the layer list, once known and before any layer downloads (to overlap extraction). */
  onLayers?: (config: Buffer, layers: Descriptor[]) => void;
  /** parallel layer downloads (default 3, Docker's max-concurrent-downloads) */
  concurrency?: number;
  /** retries of a layer download after a network failure (default 2) */
  retries?: number;
  /** base delay between retries, ms (default 1000, growing linearly) */
  retryDelayMs?: number;
  signal?: AbortSignal;
}

export interface PullResult {
  /** the image manifest (for an index, the one picked for the platform) */
  manifest: ManifestResult;
  /** the index or manifest list the reference named, when it named one */
  index?: ManifestResult;
  indexDigest?: string;
  /** the config blob, verified */
  config: Buffer;
  configDescriptor: Descriptor;
  /** the manifest's layers, in order */
  layers: Descriptor[];
}

const INDEX_TYPES = new Set<string>([MediaType.OciIndex, MediaType.DockerManifestList]);
const MANIFEST_TYPES = new Set<string>([MediaType.OciManifest, MediaType.DockerManifest]);
const MAX_CONFIG_BYTES = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------
// platforms (containerd's normalisation and matching, in small)

const ARCH_ALIASES: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: "amd64" },
  "x86-64": { architecture: "amd64" },
  aarch64: { architecture: "arm64" },
  armhf: { architecture: "arm", variant: "v7" },
  armel: { architecture: "arm", variant: "v6" },
  i386: { architecture: "386" },
};

export function normalizePlatform(p: PullPlatform): Required<Pick<PullPlatform, "os" | "architecture">> & { variant: string } {
  const os = p.os.toLowerCase();
  let architecture = p.architecture.toLowerCase();
  let variant = (p.variant ?? "").toLowerCase();
  const alias = ARCH_ALIASES[architecture];
  if (alias) {
    architecture = alias.architecture;
    if (!variant && alias.variant) variant = alias.variant;
  }
  if (architecture === "arm64" && (variant === "8" || variant === "v8")) variant = "";
  if (architecture === "amd64" && (variant === "v1")) variant = "";
  if (architecture === "arm" && /^\d$/.test(variant)) variant = `v${variant}`;
  return { os, architecture, variant };
}

/** How well `candidate` serves `wanted`: < 0 no; higher is better. */
function platformScore(wanted: PullPlatform, candidate: PullPlatform | undefined): number {
  if (!candidate?.os || !candidate.architecture) return -1;
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return -1;
  if (w.variant === c.variant) return 3;
  if (!wanted.variant) return 2;
  // an arm v7 machine runs v6 and v5 images (less preferred)
  if (w.architecture === "arm" && /^v\d$/.test(w.variant) && /^v\d$/.test(c.variant) && c.variant < w.variant) {
    return 1 + Number(c.variant.slice(1)) / 10;
  }
  return -1;
}

/** The index entry for `platform`, like Docker picks it; undefined when none matches. */
export function selectPlatformManifest(index: Index, platform: PullPlatform): Descriptor | undefined {
  let best: Descriptor | undefined;
  let bestScore = -1;
  for (const d of index.manifests ?? []) {
    if (d.mediaType && !MANIFEST_TYPES.has(d.mediaType) && !INDEX_TYPES.has(d.mediaType)) continue;
    const score = platformScore(platform, d.platform);
    if (score > bestScore) {
      best = d;
      bestScore = score;
    }
  }
  return best;
}

function formatPlatform(p: PullPlatform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

// ---------------------------------------------------------------------------

function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString("utf8")) as T;
  } catch (err) {
    throw new InvalidArgumentError(`invalid ${what}: ${(err as Error).message}`);
  }
}

function checkDescriptor(d: Descriptor | undefined, what: string): Descriptor {
  if (!d || typeof d.digest !== "string" || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new InvalidArgumentError(`invalid ${what} descriptor in manifest: ${JSON.stringify(d)}`);
  }
  parseDigest(d.digest);
  return d;
}

async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > limit) {
      stream.destroy();
      throw new InvalidArgumentError(`blob larger than ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function pullImage(opts: PullOptions): Promise<PullResult> {
  const { client, repo, reference } = opts;
  const platform = opts.platform ?? { os: "linux", architecture: "amd64" };
  const emit = (e: PullProgress) => opts.onProgress?.(e);
  const signal = opts.signal;

  // 1. the manifest, through an index when the reference names one
  const top = await client.getManifest(repo, reference, MANIFEST_MEDIA_TYPES, { signal });
  let manifestResult = top;
  let index: ManifestResult | undefined;
  for (let depth = 0; INDEX_TYPES.has(manifestResult.mediaType); depth++) {
    if (depth > 2) throw new InvalidArgumentError(`indexes nested too deep in ${repo}:${reference}`);
    index = manifestResult;
    const doc = parseJson<Index>(manifestResult.bytes, "image index");
    const chosen = selectPlatformManifest(doc, platform);
    if (!chosen) {
      throw new NotFoundError(`no matching manifest for ${formatPlatform(platform)} in the manifest list entries`);
    }
    checkDescriptor(chosen, "platform manifest");
    manifestResult = await client.getManifest(repo, chosen.digest, MANIFEST_MEDIA_TYPES, { signal });
    if (manifestResult.bytes.length !== chosen.size) {
      throw new DigestMismatchError(`manifest ${chosen.digest} is ${manifestResult.bytes.length} bytes, the index says ${chosen.size}`, `${chosen.size}`, `${manifestResult.bytes.length}`);
    }
  }
  if (!MANIFEST_TYPES.has(manifestResult.mediaType)) {
    if (manifestResult.mediaType.includes("manifest.v1")) {
      throw new NotImplementedError(`Docker image manifest schema 1 is not supported (${repo}:${reference}); push it again with a newer client`);
    }
    throw new InvalidArgumentError(`unsupported manifest media type ${manifestResult.mediaType} for ${repo}:${reference}`);
  }
  const manifest = parseJson<Manifest>(manifestResult.bytes, "image manifest");
  const configDescriptor = checkDescriptor(manifest.config, "config");
  if (!Array.isArray(manifest.layers)) throw new InvalidArgumentError(`manifest ${manifestResult.digest} has no layers list`);
  const layers = manifest.layers.map((l, i) => checkDescriptor(l, `layer ${i}`));

  // 2. the config (small; verified while read)
  if (configDescriptor.size > MAX_CONFIG_BYTES) throw new InvalidArgumentError(`image config of ${configDescriptor.size} bytes is too large`);
  const config = await withRetries(
    async () => readAll(await client.getBlob(repo, configDescriptor.digest, { size: configDescriptor.size, signal }), MAX_CONFIG_BYTES),
    { retries: opts.retries ?? 2, delayMs: opts.retryDelayMs ?? 1000, signal },
  );

  opts.onLayers?.(config, layers);

  // 3. the layers: one set of events per distinct blob
  const distinct: Descriptor[] = [];
  const seen = new Set<string>();
  for (const l of layers) {
    if (!seen.has(l.digest)) {
      seen.add(l.digest);
      distinct.push(l);
    }
  }
  const todo: Descriptor[] = [];
  for (const l of distinct) {
    if (await opts.hasBlob(l.digest)) emit({ id: shortId(l.digest), status: "Already exists" });
    else {
      emit({ id: shortId(l.digest), status: "Pulling fs layer" });
      todo.push(l);
    }
  }
  const concurrency = Math.max(1, opts.concurrency ?? 3);
  for (let i = concurrency; i < todo.length; i++) emit({ id: shortId(todo[i]!.digest), status: "Waiting" });

  await runPool(
    todo,
    concurrency,
    async (desc, _i, poolSignal) => {
      const id = shortId(desc.digest);
      await withRetries(() => downloadLayer(opts, desc, emit, poolSignal), {
        retries: opts.retries ?? 2,
        delayMs: opts.retryDelayMs ?? 1000,
        signal: poolSignal,
        onRetry: (_attempt, waitMs) => {
          const s = Math.max(1, Math.round(waitMs / 1000));
          emit({ id, status: `Retrying in ${s} second${s === 1 ? "" : "s"}` });
        },
      });
      emit({ id, status: "Download complete" });
    },
    signal,
  );

  return {
    manifest: manifestResult,
    ...(index ? { index, indexDigest: index.digest } : {}),
    config,
    configDescriptor,
    layers,
  };
}

/** One attempt at one layer: registry → digest check → counter → caller's sink. */
async function downloadLayer(opts: PullOptions, desc: Descriptor, emit: (e: PullProgress) => void, signal: AbortSignal): Promise<void> {
  const id = shortId(desc.digest);
  const total = desc.size;
  const source = await opts.client.getBlob(opts.repo, desc.digest, { size: total, signal });
  let current = 0;
  let verifying = false;
  const report = throttled((n) => emit({ id, status: "Downloading", progressDetail: { current: n, total } }), total);
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      current += chunk.length;
      report(current);
      if (current >= total && !verifying) {
        verifying = true;
        emit({ id, status: "Verifying Checksum" });
      }
      cb(null, chunk);
    },
    flush(cb) {
      if (!verifying) emit({ id, status: "Verifying Checksum" }); // empty blob
      cb();
    },
  });
  let streamError: unknown;
  counter.on("error", (err) => {
    streamError ??= err;
  });
  pipeline(source, counter, () => {});
  try {
    await opts.blobSink(desc, counter);
  } catch (err) {
    if (!counter.destroyed) counter.destroy();
    throw streamError ?? err;
  }
  if (streamError) throw streamError;
  if (!counter.readableEnded) {
    counter.destroy();
    throw new InternalError(`blob sink for ${desc.digest} returned before reading the whole blob`);
  }
}
