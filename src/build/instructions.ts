/**
 * What the builder needs of instructions besides dispatching them: stages
 * split out of the Dockerfile, the LABEL steps of the `labels` option,
 * ARG/ENV/LABEL pairs, EXPOSE port specs, HEALTHCHECK's config, COPY
 * destinations against WORKDIR, and configs compared for the cache.
 */
import path from "node:path";
import { InvalidArgumentError } from "../common/errors.ts";
import type { ImageRuntimeConfig } from "../spec/oci-image.ts";
import type { Instruction } from "./dockerfile.ts";
import { parseGoDuration } from "./go-format.ts";
import type { Env } from "./shell-lex.ts";

/** A FROM and the instructions up to the next one. */
export interface Stage {
  name?: string;
  from: Instruction;
  commands: Instruction[];
}

/** ARGs before the first FROM, then the stages (a FROM and what follows it). */
export function splitStages(list: Instruction[]): { metaArgs: Instruction[]; stages: Stage[] } {
  const metaArgs: Instruction[] = [];
  const stages: Stage[] = [];
  for (const ins of list) {
    if (ins.name === "FROM") {
      const a = ins.args;
      if (a.length !== 1 && !(a.length === 3 && a[1]!.toLowerCase() === "as")) {
        throw new InvalidArgumentError(`dockerfile parse error on line ${ins.line}: FROM requires either one or three arguments`);
      }
      const name = a.length === 3 ? a[2]!.toLowerCase() : undefined;
      if (name !== undefined && !/^[a-z][a-z0-9-_.]*$/.test(name)) throw new InvalidArgumentError(`invalid name for build stage: "${a[2]}", name can't start with a number or contain symbols`);
      stages.push({ ...(name ? { name } : {}), from: ins, commands: [] });
    } else if (stages.length === 0) {
      if (ins.name !== "ARG") throw new InvalidArgumentError(`no build stage in current context`);
      metaArgs.push(ins);
    } else stages.at(-1)!.commands.push(ins);
  }
  return { metaArgs, stages };
}

/** The LABEL step a `labels` build option adds to the last stage (not expanded). */
export function labelInstruction(key: string, value: string): Instruction {
  return { name: "LABEL", flags: {}, noExpand: true, args: [`${key}=${value}`], json: false, rest: `${key}=${value}`, original: `LABEL ${key}=${value}`, line: 0 };
}

export function mapEnv(map: Map<string, string>): Env {
  return (name) => map.get(name);
}

export function splitArg(word: string): [string, string | undefined] {
  const eq = word.indexOf("=");
  if (eq === 0) throw new InvalidArgumentError(`ARG names can not be blank`);
  return eq < 0 ? [word, undefined] : [word.slice(0, eq), word.slice(eq + 1)];
}

export function splitPair(word: string, what: string): [string, string] {
  const eq = word.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`${what} names can not be blank`);
  return [word.slice(0, eq), word.slice(eq + 1)];
}

/** EXPOSE 80, 80/udp, 8000-8002/tcp → the ExposedPorts keys. */
export function exposedPorts(spec: string): string[] {
  const m = /^(?:.*:)?(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec);
  if (!m) throw new InvalidArgumentError(`invalid containerPort: ${spec}`);
  const lo = Number(m[1]);
  const hi = m[2] ? Number(m[2]) : lo;
  const proto = (m[3] ?? "tcp").toLowerCase();
  if (lo < 1 || hi > 65535 || hi < lo) throw new InvalidArgumentError(`invalid containerPort: ${spec}`);
  const out: string[] = [];
  for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  return out;
}

export function healthcheck(cmd: Instruction): NonNullable<ImageRuntimeConfig["Healthcheck"]> {
  if (cmd.args[0] === "NONE") return { Test: ["NONE"] };
  const test = cmd.json ? ["CMD", ...cmd.args.slice(1)] : ["CMD-SHELL", cmd.args[1]!];
  const h: NonNullable<ImageRuntimeConfig["Healthcheck"]> = { Test: test };
  const duration = (flag: string): number | undefined => {
    const v = cmd.flags[flag];
    if (v === undefined) return undefined;
    const ns = parseGoDuration(v);
    if (ns !== 0 && ns < 1e6) throw new InvalidArgumentError(`Interval "${flag}" cannot be less than 1ms`);
    return ns;
  };
  for (const f of Object.keys(cmd.flags)) {
    if (!["interval", "timeout", "start-period", "start-interval", "retries"].includes(f)) throw new InvalidArgumentError(`Unknown flag: ${f}`);
  }
  const interval = duration("interval");
  const timeout = duration("timeout");
  const startPeriod = duration("start-period");
  const startInterval = duration("start-interval");
  if (interval !== undefined) h.Interval = interval;
  if (timeout !== undefined) h.Timeout = timeout;
  if (startPeriod !== undefined) h.StartPeriod = startPeriod;
  if (startInterval !== undefined) h.StartInterval = startInterval;
  if (cmd.flags.retries !== undefined) {
    const r = Number(cmd.flags.retries);
    if (!Number.isInteger(r) || r < 0) throw new InvalidArgumentError(`--retries must be a non-negative integer: ${cmd.flags.retries}`);
    h.Retries = r;
  }
  return h;
}

/** A COPY destination made absolute against WORKDIR (its trailing slash kept). */
export function normalizeDest(workdir: string | undefined, dest: string): string {
  const slash = dest.endsWith("/") || dest.endsWith("/.") || dest === ".";
  let abs = path.posix.isAbsolute(dest) ? dest : path.posix.join(workdir || "/", dest);
  abs = path.posix.normalize(abs);
  if (slash && !abs.endsWith("/")) abs += "/";
  return abs;
}

export function joinRel(a: string, b: string): string {
  const clean = b.replace(/^\/+/, "");
  return a ? (clean ? `${a.replace(/\/+$/, "")}/${clean}` : a.replace(/\/+$/, "")) : clean;
}

/** JSON with sorted keys: configs compared regardless of key order. */
export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) => {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      return Object.fromEntries(Object.entries(value as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return value;
  });
}
