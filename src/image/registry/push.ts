/**
 * Pushes one image: layers in parallel (skipped when the registry has them,
 * mounted from sibling repositories when it can), then the config blob, then
 * the manifest under its tag — with Docker's per-layer progress events.
 */
import { Readable } from "node:stream";
import { InvalidArgumentError } from "../../common/errors.ts";
import type { Descriptor } from "../../spec/oci-image.ts";
import { digestOf, parseDigest, type RegistryClient } from "./client.ts";
import { DigestMismatchError } from "./errors.ts";
import { runPool, shortId, throttled, withRetries, type ProgressEvent } from "./jobs.ts";

export type PushProgress = ProgressEvent;

export interface PushLayer {
  descriptor: Descriptor;
  /** opens the blob's bytes (compressed, exactly as the descriptor names them); may be called again on retry */
  open: () => Readable;
}

export interface PushOptions {
  client: RegistryClient;
  repo: string;
  /** the tag to put the manifest under; without one it is put by digest */
  tag?: string;
  manifest: { bytes: Buffer; mediaType: string };
  config: { descriptor: Descriptor; bytes: Buffer };
  layers: PushLayer[];
  onProgress?: (event: PushProgress) => void;
  /** repositories on the same registry that may hold the blobs (tried with cross-repository mounts) */
  mountFrom?: string[];
  /** parallel layer uploads (default 5, Docker's max-concurrent-uploads) */
  concurrency?: number;
  /** upload in PATCH chunks of this size instead of one PUT */
  chunkSize?: number;
  /** retries of a layer upload after a network failure (default 2) */
  retries?: number;
  retryDelayMs?: number;
  signal?: AbortSignal;
}

export interface PushResult {
  /** the manifest digest */
  digest: string;
  /** the manifest size in bytes */
  size: number;
  tag?: string;
}

export async function pushImage(opts: PushOptions): Promise<PushResult> {
  const { client, repo } = opts;
  const emit = (e: PushProgress) => opts.onProgress?.(e);
  const retries = opts.retries ?? 2;
  const delayMs = opts.retryDelayMs ?? 1000;

  const cfg = opts.config.descriptor;
  parseDigest(cfg.digest);
  const cfgActual = digestOf(opts.config.bytes, parseDigest(cfg.digest).algorithm);
  if (cfgActual !== cfg.digest || opts.config.bytes.length !== cfg.size) {
    throw new DigestMismatchError(`config bytes do not match descriptor ${cfg.digest} (${cfg.size} bytes)`, cfg.digest, cfgActual);
  }

  const distinct: PushLayer[] = [];
  const seen = new Set<string>();
  for (const l of opts.layers) {
    parseDigest(l.descriptor.digest);
    if (!Number.isSafeInteger(l.descriptor.size) || l.descriptor.size < 0) {
      throw new InvalidArgumentError(`invalid size in layer descriptor ${l.descriptor.digest}`);
    }
    if (!seen.has(l.descriptor.digest)) {
      seen.add(l.descriptor.digest);
      distinct.push(l);
    }
  }
  const candidates = [...new Set(opts.mountFrom ?? [])].filter((r) => r !== repo);
  const concurrency = Math.max(1, opts.concurrency ?? 5);

  for (const l of distinct) emit({ id: shortId(l.descriptor.digest), status: "Preparing" });
  for (let i = concurrency; i < distinct.length; i++) emit({ id: shortId(distinct[i]!.descriptor.digest), status: "Waiting" });

  await runPool(
    distinct,
    concurrency,
    async (layer, _i, signal) => {
      const { digest, size } = layer.descriptor;
      const id = shortId(digest);
      if ((await client.blobExists(repo, digest, { signal })) !== undefined) {
        emit({ id, status: "Layer already exists" });
        return;
      }
      // every candidate but the last with a plain mount; the last one's 202 becomes our upload session
      for (const from of candidates.slice(0, -1)) {
        if (await client.mountBlob(repo, digest, from, { signal })) {
          emit({ id, status: `Mounted from ${from}` });
          return;
        }
      }
      const last = candidates.at(-1);
      const report = throttled((n) => emit({ id, status: "Pushing", progressDetail: { current: n, total: size } }), size);
      const result = await withRetries(
        (attempt) =>
          client.pushBlob(repo, digest, size, layer.open, {
            onProgress: report,
            signal,
            ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
            ...(last && attempt === 0 ? { mountFrom: last } : {}),
          }),
        {
          retries,
          delayMs,
          signal,
          onRetry: (_a, waitMs) => {
            const s = Math.max(1, Math.round(waitMs / 1000));
            emit({ id, status: `Retrying in ${s} second${s === 1 ? "" : "s"}` });
          },
        },
      );
      emit({ id, status: result.mountedFrom ? `Mounted from ${result.mountedFrom}` : "Pushed" });
    },
    opts.signal,
  );

  if ((await client.blobExists(repo, cfg.digest, { signal: opts.signal })) === undefined) {
    await withRetries(() => client.pushBlob(repo, cfg.digest, cfg.size, () => Readable.from([opts.config.bytes]), { signal: opts.signal }), {
      retries,
      delayMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  const digest = await withRetries(
    () => client.putManifest(repo, opts.tag ?? digestOf(opts.manifest.bytes), opts.manifest.bytes, opts.manifest.mediaType, { signal: opts.signal }),
    { retries, delayMs, ...(opts.signal ? { signal: opts.signal } : {}) },
  );
  return { digest, size: opts.manifest.bytes.length, ...(opts.tag ? { tag: opts.tag } : {}) };
}
