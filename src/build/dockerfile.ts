/**
 * The Dockerfile parser (moby/buildkit frontend/dockerfile/parser): parser
 * directives (`# escape=`, `# syntax=`), comments, line continuations with
 * the escape character, instruction flags (`--from=x`), and each
 * instruction's arguments in its own form: JSON or shell form for
 * RUN/CMD/ENTRYPOINT/SHELL, name=value pairs for ENV/LABEL, words for the
 * rest. Words keep their quotes: variable expansion (shell-lex.ts) removes
 * them, as in Docker, where expansion is what unquotes.
 */
import { InvalidArgumentError } from "../common/errors.ts";

export interface Instruction {
  /** Upper case: "RUN", "COPY", ... */
  name: string;
  /** `--name=value` flags given before the arguments. */
  flags: Record<string, string>;
  /** The instruction's words (quotes kept), or the JSON array's strings. */
  args: string[];
  /** True when the arguments were a JSON array (exec form). */
  json: boolean;
  /** The arguments as written, continuation lines joined (the shell form's command). */
  rest: string;
  /** The instruction line as written, continuations joined: Docker's "Step n/m : ..." text. */
  original: string;
  /** 1-based line of the instruction in the Dockerfile. */
  line: number;
  /** Arguments taken literally (the LABELs of the `labels` build option). */
  noExpand?: boolean;
  /** ONBUILD's instruction. */
  next?: Instruction;
}

export interface Dockerfile {
  escape: string;
  /** `# syntax=` (recorded; the classic builder ignores it). */
  syntax?: string;
  instructions: Instruction[];
}

const KNOWN = new Set([
  "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL", "MAINTAINER",
  "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
]);

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;

/** Parses a Dockerfile's text; bad input throws InvalidArgumentError naming the line. */
export function parseDockerfile(text: string): Dockerfile {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  let escape = "\\";
  let syntax: string | undefined;
  let i = 0;
  // Directives only at the very top, before any comment, blank line or instruction.
  const seen = new Set<string>();
  for (; i < lines.length; i++) {
    const m = DIRECTIVE.exec(lines[i]!);
    if (!m) break;
    const key = m[1]!.toLowerCase();
    if (key !== "escape" && key !== "syntax" && key !== "check") break;
    if (seen.has(key)) throw new InvalidArgumentError(`only one ${key} parser directive can be used`);
    seen.add(key);
    if (key === "escape") {
      if (m[2] !== "\\" && m[2] !== "`") throw new InvalidArgumentError(`invalid escape token '${m[2]}' does not match ` + "` or \\");
      escape = m[2]!;
    } else if (key === "syntax") syntax = m[2];
  }

  const instructions: Instruction[] = [];
  for (; i < lines.length; i++) {
    const first = lines[i]!.trimStart();
    if (first === "" || first.startsWith("#")) continue;
    const start = i + 1;
    let joined = "";
    let cur = lines[i]!;
    // A line ending with the escape character continues on the next one; comment lines inside are dropped.
    for (;;) {
      const trimmed = cur.replace(/\s+$/, "");
      if (trimmed.endsWith(escape)) {
        joined += trimmed.slice(0, -1);
        i++;
        // Comment lines and empty lines inside a continuation are skipped (buildkit warns about the empty ones).
        while (i < lines.length && /^\s*(#.*)?$/.test(lines[i]!)) i++;
        if (i >= lines.length) break;
        cur = lines[i]!;
        continue;
      }
      joined += cur;
      break;
    }
    instructions.push(parseInstruction(joined.trim(), start, escape));
  }
  return { escape, ...(syntax ? { syntax } : {}), instructions };
}

/** One instruction line (continuations already joined). */
export function parseInstruction(line: string, lineNo: number, escape = "\\"): Instruction {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(line);
  if (!m) throw new InvalidArgumentError(`dockerfile parse error on line ${lineNo}: empty instruction`);
  const name = m[1]!.toUpperCase();
  if (!KNOWN.has(name)) throw new InvalidArgumentError(`dockerfile parse error on line ${lineNo}: unknown instruction: ${m[1]}`);
  let rest = m[2]!;
  const flags: Record<string, string> = {};
  if (name !== "ONBUILD" && name !== "MAINTAINER") {
    // Flags: leading words of the form --name[=value].
    for (;;) {
      const f = /^--([a-zA-Z][a-zA-Z0-9-]*)(?:=(\S*))?(?:\s+|$)/.exec(rest);
      if (!f) break;
      flags[f[1]!.toLowerCase()] = f[2] ?? "true";
      rest = rest.slice(f[0].length);
    }
  }
  const base = { name, flags, rest, original: line, line: lineNo };
  const fail = (why: string): never => {
    throw new InvalidArgumentError(`dockerfile parse error on line ${lineNo}: ${name} ${why}`);
  };
  switch (name) {
    case "RUN":
    case "CMD":
    case "ENTRYPOINT": {
      const j = jsonArray(rest);
      if (j) return { ...base, args: j, json: true };
      if (name === "RUN" && rest.trim() === "") fail("requires at least one argument");
      return { ...base, args: rest.trim() === "" ? [] : [rest.trim()], json: false };
    }
    case "SHELL": {
      const j = jsonArray(rest);
      if (!j) fail("requires the arguments to be in JSON form");
      if (j!.length === 0) fail("requires at least one argument");
      return { ...base, args: j!, json: true };
    }
    case "ADD":
    case "COPY":
    case "VOLUME": {
      const j = jsonArray(rest);
      const args = j ?? splitWords(rest, escape);
      if (name === "VOLUME" ? args.length < 1 : args.length < 2) fail(name === "VOLUME" ? "requires at least one argument" : "requires at least two arguments");
      return { ...base, args, json: Boolean(j) };
    }
    case "ENV":
    case "LABEL":
      return { ...base, args: nameValuePairs(rest, name, lineNo, escape), json: false };
    case "ARG": {
      const args = splitWords(rest, escape);
      if (args.length === 0) fail("requires at least one argument");
      return { ...base, args, json: false };
    }
    case "HEALTHCHECK": {
      const t = rest.trim();
      const kind = /^(\S+)\s*([\s\S]*)$/.exec(t);
      if (!kind) fail("requires an argument");
      const typ = kind![1]!.toUpperCase();
      if (typ === "NONE") {
        if (kind![2]!.trim() !== "") fail("NONE takes no arguments");
        return { ...base, args: ["NONE"], json: false };
      }
      if (typ !== "CMD") fail(`unknown type "${kind![1]}" (must be CMD or NONE)`);
      const j = jsonArray(kind![2]!);
      if (j) return { ...base, args: ["CMD", ...j], json: true };
      if (kind![2]!.trim() === "") fail("CMD requires a command");
      return { ...base, args: ["CMD", kind![2]!.trim()], json: false };
    }
    case "ONBUILD": {
      const t = rest.trim();
      if (t === "") fail("requires at least one argument");
      const next = parseInstruction(t, lineNo, escape);
      if (next.name === "ONBUILD") throw new InvalidArgumentError(`dockerfile parse error on line ${lineNo}: Chaining ONBUILD via \`ONBUILD ONBUILD\` isn't allowed`);
      if (next.name === "FROM" || next.name === "MAINTAINER") {
        throw new InvalidArgumentError(`dockerfile parse error on line ${lineNo}: ${next.name} isn't allowed as an ONBUILD trigger`);
      }
      return { ...base, args: [t], json: false, next };
    }
    case "MAINTAINER":
      if (rest.trim() === "") fail("requires exactly one argument");
      return { ...base, args: [rest.trim()], json: false };
    default: {
      const args = splitWords(rest, escape);
      if (args.length === 0) fail("requires at least one argument");
      return { ...base, args, json: false };
    }
  }
}

/** The strings of a JSON array of strings, else undefined (the shell form). */
function jsonArray(rest: string): string[] | undefined {
  const t = rest.trim();
  if (!t.startsWith("[")) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    if (Array.isArray(v) && v.every((s) => typeof s === "string")) return v as string[];
  } catch {
    // not JSON: Docker takes the shell form then
  }
  return undefined;
}

/**
 * Whitespace-separated words, quotes and escapes kept in them (moby's
 * parseWords): `a "b c" d` → [a, "b c", d].
 */
export function splitWords(rest: string, escape = "\\"): string[] {
  const out: string[] = [];
  let word = "";
  let quote = "";
  let inWord = false;
  for (let i = 0; i < rest.length; i++) {
    const ch = rest[i]!;
    if (quote === "" && /\s/.test(ch)) {
      if (inWord) {
        out.push(word);
        word = "";
        inWord = false;
      }
      continue;
    }
    inWord = true;
    if (ch === escape && quote !== "'" && i + 1 < rest.length) {
      word += ch + rest[++i];
      continue;
    }
    if (quote === "" && (ch === '"' || ch === "'")) quote = ch;
    else if (ch === quote) quote = "";
    word += ch;
  }
  if (inWord) out.push(word);
  return out;
}

/**
 * ENV/LABEL arguments as "key=value" words (value quoted as written). The
 * legacy `ENV key value with spaces` form becomes one pair.
 */
function nameValuePairs(rest: string, name: string, lineNo: number, escape: string): string[] {
  const words = splitWords(rest, escape);
  if (words.length === 0) throw new InvalidArgumentError(`dockerfile parse error on line ${lineNo}: ${name} requires at least one argument`);
  if (!words[0]!.includes("=")) {
    // ENV key value: the value is the rest of the line.
    const m = /^\s*(\S+)\s+([\s\S]*)$/.exec(rest);
    if (!m || m[2]!.trim() === "") throw new InvalidArgumentError(`dockerfile parse error on line ${lineNo}: ${name} must have two arguments`);
    return [`${m[1]}=${m[2]!.trim()}`];
  }
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq <= 0) throw new InvalidArgumentError(`dockerfile parse error on line ${lineNo}: ${name} names can not be blank`);
  }
  return words;
}
