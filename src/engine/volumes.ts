/**
 * Named volumes, Docker's "local" driver: a volume is a directory
 * <root>/<name>/_data with its metadata in <root>/<name>/opts.json
 * (created time, labels, driver options, whether the image's content was
 * copied in). Only plain directories for now: the driver's mount options
 * (type/device/o: tmpfs, nfs, binds) need the native helper.
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, type Stats } from "node:fs";
import path from "node:path";
import { ConflictError, InvalidArgumentError, NotFoundError, NotImplementedError, isErrno } from "../common/errors.ts";
import { matchesLabels, matchesRegexp } from "../common/filters.ts";
import { writeFileAtomic } from "../common/fs.ts";
import { randomHexId } from "../common/ids.ts";
import type { Volume, VolumePruneResponse } from "../spec/docker-api.ts";
import type { VolumeRequest } from "./types.ts";

/** Docker's label on volumes made for a container without a name (prune removes only these by default). */
export const ANONYMOUS_LABEL = "com.docker.volume.anonymous";
export const LOCAL_DRIVER = "local";
const DATA_DIR = "_data";
const META_FILE = "opts.json";
const NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]";
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const VALID_OPTS = new Set(["type", "o", "device", "size"]);
const MANDATORY_OPTS: Record<string, string[]> = { device: ["type"], type: ["device"], o: ["device", "type"] };

/** What opts.json holds. */
interface VolumeMeta {
  CreatedAt: string;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  /** The image's content was copied in (or the volume was used without a copy). */
  Initialized?: boolean;
}

export interface CreateVolumeOptions extends VolumeRequest {
  driver?: string;
}

/** Filters as the API passes them: key → values (a filters JSON decoded to lists). */
export type VolumeFilters = Record<string, string[]>;

/** IDs of the containers that use a volume (from the container records). */
export type VolumeUsage = (name: string) => string[];

/** The volume's name checked as the local driver checks it (its messages). */
export function validateVolumeName(name: string): void {
  if (name.length === 1) {
    throw new InvalidArgumentError(`create ${name}: volume name is too short, names should be at least two alphanumeric characters`);
  }
  if (!NAME_RE.test(name)) {
    throw new InvalidArgumentError(
      `create ${name}: ${JSON.stringify(name)} includes invalid characters for a local volume name, only ${JSON.stringify(NAME_CHARS)} are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
}

/**
 * Checks the local driver's options; returns the directory a bind volume
 * (type=none, o=bind, device=/path: compose's common "driver_opts") stands
 * for, undefined for a plain directory volume.
 */
function validateDriverOpts(name: string, opts: Record<string, string>): string | undefined {
  const keys = Object.keys(opts);
  if (keys.length === 0) return undefined;
  for (const k of keys) {
    if (!VALID_OPTS.has(k)) throw new InvalidArgumentError(`create ${name}: invalid option: ${JSON.stringify(k)}`);
  }
  if ("size" in opts) throw new InvalidArgumentError(`create ${name}: quota size requested but no quota support`);
  for (const [opt, required] of Object.entries(MANDATORY_OPTS)) {
    if (!(opt in opts)) continue;
    for (const r of required) {
      if (!(r in opts)) throw new InvalidArgumentError(`create ${name}: missing required option: ${JSON.stringify(r)}`);
    }
  }
  const flags = (opts.o ?? "").split(",").filter(Boolean);
  if ((opts.type === "none" || opts.type === "") && flags.length > 0 && flags.every((f) => f === "bind" || f === "rbind")) {
    if (!path.isAbsolute(opts.device!)) throw new InvalidArgumentError(`create ${name}: the device of a bind volume must be an absolute path: ${JSON.stringify(opts.device)}`);
    return path.normalize(opts.device!);
  }
  throw new NotImplementedError(
    `create ${name}: the local driver's mount options (type=${opts.type ?? ""} device=${opts.device ?? ""} o=${opts.o ?? ""}) are not supported yet; plain directory volumes and binds (type=none o=bind) are`,
  );
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

/** Bytes used by the files under `dir` (not following links). */
function directorySize(dir: string): number {
  let total = 0;
  const walk = (d: string): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = path.join(d, e.name);
      let st: Stats;
      try {
        st = lstatSync(full);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(full);
      else total += st.size;
    }
  };
  walk(dir);
  return total;
}

function parseBoolFilter(name: string, values: string[]): boolean {
  if (values.length !== 1) throw new InvalidArgumentError(`invalid filter '${name}=${values.join(",")}': only one value is expected`);
  const v = values[0]!.toLowerCase();
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw new InvalidArgumentError(`invalid filter '${name}=${values[0]}'`);
}

function checkFilters(filters: VolumeFilters, accepted: readonly string[]): void {
  for (const key of Object.keys(filters)) {
    if (!accepted.includes(key)) throw new InvalidArgumentError(`invalid filter '${key}'`);
  }
}

export class VolumeStore {
  /** Directory holding <name>/_data (e.g. /var/lib/hako/volumes). */
  readonly root: string;
  readonly #meta = new Map<string, VolumeMeta>();
  #usage: VolumeUsage;

  constructor(root: string, options: { usage?: VolumeUsage } = {}) {
    this.root = root;
    this.#usage = options.usage ?? (() => []);
    mkdirSync(root, { recursive: true, mode: 0o701 });
    this.#load();
  }

  /** Where the engine learns which containers use a volume (set once the container store is up). */
  setUsage(usage: VolumeUsage): void {
    this.#usage = usage;
  }

  #load(): void {
    for (const e of readdirSync(this.root, { withFileTypes: true })) {
      if (!e.isDirectory() || !NAME_RE.test(e.name)) continue;
      const dir = path.join(this.root, e.name);
      let meta: VolumeMeta | undefined;
      try {
        meta = JSON.parse(readFileSync(path.join(dir, META_FILE), "utf8")) as VolumeMeta;
      } catch (err) {
        // No metadata (a directory someone made, or a crash between mkdir and write): a volume if _data is there.
        if (!isErrno(err, "ENOENT") && !(err instanceof SyntaxError)) throw err;
        try {
          const st = lstatSync(path.join(dir, DATA_DIR));
          if (!st.isDirectory()) continue;
          meta = { CreatedAt: st.mtime.toISOString().replace(/\.\d+Z$/, "Z"), Labels: {}, Options: {} };
        } catch {
          continue;
        }
      }
      this.#meta.set(e.name, { CreatedAt: meta.CreatedAt ?? now(), Labels: meta.Labels ?? {}, Options: meta.Options ?? {}, Initialized: meta.Initialized });
    }
  }

  /** The host directory of a volume's data. */
  path(name: string): string {
    return path.join(this.root, name, DATA_DIR);
  }

  #view(name: string, meta: VolumeMeta): Volume {
    return {
      CreatedAt: meta.CreatedAt,
      Driver: LOCAL_DRIVER,
      Labels: { ...meta.Labels },
      Mountpoint: this.path(name),
      Name: name,
      Options: Object.keys(meta.Options).length ? { ...meta.Options } : null,
      Scope: "local",
    };
  }

  #saveMeta(name: string, meta: VolumeMeta): void {
    writeFileAtomic(path.join(this.root, name, META_FILE), JSON.stringify(meta), 0o600);
  }

  /**
   * Creates a volume (a random 64-hex name when none is given: an
   * anonymous volume). Creating an existing name returns it, as Docker
   * does, unless it was created with other labels or options.
   */
  create(name?: string, options: CreateVolumeOptions = {}): Volume {
    const driver = options.driver || LOCAL_DRIVER;
    const anonymous = !name || options.anonymous === true;
    const volName = name || randomHexId();
    if (driver !== LOCAL_DRIVER) throw new NotFoundError(`error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    validateVolumeName(volName);
    const labels: Record<string, string> = { ...(options.labels ?? {}) };
    if (anonymous) labels[ANONYMOUS_LABEL] = "";
    const driverOpts = { ...(options.driverOpts ?? {}) };
    const existing = this.#meta.get(volName);
    if (existing) {
      if (Object.keys(driverOpts).length && !sameMap(driverOpts, existing.Options)) {
        throw new ConflictError(`create ${volName}: volume already exists with different options`);
      }
      return this.#view(volName, existing);
    }
    const bindDevice = validateDriverOpts(volName, driverOpts);
    const dir = path.join(this.root, volName);
    const meta: VolumeMeta = { CreatedAt: now(), Labels: labels, Options: driverOpts };
    try {
      mkdirSync(dir, { mode: 0o701 });
      // dockerd mounts the device on _data when a container uses it; a link there gives the containers' binds the same directory.
      if (bindDevice) symlinkSync(bindDevice, path.join(dir, DATA_DIR));
      else mkdirSync(path.join(dir, DATA_DIR), { mode: 0o755 });
      this.#saveMeta(volName, meta);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    this.#meta.set(volName, meta);
    return this.#view(volName, meta);
  }

  /** The data path of volume `name`, creating the volume when it does not exist (the engine's `volumes` callback). */
  ensure(name: string, request: VolumeRequest = {}): string {
    if (!this.#meta.has(name)) this.create(name, request);
    return this.path(name);
  }

  has(name: string): boolean {
    return this.#meta.has(name);
  }

  /** IDs of the containers that use volume `name` (system df's RefCount). */
  users(name: string): string[] {
    return this.#usage(name);
  }

  get(name: string): Volume {
    const meta = this.#meta.get(name);
    if (!meta) throw new NotFoundError(`get ${name}: no such volume`);
    return this.#view(name, meta);
  }

  /** GET /volumes: filters name (regexp), driver, label (key or key=value), dangling (true/false). */
  list(filters: VolumeFilters = {}): Volume[] {
    checkFilters(filters, ["name", "driver", "label", "dangling"]);
    const dangling = filters.dangling ? parseBoolFilter("dangling", filters.dangling) : undefined;
    const out: Volume[] = [];
    for (const [name, meta] of [...this.#meta.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (filters.name?.length && !matchesRegexp(filters.name, name)) continue;
      if (filters.driver?.length && !filters.driver.includes(LOCAL_DRIVER)) continue;
      if (filters.label?.length && !matchesLabels(filters.label, meta.Labels)) continue;
      if (dangling !== undefined && (this.#usage(name).length === 0) !== dangling) continue;
      out.push(this.#view(name, meta));
    }
    return out;
  }

  /**
   * Removes a volume. One in use by a container is refused even with
   * force (Docker's rule); force only hides "no such volume".
   */
  remove(name: string, options: { force?: boolean } = {}): void {
    if (!this.#meta.has(name)) {
      if (options.force) return;
      throw new NotFoundError(`get ${name}: no such volume`);
    }
    const users = this.#usage(name);
    if (users.length > 0) throw new ConflictError(`remove ${name}: volume is in use - [${users.join(", ")}]`);
    const dir = path.resolve(this.root, name);
    // Never outside the root, whatever the name (validated at create, but the directory came from disk).
    if (path.dirname(dir) !== path.resolve(this.root)) throw new InvalidArgumentError(`remove ${name}: not a volume of ${this.root}`);
    rmSync(dir, { recursive: true, force: true });
    this.#meta.delete(name);
  }

  /**
   * POST /volumes/prune: unused volumes; only anonymous ones unless the
   * filter all=true (API ≥ 1.42; the API layer adds all=true for older
   * clients). Filters label and label! as Docker.
   */
  prune(filters: VolumeFilters = {}): VolumePruneResponse {
    checkFilters(filters, ["label", "label!", "all"]);
    const all = filters.all ? parseAll(filters.all) : false;
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const [name, meta] of [...this.#meta.entries()]) {
      if (!all && !(ANONYMOUS_LABEL in meta.Labels)) continue;
      if (filters.label?.length && !matchesLabels(filters.label, meta.Labels)) continue;
      if (filters["label!"]?.length && matchesLabels(filters["label!"], meta.Labels)) continue;
      if (this.#usage(name).length > 0) continue;
      const size = directorySize(this.path(name));
      try {
        this.remove(name);
      } catch {
        continue; // taken meanwhile
      }
      deleted.push(name);
      reclaimed += size;
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  /**
   * Whether the engine should copy the image's content at the mount
   * destination into this volume now: never done before and the volume
   * is empty (Docker copies only into an empty volume).
   */
  needsCopyUp(name: string): boolean {
    const meta = this.#meta.get(name);
    if (!meta || meta.Initialized) return false;
    try {
      return readdirSync(this.path(name)).length === 0;
    } catch {
      return false;
    }
  }

  /** Records that the volume got its content (or must never get the image's). */
  markInitialized(name: string): void {
    const meta = this.#meta.get(name);
    if (!meta) throw new NotFoundError(`get ${name}: no such volume`);
    if (meta.Initialized) return;
    meta.Initialized = true;
    this.#saveMeta(name, meta);
  }

  /** Bytes used by a volume (docker system df). */
  size(name: string): number {
    if (!this.#meta.has(name)) throw new NotFoundError(`get ${name}: no such volume`);
    return directorySize(this.path(name));
  }
}

function parseAll(values: string[]): boolean {
  if (values.length > 1) throw new InvalidArgumentError(`invalid filter 'all=${values.join(",")}': only one value is expected`);
  const v = values[0]!;
  const b = ["1", "t", "T", "TRUE", "true", "True"].includes(v) ? true : ["0", "f", "F", "FALSE", "false", "False"].includes(v) ? false : undefined;
  if (b === undefined) {
    throw new InvalidArgumentError(`invalid filter 'all': strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`);
  }
  return b;
}

