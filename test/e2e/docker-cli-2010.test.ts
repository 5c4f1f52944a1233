/**
 * Debian's docker.io 20.10 client (API 1.41, the legacy builder era)
 * against hakod: the image commands a user of an older docker would type.
 * Skips when /usr/bin/docker is not a 20.10 client.
 */
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { HAKO_BIN, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { registrySkipReason, startRegistry, type TestRegistry } from "../helpers/registry.ts";

const DOCKER_2010 = "/usr/bin/docker";

function clientVersion(): string {
  if (!existsSync(DOCKER_2010)) return "";
  const r = spawnSync(DOCKER_2010, ["--version"], { encoding: "utf8" });
  return r.stdout ?? "";
}

const skip =
  process.getuid?.() !== 0
    ? "needs root (overlay layers)"
    : !/Docker version 20\.10\./.test(clientVersion())
      ? `${DOCKER_2010} is not the docker.io 20.10 client (apt-get install docker.io)`
      : (registrySkipReason() ?? false);

describe("e2e: the docker 20.10 client", { skip }, () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let tmp: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    [d, reg] = await Promise.all([startDaemon(), startRegistry()]);
    tmp = mkdtempSync(path.join(os.tmpdir(), "hako-e2e-2010-"));
    env = { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: tmp };
    for (const k of ["HAKO_HOST", "DOCKER_API_VERSION", "DOCKER_CONTEXT"]) delete env[k];
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const docker = (args: string[]): SpawnSyncReturns<string> =>
    spawnSync(DOCKER_2010, args, { encoding: "utf8", env, timeout: 120_000 });
  const ok = (r: SpawnSyncReturns<string>): string => {
    assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  };

  test("version negotiates API 1.41", () => {
    const out = ok(docker(["version", "--format", "{{.Client.APIVersion}} {{.Server.APIVersion}}"]));
    assert.equal(out.trim(), "1.41 1.44");
  });

  test("images, tag, push, rmi, pull, inspect, history, save/load", () => {
    ok(spawnSync(HAKO_BIN, ["image", "bootstrap"], { encoding: "utf8", env }));
    const id = ok(docker(["image", "inspect", "-f", "{{.Id}}", "busybox"])).trim();
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    assert.match(ok(docker(["images"])), /^busybox\s+latest\s+[a-f0-9]{12}\s/m);
    const target = `${reg.host}/old/busybox:1`;
    ok(docker(["tag", "busybox", target]));
    assert.match(ok(docker(["push", target])), /1: digest: sha256:[a-f0-9]{64} size: \d+/);
    assert.match(ok(docker(["rmi", target])), new RegExp(`Untagged: ${target}`));
    const pulled = ok(docker(["pull", target]));
    assert.match(pulled, new RegExp(`Status: (Downloaded newer image|Image is up to date) for ${target}`));
    assert.equal(ok(docker(["image", "inspect", "-f", "{{.Id}}", target])).trim(), id);
    assert.match(ok(docker(["history", "busybox"])), /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT/);
    const file = path.join(tmp, "bb.tar");
    ok(docker(["save", "-o", file, "busybox"]));
    ok(docker(["rmi", "-f", id]));
    assert.match(ok(docker(["load", "-i", file])), /Loaded image: busybox:latest/);
    assert.equal(ok(docker(["image", "inspect", "-f", "{{.Id}}", "busybox"])).trim(), id);
    const missing = docker(["image", "inspect", "nope:1"]);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /No such image: nope:1/);
  });
});
