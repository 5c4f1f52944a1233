/**
 * Snapshotters without an upper dir: every snapshot is a whole tree.
 * `DirectorySnapshotter` keeps the bookkeeping; vfs copies trees (the
 * fallback where overlay is unavailable), btrfs snapshots subvolumes.
 *
 *   <root>/dir/<key>/        the tree (the container's rootfs, a bind mount)
 *   <root>/meta/<key>.json   { parent, kind }
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { ConflictError, NotFoundError } from "../common/errors.ts";
import { writeFileAtomic } from "../common/fs.ts";
import { createLayerTar, extractLayer } from "../native/tools.ts";
import type { Mount, SnapshotInfo, Snapshotter, StorageDriver } from "./snapshotter.ts";
import { checkKey, diskUsage } from "./snapshot-common.ts";

export abstract class DirectorySnapshotter implements Snapshotter {
  abstract readonly driver: StorageDriver;
  readonly whiteouts = "delete" as const;
  readonly root: string;

  constructor(root: string, treeDir = "dir") {
    this.root = root;
    this.treeRoot = path.join(root, treeDir);
    mkdirSync(this.treeRoot, { recursive: true, mode: 0o700 });
    mkdirSync(path.join(root, "meta"), { recursive: true, mode: 0o700 });
  }

  protected readonly treeRoot: string;

  /** An empty tree at dir. */
  protected abstract makeEmpty(dir: string): Promise<void>;
  /** A copy of the tree at from, at to. */
  protected abstract makeCopy(from: string, to: string): Promise<void>;
  protected abstract destroy(dir: string): Promise<void>;

  private metaFile(key: string): string {
    return path.join(this.root, "meta", `${checkKey(key)}.json`);
  }

  protected treeDir(key: string): string {
    return path.join(this.treeRoot, checkKey(key));
  }

  exists(key: string): boolean {
    return existsSync(this.metaFile(key));
  }

  stat(key: string): SnapshotInfo {
    let meta: { parent?: string; kind: SnapshotInfo["kind"] };
    try {
      meta = JSON.parse(readFileSync(this.metaFile(key), "utf8"));
    } catch {
      throw new NotFoundError(`snapshot ${key} does not exist`);
    }
    return { key, parent: meta.parent, kind: meta.kind };
  }

  list(): SnapshotInfo[] {
    return readdirSync(path.join(this.root, "meta"))
      .filter((f) => f.endsWith(".json"))
      .map((f) => this.stat(f.slice(0, -5)));
  }

  async prepare(key: string, parent?: string): Promise<Mount[]> {
    if (this.exists(key)) throw new ConflictError(`snapshot ${key} already exists`);
    const dir = this.treeDir(key);
    if (existsSync(dir)) await this.destroy(dir); // a half-made one from a crash
    if (parent) {
      if (this.stat(parent).kind !== "committed") throw new ConflictError(`snapshot ${parent} is not committed and cannot be a parent`);
      await this.makeCopy(this.treeDir(parent), dir);
    } else {
      await this.makeEmpty(dir);
    }
    writeFileAtomic(this.metaFile(key), JSON.stringify({ parent, kind: "active" }));
    return this.mounts(key);
  }

  async commit(name: string, key: string): Promise<void> {
    const info = this.stat(key);
    if (info.kind === "committed") throw new ConflictError(`snapshot ${key} is already committed`);
    if (this.exists(name)) throw new ConflictError(`snapshot ${name} already exists`);
    renameSync(this.treeDir(key), this.treeDir(name));
    writeFileAtomic(this.metaFile(name), JSON.stringify({ parent: info.parent, kind: "committed" }));
    rmSync(this.metaFile(key), { force: true });
  }

  mounts(key: string): Mount[] {
    const ro = this.stat(key).kind === "committed";
    return [{ type: "bind", source: this.treeDir(key), options: ["rbind", ro ? "ro" : "rw"] }];
  }

  async remove(key: string, opts: { childless?: boolean } = {}): Promise<void> {
    const children = opts.childless ? [] : this.list().filter((s) => s.parent === key);
    if (children.length) throw new ConflictError(`snapshot ${key} has ${children.length} child snapshot(s)`);
    rmSync(this.metaFile(key), { force: true });
    if (existsSync(this.treeDir(key))) await this.destroy(this.treeDir(key));
  }

  diffDir(key: string): string {
    return this.treeDir(key);
  }

  diff(key: string): Readable {
    const parent = this.stat(key).parent;
    return createLayerTar(this.treeDir(key), { whiteouts: "none", parent: parent ? this.treeDir(parent) : undefined });
  }

  usage(key: string): Promise<{ size: number; inodes: number }> {
    return diskUsage(this.treeDir(key));
  }

  graphDriverData(key: string): Record<string, string> {
    return { Dir: this.treeDir(key) };
  }
}

export class VfsSnapshotter extends DirectorySnapshotter {
  readonly driver = "vfs" as const;

  protected async makeEmpty(dir: string): Promise<void> {
    mkdirSync(dir, { mode: 0o755 });
  }

  /** Through a tar of the parent: ownership, xattrs, devices and hardlinks survive the copy. */
  protected async makeCopy(from: string, to: string): Promise<void> {
    mkdirSync(to, { mode: 0o755 });
    await extractLayer(createLayerTar(from, { whiteouts: "none" }), to, { whiteouts: "delete" });
  }

  protected async destroy(dir: string): Promise<void> {
    rmSync(dir, { recursive: true, force: true });
  }
}

