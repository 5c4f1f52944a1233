/**
 * .dockerignore: moby/patternmatcher's rules. Each line is a Go
 * filepath.Match pattern (`*`, `?`, `[a-z]`, `\` escapes) plus `**` for any
 * number of directories; `!` makes an exception; the last pattern that
 * matches decides. A pattern that matches a directory excludes everything
 * under it. Paths are relative to the context root, cleaned, without a
 * leading slash.
 */
import path from "node:path";
import { InvalidArgumentError } from "../common/errors.ts";

interface Pattern {
  text: string;
  exclusion: boolean;
  regex: RegExp;
}

/** The patterns of a .dockerignore file (comments and blank lines dropped). */
export function readIgnoreFile(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    let neg = "";
    if (line.startsWith("!")) {
      neg = "!";
      line = line.slice(1).trim();
      if (line === "") continue;
    }
    line = path.posix.normalize(line);
    if (line.length > 1 && line.startsWith("/")) line = line.slice(1);
    if (line.length > 1 && line.endsWith("/")) line = line.slice(0, -1);
    out.push(neg + line);
  }
  return out;
}

/** A filepath.Match pattern with `**` as a regular expression over a whole slash-separated path. */
function compile(pattern: string): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        if (pattern[i + 1] === "/") {
          // "**/" is zero or more directories.
          i++;
          re += "(?:.*/)?";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (ch === "?") re += "[^/]";
    else if (ch === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) throw new InvalidArgumentError(`syntax error in .dockerignore pattern "${pattern}"`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith("^") || cls.startsWith("!")) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, "\\\\")}]`;
      i = end;
    } else if (ch === "\\" && i + 1 < pattern.length) {
      re += escapeRegex(pattern[++i]!);
    } else re += escapeRegex(ch);
  }
  return new RegExp(`${re}$`, "s");
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

export class IgnoreMatcher {
  private readonly patterns: Pattern[];

  constructor(lines: readonly string[]) {
    this.patterns = lines.map((l) => {
      const exclusion = l.startsWith("!");
      const text = exclusion ? l.slice(1) : l;
      return { text, exclusion, regex: compile(text) };
    });
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** True if any exception pattern exists (a directory that is excluded may still have files kept). */
  get hasExceptions(): boolean {
    return this.patterns.some((p) => p.exclusion);
  }

  /** Whether `rel` (relative to the context) is left out of the build context. */
  ignores(rel: string): boolean {
    const file = path.posix.normalize(rel).replace(/^\.?\/+/, "").replace(/\/+$/, "");
    if (file === "" || file === ".") return false;
    const parents: string[] = [];
    const parts = file.split("/");
    for (let i = 1; i < parts.length; i++) parents.push(parts.slice(0, i).join("/"));
    let matched = false;
    for (const p of this.patterns) {
      // Only a pattern that could flip the answer needs checking.
      if (p.exclusion !== matched) continue;
      let hit = p.regex.test(file);
      if (!hit) hit = parents.some((d) => p.regex.test(d));
      if (hit) matched = !p.exclusion;
    }
    return matched;
  }
}
