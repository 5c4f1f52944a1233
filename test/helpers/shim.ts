/**
 * Containers under their own shim for the tests: a busybox bundle, a
 * Docker-like spec in a cgroup of its own (/hako-test/<id>), the plan made
 * by planContainer, and everything taken down again after the suite:
 * containers killed by pid, shims waited for, cgroups and temp dirs removed.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after } from "node:test";
import type { Cgroup } from "../../src/cgroups/cgroup.ts";
import { openCgroup } from "../../src/cgroups/open.ts";
import {
  ShimConnection,
  startContainerShim,
  type AttachFlags,
  type ContainerShimHandle,
} from "../../src/native/container-shim.ts";
import { PlanMode, type Plan } from "../../src/native/plan.ts";
import { planContainer } from "../../src/runtime/plan.ts";
import type { Spec } from "../../src/spec/oci-runtime.ts";
import { TestBundle, dockerLikeSpec, removeTestCgroupParents, uniqueId } from "./bundle.ts";

export interface ShimContainer {
  id: string;
  spec: Spec;
  cgroup: Cgroup;
  /** The shim's state dir. */
  dir: string;
  logPath: string;
  handle: ContainerShimHandle;
}

export interface ShimStartOptions {
  edit?: (spec: Spec) => void;
  openStdin?: boolean;
  stdinOnce?: boolean;
  log?: { maxSize: number; maxFiles: number };
}

/** True while the process exists (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

export async function waitGone(pid: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} is still there after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The parent pid of a process, from /proc. */
export function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

export class ShimFixture {
  readonly bundle = new TestBundle();
  private readonly containers: ShimContainer[] = [];
  private readonly dirs: string[] = [];

  constructor() {
    after(() => this.cleanup());
  }

  /** The plan of a Docker-like container running args, in its own cgroup. */
  plan(args: string[], edit?: (spec: Spec) => void): { id: string; spec: Spec; cgroup: Cgroup; plan: Plan } {
    const id = uniqueId("shim");
    const spec = dockerLikeSpec(args, id);
    edit?.(spec);
    const cgroup = openCgroup(spec.linux!.cgroupsPath!);
    cgroup.create(spec.linux!.resources);
    const plan = planContainer(spec, { bundle: this.bundle.dir, mode: PlanMode.Run, cgroup });
    return { id, spec, cgroup, plan };
  }

  /** A new state dir (removed after the suite). */
  stateDir(): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), "hako-shim-"));
    this.dirs.push(dir);
    return dir;
  }

  /** Sets up a container under a shim; it waits for handle.start(). */
  async create(args: string[], options: ShimStartOptions = {}): Promise<ShimContainer> {
    const { id, spec, cgroup, plan } = this.plan(args, options.edit);
    const dir = this.stateDir();
    const logPath = path.join(dir, "logs", `${id}-json.log`);
    let handle: ContainerShimHandle;
    try {
      handle = await startContainerShim(plan, {
        shimDir: path.join(dir, "shim"),
        log: { path: logPath, maxSize: options.log?.maxSize ?? 0, maxFiles: options.log?.maxFiles ?? 1 },
        openStdin: options.openStdin,
        stdinOnce: options.stdinOnce,
      });
    } catch (err) {
      this.destroyCgroup(cgroup);
      throw err;
    }
    const c: ShimContainer = { id, spec, cgroup, dir: path.join(dir, "shim"), logPath, handle };
    this.containers.push(c);
    return c;
  }

  /** create + attach (before start, as docker run does) + start. */
  async run(
    args: string[],
    options: ShimStartOptions & { attach?: AttachFlags } = {},
  ): Promise<{ c: ShimContainer; conn: ShimConnection; output: { 1: Buffer[]; 2: Buffer[] } }> {
    const c = await this.create(args, options);
    const conn = await ShimConnection.connect(c.dir, options.attach ?? { stdout: true, stderr: true });
    const output: { 1: Buffer[]; 2: Buffer[] } = { 1: [], 2: [] };
    conn.onOutput((stream, data) => output[stream].push(Buffer.from(data)));
    await c.handle.start();
    return { c, conn, output };
  }

  /** Kills what is left, waits for the shims, removes cgroups and directories. */
  async cleanup(): Promise<void> {
    for (const c of this.containers) {
      if (alive(c.handle.pid)) {
        try {
          process.kill(c.handle.pid, "SIGKILL");
        } catch {
          // gone meanwhile
        }
      }
      await waitGone(c.handle.shimPid).catch(() => {
        try {
          process.kill(c.handle.shimPid, "SIGKILL");
        } catch {
          // gone
        }
      });
      this.destroyCgroup(c.cgroup);
    }
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
    this.bundle.cleanup();
    removeTestCgroupParents();
  }

  private destroyCgroup(cgroup: Cgroup): void {
    try {
      cgroup.destroy();
    } catch {
      // already gone
    }
  }
}

export const text = (chunks: Buffer[]): string => Buffer.concat(chunks).toString("utf8");
