import type { RuntimeCommand } from "./command.ts";

export const start: RuntimeCommand = {
  name: "start",
  usage: "start <container-id>",
  summary: "run the user program of a created container",
  flags: [],
  args: [1, 1],
  async run({ runtime }, _flags, [id]) {
    await runtime.start(id!);
    return 0;
  },
};
