/**
 * The working directory made in a container's writable layer over its
 * image's layers: symlinks followed inside the root, existing directories
 * copied up with owner and mode, whiteouts hiding, files in the way.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { makeWorkingDir } from "../../src/engine/workdir.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "hako-workdir-"));
after(() => rmSync(root, { recursive: true, force: true }));
const isRoot = process.getuid?.() === 0;

function layers(name: string): { upper: string; lower: string } {
  const upper = path.join(root, name, "upper");
  const lower = path.join(root, name, "lower");
  mkdirSync(upper, { recursive: true });
  mkdirSync(path.join(lower, "tmp"), { recursive: true });
  chmodSync(path.join(lower, "tmp"), 0o1777);
  mkdirSync(path.join(lower, "home/user"), { recursive: true });
  if (isRoot) chownSync(path.join(lower, "home/user"), 1000, 1000);
  symlinkSync("/tmp", path.join(lower, "linktmp"));
  mkdirSync(path.join(lower, "bin"));
  writeFileSync(path.join(lower, "bin/sh"), "");
  return { upper, lower };
}

describe("makeWorkingDir", () => {
  it("copies existing parents up with their mode and owner", () => {
    const { upper, lower } = layers("a");
    assert.equal(makeWorkingDir(upper, [lower], "/tmp/x/y"), true);
    assert.equal(lstatSync(path.join(upper, "tmp")).mode & 0o7777, 0o1777);
    assert.ok(lstatSync(path.join(upper, "tmp/x/y")).isDirectory());
    assert.equal(makeWorkingDir(upper, [lower], "/home/user/app"), true);
    if (isRoot) assert.equal(lstatSync(path.join(upper, "home/user")).uid, 1000);
  });
  it("follows symlinks inside the root, and leaves what exists alone", () => {
    const { upper, lower } = layers("b");
    assert.equal(makeWorkingDir(upper, [lower], "/linktmp/sub"), true);
    assert.ok(lstatSync(path.join(upper, "tmp/sub")).isDirectory());
    assert.equal(existsSync(path.join(upper, "linktmp")), false);
    assert.equal(makeWorkingDir(upper, [lower], "/linktmp"), true);
    assert.equal(makeWorkingDir(upper, [lower], "/home"), true);
    assert.equal(existsSync(path.join(upper, "home")), false);
  });
  it("refuses a file in the way and honours whiteouts", { skip: isRoot ? false : "mknod needs root" }, () => {
    const { upper, lower } = layers("c");
    assert.equal(makeWorkingDir(upper, [lower], "/bin/sh"), false);
    assert.equal(existsSync(path.join(upper, "bin")), false);
    // A whiteout of /bin in a layer above the one that has it: /bin is gone, so it is made anew.
    const mid = path.join(root, "c", "mid");
    mkdirSync(mid);
    spawnSync("mknod", [path.join(mid, "bin"), "c", "0", "0"]);
    assert.equal(makeWorkingDir(upper, [mid, lower], "/bin/x"), true);
    assert.ok(lstatSync(path.join(upper, "bin/x")).isDirectory());
  });
});
