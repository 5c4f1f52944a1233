/**
 * The embedded DNS resolver: message parsing and answers, UDP and TCP,
 * names per network only, forwarding to an upstream (a fake one on
 * 127.0.0.1, never a public resolver), SERVFAIL without a usable upstream,
 * garbage survived; then on the real kernel a "container" (a network
 * namespace) resolving another by name through its network's gateway.
 * Only container names are ever queried.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { buildResponse, DnsResolver, hostResolvers, memberOf, parseQuestion } from "../../src/network/dns.ts";
import { Netfilter } from "../../src/network/netfilter.ts";
import { listLinks } from "../../src/network/netlink.ts";
import { NetworkService } from "../../src/network/service.ts";
import { queryA } from "../helpers/dns.ts";
import { freeSubnet, NetnsHolders, networkSkipReason } from "../helpers/netns.ts";

function query(name: string, type = 1): Buffer {
  const labels = name.split(".").map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  return Buffer.concat([Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, type, 0, 1])]);
}

function freeUdpPort(address = "127.0.0.1"): Promise<number> {
  return new Promise((resolve) => {
    const s = dgram.createSocket("udp4");
    s.bind(0, address, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

describe("DNS messages", () => {
  test("parseQuestion reads the first question; malformed messages give undefined", () => {
    const q = parseQuestion(query("Web.Example"))!;
    assert.deepEqual(q, { name: "web.example", type: 1, class: 1, end: query("Web.Example").length });
    assert.equal(parseQuestion(Buffer.alloc(5)), undefined);
    assert.equal(parseQuestion(query("a").subarray(0, 14)), undefined);
    const pointer = Buffer.concat([query("a").subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
    assert.equal(parseQuestion(pointer), undefined);
  });

  test("buildResponse echoes id and question, sets QR/RD/RA, adds A records", () => {
    const msg = query("alpha");
    const r = buildResponse(msg, parseQuestion(msg), 0, ["10.1.2.3"]);
    assert.equal(r.readUInt16BE(0), 0x1234);
    assert.equal(r.readUInt16BE(2) & 0x8000, 0x8000);
    assert.equal(r.readUInt16BE(2) & 0x0100, 0x0100);
    assert.equal(r.readUInt16BE(6), 1);
    assert.deepEqual([...r.subarray(r.length - 4)], [10, 1, 2, 3]);
  });

  test("memberOf: a network's resolver answers its members and the host, nobody else (no open resolver)", () => {
    const member = memberOf("10.9.0.0/16");
    assert.equal(member("10.9.3.4"), true);
    assert.equal(member("::ffff:10.9.0.2"), true);
    assert.equal(member("127.0.0.1"), true, "the host itself (its queries come masqueraded from one of its addresses)");
    assert.equal(member("203.0.113.9"), false);
    assert.equal(member("10.10.0.1"), false);
    assert.equal(memberOf(undefined)("203.0.113.9"), true);
  });

  test("hostResolvers skips loopback resolvers that would loop", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "hako-dns-"));
    try {
      const file = path.join(dir, "resolv.conf");
      writeFileSync(file, "# comment\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nsearch example\n");
      assert.deepEqual(hostResolvers(file), ["192.0.2.53", "fe80::1"]);
      assert.deepEqual(hostResolvers(path.join(dir, "missing")), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("DnsResolver on loopback addresses", () => {
  let port = 0;
  let upstream: dgram.Socket;
  let upstreamPort = 0;
  let resolver: DnsResolver;
  let upstreamOn = true;

  before(async () => {
    port = await freeUdpPort();
    // A fake upstream: answers every query with 192.0.2.7.
    upstream = dgram.createSocket("udp4");
    upstream.on("message", (msg, rinfo) => {
      if (!upstreamOn) return;
      upstream.send(buildResponse(msg, parseQuestion(msg), 0, ["192.0.2.7"]), rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => upstream.bind(0, "127.0.0.1", () => r()));
    upstreamPort = upstream.address().port;
    resolver = new DnsResolver({ port, upstreams: () => (upstreamOn ? [{ address: "127.0.0.1", port: upstreamPort }] : []) });
    await resolver.networkReady({ id: "n1", name: "one", gateway: "127.0.0.1" });
    await resolver.networkReady({ id: "n2", name: "two", gateway: "127.0.0.2" });
    resolver.namesChanged("n1", new Map([["alpha", "10.9.0.2"], ["www", "10.9.0.2"]]));
    resolver.namesChanged("n2", new Map([["beta", "10.9.1.2"]]));
  });

  after(async () => {
    await resolver.close();
    upstream.close();
  });

  test("names of the network, any case; other types of a known name: empty NOERROR", async () => {
    assert.deepEqual(await queryA("127.0.0.1", "alpha", port), { rcode: 0, addresses: ["10.9.0.2"] });
    assert.deepEqual(await queryA("127.0.0.1", "WWW", port), { rcode: 0, addresses: ["10.9.0.2"] });
    assert.deepEqual(await queryA("127.0.0.2", "beta", port), { rcode: 0, addresses: ["10.9.1.2"] });
    const aaaa = await resolver.answer("n1", query("alpha", 28));
    assert.equal(aaaa!.readUInt16BE(2) & 15, 0);
    assert.equal(aaaa!.readUInt16BE(6), 0);
  });

  test("another network's names are not answered: they go upstream; without an upstream SERVFAIL", async () => {
    assert.deepEqual(await queryA("127.0.0.1", "beta", port), { rcode: 0, addresses: ["192.0.2.7"] });
    upstreamOn = false;
    try {
      assert.deepEqual(await queryA("127.0.0.1", "beta", port), { rcode: 2, addresses: [] });
    } finally {
      upstreamOn = true;
    }
  });

  test("TCP: length-prefixed queries, two in one write", async () => {
    const replies = await new Promise<Buffer[]>((resolve, reject) => {
      const sock = net.connect({ host: "127.0.0.1", port });
      const got: Buffer[] = [];
      let buf = Buffer.alloc(0);
      sock.on("error", reject);
      sock.on("data", (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          got.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
          buf = buf.subarray(2 + buf.readUInt16BE(0));
        }
        if (got.length === 2) {
          sock.destroy();
          resolve(got);
        }
      });
      const framed = [query("alpha"), query("www")].map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 255]), m]));
      sock.write(Buffer.concat(framed));
    });
    for (const r of replies) assert.deepEqual([...r.subarray(r.length - 4)], [10, 9, 0, 2]);
  });

  test("garbage gets FORMERR or nothing, and the resolver keeps answering", async () => {
    const sock = dgram.createSocket("udp4");
    for (const junk of [Buffer.alloc(0), Buffer.from("hello"), Buffer.alloc(12, 0xff), Buffer.concat([query("x").subarray(0, 12), Buffer.from([63])])]) {
      sock.send(junk, port, "127.0.0.1");
    }
    const formerr = await resolver.answer("n1", Buffer.concat([query("x").subarray(0, 12), Buffer.from([63])]));
    assert.equal(formerr!.readUInt16BE(2) & 15, 1);
    const notimp = Buffer.from(query("alpha"));
    notimp[2] = 0x10; // opcode 2 (status)
    assert.equal((await resolver.answer("n1", notimp))!.readUInt16BE(2) & 15, 4);
    await new Promise((r) => setTimeout(r, 50));
    sock.close();
    assert.deepEqual(await queryA("127.0.0.1", "alpha", port), { rcode: 0, addresses: ["10.9.0.2"] });
  });

  test("a removed network stops listening; names follow namesChanged", async () => {
    resolver.namesChanged("n2", new Map());
    assert.equal(resolver.lookup("n2", "beta"), undefined);
    await resolver.networkRemoved("n2");
    await assert.rejects(queryA("127.0.0.2", "beta", port, 500), /no DNS answer/);
  });
});

describe("DNS from inside a container's namespace", { skip: networkSkipReason("bridges, namespaces, iptables", ["unshare", "nsenter", "iptables-save"]) }, () => {
  const tag = randomBytes(3).toString("hex");
  const prefix = `HKD${tag.toUpperCase()}`;
  const netns = new NetnsHolders();
  const dns = new DnsResolver({ upstreams: () => [] });
  const netfilter = new Netfilter({ prefix });
  let dataRoot = "";
  let svc: NetworkService;
  let bridge = "";

  before(() => {
    dataRoot = mkdtempSync(path.join(os.tmpdir(), "hako-netdns-"));
    svc = new NetworkService({ dataRoot, defaultBridge: `hkd${tag}`, netfilter, observer: dns });
  });

  after(async () => {
    netns.cleanup();
    await dns.close();
    if (bridge) spawnSync("ip", ["link", "del", bridge], { stdio: "ignore" });
    await netfilter.teardown().catch(() => {});
    rmSync(dataRoot, { recursive: true, force: true });
  });

  test("a container resolves another by name and alias through the gateway; names follow connect and disconnect", async () => {
    const subnet = freeSubnet();
    const { Id } = await svc.create({ Name: `dns-${tag}`, IPAM: { Config: [{ Subnet: subnet }] } });
    bridge = `br-${Id.slice(0, 12)}`;
    const gateway = svc.gatewayOf(Id)!;
    const [pidA, pidB] = await Promise.all([netns.newNetns(), netns.newNetns()]);
    await svc.connectContainer({ id: `a${tag}`.padEnd(64, "0"), name: "/client", pid: pidA }, Id);
    const b = await svc.connectContainer({ id: `b${tag}`.padEnd(64, "0"), name: "/server", pid: pidB }, Id, { aliases: ["db"] });

    // A DNS query made inside A's namespace (node run there by nsenter), to the gateway: what a container's resolv.conf points at.
    const script = `
      const dgram = require("node:dgram");
      const name = process.argv[1];
      const labels = Buffer.concat(name.split(".").map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])));
      const msg = Buffer.concat([Buffer.from([0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), labels, Buffer.from([0, 0, 1, 0, 1])]);
      const s = dgram.createSocket("udp4");
      const t = setTimeout(() => { console.log("timeout"); process.exit(1); }, 3000);
      s.on("message", (r) => { clearTimeout(t); const rc = r.readUInt16BE(2) & 15; console.log(rc === 0 && r.readUInt16BE(6) ? [...r.subarray(r.length - 4)].join(".") : "rcode " + rc); s.close(); });
      s.send(msg, 53, "${gateway}");`;
    // Asynchronous: the resolver answers from this very process, whose event loop must keep running.
    const resolveIn = (pid: number, name: string) =>
      new Promise<string>((resolve) => {
        const child = netns.track(spawn("nsenter", ["-t", String(pid), "-n", process.execPath, "-e", script, name], { stdio: ["ignore", "pipe", "inherit"] }));
        let out = "";
        child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
        child.on("close", () => resolve(out.trim()));
      });
    assert.equal(await resolveIn(pidA, "server"), b.IPAddress);
    assert.equal(await resolveIn(pidA, "db"), b.IPAddress);
    assert.equal(await resolveIn(pidA, `b${tag}`.padEnd(12, "0")), b.IPAddress);
    assert.equal(await resolveIn(pidA, `nothere-${tag}`), "rcode 2");
    await svc.disconnectContainer(`b${tag}`.padEnd(64, "0"), Id);
    assert.equal(await resolveIn(pidA, "server"), "rcode 2");

    await svc.releaseContainer(`a${tag}`.padEnd(64, "0"));
    await svc.remove(Id);
    assert.ok(!listLinks().some((l) => l.name === bridge));
    // (No query to the old gateway now: with its bridge gone the address would route off this host.)
    assert.equal(dns.lookup(Id, "client"), undefined);
  });
});
