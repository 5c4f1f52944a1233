/**
 * hako attach and hako start (docker/cli cli/command/container/attach.go,
 * start.go): the hijacked attach stream with the terminal, detach keys,
 * resizes and signal forwarding; `start` without -a/-i just starts.
 */
import type { HijackedConnection } from "../../hijack.ts";
import { forwardSignals, isTerminal, monitorTtySize, streamIO, ttySize } from "../../terminal.ts";
import type { CliCommand, CliContext } from "../command.ts";
import { containerPath, errorText, type ContainerInspect } from "./common.ts";
import { readBody } from "./create.ts";
import { killer, resizer, waitExitOrRemoved } from "./run.ts";

async function inspectContainer(ctx: CliContext, name: string): Promise<ContainerInspect> {
  return ctx.client().json<ContainerInspect>("GET", `${containerPath(name)}/json`);
}

/** inspectContainerAndCheckState. */
async function inspectAndCheckState(ctx: CliContext, name: string): Promise<ContainerInspect> {
  const c = await inspectContainer(ctx, name);
  if (!c.State?.Running) throw new Error("You cannot attach to a stopped container, start it first");
  if (c.State.Paused) throw new Error("You cannot attach to a paused container, unpause it first");
  if (c.State.Restarting) throw new Error("You cannot attach to a restarting container, wait until it is running");
  return c;
}

function attachQuery(detachKeys: string | undefined, stdin: boolean): Record<string, string | boolean | undefined> {
  return { detachKeys, stderr: true, stdin: stdin || undefined, stdout: true, stream: true };
}

export const attach: CliCommand = {
  name: "attach",
  usage: "[OPTIONS] CONTAINER",
  summary: "Attach local standard input, output, and error streams to a running container",
  args: [1, 1],
  flags: [
    { name: "detach-keys", type: "string", value: "string", help: "Override the key sequence for detaching a container" },
    { name: "no-stdin", type: "bool", help: "Do not attach STDIN" },
    { name: "sig-proxy", type: "bool", default: true, help: "Proxy all received signals to the process" },
  ],
  async run(ctx, flags, args) {
    const name = args[0]!;
    const client = ctx.client();
    // The wait goes first (docker's ContainerWait with no condition): its answer is the exit status.
    const controller = new AbortController();
    const waitResponse = client.request("POST", `${containerPath(name)}/wait`, { signal: controller.signal });
    waitResponse.catch(() => {});
    let conn: HijackedConnection | undefined;
    let stopSignals = (): void => {};
    let stopResize = (): void => {};
    try {
      const c = await inspectAndCheckState(ctx, name);
      const noStdin = flags["no-stdin"] === true;
      const tty = c.Config?.Tty === true;
      if (tty && !noStdin && !isTerminal(process.stdin)) throw new Error("the input device is not a TTY");
      const detachKeys = (flags["detach-keys"] as string | undefined) || undefined;
      const withStdin = !noStdin && c.Config?.OpenStdin === true;
      if (flags["sig-proxy"] === true && !tty) stopSignals = forwardSignals(killer(ctx, name));
      conn = await client.hijack("POST", `${containerPath(name)}/attach`, { query: attachQuery(detachKeys, withStdin), headers: { "Content-Type": "text/plain" } });
      await inspectAndCheckState(ctx, name);
      if (tty && isTerminal(ctx.stdout)) {
        const resize = resizer(ctx, containerPath(name));
        const [rows, cols] = ttySize(ctx.stdout);
        // One size off first, so that a shell redraws its prompt on re-attach.
        await resize(rows + 1, cols + 1).catch(() => {});
        stopResize = monitorTtySize(ctx.stdout, resize);
      }
      const result = await streamIO({
        conn,
        tty,
        stdin: withStdin ? process.stdin : undefined,
        stdout: ctx.stdout,
        stderr: process.stderr,
        detachKeys,
        warn: ctx.err,
      });
      if (result.detached) {
        controller.abort();
        throw new Error("read escape sequence");
      }
      const res = await waitResponse;
      const text = (await readBody(res)).toString("utf8");
      const parsed = JSON.parse(text) as { StatusCode?: number; Error?: { Message?: string } | null };
      if (parsed.Error?.Message) throw new Error(parsed.Error.Message);
      return parsed.StatusCode ?? 0;
    } finally {
      stopResize();
      stopSignals();
      conn?.close();
      controller.abort();
    }
  },
};

export const start: CliCommand = {
  name: "start",
  usage: "[OPTIONS] CONTAINER [CONTAINER...]",
  summary: "Start one or more stopped containers",
  args: [1, -1],
  flags: [
    { name: "attach", short: "a", type: "bool", help: "Attach STDOUT/STDERR and forward signals" },
    { name: "checkpoint", type: "string", value: "string", help: "Restore from this checkpoint", hidden: true },
    { name: "checkpoint-dir", type: "string", value: "string", help: "Use a custom checkpoint storage directory", hidden: true },
    { name: "detach-keys", type: "string", value: "string", help: "Override the key sequence for detaching a container" },
    { name: "interactive", short: "i", type: "bool", help: "Attach container's STDIN" },
  ],
  async run(ctx, flags, args) {
    const client = ctx.client();
    if (flags.attach === true || flags.interactive === true) {
      if (args.length > 1) throw new Error("you cannot start and attach multiple containers at once");
      const c = await inspectContainer(ctx, args[0]!);
      const tty = c.Config?.Tty === true;
      const stopSignals = tty ? () => {} : forwardSignals(killer(ctx, c.Id));
      let stopResize = (): void => {};
      let conn: HijackedConnection | undefined;
      const streamAbort = new AbortController();
      let waitAbort = (): void => {};
      try {
        const detachKeys = (flags["detach-keys"] as string | undefined) || undefined;
        const withStdin = flags.interactive === true && c.Config?.OpenStdin === true;
        conn = await client.hijack("POST", `${containerPath(c.Id)}/attach`, { query: attachQuery(detachKeys, withStdin), headers: { "Content-Type": "text/plain" } });
        const streamed = streamIO({
          conn,
          tty,
          stdin: withStdin ? process.stdin : undefined,
          stdout: ctx.stdout,
          stderr: process.stderr,
          detachKeys,
          warn: ctx.err,
          signal: streamAbort.signal,
        });
        streamed.catch(() => {});
        const autoRemove = c.HostConfig?.AutoRemove === true;
        const waiting = await waitExitOrRemoved(ctx, c.Id, autoRemove ? "removed" : "next-exit");
        waitAbort = waiting.abort;
        try {
          const res = await client.request("POST", `${containerPath(c.Id)}/start`, { query: { checkpoint: (flags.checkpoint as string | undefined) || undefined, "checkpoint-dir": (flags["checkpoint-dir"] as string | undefined) || undefined } });
          res.resume();
        } catch (err) {
          streamAbort.abort();
          await streamed.catch(() => undefined);
          if (autoRemove) await waiting.status;
          throw err;
        }
        if (tty && isTerminal(ctx.stdout)) stopResize = monitorTtySize(ctx.stdout, resizer(ctx, containerPath(c.Id)));
        const result = await streamed;
        if (result.detached) return 0;
        return await waiting.status;
      } finally {
        stopResize();
        stopSignals();
        conn?.close();
        waitAbort();
      }
    }
    const failed: string[] = [];
    for (const name of args) {
      try {
        const res = await client.request("POST", `${containerPath(name)}/start`, {
          query: { checkpoint: (flags.checkpoint as string | undefined) || undefined, "checkpoint-dir": (flags["checkpoint-dir"] as string | undefined) || undefined },
        });
        res.resume();
        ctx.out(`${name}\n`);
      } catch (err) {
        ctx.err(`${errorText(err)}\n`);
        failed.push(name);
      }
    }
    if (failed.length > 0) throw new Error(`Error: failed to start containers: ${failed.join(", ")}`);
    return 0;
  },
};
