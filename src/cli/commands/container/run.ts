/**
 * hako run (docker/cli cli/command/container/run.go): create (pulling a
 * missing image), then for an attached run hijack
 * POST /containers/{id}/attach before anything starts, register
 * POST /containers/{id}/wait?condition=next-exit (removed with --rm), start,
 * follow the terminal's size with a TTY, proxy signals, and exit with the
 * container's status. Detached: the full ID. Exit statuses as docker's:
 * 125 for errors of the daemon or the command line, 126/127 when the
 * command could not be run, else the container's.
 */
import { ApiError } from "../../client.ts";
import type { HijackedConnection } from "../../hijack.ts";
import { forwardSignals, isTerminal, monitorTtySize, streamIO, type StreamIOResult } from "../../terminal.ts";
import type { CliCommand, CliContext } from "../command.ts";
import { containerPath, errorText } from "./common.ts";
import { createContainer, createOptionsOf, parseWhileNegotiating } from "./create.ts";
import { RUN_FLAGS } from "./opts.ts";

/** toStatusError: the exit status for an error of create/start, and its message with the --help hint. */
export function runErrorStatus(err: unknown, cmdPath = "hako run"): { status: number; text: string } {
  const msg = errorText(err);
  const text = `hako: ${msg}\n\nRun '${cmdPath} --help' for more information\n`;
  if (msg.includes("executable file not found") || msg.includes("no such file or directory") || msg.includes("system cannot find the file specified")) {
    return { status: 127, text };
  }
  if (msg.includes("permission denied") || msg.includes("is a directory")) return { status: 126, text };
  return { status: 125, text };
}

/** A wait request whose answer (the exit status) comes later; abort() drops it. */
export interface PendingWait {
  status: Promise<number>;
  abort(): void;
}

const WAIT_HEADERS_GRACE_MS = 2000;

/**
 * waitExitOrRemoved: POST /containers/{id}/wait?condition=… and resolves
 * once the daemon has taken it (its headers came back; a daemon that
 * holds them until the exit gets a grace period instead). The status is
 * the container's exit code, 125 when waiting failed.
 */
export async function waitExitOrRemoved(ctx: CliContext, id: string, condition: string | undefined): Promise<PendingWait> {
  const controller = new AbortController();
  let aborted = false;
  const fail = (err: unknown): number => {
    if (!aborted) ctx.err(`error waiting for container: ${errorText(err)}\n`);
    return 125;
  };
  const response = ctx.client().call("POST", `${containerPath(id)}/wait`, { query: { condition }, signal: controller.signal });
  const status = response.then(async (res) => {
    const text = (await res.body).toString("utf8");
    let parsed: { StatusCode?: number; Error?: { Message?: string } | null };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new Error(text.trim());
    }
    if (parsed.Error?.Message) {
      ctx.err(`Error waiting for container: ${parsed.Error.Message}\n`);
      return 125;
    }
    return parsed.StatusCode ?? 0;
  }).catch(fail);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    response.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, WAIT_HEADERS_GRACE_MS);
    }),
  ]);
  clearTimeout(timer);
  return {
    status,
    abort: () => {
      aborted = true;
      controller.abort();
    },
  };
}

/** Resizes a container's (or an exec's) TTY: POST …/resize?h=&w=. */
export function resizer(ctx: CliContext, resource: string): (rows: number, cols: number) => Promise<void> {
  return async (rows, cols) => {
    if (rows === 0 && cols === 0) return;
    const res = await ctx.client().request("POST", `${resource}/resize`, { query: { h: rows, w: cols } });
    res.resume();
  };
}

/** POST /containers/{id}/kill?signal=NAME, errors ignored (forwarded signals). */
export function killer(ctx: CliContext, id: string): (signal: string) => Promise<void> {
  return async (signal) => {
    try {
      const res = await ctx.client().request("POST", `${containerPath(id)}/kill`, { query: { signal } });
      res.resume();
    } catch {
      // docker logs these at debug level
    }
  };
}

export const run: CliCommand = {
  name: "run",
  usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
  summary: "Create and run a new container from an image",
  args: [1, -1],
  stopAtFirstArg: true,
  flags: RUN_FLAGS,
  async run(ctx, flags, args) {
    const client = ctx.client();
    const configs = await parseWhileNegotiating(ctx, flags, args);
    if (typeof configs === "number") return configs;
    const detach = flags.detach === true;
    // process.stdin only when attached: making the stream costs a short run 2 ms.
    if (!detach) {
      if (configs.tty && configs.attachStdin && !isTerminal(process.stdin)) throw new Error("the input device is not a TTY");
    } else {
      if (configs.attachGiven) throw new Error("conflicting options: cannot specify both --attach and --detach");
      configs.attachStdin = configs.attachStdout = configs.attachStderr = false;
      Object.assign(configs.body, { AttachStdin: false, AttachStdout: false, AttachStderr: false, StdinOnce: false });
    }

    let id: string;
    try {
      id = await createContainer(ctx, configs, createOptionsOf(flags));
    } catch (err) {
      const { status, text } = runErrorStatus(err, ctx.path);
      ctx.err(text);
      return status;
    }

    const stopSignals = flags["sig-proxy"] === true ? forwardSignals(killer(ctx, id)) : () => {};
    let stopResize = (): void => {};
    let conn: HijackedConnection | undefined;
    let wait: PendingWait | undefined;
    try {
      const attach = configs.attachStdin || configs.attachStdout || configs.attachStderr;
      if (!attach) ctx.out(`${id}\n`);

      const streamAbort = new AbortController();
      let streamed: Promise<StreamIOResult> | undefined;
      const detachKeys = (flags["detach-keys"] as string | undefined) || undefined;
      // The attach and the wait both must be in place before the start, not
      // one before the other: they go out together.
      const attaching = attach
        ? client.hijack("POST", `${containerPath(id)}/attach`, {
            query: { detachKeys, stderr: configs.attachStderr || undefined, stdin: configs.attachStdin || undefined, stdout: configs.attachStdout || undefined, stream: true },
            headers: { "Content-Type": "text/plain" },
          })
        : undefined;
      const waiting = waitExitOrRemoved(ctx, id, configs.autoRemove ? "removed" : "next-exit");
      try {
        conn = await attaching;
      } finally {
        wait = await waiting;
      }
      if (conn) {
        streamed = streamIO({
          conn,
          tty: configs.tty,
          stdin: configs.attachStdin ? process.stdin : undefined,
          stdout: configs.attachStdout ? ctx.stdout : undefined,
          stderr: configs.attachStderr ? (configs.tty ? ctx.stdout : process.stderr) : undefined,
          detachKeys,
          warn: ctx.err,
          signal: streamAbort.signal,
        });
        streamed.catch(() => {});
      }

      try {
        await client.call("POST", `${containerPath(id)}/start`);
      } catch (err) {
        if (streamed) {
          streamAbort.abort();
          await streamed.catch(() => undefined);
        }
        if (configs.autoRemove) await wait.status;
        wait.abort();
        const { status, text } = runErrorStatus(err, ctx.path);
        ctx.err(text);
        return status;
      }

      if (!streamed) {
        wait.abort();
        return 0;
      }

      if (configs.tty && isTerminal(ctx.stdout)) stopResize = monitorTtySize(ctx.stdout, resizer(ctx, containerPath(id)));

      const first = await Promise.race([
        streamed.then(
          (r) => ({ kind: "stream" as const, r }),
          (err: unknown) => ({ kind: "streamError" as const, err }),
        ),
        wait.status.then((status) => ({ kind: "status" as const, status })),
      ]);
      if (first.kind === "streamError") {
        wait.abort();
        throw first.err;
      }
      if (first.kind === "stream") {
        if (first.r.detached) {
          wait.abort();
          return 0;
        }
        return await wait.status;
      }
      if (!configs.attachStdout && !configs.attachStderr) streamAbort.abort();
      await streamed.catch(() => undefined);
      return first.status;
    } catch (err) {
      if (err instanceof ApiError) {
        ctx.err(`Error response from daemon: ${err.message}\n`);
        return 1;
      }
      throw err;
    } finally {
      stopResize();
      stopSignals();
      conn?.close();
      wait?.abort();
    }
  },
};
