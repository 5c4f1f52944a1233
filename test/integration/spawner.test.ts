/**
 * hakod's spawner (native/src/spawner.c, src/native/spawner.ts): helpers
 * forked by it run real containers with their stdio on sockets handed to
 * us over Node's IPC channel, report their exit codes, and come many at
 * once; a stopped spawner refuses new work and leaves running helpers be.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, readlinkSync } from "node:fs";
import { release } from "node:os";
import { after, describe, test } from "node:test";
import { helperPath, startShim } from "../../src/native/shim.ts";
import { Spawner, type SpawnerOptions } from "../../src/native/spawner.ts";
import { waitFor } from "../helpers/bundle.ts";
import { ShimFixture, alive, parentOf, waitGone } from "../helpers/shim.ts";

const skip = process.getuid?.() !== 0 ? "needs root" : false;

/** A session leader's session id is its pid (field 6 of /proc/pid/stat). */
function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
}

/** A spawner of the test's own, stopped once `fn` is done. */
async function withSpawner(options: SpawnerOptions, fn: (own: Spawner) => Promise<void>): Promise<void> {
  const own = new Spawner(helperPath(), options);
  try {
    await fn(own);
  } finally {
    own.close();
  }
}

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

  test("--parent-slice-us: the caller's main thread gets the short slice, the helpers it forks do not", async (t) => {
    const sliceOf = (pid: number | "self"): number | undefined => {
      const m = /^se\.slice\s*:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/sched`, "utf8"));
      return m ? Number(m[1]) : undefined;
    };
    const [major, minor] = release().split(".").map(Number) as [number, number];
    if (sliceOf("self") === undefined || major < 6 || (major === 6 && minor < 12)) {
      t.skip("no custom EEVDF slices on this kernel (6.12+)");
      return;
    }
    await withSpawner({ parentSliceUs: 100 }, async (own) => {
      // The spawner sets it first thing; a spawn round trip is after that.
      const helper = await own.spawn(["ignore", "ignore", "ignore", "pipe"]);
      helper.stdio[3]!.destroy();
      await helper.exitCode;
      assert.equal(sliceOf("self"), 100_000);
      // What our main thread forks (iptables, a node spawn) runs with the default slice again.
      const child = spawn("sleep", ["5"], { stdio: "ignore" });
      try {
        await new Promise((r) => child.once("spawn", r));
        assert.notEqual(sliceOf(child.pid!), 100_000, "reset on fork");
      } finally {
        child.kill("SIGKILL");
      }
    });
  });

  test("warm: the helper forked ahead runs the next container with the sockets asked for, and another takes its place", async () => {
    await withSpawner({ warm: true }, async (own) => {
      await waitFor(() => own.warmPid !== undefined, 5000, "a warm helper");
      const warmPid = own.warmPid!;
      assert.ok(alive(warmPid));
      const { plan, cgroup } = f.plan(["sh", "-c", "echo out; echo err >&2; read x || echo no-stdin; exit 5"]);
      try {
        const shim = startShim(plan, { stdio: ["ignore", "pipe", "ignore"], spawner: own, detached: true });
        const pid = await shim.pid;
        assert.ok(pid > 0);
        const [out, exit] = await Promise.all([collect(shim.stdout), shim.exited]);
        assert.equal(out, "out\nno-stdin\n", "stdout kept; stdin is /dev/null; stderr went nowhere");
        assert.equal(shim.stderr, null);
        assert.equal(exit.code, 5);
      } finally {
        cgroup.destroy();
      }
      await waitGone(warmPid);
      await waitFor(() => own.warmPid !== undefined, 5000, "the next warm helper");
      assert.notEqual(own.warmPid, warmPid);

      // The next one, taken for a session of its own (a shim's), is its session's leader.
      const next = own.warmPid!;
      const helper = own.takeWarm(["ignore", "ignore", "ignore", "pipe"], { detached: true });
      assert.equal(helper?.pid, next);
      await waitFor(() => sessionOf(next) === next, 5000, "setsid in the helper");
      helper!.stdio[3]!.destroy(); // no plan: it gives up
      assert.notEqual(await helper!.exitCode, 0);
    });
  });

  test("warm: the next helper has sockets where recent uses kept them; a use wanting more spawns cold and remakes it", async () => {
    await withSpawner({ warm: true }, async (own) => {
      await waitFor(() => own.warmPid !== undefined, 5000, "a warm helper");
      assert.equal(own.warmKinds, "pppp", "before any use: a socket for every fd");
      const first = own.warmPid!;
      own.takeWarm(["ignore", "ignore", "ignore", "pipe"])!.stdio[3]!.destroy(); // a container start's slots, then given up
      await waitFor(() => own.warmPid !== undefined && own.warmPid !== first, 5000, "the next warm helper");
      assert.equal(own.warmKinds, "nnnp");
      const startsOnly = own.warmPid!;
      for (const fd of [0, 1, 2]) assert.equal(readlinkSync(`/proc/${startsOnly}/fd/${fd}`), "/dev/null");

      // An exec's slots: this one lacks the sockets, so it is let go and the exec's helper comes cold.
      const { plan, cgroup } = f.plan(["sh", "-c", "echo out; echo err >&2"]);
      try {
        const shim = startShim(plan, { stdio: ["ignore", "pipe", "pipe"], spawner: own });
        await shim.pid;
        const [out, err, exit] = await Promise.all([collect(shim.stdout), collect(shim.stderr), shim.exited]);
        assert.deepEqual([out, err, exit.code], ["out\n", "err\n", 0]);
      } finally {
        cgroup.destroy();
      }
      await waitGone(startsOnly);
      await waitFor(() => own.warmPid !== undefined, 5000, "a warm helper made for both");
      assert.equal(own.warmKinds, "nppp", "sockets where any recent use kept one");
      const both = own.warmPid!;
      assert.match(readlinkSync(`/proc/${both}/fd/1`), /^socket:/);
      assert.equal(readlinkSync(`/proc/${both}/fd/0`), "/dev/null");
    });
  });

  test("warm: a helper killed while it waits is replaced, and the next start does not notice", async () => {
    await withSpawner({ warm: true }, async (own) => {
      await waitFor(() => own.warmPid !== undefined, 5000, "a warm helper");
      const killed = own.warmPid!;
      process.kill(killed, "SIGKILL");
      await waitFor(() => own.warmPid !== undefined && own.warmPid !== killed, 5000, "a new warm helper");
      const { plan, cgroup } = f.plan(["echo", "still here"]);
      try {
        const shim = startShim(plan, { stdio: ["ignore", "pipe", "ignore"], spawner: own });
        const [out, exit] = await Promise.all([collect(shim.stdout), shim.exited]);
        assert.equal(out, "still here\n");
        assert.equal(exit.code, 0);
      } finally {
        cgroup.destroy();
      }
    });
  });

  test("warm: a helper never taken goes when the spawner does", async () => {
    await withSpawner({ warm: true }, async (own) => {
      await waitFor(() => own.warmPid !== undefined, 5000, "a warm helper");
      const warmPid = own.warmPid!;
      own.close();
      await waitGone(warmPid);
    });
  });

  test("the helper is the spawner's child, not ours; a stopped spawner refuses new helpers", async () => {
    await withSpawner({}, async (own) => {
      const helper = await own.spawn(["ignore", "ignore", "ignore", "pipe"]);
      assert.notEqual(parentOf(helper.pid), process.pid);
      helper.stdio[3]!.end(Buffer.alloc(0));
      helper.stdio[3]!.destroy(); // no plan: the helper gives up on its own
      assert.ok((await helper.exitCode) !== 0);
      own.close();
      assert.equal(own.alive, false);
      await assert.rejects(own.spawn(["ignore", "ignore", "ignore", "pipe"]), /stopped/);
    });
  });
});
