/**
 * Pulls that go wrong, against a node:http fake registry on 127.0.0.1: a
 * layer whose bytes do not match its digest, a transfer cut short, a layer
 * that is a valid blob but a truncated archive, a manifest that is not
 * JSON, a layer that tries to write outside its root, and a pull SIGKILLed
 * mid-download in a child process. Each leaves no image, no layer, no
 * stray snapshot, and (where the blob never verified) no blob; the data root
 * reopens clean and the next pull completes.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { setTimeout as delay } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { pull } from "../../src/image/distribution.ts";
import { chainIds } from "../../src/image/ids.ts";
import type { ImageService } from "../../src/image/service.ts";
import { openImageService } from "../../src/image/setup.ts";
import { MediaType } from "../../src/spec/oci-image.ts";
import { layerKey } from "../../src/storage/layer-store.ts";
import { imageOfLayers, listTree, sha256, spawnChildPull, startFakeRegistry, type FakeRegistry } from "../helpers/images.ts";
import { tempDirs } from "../helpers/temp.ts";
import { buildTar, type TarEntry } from "../helpers/tar-writer.ts";

const skip = process.getuid?.() === 0 ? false : "needs root (overlay, chown, whiteout devices)";

const tempDir = tempDirs();
const newDataRoot = (): string => tempDir("hako-robust-");

/** Nothing of a failed pull stays: no image, no layer, no snapshot, no partial ingest; and no blob unless `blobs` allows it. */
function assertNothingStored(service: ImageService, opts: { blobs?: boolean } = {}): void {
  assert.deepEqual(service.images.list(), [], "no image record");
  assert.deepEqual(service.layers.list(), [], "no layer record");
  assert.deepEqual(service.layers.snapshotter.list(), [], "no snapshot (no tmp- leftovers)");
  assert.deepEqual(listTree(path.join(service.content.root, "ingest")), [], "no partial ingest");
  if (!opts.blobs) assert.deepEqual(service.content.list(), [], "no blob");
}

const small = (entries: TarEntry[] = [{ name: "etc/", type: "dir" }, { name: "etc/motd", data: "hello\n" }]): Buffer => buildTar(entries);

describe("pull robustness", { skip }, () => {
  let registry: FakeRegistry;
  before(async () => {
    registry = await startFakeRegistry();
  });
  after(async () => {
    await registry?.stop();
  });

  test("a layer whose bytes do not match its digest: the pull fails, nothing is stored", async () => {
    const image = imageOfLayers([small()]);
    registry.addImage("bad/tampered", "v1", image);
    registry.blobs.set(image.layers[0]!.digest, { data: image.layers[0]!.bytes, tamper: true });
    const service = await openImageService(newDataRoot());
    await assert.rejects(pull(service, `${registry.host}/bad/tampered:v1`, {}), (err: Error) => {
      assert.match(err.message, /digest mismatch|digest/i);
      assert.ok(err.message.includes(image.layers[0]!.digest), err.message);
      return true;
    });
    assertNothingStored(service);
  });

  test("a transfer cut short (the connection drops mid-layer): retried, then fails; nothing is stored", async () => {
    const tar = small([{ name: "big", data: randomBytes(600_000) }]);
    const image = imageOfLayers([tar], { gzip: false });
    registry.addImage("bad/truncated", "v1", image);
    registry.blobs.set(image.layers[0]!.digest, { data: image.layers[0]!.bytes, truncateAfter: 200_000 });
    const service = await openImageService(newDataRoot());
    const messages: string[] = [];
    await assert.rejects(pull(service, `${registry.host}/bad/truncated:v1`, { progress: (m) => messages.push(m.status ?? "") }));
    assert.ok(messages.some((s) => s.startsWith("Retrying in")), messages.join("|"));
    assertNothingStored(service);
    // The registry recovers: the same pull completes.
    registry.blobs.set(image.layers[0]!.digest, { data: image.layers[0]!.bytes });
    const record = await pull(service, `${registry.host}/bad/truncated:v1`, {});
    assert.equal(record.id, image.configDigest);
  });

  test("a layer that is a valid blob but a truncated archive: the pull fails, no image, no layer, no stray snapshot", async () => {
    const full = small([{ name: "a", data: randomBytes(10_000) }, { name: "b", data: "b" }]);
    for (const [repo, gzip] of [["bad/shorttar", false], ["bad/shortgz", true]] as const) {
      const cut = full.subarray(0, 512 + 4096); // in the middle of a's data
      const image = imageOfLayers([cut], { gzip, diffIds: [sha256(full)] });
      if (gzip) {
        // A gzip stream that ends early.
        const gz = image.layers[0]!.bytes.subarray(0, image.layers[0]!.bytes.length - 20);
        const manifest = JSON.parse(image.manifest.toString()) as { layers: { digest: string; size: number }[] };
        manifest.layers[0] = { ...manifest.layers[0]!, digest: sha256(gz), size: gz.length };
        const body = Buffer.from(JSON.stringify(manifest));
        registry.manifests.set(`${repo}:v1`, { body, mediaType: MediaType.DockerManifest });
        registry.blobs.set(image.configDigest, { data: image.config });
        registry.blobs.set(sha256(gz), { data: gz });
      } else registry.addImage(repo, "v1", image);
      const service = await openImageService(newDataRoot());
      await assert.rejects(pull(service, `${registry.host}/${repo}:v1`, {}), (err: Error & { code?: string }) => {
        assert.match(err.message, gzip ? /unexpected end of file/ : /unexpected end of archive/, err.message);
        return true;
      });
      // The verified blobs stay in the content store (as containerd keeps content) until GC.
      assertNothingStored(service, { blobs: true });
      await service.collectGarbage();
      assert.deepEqual(service.content.list(), []);
    }
  });

  test("a config whose diff IDs lie, and a manifest and config that disagree: clear errors, nothing registered", async () => {
    const tar = small([{ name: "lies", data: "the config names another diff ID" }]);
    const lying = imageOfLayers([tar], { diffIds: [sha256("another layer")] });
    registry.addImage("bad/diffid", "v1", lying);
    const service = await openImageService(newDataRoot());
    await assert.rejects(pull(service, `${registry.host}/bad/diffid:v1`, {}), /diff ID mismatch/);
    assert.deepEqual(service.images.list(), []);
    assert.deepEqual(service.layers.list(), []);
    assert.deepEqual(service.layers.snapshotter.list(), []);

    const counted = imageOfLayers([tar], { diffIds: [sha256(tar), sha256(tar)] });
    registry.addImage("bad/count", "v1", counted);
    await assert.rejects(pull(service, `${registry.host}/bad/count:v1`, {}), /image config lists 2 layers but the manifest 1/);
    assert.deepEqual(service.images.list(), []);
  });

  test("a manifest that is not JSON: a clear error, nothing stored", async () => {
    registry.manifests.set("bad/notjson:v1", { body: Buffer.from("<html>this is not a manifest</html>"), mediaType: MediaType.DockerManifest });
    const service = await openImageService(newDataRoot());
    await assert.rejects(pull(service, `${registry.host}/bad/notjson:v1`, {}), (err: Error & { code?: string }) => {
      assert.equal(err.code, "ERR_INVALID_ARGUMENT");
      assert.match(err.message, /invalid image manifest/);
      return true;
    });
    registry.manifests.set("bad/nolayers:v1", { body: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DockerManifest })), mediaType: MediaType.DockerManifest });
    await assert.rejects(pull(service, `${registry.host}/bad/nolayers:v1`, {}), { code: "ERR_INVALID_ARGUMENT" });
    assertNothingStored(service);
  });

  test("a layer with path traversal: an error, nothing written outside, no layer", async () => {
    const outside = tempDir("hako-outside-");
    fs.writeFileSync(path.join(outside, "target"), "original");
    const depth = "../".repeat(12);
    const hostile = buildTar([
      { name: "ok", data: "fine" },
      { name: "evil", type: "symlink", linkname: outside },
      { name: "evil/through-symlink", data: "must land inside the layer" },
      { name: `${depth}${outside.slice(1)}/pwned`, data: "escaped" },
    ]);
    const image = imageOfLayers([hostile]);
    registry.addImage("bad/traversal", "v1", image);
    const service = await openImageService(newDataRoot());
    await assert.rejects(pull(service, `${registry.host}/bad/traversal:v1`, {}), (err: Error & { code?: string }) => {
      assert.equal(err.code, "ERR_INVALID_ARGUMENT");
      assert.match(err.message, /escapes the layer root/);
      return true;
    });
    assert.deepEqual(fs.readdirSync(outside), ["target"]);
    assert.equal(fs.readFileSync(path.join(outside, "target"), "utf8"), "original");
    assertNothingStored(service, { blobs: true });

    // The same archive straight into the layer store, and through import (escaping first, then 8 MB:
    // the import's blob ingest must stop with the failed extraction, not wait for it forever).
    await assert.rejects(service.layers.register(Readable.from([hostile]), undefined), /escapes the layer root/);
    const service2 = await openImageService(newDataRoot());
    const long = buildTar([{ name: `${depth}${outside.slice(1)}/pwned`, data: "escaped" }, { name: "big", data: randomBytes(8 * 1024 * 1024) }]);
    const chunks: Buffer[] = [];
    for (let off = 0; off < long.length; off += 64 * 1024) chunks.push(long.subarray(off, off + 64 * 1024));
    await assert.rejects(service2.importTar(Readable.from(chunks), { tag: "evil:1" }), /escapes the layer root/);
    assert.deepEqual(fs.readdirSync(outside), ["target"]);
    assert.deepEqual(service.layers.list(), []);
    assert.deepEqual(service.layers.snapshotter.list(), []);
    // The import returns only once its ingest has given up: nothing to wait for.
    assertNothingStored(service2);
  });
});

describe("a pull killed mid-download", { skip }, () => {
  let registry: FakeRegistry;
  const LAYER = 50 * 1024 * 1024;
  let big: ReturnType<typeof imageOfLayers>;
  before(async () => {
    registry = await startFakeRegistry();
    big = imageOfLayers([buildTar([{ name: "data/", type: "dir" }, { name: "data/blob", data: randomBytes(LAYER) }])], { gzip: false });
    registry.addImage("slow/big", "v1", big);
  });
  after(async () => {
    await registry?.stop();
  });

  test("SIGKILL while the 50 MB layer streams in slowly; reopen cleans ingest; the next pull completes", async () => {
    const digest = big.layers[0]!.digest;
    registry.blobs.set(digest, { data: big.layers[0]!.bytes, bytesPerSecond: 5 * 1024 * 1024 });
    const dataRoot = newDataRoot();
    const ref = `${registry.host}/slow/big:v1`;
    const child = spawnChildPull(dataRoot, ref);
    const deadline = Date.now() + 60_000;
    while ((registry.sent.get(digest) ?? 0) < 8 * 1024 * 1024 || !child.messages.some((m) => m.status === "Downloading")) {
      if (child.child.exitCode !== null || Date.now() > deadline) {
        const r = await child.result;
        assert.fail(`the child pull ended before it could be killed: ${JSON.stringify(r)}`);
      }
      await delay(50);
    }
    child.child.kill("SIGKILL");
    const r = await child.result;
    assert.equal(r.signal, "SIGKILL");
    assert.ok((registry.sent.get(digest) ?? 0) < LAYER, "killed before the layer was all sent");

    // What the kill left: a partial ingest, never a blob.
    const ingest = path.join(dataRoot, "content", "ingest");
    assert.equal(fs.readdirSync(ingest).length, 1, "the partial download is in ingest/");
    assert.ok(!fs.existsSync(path.join(dataRoot, "content", "blobs", "sha256", digest.slice(7))), "no partial blob");

    // Reopen: ingest is cleaned; the registry is fast again; the pull completes.
    registry.blobs.set(digest, { data: big.layers[0]!.bytes });
    const service = await openImageService(dataRoot);
    assert.deepEqual(listTree(ingest), [], "openImageService cleans ingest");
    const record = await pull(service, ref, {});
    assert.equal(record.id, big.configDigest);
    const top = chainIds([big.layers[0]!.diffId])[0]!;
    assert.ok(service.layers.has(top));
    const file = path.join(service.layers.snapshotter.diffDir(layerKey(top)), "data/blob");
    assert.equal(fs.statSync(file).size, LAYER);
    assert.equal(sha256(fs.readFileSync(file)), sha256(big.layers[0]!.bytes.subarray(1024, 1024 + LAYER)));
    assert.equal(service.content.info(digest)?.size, big.layers[0]!.size);
    assert.deepEqual(listTree(ingest), []);
    assert.deepEqual(service.layers.snapshotter.list().filter((s) => s.key.startsWith("tmp-")), []);
    assert.deepEqual(service.inspect(ref).RepoDigests, [`${registry.host}/slow/big@${big.manifestDigest}`]);
  });

  test("SIGKILL during extraction: the reopened root has no tmp- snapshot and the pull completes", async () => {
    const digest = big.layers[0]!.digest;
    registry.blobs.set(digest, { data: big.layers[0]!.bytes });
    const dataRoot = newDataRoot();
    const ref = `${registry.host}/slow/big:v1`;
    const child = spawnChildPull(dataRoot, ref);
    const deadline = Date.now() + 60_000;
    while (!child.messages.some((m) => m.status === "Extracting")) {
      if (child.child.exitCode !== null || Date.now() > deadline) break;
      await delay(5);
    }
    child.child.kill("SIGKILL");
    await child.result;
    const service = await openImageService(dataRoot);
    assert.deepEqual(listTree(path.join(dataRoot, "content", "ingest")), []);
    assert.deepEqual(service.layers.snapshotter.list().filter((s) => s.key.startsWith("tmp-")), [], "cleanTemporary removed the half-applied layer");
    const record = await pull(service, ref, {});
    assert.equal(record.id, big.configDigest);
    assert.equal(service.layers.snapshotter.list().length, 1);
  });
});
