/**
 * The classic builder end to end: `DOCKER_BUILDKIT=0 docker build` (CLI 28),
 * the 20.10 CLI's default builder, and POST /build by hand, against a test
 * hakod with busybox only. Multi-stage with COPY --from, ARG/ENV expansion,
 * WORKDIR/USER, .dockerignore, the step cache, a failing RUN, history,
 * running the result; bad input answers an error and leaves nothing behind.
 */
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { after, before, describe, test } from "node:test";
import { HAKO_BIN, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { buildTar } from "../helpers/tar-writer.ts";
import { registrySkipReason, startRegistry } from "../helpers/registry.ts";

const DOCKER = "/usr/local/bin/docker";
const DOCKER_2010 = "/usr/bin/docker";

const DOCKERFILE = `# syntax=docker/dockerfile:1
ARG BASE=busybox:latest
FROM $BASE AS builder
ARG GREETING=hi
ENV APP=/app NAME="hako build"
WORKDIR $APP
COPY hello.txt ./
COPY sub /app/subdir/
RUN echo "\${GREETING} from $NAME" > out.txt && ls /app > listing.txt

FROM busybox:latest
LABEL version=1
COPY --from=builder /app/out.txt /app/listing.txt /result/
WORKDIR /result
USER nobody
EXPOSE 8080 53/udp
ENV MODE=\${MODE:-prod}
CMD ["cat", "/result/out.txt", "/result/listing.txt"]
`;

/** Stream messages of a /build answer. */
function messages(body: string): { stream?: string; aux?: { ID: string }; error?: string; errorDetail?: { message: string; code?: number } }[] {
  return body
    .split(/\r?\n/)
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l));
}

function streamText(body: string): string {
  return messages(body)
    .map((m) => m.stream ?? "")
    .join("");
}

describe("e2e: Dockerfile builds (classic builder)", () => {
  let d: TestDaemon;
  let dir: string;
  let ctx: string;
  let env: NodeJS.ProcessEnv;
  const docker = (args: string[], bin = DOCKER): SpawnSyncReturns<string> =>
    spawnSync(bin, args, { encoding: "utf8", env: { ...env, DOCKER_BUILDKIT: "0" }, cwd: ctx, timeout: 60_000 });

  before(async () => {
    d = await startDaemon();
    const made = await d.request("POST", "/hako/images/busybox", { timeoutMs: 60_000 });
    assert.equal(made.status, 200, made.body);
    dir = mkdtempSync(path.join(os.tmpdir(), "hako-build-"));
    ctx = path.join(dir, "ctx");
    mkdirSync(path.join(ctx, "sub"), { recursive: true });
    writeFileSync(path.join(ctx, "Dockerfile"), DOCKERFILE);
    writeFileSync(path.join(ctx, "hello.txt"), "hello\n");
    writeFileSync(path.join(ctx, "sub/s.txt"), "s\n");
    writeFileSync(path.join(ctx, "sub/secret.log"), "no\n");
    writeFileSync(path.join(ctx, ".dockerignore"), "**/*.log\n");
    env = { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: path.join(dir, "docker-config"), DOCKER_CLI_HINTS: "false" };
    delete env.DOCKER_API_VERSION;
    delete env.DOCKER_CONTEXT;
  });
  after(async () => {
    await d?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("docker build (DOCKER_BUILDKIT=0): multi-stage, ARG/ENV, WORKDIR/USER, .dockerignore, then the cache", { skip: existsSync(DOCKER) ? false : `${DOCKER} is not installed` }, async () => {
    const r = docker(["build", "-t", "hako-test/app:1", "--build-arg", "GREETING=hey", "--build-arg", "UNUSED=1", "."]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^Sending build context to Docker daemon/m);
    assert.match(r.stdout, /^Step 1\/16 : ARG BASE=busybox:latest$/m);
    assert.match(r.stdout, /^Step 2\/16 : FROM \$BASE AS builder\n ---> [0-9a-f]{12}$/m);
    assert.match(r.stdout, /^Step 8\/16 : RUN echo .*\n ---> Running in [0-9a-f]{12}\n ---> Removed intermediate container [0-9a-f]{12}\n ---> [0-9a-f]{12}$/m);
    assert.match(r.stdout, /^\[Warning\] One or more build-args \[UNUSED\] were not consumed$/m);
    const built = /^Successfully built ([0-9a-f]{12})$/m.exec(r.stdout)?.[1];
    assert.ok(built, r.stdout);
    assert.match(r.stdout, /^Successfully tagged hako-test\/app:1$/m);

    const out = docker(["run", "--rm", "hako-test/app:1"]);
    assert.equal(out.status, 0, out.stderr);
    // The RUN saw the build arg and the ENV; .dockerignore kept secret.log out of the context.
    assert.equal(out.stdout, "hey from hako build\nhello.txt\nlisting.txt\nout.txt\nsubdir\n");
    const sub = docker(["run", "--rm", "hako-test/app:1", "ls", "/result"]);
    assert.equal(sub.stdout, "listing.txt\nout.txt\n");

    const inspect = docker(["image", "inspect", "hako-test/app:1", "--format", "{{json .Config}}"]);
    const config = JSON.parse(inspect.stdout) as Record<string, unknown>;
    assert.equal(config.User, "nobody");
    assert.equal(config.WorkingDir, "/result");
    assert.deepEqual(config.Cmd, ["cat", "/result/out.txt", "/result/listing.txt"]);
    assert.deepEqual(config.ExposedPorts, { "53/udp": {}, "8080/tcp": {} });
    assert.deepEqual(config.Labels, { version: "1" });
    assert.ok((config.Env as string[]).includes("MODE=prod"), String(config.Env));

    // The same build again: every step from the cache, the same image.
    const again = docker(["build", "-t", "hako-test/app:1", "--build-arg", "GREETING=hey", "."]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal((again.stdout.match(/ ---> Using cache/g) ?? []).length, 13, again.stdout);
    assert.doesNotMatch(again.stdout, /Running in/);
    assert.match(again.stdout, new RegExp(`^Successfully built ${built}$`, "m"));

    // --no-cache runs the steps again.
    const fresh = docker(["build", "--no-cache", "-q", "--build-arg", "GREETING=hey", "."]);
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.match(fresh.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
    assert.notEqual(fresh.stdout.trim().slice(7, 19), built);

    // docker history reads like dockerd's.
    const h = docker(["history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", "hako-test/app:1"]);
    assert.equal(h.status, 0, h.stderr);
    const lines = h.stdout.trim().split("\n");
    assert.match(lines[0]!, /^sha256:[0-9a-f]{64}\|\/bin\/sh -c #\(nop\)  CMD \["cat" "\/result\/out.txt" "\/result\/listing.txt"\]\|0B$/);
    assert.match(lines[1]!, /\|\/bin\/sh -c #\(nop\)  ENV MODE=prod\|0B$/);
    assert.match(lines[2]!, /\|\/bin\/sh -c #\(nop\)  EXPOSE 8080 53\/udp\|/);
    assert.match(lines[3]!, /\|\/bin\/sh -c #\(nop\)  USER nobody\|/);
    assert.match(lines[4]!, /\|\/bin\/sh -c #\(nop\) WORKDIR \/result\|/);
    assert.match(lines[5]!, /\|\/bin\/sh -c #\(nop\) COPY multi:[0-9a-f]{64} in \/result\/ \|/);
    assert.match(lines[6]!, /\|\/bin\/sh -c #\(nop\)  LABEL version=1\|0B$/);
    // Every step of the local chain has its image ID, as in Docker.
    for (const l of lines.slice(0, 7)) assert.match(l, /^sha256:[0-9a-f]{64}\|/);

    const builder = docker(["history", "--no-trunc", "--format", "{{.CreatedBy}}", "--", (await builderImage(d))]);
    assert.match(builder.stdout, /^\|1 GREETING=hey \/bin\/sh -c echo "\$\{GREETING\} from \$NAME" > out.txt && ls \/app > listing.txt$/m);
    assert.match(builder.stdout, /^\/bin\/sh -c #\(nop\) COPY dir:[0-9a-f]{64} in \/app\/subdir\/ $/m);
    assert.match(builder.stdout, /^\/bin\/sh -c #\(nop\) COPY file:[0-9a-f]{64} in \.\/ $/m);
    assert.match(builder.stdout, /^\/bin\/sh -c #\(nop\)  ENV APP=\/app NAME=hako build$/m);
    assert.match(builder.stdout, /^\/bin\/sh -c #\(nop\)  ARG GREETING=hi$/m);

    // Intermediate containers are gone.
    const ps = docker(["ps", "-aq"]);
    assert.equal(ps.stdout.trim(), "");

    // rmi takes the stage's intermediate images with it, as in Docker; the base stays.
    const rmi = docker(["rmi", "hako-test/app:1"]);
    assert.equal(rmi.status, 0, rmi.stderr);
    // Seven images, then the layers only they had and nothing else holds (by chain ID), as dockerd lists them.
    assert.ok((rmi.stdout.match(/^Deleted: /gm) ?? []).length >= 7, rmi.stdout);
    assert.equal(docker(["image", "inspect", "busybox", "--format", "{{.Id}}"]).status, 0);
  });

  test("a failing RUN ends the build with Docker's message and the command's exit code", { skip: existsSync(DOCKER) ? false : `${DOCKER} is not installed` }, () => {
    const fail = path.join(dir, "fail");
    mkdirSync(fail, { recursive: true });
    writeFileSync(path.join(fail, "Dockerfile"), "FROM busybox\nRUN echo before && exit 3\nRUN echo never\n");
    const r = spawnSync(DOCKER, ["build", "--force-rm", fail], { encoding: "utf8", env: { ...env, DOCKER_BUILDKIT: "0" }, timeout: 60_000 });
    assert.equal(r.status, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /^before$/m);
    assert.match(r.stderr, /The command '\/bin\/sh -c echo before && exit 3' returned a non-zero code: 3/);
    assert.doesNotMatch(r.stdout, /never/);
    // --force-rm removed the failed step's container too.
    assert.equal(docker(["ps", "-aq"]).stdout.trim(), "");

    // A Dockerfile outside the context: the CLI appends it to the tar without padding or end blocks.
    const outside = path.join(dir, "outside.Dockerfile");
    writeFileSync(outside, "FROM busybox\nRUN echo outside\n");
    const ext = spawnSync(DOCKER, ["build", "-f", outside, fail], { encoding: "utf8", env: { ...env, DOCKER_BUILDKIT: "0" }, timeout: 60_000 });
    assert.equal(ext.status, 0, ext.stdout + ext.stderr);
    assert.match(ext.stdout, /^outside$/m);

    const bad = spawnSync(DOCKER, ["build", "-f", "nope.Dockerfile", fail], { encoding: "utf8", env: { ...env, DOCKER_BUILDKIT: "0" }, timeout: 60_000 });
    assert.notEqual(bad.status, 0);
    writeFileSync(path.join(fail, "Dockerfile"), "FROM busybox\nFROBNICATE x\n");
    const garbled = spawnSync(DOCKER, ["build", fail], { encoding: "utf8", env: { ...env, DOCKER_BUILDKIT: "0" }, timeout: 60_000 });
    assert.equal(garbled.status, 1);
    assert.match(garbled.stderr, /dockerfile parse error on line 2: unknown instruction: FROBNICATE/);
    writeFileSync(path.join(fail, "Dockerfile"), "FROM busybox\nCOPY missing.txt /x\n");
    const missing = spawnSync(DOCKER, ["build", fail], { encoding: "utf8", env: { ...env, DOCKER_BUILDKIT: "0" }, timeout: 60_000 });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist/);
    assert.equal(docker(["ps", "-aq"]).stdout.trim(), "");
  });

  test("the docker 20.10 CLI builds with its default (legacy) builder", { skip: existsSync(DOCKER_2010) ? false : `${DOCKER_2010} is not installed` }, () => {
    const r = spawnSync(DOCKER_2010, ["build", "-t", "hako-test/app:2010", "--target", "builder", "."], { encoding: "utf8", env, cwd: ctx, timeout: 60_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^Step 8\/8 : RUN /m);
    assert.match(r.stdout, /^Successfully tagged hako-test\/app:2010$/m);
    const out = spawnSync(DOCKER_2010, ["run", "--rm", "hako-test/app:2010", "cat", "out.txt"], { encoding: "utf8", env, timeout: 30_000 });
    assert.equal(out.stdout, "hi from hako build\n");
    // .dockerignore's **/*.log kept sub/secret.log out.
    const sub = spawnSync(DOCKER_2010, ["run", "--rm", "hako-test/app:2010", "ls", "subdir"], { encoding: "utf8", env, timeout: 30_000 });
    assert.equal(sub.stdout, "s.txt\n");
  });

  test("docker-compose 1.29 builds a service's build: section", { skip: existsSync("/usr/bin/docker-compose") ? false : "docker-compose is not installed" }, () => {
    const project = path.join(dir, "compose");
    mkdirSync(project, { recursive: true });
    writeFileSync(
      path.join(project, "docker-compose.yml"),
      `version: "3.7"\nservices:\n  web:\n    build:\n      context: ${ctx}\n      target: builder\n      args:\n        GREETING: compose\n      labels:\n        com.example.from: compose\n    image: hako-test/compose-web:latest\n`,
    );
    const r = spawnSync("/usr/bin/docker-compose", ["build"], { encoding: "utf8", env, cwd: project, timeout: 60_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^Successfully tagged hako-test\/compose-web:latest$/m);
    const out = docker(["run", "--rm", "hako-test/compose-web", "cat", "out.txt"]);
    assert.equal(out.stdout, "compose from hako build\n");
    const labels = docker(["image", "inspect", "--format", "{{json .Config.Labels}}", "hako-test/compose-web"]);
    assert.deepEqual(JSON.parse(labels.stdout), { "com.example.from": "compose" });
  });

  test("hako build: docker's flags, -q, --iidfile, a Dockerfile on stdin, the RUN's exit status", () => {
    const hako = (args: string[], input?: string): SpawnSyncReturns<string> =>
      spawnSync(HAKO_BIN, args, { encoding: "utf8", env: { ...env, DOCKER_HOST: d.host }, cwd: ctx, input, timeout: 60_000 });
    const iid = path.join(dir, "iid");
    const r = hako(["build", "-t", "hako-test/cli:1", "--build-arg", "GREETING=cli", "--label", "from=cli", "--target", "builder", "--iidfile", iid, "."]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^Sending build context to Docker daemon {2}\d+(\.\d+)?kB\nStep 1\/9 : ARG BASE=busybox:latest$/m);
    assert.match(r.stdout, /^Step 9\/9 : LABEL from=cli$/m);
    assert.match(r.stdout, /^Successfully tagged hako-test\/cli:1$/m);
    const id = readFileSync(iid, "utf8");
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const q = hako(["build", "-q", "--target", "builder", "--build-arg", "GREETING=cli", "--label", "from=cli", "."]);
    assert.equal(q.stdout, `${id}\n`);
    const failed = hako(["build", "--force-rm", "-"], "FROM busybox\nRUN exit 7\n");
    assert.equal(failed.status, 7);
    assert.match(failed.stderr, /The command '\/bin\/sh -c exit 7' returned a non-zero code: 7/);
    assert.equal(docker(["ps", "-aq"]).stdout.trim(), "");
  });

  test("POST /build: query parameters, gzip context, ADD of an archive, COPY --chown/--chmod and globs", async () => {
    const inner = buildTar([
      { name: "pkg/", type: "dir", mode: 0o755 },
      { name: "pkg/data.txt", data: "inside the archive\n", mode: 0o644 },
    ]);
    const context = buildTar([
      {
        name: "Dockerfile",
        data: [
          "FROM busybox",
          "ARG WHO",
          "ADD bundle.tar.gz /opt/",
          "ADD note.gz /notes/",
          "COPY --chown=1000:1000 --chmod=600 a.txt b.txt /files/",
          "COPY *.md /docs/",
          "RUN stat -c '%u:%g %a %n' /files/a.txt /files/b.txt && cat /opt/pkg/data.txt && ls /docs /notes && echo who=$WHO",
          "HEALTHCHECK --interval=30s --retries=2 CMD true",
          'SHELL ["/bin/sh", "-e", "-c"]',
          "STOPSIGNAL SIGTERM",
          "VOLUME /data",
          "ONBUILD RUN echo triggered",
          "",
        ].join("\n"),
      },
      { name: "bundle.tar.gz", data: gzipSync(inner) },
      // Compressed but not a tar: ADD copies it as it is.
      { name: "note.gz", data: gzipSync("just a note\n") },
      { name: "a.txt", data: "a\n" },
      { name: "b.txt", data: "b\n" },
      { name: "one.md", data: "1\n" },
      { name: "two.md", data: "2\n" },
    ]);
    const q = new URLSearchParams({ buildargs: JSON.stringify({ WHO: "api" }), labels: JSON.stringify({ "com.example.k": "v" }), rm: "1" });
    q.append("t", "hako-test/api:1");
    q.append("t", "hako-test/api:2");
    const res = await d.request("POST", `/v1.44/build?${q}`, { body: gzipSync(context), headers: { "Content-Type": "application/x-tar" }, timeoutMs: 60_000 });
    assert.equal(res.status, 200, res.body);
    const text = streamText(res.body);
    assert.ok(!messages(res.body).some((m) => m.error), res.body);
    assert.match(text, /^1000:1000 600 \/files\/a.txt$/m);
    assert.match(text, /^1000:1000 600 \/files\/b.txt$/m);
    assert.match(text, /^inside the archive$/m);
    assert.match(text, /^\/docs:\none.md\ntwo.md\n\n\/notes:\nnote.gz\nwho=api$/m);
    assert.match(text, /^Step 13\/13 : LABEL com.example.k=v$/m);
    assert.match(text, /^Successfully tagged hako-test\/api:1\nSuccessfully tagged hako-test\/api:2\n/m);
    const aux = messages(res.body).filter((m) => m.aux).at(-1)!.aux!.ID;
    const img = (await d.request("GET", "/images/hako-test/api:2/json")).json<{ Id: string; Config: Record<string, any> }>();
    assert.equal(img.Id, aux);
    assert.deepEqual(img.Config.Healthcheck, { Test: ["CMD-SHELL", "true"], Interval: 30_000_000_000, Retries: 2 });
    assert.deepEqual(img.Config.Shell, ["/bin/sh", "-e", "-c"]);
    assert.equal(img.Config.StopSignal, "SIGTERM");
    assert.deepEqual(img.Config.Volumes, { "/data": {} });
    assert.deepEqual(img.Config.OnBuild, ["RUN echo triggered"]);
    assert.deepEqual(img.Config.Labels, { "com.example.k": "v" });

    // ONBUILD runs in a build FROM that image; q=1 answers only the ID.
    const child = buildTar([{ name: "Dockerfile", data: "FROM hako-test/api:1\nRUN echo child\n" }]);
    const quiet = await d.request("POST", "/build?q=1&t=hako-test/child", { body: child, timeoutMs: 60_000 });
    assert.equal(quiet.status, 200, quiet.body);
    assert.match(streamText(quiet.body), /^sha256:[0-9a-f]{64}\n$/);
    const verbose = await d.request("POST", "/build?nocache=1", { body: child, timeoutMs: 60_000 });
    assert.match(streamText(verbose.body), /# Executing 1 build trigger\n/);
    assert.match(streamText(verbose.body), /^triggered$/m);

    for (const t of ["hako-test/api:1", "hako-test/api:2", "hako-test/child"]) await d.request("DELETE", `/images/${t}`);
  });

  test("POST /build: FROM scratch, COPY --from by index, symlinked sources, destinations as Docker resolves them", async () => {
    const context = buildTar([
      {
        name: "Dockerfile",
        data: [
          "FROM scratch",
          "COPY a.txt /",
          "COPY d /dd",
          "FROM busybox",
          "COPY --from=0 /a.txt /dd/ /fromzero/",
          "COPY a.txt /tmp",
          "COPY a.txt /new/dir/file",
          "COPY link-a /links/",
          "WORKDIR rel",
          "COPY a.txt .",
          // A whole stage: its own files only (no container's /etc/hosts and friends).
          "COPY --from=0 / /all/",
          "RUN find /all | sort",
          "RUN ls /fromzero && ls -l /links | tail -1 | awk '{print $1, $NF}' && cat /tmp/a.txt /new/dir/file /rel/a.txt && pwd",
          "",
        ].join("\n"),
      },
      { name: "a.txt", data: "a\n" },
      { name: "d/", type: "dir" },
      { name: "d/e.txt", data: "e\n" },
      { name: "link-a", type: "symlink", linkname: "a.txt" },
    ]);
    const res = await d.request("POST", "/build?rm=1", { body: context, timeoutMs: 60_000 });
    assert.equal(res.status, 200, res.body);
    const text = streamText(res.body);
    assert.ok(!messages(res.body).some((m) => m.error), res.body);
    assert.match(text, /^Step 1\/13 : FROM scratch\n ---> \n/m);
    assert.match(text, /^\/all\n\/all\/a.txt\n\/all\/dd\n\/all\/dd\/e.txt\n ---> Removed/m);
    // The symlink's own name, its target's content; a file into an existing directory; parents made.
    assert.match(text, /^a.txt\ne.txt\n-rw-r--r-- link-a\na\na\na\n\/rel\n/m);
    const id = messages(res.body).filter((m) => m.aux).at(-1)!.aux!.ID;
    await d.request("DELETE", `/images/${id}`);
  });

  test("FROM an image of a registry on this machine is pulled into the build stream", { skip: registrySkipReason() ?? false }, async () => {
    const reg = await startRegistry();
    try {
      const name = `${reg.host}/hako-test/base:1`;
      assert.equal((await d.request("POST", `/images/busybox/tag?repo=${encodeURIComponent(`${reg.host}/hako-test/base`)}&tag=1`)).status, 201);
      const pushed = await d.request("POST", `/images/${name}/push`, { headers: { "X-Registry-Auth": "e30=" }, timeoutMs: 60_000 });
      assert.equal(pushed.status, 200, pushed.body);
      assert.ok(!pushed.body.includes("errorDetail"), pushed.body);
      assert.equal((await d.request("DELETE", `/images/${name}`)).status, 200);
      const res = await d.request("POST", "/build?t=hako-test/pulled", { body: buildTar([{ name: "Dockerfile", data: `FROM ${name}\nRUN echo on the pulled base\n` }]), timeoutMs: 60_000 });
      assert.equal(res.status, 200, res.body);
      const all = messages(res.body);
      assert.ok(!all.some((m) => m.error), res.body);
      assert.ok(all.some((m) => (m as { status?: string }).status === `Status: Downloaded newer image for ${name}`), res.body);
      assert.match(streamText(res.body), /^on the pulled base$/m);
      await d.request("DELETE", "/images/hako-test/pulled");
      await d.request("DELETE", `/images/${name}`);
    } finally {
      await reg.stop();
    }
  });

  test("POST /build refuses bad input with a clear error and leaves nothing behind", async () => {
    const ok = buildTar([{ name: "Dockerfile", data: "FROM busybox\n" }]);
    const cases: [string, Buffer, number, RegExp][] = [
      ["/build?buildargs=%7Bnot-json", ok, 400, /invalid buildargs parameter/],
      ["/build?remote=https://example.com/x.git", ok, 400, /remote build contexts are not supported by hako/],
      ["/build?t=UPPER/case", ok, 400, /invalid reference format|repository name must be lowercase/],
      ["/build?target=nope", ok, 400, /target stage \\"nope\\" could not be found/],
      ["/build?platform=linux/arm64", ok, 400, /linux\/amd64/],
      ["/build?dockerfile=missing", ok, 404, /Cannot locate specified Dockerfile: missing/],
      ["/build", buildTar([{ name: "Dockerfile", data: "FROM busybox\nCOPY only-one-arg\n" }]), 400, /COPY requires at least two arguments/],
      ["/build", buildTar([{ name: "Dockerfile", data: "FROM nosuchimage:1\n" }]), 200, /hako builds offline/],
      ["/build", buildTar([{ name: "Dockerfile", data: "" }]), 400, /the Dockerfile \(Dockerfile\) cannot be empty/],
      ["/build", buildTar([{ name: "Dockerfile", data: "# only a comment\n\n" }]), 400, /file with no instructions/],
      ["/build", buildTar([{ name: "Dockerfile", data: "\u0000\u0001garbage\u00ff\n" }]), 400, /unknown instruction/],
      ["/build", buildTar([{ name: "Dockerfile", data: "RUN echo no stage\n" }]), 400, /no build stage in current context/],
      // Cut inside the Dockerfile's data: truncated (cut after it, Go's tar reader, and hako, take it as complete).
      ["/build", buildTar([{ name: "Dockerfile", data: `FROM busybox\n${"# padding\n".repeat(200)}` }]).subarray(0, 1200), 400, /build context|archive/i],
      ["/build", ok.subarray(0, 520), 400, /build context|archive/i],
      ["/build", Buffer.from("this is not a tar at all, not even close to one ......"), 400, /build context|archive/i],
    ];
    for (const [url, body, status, re] of cases) {
      const res = await d.request("POST", url, { body, timeoutMs: 30_000 });
      assert.equal(res.status, status, `${url}: ${res.body}`);
      assert.match(res.body, re, url);
      if (process.env.HAKO_TEST_VERBOSE) console.log(url, res.status, res.body.slice(0, 300));
    }
    const cancel = await d.request("POST", "/build/cancel");
    assert.equal(cancel.status, 400);
    const prune = await d.request("POST", "/build/prune");
    assert.equal(prune.status, 200);
    assert.deepEqual(prune.json(), { CachesDeleted: null, SpaceReclaimed: 0 });

    const containers = (await d.request("GET", "/containers/json?all=1")).json<unknown[]>();
    assert.deepEqual(containers, []);
    const mounts = readFileSync("/proc/mounts", "utf8").split("\n").filter((l) => l.includes(d.dir) && !l.includes("/run/bin/")); // hakod's own helper pins stay
    assert.deepEqual(mounts, []);
    const tmp = path.join(d.dataRoot, "build", "tmp");
    assert.deepEqual(existsSync(tmp) ? spawnSync("ls", ["-A", tmp], { encoding: "utf8" }).stdout.trim() : "", "");
  });
});

/** The last image of the builder stage: the one whose history has the RUN. */
async function builderImage(d: TestDaemon): Promise<string> {
  const all = (await d.request("GET", "/images/json?all=1")).json<{ Id: string }[]>();
  for (const img of all) {
    const h = (await d.request("GET", `/images/${img.Id}/history`)).json<{ CreatedBy: string }[]>();
    if (h[0]?.CreatedBy.startsWith("|1 GREETING=hey")) return img.Id;
  }
  throw new Error("no builder-stage image");
}
