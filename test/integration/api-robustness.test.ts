/**
 * hakod survives what clients throw at it (issue 4's checks): malformed
 * JSON, unknown fields, bodies over the limit, bad parameters, and clients
 * that go away in the middle of a stream (attach, logs -f, wait, stats,
 * events, exec, a half-sent body). After each, the daemon answers and a
 * container started before it is still running and stoppable.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";

const skip = process.getuid?.() !== 0 ? "needs root (containers)" : undefined;

/** Sends raw bytes on the daemon's socket, keeps the connection `ms` ms, then drops it without reading. */
function sendAndDrop(socket: string, raw: string | Buffer, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(socket);
    let got = "";
    s.on("data", (c) => (got += c.toString("latin1")));
    s.on("error", () => resolve(got));
    s.on("connect", () => {
      s.write(raw);
      setTimeout(() => {
        s.destroy();
        resolve(got);
      }, ms);
    });
  });
}

function request(path: string, method = "GET", body?: string): string {
  const head = `${method} ${path} HTTP/1.1\r\nHost: docker\r\n`;
  if (body === undefined) return `${head}\r\n`;
  return `${head}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

describe("hakod under bad input and broken clients", { skip }, () => {
  let d: TestDaemon;
  let keeper: string;

  before(async () => {
    d = await startDaemon();
    const made = await d.request("POST", "/hako/images/busybox");
    assert.equal(made.status, 200, made.body);
    const created = await d.request("POST", "/containers/create?name=keeper", { body: { Image: "busybox", Cmd: ["sh", "-c", "while true; do echo tick; sleep 0.2; done"] } });
    assert.equal(created.status, 201, created.body);
    keeper = created.json().Id;
    const started = await d.request("POST", `/containers/${keeper}/start`);
    assert.equal(started.status, 204, started.body);
  });
  after(async () => {
    await d?.stop();
  });

  async function stillFine(): Promise<void> {
    assert.ok(d.alive(), `hakod died:\n${d.log()}`);
    const ping = await d.request("GET", "/_ping");
    assert.equal(ping.status, 200);
    const c = await d.request("GET", `/containers/${keeper}/json`);
    assert.equal(c.status, 200);
    assert.equal(c.json().State.Running, true, "the keeper container still runs");
  }

  test("malformed JSON bodies are 400s", async () => {
    for (const body of ["{", "not json", "[1,2", '{"Image": 5}', "null"]) {
      const res = await d.request("POST", "/containers/create", { body, headers: { "Content-Type": "application/json" } });
      assert.ok(res.status === 400, `${JSON.stringify(body)} → ${res.status} ${res.body}`);
      assert.ok(typeof res.json().message === "string");
    }
    await stillFine();
  });

  test("unknown fields are ignored, as dockerd ignores them", async () => {
    const res = await d.request("POST", "/containers/create", { body: { Image: "busybox", Cmd: ["true"], NoSuchField: { deep: [1, 2] }, HostConfig: { Bogus: true } } });
    assert.equal(res.status, 201, res.body);
    assert.equal((await d.request("DELETE", `/containers/${res.json().Id}`)).status, 204);
    await stillFine();
  });

  test("a body over the limit is refused with 413 and the daemon keeps serving", async () => {
    const huge = Buffer.alloc(12 << 20, 0x20);
    const res = await d.request("POST", "/containers/create", { body: huge, headers: { "Content-Type": "application/json" }, timeoutMs: 30_000 });
    assert.equal(res.status, 413, res.body);
    await stillFine();
  });

  test("bad parameters are 400s, unknown containers 404s", async () => {
    const cases: [string, string, number][] = [
      ["POST", `/containers/${keeper}/kill?signal=NOPE`, 400],
      ["GET", "/containers/json?limit=abc", 400],
      ["GET", "/containers/json?filters=%7Bbroken", 400],
      ["POST", `/containers/${keeper}/resize?h=x&w=1`, 400],
      ["GET", "/containers/nosuchthing/json", 404],
      ["POST", "/containers/nosuchthing/start", 404],
      ["DELETE", "/containers/nosuchthing", 404],
    ];
    for (const [method, path, status] of cases) {
      const res = await d.request(method, path);
      assert.equal(res.status, status, `${method} ${path}: ${res.body}`);
    }
    await stillFine();
  });

  test("clients that go away mid-stream: attach, logs -f, wait, stats, events, a half-sent body", async () => {
    const drops: [string, string | Buffer][] = [
      ["attach", `POST /containers/${keeper}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`],
      ["logs -f", request(`/containers/${keeper}/logs?follow=1&stdout=1&stderr=1`)],
      ["wait", request(`/containers/${keeper}/wait`, "POST", "")],
      ["stats", request(`/containers/${keeper}/stats?stream=1`)],
      ["events", request("/events")],
      ["half body", `POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"Image": "busy`],
      ["garbage", "\x00\x01\x02 not http at all\r\n\r\n"],
    ];
    for (const [what, raw] of drops) {
      await sendAndDrop(d.socket, raw, 400);
      await stillFine().catch((err: Error) => assert.fail(`after ${what}: ${err.message}`));
    }
    // Many at once.
    await Promise.all(Array.from({ length: 20 }, (_, i) => sendAndDrop(d.socket, drops[i % drops.length]![1], 100 + (i % 5) * 50)));
    await stillFine();
  });

  test("an exec whose client disappears does not take the daemon down", async () => {
    const created = await d.request("POST", `/containers/${keeper}/exec`, { body: { Cmd: ["sleep", "5"], AttachStdout: true, AttachStderr: true } });
    assert.equal(created.status, 201, created.body);
    const id = created.json().Id;
    await sendAndDrop(
      d.socket,
      `POST /exec/${id}/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"Detach":false}`.replace("15", String(Buffer.byteLength('{"Detach":false}'))),
      300,
    );
    await stillFine();
  });

  test("the keeper still stops on request after all that", async () => {
    const res = await d.request("POST", `/containers/${keeper}/stop?t=1`, { timeoutMs: 20_000 });
    assert.equal(res.status, 204, res.body);
    const c = (await d.request("GET", `/containers/${keeper}/json`)).json();
    assert.equal(c.State.Running, false);
  });
});
