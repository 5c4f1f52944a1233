/**
 * The engine bench: hakod beside dockerd (and podman) through the same
 * client, as issue 4 asks. `npm run bench -- engine` (or BENCH_ONLY=engine).
 *
 *   BENCH_ENGINE_RUNS=15    timed runs of each latency row (min and median reported)
 *   BENCH_ENGINE_BATCH=50   containers of the `run -d` batch (and of the memory rows)
 *   BENCH_DOCKERD=0         do not start a dockerd (it is started by hand, on its
 *                           own data root and socket, with networking off)
 *   BENCH_JSON=FILE         also write the results as JSON to FILE
 *
 * Rows (the docker 28 CLI at /usr/local/bin/docker is the client on both sides):
 *   run      `docker run --rm --network none busybox true`, start of the client to its exit
 *   exec     `docker exec C true` in a running container
 *   run -d   BATCH × `docker run -d ... sleep` one after the other, total
 *   rm -f    `docker rm -f C` of a running container
 *   shim     the memory each idle container costs on the host: its shim's (hako-shim,
 *            containerd-shim-runc-v2, conmon) RSS and PSS, averaged over the batch
 *   daemon   the idle daemon's RSS (dockerd: dockerd + its containerd)
 *   hako     `hako version` beside `node -e 0`, and `hako run --rm` beside docker's run
 *
 * Ratios are hako's over docker's (below 1: hako is faster or smaller).
 * Everything it starts is stopped by pid and its temp dirs removed, also on
 * Ctrl-C or an error.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { Cleanup, intEnv, log, table } from "./common.ts";
import { summarize, type Summary } from "./stats.ts";

const PROJECT = path.resolve(__dirname, "..");
const HAKO = path.join(PROJECT, "bin/hako");
const HAKOD = path.join(PROJECT, "dist/hakod.cjs");
const DOCKER = existsSync("/usr/local/bin/docker") ? "/usr/local/bin/docker" : "/usr/bin/docker";
const IMAGE = "busybox:latest";

/** One engine as a command line: how to call it, and how to find its processes. */
interface Engine {
  name: string;
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** Pids of the per-container shims of this engine. */
  shimPids(): number[];
  /** Pids whose RSS is the daemon's. */
  daemonPids(): number[];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs a command to its end; throws with its stderr when it fails. */
function run(e: Engine, args: string[], input?: Buffer): string {
  const r = spawnSync(e.argv[0]!, [...e.argv.slice(1), ...args], { env: e.env, input, maxBuffer: 1 << 30, encoding: input ? undefined : "utf8" });
  if (r.status !== 0) throw new Error(`${e.name}: ${args.join(" ")}: exit ${r.status}: ${String(r.stderr).trim()}`);
  return String(r.stdout);
}

function timed(e: Engine, args: string[]): number {
  const t0 = performance.now();
  run(e, args);
  return performance.now() - t0;
}

function samples(n: number, warmup: number, fn: () => number): Summary {
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(fn());
  return summarize(out)!;
}

/** VmRSS and Pss (kB) of a process; zeros when it is gone. */
function memoryOf(pid: number): { rss: number; pss: number } {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(rollup)?.[1] ?? 0);
    return { rss: field("Rss"), pss: field("Pss") };
  } catch {
    return { rss: 0, pss: 0 };
  }
}

/** Pids whose command line contains every one of `needles`. */
function pidsMatching(...needles: string[]): number[] {
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

async function stopChild(child: ChildProcess, what: string): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const done = new Promise<void>((r) => child.once("exit", () => r()));
  process.kill(child.pid, "SIGTERM");
  const timer = setTimeout(() => child.pid && child.exitCode === null && process.kill(child.pid, "SIGKILL"), 15_000);
  await done;
  clearTimeout(timer);
  log(`stopped ${what}`);
}

/** Starts hakod on its own data root and socket; busybox:latest made from the host's busybox-static. */
async function startHakod(tmp: string, cleanup: Cleanup): Promise<{ engine: Engine; child: ChildProcess }> {
  const dir = path.join(tmp, "hakod");
  const socket = path.join(dir, "hako.sock");
  const execRoot = path.join(dir, "run");
  const child = spawn(process.execPath, [HAKOD, "--data-root", path.join(dir, "root"), "-H", `unix://${socket}`, "--exec-root", execRoot, "--cgroup-parent", `/hako-bench-${process.pid}`], {
    stdio: ["ignore", "ignore", "ignore"],
  });
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

/** dockerd by hand: own data root, exec root, socket and containerd namespace; no bridge, no iptables. */
async function startDockerd(tmp: string, cleanup: Cleanup, archive: Buffer): Promise<Engine | undefined> {
  if (process.env.BENCH_DOCKERD === "0" || !existsSync("/usr/sbin/dockerd")) return undefined;
  const dir = path.join(tmp, "dockerd");
  const socket = path.join(dir, "docker.sock");
  const ns = `hakobench${process.pid}`;
  const child = spawn(
    "/usr/sbin/dockerd",
    ["--data-root", path.join(dir, "root"), "--exec-root", path.join(dir, "exec"), "--pidfile", path.join(dir, "pid"), "-H", `unix://${socket}`,
      "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-masq=false", "--userland-proxy=false",
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

function startPodman(tmp: string, archive: Buffer): Engine | undefined {
  if (spawnSync("podman", ["--version"]).status !== 0) return undefined;
  const dir = path.join(tmp, "podman");
  const engine: Engine = {
    name: "podman",
    argv: ["podman", "--root", path.join(dir, "root"), "--runroot", path.join(dir, "run"), "--cgroup-manager", "cgroupfs", "--events-backend", "none"],
    env: process.env,
    shimPids: () => pidsMatching("conmon", path.join(dir, "run")),
    daemonPids: () => [],
  };
  const file = path.join(tmp, "busybox.tar");
  writeFileSync(file, archive);
  try {
    run(engine, ["load", "-q", "-i", file]);
  } catch (err) {
    log(`bench: podman: ${(err as Error).message}; podman rows skipped`);
    return undefined;
  }
  return engine;
}

/** The latency rows and the memory of a batch of idle containers, for one engine. */
function measure(e: Engine, runs: number, batch: number): Record<string, Summary> {
  const out: Record<string, Summary> = {};
  const runArgs = ["run", "--rm", "--network", "none", IMAGE, "true"];
  log(`${e.name}: run-to-exit`);
  out.run = samples(runs, 2, () => timed(e, runArgs));
  const holder = run(e, ["run", "-d", "--network", "none", IMAGE, "sleep", "3600"]).trim();
  try {
    log(`${e.name}: exec`);
    out.exec = samples(runs, 2, () => timed(e, ["exec", holder, "true"]));
  } finally {
    run(e, ["rm", "-f", holder]);
  }
  log(`${e.name}: ${batch} × run -d`);
  const ids: string[] = [];
  try {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) ids.push(run(e, ["run", "-d", "--network", "none", IMAGE, "sleep", "3600"]).trim());
    out.runBatch = summarize([performance.now() - t0])!;
    // Idle: let start-up allocations settle before reading memory.
    spawnSync("sleep", ["2"]);
    const shims = e.shimPids();
    if (shims.length > 0) {
      const mem = shims.map(memoryOf);
      out.shimRss = summarize(mem.map((m) => m.rss))!;
      out.shimPss = summarize(mem.map((m) => m.pss))!;
    }
    const daemon = e.daemonPids();
    if (daemon.length > 0) out.daemonRssBusy = summarize([daemon.map((p) => memoryOf(p).rss).reduce((a, b) => a + b, 0)])!;
  } finally {
    log(`${e.name}: rm -f`);
    const rm: number[] = [];
    for (const id of ids) rm.push(timed(e, ["rm", "-f", id]));
    if (rm.length) out.rm = summarize(rm)!;
  }
  spawnSync("sleep", ["2"]);
  const daemon = e.daemonPids();
  if (daemon.length > 0) out.daemonRss = summarize([daemon.map((p) => memoryOf(p).rss).reduce((a, b) => a + b, 0)])!;
  return out;
}

function fmt(s: Summary | undefined, unit: string): string {
  if (!s) return "-";
  if (unit === "ms") return s.n > 1 ? `${s.min.toFixed(0)} / ${s.median.toFixed(0)}` : s.min.toFixed(0);
  return s.n > 1 ? `${(s.mean / 1024).toFixed(2)}` : `${(s.min / 1024).toFixed(1)}`;
}

function ratio(a: Summary | undefined, b: Summary | undefined): string {
  if (!a || !b) return "-";
  const pick = (s: Summary): number => (s.n > 1 && s.min > 1000 ? s.mean : s.min);
  return `${(pick(a) / pick(b)).toFixed(2)}×`;
}

export async function runEngineBench(): Promise<number> {
  if (!existsSync(HAKOD)) {
    log("bench: dist/hakod.cjs is missing: run npm run build first");
    return 2;
  }
  if (!existsSync(DOCKER)) {
    log("bench: the engine bench drives both daemons with the docker CLI; none found");
    return 2;
  }
  const runs = intEnv("BENCH_ENGINE_RUNS", 15, 1);
  const batch = intEnv("BENCH_ENGINE_BATCH", 50, 1);
  const cleanup = new Cleanup();
  const tmp = mkdtempSync(path.join(os.tmpdir(), "hako-bench-engine-"));
  cleanup.add(`remove ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
  let stopped = false;
  const onSignal = (): void => {
    stopped = true;
  };
  process.on("SIGINT", onSignal);
  try {
    const hakod = await startHakod(tmp, cleanup);
    const idleHakod = memoryOf(hakod.child.pid!).rss;
    const archive = spawnSync(DOCKER, ["save", IMAGE], { env: hakod.engine.env, maxBuffer: 1 << 28 }).stdout;
    const dockerd = await startDockerd(tmp, cleanup, archive);
    const podman = startPodman(tmp, archive);
    const results: Record<string, Record<string, Summary>> = {};
    for (const e of [hakod.engine, dockerd, podman]) {
      if (!e || stopped) continue;
      results[e.name] = measure(e, runs, batch);
    }
    // The hako client itself.
    const hakoEngine: Engine = { ...hakod.engine, name: "hako", argv: [HAKO, "-H", hakod.engine.env.DOCKER_HOST!] };
    const node = samples(runs, 2, () => {
      const t0 = performance.now();
      spawnSync(process.execPath, ["-e", "0"]);
      return performance.now() - t0;
    });
    const hakoVersion = samples(runs, 2, () => timed(hakoEngine, ["version"]));
    const hakoRun = samples(runs, 2, () => timed(hakoEngine, ["run", "--rm", "--network", "none", IMAGE, "true"]));

    const h = results.hakod ?? {};
    const d = results.dockerd ?? {};
    const p = results.podman ?? {};
    const rows: string[][] = [["row (docker CLI)", "unit", "hakod", "dockerd", "podman", "hakod/dockerd"]];
    const add = (label: string, key: string, unit: string): void => {
      rows.push([label, unit === "ms" ? "ms min / med" : "MiB", fmt(h[key], unit), fmt(d[key], unit), fmt(p[key], unit), ratio(h[key], d[key])]);
    };
    add("run --rm true", "run", "ms");
    add("exec true", "exec", "ms");
    add(`${batch} × run -d`, "runBatch", "ms");
    add("rm -f (running)", "rm", "ms");
    add("shim RSS / container", "shimRss", "kB");
    add("shim PSS / container", "shimPss", "kB");
    add(`daemon RSS (${batch} running)`, "daemonRssBusy", "kB");
    add("daemon RSS (idle)", "daemonRss", "kB");
    log("");
    process.stdout.write(`${table(rows, new Set([2, 3, 4, 5]))}\n\n`);
    const client: string[][] = [
      ["hako client", "ms min / med", "vs"],
      ["node -e 0", fmt(node, "ms"), ""],
      ["hako version", fmt(hakoVersion, "ms"), `${(hakoVersion.min / node.min).toFixed(2)}× node -e 0`],
      ["hako run --rm true", fmt(hakoRun, "ms"), d.run ? `${(hakoRun.min / d.run.min).toFixed(2)}× docker → dockerd` : ""],
    ];
    process.stdout.write(`${table(client, new Set([1]))}\nhakod idle before any container: ${(idleHakod / 1024).toFixed(1)} MiB RSS\n`);
    const json = { date: new Date().toISOString(), runs, batch, results, client: { node, hakoVersion, hakoRun }, hakodIdleRssKb: idleHakod };
    writeFileSync(path.join(PROJECT, "bench/results/engine-latest.json"), `${JSON.stringify(json, null, 2)}\n`);
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(json, null, 2)}\n`);
    return 0;
  } finally {
    await cleanup.run();
  }
}

if (require.main === module) {
  void runEngineBench().then((code) => (process.exitCode = code));
}
