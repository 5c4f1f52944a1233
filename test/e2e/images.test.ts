/**
 * Images end to end, as a user sees them: bin/hako and the stock docker
 * CLI against one hakod and two real registries on 127.0.0.1 (Debian's
 * docker-registry, one of them behind htpasswd): bootstrap, tag, push,
 * pull, rmi, images, history, inspect, save/load, import, prune,
 * login/logout. Where both CLIs print the same thing the outputs are
 * compared. DOCKER_CONFIG points at a temp dir, so ~/.docker is never
 * touched. The docker half skips when /usr/local/bin/docker is missing.
 */
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { HAKO_BIN, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { registrySkipReason, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { buildTar, parseTar } from "../helpers/tar-writer.ts";

const DOCKER = "/usr/local/bin/docker";
const hasDocker = existsSync(DOCKER);
const skip =
  process.getuid?.() !== 0
    ? "needs root (overlay layers)"
    : !existsSync("/bin/busybox")
      ? "/bin/busybox missing (apt-get install busybox-static)"
      : (registrySkipReason() ?? false);
const dockerSkip = hasDocker ? false : `${DOCKER} is not installed`;

/** Lines of a table without its header, sorted (docker lists the tags of one image in map order). */
const rowsOf = (out: string): string[] => out.trimEnd().split("\n").slice(1).sort();

describe("e2e: images with hako and the docker CLI", { skip }, () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let sec: TestRegistry;
  let tmp: string;
  let config: string;
  let env: NodeJS.ProcessEnv;
  let busyboxId = "";

  before(async () => {
    [d, reg, sec] = await Promise.all([startDaemon(), startRegistry(), startRegistry({ htpasswd: { user: "user", password: "s3cret" } })]);
    tmp = mkdtempSync(path.join(os.tmpdir(), "hako-e2e-images-"));
    config = path.join(tmp, "docker-config");
    mkdirSync(config);
    env = { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: config, DOCKER_CLI_HINTS: "false", DOCKER_CONTENT_TRUST: "" };
    for (const k of ["HAKO_HOST", "DOCKER_API_VERSION", "DOCKER_CONTEXT", "DOCKER_DEFAULT_PLATFORM", "DOCKER_AUTH_CONFIG"]) delete env[k];
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
    await sec?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const run = (bin: string, args: string[], input = "", extraEnv: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> =>
    spawnSync(bin, args, { encoding: "utf8", env: { ...env, ...extraEnv }, input, timeout: 120_000 });
  const hako = (args: string[], input = ""): SpawnSyncReturns<string> => run(HAKO_BIN, args, input);
  const docker = (args: string[], input = ""): SpawnSyncReturns<string> => run(DOCKER, args, input);
  const ok = (r: SpawnSyncReturns<string>): string => {
    assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  };

  test("hako image bootstrap prints the ID; hako images lists busybox:latest", () => {
    busyboxId = ok(hako(["image", "bootstrap"])).trim();
    assert.match(busyboxId, /^sha256:[a-f0-9]{64}$/);
    const out = ok(hako(["images"]));
    const [header, row, ...rest] = out.trimEnd().split("\n");
    assert.match(header!, /^REPOSITORY {3}TAG {7}IMAGE ID {7}CREATED {2,}SIZE$/);
    assert.match(row!, new RegExp(`^busybox {6}latest {4}${busyboxId.slice(7, 19)} {3}\\S.* ago {3,}\\d[\\d.]*[kMG]?B$`));
    assert.deepEqual(rest, []);
    assert.equal(ok(hako(["image", "ls", "-q"])), `${busyboxId.slice(7, 19)}\n`);
  });

  test("hako tag, then docker push renders the daemon's progress", { skip: dockerSkip }, () => {
    assert.equal(ok(hako(["tag", "busybox", `${reg.host}/test/busybox:1`])), "");
    const out = ok(docker(["push", `${reg.host}/test/busybox:1`]));
    assert.match(out, new RegExp(`^The push refers to repository \\[${reg.host}/test/busybox\\]$`, "m"));
    assert.match(out, /^[a-f0-9]{12}: Pushed$/m);
    assert.match(out, /^1: digest: sha256:[a-f0-9]{64} size: \d+$/m);
  });

  test("hako push of the same tag: the layer already exists", () => {
    if (!hasDocker) ok(hako(["tag", "busybox", `${reg.host}/test/busybox:1`]));
    const out = ok(hako(["push", `${reg.host}/test/busybox:1`]));
    assert.match(out, new RegExp(`^The push refers to repository \\[${reg.host}/test/busybox\\]$`, "m"));
    assert.match(out, /^[a-f0-9]{12}: (Layer already exists|Pushed)$/m);
    assert.match(out, /^1: digest: sha256:[a-f0-9]{64} size: \d+$/m);
    const none = hako(["push", `${reg.host}/test/busybox`]);
    assert.equal(none.status, 1);
    assert.match(none.stdout, /^Using default tag: latest$/m);
    assert.equal(none.stderr, `tag does not exist: ${reg.host}/test/busybox:latest\n`);
  });

  test("pushed layers are gzip-compressed, as Docker pushes them (the host's busybox is stored uncompressed)", async () => {
    const res = await fetch(`http://${reg.host}/v2/test/busybox/manifests/1`, { headers: { Accept: "application/vnd.docker.distribution.manifest.v2+json" } });
    assert.equal(res.status, 200);
    const manifest = (await res.json()) as { layers: { mediaType: string }[] };
    assert.deepEqual(manifest.layers.map((l) => l.mediaType), ["application/vnd.docker.image.rootfs.diff.tar.gzip"]);
  });

  test("hako rmi the registry tag, docker pull brings it back", { skip: dockerSkip }, () => {
    // The repository's last tag takes its digest reference along (moby prints both).
    const untagged = ok(hako(["rmi", `${reg.host}/test/busybox:1`]));
    assert.match(untagged, new RegExp(`^Untagged: ${reg.host}/test/busybox:1\nUntagged: ${reg.host}/test/busybox@sha256:[a-f0-9]{64}\n$`));
    const out = ok(docker(["pull", `${reg.host}/test/busybox:1`]));
    assert.match(out, /^1: Pulling from test\/busybox$/m);
    assert.match(out, /^Digest: sha256:[a-f0-9]{64}$/m);
    assert.match(out, new RegExp(`^Status: Downloaded newer image for ${reg.host}/test/busybox:1$`, "m"));
    assert.ok(out.endsWith(`\n${reg.host}/test/busybox:1\n`), out);
  });

  test("hako pull: up to date, -q, and a missing tag", () => {
    if (!hasDocker) ok(hako(["pull", `${reg.host}/test/busybox:1`]));
    const out = ok(hako(["pull", `${reg.host}/test/busybox:1`]));
    assert.equal(
      out.replace(/sha256:[a-f0-9]{64}/, "DIGEST"),
      `1: Pulling from test/busybox\nDigest: DIGEST\nStatus: Image is up to date for ${reg.host}/test/busybox:1\n${reg.host}/test/busybox:1\n`,
    );
    assert.equal(ok(hako(["image", "pull", "-q", `${reg.host}/test/busybox:1`])), `${reg.host}/test/busybox:1\n`);
    const missing = hako(["pull", `${reg.host}/test/busybox`]);
    assert.equal(missing.status, 1);
    assert.equal(missing.stdout, "Using default tag: latest\n");
    assert.equal(missing.stderr, `Error response from daemon: manifest for ${reg.host}/test/busybox:latest not found: manifest unknown: manifest unknown\n`);
    if (hasDocker) {
      const dm = docker(["pull", `${reg.host}/test/busybox`]);
      assert.equal(dm.status, 1);
      assert.equal(dm.stderr, missing.stderr);
    }
  });

  test("hako pull --all-tags: every tag the registry lists, one Status line for the repository", () => {
    for (const t of ["a", "b"]) ok(hako(["tag", "busybox", `${reg.host}/multi/bb:${t}`]));
    ok(hako(["push", "--all-tags", `${reg.host}/multi/bb`]));
    for (const t of ["a", "b"]) ok(hako(["rmi", `${reg.host}/multi/bb:${t}`]));
    const out = ok(hako(["pull", "--all-tags", `${reg.host}/multi/bb`]));
    assert.match(out, /^a: Pulling from multi\/bb$/m);
    assert.match(out, /^b: Pulling from multi\/bb$/m);
    assert.equal((out.match(/^Status: /gm) ?? []).length, 1, out);
    assert.ok(out.endsWith(`Status: Downloaded newer image for ${reg.host}/multi/bb\n${reg.host}/multi/bb\n`), out);
    const tags = ok(hako(["images", "--format", "{{.Tag}}", `${reg.host}/multi/bb`]));
    assert.deepEqual(tags.trim().split("\n").sort(), ["a", "b"]);
    const again = ok(hako(["pull", "-a", `${reg.host}/multi/bb`]));
    assert.match(again, new RegExp(`Status: Image is up to date for ${reg.host}/multi/bb\n`));
    const missing = hako(["pull", "-a", `${reg.host}/nothing/here`]);
    assert.equal(missing.status, 1);
    for (const t of ["a", "b"]) ok(hako(["rmi", `${reg.host}/multi/bb:${t}`]));
  });

  test("images -q, --digests, --format: hako prints what docker prints", () => {
    const digests = ok(hako(["images", "--digests"]));
    assert.match(digests, /^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID\s+CREATED\s+SIZE$/m);
    assert.match(digests, new RegExp(`^${reg.host}/test/busybox\\s+1\\s+sha256:[a-f0-9]{64}\\s+${busyboxId.slice(7, 19)}\\s`, "m"));
    assert.match(digests, /^busybox\s+latest\s+<none>\s+/m);
    const format = ok(hako(["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert.deepEqual(format.trimEnd().split("\n").sort(), [`${reg.host}/test/busybox:1`, "busybox:latest"]);
    const json = ok(hako(["images", "--format", "json"])).trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, string>);
    assert.deepEqual(Object.keys(json[0]!), ["Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository", "SharedSize", "Size", "Tag", "UniqueSize", "VirtualSize"]);
    assert.equal(ok(hako(["images", "--no-trunc", "-q"])).trimEnd().split("\n")[0], busyboxId);
    assert.equal(ok(hako(["images", "busybox"])).trimEnd().split("\n").length, 2, "a REPOSITORY argument filters");
    if (!hasDocker) return;
    for (const args of [["images"], ["images", "--digests"], ["images", "-a", "--no-trunc"], ["image", "ls", "--format", "table {{.ID}}\\t{{.Repository}}\\t{{.Size}}"]]) {
      const h = ok(hako(args));
      const dk = ok(docker(args));
      assert.equal(h.split("\n")[0], dk.split("\n")[0], `header of ${args.join(" ")}`);
      assert.deepEqual(rowsOf(h), rowsOf(dk), args.join(" "));
    }
    for (const args of [["images", "-q"], ["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"]]) {
      assert.deepEqual(ok(hako(args)).split("\n").sort(), ok(docker(args)).split("\n").sort(), args.join(" "));
    }
  });

  test("history: the same table from both CLIs", () => {
    const out = ok(hako(["history", "busybox"]));
    assert.match(out, /^IMAGE {10}CREATED {2,}CREATED BY {3}SIZE {6}COMMENT$/m);
    assert.match(out, new RegExp(`^${busyboxId.slice(7, 19)}\\s+\\S.* ago\\s+\\d[\\d.]*[kMG]?B\\s+busybox from the host`, "m"));
    assert.equal(ok(hako(["image", "history", "-q", "busybox"])), `${busyboxId.slice(7, 19)}\n`);
    const raw = ok(hako(["history", "-H=false", "--no-trunc", "busybox"]));
    assert.match(raw, new RegExp(`^${busyboxId}\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(Z|[+-]\\d\\d:\\d\\d)\\s+\\d+\\s+busybox`, "m"));
    if (!hasDocker) return;
    for (const args of [["history", "busybox"], ["history", "--no-trunc", "busybox"], ["history", "-H=false", "busybox"], ["history", "--format", "{{.ID}} {{.CreatedBy}} {{.Size}}", "busybox"]]) {
      assert.equal(ok(hako(args)), ok(docker(args)), args.join(" "));
    }
  });

  test("image inspect: docker's four-space JSON array and -f, byte for byte", () => {
    const out = ok(hako(["image", "inspect", "busybox"]));
    assert.ok(out.startsWith("[\n    {\n        \"Id\": "), out.slice(0, 80));
    const parsed = JSON.parse(out) as { Id: string; RepoTags: string[]; Config: { Cmd: string[] } }[];
    assert.equal(parsed[0]!.Id, busyboxId);
    assert.deepEqual(parsed[0]!.Config.Cmd, ["sh"]);
    assert.equal(ok(hako(["image", "inspect", "-f", "{{.Id}}", "busybox", `${reg.host}/test/busybox:1`])), `${busyboxId}\n${busyboxId}\n`);
    assert.equal(ok(hako(["inspect", "--format", "{{json .Config.Cmd}}", "busybox"])), '["sh"]\n');
    const missing = hako(["image", "inspect", "busybox", "nope"]);
    assert.equal(missing.status, 1);
    assert.equal(JSON.parse(missing.stdout).length, 1);
    assert.equal(missing.stderr, "Error response from daemon: No such image: nope:latest\n");
    const top = hako(["inspect", "nope"]);
    assert.equal(top.status, 1);
    assert.equal(top.stdout, "[]\n");
    assert.equal(top.stderr, "Error: No such object: nope\n");
    const badTemplate = hako(["image", "inspect", "-f", "{{.Id", "busybox"]);
    assert.equal(badTemplate.status, 64);
    if (!hasDocker) return;
    assert.equal(out, ok(docker(["image", "inspect", "busybox"])));
    assert.equal(ok(hako(["image", "inspect", "-f", "{{.Id}} {{.Size}}", "busybox"])), ok(docker(["image", "inspect", "-f", "{{.Id}} {{.Size}}", "busybox"])));
    const dm = docker(["image", "inspect", "busybox", "nope"]);
    assert.equal(dm.status, missing.status);
    assert.equal(dm.stdout, missing.stdout);
    assert.equal(dm.stderr, missing.stderr);
    const dtop = docker(["inspect", "nope"]);
    assert.equal(dtop.stderr, top.stderr);
  });

  test("rmi by ID of an image with several names: docker's conflict, exit 1; unknown names", () => {
    const short = busyboxId.slice(7, 19);
    const r = hako(["rmi", short]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `Error response from daemon: conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories\n`);
    const missing = hako(["rmi", "nope"]);
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr, "Error response from daemon: No such image: nope:latest\n");
    const forced = hako(["rmi", "-f", "nope"]);
    assert.equal(forced.status, 0, "-f makes a missing image no failure");
    if (!hasDocker) return;
    for (const args of [["rmi", short], ["rmi", "nope"], ["rmi", "-f", "nope"]]) {
      const h = hako(args);
      const dk = docker(args);
      assert.equal(h.status, dk.status, args.join(" "));
      assert.equal(h.stderr, dk.stderr, args.join(" "));
    }
  });

  test("save -o / load -i round trip (hako and docker), save to a pipe", () => {
    const file = path.join(tmp, "busybox.tar");
    assert.equal(ok(hako(["save", "-o", file, "busybox"])), "");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const names = parseTar(readFileSync(file)).map((e) => e.name);
    assert.ok(names.includes("manifest.json"), names.join(" "));
    const piped = spawnSync(HAKO_BIN, ["save", "busybox"], { env, timeout: 60_000, maxBuffer: 256 << 20 });
    assert.equal(piped.status, 0, piped.stderr.toString());
    assert.ok(parseTar(piped.stdout).some((e) => e.name === "manifest.json"));

    // Drop every name and the image itself, then load it back.
    ok(hako(["rmi", "-f", busyboxId]));
    assert.equal(ok(hako(["images", "-q"])), "");
    assert.equal(ok(hako(["load", "-i", file])), "Loaded image: busybox:latest\n");
    assert.equal(ok(hako(["image", "inspect", "-f", "{{.Id}}", "busybox"])), `${busyboxId}\n`);
    const missing = hako(["load", "-i", path.join(tmp, "nope.tar")]);
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr, `open ${path.join(tmp, "nope.tar")}: no such file or directory\n`);
    if (!hasDocker) return;
    const dfile = path.join(tmp, "busybox-docker.tar");
    ok(docker(["save", "-o", dfile, "busybox"]));
    ok(hako(["rmi", "busybox"]));
    assert.equal(ok(docker(["load", "-i", dfile])), "Loaded image: busybox:latest\n");
    assert.equal(ok(docker(["image", "inspect", "-f", "{{.Id}}", "busybox"])), `${busyboxId}\n`);
  });

  test("import: a file with -c and -m, stdin, and docker import", () => {
    const rootfs = path.join(tmp, "rootfs.tar");
    writeFileSync(rootfs, buildTar([{ name: "etc/", type: "dir" }, { name: "etc/motd", data: "imported\n" }]));
    const id = ok(hako(["import", "-c", 'CMD ["/bin/sh"]', "-c", "ENV A=b", "-m", "my import", rootfs, "imp:1"])).trim();
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    assert.equal(ok(hako(["image", "inspect", "-f", "{{.Id}} {{json .Config.Cmd}} {{.Comment}}", "imp:1"])), `${id} ["/bin/sh"] my import\n`);
    const viaStdin = spawnSync(HAKO_BIN, ["image", "import", "-", "imp:2"], { env, input: readFileSync(rootfs), encoding: "utf8", timeout: 60_000 });
    assert.equal(viaStdin.status, 0, viaStdin.stderr);
    assert.match(viaStdin.stdout, /^sha256:[a-f0-9]{64}\n$/);
    const none = hako(["import", path.join(tmp, "none.tar")]);
    assert.equal(none.status, 1);
    assert.equal(none.stderr, `open ${path.join(tmp, "none.tar")}: no such file or directory\n`);
    if (!hasDocker) return;
    const dk = ok(docker(["import", "-m", "from docker", rootfs, "imp:3"])).trim();
    assert.match(dk, /^sha256:[a-f0-9]{64}$/);
    assert.equal(ok(hako(["image", "inspect", "-f", "{{.Comment}}", "imp:3"])), "from docker\n");
  });

  test("image prune asks first; -f removes dangling images and reports the space", () => {
    const rootfs = path.join(tmp, "rootfs.tar");
    const dangling = ok(hako(["import", "-m", "dangling", rootfs])).trim();
    const declined = hako(["image", "prune"], "n\n");
    assert.equal(declined.status, 0);
    assert.equal(declined.stdout, "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ");
    assert.equal(ok(hako(["image", "inspect", "-f", "{{.Id}}", dangling])), `${dangling}\n`);
    const pruned = ok(hako(["image", "prune"], "y\n"));
    assert.equal(
      pruned,
      `WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] Deleted Images:\ndeleted: ${dangling}\n\nTotal reclaimed space: 0B\n`,
    );
    assert.equal(ok(hako(["image", "prune", "-f"])), "Total reclaimed space: 0B\n");
    if (hasDocker) assert.equal(ok(docker(["image", "prune", "-f"])), "Total reclaimed space: 0B\n");
  });

  describe("login and logout against the htpasswd registry", () => {
    const configFile = (): { auths?: Record<string, { auth?: string }> } => JSON.parse(readFileSync(path.join(config, "config.json"), "utf8"));

    test("docker login --password-stdin, then hako pushes with the stored credentials", { skip: dockerSkip }, () => {
      const r = docker(["login", sec.host, "-u", "user", "--password-stdin"], "s3cret\n");
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^Login Succeeded$/m);
      assert.equal(configFile().auths?.[sec.host]?.auth, Buffer.from("user:s3cret").toString("base64"));
      ok(hako(["tag", "busybox", `${sec.host}/priv/bb:1`]));
      assert.match(ok(hako(["push", `${sec.host}/priv/bb:1`])), /^1: digest: sha256:/m);
      assert.equal(ok(docker(["logout", sec.host])), `Removing login credentials for ${sec.host}\n`);
      assert.deepEqual(configFile().auths, {});
    });

    test("hako login: a wrong password, then the right one, stored as docker stores it", () => {
      const bad = hako(["login", "-u", "user", "--password-stdin", sec.host], "wrong\n");
      assert.equal(bad.status, 1);
      assert.equal(bad.stderr, `Error response from daemon: login attempt to http://${sec.host}/v2/ failed with status: 401 Unauthorized\n`);
      const good = hako(["login", "-u", "user", "--password-stdin", sec.host], "s3cret\n");
      assert.equal(good.status, 0, good.stderr);
      assert.equal(good.stdout, "Login Succeeded\n");
      assert.equal(
        good.stderr,
        `\nWARNING! Your credentials are stored unencrypted in '${path.join(config, "config.json")}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n\n`,
      );
      assert.equal(configFile().auths?.[sec.host]?.auth, Buffer.from("user:s3cret").toString("base64"));
      const again = hako(["login", sec.host]);
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.stderr, /^Authenticating with existing credentials\.\.\. \[Username: user\]$/m);
      assert.equal(again.stdout, "Login Succeeded\n");
      const insecure = hako(["login", "-u", "user", "-p", "s3cret", sec.host]);
      assert.equal(insecure.status, 0);
      assert.equal(insecure.stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
      const conflicting = hako(["login", "-u", "user", "-p", "x", "--password-stdin", sec.host]);
      assert.equal(conflicting.status, 1);
      assert.equal(conflicting.stderr, "conflicting options: cannot specify both --password and --password-stdin\n");
    });

    test("pull sends X-Registry-Auth from the stored credentials; docker pull uses hako's login", () => {
      ok(hako(["tag", "busybox", `${sec.host}/priv/bb:2`]));
      ok(hako(["push", `${sec.host}/priv/bb:2`]));
      ok(hako(["rmi", `${sec.host}/priv/bb:2`]));
      assert.match(ok(hako(["pull", `${sec.host}/priv/bb:2`])), new RegExp(`^${sec.host}/priv/bb:2$`, "m"));
      if (hasDocker) {
        ok(hako(["rmi", `${sec.host}/priv/bb:2`]));
        assert.match(ok(docker(["pull", `${sec.host}/priv/bb:2`])), new RegExp(`^${sec.host}/priv/bb:2$`, "m"));
      }
    });

    test("a wrong stored password: pull fails with a clear message (both CLIs, no prompt)", () => {
      writeFileSync(path.join(config, "config.json"), JSON.stringify({ auths: { [sec.host]: { auth: Buffer.from("user:wrong").toString("base64") } } }));
      ok(hako(["rmi", `${sec.host}/priv/bb:2`]));
      const r = hako(["pull", `${sec.host}/priv/bb:2`]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`^Error response from daemon: pull access denied for ${sec.host}/priv/bb, repository does not exist or may require 'docker login': unauthorized`));
      if (hasDocker) {
        const dk = docker(["pull", `${sec.host}/priv/bb:2`]);
        assert.equal(dk.status, 1);
        assert.equal(dk.stderr, r.stderr);
      }
    });

    test("hako logout removes them; an interactive login needs a terminal", () => {
      assert.equal(ok(hako(["logout", sec.host])), `Removing login credentials for ${sec.host}\n`);
      assert.deepEqual(configFile().auths, {});
      const r = hako(["login", sec.host]);
      assert.equal(r.status, 1);
      assert.equal(r.stderr, "Error: Cannot perform an interactive login from a non TTY device\n");
      assert.equal(ok(hako(["logout"])), "Removing login credentials for https://index.docker.io/v1/\n");
    });
  });

  test("the daemon logged no error", () => {
    assert.doesNotMatch(d.log(), /level=error/);
  });
});
