/**
 * The instructions that only change an image's runtime config: ENV, LABEL,
 * CMD, ENTRYPOINT, EXPOSE, USER, VOLUME, STOPSIGNAL, SHELL, ONBUILD,
 * HEALTHCHECK and WORKDIR's path. The builder applies them between its
 * commits; `commit -c` and `import -c` apply them to a config alone, as
 * moby runs commit changes through its builder (BuildFromConfig).
 */
import path from "node:path";
import { InvalidArgumentError } from "../common/errors.ts";
import { parseSignal } from "../runtime/runtime.ts";
import type { ImageRuntimeConfig } from "../spec/oci-image.ts";
import type { Instruction } from "./dockerfile.ts";
import { goList, goQuoteList, healthcheckComment } from "./go-format.ts";
import { exposedPorts, healthcheck, splitPair } from "./instructions.ts";
import { processWord, processWords, type Env } from "./shell-lex.ts";

export const DEFAULT_SHELL = ["/bin/sh", "-c"];

/** What a config step reads and changes. */
export interface ConfigState {
  runConfig: ImageRuntimeConfig;
  /** A CMD was given in this stage: a later ENTRYPOINT keeps it. */
  cmdSet: boolean;
}

export interface ConfigStepContext {
  /** The variables words are expanded with (the config's Env, and a build's args). */
  env: Env;
  escape: string;
  /** Lines for the user (a HEALTHCHECK that replaces another). */
  note?: (line: string) => void;
}

/** The instructions applyConfigStep knows. */
export const CONFIG_INSTRUCTIONS: ReadonlySet<string> = new Set(["ENV", "LABEL", "CMD", "ENTRYPOINT", "EXPOSE", "USER", "VOLUME", "STOPSIGNAL", "SHELL", "ONBUILD", "HEALTHCHECK", "WORKDIR"]);

/** RUN/CMD/ENTRYPOINT's argv: the JSON form as is, the shell form through the config's SHELL. */
export function commandLine(rc: ImageRuntimeConfig, cmd: Instruction): string[] {
  if (cmd.json) return [...cmd.args];
  if (cmd.args.length === 0) return [];
  return [...(rc.Shell?.length ? rc.Shell : DEFAULT_SHELL), cmd.args[0]!];
}

/**
 * Applies one instruction of CONFIG_INSTRUCTIONS to `state.runConfig` and
 * returns its history comment (`ENV A=b`, `WORKDIR /x`).
 */
export function applyConfigStep(state: ConfigState, cmd: Instruction, ctx: ConfigStepContext): string {
  const rc = state.runConfig;
  const expand = (word: string): string => processWord(word, ctx.env, ctx.escape);
  switch (cmd.name) {
    case "ENV": {
      const pairs = cmd.args.map((w) => splitPair(expand(w), "ENV"));
      const next = [...(rc.Env ?? [])];
      for (const [k, v] of pairs) {
        const i = next.findIndex((e) => e.split("=", 1)[0] === k);
        if (i >= 0) next[i] = `${k}=${v}`;
        else next.push(`${k}=${v}`);
      }
      rc.Env = next;
      return `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}`;
    }
    case "LABEL": {
      const pairs = cmd.args.map((w) => splitPair(cmd.noExpand ? w : expand(w), "LABEL"));
      rc.Labels = { ...(rc.Labels ?? {}) };
      for (const [k, v] of pairs) rc.Labels[k] = v;
      return `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}`;
    }
    case "CMD":
      rc.Cmd = commandLine(rc, cmd);
      if (cmd.args.length) state.cmdSet = true;
      return `CMD ${goQuoteList(rc.Cmd)}`;
    case "ENTRYPOINT":
      rc.Entrypoint = commandLine(rc, cmd);
      // A new entrypoint drops the old CMD unless this stage gave one (moby's dispatchEntrypoint).
      if (!state.cmdSet) rc.Cmd = null;
      return `ENTRYPOINT ${goQuoteList(rc.Entrypoint)}`;
    case "EXPOSE": {
      const ports = cmd.args.flatMap((w) => processWords(w, ctx.env, ctx.escape));
      rc.ExposedPorts = { ...(rc.ExposedPorts ?? {}) };
      for (const p of ports) for (const key of exposedPorts(p)) rc.ExposedPorts[key] = {};
      return `EXPOSE ${ports.join(" ")}`;
    }
    case "USER":
      rc.User = expand(cmd.args[0]!);
      return `USER ${rc.User}`;
    case "VOLUME": {
      const vols = cmd.args.map(expand);
      rc.Volumes = { ...(rc.Volumes ?? {}) };
      for (const v of vols) {
        if (v.trim() === "") throw new InvalidArgumentError("VOLUME specified can not be an empty string");
        rc.Volumes[v] = {};
      }
      return `VOLUME ${goList(vols)}`;
    }
    case "STOPSIGNAL": {
      const sig = expand(cmd.args[0]!);
      try {
        parseSignal(sig);
      } catch (err) {
        throw new InvalidArgumentError(`Invalid signal: ${sig}`, { cause: err });
      }
      rc.StopSignal = sig;
      return `STOPSIGNAL ${sig}`;
    }
    case "SHELL":
      rc.Shell = [...cmd.args];
      return `SHELL ${goList(rc.Shell)}`;
    case "ONBUILD":
      rc.OnBuild = [...(rc.OnBuild ?? []), cmd.args[0]!];
      return `ONBUILD ${cmd.args[0]}`;
    case "HEALTHCHECK": {
      const old = rc.Healthcheck?.Test;
      if (old?.length && old[0] !== "NONE") ctx.note?.(`Note: overriding previous HEALTHCHECK: ${goList(old)}`);
      rc.Healthcheck = healthcheck(cmd);
      return healthcheckComment(rc.Healthcheck);
    }
    case "WORKDIR": {
      const dir = expand(cmd.args[0]!);
      let wd = path.posix.isAbsolute(dir) ? path.posix.normalize(dir) : path.posix.join(rc.WorkingDir || "/", dir);
      if (wd.length > 1) wd = wd.replace(/\/+$/, "");
      rc.WorkingDir = wd;
      return `WORKDIR ${wd}`;
    }
    default:
      throw new InvalidArgumentError(`${cmd.name} does not only change the config`);
  }
}
