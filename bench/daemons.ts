/**
 * The daemons the engine-level benches drive through the same docker CLI:
 * a hakod and a dockerd, each started by hand on its own data root, exec
 * root and socket under the bench's temp directory, stopped by pid through
 * the bench's Cleanup. Shared by bench/engine.ts and bench/network.ts.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { log, type Cleanup } from "./common.ts";
import { summarize, type Summary } from "./stats.ts";

export const PROJECT = path.resolve(__dirname, "..");
export const HAKO = path.join(PROJECT, "bin/hako");
export const HAKOD = path.join(PROJECT, "dist/hakod.cjs");
export const HAKOD_LAUNCHER = path.join(PROJECT, "bin/hakod");
export const DOCKER = existsSync("/usr/local/bin/docker") ? "/usr/local/bin/docker" : "/usr/bin/docker";
export const DOCKERD = "/usr/sbin/dockerd";
export const IMAGE = "busybox:latest";

/** One engine as a command line: how to call it, and how to find its processes. */
export interface Engine {
  name: string;
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** Pids of the per-container shims of this engine. */
  shimPids(): number[];
  /** Pids whose RSS is the daemon's. */
  daemonPids(): number[];
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs a command to its end; throws with its stderr when it fails. */
export function run(e: Engine, args: string[], input?: Buffer): string {
  const r = spawnSync(e.argv[0]!, [...e.argv.slice(1), ...args], { env: e.env, input, maxBuffer: 1 << 30, encoding: input ? undefined : "utf8" });
  if (r.status !== 0) throw new Error(`${e.name}: ${args.join(" ")}: exit ${r.status}: ${String(r.stderr).trim()}`);
  return String(r.stdout);
}

/** Milliseconds a command takes from its start to its exit. */
export function timed(e: Engine, args: string[]): number {
  const t0 = performance.now();
  run(e, args);
  return performance.now() - t0;
}

/** `warmup` untimed calls, then `n` timed ones. */
export function samples(n: number, warmup: number, fn: () => number): Summary {
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(fn());
  return summarize(out)!;
}

/** Pids whose command line contains every one of `needles`. */
export function pidsMatching(...needles: string[]): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (needles.every((n) => cmdline.includes(n))) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function waitForSocket(e: Engine, what: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const r = spawnSync(e.argv[0]!, [...e.argv.slice(1), "version", "--format", "{{.Server.Version}}"], { env: e.env, encoding: "utf8" });
    if (r.status === 0) return;
    await sleep(100);
  }
  throw new Error(`${what} did not answer`);
}

/**
 * Unmounts whatever is still mounted under `dir`, deepest first: a daemon
 * or podman that failed leaves its storage mounts, and the temp dir cannot
 * go while they are there.
 */
export function unmountUnder(dir: string): void {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync("umount", ["-l", m]);
}

/** SIGTERM by pid, SIGKILL after 15 s; resolves once it exited. */
export async function stopChild(child: ChildProcess, what: string): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const done = new Promise<void>((r) => child.once("exit", () => r()));
  process.kill(child.pid, "SIGTERM");
  const timer = setTimeout(() => child.pid && child.exitCode === null && process.kill(child.pid, "SIGKILL"), 15_000);
  await done;
  clearTimeout(timer);
  log(`stopped ${what}`);
}

export interface HakodOptions {
  /** Extra environment of the daemon (e.g. HAKO_DEBUG). */
  env?: NodeJS.ProcessEnv;
  /** Where the daemon's stderr goes (a file path); default: nowhere. */
  logFile?: string;
}

/** Starts hakod on its own data root and socket; busybox:latest made from the host's busybox-static. */
export async function startHakod(tmp: string, cleanup: Cleanup, opts: HakodOptions = {}): Promise<{ engine: Engine; child: ChildProcess }> {
  const dir = path.join(tmp, "hakod");
  const socket = path.join(dir, "hako.sock");
  const execRoot = path.join(dir, "run");
  mkdirSync(dir, { recursive: true });
  const logFd = opts.logFile ? openSync(opts.logFile, "a") : "ignore";
  // Through its launcher, as it is installed (bin/hakod execs node: the pid is hakod's).
  const child = spawn(HAKOD_LAUNCHER, ["--data-root", path.join(dir, "root"), "-H", `unix://${socket}`, "--exec-root", execRoot, "--cgroup-parent", `/hako-bench-${process.pid}`], {
    stdio: ["ignore", logFd, logFd],
    env: { ...process.env, ...opts.env },
  });
  if (typeof logFd === "number") closeSync(logFd);
  cleanup.add("stop hakod", () => stopChild(child, "hakod"));
  const engine: Engine = {
    name: "hakod",
    argv: [DOCKER],
    env: { ...process.env, DOCKER_HOST: `unix://${socket}` },
    shimPids: () => {
      const root = path.join(execRoot, "containers");
      const pids: number[] = [];
      for (const id of existsSync(root) ? readdirSync(root) : []) {
        try {
          pids.push(Number(readFileSync(path.join(root, id, "shim.pid"), "utf8").trim()));
        } catch {
          // not running
        }
      }
      return pids;
    },
    daemonPids: () => (child.pid ? [child.pid] : []),
  };
  await waitForSocket(engine, "hakod", child);
  run({ ...engine, argv: [HAKO, "-H", `unix://${socket}`] }, ["image", "bootstrap"]);
  return { engine, child };
}

export interface DockerdOptions {
  /**
   * Networking on: containers join this existing bridge, which has its
   * address already (dockerd takes `--bridge` or `--bip`, not both), with
   * iptables rules. Without it dockerd runs with no bridge and no iptables.
   */
  bridge?: { name: string };
  /** docker-proxy for published ports (dockerd's default: on). Default here: off, unless a bridge is given. */
  userlandProxy?: boolean;
}

/**
 * dockerd by hand: own data root, exec root, socket and containerd namespace;
 * undefined when there is none (or BENCH_DOCKERD=0). `archive` (docker save
 * of busybox) is loaded into it.
 */
export async function startDockerd(tmp: string, cleanup: Cleanup, archive: Buffer, opts: DockerdOptions = {}): Promise<Engine | undefined> {
  if (process.env.BENCH_DOCKERD === "0" || !existsSync(DOCKERD)) return undefined;
  const dir = path.join(tmp, "dockerd");
  const socket = path.join(dir, "docker.sock");
  const ns = `hakobench${process.pid}`;
  const network = opts.bridge
    ? // ip_forward is the host's business (left as it is; dockerd would set FORWARD's policy to DROP when it turns it on).
      ["--bridge", opts.bridge.name, "--iptables=true", "--ip6tables=false", "--ip-forward=false", "--ip-masq=true"]
    : ["--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-masq=false"];
  const proxy = opts.userlandProxy ?? opts.bridge !== undefined;
  const child = spawn(
    DOCKERD,
    ["--data-root", path.join(dir, "root"), "--exec-root", path.join(dir, "exec"), "--pidfile", path.join(dir, "pid"), "-H", `unix://${socket}`,
      ...network, `--userland-proxy=${proxy}`,
      "--containerd-namespace", ns, "--containerd-plugins-namespace", `${ns}p`],
    { stdio: ["ignore", "ignore", "ignore"] },
  );
  cleanup.add("stop dockerd", () => stopChild(child, "dockerd"));
  const engine: Engine = {
    name: "dockerd",
    argv: [DOCKER],
    env: { ...process.env, DOCKER_HOST: `unix://${socket}` },
    shimPids: () => pidsMatching("containerd-shim-runc-v2", ns),
    daemonPids: () => [...(child.pid ? [child.pid] : []), ...pidsMatching("containerd", path.join(dir, "exec"))],
  };
  try {
    await waitForSocket(engine, "dockerd", child);
  } catch (err) {
    log(`bench: dockerd: ${(err as Error).message}; docker rows skipped`);
    return undefined;
  }
  run(engine, ["load", "-q"], archive);
  return engine;
}
