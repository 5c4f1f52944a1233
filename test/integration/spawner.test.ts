/**
 * hakod's spawner (native/src/spawner.c, src/native/spawner.ts): helpers
 * forked by it run real containers with their stdio on sockets handed to
 * us over Node's IPC channel, report their exit codes, and come many at
 * once; a stopped spawner refuses new work and leaves running helpers be.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { helperPath, startShim } from "../../src/native/shim.ts";
import { Spawner } from "../../src/native/spawner.ts";
import { ShimFixture, parentOf } from "../helpers/shim.ts";

const skip = process.getuid?.() !== 0 ? "needs root" : false;

function collect(stream: NodeJS.ReadableStream | null): Promise<string> {
  if (!stream) return Promise.resolve("");
  let out = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => (out += chunk));
  return new Promise((resolve) => stream.on("end", () => resolve(out)));
}

describe("spawner", { skip }, () => {
  const f = new ShimFixture();
  const spawner = skip ? undefined : new Spawner(helperPath());
  after(() => spawner?.close());

  test("a helper it forks runs a container: output on the handed-over sockets, its exit code", async () => {
    const { plan, cgroup } = f.plan(["sh", "-c", "echo out; echo err >&2; exit 7"]);
    try {
      const shim = startShim(plan, { stdio: ["ignore", "pipe", "pipe"], spawner });
      assert.equal(shim.child, undefined, "not spawned by Node");
      const pid = await shim.pid;
      assert.ok(pid > 0);
      const [out, err, exit] = await Promise.all([collect(shim.stdout), collect(shim.stderr), shim.exited]);
      assert.equal(out, "out\n");
      assert.equal(err, "err\n");
      assert.equal(exit.code, 7);
    } finally {
      cgroup.destroy();
    }
  });

  test("a set-up failure comes back as the helper's error and status", async () => {
    const { plan, cgroup } = f.plan(["/no/such/binary"]);
    try {
      const shim = startShim(plan, { stdio: ["ignore", "pipe", "pipe"], spawner });
      await assert.rejects(shim.pid, /no such file or directory/);
      const exit = await shim.exited;
      assert.equal(exit.code, 127);
      assert.equal(exit.error?.stage, "exec");
    } finally {
      cgroup.destroy();
    }
  });

  test("twenty at once: every one gets its own sockets and its own exit code", async () => {
    const runs = Array.from({ length: 20 }, (_, i) => {
      const { plan, cgroup } = f.plan(["sh", "-c", `echo ${i}; exit ${i}`]);
      const shim = startShim(plan, { stdio: ["ignore", "pipe", "ignore"], spawner });
      // The streams are there once the pid is (the spawner hands them over first).
      return shim.pid.then(() => Promise.all([collect(shim.stdout), shim.exited])).finally(() => cgroup.destroy());
    });
    const results = await Promise.all(runs);
    results.forEach(([out, exit], i) => {
      assert.equal(out, `${i}\n`);
      assert.equal(exit.code, i);
    });
  });

  test("the helper is the spawner's child, not ours; a stopped spawner refuses new helpers", async () => {
    const own = new Spawner(helperPath());
    try {
      const helper = await own.spawn(["ignore", "ignore", "ignore", "pipe"]);
      assert.notEqual(parentOf(helper.pid), process.pid);
      helper.stdio[3]!.end(Buffer.alloc(0));
      helper.stdio[3]!.destroy(); // no plan: the helper gives up on its own
      assert.ok((await helper.exitCode) !== 0);
      own.close();
      assert.equal(own.alive, false);
      await assert.rejects(own.spawn(["ignore", "ignore", "ignore", "pipe"]), /stopped/);
    } finally {
      own.close();
    }
  });
});
