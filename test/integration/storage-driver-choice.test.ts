/**
 * The snapshotter follows the data root: btrfs when it sits on btrfs (as
 * seed 004 builds containers), overlay2 where the kernel has overlay, and
 * what --storage-driver asks for otherwise.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { createBusyboxImage } from "../../src/image/busybox.ts";
import { openImageService } from "../../src/image/setup.ts";
import { btrfsSkipReason, makeLoopBtrfs } from "../helpers/images.ts";

const rootSkip = process.getuid?.() === 0 ? false : "needs root";

describe("storage driver choice", { skip: rootSkip }, () => {
  test("a data root on btrfs gets the btrfs snapshotter; images work on it", { skip: btrfsSkipReason() ?? false }, async () => {
    const fs = makeLoopBtrfs(512);
    try {
      const service = await openImageService(path.join(fs.mnt, "hako"));
      assert.equal(service.layers.snapshotter.driver, "btrfs");
      const image = await createBusyboxImage(service);
      const inspect = service.inspect(image.id);
      assert.equal(inspect.GraphDriver.Name, "btrfs");
      assert.deepEqual(inspect.Config?.Cmd, ["sh"]);
    } finally {
      fs.cleanup();
    }
  });

  test("elsewhere overlay2, or the driver asked for", async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), "hako-driver-"));
    try {
      assert.equal((await openImageService(path.join(root, "a"))).layers.snapshotter.driver, "overlay2");
      assert.equal((await openImageService(path.join(root, "b"), { storageDriver: "vfs" })).layers.snapshotter.driver, "vfs");
      await assert.rejects(openImageService(path.join(root, "c"), { storageDriver: "aufs" }), /unknown storage driver "aufs"/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
