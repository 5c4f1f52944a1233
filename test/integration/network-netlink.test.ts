/**
 * `hako-shim netlink` through src/network/netlink.ts on the real kernel:
 * batches that build a bridge and a veth into a fresh network namespace,
 * idempotence where Docker relies on it, failures naming the op and errno,
 * bad input refused before anything runs. Everything made here has a
 * unique name and is removed at the end (namespaces by killing their
 * holder by pid, links by deleting them).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import { HakoError } from "../../src/common/errors.ts";
import { helperPath } from "../../src/native/shim.ts";
import { NetlinkError, encodeOp, linkExists, listLinks, listRoutes, runNetlink } from "../../src/network/netlink.ts";
import { freeSubnet, NetnsHolders, networkSkipReason } from "../helpers/netns.ts";

const tag = randomBytes(3).toString("hex");
const netns = new NetnsHolders();
const links = new Set<string>();

function ipJson(args: string[], pid?: number): Array<Record<string, unknown>> {
  const cmd = pid ? ["nsenter", "-t", String(pid), "-n", "ip", "-j", ...args] : ["ip", "-j", ...args];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout || "[]") as Array<Record<string, unknown>>;
}

after(() => {
  for (const name of links) spawnSync("ip", ["link", "del", name], { stdio: "ignore" });
  netns.cleanup();
});

describe("netlink batches on the real kernel", { skip: networkSkipReason("netlink changes, network namespaces", ["unshare"]) }, () => {
  test("one batch: bridge, veth into a namespace, addresses, lo, default route, sysctl", async () => {
    const pid = await netns.newNetns();
    const br = `hkt${tag}a`;
    const veth = `hkv${tag}a`;
    links.add(br).add(veth);
    const subnet = freeSubnet();
    const base = subnet.slice(0, subnet.lastIndexOf("."));
    await runNetlink([
      { op: "bridge-add", name: br, mtu: 1500 },
      { op: "addr-add", name: br, cidr: `${base}.1/24` },
      { op: "link-set", name: br, up: true },
      { op: "veth-add", name: veth, peer: "eth0", peerNetns: pid },
      { op: "link-set", name: veth, master: br, up: true },
      { op: "netns", netns: pid },
      { op: "link-set", name: "eth0", address: "02:42:0a:00:00:07", mtu: 1400, up: true },
      { op: "addr-add", name: "eth0", cidr: `${base}.7/24` },
      { op: "link-set", name: "lo", up: true },
      { op: "route-add", dst: "default", via: `${base}.1`, dev: "eth0" },
      { op: "sysctl", key: "net.ipv4.ip_forward", value: "1" },
    ]);
    const host = listLinks();
    assert.ok(host.find((l) => l.name === br && l.isBridge && l.up), "bridge up on the host");
    assert.equal(host.find((l) => l.name === veth)?.master, br);
    assert.ok(!host.some((l) => l.name === "eth0" && l.master === br), "the peer is not on the host");

    const inside = ipJson(["addr", "show", "eth0"], pid)[0]!;
    assert.equal(inside.address, "02:42:0a:00:00:07");
    assert.equal(inside.mtu, 1400);
    const addrs = (inside.addr_info as Array<{ local: string; prefixlen: number; family: string }>).filter((a) => a.family === "inet");
    assert.deepEqual(addrs.map((a) => `${a.local}/${a.prefixlen}`), [`${base}.7/24`]);
    const routes = ipJson(["route", "show", "default"], pid);
    assert.equal(routes[0]?.gateway, `${base}.1`);
    assert.equal(routes[0]?.dev, "eth0");
    const lo = ipJson(["link", "show", "lo"], pid)[0]!;
    assert.ok((lo.flags as string[]).includes("UP"));
    // The sysctl was written in the namespace, where forwarding starts off.
    const fwd = spawnSync("nsenter", ["-t", String(pid), "-n", "cat", "/proc/sys/net/ipv4/ip_forward"], { encoding: "utf8" });
    assert.equal(fwd.stdout.trim(), "1");
    // The namespace reaches the bridge address it was given.
    const ping = spawnSync("nsenter", ["-t", String(pid), "-n", "busybox", "ping", "-c1", "-W1", `${base}.1`], { encoding: "utf8" });
    assert.equal(ping.status, 0, ping.stdout + ping.stderr);

    await runNetlink([{ op: "link-del", name: veth }, { op: "link-del", name: br }]);
    assert.ok(!linkExists(veth) && !linkExists(br));
    const peer = spawnSync("nsenter", ["-t", String(pid), "-n", "ip", "link", "show", "eth0"], { encoding: "utf8" });
    assert.notEqual(peer.status, 0, "the peer went with the host end");
  });

  test("repeatable steps are idempotent: bridge-add, addr-add, route-add, link-del of a missing link", async () => {
    const br = `hkt${tag}b`;
    links.add(br);
    const base = freeSubnet().replace(/\.0\/24$/, "");
    const batch = [
      { op: "bridge-add", name: br },
      { op: "addr-add", name: br, cidr: `${base}.1/24` },
      { op: "link-set", name: br, up: true },
      { op: "route-add", dst: `${base}.128/25`, dev: br },
    ] as const;
    await runNetlink([...batch]);
    await runNetlink([...batch]);
    const addrs = ipJson(["-4", "addr", "show", br])[0]!.addr_info as unknown[];
    assert.equal(addrs.length, 1);
    await runNetlink([{ op: "link-del", name: br }, { op: "link-del", name: br }, { op: "link-del", name: `hkn${tag}none` }]);
    assert.ok(!linkExists(br));
  });

  test("a failure names the op, its index and errno; ops before it stay done", async () => {
    const veth = `hkv${tag}c`;
    links.add(veth);
    const err = await runNetlink([
      { op: "veth-add", name: veth, peer: `hkp${tag}c` },
      { op: "link-set", name: `hkn${tag}none`, up: true },
    ]).then(
      () => assert.fail("should fail"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof NetlinkError);
    assert.equal(err.index, 1);
    assert.equal(err.errno, 19);
    assert.equal(err.code, "ERR_NOT_FOUND");
    assert.match(err.message, new RegExp(`link-set hkn${tag}none up.*No such device.*operation 2 of 2`));
    assert.ok(linkExists(veth), "the first op was done");

    // A name taken by something that is not a bridge: EEXIST, a conflict.
    const clash = await runNetlink([{ op: "bridge-add", name: veth }]).then(
      () => assert.fail("should fail"),
      (e: unknown) => e,
    );
    assert.ok(clash instanceof NetlinkError);
    assert.equal(clash.code, "ERR_CONFLICT");
    assert.match(clash.message, /exists and is not a bridge \(kind "veth"\)/);

    // A namespace that is gone: ENOENT, with the path it tried.
    const gone = await runNetlink([{ op: "netns", netns: 0x7ffffff0 }]).catch((e: unknown) => e);
    assert.ok(gone instanceof NetlinkError);
    assert.match(gone.message, /\/proc\/2147483632\/ns\/net: No such file or directory/);

    await runNetlink([{ op: "link-del", name: veth }]);
    assert.ok(!linkExists(veth) && !linkExists(`hkp${tag}c`), "deleting one end removes the pair");
  });

  test("bad input is refused before the helper runs, as InvalidArgument", async () => {
    const bad: Parameters<typeof encodeOp>[0][] = [
      { op: "link-del", name: "eth0\nlink-del lo" },
      { op: "link-del", name: "a name" },
      { op: "link-del", name: "much-too-long-name0" },
      { op: "link-del", name: ".." },
      { op: "bridge-add", name: "hktx", mtu: 70000 },
      { op: "netns", netns: "relative/path" },
      { op: "netns", netns: -1 },
      { op: "addr-add", name: "lo", cidr: "10.0.0.1" },
      { op: "link-set", name: "lo", address: "zz:zz" },
      { op: "route-add", dst: "default" },
      { op: "sysctl", key: "../../etc/passwd", value: "1" },
      { op: "sysctl", key: "/etc/passwd", value: "1" },
      { op: "sysctl", key: "net.ipv4.ip_forward", value: "1 2" },
      { op: "frob" } as never,
    ];
    for (const op of bad) {
      await assert.rejects(runNetlink([op]), (e: unknown) => HakoError.is(e) && e.code === "ERR_INVALID_ARGUMENT", JSON.stringify(op));
    }
    assert.ok(linkExists("lo"));
  });

  test("the helper checks the whole batch before doing anything", () => {
    const br = `hkt${tag}d`;
    const run = (input: string | Buffer) => spawnSync(helperPath(), ["netlink"], { input, encoding: "utf8" });
    let r = run(`bridge-add ${br}\nfrob the kernel\n`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error 1 22 frob the kernel: unknown operation frob/);
    assert.ok(!linkExists(br), "nothing was done");
    r = run(`bridge-add ${br}\nlink-set\n`);
    assert.match(r.stderr, /^error 1 22 .*takes 1 to/);
    r = run(Buffer.from(`bridge-add ${br}\0\n`));
    assert.match(r.stderr, /NUL/);
    r = run(`link-set lo ${"x".repeat(300)} up\n`);
    assert.match(r.stderr, /too long/);
    r = run(`link-set lo ${"up ".repeat(40)}\n`);
    assert.match(r.stderr, /too many words/);
    r = run("# only a comment\n\n");
    assert.equal(r.status, 0);
    assert.ok(!linkExists(br));
  });

  test("host queries: links from sysfs, IPv4 routes from /proc/net/route", () => {
    const lo = listLinks().find((l) => l.name === "lo");
    assert.ok(lo && lo.up && lo.index === 1 && !lo.isBridge);
    const sample =
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
      "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
      "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
      "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
    assert.deepEqual(listRoutes(sample), [
      { dev: "eth0", destination: "0.0.0.0/0", gateway: "192.0.2.1" },
      { dev: "eth0", destination: "192.0.2.0/24" },
      { dev: "docker0", destination: "172.17.0.0/16" },
    ]);
  });
});
