/**
 * The stock docker CLIs drive hakod's containers unchanged: docker 28
 * (/usr/local/bin/docker) runs, attaches, execs, logs, stops, renames,
 * restarts, kills, waits, copies, and uses volumes and system df against a
 * throw-away hakod (DOCKER_HOST=unix://<its socket>); a subset with
 * Debian's docker.io 20.10 client (API 1.41). Needs root and /bin/busybox.
 * Every container a test makes is force-removed after it.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";

const DOCKER = "/usr/local/bin/docker";
const DOCKER_2010 = "/usr/bin/docker";

const rootSkip = process.getuid?.() !== 0 ? "needs root" : !existsSync("/bin/busybox") ? "/bin/busybox missing (apt-get install busybox-static)" : false;

function clientVersion(bin: string): string {
  if (!existsSync(bin)) return "";
  return spawnSync(bin, ["--version"], { encoding: "utf8" }).stdout ?? "";
}

/** The part of a run the assertions show when a command fails. */
function describeRun(args: string[], r: SpawnSyncReturns<string>): string {
  return `docker ${args.join(" ")}: exit ${r.status}${r.signal ? ` (${r.signal})` : ""}${r.error ? ` ${r.error.message}` : ""}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** One docker client against one test daemon, with the names of the containers and volumes it made. */
class DockerHarness {
  readonly containers = new Set<string>();
  readonly volumes = new Set<string>();
  readonly env: NodeJS.ProcessEnv;
  readonly config: string;
  private made = 0;

  constructor(
    readonly bin: string,
    readonly daemon: TestDaemon,
  ) {
    this.config = mkdtempSync(path.join(os.tmpdir(), "docker-config-"));
    this.env = { ...process.env, DOCKER_HOST: daemon.host, DOCKER_CONFIG: this.config, DOCKER_CLI_HINTS: "false" };
    for (const k of ["DOCKER_API_VERSION", "DOCKER_CONTEXT", "HAKO_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"]) delete this.env[k];
  }

  run(args: string[], options: { input?: string; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
    // SIGKILL on timeout: docker run proxies SIGTERM to the container instead of exiting.
    return spawnSync(this.bin, args, { encoding: "utf8", env: this.env, input: options.input ?? "", timeout: options.timeoutMs ?? 30_000, killSignal: "SIGKILL" });
  }

  /** Runs and requires exit 0; returns stdout. */
  ok(args: string[], options: { input?: string; timeoutMs?: number } = {}): string {
    const r = this.run(args, options);
    assert.equal(r.status, 0, describeRun(args, r));
    return r.stdout;
  }

  /** A unique container name, removed (force) after the suite. */
  name(prefix: string): string {
    const n = `${prefix}-${process.pid}-${++this.made}`;
    this.containers.add(n);
    return n;
  }

  volume(prefix: string): string {
    const n = `${prefix}-${process.pid}-${this.volumes.size}`;
    this.volumes.add(n);
    return n;
  }

  /**
   * A command in a pseudo-terminal (docker -t wants its stdin to be one):
   * util-linux script. Its stdin stays open until the command ends: on EOF
   * script types the terminal's EOF character, which a raw-mode docker
   * client would send into the container (a stray "^@" in the output).
   */
  inTerminal(command: string, timeoutMs = 30_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn("script", ["-qec", command, "/dev/null"], { env: { ...this.env, TERM: "xterm" }, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c) => (stdout += c));
      child.stderr.on("data", (c) => (stderr += c));
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.on("close", (status) => {
        clearTimeout(timer);
        child.stdin.destroy();
        resolve({ status, stdout, stderr });
      });
    });
  }

  /** Force-removes the containers made so far (after each test, so a failed test leaves nothing for the next). */
  removeContainers(): void {
    if (this.containers.size) this.run(["rm", "-f", ...this.containers], { timeoutMs: 60_000 });
    this.containers.clear();
  }

  cleanup(): void {
    this.removeContainers();
    for (const v of this.volumes) this.run(["volume", "rm", "-f", v], { timeoutMs: 30_000 });
    rmSync(this.config, { recursive: true, force: true });
  }

  /** Polls `check` until it is true (containers' state changes are asynchronous). */
  async until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await delay(100);
    }
  }
}

/** Makes busybox:latest on the daemon from the host's busybox-static (offline). */
async function bootstrapBusybox(d: TestDaemon): Promise<void> {
  const res = await d.request("POST", "/hako/images/busybox", { timeoutMs: 60_000 });
  assert.equal(res.status, 200, res.body);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("e2e: docker 28 runs containers on hakod", { skip: rootSkip || (existsSync(DOCKER) ? false : `${DOCKER} is not installed`) }, () => {
  let d: TestDaemon;
  let h: DockerHarness;
  let tmp: string;
  before(async () => {
    d = await startDaemon();
    await bootstrapBusybox(d);
    h = new DockerHarness(DOCKER, d);
    tmp = mkdtempSync(path.join(os.tmpdir(), "hako-e2e-containers-"));
  });
  after(async () => {
    h?.cleanup();
    await d?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
  afterEach(() => h?.removeContainers());

  test("docker run --rm busybox echo hi prints hi and leaves no container", () => {
    assert.equal(h.ok(["run", "--rm", "busybox", "echo", "hi"]), "hi\n");
    assert.equal(h.ok(["ps", "-aq"]), "");
  });

  test("exit codes propagate: sh -c 'exit 3' → 3, a killed process → 128+n", () => {
    const r = h.run(["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert.equal(r.status, 3, describeRun(["run"], r));
    // a process killed by a signal: 128+n (a child of sh: pid 1 itself ignores SIGKILL from inside)
    const killed = h.run(["run", "--rm", "busybox", "sh", "-c", "sh -c 'kill -9 $$'; exit $?"]);
    assert.equal(killed.status, 137, describeRun(["run", "kill -9"], killed));
  });

  test("a missing command: docker run exits 127 with exec's message", () => {
    const missing = h.run(["run", "--rm", "--name", h.name("missing-cmd"), "busybox", "/no/such/cmd"]);
    assert.equal(missing.status, 127, describeRun(["run", "/no/such/cmd"], missing));
    assert.match(missing.stderr, /no such file or directory/);
  });

  test("a network that does not exist: start fails with 404, no pull is tried, --rm leaves nothing", () => {
    const r = h.run(["run", "--rm", "--network", "no-such-net", "busybox", "true"]);
    assert.equal(r.status, 125, describeRun(["run", "--network"], r));
    assert.match(r.stderr, /Error response from daemon: network no-such-net not found/);
    assert.doesNotMatch(r.stderr, /Unable to find image/);
    assert.equal(h.ok(["ps", "-aq"]), "");
  });

  test("stdout and stderr stay apart", () => {
    const r = h.run(["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2"]);
    assert.equal(r.status, 0, describeRun(["run"], r));
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "err\n");
  });

  test("echo hi | docker run -i --rm busybox cat", () => {
    assert.equal(h.ok(["run", "-i", "--rm", "busybox", "cat"], { input: "hi\n" }), "hi\n");
    // larger than a pipe buffer, through stdin and back
    const big = `${"0123456789abcdef".repeat(8192)}\n`;
    const out = h.ok(["run", "-i", "--rm", "busybox", "cat"], { input: big });
    assert.equal(out.length, big.length);
    assert.equal(out, big);
  });

  test("docker run -it: a terminal (tty prints /dev/pts/0), exit code kept", async () => {
    const r = await h.inTerminal(`${DOCKER} run -it --rm busybox tty`);
    assert.equal(r.status, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.equal(r.stdout, "/dev/pts/0\r\n");
    const code = await h.inTerminal(`${DOCKER} run -it --rm busybox sh -c 'exit 5'`);
    assert.equal(code.status, 5, `stdout: ${code.stdout}\nstderr: ${code.stderr}`);
  });

  test("docker run -d, logs, ps, stop, rm", async () => {
    const name = h.name("detached");
    const id = h.ok(["run", "-d", "--name", name, "busybox", "sh", "-c", "echo started; echo to-stderr >&2; exec sleep 1000"]).trim();
    assert.match(id, /^[a-f0-9]{64}$/);
    const ps = h.ok(["ps"]);
    assert.match(ps, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/m);
    assert.match(ps, new RegExp(`^${id.slice(0, 12)}\\s+busybox\\s+"sh -c 'echo start[^"]*…"\\s+.*\\sUp .*\\s${name}$`, "m"));
    assert.equal(h.ok(["ps", "-q", "--no-trunc", "--filter", `name=${name}`]).trim(), id);
    assert.equal(h.ok(["ps", "--format", "{{.Names}} {{.State}}", "--filter", `id=${id.slice(0, 12)}`]).trim(), `${name} running`);

    await h.until("the output in the log", () => h.run(["logs", name]).stdout.includes("started"));
    const logs = h.run(["logs", name]);
    assert.equal(logs.status, 0, describeRun(["logs"], logs));
    assert.equal(logs.stdout, "started\n");
    assert.equal(logs.stderr, "to-stderr\n");
    const ts = h.ok(["logs", "-t", name]);
    assert.match(ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z started$/m);

    const started = Date.now();
    assert.equal(h.ok(["stop", "-t", "1", name]).trim(), name);
    // sleep as pid 1 ignores SIGTERM: the KILL comes after the 1 s timeout
    assert.ok(Date.now() - started < 8000, "stop took too long");
    assert.equal(h.ok(["inspect", "-f", "{{.State.Status}} {{.State.Running}} {{.State.ExitCode}}", name]).trim(), "exited false 137");
    assert.doesNotMatch(h.ok(["ps"]), new RegExp(name));
    assert.match(h.ok(["ps", "-a", "--filter", `name=${name}`]), /Exited \(137\)/);

    assert.equal(h.ok(["rm", name]).trim(), name);
    const gone = h.run(["inspect", name]);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /No such (object|container)/);
  });

  test("docker rm of a running container needs -f", () => {
    const name = h.name("rm-running");
    h.ok(["run", "-d", "--name", name, "busybox", "sleep", "1000"]);
    const r = h.run(["rm", name]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /cannot remove container|stop the container before removing|You cannot remove a running container/i);
    assert.equal(h.ok(["rm", "-f", name]).trim(), name);
  });

  test("inspect's State.Pid: nsenter -u into it sees the container's hostname", () => {
    const name = h.name("uts");
    const id = h.ok(["run", "-d", "--name", name, "busybox", "sleep", "1000"]).trim();
    const pid = Number(h.ok(["inspect", "-f", "{{.State.Pid}}", name]).trim());
    assert.ok(pid > 1, `pid ${pid}`);
    const hostname = spawnSync("nsenter", ["-t", String(pid), "-u", "hostname"], { encoding: "utf8" });
    assert.equal(hostname.status, 0, hostname.stderr);
    assert.equal(hostname.stdout.trim(), id.slice(0, 12));
    assert.equal(h.ok(["inspect", "-f", "{{.Config.Hostname}}", name]).trim(), id.slice(0, 12));

    const named = h.name("uts-named");
    h.ok(["run", "-d", "--name", named, "--hostname", "box.example", "busybox", "sleep", "1000"]);
    const pid2 = h.ok(["inspect", "-f", "{{.State.Pid}}", named]).trim();
    assert.equal(spawnSync("nsenter", ["-t", pid2, "-u", "hostname"], { encoding: "utf8" }).stdout.trim(), "box.example");
    h.ok(["rm", "-f", name, named]);
  });

  test("docker exec: output, exit code, stdin, env, user, workdir, and -it", async () => {
    const name = h.name("exec");
    h.ok(["run", "-d", "--name", name, "busybox", "sleep", "1000"]);
    assert.equal(h.ok(["exec", name, "echo", "hi"]), "hi\n");
    const code = h.run(["exec", name, "sh", "-c", "exit 4"]);
    assert.equal(code.status, 4, describeRun(["exec"], code));
    assert.equal(h.ok(["exec", "-i", name, "cat"], { input: "through stdin\n" }), "through stdin\n");
    assert.equal(h.ok(["exec", "-e", "GREETING=hello", name, "sh", "-c", "echo $GREETING"]), "hello\n");
    assert.equal(h.ok(["exec", "-u", "1000:1000", name, "id", "-u"]).trim(), "1000");
    assert.equal(h.ok(["exec", "-w", "/tmp", name, "pwd"]).trim(), "/tmp");
    const missing = h.run(["exec", name, "/no/such"]);
    assert.equal(missing.status, 127, describeRun(["exec", "/no/such"], missing));
    const tty = await h.inTerminal(`${DOCKER} exec -it ${name} tty`);
    assert.equal(tty.status, 0, `stdout: ${tty.stdout}\nstderr: ${tty.stderr}`);
    assert.match(tty.stdout, /^\/dev\/pts\/\d+\r\n$/);
    // the exec ran in the container: it sees the container's pid 1
    assert.match(h.ok(["exec", name, "cat", "/proc/1/cmdline"]), /^sleep\x001000\x00$/);
    const stopped = h.name("exec-stopped");
    h.ok(["create", "--name", stopped, "busybox", "true"]);
    const notRunning = h.run(["exec", stopped, "true"]);
    assert.notEqual(notRunning.status, 0);
    assert.match(notRunning.stderr, /is not running/);
    h.ok(["rm", "-f", name, stopped]);
  });

  test("docker volume create/ls/inspect/rm, and -v name:/data persists across containers", () => {
    const vol = h.volume("e2e-vol");
    assert.equal(h.ok(["volume", "create", "--label", "purpose=e2e", vol]).trim(), vol);
    assert.match(h.ok(["volume", "ls"]), new RegExp(`^local\\s+${vol}$`, "m"));
    assert.equal(h.ok(["volume", "ls", "-q", "--filter", "label=purpose=e2e"]).trim(), vol);
    assert.equal(h.ok(["volume", "inspect", "-f", "{{.Driver}} {{.Labels.purpose}}", vol]).trim(), "local e2e");

    h.ok(["run", "--rm", "-v", `${vol}:/data`, "busybox", "sh", "-c", "echo persisted > /data/file"]);
    assert.equal(h.ok(["run", "--rm", "-v", `${vol}:/data`, "busybox", "cat", "/data/file"]), "persisted\n");
    assert.equal(h.ok(["run", "--rm", "--mount", `type=volume,src=${vol},dst=/mnt,readonly`, "busybox", "cat", "/mnt/file"]), "persisted\n");

    // in use: refused, even with -f
    const user = h.name("vol-user");
    h.ok(["create", "--name", user, "-v", `${vol}:/data`, "busybox", "true"]);
    const inUse = h.run(["volume", "rm", vol]);
    assert.equal(inUse.status, 1);
    assert.match(inUse.stderr, new RegExp(`remove ${vol}: volume is in use`));
    h.ok(["rm", user]);

    assert.equal(h.ok(["volume", "rm", vol]).trim(), vol);
    const gone = h.run(["volume", "inspect", vol]);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /no such volume/);
  });

  test(
    "docker run --rm removes the container's anonymous volumes",
    () => {
      const before = h.ok(["volume", "ls", "-q"]);
      h.ok(["run", "--rm", "-v", "/anon", "busybox", "sh", "-c", "echo x > /anon/f"]);
      const after = h.ok(["volume", "ls", "-q"]);
      // leave nothing for the next tests, whatever the outcome
      for (const v of after.split("\n").filter((n) => n && !before.includes(n))) h.run(["volume", "rm", "-f", v]);
      assert.equal(after, before, "--rm left its anonymous volume");
    },
  );

  test("anonymous volumes: rm -v removes them; volume prune removes unused anonymous ones, named ones only with -a", () => {
    const keeper = h.name("anon-keeper");
    h.ok(["create", "--name", keeper, "-v", "/anon", "busybox", "true"]);
    const anon = h.ok(["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", keeper]).trim();
    assert.match(anon, /^[a-f0-9]{64}$/);
    assert.equal(h.ok(["volume", "inspect", "-f", '{{index .Labels "com.docker.volume.anonymous"}}|{{.Driver}}', anon]).trim(), "|local");
    h.ok(["rm", "-v", keeper]);
    assert.equal(h.run(["volume", "inspect", anon]).status, 1, "rm -v left the anonymous volume");

    const named = h.volume("prune-named");
    h.ok(["volume", "create", named]);
    const orphan = h.name("anon-orphan");
    h.ok(["create", "--name", orphan, "-v", "/anon", "busybox", "true"]);
    const orphanVol = h.ok(["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", orphan]).trim();
    h.ok(["rm", orphan]); // without -v: the anonymous volume stays, unused
    const pruned = h.ok(["volume", "prune", "-f"]);
    assert.match(pruned, new RegExp(orphanVol));
    assert.doesNotMatch(pruned, new RegExp(named));
    assert.match(h.ok(["volume", "prune", "-af"]), new RegExp(named));
    assert.equal(h.run(["volume", "inspect", named]).status, 1);
  });

  test("docker stats --no-stream and docker top", () => {
    const name = h.name("stats");
    h.ok(["run", "-d", "--name", name, "busybox", "sleep", "1000"]);
    const stats = h.ok(["stats", "--no-stream", name], { timeoutMs: 30_000 });
    assert.match(stats, /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/m);
    assert.match(stats, new RegExp(`^[a-f0-9]{12}\\s+${name}\\s+\\d+\\.\\d+%\\s+\\S+ / \\S+\\s+\\d+\\.\\d+%.*\\s1$`, "m"));
    const formatted = h.ok(["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", name]).trim();
    assert.equal(formatted, `${name} 1`);

    const top = h.ok(["top", name]);
    assert.match(top, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/m);
    assert.match(top, /^root\s+\d+\s+\d+\s+.*sleep 1000$/m);
    const pid = h.ok(["inspect", "-f", "{{.State.Pid}}", name]).trim();
    assert.match(top, new RegExp(`^root\\s+${pid}\\s`, "m"));
    h.ok(["rm", "-f", name]);
  });

  test("docker rename, restart, kill -s, wait", async () => {
    const name = h.name("renamed-from");
    const to = h.name("renamed-to");
    const id = h.ok(["run", "-d", "--name", name, "busybox", "sleep", "1000"]).trim();
    h.ok(["rename", name, to]);
    assert.equal(h.ok(["inspect", "-f", "{{.Name}}", id]).trim(), `/${to}`);
    assert.equal(h.run(["inspect", name]).status, 1);
    assert.equal(h.ok(["ps", "-q", "--no-trunc", "--filter", `name=${to}`]).trim(), id);

    const pidBefore = h.ok(["inspect", "-f", "{{.State.Pid}} {{.State.StartedAt}}", to]).trim();
    assert.equal(h.ok(["restart", "-t", "1", to]).trim(), to);
    const [pid, startedAt] = h.ok(["inspect", "-f", "{{.State.Pid}} {{.State.StartedAt}}", to]).trim().split(" ");
    assert.notEqual(`${pid} ${startedAt}`, pidBefore);
    assert.equal(h.ok(["inspect", "-f", "{{.State.Running}}", to]).trim(), "true");
    assert.ok(pidAlive(Number(pid)));

    // a signal the process handles: its trap decides the exit code
    const trapper = h.name("trap");
    h.ok(["run", "-d", "--name", trapper, "busybox", "sh", "-c", "trap 'echo got USR1; exit 7' USR1; echo ready; while true; do sleep 0.1; done"]);
    await h.until("the trap to be set", () => h.run(["logs", trapper]).stdout.includes("ready"));
    assert.equal(h.ok(["kill", "-s", "USR1", trapper]).trim(), trapper);
    assert.equal(h.ok(["wait", trapper]).trim(), "7");
    assert.match(h.ok(["logs", trapper]), /got USR1/);

    // docker kill's default SIGKILL, then wait reports 137
    h.ok(["kill", to]);
    assert.equal(h.ok(["wait", to]).trim(), "137");

    const exiting = h.name("wait");
    h.ok(["run", "-d", "--name", exiting, "busybox", "sh", "-c", "sleep 1; exit 5"]);
    assert.equal(h.ok(["wait", exiting]).trim(), "5");
    const notRunning = h.run(["kill", exiting]);
    assert.notEqual(notRunning.status, 0);
    assert.match(notRunning.stderr, /is not running/);
    h.ok(["rm", "-f", to, trapper, exiting]);
  });

  test("docker pause/unpause, start -a, logs --tail and -f, events", async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const name = h.name("pausable");
    h.ok(["run", "-d", "--name", name, "busybox", "sh", "-c", "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.2; done"]);
    await h.until("three lines of output", () => h.run(["logs", name]).stdout.split("\n").length > 3);
    h.ok(["pause", name]);
    assert.equal(h.ok(["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", name]).trim(), "paused true");
    assert.match(h.ok(["ps", "--filter", `name=${name}`]), /\(Paused\)/);
    const frozen = h.ok(["logs", name]);
    await delay(700);
    assert.equal(h.ok(["logs", name]), frozen, "a paused container kept writing");
    h.ok(["unpause", name]);
    await h.until("output after unpause", () => h.ok(["logs", name]) !== frozen);
    assert.equal(h.ok(["logs", "--tail", "1", name]).split("\n").filter(Boolean).length, 1);
    // -f follows until the container ends
    h.ok(["stop", "-t", "0", name]);
    assert.match(h.ok(["logs", "-f", name], { timeoutMs: 10_000 }), /^line 1$/m);

    const once = h.name("start-attach");
    h.ok(["create", "--name", once, "busybox", "sh", "-c", "echo attached; exit 2"]);
    const started = h.run(["start", "-a", once]);
    assert.equal(started.status, 2, describeRun(["start", "-a"], started));
    assert.equal(started.stdout, "attached\n");

    const events = h.ok(["events", "--since", String(since), "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", `container=${name}`, "--format", "{{.Action}}"]);
    const actions = events.split("\n").filter(Boolean);
    for (const a of ["create", "start", "pause", "unpause", "die"]) assert.ok(actions.includes(a), `no ${a} event in ${actions.join(",")}`);
  });

  test("docker cp into and out of a container, files and directories", () => {
    const name = h.name("cp");
    h.ok(["run", "-d", "--name", name, "busybox", "sleep", "1000"]);
    const src = path.join(tmp, "in.txt");
    writeFileSync(src, "copied in\n");
    h.ok(["cp", src, `${name}:/tmp/in.txt`]);
    assert.equal(h.ok(["exec", name, "cat", "/tmp/in.txt"]), "copied in\n");

    const dir = path.join(tmp, "tree");
    mkdirSync(path.join(dir, "sub"), { recursive: true });
    writeFileSync(path.join(dir, "sub", "leaf"), "leaf\n");
    h.ok(["cp", dir, `${name}:/tmp/`]);
    assert.equal(h.ok(["exec", name, "cat", "/tmp/tree/sub/leaf"]), "leaf\n");

    h.ok(["exec", name, "sh", "-c", "mkdir -p /out/d && echo made inside > /out/d/f"]);
    const outFile = path.join(tmp, "out.txt");
    h.ok(["cp", `${name}:/out/d/f`, outFile]);
    assert.equal(readFileSync(outFile, "utf8"), "made inside\n");
    const outDir = path.join(tmp, "outdir");
    h.ok(["cp", `${name}:/out`, outDir]);
    assert.equal(readFileSync(path.join(outDir, "d", "f"), "utf8"), "made inside\n");

    // a stopped container's filesystem too
    h.ok(["stop", "-t", "0", name]);
    h.ok(["cp", `${name}:/tmp/in.txt`, path.join(tmp, "back.txt")]);
    assert.equal(readFileSync(path.join(tmp, "back.txt"), "utf8"), "copied in\n");
    const missing = h.run(["cp", `${name}:/no/such`, tmp]);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /Could not find the file \/no\/such in container|No such container:path/);
    h.ok(["rm", "-f", name]);
  });

  test("docker system df and df -v count images, containers and volumes", () => {
    // containers and volumes a failed earlier test may have left count too
    const others = h.ok(["ps", "-aq"]).split("\n").filter(Boolean).length;
    const otherVolumes = h.ok(["volume", "ls", "-q"]).split("\n").filter(Boolean).length;
    const vol = h.volume("df-vol");
    h.ok(["volume", "create", vol]);
    const name = h.name("df");
    h.ok(["run", "--name", name, "-v", `${vol}:/data`, "busybox", "sh", "-c", "dd if=/dev/zero of=/data/blob bs=1024 count=64 2>/dev/null; echo x > /rwfile"]);
    const df = h.ok(["system", "df"]);
    assert.match(df, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/m);
    assert.match(df, /^Images\s+1\s+1\s+\S+/m);
    assert.match(df, new RegExp(`^Containers\\s+${others + 1}\\s+\\d+\\s+\\S+`, "m"));
    assert.match(df, new RegExp(`^Local Volumes\\s+${otherVolumes + 1}\\s+\\d+\\s+\\S+`, "m"));
    if (otherVolumes === 0) assert.match(df, /^Local Volumes\s+1\s+1\s+65\.54kB\s+0B \(0%\)$/m);
    assert.match(df, /^Build Cache\s+0\s+0\s+0B\s+0B$/m);
    const verbose = h.ok(["system", "df", "-v"]);
    assert.match(verbose, new RegExp(`^busybox\\s+latest\\s+[a-f0-9]{12}\\s+.*\\s${others + 1}$`, "m"));
    assert.match(verbose, new RegExp(`^${vol}\\s+1\\s+65\\.54kB$`, "m"));
    assert.match(verbose, new RegExp(`\\s${name}$`, "m"));
    const json = h.ok(["system", "df", "--format", "{{json .}}"]);
    assert.equal(json.trim().split("\n").length, 4);
    h.ok(["rm", "-f", name]);
  });

  test("daemon errors read like dockerd's: a missing image, a missing container", () => {
    const noImage = h.run(["run", "--rm", "--pull", "never", "localhost:5000/nope:1", "true"]);
    assert.notEqual(noImage.status, 0);
    assert.match(noImage.stderr, /No such image|not found/i);
    const noContainer = h.run(["stop", "no-such-container"]);
    assert.equal(noContainer.status, 1);
    assert.match(noContainer.stderr, /No such container: no-such-container/);
    assert.ok(d.alive());
  });
});

const skip2010 =
  rootSkip || (/Docker version 20\.10\./.test(clientVersion(DOCKER_2010)) ? false : `${DOCKER_2010} is not the docker.io 20.10 client (apt-get install docker.io)`);

describe("e2e: docker 20.10 (API 1.41) runs containers on hakod", { skip: skip2010 }, () => {
  let d: TestDaemon;
  let h: DockerHarness;
  before(async () => {
    d = await startDaemon();
    await bootstrapBusybox(d);
    h = new DockerHarness(DOCKER_2010, d);
  });
  after(async () => {
    h?.cleanup();
    await d?.stop();
  });
  afterEach(() => h?.removeContainers());

  test("run --rm, exit codes, -i", async () => {
    assert.equal(h.ok(["run", "--rm", "busybox", "echo", "hi"]), "hi\n");
    assert.equal(h.run(["run", "--rm", "busybox", "sh", "-c", "exit 3"]).status, 3);
    assert.equal(h.ok(["run", "-i", "--rm", "busybox", "cat"], { input: "hi\n" }), "hi\n");
    const tty = await h.inTerminal(`${DOCKER_2010} run -it --rm busybox tty`);
    assert.equal(tty.status, 0, `stdout: ${tty.stdout}\nstderr: ${tty.stderr}`);
    assert.equal(tty.stdout, "/dev/pts/0\r\n");
  });

  test("run -d, logs, exec, ps, stop, rm", async () => {
    const name = h.name("old-client");
    h.ok(["run", "-d", "--name", name, "busybox", "sh", "-c", "echo hello-2010; exec sleep 1000"]);
    await h.until("the log line", () => h.run(["logs", name]).stdout.includes("hello-2010"));
    assert.equal(h.ok(["exec", name, "echo", "from-exec"]), "from-exec\n");
    assert.equal(h.run(["exec", name, "sh", "-c", "exit 6"]).status, 6);
    assert.match(h.ok(["ps"]), new RegExp(`\\s${name}$`, "m"));
    h.ok(["stop", "-t", "1", name]);
    assert.equal(h.ok(["inspect", "-f", "{{.State.ExitCode}}", name]).trim(), "137");
    h.ok(["rm", name]);
    assert.equal(h.ok(["ps", "-aq"]), "");
  });

  test("exec -it, top, stats, rename, kill, wait, cp", async () => {
    const name = h.name("old-misc");
    const to = h.name("old-misc-renamed");
    h.ok(["run", "-d", "--name", name, "busybox", "sleep", "1000"]);
    const tty = await h.inTerminal(`${DOCKER_2010} exec -it ${name} tty`);
    assert.match(tty.stdout, /^\/dev\/pts\/\d+\r\n$/, `stdout: ${tty.stdout}\nstderr: ${tty.stderr}`);
    assert.match(h.ok(["top", name]), /sleep 1000$/m);
    assert.match(h.ok(["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", name]), new RegExp(`^${name} 1$`, "m"));
    h.ok(["rename", name, to]);
    const file = path.join(h.config, "from-2010");
    writeFileSync(file, "via 20.10\n");
    h.ok(["cp", file, `${to}:/tmp/f`]);
    assert.equal(h.ok(["exec", to, "cat", "/tmp/f"]), "via 20.10\n");
    h.ok(["kill", "-s", "KILL", to]);
    assert.equal(h.ok(["wait", to]).trim(), "137");
  });

  test("volumes and system df", () => {
    const vol = h.volume("old-vol");
    h.ok(["volume", "create", vol]);
    h.ok(["run", "--rm", "-v", `${vol}:/data`, "busybox", "sh", "-c", "echo kept > /data/f"]);
    assert.equal(h.ok(["run", "--rm", "-v", `${vol}:/data`, "busybox", "cat", "/data/f"]), "kept\n");
    assert.match(h.ok(["system", "df"]), /^Local Volumes\s+1\s+0\s/m);
    assert.equal(h.ok(["volume", "rm", vol]).trim(), vol);
    // API 1.41 prune removes named volumes too
    const other = h.volume("old-prune");
    h.ok(["volume", "create", other]);
    assert.match(h.ok(["volume", "prune", "-f"]), new RegExp(other));
  });
});
