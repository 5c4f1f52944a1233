/**
 * A throw-away hakod for API tests: its own data root and socket in a temp
 * directory, started from dist/hakod.cjs (run `npm run build` first),
 * stopped by pid, its files removed. A process-exit hook kills any daemon a
 * failing test left behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import http, { type IncomingHttpHeaders } from "node:http";
import os from "node:os";
import path from "node:path";

export const PROJECT = path.resolve(__dirname, "../..");
export const HAKOD_BUNDLE = path.join(PROJECT, "dist/hakod.cjs");
export const HAKO_BIN = path.join(PROJECT, "bin/hako");

export interface ApiResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON (throws when it is not). */
  json<T = any>(): T;
}

export interface RequestOptions {
  body?: string | Buffer | object;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** One request on a unix socket; the whole body is read. */
export function apiRequest(socketPath: string, method: string, urlPath: string, options: RequestOptions = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...options.headers };
  let payload: Buffer | undefined;
  if (options.body !== undefined) {
    if (typeof options.body === "string" || Buffer.isBuffer(options.body)) payload = Buffer.from(options.body);
    else {
      payload = Buffer.from(JSON.stringify(options.body));
      headers["Content-Type"] ??= "application/json";
    }
    headers["Content-Length"] = String(payload.length);
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: urlPath, headers, agent: false, timeout: options.timeoutMs ?? 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
    req.on("error", reject);
    req.end(payload);
  });
}

export interface TestDaemon {
  readonly dir: string;
  readonly dataRoot: string;
  readonly socket: string;
  /** unix://<socket>, for -H and DOCKER_HOST. */
  readonly host: string;
  readonly pidfile: string;
  readonly logFile: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** The daemon's log so far. */
  log(): string;
  request(method: string, urlPath: string, options?: RequestOptions): Promise<ApiResponse>;
  /** True while the process runs. */
  alive(): boolean;
  /** SIGTERM (SIGKILL after 5 s), then the temp directory goes. */
  stop(): Promise<void>;
  /** SIGKILL without cleanup by the daemon (leaves a stale socket); the temp directory stays. */
  kill(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) {
    try {
      if (child.pid) process.kill(child.pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
});

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

export interface StartOptions {
  debug?: boolean;
  /** Reuse a directory (for restart tests); a new temp dir otherwise. */
  dir?: string;
  /** Replace the -H arguments. */
  hosts?: string[];
  extraArgs?: string[];
  /** Don't wait for the ping (for start-up failure tests). */
  noWait?: boolean;
}

/**
 * Starts a hakod and waits until it answers /_ping.
 *
 * @example before(async () => (d = await startDaemon())); after(() => d.stop());
 */
export async function startDaemon(options: StartOptions = {}): Promise<TestDaemon> {
  if (!existsSync(HAKOD_BUNDLE)) throw new Error(`${HAKOD_BUNDLE} is missing: run npm run build`);
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), "hakod-"));
  const dataRoot = path.join(dir, "root");
  const socket = path.join(dir, "hako.sock");
  const pidfile = path.join(dir, "hakod.pid");
  const logFile = path.join(dir, "hakod.log");
  const hosts = options.hosts ?? [`unix://${socket}`];
  const args = [HAKOD_BUNDLE, "--data-root", dataRoot, "--pidfile", pidfile, ...hosts.flatMap((h) => ["-H", h])];
  if (options.debug) args.push("--debug");
  args.push(...(options.extraArgs ?? []));
  const fd = openSync(logFile, "a");
  const child = spawn(process.execPath, args, { stdio: ["ignore", fd, fd] });
  closeSync(fd);
  running.add(child);
  child.once("exit", () => running.delete(child));

  const daemon: TestDaemon = {
    dir,
    dataRoot,
    socket,
    host: `unix://${socket}`,
    pidfile,
    logFile,
    pid: child.pid!,
    child,
    log: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : ""),
    request: (method, urlPath, opts) => apiRequest(socket, method, urlPath, opts),
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      if (daemon.alive()) {
        // hakod leaves containers running on SIGTERM (live restore): remove them first, so no shim, cgroup or mount outlives the test.
        await removeAllContainers(socket);
        process.kill(child.pid!, "SIGTERM");
        const timer = setTimeout(() => daemon.alive() && process.kill(child.pid!, "SIGKILL"), 5000);
        await exited(child);
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      if (daemon.alive()) {
        process.kill(child.pid!, "SIGKILL");
        await exited(child);
      }
    },
  };
  if (options.noWait) return daemon;

  const deadline = Date.now() + 10_000;
  for (;;) {
    if (!daemon.alive()) throw new Error(`hakod exited (${child.exitCode ?? child.signalCode}) before answering:\n${daemon.log()}`);
    try {
      const res = await apiRequest(socket, "GET", "/_ping", { timeoutMs: 1000 });
      if (res.status === 200) return daemon;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await daemon.stop();
      throw new Error(`hakod did not answer within 10 s:\n${daemon.log()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Force-removes every container of the daemon on `socketPath` (with their
 * anonymous volumes) through the API; a daemon without a containers
 * service, or one that does not answer, is left as it is.
 */
export async function removeAllContainers(socketPath: string): Promise<void> {
  let list: { Id: string }[];
  try {
    const res = await apiRequest(socketPath, "GET", "/containers/json?all=1", { timeoutMs: 5000 });
    if (res.status !== 200) return;
    list = res.json<{ Id: string }[]>();
  } catch {
    return;
  }
  for (const c of list) {
    try {
      await apiRequest(socketPath, "DELETE", `/containers/${c.Id}?force=1&v=1`, { timeoutMs: 20_000 });
    } catch {
      // gone already, or the daemon is failing: SIGTERM follows anyway
    }
  }
}

/** Waits for the process to exit; resolves with its exit code. */
export async function exitCodeOf(daemon: TestDaemon, timeoutMs = 10_000): Promise<number | null> {
  const timer = setTimeout(() => daemon.alive() && process.kill(daemon.pid, "SIGKILL"), timeoutMs);
  await exited(daemon.child);
  clearTimeout(timer);
  return daemon.child.exitCode;
}
