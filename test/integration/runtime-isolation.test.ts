/**
 * The container process in its namespaces, seen from inside (like youki's
 * runtimetest) and from the host: pid 1, hostname, mounts, env, cwd, user,
 * exit statuses, tty.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { spawn } from "node:child_process";
import {
  RUNTIME_BIN,
  bundleForSuite,
  dockerLikeSpec,
  hostMountsMentioning,
  isRoot,
  uniqueId,
  waitFor,
} from "../helpers/bundle.ts";

const skip = isRoot ? false : "needs root (real namespaces)";

describe("runtime: isolation", { skip }, () => {
  const b = bundleForSuite();

  test("exit status is the process's own; a signal gives 128+n", async () => {
    assert.equal(b.run(["true"]).status, 0);
    assert.equal(b.run(["sh", "-c", "exit 42"]).status, 42);
    // PID 1 ignores signals it has no handler for, from inside: kill it from outside.
    const id = uniqueId();
    b.writeConfig(dockerLikeSpec(["sleep", "60"], id));
    const child = spawn(RUNTIME_BIN, ["--root", b.stateRoot, "run", "--bundle", b.dir, id], { stdio: "ignore" });
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    await waitFor(() => b.runtime(["state", id]).stdout.includes('"running"'));
    assert.equal(b.runtime(["kill", id, "KILL"]).status, 0);
    assert.equal(await exited, 137);
  });

  test("the command is PID 1 and sees no host process", () => {
    const r = b.run(["sh", "-c", "echo $$; ps -o pid | tail -n +2"]);
    assert.equal(r.status, 0, r.stderr);
    const [pid, ...pids] = r.stdout.trim().split(/\s+/).map(Number);
    assert.equal(pid, 1);
    assert.ok(pids.length <= 4 && pids.every((p) => p < 20), `saw pids ${pids.join(" ")}`);
  });

  test("hostname and domainname are the container's", () => {
    const host = readFileSync("/proc/sys/kernel/hostname", "utf8").trim();
    const r = b.run(["sh", "-c", "hostname; hostname inner-name; hostname"], (s) => {
      s.hostname = "box1";
      s.domainname = "example.test";
      s.process!.capabilities!.effective!.push("CAP_SYS_ADMIN");
      s.process!.capabilities!.permitted!.push("CAP_SYS_ADMIN");
      s.process!.capabilities!.bounding!.push("CAP_SYS_ADMIN");
      delete s.linux!.seccomp;
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["box1", "inner-name"]);
    assert.equal(readFileSync("/proc/sys/kernel/hostname", "utf8").trim(), host);
    const d = b.run(["cat", "/proc/sys/kernel/domainname"], (s) => (s.domainname = "example.test"));
    assert.equal(d.stdout.trim(), "example.test");
  });

  test("a tmpfs mounted inside is invisible outside", () => {
    const marker = `hako-mark-${process.pid}`;
    const r = b.run(["sh", "-c", `mkdir -p /mnt/${marker} && mount -t tmpfs none /mnt/${marker} && grep -c ${marker} /proc/mounts && sleep 0.3`], (s) => {
      const all = ["CAP_SYS_ADMIN", "CAP_CHOWN"];
      s.process!.capabilities = { bounding: all, effective: all, permitted: all };
      delete s.linux!.seccomp;
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "1");
    assert.deepEqual(hostMountsMentioning(marker), []);
    // The configured mounts were in the container's namespace only, too.
    assert.deepEqual(hostMountsMentioning(b.rootfs), []);
  });

  test("env, cwd, uid/gid and additional groups", () => {
    const r = b.run(["sh", "-c", "echo $GREETING; pwd; id"], (s) => {
      s.process!.env!.push("GREETING=hello world");
      s.process!.cwd = "/tmp";
      s.process!.user = { uid: 1000, gid: 1001, additionalGids: [5, 2000] };
    });
    assert.equal(r.status, 0, r.stderr);
    const [greeting, cwd, id] = r.stdout.trim().split("\n");
    assert.equal(greeting, "hello world");
    assert.equal(cwd, "/tmp");
    assert.match(id!, /^uid=1000 gid=1001 groups=5\(tty\),2000$/);
  });

  test("a missing cwd or program is a clear error, with docker's exit codes", () => {
    const missing = b.run(["/bin/bash"]);
    assert.equal(missing.status, 127);
    assert.match(missing.stderr, /exec: "\/bin\/bash": stat \/bin\/bash: no such file or directory/);
    const notFound = b.run(["nosuchprogram"]);
    assert.equal(notFound.status, 127);
    assert.match(notFound.stderr, /executable file not found in \$PATH/);
    const notExec = b.run(["/etc/passwd"]);
    assert.equal(notExec.status, 126);
    const cwd = b.run(["true"], (s) => (s.process!.cwd = "/no/such/dir"));
    assert.notEqual(cwd.status, 0);
    assert.match(cwd.stderr, /no\/such\/dir/);
  });

  test("a terminal: the process gets a pty with the configured size", () => {
    const r = b.run(["sh", "-c", "tty; stty size; [ -t 0 ] && echo stdin-is-tty"], (s) => {
      s.process!.terminal = true;
      s.process!.consoleSize = { height: 33, width: 101 };
    });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.replace(/\r/g, "").trim().split("\n");
    assert.match(lines[0]!, /^\/dev\/pts\/\d+$/);
    assert.equal(lines[1], "33 101");
    assert.equal(lines[2], "stdin-is-tty");
  });

  test("bind mounts: read-only, nosuid/noexec, files as well as directories", () => {
    const data = path.join(b.dir, "data");
    mkdirSync(data, { recursive: true });
    writeFileSync(path.join(data, "hello.txt"), "from the host\n");
    writeFileSync(path.join(b.dir, "single.conf"), "one file\n");
    const r = b.run(
      ["sh", "-c", "cat /data/hello.txt /etc/single.conf; touch /data/x 2>&1; echo ro=$?; touch /rw/y && echo rw=ok; grep -E ' /data | /rw ' /proc/mounts"],
      (s) => {
        s.mounts!.push(
          { destination: "/data", type: "bind", source: data, options: ["rbind", "ro", "nosuid", "nodev", "noexec"] },
          { destination: "/rw", type: "bind", source: data, options: ["bind"] },
          { destination: "/etc/single.conf", type: "bind", source: path.join(b.dir, "single.conf"), options: ["bind", "ro"] },
        );
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^from the host\none file\n/);
    assert.match(r.stdout, /Read-only file system/);
    assert.match(r.stdout, /ro=1/);
    assert.match(r.stdout, /rw=ok/);
    assert.match(r.stdout, / \/data \S+ ro,nosuid,nodev,noexec/);
    assert.ok(existsSync(path.join(data, "y")), "a write through a rw bind reaches the host directory");
  });

  test("a symlink in the rootfs cannot lead a mount onto the host", () => {
    // /escape -> /tmp/<outside>: the mount must land inside the rootfs's /tmp, not the host's.
    const outside = `hako-escape-${process.pid}`;
    symlinkSync(`/tmp/${outside}`, path.join(b.rootfs, "escape"));
    try {
      const r = b.run(["sh", "-c", "grep -c escape /proc/mounts; ls -d /tmp/*"], (s) => {
        s.mounts!.push({ destination: "/escape/sub", type: "tmpfs", source: "tmpfs", options: ["size=1m"] });
      });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(existsSync(`/tmp/${outside}`), false, "nothing was created on the host");
      assert.ok(existsSync(path.join(b.rootfs, "tmp", outside, "sub")), "the mount point was made inside the rootfs");
    } finally {
      rmSync(path.join(b.rootfs, "escape"), { force: true });
      rmSync(path.join(b.rootfs, "tmp", outside), { recursive: true, force: true });
    }
  });

  test("without a mount namespace the root is changed with chroot", () => {
    const r = b.run(["sh", "-c", "ls /bin/busybox && echo $$"], (s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "mount");
      s.mounts = [];
      s.linux!.maskedPaths = [];
      s.linux!.readonlyPaths = [];
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["/bin/busybox", "1"]);
  });

  test("stdin reaches the process through pipes", () => {
    const r = b.run(["cat"], undefined, { input: "line one\nline two\n" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "line one\nline two\n");
  });
});
