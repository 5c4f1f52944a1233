/**
 * The registry client (src/image/registry/) against Debian's real
 * docker-registry 2.8 on 127.0.0.1 (push/pull/chunks/mounts/Basic auth), and
 * against small node:http fakes for what that registry cannot show: corrupted
 * blobs, redirects to another host, a Bearer token server. Nothing here talks
 * to anything but 127.0.0.1.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { createHash, randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { NotFoundError, UnauthorizedError } from "../../src/common/errors.ts";
import { MediaType, type Descriptor } from "../../src/spec/oci-image.ts";
import { RegistryClient, hostnameOf, isInsecureRegistry, parseWwwAuthenticate } from "../../src/image/registry/client.ts";
import { DigestMismatchError } from "../../src/image/registry/errors.ts";
import { pullImage, selectPlatformManifest, type PullProgress } from "../../src/image/registry/pull.ts";
import { pushImage, type PushProgress } from "../../src/image/registry/push.ts";
import { CredentialStore, DOCKER_HUB_AUTH_KEY } from "../../src/image/registry/credentials.ts";
import { sha256 } from "../helpers/images.ts";
import { registrySkipReason, startRegistry, type TestRegistry } from "../helpers/registry.ts";


interface TestImage {
  manifest: { bytes: Buffer; mediaType: string };
  manifestDigest: string;
  config: { descriptor: Descriptor; bytes: Buffer };
  layers: { descriptor: Descriptor; bytes: Buffer }[];
}

/** An image of random gzipped "layers" (the registry never looks inside them). */
function makeImage(sizes: number[], platform = { os: "linux", architecture: "amd64" } as { os: string; architecture: string; variant?: string }): TestImage {
  const layers = sizes.map((size) => {
    const raw = randomBytes(size);
    const bytes = gzipSync(raw);
    return { raw, bytes, descriptor: { mediaType: MediaType.DockerLayerGzip, digest: sha256(bytes), size: bytes.length } };
  });
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { Cmd: ["/bin/sh"] },
      rootfs: { type: "layers", diff_ids: layers.map((l) => sha256(l.raw)) },
      history: layers.map(() => ({ created_by: "test" })),
    }),
  );
  const config = { descriptor: { mediaType: MediaType.DockerConfig, digest: sha256(configBytes), size: configBytes.length }, bytes: configBytes };
  const manifestBytes = Buffer.from(
    JSON.stringify(
      { schemaVersion: 2, mediaType: MediaType.DockerManifest, config: config.descriptor, layers: layers.map((l) => l.descriptor) },
      null,
      3,
    ),
  );
  return {
    manifest: { bytes: manifestBytes, mediaType: MediaType.DockerManifest },
    manifestDigest: sha256(manifestBytes),
    config,
    layers: layers.map((l) => ({ descriptor: l.descriptor, bytes: l.bytes })),
  };
}

async function push(client: RegistryClient, repo: string, img: TestImage, tag?: string, onProgress?: (e: PushProgress) => void, extra: { mountFrom?: string[]; chunkSize?: number } = {}) {
  return pushImage({
    client,
    repo,
    ...(tag ? { tag } : {}),
    manifest: img.manifest,
    config: img.config,
    layers: img.layers.map((l) => ({ descriptor: l.descriptor, open: () => Readable.from([l.bytes]) })),
    ...(onProgress ? { onProgress } : {}),
    ...extra,
  });
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A pull into memory; returns what the sink stored. */
async function pullToMemory(client: RegistryClient, repo: string, reference: string, extra: Partial<Parameters<typeof pullImage>[0]> = {}) {
  const stored = new Map<string, Buffer>();
  const events: PullProgress[] = [];
  const result = await pullImage({
    client,
    repo,
    reference,
    blobSink: async (desc, stream) => {
      stored.set(desc.digest, await collect(stream));
    },
    hasBlob: () => false,
    onProgress: (e) => events.push(e),
    ...extra,
  });
  return { result, stored, events };
}

/** A node:http server on 127.0.0.1:0. */
async function serve(handler: http.RequestListener): Promise<{ server: http.Server; port: number; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readRequest(req: http.IncomingMessage): Promise<Buffer> {
  return collect(req);
}

describe("registry helpers (no network)", () => {
  it("picks HTTP for loopback and configured insecure registries, like Docker", async () => {
    assert.equal(await isInsecureRegistry("localhost:5000"), true);
    assert.equal(await isInsecureRegistry("localhost"), true);
    assert.equal(await isInsecureRegistry("127.0.0.1:5000"), true);
    assert.equal(await isInsecureRegistry("127.3.4.5"), true);
    assert.equal(await isInsecureRegistry("[::1]:5000"), true);
    assert.equal(await isInsecureRegistry("::1"), true);
    assert.equal(await isInsecureRegistry("10.1.2.3:5000"), false);
    assert.equal(await isInsecureRegistry("10.1.2.3:5000", ["10.0.0.0/8"]), true);
    assert.equal(await isInsecureRegistry("myreg.example:5000", ["myreg.example:5000"]), true);
    assert.equal(await isInsecureRegistry("myreg.example:5001", ["myreg.example:5000"]), false);
    assert.equal(hostnameOf("[::1]:5000"), "::1");
    assert.equal(hostnameOf("host:5000"), "host");
    assert.equal((await new RegistryClient({ host: "127.0.0.1:5000" }).baseUrl()).href, "http://127.0.0.1:5000/");
    assert.equal((await new RegistryClient({ host: "docker.io" }).baseUrl()).href, "https://registry-1.docker.io/");
    assert.equal((await new RegistryClient({ host: "localhost:5000", insecure: false }).baseUrl()).protocol, "https:");
  });

  it("parses WWW-Authenticate challenges", () => {
    const c = parseWwwAuthenticate([
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push", Basic realm="x y"',
    ]);
    assert.deepEqual(c, [
      { scheme: "bearer", params: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a/b:pull,push" } },
      { scheme: "basic", params: { realm: "x y" } },
    ]);
    assert.deepEqual(parseWwwAuthenticate('Basic realm="basic-realm"'), [{ scheme: "basic", params: { realm: "basic-realm" } }]);
  });

  it("selects the platform's manifest from an index", () => {
    const d = (architecture: string, variant?: string) => ({
      mediaType: MediaType.OciManifest,
      digest: sha256(Buffer.from(architecture + variant)),
      size: 1,
      platform: { os: "linux", architecture, ...(variant ? { variant } : {}) },
    });
    const index = {
      schemaVersion: 2 as const,
      manifests: [
        { ...d("unknown"), platform: { os: "unknown", architecture: "unknown" } },
        d("arm", "v6"),
        d("arm", "v7"),
        d("arm64", "v8"),
        d("amd64"),
      ],
    };
    assert.equal(selectPlatformManifest(index, { os: "linux", architecture: "amd64" })?.platform?.architecture, "amd64");
    assert.equal(selectPlatformManifest(index, { os: "linux", architecture: "arm64" })?.platform?.variant, "v8");
    assert.equal(selectPlatformManifest(index, { os: "linux", architecture: "arm", variant: "v7" })?.platform?.variant, "v7");
    assert.equal(selectPlatformManifest({ schemaVersion: 2, manifests: [d("arm", "v6")] }, { os: "linux", architecture: "arm", variant: "v7" })?.platform?.variant, "v6");
    assert.equal(selectPlatformManifest(index, { os: "linux", architecture: "s390x" }), undefined);
  });
});

describe("RegistryClient against docker-registry", { skip: registrySkipReason() }, () => {
  let reg: TestRegistry;
  let client: RegistryClient;

  before(async () => {
    reg = await startRegistry();
    client = new RegistryClient({ host: reg.host });
  });
  after(async () => {
    client?.close();
    await reg?.stop();
  });

  it("pings /v2/", async () => {
    const r = await client.ping();
    assert.equal(r.apiVersion, "registry/2.0");
    assert.equal(r.authenticated, false);
    assert.equal(r.auth, undefined);
  });

  it("pushes an image and pulls it back by tag and by digest, byte for byte", async () => {
    const img = makeImage([1024, 3 * 1024 * 1024, 10]);
    const events: PushProgress[] = [];
    const pushed = await push(client, "test/app", img, "v1", (e) => events.push(e));
    assert.equal(pushed.digest, img.manifestDigest);
    assert.equal(pushed.size, img.manifest.bytes.length);
    for (const l of img.layers) {
      const id = l.descriptor.digest.slice(7, 19);
      const statuses = events.filter((e) => e.id === id).map((e) => e.status);
      assert.equal(statuses[0], "Preparing");
      assert.equal(statuses.at(-1), "Pushed");
      assert.ok(statuses.includes("Pushing"), statuses.join(","));
    }
    const big = events.filter((e) => e.id === img.layers[1]!.descriptor.digest.slice(7, 19) && e.status === "Pushing").at(-1);
    assert.deepEqual(big?.progressDetail, { current: img.layers[1]!.descriptor.size, total: img.layers[1]!.descriptor.size });

    // a second push finds every layer there
    const again: PushProgress[] = [];
    await push(client, "test/app", img, "v1", (e) => again.push(e));
    assert.deepEqual(
      again.filter((e) => e.status !== "Preparing").map((e) => e.status),
      img.layers.map(() => "Layer already exists"),
    );

    for (const reference of ["v1", img.manifestDigest]) {
      const { result, stored } = await pullToMemory(client, "test/app", reference);
      assert.deepEqual(result.manifest.bytes, img.manifest.bytes);
      assert.equal(result.manifest.digest, img.manifestDigest);
      assert.equal(result.manifest.mediaType, MediaType.DockerManifest);
      assert.deepEqual(result.config, img.config.bytes);
      assert.deepEqual(result.configDescriptor, img.config.descriptor);
      assert.deepEqual(result.layers, img.layers.map((l) => l.descriptor));
      assert.equal(result.indexDigest, undefined);
      for (const l of img.layers) assert.ok(stored.get(l.descriptor.digest)?.equals(l.bytes), `layer ${l.descriptor.digest}`);
    }

    const head = await client.headManifest("test/app", "v1");
    assert.equal(head?.digest, img.manifestDigest);
    assert.equal(head?.mediaType, MediaType.DockerManifest);
    assert.equal(head?.size, img.manifest.bytes.length);
  });

  it("pulls the requested platform through an OCI index", async () => {
    const amd = makeImage([100], { os: "linux", architecture: "amd64" });
    const arm = makeImage([200], { os: "linux", architecture: "arm64", variant: "v8" });
    await push(client, "test/multi", amd);
    await push(client, "test/multi", arm);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          { mediaType: amd.manifest.mediaType, digest: amd.manifestDigest, size: amd.manifest.bytes.length, platform: { os: "linux", architecture: "amd64" } },
          { mediaType: arm.manifest.mediaType, digest: arm.manifestDigest, size: arm.manifest.bytes.length, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
        ],
      }),
    );
    const indexDigest = await client.putManifest("test/multi", "latest", index, MediaType.OciIndex);
    assert.equal(indexDigest, sha256(index));

    const def = await pullToMemory(client, "test/multi", "latest");
    assert.equal(def.result.indexDigest, indexDigest);
    assert.equal(def.result.index?.mediaType, MediaType.OciIndex);
    assert.equal(def.result.manifest.digest, amd.manifestDigest);
    const a64 = await pullToMemory(client, "test/multi", "latest", { platform: { os: "linux", architecture: "arm64" } });
    assert.equal(a64.result.manifest.digest, arm.manifestDigest);
    assert.deepEqual(a64.result.config, arm.config.bytes);
    await assert.rejects(pullToMemory(client, "test/multi", "latest", { platform: { os: "linux", architecture: "s390x" } }), (err: Error) => {
      assert.ok(err instanceof NotFoundError);
      assert.match(err.message, /no matching manifest for linux\/s390x/);
      return true;
    });
  });

  it("uploads a blob in PATCH chunks and reports progress", async () => {
    const blob = randomBytes(300 * 1024 + 123);
    const digest = sha256(blob);
    const progress: number[] = [];
    // the source hands out odd-sized pieces so chunks cut across them
    const pieces = function* () {
      for (let i = 0; i < blob.length; i += 7777) yield blob.subarray(i, i + 7777);
    };
    const r = await client.pushBlob("test/chunked", digest, blob.length, Readable.from(pieces()), { chunkSize: 64 * 1024, onProgress: (n) => progress.push(n) });
    assert.equal(r.digest, digest);
    assert.equal(progress.at(-1), blob.length);
    assert.equal(await client.blobExists("test/chunked", digest), blob.length);
    assert.ok((await collect(await client.getBlob("test/chunked", digest))).equals(blob));

    // a chunked upload of the wrong bytes is refused by the registry
    const other = randomBytes(1000);
    await assert.rejects(client.pushBlob("test/chunked", sha256(blob.subarray(0, 1000)), 1000, Readable.from([other]), { chunkSize: 300 }), /digest invalid/);
  });

  it("mounts a blob across repositories", async () => {
    const blob = randomBytes(5000);
    const digest = sha256(blob);
    await client.pushBlob("test/source", digest, blob.length, () => Readable.from([blob]));
    assert.equal(await client.blobExists("test/target", digest), undefined);
    const r = await client.pushBlob("test/target", digest, blob.length, () => Readable.from([blob]), { mountFrom: "test/source" });
    assert.equal(r.mountedFrom, "test/source");
    assert.equal(await client.blobExists("test/target", digest), blob.length);
    // mountBlob from a repository without it: 202 → false, and a plain upload still works after
    const other = randomBytes(64);
    assert.equal(await client.mountBlob("test/target2", sha256(other), "test/source"), false);
    const r2 = await client.pushBlob("test/target2", sha256(other), other.length, Readable.from([other]), { mountFrom: "test/source" });
    assert.equal(r2.mountedFrom, undefined);
    assert.equal(await client.blobExists("test/target2", sha256(other)), other.length);

    // pushImage mounts layers from the repositories it is told about
    const img = makeImage([2000, 3000]);
    await push(client, "test/base", img, "1");
    const events: PushProgress[] = [];
    await push(client, "test/derived", img, "1", (e) => events.push(e), { mountFrom: ["test/nothing-here", "test/base"] });
    assert.deepEqual(events.filter((e) => e.status.startsWith("Mounted")).map((e) => e.status), ["Mounted from test/base", "Mounted from test/base"]);
  });

  it("reports blob existence and missing manifests", async () => {
    assert.equal(await client.blobExists("test/app", sha256(Buffer.from("nope"))), undefined);
    await assert.rejects(client.getManifest("test/app", "no-such-tag"), (err: Error) => {
      assert.ok(err instanceof NotFoundError, String(err));
      assert.match(err.message, /^manifest unknown: /);
      return true;
    });
    await assert.rejects(client.getManifest("test/never-pushed", "latest"), NotFoundError);
    assert.equal(await client.headManifest("test/app", "no-such-tag"), undefined);
    await assert.rejects(client.getBlob("test/app", sha256(Buffer.from("nope"))), NotFoundError);
  });

  it("resumes a blob download with a Range request", async () => {
    const blob = randomBytes(100_000);
    const digest = sha256(blob);
    await client.pushBlob("test/range", digest, blob.length, Readable.from([blob]));
    const hash = createHash("sha256").update(blob.subarray(0, 40_000));
    const rest = await collect(await client.getBlob("test/range", digest, { start: 40_000, hash, size: blob.length }));
    assert.ok(rest.equals(blob.subarray(40_000)));
    // a wrong prefix hash makes the resumed stream fail verification
    const bad = createHash("sha256").update(Buffer.alloc(40_000));
    await assert.rejects(collect(await client.getBlob("test/range", digest, { start: 40_000, hash: bad, size: blob.length })), DigestMismatchError);
  });

  it("deletes manifests", async () => {
    const img = makeImage([10]);
    await push(client, "test/del", img, "x");
    await client.deleteManifest("test/del", img.manifestDigest);
    await assert.rejects(client.getManifest("test/del", img.manifestDigest), NotFoundError);
  });

  it("emits Docker's pull progress events in order", async () => {
    const img = makeImage([50_000, 60_000, 70_000, 80_000]);
    await push(client, "test/progress", img, "latest");
    const present = img.layers[0]!.descriptor.digest;
    const { events } = await pullToMemory(client, "test/progress", "latest", { concurrency: 2, hasBlob: (d) => d === present });
    const ids = img.layers.map((l) => l.descriptor.digest.slice(7, 19));
    const per = (id: string) => events.filter((e) => e.id === id).map((e) => e.status);
    assert.deepEqual(per(ids[0]!), ["Already exists"]);
    // announcements come first, in layer order
    assert.deepEqual(
      events.slice(0, 4).map((e) => [e.id, e.status]),
      [[ids[0], "Already exists"], [ids[1], "Pulling fs layer"], [ids[2], "Pulling fs layer"], [ids[3], "Pulling fs layer"]],
    );
    for (const [i, id] of ids.slice(1).entries()) {
      const s = per(id).filter((x, j, a) => x !== "Downloading" || a[j - 1] !== "Downloading"); // collapse repeats
      const expected = i >= 2 ? ["Pulling fs layer", "Waiting", "Downloading", "Verifying Checksum", "Download complete"] : ["Pulling fs layer", "Downloading", "Verifying Checksum", "Download complete"];
      assert.deepEqual(s, expected, `layer ${i + 1}`);
      const last = events.filter((e) => e.id === id && e.status === "Downloading").at(-1)!;
      const size = img.layers[i + 1]!.descriptor.size;
      assert.deepEqual(last.progressDetail, { current: size, total: size });
    }
  });
});

describe("Basic auth against docker-registry (htpasswd)", { skip: registrySkipReason() }, () => {
  let reg: TestRegistry;
  const clients: RegistryClient[] = [];
  const make = (credentials?: { username: string; password: string }) => {
    const c = new RegistryClient({ host: reg.host, ...(credentials ? { credentials } : {}) });
    clients.push(c);
    return c;
  };

  before(async () => {
    reg = await startRegistry({ htpasswd: { user: "alice", password: "s3cret" } });
  });
  after(async () => {
    for (const c of clients) c.close();
    await reg?.stop();
  });

  it("pushes and pulls with the right password", async () => {
    const client = make({ username: "alice", password: "s3cret" });
    const ping = await client.ping();
    assert.deepEqual({ auth: ping.auth, authenticated: ping.authenticated }, { auth: "basic", authenticated: true });
    const img = makeImage([1000, 2000]);
    await push(client, "private/app", img, "v1");
    const { result } = await pullToMemory(client, "private/app", "v1");
    assert.equal(result.manifest.digest, img.manifestDigest);
  });

  it("refuses a wrong password and no credentials with UnauthorizedError", async () => {
    const wrong = make({ username: "alice", password: "wrong" });
    await assert.rejects(wrong.ping(), UnauthorizedError);
    await assert.rejects(wrong.getManifest("private/app", "v1"), (err: Error) => {
      assert.ok(err instanceof UnauthorizedError);
      assert.match(err.message, /unauthorized/);
      return true;
    });
    const anonymous = make();
    const ping = await anonymous.ping();
    assert.deepEqual({ auth: ping.auth, authenticated: ping.authenticated }, { auth: "basic", authenticated: false });
    await assert.rejects(anonymous.getManifest("private/app", "v1"), UnauthorizedError);
    await assert.rejects(anonymous.blobExists("private/app", sha256(Buffer.from("x"))), UnauthorizedError);
  });
});

describe("fake registries (node:http on 127.0.0.1)", () => {
  const closers: (() => Promise<void>)[] = [];
  const clients: RegistryClient[] = [];
  after(async () => {
    for (const c of clients) c.close();
    for (const close of closers) await close();
  });

  it("fails the blob stream when the registry sends corrupted bytes", async () => {
    const good = randomBytes(4096);
    const digest = sha256(good);
    const bad = Buffer.from(good);
    bad[100] ^= 0xff;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.DockerManifest,
        config: { mediaType: MediaType.DockerConfig, digest: sha256(Buffer.from("{}")), size: 2 },
        layers: [{ mediaType: MediaType.DockerLayerGzip, digest, size: good.length }],
      }),
    );
    const srv = await serve((req, res) => {
      if (req.url === "/v2/") return res.end("{}");
      if (req.url === `/v2/evil/blobs/${digest}`) return res.end(bad);
      if (req.url === `/v2/evil/blobs/${sha256(Buffer.from("{}"))}`) return res.end("{}");
      if (req.url === "/v2/evil/manifests/latest") {
        res.setHeader("Content-Type", MediaType.DockerManifest);
        return res.end(manifest);
      }
      if (req.url === "/v2/evil/manifests/sha256:" + "0".repeat(64)) {
        res.setHeader("Content-Type", MediaType.DockerManifest);
        return res.end(manifest);
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ errors: [{ code: "BLOB_UNKNOWN", message: "blob unknown to registry" }] }));
    });
    closers.push(srv.close);
    const client = new RegistryClient({ host: `127.0.0.1:${srv.port}` });
    clients.push(client);
    const stream = await client.getBlob("evil", digest);
    await assert.rejects(collect(stream), (err: Error) => {
      assert.ok(err instanceof DigestMismatchError, String(err));
      assert.match(err.message, /verification failed/);
      return true;
    });
    // a manifest fetched by digest must hash to it
    await assert.rejects(client.getManifest("evil", "sha256:" + "0".repeat(64)), DigestMismatchError);
    // and a pull fails (without retrying) instead of storing it
    let stored = 0;
    await assert.rejects(
      pullImage({
        client,
        repo: "evil",
        reference: "latest",
        hasBlob: () => false,
        blobSink: async (_d, s) => {
          await collect(s);
          stored++;
        },
      }),
      DigestMismatchError,
    );
    assert.equal(stored, 0);
    await assert.rejects(client.getBlob("evil", sha256(Buffer.from("other"))), (err: Error) => {
      assert.ok(err instanceof NotFoundError);
      assert.match(err.message, /^blob unknown: blob unknown to registry/);
      return true;
    });
  });

  it("retries a layer whose connection drops, and times out a silent registry", async () => {
    const layer = randomBytes(64 * 1024);
    const digest = sha256(layer);
    const config = Buffer.from("{}");
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: sha256(config), size: config.length },
        layers: [{ mediaType: MediaType.OciLayerGzip, digest, size: layer.length }],
      }),
    );
    let layerGets = 0;
    const srv = await serve((req, res) => {
      if (req.url === "/v2/flaky/manifests/latest") {
        res.setHeader("Content-Type", MediaType.OciManifest);
        return res.end(manifest);
      }
      if (req.url === `/v2/flaky/blobs/${sha256(config)}`) return res.end(config);
      if (req.url === `/v2/flaky/blobs/${digest}`) {
        if (++layerGets === 1) {
          res.writeHead(200, { "Content-Length": String(layer.length) });
          res.write(layer.subarray(0, 1000));
          setTimeout(() => res.destroy(), 20);
          return;
        }
        return res.end(layer);
      }
      if (req.url === "/v2/") return; // never answers
      res.statusCode = 404;
      res.end();
    });
    closers.push(srv.close);
    const client = new RegistryClient({ host: `127.0.0.1:${srv.port}`, timeoutMs: 300 });
    clients.push(client);
    const { stored, events } = await pullToMemory(client, "flaky", "latest", { retryDelayMs: 10 });
    assert.equal(layerGets, 2);
    assert.ok(stored.get(digest)?.equals(layer));
    const statuses = events.map((e) => e.status);
    assert.ok(statuses.includes("Retrying in 1 second"), statuses.join(","));
    assert.equal(statuses.at(-1), "Download complete");

    const t0 = Date.now();
    await assert.rejects(client.ping(), (err: Error) => err.name === "UnavailableError" && /no activity for 300 ms/.test(err.message));
    assert.ok(Date.now() - t0 < 5000);
  });

  it("runs the Bearer token flow: realm, service, scope, cache, expiry, retry", async () => {
    const tokenRequests: { method: string; query: URLSearchParams; authorization?: string; form?: URLSearchParams }[] = [];
    let issued = 0;
    let rejectTokens = false;
    const tokenServer = await serve(async (req, res) => {
      const url = new URL(req.url!, "http://x");
      const body = await readRequest(req);
      const form = req.method === "POST" ? new URLSearchParams(body.toString()) : undefined;
      tokenRequests.push({ method: req.method!, query: url.searchParams, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), ...(form ? { form } : {}) });
      const okBasic = req.headers.authorization === `Basic ${Buffer.from("bob:pw").toString("base64")}`;
      const okRefresh = form?.get("grant_type") === "refresh_token" && form.get("refresh_token") === "refresh-123";
      const anonymous = !req.headers.authorization && !form;
      if (!okBasic && !okRefresh && !anonymous) {
        res.statusCode = 401;
        return res.end(JSON.stringify({ details: "incorrect username or password" }));
      }
      const scope = (form ? form.get("scope") ?? "" : url.searchParams.getAll("scope").join(" ")) || "none";
      const who = anonymous ? "anon" : "bob";
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify(form ? { access_token: `${who}|${scope}|${++issued}`, expires_in: 120 } : { token: `${who}|${scope}|${++issued}`, expires_in: 120 }));
    });
    closers.push(tokenServer.close);

    const storageHits: (string | undefined)[] = [];
    const storage = await serve((req, res) => {
      storageHits.push(req.headers.authorization);
      res.end(Buffer.from("redirected blob"));
    });
    closers.push(storage.close);

    const uploads = new Map<string, Buffer[]>();
    const manifests = new Map<string, Buffer>();
    const registryAuth: (string | undefined)[] = [];
    const registry = await serve(async (req, res) => {
      const url = new URL(req.url!, "http://x");
      const auth = req.headers.authorization;
      registryAuth.push(auth);
      const m = /^\/v2\/(.+?)\/(manifests|blobs)\/(.*)$/.exec(url.pathname);
      const repo = m?.[1] ?? "";
      const needPush = req.method !== "GET" && req.method !== "HEAD";
      const granted = auth?.startsWith("Bearer ") ? auth.slice(7).split("|")[1]!.split(" ") : [];
      const ok = !rejectTokens && (url.pathname === "/v2/" ? auth?.startsWith("Bearer ") : granted.includes(`repository:${repo}:${needPush ? "pull,push" : "pull"}`));
      if (!ok) {
        await readRequest(req);
        res.statusCode = 401;
        res.setHeader(
          "WWW-Authenticate",
          `Bearer realm="http://127.0.0.1:${tokenServer.port}/token",service="fake.registry"${repo ? `,scope="repository:${repo}:pull"` : ""}`,
        );
        res.setHeader("Content-Type", "application/json");
        return res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
      }
      if (url.pathname === "/v2/") return res.end("{}");
      if (m?.[2] === "manifests" && req.method === "PUT") {
        manifests.set(m[3]!, await readRequest(req));
        res.statusCode = 201;
        return res.end();
      }
      if (m?.[2] === "manifests" && req.method === "GET") {
        const body = manifests.get(m[3]!);
        if (!body) {
          res.statusCode = 404;
          return res.end(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] }));
        }
        res.setHeader("Content-Type", MediaType.OciManifest);
        return res.end(body);
      }
      if (m?.[2] === "blobs" && m[3] === "uploads/" && req.method === "POST") {
        const id = String(uploads.size + 1);
        uploads.set(id, []);
        res.statusCode = 202;
        res.setHeader("Location", `/v2/${repo}/blobs/uploads/${id}?_state=abc`); // relative
        return res.end();
      }
      if (m?.[2] === "blobs" && m[3]!.startsWith("uploads/") && req.method === "PUT") {
        const id = m[3]!.slice("uploads/".length);
        const body = await readRequest(req);
        const all = Buffer.concat([...(uploads.get(id) ?? []), body]);
        if (url.searchParams.get("_state") !== "abc" || sha256(all) !== url.searchParams.get("digest")) {
          res.statusCode = 400;
          return res.end(JSON.stringify({ errors: [{ code: "DIGEST_INVALID", message: "provided digest did not match uploaded content" }] }));
        }
        res.statusCode = 201;
        res.setHeader("Docker-Content-Digest", sha256(all));
        return res.end();
      }
      if (m?.[2] === "blobs" && req.method === "GET") {
        res.statusCode = 307;
        res.setHeader("Location", `http://127.0.0.1:${storage.port}/storage/${m[3]}`);
        return res.end();
      }
      res.statusCode = 404;
      res.end();
    });
    closers.push(registry.close);

    let now = 1_000_000;
    const client = new RegistryClient({ host: `127.0.0.1:${registry.port}`, credentials: { username: "bob", password: "pw" }, now: () => now });
    clients.push(client);

    // ping: a token without scope, with our Basic credentials, account=bob
    const ping = await client.ping();
    assert.deepEqual({ auth: ping.auth, authenticated: ping.authenticated }, { auth: "bearer", authenticated: true });
    assert.equal(tokenRequests.length, 1);
    assert.equal(tokenRequests[0]!.query.get("service"), "fake.registry");
    assert.equal(tokenRequests[0]!.query.get("account"), "bob");
    assert.deepEqual(tokenRequests[0]!.query.getAll("scope"), []);

    // a push: scope repository:team/app:pull,push, relative upload Location, token reused
    const blob = Buffer.from("hello blob");
    await client.pushBlob("team/app", sha256(blob), blob.length, () => Readable.from([blob]));
    assert.equal(tokenRequests.length, 2);
    assert.deepEqual(tokenRequests[1]!.query.getAll("scope"), ["repository:team/app:pull,push"]);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciEmpty, digest: sha256(Buffer.from("{}")), size: 2 }, layers: [] }));
    const digest = await client.putManifest("team/app", "v1", manifest, MediaType.OciManifest);
    assert.equal(digest, sha256(manifest));
    assert.equal(tokenRequests.length, 2, "push token reused from the cache");

    // a pull: its own scope, then cached until expires_in
    const got = await client.getManifest("team/app", "v1");
    assert.deepEqual(got.bytes, manifest);
    assert.equal(got.mediaType, MediaType.OciManifest);
    assert.equal(tokenRequests.length, 3);
    assert.deepEqual(tokenRequests[2]!.query.getAll("scope"), ["repository:team/app:pull"]);
    now += 60_000;
    await client.getManifest("team/app", "v1");
    assert.equal(tokenRequests.length, 3, "still valid after 60 s of 120");
    now += 61_000;
    await client.getManifest("team/app", "v1");
    assert.equal(tokenRequests.length, 4, "fetched again once expired");

    // a blob redirect to another host carries no Authorization there
    const redirected = await collect(await client.getBlob("team/app", sha256(Buffer.from("redirected blob"))));
    assert.equal(redirected.toString(), "redirected blob");
    assert.deepEqual(storageHits, [undefined]);
    assert.ok(registryAuth.at(-1)?.startsWith("Bearer "));

    // 404 through the auth layer still reads the registry's error
    await assert.rejects(client.getManifest("team/app", "missing"), (err: Error) => err instanceof NotFoundError && /^manifest unknown: manifest unknown/.test(err.message));

    // the registry refusing our token after a fresh one → UnauthorizedError with its message
    rejectTokens = true;
    await assert.rejects(client.getManifest("team/app", "v1"), (err: Error) => {
      assert.ok(err instanceof UnauthorizedError, String(err));
      assert.match(err.message, /unauthorized: authentication required/);
      return true;
    });
    rejectTokens = false;

    // wrong password: the token server says no
    const wrong = new RegistryClient({ host: `127.0.0.1:${registry.port}`, credentials: { username: "bob", password: "nope" } });
    clients.push(wrong);
    await assert.rejects(wrong.getManifest("team/app", "v1"), (err: Error) => {
      assert.ok(err instanceof UnauthorizedError, String(err));
      assert.match(err.message, /incorrect username or password/);
      return true;
    });

    // an identity token is exchanged with the OAuth2 POST
    const before = tokenRequests.length;
    const oauth = new RegistryClient({ host: `127.0.0.1:${registry.port}`, credentials: { identitytoken: "refresh-123" } });
    clients.push(oauth);
    assert.deepEqual((await oauth.getManifest("team/app", "v1")).bytes, manifest);
    const post = tokenRequests[before]!;
    assert.equal(post.method, "POST");
    assert.equal(post.form?.get("grant_type"), "refresh_token");
    assert.equal(post.form?.get("service"), "fake.registry");
    assert.equal(post.form?.get("scope"), "repository:team/app:pull");

    // anonymous: a token without credentials; the registry here grants it pull
    const anon = new RegistryClient({ host: `127.0.0.1:${registry.port}` });
    clients.push(anon);
    assert.deepEqual((await anon.getManifest("team/app", "v1")).bytes, manifest);
    assert.equal(tokenRequests.at(-1)!.authorization, undefined);
  });
});

describe("credential store (~/.docker/config.json)", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hako-creds-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("logs in and out like docker, keeping the rest of the file", () => {
    const configDir = path.join(dir, "docker");
    const store = new CredentialStore({ configDir });
    assert.equal(store.get("127.0.0.1:5000"), undefined);

    store.login("127.0.0.1:5000", "alice", "pa:ss");
    assert.equal(statSync(configDir).mode & 0o777, 0o700);
    assert.equal(statSync(store.file).mode & 0o777, 0o600);
    assert.deepEqual(store.get("127.0.0.1:5000"), { username: "alice", password: "pa:ss" });
    assert.deepEqual(JSON.parse(readFileSync(store.file, "utf8")).auths["127.0.0.1:5000"], { auth: Buffer.from("alice:pa:ss").toString("base64") });

    // other keys survive; Docker Hub goes under Docker's legacy key
    const file = JSON.parse(readFileSync(store.file, "utf8"));
    file.credsStore = "desktop";
    file.proxies = { default: { httpProxy: "http://proxy:3128" } };
    file.auths["other.example"] = { auth: Buffer.from("x:y").toString("base64"), email: "x@example" };
    writeFileSync(store.file, JSON.stringify(file));
    store.login("docker.io", "bob", "hub");
    const after1 = JSON.parse(readFileSync(store.file, "utf8"));
    assert.equal(after1.credsStore, "desktop");
    assert.deepEqual(after1.proxies, file.proxies);
    assert.deepEqual(after1.auths["other.example"], file.auths["other.example"]);
    assert.ok(after1.auths[DOCKER_HUB_AUTH_KEY]);
    assert.deepEqual(store.get("registry-1.docker.io"), { username: "bob", password: "hub" });
    assert.deepEqual(store.get("index.docker.io"), { username: "bob", password: "hub" });
    assert.deepEqual(store.get("https://other.example/v1/"), { username: "x", password: "y" });
    assert.equal(statSync(store.file).mode & 0o777, 0o600);

    assert.equal(store.logout("127.0.0.1:5000"), true);
    assert.equal(store.logout("127.0.0.1:5000"), false);
    assert.equal(store.get("127.0.0.1:5000"), undefined);
    assert.equal(store.logout("docker.io"), true);
    const after2 = JSON.parse(readFileSync(store.file, "utf8"));
    assert.deepEqual(Object.keys(after2.auths), ["other.example"]);
    assert.equal(after2.credsStore, "desktop");
  });

  it("reads identity tokens and honours DOCKER_CONFIG", () => {
    const configDir = path.join(dir, "env");
    const saved = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = configDir;
    try {
      const store = new CredentialStore();
      assert.equal(store.file, path.join(configDir, "config.json"));
      store.login("reg.example", "u", "p");
      const file = JSON.parse(readFileSync(store.file, "utf8"));
      file.auths["reg.example"].identitytoken = "tok";
      writeFileSync(store.file, JSON.stringify(file));
      assert.deepEqual(store.get("reg.example"), { identitytoken: "tok", username: "u" });
    } finally {
      if (saved === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = saved;
    }
  });
});
