/** The shape of one hako-runtime verb (runc's command line, verb per file). */
import type { FlagSpec, FlagValues } from "../../cli/flags.ts";
import type { Runtime } from "../runtime.ts";

export interface CommandContext {
  runtime: Runtime;
  out: (text: string) => void;
  err: (text: string) => void;
}

export interface RuntimeCommand {
  name: string;
  usage: string;
  summary: string;
  flags: FlagSpec[];
  /** Positional arguments: [min, max]; max -1 for any number. */
  args: [number, number];
  /** Stop flag parsing at the first argument (run/exec take a command). */
  stopAtFirstArg?: boolean;
  run(ctx: CommandContext, flags: FlagValues, args: string[]): Promise<number> | number;
}
