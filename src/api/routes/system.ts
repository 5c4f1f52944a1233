/**
 * System endpoints (swagger tag "System"): /_ping, /version, /info,
 * /events, /auth, /system/df, and OPTIONS on any path.
 */
import { readdirSync } from "node:fs";
import { InvalidArgumentError, errorMessage } from "../../common/errors.ts";
import type { ContainerService } from "../../engine/containers.ts";
import { DEFAULT_RUNTIME } from "../../engine/specgen.ts";
import { chainIds } from "../../image/ids.ts";
import type { ImageService } from "../../image/service.ts";
import type { ContainerSummary, ImageSummary, Volume } from "../../spec/docker-api.ts";
import { readHostFacts } from "../../daemon/host-info.ts";
import type { EngineEvent } from "../../daemon/events.ts";
import { helperPath } from "../../native/shim.ts";
import { readJsonObject } from "../body.ts";
import { requireService, type AuthConfig, type ContainerCounts, type DaemonContext } from "../context.ts";
import { parseFilters, type Filters } from "../query.ts";
import { json, noContent, text } from "../response.ts";
import type { ApiCall, Router } from "../router.ts";
import { API_VERSION, MIN_API_VERSION, apiVersionAtLeast, buildInfo } from "../version.ts";

/** Registers the system routes on `router`. */
export function registerSystemRoutes(router: Router): void {
  router
    .add("OPTIONS", "/{anything:.*}", (call) => noContent(call.res, 200))
    .add("GET", "/_ping", ping)
    .add("HEAD", "/_ping", ping)
    .add("GET", "/version", version)
    .add("GET", "/info", info)
    .add("GET", "/events", events)
    .add("POST", "/auth", auth)
    .add("GET", "/system/df", systemDiskUsage);
}

function ping(call: ApiCall): void {
  const { res } = call;
  res.setHeader("Cache-Control", "no-cache, no-store, must-revalidate");
  res.setHeader("Pragma", "no-cache");
  res.setHeader("Builder-Version", "1");
  res.setHeader("Swarm", "inactive");
  if (call.req.method === "HEAD") {
    res.statusCode = 200;
    res.setHeader("Content-Type", "text/plain; charset=utf-8");
    res.setHeader("Content-Length", "0");
    res.end();
    return;
  }
  text(res, 200, "OK");
}

/** GET /version: SystemVersion. */
export function systemVersion(): Record<string, unknown> {
  const b = buildInfo();
  const kernel = readHostFacts().kernelVersion;
  return {
    Platform: { Name: "hako" },
    Components: [
      {
        Name: "Engine",
        Version: b.version,
        Details: {
          ApiVersion: API_VERSION,
          Arch: b.arch,
          BuildTime: b.buildTime,
          Experimental: "false",
          GitCommit: b.gitCommit,
          GoVersion: b.runtimeVersion,
          KernelVersion: kernel,
          MinAPIVersion: MIN_API_VERSION,
          Os: b.os,
        },
      },
    ],
    Version: b.version,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: b.gitCommit,
    GoVersion: b.runtimeVersion,
    Os: b.os,
    Arch: b.arch,
    KernelVersion: kernel,
    BuildTime: b.buildTime,
  };
}

function version(call: ApiCall): void {
  json(call.res, 200, systemVersion());
}

async function info(call: ApiCall): Promise<void> {
  json(call.res, 200, await systemInfo(call.ctx));
}

/** GET /info: SystemInfo with the fields the docker CLI prints. */
export async function systemInfo(ctx: DaemonContext): Promise<Record<string, unknown>> {
  const host = readHostFacts();
  const source = ctx.services.system;
  const counts: ContainerCounts = (await source?.containers?.()) ?? { total: 0, running: 0, paused: 0, stopped: 0 };
  const images = (await source?.images?.()) ?? 0;
  const storage = (await source?.storage?.()) ?? { driver: "overlay2", status: [] };
  const securityOptions = host.seccomp ? ["name=seccomp,profile=builtin"] : [];
  if (host.cgroupVersion === 2) securityOptions.push("name=cgroupns");
  const commit = { ID: "N/A", Expected: "N/A" };
  return {
    ID: ctx.engineId,
    Containers: counts.total,
    ContainersRunning: counts.running,
    ContainersPaused: counts.paused,
    ContainersStopped: counts.stopped,
    Images: images,
    Driver: storage.driver,
    DriverStatus: storage.status,
    Plugins: { Volume: ["local"], Network: ["bridge", "host", "null"], Authorization: null, Log: ["json-file"] },
    MemoryLimit: host.cgroups.memoryLimit,
    SwapLimit: host.cgroups.swapLimit,
    KernelMemoryTCP: host.cgroups.kernelMemoryTCP,
    CpuCfsPeriod: host.cgroups.cpuCfs,
    CpuCfsQuota: host.cgroups.cpuCfs,
    CPUShares: host.cgroups.cpuShares,
    CPUSet: host.cgroups.cpuset,
    PidsLimit: host.cgroups.pidsLimit,
    IPv4Forwarding: host.ipv4Forwarding,
    // Always false before API 1.50 removed them (moby system_routes.go).
    BridgeNfIptables: false,
    BridgeNfIp6tables: false,
    Debug: ctx.settings.debug,
    NFd: openFdCount(),
    OomKillDisable: host.cgroups.oomKillDisable,
    NGoroutines: process.getActiveResourcesInfo().length,
    SystemTime: new Date().toISOString(),
    LoggingDriver: "json-file",
    CgroupDriver: "cgroupfs",
    CgroupVersion: String(host.cgroupVersion),
    NEventsListener: ctx.events.subscriberCount,
    KernelVersion: host.kernelVersion,
    OperatingSystem: host.operatingSystem,
    OSVersion: host.osVersion,
    OSType: "linux",
    Architecture: host.architecture,
    IndexServerAddress: "https://index.docker.io/v1/",
    RegistryConfig: {
      AllowNondistributableArtifactsCIDRs: null,
      AllowNondistributableArtifactsHostnames: null,
      InsecureRegistryCIDRs: ["::1/128", "127.0.0.0/8"],
      IndexConfigs: { "docker.io": { Name: "docker.io", Mirrors: [], Secure: true, Official: true } },
      Mirrors: null,
    },
    NCPU: host.ncpu,
    MemTotal: host.memTotal,
    GenericResources: null,
    DockerRootDir: ctx.settings.dataRoot,
    HttpProxy: maskCredentials(proxyEnv("HTTP_PROXY")),
    HttpsProxy: maskCredentials(proxyEnv("HTTPS_PROXY")),
    NoProxy: proxyEnv("NO_PROXY"),
    Name: host.hostname,
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: buildInfo().version,
    Runtimes: { [DEFAULT_RUNTIME]: { path: runtimePath() } },
    DefaultRuntime: DEFAULT_RUNTIME,
    Swarm: { NodeID: "", NodeAddr: "", LocalNodeState: "inactive", ControlAvailable: false, Error: "", RemoteManagers: null },
    LiveRestoreEnabled: false,
    Isolation: "",
    InitBinary: "",
    ContainerdCommit: commit,
    RuncCommit: commit,
    InitCommit: commit,
    SecurityOptions: securityOptions,
    CDISpecDirs: [],
    Warnings: host.warnings,
  };
}

function openFdCount(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return -1;
  }
}

function proxyEnv(name: string): string {
  return process.env[name] ?? process.env[name.toLowerCase()] ?? "";
}

/** moby's config.MaskCredentials: the password of a proxy URL is not shown. */
function maskCredentials(raw: string): string {
  try {
    const u = new URL(raw);
    if (!u.username && !u.password) return raw;
    u.username = "xxxxx";
    u.password = "xxxxx";
    return u.toString().replace(/\/$/, raw.endsWith("/") ? "/" : "");
  } catch {
    return raw;
  }
}

function runtimePath(): string {
  try {
    return helperPath();
  } catch {
    return "hako-shim";
  }
}

const EVENT_FILTERS = ["config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope", "secret", "service", "type", "volume"];

/** GET /events: past events from `since`, then live ones until `until` or the client leaves. */
async function events(call: ApiCall): Promise<void> {
  const sinceText = call.query.get("since") ?? "";
  const untilText = call.query.get("until") ?? "";
  const since = parseEventTime(sinceText, "since");
  const until = parseEventTime(untilText, "until");
  if (since !== undefined && until !== undefined && until < since) {
    throw new InvalidArgumentError(`\`since\` time (${sinceText}) cannot be after \`until\` time (${untilText})`);
  }
  const filters = parseFilters(call.query, EVENT_FILTERS);
  const accept = call.req.headers.accept ?? "";
  const stream = call.stream(accept.includes("application/x-ndjson") ? "application/x-ndjson" : "application/json");
  const bus = call.ctx.events;
  const send = (ev: EngineEvent): void => {
    if (matchesEvent(ev, filters)) stream.writeValue(withLegacyFields(ev));
  };
  const nowNano = BigInt(Date.now()) * 1_000_000n;
  if (since !== undefined) {
    for (const ev of bus.since(since)) if (until === undefined || BigInt(ev.timeNano) <= until) send(ev);
  }
  if (until !== undefined && until <= nowNano) return;

  await new Promise<void>((resolve) => {
    const unsubscribe = bus.subscribe(send);
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      call.signal.removeEventListener("abort", done);
      resolve();
    };
    if (until !== undefined) timer = setTimeout(done, Number((until - nowNano) / 1_000_000n));
    if (call.signal.aborted) done();
    else call.signal.addEventListener("abort", done);
  });
}

/**
 * A since/until value: unix seconds with optional fraction ("1700000000.5",
 * what the docker CLI sends) or an RFC 3339 time; unix nanoseconds.
 */
export function parseEventTime(value: string, name: string): bigint | undefined {
  const v = value.trim();
  if (v === "") return undefined;
  const m = /^(-?\d+)(?:\.(\d{1,9}))?$/.exec(v);
  if (m) return BigInt(m[1]!) * 1_000_000_000n + BigInt((m[2] ?? "").padEnd(9, "0") || "0");
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new InvalidArgumentError(`invalid value for ${name}: ${JSON.stringify(value)} is not a timestamp`);
  return BigInt(ms) * 1_000_000n;
}

function matchesEvent(ev: EngineEvent, filters: Filters): boolean {
  const any = (key: string, test: (v: string) => boolean): boolean => {
    const values = filters.get(key);
    return !values || values.length === 0 || values.some(test);
  };
  const actorMatches = (v: string): boolean => ev.Actor.ID === v || ev.Actor.ID.startsWith(v) || ev.Actor.Attributes.name === v;
  return (
    any("type", (v) => v === ev.Type) &&
    any("event", (v) => v === ev.Action || ev.Action.startsWith(`${v}:`)) &&
    any("scope", (v) => v === ev.scope) &&
    any("container", (v) => ev.Type === "container" && actorMatches(v)) &&
    any("image", (v) => (ev.Type === "image" && actorMatches(v)) || ev.Actor.Attributes.image === v) &&
    any("network", (v) => ev.Type === "network" && actorMatches(v)) &&
    any("volume", (v) => ev.Type === "volume" && actorMatches(v)) &&
    any("daemon", (v) => ev.Type === "daemon" && actorMatches(v)) &&
    any("label", (v) => {
      const eq = v.indexOf("=");
      const key = eq < 0 ? v : v.slice(0, eq);
      return key in ev.Actor.Attributes && (eq < 0 || ev.Actor.Attributes[key] === v.slice(eq + 1));
    })
  );
}

// The docker CLI before v25 (and compose) read the fields deprecated in API
// 1.22; dockerd keeps sending them below API 1.52.
function withLegacyFields(ev: EngineEvent): Record<string, unknown> {
  if (ev.Type === "container") return { status: ev.Action, id: ev.Actor.ID, from: ev.Actor.Attributes.image ?? "", ...ev };
  if (ev.Type === "image") return { status: ev.Action, id: ev.Actor.ID, ...ev };
  return { ...ev };
}

/** POST /auth: checks credentials through the injected authenticator. */
async function auth(call: ApiCall): Promise<void> {
  const body = await readJsonObject(call.req);
  const config: AuthConfig = {};
  const known = ["username", "password", "email", "serveraddress", "identitytoken", "registrytoken", "auth"] as const;
  // Go's encoding/json matches field names case-insensitively; so do we.
  for (const [name, v] of Object.entries(body)) {
    const key = known.find((k) => k === name.toLowerCase());
    if (!key || v === undefined || v === null) continue;
    if (typeof v !== "string") throw new InvalidArgumentError(`invalid value for ${name}: a string was expected`);
    config[key] = v;
  }
  const authenticate = call.ctx.services.authenticator;
  const result = authenticate ? await authenticate(config, { signal: call.signal }) : { Status: "Login Succeeded" };
  json(call.res, 200, result.IdentityToken ? result : { Status: result.Status });
}

/** GET /system/df?type=: what images, containers, volumes (and the build cache) take on disk. */
async function systemDiskUsage(call: ApiCall): Promise<void> {
  const images = requireService(call.ctx, "images");
  const containers = requireService(call.ctx, "containers");
  // Before API 1.42 the type parameter did not exist; dockerd ignores it there.
  const types = apiVersionAtLeast(call.version, "1.42") ? call.query.getAll("type") : [];
  json(call.res, 200, await diskUsage(images, containers, types));
}

const DISK_USAGE_TYPES = ["container", "image", "volume", "build-cache"] as const;
type DiskUsageType = (typeof DISK_USAGE_TYPES)[number];

/** Docker's DiskUsage: a part not asked for is null (dockerd's nil slice). */
export interface DiskUsage {
  LayersSize: number;
  Images: ImageSummary[] | null;
  Containers: ContainerSummary[] | null;
  Volumes: Volume[] | null;
  BuildCache: unknown[] | null;
}

/**
 * The disk usage of the parts named in `types` (all of them when empty).
 * Sizes are computed now, as dockerd does: walking the writable layers and
 * volumes, so a large volume makes this slow, not wrong.
 */
export async function diskUsage(images: ImageService, containers: ContainerService, types: readonly string[]): Promise<DiskUsage> {
  for (const t of types) {
    if (!(DISK_USAGE_TYPES as readonly string[]).includes(t)) throw new InvalidArgumentError(`unknown object type: ${t}`);
  }
  const wants = (t: DiskUsageType): boolean => types.length === 0 || types.includes(t);
  return {
    LayersSize: wants("image") ? images.usage() : 0,
    Images: wants("image") ? imagesUsage(images, containers) : null,
    Containers: wants("container") ? await containersUsage(images, containers) : null,
    Volumes: wants("volume") ? volumesUsage(containers) : null,
    // hako has no builder, so no build cache.
    BuildCache: wants("build-cache") ? [] : null,
  };
}

/** Image summaries with SharedSize (bytes of layers another image also uses) and the count of containers on each. */
function imagesUsage(images: ImageService, containers: ContainerService): ImageSummary[] {
  const summaries = images.list({ all: true });
  const chainsOf = new Map<string, string[]>();
  const imagesPerChain = new Map<string, number>();
  for (const s of summaries) {
    const record = images.images.get(s.Id);
    const chains = record ? chainIds(record.layers.map((l) => l.diffId)) : [];
    chainsOf.set(s.Id, chains);
    for (const c of chains) imagesPerChain.set(c, (imagesPerChain.get(c) ?? 0) + 1);
  }
  const records = containers.store.list();
  return summaries.map((s) => {
    let shared = 0;
    for (const c of chainsOf.get(s.Id) ?? []) {
      if ((imagesPerChain.get(c) ?? 0) < 2) continue;
      try {
        shared += images.layers.contentSize(c);
      } catch {
        // a layer record gone missing counts as nothing shared
      }
    }
    return { ...s, SharedSize: shared, Containers: records.filter((r) => r.Image === s.Id).length };
  });
}

/** Every container with SizeRw (its writable layer) and SizeRootFs (that plus its image). */
async function containersUsage(images: ImageService, containers: ContainerService): Promise<ContainerSummary[]> {
  const snapshotter = images.layers.snapshotter;
  return Promise.all(
    containers.list({ all: true }).map(async (c) => {
      let sizeRw = 0;
      try {
        if (snapshotter.exists(c.Id)) sizeRw = (await snapshotter.usage(c.Id)).size;
      } catch (err) {
        // removed while we walked it: it takes nothing any more
        if (!/ENOENT/.test(errorMessage(err))) throw err;
      }
      const imageSize = images.images.get(c.ImageID)?.size ?? 0;
      return { ...c, SizeRw: sizeRw, SizeRootFs: sizeRw + imageSize };
    }),
  );
}

/** Every volume with UsageData: its size and how many containers refer to it. */
function volumesUsage(containers: ContainerService): Volume[] {
  const store = containers.volumes;
  return store.list().map((v) => {
    let size = 0;
    try {
      size = store.size(v.Name);
    } catch {
      // removed meanwhile
    }
    return { ...v, UsageData: { Size: size, RefCount: store.users(v.Name).length } };
  });
}
