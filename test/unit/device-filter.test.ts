/**
 * cgroup v2's device program: the rules as v1's devices controller reads
 * them (emulateDeviceRules), and the eBPF program's decisions, run through
 * a small interpreter of the instructions it uses. The kernel's side is in
 * test/integration/cgroup-v2-devices.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DevAccess, DevType, deviceFilterProgram, emulateDeviceRules } from "../../src/cgroups/device-filter.ts";
import type { LinuxDeviceCgroup } from "../../src/spec/oci-runtime.ts";
import { runDeviceProgram } from "../helpers/bpf-interpreter.ts";

const { read: R, write: W, mknod: M } = DevAccess;
const DOCKER: LinuxDeviceCgroup[] = [
  { allow: false, access: "rwm" },
  { allow: true, type: "c", major: null, minor: null, access: "m" },
  { allow: true, type: "b", major: null, minor: null, access: "m" },
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
  { allow: true, type: "c", major: 136, minor: null, access: "rwm" },
];

function decide(rules: LinuxDeviceCgroup[], type: "c" | "b", major: number, minor: number, access: number): boolean {
  const program = deviceFilterProgram(rules);
  if (!program) return true;
  return runDeviceProgram(program, { type: type === "b" ? DevType.block : DevType.char, major, minor, access }) === 1;
}

describe("device rules on cgroup v2", () => {
  it("attaches nothing when every device stays allowed", () => {
    assert.equal(deviceFilterProgram([]), undefined);
    assert.equal(deviceFilterProgram([{ allow: true, access: "rwm" }]), undefined);
    assert.equal(deviceFilterProgram([{ allow: false, type: "c", major: 1, minor: 3, access: "w" }, { allow: true, access: "rwm" }]), undefined);
  });

  it("Docker's rules: mknod of anything, the listed nodes, nothing else", () => {
    assert.equal(decide(DOCKER, "c", 4, 1, M), true);
    assert.equal(decide(DOCKER, "b", 8, 0, M), true);
    assert.equal(decide(DOCKER, "c", 1, 3, R | W), true);
    assert.equal(decide(DOCKER, "c", 136, 7, R | W), true);
    assert.equal(decide(DOCKER, "c", 1, 11, W), false);
    assert.equal(decide(DOCKER, "b", 8, 0, R), false);
    assert.equal(decide(DOCKER, "c", 1, 3, R | M), true);
    assert.equal(decide(DOCKER, "c", 4, 1, R | M), false, "every bit asked for must be in one rule");
  });

  it("follows v1: a rule with the default takes access from an exception; an 'a' rule starts over", () => {
    const rules = [...DOCKER, { allow: false, type: "c" as const, major: 1, minor: 3, access: "w" }];
    assert.deepEqual(emulateDeviceRules(rules).exceptions.find((e) => e.major === 1), { type: DevType.char, major: 1, minor: 3, access: R | M });
    assert.equal(decide(rules, "c", 1, 3, R), true);
    assert.equal(decide(rules, "c", 1, 3, W), false);
    assert.deepEqual(emulateDeviceRules([...DOCKER, { allow: true, access: "rwm" }]), { defaultAllow: true, exceptions: [] });
  });

  it("under an allow-all default, a deny matches any access bit it names", () => {
    const rules: LinuxDeviceCgroup[] = [{ allow: true, access: "rwm" }, { allow: false, type: "b", major: 8, minor: null, access: "w" }];
    assert.equal(decide(rules, "b", 8, 1, R), true);
    assert.equal(decide(rules, "b", 8, 1, R | W), false);
    assert.equal(decide(rules, "b", 9, 1, R | W), true);
    assert.equal(decide(rules, "c", 8, 1, W), true);
  });

  it("merges the access of rules for the same node", () => {
    const rules: LinuxDeviceCgroup[] = [{ allow: false, access: "rwm" }, { allow: true, type: "c", major: 10, minor: 200, access: "r" }, { allow: true, type: "c", major: 10, minor: 200, access: "w" }];
    assert.equal(emulateDeviceRules(rules).exceptions.length, 1);
    assert.equal(decide(rules, "c", 10, 200, R | W), true);
    assert.equal(decide(rules, "c", 10, 200, M), false);
  });

  it("refuses a bad rule with v1's words", () => {
    assert.throws(() => deviceFilterProgram([{ allow: true, type: "x" as "a", access: "r" }]), /type "x" is not a, b or c/);
    assert.throws(() => deviceFilterProgram([{ allow: true, type: "c", access: "rx" }]), /access "rx" is not made of r, w, m/);
  });
});
