/**
 * Docker's inspect output, shared by every inspect command (docker/cli
 * cli/command/inspect/inspector.go): a JSON array indented with four
 * spaces, or -f FORMAT per object; objects that are not found are reported
 * after what could be shown (status 1). And the top-level hako inspect
 * (system/inspect.go): without --type, a name is looked up as a container,
 * an image, a network, then a volume.
 */
import type { FlagSpec } from "../flags.ts";
import { ApiError } from "../client.ts";
import { renderEach, TemplateError } from "../template/index.ts";
import type { CliCommand, CliContext } from "./command.ts";
import { containerPath } from "./container/common.ts";
import { imagePath } from "./image/common.ts";

export type Getter = (ref: string) => Promise<unknown>;

/** docker's inspect --format: its help differs from the list commands' (FORMAT_FLAG). */
export const INSPECT_FORMAT_FLAG: FlagSpec = {
  name: "format",
  short: "f",
  type: "string",
  value: "string",
  help: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.",
};

/** An object of no type has the name ("Error: No such object: x"). */
class NoSuchObject extends Error {}

/** Fetches `refs` with `get` and prints them as docker's inspect does; resolves with the exit status. */
export async function printInspected(ctx: CliContext, refs: readonly string[], format: string | undefined, get: Getter): Promise<number> {
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
      else if (err instanceof NoSuchObject) errors.push(err.message);
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

const OBJECT_TYPES = ["config", "container", "image", "network", "node", "plugin", "secret", "service", "task", "volume"];

function skippable(err: unknown): boolean {
  return err instanceof ApiError && (err.status === 404 || err.message.includes("not supported") || err.message.includes("invalid reference format"));
}

/** hako inspect: any object by name or ID (containers first, then images, networks, volumes). */
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
  run(ctx, flags, args) {
    const type = (flags.type as string | undefined) ?? "";
    if (type !== "" && !OBJECT_TYPES.includes(type)) throw new Error(`unknown type: "${type}": must be one of "${OBJECT_TYPES.join('", "')}"`);
    const size = flags.size === true;
    const client = ctx.client();
    const inspectors: { type: string; sized: boolean; get: Getter }[] = [
      { type: "container", sized: true, get: (ref) => client.json("GET", `${containerPath(ref)}/json`, { query: { size: size ? "1" : undefined } }) },
      { type: "image", sized: false, get: (ref) => client.json("GET", `/images/${imagePath(ref)}/json`) },
      { type: "network", sized: false, get: (ref) => client.json("GET", `/networks/${encodeURIComponent(ref)}`) },
      { type: "volume", sized: false, get: (ref) => client.json("GET", `/volumes/${encodeURIComponent(ref)}`) },
      { type: "plugin", sized: false, get: (ref) => client.json("GET", `/plugins/${encodeURIComponent(ref)}/json`) },
    ];
    const get: Getter = async (ref) => {
      for (const i of inspectors) {
        if (type !== "" && i.type !== type) continue;
        if (type === "" && i.type === "plugin") continue;
        let value: unknown;
        try {
          value = await i.get(ref);
        } catch (err) {
          if (type === "" && skippable(err)) continue;
          throw err;
        }
        if (size && !i.sized) ctx.err(`WARNING: --size ignored for ${i.type}\n`);
        return value;
      }
      if (type !== "" && !inspectors.some((i) => i.type === type)) {
        throw new ApiError(503, "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.");
      }
      throw new NoSuchObject(`Error: No such object: ${ref}`);
    };
    return printInspected(ctx, args, (flags.format as string | undefined) || undefined, get);
  },
};
