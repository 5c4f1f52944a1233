import type { RuntimeCommand } from "./command.ts";

export const del: RuntimeCommand = {
  name: "delete",
  usage: "delete [flags] <container-id>",
  summary: "remove a stopped container and everything it held",
  flags: [{ name: "force", short: "f", type: "bool", help: "kill the container first if it still runs" }],
  args: [1, 1],
  async run({ runtime }, flags, [id]) {
    await runtime.delete(id!, { force: flags.force as boolean });
    return 0;
  },
};
