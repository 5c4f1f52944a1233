/**
 * Removal off the request path. Deleting a container's layer and record
 * directory file by file is ~3 ms of `rm -f` and of every `run --rm`;
 * dockerd does it before it answers. Here the directory is renamed into a
 * trash directory on the same filesystem (one atomic rename: its path is
 * free at once, and a crash leaves it whole in the trash, never half of it
 * in the store) and deleted in the background, one at a time. What a crash
 * left in a trash is deleted the first time that trash is used again.
 *
 * hakod hands its trash to a deleter process (native/src/trash.c, at idle
 * priority): deleting here costs the event loop a callback per file.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { isErrno } from "./errors.ts";

export class Trash {
  static readonly #byDir = new Map<string, Trash>();

  /** The trash at `dir` (made on first use); one per directory in a process. */
  static at(dir: string): Trash {
    const key = path.resolve(dir);
    let trash = Trash.#byDir.get(key);
    if (!trash) {
      trash = new Trash(key);
      Trash.#byDir.set(key, trash);
    }
    return trash;
  }

  /** The trash beside a store's root: <parent of root>/trash, on the same filesystem as the data root's stores. */
  static beside(root: string): Trash {
    return Trash.at(path.join(path.dirname(path.resolve(root)), "trash"));
  }

  readonly dir: string;
  #queue: Promise<void> = Promise.resolve();
  #swept = false;
  /** Another process deletes what lands here (delegate). */
  #delegated = false;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Takes `target` (a directory or file) out of its place now and deletes it
   * later. A target on another filesystem than the trash is deleted here
   * and now; a missing one is no error.
   */
  discard(target: string): void {
    this.#sweepOnce();
    const dest = path.join(this.dir, `${path.basename(target)}.${randomBytes(6).toString("hex")}`);
    try {
      try {
        renameSync(target, dest);
      } catch (err) {
        if (!isErrno(err, "ENOENT") || !existsSync(target)) throw err;
        mkdirSync(this.dir, { recursive: true, mode: 0o700 }); // the first discard into this trash
        renameSync(target, dest);
      }
    } catch (err) {
      if (isErrno(err, "ENOENT")) return;
      if (!isErrno(err, "EXDEV")) throw err;
      rmSync(target, { recursive: true, force: true });
      return;
    }
    this.#delete(dest);
  }

  /**
   * From now on another process deletes what lands here (it watches the
   * directory); `false` takes the deleting back, with what it left.
   */
  delegate(on: boolean): void {
    this.#delegated = on;
    if (!on) {
      this.#swept = false;
      this.#sweepOnce();
    }
  }

  /** Resolves once everything discarded so far is deleted (shutdown, tests). */
  async drained(): Promise<void> {
    await this.#queue;
    // The deleter's progress shows as an emptier directory; give it a few seconds.
    for (let i = 0; this.#delegated && i < 1000 && this.#entries().length > 0; i++) await new Promise((r) => setTimeout(r, 5));
  }

  #entries(): string[] {
    try {
      return readdirSync(this.dir);
    } catch {
      return [];
    }
  }

  #delete(p: string): void {
    if (this.#delegated) return;
    // A failure leaves the entry for the next sweep; the store never sees it again either way.
    this.#queue = this.#queue.then(() => rm(p, { recursive: true, force: true, maxRetries: 2 }).catch(() => {}));
  }

  #sweepOnce(): void {
    if (this.#swept || this.#delegated) return;
    this.#swept = true;
    let left: string[] = [];
    try {
      left = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const name of left) this.#delete(path.join(this.dir, name));
  }
}
