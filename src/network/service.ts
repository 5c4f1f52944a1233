/**
 * NetworkService: hako's networks as Docker shows them (the `bridge`, `host`
 * and `none` networks every daemon has, and user-defined bridge networks),
 * their store on disk, and the endpoints of running containers on them.
 *
 * State on disk, under `<data-root>/network/`:
 *   networks.json   every network with its endpoints (atomic writes)
 *   ipam.json       the address pools (ipam.ts)
 *
 * The kernel side goes through bridge.ts (one netlink batch per attach) and
 * netfilter.ts; the default bridge is made in the kernel on first use, user
 * networks at create. Endpoints exist only for running containers: a
 * container that stops loses its namespace and with it its veth, so
 * `releaseContainer` only gives its addresses and ports back and removes
 * its DNAT rules in the background (the kernel work would otherwise sit on
 * the container's exit path, see docs/networking.md).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import {
  ConflictError,
  ForbiddenError,
  HakoError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
} from "../common/errors.ts";
import { filterTime, matchesLabels, matchesRegexp } from "../common/filters.ts";
import { writeFileAtomic, type Durability } from "../common/fs.ts";
import { randomHexId } from "../common/ids.ts";
import { BridgeDriver, chooseNetworkSubnet, DEFAULT_BRIDGE, DEFAULT_MTU, macFromIPv4 } from "./bridge.ts";
import { Ipam } from "./ipam.ts";
import { Netfilter, type PortForward } from "./netfilter.ts";
import { listLinks, runNetlink, type NetlinkOp } from "./netlink.ts";
import { HostPortAllocator, resolvePortBindings, type PortMap } from "./ports.ts";
import { covers, formatSubnet, overlaps, parseSubnet } from "./subnet.ts";

export type NetworkDriver = "bridge" | "host" | "null";

export const PREDEFINED_NETWORKS = ["bridge", "host", "none"] as const;

const BRIDGE_NAME_OPTION = "com.docker.network.bridge.name";
const MASQUERADE_OPTION = "com.docker.network.bridge.enable_ip_masquerade";
const MTU_OPTION = "com.docker.network.driver.mtu";

export interface IpamConfigEntry {
  Subnet?: string;
  Gateway?: string;
  IPRange?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

/** An endpoint as a network's `Containers` map shows it. */
export interface NetworkContainer {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}

/** Docker's Network (the API's inspect and list shape). */
export interface NetworkResource {
  Name: string;
  Id: string;
  Created: string;
  Scope: "local";
  Driver: NetworkDriver;
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: IpamConfigEntry[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, NetworkContainer>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

/** Docker's EndpointSettings (a container's NetworkSettings.Networks[name]). */
export interface EndpointSettings {
  IPAMConfig: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] } | null;
  Links: string[] | null;
  Aliases: string[] | null;
  MacAddress: string;
  DriverOpts: Record<string, string> | null;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  DNSNames: string[] | null;
}

/** What the service keeps of one container's endpoint on one network. */
interface EndpointRecord {
  containerId: string;
  /** Without the leading slash. */
  name: string;
  endpointId: string;
  pid: number;
  /** The inode of the container's network namespace: a pid reused by another process does not match. */
  netnsIno?: number;
  aliases: string[];
  /** Asked for with --ip: kept in IPAMConfig. */
  requestedIp?: string;
  ip?: string;
  prefixLen?: number;
  mac?: string;
  hostIfName?: string;
  /** The interface inside the container (eth0, eth1, ...). */
  ifName?: string;
  /** This endpoint carries the container's default route. */
  gatewayRoute?: boolean;
}

interface NetworkRecord {
  Name: string;
  Id: string;
  Created: string;
  Driver: NetworkDriver;
  Internal: boolean;
  Attachable: boolean;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  IPAMOptions: Record<string, string> | null;
  /** The Linux bridge (bridge driver only). */
  bridge?: string;
  /** The bridge was there before the network (the user's own, named by com.docker.network.bridge.name): it stays when the network goes, as libnetwork leaves it. */
  bridgeExisted?: boolean;
  subnet?: string;
  /** The subnet was picked from the pools, not given: containers cannot ask for addresses in it (Docker's rule). */
  subnetAuto?: boolean;
  /** --aux-address: names for addresses the pool holds back from containers. */
  auxAddresses?: Record<string, string>;
  gateway?: string;
  ipRange?: string;
  endpoints: Record<string, EndpointRecord>;
}

interface PublishedRecord {
  forwards: PortForward[];
  ports: PortMap;
}

interface StoreFile {
  version: 1;
  networks: NetworkRecord[];
  /** containerId → its published ports (reserved again after a restart). */
  published: Record<string, PublishedRecord>;
}

export interface CreateNetworkRequest {
  Name: string;
  Driver?: string;
  Internal?: boolean;
  Attachable?: boolean;
  Ingress?: boolean;
  EnableIPv6?: boolean;
  ConfigOnly?: boolean;
  ConfigFrom?: { Network?: string } | null;
  Scope?: string;
  IPAM?: { Driver?: string; Config?: IpamConfigEntry[] | null; Options?: Record<string, string> | null } | null;
  Options?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

export interface ContainerRef {
  id: string;
  /** With or without the leading slash. */
  name: string;
  aliases?: string[];
  /** The container's init: its /proc/<pid>/ns/net is the namespace to attach. */
  pid: number;
}

export interface ConnectOptions {
  ip?: string;
  aliases?: string[];
  macAddress?: string;
  /** lo is up already: the container's process set it before it exec'd (hakod's plans ask for it). */
  loopbackUp?: boolean;
}

export type NetworkFilters = Record<string, string[]>;

/** Called when a user network's endpoints change, with the names it now resolves (dns.ts). */
export interface NetworkObserver {
  networkReady?(net: { id: string; name: string; gateway: string; subnet: string }): Promise<void> | void;
  networkRemoved?(id: string): Promise<void> | void;
  namesChanged?(id: string, names: Map<string, string>): void;
  close?(): Promise<void>;
}

export interface NetworkServiceOptions {
  dataRoot: string;
  /** The default network's Linux bridge (hako0). */
  defaultBridge?: string;
  /** Netfilter chain prefix (HAKO); test daemons use their own. */
  chainPrefix?: string;
  /** Pre-made pieces (tests). */
  netfilter?: Netfilter;
  ports?: HostPortAllocator;
  observer?: NetworkObserver;
}

/** The inode of a process's network namespace, or undefined when the process is gone. */
function netnsInode(pid: number): number | undefined {
  try {
    return statSync(`/proc/${pid}/ns/net`).ino;
  } catch {
    return undefined;
  }
}

function newId(): string {
  return randomHexId();
}

function now(): string {
  return new Date().toISOString();
}

function stripSlash(name: string): string {
  return name.startsWith("/") ? name.slice(1) : name;
}

function checkFilters(filters: NetworkFilters, accepted: readonly string[]): void {
  for (const key of Object.keys(filters)) {
    if (!accepted.includes(key)) throw new InvalidArgumentError(`invalid filter '${key}'`);
  }
}

/** A MAC address as Docker accepts one (six hex pairs). */
function parseMac(mac: string): string {
  if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(mac)) throw new InvalidArgumentError(`invalid MAC address ${JSON.stringify(mac)}`);
  return mac.toLowerCase();
}

/**
 * Serializes the service's changes: each reads and rewrites the store and
 * may wait for the kernel in between.
 */
class Lock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => {});
    return next;
  }
}

export class NetworkService {
  readonly ipam: Ipam;
  readonly netfilter: Netfilter;
  readonly driver: BridgeDriver;
  readonly ports: HostPortAllocator;
  private readonly file: string;
  private readonly defaultBridge: string;
  private data: StoreFile;
  private readonly lock = new Lock();
  /** Networks whose bridge and rules this hakod made or checked (the default one is made on first use). */
  private readonly ensured = new Set<string>();
  private observer: NetworkObserver | undefined;

  constructor(opts: NetworkServiceOptions) {
    const dir = path.join(opts.dataRoot, "network");
    this.file = path.join(dir, "networks.json");
    this.ipam = Ipam.open(path.join(dir, "ipam.json"));
    this.netfilter = opts.netfilter ?? new Netfilter(opts.chainPrefix ? { prefix: opts.chainPrefix } : {});
    this.driver = new BridgeDriver(this.netfilter);
    this.ports = opts.ports ?? new HostPortAllocator();
    this.defaultBridge = opts.defaultBridge ?? DEFAULT_BRIDGE;
    this.observer = opts.observer;
    this.data = this.load();
    this.ensurePredefined();
  }

  /** Sets who hears of user networks and their names (the DNS resolver). */
  setObserver(observer: NetworkObserver | undefined): void {
    this.observer = observer;
  }

  // ---------------------------------------------------------------- store

  private load(): StoreFile {
    if (!existsSync(this.file)) return { version: 1, networks: [], published: {} };
    let parsed: StoreFile;
    try {
      parsed = JSON.parse(readFileSync(this.file, "utf8")) as StoreFile;
    } catch (err) {
      throw new InternalError(`network store ${this.file} is unreadable: ${(err as Error).message}`, { cause: err });
    }
    if (parsed?.version !== 1 || !Array.isArray(parsed.networks)) throw new InternalError(`network store ${this.file} has an unknown format`);
    parsed.published ??= {};
    return parsed;
  }

  /** Endpoints come and go with containers, and start-up reconciles them with the live ones: those writes are "atomic". */
  private persist(durability: Durability = "durable"): void {
    this.persistPending = false;
    writeFileAtomic(this.file, JSON.stringify(this.data, null, 2) + "\n", 0o600, durability);
  }

  private persistPending = false;

  /**
   * An endpoint change, written at the end of this turn of the event loop
   * (one write for what a turn changed): a start's connect and an exit's
   * release do not wait for the file, which start-up reconciles anyway.
   */
  private persistSoon(): void {
    if (this.persistPending) return;
    this.persistPending = true;
    setImmediate(() => {
      if (this.persistPending) this.persist("atomic");
    });
  }

  private ensurePredefined(): void {
    let changed = false;
    if (!this.data.networks.some((n) => n.Name === "bridge")) {
      const subnet = formatSubnet(chooseNetworkSubnet(this.ipam.subnets()));
      const rec: NetworkRecord = {
        Name: "bridge",
        Id: newId(),
        Created: now(),
        Driver: "bridge",
        Internal: false,
        Attachable: false,
        Options: {
          "com.docker.network.bridge.default_bridge": "true",
          "com.docker.network.bridge.enable_icc": "true",
          [MASQUERADE_OPTION]: "true",
          "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
          [BRIDGE_NAME_OPTION]: this.defaultBridge,
          [MTU_OPTION]: String(DEFAULT_MTU),
        },
        Labels: {},
        IPAMOptions: null,
        bridge: this.defaultBridge,
        endpoints: {},
      };
      const pool = this.ipam.pool(rec.Id) ?? this.ipam.addPool(rec.Id, { subnet });
      rec.subnet = pool.subnet;
      rec.gateway = pool.gateway;
      this.data.networks.unshift(rec);
      changed = true;
    }
    for (const [name, driver] of [
      ["host", "host"],
      ["none", "null"],
    ] as const) {
      if (this.data.networks.some((n) => n.Name === name)) continue;
      this.data.networks.push({
        Name: name,
        Id: newId(),
        Created: now(),
        Driver: driver,
        Internal: false,
        Attachable: false,
        Options: {},
        Labels: {},
        IPAMOptions: null,
        endpoints: {},
      });
      changed = true;
    }
    if (changed) this.persist();
  }

  /**
   * Forgets endpoints whose container is gone (its process or namespace no
   * longer exists) without anyone releasing them: a safety net for an exit
   * the engine did not report, so a network is never held by a ghost.
   */
  private sweepStale(): void {
    const gone = new Set<string>();
    for (const net of this.data.networks) {
      for (const [id, ep] of Object.entries(net.endpoints)) {
        const ino = netnsInode(ep.pid);
        if (ino !== undefined && (ep.netnsIno === undefined || ino === ep.netnsIno)) continue;
        if (ep.ip) this.ipam.release(net.Id, ep.ip);
        delete net.endpoints[id];
        gone.add(id);
        this.notifyNames(net);
      }
    }
    if (gone.size === 0) return;
    for (const id of gone) {
      if (this.data.networks.some((n) => n.endpoints[id])) continue;
      if (this.data.published[id]) {
        delete this.data.published[id];
        void this.netfilter.unpublish(id).then(() => this.ports.release(id), () => {});
      }
    }
    this.persistSoon();
  }

  // ---------------------------------------------------------------- lookup

  private isPredefined(net: NetworkRecord): boolean {
    return (PREDEFINED_NETWORKS as readonly string[]).includes(net.Name);
  }

  /** A network by full id, name, or unique id prefix (dockerd's order). */
  private find(ref: string): NetworkRecord {
    if (typeof ref !== "string" || ref === "") throw new InvalidArgumentError("network name or id cannot be empty");
    const byId = this.data.networks.find((n) => n.Id === ref);
    if (byId) return byId;
    const byName = this.data.networks.find((n) => n.Name === ref);
    if (byName) return byName;
    const prefix = this.data.networks.filter((n) => n.Id.startsWith(ref));
    if (prefix.length === 1) return prefix[0]!;
    if (prefix.length > 1) throw new InvalidArgumentError(`network ${ref} is ambiguous (${prefix.length} matches found on id)`);
    throw new NotFoundError(`network ${ref} not found`);
  }

  /** The driver of a network, undefined when there is no such network (events name it without a full inspect). */
  driverOf(ref: string): string | undefined {
    try {
      return this.find(ref).Driver;
    } catch {
      return undefined;
    }
  }

  has(ref: string): boolean {
    try {
      this.find(ref);
      return true;
    } catch {
      return false;
    }
  }

  /** GET /networks/{id}. */
  inspect(ref: string): NetworkResource {
    this.sweepStale();
    return this.view(this.find(ref));
  }

  private view(net: NetworkRecord): NetworkResource {
    const config: IpamConfigEntry[] = [];
    if (net.subnet) {
      config.push({ Subnet: net.subnet, ...(net.ipRange ? { IPRange: net.ipRange } : {}), Gateway: net.gateway!, ...(net.auxAddresses ? { AuxiliaryAddresses: { ...net.auxAddresses } } : {}) });
    }
    const containers: Record<string, NetworkContainer> = {};
    for (const ep of Object.values(net.endpoints)) {
      containers[ep.containerId] = {
        Name: ep.name,
        EndpointID: ep.endpointId,
        MacAddress: ep.mac ?? "",
        IPv4Address: ep.ip ? `${ep.ip}/${ep.prefixLen}` : "",
        IPv6Address: "",
      };
    }
    return {
      Name: net.Name,
      Id: net.Id,
      Created: net.Created,
      Scope: "local",
      Driver: net.Driver,
      EnableIPv6: false,
      IPAM: { Driver: "default", Options: net.IPAMOptions, Config: config },
      Internal: net.Internal,
      Attachable: net.Attachable,
      Ingress: false,
      ConfigFrom: { Network: "" },
      ConfigOnly: false,
      Containers: containers,
      Options: { ...net.Options },
      Labels: { ...net.Labels },
    };
  }

  /** GET /networks: filters name, id, driver, label, type (custom|builtin), scope, dangling. */
  list(filters: NetworkFilters = {}): NetworkResource[] {
    checkFilters(filters, ["name", "id", "driver", "label", "type", "scope", "dangling"]);
    for (const t of filters.type ?? []) {
      if (t !== "custom" && t !== "builtin") throw new InvalidArgumentError(`invalid filter: 'type'='${t}'`);
    }
    let dangling: boolean | undefined;
    for (const d of filters.dangling ?? []) {
      const v = d.toLowerCase();
      if (v === "true" || v === "1") dangling = true;
      else if (v === "false" || v === "0") dangling = false;
      else throw new InvalidArgumentError(`invalid filter 'dangling=${d}'`);
    }
    this.sweepStale();
    return this.data.networks
      .filter((n) => {
        if (filters.name?.length && !matchesRegexp(filters.name, n.Name)) return false;
        if (filters.id?.length && !matchesRegexp(filters.id, n.Id)) return false;
        if (filters.driver?.length && !filters.driver.includes(n.Driver)) return false;
        if (filters.label?.length && !matchesLabels(filters.label, n.Labels)) return false;
        if (filters.scope?.length && !filters.scope.includes("local")) return false;
        const builtin = this.isPredefined(n);
        if (filters.type?.length && !filters.type.includes(builtin ? "builtin" : "custom")) return false;
        if (dangling !== undefined) {
          const unused = !builtin && Object.keys(n.endpoints).length === 0;
          if (unused !== dangling) return false;
        }
        return true;
      })
      .map((n) => this.view(n));
  }

  // ---------------------------------------------------------------- create, remove, prune

  /** POST /networks/create: the new network's id and Docker's warning (none so far). */
  create(req: CreateNetworkRequest): Promise<{ Id: string; Warning: string }> {
    return this.lock.run(() => this.createLocked(req));
  }

  private async createLocked(req: CreateNetworkRequest): Promise<{ Id: string; Warning: string }> {
    const name = req.Name;
    if (typeof name !== "string" || name.trim() === "") throw new InvalidArgumentError("network name cannot be empty");
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new InvalidArgumentError(`invalid network name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    if ((PREDEFINED_NETWORKS as readonly string[]).includes(name)) throw new ForbiddenError(`operation is not permitted on predefined ${name} network `);
    if (this.data.networks.some((n) => n.Name === name)) throw new ConflictError(`network with name ${name} already exists`);
    const driver = req.Driver === undefined || req.Driver === "" ? "bridge" : req.Driver;
    if (driver === "host" || driver === "null") throw new ForbiddenError(`only one instance of "${driver}" network is allowed`);
    if (driver !== "bridge") throw new NotFoundError(`plugin "${driver}" not found`);
    if (req.EnableIPv6) throw new InvalidArgumentError("IPv6 networks are not supported by hako yet");
    if (req.Ingress) throw new ForbiddenError("ingress networks need a swarm manager: this node is not part of a swarm");
    if (req.ConfigOnly || (req.ConfigFrom && req.ConfigFrom.Network)) throw new InvalidArgumentError("config-only networks are not supported by hako");
    if (req.Scope && req.Scope !== "local") throw new InvalidArgumentError(`scope ${JSON.stringify(req.Scope)} is not supported by the bridge driver (local only)`);
    const ipamDriver = req.IPAM?.Driver;
    if (ipamDriver && ipamDriver !== "default") throw new NotFoundError(`plugin "${ipamDriver}" not found`);
    const configs = (req.IPAM?.Config ?? []).filter((c) => c && (c.Subnet || c.Gateway || c.IPRange || Object.keys(c.AuxiliaryAddresses ?? {}).length));
    const v4 = configs.filter((c) => !(c.Subnet ?? "").includes(":"));
    if (v4.length !== configs.length) throw new InvalidArgumentError("IPv6 subnets are not supported by hako yet");
    if (v4.length > 1) throw new InvalidArgumentError("hako supports one IPv4 subnet per network");
    const cfg = v4[0];
    if (cfg && !cfg.Subnet && (cfg.Gateway || cfg.IPRange || cfg.AuxiliaryAddresses)) {
      throw new InvalidArgumentError(`${cfg.IPRange ? "ip-range" : cfg.Gateway ? "gateway" : "aux-address"} can't be specified without a subnet`);
    }

    const options = { ...(req.Options ?? {}) };
    const labels = { ...(req.Labels ?? {}) };
    for (const [k, v] of [...Object.entries(options), ...Object.entries(labels)]) {
      if (typeof v !== "string") throw new InvalidArgumentError(`invalid option or label ${JSON.stringify(k)}: the value must be a string`);
    }
    const id = newId();
    const bridge = options[BRIDGE_NAME_OPTION] || `br-${id.slice(0, 12)}`;
    if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(bridge)) throw new InvalidArgumentError(`invalid bridge name ${JSON.stringify(bridge)}`);
    if (this.data.networks.some((n) => n.bridge === bridge)) throw new ConflictError(`bridge ${bridge} is already used by another network`);
    const bridgeExisted = listLinks().some((l) => l.name === bridge);
    let mtu = DEFAULT_MTU;
    if (options[MTU_OPTION] !== undefined) {
      mtu = Number(options[MTU_OPTION]);
      if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new InvalidArgumentError(`invalid MTU ${JSON.stringify(options[MTU_OPTION])}`);
    }

    let subnet: string;
    if (cfg?.Subnet) {
      const s = parseSubnet(cfg.Subnet);
      for (const other of this.data.networks) {
        if (other.subnet && overlaps(s, parseSubnet(other.subnet))) {
          throw new ForbiddenError(`invalid pool request: Pool overlaps with other one on this address space`);
        }
      }
      if (cfg.IPRange && !covers(s, parseSubnet(cfg.IPRange, "ip-range"))) {
        throw new InvalidArgumentError(`invalid pool request: ip-range ${cfg.IPRange} is not inside subnet ${cfg.Subnet}`);
      }
      if (cfg.Gateway && !covers(s, parseSubnet(`${cfg.Gateway}/32`, "gateway"))) {
        throw new InvalidArgumentError(`no matching subnet for gateway ${cfg.Gateway}`);
      }
      subnet = formatSubnet(s);
    } else {
      subnet = formatSubnet(chooseNetworkSubnet(this.ipam.subnets()));
    }
    const aux = cfg?.AuxiliaryAddresses ?? {};
    const pool = this.ipam.addPool(id, { subnet, ...(cfg?.Gateway ? { gateway: cfg.Gateway } : {}), ...(cfg?.IPRange ? { ipRange: cfg.IPRange } : {}) });
    try {
      // Held by the pool under their names: never given to a container.
      for (const [key, address] of Object.entries(aux)) {
        if (typeof address !== "string") throw new InvalidArgumentError(`invalid aux-address ${JSON.stringify(key)}: the address must be a string`);
        this.ipam.allocate(id, `aux:${key}`, address);
      }
    } catch (err) {
      this.ipam.removePool(id);
      throw err;
    }
    const rec: NetworkRecord = {
      Name: name,
      Id: id,
      Created: now(),
      Driver: "bridge",
      Internal: req.Internal === true,
      Attachable: req.Attachable === true,
      Options: options,
      Labels: labels,
      IPAMOptions: req.IPAM?.Options ?? {},
      bridge,
      ...(bridgeExisted ? { bridgeExisted: true } : {}),
      subnet: pool.subnet,
      ...(cfg?.Subnet ? {} : { subnetAuto: true }),
      ...(Object.keys(aux).length ? { auxAddresses: { ...aux } } : {}),
      gateway: pool.gateway,
      ...(pool.ipRange ? { ipRange: pool.ipRange } : {}),
      endpoints: {},
    };
    try {
      await this.ensureKernel(rec);
    } catch (err) {
      this.ipam.removePool(id);
      await this.driver.removeNetwork({ name: id.slice(0, 12), bridge, keepBridge: bridgeExisted }).catch(() => {});
      throw err;
    }
    this.data.networks.push(rec);
    this.persist();
    await this.notifyReady(rec);
    return { Id: id, Warning: "" };
  }

  private bridgeSpec(net: NetworkRecord) {
    const masq = net.Options[MASQUERADE_OPTION];
    const mtu = net.Options[MTU_OPTION] ? Number(net.Options[MTU_OPTION]) : DEFAULT_MTU;
    return {
      // Rules are owned by the id: names may be reused, and two daemons may have a "bridge".
      name: net.Id.slice(0, 12),
      bridge: net.bridge!,
      keepBridge: net.bridgeExisted === true,
      subnet: net.subnet!,
      gateway: net.gateway!,
      mtu,
      internal: net.Internal,
      masquerade: masq === undefined ? true : masq !== "false",
    };
  }

  /** The network's bridge, gateway address and rules (idempotent). */
  private async ensureKernel(net: NetworkRecord): Promise<void> {
    if (net.Driver !== "bridge") return;
    const spec = this.bridgeSpec(net);
    await this.driver.ensureNetwork(spec);
    // A bridge takes the lowest MAC of its ports unless it has its own: when that port goes, the
    // gateway's MAC changes under the containers' ARP caches and they lose it for seconds.
    await runNetlink([{ op: "link-set", name: spec.bridge, address: macFromIPv4(spec.gateway) }]);
    this.ensured.add(net.Id);
  }

  private userNetwork(net: NetworkRecord): boolean {
    return net.Driver === "bridge" && net.Name !== "bridge";
  }

  private async notifyReady(net: NetworkRecord): Promise<void> {
    if (!this.userNetwork(net) || !this.observer?.networkReady) return;
    await this.observer.networkReady({ id: net.Id, name: net.Name, gateway: net.gateway!, subnet: net.subnet! });
    this.notifyNames(net);
  }

  /** Names a user network resolves: container names, aliases, short ids → IPv4. */
  namesOf(ref: string): Map<string, string> {
    return this.names(this.find(ref));
  }

  private names(net: NetworkRecord): Map<string, string> {
    const out = new Map<string, string>();
    if (!this.userNetwork(net)) return out;
    for (const ep of Object.values(net.endpoints)) {
      if (!ep.ip) continue;
      // libnetwork answers "name" and "name.<network>" alike.
      for (const n of this.dnsNames(ep)) {
        out.set(n.toLowerCase(), ep.ip);
        out.set(`${n}.${net.Name}`.toLowerCase(), ep.ip);
      }
    }
    return out;
  }

  private dnsNames(ep: EndpointRecord): string[] {
    return [...new Set([ep.name, ...ep.aliases, ep.containerId.slice(0, 12)])];
  }

  private notifyNames(net: NetworkRecord): void {
    if (this.userNetwork(net)) this.observer?.namesChanged?.(net.Id, this.names(net));
  }

  /** DELETE /networks/{id}. */
  remove(ref: string): Promise<void> {
    return this.lock.run(async () => {
      const net = this.find(ref);
      if (this.isPredefined(net)) throw new ForbiddenError(`${net.Name} is a pre-defined network and cannot be removed`);
      this.sweepStale();
      if (Object.keys(net.endpoints).length > 0) {
        throw new ForbiddenError(`error while removing network: network ${net.Name} id ${net.Id} has active endpoints`);
      }
      await this.removeLocked(net);
    });
  }

  private async removeLocked(net: NetworkRecord): Promise<void> {
    await this.observer?.networkRemoved?.(net.Id);
    if (net.Driver === "bridge") await this.driver.removeNetwork(this.bridgeSpec(net));
    this.ensured.delete(net.Id);
    this.ipam.removePool(net.Id);
    this.data.networks = this.data.networks.filter((n) => n !== net);
    this.persist();
  }

  /** POST /networks/prune: user networks without endpoints; filters until, label, label!. */
  prune(filters: NetworkFilters = {}): Promise<{ NetworksDeleted: string[] }> {
    checkFilters(filters, ["until", "label", "label!"]);
    const cutoffs = (filters.until ?? []).map((v) => filterTime(v));
    return this.lock.run(async () => {
      this.sweepStale();
      const deleted: string[] = [];
      for (const net of [...this.data.networks]) {
        if (this.isPredefined(net) || Object.keys(net.endpoints).length > 0) continue;
        if (cutoffs.some((c) => Date.parse(net.Created) >= c)) continue;
        if (filters.label?.length && !matchesLabels(filters.label, net.Labels)) continue;
        if (filters["label!"]?.length && filters["label!"].some((l) => matchesLabels([l], net.Labels))) continue;
        await this.removeLocked(net);
        deleted.push(net.Name);
      }
      return { NetworksDeleted: deleted };
    });
  }

  // ---------------------------------------------------------------- endpoints

  /**
   * Connects a running container to a network: an address from IPAM, a veth
   * whose peer is born in the container's namespace (one netlink batch), the
   * default route when this is the container's first bridge network.
   */
  connectContainer(container: ContainerRef, ref: string, opts: ConnectOptions = {}): Promise<EndpointSettings> {
    return this.lock.run(() => this.connectLocked(container, ref, opts));
  }

  private async connectLocked(container: ContainerRef, ref: string, opts: ConnectOptions): Promise<EndpointSettings> {
    this.sweepStale();
    const net = this.find(ref);
    const name = stripSlash(container.name);
    if (net.endpoints[container.id]) throw new ForbiddenError(`endpoint with name ${name} already exists in network ${net.Name}`);
    if (!Number.isInteger(container.pid) || container.pid <= 0) {
      throw new ConflictError(`container ${name} is not running: no network namespace to connect to network ${net.Name}`);
    }
    const others = this.data.networks.filter((n) => n.endpoints[container.id]);
    if (net.Driver !== "bridge" || others.some((n) => n.Driver !== "bridge")) {
      if (others.length > 0 || net.Driver === "host") {
        throw new ForbiddenError(
          net.Driver === "host" || others.some((n) => n.Driver === "host")
            ? "container cannot be disconnected from host network or connected to host network"
            : "container cannot be connected to a network and to the none network at once",
        );
      }
    }
    const aliases = [...(container.aliases ?? []), ...(opts.aliases ?? [])].filter((a) => typeof a === "string" && a !== "");
    if (aliases.length > 0 && !this.userNetwork(net)) {
      throw new InvalidArgumentError("network-scoped alias is supported only for containers in user defined networks");
    }
    if (opts.ip && !this.userNetwork(net)) {
      throw new InvalidArgumentError("user specified IP address is supported on user defined networks only");
    }
    const netnsIno = netnsInode(container.pid);
    const ep: EndpointRecord = {
      containerId: container.id,
      name,
      endpointId: newId(),
      pid: container.pid,
      ...(netnsIno !== undefined ? { netnsIno } : {}),
      aliases: [...new Set(aliases)],
      ...(opts.ip ? { requestedIp: opts.ip } : {}),
    };
    if (net.Driver === "null" && !opts.loopbackUp) {
      // --network none: the namespace has lo only, and lo up, as Docker's.
      await runNetlink([{ op: "netns", netns: container.pid }, { op: "link-set", name: "lo", up: true }]);
    }
    if (net.Driver === "bridge") {
      if (!this.ensured.has(net.Id)) await this.ensureKernel(net);
      const mac = opts.macAddress ? parseMac(opts.macAddress) : undefined;
      const ip = this.ipam.allocate(net.Id, container.id, opts.ip);
      const prefixLen = parseSubnet(net.subnet!).prefix;
      const gatewayRoute = !others.some((n) => n.endpoints[container.id]?.gatewayRoute);
      try {
        const att = await this.driver.attach({
          netns: container.pid,
          bridge: net.bridge!,
          ifName: `eth${this.nextIfIndex(container.id)}`,
          address: `${ip}/${prefixLen}`,
          mtu: this.bridgeSpec(net).mtu,
          ...(mac ? { mac } : {}),
          ...(gatewayRoute && !net.Internal ? { gateway: net.gateway! } : {}),
          loopback: others.length === 0 && !opts.loopbackUp,
        });
        Object.assign(ep, { ip, prefixLen, mac: att.mac, hostIfName: att.hostIfName, ifName: att.ifName, gatewayRoute: gatewayRoute && !net.Internal });
      } catch (err) {
        this.ipam.release(net.Id, ip);
        if (HakoError.is(err)) throw err;
        throw new InternalError(`connect container ${name} to network ${net.Name}: ${(err as Error).message}`, { cause: err });
      }
    }
    net.endpoints[container.id] = ep;
    this.persistSoon();
    this.notifyNames(net);
    return this.endpointSettings(net, ep);
  }

  /** eth0, eth1, ...: the first index no endpoint of the container uses. */
  private nextIfIndex(containerId: string): number {
    const used = new Set<number>();
    for (const n of this.data.networks) {
      const ep = n.endpoints[containerId];
      const m = /^eth(\d+)$/.exec(ep?.ifName ?? "");
      if (m) used.add(Number(m[1]));
    }
    let i = 0;
    while (used.has(i)) i++;
    return i;
  }

  private endpointSettings(net: NetworkRecord, ep: EndpointRecord): EndpointSettings {
    return {
      IPAMConfig: ep.requestedIp ? { IPv4Address: ep.requestedIp } : null,
      Links: null,
      Aliases: this.aliasesOf(net, ep),
      MacAddress: ep.mac ?? "",
      DriverOpts: null,
      NetworkID: net.Id,
      EndpointID: ep.endpointId,
      Gateway: ep.ip ? net.gateway! : "",
      IPAddress: ep.ip ?? "",
      IPPrefixLen: ep.prefixLen ?? 0,
      IPv6Gateway: "",
      GlobalIPv6Address: "",
      GlobalIPv6PrefixLen: 0,
      DNSNames: this.userNetwork(net) ? this.dnsNames(ep) : null,
    };
  }

  /**
   * Aliases as the API up to 1.44 shows them: on a user network the
   * container's short ID is one (docker-compose 1 looks for it to tell a
   * container it already connected from one it must connect again).
   */
  private aliasesOf(net: NetworkRecord, ep: EndpointRecord): string[] | null {
    const aliases = this.userNetwork(net) ? [...new Set([...ep.aliases, ep.containerId.slice(0, 12)])] : ep.aliases;
    return aliases.length ? [...aliases] : null;
  }

  /** A container's endpoints, by network name (NetworkSettings.Networks). */
  endpointsOf(containerId: string): Record<string, EndpointSettings> {
    const out: Record<string, EndpointSettings> = {};
    for (const net of this.data.networks) {
      const ep = net.endpoints[containerId];
      if (ep) out[net.Name] = this.endpointSettings(net, ep);
    }
    return out;
  }

  /** The networks a container is on whose names resolve by DNS (user networks): their gateways. */
  dnsServersOf(containerId: string): string[] {
    return this.data.networks.filter((n) => n.endpoints[containerId] && this.userNetwork(n)).map((n) => n.gateway!);
  }

  /** Disconnects a running container: its veth goes (the peer with it), its address returns to the pool. */
  disconnectContainer(containerId: string, ref: string, opts: { force?: boolean } = {}): Promise<void> {
    return this.lock.run(async () => {
      const net = this.find(ref);
      const ep = net.endpoints[containerId];
      if (!ep) {
        if (opts.force) return;
        throw new ForbiddenError(`container ${containerId} is not connected to network ${net.Name}`);
      }
      if (net.Driver === "host") throw new ForbiddenError("container cannot be disconnected from host network or connected to host network");
      if (ep.hostIfName) await this.driver.detach(ep.hostIfName);
      if (ep.ip) this.ipam.release(net.Id, ep.ip);
      delete net.endpoints[containerId];
      this.persistSoon();
      this.notifyNames(net);
    });
  }

  /**
   * Forgets a container that stopped: its namespace is gone and the kernel
   * removed its veths, so only addresses, names and port rules are left to
   * give back. The returned promise is for the netfilter part, which the
   * caller need not wait for; ports return to the allocator once it is done.
   */
  releaseContainer(containerId: string): Promise<void> {
    return this.lock.run(async () => {
      let changed = false;
      for (const net of this.data.networks) {
        const ep = net.endpoints[containerId];
        if (!ep) continue;
        if (ep.ip) this.ipam.release(net.Id, ep.ip);
        delete net.endpoints[containerId];
        changed = true;
        this.notifyNames(net);
      }
      this.ipam.releaseOwner(containerId);
      const hadPorts = this.data.published[containerId] !== undefined;
      delete this.data.published[containerId];
      if (changed || hadPorts) this.persistSoon();
      if (hadPorts) {
        await this.netfilter.unpublish(containerId);
        this.ports.release(containerId);
      }
    });
  }

  // ---------------------------------------------------------------- ports

  /**
   * Publishes a running container's PortBindings to its address on its
   * first bridge network: host ports allocated, DNAT rules in one
   * transaction. Returns NetworkSettings.Ports.
   */
  publishPorts(containerId: string, bindings: PortMap): Promise<PortMap> {
    return this.lock.run(async () => {
      const net = this.data.networks.find((n) => n.Driver === "bridge" && n.endpoints[containerId]?.ip);
      if (!net) {
        // Docker reports the exposed ports with no binding when the container has no bridge address.
        return Object.fromEntries(Object.keys(bindings).map((k) => [k, null])) as PortMap;
      }
      const ip = net.endpoints[containerId]!.ip!;
      this.ports.release(containerId);
      const published = await resolvePortBindings(containerId, bindings, ip, this.ports);
      try {
        await this.netfilter.publish(containerId, published.forwards);
      } catch (err) {
        this.ports.release(containerId);
        throw err;
      }
      this.data.published[containerId] = published;
      this.persist();
      return published.ports;
    });
  }

  /** NetworkSettings.Ports of a container as published (undefined when nothing is). */
  publishedPorts(containerId: string): PortMap | undefined {
    return this.data.published[containerId]?.ports;
  }

  // ---------------------------------------------------------------- start-up

  /**
   * After a daemon start: endpoints, addresses and port rules of containers
   * that are no longer running go; veths on our bridges that no endpoint
   * owns are deleted; user networks get their bridge and rules again (a
   * reboot removed them), the default one too when a container uses it;
   * the ports of running containers are reserved again.
   */
  reconcile(live: Array<{ id: string; pid: number }>): Promise<void> {
    return this.lock.run(async () => {
      const alive = new Map(live.map((c) => [c.id, c.pid]));
      const dead = new Set<string>();
      for (const net of this.data.networks) {
        for (const [id, ep] of Object.entries(net.endpoints)) {
          if (alive.get(id) === ep.pid) continue;
          if (ep.ip) this.ipam.release(net.Id, ep.ip);
          delete net.endpoints[id];
          dead.add(id);
        }
      }
      const owners = new Set(this.data.networks.flatMap((n) => Object.keys(n.endpoints)));
      for (const pool of this.ipam.pools()) {
        for (const [addr, owner] of Object.entries(pool.allocated)) {
          if (!owners.has(owner)) this.ipam.release(pool.network, addr);
        }
      }
      for (const id of Object.keys(this.data.published)) {
        if (!owners.has(id)) {
          dead.add(id);
          delete this.data.published[id];
        }
      }
      this.persist();
      for (const id of dead) await this.netfilter.unpublish(id).catch(() => {});
      for (const [id, pub] of Object.entries(this.data.published)) {
        for (const f of pub.forwards) this.ports.reserve(id, f.proto, f.hostIp ?? "0.0.0.0", f.hostPort);
      }
      for (const net of this.data.networks) {
        if (net.Driver !== "bridge") continue;
        if (net.Name === "bridge" && Object.keys(net.endpoints).length === 0) continue;
        await this.ensureKernel(net);
        await this.notifyReady(net);
      }
      const ownedVeths = new Set(this.data.networks.flatMap((n) => Object.values(n.endpoints).map((e) => e.hostIfName)));
      const bridges = new Set(this.data.networks.map((n) => n.bridge).filter((b): b is string => !!b));
      const stale: NetlinkOp[] = listLinks()
        .filter((l) => l.master && bridges.has(l.master) && /^veth[0-9a-f]{7}$/.test(l.name) && !ownedVeths.has(l.name))
        .map((l) => ({ op: "link-del", name: l.name }));
      if (stale.length) await runNetlink(stale);
    });
  }

  /**
   * At daemon shutdown: the resolver stops. With `removeUnused` (a daemon on
   * its own data root, e.g. a test's) and nothing left on any network and
   * no user network, the default bridge and the netfilter chains go too:
   * they are made again on demand.
   */
  shutdown(opts: { removeUnused?: boolean } = {}): Promise<void> {
    return this.lock.run(async () => {
      if (this.persistPending) this.persist("atomic");
      await this.observer?.close?.();
      if (!opts.removeUnused) return;
      this.sweepStale();
      const busy = this.data.networks.some((n) => Object.keys(n.endpoints).length > 0 || this.userNetwork(n));
      if (busy || Object.keys(this.data.published).length > 0) return;
      const bridge = this.data.networks.find((n) => n.Name === "bridge");
      if (bridge?.bridge && listLinks().some((l) => l.name === bridge.bridge)) await this.driver.removeNetwork(this.bridgeSpec(bridge));
      this.ensured.clear();
      await this.netfilter.teardown();
    });
  }

  /** The gateway of a network (the DNS server address of a user network). */
  gatewayOf(ref: string): string | undefined {
    return this.find(ref).gateway;
  }

  /** Is this a user-defined network (its containers resolve each other by name)? */
  isUserNetwork(ref: string): boolean {
    return this.userNetwork(this.find(ref));
  }

  /** Whether a container may ask for its own address there: a user network whose subnet was given at create. */
  takesStaticAddresses(ref: string): boolean {
    const net = this.find(ref);
    return this.userNetwork(net) && !net.subnetAuto;
  }
}
