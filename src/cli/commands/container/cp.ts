/**
 * hako cp (docker/cli cli/command/container/cp.go with moby/go-archive's
 * copy.go): files and directories between a container and the local
 * filesystem through the archive endpoints — HEAD (stat, in the
 * X-Docker-Container-Path-Stat header), GET (a tar of the path) and PUT
 * (a tar extracted into a directory). The tars are made and unpacked here
 * with tar-stream, with docker's rules: a source directory is copied as
 * itself, "SRC/." copies its contents, a destination that does not exist
 * is created under the source's name rebased to the destination's, and a
 * trailing "/" asserts a directory. "-" streams a tar from stdin or to stdout.
 */
import { spawnSync } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, link, lstat, lutimes, mkdir, readdir, readlink, realpath, rm, stat, symlink, utimes } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import tarStream, { type Header } from "tar-stream";
import { ApiError } from "../../client.ts";
import type { CliCommand, CliContext } from "../command.ts";
import { containerPath } from "./common.ts";

// Go's os.FileMode bits (what the daemon puts in a path stat's mode).
export const MODE_DIR = 2 ** 31;
export const MODE_SYMLINK = 2 ** 27;
const MODE_DEVICE = 2 ** 26;
const MODE_IRREGULAR = 2 ** 19;

/** container.PathStat, from the X-Docker-Container-Path-Stat header. */
export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

export function decodePathStat(header: string | string[] | undefined): PathStat {
  const value = Array.isArray(header) ? header[0] : header;
  try {
    return JSON.parse(Buffer.from(value ?? "", "base64").toString("utf8")) as PathStat;
  } catch (err) {
    throw new Error(`unable to decode container path stat header: ${(err as Error).message}`);
  }
}

const isDirMode = (mode: number): boolean => Math.floor(mode / MODE_DIR) % 2 === 1;
const hasBit = (mode: number, bit: number): boolean => Math.floor(mode / bit) % 2 === 1;

/** splitCpArg: "ctr:/path" → ["ctr", "/path"]; local paths (absolute, or "./x:y") have no container. */
export function splitCpArg(arg: string): [string, string] {
  if (arg.startsWith("/")) return ["", arg];
  const colon = arg.indexOf(":");
  if (colon < 0 || arg.slice(0, colon).startsWith(".")) return ["", arg];
  return [arg.slice(0, colon), arg.slice(colon + 1)];
}

const hasTrailingSep = (p: string): boolean => p.endsWith("/");
const specifiesCurrentDir = (p: string): boolean => path.posix.basename(p) === "." || p === ".";

/** Go's filepath.Clean. */
function clean(p: string): string {
  if (p === "") return ".";
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

/** archive.PreserveTrailingDotOrSeparator. */
export function preserveTrailingDotOrSeparator(cleaned: string, original: string): string {
  if (!specifiesCurrentDir(cleaned) && specifiesCurrentDir(original)) {
    if (!hasTrailingSep(cleaned)) cleaned += "/";
    cleaned += ".";
  }
  if (!hasTrailingSep(cleaned) && hasTrailingSep(original)) cleaned += "/";
  return cleaned;
}

/** archive.SplitPathDirEntry: "/a/b/." → ["/a/b", "."], "/a/b/" → ["/a", "b"]. */
export function splitPathDirEntry(p: string): [string, string] {
  let cleaned = clean(p);
  if (specifiesCurrentDir(p)) cleaned += "/.";
  return [path.posix.dirname(cleaned), path.posix.basename(cleaned)];
}

const assertsDirectory = (p: string): boolean => hasTrailingSep(p) || specifiesCurrentDir(p);

/** What a copy knows of one side (archive.CopyInfo). */
export interface CopyInfo {
  path: string;
  exists: boolean;
  isDir: boolean;
  rebaseName?: string;
}

/**
 * archive.PrepareArchiveCopy: the directory the archive goes into and how
 * its names change (`from` → `to` in the first place a name has it).
 *
 * @throws Error "cannot copy directory", "no such directory"
 */
export function prepareArchiveCopy(src: CopyInfo, dst: CopyInfo): { dstDir: string; rebase?: [string, string] } {
  const [dstDir, dstBase] = splitPathDirEntry(dst.path);
  let [, srcBase] = splitPathDirEntry(src.path);
  if (dst.exists && dst.isDir) return { dstDir: dst.path };
  if (dst.exists && src.isDir) throw new Error("cannot copy directory");
  if (src.rebaseName) srcBase = src.rebaseName;
  if (dst.exists || src.isDir) return { dstDir, rebase: [srcBase, dstBase] };
  if (assertsDirectory(dst.path)) throw new Error("no such directory");
  return { dstDir, rebase: [srcBase, dstBase] };
}

/** RebaseArchiveEntries on one name: the first occurrence of `from` replaced ("/" as `from` means ""). */
export function rebaseName(name: string, rebase: [string, string] | undefined): string {
  if (!rebase) return name;
  const from = rebase[0] === "/" ? "" : rebase[0];
  const i = name.indexOf(from);
  return i < 0 ? name : name.slice(0, i) + rebase[1] + name.slice(i + from.length);
}

/** archive.GetRebaseName. */
function getRebaseName(p: string, resolved: string): [string, string | undefined] {
  if (specifiesCurrentDir(p) && !specifiesCurrentDir(resolved)) resolved += "/.";
  if (hasTrailingSep(p) && !hasTrailingSep(resolved)) resolved += "/";
  const base = path.posix.basename(p);
  return [resolved, base !== path.posix.basename(resolved) ? base : undefined];
}

/** archive.CopyInfoSourcePath for a local source. */
async function copyInfoSourcePath(p: string, followLink: boolean): Promise<CopyInfo> {
  let resolved: string;
  let rebase: string | undefined;
  if (followLink) {
    [resolved, rebase] = getRebaseName(p, await realpath(p));
  } else {
    const dir = p.slice(0, p.lastIndexOf("/") + 1) || ".";
    const base = p.slice(p.lastIndexOf("/") + 1);
    resolved = `${await realpath(dir)}/${base}`;
    if (hasTrailingSep(p) && path.posix.basename(p) !== path.posix.basename(resolved)) rebase = path.posix.basename(p);
  }
  const st = await lstat(resolved);
  return { path: resolved, exists: true, isDir: st.isDirectory(), rebaseName: rebase };
}

/** archive.CopyInfoDestinationPath for a local destination (symlinks followed, up to 10). */
async function copyInfoDestinationPath(p: string): Promise<CopyInfo> {
  const original = p;
  let st = await lstat(p).catch((err: NodeJS.ErrnoException) => err);
  for (let n = 0; !(st instanceof Error) && st.isSymbolicLink(); n++) {
    if (n > 10) throw new Error(`too many symlinks in ${original}`);
    let target = await readlink(p);
    if (!path.isAbsolute(target)) target = path.join(splitPathDirEntry(p)[0], target);
    p = target;
    st = await lstat(p).catch((err: NodeJS.ErrnoException) => err);
  }
  if (st instanceof Error) {
    if (st.code !== "ENOENT") throw st;
    const [parent] = splitPathDirEntry(p);
    let pst;
    try {
      pst = await stat(parent);
    } catch (err) {
      throw new Error(`stat ${parent}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (err as Error).message}`);
    }
    if (!pst.isDirectory()) throw new Error("not a directory");
    return { path: p, exists: false, isDir: false };
  }
  return { path: p, exists: true, isDir: st.isDirectory() };
}

/** The mode bits a tar header carries for a local file. */
function tarMode(mode: number): number {
  return mode & 0o7777;
}

/**
 * archive.TarResource for a local path: a tar whose entries are named from
 * the path's base ("." for "dir/."), with the rebase applied to the names.
 */
export function tarLocal(src: CopyInfo, rebase: [string, string] | undefined): Readable {
  const pack = tarStream.pack();
  const [dir, base] = splitPathDirEntry(src.path);
  const rootRename = src.rebaseName;
  const inodes = new Map<string, string>();
  const nameOf = (rel: string): string => {
    let n = rel;
    if (rootRename) n = rebaseName(n, [base, rootRename]);
    return rebaseName(n, rebase);
  };
  const entry = (h: Partial<Header> & { name: string }, data?: Readable): Promise<void> =>
    new Promise((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      const header = h as Header;
      if (!data) {
        pack.entry(header, cb).end(undefined);
        return;
      }
      const sink = pack.entry(header, cb);
      data.on("error", (err) => sink.destroy(err));
      void (async () => {
        try {
          for await (const chunk of data) {
            if (!sink.write(chunk as Buffer)) await new Promise<void>((r) => sink.once("drain", () => r()));
          }
          sink.end(undefined);
        } catch (err) {
          sink.destroy(err as Error);
        }
      })();
    });
  const add = async (abs: string, rel: string): Promise<void> => {
    const st = await lstat(abs);
    const name = nameOf(rel);
    const common = { mode: tarMode(st.mode), uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isDirectory()) {
      await entry({ ...common, name: name.endsWith("/") ? name : `${name}/`, type: "directory" });
      const children = (await readdir(abs)).sort();
      for (const child of children) await add(path.join(abs, child), rel === "." ? `./${child}` : `${rel}/${child}`);
      return;
    }
    if (st.isSymbolicLink()) {
      await entry({ ...common, name, type: "symlink", linkname: await readlink(abs) });
      return;
    }
    if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? inodes.get(key) : undefined;
      if (first !== undefined) {
        await entry({ ...common, name, type: "link", linkname: first });
        return;
      }
      if (st.nlink > 1) inodes.set(key, name);
      await entry({ ...common, name, type: "file", size: st.size }, createReadStream(abs));
      return;
    }
    if (st.isFIFO()) {
      await entry({ ...common, name, type: "fifo" });
      return;
    }
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      const rdev = Number(st.rdev);
      await entry({ ...common, name, type: st.isCharacterDevice() ? "character-device" : "block-device", devmajor: (rdev >> 8) & 0xfff, devminor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) });
    }
    // sockets are not archived
  };
  void (async () => {
    try {
      await add(path.join(dir, base), base);
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  return Readable.from(pack as unknown as AsyncIterable<Buffer>);
}

/** Unpacks a tar into `dest` as archive.Untar does with NoLchown and NoOverwriteDirNonDir; names pass through `rename`. */
export async function untarInto(source: Readable, dest: string, rename: (name: string) => string = (n) => n): Promise<void> {
  dest = clean(path.resolve(dest));
  await mkdir(dest, { recursive: true });
  const extract = tarStream.extract();
  source.on("error", (err) => extract.destroy(err));
  source.pipe(extract as unknown as NodeJS.WritableStream);
  const dirs: { p: string; header: Header }[] = [];
  for await (const entry of extract as AsyncIterable<AsyncIterable<Buffer> & { header: Header }>) {
    const header = entry.header;
    const name = clean(rename(header.name));
    if (name !== "." && name !== "/") await mkdir(path.join(dest, path.posix.dirname(name)), { recursive: true, mode: 0o755 });
    const target = path.join(dest, name);
    const rel = path.relative(dest, target);
    if (rel === ".." || rel.startsWith("../")) throw new Error(`${JSON.stringify(name)} is outside of ${JSON.stringify(dest)}`);
    const existing = await lstat(target).catch(() => undefined);
    if (existing) {
      const isDirEntry = header.type === "directory";
      if (existing.isDirectory() && !isDirEntry) throw new Error(`cannot overwrite directory ${JSON.stringify(target)} with non-directory ${JSON.stringify(dest)}`);
      if (!existing.isDirectory() && isDirEntry) throw new Error(`cannot overwrite non-directory ${JSON.stringify(target)} with directory ${JSON.stringify(dest)}`);
      if (existing.isDirectory() && name === ".") {
        await drain(entry);
        continue;
      }
      if (!(existing.isDirectory() && isDirEntry)) await rm(target, { recursive: true, force: true });
    }
    const mode = (header.mode ?? 0o644) & 0o7777;
    switch (header.type) {
      case "directory":
        if (!existing?.isDirectory()) await mkdir(target, { mode });
        await drain(entry);
        break;
      case "file":
      case "contiguous-file": {
        const out = createWriteStream(target, { mode });
        for await (const chunk of entry) {
          if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
        }
        out.end();
        await finished(out);
        break;
      }
      case "link": {
        const linkTarget = path.join(dest, header.linkname ?? "");
        if (!linkTarget.startsWith(dest)) throw new Error(`invalid hardlink ${JSON.stringify(linkTarget)} -> ${JSON.stringify(header.linkname)}`);
        await drain(entry);
        await link(linkTarget, target);
        break;
      }
      case "symlink": {
        const linkTarget = path.join(path.dirname(target), header.linkname ?? "");
        if (!linkTarget.startsWith(dest)) throw new Error(`invalid symlink ${JSON.stringify(target)} -> ${JSON.stringify(header.linkname)}`);
        await drain(entry);
        await symlink(header.linkname ?? "", target);
        break;
      }
      case "fifo":
      case "character-device":
      case "block-device": {
        await drain(entry);
        const r =
          header.type === "fifo"
            ? spawnSync("mkfifo", ["-m", mode.toString(8), target])
            : spawnSync("mknod", ["-m", mode.toString(8), target, header.type === "character-device" ? "c" : "b", String(header.devmajor ?? 0), String(header.devminor ?? 0)]);
        if (r.status !== 0) throw new Error(`${header.type === "fifo" ? "mkfifo" : "mknod"} ${target}: ${(r.stderr?.toString() || "failed").trim()}`);
        break;
      }
      default:
        await drain(entry);
        throw new Error(`unhandled tar header type ${header.type}`);
    }
    if (header.type !== "symlink" && header.type !== "link") await chmod(target, mode);
    const mtime = header.mtime ?? new Date();
    if (header.type === "directory") dirs.push({ p: target, header });
    else if (header.type === "symlink") await lutimes(target, mtime, mtime).catch(() => {});
    else if (header.type !== "link") await utimes(target, mtime, mtime);
  }
  for (const d of dirs) {
    const mtime = d.header.mtime ?? new Date();
    await utimes(d.p, mtime, mtime);
  }
}

async function drain(entry: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of entry) {
    // no data to keep
  }
}

/** HEAD /containers/{id}/archive?path=: the path's stat, or the daemon's error. */
async function statPath(ctx: CliContext, ctr: string, p: string): Promise<PathStat> {
  const res = await ctx.client().request("HEAD", `${containerPath(ctr)}/archive`, { query: { path: p } });
  res.resume();
  return decodePathStat(res.headers["x-docker-container-path-stat"]);
}

async function copyFromContainer(ctx: CliContext, ctr: string, srcPath: string, dstPath: string, followLink: boolean): Promise<void> {
  if (dstPath !== "-") {
    dstPath = preserveTrailingDotOrSeparator(path.resolve(dstPath), dstPath);
    const dir = path.dirname(clean(dstPath));
    if (dir !== "" && dir !== ".") {
      const exists = await stat(dir).then(
        () => true,
        (err: NodeJS.ErrnoException) => err.code !== "ENOENT",
      );
      if (!exists) throw new Error(`invalid output path: directory ${JSON.stringify(dir)} does not exist`);
    }
    const st = await stat(dstPath).catch(() => undefined);
    if (st && !st.isDirectory() && !st.isFile() && (st.isBlockDevice() || st.isCharacterDevice())) {
      throw new Error(`invalid output path: ${JSON.stringify(dstPath)} must be a directory or a regular file: got a device`);
    }
  }
  let rebase: string | undefined;
  if (followLink) {
    const st = await statPath(ctx, ctr, srcPath).catch(() => undefined);
    if (st && hasBit(st.mode, MODE_SYMLINK)) {
      let target = st.linkTarget;
      if (!target.startsWith("/")) target = path.posix.join(splitPathDirEntry(srcPath)[0], target);
      [target, rebase] = getRebaseName(srcPath, target);
      srcPath = target;
    }
  }
  const res = await ctx.client().request("GET", `${containerPath(ctr)}/archive`, { query: { path: srcPath } });
  const st = decodePathStat(res.headers["x-docker-container-path-stat"]);
  if (dstPath === "-") {
    for await (const chunk of res) {
      if (!ctx.stdout.write(chunk as Buffer)) await new Promise((r) => ctx.stdout.once("drain", r));
    }
    return;
  }
  const srcInfo: CopyInfo = { path: srcPath, exists: true, isDir: isDirMode(st.mode), rebaseName: rebase };
  const first: [string, string] | undefined = rebase ? [splitPathDirEntry(srcPath)[1], rebase] : undefined;
  const dstInfo = await copyInfoDestinationPath(dstPath);
  const { dstDir, rebase: second } = prepareArchiveCopy(srcInfo, dstInfo);
  await untarInto(res, dstDir, (name) => rebaseName(rebaseName(name, first), second));
}

async function copyToContainer(ctx: CliContext, ctr: string, srcPath: string, dstPath: string, followLink: boolean, copyUidGid: boolean): Promise<void> {
  if (srcPath !== "-") srcPath = preserveTrailingDotOrSeparator(path.resolve(srcPath), srcPath);
  const dstInfo: CopyInfo = { path: dstPath, exists: false, isDir: false };
  let dstStat: PathStat | undefined;
  try {
    dstStat = await statPath(ctx, ctr, dstPath);
    if (hasBit(dstStat.mode, MODE_SYMLINK)) {
      let target = dstStat.linkTarget;
      if (!target.startsWith("/")) target = path.posix.join(splitPathDirEntry(dstPath)[0], target);
      dstInfo.path = target;
      dstStat = await statPath(ctx, ctr, target);
    }
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    dstStat = undefined;
  }
  if (dstStat) {
    const what = hasBit(dstStat.mode, MODE_DEVICE) ? "got a device" : hasBit(dstStat.mode, MODE_IRREGULAR) ? "got an irregular file" : undefined;
    if (what) throw new Error(`destination "${ctr}:${dstPath}" must be a directory or a regular file: ${what}`);
    dstInfo.exists = true;
    dstInfo.isDir = isDirMode(dstStat.mode);
  }
  let content: Readable;
  let resolvedDst: string;
  if (srcPath === "-") {
    content = process.stdin;
    resolvedDst = dstInfo.path;
    if (!dstInfo.isDir) throw new Error(`destination "${ctr}:${dstPath}" must be a directory`);
  } else {
    const srcInfo = await copyInfoSourcePath(srcPath, followLink).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") throw new Error(`lstat ${err.path ?? srcPath}: no such file or directory`);
      throw err;
    });
    const { dstDir, rebase } = prepareArchiveCopy(srcInfo, dstInfo);
    resolvedDst = dstDir;
    content = tarLocal(srcInfo, rebase);
  }
  const res = await ctx.client().request("PUT", `${containerPath(ctr)}/archive`, {
    query: { copyUIDGID: copyUidGid ? "true" : undefined, noOverwriteDirNonDir: "true", path: resolvedDst },
    body: content,
  });
  res.resume();
}

export const cp: CliCommand = {
  name: "cp",
  usage: "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\thako cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
  summary: "Copy files/folders between a container and the local filesystem",
  args: [2, 2],
  flags: [
    { name: "archive", short: "a", type: "bool", help: "Archive mode (copy all uid/gid information)" },
    { name: "follow-link", short: "L", type: "bool", help: "Always follow symbol link in SRC_PATH" },
    { name: "quiet", short: "q", type: "bool", help: "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached" },
  ],
  async run(ctx, flags, args) {
    if (args[0] === "") throw new Error("source can not be empty");
    if (args[1] === "") throw new Error("destination can not be empty");
    const [srcCtr, srcPath] = splitCpArg(args[0]!);
    const [dstCtr, dstPath] = splitCpArg(args[1]!);
    const followLink = flags["follow-link"] === true;
    if (srcCtr !== "" && dstCtr !== "") throw new Error("copying between containers is not supported");
    if (srcCtr === "" && dstCtr === "") throw new Error("must specify at least one container source");
    if (srcCtr !== "") await copyFromContainer(ctx, srcCtr, srcPath, dstPath, followLink);
    else await copyToContainer(ctx, dstCtr, srcPath, dstPath, followLink, flags.archive === true);
    return 0;
  },
};
