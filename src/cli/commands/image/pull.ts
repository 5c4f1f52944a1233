/**
 * hako pull / hako image pull: docker/cli cli/command/image/pull.go. The
 * daemon's progress is shown as docker shows it (bars on a terminal, plain
 * lines elsewhere, nothing with -q), then the full reference pulled.
 */
import { familiarName, fullString } from "../../../image/reference.ts";
import { registryAuthFor } from "../../auth.ts";
import { displayJsonMessages } from "../../progress.ts";
import type { CliCommand } from "../command.ts";
import { DISCARD, remoteReference, storeFor } from "./common.ts";

export const pull: CliCommand = {
  name: "pull",
  usage: "[OPTIONS] NAME[:TAG|@DIGEST]",
  summary: "Download an image from a registry",
  args: [1, 1],
  flags: [
    { name: "all-tags", short: "a", type: "bool", help: "Download all tagged images in the repository" },
    { name: "disable-content-trust", type: "bool", default: true, help: "Skip image verification (default true)" },
    { name: "platform", type: "string", value: "string", help: "Set platform if server is multi-platform capable" },
    { name: "quiet", short: "q", type: "bool", help: "Suppress verbose output" },
  ],
  async run(ctx, flags, args) {
    const all = flags["all-tags"] as boolean;
    const quiet = flags.quiet as boolean;
    const ref = remoteReference(ctx, args[0]!, all, quiet);
    const platform = (flags.platform as string | undefined) || process.env.DOCKER_DEFAULT_PLATFORM || undefined;
    const messages = ctx.client().stream("POST", "/images/create", {
      query: {
        fromImage: familiarName(ref),
        tag: all ? undefined : (ref.digest ?? ref.tag),
        platform: platform?.toLowerCase(),
      },
      headers: { "X-Registry-Auth": registryAuthFor(ref, storeFor(ctx)) },
    });
    await displayJsonMessages(messages, { out: quiet ? DISCARD : ctx.stdout });
    ctx.out(`${fullString(ref)}\n`);
    return 0;
  },
};
