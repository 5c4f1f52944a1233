/**
 * IP address management for hako's networks, persisted in one JSON file
 * (written atomically after every change), so an address is never handed
 * out twice, also across daemon restarts.
 *
 * A pool per network: its subnet, the gateway (reserved, never handed out),
 * an optional ip-range that automatic allocation stays within (an explicit
 * `--ip` may be anywhere in the subnet, as in Docker), and the addresses in
 * use with their owner. Automatic allocation goes round from the last
 * address given, as libnetwork's does, so a just-released address is not
 * reused at once (a stale ARP entry or connection would reach the new owner).
 */
import { existsSync, readFileSync } from "node:fs";
import { ConflictError, InternalError, InvalidArgumentError, NotFoundError, UnavailableError } from "../common/errors.ts";
import { writeFileAtomic } from "../common/fs.ts";
import {
  contains,
  covers,
  formatIPv4,
  formatSubnet,
  lastAddress,
  overlaps,
  parseIPv4,
  parseSubnet,
  type Subnet,
} from "./subnet.ts";

export interface PoolRequest {
  subnet: string;
  /** Default: the first address of the subnet. */
  gateway?: string;
  /** A sub-range of the subnet for automatic allocation. */
  ipRange?: string;
}

export interface Pool {
  network: string;
  subnet: string;
  gateway: string;
  ipRange?: string;
  /** address → owner (a container id, or whatever the caller names). */
  allocated: Record<string, string>;
}

interface PoolRecord {
  subnet: string;
  gateway: string;
  ipRange?: string;
  allocated: Record<string, string>;
  /** The last address handed out automatically: the next search starts after it. */
  last?: string;
}

interface IpamFile {
  version: 1;
  pools: Record<string, PoolRecord>;
}

/** The addresses a subnet can hand out: all but the network and broadcast addresses (up to /30). */
function hostRange(s: Subnet): { first: number; last: number } {
  if (s.prefix >= 31) return { first: s.base, last: lastAddress(s) };
  return { first: s.base + 1, last: lastAddress(s) - 1 };
}

export class Ipam {
  private data: IpamFile;

  private constructor(
    private readonly file: string,
    data: IpamFile,
  ) {
    this.data = data;
  }

  /** Opens (or starts) the store at `file`. A corrupt file is an error, never silently emptied. */
  static open(file: string): Ipam {
    if (!existsSync(file)) return new Ipam(file, { version: 1, pools: {} });
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new InternalError(`IPAM state ${file} is unreadable: ${(err as Error).message}`, { cause: err });
    }
    const data = parsed as IpamFile;
    if (typeof data !== "object" || data === null || data.version !== 1 || typeof data.pools !== "object" || data.pools === null) {
      throw new InternalError(`IPAM state ${file} has an unknown format`);
    }
    return new Ipam(file, data);
  }

  private persist(): void {
    writeFileAtomic(this.file, JSON.stringify(this.data, null, 2) + "\n", 0o600);
  }

  private record(network: string): PoolRecord {
    const rec = this.data.pools[network];
    if (!rec) throw new NotFoundError(`network ${network} has no address pool`);
    return rec;
  }

  private static view(network: string, rec: PoolRecord): Pool {
    return {
      network,
      subnet: rec.subnet,
      gateway: rec.gateway,
      ...(rec.ipRange ? { ipRange: rec.ipRange } : {}),
      allocated: { ...rec.allocated },
    };
  }

  /**
   * Creates the pool of a network. Refuses a subnet that overlaps another
   * network's (Docker: "Pool overlaps with other one on this address space").
   */
  addPool(network: string, req: PoolRequest): Pool {
    if (this.data.pools[network]) throw new ConflictError(`network ${network} already has an address pool`);
    const subnet = parseSubnet(req.subnet);
    if (subnet.prefix > 30) throw new InvalidArgumentError(`subnet ${req.subnet} is too small (at most /30)`);
    for (const [other, rec] of Object.entries(this.data.pools)) {
      if (overlaps(subnet, parseSubnet(rec.subnet))) {
        throw new ConflictError(`Pool overlaps with other one on this address space (${formatSubnet(subnet)} and network ${other}'s ${rec.subnet})`);
      }
    }
    const hosts = hostRange(subnet);
    let gateway = hosts.first;
    if (req.gateway) {
      gateway = parseIPv4(req.gateway, "gateway");
      if (!contains(subnet, gateway)) throw new InvalidArgumentError(`gateway ${req.gateway} is not in subnet ${req.subnet}`);
      if (gateway < hosts.first || gateway > hosts.last) throw new InvalidArgumentError(`gateway ${req.gateway} is the network or broadcast address of ${req.subnet}`);
    }
    let ipRange: string | undefined;
    if (req.ipRange) {
      const range = parseSubnet(req.ipRange, "ip-range");
      if (!covers(subnet, range)) throw new InvalidArgumentError(`ip-range ${req.ipRange} is not inside subnet ${req.subnet}`);
      ipRange = formatSubnet(range);
    }
    const rec: PoolRecord = { subnet: formatSubnet(subnet), gateway: formatIPv4(gateway), allocated: {}, ...(ipRange ? { ipRange } : {}) };
    this.data.pools[network] = rec;
    this.persist();
    return Ipam.view(network, rec);
  }

  /** Removes a network's pool with whatever it still holds (the caller refuses networks in use). */
  removePool(network: string): void {
    if (!this.data.pools[network]) return;
    delete this.data.pools[network];
    this.persist();
  }

  pool(network: string): Pool | undefined {
    const rec = this.data.pools[network];
    return rec ? Ipam.view(network, rec) : undefined;
  }

  pools(): Pool[] {
    return Object.entries(this.data.pools).map(([n, rec]) => Ipam.view(n, rec));
  }

  /** Every subnet in use by a pool (for choosing a new network's subnet). */
  subnets(): Subnet[] {
    return Object.values(this.data.pools).map((rec) => parseSubnet(rec.subnet));
  }

  /**
   * Hands an address of the network to `owner`: `address` when given (it must
   * be free, in the subnet, not the gateway), else the next free one.
   */
  allocate(network: string, owner: string, address?: string): string {
    const rec = this.record(network);
    const subnet = parseSubnet(rec.subnet);
    const hosts = hostRange(subnet);
    const gateway = parseIPv4(rec.gateway);
    let chosen: number;
    if (address) {
      chosen = parseIPv4(address);
      if (!contains(subnet, chosen)) throw new InvalidArgumentError(`address ${address} is not in network ${network}'s subnet ${rec.subnet}`);
      if (chosen < hosts.first || chosen > hosts.last || chosen === gateway) {
        throw new InvalidArgumentError(`address ${address} is reserved in network ${network} (network, broadcast or gateway address)`);
      }
      const holder = rec.allocated[formatIPv4(chosen)];
      if (holder !== undefined) throw new ConflictError(`Address already in use: ${address} in network ${network}`);
    } else {
      chosen = this.nextFree(rec, subnet, gateway, network);
      rec.last = formatIPv4(chosen);
    }
    rec.allocated[formatIPv4(chosen)] = owner;
    this.persist();
    return formatIPv4(chosen);
  }

  private nextFree(rec: PoolRecord, subnet: Subnet, gateway: number, network: string): number {
    const hosts = hostRange(subnet);
    let { first, last } = hosts;
    if (rec.ipRange) {
      const range = parseSubnet(rec.ipRange);
      first = Math.max(first, range.base);
      last = Math.min(last, lastAddress(range));
    }
    const count = last - first + 1;
    const after = rec.last !== undefined ? parseIPv4(rec.last) : first - 1;
    const start = after >= first && after <= last ? after + 1 : first;
    for (let i = 0; i < count; i++) {
      const candidate = first + ((start - first + i) % count);
      if (candidate === gateway) continue;
      if (rec.allocated[formatIPv4(candidate)] === undefined) return candidate;
    }
    throw new UnavailableError(`no available IPv4 addresses on network ${network}'s address pool ${rec.ipRange ?? rec.subnet}`);
  }

  /** Returns an address to the pool; releasing a free address is a no-op. */
  release(network: string, address: string): void {
    const rec = this.data.pools[network];
    if (!rec) return;
    const key = formatIPv4(parseIPv4(address));
    if (rec.allocated[key] === undefined) return;
    delete rec.allocated[key];
    this.persist();
  }

  /** Returns every address `owner` holds, in every network; the addresses it held. */
  releaseOwner(owner: string): string[] {
    const freed: string[] = [];
    for (const rec of Object.values(this.data.pools)) {
      for (const [addr, holder] of Object.entries(rec.allocated)) {
        if (holder === owner) {
          delete rec.allocated[addr];
          freed.push(addr);
        }
      }
    }
    if (freed.length > 0) this.persist();
    return freed;
  }
}
