/**
 * What an unprivileged (Docker-default) container cannot do: /proc and /sys
 * protections, capability masks, seccomp denials, and what privileged gets.
 */
import assert from "node:assert/strict";
import { readlinkSync } from "node:fs";
import { describe, test } from "node:test";
import { hostCapabilities, capabilityMask } from "../../src/runtime/capabilities.ts";
import { resolveDockerDefault } from "../../src/runtime/seccomp-default.ts";
import { bundleForSuite, dockerLikeSpec, isRoot, uniqueId } from "../helpers/bundle.ts";

const skip = isRoot ? false : "needs root (real namespaces)";

describe("runtime: security", { skip }, () => {
  const b = bundleForSuite();

  test("Docker's default capabilities: CapEff 00000000a80425fb", () => {
    const r = b.run(["grep", "^Cap", "/proc/self/status"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /CapEff:\s+00000000a80425fb/);
    assert.match(r.stdout, /CapBnd:\s+00000000a80425fb/);
    assert.match(r.stdout, /CapInh:\s+0000000000000000/);
  });

  test("date -s is refused: Operation not permitted", () => {
    const before = Date.now();
    const r = b.run(["date", "-s", "2006-10-10 18:00:00"]);
    // busybox reports the failure and still prints the date it would have set (the seed shows the same)
    assert.match(r.stderr, /can't set date: Operation not permitted/);
    assert.ok(Math.abs(Date.now() - before) < 60_000, "the host clock did not move");
  });

  test("privileged gets every capability the host has", () => {
    const all = hostCapabilities();
    const r = b.run(["grep", "^CapEff", "/proc/self/status"], (s) => {
      s.process!.capabilities = { bounding: all, effective: all, permitted: all, inheritable: all };
      delete s.linux!.seccomp;
      s.linux!.maskedPaths = [];
      s.linux!.readonlyPaths = [];
    });
    assert.equal(r.status, 0, r.stderr);
    const want = capabilityMask(all).toString(16).padStart(16, "0");
    assert.match(r.stdout, new RegExp(`CapEff:\\s+${want}`));
  });

  test("/proc files cannot be removed; masked paths read empty; /proc/sys is read-only", () => {
    const r = b.run([
      "sh",
      "-c",
      [
        "rm -f /proc/meminfo 2>&1; echo rm=$?",
        "wc -c < /proc/kcore",
        "cat /proc/keys | wc -c",
        "ls /sys/firmware | wc -l",
        "echo 1 > /proc/sys/kernel/panic 2>&1; echo sys=$?",
        "echo b > /proc/sysrq-trigger 2>&1; echo sysrq=$?",
        "touch /proc/irq/x 2>&1; echo irq=$?",
      ].join("; "),
    ]);
    const out = r.stdout + r.stderr;
    assert.match(out, /rm=1/);
    assert.match(out, /^0$/m); // kcore and keys masked by /dev/null
    assert.match(out, /sys=1/);
    assert.match(out, /sysrq=1/);
    assert.match(out, /irq=1/);
    assert.match(out, /Read-only file system/);
  });

  test("cgroup v1 release_agent is out of reach; the cgroup mount is read-only", () => {
    const r = b.run(["sh", "-c", "find /sys/fs/cgroup -name release_agent | wc -l; ls /sys/fs/cgroup; touch /sys/fs/cgroup/x 2>&1; echo t=$?; echo 1 > /sys/fs/cgroup/memory/notify_on_release 2>&1; echo n=$?"]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines[0], "0");
    assert.ok(lines.includes("memory"), r.stdout);
    assert.match(r.stdout, /t=1/);
    assert.match(r.stdout, /n=1/);
  });

  test("seccomp: Docker's default profile denies unshare, mount, keyctl, reboot even with CAP_SYS_ADMIN", () => {
    const caps = ["CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SETUID", "CAP_SETGID"];
    const r = b.run(
      ["sh", "-c", "unshare -m true 2>&1; echo unshare=$?; mount -t tmpfs none /mnt 2>&1; echo mount=$?; reboot -f 2>&1; echo reboot=$?"],
      (s) => {
        s.process!.capabilities = { bounding: caps, effective: caps, permitted: caps };
        // The profile Docker gives a container with its default capabilities.
        s.linux!.seccomp = resolveDockerDefault({ capabilities: ["CAP_CHOWN", "CAP_SETUID", "CAP_SETGID"], arch: "amd64" });
      },
    );
    assert.match(r.stdout, /unshare=1/);
    assert.match(r.stdout, /mount=\d*[1-9]/);
    assert.match(r.stdout, /Operation not permitted/);
    assert.doesNotMatch(r.stdout, /reboot=0/);
  });

  test("seccomp: a custom profile with an errno and an argument condition", () => {
    const r = b.run(["sh", "-c", "mkdir /tmp/x 2>&1; echo mkdir=$?; ls / > /dev/null; echo ls=$?"], (s) => {
      s.linux!.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        syscalls: [
          { names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
          // personality(0xffffffff) queries; denying only another value must not break anything
          { names: ["personality"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 8, op: "SCMP_CMP_EQ" }] },
        ],
      };
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Permission denied/);
    assert.match(r.stdout, /mkdir=1/);
    assert.match(r.stdout, /ls=0/);
  });

  test("no_new_privileges is applied", () => {
    const on = b.run(["grep", "NoNewPrivs", "/proc/self/status"], (s) => (s.process!.noNewPrivileges = true));
    assert.match(on.stdout, /NoNewPrivs:\s+1/);
    const off = b.run(["grep", "NoNewPrivs", "/proc/self/status"]);
    assert.match(off.stdout, /NoNewPrivs:\s+0/);
  });

  test("rlimits are applied", () => {
    const r = b.run(["sh", "-c", "ulimit -n; ulimit -Hn"], (s) => {
      s.process!.rlimits = [{ type: "RLIMIT_NOFILE", soft: 321, hard: 654 }];
    });
    assert.equal(r.stdout.trim(), "321\n654");
  });

  test("no host block devices; the standard nodes exist", () => {
    const r = b.run(["sh", "-c", "ls /dev; ls -l /dev/null /dev/ptmx"]);
    assert.equal(r.status, 0, r.stderr);
    for (const node of ["null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue", "fd", "stdin"]) {
      assert.match(r.stdout, new RegExp(`^${node}$`, "m"), `missing /dev/${node}`);
    }
    assert.doesNotMatch(r.stdout, /^(sda|vda|nvme|loop)/m);
    assert.match(r.stdout, /crw-rw-rw-\s+1 root\s+root\s+1,\s+3 .* \/dev\/null/);
    assert.match(r.stdout, /\/dev\/ptmx -> pts\/ptmx/);
  });

  test("the helper the container runs from is a sealed copy, never the host binary", () => {
    // While the init waits in create, its /proc/<pid>/exe is the helper: it must be a memfd.
    const id = uniqueId("seal");
    b.writeConfig(dockerLikeSpec(["true"], id));
    const created = b.runtimeDetached(["create", "--bundle", b.dir, id]);
    assert.equal(created.status, 0, created.stderr);
    try {
      const state = JSON.parse(b.runtime(["state", id]).stdout) as { pid: number };
      const exe = readlinkSync(`/proc/${state.pid}/exe`);
      assert.match(exe, /^\/memfd:hako-shim/);
    } finally {
      b.runtime(["delete", "--force", id]);
    }
  });
});
