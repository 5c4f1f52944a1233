/**
 * The image store: one record per image, keyed by image ID (the sha256 of
 * its config blob), and the references that name images: tags
 * (`docker.io/library/busybox:latest`) and repo digests
 * (`docker.io/library/busybox@sha256:...`). Docker keeps the same split
 * between imagedb and repositories.json.
 *
 *   <root>/<id-hex>.json      ImageRecord
 *   <root>/references.json    { tags: { ref: id }, digests: { repo@digest: id } }
 *
 * Every write goes through writeFileAtomic. Every method is synchronous:
 * a mutation reads, changes and writes the in-memory state with no await
 * between, so concurrent callers in this process cannot interleave and lose
 * updates — no lock is needed. One ImageStore per data root, owned by the
 * daemon.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { InternalError, InvalidArgumentError, NotFoundError, isErrno } from "../common/errors.ts";
import { writeFileAtomic } from "../common/fs.ts";
import type { Descriptor, Digest } from "../spec/oci-image.ts";
import { isValidDigest, parseDigest } from "./digest.ts";
import {
  familiarName,
  familiarString,
  fullString,
  parseReference,
  repository,
  tagNameOnly,
  type Reference,
} from "./reference.ts";

/** One layer of an image: its diff ID and, when stored, the blob it came as. */
export interface ImageLayer {
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids entry). */
  diffId: Digest;
  /** The (usually compressed) blob in the content store. */
  blob?: Descriptor;
}

export type ImageSource = "pull" | "load" | "import" | "commit" | "build";

export interface ImageRecord {
  /** The image ID: `sha256:` + sha256 of the config blob, which is also the config's digest. */
  id: Digest;
  /** The manifest this image came from (repo digests, push). */
  manifestDigest?: Digest;
  layers: ImageLayer[];
  /** From the config. */
  created: string;
  /** Sum of the uncompressed layer sizes. */
  size: number;
  /** The image this one was built or committed on. */
  parent?: Digest;
  lastTagTime?: string;
  source?: ImageSource;
}

/** references.json. */
export interface ReferencesFile {
  /** Full tagged reference (`docker.io/library/busybox:latest`) → image ID. */
  tags: Record<string, Digest>;
  /** `repository@digest` → image ID. */
  digests: Record<string, Digest>;
}

const REFERENCES_FILE = "references.json";
const RECORD_NAME = /^([a-f0-9]{64})\.json$/;
const FULL_HEX = /^[a-f0-9]{64}$/;
const ID_PREFIX = /^(?:sha256:)?([a-f0-9]+)$/;

export class ImageStore {
  readonly root: string;
  /** Record files that could not be read at start-up (left on disk, ignored), for the daemon to log. */
  readonly skipped: string[] = [];
  readonly #images = new Map<Digest, ImageRecord>();
  #refs: ReferencesFile = { tags: {}, digests: {} };

  /** `root` is `<dataRoot>/images`; created when missing. */
  constructor(root: string) {
    this.root = root;
    mkdirSync(root, { recursive: true, mode: 0o700 });
    this.#load();
  }

  /** Adds or replaces an image record. */
  put(record: ImageRecord): void {
    const rec = validateRecord(record);
    writeFileAtomic(this.#recordPath(rec.id), `${JSON.stringify(rec, null, 2)}\n`, 0o600);
    this.#images.set(rec.id, rec);
  }

  /** The record of an image ID (`sha256:<hex>` or the bare 64 hex), or undefined. */
  get(id: string): ImageRecord | undefined {
    const rec = this.#images.get(normalizeId(id));
    return rec === undefined ? undefined : structuredClone(rec);
  }

  has(id: string): boolean {
    return this.#images.has(normalizeId(id));
  }

  /**
   * Finds an image as `docker image inspect` does: a full ID (with or
   * without `sha256:`), a reference (normalised, `:latest` by default), a
   * repo digest (`name@sha256:...`), or an unambiguous ID prefix (with or
   * without `sha256:`). References win over ID prefixes.
   *
   * @throws NotFoundError `No such image: <name>`; InvalidArgumentError for an
   *   ambiguous ID prefix or a string that is neither a reference nor an ID
   */
  resolve(nameOrId: string): ImageRecord {
    const s = nameOrId;
    if (FULL_HEX.test(s)) return this.#getOr(`sha256:${s}`, s);
    if (isValidDigest(s)) return this.#getOr(s, s);

    let ref: Reference | undefined;
    let parseError: unknown;
    try {
      ref = parseReference(s);
    } catch (err) {
      parseError = err;
    }
    if (ref !== undefined) {
      const id = ref.digest !== undefined ? this.#refs.digests[repoDigestKey(ref)] : this.#refs.tags[fullString(tagNameOnly(ref))];
      if (id !== undefined && this.#images.has(id)) return structuredClone(this.#images.get(id)!);
    }

    const prefix = ID_PREFIX.exec(s)?.[1];
    if (prefix !== undefined) {
      const found = this.#matchPrefix(prefix);
      if (found.length > 1) throw new InvalidArgumentError(`multiple images found with provided prefix: ${prefix}`);
      if (found.length === 1) return structuredClone(found[0]!);
    }
    if (ref === undefined) throw parseError;
    // Docker names the reference it looked up, with the default tag: "No such image: busybox:latest".
    throw new NotFoundError(`No such image: ${familiarString(tagNameOnly(ref))}`);
  }

  /**
   * Points a tag at an image, moving it from any image it named before.
   * Returns the normalised reference.
   *
   * @throws NotFoundError for an unknown image; InvalidArgumentError for a
   *   digest reference or a name Docker refuses
   */
  tag(id: string, ref: string | Reference): Reference {
    const rec = this.#require(id);
    const r = tagNameOnly(typeof ref === "string" ? parseReference(ref) : ref);
    if (r.digest !== undefined) throw new InvalidArgumentError("refusing to create a tag with a digest reference");
    if (familiarName(r) === "sha256") {
      throw new InvalidArgumentError("refusing to create an ambiguous tag using digest algorithm as name");
    }
    this.#refs.tags[fullString(r)] = rec.id;
    rec.lastTagTime = new Date().toISOString();
    writeFileAtomic(this.#recordPath(rec.id), `${JSON.stringify(rec, null, 2)}\n`, 0o600);
    this.#saveRefs();
    return r;
  }

  /**
   * Removes a tag (`busybox`, `busybox:1.36`) or a repo digest
   * (`busybox@sha256:...`). Returns the image ID it named, or undefined
   * when there was no such reference.
   */
  untag(ref: string | Reference): Digest | undefined {
    const r = typeof ref === "string" ? parseReference(ref) : ref;
    const table = r.digest !== undefined ? this.#refs.digests : this.#refs.tags;
    const key = r.digest !== undefined ? repoDigestKey(r) : fullString(tagNameOnly(r));
    const id = table[key];
    if (id === undefined) return undefined;
    delete table[key];
    this.#saveRefs();
    return id;
  }

  /** Records `repository@digest` (a tag in the reference is ignored) as naming the image. */
  addRepoDigest(id: string, repoAtDigest: string | Reference): string {
    const rec = this.#require(id);
    const r = typeof repoAtDigest === "string" ? parseReference(repoAtDigest) : repoAtDigest;
    if (r.digest === undefined) throw new InvalidArgumentError(`not a digest reference: ${fullString(r)}`);
    parseDigest(r.digest);
    const key = repoDigestKey(r);
    this.#refs.digests[key] = rec.id;
    this.#saveRefs();
    return key;
  }

  /** The full tagged references naming the image, sorted. */
  tagsOf(id: string): string[] {
    return keysFor(this.#refs.tags, normalizeId(id));
  }

  /** The `repository@digest` references naming the image, sorted. */
  repoDigestsOf(id: string): string[] {
    return keysFor(this.#refs.digests, normalizeId(id));
  }

  /** A copy of all references. */
  references(): ReferencesFile {
    return structuredClone(this.#refs);
  }

  /** Every image record, oldest first (then by ID). */
  list(): ImageRecord[] {
    return [...this.#images.values()]
      .sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : a.id < b.id ? -1 : 1))
      .map((r) => structuredClone(r));
  }

  /** Removes the record and every reference to it; true when there was one. */
  delete(id: string): boolean {
    const key = normalizeId(id);
    if (!this.#images.has(key)) return false;
    let changed = false;
    for (const table of [this.#refs.tags, this.#refs.digests]) {
      for (const [k, v] of Object.entries(table)) {
        if (v === key) {
          delete table[k];
          changed = true;
        }
      }
    }
    if (changed) this.#saveRefs();
    rmSync(this.#recordPath(key), { force: true });
    this.#images.delete(key);
    return true;
  }

  /** The images whose parent is `id`. */
  children(id: string): ImageRecord[] {
    const key = normalizeId(id);
    return this.list().filter((r) => r.parent === key);
  }

  /** True when no tag names the image (`<none>:<none>` in `docker images`). */
  isDangling(id: string): boolean {
    return this.tagsOf(id).length === 0;
  }

  #recordPath(id: Digest): string {
    return path.join(this.root, `${id.slice("sha256:".length)}.json`);
  }

  #require(id: string): ImageRecord {
    const rec = this.#images.get(normalizeId(id));
    if (rec === undefined) throw new NotFoundError(`No such image: ${id}`);
    return rec;
  }

  #getOr(id: Digest, name: string): ImageRecord {
    const rec = this.#images.get(id);
    if (rec === undefined) throw new NotFoundError(`No such image: ${name}`);
    return structuredClone(rec);
  }

  #matchPrefix(prefix: string): ImageRecord[] {
    const want = `sha256:${prefix}`;
    const out: ImageRecord[] = [];
    for (const [id, rec] of this.#images) if (id.startsWith(want)) out.push(rec);
    return out;
  }

  #saveRefs(): void {
    const sorted: ReferencesFile = { tags: sortKeys(this.#refs.tags), digests: sortKeys(this.#refs.digests) };
    writeFileAtomic(path.join(this.root, REFERENCES_FILE), `${JSON.stringify(sorted, null, 2)}\n`, 0o600);
  }

  #load(): void {
    let names: string[];
    try {
      names = readdirSync(this.root);
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw err;
      names = [];
    }
    for (const name of names.sort()) {
      const m = RECORD_NAME.exec(name);
      if (m === null) continue;
      try {
        const rec = validateRecord(JSON.parse(readFileSync(path.join(this.root, name), "utf8")) as ImageRecord);
        if (rec.id !== `sha256:${m[1]}`) throw new InvalidArgumentError(`record ${name} has id ${rec.id}`);
        this.#images.set(rec.id, rec);
      } catch {
        this.skipped.push(path.join(this.root, name));
      }
    }

    const file = path.join(this.root, REFERENCES_FILE);
    let text: string | undefined;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw err;
    }
    if (text === undefined) return;
    let parsed: Partial<ReferencesFile>;
    try {
      parsed = JSON.parse(text) as Partial<ReferencesFile>;
    } catch (err) {
      throw new InternalError(`${file}: invalid JSON: ${(err as Error).message}`, { cause: err });
    }
    // References to images that are gone (a crash between two writes) are dropped.
    for (const table of ["tags", "digests"] as const) {
      const src = parsed[table];
      if (src === undefined || src === null) continue;
      if (typeof src !== "object") throw new InternalError(`${file}: "${table}" is not an object`);
      for (const [k, v] of Object.entries(src)) {
        if (typeof v === "string" && this.#images.has(v)) this.#refs[table][k] = v;
      }
    }
  }
}

/** `sha256:<hex>` from `sha256:<hex>` or a bare 64-hex ID. */
function normalizeId(id: string): Digest {
  if (FULL_HEX.test(id)) return `sha256:${id}`;
  if (id.startsWith("sha256:") && FULL_HEX.test(id.slice(7))) return id;
  throw new InvalidArgumentError(`invalid image ID ${JSON.stringify(id)}`);
}

function repoDigestKey(ref: Reference): string {
  return `${repository(ref)}@${ref.digest}`;
}

function keysFor(table: Record<string, Digest>, id: Digest): string[] {
  return Object.keys(table)
    .filter((k) => table[k] === id)
    .sort();
}

function sortKeys(table: Record<string, Digest>): Record<string, Digest> {
  const out: Record<string, Digest> = {};
  for (const k of Object.keys(table).sort()) out[k] = table[k]!;
  return out;
}

function validateRecord(record: ImageRecord): ImageRecord {
  if (typeof record !== "object" || record === null) throw new InvalidArgumentError("image record must be an object");
  const id = normalizeId(String(record.id));
  if (!Array.isArray(record.layers)) throw new InvalidArgumentError(`image ${id}: layers must be an array`);
  for (const layer of record.layers) {
    if (typeof layer !== "object" || layer === null) throw new InvalidArgumentError(`image ${id}: invalid layer`);
    parseDigest(String(layer.diffId));
    if (layer.blob !== undefined) parseDigest(String(layer.blob.digest));
  }
  if (typeof record.created !== "string") throw new InvalidArgumentError(`image ${id}: created must be a string`);
  if (typeof record.size !== "number" || !(record.size >= 0)) throw new InvalidArgumentError(`image ${id}: invalid size`);
  if (record.manifestDigest !== undefined) parseDigest(record.manifestDigest);
  if (record.parent !== undefined) normalizeId(record.parent);
  return structuredClone({ ...record, id });
}
