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
 *   floor    the docker CLI's run and exec against a daemon that answers at once
 *            (bench/canned-daemon.ts): the client's own part of those rows, which
 *            no daemon goes below; "over the floor" compares what is left
 *   process  the host's busybox `true` forked, exec'd and reaped (by busybox sh,
 *            in a loop): the part of an exec that is the command itself, paid by
 *            every engine; floor + process over dockerd's exec is the lowest
 *            exec ratio any daemon could reach in this run
 *
 * Ratios are hako's over docker's (below 1: hako is faster or smaller).
 * Everything it starts is stopped by pid and its temp dirs removed, also on
 * Ctrl-C or an error.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { Cleanup, intEnv, log, table } from "./common.ts";
import { DOCKER, HAKO, HAKOD, IMAGE, PROJECT, pidsMatching, run, samples, startDockerd, startHakod, stopChild, timed, unmountUnder, type Engine } from "./daemons.ts";
import { summarize, type Summary } from "./stats.ts";
import { HOST_BUSYBOX } from "../src/image/busybox.ts";

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

function startPodman(tmp: string, archive: Buffer): Engine | undefined {
  if (spawnSync("podman", ["--version"]).status !== 0) return undefined;
  const dir = path.join(tmp, "podman");
  // This host's layout (cgroup v1 plus a hugetlb-only cgroup2) is refused by
  // crun, and podman's default ulimits exceed the host's hard limits: runc,
  // and ulimits the host allows, for podman's own configuration file.
  mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, "containers.conf");
  writeFileSync(conf, '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n[engine]\nruntime = "runc"\n');
  const engine: Engine = {
    name: "podman",
    argv: ["podman", "--root", path.join(dir, "root"), "--runroot", path.join(dir, "run"), "--cgroup-manager", "cgroupfs", "--events-backend", "none"],
    env: { ...process.env, CONTAINERS_CONF: conf },
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

/** The docker CLI's run and exec against bench/canned-daemon.ts: the client's own time. */
async function measureFloor(tmp: string, cleanup: Cleanup, runs: number): Promise<Record<string, Summary>> {
  const socket = path.join(tmp, "canned.sock");
  const child = spawn(process.execPath, ["--import", "tsx", path.join(PROJECT, "bench/canned-daemon.ts"), socket], { stdio: ["ignore", "pipe", "inherit"], cwd: PROJECT });
  cleanup.add("stop the canned daemon", () => stopChild(child, "canned daemon"));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`the canned daemon exited (${code})`)));
  });
  const e: Engine = { name: "canned", argv: [DOCKER], env: { ...process.env, DOCKER_HOST: `unix://${socket}` }, shimPids: () => [], daemonPids: () => [] };
  log("docker CLI alone: run-to-exit, exec");
  const out = {
    run: samples(runs, 2, () => timed(e, ["run", "--rm", "--network", "none", IMAGE, "true"])),
    exec: samples(runs, 2, () => timed(e, ["exec", "c0ffee", "true"])),
  };
  await stopChild(child, "canned daemon");
  return out;
}

/** Milliseconds the host's busybox takes to fork, exec and reap `true`, per call (min and median of `runs` loops). */
function measureProcess(runs: number): Summary {
  const calls = 200;
  const loop = `i=0; while [ $i -lt ${calls} ]; do ${HOST_BUSYBOX} true; i=$((i+1)); done`;
  return samples(runs, 1, () => {
    const t0 = performance.now();
    spawnSync(HOST_BUSYBOX, ["sh", "-c", loop]);
    return (performance.now() - t0) / calls;
  });
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
  // Below 10 ms a tenth is still read.
  const ms = (v: number): string => v.toFixed(v < 10 ? 1 : 0);
  if (unit === "ms") return s.n > 1 ? `${ms(s.min)} / ${ms(s.median)}` : ms(s.min);
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
  cleanup.add(`remove ${tmp}`, () => {
    unmountUnder(tmp);
    rmSync(tmp, { recursive: true, force: true });
  });
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
      try {
        results[e.name] = measure(e, runs, batch);
      } catch (err) {
        // podman may not run containers here (rootless limits, crun); the other rows still count.
        if (e !== podman) throw err;
        log(`bench: podman: ${(err as Error).message.split("\n")[0]}; podman rows skipped`);
      }
    }
    const floor: Record<string, Summary> = stopped ? {} : await measureFloor(tmp, cleanup, runs);
    if (existsSync(HOST_BUSYBOX)) floor.process = measureProcess(runs);
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
    process.stdout.write(`${table(client, new Set([1]))}\n\n`);
    const over = (key: string): string => {
      const f = floor[key];
      const hk = h[key];
      const dk = d[key];
      return f && hk && dk ? `${((hk.min - f.min) / (dk.min - f.min)).toFixed(2)}×` : "-";
    };
    // No daemon's exec is faster than the client's own part plus the command's.
    const lowest = floor.exec && floor.process && d.exec ? `${((floor.exec.min + floor.process.min) / d.exec.min).toFixed(2)}×` : "-";
    const floors: string[][] = [
      ["docker CLI alone", "ms min / med", "hakod/dockerd over it"],
      ["run --rm true", fmt(floor.run, "ms"), over("run")],
      ["exec true", fmt(floor.exec, "ms"), over("exec")],
      ["busybox true (host)", fmt(floor.process, "ms"), `lowest exec ratio: ${lowest}`],
    ];
    process.stdout.write(`${table(floors, new Set([1, 2]))}\nhakod idle before any container: ${(idleHakod / 1024).toFixed(1)} MiB RSS\n`);
    const json = { date: new Date().toISOString(), runs, batch, results, floor, client: { node, hakoVersion, hakoRun }, hakodIdleRssKb: idleHakod };
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
