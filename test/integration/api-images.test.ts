/**
 * The image endpoints of a real hakod over its unix socket: a table of
 * requests and the answers dockerd gives (list, inspect, history, tag,
 * delete, prune, import from a body and from a URL, save and load between
 * two daemons), then pull/push/auth against a real registry
 * (docker-registry, with and without htpasswd), and a pull whose client
 * goes away halfway. Needs root (overlay layers) and /bin/busybox.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { startDaemon, type ApiResponse, type TestDaemon } from "../helpers/daemon.ts";
import { imageOfLayers, startFakeRegistry, type FakeRegistry } from "../helpers/images.ts";
import { registrySkipReason, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { buildTar, parseTar } from "../helpers/tar-writer.ts";

const skip =
  process.getuid?.() !== 0 ? "needs root (overlay layers)" : !existsSync("/bin/busybox") ? "/bin/busybox missing (apt-get install busybox-static)" : false;

/** The JSON messages of a progress stream. */
function messages(res: ApiResponse): Record<string, any>[] {
  return res.body
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);
}

/** A request whose whole body is kept as bytes (tar archives). */
function rawRequest(socketPath: string, method: string, urlPath: string, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: urlPath, agent: false, headers: body ? { "Content-Length": String(body.length), "Content-Type": "application/x-tar" } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const rootfsTar = (): Buffer =>
  buildTar([
    { name: "etc/", type: "dir", mode: 0o755 },
    { name: "etc/hello", data: "hello from an imported image\n", mode: 0o644 },
    { name: "bin/", type: "dir", mode: 0o755 },
  ]);

const enc = encodeURIComponent;

describe("api: images", { skip }, () => {
  let d: TestDaemon;
  let busyboxId = "";
  before(async () => {
    d = await startDaemon();
  });
  after(() => d?.stop());

  test("GET /images/json on a new daemon is an empty list", async () => {
    const res = await d.request("GET", "/images/json");
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(res.json(), []);
  });

  test("POST /hako/images/busybox makes busybox:latest from the host", async () => {
    const res = await d.request("POST", "/hako/images/busybox", { timeoutMs: 60_000 });
    assert.equal(res.status, 200, res.body);
    busyboxId = res.json().Id;
    assert.match(busyboxId, /^sha256:[a-f0-9]{64}$/);
    // The same host binary gives the same image.
    const again = await d.request("POST", "/hako/images/busybox?tag=busybox:again", { timeoutMs: 60_000 });
    assert.equal(again.json().Id, busyboxId);
    const del = await d.request("DELETE", "/images/busybox:again");
    assert.deepEqual(del.json(), [{ Untagged: "busybox:again" }]);
  });

  test("GET /images/json: the summary; <none> and VirtualSize for old API versions", async () => {
    const list = (await d.request("GET", "/images/json")).json();
    assert.equal(list.length, 1);
    assert.equal(list[0].Id, busyboxId);
    assert.deepEqual(list[0].RepoTags, ["busybox:latest"]);
    assert.deepEqual(list[0].RepoDigests, []);
    assert.equal(typeof list[0].Created, "number");
    assert.ok(list[0].Size > 100_000, `size ${list[0].Size}`);
    assert.equal(list[0].Containers, -1);
    assert.equal("VirtualSize" in list[0], false);
    const old = (await d.request("GET", "/v1.41/images/json")).json();
    assert.equal(old[0].VirtualSize, old[0].Size);
    const filtered = (await d.request("GET", `/images/json?filters=${enc(JSON.stringify({ reference: ["busy*"] }))}`)).json();
    assert.equal(filtered.length, 1);
    const none = (await d.request("GET", `/images/json?filters=${enc(JSON.stringify({ reference: ["nothing"] }))}`)).json();
    assert.deepEqual(none, []);
    const legacyForm = (await d.request("GET", `/images/json?filters=${enc(JSON.stringify({ dangling: { true: true } }))}`)).json();
    assert.deepEqual(legacyForm, []);
    const bad = await d.request("GET", `/images/json?filters=${enc(JSON.stringify({ dangling: ["maybe"] }))}`);
    assert.equal(bad.status, 400);
    assert.equal(bad.json().message, "invalid filter 'dangling=maybe'");
    const unknown = await d.request("GET", `/images/json?filters=${enc(JSON.stringify({ color: ["red"] }))}`);
    assert.equal(unknown.status, 400);
  });

  test("POST /images/{name}/tag → 201; the name may hold a registry and slashes", async () => {
    const res = await d.request("POST", "/images/busybox/tag?repo=localhost:5000/test/bb&tag=1");
    assert.equal(res.status, 201, res.body);
    assert.equal(res.body, "");
    const byId = await d.request("POST", `/images/${busyboxId.slice(7, 19)}/tag?repo=bb-short`);
    assert.equal(byId.status, 201, byId.body);
    const list = (await d.request("GET", "/images/json")).json();
    assert.deepEqual(list[0].RepoTags, ["bb-short:latest", "busybox:latest", "localhost:5000/test/bb:1"]);
    const missing = await d.request("POST", "/images/nope/tag?repo=x&tag=1");
    assert.equal(missing.status, 404);
    assert.equal(missing.json().message, "No such image: nope:latest");
    const digest = await d.request("POST", `/images/busybox/tag?repo=x@sha256:${"a".repeat(64)}`);
    assert.equal(digest.status, 400);
    const badName = await d.request("POST", "/images/busybox/tag?repo=Upper&tag=1");
    assert.equal(badName.status, 400);
    assert.match(badName.json().message, /must be lowercase/);
  });

  test("GET /images/{name}/json: the inspect shape", async () => {
    for (const name of ["busybox", "busybox:latest", busyboxId, busyboxId.slice(7, 19), "localhost:5000/test/bb:1"]) {
      const res = await d.request("GET", `/images/${name}/json`);
      assert.equal(res.status, 200, `${name}: ${res.body}`);
      const img = res.json();
      assert.equal(img.Id, busyboxId);
      assert.deepEqual(img.RepoTags, ["bb-short:latest", "busybox:latest", "localhost:5000/test/bb:1"]);
      assert.deepEqual(img.RepoDigests, []);
      assert.equal(img.RootFS.Type, "layers");
      assert.equal(img.RootFS.Layers.length, 1);
      assert.match(img.RootFS.Layers[0], /^sha256:[a-f0-9]{64}$/);
      assert.equal(img.GraphDriver.Name, "overlay2");
      assert.deepEqual(img.Config.Cmd, ["sh"]);
      assert.equal(img.Os, "linux");
      assert.equal(typeof img.Architecture, "string");
      assert.equal("VirtualSize" in img, false);
    }
    const old = (await d.request("GET", "/v1.41/images/busybox/json")).json();
    assert.equal(old.VirtualSize, old.Size);
    assert.deepEqual(Object.keys(old).slice(Object.keys(old).indexOf("Size"), Object.keys(old).indexOf("Size") + 2), ["Size", "VirtualSize"]);
  });

  test("GET /images/{name}/history", async () => {
    const res = await d.request("GET", "/images/busybox/history");
    assert.equal(res.status, 200, res.body);
    const items = res.json();
    assert.equal(items.length, 1);
    assert.equal(items[0].Id, busyboxId);
    assert.ok(items[0].Tags.includes("busybox:latest"));
    assert.equal(items[0].CreatedBy, "");
    assert.match(items[0].Comment, /busybox/);
    assert.ok(items[0].Size > 0);
  });

  test("404s name the image the way docker does", async () => {
    for (const [method, p] of [
      ["GET", "/images/nope/json"],
      ["GET", "/images/nope/history"],
      ["DELETE", "/images/nope"],
      ["GET", "/images/nope/get"],
      ["GET", "/images/get?names=nope"],
      ["GET", "/images/localhost:5000/nope/json"],
    ] as const) {
      const res = await d.request(method, p);
      assert.equal(res.status, 404, `${method} ${p}: ${res.body}`);
      assert.match(res.json().message, /^No such image: (localhost:5000\/)?nope:latest$/);
    }
  });

  test("DELETE by ID of an image with several names is a 409 without force", async () => {
    const res = await d.request("DELETE", `/images/${busyboxId.slice(7, 19)}`);
    assert.equal(res.status, 409, res.body);
    assert.equal(res.json().message, `conflict: unable to delete ${busyboxId.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`);
  });

  test("DELETE of one name untags; the image stays", async () => {
    const res = await d.request("DELETE", "/images/localhost:5000/test/bb:1");
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(res.json(), [{ Untagged: "localhost:5000/test/bb:1" }]);
    const since = Math.floor(Date.now() / 1000) - 1;
    const res2 = await d.request("DELETE", "/images/bb-short");
    assert.deepEqual(res2.json(), [{ Untagged: "bb-short:latest" }]);
    const image = (await d.request("GET", "/images/busybox/json")).json() as { Id: string };
    // moby's untag event names the image by its ID.
    const events = await d.request("GET", `/events?since=${since}&until=${Math.floor(Date.now() / 1000) + 1}&filters=${enc('{"event":["untag"]}')}`);
    const untag = events.body.trim().split("\n").map((l) => JSON.parse(l) as { id: string; Actor: { ID: string; Attributes: { name: string } } });
    assert.ok(untag.length >= 1);
    for (const e of untag) assert.deepEqual([e.id, e.Actor.ID, e.Actor.Attributes.name], [image.Id, image.Id, image.Id]);
  });

  let importedId = "";
  test("POST /images/create?fromSrc=- imports the body, with repo, tag, message and changes", async () => {
    const q = `fromSrc=-&repo=imported&tag=1&message=${enc("hello import")}&changes=${enc('CMD ["/bin/true"]')}&changes=${enc("ENV A=b")}&platform=linux/amd64`;
    const res = await rawRequest(d.socket, "POST", `/images/create?${q}`, rootfsTar());
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.headers["content-type"], "application/json");
    const lines = res.body.toString().trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.length, 1);
    importedId = lines[0].status;
    assert.match(importedId, /^sha256:[a-f0-9]{64}$/);
    const img = (await d.request("GET", "/images/imported:1/json")).json();
    assert.equal(img.Id, importedId);
    assert.deepEqual(img.Config.Cmd, ["/bin/true"]);
    assert.deepEqual(img.Config.Env, ["A=b"]);
    assert.equal(img.Comment, "hello import");
    assert.equal(img.Architecture, "amd64");
    const history = (await d.request("GET", "/images/imported:1/history")).json();
    assert.equal(history[0].Comment, "hello import");
  });

  test("import refuses bad input before streaming: a digest repo, a bad change, a non-tar body", async () => {
    const digest = await rawRequest(d.socket, "POST", `/images/create?fromSrc=-&repo=${enc(`x@sha256:${"b".repeat(64)}`)}`, rootfsTar());
    assert.equal(digest.status, 400, digest.body.toString());
    assert.equal(JSON.parse(digest.body.toString()).message, "cannot import digest reference");
    const change = await rawRequest(d.socket, "POST", `/images/create?fromSrc=-&changes=${enc("RUN true")}`, rootfsTar());
    assert.equal(change.status, 400, change.body.toString());
    assert.equal(JSON.parse(change.body.toString()).message, "run is not a valid change command");
    const neither = await d.request("POST", "/images/create");
    assert.equal(neither.status, 400);
  });

  describe("import from a URL", () => {
    let server: http.Server;
    let base = "";
    const hits: string[] = [];
    before(async () => {
      const tar = rootfsTar();
      server = http.createServer((req, res) => {
        hits.push(req.url ?? "");
        if (req.url === "/rootfs.tar") res.writeHead(200, { "Content-Length": String(tar.length) }).end(tar);
        else if (req.url === "/moved") res.writeHead(302, { Location: "/rootfs.tar" }).end();
        else res.writeHead(404).end("not here");
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    test("fetched (following a redirect), with Downloading and Importing progress", async () => {
      const res = await d.request("POST", `/images/create?fromSrc=${enc(`${base}/moved`)}&repo=fromurl`);
      assert.equal(res.status, 200, res.body);
      const m = messages(res);
      assert.deepEqual(m[0], { status: `Downloading from ${base}/moved` });
      assert.ok(m.some((x) => x.status === "Importing" && x.progressDetail?.total > 0), res.body);
      const id = m.at(-1)!.status;
      assert.match(id, /^sha256:[a-f0-9]{64}$/);
      const img = (await d.request("GET", "/images/fromurl/json")).json();
      assert.equal(img.Id, id);
      assert.equal(img.Comment, `Imported from ${base}/moved`);
      const first = (await d.request("GET", "/images/imported:1/json")).json();
      assert.deepEqual(img.RootFS.Layers, first.RootFS.Layers, "the same rootfs tar is the same layer");
      assert.deepEqual(hits.slice(-2), ["/moved", "/rootfs.tar"]);
    });

    test("a URL that answers 404 is a 404 with dockerd's message", async () => {
      const res = await d.request("POST", `/images/create?fromSrc=${enc(`${base}/missing.tar`)}`);
      assert.equal(res.status, 404, res.body);
      assert.equal(res.json().message, `failed to GET ${base}/missing.tar with status 404 Not Found: not here`);
    });
  });

  test("POST /images/prune removes dangling images only (unless dangling=false)", async () => {
    const dangling = await rawRequest(d.socket, "POST", "/images/create?fromSrc=-&message=dangling", rootfsTar());
    const danglingId = JSON.parse(dangling.body.toString().trim()).status as string;
    const listed = (await d.request("GET", `/images/json?filters=${enc(JSON.stringify({ dangling: ["true"] }))}`)).json();
    assert.deepEqual(listed.map((i: { Id: string }) => i.Id), [danglingId]);
    const none = (await d.request("GET", `/v1.42/images/json?filters=${enc(JSON.stringify({ dangling: ["1"] }))}`)).json();
    assert.deepEqual(none[0].RepoTags, ["<none>:<none>"]);
    assert.deepEqual(none[0].RepoDigests, ["<none>@<none>"]);
    const res = await d.request("POST", "/images/prune");
    assert.equal(res.status, 200, res.body);
    const report = res.json();
    assert.deepEqual(report.ImagesDeleted, [{ Deleted: danglingId }]);
    assert.equal(typeof report.SpaceReclaimed, "number");
    assert.equal((await d.request("GET", `/images/${danglingId}/json`)).status, 404);
    assert.equal((await d.request("GET", "/images/imported:1/json")).status, 200, "tagged images stay");
    const again = (await d.request("POST", "/images/prune")).json();
    assert.deepEqual(again, { ImagesDeleted: null, SpaceReclaimed: 0 });
    const bad = await d.request("POST", `/images/prune?filters=${enc(JSON.stringify({ reference: ["x"] }))}`);
    assert.equal(bad.status, 400);
  });


  describe("save and load between two daemons", () => {
    let second: TestDaemon;
    let archive: Buffer;
    before(async () => {
      second = await startDaemon();
    });
    after(() => second?.stop());

    test("GET /images/get?names= is an application/x-tar stream in docker's layout", async () => {
      const res = await rawRequest(d.socket, "GET", "/images/get?names=busybox&names=imported:1");
      assert.equal(res.status, 200, res.body.toString().slice(0, 500));
      assert.equal(res.headers["content-type"], "application/x-tar");
      archive = res.body;
      const names = parseTar(archive).map((e) => e.name);
      assert.ok(names.includes("manifest.json"), names.join(" "));
      const manifest = JSON.parse(parseTar(archive).find((e) => e.name === "manifest.json")!.data.toString()) as { RepoTags: string[] }[];
      assert.deepEqual(manifest.flatMap((m) => m.RepoTags).sort(), ["busybox:latest", "imported:1"]);
      const one = await rawRequest(d.socket, "GET", "/images/busybox/get");
      assert.equal(one.status, 200);
      assert.equal(one.headers["content-type"], "application/x-tar");
    });

    test("POST /images/load into the second daemon streams 'Loaded image' lines", async () => {
      const res = await rawRequest(second.socket, "POST", "/images/load?quiet=1", archive);
      assert.equal(res.status, 200);
      assert.equal(res.headers["content-type"], "application/json");
      const lines = res.body.toString().trim().split("\n").map((l) => JSON.parse(l));
      assert.ok(!lines.some((l) => l.errorDetail), res.body.toString());
      const loaded = lines.map((l) => l.stream).filter(Boolean).sort();
      assert.deepEqual(loaded, ["Loaded image: busybox:latest\n", "Loaded image: imported:1\n"]);
      const img = (await second.request("GET", "/images/busybox/json")).json();
      assert.equal(img.Id, busyboxId);
      assert.deepEqual(img.Config.Cmd, ["sh"]);
    });

    test("a broken archive fails inside the 200 stream, as dockerd reports it", async () => {
      const res = await rawRequest(second.socket, "POST", "/images/load", Buffer.from("this is not a tar archive at all"));
      assert.equal(res.status, 200);
      const lines = res.body.toString().trim().split("\n").map((l) => JSON.parse(l));
      assert.ok(lines.at(-1).errorDetail?.message, res.body.toString());
    });
  });

  test("DELETE of the last name deletes the image", async () => {
    const res = await d.request("DELETE", "/images/imported:1");
    assert.equal(res.status, 200, res.body);
    const items = res.json();
    assert.deepEqual(items[0], { Untagged: "imported:1" });
    assert.deepEqual(items.at(-1), { Deleted: importedId });
    assert.equal((await d.request("GET", "/images/imported:1/json")).status, 404);
  });

  test("the daemon logged no error", () => {
    assert.doesNotMatch(d.log(), /level=error/);
  });
});

describe("api: pull, push and /auth against a registry", { skip: skip || registrySkipReason() || false }, () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let secured: TestRegistry;
  const goodAuth = { username: "user", password: "s3cret", serveraddress: "" };
  const authHeader = (auth: object, encoding: "base64url" | "base64" = "base64url"): Record<string, string> => ({
    "X-Registry-Auth": Buffer.from(JSON.stringify(auth)).toString(encoding),
  });
  before(async () => {
    [d, reg, secured] = await Promise.all([startDaemon(), startRegistry(), startRegistry({ htpasswd: { user: "user", password: "s3cret" } })]);
    goodAuth.serveraddress = secured.host;
    const res = await d.request("POST", "/hako/images/busybox", { timeoutMs: 60_000 });
    assert.equal(res.status, 200, res.body);
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
    await secured?.stop();
  });

  test("push streams docker's progress and ends with the aux digest", async () => {
    assert.equal((await d.request("POST", `/images/busybox/tag?repo=${reg.host}/test/bb&tag=1`)).status, 201);
    const res = await d.request("POST", `/images/${reg.host}/test/bb/push?tag=1`, { timeoutMs: 60_000 });
    assert.equal(res.status, 200, res.body);
    const m = messages(res);
    assert.deepEqual(m[0], { status: `The push refers to repository [${reg.host}/test/bb]` });
    assert.ok(m.some((x) => x.status === "Pushed"), res.body);
    const aux = m.find((x) => x.aux)?.aux;
    assert.equal(aux.Tag, "1");
    assert.match(aux.Digest, /^sha256:/);
    assert.ok(m.some((x) => x.status === `1: digest: ${aux.Digest} size: ${aux.Size}`), res.body);
    const img = (await d.request("GET", `/images/${reg.host}/test/bb:1/json`)).json();
    assert.deepEqual(img.RepoDigests, [`${reg.host}/test/bb@${aux.Digest}`]);
  });

  test("push of a tag that is not here fails in the stream", async () => {
    const res = await d.request("POST", `/images/${reg.host}/test/bb/push?tag=2`);
    assert.equal(res.status, 200);
    const m = messages(res);
    assert.equal(m.at(-1)!.errorDetail.message, `tag does not exist: ${reg.host}/test/bb:2`);
    const unknown = await d.request("POST", `/images/${reg.host}/test/other/push?tag=1`);
    assert.equal(messages(unknown).at(-1)!.errorDetail.message, `An image does not exist locally with the tag: ${reg.host}/test/other`);
  });

  test("pull of a missing tag is a 404 before any stream", async () => {
    const res = await d.request("POST", `/images/create?fromImage=${reg.host}/test/bb&tag=nope`);
    assert.equal(res.status, 404, res.body);
    assert.equal(res.json().message, `manifest for ${reg.host}/test/bb:nope not found: manifest unknown: manifest unknown`);
    const repo = await d.request("POST", `/images/create?fromImage=${reg.host}/test/missing&tag=1`);
    assert.equal(repo.status, 404, repo.body);
    // distribution 2.8 says MANIFEST_UNKNOWN for a repository it never saw; others say NAME_UNKNOWN.
    assert.match(repo.json().message, new RegExp(`^(manifest for ${reg.host}/test/missing:1|repository ${reg.host}/test/missing) not found: (manifest|name) unknown`));
  });

  test("pull after rmi brings the image back under its name and repo digest", async () => {
    assert.equal((await d.request("DELETE", `/images/${reg.host}/test/bb:1`)).status, 200);
    const res = await d.request("POST", `/images/create?fromImage=${enc(`${reg.host}/test/bb`)}&tag=1`, { timeoutMs: 60_000 });
    assert.equal(res.status, 200, res.body);
    const m = messages(res);
    assert.deepEqual(m[0], { status: "Pulling from test/bb", id: "1" });
    assert.match(m.at(-2)!.status, /^Digest: sha256:/);
    assert.equal(m.at(-1)!.status, `Status: Downloaded newer image for ${reg.host}/test/bb:1`);
    const again = messages(await d.request("POST", `/images/create?fromImage=${reg.host}/test/bb:1`));
    assert.equal(again.at(-1)!.status, `Status: Image is up to date for ${reg.host}/test/bb:1`);
    const digest = (await d.request("GET", `/images/${reg.host}/test/bb:1/json`)).json().RepoDigests[0].split("@")[1];
    const byDigest = await d.request("POST", `/images/create?fromImage=${reg.host}/test/bb&tag=${digest}`);
    assert.equal(byDigest.status, 200, byDigest.body);
    assert.ok(messages(byDigest).some((x) => x.status === `Digest: ${digest}`));
  });

  test("a bad platform or reference is a 400", async () => {
    assert.equal((await d.request("POST", `/images/create?fromImage=${reg.host}/test/bb&tag=1&platform=linux//x`)).status, 400);
    assert.equal((await d.request("POST", "/images/create?fromImage=UPPER&tag=1")).status, 400);
    assert.equal((await d.request("POST", "/images/create?fromImage=busybox&tag=bad%20tag")).status, 400);
  });

  test("POST /auth: good credentials, and docker's 401 for bad ones", async () => {
    const ok = await d.request("POST", "/auth", { body: goodAuth });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.json().Status, "Login Succeeded");
    const bad = await d.request("POST", "/auth", { body: { ...goodAuth, password: "wrong" } });
    assert.equal(bad.status, 401, bad.body);
    assert.deepEqual(bad.json(), { message: `login attempt to http://${secured.host}/v2/ failed with status: 401 Unauthorized` });
    const open = await d.request("POST", "/auth", { body: { username: "any", password: "thing", serveraddress: reg.host } });
    assert.equal(open.status, 200, open.body);
  });

  test("X-Registry-Auth carries the credentials of push and pull (base64url or std base64)", async () => {
    assert.equal((await d.request("POST", `/images/busybox/tag?repo=${secured.host}/priv/bb&tag=1`)).status, 201);
    const anonymous = messages(await d.request("POST", `/images/${secured.host}/priv/bb/push?tag=1`));
    assert.match(anonymous.at(-1)!.errorDetail.message, /unauthorized|authentication/i);
    const pushed = await d.request("POST", `/images/${secured.host}/priv/bb/push?tag=1`, { headers: authHeader(goodAuth), timeoutMs: 60_000 });
    assert.ok(!messages(pushed).some((x) => x.errorDetail), pushed.body);
    assert.equal((await d.request("DELETE", `/images/${secured.host}/priv/bb:1`)).status, 200);

    const wrong = await d.request("POST", `/images/create?fromImage=${secured.host}/priv/bb&tag=1`, { headers: authHeader({ ...goodAuth, password: "nope" }) });
    assert.equal(wrong.status, 403, wrong.body);
    assert.match(wrong.json().message, new RegExp(`^pull access denied for ${secured.host}/priv/bb, repository does not exist or may require 'docker login': unauthorized`));
    const none = await d.request("POST", `/images/create?fromImage=${secured.host}/priv/bb&tag=1`, { headers: { "X-Registry-Auth": "not base64 json!" } });
    assert.equal(none.status, 403, "an undecodable header is ignored: the pull goes anonymous");
    for (const encoding of ["base64url", "base64"] as const) {
      const res = await d.request("POST", `/images/create?fromImage=${secured.host}/priv/bb&tag=1`, { headers: authHeader(goodAuth, encoding), timeoutMs: 60_000 });
      assert.equal(res.status, 200, res.body);
      assert.ok(!messages(res).some((x) => x.errorDetail), res.body);
    }
    const viaAuthField = await d.request("POST", `/images/create?fromImage=${secured.host}/priv/bb&tag=1`, {
      headers: authHeader({ auth: Buffer.from("user:s3cret").toString("base64"), serveraddress: secured.host }),
    });
    assert.equal(viaAuthField.status, 200, viaAuthField.body);
  });

  test("the daemon logged no error", () => {
    assert.doesNotMatch(d.log(), /level=error/);
  });
});

describe("api: search (a v1 index on 127.0.0.1)", { skip }, () => {
  let d: TestDaemon;
  let fake: FakeRegistry;
  before(async () => {
    [d, fake] = await Promise.all([startDaemon(), startFakeRegistry()]);
    fake.searchIndex.push(
      { star_count: 12, is_official: true, name: "tools/busybox", is_automated: true, description: "the official one" },
      { star_count: 3, is_official: false, name: "someone/busybox-extra", is_automated: false, description: "not official" },
      { star_count: 0, is_official: false, name: "other/nginx", is_automated: false, description: "" },
    );
  });
  after(async () => {
    await d?.stop();
    await fake?.stop();
  });
  const searchFor = (query: string): Promise<ApiResponse> => d.request("GET", `/images/search?${query}`);

  test("asks the registry the term names, and answers its results in dockerd's shape", async () => {
    const res = await searchFor(`term=${fake.host}/busybox`);
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(res.json(), [
      { star_count: 12, is_official: true, name: "tools/busybox", is_automated: false, description: "the official one" },
      { star_count: 3, is_official: false, name: "someone/busybox-extra", is_automated: false, description: "not official" },
    ]);
    assert.ok(fake.requests.includes("GET /v1/search"));
    const limited = await searchFor(`term=${fake.host}/busybox&limit=1`);
    assert.deepEqual((limited.json() as { name: string }[]).map((r) => r.name), ["tools/busybox"]);
  });

  test("filters: is-official, stars (a minimum), is-automated (deprecated: true finds nothing)", async () => {
    const f = (filters: object): Promise<ApiResponse> => searchFor(`term=${fake.host}/busybox&filters=${encodeURIComponent(JSON.stringify(filters))}`);
    assert.deepEqual(((await f({ "is-official": ["false"] })).json() as { name: string }[]).map((r) => r.name), ["someone/busybox-extra"]);
    assert.deepEqual(((await f({ stars: ["5"] })).json() as { name: string }[]).map((r) => r.name), ["tools/busybox"]);
    assert.deepEqual((await f({ "is-automated": ["true"] })).json(), []);
  });

  test("bad input: 400s with dockerd's words, and nothing asked of the registry", async () => {
    const before = fake.requests.length;
    const cases: [string, string | RegExp][] = [
      [`term=${fake.host}/x&limit=abc`, 'invalid limit specified: strconv.Atoi: parsing "abc": invalid syntax'],
      [`term=${fake.host}/x&limit=-1`, "invalid limit specified"],
      [`term=${fake.host}/x&limit=101`, "limit 101 is outside the range of [1, 100]"],
      [`term=${fake.host}/x&filters=${encodeURIComponent('{"bogus":["1"]}')}`, "invalid filter 'bogus'"],
      [`term=${fake.host}/x&filters=${encodeURIComponent('{"stars":["many"]}')}`, "invalid filter 'stars=many'"],
      [`term=${fake.host}/x&filters=${encodeURIComponent('{"is-official":["maybe"]}')}`, "invalid filter 'is-official=maybe'"],
      [`term=http://${fake.host}/x`, `invalid repository name: repository name (http://${fake.host}/x) should not have a scheme`],
    ];
    for (const [query, message] of cases) {
      const res = await searchFor(query);
      assert.equal(res.status, 400, query);
      assert.deepEqual(res.json(), { message }, query);
    }
    assert.equal(fake.requests.length, before);
  });
});

describe("api: a pull whose client goes away", { skip }, () => {
  let d: TestDaemon;
  let fake: FakeRegistry;
  before(async () => {
    [d, fake] = await Promise.all([startDaemon(), startFakeRegistry()]);
  });
  after(async () => {
    await d?.stop();
    await fake?.stop();
  });

  test("is aborted, and leaves no image behind", async () => {
    const big = Buffer.alloc(4 << 20);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    const image = imageOfLayers([buildTar([{ name: "big.bin", data: big }])], { gzip: false });
    fake.addImage("slow/img", "1", image);
    const layer = image.layers[0]!;
    fake.blobs.get(layer.digest)!.bytesPerSecond = 256 * 1024;

    const seen: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ socketPath: d.socket, method: "POST", path: `/images/create?fromImage=${fake.host}/slow/img&tag=1`, agent: false }, (res) => {
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          seen.push(chunk);
          // Once the download is under way, walk away.
          if (seen.join("").includes('"Downloading"')) {
            req.destroy();
            resolve();
          }
        });
        res.on("error", () => resolve());
      });
      req.on("error", (err) => (seen.join("").includes("Downloading") ? resolve() : reject(err)));
      req.end();
    });
    await delay(500);
    const sentAfterAbort = fake.sent.get(layer.digest) ?? 0;
    assert.ok(sentAfterAbort < big.length, "the download did not finish");
    await delay(1000);
    assert.equal(fake.sent.get(layer.digest) ?? 0, sentAfterAbort, "the daemon stopped reading the blob");
    assert.equal((await d.request("GET", `/images/${fake.host}/slow/img:1/json`)).status, 404);
    assert.deepEqual((await d.request("GET", "/images/json")).json(), []);
    assert.equal((await d.request("GET", "/_ping")).status, 200);
  });
});
