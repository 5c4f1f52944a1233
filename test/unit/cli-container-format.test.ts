/**
 * How the container commands show things, against docker's formatter and
 * docker's numbers: ps rows and status lines, the PORTS column, stats
 * (calculateCPUPercentUnix, memory without the inactive file cache, block
 * and network I/O; values from docker/cli's stats tests and from the docker
 * CLI printing the same samples), logs' --since/--until timestamps, cp's
 * path rules, system df's summary and events' line format.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { renderFormat } from "../../src/cli/template/index.ts";
import { CONTAINER_HEADERS, ContainerRow, containerFormat, describeState, displayablePorts } from "../../src/cli/commands/container/format.ts";
import {
  bytesSize,
  calculateBlockIo,
  calculateCpuPercentUnix,
  calculateMemPercentUnixNoCache,
  calculateMemUsageUnixNoCache,
  calculateNetwork,
  emptyEntry,
  entryOf,
  formatPercentage,
  renderStats,
  type StatsResponse,
} from "../../src/cli/commands/container/stats.ts";
import { getTimestamp } from "../../src/cli/commands/container/logs.ts";
import { prepareArchiveCopy, preserveTrailingDotOrSeparator, rebaseName, splitCpArg, splitPathDirEntry } from "../../src/cli/commands/container/cp.ts";
import { naturalLess } from "../../src/cli/commands/container/changes.ts";
import { diskUsageRows, eventLines, prettyEvent, type EventWire } from "../../src/cli/commands/system/index.ts";
import { runErrorStatus } from "../../src/cli/commands/container/run.ts";
import { ApiError } from "../../src/cli/client.ts";

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const iso = (msAgo: number): string => new Date(NOW - msAgo).toISOString();

describe("ps", () => {
  test("the daemon's status line (State.String)", () => {
    assert.equal(describeState({ Running: true, StartedAt: iso(2000) }, NOW), "Up 2 seconds");
    assert.equal(describeState({ Running: true, StartedAt: iso(1000) }, NOW), "Up 1 second");
    assert.equal(describeState({ Running: true, StartedAt: iso(300) }, NOW), "Up Less than a second");
    assert.equal(describeState({ Running: true, Paused: true, StartedAt: iso(1500) }, NOW), "Up 1 second (Paused)");
    assert.equal(describeState({ Running: true, Restarting: true, ExitCode: 1, StartedAt: iso(9000), FinishedAt: iso(3000) }, NOW), "Restarting (1) 3 seconds ago");
    assert.equal(describeState({ Running: true, StartedAt: iso(300_000), Health: { Status: "healthy" } }, NOW), "Up 5 minutes (healthy)");
    assert.equal(describeState({ Running: true, StartedAt: iso(2000), Health: { Status: "starting" } }, NOW), "Up 2 seconds (health: starting)");
    assert.equal(describeState({ Running: false, StartedAt: iso(10_000), FinishedAt: iso(5000), ExitCode: 0 }, NOW), "Exited (0) 5 seconds ago");
    assert.equal(describeState({ Running: false, StartedAt: iso(10e6), FinishedAt: iso(7200_000), ExitCode: 137 }, NOW), "Exited (137) 2 hours ago");
    assert.equal(describeState({ StartedAt: "0001-01-01T00:00:00Z", FinishedAt: "0001-01-01T00:00:00Z" }, NOW), "Created");
    assert.equal(describeState({ Dead: true, StartedAt: iso(1) }, NOW), "Dead");
    assert.equal(describeState({ RemovalInProgress: true }, NOW), "Removal In Progress");
  });

  const summary = {
    Id: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    Names: ["/web", "/other/alias"],
    Image: "docker.io/library/nginx:1.25@sha256:1234567890123456789012345678901234567890123456789012345678901234",
    ImageID: "sha256:aaaa",
    Command: "/docker-entrypoint.sh nginx -g 'daemon off;'",
    Created: NOW / 1000 - 3,
    Ports: [],
    Labels: { b: "2", a: "1" },
    State: "running",
    Status: "Up 2 seconds",
    SizeRw: 12345,
    SizeRootFs: 4567890,
    Mounts: [{ Name: "averyveryverylongvolumename", Driver: "local" }, { Source: "/tmp" }],
    NetworkSettings: { Networks: { bridge: {} } },
  };

  test("a row's fields (docker's ContainerContext)", () => {
    const row = new ContainerRow(summary, true, NOW);
    assert.equal(row.ID, "0123456789ab");
    assert.equal(row.Names, "web");
    assert.equal(row.Image, "nginx:1.25", "the digest is dropped, the familiar name kept");
    assert.equal(row.Command, '"/docker-entrypoint.…"');
    assert.equal(row.RunningFor, "3 seconds ago");
    assert.equal(row.Size, "12.3kB (virtual 4.57MB)");
    assert.equal(row.Labels, "a=1,b=2");
    assert.equal(row.Label("b"), "2");
    assert.equal(row.Mounts, "averyveryveryl…,/tmp");
    assert.equal(row.LocalVolumes, "1");
    assert.equal(row.Networks, "bridge");
    assert.equal(row.Platform, null);
    const full = new ContainerRow(summary, false, NOW);
    assert.equal(full.ID, summary.Id);
    assert.equal(full.Names, "web,other/alias");
    assert.equal(full.Image, summary.Image);
    assert.equal(full.Command, `"/docker-entrypoint.sh nginx -g 'daemon off;'"`);
    assert.equal(new ContainerRow({ ...summary, Created: NOW / 1000 - 86400 * 3 }, true, NOW).RunningFor, "3 days ago");
    assert.equal(new ContainerRow({ ...summary, Created: NOW / 1000 }, true, NOW).RunningFor, "Less than a second ago");
    assert.equal(new ContainerRow({ Id: "x", Image: "" }, true, NOW).Image, "<no image>");
    assert.equal(new ContainerRow({ Id: "x", Image: "sha256:bbbbbbbbbbbbbbbb", ImageID: "sha256:bbbbbbbbbbbbbbbb" }, true, NOW).Image, "bbbbbbbbbbbb");
    assert.equal(new ContainerRow({ Id: "x", Command: 'echo "hi"\tthere' }, false, NOW).Command, '"echo \\"hi\\"\\tthere"');
    assert.equal(new ContainerRow({ Id: "x", SizeRw: 0 }, true, NOW).Size, "0B");
  });

  test("the default table and -q", () => {
    const rows = [new ContainerRow(summary, true, NOW)];
    assert.equal(
      renderFormat(containerFormat("table", false, false), rows, CONTAINER_HEADERS),
      'CONTAINER ID   IMAGE        COMMAND                  CREATED         STATUS         PORTS     NAMES\n0123456789ab   nginx:1.25   "/docker-entrypoint.…"   3 seconds ago   Up 2 seconds             web\n',
    );
    assert.equal(renderFormat(containerFormat("table", true, false), rows, CONTAINER_HEADERS), "0123456789ab\n");
    assert.equal(containerFormat("table", false, true), "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}");
    assert.equal(renderFormat(containerFormat("table", false, false), [], CONTAINER_HEADERS), "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n");
  });

  test("the PORTS column (DisplayablePorts)", () => {
    assert.equal(displayablePorts([]), "");
    assert.equal(displayablePorts([{ PrivatePort: 9000, Type: "tcp" }, { PrivatePort: 9001, Type: "tcp" }, { PrivatePort: 9003, Type: "tcp" }]), "9000-9001/tcp, 9003/tcp");
    assert.equal(displayablePorts([{ IP: "0.0.0.0", PrivatePort: 80, PublicPort: 8080, Type: "tcp" }]), "0.0.0.0:8080->80/tcp");
    assert.equal(displayablePorts([{ IP: "::", PrivatePort: 80, PublicPort: 8080, Type: "tcp" }]), "[::]:8080->80/tcp");
    assert.equal(
      displayablePorts([
        { IP: "0.0.0.0", PrivatePort: 53, PublicPort: 53, Type: "udp" },
        { IP: "0.0.0.0", PrivatePort: 54, PublicPort: 54, Type: "udp" },
        { PrivatePort: 6000, Type: "tcp" },
      ]),
      "0.0.0.0:53-54->53-54/udp, 6000/tcp",
    );
  });
});

describe("stats", () => {
  test("CPU %: (container delta / system delta) × online CPUs × 100", () => {
    const v: StatsResponse = { cpu_stats: { cpu_usage: { total_usage: 400 }, system_cpu_usage: 8000, online_cpus: 4 } };
    assert.equal(calculateCpuPercentUnix(300, 6000, v), 20);
    // no online_cpus: the length of percpu_usage
    const v2: StatsResponse = { cpu_stats: { cpu_usage: { total_usage: 400, percpu_usage: [1, 2] }, system_cpu_usage: 8000 } };
    assert.equal(calculateCpuPercentUnix(300, 6000, v2), 10);
    // no progress on either side: 0
    assert.equal(calculateCpuPercentUnix(400, 6000, v), 20 * 0);
    assert.equal(calculateCpuPercentUnix(300, 8000, v), 0);
  });

  test("memory: usage minus the inactive file cache (cgroup v1 total_inactive_file, v2 inactive_file)", () => {
    // docker/cli stats_helpers_test.go
    assert.equal(calculateMemUsageUnixNoCache({ usage: 500, stats: { total_inactive_file: 400 } }), 100);
    assert.equal(calculateMemUsageUnixNoCache({ usage: 500, stats: { inactive_file: 100 } }), 400);
    assert.equal(calculateMemUsageUnixNoCache({ usage: 500, stats: { total_inactive_file: 600 } }), 500, "a cache larger than the usage is ignored");
    assert.equal(calculateMemUsageUnixNoCache({ usage: 500 }), 500);
    assert.equal(calculateMemPercentUnixNoCache(100, 70), 70);
    assert.equal(calculateMemPercentUnixNoCache(0, 70), 0);
  });

  test("block and network I/O", () => {
    // docker/cli stats_helpers_test.go TestCalculateBlockIO
    const [r, w] = calculateBlockIo({
      io_service_bytes_recursive: [
        { major: 8, minor: 0, op: "read", value: 1234 },
        { major: 8, minor: 1, op: "read", value: 4567 },
        { major: 8, minor: 0, op: "Read", value: 6 },
        { major: 8, minor: 1, op: "Read", value: 8 },
        { major: 8, minor: 0, op: "write", value: 123 },
        { major: 8, minor: 1, op: "write", value: 456 },
        { major: 8, minor: 0, op: "Write", value: 6 },
        { major: 8, minor: 1, op: "Write", value: 8 },
        { major: 8, minor: 1, op: "", value: 456 },
      ],
    });
    assert.equal(r, 5815);
    assert.equal(w, 593);
    assert.deepEqual(calculateNetwork({ eth0: { rx_bytes: 10, tx_bytes: 20 }, eth1: { rx_bytes: 1, tx_bytes: 2 } }), [11, 22]);
  });

  test("the row as the docker CLI prints the same sample", () => {
    const sample: StatsResponse = {
      name: "/st",
      id: "feec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec",
      pids_stats: { current: 3 },
      blkio_stats: { io_service_bytes_recursive: [{ op: "Read", value: 4096000 }, { op: "Write", value: 1024 }] },
      cpu_stats: { cpu_usage: { total_usage: 400_000_000 }, system_cpu_usage: 8_000_000_000, online_cpus: 4 },
      precpu_stats: { cpu_usage: { total_usage: 300_000_000 }, system_cpu_usage: 6_000_000_000, online_cpus: 4 },
      memory_stats: { usage: 50 * 1024 * 1024, limit: 2 * 1024 * 1024 * 1024, stats: { total_inactive_file: 10 * 1024 * 1024 } },
      networks: { eth0: { rx_bytes: 1500, tx_bytes: 2500 } },
    };
    assert.equal(
      renderStats("table", [entryOf("st", sample)], "linux", true),
      "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O         BLOCK I/O        PIDS\nfeec0ffeec0f   st        20.00%    40MiB / 2GiB        1.95%     1.5kB / 2.5kB   4.1MB / 1.02kB   3\n",
    );
    const invalid = { ...emptyEntry("gone"), isInvalid: true };
    assert.equal(renderStats("{{.Container}} {{.CPUPerc}} {{.MemUsage}} {{.MemPerc}} {{.NetIO}} {{.PIDs}} {{.Name}}", [invalid], "linux", true), "gone -- -- / -- -- -- -- --\n");
  });

  test("docker's formatting of percentages and sizes", () => {
    // docker/cli formatter_stats_test.go
    assert.equal(formatPercentage(5.5), "5.50%");
    assert.equal(formatPercentage(10.2), "10.20%");
    assert.equal(formatPercentage(12.3456789), "12.35%");
    assert.equal(formatPercentage(0.125), "0.12%", "round half to even, as strconv does");
    assert.equal(`${bytesSize(24)} / ${bytesSize(30)}`, "24B / 30B");
    assert.equal(bytesSize(123.456789), "123.5B");
    assert.equal(bytesSize(1536 * 1024), "1.5MiB");
  });
});

describe("logs --since/--until (GetTimestamp)", () => {
  test("durations, RFC 3339 times and Unix timestamps", () => {
    assert.equal(getTimestamp("10m", NOW), String(NOW / 1000 - 600));
    assert.equal(getTimestamp("1h30m", NOW), String(NOW / 1000 - 5400));
    assert.equal(getTimestamp("2013-01-02T13:23:37Z", NOW), "1357133017.000000000");
    assert.equal(getTimestamp("2013-01-02T13:23:37.5Z", NOW), "1357133017.500000000");
    assert.equal(getTimestamp("2013-01-02T13:23:37+01:00", NOW), "1357129417.000000000");
    assert.equal(getTimestamp("1357133017", NOW), "1357133017");
    assert.equal(getTimestamp("1357133017.123", NOW), "1357133017.123");
    assert.equal(getTimestamp("0", NOW), "0");
    assert.throws(() => getTimestamp("yesterday", NOW), /failed to parse value as time or duration: "yesterday"/);
  });
});

describe("cp paths (go-archive)", () => {
  test("container:path and local paths", () => {
    assert.deepEqual(splitCpArg("ctr:/etc/hosts"), ["ctr", "/etc/hosts"]);
    assert.deepEqual(splitCpArg("/abs/with:colon"), ["", "/abs/with:colon"]);
    assert.deepEqual(splitCpArg("./rel:colon"), ["", "./rel:colon"]);
    assert.deepEqual(splitCpArg("local"), ["", "local"]);
    assert.deepEqual(splitCpArg("-"), ["", "-"]);
  });
  test("trailing '/.' and '/' survive cleaning; dir/base splits", () => {
    assert.equal(preserveTrailingDotOrSeparator("/a/b", "a/b/."), "/a/b/.");
    assert.equal(preserveTrailingDotOrSeparator("/a/b", "a/b/"), "/a/b/");
    assert.equal(preserveTrailingDotOrSeparator("/a/b", "a/b"), "/a/b");
    assert.deepEqual(splitPathDirEntry("/a/b/."), ["/a/b", "."]);
    assert.deepEqual(splitPathDirEntry("/a/b/"), ["/a", "b"]);
    assert.deepEqual(splitPathDirEntry("/a/b"), ["/a", "b"]);
  });
  test("where an archive goes and how its names change (PrepareArchiveCopy)", () => {
    const dir = { path: "/src/dir", exists: true, isDir: true };
    const file = { path: "/src/f.txt", exists: true, isDir: false };
    assert.deepEqual(prepareArchiveCopy(dir, { path: "/dst", exists: true, isDir: true }), { dstDir: "/dst" });
    assert.deepEqual(prepareArchiveCopy(dir, { path: "/new", exists: false, isDir: false }), { dstDir: "/", rebase: ["dir", "new"] });
    assert.deepEqual(prepareArchiveCopy({ path: "/src/dir/.", exists: true, isDir: true }, { path: "/new", exists: false, isDir: false }), { dstDir: "/", rebase: [".", "new"] });
    assert.deepEqual(prepareArchiveCopy(file, { path: "/etc/x.conf", exists: true, isDir: false }), { dstDir: "/etc", rebase: ["f.txt", "x.conf"] });
    assert.throws(() => prepareArchiveCopy(dir, { path: "/etc/x.conf", exists: true, isDir: false }), /^Error: cannot copy directory$/);
    assert.throws(() => prepareArchiveCopy(file, { path: "/nodir/", exists: false, isDir: false }), /^Error: no such directory$/);
    assert.equal(rebaseName("dir/sub/file", ["dir", "new"]), "new/sub/file");
    assert.equal(rebaseName("./file", [".", "new"]), "new/file");
    assert.equal(rebaseName("other", undefined), "other");
  });
});

describe("misc", () => {
  test("natural order (volume ls, port)", () => {
    const names = ["vol10", "zeta", "vol9", "vol1", "Vol2"];
    assert.deepEqual(
      [...names].sort((a, b) => (naturalLess(a, b) ? -1 : naturalLess(b, a) ? 1 : 0)),
      ["Vol2", "vol1", "vol9", "vol10", "zeta"],
    );
  });

  test("system df's summary rows", () => {
    const rows = diskUsageRows({
      LayersSize: 1000,
      Images: [
        { Id: "a", RepoTags: null, RepoDigests: null, Created: 0, Size: 600, SharedSize: 100, Containers: 1 },
        { Id: "b", RepoTags: null, RepoDigests: null, Created: 0, Size: 400, SharedSize: 0, Containers: 0 },
      ],
      Containers: [
        { Id: "c1", State: "running", SizeRw: 100 },
        { Id: "c2", State: "exited", SizeRw: 300 },
      ],
      Volumes: [{ Name: "v", UsageData: { Size: 50, RefCount: 0 } }, { Name: "w", UsageData: { Size: -1, RefCount: 1 } }],
      BuildCache: [],
    });
    assert.equal(
      renderFormat("table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}", rows, { Type: "TYPE", TotalCount: "TOTAL", Active: "ACTIVE", Size: "SIZE", Reclaimable: "RECLAIMABLE" }),
      "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\nImages          2         1         1kB       500B (50%)\nContainers      2         1         400B      300B (75%)\nLocal Volumes   2         1         50B       50B (100%)\nBuild Cache     0         0         0B        0B\n",
    );
  });

  test("events' line format", async () => {
    const tz = process.env.TZ;
    process.env.TZ = "UTC";
    try {
      assert.equal(
        prettyEvent({ Type: "container", Action: "start", Actor: { ID: "abc", Attributes: { name: "x", image: "busybox" } }, time: 1795476027, timeNano: 1795476027123456789n }),
        "2026-11-23T23:20:27.123456789Z container start abc (image=busybox, name=x)\n",
      );
      const parsed: EventWire[] = [];
      for await (const e of eventLines([
        Buffer.from('{"Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"exitCode":"0"}},"scope":"local","time":1795476027,"timeNano":1795476027123456789}\n{"Type":"network"'),
        Buffer.from(',"Action":"x","Actor":{"ID":"n"},"time":1}\n'),
      ])) parsed.push(e);
      assert.equal(parsed[0]!.timeNano, 1795476027123456789n);
      assert.equal(prettyEvent(parsed[0]!), "2026-11-23T23:20:27.123456789Z container die abc (exitCode=0)\n");
      assert.equal(parsed[1]!.Actor!.ID, "n");
      assert.equal(prettyEvent({ Type: "volume", Action: "create", Actor: { ID: "v" }, time: 1795476027 }), "2026-11-23T23:20:27.000000000Z volume create v\n");
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
  });

  test("run's exit statuses for errors (toStatusError)", () => {
    assert.equal(runErrorStatus(new ApiError(400, 'exec: "nope": executable file not found in $PATH')).status, 127);
    assert.equal(runErrorStatus(new ApiError(400, "open /x: no such file or directory")).status, 127);
    assert.equal(runErrorStatus(new ApiError(400, "exec /bin/x: permission denied")).status, 126);
    assert.equal(runErrorStatus(new ApiError(400, "read /x: is a directory")).status, 126);
    const other = runErrorStatus(new ApiError(500, "boom"));
    assert.equal(other.status, 125);
    assert.equal(other.text, "hako: Error response from daemon: boom\n\nRun 'hako run --help' for more information\n");
  });
});

describe("ps asks for sizes when its format reads them", () => {
  test("a .Size field or {{json .}}, not the json keyword", async () => {
    const { formatUsesSize } = await import("../../src/cli/commands/container/list.ts");
    assert.equal(formatUsesSize("{{.Names}} {{.Size}}"), true);
    assert.equal(formatUsesSize("{{json .}}"), true);
    assert.equal(formatUsesSize("json"), false);
    assert.equal(formatUsesSize("{{.Names}}"), false);
  });
});
