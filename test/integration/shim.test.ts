/**
 * The per-container shim (MODE_SHIM, docs/engine.md): real busybox
 * containers in their own cgroups, the json-file log in Docker's format,
 * attach frames, stdin and a tty, exit.json, a shim that outlives whoever
 * started it, rotation, slow clients, exec failures, and hako-init as PID 1.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { Socket } from "node:net";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { ShimConnection, readExitFile, shimAlive, startContainerShim, type ShimError } from "../../src/native/container-shim.ts";
import { encodePlan } from "../../src/native/plan.ts";
import { helperPath, startShim } from "../../src/native/shim.ts";
import { CLONE_FLAGS, planExec } from "../../src/runtime/plan.ts";
import { resolveDockerDefault } from "../../src/runtime/seccomp-default.ts";
import { PROJECT, isRoot, waitFor } from "../helpers/bundle.ts";
import { ShimFixture, alive, parentOf, text, waitGone, type ShimContainer } from "../helpers/shim.ts";

const skip = isRoot ? false : "needs root (real namespaces and cgroups)";
const INIT_BIN = path.join(PROJECT, "native/build/hako-init");
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;

interface LogEntry {
  log: string;
  stream: "stdout" | "stderr";
  time: string;
}

function readLog(file: string): { raw: string[]; entries: LogEntry[] } {
  const raw = readFileSync(file, "utf8").split("\n");
  assert.equal(raw.pop(), "", "the log ends with a newline");
  return { raw, entries: raw.map((l) => JSON.parse(l) as LogEntry) };
}

/** After the exit: exit.json there, attach.sock and shim.pid gone, the shim gone. */
async function assertFinished(c: ShimContainer, exitCode: number): Promise<void> {
  await waitGone(c.handle.shimPid);
  const exit = readExitFile(c.dir);
  assert.ok(exit, "exit.json is written");
  assert.equal(exit.exitCode, exitCode);
  assert.match(exit.finishedAt, TIME);
  assert.ok(Math.abs(Date.parse(exit.finishedAt) - Date.now()) < 60_000);
  assert.deepEqual(readdirSync(c.dir).sort(), ["exit.json"], "attach.sock and shim.pid are removed");
  assert.equal(shimAlive(c.dir), false);
}

/** The pids above pid, up to init. */
function ancestors(pid: number): number[] {
  const out: number[] = [];
  for (let p = parentOf(pid); p > 0; p = parentOf(p)) out.push(p);
  return out;
}

describe("shim", { skip }, () => {
  const f = new ShimFixture();

  test("stdout and stderr go to the json-file log in Docker's format", async () => {
    const script = [
      "echo out",
      "echo err >&2",
      // tab, quote, backslash, HTML characters, a control byte, UTF-8, an invalid byte, CR
      "printf 'a\\tb \"q\" \\\\ <&> \\001 \\303\\251 \\377 cr\\r\\n'",
      "echo",
      // longer than 16 KiB: a 16 KiB piece without \n, then the rest with it
      "head -c 20000 /dev/zero | tr '\\000' a; echo",
      "printf tail",
    ].join("; ");
    const { c, conn } = await f.run(["sh", "-c", script]);
    assert.equal(await conn.exited, 0);
    await assertFinished(c, 0);
    const { raw, entries } = readLog(c.logPath);
    for (const e of entries) {
      assert.deepEqual(Object.keys(e), ["log", "stream", "time"]);
      assert.match(e.time, TIME);
    }
    // Two pipes: the order between stdout and stderr is not kept (nor is it in Docker).
    const stdout = entries.filter((e) => e.stream === "stdout");
    assert.deepEqual(
      stdout.map((e) => (e.log.length > 40 ? `${e.log.length}` : e.log)),
      ["out\n", 'a\tb "q" \\ <&> \u0001 é \ufffd cr\r\n', "\n", "16384", "3617", "tail"],
    );
    assert.deepEqual(entries.filter((e) => e.stream === "stderr").map((e) => e.log), ["err\n"]);
    // Escaped byte for byte as Docker's jsonlog does.
    const special = entries.indexOf(stdout[1]!);
    assert.equal(raw[special], `{"log":"a\\u0009b \\"q\\" \\\\ \\u003c\\u0026\\u003e \\u0001 é \\ufffd cr\\r\\n","stream":"stdout","time":"${stdout[1]!.time}"}`);
    assert.equal(stdout[3]!.log.endsWith("a"), true, "the first piece has no newline");
    assert.equal(stdout[4]!.log.endsWith("a\n"), true);
    assert.equal(stdout[3]!.time, stdout[4]!.time, "the pieces of one line share its time");
    for (let i = 1; i < stdout.length; i++) assert.ok(Date.parse(stdout[i - 1]!.time) <= Date.parse(stdout[i]!.time));
  });

  test("attach before start: output frames, then the exit frame; the process joined its cgroup", async () => {
    const c = await f.create(["sh", "-c", "echo hello; echo oops >&2; cat /proc/self/cgroup > /dev/null; exit 3"]);
    assert.deepEqual(c.cgroup.pids(), [c.handle.pid], "the process is in its cgroup before it runs");
    assert.equal(shimAlive(c.dir), true);
    assert.equal(Number(readFileSync(path.join(c.dir, "shim.pid"), "utf8")), c.handle.shimPid);
    assert.equal(statSync(path.join(c.dir, "attach.sock")).mode & 0o777, 0o600);
    const all = await ShimConnection.connect(c.dir, { stdout: true, stderr: true });
    const onlyErr = await ShimConnection.connect(c.dir, { stderr: true });
    const watch = await ShimConnection.connect(c.dir, { watch: true });
    const got: [number, string][] = [];
    const errs: string[] = [];
    all.onOutput((s, d) => got.push([s, d.toString()]));
    onlyErr.onOutput((s, d) => errs.push(`${s}:${d}`));
    watch.onOutput(() => assert.fail("a watch connection gets no output"));
    await c.handle.start();
    assert.deepEqual(await Promise.all([all.exited, onlyErr.exited, watch.exited]), [3, 3, 3]);
    assert.deepEqual(got, [
      [1, "hello\n"],
      [2, "oops\n"],
    ]);
    assert.deepEqual(errs, ["2:oops\n"]);
    await assertFinished(c, 3);
    assert.equal(readExitFile(c.dir)!.signal, 0);
  });

  test("kill -9 of the process: exit status 137, signal 9; the shim ignores TERM, INT, HUP", async () => {
    const { c, conn } = await f.run(["sleep", "100"], { attach: { watch: true } });
    assert.equal(alive(c.handle.pid), true);
    for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.kill(c.handle.shimPid, sig);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(alive(c.handle.shimPid), true, "hakod stops containers by their pid, never through the shim");
    assert.equal(alive(c.handle.pid), true);
    process.kill(c.handle.pid, "SIGKILL");
    assert.equal(await conn.exited, 137);
    await assertFinished(c, 137);
    assert.equal(readExitFile(c.dir)!.signal, 9);
  });

  test("the process gets only its stdio (no fd of the shim) and clean signal dispositions", async () => {
    const { c, conn } = await f.run(["sleep", "100"], { attach: { watch: true } });
    const pid = c.handle.pid;
    // Once the process runs the shim goes on from the loop binary on disk beside the helper (shared pages), not its sealed copy.
    await waitFor(() => readFileSync(`/proc/${c.handle.shimPid}/cmdline`, "utf8").includes("shim-loop"), 5000, "the shim's re-exec");
    assert.equal(readlinkSync(`/proc/${c.handle.shimPid}/exe`), path.join(path.dirname(realpathSync(helperPath())), "hako-shim-loop"));
    assert.equal(shimAlive(c.dir), true);
    assert.match(readFileSync(`/proc/${c.handle.shimPid}/status`, "utf8"), /^PPid:\s+\d+$/m);
    assert.deepEqual(readdirSync(`/proc/${pid}/fd`).sort(), ["0", "1", "2"]);
    assert.equal(readlinkSync(`/proc/${pid}/fd/0`), "/dev/null");
    assert.match(readlinkSync(`/proc/${pid}/fd/1`), /^pipe:/);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    assert.match(status, /^SigBlk:\t0000000000000000$/m);
    assert.match(status, /^SigIgn:\t0000000000000000$/m);
    // The shim holds no end the process writes: only the read ends.
    const shimFds = readdirSync(`/proc/${c.handle.shimPid}/fd`).map((fd) => readlinkSync(`/proc/${c.handle.shimPid}/fd/${fd}`));
    for (const end of [readlinkSync(`/proc/${pid}/fd/1`), readlinkSync(`/proc/${pid}/fd/2`)]) {
      assert.equal(shimFds.filter((l) => l === end).length, 1, `one end of ${end}`);
      const fd = readdirSync(`/proc/${c.handle.shimPid}/fd`).find((n) => readlinkSync(`/proc/${c.handle.shimPid}/fd/${n}`) === end)!;
      const flags = parseInt(/^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/${c.handle.shimPid}/fdinfo/${fd}`, "utf8"))![1]!, 8);
      assert.equal(flags & 3, 0, "the read end (O_RDONLY)");
    }
    process.kill(pid, "SIGKILL");
    assert.equal(await conn.exited, 137);
    await assertFinished(c, 137);
  });

  test("a grandchild that keeps the output open does not keep the shim (no pid namespace)", async () => {
    const started = Date.now();
    const { c, conn, output } = await f.run(["sh", "-c", "sleep 30 & echo done"], {
      edit: (s) => (s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "pid")),
    });
    assert.equal(await conn.exited, 0);
    assert.ok(Date.now() - started < 5000);
    assert.equal(text(output[1]), "done\n");
    await assertFinished(c, 0);
    assert.equal(c.cgroup.pids().length, 1, "the sleep still runs (the cleanup's cgroup removal ends it)");
  });

  test("abort before start: the process is killed, exit.json says why", async () => {
    const c = await f.create(["sleep", "100"]);
    const watch = await ShimConnection.connect(c.dir, { watch: true });
    c.handle.abort();
    assert.equal(await watch.exited, 128);
    await waitGone(c.handle.pid);
    await assertFinished(c, 128);
    assert.match(readExitFile(c.dir)!.error!, /start: the caller went away before start/);
  });

  test("stdin: frames reach cat, closing stdin ends it", async () => {
    const { c, conn, output } = await f.run(["cat"], { openStdin: true, attach: { stdin: true, stdout: true, stderr: true } });
    conn.write("hello\n");
    conn.write(Buffer.from("world\n"));
    await waitFor(() => text(output[1]) === "hello\nworld\n", 5000, "the echo");
    conn.closeStdin();
    assert.equal(await conn.exited, 0);
    await assertFinished(c, 0);
    assert.deepEqual(
      readLog(c.logPath).entries.map((e) => e.log),
      ["hello\n", "world\n"],
    );
  });

  test("StdinOnce: the first stdin client's detach closes stdin; without OpenStdin stdin is /dev/null", async () => {
    const c = await f.create(["cat"], { openStdin: true, stdinOnce: true });
    const input = await ShimConnection.connect(c.dir, { stdin: true });
    const watch = await ShimConnection.connect(c.dir, { stdout: true });
    const out: Buffer[] = [];
    watch.onOutput((_s, d) => out.push(d));
    await c.handle.start();
    input.write("once\n");
    await waitFor(() => text(out) === "once\n", 5000, "the echo");
    input.close();
    assert.equal(await watch.exited, 0);
    await assertFinished(c, 0);

    const { c: c2, conn } = await f.run(["sh", "-c", "cat; echo eof"], { attach: { stdin: true, stdout: true } });
    conn.write("dropped\n");
    assert.equal(await conn.exited, 0);
    await assertFinished(c2, 0);
    assert.deepEqual(readLog(c2.logPath).entries.map((e) => e.log), ["eof\n"]);
  });

  test("tty: /dev/pts/0, resize frames, output as stdout", async () => {
    const { c, conn, output } = await f.run(["sh", "-c", "read x; tty; stty size"], {
      openStdin: true,
      edit: (s) => {
        s.process!.terminal = true;
        s.process!.consoleSize = { height: 24, width: 80 };
      },
      attach: { stdin: true, stdout: true, stderr: true },
    });
    conn.resize(40, 120);
    conn.write("go\r");
    assert.equal(await conn.exited, 0);
    const out = text(output[1]);
    assert.match(out, /\/dev\/pts\/0\r\n/);
    assert.match(out, /40 120\r\n/);
    assert.deepEqual(output[2], [], "a tty has one stream");
    await assertFinished(c, 0);
    const { entries } = readLog(c.logPath);
    assert.ok(entries.every((e) => e.stream === "stdout"));
    assert.ok(entries.some((e) => e.log === "/dev/pts/0\r\n"));
  });

  test("the shim outlives the process that started it", async () => {
    const { plan, cgroup } = f.plan(["sh", "-c", "read line; echo got $line; exit 7"]);
    const dir = path.join(f.stateDir(), "shim");
    // A separate Node process starts it and exits right after "running".
    const script = [
      `const { startContainerShim } = require(${JSON.stringify(path.join(PROJECT, "src/native/container-shim.ts"))});`,
      "const [plan, dir] = JSON.parse(process.argv[1], (k, v) => (typeof v === 'string' && v.startsWith('bigint:') ? BigInt(v.slice(7)) : v));",
      "startContainerShim(plan, { shimDir: dir, log: { path: dir + '/log.json', maxSize: 0, maxFiles: 1 }, openStdin: true })",
      "  .then(async (h) => { await h.start(); console.log(JSON.stringify({ shimPid: h.shimPid, pid: h.pid })); process.exit(0); })",
      "  .catch((e) => { console.error(e); process.exit(1); });",
    ].join("\n");
    const arg = JSON.stringify([plan, dir], (_k, v: unknown) => (typeof v === "bigint" ? `bigint:${v}` : v));
    const starter = spawn(process.execPath, ["--import", "tsx", "-e", script, arg], { cwd: PROJECT, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    starter.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    const code = await new Promise((r) => starter.on("close", r));
    assert.equal(code, 0);
    const { shimPid, pid } = JSON.parse(out) as { shimPid: number; pid: number };
    try {
      assert.equal(alive(starter.pid!), false);
      assert.equal(shimAlive(dir), true);
      const ppid = parentOf(shimPid);
      assert.notEqual(ppid, process.pid, "not the test's child");
      assert.notEqual(ppid, starter.pid, "not the starter's child");
      assert.ok(ppid === 1 || ancestors(process.pid).includes(ppid), `init's child (or a subreaper's above us), not ${ppid}'s`);
      assert.deepEqual(cgroup.pids(), [pid]);
      const conn = await ShimConnection.connect(dir, { stdin: true, stdout: true });
      const got: Buffer[] = [];
      conn.onOutput((_s, d) => got.push(d));
      conn.write("hi there\n");
      assert.equal(await conn.exited, 7);
      assert.equal(text(got), "got hi there\n");
      await waitGone(shimPid);
      assert.equal(readExitFile(dir)?.exitCode, 7);
      assert.deepEqual(readdirSync(dir), ["exit.json", "log.json"]);
    } finally {
      if (alive(pid)) process.kill(pid, "SIGKILL");
      await waitGone(shimPid);
      cgroup.destroy();
    }
  });

  test("log rotation: max size 1 KiB, 3 files", async () => {
    const line = "x".repeat(40);
    const { c, conn } = await f.run(["sh", "-c", `i=0; while [ $i -lt 200 ]; do echo "line $i ${line}"; i=$((i+1)); done`], {
      log: { maxSize: 1024, maxFiles: 3 },
      attach: { watch: true },
    });
    assert.equal(await conn.exited, 0);
    await assertFinished(c, 0);
    const dir = path.dirname(c.logPath);
    const base = path.basename(c.logPath);
    assert.deepEqual(readdirSync(dir).sort(), [base, `${base}.1`, `${base}.2`]);
    const entrySize = readLog(c.logPath).raw[0]!.length + 1;
    for (const file of [c.logPath, `${c.logPath}.1`, `${c.logPath}.2`]) {
      const size = statSync(file).size;
      assert.ok(size > 0 && size <= 1024 + entrySize, `${file}: ${size} bytes`);
    }
    const numbers = (file: string) => readLog(file).entries.map((e) => Number(/line (\d+)/.exec(e.log)![1]));
    const all = [...numbers(`${c.logPath}.2`), ...numbers(`${c.logPath}.1`), ...numbers(c.logPath)];
    assert.equal(all.at(-1), 199, "the newest lines are in the current file");
    assert.deepEqual(all, all.map((_, i) => all[0]! + i), "oldest to newest, nothing lost between the kept files");
  });

  test("log rotation with one file truncates", async () => {
    const { c, conn } = await f.run(["sh", "-c", "i=0; while [ $i -lt 100 ]; do echo line $i; i=$((i+1)); done"], {
      log: { maxSize: 512, maxFiles: 1 },
      attach: { watch: true },
    });
    assert.equal(await conn.exited, 0);
    await assertFinished(c, 0);
    assert.deepEqual(readdirSync(path.dirname(c.logPath)), [path.basename(c.logPath)]);
    const { entries } = readLog(c.logPath);
    assert.equal(entries.at(-1)!.log, "line 99\n");
    assert.ok(statSync(c.logPath).size < 512 + 100);
  });

  test("a client that never reads does not hold the container back", async () => {
    const total = 20_000_000;
    const c = await f.create(["sh", "-c", `yes $(head -c 999 /dev/zero | tr '\\000' a) | head -c ${total}`], {
      log: { maxSize: 1 << 20, maxFiles: 2 },
    });
    const stuck = await ShimConnection.connect(c.dir, { stdout: true });
    stuck.pause(); // never reads: the shim buffers up to its cap, then lets it go
    const reader = await ShimConnection.connect(c.dir, { stdout: true, stderr: true });
    let received = 0;
    reader.onOutput((_s, d) => (received += d.length));
    const started = Date.now();
    await c.handle.start();
    assert.equal(await reader.exited, 0);
    assert.equal(received, total);
    assert.ok(Date.now() - started < 30_000);
    stuck.resume(); // what it had is read, then the end of a dropped connection
    assert.equal(await stuck.exited, undefined, "the stuck client was dropped (no exit frame)");
    await assertFinished(c, 0);
  });

  test("exec failure: an error line and exit.json with 127", async () => {
    // The shim names the pid before the set-up ends (hakod joins the networks meanwhile): the failure is start's answer.
    const c = await f.create(["/no/such/binary"]);
    const err = await c.handle.start().then(
      () => assert.fail("set-up should fail"),
      (e: ShimError) => e,
    );
    assert.equal(err.stage, "exec");
    assert.equal(err.errno, 2);
    assert.match(err.message, /exec: "\/no\/such\/binary": stat \/no\/such\/binary: no such file or directory/);
    assert.equal(err.exitCode, 127);
  });

  test("exec failure leaves exit.json with the status and the error", async () => {
    const { plan, cgroup } = f.plan(["/etc/passwd"]);
    const dir = path.join(f.stateDir(), "shim");
    try {
      const handle = await startContainerShim(plan, { shimDir: dir, log: { path: path.join(dir, "log"), maxSize: 0, maxFiles: 1 } });
      await assert.rejects(handle.start(), (e: ShimError) => e.exitCode === 126 && /permission denied/.test(e.message));
      const exit = readExitFile(dir);
      assert.equal(exit?.exitCode, 126);
      assert.match(exit?.error ?? "", /exec: "\/etc\/passwd": permission denied/);
      assert.deepEqual(readdirSync(dir).sort(), ["exit.json", "log"]);
    } finally {
      cgroup.destroy();
    }
  });

  test("exec failure after start: start() rejects with the status; attached clients get it", async () => {
    writeFileSync(path.join(f.bundle.rootfs, "bad"), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3]));
    chmodSync(path.join(f.bundle.rootfs, "bad"), 0o755);
    const c = await f.create(["/bad"]);
    const watch = await ShimConnection.connect(c.dir, { watch: true });
    const err = await c.handle.start().then(
      () => assert.fail("start should fail"),
      (e: ShimError) => e,
    );
    assert.equal(err.stage, "exec");
    assert.match(err.message, /exec: "\/bad": exec format error/);
    assert.equal(err.exitCode, 126);
    assert.equal(await watch.exited, 126);
    await assertFinished(c, 126);
    assert.match(readExitFile(c.dir)!.error!, /exec format error/);
  });

  test("a set-up failure before start: start() has its error even when the shim was gone before \"start\" was written", async () => {
    const c = await f.create(["/no/such/binary"]);
    // The shim says why and exits while our event loop is busy elsewhere: "start" then meets a closed
    // socket, and the error line still unread in it goes with the socket. exit.json still says it.
    const deadline = Date.now() + 5000;
    while (alive(c.handle.shimPid) && Date.now() < deadline) {
      // busy: nothing is read from the control socket meanwhile
    }
    const err = await c.handle.start().then(
      () => assert.fail("start should fail"),
      (e: ShimError) => e,
    );
    assert.equal(err.stage, "exec");
    assert.match(err.message, /exec: "\/no\/such\/binary": stat \/no\/such\/binary: no such file or directory/);
    assert.equal(err.exitCode, 127);
  });

  test("a plan paused for hooks: onHooks runs before pivot_root; a failing hook aborts", async () => {
    const { plan, cgroup } = f.plan(["echo", "ran"]);
    const dir = path.join(f.stateDir(), "shim");
    const log = { path: path.join(dir, "log"), maxSize: 0, maxFiles: 1 };
    try {
      let hookPid = 0;
      const h = await startContainerShim({ ...plan, pauseForHooks: true }, {
        shimDir: dir,
        log,
        onHooks: async (pid) => {
          hookPid = pid;
          assert.equal(alive(pid), true);
        },
      });
      assert.equal(hookPid, h.pid);
      const watch = await ShimConnection.connect(dir, { watch: true });
      await h.start();
      assert.equal(await watch.exited, 0);
      await waitGone(h.shimPid);
      assert.equal(readLog(log.path).entries[0]!.log, "ran\n");

      const dir2 = path.join(f.stateDir(), "shim");
      await assert.rejects(
        startContainerShim({ ...plan, pauseForHooks: true }, {
          shimDir: dir2,
          log,
          onHooks: async () => {
            throw new Error("hook failed");
          },
        }),
        (e: ShimError) => e.stage === "hooks" && e.message === "hook failed",
      );
      assert.match(readExitFile(dir2)?.error ?? "", /hooks/);
      assert.deepEqual(readdirSync(dir2), ["exit.json"]);
    } finally {
      cgroup.destroy();
    }
  });

  test("exec (monitor mode): resize and signal lines on fd 3", async () => {
    const { c } = await f.run(["sleep", "100"], { attach: { watch: true } });
    const exec = (args: string[], terminal: boolean) => {
      const plan = planExec({ args, env: ["PATH=/bin"], cwd: "/", terminal, user: { uid: 0, gid: 0 } }, { pid: c.handle.pid, cgroup: c.cgroup });
      if (terminal) plan.terminal = { rows: 24, cols: 80 };
      const child = spawn(helperPath(), [], { stdio: ["pipe", "pipe", "pipe", "pipe"] });
      const ctl = child.stdio[3] as Socket;
      let lines = "";
      ctl.setEncoding("utf8").on("data", (d: string) => (lines += d));
      ctl.write(encodePlan(plan));
      let out = "";
      child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
      const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
      return { child, ctl, lines: () => lines, out: () => out, exited };
    };
    const tty = exec(["sh", "-c", "read x; stty size"], true);
    await waitFor(() => /^pid \d+\n/.test(tty.lines()), 5000, "the exec's pid");
    tty.ctl.write("resize 33 99\n");
    await new Promise((r) => setTimeout(r, 200));
    tty.child.stdin!.write("go\n");
    assert.equal(await tty.exited, 0);
    assert.match(tty.out(), /33 99/);

    const sleeper = exec(["sleep", "100"], false);
    await waitFor(() => /^pid \d+\n/.test(sleeper.lines()), 5000, "the exec's pid");
    sleeper.ctl.write("signal 15\n");
    assert.equal(await sleeper.exited, 143);
    assert.equal(alive(c.handle.pid), true, "the container goes on");
    process.kill(c.handle.pid, "SIGKILL");
    await waitGone(c.handle.shimPid);
  });

  test("exec under seccomp: the first compiles the filter into its cache; later plans name the file alone", async () => {
    const { c } = await f.run(["sleep", "100"], { attach: { watch: true } });
    const cacheDir = mkdtempSync(path.join(os.tmpdir(), "hako-seccomp-"));
    try {
      const seccomp = resolveDockerDefault({ capabilities: ["CAP_CHOWN", "CAP_SETUID", "CAP_SETGID"], arch: "amd64" });
      const proc = { args: ["grep", "Seccomp:", "/proc/self/status"], env: ["PATH=/bin"], cwd: "/", user: { uid: 0, gid: 0 } };
      const plan = () => planExec(proc, { pid: c.handle.pid, cgroup: c.cgroup, seccomp, seccompCacheDir: cacheDir });
      const exec = async (p: ReturnType<typeof plan>) => {
        const shim = startShim(p, { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        shim.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
        const exit = await shim.exited;
        return { out, exit };
      };

      const first = plan();
      assert.notEqual(first.seccomp?.compiled, true, "no compiled filter yet: the rules go along");
      const compiling = await exec(first);
      assert.equal(compiling.exit.code, 0);
      assert.match(compiling.out, /^Seccomp:\s+2$/m, "the exec runs under the filter");
      assert.equal(readdirSync(cacheDir).filter((n) => n.endsWith(".bpf")).length, 1, "the compiled filter is cached");

      const second = plan();
      assert.equal(second.seccomp?.compiled, true);
      const encoded = encodePlan(second);
      assert.ok(encoded.length * 4 < encodePlan(first).length, `${encoded.length} bytes: the rules stay behind`);
      assert.equal(encoded.includes("accept4"), false);
      const cached = await exec(second);
      assert.equal(cached.exit.code, 0);
      assert.match(cached.out, /^Seccomp:\s+2$/m, "the cached filter applies");

      // A plan that names the file alone never runs without a filter.
      rmSync(path.join(cacheDir, readdirSync(cacheDir)[0]!));
      const gone = await exec(second);
      assert.notEqual(gone.exit.code, 0);
      assert.equal(gone.out, "");
      assert.equal(gone.exit.error?.stage, "seccomp");
      assert.match(gone.exit.error?.message ?? "", /compiled filter .* is gone/);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
      process.kill(c.handle.pid, "SIGKILL");
      await waitGone(c.handle.shimPid);
    }
  });

  test("exec plans with an initKey look the init's namespaces up once; another key (a restarted init) looks again", async () => {
    const { c } = await f.run(["sleep", "100"], { attach: { watch: true } });
    const proc = { args: ["true"], env: ["PATH=/bin"], cwd: "/", user: { uid: 0, gid: 0 } };
    const key = `${c.id}:${c.handle.pid}`;
    const first = planExec(proc, { pid: c.handle.pid, initKey: key });
    assert.ok(first.joinNamespaces?.some((j) => j.type === CLONE_FLAGS.mount && j.path === `/proc/${c.handle.pid}/ns/mnt`));
    process.kill(c.handle.pid, "SIGKILL");
    await waitGone(c.handle.shimPid);
    // Remembered: no readlink of the (gone) init's namespaces any more.
    assert.deepEqual(planExec(proc, { pid: c.handle.pid, initKey: key }).joinNamespaces, first.joinNamespaces);
    // Without the key, or under another, they are read again: nothing to join now.
    assert.deepEqual(planExec(proc, { pid: c.handle.pid }).joinNamespaces, []);
    assert.deepEqual(planExec(proc, { pid: c.handle.pid, initKey: `${key}-restarted` }).joinNamespaces, []);
  });

  test("hako-init as PID 1: reaps orphans, forwards SIGTERM (143)", { skip: existsSync(INIT_BIN) ? false : "hako-init is not built" }, async () => {
    const { c, conn } = await f.run(["/dev/init", "--", "sh", "-c", "(sleep 0.1 &); exec sleep 60"], {
      edit: (s) => s.mounts!.push({ destination: "/dev/init", type: "bind", source: INIT_BIN, options: ["rbind", "ro"] }),
      attach: { watch: true, stdout: true, stderr: true },
    });
    const init = c.handle.pid;
    assert.match(readFileSync(`/proc/${init}/cmdline`, "utf8"), /^\/dev\/init\0--\0sh/);
    // The orphaned `sleep 0.1` came to the init and exited: reaped, it is no zombie child of it.
    await new Promise((r) => setTimeout(r, 700));
    const children = readFileSync(`/proc/${init}/task/${init}/children`, "utf8").trim().split(/\s+/).map(Number);
    assert.equal(children.length, 1, `init's children: ${children.join(" ")}`);
    assert.equal(alive(children[0]!), true, "no zombie");
    assert.match(readFileSync(`/proc/${children[0]}/cmdline`, "utf8"), /^sleep\x0060/);
    assert.deepEqual(c.cgroup.pids().sort(), [init, children[0]!].sort());
    // PID 1 of a namespace gets only signals it handles: hako-init waits for them and passes them on.
    process.kill(init, "SIGTERM");
    assert.equal(await conn.exited, 143);
    await assertFinished(c, 143);
    assert.equal(readExitFile(c.dir)!.signal, 0, "hako-init exited (with 128+15), it was not killed");
  });

  test("hako-init: exit status and exec errors", async () => {
    const run = async (args: string[]) => {
      const { c, conn, output } = await f.run(["/dev/init", ...args], {
        edit: (s) => s.mounts!.push({ destination: "/dev/init", type: "bind", source: INIT_BIN, options: ["rbind", "ro"] }),
      });
      const code = await conn.exited;
      await waitGone(c.handle.shimPid);
      return { code, err: text(output[2]) };
    };
    assert.deepEqual(await run(["--", "sh", "-c", "exit 5"]), { code: 5, err: "" });
    assert.deepEqual(await run(["sh", "-c", "kill -KILL $$"]), { code: 137, err: "" });
    const missing = await run(["--", "/nope"]);
    assert.equal(missing.code, 127);
    assert.match(missing.err, /hako-init: exec \/nope failed: No such file or directory/);
  });
});
