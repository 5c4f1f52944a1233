/**
 * Helpers for the storage and image-service tests (and bench/images.ts):
 * mounting what a snapshotter returns, a loop-mounted btrfs, layer tars read
 * back with tar-stream, image blobs made from layer tars, a node:http fake
 * registry for what a real one cannot do (tampered, truncated, slow blobs),
 * and a pull run in a child process (to kill it, or to measure its memory).
 * Nothing here talks to anything but 127.0.0.1.
 *
 * Other tests add helpers here too: add new exported functions, change none.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import http from "node:http";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import tarStream from "tar-stream";
import { RegistryClient, type SearchResult } from "../../src/image/registry/client.ts";
import { pushImage } from "../../src/image/registry/push.ts";
import type { ImageService } from "../../src/image/service.ts";
import { openImageService } from "../../src/image/setup.ts";
import { MediaType } from "../../src/spec/oci-image.ts";
import type { Mount } from "../../src/storage/snapshotter.ts";

export const PROJECT_ROOT = path.resolve(__dirname, "../..");

/** The "sha256:<hex>" digest of some bytes, computed apart from the code under test. */
export const sha256 = (b: Buffer | string): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

// ------------------------------------------------------------------ mounts

/**
 * Mounts a snapshotter's Mount spec on `target` the way the container's
 * init does: `mount(8)` run from `m.cwd` (overlay lowerdirs are relative
 * `l/` links), in a child process. Bind mounts become `mount --bind`
 * (read-only when the spec says ro). Returns the unmount.
 */
export function mountSnapshot(m: Mount, target: string): () => void {
  mkdirSync(target, { recursive: true });
  const run = (args: string[], cwd?: string): void => {
    const r = spawnSync("mount", args, { cwd, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`mount ${args.join(" ")} (cwd ${cwd ?? "."}): ${r.stderr.trim() || r.error?.message}`);
  };
  if (m.type === "bind") {
    run(["--bind", m.source, target]);
    if (m.options.includes("ro")) run(["-o", "remount,bind,ro", target]);
  } else {
    run(["-t", m.type, m.source, "-o", m.options.join(","), target], m.cwd);
  }
  let mounted = true;
  return () => {
    if (!mounted) return;
    const r = spawnSync("umount", [target], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`umount ${target}: ${r.stderr.trim()}`);
    mounted = false;
  };
}

/** The overlay mount data of a spec, as mount(2) would receive it. */
export function mountData(m: Mount): string {
  return m.options.filter((o) => o !== "ro" && o !== "rw").join(",");
}

// ------------------------------------------------------------------ btrfs

function haveCommand(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** Why a loop-mounted btrfs cannot be made here, or undefined when it can. */
export function btrfsSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (loop devices and mounts)";
  if (!haveCommand("mkfs.btrfs") && process.env.HAKO_TEST_NO_APT !== "1") {
    spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "btrfs-progs"], { stdio: "ignore", timeout: 300_000 });
  }
  if (!haveCommand("mkfs.btrfs")) return "mkfs.btrfs is not installed (apt-get install btrfs-progs)";
  if (!haveCommand("losetup")) return "losetup is not installed";
  if (!readFileSync("/proc/filesystems", "utf8").includes("btrfs") && spawnSync("modprobe", ["btrfs"]).status !== 0) return "the kernel has no btrfs";
  return undefined;
}

export interface LoopBtrfs {
  /** where the filesystem is mounted */
  mnt: string;
  /** unmount, detach the loop device, delete the image (idempotent) */
  cleanup(): void;
}

/** A fresh btrfs of `sizeMb` MB in a file, on a loop device, mounted in a temp dir. */
export function makeLoopBtrfs(sizeMb = 512): LoopBtrfs {
  const work = mkdtempSync(path.join(os.tmpdir(), "hako-btrfs-"));
  const image = path.join(work, "btrfs.img");
  const mnt = path.join(work, "mnt");
  let loop: string | undefined;
  let mounted = false;
  const cleanup = (): void => {
    if (mounted) {
      const r = spawnSync("umount", [mnt]);
      if (r.status !== 0) spawnSync("umount", ["-l", mnt]);
      mounted = false;
    }
    if (loop) {
      spawnSync("losetup", ["-d", loop]);
      loop = undefined;
    }
    rmSync(work, { recursive: true, force: true });
  };
  try {
    writeFileSync(image, "");
    truncateSync(image, sizeMb * 1024 * 1024);
    const mk = spawnSync("mkfs.btrfs", ["-q", image], { encoding: "utf8" });
    if (mk.status !== 0) throw new Error(`mkfs.btrfs: ${mk.stderr}`);
    const lo = spawnSync("losetup", ["--find", "--show", image], { encoding: "utf8" });
    if (lo.status !== 0) throw new Error(`losetup: ${lo.stderr}`);
    loop = lo.stdout.trim();
    mkdirSync(mnt);
    const m = spawnSync("mount", ["-t", "btrfs", loop, mnt], { encoding: "utf8" });
    if (m.status !== 0) throw new Error(`mount btrfs: ${m.stderr}`);
    mounted = true;
    return { mnt, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

// ------------------------------------------------------------------ layer tars

export interface LayerTarEntry {
  name: string;
  type: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  linkname: string | null;
  devmajor: number;
  devminor: number;
  data: Buffer;
}

/** Every entry of a layer tar (read with tar-stream, not our own reader). */
export async function readLayerTar(input: Readable | Buffer): Promise<LayerTarEntry[]> {
  const extract = tarStream.extract();
  const out: LayerTarEntry[] = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => chunks.push(c as Buffer));
      stream.on("end", () => {
        out.push({
          name: h.name,
          type: h.type ?? "file",
          size: h.size ?? 0,
          mode: h.mode ?? 0,
          uid: h.uid ?? 0,
          gid: h.gid ?? 0,
          linkname: h.linkname ?? null,
          devmajor: h.devmajor ?? 0,
          devminor: h.devminor ?? 0,
          data: Buffer.concat(chunks),
        });
        next();
      });
      stream.on("error", reject);
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  if (Buffer.isBuffer(input)) extract.end(input);
  else {
    input.on("error", (err) => extract.destroy(err));
    input.pipe(extract);
  }
  await done;
  return out;
}

// ------------------------------------------------------------------ image blobs

export interface BlobLayer {
  mediaType: string;
  digest: string;
  size: number;
  diffId: string;
  bytes: Buffer;
}

export interface ImageBlobs {
  manifest: Buffer;
  manifestDigest: string;
  mediaType: string;
  config: Buffer;
  configDigest: string;
  layers: BlobLayer[];
}

/**
 * A Docker schema 2 image of the given (uncompressed) layer tars, gzipped
 * unless `gzip: false`; `diffIds` overrides the config's (for lies).
 */
export function imageOfLayers(tars: Buffer[], opts: { gzip?: boolean; cmd?: string[]; diffIds?: string[]; created?: string } = {}): ImageBlobs {
  const gzip = opts.gzip ?? true;
  const layers = tars.map((tar): BlobLayer => {
    const bytes = gzip ? gzipSync(tar) : tar;
    return { mediaType: gzip ? MediaType.DockerLayerGzip : MediaType.DockerLayer, digest: sha256(bytes), size: bytes.length, diffId: sha256(tar), bytes };
  });
  const created = opts.created ?? "2024-01-01T00:00:00Z";
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      created,
      config: { Cmd: opts.cmd ?? ["sh"], Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] },
      rootfs: { type: "layers", diff_ids: opts.diffIds ?? layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({ created, created_by: `layer ${i}` })),
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: MediaType.DockerManifest,
        config: { mediaType: MediaType.DockerConfig, digest: sha256(config), size: config.length },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      },
      null,
      3,
    ),
  );
  return { manifest, manifestDigest: sha256(manifest), mediaType: MediaType.DockerManifest, config, configDigest: sha256(config), layers };
}

/** Pushes image blobs made by imageOfLayers to a registry on 127.0.0.1 (no auth) as repo:tag. */
export async function pushImageBlobs(host: string, repo: string, tag: string, image: ImageBlobs): Promise<string> {
  const client = new RegistryClient({ host });
  try {
    const r = await pushImage({
      client,
      repo,
      tag,
      manifest: { bytes: image.manifest, mediaType: image.mediaType },
      config: { descriptor: { mediaType: MediaType.DockerConfig, digest: image.configDigest, size: image.config.length }, bytes: image.config },
      layers: image.layers.map((l) => ({ descriptor: { mediaType: l.mediaType, digest: l.digest, size: l.size }, open: () => Readable.from([l.bytes]) })),
    });
    return r.digest;
  } finally {
    client.close();
  }
}

// ------------------------------------------------------------------ fake registry

/** How the fake registry serves one blob. */
export interface FakeBlob {
  /** the bytes, or a file to stream them from */
  data?: Buffer;
  file?: string;
  /** serve different bytes than the digest names (one byte flipped) */
  tamper?: boolean;
  /** announce the whole size, then drop the connection after this many bytes */
  truncateAfter?: number;
  /** stream at about this rate */
  bytesPerSecond?: number;
}

export interface FakeRegistry {
  host: string;
  port: number;
  /** "repo:reference" (tag or digest) → manifest */
  manifests: Map<string, { body: Buffer; mediaType: string }>;
  /** digest → how to serve it */
  blobs: Map<string, FakeBlob>;
  /** digest → bytes written to clients so far (all requests) */
  sent: Map<string, number>;
  /** "METHOD path" of every request */
  requests: string[];
  /** what GET /v1/search answers from: repositories whose name contains q, the first n of them */
  searchIndex: SearchResult[];
  /** serves `image` as repo:tag (and by digest) */
  addImage(repo: string, tag: string, image: ImageBlobs): void;
  stop(): Promise<void>;
}

/** A read-only distribution-spec registry on 127.0.0.1 (no auth) whose blobs can misbehave. */
export async function startFakeRegistry(): Promise<FakeRegistry> {
  const manifests = new Map<string, { body: Buffer; mediaType: string }>();
  const blobs = new Map<string, FakeBlob>();
  const sent = new Map<string, number>();
  const requests: string[] = [];
  const searchIndex: SearchResult[] = [];
  const sockets = new Set<net.Socket>();

  const serveBlob = (digest: string, blob: FakeBlob, req: http.IncomingMessage, res: http.ServerResponse): void => {
    const size = blob.data ? blob.data.length : statSync(blob.file!).size;
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": String(size), "Docker-Content-Digest": digest });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const source: Readable | Buffer[] = blob.file ? createReadStream(blob.file, { highWaterMark: 64 * 1024 }) : chunk(blob.data!, 64 * 1024);
    const iterator = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]?.() ?? (source as Buffer[])[Symbol.iterator]();
    let written = 0;
    let first = true;
    const started = Date.now();
    const pump = async (): Promise<void> => {
      for (;;) {
        if (res.destroyed) return;
        const next = await iterator.next();
        if (next.done) break;
        let piece: Buffer = Buffer.from(next.value as Buffer);
        if (blob.tamper && first) {
          piece[0] = piece[0]! ^ 0xff;
        }
        first = false;
        if (blob.truncateAfter !== undefined && written + piece.length > blob.truncateAfter) {
          piece = piece.subarray(0, blob.truncateAfter - written);
          if (piece.length) res.write(piece);
          written += piece.length;
          sent.set(digest, (sent.get(digest) ?? 0) + piece.length);
          // Let the bytes go out, then drop the connection mid-body.
          setTimeout(() => res.socket?.destroy(), 50);
          return;
        }
        if (blob.bytesPerSecond) {
          const due = started + ((written + piece.length) / blob.bytesPerSecond) * 1000;
          const wait = due - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        if (res.destroyed) return;
        if (!res.write(piece)) {
          await new Promise<void>((r) => {
            const done = (): void => {
              res.off("drain", done);
              res.off("close", done);
              r();
            };
            res.on("drain", done);
            res.on("close", done);
          });
        }
        written += piece.length;
        sent.set(digest, (sent.get(digest) ?? 0) + piece.length);
      }
      res.end();
    };
    pump().catch(() => res.destroy());
    if (typeof (source as Readable).destroy === "function") res.once("close", () => (source as Readable).destroy());
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    requests.push(`${req.method} ${url.pathname}`);
    res.setHeader("Docker-Distribution-Api-Version", "registry/2.0");
    if (url.pathname === "/v2/" || url.pathname === "/v2") {
      res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
      return;
    }
    if (url.pathname === "/v1/search" && req.method === "GET") {
      const q = url.searchParams.get("q") ?? "";
      const results = searchIndex.filter((r) => r.name.includes(q)).slice(0, Number(url.searchParams.get("n") ?? 25));
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ num_results: results.length, query: q, results }));
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (m && (req.method === "GET" || req.method === "HEAD")) {
      const [, repo, kind, ref] = m as unknown as [string, string, string, string];
      if (kind === "manifests") {
        const man = manifests.get(`${repo}:${ref}`);
        if (man) {
          res.writeHead(200, { "Content-Type": man.mediaType, "Content-Length": String(man.body.length), "Docker-Content-Digest": sha256(man.body) });
          res.end(req.method === "HEAD" ? undefined : man.body);
          return;
        }
      } else {
        const blob = blobs.get(ref);
        if (blob) {
          serveBlob(ref, blob, req, res);
          return;
        }
      }
      const code = kind === "manifests" ? "MANIFEST_UNKNOWN" : "BLOB_UNKNOWN";
      res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ errors: [{ code, message: `${kind} unknown`, detail: ref }] }));
      return;
    }
    res.writeHead(405, { "Content-Type": "application/json" }).end(JSON.stringify({ errors: [{ code: "UNSUPPORTED", message: "read-only fake registry" }] }));
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    port,
    manifests,
    blobs,
    sent,
    requests,
    searchIndex,
    addImage(repo, tag, image) {
      const entry = { body: image.manifest, mediaType: image.mediaType };
      manifests.set(`${repo}:${tag}`, entry);
      manifests.set(`${repo}:${image.manifestDigest}`, entry);
      blobs.set(image.configDigest, { data: image.config });
      for (const l of image.layers) if (!blobs.has(l.digest)) blobs.set(l.digest, { data: l.bytes });
    },
    stop() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function chunk(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < buf.length; off += size) out.push(buf.subarray(off, off + size));
  if (out.length === 0) out.push(Buffer.alloc(0));
  return out;
}

// ------------------------------------------------------------------ a pull in a child process

export interface ChildPull {
  child: ChildProcess;
  /** the progress messages so far (one JSON object per stdout line) */
  messages: { status?: string; id?: string; progressDetail?: { current?: number; total?: number } }[];
  /** resolves when the child exits: its result line (image id, memory) or its error */
  result: Promise<{ code: number | null; signal: NodeJS.Signals | null; imageId?: string; rssBeforeKb?: number; hwmKb?: number; error?: string; stderr: string }>;
}

/**
 * `distribution.pull(ref)` on the image service of `dataRoot`, in a child
 * process (`node --import tsx`), so a test can SIGKILL it mid-download or
 * read its peak RSS. The child prints each progress message as a JSON line,
 * then `{"done":true,"imageId":..., "rssBeforeKb":..., "hwmKb":...}` (its own
 * VmRSS right before the pull and VmHWM after it) or `{"error":...}`.
 */
export function spawnChildPull(dataRoot: string, ref: string, opts: { storageDriver?: string; quiet?: boolean } = {}): ChildPull {
  const script = [
    `const { openImageService } = require(${JSON.stringify(path.join(PROJECT_ROOT, "src/image/setup.ts"))});`,
    `const { pull } = require(${JSON.stringify(path.join(PROJECT_ROOT, "src/image/distribution.ts"))});`,
    "const fs = require('node:fs');",
    "const kb = (field) => Number((new RegExp('^' + field + ':\\\\s+(\\\\d+)', 'm').exec(fs.readFileSync('/proc/self/status', 'utf8')) || [])[1]);",
    `const quiet = ${JSON.stringify(!!opts.quiet)};`,
    "const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');",
    `openImageService(${JSON.stringify(dataRoot)}, ${JSON.stringify(opts.storageDriver ? { storageDriver: opts.storageDriver } : {})})`,
    "  .then(async (service) => {",
    "    const rssBeforeKb = kb('VmRSS');",
    "    say({ ready: true, rssBeforeKb });",
    `    const record = await pull(service, ${JSON.stringify(ref)}, { progress: (m) => { if (!quiet || m.status !== 'Downloading' && m.status !== 'Extracting') say(m); } });`,
    "    say({ done: true, imageId: record.id, rssBeforeKb, hwmKb: kb('VmHWM') });",
    "  })",
    "  .catch((err) => { say({ error: String(err && err.message || err) }); process.exitCode = 1; });",
  ].join("\n");
  const child = spawn(process.execPath, ["--import", "tsx", "-e", script], { cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const messages: ChildPull["messages"] = [];
  let tail = "";
  let stderr = "";
  let final: { imageId?: string; rssBeforeKb?: number; hwmKb?: number; error?: string } = {};
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (d: string) => {
    tail += d;
    let nl: number;
    while ((nl = tail.indexOf("\n")) >= 0) {
      const line = tail.slice(0, nl);
      tail = tail.slice(nl + 1);
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        if (o.done || o.error) final = o as typeof final;
        else if (!o.ready) messages.push(o as ChildPull["messages"][number]);
      } catch {
        // not ours
      }
    }
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => {
    if (stderr.length < 64 * 1024) stderr += d;
  });
  const result = new Promise<Awaited<ChildPull["result"]>>((resolve) => {
    child.once("close", (code, signal) => resolve({ code, signal, ...final, stderr }));
  });
  return { child, messages, result };
}

// ------------------------------------------------------------------ data roots

/** Every entry under `dir` (relative paths), [] when it does not exist. */
export function listTree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const r = spawnSync("find", [dir, "-mindepth", "1", "-printf", "%P\\n"], { encoding: "utf8" });
  return r.stdout.split("\n").filter(Boolean).sort();
}

// ------------------------------------------------------------------ image services on temp data roots

export interface TempImageService {
  /** the data root (a fresh temp directory) */
  root: string;
  service: ImageService;
  /** removes the data root (idempotent) */
  cleanup(): void;
}

/**
 * An ImageService (openImageService: content, image and layer stores, the
 * snapshotter the filesystem suits unless `storageDriver` says) over a
 * fresh temp data root. Call cleanup() when done; nothing is mounted.
 */
export async function openTempImageService(prefix = "hako-images-", options: { storageDriver?: string } = {}): Promise<TempImageService> {
  const root = mkdtempSync(path.join(os.tmpdir(), prefix));
  let removed = false;
  const cleanup = (): void => {
    if (removed) return;
    removed = true;
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const service = await openImageService(root, options.storageDriver ? { storageDriver: options.storageDriver } : {});
    return { root, service, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}
