/**
 * The hako command line: global flags come before the command (as with
 * docker); management commands take a subcommand; errors follow docker's
 * conventions: flag errors exit 125, daemon errors print "Error response
 * from daemon: ..." and exit 1 (125 for run/create).
 */
import { FlagError, formatFlags, parseFlags, type FlagSpec, type FlagValues } from "../flags.ts";
import { HakoError, errorMessage } from "../../common/errors.ts";
import { buildInfo } from "../../api/version.ts";
import { ApiClient, ApiError, DaemonUnreachableError } from "../client.ts";
import type { CliCommand, CliContext, CommandGroup, GlobalOptions } from "./command.ts";
import { TOP_LEVEL, pathsOf } from "./table.ts";
import { TemplateError } from "../template/index.ts";

const GLOBAL_FLAGS: FlagSpec[] = [
  { name: "config", type: "string", value: "string", help: 'Location of client config files (default "~/.hako")' },
  { name: "context", short: "c", type: "string", value: "string", help: "Name of the context to use to connect to the daemon (accepted; only the default context exists)" },
  { name: "debug", short: "D", type: "bool", help: "Enable debug mode" },
  { name: "host", short: "H", type: "list", value: "list", help: "Daemon socket to connect to" },
  { name: "log-level", short: "l", type: "string", value: "string", help: 'Set the logging level ("debug", "info", "warn", "error", "fatal")', default: "info" },
  { name: "version", short: "v", type: "bool", help: "Print version information and quit" },
  { name: "help", short: "h", type: "bool", help: "Print usage", hidden: true },
];

const HELP_FLAG: FlagSpec = { name: "help", type: "bool", help: "Print usage", hidden: true };

const GROUP_TITLES: [CommandGroup, string][] = [
  ["common", "Common Commands"],
  ["management", "Management Commands"],
  ["commands", "Commands"],
];

/** Names padded as cobra's NamePadding does: to the longest of the parent's command names, at least 11. */
function commandList(entries: { name: string; summary: string }[], names: readonly string[] = entries.map((e) => e.name)): string {
  const width = Math.max(11, ...names.map((n) => n.length));
  return entries.map((e) => `  ${e.name.padEnd(width)} ${e.summary}`).join("\n");
}

function rootHelp(): string {
  let text = "\nUsage:  hako [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n";
  for (const [group, title] of GROUP_TITLES) {
    const entries = TOP_LEVEL.filter((e) => e.group === group).map((e) => ({ name: e.name, summary: e.command.summary }));
    text += `\n${title}:\n${commandList(entries, TOP_LEVEL.map((e) => e.name))}\n`;
  }
  text += `\nGlobal Options:\n${formatFlags(GLOBAL_FLAGS)}\n\nRun 'hako COMMAND --help' for more information on a command.\n`;
  return text;
}

function groupHelp(path: string, command: CliCommand): string {
  const subs = (command.subcommands ?? []).map((c) => ({ name: c.name, summary: c.summary }));
  return `\nUsage:  ${path} COMMAND\n\n${command.summary}\n\nCommands:\n${commandList(subs)}\n\nRun '${path} COMMAND --help' for more information on a command.\n`;
}

function commandHelp(path: string, command: CliCommand): string {
  let text = `\nUsage:  ${path} ${command.usage}\n\n${command.summary}\n`;
  const paths = pathsOf(command);
  if (paths.length > 1) text += `\nAliases:\n  ${paths.join(", ")}\n`;
  const flags = command.flags ?? [];
  if (flags.some((f) => !f.hidden)) text += `\nOptions:\n${formatFlags(flags)}\n`;
  return text;
}

/** docker's "<message>\n\nUsage: ...\n\nRun '... --help' for more information". */
function usageError(message: string, usage: string, helpPath: string, verb = "Run"): string {
  return `${message}\n\nUsage:  ${usage}\n\n${verb} '${helpPath} --help' for more information\n`;
}

function argsError(path: string, command: CliCommand, count: number): string | undefined {
  const [min, max] = command.args ?? [0, -1];
  const plural = (n: number): string => `${n} argument${n === 1 ? "" : "s"}`;
  let message: string | undefined;
  let verb = "Run";
  if (max === 0 && count > 0) message = `'${path}' accepts no arguments`;
  else if (min === max && count !== min) message = `'${path}' requires ${plural(min)}`;
  else if (count < min) {
    message = `'${path}' requires at least ${plural(min)}`;
    verb = "See";
  } else if (max >= 0 && count > max) message = `'${path}' requires at most ${plural(max)}`;
  return message && usageError(`hako: ${message}`, `${path} ${command.usage}`, path, verb);
}

export interface MainIO {
  out(text: string): void;
  err(text: string): void;
  stdout: NodeJS.WriteStream;
}

/** Runs one hako command line; resolves with its exit status. */
export async function runCli(argv: string[], io: MainIO = defaultIO()): Promise<number> {
  let global;
  try {
    global = parseFlags(argv, GLOBAL_FLAGS, { stopAtFirstArg: true });
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    io.err(usageError(err.message, "hako [OPTIONS] COMMAND [ARG...]", "hako"));
    return 125;
  }
  if (global.flags.version) {
    io.out(`hako version ${buildInfo().version}, build ${buildInfo().gitCommit}\n`);
    return 0;
  }
  const hosts = global.flags.host as string[];
  if (hosts.length > 1) {
    io.err("hako: specify only one -H\n");
    return 125;
  }
  const options: GlobalOptions = {
    host: hosts[0],
    debug: global.flags.debug as boolean,
    logLevel: global.flags["log-level"] as string,
    config: global.flags.config as string | undefined,
    context: global.flags.context as string | undefined,
  };

  let args = global.args;
  let wantHelp = global.flags.help as boolean;
  if (args[0] === "help") {
    wantHelp = true;
    args = args.slice(1);
  }
  const [name, ...rest] = args;
  if (name === undefined) {
    io.out(rootHelp());
    return 0;
  }
  const entry = TOP_LEVEL.find((e) => e.name === name);
  if (!entry) {
    io.err(`hako: unknown command: hako ${name}\n\nRun 'hako --help' for more information\n`);
    return 1;
  }
  let command = entry.command;
  let path = `hako ${name}`;
  let cmdArgs = rest;
  if (command.subcommands) {
    const [subName, ...subRest] = cmdArgs;
    if (subName === undefined || subName === "--help" || subName === "-h" || (wantHelp && subName === undefined)) {
      io.out(groupHelp(path, command));
      return 0;
    }
    const sub = command.subcommands.find((c) => c.name === subName || c.aliases?.includes(subName));
    if (!sub) {
      io.err(`hako: unknown command: ${path} ${subName}\n\nUsage:  ${path}\n\nRun '${path} --help' for more information\n`);
      return 1;
    }
    command = sub;
    path = `${path} ${subName}`;
    cmdArgs = subRest;
  }
  if (wantHelp) {
    io.out(commandHelp(path, command));
    return 0;
  }

  if (!command.run) {
    // Its flags are not declared yet: only --help is understood.
    if (cmdArgs.includes("--help") || cmdArgs.includes("-h")) {
      io.out(commandHelp(path, command));
      return 0;
    }
    io.err(`hako: "${path.slice("hako ".length)}" is not implemented yet\n`);
    return 1;
  }

  let flags: FlagValues;
  let positional: string[];
  try {
    const parsed = parseFlags(cmdArgs, [...(command.flags ?? []), { ...HELP_FLAG, short: (command.flags ?? []).some((f) => f.short === "h") ? undefined : "h" }], {
      stopAtFirstArg: command.stopAtFirstArg,
    });
    flags = parsed.flags;
    positional = parsed.args;
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    io.err(usageError(err.message, `${path} ${command.usage}`, path));
    return 125;
  }
  if (flags.help) {
    io.out(commandHelp(path, command));
    return 0;
  }
  const argsProblem = argsError(path, command, positional.length);
  if (argsProblem) {
    io.err(argsProblem);
    return 1;
  }

  let client: ApiClient | undefined;
  const ctx: CliContext = {
    client: () => (client ??= new ApiClient({ host: options.host, notice: io.err })),
    global: options,
    out: io.out,
    err: io.err,
    stdout: io.stdout,
    path,
  };
  try {
    return await command.run(ctx, flags, positional);
  } catch (err) {
    return reportError(err, command, io, options.debug);
  }
}

function reportError(err: unknown, command: CliCommand, io: MainIO, debug: boolean): number {
  if (err instanceof ApiError) {
    io.err(`Error response from daemon: ${err.message}\n`);
    return command.daemonErrorExit ?? 1;
  }
  if (err instanceof DaemonUnreachableError) {
    io.err(`${err.message}\n`);
    return 1;
  }
  if (err instanceof FlagError) {
    io.err(`${err.message}\n`);
    return 125;
  }
  if (err instanceof TemplateError) {
    io.err(`${err.message}\n`);
    return err.exitStatus;
  }
  io.err(`${HakoError.is(err) ? err.message : errorMessage(err)}\n`);
  if (debug && err instanceof Error && err.stack) io.err(`${err.stack}\n`);
  return 1;
}

function defaultIO(): MainIO {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    stdout: process.stdout,
  };
}
