/**
 * A container's filesystem as archives: docker cp (stat, get, put), export,
 * changes and commit.
 *
 * Files are reached through the native helper's rootfs-tool, which resolves
 * every path inside the container's root (a symlink in the container can
 * never name a host file): a running container's view is /proc/<pid>/root
 * (its mounts, volumes included); a stopped one's merged layers are mounted
 * by the helper in a mount namespace of its own. export, changes and commit
 * read the layers alone, as Docker does (no volumes, no /proc).
 */
import { lstatSync, statSync, type BigIntStats } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import tarStream from "tar-stream";
import { HakoError, InvalidArgumentError, NotFoundError } from "../common/errors.ts";
import { chainIds } from "../image/ids.ts";
import { applyChanges } from "../build/changes.ts";
import { normalize } from "../image/reference.ts";
import { rootfsExportTar, rootfsGetTar, rootfsPutTar, rootfsRealpath, rootfsStat, type RootfsLocation, type RootfsStat } from "../native/tools.ts";
import type { ContainerConfig } from "../spec/docker-api.ts";
import type { ImageConfig, ImageRuntimeConfig } from "../spec/oci-image.ts";
import type { Mount, Snapshotter } from "../storage/snapshotter.ts";
import type { ContainerRecord } from "./container-store.ts";
import type { ContainerService } from "./containers.ts";
import type { MountPointRecord } from "./types.ts";
import { nowRfc3339Nano } from "../common/time.ts";

export interface ArchiveServiceOptions {
  containers: ContainerService;
}

/** The X-Docker-Container-Path-Stat header's JSON (moby's container.PathStat). */
export interface PathStat {
  name: string;
  size: number;
  /** Go's os.FileMode bits. */
  mode: number;
  /** RFC 3339 with nanoseconds, as Go marshals a time. */
  mtime: string;
  linkTarget: string;
}

/** One entry of GET /containers/{id}/changes: Kind 0 modified, 1 added, 2 deleted. */
export interface FilesystemChange {
  Path: string;
  Kind: 0 | 1 | 2;
}

export interface CommitOptions {
  repo?: string;
  tag?: string;
  comment?: string;
  author?: string;
  /** Freeze a running container while its layer is read (default true). */
  pause?: boolean;
  /** Dockerfile instructions (`CMD ["x"]`, `ENV a=b`). */
  changes?: string[];
  /** The request body: fields set here win over the container's. */
  config?: ContainerConfig;
}

const CHANGE_MODIFY = 0;
const CHANGE_ADD = 1;
const CHANGE_DELETE = 2;

// Go's os.FileMode type bits.
const GO_MODE_DIR = 2 ** 31;
const GO_MODE_SYMLINK = 2 ** 27;
const GO_MODE_DEVICE = 2 ** 26;
const GO_MODE_NAMED_PIPE = 2 ** 25;
const GO_MODE_SOCKET = 2 ** 24;
const GO_MODE_SETUID = 2 ** 23;
const GO_MODE_SETGID = 2 ** 22;
const GO_MODE_CHAR_DEVICE = 2 ** 21;
const GO_MODE_STICKY = 2 ** 20;

/** st_mode as Go's os.FileMode (what docker cp decodes from the stat header). */
export function goFileMode(stMode: number): number {
  let mode = stMode & 0o777;
  switch (stMode & 0o170000) {
    case 0o040000:
      mode += GO_MODE_DIR;
      break;
    case 0o120000:
      mode += GO_MODE_SYMLINK;
      break;
    case 0o060000:
      mode += GO_MODE_DEVICE;
      break;
    case 0o020000:
      mode += GO_MODE_DEVICE + GO_MODE_CHAR_DEVICE;
      break;
    case 0o010000:
      mode += GO_MODE_NAMED_PIPE;
      break;
    case 0o140000:
      mode += GO_MODE_SOCKET;
      break;
  }
  if (stMode & 0o4000) mode += GO_MODE_SETUID;
  if (stMode & 0o2000) mode += GO_MODE_SETGID;
  if (stMode & 0o1000) mode += GO_MODE_STICKY;
  return mode;
}

/** Go's RFC3339Nano in UTC: fraction without trailing zeros. */
export function goTime(sec: number, nsec: number): string {
  const base = new Date(sec * 1000).toISOString().slice(0, 19);
  const frac = nsec > 0 ? `.${String(nsec).padStart(9, "0").replace(/0+$/, "")}` : "";
  return `${base}${frac}Z`;
}

function pathStatOf(s: RootfsStat): PathStat {
  return { name: s.name, size: s.size, mode: goFileMode(s.mode), mtime: goTime(s.mtimeSec, s.mtimeNsec), linkTarget: s.linkTarget };
}

/** What Docker names the path as asked: filepath.Base of it, "." when it ends in "/.". */
function dockerBaseName(p: string): string {
  if (p === "." || p.endsWith("/.")) return ".";
  return path.posix.basename(path.posix.join("/", p)) || "/";
}

function checkPath(p: string): void {
  if (p === "") throw new InvalidArgumentError("bad parameter: path cannot be empty");
  if (p.includes("\0")) throw new InvalidArgumentError(`invalid path ${JSON.stringify(p)}: contains a NUL byte`);
}

/**
 * The volume or bind mount a container path (absolute, symlinks resolved)
 * lies in, the deepest one. tmpfs mounts are not volumes to Docker's cp: a
 * read-only rootfs refuses them too.
 */
function mountPointOf(c: ContainerRecord, abs: string): MountPointRecord | undefined {
  let best: MountPointRecord | undefined;
  for (const m of Object.values(c.MountPoints ?? {})) {
    if (m.Type !== "volume" && m.Type !== "bind") continue;
    const dest = m.Destination.replace(/\/+$/, "") || "/";
    const inside = dest === "/" || abs === dest || abs.startsWith(`${dest}/`);
    if (inside && (!best || dest.length > best.Destination.length)) best = m;
  }
  return best;
}

/** An overlay mount's options as mount(2) data, its lowers read-only on top of each other when `layersOnly`. */
/**
 * A container's filesystem as the helper reaches it without the container:
 * its layers mounted in the helper's own namespace (read-only: the upper dir
 * as the top lower), or the directory of a bind snapshotter.
 */
export function layerLocation(snapshotter: Snapshotter, id: string, readonly = true): RootfsLocation {
  const m = snapshotter.mounts(id)[0];
  if (!m) throw new NotFoundError(`container ${id} has no filesystem`);
  if (m.type === "bind") return { root: m.source };
  const merged = snapshotter.graphDriverData(id).MergedDir;
  if (!merged) throw new NotFoundError(`container ${id}: the ${snapshotter.driver} snapshotter has no merged dir`);
  return { root: merged, mount: { type: m.type, source: m.source, data: overlayData(m, readonly), cwd: m.cwd, readonly } };
}

function overlayData(m: Mount, layersOnly: boolean): string {
  const opts = m.options.filter((o) => o !== "ro" && o !== "rw");
  if (!layersOnly) return opts.join(",");
  const get = (k: string): string | undefined => opts.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
  const upper = get("upperdir");
  const lower = get("lowerdir");
  const rest = opts.filter((o) => !/^(upperdir|workdir|lowerdir)=/.test(o));
  // The upper dir as the top lower: a running container's overlay keeps its upper and work dirs locked.
  const lowers = [upper, lower].filter(Boolean).join(":");
  return [`lowerdir=${lowers}`, ...rest].join(",");
}

/** A passwd or group file's entry for `name`: its fields. */
function lookupColonFile(text: string, name: string): string[] | undefined {
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f[0] === name) return f;
  }
  return undefined;
}

export class ArchiveService {
  readonly containers: ContainerService;

  constructor(options: ArchiveServiceOptions) {
    this.containers = options.containers;
  }

  private get snapshotter() {
    return this.containers.images.layers.snapshotter;
  }

  private running(c: ContainerRecord): boolean {
    return c.State.Running && this.containers.pidAlive(c);
  }

  /** The layers alone (export, changes): read-only unless `readonly` is false. */
  private layerView(c: ContainerRecord, readonly = true): RootfsLocation {
    return layerLocation(this.snapshotter, c.ID, readonly);
  }

  /**
   * Where `p` is: a running container's own view (/proc/<pid>/root, its
   * mounts included); for a stopped one, the volume or bind mount it lies
   * in (its host directory, the path inside it), else its layers.
   */
  private async locate(c: ContainerRecord, p: string, writable: boolean): Promise<{ loc: RootfsLocation; path: string; abs: string; name?: string }> {
    const running = this.running(c);
    const loc: RootfsLocation = running ? { root: `/proc/${c.State.Pid}/root` } : this.layerView(c, !writable);
    const abs = await rootfsRealpath(loc, p);
    // A running container's view has its mounts; a stopped one's layers only show the mount points.
    const mp = running ? undefined : mountPointOf(c, abs);
    if (mp?.Source && isDirectory(mp.Source)) {
      const rest = abs.slice(mp.Destination.replace(/\/+$/, "").length) || "/";
      // Keep what the caller asked of the last element (trailing "/" or "/."), and its name.
      const tail = p.endsWith("/.") ? "/." : p.endsWith("/") ? "/" : "";
      return { loc: { root: mp.Source }, path: rest + tail, abs, name: dockerBaseName(p) };
    }
    return { loc, path: p, abs };
  }

  private notFound(err: unknown, p: string, ref: string): unknown {
    if (HakoError.is(err) && err.code === "ERR_NOT_FOUND") return new NotFoundError(`Could not find the file ${p} in container ${ref}`, { cause: err });
    return err;
  }

  /** HEAD /containers/{id}/archive. */
  async statPath(ref: string, p: string): Promise<PathStat> {
    checkPath(p);
    const c = this.containers.store.resolve(ref);
    try {
      const where = await this.locate(c, p, false);
      const stat = pathStatOf(await rootfsStat(where.loc, where.path));
      return where.name ? { ...stat, name: where.name } : stat;
    } catch (err) {
      throw this.notFound(err, p, ref);
    }
  }

  /** GET /containers/{id}/archive: the stat (for the header) and the tar. */
  async getArchive(ref: string, p: string): Promise<{ stat: PathStat; tar: Readable }> {
    checkPath(p);
    const c = this.containers.store.resolve(ref);
    try {
      const where = await this.locate(c, p, false);
      const stat = pathStatOf(await rootfsStat(where.loc, where.path));
      if (!where.name) return { stat, tar: rootfsGetTar(where.loc, where.path) };
      return { stat: { ...stat, name: where.name }, tar: rootfsGetTar(where.loc, where.path, { as: where.name === "/" ? "." : where.name }) };
    } catch (err) {
      throw this.notFound(err, p, ref);
    }
  }

  /** PUT /containers/{id}/archive: `tar` extracted under the directory `p`. */
  async putArchive(ref: string, p: string, tar: Readable, options: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean } = {}): Promise<void> {
    checkPath(p);
    const c = this.containers.store.resolve(ref);
    let where;
    try {
      where = await this.locate(c, p, true);
    } catch (err) {
      throw this.notFound(err, p, ref);
    }
    const mp = mountPointOf(c, where.abs);
    if (mp && !mp.RW) throw new InvalidArgumentError("mounted volume is marked read-only");
    if (!mp && c.HostConfig.ReadonlyRootfs) throw new InvalidArgumentError("container rootfs is marked read-only");
    // -a: the container's user owns what is copied in; without a user (moby's tarCopyOptions) the archive's owners stay, as without -a.
    const chown = options.copyUIDGID && c.Config.User ? await this.containerUser(c) : undefined;
    try {
      await rootfsPutTar(where.loc, where.path, tar, { noOverwriteDirNonDir: options.noOverwriteDirNonDir, ...(chown ? { chown } : {}) });
    } catch (err) {
      throw this.notFound(err, p, ref);
    }
  }

  /** The uid and gid of the container's Config.User (names looked up in its /etc/passwd and /etc/group). */
  private async containerUser(c: ContainerRecord): Promise<{ uid: number; gid: number }> {
    const user = c.Config.User ?? "";
    if (user === "") return { uid: 0, gid: 0 };
    const [u = "", g] = user.split(":", 2);
    let uid: number;
    let gid: number | undefined;
    if (/^\d+$/.test(u)) uid = Number(u);
    else {
      const entry = lookupColonFile(await this.readFile(c, "/etc/passwd"), u);
      if (!entry) throw new InvalidArgumentError(`unable to find user ${u}: no matching entries in passwd file`);
      uid = Number(entry[2]);
      gid = Number(entry[3]);
    }
    if (g !== undefined && g !== "") {
      if (/^\d+$/.test(g)) gid = Number(g);
      else {
        const entry = lookupColonFile(await this.readFile(c, "/etc/group"), g);
        if (!entry) throw new InvalidArgumentError(`unable to find group ${g}: no matching entries in group file`);
        gid = Number(entry[2]);
      }
    }
    return { uid, gid: gid ?? uid };
  }

  /** A small file of the container, "" when it is missing. */
  private async readFile(c: ContainerRecord, p: string, limit = 1 << 20): Promise<string> {
    let tar: Readable;
    try {
      tar = (await this.getArchive(c.ID, p)).tar;
    } catch (err) {
      if (HakoError.is(err) && err.code === "ERR_NOT_FOUND") return "";
      throw err;
    }
    const extract = tarStream.extract();
    const chunks: Buffer[] = [];
    let size = 0;
    extract.on("entry", (header, stream, next) => {
      stream.on("data", (b: unknown) => {
        if (!Buffer.isBuffer(b)) return;
        if (header.type === "file" && size < limit) {
          chunks.push(b);
          size += b.length;
        }
      });
      stream.on("end", next);
    });
    await new Promise<void>((resolve, reject) => {
      extract.on("finish", resolve);
      extract.on("error", reject);
      tar.on("error", reject);
      tar.pipe(extract);
    });
    return Buffer.concat(chunks).toString("utf8");
  }

  /** GET /containers/{id}/export: the layers' merged view as a tar. */
  exportContainer(ref: string): Readable {
    const c = this.containers.store.resolve(ref);
    return rootfsExportTar(this.layerView(c));
  }

  /** GET /containers/{id}/changes, as moby's overlay/naive Changes report them. */
  async changes(ref: string): Promise<FilesystemChange[]> {
    const c = this.containers.store.resolve(ref);
    const snap = this.snapshotter;
    const upper = snap.diffDir(c.ID);
    const lowerDirs = (snap.graphDriverData(c.ID).LowerDir ?? "").split(":").filter(Boolean);
    if (lowerDirs.length === 0) {
      const parent = snap.stat(c.ID).parent;
      if (parent) lowerDirs.push(snap.diffDir(parent));
    }
    const out: FilesystemChange[] = [];
    const changedDirs = new Set<string>();
    const add = (abs: string, kind: FilesystemChange["Kind"], isDir: boolean): void => {
      if (isDir) changedDirs.add(abs);
      if (kind !== CHANGE_MODIFY) {
        const parent = path.posix.dirname(abs);
        if (parent !== "/" && !changedDirs.has(parent)) {
          out.push({ Path: parent, Kind: CHANGE_MODIFY });
          changedDirs.add(parent);
        }
      }
      out.push({ Path: abs, Kind: kind });
    };
    const extract = tarStream.extract();
    extract.on("entry", (header, stream, next) => {
      stream.resume();
      stream.on("end", next);
      const name = header.name.replace(/\/+$/, "");
      const base = path.posix.basename(name);
      const dir = path.posix.dirname(name);
      const abs = `/${name}`;
      if (base === ".wh..wh..opq") {
        // An opaque directory reads as deleted (moby's overlayDeletedFile), its new children as added.
        const dirAbs = dir === "." ? "/" : `/${dir}`;
        const i = out.findIndex((ch) => ch.Path === dirAbs);
        if (i >= 0) out[i] = { Path: dirAbs, Kind: CHANGE_DELETE };
        return;
      }
      if (base.startsWith(".wh.")) {
        add(path.posix.join(dir === "." ? "/" : `/${dir}`, base.slice(4)), CHANGE_DELETE, false);
        return;
      }
      const isDir = header.type === "directory";
      let kind: FilesystemChange["Kind"] = CHANGE_ADD;
      for (const lower of lowerDirs) {
        const below = lstatInLayer(lower, name);
        if (!below) continue;
        if (isDir && below.isDirectory()) {
          const here = lstatInLayer(upper, name);
          if (here && here.size === below.size && here.mode === below.mode && sameFsTime(here, below)) return;
        }
        kind = CHANGE_MODIFY;
        break;
      }
      add(abs, kind, isDir);
    });
    const diff = snap.diff(c.ID);
    await new Promise<void>((resolve, reject) => {
      extract.on("finish", resolve);
      extract.on("error", reject);
      diff.on("error", (err) => {
        extract.destroy(err);
        reject(err);
      });
      diff.pipe(extract);
    });
    return out;
  }

  /** POST /commit: the container's layer on top of its image → a new image ID (tagged when repo is given). */
  async commit(ref: string, options: CommitOptions = {}): Promise<string> {
    const c = this.containers.store.resolve(ref);
    const images = this.containers.images;
    let tag: string | undefined;
    if (options.repo) tag = options.tag ? `${options.repo}:${options.tag}` : options.repo;
    if (tag) {
      const parsed = normalize(tag);
      if (parsed.digest) throw new InvalidArgumentError("refusing to create a tag with a digest reference");
    }
    const config = applyChanges(mergeConfig(options.config ?? {}, c.Config) as ImageRuntimeConfig, (options.changes ?? []).flatMap((s) => s.split("\n")).filter((s) => s.trim() !== ""));

    const image = images.images.get(c.Image);
    if (!image) throw new NotFoundError(`No such image: ${c.Image} (the image of container ${c.ID})`);
    const base = images.config(image);

    const pause = (options.pause ?? true) && c.State.Running && !c.State.Paused;
    if (pause) this.containers.pause(c.ID);
    let layer;
    try {
      layer = await images.addLayer(this.snapshotter.diff(c.ID), images.topChainId(image));
    } finally {
      if (pause) this.containers.unpause(c.ID);
    }

    const created = nowRfc3339Nano();
    const chains = chainIds(image.layers.map((l) => l.diffId));
    const newConfig: ImageConfig = {
      architecture: base.architecture,
      os: base.os,
      ...(base.variant ? { variant: base.variant } : {}),
      config,
      container: c.ID,
      container_config: c.Config as ImageRuntimeConfig,
      created,
      docker_version: "hako",
      rootfs: { type: "layers", diff_ids: [...base.rootfs.diff_ids, layer.diffId] },
      history: [...(base.history ?? []), { created, created_by: [c.Path, ...c.Args].join(" "), ...(options.author ? { author: options.author } : {}), ...(options.comment ? { comment: options.comment } : {}) }],
    };
    if (options.author) newConfig.author = options.author;
    if (options.comment) newConfig.comment = options.comment;
    const layers = [
      ...image.layers.map((l, i) => ({ diffId: l.diffId, blob: l.blob, size: images.layers.contentSize(chains[i]!) })),
      { diffId: layer.diffId, blob: layer.blob, size: layer.contentSize },
    ];
    const record = await images.commitImage(newConfig, layers, { ...(tag ? { tag } : {}), parent: image.id, source: "commit" });
    this.containers.publish("commit", c, { comment: options.comment ?? "", imageID: record.id, ...(tag ? { imageRef: tag } : {}) });
    return record.id;
  }
}

/** moby's merge(userConf, imageConf): what the request's config leaves unset comes from the container's. */
function mergeConfig(user: ContainerConfig, container: ContainerConfig): ContainerConfig {
  const out: ContainerConfig = { ...structuredClone(container) };
  for (const [k, v] of Object.entries(user) as [keyof ContainerConfig, unknown][]) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (typeof v === "object" && !Array.isArray(v) && Object.keys(v as object).length === 0) continue;
    (out as Record<string, unknown>)[k] = structuredClone(v);
  }
  return out;
}

/** lstat of `rel` under a layer dir, never through a symlink on the way (it would leave the layer). */
function lstatInLayer(dir: string, rel: string): BigIntStats | undefined {
  const parts = rel.split("/").filter(Boolean);
  let cur = dir;
  for (let i = 0; i < parts.length; i++) {
    cur = path.join(cur, parts[i]!);
    let st: BigIntStats;
    try {
      st = lstatSync(cur, { bigint: true });
    } catch {
      return undefined;
    }
    if (i === parts.length - 1) return st;
    if (!st.isDirectory()) return undefined;
  }
  return undefined;
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** moby's sameFsTime: seconds equal, and nanoseconds too unless either has none. */
function sameFsTime(a: BigIntStats, b: BigIntStats): boolean {
  const ns = 1_000_000_000n;
  if (a.mtimeNs / ns !== b.mtimeNs / ns) return false;
  const af = a.mtimeNs % ns;
  const bf = b.mtimeNs % ns;
  return af === 0n || bf === 0n || af === bf;
}
