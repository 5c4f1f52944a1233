/** Pieces every snapshotter needs. */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import path from "node:path";
import { InvalidArgumentError } from "../common/errors.ts";

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Snapshot keys become directory names: nothing that could climb out. */
export function checkKey(key: string): string {
  if (!KEY.test(key) || key.includes("..")) throw new InvalidArgumentError(`invalid snapshot key "${key}"`);
  return key;
}

/** What an init layer holds at a path: a file's content, or a symlink. */
export type LayerFile = string | { symlink: string };

/** Writes `files` (relative path → content or symlink) under dir; none may lead outside it. */
export function writeLayerFiles(dir: string, files: Record<string, LayerFile>): void {
  for (const [rel, content] of Object.entries(files)) {
    const target = path.join(dir, rel);
    if (!target.startsWith(`${dir}/`)) throw new InvalidArgumentError(`init file ${rel} is outside the layer`);
    mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
    if (typeof content === "string") writeFileSync(target, content, { mode: 0o644 });
    else symlinkSync(content.symlink, target);
  }
}

/**
 * Bytes and inodes under dir as Docker counts a layer (moby's
 * directory.Size): the sizes of files and symlinks, not of directories,
 * hardlinks once; every entry counts as an inode.
 */
export async function diskUsage(dir: string): Promise<{ size: number; inodes: number }> {
  const seen = new Set<string>();
  let size = 0;
  let inodes = 0;
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p, { bigint: true });
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    inodes++;
    if (!st.isDirectory()) size += Number(st.size);
    if (st.isDirectory()) for (const name of await readdir(p)) await walk(path.join(p, name));
  };
  try {
    await walk(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  return { size, inodes };
}
