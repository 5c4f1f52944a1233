/**
 * docker save / docker load: image archives in Docker's layout (the seed's:
 * manifest.json, repositories, <config>.json, <layer>/layer.tar) and as an
 * OCI image layout (oci-layout, index.json, blobs/sha256/...).
 */
import type { Readable, Writable } from "node:stream";
import { NotImplementedError } from "../../common/errors.ts";
import type { ImageService, Progress } from "../service.ts";

export type ArchiveFormat = "docker" | "oci";

/** Writes the named images (references or IDs) as one tar archive to `out`. */
export async function saveImages(_service: ImageService, _names: string[], _out: Writable, _options: { format?: ArchiveFormat } = {}): Promise<void> {
  throw new NotImplementedError("save is not implemented yet");
}

/**
 * Reads an archive (docker or OCI layout, plain or compressed) and stores
 * its images. Returns what docker load prints: "Loaded image: busybox:latest"
 * per tag, or "Loaded image ID: sha256:..." for untagged images.
 */
export async function loadImages(_service: ImageService, _input: Readable, _options: { progress?: Progress } = {}): Promise<{ loaded: string[] }> {
  throw new NotImplementedError("load is not implemented yet");
}
