/**
 * The container endpoints of a throw-away hakod with real busybox
 * containers: the lifecycle and its status codes (201/204/304/404/409),
 * wait conditions, logs (multiplexed, raw with a TTY, follow), attach
 * (before start, stdin through cat, half-close, detach keys), kill with
 * signals and exit codes, restart, rename, update, pause, top, stats,
 * prune, events, bad input answered 400 with the daemon alive after, and
 * the stock docker CLI against the daemon. Every container is
 * force-removed (TestDaemon.stop does it too).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { DetachKeyMatcher, parseDetachKeys } from "../../src/api/attach.ts";
import { checkCreateBody } from "../../src/api/container-body.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { demux, hijack } from "../helpers/hijack.ts";

const isRoot = process.getuid?.() === 0;
const DOCKER = "/usr/local/bin/docker";

/** A streaming GET/POST: the status and headers as soon as they come, the body as it grows. */
function openStream(socketPath: string, method: string, urlPath: string) {
  const req = http.request({ socketPath, method, path: urlPath, agent: false });
  let body = Buffer.alloc(0);
  // The close listener goes on in the response handler itself: a short body can end and close
  // (on the nextTick queue) before a promise callback would have attached it.
  let closed!: () => void;
  let failed!: (err: Error) => void;
  const ended = new Promise<void>((resolve, reject) => {
    closed = resolve;
    failed = reject;
  });
  ended.catch(() => {}); // also reported through `response`
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.on("response", (res) => {
      res.on("data", (c: Buffer) => (body = Buffer.concat([body, c])));
      res.on("close", () => closed());
      resolve(res);
    });
    req.on("error", (err) => {
      reject(err);
      failed(err);
    });
  });
  req.end();
  return { req, response, ended, body: () => body };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("containers API", { skip: isRoot ? false : "needs root (namespaces, cgroups, overlayfs)" }, () => {
  let d: TestDaemon;
  // The shims' attach.sock paths must fit a unix socket address: a short exec root.
  const execRoot = mkdtempSync("/tmp/hc-");

  async function create(body: object, name?: string): Promise<string> {
    const res = await d.request("POST", `/containers/create${name ? `?name=${name}` : ""}`, { body: { Image: "busybox", ...body } });
    assert.equal(res.status, 201, res.body);
    return res.json<{ Id: string }>().Id;
  }

  async function start(id: string): Promise<void> {
    const res = await d.request("POST", `/containers/${id}/start`, { timeoutMs: 30_000 });
    assert.equal(res.status, 204, res.body);
  }

  async function run(body: object, name?: string): Promise<string> {
    const id = await create(body, name);
    await start(id);
    return id;
  }

  async function inspect(id: string): Promise<any> {
    const res = await d.request("GET", `/containers/${id}/json`);
    assert.equal(res.status, 200, res.body);
    return res.json();
  }

  async function waitExit(id: string): Promise<number> {
    const res = await d.request("POST", `/containers/${id}/wait`, { timeoutMs: 30_000 });
    assert.equal(res.status, 200, res.body);
    return res.json<{ StatusCode: number }>().StatusCode;
  }

  async function rm(id: string): Promise<void> {
    const res = await d.request("DELETE", `/containers/${id}?force=1&v=1`, { timeoutMs: 20_000 });
    assert.ok(res.status === 204 || res.status === 404, res.body);
  }

  before(async () => {
    d = await startDaemon({ extraArgs: ["--exec-root", execRoot] });
    const bb = await d.request("POST", "/hako/images/busybox", { timeoutMs: 60_000 });
    assert.equal(bb.status, 200, bb.body);
  });

  after(async () => {
    await d?.stop(); // force-removes every container first
    rmSync(execRoot, { recursive: true, force: true });
  });

  test("lifecycle: create 201, start 204/304, stop 204/304, remove 409 then 204, 404 after", async () => {
    const id = await create({ Cmd: ["sleep", "300"] }, "life");
    let c = await inspect("life");
    assert.equal(c.Id, id);
    assert.equal(c.State.Status, "created");
    assert.equal(c.Name, "/life");
    const sized = (await d.request("GET", `/containers/${id}/json?size=1`)).json();
    assert.equal(typeof sized.SizeRw, "number");
    assert.ok(sized.SizeRootFs > 1000, "the image's busybox counts in SizeRootFs");
    const listed = (await d.request("GET", "/containers/json?all=1&size=1")).json<any[]>().find((x) => x.Id === id);
    assert.ok(listed.SizeRootFs > 1000);

    await start(id);
    assert.equal((await d.request("POST", `/containers/${id}/start`)).status, 304);
    c = await inspect(id);
    assert.equal(c.State.Status, "running");
    assert.ok(c.State.Pid > 0);

    const list = await d.request("GET", "/containers/json");
    assert.ok(list.json<any[]>().some((x) => x.Id === id && x.State === "running" && x.Names[0] === "/life"));

    const rm409 = await d.request("DELETE", `/containers/${id}`);
    assert.equal(rm409.status, 409, rm409.body);
    assert.match(rm409.json().message, /container is running: stop the container before removing or force remove/);

    const began = Date.now();
    const stop = await d.request("POST", `/containers/${id}/stop?t=1`, { timeoutMs: 20_000 });
    assert.equal(stop.status, 204, stop.body);
    assert.ok(Date.now() - began < 8000);
    // sleep as pid 1 ignores SIGTERM: the SIGKILL after t=1 ends it.
    assert.equal((await inspect(id)).State.ExitCode, 137);
    assert.equal((await d.request("POST", `/containers/${id}/stop`)).status, 304);

    const all = await d.request("GET", "/containers/json?all=1");
    assert.ok(all.json<any[]>().some((x) => x.Id === id && x.State === "exited"));
    assert.ok(!(await d.request("GET", "/containers/json")).json<any[]>().some((x) => x.Id === id));

    assert.equal((await d.request("DELETE", `/containers/${id}`)).status, 204);
    const gone = await d.request("GET", `/containers/${id}/json`);
    assert.equal(gone.status, 404);
    assert.equal(gone.json().message, `No such container: ${id}`);
  });

  test("create: unknown image 404, name in use 409, bad names and bodies 400", async () => {
    const nope = await d.request("POST", "/containers/create", { body: { Image: "busybox:nope" } });
    assert.equal(nope.status, 404);
    assert.equal(nope.json().message, "No such image: busybox:nope");

    const id = await create({ Cmd: ["true"] }, "taken");
    const dup = await d.request("POST", "/containers/create?name=taken", { body: { Image: "busybox" } });
    assert.equal(dup.status, 409);
    assert.match(dup.json().message, /is already in use by container/);

    assert.equal((await d.request("POST", "/containers/create?name=bad%20name!", { body: { Image: "busybox" } })).status, 400);
    const notJson = await d.request("POST", "/containers/create", { body: "{not json", headers: { "Content-Type": "application/json" } });
    assert.equal(notJson.status, 400);
    assert.match(notJson.json().message, /invalid JSON/);
    assert.equal((await d.request("POST", "/containers/create", { body: "[1,2]" })).status, 400);
    const badEnv = await d.request("POST", "/containers/create", { body: { Image: "busybox", Env: "A=1" } });
    assert.equal(badEnv.status, 400);
    assert.match(badEnv.json().message, /Env/);
    assert.equal((await d.request("POST", "/containers/create", { body: { Image: "busybox", HostConfig: { Memory: "lots" } } })).status, 400);
    assert.equal((await d.request("POST", "/containers/create?platform=windows", { body: { Image: "busybox" } })).status, 400);
    // Cmd as one string is a one-element list (Docker's strslice).
    const one = await create({ Cmd: "true" });
    assert.deepEqual((await inspect(one)).Config.Cmd, ["true"]);
    await rm(one);
    await rm(id);
  });

  test("wait: headers before the exit, next-exit, not-running, removed, bad condition", async () => {
    const id = await create({ Cmd: ["sh", "-c", "sleep 0.3; exit 7"] });
    const w = openStream(d.socket, "POST", `/containers/${id}/wait?condition=next-exit`);
    const res = await w.response; // before the container even started
    assert.equal(res.statusCode, 200);
    await start(id);
    await w.ended;
    assert.deepEqual(JSON.parse(w.body().toString()), { StatusCode: 7 });
    // not-running on an exited container answers at once.
    assert.equal(await waitExit(id), 7);

    const removed = openStream(d.socket, "POST", `/containers/${id}/wait?condition=removed`);
    await removed.response;
    await sleep(100);
    assert.equal(removed.body().length, 0);
    await rm(id);
    await removed.ended;
    assert.equal(JSON.parse(removed.body().toString()).StatusCode, 7);

    const bad = await d.request("POST", `/containers/${id}/wait?condition=whenever`);
    assert.equal(bad.status, 400);
    assert.equal((await d.request("POST", "/containers/nosuch/wait")).status, 404);

    // A client that goes away: the daemon forgets the wait and stays up.
    const live = await run({ Cmd: ["sleep", "300"] });
    const gone = openStream(d.socket, "POST", `/containers/${live}/wait`);
    await gone.response;
    gone.req.destroy();
    await sleep(100);
    assert.equal((await d.request("GET", "/_ping")).status, 200);
    await rm(live);
  });

  test("logs: multiplexed streams, tail, timestamps, since; raw with a TTY; follow ends at the exit", async () => {
    const id = await run({ Cmd: ["sh", "-c", "echo out1; echo err1 >&2; echo out2"] });
    assert.equal(await waitExit(id), 0);
    const both = await d.request("GET", `/containers/${id}/logs?stdout=1&stderr=1`);
    assert.equal(both.status, 200);
    assert.equal(both.headers["content-type"], "application/vnd.docker.multiplexed-stream");
    const bothBin = await rawGet(`/containers/${id}/logs?stdout=1&stderr=1`);
    assert.deepEqual(demux(bothBin), { stdout: "out1\nout2\n", stderr: "err1\n" });
    assert.deepEqual(demux(await rawGet(`/containers/${id}/logs?stdout=1`)), { stdout: "out1\nout2\n", stderr: "" });
    // tail counts the lines of the streams asked for (stdout and stderr come through separate pipes: no order between them).
    assert.deepEqual(demux(await rawGet(`/containers/${id}/logs?stdout=1&tail=1`)), { stdout: "out2\n", stderr: "" });
    const stamped = demux(await rawGet(`/containers/${id}/logs?stdout=1&timestamps=1`)).stdout;
    assert.match(stamped, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z out1\n/);
    // details: the (empty) attributes and a space before each line, as moby's reader.
    assert.equal(demux(await rawGet(`/containers/${id}/logs?stdout=1&details=1&tail=1`)).stdout, " out2\n");
    // until is inclusive to the nanosecond (the docker CLI sends seconds.nanoseconds).
    const first = /^(\S+) out1/.exec(stamped)![1]!;
    const [secs, frac = "0"] = [String(Date.parse(first.replace(/\.\d+Z$/, "Z")) / 1000), /\.(\d+)Z$/.exec(first)?.[1]];
    assert.equal(demux(await rawGet(`/containers/${id}/logs?stdout=1&until=${secs}.${frac.padEnd(9, "0")}`)).stdout, "out1\n");
    assert.equal(demux(await rawGet(`/containers/${id}/logs?stdout=1&since=${Math.floor(Date.now() / 1000) + 60}`)).stdout, "");
    const none = await d.request("GET", `/containers/${id}/logs`);
    assert.equal(none.status, 400);
    assert.match(none.json().message, /at least one stream/);
    await rm(id);

    const tty = await run({ Cmd: ["sh", "-c", "echo tty-out"], Tty: true });
    await waitExit(tty);
    const ttyLogs = await rawGet(`/containers/${tty}/logs?stdout=1&stderr=1`);
    assert.equal(ttyLogs.toString(), "tty-out\r\n");
    await rm(tty);

    const f = await run({ Cmd: ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.2; done"] });
    const follow = openStream(d.socket, "GET", `/containers/${f}/logs?stdout=1&follow=1`);
    await follow.ended; // ends by itself when the container stops
    assert.equal(demux(follow.body()).stdout, "line1\nline2\nline3\n");
    await rm(f);
  });

  /** A GET whose body is kept as bytes. */
  async function rawGet(urlPath: string): Promise<Buffer> {
    const s = openStream(d.socket, "GET", urlPath);
    const res = await s.response;
    assert.equal(res.statusCode, 200);
    await s.ended;
    return s.body();
  }

  test("attach before start (docker run): stdin through cat, half-close ends it, exit code from wait", async () => {
    const id = await create({ Cmd: ["cat"], OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const h = await hijack(d.socket, `/v1.44/containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1`);
    assert.equal(h.status, 101);
    assert.equal(h.headers["content-type"], "application/vnd.docker.multiplexed-stream");
    assert.equal(h.headers.upgrade, "tcp");
    const w = openStream(d.socket, "POST", `/containers/${id}/wait?condition=next-exit`);
    await w.response;
    await start(id);
    h.socket.write("hello through cat\n");
    await h.waitFor(/hello through cat\n/);
    h.socket.end(); // StdinOnce: the container's stdin closes, cat exits
    await h.closed;
    await w.ended;
    assert.deepEqual(JSON.parse(w.body().toString()), { StatusCode: 0 });
    assert.equal(demux(h.data()).stdout, "hello through cat\n");
    await rm(id);
  });

  test("a failed start is a 400 with exec's message; an AutoRemove container is removed after it", async () => {
    const id = await create({ Cmd: ["/no/such/cmd"], HostConfig: { AutoRemove: true } });
    const removed = openStream(d.socket, "POST", `/containers/${id}/wait?condition=removed`);
    await removed.response;
    const res = await d.request("POST", `/containers/${id}/start`);
    assert.equal(res.status, 400);
    assert.match(res.json().message, /exec: "\/no\/such\/cmd": stat \/no\/such\/cmd: no such file or directory/);
    await removed.ended;
    assert.equal((await d.request("GET", `/containers/${id}/json`)).status, 404);
  });

  test("a start that fails at execve leaves the record as it was: never started, in memory and on disk", async () => {
    // Executable, but no format the kernel runs: it fails after "start" went to the shim.
    const junk = path.join(d.dir, "junk");
    writeFileSync(junk, Buffer.from([0, 1, 2, 0x67, 0x61, 0x72, 0x62]), { mode: 0o755 });
    const id = await create({ Cmd: ["/junk"], HostConfig: { Binds: [`${junk}:/junk:ro`] } });
    const res = await d.request("POST", `/containers/${id}/start`);
    assert.equal(res.status, 400);
    assert.match(res.json().message, /exec format error/);
    const c = await inspect(id);
    assert.equal(c.State.Status, "created");
    assert.equal(c.State.Running, false);
    assert.equal(c.State.ExitCode, 126);
    assert.equal(c.State.StartedAt, "0001-01-01T00:00:00Z");
    const onDisk = JSON.parse(readFileSync(path.join(d.dataRoot, "containers", id, "config.v2.json"), "utf8"));
    assert.equal(onDisk.State.Running, false);
    assert.equal(onDisk.State.StartedAt, "0001-01-01T00:00:00Z");
    assert.equal(onDisk.HasBeenStartedBefore, false);
    await rm(id);
  });

  test("a pending attach whose client left does not keep the others from attaching", async () => {
    const id = await create({ Cmd: ["sh", "-c", "sleep 0.2; echo for-the-stayer"] });
    const leaver = await hijack(d.socket, `/containers/${id}/attach?stream=1&stdout=1`);
    const stayer = await hijack(d.socket, `/containers/${id}/attach?stream=1&stdout=1`);
    leaver.socket.destroy();
    await sleep(50);
    await start(id);
    await stayer.closed;
    assert.equal(demux(stayer.data()).stdout, "for-the-stayer\n");
    await rm(id);
  });

  test("attach with a TTY is raw; detach keys leave the container running; bad detach keys 400", async () => {
    // Detach keys are a terminal's (moby's CopyStreams): without a TTY they are data (the docker CLI test below).
    const id = await run({ Cmd: ["cat"], OpenStdin: true, Tty: true });
    const h = await hijack(d.socket, `/containers/${id}/attach?stream=1&stdin=1&stdout=1`);
    h.socket.write("one\n");
    await h.waitFor(/one\r\n/);
    h.socket.write(Buffer.from([0x10, 0x11])); // ctrl-p ctrl-q
    await h.closed;
    assert.equal((await inspect(id)).State.Running, true);

    // Custom keys; a partial match is passed on as ordinary input.
    const k = await hijack(d.socket, `/containers/${id}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,x`);
    k.socket.write(Buffer.from("\x01y two\n"));
    await k.waitFor(/y two\r\n/);
    k.socket.write("\x01x");
    await k.closed;
    assert.equal((await inspect(id)).State.Running, true);

    const bad = await hijack(d.socket, `/containers/${id}/attach?stream=1&stdin=1&detachKeys=ctrl-nope`);
    assert.equal(bad.status, 400);
    bad.socket.destroy();
    assert.equal((await hijack(d.socket, "/containers/nosuch/attach?stream=1&stdout=1")).status, 404);
    await rm(id);

    const tty = await create({ Cmd: ["sh", "-c", "sleep 0.2; echo on-a-tty"], Tty: true });
    const t = await hijack(d.socket, `/containers/${tty}/attach?stream=1&stdout=1&stderr=1`);
    assert.equal(t.headers["content-type"], "application/vnd.docker.raw-stream");
    await start(tty);
    await t.closed;
    assert.equal(t.data().toString(), "on-a-tty\r\n");
    await rm(tty);
  });

  test("attach without the upgrade: the stream on a plain 200; logs=1 replays", async () => {
    const id = await run({ Cmd: ["sh", "-c", "echo before; sleep 0.5; echo after"] });
    await sleep(200);
    const s = openStream(d.socket, "POST", `/containers/${id}/attach?stream=1&logs=1&stdout=1`);
    assert.equal((await s.response).statusCode, 200);
    await s.ended;
    assert.equal(demux(s.body()).stdout, "before\nafter\n");
    await rm(id);
  });

  test("kill: signals and exit codes (137, 143), 409 when not running, 400 for a bad signal", async () => {
    const k = await run({ Cmd: ["sleep", "300"] });
    const bad = await d.request("POST", `/containers/${k}/kill?signal=NOPE`);
    assert.equal(bad.status, 400);
    assert.equal(bad.json().message, `Cannot kill container: ${k}: Invalid signal: NOPE`);
    const range = await d.request("POST", `/containers/${k}/kill?signal=99`);
    assert.deepEqual([range.status, range.json().message], [400, `Cannot kill container: ${k}: The linux daemon does not support signal 99`]);
    const missing = await d.request("POST", "/containers/nosuch/kill");
    assert.deepEqual([missing.status, missing.json().message], [404, "Cannot kill container: nosuch: No such container: nosuch"]);
    // Real-time signals by name, as systemd's stop signal (SIGRTMIN+3) is given.
    assert.equal((await d.request("POST", `/containers/${k}/kill?signal=SIGRTMIN%2B1`)).status, 204);
    assert.equal((await d.request("POST", `/containers/${k}/kill?signal=RTMAX`)).status, 204);
    assert.equal((await d.request("POST", `/containers/${k}/kill`)).status, 204);
    assert.equal(await waitExit(k), 137);
    const again = await d.request("POST", `/containers/${k}/kill`);
    assert.equal(again.status, 409);
    assert.match(again.json().message, /^Cannot kill container: [0-9a-f]{64}: container [0-9a-f]{64} is not running$/);
    await rm(k);

    // With --init the signal reaches sleep, which dies of it: 128+15.
    const t = await run({ Cmd: ["sleep", "300"], HostConfig: { Init: true } });
    await sleep(200);
    assert.equal((await d.request("POST", `/containers/${t}/kill?signal=SIGTERM`)).status, 204);
    assert.equal(await waitExit(t), 143);
    await rm(t);

    // A signal the process handles: the trap decides the exit code.
    const u = await run({ Cmd: ["sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done"] });
    await sleep(300);
    assert.equal((await d.request("POST", `/containers/${u}/kill?signal=USR1`)).status, 204);
    assert.equal(await waitExit(u), 42);
    await rm(u);
  });

  test("restart, rename, update, pause/unpause, resize", async () => {
    const id = await run({ Cmd: ["sleep", "300"] }, "before-rename");
    const first = (await inspect(id)).State.StartedAt;
    assert.equal((await d.request("POST", `/containers/${id}/restart?t=0`, { timeoutMs: 20_000 })).status, 204);
    const after = await inspect(id);
    assert.equal(after.State.Running, true);
    assert.notEqual(after.State.StartedAt, first);

    assert.equal((await d.request("POST", `/containers/${id}/rename?name=after-rename`)).status, 204);
    assert.equal((await inspect("after-rename")).Id, id);
    const other = await create({ Cmd: ["true"] }, "other-name");
    const conflict = await d.request("POST", `/containers/${id}/rename?name=other-name`);
    assert.equal(conflict.status, 409);
    assert.equal((await d.request("POST", `/containers/${id}/rename`)).status, 400);

    const upd = await d.request("POST", `/containers/${id}/update`, { body: { Memory: 64 << 20, MemorySwap: 128 << 20 } });
    assert.equal(upd.status, 200, upd.body);
    assert.deepEqual(upd.json(), { Warnings: [] });
    assert.equal((await inspect(id)).HostConfig.Memory, 64 << 20);
    assert.equal((await d.request("POST", `/containers/${id}/update`, { body: { Memory: "big" } })).status, 400);
    assert.equal((await d.request("POST", `/containers/${id}/update`, { body: "nope" })).status, 400);

    assert.equal((await d.request("POST", `/containers/${id}/pause`)).status, 204);
    assert.equal((await inspect(id)).State.Status, "paused");
    assert.equal((await d.request("POST", `/containers/${id}/pause`)).status, 409);
    // dockerd lists a paused container's processes (state D, frozen).
    const topPaused = await d.request("GET", `/containers/${id}/top`);
    assert.equal(topPaused.status, 200, topPaused.body);
    assert.equal(topPaused.json<{ Processes: string[][] }>().Processes.length, 1);
    const startPaused = await d.request("POST", `/containers/${id}/start`);
    assert.equal(startPaused.status, 409);
    assert.match(startPaused.json().message, /try unpause instead/);
    assert.equal((await d.request("POST", `/containers/${id}/unpause`)).status, 204);
    assert.equal((await inspect(id)).State.Status, "running");
    assert.equal((await d.request("POST", `/containers/${id}/unpause`)).status, 409);

    assert.equal((await d.request("POST", `/containers/${id}/resize?h=40&w=100`)).status, 200);
    assert.equal((await d.request("POST", `/containers/${id}/resize?h=abc&w=100`)).status, 400);
    assert.equal((await d.request("POST", `/containers/${other}/resize?h=40&w=100`)).status, 409);
    await rm(id);
    await rm(other);
  });

  test("top and stats (one-shot, two samples, stream)", async () => {
    const id = await run({ Cmd: ["sleep", "300"] });
    const top = await d.request("GET", `/containers/${id}/top`);
    assert.equal(top.status, 200, top.body);
    const t = top.json<{ Titles: string[]; Processes: string[][] }>();
    assert.ok(t.Titles.includes("PID"));
    assert.equal(t.Processes.length, 1);
    assert.match(t.Processes[0]!.at(-1)!, /sleep 300/);
    const aux = (await d.request("GET", `/containers/${id}/top?ps_args=aux`)).json<{ Titles: string[] }>();
    assert.ok(aux.Titles.includes("%CPU"));

    const one = await d.request("GET", `/containers/${id}/stats?stream=0&one-shot=1`);
    assert.equal(one.status, 200);
    const s = one.json();
    assert.equal(s.id, id);
    assert.ok(s.memory_stats.usage > 0);
    assert.equal(s.pids_stats.current, 1);
    const two = (await d.request("GET", `/containers/${id}/stats?stream=0`)).json();
    assert.notEqual(two.precpu_stats.system_cpu_usage, undefined);

    const stream = openStream(d.socket, "GET", `/containers/${id}/stats`);
    await stream.response;
    while (stream.body().toString().split("\n").filter((l) => l.trim()).length < 2) await sleep(100);
    stream.req.destroy();
    const lines = stream.body().toString().split("\n").filter((l) => l.trim());
    assert.equal(JSON.parse(lines[1]!).id, id);

    const stopped = await create({ Cmd: ["true"] });
    assert.equal((await d.request("GET", `/containers/${stopped}/top`)).status, 409);
    assert.equal((await d.request("GET", `/containers/${stopped}/stats?stream=0`)).status, 200);
    await rm(id);
    await rm(stopped);
  });

  test("list filters and limit, prune, events", async () => {
    const since = Math.floor(Date.now() / 1000);
    const a = await create({ Cmd: ["true"], Labels: { keep: "yes" } }, "pr-keep");
    const b = await create({ Cmd: ["true"], Labels: { drop: "yes" } }, "pr-drop");
    const running = await run({ Cmd: ["sleep", "300"] });
    const byLabel = await d.request("GET", `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: ["keep=yes"] }))}`);
    assert.deepEqual(byLabel.json<any[]>().map((c) => c.Id), [a]);
    const created = await d.request("GET", `/containers/json?filters=${encodeURIComponent(JSON.stringify({ status: ["created"] }))}`);
    assert.ok(created.json<any[]>().every((c) => c.State === "created"));
    assert.equal((await d.request("GET", "/containers/json?all=1&limit=1")).json<any[]>().length, 1);

    const pruned = await d.request("POST", `/containers/prune?filters=${encodeURIComponent(JSON.stringify({ label: ["drop"] }))}`);
    assert.equal(pruned.status, 200, pruned.body);
    assert.deepEqual(pruned.json().ContainersDeleted, [b]);
    const keepOut = await d.request("POST", `/containers/prune?filters=${encodeURIComponent(JSON.stringify({ "label!": ["keep=yes"] }))}`);
    assert.equal(keepOut.status, 200, keepOut.body);
    assert.ok(!(keepOut.json().ContainersDeleted ?? []).includes(a));
    const pruneAll = await d.request("POST", "/containers/prune");
    assert.ok(pruneAll.json().ContainersDeleted.includes(a));
    assert.equal((await inspect(running)).State.Running, true);
    await rm(running);

    const ev = await d.request("GET", `/events?since=${since}&until=${Math.floor(Date.now() / 1000) + 1}&filters=${encodeURIComponent(JSON.stringify({ container: [running] }))}`, { timeoutMs: 10_000 });
    const actions = ev.body.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l).Action as string);
    for (const want of ["create", "start", "kill", "die", "destroy"]) assert.ok(actions.includes(want), `${want} in ${actions.join(",")}`);
  });

  test("list filters as moby's: network, expose, publish, is-task, a bind's source, unknown since/before, a bad name pattern", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "hako-lf-"));
    const a = await create({ Cmd: ["true"], ExposedPorts: { "8080/tcp": {} }, HostConfig: { NetworkMode: "none", PortBindings: { "8080/tcp": [{ HostPort: "" }] }, Binds: [`${dir}:/data`] } }, "lf-a");
    const b = await create({ Cmd: ["true"], HostConfig: { NetworkMode: "host" } }, "lf-b");
    const ids = async (filters: object): Promise<string[]> => {
      const res = await d.request("GET", `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify(filters))}`);
      assert.equal(res.status, 200, res.body);
      return res.json<{ Id: string }[]>().map((c) => c.Id).filter((id) => id === a || id === b);
    };
    assert.deepEqual(await ids({ network: ["none"] }), [a]);
    assert.deepEqual(await ids({ network: ["host"] }), [b]);
    assert.deepEqual(await ids({ network: ["nosuch"] }), []);
    assert.deepEqual(await ids({ expose: ["8080"] }), [a]);
    assert.deepEqual(await ids({ expose: ["8000-8100/tcp"] }), [a]);
    assert.deepEqual(await ids({ expose: ["8080/udp"] }), []);
    assert.deepEqual(await ids({ publish: ["8080/tcp"] }), [a]);
    assert.deepEqual(await ids({ "is-task": ["true"] }), []);
    assert.deepEqual((await ids({ "is-task": ["false"] })).sort(), [a, b].sort());
    assert.deepEqual(await ids({ volume: [dir] }), [a]);
    assert.deepEqual(await ids({ volume: ["/data"] }), [a]);
    assert.deepEqual(await ids({ name: ["["] }), []);
    const listed = (await d.request("GET", `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ id: [a] }))}`)).json<any[]>();
    assert.deepEqual(Object.keys(listed[0].NetworkSettings.Networks), ["none"], "a created container shows the network it will join");
    const refusals: [object, number, RegExp][] = [
      [{ "is-task": ["1"] }, 400, /Invalid filter 'is-task=\[1\]'/],
      [{ since: ["nosuch"] }, 404, /no such container nosuch/],
      [{ health: ["bogus"] }, 400, /Unrecognised filter value for health: bogus/],
      [{ exited: ["abc"] }, 400, /strconv.Atoi: parsing "abc": invalid syntax/],
      [{ expose: ["http"] }, 400, /invalid filter 'expose=http'/],
    ];
    for (const [filters, status, message] of refusals) {
      const res = await d.request("GET", `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify(filters))}`);
      assert.equal(res.status, status, `${JSON.stringify(filters)}: ${res.body}`);
      assert.match(res.json().message, message);
    }
    await rm(a);
    await rm(b);
    rmSync(dir, { recursive: true, force: true });
  });

  test("create refuses a hostname with the host's UTS namespace and a stop signal that is none", async () => {
    const uts = await d.request("POST", "/containers/create", { body: { Image: "busybox", Cmd: ["true"], Hostname: "foo", HostConfig: { UTSMode: "host" } } });
    assert.deepEqual([uts.status, uts.json().message], [400, "conflicting options: hostname and the UTS mode"]);
    const sig = await d.request("POST", "/containers/create", { body: { Image: "busybox", Cmd: ["true"], StopSignal: "BOGUS" } });
    assert.deepEqual([sig.status, sig.json().message], [400, "Invalid signal: BOGUS"]);
    const rt = await create({ Cmd: ["true"], StopSignal: "SIGRTMIN+3" });
    await rm(rt);
  });

  test("create: a pids limit of 0 or below is none at all (null), as moby's create route makes it", async () => {
    for (const limit of [0, -1]) {
      const id = await create({ Cmd: ["true"], HostConfig: { PidsLimit: limit } });
      assert.equal((await inspect(id)).HostConfig.PidsLimit, null);
      await rm(id);
    }
  });

  test("stop reports its signals as dockerd does (kill 15, kill 9 after the timeout, die, stop); a start keeps FinishedAt", async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const id = await run({ Cmd: ["sleep", "300"] });
    assert.equal((await d.request("POST", `/containers/${id}/stop?t=1`, { timeoutMs: 30_000 })).status, 204);
    const ev = await d.request("GET", `/events?since=${since}&until=${Math.floor(Date.now() / 1000) + 1}&filters=${encodeURIComponent(JSON.stringify({ container: [id] }))}`, { timeoutMs: 10_000 });
    const events = ev.body.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as { Action: string; Actor: { Attributes: Record<string, string> } });
    const seq = events.filter((e) => e.Action !== "create" && e.Action !== "start").map((e) => (e.Action === "kill" ? `kill ${e.Actor.Attributes.signal}` : e.Action));
    assert.deepEqual(seq, ["kill 15", "kill 9", "die", "stop"]);
    // Started again, it keeps the last exit's time (moby's SetRunning).
    const finished = (await inspect(id)).State.FinishedAt as string;
    assert.notEqual(finished, "0001-01-01T00:00:00Z");
    assert.equal((await d.request("POST", `/containers/${id}/start`, { timeoutMs: 30_000 })).status, 204);
    const again = (await inspect(id)).State;
    assert.deepEqual([again.Running, again.FinishedAt], [true, finished]);
    await rm(id);
  });

  test("bad input is a 400 (or 404) and the daemon stays up", async () => {
    const cases: [string, string, number][] = [
      ["GET", "/containers/json?limit=-5", 400],
      ["GET", "/containers/json?limit=abc", 400],
      ["GET", "/containers/json?filters=%7Bnot", 400],
      ["GET", `/containers/json?filters=${encodeURIComponent('{"status":["sleepy"]}')}`, 400],
      ["GET", `/containers/json?filters=${encodeURIComponent('{"colour":["red"]}')}`, 400],
      ["POST", `/containers/prune?filters=${encodeURIComponent('{"status":["x"]}')}`, 400],
      ["POST", "/containers/nosuch/start", 404],
      ["POST", "/containers/nosuch/stop", 404],
      ["POST", "/containers/nosuch/kill", 404],
      ["DELETE", "/containers/nosuch", 404],
      ["GET", "/containers/nosuch/logs?stdout=1", 404],
      ["GET", "/containers/nosuch/top", 404],
      ["GET", "/containers/nosuch/stats?stream=0", 404],
    ];
    for (const [method, urlPath, status] of cases) {
      const res = await d.request(method, urlPath);
      assert.equal(res.status, status, `${method} ${urlPath}: ${res.body}`);
      assert.ok(res.json().message, `${method} ${urlPath} has a message`);
    }
    const id = await run({ Cmd: ["sleep", "300"] });
    for (const [method, urlPath] of [
      ["POST", `/containers/${id}/stop?t=soon`],
      ["POST", `/containers/${id}/stop?signal=NOPE`],
      ["POST", `/containers/${id}/restart?signal=0x`],
      ["GET", `/containers/${id}/stats?stream=1&one-shot=1`],
      ["GET", `/containers/${id}/logs?stdout=1&since=yesterday`],
    ] as const) {
      const res = await d.request(method, urlPath);
      assert.equal(res.status, 400, `${method} ${urlPath}: ${res.body}`);
    }
    assert.equal((await d.request("POST", `/containers/${id}/update`, { body: "{oops" })).status, 400);
    assert.equal((await inspect(id)).State.Running, true);
    await rm(id);
    assert.equal((await d.request("GET", "/_ping")).status, 200);
    assert.ok(d.alive());
  });

  test("the docker CLI: run --rm, run -d, logs, ps, stop, rm, run -i with piped stdin", { skip: existsSync(DOCKER) ? false : `${DOCKER} is missing` }, () => {
    const docker = (args: string[], input?: string) => {
      const r = spawnSync(DOCKER, args, { env: { ...process.env, DOCKER_HOST: d.host }, encoding: "utf8", input, timeout: 60_000 });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    let r = docker(["run", "--rm", "busybox", "echo", "hi"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hi\n");
    r = docker(["run", "-i", "--rm", "busybox", "cat"], "hi from stdin\n");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hi from stdin\n");
    r = docker(["run", "--rm", "busybox", "sh", "-c", "exit 5"]);
    assert.equal(r.code, 5);
    // Without a TTY ctrl-p ctrl-q are data, not a detach.
    r = docker(["run", "-i", "--rm", "busybox", "od", "-An", "-c"], "ab\x10\x11cd\n");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /a\s+b\s+020\s+021\s+c\s+d/);
    // A process that exits before it reads its stdin: its output still comes (the shim closes only after hakod's end).
    for (let i = 0; i < 5; i++) {
      r = docker(["run", "-i", "--rm", "busybox", "echo", "out"], "\0".repeat(300_000));
      assert.deepEqual([r.code, r.stdout], [0, "out\n"], r.stderr);
    }

    r = docker(["run", "-d", "--name", "cli-bg", "busybox", "sh", "-c", "echo started; sleep 300"]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    for (let i = 0; i < 50 && !docker(["logs", "cli-bg"]).stdout.includes("started"); i++) spawnSync("sleep", ["0.1"]);
    assert.equal(docker(["logs", "cli-bg"]).stdout, "started\n");
    r = docker(["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert.match(r.stdout, /^cli-bg Up /m);
    r = docker(["rm", "cli-bg"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /container is running/);
    r = docker(["stop", "-t", "1", "cli-bg"]);
    assert.equal(r.code, 0, r.stderr);
    r = docker(["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert.match(r.stdout, /^cli-bg Exited \(137\)/m);
    r = docker(["rm", "cli-bg"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(docker(["ps", "-aq"]).stdout, "");
  });
});

describe("attach and body helpers", () => {
  test("parseDetachKeys reads moby/term's names; an unknown ctrl- name is a 400", () => {
    assert.deepEqual(parseDetachKeys(""), [16, 17]);
    assert.deepEqual(parseDetachKeys("ctrl-a,x,ctrl-@,ctrl-\\"), [1, 120, 0, 28]);
    assert.throws(() => parseDetachKeys("ctrl-ä"), /Invalid detach keys/);
  });

  test("DetachKeyMatcher holds a prefix back, lets a mismatch through, detaches across chunks", () => {
    const m = new DetachKeyMatcher([16, 17]);
    assert.deepEqual(m.feed(Buffer.from("ab\x10")), { data: Buffer.from("ab"), detached: false });
    assert.deepEqual(m.feed(Buffer.from("c")), { data: Buffer.from("\x10c"), detached: false });
    assert.deepEqual(m.feed(Buffer.from("\x10\x10")), { data: Buffer.from("\x10"), detached: false });
    assert.deepEqual(m.feed(Buffer.from("\x11rest")), { data: Buffer.alloc(0), detached: true });
  });

  test("checkCreateBody names the field of the wrong type and turns a string Cmd into a list", () => {
    assert.deepEqual(checkCreateBody({ Image: "busybox", Cmd: "true" }).Cmd, ["true"]);
    assert.throws(() => checkCreateBody({ Image: 5 }), /ContainerConfigWrapper\.Image of type string/);
    assert.throws(() => checkCreateBody({ Image: "b", HostConfig: { Binds: [1] } }), /HostConfig\.Binds/);
    assert.throws(() => checkCreateBody({ Image: "b", Labels: { a: 1 } }), /Labels/);
  });
});
