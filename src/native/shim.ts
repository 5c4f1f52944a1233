/**
 * The one TypeScript module that starts the native helper (native/, built
 * as hako-shim) and speaks its control protocol: the plan goes out on fd 3,
 * text lines come back on the same socket (see native/src/msg.h).
 */
import { spawn, spawnSync, type ChildProcess, type IOType } from "node:child_process";
import type { Readable, Stream, Writable } from "node:stream";
import { existsSync, mkdirSync } from "node:fs";
import { constants as osConstants } from "node:os";
import path from "node:path";
import type { Socket } from "node:net";
import { InternalError, SyscallError } from "../common/errors.ts";
import { encodePlan, type Plan } from "./plan.ts";
import type { SpawnedHelper, Spawner, SpawnSlot } from "./spawner.ts";

let pinnedHelper: string | undefined;

/** How long an exec's streams may stay open once its process exited (dockerd's wait). */
const STREAMS_AFTER_EXIT_MS = 2000;

/** Where the helper binary is: hakod's pinned copy, $HAKO_SHIM, or native/build next to the code. */
export function helperPath(): string {
  if (pinnedHelper) return pinnedHelper;
  return builtHelperPath();
}

/** The helper as built or installed (the pin's source). */
export function builtHelperPath(): string {
  const fromEnv = process.env.HAKO_SHIM;
  if (fromEnv) return fromEnv;
  const candidates = [
    path.resolve(__dirname, "../native/build/hako-shim"), // dist/*.cjs
    path.resolve(__dirname, "../../native/build/hako-shim"), // src/native/*.ts
  ];
  for (const c of candidates) if (existsSync(c)) return c;
  throw new InternalError(`the native helper hako-shim was not found (looked in ${candidates.join(", ")}); run npm run build`);
}

/**
 * hakod pins the helper (and the shim's loop binary beside it) read-only
 * under <runRoot>/bin, so that no start or exec pays for a sealed copy of
 * it (native/src/pin.c says why that is as safe). From here on helperPath()
 * names the pinned binary. Returns the undo for shutdown; a host where the
 * bind mount fails keeps the sealed copy, with the reason in `warn`.
 */
export function pinHelper(runRoot: string, warn: (why: string) => void): () => void {
  const source = builtHelperPath();
  const dir = path.join(runRoot, "bin");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pinned: string[] = [];
  const unpin = (): void => {
    if (pinnedHelper) pinnedHelper = undefined;
    for (const dst of pinned.splice(0).reverse()) spawnSync(source, ["unpin", dst], { stdio: "ignore" });
  };
  // The loop first: a shim started from the pinned helper looks for its loop beside it.
  for (const name of ["hako-shim-loop", path.basename(source)]) {
    const src = path.join(path.dirname(source), name);
    if (name !== path.basename(source) && !existsSync(src)) continue;
    const dst = path.join(dir, name);
    const r = spawnSync(source, ["pin", src, dst], { encoding: "utf8" });
    if (r.status !== 0) {
      warn((r.stderr || r.error?.message || `status ${r.status}`).trim());
      unpin();
      return () => {};
    }
    pinned.push(dst);
  }
  pinnedHelper = pinned[pinned.length - 1];
  return unpin;
}

/** One of stdin/stdout/stderr as child_process.spawn takes it. */
export type StdioSlot = IOType | Stream | number | null | undefined;

export interface ShimOptions {
  /** stdin, stdout, stderr of the helper (and of the container process). */
  stdio?: [StdioSlot, StdioSlot, StdioSlot];
  /** Called when the helper paused before pivot_root for createRuntime/createContainer hooks. */
  onHooks?: (pid: number) => Promise<void>;
  /** Run its own process group/session, so it outlives the caller's terminal. */
  detached?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface ShimExit {
  /** The helper's exit code: in run and exec modes the container process's status. */
  code: number;
  /** The set-up failure the helper reported, if any. */
  error?: SyscallError;
}

/** A running helper: one container set-up (create/run) or one exec. */
export class ShimProcess {
  /** The helper as Node spawned it; undefined when the daemon's spawner forked it. */
  readonly child: ChildProcess | undefined;
  /** The container process's pid (host view), once it is set up. */
  readonly pid: Promise<number>;
  /** Settles when the helper exits. */
  readonly exited: Promise<ShimExit>;
  private ctl: Socket | undefined;
  private spawned: (Socket | null)[] = [];
  private error: SyscallError | undefined;
  /** An exec helper's "exit <code>" line, written before it exits (sooner than its parent's report). */
  private reportExit: ((code: number) => void) | undefined;

  /**
   * With a spawner (hakod's), stdio slots "pipe" and "ignore" only: the
   * helper is forked by it, and its streams are there once `pid` resolved.
   */
  constructor(plan: Plan, options: ShimOptions & { spawner?: Spawner } = {}) {
    const stdio = options.stdio ?? ["inherit", "inherit", "inherit"];
    let resolvePid!: (pid: number) => void;
    let rejectPid!: (err: Error) => void;
    let pidSettled = false;
    this.pid = new Promise((res, rej) => {
      resolvePid = (pid) => {
        pidSettled = true;
        res(pid);
      };
      rejectPid = (err) => {
        pidSettled = true;
        rej(err);
      };
    });
    // A caller that only awaits `exited` must not see an unhandled rejection.
    this.pid.catch(() => {});
    const failed = (status: number): void => {
      // Every exit comes here; an error (and its stack) only for a helper that never said its pid.
      if (pidSettled) return;
      if (this.error) rejectPid(this.error);
      else rejectPid(new InternalError(`the native helper exited (status ${status}) before the container was set up`));
    };
    const startFailed = (err: Error): ShimExit => {
      const e = new SyscallError("spawn", 0, `start the native helper: ${err.message}`);
      this.error ??= e;
      rejectPid(e);
      return { code: 125, error: e };
    };

    const slots = stdio.map((s) => (s === "pipe" ? "pipe" : s === "ignore" ? "ignore" : undefined));
    if (options.spawner && !options.env && slots.every((s) => s !== undefined)) {
      this.child = undefined;
      const helperSlots = [...(slots as SpawnSlot[]), "pipe" as const];
      const run = async (helper: SpawnedHelper): Promise<ShimExit> => {
        this.spawned = helper.stdio;
        // The plan goes out now; the pid counts once the helper's other sockets are ours too.
        this.wireControl(helper.stdio[3]!, (pid) => void helper.ready.then(() => resolvePid(pid), rejectPid), options, plan);
        const reported = new Promise<number>((r) => (this.reportExit = r));
        await helper.ready.catch(() => {});
        // As Node's "close": the exit, and every stream ended. An exec helper lets go of the
        // process's stdout and stderr just before it says its exit on the control socket.
        const streams = helper.stdio.filter((x, i): x is Socket => x !== null && i < 3);
        // Its end (all read) or its close, whichever is first: a close waits for the next turn of the loop.
        const closed = (x: Socket): Promise<void> =>
          new Promise((r) => {
            if (x.destroyed || x.readableEnded) return r();
            x.once("end", () => r());
            x.once("close", () => r());
          });
        const status = await Promise.race([reported, helper.exitCode.then(async (s) => (await closed(helper.stdio[3]!), s))]);
        // As dockerd: once the process exited its streams get 2 s to end; one it left running in the
        // background that still holds them does not hold the exec (and its client) any longer.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.all(streams.map(closed)), new Promise((r) => (timer = setTimeout(r, STREAMS_AFTER_EXIT_MS)))]);
        clearTimeout(timer);
        for (const x of streams) if (!x.destroyed && !x.readableEnded) x.destroy();
        failed(status);
        return { code: status, error: this.error };
      };
      // A warm helper takes its plan at once, in the same write as its header line.
      const warm = options.spawner.takeWarm(helperSlots, { detached: options.detached });
      this.exited = warm ? run(warm) : options.spawner.spawn(helperSlots, { detached: options.detached }).then(run, (err: Error) => startFailed(err));
      return;
    }

    const child = spawn(helperPath(), [], {
      stdio: [stdio[0], stdio[1], stdio[2], "pipe"],
      detached: options.detached ?? false,
      env: options.env ?? process.env,
    });
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.on("error", (err) => resolve(startFailed(err)));
      child.on("close", (code, signal) => {
        const status = code ?? (signal ? 128 + (osSignalNumber(signal) ?? 0) : 1);
        failed(status);
        resolve({ code: status, error: this.error });
      });
    });
    this.wireControl(child.stdio[3] as Socket, resolvePid, options, plan);
  }

  /** hakod's ends of the helper's stdin, stdout, stderr ("pipe" slots; with a spawner, once pid resolved). */
  get stdin(): Writable | null {
    return this.child ? this.child.stdin : this.spawned[0] ?? null;
  }

  get stdout(): Readable | null {
    return this.child ? this.child.stdout : this.spawned[1] ?? null;
  }

  get stderr(): Readable | null {
    return this.child ? this.child.stderr : this.spawned[2] ?? null;
  }

  /** A line on the control socket (fd 3), which the helper reads while the process runs (resize, signal). */
  control(line: string): void {
    const ctl = this.ctl;
    if (ctl && !ctl.destroyed && ctl.writable) ctl.write(line);
  }

  /** Lets a run-mode process with `waitStart` go on to exec. */
  start(): void {
    this.control("start\n");
  }

  private wireControl(ctl: Socket, resolvePid: (pid: number) => void, options: ShimOptions, plan: Plan): void {
    this.ctl = ctl;
    let buffered = "";
    ctl.setEncoding("utf8");
    ctl.on("data", (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        this.onLine(line, resolvePid, options);
      }
    });
    ctl.on("error", () => {}); // EPIPE when the helper died early: its exit says why
    ctl.write(encodePlan(plan));
    // A warm helper's header line waits corked (Spawner.takeWarm): it and the plan go out now, together.
    if (ctl.writableCorked) ctl.uncork();
  }

  private onLine(line: string, resolvePid: (pid: number) => void, options: ShimOptions): void {
    const [kind, a, b, ...rest] = line.split(" ");
    if (kind === "pid") {
      resolvePid(Number(a));
    } else if (kind === "exit") {
      this.reportExit?.(Number(a));
    } else if (kind === "hooks") {
      const pid = Number(a);
      const hooks = options.onHooks ? options.onHooks(pid) : Promise.resolve();
      hooks.then(
        () => this.control("resume\n"),
        (err: unknown) => {
          this.error = err instanceof SyscallError ? err : new SyscallError("hooks", 0, String((err as Error)?.message ?? err));
          this.control("abort\n");
        },
      );
    } else if (kind === "error") {
      this.error ??= new SyscallError(a ?? "unknown", Number(b) || 0, rest.join(" "));
    }
  }
}

function osSignalNumber(signal: NodeJS.Signals): number | undefined {
  return osConstants.signals[signal];
}

/** Starts the helper with a plan. */
export function startShim(plan: Plan, options?: ShimOptions & { spawner?: Spawner }): ShimProcess {
  return new ShimProcess(plan, options);
}
