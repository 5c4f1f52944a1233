/**
 * The helper's layer tools through their TypeScript driver: tar-extract and
 * tar-create round trips, determinism, whiteouts both ways (with real
 * overlay mounts), the naive --parent diff, hostile archives, streaming a
 * large layer in small memory, and btrfs subvolumes on a loop device.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { after, describe, test } from "node:test";
import { HakoError } from "../../src/common/errors.ts";
import { helperPath } from "../../src/native/shim.ts";
import {
  btrfsSnapshot,
  btrfsSubvolumeCreate,
  btrfsSubvolumeDelete,
  createLayerTar,
  extractLayer,
  isBtrfs,
  type ExtractWhiteouts,
} from "../../src/native/tools.ts";
import { buildTar, entryBlocks, header, parseTar, type TarEntry } from "../helpers/tar-writer.ts";

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : "needs root (chown, mknod, trusted.* xattrs, overlay and loop mounts)";

const tempDirs: string[] = [];
const mounts: string[] = [];
/** Cleans up even when a test failed half way: mounts first, then the directories under them. */
after(() => {
  for (const m of mounts.reverse()) spawnSync("umount", [m]);
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmp(prefix = "hako-layer-"): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function extractBuf(buf: Buffer, dir: string, whiteouts: ExtractWhiteouts = "delete") {
  return extractLayer(Readable.from([buf]), dir, { whiteouts });
}

function tarOf(dir: string, opts: { whiteouts?: "overlay" | "none"; parent?: string } = {}): Promise<Buffer> {
  return readAll(createLayerTar(dir, { whiteouts: opts.whiteouts ?? "none", parent: opts.parent }));
}

function sha256(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

function mountOverlay(target: string, options: string): void {
  fs.mkdirSync(target, { recursive: true });
  execFileSync("mount", ["-t", "overlay", "overlay", "-o", options, target]);
  mounts.push(target);
}

function umount(target: string): void {
  execFileSync("umount", [target]);
  mounts.splice(mounts.indexOf(target), 1);
}

interface NodeInfo {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  size?: number;
  rdev?: number;
  target?: string;
  sha?: string;
  /** For a hardlinked file, the first path (sorted) of its inode. */
  linkOf?: string;
}

/** Everything tar carries about a tree, path by path (atime and inode numbers aside). */
function describeTree(root: string): Record<string, NodeInfo> {
  const out: Record<string, NodeInfo> = {};
  const inodes = new Map<bigint, string>();
  const walk = (rel: string): void => {
    const names = fs.readdirSync(path.join(root, rel)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(root, r);
      const st = fs.lstatSync(p, { bigint: true });
      const type = st.isDirectory() ? "dir" : st.isFile() ? "file" : st.isSymbolicLink() ? "symlink" : st.isCharacterDevice() ? "char" : st.isBlockDevice() ? "block" : st.isFIFO() ? "fifo" : "other";
      const info: NodeInfo = { type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs };
      if (type === "file") {
        info.size = Number(st.size);
        info.sha = sha256(fs.readFileSync(p));
        if (st.nlink > 1n) {
          const first = inodes.get(st.ino);
          if (first) info.linkOf = first;
          else inodes.set(st.ino, r);
        }
      }
      if (type === "char" || type === "block") info.rdev = Number(st.rdev);
      if (type === "symlink") info.target = fs.readlinkSync(p);
      out[r] = info;
      if (type === "dir") walk(r);
    }
  };
  walk("");
  return out;
}

/** A vfs_cap_data v2 value granting cap_net_raw, effective (what `setcap cap_net_raw+ep` writes). */
function capNetRaw(): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(0x02000000 | 0x1, 0);
  b.writeUInt32LE(1 << 13, 4);
  return b;
}

function have(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

/** Asserts a promise rejects with a HakoError of the given code whose message matches. */
async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<HakoError> {
  try {
    await p;
  } catch (err) {
    assert.ok(HakoError.is(err), `not a HakoError: ${String(err)}`);
    assert.equal((err as HakoError).code, code, (err as Error).message);
    assert.match((err as Error).message, re);
    return err as HakoError;
  }
  assert.fail("expected a rejection");
}

function listAll(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }) as string[];
}

describe("layer tar tools", { skip }, () => {
  test("round trip: every kind of entry and its metadata survive tar-create | tar-extract", async () => {
    const base = tmp();
    const src = path.join(base, "src");
    const dst = path.join(base, "dst");
    fs.mkdirSync(src);
    fs.mkdirSync(dst);
    fs.mkdirSync(path.join(src, "d/sub"), { recursive: true });
    fs.writeFileSync(path.join(src, "d/file"), "hello\n");
    fs.writeFileSync(path.join(src, "d/sub/inner"), "x".repeat(5000));
    fs.writeFileSync(path.join(src, "setuid"), "#!/bin/sh\n");
    fs.chmodSync(path.join(src, "setuid"), 0o4755);
    fs.writeFileSync(path.join(src, "sgid-dir-file"), "");
    fs.chmodSync(path.join(src, "sgid-dir-file"), 0o2640);
    fs.symlinkSync("d/file", path.join(src, "link"));
    fs.symlinkSync("/nowhere/at/all", path.join(src, "dangling"));
    fs.linkSync(path.join(src, "d/file"), path.join(src, "hard"));
    execFileSync("mkfifo", [path.join(src, "fifo")]);
    execFileSync("mknod", [path.join(src, "null"), "c", "1", "3"]);
    execFileSync("mknod", [path.join(src, "blk"), "b", "7", "200"]);
    fs.writeFileSync(path.join(src, "empty"), "");
    // names that need ustar's prefix split, and a PAX path
    const splitDir = `deep/${"x".repeat(90)}`;
    fs.mkdirSync(path.join(src, splitDir), { recursive: true });
    fs.writeFileSync(path.join(src, splitDir, "y".repeat(90)), "split");
    fs.writeFileSync(path.join(src, "L".repeat(150)), "long");
    fs.symlinkSync("t".repeat(150), path.join(src, "longlink"));
    // owners, including ids past ustar's 2097151
    for (const p of ["d", "d/file", "d/sub", "fifo", "null"]) fs.chownSync(path.join(src, p), 1000, 1000);
    fs.lchownSync(path.join(src, "link"), 1000, 1001);
    fs.chownSync(path.join(src, "empty"), 3_000_000, 3_000_001);
    fs.chmodSync(path.join(src, "d"), 0o750);
    // xattrs: user.x on a file and a directory, security.capability; made with our extractor
    await extractBuf(
      buildTar([
        { name: "xattr-file", data: "x", xattrs: { "user.x": "value-1", "user.bin": Buffer.from([0, 1, 2, 255]) } },
        { name: "xdir/", type: "dir", mode: 0o711, xattrs: { "user.x": "dir" } },
        { name: "cap", data: "bin", mode: 0o755, xattrs: { "security.capability": capNetRaw() } },
      ]),
      src,
    );
    // whole-second mtimes (tar keeps seconds), directories last and deepest first
    let t = 1_500_000_000;
    const all = Object.keys(describeTree(src));
    for (const r of all.filter((r) => !fs.lstatSync(path.join(src, r)).isDirectory())) {
      const p = path.join(src, r);
      if (fs.lstatSync(p).isSymbolicLink()) fs.lutimesSync(p, t, t);
      else fs.utimesSync(p, t, t);
      t += 1000;
    }
    for (const r of all.filter((r) => fs.lstatSync(path.join(src, r)).isDirectory()).reverse()) {
      fs.utimesSync(path.join(src, r), t, t);
      t += 1000;
    }

    const tar1 = await tarOf(src);
    const res = await extractBuf(tar1, dst);
    assert.deepEqual(describeTree(dst), describeTree(src));
    const entries = parseTar(tar1);
    assert.equal(res.entries, entries.length);
    assert.equal(res.whiteouts, 0);
    // Regular files' data and symlinks' targets: what Docker's walk of a layer counts.
    const symlinks = entries.filter((e) => e.typeflag === "2").reduce((n, e) => n + Buffer.byteLength(e.linkname), 0);
    assert.equal(res.bytes, entries.filter((e) => e.typeflag === "0").reduce((n, e) => n + e.size, 0) + symlinks);

    // the archive itself: order, names, types, links, xattrs, PAX only where needed
    const names = entries.map((e) => e.name);
    assert.deepEqual(names.slice(0, 4), ["L".repeat(150), "blk", "cap", "d/"]);
    assert.ok(names.indexOf("d/") < names.indexOf("d/file") && names.indexOf("d/sub/inner") < names.indexOf("dangling"));
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.equal(byName.get("hard")!.typeflag, "1");
    assert.equal(byName.get("hard")!.linkname, "d/file");
    assert.equal(byName.get("link")!.typeflag, "2");
    assert.equal(byName.get("longlink")!.linkname, "t".repeat(150));
    assert.ok(byName.get("longlink")!.pax.linkpath);
    assert.equal(byName.get("null")!.typeflag, "3");
    assert.deepEqual([byName.get("blk")!.devmajor, byName.get("blk")!.devminor], [7, 200]);
    assert.equal(byName.get("fifo")!.typeflag, "6");
    assert.equal(byName.get("setuid")!.mode, 0o4755);
    assert.equal(byName.get("empty")!.uid, 3_000_000);
    assert.ok(byName.get("empty")!.pax.uid, "uid past 2097151 goes to PAX");
    assert.ok(byName.get(`${splitDir}/${"y".repeat(90)}`), "ustar prefix split");
    assert.equal(byName.get(`${splitDir}/${"y".repeat(90)}`)!.pax.path, undefined);
    assert.ok(byName.get("L".repeat(150))!.pax.path);
    assert.equal(byName.get("xattr-file")!.pax["SCHILY.xattr.user.x"]!.toString(), "value-1");
    assert.deepEqual([...byName.get("xattr-file")!.pax["SCHILY.xattr.user.bin"]!], [0, 1, 2, 255]);
    assert.equal(byName.get("xdir/")!.pax["SCHILY.xattr.user.x"]!.toString(), "dir");
    assert.deepEqual(byName.get("cap")!.pax["SCHILY.xattr.security.capability"], capNetRaw());
    assert.deepEqual(Object.keys(byName.get("d/file")!.pax), [], "no PAX header when nothing needs one");
    for (const e of entries) assert.ok(!e.name.startsWith("./") && !e.name.startsWith("/"), e.name);

    // the copy's tar is the same bytes: every xattr, owner and time came back
    const tar2 = await tarOf(dst);
    assert.equal(sha256(tar2), sha256(tar1));
    if (have("getcap")) assert.match(execFileSync("getcap", [path.join(dst, "cap")]).toString(), /cap_net_raw[=+]ep/);
  });

  test("deterministic: the same tree twice gives the same bytes", async () => {
    const dir = tmp();
    for (let i = 0; i < 50; i++) {
      fs.mkdirSync(path.join(dir, `d${i % 7}`), { recursive: true });
      fs.writeFileSync(path.join(dir, `d${i % 7}`, `f${(i * 7919) % 101}`), String(i).repeat(i));
    }
    const a = await tarOf(dir);
    const b = await tarOf(dir);
    assert.equal(sha256(a), sha256(b));
    const names = parseTar(a).map((e) => e.name);
    const sorted = [...names].sort((x, y) => {
      // depth first, each directory's names in byte order, the directory before its children
      const xs = x.replace(/\/$/, "").split("/");
      const ys = y.replace(/\/$/, "").split("/");
      for (let i = 0; i < Math.min(xs.length, ys.length); i++) if (xs[i] !== ys[i]) return Buffer.compare(Buffer.from(xs[i]!), Buffer.from(ys[i]!));
      return xs.length - ys.length;
    });
    assert.deepEqual(names, sorted);
    assert.equal(a.length % 512, 0);
    assert.ok(a.subarray(a.length - 1024).every((x) => x === 0), "ends with two zero blocks");
  });

  const layer1: TarEntry[] = [
    { name: "etc/", type: "dir" },
    { name: "etc/passwd", data: "root:x:0:0::/root:/bin/sh\n" },
    { name: "password.txt", data: "hunter2\n", mode: 0o600 },
    { name: "opq/", type: "dir" },
    { name: "opq/a", data: "a" },
    { name: "opq/b", data: "b" },
    { name: "keep", data: "keep" },
    { name: "gone/x/y", data: "deep" },
  ];

  test("overlay whiteouts: char 0:0 and trusted.overlay.opaque, honoured by a real overlay mount", async () => {
    const base = tmp();
    const l1 = path.join(base, "l1");
    const l2 = path.join(base, "l2");
    fs.mkdirSync(l1);
    fs.mkdirSync(l2);
    await extractBuf(buildTar(layer1), l1, "overlay");
    const res = await extractBuf(
      buildTar([
        { name: ".wh.password.txt", uid: 0, gid: 0 },
        { name: "opq/", type: "dir" },
        { name: "opq/.wh..wh..opq" },
        { name: "opq/c", data: "c" },
        { name: "etc/.wh.passwd" },
        { name: ".wh..wh.plnk/123", data: "aufs" },
      ]),
      l2,
      "overlay",
    );
    assert.equal(res.whiteouts, 3);
    const wh = fs.lstatSync(path.join(l2, "password.txt"));
    assert.ok(wh.isCharacterDevice());
    assert.equal(wh.rdev, 0);
    assert.equal(wh.mode & 0o7777, 0, "c---------");
    assert.ok(!fs.existsSync(path.join(l2, ".wh..wh.plnk")), "AUFS metadata skipped");
    assert.deepEqual(fs.readdirSync(path.join(l2, "opq")), ["c"]);

    const merged = path.join(base, "merged");
    mountOverlay(merged, `lowerdir=${l2}:${l1}`);
    try {
      assert.ok(!fs.existsSync(path.join(merged, "password.txt")), "the whiteout hides the lower file");
      assert.deepEqual(fs.readdirSync(path.join(merged, "opq")), ["c"], "opaque: lower children hidden");
      assert.deepEqual(fs.readdirSync(path.join(merged, "etc")), []);
      assert.equal(fs.readFileSync(path.join(merged, "keep"), "utf8"), "keep");
    } finally {
      umount(merged);
    }
  });

  test("overlay upper dir → tar: rm password.txt gives .wh.password.txt; a recreated dir is opaque", async () => {
    const base = tmp();
    const [l1, upper, work, merged] = ["l1", "upper", "work", "merged"].map((d) => path.join(base, d)) as [string, string, string, string];
    for (const d of [l1, upper, work]) fs.mkdirSync(d);
    await extractBuf(buildTar(layer1), l1, "overlay");
    mountOverlay(merged, `lowerdir=${l1},upperdir=${upper},workdir=${work}`);
    try {
      fs.rmSync(path.join(merged, "password.txt"));
      fs.rmSync(path.join(merged, "opq"), { recursive: true });
      fs.mkdirSync(path.join(merged, "opq"));
      fs.writeFileSync(path.join(merged, "opq/new"), "new");
      fs.writeFileSync(path.join(merged, "added"), "added");
    } finally {
      umount(merged);
    }
    const tar = await tarOf(upper, { whiteouts: "overlay" });
    const entries = parseTar(tar);
    const names = entries.map((e) => e.name);
    // on-disk order ("added" < "opq" < "password.txt"), the opaque marker right after its directory
    assert.deepEqual(names, ["added", "opq/", "opq/.wh..wh..opq", "opq/new", ".wh.password.txt"]);
    const whiteout = entries.find((e) => e.name === ".wh.password.txt")!;
    assert.equal(whiteout.typeflag, "0");
    assert.equal(whiteout.size, 0);
    for (const e of entries) for (const k of Object.keys(e.pax)) assert.ok(!k.startsWith("SCHILY.xattr.trusted.overlay."), `${e.name}: ${k}`);

    // applied as a layer: delete mode on a copy of the lower, overlay mode into a new upper
    const copy = path.join(base, "copy");
    fs.mkdirSync(copy);
    await extractBuf(buildTar(layer1), copy, "delete");
    const res = await extractBuf(tar, copy, "delete");
    assert.equal(res.whiteouts, 2);
    assert.ok(!fs.existsSync(path.join(copy, "password.txt")));
    assert.deepEqual(fs.readdirSync(path.join(copy, "opq")), ["new"]);
    assert.equal(fs.readFileSync(path.join(copy, "keep"), "utf8"), "keep");

    const upper2 = path.join(base, "upper2");
    fs.mkdirSync(upper2);
    await extractBuf(tar, upper2, "overlay");
    assert.equal(sha256(await tarOf(upper2, { whiteouts: "overlay" })), sha256(tar), "whiteouts round-trip through an upper dir");
  });

  test("delete mode: whiteouts remove files and trees; an opaque dir keeps only this layer's entries", async () => {
    const dir = tmp();
    await extractBuf(buildTar(layer1), dir, "delete");
    const res = await extractBuf(
      buildTar([
        { name: ".wh.password.txt" },
        { name: ".wh.gone" },
        { name: ".wh.missing" },
        { name: "opq/", type: "dir" },
        { name: "opq/-early", data: "written before the marker" },
        { name: "opq/.wh..wh..opq" },
        { name: "opq/c", data: "c" },
        { name: "etc/.wh.passwd" },
      ]),
      dir,
      "delete",
    );
    assert.equal(res.whiteouts, 5);
    assert.deepEqual(fs.readdirSync(dir).sort(), ["etc", "keep", "opq"]);
    assert.deepEqual(fs.readdirSync(path.join(dir, "opq")).sort(), ["-early", "c"]);
    assert.deepEqual(fs.readdirSync(path.join(dir, "etc")), []);

    // an opaque marker at the root clears all but this layer's entries
    const res2 = await extractBuf(buildTar([{ name: "fresh", data: "f" }, { name: ".wh..wh..opq" }]), dir, "delete");
    assert.equal(res2.whiteouts, 1);
    assert.deepEqual(fs.readdirSync(dir), ["fresh"]);
  });

  test("--parent: added, changed and deleted paths; unchanged directories only around changes", async () => {
    const base = tmp();
    const parent = path.join(base, "parent");
    const child = path.join(base, "child");
    fs.mkdirSync(parent);
    await extractBuf(
      buildTar([
        { name: "a/", type: "dir" },
        { name: "a/same", data: "same" },
        { name: "a/changed", data: "old" },
        { name: "a/chmod", data: "mode", mode: 0o644 },
        { name: "a/deep/", type: "dir" },
        { name: "a/deep/x", data: "x" },
        { name: "del/", type: "dir" },
        { name: "del/1", data: "1" },
        { name: "del/2/3", data: "3" },
        { name: "delfile", data: "bye" },
        { name: "link", type: "symlink", linkname: "a/same" },
        { name: "unchanged-dir/", type: "dir" },
        { name: "unchanged-dir/f", data: "f" },
      ]),
      parent,
    );
    execFileSync("cp", ["-a", parent, child]);
    assert.equal((await tarOf(child, { parent })).length, 1024, "identical trees: an empty diff");

    fs.writeFileSync(path.join(child, "a/changed"), "new content");
    fs.chmodSync(path.join(child, "a/chmod"), 0o600);
    fs.writeFileSync(path.join(child, "a/deep/y"), "y");
    fs.rmSync(path.join(child, "del"), { recursive: true });
    fs.rmSync(path.join(child, "delfile"));
    fs.rmSync(path.join(child, "link"));
    fs.symlinkSync("a/chmod", path.join(child, "link"));
    fs.writeFileSync(path.join(child, "new"), "new");

    const diff = await tarOf(child, { parent });
    const entries = parseTar(diff);
    assert.deepEqual(
      entries.map((e) => e.name),
      ["a/", "a/changed", "a/chmod", "a/deep/", "a/deep/y", ".wh.del", ".wh.delfile", "link", "new"],
    );
    assert.equal(entries.find((e) => e.name === "a/chmod")!.mode, 0o600);
    assert.equal(entries.find((e) => e.name === "link")!.linkname, "a/chmod");

    // the diff applied to the parent gives the child
    const applied = path.join(base, "applied");
    execFileSync("cp", ["-a", parent, applied]);
    await extractBuf(diff, applied, "delete");
    assert.equal(sha256(await tarOf(applied)), sha256(await tarOf(child)));
  });

  test("GNU long names, base-256 ids, PAX fractional mtimes and libarchive xattrs are read", async () => {
    const dir = tmp();
    const long = `g/${"n".repeat(200)}`;
    await extractBuf(
      buildTar([
        { name: long, data: "gnu", gnu: true, uid: 5_000_000, gid: 6_000_000 },
        { name: "hl", type: "link", linkname: long, gnu: true },
        { name: "frac", data: "f", pax: { mtime: "1600000000.123456789", atime: "1600000001.5" } },
        { name: "lib", data: "l", pax: { "LIBARCHIVE.xattr.user.lib": Buffer.from("v").toString("base64") } },
        { name: "./dot//slashes/", type: "dir", mode: 0o700 },
      ]),
      dir,
    );
    const st = fs.statSync(path.join(dir, long), { bigint: true });
    assert.equal(st.uid, 5_000_000n);
    assert.equal(st.gid, 6_000_000n);
    assert.equal(st.nlink, 2n);
    const f = fs.statSync(path.join(dir, "frac"), { bigint: true });
    assert.equal(f.mtimeNs, 1_600_000_000_123_456_789n);
    assert.equal(f.atimeNs, 1_600_000_001_500_000_000n);
    assert.equal(fs.statSync(path.join(dir, "dot/slashes")).mode & 0o777, 0o700);
    const lib = parseTar(await tarOf(dir)).find((e) => e.name === "lib")!;
    assert.equal(lib.pax["SCHILY.xattr.user.lib"]!.toString(), "v");
  });

  test("hostile archives: nothing is ever written outside the layer root", async () => {
    const base = tmp();
    const root = path.join(base, "root");
    const outside = path.join(base, "outside");
    fs.mkdirSync(root);
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, "target"), "original");
    const outsideBefore = listAll(outside);
    const passwdLinks = fs.statSync("/etc/passwd").nlink;

    for (const name of ["../outside/pwned", "../../../../../../../../tmp/pwned", "a/../../outside/pwned"]) {
      await rejectsWith(extractBuf(buildTar([{ name, data: "x" }]), root), "ERR_INVALID_ARGUMENT", new RegExp(`tar entry "${name.replace(/\./g, "\\.")}" escapes the layer root`));
    }
    // an absolute name lands inside the root
    const abs = path.join(outside, "abs");
    await extractBuf(buildTar([{ name: abs, data: "abs" }]), root);
    assert.equal(fs.readFileSync(path.join(root, abs), "utf8"), "abs");

    // symlinks pointing out, then writes through them
    await extractBuf(
      buildTar([
        { name: "evil", type: "symlink", linkname: outside },
        { name: "evil/pwned", data: "through an absolute symlink" },
        { name: "evil2", type: "symlink", linkname: `../../../../../../../..${outside}` },
        { name: "evil2/pwned2", data: "through a relative symlink" },
        { name: "over", type: "symlink", linkname: path.join(outside, "target") },
        { name: "over", data: "replaces the symlink, never writes through it" },
        { name: "dirlink", type: "symlink", linkname: outside },
        { name: "dirlink/", type: "dir", mode: 0o777 },
      ]),
      root,
    );
    assert.equal(fs.readlinkSync(path.join(root, "evil")), outside, "symlinks are stored as they are");
    assert.equal(fs.readFileSync(path.join(root, outside, "pwned"), "utf8"), "through an absolute symlink");
    assert.equal(fs.readFileSync(path.join(root, outside, "pwned2"), "utf8"), "through a relative symlink");
    assert.ok(fs.lstatSync(path.join(root, "over")).isFile());
    assert.ok(fs.lstatSync(path.join(root, "dirlink")).isDirectory());

    // hardlinks to host files
    await rejectsWith(extractBuf(buildTar([{ name: "h1", type: "link", linkname: "/etc/passwd" }]), root), "ERR_INVALID_ARGUMENT", /hardlink target "\/etc\/passwd" is not in the layer/);
    await rejectsWith(extractBuf(buildTar([{ name: "h2", type: "link", linkname: "../../etc/shadow" }]), root), "ERR_INVALID_ARGUMENT", /escapes the layer root/);
    await rejectsWith(
      extractBuf(buildTar([{ name: "etc-link", type: "symlink", linkname: "/etc" }, { name: "h3", type: "link", linkname: "etc-link/passwd" }]), root),
      "ERR_INVALID_ARGUMENT",
      /not in the layer/,
    );
    // a hardlink to a symlink links the symlink itself (inside); a file over it replaces it
    await extractBuf(
      buildTar([
        { name: "outlink", type: "symlink", linkname: path.join(outside, "target") },
        { name: "h4", type: "link", linkname: "outlink" },
        { name: "h5", type: "link", linkname: "outlink" },
        { name: "h4", data: "x" },
      ]),
      root,
    );
    assert.ok(fs.lstatSync(path.join(root, "h5")).isSymbolicLink());
    assert.equal(fs.lstatSync(path.join(root, "h5")).ino, fs.lstatSync(path.join(root, "outlink")).ino);
    assert.equal(fs.readFileSync(path.join(root, "h4"), "utf8"), "x");
    for (const h of ["h1", "h2", "h3"]) assert.ok(!fs.existsSync(path.join(root, h)), h);
    assert.equal(fs.statSync("/etc/passwd").nlink, passwdLinks);

    // symlink loops end in an error, not a hang
    await rejectsWith(
      extractBuf(buildTar([{ name: "loop1", type: "symlink", linkname: "loop2" }, { name: "loop2", type: "symlink", linkname: "loop1" }, { name: "loop1/x", data: "x" }]), root),
      "ERR_INTERNAL",
      /loop1\/x: .*(Too many levels of symbolic links|loop)/i,
    );
    await rejectsWith(extractBuf(buildTar([{ name: "self", type: "symlink", linkname: "self/a" }, { name: "self/b", data: "x" }]), root), "ERR_INTERNAL", /self\/b/);

    assert.deepEqual(listAll(outside), outsideBefore, "nothing appeared outside the root");
    assert.equal(fs.readFileSync(path.join(outside, "target"), "utf8"), "original");
    assert.ok(!fs.existsSync("/tmp/pwned"));
  });

  test("broken archives: truncated, bad checksum, unsupported types", async () => {
    const dir = tmp();
    const full = buildTar([{ name: "big", data: Buffer.alloc(10_000, 7) }, { name: "next", data: "n" }]);
    await rejectsWith(extractBuf(full.subarray(0, 5000), dir), "ERR_INVALID_ARGUMENT", /big: unexpected end of archive/);
    await rejectsWith(extractBuf(full.subarray(0, 300), dir), "ERR_INVALID_ARGUMENT", /unexpected end of archive/);
    await rejectsWith(extractBuf(full.subarray(0, 512 + 10_240 + 100), dir), "ERR_INVALID_ARGUMENT", /unexpected end of archive/);
    const bad = Buffer.from(full);
    bad[0] = "c".charCodeAt(0);
    await rejectsWith(extractBuf(bad, dir), "ERR_INVALID_ARGUMENT", /checksum/);
    await rejectsWith(extractBuf(buildTar([{ name: "sparse", typeflag: "S", data: "" }]), dir), "ERR_INVALID_ARGUMENT", /sparse/);
    await rejectsWith(extractBuf(Buffer.from("this is not a tar file at all".repeat(40)), dir), "ERR_INVALID_ARGUMENT", /checksum|unexpected end/);

    // the CLI itself: a message on stderr and status 1
    const r = spawnSync(helperPath(), ["tar-extract", dir, "--whiteouts=delete"], { input: full.subarray(0, 5000) });
    assert.equal(r.status, 1);
    assert.match(r.stderr.toString(), /^tar-extract: big: unexpected end of archive\n$/);

    // the end: no end marker at all, or data after it, are accepted (as Docker's Go reader does)
    const noEnd = buildTar([{ name: "a", data: "a" }], { end: false });
    assert.equal((await extractBuf(noEnd, dir)).entries, 1);
    const trailing = Buffer.concat([buildTar([{ name: "b", data: "b" }]), Buffer.alloc(4096, 0x41)]);
    assert.equal((await extractBuf(trailing, dir)).entries, 1);
    assert.equal(fs.readFileSync(path.join(dir, "b"), "utf8"), "b");
  });

  test("a failing helper stops the source; a failing source stops the helper", async () => {
    const dir = tmp();
    let produced = 0;
    const endless = new Readable({
      read() {
        if (produced === 0) this.push(buildTar([{ name: "../escape", data: "x" }], { end: false }));
        else this.push(Buffer.alloc(64 * 1024));
        produced++;
      },
    });
    await rejectsWith(extractLayer(endless, dir, { whiteouts: "delete" }), "ERR_INVALID_ARGUMENT", /escapes the layer root/);
    assert.ok(endless.destroyed, "the source was destroyed");

    let sent = false;
    const failing = new Readable({
      read() {
        if (!sent) {
          sent = true;
          this.push(entryBlocks({ name: "partial", data: Buffer.alloc(4096) }).subarray(0, 1024));
        } else this.destroy(new Error("connection reset by registry"));
      },
    });
    await rejectsWith(extractLayer(failing, dir, { whiteouts: "delete" }), "ERR_INTERNAL", /connection reset by registry/);

    const missing = createLayerTar(path.join(dir, "does-not-exist"), { whiteouts: "none" });
    await rejectsWith(readAll(missing), "ERR_INTERNAL", /does-not-exist: No such file or directory/);
  });

  test("a 200 MB file streams through with the helper's memory small", async () => {
    const dir = tmp();
    const size = 200 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 0x5a);
    let sent = -1;
    const source = new Readable({
      read() {
        if (sent < 0) {
          this.push(header({ name: "big.bin", typeflag: "0", size }));
          sent = 0;
        } else if (sent < size) {
          this.push(chunk);
          sent += chunk.length;
        } else {
          this.push(Buffer.alloc(1024));
          this.push(null);
        }
      },
    });
    let peakKb = 0;
    const poll = setInterval(() => {
      for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        try {
          const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
          if (!status.includes(`\nPPid:\t${process.pid}\n`) || !/^Name:\thako-shim/m.test(status)) continue;
          const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
          peakKb = Math.max(peakKb, hwm);
        } catch {
          // gone meanwhile
        }
      }
    }, 25);
    try {
      const res = await extractLayer(source, dir, { whiteouts: "overlay" });
      assert.equal(res.bytes, size);
    } finally {
      clearInterval(poll);
    }
    assert.equal(fs.statSync(path.join(dir, "big.bin")).size, size);
    assert.ok(peakKb > 0, "the helper was seen");
    assert.ok(peakKb < 30 * 1024, `helper peak RSS ${peakKb} kB`);

    // and back out: the tar streams with the file's bytes
    let total = 0;
    for await (const c of createLayerTar(dir, { whiteouts: "none" })) total += (c as Buffer).length;
    assert.equal(total, 512 + size + 1024);
  });
});

describe("btrfs", { skip }, () => {
  const state: { image?: string; loop?: string; mnt?: string } = {};
  let why: string | false = false;

  after(() => {
    if (state.mnt) spawnSync("umount", [state.mnt]);
    if (state.loop) spawnSync("losetup", ["-d", state.loop]);
    if (state.image) fs.rmSync(path.dirname(state.image), { recursive: true, force: true });
  });

  test("subvolumes and snapshots through the ioctls, on a loop-mounted btrfs", async (t) => {
    if (!have("mkfs.btrfs") && !process.env.HAKO_TEST_NO_APT) {
      spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "btrfs-progs"], { stdio: "ignore", timeout: 300_000 });
    }
    if (!have("mkfs.btrfs")) why = "mkfs.btrfs is not installed and btrfs-progs could not be installed";
    else if (!fs.readFileSync("/proc/filesystems", "utf8").includes("btrfs") && spawnSync("modprobe", ["btrfs"]).status !== 0) why = "the kernel has no btrfs";
    if (why) {
      t.skip(why);
      return;
    }
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "hako-btrfs-"));
    state.image = path.join(work, "btrfs.img");
    fs.writeFileSync(state.image, "");
    fs.truncateSync(state.image, 300 * 1024 * 1024);
    execFileSync("mkfs.btrfs", ["-q", state.image]);
    state.loop = execFileSync("losetup", ["--find", "--show", state.image]).toString().trim();
    const mnt = path.join(work, "mnt");
    fs.mkdirSync(mnt);
    execFileSync("mount", ["-t", "btrfs", state.loop, mnt]);
    state.mnt = mnt;

    assert.equal(await isBtrfs(mnt), true);
    assert.equal(await isBtrfs(work), false);
    await rejectsWith(isBtrfs(path.join(work, "missing")), "ERR_INTERNAL", /No such file or directory/);

    const baseVol = path.join(mnt, "base");
    await btrfsSubvolumeCreate(baseVol);
    assert.equal(fs.statSync(baseVol).ino, 256, "a subvolume root");
    fs.writeFileSync(path.join(baseVol, "f"), "one");
    fs.mkdirSync(path.join(baseVol, "d"));
    fs.writeFileSync(path.join(baseVol, "d/g"), "g");

    const snap = path.join(mnt, "snap");
    await btrfsSnapshot(baseVol, snap);
    assert.equal(fs.readFileSync(path.join(snap, "f"), "utf8"), "one");
    fs.writeFileSync(path.join(snap, "f"), "three"); // a new size: the naive diff cannot see same-size writes within one clock tick
    fs.writeFileSync(path.join(snap, "new"), "new");
    fs.rmSync(path.join(snap, "d/g"));
    assert.equal(fs.readFileSync(path.join(baseVol, "f"), "utf8"), "one", "copy-on-write: the source is untouched");
    assert.ok(!fs.existsSync(path.join(baseVol, "new")));
    assert.ok(fs.existsSync(path.join(baseVol, "d/g")));

    // the snapshotter's diff between two subvolumes (different st_dev, same inodes)
    const diff = parseTar(await tarOf(snap, { parent: baseVol }));
    assert.deepEqual(diff.map((e) => e.name), ["d/", "d/.wh.g", "f", "new"]);

    const ro = path.join(mnt, "ro");
    await btrfsSnapshot(baseVol, ro, { readonly: true });
    assert.throws(() => fs.writeFileSync(path.join(ro, "x"), "x"), /EROFS/);
    await rejectsWith(btrfsSnapshot(baseVol, ro), "ERR_INTERNAL", /File exists/);

    await btrfsSubvolumeCreate(path.join(snap, "nested"));
    fs.writeFileSync(path.join(snap, "nested/file"), "n");
    await btrfsSubvolumeDelete(snap);
    assert.ok(!fs.existsSync(snap), "deleted with its nested subvolume");
    await btrfsSubvolumeDelete(ro);
    await btrfsSubvolumeDelete(baseVol);
    assert.deepEqual(fs.readdirSync(mnt), []);
    await rejectsWith(btrfsSubvolumeDelete(path.join(mnt, "nothing")), "ERR_INTERNAL", /nothing/);
  });
});
