/**
 * The helper's seccomp programs against libseccomp's own: the smaller
 * program (native/src/seccomp_shrink.c) must decide every call as
 * libseccomp's does. Both are run here by a classic-BPF interpreter of our
 * own over every architecture the filter names and some it does not, every
 * syscall number up to 1100 (and x32's), and argument values around the
 * ones the profile compares with.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { encodePlan, PlanMode, type Plan } from "../../src/native/plan.ts";
import { builtHelperPath } from "../../src/native/shim.ts";
import { DOCKER_DEFAULT_CAPABILITIES } from "../../src/runtime/capabilities.ts";
import { resolveSeccomp } from "../../src/runtime/seccomp.ts";
import { resolveDockerDefault } from "../../src/runtime/seccomp-default.ts";
import type { LinuxSeccomp } from "../../src/spec/oci-runtime.ts";

const helper = builtHelperPath();
const skip = !existsSync(helper) ? "the native helper is not built" : false;

const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;
const AUDIT_ARCH_AARCH64 = 0xc00000b7;
const X32_BIT = 0x40000000;

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

function compile(seccomp: LinuxSeccomp, libseccompOnly: boolean): Insn[] {
  const plan: Plan = { mode: PlanMode.Exec, args: ["true"], env: [], cwd: "/", user: { uid: 0, gid: 0, additionalGids: [] }, seccomp: resolveSeccomp(seccomp) };
  const r = spawnSync(helper, ["seccomp-compile", ...(libseccompOnly ? ["--libseccomp"] : [])], { input: encodePlan(plan) });
  assert.equal(r.status, 0, String(r.stderr));
  const out: Insn[] = [];
  for (let i = 0; i < r.stdout.length; i += 8) {
    out.push({ code: r.stdout.readUInt16LE(i), jt: r.stdout[i + 2]!, jf: r.stdout[i + 3]!, k: r.stdout.readUInt32LE(i + 4) });
  }
  return out;
}

/** Classic BPF as seccomp runs it, over struct seccomp_data as 16 words: the action. */
function run(prog: Insn[], words: Uint32Array): number {
  let a = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, jt, jf, k } = prog[pc]!;
    switch (code & 0x07) {
      case 0x00: // LD
        if (code === 0x20) a = words[k / 4]!; // W ABS
        else if (code === 0x00) a = k; // IMM
        else throw new Error(`load 0x${code.toString(16)}`);
        break;
      case 0x04: // ALU (K)
        if (code === 0x54) a = (a & k) >>> 0;
        else if (code === 0x44) a = (a | k) >>> 0;
        else throw new Error(`alu 0x${code.toString(16)}`);
        break;
      case 0x05: {
        const op = code & 0xf0;
        if (op === 0x00) {
          pc += k;
          break;
        }
        const taken = op === 0x10 ? a === k : op === 0x20 ? a > k : op === 0x30 ? a >= k : (a & k) !== 0;
        pc += taken ? jt : jf;
        break;
      }
      case 0x06:
        return code === 0x16 ? a : k;
      default:
        throw new Error(`instruction 0x${code.toString(16)}`);
    }
  }
  throw new Error("ran off the end");
}

/** Deterministic: a failure names an input that can be run again. */
function* inputs(): Generator<Uint32Array> {
  const arches = [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64, 0, AUDIT_ARCH_X86_64 + 1, 0xffffffff];
  const numbers: number[] = [];
  for (let nr = 0; nr < 1100; nr++) numbers.push(nr, (X32_BIT | nr) >>> 0);
  numbers.push(0xffffffff, 0x3fffffff, 0x7fffffff, 0x80000000);
  const values = [0, 1, 8, 40, 0x20000, 0x20008, 0xffffffff, 0x7e020000, 0x10000000, 0x00020000, 0x7e020001, 39, 41];
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  for (const arch of arches) {
    for (const nr of numbers) {
      const w = new Uint32Array(16);
      w[0] = nr;
      w[1] = arch;
      yield w.slice();
      // The argument words (lo, hi of args[0..5]): one at a time, then mixed.
      for (let i = 4; i < 16; i += 1) {
        if (i > 6 && rand(4) !== 0) continue;
        const v = values[rand(values.length)]!;
        const x = w.slice();
        x[i] = v;
        yield x;
      }
      const x = w.slice();
      for (let i = 4; i < 16; i++) x[i] = rand(3) === 0 ? values[rand(values.length)]! : 0;
      yield x;
    }
  }
}

function assertSameDecisions(seccomp: LinuxSeccomp, shrinks = true): { libseccomp: number; shrunk: number } {
  const reference = compile(seccomp, true);
  const shrunk = compile(seccomp, false);
  let n = 0;
  for (const w of inputs()) {
    const want = run(reference, w);
    const got = run(shrunk, w);
    if (want !== got) {
      assert.fail(`input ${Array.from(w, (x) => x.toString(16)).join(" ")}: libseccomp 0x${want.toString(16)}, shrunk 0x${got.toString(16)}`);
    }
    n++;
  }
  assert.ok(n > 50_000);
  // Equal sizes: the helper kept libseccomp's program (nothing gained, or its own check refused).
  if (shrinks) assert.ok(shrunk.length < reference.length, `shrunk ${shrunk.length}, libseccomp ${reference.length}`);
  else assert.deepEqual(shrunk, reference);
  return { libseccomp: reference.length, shrunk: shrunk.length };
}

const dockerCaps = [...DOCKER_DEFAULT_CAPABILITIES];

test("seccomp: Docker's default profile shrinks to a fraction and decides every input as libseccomp's program", { skip }, () => {
  const sizes = assertSameDecisions(resolveDockerDefault({ capabilities: dockerCaps, arch: "amd64" }));
  assert.ok(sizes.libseccomp > 1000, `libseccomp: ${sizes.libseccomp}`);
  assert.ok(sizes.shrunk < sizes.libseccomp / 3, `shrunk: ${sizes.shrunk} of ${sizes.libseccomp}`);
});

test("seccomp: with CAP_SYS_ADMIN and CAP_SYS_PTRACE (clone, clone3, ptrace rules change)", { skip }, () => {
  assertSameDecisions(resolveDockerDefault({ capabilities: [...dockerCaps, "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"], arch: "amd64" }));
});

test("seccomp: a custom profile with errnos, a kill, a log and argument conditions of every operator", { skip }, () => {
  const conditional = ["mkdir", "mkdirat", "reboot", "getpid", "personality", "setns", "socket", "kill", "tkill", "dup3"];
  // Docker's allow-list around them: a few denied numbers among many allowed, what makes a program worth shrinking.
  const allowedByDocker = (resolveDockerDefault({ capabilities: dockerCaps, arch: "amd64" }).syscalls ?? [])
    .filter((r) => r.action === "SCMP_ACT_ALLOW" && !r.args?.length)
    .flatMap((r) => r.names)
    .filter((name) => !conditional.includes(name));
  const profile: LinuxSeccomp = {
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    syscalls: [
      { names: allowedByDocker, action: "SCMP_ACT_ALLOW" },
      { names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
      { names: ["reboot"], action: "SCMP_ACT_KILL_PROCESS" },
      { names: ["getpid"], action: "SCMP_ACT_LOG" },
      { names: ["personality"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 8, op: "SCMP_CMP_GT" }] },
      { names: ["setns"], action: "SCMP_ACT_ERRNO", args: [{ index: 1, value: 0x20000, valueTwo: 0x20000, op: "SCMP_CMP_MASKED_EQ" }] },
      { names: ["socket"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 40, op: "SCMP_CMP_NE" }, { index: 2, value: 1, op: "SCMP_CMP_LE" }] },
      { names: ["kill"], action: "SCMP_ACT_ERRNO", args: [{ index: 1, value: 9, op: "SCMP_CMP_LT" }] },
      { names: ["tkill"], action: "SCMP_ACT_ERRNO", args: [{ index: 1, value: 0xffffffff, op: "SCMP_CMP_GE" }] },
      { names: ["dup3"], action: "SCMP_ACT_ERRNO", args: [{ index: 2, value: 1, op: "SCMP_CMP_EQ" }] },
      { names: ["dup3"], action: "SCMP_ACT_ERRNO", args: [{ index: 2, value: 8, op: "SCMP_CMP_EQ" }] },
    ],
  };
  assertSameDecisions(profile);
});

test("seccomp: a short allow-list naming x32 too: libseccomp's list is smaller, and kept", { skip }, () => {
  const profile: LinuxSeccomp = {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 38,
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
    syscalls: [
      { names: ["read", "write", "exit", "exit_group", "openat", "close", "mmap", "brk", "execve"], action: "SCMP_ACT_ALLOW" },
      { names: ["ioctl"], action: "SCMP_ACT_ALLOW", args: [{ index: 1, value: 0x5401, op: "SCMP_CMP_EQ" }] },
    ],
  };
  assertSameDecisions(profile, false);
});

test("seccomp-compile: a plan it cannot read is an error on stderr and exit 1, not a crash", { skip }, () => {
  for (const input of [Buffer.alloc(0), Buffer.from("\x10\x00\x00\x00garbagegarbage!!", "latin1")]) {
    const r = spawnSync(helper, ["seccomp-compile"], { input });
    assert.equal(r.status, 1);
    assert.match(String(r.stderr), /^error plan \d+ /);
    assert.equal(r.stdout.length, 0);
  }
  // A plan without seccomp rules has nothing to compile.
  const plan: Plan = { mode: PlanMode.Exec, args: ["true"], env: [], cwd: "/", user: { uid: 0, gid: 0, additionalGids: [] } };
  const r = spawnSync(helper, ["seccomp-compile"], { input: encodePlan(plan) });
  assert.equal(r.status, 1);
  assert.match(String(r.stderr), /error seccomp 22 the plan has no seccomp rules/);
});
