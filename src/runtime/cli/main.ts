/**
 * hako-runtime: an OCI runtime with runc's command line. Global flags come
 * before the verb; each verb lives in its own file.
 */
import { appendFileSync } from "node:fs";
import { formatFlags, parseFlags, type FlagSpec } from "../../cli/flags.ts";
import { HakoError, errorMessage } from "../../common/errors.ts";
import { VERSION } from "../../common/version.ts";
import { Runtime, exitCodeOf } from "../runtime.ts";
import type { CommandContext, RuntimeCommand } from "./command.ts";
import { create } from "./create.ts";
import { del } from "./delete.ts";
import { exec } from "./exec.ts";
import { featuresCommand } from "./features.ts";
import { kill } from "./kill.ts";
import { list } from "./list.ts";
import { ps } from "./ps.ts";
import { run } from "./run.ts";
import { spec } from "./spec.ts";
import { start } from "./start.ts";
import { state } from "./state.ts";


const COMMANDS: RuntimeCommand[] = [create, start, state, kill, del, run, exec, ps, list, spec, featuresCommand];

const GLOBAL_FLAGS: FlagSpec[] = [
  { name: "root", type: "string", value: "dir", help: "where container state is kept", default: "/run/hako-runtime" },
  { name: "log", type: "string", value: "file", help: "write errors to this file too" },
  { name: "log-format", type: "string", value: "text|json", help: "format of --log", default: "text" },
  { name: "debug", type: "bool", help: "accepted for runc compatibility" },
  { name: "systemd-cgroup", type: "bool", help: "not supported: hako manages cgroupfs directly" },
  { name: "rootless", type: "string", value: "auto|true|false", help: "accepted for runc compatibility", default: "auto" },
  { name: "criu", type: "string", help: "accepted for runc compatibility", hidden: true },
  { name: "version", short: "v", type: "bool", help: "print the version" },
  { name: "help", short: "h", type: "bool", help: "show help" },
];

function usage(): string {
  const verbs = COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`).join("\n");
  return `Usage: hako-runtime [global flags] <command> [flags] [args]\n\nhako's OCI runtime, with runc's command line.\n\nCommands:\n${verbs}\n\nGlobal flags:\n${formatFlags(GLOBAL_FLAGS)}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const out = (t: string): void => void process.stdout.write(t);
  const err = (t: string): void => void process.stderr.write(t);
  let logFile: string | undefined;
  let logJson = false;
  const report = (message: string): void => {
    err(`hako-runtime: ${message}\n`);
    if (logFile) {
      const line = logJson ? `${JSON.stringify({ level: "error", msg: message, time: new Date().toISOString() })}\n` : `${message}\n`;
      try {
        appendFileSync(logFile, line);
      } catch {
        // the log is best effort
      }
    }
  };
  try {
    const global = parseFlags(argv, GLOBAL_FLAGS, { stopAtFirstArg: true, singleDashLong: true });
    logFile = global.flags.log as string | undefined;
    logJson = global.flags["log-format"] === "json";
    if (global.flags.version) {
      out(`hako-runtime version ${VERSION}\nspec: 1.2.0\n`);
      return 0;
    }
    const [verb, ...rest] = global.args;
    if (!verb || global.flags.help || verb === "help") {
      out(usage());
      return verb || global.flags.help ? 0 : 1;
    }
    const command = COMMANDS.find((c) => c.name === verb);
    if (!command) {
      report(`unknown command "${verb}"\n${usage()}`);
      return 1;
    }
    if (rest.includes("--help") || rest.includes("-h")) {
      out(`Usage: hako-runtime ${command.usage}\n\n${command.summary}\n${command.flags.length ? `\nFlags:\n${formatFlags(command.flags)}\n` : ""}`);
      return 0;
    }
    const parsed = parseFlags(rest, command.flags, { stopAtFirstArg: command.stopAtFirstArg, singleDashLong: true });
    const [min, max] = command.args;
    if (parsed.args.length < min || (max >= 0 && parsed.args.length > max)) {
      report(`"${command.name}" requires ${min === max ? `exactly ${min}` : `at least ${min}`} argument(s)\nUsage: hako-runtime ${command.usage}`);
      return 1;
    }
    const ctx: CommandContext = { runtime: new Runtime({ root: global.flags.root as string }), out, err };
    return await command.run(ctx, parsed.flags, parsed.args);
  } catch (e) {
    report(HakoError.is(e) ? e.message : errorMessage(e));
    return exitCodeOf(e);
  }
}
