/**
 * Black-box runs of the stock docker CLI and of hako against a real hakod:
 * version negotiation, info, login, events, error answers — what a user
 * sees. The docker tests skip when /usr/local/bin/docker is not installed.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { HAKO_BIN, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { startFakeRegistry, type FakeRegistry } from "../helpers/images.ts";

const DOCKER = "/usr/local/bin/docker";
const VERSION = (JSON.parse(readFileSync(path.resolve(__dirname, "../../package.json"), "utf8")) as { version: string }).version;

function run(bin: string, args: string[], env: NodeJS.ProcessEnv, input = ""): SpawnSyncReturns<string> {
  return spawnSync(bin, args, { encoding: "utf8", env, input, timeout: 30_000 });
}

describe("e2e: the docker CLI against hakod", { skip: existsSync(DOCKER) ? false : `${DOCKER} is not installed` }, () => {
  let d: TestDaemon;
  let config: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    d = await startDaemon();
    config = mkdtempSync(path.join(os.tmpdir(), "docker-config-"));
    env = { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: config, DOCKER_CLI_HINTS: "false" };
    delete env.DOCKER_API_VERSION;
    delete env.DOCKER_CONTEXT;
  });
  after(async () => {
    await d?.stop();
    if (config) rmSync(config, { recursive: true, force: true });
  });
  const docker = (args: string[], extraEnv: NodeJS.ProcessEnv = {}, input = ""): SpawnSyncReturns<string> => run(DOCKER, args, { ...env, ...extraEnv }, input);

  test("docker version negotiates API 1.44 and shows the server", () => {
    const r = docker(["version"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Server: hako$/m);
    assert.match(r.stdout, /^ Engine:$/m);
    assert.match(r.stdout, new RegExp(`^  Version:\\s+${VERSION.replace(/\./g, "\\.")}$`, "m"));
    assert.match(r.stdout, /^  API version:\s+1\.44 \(minimum version 1\.24\)$/m);
    assert.match(r.stdout, /^  OS\/Arch:\s+linux\//m);
    // The client talks 1.44 (its own maximum is higher).
    assert.match(r.stdout, /^ API version:\s+1\.44( \(downgraded from 1\.\d+\))?$/m);
  });

  test("docker version --format reads the server fields", () => {
    const r = docker(["version", "--format", "{{.Server.Version}} {{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), `${VERSION} 1.44 1.24 linux`);
  });

  test("an older client version is served (DOCKER_API_VERSION=1.41, and 1.24)", () => {
    for (const v of ["1.41", "1.24"]) {
      const r = docker(["version", "--format", "{{.Client.APIVersion}} {{.Server.Version}}"], { DOCKER_API_VERSION: v });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), `${v} ${VERSION}`);
    }
  });

  test("docker info --format '{{.ServerVersion}}'", () => {
    const r = docker(["info", "--format", "{{.ServerVersion}}"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), VERSION);
    const j = docker(["info", "--format", "{{json .}}"]);
    assert.equal(j.status, 0, j.stderr);
    const info = JSON.parse(j.stdout) as { ID: string; DockerRootDir: string; OSType: string };
    assert.equal(info.DockerRootDir, d.dataRoot);
    assert.equal(info.ID, readFileSync(path.join(d.dataRoot, "engine-id"), "utf8").trim());
  });

  test("docker system info prints the server section", () => {
    const r = docker(["system", "info"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Server:$/m);
    assert.match(r.stdout, new RegExp(`^ Server Version: ${VERSION.replace(/\./g, "\\.")}$`, "m"));
    assert.match(r.stdout, /^ Storage Driver: overlay2$/m);
    assert.match(r.stdout, /^ Cgroup Driver: cgroupfs$/m);
    assert.match(r.stdout, /^ Default Runtime: hako$/m);
    assert.match(r.stdout, /^ Operating System: .+$/m);
    assert.match(r.stdout, new RegExp(`^ Docker Root Dir: ${d.dataRoot}$`, "m"));
    assert.doesNotMatch(r.stderr, /ERROR/);
  });

  test("docker login goes through POST /auth", async () => {
    // A registry without auth on 127.0.0.1 (/v2/ answers 200). spawnSync would block the
    // event loop this server needs, so the CLI runs asynchronously here.
    const registry = http.createServer((req, res) => res.writeHead(req.url === "/v2/" ? 200 : 404, { "Content-Type": "application/json" }).end("{}"));
    await new Promise<void>((resolve) => registry.listen(0, "127.0.0.1", resolve));
    const host = `127.0.0.1:${(registry.address() as AddressInfo).port}`;
    try {
      const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(DOCKER, ["login", "--username", "user", "--password-stdin", host], { env });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (c) => (stdout += c));
        child.stderr.on("data", (c) => (stderr += c));
        child.on("close", (status) => resolve({ status, stdout, stderr }));
        child.stdin.end("secret\n");
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /Login Succeeded/);
    } finally {
      await new Promise<void>((resolve) => registry.close(() => resolve()));
    }
  });

  test("docker events with a past --until ends", () => {
    const r = docker(["events", "--since", "1", "--until", "2"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "");
  });

  test("daemon errors reach the user as 'Error response from daemon'", () => {
    const r = docker(["image", "inspect", "localhost:5000/foo/bar:1"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Error response from daemon: No such image: localhost:5000\/foo\/bar:1/);
  });

  test("the daemon logged no error", () => {
    assert.doesNotMatch(d.log(), /level=error/);
  });
});

describe("e2e: hako against hakod", () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon();
  });
  after(() => d?.stop());
  const env = (): NodeJS.ProcessEnv => {
    const e = { ...process.env };
    delete e.DOCKER_HOST;
    delete e.HAKO_HOST;
    return e;
  };
  const hako = (args: string[], extraEnv: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> => run(HAKO_BIN, args, { ...env(), ...extraEnv });

  test("hako version: client and server sections", () => {
    const r = hako(["-H", d.host, "version"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Client: hako$/m);
    assert.match(r.stdout, new RegExp(`^ Version:\\s+${VERSION.replace(/\./g, "\\.")}$`, "m"));
    assert.match(r.stdout, /^ API version:\s+1\.44$/m);
    assert.match(r.stdout, /^ Go version:\s+node v\d+/m);
    assert.match(r.stdout, /^Server: hako$/m);
    assert.match(r.stdout, /^  API version:\s+1\.44 \(minimum version 1\.24\)$/m);
    const f = hako(["-H", d.host, "version", "--format", "{{.Server.Version}}"]);
    assert.equal(f.stdout, `${VERSION}\n`);
    const j = hako(["-H", d.host, "version", "--format", "json"]);
    assert.equal((JSON.parse(j.stdout) as { Server: { ApiVersion: string } }).Server.ApiVersion, "1.44");
    // docker's structs: json tags and field order, and unknown fields fail as Go's do.
    const client = hako(["-H", d.host, "version", "--format", "{{json .Client}}"]);
    assert.deepEqual(Object.keys(JSON.parse(client.stdout) as object), ["Platform", "Version", "ApiVersion", "DefaultAPIVersion", "GitCommit", "GoVersion", "Os", "Arch", "BuildTime", "Context"]);
    const server = hako(["-H", d.host, "version", "--format", "{{json .Server}}"]);
    assert.deepEqual(Object.keys(JSON.parse(server.stdout) as object).slice(0, 5), ["Platform", "Components", "Version", "ApiVersion", "MinAPIVersion"]);
    for (const [format, type] of [["{{.Nope}}", "system.versionInfo"], ["{{.Client.Nope}}", "system.clientVersion"], ["{{.Server.Nope}}", "*types.Version"]]) {
      const bad = hako(["-H", d.host, "version", "--format", format!]);
      assert.equal(bad.status, 1, format);
      assert.match(bad.stderr, new RegExp(`^template: version:1:\\d+: executing "version" at <\\.[A-Za-z.]+>: can't evaluate field Nope in type ${type!.replace(/[.*]/g, "\\$&")}\n$`));
    }
  });

  test("hako info and hako system info, with HAKO_HOST too", () => {
    for (const [args, extra] of [[["-H", d.host, "info"], {}], [["system", "info"], { HAKO_HOST: d.host }], [["info"], { DOCKER_HOST: d.host }]] as const) {
      const r = hako([...args], extra);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^Client:\n Version:/m);
      assert.match(r.stdout, new RegExp(`^ Server Version: ${VERSION.replace(/\./g, "\\.")}$`, "m"));
      assert.match(r.stdout, new RegExp(`^ Docker Root Dir: ${d.dataRoot}$`, "m"));
      assert.match(r.stdout, /^ Total Memory: [\d.]+[KMGT]iB$/m);
    }
    const f = hako(["-H", d.host, "info", "--format", "{{.ServerVersion}}"]);
    assert.equal(f.stdout, `${VERSION}\n`);
    const client = hako(["-H", d.host, "info", "--format", "{{json .ClientInfo}}"]);
    assert.deepEqual(Object.keys(JSON.parse(client.stdout) as object), ["Debug", "Version", "DefaultAPIVersion", "GitCommit", "GoVersion", "Os", "Arch", "BuildTime", "Context", "Plugins", "Warnings"]);
    for (const [format, type] of [["{{.Nope}}", "system.dockerInfo"], ["{{.ClientInfo.Nope}}", "*system.clientInfo"], ["{{.Plugins.Nope}}", "system.PluginsInfo"]]) {
      const bad = hako(["-H", d.host, "info", "--format", format!]);
      assert.equal(bad.status, 1, format);
      assert.match(bad.stderr, new RegExp(`^template: :1:\\d+: executing "" at <\\.[A-Za-z.]+>: can't evaluate field Nope in type ${type!.replace(/[.*]/g, "\\$&")}\n$`));
    }
  });

  test("no daemon at an explicit address: client section, then 'Cannot connect', exit 1", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "hako-none-"));
    try {
      const r = hako(["-H", `unix://${dir}/none.sock`, "version"]);
      assert.equal(r.status, 1);
      assert.match(r.stdout, /^Client: hako$/m);
      assert.equal(r.stderr, `Cannot connect to the hako daemon at unix://${dir}/none.sock. Is the daemon running?\n`);
      assert.equal(existsSync(path.join(dir, "none.sock")), false, "nothing was autostarted");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("docker's command-line conventions", () => {
    const unknownFlag = hako(["version", "--nope"]);
    assert.equal(unknownFlag.status, 125);
    assert.equal(unknownFlag.stderr, "unknown flag: --nope\n\nUsage:  hako version [OPTIONS]\n\nRun 'hako version --help' for more information\n");
    const unknownRoot = hako(["--nope"]);
    assert.equal(unknownRoot.status, 125);
    const unknownCmd = hako(["frobnicate"]);
    assert.equal(unknownCmd.status, 1);
    assert.match(unknownCmd.stderr, /^hako: unknown command: hako frobnicate/);
    const limit = hako(["-H", d.host, "search", "--limit", "500", "busybox"]);
    assert.equal(limit.status, 1);
    assert.equal(limit.stderr, "Error response from daemon: limit 500 is outside the range of [1, 100]\n");
    const prune = hako(["-H", d.host, "builder", "prune", "-f"]);
    assert.equal(prune.stdout, "Total reclaimed space: 0B\n");
    const args = hako(["version", "extra"]);
    assert.equal(args.status, 1);
    assert.match(args.stderr, /^hako: 'hako version' accepts no arguments/);
    const help = hako(["images", "--help"]);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Usage:  hako images \[OPTIONS\] \[REPOSITORY\[:TAG\]\]/);
    assert.match(help.stdout, /Aliases:\n  hako image ls, hako image list, hako images/);
    const root = hako(["--help"]);
    assert.equal(root.status, 0);
    assert.match(root.stdout, /^Management Commands:\n  builder/m);
    const group = hako(["image"]);
    assert.equal(group.status, 0);
    assert.match(group.stdout, /^Usage:  hako image COMMAND$/m);
    const tmpl = hako(["-H", d.host, "version", "--format", "{{.X"]);
    assert.equal(tmpl.status, 64);
    assert.match(tmpl.stderr, /^template parsing error: template: version:1: unclosed action/);
    const v = hako(["-v"]);
    assert.match(v.stdout, new RegExp(`^hako version ${VERSION.replace(/\./g, "\\.")}, build \\S+\\n$`));
  });
});

describe("e2e: docker search and hako search against a v1 index on 127.0.0.1", { skip: existsSync(DOCKER) ? false : `${DOCKER} is not installed` }, () => {
  let d: TestDaemon;
  let fake: FakeRegistry;
  let env: NodeJS.ProcessEnv;
  let config: string;
  before(async () => {
    [d, fake] = await Promise.all([startDaemon(), startFakeRegistry()]);
    config = mkdtempSync(path.join(os.tmpdir(), "docker-config-"));
    env = { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: config, HAKO_CONFIG: config, DOCKER_CLI_HINTS: "false" };
    delete env.DOCKER_API_VERSION;
    fake.searchIndex.push(
      { star_count: 1234, is_official: true, name: "busybox", is_automated: false, description: "Busybox base image, with a description long enough to be cut" },
      { star_count: 7, is_official: false, name: "someone/busybox-tools", is_automated: true, description: "two\nlines" },
    );
  });
  after(async () => {
    await d?.stop();
    await fake?.stop();
    if (config) rmSync(config, { recursive: true, force: true });
  });

  // Asynchronous: the fake index answers from this process, which a synchronous spawn would block.
  const cli = (bin: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(bin, args, { env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
      child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
      child.on("close", (status) => resolve({ status, stdout, stderr }));
    });

  test("the same table, --no-trunc, --format, --filter and --limit from both CLIs", async () => {
    const term = `${fake.host}/busybox`;
    const table = await cli(DOCKER, ["search", term]);
    assert.equal(table.status, 0, table.stderr);
    assert.equal(
      table.stdout,
      [
        "NAME                    DESCRIPTION                                     STARS     OFFICIAL",
        "busybox                 Busybox base image, with a description long …   1234      [OK]",
        "someone/busybox-tools   two lines                                       7         ",
        "",
      ].join("\n"),
    );
    for (const args of [[], ["--no-trunc"], ["--format", "{{.Name}}: {{.StarCount}} {{.IsOfficial}}|"], ["--filter", "is-official=true"], ["--filter", "stars=10"], ["--limit", "1"], ["--format", "{{json .}}"]]) {
      const [mine, theirs] = await Promise.all([cli(HAKO_BIN, ["search", ...args, term]), cli(DOCKER, ["search", ...args, term])]);
      assert.equal(mine.status, 0, `${args}: ${mine.stderr}`);
      assert.equal(mine.stdout, theirs.stdout, args.join(" "));
    }
    const [bad, theirsBad] = await Promise.all([cli(HAKO_BIN, ["search", "--format", "{{.Nope}}", term]), cli(DOCKER, ["search", "--format", "{{.Nope}}", term])]);
    assert.equal(bad.status, theirsBad.status);
  });
});
