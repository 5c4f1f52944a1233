/**
 * How docker shows containers (docker/cli cli/command/formatter/container.go):
 * the row context of `ps` (.ID .Image .Command .CreatedAt .RunningFor .Ports
 * .State .Status .Size .Names .Labels .Label .Mounts .LocalVolumes
 * .Networks), its default table and raw formats, the PORTS column, and the
 * daemon's status line (moby daemon/container/state.go State.String) for
 * the places where the client has only the state.
 */
import { GO_TYPE } from "../../template/index.ts";
import { isIP } from "node:net";
import { parseReference, familiarName, familiarString, trimNamed, type Reference } from "../../../image/reference.ts";
import { quote } from "../../template/fmt.ts";
import { ellipsis, goTimeString, humanDuration, humanSizeWithPrecision, truncateId } from "../image/units.ts";
import type { ContainerSummary, PortWire } from "./common.ts";

export const DEFAULT_CONTAINER_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
export const DEFAULT_QUIET_FORMAT = "{{.ID}}";

const RAW_FORMAT =
  "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\ncreated_at: {{.CreatedAt}}\nstate: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\nnames: {{.Names}}\nlabels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n";

/** The column titles of ps (formatter.NewContainerContext). */
export const CONTAINER_HEADERS: Record<string, string> = {
  ID: "CONTAINER ID",
  Names: "NAMES",
  Image: "IMAGE",
  Command: "COMMAND",
  CreatedAt: "CREATED AT",
  RunningFor: "CREATED",
  Ports: "PORTS",
  State: "STATE",
  Status: "STATUS",
  Size: "SIZE",
  Labels: "LABELS",
  Mounts: "MOUNTS",
  LocalVolumes: "LOCAL VOLUMES",
  Networks: "NETWORKS",
  Platform: "PLATFORM",
};

/** formatter.NewContainerFormat. */
export function containerFormat(source: string, quiet: boolean, size: boolean): string {
  if (source === "table" || source === "") {
    if (quiet) return DEFAULT_QUIET_FORMAT;
    return size ? `${DEFAULT_CONTAINER_TABLE}\t{{.Size}}` : DEFAULT_CONTAINER_TABLE;
  }
  if (source === "raw") {
    if (quiet) return "container_id: {{.ID}}";
    return size ? `${RAW_FORMAT}size: {{.Size}}\n` : RAW_FORMAT;
  }
  return quiet ? DEFAULT_QUIET_FORMAT : source;
}

function tryParse(image: string): Reference | undefined {
  try {
    return parseReference(image);
  } catch {
    return undefined;
  }
}

/** One row of `ps`: docker's ContainerContext (methods are getters here; Label takes a name). */
export class ContainerRow {
  /** docker's formatter type: a field it does not have is an error, not "<no value>". */
  get [GO_TYPE](): string {
    return "*formatter.ContainerContext";
  }

  constructor(
    private readonly c: ContainerSummary,
    private readonly trunc: boolean,
    private readonly now: number = Date.now(),
  ) {}

  get ID(): string {
    return this.trunc ? truncateId(this.c.Id) : this.c.Id;
  }

  get Names(): string {
    let names = (this.c.Names ?? []).map((n) => n.slice(1));
    if (this.trunc) {
      const plain = names.find((n) => n.split("/").length === 1);
      if (plain !== undefined) names = [plain];
    }
    return names.join(",");
  }

  get Image(): string {
    const image = this.c.Image ?? "";
    if (image === "") return "<no image>";
    if (this.trunc) {
      const t = truncateId(this.c.ImageID ?? "");
      if (t === truncateId(image)) return t;
      const ref = tryParse(image);
      if (ref) {
        // A tagged reference keeps its tag, a digest is dropped.
        if (ref.tag !== undefined) return familiarString({ ...trimNamed(ref), tag: ref.tag });
        return familiarName(ref);
      }
    }
    return image;
  }

  get Command(): string {
    let command = this.c.Command ?? "";
    if (this.trunc) command = ellipsis(command, 20);
    return quote(command);
  }

  get CreatedAt(): string {
    return goTimeString(this.c.Created ?? 0);
  }

  get RunningFor(): string {
    return `${humanDuration(this.now - (this.c.Created ?? 0) * 1000)} ago`;
  }

  get Ports(): string {
    return displayablePorts(this.c.Ports ?? []);
  }

  get State(): string {
    return this.c.State ?? "";
  }

  get Status(): string {
    return this.c.Status ?? "";
  }

  get Size(): string {
    const srw = humanSizeWithPrecision(this.c.SizeRw ?? 0, 3);
    const rootfs = this.c.SizeRootFs ?? 0;
    return rootfs > 0 ? `${srw} (virtual ${humanSizeWithPrecision(rootfs, 3)})` : srw;
  }

  get Labels(): string {
    const labels = this.c.Labels;
    if (!labels) return "";
    return Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join(",");
  }

  Label(name: string): string {
    return this.c.Labels?.[name] ?? "";
  }

  get Mounts(): string {
    return (this.c.Mounts ?? [])
      .map((m) => {
        const name = m.Name ? m.Name : (m.Source ?? "");
        return this.trunc ? ellipsis(name, 15) : name;
      })
      .join(",");
  }

  get LocalVolumes(): string {
    return String((this.c.Mounts ?? []).filter((m) => m.Driver === "local").length);
  }

  /** The image's platform ("linux/amd64"), null when the daemon did not say. */
  get Platform(): string | null {
    const p = this.c.ImageManifestDescriptor?.platform;
    if (!p || !p.os) return null;
    return [p.os, p.architecture, p.variant].filter((x) => x).join("/");
  }

  get Networks(): string {
    const nets = this.c.NetworkSettings?.Networks;
    if (!nets) return "";
    return Object.keys(nets).join(",");
  }
}

function joinHostPort(host: string, port: string): string {
  return host.includes(":") || isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

function comparePorts(i: PortWire, j: PortWire): number {
  if (i.PrivatePort !== j.PrivatePort) return i.PrivatePort - j.PrivatePort;
  const ii = i.IP ?? "";
  const ji = j.IP ?? "";
  if (ii !== ji) return ii < ji ? -1 : 1;
  const ip = i.PublicPort ?? 0;
  const jp = j.PublicPort ?? 0;
  if (ip !== jp) return ip - jp;
  return i.Type < j.Type ? -1 : i.Type > j.Type ? 1 : 0;
}

function formGroup(key: string, start: number, last: number): string {
  const parts = key.split("/");
  let groupType = parts[0]!;
  let ip = "";
  if (parts.length > 1) {
    ip = parts[0]!;
    groupType = parts[1]!;
  }
  let group = String(start);
  if (start !== last) group = `${group}-${last}`;
  if (ip !== "") group = `${joinHostPort(ip, group)}->${group}`;
  return `${group}/${groupType}`;
}

/**
 * formatter.DisplayablePorts: "0.0.0.0:8080->80/tcp, 9000-9001/tcp"
 * (consecutive ports grouped, host mappings to other ports listed last).
 */
export function displayablePorts(ports: readonly PortWire[]): string {
  const sorted = [...ports].sort(comparePorts);
  const groups = new Map<string, { first: number; last: number }>();
  const result: string[] = [];
  const hostMappings: string[] = [];
  for (const port of sorted) {
    const current = port.PrivatePort;
    let key = port.Type;
    if (port.IP) {
      if ((port.PublicPort ?? 0) !== current) {
        hostMappings.push(`${joinHostPort(port.IP, String(port.PublicPort ?? 0))}->${port.PrivatePort}/${port.Type}`);
        continue;
      }
      key = `${port.IP}/${port.Type}`;
    }
    const group = groups.get(key);
    if (!group) {
      groups.set(key, { first: current, last: current });
      continue;
    }
    if (current === group.last + 1) {
      group.last = current;
      continue;
    }
    result.push(formGroup(key, group.first, group.last));
    // The key keeps its place in the order (Go records a key's order when it is first seen).
    groups.set(key, { first: current, last: current });
  }
  for (const [key, g] of groups) result.push(formGroup(key, g.first, g.last));
  return [...result, ...hostMappings].join(", ");
}

/** The state fields the daemon's status line is made of (ContainerJSON.State). */
export interface ContainerStateLike {
  Running?: boolean;
  Paused?: boolean;
  Restarting?: boolean;
  Dead?: boolean;
  RemovalInProgress?: boolean;
  ExitCode?: number;
  StartedAt?: string;
  FinishedAt?: string;
  Health?: { Status?: string } | null;
}

function isZeroTime(t: string | undefined): boolean {
  return t === undefined || t === "" || t.startsWith("0001-01-01");
}

function sinceMs(t: string | undefined, now: number): number {
  return now - Date.parse(t ?? "");
}

/**
 * The status line of a container as the daemon writes it in `ps`:
 * "Up 2 seconds", "Up 1 second (Paused)", "Up 5 minutes (healthy)",
 * "Restarting (1) 3 seconds ago", "Exited (0) 5 seconds ago", "Created",
 * "Dead", "Removal In Progress".
 */
export function describeState(s: ContainerStateLike, now: number = Date.now()): string {
  if (s.Running) {
    const out = `Up ${humanDuration(sinceMs(s.StartedAt, now))}`;
    if (s.Paused) return `${out} (Paused)`;
    if (s.Restarting) return `Restarting (${s.ExitCode ?? 0}) ${humanDuration(sinceMs(s.FinishedAt, now))} ago`;
    const health = s.Health?.Status;
    if (health && health !== "none") return `${out} (${health === "starting" ? "health: starting" : health})`;
    return out;
  }
  if (s.RemovalInProgress) return "Removal In Progress";
  if (s.Dead) return "Dead";
  if (isZeroTime(s.StartedAt)) return "Created";
  if (isZeroTime(s.FinishedAt)) return "";
  return `Exited (${s.ExitCode ?? 0}) ${humanDuration(sinceMs(s.FinishedAt, now))} ago`;
}
