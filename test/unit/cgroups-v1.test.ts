/**
 * CgroupV1 against a fake v1 tree in a temp dir, laid out like this
 * project's machine: one mount per controller (cpu and cpuacct apart),
 * name=systemd, and a cgroup2 "unified" mount that the driver must ignore.
 * A fake mountinfo names the mounts; `kernelDir` plays the kernel's part of
 * filling a new cgroup directory with control files.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CgroupV1, deviceRule, discoverV1Mounts, memoryAndSwapWrites } from "../../src/cgroups/v1.ts";
import { detectCgroupVersion, openCgroup } from "../../src/cgroups/open.ts";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../../src/common/errors.ts";

const HIERARCHIES = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd"];
const UNLIMITED = "9223372036854771712";
const trees: string[] = [];

after(() => {
  for (const t of trees) rmSync(t, { recursive: true, force: true });
});

interface Fake {
  root: string;
  mountinfo: string;
}

function fakeTree(): Fake {
  const root = mkdtempSync(join(tmpdir(), "hako-cg1-"));
  trees.push(root);
  const lines = [`31 23 0:28 / ${root} rw,relatime - tmpfs tmpfs rw,mode=755`];
  HIERARCHIES.forEach((name, i) => {
    mkdirSync(join(root, name));
    writeFileSync(join(root, name, "cgroup.procs"), "");
    const opts = name === "systemd" ? "name=systemd" : name;
    lines.push(`${32 + i} 31 0:${29 + i} / ${root}/${name} rw,relatime - cgroup cgroup rw,${opts}`);
  });
  mkdirSync(join(root, "unified"));
  writeFileSync(join(root, "unified", "cgroup.controllers"), "hugetlb\n");
  lines.push(`41 31 0:38 / ${root}/unified rw,relatime - cgroup2 cgroup2 rw`);
  lines.push("22 1 0:21 / /proc rw - proc proc rw");
  writeFileSync(join(root, "cpuset", "cpuset.cpus"), "0-3\n");
  writeFileSync(join(root, "cpuset", "cpuset.mems"), "0\n");
  return { root, mountinfo: `${lines.join("\n")}\n` };
}

/** The control files the kernel puts in a new cgroup of one hierarchy. */
function kernelDir(fake: Fake, hierarchy: string, path: string, files: Record<string, string> = {}): string {
  const dir = join(fake.root, hierarchy, path);
  mkdirSync(dir, { recursive: true });
  const defaults: Record<string, Record<string, string>> = {
    memory: {
      "memory.limit_in_bytes": `${UNLIMITED}\n`,
      "memory.memsw.limit_in_bytes": `${UNLIMITED}\n`,
      "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
    },
    cpu: { "cpu.shares": "1024\n", "cpu.cfs_period_us": "100000\n", "cpu.cfs_quota_us": "-1\n" },
    cpuset: { "cpuset.cpus": "\n", "cpuset.mems": "\n" },
    freezer: { "freezer.state": "THAWED\n" },
    pids: { "pids.max": "max\n", "pids.current": "0\n" },
  };
  for (const [name, text] of Object.entries({ "cgroup.procs": "", ...defaults[hierarchy], ...files })) {
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const read = (file: string) => readFileSync(file, "utf8");

describe("v1 hierarchy discovery", () => {
  it("finds every v1 mount from mountinfo and ignores the cgroup2 one", () => {
    const fake = fakeTree();
    const mounts = discoverV1Mounts(fake.root, fake.mountinfo);
    assert.deepEqual(
      mounts.map((m) => m.controllers.join(",")),
      ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "name=systemd"],
    );
    assert.equal(detectCgroupVersion(fake.root), 1, "hybrid is driven as v1");
  });

  it("handles a combined cpu,cpuacct mount with its symlinks by listing the root", () => {
    const root = mkdtempSync(join(tmpdir(), "hako-cg1-"));
    trees.push(root);
    for (const name of ["cpu,cpuacct", "memory", "systemd"]) {
      mkdirSync(join(root, name));
      writeFileSync(join(root, name, "cgroup.procs"), "");
    }
    symlinkSync("cpu,cpuacct", join(root, "cpu"));
    symlinkSync("cpu,cpuacct", join(root, "cpuacct"));
    const cg = new CgroupV1("/hako/x", { root, mountinfo: "" });
    assert.deepEqual(
      cg.hierarchies().map((h) => h.controllers),
      [["cpu", "cpuacct"], ["memory"], ["name=systemd"]],
    );
    assert.deepEqual(cg.procsFiles(), [
      join(root, "cpu,cpuacct/hako/x/cgroup.procs"),
      join(root, "memory/hako/x/cgroup.procs"),
      join(root, "systemd/hako/x/cgroup.procs"),
    ]);
  });

  it("unescapes mount points and honours a mount root (inside a container)", () => {
    const mounts = discoverV1Mounts(
      "/sys/fs/cgroup",
      "40 31 0:37 /docker/abc /sys/fs/cgroup/cpu\\040x rw - cgroup cgroup rw,cpu,cpuacct\n",
    );
    assert.deepEqual(mounts, [{ controllers: ["cpu", "cpuacct"], mountPoint: "/sys/fs/cgroup/cpu x", mountRoot: "/docker/abc" }]);
  });
});

describe("CgroupV1 create", () => {
  it("creates the cgroup in every hierarchy, name=systemd included", () => {
    const fake = fakeTree();
    const cg = new CgroupV1("/hako/abc", { root: fake.root, mountinfo: fake.mountinfo });
    cg.create();
    for (const h of HIERARCHIES) assert.ok(existsSync(join(fake.root, h, "hako/abc")), h);
    assert.equal(existsSync(join(fake.root, "unified/hako")), false);
    assert.equal(cg.procsFiles().length, HIERARCHIES.length);
    assert.equal(cg.path, "/hako/abc");
    assert.equal(cg.exists(), true);
  });

  it("copies cpuset.cpus and cpuset.mems down every new level before applying its own", () => {
    const fake = fakeTree();
    new CgroupV1("/hako/abc", { root: fake.root, mountinfo: fake.mountinfo }).create({ cpu: { cpus: "1", mems: "0" } });
    assert.equal(read(join(fake.root, "cpuset/hako/cpuset.cpus")), "0-3");
    assert.equal(read(join(fake.root, "cpuset/hako/cpuset.mems")), "0");
    assert.equal(read(join(fake.root, "cpuset/hako/abc/cpuset.cpus")), "1");
    assert.equal(read(join(fake.root, "cpuset/hako/abc/cpuset.mems")), "0");

    // A level the kernel made with empty values (as it does) is filled too.
    kernelDir(fake, "cpuset", "other");
    new CgroupV1("/other/x", { root: fake.root, mountinfo: fake.mountinfo }).create();
    assert.equal(read(join(fake.root, "cpuset/other/cpuset.cpus")), "0-3");
    assert.equal(read(join(fake.root, "cpuset/other/x/cpuset.cpus")), "0-3");
  });

  it("resolves a relative path below the caller's own cgroup in each hierarchy", () => {
    const fake = fakeTree();
    const selfCgroup = "9:name=systemd:/\n4:memory:/process_api/b20a\n3:cpuset:/\n1:cpu:/\n0::/\n";
    const cg = new CgroupV1("testdir/x", { root: fake.root, mountinfo: fake.mountinfo, selfCgroup });
    assert.equal(cg.path, "/process_api/b20a/testdir/x");
    const dirs = Object.fromEntries(cg.hierarchies().map((h) => [h.controllers[0], h.dir]));
    assert.equal(dirs["memory"], join(fake.root, "memory/process_api/b20a/testdir/x"));
    assert.equal(dirs["cpu"], join(fake.root, "cpu/testdir/x"));
    assert.equal(dirs["name=systemd"], join(fake.root, "systemd/testdir/x"));
  });

  it("writes memory limits", () => {
    const fake = fakeTree();
    const dir = kernelDir(fake, "memory", "m");
    new CgroupV1("/m", { root: fake.root, mountinfo: fake.mountinfo }).create({
      memory: { limit: 64 << 20, swap: 128 << 20, reservation: 32 << 20, kernelTCP: 1 << 20, swappiness: 0, disableOOMKiller: true },
    });
    assert.equal(read(join(dir, "memory.limit_in_bytes")), "67108864");
    assert.equal(read(join(dir, "memory.memsw.limit_in_bytes")), "134217728");
    assert.equal(read(join(dir, "memory.soft_limit_in_bytes")), "33554432");
    assert.equal(read(join(dir, "memory.kmem.tcp.limit_in_bytes")), "1048576");
    assert.equal(read(join(dir, "memory.swappiness")), "0");
    assert.equal(read(join(dir, "memory.oom_control")), "1");
  });

  it("skips a kernel memory limit the kernel no longer has, and writes it where it does", () => {
    const fake = fakeTree();
    const without = kernelDir(fake, "memory", "a");
    new CgroupV1("/a", { root: fake.root, mountinfo: fake.mountinfo }).create({ memory: { kernel: 1 << 20 } });
    assert.equal(existsSync(join(without, "memory.kmem.limit_in_bytes")), false);
    const withKmem = kernelDir(fake, "memory", "b", { "memory.kmem.limit_in_bytes": `${UNLIMITED}\n` });
    new CgroupV1("/b", { root: fake.root, mountinfo: fake.mountinfo }).create({ memory: { kernel: 1 << 20 } });
    assert.equal(read(join(withKmem, "memory.kmem.limit_in_bytes")), "1048576");
  });

  it("refuses swap beyond memory when swap accounting is off, and cleans up", () => {
    const fake = fakeTree();
    // No kernelDir: the new directory has no memory.memsw.limit_in_bytes.
    const cg = new CgroupV1("/hako/s", { root: fake.root, mountinfo: fake.mountinfo });
    assert.throws(() => cg.create({ memory: { limit: 64 << 20, swap: 128 << 20 } }), FailedPreconditionError);
    for (const h of HIERARCHIES) assert.equal(existsSync(join(fake.root, h, "hako")), false, h);
    cg.create({ memory: { limit: 64 << 20, swap: 64 << 20 } });
    assert.equal(read(join(fake.root, "memory/hako/s/memory.limit_in_bytes")), "67108864");
    assert.equal(existsSync(join(fake.root, "memory/hako/s/memory.memsw.limit_in_bytes")), false);
  });

  it("writes cpu limits, period before quota", () => {
    const fake = fakeTree();
    const dir = kernelDir(fake, "cpu", "c", { "cpu.cfs_burst_us": "0\n" });
    new CgroupV1("/c", { root: fake.root, mountinfo: fake.mountinfo }).create({
      cpu: { shares: 512, quota: 50000, period: 100000, burst: 10000, realtimePeriod: 1000000, realtimeRuntime: 950000, idle: 1 },
    });
    assert.equal(read(join(dir, "cpu.shares")), "512");
    assert.equal(read(join(dir, "cpu.cfs_period_us")), "100000");
    assert.equal(read(join(dir, "cpu.cfs_quota_us")), "50000");
    assert.equal(read(join(dir, "cpu.cfs_burst_us")), "10000");
    assert.equal(read(join(dir, "cpu.rt_period_us")), "1000000");
    assert.equal(read(join(dir, "cpu.rt_runtime_us")), "950000");
    assert.equal(read(join(dir, "cpu.idle")), "1");

    const noBurst = kernelDir(fake, "cpu", "d");
    new CgroupV1("/d", { root: fake.root, mountinfo: fake.mountinfo }).create({ cpu: { burst: 10000 } });
    assert.equal(existsSync(join(noBurst, "cpu.cfs_burst_us")), false, "burst only where the kernel has it");
  });

  it("writes pids.max, with max for unlimited", () => {
    const fake = fakeTree();
    const cases: [number, string][] = [[32, "32"], [0, "max"], [-1, "max"]];
    for (const [limit, expected] of cases) {
      new CgroupV1("/p", { root: fake.root, mountinfo: fake.mountinfo }).create({ pids: { limit } });
      assert.equal(read(join(fake.root, "pids/p/pids.max")), expected);
    }
  });

  it("writes device rules in order, one per write", () => {
    const fake = fakeTree();
    new CgroupV1("/d", { root: fake.root, mountinfo: fake.mountinfo }).create({
      devices: [
        { allow: false, access: "rwm" },
        { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
        { allow: true, type: "c", major: null, minor: null, access: "m" },
        { allow: true, type: "b", major: 8, access: "r" },
        { allow: false, type: "c", major: 5, minor: 1 },
      ],
    });
    assert.equal(read(join(fake.root, "devices/d/devices.deny")), "a *:* rwm\nc 5:1 rwm\n");
    assert.equal(read(join(fake.root, "devices/d/devices.allow")), "c 1:3 rwm\nc *:* m\nb 8:* r\n");
    assert.throws(() => deviceRule({ allow: true, access: "rwx" }), InvalidArgumentError);
  });

  it("writes block I/O weight to the knob the kernel has, and throttles", () => {
    const fake = fakeTree();
    const dir = kernelDir(fake, "blkio", "b", { "blkio.bfq.weight": "100\n", "blkio.bfq.weight_device": "" });
    new CgroupV1("/b", { root: fake.root, mountinfo: fake.mountinfo }).create({
      blockIO: {
        weight: 300,
        weightDevice: [{ major: 8, minor: 0, weight: 200 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 100 }, { major: 8, minor: 16, rate: 50 }],
      },
    });
    assert.equal(read(join(dir, "blkio.bfq.weight")), "300");
    assert.equal(read(join(dir, "blkio.bfq.weight_device")), "8:0 200\n");
    assert.equal(read(join(dir, "blkio.throttle.read_bps_device")), "8:0 1048576\n");
    assert.equal(read(join(dir, "blkio.throttle.write_iops_device")), "8:0 100\n8:16 50\n");
    assert.equal(existsSync(join(dir, "blkio.weight")), false);
  });

  it("refuses what this host cannot do, before creating anything", () => {
    const fake = fakeTree();
    const cases = [
      { resources: { hugepageLimits: [{ pageSize: "2MB", limit: 1 << 21 }] }, error: FailedPreconditionError },
      { resources: { network: { classID: 0x100001 } }, error: FailedPreconditionError },
      { resources: { network: { priorities: [{ name: "eth0", priority: 1 }] } }, error: FailedPreconditionError },
      { resources: { unified: { "memory.high": "1" } }, error: InvalidArgumentError },
      { resources: { memory: { limit: 64 << 20, swap: 32 << 20 } }, error: InvalidArgumentError },
      { resources: { hugepageLimits: [{ pageSize: "../2MB", limit: 1 }] }, error: InvalidArgumentError },
    ];
    for (const { resources, error } of cases) {
      assert.throws(() => new CgroupV1("/hako/x", { root: fake.root, mountinfo: fake.mountinfo }).create(resources), error);
      assert.equal(existsSync(join(fake.root, "memory/hako")), false, JSON.stringify(resources));
    }
  });

  it("refuses update of a cgroup that does not exist", () => {
    const fake = fakeTree();
    assert.throws(
      () => new CgroupV1("/none", { root: fake.root, mountinfo: fake.mountinfo }).update({ pids: { limit: 1 } }),
      NotFoundError,
    );
  });
});

describe("memoryAndSwapWrites ordering", () => {
  const limit = "memory.limit_in_bytes";
  const memsw = "memory.memsw.limit_in_bytes";
  const MiB = 1 << 20;

  it("raises memsw before memory", () => {
    const writes = memoryAndSwapWrites({ limit: 256 * MiB, swap: 512 * MiB }, { currentLimit: 64 * MiB, hasMemsw: true });
    assert.deepEqual(writes, [
      { file: memsw, value: String(512 * MiB) },
      { file: limit, value: String(256 * MiB) },
    ]);
  });

  it("lowers memory before memsw", () => {
    const writes = memoryAndSwapWrites({ limit: 32 * MiB, swap: 48 * MiB }, { currentLimit: 64 * MiB, hasMemsw: true });
    assert.deepEqual(writes.map((w) => w.file), [limit, memsw]);
  });

  it("lifts memsw first when the memory limit goes to unlimited", () => {
    const writes = memoryAndSwapWrites({ limit: -1 }, { currentLimit: 64 * MiB, hasMemsw: true });
    assert.deepEqual(writes, [{ file: memsw, value: "-1" }, { file: limit, value: "-1" }]);
  });

  it("ignores swap without swap accounting only when it asks for nothing", () => {
    const state = { currentLimit: 0, hasMemsw: false };
    assert.deepEqual(memoryAndSwapWrites({ limit: 64 * MiB, swap: 64 * MiB }, state), [{ file: limit, value: String(64 * MiB) }]);
    assert.deepEqual(memoryAndSwapWrites({ limit: 64 * MiB, swap: -1 }, state), [{ file: limit, value: String(64 * MiB) }]);
    assert.throws(() => memoryAndSwapWrites({ limit: 64 * MiB, swap: 128 * MiB }, state), FailedPreconditionError);
  });
});

describe("CgroupV1 stats, pids, freeze, destroy", () => {
  it("parses the kernel's stat files", () => {
    const fake = fakeTree();
    const opts = { root: fake.root, mountinfo: fake.mountinfo };
    kernelDir(fake, "memory", "s", {
      "memory.usage_in_bytes": "1048576\n",
      "memory.max_usage_in_bytes": "2097152\n",
      "memory.limit_in_bytes": `${UNLIMITED}\n`,
      "memory.stat": "cache 4096\nrss 8192\ntotal_rss 8192\n",
      "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
      "memory.failcnt": "5\n",
    });
    kernelDir(fake, "cpuacct", "s", {
      "cpuacct.usage": "123456789\n",
      "cpuacct.usage_percpu": "100000000 23456789 \n",
      "cpuacct.stat": "user 7\nsystem 3\n",
    });
    kernelDir(fake, "cpu", "s", { "cpu.stat": "nr_periods 10\nnr_throttled 4\nthrottled_time 999\n" });
    kernelDir(fake, "pids", "s", { "pids.current": "3\n", "pids.max": "32\n" });
    kernelDir(fake, "blkio", "s", {
      "blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\nTotal 12288\n",
      "blkio.throttle.io_serviced_recursive": "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
    });
    const stats = new CgroupV1("/s", opts).stats();
    assert.deepEqual(stats.memory, {
      usage: 1048576,
      maxUsage: 2097152,
      limit: 0,
      stat: { cache: 4096, rss: 8192, total_rss: 8192 },
      oomKills: 2,
      failcnt: 5,
    });
    assert.deepEqual(stats.cpu, {
      usageTotal: 123456789,
      usagePerCpu: [100000000, 23456789],
      usageUser: 70_000_000,
      usageSystem: 30_000_000,
      throttling: { periods: 10, throttledPeriods: 4, throttledTime: 999 },
    });
    assert.deepEqual(stats.pids, { current: 3, limit: 32 });
    assert.equal(stats.blkio.ioServiceBytesRecursive.length, 6, "the bare Total line is skipped");
    assert.deepEqual(stats.blkio.ioServiceBytesRecursive[0], { major: 8, minor: 0, op: "Read", value: 4096 });
    assert.deepEqual(stats.blkio.ioServicedRecursive, [
      { major: 8, minor: 0, op: "Read", value: 1 },
      { major: 8, minor: 0, op: "Write", value: 2 },
    ]);
    assert.equal(new CgroupV1("/s", opts).oomKillCount(), 2);
  });

  it("lists pids from the memory hierarchy, sub-cgroups included", () => {
    const fake = fakeTree();
    kernelDir(fake, "memory", "p", { "cgroup.procs": "10\n11\n" });
    kernelDir(fake, "memory", "p/inner", { "cgroup.procs": "12\n" });
    kernelDir(fake, "pids", "p", { "cgroup.procs": "99\n" });
    assert.deepEqual(new CgroupV1("/p", { root: fake.root, mountinfo: fake.mountinfo }).pids().sort(), [10, 11, 12]);
  });

  it("freezes and thaws through freezer.state", () => {
    const fake = fakeTree();
    const dir = kernelDir(fake, "freezer", "f");
    const cg = new CgroupV1("/f", { root: fake.root, mountinfo: fake.mountinfo });
    cg.freeze();
    assert.equal(read(join(dir, "freezer.state")), "FROZEN");
    cg.thaw();
    assert.equal(read(join(dir, "freezer.state")), "THAWED");
  });

  it("destroys the cgroup and its sub-cgroups in every hierarchy, not its parent", () => {
    const fake = fakeTree();
    const opts = { root: fake.root, mountinfo: fake.mountinfo };
    const cg = new CgroupV1("/hako/abc", opts);
    cg.create({ pids: { limit: 10 } });
    kernelDir(fake, "memory", "hako/abc/sub");
    cg.destroy();
    for (const h of HIERARCHIES) {
      assert.equal(existsSync(join(fake.root, h, "hako/abc")), false, h);
      assert.equal(existsSync(join(fake.root, h, "hako")), true, h);
    }
    assert.equal(cg.exists(), false);
    cg.destroy(); // idempotent
  });

  it("opens the v1 driver for a v1 root", () => {
    const fake = fakeTree();
    const cg = openCgroup("/hako/x", { root: fake.root, mountinfo: fake.mountinfo });
    assert.equal(cg.version, 1);
  });
});
