/**
 * Trash: a removal is one rename out of the store (the path is free at
 * once), the deletion happens in the background, and what a crash left in
 * a trash is deleted the next time that trash is used.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Trash } from "../../src/common/trash.ts";
import { tempDirs } from "../helpers/temp.ts";

const tempDir = tempDirs();

function temp(): string {
  const d = tempDir("hako-trash-");
  return d;
}

function tree(dir: string): void {
  mkdirSync(join(dir, "diff", "etc"), { recursive: true });
  writeFileSync(join(dir, "diff", "etc", "hosts"), "127.0.0.1 localhost\n");
  writeFileSync(join(dir, "link"), "ABC");
}

describe("Trash", () => {
  it("discard frees the path at once and deletes the tree in the background", async () => {
    const root = temp();
    const store = join(root, "overlay2");
    tree(join(store, "layer1"));
    tree(join(store, "layer2"));
    const trash = Trash.beside(store);
    assert.equal(trash.dir, join(root, "trash"));
    trash.discard(join(store, "layer1"));
    trash.discard(join(store, "layer2"));
    assert.ok(!existsSync(join(store, "layer1")));
    assert.ok(!existsSync(join(store, "layer2")));
    await trash.drained();
    assert.deepEqual(readdirSync(trash.dir), []);
  });

  it("a missing target is no error; a file is discarded like a directory", async () => {
    const root = temp();
    const trash = Trash.at(join(root, "trash"));
    trash.discard(join(root, "nothing-here"));
    writeFileSync(join(root, "f"), "x");
    trash.discard(join(root, "f"));
    assert.ok(!existsSync(join(root, "f")));
    await trash.drained();
    assert.deepEqual(readdirSync(trash.dir), []);
  });

  it("leftovers of a crash are deleted when the trash is next used", async () => {
    const root = temp();
    tree(join(root, "trash", "layer-from-before.0123456789ab"));
    tree(join(root, "store", "x"));
    const trash = Trash.beside(join(root, "store"));
    trash.discard(join(root, "store", "x"));
    await trash.drained();
    assert.deepEqual(readdirSync(join(root, "trash")), []);
  });

  it("one trash per directory", () => {
    const root = temp();
    assert.equal(Trash.at(join(root, "t")), Trash.at(join(root, "t", ".")));
    assert.equal(Trash.beside(join(root, "a")), Trash.beside(join(root, "b")));
  });
});
