/**
 * The one TypeScript module that starts the native helper (native/, built
 * as hako-shim) and speaks its control protocol: the plan goes out on fd 3,
 * text lines come back on the same socket (see native/src/msg.h).
 */
import { spawn, spawnSync, type ChildProcess, type IOType } from "node:child_process";
import type { Stream } from "node:stream";
import { existsSync, mkdirSync } from "node:fs";
import { constants as osConstants } from "node:os";
import path from "node:path";
import type { Socket } from "node:net";
import { InternalError, SyscallError } from "../common/errors.ts";
import { encodePlan, type Plan } from "./plan.ts";

let pinnedHelper: string | undefined;

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
  readonly child: ChildProcess;
  /** The container process's pid (host view), once it is set up. */
  readonly pid: Promise<number>;
  /** Settles when the helper exits. */
  readonly exited: Promise<ShimExit>;
  private ctl: Socket;
  private error: SyscallError | undefined;

  constructor(plan: Plan, options: ShimOptions = {}) {
    const stdio = options.stdio ?? ["inherit", "inherit", "inherit"];
    this.child = spawn(helperPath(), [], {
      stdio: [stdio[0], stdio[1], stdio[2], "pipe"],
      detached: options.detached ?? false,
      env: options.env ?? process.env,
    });
    this.ctl = this.child.stdio[3] as Socket;

    let resolvePid!: (pid: number) => void;
    let rejectPid!: (err: Error) => void;
    this.pid = new Promise((res, rej) => {
      resolvePid = res;
      rejectPid = rej;
    });
    // A caller that only awaits `exited` must not see an unhandled rejection.
    this.pid.catch(() => {});

    let buffered = "";
    this.ctl.setEncoding("utf8");
    this.ctl.on("data", (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        this.onLine(line, resolvePid, options);
      }
    });
    this.ctl.on("error", () => {}); // EPIPE when the helper died early: its exit says why

    this.exited = new Promise((resolve) => {
      this.child.on("error", (err) => {
        const e = new SyscallError("spawn", 0, `start the native helper: ${err.message}`);
        this.error ??= e;
        rejectPid(e);
        resolve({ code: 125, error: e });
      });
      this.child.on("close", (code, signal) => {
        const status = code ?? (signal ? 128 + (osSignalNumber(signal) ?? 0) : 1);
        if (this.error) rejectPid(this.error);
        else rejectPid(new InternalError(`the native helper exited (status ${status}) before the container was set up`));
        resolve({ code: status, error: this.error });
      });
    });

    this.ctl.write(encodePlan(plan));
  }

  /** Lets a run-mode process with `waitStart` go on to exec. */
  start(): void {
    this.ctl.write("start\n");
  }

  private onLine(line: string, resolvePid: (pid: number) => void, options: ShimOptions): void {
    const [kind, a, b, ...rest] = line.split(" ");
    if (kind === "pid") {
      resolvePid(Number(a));
    } else if (kind === "hooks") {
      const pid = Number(a);
      const hooks = options.onHooks ? options.onHooks(pid) : Promise.resolve();
      hooks.then(
        () => this.ctl.write("resume\n"),
        (err: unknown) => {
          this.error = err instanceof SyscallError ? err : new SyscallError("hooks", 0, String((err as Error)?.message ?? err));
          this.ctl.write("abort\n");
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
export function startShim(plan: Plan, options?: ShimOptions): ShimProcess {
  return new ShimProcess(plan, options);
}
