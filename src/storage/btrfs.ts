/**
 * btrfs, as seed 004 builds containers: a subvolume per layer, a snapshot
 * of it per child layer or container (copy-on-write, instant).
 */
import { btrfsSnapshot, btrfsSubvolumeCreate, btrfsSubvolumeDelete } from "../native/tools.ts";
import { DirectorySnapshotter } from "./vfs.ts";

export class BtrfsSnapshotter extends DirectorySnapshotter {
  readonly driver = "btrfs" as const;

  constructor(root: string) {
    super(root, "subvolumes");
  }

  protected makeEmpty(dir: string): Promise<void> {
    return btrfsSubvolumeCreate(dir);
  }

  protected makeCopy(from: string, to: string): Promise<void> {
    return btrfsSnapshot(from, to);
  }

  protected destroy(dir: string): Promise<void> {
    return btrfsSubvolumeDelete(dir);
  }
}
