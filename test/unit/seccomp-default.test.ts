import { test } from "node:test";
import assert from "node:assert/strict";
import { HakoError } from "../../src/common/errors.ts";
import { DOCKER_DEFAULT_CAPABILITIES } from "../../src/runtime/capabilities.ts";
import { DOCKER_DEFAULT_PROFILE, resolveDockerDefault } from "../../src/runtime/seccomp-default.ts";
import type { LinuxSeccomp, LinuxSyscall } from "../../src/spec/oci-runtime.ts";

// Docker's default bounding set for `docker run` without --cap-add/--privileged.
const DOCKER_DEFAULT_CAPS = [...DOCKER_DEFAULT_CAPABILITIES];

const CLONE_NAMESPACE_MASK = 2114060288; // 0x7E020000

function rulesFor(seccomp: LinuxSeccomp, name: string): LinuxSyscall[] {
  return (seccomp.syscalls ?? []).filter((s) => s.names.includes(name));
}

/** Allowed whatever the arguments. */
function allowsOutright(seccomp: LinuxSeccomp, name: string): boolean {
  return rulesFor(seccomp, name).some((s) => s.action === "SCMP_ACT_ALLOW" && !s.args?.length);
}

/** Some rule can let the call through (possibly only for some arguments). */
function allowsSometimes(seccomp: LinuxSeccomp, name: string): boolean {
  return rulesFor(seccomp, name).some((s) => s.action === "SCMP_ACT_ALLOW");
}

const dflt = (extra: { caps?: string[]; arch?: string; kernel?: string } = {}) =>
  resolveDockerDefault({
    capabilities: [...DOCKER_DEFAULT_CAPS, ...(extra.caps ?? [])],
    arch: extra.arch ?? "amd64",
    kernel: extra.kernel ?? "6.8.0-45-generic",
  });

test("default action is ERRNO(EPERM)", () => {
  assert.equal(DOCKER_DEFAULT_PROFILE.defaultAction, "SCMP_ACT_ERRNO");
  assert.equal(DOCKER_DEFAULT_PROFILE.defaultErrnoRet, 1);
  const s = dflt();
  assert.equal(s.defaultAction, "SCMP_ACT_ERRNO");
  assert.equal(s.defaultErrnoRet, 1);
});

test("profile shape matches the transcribed upstream version", () => {
  assert.equal(DOCKER_DEFAULT_PROFILE.rules.length, 31);
  const always = DOCKER_DEFAULT_PROFILE.rules[0]!;
  assert.equal(always.includes, undefined);
  assert.equal(always.excludes, undefined);
  assert.equal(always.names.length, 361);
  assert.equal(new Set(always.names).size, always.names.length, "no duplicate names");
  const personalities = DOCKER_DEFAULT_PROFILE.rules
    .filter((r) => r.names.includes("personality"))
    .map((r) => r.args?.[0]?.value);
  assert.deepEqual(personalities, [0, 8, 131072, 131080, 4294967295]);
});

test("default capabilities: everyday syscalls are allowed", () => {
  const s = dflt();
  for (const name of ["read", "write", "execve", "openat", "mmap", "futex", "chroot", "exit_group"]) {
    assert.ok(allowsOutright(s, name), `${name} should be allowed`);
  }
});

test("default capabilities: socket is allowed except AF_VSOCK", () => {
  const rules = rulesFor(dflt(), "socket");
  assert.equal(rules.length, 1);
  assert.equal(rules[0]!.action, "SCMP_ACT_ALLOW");
  assert.deepEqual(rules[0]!.args, [{ index: 0, value: 40, op: "SCMP_CMP_NE" }]);
});

test("default capabilities: clone only without namespace flags, clone3 gets ENOSYS", () => {
  const s = dflt();
  assert.ok(!allowsOutright(s, "clone"));
  const clone = rulesFor(s, "clone");
  assert.equal(clone.length, 1);
  assert.equal(clone[0]!.action, "SCMP_ACT_ALLOW");
  assert.equal(clone[0]!.args?.length, 1);
  const arg = clone[0]!.args![0]!;
  assert.equal(arg.index, 0);
  assert.equal(arg.value, CLONE_NAMESPACE_MASK);
  assert.equal(arg.valueTwo ?? 0, 0);
  assert.equal(arg.op, "SCMP_CMP_MASKED_EQ");

  const clone3 = rulesFor(s, "clone3");
  assert.deepEqual(clone3, [{ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 }]);
});

test("default capabilities: privileged syscalls are denied", () => {
  const s = dflt();
  const denied = [
    "mount", "umount", "umount2", "unshare", "setns", "pivot_root", "keyctl", "add_key", "request_key",
    "reboot", "open_by_handle_at", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "settimeofday", "clock_settime", "stime", "bpf", "perf_event_open", "swapon",
    "swapoff", "acct", "quotactl", "syslog", "iopl", "ioperm", "vhangup", "kcmp", "lsm_list_modules",
    "userfaultfd", "io_uring_setup", "mbind", "fsopen", "open_tree", "sethostname",
  ];
  for (const name of denied) assert.ok(!allowsSometimes(s, name), `${name} should be denied`);
});

test("ptrace and process_vm_* follow the 4.8 kernel condition", () => {
  for (const kernel of ["4.8.0", "5.15.0-1-amd64", "6.8.0-45-generic", "10.0"]) {
    const s = dflt({ kernel });
    for (const name of ["ptrace", "process_vm_readv", "process_vm_writev"]) {
      assert.ok(allowsOutright(s, name), `${name} on ${kernel}`);
    }
  }
  for (const kernel of ["4.4.0-210-generic", "3.10.0-1160.el7.x86_64", "4.7"]) {
    assert.ok(!allowsSometimes(dflt({ kernel }), "ptrace"), `ptrace on ${kernel}`);
  }
  // CAP_SYS_PTRACE grants them regardless of the kernel.
  assert.ok(allowsOutright(dflt({ kernel: "4.4.0", caps: ["CAP_SYS_PTRACE"] }), "ptrace"));
});

test("CAP_SYS_ADMIN unlocks namespace and mount syscalls, and plain clone/clone3", () => {
  const s = dflt({ caps: ["CAP_SYS_ADMIN"] });
  for (const name of ["mount", "umount", "umount2", "unshare", "setns", "clone", "clone3", "bpf", "perf_event_open"]) {
    assert.ok(allowsOutright(s, name), `${name} should be allowed with CAP_SYS_ADMIN`);
  }
  assert.ok(!rulesFor(s, "clone").some((r) => r.args?.length), "no masked clone rule");
  assert.ok(!rulesFor(s, "clone3").some((r) => r.action === "SCMP_ACT_ERRNO"), "no ENOSYS clone3 rule");
});

test("each capability gate opens its own syscalls only", () => {
  const gates: [string, string[]][] = [
    ["CAP_DAC_READ_SEARCH", ["open_by_handle_at"]],
    ["CAP_SYS_BOOT", ["reboot"]],
    ["CAP_SYS_MODULE", ["init_module", "finit_module", "delete_module"]],
    ["CAP_SYS_PACCT", ["acct"]],
    ["CAP_SYS_PTRACE", ["kcmp", "pidfd_getfd", "process_madvise"]],
    ["CAP_SYS_RAWIO", ["iopl", "ioperm"]],
    ["CAP_SYS_TIME", ["settimeofday", "stime", "clock_settime", "clock_settime64"]],
    ["CAP_SYS_TTY_CONFIG", ["vhangup"]],
    ["CAP_SYS_NICE", ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]],
    ["CAP_SYSLOG", ["syslog"]],
    ["CAP_BPF", ["bpf"]],
    ["CAP_PERFMON", ["perf_event_open"]],
  ];
  for (const [cap, names] of gates) {
    const s = dflt({ caps: [cap] });
    for (const name of names) assert.ok(allowsOutright(s, name), `${name} with ${cap}`);
    assert.ok(!allowsSometimes(s, "mount"), `mount stays denied with ${cap}`);
  }
  // chroot comes with Docker's default set; dropping CAP_SYS_CHROOT takes it away.
  const noChroot = resolveDockerDefault({
    capabilities: DOCKER_DEFAULT_CAPS.filter((c) => c !== "CAP_SYS_CHROOT"),
    arch: "amd64",
    kernel: "6.1",
  });
  assert.ok(!allowsSometimes(noChroot, "chroot"));
});

test("architectures come from the archMap entry of the native arch", () => {
  assert.deepEqual(dflt().architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
  assert.deepEqual(dflt({ arch: "arm64" }).architectures, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
  assert.deepEqual(dflt({ arch: "s390x" }).architectures, ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"]);
  assert.deepEqual(dflt({ arch: "riscv64" }).architectures, ["SCMP_ARCH_RISCV64"]);
  // Arches without an archMap entry get no list, as with Docker.
  assert.equal(dflt({ arch: "ppc64le" }).architectures, undefined);
  assert.equal(dflt({ arch: "386" }).architectures, undefined);
  if (process.arch === "x64") {
    const host = resolveDockerDefault({ capabilities: DOCKER_DEFAULT_CAPS, kernel: "6.8" });
    assert.deepEqual(host.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
  }
});

test("arch-specific rules", () => {
  const amd64 = dflt();
  assert.ok(allowsOutright(amd64, "arch_prctl"));
  assert.ok(allowsOutright(amd64, "modify_ldt"));
  assert.ok(!allowsSometimes(amd64, "cacheflush"));
  assert.ok(!allowsSometimes(amd64, "s390_runtime_instr"));

  const arm64 = dflt({ arch: "arm64" });
  assert.ok(allowsOutright(arm64, "cacheflush"));
  assert.ok(allowsOutright(arm64, "set_tls"));
  assert.ok(!allowsSometimes(arm64, "arch_prctl"));
  assert.ok(!allowsSometimes(arm64, "modify_ldt"));

  // GOARCH "386" is libseccomp's "x86".
  const x86 = dflt({ arch: "386" });
  assert.ok(allowsOutright(x86, "modify_ldt"));
  assert.ok(!allowsSometimes(x86, "arch_prctl"));

  assert.ok(allowsOutright(dflt({ arch: "ppc64le" }), "swapcontext"));
  assert.ok(allowsOutright(dflt({ arch: "riscv64" }), "riscv_flush_icache"));

  // s390 passes clone's flags as the second argument.
  const s390x = dflt({ arch: "s390x" });
  assert.ok(allowsOutright(s390x, "s390_pci_mmio_read"));
  const clone = rulesFor(s390x, "clone");
  assert.equal(clone.length, 1);
  assert.equal(clone[0]!.args?.[0]?.index, 1);
  assert.equal(clone[0]!.args?.[0]?.value, CLONE_NAMESPACE_MASK);
});

test("kernel: defaults to the host release, rejects garbage", () => {
  assert.doesNotThrow(() => resolveDockerDefault({ capabilities: DOCKER_DEFAULT_CAPS, arch: "amd64" }));
  assert.throws(
    () => resolveDockerDefault({ capabilities: [], arch: "amd64", kernel: "not-a-kernel" }),
    (err: unknown) => HakoError.is(err) && err.code === "ERR_INVALID_ARGUMENT",
  );
});

test("results are shared per input and frozen; the shared profile is immutable", () => {
  const a = dflt();
  // One object per capability set, arch and kernel: the plans made from it are reused by every start.
  assert.equal(dflt(), a);
  assert.throws(() => a.syscalls![0]!.names.push("kexec_load"));
  assert.throws(() => a.architectures!.pop());
  const b = dflt();
  assert.ok(!allowsSometimes(b, "kexec_load"));
  assert.equal(b.architectures!.length, 3);
  assert.ok(Object.isFrozen(DOCKER_DEFAULT_PROFILE));
  assert.ok(Object.isFrozen(DOCKER_DEFAULT_PROFILE.rules[0]!.names));
  assert.throws(() => {
    (DOCKER_DEFAULT_PROFILE.rules[0]!.names as string[]).push("mount");
  });
});
