/**
 * Temp directories for one test file, removed once its tests are done.
 * Kept apart from the other helpers because it registers a node:test hook,
 * and the benches import those helpers outside a test run.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after } from "node:test";

/** Returns mkdtemp under the system temp dir; every directory it made is removed in the file's after(). */
export function tempDirs(): (prefix: string) => string {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return (prefix) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
}
