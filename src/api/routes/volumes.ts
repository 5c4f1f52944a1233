/**
 * Volumes endpoints (swagger tag "Volumes"): list, create, inspect, remove,
 * prune over the engine's VolumeStore (the local driver). Volume events
 * (create, destroy) are published here, as dockerd's volume service does.
 */
import { InvalidArgumentError, UnavailableError } from "../../common/errors.ts";
import type { VolumeFilters, VolumeStore } from "../../engine/volumes.ts";
import { readJsonObject } from "../body.ts";
import { requireService } from "../context.ts";
import { boolParam, parseFilters, type Filters } from "../query.ts";
import { json, noContent } from "../response.ts";
import type { ApiCall, Router } from "../router.ts";
import { apiVersionAtLeast } from "../version.ts";

const LIST_FILTERS = ["dangling", "driver", "label", "name"] as const;
const PRUNE_FILTERS = ["label", "label!", "all"] as const;

/** Registers the volumes routes on `router`. */
export function registerVolumesRoutes(router: Router): void {
  router
    .add("GET", "/volumes", listVolumes)
    .add("POST", "/volumes/create", createVolume)
    .add("POST", "/volumes/prune", pruneVolumes)
    .add("GET", "/volumes/{name}", inspectVolume)
    .add("PUT", "/volumes/{name}", updateVolume)
    .add("DELETE", "/volumes/{name}", removeVolume);
}

function volumes(call: ApiCall): VolumeStore {
  return requireService(call.ctx, "containers").volumes;
}

function filterRecord(filters: Filters): VolumeFilters {
  return Object.fromEntries(filters);
}

/** GET /volumes?filters=: {Volumes, Warnings}. */
function listVolumes(call: ApiCall): void {
  const filters = filterRecord(parseFilters(call.query, LIST_FILTERS));
  json(call.res, 200, { Volumes: volumes(call).list(filters), Warnings: [] });
}

/** A map of strings from the body (Labels, DriverOpts); null and absent are empty. */
function stringMap(body: Record<string, unknown>, field: string): Record<string, string> {
  const value = body[field];
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new InvalidArgumentError(`invalid ${field}: an object of strings was expected`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== "string") throw new InvalidArgumentError(`invalid ${field}: the value of ${JSON.stringify(k)} must be a string`);
    out[k] = v;
  }
  return out;
}

function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new InvalidArgumentError(`invalid ${field}: a string was expected`);
  return value;
}

/** POST /volumes/create: 201 and the Volume (an existing one of that name is returned as it is). */
async function createVolume(call: ApiCall): Promise<void> {
  const store = volumes(call);
  // dockerd decodes an empty body as an empty request: an anonymous volume.
  const body = (await readJsonObject(call.req, { optional: true })) ?? {};
  const name = optionalString(body, "Name");
  const driver = optionalString(body, "Driver");
  const labels = stringMap(body, "Labels");
  const driverOpts = stringMap(body, "DriverOpts");
  if (body.ClusterVolumeSpec !== undefined && body.ClusterVolumeSpec !== null) {
    throw new UnavailableError("cluster volumes need a swarm manager: this node is not part of a swarm");
  }
  const existed = name ? store.has(name) : false;
  const volume = store.create(name, { driver, labels, driverOpts });
  if (!existed) call.ctx.events.publish({ type: "volume", action: "create", id: volume.Name, attributes: { driver: volume.Driver } });
  json(call.res, 201, volume);
}

/** GET /volumes/{name}. */
function inspectVolume(call: ApiCall): void {
  json(call.res, 200, volumes(call).get(call.params.name!));
}

/** PUT /volumes/{name}: only cluster volumes can be updated, and there is no swarm. */
function updateVolume(call: ApiCall): void {
  const name = call.params.name!;
  volumes(call).get(name); // 404 first, as dockerd looks the volume up before refusing
  if (!call.query.get("version")) throw new InvalidArgumentError("version must be set");
  throw new UnavailableError(`volume ${name}: only cluster volumes can be updated, and this node is not part of a swarm`);
}

/** DELETE /volumes/{name}?force=: 204; 409 while a container uses it, 404 unless force. */
function removeVolume(call: ApiCall): void {
  const name = call.params.name!;
  const store = volumes(call);
  const existed = store.has(name);
  store.remove(name, { force: boolParam(call.query, "force") });
  if (existed) call.ctx.events.publish({ type: "volume", action: "destroy", id: name, attributes: { driver: "local" } });
  noContent(call.res);
}

/**
 * POST /volumes/prune?filters=: unused volumes. API 1.42 made prune keep
 * named volumes unless all=true; older clients get the old behaviour.
 */
function pruneVolumes(call: ApiCall): void {
  const filters = filterRecord(parseFilters(call.query, PRUNE_FILTERS));
  if (!apiVersionAtLeast(call.version, "1.42") && !filters.all) filters.all = ["true"];
  const result = volumes(call).prune(filters);
  for (const name of result.VolumesDeleted ?? []) {
    call.ctx.events.publish({ type: "volume", action: "destroy", id: name, attributes: { driver: "local" } });
  }
  call.ctx.events.publish({ type: "volume", action: "prune", id: "", attributes: { reclaimed: String(result.SpaceReclaimed) } });
  json(call.res, 200, { VolumesDeleted: result.VolumesDeleted?.length ? result.VolumesDeleted : null, SpaceReclaimed: result.SpaceReclaimed });
}
