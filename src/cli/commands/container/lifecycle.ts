/**
 * The container state commands over one or more containers — stop,
 * restart, kill, pause, unpause, rm, wait, rename — with docker's output:
 * each name that worked on stdout, the daemon's errors on stderr, exit
 * status 1 when any failed (docker/cli cli/command/container/*.go).
 */
import { ApiError } from "../../client.ts";
import type { FlagSpec, FlagValues } from "../../flags.ts";
import type { CliCommand, CliContext } from "../command.ts";
import { containerPath, errorText, forEachContainer } from "./common.ts";
import { readBody } from "./create.ts";

async function post(ctx: CliContext, apiPath: string, query?: Record<string, string | number | undefined>): Promise<void> {
  const res = await ctx.client().request("POST", apiPath, { query });
  res.resume();
}

const STOP_FLAGS: FlagSpec[] = [
  { name: "signal", short: "s", type: "string", value: "string", help: "Signal to send to the container" },
  { name: "time", type: "int", value: "int", help: "Seconds to wait before killing the container (deprecated: use --timeout)", hidden: true },
  { name: "timeout", short: "t", type: "int", value: "int", help: "Seconds to wait before killing the container" },
];

/** -t/--timeout (or the deprecated --time) when given. */
function timeoutOf(ctx: CliContext, flags: FlagValues): number | undefined {
  if (flags.time !== undefined) ctx.err("Flag --time has been deprecated, use --timeout instead\n");
  return (flags.timeout as number | undefined) ?? (flags.time as number | undefined);
}

export const stop: CliCommand = {
  name: "stop",
  usage: "[OPTIONS] CONTAINER [CONTAINER...]",
  summary: "Stop one or more running containers",
  args: [1, -1],
  flags: STOP_FLAGS,
  run(ctx, flags, args) {
    const t = timeoutOf(ctx, flags);
    const signal = (flags.signal as string | undefined) || undefined;
    return forEachContainer(ctx, args, (name) => post(ctx, `${containerPath(name)}/stop`, { signal, t }));
  },
};

export const restart: CliCommand = {
  name: "restart",
  usage: "[OPTIONS] CONTAINER [CONTAINER...]",
  summary: "Restart one or more containers",
  args: [1, -1],
  flags: STOP_FLAGS,
  run(ctx, flags, args) {
    const t = timeoutOf(ctx, flags);
    const signal = (flags.signal as string | undefined) || undefined;
    return forEachContainer(ctx, args, (name) => post(ctx, `${containerPath(name)}/restart`, { signal, t }), undefined, { parallel: 1 });
  },
};

export const kill: CliCommand = {
  name: "kill",
  usage: "[OPTIONS] CONTAINER [CONTAINER...]",
  summary: "Kill one or more running containers",
  args: [1, -1],
  flags: [{ name: "signal", short: "s", type: "string", value: "string", help: "Signal to send to the container" }],
  run(ctx, flags, args) {
    const signal = (flags.signal as string | undefined) || undefined;
    return forEachContainer(ctx, args, (name) => post(ctx, `${containerPath(name)}/kill`, { signal }));
  },
};

export const pause: CliCommand = {
  name: "pause",
  usage: "CONTAINER [CONTAINER...]",
  summary: "Pause all processes within one or more containers",
  args: [1, -1],
  run(ctx, _flags, args) {
    return forEachContainer(ctx, args, (name) => post(ctx, `${containerPath(name)}/pause`));
  },
};

export const unpause: CliCommand = {
  name: "unpause",
  usage: "CONTAINER [CONTAINER...]",
  summary: "Unpause all processes within one or more containers",
  args: [1, -1],
  run(ctx, _flags, args) {
    return forEachContainer(ctx, args, (name) => post(ctx, `${containerPath(name)}/unpause`));
  },
};

export const containerRm: CliCommand = {
  name: "rm",
  aliases: ["remove"],
  usage: "[OPTIONS] CONTAINER [CONTAINER...]",
  summary: "Remove one or more containers",
  args: [1, -1],
  flags: [
    { name: "force", short: "f", type: "bool", help: "Force the removal of a running container (uses SIGKILL)" },
    { name: "link", short: "l", type: "bool", help: "Remove the specified link" },
    { name: "volumes", short: "v", type: "bool", help: "Remove anonymous volumes associated with the container" },
  ],
  run(ctx, flags, args) {
    const force = flags.force === true;
    return forEachContainer(
      ctx,
      args,
      async (name) => {
        const id = name.replace(/^\/+|\/+$/g, "");
        if (id === "") throw new Error("container name cannot be empty");
        const res = await ctx.client().request("DELETE", containerPath(id), {
          query: { force: force ? "1" : undefined, link: flags.link === true ? "1" : undefined, v: flags.volumes === true ? "1" : undefined },
        });
        res.resume();
      },
      undefined,
      { ignore: (err) => force && err instanceof ApiError && err.status === 404 },
    );
  },
};

export const wait: CliCommand = {
  name: "wait",
  usage: "CONTAINER [CONTAINER...]",
  summary: "Block until one or more containers stop, then print their exit codes",
  args: [1, -1],
  async run(ctx, _flags, args) {
    const errors: string[] = [];
    for (const name of args) {
      try {
        const res = await ctx.client().request("POST", `${containerPath(name)}/wait`);
        const text = (await readBody(res)).toString("utf8");
        let parsed: { StatusCode?: number };
        try {
          parsed = JSON.parse(text) as { StatusCode?: number };
        } catch {
          throw new Error(text.trim());
        }
        ctx.out(`${parsed.StatusCode ?? 0}\n`);
      } catch (err) {
        errors.push(errorText(err));
      }
    }
    if (errors.length === 0) return 0;
    ctx.err(`${errors.join("\n")}\n`);
    return 1;
  },
};

export const rename: CliCommand = {
  name: "rename",
  usage: "CONTAINER NEW_NAME",
  summary: "Rename a container",
  args: [2, 2],
  async run(ctx, _flags, args) {
    const oldName = args[0]!.trim();
    const newName = args[1]!.trim();
    if (oldName === "" || newName === "") throw new Error("Error: Neither old nor new names may be empty");
    try {
      await post(ctx, `${containerPath(oldName)}/rename`, { name: newName });
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      ctx.err(`${errorText(err)}\n`);
      throw new Error(`Error: failed to rename container named ${oldName}`);
    }
    return 0;
  },
};
