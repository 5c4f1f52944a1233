/**
 * The one TypeScript module that changes links, addresses and routes. Node
 * can neither open AF_NETLINK sockets nor setns() (it is multi-threaded), so
 * the work is written as a batch and executed by `hako-shim netlink serve`
 * (native/src/netlink.c): one long-lived helper process runs the batches
 * one after another, so a container's whole network set-up costs one write
 * and one answer, no spawn (a spawn from Node is ~2 ms, more than the
 * kernel's work). A helper too old to serve falls back to one process per
 * batch.
 *
 * Read-only queries of the host's own namespace need no helper: sysfs and
 * /proc/net say enough.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import { readFileSync, readdirSync, readlinkSync, existsSync } from "node:fs";
import path from "node:path";
import { HakoError, InternalError, InvalidArgumentError, type ErrorCode } from "../common/errors.ts";
import { helperPath } from "../native/shim.ts";

/** A network namespace: a pid (its /proc/<pid>/ns/net), an absolute path of a namespace file, or the helper's own. */
export type NetnsRef = number | string;

export type NetlinkOp =
  | { op: "netns"; netns: NetnsRef | "host" }
  | { op: "bridge-add"; name: string; mtu?: number }
  | { op: "veth-add"; name: string; peer: string; peerNetns?: NetnsRef }
  | {
      op: "link-set";
      name: string;
      up?: boolean;
      /** A bridge to enslave to; null to leave the current one. */
      master?: string | null;
      mtu?: number;
      rename?: string;
      netns?: NetnsRef;
      address?: string;
      /** A bridge port's hairpin mode (frames may leave by the port they came in by). */
      hairpin?: boolean;
    }
  | { op: "link-del"; name: string }
  | { op: "addr-add"; name: string; cidr: string }
  | { op: "route-add"; dst: "default" | string; via?: string; dev?: string }
  | { op: "sysctl"; key: string; value: string };

/** errno values the helper reports that we give meaning to. */
const EPERM = 1;
const ENOENT = 2;
const ESRCH = 3;
const EACCES = 13;
const EEXIST = 17;
const ENODEV = 19;
const EINVAL = 22;
const ERANGE = 34;
const EADDRNOTAVAIL = 99;
const ENETUNREACH = 101;

function codeForErrno(errno: number): ErrorCode {
  switch (errno) {
    case EEXIST:
      return "ERR_CONFLICT";
    case ENOENT:
    case ENODEV:
    case ESRCH:
      return "ERR_NOT_FOUND";
    case EINVAL:
    case ERANGE:
    case EADDRNOTAVAIL:
    case ENETUNREACH:
      return "ERR_INVALID_ARGUMENT";
    case EPERM:
    case EACCES:
      return "ERR_FORBIDDEN";
    default:
      return "ERR_INTERNAL";
  }
}

/** A batch op the kernel (or the helper) refused: which op, on what, with which errno. */
export class NetlinkError extends HakoError {
  readonly index: number;
  readonly errno: number;
  readonly op: NetlinkOp | undefined;

  constructor(message: string, index: number, errno: number, op: NetlinkOp | undefined) {
    super(codeForErrno(errno), message);
    this.index = index;
    this.errno = errno;
    this.op = op;
  }
}

// ------------------------------------------------------------------ encoding

const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const ADDRESS = /^[0-9a-fA-F.:]{2,45}$/;
const CIDR = /^[0-9a-fA-F.:]{2,45}\/\d{1,3}$/;
const SYSCTL_KEY = /^[A-Za-z0-9_.\/-]{1,200}$/;
const SYSCTL_VALUE = /^[A-Za-z0-9_.:,\/-]{1,200}$/;

/** Kernel interface names: at most 15 bytes, no '/', ':' or spaces, not "." or "..". */
export function isValidIfName(name: string): boolean {
  return IFNAME.test(name) && name !== "." && name !== "..";
}

function ifname(name: string, what: string): string {
  if (!isValidIfName(name)) throw new InvalidArgumentError(`invalid ${what} interface name ${JSON.stringify(name)} (1 to 15 of A-Z a-z 0-9 _ . @ -)`);
  return name;
}

function netnsWord(ns: NetnsRef | "host"): string {
  if (typeof ns === "number") {
    if (!Number.isInteger(ns) || ns <= 0) throw new InvalidArgumentError(`invalid network namespace pid ${ns}`);
    return String(ns);
  }
  if (ns === "host") return ns;
  if (!path.isAbsolute(ns) || /[\s]/.test(ns) || ns.length > 200) {
    throw new InvalidArgumentError(`invalid network namespace path ${JSON.stringify(ns)} (absolute, without spaces)`);
  }
  return ns;
}

function mtuWord(mtu: number): string {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new InvalidArgumentError(`invalid MTU ${mtu} (68 to 65535)`);
  return String(mtu);
}

function checked(re: RegExp, value: string, what: string): string {
  if (!re.test(value)) throw new InvalidArgumentError(`invalid ${what} ${JSON.stringify(value)}`);
  return value;
}

/** One op as the helper's line; throws InvalidArgumentError for anything it should not see. */
export function encodeOp(op: NetlinkOp): string {
  switch (op.op) {
    case "netns":
      return `netns ${netnsWord(op.netns)}`;
    case "bridge-add":
      return ["bridge-add", ifname(op.name, "bridge"), ...(op.mtu !== undefined ? [mtuWord(op.mtu)] : [])].join(" ");
    case "veth-add": {
      const words = ["veth-add", ifname(op.name, "veth"), ifname(op.peer, "veth peer")];
      if (op.peerNetns !== undefined) words.push(netnsWord(op.peerNetns));
      return words.join(" ");
    }
    case "link-set": {
      const words = ["link-set", ifname(op.name, "link")];
      if (op.netns !== undefined) words.push("netns", netnsWord(op.netns));
      if (op.rename !== undefined) words.push("name", ifname(op.rename, "new"));
      if (op.address !== undefined) words.push("address", checked(MAC, op.address, "MAC address"));
      if (op.mtu !== undefined) words.push("mtu", mtuWord(op.mtu));
      if (op.master === null) words.push("nomaster");
      else if (op.master !== undefined) words.push("master", ifname(op.master, "master"));
      if (op.hairpin !== undefined) words.push("hairpin", op.hairpin ? "on" : "off");
      if (op.up !== undefined) words.push(op.up ? "up" : "down");
      return words.join(" ");
    }
    case "link-del":
      return `link-del ${ifname(op.name, "link")}`;
    case "addr-add":
      return `addr-add ${ifname(op.name, "link")} ${checked(CIDR, op.cidr, "address")}`;
    case "route-add": {
      const words = ["route-add", op.dst === "default" ? "default" : checked(CIDR, op.dst, "route destination")];
      if (op.via !== undefined) words.push("via", checked(ADDRESS, op.via, "gateway"));
      if (op.dev !== undefined) words.push("dev", ifname(op.dev, "route"));
      if (op.via === undefined && op.dev === undefined) throw new InvalidArgumentError(`route to ${op.dst} needs a gateway or a device`);
      return words.join(" ");
    }
    case "sysctl": {
      const key = checked(SYSCTL_KEY, op.key, "sysctl key");
      if (key.startsWith("/") || key.includes("..")) {
        throw new InvalidArgumentError(`invalid sysctl key ${JSON.stringify(op.key)}`);
      }
      return `sysctl ${key} ${checked(SYSCTL_VALUE, op.value, "sysctl value")}`;
    }
    default: {
      const never: never = op;
      throw new InvalidArgumentError(`unknown netlink op ${JSON.stringify(never)}`);
    }
  }
}

export function encodeBatch(ops: readonly NetlinkOp[]): string {
  return ops.map((op) => encodeOp(op) + "\n").join("");
}

// ------------------------------------------------------------------ running

const FAILURE = /^error (-?\d+) (\d+) (.*)$/m;

/** The helper's `error <index> <errno> <text>` line as an error with context, or undefined. */
export function parseFailure(stderr: string, ops: readonly NetlinkOp[]): NetlinkError | undefined {
  const m = FAILURE.exec(stderr);
  if (!m) return undefined;
  const index = Number(m[1]);
  const errno = Number(m[2]);
  const where = index >= 0 ? ` (operation ${index + 1} of ${ops.length})` : "";
  return new NetlinkError(`netlink: ${m[3]}${where}`, index, errno, index >= 0 ? ops[index] : undefined);
}

/**
 * Executes the ops in order in the netlink helper. Resolves when all
 * succeeded; rejects with a NetlinkError naming the first op that failed
 * (nothing before it is undone: the caller cleans up what it asked for).
 */
export function runNetlink(ops: readonly NetlinkOp[]): Promise<void> {
  if (ops.length === 0) return Promise.resolve();
  let input: string;
  try {
    input = encodeBatch(ops);
  } catch (err) {
    return Promise.reject(err);
  }
  if (serveUnsupported) return runOnce(ops, input);
  try {
    helper ??= new NetlinkHelper();
  } catch (err) {
    // helperPath() throws when the helper is not built: a rejection, as for any other failure.
    return Promise.reject(err);
  }
  return helper.run(ops, input);
}

/** Stops the long-lived helper (it also ends by itself when this process does). */
export function closeNetlinkHelper(): void {
  helper?.close();
  helper = undefined;
}

let helper: NetlinkHelper | undefined;
/** Set when the helper answered `serve` with its usage: an old binary. */
let serveUnsupported = false;

interface PendingBatch {
  ops: readonly NetlinkOp[];
  input: string;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * `hako-shim netlink serve`: batches written one after another, each ended
 * by a line `end`, answered in order by one line each. The process does not
 * keep hakod (or a test) alive while idle: it is referenced only while a
 * batch waits for its answer.
 */
class NetlinkHelper {
  readonly #child: ChildProcess;
  readonly #pending: PendingBatch[] = [];
  #buffer = "";
  #stderr = "";
  #answered = false;
  #closed = false;

  constructor() {
    this.#child = spawn(helperPath(), ["netlink", "serve"], { stdio: ["pipe", "pipe", "pipe"] });
    this.#child.stdout!.setEncoding("utf8").on("data", (chunk: string) => this.#onData(chunk));
    this.#child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      if (this.#stderr.length < 64 * 1024) this.#stderr += chunk;
    });
    this.#child.stdin!.on("error", () => {}); // EPIPE when it died: "close" says so
    this.#child.on("error", (err) => this.#fail(new InternalError(`start the netlink helper: ${err.message}`, { cause: err })));
    this.#child.on("close", (code, signal) => {
      if (helper === this) helper = undefined;
      if (!this.#answered && code === 2 && /usage/.test(this.#stderr)) {
        // An old helper without `serve`: one process per batch, as it was.
        serveUnsupported = true;
        for (const p of this.#pending.splice(0)) runOnce(p.ops, p.input).then(p.resolve, p.reject);
        return;
      }
      const why = this.#stderr.trim() || (signal ? `killed by ${signal}` : `exit status ${code}`);
      this.#fail(new InternalError(`netlink helper (pid ${this.#child.pid}) ended: ${why}`));
    });
    this.#idle();
  }

  run(ops: readonly NetlinkOp[], input: string): Promise<void> {
    if (this.#closed) {
      if (helper === this) helper = undefined;
      return runNetlink(ops);
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ ops, input, resolve, reject });
      this.#busy();
      this.#child.stdin!.write(`${input}end\n`);
    });
  }

  close(): void {
    this.#closed = true;
    if (helper === this) helper = undefined;
    this.#child.stdin!.end();
    this.#idle();
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    for (let nl = this.#buffer.indexOf("\n"); nl >= 0; nl = this.#buffer.indexOf("\n")) {
      const line = this.#buffer.slice(0, nl);
      this.#buffer = this.#buffer.slice(nl + 1);
      this.#answered = true;
      const p = this.#pending.shift();
      if (!p) continue;
      if (line === "ok") p.resolve();
      else p.reject(parseFailure(line, p.ops) ?? new InternalError(`netlink helper: unexpected answer ${JSON.stringify(line.slice(0, 200))}`));
    }
    if (this.#pending.length === 0) this.#idle();
  }

  #fail(err: Error): void {
    this.#closed = true;
    if (helper === this) helper = undefined;
    for (const p of this.#pending.splice(0)) p.reject(err);
    this.#idle();
  }

  /** Waiting for an answer keeps the event loop alive; an idle helper does not. */
  #busy(): void {
    this.#child.ref();
    (this.#child.stdout as Socket | null)?.ref();
  }

  #idle(): void {
    this.#child.unref();
    for (const s of [this.#child.stdin, this.#child.stdout, this.#child.stderr]) (s as Socket | null)?.unref();
  }
}

/** One helper process for one batch (a helper binary without `serve`). */
function runOnce(ops: readonly NetlinkOp[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(helperPath(), ["netlink"], { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      if (stderr.length < 64 * 1024) stderr += chunk;
    });
    child.stdin!.on("error", () => {}); // EPIPE when it failed early: its status says why
    child.on("error", (err) => reject(new InternalError(`start the netlink helper: ${err.message}`, { cause: err })));
    child.on("close", (code, signal) => {
      if (code === 0) return resolve();
      const failure = parseFailure(stderr, ops);
      if (failure) return reject(failure);
      const why = stderr.trim() || (signal ? `killed by ${signal}` : `exit status ${code}`);
      reject(new InternalError(`netlink helper failed: ${why}`));
    });
    child.stdin!.end(input);
  });
}

// ------------------------------------------------------------------ queries (hakod's own namespace)

export interface LinkInfo {
  name: string;
  index: number;
  mtu: number;
  address: string;
  up: boolean;
  /** The bridge this link is enslaved to, if any. */
  master?: string;
  isBridge: boolean;
}

function readSys(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return "";
  }
}

/** Links of hakod's network namespace, from /sys/class/net. */
export function listLinks(): LinkInfo[] {
  const root = "/sys/class/net";
  const out: LinkInfo[] = [];
  for (const name of readdirSync(root)) {
    const dir = path.join(root, name);
    if (!existsSync(path.join(dir, "ifindex"))) continue;
    let master: string | undefined;
    try {
      master = path.basename(readlinkSync(path.join(dir, "master")));
    } catch {
      master = undefined;
    }
    const flags = parseInt(readSys(path.join(dir, "flags")) || "0", 16);
    out.push({
      name,
      index: Number(readSys(path.join(dir, "ifindex"))),
      mtu: Number(readSys(path.join(dir, "mtu"))),
      address: readSys(path.join(dir, "address")),
      up: (flags & 1) === 1,
      ...(master ? { master } : {}),
      isBridge: existsSync(path.join(dir, "bridge")),
    });
  }
  return out.sort((a, b) => a.index - b.index);
}

export function linkExists(name: string): boolean {
  return isValidIfName(name) && existsSync(path.join("/sys/class/net", name));
}

export interface RouteInfo {
  dev: string;
  /** "a.b.c.d/len". */
  destination: string;
  gateway?: string;
}

/** /proc/net/route's little-endian hex as a dotted quad. */
function hexToIPv4(hex: string): string {
  const n = parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join(".");
}

function maskBits(hex: string): number {
  let n = parseInt(hex, 16) >>> 0;
  let bits = 0;
  while (n) {
    bits += n & 1;
    n >>>= 1;
  }
  return bits;
}

/** IPv4 routes of hakod's namespace (main table), from /proc/net/route. */
export function listRoutes(text: string = readFileSync("/proc/net/route", "utf8")): RouteInfo[] {
  const out: RouteInfo[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [dev, dst, gw, , , , , mask] = f as [string, string, string, string, string, string, string, string];
    const gateway = hexToIPv4(gw);
    out.push({ dev, destination: `${hexToIPv4(dst)}/${maskBits(mask)}`, ...(gateway !== "0.0.0.0" ? { gateway } : {}) });
  }
  return out;
}
