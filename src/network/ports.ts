/**
 * Published ports: a container's PortBindings (the API's PortMap, as
 * `-p [ip:][host:]container[/proto]` makes it) → the DNAT forwards for
 * netfilter.ts and the bindings Docker reports back (NetworkSettings.Ports),
 * with host ports allocated as Docker's portallocator does: an explicit
 * port, the first free of a host range, or a free one from the ephemeral
 * range when none is given.
 *
 * Forwarding is done by DNAT, so nothing in hakod listens on a host port:
 * a port is free when no other container holds it and a probe bind on the
 * host succeeds (a host daemon already there would otherwise be shadowed).
 */
import dgram from "node:dgram";
import { readFileSync } from "node:fs";
import net from "node:net";
import { InternalError, InvalidArgumentError, NotImplementedError } from "../common/errors.ts";
import type { PortForward, PortProto } from "./netfilter.ts";
import { formatIPv4, parseIPv4 } from "./subnet.ts";

/** The API's PortBinding (go-connections/nat). */
export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

export type PortMap = Record<string, PortBinding[] | null>;

/** Docker's default when ip_local_port_range cannot be read. */
const DEFAULT_RANGE: [number, number] = [49153, 60999];

/** The ephemeral range of this host (Docker's portallocator reads the same file). */
export function ephemeralRange(file = "/proc/sys/net/ipv4/ip_local_port_range"): [number, number] {
  try {
    const [a, b] = readFileSync(file, "utf8").trim().split(/\s+/).map(Number);
    if (a && b && a > 0 && b <= 65535 && a <= b) return [a, b];
  } catch {
    /* not Linux, or no /proc: the default */
  }
  return DEFAULT_RANGE;
}

/** "80/tcp" → [80, "tcp"]; tcp when no protocol is named. */
export function parsePortKey(key: string): [number, PortProto] {
  const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(key);
  const port = m ? Number(m[1]) : NaN;
  if (!m || port < 1 || port > 65535) throw new InvalidArgumentError(`invalid container port ${JSON.stringify(key)} (PORT[/tcp|udp|sctp])`);
  return [port, (m[2]?.toLowerCase() ?? "tcp") as PortProto];
}

function parseHostPort(text: string, key: string): [number, number] | undefined {
  if (text === "" || text === "0") return undefined;
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  const start = m ? Number(m[1]) : NaN;
  const end = m?.[2] !== undefined ? Number(m[2]) : start;
  if (!m || start < 1 || end > 65535 || end < start) throw new InvalidArgumentError(`invalid host port ${JSON.stringify(text)} for ${key}`);
  return [start, end];
}

/** "" and "0.0.0.0" mean every address; anything else must be an IPv4 address (IPv6 is not done yet). */
function normalizeHostIp(ip: string): string {
  if (ip === "" || ip === "0.0.0.0") return "0.0.0.0";
  if (ip.includes(":")) throw new NotImplementedError(`publishing on IPv6 address ${ip} is not supported yet`);
  return formatIPv4(parseIPv4(ip, "host IP"));
}

export type PortProbe = (proto: PortProto, hostIp: string, port: number) => Promise<boolean>;

/** True when a socket can be bound to ip:port on the host right now (nobody else listens there). */
export const probeHostPort: PortProbe = (proto, hostIp, port) =>
  new Promise((resolve) => {
    if (proto === "udp") {
      const sock = dgram.createSocket("udp4");
      sock.once("error", () => resolve(false));
      sock.bind({ port, address: hostIp, exclusive: true }, () => sock.close(() => resolve(true)));
      return;
    }
    // sctp has no socket in Node; its netfilter rule is all there is.
    if (proto === "sctp") return resolve(true);
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ port, host: hostIp, exclusive: true }, () => srv.close(() => resolve(true)));
  });

interface Holding {
  owner: string;
  hostIp: string;
}

/**
 * Which container holds which host port, in memory: the engine reserves
 * again from its container records after a restart. 0.0.0.0 conflicts with
 * every address of the same port and protocol.
 */
export class HostPortAllocator {
  private readonly held = new Map<string, Holding[]>();
  private readonly next = new Map<PortProto, number>();

  constructor(
    private readonly range: [number, number] = ephemeralRange(),
    private readonly probe: PortProbe = probeHostPort,
  ) {}

  private holders(proto: PortProto, port: number): Holding[] {
    return this.held.get(`${proto}/${port}`) ?? [];
  }

  private clash(proto: PortProto, hostIp: string, port: number): Holding | undefined {
    return this.holders(proto, port).find((h) => h.hostIp === hostIp || h.hostIp === "0.0.0.0" || hostIp === "0.0.0.0");
  }

  private hold(owner: string, proto: PortProto, hostIp: string, port: number): void {
    const key = `${proto}/${port}`;
    this.held.set(key, [...(this.held.get(key) ?? []), { owner, hostIp }]);
  }

  /** Records a port held already (a container's record after a daemon restart). */
  reserve(owner: string, proto: PortProto, hostIp: string, port: number): void {
    const ip = normalizeHostIp(hostIp);
    const other = this.clash(proto, ip, port);
    if (other && other.owner !== owner) throw portInUse(ip, port);
    if (!other) this.hold(owner, proto, ip, port);
  }

  private async free(proto: PortProto, hostIp: string, port: number): Promise<boolean> {
    return !this.clash(proto, hostIp, port) && (await this.probe(proto, hostIp, port));
  }

  /**
   * A host port for `owner`: `wanted` exactly (a single port), the first
   * free one of a range, or one from the ephemeral range, going round from
   * the last one given.
   */
  async allocate(owner: string, proto: PortProto, hostIp: string, wanted?: [number, number]): Promise<number> {
    const ip = normalizeHostIp(hostIp);
    if (wanted && wanted[0] === wanted[1]) {
      if (!(await this.free(proto, ip, wanted[0]))) throw portInUse(ip, wanted[0]);
      this.hold(owner, proto, ip, wanted[0]);
      return wanted[0];
    }
    const [first, last] = wanted ?? this.range;
    const count = last - first + 1;
    const start = wanted ? first : Math.min(Math.max(this.next.get(proto) ?? first, first), last);
    for (let i = 0; i < count; i++) {
      const port = first + ((start - first + i) % count);
      if (await this.free(proto, ip, port)) {
        this.hold(owner, proto, ip, port);
        if (!wanted) this.next.set(proto, port + 1 > last ? first : port + 1);
        return port;
      }
    }
    throw new InternalError(
      wanted
        ? `Bind for ${ip}:${first}-${last} failed: all ports are allocated`
        : `no host port available in the range ${first}-${last} (all allocated)`,
    );
  }

  /** Gives back every port `owner` holds. */
  release(owner: string): void {
    for (const [key, list] of this.held) {
      const kept = list.filter((h) => h.owner !== owner);
      if (kept.length) this.held.set(key, kept);
      else this.held.delete(key);
    }
  }
}

/** Docker's words (its status is 500: a driver failure at start, not a bad request). */
function portInUse(ip: string, port: number): InternalError {
  return new InternalError(`Bind for ${ip}:${port} failed: port is already allocated`);
}

export interface PublishedPorts {
  forwards: PortForward[];
  /** NetworkSettings.Ports as Docker reports it: every key, actual host ports, null when not published. */
  ports: PortMap;
}

/**
 * Resolves a container's PortBindings against its address: the host ports
 * it gets and the DNAT forwards. On failure every port `owner` holds is
 * given back (a container's ports are resolved in one go, at its start).
 */
export async function resolvePortBindings(
  owner: string,
  bindings: PortMap,
  containerIp: string,
  allocator: HostPortAllocator,
): Promise<PublishedPorts> {
  const forwards: PortForward[] = [];
  const ports: PortMap = {};
  try {
    for (const [key, list] of Object.entries(bindings)) {
      const [containerPort, proto] = parsePortKey(key);
      const portKey = `${containerPort}/${proto}`;
      if (!list || list.length === 0) {
        ports[portKey] ??= null;
        continue;
      }
      const out: PortBinding[] = [];
      for (const b of list) {
        if (typeof b !== "object" || b === null) throw new InvalidArgumentError(`invalid port binding for ${key}`);
        const hostIp = normalizeHostIp(String(b.HostIp ?? ""));
        const hostPort = await allocator.allocate(owner, proto, hostIp, parseHostPort(String(b.HostPort ?? ""), key));
        forwards.push({ proto, hostIp, hostPort, containerIp, containerPort });
        out.push({ HostIp: hostIp, HostPort: String(hostPort) });
      }
      ports[portKey] = [...(ports[portKey] ?? []), ...out];
    }
  } catch (err) {
    allocator.release(owner);
    throw err;
  }
  return { forwards, ports };
}
