/**
 * Runs timing jobs for bench/run.ts inside another mount namespace: the
 * bench starts it as
 *   unshare -m --propagation private -- sh -c 'umount /sys/fs/cgroup/unified; exec node ... ns-runner.ts'
 * so runtimes that refuse the hybrid cgroup layout (crun 1.8) see pure
 * cgroup v1. Nothing changes outside the namespace.
 *
 * Protocol: one JSON object a line. stdout: first {"ready":true,...}, then
 * one {"seq":n,"result":...} or {"seq":n,"error":"..."} per request read on
 * stdin ({"seq":n,"job":Job}). End of stdin: delete what is left, exit.
 */
import { readFileSync } from "node:fs";
import { Executor, type Job } from "./exec.ts";

const executor = new Executor();

function send(msg: unknown): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

function unifiedMounted(): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[4] === "/sys/fs/cgroup/unified");
}

let finished = false;
function finish(): void {
  if (finished) return;
  finished = true;
  executor.cleanupAll();
  process.exit(0);
}

// Ctrl-C reaches the whole process group: let the bench decide, and clean up when it closes our stdin.
process.on("SIGINT", () => {});
process.on("SIGTERM", finish);
process.on("SIGHUP", finish);

let buffered = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk: string) => {
  buffered += chunk;
  let nl: number;
  while ((nl = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    if (!line.trim()) continue;
    let seq = -1;
    try {
      const req = JSON.parse(line) as { seq: number; job: Job };
      seq = req.seq;
      send({ seq, result: executor.run(req.job) });
    } catch (err) {
      send({ seq, error: String((err as Error)?.message ?? err) });
    }
  }
});
process.stdin.on("end", finish);
process.stdin.on("close", finish);

send({ ready: true, pid: process.pid, unifiedMounted: unifiedMounted() });
