/** hako container inspect (docker/cli cli/command/container/inspect.go). */
import type { CliCommand } from "../command.ts";
import { INSPECT_FORMAT_FLAG, printInspected } from "../inspect.ts";
import { containerPath } from "./common.ts";

export const containerInspect: CliCommand = {
  name: "inspect",
  usage: "[OPTIONS] CONTAINER [CONTAINER...]",
  summary: "Display detailed information on one or more containers",
  args: [1, -1],
  flags: [
    INSPECT_FORMAT_FLAG,
    { name: "size", short: "s", type: "bool", help: "Display total file sizes" },
  ],
  run(ctx, flags, args) {
    const size = flags.size === true ? "1" : undefined;
    return printInspected(ctx, args, (flags.format as string | undefined) || undefined, (ref) =>
      ctx.client().json("GET", `${containerPath(ref)}/json`, { query: { size } }),
    );
  },
};
