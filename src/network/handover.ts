/**
 * Handing a host interface to a running container (the seed's `dknet`):
 * the link moves into the container's network namespace, is renamed there
 * and brought up; the container configures it itself (`--cap-add
 * NET_ADMIN`). Giving it back moves it out again under its original name.
 *
 * Moving a link to another namespace drops its addresses and routes and
 * brings it down; that is the kernel's, not ours to keep.
 *
 * What was handed over is recorded in the container's run state dir
 * (`interfaces.json`, next to the shim's files) so stop and rm can give
 * everything back *before* the namespace goes. When a namespace dies with
 * interfaces still inside (the container exited on its own), the kernel
 * moves physical devices back to the initial namespace (keeping the name
 * they had inside when it is free) and destroys virtual ones (veth, tap,
 * macvlan…): `reclaimAfterExit` renames returned devices back (found by
 * their MAC address) and forgets the rest.
 *
 * All kernel work is one `hako-shim netlink` batch per call (netlink.ts).
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { ConflictError, FailedPreconditionError, ForbiddenError, InvalidArgumentError, NotFoundError, errorMessage } from "../common/errors.ts";
import { writeFileAtomic } from "../common/fs.ts";
import { isValidIfName, listLinks, listRoutes, runNetlink, type LinkInfo, type NetlinkOp } from "./netlink.ts";

const STATE_FILE = "interfaces.json";

/** One interface a container holds (the API's shape, also what is recorded). */
export interface HandedInterface {
  /** Its name inside the container. */
  Name: string;
  /** Its name on the host, restored when it comes back. */
  HostInterface: string;
  /** A device with hardware behind it: the kernel returns it to the host if the namespace dies first. */
  Physical: boolean;
  /** The MAC address (how a device the kernel returned is recognised). */
  MacAddress: string;
  /** Up on the host before the hand-over: brought up again when it comes back. */
  WasUp: boolean;
}

/** The container whose namespace receives the interface. */
export interface HandoverTarget {
  id: string;
  /** Its init: /proc/<pid>/ns/net is the namespace. */
  pid: number;
  /** The container's run state dir (the shim's), where interfaces.json lives. */
  stateDir: string;
}

function statePath(stateDir: string): string {
  return path.join(stateDir, STATE_FILE);
}

/** The interfaces a container holds, as recorded. */
export function listInterfaces(stateDir: string): HandedInterface[] {
  try {
    const list = JSON.parse(readFileSync(statePath(stateDir), "utf8")) as unknown;
    return Array.isArray(list) ? (list as HandedInterface[]) : [];
  } catch {
    return [];
  }
}

function saveInterfaces(stateDir: string, list: HandedInterface[]): void {
  if (list.length === 0) rmSync(statePath(stateDir), { force: true });
  else writeFileAtomic(statePath(stateDir), JSON.stringify(list), 0o600);
}

/** Names of the links in the namespace of `pid` (/proc/<pid>/net/dev is that namespace's list). */
function containerLinks(pid: number, containerId: string): string[] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/net/dev`, "utf8");
  } catch (err) {
    throw new ConflictError(`Container ${containerId} is not running (its network namespace is gone: ${errorMessage(err)})`);
  }
  return text
    .split("\n")
    .slice(2)
    .map((l) => l.split(":")[0]!.trim())
    .filter((n) => n !== "");
}

/** One change of a container's interfaces at a time: the record is read and rewritten around kernel work. */
const locks = new Map<string, Promise<unknown>>();
function locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(id) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const tail = next.catch(() => {});
  locks.set(id, tail);
  void tail.then(() => {
    if (locks.get(id) === tail) locks.delete(id);
  });
  return next;
}

function checkIfName(name: string, what: string): void {
  if (!isValidIfName(name)) throw new InvalidArgumentError(`invalid ${what} ${JSON.stringify(name)}: 1 to 15 of A-Z a-z 0-9 _ . @ -`);
}

/** Why a host link may not be handed over, or undefined. */
function refusal(link: LinkInfo): string | undefined {
  if (link.name === "lo") return "the loopback interface stays with the host";
  if (link.isBridge) return "it is a bridge (containers' networks hang off it)";
  if (link.master) return `it is a port of bridge ${link.master}: take it off the bridge first`;
  if (listRoutes().some((r) => r.dev === link.name && r.destination === "0.0.0.0/0")) return "it carries the host's default route";
  return undefined;
}

/**
 * Moves host interface `hostName` into the container's namespace as `name`
 * (default: the same name) and brings it up there. 404 when the host has
 * no such link, 403 for links the host needs (lo, bridges, bridge ports,
 * the default route's), 409 when the container already has a link of
 * that name or is not running.
 */
export function handOver(target: HandoverTarget, hostName: string, name: string = hostName): Promise<HandedInterface> {
  checkIfName(hostName, "host interface name");
  checkIfName(name, "interface name in the container");
  return locked(target.id, async () => {
    if (!target.pid) throw new ConflictError(`Container ${target.id} is not running`);
    const link = listLinks().find((l) => l.name === hostName);
    if (!link) throw new NotFoundError(`no such host interface: ${hostName}`);
    const why = refusal(link);
    if (why) throw new ForbiddenError(`host interface ${hostName} cannot be handed to container ${target.id}: ${why}`);
    if (containerLinks(target.pid, target.id).includes(name)) {
      throw new ConflictError(`container ${target.id} already has an interface named ${name}`);
    }
    const record: HandedInterface = {
      Name: name,
      HostInterface: hostName,
      Physical: existsSync(path.join("/sys/class/net", hostName, "device")),
      MacAddress: link.address,
      WasUp: link.up,
    };
    const ops: NetlinkOp[] = [
      { op: "link-set", name: hostName, netns: target.pid },
      { op: "netns", netns: target.pid },
      name === hostName ? { op: "link-set", name, up: true } : { op: "link-set", name: hostName, rename: name, up: true },
    ];
    try {
      await runNetlink(ops);
    } catch (err) {
      // Moved but not renamed: send it back as it was, so a failure never leaves it stranded inside.
      if (!existsSync(path.join("/sys/class/net", hostName))) {
        await runNetlink([
          { op: "netns", netns: target.pid },
          { op: "link-set", name: hostName, netns: process.pid },
        ]).catch(() => {});
      }
      throw err;
    }
    saveInterfaces(target.stateDir, [...listInterfaces(target.stateDir), record]);
    return record;
  });
}

function findRecord(list: HandedInterface[], ref: string, containerId: string): HandedInterface {
  const rec = list.find((r) => r.Name === ref) ?? list.find((r) => r.HostInterface === ref);
  if (!rec) throw new NotFoundError(`container ${containerId} holds no handed-over interface ${ref}`);
  return rec;
}

/** The batch that moves `rec` out of the namespace of `pid` and back to its host name. */
function giveBackOps(rec: HandedInterface, pid: number): NetlinkOp[] {
  // A temporary name: the name inside may be taken on the host (eth1), and an up link cannot be renamed.
  const tmp = `hkr${randomBytes(4).toString("hex")}`;
  return [
    { op: "netns", netns: pid },
    { op: "link-set", name: rec.Name, up: false },
    { op: "link-set", name: rec.Name, rename: tmp },
    { op: "link-set", name: tmp, netns: process.pid },
    { op: "netns", netns: "host" },
    { op: "link-set", name: tmp, rename: rec.HostInterface, ...(rec.WasUp ? { up: true } : {}) },
  ];
}

/**
 * Moves interface `ref` (its name in the container, or its host name) back
 * to the host under its original name. 404 when the container holds no
 * such interface, 409 when the host has a link of that name meanwhile.
 */
export function giveBack(target: HandoverTarget, ref: string): Promise<HandedInterface> {
  return locked(target.id, async () => {
    const list = listInterfaces(target.stateDir);
    const rec = findRecord(list, ref, target.id);
    if (!target.pid) throw new ConflictError(`Container ${target.id} is not running`);
    if (existsSync(path.join("/sys/class/net", rec.HostInterface))) {
      throw new ConflictError(`cannot give ${rec.Name} back to the host: the host has an interface named ${rec.HostInterface} meanwhile`);
    }
    if (!containerLinks(target.pid, target.id).includes(rec.Name)) {
      // Deleted or renamed inside (the container has NET_ADMIN): nothing left to give back under that name.
      saveInterfaces(target.stateDir, list.filter((r) => r !== rec));
      throw new FailedPreconditionError(`container ${target.id} no longer has interface ${rec.Name} (deleted or renamed inside); forgotten`);
    }
    await runNetlink(giveBackOps(rec, target.pid));
    saveInterfaces(target.stateDir, list.filter((r) => r !== rec));
    return rec;
  });
}

/**
 * Gives every handed-over interface back (stop and rm, before the
 * namespace goes). Returns the failures as text, one per interface; the
 * caller logs them and goes on (a stop is never refused for this).
 */
export async function giveBackAll(target: HandoverTarget): Promise<string[]> {
  const failures: string[] = [];
  for (const rec of listInterfaces(target.stateDir)) {
    try {
      await giveBack(target, rec.Name);
    } catch (err) {
      failures.push(`${rec.Name} (host ${rec.HostInterface}): ${errorMessage(err)}`);
    }
  }
  saveInterfaces(target.stateDir, []);
  return failures;
}

/**
 * After the namespace died with interfaces inside: physical devices are
 * back on the host (under the name they had inside, or dev%d): renamed to
 * their host names; virtual ones were destroyed by the kernel. Returns
 * what could not be restored, as text. Forgets the record either way.
 */
export async function reclaimAfterExit(stateDir: string): Promise<string[]> {
  const list = listInterfaces(stateDir);
  if (list.length === 0) return [];
  const lost: string[] = [];
  const links = listLinks();
  for (const rec of list) {
    if (links.some((l) => l.name === rec.HostInterface)) continue;
    const returned = rec.Physical ? links.find((l) => l.address === rec.MacAddress) : undefined;
    if (!returned) {
      lost.push(`${rec.HostInterface}: ${rec.Physical ? "not found on the host" : "a virtual interface, destroyed with the container's namespace"}`);
      continue;
    }
    try {
      await runNetlink([
        { op: "link-set", name: returned.name, up: false },
        { op: "link-set", name: returned.name, rename: rec.HostInterface, ...(rec.WasUp ? { up: true } : {}) },
      ]);
    } catch (err) {
      lost.push(`${rec.HostInterface}: back as ${returned.name}, rename failed: ${errorMessage(err)}`);
    }
  }
  saveInterfaces(stateDir, []);
  return lost;
}
