/** The shape of one hako command (docker's command line, one verb per file). */
import type { FlagSpec, FlagValues } from "../flags.ts";
import type { ApiClient } from "../client.ts";

export interface GlobalOptions {
  /** -H/--host, when given. */
  host?: string;
  debug: boolean;
  logLevel: string;
  /** --config: where client configuration lives (accepted; nothing is read from it yet). */
  config?: string;
  context?: string;
}

export interface CliContext {
  /** The API client, created on first use (the connection, and any autostart, happen on its first request). */
  client(): ApiClient;
  global: GlobalOptions;
  out(text: string): void;
  err(text: string): void;
  stdout: NodeJS.WriteStream;
  /** How the command was invoked: "hako image ls", "hako images". */
  path: string;
}

export interface CliCommand {
  name: string;
  /** Other names in the same place ("list" for ls, "remove" for rm). */
  aliases?: string[];
  /** What follows the command's name in its usage line: "[OPTIONS] IMAGE [IMAGE...]". */
  usage: string;
  summary: string;
  flags?: FlagSpec[];
  /** Positional arguments: [min, max]; max -1 for any number. */
  args?: [number, number];
  /** Stop flag parsing at the first argument (run/exec take a command line). */
  stopAtFirstArg?: boolean;
  /** Exit status for errors from the daemon: 1, or 125 for run/create as docker does. */
  daemonErrorExit?: number;
  /** A management command (image, container, ...) has subcommands instead of run(). */
  subcommands?: CliCommand[];
  /** Absent for commands that are not implemented yet. */
  run?(ctx: CliContext, flags: FlagValues, args: string[]): Promise<number> | number;
}

export type CommandGroup = "common" | "management" | "commands";

/** A name at the top of the command line ("ps" may be the command "container ls"). */
export interface TopLevelEntry {
  name: string;
  group: CommandGroup;
  command: CliCommand;
}

/** docker's --format flag. */
export const FORMAT_FLAG: FlagSpec = {
  name: "format",
  short: "f",
  type: "string",
  value: "string",
  help: "Format output using a custom template: 'json' (JSON), or a Go template",
};
