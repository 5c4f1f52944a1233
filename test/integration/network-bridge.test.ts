/**
 * The bridge driver and netfilter on the real kernel: a test bridge (unique
 * name, a 10.x subnet no host route touches), two network namespaces
 * attached and pinging each other, a busybox httpd in one of them published
 * and reached from the host through 127.0.0.1 and the bridge address and
 * from the other namespace, then everything removed: no link, no rule, no
 * chain of ours left. Netfilter chains carry a test prefix, so a hakod
 * running on this machine never sees them. Traffic goes only to 127.0.0.1
 * and to the namespaces made here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { BridgeDriver, macFromIPv4, type BridgeNetwork } from "../../src/network/bridge.ts";
import { Netfilter } from "../../src/network/netfilter.ts";
import { linkExists, listLinks } from "../../src/network/netlink.ts";
import { HostPortAllocator, resolvePortBindings } from "../../src/network/ports.ts";
import { freePort, freeSubnet, NetnsHolders, networkSkipReason, nsExec, ruleLinesMentioning } from "../helpers/netns.ts";

const tag = randomBytes(3).toString("hex");
const prefix = `HKT${tag.toUpperCase()}`;
const netns = new NetnsHolders();
const bridges = new Set<string>();
let workDir = "";

function httpGet(host: string, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: "/index.html", timeout: 2000, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`timeout reaching ${host}:${port}`)));
    req.on("error", reject);
  });
}

async function waitHttp(host: string, port: number): Promise<{ status: number; body: string }> {
  let last: unknown;
  for (let i = 0; i < 100; i++) {
    try {
      return await httpGet(host, port);
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw last;
}

describe("bridge networks on the real kernel", { skip: networkSkipReason("bridges, namespaces, iptables", ["unshare", "nsenter", "iptables-save", "iptables-restore", "busybox", "curl"]) }, () => {
  const netfilter = new Netfilter({ prefix });
  const driver = new BridgeDriver(netfilter);
  const subnet = freeSubnet();
  const base = subnet.replace(/\.0\/24$/, "");
  const network: BridgeNetwork = { name: `test-${tag}`, bridge: `hkt${tag}`, subnet, gateway: `${base}.1` };
  let pidA = 0;
  let pidB = 0;
  let vethA = "";
  let vethB = "";

  before(async () => {
    workDir = path.join(os.tmpdir(), `hako-net-${tag}`);
    mkdirSync(workDir, { recursive: true });
    writeFileSync(path.join(workDir, "index.html"), `hello from ${tag}\n`);
    bridges.add(network.bridge);
    [pidA, pidB] = await Promise.all([netns.newNetns(), netns.newNetns()]);
  });

  after(async () => {
    netns.cleanup();
    for (const br of bridges) spawnSync("ip", ["link", "del", br], { stdio: "ignore" });
    await netfilter.teardown().catch(() => {});
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  test("ensureNetwork makes the bridge, its gateway address, forwarding and rules; twice changes nothing", async () => {
    await driver.ensureNetwork(network);
    const rules = await netfilter.listRules();
    await driver.ensureNetwork(network);
    assert.deepEqual(await netfilter.listRules(), rules, "no duplicate rules");
    const br = listLinks().find((l) => l.name === network.bridge);
    assert.ok(br?.isBridge && br.up);
    const addr = spawnSync("ip", ["-4", "-br", "addr", "show", network.bridge], { encoding: "utf8" }).stdout;
    assert.match(addr, new RegExp(`${network.gateway.replace(/\./g, "\\.")}/24`));
    assert.ok(rules.some((r) => r.includes(`-s ${subnet} ! -o ${network.bridge}`) && r.endsWith("-j MASQUERADE")), rules.join("\n"));
    assert.ok(rules.some((r) => r === `-A FORWARD -j ${prefix}-FORWARD`));
    assert.equal(spawnSync("cat", [`/proc/sys/net/ipv4/conf/${network.bridge}/route_localnet`], { encoding: "utf8" }).stdout.trim(), "1");
  });

  test("attach: eth0 with address, Docker's MAC, lo up, default route; the two namespaces ping each other", async () => {
    const a = await driver.attach({ netns: pidA, bridge: network.bridge, address: `${base}.2/24`, gateway: network.gateway });
    const b = await driver.attach({ netns: `/proc/${pidB}/ns/net`, bridge: network.bridge, address: `${base}.3/24`, gateway: network.gateway });
    vethA = a.hostIfName;
    vethB = b.hostIfName;
    assert.match(vethA, /^veth[0-9a-f]{7}$/);
    assert.equal(a.mac, macFromIPv4(`${base}.2`));
    assert.equal(listLinks().find((l) => l.name === vethA)?.master, network.bridge);
    assert.equal(spawnSync("cat", [`/sys/class/net/${vethA}/brport/hairpin_mode`], { encoding: "utf8" }).stdout.trim(), "1");

    const ethA = nsExec(pidA, ["ip", "-4", "-o", "addr", "show", "eth0"]).out;
    assert.match(ethA, new RegExp(`inet ${base.replace(/\./g, "\\.")}\\.2/24`));
    assert.match(nsExec(pidA, ["ip", "link", "show", "eth0"]).out, new RegExp(`link/ether ${a.mac}`));
    assert.match(nsExec(pidA, ["ip", "route", "show", "default"]).out, new RegExp(`default via ${network.gateway} dev eth0`));
    assert.match(nsExec(pidA, ["ip", "link", "show", "lo"]).out, /UP/);

    const ab = nsExec(pidA, ["busybox", "ping", "-c1", "-W2", `${base}.3`]);
    assert.equal(ab.status, 0, ab.out);
    const ba = nsExec(pidB, ["busybox", "ping", "-c1", "-W2", `${base}.2`]);
    assert.equal(ba.status, 0, ba.out);
    const gw = nsExec(pidB, ["busybox", "ping", "-c1", "-W2", network.gateway]);
    assert.equal(gw.status, 0, gw.out);
  });

  test("a failed attach leaves no veth behind", async () => {
    const before = listLinks().filter((l) => l.name.startsWith("veth")).map((l) => l.name);
    await assert.rejects(
      driver.attach({ netns: pidA, bridge: network.bridge, address: `${base}.9/24`, gateway: network.gateway }),
      /File exists|eth0/,
    );
    await assert.rejects(driver.attach({ netns: pidA, bridge: `hkn${tag}`, address: `${base}.9/24`, ifName: "eth5" }), /No such device/);
    const now = listLinks().filter((l) => l.name.startsWith("veth")).map((l) => l.name);
    assert.deepEqual(now.sort(), before.sort());
  });

  test("a published port answers from the host on 127.0.0.1 and the bridge address, and from the other namespace", async () => {
    const hostPort = await freePort();
    netns.inNetns(pidA, ["busybox", "httpd", "-f", "-p", "80", "-h", workDir]);
    const direct = await waitHttp(`${base}.2`, 80);
    assert.equal(direct.status, 200);

    await driver.publish(`c${tag}`, [
      { proto: "tcp", hostIp: "127.0.0.1", hostPort, containerIp: `${base}.2`, containerPort: 80 },
      { proto: "tcp", hostIp: network.gateway, hostPort, containerIp: `${base}.2`, containerPort: 80 },
    ]);
    const viaLoopback = await httpGet("127.0.0.1", hostPort);
    assert.equal(viaLoopback.status, 200);
    assert.equal(viaLoopback.body, `hello from ${tag}\n`);
    const viaBridge = await httpGet(network.gateway, hostPort);
    assert.equal(viaBridge.status, 200);
    // From namespace B through the host's address on the bridge (DNAT in PREROUTING, back out the bridge).
    const fromB = nsExec(pidB, ["curl", "-sS", "-m", "2", `http://${network.gateway}:${hostPort}/index.html`]);
    assert.equal(fromB.out, `hello from ${tag}\n`);
    // Hairpin: namespace A reaching its own published port.
    const fromA = nsExec(pidA, ["curl", "-sS", "-m", "2", `http://${network.gateway}:${hostPort}/index.html`]);
    assert.equal(fromA.out, `hello from ${tag}\n`);

    // Publishing again replaces, never duplicates; unpublish removes them all in one call.
    await driver.publish(`c${tag}`, [{ proto: "tcp", hostIp: "127.0.0.1", hostPort, containerIp: `${base}.2`, containerPort: 80 }]);
    assert.equal((await netfilter.listRules(`ctr:c${tag}`)).length, 1);
    await driver.unpublish(`c${tag}`);
    assert.deepEqual(await netfilter.listRules(`ctr:c${tag}`), []);
    await assert.rejects(httpGet("127.0.0.1", hostPort), /ECONNREFUSED|timeout/);
  });

  test("bad publish requests are refused before any rule is written", async () => {
    const before = await netfilter.listRules();
    const good = { proto: "tcp" as const, hostPort: 8080, containerIp: `${base}.2`, containerPort: 80 };
    for (const bad of [
      { ...good, hostPort: 0 },
      { ...good, hostPort: 70000 },
      { ...good, containerPort: 1.5 },
      { ...good, proto: "icmp" as never },
      { ...good, containerIp: "10.0.0.256" },
      { ...good, hostIp: "127.0.0.1 -j ACCEPT" },
      { ...good, hostIp: "::1" },
    ]) {
      await assert.rejects(driver.publish(`c${tag}`, [good, bad]), (e: Error) => /invalid|not supported/.test(e.message), JSON.stringify(bad));
    }
    await assert.rejects(driver.publish("bad owner", [good]), /invalid netfilter rule owner/);
    assert.deepEqual(await netfilter.listRules(), before);
  });

  test("an internal network talks within its bridge only: no masquerade, forwarding to other bridges dropped", async () => {
    const isubnet = freeSubnet();
    const ibase = isubnet.replace(/\.0\/24$/, "");
    const internal: BridgeNetwork = { name: `internal-${tag}`, bridge: `hki${tag}`, subnet: isubnet, gateway: `${ibase}.1`, internal: true };
    bridges.add(internal.bridge);
    const [pidC, pidD] = await Promise.all([netns.newNetns(), netns.newNetns()]);
    await driver.ensureNetwork(internal);
    await driver.attach({ netns: pidC, bridge: internal.bridge, address: `${ibase}.2/24`, gateway: internal.gateway });
    await driver.attach({ netns: pidD, bridge: internal.bridge, address: `${ibase}.3/24`, gateway: internal.gateway });
    const rules = await netfilter.listRules(`net:${internal.name}`);
    assert.ok(!rules.some((r) => r.includes("MASQUERADE")), rules.join("\n"));
    assert.ok(rules.some((r) => r.includes(`-i ${internal.bridge}`) && r.endsWith("-j DROP")));

    const cd = nsExec(pidC, ["busybox", "ping", "-c1", "-W2", `${ibase}.3`]);
    assert.equal(cd.status, 0, cd.out);
    // Across bridges is forwarding: refused both ways.
    assert.notEqual(nsExec(pidC, ["busybox", "ping", "-c1", "-W1", `${base}.3`]).status, 0);
    assert.notEqual(nsExec(pidB, ["busybox", "ping", "-c1", "-W1", `${ibase}.2`]).status, 0);

    await driver.removeNetwork(internal);
    assert.ok(!linkExists(internal.bridge));
    assert.deepEqual(await netfilter.listRules(`net:${internal.name}`), []);
  });

  test("two bridge networks are isolated from each other, as Docker's", async () => {
    const osubnet = freeSubnet();
    const obase = osubnet.replace(/\.0\/24$/, "");
    const other: BridgeNetwork = { name: `other-${tag}`, bridge: `hko${tag}`, subnet: osubnet, gateway: `${obase}.1` };
    bridges.add(other.bridge);
    const pidE = await netns.newNetns();
    await driver.ensureNetwork(other);
    await driver.attach({ netns: pidE, bridge: other.bridge, address: `${obase}.2/24`, gateway: other.gateway });
    const gw = nsExec(pidE, ["busybox", "ping", "-c1", "-W2", other.gateway]);
    assert.equal(gw.status, 0, gw.out);
    assert.notEqual(nsExec(pidE, ["busybox", "ping", "-c1", "-W1", `${base}.3`]).status, 0);
    assert.notEqual(nsExec(pidB, ["busybox", "ping", "-c1", "-W1", `${obase}.2`]).status, 0);
    await driver.removeNetwork(other);
    assert.deepEqual(await netfilter.listRules(`net:${other.name}`), []);
  });

  test("concurrent attaches and publishes do not interfere; a new Netfilter (a restarted hakod) finds the rules", async () => {
    const pids = await Promise.all([0, 1, 2, 3, 4, 5].map(() => netns.newNetns()));
    const atts = await Promise.all(
      pids.map((pid, i) => driver.attach({ netns: pid, bridge: network.bridge, address: `${base}.${20 + i}/24`, gateway: network.gateway })),
    );
    assert.equal(new Set(atts.map((a) => a.hostIfName)).size, pids.length);
    for (const [i, pid] of pids.entries()) {
      assert.match(nsExec(pid, ["ip", "-4", "-o", "addr", "show", "eth0"]).out, new RegExp(`inet ${base.replace(/\./g, "\\.")}\\.${20 + i}/24`));
    }
    for (let i = 1; i < pids.length; i++) {
      const r = nsExec(pids[0]!, ["busybox", "ping", "-c1", "-W2", `${base}.${20 + i}`]);
      assert.equal(r.status, 0, r.out);
    }

    const allocator = new HostPortAllocator();
    const published = await Promise.all(
      pids.map((_pid, i) => resolvePortBindings(`p${tag}${i}`, { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] }, `${base}.${20 + i}`, allocator)),
    );
    await Promise.all(published.map((p, i) => driver.publish(`p${tag}${i}`, p.forwards)));
    const restarted = new Netfilter({ prefix });
    for (const [i, p] of published.entries()) {
      const rules = await restarted.listRules(`ctr:p${tag}${i}`);
      assert.equal(rules.length, 1, rules.join("\n"));
      assert.match(rules[0]!, new RegExp(`--dport ${p.ports["80/tcp"]![0]!.HostPort} .*--to-destination ${base.replace(/\./g, "\\.")}\\.${20 + i}:80$`));
    }
    await Promise.all(published.map((_p, i) => restarted.unpublish(`p${tag}${i}`)));
    for (let i = 0; i < pids.length; i++) assert.deepEqual(await netfilter.listRules(`ctr:p${tag}${i}`), []);

    await Promise.all(atts.map((a) => driver.detach(a.hostIfName)));
    assert.ok(atts.every((a) => !linkExists(a.hostIfName)));
  });

  test("detach, network removal and teardown leave no link, rule or chain", async () => {
    await driver.detach(vethA);
    await driver.detach(vethA); // gone already: fine
    assert.ok(!linkExists(vethA));
    assert.notEqual(nsExec(pidA, ["ip", "link", "show", "eth0"]).status, 0, "eth0 went with the host end");
    await driver.detach(vethB);
    await driver.removeNetwork(network);
    await driver.removeNetwork(network); // gone already: fine
    assert.ok(!linkExists(network.bridge));
    await netfilter.teardown();
    assert.deepEqual(ruleLinesMentioning([prefix, network.bridge, subnet]), []);
    assert.deepEqual(
      listLinks().filter((l) => l.name === network.bridge || l.name === vethA || l.name === vethB),
      [],
    );
  });
});
