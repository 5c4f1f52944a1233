/** hako push / hako image push: docker/cli cli/command/image/push.go (POST /images/{name}/push). */
import { familiarName, fullString } from "../../../image/reference.ts";
import { registryAuthFor } from "../../auth.ts";
import { displayJsonMessages } from "../../progress.ts";
import type { CliCommand } from "../command.ts";
import { DISCARD, imagePath, remoteReference, storeFor } from "./common.ts";

export const push: CliCommand = {
  name: "push",
  usage: "[OPTIONS] NAME[:TAG]",
  summary: "Upload an image to a registry",
  args: [1, 1],
  flags: [
    { name: "all-tags", short: "a", type: "bool", help: "Push all tags of an image to the repository" },
    { name: "disable-content-trust", type: "bool", default: true, help: "Skip image signing (default true)" },
    { name: "platform", type: "string", value: "string", help: "Push a platform-specific manifest as a single-platform image to the registry" },
    { name: "quiet", short: "q", type: "bool", help: "Suppress verbose output" },
  ],
  async run(ctx, flags, args) {
    const all = flags["all-tags"] as boolean;
    const quiet = flags.quiet as boolean;
    const ref = remoteReference(ctx, args[0]!, all, quiet);
    if (ref.digest !== undefined) throw new Error("cannot push a digest reference");
    const messages = ctx.client().stream("POST", `/images/${imagePath(familiarName(ref))}/push`, {
      query: { tag: all ? undefined : ref.tag, platform: (flags.platform as string | undefined) || undefined },
      headers: { "X-Registry-Auth": registryAuthFor(ref, storeFor(ctx)) },
    });
    await displayJsonMessages(messages, { out: quiet ? DISCARD : ctx.stdout, onAux: () => {} });
    if (quiet) ctx.out(`${fullString(ref)}\n`);
    return 0;
  },
};
