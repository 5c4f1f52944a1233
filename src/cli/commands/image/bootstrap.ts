/**
 * hako image bootstrap (a hako extension): busybox:latest, or --tag, made
 * from the host's busybox-static by the daemon (POST /hako/images/busybox),
 * for machines without a registry. Prints the image ID.
 */
import type { CliCommand } from "../command.ts";

export const bootstrap: CliCommand = {
  name: "bootstrap",
  usage: "[OPTIONS]",
  summary: "Create busybox:latest from the host's busybox-static (hako)",
  args: [0, 0],
  flags: [{ name: "tag", short: "t", type: "string", value: "string", default: "busybox:latest", help: "Name the image" }],
  async run(ctx, flags) {
    const res = await ctx.client().json<{ Id: string }>("POST", "/hako/images/busybox", { query: { tag: flags.tag as string } });
    ctx.out(`${res.Id}\n`);
    return 0;
  },
};
