/**
 * Healthchecks through the API of a throw-away hakod: real busybox
 * containers with short intervals going starting → unhealthy → healthy,
 * timeouts, the start period, NONE, docker ps's status, the
 * health_status events, and monitors that stop with their container.
 * Every container is force-removed.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { goDuration, probeCommand } from "../../src/engine/health.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";

const isRoot = process.getuid?.() === 0;
const MS = 1_000_000;

describe("healthcheck helpers", () => {
  test("probe commands: CMD, CMD-SHELL (with the container's Shell), NONE and empty", () => {
    assert.deepEqual(probeCommand({ Config: { Healthcheck: { Test: ["CMD", "true", "x"] } } }), ["true", "x"]);
    assert.deepEqual(probeCommand({ Config: { Healthcheck: { Test: ["CMD-SHELL", "exit 1"] } } }), ["/bin/sh", "-c", "exit 1"]);
    assert.deepEqual(probeCommand({ Config: { Healthcheck: { Test: ["CMD-SHELL", "exit 1"] }, Shell: ["/bin/ash", "-c"] } as never }), ["/bin/ash", "-c", "exit 1"]);
    assert.equal(probeCommand({ Config: { Healthcheck: { Test: ["NONE"] } } }), undefined);
    assert.equal(probeCommand({ Config: { Healthcheck: { Test: [] } } }), undefined);
    assert.equal(probeCommand({ Config: {} }), undefined);
  });

  test("durations print as Go's time.Duration does", () => {
    assert.equal(goDuration(30_000 * MS), "30s");
    assert.equal(goDuration(200 * MS), "200ms");
    assert.equal(goDuration(1500 * MS), "1.5s");
    assert.equal(goDuration(90_000 * MS), "1m30s");
    assert.equal(goDuration(3_600_000 * MS), "1h0m0s");
  });
});

describe("healthchecks", { skip: isRoot ? false : "needs root (namespaces, cgroups, overlayfs)" }, () => {
  let d: TestDaemon;
  const execRoot = mkdtempSync("/tmp/hh-");

  async function startContainer(body: object): Promise<string> {
    const res = await d.request("POST", "/containers/create", { body: { Image: "busybox", Cmd: ["sleep", "3600"], ...body } });
    assert.equal(res.status, 201, res.body);
    const id = res.json<{ Id: string }>().Id;
    const s = await d.request("POST", `/containers/${id}/start`, { timeoutMs: 30_000 });
    assert.equal(s.status, 204, s.body);
    return id;
  }

  async function state(id: string): Promise<any> {
    const res = await d.request("GET", `/containers/${id}/json`);
    assert.equal(res.status, 200, res.body);
    return res.json().State;
  }

  async function waitHealth(id: string, status: string, timeoutMs = 10_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await state(id);
      if (s.Health?.Status === status) return s.Health;
      if (Date.now() > deadline) throw new Error(`health of ${id} is ${JSON.stringify(s.Health)}, not ${status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The Health once its Log holds `entries` results, or as it is after `timeoutMs` (the caller asserts). */
  async function waitHealthLog(id: string, entries: number, timeoutMs: number): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    let h: any;
    do {
      await new Promise((r) => setTimeout(r, 100));
      h = (await state(id)).Health;
    } while ((h.Log?.length ?? 0) < entries && Date.now() < deadline);
    return h;
  }

  async function execDetached(id: string, cmd: string[]): Promise<void> {
    const c = await d.request("POST", `/containers/${id}/exec`, { body: { Cmd: cmd } });
    assert.equal(c.status, 201, c.body);
    const s = await d.request("POST", `/exec/${c.json().Id}/start`, { body: { Detach: true } });
    assert.equal(s.status, 200, s.body);
  }

  async function remove(id: string): Promise<void> {
    assert.equal((await d.request("DELETE", `/containers/${id}?force=1`, { timeoutMs: 20_000 })).status, 204);
  }

  before(async () => {
    d = await startDaemon({ extraArgs: ["--exec-root", execRoot] });
    const bb = await d.request("POST", "/hako/images/busybox", { timeoutMs: 60_000 });
    assert.equal(bb.status, 200, bb.body);
  });

  after(async () => {
    await d?.stop();
    rmSync(execRoot, { recursive: true, force: true });
  });

  test("starting → unhealthy after Retries failures → healthy; log, ps status and events", async () => {
    const since = Date.now() / 1000;
    const id = await startContainer({ Healthcheck: { Test: ["CMD-SHELL", "echo probing; test -e /tmp/healthy"], Interval: 100 * MS, Timeout: 2000 * MS, Retries: 2 } });
    const first = await state(id);
    assert.equal(first.Health.Status, "starting");
    assert.equal(first.Health.FailingStreak, 0);
    const sick = await waitHealth(id, "unhealthy");
    assert.ok(sick.FailingStreak >= 2, JSON.stringify(sick));
    const last = sick.Log.at(-1);
    assert.equal(last.ExitCode, 1);
    assert.equal(last.Output, "probing\n");
    assert.ok(Date.parse(last.End) >= Date.parse(last.Start));
    const listed = (await d.request("GET", `/containers/json?filters=${encodeURIComponent(JSON.stringify({ id: [id] }))}`)).json();
    assert.match(listed[0].Status, /^Up .* \(unhealthy\)$/);

    await execDetached(id, ["touch", "/tmp/healthy"]);
    const well = await waitHealth(id, "healthy");
    assert.equal(well.FailingStreak, 0);
    assert.equal(well.Log.at(-1).ExitCode, 0);
    // Only the last five results are kept.
    await new Promise((r) => setTimeout(r, 800));
    const later = (await state(id)).Health;
    assert.equal(later.Log.length, 5);
    const ps = (await d.request("GET", `/containers/json?filters=${encodeURIComponent(JSON.stringify({ health: ["healthy"] }))}`)).json();
    assert.ok(ps.some((c: any) => c.Id === id && / \(healthy\)$/.test(c.Status)), JSON.stringify(ps));

    const until = Date.now() / 1000 + 1;
    const ev = await d.request("GET", `/events?since=${since}&until=${until}&filters=${encodeURIComponent(JSON.stringify({ container: [id] }))}`, { timeoutMs: 5000 });
    const actions = ev.body
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l).Action as string);
    assert.ok(actions.includes("health_status: unhealthy"), actions.join(", "));
    assert.ok(actions.includes("health_status: healthy"), actions.join(", "));
    // Probes are execs too (dockerd logs them), but not listed in the container's ExecIDs.
    assert.ok(actions.some((a) => a.startsWith("exec_create: /bin/sh -c echo probing")), actions.join(", "));
    const inspect = (await d.request("GET", `/containers/${id}/json`)).json();
    assert.ok((inspect.ExecIDs ?? []).length <= 1, JSON.stringify(inspect.ExecIDs));
    await remove(id);
  });

  test("a probe over its Timeout is killed and fails with dockerd's message", async () => {
    const id = await startContainer({ Healthcheck: { Test: ["CMD", "sleep", "5"], Interval: 100 * MS, Timeout: 200 * MS, Retries: 1 } });
    const h = await waitHealth(id, "unhealthy");
    const last = h.Log.at(-1);
    assert.equal(last.ExitCode, -1);
    assert.equal(last.Output, "Health check exceeded timeout (200ms)");
    const took = Date.parse(last.End) - Date.parse(last.Start);
    assert.ok(took < 2000, `the probe was killed after ${took} ms`);
    await remove(id);
  });

  test("a probe whose background child holds its output does not stall the monitor", async () => {
    const id = await startContainer({ Healthcheck: { Test: ["CMD-SHELL", "sleep 30 & exit 0"], Interval: 100 * MS, Timeout: 200 * MS, Retries: 1 } });
    const h = await waitHealthLog(id, 2, 10_000);
    assert.ok(h.Log.length >= 2, JSON.stringify(h));
    assert.equal(h.Log[0].Output, "Health check exceeded timeout (200ms)");
    await remove(id);
  });

  test("a probe command that does not exist fails with the exec error", async () => {
    const id = await startContainer({ Healthcheck: { Test: ["CMD", "no-such-probe"], Interval: 100 * MS, Retries: 1 } });
    const h = await waitHealth(id, "unhealthy");
    assert.match(h.Log.at(-1).Output, /executable file not found in \$PATH/);
    await remove(id);
  });

  test("failures within StartPeriod do not count; NONE means no health at all", async () => {
    const id = await startContainer({ Healthcheck: { Test: ["CMD", "false"], Interval: 100 * MS, StartInterval: 100 * MS, StartPeriod: 60_000 * MS, Retries: 1 } });
    const h = await waitHealthLog(id, 2, 5000);
    assert.ok(h.Log.length >= 2, JSON.stringify(h));
    assert.equal(h.Status, "starting");
    assert.equal(h.FailingStreak, 0);
    await remove(id);

    const none = await startContainer({ Healthcheck: { Test: ["NONE"] } });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await state(none)).Health, undefined);
    const listed = (await d.request("GET", `/containers/json?filters=${encodeURIComponent(JSON.stringify({ id: [none] }))}`)).json();
    assert.doesNotMatch(listed[0].Status, /health/);
    await remove(none);
  });

  test("the image's healthcheck merges with the create body's", async () => {
    const base = await startContainer({});
    const commit = await d.request("POST", `/commit?container=${base}&repo=hc&tag=probe&changes=${encodeURIComponent("HEALTHCHECK CMD test -e /etc/passwd")}`, { timeoutMs: 30_000 });
    assert.equal(commit.status, 201, commit.body);
    await remove(base);
    // Test from the image, Interval from the body.
    const id = await startContainer({ Image: "hc:probe", Healthcheck: { Interval: 100 * MS } });
    const config = (await d.request("GET", `/containers/${id}/json`)).json().Config;
    assert.deepEqual(config.Healthcheck.Test, ["CMD-SHELL", "test -e /etc/passwd"]);
    assert.equal(config.Healthcheck.Interval, 100 * MS);
    await waitHealth(id, "healthy");
    await remove(id);
    assert.equal((await d.request("DELETE", "/images/hc:probe")).status, 200);
  });

  test("the monitor stops with the container and starts again (starting) with it", async () => {
    const id = await startContainer({ Healthcheck: { Test: ["CMD", "true"], Interval: 100 * MS } });
    await waitHealth(id, "healthy");
    // Paused: no probes (an exec would be refused); unpaused: they go on.
    assert.equal((await d.request("POST", `/containers/${id}/pause`)).status, 204);
    const paused = (await state(id)).Health.Log.at(-1).Start;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal((await state(id)).Health.Log.at(-1).Start, paused, "no probes while paused");
    assert.equal((await d.request("POST", `/containers/${id}/unpause`)).status, 204);
    const resumed = Date.now() + 5000;
    while ((await state(id)).Health.Log.at(-1).Start === paused && Date.now() < resumed) await new Promise((r) => setTimeout(r, 50));
    assert.notEqual((await state(id)).Health.Log.at(-1).Start, paused, "probes resume after unpause");
    assert.equal((await d.request("POST", `/containers/${id}/kill`)).status, 204);
    const deadline = Date.now() + 5000;
    while ((await state(id)).Running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const stopped = (await state(id)).Health;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal((await state(id)).Health.Log.length, stopped.Log.length, "no probes after the container died");
    assert.equal((await d.request("POST", `/containers/${id}/start`, { timeoutMs: 30_000 })).status, 204);
    assert.equal((await state(id)).Health.Status, "starting");
    await waitHealth(id, "healthy");
    await remove(id);
  });
});
