/**
 * Container endpoints (swagger tag "Container") over the ContainerService,
 * with dockerd's semantics (moby api/server/router/container):
 *
 * - start of a running container and stop of a stopped one answer 304;
 *   kill, pause, resize and top of a stopped one 409.
 * - wait answers 200 and its headers at once, so the client knows the wait
 *   is registered before it starts the container (docker run), and the
 *   body when the condition holds; the client going away cancels it.
 * - attach is a hijacked connection (101 UPGRADED) or, for a client that
 *   does not ask for the upgrade, the stream on a plain 200 response.
 * - logs and attach are stdcopy-framed without a TTY, raw with one.
 *
 * Exec, archive, export, changes and commit live in their own route files.
 */
import { ConflictError, InvalidArgumentError, NotFoundError, NotImplementedError, errorMessage, withMessagePrefix } from "../../common/errors.ts";
import type { ContainerRecord } from "../../engine/container-store.ts";
import type { ContainerService } from "../../engine/containers.ts";
import { readLogs, secondsTextToNanos, type LogReadOptions } from "../../engine/logs.ts";
import { statsResponse, type StatsSample } from "../../engine/stats.ts";
import { top } from "../../engine/top.ts";
import { parseSignal } from "../../runtime/runtime.ts";
import type { ContainerCreateRequest, HostConfig, Resources } from "../../spec/docker-api.ts";
import { drained, parseDetachKeys, runAttach, type AttachRequest } from "../attach.ts";
import { readJsonObject } from "../body.ts";
import { requireService } from "../context.ts";
import { boolParam, boolParamOr, intParam, parseFilters, type Filters } from "../query.ts";
import { json, noContent } from "../response.ts";
import type { ApiCall, Router, UpgradeCall } from "../router.ts";
import { StdStream, rawStreamType, writeOutput } from "../stream.ts";
import { compareApiVersions } from "../version.ts";
import { checkCreateBody, checkUpdateBody } from "../container-body.ts";
import { parsePlatform } from "./images.ts";

/** Registers the containers routes on `router`. */
export function registerContainersRoutes(router: Router): void {
  router
    .add("POST", "/containers/create", createContainer)
    .add("GET", "/containers/json", listContainers)
    .add("POST", "/containers/prune", pruneContainers)
    .add("GET", "/containers/{id}/json", inspectContainer)
    .add("POST", "/containers/{id}/start", startContainer)
    .add("POST", "/containers/{id}/stop", stopContainer)
    .add("POST", "/containers/{id}/restart", restartContainer)
    .add("POST", "/containers/{id}/kill", killContainer)
    .add("POST", "/containers/{id}/pause", pauseContainer)
    .add("POST", "/containers/{id}/unpause", unpauseContainer)
    .add("POST", "/containers/{id}/rename", renameContainer)
    .add("POST", "/containers/{id}/update", updateContainer)
    .add("POST", "/containers/{id}/resize", resizeContainer)
    .add("POST", "/containers/{id}/wait", waitContainer)
    .add("DELETE", "/containers/{id}", removeContainer)
    .add("GET", "/containers/{id}/logs", containerLogs)
    .add("GET", "/containers/{id}/top", containerTop)
    .add("GET", "/containers/{id}/stats", containerStats)
    .add("POST", "/containers/{id}/attach", attachPlain)
    .addUpgrade("POST", "/containers/{id}/attach", attachUpgraded);
}

function containers(call: { ctx: ApiCall["ctx"] }): ContainerService {
  return requireService(call.ctx, "containers");
}

// ---------------------------------------------------------------- create, list, inspect

/** POST /containers/create?name=&platform= → 201 {Id, Warnings}. */
async function createContainer(call: ApiCall): Promise<void> {
  const service = containers(call);
  const platform = call.query.get("platform")?.trim();
  if (platform && compareApiVersions(call.version, "1.41") >= 0) {
    const p = parsePlatform(platform);
    if (p.os !== "linux") throw new InvalidArgumentError(`operating system is not supported: ${p.os}`);
  }
  const body = checkCreateBody(await readJsonObject(call.req));
  // moby's create route: 0 and any negative pids limit mean none at all (null).
  const hostConfig = body.HostConfig as { PidsLimit?: number | null } | undefined;
  if (typeof hostConfig?.PidsLimit === "number" && hostConfig.PidsLimit <= 0) hostConfig.PidsLimit = null;
  const name = call.query.get("name") ?? "";
  const created = await service.create(body as ContainerCreateRequest, name ? { name } : {});
  json(call.res, 201, { Id: created.Id, Warnings: created.Warnings ?? [] });
}

/** moby's container list filters. */
const LIST_FILTERS = ["ancestor", "before", "expose", "exited", "health", "id", "isolation", "is-task", "label", "name", "network", "publish", "since", "status", "volume"];
const STATUSES = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];
const HEALTH = ["starting", "healthy", "unhealthy", "none"];

/** moby's refusals of list filters, in its words; a name pattern that does not compile just matches nothing. */
function checkListFilters(filters: Filters, service: ContainerService): Record<string, string[]> {
  for (const s of filters.get("status") ?? []) if (!STATUSES.includes(s)) throw new InvalidArgumentError(`invalid filter 'status=${s}'`);
  for (const h of filters.get("health") ?? []) if (!HEALTH.includes(h)) throw new InvalidArgumentError(`Unrecognised filter value for health: ${h}`);
  for (const e of filters.get("exited") ?? []) if (!/^[+-]?\d+$/.test(e)) throw new InvalidArgumentError(`strconv.Atoi: parsing ${JSON.stringify(e)}: invalid syntax`);
  const isTask = filters.get("is-task") ?? [];
  if (isTask.length && !isTask.every((v) => v === "true" || v === "false")) throw new InvalidArgumentError(`Invalid filter 'is-task=[${isTask.join(" ")}]'`);
  for (const key of ["before", "since"]) {
    for (const ref of filters.get(key) ?? []) if (!service.store.find(ref)) throw new NotFoundError(`no such container ${ref}`);
  }
  const out = Object.fromEntries(filters);
  // "80", "80/tcp", "8000-8001/udp": the ports they name, as ExposedPorts and PortBindings key them.
  for (const key of ["expose", "publish"]) if (out[key]) out[key] = out[key].flatMap((v) => portsOf(key, v));
  return out;
}

function portsOf(filter: string, value: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(value);
  const lo = Number(m?.[1]);
  const hi = m?.[2] ? Number(m[2]) : lo;
  if (!m || lo < 1 || hi > 65535 || hi < lo) throw new InvalidArgumentError(`invalid filter '${filter}=${value}'`);
  const proto = (m[3] ?? "tcp").toLowerCase();
  return Array.from({ length: hi - lo + 1 }, (_, i) => `${lo + i}/${proto}`);
}

/** GET /containers/json?all=&limit=&size=&filters= */
async function listContainers(call: ApiCall): Promise<void> {
  const service = containers(call);
  const limit = intParam(call.query, "limit", -1);
  // -1 is "no limit" (old clients send it); anything below is nonsense.
  if (limit < -1) throw new InvalidArgumentError(`invalid value for limit: ${limit} (it must be -1 or more)`);
  const filters = checkListFilters(parseFilters(call.query, LIST_FILTERS), service);
  const size = boolParam(call.query, "size");
  const list = service.list({ all: boolParam(call.query, "all"), limit, size, filters });
  if (!size) return json(call.res, 200, list);
  json(call.res, 200, await Promise.all(list.map(async (c) => ({ ...c, ...(await sizes(service, c.Id)) }))));
}

/** SizeRw (the writable layer's usage) and SizeRootFs (that plus the image), as size=1 asks. */
async function sizes(service: ContainerService, id: string): Promise<{ SizeRw: number; SizeRootFs: number }> {
  const c = service.store.get(id);
  const rw = (await service.images.layers.snapshotter.usage(id).catch(() => ({ size: 0 }))).size;
  const image = c ? service.images.images.get(c.Image) : undefined;
  return { SizeRw: rw, SizeRootFs: rw + (image?.size ?? 0) };
}

/** GET /containers/{id}/json?size= */
async function inspectContainer(call: ApiCall): Promise<void> {
  const service = containers(call);
  const size = boolParam(call.query, "size");
  const body = service.inspect(call.params.id!, { size });
  json(call.res, 200, size ? { ...body, ...(await sizes(service, body.Id!)) } : body);
}

// ---------------------------------------------------------------- lifecycle

async function startContainer(call: ApiCall): Promise<void> {
  const service = containers(call);
  const c = service.store.resolve(call.params.id!);
  // moby checks this before "already running" (304).
  if (c.State.Paused) throw new ConflictError("cannot start a paused container, try unpause instead");
  const started = await service.start(c.ID);
  noContent(call.res, started ? 204 : 304);
}

/** `t` (seconds, -1 waits for ever) and `signal`, as stop and restart take them. */
function stopOptions(call: ApiCall): { signal?: string; timeout?: number } {
  const options: { signal?: string; timeout?: number } = {};
  if (call.query.has("t") && call.query.get("t") !== "") options.timeout = intParam(call.query, "t", 10);
  const signal = call.query.get("signal");
  if (signal && compareApiVersions(call.version, "1.42") >= 0) {
    checkSignal(signal);
    options.signal = signal;
  }
  return options;
}

/** moby's signal.ParseSignal failure, as a 400. */
/** moby's signal.ParseSignal: any non-zero number, or a name it knows. */
function checkSignal(signal: string): number {
  if (/^[+-]?\d+$/.test(signal)) {
    if (Number(signal) === 0) throw new InvalidArgumentError(`Invalid signal: ${signal}`);
    return Number(signal);
  }
  try {
    return parseSignal(signal);
  } catch (err) {
    throw new InvalidArgumentError(`Invalid signal: ${signal}`, { cause: err });
  }
}

/** The signals Linux has (32 and 33 belong to the C library): a number outside them is refused as dockerd refuses it. */
function checkPlatformSignal(sig: number): void {
  if (!((sig >= 1 && sig <= 31) || (sig >= 34 && sig <= 64))) throw new InvalidArgumentError(`The linux daemon does not support signal ${sig}`);
}

async function stopContainer(call: ApiCall): Promise<void> {
  const stopped = await containers(call).stop(call.params.id!, stopOptions(call));
  noContent(call.res, stopped ? 204 : 304);
}

async function restartContainer(call: ApiCall): Promise<void> {
  await containers(call).restart(call.params.id!, stopOptions(call));
  noContent(call.res);
}

/** POST /containers/{id}/kill?signal=: every failure reads "Cannot kill container: <ref>: ..." (moby's route). */
function killContainer(call: ApiCall): void {
  const service = containers(call);
  const ref = call.params.id!;
  try {
    const sig = checkSignal(call.query.get("signal") || "KILL");
    const c = service.store.resolve(ref);
    checkPlatformSignal(sig);
    if (!c.State.Running || c.State.Restarting) throw new ConflictError(`container ${c.ID} is not running`);
    service.kill(c.ID, String(sig));
  } catch (err) {
    throw withMessagePrefix(err, `Cannot kill container: ${ref}: `);
  }
  noContent(call.res);
}

function pauseContainer(call: ApiCall): void {
  containers(call).pause(call.params.id!);
  noContent(call.res);
}

function unpauseContainer(call: ApiCall): void {
  containers(call).unpause(call.params.id!);
  noContent(call.res);
}

function renameContainer(call: ApiCall): void {
  const name = call.query.get("name") ?? "";
  containers(call).rename(call.params.id!, name);
  noContent(call.res);
}

/** POST /containers/{id}/update: new resources (and restart policy) → {Warnings}. */
async function updateContainer(call: ApiCall): Promise<void> {
  const body = checkUpdateBody(await readJsonObject(call.req));
  const result = containers(call).update(call.params.id!, body as Resources & { RestartPolicy?: HostConfig["RestartPolicy"] });
  json(call.res, 200, { Warnings: result.Warnings ?? [] });
}

async function resizeContainer(call: ApiCall): Promise<void> {
  const h = intParam(call.query, "h", 0);
  const w = intParam(call.query, "w", 0);
  if (h < 0 || w < 0 || h > 0xffff || w > 0xffff) throw new InvalidArgumentError(`invalid terminal size ${h}x${w}: height and width must be between 0 and 65535`);
  await containers(call).resize(call.params.id!, h, w);
  noContent(call.res, 200);
}

const WAIT_CONDITIONS = ["not-running", "next-exit", "removed"] as const;

/** POST /containers/{id}/wait?condition= : headers now, {StatusCode, Error?} when the condition holds. */
async function waitContainer(call: ApiCall): Promise<void> {
  const service = containers(call);
  const raw = call.query.get("condition") || "not-running";
  const condition = WAIT_CONDITIONS.find((c) => c === raw);
  if (!condition) throw new InvalidArgumentError(`invalid condition: "${raw}"`);
  const c = service.store.resolve(call.params.id!);
  const waiting = service.wait(c.ID, condition, call.signal);
  // The client may start the container only once it knows the wait is registered.
  call.res.statusCode = 200;
  call.res.setHeader("Content-Type", "application/json");
  call.res.flushHeaders();
  let result;
  try {
    result = await waiting;
  } catch (err) {
    if (call.signal.aborted) return;
    result = { StatusCode: -1, Error: { Message: errorMessage(err) } };
  }
  const body: { StatusCode: number; Error?: { Message: string } } = { StatusCode: result.StatusCode };
  if (result.Error?.Message) body.Error = { Message: result.Error.Message };
  call.res.end(`${JSON.stringify(body)}\n`);
}

/** DELETE /containers/{id}?force=&v=&link= */
async function removeContainer(call: ApiCall): Promise<void> {
  if (boolParam(call.query, "link")) throw new InvalidArgumentError("Conflict, cannot remove the default link name of the container");
  await containers(call).remove(call.params.id!, { force: boolParam(call.query, "force"), volumes: boolParam(call.query, "v") });
  noContent(call.res);
}

const PRUNE_FILTERS = ["label", "label!", "until"];

/** POST /containers/prune?filters= → {ContainersDeleted, SpaceReclaimed}. */
async function pruneContainers(call: ApiCall): Promise<void> {
  const filters = parseFilters(call.query, PRUNE_FILTERS);
  for (const u of filters.get("until") ?? []) {
    if (!/^\d+(\.\d+)?$/.test(u) && !/^\d+[hms]$/.test(u) && Number.isNaN(Date.parse(u))) throw new InvalidArgumentError(`invalid filter 'until=${u}'`);
  }
  const result = await containers(call).prune(Object.fromEntries(filters));
  call.ctx.events.publish({ type: "container", action: "prune", id: "", attributes: { reclaimed: String(result.SpaceReclaimed) } });
  json(call.res, 200, result);
}

// ---------------------------------------------------------------- logs

/** moby timetypes.ParseTimestamps: "seconds[.nanos]" (what clients send) or an RFC 3339 date; 0 or "" is "unset". */
function timestampParam(call: ApiCall, name: string): number | undefined {
  const raw = call.query.get(name)?.trim();
  if (!raw) return undefined;
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw) === 0 ? undefined : Number(raw);
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) throw new InvalidArgumentError(`invalid value for ${name}: ${JSON.stringify(raw)} is not a timestamp`);
  return ms / 1000;
}

/** Resolves once `c` is not running (follow ends there). */
function notRunning(service: ContainerService, c: ContainerRecord, signal: AbortSignal): Promise<unknown> {
  if (!c.State.Running) return Promise.resolve();
  return service.wait(c.ID, "not-running", signal).catch(() => undefined);
}

/** GET /containers/{id}/logs: multiplexed frames without a TTY, raw with one; follow ends when the container stops. */
async function containerLogs(call: ApiCall): Promise<void> {
  const service = containers(call);
  const c = service.store.resolve(call.params.id!);
  const stdout = boolParam(call.query, "stdout");
  const stderr = boolParam(call.query, "stderr");
  if (!stdout && !stderr) throw new InvalidArgumentError("Bad parameters: you must choose at least one stream");
  if (c.HostConfig.LogConfig?.Type === "none") throw new NotImplementedError(`configured logging driver does not support reading`);
  const tailRaw = (call.query.get("tail") ?? "all").trim();
  // moby: anything that is not a number means every line.
  const tail = /^\d+$/.test(tailRaw) ? Number(tailRaw) : undefined;
  const follow = boolParam(call.query, "follow");
  const timestamps = boolParam(call.query, "timestamps");
  // details: the line's attributes (none are recorded here) and a space before it, as moby's reader writes them.
  const details = boolParam(call.query, "details") ? " " : "";
  const until = timestampParam(call, "until");
  const options: LogReadOptions = { stdout, stderr, tail, since: timestampParam(call, "since"), until, follow, signal: call.signal };
  // The docker CLI sends "seconds.nanoseconds": kept exact, a line at that instant is shown.
  const untilRaw = call.query.get("until")?.trim() ?? "";
  if (until !== undefined && /^\d+(\.\d+)?$/.test(untilRaw)) options.untilNanos = secondsTextToNanos(untilRaw);
  if (follow) options.stopped = notRunning(service, c, call.signal);

  const tty = Boolean(c.Config.Tty);
  const multiplexed = !tty;
  const res = call.res;
  res.statusCode = 200;
  res.setHeader("Content-Type", streamType(call, tty));
  res.flushHeaders();
  for await (const entry of readLogs(c.LogPath, options)) {
    if (call.signal.aborted || res.destroyed) return;
    const line = timestamps ? `${entry.time} ${details}${entry.log}` : `${details}${entry.log}`;
    if (!writeOutput(res, multiplexed, entry.stream === "stderr" ? StdStream.Stderr : StdStream.Stdout, Buffer.from(line))) await drained(res, call.signal);
  }
}

// ---------------------------------------------------------------- top, stats

/** GET /containers/{id}/top?ps_args= → {Titles, Processes}. */
async function containerTop(call: ApiCall): Promise<void> {
  const service = containers(call);
  const c = service.store.resolve(call.params.id!);
  if (!c.State.Running || c.State.Restarting) throw new ConflictError(`container ${c.ID} is not running`);
  const { cgroup } = service.liveCgroup(c.ID);
  const psArgs = call.query.get("ps_args") ?? "-ef";
  json(call.res, 200, await top(cgroup.pids(), psArgs || "-ef"));
}

const STATS_INTERVAL_MS = 1000;

/** GET /containers/{id}/stats?stream=&one-shot= */
async function containerStats(call: ApiCall): Promise<void> {
  const service = containers(call);
  const c = service.store.resolve(call.params.id!);
  const stream = boolParamOr(call.query, "stream", true);
  const oneShot = boolParam(call.query, "one-shot");
  if (oneShot && stream) throw new InvalidArgumentError("cannot have stream=true and one-shot=true");
  const name = c.Name.replace(/^\//, "");
  if (!c.State.Running) {
    // dockerd answers a stopped container with one empty sample.
    json(call.res, 200, { name: c.Name, id: c.ID, read: "0001-01-01T00:00:00Z", preread: "0001-01-01T00:00:00Z" });
    return;
  }
  const { cgroup } = service.liveCgroup(c.ID);
  const sample = (previous?: StatsSample): ReturnType<typeof statsResponse> | undefined => {
    try {
      return statsResponse({ id: c.ID, name, stats: cgroup.stats(), previous });
    } catch {
      return undefined; // the cgroup went with the container
    }
  };
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        call.signal.removeEventListener("abort", done);
        resolve();
      }
      call.signal.addEventListener("abort", done, { once: true });
    });

  if (!stream) {
    let first = sample();
    if (!first) throw new ConflictError(`container ${c.ID} is not running`);
    if (!oneShot) {
      // Two samples, so the client can compute CPU % from precpu_stats.
      await sleep(STATS_INTERVAL_MS);
      first = sample(first.sample) ?? first;
    }
    json(call.res, 200, first.response);
    return;
  }
  const out = call.stream("application/json");
  let previous: StatsSample | undefined;
  while (!call.signal.aborted && out.open) {
    const current = service.store.get(c.ID);
    if (!current?.State.Running) break;
    const s = sample(previous);
    if (!s) break;
    previous = s.sample;
    out.writeValue(s.response);
    await out.drained();
    await sleep(STATS_INTERVAL_MS);
  }
}

// ---------------------------------------------------------------- attach

function attachRequest(call: { query: URLSearchParams }): AttachRequest {
  return {
    stdin: boolParam(call.query, "stdin"),
    stdout: boolParam(call.query, "stdout"),
    stderr: boolParam(call.query, "stderr"),
    logs: boolParam(call.query, "logs"),
    stream: boolParam(call.query, "stream"),
    detachKeys: parseDetachKeys(call.query.get("detachKeys")),
  };
}

/** The Content-Type of a log or attach stream: before API 1.42 dockerd called even multiplexed streams raw. */
function streamType(call: { version: string }, tty: boolean): string {
  return tty || compareApiVersions(call.version, "1.42") < 0 ? rawStreamType(true) : rawStreamType(false);
}

/** moby's attach refusals, before anything is answered. */
function attachable(service: ContainerService, ref: string): ContainerRecord {
  const c = service.store.resolve(ref);
  if (c.State.Paused) throw new ConflictError(`You cannot attach to a paused container, unpause it first`);
  if (c.State.Restarting) throw new ConflictError(`You cannot attach to a restarting container, wait until it is running`);
  return c;
}

/** The hijacked form (what docker run and docker attach use): 101, then the raw stream both ways. */
async function attachUpgraded(call: UpgradeCall): Promise<void> {
  const service = containers(call);
  const request = attachRequest(call);
  const c = attachable(service, call.params.id!);
  call.upgrade(streamType(call, Boolean(c.Config.Tty)));
  const socket = call.socket;
  try {
    const end = await runAttach(service, c, request, { out: socket, input: socket, head: call.head, signal: call.signal });
    call.ctx.log.debug("attach ended", { id: c.ID, how: end });
  } catch (err) {
    if (call.signal.aborted) return;
    // After the 101 the client can only learn of it in-stream.
    if (!c.Config.Tty) writeOutput(socket, true, StdStream.Systemerr, Buffer.from(`${errorMessage(err)}\n`));
    call.ctx.log.debug("attach failed", { id: c.ID, error: errorMessage(err) });
  }
  if (!socket.destroyed) socket.end();
}

/** The same request without the upgrade: the output on a plain 200 response, no stdin. */
async function attachPlain(call: ApiCall): Promise<void> {
  const service = containers(call);
  const request = attachRequest(call);
  const c = attachable(service, call.params.id!);
  const res = call.res;
  res.statusCode = 200;
  res.setHeader("Content-Type", streamType(call, Boolean(c.Config.Tty)));
  res.flushHeaders();
  await runAttach(service, c, { ...request, stdin: false }, { out: res, signal: call.signal });
}
