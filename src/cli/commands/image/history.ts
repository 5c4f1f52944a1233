/** hako history / hako image history: docker/cli cli/command/image/history.go and formatter_history.go. */
import type { HistoryResponseItem } from "../../../spec/docker-api.ts";
import { GO_TYPE, renderFormat } from "../../template/index.ts";
import type { CliCommand } from "../command.ts";
import { imagePath } from "./common.ts";
import { createdSince, ellipsis, humanSizeWithPrecision, rfc3339, truncateId } from "./units.ts";

const DEFAULT_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
const NON_HUMAN_TABLE = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

const HEADERS: Record<string, string> = {
  ID: "IMAGE",
  CreatedSince: "CREATED",
  CreatedAt: "CREATED AT",
  CreatedBy: "CREATED BY",
  Size: "SIZE",
  Comment: "COMMENT",
};

/** Created times before 2000 are shown as N/A (docker's epoch check). */
const EPOCH_2000 = Date.UTC(2000, 0, 1) / 1000;

/** docker's historyContext. */
export class HistoryRow {
  /** docker's formatter type: a field it does not have is an error, not "<no value>". */
  get [GO_TYPE](): string {
    return "*image.historyContext";
  }

  constructor(
    private readonly h: HistoryResponseItem,
    private readonly trunc: boolean,
    private readonly human: boolean,
  ) {}

  get ID(): string {
    return this.trunc ? truncateId(this.h.Id) : this.h.Id;
  }
  get CreatedAt(): string {
    return rfc3339(this.h.Created);
  }
  get CreatedSince(): string {
    if (!this.human) return this.CreatedAt;
    if (this.h.Created <= EPOCH_2000) return "N/A";
    return createdSince(this.h.Created);
  }
  get CreatedBy(): string {
    const createdBy = this.h.CreatedBy.replaceAll("\t", " ");
    return this.trunc ? ellipsis(createdBy, 45) : createdBy;
  }
  get Size(): string {
    return this.human ? humanSizeWithPrecision(this.h.Size, 3) : String(this.h.Size);
  }
  get Comment(): string {
    return this.h.Comment;
  }
}

function historyFormat(source: string, quiet: boolean, human: boolean): string {
  if (source !== "table") return source;
  if (quiet) return "{{.ID}}";
  return human ? DEFAULT_TABLE : NON_HUMAN_TABLE;
}

export const history: CliCommand = {
  name: "history",
  usage: "[OPTIONS] IMAGE",
  summary: "Show the history of an image",
  args: [1, 1],
  flags: [
    { name: "format", type: "string", value: "string", help: "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template" },
    { name: "human", short: "H", type: "bool", default: true, help: "Print sizes and dates in human readable format (default true)" },
    { name: "no-trunc", type: "bool", help: "Don't truncate output" },
    { name: "platform", type: "string", value: "string", help: 'Show history for the given platform. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")' },
    { name: "quiet", short: "q", type: "bool", help: "Only show image IDs" },
  ],
  async run(ctx, flags, args) {
    const human = flags.human as boolean;
    const format = historyFormat((flags.format as string | undefined) || "table", flags.quiet as boolean, human);
    renderFormat(format, [], HEADERS);
    const platform = flags.platform as string | undefined;
    const items = await ctx.client().json<HistoryResponseItem[]>("GET", `/images/${imagePath(args[0]!)}/history`, { query: { platform } });
    const rows = (items ?? []).map((h) => new HistoryRow(h, !(flags["no-trunc"] as boolean), human));
    ctx.out(renderFormat(format, rows, HEADERS));
    return 0;
  },
};
