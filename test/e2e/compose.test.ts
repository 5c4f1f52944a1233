/**
 * docker-compose 1.29 (Debian's, through docker-py and the API it
 * negotiates) against hakod: a two-service project on its own network and
 * volume, a published port, a healthcheck, exec, run, logs, a recreate on
 * a changed environment, stop/start, down -v. Compose takes every
 * container off its network and connects it again before each start (to
 * set its aliases), which is what this test exists to keep working.
 * Traffic only to 127.0.0.1 and the project's containers; the daemon's
 * bridge and chains carry test names and are gone at the end.
 */
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { HAKO_BIN, type TestDaemon } from "../helpers/daemon.ts";
import { startNetworkDaemon, stopNetworkDaemon } from "../helpers/network-daemon.ts";
import { freePort } from "../helpers/netns.ts";

const COMPOSE = "/usr/bin/docker-compose";
const tag = randomBytes(3).toString("hex");
const prefix = `HKC${tag.toUpperCase()}`;
const defaultBridge = `hkc${tag}`;
const project = `hk${tag}`;

const skip = process.getuid?.() !== 0 ? "needs root (bridges, iptables, containers)" : !existsSync(COMPOSE) ? `${COMPOSE} is missing (apt-get install docker-compose)` : false;

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: "/", timeout: 5000 }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve(body));
      })
      .on("error", reject);
  });
}

async function eventually<T>(what: string, fn: () => T | Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await fn();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`${what}: still ${JSON.stringify(last)} after ${ms} ms`);
}

describe("e2e: docker-compose 1.29", { skip }, () => {
  let d: TestDaemon;
  const execRoot = mkdtempSync("/tmp/hc-");
  const dir = mkdtempSync(path.join(os.tmpdir(), "hako-compose-"));
  const bridges = new Set<string>([defaultBridge]);
  let env: NodeJS.ProcessEnv;
  let port: number;

  const compose = (args: string[]): SpawnSyncReturns<string> => spawnSync(COMPOSE, ["-p", project, ...args], { cwd: dir, encoding: "utf8", env, timeout: 120_000 });
  const ok = (r: SpawnSyncReturns<string>): string => {
    assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  };
  const writeProject = (greeting: string): void =>
    writeFileSync(
      path.join(dir, "docker-compose.yml"),
      `version: "3.8"
services:
  web:
    image: busybox:latest
    init: true
    command: ["sh", "-c", "[ -f /www/index.html ] || echo page-one > /www/index.html; exec httpd -f -p 8080 -h /www"]
    volumes: ["data:/www"]
    ports: ["127.0.0.1:${port}:8080"]
    environment: ["GREETING=${greeting}"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  worker:
    image: busybox:latest
    init: true
    command: ["sh", "-c", "while true; do wget -qO- http://web:8080/ || echo no-answer; sleep 1; done"]
    depends_on: [web]
    labels: {role: worker}
volumes:
  data: {}
`,
    );

  before(async () => {
    d = await startNetworkDaemon({ defaultBridge, prefix, execRoot });
    env = { ...process.env, DOCKER_HOST: d.host };
    for (const k of ["HAKO_HOST", "DOCKER_API_VERSION", "DOCKER_CONTEXT", "COMPOSE_FILE", "COMPOSE_PROJECT_NAME"]) delete env[k];
    ok(spawnSync(HAKO_BIN, ["image", "bootstrap"], { encoding: "utf8", env }));
    port = await freePort();
    writeProject("hi");
  });
  after(async () => {
    if (d) compose(["down", "-v", "--remove-orphans"]);
    await stopNetworkDaemon(d, bridges, prefix);
    rmSync(dir, { recursive: true, force: true });
    rmSync(execRoot, { recursive: true, force: true });
  });

  test("up -d: both services run on the project's network, the port answers, names resolve, the healthcheck passes", async () => {
    ok(compose(["up", "-d"]));
    const ps = ok(compose(["ps"]));
    assert.match(ps, new RegExp(`${project}_web_1 .* Up`));
    assert.match(ps, new RegExp(`${project}_worker_1 .* Up`));
    assert.equal((await eventually("the published port", () => httpGet(port).catch(() => ""), (b) => b !== "")).trim(), "page-one");
    await eventually("the worker's wget of http://web:8080/", () => compose(["logs", "--no-color", "worker"]).stdout, (out) => out.includes("page-one"));
    await eventually("web's health", () => compose(["ps"]).stdout, (out) => /Up \(healthy\)/.test(out));
    const net = JSON.parse(ok(spawnSync("docker", ["network", "inspect", `${project}_default`], { encoding: "utf8", env })))[0];
    assert.equal(Object.keys(net.Containers).length, 2);
  });

  test("exec and run reach the service and its volume", () => {
    ok(compose(["exec", "-T", "web", "sh", "-c", "echo page-two > /www/index.html"]));
    assert.equal(ok(compose(["run", "--rm", "worker", "wget", "-qO-", "http://web:8080/"])).trim(), "page-two");
    assert.equal(ok(compose(["exec", "-T", "web", "sh", "-c", "echo $GREETING"])).trim(), "hi");
  });

  test("a changed environment recreates the service; the volume keeps its content", async () => {
    writeProject("hello");
    const up = compose(["up", "-d"]);
    ok(up);
    assert.match(up.stderr, new RegExp(`Recreating ${project}_web_1`));
    assert.equal(ok(compose(["exec", "-T", "web", "sh", "-c", "echo $GREETING"])).trim(), "hello");
    assert.equal((await eventually("the port after the recreate", () => httpGet(port).catch(() => ""), (b) => b !== "")).trim(), "page-two");
  });

  test("stop, start, down -v leave nothing of the project", async () => {
    ok(compose(["stop"]));
    assert.match(ok(compose(["ps"])), /Exit/);
    ok(compose(["start"]));
    await eventually("the port after start", () => httpGet(port).catch(() => ""), (b) => b.trim() === "page-two");
    ok(compose(["down", "-v"]));
    const docker = (args: string[]): string => ok(spawnSync("docker", args, { encoding: "utf8", env }));
    assert.equal(docker(["ps", "-aq", "--filter", `label=com.docker.compose.project=${project}`]).trim(), "");
    assert.doesNotMatch(docker(["network", "ls"]), new RegExp(`${project}_default`));
    assert.doesNotMatch(docker(["volume", "ls"]), new RegExp(`${project}_data`));
  });
});
