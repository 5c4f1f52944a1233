/**
 * docker exec through the Engine API of a throw-away hakod: real busybox
 * containers, hijacked exec streams (multiplexed and TTY), stdin, resize,
 * env/user/workdir, the container's pid namespace, privileged execs,
 * exit codes 126/127, detached execs, events, and the refusals (404, 409,
 * 400) the daemon must survive. Every container is force-removed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { demux, hijack } from "../helpers/hijack.ts";

const isRoot = process.getuid?.() === 0;
const DOCKER = "/usr/local/bin/docker";

describe("exec API", { skip: isRoot ? false : "needs root (namespaces, cgroups, overlayfs)" }, () => {
  let d: TestDaemon;
  let ctr = "";
  // The shims' attach.sock paths must fit a unix socket address: a short exec root.
  const execRoot = mkdtempSync("/tmp/hx-");

  async function createContainer(body: object, start = true): Promise<string> {
    const res = await d.request("POST", "/containers/create", { body: { Image: "busybox", ...body } });
    assert.equal(res.status, 201, res.body);
    const id = res.json<{ Id: string }>().Id;
    if (start) {
      const s = await d.request("POST", `/containers/${id}/start`, { timeoutMs: 30_000 });
      assert.equal(s.status, 204, s.body);
    }
    return id;
  }

  async function execCreate(container: string, body: object): Promise<string> {
    const res = await d.request("POST", `/containers/${container}/exec`, { body });
    assert.equal(res.status, 201, res.body);
    return res.json<{ Id: string }>().Id;
  }

  async function inspectExec(id: string): Promise<any> {
    const res = await d.request("GET", `/exec/${id}/json`);
    assert.equal(res.status, 200, res.body);
    return res.json();
  }

  /** Runs a command attached (stdout+stderr), returns its output and exit code. */
  async function run(cmd: string[], extra: object = {}, container = ctr): Promise<{ id: string; stdout: string; stderr: string; exitCode: number | null }> {
    const id = await execCreate(container, { Cmd: cmd, AttachStdout: true, AttachStderr: true, ...extra });
    const h = await hijack(d.socket, `/v1.44/exec/${id}/start`, { Detach: false, Tty: false });
    assert.equal(h.status, 101);
    await h.closed;
    const out = demux(h.data());
    const info = await inspectExec(id);
    return { id, ...out, exitCode: info.ExitCode };
  }

  before(async () => {
    d = await startDaemon({ extraArgs: ["--exec-root", execRoot] });
    const bb = await d.request("POST", "/hako/images/busybox", { timeoutMs: 60_000 });
    assert.equal(bb.status, 200, bb.body);
    ctr = await createContainer({ Cmd: ["sleep", "3600"], Env: ["CENV=from-container"], Hostname: "exechost" });
  });

  after(async () => {
    await d?.stop(); // force-removes every container first
    // The pinned helper goes with the daemon: nothing stays mounted under its exec root.
    assert.doesNotMatch(readFileSync("/proc/self/mountinfo", "utf8"), new RegExp(` ${execRoot}/`));
    rmSync(execRoot, { recursive: true, force: true });
  });

  test("the helper an exec runs from is hakod's read-only pin: no write reaches the host binary", async () => {
    // CVE-2019-5736: the exec's helper is visible to the container as /proc/<pid>/exe while it sets up.
    const pinned = `${execRoot}/bin/hako-shim`;
    assert.match(readFileSync("/proc/self/mountinfo", "utf8"), new RegExp(` ${pinned} ro,`));
    const id = await execCreate(ctr, { Cmd: ["sleep", "30"], AttachStdout: true, AttachStderr: true });
    const h = await hijack(d.socket, `/exec/${id}/start`, { Detach: false, Tty: false });
    assert.equal(h.status, 101);
    let pid = 0;
    try {
      for (let i = 0; i < 200 && !pid; i++) {
        pid = (await inspectExec(id)).Pid;
        if (!pid) await new Promise((r) => setTimeout(r, 10));
      }
      const helper = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
      assert.equal(readlinkSync(`/proc/${helper}/exe`), pinned);
      assert.throws(() => openSync(`/proc/${helper}/exe`, "r+"), (err: NodeJS.ErrnoException) => err.code === "EROFS" || err.code === "ETXTBSY");
      assert.throws(() => openSync(pinned, "r+"), (err: NodeJS.ErrnoException) => err.code === "EROFS" || err.code === "ETXTBSY");
    } finally {
      if (pid) process.kill(pid, "SIGKILL"); // the exec's own process, by the pid this test started
      await h.closed;
    }
  });

  test("exec echo: 101 UPGRADED, multiplexed stdout/stderr, exit code in inspect", async () => {
    const id = await execCreate(ctr, { Cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"], AttachStdout: true, AttachStderr: true });
    const before = await inspectExec(id);
    assert.equal(before.Running, false);
    assert.equal(before.ExitCode, null);
    assert.equal(before.ContainerID.length, 64);
    assert.deepEqual(before.ProcessConfig, { arguments: ["-c", "echo out; echo err >&2; exit 3"], entrypoint: "sh", privileged: false, tty: false });
    const h = await hijack(d.socket, `/exec/${id}/start`, { Detach: false, Tty: false });
    assert.equal(h.status, 101);
    assert.equal(h.headers["content-type"], "application/vnd.docker.multiplexed-stream");
    assert.equal(h.headers.upgrade, "tcp");
    await h.closed;
    assert.deepEqual(demux(h.data()), { stdout: "out\n", stderr: "err\n" });
    const info = await inspectExec(id);
    assert.equal(info.ExitCode, 3);
    assert.equal(info.Running, false);
    assert.ok(info.Pid > 0);
    // The container lists its execs that have not exited (dockerd's ExecIDs); an exited one is still inspectable.
    const pending = await execCreate(ctr, { Cmd: ["true"] });
    const c = (await d.request("GET", `/containers/${ctr}/json`)).json();
    assert.ok(c.ExecIDs.includes(pending), JSON.stringify(c.ExecIDs));
    assert.ok(!c.ExecIDs.includes(id), JSON.stringify(c.ExecIDs));
  });

  test("stdin through cat: the client's half-close ends the process", async () => {
    const id = await execCreate(ctr, { Cmd: ["cat"], AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const h = await hijack(d.socket, `/exec/${id}/start`, { Detach: false, Tty: false });
    assert.equal(h.status, 101);
    h.socket.write("hello through stdin\n");
    await h.waitFor(/hello through stdin/);
    h.socket.end();
    await h.closed;
    assert.equal(demux(h.data()).stdout, "hello through stdin\n");
    assert.equal((await inspectExec(id)).ExitCode, 0);
  });

  test("megabytes both ways through cat: every byte comes back and the daemon answers meanwhile", async () => {
    const input = randomBytes(3 << 20).toString("base64");
    const id = await execCreate(ctr, { Cmd: ["cat"], AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const h = await hijack(d.socket, `/exec/${id}/start`, { Detach: false, Tty: false });
    assert.equal(h.status, 101);
    // More than every socket buffer on the way holds: cat blocks on its output until hakod reads it.
    h.socket.end(input);
    const ping = await d.request("GET", "/_ping", { timeoutMs: 5000 });
    assert.equal(ping.status, 200, "the event loop is not stuck in a write");
    await h.closed;
    const out = demux(h.data()).stdout;
    assert.equal(out.length, input.length);
    assert.ok(out === input, "the same bytes");
    assert.equal((await inspectExec(id)).ExitCode, 0);
  });

  test("TTY exec: raw stream, ConsoleSize at start, stty size after a resize", async () => {
    const id = await execCreate(ctr, { Cmd: ["sh", "-c", "stty size; read x; stty size; echo TERM=$TERM"], Tty: true, AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const h = await hijack(d.socket, `/exec/${id}/start`, { Detach: false, Tty: true, ConsoleSize: [30, 100] });
    assert.equal(h.status, 101);
    assert.equal(h.headers["content-type"], "application/vnd.docker.raw-stream");
    await h.waitFor(/30 100/);
    const r = await d.request("POST", `/exec/${id}/resize?h=40&w=120`);
    assert.equal(r.status, 200, r.body);
    h.socket.write("\n");
    await h.waitFor(/40 120/);
    await h.closed;
    const text = h.data().toString();
    assert.match(text, /TERM=xterm/);
    assert.doesNotMatch(text.slice(0, 1), /\x01/, "a TTY stream carries no frame headers");
    assert.equal((await inspectExec(id)).ExitCode, 0);
  });

  test("TTY exec: the detach keys end the session and leave the process running", async () => {
    assert.equal((await d.request("POST", `/containers/${ctr}/exec`, { body: { Cmd: ["sh"], DetachKeys: "ctrl-nope" } })).status, 400);
    const id = await execCreate(ctr, { Cmd: ["sh"], Tty: true, AttachStdin: true, AttachStdout: true, DetachKeys: "ctrl-x,x" });
    const h = await hijack(d.socket, `/exec/${id}/start`, { Tty: true });
    assert.equal(h.status, 101);
    h.socket.write("echo before-$((6*7))\n");
    await h.waitFor(/before-42/);
    h.socket.write("\x18x");
    await h.closed;
    const info = await inspectExec(id);
    assert.equal(info.Running, true);
    assert.equal(info.ExitCode, null);
    assert.equal(info.DetachKeys, "ctrl-x,x");
  });

  test("env = container env + exec env, user and working directory", async () => {
    const r = await run(["sh", "-c", 'echo "$CENV $XENV $HOSTNAME $(id -u):$(id -g) $(pwd)"'], { Env: ["XENV=from-exec"], User: "1234:5678", WorkingDir: "/tmp" });
    assert.equal(r.stdout, "from-container from-exec exechost 1234:5678 /tmp\n");
    assert.equal(r.exitCode, 0);
    const named = await run(["sh", "-c", "id -u; id -g"], { User: "nobody" });
    assert.equal(named.stdout, "65534\n65534\n");
    const override = await run(["sh", "-c", "echo $CENV"], { Env: ["CENV=overridden"] });
    assert.equal(override.stdout, "overridden\n");
    // HOME as runc sets it: the exec user's home from passwd, / without an entry.
    assert.equal((await run(["sh", "-c", "echo $HOME"], {})).stdout, "/root\n");
    assert.equal((await run(["sh", "-c", "echo $HOME"], { User: "nobody" })).stdout, "/home\n");
    assert.equal((await run(["sh", "-c", "echo $HOME"], { User: "4321" })).stdout, "/\n");
  });

  test("the user is looked up at start: /etc/passwd changed after create counts; a restart between create and start too", async () => {
    const c = await createContainer({ Cmd: ["sleep", "3600"] });
    // Planned after create; the user appears (and nobody moves) before start.
    const later = await execCreate(c, { Cmd: ["id", "-u"], User: "later", AttachStdout: true, AttachStderr: true });
    const moved = await execCreate(c, { Cmd: ["id", "-u"], User: "nobody", AttachStdout: true, AttachStderr: true });
    await new Promise((r) => setTimeout(r, 50));
    const edit = await run(["sh", "-c", "echo later:x:4321:4321::/:/bin/sh >> /etc/passwd && sed -i 's/^nobody:x:65534:/nobody:x:4322:/' /etc/passwd"], {}, c);
    assert.equal(edit.exitCode, 0, edit.stderr);
    for (const [id, uid] of [[later, "4321"], [moved, "4322"]] as const) {
      const h = await hijack(d.socket, `/v1.44/exec/${id}/start`, { Detach: false, Tty: false });
      await h.closed;
      assert.equal(demux(h.data()).stdout.trim(), uid);
    }
    // A restart between create and start: the exec joins the new init.
    const again = await execCreate(c, { Cmd: ["cat", "/proc/1/cmdline"], AttachStdout: true, AttachStderr: true });
    await new Promise((r) => setTimeout(r, 50));
    const r = await d.request("POST", `/containers/${c}/restart?t=0`, { timeoutMs: 30_000 });
    assert.equal(r.status, 204, r.body);
    const h = await hijack(d.socket, `/v1.44/exec/${again}/start`, { Detach: false, Tty: false });
    await h.closed;
    const out = demux(h.data());
    // dockerd forgets a stopped container's execs: either the exec runs in the new init's namespaces, or it is refused.
    if (h.status === 101 && out.stdout) assert.equal(out.stdout.replace(/\0/g, " ").trim(), "sleep 3600");
    else assert.notEqual(h.status, 101);
  });

  test("a process left in the background holding the output: the exec ends 2 s after its own process, as dockerd's", async () => {
    const started = Date.now();
    const r = await run(["sh", "-c", "sleep 60 & echo $!"]);
    const took = Date.now() - started;
    assert.match(r.stdout, /^\d+\n$/);
    assert.equal(r.exitCode, 0);
    assert.ok(took >= 1500 && took < 10_000, `took ${took} ms`);
    assert.equal((await run(["kill", r.stdout.trim()])).exitCode, 0, "the background process was still running");
  });

  test("an unknown user: dockerd's message in the stream, exit code 126, the daemon goes on", async () => {
    const r = await run(["true"], { User: "no-such-user" });
    assert.equal(r.exitCode, 126);
    assert.match(r.stdout, /unable to find user no-such-user: no matching entries in passwd file\r\n$/);
    assert.equal((await d.request("GET", "/_ping")).status, 200);
  });

  test("command not found: 127 with runc's message; not executable: 126", async () => {
    const r = await run(["no-such-command"]);
    assert.equal(r.exitCode, 127);
    assert.match(r.stdout, /^OCI runtime exec failed: exec failed: unable to start container process: exec: "no-such-command": executable file not found in \$PATH: unknown\r\n$/);
    const dir = await run(["/etc"]);
    assert.equal(dir.exitCode, 126);
    assert.match(dir.stdout, /exec: "\/etc": is a directory/);
    const noDir = await run(["true"], { WorkingDir: "/no/such/dir" });
    assert.equal(noDir.exitCode, 127);
    assert.match(noDir.stdout, /chdir to cwd \("\/no\/such\/dir"\)/);
    const plain = await run(["/etc/passwd"]);
    assert.equal(plain.exitCode, 126);
    assert.match(plain.stdout, /exec: "\/etc\/passwd": permission denied/);
  });

  test("detached exec: 200 at once, runs to its end, exit code recorded", async () => {
    const id = await execCreate(ctr, { Cmd: ["sh", "-c", "sleep 0.2; echo done > /tmp/detached; exit 5"] });
    const res = await d.request("POST", `/exec/${id}/start`, { body: { Detach: true } });
    assert.equal(res.status, 200, res.body);
    let info = await inspectExec(id);
    const deadline = Date.now() + 10_000;
    while (info.ExitCode === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      info = await inspectExec(id);
    }
    assert.equal(info.ExitCode, 5);
    assert.equal(info.Running, false);
    assert.equal((await run(["cat", "/tmp/detached"])).stdout, "done\n");
  });

  test("the exec sees the container's pid namespace", async () => {
    const r = await run(["ps", "-o", "pid,args"]);
    assert.match(r.stdout, /^\s*1 sleep 3600$/m);
    assert.doesNotMatch(r.stdout, /hakod|node/);
    const cg = await run(["sh", "-c", "cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup"]);
    const [mine, init] = cg.stdout.split("---\n");
    assert.equal(mine, init, "the exec joins the container's cgroups");
  });

  test("privileged exec gets every capability of the host; a plain one the container's", async () => {
    const capOf = (status: string, field: string): bigint => BigInt(`0x${new RegExp(`^${field}:\\s*([0-9a-f]+)$`, "m").exec(status)![1]}`);
    const host = capOf(readFileSync("/proc/self/status", "utf8"), "CapBnd");
    const plain = await run(["cat", "/proc/self/status"]);
    const priv = await run(["cat", "/proc/self/status"], { Privileged: true });
    assert.equal(capOf(plain.stdout, "CapEff"), 0xa80425fbn, "Docker's default set");
    assert.equal(capOf(priv.stdout, "CapEff"), host);
    assert.equal(capOf(priv.stdout, "CapBnd"), host);
    assert.equal(capOf(plain.stdout, "NoNewPrivs"), 0n);
    const seccomp = capOf(plain.stdout, "Seccomp");
    assert.equal(seccomp, 2n, "the container's seccomp filter applies to its execs");
    const info = await inspectExec(priv.id);
    assert.equal(info.ProcessConfig.privileged, true);
  });

  test("exec events: exec_create, exec_start, exec_die with exitCode", async () => {
    const since = Date.now() / 1000;
    const r = await run(["sh", "-c", "exit 4"]);
    assert.equal(r.exitCode, 4);
    const until = Date.now() / 1000 + 1;
    const res = await d.request("GET", `/events?since=${since}&until=${until}&filters=${encodeURIComponent(JSON.stringify({ container: [ctr] }))}`, { timeoutMs: 5000 });
    assert.equal(res.status, 200, res.body);
    const events = res.body
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const actions = events.map((e) => e.Action as string);
    assert.ok(actions.includes("exec_create: sh -c exit 4"), actions.join(", "));
    assert.ok(actions.includes("exec_start: sh -c exit 4"), actions.join(", "));
    const die = events.find((e) => e.Action === "exec_die");
    assert.ok(die, actions.join(", "));
    assert.equal(die.Actor.Attributes.exitCode, "4");
    assert.match(die.Actor.Attributes.execID, /^[0-9a-f]{64}$/);
  });

  test("refusals: unknown exec 404, started twice 409, bad bodies 400, stopped and paused containers 409", async () => {
    const missing = await d.request("GET", "/exec/nope/json");
    assert.equal(missing.status, 404);
    assert.equal(missing.json().message, "No such exec instance: nope");
    assert.equal((await d.request("POST", "/exec/nope/resize?h=1&w=1")).status, 404);
    const hm = await hijack(d.socket, "/exec/nope/start", {});
    assert.equal(hm.status, 404);
    hm.socket.destroy();

    // A broken hijack request is an HTTP answer, and a client that leaves mid-body costs nothing.
    const spare = await execCreate(ctr, { Cmd: ["true"] });
    const broken = await new Promise<string>((resolve) => {
      const sock = net.connect(d.socket, () => {
        sock.write(`POST /exec/${spare}/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 9\r\n\r\n{"Detach"`);
      });
      let text = "";
      sock.on("data", (c) => (text += c));
      sock.on("close", () => resolve(text));
      sock.on("end", () => sock.end());
    });
    assert.match(broken, /^HTTP\/1.1 400 /);
    await new Promise<void>((resolve) => {
      const sock = net.connect(d.socket, () => {
        sock.write(`POST /exec/${spare}/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 100\r\n\r\n{`);
        setTimeout(() => sock.destroy(), 50);
      });
      sock.on("close", () => resolve());
      sock.on("error", () => {});
    });
    assert.equal((await inspectExec(spare)).Running, false, "an exec whose start never arrived did not start");

    const id = await execCreate(ctr, { Cmd: ["true"] });
    const first = await d.request("POST", `/exec/${id}/start`, { body: { Detach: true } });
    assert.equal(first.status, 200);
    const twice = await d.request("POST", `/exec/${id}/start`, { body: { Detach: true } });
    assert.equal(twice.status, 409, twice.body);

    assert.equal((await d.request("POST", `/containers/${ctr}/exec`, { body: {} })).status, 400);
    assert.equal((await d.request("POST", `/containers/${ctr}/exec`, { body: { Cmd: "ls" } })).status, 400);
    assert.equal((await d.request("POST", `/containers/${ctr}/exec`, { body: "{not json" })).status, 400);
    assert.equal((await d.request("POST", `/containers/${ctr}/exec`, { body: { Cmd: ["ls"], ConsoleSize: [1] } })).status, 400);
    assert.equal((await d.request("POST", `/containers/nosuchcontainer/exec`, { body: { Cmd: ["ls"] } })).status, 404);
    const fresh = await execCreate(ctr, { Cmd: ["true"], Tty: true });
    assert.equal((await d.request("POST", `/exec/${fresh}/resize?h=x&w=1`)).status, 400);
    assert.equal((await d.request("POST", `/exec/${fresh}/resize?w=1`)).status, 400);
    assert.equal((await d.request("POST", `/exec/${fresh}/start`, { body: { ConsoleSize: "big" } })).status, 400);

    const stopped = await createContainer({ Cmd: ["true"] }, false);
    const notRunning = await d.request("POST", `/containers/${stopped}/exec`, { body: { Cmd: ["ls"] } });
    assert.equal(notRunning.status, 409);
    assert.equal(notRunning.json().message, `container ${stopped} is not running`);

    const paused = await createContainer({ Cmd: ["sleep", "3600"] });
    assert.equal((await d.request("POST", `/containers/${paused}/pause`)).status, 204);
    const p = await d.request("POST", `/containers/${paused}/exec`, { body: { Cmd: ["ls"] } });
    assert.equal(p.status, 409);
    assert.equal(p.json().message, `container ${paused} is paused, unpause the container before exec`);
    assert.equal((await d.request("POST", `/containers/${paused}/unpause`)).status, 204);
    for (const c of [stopped, paused]) assert.equal((await d.request("DELETE", `/containers/${c}?force=1`, { timeoutMs: 20_000 })).status, 204);
    assert.equal((await d.request("GET", "/_ping")).status, 200);
  });

  test("start without an upgrade: the output in the response body", async () => {
    const id = await execCreate(ctr, { Cmd: ["sh", "-c", "echo plain; echo bad >&2; exit 2"], AttachStdout: true, AttachStderr: true });
    const res = await d.request("POST", `/exec/${id}/start`, { body: { Detach: false } });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], "application/vnd.docker.multiplexed-stream");
    // Frame headers and this output are ASCII: the text body gives the bytes back.
    assert.deepEqual(demux(Buffer.from(res.body)), { stdout: "plain\n", stderr: "bad\n" });
    assert.equal((await inspectExec(id)).ExitCode, 2);
  });

  test("the container's user is the exec's default", async () => {
    const c = await createContainer({ Cmd: ["sleep", "3600"], User: "nobody" });
    assert.equal((await run(["id", "-u"], {}, c)).stdout, "65534\n");
    assert.equal((await run(["id", "-u"], { User: "root" }, c)).stdout, "0\n");
    assert.equal((await d.request("DELETE", `/containers/${c}?force=1`, { timeoutMs: 20_000 })).status, 204);
  });

  test("no-new-privileges and cap-drop of the container hold for its execs", async () => {
    const c = await createContainer({ Cmd: ["sleep", "3600"], HostConfig: { SecurityOpt: ["no-new-privileges"], CapDrop: ["ALL"] } });
    const status = (await run(["cat", "/proc/self/status"], {}, c)).stdout;
    assert.match(status, /^NoNewPrivs:\s+1$/m);
    assert.match(status, /^CapEff:\s+0+$/m);
    assert.equal((await d.request("DELETE", `/containers/${c}?force=1`, { timeoutMs: 20_000 })).status, 204);
  });

  test("exec records go with their container", async () => {
    const c = await createContainer({ Cmd: ["sleep", "3600"] });
    const id = await execCreate(c, { Cmd: ["true"] });
    assert.equal((await d.request("DELETE", `/containers/${c}?force=1`, { timeoutMs: 20_000 })).status, 204);
    assert.equal((await d.request("GET", `/exec/${id}/json`)).status, 404);
  });

  test("an exec still running when its container stops ends, its exit code kept", async () => {
    const c = await createContainer({ Cmd: ["sleep", "3600"] });
    const id = await execCreate(c, { Cmd: ["sleep", "100"], AttachStdout: true });
    const h = await hijack(d.socket, `/exec/${id}/start`, {});
    assert.equal(h.status, 101);
    // 101 comes before the process runs: wait for its pid before the container goes.
    const deadline = Date.now() + 10_000;
    while ((await inspectExec(id)).Pid === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await d.request("POST", `/containers/${c}/kill`)).status, 204);
    await h.closed;
    const info = await inspectExec(id);
    assert.equal(info.Running, false);
    assert.equal(info.ExitCode, 137);
    assert.equal((await d.request("DELETE", `/containers/${c}?force=1`, { timeoutMs: 20_000 })).status, 204);
  });

  test("the stock docker CLI: exec, -i with piped stdin, -it through script, -d, exit codes", { skip: existsSync(DOCKER) ? false : `${DOCKER} is not installed` }, () => {
    const env = { ...process.env, DOCKER_HOST: d.host };
    const docker = (args: string[], input?: string) => spawnSync(DOCKER, args, { env, input, encoding: "utf8", timeout: 30_000 });
    const plain = docker(["exec", "-e", "X=1", ctr, "sh", "-c", "echo out $X; echo err >&2; exit 3"]);
    assert.equal(plain.status, 3, plain.stderr);
    assert.equal(plain.stdout, "out 1\n");
    assert.equal(plain.stderr, "err\n");
    const piped = docker(["exec", "-i", ctr, "cat"], "through the CLI\n");
    assert.equal(piped.status, 0, piped.stderr);
    assert.equal(piped.stdout, "through the CLI\n");
    const missing = docker(["exec", ctr, "no-such-command"]);
    assert.equal(missing.status, 127);
    assert.match(missing.stdout + missing.stderr, /executable file not found in \$PATH/);
    const detached = docker(["exec", "-d", ctr, "touch", "/tmp/cli-detached"]);
    assert.equal(detached.status, 0, detached.stderr);
    const tty = spawnSync("script", ["-qec", `stty rows 21 cols 77; ${DOCKER} exec -it ${ctr} sh -c 'stty size; exit 4'`, "/dev/null"], { env, encoding: "utf8", timeout: 30_000 });
    assert.equal(tty.status, 4, tty.stdout + tty.stderr);
    assert.match(tty.stdout, /21 77/);
    const stopped = docker(["exec", "nosuchcontainer", "true"]);
    assert.notEqual(stopped.status, 0);
    assert.match(stopped.stderr, /No such container: nosuchcontainer/);
  });
});
