/**
 * Opens the image service over a data root: the stores, and the
 * snapshotter the root's filesystem suits (btrfs on btrfs, else overlay2
 * where the kernel has it, else vfs), unless one is asked for.
 */
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { InvalidArgumentError } from "../common/errors.ts";
import { isBtrfs } from "../native/tools.ts";
import { BtrfsSnapshotter } from "../storage/btrfs.ts";
import { LayerStore } from "../storage/layer-store.ts";
import { Overlay2Snapshotter } from "../storage/overlay2.ts";
import type { Snapshotter, StorageDriver } from "../storage/snapshotter.ts";
import { VfsSnapshotter } from "../storage/vfs.ts";
import { ContentStore } from "./content-store.ts";
import { ImageStore } from "./image-store.ts";
import { ImageService } from "./service.ts";

function kernelHasOverlay(): boolean {
  try {
    return /\toverlay$/m.test(readFileSync("/proc/filesystems", "utf8"));
  } catch {
    return false;
  }
}

export async function chooseDriver(dataRoot: string, wanted?: string): Promise<StorageDriver> {
  if (wanted) {
    if (wanted !== "overlay2" && wanted !== "vfs" && wanted !== "btrfs") {
      throw new InvalidArgumentError(`unknown storage driver "${wanted}": use overlay2, vfs or btrfs`);
    }
    return wanted;
  }
  if (await isBtrfs(dataRoot)) return "btrfs";
  return kernelHasOverlay() ? "overlay2" : "vfs";
}

export function openSnapshotter(dataRoot: string, driver: StorageDriver): Snapshotter {
  switch (driver) {
    case "btrfs":
      return new BtrfsSnapshotter(path.join(dataRoot, "btrfs"));
    case "vfs":
      return new VfsSnapshotter(path.join(dataRoot, "vfs"));
    default:
      return new Overlay2Snapshotter(path.join(dataRoot, "overlay2"));
  }
}

export async function openImageService(dataRoot: string, options: { storageDriver?: string } = {}): Promise<ImageService> {
  mkdirSync(dataRoot, { recursive: true, mode: 0o711 });
  const driver = await chooseDriver(dataRoot, options.storageDriver);
  const content = new ContentStore(path.join(dataRoot, "content"));
  // A pull killed half-way leaves only ingest files: never a visible broken blob.
  content.cleanIngest();
  const images = new ImageStore(path.join(dataRoot, "images"));
  const layers = new LayerStore(path.join(dataRoot, "layers", driver), openSnapshotter(dataRoot, driver));
  await layers.cleanTemporary();
  return new ImageService({ content, images, layers });
}
