/**
 * How `hako network ls` shows networks (docker/cli formatter/network.go):
 * the default table, the row's fields for --format, the column titles.
 */
import { GO_TYPE } from "../../template/index.ts";
import { goTimeString, truncateId } from "../image/units.ts";

/** A network as GET /networks describes it (the fields the CLI reads). */
export interface NetworkWire {
  Name: string;
  Id: string;
  Created?: string;
  Scope?: string;
  Driver?: string;
  EnableIPv6?: boolean;
  Internal?: boolean;
  Labels?: Record<string, string> | null;
}

export const NETWORK_HEADERS: Record<string, string> = {
  ID: "NETWORK ID",
  Name: "NAME",
  Driver: "DRIVER",
  Scope: "SCOPE",
  IPv6: "IPV6",
  Internal: "INTERNAL",
  Labels: "LABELS",
  CreatedAt: "CREATED AT",
};

/** formatter.NewNetworkFormat. */
export function networkFormat(source: string, quiet: boolean): string {
  if (source === "table") return quiet ? "{{.ID}}" : "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
  if (source === "raw") return quiet ? "network_id: {{.ID}}" : "network_id: {{.ID}}\nname: {{.Name}}\ndriver: {{.Driver}}\nscope: {{.Scope}}\n";
  return source;
}

/** docker's networkContext: the fields a --format template sees. */
export class NetworkRow {
  /** docker's formatter type: a field it does not have is an error, not "<no value>". */
  get [GO_TYPE](): string {
    return "*network.networkContext";
  }

  constructor(
    private readonly n: NetworkWire,
    private readonly trunc: boolean,
  ) {}

  get ID(): string {
    return this.trunc ? truncateId(this.n.Id) : this.n.Id;
  }
  get Name(): string {
    return this.n.Name;
  }
  get Driver(): string {
    return this.n.Driver ?? "";
  }
  get Scope(): string {
    return this.n.Scope ?? "";
  }
  get IPv6(): string {
    return String(this.n.EnableIPv6 === true);
  }
  get Internal(): string {
    return String(this.n.Internal === true);
  }
  get Labels(): string {
    if (!this.n.Labels) return "";
    return Object.entries(this.n.Labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
  }
  Label(name: string): string {
    return this.n.Labels?.[name] ?? "";
  }
  get CreatedAt(): string {
    const t = this.n.Created ? Date.parse(this.n.Created) : NaN;
    return Number.isNaN(t) ? "" : goTimeString(t / 1000);
  }
}
