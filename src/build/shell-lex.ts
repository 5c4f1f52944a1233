/**
 * Variable expansion in Dockerfile words, as moby's shell.Lex does it
 * (buildkit frontend/dockerfile/shell/lex.go): $V and ${V}, ${V:-word},
 * ${V-word}, ${V:+word}, ${V+word}, ${V:?msg}, ${V?msg}; single quotes are
 * literal, double quotes expand, the escape character escapes. Expansion
 * also removes the quotes: that is what makes `ENV A="b c"` mean `b c`.
 */
import { InvalidArgumentError } from "../common/errors.ts";

/** Variables visible to the expansion: lookup returns undefined for unset. */
export type Env = (name: string) => string | undefined;

/** An Env over KEY=VALUE strings; later entries win. */
export function envFromList(list: readonly string[]): Env {
  const map = new Map<string, string>();
  for (const e of list) {
    const eq = e.indexOf("=");
    if (eq < 0) map.set(e, "");
    else map.set(e.slice(0, eq), e.slice(eq + 1));
  }
  return (name) => map.get(name);
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

class Lexer {
  private pos = 0;
  constructor(
    private readonly s: string,
    private readonly env: Env,
    private readonly escape: string,
  ) {}

  private peek(): string | undefined {
    return this.s[this.pos];
  }

  /** The word expanded; with `split`, unquoted whitespace separates words. */
  run(split: boolean): string[] {
    const words: string[] = [];
    let word = "";
    let inWord = false;
    while (this.pos < this.s.length) {
      const ch = this.s[this.pos]!;
      if (split && /\s/.test(ch)) {
        this.pos++;
        if (inWord) words.push(word);
        word = "";
        inWord = false;
        continue;
      }
      inWord = true;
      if (ch === "'") {
        this.pos++;
        word += this.singleQuoted();
      } else if (ch === '"') {
        this.pos++;
        word += this.doubleQuoted();
      } else if (ch === "$") {
        this.pos++;
        const v = this.variable();
        if (split) {
          // Unquoted expansions split on whitespace too (EXPOSE $PORTS).
          const parts = v.split(/\s+/);
          word += parts[0];
          for (const p of parts.slice(1)) {
            if (word !== "") words.push(word);
            word = p;
          }
        } else word += v;
      } else if (ch === this.escape) {
        this.pos++;
        // An escape at the very end is dropped.
        if (this.pos < this.s.length) word += this.s[this.pos++];
      } else {
        word += ch;
        this.pos++;
      }
    }
    if (inWord && (!split || word !== "")) words.push(word);
    return words;
  }

  private singleQuoted(): string {
    const end = this.s.indexOf("'", this.pos);
    if (end < 0) throw new InvalidArgumentError(`unexpected end of statement while looking for matching single-quote`);
    const out = this.s.slice(this.pos, end);
    this.pos = end + 1;
    return out;
  }

  private doubleQuoted(): string {
    let out = "";
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) throw new InvalidArgumentError(`unexpected end of statement while looking for matching double-quote`);
      this.pos++;
      if (ch === '"') return out;
      if (ch === "$") out += this.variable();
      else if (ch === this.escape) {
        const next = this.peek();
        // Only ", $ and the escape itself can be escaped in double quotes; other escapes stay.
        if (next === undefined) continue;
        if (next === '"' || next === "$" || next === this.escape) {
          out += next;
          this.pos++;
        } else out += ch;
      } else out += ch;
    }
  }

  /** After a "$": the variable's value (or "$" itself when no name follows). */
  private variable(): string {
    const ch = this.peek();
    if (ch === "{") {
      this.pos++;
      return this.braced();
    }
    if (ch !== undefined && NAME_START.test(ch)) {
      let name = "";
      while (this.peek() !== undefined && NAME_CHAR.test(this.peek()!)) name += this.s[this.pos++];
      return this.env(name) ?? "";
    }
    return "$";
  }

  private braced(): string {
    let name = "";
    while (this.peek() !== undefined && NAME_CHAR.test(this.peek()!)) name += this.s[this.pos++];
    if (name === "") throw new InvalidArgumentError(`missing variable name in \${...} of "${this.s}"`);
    const ch = this.peek();
    if (ch === "}") {
      this.pos++;
      return this.env(name) ?? "";
    }
    let op = "";
    if (ch === ":") {
      this.pos++;
      op = ":";
    }
    const kind = this.peek();
    if (kind === undefined || !"-+?".includes(kind)) throw new InvalidArgumentError(`unsupported modifier (${op}${kind ?? ""}) in substitution of "${this.s}"`);
    this.pos++;
    op += kind;
    const word = this.wordUntilBrace();
    const value = this.env(name);
    const set = op.startsWith(":") ? value !== undefined && value !== "" : value !== undefined;
    switch (op.slice(-1)) {
      case "-":
        return set ? value! : word;
      case "+":
        return set ? word : "";
      default:
        if (!set) throw new InvalidArgumentError(`${name}: ${word || "is not allowed to be unset"}`);
        return value!;
    }
  }

  /** The word of ${V:-word} up to its closing brace, itself expanded. */
  private wordUntilBrace(): string {
    let out = "";
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) throw new InvalidArgumentError(`syntax error: missing '}' in "${this.s}"`);
      this.pos++;
      if (ch === "}") return out;
      if (ch === "$") out += this.variable();
      else if (ch === "'") out += this.singleQuoted();
      else if (ch === '"') out += this.doubleQuoted();
      else if (ch === this.escape && this.peek() !== undefined) out += this.s[this.pos++];
      else out += ch;
    }
  }
}

/** One word expanded and unquoted (ENV values, COPY paths, WORKDIR, ...). */
export function processWord(word: string, env: Env, escape = "\\"): string {
  return new Lexer(word, env, escape).run(false)[0] ?? "";
}

/** A string expanded and split into words (EXPOSE). */
export function processWords(s: string, env: Env, escape = "\\"): string[] {
  return new Lexer(s, env, escape).run(true);
}
