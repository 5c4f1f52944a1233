import { readFileSync } from "node:fs";
import type { RuntimeCommand } from "./command.ts";

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    return "";
  }
}

export const ps: RuntimeCommand = {
  name: "ps",
  usage: "ps [flags] <container-id>",
  summary: "list the processes of a container",
  flags: [{ name: "format", short: "f", type: "string", value: "table|json", help: "output format", default: "table" }],
  args: [1, 1],
  run({ runtime, out }, flags, [id]) {
    const pids = runtime.ps(id!);
    if (flags.format === "json") {
      out(`${JSON.stringify(pids)}\n`);
      return 0;
    }
    out("PID     CMD\n");
    for (const pid of pids) out(`${String(pid).padEnd(8)}${commandOf(pid)}\n`);
    return 0;
  },
};
