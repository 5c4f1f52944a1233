/**
 * The content store: content-addressed blobs (manifests, indexes, configs,
 * layer blobs as pulled) under `<root>/blobs/<algorithm>/<hex>`, containerd's
 * local store in shape.
 *
 * A blob becomes visible only whole and verified: ingest streams into
 * `<root>/ingest/<name>/data`, hashing as it writes, fsyncs, checks the
 * digest and size, then renames the file into `blobs/` and fsyncs that
 * directory. A crash or a killed pull therefore leaves nothing under
 * `blobs/` but complete blobs; `cleanIngest()` removes the leftovers. Memory
 * stays flat whatever the blob size: one chunk in flight at a time.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, closeSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync } from "node:fs";
import { chmod, mkdir, open, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { InvalidArgumentError, NotFoundError, isErrno } from "../common/errors.ts";
import type { Digest } from "../spec/oci-image.ts";
import { digestAlgorithm, digestHex, digestMismatch, parseDigest, sizeMismatch, type DigestAlgorithm } from "./digest.ts";

/** A stored blob: what a descriptor needs besides its media type. */
export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** What the caller knows about the blob it hands to `ingest`. */
export interface IngestExpected {
  /** Verified before the blob becomes visible; computed when absent. */
  digest?: Digest;
  /** Verified too; the ingest fails as soon as more bytes arrive. */
  size?: number;
}

export interface IngestOptions {
  /** A name for the ingest (a pull's layer digest, say), shown in the ingest directory's name. */
  ref?: string;
  /** Called after each chunk with the bytes written so far. */
  onProgress?: (bytes: number) => void;
}

/** The largest blob `readJson`/`readBytes` load by default: manifests and configs are small. */
export const MAX_JSON_BLOB = 4 * 1024 * 1024;

const ALGORITHMS: readonly DigestAlgorithm[] = ["sha256", "sha512"];
const HEX_NAME: Record<DigestAlgorithm, RegExp> = { sha256: /^[a-f0-9]{64}$/, sha512: /^[a-f0-9]{128}$/ };

export class ContentStore {
  readonly root: string;
  readonly #blobs: string;
  readonly #ingest: string;
  /** Ingest directories in use by this process, which cleanIngest must leave alone. */
  readonly #active = new Set<string>();

  /** `root` is `<dataRoot>/content`; created when missing. */
  constructor(root: string) {
    this.root = root;
    this.#blobs = path.join(root, "blobs");
    this.#ingest = path.join(root, "ingest");
    mkdirSync(path.join(this.#blobs, "sha256"), { recursive: true, mode: 0o700 });
    mkdirSync(this.#ingest, { recursive: true, mode: 0o700 });
  }

  /** Where the blob lives (or would live), for zero-copy reads. */
  path(digest: Digest): string {
    return path.join(this.#blobs, digestAlgorithm(digest), digestHex(digest));
  }

  has(digest: Digest): boolean {
    return this.info(digest) !== undefined;
  }

  info(digest: Digest): BlobInfo | undefined {
    try {
      const st = statSync(this.path(digest));
      return st.isFile() ? { digest, size: st.size } : undefined;
    } catch (err) {
      if (isErrno(err, "ENOENT")) return undefined;
      throw err;
    }
  }

  /** A stream of the blob's bytes; NotFoundError when it is not stored. */
  read(digest: Digest): Readable {
    const file = this.path(digest);
    // Open now, so a missing blob fails here rather than as a stream error later.
    let fd: number;
    try {
      fd = openSync(file, "r");
    } catch (err) {
      if (isErrno(err, "ENOENT")) throw notFound(digest);
      throw err;
    }
    return createReadStream(file, { fd });
  }

  /** The blob's bytes, for small blobs only; InvalidArgumentError above `maxBytes`. */
  readBytes(digest: Digest, maxBytes = MAX_JSON_BLOB): Buffer {
    let fd: number;
    try {
      fd = openSync(this.path(digest), "r");
    } catch (err) {
      if (isErrno(err, "ENOENT")) throw notFound(digest);
      throw err;
    }
    try {
      const size = fstatSync(fd).size;
      if (size > maxBytes) {
        throw new InvalidArgumentError(`content ${digest} is ${size} bytes, more than the ${maxBytes} allowed here`);
      }
      const buf = Buffer.allocUnsafe(size);
      let off = 0;
      while (off < size) {
        const n = readSync(fd, buf, off, size - off, off);
        if (n === 0) break;
        off += n;
      }
      return buf.subarray(0, off);
    } finally {
      closeSync(fd);
    }
  }

  /** A small blob (manifest, index, config) parsed as JSON; InvalidArgumentError when it is not JSON. */
  readJson<T = unknown>(digest: Digest, maxBytes = MAX_JSON_BLOB): T {
    const bytes = this.readBytes(digest, maxBytes);
    try {
      return JSON.parse(bytes.toString("utf8")) as T;
    } catch (err) {
      throw new InvalidArgumentError(`content ${digest} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Removes a blob; true when there was one. */
  delete(digest: Digest): boolean {
    const file = this.path(digest);
    try {
      rmSync(file);
      return true;
    } catch (err) {
      if (isErrno(err, "ENOENT")) return false;
      throw err;
    }
  }

  /** Every stored blob's digest. */
  list(): Digest[] {
    const out: Digest[] = [];
    for (const algorithm of ALGORITHMS) {
      let names: string[];
      try {
        names = readdirSync(path.join(this.#blobs, algorithm));
      } catch (err) {
        if (isErrno(err, "ENOENT")) continue;
        throw err;
      }
      for (const name of names.sort()) {
        if (HEX_NAME[algorithm].test(name)) out.push(`${algorithm}:${name}`);
      }
    }
    return out;
  }

  /**
   * Streams `data` into the store and returns the stored blob. The digest
   * (and size, when given) are verified before the blob becomes visible; on
   * a mismatch or a stream error nothing is left behind and the error is
   * thrown (InvalidArgumentError "digest mismatch: expected X, got Y" or
   * "size mismatch ..."). A blob already stored is not written again: the
   * input is drained and discarded. Concurrent ingests of one blob are
   * safe: each writes its own file and the renames are atomic.
   */
  async ingest(expected: IngestExpected, data: Readable | Buffer, opts: IngestOptions = {}): Promise<BlobInfo> {
    const want = expected.digest === undefined ? undefined : parseDigest(expected.digest);
    const size = expected.size;
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) {
      await discard(data);
      throw new InvalidArgumentError(`invalid size ${size}${want ? ` for ${want}` : ""}`);
    }
    if (want !== undefined) {
      const existing = this.info(want);
      if (existing !== undefined) {
        await discard(data);
        if (size !== undefined && existing.size !== size) throw sizeMismatch(want, size, existing.size);
        return existing;
      }
    }

    const algorithm: DigestAlgorithm = want === undefined ? "sha256" : digestAlgorithm(want);
    const dir = path.join(this.#ingest, ingestName(opts.ref));
    this.#active.add(dir);
    try {
      await mkdir(dir, { mode: 0o700 });
      const tmp = path.join(dir, "data");
      const hash = createHash(algorithm);
      let bytes = 0;
      const fh = await open(tmp, "wx", 0o644);
      try {
        const chunks: AsyncIterable<unknown> | Iterable<Buffer> = Buffer.isBuffer(data) ? [data] : data;
        for await (const chunk of chunks) {
          const buf = toBuffer(chunk);
          bytes += buf.length;
          // Stop reading as soon as the source sends more than announced.
          if (size !== undefined && bytes > size) throw sizeMismatch(want, size, bytes, true);
          hash.update(buf);
          let off = 0;
          while (off < buf.length) {
            const { bytesWritten } = await fh.write(buf, off, buf.length - off);
            off += bytesWritten;
          }
          opts.onProgress?.(bytes);
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (size !== undefined && bytes !== size) throw sizeMismatch(want, size, bytes);
      const actual: Digest = `${algorithm}:${hash.digest("hex")}`;
      if (want !== undefined && actual !== want) throw digestMismatch(want, actual);

      await chmod(tmp, 0o444);
      const target = this.path(actual);
      await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      await rename(tmp, target);
      await fsyncDir(path.dirname(target));
      return { digest: actual, size: bytes };
    } catch (err) {
      if (!Buffer.isBuffer(data) && !data.destroyed) data.destroy();
      throw err;
    } finally {
      await rm(dir, { recursive: true, force: true });
      this.#active.delete(dir);
    }
  }

  /**
   * Removes ingest leftovers (a pull killed mid-blob), at start-up. Ingests
   * running in this process are kept; with `olderThanMs`, so are directories
   * modified more recently than that. Returns how many were removed.
   */
  cleanIngest(opts: { olderThanMs?: number } = {}): number {
    let removed = 0;
    const now = Date.now();
    for (const name of readdirSync(this.#ingest)) {
      const dir = path.join(this.#ingest, name);
      if (this.#active.has(dir)) continue;
      if (opts.olderThanMs !== undefined) {
        try {
          if (now - statSync(dir).mtimeMs < opts.olderThanMs) continue;
        } catch (err) {
          if (isErrno(err, "ENOENT")) continue;
          throw err;
        }
      }
      rmSync(dir, { recursive: true, force: true });
      removed++;
    }
    return removed;
  }
}

function notFound(digest: Digest): NotFoundError {
  return new NotFoundError(`content digest ${digest}: not found`);
}

/** A unique ingest directory name, readable when a ref is given. */
function ingestName(ref: string | undefined): string {
  const rand = randomBytes(8).toString("hex");
  if (ref === undefined || ref === "") return rand;
  const safe = ref.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^\.+/, "_").slice(0, 80);
  return `${safe}-${rand}`;
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === "string") return Buffer.from(chunk);
  throw new InvalidArgumentError("content ingest: the stream must yield bytes");
}

/** Reads and drops the rest of an input whose content is already stored. */
async function discard(data: Readable | Buffer): Promise<void> {
  if (Buffer.isBuffer(data) || data.destroyed || data.readableEnded) return;
  data.resume();
  try {
    await finished(data);
  } catch {
    // The blob is already stored; an error in the unused input changes nothing.
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
