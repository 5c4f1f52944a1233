/**
 * What the engine asks of networking for one container, in one place, so
 * the engine's own code only calls in at four moments:
 *
 *   create   `checkNetworkMode`: HostConfig.NetworkMode and
 *            NetworkingConfig resolved and checked (Docker's messages);
 *   start    `attachContainer`, between the shim's "pid N" and "start":
 *            endpoints on the container's networks (one netlink batch
 *            each), published ports, /etc/hosts and /etc/resolv.conf;
 *   inspect  `containerNetworkSettings`: NetworkSettings as Docker shows it;
 *   exit/rm  `NetworkService.releaseContainer` (not awaited: the kernel
 *            already removed the veth with the namespace).
 *
 * Modes: "default"/"bridge" (the default bridge), "none" (lo only),
 * "host", "container:<ref>" (specgen joins that namespace: nothing to do
 * here), "slirp4netns[:options]" (slirp.ts: a user-mode stack on tap0, no
 * NetworkService endpoint), or a user network's name or id.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { ForbiddenError, InvalidArgumentError } from "../common/errors.ts";
import type { EndpointSettings as ApiEndpointSettings, NetworkSettings, NetworkingConfig } from "../spec/docker-api.ts";
import type { PortMap } from "./ports.ts";
import type { EndpointSettings, NetworkService } from "./service.ts";
import {
  SLIRP_ADDRESS,
  SLIRP_DNS,
  SLIRP_GATEWAY,
  SLIRP_MODE,
  SLIRP_PREFIX_LEN,
  isSlirpMode,
  parseSlirpMode,
  publishSlirpPorts,
  readSlirpState,
  startSlirp,
  stopSlirp,
} from "./slirp.ts";
import { parseIPv4 } from "./subnet.ts";

/** Docker's /etc/hosts preamble. */
export const HOSTS_PREAMBLE =
  "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

export type NetworkModeKind = "bridge" | "none" | "host" | "container" | "slirp4netns" | "user";

/** The kind of a NetworkMode, and the network it names (bridge for "default"). */
export function networkModeKind(mode: string | undefined): { kind: NetworkModeKind; network?: string } {
  const m = mode ?? "default";
  if (m === "" || m === "default" || m === "bridge") return { kind: "bridge", network: "bridge" };
  if (m === "none") return { kind: "none" };
  if (m === "host") return { kind: "host" };
  if (m.startsWith("container:")) return { kind: "container" };
  if (isSlirpMode(m)) return { kind: "slirp4netns" };
  return { kind: "user", network: m };
}

/**
 * EndpointsConfig keyed by network name: "default" is the default bridge
 * (the docker CLI sends it), an id or id prefix becomes the network's name;
 * unknown names stay as given (the caller reports them).
 */
export function endpointsByName(svc: NetworkService, networking: NetworkingConfig | null | undefined): Record<string, ApiEndpointSettings> {
  const out: Record<string, ApiEndpointSettings> = {};
  for (const [key, ep] of Object.entries(networking?.EndpointsConfig ?? {})) {
    const name = key === "default" ? "bridge" : svc.has(key) ? svc.inspect(key).Name : key;
    out[name] = { ...(out[name] ?? {}), ...(ep ?? {}) };
  }
  return out;
}

/** A NetworkMode's network by name ("default" → bridge, an id → its name). */
function modeNetworkName(svc: NetworkService, mode: string | undefined): string | undefined {
  const { network } = networkModeKind(mode);
  if (network === undefined) return undefined;
  return svc.has(network) ? svc.inspect(network).Name : network;
}

/**
 * True when `network` (a name) is the bridge or user network the
 * container's NetworkMode names and it was not disconnected from it.
 */
export function onModeNetwork(svc: NetworkService, c: { networkMode: string | undefined; modeDisconnected?: boolean }, network: string): boolean {
  return !c.modeDisconnected && modeNetworkName(svc, c.networkMode) === network;
}

const STATIC_ADDRESS_REFUSAL = "user specified IP address is supported only when connecting to networks with user configured subnets";

/**
 * Create-time checks of NetworkMode and NetworkingConfig: --ip,
 * --network-alias and --mac only where Docker allows them. A network that
 * does not exist yet is no error here: as in moby, start says "network X
 * not found" (a 404 from create would make the docker CLI pull the image).
 * Returns the NetworkMode to record ("default" stays "default", as dockerd
 * records it).
 */
export function checkNetworkMode(svc: NetworkService, mode: string | undefined, networking: NetworkingConfig | undefined): string {
  const { kind } = networkModeKind(mode);
  const endpoints = endpointsByName(svc, networking);
  if (kind === "slirp4netns") parseSlirpMode(mode!, endpoints[mode!]?.DriverOpts);
  const names = Object.keys(endpoints);
  if ((kind === "host" || kind === "none" || kind === "container" || kind === "slirp4netns") && names.some((n) => n !== mode && n !== (kind === "none" ? "none" : kind))) {
    throw new InvalidArgumentError(`conflicting options: ${kind} network mode and networks`);
  }
  for (const [name, ep] of Object.entries(endpoints)) {
    // The docker CLI names a mode it does not know in EndpointsConfig too ("slirp4netns": {}).
    if (kind === "slirp4netns" && name === mode) continue;
    const ip = ep.IPAMConfig?.IPv4Address;
    if (ip) parseIPv4(ip, "IPv4 address");
    // The network may come later (moby: "might not exist when the container is created").
    if (!svc.has(name)) continue;
    const user = svc.isUserNetwork(name);
    if (ip) {
      if (!user) throw new InvalidArgumentError("user specified IP address is supported on user defined networks only");
      if (!svc.takesStaticAddresses(name)) throw new InvalidArgumentError(STATIC_ADDRESS_REFUSAL);
    }
    if (ep.Aliases?.length && !user) throw new InvalidArgumentError("network-scoped alias is supported only for containers in user defined networks");
  }
  return mode || "default";
}

/**
 * Checks `network connect` against the container's configuration (Docker's
 * refusals): not in host or container: mode, not in none mode, not on that
 * network already; --ip and --alias on user networks only.
 */
export function checkConnect(
  svc: NetworkService,
  c: { name: string; networkMode: string | undefined; networking?: NetworkingConfig | null; modeDisconnected?: boolean },
  network: string,
  endpoint: ApiEndpointSettings | undefined,
): void {
  const { kind } = networkModeKind(c.networkMode);
  const target = svc.inspect(network);
  if (kind === "host" || kind === "container" || target.Driver === "host") {
    throw new ForbiddenError("container sharing network namespace with another container or host cannot be connected to any other network");
  }
  if (kind === "none" || target.Driver === "null") {
    throw new ForbiddenError("container cannot be connected to multiple networks with one of the networks in private (none) mode");
  }
  if (kind === "slirp4netns") throw new ForbiddenError("container in slirp4netns network mode cannot be connected to other networks");
  const name = c.name.replace(/^\//, "");
  if (onModeNetwork(svc, c, target.Name) || endpointsByName(svc, c.networking)[target.Name]) {
    throw new ForbiddenError(`endpoint with name ${name} already exists in network ${target.Name}`);
  }
  const user = svc.isUserNetwork(target.Id);
  const ip = endpoint?.IPAMConfig?.IPv4Address;
  if (ip) {
    parseIPv4(ip, "IPv4 address");
    if (!user) throw new InvalidArgumentError("user specified IP address is supported on user defined networks only");
    if (!svc.takesStaticAddresses(target.Id)) throw new InvalidArgumentError(STATIC_ADDRESS_REFUSAL);
  }
  if (endpoint?.Aliases?.length && !user) throw new InvalidArgumentError("network-scoped alias is supported only for containers in user defined networks");
}

/** What attachContainer needs to know of the container. */
export interface ContainerNetworkInput {
  id: string;
  name: string;
  pid: number;
  networkMode: string | undefined;
  networking?: NetworkingConfig | null;
  /** Disconnected from its NetworkMode's network (joined only if connected again, then recorded in networking). */
  modeDisconnected?: boolean;
  hostname: string;
  domainname?: string;
  /** The API's PortMap, whose HostIp and HostPort may be absent. */
  portBindings?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null;
  publishAll?: boolean;
  exposedPorts?: Record<string, unknown> | null;
  extraHosts?: string[] | null;
  dns?: string[] | null;
  dnsSearch?: string[] | null;
  dnsOptions?: string[] | null;
  hostsPath: string;
  resolvConfPath: string;
  /** Default /etc/resolv.conf (tests). */
  hostResolvConf?: string;
  /** The container's run state dir (the shim's): slirp4netns keeps its pid and API socket there. */
  stateDir?: string;
  /** Its process set lo up itself (hakod's plans ask for it). */
  loopbackUp?: boolean;
}



/**
 * The networks a container joins at start, in order: its NetworkMode's
 * network first (it carries the default route), then the other networks
 * of NetworkingConfig and those it was connected to while stopped. One
 * disconnected from all of them has lo only (its process sets it up).
 */
function networksToJoin(svc: NetworkService, input: ContainerNetworkInput, endpoints: Record<string, ApiEndpointSettings>): string[] {
  const { kind } = networkModeKind(input.networkMode);
  if (kind === "host" || kind === "container" || kind === "slirp4netns") return [];
  if (kind === "none") return ["none"];
  const first = modeNetworkName(svc, input.networkMode)!;
  const rest = Object.keys(endpoints).filter((n) => n !== first);
  return input.modeDisconnected ? rest : [first, ...rest];
}

/**
 * Connects a started container (its process waits for "start") to its
 * networks, publishes its ports, writes /etc/hosts and /etc/resolv.conf.
 * On failure everything done is released and the error is thrown: the
 * engine fails the start.
 */
export async function attachContainer(svc: NetworkService, input: ContainerNetworkInput): Promise<void> {
  const ref = { id: input.id, name: input.name, pid: input.pid };
  const { kind } = networkModeKind(input.networkMode);
  if (kind === "slirp4netns") return attachSlirp(input);
  const endpoints = endpointsByName(svc, input.networking);
  try {
    for (const network of networksToJoin(svc, input, endpoints)) {
      const ep = endpoints[network];
      const ip = ep?.IPAMConfig?.IPv4Address;
      await svc.connectContainer(ref, network, {
        ...(ip ? { ip } : {}),
        ...(ep?.Aliases?.length ? { aliases: ep.Aliases } : {}),
        ...(ep?.MacAddress ? { macAddress: ep.MacAddress } : {}),
        ...(input.loopbackUp ? { loopbackUp: true } : {}),
      });
    }
    if (kind !== "host" && kind !== "container") {
      const bindings = portBindingsOf(input);
      if (Object.keys(bindings).length > 0) await svc.publishPorts(input.id, bindings);
    }
  } catch (err) {
    // The namespace still exists (the process waits): take the veths out with the rest.
    for (const name of Object.keys(svc.endpointsOf(input.id))) await svc.disconnectContainer(input.id, name, { force: true }).catch(() => {});
    await svc.releaseContainer(input.id).catch(() => {});
    throw err;
  }
  if (kind === "host" || kind === "container") return;
  writeFileSync(input.hostsPath, hostsFile(svc, input));
  writeFileSync(input.resolvConfPath, resolvConfFile(svc, input));
}

/**
 * slirp4netns mode: slirp4netns configures tap0 (address, route, lo) in the
 * waiting process's namespace, then the ports are forwarded through its
 * API socket; /etc/hosts names 10.0.2.100, resolv.conf points at slirp's
 * DNS forwarder (or --dns).
 */
async function attachSlirp(input: ContainerNetworkInput): Promise<void> {
  if (!input.stateDir) throw new InvalidArgumentError(`container ${input.id}: slirp4netns needs the container's state dir`);
  const options = parseSlirpMode(input.networkMode!, input.networking?.EndpointsConfig?.[input.networkMode!]?.DriverOpts);
  await startSlirp({ containerId: input.id, pid: input.pid, stateDir: input.stateDir, options });
  try {
    const bindings = portBindingsOf(input);
    if (Object.keys(bindings).length > 0) await publishSlirpPorts(input.stateDir, bindings);
  } catch (err) {
    await stopSlirp(input.stateDir);
    throw err;
  }
  writeFileSync(input.hostsPath, hostsText(SLIRP_ADDRESS, input, SLIRP_GATEWAY));
  writeFileSync(input.resolvConfPath, resolvConfText([SLIRP_DNS], input));
}

/** Stops a container's slirp4netns when it has one (exit, rm, hakod start-up for containers gone). */
export function releaseSlirp(stateDir: string): Promise<void> {
  return stopSlirp(stateDir);
}

/** PortBindings, plus a random host port for every exposed port with -P (Docker's PublishAllPorts). */
export function portBindingsOf(input: Pick<ContainerNetworkInput, "portBindings" | "publishAll" | "exposedPorts">): PortMap {
  const out: PortMap = {};
  for (const [k, v] of Object.entries(input.portBindings ?? {})) out[k] = v ? v.map((b) => ({ HostIp: b?.HostIp ?? "", HostPort: b?.HostPort ?? "" })) : null;
  if (input.publishAll) {
    for (const key of Object.keys(input.exposedPorts ?? {})) {
      const port = key.includes("/") ? key : `${key}/tcp`;
      if (!out[port] || out[port]!.length === 0) out[port] = [{ HostIp: "", HostPort: "" }];
    }
  }
  return out;
}

/** /etc/hosts: Docker's preamble, the container's own address and name, --add-host entries. */
export function hostsFile(svc: NetworkService, input: Pick<ContainerNetworkInput, "id" | "hostname" | "domainname" | "extraHosts">): string {
  const eps = Object.values(svc.endpointsOf(input.id));
  return hostsText(eps.find((e) => e.IPAddress)?.IPAddress, input, defaultBridgeGateway(svc));
}

/** The default bridge's address on the host: what `host-gateway` in --add-host stands for (dockerd's default host-gateway-ip). */
function defaultBridgeGateway(svc: NetworkService): string | undefined {
  try {
    return svc.inspect("bridge").IPAM?.Config?.[0]?.Gateway || undefined;
  } catch {
    return undefined;
  }
}

/**
 * /etc/hosts for a container at `ip` (none: no line of its own).
 * `host-gateway` as an --add-host address is `hostGateway` (an entry
 * naming it is left out when there is none).
 */
export function hostsText(ip: string | undefined, input: Pick<ContainerNetworkInput, "hostname" | "domainname" | "extraHosts">, hostGateway?: string): string {
  let text = HOSTS_PREAMBLE;
  if (ip) {
    const fqdn = input.domainname ? `${input.hostname}.${input.domainname} ${input.hostname}` : input.hostname;
    text += `${ip}\t${fqdn}\n`;
  }
  for (const extra of input.extraHosts ?? []) {
    // "name:ip" (or "name=ip"): the name has no colon, an IPv6 address has several, maybe in brackets.
    const i = extra.search(/[:=]/);
    if (i <= 0) continue;
    const given = extra.slice(i + 1).replace(/^\[(.*)\]$/, "$1");
    const address = given === "host-gateway" ? hostGateway : given;
    if (address) text += `${address}\t${extra.slice(0, i)}\n`;
  }
  return text;
}

/**
 * /etc/resolv.conf: on a user network the network's resolver (its
 * gateway) with the host's search and options; elsewhere the host's file
 * without loopback nameservers (Docker's fallback to Google's when none is
 * left), or --dns/--dns-search/--dns-opt when given.
 */
export function resolvConfFile(svc: NetworkService, input: Pick<ContainerNetworkInput, "id" | "dns" | "dnsSearch" | "dnsOptions" | "hostResolvConf">): string {
  return resolvConfText(svc.dnsServersOf(input.id), input);
}

/** resolv.conf with `resolvers` (a network's own DNS) first choice, then --dns, then the host's. */
function resolvConfText(resolvers: string[], input: Pick<ContainerNetworkInput, "dns" | "dnsSearch" | "dnsOptions" | "hostResolvConf">): string {
  let host = input.hostResolvConf;
  if (host === undefined) {
    try {
      host = readFileSync("/etc/resolv.conf", "utf8");
    } catch {
      host = "";
    }
  }
  const lines = host.split("\n");
  const search = input.dnsSearch?.length ? [`search ${input.dnsSearch.join(" ")}`] : lines.filter((l) => /^\s*(search|domain)\s/.test(l));
  const options = input.dnsOptions?.length ? [`options ${input.dnsOptions.join(" ")}`] : lines.filter((l) => /^\s*options\s/.test(l));
  let servers: string[];
  if (input.dns?.length && resolvers[0] === SLIRP_DNS) servers = input.dns;
  else if (resolvers.length > 0) servers = [resolvers[0]!];
  else if (input.dns?.length) servers = input.dns;
  else {
    servers = lines.map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((s): s is string => !!s && !s.startsWith("127.") && s !== "::1");
    if (servers.length === 0) servers = ["8.8.8.8", "8.8.4.4"];
  }
  return [...servers.map((s) => `nameserver ${s}`), ...search, ...options].join("\n") + "\n";
}

/** NetworkSettings of a container for inspect (running or not). */
export function containerNetworkSettings(
  svc: NetworkService,
  c: {
    id: string;
    networkMode: string | undefined;
    pid: number;
    running: boolean;
    networking?: NetworkingConfig | null;
    modeDisconnected?: boolean;
    portBindings?: PortMap | null;
    stateDir?: string;
  },
): NetworkSettings {
  const { kind } = networkModeKind(c.networkMode);
  if (kind === "slirp4netns") return slirpNetworkSettings(c);
  const live = c.running ? svc.endpointsOf(c.id) : {};
  const endpoints = endpointsByName(svc, c.networking);
  const networks: Record<string, ApiEndpointSettings> = {};
  const modeName = modeNetworkName(svc, c.networkMode) ?? c.networkMode ?? "default";
  if (kind !== "container" && (!c.modeDisconnected || kind === "none")) networks[modeName] = live[modeName] ?? emptyEndpoint(svc, modeName, endpoints[modeName]);
  for (const [name, ep] of Object.entries(endpoints)) {
    if (networks[name]) continue;
    networks[name] = live[name] ?? emptyEndpoint(svc, name, ep);
  }
  for (const [name, ep] of Object.entries(live)) networks[name] ??= ep;
  const primary: EndpointSettings | undefined = live.bridge;
  const ports: PortMap = c.running ? (svc.publishedPorts(c.id) ?? {}) : {};
  return sandboxSettings(c.id, c.running && c.pid && kind !== "host" ? `/proc/${c.pid}/ns/net` : "", ports, networks, primary);
}

/**
 * A container's NetworkSettings around its networks; the top-level
 * address fields are `primary`'s (the default bridge's, as in Docker).
 */
function sandboxSettings(id: string, sandboxKey: string, ports: PortMap, networks: Record<string, ApiEndpointSettings>, primary?: ApiEndpointSettings): NetworkSettings {
  return {
    Bridge: "",
    SandboxID: id,
    SandboxKey: sandboxKey,
    HairpinMode: false,
    LinkLocalIPv6Address: "",
    LinkLocalIPv6PrefixLen: 0,
    Ports: ports,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: primary?.EndpointID ?? "",
    Gateway: primary?.Gateway ?? "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    IPAddress: primary?.IPAddress ?? "",
    IPPrefixLen: primary?.IPPrefixLen ?? 0,
    IPv6Gateway: "",
    MacAddress: primary?.MacAddress ?? "",
    Networks: networks,
  };
}

/** An endpoint with nothing assigned yet (a network the container joins at its next start). */
function blankEndpoint(networkId: string): ApiEndpointSettings {
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: null,
    MacAddress: "",
    DriverOpts: null,
    NetworkID: networkId,
    EndpointID: "",
    Gateway: "",
    IPAddress: "",
    IPPrefixLen: 0,
    IPv6Gateway: "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    DNSNames: null,
  };
}

/** NetworkSettings of a none or host container where no network service runs (an engine embedded without one). */
export function plainNetworkSettings(c: { id: string; networkMode: string | undefined; pid: number; running: boolean }): NetworkSettings {
  const mode = c.networkMode || "none";
  return sandboxSettings(c.id, c.running && c.pid && mode !== "host" ? `/proc/${c.pid}/ns/net` : "", {}, { [mode]: blankEndpoint(mode) });
}

/** inspect of a slirp4netns container: one `slirp4netns` network with slirp's fixed addresses while it runs. */
function slirpNetworkSettings(c: { id: string; pid: number; running: boolean; stateDir?: string }): NetworkSettings {
  const state = c.running && c.stateDir ? readSlirpState(c.stateDir) : undefined;
  const endpoint: ApiEndpointSettings = {
    ...blankEndpoint(SLIRP_MODE),
    MacAddress: state?.mac ?? "",
    EndpointID: state ? `slirp4netns-${state.pid}` : "",
    Gateway: state ? SLIRP_GATEWAY : "",
    IPAddress: state ? SLIRP_ADDRESS : "",
    IPPrefixLen: state ? SLIRP_PREFIX_LEN : 0,
  };
  return sandboxSettings(c.id, c.running && c.pid ? `/proc/${c.pid}/ns/net` : "", state?.ports ?? {}, { [SLIRP_MODE]: endpoint });
}

function emptyEndpoint(svc: NetworkService, name: string, config: ApiEndpointSettings | undefined): ApiEndpointSettings {
  return {
    ...blankEndpoint(svc.has(name) ? svc.inspect(name).Id : ""),
    IPAMConfig: config?.IPAMConfig ?? null,
    Aliases: config?.Aliases?.length ? config.Aliases : null,
  };
}

/** GET /containers/json's Ports of a running container: each published binding, and exposed ports without one. */
export function summaryPorts(
  svc: NetworkService,
  id: string,
  exposed: Record<string, unknown> | null | undefined,
  stateDir?: string,
): Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: "tcp" | "udp" | "sctp" }> {
  const out: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: "tcp" | "udp" | "sctp" }> = [];
  // A slirp4netns container's ports are slirp's host forwards, not the service's.
  const published = svc.publishedPorts(id) ?? (stateDir ? readSlirpState(stateDir)?.ports : undefined) ?? {};
  const keys = new Set([...Object.keys(exposed ?? {}).map((k) => (k.includes("/") ? k : `${k}/tcp`)), ...Object.keys(published)]);
  for (const key of keys) {
    const [port, proto] = key.split("/") as [string, string];
    const type = (proto || "tcp") as "tcp" | "udp" | "sctp";
    const bindings = published[key];
    if (!bindings || bindings.length === 0) {
      out.push({ PrivatePort: Number(port), Type: type });
      continue;
    }
    for (const b of bindings) out.push({ IP: b.HostIp || "0.0.0.0", PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: type });
  }
  return out;
}

/** GET /containers/json's NetworkSettings.Networks of a running container. */
export function summaryNetworks(svc: NetworkService, c: { id: string; networkMode: string | undefined; pid: number; stateDir?: string }): Record<string, ApiEndpointSettings> {
  if (networkModeKind(c.networkMode).kind === "slirp4netns") return slirpNetworkSettings({ ...c, running: true }).Networks ?? {};
  return svc.endpointsOf(c.id);
}
