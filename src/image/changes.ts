/**
 * Dockerfile instructions applied to an image config (`import -c`,
 * `commit -c`): the ones Docker allows there.
 */
import { InvalidArgumentError } from "../common/errors.ts";
import type { ImageRuntimeConfig } from "../spec/oci-image.ts";

const ALLOWED = new Set(["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD", "USER", "VOLUME", "WORKDIR", "STOPSIGNAL"]);

/** ["a","b"] JSON form, else the shell form run by /bin/sh -c. */
function commandForm(rest: string): string[] {
  const trimmed = rest.trim();
  if (trimmed.startsWith("[")) {
    try {
      const parsed = JSON.parse(trimmed) as unknown;
      if (Array.isArray(parsed) && parsed.every((p) => typeof p === "string")) return parsed as string[];
    } catch {
      // not JSON: Docker then treats it as the shell form
    }
  }
  return ["/bin/sh", "-c", trimmed];
}

/** Words with shell-like quoting: `a="b c" d` → [a=b c, d]. */
function words(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | undefined;
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === "\\" && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === "\\" && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) throw new InvalidArgumentError(`unterminated quote in "${s}"`);
  if (inWord) out.push(cur);
  return out;
}

/** KEY=VALUE pairs, or the legacy `KEY VALUE` form with one pair. */
function pairs(rest: string, instruction: string): [string, string][] {
  const list = words(rest);
  if (list.length === 0) throw new InvalidArgumentError(`${instruction} requires at least one argument`);
  if (!list[0]!.includes("=")) {
    const m = /^\s*(\S+)\s+([\s\S]*)$/.exec(rest);
    if (!m) throw new InvalidArgumentError(`${instruction} requires a value: "${rest}"`);
    return [[m[1]!, m[2]!.trim()]];
  }
  return list.map((w) => {
    const eq = w.indexOf("=");
    if (eq <= 0) throw new InvalidArgumentError(`${instruction} names must be KEY=VALUE: "${w}"`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** Applies `changes` (one instruction each) to a copy of `config`. */
export function applyChanges(config: ImageRuntimeConfig, changes: readonly string[]): ImageRuntimeConfig {
  const out: ImageRuntimeConfig = structuredClone(config);
  let cmdSet = false;
  for (const change of changes) {
    const m = /^\s*(\w+)\s*([\s\S]*)$/.exec(change);
    if (!m) continue;
    const instruction = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (!ALLOWED.has(instruction)) throw new InvalidArgumentError(`${instruction.toLowerCase()} is not a valid change command`);
    switch (instruction) {
      case "CMD":
        out.Cmd = commandForm(rest);
        cmdSet = true;
        break;
      case "ENTRYPOINT":
        out.Entrypoint = commandForm(rest);
        // A new entrypoint drops the old CMD unless one was given with it (moby's dispatchEntrypoint).
        if (!cmdSet) out.Cmd = null;
        break;
      case "ENV": {
        const env = out.Env ?? [];
        for (const [k, v] of pairs(rest, "ENV")) {
          const i = env.findIndex((e) => e.split("=")[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        out.Env = env;
        break;
      }
      case "LABEL":
        out.Labels = { ...(out.Labels ?? {}), ...Object.fromEntries(pairs(rest, "LABEL")) };
        break;
      case "EXPOSE":
        out.ExposedPorts = out.ExposedPorts ?? {};
        for (const p of words(rest)) out.ExposedPorts[p.includes("/") ? p : `${p}/tcp`] = {};
        break;
      case "VOLUME":
        out.Volumes = out.Volumes ?? {};
        for (const v of rest.trim().startsWith("[") ? commandForm(rest) : words(rest)) out.Volumes[v] = {};
        break;
      case "USER":
        out.User = rest.trim();
        break;
      case "WORKDIR":
        out.WorkingDir = rest.trim();
        break;
      case "STOPSIGNAL":
        out.StopSignal = rest.trim();
        break;
      case "ONBUILD":
        out.OnBuild = [...(out.OnBuild ?? []), rest.trim()];
        break;
      case "HEALTHCHECK": {
        const r = rest.trim();
        if (/^NONE$/i.test(r)) out.Healthcheck = { Test: ["NONE"] };
        else {
          const cmd = /^CMD\s+([\s\S]*)$/i.exec(r);
          if (!cmd) throw new InvalidArgumentError(`HEALTHCHECK must be NONE or CMD ...: "${r}"`);
          const form = commandForm(cmd[1]!);
          out.Healthcheck = { Test: form[0] === "/bin/sh" ? ["CMD-SHELL", form[2]!] : ["CMD", ...form] };
        }
        break;
      }
    }
  }
  return out;
}
