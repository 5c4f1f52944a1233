/**
 * hako import / hako image import: docker/cli cli/command/image/import.go.
 * A file is sent as the body (fromSrc=-), "-" sends stdin, an http(s) URL
 * is fetched by the daemon. Prints the new image's ID.
 */
import type { Readable } from "node:stream";
import { displayJsonMessages } from "../../progress.ts";
import type { CliCommand } from "../command.ts";
import { openInputFile, parseNamed } from "./common.ts";

export const importCmd: CliCommand = {
  name: "import",
  usage: "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
  summary: "Import the contents from a tarball to create a filesystem image",
  args: [1, 2],
  flags: [
    { name: "change", short: "c", type: "list", value: "list", help: "Apply Dockerfile instruction to the created image" },
    { name: "message", short: "m", type: "string", value: "string", help: "Set commit message for imported image" },
    { name: "platform", type: "string", value: "string", help: "Set platform if server is multi-platform capable" },
  ],
  async run(ctx, flags, args) {
    const [source, repo] = args as [string, string | undefined];
    if (repo) parseNamed(repo);
    let body: Readable | undefined;
    let fromSrc = "-";
    if (source === "-") body = process.stdin;
    else if (/^https?:\/\//.test(source)) fromSrc = source;
    else body = await openInputFile(source);
    const platform = flags.platform as string | undefined;
    const messages = ctx.client().stream("POST", "/images/create", {
      query: {
        fromSrc,
        repo,
        message: (flags.message as string | undefined) || undefined,
        platform: platform ? platform.toLowerCase() : undefined,
        changes: flags.change as string[],
      },
      body,
      headers: body ? { "Content-Type": "application/x-tar" } : {},
    });
    await displayJsonMessages(messages, { out: ctx.stdout });
    return 0;
  },
};
