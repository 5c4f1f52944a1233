/**
 * CgroupV2 against a fake unified hierarchy in a temp dir. A plain directory
 * does not grow control files on mkdir as cgroupfs does, so `kernelDir`
 * plays the kernel's part: it makes a cgroup directory with the files a new
 * cgroup would have, before the driver runs.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CgroupV2, blkioWeightToIoWeight, sharesToWeight, swapToV2 } from "../../src/cgroups/v2.ts";
import { cgroupPathFor, detectCgroupVersion, openCgroup } from "../../src/cgroups/open.ts";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../../src/common/errors.ts";
import type { LinuxResources } from "../../src/spec/oci-runtime.ts";

const ALL = "cpuset cpu io memory hugetlb pids";
const trees: string[] = [];

after(() => {
  for (const t of trees) rmSync(t, { recursive: true, force: true });
});

function fakeRoot(controllers = ALL): string {
  const root = mkdtempSync(join(tmpdir(), "hako-cg2-"));
  trees.push(root);
  writeFileSync(join(root, "cgroup.controllers"), `${controllers}\n`);
  writeFileSync(join(root, "cgroup.subtree_control"), "");
  writeFileSync(join(root, "cgroup.procs"), "1\n");
  return root;
}

/** What the kernel creates in a new cgroup; `controllers` is what its parent enabled. */
function kernelDir(root: string, path: string, controllers = ALL, extra: Record<string, string> = {}): string {
  const dir = join(root, path);
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {
    "cgroup.controllers": `${controllers}\n`,
    "cgroup.subtree_control": "",
    "cgroup.procs": "",
    "cgroup.freeze": "0\n",
    "memory.max": "max\n",
    "memory.swap.max": "max\n",
    "cpu.weight": "100\n",
    "cpu.max": "max 100000\n",
    "pids.max": "max\n",
    ...extra,
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const read = (file: string) => readFileSync(file, "utf8");

describe("cgroup v2 conversions", () => {
  it("maps cpu shares to weight as crun does", () => {
    assert.equal(sharesToWeight(1024), 39);
    assert.equal(sharesToWeight(2), 1);
    assert.equal(sharesToWeight(512), 20);
    assert.equal(sharesToWeight(262144), 10000);
    assert.equal(sharesToWeight(1), 1, "clamped to the v1 minimum");
  });

  it("maps blkio weight to io.weight as runc does", () => {
    assert.equal(blkioWeightToIoWeight(10), 1);
    assert.equal(blkioWeightToIoWeight(500), 4950);
    assert.equal(blkioWeightToIoWeight(1000), 10000);
  });

  it("turns OCI memory+swap into swap alone", () => {
    assert.equal(swapToV2(128 << 20, 64 << 20), String(64 << 20));
    assert.equal(swapToV2(64 << 20, 64 << 20), "0");
    assert.equal(swapToV2(-1, 64 << 20), "max");
    assert.equal(swapToV2(undefined, -1), "max");
    assert.equal(swapToV2(undefined, 64 << 20), undefined);
    assert.throws(() => swapToV2(32 << 20, 64 << 20), InvalidArgumentError);
    assert.throws(() => swapToV2(32 << 20, undefined), InvalidArgumentError);
  });
});

describe("CgroupV2 create", () => {
  it("enables controllers down the path and writes every limit", () => {
    const root = fakeRoot();
    kernelDir(root, "hako");
    const dir = kernelDir(root, "hako/abc");
    const cg = new CgroupV2("/hako/abc", { root });
    cg.create({
      memory: { limit: 64 << 20, swap: 128 << 20, reservation: 32 << 20, swappiness: 10, kernel: 1 << 20 },
      cpu: { shares: 1024, quota: 50000, period: 100000, burst: 1000, cpus: "0-1", mems: "0", idle: 0 },
      pids: { limit: 32 },
      blockIO: {
        weight: 500,
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }, { major: 8, minor: 16, rate: 0 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
      },
      hugepageLimits: [{ pageSize: "2MB", limit: 1 << 30 }],
      unified: { "memory.high": "50000000" },
      devices: [{ allow: false, access: "rwm" }],
    });

    const enabled = "+cpuset +cpu +io +memory +hugetlb +pids";
    assert.equal(read(join(root, "cgroup.subtree_control")), enabled);
    assert.equal(read(join(root, "hako/cgroup.subtree_control")), enabled);
    assert.equal(read(join(dir, "cgroup.subtree_control")), "", "the leaf keeps processes, so no controllers below it");
    assert.equal(read(join(dir, "memory.max")), "67108864");
    assert.equal(read(join(dir, "memory.swap.max")), "67108864");
    assert.equal(read(join(dir, "memory.low")), "33554432");
    assert.equal(read(join(dir, "cpu.weight")), "39");
    assert.equal(read(join(dir, "cpu.max")), "50000 100000");
    assert.equal(read(join(dir, "cpu.max.burst")), "1000");
    assert.equal(read(join(dir, "cpu.idle")), "0");
    assert.equal(read(join(dir, "cpuset.cpus")), "0-1");
    assert.equal(read(join(dir, "cpuset.mems")), "0");
    assert.equal(read(join(dir, "pids.max")), "32");
    assert.equal(read(join(dir, "io.weight")), "4950");
    assert.equal(read(join(dir, "io.max")), "8:0 rbps=1048576 wiops=100\n8:16 rbps=max\n");
    assert.equal(read(join(dir, "hugetlb.2MB.max")), "1073741824");
    assert.equal(read(join(dir, "memory.high")), "50000000");
    assert.equal(existsSync(join(dir, "memory.swappiness")), false, "v2 has no swappiness file");
    assert.equal(existsSync(join(dir, "devices.deny")), false, "device rules need BPF on v2 (TODO #2)");
    assert.deepEqual(cg.procsFiles(), [join(dir, "cgroup.procs")]);
    assert.equal(cg.exists(), true);
  });

  it("enables only what the parent offers and what is not enabled yet", () => {
    const root = fakeRoot();
    writeFileSync(join(root, "cgroup.subtree_control"), "cpu memory\n");
    kernelDir(root, "hako", "cpu memory pids");
    kernelDir(root, "hako/abc", "cpu memory pids");
    new CgroupV2("/hako/abc", { root }).create();
    assert.equal(read(join(root, "cgroup.subtree_control")), "+cpuset +io +hugetlb +pids");
    assert.equal(read(join(root, "hako/cgroup.subtree_control")), "+cpu +memory +pids");
  });

  it("writes max for unlimited values", () => {
    const root = fakeRoot();
    const dir = kernelDir(root, "x");
    new CgroupV2("/x", { root }).create({ memory: { limit: -1 }, cpu: { quota: -1, period: 100000 }, pids: { limit: 0 } });
    assert.equal(read(join(dir, "memory.max")), "max");
    assert.equal(read(join(dir, "memory.swap.max")), "max");
    assert.equal(read(join(dir, "cpu.max")), "max 100000");
    assert.equal(read(join(dir, "pids.max")), "max");
  });

  it("uses io.bfq.weight unconverted when BFQ is the scheduler", () => {
    const root = fakeRoot();
    const dir = kernelDir(root, "x", ALL, { "io.bfq.weight": "default 100\n" });
    const cg = new CgroupV2("/x", { root });
    cg.create({ blockIO: { weight: 500 } });
    assert.equal(read(join(dir, "io.bfq.weight")), "500");
    writeFileSync(join(dir, "io.bfq.weight"), "");
    cg.update({ blockIO: { weightDevice: [{ major: 8, minor: 0, weight: 200 }] } });
    assert.equal(read(join(dir, "io.bfq.weight")), "8:0 200\n");
    assert.equal(existsSync(join(dir, "io.weight")), false);
  });

  it("rejects bad requests before creating anything", () => {
    const root = fakeRoot();
    const bad: LinuxResources[] = [
      { memory: { limit: 64 << 20, swap: 32 << 20 } },
      { memory: { swap: 32 << 20 } },
      { cpu: { realtimeRuntime: 1000 } },
      { network: { classID: 1 } },
      { unified: { "../escape": "1" } },
      { unified: { "sub/memory.max": "1" } },
      { hugepageLimits: [{ pageSize: "2MB/../x", limit: 1 }] },
    ];
    for (const resources of bad) {
      assert.throws(() => new CgroupV2("/hako/bad", { root }).create(resources), InvalidArgumentError, JSON.stringify(resources));
      assert.equal(existsSync(join(root, "hako")), false, JSON.stringify(resources));
    }
  });

  it("removes the directories it made when applying fails", () => {
    const root = fakeRoot();
    rmSync(join(root, "cgroup.subtree_control"));
    mkdirSync(join(root, "cgroup.subtree_control")); // writing it now fails with EISDIR
    assert.throws(() => new CgroupV2("/hako/abc", { root }).create(), /cgroup\.subtree_control: EISDIR/);
    assert.equal(existsSync(join(root, "hako")), false);
  });

  it("resolves a relative path below the caller's own cgroup", () => {
    const root = fakeRoot();
    const cg = new CgroupV2("testdir/x", { root, selfCgroup: "0::/user.slice/me\n" });
    assert.equal(cg.path, "/user.slice/me/testdir/x");
    assert.equal(cg.dir(), join(root, "user.slice/me/testdir/x"));
  });

  it("refuses paths with .. and update of a missing cgroup", () => {
    const root = fakeRoot();
    assert.throws(() => new CgroupV2("/hako/../etc", { root }), InvalidArgumentError);
    assert.throws(() => new CgroupV2("/hako/none", { root }).update({ pids: { limit: 1 } }), NotFoundError);
    assert.throws(() => new CgroupV2("x", { root, selfCgroup: "1:cpu:/\n" }), FailedPreconditionError);
  });
});

describe("CgroupV2 stats, pids, freeze, destroy", () => {
  it("parses the kernel's stat files", () => {
    const root = fakeRoot();
    const dir = kernelDir(root, "s", ALL, {
      "memory.current": "1048576\n",
      "memory.peak": "2097152\n",
      "memory.max": "67108864\n",
      "memory.stat": "anon 4096\nfile 8192\nkernel 1024\n",
      "memory.events": "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\noom_group_kill 0\n",
      "cpu.stat":
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 3\nthrottled_usec 250\nnr_bursts 0\nburst_usec 0\n",
      "pids.current": "3\n",
      "pids.max": "max\n",
      "io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n259:0 rbytes=1 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
    });
    assert.ok(dir);
    const stats = new CgroupV2("/s", { root }).stats();
    assert.deepEqual(stats.memory, {
      usage: 1048576,
      maxUsage: 2097152,
      limit: 67108864,
      stat: { anon: 4096, file: 8192, kernel: 1024 },
      oomKills: 1,
      failcnt: 7,
    });
    assert.deepEqual(stats.cpu, {
      usageTotal: 1_500_000,
      usagePerCpu: [],
      usageUser: 1_000_000,
      usageSystem: 500_000,
      throttling: { periods: 10, throttledPeriods: 3, throttledTime: 250_000 },
    });
    assert.deepEqual(stats.pids, { current: 3, limit: 0 });
    assert.deepEqual(stats.blkio.ioServiceBytesRecursive, [
      { major: 8, minor: 0, op: "read", value: 4096 },
      { major: 8, minor: 0, op: "write", value: 8192 },
      { major: 259, minor: 0, op: "read", value: 1 },
      { major: 259, minor: 0, op: "write", value: 0 },
    ]);
    assert.deepEqual(stats.blkio.ioServicedRecursive[1], { major: 8, minor: 0, op: "write", value: 2 });
    assert.equal(new CgroupV2("/s", { root }).oomKillCount(), 1);
  });

  it("reports 0 for a missing memory.peak and an unlimited memory.max", () => {
    const root = fakeRoot();
    kernelDir(root, "s");
    const stats = new CgroupV2("/s", { root }).stats();
    assert.equal(stats.memory.maxUsage, 0);
    assert.equal(stats.memory.limit, 0);
  });

  it("lists pids of the cgroup and its sub-cgroups", () => {
    const root = fakeRoot();
    kernelDir(root, "p", ALL, { "cgroup.procs": "12\n13\n" });
    kernelDir(root, "p/child", ALL, { "cgroup.procs": "14\n" });
    assert.deepEqual(new CgroupV2("/p", { root }).pids().sort(), [12, 13, 14]);
  });

  it("freezes and thaws through cgroup.freeze", () => {
    const root = fakeRoot();
    const dir = kernelDir(root, "f");
    const cg = new CgroupV2("/f", { root });
    cg.freeze();
    assert.equal(read(join(dir, "cgroup.freeze")), "1");
    cg.thaw();
    assert.equal(read(join(dir, "cgroup.freeze")), "0");
  });

  it("waits for cgroup.events to confirm the freeze", () => {
    const root = fakeRoot();
    kernelDir(root, "f", ALL, { "cgroup.events": "populated 1\nfrozen 1\n" });
    new CgroupV2("/f", { root }).freeze(); // returns at once: the kernel already says frozen
  });

  it("destroys the cgroup and its sub-cgroups, not its parent", () => {
    const root = fakeRoot();
    kernelDir(root, "hako");
    kernelDir(root, "hako/abc");
    kernelDir(root, "hako/abc/sub");
    const cg = new CgroupV2("/hako/abc", { root });
    cg.destroy();
    assert.equal(existsSync(join(root, "hako/abc")), false);
    assert.equal(existsSync(join(root, "hako")), true);
    assert.equal(cg.exists(), false);
    cg.destroy(); // idempotent
  });
});

describe("open", () => {
  it("detects a pure unified mount as v2 and opens the v2 driver", () => {
    const root = fakeRoot();
    assert.equal(detectCgroupVersion(root), 2);
    const cg = openCgroup("/hako/x", { root });
    assert.equal(cg.version, 2);
    assert.ok(cg instanceof CgroupV2);
  });

  it("names a container's cgroup", () => {
    assert.equal(cgroupPathFor("abc"), "/hako/abc");
    assert.equal(cgroupPathFor("abc", "/custom/path"), "/custom/path");
    assert.throws(() => cgroupPathFor("../x"), InvalidArgumentError);
  });
});
