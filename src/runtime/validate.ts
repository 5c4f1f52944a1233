/**
 * Shape checks of a config.json at the trust boundary: wrong types get an
 * error naming the field, before anything reaches the plan.
 */
import { InvalidArgumentError } from "../common/errors.ts";
import { capabilityBit } from "./capabilities.ts";
import type { Spec } from "../spec/oci-runtime.ts";

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

class Checker {
  constructor(private readonly file: string) {}

  fail(field: string, what: string): never {
    throw new InvalidArgumentError(`${this.file}: ${field} ${what}`);
  }

  object(v: unknown, field: string, optional = true): Json | undefined {
    if (v === undefined && optional) return undefined;
    if (!isObject(v)) this.fail(field, "must be an object");
    return v;
  }

  string(v: unknown, field: string, optional = true): void {
    if (v === undefined && optional) return;
    if (typeof v !== "string") this.fail(field, "must be a string");
  }

  number(v: unknown, field: string, optional = true): void {
    if (v === undefined && optional) return;
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(field, "must be a number");
  }

  boolean(v: unknown, field: string): void {
    if (v !== undefined && typeof v !== "boolean") this.fail(field, "must be true or false");
  }

  array(v: unknown, field: string): unknown[] {
    if (v === undefined) return [];
    if (!Array.isArray(v)) this.fail(field, "must be an array");
    return v;
  }

  strings(v: unknown, field: string): void {
    this.array(v, field).forEach((s, i) => this.string(s, `${field}[${i}]`, false));
  }
}

export function validateSpec(raw: unknown, file = "config.json"): Spec {
  const c = new Checker(file);
  const spec = c.object(raw, "the document", false)!;
  c.string(spec.ociVersion, "ociVersion", false);
  if (!/^1\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(spec.ociVersion as string)) {
    c.fail("ociVersion", `"${String(spec.ociVersion)}" is not a runtime-spec 1.x version`);
  }
  const root = c.object(spec.root, "root");
  if (root) {
    c.string(root.path, "root.path", false);
    c.boolean(root.readonly, "root.readonly");
  }
  c.string(spec.hostname, "hostname");
  c.string(spec.domainname, "domainname");

  const proc = c.object(spec.process, "process");
  if (proc) {
    c.boolean(proc.terminal, "process.terminal");
    const user = c.object(proc.user, "process.user", false)!;
    c.number(user.uid, "process.user.uid", false);
    c.number(user.gid, "process.user.gid", false);
    c.number(user.umask, "process.user.umask");
    c.array(user.additionalGids, "process.user.additionalGids").forEach((g, i) => c.number(g, `process.user.additionalGids[${i}]`, false));
    c.strings(proc.args, "process.args");
    c.strings(proc.env, "process.env");
    c.string(proc.cwd, "process.cwd", false);
    c.boolean(proc.noNewPrivileges, "process.noNewPrivileges");
    c.number(proc.oomScoreAdj, "process.oomScoreAdj");
    const caps = c.object(proc.capabilities, "process.capabilities");
    if (caps) {
      for (const set of ["bounding", "effective", "inheritable", "permitted", "ambient"]) {
        const names = c.array(caps[set], `process.capabilities.${set}`);
        names.forEach((n, i) => {
          c.string(n, `process.capabilities.${set}[${i}]`, false);
          try {
            capabilityBit(n as string);
          } catch {
            c.fail(`process.capabilities.${set}`, `names an unknown capability "${String(n)}"`);
          }
        });
      }
    }
    c.array(proc.rlimits, "process.rlimits").forEach((r, i) => {
      const o = c.object(r, `process.rlimits[${i}]`, false)!;
      c.string(o.type, `process.rlimits[${i}].type`, false);
      c.number(o.soft, `process.rlimits[${i}].soft`, false);
      c.number(o.hard, `process.rlimits[${i}].hard`, false);
    });
  }

  c.array(spec.mounts, "mounts").forEach((m, i) => {
    const o = c.object(m, `mounts[${i}]`, false)!;
    c.string(o.destination, `mounts[${i}].destination`, false);
    c.string(o.type, `mounts[${i}].type`);
    c.string(o.source, `mounts[${i}].source`);
    c.strings(o.options, `mounts[${i}].options`);
  });

  const hooks = c.object(spec.hooks, "hooks");
  if (hooks) {
    for (const [stage, list] of Object.entries(hooks)) {
      c.array(list, `hooks.${stage}`).forEach((h, i) => {
        const o = c.object(h, `hooks.${stage}[${i}]`, false)!;
        c.string(o.path, `hooks.${stage}[${i}].path`, false);
        if (!(o.path as string).startsWith("/")) c.fail(`hooks.${stage}[${i}].path`, "must be absolute");
        c.strings(o.args, `hooks.${stage}[${i}].args`);
        c.strings(o.env, `hooks.${stage}[${i}].env`);
        c.number(o.timeout, `hooks.${stage}[${i}].timeout`);
        if (typeof o.timeout === "number" && o.timeout <= 0) c.fail(`hooks.${stage}[${i}].timeout`, "must be positive");
      });
    }
  }

  const linux = c.object(spec.linux, "linux");
  if (linux) {
    c.array(linux.namespaces, "linux.namespaces").forEach((n, i) => {
      const o = c.object(n, `linux.namespaces[${i}]`, false)!;
      c.string(o.type, `linux.namespaces[${i}].type`, false);
      c.string(o.path, `linux.namespaces[${i}].path`);
    });
    for (const key of ["uidMappings", "gidMappings"]) {
      c.array(linux[key], `linux.${key}`).forEach((m, i) => {
        const o = c.object(m, `linux.${key}[${i}]`, false)!;
        for (const f of ["containerID", "hostID", "size"]) c.number(o[f], `linux.${key}[${i}].${f}`, false);
      });
    }
    c.strings(linux.maskedPaths, "linux.maskedPaths");
    c.strings(linux.readonlyPaths, "linux.readonlyPaths");
    c.string(linux.cgroupsPath, "linux.cgroupsPath");
    c.string(linux.rootfsPropagation, "linux.rootfsPropagation");
    c.object(linux.resources, "linux.resources");
    c.object(linux.seccomp, "linux.seccomp");
    const sysctl = c.object(linux.sysctl, "linux.sysctl");
    for (const [k, v] of Object.entries(sysctl ?? {})) {
      c.string(v, `linux.sysctl["${k}"]`, false);
      if (k.includes("/") || k.includes("..")) c.fail(`linux.sysctl["${k}"]`, "is not a sysctl name");
    }
  }
  return spec as unknown as Spec;
}
