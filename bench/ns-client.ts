/**
 * The bench's side of bench/ns-runner.ts: starts the runner in a private
 * mount namespace with /sys/fs/cgroup/unified unmounted, and sends it jobs.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { Job, JobResult } from "./exec.ts";

export const CGV1_NS_MODE = "private mount ns, /sys/fs/cgroup/unified unmounted (cgroup v1 only)";

export class NsRunner {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, { resolve: (r: JobResult) => void; reject: (e: Error) => void }>();
  #seq = 0;
  #exited = false;
  #exitWaiters: (() => void)[] = [];
  /** Resolves once the runner says it is ready; tells whether the unified mount is still there. */
  readonly ready: Promise<{ unifiedMounted: boolean }>;

  constructor(benchDir: string) {
    const runner = path.join(benchDir, "ns-runner.ts");
    // $0 and $@ of sh -c: node, its flags (--import tsx), the script.
    const script = 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"';
    this.#child = spawn(
      "unshare",
      ["-m", "--propagation", "private", "--", "sh", "-c", script, process.execPath, ...process.execArgv, runner],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    let onReady!: (v: { unifiedMounted: boolean }) => void;
    let onFail!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      onReady = res;
      onFail = rej;
    });
    this.ready.catch(() => {});

    let buffered = "";
    this.#child.stdout!.setEncoding("utf8");
    this.#child.stdout!.on("data", (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let msg: { ready?: boolean; unifiedMounted?: boolean; seq?: number; result?: JobResult; error?: string };
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (msg.ready) {
          onReady({ unifiedMounted: Boolean(msg.unifiedMounted) });
          continue;
        }
        const w = this.#waiting.get(msg.seq ?? -1);
        if (!w) continue;
        this.#waiting.delete(msg.seq!);
        if (msg.result) w.resolve(msg.result);
        else w.reject(new Error(`ns runner: ${msg.error ?? "no result"}`));
      }
    });
    this.#child.stdin!.on("error", () => {});
    const died = (why: string): void => {
      this.#exited = true;
      const err = new Error(`ns runner ${why}`);
      onFail(err);
      for (const w of this.#waiting.values()) w.reject(err);
      this.#waiting.clear();
      for (const f of this.#exitWaiters.splice(0)) f();
    };
    this.#child.on("error", (e) => died(`could not start: ${e.message}`));
    this.#child.on("exit", (code, signal) => died(`exited (${signal ?? code})`));
  }

  run(job: Job): Promise<JobResult> {
    if (this.#exited) return Promise.reject(new Error("ns runner is gone"));
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#waiting.set(seq, { resolve, reject });
      this.#child.stdin!.write(`${JSON.stringify({ seq, job })}\n`);
    });
  }

  /** Closes its stdin: it deletes what it left and exits. Waits up to `ms`, then kills it. */
  async close(ms = 30_000): Promise<void> {
    if (this.#exited) return;
    const gone = new Promise<void>((res) => this.#exitWaiters.push(res));
    this.#child.stdin!.end();
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), ms);
    await gone;
    clearTimeout(timer);
  }
}
