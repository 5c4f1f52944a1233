/**
 * docker save: images as one tar archive.
 *
 * "docker" (the classic layout the seed shows, which Docker, skopeo's
 * docker-archive and hako all load):
 *
 *   <v1id>/VERSION       "1.0"
 *   <v1id>/json          the legacy v1 image JSON of that layer
 *   <v1id>/layer.tar     the layer, UNCOMPRESSED (its sha256 is the diff ID);
 *                        a diff ID already written is a symlink ../<first v1id>/layer.tar
 *   <config-hex>.json    the config blob, byte for byte (its sha256 is the image ID)
 *   manifest.json        [{Config, RepoTags, Layers, Parent?}]
 *   repositories         {"busybox": {"latest": "<v1id of the top layer>"}}
 *
 * The v1 ID of a layer (the directory name) is
 *
 *   v1id(0) = sha256(chainID(0) + "\n")
 *   v1id(i) = sha256(chainID(i) + "\n" + v1id(i-1))      (hex strings, "sha256:" forms for chain IDs)
 *
 * so it depends on the layer stack only: images sharing their first n
 * layers share those n directories, and a save is byte-for-byte
 * reproducible. (Docker's own v1 IDs hash Go's JSON of a V1Image; nothing
 * reads them back, docker load included.) A directory's `json` is
 * Docker's: for the top layer of the first image written with it, the
 * image's v1 fields (created, container_config, config, os, architecture...),
 * for the others the epoch-dated stub Docker writes for lower layers.
 *
 * "oci" (an OCI image layout, as `docker save` of Docker 25+ writes it):
 *
 *   oci-layout, index.json (one entry per tag, annotated with
 *   io.containerd.image.name and org.opencontainers.image.ref.name),
 *   blobs/sha256/<hex> for manifests, configs and layer blobs as stored,
 *   and a manifest.json pointing into blobs/, so classic loaders read it too.
 *
 * Everything streams: layer bytes go from the content store through a
 * digest check into `out`; entry sizes come from the blob (uncompressed
 * blobs), the layer store's record (LayerRecord.size, the bytes of the
 * very tar whose sha256 is the diff ID), or a counting first pass.
 */
import { closeSync, openSync, readSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import { InternalError, InvalidArgumentError } from "../../common/errors.ts";
import { ANNOTATION_CONTAINERD_IMAGE_NAME, ANNOTATION_REF_NAME, MediaType, type Descriptor, type DockerArchiveManifestEntry, type ImageConfig, type Index, type OciLayout } from "../../spec/oci-image.ts";
import { decompress, detectCompression, type Compression } from "../compression.ts";
import { DigestingStream, digestHex, sha256Digest, verifyingStream } from "../digest.ts";
import { emptyContainerConfig } from "../empty-container-config.ts";
import { chainIds } from "../ids.ts";
import type { ImageRecord } from "../image-store.ts";
import { familiarName, familiarString, fullString, normalize, parseReference, repository, type Reference } from "../reference.ts";
import type { ImageService } from "../service.ts";
import { TarOut } from "./tar-out.ts";

export type ArchiveFormat = "docker" | "oci";

const EPOCH = new Date(0);

/** One image to save and the tags it is saved under (full references). */
interface Selected {
  record: ImageRecord;
  tags: Reference[];
}

/**
 * The images `names` select, in order, each once, with the tags to write:
 * a tagged name gives that tag, a repository name without tag every tag of
 * that repository (as docker save does), an ID or a digest reference none.
 */
export function selectImages(service: ImageService, names: string[]): Selected[] {
  if (names.length === 0) throw new InvalidArgumentError("no images to save: name at least one image");
  const out = new Map<string, Selected>();
  const add = (id: string, tag?: Reference): void => {
    let sel = out.get(id);
    if (!sel) {
      const record = service.images.get(id);
      if (!record) throw new InternalError(`image ${id} vanished while saving`);
      sel = { record, tags: [] };
      out.set(id, sel);
    }
    if (tag && !sel.tags.some((t) => fullString(t) === fullString(tag))) sel.tags.push(tag);
  };
  const allTags = service.images.references().tags;
  for (const name of names) {
    let ref: Reference | undefined;
    try {
      ref = parseReference(name);
    } catch {
      ref = undefined; // a 64-hex ID, or not a reference at all: resolve decides
    }
    if (ref && ref.tag === undefined && ref.digest === undefined) {
      // A repository: all its tags.
      const repo = repository(ref);
      const tagged = Object.keys(allTags).filter((t) => repository(parseReference(t)) === repo);
      if (tagged.length) {
        for (const t of tagged.sort()) add(allTags[t]!, parseReference(t));
        continue;
      }
    }
    const record = service.images.resolve(name);
    const tag = ref && ref.digest === undefined ? normalize(name) : undefined;
    if (tag && allTags[fullString(tag)] === record.id) add(record.id, tag);
    else add(record.id);
  }
  return [...out.values()];
}

/** Writes the selected images to `out` in `format`; ends `out` when done. */
export async function writeArchive(service: ImageService, names: string[], out: Writable, format: ArchiveFormat): Promise<void> {
  if (format !== "docker" && format !== "oci") throw new InvalidArgumentError(`unknown archive format "${String(format)}": use docker or oci`);
  const selected = selectImages(service, names);
  // Blobs for layers that have none (imported, committed images), before a byte is written.
  for (const sel of selected) {
    if (format === "oci" || sel.record.layers.some((l) => !l.blob || !service.content.has(l.blob.digest))) {
      await service.manifestFor(sel.record);
      sel.record = service.images.get(sel.record.id) ?? sel.record;
    }
  }
  const tar = new TarOut(out);
  try {
    if (format === "docker") await writeDocker(service, selected, tar);
    else await writeOci(service, selected, tar);
  } catch (err) {
    await tar.abort(err as Error);
    throw tar.outputError ?? err;
  }
  await tar.finish();
}

// ---------------------------------------------------------------- docker layout

/** The v1 ID (a directory name) of each layer position; see the file comment. */
export function v1Ids(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const chain of chainIds(diffIds)) {
    out.push(digestHex(sha256Digest(`${chain}\n${out.at(-1) ?? ""}`)));
  }
  return out;
}

async function writeDocker(service: ImageService, selected: Selected[], tar: TarOut): Promise<void> {
  const writtenDirs = new Set<string>();
  /** diff ID → the layer.tar it was first written as. */
  const writtenDiffs = new Map<string, string>();
  const writtenConfigs = new Set<string>();
  const manifest: DockerArchiveManifestEntry[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const savedIds = new Set(selected.map((s) => s.record.id));

  for (const { record, tags } of selected) {
    const configBytes = service.content.readBytes(record.id);
    const config = JSON.parse(configBytes.toString("utf8")) as ImageConfig;
    const diffIds = record.layers.map((l) => l.diffId);
    if (JSON.stringify(config.rootfs?.diff_ids ?? []) !== JSON.stringify(diffIds)) {
      throw new InternalError(`image ${record.id}: its record's layers are not its config's rootfs.diff_ids`);
    }
    const chains = chainIds(diffIds);
    const dirs = v1Ids(diffIds);
    const created = dateOf(config.created ?? record.created);
    const layerPaths: string[] = [];
    for (let i = 0; i < diffIds.length; i++) {
      const dir = dirs[i]!;
      const layerPath = `${dir}/layer.tar`;
      layerPaths.push(layerPath);
      if (writtenDirs.has(dir)) continue;
      writtenDirs.add(dir);
      const top = i === diffIds.length - 1;
      await tar.dir(dir, top ? created : EPOCH);
      await tar.file(`${dir}/VERSION`, "1.0", top ? created : EPOCH);
      await tar.file(`${dir}/json`, JSON.stringify(v1Json(config, dir, dirs[i - 1], top)), top ? created : EPOCH);
      const first = writtenDiffs.get(diffIds[i]!);
      if (first) {
        await tar.symlink(layerPath, `../${first}`, top ? created : EPOCH);
        continue;
      }
      const layer = await uncompressedLayer(service, record, i, chains[i]!);
      await tar.stream(layerPath, layer.size, layer.open(), top ? created : EPOCH);
      writtenDiffs.set(diffIds[i]!, layerPath);
    }
    const configName = `${digestHex(record.id)}.json`;
    if (!writtenConfigs.has(configName)) {
      writtenConfigs.add(configName);
      await tar.file(configName, configBytes, created);
    }
    const entry: DockerArchiveManifestEntry = {
      Config: configName,
      RepoTags: tags.length ? tags.map((t) => familiarString(t)) : null,
      Layers: layerPaths,
    };
    if (record.parent && savedIds.has(record.parent)) entry.Parent = record.parent;
    manifest.push(entry);
    const topDir = dirs.at(-1);
    if (topDir) {
      for (const t of tags) (repositories[familiarName(t)] ??= {})[t.tag!] = topDir;
    }
  }
  await tar.file("manifest.json", `${JSON.stringify(manifest)}\n`, EPOCH);
  if (Object.keys(repositories).length) await tar.file("repositories", `${JSON.stringify(repositories)}\n`, EPOCH);
}

/** Docker's legacy per-layer JSON (image.V1Image's fields, in its order). */
function v1Json(config: ImageConfig, id: string, parent: string | undefined, top: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { id };
  if (parent) out.parent = parent;
  if (!top) {
    out.created = "1970-01-01T00:00:00Z";
    out.container_config = emptyContainerConfig();
    out.os = config.os;
    return out;
  }
  if (config.comment) out.comment = config.comment;
  out.created = config.created ?? "1970-01-01T00:00:00Z";
  if (config.container) out.container = config.container;
  out.container_config = config.container_config ?? emptyContainerConfig();
  if (config.docker_version) out.docker_version = config.docker_version;
  if (config.author) out.author = config.author;
  if (config.config) out.config = config.config;
  if (config.architecture) out.architecture = config.architecture;
  if (config.variant) out.variant = config.variant;
  out.os = config.os;
  return out;
}

/**
 * Layer `i` of an image as an uncompressed tar: its size (known before a
 * byte is written, as the tar header needs it) and a stream that fails
 * unless the bytes have exactly that size and the diff ID as sha256.
 */
async function uncompressedLayer(service: ImageService, record: ImageRecord, i: number, chain: string): Promise<{ size: number; open: () => Readable }> {
  const layer = record.layers[i]!;
  const blob = layer.blob;
  if (!blob || !service.content.has(blob.digest)) {
    throw new InternalError(`image ${record.id}: layer ${layer.diffId} has no stored blob to save`);
  }
  const compression = blobCompression(service.content.path(blob.digest));
  const read = (): Readable => decompress(service.content.read(blob.digest), compression);
  let size: number | undefined;
  if (compression === "none") size = service.content.info(blob.digest)!.size;
  else if (service.layers.has(chain)) {
    const rec = service.layers.get(chain);
    if (rec.diffId === layer.diffId && Number.isSafeInteger(rec.size)) size = rec.size;
  }
  if (size === undefined) {
    // A first pass: decompress, count and check.
    const counting = new DigestingStream();
    const src = read();
    src.on("error", (err) => counting.destroy(err));
    for await (const _ of src.pipe(counting)) {
      // counted
    }
    if (counting.digest() !== layer.diffId) {
      throw new InvalidArgumentError(`layer blob ${blob.digest} decompresses to ${counting.digest()}, not the diff ID ${layer.diffId}`);
    }
    size = counting.bytes;
  }
  const known = size;
  return {
    size: known,
    open: () => {
      const src = read();
      const verify = verifyingStream({ digest: layer.diffId, size: known });
      src.on("error", (err) => verify.destroy(err));
      return src.pipe(verify);
    },
  };
}

/** The compression of a stored blob, from its first bytes. */
function blobCompression(file: string): Compression {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(4);
    const n = readSync(fd, head, 0, 4, 0);
    return detectCompression(head.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

function dateOf(s: string | undefined): Date {
  const t = s ? Date.parse(s) : NaN;
  return Number.isNaN(t) ? EPOCH : new Date(t);
}

// ---------------------------------------------------------------- OCI layout

async function writeOci(service: ImageService, selected: Selected[], tar: TarOut): Promise<void> {
  const written = new Set<string>();
  const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
  const manifestJson: DockerArchiveManifestEntry[] = [];
  const savedIds = new Set(selected.map((s) => s.record.id));
  await tar.dir("blobs", EPOCH);
  await tar.dir("blobs/sha256", EPOCH);

  const blob = async (desc: { digest: string; size: number }, mtime: Date): Promise<string> => {
    const name = `blobs/sha256/${digestHex(desc.digest)}`;
    if (!desc.digest.startsWith("sha256:")) throw new InternalError(`cannot save blob ${desc.digest}: only sha256 blobs are supported`);
    if (written.has(name)) return name;
    const src = service.content.read(desc.digest);
    const verify = verifyingStream({ digest: desc.digest, size: desc.size });
    src.on("error", (err) => verify.destroy(err));
    await tar.stream(name, desc.size, src.pipe(verify), mtime);
    written.add(name);
    return name;
  };

  for (const { record, tags } of selected) {
    const { bytes, mediaType, manifest } = await service.manifestFor(record);
    const created = dateOf(record.created);
    const layerNames: string[] = [];
    for (const l of manifest.layers) layerNames.push(await blob(l, created));
    const configName = await blob({ digest: manifest.config.digest, size: manifest.config.size }, created);
    const manifestDigest = sha256Digest(bytes);
    const manifestName = `blobs/sha256/${digestHex(manifestDigest)}`;
    if (!written.has(manifestName)) {
      await tar.file(manifestName, bytes, created);
      written.add(manifestName);
    }
    const desc: Descriptor = { mediaType, digest: manifestDigest, size: bytes.length };
    if (tags.length === 0) index.manifests.push(desc);
    for (const t of tags) {
      index.manifests.push({ ...desc, annotations: { [ANNOTATION_CONTAINERD_IMAGE_NAME]: fullString(t), [ANNOTATION_REF_NAME]: t.tag! } });
    }
    const entry: DockerArchiveManifestEntry = { Config: configName, RepoTags: tags.length ? tags.map((t) => familiarString(t)) : null, Layers: layerNames };
    if (record.parent && savedIds.has(record.parent)) entry.Parent = record.parent;
    manifestJson.push(entry);
  }
  const layout: OciLayout = { imageLayoutVersion: "1.0.0" };
  await tar.file("index.json", `${JSON.stringify(index)}\n`, EPOCH);
  await tar.file("manifest.json", `${JSON.stringify(manifestJson)}\n`, EPOCH);
  await tar.file("oci-layout", JSON.stringify(layout), EPOCH);
}
