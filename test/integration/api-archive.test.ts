/**
 * docker cp, export, diff and commit through the Engine API of a
 * throw-away hakod, with real busybox containers: files and directories out
 * of and into running and stopped containers, symlinks in the container
 * resolved inside it (never on the host), `..` in an uploaded tar refused,
 * changes after edits, commit with -c, and the stock docker CLI against the
 * same daemon. Every container is force-removed, every image and temp dir
 * removed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import http from "node:http";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import tarStream from "tar-stream";
import { startDaemon, type ApiResponse, type TestDaemon } from "../helpers/daemon.ts";

const isRoot = process.getuid?.() === 0;
const DOCKER = "/usr/local/bin/docker";

interface Entry {
  name: string;
  type: string;
  data: string;
  linkname?: string | null;
}

/** A tar made of `entries` (files with data, directories, symlinks). */
function makeTar(entries: { name: string; type?: "file" | "directory" | "symlink"; data?: string; linkname?: string; mode?: number; uid?: number }[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const e of entries) {
    const type = e.type ?? "file";
    if (type === "file") pack.entry({ name: e.name, type, mode: e.mode ?? 0o644, uid: e.uid ?? 0, gid: e.uid ?? 0 }, e.data ?? "");
    else pack.entry({ name: e.name, type, mode: e.mode ?? 0o755, uid: 0, gid: 0, ...(e.linkname ? { linkname: e.linkname } : {}) });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    pack.on("data", (c: unknown) => chunks.push(c as Buffer));
    pack.on("end", () => resolve(Buffer.concat(chunks)));
    pack.on("error", reject);
  });
}

/** The entries of a tar. */
function readTar(buf: Buffer): Promise<Entry[]> {
  const extract = tarStream.extract();
  const out: Entry[] = [];
  return new Promise((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => chunks.push(c as Buffer));
      stream.on("end", () => {
        out.push({ name: header.name, type: header.type ?? "file", data: Buffer.concat(chunks).toString("utf8"), linkname: header.linkname });
        next();
      });
    });
    extract.on("finish", () => resolve(out));
    extract.on("error", reject);
    extract.end(buf);
  });
}

/** A request whose body is read as bytes (tars). */
function rawRequest(socketPath: string, method: string, urlPath: string, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, method, path: urlPath, headers: body ? { "Content-Type": "application/x-tar", "Content-Length": String(body.length) } : {}, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

function statHeader(res: { headers: http.IncomingHttpHeaders }): { name: string; size: number; mode: number; mtime: string; linkTarget: string } {
  const h = res.headers["x-docker-container-path-stat"];
  assert.ok(typeof h === "string", "the stat header is there");
  return JSON.parse(Buffer.from(h, "base64").toString("utf8"));
}

for (const driver of ["overlay2", "vfs"]) {
describe(`archive API on ${driver}: docker cp, export, diff, commit`, { skip: isRoot ? false : "needs root" }, () => {
  let d: TestDaemon;
  const images: string[] = [];
  let tmp: string;

  const req = (method: string, url: string, body?: object | string): Promise<ApiResponse> => d.request(method, url, { body, timeoutMs: 60_000 });

  async function create(name: string, cmd: string[], extra: object = {}): Promise<string> {
    const r = await req("POST", `/containers/create?name=${name}`, { Image: "busybox", Cmd: cmd, ...extra });
    assert.equal(r.status, 201, r.body);
    return r.json<{ Id: string }>().Id;
  }

  async function start(id: string): Promise<void> {
    const r = await req("POST", `/containers/${id}/start`);
    assert.equal(r.status, 204, r.body);
  }

  async function waitExit(id: string): Promise<number> {
    const r = await req("POST", `/containers/${id}/wait`);
    assert.equal(r.status, 200, r.body);
    return r.json<{ StatusCode: number }>().StatusCode;
  }

  /** Polls until the running container's path exists (its command wrote it). */
  async function waitForPath(id: string, p: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await rawRequest(d.socket, "HEAD", `/containers/${id}/archive?path=${encodeURIComponent(p)}`);
      if (r.status === 200) return;
      if (Date.now() > deadline) throw new Error(`${p} never appeared in ${id}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  const SETUP = "echo hello > /hello; mkdir -p /d/sub; echo x > /d/sub/f; ln -s /etc /hostetc; ln -s /etc/shadow /leak; ln -s ../../../../../../etc /climb; mkdir /dst";
  let running: string;
  let stopped: string;

  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), "hako-archive-"));
    d = await startDaemon({ extraArgs: ["--storage-driver", driver] });
    const bb = await d.request("POST", "/hako/images/busybox", { timeoutMs: 60_000 });
    assert.equal(bb.status, 200, bb.body);
    running = await create("arun", ["sh", "-c", `${SETUP}; touch /ready; sleep 3600`]);
    await start(running);
    await waitForPath(running, "/ready");
    stopped = await create("astop", ["sh", "-c", SETUP]);
    await start(stopped);
    assert.equal(await waitExit(stopped), 0);
  });

  after(async () => {
    if (d) {
      for (const img of images) await req("DELETE", `/images/${encodeURIComponent(img)}?force=1`).catch(() => {});
      await d.stop(); // force-removes every container first
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  for (const which of ["running", "stopped"] as const) {
    test(`stat and get a file and a directory of a ${which} container`, async () => {
      const id = which === "running" ? running : stopped;
      let r = await rawRequest(d.socket, "HEAD", `/containers/${id}/archive?path=/hello`);
      assert.equal(r.status, 200);
      const st = statHeader(r);
      assert.equal(st.name, "hello");
      assert.equal(st.size, 6);
      assert.equal(st.mode, 0o644);
      assert.match(st.mtime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);

      r = await rawRequest(d.socket, "GET", `/containers/${id}/archive?path=/hello`);
      assert.equal(r.status, 200);
      assert.equal(r.headers["content-type"], "application/x-tar");
      assert.deepEqual((await readTar(r.body)).map((e) => [e.name, e.data]), [["hello", "hello\n"]]);

      r = await rawRequest(d.socket, "GET", `/containers/${id}/archive?path=/d`);
      assert.equal(r.status, 200);
      assert.equal(statHeader(r).mode, 2 ** 31 + 0o755, "Go's ModeDir bit");
      assert.deepEqual((await readTar(r.body)).map((e) => e.name), ["d/", "d/sub/", "d/sub/f"]);

      r = await rawRequest(d.socket, "GET", `/containers/${id}/archive?path=/d/.`);
      assert.deepEqual((await readTar(r.body)).map((e) => e.name), ["./", "./sub/", "./sub/f"]);

      const missing = await req("GET", `/containers/${which === "running" ? "arun" : "astop"}/archive?path=/nope`);
      assert.equal(missing.status, 404);
      assert.equal(missing.json().message, `Could not find the file /nope in container ${which === "running" ? "arun" : "astop"}`);
    });

    test(`symlinks of a ${which} container resolve inside it, never on the host`, async () => {
      const id = which === "running" ? running : stopped;
      let r = await rawRequest(d.socket, "HEAD", `/containers/${id}/archive?path=/leak`);
      assert.equal(r.status, 200);
      assert.equal(statHeader(r).linkTarget, "/etc/shadow");
      assert.equal(statHeader(r).mode, 2 ** 27 + 0o777, "Go's ModeSymlink bit");
      // The link itself, not what it names.
      r = await rawRequest(d.socket, "GET", `/containers/${id}/archive?path=/leak`);
      const [link] = await readTar(r.body);
      assert.equal(link!.type, "symlink");
      assert.equal(link!.linkname, "/etc/shadow");
      // Followed: the container's /etc has no shadow file (the host's does).
      assert.ok(existsSync("/etc/shadow"));
      for (const p of ["/leak/", "/climb/shadow", "/hostetc/shadow"]) {
        const g = await req("GET", `/containers/${id}/archive?path=${encodeURIComponent(p)}`);
        assert.equal(g.status, 404, `${p}: ${g.body}`);
      }
      r = await rawRequest(d.socket, "GET", `/containers/${id}/archive?path=/hostetc/`);
      const names = (await readTar(r.body)).map((e) => e.name);
      assert.ok(names.includes("hostetc/passwd"), names.join(" "));
      assert.ok(!names.includes("hostetc/shadow"));
    });

    test(`put a file and a directory into a ${which} container`, async () => {
      const id = which === "running" ? running : stopped;
      const tar = await makeTar([
        { name: "in.txt", data: `into ${which}\n` },
        { name: "tree/", type: "directory" },
        { name: "tree/leaf", data: "leaf\n" },
      ]);
      let r = await rawRequest(d.socket, "PUT", `/containers/${id}/archive?path=/dst`, tar);
      assert.equal(r.status, 200, r.body.toString());
      r = await rawRequest(d.socket, "GET", `/containers/${id}/archive?path=/dst`);
      assert.deepEqual(
        (await readTar(r.body)).map((e) => [e.name, e.data]),
        [["dst/", ""], ["dst/in.txt", `into ${which}\n`], ["dst/tree/", ""], ["dst/tree/leaf", "leaf\n"]],
      );
      // Into a symlink to /etc: the container's /etc, not the host's.
      const marker = `hako-archive-test-${process.pid}-${which}`;
      r = await rawRequest(d.socket, "PUT", `/containers/${id}/archive?path=/hostetc`, await makeTar([{ name: marker, data: "x" }]));
      assert.equal(r.status, 200, r.body.toString());
      assert.ok(!existsSync(`/etc/${marker}`), "nothing written on the host");
      r = await rawRequest(d.socket, "HEAD", `/containers/${id}/archive?path=/etc/${marker}`);
      assert.equal(r.status, 200);
    });

    test(`bad uploads into a ${which} container are refused and the daemon lives`, async () => {
      const id = which === "running" ? running : stopped;
      const escape = await makeTar([{ name: "../../../../../../tmp/hako-escape", data: "x" }]);
      let r = await rawRequest(d.socket, "PUT", `/containers/${id}/archive?path=/dst`, escape);
      assert.equal(r.status, 400, r.body.toString());
      assert.match(r.body.toString(), /escapes/);
      assert.ok(!existsSync("/tmp/hako-escape"));
      r = await rawRequest(d.socket, "PUT", `/containers/${id}/archive?path=/hello`, await makeTar([{ name: "x", data: "x" }]));
      assert.equal(r.status, 400);
      assert.match(r.body.toString(), /extraction point is not a directory/);
      r = await rawRequest(d.socket, "PUT", `/containers/${id}/archive?path=/nope`, await makeTar([{ name: "x", data: "x" }]));
      assert.equal(r.status, 404);
      r = await rawRequest(d.socket, "PUT", `/containers/${id}/archive?path=/dst`, Buffer.from("this is not a tar archive at all".repeat(40)));
      assert.equal(r.status, 400, r.body.toString());
      // noOverwriteDirNonDir: /dst/tree is a directory
      r = await rawRequest(d.socket, "PUT", `/containers/${id}/archive?path=/dst&noOverwriteDirNonDir=1`, await makeTar([{ name: "tree", data: "x" }]));
      assert.equal(r.status, 400, r.body.toString());
      assert.match(r.body.toString(), /cannot overwrite directory/);
      r = await rawRequest(d.socket, "PUT", `/containers/${id}/archive`, await makeTar([{ name: "x", data: "x" }]));
      assert.equal(r.status, 400);
      assert.equal((await req("GET", "/_ping")).status, 200);
    });
  }

  test("copyUIDGID gives the files the container's user; without a user the archive's owners stay (moby's tarCopyOptions)", async () => {
    const ownerAfterPut = async (id: string): Promise<number> => {
      const tar = await makeTar([{ name: "owned", data: "x", uid: 1234 }]);
      let r = await rawRequest(d.socket, "PUT", `/containers/${id}/archive?path=/tmp&copyUIDGID=1`, tar);
      assert.equal(r.status, 200, r.body.toString());
      r = await rawRequest(d.socket, "GET", `/containers/${id}/archive?path=/tmp/owned`);
      const extract = tarStream.extract();
      return new Promise<number>((resolve) => {
        extract.on("entry", (h, s, next) => {
          resolve(h.uid ?? -1);
          s.resume();
          next();
        });
        extract.end(r.body);
      });
    };
    assert.equal(await ownerAfterPut(await create("auser", ["true"], { User: "daemon" })), 1);
    assert.equal(await ownerAfterPut(await create("anouser", ["true"])), 1234);
  });

  test("volumes and binds of a stopped container: written and read in place, read-only refused", async () => {
    const bind = path.join(tmp, `robind-${driver}`);
    mkdirSync(bind, { recursive: true });
    writeFileSync(path.join(bind, "b"), "bind\n");
    const id = await create("avol", ["sh", "-c", "echo v > /vol/inside"], { HostConfig: { Binds: ["archvol:/vol", `${bind}:/ro:ro`] } });
    await start(id);
    assert.equal(await waitExit(id), 0);
    let r = await rawRequest(d.socket, "PUT", `/containers/${id}/archive?path=/vol`, await makeTar([{ name: "new", data: "n\n" }]));
    assert.equal(r.status, 200, r.body.toString());
    const vol = (await req("GET", "/volumes/archvol")).json<{ Mountpoint: string }>();
    assert.equal(readFileSync(path.join(vol.Mountpoint, "new"), "utf8"), "n\n", "in the volume itself");
    r = await rawRequest(d.socket, "GET", `/containers/${id}/archive?path=/vol`);
    assert.equal(statHeader(r).name, "vol");
    assert.deepEqual((await readTar(r.body)).map((e) => e.name), ["vol/", "vol/inside", "vol/new"]);
    r = await rawRequest(d.socket, "GET", `/containers/${id}/archive?path=/ro/b`);
    assert.deepEqual((await readTar(r.body)).map((e) => [e.name, e.data]), [["b", "bind\n"]]);
    r = await rawRequest(d.socket, "PUT", `/containers/${id}/archive?path=/ro`, await makeTar([{ name: "x", data: "x" }]));
    assert.equal(r.status, 400);
    assert.match(r.body.toString(), /mounted volume is marked read-only/);
    assert.ok(!existsSync(path.join(bind, "x")));
    await req("DELETE", `/containers/${id}?force=1`);
    await req("DELETE", "/volumes/archvol");
  });

  test("clients that go away mid-stream leave no helper behind", async () => {
    let r = await rawRequest(d.socket, "PUT", `/containers/${running}/archive?path=/tmp`, await makeTar([{ name: "big", data: "z".repeat(8 << 20) }]));
    assert.equal(r.status, 200, r.body.toString());
    // A download abandoned after its first bytes.
    await new Promise<void>((resolve, reject) => {
      const get = http.request({ socketPath: d.socket, method: "GET", path: `/containers/${running}/archive?path=/tmp/big` }, (res) => {
        res.once("data", () => {
          get.destroy();
          resolve();
        });
      });
      get.on("error", () => {});
      get.on("close", () => resolve());
      get.on("timeout", () => reject(new Error("timed out")));
      get.end();
    });
    // An upload cut off in the middle of an entry.
    const full = await makeTar([{ name: "cut", data: "y".repeat(4 << 20) }]);
    await new Promise<void>((resolve) => {
      const put = http.request({ socketPath: d.socket, method: "PUT", path: `/containers/${running}/archive?path=/tmp`, headers: { "Content-Length": String(full.length) } });
      put.on("error", () => resolve());
      put.on("close", () => resolve());
      put.write(full.subarray(0, 1 << 20), () => setTimeout(() => put.destroy(), 100));
    });
    const deadline = Date.now() + 5000;
    for (;;) {
      const children = spawnSync("ps", ["-o", "args=", "--ppid", String(d.pid)], { encoding: "utf8" }).stdout;
      if (!children.includes("rootfs-tool")) break;
      if (Date.now() > deadline) assert.fail(`helpers left running:\n${children}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal((await req("GET", "/_ping")).status, 200);
    r = await rawRequest(d.socket, "HEAD", `/containers/${running}/archive?path=/tmp/cut`);
    assert.ok(r.status === 200 || r.status === 404);
  });

  test("a read-only rootfs refuses uploads", async () => {
    const id = await create("aro", ["true"], { HostConfig: { ReadonlyRootfs: true } });
    const r = await rawRequest(d.socket, "PUT", `/containers/${id}/archive?path=/tmp`, await makeTar([{ name: "x", data: "x" }]));
    assert.equal(r.status, 400);
    assert.match(r.body.toString(), /container rootfs is marked read-only/);
  });

  test("export contains the container's files", async () => {
    for (const id of [stopped, running]) {
      const r = await rawRequest(d.socket, "GET", `/containers/${id}/export`);
      assert.equal(r.status, 200);
      const entries = await readTar(r.body);
      const names = entries.map((e) => e.name);
      assert.ok(names.includes("hello") && names.includes("d/sub/f") && names.includes("bin/busybox"), names.slice(0, 20).join(" "));
      assert.equal(entries.find((e) => e.name === "hello")!.data, "hello\n");
      assert.ok(!names.some((n) => n.startsWith("proc/") && n !== "proc/"), "no /proc contents");
    }
    assert.equal((await req("GET", "/containers/nope/export")).status, 404);
  });

  test("changes list added, modified and deleted paths", async () => {
    const id = await create("adiff", ["sh", "-c", "touch /a; rm /etc/group; echo more >> /etc/passwd; mkdir -p /newdir/x"]);
    await start(id);
    assert.equal(await waitExit(id), 0);
    const r = await req("GET", `/containers/${id}/changes`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json(), [
      { Path: "/a", Kind: 1 },
      { Path: "/etc", Kind: 0 },
      { Path: "/etc/group", Kind: 2 },
      { Path: "/etc/passwd", Kind: 0 },
      { Path: "/newdir", Kind: 1 },
      { Path: "/newdir/x", Kind: 1 },
    ]);
    assert.equal((await req("GET", "/containers/nope/changes")).status, 404);
  });

  test("commit makes an image that runs and has the new file; -c changes its config", async () => {
    const src = await create("acommit", ["sh", "-c", "echo committed > /x"]);
    await start(src);
    assert.equal(await waitExit(src), 0);
    const r = await req("POST", `/commit?container=acommit&repo=hako-archive-test&tag=v1&comment=hi&author=me&changes=${encodeURIComponent('CMD ["cat","/x"]')}&changes=${encodeURIComponent("ENV A=b")}`, {});
    assert.equal(r.status, 201, r.body);
    const imageId = r.json<{ Id: string }>().Id;
    images.push("hako-archive-test:v1");
    assert.match(imageId, /^sha256:[0-9a-f]{64}$/);
    const inspect = (await req("GET", "/images/hako-archive-test:v1/json")).json();
    assert.equal(inspect.Id, imageId);
    assert.deepEqual(inspect.Config.Cmd, ["cat", "/x"]);
    assert.ok(inspect.Config.Env.includes("A=b"));
    assert.equal(inspect.Author, "me");
    assert.equal(inspect.Comment, "hi");
    const run = await d.request("POST", "/containers/create?name=afromcommit", { body: { Image: "hako-archive-test:v1" } });
    assert.equal(run.status, 201, run.body);
    const runId = run.json<{ Id: string }>().Id;
    await start(runId);
    assert.equal(await waitExit(runId), 0);
    const logs = await rawRequest(d.socket, "GET", `/containers/${runId}/logs?stdout=1`);
    assert.match(logs.body.toString("latin1"), /committed/);
    // A running container is paused while its layer is read, then runs on.
    const c2 = await req("POST", `/commit?container=${running}`);
    assert.equal(c2.status, 201, c2.body);
    images.push(c2.json<{ Id: string }>().Id);
    assert.equal((await req("GET", `/containers/${running}/json`)).json().State.Status, "running");
    assert.equal((await req("POST", "/commit?container=nope")).status, 404);
    assert.equal((await req("POST", "/commit?container=acommit&changes=FROM%20x")).status, 400);
  });

  test("the docker CLI: cp both ways, diff, export, commit", { skip: existsSync(DOCKER) ? false : "no docker CLI" }, () => {
    const env = { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: path.join(tmp, "docker-config") };
    const docker = (...args: string[]) => spawnSync(DOCKER, args, { env, encoding: "utf8", timeout: 60_000 });
    const local = path.join(tmp, "cli");
    mkdirSync(path.join(local, "dir"), { recursive: true });
    writeFileSync(path.join(local, "dir", "f"), "from the cli\n");
    let r = docker("cp", path.join(local, "dir"), "arun:/dst/fromcli");
    assert.equal(r.status, 0, r.stderr);
    r = docker("cp", "arun:/dst/fromcli/f", path.join(local, "back"));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(path.join(local, "back"), "utf8"), "from the cli\n");
    r = docker("cp", "astop:/d", path.join(local, "d-out"));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(path.join(local, "d-out", "sub", "f"), "utf8"), "x\n");
    r = docker("cp", "astop:/nope", path.join(local, "nope"));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Could not find the file \/nope in container astop/);
    r = docker("diff", "adiff");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "A /a\nC /etc\nD /etc/group\nC /etc/passwd\nA /newdir\nA /newdir/x\n");
    r = docker("export", "-o", path.join(local, "exp.tar"), "astop");
    assert.equal(r.status, 0, r.stderr);
    const list = spawnSync("tar", ["-tf", path.join(local, "exp.tar")], { encoding: "utf8" });
    assert.match(list.stdout, /^hello$/m);
    r = docker("commit", "-c", 'CMD ["cat","/hello"]', "astop", "hako-archive-cli:1");
    assert.equal(r.status, 0, r.stderr);
    images.push("hako-archive-cli:1");
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}$/m);
  });
});
}
