/**
 * What the bench times: hako's native path, hako's CLI, and the comparators
 * (crun, runc, docker, podman) on the same bundle, plus two reference
 * floors. Each variant runs one container to exit per call.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { openCgroup } from "../src/cgroups/open.ts";
import { encodePlan, PlanMode } from "../src/native/plan.ts";
import { planContainer } from "../src/runtime/plan.ts";
import type { Spec } from "../src/spec/oci-runtime.ts";
import type { Executor, Job, JobResult } from "./exec.ts";
import type { NsRunner } from "./ns-client.ts";

export type RunKind = "warmup" | "timed" | "rss";

export interface Variant {
  key: string;
  label: string;
  group: "hako" | "comparator" | "reference";
  /** Where it runs: "host" (the host's hybrid cgroup layout as is) or the cgroup-v1-only namespace. */
  mode: "host" | "cgv1-ns";
  /** Whether the peak-RSS pass applies (a spawned command, not in-process work). */
  rss: boolean;
  run(i: number, kind: RunKind, rssFile?: string): Promise<JobResult>;
}

export interface BenchContext {
  bundle: string;
  spec: Spec;
  /** Scratch dir for state roots, plans and rss files; removed at the end. */
  tmp: string;
  shim: string;
  hakoRuntime: string;
  host: Executor;
  ns?: NsRunner;
  /** Parent of every cgroup the bench makes, e.g. /hako-bench/<pid>. */
  cgroupBase: string;
  /** Pre-encoded plans for the native path. */
  planNoCgroup: string;
  planCgroup: string;
}

export function commandPath(name: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  const p = r.stdout.trim();
  return r.status === 0 && p ? p : undefined;
}

export function firstLine(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: 10_000 });
  return `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n")[0] ?? "";
}

function idFor(key: string, i: number, kind: RunKind): string {
  const n = kind === "timed" ? String(i) : kind === "warmup" ? `w${i}` : "rss";
  return `hb-${key}-${process.pid}-${n}`;
}

function dispatch(ctx: BenchContext, mode: Variant["mode"], job: Job): Promise<JobResult> {
  if (mode === "host") return Promise.resolve(ctx.host.run(job));
  if (!ctx.ns) return Promise.reject(new Error("no cgroup-v1 namespace runner"));
  return ctx.ns.run(job);
}

function withKind(job: Job, kind: RunKind, rssFile?: string): Job {
  return { ...job, captureStderr: kind === "warmup", ...(kind === "rss" && rssFile ? { rssFile } : {}) };
}

/** An OCI runtime with runc's command line: `<bin> --root R run --bundle B <id>`, `delete --force` if kept. */
function ociRuntime(
  ctx: BenchContext,
  key: string,
  label: string,
  group: Variant["group"],
  bin: string,
  mode: Variant["mode"],
): Variant {
  const root = path.join(ctx.tmp, `state-${key}`);
  return {
    key,
    label,
    group,
    mode,
    rss: true,
    run(i, kind, rssFile) {
      const id = idFor(key, i, kind);
      const job: Job = {
        argv: [bin, "--root", root, "run", "--bundle", ctx.bundle, id],
        cleanup: { stateDir: path.join(root, id), argv: [bin, "--root", root, "delete", "--force", id] },
      };
      return dispatch(ctx, mode, withKind(job, kind, rssFile));
    },
  };
}

function command(key: string, label: string, group: Variant["group"], job: Job, ctx: BenchContext, mode: Variant["mode"] = "host"): Variant {
  return {
    key,
    label,
    group,
    mode,
    rss: true,
    run: (_i, kind, rssFile) => dispatch(ctx, mode, withKind(job, kind, rssFile)),
  };
}

/**
 * The daemon's view: cgroup create, plan, encode, helper, cgroup destroy,
 * all timed, in this process (no Node start-up: hakod is already running).
 */
function inProcess(ctx: BenchContext): Variant {
  return {
    key: "hako-native-inproc",
    label: "hako native + TS set-up in-process (cgroup create/destroy, plan, encode)",
    group: "hako",
    mode: "host",
    rss: false,
    async run(i, kind) {
      const planFile = path.join(ctx.tmp, "plan-inproc.bin");
      const t0 = process.hrtime.bigint();
      const cgroup = openCgroup(`${ctx.cgroupBase}/inproc-${kind}-${i}`);
      let result: JobResult;
      try {
        cgroup.create(ctx.spec.linux?.resources ?? {});
        const plan = planContainer(ctx.spec, { bundle: ctx.bundle, mode: PlanMode.Run, cgroup, seccompCacheDir: path.join(ctx.tmp, "seccomp") });
        writeFileSync(planFile, encodePlan(plan));
        result = ctx.host.run({ argv: [ctx.shim], fd3File: planFile, captureStderr: kind === "warmup" });
      } finally {
        cgroup.destroy();
      }
      result.ms = Number(process.hrtime.bigint() - t0) / 1e6;
      return result;
    },
  };
}

export interface Unavailable {
  label: string;
  why: string;
}

/** docker/podman: only when a daemon/engine answers and a busybox image is already there (no pulls). */
function engine(ctx: BenchContext, name: "docker" | "podman", out: Variant[], skipped: Unavailable[]): void {
  const bin = commandPath(name);
  const label = `${name} run --rm busybox true`;
  if (!bin) {
    skipped.push({ label, why: "not installed" });
    return;
  }
  const info = spawnSync(bin, ["info"], { encoding: "utf8", timeout: 5_000, stdio: ["ignore", "pipe", "pipe"] });
  if (info.status !== 0) {
    const why = `${info.stderr ?? ""}`.trim().split("\n").pop() || (info.error?.message ?? `exit ${info.status}`);
    skipped.push({ label, why: `not available (${name} info failed: ${why.slice(0, 120)})` });
    return;
  }
  const image = spawnSync(bin, ["image", "inspect", "busybox"], { stdio: "ignore", timeout: 10_000 });
  if (image.status !== 0) {
    skipped.push({ label, why: "engine up but no busybox image (the bench does not pull)" });
    return;
  }
  out.push(command(name, label, "comparator", { argv: [bin, "run", "--rm", "busybox", "true"] }, ctx));
}

export interface VariantSet {
  variants: Variant[];
  skipped: Unavailable[];
}

export function buildVariants(ctx: BenchContext): VariantSet {
  const v: Variant[] = [];
  const skipped: Unavailable[] = [];
  const ns = ctx.ns !== undefined;

  // hako
  v.push(command("hako-native", "hako native: hako-shim 3< plan, no cgroup", "hako", { argv: [ctx.shim], fd3File: ctx.planNoCgroup }, ctx));
  v.push(
    command("hako-native-cg", "hako native: hako-shim 3< plan, joins a pre-created cgroup", "hako", { argv: [ctx.shim], fd3File: ctx.planCgroup }, ctx),
  );
  if (ns) {
    v.push(
      command("hako-native-cg-ns", "hako native: hako-shim 3< plan, joins a pre-created cgroup", "hako", { argv: [ctx.shim], fd3File: ctx.planCgroup }, ctx, "cgv1-ns"),
    );
  }
  v.push(inProcess(ctx));
  v.push(ociRuntime(ctx, "hako-cli", "hako CLI: hako-runtime run (Node start-up included)", "hako", ctx.hakoRuntime, "host"));
  if (ns) v.push(ociRuntime(ctx, "hako-cli-ns", "hako CLI: hako-runtime run (Node start-up included)", "hako", ctx.hakoRuntime, "cgv1-ns"));

  // comparators
  const crun = commandPath("crun");
  if (!crun) skipped.push({ label: "crun run", why: "not installed" });
  else if (!ns) skipped.push({ label: "crun run", why: "needs the cgroup-v1 namespace (unshare), which could not be started" });
  else v.push(ociRuntime(ctx, "crun", "crun run", "comparator", crun, "cgv1-ns"));
  const runc = commandPath("runc");
  if (!runc) skipped.push({ label: "runc run", why: "not installed" });
  else {
    v.push(ociRuntime(ctx, "runc", "runc run", "comparator", runc, "host"));
    if (ns) v.push(ociRuntime(ctx, "runc-ns", "runc run", "comparator", runc, "cgv1-ns"));
  }
  engine(ctx, "docker", v, skipped);
  engine(ctx, "podman", v, skipped);

  // reference floors
  v.push(command("spawn-floor", "reference: spawnSync of /bin/true (no container)", "reference", { argv: ["/bin/true"] }, ctx));
  v.push(command("node-floor", "reference: node -e 0 (Node start-up alone)", "reference", { argv: [process.execPath, "-e", "0"] }, ctx));
  return { variants: v, skipped };
}
