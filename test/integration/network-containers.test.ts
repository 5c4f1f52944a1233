/**
 * Containers on networks through a throw-away hakod (the engine wired to
 * the network service): two busybox containers ping each other by address
 * on the default bridge and by name on a user network, a busybox httpd
 * published on 127.0.0.1 answers curl from the host, --network none has
 * only lo, host sees the host's interfaces, container: shares an address,
 * inspect and `docker port` show it all; with the stock docker CLI too.
 * The daemon's bridge and chains carry test names; at the end no link or
 * rule of the test is left. Traffic only to 127.0.0.1 and the containers.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { Netfilter } from "../../src/network/netfilter.ts";
import { listLinks } from "../../src/network/netlink.ts";
import { HAKO_BIN, type TestDaemon } from "../helpers/daemon.ts";
import { startNetworkDaemon, stopNetworkDaemon } from "../helpers/network-daemon.ts";
import { freePort, freeSubnet } from "../helpers/netns.ts";

const isRoot = process.getuid?.() === 0;
const tag = randomBytes(3).toString("hex");
const prefix = `HKN${tag.toUpperCase()}`;
const defaultBridge = `hkn${tag}`;
const DOCKER = "/usr/local/bin/docker";

describe("containers on networks", { skip: isRoot ? false : "needs root (bridges, iptables, containers)" }, () => {
  let d: TestDaemon;
  const execRoot = mkdtempSync("/tmp/hn-");
  const bridges = new Set<string>([defaultBridge]);
  const subnet = freeSubnet();

  async function run(body: object, name?: string): Promise<{ id: string; pid: number; inspect: any }> {
    const res = await d.request("POST", `/containers/create${name ? `?name=${name}` : ""}`, { body: { Image: "busybox", Cmd: ["sleep", "3600"], ...body } });
    assert.equal(res.status, 201, res.body);
    const id = res.json().Id as string;
    const s = await d.request("POST", `/containers/${id}/start`, { timeoutMs: 30_000 });
    assert.equal(s.status, 204, s.body);
    const inspect = (await d.request("GET", `/containers/${id}/json`)).json();
    return { id, pid: inspect.State.Pid, inspect };
  }

  function inNs(pid: number, args: string[]): { status: number | null; out: string } {
    const r = spawnSync("nsenter", ["-t", String(pid), "-n", "-m", "-p", "-u", ...args], { encoding: "utf8", timeout: 15_000 });
    return { status: r.status, out: r.stdout + r.stderr };
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

  test("default bridge: addresses in inspect, the two containers ping each other by address, hosts and resolv.conf", async () => {
    const a = await run({ HostConfig: { ExtraHosts: ["host.docker.internal:host-gateway"] } });
    const b = await run({});
    const ipA = a.inspect.NetworkSettings.Networks.bridge.IPAddress as string;
    const ipB = b.inspect.NetworkSettings.Networks.bridge.IPAddress as string;
    assert.match(ipA, /^\d+\.\d+\.\d+\.\d+$/, JSON.stringify(a.inspect.NetworkSettings));
    assert.equal(a.inspect.NetworkSettings.IPAddress, ipA);
    assert.equal(a.inspect.NetworkSettings.SandboxKey, `/proc/${a.pid}/ns/net`);
    const ping = inNs(a.pid, ["ping", "-c1", "-W2", ipB]);
    assert.equal(ping.status, 0, ping.out);
    const hosts = inNs(a.pid, ["cat", "/etc/hosts"]).out;
    assert.ok(hosts.includes(`${ipA}\t${a.id.slice(0, 12)}`), hosts);
    // host-gateway: the default bridge's address on the host, as dockerd's default host-gateway-ip.
    const gateway = a.inspect.NetworkSettings.Networks.bridge.Gateway as string;
    assert.match(gateway, /^\d+\.\d+\.\d+\.\d+$/);
    assert.ok(hosts.includes(`${gateway}\thost.docker.internal\n`), hosts);
    assert.doesNotMatch(inNs(a.pid, ["cat", "/etc/resolv.conf"]).out, /nameserver 127\./);
    for (const c of [a, b]) assert.equal((await d.request("DELETE", `/containers/${c.id}?force=1`, { timeoutMs: 20_000 })).status, 204);
  });

  test("user network: containers resolve and ping each other by name and alias; --ip; rm frees the address", async () => {
    const res = await d.request("POST", "/networks/create", { body: { Name: `un-${tag}`, IPAM: { Config: [{ Subnet: subnet }] } } });
    assert.equal(res.status, 201, res.body);
    bridges.add(`br-${res.json().Id.slice(0, 12)}`);
    const fixed = subnet.replace(/0\/24$/, "44");
    const srv = await run(
      { HostConfig: { NetworkMode: `un-${tag}` }, NetworkingConfig: { EndpointsConfig: { [`un-${tag}`]: { Aliases: ["db"], IPAMConfig: { IPv4Address: fixed } } } } },
      `srv-${tag}`,
    );
    const cli = await run({ HostConfig: { NetworkMode: `un-${tag}` } }, `cli-${tag}`);
    assert.equal(srv.inspect.NetworkSettings.Networks[`un-${tag}`].IPAddress, fixed);
    assert.match(inNs(cli.pid, ["cat", "/etc/resolv.conf"]).out, new RegExp(`nameserver ${subnet.replace(/0\/24$/, "1").replace(/\./g, "\\.")}`));
    for (const name of [`srv-${tag}`, "db"]) {
      const r = inNs(cli.pid, ["ping", "-c1", "-W2", name]);
      assert.equal(r.status, 0, r.out);
      assert.ok(r.out.includes(fixed), r.out);
    }
    // Another network's containers do not see these names.
    const other = await run({});
    assert.notEqual(inNs(other.pid, ["ping", "-c1", "-W1", `srv-${tag}`]).status, 0);
    // Removal is refused while they run, then works.
    assert.equal((await d.request("DELETE", `/networks/un-${tag}`)).status, 403);
    for (const c of [srv, cli, other]) assert.equal((await d.request("DELETE", `/containers/${c.id}?force=1`, { timeoutMs: 20_000 })).status, 204);
    const again = await run({ HostConfig: { NetworkMode: `un-${tag}` }, NetworkingConfig: { EndpointsConfig: { [`un-${tag}`]: { IPAMConfig: { IPv4Address: fixed } } } } });
    assert.equal(again.inspect.NetworkSettings.Networks[`un-${tag}`].IPAddress, fixed, "the address came back to the pool");
    assert.equal((await d.request("DELETE", `/containers/${again.id}?force=1`, { timeoutMs: 20_000 })).status, 204);
    assert.equal((await d.request("DELETE", `/networks/un-${tag}`)).status, 204);
  });

  test("a busybox httpd published on 127.0.0.1 answers curl from the host; docker port; rules go with the container", async () => {
    const port = await freePort();
    const web = await run({
      Cmd: ["sh", "-c", "mkdir -p /www && echo hello-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"],
      ExposedPorts: { "80/tcp": {} },
      HostConfig: { PortBindings: { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(port) }] } },
    });
    assert.deepEqual(web.inspect.NetworkSettings.Ports, { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(port) }] });
    let body = "";
    for (let i = 0; i < 50 && !body; i++) {
      body = spawnSync("curl", ["-sS", "-m", "2", `http://127.0.0.1:${port}/index.html`], { encoding: "utf8" }).stdout;
      if (!body) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(body, `hello-${web.id.slice(0, 12)}\n`);
    if (existsSync(DOCKER)) {
      const p = spawnSync(DOCKER, ["port", web.id], { encoding: "utf8", env: { ...process.env, DOCKER_HOST: d.host } });
      assert.equal(p.stdout, `80/tcp -> 127.0.0.1:${port}\n`, p.stderr);
    }
    assert.equal((await d.request("DELETE", `/containers/${web.id}?force=1`, { timeoutMs: 20_000 })).status, 204);
    for (let i = 0; i < 50 && spawnSync("iptables-save", [], { encoding: "utf8" }).stdout.includes(web.id); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!spawnSync("iptables-save", [], { encoding: "utf8" }).stdout.includes(web.id), "DNAT rules removed");
  });

  test("-P publishes EXPOSEd ports on random host ports that answer from the host", async () => {
    const web = await run({
      Cmd: ["sh", "-c", "mkdir -p /www && echo random-port > /www/index.html && exec httpd -f -p 80 -h /www"],
      ExposedPorts: { "80/tcp": {} },
      HostConfig: { PublishAllPorts: true },
    });
    const binding = web.inspect.NetworkSettings.Ports["80/tcp"] as { HostIp: string; HostPort: string }[];
    assert.equal(binding.length, 1, JSON.stringify(web.inspect.NetworkSettings.Ports));
    assert.equal(binding[0]!.HostIp, "0.0.0.0");
    let body = "";
    for (let i = 0; i < 50 && !body; i++) {
      body = spawnSync("curl", ["-sS", "-m", "2", `http://127.0.0.1:${binding[0]!.HostPort}/index.html`], { encoding: "utf8" }).stdout;
      if (!body) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(body, "random-port\n");
    assert.equal((await d.request("DELETE", `/containers/${web.id}?force=1`, { timeoutMs: 20_000 })).status, 204);
  });

  test("--network none has only lo; host sees the host's interfaces; container: shares an address", async () => {
    const none = await run({ HostConfig: { NetworkMode: "none" } });
    const links = inNs(none.pid, ["ip", "-o", "link"]).out.trim().split("\n");
    assert.equal(links.length, 1, links.join("\n"));
    assert.match(links[0]!, /lo: <LOOPBACK,UP/);
    const host = await run({ HostConfig: { NetworkMode: "host" } });
    const hostLinks = inNs(host.pid, ["ip", "-o", "link"]).out;
    for (const l of listLinks().slice(0, 3)) assert.ok(hostLinks.includes(`${l.name}:`) || hostLinks.includes(`${l.name}@`), hostLinks);
    const main = await run({});
    const joined = await run({ HostConfig: { NetworkMode: `container:${main.id}` } });
    const ip = main.inspect.NetworkSettings.Networks.bridge.IPAddress as string;
    assert.ok(inNs(joined.pid, ["ip", "-4", "-o", "addr"]).out.includes(`inet ${ip}/`));
    for (const c of [none, host, joined, main]) assert.equal((await d.request("DELETE", `/containers/${c.id}?force=1`, { timeoutMs: 20_000 })).status, 204);
  });

  test("the stock docker CLI: run --network, --network-alias, --ip", { skip: existsSync(DOCKER) ? false : "no docker CLI" }, () => {
    const env = { ...process.env, DOCKER_HOST: d.host };
    const docker = (args: string[]) => spawnSync(DOCKER, args, { encoding: "utf8", env, timeout: 60_000 });
    const s = freeSubnet();
    const c = docker(["network", "create", "--subnet", s, `dn-${tag}`]);
    assert.equal(c.status, 0, c.stderr);
    bridges.add(`br-${c.stdout.trim().slice(0, 12)}`);
    const bg = docker(["run", "-d", "--name", `dsrv-${tag}`, "--network", `dn-${tag}`, "--network-alias", "api", "--ip", s.replace(/0\/24$/, "9"), "busybox", "sleep", "3600"]);
    assert.equal(bg.status, 0, bg.stderr);
    const r = docker(["run", "--rm", "--network", `dn-${tag}`, "busybox", "ping", "-c1", "-W2", "api"]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(r.stdout.includes(s.replace(/0\/24$/, "9")), r.stdout);
    assert.equal(docker(["rm", "-f", `dsrv-${tag}`]).status, 0);
    assert.equal(docker(["network", "rm", `dn-${tag}`]).status, 0);
  });

  test("network connect of a created container is joined at start; it stays across stop and start; disconnect forgets it", async () => {
    const sub = freeSubnet();
    const res = await d.request("POST", "/networks/create", { body: { Name: `cn-${tag}`, IPAM: { Config: [{ Subnet: sub }] } } });
    assert.equal(res.status, 201, res.body);
    bridges.add(`br-${res.json().Id.slice(0, 12)}`);
    const created = await d.request("POST", `/containers/create?name=late-${tag}`, { body: { Image: "busybox", Cmd: ["sleep", "3600"] } });
    const id = created.json().Id as string;
    const conn = await d.request("POST", `/networks/cn-${tag}/connect`, { body: { Container: id, EndpointConfig: { Aliases: ["late"] } } });
    assert.equal(conn.status, 200, conn.body);
    assert.equal((await d.request("POST", `/networks/cn-${tag}/connect`, { body: { Container: id } })).status, 403, "already connected");
    const before = (await d.request("GET", `/containers/${id}/json`)).json();
    assert.deepEqual(Object.keys(before.NetworkSettings.Networks).sort(), ["bridge", `cn-${tag}`]);
    assert.deepEqual(before.NetworkSettings.Networks[`cn-${tag}`].Aliases, ["late"]);
    for (let round = 0; round < 2; round++) {
      assert.equal((await d.request("POST", `/containers/${id}/start`, { timeoutMs: 30_000 })).status, 204);
      const ins = (await d.request("GET", `/containers/${id}/json`)).json();
      const ip = ins.NetworkSettings.Networks[`cn-${tag}`].IPAddress as string;
      assert.ok(ip.startsWith(sub.replace(/0\/24$/, "")), JSON.stringify(ins.NetworkSettings.Networks));
      assert.ok(ins.NetworkSettings.Networks.bridge.IPAddress);
      const addrs = inNs(ins.State.Pid, ["ip", "-4", "-o", "addr"]).out;
      assert.ok(addrs.includes(`inet ${ip}/24`), addrs);
      const peer = await run({ HostConfig: { NetworkMode: `cn-${tag}` } });
      const ping = inNs(peer.pid, ["ping", "-c1", "-W2", "late"]);
      assert.equal(ping.status, 0, ping.out);
      assert.equal((await d.request("DELETE", `/containers/${peer.id}?force=1`, { timeoutMs: 20_000 })).status, 204);
      assert.equal((await d.request("POST", `/containers/${id}/stop?t=0`, { timeoutMs: 30_000 })).status, 204);
    }
    assert.equal((await d.request("POST", `/networks/cn-${tag}/disconnect`, { body: { Container: id } })).status, 200);
    assert.deepEqual(Object.keys((await d.request("GET", `/containers/${id}/json`)).json().NetworkSettings.Networks), ["bridge"]);
    assert.equal((await d.request("DELETE", `/containers/${id}?force=1`, { timeoutMs: 20_000 })).status, 204);
    assert.equal((await d.request("DELETE", `/networks/cn-${tag}`)).status, 204);
  });

  test("disconnect from the network NetworkMode names, then connect again (docker-compose 1 does it before every start)", async () => {
    const sub = freeSubnet();
    const res = await d.request("POST", "/networks/create", { body: { Name: `mn-${tag}`, IPAM: { Config: [{ Subnet: sub }] } } });
    assert.equal(res.status, 201, res.body);
    bridges.add(`br-${res.json().Id.slice(0, 12)}`);
    const created = await d.request("POST", `/containers/create?name=mode-${tag}`, {
      body: { Image: "busybox", Cmd: ["sleep", "3600"], HostConfig: { NetworkMode: `mn-${tag}` }, NetworkingConfig: { EndpointsConfig: { [`mn-${tag}`]: { Aliases: ["svc"] } } } },
    });
    const id = created.json().Id as string;
    const networksOf = async () => (await d.request("GET", `/containers/${id}/json`)).json().NetworkSettings.Networks as Record<string, { IPAddress: string; Aliases: string[] | null }>;
    const disconnect = () => d.request("POST", `/networks/mn-${tag}/disconnect`, { body: { Container: id } });

    assert.equal((await disconnect()).status, 200);
    assert.deepEqual(await networksOf(), {});
    assert.equal((await disconnect()).status, 403, "not connected any more");
    // Off every network it starts with lo only.
    assert.equal((await d.request("POST", `/containers/${id}/start`, { timeoutMs: 30_000 })).status, 204);
    let pid = (await d.request("GET", `/containers/${id}/json`)).json().State.Pid as number;
    assert.doesNotMatch(inNs(pid, ["ip", "-4", "-o", "addr"]).out, /eth0/);
    assert.match(inNs(pid, ["ip", "-o", "link", "show", "lo"]).out, /UP/);
    assert.equal((await d.request("POST", `/containers/${id}/stop?t=0`, { timeoutMs: 30_000 })).status, 204);

    const conn = await d.request("POST", `/networks/mn-${tag}/connect`, { body: { Container: id, EndpointConfig: { Aliases: ["svc", "again"] } } });
    assert.equal(conn.status, 200, conn.body);
    assert.equal((await d.request("POST", `/networks/mn-${tag}/connect`, { body: { Container: id } })).status, 403, "connected again");
    assert.equal((await d.request("POST", `/containers/${id}/start`, { timeoutMs: 30_000 })).status, 204);
    const live = await networksOf();
    assert.deepEqual(Object.keys(live), [`mn-${tag}`]);
    assert.deepEqual(live[`mn-${tag}`]!.Aliases, ["svc", "again", id.slice(0, 12)]);
    pid = (await d.request("GET", `/containers/${id}/json`)).json().State.Pid as number;
    assert.ok(inNs(pid, ["ip", "-4", "-o", "addr"]).out.includes(`inet ${live[`mn-${tag}`]!.IPAddress}/24`));
    const peer = await run({ HostConfig: { NetworkMode: `mn-${tag}` } });
    assert.equal(inNs(peer.pid, ["ping", "-c1", "-W2", "again"]).status, 0);
    assert.equal((await d.request("DELETE", `/containers/${peer.id}?force=1`, { timeoutMs: 20_000 })).status, 204);

    // A running container taken off it does not get it back at its next start.
    assert.equal((await disconnect()).status, 200);
    assert.equal((await d.request("POST", `/containers/${id}/restart?t=0`, { timeoutMs: 30_000 })).status, 204);
    assert.deepEqual(await networksOf(), {});
    assert.equal((await d.request("DELETE", `/containers/${id}?force=1`, { timeoutMs: 20_000 })).status, 204);
    assert.equal((await d.request("DELETE", `/networks/mn-${tag}`)).status, 204);
  });

  test("after a daemon restart (containers kept running) ports still answer, names still resolve, addresses are not handed out twice", async () => {
    const sub = freeSubnet();
    const res = await d.request("POST", "/networks/create", { body: { Name: `rs-${tag}`, IPAM: { Config: [{ Subnet: sub }] } } });
    assert.equal(res.status, 201, res.body);
    bridges.add(`br-${res.json().Id.slice(0, 12)}`);
    const port = await freePort();
    const web = await run(
      {
        Cmd: ["sh", "-c", "mkdir -p /www && echo restart-ok > /www/index.html && exec httpd -f -p 80 -h /www"],
        ExposedPorts: { "80/tcp": {} },
        HostConfig: { NetworkMode: `rs-${tag}`, PortBindings: { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(port) }] } },
      },
      `rweb-${tag}`,
    );
    const ps = (await d.request("GET", "/containers/json")).json<{ Id: string; Ports: unknown[] }[]>().find((c) => c.Id === web.id)!;
    assert.deepEqual(ps.Ports, [{ IP: "127.0.0.1", PrivatePort: 80, PublicPort: port, Type: "tcp" }]);
    const ipBefore = web.inspect.NetworkSettings.Networks[`rs-${tag}`].IPAddress as string;

    await d.kill();
    d = await startNetworkDaemon({ defaultBridge, prefix, execRoot, dir: d.dir });

    const after = (await d.request("GET", `/containers/${web.id}/json`)).json();
    assert.equal(after.State.Running, true);
    assert.equal(after.NetworkSettings.Networks[`rs-${tag}`].IPAddress, ipBefore);
    assert.deepEqual(after.NetworkSettings.Ports, { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(port) }] });
    const body = spawnSync("curl", ["-sS", "-m", "2", `http://127.0.0.1:${port}/index.html`], { encoding: "utf8" }).stdout;
    assert.equal(body, "restart-ok\n");
    const peer = await run({ HostConfig: { NetworkMode: `rs-${tag}` } });
    assert.notEqual(peer.inspect.NetworkSettings.Networks[`rs-${tag}`].IPAddress, ipBefore);
    const ping = inNs(peer.pid, ["ping", "-c1", "-W2", `rweb-${tag}`]);
    assert.equal(ping.status, 0, ping.out);
    // The port is still held: another container cannot take it.
    const clash = await d.request("POST", "/containers/create", { body: { Image: "busybox", Cmd: ["sleep", "5"], HostConfig: { PortBindings: { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(port) }] } } } });
    const clashStart = await d.request("POST", `/containers/${clash.json().Id}/start`, { timeoutMs: 30_000 });
    assert.equal(clashStart.status, 500, clashStart.body);
    assert.match(clashStart.json().message, /port is already allocated/);
    for (const id of [web.id, peer.id, clash.json().Id]) assert.equal((await d.request("DELETE", `/containers/${id}?force=1`, { timeoutMs: 20_000 })).status, 204);
    assert.equal((await d.request("DELETE", `/networks/rs-${tag}`)).status, 204);
  });

  test("hako run --network --network-alias --ip -p, hako port, hako ps", async () => {
    const hako = (args: string[]) => spawnSync(HAKO_BIN, ["-H", d.host, ...args], { encoding: "utf8", timeout: 60_000 });
    const sub = freeSubnet();
    const c = hako(["network", "create", "--subnet", sub, `hk-${tag}`]);
    assert.equal(c.status, 0, c.stderr);
    bridges.add(`br-${c.stdout.trim().slice(0, 12)}`);
    const port = await freePort();
    const bg = hako(["run", "-d", "--name", `hsrv-${tag}`, "--network", `hk-${tag}`, "--network-alias", "svc", "--ip", sub.replace(/0\/24$/, "5"), "-p", `127.0.0.1:${port}:80`, "busybox", "sleep", "3600"]);
    assert.equal(bg.status, 0, bg.stderr);
    assert.equal(hako(["port", `hsrv-${tag}`]).stdout, `80/tcp -> 127.0.0.1:${port}\n`);
    assert.match(hako(["ps", "--format", "{{.Ports}}", "--filter", `name=hsrv-${tag}`]).stdout, new RegExp(`127\\.0\\.0\\.1:${port}->80/tcp`));
    const r = hako(["run", "--rm", "--network", `hk-${tag}`, "busybox", "ping", "-c1", "-W2", "svc"]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(r.stdout.includes(sub.replace(/0\/24$/, "5")), r.stdout);
    assert.equal(hako(["rm", "-f", `hsrv-${tag}`]).status, 0);
    assert.equal(hako(["network", "rm", `hk-${tag}`]).status, 0);
  });

  test("udp and a host-port range: a udp echo answers through 127.0.0.1, the port comes from the range, another container reaches it through the gateway", async () => {
    const lo = await freePort();
    const range = `${lo}-${lo + 2}`;
    // busybox's nc has no udp here: the echo server is the host's python3 inside the container's network namespace.
    const echo = await run({ HostConfig: { PortBindings: { "53530/udp": [{ HostIp: "127.0.0.1", HostPort: range }] } } });
    const server = spawn("nsenter", ["-t", String(echo.pid), "-n", "python3", "-c", `
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("0.0.0.0",53530))
while True:
    d,a=s.recvfrom(100); s.sendto(d,a)`], { stdio: "ignore" });
    try {
      const bound = echo.inspect.NetworkSettings.Ports["53530/udp"] as { HostIp: string; HostPort: string }[];
      assert.equal(bound.length, 1, JSON.stringify(echo.inspect.NetworkSettings.Ports));
      const hostPort = Number(bound[0]!.HostPort);
      assert.ok(hostPort >= lo && hostPort <= lo + 2, `${hostPort} in ${range}`);
      await new Promise((r) => setTimeout(r, 300));
      const reply = spawnSync("python3", ["-c", `
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(b"ping-udp",("127.0.0.1",${hostPort}))
print(s.recvfrom(100)[0].decode())`], { encoding: "utf8", timeout: 10_000 });
      assert.equal(reply.stdout.trim(), "ping-udp", reply.stderr);
    } finally {
      server.kill("SIGKILL");
    }
    // A tcp service published on the host is reached from another container through its gateway (the bridge address).
    const port = await freePort();
    const web = await run({
      Cmd: ["sh", "-c", "mkdir -p /www && echo from-range > /www/index.html && exec httpd -f -p 80 -h /www"],
      HostConfig: { PortBindings: { "80/tcp": [{ HostPort: String(port) }] } },
    });
    const client = await run({});
    const gateway = client.inspect.NetworkSettings.Networks.bridge.Gateway as string;
    let got = "";
    for (let i = 0; i < 20 && !got.includes("from-range"); i++) {
      got = spawnSync("sh", ["-c", `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nsenter -t ${client.pid} -n -m nc -w 2 ${gateway} ${port}`], { encoding: "utf8" }).stdout;
      if (!got.includes("from-range")) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(got, /from-range/);
    for (const c of [echo, web, client]) assert.equal((await d.request("DELETE", `/containers/${c.id}?force=1`, { timeoutMs: 20_000 })).status, 204);
  });

  test("nothing is left: no endpoint, no veth on the test's bridges, no DNAT", async () => {
    const nets = (await d.request("GET", "/networks")).json<{ Name: string; Containers: object }[]>();
    assert.deepEqual(nets.map((n) => n.Name).sort(), ["bridge", "host", "none"]);
    for (const n of nets) assert.deepEqual(n.Containers, {});
    for (let i = 0; i < 50 && listLinks().some((l) => l.master === defaultBridge); i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(listLinks().filter((l) => l.master === defaultBridge), []);
    assert.deepEqual(await new Netfilter({ prefix }).listRules().then((rules) => rules.filter((r) => r.includes("-j DNAT"))), []);
  });
});
