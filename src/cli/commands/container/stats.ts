/**
 * hako stats (docker/cli cli/command/container/stats.go, stats_helpers.go,
 * formatter_stats.go): one GET /containers/{id}/stats stream per container,
 * CPU % from the daemon's two samples (cpu_stats against precpu_stats, as
 * calculateCPUPercentUnix), memory without the inactive file cache, and
 * docker's table redrawn every half second (cursor home, each line
 * erased to its end, the rest of the screen cleared); --no-stream prints
 * once. Without names it follows the daemon's events for containers that
 * start (and, with -a, are created) and die.
 */
import type { IncomingMessage } from "node:http";
import { readJsonLines } from "../../client.ts";
import { GO_TYPE, renderFormat } from "../../template/index.ts";
import { formatFloat } from "../../template/fmt.ts";
import type { CliCommand, CliContext } from "../command.ts";
import { truncateId } from "../image/units.ts";
import { containerPath, errorText, filtersJson, type ContainerSummary } from "./common.ts";

/** The parts of container.StatsResponse the client reads. */
export interface StatsResponse {
  read?: string;
  preread?: string;
  name?: string;
  id?: string;
  pids_stats?: { current?: number; limit?: number };
  blkio_stats?: { io_service_bytes_recursive?: { major?: number; minor?: number; op: string; value: number }[] | null };
  num_procs?: number;
  cpu_stats?: CpuStats;
  precpu_stats?: CpuStats;
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number>; privateworkingset?: number };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>;
  storage_stats?: { read_size_bytes?: number; write_size_bytes?: number };
}

export interface CpuStats {
  cpu_usage?: { total_usage?: number; percpu_usage?: number[] | null; usage_in_kernelmode?: number; usage_in_usermode?: number };
  system_cpu_usage?: number;
  online_cpus?: number;
}

/** calculateCPUPercentUnix: (container delta / system delta) × online CPUs × 100. */
export function calculateCpuPercentUnix(previousCpu: number, previousSystem: number, v: StatsResponse): number {
  const cpuDelta = (v.cpu_stats?.cpu_usage?.total_usage ?? 0) - previousCpu;
  const systemDelta = (v.cpu_stats?.system_cpu_usage ?? 0) - previousSystem;
  let onlineCpus = v.cpu_stats?.online_cpus ?? 0;
  if (onlineCpus === 0) onlineCpus = (v.cpu_stats?.cpu_usage?.percpu_usage ?? []).length;
  if (systemDelta > 0 && cpuDelta > 0) return (cpuDelta / systemDelta) * onlineCpus * 100;
  return 0;
}

/** calculateCPUPercentWindows. */
export function calculateCpuPercentWindows(v: StatsResponse): number {
  const read = Date.parse(v.read ?? "");
  const preread = Date.parse(v.preread ?? "");
  let possIntervals = Math.max(0, (read - preread) * 1e6);
  possIntervals = Math.floor(possIntervals / 100) * (v.num_procs ?? 0);
  const used = (v.cpu_stats?.cpu_usage?.total_usage ?? 0) - (v.precpu_stats?.cpu_usage?.total_usage ?? 0);
  return possIntervals > 0 ? (used / possIntervals) * 100 : 0;
}

/**
 * calculateMemUsageUnixNoCache: usage minus total_inactive_file (cgroup v1)
 * or inactive_file (v2), when smaller than the usage.
 */
export function calculateMemUsageUnixNoCache(mem: StatsResponse["memory_stats"]): number {
  const usage = mem?.usage ?? 0;
  const stats = mem?.stats ?? {};
  const v1 = stats.total_inactive_file;
  if (v1 !== undefined && v1 < usage) return usage - v1;
  const v2 = stats.inactive_file ?? 0;
  if (v2 < usage) return usage - v2;
  return usage;
}

/** calculateMemPercentUnixNoCache. */
export function calculateMemPercentUnixNoCache(limit: number, usedNoCache: number): number {
  return limit !== 0 ? (usedNoCache / limit) * 100 : 0;
}

/** calculateBlockIO: bytes read and written (ops starting with r/R and w/W). */
export function calculateBlockIo(blkio: StatsResponse["blkio_stats"]): [number, number] {
  let read = 0;
  let write = 0;
  for (const e of blkio?.io_service_bytes_recursive ?? []) {
    const op = e.op?.[0];
    if (op === "r" || op === "R") read += e.value;
    else if (op === "w" || op === "W") write += e.value;
  }
  return [read, write];
}

/** calculateNetwork: received and sent bytes over all interfaces. */
export function calculateNetwork(networks: StatsResponse["networks"]): [number, number] {
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(networks ?? {})) {
    rx += n.rx_bytes ?? 0;
    tx += n.tx_bytes ?? 0;
  }
  return [rx, tx];
}

/** StatsEntry: one container's numbers. */
export interface StatsEntry {
  container: string;
  name: string;
  id: string;
  cpuPercentage: number;
  memory: number;
  memoryLimit: number;
  memoryPercentage: number;
  networkRx: number;
  networkTx: number;
  blockRead: number;
  blockWrite: number;
  pidsCurrent: number;
  isInvalid: boolean;
}

export function emptyEntry(container: string): StatsEntry {
  return { container, name: "", id: "", cpuPercentage: 0, memory: 0, memoryLimit: 0, memoryPercentage: 0, networkRx: 0, networkTx: 0, blockRead: 0, blockWrite: 0, pidsCurrent: 0, isInvalid: false };
}

/** The entry for one sample, as collect() computes it. */
export function entryOf(container: string, v: StatsResponse, osType = "linux"): StatsEntry {
  const e = emptyEntry(container);
  e.name = v.name ?? "";
  e.id = v.id ?? "";
  if (osType !== "windows") {
    e.cpuPercentage = calculateCpuPercentUnix(v.precpu_stats?.cpu_usage?.total_usage ?? 0, v.precpu_stats?.system_cpu_usage ?? 0, v);
    [e.blockRead, e.blockWrite] = calculateBlockIo(v.blkio_stats);
    e.memory = calculateMemUsageUnixNoCache(v.memory_stats);
    e.memoryLimit = v.memory_stats?.limit ?? 0;
    e.memoryPercentage = calculateMemPercentUnixNoCache(e.memoryLimit, e.memory);
    e.pidsCurrent = v.pids_stats?.current ?? 0;
  } else {
    e.cpuPercentage = calculateCpuPercentWindows(v);
    e.blockRead = v.storage_stats?.read_size_bytes ?? 0;
    e.blockWrite = v.storage_stats?.write_size_bytes ?? 0;
    e.memory = v.memory_stats?.privateworkingset ?? 0;
  }
  [e.networkRx, e.networkTx] = calculateNetwork(v.networks);
  return e;
}

const BINARY = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
const DECIMAL = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

function scaled(size: number, base: number, units: string[], prec: number): string {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return `${formatFloat(size, "g", prec)}${units[i]}`;
}

/** go-units BytesSize ("%.4g" with binary units). */
export function bytesSize(n: number): string {
  return scaled(n, 1024, BINARY, 4);
}

/** go-units HumanSizeWithPrecision(n, 3). */
export function humanSize3(n: number): string {
  return scaled(n, 1000, DECIMAL, 3);
}

const NO_VALUE = "--";

/** formatPercentage: "12.34%". */
export function formatPercentage(v: number): string {
  return `${formatFloat(v, "f", 2)}%`;
}

/** docker's statsContext: the fields of a stats row. */
export class StatsRow {
  /** docker's formatter type: a field it does not have is an error, not "<no value>". */
  get [GO_TYPE](): string {
    return "*container.statsContext";
  }

  constructor(
    private readonly s: StatsEntry,
    private readonly os: string,
    private readonly trunc: boolean,
  ) {}

  get Container(): string {
    return this.s.container;
  }
  get Name(): string {
    return this.s.name.length > 1 ? this.s.name.slice(1) : NO_VALUE;
  }
  get ID(): string {
    return this.trunc ? truncateId(this.s.id) : this.s.id;
  }
  get CPUPerc(): string {
    return this.s.isInvalid ? NO_VALUE : formatPercentage(this.s.cpuPercentage);
  }
  get MemUsage(): string {
    if (this.s.isInvalid) return "-- / --";
    if (this.os === "windows") return bytesSize(this.s.memory);
    return `${bytesSize(this.s.memory)} / ${bytesSize(this.s.memoryLimit)}`;
  }
  get MemPerc(): string {
    return this.s.isInvalid || this.os === "windows" ? NO_VALUE : formatPercentage(this.s.memoryPercentage);
  }
  get NetIO(): string {
    return this.s.isInvalid ? NO_VALUE : `${humanSize3(this.s.networkRx)} / ${humanSize3(this.s.networkTx)}`;
  }
  get BlockIO(): string {
    return this.s.isInvalid ? NO_VALUE : `${humanSize3(this.s.blockRead)} / ${humanSize3(this.s.blockWrite)}`;
  }
  get PIDs(): string {
    return this.s.isInvalid || this.os === "windows" ? NO_VALUE : String(this.s.pidsCurrent);
  }
}

export const DEFAULT_STATS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
const WINDOWS_STATS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.NetIO}}\t{{.BlockIO}}";

/** The stats table (or --format output) for `entries`. */
export function renderStats(format: string, entries: readonly StatsEntry[], osType: string, trunc: boolean): string {
  const f = format === "table" ? (osType === "windows" ? WINDOWS_STATS_TABLE : DEFAULT_STATS_TABLE) : format;
  const headers: Record<string, string> = {
    Container: "CONTAINER",
    Name: "NAME",
    ID: "CONTAINER ID",
    CPUPerc: "CPU %",
    MemUsage: osType === "windows" ? "PRIV WORKING SET" : "MEM USAGE / LIMIT",
    MemPerc: "MEM %",
    NetIO: "NET I/O",
    BlockIO: "BLOCK I/O",
    PIDs: "PIDS",
  };
  return renderFormat(f, entries.map((e) => new StatsRow(e, osType, trunc)), headers);
}

/** One container's collector: its latest entry, its error, and the first-sample promise. */
class Collector {
  entry: StatsEntry;
  error: string | undefined;
  readonly first: Promise<void>;
  private resolveFirst!: () => void;
  private timer: NodeJS.Timeout | undefined;
  private readonly controller = new AbortController();
  osType: string | undefined;

  constructor(
    private readonly ctx: CliContext,
    readonly container: string,
    private readonly stream: boolean,
  ) {
    this.entry = emptyEntry(container);
    this.first = new Promise((resolve) => (this.resolveFirst = resolve));
  }

  private armTimeout(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.entry = { ...emptyEntry(this.container), name: this.entry.name, id: this.entry.id, isInvalid: true };
      this.error = "timeout waiting for stats";
      this.resolveFirst();
      if (this.stream) this.armTimeout();
    }, 2000);
    this.timer.unref?.();
  }

  async run(): Promise<void> {
    this.armTimeout();
    let res: IncomingMessage;
    try {
      res = await this.ctx.client().request("GET", `${containerPath(this.container)}/stats`, { query: { stream: this.stream ? "1" : "0" }, signal: this.controller.signal });
    } catch (err) {
      this.fail(errorText(err));
      return;
    }
    const os = res.headers.ostype;
    this.osType = (Array.isArray(os) ? os[0] : os) || undefined;
    try {
      for await (const v of readJsonLines<StatsResponse>(res)) {
        this.entry = entryOf(this.container, v, this.osType);
        this.error = undefined;
        this.resolveFirst();
        if (!this.stream) break;
        this.armTimeout();
      }
      if (this.stream) this.fail("EOF");
    } catch (err) {
      if (!this.controller.signal.aborted) this.fail(errorText(err));
    } finally {
      if (!this.stream) clearTimeout(this.timer);
    }
  }

  private fail(message: string): void {
    clearTimeout(this.timer);
    this.error = message;
    this.entry = { ...this.entry, isInvalid: true };
    this.resolveFirst();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.controller.abort();
  }
}

export const stats: CliCommand = {
  name: "stats",
  usage: "[OPTIONS] [CONTAINER...]",
  summary: "Display a live stream of container(s) resource usage statistics",
  args: [0, -1],
  flags: [
    { name: "all", short: "a", type: "bool", help: "Show all containers (default shows just running)" },
    { name: "format", type: "string", value: "string", help: "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template." },
    { name: "no-stream", type: "bool", help: "Disable streaming stats and only pull the first result" },
    { name: "no-trunc", type: "bool", help: "Do not truncate output" },
  ],
  async run(ctx, flags, args) {
    const noStream = flags["no-stream"] === true;
    const all = flags.all === true;
    const format = (flags.format as string | undefined) || "table";
    renderStats(format, [], "linux", true);
    const collectors: Collector[] = [];
    const add = (id: string): Collector | undefined => {
      if (collectors.some((c) => c.container === id)) return undefined;
      const c = new Collector(ctx, id, !noStream);
      collectors.push(c);
      void c.run();
      return c;
    };
    const remove = (id: string): void => {
      const i = collectors.findIndex((c) => c.container === id);
      if (i >= 0) collectors.splice(i, 1)[0]!.stop();
    };
    const showAll = args.length === 0;
    const events = new AbortController();
    let eventsError: unknown;
    try {
      if (showAll) {
        if (!noStream) {
          // Containers that start (or, with -a, are created) join the table; without -a those that die leave it.
          const res = await ctx.client().request("GET", "/events", { query: { filters: filtersJson(["type=container"]) }, signal: events.signal });
          void (async () => {
            try {
              for await (const e of readJsonLines<{ Action?: string; status?: string; Actor?: { ID?: string }; id?: string }>(res)) {
                const action = e.Action ?? e.status ?? "";
                const id = e.Actor?.ID ?? e.id ?? "";
                if (id === "") continue;
                if (action === "start" || (all && action === "create")) add(id);
                else if (!all && action === "die") remove(id);
              }
            } catch (err) {
              if (!events.signal.aborted) eventsError = err;
            }
          })();
        }
        const list = await ctx.client().json<ContainerSummary[] | null>("GET", "/containers/json", { query: { all: all ? "1" : undefined } });
        for (const c of list ?? []) add(c.Id);
        await Promise.all(collectors.map((c) => c.first));
      } else {
        for (const name of args) add(name);
        await Promise.all(collectors.map((c) => c.first));
        const errors = collectors.filter((c) => c.error !== undefined).map((c) => c.error!);
        if (errors.length > 0) {
          ctx.err(`${errors.join("\n")}\n`);
          return 1;
        }
      }
      for (;;) {
        const osType = collectors.find((c) => c.osType)?.osType ?? "linux";
        const text = renderStats(format, collectors.map((c) => c.entry), osType, flags["no-trunc"] !== true);
        if (noStream) ctx.out(text);
        else {
          // Every line ends with "erase to end of line", as docker writes them (Fprintln(line, "\033[K")).
          const lines = `\x1b[H${text}`.split("\n");
          ctx.out(`${lines.map((l) => `${l} \x1b[K\n`).join("")}\x1b[J`);
        }
        if (noStream) break;
        if (collectors.length === 0 && !showAll) break;
        if (eventsError !== undefined) throw eventsError;
        await new Promise((r) => setTimeout(r, 500));
      }
      return 0;
    } finally {
      events.abort();
      for (const c of collectors) c.stop();
    }
  },
};
