/**
 * The network API through a throw-away hakod, hako's CLI and the stock
 * docker CLI: list/inspect/create/remove/prune with Docker's statuses and
 * messages, connect/disconnect of a running busybox container (it gains
 * and loses eth0, its name resolves on the network's gateway), bad input
 * answered with 4xx while the daemon survives. The daemon's default bridge
 * and netfilter chains carry test names (HAKO_DEFAULT_BRIDGE,
 * HAKO_NETFILTER_PREFIX), so hakod's own are never touched; at the end no
 * link or rule of the test is left. Traffic only to addresses made here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { listLinks } from "../../src/network/netlink.ts";
import { HAKO_BIN, type TestDaemon } from "../helpers/daemon.ts";
import { queryA } from "../helpers/dns.ts";
import { startNetworkDaemon, stopNetworkDaemon } from "../helpers/network-daemon.ts";
import { freeSubnet, ruleLinesMentioning } from "../helpers/netns.ts";

const isRoot = process.getuid?.() === 0;
const tag = randomBytes(3).toString("hex");
const prefix = `HKA${tag.toUpperCase()}`;
const defaultBridge = `hka${tag}`;
const DOCKER = "/usr/local/bin/docker";

describe("network API", { skip: isRoot ? false : "needs root (bridges, iptables, containers)" }, () => {
  let d: TestDaemon;
  const execRoot = mkdtempSync("/tmp/hn-");
  const subnet = freeSubnet();
  const base = subnet.replace(/\.0\/24$/, "");
  const bridges = new Set<string>([defaultBridge]);
  let ctr = "";

  function hako(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(HAKO_BIN, ["-H", d.host, ...args], { encoding: "utf8", timeout: 30_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  before(async () => {
    d = await startNetworkDaemon({ defaultBridge, prefix, execRoot });
    const bb = await d.request("POST", "/hako/images/busybox", { timeoutMs: 60_000 });
    assert.equal(bb.status, 200, bb.body);
  });

  after(async () => {
    await stopNetworkDaemon(d, bridges, prefix);
    rmSync(execRoot, { recursive: true, force: true });
  });

  test("list and inspect the predefined networks; filters; scope", async () => {
    const res = await d.request("GET", "/networks");
    assert.equal(res.status, 200, res.body);
    const nets = res.json<{ Name: string; Id: string; Driver: string; Scope: string }[]>();
    assert.deepEqual(nets.map((n) => n.Name).sort(), ["bridge", "host", "none"]);
    const bridge = nets.find((n) => n.Name === "bridge")!;
    assert.match(bridge.Id, /^[0-9a-f]{64}$/);
    const inspected = await d.request("GET", `/networks/${bridge.Id.slice(0, 12)}?verbose=true`);
    assert.equal(inspected.status, 200);
    assert.deepEqual(Object.keys(inspected.json()), [
      "Name", "Id", "Created", "Scope", "Driver", "EnableIPv6", "IPAM", "Internal", "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels",
    ]);
    assert.equal((await d.request("GET", `/networks/bridge?scope=swarm`)).status, 404);
    const builtin = await d.request("GET", `/networks?filters=${encodeURIComponent(JSON.stringify({ type: ["builtin"], driver: ["null"] }))}`);
    assert.deepEqual(builtin.json<{ Name: string }[]>().map((n) => n.Name), ["none"]);
    const bad = await d.request("GET", `/networks?filters=${encodeURIComponent(JSON.stringify({ type: ["x"] }))}`);
    assert.equal(bad.status, 400);
    assert.equal((await d.request("GET", `/networks?filters=${encodeURIComponent("{nope")}`)).status, 400);
    const missing = await d.request("GET", "/networks/nope");
    assert.equal(missing.status, 404);
    assert.equal(missing.json().message, "network nope not found");
  });

  test("create, conflicts and Docker's refusals; remove", async () => {
    const res = await d.request("POST", "/networks/create", {
      body: { Name: `api-${tag}`, CheckDuplicate: true, IPAM: { Config: [{ Subnet: subnet, Gateway: `${base}.1` }] }, Labels: { t: tag } },
    });
    assert.equal(res.status, 201, res.body);
    const { Id, Warning } = res.json<{ Id: string; Warning: string }>();
    assert.match(Id, /^[0-9a-f]{64}$/);
    assert.equal(Warning, "");
    bridges.add(`br-${Id.slice(0, 12)}`);
    const n = (await d.request("GET", `/networks/api-${tag}`)).json();
    assert.equal(n.Id, Id);
    assert.deepEqual(n.IPAM.Config, [{ Subnet: subnet, Gateway: `${base}.1` }]);

    const dup = await d.request("POST", "/networks/create", { body: { Name: `api-${tag}` } });
    assert.equal(dup.status, 409);
    assert.equal(dup.json().message, `network with name api-${tag} already exists`);
    const overlap = await d.request("POST", "/networks/create", { body: { Name: `ov-${tag}`, IPAM: { Config: [{ Subnet: subnet }] } } });
    assert.equal(overlap.status, 403, overlap.body);
    assert.equal((await d.request("POST", "/networks/create", { body: { Name: "host" } })).status, 403);
    assert.equal((await d.request("POST", "/networks/create", { body: { Name: `x-${tag}`, Driver: "nodriver" } })).status, 404);
    for (const body of ["{", "[]", { Name: 5 }, { Name: "" }, { Name: "x", IPAM: { Config: "no" } }, { Name: "x", Labels: { a: 1 } }, { Name: "x", IPAM: { Config: [{ Subnet: "10.0.0.0/33" }] } }]) {
      const r = await d.request("POST", "/networks/create", { body, headers: { "Content-Type": "application/json" } });
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${r.body}`);
    }
    const rmBridge = await d.request("DELETE", "/networks/bridge");
    assert.equal(rmBridge.status, 403);
    assert.equal(rmBridge.json().message, "bridge is a pre-defined network and cannot be removed");
    assert.equal((await d.request("DELETE", `/networks/gone-${tag}`)).status, 404);
    assert.ok(d.alive());
  });

  test("connect and disconnect a running container: eth1 comes and goes, its name resolves meanwhile", async () => {
    const created = await d.request("POST", "/containers/create?name=" + `web-${tag}`, { body: { Image: "busybox", Cmd: ["sleep", "3600"] } });
    assert.equal(created.status, 201, created.body);
    ctr = created.json().Id;
    const started = await d.request("POST", `/containers/${ctr}/start`, { timeoutMs: 30_000 });
    assert.equal(started.status, 204, started.body);
    const pid = (await d.request("GET", `/containers/${ctr}/json`)).json().State.Pid as number;

    const conn = await d.request("POST", `/networks/api-${tag}/connect`, {
      body: { Container: `web-${tag}`, EndpointConfig: { IPAMConfig: { IPv4Address: `${base}.50` }, Aliases: ["www"] } },
    });
    assert.equal(conn.status, 200, conn.body);
    const net = (await d.request("GET", `/networks/api-${tag}`)).json();
    assert.deepEqual(Object.keys(net.Containers), [ctr]);
    assert.equal(net.Containers[ctr].Name, `web-${tag}`);
    assert.equal(net.Containers[ctr].IPv4Address, `${base}.50/24`);
    // eth0 is the default bridge's: the new network's interface is the next one.
    const addr = spawnSync("nsenter", ["-t", String(pid), "-n", "ip", "-4", "-o", "addr", "show", "eth1"], { encoding: "utf8" }).stdout;
    assert.match(addr, new RegExp(`inet ${base.replace(/\./g, "\\.")}\\.50/24`));
    assert.deepEqual(await queryA(`${base}.1`, `web-${tag}`), { rcode: 0, addresses: [`${base}.50`] });
    assert.deepEqual(await queryA(`${base}.1`, "www"), { rcode: 0, addresses: [`${base}.50`] });
    const ping = spawnSync("nsenter", ["-t", String(pid), "-n", "busybox", "ping", "-c1", "-W2", `${base}.1`], { encoding: "utf8" });
    assert.equal(ping.status, 0, ping.stdout + ping.stderr);

    const again = await d.request("POST", `/networks/api-${tag}/connect`, { body: { Container: ctr } });
    assert.equal(again.status, 403, again.body);
    const inUse = await d.request("DELETE", `/networks/api-${tag}`);
    assert.equal(inUse.status, 403);
    assert.match(inUse.json().message, /^error while removing network: network api-\w+ id [0-9a-f]{64} has active endpoints$/);
    assert.equal((await d.request("POST", `/networks/api-${tag}/connect`, { body: { Container: "nosuch" } })).status, 404);
    assert.equal((await d.request("POST", `/networks/api-${tag}/connect`, { body: {} })).status, 400);
    assert.equal((await d.request("POST", `/networks/api-${tag}/connect`, { body: { Container: ctr, EndpointConfig: { Aliases: "x" } } })).status, 400);

    const disc = await d.request("POST", `/networks/api-${tag}/disconnect`, { body: { Container: ctr } });
    assert.equal(disc.status, 200, disc.body);
    assert.notEqual(spawnSync("nsenter", ["-t", String(pid), "-n", "ip", "link", "show", "eth1"]).status, 0);
    assert.equal(spawnSync("nsenter", ["-t", String(pid), "-n", "ip", "link", "show", "eth0"]).status, 0, "the default bridge's interface stays");
    assert.deepEqual((await d.request("GET", `/networks/api-${tag}`)).json().Containers, {});
    assert.equal((await d.request("POST", `/networks/api-${tag}/disconnect`, { body: { Container: ctr } })).status, 403);
    // Forced too: moby then looks for an endpoint by the container's name, and finds none.
    assert.equal((await d.request("POST", `/networks/api-${tag}/disconnect`, { body: { Container: ctr, Force: true } })).status, 404);
  });

  test("hako network: create, ls (table, -q, --filter, --format, --no-trunc), inspect, connect, disconnect, rm, prune", () => {
    const other = freeSubnet([subnet]);
    const created = hako(["network", "create", "--subnet", other, "--label", `c=${tag}`, "--internal", `cli-${tag}`]);
    assert.equal(created.status, 0, created.stderr);
    const id = created.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    bridges.add(`br-${id.slice(0, 12)}`);
    const ls = hako(["network", "ls"]);
    assert.equal(ls.status, 0, ls.stderr);
    const lines = ls.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/);
    assert.ok(lines.some((l) => new RegExp(`^${id.slice(0, 12)}\\s+cli-${tag}\\s+bridge\\s+local$`).test(l)), ls.stdout);
    assert.equal(hako(["network", "ls", "-q", "--no-trunc", "--filter", `label=c=${tag}`]).stdout, `${id}\n`);
    // name and id filters are regular expressions, as dockerd's filters.Match reads them.
    assert.equal(hako(["network", "ls", "-q", "--no-trunc", "--filter", `name=^cli-${tag}$`]).stdout, `${id}\n`);
    assert.equal(hako(["network", "ls", "-q", "--filter", `name=^li-${tag}`]).stdout, "");
    assert.equal(hako(["network", "ls", "--filter", "type=custom", "--format", "{{.Name}} {{.Internal}}"]).stdout, `api-${tag} false\ncli-${tag} true\n`);
    const insp = hako(["network", "inspect", "-f", "{{.Name}} {{range .IPAM.Config}}{{.Subnet}}{{end}}", `cli-${tag}`]);
    assert.equal(insp.stdout, `cli-${tag} ${other}\n`);
    const json = JSON.parse(hako(["network", "inspect", `cli-${tag}`]).stdout);
    assert.equal(json[0].Id, id);
    const missing = hako(["network", "inspect", "nope"]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /network nope not found/);

    assert.equal(hako(["network", "connect", "--alias", "c1", `cli-${tag}`, ctr]).status, 0);
    assert.ok(JSON.parse(hako(["network", "inspect", `cli-${tag}`]).stdout)[0].Containers[ctr]);
    const rmBusy = hako(["network", "rm", `cli-${tag}`]);
    assert.equal(rmBusy.status, 1);
    assert.match(rmBusy.stderr, /Error response from daemon: error while removing network/);
    assert.equal(hako(["network", "disconnect", `cli-${tag}`, ctr]).status, 0);
    const rmBad = hako(["network", "rm", "bridge"]);
    assert.equal(rmBad.stderr, "Error response from daemon: bridge is a pre-defined network and cannot be removed\n");
    assert.equal(hako(["network", "rm", "-f", `nope-${tag}`]).status, 0);
    const bad = hako(["network", "create", "--subnet", other, "--gateway", "192.0.2.1", `x-${tag}`]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /no matching subnet for gateway 192\.0\.2\.1/);

    const pruned = hako(["network", "prune", "-f", "--filter", `label=c=${tag}`]);
    assert.equal(pruned.stdout, `Deleted Networks:\ncli-${tag}\n\n`);
    assert.ok(!listLinks().some((l) => l.name === `br-${id.slice(0, 12)}`));
  });

  test("the stock docker CLI: network create, ls, inspect, connect, rm", { skip: existsSync(DOCKER) ? false : "no docker CLI" }, () => {
    const env = { ...process.env, DOCKER_HOST: d.host };
    const docker = (args: string[]) => spawnSync(DOCKER, args, { encoding: "utf8", env, timeout: 30_000 });
    const other = freeSubnet([subnet]);
    const c = docker(["network", "create", "--subnet", other, `dk-${tag}`]);
    assert.equal(c.status, 0, c.stderr);
    bridges.add(`br-${c.stdout.trim().slice(0, 12)}`);
    const ls = docker(["network", "ls", "--format", "{{.Name}}\t{{.Driver}}"]);
    assert.equal(ls.status, 0, ls.stderr);
    assert.ok(ls.stdout.split("\n").includes(`dk-${tag}\tbridge`), ls.stdout);
    const insp = docker(["network", "inspect", `dk-${tag}`, "-f", "{{(index .IPAM.Config 0).Subnet}}"]);
    assert.equal(insp.stdout.trim(), other, insp.stderr);
    const conn = docker(["network", "connect", "--ip", other.replace(/0\/24$/, "7"), `dk-${tag}`, ctr]);
    assert.equal(conn.status, 0, conn.stderr);
    const ip = docker(["network", "inspect", `dk-${tag}`, "-f", "{{range .Containers}}{{.IPv4Address}}{{end}}"]);
    assert.equal(ip.stdout.trim(), other.replace(/0\/24$/, "7/24"));
    assert.equal(docker(["network", "disconnect", `dk-${tag}`, ctr]).status, 0);
    const rm = docker(["network", "rm", `dk-${tag}`]);
    assert.equal(rm.status, 0, rm.stderr);
    const rmBridge = docker(["network", "rm", "bridge"]);
    assert.notEqual(rmBridge.status, 0);
    assert.match(rmBridge.stderr, /bridge is a pre-defined network and cannot be removed/);
  });

  test("remove, then nothing of the test is left after the container goes", async () => {
    assert.equal((await d.request("DELETE", `/containers/${ctr}?force=1`, { timeoutMs: 20_000 })).status, 204);
    const rm = await d.request("DELETE", `/networks/api-${tag}`);
    assert.equal(rm.status, 204, rm.body);
    const prune = await d.request("POST", "/networks/prune");
    assert.equal(prune.status, 200);
    assert.deepEqual((await d.request("GET", "/networks")).json<{ Name: string }[]>().map((n) => n.Name).sort(), ["bridge", "host", "none"]);
    assert.deepEqual(listLinks().filter((l) => [...bridges].filter((b) => b !== defaultBridge).includes(l.name)), []);
    assert.deepEqual(ruleLinesMentioning([subnet]), []);
  });
});
