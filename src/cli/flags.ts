/**
 * A table-driven flag parser with the syntax of Go's pflag (docker) and
 * urfave/cli (runc): --name=value, --name value, -n value, -nvalue, grouped
 * booleans (-it), --flag=false, repeated flags, "--" to end flags, and,
 * for commands like run and exec, parsing that stops at the first argument.
 */
import { InvalidArgumentError } from "../common/errors.ts";

export type FlagType = "bool" | "string" | "int" | "list";

export interface FlagSpec {
  name: string;
  short?: string;
  type: FlagType;
  help: string;
  /** Shown in help as the value's name (`--format string`). */
  value?: string;
  default?: string | number | boolean | string[];
  hidden?: boolean;
}

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

export interface ParseOptions {
  /** Stop at the first positional argument (cobra's SetInterspersed(false)). */
  stopAtFirstArg?: boolean;
  /** Accept -name as --name (urfave/cli, runc). */
  singleDashLong?: boolean;
}

export interface Parsed {
  flags: FlagValues;
  args: string[];
}

export class FlagError extends InvalidArgumentError {}

function defaults(specs: readonly FlagSpec[]): FlagValues {
  const values: FlagValues = {};
  for (const s of specs) {
    if (s.default !== undefined) values[s.name] = Array.isArray(s.default) ? [...s.default] : s.default;
    else if (s.type === "bool") values[s.name] = false;
    else if (s.type === "list") values[s.name] = [];
  }
  return values;
}

function assign(values: FlagValues, spec: FlagSpec, raw: string, shown: string): void {
  switch (spec.type) {
    case "bool": {
      const v = raw.toLowerCase();
      if (["true", "1", "t", "yes"].includes(v)) values[spec.name] = true;
      else if (["false", "0", "f", "no"].includes(v)) values[spec.name] = false;
      else throw new FlagError(`invalid argument "${raw}" for "${shown}" flag: strconv.ParseBool: parsing "${raw}": invalid syntax`);
      return;
    }
    case "int": {
      if (!/^-?\d+$/.test(raw)) {
        throw new FlagError(`invalid argument "${raw}" for "${shown}" flag: strconv.ParseInt: parsing "${raw}": invalid syntax`);
      }
      values[spec.name] = Number(raw);
      return;
    }
    case "list":
      (values[spec.name] as string[]).push(raw);
      return;
    default:
      values[spec.name] = raw;
  }
}

export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[], options: ParseOptions = {}): Parsed {
  const values = defaults(specs);
  const args: string[] = [];
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    const longForm = a.startsWith("--") || (options.singleDashLong && a.startsWith("-") && a.length > 2 && byName.has(a.slice(1).split("=")[0]!));
    if (longForm && a.length > 2) {
      const body = a.startsWith("--") ? a.slice(2) : a.slice(1);
      const eq = body.indexOf("=");
      const name = eq < 0 ? body : body.slice(0, eq);
      const spec = byName.get(name);
      if (!spec) throw new FlagError(`unknown flag: --${name}`);
      if (eq >= 0) assign(values, spec, body.slice(eq + 1), `--${name}`);
      else if (spec.type === "bool") values[spec.name] = true;
      else {
        if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: --${name}`);
        assign(values, spec, argv[++i]!, `--${name}`);
      }
      continue;
    }
    if (a.startsWith("-") && a.length > 1) {
      // Grouped shorts: -it, -p8080:80, -e=X
      for (let j = 1; j < a.length; j++) {
        const ch = a[j]!;
        const spec = byShort.get(ch);
        if (!spec) throw new FlagError(`unknown shorthand flag: '${ch}' in ${a}`);
        if (spec.type === "bool") {
          if (a[j + 1] === "=") {
            assign(values, spec, a.slice(j + 2), `-${ch}`);
            break;
          }
          values[spec.name] = true;
          continue;
        }
        let rest = a.slice(j + 1);
        if (rest.startsWith("=")) rest = rest.slice(1);
        if (rest === "" && a[j + 1] !== "=") {
          if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: '${ch}' in -${ch}`);
          rest = argv[++i]!;
        }
        assign(values, spec, rest, `-${ch}, --${spec.name}`);
        break;
      }
      continue;
    }
    if (options.stopAtFirstArg) {
      args.push(...argv.slice(i));
      break;
    }
    args.push(a);
  }
  return { flags: values, args };
}

/** The flag table as help text, aligned like cobra prints it. */
export function formatFlags(specs: readonly FlagSpec[]): string {
  const rows = specs
    .filter((s) => !s.hidden)
    .map((s) => {
      const short = s.short ? `-${s.short}, ` : "    ";
      const value = s.type === "bool" ? "" : ` ${s.value ?? s.type}`;
      return [`  ${short}--${s.name}${value}`, s.help] as const;
    });
  const width = Math.max(0, ...rows.map((r) => r[0].length));
  return rows.map(([l, h]) => `${l.padEnd(width)}   ${h}`).join("\n");
}
