/**
 * hako exec (docker/cli cli/command/container/exec.go): GET
 * /containers/{id}/json, POST /containers/{id}/exec, then POST
 * /exec/{id}/start — hijacked unless -d — with resizes for a TTY, and the
 * exit status from GET /exec/{id}/json.
 */
import { DaemonUnreachableError } from "../../client.ts";
import { isTerminal, monitorTtySize, streamIO, ttySize } from "../../terminal.ts";
import type { CliCommand } from "../command.ts";
import { containerPath } from "./common.ts";
import { flagValue, readKvEnvStrings, validateEnv } from "./parse.ts";
import { resizer } from "./run.ts";

export const exec: CliCommand = {
  name: "exec",
  usage: "[OPTIONS] CONTAINER COMMAND [ARG...]",
  summary: "Execute a command in a running container",
  args: [2, -1],
  stopAtFirstArg: true,
  flags: [
    { name: "detach", short: "d", type: "bool", help: "Detached mode: run command in the background" },
    { name: "detach-keys", type: "string", value: "string", help: "Override the key sequence for detaching a container" },
    { name: "env", short: "e", type: "list", value: "list", help: "Set environment variables" },
    { name: "env-file", type: "list", value: "list", help: "Read in a file of environment variables" },
    { name: "interactive", short: "i", type: "bool", help: "Keep STDIN open even if not attached" },
    { name: "privileged", type: "bool", help: "Give extended privileges to the command" },
    { name: "tty", short: "t", type: "bool", help: "Allocate a pseudo-TTY" },
    { name: "user", short: "u", type: "string", value: "string", help: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
    { name: "workdir", short: "w", type: "string", value: "string", help: "Working directory inside the container" },
  ],
  async run(ctx, flags, args) {
    const container = args[0]!;
    const cmd = args.slice(1);
    const detach = flags.detach === true;
    const tty = flags.tty === true;
    const env = readKvEnvStrings(
      flags["env-file"] as string[],
      (flags.env as string[]).map((v) => flagValue("-e, --env", v, (x) => validateEnv(x))),
    );
    const attachStdin = !detach && flags.interactive === true;
    const attachOut = !detach;
    const detachKeys = (flags["detach-keys"] as string | undefined) ?? "";
    const client = ctx.client();

    await client.json("GET", `${containerPath(container)}/json`);
    if (!detach && tty && attachStdin && !isTerminal(process.stdin)) throw new Error("the input device is not a TTY");
    const consoleSize = tty ? ttySize(ctx.stdout) : undefined;
    const body: Record<string, unknown> = { User: (flags.user as string | undefined) ?? "", Privileged: flags.privileged === true, Tty: tty };
    if (consoleSize) body.ConsoleSize = consoleSize;
    Object.assign(body, {
      AttachStdin: attachStdin,
      AttachStderr: attachOut,
      AttachStdout: attachOut,
      Detach: detach,
      DetachKeys: detachKeys,
      Env: env.length ? env : null,
      WorkingDir: (flags.workdir as string | undefined) ?? "",
      Cmd: cmd,
    });
    const created = await client.json<{ Id?: string }>("POST", `${containerPath(container)}/exec`, { body });
    const execId = created?.Id ?? "";
    if (execId === "") throw new Error("exec ID empty");

    const startBody: Record<string, unknown> = { Detach: detach, Tty: tty };
    if (consoleSize) startBody.ConsoleSize = consoleSize;
    if (detach) {
      const res = await client.request("POST", `/exec/${encodeURIComponent(execId)}/start`, { body: startBody });
      res.resume();
      return 0;
    }

    const conn = await client.hijack("POST", `/exec/${encodeURIComponent(execId)}/start`, { body: startBody });
    let stopResize = (): void => {};
    try {
      const streamed = streamIO({
        conn,
        tty,
        stdin: attachStdin ? process.stdin : undefined,
        stdout: ctx.stdout,
        stderr: tty ? ctx.stdout : process.stderr,
        detachKeys: detachKeys || undefined,
        warn: ctx.err,
      });
      if (tty && isTerminal(process.stdin)) stopResize = monitorTtySize(ctx.stdout, resizer(ctx, `/exec/${encodeURIComponent(execId)}`));
      // docker returns the escape as an error here ("read escape sequence", status 1).
      if ((await streamed).detached) throw new Error("read escape sequence");
    } finally {
      stopResize();
      conn.close();
    }
    try {
      const inspect = await client.json<{ ExitCode?: number | null }>("GET", `/exec/${encodeURIComponent(execId)}/json`);
      return inspect?.ExitCode ?? 0;
    } catch (err) {
      if (err instanceof DaemonUnreachableError) return 255;
      throw err;
    }
  },
};
