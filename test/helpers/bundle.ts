/**
 * Throw-away OCI bundles for the runtime tests: a busybox rootfs made from
 * the host's busybox-static (no image pulls) and a config.json built like
 * Docker builds one for an unprivileged container.
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { chmodSync, closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { after } from "node:test";
import path from "node:path";
import { DOCKER_DEFAULT_CAPABILITIES } from "../../src/runtime/capabilities.ts";
import { resolveDockerDefault } from "../../src/runtime/seccomp-default.ts";
import { DEFAULT_PATH_ENV, DOCKER_MASKED_PATHS, DOCKER_READONLY_PATHS, dockerDefaultMounts } from "../../src/runtime/spec-defaults.ts";
import type { Spec } from "../../src/spec/oci-runtime.ts";
import type { CreateOptions } from "../../src/runtime/runtime.ts";

export const PROJECT = path.resolve(__dirname, "../..");
export const RUNTIME_BIN = path.join(PROJECT, "bin/hako-runtime");

export const isRoot = process.getuid?.() === 0;

/** Docker's device cgroup: deny everything, then the standard nodes. */
const DOCKER_DEVICE_RULES = [
  { allow: false, access: "rwm" },
  { allow: true, type: "c", major: null, minor: null, access: "m" },
  { allow: true, type: "b", major: null, minor: null, access: "m" },
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 8, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 7, access: "rwm" },
  { allow: true, type: "c", major: 5, minor: 0, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 9, access: "rwm" },
  { allow: true, type: "c", major: 136, minor: null, access: "rwm" },
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" },
  { allow: true, type: "c", major: 10, minor: 200, access: "rwm" },
] as const;

/** A config.json as Docker writes one for `docker run busybox <args>`. */
export function dockerLikeSpec(args: string[], id = "test"): Spec {
  const caps = [...DOCKER_DEFAULT_CAPABILITIES];
  return {
    ociVersion: "1.2.0",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: [DEFAULT_PATH_ENV, `HOSTNAME=${id}`],
      cwd: "/",
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      oomScoreAdj: 0,
    },
    root: { path: "rootfs", readonly: false },
    hostname: id,
    mounts: dockerDefaultMounts(),
    linux: {
      resources: { devices: DOCKER_DEVICE_RULES.map((r) => ({ ...r })) as NonNullable<NonNullable<Spec["linux"]>["resources"]>["devices"] },
      cgroupsPath: `/hako-test/${id}`,
      namespaces: [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, { type: "cgroup" }],
      seccomp: resolveDockerDefault({ capabilities: caps, arch: "amd64" }),
      maskedPaths: [...DOCKER_MASKED_PATHS],
      readonlyPaths: [...DOCKER_READONLY_PATHS],
    },
  };
}

let counter = 0;
/** A container id no other test of this run uses. */
export function uniqueId(prefix = "t"): string {
  return `${prefix}${process.pid}-${++counter}`;
}

export class TestBundle {
  readonly dir: string;
  readonly rootfs: string;
  readonly stateRoot: string;

  constructor() {
    this.dir = mkdtempSync(path.join(os.tmpdir(), "hako-bundle-"));
    // Root of a user namespace is an unprivileged host user: it must be able to reach the rootfs.
    chmodSync(this.dir, 0o755);
    this.rootfs = path.join(this.dir, "rootfs");
    this.stateRoot = path.join(this.dir, "state");
    execFileSync("bash", [path.join(PROJECT, "scripts/busybox-rootfs.sh"), this.rootfs]);
  }

  writeConfig(spec: Spec): void {
    writeFileSync(path.join(this.dir, "config.json"), JSON.stringify(spec, null, 2));
  }

  /** Runs hako-runtime with this bundle's state root. */
  runtime(args: string[], options: { input?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
    return spawnSync(RUNTIME_BIN, ["--root", this.stateRoot, ...args], {
      cwd: this.dir,
      encoding: "utf8",
      input: options.input ?? "",
      timeout: options.timeout ?? 30_000,
      env: options.env ?? process.env,
    });
  }

  /**
   * Runs hako-runtime with its output in files: for create and run --detach,
   * whose container keeps our stdout/stderr (as with runc), so pipes would
   * never see EOF.
   */
  runtimeDetached(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const out = path.join(this.dir, `out-${process.pid}`);
    const err = path.join(this.dir, `err-${process.pid}`);
    const fds = [openSync(out, "w"), openSync(err, "w")];
    try {
      const r = spawnSync(RUNTIME_BIN, ["--root", this.stateRoot, ...args], {
        cwd: this.dir,
        stdio: ["ignore", fds[0]!, fds[1]!],
        timeout: 30_000,
      });
      return { status: r.status, stdout: readFileSync(out, "utf8"), stderr: readFileSync(err, "utf8") };
    } finally {
      fds.forEach((fd) => closeSync(fd));
    }
  }

  /** `hako-runtime run` of a Docker-like config running `args`. */
  run(
    args: string[],
    edit?: (spec: Spec) => void,
    options: { id?: string; input?: string; timeout?: number } = {},
  ): SpawnSyncReturns<string> {
    const id = options.id ?? uniqueId();
    const spec = dockerLikeSpec(args, id);
    edit?.(spec);
    this.writeConfig(spec);
    return this.runtime(["run", "--bundle", this.dir, id], options);
  }

  /**
   * Runs in-process through the Runtime API with a rootfs mount (what the
   * engine does; the command line has no flag for it). Output via files.
   */
  runWithRootfsMount(
    args: string[],
    rootfsMount: NonNullable<CreateOptions["rootfsMount"]>,
    rootfsDir: string,
    id = uniqueId(),
  ): { status: number; stdout: string; stderr: string } {
    return this.runThroughApi(args, { id, rootfsMount, edit: (spec) => (spec.root = { path: rootfsDir, readonly: false }) });
  }

  /**
   * Runs a Docker-like config through the Runtime API, in a child process
   * (synchronous for the tests, and the runtime's signal handlers kept
   * apart): for what the command line has no flag for. Output via files.
   */
  runThroughApi(
    args: string[],
    options: { id?: string; edit?: (spec: Spec) => void; cgroupRoot?: string; rootfsMount?: CreateOptions["rootfsMount"] } = {},
  ): { status: number; stdout: string; stderr: string } {
    const id = options.id ?? uniqueId();
    const spec = dockerLikeSpec(args, id);
    options.edit?.(spec);
    this.writeConfig(spec);
    const out = path.join(this.dir, `${id}.out`);
    const err = path.join(this.dir, `${id}.err`);
    const runtimeOptions = { root: this.stateRoot, ...(options.cgroupRoot ? { cgroupRoot: options.cgroupRoot } : {}) };
    const runOptions = `{ bundle: ${JSON.stringify(this.dir)}, stdio: ['ignore', o, e]${options.rootfsMount ? `, rootfsMount: ${JSON.stringify(options.rootfsMount)}` : ""} }`;
    const script = [
      `const { Runtime } = require(${JSON.stringify(path.join(PROJECT, "src/runtime/runtime.ts"))});`,
      "const fs = require('node:fs');",
      `const o = fs.openSync(${JSON.stringify(out)}, 'w'), e = fs.openSync(${JSON.stringify(err)}, 'w');`,
      `new Runtime(${JSON.stringify(runtimeOptions)}).run(${JSON.stringify(id)}, ${runOptions})`,
      "  .then((r) => process.exit(r.exitCode), (x) => { fs.writeSync(e, String(x && x.message)); process.exit(x.exitCode || 1); });",
    ].join("\n");
    const r = spawnSync(process.execPath, ["--import", "tsx", "-e", script], { cwd: PROJECT, encoding: "utf8", timeout: 30_000 });
    return { status: r.status ?? -1, stdout: readFileSync(out, "utf8"), stderr: readFileSync(err, "utf8") + r.stderr };
  }

  cleanup(): void {
    // Containers of this bundle are gone by now; only files remain.
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A bundle for the tests of one describe block; it goes, with the test
 * cgroups' parents, after them.
 */
export function bundleForSuite(): TestBundle {
  const b = new TestBundle();
  after(() => {
    b.cleanup();
    removeTestCgroupParents();
  });
  return b;
}

/** Removes the (empty) /hako-test parent cgroups the tests' cgroupsPath creates. */
export function removeTestCgroupParents(): void {
  for (const dir of readdirSafe("/sys/fs/cgroup")) {
    const parent = path.join("/sys/fs/cgroup", dir, "hako-test");
    // A child removed a moment ago can keep its parent busy while the kernel lets it go.
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        rmdirSync(parent);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EBUSY") break;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
  }
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Mount points in the host's mount table that mention `text`. */
export function hostMountsMentioning(text: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(text));
}

/** Polls `check` until it holds; fails after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
