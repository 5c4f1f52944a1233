/**
 * hakod's trash deleter (native/src/trash.c, src/native/trash-deleter.ts):
 * what the Trash renames into its directory is deleted by another process,
 * at idle priority, without following links out; leftovers from before it
 * started go too; stopped, it is gone and the Trash deletes in-process again.
 */
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Trash } from "../../src/common/trash.ts";
import { builtHelperPath } from "../../src/native/shim.ts";
import { startTrashDeleter } from "../../src/native/trash-deleter.ts";

const root = mkdtempSync(join(tmpdir(), "hako-trash-deleter-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** The deleter we started: our child running `hako-shim trash <dir>`. */
function deleterOf(dir: string): number | undefined {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${name}/status`, "utf8"))?.[1]);
      if (ppid === process.pid && argv[1] === "trash" && argv[2] === dir) return Number(name);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** A container layer's shape, with overlay's 000 work dir and a link that leads out. */
function layer(dir: string, outside: string): void {
  mkdirSync(join(dir, "diff", "etc"), { recursive: true });
  writeFileSync(join(dir, "diff", "etc", "hosts"), "127.0.0.1 localhost\n");
  mkdirSync(join(dir, "work", "work"), { recursive: true });
  chmodSync(join(dir, "work", "work"), 0);
  symlinkSync(outside, join(dir, "diff", "out"));
  writeFileSync(join(dir, "link"), "ABC");
}

describe("trash deleter", () => {
  test("deletes what is discarded and what was there before, at idle priority, not what links lead to", async () => {
    const store = join(root, "overlay2");
    const trashDir = join(root, "trash");
    const outside = join(root, "precious");
    writeFileSync(outside, "keep");
    layer(join(trashDir, "from-before.0123"), outside);
    layer(join(store, "l1"), outside);
    layer(join(store, "l2"), outside);
    const warnings: string[] = [];
    const stop = startTrashDeleter(builtHelperPath(), trashDir, (why) => warnings.push(why));
    try {
      const trash = Trash.beside(store);
      assert.equal(trash.dir, trashDir);
      trash.discard(join(store, "l1"));
      trash.discard(join(store, "l2"));
      assert.ok(!existsSync(join(store, "l1")), "the path is free at once");
      await trash.drained();
      assert.deepEqual(readdirSync(trashDir), []);
      assert.equal(readFileSync(outside, "utf8"), "keep");
      const pid = deleterOf(trashDir);
      assert.ok(pid, "the deleter runs");
      // /proc/<pid>/stat field 41: the scheduling policy, 5 = SCHED_IDLE.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      assert.equal(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[38], "5");
    } finally {
      stop();
    }
    for (let i = 0; i < 200 && deleterOf(trashDir) !== undefined; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(deleterOf(trashDir), undefined, "stopped with its daemon");
    assert.deepEqual(warnings, []);
    // Deleting is ours again.
    layer(join(store, "l3"), outside);
    const trash = Trash.beside(store);
    trash.discard(join(store, "l3"));
    await trash.drained();
    assert.deepEqual(readdirSync(trashDir), []);
  });
});
