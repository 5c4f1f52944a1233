/**
 * overlay2, laid out as Docker lays it out (seeds 001/002):
 *
 *   overlay2/<key>/diff     the layer's files (a container's upper dir)
 *   overlay2/<key>/link     its short name; overlay2/l/<short> -> ../<key>/diff
 *   overlay2/<key>/lower    the parents' short links, nearest first: "l/A:l/B"
 *   overlay2/<key>/work     overlay's work dir (active snapshots)
 *   overlay2/<key>/merged   where Docker would mount it (GraphDriver.MergedDir)
 *
 * Mount options use the relative short links from overlay2/ as the working
 * directory, so an image of 120+ layers still fits in one page of mount data.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { ConflictError, NotFoundError } from "../common/errors.ts";
import { Trash } from "../common/trash.ts";
import { createLayerTar } from "../native/tools.ts";
import type { Mount, SnapshotInfo, Snapshotter } from "./snapshotter.ts";
import { checkKey, diskUsage, writeLayerFiles, type LayerFile } from "./snapshot-common.ts";

const LINK_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function shortLinkName(): string {
  return [...randomBytes(26)].map((b) => LINK_ALPHABET[b % 32]).join("");
}

export class Overlay2Snapshotter implements Snapshotter {
  readonly driver = "overlay2" as const;
  readonly whiteouts = "overlay" as const;
  readonly root: string;
  private readonly trash: Trash;
  /** graphDriverData by key: a snapshot's chain never changes while it exists (commit moves it to a new key). */
  private readonly graphData = new Map<string, Record<string, string>>();

  constructor(root: string) {
    this.root = root;
    this.trash = Trash.beside(root);
    mkdirSync(path.join(root, "l"), { recursive: true, mode: 0o700 });
  }

  private dir(key: string): string {
    return path.join(this.root, checkKey(key));
  }

  private read(key: string, file: string): string | undefined {
    try {
      return readFileSync(path.join(this.dir(key), file), "utf8");
    } catch {
      return undefined;
    }
  }

  exists(key: string): boolean {
    return existsSync(path.join(this.dir(key), "link"));
  }

  stat(key: string): SnapshotInfo {
    if (!this.exists(key)) throw new NotFoundError(`snapshot ${key} does not exist`);
    const parent = this.read(key, "parent");
    return { key, parent: parent || undefined, kind: existsSync(path.join(this.dir(key), "committed")) ? "committed" : "active" };
  }

  list(): SnapshotInfo[] {
    return readdirSync(this.root)
      .filter((name) => name !== "l" && this.exists(name))
      .map((name) => this.stat(name));
  }

  async prepare(key: string, parent?: string): Promise<Mount[]> {
    this.make(key, parent, ["diff", "work", "merged"], () => {});
    return this.mounts(key);
  }

  async createLayer(name: string, parent: string | undefined, files: Record<string, LayerFile>): Promise<void> {
    this.make(name, parent, ["diff"], (dir) => {
      writeLayerFiles(path.join(dir, "diff"), files);
      writeFileSync(path.join(dir, "committed"), "");
    });
  }

  /** A snapshot's directory: `subdirs`, what `fill` adds, its parents' links; "link" last. */
  private make(key: string, parent: string | undefined, subdirs: string[], fill: (dir: string) => void): void {
    if (this.exists(key)) throw new ConflictError(`snapshot ${key} already exists`);
    this.graphData.delete(key);
    let lower = "";
    if (parent) {
      const p = this.stat(parent);
      if (p.kind !== "committed") throw new ConflictError(`snapshot ${parent} is not committed and cannot be a parent`);
      const parentLink = this.read(parent, "link")!;
      const parentLower = this.read(parent, "lower") ?? "";
      lower = parentLower ? `l/${parentLink}:${parentLower}` : `l/${parentLink}`;
    }
    const dir = this.dir(key);
    rmSync(dir, { recursive: true, force: true }); // a half-made one from a crash
    mkdirSync(dir);
    for (const sub of subdirs) mkdirSync(path.join(dir, sub));
    fill(dir);
    const link = shortLinkName();
    symlinkSync(`../${key}/diff`, path.join(this.root, "l", link));
    if (lower) writeFileSync(path.join(dir, "lower"), lower);
    if (parent) writeFileSync(path.join(dir, "parent"), parent);
    // "link" last: its presence is what makes the snapshot exist.
    writeFileSync(path.join(dir, "link"), link);
  }

  async commit(name: string, key: string): Promise<void> {
    this.graphData.delete(key);
    this.graphData.delete(name);
    const info = this.stat(key);
    if (info.kind === "committed") throw new ConflictError(`snapshot ${key} is already committed`);
    if (this.exists(name)) throw new ConflictError(`snapshot ${name} already exists`);
    const from = this.dir(key);
    const to = this.dir(name);
    rmSync(path.join(from, "work"), { recursive: true, force: true });
    rmSync(path.join(from, "merged"), { recursive: true, force: true });
    writeFileSync(path.join(from, "committed"), "");
    renameSync(from, to);
    // The short name stays; it now points at the layer's new home.
    const link = this.read(name, "link")!;
    const linkPath = path.join(this.root, "l", link);
    unlinkSync(linkPath);
    symlinkSync(`../${name}/diff`, linkPath);
  }

  mounts(key: string): Mount[] {
    const info = this.stat(key);
    const lower = this.read(key, "lower");
    if (info.kind === "committed") {
      // A read-only view of a layer: its diff over its parents.
      const link = this.read(key, "link")!;
      if (!lower) return [{ type: "bind", source: path.join(this.dir(key), "diff"), options: ["rbind", "ro"] }];
      return [{ type: "overlay", source: "overlay", options: ["ro", `lowerdir=l/${link}:${lower}`], cwd: this.root }];
    }
    if (!lower) return [{ type: "bind", source: path.join(this.dir(key), "diff"), options: ["rbind", "rw"] }];
    return [
      {
        type: "overlay",
        source: "overlay",
        options: [`lowerdir=${lower}`, `upperdir=${key}/diff`, `workdir=${key}/work`],
        cwd: this.root,
      },
    ];
  }

  async remove(key: string, opts: { childless?: boolean } = {}): Promise<void> {
    this.graphData.delete(key);
    const link = this.read(key, "link");
    // Only a committed snapshot can be a parent: a container's layer is removed without reading every other one.
    if (!opts.childless && existsSync(path.join(this.dir(key), "committed"))) {
      const children = this.list().filter((s) => s.parent === key);
      if (children.length) throw new ConflictError(`snapshot ${key} has ${children.length} child snapshot(s)`);
    }
    if (link) rmSync(path.join(this.root, "l", link), { force: true });
    this.trash.discard(this.dir(key));
  }

  diffDir(key: string): string {
    return path.join(this.dir(key), "diff");
  }

  diff(key: string): Readable {
    return createLayerTar(this.diffDir(key), { whiteouts: "overlay" });
  }

  usage(key: string): Promise<{ size: number; inodes: number }> {
    return diskUsage(this.diffDir(key));
  }

  graphDriverData(key: string): Record<string, string> {
    const known = this.graphData.get(key);
    if (known) return { ...known };
    const data = this.readGraphDriverData(key);
    this.graphData.set(key, data);
    return { ...data };
  }

  private readGraphDriverData(key: string): Record<string, string> {
    const lower = this.read(key, "lower");
    const data: Record<string, string> = {};
    if (lower) {
      // l/<short> -> ../<key>/diff: the absolute diff dirs, nearest first, as Docker shows them.
      data.LowerDir = lower
        .split(":")
        .map((l) => path.resolve(this.root, "l", readlinkSync(path.join(this.root, l))))
        .join(":");
    }
    const dir = this.dir(key);
    if (this.stat(key).kind === "active") {
      data.MergedDir = path.join(dir, "merged");
      data.UpperDir = path.join(dir, "diff");
      data.WorkDir = path.join(dir, "work");
    } else {
      data.UpperDir = path.join(dir, "diff");
    }
    return data;
  }
}

