/** hako search: docker/cli cli/command/registry/search.go and formatter_search.go. */
import { splitSearchTerm } from "../../../image/reference.ts";
import type { SearchResult } from "../../../image/registry/client.ts";
import { authConfigKey, encodeAuthConfig, storedAuthConfig } from "../../auth.ts";
import { GO_TYPE, renderFormat } from "../../template/index.ts";
import type { CliCommand } from "../command.ts";
import { filtersJson } from "../container/common.ts";
import { storeFor } from "../image/common.ts";
import { ellipsis } from "../image/units.ts";

const DEFAULT_TABLE = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";

const HEADERS: Record<string, string> = {
  Name: "NAME",
  Description: "DESCRIPTION",
  StarCount: "STARS",
  IsOfficial: "OFFICIAL",
};

/** docker's searchContext. */
export class SearchRow {
  get [GO_TYPE](): string {
    return "*registry.searchContext";
  }

  constructor(
    private readonly r: SearchResult,
    private readonly trunc: boolean,
  ) {}

  get Name(): string {
    return this.r.name;
  }
  get Description(): string {
    const desc = this.r.description.replace(/[\r\n]/g, " ");
    return this.trunc ? ellipsis(desc, 45) : desc;
  }
  get StarCount(): string {
    return String(this.r.star_count);
  }
  get IsOfficial(): string {
    return this.r.is_official ? "[OK]" : "";
  }

  /** docker's JSON of a result says "true"/"false" where the table says "[OK]". */
  toJSON(): Record<string, string> {
    return { Description: this.Description, IsOfficial: String(this.r.is_official), Name: this.Name, StarCount: this.StarCount };
  }
}

export const search: CliCommand = {
  name: "search",
  usage: "[OPTIONS] TERM",
  summary: "Search Docker Hub for images",
  args: [1, 1],
  flags: [
    { name: "filter", short: "f", type: "list", value: "filter", help: "Filter output based on conditions provided" },
    { name: "format", type: "string", value: "string", help: "Pretty-print search using a Go template" },
    { name: "limit", type: "int", value: "int", help: "Max number of search results" },
    { name: "no-trunc", type: "bool", help: "Don't truncate output" },
  ],
  async run(ctx, flags, args) {
    const format = (flags.format as string | undefined) || DEFAULT_TABLE;
    renderFormat(format === "table" ? DEFAULT_TABLE : format, [], HEADERS);
    const term = args[0]!;
    const limit = (flags.limit as number | undefined) ?? 0;
    const filters = filtersJson((flags.filter as string[] | undefined) ?? []);
    const auth = encodeAuthConfig(storedAuthConfig(storeFor(ctx), authConfigKey(splitSearchTerm(term).index)));
    const results = await ctx.client().json<SearchResult[]>("GET", "/images/search", {
      query: { term, ...(limit > 0 ? { limit: String(limit) } : {}), ...(filters ? { filters } : {}) },
      headers: { "X-Registry-Auth": auth },
    });
    const rows = (results ?? []).map((r) => new SearchRow(r, !(flags["no-trunc"] as boolean)));
    ctx.out(renderFormat(format === "table" ? DEFAULT_TABLE : format, rows, HEADERS));
    return 0;
  },
};
