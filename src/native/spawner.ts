/**
 * hakod's fork server for helpers (native/src/spawner.c says why): one
 * `hako-shim spawner` process started with the daemon, asked over Node's
 * IPC channel for each helper; hakod's ends of the helper's sockets come
 * back as net.Sockets. Without it (hako-runtime, a spawner that died) the
 * helper is spawned by Node as before.
 *
 * With `warm`, one helper is always forked ahead of need with its sockets
 * in our hands: a start or an exec that takes it pays for no fork and no
 * hand-over (~0.5 ms of each). Once taken, the next one is asked for a
 * little later, off the path of the request that took it, with sockets
 * for what the latest uses kept (fd 3 only for container starts, fds 1-3
 * for a `docker exec`): the others would cost a hand-over and a close each.
 * A use that wants a socket the warm one lacks spawns cold, and the warm
 * one is made again for it.
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
  /** Forked ahead of need: whole only once every socket is here. */
  warm: boolean;
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

/** How long after a warm helper was taken the next one is asked for: the request that took it goes first. */
const REFILL_DELAY_MS = 5;

/**
 * How many recent uses the next warm helper's sockets are chosen for: a
 * socket nobody keeps costs a hand-over and a close (a container start
 * keeps only fd 3, a `docker exec` fds 1-3).
 */
const RECENT_USES = 4;

export interface SpawnerOptions {
  /** The spawner first asks for a slice this short for the calling process's main thread (native/src/sched.c). */
  parentSliceUs?: number;
  /** Keep one helper forked ahead of need. */
  warm?: boolean;
}

export class Spawner {
  readonly #child: ChildProcess;
  readonly #jobs = new Map<number, Job>();
  #next = 1;
  #failure: Error | undefined;
  readonly #keepWarm: boolean;
  /** The warm helper's job while it is forked and handed over, and until it is taken. */
  #warmJob: number | undefined;
  /** The warm helper, once whole. */
  #warm: SpawnedHelper | undefined;
  /** Which of its fds 0-3 are sockets ("p") and which /dev/null ("n"). */
  #warmKinds = "pppp";
  /** The slots of the latest uses, newest last: the next warm helper gets a socket where any of them wanted one. */
  readonly #recentKinds: string[] = [];
  #refill: NodeJS.Timeout | undefined;

  constructor(helper: string, options: SpawnerOptions = {}) {
    const args = options.parentSliceUs ? ["spawner", "--parent-slice-us", String(options.parentSliceUs)] : ["spawner"];
    this.#child = spawn(helper, args, { stdio: ["ignore", "ignore", "inherit", "ipc"], serialization: "json" });
    this.#child.on("message", (msg: SpawnerMessage, handle?: Socket) => this.#onMessage(msg, handle));
    this.#child.on("error", (err) => this.#fail(err));
    this.#child.on("exit", (code, signal) => this.#fail(new Error(`the spawner exited (${signal ?? code})`)));
    // The daemon's lifetime is not the spawner's business: only a pending request keeps the event loop alive.
    this.#child.unref();
    this.#keepWarm = options.warm ?? false;
    this.#holdLoop();
    if (this.#keepWarm) this.#warmUp();
  }

  #holdLoop(): void {
    const channel = this.#child.channel as { ref?: () => void; unref?: () => void } | null | undefined;
    // A warm helper waiting to be taken is nobody's pending work.
    const pending = this.#jobs.size - (this.#warmJob !== undefined ? 1 : 0);
    if (pending > 0) channel?.ref?.();
    else channel?.unref?.();
  }

  /** The pid of the warm helper ready to be taken, if there is one (for diagnostics). */
  get warmPid(): number | undefined {
    return this.#warm?.pid;
  }

  /** Which of the warm helper's fds 0-3 are sockets ("p") and which /dev/null ("n"), for diagnostics. */
  get warmKinds(): string | undefined {
    return this.#warm ? this.#warmKinds : undefined;
  }

  /** Whether it can take requests (it did not die). */
  get alive(): boolean {
    return this.#failure === undefined;
  }

  /** A new helper with these fds 0-3; it starts by reading its plan on fd 3. */
  spawn(slots: readonly SpawnSlot[], options: { detached?: boolean } = {}): Promise<SpawnedHelper> {
    if (this.#failure) return Promise.reject(this.#failure);
    const warm = this.takeWarm(slots, options);
    if (warm) return Promise.resolve(warm);
    this.#scheduleRefill();
    return this.#request({ spawn: this.#next++, slots: [0, 1, 2, 3].map((i) => (slots[i] === "pipe" ? "p" : "n")).join(""), detached: options.detached ? 1 : 0 });
  }

  /**
   * The warm helper, made into one with these fds 0-3 (fd 3 a "pipe"),
   * or undefined when there is none. Its header line (the sockets it keeps,
   * a session of its own) is corked until the next tick, so that a plan the
   * caller writes at once goes out in the same write.
   */
  takeWarm(slots: readonly SpawnSlot[], options: { detached?: boolean } = {}): SpawnedHelper | undefined {
    if (this.#failure) return undefined;
    const wanted = [0, 1, 2, 3].map((i) => (slots[i] === "pipe" ? "p" : "n")).join("");
    this.#recentKinds.push(wanted);
    if (this.#recentKinds.length > RECENT_USES) this.#recentKinds.shift();
    const warm = this.#warm;
    if (!warm || slots[3] !== "pipe") return undefined;
    if ([...wanted].some((k, i) => k === "p" && this.#warmKinds[i] !== "p")) {
      // Made for other uses than this one: the next is made for this one too.
      this.#dropWarm();
      return undefined;
    }
    if (warm.stdio.some((s, i) => this.#warmKinds[i] === "p" && (!s || s.destroyed))) return undefined;
    this.#warm = undefined;
    this.#warmJob = undefined;
    const stdio = warm.stdio.map((s, i) => {
      if (slots[i] === "pipe") return s!.ref();
      s?.destroy();
      return null;
    });
    const kinds = wanted.slice(0, 3);
    const ctl = stdio[3]!;
    ctl.cork();
    ctl.write(`${kinds}p${options.detached ? 1 : 0}\n`);
    process.nextTick(() => ctl.uncork());
    this.#holdLoop();
    this.#scheduleRefill();
    return { pid: warm.pid, stdio, ready: warm.ready, exitCode: warm.exitCode };
  }

  #scheduleRefill(): void {
    if (!this.#keepWarm || this.#failure || this.#warmJob !== undefined || this.#refill) return;
    this.#refill = setTimeout(() => {
      this.#refill = undefined;
      this.#warmUp();
    }, REFILL_DELAY_MS);
    this.#refill.unref();
  }

  #warmUp(): void {
    if (this.#failure || this.#warmJob !== undefined) return;
    const id = this.#next++;
    this.#warmJob = id;
    const kinds = this.#recentKinds.length
      ? [0, 1, 2, 3].map((i) => (i === 3 || this.#recentKinds.some((k) => k[i] === "p") ? "p" : "n")).join("")
      : "pppp";
    this.#warmKinds = kinds;
    this.#request({ warm: id, slots: kinds }).then(
      (helper) => {
        if (this.#warmJob !== id) {
          for (const s of helper.stdio) s?.destroy();
          return;
        }
        // Idle, its sockets keep nothing alive; they are ref'd again when it is taken. A helper
        // that died meanwhile fails the first write, maybe before its taker listens for errors.
        for (const s of helper.stdio) s?.unref().on("error", () => {});
        this.#warm = helper;
      },
      () => {
        if (this.#warmJob === id) this.#warmJob = undefined;
      },
    );
  }

  #request(message: { spawn: number; slots: string; detached: number } | { warm: number; slots: string }): Promise<SpawnedHelper> {
    const id = "warm" in message ? message.warm : message.spawn;
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
      this.#jobs.set(id, { warm: "warm" in message, sockets: [null, null, null, null], resolve, reject, exit, exitCode, allHere, ready, failed });
      this.#holdLoop();
      this.#child.send(message, (err) => {
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
      if (this.#warmJob === msg.exit) this.#dropWarm();
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
      if (msg.slot === 3 && !job.warm) job.resolve({ pid: msg.pid ?? 0, stdio: job.sockets, ready: job.ready, exitCode: job.exitCode });
    } else if (typeof msg.error === "string") {
      this.#settle(msg.job!, new SyscallError("spawn", 0, `the spawner could not start a helper: ${msg.error}`));
    } else if (typeof msg.pid === "number") {
      // Without an fd 3 (not a use of ours) the helper is whole only now.
      job.resolve({ pid: msg.pid, stdio: job.sockets, ready: job.ready, exitCode: job.exitCode });
      job.allHere();
    }
  }

  /** The warm helper died before it was taken (or is let go): the next one comes later. */
  #dropWarm(): void {
    for (const s of this.#warm?.stdio ?? []) s?.destroy();
    this.#warm = undefined;
    this.#warmJob = undefined;
    this.#scheduleRefill();
  }

  #settle(id: number, err: Error): void {
    const job = this.#jobs.get(id);
    this.#jobs.delete(id);
    if (this.#warmJob === id) this.#warmJob = undefined;
    this.#holdLoop();
    if (!job) return;
    for (const s of job.sockets) s?.destroy();
    job.reject(err);
    job.failed(err);
    job.exit(125);
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    clearTimeout(this.#refill);
    this.#refill = undefined;
    // A warm helper reads the end of its fd 3 and exits.
    this.#dropWarm();
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
export function startSpawner(helper: string, options: SpawnerOptions = {}): () => void {
  const s = new Spawner(helper, options);
  daemonSpawner = s;
  return () => {
    if (daemonSpawner === s) daemonSpawner = undefined;
    s.close();
  };
}
