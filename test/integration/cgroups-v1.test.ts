/**
 * CgroupV1 on the real kernel (root, a v1 or hybrid host). Creates
 * /hako-test-<random> in every hierarchy, checks the kernel took the limits,
 * moves a `sleep` child in, and checks that destroy() kills it and leaves no
 * directory behind, in any hierarchy.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { CgroupV1 } from "../../src/cgroups/v1.ts";
import { detectCgroupVersion } from "../../src/cgroups/open.ts";
import { FailedPreconditionError } from "../../src/common/errors.ts";

const ROOT = "/sys/fs/cgroup";
const MiB = 1024 * 1024;

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root";
  if (!existsSync(join(ROOT, "memory"))) return `no cgroup v1 memory hierarchy at ${ROOT}/memory`;
  if (detectCgroupVersion(ROOT) !== 1) return "host is cgroup v2";
  return undefined;
}

/** Where `name` is left at the top of any hierarchy (other suites may run their own hako-test-*). */
function leftovers(name: string): string[] {
  const found: string[] = [];
  for (const mount of readdirSync(ROOT)) {
    const dir = join(ROOT, mount);
    try {
      for (const entry of readdirSync(dir)) if (entry === name) found.push(join(dir, entry));
    } catch {
      // not a directory
    }
  }
  return found;
}

const read = (file: string) => readFileSync(file, "utf8").trim();

describe("CgroupV1 on the real kernel", { skip: skipReason() }, () => {
  const path = `/hako-test-${randomBytes(4).toString("hex")}`;
  const cg = new CgroupV1(path);
  const children: ChildProcess[] = [];

  after(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    cg.destroy();
  });

  it("finds the hierarchies of this host and ignores the cgroup2 one", () => {
    const controllers = cg.hierarchies().flatMap((h) => h.controllers);
    for (const c of ["cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "name=systemd"]) {
      assert.ok(controllers.includes(c), `${c} in ${controllers.join(" ")}`);
    }
    assert.ok(cg.hierarchies().every((h) => !h.mountPoint.endsWith("/unified")));
  });

  it("creates the cgroup with the limits the kernel reads back", () => {
    cg.create({
      memory: { limit: 64 * MiB, swap: 128 * MiB },
      cpu: { quota: 50000, period: 100000, cpus: "0" },
      pids: { limit: 32 },
    });
    for (const file of cg.procsFiles()) assert.ok(existsSync(file), file);
    const dir = (c: string) => cg.hierarchies().find((h) => h.controllers.includes(c))!.dir;
    assert.equal(read(join(dir("memory"), "memory.limit_in_bytes")), String(64 * MiB));
    if (existsSync(join(dir("memory"), "memory.memsw.limit_in_bytes"))) {
      assert.equal(read(join(dir("memory"), "memory.memsw.limit_in_bytes")), String(128 * MiB));
    }
    assert.equal(read(join(dir("cpu"), "cpu.cfs_quota_us")), "50000");
    assert.equal(read(join(dir("cpu"), "cpu.cfs_period_us")), "100000");
    assert.equal(read(join(dir("cpuset"), "cpuset.cpus")), "0");
    assert.notEqual(read(join(dir("cpuset"), "cpuset.mems")), "", "mems copied from the parent");
    assert.equal(read(join(dir("pids"), "pids.max")), "32");
  });

  it("updates memory and swap in both directions (the kernel enforces memsw >= memory)", (t) => {
    const dir = cg.hierarchies().find((h) => h.controllers.includes("memory"))!.dir;
    if (!existsSync(join(dir, "memory.memsw.limit_in_bytes"))) return t.skip("swap accounting is off");
    cg.update({ memory: { limit: 256 * MiB, swap: 512 * MiB } });
    assert.equal(read(join(dir, "memory.limit_in_bytes")), String(256 * MiB));
    assert.equal(read(join(dir, "memory.memsw.limit_in_bytes")), String(512 * MiB));
    cg.update({ memory: { limit: 32 * MiB, swap: 48 * MiB } });
    assert.equal(read(join(dir, "memory.limit_in_bytes")), String(32 * MiB));
    assert.equal(read(join(dir, "memory.memsw.limit_in_bytes")), String(48 * MiB));
    cg.update({ memory: { limit: 64 * MiB, swap: 128 * MiB } });
  });

  it("refuses a hugepage limit without a v1 hugetlb hierarchy", (t) => {
    if (cg.hierarchies().some((h) => h.controllers.includes("hugetlb"))) return t.skip("this host has v1 hugetlb");
    assert.throws(() => cg.update({ hugepageLimits: [{ pageSize: "2MB", limit: 2 * MiB }] }), FailedPreconditionError);
  });

  it("holds a process, reports it, freezes it, and destroy kills it and removes every directory", async () => {
    // The shell waits for a line so that it runs (and allocates) only once inside the cgroup.
    const child = spawn("sh", ["-c", "read line; exec sleep 30"], { stdio: ["pipe", "ignore", "ignore"] });
    children.push(child);
    const pid = child.pid!;
    for (const file of cg.procsFiles()) writeFileSync(file, String(pid));
    child.stdin!.write("go\n");
    for (let i = 0; i < 100 && readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "sleep"; i++) await delay(10);

    assert.ok(cg.pids().includes(pid), `pid ${pid} in ${cg.pids().join(",")}`);
    const stats = cg.stats();
    assert.ok(stats.pids.current >= 1, `pids.current ${stats.pids.current}`);
    assert.equal(stats.pids.limit, 32);
    assert.ok(stats.memory.usage > 0, `memory usage ${stats.memory.usage}`);
    assert.equal(stats.memory.limit, 64 * MiB);

    cg.freeze();
    const freezer = cg.hierarchies().find((h) => h.controllers.includes("freezer"))!.dir;
    assert.equal(read(join(freezer, "freezer.state")), "FROZEN");
    cg.thaw();
    assert.equal(read(join(freezer, "freezer.state")), "THAWED");

    // Frozen again on purpose: destroy must thaw before SIGKILL can land.
    cg.freeze();
    cg.destroy();
    assert.equal(cg.exists(), false);
    for (const h of cg.hierarchies()) assert.equal(existsSync(h.dir), false, h.dir);
    assert.deepEqual(leftovers(path.slice(1)), []);
    const exit = await new Promise<NodeJS.Signals | null>((resolve) => {
      if (child.signalCode !== null) resolve(child.signalCode);
      else child.once("exit", (_code, signal) => resolve(signal));
    });
    assert.equal(exit, "SIGKILL");
  });
});
