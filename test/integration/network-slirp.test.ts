/**
 * `--network slirp4netns` through a throw-away hakod: the container gets
 * tap0 with 10.0.2.100/24, resolv.conf names slirp's DNS (10.0.2.3), and
 * reaches an HTTP server this test runs on the host's 127.0.0.1 through
 * slirp's gateway 10.0.2.2 when host loopback is allowed
 * (`slirp4netns:allow_host_loopback=true`), and does not by default
 * (`--disable-host-loopback`). A port published with -p is answered on
 * 127.0.0.1 through slirp's host forward. Each container's slirp4netns is
 * gone after its removal. Traffic only to 127.0.0.1 and through slirp to
 * the host's loopback; curl runs in the container's network namespace from
 * the host's mount namespace (busybox wget crashes here).
 */
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Netfilter } from "../../src/network/netfilter.ts";
import { listLinks } from "../../src/network/netlink.ts";
import { processStartTime } from "../../src/runtime/state.ts";
import { HAKO_BIN, startDaemon, type TestDaemon } from "../helpers/daemon.ts";

const isRoot = process.getuid?.() === 0;
const hasSlirp = spawnSync("slirp4netns", ["--version"], { stdio: "ignore" }).status === 0;
const tag = randomBytes(3).toString("hex");
const prefix = `HKS${tag.toUpperCase()}`;
const defaultBridge = `hks${tag}`;
const DOCKER = "/usr/local/bin/docker";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** curl in the network namespace of `pid` (host binaries, container's network); async: the server it asks may be this process's. */
function curlIn(pid: number, url: string): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile("nsenter", ["-t", String(pid), "-n", "curl", "-sS", "--max-time", "5", url], { encoding: "utf8", timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

const skip = !isRoot ? "needs root (namespaces, containers)" : !hasSlirp ? "slirp4netns is not installed" : false;

describe("--network slirp4netns", { skip }, () => {
  let d: TestDaemon;
  let server: http.Server;
  let serverPort = 0;
  const execRoot = mkdtempSync("/tmp/hs-");

  async function run(body: object): Promise<{ id: string; pid: number; inspect: any }> {
    const res = await d.request("POST", "/containers/create", { body: { Image: "busybox", Cmd: ["sleep", "3600"], ...body } });
    assert.equal(res.status, 201, res.body);
    const id = res.json().Id as string;
    const s = await d.request("POST", `/containers/${id}/start`, { timeoutMs: 30_000 });
    assert.equal(s.status, 204, s.body);
    const inspect = (await d.request("GET", `/containers/${id}/json`)).json();
    return { id, pid: inspect.State.Pid, inspect };
  }

  function slirpOf(id: string): { pid: number; startTime: number } {
    return JSON.parse(readFileSync(path.join(execRoot, "containers", id, "slirp.json"), "utf8"));
  }

  function alive(p: { pid: number; startTime: number }): boolean {
    return processStartTime(p.pid) === p.startTime;
  }

  async function gone(p: { pid: number; startTime: number }): Promise<boolean> {
    for (let i = 0; i < 60 && alive(p); i++) await new Promise((res) => setTimeout(res, 50));
    return !alive(p);
  }

  async function remove(id: string): Promise<void> {
    assert.equal((await d.request("DELETE", `/containers/${id}?force=1`, { timeoutMs: 20_000 })).status, 204);
  }

  before(async () => {
    server = http.createServer((_req, res) => res.end(`hello from the host ${tag}\n`));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    serverPort = (server.address() as net.AddressInfo).port;
    process.env.HAKO_DEFAULT_BRIDGE = defaultBridge;
    process.env.HAKO_NETFILTER_PREFIX = prefix;
    d = await startDaemon({ extraArgs: ["--exec-root", execRoot] });
    delete process.env.HAKO_DEFAULT_BRIDGE;
    delete process.env.HAKO_NETFILTER_PREFIX;
    const bb = await d.request("POST", "/hako/images/busybox", { timeoutMs: 60_000 });
    assert.equal(bb.status, 200, bb.body);
  });

  after(async () => {
    if (d) await d.stop();
    server?.close();
    if (listLinks().some((l) => l.name === defaultBridge)) spawnSync("ip", ["link", "del", defaultBridge], { stdio: "ignore" });
    await new Netfilter({ prefix }).teardown().catch(() => {});
    rmSync(execRoot, { recursive: true, force: true });
  });

  test("tap0 has 10.0.2.100/24, inspect and resolv.conf say so, the host's loopback answers through 10.0.2.2", async () => {
    const c = await run({ HostConfig: { NetworkMode: "slirp4netns:allow_host_loopback=true" } });
    const addr = spawnSync("nsenter", ["-t", String(c.pid), "-n", "ip", "-4", "addr", "show", "tap0"], { encoding: "utf8" });
    assert.equal(addr.status, 0, addr.stderr);
    assert.match(addr.stdout, /inet 10\.0\.2\.100\/24/);
    const lo = spawnSync("nsenter", ["-t", String(c.pid), "-n", "ip", "link", "show", "lo"], { encoding: "utf8" });
    assert.match(lo.stdout, /state UNKNOWN|UP/);
    const ep = c.inspect.NetworkSettings.Networks.slirp4netns;
    assert.ok(ep, JSON.stringify(c.inspect.NetworkSettings));
    assert.equal(ep.IPAddress, "10.0.2.100");
    assert.equal(ep.IPPrefixLen, 24);
    assert.equal(ep.Gateway, "10.0.2.2");
    assert.match(ep.MacAddress, /^02(:[0-9a-f]{2}){5}$/);
    assert.equal(c.inspect.NetworkSettings.SandboxKey, `/proc/${c.pid}/ns/net`);
    assert.equal(c.inspect.HostConfig.NetworkMode, "slirp4netns:allow_host_loopback=true");
    const resolv = readFileSync(`/proc/${c.pid}/root/etc/resolv.conf`, "utf8");
    assert.match(resolv, /^nameserver 10\.0\.2\.3$/m);
    assert.match(readFileSync(`/proc/${c.pid}/root/etc/hosts`, "utf8"), new RegExp(`10\\.0\\.2\\.100\\t${c.id.slice(0, 12)}`));
    const r = await curlIn(c.pid, `http://10.0.2.2:${serverPort}/`);
    assert.equal(r.status, 0, r.out);
    assert.equal(r.out, `hello from the host ${tag}\n`);
    const slirp = slirpOf(c.id);
    assert.ok(alive(slirp), "slirp4netns runs while the container does");
    await remove(c.id);
    assert.ok(await gone(slirp), "slirp4netns is gone with the container");
  });

  test("by default (--disable-host-loopback) 10.0.2.2 does not reach the host's loopback", async () => {
    const c = await run({ HostConfig: { NetworkMode: "slirp4netns" } });
    const r = await curlIn(c.pid, `http://10.0.2.2:${serverPort}/`);
    assert.notEqual(r.status, 0, r.out);
    assert.ok(!r.out.includes("hello from the host"), r.out);
    await remove(c.id);
  });

  test("a container that exits loses its slirp4netns; -p publishes through slirp's host forward", async () => {
    const hostPort = await freePort();
    const c = await run({
      Cmd: ["sh", "-c", "mkdir -p /www && echo published-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"],
      ExposedPorts: { "80/tcp": {} },
      HostConfig: { NetworkMode: "slirp4netns", PortBindings: { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(hostPort) }] } },
    });
    assert.deepEqual(c.inspect.NetworkSettings.Ports, { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(hostPort) }] });
    let body = "";
    for (let i = 0; i < 50 && !body.includes("published-"); i++) {
      const r = spawnSync("curl", ["-sS", "--max-time", "3", `http://127.0.0.1:${hostPort}/`], { encoding: "utf8" });
      body = r.stdout;
      if (!body.includes("published-")) await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(body, `published-${c.id.slice(0, 12)}\n`);
    const ps = (await d.request("GET", `/containers/json?filters=${encodeURIComponent(JSON.stringify({ id: [c.id] }))}`)).json()[0];
    assert.deepEqual(ps.Ports, [{ IP: "127.0.0.1", PrivatePort: 80, PublicPort: hostPort, Type: "tcp" }]);
    assert.equal(ps.NetworkSettings.Networks.slirp4netns.IPAddress, "10.0.2.100");
    const slirp = slirpOf(c.id);
    assert.equal((await d.request("POST", `/containers/${c.id}/stop?t=1`, { timeoutMs: 20_000 })).status, 204);
    assert.ok(await gone(slirp), "slirp4netns stopped with the container");
    assert.ok(!existsSync(path.join(execRoot, "containers", c.id, "slirp.json")));
    // Started again: a new slirp4netns.
    assert.equal((await d.request("POST", `/containers/${c.id}/start`, { timeoutMs: 30_000 })).status, 204);
    const again = slirpOf(c.id);
    assert.ok(alive(again));
    await remove(c.id);
    assert.ok(await gone(again), "slirp4netns is gone after rm");
  });

  test("live restore: slirp4netns outlives a SIGKILLed hakod, the new one finds it and stops it at rm", async () => {
    const c = await run({ HostConfig: { NetworkMode: "slirp4netns:allow_host_loopback=true" } });
    const slirp = slirpOf(c.id);
    await d.kill();
    assert.ok(alive(slirp), "slirp4netns survived hakod");
    const during = await curlIn(c.pid, `http://10.0.2.2:${serverPort}/`);
    assert.equal(during.status, 0, during.out);
    process.env.HAKO_DEFAULT_BRIDGE = defaultBridge;
    process.env.HAKO_NETFILTER_PREFIX = prefix;
    d = await startDaemon({ dir: d.dir, extraArgs: ["--exec-root", execRoot] });
    delete process.env.HAKO_DEFAULT_BRIDGE;
    delete process.env.HAKO_NETFILTER_PREFIX;
    const inspect = (await d.request("GET", `/containers/${c.id}/json`)).json();
    assert.equal(inspect.State.Running, true);
    assert.equal(inspect.NetworkSettings.Networks.slirp4netns.IPAddress, "10.0.2.100");
    assert.ok(alive(slirp));
    await remove(c.id);
    assert.ok(await gone(slirp), "the new hakod stopped the old slirp4netns");
  });

  test("bad slirp4netns options and other networks are refused at create; hako run --network slirp4netns", async () => {
    const bad = await d.request("POST", "/containers/create", { body: { Image: "busybox", HostConfig: { NetworkMode: "slirp4netns:nope=1" } } });
    assert.equal(bad.status, 400, bad.body);
    assert.match(bad.json().message, /unknown slirp4netns option/);
    const mtu = await d.request("POST", "/containers/create", { body: { Image: "busybox", HostConfig: { NetworkMode: "slirp4netns:mtu=99999" } } });
    assert.equal(mtu.status, 400, mtu.body);
    const both = await d.request("POST", "/containers/create", {
      body: { Image: "busybox", HostConfig: { NetworkMode: "slirp4netns" }, NetworkingConfig: { EndpointsConfig: { bridge: {} } } },
    });
    assert.equal(both.status, 400, both.body);
    // A host port already taken (this test's server): the start fails, slirp4netns goes with it.
    const taken = await d.request("POST", "/containers/create", {
      body: { Image: "busybox", Cmd: ["sleep", "60"], HostConfig: { NetworkMode: "slirp4netns", PortBindings: { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(serverPort) }] } } },
    });
    assert.equal(taken.status, 201, taken.body);
    const start = await d.request("POST", `/containers/${taken.json().Id}/start`, { timeoutMs: 30_000 });
    assert.equal(start.status, 500, start.body);
    assert.match(start.json().message, new RegExp(`Bind for 127\\.0\\.0\\.1:${serverPort} failed`));
    assert.ok(!existsSync(path.join(execRoot, "containers", taken.json().Id, "slirp.json")));
    assert.equal(spawnSync("pgrep", ["-f", `slirp4netns.*${taken.json().Id.slice(0, 24)}`]).status, 1, "no slirp4netns left for it");
    await remove(taken.json().Id);
    const r = spawnSync(HAKO_BIN, ["-H", d.host, "run", "--rm", "--network", "slirp4netns", "busybox", "cat", "/etc/resolv.conf"], { encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /nameserver 10\.0\.2\.3/);
    assert.ok(d.alive());
  });

  test("the stock docker CLI: run --network slirp4netns (named in EndpointsConfig too; options as driver-opt)", { skip: existsSync(DOCKER) ? false : "no docker CLI" }, () => {
    const r = spawnSync(DOCKER, ["run", "--rm", "--network", "name=slirp4netns,driver-opt=mtu=1500", "busybox", "ip", "addr", "show", "tap0"], {
      encoding: "utf8",
      env: { ...process.env, DOCKER_HOST: d.host },
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /mtu 1500/);
    assert.match(r.stdout, /inet 10\.0\.2\.100\/24/);
  });
});
