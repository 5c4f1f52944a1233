/**
 * IPAM and subnet choice: pools, allocation (next free, specific, ip-range),
 * release, never an address twice, the state surviving a reopen (a daemon
 * restart), and the default subnet avoiding the host's routes.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { describe, test } from "node:test";
import { HakoError } from "../../src/common/errors.ts";
import { chooseNetworkSubnet, macFromIPv4 } from "../../src/network/bridge.ts";
import { Ipam } from "../../src/network/ipam.ts";
import { HostPortAllocator, ephemeralRange, type PortMap, parsePortKey, probeHostPort, resolvePortBindings } from "../../src/network/ports.ts";
import { listRoutes } from "../../src/network/netlink.ts";
import { chooseSubnet, formatSubnet, overlaps, parseIPv4, parseSubnet, tryParseIPv4 } from "../../src/network/subnet.ts";
import { tempDirs } from "../helpers/temp.ts";

const tmp = tempDirs();
const newStore = (): string => path.join(tmp("hako-ipam-"), "ipam.json");

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return HakoError.is(err) ? err.code : "not a HakoError";
  }
  return undefined;
}

describe("subnets", () => {
  test("parse and format IPv4 addresses and subnets", () => {
    assert.equal(tryParseIPv4("172.17.0.2"), 0xac110002);
    for (const bad of ["1.2.3", "1.2.3.256", "01.2.3.4", "a.b.c.d", "", "1.2.3.4 "]) assert.equal(tryParseIPv4(bad), undefined, bad);
    assert.deepEqual(parseSubnet("10.1.0.0/16"), { base: 0x0a010000, prefix: 16 });
    assert.throws(() => parseSubnet("10.1.2.3/16"), /it should be 10\.1\.0\.0\/16/);
    assert.equal(codeOf(() => parseSubnet("10.1.0.0/33")), "ERR_INVALID_ARGUMENT");
    assert.equal(codeOf(() => parseSubnet("10.1.0.0")), "ERR_INVALID_ARGUMENT");
    assert.equal(codeOf(() => parseSubnet("fd00::/64")), "ERR_NOT_IMPLEMENTED");
    assert.equal(codeOf(() => parseIPv4("::1")), "ERR_NOT_IMPLEMENTED");
  });

  test("the default subnet skips routes of the host and other networks, not the default route", () => {
    const r = (s: string) => parseSubnet(s);
    assert.equal(formatSubnet(chooseSubnet([])), "172.17.0.0/16");
    assert.equal(formatSubnet(chooseSubnet([r("0.0.0.0/0"), r("172.17.0.0/16")])), "172.18.0.0/16");
    assert.equal(formatSubnet(chooseSubnet([r("172.16.0.0/12")])), "192.168.0.0/20");
    assert.equal(formatSubnet(chooseSubnet([r("172.16.0.0/12"), r("192.168.0.128/25")])), "192.168.16.0/20");
    assert.equal(codeOf(() => chooseSubnet([r("172.16.0.0/12"), r("192.168.0.0/16")])), "ERR_UNAVAILABLE");
    // With docker0 on the host (a route as /proc/net/route lists it) and another hako network.
    const routes = listRoutes(
      "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n" +
        "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n",
    );
    assert.equal(formatSubnet(chooseNetworkSubnet([r("172.18.0.0/16")], routes)), "172.19.0.0/16");
    // On this host: whatever it picks overlaps none of its routes.
    const picked = chooseNetworkSubnet([]);
    assert.ok(!listRoutes().some((rt) => !rt.destination.endsWith("/0") && overlaps(picked, parseSubnet(rt.destination))));
  });

  test("Docker's MAC from an IPv4 address", () => {
    assert.equal(macFromIPv4("172.17.0.2"), "02:42:ac:11:00:02");
    assert.equal(macFromIPv4("10.255.1.254"), "02:42:0a:ff:01:fe");
  });
});

describe("IPAM", () => {
  test("a pool: default gateway, sequential addresses, the gateway never handed out", () => {
    const ipam = Ipam.open(newStore());
    const pool = ipam.addPool("n1", { subnet: "10.50.0.0/24" });
    assert.equal(pool.gateway, "10.50.0.1");
    assert.equal(ipam.allocate("n1", "c1"), "10.50.0.2");
    assert.equal(ipam.allocate("n1", "c2"), "10.50.0.3");
    assert.deepEqual(ipam.pool("n1")!.allocated, { "10.50.0.2": "c1", "10.50.0.3": "c2" });
    const custom = ipam.addPool("n2", { subnet: "10.51.0.0/24", gateway: "10.51.0.254" });
    assert.equal(custom.gateway, "10.51.0.254");
    assert.equal(ipam.allocate("n2", "c3"), "10.51.0.1");
  });

  test("bad pools are refused with the right class", () => {
    const ipam = Ipam.open(newStore());
    ipam.addPool("n1", { subnet: "10.60.0.0/16" });
    assert.equal(codeOf(() => ipam.addPool("n1", { subnet: "10.61.0.0/16" })), "ERR_CONFLICT");
    assert.equal(codeOf(() => ipam.addPool("n2", { subnet: "10.60.128.0/17" })), "ERR_CONFLICT");
    assert.throws(() => ipam.addPool("n2", { subnet: "10.60.128.0/17" }), /Pool overlaps with other one on this address space/);
    assert.equal(codeOf(() => ipam.addPool("n2", { subnet: "10.62.0.0/24", gateway: "10.63.0.1" })), "ERR_INVALID_ARGUMENT");
    assert.equal(codeOf(() => ipam.addPool("n2", { subnet: "10.62.0.0/24", gateway: "10.62.0.255" })), "ERR_INVALID_ARGUMENT");
    assert.equal(codeOf(() => ipam.addPool("n2", { subnet: "10.62.0.0/24", ipRange: "10.62.1.0/28" })), "ERR_INVALID_ARGUMENT");
    assert.equal(codeOf(() => ipam.addPool("n2", { subnet: "10.62.0.0/31" })), "ERR_INVALID_ARGUMENT");
    assert.equal(codeOf(() => ipam.addPool("n2", { subnet: "banana" })), "ERR_INVALID_ARGUMENT");
    assert.equal(codeOf(() => ipam.allocate("nope", "c1")), "ERR_NOT_FOUND");
    assert.equal(ipam.pools().length, 1);
  });

  test("specific addresses: free ones only, inside the subnet, never the gateway", () => {
    const ipam = Ipam.open(newStore());
    ipam.addPool("n", { subnet: "10.70.0.0/24", ipRange: "10.70.0.128/25" });
    assert.equal(ipam.allocate("n", "a", "10.70.0.5"), "10.70.0.5");
    assert.equal(codeOf(() => ipam.allocate("n", "b", "10.70.0.5")), "ERR_CONFLICT");
    assert.throws(() => ipam.allocate("n", "b", "10.70.0.5"), /Address already in use/);
    assert.equal(codeOf(() => ipam.allocate("n", "b", "10.70.1.5")), "ERR_INVALID_ARGUMENT");
    assert.equal(codeOf(() => ipam.allocate("n", "b", "10.70.0.1")), "ERR_INVALID_ARGUMENT");
    assert.equal(codeOf(() => ipam.allocate("n", "b", "10.70.0.0")), "ERR_INVALID_ARGUMENT");
    assert.equal(codeOf(() => ipam.allocate("n", "b", "10.70.0.255")), "ERR_INVALID_ARGUMENT");
    // Automatic allocation stays in the ip-range.
    assert.equal(ipam.allocate("n", "c"), "10.70.0.128");
  });

  test("released addresses come back, after the others (round robin), and exhaustion is an error", () => {
    const ipam = Ipam.open(newStore());
    ipam.addPool("small", { subnet: "10.80.0.0/29" }); // .1 gateway, .2-.6 usable
    const got = ["a", "b", "c", "d", "e"].map((o) => ipam.allocate("small", o));
    assert.deepEqual(got, ["10.80.0.2", "10.80.0.3", "10.80.0.4", "10.80.0.5", "10.80.0.6"]);
    assert.equal(codeOf(() => ipam.allocate("small", "f")), "ERR_UNAVAILABLE");
    ipam.release("small", "10.80.0.3");
    ipam.release("small", "10.80.0.3"); // twice is fine
    assert.equal(ipam.allocate("small", "f"), "10.80.0.3");
    assert.deepEqual(ipam.releaseOwner("a"), ["10.80.0.2"]);
    ipam.release("small", "10.80.0.5");
    // The cursor is past .3: .5 comes before .2.
    assert.equal(ipam.allocate("small", "g"), "10.80.0.5");
    assert.equal(ipam.allocate("small", "h"), "10.80.0.2");
  });

  test("the state survives a reopen: no address is handed out twice across restarts", () => {
    const file = newStore();
    const first = Ipam.open(file);
    first.addPool("n", { subnet: "10.90.0.0/24", gateway: "10.90.0.1" });
    const a = first.allocate("n", "c1");
    const b = first.allocate("n", "c2", "10.90.0.77");
    const second = Ipam.open(file);
    assert.deepEqual(second.pool("n")!.allocated, { [a]: "c1", [b]: "c2" });
    const c = second.allocate("n", "c3");
    assert.ok(c !== a && c !== b);
    assert.equal(codeOf(() => second.allocate("n", "c4", b)), "ERR_CONFLICT");
    second.removePool("n");
    assert.equal(Ipam.open(file).pools().length, 0);
    // The file is JSON written whole (temp + rename): no temp files are left beside it.
    assert.equal(JSON.parse(readFileSync(file, "utf8")).version, 1);
    assert.deepEqual(readdirSync(path.dirname(file)), ["ipam.json"]);
  });

  test("a corrupt state file is an error, never an empty pool", () => {
    const file = newStore();
    Ipam.open(file).addPool("n", { subnet: "10.91.0.0/24" });
    writeFileSync(file, "{ not json");
    assert.equal(codeOf(() => Ipam.open(file)), "ERR_INTERNAL");
    writeFileSync(file, JSON.stringify({ version: 9 }));
    assert.throws(() => Ipam.open(file), /unknown format/);
  });
});

describe("host ports", () => {
  const always = async (): Promise<boolean> => true;

  test("explicit, ranged and random host ports; 0.0.0.0 clashes with every address", async () => {
    const ports = new HostPortAllocator([50000, 50002], always);
    assert.equal(await ports.allocate("a", "tcp", "127.0.0.1", [8080, 8080]), 8080);
    // The same port on another address is fine; on all addresses it is not.
    assert.equal(await ports.allocate("b", "tcp", "10.0.0.1", [8080, 8080]), 8080);
    await assert.rejects(ports.allocate("c", "tcp", "", [8080, 8080]), /Bind for 0\.0\.0\.0:8080 failed: port is already allocated/);
    // Another protocol is another port.
    assert.equal(await ports.allocate("c", "udp", "", [8080, 8080]), 8080);
    assert.equal(await ports.allocate("c", "tcp", "", [8080, 8082]), 8081);
    assert.deepEqual([await ports.allocate("d", "tcp", ""), await ports.allocate("d", "tcp", "")], [50000, 50001]);
    ports.release("d");
    // Round robin: the next random port is after the last one, not the one just released.
    assert.equal(await ports.allocate("e", "tcp", ""), 50002);
    assert.equal(await ports.allocate("e", "tcp", ""), 50000);
    assert.equal(await ports.allocate("e", "tcp", ""), 50001);
    await assert.rejects(ports.allocate("f", "tcp", ""), /no host port available in the range 50000-50002/);
    assert.throws(() => ports.reserve("g", "tcp", "0.0.0.0", 50001), /already allocated/);
    ports.reserve("e", "tcp", "0.0.0.0", 50001); // its own: fine
  });

  test("PortBindings → DNAT forwards and NetworkSettings.Ports, nothing held after a failure", async () => {
    const ports = new HostPortAllocator([50100, 50199], always);
    const got = await resolvePortBindings(
      "c1",
      { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "8080" }, { HostIp: "", HostPort: "" }], "53/udp": [{ HostIp: "", HostPort: "5353" }], "443": null },
      "10.1.0.2",
      ports,
    );
    assert.deepEqual(got.forwards, [
      { proto: "tcp", hostIp: "127.0.0.1", hostPort: 8080, containerIp: "10.1.0.2", containerPort: 80 },
      { proto: "tcp", hostIp: "0.0.0.0", hostPort: 50100, containerIp: "10.1.0.2", containerPort: 80 },
      { proto: "udp", hostIp: "0.0.0.0", hostPort: 5353, containerIp: "10.1.0.2", containerPort: 53 },
    ]);
    assert.deepEqual(got.ports, {
      "80/tcp": [
        { HostIp: "127.0.0.1", HostPort: "8080" },
        { HostIp: "0.0.0.0", HostPort: "50100" },
      ],
      "53/udp": [{ HostIp: "0.0.0.0", HostPort: "5353" }],
      "443/tcp": null,
    });
    // c2 wants 8080 on all addresses (held by c1 on 127.0.0.1) after taking 9090: fails, and 9090 is free again.
    await assert.rejects(
      resolvePortBindings("c2", { "90/tcp": [{ HostIp: "", HostPort: "9090" }], "80/tcp": [{ HostIp: "", HostPort: "8080" }] }, "10.1.0.3", ports),
      /port is already allocated/,
    );
    assert.equal(await ports.allocate("c3", "tcp", "", [9090, 9090]), 9090);
    const bads: PortMap[] = [{ "80/icmp": [{ HostIp: "", HostPort: "" }] }, { "0/tcp": [] }, { "80/tcp": [{ HostIp: "", HostPort: "9-1" }] }, { "80/tcp": [{ HostIp: "x", HostPort: "" }] }];
    for (const bad of bads) {
      await assert.rejects(resolvePortBindings("c4", bad, "10.1.0.4", ports), (e: unknown) => HakoError.is(e) && e.code === "ERR_INVALID_ARGUMENT", JSON.stringify(bad));
    }
    await assert.rejects(resolvePortBindings("c4", { "80/tcp": [{ HostIp: "::", HostPort: "" }] }, "10.1.0.4", ports), /IPv6/);
    assert.deepEqual(parsePortKey("8080/UDP"), [8080, "udp"]);
  });

  test("the probe sees a port a host process listens on", async () => {
    const srv = net.createServer();
    await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
    const { port } = srv.address() as net.AddressInfo;
    try {
      assert.equal(await probeHostPort("tcp", "127.0.0.1", port), false);
      const ports = new HostPortAllocator([port, port + 1]);
      await assert.rejects(ports.allocate("a", "tcp", "127.0.0.1", [port, port]), /already allocated/);
    } finally {
      await new Promise((r) => srv.close(r));
    }
    assert.equal(await probeHostPort("tcp", "127.0.0.1", port), true);
    const [lo, hi] = ephemeralRange();
    assert.ok(lo > 0 && hi <= 65535 && lo <= hi);
  });
});
