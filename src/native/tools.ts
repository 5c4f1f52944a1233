/**
 * The helper's layer tools (native/src/tar.h): apply a layer tar to a
 * directory, write a directory (or its difference from another) as a layer
 * tar, and the btrfs ioctls. With shim.ts, the only TypeScript that starts
 * the helper. These modes run on the host and speak plain stdio: data on
 * stdin/stdout, one message on stderr and a non-zero status on failure.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { PassThrough, type Readable } from "node:stream";
import { InternalError, InvalidArgumentError, NotFoundError, type HakoError } from "../common/errors.ts";
import { helperPath } from "./shim.ts";

export type ExtractWhiteouts = "overlay" | "delete";
export type CreateWhiteouts = "overlay" | "none";

export interface ExtractResult {
  /** Entries in the archive (files, directories, links, whiteouts...; not PAX/GNU metadata headers). */
  entries: number;
  /** Bytes of regular-file data and symlink targets written: Docker's ApplyDiff size (a walk of the layer, directories not counted). */
  bytes: number;
  /** `.wh.NAME` and `.wh..wh..opq` entries applied. */
  whiteouts: number;
}

/** Keeps the helper's stderr, bounded: it is one message, but never trust a size. */
function collectStderr(child: ChildProcess): () => string {
  let text = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    if (text.length < 64 * 1024) text += chunk;
  });
  return () => text.trim();
}

/** What the helper said, without its warnings when it also said why it failed. */
function failureText(stderr: string, code: number | null, signal: NodeJS.Signals | null): string {
  const lines = stderr.split("\n").filter((l) => l && !l.includes(": warning: "));
  if (lines.length > 0) return lines.join("; ");
  return signal ? `the helper was killed by ${signal}` : `the helper exited with status ${code}`;
}

/** A bad archive (the input's fault) or anything else (ours, or the host's). */
function extractError(dir: string, text: string): HakoError {
  const message = `apply layer to ${dir}: ${text}`;
  if (/invalid archive|escapes the layer root|unexpected end of archive/.test(text)) return new InvalidArgumentError(message);
  return new InternalError(message);
}

/**
 * Applies an uncompressed layer tar to `dir` (which exists). `overlay`
 * turns whiteouts into overlay's (char 0:0, trusted.overlay.opaque) for an
 * upper dir; `delete` applies them to a full copy (vfs, btrfs). Rejects with
 * InvalidArgumentError for a bad or hostile archive, InternalError otherwise;
 * either way what was written so far stays for the caller to remove.
 */
export function extractLayer(tar: Readable, dir: string, opts: { whiteouts: ExtractWhiteouts }): Promise<ExtractResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(helperPath(), ["tar-extract", dir, `--whiteouts=${opts.whiteouts}`], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    const stderr = collectStderr(child);
    let stdout = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      if (stdout.length < 4096) stdout += chunk;
    });
    let sourceError: Error | undefined;
    let settled = false;
    const finish = (err: Error | undefined, result?: ExtractResult): void => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(result!);
    };

    // pipe() pauses the source while the helper's stdin is full.
    tar.pipe(child.stdin!);
    // EPIPE when the helper stopped reading (it failed): its status and stderr say why.
    child.stdin!.on("error", () => {});
    tar.on("error", (err: Error) => {
      sourceError ??= err;
      tar.unpipe(child.stdin!);
      child.kill("SIGKILL");
    });

    child.on("error", (err) => {
      tar.unpipe(child.stdin!);
      tar.destroy();
      finish(new InternalError(`apply layer to ${dir}: start the native helper: ${err.message}`, { cause: err }));
    });
    child.on("close", (code, signal) => {
      if (sourceError) {
        finish(new InternalError(`apply layer to ${dir}: reading the layer failed: ${sourceError.message}`, { cause: sourceError }));
        return;
      }
      if (code !== 0) {
        // It failed before the end of the stream: stop whoever is producing it.
        tar.unpipe(child.stdin!);
        tar.destroy();
        finish(extractError(dir, failureText(stderr(), code, signal)));
        return;
      }
      try {
        const r = JSON.parse(stdout.trim()) as ExtractResult;
        finish(undefined, { entries: Number(r.entries), bytes: Number(r.bytes), whiteouts: Number(r.whiteouts) });
      } catch (err) {
        finish(new InternalError(`apply layer to ${dir}: unreadable result from the helper: ${JSON.stringify(stdout)}`, { cause: err }));
      }
    });
  });
}

/**
 * `dir` as an uncompressed layer tar, deterministic (same tree, same bytes).
 * `overlay` reads an overlay upper dir's whiteouts; `parent` makes it the
 * difference from that tree instead (vfs, btrfs). The stream errors with an
 * InternalError carrying the helper's message when it fails; destroying the
 * stream stops the helper.
 */
export function createLayerTar(dir: string, opts: { whiteouts: CreateWhiteouts; parent?: string }): Readable {
  const args = ["tar-create", dir, `--whiteouts=${opts.whiteouts}`];
  if (opts.parent !== undefined) args.push("--parent", opts.parent);
  const what = `create a layer tar of ${dir}`;
  return helperTarStream(args, what, (code, signal, stderr) => new InternalError(`${what}: ${failureText(stderr, code, signal)}`));
}

/**
 * A tar the helper writes on its stdout: a failure (its exit) destroys the
 * stream with `failure`'s error; a consumer that gives up stops the helper.
 */
function helperTarStream(
  args: string[],
  what: string,
  failure: (code: number | null, signal: NodeJS.Signals | null, stderr: string) => Error,
): Readable {
  const out = new PassThrough();
  let child: ChildProcess;
  try {
    child = spawn(helperPath(), args, { stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    process.nextTick(() => out.destroy(err as Error));
    return out;
  }
  const stderr = collectStderr(child);
  child.stdout!.pipe(out, { end: false });
  let exited = false;
  child.on("error", (err) => {
    exited = true;
    out.destroy(new InternalError(`${what}: start the native helper: ${err.message}`, { cause: err }));
  });
  child.on("close", (code, signal) => {
    exited = true;
    if (code === 0) out.end();
    else out.destroy(failure(code, signal, stderr()));
  });
  // A consumer that gave up: the helper has nobody to write for.
  out.on("close", () => {
    if (!exited) child.kill("SIGKILL");
  });
  return out;
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function runHelper(args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(helperPath(), args, { stdio: ["ignore", "ignore", "pipe"] });
    const stderr = collectStderr(child);
    child.on("error", (err) => reject(new InternalError(`start the native helper: ${err.message}`, { cause: err })));
    child.on("close", (code, signal) => resolve({ code, signal, stderr: stderr() }));
  });
}

async function btrfsOp(what: string, args: string[]): Promise<void> {
  const r = await runHelper(["btrfs", ...args]);
  if (r.code !== 0) throw new InternalError(`${what}: ${failureText(r.stderr, r.code, r.signal)}`);
}

/** True when `path` is on a btrfs filesystem. */
export async function isBtrfs(path: string): Promise<boolean> {
  const r = await runHelper(["btrfs", "is-btrfs", path]);
  if (r.code === 0) return true;
  if (r.code === 1) return false;
  throw new InternalError(`check whether ${path} is on btrfs: ${failureText(r.stderr, r.code, r.signal)}`);
}

/** Creates an empty subvolume at `path` (its parent must exist, on btrfs). */
export function btrfsSubvolumeCreate(path: string): Promise<void> {
  return btrfsOp(`create btrfs subvolume ${path}`, ["subvolume-create", path]);
}

/** Snapshots subvolume `src` as a new subvolume `dst` (copy-on-write). */
export function btrfsSnapshot(src: string, dst: string, opts: { readonly?: boolean } = {}): Promise<void> {
  const args = ["snapshot", src, dst];
  if (opts.readonly) args.push("--readonly");
  return btrfsOp(`snapshot btrfs subvolume ${src} as ${dst}`, args);
}

/** Deletes the subvolume at `path`, and the subvolumes nested in it. */
export function btrfsSubvolumeDelete(path: string): Promise<void> {
  return btrfsOp(`delete btrfs subvolume ${path}`, ["subvolume-delete", path]);
}

// ---------------------------------------------------------------- rootfs-tool (docker cp, export)

/**
 * Where rootfs-tool finds a container's files: `root` as it is (a running
 * container's /proc/<pid>/root, a vfs/btrfs snapshot directory), or the
 * merged view `mount` first mounts on `root` in the helper's own mount
 * namespace (never the host's).
 */
export interface RootfsLocation {
  root: string;
  mount?: { type: string; source: string; data: string; cwd?: string; readonly?: boolean };
}

/** lstat of a path in the container, as rootfs-tool reports it. */
export interface RootfsStat {
  /** filepath.Base of the path as asked ("/" for the root). */
  name: string;
  size: number;
  /** st_mode. */
  mode: number;
  mtimeSec: number;
  mtimeNsec: number;
  /** A symlink's target resolved inside the container ("" for anything else). */
  linkTarget: string;
}

const ROOTFS_NOT_FOUND = 3;
const ROOTFS_NOT_DIRECTORY = 4;

function rootfsArgs(loc: RootfsLocation, op: string[]): string[] {
  const args = ["rootfs-tool"];
  if (loc.mount) {
    const m = loc.mount;
    args.push("--mount", m.type, m.source, m.data, m.cwd ?? "");
    if (m.readonly) args.push("--ro");
  }
  return [...args, loc.root, ...op];
}

/** The helper's status as an error: a missing path (404), not a directory (400), a bad archive (400), or ours. */
function rootfsError(what: string, code: number | null, signal: NodeJS.Signals | null, stderr: string): HakoError {
  const text = failureText(stderr, code, signal);
  const message = `${what}: ${text}`;
  if (code === ROOTFS_NOT_FOUND) return new NotFoundError(message);
  if (code === ROOTFS_NOT_DIRECTORY) return new InvalidArgumentError(message);
  if (/invalid archive|escapes the layer root|unexpected end of archive|cannot overwrite/.test(text)) return new InvalidArgumentError(message);
  return new InternalError(message);
}

/** Runs a rootfs-tool operation that answers one JSON line. */
function rootfsQuery<T>(loc: RootfsLocation, op: string[], what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(helperPath(), rootfsArgs(loc, op), { stdio: ["ignore", "pipe", "pipe"] });
    const stderr = collectStderr(child);
    let stdout = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      if (stdout.length < 64 * 1024) stdout += chunk;
    });
    child.on("error", (err) => reject(new InternalError(`${what}: start the native helper: ${err.message}`, { cause: err })));
    child.on("close", (code, signal) => {
      if (code !== 0) return reject(rootfsError(what, code, signal, stderr()));
      try {
        resolve(JSON.parse(stdout) as T);
      } catch (err) {
        reject(new InternalError(`${what}: unreadable result from the helper: ${JSON.stringify(stdout)}`, { cause: err }));
      }
    });
  });
}

/** lstat of `path` inside the container (the directory part follows symlinks in the root; the last element with a trailing "/"). */
export function rootfsStat(loc: RootfsLocation, path: string): Promise<RootfsStat> {
  return rootfsQuery<RootfsStat>(loc, ["stat", path], `stat ${path}`);
}

/** `path` with every symlink followed inside the container's root, absolute. */
export async function rootfsRealpath(loc: RootfsLocation, path: string): Promise<string> {
  return (await rootfsQuery<{ path: string }>(loc, ["realpath", path], `resolve ${path}`)).path;
}

/** A tar the helper writes: errors with its message; destroying the stream stops it. */
function rootfsTarStream(loc: RootfsLocation, op: string[], what: string): Readable {
  return helperTarStream(rootfsArgs(loc, op), what, (code, signal, stderr) => rootfsError(what, code, signal, stderr));
}

/**
 * `path` of the container as docker cp's tar: its entry named after the path
 * as asked, or `as` (one path element; "." gives "./..." entries).
 */
export function rootfsGetTar(loc: RootfsLocation, path: string, opts: { as?: string } = {}): Readable {
  const op = ["get", path];
  if (opts.as !== undefined) op.push("--as", opts.as);
  return rootfsTarStream(loc, op, `archive ${path}`);
}

/** The container's whole filesystem as a tar (docker export). */
export function rootfsExportTar(loc: RootfsLocation): Readable {
  return rootfsTarStream(loc, ["export"], "export the container's filesystem");
}

/**
 * Extracts `tar` under the directory `path` of the container (every symlink
 * followed inside the root; entries stay inside that directory).
 * `chown` gives every entry that owner (docker cp -a); `noOverwriteDirNonDir`
 * refuses to replace a directory by a non-directory or back.
 */
export function rootfsPutTar(
  loc: RootfsLocation,
  path: string,
  tar: Readable,
  opts: { noOverwriteDirNonDir?: boolean; chown?: { uid: number; gid: number } } = {},
): Promise<void> {
  const op = ["put", path];
  if (opts.noOverwriteDirNonDir) op.push("--no-overwrite-dir-non-dir");
  if (opts.chown) op.push(`--chown=${opts.chown.uid}:${opts.chown.gid}`);
  const what = `extract into ${path}`;
  return new Promise((resolve, reject) => {
    const child = spawn(helperPath(), rootfsArgs(loc, op), { stdio: ["pipe", "ignore", "pipe"] });
    const stderr = collectStderr(child);
    let sourceError: Error | undefined;
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve();
    };
    tar.pipe(child.stdin!);
    child.stdin!.on("error", () => {});
    tar.on("error", (err: Error) => {
      sourceError ??= err;
      tar.unpipe(child.stdin!);
      child.kill("SIGKILL");
    });
    child.on("error", (err) => {
      tar.unpipe(child.stdin!);
      finish(new InternalError(`${what}: start the native helper: ${err.message}`, { cause: err }));
    });
    child.on("close", (code, signal) => {
      if (sourceError) return finish(new InternalError(`${what}: reading the archive failed: ${sourceError.message}`, { cause: sourceError }));
      if (code !== 0) {
        // Failed before the end of the archive: the rest is read and dropped by the caller.
        tar.unpipe(child.stdin!);
        return finish(rootfsError(what, code, signal, stderr()));
      }
      finish();
    });
  });
}
