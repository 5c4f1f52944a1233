/**
 * hako system df|events|prune (docker/cli cli/command/system/{df,events,
 * prune}.go and formatter/disk_usage.go); `system info` is info.ts.
 */
import { ApiError } from "../../client.ts";
import { Template, TemplateError, renderFormat } from "../../template/index.ts";
import type { CliCommand } from "../command.ts";
import { confirm, filtersJson } from "../container/common.ts";
import { ImageRow, IMAGE_HEADERS, type ImageSummaryWire } from "../image/list.ts";
import { createdSince, humanSize } from "../image/units.ts";
import { parseReference, familiarName } from "../../../image/reference.ts";
import { getTimestamp } from "../container/logs.ts";
import { CONTAINER_HEADERS, ContainerRow } from "../container/format.ts";
import type { ContainerSummary } from "../container/common.ts";
import { VOLUME_HEADERS, VolumeRow, pruneVolumes, type VolumeWire } from "../volume/index.ts";

interface BuildCacheWire {
  ID: string;
  Parent?: string;
  Parents?: string[] | null;
  Type?: string;
  Description?: string;
  InUse?: boolean;
  Shared?: boolean;
  Size: number;
  CreatedAt?: string;
  LastUsedAt?: string | null;
  UsageCount?: number;
}

interface DiskUsageWire {
  LayersSize?: number;
  Images?: ImageSummaryWire[] | null;
  Containers?: ContainerSummary[] | null;
  Volumes?: VolumeWire[] | null;
  BuildCache?: BuildCacheWire[] | null;
}

const pct = (part: number, total: number): string => `${humanSize(part)} (${Math.trunc((part * 100) / total)}%)`;

/** One line of `system df`: a diskUsage*Context. */
interface DfRow {
  Type: string;
  TotalCount: string;
  Active: string;
  Size: string;
  Reclaimable: string;
}

const isActiveContainer = (state: string | undefined): boolean => state === "running" || state === "paused" || state === "restarting";

/** The four summary rows of `system df`, computed as docker's formatter does. */
export function diskUsageRows(du: DiskUsageWire): DfRow[] {
  const images = du.Images ?? [];
  const layersSize = du.LayersSize ?? 0;
  let used = 0;
  for (const i of images) {
    if ((i.Containers ?? 0) !== 0) {
      if (i.Size === -1 || (i.SharedSize ?? -1) === -1) continue;
      used += i.Size - (i.SharedSize ?? 0);
    }
  }
  const imgReclaimable = layersSize - used;
  const containers = du.Containers ?? [];
  let cSize = 0;
  let cReclaimable = 0;
  for (const c of containers) {
    cSize += c.SizeRw ?? 0;
    if (!isActiveContainer(c.State)) cReclaimable += c.SizeRw ?? 0;
  }
  const volumes = du.Volumes ?? [];
  let vSize = 0;
  let vReclaimable = 0;
  for (const v of volumes) {
    const size = v.UsageData?.Size ?? -1;
    if (size !== -1) {
      vSize += size;
      if ((v.UsageData?.RefCount ?? 0) === 0) vReclaimable += size;
    }
  }
  const cache = du.BuildCache ?? [];
  let builderSize = 0;
  let inUse = 0;
  for (const bc of cache) {
    if (!bc.Shared) builderSize += bc.Size;
    if (bc.InUse && !bc.Shared) inUse += bc.Size;
  }
  return [
    {
      Type: "Images",
      TotalCount: String(images.length),
      Active: String(images.filter((i) => (i.Containers ?? 0) > 0).length),
      Size: humanSize(layersSize),
      Reclaimable: layersSize > 0 ? pct(imgReclaimable, layersSize) : humanSize(imgReclaimable),
    },
    {
      Type: "Containers",
      TotalCount: String(containers.length),
      Active: String(containers.filter((c) => isActiveContainer(c.State)).length),
      Size: humanSize(cSize),
      Reclaimable: cSize > 0 ? pct(cReclaimable, cSize) : humanSize(cReclaimable),
    },
    {
      Type: "Local Volumes",
      TotalCount: String(volumes.length),
      Active: String(volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length),
      Size: humanSize(vSize),
      Reclaimable: vSize > 0 ? pct(vReclaimable, vSize) : humanSize(vReclaimable),
    },
    {
      Type: "Build Cache",
      TotalCount: String(cache.length),
      Active: String(cache.filter((bc) => bc.InUse).length),
      Size: humanSize(builderSize),
      Reclaimable: humanSize(builderSize - inUse),
    },
  ];
}

const DF_HEADERS = { Type: "TYPE", TotalCount: "TOTAL", Active: "ACTIVE", Size: "SIZE", Reclaimable: "RECLAIMABLE" };

class BuildCacheRow {
  constructor(
    private readonly v: BuildCacheWire,
    private readonly trunc: boolean,
  ) {}
  get ID(): string {
    return this.trunc ? this.v.ID.slice(0, 12) : this.v.ID;
  }
  get CacheType(): string {
    return this.v.Type ?? "";
  }
  get Size(): string {
    return humanSize(this.v.Size);
  }
  get CreatedSince(): string {
    return this.v.CreatedAt ? createdSince(Date.parse(this.v.CreatedAt) / 1000) : "";
  }
  get LastUsedSince(): string {
    return this.v.LastUsedAt ? createdSince(Date.parse(this.v.LastUsedAt) / 1000) : "";
  }
  get UsageCount(): string {
    return String(this.v.UsageCount ?? 0);
  }
  get Shared(): string {
    return String(this.v.Shared === true);
  }
}

function imageRowsForDf(images: readonly ImageSummaryWire[], trunc: boolean): ImageRow[] {
  return images.map((img) => {
    let repo = "<none>";
    let tag = "<none>";
    const tags = img.RepoTags ?? [];
    const dangling = tags.length === 0 || (tags.length === 1 && tags[0] === "<none>:<none>");
    if (tags.length > 0 && !dangling) {
      try {
        const ref = parseReference(tags[0]!);
        if (ref.tag !== undefined) {
          repo = familiarName(ref);
          tag = ref.tag;
        }
      } catch {
        // docker skips unparsable tags
      }
    }
    return new ImageRow(img, repo, tag, "", trunc);
  });
}

const df: CliCommand = {
  name: "df",
  usage: "[OPTIONS]",
  summary: "Show hako disk usage",
  args: [0, 0],
  flags: [
    { name: "format", type: "string", value: "string", help: "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template." },
    { name: "verbose", short: "v", type: "bool", help: "Show detailed information on space usage" },
  ],
  async run(ctx, flags) {
    const format = (flags.format as string | undefined) || "table";
    const verbose = flags.verbose === true;
    const du = (await ctx.client().json<DiskUsageWire>("GET", "/system/df")) ?? {};
    if (!verbose) {
      const f = format === "table" ? "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}" : format;
      ctx.out(renderFormat(f, diskUsageRows(du), DF_HEADERS));
      return 0;
    }
    const trunc = format.startsWith("table");
    const images = imageRowsForDf(du.Images ?? [], trunc);
    const containers = (du.Containers ?? []).map((c) => new ContainerRow({ ...c, SizeRootFs: 0 }, trunc));
    const volumes = (du.Volumes ?? []).map((v) => new VolumeRow(v));
    const cache = [...(du.BuildCache ?? [])].sort((a, b) => Date.parse(b.LastUsedAt ?? "") - Date.parse(a.LastUsedAt ?? "")).map((b) => new BuildCacheRow(b, trunc));
    if (format !== "table") {
      ctx.out(renderFormat(format, [{ Images: images, Containers: containers, Volumes: volumes, BuildCache: cache }]));
      return 0;
    }
    let builderSize = 0;
    for (const bc of du.BuildCache ?? []) if (!bc.Shared) builderSize += bc.Size;
    let out = "Images space usage:\n\n";
    out += renderFormat("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}", images, IMAGE_HEADERS);
    out += "\nContainers space usage:\n\n";
    out += renderFormat("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}", containers, CONTAINER_HEADERS);
    out += "\nLocal Volumes space usage:\n\n";
    out += renderFormat("table {{.Name}}\t{{.Links}}\t{{.Size}}", volumes, VOLUME_HEADERS);
    out += `\nBuild cache usage: ${humanSize(builderSize)}\n\n`;
    out += renderFormat("table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}", cache, {
      ID: "CACHE ID",
      CacheType: "CACHE TYPE",
      Size: "SIZE",
      CreatedSince: "CREATED",
      LastUsedSince: "LAST USED",
      UsageCount: "USAGE",
      Shared: "SHARED",
    });
    ctx.out(out);
    return 0;
  },
};

/** events.Message on the wire. */
export interface EventWire {
  status?: string;
  id?: string;
  from?: string;
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> | null };
  scope?: string;
  time?: number;
  timeNano?: number | bigint;
}

/** An event as templates see it: Go's field names, its JSON the wire's (attributes sorted like a Go map). */
class EventRow {
  readonly Status: string;
  readonly ID: string;
  readonly From: string;
  readonly Type: string;
  readonly Action: string;
  readonly Actor: { ID: string; Attributes: Map<string, string> };
  readonly Scope: string;
  readonly Time: number;
  readonly TimeNano: number | bigint;

  constructor(private readonly e: EventWire) {
    this.Status = e.status ?? "";
    this.ID = e.id ?? "";
    this.From = e.from ?? "";
    this.Type = e.Type ?? "";
    this.Action = e.Action ?? "";
    this.Actor = { ID: e.Actor?.ID ?? "", Attributes: new Map(Object.entries(e.Actor?.Attributes ?? {})) };
    this.Scope = e.scope ?? "";
    this.Time = e.time ?? 0;
    this.TimeNano = e.timeNano ?? 0;
  }

  toJSON(): unknown {
    const out: Record<string, unknown> = {};
    if (this.e.status) out.status = this.e.status;
    if (this.e.id) out.id = this.e.id;
    if (this.e.from) out.from = this.e.from;
    out.Type = this.Type;
    out.Action = this.Action;
    out.Actor = { ID: this.Actor.ID, Attributes: this.Actor.Attributes };
    out.scope = this.Scope;
    out.time = this.Time;
    out.timeNano = this.TimeNano;
    return out;
  }
}

const p2 = (n: number): string => String(n).padStart(2, "0");

/** Go's time.Format("2006-01-02T15:04:05.000000000Z07:00") of a Unix time in nanoseconds, local zone. */
export function rfc3339NanoFixedLocal(nanos: bigint): string {
  const ms = Number(nanos / 1_000_000n);
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const zone = off === 0 ? "Z" : `${off < 0 ? "-" : "+"}${p2(Math.trunc(Math.abs(off) / 60))}:${p2(Math.abs(off) % 60)}`;
  const frac = String(((nanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).padStart(9, "0");
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}T${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${frac}${zone}`;
}

/** prettyPrintEvent: "<time> container start <id> (image=busybox, name=x)". */
export function prettyEvent(e: EventWire): string {
  let out = "";
  if (e.timeNano) out += `${rfc3339NanoFixedLocal(BigInt(e.timeNano))} `;
  else if (e.time) out += `${rfc3339NanoFixedLocal(BigInt(e.time) * 1_000_000_000n)} `;
  out += `${e.Type ?? ""} ${e.Action ?? ""} ${e.Actor?.ID ?? ""}`;
  const attrs = e.Actor?.Attributes ?? {};
  const keys = Object.keys(attrs).sort();
  if (keys.length > 0) out += ` (${keys.map((k) => `${k}=${attrs[k]}`).join(", ")})`;
  return `${out}\n`;
}

const events: CliCommand = {
  name: "events",
  usage: "[OPTIONS]",
  summary: "Get real time events from the server",
  args: [0, 0],
  flags: [
    { name: "filter", short: "f", type: "list", value: "filter", help: "Filter output based on conditions provided" },
    { name: "format", type: "string", value: "string", help: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template." },
    { name: "since", type: "string", value: "string", help: "Show all events created since timestamp" },
    { name: "until", type: "string", value: "string", help: "Stream events until this timestamp" },
  ],
  async run(ctx, flags) {
    const format = (flags.format as string | undefined) ?? "";
    let tmpl: Template | undefined;
    if (format !== "") {
      try {
        tmpl = Template.parse(format === "json" ? "{{json .}}" : format);
        tmpl.execute(new EventRow({}));
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        ctx.err(`Error parsing format: ${err.message}\n`);
        return 64;
      }
    }
    const now = Date.now();
    const since = flags.since as string | undefined;
    const until = flags.until as string | undefined;
    const res = await ctx.client().request("GET", "/events", {
      query: {
        filters: filtersJson(flags.filter as string[]),
        since: since ? getTimestamp(since, now) : undefined,
        until: until ? getTimestamp(until, now) : undefined,
      },
    });
    for await (const line of eventLines(res)) {
      if (tmpl) ctx.out(`${tmpl.execute(new EventRow(line))}\n`);
      else ctx.out(prettyEvent(line));
    }
    return 0;
  },
};

/**
 * The events of a stream, one JSON object per line; timeNano is kept exact
 * (a bigint: nanoseconds since 1970 do not fit a double).
 */
export async function* eventLines(body: AsyncIterable<Buffer | string> | Iterable<Buffer | string>): AsyncGenerator<EventWire> {
  async function* lines(): AsyncGenerator<string> {
    let pending = "";
    for await (const chunk of body) {
      pending += chunk.toString();
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        yield pending.slice(0, nl);
        pending = pending.slice(nl + 1);
      }
    }
    if (pending.trim()) yield pending;
  }
  for await (const raw of lines()) {
    const line = raw.trim();
    if (!line) continue;
    const e = JSON.parse(line) as EventWire;
    const nano = /"timeNano"\s*:\s*(\d+)/.exec(line);
    if (nano) e.timeNano = BigInt(nano[1]!);
    yield e;
  }
}

const PRUNE_TEMPLATE = (warnings: string[], filters: string[]): string => {
  let s = "WARNING! This will remove:";
  for (const w of warnings) s += `\n  - ${w}`;
  s += "\n";
  if (filters.length) {
    s += "\n  Items to be pruned will be filtered with:";
    for (const f of filters) s += `\n  - ${f}`;
    s += "\n";
  }
  return `${s}\nAre you sure you want to continue?`;
};

async function tryPrune<T>(f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch (err) {
    // A daemon without this kind of object (networks) has nothing to prune.
    if (err instanceof ApiError && (err.status === 404 || err.status === 501)) return undefined;
    throw err;
  }
}

const systemPrune: CliCommand = {
  name: "prune",
  usage: "[OPTIONS]",
  summary: "Remove unused data",
  args: [0, 0],
  flags: [
    { name: "all", short: "a", type: "bool", help: "Remove all unused images not just dangling ones" },
    { name: "filter", type: "list", value: "filter", help: 'Provide filter values (e.g. "label=<key>=<value>")' },
    { name: "force", short: "f", type: "bool", help: "Do not prompt for confirmation" },
    { name: "volumes", type: "bool", help: "Prune anonymous volumes" },
  ],
  async run(ctx, flags) {
    const all = flags.all === true;
    const volumes = flags.volumes === true;
    const filterValues = flags.filter as string[];
    if (volumes && filterValues.some((f) => f.split("=")[0]!.trim().toLowerCase() === "until")) throw new Error('ERROR: The "until" filter is not supported with "--volumes"');
    if (flags.force !== true) {
      const warnings = ["all stopped containers", "all networks not used by at least one container"];
      if (volumes) warnings.push("all anonymous volumes not used by at least one container");
      warnings.push(all ? "all images without at least one container associated to them" : "all dangling images");
      const shown = filterValues.filter((f) => /^(label|label!|until)=/.test(f.trim())).sort();
      if (!(await confirm(ctx, PRUNE_TEMPLATE(warnings, shown)))) return 0;
    }
    const client = ctx.client();
    const filters = filtersJson(filterValues);
    let space = 0;
    const c = await client.json<{ ContainersDeleted?: string[] | null; SpaceReclaimed?: number }>("POST", "/containers/prune", { query: { filters } });
    if ((c?.ContainersDeleted ?? []).length > 0) {
      ctx.out(`Deleted Containers:\n${c!.ContainersDeleted!.map((id) => `${id}\n`).join("")}\n`);
      space += c?.SpaceReclaimed ?? 0;
    }
    const n = await tryPrune(() => client.json<{ NetworksDeleted?: string[] | null }>("POST", "/networks/prune", { query: { filters } }));
    if ((n?.NetworksDeleted ?? []).length > 0) ctx.out(`Deleted Networks:\n${n!.NetworksDeleted!.map((id) => `${id}\n`).join("")}\n`);
    if (volumes) {
      const v = await pruneVolumes(ctx, filterValues, false);
      if (v.output !== "") ctx.out(`${v.output}\n`);
      space += v.space;
    }
    const i = await client.json<{ ImagesDeleted?: { Untagged?: string; Deleted?: string }[] | null; SpaceReclaimed?: number }>("POST", "/images/prune", {
      query: { filters: filtersJson(filterValues, { dangling: [String(!all)] }) },
    });
    if ((i?.ImagesDeleted ?? []).length > 0) {
      let text = "Deleted Images:\n";
      for (const item of i!.ImagesDeleted!) text += item.Untagged ? `untagged: ${item.Untagged}\n` : `deleted: ${item.Deleted ?? ""}\n`;
      ctx.out(`${text}\n`);
      space += i?.SpaceReclaimed ?? 0;
    }
    ctx.out(`Total reclaimed space: ${humanSize(space)}\n`);
    return 0;
  },
};

export { df, events, systemPrune };
