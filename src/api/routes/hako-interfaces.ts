/**
 * hako's extension for handing host interfaces to running containers
 * (network/handover.ts), under /hako like the other extensions:
 *
 *   GET    /hako/containers/{id}/interfaces          the interfaces it holds
 *   POST   /hako/containers/{id}/interfaces          {"HostInterface": "tap0", "Name": "eth1"} → 201
 *   DELETE /hako/containers/{id}/interfaces/{name}   back to the host → 204
 */
import { ConflictError, InvalidArgumentError } from "../../common/errors.ts";
import { giveBack, handOver, listInterfaces, type HandoverTarget } from "../../network/handover.ts";
import { readJsonObject } from "../body.ts";
import { requireService } from "../context.ts";
import { json, noContent } from "../response.ts";
import type { ApiCall, Router } from "../router.ts";

/** Registers the interface hand-over routes on `router`. */
export function registerHakoInterfacesRoutes(router: Router): void {
  router
    .add("GET", "/hako/containers/{id}/interfaces", listContainerInterfaces)
    .add("POST", "/hako/containers/{id}/interfaces", attachInterface)
    .add("DELETE", "/hako/containers/{id}/interfaces/{name}", detachInterface);
}

/** The container as a hand-over target; `running` insists on a live process (409 otherwise, Docker's words). */
function target(call: ApiCall, running: boolean): HandoverTarget {
  const containers = requireService(call.ctx, "containers");
  const c = containers.store.resolve(call.params.id!);
  const live = c.State.Running && !c.State.Restarting && c.State.Pid > 0;
  if (running && !live) throw new ConflictError(`Container ${c.ID} is not running`);
  if (running && c.State.Paused) throw new ConflictError(`Container ${c.ID} is paused, unpause the container before handing it interfaces`);
  return { id: c.ID, pid: live ? c.State.Pid : 0, stateDir: containers.shimDir(c.ID) };
}

function stringField(body: Record<string, unknown>, field: string, required: boolean): string | undefined {
  const v = body[field];
  if (v === undefined || v === null || v === "") {
    if (required) throw new InvalidArgumentError(`${field} is required`);
    return undefined;
  }
  if (typeof v !== "string") throw new InvalidArgumentError(`invalid ${field}: a string was expected`);
  return v;
}

/** GET: what the container holds (empty when it holds nothing or does not run). */
function listContainerInterfaces(call: ApiCall): void {
  json(call.res, 200, listInterfaces(target(call, false).stateDir));
}

/** POST {HostInterface, Name?}: 201 with the record. */
async function attachInterface(call: ApiCall): Promise<void> {
  const body = await readJsonObject(call.req);
  const host = stringField(body, "HostInterface", true)!;
  const name = stringField(body, "Name", false);
  const t = target(call, true);
  const rec = await handOver(t, host, name ?? host);
  call.ctx.log.info("host interface handed to a container", { id: t.id, host, name: rec.Name });
  json(call.res, 201, rec);
}

/** DELETE …/interfaces/{name} (its name inside or on the host): 204. */
async function detachInterface(call: ApiCall): Promise<void> {
  const t = target(call, true);
  const rec = await giveBack(t, call.params.name!);
  call.ctx.log.info("host interface given back", { id: t.id, host: rec.HostInterface, name: rec.Name });
  noContent(call.res);
}
