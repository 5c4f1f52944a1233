import type { RuntimeCommand } from "./command.ts";
import { bundleFlags } from "./create.ts";

export const run: RuntimeCommand = {
  name: "run",
  usage: "run [flags] <container-id>",
  summary: "create and start a container, and wait for it",
  flags: [
    ...bundleFlags,
    { name: "detach", short: "d", type: "bool", help: "return once the container started" },
    { name: "keep", type: "bool", help: "keep the container's state after it exits" },
  ],
  args: [1, 1],
  async run({ runtime, err }, flags, [id]) {
    const result = await runtime.run(id!, {
      bundle: flags.bundle as string,
      pidFile: flags["pid-file"] as string | undefined,
      consoleSocket: flags["console-socket"] as string | undefined,
      preserveFds: flags["preserve-fds"] as number,
      detach: flags.detach as boolean,
      keep: flags.keep as boolean,
    });
    if (result.oomKilled) err(`hako-runtime: container ${id} was killed by the OOM killer (memory limit reached)\n`);
    return result.exitCode;
  },
};
