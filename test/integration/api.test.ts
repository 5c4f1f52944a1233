/**
 * The Engine API framework and system endpoints over a real hakod's unix
 * socket, as podman's test/apiv2 does it: a table of requests with the
 * status and body each must get; then the daemon's resilience to bad
 * clients, and its start-up and shutdown rules.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { HAKOD_BUNDLE, apiRequest, exitCodeOf, startDaemon, type ApiResponse, type TestDaemon } from "../helpers/daemon.ts";

type Expect = string | RegExp | Record<string, unknown> | unknown[] | ((res: ApiResponse) => void);

/** The body matches: exact text, a pattern, or JSON that contains the given fields. */
function check(res: ApiResponse, expect: Expect | undefined): void {
  if (expect === undefined) return;
  if (typeof expect === "function") return expect(res);
  if (typeof expect === "string") return assert.equal(res.body, expect);
  if (expect instanceof RegExp) return assert.match(res.body, expect);
  const body = res.json();
  if (Array.isArray(expect)) return assert.deepEqual(body, expect);
  for (const [key, value] of Object.entries(expect)) {
    assert.deepEqual(body[key], value, `.${key} of ${res.body}`);
  }
}

describe("api: system endpoints and routing", () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon();
  });
  after(() => d?.stop());

  /** One row of the table: method, path, [body], status, expected body. */
  function t(method: string, urlPath: string, status: number, expect?: Expect): void;
  function t(method: string, urlPath: string, body: string | object, status: number, expect?: Expect): void;
  function t(method: string, urlPath: string, ...rest: unknown[]): void {
    const body = typeof rest[0] === "number" ? undefined : rest.shift();
    const status = rest[0] as number;
    const expect = rest[1] as Expect | undefined;
    test(`${method} ${urlPath}${body === undefined ? "" : ` ${JSON.stringify(body).slice(0, 40)}`} → ${status}`, async () => {
      const res = await d.request(method, urlPath, { body: body as object | string | undefined });
      assert.equal(res.status, status, res.body);
      check(res, expect);
    });
  }

  t("GET", "/_ping", 200, "OK");
  t("GET", "/v1.44/_ping", 200, "OK");
  t("GET", "/v1.24/_ping", 200, "OK");
  t("GET", "/v1.99/_ping", 200, "OK");
  t("HEAD", "/_ping", 200, "");
  t("GET", "/v1.41/version", 200, { ApiVersion: "1.44", MinAPIVersion: "1.24", Os: "linux", Platform: { Name: "hako" } });
  t("GET", "/version", 200, (res) => {
    const v = res.json();
    assert.equal(v.Components[0].Name, "Engine");
    assert.equal(v.Components[0].Details.ApiVersion, "1.44");
    assert.equal(v.Components[0].Details.MinAPIVersion, "1.24");
    assert.match(v.GoVersion, /^node v\d+/);
    assert.equal(v.Arch, process.arch === "x64" ? "amd64" : process.arch);
    assert.equal(v.KernelVersion, os.release());
    assert.ok(!Number.isNaN(Date.parse(v.BuildTime)), v.BuildTime);
  });
  t("GET", "/v1.23/version", 400, {
    message: "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version",
  });
  t("GET", "/v1.12/_ping", 400, { message: "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version" });
  t("GET", "/nothing/here", 404, { message: "page not found" });
  t("POST", "/version", 404, { message: "page not found" });
  t("GET", "/v1.44/nothing", 404, { message: "page not found" });
  t("OPTIONS", "/containers/json", 200, "");
  // Image routes: names may contain slashes and ports; the last /json, /history, ... decides the route.
  t("GET", "/images/foo/bar/json", 404, { message: "No such image: foo/bar:latest" });
  t("GET", "/v1.41/images/localhost:5000/foo/bar/json", 404, { message: "No such image: localhost:5000/foo/bar:latest" });
  t("GET", "/images/localhost:5000/a/json/history", 404, { message: "No such image: localhost:5000/a/json:latest" });
  t("POST", "/images/localhost:5000/a/b:1/push", 200, (res) =>
    assert.equal(JSON.parse(res.body.trim().split("\n").at(-1)!).errorDetail.message, "An image does not exist locally with the tag: localhost:5000/a/b"),
  );
  t("POST", "/images/a/b/tag?repo=x&tag=y", 404, { message: "No such image: a/b:latest" });
  t("GET", "/images/a/b/get", 404, { message: "No such image: a/b:latest" });
  t("DELETE", "/images/localhost:5000/a/b:latest", 404, { message: "No such image: localhost:5000/a/b:latest" });
  t("GET", "/images/json", 200, []);
  t("GET", "/images/get?names=a", 404, { message: "No such image: a:latest" });
  t("POST", "/images/create?fromImage=alpine&tag=bad%20tag", 400, { message: "invalid tag format" });
  t("POST", "/images/load", 200, (res) => assert.ok(JSON.parse(res.body.trim().split("\n").at(-1)!).errorDetail, res.body));
  t("POST", "/images/prune", 200, { ImagesDeleted: null, SpaceReclaimed: 0 });
  t("GET", "/images/search?term=alpine&limit=200", 400, { message: "limit 200 is outside the range of [1, 100]" });
  t("POST", "/auth", "{not json", 400, (res) => assert.match(res.json().message, /^invalid JSON in the request body/));
  t("POST", "/auth", "", 400, { message: "the request body is empty: a JSON object was expected" });
  t("POST", "/auth", "[1,2]", 400, { message: "the request body must be a JSON object, not an array" });
  t("POST", "/auth", { username: 5 }, 400, { message: "invalid value for username: a string was expected" });
  t("GET", "/events?since=1&until=2", 200, "");
  t("GET", "/events?since=5&until=2", 400, { message: "`since` time (5) cannot be after `until` time (2)" });
  t("GET", "/events?since=yesterday", 400, (res) => assert.match(res.json().message, /invalid value for since/));
  t("GET", "/events?until=1&filters=%7Bbad", 400, (res) => assert.match(res.json().message, /^invalid filter/));
  t("GET", "/events?until=1&filters=%7B%22nope%22%3A%5B%22x%22%5D%7D", 400, { message: "invalid filter 'nope'" });
  t("GET", "//_ping", 404, { message: "page not found" });
  t("GET", "/images/%zz/json", 400, (res) => assert.match(res.json().message, /malformed percent-encoding/));

  test("every response carries Api-Version, Ostype, Server and Docker-Experimental", async () => {
    for (const [method, p] of [["GET", "/_ping"], ["GET", "/version"], ["GET", "/nope"], ["GET", "/v1.20/info"], ["GET", "/images/x/json"]] as const) {
      const res = await d.request(method, p);
      assert.equal(res.headers["api-version"], "1.44", `${method} ${p}`);
      assert.equal(res.headers["ostype"], "linux");
      assert.match(String(res.headers["server"]), /^Docker\/\d+\.\d+\.\d+\S* \(linux\)$/);
      assert.equal(res.headers["docker-experimental"], "false");
    }
    const err = await d.request("GET", "/nope");
    assert.equal(err.headers["content-type"], "application/json");
  });

  test("HEAD /_ping has the negotiation headers and no body", async () => {
    const res = await d.request("HEAD", "/_ping");
    assert.equal(res.status, 200);
    assert.equal(res.headers["api-version"], "1.44");
    assert.equal(res.headers["builder-version"], "1");
    assert.equal(res.headers["swarm"], "inactive");
    assert.equal(res.headers["cache-control"], "no-cache, no-store, must-revalidate");
    assert.equal(res.headers["pragma"], "no-cache");
    assert.equal(res.headers["content-length"], "0");
    assert.equal(res.body, "");
    const get = await d.request("GET", "/_ping");
    assert.equal(get.headers["content-type"], "text/plain; charset=utf-8");
    assert.equal(get.headers["swarm"], "inactive");
  });

  test("GET /info has the fields the docker CLI prints", async () => {
    const res = await d.request("GET", "/info");
    assert.equal(res.status, 200);
    const info = res.json();
    for (const key of [
      "ID", "Containers", "ContainersRunning", "ContainersPaused", "ContainersStopped", "Images", "Driver", "DriverStatus",
      "Plugins", "MemoryLimit", "SwapLimit", "CpuCfsPeriod", "CpuCfsQuota", "CPUShares", "CPUSet", "PidsLimit",
      "IPv4Forwarding", "Debug", "NFd", "NGoroutines", "SystemTime", "LoggingDriver", "CgroupDriver", "CgroupVersion",
      "NEventsListener", "KernelVersion", "OperatingSystem", "OSType", "Architecture", "NCPU", "MemTotal",
      "IndexServerAddress", "RegistryConfig", "DockerRootDir", "Name", "Labels", "ServerVersion", "Runtimes",
      "DefaultRuntime", "Swarm", "LiveRestoreEnabled", "ContainerdCommit", "RuncCommit", "InitCommit", "SecurityOptions", "Warnings",
    ]) {
      assert.ok(key in info, `missing ${key}`);
    }
    assert.equal(info.Containers, 0);
    assert.equal(info.Images, 0);
    assert.equal(info.Driver, "overlay2");
    assert.equal(info.OSType, "linux");
    assert.equal(info.Architecture, os.machine());
    assert.equal(info.NCPU, os.availableParallelism());
    assert.equal(info.MemTotal, os.totalmem());
    assert.equal(info.Name, os.hostname());
    assert.equal(info.DockerRootDir, d.dataRoot);
    assert.equal(info.CgroupDriver, "cgroupfs");
    assert.equal(info.CgroupVersion, existsSync("/sys/fs/cgroup/cgroup.controllers") ? "2" : "1");
    assert.equal(info.DefaultRuntime, "hako");
    assert.ok(info.Runtimes.hako.path);
    assert.equal(info.Swarm.LocalNodeState, "inactive");
    assert.deepEqual(info.RegistryConfig.InsecureRegistryCIDRs, ["::1/128", "127.0.0.0/8"]);
    assert.ok(info.SecurityOptions.includes("name=seccomp,profile=builtin"));
    const release = readFileSync("/etc/os-release", "utf8").match(/^PRETTY_NAME="?([^"\n]*)"?$/m)?.[1];
    if (release) assert.equal(info.OperatingSystem, release);
    // The ID is the daemon's, kept in its data root.
    assert.equal(info.ID, readFileSync(path.join(d.dataRoot, "engine-id"), "utf8").trim());
  });

  test("versioned and unversioned paths reach the same handler", async () => {
    const a = (await d.request("GET", "/v1.24/version")).json();
    const b = (await d.request("GET", "/version")).json();
    assert.equal(a.Version, b.Version);
  });

  test("GET /events streams until the client leaves, then unsubscribes", async () => {
    const socket = net.connect(d.socket);
    const head = await new Promise<string>((resolve, reject) => {
      let data = "";
      socket.on("data", (c) => {
        data += c.toString();
        if (data.includes("\r\n\r\n")) resolve(data);
      });
      socket.on("error", reject);
      socket.write("GET /v1.44/events HTTP/1.1\r\nHost: hako\r\n\r\n");
    });
    assert.match(head, /^HTTP\/1\.1 200 OK/);
    assert.match(head, /Content-Type: application\/json/i);
    assert.equal((await d.request("GET", "/info")).json().NEventsListener, 1);
    socket.destroy();
    for (let i = 0; i < 100 && (await d.request("GET", "/info")).json().NEventsListener !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await d.request("GET", "/info")).json().NEventsListener, 0);
  });

  test("POST /auth checks credentials at the registry; field names match case-insensitively, unknown fields are ignored", async () => {
    // A registry without auth on 127.0.0.1: /v2/ answers 200.
    const registry = http.createServer((req, res) => res.writeHead(req.url === "/v2/" ? 200 : 404, { "Content-Type": "application/json" }).end("{}"));
    await new Promise<void>((resolve) => registry.listen(0, "127.0.0.1", resolve));
    const host = `127.0.0.1:${(registry.address() as net.AddressInfo).port}`;
    try {
      for (const body of [
        { username: "u", password: "p", serveraddress: host },
        { Username: "u", Password: "p", ServerAddress: host, unknownField: [1, 2, 3], nested: { x: 1 } },
      ]) {
        const res = await d.request("POST", "/auth", { body });
        assert.equal(res.status, 200, res.body);
        assert.deepEqual(res.json(), { Status: "Login Succeeded" });
      }
    } finally {
      await new Promise<void>((resolve) => registry.close(() => resolve()));
    }
  });

  test("malformed JSON is a 400 and the daemon keeps answering", async () => {
    for (const body of ["{", "nul", "{\"username\": }", "\u0000\u0001\u0002", "{}}"]) {
      const res = await d.request("POST", "/auth", { body, headers: { "Content-Type": "application/json" } });
      assert.equal(res.status, 400, body);
    }
    assert.equal((await d.request("GET", "/_ping")).body, "OK");
  });

  test("a 50 MB body to a JSON endpoint is refused with 413; the daemon stays up", async () => {
    const big = Buffer.alloc(50 << 20, 0x61);
    const res = await d.request("POST", "/auth", { body: big, headers: { "Content-Type": "application/json" }, timeoutMs: 60_000 });
    assert.equal(res.status, 413);
    assert.match(res.json().message, /too large: the limit is 10485760 bytes/);
    assert.equal((await d.request("GET", "/_ping")).body, "OK");
  });

  test("an oversized chunked body (no Content-Length) is refused with 413", async () => {
    const res = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(d.socket);
      let data = "";
      socket.on("data", (c) => (data += c.toString()));
      socket.on("end", () => resolve(data));
      socket.on("close", () => resolve(data));
      socket.on("error", reject);
      socket.write("POST /auth HTTP/1.1\r\nHost: hako\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
      const chunk = Buffer.alloc(1 << 20, 0x20);
      for (let i = 0; i < 12; i++) socket.write(`${chunk.length.toString(16)}\r\n`), socket.write(chunk), socket.write("\r\n");
      socket.end("0\r\n\r\n");
    });
    assert.match(res, /^HTTP\/1\.1 413 /);
    assert.equal((await d.request("GET", "/_ping")).body, "OK");
  });

  test("clients that disconnect mid-request or send garbage do not hurt the daemon", async () => {
    // Half a body, then gone.
    await new Promise<void>((resolve) => {
      const s = net.connect(d.socket, () => {
        s.write("POST /auth HTTP/1.1\r\nHost: hako\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"user");
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 50);
      });
    });
    // Half a request head, then gone.
    await new Promise<void>((resolve) => {
      const s = net.connect(d.socket, () => {
        s.write("GET /ver");
        s.destroy();
        resolve();
      });
    });
    // Not HTTP at all.
    await new Promise<void>((resolve) => {
      const s = net.connect(d.socket, () => s.end(Buffer.from([0x16, 0x03, 0x01, 0xff, 0x00, 0x0d, 0x0a, 0x0d, 0x0a])));
      s.on("data", () => {});
      s.on("close", () => resolve());
      s.on("error", () => resolve());
    });
    // Gone while the response is being written.
    await new Promise<void>((resolve) => {
      const s = net.connect(d.socket, () => {
        s.write("GET /info HTTP/1.1\r\nHost: hako\r\n\r\n");
        s.once("data", () => {
          s.destroy();
          resolve();
        });
      });
    });
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(d.alive(), d.log());
    assert.equal((await d.request("GET", "/_ping")).body, "OK");
    assert.doesNotMatch(d.log(), /level=error/);
  });

  test("many concurrent requests are all answered", async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => d.request("GET", i % 2 ? "/_ping" : "/v1.40/version")));
    for (const r of results) assert.equal(r.status, 200);
  });

  test("the socket is 0660 in a 0755 directory and the pid file names the daemon", () => {
    const st = lstatSync(d.socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(Number(readFileSync(d.pidfile, "utf8").trim()), d.pid);
  });
});

describe("api: start-up and shutdown", () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  test("SIGTERM closes the listener and removes the socket and the pid file", async () => {
    const d = await startDaemon();
    dirs.push(d.dir);
    // An open event stream must not hold the shutdown up.
    const s = net.connect(d.socket, () => s.write("GET /events HTTP/1.1\r\nHost: hako\r\n\r\n"));
    s.on("error", () => {});
    await new Promise((r) => s.once("data", r));
    process.kill(d.pid, "SIGTERM");
    assert.equal(await exitCodeOf(d), 0);
    assert.equal(existsSync(d.socket), false);
    assert.equal(existsSync(d.pidfile), false);
    assert.match(d.log(), /Daemon shutdown complete/);
  });

  test("a second daemon on the same socket refuses to start; the first keeps serving", async () => {
    const first = await startDaemon();
    dirs.push(first.dir);
    const otherDir = mkdtempSync(path.join(os.tmpdir(), "hakod-"));
    dirs.push(otherDir);
    const second = await startDaemon({ dir: otherDir, hosts: [first.host], noWait: true });
    assert.equal(await exitCodeOf(second), 1);
    assert.match(second.log(), /another daemon is already serving unix:\/\//);
    assert.equal((await first.request("GET", "/_ping")).body, "OK");
    await first.stop();
  });

  test("a second daemon with the same pid file refuses to start", async () => {
    const first = await startDaemon();
    dirs.push(first.dir);
    const otherDir = mkdtempSync(path.join(os.tmpdir(), "hakod-"));
    dirs.push(otherDir);
    const second = await startDaemon({ dir: otherDir, noWait: true, extraArgs: ["--pidfile", first.pidfile] });
    assert.equal(await exitCodeOf(second), 1);
    assert.match(second.log(), /pid file found, ensure hakod is not running/);
    assert.ok(first.alive());
    await first.stop();
  });

  test("a stale socket left by a killed daemon is removed at start", async () => {
    const first = await startDaemon();
    dirs.push(first.dir);
    await first.kill();
    assert.ok(lstatSync(first.socket).isSocket(), "the killed daemon left its socket");
    const again = await startDaemon({ dir: first.dir });
    assert.match(again.log(), /removed a stale socket/);
    assert.equal((await again.request("GET", "/_ping")).body, "OK");
    await again.stop();
  });

  test("a path that is not a socket is not removed", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "hakod-"));
    dirs.push(dir);
    const file = path.join(dir, "not-a-socket");
    spawnSync("sh", ["-c", `echo keep > ${file}`]);
    const d = await startDaemon({ dir, hosts: [`unix://${file}`], noWait: true });
    assert.equal(await exitCodeOf(d), 1);
    assert.match(d.log(), /exists and is not a socket/);
    assert.equal(readFileSync(file, "utf8"), "keep\n");
  });

  test("the socket's parent directory is created 0755", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "hakod-"));
    dirs.push(dir);
    const socket = path.join(dir, "run/hako/hako.sock");
    const d = await startDaemon({ dir, hosts: [`unix://${socket}`], noWait: true });
    for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(statSync(path.dirname(socket)).mode & 0o777, 0o755);
    assert.equal((await apiRequest(socket, "GET", "/_ping")).body, "OK");
    await d.stop();
  });

  test("TCP: loopback only, and only when asked for", async () => {
    const refused = spawnSync(process.execPath, [HAKOD_BUNDLE, "-H", "tcp://0.0.0.0:2375", "--data-root", os.tmpdir()], { encoding: "utf8" });
    assert.equal(refused.status, 125);
    assert.match(refused.stderr, /loopback addresses only/);
    const bad = spawnSync(process.execPath, [HAKOD_BUNDLE, "-H", "ssh://host"], { encoding: "utf8" });
    assert.equal(bad.status, 125);
    assert.match(bad.stderr, /only unix:\/\/ and tcp:\/\/ are supported/);

    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const dir = mkdtempSync(path.join(os.tmpdir(), "hakod-"));
    dirs.push(dir);
    const d = await startDaemon({ dir, hosts: [`tcp://127.0.0.1:${port}`], noWait: true });
    let body = "";
    for (let i = 0; i < 200 && !body; i++) {
      body = await fetch(`http://127.0.0.1:${port}/_ping`).then((r) => r.text(), () => "");
      if (!body) await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(body, "OK");
    assert.match(d.log(), /without TLS/);
    await d.stop();
  });

  test("--version and --help", () => {
    const v = spawnSync(process.execPath, [HAKOD_BUNDLE, "--version"], { encoding: "utf8" });
    assert.equal(v.status, 0);
    assert.match(v.stdout, /^hakod version \d+\.\d+\.\d+/);
    const h = spawnSync(process.execPath, [HAKOD_BUNDLE, "--help"], { encoding: "utf8" });
    assert.equal(h.status, 0);
    assert.match(h.stdout, /--data-root/);
    const u = spawnSync(process.execPath, [HAKOD_BUNDLE, "--nope"], { encoding: "utf8" });
    assert.equal(u.status, 125);
    assert.match(u.stderr, /unknown flag: --nope/);
  });
});
