/** hako builder prune: docker/cli cli/command/builder/prune.go (POST /build/prune). */
import type { CliCommand } from "../command.ts";
import { confirm, filtersJson } from "./common.ts";
import { humanSize } from "./units.ts";

const DANGLING_WARNING = "WARNING! This will remove all dangling build cache.\nAre you sure you want to continue?";
const ALL_WARNING = "WARNING! This will remove all build cache.\nAre you sure you want to continue?";

export const builderPrune: CliCommand = {
  name: "prune",
  usage: "[OPTIONS]",
  summary: "Remove build cache",
  args: [0, 0],
  flags: [
    { name: "all", short: "a", type: "bool", help: "Remove all unused build cache, not just dangling ones" },
    { name: "filter", type: "list", value: "filter", help: "Provide filter values (e.g. \"until=24h\")" },
    { name: "force", short: "f", type: "bool", help: "Do not prompt for confirmation" },
    { name: "keep-storage", type: "string", value: "bytes", help: "Amount of disk space to keep for cache" },
  ],
  async run(ctx, flags) {
    const all = flags.all as boolean;
    if (!flags.force && !(await confirm(ctx, all ? ALL_WARNING : DANGLING_WARNING))) return 0;
    const report = await ctx.client().json<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>("POST", "/build/prune", {
      query: { all: all ? "1" : undefined, filters: filtersJson(flags.filter as string[], {}), "keep-storage": flags["keep-storage"] as string | undefined },
    });
    const deleted = report?.CachesDeleted ?? [];
    if (deleted.length > 0) ctx.out(`Deleted build cache objects:\n${deleted.join("\n")}\n`);
    ctx.out(`Total reclaimed space: ${humanSize(report?.SpaceReclaimed ?? 0)}\n`);
    return 0;
  },
};
