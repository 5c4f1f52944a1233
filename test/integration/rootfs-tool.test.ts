/**
 * The helper's rootfs-tool (docker cp and export inside a container's root)
 * through its TypeScript front: Docker's path rules (the last element
 * followed only with "/" or "/."), hostile symlinks and archives that try
 * to reach the host, symlink loops, odd names in the stat JSON, a large
 * file streamed both ways, and an overlay view mounted in the helper's own
 * mount namespace that never shows up in the host's mount table.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { after, describe, test } from "node:test";
import { HakoError } from "../../src/common/errors.ts";
import { rootfsExportTar, rootfsGetTar, rootfsPutTar, rootfsRealpath, rootfsStat, type RootfsLocation } from "../../src/native/tools.ts";
import { buildTar, parseTar } from "../helpers/tar-writer.ts";

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : "needs root (chown, overlay mounts, mount namespaces)";

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function rejectsWith(p: Promise<unknown>, code: string, re?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(HakoError.is(err), String(err));
    assert.equal(err.code, code, err.message);
    if (re) assert.match(err.message, re);
    return true;
  });
}

const mountsOfHost = (): string => fs.readFileSync("/proc/self/mountinfo", "utf8");

describe("rootfs-tool", { skip }, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hako-rootfs-tool-"));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** A small container root with the symlinks an attacker would plant. */
  function makeRoot(name: string): string {
    const root = path.join(tmp, name);
    fs.mkdirSync(path.join(root, "etc"), { recursive: true });
    fs.mkdirSync(path.join(root, "dir/sub"), { recursive: true });
    fs.writeFileSync(path.join(root, "etc/hostname"), "inside\n");
    fs.writeFileSync(path.join(root, "dir/sub/f"), "f\n");
    fs.symlinkSync("/etc", path.join(root, "abs-etc"));
    fs.symlinkSync("../../../../../../../etc", path.join(root, "climb"));
    fs.symlinkSync("/etc/shadow", path.join(root, "shadow"));
    fs.symlinkSync("/proc/self/root/etc", path.join(root, "magic"));
    fs.symlinkSync("loop-b", path.join(root, "loop-a"));
    fs.symlinkSync("loop-a", path.join(root, "loop-b"));
    fs.writeFileSync(path.join(root, 'we"ird\nname'), "");
    return root;
  }

  test("stat: Docker's names, the link itself, its target resolved inside the root", async () => {
    const loc = { root: makeRoot("stat") };
    const s = await rootfsStat(loc, "/shadow");
    assert.equal(s.name, "shadow");
    assert.equal(s.mode & 0o170000, 0o120000);
    assert.equal(s.linkTarget, "/etc/shadow");
    assert.equal((await rootfsStat(loc, "/climb")).linkTarget, "/etc");
    assert.equal((await rootfsStat(loc, "/climb/")).name, "climb");
    assert.equal((await rootfsStat(loc, "/climb/")).mode & 0o170000, 0o040000, "a trailing / follows the link");
    assert.equal((await rootfsStat(loc, "/dir/.")).name, ".");
    assert.equal((await rootfsStat(loc, "/")).name, "/");
    assert.equal((await rootfsStat(loc, "../../..")).name, "/", ".. stops at the root");
    assert.equal((await rootfsStat(loc, 'we"ird\nname')).name, 'we"ird\nname');
    await rejectsWith(rootfsStat(loc, "/shadow/"), "ERR_NOT_FOUND");
    await rejectsWith(rootfsStat(loc, "/climb/shadow"), "ERR_NOT_FOUND");
    await rejectsWith(rootfsStat(loc, "/magic/shadow"), "ERR_NOT_FOUND");
    await rejectsWith(rootfsStat(loc, "/etc/hostname/x"), "ERR_NOT_FOUND");
    await rejectsWith(rootfsStat(loc, "/loop-a/x"), "ERR_INTERNAL", /loop|Too many levels/i);
    assert.equal(await rootfsRealpath(loc, "/abs-etc/../climb/hostname"), "/etc/hostname");
    await rejectsWith(rootfsRealpath(loc, "/loop-a"), "ERR_INTERNAL", /loop|Too many levels/i);
  });

  test("get: entries named after the path as asked; symlinks followed inside the root", async () => {
    const loc = { root: makeRoot("get") };
    const names = async (p: string) => parseTar(await collect(rootfsGetTar(loc, p))).map((e) => e.name);
    assert.deepEqual(await names("/dir"), ["dir/", "dir/sub/", "dir/sub/f"]);
    assert.deepEqual(await names("/dir/"), ["dir/", "dir/sub/", "dir/sub/f"]);
    assert.deepEqual(await names("/dir/."), ["./", "./sub/", "./sub/f"]);
    assert.deepEqual(await names("/climb"), ["climb"]);
    const viaLink = parseTar(await collect(rootfsGetTar(loc, "/climb/")));
    assert.deepEqual(viaLink.map((e) => e.name), ["climb/", "climb/hostname"]);
    assert.equal(viaLink[1]!.data.toString(), "inside\n", "the container's /etc, not the host's");
    await assert.rejects(collect(rootfsGetTar(loc, "/nope")), (err: unknown) => HakoError.is(err) && err.code === "ERR_NOT_FOUND");
  });

  test("put: into a symlinked directory stays inside; hostile archives are refused", async () => {
    const root = makeRoot("put");
    const loc = { root };
    const marker = `hako-rootfs-tool-${process.pid}`;
    await rootfsPutTar(loc, "/abs-etc", Readable.from([buildTar([{ name: marker, data: "x" }])]));
    assert.ok(fs.existsSync(path.join(root, "etc", marker)));
    assert.ok(!fs.existsSync(path.join("/etc", marker)));

    const hostile: [string, Parameters<typeof buildTar>[0]][] = [
      ["dot-dot", [{ name: "../../../../tmp/escape", data: "x" }]],
      ["hardlink out", [{ name: "h", type: "link", linkname: "../../../../etc/passwd" }]],
    ];
    for (const [what, entries] of hostile) {
      await rejectsWith(rootfsPutTar(loc, "/dir", Readable.from([buildTar(entries)])), "ERR_INVALID_ARGUMENT", undefined).catch((err) => {
        throw new Error(`${what}: ${err}`);
      });
    }
    // A symlink the archive makes, then a file through it: lands inside the destination.
    await rootfsPutTar(loc, "/dir", Readable.from([buildTar([{ name: "l", type: "symlink", linkname: "/etc" }, { name: "l/" + marker, data: "y" }])]));
    assert.ok(fs.existsSync(path.join(root, "dir/etc", marker)));
    assert.ok(!fs.existsSync(path.join("/etc", marker)));
    await rejectsWith(rootfsPutTar(loc, "/etc/hostname", Readable.from([buildTar([{ name: "x", data: "x" }])])), "ERR_INVALID_ARGUMENT", /not a directory/);
    await rejectsWith(rootfsPutTar(loc, "/nope", Readable.from([buildTar([{ name: "x", data: "x" }])])), "ERR_NOT_FOUND");
    // copyUIDGID's chown and noOverwriteDirNonDir
    await rootfsPutTar(loc, "/dir", Readable.from([buildTar([{ name: "owned", data: "x", uid: 0, gid: 0 }])]), { chown: { uid: 1234, gid: 4321 } });
    const st = fs.statSync(path.join(root, "dir/owned"));
    assert.deepEqual([st.uid, st.gid], [1234, 4321]);
    await rejectsWith(rootfsPutTar(loc, "/dir", Readable.from([buildTar([{ name: "sub", data: "x" }])]), { noOverwriteDirNonDir: true }), "ERR_INVALID_ARGUMENT", /cannot overwrite directory/);
    await rejectsWith(rootfsPutTar(loc, "/dir", Readable.from([buildTar([{ name: "owned/", type: "dir" }])]), { noOverwriteDirNonDir: true }), "ERR_INVALID_ARGUMENT", /cannot overwrite non-directory/);
    // ".wh." names are plain files for docker cp
    await rootfsPutTar(loc, "/dir", Readable.from([buildTar([{ name: ".wh.sub", data: "" }])]));
    assert.ok(fs.existsSync(path.join(root, "dir/sub/f")) && fs.existsSync(path.join(root, "dir/.wh.sub")));
  });

  test("a large file streams in and out", async () => {
    const root = makeRoot("large");
    const size = 48 << 20;
    const data = Buffer.alloc(size, 0x61);
    await rootfsPutTar({ root }, "/", Readable.from([buildTar([{ name: "big", data }])]));
    assert.equal(fs.statSync(path.join(root, "big")).size, size);
    const [e] = parseTar(await collect(rootfsGetTar({ root }, "/big")));
    assert.equal(e!.size, size);
  });

  test("an overlay view is mounted in the helper's own namespace only", async () => {
    const base = path.join(tmp, "ovl");
    for (const d of ["lower", "upper", "work", "merged"]) fs.mkdirSync(path.join(base, d), { recursive: true });
    fs.writeFileSync(path.join(base, "lower/from-lower"), "lower\n");
    const before = mountsOfHost();
    const view = (readonly: boolean): RootfsLocation => ({
      root: path.join(base, "merged"),
      mount: { type: "overlay", source: "overlay", data: readonly ? "lowerdir=upper:lower" : "lowerdir=lower,upperdir=upper,workdir=work", cwd: base, readonly },
    });
    await rootfsPutTar(view(false), "/", Readable.from([buildTar([{ name: "new", data: "new\n" }])]));
    assert.equal(fs.readFileSync(path.join(base, "upper/new"), "utf8"), "new\n", "written to the upper dir");
    const names = parseTar(await collect(rootfsExportTar(view(true)))).map((e) => e.name);
    assert.deepEqual(names, ["from-lower", "new"]);
    assert.equal((await rootfsStat(view(true), "/from-lower")).size, 6);
    assert.deepEqual(fs.readdirSync(path.join(base, "merged")), [], "nothing mounted on the host");
    assert.equal(mountsOfHost(), before);
    await rejectsWith(rootfsStat({ root: path.join(base, "merged"), mount: { type: "overlay", source: "overlay", data: "lowerdir=nope", cwd: base } }, "/"), "ERR_INTERNAL", /mount overlay/);
  });
});
