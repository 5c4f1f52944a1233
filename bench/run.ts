/**
 * npm run bench: the time to run busybox `true` to exit in a fresh
 * container, hako side by side with crun, runc (and docker/podman when an
 * engine answers), on one bundle: same rootfs, same config.json.
 *
 *   BENCH_RUNS=30     timed runs per variant (round-robin across variants)
 *   BENCH_WARMUP=3    untimed warm-up runs per variant (at least 1: it checks each variant works)
 *   BENCH_SEED=1      seed of the per-round random order
 *   BENCH_ONLY=a,b    only these variant keys (crun is always kept, for the ratios)
 *
 * `npm run bench -- images` (or BENCH_ONLY=images) runs the images bench
 * instead: push/pull/save/load beside skopeo, and a pull's memory (bench/images.ts).
 *
 * `npm run bench -- engine` runs the engine bench: hakod beside dockerd and
 * podman through the same docker CLI (bench/engine.ts).
 *
 * `npm run bench -- network` runs the network bench: hakod beside dockerd
 * with a bridge, network set-up cost, run -d to first HTTP 200 and
 * published-port throughput (bench/network.ts).
 *
 * Every container, cgroup and temporary directory it makes is removed at
 * the end, also on Ctrl-C or an error. Results: bench/results/latest.json
 * (bench/results/interrupted.json for a run stopped early).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { openCgroup } from "../src/cgroups/open.ts";
import { encodePlan, PlanMode } from "../src/native/plan.ts";
import { planContainer } from "../src/runtime/plan.ts";
import { dockerLikeSpec, TestBundle } from "../test/helpers/bundle.ts";
import { Cleanup, intEnv, log, mulberry32, onStopSignal, runMain, table } from "./common.ts";
import { Executor, GNU_TIME, type JobResult } from "./exec.ts";
import { CGV1_NS_MODE, NsRunner } from "./ns-client.ts";
import { buildVariants, commandPath, firstLine, type BenchContext, type RunKind, type Variant } from "./runtimes.ts";
import { summarize, type Summary } from "./stats.ts";

const BENCH_DIR = path.dirname(path.resolve(process.argv[1]!));
const PROJECT = path.dirname(BENCH_DIR);
const SHIM = path.join(PROJECT, "native/build/hako-shim");
const HAKO_RUNTIME = path.join(PROJECT, "bin/hako-runtime");
const CGROUP_ROOT = "/sys/fs/cgroup";
const CGROUP_PARENT = "/hako-bench";

let interrupted: string | undefined;
onStopSignal("run", (sig) => (interrupted = sig));

/** Lets signal handlers run between runs (spawnSync blocks the loop). */
const tick = (): Promise<void> => new Promise((res) => setImmediate(res));

interface Outcome {
  variant: Variant;
  samples: number[];
  failures: number;
  firstError?: string;
  /** Warm-up failed: not timed. */
  disabled?: string;
  rssKb?: number;
}

/** A variant's run; a thrown error (e.g. the namespace runner died) counts as a failed run. */
async function safeRun(v: Variant, i: number, kind: RunKind, rssFile?: string): Promise<JobResult> {
  try {
    return await v.run(i, kind, rssFile);
  } catch (err) {
    return { ms: Number.NaN, status: null, signal: null, stderr: String((err as Error)?.message ?? err) };
  }
}

function describe(r: JobResult): string {
  const how = r.signal ? `signal ${r.signal}` : r.status === null ? "error" : `exit ${r.status}`;
  return r.stderr ? `${how}: ${r.stderr.split("\n").slice(-3).join(" | ").slice(0, 300)}` : how;
}

function hostCgroupLayout(): string {
  if (existsSync(path.join(CGROUP_ROOT, "cgroup.controllers"))) return "cgroup v2 (unified)";
  const unified = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[4] === path.join(CGROUP_ROOT, "unified"));
  return unified ? "hybrid: v1 controllers + cgroup2 at /sys/fs/cgroup/unified" : "cgroup v1";
}

// ------------------------------------------------------------------ clean-up

/** rmdir a cgroup tree, deepest first; SIGKILLs what is still inside if it stays busy. */
function removeCgroupDir(dir: string): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) removeCgroupDir(path.join(dir, e.name));
  for (let attempt = 0; attempt < 8; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY") throw err;
      try {
        for (const pid of readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
          try {
            process.kill(Number(pid), "SIGKILL");
          } catch {
            // gone already
          }
        }
      } catch {
        // no procs file
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10 * 2 ** attempt);
    }
  }
  rmdirSync(dir);
}

function hierarchies(): string[] {
  try {
    return readdirSync(CGROUP_ROOT, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.isSymbolicLink())
      .map((e) => path.join(CGROUP_ROOT, e.name));
  } catch {
    return [];
  }
}

/** Removes `base` (e.g. /hako-bench/<pid>) in every hierarchy, and /hako-bench when that leaves it empty. */
function sweepCgroups(base: string): string[] {
  const problems: string[] = [];
  try {
    openCgroup(base).destroy();
  } catch {
    // what it could not do, the sweep below does or reports
  }
  for (const h of hierarchies()) {
    const dir = path.join(h, base);
    try {
      removeCgroupDir(dir);
    } catch (err) {
      problems.push(`${dir}: ${(err as Error).message}`);
    }
    try {
      rmdirSync(path.join(h, CGROUP_PARENT));
    } catch {
      // absent, or another bench's cgroups are still in it
    }
  }
  return problems;
}

function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

// -------------------------------------------------------------------- output

const fmt = (ms: number | undefined): string => (ms === undefined || Number.isNaN(ms) ? "-" : ms.toFixed(2));
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || b === 0 ? "-" : `${(a / b).toFixed(2)}x`;

// ---------------------------------------------------------------------- main

async function main(): Promise<number> {
  const runs = intEnv("BENCH_RUNS", 30, 1);
  const warmup = intEnv("BENCH_WARMUP", 3, 1);
  const seed = intEnv("BENCH_SEED", 1, 0);
  const only = (process.env.BENCH_ONLY ?? "").split(",").map((s) => s.trim()).filter(Boolean);

  if (process.getuid?.() !== 0) {
    log("bench: needs root (namespaces, mounts, cgroups); run it as root: sudo npm run bench");
    return 2;
  }
  // The images bench (bench/images.ts): `npm run bench -- images` or BENCH_ONLY=images.
  if (process.argv.slice(2).includes("images") || only.includes("images")) {
    const { runImagesBench } = await import("./images.ts");
    return runImagesBench();
  }
  // The engine bench (bench/engine.ts): hakod beside dockerd and podman through the docker CLI.
  if (process.argv.slice(2).includes("engine") || only.includes("engine")) {
    const { runEngineBench } = await import("./engine.ts");
    return runEngineBench();
  }
  // The network bench (bench/network.ts): network set-up cost, run -d to first HTTP 200, published-port throughput.
  if (process.argv.slice(2).includes("network") || only.includes("network")) {
    const { runNetworkBench } = await import("./network.ts");
    return runNetworkBench();
  }
  for (const [what, file] of [
    ["the native helper", SHIM],
    ["the hako-runtime bundle", path.join(PROJECT, "dist/hako-runtime.cjs")],
  ] as const) {
    if (!existsSync(file)) {
      log(`bench: ${what} (${file}) is missing: run npm run build first`);
      return 2;
    }
  }

  const cleanup = new Cleanup();
  const cgroupBase = `${CGROUP_PARENT}/${process.pid}`;
  const host = new Executor();
  const made: string[] = [];
  try {
    // Scratch: state roots, plans, rss files.
    const tmp = mkdtempSync(path.join(os.tmpdir(), "hako-bench-"));
    made.push(tmp);
    cleanup.add(`remove ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
    cleanup.add("remove the bench's cgroups", () => {
      for (const p of sweepCgroups(cgroupBase)) log(`clean-up: ${p}`);
    });

    log("bench: making the busybox bundle ...");
    const bundle = new TestBundle();
    made.push(bundle.dir);
    cleanup.add(`remove ${bundle.dir}`, () => bundle.cleanup());
    const spec = dockerLikeSpec(["true"], "hako-bench");
    // crun 1.8.1 refuses ociVersion 1.2.0 ("unknown version specified"); the rest of the config is unchanged.
    spec.ociVersion = "1.0.2";
    spec.linux!.cgroupsPath = `${cgroupBase}/ctr`;
    bundle.writeConfig(spec);

    // The native path's plans: built once, encoded once.
    const nativeCgroup = openCgroup(`${cgroupBase}/native`);
    nativeCgroup.create(spec.linux?.resources ?? {});
    const planNoCgroup = path.join(tmp, "plan-nocgroup.bin");
    const planCgroup = path.join(tmp, "plan-cgroup.bin");
    // As the runtime does: the compiled seccomp filter is cached between starts.
    const seccompCacheDir = path.join(tmp, "seccomp");
    writeFileSync(planNoCgroup, encodePlan(planContainer(spec, { bundle: bundle.dir, mode: PlanMode.Run, seccompCacheDir })));
    writeFileSync(planCgroup, encodePlan(planContainer(spec, { bundle: bundle.dir, mode: PlanMode.Run, cgroup: nativeCgroup, seccompCacheDir })));

    // The cgroup-v1-only namespace for crun (and same-mode twins of the others).
    let ns: NsRunner | undefined;
    let nsNote = "";
    if (commandPath("unshare")) {
      const runner = new NsRunner(BENCH_DIR);
      cleanup.add("stop the namespace runner", () => runner.close());
      try {
        const ready = await Promise.race([
          runner.ready,
          new Promise<never>((_, rej) => setTimeout(() => rej(new Error("no answer in 30 s")), 30_000).unref()),
        ]);
        ns = runner;
        if (ready.unifiedMounted) nsNote = " (but /sys/fs/cgroup/unified could not be unmounted)";
      } catch (err) {
        log(`bench: the cgroup-v1 namespace runner did not start: ${(err as Error).message}`);
      }
    }
    cleanup.add("delete containers left on the host", () => {
      host.cleanupAll();
    });

    const ctx: BenchContext = {
      bundle: bundle.dir,
      spec,
      tmp,
      shim: SHIM,
      hakoRuntime: HAKO_RUNTIME,
      host,
      ns,
      cgroupBase,
      planNoCgroup,
      planCgroup,
    };
    const { variants: all, skipped } = buildVariants(ctx);
    const variants = only.length ? all.filter((v) => only.includes(v.key) || v.key === "crun") : all;
    const outcomes = variants.map((variant): Outcome => ({ variant, samples: [], failures: 0 }));
    const layout = hostCgroupLayout();
    const modeText: Record<Variant["mode"], string> = { host: `host, ${layout}`, "cgv1-ns": `${CGV1_NS_MODE}${nsNote}` };

    // Warm-up, with stderr kept: a variant that cannot run is reported and left out.
    log(`bench: ${variants.length} variants, ${warmup} warm-up + ${runs} timed runs each, round-robin`);
    for (let w = 0; w < warmup && !interrupted; w++) {
      for (const o of outcomes) {
        if (o.disabled || interrupted) continue;
        const r = await safeRun(o.variant, w, "warmup");
        await tick();
        if (r.status !== 0 || r.signal) o.disabled = `warm-up failed: ${describe(r)}`;
      }
    }

    // Timed runs: round-robin, in a fresh (seeded) random order every round. A fixed
    // order would give each variant the same predecessor every time, and a start
    // right after another one is cheaper (the kernel's cgroup-migration lock
    // skips its RCU grace period while it is still "hot").
    const active = outcomes.filter((o) => !o.disabled);
    const random = mulberry32(seed);
    for (let round = 0; round < runs && !interrupted; round++) {
      if (process.stderr.isTTY) process.stderr.write(`\rbench: round ${round + 1}/${runs}`);
      const order = shuffle(active, random);
      for (let k = 0; k < order.length && !interrupted; k++) {
        const o = order[k]!;
        const r = await safeRun(o.variant, round, "timed");
        await tick();
        if (r.status === 0 && !r.signal) o.samples.push(r.ms);
        else {
          o.failures++;
          o.firstError ??= describe(r);
        }
      }
    }
    if (process.stderr.isTTY) process.stderr.write("\n");

    // Peak RSS: one more run each under GNU time (untimed).
    const haveTime = existsSync(GNU_TIME);
    if (haveTime) {
      for (const o of active) {
        if (!o.variant.rss || interrupted) continue;
        const r = await safeRun(o.variant, 0, "rss", path.join(tmp, `rss-${o.variant.key}`));
        await tick();
        if (r.status === 0) o.rssKb = r.rssKb;
      }
    }

    // ------------------------------------------------------------ report
    const summary = new Map<string, Summary | undefined>(outcomes.map((o) => [o.variant.key, summarize(o.samples)]));
    const crunMedian = summary.get("crun")?.median;
    const rows: string[][] = [["variant", "mode", "median ms", "p90 ms", "min ms", "median/crun", "peak RSS", "runs ok"]];
    for (const o of outcomes) {
      const s = summary.get(o.variant.key);
      rows.push([
        o.variant.label,
        o.variant.mode,
        fmt(s?.median),
        fmt(s?.p90),
        fmt(s?.min),
        ratio(s?.median, crunMedian),
        o.rssKb === undefined ? "-" : `${(o.rssKb / 1024).toFixed(1)} MB`,
        o.disabled ? "disabled" : `${o.samples.length}/${o.samples.length + o.failures}`,
      ]);
    }

    const out: string[] = [];
    out.push("");
    out.push(`hako bench: busybox \`true\` to exit in a fresh container (Docker-like config: pid/net/ipc/uts/mnt/cgroup ns, seccomp, caps, masks)`);
    out.push(`${runs} timed runs per variant after ${warmup} warm-up, round-robin in a random order per round (seed ${seed}); wall time of spawnSync, stdio to /dev/null`);
    out.push(`host: Linux ${os.release()}, ${os.cpus().length} CPU ${os.cpus()[0]?.model ?? ""}, node ${process.version}`);
    out.push("");
    out.push(table(rows, new Set([2, 3, 4, 5, 6, 7])));
    out.push("");
    out.push("modes:");
    out.push(`  host     ${modeText.host}`);
    out.push(`  cgv1-ns  ${modeText["cgv1-ns"]}`);
    if (interrupted) out.push(`\n(interrupted by ${interrupted}: partial results)`);
    for (const o of outcomes) {
      if (o.disabled) out.push(`  ! ${o.variant.key} (${o.variant.mode}): ${o.disabled}`);
      else if (o.failures) out.push(`  ! ${o.variant.key} (${o.variant.mode}): ${o.failures} failed runs, first: ${o.firstError}`);
    }
    for (const s of skipped) out.push(`  ${s.label}: ${s.why}`);

    const med = (key: string): number | undefined => summary.get(key)?.median;
    const headline: { key: string; label: string; value: string }[] = [];
    const addRatio = (key: string, label: string): void => {
      if (!summary.get(key)) return;
      headline.push({ key, label, value: ratio(med(key), crunMedian) });
    };
    addRatio("hako-native-cg", "hako native / crun  (helper joins a pre-created cgroup)");
    addRatio("hako-native-cg-ns", "hako native / crun  (same, both in cgv1-ns)");
    addRatio("hako-native", "hako native / crun  (helper, no cgroup)");
    addRatio("hako-native-inproc", "hako native + TS set-up / crun  (cgroup create/destroy + plan in-process)");
    addRatio("hako-cli", "hako CLI / crun");
    addRatio("runc", "runc / crun");
    out.push("");
    out.push(`ratios to crun's median (${fmt(crunMedian)} ms; crun in cgv1-ns); target: hako native within 2x of crun`);
    if (crunMedian === undefined) out.push("  (no crun result: no ratios)");
    for (const h of headline) {
      const x = Number.parseFloat(h.value);
      const verdict = h.key.startsWith("hako-native") && Number.isFinite(x) ? (x <= 2 ? "  [within 2x]" : "  [NOT within 2x]") : "";
      out.push(`  ${h.label.padEnd(74)} ${h.value.padStart(7)}${verdict}`);
    }
    const floor = med("spawn-floor");
    if (floor !== undefined) out.push(`  (every row includes the ~${fmt(floor)} ms spawnSync floor)`);
    out.push(
      `peak RSS: GNU time's max RSS of the command and the children it waited for${haveTime ? "" : " (not measured: /usr/bin/time missing)"}`,
    );
    console.log(out.join("\n"));

    // ------------------------------------------------------------- JSON
    const resultsDir = path.join(BENCH_DIR, "results");
    mkdirSync(resultsDir, { recursive: true });
    const json = {
      date: new Date().toISOString(),
      interrupted: interrupted ?? null,
      runs,
      warmup,
      seed,
      host: { kernel: os.release(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "", node: process.version, cgroupLayout: layout },
      versions: {
        hakoShim: firstLine([SHIM, "--version"]),
        crun: commandPath("crun") ? firstLine(["crun", "--version"]) : null,
        runc: commandPath("runc") ? firstLine(["runc", "--version"]) : null,
      },
      modes: modeText,
      config: {
        args: spec.process?.args,
        ociVersion: spec.ociVersion,
        namespaces: spec.linux?.namespaces?.map((n) => n.type),
        planBytes: { noCgroup: statSync(planNoCgroup).size, cgroup: statSync(planCgroup).size },
      },
      crunMedianMs: crunMedian ?? null,
      variants: outcomes.map((o) => ({
        key: o.variant.key,
        label: o.variant.label,
        group: o.variant.group,
        mode: o.variant.mode,
        summaryMs: summary.get(o.variant.key) ?? null,
        medianOverCrun: crunMedian && summary.get(o.variant.key) ? summary.get(o.variant.key)!.median / crunMedian : null,
        peakRssKb: o.rssKb ?? null,
        failures: o.failures,
        firstError: o.firstError ?? null,
        disabled: o.disabled ?? null,
        samplesMs: o.samples.map((x) => Math.round(x * 1000) / 1000),
      })),
      skipped,
    };
    // A partial run does not replace the last complete one.
    const file = path.join(resultsDir, interrupted ? "interrupted.json" : "latest.json");
    writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
    log(`bench: results written to ${path.relative(process.cwd(), file)}`);
    return interrupted ? 130 : 0;
  } finally {
    await cleanup.run();
    // Nothing of ours may remain.
    const left = hierarchies()
      .map((h) => path.join(h, cgroupBase))
      .filter((d) => existsSync(d));
    if (left.length) log(`bench: WARNING: cgroups left behind: ${left.join(", ")}`);
    const leftTmp = made.filter((d) => existsSync(d));
    if (leftTmp.length) log(`bench: WARNING: temporary directories left behind: ${leftTmp.join(", ")}`);
  }
}

runMain(main, "bench");
