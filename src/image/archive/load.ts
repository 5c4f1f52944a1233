/**
 * docker load: images from a tar archive (plain, gzip or zstd) in any of
 * the layouts that reach it in practice:
 *
 *   - docker-archive (docker save before 25, skopeo's docker-archive, hako's
 *     "docker" format): manifest.json, <config>.json, <dir>/layer.tar, layer
 *     tars possibly symlinked to one another;
 *   - Docker 25+ combined archives: manifest.json whose Config and Layers
 *     name blobs/sha256/<hex>, beside oci-layout and index.json;
 *   - OCI image layouts (skopeo's oci-archive, containerd, buildx): no
 *     manifest.json; index.json → manifest (a nested index picks the host's
 *     platform, linux/amd64 by default) → config and layer blobs.
 *
 * Three phases, so a bad archive stores nothing:
 *
 *   1. spool: the tar is unpacked into <dataRoot>/tmp/load-*, member names
 *      checked (manifest.json usually comes last: nothing can be read before
 *      the end);
 *   2. check: manifests and configs parsed, every layer member found and
 *      hashed — its blob digest when its name or descriptor gives one, its
 *      uncompressed sha256 against the config's rootfs.diff_ids;
 *   3. store, image by image: layer blobs into the content store, layers
 *      into the layer store (bottom first, each verified again against its
 *      diff ID), the config verbatim (its sha256 is the image ID), the
 *      record, then the tags. Should a step after the record fail, a record
 *      this load created is removed; unreferenced blobs and layers are left
 *      to the garbage collector.
 */
import { createReadStream, mkdirSync, openSync, readSync, closeSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { InvalidArgumentError } from "../../common/errors.ts";
import {
  ANNOTATION_CONTAINERD_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  MediaType,
  type Descriptor,
  type DockerArchiveManifestEntry,
  type ImageConfig,
  type Index,
  type Manifest,
} from "../../spec/oci-image.ts";
import { decompress, detectCompression, layerMediaType, type Compression } from "../compression.ts";
import { DigestingStream, digestAlgorithm, digestHex, digestOf, isValidDigest, sha256Digest } from "../digest.ts";
import { chainIds, shortId } from "../ids.ts";
import type { ImageLayer, ImageRecord } from "../image-store.ts";
import { familiarString, fullString, parseReference, tagNameOnly, type Reference } from "../reference.ts";
import { selectPlatformManifest } from "../registry/pull.ts";
import type { ImageService, Progress } from "../service.ts";
import { SpooledArchive } from "./spool.ts";

const INDEX_TYPES = new Set<string>([MediaType.OciIndex, MediaType.DockerManifestList]);
const MANIFEST_TYPES = new Set<string>([MediaType.OciManifest, MediaType.DockerManifest]);
const CONFIG_TYPES = new Set<string>([MediaType.OciConfig, MediaType.DockerConfig]);
const MAX_INDEX_DEPTH = 4;
const PROGRESS_INTERVAL_MS = 200;

interface LayerPlan {
  /** The member name as the archive gives it (for messages). */
  member: string;
  /** The spooled file. */
  file: string;
  /** What the config says the layer's uncompressed sha256 is. */
  diffId: string;
  /** The blob's digest and size, when a blob name or descriptor gives them. */
  expected?: { digest: string; size?: number };
  mediaType?: string;
  // filled by the check phase
  rawDigest?: string;
  rawSize?: number;
  compression?: Compression;
  size?: number;
}

interface ImagePlan {
  /** Where the image comes from in the archive, for messages. */
  source: string;
  id: string;
  configBytes: Buffer;
  config: ImageConfig;
  layers: LayerPlan[];
  tags: Reference[];
  parent?: string;
  manifest?: { bytes: Buffer; digest: string };
}

interface Inspected {
  rawDigest: string;
  rawSize: number;
  compression: Compression;
  diffId: string;
  size: number;
}

/** Loads every image of the archive; returns docker load's "Loaded image..." lines. */
export async function readArchive(service: ImageService, input: Readable, progress?: Progress): Promise<{ loaded: string[] }> {
  const tmpRoot = path.join(path.dirname(service.content.root), "tmp");
  mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(path.join(tmpRoot, "load-"));
  try {
    const archive = new SpooledArchive(dir);
    await archive.unpack(input);
    const plans = planImages(archive);
    const cache = new Map<string, Promise<Inspected>>();
    for (const plan of plans) {
      for (let i = 0; i < plan.layers.length; i++) await checkLayer(plan, i, cache);
    }
    if (archive.has("index.json") && archive.has("manifest.json")) attachManifests(archive, plans);
    const loaded: string[] = [];
    for (const plan of plans) loaded.push(...(await storeImage(service, plan, progress)));
    // Parents last, as docker load sets them: an image may come before its parent in manifest.json.
    for (const plan of plans) {
      const record = plan.parent && service.images.has(plan.parent) ? service.images.get(plan.id) : undefined;
      if (record && record.parent === undefined) service.images.put({ ...record, parent: plan.parent });
    }
    return { loaded };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- planning

function planImages(archive: SpooledArchive): ImagePlan[] {
  let plans: ImagePlan[];
  if (archive.has("manifest.json")) plans = planDocker(archive);
  else if (archive.has("index.json")) plans = planOci(archive);
  else {
    const hint = archive.has("repositories") ? " (a pre-1.10 docker save archive with only a repositories file is not supported)" : "";
    throw new InvalidArgumentError(`invalid archive: no manifest.json (docker save) and no index.json (OCI image layout) in it${hint}`);
  }
  if (plans.length === 0) throw new InvalidArgumentError("invalid archive: it holds no images");
  // One plan per image ID, the tags of all of them together.
  const byId = new Map<string, ImagePlan>();
  for (const p of plans) {
    const seen = byId.get(p.id);
    if (!seen) {
      byId.set(p.id, p);
      continue;
    }
    for (const t of p.tags) if (!seen.tags.some((s) => fullString(s) === fullString(t))) seen.tags.push(t);
    seen.parent ??= p.parent;
    seen.manifest ??= p.manifest;
  }
  return [...byId.values()];
}

function planDocker(archive: SpooledArchive): ImagePlan[] {
  const { value } = archive.readJson<unknown>("manifest.json");
  if (!Array.isArray(value)) throw new InvalidArgumentError("invalid archive: manifest.json is not a list of images");
  return value.map((raw, n) => {
    const where = `manifest.json entry ${n}`;
    const entry = raw as Partial<DockerArchiveManifestEntry> | null;
    if (typeof entry !== "object" || entry === null) throw new InvalidArgumentError(`invalid archive: ${where} is not an object`);
    if (typeof entry.Config !== "string" || entry.Config === "") throw new InvalidArgumentError(`invalid archive: ${where} has no Config`);
    if (!Array.isArray(entry.Layers) || !entry.Layers.every((l) => typeof l === "string")) {
      throw new InvalidArgumentError(`invalid archive: ${where} has no Layers list`);
    }
    if (entry.RepoTags != null && (!Array.isArray(entry.RepoTags) || !entry.RepoTags.every((t) => typeof t === "string"))) {
      throw new InvalidArgumentError(`invalid archive: ${where}: RepoTags is not a list of tags`);
    }
    if (!archive.has(entry.Config)) throw new InvalidArgumentError(`invalid archive: the config ${entry.Config} named by ${where} is missing`);
    const configBytes = archive.readBytes(entry.Config);
    const blobDigest = blobDigestOf(archive.lookup(entry.Config)!.name);
    const id = sha256Digest(configBytes);
    if (blobDigest && blobDigest !== id) {
      throw new InvalidArgumentError(`invalid archive: digest mismatch for config ${entry.Config}: expected ${blobDigest}, got ${id}`);
    }
    const config = parseConfig(configBytes, entry.Config);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== entry.Layers.length) {
      throw new InvalidArgumentError(
        `invalid archive: ${where} lists ${entry.Layers.length} layers but its config ${entry.Config} has ${diffIds.length} diff IDs`,
      );
    }
    const layers = entry.Layers.map((member, i): LayerPlan => {
      const found = archive.lookup(member);
      if (!found) throw new InvalidArgumentError(`invalid archive: layer ${member} listed in manifest.json is missing from the archive`);
      const digest = blobDigestOf(found.name);
      return { member, file: found.file, diffId: diffIds[i]!, ...(digest ? { expected: { digest } } : {}) };
    });
    const tags = (entry.RepoTags ?? []).map((t) => parseTag(t, where));
    const parent = typeof entry.Parent === "string" && isValidDigest(entry.Parent) ? entry.Parent : undefined;
    return { source: where, id, configBytes, config, layers, tags, ...(parent ? { parent } : {}) };
  });
}

function planOci(archive: SpooledArchive): ImagePlan[] {
  if (archive.has("oci-layout")) {
    const { value } = archive.readJson<{ imageLayoutVersion?: unknown }>("oci-layout");
    if (typeof value?.imageLayoutVersion !== "string" || !value.imageLayoutVersion.startsWith("1.")) {
      throw new InvalidArgumentError(`invalid archive: oci-layout has an unsupported imageLayoutVersion ${JSON.stringify(value?.imageLayoutVersion)}`);
    }
  }
  const index = parseIndex(archive.readJson<unknown>("index.json").value, "index.json");
  const plans: ImagePlan[] = [];
  for (const [n, desc] of index.manifests.entries()) {
    const where = `index.json entry ${n}`;
    const picked = resolveManifest(archive, desc, where, 0);
    if (!picked) continue; // not an image (an attestation, a signature, some other artifact)
    const { manifest, bytes, digest } = picked;
    const configDesc = checkDescriptor(manifest.config, `config of ${where}`);
    const configBytes = readBlob(archive, configDesc, `config of ${where}`);
    const config = parseConfig(configBytes, `config ${configDesc.digest}`);
    const diffIds = config.rootfs.diff_ids;
    const layerDescs = Array.isArray(manifest.layers) ? manifest.layers : [];
    if (diffIds.length !== layerDescs.length) {
      throw new InvalidArgumentError(`invalid archive: manifest ${digest} has ${layerDescs.length} layers but its config has ${diffIds.length} diff IDs`);
    }
    const layers = layerDescs.map((d, i): LayerPlan => {
      const ld = checkDescriptor(d, `layer ${i} of manifest ${digest}`);
      const member = blobPath(ld.digest);
      const found = archive.lookup(member);
      if (!found) throw new InvalidArgumentError(`invalid archive: layer blob ${ld.digest} (${member}) of manifest ${digest} is missing from the archive`);
      return { member, file: found.file, diffId: diffIds[i]!, expected: { digest: ld.digest, size: ld.size }, mediaType: ld.mediaType };
    });
    plans.push({
      source: where,
      id: sha256Digest(configBytes),
      configBytes,
      config,
      layers,
      tags: ociTags(desc.annotations),
      manifest: { bytes, digest },
    });
  }
  return plans;
}

/** The image manifest a descriptor leads to (through nested indexes); undefined for non-images. */
function resolveManifest(archive: SpooledArchive, d: Descriptor, where: string, depth: number): { manifest: Manifest; bytes: Buffer; digest: string } | undefined {
  const desc = checkDescriptor(d, where);
  const bytes = readBlob(archive, desc, where);
  let parsed: Partial<Manifest & Index>;
  try {
    parsed = JSON.parse(bytes.toString("utf8")) as Partial<Manifest & Index>;
  } catch (err) {
    throw new InvalidArgumentError(`invalid archive: ${desc.digest} (${where}) is not valid JSON: ${(err as Error).message}`);
  }
  const type = desc.mediaType || parsed.mediaType || "";
  if (INDEX_TYPES.has(type) || (!MANIFEST_TYPES.has(type) && Array.isArray(parsed.manifests))) {
    if (depth >= MAX_INDEX_DEPTH) throw new InvalidArgumentError(`invalid archive: indexes nested too deep at ${desc.digest}`);
    const nested = parseIndex(parsed, `index ${desc.digest}`);
    // Only what the archive holds: a save of one platform keeps the others' entries.
    const present = nested.manifests.filter((m) => isValidDigest(m?.digest) && archive.has(blobPath(m.digest)));
    const platform = hostPlatform();
    let chosen = selectPlatformManifest({ ...nested, manifests: present }, platform);
    if (!chosen && present.length === 1 && !present[0]!.platform) chosen = present[0];
    if (!chosen) {
      throw new InvalidArgumentError(
        `invalid archive: index ${desc.digest} (${where}) has no manifest for ${platform.os}/${platform.architecture} among the ${present.length} in the archive`,
      );
    }
    return resolveManifest(archive, chosen, `${where} → ${chosen.digest}`, depth + 1);
  }
  if (!parsed.config || !Array.isArray(parsed.layers)) {
    throw new InvalidArgumentError(`invalid archive: ${desc.digest} (${where}) is neither an image manifest nor an index`);
  }
  const configType = parsed.config.mediaType ?? "";
  if (configType && !CONFIG_TYPES.has(configType)) return undefined;
  return { manifest: parsed as Manifest, bytes, digest: desc.digest };
}

/** For a Docker 25+ archive: the OCI manifest of each image, when its layer blobs are exactly those loaded. */
function attachManifests(archive: SpooledArchive, plans: ImagePlan[]): void {
  let index: Index;
  try {
    index = parseIndex(archive.readJson<unknown>("index.json").value, "index.json");
  } catch {
    return; // manifest.json is what loads the images; index.json is a bonus
  }
  for (const desc of index.manifests) {
    try {
      const picked = resolveManifest(archive, desc, "index.json", 0);
      if (!picked) continue;
      const plan = plans.find((p) => p.id === picked.manifest.config.digest);
      if (!plan || plan.manifest) continue;
      const same =
        picked.manifest.layers.length === plan.layers.length && picked.manifest.layers.every((l, i) => l.digest === plan.layers[i]!.rawDigest && l.size === plan.layers[i]!.rawSize);
      if (!same) continue;
      plan.manifest = { bytes: picked.bytes, digest: picked.digest };
      picked.manifest.layers.forEach((l, i) => (plan.layers[i]!.mediaType ??= l.mediaType));
    } catch {
      // an index entry we cannot follow changes nothing
    }
  }
}

function hostPlatform(): { os: string; architecture: string } {
  const arch: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };
  return { os: "linux", architecture: arch[process.arch] ?? "amd64" };
}

/** Tags from an OCI index entry: containerd's full name, else a ref.name that is a whole reference. */
function ociTags(annotations: Record<string, string> | undefined): Reference[] {
  const full = annotations?.[ANNOTATION_CONTAINERD_IMAGE_NAME];
  const candidates = [full, annotations?.[ANNOTATION_REF_NAME]];
  for (const c of candidates) {
    if (!c) continue;
    try {
      const ref = parseReference(c);
      // A bare "latest" or "1.0" is only a tag: it names no repository.
      if (c !== full && !c.includes(":") && !c.includes("/")) continue;
      if (ref.digest !== undefined) continue;
      return [tagNameOnly(ref)];
    } catch {
      continue;
    }
  }
  return [];
}

function parseTag(t: string, where: string): Reference {
  let ref: Reference;
  try {
    ref = parseReference(t);
  } catch (err) {
    throw new InvalidArgumentError(`invalid archive: ${where}: invalid tag ${JSON.stringify(t)}: ${(err as Error).message}`);
  }
  if (ref.tag === undefined || ref.digest !== undefined) throw new InvalidArgumentError(`invalid archive: ${where}: invalid tag ${JSON.stringify(t)}`);
  return ref;
}

function parseConfig(bytes: Buffer, name: string): ImageConfig {
  let config: ImageConfig;
  try {
    config = JSON.parse(bytes.toString("utf8")) as ImageConfig;
  } catch (err) {
    throw new InvalidArgumentError(`invalid archive: config ${name} is not valid JSON: ${(err as Error).message}`);
  }
  const diffIds = config?.rootfs?.diff_ids;
  if (typeof config !== "object" || config === null || !Array.isArray(diffIds)) {
    throw new InvalidArgumentError(`invalid archive: config ${name} has no rootfs.diff_ids`);
  }
  for (const d of diffIds) {
    if (typeof d !== "string" || !isValidDigest(d) || !d.startsWith("sha256:")) {
      throw new InvalidArgumentError(`invalid archive: config ${name} has an invalid diff ID ${JSON.stringify(d)}`);
    }
  }
  return config;
}

function parseIndex(value: unknown, name: string): Index {
  const index = value as Partial<Index> | null;
  if (typeof index !== "object" || index === null || !Array.isArray(index.manifests)) {
    throw new InvalidArgumentError(`invalid archive: ${name} is not an OCI image index`);
  }
  return index as Index;
}

function checkDescriptor(d: Descriptor | undefined, what: string): Descriptor {
  if (typeof d !== "object" || d === null || typeof d.digest !== "string" || !isValidDigest(d.digest) || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new InvalidArgumentError(`invalid archive: invalid descriptor for ${what}: ${JSON.stringify(d)}`);
  }
  return d;
}

/** `blobs/<algorithm>/<hex>` of a valid digest. */
function blobPath(digest: string): string {
  return `blobs/${digestAlgorithm(digest)}/${digestHex(digest)}`;
}

/** The digest a `blobs/sha256/<hex>` member name stands for. */
function blobDigestOf(member: string): string | undefined {
  const m = /^blobs\/(sha256|sha512)\/([a-f0-9]+)$/.exec(member);
  if (!m) return undefined;
  const digest = `${m[1]}:${m[2]}`;
  return isValidDigest(digest) ? digest : undefined;
}

/** A small blob of the layout, its digest and size checked. */
function readBlob(archive: SpooledArchive, d: Descriptor, what: string): Buffer {
  const member = blobPath(d.digest);
  if (!archive.has(member)) throw new InvalidArgumentError(`invalid archive: blob ${d.digest} (${what}) is missing from the archive`);
  const bytes = archive.readBytes(member);
  if (bytes.length !== d.size) {
    throw new InvalidArgumentError(`invalid archive: size mismatch for ${d.digest} (${what}): expected ${d.size} bytes, got ${bytes.length} bytes`);
  }
  const actual = digestOf(bytes, digestAlgorithm(d.digest));
  if (actual !== d.digest) throw new InvalidArgumentError(`invalid archive: digest mismatch for ${what}: expected ${d.digest}, got ${actual}`);
  return bytes;
}

// ---------------------------------------------------------------- checking

async function checkLayer(plan: ImagePlan, i: number, cache: Map<string, Promise<Inspected>>): Promise<void> {
  const layer = plan.layers[i]!;
  let pending = cache.get(layer.file);
  if (!pending) {
    pending = inspectLayer(layer);
    cache.set(layer.file, pending);
  }
  const got = await pending;
  const what = `layer ${layer.member}`;
  if (layer.expected) {
    if (layer.expected.size !== undefined && got.rawSize !== layer.expected.size) {
      const truncated = got.rawSize < layer.expected.size ? " (truncated)" : "";
      throw new InvalidArgumentError(`invalid archive: size mismatch for ${what}: expected ${layer.expected.size} bytes, got ${got.rawSize} bytes${truncated}`);
    }
    const actual = digestAlgorithm(layer.expected.digest) === "sha256" ? got.rawDigest : undefined;
    if (actual !== undefined && actual !== layer.expected.digest) {
      throw new InvalidArgumentError(`invalid archive: digest mismatch for ${what}: expected ${layer.expected.digest}, got ${actual}`);
    }
  }
  if (got.diffId !== layer.diffId) {
    const blocks = got.size % 512 !== 0 ? `; it is truncated: ${got.size} bytes is not a whole number of 512-byte tar blocks` : "";
    throw new InvalidArgumentError(
      `invalid archive: diff ID mismatch for ${what} (layer ${i} of ${plan.source}): the config says ${layer.diffId}, its content is ${got.diffId}${blocks}`,
    );
  }
  Object.assign(layer, { rawDigest: got.rawDigest, rawSize: got.rawSize, compression: got.compression, size: got.size });
}

/** Hashes a spooled layer once: its bytes as stored (the blob) and uncompressed (the diff ID). */
async function inspectLayer(layer: LayerPlan): Promise<Inspected> {
  const compression = fileCompression(layer.file);
  const raw = new DigestingStream();
  const plain = new DigestingStream();
  const src = createReadStream(layer.file);
  src.on("error", (err) => raw.destroy(err));
  const unpacked = decompress(src.pipe(raw), compression);
  unpacked.on("error", (err) => plain.destroy(err));
  try {
    for await (const _ of unpacked.pipe(plain)) {
      // hashed
    }
  } catch (err) {
    const message = (err as Error).message;
    throw new InvalidArgumentError(`invalid archive: layer ${layer.member}: corrupt or truncated ${compression} data: ${message}`, { cause: err });
  }
  return { rawDigest: raw.digest(), rawSize: raw.bytes, compression, diffId: plain.digest(), size: plain.bytes };
}

function fileCompression(file: string): Compression {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(4);
    return detectCompression(head.subarray(0, readSync(fd, head, 0, 4, 0)));
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------- storing

async function storeImage(service: ImageService, plan: ImagePlan, progress?: Progress): Promise<string[]> {
  const diffIds = plan.layers.map((l) => l.diffId);
  const chains = chainIds(diffIds);
  const layers: ImageLayer[] = [];
  let size = 0;
  for (let i = 0; i < plan.layers.length; i++) {
    const l = plan.layers[i]!;
    const chain = chains[i]!;
    const blob = await service.content.ingest({ digest: l.rawDigest!, size: l.rawSize! }, createReadStream(l.file), { ref: `load-${shortId(l.rawDigest!)}` });
    if (!service.layers.has(chain)) {
      const counter = new ProgressCounter(l.rawSize!, shortId(l.diffId), progress);
      const src = createReadStream(l.file);
      src.on("error", (err) => counter.destroy(err));
      await service.layers.register(decompress(src.pipe(counter), l.compression!), chains[i - 1], l.diffId);
    }
    size += service.layers.contentSize(chain);
    const mediaType = l.mediaType ?? layerMediaType(l.compression!, false);
    layers.push({ diffId: l.diffId, blob: { mediaType, digest: blob.digest, size: blob.size } });
  }
  await service.content.ingest({ digest: plan.id, size: plan.configBytes.length }, plan.configBytes);
  if (plan.manifest) await service.content.ingest({ digest: plan.manifest.digest, size: plan.manifest.bytes.length }, plan.manifest.bytes);

  const existing = service.images.get(plan.id);
  const record: ImageRecord = existing
    ? {
        ...existing,
        manifestDigest: existing.manifestDigest && service.content.has(existing.manifestDigest) ? existing.manifestDigest : plan.manifest?.digest,
        // Blobs the image already had (pulled, say) stay its blobs.
        layers: layers.map((l, i) => {
          const old = existing.layers[i]?.blob;
          return old && service.content.has(old.digest) ? { ...l, blob: old } : l;
        }),
      }
    : {
        id: plan.id,
        layers,
        created: plan.config.created ?? new Date().toISOString(),
        size,
        source: "load",
        ...(plan.manifest ? { manifestDigest: plan.manifest.digest } : {}),
      };
  if (record.manifestDigest === undefined) delete record.manifestDigest;
  service.images.put(record);

  const loaded: string[] = [];
  try {
    for (const tag of plan.tags) {
      const name = familiarString(tag);
      const previous = service.images.references().tags[fullString(tag)];
      if (previous && previous !== plan.id) {
        progress?.({ stream: `The image ${name} already exists, renaming the old one with ID ${previous} to empty string\n` });
      }
      service.images.tag(plan.id, tag);
      loaded.push(`Loaded image: ${name}`);
    }
  } catch (err) {
    if (!existing) service.images.delete(plan.id);
    throw err;
  }
  if (plan.tags.length === 0) loaded.push(`Loaded image ID: ${plan.id}`);
  return loaded;
}

/** Passes bytes through, reporting docker load's "Loading layer" progress now and then and at the end. */
class ProgressCounter extends Transform {
  readonly #total: number;
  readonly #id: string;
  readonly #progress: Progress | undefined;
  #current = 0;
  #last = 0;

  constructor(total: number, id: string, progress: Progress | undefined) {
    super();
    this.#total = total;
    this.#id = id;
    this.#progress = progress;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#current += chunk.length;
    const now = Date.now();
    if (now - this.#last >= PROGRESS_INTERVAL_MS && this.#current < this.#total) {
      this.#last = now;
      this.#report();
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.#report();
    cb();
  }

  #report(): void {
    this.#progress?.({ status: "Loading layer", id: this.#id, progressDetail: { current: this.#current, total: this.#total } });
  }
}
