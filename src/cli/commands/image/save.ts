/** hako save / hako image save: docker/cli cli/command/image/save.go (GET /images/get?names=...). */
import { randomBytes } from "node:crypto";
import { closeSync, createWriteStream, fsyncSync, openSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { CliCommand } from "../command.ts";

export const save: CliCommand = {
  name: "save",
  usage: "[OPTIONS] IMAGE [IMAGE...]",
  summary: "Save one or more images to a tar archive (streamed to STDOUT by default)",
  args: [1, -1],
  flags: [
    { name: "output", short: "o", type: "string", value: "string", help: "Write to a file, instead of STDOUT" },
    { name: "platform", type: "string", value: "string", help: 'Save only the given platform variant. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")' },
  ],
  async run(ctx, flags, args) {
    const output = flags.output as string | undefined;
    if (!output && ctx.stdout.isTTY) throw new Error("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    const res = await ctx.client().request("GET", "/images/get", { query: { names: args, platform: flags.platform as string | undefined } });
    if (!output) {
      await pipeline(res, ctx.stdout, { end: false });
      return 0;
    }
    // atomicwriter: a temp file next to the target, renamed over it once complete (mode 0600).
    const target = path.resolve(output);
    const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString("hex")}.tmp`);
    try {
      await pipeline(res, createWriteStream(tmp, { mode: 0o600 }));
      const fd = openSync(tmp, "r");
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, target);
    } catch (err) {
      rmSync(tmp, { force: true });
      const code = (err as NodeJS.ErrnoException).code;
      if (code) throw new Error(`failed to save image: ${(err as Error).message}`);
      throw err;
    }
    return 0;
  },
};
