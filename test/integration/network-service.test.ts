/**
 * NetworkService on the real kernel: the predefined networks, create with
 * Docker's validations, filters, endpoints of "containers" (network
 * namespaces of `unshare --net sleep` children, killed by pid) pinging each
 * other, names resolved by the embedded DNS on a user network, a published
 * port answering curl, release of a stopped container, reconcile by a new
 * service on the same data root, and at the end no link, rule or chain of
 * the test left. The default bridge and the chains carry test names, so a
 * hakod on this machine never meets them. Traffic only to 127.0.0.1 and the
 * namespaces made here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { DnsResolver } from "../../src/network/dns.ts";
import { Netfilter } from "../../src/network/netfilter.ts";
import { linkExists, listLinks } from "../../src/network/netlink.ts";
import { NetworkService } from "../../src/network/service.ts";
import { attachContainer, checkConnect, checkNetworkMode, containerNetworkSettings, portBindingsOf } from "../../src/network/container-network.ts";
import { queryA } from "../helpers/dns.ts";
import { freePort, freeSubnet, NetnsHolders, networkSkipReason, nsExec, ruleLinesMentioning } from "../helpers/netns.ts";

const tag = randomBytes(3).toString("hex");
const prefix = `HKS${tag.toUpperCase()}`;
const defaultBridge = `hks${tag}`;
const netns = new NetnsHolders();

const skipReason = networkSkipReason("bridges, namespaces, iptables", ["unshare", "nsenter", "iptables-save", "iptables-restore", "busybox", "curl"]);

describe("NetworkService on the real kernel", { skip: skipReason }, () => {
  let dataRoot = "";
  let www = "";
  let svc: NetworkService;
  const dns = new DnsResolver({ upstreams: () => [] });
  const netfilter = new Netfilter({ prefix });
  const subnet = freeSubnet();
  const base = subnet.replace(/\.0\/24$/, "");
  let userId = "";
  const bridgesMade = new Set<string>([defaultBridge]);

  before(() => {
    dataRoot = mkdtempSync(path.join(os.tmpdir(), "hako-netsvc-"));
    www = path.join(dataRoot, "www");
    spawnSync("mkdir", ["-p", www]);
    writeFileSync(path.join(www, "index.html"), `hello ${tag}\n`);
    svc = new NetworkService({ dataRoot, defaultBridge, netfilter, observer: dns });
  });

  after(async () => {
    netns.cleanup();
    await dns.close();
    for (const br of bridgesMade) spawnSync("ip", ["link", "del", br], { stdio: "ignore" });
    await netfilter.teardown().catch(() => {});
    if (dataRoot) rmSync(dataRoot, { recursive: true, force: true });
  });

  test("bridge, host and none exist, are builtin, and cannot be removed or re-created", async () => {
    const names = svc.list().map((n) => n.Name);
    assert.deepEqual(names.sort(), ["bridge", "host", "none"]);
    const bridge = svc.inspect("bridge");
    assert.match(bridge.Id, /^[0-9a-f]{64}$/);
    assert.equal(bridge.Driver, "bridge");
    assert.equal(bridge.Scope, "local");
    assert.equal(bridge.Options["com.docker.network.bridge.name"], defaultBridge);
    assert.equal(bridge.IPAM.Config.length, 1);
    assert.equal(svc.inspect("none").Driver, "null");
    assert.equal(svc.inspect(bridge.Id.slice(0, 6)).Name, "bridge");
    assert.ok(!linkExists(defaultBridge), "the default bridge is made on first use");
    await assert.rejects(svc.remove("bridge"), (e: Error & { code?: string }) => e.code === "ERR_FORBIDDEN" && e.message === "bridge is a pre-defined network and cannot be removed");
    await assert.rejects(svc.remove("host"), /host is a pre-defined network and cannot be removed/);
    await assert.rejects(svc.create({ Name: "none" }), (e: Error & { code?: string }) => e.code === "ERR_FORBIDDEN");
    await assert.rejects(svc.create({ Name: "x", Driver: "host" }), /only one instance of "host" network is allowed/);
    await assert.rejects(svc.create({ Name: "x", Driver: "overlay" }), (e: Error & { code?: string }) => e.code === "ERR_NOT_FOUND");
    assert.throws(() => svc.inspect("nope"), (e: Error & { code?: string }) => e.code === "ERR_NOT_FOUND" && /network nope not found/.test(e.message));
  });

  test("create: Docker's shape, subnet/gateway/ip-range/labels/internal, conflicts and bad input refused", async () => {
    const res = await svc.create({
      Name: `net-${tag}`,
      IPAM: { Config: [{ Subnet: subnet, Gateway: `${base}.254`, IPRange: `${base}.128/25` }] },
      Labels: { team: "a" },
    });
    userId = res.Id;
    assert.match(res.Id, /^[0-9a-f]{64}$/);
    assert.equal(res.Warning, "");
    const n = svc.inspect(`net-${tag}`);
    bridgesMade.add(n.Options["com.docker.network.bridge.name"] ?? `br-${n.Id.slice(0, 12)}`);
    bridgesMade.add(`br-${n.Id.slice(0, 12)}`);
    assert.deepEqual(n.IPAM, { Driver: "default", Options: {}, Config: [{ Subnet: subnet, IPRange: `${base}.128/25`, Gateway: `${base}.254` }] });
    assert.deepEqual(n.Labels, { team: "a" });
    assert.equal(n.Internal, false);
    assert.deepEqual(n.Containers, {});
    assert.ok(linkExists(`br-${n.Id.slice(0, 12)}`), "the bridge is made at create");

    await assert.rejects(svc.create({ Name: `net-${tag}` }), (e: Error & { code?: string }) => e.code === "ERR_CONFLICT" && /already exists/.test(e.message));
    await assert.rejects(svc.create({ Name: `ov-${tag}`, IPAM: { Config: [{ Subnet: `${base}.0/25` }] } }), (e: Error & { code?: string }) =>
      e.code === "ERR_FORBIDDEN" && /Pool overlaps/.test(e.message),
    );
    await assert.rejects(svc.create({ Name: "" }), (e: Error & { code?: string }) => e.code === "ERR_INVALID_ARGUMENT");
    await assert.rejects(svc.create({ Name: "bad name" }), (e: Error & { code?: string }) => e.code === "ERR_INVALID_ARGUMENT");
    const other = freeSubnet([subnet]);
    await assert.rejects(svc.create({ Name: `gw-${tag}`, IPAM: { Config: [{ Subnet: other, Gateway: `${base}.1` }] } }), (e: Error & { code?: string }) => e.code === "ERR_INVALID_ARGUMENT");
    await assert.rejects(svc.create({ Name: `r-${tag}`, IPAM: { Config: [{ IPRange: `${base}.0/26` }] } }), /ip-range can't be specified without a subnet/);
    assert.equal(svc.list().length, 4, "nothing half-made by refused creates");

    // Filters.
    assert.deepEqual(svc.list({ type: ["custom"] }).map((x) => x.Name), [`net-${tag}`]);
    assert.deepEqual(svc.list({ type: ["builtin"] }).map((x) => x.Name).sort(), ["bridge", "host", "none"]);
    assert.deepEqual(svc.list({ label: ["team=a"] }).map((x) => x.Name), [`net-${tag}`]);
    assert.deepEqual(svc.list({ label: ["team=b"] }), []);
    assert.deepEqual(svc.list({ driver: ["null"] }).map((x) => x.Name), ["none"]);
    assert.deepEqual(svc.list({ name: [tag] }).map((x) => x.Name), [`net-${tag}`]);
    assert.deepEqual(svc.list({ id: [userId.slice(0, 10)] }).map((x) => x.Name), [`net-${tag}`]);
    assert.deepEqual(svc.list({ dangling: ["true"] }).map((x) => x.Name), [`net-${tag}`]);
    assert.throws(() => svc.list({ type: ["x"] }), /invalid filter/);
    assert.throws(() => svc.list({ bogus: ["x"] }), /invalid filter 'bogus'/);
  });

  test("containers on a user network ping each other; DNS answers names, aliases and short ids of that network only", async () => {
    const [pidA, pidB] = await Promise.all([netns.newNetns(), netns.newNetns()]);
    const idA = `a${tag}`.padEnd(64, "0");
    const idB = `b${tag}`.padEnd(64, "0");
    const epA = await svc.connectContainer({ id: idA, name: "/alpha", pid: pidA }, `net-${tag}`, { aliases: ["web"] });
    const epB = await svc.connectContainer({ id: idB, name: "beta", pid: pidB }, userId, { ip: `${base}.10` });
    assert.equal(epB.IPAddress, `${base}.10`);
    assert.deepEqual(epB.IPAMConfig, { IPv4Address: `${base}.10` });
    assert.ok(Number(epA.IPAddress.split(".")[3]) >= 128, `automatic address ${epA.IPAddress} comes from the ip-range`);
    assert.equal(epA.Gateway, `${base}.254`);
    assert.equal(epA.IPPrefixLen, 24);
    assert.deepEqual(epA.Aliases, ["web", idA.slice(0, 12)], "API 1.44: the short id is an alias on a user network");
    assert.deepEqual(epA.DNSNames, ["alpha", "web", idA.slice(0, 12)]);
    assert.match(epA.EndpointID, /^[0-9a-f]{64}$/);
    assert.equal(svc.inspect(userId).Containers[idA]?.IPv4Address, `${epA.IPAddress}/24`);
    assert.match(nsExec(pidA, ["ip", "route", "show", "default"]).out, new RegExp(`default via ${base}\\.254 dev eth0`));

    const ping = nsExec(pidA, ["busybox", "ping", "-c1", "-W2", epB.IPAddress]);
    assert.equal(ping.status, 0, ping.out);

    assert.deepEqual(await queryA(`${base}.254`, "beta"), { rcode: 0, addresses: [`${base}.10`] });
    assert.deepEqual(await queryA(`${base}.254`, "WEB"), { rcode: 0, addresses: [epA.IPAddress] });
    // libnetwork's "name.<network>" form.
    assert.deepEqual(await queryA(`${base}.254`, `beta.net-${tag}`), { rcode: 0, addresses: [`${base}.10`] });
    assert.deepEqual(await queryA(`${base}.254`, idA.slice(0, 12)), { rcode: 0, addresses: [epA.IPAddress] });
    assert.equal((await queryA(`${base}.254`, `nobody-${tag}`)).rcode, 2, "no usable upstream: SERVFAIL");

    // Already connected: refused.
    await assert.rejects(svc.connectContainer({ id: idA, name: "alpha", pid: pidA }, userId), (e: Error & { code?: string }) => e.code === "ERR_FORBIDDEN");
    // A taken address: conflict, nothing left behind.
    const pidC = await netns.newNetns();
    await assert.rejects(svc.connectContainer({ id: `c${tag}`.padEnd(64, "0"), name: "gamma", pid: pidC }, userId, { ip: `${base}.10` }), /Address already in use/);
    assert.equal(Object.keys(svc.inspect(userId).Containers).length, 2);
    await assert.rejects(svc.connectContainer({ id: `c${tag}`.padEnd(64, "0"), name: "gamma", pid: pidC }, "bridge", { aliases: ["x"] }), /user defined networks/);

    // Removal refused while in use.
    await assert.rejects(svc.remove(userId), (e: Error & { code?: string }) =>
      e.code === "ERR_FORBIDDEN" && e.message === `error while removing network: network net-${tag} id ${userId} has active endpoints`,
    );

    // Disconnect: the interface goes, the name stops resolving.
    const vethB = listLinks().filter((l) => l.master === `br-${userId.slice(0, 12)}`).length;
    await svc.disconnectContainer(idB, `net-${tag}`);
    assert.equal(listLinks().filter((l) => l.master === `br-${userId.slice(0, 12)}`).length, vethB - 1);
    assert.notEqual(nsExec(pidB, ["ip", "link", "show", "eth0"]).status, 0);
    assert.equal((await queryA(`${base}.254`, "beta")).rcode, 2);
    await assert.rejects(svc.disconnectContainer(idB, `net-${tag}`), /is not connected/);

    // A stopped container: its namespace is gone, release gives its address and name back.
    await netns.kill(pidA);
    await svc.releaseContainer(idA);
    assert.deepEqual(svc.inspect(userId).Containers, {});
    assert.deepEqual(svc.ipam.pool(userId)?.allocated, {});
    assert.equal((await queryA(`${base}.254`, "alpha")).rcode, 2);
  });

  test("default bridge: made on first use, published port answers curl on 127.0.0.1, names not resolved", async () => {
    const pid = await netns.newNetns();
    const id = `d${tag}`.padEnd(64, "0");
    const ep = await svc.connectContainer({ id, name: "web", pid }, "bridge");
    assert.ok(linkExists(defaultBridge));
    assert.equal(ep.DNSNames, null);
    const httpd = netns.inNetns(pid, ["busybox", "httpd", "-f", "-p", "80", "-h", www]);
    const hostPort = await freePort();
    const ports = await svc.publishPorts(id, { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(hostPort) }], "81/tcp": null });
    assert.deepEqual(ports, { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(hostPort) }], "81/tcp": null });
    assert.deepEqual(svc.publishedPorts(id), ports);
    let body = "";
    for (let i = 0; i < 50 && body === ""; i++) {
      body = spawnSync("curl", ["-sS", "-m", "2", `http://127.0.0.1:${hostPort}/index.html`], { encoding: "utf8" }).stdout;
      if (!body) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(body, `hello ${tag}\n`);
    // A container without a bridge address (none, host) publishes nothing: the ports are listed unbound, as Docker does.
    assert.deepEqual(await svc.publishPorts(`e${tag}`.padEnd(64, "0"), { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(hostPort) }] }), { "80/tcp": null });
    assert.equal((await netfilter.listRules(`ctr:${id}`)).length, 1);

    // A restarted hakod (a new service on the same data root) with the container still running keeps it;
    await svc.releaseContainer(`nobody${tag}`);
    const restarted = new NetworkService({ dataRoot, defaultBridge, netfilter });
    await restarted.reconcile([{ id, pid }]);
    assert.equal(Object.keys(restarted.inspect("bridge").Containers).length, 1);
    // and one that sees it gone removes its endpoint, address, rules and veth.
    await netns.kill(httpd.pid!);
    await netns.kill(pid);
    const again = new NetworkService({ dataRoot, defaultBridge, netfilter });
    await again.reconcile([]);
    assert.deepEqual(again.inspect("bridge").Containers, {});
    assert.deepEqual(await netfilter.listRules(`ctr:${id}`), []);
    assert.deepEqual(again.ipam.pool(again.inspect("bridge").Id)?.allocated, {});
    assert.deepEqual(listLinks().filter((l) => l.master === defaultBridge), []);
    svc = again;
  });

  test("a bridge the user made stays when the network on it goes; one hako made goes", async () => {
    const own = `hkown${tag}`;
    bridgesMade.add(own);
    assert.equal(spawnSync("ip", ["link", "add", own, "type", "bridge"]).status, 0);
    const sub = freeSubnet();
    const res = await svc.create({ Name: `own-${tag}`, Options: { "com.docker.network.bridge.name": own }, IPAM: { Config: [{ Subnet: sub }] } });
    await svc.remove(res.Id);
    assert.ok(linkExists(own), "the user's bridge is left alone");
    spawnSync("ip", ["link", "del", own]);
    const made = await svc.create({ Name: `made-${tag}`, Options: { "com.docker.network.bridge.name": own }, IPAM: { Config: [{ Subnet: sub }] } });
    assert.ok(linkExists(own));
    await svc.remove(made.Id);
    assert.ok(!linkExists(own), "a bridge hako made goes with its network");
  });

  test("--ip only on a network whose subnet was given at create", async () => {
    const auto = await svc.create({ Name: `auto-${tag}` });
    bridgesMade.add(`br-${auto.Id.slice(0, 12)}`);
    const ip = (svc.inspect(auto.Id).IPAM.Config?.[0]?.Subnet ?? "").replace(/\.0\/\d+$/, ".9");
    const refusal = /user specified IP address is supported only when connecting to networks with user configured subnets/;
    assert.throws(() => checkNetworkMode(svc, `auto-${tag}`, { EndpointsConfig: { [`auto-${tag}`]: { IPAMConfig: { IPv4Address: ip } } } }), refusal);
    assert.throws(() => checkConnect(svc, { name: "/c", networkMode: "default" }, `auto-${tag}`, { IPAMConfig: { IPv4Address: ip } }), refusal);
    assert.equal(checkNetworkMode(svc, `auto-${tag}`, { EndpointsConfig: { [`auto-${tag}`]: { Aliases: ["a"] } } }), `auto-${tag}`);
    await svc.remove(auto.Id);
  });

  test("--aux-address: shown in IPAM.Config and held back; outside the subnet or without one refused", async () => {
    const sub = freeSubnet();
    const b = sub.replace(/\.0\/24$/, "");
    const res = await svc.create({ Name: `aux-${tag}`, IPAM: { Config: [{ Subnet: sub, AuxiliaryAddresses: { router: `${b}.2` } }] } });
    bridgesMade.add(`br-${res.Id.slice(0, 12)}`);
    assert.deepEqual(svc.inspect(res.Id).IPAM.Config, [{ Subnet: sub, Gateway: `${b}.1`, AuxiliaryAddresses: { router: `${b}.2` } }]);
    await svc.remove(res.Id);
    await assert.rejects(svc.create({ Name: `aux2-${tag}`, IPAM: { Config: [{ Subnet: sub, AuxiliaryAddresses: { x: "10.255.255.1" } }] } }), /not in network/);
    await assert.rejects(svc.create({ Name: `aux3-${tag}`, IPAM: { Config: [{ AuxiliaryAddresses: { x: `${b}.2` } }] } }), /aux-address can't be specified without a subnet/);
    assert.ok(!svc.list().some((n) => n.Name.startsWith("aux")), "nothing left of the refused ones");
  });

  test("prune removes unused user networks; rm and teardown leave nothing", async () => {
    const pruned = await svc.prune({ label: ["team=a"] });
    assert.deepEqual(pruned.NetworksDeleted, [`net-${tag}`]);
    assert.ok(!linkExists(`br-${userId.slice(0, 12)}`));
    const r = await svc.create({ Name: `int-${tag}`, Internal: true, IPAM: { Config: [{ Subnet: freeSubnet([subnet]) }] } });
    bridgesMade.add(`br-${r.Id.slice(0, 12)}`);
    assert.equal(svc.inspect(r.Id).Internal, true);
    assert.ok((await netfilter.listRules(`net:${r.Id.slice(0, 12)}`)).some((l) => l.endsWith("-j DROP")));
    // A container that died without anyone releasing it does not hold the network.
    const ghost = await netns.newNetns();
    await svc.connectContainer({ id: `g${tag}`.padEnd(64, "0"), name: "ghost", pid: ghost }, r.Id);
    assert.equal(Object.keys(svc.inspect(r.Id).Containers).length, 1);
    await netns.kill(ghost);
    assert.deepEqual(svc.inspect(r.Id).Containers, {});
    await svc.remove(`int-${tag}`);
    assert.ok(!linkExists(`br-${r.Id.slice(0, 12)}`));
    assert.deepEqual(svc.list().map((n) => n.Name).sort(), ["bridge", "host", "none"]);
    spawnSync("ip", ["link", "del", defaultBridge], { stdio: "ignore" });
    await netfilter.teardown();
    assert.deepEqual(ruleLinesMentioning([prefix, subnet]), []);
    assert.deepEqual(listLinks().filter((l) => [...bridgesMade].includes(l.name)), []);
  });
});

describe("the engine's side: modes, attach at start, hosts and resolv.conf, inspect", { skip: skipReason }, () => {
  const t2 = randomBytes(3).toString("hex");
  const prefix2 = `HKC${t2.toUpperCase()}`;
  const bridge2 = `hkc${t2}`;
  const netfilter2 = new Netfilter({ prefix: prefix2 });
  const dns2 = new DnsResolver({ upstreams: () => [] });
  let dir = "";
  let svc: NetworkService;
  const made = new Set<string>([bridge2]);

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "hako-netctr-"));
    svc = new NetworkService({ dataRoot: dir, defaultBridge: bridge2, netfilter: netfilter2, observer: dns2 });
  });

  after(async () => {
    netns.cleanup();
    await dns2.close();
    for (const br of made) spawnSync("ip", ["link", "del", br], { stdio: "ignore" });
    await netfilter2.teardown().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  function input(id: string, pid: number, mode: string, extra: object = {}) {
    return {
      id,
      name: `/${id.slice(0, 6)}`,
      pid,
      networkMode: mode,
      hostname: id.slice(0, 12),
      hostsPath: path.join(dir, `${id}.hosts`),
      resolvConfPath: path.join(dir, `${id}.resolv`),
      hostResolvConf: "nameserver 127.0.0.53\nsearch example.test\noptions edns0\n",
      ...extra,
    };
  }

  test("checkNetworkMode: Docker's refusals at create", async () => {
    assert.equal(checkNetworkMode(svc, undefined, undefined), "default");
    assert.equal(checkNetworkMode(svc, "none", undefined), "none");
    // The docker CLI names the default network "default" in EndpointsConfig.
    assert.equal(checkNetworkMode(svc, "default", { EndpointsConfig: { default: {} } }), "default");
    // A network that does not exist yet: no error at create (start says "not found"), as in moby; a bad --ip still is one.
    assert.equal(checkNetworkMode(svc, `nonet-${t2}`, { EndpointsConfig: { [`nonet-${t2}`]: { IPAMConfig: { IPv4Address: "10.1.2.3" } } } }), `nonet-${t2}`);
    assert.throws(() => checkNetworkMode(svc, `nonet-${t2}`, { EndpointsConfig: { [`nonet-${t2}`]: { IPAMConfig: { IPv4Address: "10.1.2" } } } }), /IPv4 address/);
    assert.throws(() => checkNetworkMode(svc, "bridge", { EndpointsConfig: { bridge: { IPAMConfig: { IPv4Address: "10.0.0.9" } } } }), /user defined networks only/);
    assert.throws(() => checkNetworkMode(svc, "default", { EndpointsConfig: { bridge: { Aliases: ["a"] } } }), /user defined networks/);
    assert.throws(() => checkNetworkMode(svc, "host", { EndpointsConfig: { bridge: {} } }), /conflicting options/);
    assert.deepEqual(portBindingsOf({ publishAll: true, exposedPorts: { "80/tcp": {}, "53/udp": {} }, portBindings: { "80/tcp": [{ HostIp: "", HostPort: "8080" }] } }), {
      "80/tcp": [{ HostIp: "", HostPort: "8080" }],
      "53/udp": [{ HostIp: "", HostPort: "" }],
    });
  });

  test("default bridge: eth0, hosts with its own name, the host's resolvers (loopback ones dropped); user network: the gateway as resolver", async () => {
    const sub = freeSubnet();
    const { Id } = await svc.create({ Name: `u-${t2}`, IPAM: { Config: [{ Subnet: sub }] } });
    made.add(`br-${Id.slice(0, 12)}`);
    const [p1, p2, p3] = await Promise.all([netns.newNetns(), netns.newNetns(), netns.newNetns()]);
    const id1 = `1${t2}`.padEnd(64, "0");
    const id2 = `2${t2}`.padEnd(64, "0");
    const id3 = `3${t2}`.padEnd(64, "0");
    await attachContainer(svc, input(id1, p1, "default"));
    const hosts1 = readFileSync(path.join(dir, `${id1}.hosts`), "utf8");
    const ip1 = svc.endpointsOf(id1).bridge!.IPAddress;
    assert.match(hosts1, new RegExp(`^127\\.0\\.0\\.1\\tlocalhost\\n`));
    assert.ok(hosts1.endsWith(`${ip1}\t${id1.slice(0, 12)}\n`), hosts1);
    assert.equal(readFileSync(path.join(dir, `${id1}.resolv`), "utf8"), "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch example.test\noptions edns0\n");

    await attachContainer(svc, input(id2, p2, `u-${t2}`, { networking: { EndpointsConfig: { [`u-${t2}`]: { Aliases: ["db"], IPAMConfig: { IPv4Address: sub.replace(/0\/24$/, "33") } } } } }));
    const gw = svc.gatewayOf(Id)!;
    assert.equal(readFileSync(path.join(dir, `${id2}.resolv`), "utf8"), `nameserver ${gw}\nsearch example.test\noptions edns0\n`);
    assert.equal(svc.endpointsOf(id2)[`u-${t2}`]!.IPAddress, sub.replace(/0\/24$/, "33"));
    assert.deepEqual(dns2.lookup(Id, "db"), sub.replace(/0\/24$/, "33"));

    await attachContainer(svc, input(id3, p3, "none"));
    const links = nsExec(p3, ["ip", "-o", "link"]).out.trim().split("\n");
    assert.equal(links.length, 1, links.join("\n"));
    assert.match(links[0]!, /lo: <LOOPBACK,UP/);

    const ns = containerNetworkSettings(svc, { id: id1, networkMode: "default", pid: p1, running: true });
    assert.equal(ns.SandboxKey, `/proc/${p1}/ns/net`);
    assert.equal(ns.IPAddress, ip1);
    assert.equal(ns.Networks.bridge!.IPAddress, ip1);
    assert.equal(ns.Networks.bridge!.NetworkID, svc.inspect("bridge").Id);
    const ns2 = containerNetworkSettings(svc, { id: id2, networkMode: `u-${t2}`, pid: p2, running: true });
    assert.equal(ns2.IPAddress, "", "top-level fields are the default bridge's");
    assert.deepEqual(Object.keys(ns2.Networks), [`u-${t2}`]);
    const stopped = containerNetworkSettings(svc, { id: id2, networkMode: `u-${t2}`, pid: 0, running: false });
    assert.equal(stopped.Networks[`u-${t2}`]!.IPAddress, "");
    assert.equal(stopped.SandboxKey, "");

    // A taken address fails the start and leaves nothing behind.
    const p4 = await netns.newNetns();
    const id4 = `4${t2}`.padEnd(64, "0");
    await assert.rejects(attachContainer(svc, input(id4, p4, `u-${t2}`, { networking: { EndpointsConfig: { [`u-${t2}`]: { IPAMConfig: { IPv4Address: sub.replace(/0\/24$/, "33") } } } } })), /Address already in use/);
    assert.deepEqual(svc.endpointsOf(id4), {});

    for (const id of [id1, id2, id3]) {
      for (const n of Object.keys(svc.endpointsOf(id))) await svc.disconnectContainer(id, n);
      await svc.releaseContainer(id);
    }
    await svc.remove(Id);
    spawnSync("ip", ["link", "del", bridge2], { stdio: "ignore" });
    await netfilter2.teardown();
    assert.deepEqual(ruleLinesMentioning([prefix2, sub]), []);
  });
});
