/**
 * The bridge driver: a Linux bridge per network (`hako0` for the default
 * one), its gateway address, forwarding, masquerading; per container a veth
 * pair whose host end (`veth` + 7 hex) joins the bridge and whose other end
 * is made directly inside the container's namespace under its final name
 * (eth0), so nothing needs renaming. Each step is one netlink batch (to
 * the long-lived helper, no process of its own) and at most one netfilter
 * transaction.
 */
import { randomBytes } from "node:crypto";
import { InvalidArgumentError } from "../common/errors.ts";
import { listRoutes, runNetlink, type NetlinkOp, type NetnsRef } from "./netlink.ts";
import type { Netfilter, PortForward } from "./netfilter.ts";
import { chooseSubnet, formatIPv4, maskOf, parseIPv4, parseSubnet, type Subnet } from "./subnet.ts";

export const DEFAULT_BRIDGE = "hako0";
export const DEFAULT_MTU = 1500;

export interface BridgeNetwork {
  /** The network's name (owner of its netfilter rules). */
  name: string;
  /** The Linux bridge, e.g. hako0. */
  bridge: string;
  /** "10.88.0.0/16" */
  subnet: string;
  /** The bridge's own address, the containers' default gateway. */
  gateway: string;
  mtu?: number;
  internal?: boolean;
  masquerade?: boolean;
}

export interface AttachOptions {
  /** The container's network namespace: its pid, or a namespace file path. */
  netns: NetnsRef;
  bridge: string;
  /** The interface name inside the container. */
  ifName?: string;
  /** The container's address, with the subnet's prefix length: "10.88.0.2/16". */
  address: string;
  /** Default route via this address (the first network a container joins). */
  gateway?: string;
  mtu?: number;
  /** Default: derived from the address (02:42 + its four bytes), as Docker does. */
  mac?: string;
  /** Bring up lo too (the first interface of a fresh namespace). */
  loopback?: boolean;
}

export interface Attachment {
  /** The host end on the bridge: what `detach` deletes. */
  hostIfName: string;
  ifName: string;
  mac: string;
  address: string;
}

/** Docker's MAC for an IPv4 address: 02:42 then the address's bytes (172.17.0.2 → 02:42:ac:11:00:02). */
export function macFromIPv4(address: string): string {
  const n = parseIPv4(address);
  const bytes = [0x02, 0x42, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** A fresh host-side veth name: "veth" and 7 hex digits, as Docker names them. */
export function newVethName(): string {
  return `veth${randomBytes(4).toString("hex").slice(0, 7)}`;
}

/**
 * A subnet for a new network: the first of Docker's default pools that
 * collides with no route of the host (docker0's 172.17.0.0/16 may be there)
 * nor with `inUse` (other networks' subnets).
 */
export function chooseNetworkSubnet(inUse: Subnet[], routes = listRoutes()): Subnet {
  const routed = routes.map((r) => parseSubnet(normalizeRoute(r.destination)));
  return chooseSubnet([...routed, ...inUse]);
}

/** /proc/net/route may list a destination with host bits set; the subnet is what it covers. */
function normalizeRoute(cidr: string): string {
  const [addr, bits] = cidr.split("/") as [string, string];
  const prefix = Number(bits);
  return `${formatIPv4((parseIPv4(addr) & maskOf(prefix)) >>> 0)}/${prefix}`;
}

function prefixOf(subnet: string): number {
  return parseSubnet(subnet).prefix;
}

export class BridgeDriver {
  constructor(private readonly netfilter: Netfilter) {}

  /**
   * Makes sure the network's bridge exists with its gateway address and is
   * up, forwarding is on, and its netfilter rules are in place. Idempotent:
   * run at every daemon start for every network.
   */
  async ensureNetwork(net: BridgeNetwork): Promise<void> {
    const prefix = prefixOf(net.subnet);
    parseIPv4(net.gateway, "gateway");
    const mtu = net.mtu ?? DEFAULT_MTU;
    const ops: NetlinkOp[] = [
      { op: "bridge-add", name: net.bridge, mtu },
      { op: "addr-add", name: net.bridge, cidr: `${net.gateway}/${prefix}` },
      { op: "link-set", name: net.bridge, up: true },
      // Published ports on 127.0.0.1: DNAT'd loopback traffic may leave through the bridge.
      { op: "sysctl", key: `net/ipv4/conf/${net.bridge}/route_localnet`, value: "1" },
    ];
    if (!net.internal) ops.push({ op: "sysctl", key: "net.ipv4.ip_forward", value: "1" });
    await runNetlink(ops);
    await this.netfilter.setNetworkRules({
      network: net.name,
      bridge: net.bridge,
      subnet: net.subnet,
      ...(net.internal !== undefined ? { internal: net.internal } : {}),
      ...(net.masquerade !== undefined ? { masquerade: net.masquerade } : {}),
    });
  }

  /** Deletes the bridge (its veths go with their containers), unless it is the user's own, and the network's rules. */
  async removeNetwork(net: Pick<BridgeNetwork, "name" | "bridge"> & { keepBridge?: boolean }): Promise<void> {
    if (!net.keepBridge) await runNetlink([{ op: "link-del", name: net.bridge }]);
    await this.netfilter.removeNetworkRules(net.name);
  }

  /**
   * Connects a container's namespace to a bridge in one batch: the veth
   * pair (the peer born in the namespace as `ifName`), the host end on the
   * bridge and up, then inside: MAC, MTU, up, the address, lo, the default
   * route. On failure the host end is deleted (taking the peer with it).
   */
  async attach(opts: AttachOptions): Promise<Attachment> {
    const ifName = opts.ifName ?? "eth0";
    const slash = opts.address.indexOf("/");
    if (slash < 0) throw new InvalidArgumentError(`container address ${opts.address} needs a prefix length (ADDRESS/LEN)`);
    const ip = formatIPv4(parseIPv4(opts.address.slice(0, slash), "container address"));
    const mac = opts.mac ?? macFromIPv4(ip);
    const mtu = opts.mtu ?? DEFAULT_MTU;
    const hostIfName = newVethName();
    const ops: NetlinkOp[] = [
      { op: "veth-add", name: hostIfName, peer: ifName, peerNetns: opts.netns },
      // Hairpin: the container may reach its own published ports through the host.
      { op: "link-set", name: hostIfName, master: opts.bridge, mtu, hairpin: true, up: true },
      { op: "netns", netns: opts.netns },
      { op: "link-set", name: ifName, address: mac, mtu, up: true },
      { op: "addr-add", name: ifName, cidr: `${ip}/${opts.address.slice(slash + 1)}` },
    ];
    if (opts.loopback !== false) ops.push({ op: "link-set", name: "lo", up: true });
    if (opts.gateway) ops.push({ op: "route-add", dst: "default", via: opts.gateway, dev: ifName });
    try {
      await runNetlink(ops);
    } catch (err) {
      await runNetlink([{ op: "link-del", name: hostIfName }]).catch(() => {});
      throw err;
    }
    return { hostIfName, ifName, mac, address: ip };
  }

  /** Deletes the host end of a container's veth (its peer goes with it); gone already is fine. */
  async detach(hostIfName: string): Promise<void> {
    await runNetlink([{ op: "link-del", name: hostIfName }]);
  }

  /** DNAT of a container's published ports (replaces what it had). */
  publish(containerId: string, forwards: PortForward[]): Promise<void> {
    return this.netfilter.publish(containerId, forwards);
  }

  unpublish(containerId: string): Promise<void> {
    return this.netfilter.unpublish(containerId);
  }
}
