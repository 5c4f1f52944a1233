/**
 * hakod's fork server for helpers (native/src/spawner.c says why): one
 * `hako-shim spawner` process started with the daemon, asked over Node's
 * IPC channel for each helper; hakod's ends of the helper's sockets come
 * back as net.Sockets. Without it (hako-runtime, a spawner that died) the
 * helper is spawned by Node as before.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import { SyscallError } from "../common/errors.ts";

/** fd 0-3 of a helper: a socket to hakod, or /dev/null. */
export type SpawnSlot = "pipe" | "ignore";

/**
 * A helper, as soon as its fd 3 is ours (to write its plan on while the
 * spawner hands over the rest: the helper starts meanwhile).
 */
export interface SpawnedHelper {
  readonly pid: number;
  /** hakod's end of each "pipe" slot of fds 0-3; null for "ignore". Slot 3 is there at once, the others once `ready`. */
  readonly stdio: (Socket | null)[];
  /** Every socket handed over. */
  readonly ready: Promise<void>;
  /** The helper's exit status once the spawner reaped it (128+n for a signal). */
  readonly exitCode: Promise<number>;
}

interface Job {
  sockets: (Socket | null)[];
  resolve: (h: SpawnedHelper) => void;
  reject: (err: Error) => void;
  exit: (code: number) => void;
  exitCode: Promise<number>;
  allHere: () => void;
  ready: Promise<void>;
  failed: (err: Error) => void;
}

type SpawnerMessage = { job?: number; slot?: number; pid?: number; exit?: number; status?: number; error?: string };

export class Spawner {
  readonly #child: ChildProcess;
  readonly #jobs = new Map<number, Job>();
  #next = 1;
  #failure: Error | undefined;

  /** `parentSliceUs`: the spawner first asks for a slice this short for the calling process's main thread (native/src/sched.c). */
  constructor(helper: string, options: { parentSliceUs?: number } = {}) {
    const args = options.parentSliceUs ? ["spawner", "--parent-slice-us", String(options.parentSliceUs)] : ["spawner"];
    this.#child = spawn(helper, args, { stdio: ["ignore", "ignore", "inherit", "ipc"], serialization: "json" });
    this.#child.on("message", (msg: SpawnerMessage, handle?: Socket) => this.#onMessage(msg, handle));
    this.#child.on("error", (err) => this.#fail(err));
    this.#child.on("exit", (code, signal) => this.#fail(new Error(`the spawner exited (${signal ?? code})`)));
    // The daemon's lifetime is not the spawner's business: only a pending request keeps the event loop alive.
    this.#child.unref();
    this.#holdLoop();
  }

  #holdLoop(): void {
    const channel = this.#child.channel as { ref?: () => void; unref?: () => void } | null | undefined;
    if (this.#jobs.size > 0) channel?.ref?.();
    else channel?.unref?.();
  }

  /** Whether it can take requests (it did not die). */
  get alive(): boolean {
    return this.#failure === undefined;
  }

  /** A new helper with these fds 0-3; it starts by reading its plan on fd 3. */
  spawn(slots: readonly SpawnSlot[], options: { detached?: boolean } = {}): Promise<SpawnedHelper> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#next++;
    let exit!: (code: number) => void;
    const exitCode = new Promise<number>((r) => (exit = r));
    let allHere!: () => void;
    let failed!: (err: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      allHere = res;
      failed = rej;
    });
    ready.catch(() => {});
    return new Promise<SpawnedHelper>((resolve, reject) => {
      this.#jobs.set(id, { sockets: [null, null, null, null], resolve, reject, exit, exitCode, allHere, ready, failed });
      this.#holdLoop();
      const kinds = [0, 1, 2, 3].map((i) => (slots[i] === "pipe" ? "p" : "n")).join("");
      this.#child.send({ spawn: id, slots: kinds, detached: options.detached ? 1 : 0 }, (err) => {
        if (err) this.#settle(id, err);
      });
    });
  }

  /** Stops the spawner; helpers it started go on. */
  close(): void {
    this.#fail(new Error("the spawner was stopped"));
    if (this.#child.connected) this.#child.disconnect();
  }

  #onMessage(msg: SpawnerMessage, handle?: Socket): void {
    if (typeof msg !== "object" || msg === null) return;
    if (typeof msg.exit === "number") {
      const job = this.#jobs.get(msg.exit);
      this.#jobs.delete(msg.exit);
      this.#holdLoop();
      job?.exit(msg.status ?? 1);
      return;
    }
    const job = typeof msg.job === "number" ? this.#jobs.get(msg.job) : undefined;
    if (!job) {
      handle?.destroy();
      return;
    }
    if (typeof msg.slot === "number") {
      if (!handle) return; // Node answered NACK: the spawner sends this one again
      job.sockets[msg.slot] = handle;
      if (msg.slot === 3) job.resolve({ pid: msg.pid ?? 0, stdio: job.sockets, ready: job.ready, exitCode: job.exitCode });
    } else if (typeof msg.error === "string") {
      this.#settle(msg.job!, new SyscallError("spawn", 0, `the spawner could not start a helper: ${msg.error}`));
    } else if (typeof msg.pid === "number") {
      // Without an fd 3 (not a use of ours) the helper is whole only now.
      job.resolve({ pid: msg.pid, stdio: job.sockets, ready: job.ready, exitCode: job.exitCode });
      job.allHere();
    }
  }

  #settle(id: number, err: Error): void {
    const job = this.#jobs.get(id);
    this.#jobs.delete(id);
    this.#holdLoop();
    if (!job) return;
    for (const s of job.sockets) s?.destroy();
    job.reject(err);
    job.failed(err);
    job.exit(125);
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    // Helpers it started and reported run on; their exits can no longer be reported.
    for (const id of [...this.#jobs.keys()]) this.#settle(id, this.#failure);
  }
}

let daemonSpawner: Spawner | undefined;

/** hakod's spawner, once started (startSpawner); undefined elsewhere or after it died. */
export function currentSpawner(): Spawner | undefined {
  return daemonSpawner?.alive ? daemonSpawner : undefined;
}

/** Starts the daemon's spawner; returns its stop. */
export function startSpawner(helper: string, options: { parentSliceUs?: number } = {}): () => void {
  const s = new Spawner(helper, options);
  daemonSpawner = s;
  return () => {
    if (daemonSpawner === s) daemonSpawner = undefined;
    s.close();
  };
}
