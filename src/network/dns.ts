/**
 * The embedded DNS resolver of user networks (Docker's 127.0.0.11, here on
 * each user network's gateway address, port 53, UDP and TCP): A queries
 * for the names, aliases and short ids of the containers on that network
 * are answered from the NetworkService's endpoints; anything else is
 * forwarded to the host's resolvers from /etc/resolv.conf, or answered
 * SERVFAIL when none is usable. One listener per network, so a container
 * only ever learns the names of its own networks.
 */
import dgram from "node:dgram";
import { readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import type { Logger } from "../api/context.ts";
import { contains, parseIPv4, parseSubnet, tryParseIPv4 } from "./subnet.ts";
import type { NetworkObserver } from "./service.ts";

const TYPE_A = 1;
const CLASS_IN = 1;
const RCODE_SERVFAIL = 2;
const RCODE_NOTIMP = 4;
const RCODE_FORMERR = 1;
/** Docker's embedded resolver answers with this TTL. */
const TTL = 600;
const FORWARD_TIMEOUT_MS = 2000;
const MAX_TCP_MESSAGE = 65535;

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
  /** Offset just past the question (the question's bytes are query[12, end)). */
  end: number;
}

/**
 * The first question of a query, or undefined when it is malformed. Names
 * in questions are plain labels (compression makes no sense in the first
 * name of a message), so a pointer is refused.
 */
export function parseQuestion(msg: Buffer): DnsQuestion | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off]!;
    if (len === 0) {
      off++;
      break;
    }
    if (len > 63 || off + 1 + len > msg.length) return undefined;
    labels.push(msg.toString("latin1", off + 1, off + 1 + len));
    off += 1 + len;
  }
  if (off + 4 > msg.length) return undefined;
  return { name: labels.join(".").toLowerCase(), type: msg.readUInt16BE(off), class: msg.readUInt16BE(off + 2), end: off + 4 };
}

/** A response to `query` echoing its question: rcode and A records for `addresses`. */
export function buildResponse(query: Buffer, q: DnsQuestion | undefined, rcode: number, addresses: string[] = []): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.length >= 2 ? query.readUInt16BE(0) : 0, 0);
  const qflags = query.length >= 4 ? query.readUInt16BE(2) : 0;
  // QR, the query's opcode and RD, RA (we recurse through the host's resolvers), AA for our own names.
  const aa = rcode === 0 && addresses.length > 0 ? 0x0400 : 0;
  header.writeUInt16BE(0x8000 | (qflags & 0x7800) | (qflags & 0x0100) | 0x0080 | aa | (rcode & 0xf), 2);
  header.writeUInt16BE(q ? 1 : 0, 4);
  header.writeUInt16BE(addresses.length, 6);
  const parts: Buffer[] = [header];
  if (q) parts.push(query.subarray(12, q.end));
  for (const addr of addresses) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(TTL, 6);
    rr.writeUInt16BE(4, 10);
    rr.writeUInt32BE(parseIPv4(addr), 12);
    parts.push(rr);
  }
  return Buffer.concat(parts);
}

/**
 * The host's resolvers from resolv.conf, without loopback ones: a stub
 * resolver on 127.0.0.53 is unreachable from a container's namespace, and
 * from hakod it might be us (a loop).
 */
export function hostResolvers(file = "/etc/resolv.conf"): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const addr = m[1]!.replace(/%.*$/, "");
    if (addr.startsWith("127.") || addr === "::1" || addr === "0.0.0.0") continue;
    if (net.isIP(addr) === 0) continue;
    out.push(addr);
  }
  return out;
}

export interface DnsResolverOptions {
  log?: Logger;
  /** Where other names go: [address] or [address, port]; default the host's resolvers. */
  upstreams?: () => Array<{ address: string; port?: number }>;
  /** Port to listen on (53; tests may pick another). */
  port?: number;
}

interface Listener {
  gateway: string;
  udp: dgram.Socket;
  tcp: net.Server;
  connections: Set<net.Socket>;
}

/** The resolver: one listener per user network, names per network. */
export class DnsResolver implements NetworkObserver {
  private readonly names = new Map<string, Map<string, string>>();
  private readonly listeners = new Map<string, Listener>();
  private readonly port: number;

  constructor(private readonly opts: DnsResolverOptions = {}) {
    this.port = opts.port ?? 53;
  }

  /**
   * Binds UDP and TCP on the network's gateway (idempotent). With `subnet`,
   * only its members are answered: the resolver forwards, and must not be
   * an open resolver for whoever can route to the gateway.
   */
  async networkReady(netInfo: { id: string; name: string; gateway: string; subnet?: string }): Promise<void> {
    const existing = this.listeners.get(netInfo.id);
    if (existing?.gateway === netInfo.gateway) return;
    if (existing) await this.networkRemoved(netInfo.id);
    const udp = dgram.createSocket("udp4");
    const tcp = net.createServer();
    const listener: Listener = { gateway: netInfo.gateway, udp, tcp, connections: new Set() };
    const member = memberOf(netInfo.subnet);
    udp.on("message", (msg, rinfo) => {
      if (!member(rinfo.address)) return;
      void this.answer(netInfo.id, msg).then((reply) => {
        if (reply) udp.send(reply, rinfo.port, rinfo.address, () => {});
      });
    });
    udp.on("error", (err) => this.opts.log?.warn("dns: udp socket error", { network: netInfo.name, error: err.message }));
    tcp.on("connection", (sock) => {
      if (!member(sock.remoteAddress ?? "")) return void sock.destroy();
      this.serveTcp(netInfo.id, sock, listener);
    });
    tcp.on("error", (err) => this.opts.log?.warn("dns: tcp listener error", { network: netInfo.name, error: err.message }));
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once("error", reject);
        udp.bind({ address: netInfo.gateway, port: this.port, exclusive: true }, () => {
          udp.off("error", reject);
          resolve();
        });
      });
      await new Promise<void>((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen({ host: netInfo.gateway, port: this.port, exclusive: true }, () => {
          tcp.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      udp.close();
      tcp.close();
      // Names still resolve for nobody, but the network works: a warning, not a failure of create.
      this.opts.log?.warn("dns: cannot listen on the network's gateway", { network: netInfo.name, gateway: netInfo.gateway, error: (err as Error).message });
      return;
    }
    this.listeners.set(netInfo.id, listener);
  }

  async networkRemoved(id: string): Promise<void> {
    this.names.delete(id);
    const l = this.listeners.get(id);
    if (!l) return;
    this.listeners.delete(id);
    for (const s of l.connections) s.destroy();
    await Promise.all([new Promise<void>((r) => l.udp.close(() => r())), new Promise<void>((r) => l.tcp.close(() => r()))]);
  }

  namesChanged(id: string, names: Map<string, string>): void {
    this.names.set(id, new Map(names));
  }

  /** The address `name` has on network `id` (tests, and the answer path). */
  lookup(id: string, name: string): string | undefined {
    return this.names.get(id)?.get(name.toLowerCase().replace(/\.$/, ""));
  }

  async close(): Promise<void> {
    for (const id of [...this.listeners.keys()]) await this.networkRemoved(id);
  }

  /** The reply to one message; undefined for what deserves none (a response, garbage without a header). */
  async answer(networkId: string, msg: Buffer): Promise<Buffer | undefined> {
    if (msg.length < 12) return undefined;
    if ((msg.readUInt16BE(2) & 0x8000) !== 0) return undefined;
    const opcode = (msg.readUInt16BE(2) >> 11) & 0xf;
    const q = parseQuestion(msg);
    if (opcode !== 0) return buildResponse(msg, q, RCODE_NOTIMP);
    if (!q) return buildResponse(msg, undefined, RCODE_FORMERR);
    const ip = q.class === CLASS_IN ? this.lookup(networkId, q.name) : undefined;
    if (ip !== undefined) {
      // A known name: its A record; other types (AAAA, ...) get an empty NOERROR, as Docker's resolver answers.
      return buildResponse(msg, q, 0, q.type === TYPE_A ? [ip] : []);
    }
    const reply = await this.forward(msg);
    if (reply) return reply;
    return buildResponse(msg, q, RCODE_SERVFAIL);
  }

  /** Sends the query to the host's resolvers in turn; the first answer, or undefined. */
  private async forward(msg: Buffer): Promise<Buffer | undefined> {
    const upstreams = this.opts.upstreams ? this.opts.upstreams() : hostResolvers().map((address): { address: string; port?: number } => ({ address }));
    for (const up of upstreams) {
      const reply = await forwardUdp(msg, up.address, up.port ?? 53);
      if (reply) return reply;
    }
    return undefined;
  }

  private serveTcp(networkId: string, sock: net.Socket, l: Listener): void {
    l.connections.add(sock);
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on("close", () => l.connections.delete(sock));
    sock.on("error", () => {});
    let buf = Buffer.alloc(0);
    sock.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (len > MAX_TCP_MESSAGE) return void sock.destroy();
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        void this.answer(networkId, Buffer.from(msg)).then((reply) => {
          if (!reply || sock.destroyed) return;
          const head = Buffer.alloc(2);
          head.writeUInt16BE(reply.length);
          sock.write(Buffer.concat([head, reply]));
        });
      }
    });
  }
}

/**
 * A test for "may this source ask": a member of the subnet, or the host
 * itself (its queries to the gateway leave through lo and are masqueraded
 * by the network's `-s SUBNET ! -o BR` rule, so they come from another of
 * its addresses). Everything when no subnet is given.
 */
export function memberOf(subnet: string | undefined): (address: string) => boolean {
  if (!subnet) return () => true;
  const s = parseSubnet(subnet);
  return (address) => {
    const ip = address.replace(/^::ffff:/, "");
    const a = tryParseIPv4(ip);
    if (a !== undefined && contains(s, a)) return true;
    return Object.values(os.networkInterfaces()).some((list) => list?.some((i) => i.address === ip));
  };
}

function forwardUdp(msg: Buffer, address: string, port: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(net.isIPv6(address) ? "udp6" : "udp4");
    const id = msg.readUInt16BE(0);
    const done = (reply: Buffer | undefined) => {
      clearTimeout(timer);
      sock.close();
      resolve(reply);
    };
    const timer = setTimeout(() => done(undefined), FORWARD_TIMEOUT_MS);
    sock.on("error", () => done(undefined));
    sock.on("message", (reply) => {
      if (reply.length >= 12 && reply.readUInt16BE(0) === id) done(reply);
    });
    sock.send(msg, port, address, (err) => {
      if (err) done(undefined);
    });
  });
}
