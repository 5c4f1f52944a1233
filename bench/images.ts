/**
 * The images bench: push, pull, save and load of a multi-layer image of a
 * few hundred MB, hako side by side with skopeo (the comparator; docker too
 * when a daemon answers), and the memory a pull of a 1 GB layer takes.
 *
 *   npm run bench -- images           (or BENCH_ONLY=images npm run bench)
 *   node --import tsx bench/images.ts
 *
 *   BENCH_IMAGE_MB=300       uncompressed image size, split over the layers
 *   BENCH_IMAGE_LAYERS=5     layers, each half compressible text, half random bytes
 *   BENCH_IMAGE_RUNS=3       timed runs per operation (the median is reported)
 *   BENCH_BIG_LAYER_MB=1024  the incompressible layer of the memory check (0: skip it)
 *   BENCH_JSON=FILE          also write the results as JSON to FILE
 *
 * Needs root (overlay mounts, chown while extracting), the native helper
 * (npm run build), Debian's docker-registry (installed by the test helper
 * when missing) and skopeo (apt-get install -y skopeo when missing).
 *
 * What each row does (the same bytes for both tools: the layers are stored
 * gzipped, as pulled images are, and neither side recompresses):
 *   push  hako: distribution.push to a fresh registry   skopeo: dir:<the same blobs> → docker://
 *   pull  hako: distribution.pull into a fresh data root (download, verify, fsync, extract)
 *         skopeo: docker:// → dir: (download and verify only: it extracts nothing)
 *   save  hako: archive.saveImages to a file            skopeo: dir: → docker-archive:
 *   load  hako: archive.loadImages into a fresh root    skopeo: docker-archive: → dir:
 * MB/s is over the compressed image (push, pull) or the archive file (save,
 * load); "vs skopeo" is hako's time over skopeo's (below 1: hako is faster).
 * Registries, data roots and temp files are removed at the end, also on
 * Ctrl-C or an error.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import { createGzip } from "node:zlib";
import { pull, push } from "../src/image/distribution.ts";
import { RegistryClient } from "../src/image/registry/client.ts";
import { pushImage } from "../src/image/registry/push.ts";
import type { ImageService } from "../src/image/service.ts";
import { openImageService } from "../src/image/setup.ts";
import { helperPath } from "../src/native/shim.ts";
import { MediaType, type ImageConfig } from "../src/spec/oci-image.ts";
import { spawnChildPull } from "../test/helpers/images.ts";
import { registrySkipReason, startRegistry, type TestRegistry } from "../test/helpers/registry.ts";
import { entryBlocks, header } from "../test/helpers/tar-writer.ts";
import { Cleanup, intEnv, log, mulberry32, onStopSignal, runMain, table } from "./common.ts";
import { summarize } from "./stats.ts";

const MB = 1024 * 1024;

function have(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

let interrupted: string | undefined;

// ------------------------------------------------------------------ the image

const WORDS = "container image layer overlay whiteout registry manifest digest config kernel namespace cgroup mount snapshot chain blob tar gzip pull push".split(" ");

/** Log-like text: compresses about 4:1 with gzip, like a layer of text files. */
function textFile(bytes: number, random: () => number): Buffer {
  const lines: string[] = [];
  let n = 0;
  let i = 0;
  while (n < bytes) {
    const words = Array.from({ length: 8 }, () => WORDS[Math.floor(random() * WORDS.length)]).join(" ");
    const line = `2024-01-01T00:00:${String(i % 60).padStart(2, "0")}Z level=info seq=${i} id=${Math.floor(random() * 1e9).toString(16)} msg="${words}"\n`;
    lines.push(line);
    n += line.length;
    i++;
  }
  return Buffer.from(lines.join("")).subarray(0, bytes);
}

/** One layer as an uncompressed tar stream: 4 MB files, half text, half random. */
function layerStream(index: number, bytes: number): Readable {
  const random = mulberry32(index + 1);
  const fileSize = 4 * MB;
  const files = Math.max(2, Math.round(bytes / fileSize));
  function* gen(): Generator<Buffer> {
    yield entryBlocks({ name: `layer${index}/`, type: "dir", mtime: 1_700_000_000 });
    for (let f = 0; f < files; f++) {
      const text = f % 2 === 0;
      const data = text ? textFile(fileSize, random) : randomBytes(fileSize);
      yield entryBlocks({ name: `layer${index}/${text ? "text" : "random"}-${f}.${text ? "log" : "bin"}`, data, mtime: 1_700_000_000 });
    }
    yield Buffer.alloc(1024);
  }
  return Readable.from(gen());
}

/** Builds the bench image in `service` as bench/img:1; returns its compressed size. */
async function buildImage(service: ImageService, totalMb: number, layerCount: number): Promise<{ id: string; blobBytes: number; tarBytes: number }> {
  const layers: { diffId: string; blob: { mediaType: string; digest: string; size: number }; size: number }[] = [];
  let parent: string | undefined;
  for (let i = 0; i < layerCount; i++) {
    const gz = createGzip();
    const src = layerStream(i, Math.round((totalMb * MB) / layerCount));
    src.on("error", (err) => gz.destroy(err));
    const l = await service.addLayer(src.pipe(gz), parent);
    layers.push(l);
    parent = l.chainId;
    log(`bench images: layer ${i + 1}/${layerCount}: ${(l.size / MB).toFixed(0)} MB, ${(l.blob.size / MB).toFixed(0)} MB gzipped`);
  }
  const created = "2024-01-01T00:00:00Z";
  const config: ImageConfig = {
    architecture: "amd64",
    os: "linux",
    created,
    config: { Cmd: ["sh"] },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created, created_by: `bench layer ${i}` })),
  };
  const record = await service.commitImage(config, layers, { tag: "bench/img:1", source: "import" });
  return { id: record.id, blobBytes: layers.reduce((n, l) => n + l.blob.size, 0), tarBytes: layers.reduce((n, l) => n + l.size, 0) };
}

/** skopeo's dir: transport over the content store's blobs (hardlinks: the very same bytes). */
async function dirLayout(service: ImageService, name: string, dir: string): Promise<void> {
  const record = service.resolve(name);
  const { bytes, manifest } = await service.manifestFor(record);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "manifest.json"), bytes);
  writeFileSync(path.join(dir, "version"), "Directory Transport Version: 1.1\n");
  for (const d of [manifest.config, ...manifest.layers]) linkSync(service.content.path(d.digest), path.join(dir, d.digest.slice("sha256:".length)));
}

// ------------------------------------------------------------------ timing

interface Row {
  op: string;
  tool: string;
  what: string;
  samples: number[];
  bytes: number;
  note?: string;
}

function skopeo(args: string[]): void {
  const r = spawnSync("skopeo", args, { encoding: "utf8", maxBuffer: 64 * MB });
  if (r.status !== 0) throw new Error(`skopeo ${args.join(" ")}: ${(r.stderr || r.error?.message || "").trim().split("\n").slice(-3).join(" | ")}`);
}

async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

function dockerStatus(): string | undefined {
  if (!have("docker")) return undefined;
  const r = spawnSync("docker", ["version", "--format", "{{.Server.Version}}"], { encoding: "utf8", timeout: 10_000 });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

/** Peak RSS of a pull of one big incompressible layer, in a child process. */
async function memoryCheck(registry: TestRegistry, tmp: string, layerMb: number, cleanup: Cleanup): Promise<{ growthKb: number; hwmKb: number; rssBeforeKb: number; polledHwmKb: number; seconds: number }> {
  // The layer: one file of random bytes in a tar, written to disk once.
  const file = path.join(tmp, "big-layer.tar");
  cleanup.add(`remove ${file}`, () => rmSync(file, { force: true }));
  const hash = createHash("sha256");
  const fh = await open(file, "w");
  try {
    const write = async (b: Buffer): Promise<void> => {
      hash.update(b);
      await fh.write(b);
    };
    const size = layerMb * MB;
    await write(header({ name: "big.bin", typeflag: "0", size, mode: 0o644, mtime: 1_700_000_000 }));
    for (let off = 0; off < size; off += 4 * MB) await write(randomBytes(Math.min(4 * MB, size - off)));
    await write(Buffer.alloc(1024));
  } finally {
    await fh.close();
  }
  const digest = `sha256:${hash.digest("hex")}`;
  const size = statSync(file).size;
  const config = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", config: {}, rootfs: { type: "layers", diff_ids: [digest] }, history: [{ created_by: "bench big layer" }] }),
  );
  const configDigest = `sha256:${createHash("sha256").update(config).digest("hex")}`;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerConfig, digest: configDigest, size: config.length },
      layers: [{ mediaType: MediaType.DockerLayer, digest, size }],
    }),
  );
  const client = new RegistryClient({ host: registry.host });
  try {
    await pushImage({
      client,
      repo: "bench/big",
      tag: "1",
      manifest: { bytes: manifest, mediaType: MediaType.DockerManifest },
      config: { descriptor: { mediaType: MediaType.DockerConfig, digest: configDigest, size: config.length }, bytes: config },
      layers: [{ descriptor: { mediaType: MediaType.DockerLayer, digest, size }, open: () => createReadStream(file) }],
    });
  } finally {
    client.close();
  }
  rmSync(file, { force: true });

  const root = mkdtempSync(path.join(tmp, "mem-root-"));
  cleanup.add(`remove ${root}`, () => rmSync(root, { recursive: true, force: true }));
  const t0 = performance.now();
  const child = spawnChildPull(root, `${registry.host}/bench/big:1`, { quiet: true });
  let polledHwmKb = 0;
  const poll = setInterval(() => {
    try {
      const m = /^VmHWM:\s+(\d+)/m.exec(readFileSync(`/proc/${child.child.pid}/status`, "utf8"));
      if (m) polledHwmKb = Math.max(polledHwmKb, Number(m[1]));
    } catch {
      // exited
    }
  }, 100);
  const r = await child.result;
  clearInterval(poll);
  const seconds = (performance.now() - t0) / 1000;
  rmSync(root, { recursive: true, force: true });
  if (r.code !== 0 || r.hwmKb === undefined || r.rssBeforeKb === undefined) {
    throw new Error(`the child pull failed: ${r.error ?? ""} ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  }
  return { growthKb: r.hwmKb - r.rssBeforeKb, hwmKb: r.hwmKb, rssBeforeKb: r.rssBeforeKb, polledHwmKb, seconds };
}

// ------------------------------------------------------------------ main

export async function runImagesBench(): Promise<number> {
  const totalMb = intEnv("BENCH_IMAGE_MB", 300, 10);
  const layerCount = intEnv("BENCH_IMAGE_LAYERS", 5, 1);
  const runs = intEnv("BENCH_IMAGE_RUNS", 3, 1);
  const bigMb = intEnv("BENCH_BIG_LAYER_MB", 1024, 0);

  if (process.getuid?.() !== 0) {
    log("bench images: needs root (overlay mounts, chown while extracting layers)");
    return 2;
  }
  if (!existsSync(helperPath())) {
    log(`bench images: the native helper (${helperPath()}) is missing: run npm run build first`);
    return 2;
  }
  const registryProblem = registrySkipReason();
  if (registryProblem) {
    log(`bench images: ${registryProblem}`);
    return 2;
  }
  if (!have("skopeo")) {
    log("bench images: skopeo is missing; apt-get install -y skopeo ...");
    spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "skopeo"], { stdio: "ignore", timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  }
  const haveSkopeo = have("skopeo");
  const skopeoVersion = haveSkopeo ? spawnSync("skopeo", ["--version"], { encoding: "utf8" }).stdout.trim() : undefined;
  const docker = dockerStatus();

  onStopSignal("step", (sig) => (interrupted = sig));

  const cleanup = new Cleanup();
  const tmp = mkdtempSync(path.join(os.tmpdir(), "hako-bench-images-"));
  cleanup.add(`remove ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
  const rows: Row[] = [];
  let memory: Awaited<ReturnType<typeof memoryCheck>> | undefined;
  let memoryError: string | undefined;
  try {
    const newRegistry = async (): Promise<TestRegistry> => {
      const r = await startRegistry();
      cleanup.add(`stop the registry on ${r.host}`, () => r.stop());
      return r;
    };
    const newRoot = (prefix: string): string => {
      const d = mkdtempSync(path.join(tmp, prefix));
      cleanup.add(`remove ${d}`, () => rmSync(d, { recursive: true, force: true }));
      return d;
    };
    const stopNow = async (r: TestRegistry): Promise<void> => r.stop();

    // ---------------------------------------------------------- the image
    log(`bench images: building a ${totalMb} MB image of ${layerCount} layers ...`);
    const service = await openImageService(newRoot("root-"));
    const image = await buildImage(service, totalMb, layerCount);
    const src = path.join(tmp, "skopeo-src");
    await dirLayout(service, "bench/img:1", src);
    log(`bench images: ${(image.tarBytes / MB).toFixed(0)} MB of layers, ${(image.blobBytes / MB).toFixed(1)} MB gzipped; ${runs} run(s) per operation`);

    // ---------------------------------------------------------- push
    const push_h: number[] = [];
    const push_s: number[] = [];
    for (let i = 0; i < runs && !interrupted; i++) {
      let reg = await newRegistry();
      service.tag("bench/img:1", `${reg.host}/hako/img:1`);
      push_h.push(await timed(() => push(service, `${reg.host}/hako/img:1`, {})));
      service.images.untag(`${reg.host}/hako/img:1`);
      await stopNow(reg);
      if (haveSkopeo) {
        reg = await newRegistry();
        push_s.push(await timed(() => skopeo(["copy", "--quiet", "--dest-tls-verify=false", `dir:${src}`, `docker://${reg.host}/skopeo/img:1`])));
        await stopNow(reg);
      }
      log(`bench images: push run ${i + 1}/${runs}`);
    }
    rows.push({ op: "push", tool: "hako", what: "distribution.push → docker-registry", samples: push_h, bytes: image.blobBytes });
    if (haveSkopeo) rows.push({ op: "push", tool: "skopeo", what: "skopeo copy dir: → docker://", samples: push_s, bytes: image.blobBytes });

    // ---------------------------------------------------------- pull
    const pullRegistry = await newRegistry();
    const ref = `${pullRegistry.host}/hako/img:1`;
    service.tag("bench/img:1", ref);
    await push(service, ref, {});
    const pull_h: number[] = [];
    const pull_dl: number[] = [];
    const pull_s: number[] = [];
    for (let i = 0; i < runs && !interrupted; i++) {
      const root = newRoot("pull-");
      const target = await openImageService(root);
      let lastDownload = 0;
      const t0 = performance.now();
      const record = await pull(target, ref, {
        progress: (m) => {
          if (m.status === "Download complete") lastDownload = performance.now() - t0;
        },
      });
      pull_h.push(performance.now() - t0);
      pull_dl.push(lastDownload);
      if (record.id !== image.id) throw new Error(`pulled image ${record.id}, pushed ${image.id}`);
      rmSync(root, { recursive: true, force: true });
      if (haveSkopeo) {
        const dst = path.join(tmp, `skopeo-pull-${i}`);
        pull_s.push(await timed(() => skopeo(["copy", "--quiet", "--src-tls-verify=false", `docker://${ref}`, `dir:${dst}`])));
        rmSync(dst, { recursive: true, force: true });
      }
      log(`bench images: pull run ${i + 1}/${runs}`);
    }
    rows.push({ op: "pull", tool: "hako", what: "distribution.pull: download+verify+extract", samples: pull_h, bytes: image.blobBytes });
    rows.push({ op: "pull", tool: "hako", what: "  of which download+verify (last layer done)", samples: pull_dl, bytes: image.blobBytes });
    if (haveSkopeo) rows.push({ op: "pull", tool: "skopeo", what: "skopeo copy docker:// → dir: (no extraction)", samples: pull_s, bytes: image.blobBytes });

    // ---------------------------------------------------------- save / load
    const archive = await import("../src/image/archive/index.ts");
    const saveFile = path.join(tmp, "hako-save.tar");
    const save_h: number[] = [];
    const load_h: number[] = [];
    let saveProblem: string | undefined;
    for (let i = 0; i < runs && !interrupted && !saveProblem; i++) {
      try {
        save_h.push(await timed(() => archive.saveImages(service, ["bench/img:1"], createWriteStream(saveFile))));
        const root = newRoot("load-");
        const target = await openImageService(root);
        load_h.push(await timed(async () => archive.loadImages(target, createReadStream(saveFile))));
        rmSync(root, { recursive: true, force: true });
      } catch (err) {
        saveProblem = (err as Error).message;
      }
    }
    const hakoArchiveBytes = existsSync(saveFile) ? statSync(saveFile).size : 0;
    rmSync(saveFile, { force: true });
    const save_s: number[] = [];
    const load_s: number[] = [];
    let skopeoArchiveBytes = 0;
    if (haveSkopeo) {
      for (let i = 0; i < runs && !interrupted; i++) {
        const file = path.join(tmp, `skopeo-save-${i}.tar`);
        save_s.push(await timed(() => skopeo(["copy", "--quiet", `dir:${src}`, `docker-archive:${file}:bench/img:1`])));
        skopeoArchiveBytes = statSync(file).size;
        const dst = path.join(tmp, `skopeo-load-${i}`);
        load_s.push(await timed(() => skopeo(["copy", "--quiet", `docker-archive:${file}`, `dir:${dst}`])));
        rmSync(file, { force: true });
        rmSync(dst, { recursive: true, force: true });
      }
    }
    if (saveProblem) {
      rows.push({ op: "save", tool: "hako", what: "archive.saveImages → file", samples: [], bytes: 0, note: saveProblem });
      rows.push({ op: "load", tool: "hako", what: "archive.loadImages ← file", samples: [], bytes: 0, note: saveProblem });
    } else {
      rows.push({ op: "save", tool: "hako", what: "archive.saveImages → file", samples: save_h, bytes: hakoArchiveBytes });
      rows.push({ op: "load", tool: "hako", what: "archive.loadImages ← file (fresh root)", samples: load_h, bytes: hakoArchiveBytes });
    }
    if (haveSkopeo) {
      rows.push({ op: "save", tool: "skopeo", what: "skopeo copy dir: → docker-archive:", samples: save_s, bytes: skopeoArchiveBytes });
      rows.push({ op: "load", tool: "skopeo", what: "skopeo copy docker-archive: → dir:", samples: load_s, bytes: skopeoArchiveBytes });
    }

    // ---------------------------------------------------------- memory
    if (bigMb > 0 && !interrupted) {
      log(`bench images: memory: pulling a ${bigMb} MB incompressible layer in a child process ...`);
      try {
        memory = await memoryCheck(pullRegistry, tmp, bigMb, cleanup);
      } catch (err) {
        memoryError = (err as Error).message;
      }
    }
  } finally {
    await cleanup.run();
    if (existsSync(tmp)) log(`bench images: WARNING: ${tmp} left behind`);
  }

  // ------------------------------------------------------------ report
  const med = (r: Row | undefined): number | undefined => (r && r.samples.length ? summarize(r.samples)!.median : undefined);
  const out: string[] = [];
  out.push("");
  out.push(`hako bench: images (${totalMb} MB in ${layerCount} layers, gzipped; median of ${runs} run(s); registry: Debian docker-registry on 127.0.0.1)`);
  out.push(`host: Linux ${os.release()}, ${os.cpus().length} CPU ${os.cpus()[0]?.model ?? ""}, node ${process.version}; ${skopeoVersion ?? "skopeo: not installed"}`);
  out.push("");
  const lines: string[][] = [["op", "tool", "what", "median s", "min s", "MB/s", "vs skopeo"]];
  for (const r of rows) {
    const m = med(r);
    const skopeoRow = rows.find((x) => x.op === r.op && x.tool === "skopeo");
    const s = med(skopeoRow);
    lines.push([
      r.op,
      r.tool,
      r.what,
      m === undefined ? "-" : (m / 1000).toFixed(2),
      r.samples.length ? (Math.min(...r.samples) / 1000).toFixed(2) : "-",
      m === undefined || !r.bytes ? "-" : (r.bytes / MB / (m / 1000)).toFixed(1),
      r.tool === "hako" && m !== undefined && s !== undefined ? `${(m / s).toFixed(2)}x` : r.note ? `(${r.note.slice(0, 60)})` : "-",
    ]);
  }
  for (const op of ["push", "pull", "save", "load"]) lines.push([op, "docker", docker ? `daemon ${docker}: not measured` : "not available (no daemon answers)", "-", "-", "-", "-"]);
  out.push(table(lines, new Set([3, 4, 5])));
  out.push("");
  if (memory) {
    const growthMb = memory.growthKb / 1024;
    out.push(
      `memory: pull of a ${bigMb} MB incompressible layer in a child process (${memory.seconds.toFixed(1)} s): VmRSS before ${(memory.rssBeforeKb / 1024).toFixed(1)} MB, VmHWM after ${(memory.hwmKb / 1024).toFixed(1)} MB (polled: ${(memory.polledHwmKb / 1024).toFixed(1)} MB)`,
    );
    out.push(`  RSS growth ${growthMb.toFixed(1)} MB  ${growthMb < 100 ? "[OK: < 100 MB]" : "[NOT < 100 MB]"}`);
  } else if (memoryError) out.push(`memory: the check failed: ${memoryError}`);
  else out.push("memory: not measured (BENCH_BIG_LAYER_MB=0)");
  if (interrupted) out.push(`\n(interrupted by ${interrupted}: partial results)`);
  console.log(out.join("\n"));

  if (process.env.BENCH_JSON) {
    writeFileSync(
      process.env.BENCH_JSON,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          totalMb,
          layerCount,
          runs,
          host: { kernel: os.release(), cpus: os.cpus().length, node: process.version },
          skopeo: skopeoVersion ?? null,
          docker: docker ?? null,
          rows: rows.map((r) => ({ ...r, medianMs: med(r) ?? null })),
          memory: memory ?? null,
          memoryError: memoryError ?? null,
        },
        null,
        2,
      )}\n`,
    );
  }
  if (memory && memory.growthKb >= 100 * 1024) return 1;
  return interrupted ? 130 : 0;
}

if (require.main === module) {
  runMain(runImagesBench, "bench images");
}
