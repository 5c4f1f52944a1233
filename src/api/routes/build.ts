/**
 * Build endpoints (swagger tag "Image": ImageBuild, BuildPrune; and
 * /build/cancel), for the classic builder, as moby's build router reads
 * them (daemon/server/router/build/build_routes.go):
 *
 * - the body is the context tar (plain or compressed); `remote` contexts
 *   are refused, hako builds offline.
 * - the answer is a JSON-message stream started at the first message: a
 *   failure before any output (a Dockerfile that does not parse, a bad
 *   tag) is an HTTP error the CLI prints as "Error response from daemon",
 *   one after it travels as errorDetail. A RUN's non-zero exit carries its
 *   code (the docker CLI exits with it).
 * - q=1 holds the output back and sends only the image ID, or everything
 *   held back followed by the error.
 */
import { BuildStepError, type BuildOptions, type BuildOutput } from "../../build/builder.ts";
import { InvalidArgumentError, NotFoundError, errorMessage } from "../../common/errors.ts";
import type { AuthConfig, HostConfig } from "../../spec/docker-api.ts";
import { requireService } from "../context.ts";
import { boolParam, boolParamOr, intParam } from "../query.ts";
import { json, type JsonMessageStream } from "../response.ts";
import type { ApiCall, Router } from "../router.ts";
import { compareApiVersions } from "../version.ts";

/** Builds in progress by their `buildid`, for POST /build/cancel. */
const running = new Map<string, AbortController>();

export function registerBuildRoutes(router: Router): void {
  router.add("POST", "/build", build).add("POST", "/build/prune", prune).add("POST", "/build/cancel", cancel);
}

function jsonParam<T>(call: ApiCall, name: string, check: (v: unknown) => v is T): T | undefined {
  const raw = call.query.get(name);
  if (raw === null || raw.trim() === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new InvalidArgumentError(`invalid ${name} parameter: ${errorMessage(err)}`, { cause: err });
  }
  if (!check(parsed)) throw new InvalidArgumentError(`invalid ${name} parameter: ${raw}`);
  return parsed;
}

function isStringMap(allowNull: boolean) {
  return (v: unknown): v is Record<string, string | null> =>
    typeof v === "object" && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === "string" || (allowNull && x === null));
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

/**
 * X-Registry-Config: base64url JSON of credentials by registry host (the
 * docker CLI sends its config.json's). One that does not decode is
 * ignored, as dockerd ignores it.
 */
function registryConfig(call: ApiCall): { auths?: Record<string, AuthConfig> } {
  const raw = call.req.headers["x-registry-config"];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  if (!value) return {};
  try {
    const parsed = JSON.parse(Buffer.from(value, "base64").toString("utf8")) as unknown;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return {};
    const auths: Record<string, AuthConfig> = {};
    for (const [host, auth] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof auth === "object" && auth !== null) auths[host] = auth as AuthConfig;
    }
    return Object.keys(auths).length ? { auths } : {};
  } catch {
    return {};
  }
}

/** The build options of the query (moby's newImageBuildOptions). */
export function buildOptionsOf(call: ApiCall): BuildOptions {
  const q = call.query;
  if (q.get("remote")) throw new InvalidArgumentError("remote build contexts are not supported by hako");
  const version = q.get("version");
  if (version === "2") throw new InvalidArgumentError("hako has no BuildKit: build with the classic builder (DOCKER_BUILDKIT=0)");
  if (version && version !== "1") throw new InvalidArgumentError(`invalid version "${version}"`);
  if (boolParam(q, "squash")) throw new InvalidArgumentError("squash is only supported with experimental mode");
  jsonParam(call, "cachefrom", isStringList);
  const hostConfig: HostConfig = { NetworkMode: q.get("networkmode") || "default" };
  const extraHosts = q.getAll("extrahosts").filter(Boolean);
  if (extraHosts.length) hostConfig.ExtraHosts = extraHosts;
  const num = (param: string, field: keyof HostConfig): void => {
    const v = intParam(q, param, 0);
    if (v) (hostConfig as Record<string, unknown>)[field] = v;
  };
  num("shmsize", "ShmSize");
  num("memory", "Memory");
  num("memswap", "MemorySwap");
  num("cpushares", "CpuShares");
  num("cpuperiod", "CpuPeriod");
  num("cpuquota", "CpuQuota");
  if (q.get("cpusetcpus")) hostConfig.CpusetCpus = q.get("cpusetcpus")!;
  if (q.get("cpusetmems")) hostConfig.CpusetMems = q.get("cpusetmems")!;
  const forceRemove = boolParam(q, "forcerm");
  return {
    tags: q.getAll("t").filter((t) => t !== ""),
    dockerfile: q.get("dockerfile") || "Dockerfile",
    buildArgs: jsonParam(call, "buildargs", isStringMap(true)) ?? {},
    labels: (jsonParam(call, "labels", isStringMap(false)) ?? {}) as Record<string, string>,
    noCache: boolParam(q, "nocache"),
    pull: boolParam(q, "pull"),
    ...registryConfig(call),
    remove: forceRemove || boolParamOr(q, "rm", true),
    forceRemove,
    ...(q.get("target") ? { target: q.get("target")! } : {}),
    ...(q.get("platform") ? { platform: q.get("platform")!.toLowerCase() } : {}),
    hostConfig,
  };
}

/** POST /build */
async function build(call: ApiCall): Promise<void> {
  const builder = requireService(call.ctx, "builder");
  const options = buildOptionsOf(call);
  const quiet = boolParam(call.query, "q");
  const controller = new AbortController();
  const buildId = call.query.get("buildid") || undefined;
  if (buildId) running.set(buildId, controller);
  const onClientGone = (): void => controller.abort();
  call.signal.addEventListener("abort", onClientGone, { once: true });

  let stream: JsonMessageStream | undefined;
  const held: object[] = [];
  const send = (message: object): void => {
    if (quiet) {
      held.push(message);
      return;
    }
    stream ??= call.stream();
    stream.writeValue(message);
  };
  // The image ID in an aux message from API 1.30 on (moby's wantAux).
  const wantAux = compareApiVersions(call.version, "1.30") >= 0;
  const out: BuildOutput = {
    write: (text) => send({ stream: text }),
    aux: (id) => {
      if (wantAux) send({ aux: { ID: id } });
    },
    progress: (m) => send(m),
  };
  try {
    const id = await builder.build(call.req, options, out, controller.signal);
    stream ??= call.stream();
    if (quiet) stream.writeValue({ stream: `${id}\n` });
  } catch (err) {
    if (!stream && held.length === 0) throw err;
    stream ??= call.stream();
    for (const m of held) stream.writeValue(m);
    const message = errorMessage(err);
    const code = err instanceof BuildStepError ? err.exitCode : undefined;
    stream.writeValue({ errorDetail: { ...(code !== undefined ? { code } : {}), message }, error: message });
    call.ctx.log.info("build failed", { error: message });
  } finally {
    call.signal.removeEventListener("abort", onClientGone);
    if (buildId) running.delete(buildId);
  }
}

/** POST /build/prune: the classic builder's cache is its images (removed by image prune), so nothing here. */
function prune(call: ApiCall): void {
  requireService(call.ctx, "builder");
  json(call.res, 200, { CachesDeleted: null, SpaceReclaimed: 0 });
}

/** POST /build/cancel?id=: stops a build started with that buildid. */
function cancel(call: ApiCall): void {
  const id = call.query.get("id");
  if (!id) throw new InvalidArgumentError("build ID not provided");
  const controller = running.get(id);
  if (!controller) throw new NotFoundError(`no such build: ${id}`);
  controller.abort();
  json(call.res, 200, {});
}
