/**
 * hako image inspect, and hako inspect for images (docker/cli
 * cli/command/inspect/inspector.go): a JSON array indented with four
 * spaces, or -f FORMAT per object; failures are listed after what could be
 * shown, and the exit status is 1.
 */
import { ApiError, type ApiClient } from "../../client.ts";
import type { FlagSpec } from "../../flags.ts";
import { renderEach, TemplateError } from "../../template/index.ts";
import type { CliCommand, CliContext } from "../command.ts";
import { imagePath } from "./common.ts";

type Getter = (ref: string) => Promise<unknown>;

/** docker's inspect --format: its help differs from the list commands' (FORMAT_FLAG). */
const INSPECT_FORMAT_FLAG: FlagSpec = {
  name: "format",
  short: "f",
  type: "string",
  value: "string",
  help: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.",
};

/** Fetches `refs` with `get` and prints them as docker's inspect does; resolves with the exit status. */
export async function inspectObjects(ctx: CliContext, refs: readonly string[], format: string | undefined, get: Getter): Promise<number> {
  // A template that does not parse fails before any request (exit 64).
  if (format && format !== "json") renderEach(format, []);
  const found: unknown[] = [];
  const errors: string[] = [];
  let text = "";
  for (const ref of refs) {
    let value: unknown;
    try {
      value = await get(ref);
    } catch (err) {
      if (err instanceof ApiError) errors.push(`Error response from daemon: ${err.message}`);
      else if (err instanceof InspectNotFound) errors.push(err.message);
      else throw err;
      continue;
    }
    found.push(value);
    if (format && format !== "json") {
      try {
        text += renderEach(format, [value]);
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        errors.push(err.message);
      }
    }
  }
  if (!format) ctx.out(`${JSON.stringify(found, null, 4)}\n`);
  else if (format === "json") ctx.out(`${JSON.stringify(found)}\n`);
  else ctx.out(text === "" ? "\n" : text);
  if (errors.length) {
    ctx.err(`${errors.join("\n")}\n`);
    return 1;
  }
  return 0;
}

/** The message docker prints when no object of any type has the name. */
class InspectNotFound extends Error {}

export function getImage(client: ApiClient): Getter {
  return (ref) => client.json("GET", `/images/${imagePath(ref)}/json`);
}

export const imageInspect: CliCommand = {
  name: "inspect",
  usage: "[OPTIONS] IMAGE [IMAGE...]",
  summary: "Display detailed information on one or more images",
  args: [1, -1],
  flags: [
    INSPECT_FORMAT_FLAG,
    { name: "platform", type: "string", value: "string", help: "Inspect a specific platform of the multi-platform image" },
  ],
  run(ctx, flags, args) {
    return inspectObjects(ctx, args, (flags.format as string | undefined) || undefined, getImage(ctx.client()));
  },
};

const OBJECT_TYPES = ["config", "container", "image", "network", "node", "plugin", "secret", "service", "task", "volume"];

/**
 * hako inspect: docker's top-level inspect. Only images exist in hako so
 * far, so the lookup tries them; other --type values are not implemented yet.
 */
export const inspect: CliCommand = {
  name: "inspect",
  usage: "[OPTIONS] NAME|ID [NAME|ID...]",
  summary: "Return low-level information on hako objects",
  args: [1, -1],
  flags: [
    INSPECT_FORMAT_FLAG,
    { name: "size", short: "s", type: "bool", help: "Display total file sizes if the type is container" },
    { name: "type", type: "string", value: "string", help: "Only inspect objects of the given type" },
  ],
  async run(ctx, flags, args) {
    const type = (flags.type as string | undefined) ?? "";
    if (type !== "" && !OBJECT_TYPES.includes(type)) {
      throw new Error(`unknown type: "${type}": must be one of "${OBJECT_TYPES.join('", "')}"`);
    }
    if (type !== "" && type !== "image") {
      ctx.err(`hako: "inspect --type ${type}" is not implemented yet\n`);
      return 1;
    }
    if (flags.size) ctx.err("WARNING: --size ignored for image\n");
    const images = getImage(ctx.client());
    const get: Getter =
      type === "image"
        ? images
        : async (ref) => {
            try {
              return await images(ref);
            } catch (err) {
              if (err instanceof ApiError && (err.status === 404 || err.message.includes("invalid reference format"))) throw new InspectNotFound(`Error: No such object: ${ref}`);
              throw err;
            }
          };
    return inspectObjects(ctx, args, (flags.format as string | undefined) || undefined, get);
  },
};
