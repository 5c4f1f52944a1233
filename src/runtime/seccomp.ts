/**
 * linux.seccomp of a config, resolved into the flat rule list the helper
 * turns into a filter with libseccomp. Action and operator values are
 * libseccomp's (seccomp.h), so the C side passes them through untouched.
 */
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { InvalidArgumentError, NotImplementedError } from "../common/errors.ts";
import { VERSION } from "../common/version.ts";
import type { PlanSeccomp, PlanSeccompRule } from "../native/plan.ts";
import type { LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator } from "../spec/oci-runtime.ts";

const EPERM = 1;

const OPERATORS: Record<LinuxSeccompOperator, number> = {
  SCMP_CMP_NE: 1,
  SCMP_CMP_LT: 2,
  SCMP_CMP_LE: 3,
  SCMP_CMP_EQ: 4,
  SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6,
  SCMP_CMP_MASKED_EQ: 7,
};

/** Bits the helper maps to libseccomp filter attributes (native/src/seccomp.c). */
const FLAGS: Record<string, number> = {
  SECCOMP_FILTER_FLAG_LOG: 0x1,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 0x2,
  // The helper is single-threaded when it loads the filter: nothing to sync.
  SECCOMP_FILTER_FLAG_TSYNC: 0,
};

/** The libseccomp value of an action, with its errno where it takes one. */
export function seccompAction(action: LinuxSeccompAction, errnoRet?: number): number {
  const ret = (errnoRet ?? EPERM) & 0xffff;
  switch (action) {
    case "SCMP_ACT_KILL":
    case "SCMP_ACT_KILL_THREAD":
      return 0x00000000;
    case "SCMP_ACT_KILL_PROCESS":
      return 0x80000000;
    case "SCMP_ACT_TRAP":
      return 0x00030000;
    case "SCMP_ACT_ERRNO":
      return (0x00050000 | ret) >>> 0;
    case "SCMP_ACT_TRACE":
      return (0x7ff00000 | ret) >>> 0;
    case "SCMP_ACT_LOG":
      return 0x7ffc0000;
    case "SCMP_ACT_ALLOW":
      return 0x7fff0000;
    case "SCMP_ACT_NOTIFY":
      throw new NotImplementedError("seccomp action SCMP_ACT_NOTIFY (a seccomp agent) is not supported");
    default:
      throw new InvalidArgumentError(`unknown seccomp action "${String(action)}"`);
  }
}

/** "SCMP_ARCH_X86_64" → "x86_64", the name libseccomp resolves. */
export function seccompArch(arch: string): string {
  if (!arch.startsWith("SCMP_ARCH_")) throw new InvalidArgumentError(`unknown seccomp architecture "${arch}"`);
  return arch.slice("SCMP_ARCH_".length).toLowerCase();
}

function convertArg(arg: LinuxSeccompArg, syscall: string): PlanSeccompRule["args"][number] {
  const op = OPERATORS[arg.op];
  if (op === undefined) throw new InvalidArgumentError(`seccomp rule for ${syscall}: unknown operator "${arg.op}"`);
  if (!Number.isInteger(arg.index) || arg.index < 0 || arg.index > 5) {
    throw new InvalidArgumentError(`seccomp rule for ${syscall}: argument index ${arg.index} out of range 0-5`);
  }
  return { index: arg.index, op, value: BigInt(arg.value), value2: BigInt(arg.valueTwo ?? 0) };
}

/**
 * Resolves a config's seccomp section. Conditions on distinct arguments are
 * ANDed in one rule; several conditions on the same argument become one rule
 * each (ORed), as runc does, because libseccomp cannot AND them.
 */
export function resolveSeccomp(seccomp: LinuxSeccomp): PlanSeccomp {
  const defaultAction = seccompAction(seccomp.defaultAction, seccomp.defaultErrnoRet);
  let flags = 0;
  for (const f of seccomp.flags ?? []) {
    const bit = FLAGS[f];
    if (bit === undefined) throw new InvalidArgumentError(`unknown seccomp flag "${f}"`);
    flags |= bit;
  }
  if (seccomp.listenerPath) throw new NotImplementedError("seccomp listenerPath (a seccomp agent) is not supported");
  const rules: PlanSeccompRule[] = [];
  for (const sc of seccomp.syscalls ?? []) {
    if (!sc.names?.length) throw new InvalidArgumentError("seccomp rule without syscall names");
    const action = seccompAction(sc.action, sc.errnoRet);
    for (const name of sc.names) {
      const args = (sc.args ?? []).map((a) => convertArg(a, name));
      const seen = new Set<number>();
      const repeated = args.some((a) => seen.size === seen.add(a.index).size);
      if (repeated) for (const a of args) rules.push({ action, syscall: name, args: [a] });
      else rules.push({ action, syscall: name, args });
    }
  }
  return {
    defaultAction,
    flags,
    architectures: (seccomp.architectures ?? []).map(seccompArch),
    rules,
  };
}

/** Part of the cache key: a program compiled another way (native/src/seccomp.c) is not reused. */
const SECCOMP_COMPILER = "libseccomp-binary-tree, shrunk";

/**
 * Names the compiled form of a filter in `dir`: the helper reads it back
 * instead of compiling again (~10 ms for Docker's default profile). The key
 * covers every rule and the helper's version, so a change never hits a stale file.
 */
export function withSeccompCache(seccomp: PlanSeccomp, dir: string): PlanSeccomp {
  const key = createHash("sha256")
    .update(VERSION)
    .update(SECCOMP_COMPILER)
    .update(JSON.stringify(seccomp, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)))
    .digest("hex");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return { ...seccomp, cacheFile: path.join(dir, `${key}.bpf`) };
}
