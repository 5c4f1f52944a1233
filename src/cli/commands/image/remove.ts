/** hako rmi / hako image rm: docker/cli cli/command/image/remove.go. */
import { ApiError } from "../../client.ts";
import type { CliCommand } from "../command.ts";
import { imagePath } from "./common.ts";

interface DeleteItem {
  Untagged?: string;
  Deleted?: string;
}

export const imageRm: CliCommand = {
  name: "rm",
  aliases: ["rmi", "remove"],
  usage: "[OPTIONS] IMAGE [IMAGE...]",
  summary: "Remove one or more images",
  args: [1, -1],
  flags: [
    { name: "force", short: "f", type: "bool", help: "Force removal of the image" },
    { name: "no-prune", type: "bool", help: "Do not delete untagged parents" },
  ],
  async run(ctx, flags, args) {
    const force = flags.force as boolean;
    const client = ctx.client();
    const errors: string[] = [];
    let fatal = false;
    for (const img of args) {
      try {
        const items = await client.json<DeleteItem[]>("DELETE", `/images/${imagePath(img)}`, {
          query: { force: force ? "1" : undefined, noprune: flags["no-prune"] ? "1" : undefined },
        });
        for (const item of items ?? []) ctx.out(item.Deleted ? `Deleted: ${item.Deleted}\n` : `Untagged: ${item.Untagged ?? ""}\n`);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (err.status !== 404) fatal = true;
        errors.push(`Error response from daemon: ${err.message}`);
      }
    }
    if (errors.length === 0) return 0;
    ctx.err(`${errors.join("\n")}\n`);
    return !force || fatal ? 1 : 0;
  },
};
