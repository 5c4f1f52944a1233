/**
 * cgroup limits as a container feels them: the OOM killer, CPU quota and
 * cpuset seen from inside, a pids limit against a fork bomb, statistics,
 * and nothing left behind after delete.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { describe, test } from "node:test";
import { openCgroup } from "../../src/cgroups/open.ts";
import { processStartTime } from "../../src/runtime/state.ts";
import { bundleForSuite, dockerLikeSpec, hostMountsMentioning, isRoot, uniqueId, waitFor } from "../helpers/bundle.ts";

const v1 = existsSync("/sys/fs/cgroup/memory/memory.limit_in_bytes");
const skip = !isRoot ? "needs root (real cgroups)" : !v1 ? "these checks read cgroup v1 files" : false;

describe("runtime: resources", { skip }, () => {
  const b = bundleForSuite();

  test("a memory limit ends in an OOM kill: exit 137, reported", () => {
    const r = b.run(["sh", "-c", "head -c 200m /dev/zero | tail"], (s) => {
      s.linux!.resources!.memory = { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 };
    });
    assert.equal(r.status, 137, r.stderr);
    assert.match(r.stderr, /OOM/);
  });

  test("cpu quota, shares and cpuset are visible in the container's cgroup", () => {
    const r = b.run(
      ["sh", "-c", "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpuset/cpuset.cpus /sys/fs/cgroup/memory/memory.limit_in_bytes"],
      (s) => {
        s.linux!.resources!.cpu = { quota: 20000, period: 100000, shares: 512, cpus: "0" };
        s.linux!.resources!.memory = { limit: 64 * 1024 * 1024 };
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["20000", "100000", "512", "0", String(64 * 1024 * 1024)]);
  });

  test("a pids limit stops a fork bomb", () => {
    const r = b.run(
      // The bomb's shell dies when fork fails; the outer shell then reads the count without forking.
      ["sh", "-c", "sh -c 'while true; do sleep 30 & done'; echo bomb=$?; read n < /sys/fs/cgroup/pids/pids.current; echo $n"],
      (s) => {
        s.linux!.resources!.pids = { limit: 16 };
      },
      { timeout: 20_000 },
    );
    const [bomb, current] = r.stdout.trim().split("\n");
    assert.equal(bomb, "bomb=2", r.stdout + r.stderr);
    assert.ok(Number(current) <= 16, `pids.current ${current}`);
    assert.match(r.stderr, /can't fork|Resource temporarily unavailable/);
  });

  test("statistics are readable while it runs; delete removes cgroup, mounts and processes", async () => {
    const id = uniqueId("stats");
    const spec = dockerLikeSpec(["sh", "-c", "head -c 20m /dev/zero > /dev/shm/x; sleep 60"], id);
    spec.linux!.resources!.memory = { limit: 128 * 1024 * 1024 };
    spec.linux!.resources!.pids = { limit: 50 };
    b.writeConfig(spec);
    const created = b.runtimeDetached(["create", "--bundle", b.dir, id]);
    assert.equal(created.status, 0, created.stderr);
    assert.equal(b.runtimeDetached(["start", id]).status, 0);
    const cgroup = openCgroup(spec.linux!.cgroupsPath!);
    const pid = (JSON.parse(b.runtime(["state", id]).stdout) as { pid: number }).pid;
    try {
      await waitFor(() => cgroup.stats().memory.usage > 20 * 1024 * 1024, 10_000, "memory usage");
      const stats = cgroup.stats();
      assert.equal(stats.memory.limit, 128 * 1024 * 1024);
      assert.ok(stats.pids.current >= 1);
      assert.equal(stats.pids.limit, 50);
      assert.ok(stats.cpu.usageTotal > 0);
      const ps = b.runtime(["ps", "--format", "json", id]);
      assert.deepEqual(JSON.parse(ps.stdout), [pid]);
    } finally {
      const del = b.runtime(["delete", "--force", id]);
      assert.equal(del.status, 0, del.stderr);
    }
    assert.equal(cgroup.exists(), false);
    for (const h of readdirSync("/sys/fs/cgroup")) {
      assert.equal(existsSync(`/sys/fs/cgroup/${h}${spec.linux!.cgroupsPath!}`), false, `cgroup left in ${h}`);
    }
    // Gone, or a zombie waiting for its reaper (after create, the host's init is its parent).
    assert.equal(processStartTime(pid), 0, "the container's init is gone");
    assert.deepEqual(hostMountsMentioning(b.rootfs), []);
    assert.equal(existsSync(`${b.stateRoot}/${id}`), false, "state removed");
  });
});
