/** hako load / hako image load: docker/cli cli/command/image/load.go (POST /images/load). */
import type { Readable } from "node:stream";
import { readJsonLines } from "../../client.ts";
import { displayJsonMessages } from "../../progress.ts";
import type { CliCommand } from "../command.ts";
import { openInputFile } from "./common.ts";

export const load: CliCommand = {
  name: "load",
  usage: "[OPTIONS]",
  summary: "Load an image from a tar archive or STDIN",
  args: [0, 0],
  flags: [
    { name: "input", short: "i", type: "string", value: "string", help: "Read from tar archive file, instead of STDIN" },
    { name: "platform", type: "string", value: "string", help: 'Load only the given platform variant. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")' },
    { name: "quiet", short: "q", type: "bool", help: "Suppress the load output" },
  ],
  async run(ctx, flags) {
    const file = flags.input as string | undefined;
    let body: Readable;
    if (!file) {
      if (process.stdin.isTTY) throw new Error("requested load from stdin, but stdin is empty");
      body = process.stdin;
    } else {
      body = await openInputFile(file);
    }
    const quiet = (flags.quiet as boolean) || !ctx.stdout.isTTY;
    const res = await ctx.client().request("POST", "/images/load", {
      query: { quiet: quiet ? "1" : "0", platform: flags.platform as string | undefined },
      body,
      headers: { "Content-Type": "application/x-tar" },
    });
    if ((res.headers["content-type"] ?? "").startsWith("application/json")) {
      await displayJsonMessages(readJsonLines(res), { out: ctx.stdout });
      return 0;
    }
    for await (const chunk of res) ctx.stdout.write(chunk as Buffer);
    return 0;
  },
};
