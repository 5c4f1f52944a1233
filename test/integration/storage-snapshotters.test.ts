/**
 * One conformance suite for every snapshotter (containerd's
 * snapshots/testsuite in spirit): `snapshotterSuite(name, factory)` runs the
 * same cases against overlay2, vfs and btrfs (on a loop-mounted btrfs made
 * here). What a snapshotter returns is mounted as the container's init would
 * mount it: overlay with `mount -t overlay` from the spec's cwd (relative
 * l/ links), vfs/btrfs trees with a bind mount (and read as directories).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { extractLayer } from "../../src/native/tools.ts";
import { BtrfsSnapshotter } from "../../src/storage/btrfs.ts";
import { Overlay2Snapshotter } from "../../src/storage/overlay2.ts";
import type { Mount, Snapshotter } from "../../src/storage/snapshotter.ts";
import { VfsSnapshotter } from "../../src/storage/vfs.ts";
import { btrfsSkipReason, makeLoopBtrfs, mountData, mountSnapshot, readLayerTar, type LoopBtrfs } from "../helpers/images.ts";
import { buildTar, type TarEntry } from "../helpers/tar-writer.ts";

const isRoot = process.getuid?.() === 0;
const rootSkip = isRoot ? false : "needs root (overlay and loop mounts, chown, whiteout device nodes)";

interface Subject {
  snapshotter: Snapshotter;
  /** runs after the suite */
  cleanup(): Promise<void> | void;
}

/** Applies a layer tar to a prepared snapshot and commits it, as the layer store does. */
async function applyLayer(sn: Snapshotter, name: string, parent: string | undefined, entries: TarEntry[]): Promise<void> {
  const key = `${name}-active`;
  await sn.prepare(key, parent);
  await extractLayer(Readable.from([buildTar(entries)]), sn.diffDir(key), { whiteouts: sn.whiteouts });
  await sn.commit(name, key);
}

const unmounts: (() => void)[] = [];
after(() => {
  for (const u of unmounts.splice(0).reverse()) {
    try {
      u();
    } catch {
      // best effort: the suite's own after() reports what stays
    }
  }
});

/**
 * The filesystem a snapshot's mounts give, for `fn` to read (and write):
 * mounted on a temp dir (overlay from the spec's cwd; a bind mount of the
 * vfs/btrfs tree, read-only when committed) and unmounted afterwards.
 */
async function withView<T>(mounts: Mount[], fn: (dir: string) => Promise<T> | T): Promise<T> {
  assert.equal(mounts.length, 1, "one mount per snapshot");
  const m = mounts[0]!;
  if (m.type === "bind") assert.ok(m.options.includes("rbind"), `bind mount options ${m.options}`);
  else assert.equal(m.type, "overlay");
  const target = fs.mkdtempSync(path.join(os.tmpdir(), "hako-view-"));
  const umount = mountSnapshot(m, target);
  unmounts.push(umount);
  try {
    return await fn(target);
  } finally {
    umount();
    unmounts.splice(unmounts.indexOf(umount), 1);
    fs.rmdirSync(target);
  }
}

/** Names in a tree, relative, sorted; directories with a trailing slash. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(dir, p));
      if (st.isDirectory()) {
        out.push(`${p}/`);
        walk(p);
      } else out.push(p);
    }
  };
  walk("");
  return out;
}

export function snapshotterSuite(name: string, factory: () => Promise<Subject>, options: { skip?: string | false; stackDepth?: number } = {}): void {
  describe(`snapshotter conformance: ${name}`, { skip: options.skip ?? false }, () => {
    let sn: Snapshotter;
    let subject: Subject | undefined;
    before(async () => {
      subject = await factory();
      sn = subject.snapshotter;
    });
    after(async () => {
      await subject?.cleanup();
    });

    test("prepare, write, commit, prepare a child: the child sees the parent; bad keys and states are refused", async () => {
      const mounts = await sn.prepare("base-active");
      assert.equal(sn.stat("base-active").kind, "active");
      assert.equal(sn.stat("base-active").parent, undefined);
      assert.equal(mounts.length, 1);
      assert.ok(!mounts[0]!.options.includes("ro"), "an active snapshot is writable");
      fs.writeFileSync(path.join(sn.diffDir("base-active"), "hello"), "world\n");
      await sn.commit("base", "base-active");
      assert.equal(sn.exists("base-active"), false, "commit consumes the active key");
      assert.deepEqual(sn.stat("base"), { key: "base", parent: undefined, kind: "committed" });
      assert.ok(sn.mounts("base")[0]!.options.includes("ro"), "a committed snapshot mounts read-only");

      const child = await sn.prepare("child", "base");
      assert.deepEqual(sn.stat("child"), { key: "child", parent: "base", kind: "active" });
      await withView(child, (dir) => {
        assert.equal(fs.readFileSync(path.join(dir, "hello"), "utf8"), "world\n");
        fs.writeFileSync(path.join(dir, "second"), "2");
      });
      // The parent is untouched by the child's writes.
      assert.ok(!fs.existsSync(path.join(sn.diffDir("base"), "second")));
      assert.deepEqual(
        sn.list().map((s) => s.key).sort(),
        ["base", "child"],
      );

      await assert.rejects(sn.prepare("child", "base"), { code: "ERR_CONFLICT" });
      await assert.rejects(sn.prepare("grandchild", "child"), { code: "ERR_CONFLICT" }, "an active snapshot cannot be a parent");
      await assert.rejects(sn.prepare("orphan", "nothing-here"), { code: "ERR_NOT_FOUND" });
      await assert.rejects(sn.commit("base", "child"), { code: "ERR_CONFLICT" }, "a committed name is taken");
      await assert.rejects(sn.commit("again", "base"), { code: "ERR_CONFLICT" }, "already committed");
      await assert.rejects(sn.prepare("../escape"), { code: "ERR_INVALID_ARGUMENT" });
      await assert.rejects(sn.prepare("a/b"), { code: "ERR_INVALID_ARGUMENT" });
      assert.throws(() => sn.stat("nothing-here"), { code: "ERR_NOT_FOUND" });

      await sn.remove("child");
      await sn.remove("base");
      assert.deepEqual(sn.list(), []);
    });

    test("the seed's password.txt: deleted by layer 2, hidden in the mount, still in layer 1's diff; layer 3 makes /dir opaque", async () => {
      await applyLayer(sn, "pw1", undefined, [
        { name: "password.txt", data: "top.secret\n" },
        { name: "dir/", type: "dir" },
        { name: "dir/old", data: "old" },
        { name: "dir/sub/", type: "dir" },
        { name: "dir/sub/deep", data: "deep" },
        { name: "keep", data: "keep" },
      ]);
      await applyLayer(sn, "pw2", "pw1", [{ name: ".wh.password.txt" }]);
      await applyLayer(sn, "pw3", "pw2", [{ name: "dir/", type: "dir" }, { name: "dir/.wh..wh..opq" }, { name: "dir/new", data: "new" }]);

      // Layer 2's own diff records the deletion the snapshotter's way.
      if (sn.whiteouts === "overlay") {
        const wh = fs.lstatSync(path.join(sn.diffDir("pw2"), "password.txt"));
        assert.ok(wh.isCharacterDevice() && wh.rdev === 0, "an overlay whiteout (char 0:0) in layer 2");
        assert.deepEqual(fs.readdirSync(path.join(sn.diffDir("pw3"), "dir")), ["new"]);
      } else {
        assert.ok(!fs.existsSync(path.join(sn.diffDir("pw2"), "password.txt")), "deleted from layer 2's full tree");
        assert.deepEqual(fs.readdirSync(path.join(sn.diffDir("pw3"), "dir")), ["new"], "opaque: the old children are gone from the tree");
      }
      // The seed's point: removing a file in a later layer does not take it out of the image.
      assert.equal(fs.readFileSync(path.join(sn.diffDir("pw1"), "password.txt"), "utf8"), "top.secret\n");
      assert.ok(fs.existsSync(path.join(sn.diffDir("pw1"), "dir/sub/deep")));

      // Each layer's diff gives the layer back, whiteouts as .wh. entries.
      const d2 = await readLayerTar(sn.diff("pw2"));
      assert.deepEqual(
        d2.map((e) => e.name),
        [".wh.password.txt"],
      );
      const d3 = await readLayerTar(sn.diff("pw3"));
      const names3 = d3.map((e) => e.name.replace(/\/$/, ""));
      assert.ok(names3.includes("dir/new"), names3.join(","));
      assert.ok(
        names3.includes("dir/.wh..wh..opq") || (names3.includes("dir/.wh.old") && names3.includes("dir/.wh.sub")),
        `layer 3 hides dir's old children: ${names3.join(",")}`,
      );

      // A container on top: its mount shows the image as Docker would.
      const mounts = await sn.prepare("pw-ctr", "pw3");
      await withView(mounts, (dir) => {
        assert.ok(!fs.existsSync(path.join(dir, "password.txt")), "password.txt is gone from the merged view");
        assert.deepEqual(tree(path.join(dir, "dir")), ["new"]);
        assert.equal(fs.readFileSync(path.join(dir, "keep"), "utf8"), "keep");
      });
      // Committed layers mount too (a read-only view of the image).
      await withView(sn.mounts("pw3"), (dir) => {
        assert.ok(!fs.existsSync(path.join(dir, "password.txt")));
        assert.deepEqual(tree(dir), ["dir/", "dir/new", "keep"]);
        assert.throws(() => fs.writeFileSync(path.join(dir, "x"), "x"), /EROFS|EACCES|EPERM/);
      });
      await sn.remove("pw-ctr");
    });

    test("diff of a container snapshot: writes, modifications and deletions as a layer tar with .wh. entries", async () => {
      await applyLayer(sn, "img", undefined, [
        { name: "etc/", type: "dir" },
        { name: "etc/conf", data: "v=1\n" },
        { name: "keep", data: "unchanged" },
        { name: "gone", data: "to be deleted" },
        { name: "dir/", type: "dir" },
        { name: "dir/a", data: "a" },
        { name: "tree/", type: "dir" },
        { name: "tree/sub/", type: "dir" },
        { name: "tree/sub/f", data: "f" },
        { name: "link", type: "symlink", linkname: "keep" },
      ]);
      const mounts = await sn.prepare("ctr", "img");
      let expected: string[] = [];
      await withView(mounts, (root) => {
        fs.writeFileSync(path.join(root, "new.txt"), "brand new\n");
        fs.writeFileSync(path.join(root, "etc/conf"), "v=2, longer\n");
        fs.rmSync(path.join(root, "gone"));
        fs.rmSync(path.join(root, "dir"), { recursive: true });
        fs.rmSync(path.join(root, "tree"), { recursive: true });
        fs.mkdirSync(path.join(root, "tree"));
        fs.writeFileSync(path.join(root, "tree/g"), "g");
        fs.mkdirSync(path.join(root, "made/deeper"), { recursive: true });
        fs.writeFileSync(path.join(root, "made/deeper/file"), randomBytes(5000));
        expected = tree(root);
      });
      const entries = await readLayerTar(sn.diff("ctr"));
      const names = entries.map((e) => e.name.replace(/\/$/, ""));
      const byName = new Map(entries.map((e) => [e.name.replace(/\/$/, ""), e]));
      for (const n of [".wh.gone", ".wh.dir", "new.txt", "etc/conf", "tree/g", "made/deeper/file"]) assert.ok(names.includes(n), `${n} in ${names.join(",")}`);
      for (const n of ["keep", "link", "dir/a", "tree/sub/f", "gone"]) assert.ok(!names.includes(n), `${n} unchanged or deleted, not in the diff: ${names.join(",")}`);
      assert.ok(names.includes("tree/.wh..wh..opq") || names.includes("tree/.wh.sub"), `tree's old content hidden: ${names.join(",")}`);
      assert.equal(byName.get("etc/conf")!.data.toString(), "v=2, longer\n");
      assert.equal(byName.get(".wh.gone")!.type, "file");
      assert.equal(byName.get(".wh.gone")!.size, 0);
      assert.ok(!names.some((n) => n.startsWith(".wh..wh.") && !n.endsWith(".opq")), "no AUFS metadata");
      for (const e of entries) assert.ok(e.type !== "character-device" || e.devmajor !== 0, `no raw overlay whiteout device: ${e.name}`);

      // Applied on a copy of the image, the diff gives the container's filesystem back.
      const check = fs.mkdtempSync(path.join(os.tmpdir(), "hako-diffcheck-"));
      try {
        const full = path.join(check, "root");
        fs.mkdirSync(full);
        await extractLayer(sn.diff("img"), full, { whiteouts: "delete" });
        await extractLayer(sn.diff("ctr"), full, { whiteouts: "delete" });
        assert.deepEqual(tree(full), expected);
        assert.equal(fs.readFileSync(path.join(full, "etc/conf"), "utf8"), "v=2, longer\n");
      } finally {
        fs.rmSync(check, { recursive: true, force: true });
      }
      await sn.remove("ctr");
      await sn.remove("img");
    });

    test("remove refuses a parent with children; leaf first works and leaves nothing behind", async () => {
      await applyLayer(sn, "p1", undefined, [{ name: "one", data: "1" }]);
      await applyLayer(sn, "p2", "p1", [{ name: "two", data: "2" }]);
      await sn.prepare("p3", "p2");
      await assert.rejects(sn.remove("p1"), { code: "ERR_CONFLICT" });
      await assert.rejects(sn.remove("p2"), { code: "ERR_CONFLICT" });
      assert.ok(sn.exists("p1") && sn.exists("p2"), "a refused remove changes nothing");
      const before = sn.list().length;
      await sn.remove("p3");
      await sn.remove("p2");
      await sn.remove("p1");
      assert.equal(sn.list().length, before - 3);
      for (const k of ["p1", "p2", "p3"]) assert.equal(sn.exists(k), false);
      if (sn instanceof Overlay2Snapshotter) {
        for (const k of ["p1", "p2", "p3"]) assert.ok(!fs.existsSync(path.join(sn.root, k)));
        for (const l of fs.readdirSync(path.join(sn.root, "l"))) {
          assert.ok(fs.existsSync(path.join(sn.root, "l", l)), `dangling short link l/${l}`);
        }
      }
    });

    test("graphDriverData names directories that exist", async () => {
      await applyLayer(sn, "g1", undefined, [{ name: "a", data: "a" }]);
      await applyLayer(sn, "g2", "g1", [{ name: "b", data: "b" }]);
      await sn.prepare("g3", "g2");
      for (const key of ["g1", "g2", "g3"]) {
        const data = sn.graphDriverData(key);
        assert.ok(Object.keys(data).length > 0, key);
        for (const [field, value] of Object.entries(data)) {
          for (const p of value.split(":")) {
            assert.ok(path.isAbsolute(p), `${key} ${field}: ${p} is absolute`);
            assert.ok(fs.statSync(p).isDirectory(), `${key} ${field}: ${p} exists`);
          }
        }
        if (sn.driver === "overlay2") {
          assert.equal(data.UpperDir, sn.diffDir(key));
          if (key !== "g1") assert.ok(data.LowerDir, `${key} has lower dirs`);
        } else {
          assert.equal(data.Dir, sn.diffDir(key));
        }
      }
      if (sn.driver === "overlay2") {
        const d = sn.graphDriverData("g3");
        assert.deepEqual(d.LowerDir!.split(":"), [sn.diffDir("g2"), sn.diffDir("g1")], "nearest first");
        assert.ok(d.MergedDir && d.WorkDir);
        // Answers are remembered per key: a key made again, or committed under a new name, is read afresh.
        await sn.remove("g3");
        await sn.prepare("g3", "g1");
        assert.deepEqual(sn.graphDriverData("g3").LowerDir!.split(":"), [sn.diffDir("g1")]);
        await sn.commit("g4", "g3");
        const committed = sn.graphDriverData("g4");
        assert.equal(committed.MergedDir, undefined);
        assert.equal(committed.UpperDir, sn.diffDir("g4"));
        await sn.remove("g4");
      } else {
        await sn.remove("g3");
      }
      await sn.remove("g2");
      await sn.remove("g1");
    });

    test("usage counts the snapshot's own bytes and inodes", async () => {
      await sn.prepare("u1");
      const empty = await sn.usage("u1");
      fs.mkdirSync(path.join(sn.diffDir("u1"), "d"));
      fs.writeFileSync(path.join(sn.diffDir("u1"), "d/big"), randomBytes(1024 * 1024));
      fs.linkSync(path.join(sn.diffDir("u1"), "d/big"), path.join(sn.diffDir("u1"), "hardlink"));
      const used = await sn.usage("u1");
      assert.ok(used.size - empty.size >= 1024 * 1024, `size grew by ${used.size - empty.size}`);
      assert.ok(used.size - empty.size < 2 * 1024 * 1024, "a hardlinked file counts once");
      assert.equal(used.inodes - empty.inodes, 2, "d and big (hardlink once)");
      await sn.commit("u1c", "u1");
      assert.deepEqual(await sn.usage("u1c"), used);
      await sn.remove("u1c");
    });

    const depth = options.stackDepth ?? 10;
    test(`a stack of ${depth} layers mounts, every layer visible${depth >= 100 ? ", mount data under a page thanks to l/ links" : ""}`, async () => {
      let parent: string | undefined;
      const keys: string[] = [];
      for (let i = 1; i <= depth; i++) {
        // 64-hex keys, as chain IDs give.
        const key = i.toString(16).padStart(64, "0");
        await applyLayer(sn, key, parent, [{ name: "layers/", type: "dir" }, { name: `layers/${i}`, data: `layer ${i}\n` }]);
        keys.push(key);
        parent = key;
      }
      const ctr = "c".repeat(64);
      const mounts = await sn.prepare(ctr, parent);
      if (mounts[0]!.type === "overlay") {
        const data = mountData(mounts[0]!);
        assert.ok(data.length < 4096, `overlay mount data is ${data.length} bytes`);
        assert.ok(mounts[0]!.cwd, "relative lowerdirs need a cwd");
        const lowers = /lowerdir=([^,]+)/.exec(data)![1]!.split(":");
        assert.equal(lowers.length, depth);
        for (const l of lowers) assert.match(l, /^l\/[A-Z2-7]{26}$/);
        const absolute = lowers.map((l) => path.join(mounts[0]!.cwd!, l)).join(":");
        if (depth >= 100) assert.ok(absolute.length > 4096, "absolute lowerdirs would not have fitted");
      }
      await withView(mounts, (dir) => {
        const files = fs.readdirSync(path.join(dir, "layers"));
        assert.equal(files.length, depth);
        assert.equal(fs.readFileSync(path.join(dir, "layers", String(depth)), "utf8"), `layer ${depth}\n`);
        assert.equal(fs.readFileSync(path.join(dir, "layers", "1"), "utf8"), "layer 1\n");
        fs.writeFileSync(path.join(dir, "written"), "w");
      });
      assert.equal(fs.readFileSync(path.join(sn.diffDir(ctr), "written"), "utf8"), "w", "writes land in the container's own layer");
      await sn.remove(ctr);
      for (const key of keys.reverse()) await sn.remove(key);
    });
  });
}

// ---------------------------------------------------------------------------

function tempRoot(prefix: string): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

const overlaySkip = rootSkip || (fs.readFileSync("/proc/filesystems", "utf8").includes("\toverlay") ? false : "the kernel has no overlay filesystem");

snapshotterSuite(
  "overlay2",
  async () => {
    const t = tempRoot("hako-ovl2-");
    return { snapshotter: new Overlay2Snapshotter(path.join(t.dir, "overlay2")), cleanup: t.remove };
  },
  { skip: overlaySkip, stackDepth: 120 },
);

snapshotterSuite(
  "vfs",
  async () => {
    const t = tempRoot("hako-vfs-");
    return { snapshotter: new VfsSnapshotter(path.join(t.dir, "vfs")), cleanup: t.remove };
  },
  { skip: rootSkip },
);

let btrfsFs: LoopBtrfs | undefined;
snapshotterSuite(
  "btrfs",
  async () => {
    btrfsFs = makeLoopBtrfs(512);
    const snapshotter = new BtrfsSnapshotter(path.join(btrfsFs.mnt, "btrfs"));
    return {
      snapshotter,
      cleanup: async () => {
        // Subvolumes first (what a failed test left), then the filesystem.
        for (const s of snapshotter.list()) await snapshotter.remove(s.key).catch(() => {});
        btrfsFs?.cleanup();
      },
    };
  },
  { skip: rootSkip || (btrfsSkipReason() ?? false), stackDepth: 20 },
);
