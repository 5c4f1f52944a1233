/**
 * hakod under the two things that break engines: being killed while
 * containers run (live restore: the container lives on in its shim, a new
 * hakod on the same data root finds it, stops it and records its exit),
 * and load (50 `docker run --rm` and 50 `hako run --rm` at once: every one
 * exits 0 and nothing stays behind: no container, shim, cgroup or mount).
 * Needs root, /bin/busybox and the docker 28 CLI.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { HAKO_BIN, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { parentOf } from "../helpers/shim.ts";

const DOCKER = "/usr/local/bin/docker";
const CGROUP_ROOT = "/sys/fs/cgroup";
const LOAD = 50;

const skip =
  process.getuid?.() !== 0
    ? "needs root"
    : !existsSync("/bin/busybox")
      ? "/bin/busybox missing (apt-get install busybox-static)"
      : !existsSync(DOCKER)
        ? `${DOCKER} is not installed`
        : false;

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** A command run without blocking the event loop (the load test runs many at once). */
function runAsync(bin: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr: signal ? `${stderr}(killed by ${signal})` : stderr });
    });
  });
}

function dockerEnv(d: TestDaemon, config: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: d.host, HAKO_HOST: d.host, DOCKER_CONFIG: config, DOCKER_CLI_HINTS: "false" };
  for (const k of ["DOCKER_API_VERSION", "DOCKER_CONTEXT"]) delete env[k];
  return env;
}

function describeRun(what: string, r: SpawnSyncReturns<string> | Result): string {
  return `${what}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** hakod's own cgroup parent for a data root that is not the default (src/daemon/config.ts). */
function cgroupParentOf(dataRoot: string): string {
  return `hako-${createHash("sha256").update(dataRoot).digest("hex").slice(0, 8)}`;
}

/** Container cgroups left under the daemon's parent, in any hierarchy: "<controller>/<parent>/<id>". */
function leftoverCgroups(dataRoot: string): string[] {
  const parent = cgroupParentOf(dataRoot);
  const out: string[] = [];
  for (const controller of readdirSync(CGROUP_ROOT)) {
    const dir = path.join(CGROUP_ROOT, controller, parent);
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      continue;
    }
    for (const e of entries) out.push(`${controller}/${parent}/${e}`);
  }
  return out;
}

/** Mounts of the host's mount namespace whose source or target lies under `dir`. */
function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.includes(dir));
}

/** Processes other than `except` that hold a file under `dir` open (shims keep their logs and sockets there). */
function processesHolding(dir: string, except: number[]): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (except.includes(pid) || pid === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target = "";
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (target.startsWith(dir)) {
        pids.push(pid);
        break;
      }
    }
  }
  return pids;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await delay(100);
  }
}

describe("e2e: hakod survives being killed and being loaded", { skip }, () => {
  let config: string;
  const daemons: TestDaemon[] = [];
  before(() => {
    config = mkdtempSync(path.join(os.tmpdir(), "docker-config-"));
  });
  after(async () => {
    for (const d of daemons) {
      if (!d.alive()) {
        rmSync(d.dir, { recursive: true, force: true }); // a killed daemon's dir stays behind
        continue;
      }
      // force-remove whatever a failed test left, then stop the daemon
      const env = dockerEnv(d, config);
      const ids = spawnSync(DOCKER, ["ps", "-aq"], { encoding: "utf8", env, timeout: 30_000 }).stdout?.split("\n").filter(Boolean) ?? [];
      if (ids.length) spawnSync(DOCKER, ["rm", "-f", ...ids], { encoding: "utf8", env, timeout: 60_000 });
      await d.stop();
    }
    rmSync(config, { recursive: true, force: true });
  });

  test("live restore: a SIGKILLed hakod's container keeps running; the next hakod stops it and records the exit", async () => {
    const first = await startDaemon();
    daemons.push(first);
    const env = dockerEnv(first, config);
    const boot = await first.request("POST", "/hako/images/busybox", { timeoutMs: 60_000 });
    assert.equal(boot.status, 200, boot.body);
    const docker = (args: string[]): SpawnSyncReturns<string> => spawnSync(DOCKER, args, { encoding: "utf8", env, timeout: 60_000 });

    const run = docker(["run", "-d", "--name", "survivor", "busybox", "sleep", "1000"]);
    assert.equal(run.status, 0, describeRun("docker run -d", run));
    const id = run.stdout.trim();
    const pid = Number(docker(["inspect", "-f", "{{.State.Pid}}", id]).stdout.trim());
    assert.ok(pid > 1 && pidAlive(pid), `container pid ${pid}`);

    await first.kill(); // SIGKILL by pid: no shutdown code runs
    assert.ok(!first.alive());
    await delay(200);
    assert.ok(pidAlive(pid), "the container's process died with hakod");

    const second = await startDaemon({ dir: first.dir });
    daemons.push(second);
    const ps = docker(["ps", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}"]);
    assert.equal(ps.status, 0, describeRun("docker ps", ps));
    assert.equal(ps.stdout.trim(), `${id} survivor running`);
    assert.equal(docker(["inspect", "-f", "{{.State.Pid}}", id]).stdout.trim(), String(pid));
    // the restored container still answers exec and logs through its shim
    const exec = docker(["exec", id, "echo", "still here"]);
    assert.equal(exec.stdout, "still here\n", describeRun("docker exec", exec));

    const stop = docker(["stop", "-t", "1", "survivor"]);
    assert.equal(stop.status, 0, describeRun("docker stop", stop));
    await until("the container's process to go", () => !pidAlive(pid));
    const state = docker(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.FinishedAt}}", id]).stdout.trim().split(" ");
    assert.equal(state[0], "exited");
    assert.equal(state[1], "137");
    assert.notEqual(state[2], "0001-01-01T00:00:00Z");
    const rm = docker(["rm", "survivor"]);
    assert.equal(rm.status, 0, describeRun("docker rm", rm));
    await second.stop();
  });

  test("a container that exits while hakod is down: the next hakod records its exit code from the shim", async () => {
    const first = await startDaemon();
    daemons.push(first);
    const env = dockerEnv(first, config);
    const boot = await first.request("POST", "/hako/images/busybox", { timeoutMs: 60_000 });
    assert.equal(boot.status, 200, boot.body);
    const docker = (args: string[]): SpawnSyncReturns<string> => spawnSync(DOCKER, args, { encoding: "utf8", env, timeout: 60_000, killSignal: "SIGKILL" });

    const run = docker(["run", "-d", "--name", "short-lived", "busybox", "sh", "-c", "echo before; sleep 1; echo after; exit 9"]);
    assert.equal(run.status, 0, describeRun("docker run -d", run));
    const pid = Number(docker(["inspect", "-f", "{{.State.Pid}}", "short-lived"]).stdout.trim());
    await first.kill();
    await until("the container to exit on its own", () => !pidAlive(pid));

    const second = await startDaemon({ dir: first.dir });
    daemons.push(second);
    const state = docker(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}", "short-lived"]);
    assert.equal(state.stdout.trim(), "exited 9 false", describeRun("docker inspect", state));
    assert.match(docker(["ps", "-a", "--filter", "name=short-lived"]).stdout, /Exited \(9\)/);
    // the shim kept logging while nobody watched
    assert.equal(docker(["logs", "short-lived"]).stdout, "before\nafter\n");
    assert.equal(docker(["wait", "short-lived"]).stdout.trim(), "9");
    const rm = docker(["rm", "short-lived"]);
    assert.equal(rm.status, 0, describeRun("docker rm", rm));
    await second.stop();
  });

  test(`load: ${LOAD} docker run --rm and ${LOAD} hako run --rm at once all exit 0 and leave nothing behind`, async () => {
    const d = await startDaemon();
    daemons.push(d);
    const env = dockerEnv(d, config);
    const boot = await d.request("POST", "/hako/images/busybox", { timeoutMs: 60_000 });
    assert.equal(boot.status, 200, boot.body);

    // a first run warms up whatever hakod opens once; what it holds open after that must not grow with the load
    const warm = await runAsync(DOCKER, ["run", "--rm", "busybox", "true"], env);
    assert.equal(warm.status, 0, describeRun("docker run --rm (warm-up)", warm));
    const fdsBefore = readdirSync(`/proc/${d.pid}/fd`).length;

    const runs = [
      ...Array.from({ length: LOAD }, () => runAsync(DOCKER, ["run", "--rm", "busybox", "true"], env)),
      ...Array.from({ length: LOAD }, () => runAsync(HAKO_BIN, ["run", "--rm", "busybox", "true"], env)),
    ];
    const results = await Promise.all(runs);
    const failed = results.map((r, i) => ({ ...r, i })).filter((r) => r.status !== 0);
    assert.deepEqual(
      failed.map((r) => describeRun(`${r.i < LOAD ? "docker" : "hako"} run #${r.i % LOAD}`, r)),
      [],
    );

    const ps = spawnSync(DOCKER, ["ps", "-aq"], { encoding: "utf8", env, timeout: 30_000 });
    assert.equal(ps.status, 0, describeRun("docker ps -aq", ps));
    assert.equal(ps.stdout, "", "containers left behind");
    assert.deepEqual(readdirSync(path.join(d.dataRoot, "containers")), [], "container records left behind");
    const shimRoot = path.join(d.dataRoot, "run", "containers");
    await until("shim state dirs to go", () => !existsSync(shimRoot) || readdirSync(shimRoot).length === 0);
    // The daemon's own helpers (its spawner, its netlink server) are its children; shims are init's.
    await until("shims to exit", () => processesHolding(d.dir, [d.pid]).filter((pid) => {
      try {
        return parentOf(pid) !== d.pid;
      } catch {
        return false; // gone meanwhile
      }
    }).length === 0);
    assert.deepEqual(leftoverCgroups(d.dataRoot), [], "cgroups left behind");
    // The running daemon's own pinned helper (<exec root>/bin) is the only mount expected.
    const pins = `${path.join(d.dataRoot, "run", "bin")}/`;
    assert.deepEqual(mountsUnder(d.dir).filter((m) => !m.includes(` ${pins}`)), [], "mounts left behind");
    assert.ok(d.alive());

    const info = await d.request("GET", "/info");
    assert.equal(info.json().Containers, 0);
    await until("hakod's descriptors to settle", () => readdirSync(`/proc/${d.pid}/fd`).length <= fdsBefore + 5);
    await d.stop();
    assert.deepEqual(leftoverCgroups(d.dataRoot), [], "cgroups left behind after hakod stopped");
    // with no container left, hakod removes its own cgroup parent on the way out
    const parents = readdirSync(CGROUP_ROOT).filter((c) => existsSync(path.join(CGROUP_ROOT, c, cgroupParentOf(d.dataRoot))));
    assert.deepEqual(parents, [], `${cgroupParentOf(d.dataRoot)} left in these hierarchies`);
  });
});
