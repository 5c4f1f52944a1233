import type { RuntimeCommand } from "./command.ts";

export const state: RuntimeCommand = {
  name: "state",
  usage: "state <container-id>",
  summary: "print the container's state as JSON",
  flags: [],
  args: [1, 1],
  run({ runtime, out }, _flags, [id]) {
    out(`${JSON.stringify(runtime.state(id!), null, 2)}\n`);
    return 0;
  },
};
