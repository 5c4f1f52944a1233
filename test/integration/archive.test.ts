/**
 * docker save / docker load (src/image/archive/) on real image services in
 * temp data roots: the seed's "myring" example (busybox, + /password.txt,
 * + its whiteout) saved in the classic docker-archive layout and as an OCI
 * layout, unpacked with tar(1) and checked file by file, loaded into fresh
 * data roots (same IDs, same tags), exchanged with skopeo both ways, and
 * fed broken and hostile archives that must store nothing.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createReadStream, createWriteStream, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { HakoError, InvalidArgumentError } from "../../src/common/errors.ts";
import { loadImages, saveImages, v1Ids, type ArchiveFormat } from "../../src/image/archive/index.ts";
import { HOST_BUSYBOX, createBusyboxImage } from "../../src/image/busybox.ts";
import { chainIds } from "../../src/image/ids.ts";
import type { ImageRecord } from "../../src/image/image-store.ts";
import type { ImageService } from "../../src/image/service.ts";
import type { JSONMessage } from "../../src/spec/docker-api.ts";
import type { DockerArchiveManifestEntry, ImageConfig, Index } from "../../src/spec/oci-image.ts";
import { openTempImageService, sha256, type TempImageService } from "../helpers/images.ts";
import { buildTar } from "../helpers/tar-writer.ts";

const isRoot = process.getuid?.() === 0;
function skipReason(): string | false {
  if (!isRoot) return "needs root (the layer store extracts layers with ownership, devices and overlay whiteouts)";
  if (!existsSync(HOST_BUSYBOX)) return `${HOST_BUSYBOX} is missing (apt-get install busybox-static)`;
  return false;
}
const skip = skipReason();

function skopeoSkipReason(): string | false {
  if (skip) return skip;
  const have = (): boolean => spawnSync("skopeo", ["--version"], { stdio: "ignore" }).status === 0;
  if (!have() && process.env.HAKO_TEST_NO_APT !== "1") {
    spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "skopeo"], { stdio: "ignore", timeout: 600_000 });
  }
  return have() ? false : "skopeo is not installed and could not be installed (apt-get install skopeo)";
}

const hex = (d: string): string => d.replace(/^sha256:/, "");

const services: TempImageService[] = [];
const tempDirs: string[] = [];
after(() => {
  for (const s of services) s.cleanup();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

async function freshService(): Promise<ImageService> {
  const s = await openTempImageService("hako-archive-");
  services.push(s);
  return s.service;
}

function tmp(prefix = "hako-archive-work-"): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

async function save(service: ImageService, names: string[], file: string, format?: ArchiveFormat): Promise<string> {
  await saveImages(service, names, createWriteStream(file), format ? { format } : {});
  return file;
}

async function load(service: ImageService, file: string | Buffer): Promise<{ loaded: string[]; progress: JSONMessage[] }> {
  const progress: JSONMessage[] = [];
  const input = Buffer.isBuffer(file) ? Readable.from([file]) : createReadStream(file);
  const r = await loadImages(service, input, { progress: (m) => progress.push(m) });
  return { loaded: r.loaded, progress };
}

function untar(file: string): string {
  const dir = tmp("hako-archive-x-");
  execFileSync("tar", ["-xf", file, "-C", dir]);
  return dir;
}

function tarList(file: string): string[] {
  return execFileSync("tar", ["-tf", file], { encoding: "utf8" }).split("\n").filter(Boolean);
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** What a data root holds, for "nothing changed" checks. */
function snapshot(service: ImageService): { images: string[]; tags: Record<string, string> } {
  return { images: service.images.list().map((r) => r.id).sort(), tags: service.images.references().tags };
}

function spoolLeftovers(service: ImageService): string[] {
  const dir = path.join(path.dirname(service.content.root), "tmp");
  return existsSync(dir) ? readdirSync(dir) : [];
}

async function rejects(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(HakoError.is(err) && err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(err)}`);
    assert.match((err as Error).message, pattern);
    return true;
  });
}

// ---------------------------------------------------------------- the seed's images

interface SeedImages {
  service: ImageService;
  busybox: ImageRecord;
  /** busybox + /password.txt (gzipped blob) */
  withPassword: ImageRecord;
  /** withPassword + .wh.password.txt (plain blob): myring:latest */
  myring: ImageRecord;
  /** busybox + the same layer twice: a diff ID that appears twice */
  dup: ImageRecord;
  passwordLayer: Buffer;
  whiteoutLayer: Buffer;
}

async function buildSeedImages(): Promise<SeedImages> {
  const service = await freshService();
  const busybox = await createBusyboxImage(service);
  const bbConfig = service.config(busybox);
  const bbLayers = busybox.layers.map((l, i) => ({
    diffId: l.diffId,
    blob: l.blob,
    size: service.layers.contentSize(chainIds(busybox.layers.slice(0, i + 1).map((x) => x.diffId)).at(-1)!),
  }));
  const top = (r: ImageRecord): string => chainIds(r.layers.map((l) => l.diffId)).at(-1)!;
  // An image's Size counts its layers' content, as Docker's does.
  const sized = <T extends { contentSize: number }>(l: T) => ({ ...l, size: l.contentSize });

  const passwordLayer = buildTar([{ name: "password.txt", data: "top.secret\n", mode: 0o644, mtime: 1_620_748_210 }]);
  const whiteoutLayer = buildTar([{ name: ".wh.password.txt", data: "", mode: 0o644, mtime: 1_620_748_211 }]);

  const l2 = await service.addLayer(Readable.from([gzipSync(passwordLayer)]), top(busybox));
  const configA: ImageConfig = {
    ...bbConfig,
    created: "2021-05-11T15:50:10.495312977Z",
    rootfs: { type: "layers", diff_ids: [...bbConfig.rootfs.diff_ids, l2.diffId] },
    history: [...(bbConfig.history ?? []), { created: "2021-05-11T15:50:10.495312977Z", created_by: '/bin/sh -c echo "top.secret" > /password.txt' }],
  };
  const withPassword = await service.commitImage(configA, [...bbLayers, sized(l2)], { tag: "myring:with-password", parent: busybox.id, source: "build" });

  const l3 = await service.addLayer(Readable.from([whiteoutLayer]), l2.chainId);
  const configB: ImageConfig = {
    ...configA,
    created: "2021-05-11T15:50:11.067783811Z",
    rootfs: { type: "layers", diff_ids: [...configA.rootfs.diff_ids, l3.diffId] },
    history: [...configA.history!, { created: "2021-05-11T15:50:11.067783811Z", created_by: "/bin/sh -c rm /password.txt" }],
  };
  const myring = await service.commitImage(configB, [...bbLayers, sized(l2), sized(l3)], { tag: "myring:latest", parent: withPassword.id, source: "build" });

  const note = buildTar([{ name: "note.txt", data: "twice\n", mtime: 1_700_000_000 }]);
  const n1 = await service.addLayer(Readable.from([note]), top(busybox));
  const n2 = await service.addLayer(Readable.from([note]), n1.chainId);
  assert.equal(n1.diffId, n2.diffId);
  const configD: ImageConfig = {
    ...bbConfig,
    created: "2024-01-01T00:00:00Z",
    rootfs: { type: "layers", diff_ids: [...bbConfig.rootfs.diff_ids, n1.diffId, n2.diffId] },
    history: [...(bbConfig.history ?? []), { created_by: "note" }, { created_by: "note again" }],
  };
  const dup = await service.commitImage(configD, [...bbLayers, sized(n1), sized(n2)], { tag: "dup:latest", parent: busybox.id, source: "build" });
  return { service, busybox, withPassword, myring, dup, passwordLayer, whiteoutLayer };
}

describe("image archives (docker save / docker load)", { skip }, () => {
  let seed: SeedImages;
  let work: string;
  before(async () => {
    seed = await buildSeedImages();
    work = tmp();
  });

  it("docker save writes the seed's layout: manifest.json, repositories, <config>.json, <v1id>/{VERSION,json,layer.tar}", async () => {
    const { service, myring } = seed;
    const file = await save(service, ["myring:latest"], path.join(work, "myring.tar"));
    const dir = untar(file);
    const diffIds = myring.layers.map((l) => l.diffId);
    const dirs = v1Ids(diffIds);
    assert.deepEqual(readdirSync(dir).sort(), [...dirs, `${hex(myring.id)}.json`, "manifest.json", "repositories"].sort());

    const manifest = JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8")) as DockerArchiveManifestEntry[];
    assert.deepEqual(manifest, [{ Config: `${hex(myring.id)}.json`, RepoTags: ["myring:latest"], Layers: dirs.map((d) => `${d}/layer.tar`) }]);
    assert.deepEqual(JSON.parse(readFileSync(path.join(dir, "repositories"), "utf8")), { myring: { latest: dirs.at(-1) } });

    // The config verbatim: its sha256 is the image ID.
    const configBytes = readFileSync(path.join(dir, `${hex(myring.id)}.json`));
    assert.equal(sha256(configBytes), myring.id);
    assert.deepEqual(configBytes, service.content.readBytes(myring.id));
    const config = JSON.parse(configBytes.toString()) as ImageConfig;
    assert.deepEqual(
      config.history!.slice(-2).map((h) => h.created_by),
      ['/bin/sh -c echo "top.secret" > /password.txt', "/bin/sh -c rm /password.txt"],
    );

    for (const [i, d] of dirs.entries()) {
      assert.equal(readFileSync(path.join(dir, d, "VERSION"), "utf8"), "1.0");
      const json = JSON.parse(readFileSync(path.join(dir, d, "json"), "utf8")) as { id: string; parent?: string; os: string; config?: unknown };
      assert.equal(json.id, d);
      assert.equal(json.parent, dirs[i - 1]);
      assert.equal(json.os, "linux");
      if (i === dirs.length - 1) assert.deepEqual(json.config, config.config);
      // Uncompressed: the layer.tar's sha256 is the diff ID (layer 2 is stored gzipped).
      assert.equal(sha256(readFileSync(path.join(dir, d, "layer.tar"))), diffIds[i]);
    }
    assert.deepEqual(readFileSync(path.join(dir, dirs[1]!, "layer.tar")), seed.passwordLayer);
    assert.deepEqual(tarList(path.join(dir, dirs[1]!, "layer.tar")), ["password.txt"]);
    // The seed's lesson: the password is still in layer 1; the top layer only hides it.
    assert.deepEqual(tarList(path.join(dir, dirs[2]!, "layer.tar")), [".wh.password.txt"]);
  });

  it("saves by ID without tags, a repository with all its tags, and each shared layer once", async () => {
    const { service, myring, withPassword } = seed;
    const byId = await save(service, [hex(myring.id).slice(0, 12)], path.join(work, "by-id.tar"));
    const d1 = untar(byId);
    const m1 = JSON.parse(readFileSync(path.join(d1, "manifest.json"), "utf8")) as DockerArchiveManifestEntry[];
    assert.equal(m1[0]!.RepoTags, null);
    assert.equal(existsSync(path.join(d1, "repositories")), false);

    const repo = await save(service, ["myring"], path.join(work, "repo.tar"));
    const m2 = JSON.parse(readFileSync(path.join(untar(repo), "manifest.json"), "utf8")) as DockerArchiveManifestEntry[];
    assert.deepEqual(m2.map((e) => e.RepoTags).sort(), [["myring:latest"], ["myring:with-password"]]);
    // withPassword is myring's parent, and both are in the archive.
    assert.equal(m2.find((e) => e.RepoTags?.[0] === "myring:latest")!.Parent, withPassword.id);
    // busybox + password + whiteout: three layer.tar members for two images of 2 and 3 layers.
    assert.equal(tarList(repo).filter((n) => n.endsWith("/layer.tar")).length, 3);
  });

  it("a diff ID seen twice is written once, the second layer.tar a symlink to the first", async () => {
    const { service, dup } = seed;
    const file = await save(service, ["dup"], path.join(work, "dup.tar"));
    const dir = untar(file);
    const dirs = v1Ids(dup.layers.map((l) => l.diffId));
    assert.ok(lstatSync(path.join(dir, dirs[2]!, "layer.tar")).isSymbolicLink());
    assert.equal(readlinkSync(path.join(dir, dirs[2]!, "layer.tar")), `../${dirs[1]}/layer.tar`);
    const other = await freshService();
    const { loaded } = await load(other, file);
    assert.deepEqual(loaded, ["Loaded image: dup:latest"]);
    assert.equal(other.resolve("dup").id, dup.id);
  });

  it("docker-archive round trip: a second data root loads the same image IDs and tags, and saves the same bytes", async () => {
    const { service, busybox, withPassword, myring } = seed;
    const file = await save(service, ["myring:latest", "myring:with-password", "busybox"], path.join(work, "three.tar"));
    const other = await freshService();
    const { loaded, progress } = await load(other, file);
    assert.deepEqual(loaded, ["Loaded image: myring:latest", "Loaded image: myring:with-password", "Loaded image: busybox:latest"]);
    assert.deepEqual(other.images.list().map((r) => r.id).sort(), [busybox.id, withPassword.id, myring.id].sort());
    for (const name of ["myring:latest", "myring:with-password", "busybox:latest"]) assert.equal(other.resolve(name).id, service.resolve(name).id, name);
    assert.deepEqual(other.inspect("myring").RootFS, service.inspect("myring").RootFS);
    assert.equal(other.images.get(myring.id)!.parent, withPassword.id);
    assert.equal(other.images.get(myring.id)!.size, myring.size);
    // docker load's progress: one "Loading layer" series per layer, ending at its total.
    const layerIds = new Set(progress.filter((m) => m.status === "Loading layer").map((m) => m.id));
    assert.equal(layerIds.size, 3);
    for (const id of layerIds) {
      const last = progress.filter((m) => m.id === id).at(-1)!;
      assert.equal(last.progressDetail!.current, last.progressDetail!.total);
    }
    // The layers really are there: the whiteout hides the password in the stacked filesystem.
    const topChain = other.topChainId(other.resolve("myring"))!;
    assert.ok(other.layers.has(topChain));
    // Same bytes saved from the second root: the archive is reproducible.
    const again = await save(other, ["myring:latest", "myring:with-password", "busybox"], path.join(work, "three-again.tar"));
    assert.deepEqual(readFileSync(again), readFileSync(file));
    assert.deepEqual(spoolLeftovers(other), []);
    // Loading again changes nothing and still reports the tags.
    const twice = await load(other, file);
    assert.deepEqual(twice.loaded, loaded);
    assert.equal(twice.progress.filter((m) => m.status === "Loading layer").length, 0);
  });

  it("a gzip-compressed archive loads", async () => {
    const { service, myring } = seed;
    const file = await save(service, ["myring:latest"], path.join(work, "gz.tar"));
    const gz = path.join(work, "gz.tar.gz");
    writeFileSync(gz, gzipSync(readFileSync(file)));
    const other = await freshService();
    assert.deepEqual((await load(other, gz)).loaded, ["Loaded image: myring:latest"]);
    assert.equal(other.resolve("myring").id, myring.id);
  });

  it("a zstd-compressed archive loads", async (t) => {
    if (spawnSync("zstd", ["--version"], { stdio: "ignore" }).status !== 0) {
      t.skip("the zstd command is not installed");
      return;
    }
    const file = await save(seed.service, ["myring:latest"], path.join(work, "zst.tar"));
    run("zstd", ["-q", "-f", file, "-o", `${file}.zst`]);
    const other = await freshService();
    assert.deepEqual((await load(other, `${file}.zst`)).loaded, ["Loaded image: myring:latest"]);
  });

  it("OCI layout round trip: index.json annotations, blobs as stored, same IDs, tags and manifest digest", async () => {
    const { service, myring, withPassword } = seed;
    const file = await save(service, ["myring:latest", "myring:with-password"], path.join(work, "oci.tar"), "oci");
    const dir = untar(file);
    assert.deepEqual(JSON.parse(readFileSync(path.join(dir, "oci-layout"), "utf8")), { imageLayoutVersion: "1.0.0" });
    const index = JSON.parse(readFileSync(path.join(dir, "index.json"), "utf8")) as Index;
    assert.equal(index.schemaVersion, 2);
    assert.deepEqual(
      index.manifests.map((m) => m.annotations),
      [
        { "io.containerd.image.name": "docker.io/library/myring:latest", "org.opencontainers.image.ref.name": "latest" },
        { "io.containerd.image.name": "docker.io/library/myring:with-password", "org.opencontainers.image.ref.name": "with-password" },
      ],
    );
    // Every blob is named by its sha256.
    for (const name of readdirSync(path.join(dir, "blobs/sha256"))) {
      assert.equal(sha256(readFileSync(path.join(dir, "blobs/sha256", name))), `sha256:${name}`);
    }
    const manifest = JSON.parse(readFileSync(path.join(dir, "blobs/sha256", hex(index.manifests[0]!.digest)), "utf8")) as { config: { digest: string }; layers: { digest: string; mediaType: string }[] };
    assert.equal(manifest.config.digest, myring.id);
    // The password layer went in as it is stored: gzipped.
    assert.match(manifest.layers[1]!.mediaType, /gzip/);
    assert.equal(manifest.layers[1]!.digest, service.images.get(myring.id)!.layers[1]!.blob!.digest);

    const other = await freshService();
    const { loaded } = await load(other, file);
    assert.deepEqual(loaded, ["Loaded image: myring:latest", "Loaded image: myring:with-password"]);
    assert.equal(other.resolve("myring:latest").id, myring.id);
    assert.equal(other.resolve("myring:with-password").id, withPassword.id);
    assert.equal(other.images.get(myring.id)!.manifestDigest, index.manifests[0]!.digest);
    assert.equal(other.images.get(myring.id)!.parent, withPassword.id);
    // What it loaded saves again as the same bytes.
    const back = await save(other, ["myring:latest", "myring:with-password"], path.join(work, "oci-again.tar"), "oci");
    assert.deepEqual(readFileSync(back), readFileSync(file));

    // A pure OCI layout (no manifest.json) loads through index.json alone.
    const pure = path.join(work, "pure-oci.tar");
    execFileSync("tar", ["-C", dir, "-cf", pure, "oci-layout", "index.json", "blobs"]);
    const third = await freshService();
    assert.deepEqual((await load(third, pure)).loaded, ["Loaded image: myring:latest", "Loaded image: myring:with-password"]);
    assert.equal(third.resolve("myring").id, myring.id);
    assert.equal(third.images.get(myring.id)!.manifestDigest, index.manifests[0]!.digest);
  });

  it("an OCI index entry that is a nested index picks the linux/amd64 manifest present in the archive", async () => {
    const { service, myring } = seed;
    const dir = untar(await save(service, ["myring:latest"], path.join(work, "nested.tar"), "oci"));
    const index = JSON.parse(readFileSync(path.join(dir, "index.json"), "utf8")) as Index;
    const inner = index.manifests[0]!;
    const arch = { x64: "amd64", arm64: "arm64" }[process.arch as "x64" | "arm64"] ?? "amd64";
    const nested = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          { mediaType: inner.mediaType, digest: sha256("absent"), size: 6, platform: { os: "linux", architecture: "s390x" } },
          { mediaType: inner.mediaType, digest: inner.digest, size: inner.size, platform: { os: "linux", architecture: arch } },
        ],
      }),
    );
    writeFileSync(path.join(dir, "blobs/sha256", hex(sha256(nested))), nested);
    writeFileSync(
      path.join(dir, "index.json"),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.index.v1+json", digest: sha256(nested), size: nested.length, annotations: inner.annotations }] }),
    );
    const file = path.join(work, "nested-index.tar");
    execFileSync("tar", ["-C", dir, "-cf", file, "oci-layout", "index.json", "blobs"]);
    const other = await freshService();
    assert.deepEqual((await load(other, file)).loaded, ["Loaded image: myring:latest"]);
    assert.equal(other.resolve("myring").id, myring.id);
  });

  it("save stops with the output's error when the output fails half way", async () => {
    let written = 0;
    const out = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, cb) {
        written += chunk.length;
        if (written > 256 * 1024) cb(new Error("the client went away"));
        else setImmediate(cb);
      },
    });
    out.on("error", () => {});
    await assert.rejects(saveImages(seed.service, ["myring:latest"], out), /the client went away|closed before the archive was complete/);
    assert.ok(written < 3 * 1024 * 1024, `wrote ${written} bytes after the failure`);
  });

  describe("bad archives store nothing", () => {
    let target: ImageService;
    let good: string;
    before(async () => {
      target = await freshService();
      // Not empty: busybox is already there, so "unchanged" means something.
      await load(target, await save(seed.service, ["busybox"], path.join(work, "bb.tar")));
      good = await save(seed.service, ["myring:latest"], path.join(work, "good.tar"));
    });

    async function expectRejected(input: string | Buffer, pattern: RegExp): Promise<void> {
      const before = snapshot(target);
      await rejects(load(target, input), pattern);
      assert.deepEqual(snapshot(target), before);
      assert.deepEqual(spoolLeftovers(target), []);
    }

    /** The good archive, unpacked, changed by `edit`, packed again (tar(1) writes "./name" members). */
    function edited(name: string, edit: (dir: string, dirs: string[]) => void): string {
      const dir = untar(good);
      edit(dir, v1Ids(seed.myring.layers.map((l) => l.diffId)));
      const file = path.join(work, name);
      execFileSync("tar", ["-C", dir, "-cf", file, "."]);
      return file;
    }

    it("a layer.tar with one byte changed: diff ID mismatch", async () => {
      const file = edited("corrupt.tar", (dir, dirs) => {
        const layer = path.join(dir, dirs[1]!, "layer.tar");
        const bytes = readFileSync(layer);
        bytes[600] = bytes[600]! ^ 0x01; // in password.txt's data
        writeFileSync(layer, bytes);
      });
      await expectRejected(file, /diff ID mismatch for layer .*\/layer\.tar .*the config says sha256:[a-f0-9]{64}, its content is sha256:[a-f0-9]{64}/);
    });

    it("a truncated layer.tar", async () => {
      const file = edited("truncated-layer.tar", (dir, dirs) => truncateSync(path.join(dir, dirs[0]!, "layer.tar"), 100_000));
      await expectRejected(file, /diff ID mismatch .*truncated: 100000 bytes is not a whole number of 512-byte tar blocks/);
    });

    it("a layer listed in manifest.json but missing", async () => {
      const file = edited("missing-layer.tar", (dir, dirs) => rmSync(path.join(dir, dirs[2]!), { recursive: true }));
      await expectRejected(file, /layer [a-f0-9]{64}\/layer\.tar listed in manifest\.json is missing from the archive/);
    });

    it("a config that does not match manifest.json's layers", async () => {
      const file = edited("layer-count.tar", (dir) => {
        const m = JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8")) as DockerArchiveManifestEntry[];
        m[0]!.Layers.pop();
        writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(m));
      });
      await expectRejected(file, /lists 2 layers but its config .* has 3 diff IDs/);
    });

    it("neither manifest.json nor index.json", async () => {
      await expectRejected(buildTar([{ name: "hello.txt", data: "hi" }]), /no manifest\.json \(docker save\) and no index\.json \(OCI image layout\)/);
    });

    it("not a tar at all, or nothing", async () => {
      await expectRejected(Buffer.from("this is not a tar archive, it is a sentence that goes on for a while ".repeat(20)), /not a tar archive/);
      await expectRejected(Buffer.from("tiny"), /not a tar archive/);
      await expectRejected(Buffer.alloc(0), /empty or not a tar archive/);
    });

    it("an archive cut short", async () => {
      const bytes = readFileSync(good);
      await expectRejected(bytes.subarray(0, Math.floor(bytes.length / 2) + 7), /truncated/);
      await expectRejected(gzipSync(bytes).subarray(0, 5000), /truncated|unexpected end/i);
    });

    it("member names with .. or absolute paths", async () => {
      const manifest = JSON.stringify([{ Config: "c.json", RepoTags: null, Layers: [] }]);
      await expectRejected(buildTar([{ name: "../evil", data: "x" }, { name: "manifest.json", data: manifest }]), /member "\.\.\/evil" has an absolute path or a "\.\." component/);
      await expectRejected(buildTar([{ name: "/etc/evil", data: "x" }]), /member "\/etc\/evil" has an absolute path/);
      await expectRejected(buildTar([{ name: "a/../../evil", data: "x" }]), /"\.\." component/);
      // A symlink pointing out of the archive is refused when followed.
      await expectRejected(
        buildTar([
          { name: "manifest.json", data: JSON.stringify([{ Config: "c.json", RepoTags: null, Layers: [] }]) },
          { name: "c.json", type: "symlink", linkname: "../../../etc/passwd" },
        ]),
        /link "c\.json" points outside the archive/,
      );
      assert.equal(existsSync(path.join(os.tmpdir(), "evil")), false);
    });

    it("a layer whose own entries climb out of it fails in the layer store, and stores no image", async () => {
      const layer = buildTar([{ name: "../../../../tmp/hako-archive-escape", data: "out" }]);
      const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha256(layer)] } }));
      const archive = buildTar([
        { name: "l1/layer.tar", data: layer },
        { name: `${hex(sha256(config))}.json`, data: config },
        { name: "manifest.json", data: JSON.stringify([{ Config: `${hex(sha256(config))}.json`, RepoTags: ["escape:latest"], Layers: ["l1/layer.tar"] }]) },
      ]);
      const before = snapshot(target);
      await load(target, archive).then(
        () => assert.fail("the load succeeded"),
        (err: Error) => assert.match(err.message, /escape|outside|invalid archive/i),
      );
      assert.deepEqual(snapshot(target), before);
      assert.equal(existsSync("/tmp/hako-archive-escape"), false);
    });

    it("an OCI blob whose bytes are not its digest", async () => {
      const dir = untar(await save(seed.service, ["myring:latest"], path.join(work, "oci-bad.tar"), "oci"));
      const index = JSON.parse(readFileSync(path.join(dir, "index.json"), "utf8")) as Index;
      const manifest = JSON.parse(readFileSync(path.join(dir, "blobs/sha256", hex(index.manifests[0]!.digest)), "utf8")) as { layers: { digest: string }[] };
      const blob = path.join(dir, "blobs/sha256", hex(manifest.layers[2]!.digest));
      const bytes = readFileSync(blob);
      // Byte 4: a gzip blob's MTIME (it still decompresses), a tar's name field: either way only the digest is wrong.
      bytes[4] = bytes[4]! ^ 0xff;
      writeFileSync(blob, bytes);
      const file = path.join(work, "oci-bad-packed.tar");
      execFileSync("tar", ["-C", dir, "-cf", file, "oci-layout", "index.json", "blobs"]);
      await expectRejected(file, /digest mismatch for layer blobs\/sha256\/[a-f0-9]{64}: expected sha256:/);
    });
  });

  describe("interoperability with skopeo", { skip: skopeoSkipReason() }, () => {
    it("skopeo inspects hako's docker-archive and OCI archives", async () => {
      const { service, myring } = seed;
      const docker = await save(service, ["myring:latest"], path.join(work, "sk-docker.tar"));
      const info = JSON.parse(run("skopeo", ["inspect", `docker-archive:${docker}`])) as { Layers: string[]; Os: string };
      assert.deepEqual(info.Layers, myring.layers.map((l) => l.diffId));
      assert.equal(info.Os, "linux");
      const rawConfig = run("skopeo", ["inspect", "--config", "--raw", `docker-archive:${docker}`]);
      assert.equal(sha256(rawConfig), myring.id);

      const oci = await save(service, ["myring:latest"], path.join(work, "sk-oci.tar"), "oci");
      const ociInfo = JSON.parse(run("skopeo", ["inspect", `oci-archive:${oci}`])) as { Digest: string; Layers: string[] };
      const index = JSON.parse(readFileSync(path.join(untar(oci), "index.json"), "utf8")) as Index;
      assert.equal(ociInfo.Digest, index.manifests[0]!.digest);
      assert.deepEqual(ociInfo.Layers, service.images.get(myring.id)!.layers.map((l) => l.blob!.digest));
      assert.equal(sha256(run("skopeo", ["inspect", "--config", "--raw", `oci-archive:${oci}`])), myring.id);
    });

    it("skopeo copies hako's archives, and hako loads what skopeo writes", async () => {
      const { service, myring } = seed;
      const diffIds = myring.layers.map((l) => l.diffId);
      const docker = await save(service, ["myring:latest"], path.join(work, "sk-src.tar"));

      // docker-archive → docker-archive: skopeo keeps the config, so the image ID is hako's.
      const skDocker = path.join(work, "from-skopeo.tar");
      run("skopeo", ["--insecure-policy", "copy", "-q", `docker-archive:${docker}`, `docker-archive:${skDocker}:myring:latest`]);
      const a = await freshService();
      assert.deepEqual((await load(a, skDocker)).loaded, ["Loaded image: myring:latest"]);
      assert.equal(a.resolve("myring:latest").id, myring.id);

      // docker-archive → an OCI layout: skopeo converts the manifest and config to OCI's
      // (a new config, so a new image ID), the layers stay the same.
      const layout = path.join(tmp("hako-skopeo-oci-"), "layout");
      run("skopeo", ["--insecure-policy", "copy", "-q", `docker-archive:${docker}`, `oci:${layout}:myring`]);
      const layoutIndex = JSON.parse(readFileSync(path.join(layout, "index.json"), "utf8")) as Index;
      assert.equal(layoutIndex.manifests[0]!.annotations?.["org.opencontainers.image.ref.name"], "myring");

      // ... and from that layout, skopeo's docker-archive and oci-archive both load, with the
      // image ID of the config skopeo wrote and hako's layers.
      const fromLayout = path.join(work, "from-layout.tar");
      run("skopeo", ["--insecure-policy", "copy", "-q", `oci:${layout}:myring`, `docker-archive:${fromLayout}:myring:latest`]);
      const b = await freshService();
      assert.deepEqual((await load(b, fromLayout)).loaded, ["Loaded image: myring:latest"]);
      assert.equal(b.resolve("myring:latest").id, sha256(run("skopeo", ["inspect", "--config", "--raw", `docker-archive:${fromLayout}`])));
      assert.deepEqual(b.inspect("myring").RootFS.Layers, diffIds);

      const skOci = path.join(work, "from-skopeo-oci.tar");
      run("skopeo", ["--insecure-policy", "copy", "-q", `oci:${layout}:myring`, `oci-archive:${skOci}:myring:latest`]);
      const c = await freshService();
      assert.deepEqual((await load(c, skOci)).loaded, ["Loaded image: myring:latest"]);
      const ociId = sha256(run("skopeo", ["inspect", "--config", "--raw", `oci-archive:${skOci}`]));
      assert.equal(c.resolve("myring:latest").id, ociId);
      assert.deepEqual(c.inspect("myring").RootFS.Layers, diffIds);
      // The manifest came along: it is the one skopeo reports.
      const skInfo = JSON.parse(run("skopeo", ["inspect", `oci-archive:${skOci}`])) as { Digest: string };
      assert.equal(c.images.get(ociId)!.manifestDigest, skInfo.Digest);
    });

    it("skopeo reads the symlinked layer.tar of a repeated diff ID", async () => {
      const { service, dup } = seed;
      const dupFile = await save(service, ["dup"], path.join(work, "sk-dup.tar"));
      const dupInfo = JSON.parse(run("skopeo", ["inspect", `docker-archive:${dupFile}`])) as { Layers: string[] };
      assert.deepEqual(dupInfo.Layers, dup.layers.map((l) => l.diffId));
      const dupOut = path.join(tmp("hako-skopeo-dup-"), "layout");
      run("skopeo", ["--insecure-policy", "copy", "-q", `docker-archive:${dupFile}`, `oci:${dupOut}:dup`]);
    });
  });
});
