/**
 * Handing host interfaces to a running container (the seed's dknet)
 * through a throw-away hakod: a tap and one end of a veth pair made by the
 * test move into a busybox container started with NET_ADMIN, which sees
 * them and configures an address; they leave the host's `ip link`; they
 * come back under their host names on `detach-interface` and on stop; a
 * container killed with an interface inside loses a virtual one, as the
 * kernel does. Bad requests get Docker-style statuses and the daemon
 * lives on. Every link the test made is deleted at the end.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { Netfilter } from "../../src/network/netfilter.ts";
import { listLinks } from "../../src/network/netlink.ts";
import { HAKO_BIN, startDaemon, type TestDaemon } from "../helpers/daemon.ts";

const isRoot = process.getuid?.() === 0;
const tag = randomBytes(3).toString("hex");
const prefix = `HKH${tag.toUpperCase()}`;
const defaultBridge = `hkh${tag}`;
const tap = `hkt${tag}`;
const vethA = `hkv${tag}a`;
const vethB = `hkv${tag}b`;
const vethC = `hkv${tag}c`;
const vethD = `hkv${tag}d`;

function ip(...args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  assert.equal(r.status, 0, `ip ${args.join(" ")}: ${r.stderr}`);
}

function onHost(name: string): boolean {
  return listLinks().some((l) => l.name === name);
}

/** `ip` output of the container's network namespace. */
function inNs(pid: number, ...args: string[]): { status: number | null; out: string } {
  const r = spawnSync("nsenter", ["-t", String(pid), "-n", "ip", ...args], { encoding: "utf8" });
  return { status: r.status, out: r.stdout + r.stderr };
}

function hako(d: TestDaemon, ...args: string[]): { status: number | null; out: string; err: string } {
  const r = spawnSync(HAKO_BIN, ["-H", d.host, ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

describe("handing host interfaces to containers", { skip: isRoot ? false : "needs root (links, namespaces, containers)" }, () => {
  let d: TestDaemon;
  const execRoot = mkdtempSync("/tmp/hh-");

  async function run(): Promise<{ id: string; pid: number }> {
    const res = await d.request("POST", "/containers/create", {
      body: { Image: "busybox", Cmd: ["sleep", "3600"], HostConfig: { CapAdd: ["NET_ADMIN"], NetworkMode: "none" } },
    });
    assert.equal(res.status, 201, res.body);
    const id = res.json().Id as string;
    const s = await d.request("POST", `/containers/${id}/start`, { timeoutMs: 30_000 });
    assert.equal(s.status, 204, s.body);
    return { id, pid: (await d.request("GET", `/containers/${id}/json`)).json().State.Pid as number };
  }

  before(async () => {
    process.env.HAKO_DEFAULT_BRIDGE = defaultBridge;
    process.env.HAKO_NETFILTER_PREFIX = prefix;
    d = await startDaemon({ extraArgs: ["--exec-root", execRoot] });
    delete process.env.HAKO_DEFAULT_BRIDGE;
    delete process.env.HAKO_NETFILTER_PREFIX;
    const bb = await d.request("POST", "/hako/images/busybox", { timeoutMs: 60_000 });
    assert.equal(bb.status, 200, bb.body);
    ip("tuntap", "add", "dev", tap, "mode", "tap");
    ip("link", "add", vethA, "type", "veth", "peer", "name", vethB);
    ip("link", "add", vethC, "type", "veth", "peer", "name", vethD);
  });

  after(async () => {
    if (d) await d.stop();
    for (const l of [tap, vethA, vethB, vethC, vethD]) if (onHost(l)) spawnSync("ip", ["link", "del", l], { stdio: "ignore" });
    if (onHost(defaultBridge)) spawnSync("ip", ["link", "del", defaultBridge], { stdio: "ignore" });
    await new Netfilter({ prefix }).teardown().catch(() => {});
    rmSync(execRoot, { recursive: true, force: true });
  });

  test("a tap and a veth end move in, the container configures them, detach and stop give them back", async () => {
    const c = await run();
    const res = await d.request("POST", `/hako/containers/${c.id}/interfaces`, { body: { HostInterface: tap, Name: "tap9" } });
    assert.equal(res.status, 201, res.body);
    assert.deepEqual({ Name: res.json().Name, HostInterface: res.json().HostInterface, Physical: res.json().Physical }, { Name: "tap9", HostInterface: tap, Physical: false });
    assert.ok(!onHost(tap), "the tap left the host");
    assert.equal(inNs(c.pid, "link", "show", "tap9").status, 0);

    const cli = hako(d, "network", "attach-interface", "--name", "eth5", c.id, vethA);
    assert.equal(cli.status, 0, cli.err);
    assert.equal(cli.out, "eth5\n");
    assert.ok(!onHost(vethA) && onHost(vethB), "one end moved, the peer stayed");

    // The container configures it itself (NET_ADMIN): busybox ip through exec.
    const add = hako(d, "exec", c.id, "ip", "addr", "add", "10.251.7.2/24", "dev", "eth5");
    assert.equal(add.status, 0, add.err);
    const show = hako(d, "exec", c.id, "ip", "addr", "show", "eth5");
    assert.match(show.out, /10\.251\.7\.2\/24/);
    assert.match(show.out, /UP/);

    const list = await d.request("GET", `/hako/containers/${c.id}/interfaces`);
    assert.equal(list.status, 200);
    assert.deepEqual(list.json<Array<{ Name: string }>>().map((r) => r.Name).sort(), ["eth5", "tap9"]);
    const ls = hako(d, "network", "interfaces", c.id);
    assert.match(ls.out, new RegExp(`eth5\\s+${vethA}\\s+virtual`));

    const detach = hako(d, "network", "detach-interface", c.id, "tap9");
    assert.equal(detach.status, 0, detach.err);
    assert.ok(onHost(tap), "the tap is back under its host name");
    assert.notEqual(inNs(c.pid, "link", "show", "tap9").status, 0);

    assert.equal((await d.request("POST", `/containers/${c.id}/stop?t=1`, { timeoutMs: 20_000 })).status, 204);
    assert.ok(onHost(vethA), "stop gave the veth end back under its host name");
    assert.ok(onHost(vethB));
    assert.deepEqual((await d.request("GET", `/hako/containers/${c.id}/interfaces`)).json(), []);
    assert.equal((await d.request("DELETE", `/containers/${c.id}?force=1`, { timeoutMs: 20_000 })).status, 204);
  });

  test("rm -f gives interfaces back first; a container killed with a veth inside loses it, as the kernel does", async () => {
    const a = await run();
    assert.equal((await d.request("POST", `/hako/containers/${a.id}/interfaces`, { body: { HostInterface: tap } })).status, 201);
    assert.ok(!onHost(tap));
    assert.equal((await d.request("DELETE", `/containers/${a.id}?force=1`, { timeoutMs: 20_000 })).status, 204);
    assert.ok(onHost(tap), "rm -f gave the tap back");

    const b = await run();
    assert.equal((await d.request("POST", `/hako/containers/${b.id}/interfaces`, { body: { HostInterface: vethC } })).status, 201);
    assert.equal((await d.request("POST", `/containers/${b.id}/kill`, { timeoutMs: 20_000 })).status, 204);
    await d.request("POST", `/containers/${b.id}/wait`, { timeoutMs: 20_000 });
    // The namespace died with the veth end in it: the kernel deletes the pair.
    for (let i = 0; i < 40 && onHost(vethD); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!onHost(vethC) && !onHost(vethD));
    assert.equal((await d.request("DELETE", `/containers/${b.id}?force=1`, { timeoutMs: 20_000 })).status, 204);
  });

  test("start and exit publish Docker's network connect and disconnect events for the container", async () => {
    const since = Date.now() / 1000;
    const res = await d.request("POST", "/containers/create", { body: { Image: "busybox", Cmd: ["sleep", "3600"] } });
    assert.equal(res.status, 201, res.body);
    const id = res.json().Id as string;
    assert.equal((await d.request("POST", `/containers/${id}/start`, { timeoutMs: 30_000 })).status, 204);
    assert.equal((await d.request("POST", `/containers/${id}/stop?t=1`, { timeoutMs: 20_000 })).status, 204);
    const until = Date.now() / 1000 + 1;
    const ev = await d.request("GET", `/events?since=${since}&until=${until}&filters=${encodeURIComponent(JSON.stringify({ type: ["network", "container"] }))}`, { timeoutMs: 10_000 });
    assert.equal(ev.status, 200, ev.body);
    const events = ev.body
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .filter((e) => e.Actor.ID === id || e.Actor.Attributes.container === id);
    const seq = events.map((e) => `${e.Type}:${e.Action}`);
    const connect = events.find((e) => e.Type === "network" && e.Action === "connect");
    assert.ok(connect, seq.join(","));
    assert.equal(connect.Actor.Attributes.name, "bridge");
    assert.equal(connect.Actor.Attributes.type, "bridge");
    assert.ok(seq.indexOf("network:connect") < seq.indexOf("container:start"), seq.join(","));
    assert.ok(seq.indexOf("container:die") < seq.indexOf("network:disconnect"), seq.join(","));
    assert.equal((await d.request("DELETE", `/containers/${id}?force=1`, { timeoutMs: 20_000 })).status, 204);
  });

  test("bad requests: unknown container or interface, lo, taken names, bad names, not running", async () => {
    const c = await run();
    const post = (body: object, id = c.id) => d.request("POST", `/hako/containers/${id}/interfaces`, { body });
    assert.equal((await post({ HostInterface: tap }, "nosuchcontainer")).status, 404);
    assert.equal((await post({ HostInterface: `nx${tag}` })).status, 404);
    assert.equal((await post({ HostInterface: "lo" })).status, 403);
    assert.equal((await post({ HostInterface: tap, Name: "lo" })).status, 409);
    assert.ok(onHost(tap), "a refused hand-over leaves the interface on the host");
    assert.equal((await post({ HostInterface: tap, Name: "bad/name" })).status, 400);
    assert.equal((await post({ HostInterface: "" })).status, 400);
    assert.equal((await post({ HostInterface: 7 })).status, 400);
    assert.equal((await d.request("DELETE", `/hako/containers/${c.id}/interfaces/nothere`)).status, 404);
    const raw = await d.request("POST", `/hako/containers/${c.id}/interfaces`, { body: "{not json", headers: { "Content-Type": "application/json" } });
    assert.equal(raw.status, 400);
    const created = await d.request("POST", "/containers/create", { body: { Image: "busybox", Cmd: ["true"] } });
    assert.equal((await post({ HostInterface: tap }, created.json().Id)).status, 409);
    const cli = hako(d, "network", "attach-interface", c.id, `nx${tag}`);
    assert.notEqual(cli.status, 0);
    assert.match(cli.err, /no such host interface/);
    for (const id of [c.id, created.json().Id]) await d.request("DELETE", `/containers/${id}?force=1`, { timeoutMs: 20_000 });
    assert.ok(d.alive());
  });
});
