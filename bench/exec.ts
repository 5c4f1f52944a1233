/**
 * Times one command: process.hrtime around spawnSync, stdio to /dev/null.
 * Used in the bench process itself (host mount namespace) and in
 * bench/ns-runner.ts (a private mount namespace), so both measure alike.
 */
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, rmSync } from "node:fs";

/** GNU time, for the peak RSS pass (wait4's ru_maxrss of the command and the children it waited for). */
export const GNU_TIME = "/usr/bin/time";

export interface Job {
  /** The command to time. */
  argv: string[];
  /** Opened read-only and handed over as fd 3 (hako-shim's plan), a fresh open per run. */
  fd3File?: string;
  /**
   * Untimed, after the run: when `stateDir` still exists (the runtime kept
   * the container), run `argv` to delete it.
   */
  cleanup?: { stateDir: string; argv: string[] };
  /** Keep stderr (untimed runs: warm-up) to explain a failure. */
  captureStderr?: boolean;
  /** Run under GNU time and report the peak RSS in kB (untimed pass). */
  rssFile?: string;
  timeoutMs?: number;
}

export interface JobResult {
  /** Wall time from spawn to exit, milliseconds. */
  ms: number;
  status: number | null;
  signal: string | null;
  /** Set when captureStderr was asked for, or when the spawn itself failed. */
  stderr?: string;
  rssKb?: number;
}

export class Executor {
  /** Deletes still to do, should a run be interrupted before its own clean-up. */
  readonly #pending = new Map<string, string[]>();

  run(job: Job): JobResult {
    let argv = job.argv;
    if (job.rssFile) argv = [GNU_TIME, "-f", "%M", "-o", job.rssFile, ...argv];
    if (job.cleanup) this.#pending.set(job.cleanup.stateDir, job.cleanup.argv);
    const fd3 = job.fd3File === undefined ? undefined : openSync(job.fd3File, "r");
    let result: JobResult;
    try {
      const stdio = ["ignore", "ignore", job.captureStderr ? "pipe" : "ignore", ...(fd3 === undefined ? [] : [fd3])] as (
        | "ignore"
        | "pipe"
        | number
      )[];
      const t0 = process.hrtime.bigint();
      const r = spawnSync(argv[0]!, argv.slice(1), {
        stdio,
        timeout: job.timeoutMs ?? 60_000,
        killSignal: "SIGKILL",
      });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      result = { ms, status: r.status, signal: r.signal };
      if (r.error) result.stderr = `${r.error.message}`;
      else if (job.captureStderr) result.stderr = String(r.stderr ?? "").trim();
    } finally {
      if (fd3 !== undefined) closeSync(fd3);
    }
    if (job.rssFile) {
      try {
        const kb = Number.parseInt(readFileSync(job.rssFile, "utf8").trim().split("\n").pop() ?? "", 10);
        if (Number.isFinite(kb)) result.rssKb = kb;
      } catch {
        // no rss: the column shows "-"
      }
      rmSync(job.rssFile, { force: true });
    }
    if (job.cleanup) {
      this.#deleteIfKept(job.cleanup.stateDir, job.cleanup.argv);
      this.#pending.delete(job.cleanup.stateDir);
    }
    return result;
  }

  /** Deletes every container a run may have left; returns what it had to delete. */
  cleanupAll(): string[] {
    const done: string[] = [];
    for (const [stateDir, argv] of this.#pending) {
      if (this.#deleteIfKept(stateDir, argv)) done.push(stateDir);
    }
    this.#pending.clear();
    return done;
  }

  #deleteIfKept(stateDir: string, argv: string[]): boolean {
    if (!existsSync(stateDir)) return false;
    spawnSync(argv[0]!, argv.slice(1), { stdio: "ignore", timeout: 30_000, killSignal: "SIGKILL" });
    return true;
  }
}
