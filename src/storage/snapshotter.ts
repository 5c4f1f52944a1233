/**
 * Snapshotters (containerd's model): a layer is a committed snapshot, a
 * container's filesystem an active one on top of it. A snapshotter only
 * prepares directories and returns how to mount them; the container's own
 * mount namespace does the mounting (src/runtime/plan.ts rootfsMount).
 */
import type { Readable } from "node:stream";
import type { LayerFile } from "./snapshot-common.ts";

export interface Mount {
  type: string;
  source: string;
  options: string[];
  /** mount(2) must run from here: overlay lowerdirs are relative short links. */
  cwd?: string;
}

export type StorageDriver = "overlay2" | "vfs" | "btrfs";

export interface SnapshotInfo {
  key: string;
  parent?: string;
  kind: "committed" | "active";
}

export interface Snapshotter {
  readonly driver: StorageDriver;
  /** How a layer tar's whiteouts are applied to diffDir: as overlay whiteouts, or by deleting. */
  readonly whiteouts: "overlay" | "delete";
  /** A writable snapshot on top of the committed `parent` (none: empty). */
  prepare(key: string, parent?: string): Promise<Mount[]>;
  /** Turns the active snapshot `key` into the read-only layer `name`. */
  commit(name: string, key: string): Promise<void>;
  /**
   * Optional: the committed layer `name` on `parent` holding `files`
   * (relative path → content), made in place, for what prepare, writing
   * and commit would make with three times the file operations (a
   * container's init layer, at every create).
   */
  createLayer?(name: string, parent: string | undefined, files: Record<string, LayerFile>): Promise<void>;
  mounts(key: string): Mount[];
  /**
   * Removes a snapshot; refused while another is built on it. `childless`:
   * the caller knows none is (a container's init layer once the container's
   * own is gone), and the check, a look at every snapshot, is skipped.
   */
  remove(key: string, opts?: { childless?: boolean }): Promise<void>;
  exists(key: string): boolean;
  stat(key: string): SnapshotInfo;
  list(): SnapshotInfo[];
  /** Where a layer tar is applied for `key`. */
  diffDir(key: string): string;
  /** The changes of `key` over its parent as a layer tar with .wh. entries. */
  diff(key: string): Readable;
  usage(key: string): Promise<{ size: number; inodes: number }>;
  /** GraphDriver.Data of docker inspect. */
  graphDriverData(key: string): Record<string, string>;
}
