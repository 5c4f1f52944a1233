/**
 * The API framework in-process, with injected services and test routes:
 * service injection into /info and /auth, in-stream errors after the 200,
 * a failing handler, a missing service, path parameters and versions, the
 * upgrade (hijack) hook, and the event bus behind GET /events.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { HakoError, NotFoundError } from "../../src/common/errors.ts";
import { requireService, type DaemonContext } from "../../src/api/context.ts";
import { json } from "../../src/api/response.ts";
import { createRouter } from "../../src/api/routes/register.ts";
import { ApiServer } from "../../src/api/server.ts";
import { EventBus } from "../../src/daemon/events.ts";
import { LogfmtLogger } from "../../src/daemon/log.ts";
import { apiRequest } from "../helpers/daemon.ts";

describe("api server: framework with injected services", () => {
  let dir: string;
  let socket: string;
  let server: ApiServer;
  let logText = "";
  const events = new EventBus();

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "hako-api-"));
    socket = path.join(dir, "api.sock");
    const ctx: DaemonContext = {
      settings: { dataRoot: dir, debug: false, hosts: [`unix://${socket}`] },
      log: new LogfmtLogger({ sink: { write: (l) => void (logText += l) } }),
      events,
      services: {
        system: {
          containers: () => ({ total: 3, running: 1, paused: 1, stopped: 1 }),
          images: async () => 7,
          storage: () => ({ driver: "vfs", status: [["Backing Filesystem", "extfs"]] }),
        },
        authenticator: async (config) => {
          if (config.password !== "good") throw new HakoError("ERR_UNAUTHORIZED", `login to ${config.serveraddress} failed: unauthorized: incorrect username or password`);
          return { Status: "Login Succeeded", IdentityToken: "tok" };
        },
      },
      engineId: "test-engine",
      startedAt: new Date(),
    };
    const router = createRouter();
    router
      .add("GET", "/test/{id}/params/{rest:.*}/end", (call) => json(call.res, 200, { params: call.params, version: call.version, path: call.path, q: call.query.get("q") }))
      .add("GET", "/test/stream", async (call) => {
        const s = call.stream();
        s.write({ status: "Pulling from library/x", id: "latest" });
        s.write({ status: "Downloading", id: "abc", progressDetail: { current: 1, total: 2 } });
        throw new NotFoundError("manifest for x:latest not found");
      })
      .add("GET", "/test/crash", () => {
        throw new Error("kaboom");
      })
      .add("GET", "/test/needs-images", (call) => {
        requireService(call.ctx, "images");
      })
      .addUpgrade("POST", "/hako-test/{name}/attach", async (call) => {
        if (call.params.name === "missing") throw new NotFoundError(`No such container: ${call.params.name}`);
        call.upgrade("application/vnd.docker.raw-stream");
        call.socket.write(`hello ${call.params.name} ${call.version} ${call.head.toString()}|`);
        call.socket.on("data", (d: Buffer) => call.socket.write(d.toString().toUpperCase()));
        call.socket.on("end", () => call.socket.end());
      });
    server = new ApiServer(router, ctx);
    await server.listen({ proto: "unix", path: socket, url: `unix://${socket}` });
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("/info takes counts and the storage driver from the injected source", async () => {
    const info = (await apiRequest(socket, "GET", "/info")).json();
    assert.equal(info.ID, "test-engine");
    assert.deepEqual([info.Containers, info.ContainersRunning, info.ContainersPaused, info.ContainersStopped, info.Images], [3, 1, 1, 1, 7]);
    assert.equal(info.Driver, "vfs");
    assert.deepEqual(info.DriverStatus, [["Backing Filesystem", "extfs"]]);
  });

  test("/auth goes through the injected authenticator; its errors keep their class", async () => {
    const ok = await apiRequest(socket, "POST", "/auth", { body: { username: "u", password: "good", serveraddress: "r.example" } });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json(), { Status: "Login Succeeded", IdentityToken: "tok" });
    const bad = await apiRequest(socket, "POST", "/auth", { body: { username: "u", password: "bad", serveraddress: "r.example" } });
    assert.equal(bad.status, 401);
    assert.equal(bad.json().message, "login to r.example failed: unauthorized: incorrect username or password");
  });

  test("path parameters, {name:.*} and the version reach the handler", async () => {
    const r = (await apiRequest(socket, "GET", "/v1.30/test/abc/params/x/y%2Fz/end?q=1")).json();
    assert.deepEqual(r, { params: { id: "abc", rest: "x/y/z" }, version: "1.30", path: "/test/abc/params/x/y/z/end", q: "1" });
    assert.equal((await apiRequest(socket, "GET", "/v1.50/test/a/params/b/end")).json().version, "1.44");
    assert.equal((await apiRequest(socket, "GET", "/test/a/params/b/end")).json().version, "1.44");
  });

  test("an error after the stream started travels in-stream as errorDetail", async () => {
    const r = await apiRequest(socket, "GET", "/test/stream");
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "application/json");
    const lines = r.body.trim().split(/\r?\n/).map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    assert.deepEqual(lines[1], { status: "Downloading", id: "abc", progressDetail: { current: 1, total: 2 } });
    assert.deepEqual(lines[2], { errorDetail: { message: "manifest for x:latest not found" }, error: "manifest for x:latest not found" });
  });

  test("a failing handler is a 500 with its message, logged; a missing service is a 501", async () => {
    const r = await apiRequest(socket, "GET", "/test/crash");
    assert.equal(r.status, 500);
    assert.deepEqual(r.json(), { message: "kaboom" });
    assert.match(logText, /level=error msg="handler failed" method=GET uri=\/test\/crash error=kaboom/);
    const n = await apiRequest(socket, "GET", "/test/needs-images");
    assert.equal(n.status, 501);
    assert.deepEqual(n.json(), { message: "hakod has no images service yet" });
    assert.equal((await apiRequest(socket, "GET", "/_ping")).body, "OK");
  });

  function rawExchange(request: string, then?: (s: net.Socket) => void): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = net.connect(socket);
      let data = "";
      s.on("data", (c) => {
        data += c.toString();
        then?.(s);
        then = undefined;
      });
      s.on("close", () => resolve(data));
      s.on("error", reject);
      s.write(request);
    });
  }

  test("upgrade: 101 UPGRADED with Docker's headers, then raw bytes both ways", async () => {
    const out = await rawExchange(
      "POST /v1.41/hako-test/web/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: hako\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\nearly",
      (s) => {
        s.write("typed");
        setTimeout(() => s.end(), 50);
      },
    );
    const [head, body] = out.split("\r\n\r\n", 2) as [string, string];
    assert.match(head, /^HTTP\/1\.1 101 UPGRADED\r\n/);
    assert.match(head, /\r\nContent-Type: application\/vnd\.docker\.raw-stream/);
    assert.match(head, /\r\nConnection: Upgrade/);
    assert.match(head, /\r\nUpgrade: tcp/);
    assert.match(head, /\r\nApi-Version: 1\.44/);
    assert.equal(body, "hello web 1.41 early|TYPED");
  });

  test("upgrade: an error before the upgrade is an HTTP answer; unknown upgrade routes are 404/400", async () => {
    const missing = await rawExchange("POST /hako-test/missing/attach HTTP/1.1\r\nHost: hako\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    assert.match(missing, /^HTTP\/1\.1 404 Not Found\r\n/);
    assert.match(missing, /\{"message":"No such container: missing"\}\n$/);
    const nowhere = await rawExchange("POST /nowhere HTTP/1.1\r\nHost: hako\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    assert.match(nowhere, /^HTTP\/1\.1 404 Not Found\r\n[\s\S]*page not found/);
    const plain = await rawExchange("GET /version HTTP/1.1\r\nHost: hako\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    assert.match(plain, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*does not support a connection upgrade/);
  });

  test("GET /events: replays from since, streams live events through the filters, with the legacy fields", async () => {
    const past = events.publish({ type: "container", action: "create", id: "c0", attributes: { name: "old", image: "alpine" } });
    const sinceSec = Math.floor(past.timeNano / 1e9) - 1;
    const filters = encodeURIComponent(JSON.stringify({ type: ["container"], event: ["start", "create"] }));
    const received: Record<string, unknown>[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(socket);
      let buf = "";
      let headDone = false;
      s.on("data", (c) => {
        buf += c.toString();
        if (!headDone && buf.includes("\r\n\r\n")) {
          headDone = true;
          buf = buf.slice(buf.indexOf("\r\n\r\n") + 4);
          events.publish({ type: "image", action: "pull", id: "alpine:latest" });
          events.publish({ type: "container", action: "die", id: "c1" });
          events.publish({ type: "container", action: "start", id: "c1", attributes: { name: "web", image: "nginx" } });
        }
        // chunked framing: keep only the JSON lines
        for (const line of buf.split("\n")) {
          const t = line.trim();
          if (t.startsWith("{")) {
            try {
              const ev = JSON.parse(t);
              if (!received.some((r) => r.timeNano === ev.timeNano)) received.push(ev);
            } catch {
              // partial line: wait for more
            }
          }
        }
        if (received.length >= 2) {
          s.destroy();
          resolve();
        }
      });
      s.on("error", reject);
      s.write(`GET /events?since=${sinceSec}&filters=${filters} HTTP/1.1\r\nHost: hako\r\n\r\n`);
    });
    assert.deepEqual(received.map((e) => [e.Type, e.Action, (e.Actor as { ID: string }).ID]), [["container", "create", "c0"], ["container", "start", "c1"]]);
    assert.equal(received[1]!.status, "start");
    assert.equal(received[1]!.id, "c1");
    assert.equal(received[1]!.from, "nginx");
    assert.equal(received[1]!.scope, "local");
    assert.equal(typeof received[1]!.time, "number");
    for (let i = 0; i < 100 && events.subscriberCount > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(events.subscriberCount, 0);
  });
});
