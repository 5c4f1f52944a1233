/**
 * Runs a BPF_PROG_TYPE_CGROUP_DEVICE program (the instructions the device
 * filter uses) on one access, as the kernel would: for unit tests of the
 * program's decisions without loading it.
 */
export function runDeviceProgram(program: Buffer, access: { type: number; access: number; major: number; minor: number }): number {
  const ctx = [((access.access << 16) | access.type) >>> 0, access.major >>> 0, access.minor >>> 0];
  const reg = new Array<number>(11).fill(0);
  const n = program.length / 8;
  for (let pc = 0, steps = 0; pc < n; pc++) {
    if (++steps > 10_000) throw new Error("runaway program");
    const code = program.readUInt8(pc * 8);
    const regs = program.readUInt8(pc * 8 + 1);
    const dst = regs & 0xf;
    const src = regs >> 4;
    const off = program.readInt16LE(pc * 8 + 2);
    const imm = program.readInt32LE(pc * 8 + 4) >>> 0;
    const u32 = (v: number): number => v >>> 0;
    switch (code) {
      case 0x61: // ldxw dst, [src + off]
        if (src !== 1 || off % 4 !== 0 || off / 4 >= ctx.length) throw new Error(`bad load at ${pc}`);
        reg[dst] = ctx[off / 4]!;
        break;
      case 0x54: reg[dst] = u32(reg[dst]! & imm); break;
      case 0x74: reg[dst] = u32(reg[dst]! >>> imm); break;
      case 0xbc: reg[dst] = u32(reg[src]!); break;
      case 0xb7: reg[dst] = imm; break;
      case 0x56: if (u32(reg[dst]!) !== imm) pc += off; break;
      case 0x16: if (u32(reg[dst]!) === imm) pc += off; break;
      case 0x5e: if (u32(reg[dst]!) !== u32(reg[src]!)) pc += off; break;
      case 0x95: return reg[0]!;
      default: throw new Error(`opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error("fell off the end");
}
