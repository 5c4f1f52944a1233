/** hako image prune: docker/cli cli/command/image/prune.go (POST /images/prune). */
import type { CliCommand } from "../command.ts";
import { confirm, filtersJson } from "./common.ts";
import { humanSize } from "./units.ts";

const ALL_WARNING = "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?";
const DANGLING_WARNING = "WARNING! This will remove all dangling images.\nAre you sure you want to continue?";

interface PruneReport {
  ImagesDeleted: { Untagged?: string; Deleted?: string }[] | null;
  SpaceReclaimed: number;
}

export const imagePrune: CliCommand = {
  name: "prune",
  usage: "[OPTIONS]",
  summary: "Remove unused images",
  args: [0, 0],
  flags: [
    { name: "all", short: "a", type: "bool", help: "Remove all unused images, not just dangling ones" },
    { name: "filter", type: "list", value: "filter", help: 'Provide filter values (e.g. "until=<timestamp>")' },
    { name: "force", short: "f", type: "bool", help: "Do not prompt for confirmation" },
  ],
  async run(ctx, flags) {
    const all = flags.all as boolean;
    const filters = filtersJson(flags.filter as string[], { dangling: [String(!all)] });
    if (!flags.force) {
      // "image prune has been cancelled": docker exits 0 without a message.
      if (!(await confirm(ctx, all ? ALL_WARNING : DANGLING_WARNING))) return 0;
    }
    const report = await ctx.client().json<PruneReport>("POST", "/images/prune", { query: { filters } });
    let space = 0;
    const deleted = report?.ImagesDeleted ?? [];
    if (deleted.length > 0) {
      let text = "Deleted Images:\n";
      for (const item of deleted) text += item.Untagged ? `untagged: ${item.Untagged}\n` : `deleted: ${item.Deleted ?? ""}\n`;
      ctx.out(`${text}\n`);
      space = report.SpaceReclaimed;
    }
    ctx.out(`Total reclaimed space: ${humanSize(space)}\n`);
    return 0;
  },
};
