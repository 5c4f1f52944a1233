/**
 * What keeps network set-up off the container's start path: the one
 * long-lived `hako-shim netlink serve` helper (batches one after another,
 * each back in the helper's own namespace, failures not carried over, a
 * helper that dies is replaced) and the netfilter state kept in memory (no
 * iptables-save per publish; a stale state is noticed and read again).
 * Real kernel; names unique to the run; everything removed at the end.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { after, describe, test } from "node:test";
import { applyRestore, Netfilter, parseSave } from "../../src/network/netfilter.ts";
import { closeNetlinkHelper, linkExists, NetlinkError, runNetlink } from "../../src/network/netlink.ts";
import { freeSubnet, NetnsHolders, networkSkipReason } from "../helpers/netns.ts";

const tag = randomBytes(3).toString("hex");
const netns = new NetnsHolders();
const links = new Set<string>();
const prefix = `HKH${tag.toUpperCase()}`;

/** Our children running `hako-shim netlink serve`. */
function serveHelpers(): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1]);
      if (ppid === process.pid && readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("netlink\0serve")) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

after(async () => {
  for (const name of links) spawnSync("ip", ["link", "del", name], { stdio: "ignore" });
  await new Netfilter({ prefix }).teardown().catch(() => {});
  closeNetlinkHelper();
  netns.cleanup();
});

describe("the netlink helper serves batches", { skip: networkSkipReason("netlink changes, network namespaces", ["unshare"]) }, () => {
  test("one process for many batches; each starts in the host's namespace; a failure is not carried over", async () => {
    const pid = await netns.newNetns();
    const br = `hkh${tag}a`;
    links.add(br);
    // A batch that ends inside the namespace...
    await runNetlink([{ op: "netns", netns: pid }, { op: "link-set", name: "lo", up: true }]);
    // ...and the next one acts on the host again.
    await runNetlink([{ op: "bridge-add", name: br }]);
    assert.ok(linkExists(br), "the bridge is on the host");
    const inside = spawnSync("nsenter", ["-t", String(pid), "-n", "ip", "-o", "link"], { encoding: "utf8" }).stdout;
    assert.ok(!inside.includes(br), "not in the namespace");

    await assert.rejects(runNetlink([{ op: "link-set", name: br, up: true }, { op: "link-set", name: `hkn${tag}`, up: true }]), (e: unknown) => {
      assert.ok(e instanceof NetlinkError);
      assert.equal(e.index, 1);
      assert.equal(e.errno, 19);
      assert.match(e.message, /hkn/);
      return true;
    });
    await runNetlink([{ op: "link-set", name: br, up: false }]);

    const many = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => runNetlink([{ op: "link-set", name: br, up: i % 2 === 0 }])));
    assert.ok(many.every((r) => r.status === "fulfilled"));
    assert.equal(serveHelpers().length, 1, "one helper process");
  });

  test("a helper that dies is replaced; a closed one is started again", async () => {
    const [first] = serveHelpers();
    assert.ok(first, "a helper runs");
    process.kill(first, "SIGKILL");
    for (let i = 0; i < 100 && serveHelpers().includes(first); i++) await new Promise((r) => setTimeout(r, 10));
    // The death may be noticed by this batch (it fails) or before it; the one after works either way.
    await runNetlink([{ op: "link-set", name: "lo", up: true }]).catch(() => {});
    await runNetlink([{ op: "link-set", name: "lo", up: true }]);
    assert.equal(serveHelpers().length, 1);
    assert.ok(!serveHelpers().includes(first));
    closeNetlinkHelper();
    for (let i = 0; i < 100 && serveHelpers().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(serveHelpers().length, 0, "closed");
    await runNetlink([{ op: "link-set", name: "lo", up: true }]);
    assert.equal(serveHelpers().length, 1);
  });
});

describe("netfilter state kept in memory", { skip: networkSkipReason("netfilter changes", ["iptables-save", "iptables-restore"]) }, () => {
  test("applyRestore keeps a saved state what iptables-save would print", () => {
    const state = parseSave("*nat\n:PREROUTING ACCEPT [0:0]\n:X - [0:0]\n-A X -p tcp -m comment --comment a -j ACCEPT\nCOMMIT\n");
    applyRestore(state, "*nat\n:Y - [0:0]\n-A Y -j ACCEPT\n-I PREROUTING 1 -j Y\n-D X -p tcp -m comment --comment a -j ACCEPT\nCOMMIT\n*filter\n:Z - [0:0]\nCOMMIT\n");
    assert.deepEqual([...state.get("nat")!.chains].sort(), ["PREROUTING", "X", "Y"]);
    assert.deepEqual(state.get("nat")!.rules, ["-A PREROUTING -j Y", "-A Y -j ACCEPT"]);
    assert.ok(state.get("filter")!.chains.has("Z"));
    applyRestore(state, "*nat\n:Y - [0:0]\n-X Y\nCOMMIT\n");
    assert.ok(!state.get("nat")!.chains.has("Y"));
    assert.deepEqual(state.get("nat")!.rules, ["-A PREROUTING -j Y"]);
  });

  test("publish replaces, unpublish removes, also after someone deleted our rule behind our back", async () => {
    const nf = new Netfilter({ prefix });
    const subnet = freeSubnet();
    const ip = subnet.replace(/\.0\/24$/, ".2");
    const fwd = (hostPort: number) => ({ proto: "tcp" as const, hostIp: "127.0.0.1", hostPort, containerIp: ip, containerPort: 80 });
    await nf.publish(`c${tag}`, [fwd(40001)]);
    await nf.publish(`c${tag}`, [fwd(40002)]);
    let rules = await nf.listRules(`ctr:c${tag}`);
    assert.equal(rules.length, 1);
    assert.match(rules[0]!, /--dport 40002/);

    // Someone else removes the rule: the kept state is stale, the change is retried from a fresh save.
    await nf.publish(`c${tag}`, [fwd(40003)]);
    const line = (await nf.listRules(`ctr:c${tag}`))[0]!;
    await nf.publish(`c${tag}`, [fwd(40004)]); // known state now holds 40004, fresh from our own restore
    const del = spawnSync("iptables", ["-w", "-t", "nat", ...line.replace("--dport 40003", "--dport 40004").replace(/^-A /, "-D ").match(/"[^"]*"|\S+/g)!.map((w) => w.replace(/^"|"$/g, ""))], { encoding: "utf8" });
    assert.equal(del.status, 0, del.stderr);
    await nf.unpublish(`c${tag}`);
    assert.deepEqual(await nf.listRules(`ctr:c${tag}`), []);

    await nf.publish(`c${tag}`, [fwd(40005)]);
    rules = await nf.listRules(`ctr:c${tag}`);
    assert.equal(rules.length, 1);
    await nf.teardown();
    assert.deepEqual(await nf.listRules(), []);
  });
});
