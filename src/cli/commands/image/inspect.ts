/** hako image inspect (docker/cli cli/command/image/inspect.go). */
import type { ApiClient } from "../../client.ts";
import type { CliCommand } from "../command.ts";
import { INSPECT_FORMAT_FLAG, printInspected, type Getter } from "../inspect.ts";
import { imagePath } from "./common.ts";

export function getImage(client: ApiClient): Getter {
  return (ref) => client.json("GET", `/images/${imagePath(ref)}/json`);
}

export const imageInspect: CliCommand = {
  name: "inspect",
  usage: "[OPTIONS] IMAGE [IMAGE...]",
  summary: "Display detailed information on one or more images",
  args: [1, -1],
  flags: [
    INSPECT_FORMAT_FLAG,
    { name: "platform", type: "string", value: "string", help: "Inspect a specific platform of the multi-platform image" },
  ],
  run(ctx, flags, args) {
    return printInspected(ctx, args, (flags.format as string | undefined) || undefined, getImage(ctx.client()));
  },
};
