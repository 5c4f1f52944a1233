/**
 * The OCI lifecycle through hako-runtime's command line: create/start split,
 * state transitions, kill, delete, exec, hooks, user namespaces, and bad
 * input answered with a clear error and a non-zero exit.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync, chmodSync, mkdirSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { CAPABILITIES, hostCapabilities } from "../../src/runtime/capabilities.ts";
import { TestBundle, bundleForSuite, dockerLikeSpec, isRoot, uniqueId, waitFor } from "../helpers/bundle.ts";

const skip = isRoot ? false : "needs root (real namespaces)";
const hasPython = spawnSync("python3", ["-c", "import socket; socket.recv_fds"]).status === 0;

function status(b: TestBundle, id: string): string {
  const r = b.runtime(["state", id]);
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { status: string }).status;
}

describe("runtime: lifecycle", { skip }, () => {
  const b = bundleForSuite();

  test("create waits for start; state goes created → running → stopped; delete removes it", async () => {
    const id = uniqueId("life");
    b.writeConfig(dockerLikeSpec(["sh", "-c", "echo started > /tmp/flag; sleep 30"], id));
    const pidFile = path.join(b.dir, `${id}.pid`);
    const c = b.runtimeDetached(["create", "--bundle", b.dir, "--pid-file", pidFile, id]);
    assert.equal(c.status, 0, c.stderr);
    assert.equal(status(b, id), "created");
    const state = JSON.parse(b.runtime(["state", id]).stdout) as { pid: number; bundle: string; ociVersion: string };
    assert.equal(Number(readFileSync(pidFile, "utf8")), state.pid);
    assert.equal(state.bundle, b.dir);
    // The program has not run yet.
    assert.equal(existsSync(path.join(b.rootfs, "tmp/flag")), false);
    const list = JSON.parse(b.runtime(["list", "--format", "json"]).stdout) as { id: string; status: string }[];
    assert.ok(list.some((c) => c.id === id && c.status === "created"));

    assert.equal(b.runtimeDetached(["start", id]).status, 0);
    assert.equal(status(b, id), "running");
    await waitFor(() => existsSync(path.join(b.rootfs, "tmp/flag")), 5000, "the program to run");
    const again = b.runtimeDetached(["start", id]);
    assert.notEqual(again.status, 0, "a second start is refused");

    const refused = b.runtime(["delete", id]);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /not stopped/);

    assert.equal(b.runtime(["kill", id, "KILL"]).status, 0);
    await waitFor(() => status(b, id) === "stopped", 5000, "stopped");
    const killStopped = b.runtime(["kill", id, "TERM"]);
    assert.notEqual(killStopped.status, 0);
    assert.equal(b.runtime(["delete", id]).status, 0);
    const gone = b.runtime(["state", id]);
    assert.notEqual(gone.status, 0);
    assert.match(gone.stderr, /does not exist/);
  });

  test("exec runs a process in the container's namespaces; a missing binary gives 127", () => {
    const id = uniqueId("exec");
    b.writeConfig(dockerLikeSpec(["sleep", "30"], id));
    assert.equal(b.runtimeDetached(["run", "--detach", "--bundle", b.dir, id]).status, 0);
    try {
      const r = b.runtime(["exec", id, "sh", "-c", "hostname; ps -o pid,comm | grep -c sleep; echo $((6*7))"]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n"), [id, "1", "42"]);
      const code = b.runtime(["exec", id, "sh", "-c", "exit 5"]);
      assert.equal(code.status, 5);
      const missing = b.runtime(["exec", id, "/bin/bash"]);
      assert.equal(missing.status, 127);
      assert.match(missing.stderr, /exec: "\/bin\/bash": stat \/bin\/bash: no such file or directory/);
      const user = b.runtime(["exec", "--user", "1000:1000", "--cwd", "/tmp", id, "sh", "-c", "id -u; pwd; grep CapEff /proc/self/status"]);
      assert.match(user.stdout, /^1000\n\/tmp\nCapEff:\s+0000000000000000$/m);
      const tty = b.runtime(["exec", "--tty", id, "tty"]);
      assert.match(tty.stdout, /\/dev\/pts\/\d+/);
    } finally {
      b.runtime(["delete", "--force", id]);
    }
  });

  test("create with --console-socket hands the pty master over SCM_RIGHTS", { skip: hasPython ? false : "needs python3 to receive the fd" }, async () => {
    const id = uniqueId("console");
    const sock = path.join(b.dir, `${id}.sock`);
    // A receiver in python: Node's net module cannot receive file descriptors.
    const receiver = spawn("python3", [
      "-c",
      [
        "import socket, sys, os, time",
        "s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)",
        "print('ready', flush=True)",
        "c, _ = s.accept(); msg, fds, _, _ = socket.recv_fds(c, 1024, 1)",
        "out = b''",
        "end = time.time() + 10",
        "while b'done' not in out and time.time() < end:",
        "    try: out += os.read(fds[0], 4096)",
        "    except OSError: break",
        "print(out.decode(errors='replace'), flush=True)",
      ].join("\n"),
      sock,
    ]);
    let received = "";
    receiver.stdout.setEncoding("utf8").on("data", (d: string) => (received += d));
    await waitFor(() => received.includes("ready"), 5000, "the receiver");
    const spec = dockerLikeSpec(["sh", "-c", "tty; stty size; echo done"], id);
    spec.process!.terminal = true;
    spec.process!.consoleSize = { height: 40, width: 120 };
    b.writeConfig(spec);
    try {
      const c = b.runtimeDetached(["create", "--bundle", b.dir, "--console-socket", sock, id]);
      assert.equal(c.status, 0, c.stderr);
      assert.equal(b.runtimeDetached(["start", id]).status, 0);
      await new Promise((r) => receiver.on("close", r));
      assert.match(received, /\/dev\/pts\/\d+/);
      assert.match(received, /40 120/);
    } finally {
      receiver.kill();
      b.runtime(["delete", "--force", id]);
    }
  });

  test("hooks run at their stages with the state on stdin", async () => {
    const id = uniqueId("hooks");
    const log = path.join(b.dir, `${id}.log`);
    const hook = path.join(b.dir, "hook.sh");
    writeFileSync(hook, `#!/bin/sh\nstate=$(cat)\necho "$1 $state" >> ${log}\n`);
    chmodSync(hook, 0o755);
    const h = (stage: string) => [{ path: hook, args: ["hook.sh", stage] }];
    const spec = dockerLikeSpec(["true"], id);
    spec.hooks = {
      createRuntime: h("createRuntime"),
      createContainer: h("createContainer"),
      prestart: h("prestart"),
      poststart: h("poststart"),
      poststop: h("poststop"),
    };
    b.writeConfig(spec);
    const r = b.run(["true"], (s) => (s.hooks = spec.hooks), { id });
    assert.equal(r.status, 0, r.stderr);
    const lines = readFileSync(log, "utf8").trim().split("\n");
    assert.deepEqual(lines.map((l) => l.split(" ")[0]), ["createRuntime", "createContainer", "prestart", "poststart", "poststop"]);
    const first = JSON.parse(lines[0]!.slice(lines[0]!.indexOf(" ") + 1)) as { id: string; status: string; pid: number };
    assert.equal(first.id, id);
    assert.equal(first.status, "creating");
    assert.ok(first.pid > 0);
  });

  test("startContainer hooks run inside the container, after start, before the program", () => {
    const id = uniqueId("starthook");
    const r = b.run(["cat", "/tmp/hook-ran"], (s) => {
      s.hooks = {
        startContainer: [{ path: "/bin/sh", args: ["sh", "-c", "read state; echo \"in $(hostname) $state\" > /tmp/hook-ran"] }],
      };
    }, { id });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^in ${id} \\{.*"id":"${id}"`));
  });

  test("a failing createRuntime hook fails create and leaves nothing", () => {
    const id = uniqueId("badhook");
    const r = b.run(["true"], (s) => (s.hooks = { createRuntime: [{ path: "/bin/false" }] }), { id });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /createRuntime hook \/bin\/false exited with status 1/);
    assert.notEqual(b.runtime(["state", id]).status, 0);
  });

  test("a user namespace maps root inside to an unprivileged host id", () => {
    const r = b.run(["sh", "-c", "id -u; cat /proc/self/uid_map; touch /tmp/ok && echo wrote"], (s) => {
      s.linux!.namespaces!.push({ type: "user" });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 0, size: 1 }, { containerID: 1, hostID: 100000, size: 65535 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 0, size: 1 }, { containerID: 1, hostID: 100000, size: 65535 }];
    });
    assert.equal(r.status, 0, r.stderr);
    const [uid, map1, map2, wrote] = r.stdout.trim().split("\n").map((l) => l.trim().replace(/\s+/g, " "));
    assert.equal(uid, "0");
    assert.equal(map1, "0 0 1");
    assert.equal(map2, "1 100000 65535");
    assert.equal(wrote, "wrote");

    // Root of the container is host uid 100000: it cannot write what host root owns.
    const shifted = b.run(["sh", "-c", "id -u; touch /etc/x 2>&1; echo $?"], (s) => {
      s.linux!.namespaces!.push({ type: "user" });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
    assert.match(shifted.stdout.trim(), /^0\n.*(Permission denied|Read-only).*\n1$/s);
  });

  test("bad input: clear errors, non-zero exits, nothing left behind", () => {
    const cases: [string, (dir: string) => void, RegExp][] = [
      ["malformed config.json", (d) => writeFileSync(path.join(d, "config.json"), "{ not json"), /config\.json is not valid JSON/],
      ["missing rootfs", (d) => writeFileSync(path.join(d, "config.json"), JSON.stringify({ ...dockerLikeSpec(["true"]), root: { path: "nope" } })), /rootfs .*nope does not exist/],
      [
        "unknown capability",
        (d) => {
          const s = dockerLikeSpec(["true"]);
          s.process!.capabilities!.bounding!.push("CAP_TEST");
          writeFileSync(path.join(d, "config.json"), JSON.stringify(s));
        },
        /unknown capability "CAP_TEST"/,
      ],
      ["ociVersion that is not 1.x", (d) => writeFileSync(path.join(d, "config.json"), JSON.stringify({ ...dockerLikeSpec(["true"]), ociVersion: "invalid" })), /ociVersion "invalid" is not a runtime-spec 1\.x version/],
      [
        "an AppArmor profile that cannot be applied",
        (d) => {
          const s = dockerLikeSpec(["true"]);
          s.process!.apparmorProfile = "docker-default";
          writeFileSync(path.join(d, "config.json"), JSON.stringify(s));
        },
        /apparmorProfile "docker-default": AppArmor/,
      ],
      ["no process", (d) => writeFileSync(path.join(d, "config.json"), JSON.stringify({ ...dockerLikeSpec(["true"]), process: undefined })), /process is required/],
      ["wrong type", (d) => writeFileSync(path.join(d, "config.json"), JSON.stringify({ ...dockerLikeSpec(["true"]), mounts: "no" })), /mounts must be an array/],
    ];
    for (const [what, write, message] of cases) {
      const dir = path.join(b.dir, `bad-${cases.findIndex((c) => c[0] === what)}`);
      mkdirSync(dir, { recursive: true });
      if (!existsSync(path.join(dir, "rootfs"))) mkdirSync(path.join(dir, "rootfs"));
      writeFileSync(path.join(dir, "rootfs", ".keep"), "");
      write(dir);
      const id = uniqueId("bad");
      const r = b.runtimeDetached(["create", "--bundle", dir, id]);
      assert.notEqual(r.status, 0, what);
      assert.match(r.stderr, message, what);
      assert.notEqual(b.runtime(["state", id]).status, 0, `${what}: no state left`);
    }
    // A capability the host's bounding set lacks (this machine: CAP_SYS_RESOURCE) fails create, by name.
    const lacking = CAPABILITIES.filter((c) => !hostCapabilities().includes(c));
    if (lacking.length) {
      const capId = uniqueId("nocap");
      const s = dockerLikeSpec(["true"], capId);
      s.process!.capabilities!.permitted!.push(lacking[0]!);
      b.writeConfig(s);
      const r = b.runtimeDetached(["create", "--bundle", b.dir, capId]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, new RegExp(`${lacking[0]} not available on this host`));
    }

    // An args[0] that does not exist fails create, before start.
    const id = uniqueId("noprog");
    b.writeConfig(dockerLikeSpec(["/no/such/program"], id));
    const noProg = b.runtimeDetached(["create", "--bundle", b.dir, id]);
    assert.equal(noProg.status, 127);
    assert.match(noProg.stderr, /exec: "\/no\/such\/program": stat \/no\/such\/program: no such file or directory/);
    assert.notEqual(b.runtime(["state", id]).status, 0);

    const unknownVerb = b.runtime(["frobnicate"]);
    assert.notEqual(unknownVerb.status, 0);
    const badId = b.runtime(["state", "../etc"]);
    assert.notEqual(badId.status, 0);
    assert.match(badId.stderr, /invalid container id/);
  });
});
