/**
 * Content digests as the OCI image-spec and go-digest define them:
 * `<algorithm>:<lowercase hex>`, with sha256 (64 hex) and sha512 (128 hex)
 * as the registered algorithms. Streams that hash what passes through them
 * let every blob be verified while it is written, never re-read.
 */
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { FailedPreconditionError, InvalidArgumentError } from "../common/errors.ts";
import type { Digest } from "../spec/oci-image.ts";

export type DigestAlgorithm = "sha256" | "sha512";

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

/** go-digest's grammar: algorithm components joined by `+._-`, then the encoded part. */
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/**
 * The reason `s` is not a valid digest, worded as go-digest words it
 * ("invalid checksum digest format", "... length", "unsupported digest
 * algorithm"), or undefined when it is valid.
 */
export function digestProblem(s: string): string | undefined {
  const i = s.indexOf(":");
  if (i <= 0 || i + 1 === s.length) return "invalid checksum digest format";
  const algorithm = s.slice(0, i);
  const encoded = s.slice(i + 1);
  if (algorithm !== "sha256" && algorithm !== "sha512") {
    return DIGEST_GRAMMAR.test(s) ? "unsupported digest algorithm" : "invalid checksum digest format";
  }
  if (encoded.length !== HEX_LENGTH[algorithm]) return "invalid checksum digest length";
  if (!/^[a-f0-9]+$/.test(encoded)) return "invalid checksum digest format";
  return undefined;
}

/** True when `s` is a valid sha256 or sha512 digest. */
export function isValidDigest(s: string): boolean {
  return digestProblem(s) === undefined;
}

/**
 * Validates a digest string and returns it.
 *
 * @example parseDigest("sha256:44136fa3...") // "sha256:44136fa3..."
 * @throws InvalidArgumentError naming the input and the reason
 */
export function parseDigest(s: string): Digest {
  const problem = digestProblem(s);
  if (problem !== undefined) throw new InvalidArgumentError(`invalid digest ${JSON.stringify(s)}: ${problem}`);
  return s;
}

/** The algorithm of a valid digest. */
export function digestAlgorithm(d: Digest): DigestAlgorithm {
  return parseDigest(d).slice(0, d.indexOf(":")) as DigestAlgorithm;
}

/** The hex part of a valid digest. */
export function digestHex(d: Digest): string {
  return parseDigest(d).slice(d.indexOf(":") + 1);
}

/** `sha256:<hex>` of the bytes. */
export function sha256Digest(data: Buffer | string): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** `<algorithm>:<hex>` of the bytes. */
export function digestOf(data: Buffer | string, algorithm: DigestAlgorithm = "sha256"): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest("hex")}`;
}

/**
 * A pass-through stream that hashes and counts every byte it forwards.
 * `digest()` is available once the stream has ended.
 */
export class DigestingStream extends Transform {
  readonly algorithm: DigestAlgorithm;
  #hash: Hash;
  #bytes = 0;
  #digest: Digest | undefined;

  constructor(algorithm: DigestAlgorithm = "sha256") {
    super();
    this.algorithm = algorithm;
    this.#hash = createHash(algorithm);
  }

  /** Bytes forwarded so far. */
  get bytes(): number {
    return this.#bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.length;
    this.#hash.update(chunk);
    const err = this.check(this.#bytes);
    if (err) {
      callback(err);
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#digest = `${this.algorithm}:${this.#hash.digest("hex")}`;
    callback(this.verify(this.#digest, this.#bytes) ?? null);
  }

  /** The digest of everything that passed; throws before the end of the stream. */
  digest(): Digest {
    if (this.#digest === undefined) throw new FailedPreconditionError("digest requested before the end of the stream");
    return this.#digest;
  }

  /** Subclass hook, called after each chunk with the running byte count. */
  protected check(_bytes: number): Error | undefined {
    return undefined;
  }

  /** Subclass hook, called at the end with the final digest and size. */
  protected verify(_digest: Digest, _bytes: number): Error | undefined {
    return undefined;
  }
}

/** What a verifying stream or an ingest expects to receive. */
export interface Expected {
  digest: Digest;
  size?: number;
}

/** The error for content whose digest is not the one expected. */
export function digestMismatch(expected: Digest, actual: Digest): InvalidArgumentError {
  return new InvalidArgumentError(`digest mismatch: expected ${expected}, got ${actual}`);
}

/**
 * The error for content whose size is not the one expected; `exceeded` when
 * the stream was cut off as soon as it passed the expected size.
 */
export function sizeMismatch(digest: Digest | undefined, expected: number, actual: number, exceeded = false): InvalidArgumentError {
  const what = digest ? ` for ${digest}` : "";
  const got = exceeded ? `more than ${expected}` : `${actual}`;
  return new InvalidArgumentError(`size mismatch${what}: expected ${expected} bytes, got ${got} bytes`);
}

class VerifyingStream extends DigestingStream {
  readonly #expected: Expected;

  constructor(expected: Expected) {
    super(digestAlgorithm(expected.digest));
    this.#expected = expected;
  }

  protected override check(bytes: number): Error | undefined {
    const size = this.#expected.size;
    if (size !== undefined && bytes > size) return sizeMismatch(this.#expected.digest, size, bytes, true);
    return undefined;
  }

  protected override verify(digest: Digest, bytes: number): Error | undefined {
    const size = this.#expected.size;
    if (size !== undefined && bytes !== size) return sizeMismatch(this.#expected.digest, size, bytes);
    if (digest !== this.#expected.digest) return digestMismatch(this.#expected.digest, digest);
    return undefined;
  }
}

/**
 * A pass-through stream that fails with InvalidArgumentError when the bytes
 * are not the expected ones: as soon as more than `size` bytes arrive, or at
 * the end when the size or the digest differ. Use it on any untrusted
 * stream whose descriptor is known (registry blobs, archive members).
 */
export function verifyingStream(expected: Expected): DigestingStream {
  parseDigest(expected.digest);
  if (expected.size !== undefined && (!Number.isSafeInteger(expected.size) || expected.size < 0)) {
    throw new InvalidArgumentError(`invalid size ${expected.size} for ${expected.digest}`);
  }
  return new VerifyingStream(expected);
}
