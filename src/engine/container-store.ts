/**
 * Container records on disk, as moby keeps them: one directory per
 * container under the store's root with config.v2.json (the record minus
 * its HostConfig) and hostconfig.json, each replaced atomically; an
 * in-memory cache in front; lookups by full ID, name or unique ID prefix
 * in Docker's order.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { randomHexId } from "../common/ids.ts";
import { Trash } from "../common/trash.ts";
import path from "node:path";
import { ConflictError, InvalidArgumentError, NotFoundError, errorMessage, isErrno } from "../common/errors.ts";
import { writeFilesAtomic } from "../common/fs.ts";
import type { ContainerConfig, ContainerStatusName, Health, HostConfig, NetworkSettings } from "../spec/docker-api.ts";
import type { MountPointRecord } from "./types.ts";

/** Go's zero time as Docker prints it for "never". */
export const ZERO_TIME = "0001-01-01T00:00:00Z";

export interface ContainerStateRecord {
  Status: ContainerStatusName;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  Health?: Health;
}

/** A container as the engine persists it (moby's container.Container in config.v2.json). */
export interface ContainerRecord {
  ID: string;
  /** With the leading "/". */
  Name: string;
  /** RFC 3339 with nanoseconds. */
  Created: string;
  Path: string;
  Args: string[];
  /** The Config merged with the image's. */
  Config: ContainerConfig;
  /** Stored in hostconfig.json. */
  HostConfig: HostConfig;
  /** Image ID ("sha256:…"). */
  Image: string;
  /** The image reference as given to create. */
  ImageName: string;
  State: ContainerStateRecord;
  RestartCount: number;
  /** The snapshotter (storage driver) name. */
  Driver: string;
  Platform?: string;
  /** Destination → mount point. */
  MountPoints: Record<string, MountPointRecord>;
  LogPath: string;
  HostnamePath: string;
  HostsPath: string;
  ResolvConfPath: string;
  ExecIDs: string[];
  HasBeenStartedBefore: boolean;
  HasBeenManuallyStopped: boolean;
  SizeRw?: number;
  NetworkSettings?: Partial<NetworkSettings>;
  /**
   * `docker network disconnect` took the container off the network its
   * NetworkMode names: it starts without it until connected again (Docker
   * keeps NetworkMode and drops the endpoint).
   */
  ModeNetworkDisconnected?: boolean;
  MountLabel?: string;
  ProcessLabel?: string;
  AppArmorProfile?: string;
}

/** The state of a container that was never started. */
export function initialState(): ContainerStateRecord {
  return {
    Status: "created",
    Running: false,
    Paused: false,
    Restarting: false,
    OOMKilled: false,
    Dead: false,
    Pid: 0,
    ExitCode: 0,
    Error: "",
    StartedAt: ZERO_TIME,
    FinishedAt: ZERO_TIME,
  };
}

/**
 * The Status a state implies (moby State.StateString): paused and
 * restarting win over running; a never-started container is "created".
 */
export function statusOf(state: Omit<ContainerStateRecord, "Status">, removing = false): ContainerStatusName {
  if (state.Running) {
    if (state.Paused) return "paused";
    if (state.Restarting) return "restarting";
    return "running";
  }
  if (removing) return "removing";
  if (state.Dead) return "dead";
  if (!state.StartedAt || state.StartedAt === ZERO_TIME) return "created";
  return "exited";
}

/**
 * A new 64-hex container ID whose short form is not a number (Docker's
 * stringid.GenerateRandomID: "123456789012" would read as an integer).
 */
export function generateContainerId(): string {
  for (;;) {
    const id = randomHexId();
    if (!/^\d+$/.test(id.slice(0, 12))) return id;
  }
}

/** The files of one container under the store (docs/engine.md). */
export interface ContainerPaths {
  dir: string;
  config: string;
  hostConfig: string;
  hosts: string;
  hostname: string;
  resolvConf: string;
  log: string;
}

export interface LoadReport {
  loaded: number;
  /** Directories that could not be read; left on disk, not in the store. */
  skipped: { id: string; dir: string; error: string }[];
}

const CONFIG_FILE = "config.v2.json";
const HOSTCONFIG_FILE = "hostconfig.json";
const FULL_ID = /^[0-9a-f]{64}$/;

export class ContainerStore {
  readonly root: string;
  readonly #records = new Map<string, ContainerRecord>();
  readonly #byName = new Map<string, string>();
  /** The name each ID is indexed under (records are mutated in place, so the old name is kept here). */
  readonly #nameOf = new Map<string, string>();

  constructor(root: string) {
    this.root = root;
    mkdirSync(root, { recursive: true, mode: 0o710 });
  }

  paths(id: string): ContainerPaths {
    checkId(id);
    const dir = path.join(this.root, id);
    return {
      dir,
      config: path.join(dir, CONFIG_FILE),
      hostConfig: path.join(dir, HOSTCONFIG_FILE),
      hosts: path.join(dir, "hosts"),
      hostname: path.join(dir, "hostname"),
      resolvConf: path.join(dir, "resolv.conf"),
      log: path.join(dir, `${id}-json.log`),
    };
  }

  /**
   * Reads every container directory (at daemon start). A directory whose
   * record cannot be read is skipped and reported, not fatal: one corrupt
   * file must not keep the daemon from serving the others.
   */
  load(): LoadReport {
    const report: LoadReport = { loaded: 0, skipped: [] };
    this.#records.clear();
    this.#byName.clear();
    this.#nameOf.clear();
    let entries: string[];
    try {
      entries = readdirSync(this.root);
    } catch (err) {
      if (isErrno(err, "ENOENT")) return report;
      throw err;
    }
    for (const id of entries.sort()) {
      const dir = path.join(this.root, id);
      if (!FULL_ID.test(id)) continue;
      try {
        const record = this.#read(id);
        this.#index(record);
        report.loaded++;
      } catch (err) {
        report.skipped.push({ id, dir, error: errorMessage(err) });
      }
    }
    return report;
  }

  #read(id: string): ContainerRecord {
    const p = this.paths(id);
    const record = JSON.parse(readFileSync(p.config, "utf8")) as ContainerRecord;
    if (typeof record !== "object" || record === null || record.ID !== id) {
      throw new InvalidArgumentError(`${p.config}: not the record of container ${id}`);
    }
    if (typeof record.Name !== "string" || typeof record.State !== "object" || record.State === null) {
      throw new InvalidArgumentError(`${p.config}: Name or State missing`);
    }
    let hostConfig: HostConfig = {};
    try {
      hostConfig = JSON.parse(readFileSync(p.hostConfig, "utf8")) as HostConfig;
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw err;
    }
    record.HostConfig = hostConfig ?? {};
    record.MountPoints ??= {};
    record.ExecIDs ??= [];
    record.Args ??= [];
    return record;
  }

  #index(record: ContainerRecord): void {
    const oldName = this.#nameOf.get(record.ID);
    if (oldName !== undefined && this.#byName.get(oldName) === record.ID) this.#byName.delete(oldName);
    this.#records.set(record.ID, record);
    this.#byName.set(record.Name, record.ID);
    this.#nameOf.set(record.ID, record.Name);
  }

  /** What each container's files hold now: a save rewrites only a file that changes. */
  readonly #written = new Map<string, { hostConfig: string; config: string; settled: string }>();

  /**
   * ExecIDs stay in memory, as dockerd's do: execs do not outlive the
   * daemon. A save that changes only the runtime state (State,
   * NetworkSettings, HasBeenStartedBefore) is atomic but not fsynced (common/fs.ts, Durability):
   * start-up rebuilds it from the shims; anything else is durable.
   */
  #write(record: ContainerRecord): void {
    const p = this.paths(record.ID);
    const { HostConfig: hostConfig, ExecIDs: _inMemory, ...rest } = record;
    const next = {
      hostConfig: JSON.stringify(hostConfig ?? {}),
      config: JSON.stringify(rest),
      settled: JSON.stringify({ ...rest, State: null, NetworkSettings: null, HasBeenStartedBefore: null }),
    };
    const last = this.#written.get(record.ID);
    this.#written.delete(record.ID); // a failed write leaves nothing to trust
    // A create writes both files: together, so one commit takes both (writeFilesAtomic).
    const durable: { file: string; data: string; mode: number }[] = [];
    const runtimeOnly: typeof durable = [];
    if (next.hostConfig !== last?.hostConfig) durable.push({ file: p.hostConfig, data: next.hostConfig, mode: 0o644 });
    if (next.config !== last?.config) (next.settled === last?.settled ? runtimeOnly : durable).push({ file: p.config, data: next.config, mode: 0o600 });
    if (durable.length) writeFilesAtomic(durable);
    if (runtimeOnly.length) writeFilesAtomic(runtimeOnly, "atomic");
    this.#written.set(record.ID, next);
  }

  /** Makes the container's directory and writes its first record. */
  create(record: ContainerRecord): ContainerRecord {
    checkId(record.ID);
    if (this.#records.has(record.ID)) throw new ConflictError(`container ${record.ID} already exists`);
    const holder = this.#byName.get(record.Name);
    if (holder !== undefined) {
      throw new ConflictError(
        `Conflict. The container name "${record.Name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    const dir = this.paths(record.ID).dir;
    try {
      mkdirSync(dir, { mode: 0o710 });
    } catch (err) {
      if (isErrno(err, "EEXIST")) throw new ConflictError(`container directory ${dir} already exists`);
      throw err;
    }
    try {
      this.#write(record);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    this.#index(record);
    return record;
  }

  /** Writes the record (atomically) and makes it the cached one. */
  save(record: ContainerRecord): void {
    checkId(record.ID);
    this.#write(record);
    this.#index(record);
  }

  /** The record with exactly this full ID. */
  get(id: string): ContainerRecord | undefined {
    return this.#records.get(id);
  }

  /**
   * A container by full ID, exact name ("x" or "/x"), or unique ID prefix,
   * in Docker's order (daemon.GetContainer).
   */
  resolve(ref: string): ContainerRecord {
    const found = this.find(ref);
    if (!found) throw new NotFoundError(`No such container: ${ref}`);
    return found;
  }

  /** resolve without the not-found error (ambiguity and bad input still throw). */
  find(ref: string): ContainerRecord | undefined {
    if (ref === "") throw new InvalidArgumentError(`invalid name or ID supplied: ""`);
    const byId = this.#records.get(ref);
    if (byId) return byId;
    const byName = this.#byName.get(ref.startsWith("/") ? ref : `/${ref}`);
    if (byName) return this.#records.get(byName);
    let match: ContainerRecord | undefined;
    for (const [id, record] of this.#records) {
      if (!id.startsWith(ref)) continue;
      if (match) throw new InvalidArgumentError(`multiple IDs found with provided prefix: ${ref}`);
      match = record;
    }
    return match;
  }

  /** Every record, newest first (as docker ps lists). */
  list(): ContainerRecord[] {
    return [...this.#records.values()].sort((a, b) => (a.Created < b.Created ? 1 : a.Created > b.Created ? -1 : 0));
  }

  /** Removes the container's directory and everything in it (logs, hosts files). */
  remove(id: string): void {
    checkId(id);
    Trash.beside(this.root).discard(this.paths(id).dir);
    const name = this.#nameOf.get(id);
    if (name !== undefined && this.#byName.get(name) === id) this.#byName.delete(name);
    this.#nameOf.delete(id);
    this.#records.delete(id);
    this.#written.delete(id);
  }

  /** True when the directory of `id` exists on disk (even if its record is not loaded). */
  exists(id: string): boolean {
    return existsSync(this.paths(id).dir);
  }
}

function checkId(id: string): void {
  if (!FULL_ID.test(id)) throw new InvalidArgumentError(`invalid container ID ${JSON.stringify(id)}`);
}
