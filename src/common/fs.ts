/** File helpers with the durability rules of the architecture guide. */
import { closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readlinkSync, renameSync, writeSync } from "node:fs";
import path from "node:path";
import { InvalidArgumentError } from "./errors.ts";

/**
 * How much a write survives:
 *  - "durable": a power cut leaves the old or the new content (temp file,
 *    fsync, rename; the directory is fsynced too when the name is new);
 *  - "atomic": a crash of the writer leaves the old or the new content, a
 *    power cut may leave the old. For what start-up rebuilds anyway (a
 *    container's runtime state: after a power cut no container runs, and
 *    the shims, gone with it, are what reconcile trusts), this skips the
 *    fsyncs, ~0.3–0.5 ms each on an ext4 disk.
 */
export type Durability = "durable" | "atomic";

/** Writes a file so that a crash leaves either the old or the new content (see Durability). */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644, durability: Durability = "durable"): void {
  writeFilesAtomic([{ file, data, mode }], durability);
}

/**
 * Several files at once, each as writeFileAtomic writes it; the content of
 * all is written before the first fsync, so on ext4 the first commit takes
 * the others' along and their fsyncs are nearly free, and a directory is
 * fsynced once for all its new names.
 */
export function writeFilesAtomic(files: readonly { file: string; data: string | Buffer; mode?: number }[], durability: Durability = "durable"): void {
  const pending: { fd: number; tmp: string; file: string }[] = [];
  const newIn = new Set<string>();
  try {
    for (const f of files) {
      const dir = path.dirname(f.file);
      mkdirSync(dir, { recursive: true });
      const tmp = path.join(dir, `.${path.basename(f.file)}.${process.pid}.tmp`);
      if (durability === "durable" && !existsSync(f.file)) newIn.add(dir);
      const fd = openSync(tmp, "w", f.mode ?? 0o644);
      pending.push({ fd, tmp, file: f.file });
      writeSync(fd, typeof f.data === "string" ? Buffer.from(f.data) : f.data);
    }
    if (durability === "durable") for (const p of pending) fsyncSync(p.fd);
  } finally {
    for (const p of pending) closeSync(p.fd);
  }
  for (const p of pending) renameSync(p.tmp, p.file);
  // Replacing a name that is already durable needs no directory fsync: either entry is a whole file.
  for (const dir of newIn) {
    const dfd = openSync(dir, "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }
}

/**
 * `p` (absolute, as seen inside the container) resolved inside `root`:
 * symlinks are followed as the container would follow them, and neither
 * ".." nor an absolute link can leave `root` (securejoin's rule). The
 * result need not exist.
 */
export function resolveInRoot(root: string, p: string): string {
  const rootAbs = path.resolve(root);
  const pending = p.split("/").filter((c) => c !== "" && c !== ".");
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === "..") {
      done.pop();
      continue;
    }
    const candidate = path.join(rootAbs, ...done, c);
    let target: string | undefined;
    try {
      if (lstatSync(candidate).isSymbolicLink()) target = readlinkSync(candidate);
    } catch {
      // does not exist (yet): take the rest literally
    }
    if (target === undefined) {
      done.push(c);
      continue;
    }
    if (++links > 255) throw new InvalidArgumentError(`too many levels of symbolic links resolving ${p}`);
    const parts = target.split("/").filter((x) => x !== "" && x !== ".");
    if (target.startsWith("/")) done.length = 0;
    pending.unshift(...parts);
  }
  return path.join(rootAbs, ...done);
}
