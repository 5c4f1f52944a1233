/** hako tag / hako image tag: docker/cli cli/command/image/tag.go over the client's ImageTag. */
import { HakoError } from "../../../common/errors.ts";
import { familiarName, parseReference, tagNameOnly, type Reference } from "../../../image/reference.ts";
import type { CliCommand } from "../command.ts";
import { imagePath } from "./common.ts";

function parseOrExplain(s: string): Reference {
  try {
    return parseReference(s);
  } catch (err) {
    const reason = HakoError.is(err) ? err.message : String(err);
    throw new Error(`Error parsing reference: ${JSON.stringify(s)} is not a valid repository/tag: ${reason}`);
  }
}

export const tag: CliCommand = {
  name: "tag",
  usage: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
  summary: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
  args: [2, 2],
  stopAtFirstArg: true,
  async run(ctx, _flags, args) {
    const [source, target] = args as [string, string];
    // The source may be an ID; only a malformed name is refused here.
    if (!/^(sha256:)?[a-f0-9]{1,64}$/.test(source)) parseOrExplain(source);
    const ref = parseOrExplain(target);
    if (ref.digest !== undefined) throw new Error("refusing to create a tag with a digest reference");
    const tagged = tagNameOnly(ref);
    await ctx.client().request("POST", `/images/${imagePath(source)}/tag`, { query: { repo: familiarName(tagged), tag: tagged.tag } }).then((res) => res.resume());
    return 0;
  },
};
