/**
 * The identities Docker and the OCI image-spec compute for images and layers:
 *
 *   diffID          sha256 of the uncompressed layer tar
 *   chainID(L1)   = diffID(L1)
 *   chainID(Ln)   = sha256(chainID(Ln-1) + " " + diffID(Ln))   (the "sha256:..." strings)
 *   image ID      = sha256 of the config blob, byte for byte as stored
 */
import { InvalidArgumentError } from "../common/errors.ts";
import type { Digest } from "../spec/oci-image.ts";
import { parseDigest, sha256Digest } from "./digest.ts";

/**
 * The chain ID of every prefix of a layer stack: `result[i]` names the
 * filesystem made of layers 0..i.
 *
 * @example chainIds([a, b]) // [a, sha256(`${a} ${b}`)]
 * @throws InvalidArgumentError for a diff ID that is not a digest
 */
export function chainIds(diffIds: readonly string[]): Digest[] {
  const out: Digest[] = [];
  for (const diffId of diffIds) {
    parseDigest(diffId);
    const parent = out.at(-1);
    out.push(parent === undefined ? diffId : sha256Digest(`${parent} ${diffId}`));
  }
  return out;
}

/** The chain ID of the whole stack, or undefined for an image without layers. */
export function chainId(diffIds: readonly string[]): Digest | undefined {
  return chainIds(diffIds).at(-1);
}

/** The image ID of a config blob: the sha256 of its exact bytes. */
export function imageIdOf(configBytes: Buffer): Digest {
  return sha256Digest(configBytes);
}

/**
 * The 12-hex short form Docker prints (`docker images`, `docker ps`).
 *
 * @example shortId("sha256:4a5b...") // "4a5b..." (12 characters)
 */
export function shortId(id: string): string {
  const hex = id.startsWith("sha256:") ? id.slice("sha256:".length) : id;
  if (!/^[a-f0-9]+$/.test(hex)) throw new InvalidArgumentError(`invalid ID ${JSON.stringify(id)}`);
  return hex.slice(0, 12);
}
