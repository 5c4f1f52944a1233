/**
 * Layers by chain ID: each one a committed snapshot, extracted once and
 * shared by every image whose stack starts with the same chain. Containers
 * get an init layer (the /etc files the engine writes per container, as the
 * seed describes) and their own writable layer on top.
 *
 *   <root>/<chainid-hex>.json   { chainId, diffId, parent, size }
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { InvalidArgumentError, NotFoundError } from "../common/errors.ts";
import { writeFileAtomic } from "../common/fs.ts";
import { DigestingStream, digestHex } from "../image/digest.ts";
import { chainIds } from "../image/ids.ts";
import { extractLayer } from "../native/tools.ts";
import { writeLayerFiles, type LayerFile } from "./snapshot-common.ts";
import type { Mount, Snapshotter } from "./snapshotter.ts";

export interface LayerRecord {
  chainId: string;
  diffId: string;
  parent?: string;
  /** Bytes of the uncompressed layer tar. */
  size: number;
  /** Docker's size of the layer: its files' and symlinks' bytes (absent in records older than it: then the tar's). */
  contentSize?: number;
}

/** The snapshot key of a layer: its chain ID's hex. */
export function layerKey(chainId: string): string {
  return digestHex(chainId);
}

export class LayerStore {
  readonly root: string;
  readonly snapshotter: Snapshotter;

  constructor(root: string, snapshotter: Snapshotter) {
    this.root = root;
    this.snapshotter = snapshotter;
    mkdirSync(root, { recursive: true, mode: 0o700 });
  }

  private file(chainId: string): string {
    return path.join(this.root, `${layerKey(chainId)}.json`);
  }

  /** Snapshots of registrations a crash interrupted: never a layer, always removable. */
  async cleanTemporary(): Promise<number> {
    let n = 0;
    for (const s of this.snapshotter.list()) {
      if (!s.key.startsWith("tmp-") && !s.key.endsWith("-init-tmp")) continue;
      await this.snapshotter.remove(s.key).catch(() => {});
      n++;
    }
    return n;
  }

  has(chainId: string): boolean {
    try {
      readFileSync(this.file(chainId));
      return this.snapshotter.exists(layerKey(chainId));
    } catch {
      return false;
    }
  }

  get(chainId: string): LayerRecord {
    try {
      return JSON.parse(readFileSync(this.file(chainId), "utf8")) as LayerRecord;
    } catch {
      throw new NotFoundError(`layer ${chainId} does not exist`);
    }
  }

  /** The layer's size as Docker shows it (images, history, df): its files' bytes, not its tar's. */
  contentSize(chainId: string): number {
    const rec = this.get(chainId);
    return rec.contentSize ?? rec.size;
  }

  list(): LayerRecord[] {
    return readdirSync(this.root)
      .filter((f) => f.endsWith(".json"))
      .map((f) => JSON.parse(readFileSync(path.join(this.root, f), "utf8")) as LayerRecord);
  }

  /**
   * Applies an uncompressed layer tar on top of `parent` (a chain ID) and
   * commits it under its chain ID. The diff ID is computed while the bytes
   * stream through; a mismatch with `expectedDiffId` leaves nothing behind.
   */
  async register(tar: Readable, parent: string | undefined, expectedDiffId?: string): Promise<LayerRecord> {
    if (parent && !this.has(parent)) throw new NotFoundError(`parent layer ${parent} does not exist`);
    if (expectedDiffId) {
      const chainId = parent ? chainIds([parent, expectedDiffId]).at(-1)! : expectedDiffId;
      if (this.has(chainId)) {
        tar.resume();
        return this.get(chainId);
      }
    }
    const tmp = `tmp-${randomBytes(8).toString("hex")}`;
    await this.snapshotter.prepare(tmp, parent ? layerKey(parent) : undefined);
    try {
      const digesting = new DigestingStream();
      tar.on("error", (err) => digesting.destroy(err));
      const applied = await extractLayer(tar.pipe(digesting), this.snapshotter.diffDir(tmp), { whiteouts: this.snapshotter.whiteouts });
      const diffId = digesting.digest();
      if (expectedDiffId && diffId !== expectedDiffId) {
        throw new InvalidArgumentError(`layer diff ID mismatch: expected ${expectedDiffId}, got ${diffId}`);
      }
      // chainId(parent, diff) = sha256(parent + " " + diff): the parent's chain stands for the whole stack below.
      const chainId = parent ? chainIds([parent, diffId]).at(-1)! : diffId;
      const record: LayerRecord = { chainId, diffId, parent, size: digesting.bytes, contentSize: applied.bytes };
      if (this.has(chainId)) {
        await this.snapshotter.remove(tmp); // registered meanwhile by someone else
        return this.get(chainId);
      }
      await this.snapshotter.commit(layerKey(chainId), tmp);
      writeFileAtomic(this.file(chainId), JSON.stringify(record));
      return record;
    } catch (err) {
      if (this.snapshotter.exists(tmp)) await this.snapshotter.remove(tmp).catch(() => {});
      throw err;
    }
  }

  /** The layer's changes as a tar (what a push or save sends for a layer without a stored blob). */
  diff(chainId: string): Readable {
    return this.snapshotter.diff(layerKey(chainId));
  }

  /**
   * Removes every layer not in `inUse` (chain IDs images and containers
   * stand on, with their parents) nor under a snapshot that is not a layer
   * (a container's), leaf first. Returns the removed ones.
   */
  async prune(inUse: Iterable<string>): Promise<LayerRecord[]> {
    const keep = new Set<string>();
    const all = new Map(this.list().map((l) => [l.chainId, l]));
    // Snapshots that are not layers (a container's init layer, a registration in flight) pin what they stand on.
    const byKey = new Map([...all.keys()].map((c) => [layerKey(c), c]));
    const pinned = this.snapshotter
      .list()
      .filter((s) => !byKey.has(s.key) && s.parent !== undefined && byKey.has(s.parent))
      .map((s) => byKey.get(s.parent!)!);
    for (const top of [...inUse, ...pinned]) {
      for (let c: string | undefined = top; c && !keep.has(c); c = all.get(c)?.parent) keep.add(c);
    }
    const removed: LayerRecord[] = [];
    let progress = true;
    while (progress) {
      progress = false;
      for (const l of all.values()) {
        if (keep.has(l.chainId)) continue;
        const hasChild = [...all.values()].some((c) => c.parent === l.chainId);
        if (hasChild) continue;
        await this.snapshotter.remove(layerKey(l.chainId));
        rmSync(this.file(l.chainId), { force: true });
        all.delete(l.chainId);
        removed.push(l);
        progress = true;
      }
    }
    return removed;
  }

  /**
   * A container's layers: an init layer holding `initFiles` (relative path →
   * content: /etc/hosts, /etc/hostname, /etc/resolv.conf placeholders) on
   * top of the image, and the writable layer above it. Returns its mounts.
   */
  async createContainerLayer(id: string, image: string | undefined, initFiles: Record<string, LayerFile>): Promise<Mount[]> {
    const init = `${id}-init`;
    const parent = image ? layerKey(image) : undefined;
    if (this.snapshotter.createLayer) {
      await this.snapshotter.createLayer(init, parent, initFiles);
    } else {
      const tmp = `${init}-tmp`;
      await this.snapshotter.prepare(tmp, parent);
      writeLayerFiles(this.snapshotter.diffDir(tmp), initFiles);
      await this.snapshotter.commit(init, tmp);
    }
    return this.snapshotter.prepare(id, init);
  }

  async removeContainerLayer(id: string): Promise<void> {
    if (this.snapshotter.exists(id)) await this.snapshotter.remove(id);
    // Its one child was the container's layer (a commit copies, it does not build on it).
    if (this.snapshotter.exists(`${id}-init`)) await this.snapshotter.remove(`${id}-init`, { childless: true });
  }
}
