/**
 * The container options of issue 4, each seen from inside a real container
 * started by `bin/hako` against a throw-away hakod: environment, user,
 * workdir, hostname, entrypoint, --init, read-only rootfs, tmpfs, bind and
 * named volumes, capabilities, no-new-privileges, seccomp, ulimits, cgroup
 * limits, devices, host namespaces, stop signal and timeout, the files
 * hakod writes (/etc/hosts, hostname, resolv.conf), an OOM kill, Docker's
 * errors for a missing command, and --restart=always across a daemon
 * restart. Needs root and /bin/busybox; every container is force-removed.
 */
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { HAKO_BIN, startDaemon, type TestDaemon } from "../helpers/daemon.ts";

const skip = process.getuid?.() !== 0 ? "needs root" : !existsSync("/bin/busybox") ? "/bin/busybox missing (apt-get install busybox-static)" : false;

describe("container options seen from inside", { skip }, () => {
  let d: TestDaemon;
  let scratch = "";

  function hako(args: string[], input = ""): SpawnSyncReturns<string> {
    return spawnSync(HAKO_BIN, ["-H", d.host, ...args], { encoding: "utf8", input, timeout: 60_000, killSignal: "SIGKILL" });
  }

  /** `hako run --rm OPTIONS busybox sh -c SCRIPT`, which must exit 0; its stdout. */
  function inside(options: string[], script: string): string {
    const network = options.includes("--network") ? [] : ["--network", "none"];
    const r = hako(["run", "--rm", ...network, ...options, "busybox", "sh", "-c", script]);
    assert.equal(r.status, 0, `run ${options.join(" ")} -- ${script}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  /** The host cgroup v1 file of a running container. */
  function cgroupFile(id: string, controller: string, file: string): string {
    const pid = hako(["inspect", "-f", "{{.State.Pid}}", id]).stdout.trim();
    const line = readFileSync(`/proc/${pid}/cgroup`, "utf8")
      .split("\n")
      .find((l) => l.split(":")[1]!.split(",").includes(controller));
    assert.ok(line, `no ${controller} cgroup for ${pid}`);
    return readFileSync(path.join("/sys/fs/cgroup", controller, line.split(":")[2]!, file), "utf8").trim();
  }

  before(async () => {
    d = await startDaemon();
    const made = await d.request("POST", "/hako/images/busybox");
    assert.equal(made.status, 200, made.body);
    scratch = mkdtempSync(path.join(os.tmpdir(), "hako-opts-"));
  });
  after(async () => {
    await d?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test("-e, --env-file, -w, -u, -h, --entrypoint, labels", () => {
    const envFile = path.join(scratch, "env");
    writeFileSync(envFile, "# comment\nFROM_FILE=yes\nPASSED\n");
    const out = inside(
      ["-e", "A=1", "--env-file", envFile, "-w", "/tmp/work", "-u", "1234:5678", "-h", "opt-host", "-l", "k=v"],
      'echo "$A $FROM_FILE ${PASSED-unset}"; pwd; id -u; id -g; hostname',
    );
    assert.equal(out, "1 yes unset\n/tmp/work\n1234\n5678\nopt-host\n");
    const ep = hako(["run", "--rm", "--network", "none", "--entrypoint", "echo", "busybox", "from", "entrypoint"]);
    assert.equal(ep.stdout, "from entrypoint\n", ep.stderr);
  });

  test("--init puts a reaper at PID 1; without it the command is PID 1", () => {
    assert.equal(inside(["--init"], "cat /proc/1/comm; echo $$").split("\n")[0], "hako-init");
    assert.equal(inside([], "echo $$"), "1\n");
  });

  test("--read-only, --tmpfs, bind mounts (ro) and named volumes", () => {
    const ro = hako(["run", "--rm", "--network", "none", "--read-only", "busybox", "touch", "/x"]);
    assert.notEqual(ro.status, 0);
    assert.match(ro.stderr, /Read-only file system/);
    assert.match(inside(["--read-only", "--tmpfs", "/scratch:size=1m"], "touch /scratch/x && grep ' /scratch ' /proc/mounts"), /tmpfs \/scratch tmpfs rw.*size=1024k/);
    writeFileSync(path.join(scratch, "host.txt"), "from the host\n");
    assert.equal(inside(["-v", `${scratch}:/mnt/h:ro`], "cat /mnt/h/host.txt; touch /mnt/h/y 2>/dev/null || echo read-only"), "from the host\nread-only\n");
    inside(["-v", "optvol:/data"], "echo kept > /data/f");
    assert.equal(inside(["-v", "optvol:/data"], "cat /data/f"), "kept\n");
    assert.equal(hako(["volume", "rm", "optvol"]).status, 0);
  });

  test("a new volume gets what the image has at its mount point, from any layer, with owner and mode", () => {
    // The content is in the image's top layer, not the one with /etc/passwd.
    const made = hako(["run", "--name", "vsrc", "--network", "none", "busybox", "sh", "-c", "mkdir -p /data/sub && echo img > /data/f && chown -R 1000:1000 /data/sub && chmod 750 /data/sub && ln -s f /data/link"]);
    assert.equal(made.status, 0, made.stderr);
    assert.equal(hako(["commit", "vsrc", "vimg:1"]).status, 0);
    assert.equal(hako(["rm", "vsrc"]).status, 0);
    const listing = "ls -ln /data | awk 'NR>1 {print $1, $3, $4, $NF}'; cat /data/f";
    const want = "-rw-r--r-- 0 0 f\nlrwxrwxrwx 0 0 f\ndrwxr-x--- 1000 1000 sub\nimg\n";
    const run = (options: string[]): string => {
      const r = hako(["run", "--rm", "--network", "none", ...options, "vimg:1", "sh", "-c", listing]);
      assert.equal(r.status, 0, `${options.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    assert.equal(run(["-v", "cu1:/data"]), want);
    assert.equal(run(["--mount", "type=volume,src=cu2,dst=/data"]), want);
    assert.equal(run(["-v", "cu3:/data:ro"]), want);
    assert.equal(run(["--mount", "type=volume,dst=/data"]), want, "an anonymous volume");
    // Copied once: what the first container left is what the next one finds; nocopy copies nothing.
    inside(["-v", "cu1:/data"], "rm /data/f");
    assert.equal(inside(["-v", "cu1:/data"], "ls /data | wc -l").trim(), "2");
    const nocopy = hako(["run", "--rm", "--network", "none", "-v", "cu4:/data:nocopy", "vimg:1", "ls", "-A", "/data"]);
    assert.equal(nocopy.stdout, "");
    // Nothing at the mount point in the image: an empty volume, no error.
    assert.equal(inside(["-v", "cu5:/nothing/here"], "ls -A /nothing/here"), "");
    for (const v of ["cu1", "cu2", "cu3", "cu4", "cu5"]) assert.equal(hako(["volume", "rm", v]).status, 0, v);
    assert.equal(hako(["rmi", "vimg:1"]).status, 0);
  });

  test("a bind volume (compose's driver_opts type=none o=bind device=DIR): containers read and write the host directory", () => {
    const dir = path.join(scratch, "bound");
    mkdirSync(dir);
    writeFileSync(path.join(dir, "from-host"), "host\n");
    assert.equal(hako(["volume", "create", "-o", "type=none", "-o", "o=bind", "-o", `device=${dir}`, "bindvol"]).status, 0);
    assert.equal(inside(["-v", "bindvol:/data"], "cat /data/from-host; echo ctr > /data/from-ctr"), "host\n");
    assert.equal(readFileSync(path.join(dir, "from-ctr"), "utf8"), "ctr\n");
    assert.equal(hako(["volume", "rm", "bindvol"]).status, 0);
    assert.ok(existsSync(path.join(dir, "from-ctr")), "the host directory keeps its files");
    const tmpfs = hako(["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "nope"]);
    assert.equal(tmpfs.status, 1);
    assert.match(tmpfs.stderr, /not supported yet/);
  });

  test("capabilities: Docker's default set, --cap-add/--cap-drop, --privileged; no-new-privileges; seccomp", () => {
    const capEff = (opts: string[]): string => /CapEff:\s*(\w+)/.exec(inside(opts, "cat /proc/self/status"))![1]!;
    assert.equal(capEff([]), "00000000a80425fb");
    // NET_ADMIN is bit 12, CHOWN bit 0.
    assert.equal(BigInt(`0x${capEff(["--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN"])}`), (0xa80425fbn | (1n << 12n)) & ~1n);
    const host = /CapBnd:\s*(\w+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]!;
    assert.equal(capEff(["--privileged"]), host, "privileged grants what the host has");
    assert.match(inside(["--security-opt", "no-new-privileges"], "cat /proc/self/status"), /NoNewPrivs:\s*1/);
    assert.match(inside([], "cat /proc/self/status"), /Seccomp:\s*2/);
    assert.match(inside(["--security-opt", "seccomp=unconfined"], "cat /proc/self/status"), /Seccomp:\s*0/);
    // busybox date reports the failure and goes on to print the date.
    const denied = hako(["run", "--rm", "--network", "none", "busybox", "date", "-s", "2000-01-01"]);
    assert.match(denied.stderr, /can't set date: Operation not permitted/);
  });

  test("--ipc container:<x> joins a shareable container's IPC namespace and /dev/shm; a private one is refused", () => {
    const donor = hako(["run", "-d", "--network", "none", "--ipc", "shareable", "busybox", "sh", "-c", "echo shared > /dev/shm/note; sleep 1000"]).stdout.trim();
    const priv = hako(["run", "-d", "--network", "none", "busybox", "sleep", "1000"]).stdout.trim();
    try {
      const donorIpc = hako(["exec", donor, "readlink", "/proc/self/ns/ipc"]).stdout;
      assert.equal(inside(["--ipc", `container:${donor}`], "readlink /proc/self/ns/ipc; cat /dev/shm/note; echo back > /dev/shm/reply"), `${donorIpc}shared\n`);
      assert.equal(hako(["exec", donor, "cat", "/dev/shm/reply"]).stdout, "back\n");
      const refused = hako(["run", "--rm", "--network", "none", "--ipc", `container:${priv}`, "busybox", "true"]);
      assert.equal(refused.status, 125);
      assert.match(refused.stderr, /can't join IPC of container [0-9a-f]{64}: non-shareable IPC \(hint: use IpcMode:shareable for the donor container\)/);
      const missing = hako(["run", "--rm", "--network", "none", "--ipc", "container:nosuch", "busybox", "true"]);
      assert.match(missing.stderr, /No such container: nosuch/);
    } finally {
      hako(["rm", "-f", donor, priv]);
    }
    assert.ok(!existsSync(`/dev/shm/hako-ipc-${donor}`), "the shared /dev/shm goes with its container");
  });

  test("--ulimit, --device, --ipc/--pid/--uts host", () => {
    assert.equal(inside(["--ulimit", "nofile=123:456"], "ulimit -n; ulimit -Hn"), "123\n456\n");
    assert.match(inside(["--device", "/dev/null:/dev/mynull"], "ls -l /dev/mynull; echo x > /dev/mynull && echo written"), /^c.*1,\s+3.*\/dev\/mynull\nwritten\n$/);
    assert.equal(inside(["--uts", "host"], "hostname"), `${os.hostname()}\n`);
    assert.notEqual(inside(["--pid", "host"], "echo $$").trim(), "1");
    assert.equal(inside(["--ipc", "host"], "readlink /proc/self/ns/ipc"), `${readlinkSync("/proc/self/ns/ipc")}\n`);
    assert.notEqual(inside([], "readlink /proc/self/ns/ipc"), `${readlinkSync("/proc/self/ns/ipc")}\n`);
  });

  test("-m, --memory-swap, --cpus, --cpu-shares, --cpuset-cpus, --pids-limit land in the cgroup; update changes them live", () => {
    const id = hako(["run", "-d", "--network", "none", "-m", "64m", "--memory-swap", "128m", "--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0", "--pids-limit", "50", "busybox", "sleep", "1000"]).stdout.trim();
    try {
      assert.equal(cgroupFile(id, "memory", "memory.limit_in_bytes"), String(64 << 20));
      assert.equal(cgroupFile(id, "memory", "memory.memsw.limit_in_bytes"), String(128 << 20));
      assert.equal(cgroupFile(id, "cpu", "cpu.cfs_quota_us"), "50000");
      assert.equal(cgroupFile(id, "cpu", "cpu.cfs_period_us"), "100000");
      assert.equal(cgroupFile(id, "cpu", "cpu.shares"), "512");
      assert.equal(cgroupFile(id, "cpuset", "cpuset.cpus"), "0");
      assert.equal(cgroupFile(id, "pids", "pids.max"), "50");
      assert.equal(hako(["update", "-m", "96m", "--memory-swap", "192m", "--pids-limit", "60", id]).status, 0);
      assert.equal(cgroupFile(id, "memory", "memory.limit_in_bytes"), String(96 << 20));
      assert.equal(cgroupFile(id, "pids", "pids.max"), "60");
      // The other limits stay, in the record and at the next start.
      assert.equal(hako(["update", "--cpu-shares", "256", id]).status, 0);
      assert.equal(hako(["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}}", id]).stdout, `${96 << 20} ${192 << 20} 500000000 256\n`);
      assert.equal(hako(["restart", "-t", "0", id]).status, 0);
      assert.equal(cgroupFile(id, "memory", "memory.limit_in_bytes"), String(96 << 20));
      assert.equal(cgroupFile(id, "cpu", "cpu.cfs_quota_us"), "50000");
      assert.equal(cgroupFile(id, "cpu", "cpu.shares"), "256");
    } finally {
      hako(["rm", "-f", id]);
    }
  });

  test("an OOM kill: exit 137 and State.OOMKilled", () => {
    const r = hako(["run", "--name", "oom", "--network", "none", "-m", "32m", "--memory-swap", "32m", "--shm-size", "256m", "busybox", "sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=200"]);
    try {
      assert.equal(r.status, 137, r.stderr);
      assert.equal(hako(["inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "oom"]).stdout, "true 137\n");
    } finally {
      hako(["rm", "-f", "oom"]);
    }
  });

  test("--stop-signal and --stop-timeout", async () => {
    const id = hako(["run", "-d", "--network", "none", "--stop-signal", "USR1", "--stop-timeout", "1", "busybox", "sh", "-c", "trap 'echo got-usr1; exit 5' USR1; while true; do sleep 0.1; done"]).stdout.trim();
    try {
      await delay(300);
      assert.equal(hako(["stop", id]).status, 0);
      assert.equal(hako(["inspect", "-f", "{{.State.ExitCode}}", id]).stdout, "5\n");
      assert.match(hako(["logs", id]).stdout, /got-usr1/);
      // A process that ignores the stop signal is killed after the timeout.
      const stubborn = hako(["run", "-d", "--network", "none", "--stop-timeout", "1", "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]).stdout.trim();
      await delay(300);
      const t0 = Date.now();
      assert.equal(hako(["stop", stubborn]).status, 0);
      assert.ok(Date.now() - t0 >= 900, "waited the stop timeout");
      assert.equal(hako(["inspect", "-f", "{{.State.ExitCode}}", stubborn]).stdout, "137\n");
      hako(["rm", "-f", stubborn]);
    } finally {
      hako(["rm", "-f", id]);
    }
  });

  test("/etc/hosts, /etc/hostname and /etc/resolv.conf are written for each container", () => {
    // On a network the container's address names it; with none only localhost does, as with Docker.
    const out = inside(["--network", "bridge", "-h", "named-host", "--add-host", "extra.test:10.1.2.3"], "cat /etc/hostname; grep named-host /etc/hosts; grep extra.test /etc/hosts; test -s /etc/resolv.conf && echo resolv");
    assert.match(out, /^named-host\n\d+\.\d+\.\d+\.\d+\s+named-host\n10\.1\.2\.3\s+extra\.test\nresolv\n$/);
    // Docker's init layer: /.dockerenv, /etc/mtab -> /proc/mounts; and HOME as runc sets it.
    assert.equal(inside([], "test -f /.dockerenv && readlink /etc/mtab && echo $HOME"), "/proc/mounts\n/root\n");
  });

  test("Docker's errors: no command, a missing executable (127), one that is not executable (126)", () => {
    const tar = spawnSync("sh", ["-c", `cd ${JSON.stringify(scratch)} && mkdir -p nocmd/bin && cp /bin/busybox nocmd/bin/ && tar -C nocmd -cf nocmd.tar .`]);
    assert.equal(tar.status, 0);
    assert.equal(hako(["import", path.join(scratch, "nocmd.tar"), "nocmd:latest"]).status, 0);
    const none = hako(["run", "--rm", "nocmd"]);
    assert.equal(none.status, 125);
    assert.match(none.stderr, /No command specified/);
    const missing = hako(["run", "--rm", "--network", "none", "busybox", "/bin/bash"]);
    assert.equal(missing.status, 127, missing.stderr);
    assert.match(missing.stderr, /exec: "\/bin\/bash": stat \/bin\/bash: no such file or directory/);
    const notExec = hako(["run", "--rm", "--network", "none", "busybox", "/etc/passwd"]);
    assert.equal(notExec.status, 126, notExec.stderr);
    assert.match(notExec.stderr, /permission denied/);
  });

  test("--restart=always brings a container back after it died while hakod was down", async () => {
    const id = hako(["run", "-d", "--network", "none", "--restart", "always", "busybox", "sleep", "1000"]).stdout.trim();
    const pid = Number(hako(["inspect", "-f", "{{.State.Pid}}", id]).stdout.trim());
    await d.kill(); // SIGKILL: the container lives on in its shim
    process.kill(pid, "SIGKILL"); // ... and dies while nobody watches
    await delay(200);
    d = await startDaemon({ dir: d.dir });
    let state = "";
    for (let i = 0; i < 100; i++) {
      state = hako(["inspect", "-f", "{{.State.Running}} {{.State.Pid}} {{.RestartCount}}", id]).stdout.trim();
      if (state.startsWith("true") && !state.includes(` ${pid} `)) break;
      await delay(100);
    }
    assert.match(state, /^true \d+ \d+$/, "running again");
    assert.notEqual(Number(state.split(" ")[1]), pid, "a new process");
    hako(["rm", "-f", id]);
  });
});
