/**
 * The layer store and the image service on a temp data root opened with
 * openImageService, end to end: layers registered by chain ID (checked
 * against their diff IDs, shared between images, extracted once), garbage
 * collection that spares what is in use, a container's init + rw layers run
 * as a REAL container through the runtime (rootfsMount), import with
 * changes, a reproducible busybox image, and pull/push through
 * distribution.ts against Debian's docker-registry on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { createBusyboxImage, HOST_BUSYBOX } from "../../src/image/busybox.ts";
import { pull, push } from "../../src/image/distribution.ts";
import { chainIds } from "../../src/image/ids.ts";
import type { ImageService } from "../../src/image/service.ts";
import { openImageService } from "../../src/image/setup.ts";
import { layerKey } from "../../src/storage/layer-store.ts";
import type { JSONMessage } from "../../src/spec/docker-api.ts";
import { bundleForSuite, hostMountsMentioning, isRoot, uniqueId } from "../helpers/bundle.ts";
import { imageOfLayers, listTree, pushImageBlobs, readLayerTar, sha256 } from "../helpers/images.ts";
import { registrySkipReason, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { buildTar, type TarEntry } from "../helpers/tar-writer.ts";
import { tempDirs } from "../helpers/temp.ts";

const skip = isRoot ? false : "needs root (overlay, chown, whiteout devices, containers)";
const noBusybox = fs.existsSync(HOST_BUSYBOX) ? false : `${HOST_BUSYBOX} missing (apt-get install busybox-static)`;

const tempDir = tempDirs();
const newDataRoot = (): string => tempDir("hako-data-");

const tarOf = (entries: TarEntry[]): Buffer => buildTar(entries);
const streamOf = (b: Buffer): Readable => Readable.from([b]);

/** Snapshots that are neither a layer nor a container's: what a failed registration would leave. */
function strays(service: ImageService): string[] {
  const layerKeys = new Set(service.layers.list().map((l) => layerKey(l.chainId)));
  return service.layers.snapshotter
    .list()
    .map((s) => s.key)
    .filter((k) => !layerKeys.has(k));
}

describe("layer store", { skip }, () => {
  let service: ImageService;
  before(async () => {
    service = await openImageService(newDataRoot());
  });

  test("register checks the expected diff ID; a mismatch is an error and leaves no snapshot and no record", async () => {
    const { layers } = service;
    const base = tarOf([{ name: "etc/", type: "dir" }, { name: "etc/os-release", data: "ID=test\n" }]);
    const rec = await layers.register(streamOf(base), undefined, sha256(base));
    // The tar's bytes (what save and push send), and Docker's size: the files' ("ID=test\n").
    assert.deepEqual(rec, { chainId: sha256(base), diffId: sha256(base), parent: undefined, size: base.length, contentSize: 8 });
    assert.equal(layers.contentSize(rec.chainId), 8);
    assert.ok(layers.has(rec.chainId));
    assert.equal(layers.snapshotter.stat(layerKey(rec.chainId)).kind, "committed");

    const child = tarOf([{ name: "app", data: "app\n" }]);
    const wrong = sha256("not this layer");
    const before = { records: layers.list().length, snapshots: layers.snapshotter.list().map((s) => s.key).sort() };
    await assert.rejects(layers.register(streamOf(child), rec.chainId, wrong), (err: Error & { code?: string }) => {
      assert.equal(err.code, "ERR_INVALID_ARGUMENT");
      assert.match(err.message, /diff ID mismatch: expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}/);
      return true;
    });
    await assert.rejects(layers.register(streamOf(child), undefined, wrong), /diff ID mismatch/);
    assert.equal(layers.list().length, before.records, "no record");
    assert.deepEqual(layers.snapshotter.list().map((s) => s.key).sort(), before.snapshots, "no snapshot");
    assert.deepEqual(strays(service), []);
    assert.ok(!layers.has(chainIds([rec.chainId, wrong]).at(-1)!));

    // A parent that is not there, and a stream that fails half way.
    await assert.rejects(layers.register(streamOf(child), sha256("no such parent")), { code: "ERR_NOT_FOUND" });
    const failing = new Readable({
      read() {
        this.push(child.subarray(0, 512));
        this.destroy(new Error("network went away"));
      },
    });
    await assert.rejects(layers.register(failing, rec.chainId), /network went away/);
    assert.deepEqual(strays(service), []);

    // With the right diff ID it goes on top, under its chain ID.
    const top = await layers.register(streamOf(child), rec.chainId, sha256(child));
    assert.equal(top.chainId, chainIds([sha256(base), sha256(child)])[1]);
    assert.equal(top.parent, rec.chainId);
    assert.equal(layers.snapshotter.stat(layerKey(top.chainId)).parent, layerKey(rec.chainId));
  });

  test("a chain ID shared by two images is extracted once", async () => {
    const { layers } = service;
    const shared = tarOf([{ name: "shared/", type: "dir" }, { name: "shared/lib", data: "lib".repeat(1000) }]);
    const a = tarOf([{ name: "a", data: "a" }]);
    const b = tarOf([{ name: "b", data: "b" }]);
    const imgA = [shared, a].map(sha256);
    const imgB = [shared, b].map(sha256);
    const chainsA = chainIds(imgA);
    const chainsB = chainIds(imgB);
    assert.equal(chainsA[0], chainsB[0]);
    assert.notEqual(chainsA[1], chainsB[1]);

    await layers.register(streamOf(shared), undefined, imgA[0]);
    const sharedDir = layers.snapshotter.diffDir(layerKey(chainsA[0]!));
    const inode = fs.statSync(path.join(sharedDir, "shared/lib")).ino;
    await layers.register(streamOf(a), chainsA[0], imgA[1]);
    // Image B's first layer: known by chain ID, so its tar is never read (garbage here would fail an extraction).
    let read = false;
    const garbage = new Readable({
      read() {
        read = true;
        this.push(Buffer.alloc(4096, 0x41));
        this.push(null);
      },
    });
    const again = await layers.register(garbage, undefined, imgB[0]);
    assert.equal(again.chainId, chainsA[0]);
    assert.ok(!read || garbage.readableEnded, "drained, not extracted");
    await layers.register(streamOf(b), chainsB[0], imgB[1]);
    assert.equal(fs.statSync(path.join(sharedDir, "shared/lib")).ino, inode, "the shared layer's files are the same ones");
    const children = layers.snapshotter.list().filter((s) => s.parent === layerKey(chainsA[0]!));
    assert.deepEqual(children.map((c) => c.key).sort(), [layerKey(chainsA[1]!), layerKey(chainsB[1]!)].sort());
    assert.equal(layers.list().filter((l) => l.chainId === chainsA[0]).length, 1);
  });
});

describe("image service: garbage collection", { skip }, () => {
  let service: ImageService;
  before(async () => {
    service = await openImageService(newDataRoot());
  });

  async function makeImage(tag: string, tars: Buffer[]): Promise<string> {
    let parent: string | undefined;
    const layers = [];
    for (const t of tars) {
      const l = await service.addLayer(streamOf(t), parent);
      layers.push(l);
      parent = l.chainId;
    }
    const created = "2024-01-01T00:00:00Z";
    const record = await service.commitImage(
      {
        architecture: "amd64",
        os: "linux",
        created,
        config: { Cmd: [tag] },
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
        history: layers.map(() => ({ created, created_by: tag })),
      },
      layers,
      { tag, source: "import" },
    );
    return record.id;
  }

  test("prune and collectGarbage remove unreferenced layers and blobs, never ones in use", async () => {
    const base = tarOf([{ name: "base", data: "base" }]);
    const idA = await makeImage("gc-a:1", [base, tarOf([{ name: "a", data: "a" }])]);
    const idB = await makeImage("gc-b:1", [base, tarOf([{ name: "b", data: "b" }])]);
    const recA = service.images.get(idA)!;
    const recB = service.images.get(idB)!;
    const topA = service.topChainId(recA)!;
    const topB = service.topChainId(recB)!;
    assert.equal(service.layers.list().length, 3, "base once, a, b");
    const blobsOf = (r: typeof recA): string[] => [r.id, ...r.layers.map((l) => l.blob!.digest)];
    for (const d of [...blobsOf(recA), ...blobsOf(recB)]) assert.ok(service.content.has(d), d);

    // Nothing is unreferenced yet: GC is a no-op.
    await service.collectGarbage();
    assert.equal(service.layers.list().length, 3);

    // A container on image A (its init and rw layers stand on A's top layer).
    const ctr = randomBytes(32).toString("hex"); // a container ID
    await service.layers.createContainerLayer(ctr, topA, { "etc/hostname": `${ctr}\n` });
    service.containerUsage = (id) => (id === idA ? [{ id: ctr, running: false }] : []);

    // rmi gc-b:1: B's own layer, its config and its layer blob go; the shared base stays.
    const out = await service.remove("gc-b:1");
    // The image, then its layer by chain ID, as moby lists them.
    assert.deepEqual(out, [{ Untagged: "gc-b:1" }, { Deleted: idB }, { Deleted: topB }]);
    assert.ok(!service.layers.has(topB));
    assert.ok(service.layers.has(chainIds([recA.layers[0]!.diffId])[0]!));
    assert.ok(!service.content.has(idB), "B's config blob");
    assert.ok(!service.content.has(recB.layers[1]!.blob!.digest), "B's own layer blob");
    for (const d of blobsOf(recA)) assert.ok(service.content.has(d), `A's blob ${d} stays`);

    // The container's image cannot go without force; with force it stays, unnamed, for the container.
    await assert.rejects(service.remove("gc-a:1"), { code: "ERR_CONFLICT" });
    await service.remove("gc-a:1", { force: true });
    assert.ok(service.images.get(idA), "kept for its container");
    await service.prune({ all: true });
    assert.ok(service.images.get(idA), "prune -a keeps an image a container uses");
    assert.ok(service.layers.has(topA));

    // Even with the image record gone, the layers under a container are in use.
    service.images.delete(idA);
    await service.collectGarbage();
    assert.ok(service.layers.has(topA), "a container's image layers are never collected");
    assert.ok(service.layers.snapshotter.exists(ctr));
    await service.collectGarbage([topA]);
    assert.ok(service.layers.has(topA));

    // Container gone: everything goes.
    await service.layers.removeContainerLayer(ctr);
    service.containerUsage = () => [];
    await service.collectGarbage();
    assert.deepEqual(service.layers.list(), []);
    assert.deepEqual(service.layers.snapshotter.list(), []);
    assert.deepEqual(service.content.list(), []);
    assert.deepEqual(listTree(path.join(service.content.root, "ingest")), []);
  });
});

describe("image service: a container's layers run a real container", { skip: skip || noBusybox }, () => {
  const bundle = bundleForSuite();
  let service: ImageService;
  let dataRoot: string;
  before(async () => {
    dataRoot = newDataRoot();
    // A container's root must be reachable like Docker's /var/lib/docker (the runtime is root here).
    service = await openImageService(dataRoot);
  });

  test("init layer (/etc/hosts, hostname, resolv.conf) + rw layer; the container's writes land in its diff", async () => {
    const image = await createBusyboxImage(service);
    const top = service.topChainId(image)!;
    const id = uniqueId("layers");
    const mounts = await service.layers.createContainerLayer(id, top, {
      "etc/hosts": "127.0.0.1\tlocalhost\n",
      "etc/hostname": "from-init-layer\n",
      "etc/resolv.conf": "nameserver 127.0.0.53\n",
    });
    assert.equal(mounts.length, 1);
    const sn = service.layers.snapshotter;
    assert.equal(sn.stat(`${id}-init`).kind, "committed");
    assert.equal(sn.stat(`${id}-init`).parent, layerKey(top));
    assert.deepEqual(sn.stat(id), { key: id, parent: `${id}-init`, kind: "active" });
    const init = await readLayerTar(sn.diff(`${id}-init`));
    assert.deepEqual(
      init.filter((e) => e.type === "file").map((e) => e.name).sort(),
      ["etc/hostname", "etc/hosts", "etc/resolv.conf"],
    );

    const merged = sn.graphDriverData(id).MergedDir ?? sn.diffDir(id);
    const r = bundle.runWithRootfsMount(["sh", "-c", "cat /etc/hostname; cat /etc/resolv.conf; echo x > /new; rm /etc/passwd"], mounts[0]!, merged, id);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["from-init-layer", "nameserver 127.0.0.53"]);
    assert.deepEqual(hostMountsMentioning(dataRoot), [], "the overlay was mounted in the container's namespace only");

    const diff = await readLayerTar(sn.diff(id));
    const byName = new Map(diff.map((e) => [e.name.replace(/\/$/, ""), e]));
    assert.equal(byName.get("new")?.data.toString(), "x\n");
    assert.ok(byName.has("etc/.wh.passwd"), `the deletion is a whiteout: ${[...byName.keys()].join(",")}`);
    assert.ok(!byName.has("etc/hostname"), "init files are not the container's changes");
    assert.ok(fs.existsSync(path.join(sn.diffDir(layerKey(top)), "etc/passwd")), "the image layer is untouched");

    await service.layers.removeContainerLayer(id);
    assert.ok(!sn.exists(id) && !sn.exists(`${id}-init`));
    assert.ok(service.layers.has(top));
  });
});

describe("image service: import and the busybox image", { skip: skip || noBusybox }, () => {
  test("import -c CMD/ENV/WORKDIR/EXPOSE shows in inspect", async () => {
    const service = await openImageService(newDataRoot());
    const tar = tarOf([{ name: "bin/", type: "dir" }, { name: "bin/hello", data: "#!/bin/sh\necho hi\n", mode: 0o755 }]);
    const record = await service.importTar(streamOf(tar), {
      tag: "imported:1",
      changes: ['CMD ["/bin/hello", "--loud"]', "ENV A=1 B=two", "ENV C three", "WORKDIR /srv/app", "EXPOSE 8080 53/udp"],
      message: "from a test",
    });
    const inspect = service.inspect("imported:1");
    assert.equal(inspect.Id, record.id);
    assert.deepEqual(inspect.RepoTags, ["imported:1"]);
    assert.deepEqual(inspect.Config?.Cmd, ["/bin/hello", "--loud"]);
    assert.deepEqual(inspect.Config?.Env, ["A=1", "B=two", "C=three"]);
    assert.equal(inspect.Config?.WorkingDir, "/srv/app");
    assert.deepEqual(inspect.Config?.ExposedPorts, { "8080/tcp": {}, "53/udp": {} });
    assert.equal(inspect.Comment, "from a test");
    assert.deepEqual(inspect.RootFS, { Type: "layers", Layers: [sha256(tar)] });
    assert.equal(inspect.Size, "#!/bin/sh\necho hi\n".length, "the files' bytes, not the tar's");
    assert.equal(inspect.Os, "linux");
    assert.equal(inspect.GraphDriver.Name, "overlay2");
    assert.ok(fs.existsSync(inspect.GraphDriver.Data.UpperDir!));
    assert.equal(fs.readFileSync(path.join(inspect.GraphDriver.Data.UpperDir!, "bin/hello"), "utf8"), "#!/bin/sh\necho hi\n");
    assert.equal(service.history("imported:1")[0]!.Comment, "from a test");
    // The image ID is the config blob's digest.
    assert.equal(sha256(service.content.readBytes(record.id)), record.id);
    await assert.rejects(service.importTar(streamOf(tar), { changes: ["RUN rm -rf /"] }), { code: "ERR_INVALID_ARGUMENT" });
  });

  test("the busybox image is reproducible: the same ID in two data roots", async () => {
    const one = await openImageService(newDataRoot());
    const two = await openImageService(newDataRoot());
    const a = await createBusyboxImage(one);
    const b = await createBusyboxImage(two);
    assert.equal(a.id, b.id);
    assert.deepEqual(a.layers.map((l) => l.diffId), b.layers.map((l) => l.diffId));
    assert.equal(a.layers[0]!.blob?.digest, b.layers[0]!.blob?.digest);
    const again = await createBusyboxImage(one, { tag: "busybox:again" });
    assert.equal(again.id, a.id, "and again in the same root");
    assert.deepEqual(one.inspect("busybox:again").RepoTags.sort(), ["busybox:again", "busybox:latest"]);
    assert.deepEqual(one.inspect("busybox").Config?.Cmd, ["sh"]);
    assert.equal(one.layers.list().length, 1, "one layer, registered once");
  });
});

/** The first expected status each message starts with, in order; consecutive repeats folded. */
function statusSequence(messages: JSONMessage[], expected: string[]): string[] {
  const out: string[] = [];
  for (const m of messages) {
    const s = m.status ?? "";
    const hit = expected.find((e) => s.startsWith(e));
    if (hit !== undefined && out.at(-1) !== hit) out.push(hit);
  }
  return out;
}

describe("image service: pull and push against a real registry", { skip: skip || noBusybox || (registrySkipReason() ?? false) }, () => {
  let registry: TestRegistry | undefined;
  let service: ImageService;
  before(async () => {
    registry = await startRegistry();
    service = await openImageService(newDataRoot());
  });
  after(async () => {
    await registry?.stop();
  });

  test("push busybox, remove it, pull it back: same image ID, RepoDigests, Docker's progress order; pull again: up to date", async () => {
    const host = registry!.host;
    const name = `${host}/x/busybox:1`;
    const local = await createBusyboxImage(service);
    service.tag("busybox:latest", name);

    const pushed: JSONMessage[] = [];
    const results = await push(service, name, { progress: (m) => pushed.push(m) });
    assert.equal(results.length, 1);
    const digest = results[0]!.digest;
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(pushed[0]!.status, `The push refers to repository [${host}/x/busybox]`);
    assert.deepEqual(
      statusSequence(pushed, ["The push refers to", "Preparing", "Pushing", "Pushed", "1: digest:"]),
      ["The push refers to", "Preparing", "Pushing", "Pushed", "1: digest:"],
    );
    assert.ok(pushed.some((m) => m.status === `1: digest: ${digest} size: ${results[0]!.size}`));

    // Gone locally: image, layers, blobs.
    await service.remove("busybox:latest");
    const removed = await service.remove(name);
    assert.ok(removed.some((r) => r.Deleted === local.id), JSON.stringify(removed));
    assert.deepEqual(service.images.list(), []);
    assert.deepEqual(service.layers.list(), []);
    assert.deepEqual(service.content.list(), []);

    const messages: JSONMessage[] = [];
    const record = await pull(service, name, { progress: (m) => messages.push(m) });
    assert.equal(record.id, local.id, "the same config bytes: the same image ID");
    const order = [
      "Pulling from",
      "Pulling fs layer",
      "Downloading",
      "Verifying Checksum",
      "Download complete",
      "Extracting",
      "Pull complete",
      "Digest:",
      "Status: Downloaded newer image for",
    ];
    assert.deepEqual(statusSequence(messages, order), order, messages.map((m) => `${m.id ?? ""} ${m.status}`).join("\n"));
    assert.deepEqual(messages[0], { status: "Pulling from x/busybox", id: "1" });
    assert.equal(messages.at(-2)!.status, `Digest: ${digest}`);
    assert.equal(messages.at(-1)!.status, `Status: Downloaded newer image for ${name}`);
    const inspect = service.inspect(name);
    assert.deepEqual(inspect.RepoTags, [name]);
    assert.deepEqual(inspect.RepoDigests, [`${host}/x/busybox@${digest}`]);
    assert.deepEqual(inspect.RootFS.Layers, local.layers.map((l) => l.diffId));
    assert.ok(service.layers.has(service.topChainId(record)!));

    // Again: nothing to fetch, Docker's two lines.
    const second: JSONMessage[] = [];
    const again = await pull(service, name, { progress: (m) => second.push(m) });
    assert.equal(again.id, local.id);
    assert.deepEqual(
      second.map((m) => m.status),
      ["Pulling from x/busybox", `Digest: ${digest}`, `Status: Image is up to date for ${name}`],
    );
  });

  test("pushing layers the registry has: Layer already exists", async () => {
    const name = `${registry!.host}/x/busybox:1`;
    const messages: JSONMessage[] = [];
    const [first] = await push(service, name, { progress: (m) => messages.push(m) });
    const layerIds = new Set(service.resolve(name).layers.map((l) => l.blob!.digest.slice(7, 19)));
    const exists = messages.filter((m) => m.status === "Layer already exists").map((m) => m.id);
    assert.deepEqual(new Set(exists), layerIds);
    assert.ok(!messages.some((m) => m.status === "Pushing" || m.status === "Pushed"));
    // Another tag in the same repository: the same manifest.
    service.tag(name, `${registry!.host}/x/busybox:2`);
    const [second] = await push(service, `${registry!.host}/x/busybox:2`, { progress: () => {} });
    assert.equal(second!.digest, first!.digest);
  });

  test("two images with a common base layer: the second pull says Already exists and extracts only its own layer", async () => {
    const host = registry!.host;
    const base = tarOf([{ name: "usr/", type: "dir" }, { name: "usr/lib/", type: "dir" }, { name: "usr/lib/base.so", data: "B".repeat(200_000) }]);
    const one = imageOfLayers([base, tarOf([{ name: "one", data: "1" }])], { cmd: ["one"] });
    const two = imageOfLayers([base, tarOf([{ name: "two", data: "2" }])], { cmd: ["two"] });
    await pushImageBlobs(host, "shared/one", "v1", one);
    await pushImageBlobs(host, "shared/two", "v1", two);

    await pull(service, `${host}/shared/one:v1`, {});
    const baseKey = layerKey(one.layers[0]!.diffId);
    const inode = fs.statSync(path.join(service.layers.snapshotter.diffDir(baseKey), "usr/lib/base.so")).ino;
    const messages: JSONMessage[] = [];
    const rec = await pull(service, `${host}/shared/two:v1`, { progress: (m) => messages.push(m) });
    const short = (d: string): string => d.slice(7, 19);
    assert.ok(messages.some((m) => m.id === short(two.layers[0]!.digest) && m.status === "Already exists"));
    assert.deepEqual(
      [...new Set(messages.filter((m) => m.status === "Extracting" || m.status === "Pull complete").map((m) => m.id))],
      [short(two.layers[1]!.digest)],
    );
    assert.equal(rec.id, two.configDigest);
    assert.equal(fs.statSync(path.join(service.layers.snapshotter.diffDir(baseKey), "usr/lib/base.so")).ino, inode, "extracted once");
    const [c1, c2] = [one, two].map((img) => chainIds(img.layers.map((l) => l.diffId)));
    assert.equal(c1![0], c2![0]);
    for (const c of [...c1!, ...c2!]) assert.ok(service.layers.has(c), c);
  });
});
