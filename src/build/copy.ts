/**
 * COPY and ADD sources from the build context: resolving them (wildcards as
 * Go's filepath.Match, symlinks followed only inside the context), the
 * content hash that names them in the image history and keys the cache,
 * and the tar that puts them at their destination in the new layer, laid
 * out relative to the container's root.
 */
import { createHash } from "node:crypto";
import { closeSync, constants as fsConstants, createReadStream, lstatSync, openSync, readSync, readdirSync, readlinkSync, type Stats } from "node:fs";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import tarStream, { type Header } from "tar-stream";
import { InvalidArgumentError, NotFoundError } from "../common/errors.ts";
import { resolveInRoot } from "../common/fs.ts";
import { decompressed } from "../image/compression.ts";
import { IgnoreMatcher } from "./dockerignore.ts";

/** One resolved source: a path of the context (relative) and what it is. */
export interface ContextSource {
  /** As written in the Dockerfile (for messages). */
  orig: string;
  /** Relative to the context root, symlinks resolved. */
  rel: string;
  /** The name it gets in a destination directory: the base name as written (a symlink's own name, not its target's). */
  name: string;
  stat: Stats;
}

/** Where a file ends up: a path relative to the container root, and the entry's mode override. */
export interface CopyTarget {
  /** Relative to "/" (no leading slash). */
  dest: string;
  /** For a directory source: its contents go into dest; otherwise the file is dest. */
  contentsOf: boolean;
}

/** A context path with its symlinks followed, never out of `root` (absolute targets mean the root), relative to it. */
function resolveInContext(root: string, rel: string): string {
  return path.relative(path.resolve(root), resolveInRoot(root, `/${rel}`));
}

function hasWildcards(p: string): boolean {
  return /[*?[]/.test(p.replace(/\\./g, ""));
}

/** Every context path (files and directories, not under a matched directory) a wildcard source names. */
function globContext(root: string, pattern: string): string[] {
  const matcher = new IgnoreMatcher([pattern]);
  const out: string[] = [];
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(path.join(root, rel)).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name;
      // A whole-path match only (filepath.Match), not a parent's.
      if (exactMatch(matcher, childRel)) {
        out.push(childRel);
        continue;
      }
      if (lstatSync(path.join(root, childRel)).isDirectory()) walk(childRel);
    }
  };
  walk("");
  return out;
}

function exactMatch(m: IgnoreMatcher, rel: string): boolean {
  if (!m.ignores(rel)) return false;
  const parent = path.posix.dirname(rel);
  return parent === "." || !m.ignores(parent);
}

function statInContext(root: string, rel: string, orig: string): Stats {
  try {
    return lstatSync(path.join(root, rel));
  } catch {
    throw new NotFoundError(`file not found in build context or excluded by .dockerignore: stat ${orig}: file does not exist`);
  }
}

/** The context paths the sources of a COPY or ADD name, in order. */
export function resolveContextSources(root: string, sources: readonly string[]): ContextSource[] {
  const out: ContextSource[] = [];
  for (const orig of sources) {
    const clean = path.posix.normalize(`/${orig}`).slice(1);
    if (clean.split("/").includes("..")) throw new InvalidArgumentError(`forbidden path outside the build context: ${orig}`);
    if (hasWildcards(clean)) {
      for (const match of globContext(root, clean)) {
        const rel = resolveInContext(root, match);
        out.push({ orig, rel, name: path.posix.basename(match), stat: statInContext(root, rel, orig) });
      }
      continue;
    }
    const rel = resolveInContext(root, clean);
    out.push({ orig, rel, name: path.posix.basename(clean), stat: statInContext(root, rel, orig) });
  }
  if (out.length === 0) throw new InvalidArgumentError("no source files were specified");
  return out;
}

interface WalkEntry {
  /** Relative to the source (for a directory) or its base name (for a file). */
  name: string;
  abs: string;
  stat: Stats;
}

/** A source's entries: the file itself, or a directory's contents (not the directory), sorted, never through a symlink. */
function walkSource(root: string, src: ContextSource): WalkEntry[] {
  const abs = path.join(root, src.rel);
  if (!src.stat.isDirectory()) return [{ name: src.name, abs, stat: src.stat }];
  const out: WalkEntry[] = [];
  const walk = (dirAbs: string, rel: string): void => {
    for (const name of readdirSync(dirAbs).sort()) {
      const childAbs = path.join(dirAbs, name);
      const childRel = rel ? `${rel}/${name}` : name;
      const stat = lstatSync(childAbs);
      out.push({ name: childRel, abs: childAbs, stat });
      if (stat.isDirectory()) walk(childAbs, childRel);
    }
  };
  walk(abs, "");
  return out;
}

function fileDigest(abs: string): string {
  const hash = createHash("sha256");
  const fd = openSync(abs, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  try {
    const buf = Buffer.alloc(256 * 1024);
    let n: number;
    while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/**
 * The content hash Docker's history shows: "file:<sha256>" for one file,
 * "dir:<sha256>" for a directory, "multi:<sha256>" over several sources.
 * It covers names, types, modes, link targets and contents.
 */
export function sourceHash(root: string, sources: readonly ContextSource[]): string {
  const one = (src: ContextSource): string => {
    const hash = createHash("sha256");
    for (const e of walkSource(root, src)) {
      const st = e.stat;
      let body = "";
      if (st.isFile()) body = fileDigest(e.abs);
      else if (st.isSymbolicLink()) body = readlinkSync(e.abs);
      // A file's name decides its name at a directory destination, so it is part of the key (Docker hashes a header with it too).
      hash.update(`${e.name}\0${st.mode.toString(8)}\0${body}\n`);
    }
    return `${src.stat.isDirectory() ? "dir" : "file"}:${hash.digest("hex")}`;
  };
  if (sources.length === 1) return one(sources[0]!);
  return `multi:${createHash("sha256").update(sources.map(one).join(",")).digest("hex")}`;
}

export interface CopyTarOptions {
  /** uid/gid of every entry (COPY resets ownership to root unless --chown). */
  uid: number;
  gid: number;
  /** --chmod: the permission bits of every entry. */
  mode?: number;
}

/** A tar putting `src` at `target` (relative to the container root). */
export function contextSourceTar(root: string, src: ContextSource, target: CopyTarget, opts: CopyTarOptions): Readable {
  const pack = tarStream.pack();
  const out = new PassThrough();
  pack.on("error", (err) => out.destroy(err));
  pack.pipe(out);
  void (async () => {
    try {
      for (const e of walkSource(root, src)) {
        const name = target.contentsOf ? (target.dest ? `${target.dest}/${e.name}` : e.name) : target.dest;
        const st = e.stat;
        const mode = opts.mode !== undefined ? opts.mode : st.mode & 0o7777;
        const header = { name, mode, uid: opts.uid, gid: opts.gid, mtime: st.mtime };
        if (st.isDirectory()) await entry(pack, { ...header, type: "directory" });
        else if (st.isSymbolicLink()) await entry(pack, { ...header, type: "symlink", linkname: readlinkSync(e.abs) });
        else if (st.isFile()) {
          const fd = openSync(e.abs, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
          await entry(pack, { ...header, type: "file", size: st.size }, createReadStream("", { fd }));
        }
        // Devices, fifos and sockets of a context are not copied (nor sent by the docker CLI).
      }
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  return out;
}

function entry(pack: tarStream.Pack, header: Partial<Header> & { name: string }, body?: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    if (body) {
      body.on("error", (err) => {
        sink.destroy(err);
        reject(err);
      });
      body.pipe(sink);
    } else sink.end(undefined);
  });
}

/** A tar of one directory entry (root's, 0755): what WORKDIR makes when the path is missing. */
export function directoryTar(rel: string): Readable {
  const pack = tarStream.pack();
  pack.entry({ name: `${rel}/`, type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: new Date() }).end(undefined);
  pack.finalize();
  return Readable.from(pack);
}

/**
 * Whether a context file is a tar archive ADD extracts: plain, or gzip or
 * zstd compressed with a tar inside (a compressed file that is not a tar is
 * copied as it is, as dockerd does).
 */
export async function isArchive(abs: string): Promise<boolean> {
  let head = Buffer.alloc(0);
  const fd = openSync(abs, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  const stream = await decompressed(createReadStream("", { fd }));
  try {
    for await (const chunk of stream) {
      head = Buffer.concat([head, chunk as Buffer]);
      if (head.length >= 512) break;
    }
  } catch {
    return false; // a damaged compressed file: copied as a file
  } finally {
    stream.destroy();
  }
  return head.length >= 262 && head.subarray(257, 262).toString("latin1") === "ustar";
}

/**
 * Entries of `tar` re-rooted: names (and hard link targets) prefixed with
 * `prefix`, or with `rename` mapping each name (undefined drops it).
 */
export function retargetTar(tar: Readable, rename: (name: string) => string | undefined, keepOwner = true, chmod?: number): Readable {
  const extract = tarStream.extract();
  const pack = tarStream.pack();
  const out = new PassThrough();
  const fail = (err: Error): void => {
    extract.destroy(err);
    out.destroy(err);
  };
  tar.on("error", fail);
  extract.on("error", fail);
  pack.on("error", fail);
  pack.pipe(out);
  extract.on("entry", (header, stream, next) => {
    const name = rename(header.name.replace(/\/+$/, ""));
    if (name === undefined) {
      stream.resume();
      stream.on("end", next);
      return;
    }
    const h: Partial<Header> & { name: string } = { ...header, name };
    if (header.type === "link" && header.linkname) {
      const linked = rename(header.linkname.replace(/\/+$/, ""));
      if (linked === undefined) {
        stream.resume();
        stream.on("end", next);
        return;
      }
      h.linkname = linked;
    }
    if (!keepOwner) {
      h.uid = 0;
      h.gid = 0;
    }
    if (chmod !== undefined && h.type !== "symlink") h.mode = chmod;
    delete h.pax;
    const sink = pack.entry(h, (err) => (err ? fail(err) : next()));
    stream.pipe(sink);
  });
  extract.on("finish", () => pack.finalize());
  tar.pipe(extract);
  return out;
}
