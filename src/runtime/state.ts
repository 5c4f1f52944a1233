/**
 * What the runtime keeps on disk per container (runc's state.json): enough to
 * find the init again in a later command, to tell "created" from "running"
 * and to clean up at delete.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { ConflictError, InvalidArgumentError, NotFoundError, isErrno } from "../common/errors.ts";
import { writeFileAtomic } from "../common/fs.ts";
import { OCI_VERSION, type ContainerStatus, type Spec, type State } from "../spec/oci-runtime.ts";

export const DEFAULT_STATE_ROOT = "/run/hako-runtime";

export interface ContainerRecord {
  id: string;
  bundle: string;
  /** The init's pid (host view); 0 until it exists. */
  pid: number;
  /** Start time of the init in clock ticks (/proc/<pid>/stat field 22), against pid reuse. */
  pidStartTime: number;
  created: string;
  /** "creating" while create runs; afterwards the live status is computed. */
  phase: "creating" | "created";
  cgroupPath: string;
  spec: Spec;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,1023}$/;

export function validateId(id: string): void {
  if (!ID_PATTERN.test(id)) {
    throw new InvalidArgumentError(`invalid container id "${id}": use letters, digits and _ . + - (not starting with a symbol)`);
  }
}

/** Start time of a process in clock ticks, or 0 when it does not exist. */
export function processStartTime(pid: number, options: { zombies?: boolean } = {}): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command may contain spaces and parentheses: fields start after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (!options.zombies && (fields[0] === "Z" || fields[0] === "X")) return 0; // exited, not yet reaped
    return Number(fields[19]);
  } catch {
    return 0;
  }
}

export class StateStore {
  readonly root: string;

  constructor(root = DEFAULT_STATE_ROOT) {
    this.root = path.resolve(root);
  }

  dir(id: string): string {
    return path.join(this.root, id);
  }

  fifoPath(id: string): string {
    return path.join(this.dir(id), "exec.fifo");
  }

  /** Claims the id: the directory's creation is the lock against a concurrent create. */
  claim(id: string): void {
    validateId(id);
    mkdirSync(this.root, { recursive: true, mode: 0o711 });
    try {
      mkdirSync(this.dir(id), { mode: 0o711 });
    } catch (err) {
      if (isErrno(err, "EEXIST")) throw new ConflictError(`container with id "${id}" already exists`);
      throw err;
    }
  }

  save(record: ContainerRecord): void {
    writeFileAtomic(path.join(this.dir(record.id), "state.json"), JSON.stringify(record), 0o600);
  }

  load(id: string): ContainerRecord {
    validateId(id);
    let text: string;
    try {
      text = readFileSync(path.join(this.dir(id), "state.json"), "utf8");
    } catch (err) {
      if (isErrno(err, "ENOENT")) throw new NotFoundError(`container "${id}" does not exist`);
      throw err;
    }
    return JSON.parse(text) as ContainerRecord;
  }

  remove(id: string): void {
    rmSync(this.dir(id), { recursive: true, force: true });
  }

  list(): string[] {
    try {
      return readdirSync(this.root).filter((name) => existsSync(path.join(this.root, name, "state.json")));
    } catch (err) {
      if (isErrno(err, "ENOENT")) return [];
      throw err;
    }
  }

  /** The live status: from the init's existence and whether start consumed the fifo. */
  status(record: ContainerRecord): ContainerStatus {
    if (record.phase === "creating") return record.pid && this.alive(record) ? "created" : "creating";
    if (!this.alive(record)) return "stopped";
    return existsSync(this.fifoPath(record.id)) ? "created" : "running";
  }

  alive(record: ContainerRecord): boolean {
    // pidStartTime 0 (unknown) must not match the 0 of a process that is gone.
    return record.pid > 0 && record.pidStartTime > 0 && processStartTime(record.pid) === record.pidStartTime;
  }

  state(record: ContainerRecord): State {
    const status = this.status(record);
    const state: State = { ociVersion: OCI_VERSION, id: record.id, status, bundle: record.bundle };
    if (status !== "stopped" && record.pid) state.pid = record.pid;
    if (record.spec.annotations && Object.keys(record.spec.annotations).length) state.annotations = record.spec.annotations;
    return state;
  }

  createdAt(id: string): Date {
    return statSync(this.dir(id)).birthtime;
  }
}
