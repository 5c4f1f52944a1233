/**
 * `--network slirp4netns`: the container has a namespace of its own whose
 * only way out is Debian's slirp4netns, a user-mode TCP/IP stack on a tap
 * device (tap0). slirp4netns runs in the host's namespace and turns the
 * container's packets into ordinary sockets of its own, so nothing is
 * routed or NATed by the kernel: no bridge, no veth, no netfilter rule.
 *
 * Addresses are slirp's fixed ones: 10.0.2.100/24 on tap0, gateway
 * 10.0.2.2, DNS forwarder 10.0.2.3. With host loopback allowed
 * (`slirp4netns:allow_host_loopback=true`, podman's option) 10.0.2.2 also
 * reaches the host's 127.0.0.1; by default it does not
 * (`--disable-host-loopback`): a container must not reach services that
 * listen on the host's loopback only because they trust local clients.
 *
 * Like the shim, slirp4netns outlives hakod (live restore): it is started
 * in a session of its own, and its pid (with the process's start time, so
 * a reused pid is never signalled) is kept in the container's run state
 * dir (`slirp.json`, next to the shim's files). The engine stops it when
 * the container exits or goes, and at start-up for containers that no
 * longer run.
 *
 * Published ports (`-p`) are slirp's host forwards, asked for over its API
 * socket (`add_hostfwd`): slirp4netns listens on the host port itself.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import path from "node:path";
import { InternalError, InvalidArgumentError, errorMessage } from "../common/errors.ts";
import { writeFileAtomic } from "../common/fs.ts";
import { processStartTime } from "../runtime/state.ts";
import type { PortMap } from "./ports.ts";

export const SLIRP_MODE = "slirp4netns";
export const SLIRP_INTERFACE = "tap0";
export const SLIRP_ADDRESS = "10.0.2.100";
export const SLIRP_PREFIX_LEN = 24;
export const SLIRP_GATEWAY = "10.0.2.2";
export const SLIRP_DNS = "10.0.2.3";
/** slirp4netns's own recommendation: fewer, larger segments through the user-mode stack. */
export const SLIRP_DEFAULT_MTU = 65520;

const STATE_FILE = "slirp.json";
const LOG_FILE = "slirp4netns.log";
const READY_TIMEOUT_MS = 10_000;
/** sun_path is 108 bytes with the NUL. */
const MAX_SOCKET_PATH = 107;

export interface SlirpOptions {
  allowHostLoopback: boolean;
  mtu: number;
}

/** What hakod keeps of a container's slirp4netns (slirp.json). */
export interface SlirpState {
  pid: number;
  /** /proc/<pid>/stat start time: a pid reused by another process does not match. */
  startTime: number;
  mac: string;
  apiSocket: string;
  options: SlirpOptions;
  /** Published ports as Docker reports them (NetworkSettings.Ports). */
  ports: PortMap;
}

/** Is this NetworkMode slirp4netns (with or without options)? */
export function isSlirpMode(mode: string | undefined): boolean {
  return mode === SLIRP_MODE || (mode?.startsWith(`${SLIRP_MODE}:`) ?? false);
}

/**
 * `slirp4netns[:opt=value,...]` → options. Known: allow_host_loopback
 * (true|false), mtu (68..65521, slirp's limit). The same keys may come as
 * the endpoint's DriverOpts (the docker CLI cannot pass `=` in a mode:
 * `--network name=slirp4netns,driver-opt=allow_host_loopback=true`).
 * Anything else is refused at create, not at start.
 */
export function parseSlirpMode(mode: string, driverOpts?: Record<string, string> | null): SlirpOptions {
  const out: SlirpOptions = { allowHostLoopback: false, mtu: SLIRP_DEFAULT_MTU };
  const opts: Array<[string, string, string]> = [];
  if (mode !== SLIRP_MODE) {
    for (const opt of mode.slice(SLIRP_MODE.length + 1).split(",")) {
      const eq = opt.indexOf("=");
      opts.push([eq < 0 ? opt : opt.slice(0, eq), eq < 0 ? "" : opt.slice(eq + 1), opt]);
    }
  }
  for (const [k, v] of Object.entries(driverOpts ?? {})) opts.push([k, String(v), `${k}=${v}`]);
  for (const [key, value, opt] of opts) {
    if (key === "allow_host_loopback") {
      if (value !== "true" && value !== "false") throw new InvalidArgumentError(`invalid slirp4netns option allow_host_loopback=${value}: true or false`);
      out.allowHostLoopback = value === "true";
    } else if (key === "mtu") {
      const mtu = Number(value);
      if (!/^\d+$/.test(value) || mtu < 68 || mtu > 65521) throw new InvalidArgumentError(`invalid slirp4netns option mtu=${value}: 68 to 65521`);
      out.mtu = mtu;
    } else {
      throw new InvalidArgumentError(`unknown slirp4netns option ${JSON.stringify(opt)} in network mode ${JSON.stringify(mode)} (allow_host_loopback, mtu)`);
    }
  }
  return out;
}

export function slirpStatePath(stateDir: string): string {
  return path.join(stateDir, STATE_FILE);
}

/** The recorded slirp4netns of a container, or undefined. */
export function readSlirpState(stateDir: string): SlirpState | undefined {
  try {
    return JSON.parse(readFileSync(slirpStatePath(stateDir), "utf8")) as SlirpState;
  } catch {
    return undefined;
  }
}

/** Is the recorded process still that slirp4netns (not a reused pid)? */
export function slirpAlive(state: SlirpState): boolean {
  return state.pid > 0 && processStartTime(state.pid) === state.startTime;
}

/** A locally administered MAC (02:…) so inspect can tell tap0's address without entering the namespace. */
function randomMac(): string {
  const b = randomBytes(5);
  return ["02", ...[...b].map((x) => x.toString(16).padStart(2, "0"))].join(":");
}

/** The API socket: in the state dir when the path fits sun_path, else a short one under /run. */
function apiSocketPath(stateDir: string, containerId: string): string {
  const inDir = path.join(stateDir, "slirp.sock");
  if (inDir.length <= MAX_SOCKET_PATH) return inDir;
  return path.join("/run/hako-slirp", `${containerId.slice(0, 24)}.sock`);
}

/**
 * Starts slirp4netns for the network namespace of `pid` and waits until it
 * has configured tap0 (its --ready-fd). The state is written before this
 * returns, so a hakod that dies right after still finds the process.
 */
export async function startSlirp(input: { containerId: string; pid: number; stateDir: string; options: SlirpOptions; binary?: string }): Promise<SlirpState> {
  const { containerId, pid, stateDir, options } = input;
  const mac = randomMac();
  const apiSocket = apiSocketPath(stateDir, containerId);
  if (apiSocket.startsWith("/run/hako-slirp/")) mkdirSync("/run/hako-slirp", { recursive: true, mode: 0o700 });
  rmSync(apiSocket, { force: true });
  const args = [
    "--configure",
    `--mtu=${options.mtu}`,
    `--macaddress=${mac}`,
    "--ready-fd=3",
    `--api-socket=${apiSocket}`,
    ...(options.allowHostLoopback ? [] : ["--disable-host-loopback"]),
    String(pid),
    SLIRP_INTERFACE,
  ];
  const log = openSync(path.join(stateDir, LOG_FILE), "a", 0o600);
  let child;
  try {
    // detached: setsid, so the process is in no session of hakod's and survives it.
    child = spawn(input.binary ?? "slirp4netns", args, { detached: true, stdio: ["ignore", log, log, "pipe"] });
  } finally {
    closeSync(log);
  }
  const ready = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
  const failure = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(`not ready after ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    const done = (why: string | undefined) => {
      clearTimeout(timer);
      resolve(why);
    };
    child.once("error", (err) => done(errorMessage(err)));
    child.once("exit", (code, signal) => done(`exited (${signal ?? `status ${code}`}) before it was ready`));
    ready.once("data", () => done(undefined));
  });
  ready.destroy();
  child.removeAllListeners("exit");
  child.unref();
  if (failure !== undefined || !child.pid) {
    if (child.pid) signal(child.pid, "SIGKILL");
    rmSync(apiSocket, { force: true });
    const tail = readLogTail(stateDir);
    throw new InternalError(`slirp4netns for container ${containerId} (netns of pid ${pid}): ${failure ?? "no pid"}${tail ? `: ${tail}` : ""}`);
  }
  const state: SlirpState = { pid: child.pid, startTime: processStartTime(child.pid), mac, apiSocket, options, ports: {} };
  writeFileAtomic(slirpStatePath(stateDir), JSON.stringify(state), 0o600);
  return state;
}

function readLogTail(stateDir: string): string {
  try {
    return readFileSync(path.join(stateDir, LOG_FILE), "utf8").trim().split("\n").slice(-3).join("; ");
  } catch {
    return "";
  }
}

/**
 * Stops a container's slirp4netns (by its recorded pid, only when the
 * start time still matches) and forgets it; resolves when the process is
 * gone (SIGKILL after 2 s). Idempotent: nothing recorded, or the process
 * gone with its namespace, is fine.
 */
export function stopSlirp(stateDir: string): Promise<void> {
  // exit and rm both stop it: the second waits for the first.
  const inFlight = stopping.get(stateDir);
  if (inFlight) return inFlight;
  const p = stopRecorded(stateDir).finally(() => stopping.delete(stateDir));
  stopping.set(stateDir, p);
  return p;
}

const stopping = new Map<string, Promise<void>>();

async function stopRecorded(stateDir: string): Promise<void> {
  const state = readSlirpState(stateDir);
  if (!state) return;
  rmSync(slirpStatePath(stateDir), { force: true });
  rmSync(state.apiSocket, { force: true });
  if (!slirpAlive(state)) return;
  signal(state.pid, "SIGTERM");
  for (let waited = 0; slirpAlive(state); waited += 10) {
    if (waited >= 2000) {
      signal(state.pid, "SIGKILL");
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // exited between the check and the signal
  }
}

// ---------------------------------------------------------------- ports

/** One request on slirp4netns's API socket (one JSON object each way, then it closes). */
export function slirpApi(socket: string, request: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => conn.destroy(new Error("no answer within 5 s")), 5000);
    conn.on("connect", () => conn.end(JSON.stringify(request)));
    conn.on("data", (d: Buffer) => chunks.push(d));
    conn.on("error", (err) => {
      clearTimeout(timer);
      reject(new InternalError(`slirp4netns API ${socket}: ${err.message}`));
    });
    conn.on("close", () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("utf8");
      try {
        resolve(JSON.parse(text) as Record<string, unknown>);
      } catch {
        reject(new InternalError(`slirp4netns API ${socket}: unreadable answer ${JSON.stringify(text.slice(0, 200))}`));
      }
    });
  });
}

/** A free host port on `ip` (the kernel's choice), for -p without a host port. */
function freePort(ip: string, proto: string): Promise<number> {
  if (proto !== "tcp") return Promise.reject(new InvalidArgumentError(`a random host port for ${proto} is not supported with slirp4netns: give the host port`));
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, ip, () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

/** `8000-8010` → [8000, 8010]; "" → undefined (random). */
function hostPortRange(hostPort: string, key: string): [number, number] | undefined {
  if (hostPort === "") return undefined;
  const m = /^(\d+)(?:-(\d+))?$/.exec(hostPort);
  const lo = Number(m?.[1]);
  const hi = Number(m?.[2] ?? m?.[1]);
  if (!m || lo < 1 || hi > 65535 || lo > hi) throw new InvalidArgumentError(`invalid host port ${JSON.stringify(hostPort)} for ${key}`);
  return [lo, hi];
}

/**
 * Publishes the container's ports through slirp4netns's host forwards:
 * each binding is one `add_hostfwd` (slirp listens on the host port); a
 * host port range takes its first port slirp can bind. The result (Docker's
 * PortMap with the ports chosen) is recorded in slirp.json.
 */
export async function publishSlirpPorts(stateDir: string, bindings: PortMap): Promise<PortMap> {
  const state = readSlirpState(stateDir);
  if (!state) throw new InternalError(`no slirp4netns recorded in ${stateDir}`);
  const out: PortMap = {};
  for (const [key, list] of Object.entries(bindings)) {
    const [portText, proto = "tcp"] = key.split("/") as [string, string | undefined];
    const guestPort = Number(portText);
    if (!/^\d+$/.test(portText) || guestPort < 1 || guestPort > 65535) throw new InvalidArgumentError(`invalid container port ${JSON.stringify(key)}`);
    if (proto !== "tcp" && proto !== "udp") throw new InvalidArgumentError(`protocol ${proto} cannot be published with slirp4netns (tcp, udp)`);
    const published: Array<{ HostIp: string; HostPort: string }> = [];
    for (const b of list ?? [{ HostIp: "", HostPort: "" }]) {
      const hostIp = b.HostIp || "0.0.0.0";
      const range = hostPortRange(b.HostPort ?? "", key);
      const candidates = range ? Array.from({ length: range[1] - range[0] + 1 }, (_, i) => range[0] + i) : [await freePort(hostIp, proto)];
      let chosen: number | undefined;
      let lastError = "";
      for (const hostPort of candidates) {
        const answer = await slirpApi(state.apiSocket, {
          execute: "add_hostfwd",
          arguments: { proto, host_addr: hostIp, host_port: hostPort, guest_addr: SLIRP_ADDRESS, guest_port: guestPort },
        });
        if (!answer.error) {
          chosen = hostPort;
          break;
        }
        lastError = JSON.stringify(answer.error);
      }
      // 500, as dockerd's "Bind for …: port is already allocated".
      if (chosen === undefined) throw new InternalError(`Bind for ${hostIp}:${b.HostPort || "random"} failed: slirp4netns could not forward the port: ${lastError}`);
      published.push({ HostIp: hostIp, HostPort: String(chosen) });
    }
    out[key.includes("/") ? key : `${key}/tcp`] = published;
  }
  state.ports = out;
  writeFileAtomic(slirpStatePath(stateDir), JSON.stringify(state), 0o600);
  return out;
}

/** The state dir's slirp4netns is recorded (whether or not it still runs). */
export function hasSlirp(stateDir: string): boolean {
  return existsSync(slirpStatePath(stateDir));
}
