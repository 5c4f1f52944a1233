/**
 * docker save / docker load: image archives in Docker's layout (the seed's:
 * manifest.json, repositories, <config>.json, <layer>/layer.tar) and as an
 * OCI image layout (oci-layout, index.json, blobs/sha256/...).
 *
 *   save.ts     the writers (and the v1 layer ID scheme, documented there)
 *   load.ts     the reader: docker-archive, Docker 25+ combined, OCI layout
 *   spool.ts    the outer tar unpacked to a spool directory, names checked
 *   tar-out.ts  the outer tar written with backpressure into the caller's stream
 */
import type { Readable, Writable } from "node:stream";
import type { ImageService, Progress } from "../service.ts";
import { readArchive } from "./load.ts";
import { writeArchive, type ArchiveFormat } from "./save.ts";

export type { ArchiveFormat } from "./save.ts";
export { v1Ids } from "./save.ts";

/**
 * Writes the named images (references or IDs) as one tar archive to `out`
 * and ends `out`. A tagged name is saved with that tag, a repository name
 * without tag with all its tags, an ID untagged. Layers go out uncompressed
 * in the "docker" format (default), as stored in "oci". On failure the
 * archive written so far is incomplete and `out` is left open for the
 * caller to destroy.
 */
export async function saveImages(service: ImageService, names: string[], out: Writable, options: { format?: ArchiveFormat } = {}): Promise<void> {
  await writeArchive(service, names, out, options.format ?? "docker");
}

/**
 * Reads an archive (docker or OCI layout, plain or compressed) and stores
 * its images. Returns what docker load prints: "Loaded image: busybox:latest"
 * per tag, or "Loaded image ID: sha256:..." for untagged images. `progress`
 * gets "Loading layer" messages (id: the layer's short diff ID,
 * progressDetail over the layer's bytes in the archive) for each layer not
 * already stored, and a `stream` message when a tag moves from another
 * image; the "Loaded image" lines are only returned, for the caller to print.
 * A bad archive fails with InvalidArgumentError before anything is stored.
 */
export async function loadImages(service: ImageService, input: Readable, options: { progress?: Progress } = {}): Promise<{ loaded: string[] }> {
  return readArchive(service, input, options.progress);
}
