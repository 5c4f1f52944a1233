import type { RuntimeCommand } from "./command.ts";

export const kill: RuntimeCommand = {
  name: "kill",
  usage: "kill [flags] <container-id> [signal]",
  summary: "send a signal (default SIGTERM) to the container's init",
  flags: [{ name: "all", short: "a", type: "bool", help: "send the signal to every process of the container" }],
  args: [1, 2],
  run({ runtime }, flags, [id, signal]) {
    runtime.kill(id!, signal ?? "SIGTERM", { all: flags.all as boolean });
    return 0;
  },
};
