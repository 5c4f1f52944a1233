/**
 * linux.resources.devices on cgroup v2, where there is no devices.allow
 * file: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE, attached to
 * the container's cgroup by the native helper. The kernel calls it on every
 * open and mknod of a device node with a struct bpf_cgroup_dev_ctx
 * ({ access_type = access << 16 | type, major, minor }) and lets the access
 * through when it returns 1.
 *
 * The rules are first run through v1's own semantics (what devices.allow and
 * devices.deny would make of them, in order), so a container is given the
 * same devices on either hierarchy: a default and a list of exceptions.
 */
import { deviceRule } from "./v1.ts";
import type { LinuxDeviceCgroup } from "../spec/oci-runtime.ts";

/** BPF_DEVCG_DEV_* */
export const DevType = { block: 1, char: 2 } as const;
/** BPF_DEVCG_ACC_* */
export const DevAccess = { mknod: 1, read: 2, write: 4 } as const;

/** One exception to the default; `undefined` major or minor is v1's `*`. */
export interface DeviceException {
  type: number;
  major: number | undefined;
  minor: number | undefined;
  access: number;
}

export interface DeviceState {
  defaultAllow: boolean;
  exceptions: DeviceException[];
}

function accessBits(access: string): number {
  let bits = 0;
  for (const ch of access) bits |= ch === "r" ? DevAccess.read : ch === "w" ? DevAccess.write : DevAccess.mknod;
  return bits;
}

const wildcard = (n: number | null | undefined): number | undefined => (n === undefined || n === null || n < 0 ? undefined : n);

/**
 * What v1's devices controller holds after these rules, written in order to
 * a cgroup that allows everything (a container's parent): an "a" rule sets
 * the default and clears the exceptions; any other rule adds an exception
 * when it goes against the default and takes access away from one when it
 * goes with it (the kernel's devcgroup_update_access).
 */
export function emulateDeviceRules(rules: readonly LinuxDeviceCgroup[]): DeviceState {
  const state: DeviceState = { defaultAllow: true, exceptions: [] };
  for (const rule of rules) {
    deviceRule(rule); // validates, with v1's messages
    const type = rule.type ?? "a";
    if (type === "a") {
      state.defaultAllow = rule.allow;
      state.exceptions = [];
      continue;
    }
    const ex: DeviceException = { type: type === "b" ? DevType.block : DevType.char, major: wildcard(rule.major), minor: wildcard(rule.minor), access: accessBits(rule.access ?? "rwm") };
    const same = state.exceptions.find((e) => e.type === ex.type && e.major === ex.major && e.minor === ex.minor);
    if (rule.allow !== state.defaultAllow) {
      if (same) same.access |= ex.access;
      else state.exceptions.push(ex);
    } else if (same) {
      same.access &= ~ex.access;
      if (same.access === 0) state.exceptions.splice(state.exceptions.indexOf(same), 1);
    }
  }
  return state;
}

// ---------------------------------------------------------------- eBPF

/** struct bpf_insn: u8 code, u8 dst:4 src:4, s16 off, s32 imm. */
function insn(code: number, dst: number, src: number, off: number, imm: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(code, 0);
  b.writeUInt8((src << 4) | dst, 1);
  b.writeInt16LE(off, 2);
  b.writeInt32LE(imm | 0, 4);
  return b;
}

// Opcodes: class | op | source (linux/bpf_common.h, linux/bpf.h).
const LDX_W = 0x61; // BPF_LDX | BPF_W | BPF_MEM
const AND32_K = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_K = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const MOV32_X = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const MOV64_K = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JNE32_K = 0x56; // BPF_JMP32 | BPF_JNE | BPF_K
const JEQ32_K = 0x16; // BPF_JMP32 | BPF_JEQ | BPF_K
const JNE32_X = 0x5e; // BPF_JMP32 | BPF_JNE | BPF_X
const EXIT = 0x95; // BPF_JMP | BPF_EXIT

// Registers after the prologue: R2 type, R3 access, R4 major, R5 minor; R1 (the context) is then free.
const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5;

/** One exception's test: jumps past itself when the access does not match, else returns `verdict`. */
function exceptionBlock(ex: DeviceException, defaultAllow: boolean): Buffer[] {
  // [instructions, jumps-to-the-end?]: the offsets are filled in once the block's length is known.
  const body: [code: number, dst: number, src: number, imm: number, skip: boolean][] = [];
  body.push([JNE32_K, R2, 0, ex.type, true]);
  if (ex.major !== undefined) body.push([JNE32_K, R4, 0, ex.major, true]);
  if (ex.minor !== undefined) body.push([JNE32_K, R5, 0, ex.minor, true]);
  body.push([MOV32_X, R1, R3, 0, false]);
  if (defaultAllow) {
    // A deny exception: any of its access bits asked for.
    body.push([AND32_K, R1, 0, ex.access, false]);
    body.push([JEQ32_K, R1, 0, 0, true]);
  } else {
    // An allow exception: every bit asked for is in it.
    body.push([AND32_K, R1, 0, ex.access, false]);
    body.push([JNE32_X, R1, R3, 0, true]);
  }
  body.push([MOV64_K, R0, 0, defaultAllow ? 0 : 1, false]);
  body.push([EXIT, 0, 0, 0, false]);
  return body.map(([code, dst, src, imm, skip], i) => insn(code, dst, src, skip ? body.length - i - 1 : 0, imm));
}

/**
 * The program for `rules`, as raw struct bpf_insn; undefined when they
 * leave every device allowed (nothing to attach).
 */
export function deviceFilterProgram(rules: readonly LinuxDeviceCgroup[]): Buffer | undefined {
  if (rules.length === 0) return undefined;
  const { defaultAllow, exceptions } = emulateDeviceRules(rules);
  if (defaultAllow && exceptions.length === 0) return undefined;
  const out: Buffer[] = [
    insn(LDX_W, R2, R1, 0, 0),
    insn(AND32_K, R2, 0, 0, 0xffff),
    insn(LDX_W, R3, R1, 0, 0),
    insn(RSH32_K, R3, 0, 0, 16),
    insn(LDX_W, R4, R1, 4, 0),
    insn(LDX_W, R5, R1, 8, 0),
  ];
  for (const ex of exceptions) out.push(...exceptionBlock(ex, defaultAllow));
  out.push(insn(MOV64_K, R0, 0, 0, defaultAllow ? 1 : 0), insn(EXIT, 0, 0, 0, 0));
  return Buffer.concat(out);
}
