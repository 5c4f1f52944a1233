/**
 * Creating a container's working directory in its writable layer before
 * the start (Docker's SetupWorkingDirectory), as the merged view will show
 * it: the path is looked up through the layers (top first, whiteouts
 * hide), symlinks are followed inside the container's root, and only what
 * is missing is made. Existing directories on the way are copied up with
 * their owner, mode and times first, as overlayfs would: a bare mkdir -p in
 * the upper layer would give /tmp mode 0755 and put a directory over a
 * symlink.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readlinkSync, utimesSync, type Stats } from "node:fs";
import path from "node:path";

const MAX_LINKS = 40;

/** The entry at `rel` as the merged layers show it (undefined when missing or whited out). */
function lookup(layers: readonly string[], rel: string): { layer: string; stat: Stats } | undefined {
  for (const layer of layers) {
    let stat: Stats;
    try {
      stat = lstatSync(path.join(layer, rel));
    } catch {
      continue;
    }
    // An overlay whiteout (0/0 character device) deletes what the layers below have.
    if (stat.isCharacterDevice() && stat.rdev === 0) return undefined;
    return { layer, stat };
  }
  return undefined;
}

/**
 * Makes `dir` (absolute) exist in `upper` over `lowers` (top first; none
 * for a snapshotter whose upper is the whole root). Returns false when a
 * non-directory is in the way (the start then fails as Docker's does).
 */
export function makeWorkingDir(upper: string, lowers: readonly string[], dir: string): boolean {
  const layers = [upper, ...lowers];
  let parts = dir.split("/").filter((p) => p !== "" && p !== ".");
  let done: { name: string; found: { layer: string; stat: Stats } }[] = [];
  let hops = 0;
  while (parts.length) {
    const part = parts.shift()!;
    if (part === "..") {
      done.pop();
      continue;
    }
    const rel = [...done.map((d) => d.name), part].join("/");
    const found = lookup(layers, rel);
    if (!found) {
      // Missing from here on: copy the existing parents up, then create the rest.
      for (let i = 0; i < done.length; i++) {
        const d = done[i]!;
        if (d.found.layer === upper) continue;
        const target = path.join(upper, ...done.slice(0, i + 1).map((x) => x.name));
        try {
          lstatSync(target);
          continue;
        } catch {
          // not in the upper layer yet
        }
        mkdirSync(target);
        chownSync(target, d.found.stat.uid, d.found.stat.gid);
        // After the chown (which clears set-id bits) and not through mkdir's mode (the umask would cut it).
        chmodSync(target, d.found.stat.mode & 0o7777);
        utimesSync(target, d.found.stat.atime, d.found.stat.mtime);
      }
      mkdirSync(path.join(upper, rel, ...parts.filter((p) => p !== "..")), { recursive: true, mode: 0o755 });
      return true;
    }
    if (found.stat.isSymbolicLink()) {
      if (++hops > MAX_LINKS) return false;
      const target = readlinkSync(path.join(found.layer, rel));
      if (target.startsWith("/")) done = [];
      parts = [...target.split("/").filter((p) => p !== "" && p !== "."), ...parts];
      continue;
    }
    if (!found.stat.isDirectory()) return false;
    done.push({ name: part, found });
  }
  return true;
}
