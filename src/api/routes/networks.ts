/**
 * Network endpoints (swagger tag "Network"): list, inspect, create, remove,
 * connect, disconnect, prune over the NetworkService. Network events
 * (create, destroy, connect, disconnect, prune) are published here, as
 * dockerd's network controller does.
 */
import { ForbiddenError, InvalidArgumentError, NotFoundError } from "../../common/errors.ts";
import { checkConnect, endpointsByName, onModeNetwork } from "../../network/container-network.ts";
import type { EndpointSettings } from "../../spec/docker-api.ts";
import type { CreateNetworkRequest, NetworkFilters, NetworkService } from "../../network/service.ts";
import { readJsonObject } from "../body.ts";
import { requireService } from "../context.ts";
import { boolParam, parseFilters } from "../query.ts";
import { json, noContent } from "../response.ts";
import type { ApiCall, Router } from "../router.ts";

const LIST_FILTERS = ["dangling", "driver", "id", "label", "name", "scope", "type"] as const;
const PRUNE_FILTERS = ["until", "label", "label!"] as const;

/** Registers the network routes on `router`. */
export function registerNetworksRoutes(router: Router): void {
  router
    .add("GET", "/networks", listNetworks)
    .add("POST", "/networks/create", createNetwork)
    .add("POST", "/networks/prune", pruneNetworks)
    .add("GET", "/networks/{id}", inspectNetwork)
    .add("DELETE", "/networks/{id}", removeNetwork)
    .add("POST", "/networks/{id}/connect", connectContainer)
    .add("POST", "/networks/{id}/disconnect", disconnectContainer);
}

function networks(call: ApiCall): NetworkService {
  return requireService(call.ctx, "networks");
}

function filterRecord(filters: Map<string, string[]>): NetworkFilters {
  return Object.fromEntries(filters);
}

/** GET /networks?filters=. */
function listNetworks(call: ApiCall): void {
  json(call.res, 200, networks(call).list(filterRecord(parseFilters(call.query, LIST_FILTERS))));
}

/** GET /networks/{id}?verbose=&scope=: a scope other than local finds nothing (no swarm). */
function inspectNetwork(call: ApiCall): void {
  const id = call.params.id!;
  const scope = call.query.get("scope");
  const net = networks(call).inspect(id);
  if (scope && scope !== "local") throw new NotFoundError(`network ${id} not found`);
  json(call.res, 200, net);
}

function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new InvalidArgumentError(`invalid ${field}: a string was expected`);
  return v;
}

function optionalBool(body: Record<string, unknown>, field: string): boolean | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw new InvalidArgumentError(`invalid ${field}: a boolean was expected`);
  return v;
}

function stringMap(value: unknown, field: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) throw new InvalidArgumentError(`invalid ${field}: an object of strings was expected`);
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== "string") throw new InvalidArgumentError(`invalid ${field}: the value of ${JSON.stringify(k)} must be a string`);
  }
  return value as Record<string, string>;
}

function ipamOf(value: unknown): CreateNetworkRequest["IPAM"] {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) throw new InvalidArgumentError("invalid IPAM: an object was expected");
  const ipam = value as Record<string, unknown>;
  const config = ipam.Config;
  if (config !== undefined && config !== null && !Array.isArray(config)) throw new InvalidArgumentError("invalid IPAM.Config: a list was expected");
  const entries = ((config as unknown[] | null | undefined) ?? []).map((c, i) => {
    if (typeof c !== "object" || c === null || Array.isArray(c)) throw new InvalidArgumentError(`invalid IPAM.Config[${i}]: an object was expected`);
    const e = c as Record<string, unknown>;
    const subnet = optionalString(e, "Subnet");
    const gateway = optionalString(e, "Gateway");
    const ipRange = optionalString(e, "IPRange");
    return { ...(subnet ? { Subnet: subnet } : {}), ...(gateway ? { Gateway: gateway } : {}), ...(ipRange ? { IPRange: ipRange } : {}) };
  });
  const driver = optionalString(ipam, "Driver");
  const options = stringMap(ipam.Options, "IPAM.Options");
  return { ...(driver ? { Driver: driver } : {}), Config: entries, ...(options ? { Options: options } : {}) };
}

/** POST /networks/create: 201 {Id, Warning}. */
async function createNetwork(call: ApiCall): Promise<void> {
  const body = await readJsonObject(call.req);
  const name = optionalString(body, "Name") ?? "";
  const req: CreateNetworkRequest = { Name: name };
  const driver = optionalString(body, "Driver");
  if (driver !== undefined) req.Driver = driver;
  for (const f of ["Internal", "Attachable", "Ingress", "EnableIPv6", "ConfigOnly"] as const) {
    const v = optionalBool(body, f);
    if (v !== undefined) req[f] = v;
  }
  // CheckDuplicate is deprecated (API 1.44 always checks): names are unique here whatever it says.
  optionalBool(body, "CheckDuplicate");
  const scope = optionalString(body, "Scope");
  if (scope !== undefined) req.Scope = scope;
  const configFrom = body.ConfigFrom;
  if (configFrom !== undefined && configFrom !== null) {
    if (typeof configFrom !== "object") throw new InvalidArgumentError("invalid ConfigFrom: an object was expected");
    const network = optionalString(configFrom as Record<string, unknown>, "Network");
    if (network) req.ConfigFrom = { Network: network };
  }
  const ipam = ipamOf(body.IPAM);
  if (ipam) req.IPAM = ipam;
  const options = stringMap(body.Options, "Options");
  if (options) req.Options = options;
  const labels = stringMap(body.Labels, "Labels");
  if (labels) req.Labels = labels;
  const result = await networks(call).create(req);
  call.ctx.events.publish({ type: "network", action: "create", id: result.Id, attributes: { name, type: driver || "bridge" } });
  json(call.res, 201, result);
}

/** DELETE /networks/{id}: 204. */
async function removeNetwork(call: ApiCall): Promise<void> {
  const svc = networks(call);
  const net = svc.inspect(call.params.id!);
  await svc.remove(net.Id);
  call.ctx.events.publish({ type: "network", action: "destroy", id: net.Id, attributes: { name: net.Name, type: net.Driver } });
  noContent(call.res);
}

/** POST /networks/prune?filters=. */
async function pruneNetworks(call: ApiCall): Promise<void> {
  const result = await networks(call).prune(filterRecord(parseFilters(call.query, PRUNE_FILTERS)));
  call.ctx.events.publish({ type: "network", action: "prune", id: "", attributes: { reclaimed: "0" } });
  json(call.res, 200, { NetworksDeleted: result.NetworksDeleted.length ? result.NetworksDeleted : null });
}

function stringList(value: unknown, field: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) throw new InvalidArgumentError(`invalid ${field}: a list of strings was expected`);
  return value as string[];
}

/** The container a connect/disconnect body names, as the engine records it. */
function containerOf(call: ApiCall, body: Record<string, unknown>) {
  const ref = optionalString(body, "Container");
  if (!ref) throw new InvalidArgumentError("no container specified: Container is required");
  const c = requireService(call.ctx, "containers").inspect(ref);
  const running = c.State?.Running === true && !c.State?.Restarting;
  const record = requireService(call.ctx, "containers").store.resolve(c.Id);
  return {
    id: c.Id,
    name: c.Name,
    pid: running ? (c.State?.Pid ?? 0) : 0,
    running,
    networkMode: c.HostConfig?.NetworkMode,
    networking: { EndpointsConfig: record.NetworkSettings?.Networks ?? {} },
    modeDisconnected: record.ModeNetworkDisconnected === true,
  };
}

/** EndpointConfig of a connect body, checked field by field. */
function endpointOf(body: Record<string, unknown>): EndpointSettings {
  const ec = body.EndpointConfig;
  if (ec === undefined || ec === null) return {};
  if (typeof ec !== "object" || Array.isArray(ec)) throw new InvalidArgumentError("invalid EndpointConfig: an object was expected");
  const endpoint = ec as Record<string, unknown>;
  const out: EndpointSettings = {};
  const ipamConfig = endpoint.IPAMConfig;
  if (ipamConfig !== undefined && ipamConfig !== null) {
    if (typeof ipamConfig !== "object" || Array.isArray(ipamConfig)) throw new InvalidArgumentError("invalid EndpointConfig.IPAMConfig: an object was expected");
    const ip = optionalString(ipamConfig as Record<string, unknown>, "IPv4Address") || undefined;
    if (optionalString(ipamConfig as Record<string, unknown>, "IPv6Address")) throw new InvalidArgumentError("IPv6 addresses are not supported by hako yet");
    if (ip) out.IPAMConfig = { IPv4Address: ip };
  }
  const aliases = stringList(endpoint.Aliases, "EndpointConfig.Aliases");
  if (aliases?.length) out.Aliases = aliases;
  const mac = optionalString(endpoint, "MacAddress") || undefined;
  if (mac) out.MacAddress = mac;
  return out;
}

/**
 * POST /networks/{id}/connect {Container, EndpointConfig}: 200. A running
 * container gains the interface now; either way the network is recorded
 * in the container and joined at every start.
 */
async function connectContainer(call: ApiCall): Promise<void> {
  const svc = networks(call);
  const net = svc.inspect(call.params.id!);
  const body = await readJsonObject(call.req);
  const c = containerOf(call, body);
  const endpoint = endpointOf(body);
  checkConnect(svc, c, net.Id, endpoint);
  if (c.running) {
    const ip = endpoint.IPAMConfig?.IPv4Address;
    await svc.connectContainer({ id: c.id, name: c.name, pid: c.pid }, net.Id, {
      ...(ip ? { ip } : {}),
      ...(endpoint.Aliases ? { aliases: endpoint.Aliases } : {}),
      ...(endpoint.MacAddress ? { macAddress: endpoint.MacAddress } : {}),
    });
  }
  // Back on the network its NetworkMode names: the mark of its disconnect goes.
  const modeNetwork = c.modeDisconnected && onModeNetwork(networks(call), { networkMode: c.networkMode }, net.Name);
  requireService(call.ctx, "containers").recordNetwork(c.id, net.Name, endpoint, modeNetwork);
  call.ctx.events.publish({ type: "network", action: "connect", id: net.Id, attributes: { container: c.id, name: net.Name, type: net.Driver } });
  json(call.res, 200, null);
}

/** POST /networks/{id}/disconnect {Container, Force}: 200. */
async function disconnectContainer(call: ApiCall): Promise<void> {
  const svc = networks(call);
  const net = svc.inspect(call.params.id!);
  const body = await readJsonObject(call.req);
  const force = optionalBool(body, "Force") ?? boolParam(call.query, "force");
  let c: ReturnType<typeof containerOf>;
  try {
    c = containerOf(call, body);
  } catch (err) {
    // A container that is gone can still be forced off a network (a stale endpoint).
    const ref = optionalString(body, "Container");
    const known = ref ? Object.keys(net.Containers).find((k) => k === ref || k.startsWith(ref) || net.Containers[k]!.Name === ref) : undefined;
    if (!force || !known) throw err;
    await svc.disconnectContainer(known, net.Id, { force });
    json(call.res, 200, null);
    return;
  }
  if (c.networkMode === "host" && net.Driver === "host") throw new ForbiddenError("container cannot be disconnected from host network or connected to host network");
  const modeNetwork = net.Driver === "bridge" && onModeNetwork(svc, c, net.Name);
  const recorded = modeNetwork || endpointsByName(svc, c.networking)[net.Name] !== undefined;
  const live = net.Containers[c.id] !== undefined;
  if (!recorded && !live) {
    // moby: forced, it looks for an endpoint of that name to delete, and finds none.
    if (force) throw new NotFoundError(`endpoint ${c.name.replace(/^\//, "")} not found`);
    throw new ForbiddenError(`container ${c.id} is not connected to network ${net.Name}`);
  }
  if (live) await svc.disconnectContainer(c.id, net.Id, { force });
  if (recorded) requireService(call.ctx, "containers").recordNetwork(c.id, net.Name, null, modeNetwork);
  call.ctx.events.publish({ type: "network", action: "disconnect", id: net.Id, attributes: { container: c.id, name: net.Name, type: net.Driver } });
  json(call.res, 200, null);
}
