/**
 * hako ps / hako container ls (docker/cli cli/command/container/list.go):
 * GET /containers/json?all=&limit=&size=&filters= and docker's table.
 */
import { TemplateError, renderFormat } from "../../template/index.ts";
import type { CliCommand } from "../command.ts";
import { filtersJson, type ContainerSummary } from "./common.ts";
import { CONTAINER_HEADERS, ContainerRow, containerFormat } from "./format.ts";

/** docker 28's ps words its template failures its own way ("failed to parse template: ..."). */
function psFormat(render: () => string): string {
  try {
    return render();
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    const what = err.phase === "parse" ? "failed to parse template" : "failed to execute template";
    throw new TemplateError(err.phase, `${what}: ${err.message.replace(/^template parsing error: /, "")}`, err.output, 1);
  }
}

/** True when a --format uses .Size (docker then asks for sizes, unless --size was given as false). */
export function formatUsesSize(format: string): boolean {
  // docker runs the template on a recorder: `{{json .}}` calls every field, Size too (the keyword `json` does not).
  return /\.Size\b/.test(format) || /\{\{-?\s*json\s+\.\s*-?\}\}/.test(format);
}

export const containerLs: CliCommand = {
  name: "ls",
  aliases: ["list", "ps"],
  usage: "[OPTIONS]",
  summary: "List containers",
  args: [0, 0],
  flags: [
    { name: "all", short: "a", type: "bool", help: "Show all containers (default shows just running)" },
    { name: "filter", short: "f", type: "list", value: "filter", help: "Filter output based on conditions provided" },
    { name: "format", type: "string", value: "string", help: "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template." },
    { name: "last", short: "n", type: "int", value: "int", default: -1, help: "Show n last created containers (includes all states)" },
    { name: "latest", short: "l", type: "bool", help: "Show the latest created container (includes all states)" },
    { name: "no-trunc", type: "bool", help: "Don't truncate output" },
    { name: "quiet", short: "q", type: "bool", help: "Only display container IDs" },
    { name: "size", short: "s", type: "bool", help: "Display total file sizes" },
  ],
  async run(ctx, flags) {
    const quiet = flags.quiet === true;
    const custom = (flags.format as string | undefined) ?? "";
    if (custom !== "" && quiet) ctx.err("WARNING: Ignoring custom format, because both --format and --quiet are set.\n");
    let size = flags.size === true;
    let limit = flags.last as number;
    if (flags.latest === true && limit === -1) limit = 1;
    if (custom !== "") {
      // A template that does not parse fails before any request.
      psFormat(() => renderFormat(custom, [], CONTAINER_HEADERS));
      if (!quiet && !size && formatUsesSize(custom)) size = true;
    }
    const filters = filtersJson(flags.filter as string[]);
    const containers = await ctx.client().json<ContainerSummary[] | null>("GET", "/containers/json", {
      query: { all: flags.all === true ? "1" : undefined, filters, limit: limit > 0 ? limit : undefined, size: size ? "1" : undefined },
    });
    const format = containerFormat(custom, quiet, size);
    const trunc = flags["no-trunc"] !== true;
    const now = Date.now();
    const rows = (containers ?? []).map((c) => new ContainerRow(c, trunc, now));
    ctx.out(psFormat(() => renderFormat(format, rows, CONTAINER_HEADERS)));
    return 0;
  },
};
