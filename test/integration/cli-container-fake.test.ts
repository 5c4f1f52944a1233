/**
 * bin/hako's container commands against a fake Engine API: a node:http
 * server on a temp unix socket that answers like dockerd (hijacked attach
 * and exec with 101 UPGRADED and multiplexed frames, wait answered at the
 * exit with its headers flushed at once, archives made and unpacked with
 * GNU tar over a per-container directory) and records every call. Where
 * the docker CLI is installed, the same command lines also run through it
 * and the requests and outputs are compared.
 *
 * Needs dist/hako.cjs (`npm run build`).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";

const PROJECT = path.resolve(__dirname, "../..");
const HAKO_BIN = path.join(PROJECT, "bin/hako");
const DOCKER = "/usr/local/bin/docker";
const built = existsSync(path.join(PROJECT, "dist/hako.cjs"));
const haveTar = spawnSync("tar", ["--version"]).status === 0;
const haveScript = spawnSync("script", ["--version"]).status === 0;

interface Call {
  method: string;
  url: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
  upgrade: boolean;
}

interface Frame {
  stream: 1 | 2;
  data: string;
}

interface FakeContainer {
  id: string;
  name: string;
  image: string;
  cmd: string[];
  tty: boolean;
  openStdin: boolean;
  autoRemove: boolean;
  state: "created" | "running" | "exited";
  exitCode: number;
  created: number;
  log: Frame[];
  attached: { socket: Socket; stdin: boolean }[];
  stdin: string[];
  stdinClosed: boolean;
  onStdinEnd?: () => void;
  waiters: { condition: string; res: ServerResponse }[];
  rootfs: string;
  labels: Record<string, string>;
  removed: boolean;
  body: Record<string, unknown>;
}

interface FakeExec {
  id: string;
  container: FakeContainer;
  cmd: string[];
  tty: boolean;
  exitCode: number | null;
  body: Record<string, unknown>;
}

const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, USR1: 10, USR2: 12, TERM: 15 };

function frame(stream: number, data: string | Buffer): Buffer {
  const payload = Buffer.from(data);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

const hex64 = (n: number, seed: string): string => (seed.repeat(64) + n.toString(16)).slice(-64);

/** Go os.FileMode bits for a stat. */
function goMode(st: import("node:fs").Stats): number {
  let mode = st.mode & 0o777;
  if (st.isDirectory()) mode += 2 ** 31;
  if (st.isSymbolicLink()) mode += 2 ** 27;
  return mode;
}

/** A small dockerd: containers, images, volumes and execs in memory, archives on disk. */
class FakeEngine {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), "hako-fake-engine-"));
  readonly socket = path.join(this.dir, "engine.sock");
  readonly calls: Call[] = [];
  readonly images = new Set<string>(["busybox:latest"]);
  readonly containers = new Map<string, FakeContainer>();
  readonly execs = new Map<string, FakeExec>();
  volumes: Record<string, unknown>[] = [
    { Name: "zeta", Driver: "local", Mountpoint: "/var/lib/hako/volumes/zeta/_data", Labels: null, Scope: "local", Options: null },
    { Name: "vol10", Driver: "local", Mountpoint: "/var/lib/hako/volumes/vol10/_data", Labels: { a: "b" }, Scope: "local", Options: null },
    { Name: "vol9", Driver: "local", Mountpoint: "/var/lib/hako/volumes/vol9/_data", Labels: null, Scope: "local", Options: null },
  ];
  private counter = 0;
  private server: http.Server | undefined;

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    await new Promise<void>((resolve) => this.server!.listen(this.socket, resolve));
  }

  async close(): Promise<void> {
    for (const c of this.containers.values()) for (const a of c.attached) a.socket.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  reset(): void {
    this.calls.length = 0;
  }

  /** The calls, as "METHOD /path?query", without the version prefix and the pings. */
  trail(): string[] {
    return this.calls.filter((c) => !c.path.endsWith("/_ping")).map((c) => `${c.method} ${c.url.replace(/^\/v1\.\d+/, "")}`);
  }

  addContainer(name: string, cmd: string[], options: Partial<FakeContainer> = {}): FakeContainer {
    const id = hex64(++this.counter, "c0ffee");
    const rootfs = path.join(this.dir, `rootfs-${id.slice(0, 12)}`);
    mkdirSync(path.join(rootfs, "etc"), { recursive: true });
    writeFileSync(path.join(rootfs, "etc/hostname"), `${id.slice(0, 12)}\n`);
    const c: FakeContainer = {
      id,
      name,
      image: "busybox",
      cmd,
      tty: false,
      openStdin: false,
      autoRemove: false,
      state: "created",
      exitCode: 0,
      created: Math.floor(Date.now() / 1000),
      log: [],
      attached: [],
      stdin: [],
      stdinClosed: false,
      waiters: [],
      rootfs,
      labels: {},
      removed: false,
      body: {},
      ...options,
    };
    this.containers.set(id, c);
    return c;
  }

  find(ref: string): FakeContainer | undefined {
    for (const c of this.containers.values()) if (!c.removed && (c.id === ref || c.name === ref || (ref.length >= 3 && c.id.startsWith(ref)))) return c;
    return undefined;
  }

  private json(res: ServerResponse, status: number, value: unknown): void {
    res.writeHead(status, { "Content-Type": "application/json", "Api-Version": "1.44", Ostype: "linux" });
    res.end(JSON.stringify(value));
  }

  private error(res: ServerResponse, status: number, message: string): void {
    this.json(res, status, { message });
  }

  private record(req: IncomingMessage, body: string, upgrade: boolean): Call {
    const url = new URL(req.url ?? "/", "http://fake");
    const call: Call = { method: req.method ?? "", url: req.url ?? "", path: url.pathname.replace(/^\/v1\.\d+/, ""), query: url.searchParams, headers: req.headers, body, upgrade };
    this.calls.push(call);
    return call;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    const isPut = req.method === "PUT";
    if (isPut) {
      this.route(this.record(req, "", false), req, res);
      return;
    }
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => this.route(this.record(req, Buffer.concat(chunks).toString("utf8"), false), req, res));
  }

  private route(call: Call, req: IncomingMessage, res: ServerResponse): void {
    const p = call.path;
    const m = /^\/containers\/([^/]+)(\/.*)?$/.exec(p);
    if (p === "/_ping") {
      res.writeHead(200, { "Api-Version": "1.44", Ostype: "linux", "Content-Type": "text/plain" });
      res.end(req.method === "HEAD" ? undefined : "OK");
      return;
    }
    if (p === "/containers/create" && req.method === "POST") return this.create(call, res);
    if (p === "/containers/json") return this.list(call, res);
    if (p === "/images/create") return this.pull(call, res);
    if (p === "/volumes" && req.method === "GET") return this.json(res, 200, { Volumes: this.volumes, Warnings: null });
    if (p === "/volumes/create" && req.method === "POST") {
      const body = JSON.parse(call.body) as { Name?: string; Driver?: string; Labels?: Record<string, string>; DriverOpts?: Record<string, string> };
      const name = body.Name || hex64(++this.counter, "f00d");
      const vol = { CreatedAt: "2026-11-23T12:00:00Z", Driver: body.Driver ?? "local", Labels: body.Labels ?? {}, Mountpoint: `/var/lib/hako/volumes/${name}/_data`, Name: name, Options: body.DriverOpts ?? {}, Scope: "local" };
      this.volumes.push(vol);
      return this.json(res, 201, vol);
    }
    if (p === "/volumes/prune" && req.method === "POST") {
      const gone = this.volumes.filter((v) => (v.Labels as Record<string, string> | null)?.keep === undefined).map((v) => v.Name as string);
      this.volumes = this.volumes.filter((v) => !gone.includes(v.Name as string));
      return this.json(res, 200, { VolumesDeleted: gone, SpaceReclaimed: 4096 });
    }
    const v = /^\/volumes\/([^/]+)$/.exec(p);
    if (v) {
      const vol = this.volumes.find((x) => x.Name === decodeURIComponent(v[1]!));
      if (!vol) return this.error(res, 404, `get ${decodeURIComponent(v[1]!)}: no such volume`);
      if (req.method === "GET") return this.json(res, 200, vol);
      this.volumes = this.volumes.filter((x) => x !== vol);
      res.writeHead(204);
      res.end();
      return;
    }
    if (p === "/containers/prune" && req.method === "POST") {
      const gone = [...this.containers.values()].filter((c) => !c.removed && c.state !== "running");
      for (const c of gone) c.removed = true;
      return this.json(res, 200, { ContainersDeleted: gone.map((c) => c.id), SpaceReclaimed: 12345 });
    }
    if (p === "/commit" && req.method === "POST") {
      if (!this.find(call.query.get("container") ?? "")) return this.error(res, 404, `No such container: ${call.query.get("container")}`);
      return this.json(res, 201, { Id: `sha256:${hex64(9, "c0mm17")}` });
    }
    if (p === "/system/df") {
      return this.json(res, 200, {
        LayersSize: 4_400_000,
        Images: [{ Id: `sha256:${hex64(1, "1mage")}`, ParentId: "", RepoTags: ["busybox:latest"], RepoDigests: [], Created: Math.floor(Date.now() / 1000) - 86400 * 30, Size: 4_400_000, SharedSize: 0, Labels: null, Containers: 1 }],
        Containers: [...this.containers.values()].filter((c) => !c.removed).map((c) => ({ Id: c.id, Names: [`/${c.name}`], Image: c.image, ImageID: "sha256:aa", Command: c.cmd.join(" "), Created: c.created, State: c.state, Status: c.state === "running" ? "Up 2 hours" : "Exited (0) 2 hours ago", SizeRw: 1234, SizeRootFs: 0, Mounts: [] })),
        Volumes: this.volumes.map((x) => ({ ...x, UsageData: { Size: 2048, RefCount: 0 } })),
        BuildCache: [],
      });
    }
    if (p === "/events") {
      res.writeHead(200, { "Content-Type": "application/json" });
      const events = [
        { status: "create", id: "abc", from: "busybox", Type: "container", Action: "create", Actor: { ID: "abc", Attributes: { image: "busybox", name: "x" } }, scope: "local", time: 1795476027, timeNano: "1795476027123456789" },
        { Type: "network", Action: "connect", Actor: { ID: "net1", Attributes: { container: "abc", name: "bridge", type: "bridge" } }, scope: "local", time: 1795476028, timeNano: "1795476028000000001" },
        { Type: "volume", Action: "create", Actor: { ID: "v1", Attributes: { driver: "local" } }, scope: "local", time: 1795476029, timeNano: "1795476029999999999" },
      ];
      // timeNano as a JSON number with all its digits, as dockerd writes it
      res.end(events.map((e) => `${JSON.stringify(e).replace(/"timeNano":"(\d+)"/, '"timeNano":$1')}\n`).join(""));
      return;
    }
    const e = /^\/exec\/([^/]+)\/(json|resize|start)$/.exec(p);
    if (e) {
      const ex = this.execs.get(e[1]!);
      if (!ex) return this.error(res, 404, `No such exec instance: ${e[1]}`);
      if (e[2] === "json") return this.json(res, 200, { ID: ex.id, Running: false, ExitCode: ex.exitCode, ProcessConfig: { entrypoint: ex.cmd[0], arguments: ex.cmd.slice(1) } });
      if (e[2] === "resize") return this.json(res, 200, {});
      // a detached start
      ex.exitCode = runProgram(ex.cmd, "").code;
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end();
      return;
    }
    if (m) {
      const c = this.find(decodeURIComponent(m[1]!));
      const op = m[2] ?? "";
      if (!c) return this.error(res, 404, `No such container: ${decodeURIComponent(m[1]!)}`);
      switch (`${req.method} ${op}`) {
        case "GET /json":
          return this.json(res, 200, this.inspect(c));
        case "POST /wait":
          return this.wait(c, call.query.get("condition") ?? "not-running", res);
        case "POST /start":
          return this.startContainer(c, res);
        case "POST /kill": {
          if (c.state !== "running") return this.error(res, 409, `Cannot kill container: ${c.id}: container ${c.id} is not running`);
          const signal = (call.query.get("signal") ?? "KILL").replace(/^SIG/, "");
          this.exit(c, 128 + (SIGNALS[signal] ?? 9));
          res.writeHead(204);
          res.end();
          return;
        }
        case "POST /stop":
        case "POST /restart":
          if (op === "/stop" && c.state !== "running") {
            res.writeHead(304);
            res.end();
            return;
          }
          if (c.state === "running") this.exit(c, 143);
          if (op === "/restart") c.state = "running";
          res.writeHead(204);
          res.end();
          return;
        case "POST /pause":
        case "POST /unpause":
          if (c.state !== "running") return this.error(res, 409, `Container ${c.id} is not running`);
          res.writeHead(204);
          res.end();
          return;
        case "POST /rename": {
          const to = call.query.get("name") ?? "";
          if (this.find(to)) return this.error(res, 409, `Conflict. The container name "/${to}" is already in use by container "${this.find(to)!.id}". You have to remove (or rename) that container to be able to reuse that name.`);
          c.name = to;
          res.writeHead(204);
          res.end();
          return;
        }
        case "GET /top":
          return this.json(res, 200, {
            Titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
            Processes: [["root", "4242", "4200", "0", "10:00", "?", "00:00:00", c.cmd.join(" ")], ["root", "4250", "4242", "0", "10:01", "pts/0", "00:00:01", "sh"]],
          });
        case "GET /changes":
          return this.json(res, 200, [
            { Kind: 0, Path: "/etc" },
            { Kind: 1, Path: "/etc/new.conf" },
            { Kind: 2, Path: "/tmp/gone" },
          ]);
        case "GET /export": {
          res.writeHead(200, { "Content-Type": "application/x-tar" });
          spawn("tar", ["-C", c.rootfs, "-cf", "-", "."], { stdio: ["ignore", "pipe", "inherit"] }).stdout.pipe(res);
          return;
        }
        case "POST /update":
          return this.json(res, 200, { Warnings: [] });
        case "POST /resize":
          return this.json(res, 200, {});
        case "DELETE ": {
          if (c.state === "running" && call.query.get("force") !== "1") {
            return this.error(res, 409, `cannot remove container "/${c.name}": container is running: stop the container before removing or force remove`);
          }
          if (c.state === "running") this.exit(c, 137);
          this.remove(c);
          res.writeHead(204);
          res.end();
          return;
        }
        case "GET /logs":
          return this.logs(c, call, res);
        case "POST /exec":
          return this.execCreate(c, call, res);
        case "HEAD /archive":
        case "GET /archive":
          return this.archiveGet(c, call, req, res);
        case "PUT /archive":
          return this.archivePut(c, call, req, res);
        case "GET /stats":
          return this.json(res, 200, statsFixture(c));
        default:
          return this.error(res, 404, "page not found");
      }
    }
    this.error(res, 404, "page not found");
  }

  private create(call: Call, res: ServerResponse): void {
    const body = JSON.parse(call.body) as Record<string, unknown> & { Image: string; Cmd: string[] | null; Tty: boolean; OpenStdin: boolean; HostConfig: { AutoRemove: boolean } };
    const image = body.Image.includes(":") ? body.Image : `${body.Image}:latest`;
    if (!this.images.has(image)) return this.error(res, 404, `No such image: ${image}`);
    const name = call.query.get("name") ?? `fake_${this.counter + 1}`;
    const c = this.addContainer(name, body.Cmd ?? ["sh"], { image: body.Image, tty: body.Tty, openStdin: body.OpenStdin, autoRemove: body.HostConfig.AutoRemove, body });
    this.json(res, 201, { Id: c.id, Warnings: [] });
  }

  private list(call: Call, res: ServerResponse): void {
    const all = call.query.get("all") === "1";
    const rows = [...this.containers.values()]
      .filter((c) => !c.removed && (all || c.state === "running"))
      .sort((a, b) => b.created - a.created)
      .map((c) => ({
        Id: c.id,
        Names: [`/${c.name}`],
        Image: c.image,
        ImageID: `sha256:${hex64(7, "1mage")}`,
        Command: c.cmd.join(" "),
        Created: c.created,
        Ports: [],
        Labels: c.labels,
        State: c.state,
        Status: c.state === "running" ? "Up 2 hours" : c.state === "exited" ? `Exited (${c.exitCode}) 2 hours ago` : "Created",
        HostConfig: { NetworkMode: "default" },
        NetworkSettings: { Networks: { bridge: {} } },
        Mounts: [],
      }));
    this.json(res, 200, rows);
  }

  private pull(call: Call, res: ServerResponse): void {
    const image = `${call.query.get("fromImage")}:${call.query.get("tag") ?? "latest"}`;
    res.writeHead(200, { "Content-Type": "application/json" });
    if (image.startsWith("denied")) {
      res.end(`${JSON.stringify({ errorDetail: { message: `pull access denied for ${call.query.get("fromImage")}, repository does not exist or may require 'docker login'` }, error: "pull access denied" })}\n`);
      return;
    }
    const tag = call.query.get("tag") ?? "latest";
    const lines = [
      { status: `Pulling from library/${call.query.get("fromImage")}`, id: tag },
      { status: "Pulling fs layer", progressDetail: {}, id: "abcdef012345" },
      { status: "Pull complete", progressDetail: {}, id: "abcdef012345" },
      { status: `Digest: sha256:${hex64(3, "d1")}` },
      { status: `Status: Downloaded newer image for ${call.query.get("fromImage")}:${tag}` },
    ];
    this.images.add(image);
    res.end(lines.map((l) => `${JSON.stringify(l)}\n`).join(""));
  }

  private inspect(c: FakeContainer): unknown {
    return {
      Id: c.id,
      Created: new Date(c.created * 1000).toISOString(),
      Path: c.cmd[0],
      Args: c.cmd.slice(1),
      State: { Status: c.state, Running: c.state === "running", Paused: false, Restarting: false, ExitCode: c.exitCode },
      Name: `/${c.name}`,
      HostConfig: { AutoRemove: c.autoRemove },
      Config: { Tty: c.tty, OpenStdin: c.openStdin, Image: c.image, Cmd: c.cmd },
      NetworkSettings: { Ports: {} },
    };
  }

  private wait(c: FakeContainer, condition: string, res: ServerResponse): void {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.flushHeaders();
    if (condition === "not-running" && c.state !== "running") {
      res.end(`${JSON.stringify({ StatusCode: c.exitCode, Error: null })}\n`);
      return;
    }
    c.waiters.push({ condition, res });
  }

  private startContainer(c: FakeContainer, res: ServerResponse): void {
    if (c.cmd[0] === "nope") {
      return this.error(
        res,
        400,
        `failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "nope": executable file not found in $PATH: unknown`,
      );
    }
    if (c.state === "running") {
      res.writeHead(304);
      res.end();
      return;
    }
    c.state = "running";
    res.writeHead(204);
    res.end();
    if (c.cmd[0] === "sleep") return;
    const finish = (): void => {
      const { frames, code } = runProgram(c.cmd, c.stdin.join(""));
      for (const f of frames) this.emit(c, f);
      this.exit(c, code);
    };
    if (c.cmd[0] === "cat") {
      if (c.stdinClosed) finish();
      else c.onStdinEnd = finish;
      return;
    }
    setTimeout(finish, 20);
  }

  emit(c: FakeContainer, f: Frame): void {
    c.log.push(f);
    for (const a of c.attached) a.socket.write(c.tty ? Buffer.from(f.data) : frame(f.stream, f.data));
  }

  exit(c: FakeContainer, code: number): void {
    c.state = "exited";
    c.exitCode = code;
    for (const a of c.attached) a.socket.end();
    c.attached = [];
    for (const w of [...c.waiters]) {
      if (w.condition === "removed" && !c.autoRemove) continue;
      if (w.condition === "removed") continue;
      w.res.end(`${JSON.stringify({ StatusCode: code, Error: null })}\n`);
      c.waiters.splice(c.waiters.indexOf(w), 1);
    }
    if (c.autoRemove) setTimeout(() => this.remove(c), 10);
  }

  private remove(c: FakeContainer): void {
    c.removed = true;
    for (const w of c.waiters) w.res.end(`${JSON.stringify({ StatusCode: c.exitCode, Error: null })}\n`);
    c.waiters = [];
  }

  private logs(c: FakeContainer, call: Call, res: ServerResponse): void {
    res.writeHead(200, { "Content-Type": c.tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream" });
    const ts = call.query.get("timestamps") === "1";
    for (const f of c.log) {
      const data = ts ? `2026-11-23T23:20:27.123456789Z ${f.data}` : f.data;
      if (f.stream === 1 && call.query.get("stdout") !== "1") continue;
      if (f.stream === 2 && call.query.get("stderr") !== "1") continue;
      // split frames across writes, as a real stream may
      const bytes = c.tty ? Buffer.from(data) : frame(f.stream, data);
      res.write(bytes.subarray(0, 3));
      res.write(bytes.subarray(3));
    }
    res.end();
  }

  private execCreate(c: FakeContainer, call: Call, res: ServerResponse): void {
    if (c.state !== "running") return this.error(res, 409, `container ${c.id} is not running`);
    const body = JSON.parse(call.body) as { Cmd: string[]; Tty: boolean };
    const id = hex64(++this.counter, "e8ec");
    this.execs.set(id, { id, container: c, cmd: body.Cmd, tty: body.Tty, exitCode: null, body });
    this.json(res, 201, { Id: id });
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const chunks: Buffer[] = [head];
    const url = new URL(req.url ?? "/", "http://fake");
    const p = url.pathname.replace(/^\/v1\.\d+/, "");
    const length = Number(req.headers["content-length"] ?? 0);
    const proceed = (body: string): void => {
      const call = this.record(req, body, true);
      const a = /^\/containers\/([^/]+)\/attach$/.exec(p);
      const e = /^\/exec\/([^/]+)\/start$/.exec(p);
      if (a) {
        const c = this.find(decodeURIComponent(a[1]!));
        if (!c) {
          socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${JSON.stringify({ message: `No such container: ${a[1]}` })}`);
          return;
        }
        socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.${c.tty ? "raw" : "multiplexed"}-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nApi-Version: 1.44\r\n\r\n`);
        const withStdin = call.query.get("stdin") === "1";
        c.attached.push({ socket, stdin: withStdin });
        socket.on("error", () => {});
        if (withStdin) {
          socket.on("data", (d: Buffer) => c.stdin.push(d.toString()));
          socket.on("end", () => {
            c.stdinClosed = true;
            c.onStdinEnd?.();
          });
        }
        return;
      }
      if (e) {
        const ex = this.execs.get(e[1]!);
        if (!ex) {
          socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${JSON.stringify({ message: `No such exec instance: ${e[1]}` })}`);
          return;
        }
        socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.${ex.tty ? "raw" : "multiplexed"}-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
        socket.on("error", () => {});
        const { frames, code } = runProgram(ex.cmd, "");
        setTimeout(() => {
          for (const f of frames) socket.write(ex.tty ? Buffer.from(f.data) : frame(f.stream, f.data));
          ex.exitCode = code;
          socket.end();
        }, 10);
        return;
      }
      socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    };
    if (Buffer.concat(chunks).length >= length) {
      proceed(Buffer.concat(chunks).subarray(0, length).toString());
      return;
    }
    const onData = (d: Buffer): void => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.length >= length) {
        socket.off("data", onData);
        if (all.length > length) socket.unshift(all.subarray(length));
        proceed(all.subarray(0, length).toString());
      }
    };
    socket.on("data", onData);
  }

  private archiveGet(c: FakeContainer, call: Call, req: IncomingMessage, res: ServerResponse): void {
    const p = call.query.get("path") ?? "/";
    const full = path.join(c.rootfs, p);
    let st;
    try {
      st = lstatSync(full);
    } catch {
      return this.error(res, 404, `Could not find the file ${p} in container ${c.name}`);
    }
    const stat = { name: path.basename(full), size: st.size, mode: goMode(st), mtime: st.mtime.toISOString(), linkTarget: st.isSymbolicLink() ? readlinkSync(full) : "" };
    const header = Buffer.from(JSON.stringify(stat)).toString("base64");
    if (req.method === "HEAD") {
      res.writeHead(200, { "X-Docker-Container-Path-Stat": header });
      res.end();
      return;
    }
    const dot = p.endsWith("/.") || p === ".";
    const args = dot ? ["-C", full, "-cf", "-", "."] : ["-C", path.dirname(full), "-cf", "-", path.basename(full)];
    const tar = spawn("tar", args, { stdio: ["ignore", "pipe", "inherit"] });
    res.writeHead(200, { "Content-Type": "application/x-tar", "X-Docker-Container-Path-Stat": header });
    tar.stdout.pipe(res);
  }

  private archivePut(c: FakeContainer, call: Call, req: IncomingMessage, res: ServerResponse): void {
    const p = call.query.get("path") ?? "/";
    const full = path.join(c.rootfs, p);
    let st;
    try {
      st = lstatSync(full);
    } catch {
      req.resume();
      return this.error(res, 404, `Could not find the file ${p} in container ${c.name}`);
    }
    if (!st.isDirectory()) {
      req.resume();
      return this.error(res, 400, "extraction point is not a directory");
    }
    const tar = spawn("tar", ["-C", full, "-xf", "-"], { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    tar.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    req.pipe(tar.stdin);
    tar.on("close", (code) => {
      if (code === 0) {
        res.writeHead(200);
        res.end();
      } else this.error(res, 500, `tar: ${stderr}`);
    });
  }
}

/** The fake's programs: echo, sh -c "echo x; echo y >&2; exit n", cat (stdin), sleep (runs until killed). */
function runProgram(cmd: string[], stdin: string): { frames: Frame[]; code: number } {
  const frames: Frame[] = [];
  if (cmd[0] === "echo") return { frames: [{ stream: 1, data: `${cmd.slice(1).join(" ")}\n` }], code: 0 };
  if (cmd[0] === "cat") return { frames: stdin ? [{ stream: 1, data: stdin }] : [], code: 0 };
  if (cmd[0] === "sh" && cmd[1] === "-c") {
    let code = 0;
    for (const part of (cmd[2] ?? "").split(";").map((s) => s.trim())) {
      let m: RegExpExecArray | null;
      if ((m = /^echo (.*?)( >&2)?$/.exec(part))) frames.push({ stream: m[2] ? 2 : 1, data: `${m[1]}\n` });
      else if ((m = /^exit (\d+)$/.exec(part))) {
        code = Number(m[1]);
        break;
      }
    }
    return { frames, code };
  }
  return { frames, code: 0 };
}

function statsFixture(c: FakeContainer): unknown {
  return {
    read: "2026-11-23T23:20:27.123456789Z",
    preread: "2026-11-23T23:20:26.123456789Z",
    name: `/${c.name}`,
    id: c.id,
    pids_stats: { current: 3 },
    blkio_stats: { io_service_bytes_recursive: [{ major: 8, minor: 0, op: "Read", value: 4096000 }, { major: 8, minor: 0, op: "Write", value: 1024 }] },
    num_procs: 0,
    cpu_stats: { cpu_usage: { total_usage: 400_000_000, usage_in_kernelmode: 0, usage_in_usermode: 0 }, system_cpu_usage: 8_000_000_000, online_cpus: 4 },
    precpu_stats: { cpu_usage: { total_usage: 300_000_000, usage_in_kernelmode: 0, usage_in_usermode: 0 }, system_cpu_usage: 6_000_000_000, online_cpus: 4 },
    memory_stats: { usage: 50 * 1024 * 1024, limit: 2 * 1024 * 1024 * 1024, stats: { total_inactive_file: 10 * 1024 * 1024 } },
    networks: { eth0: { rx_bytes: 1500, tx_bytes: 2500 } },
  };
}

interface RunResult {
  status: number | null;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

function runBin(bin: string, args: string[], socket: string, input: string | Buffer = "", extraEnv: NodeJS.ProcessEnv = {}, cwd?: string): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CLI_HINTS: "false", ...extraEnv };
  for (const k of ["HAKO_HOST", "DOCKER_API_VERSION", "DOCKER_CONTEXT", "DOCKER_DEFAULT_PLATFORM"]) delete env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env, cwd, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({ status, stdout: stdoutBytes.toString("utf8"), stdoutBytes, stderr });
    });
    child.stdin.end(input);
  });
}

describe("cli containers against a fake engine", { skip: built ? false : "dist/hako.cjs is missing: run npm run build" }, () => {
  const engine = new FakeEngine();
  let tmp: string;
  let config: string;
  const hako = (args: string[], input: string | Buffer = "", cwd?: string): Promise<RunResult> => runBin(HAKO_BIN, args, engine.socket, input, { DOCKER_CONFIG: config }, cwd);

  before(async () => {
    await engine.start();
    tmp = mkdtempSync(path.join(os.tmpdir(), "hako-cli-fake-"));
    config = path.join(tmp, "docker-config");
    mkdirSync(config);
  });
  after(async () => {
    await engine.close();
    rmSync(tmp, { recursive: true, force: true });
  });
  beforeEach(() => engine.reset());

  test("run -d: create, wait (registered first), start, then the full ID", async () => {
    const r = await hako(["run", "-d", "--name", "bg", "busybox", "sleep", "100"]);
    assert.equal(r.stderr, "");
    assert.equal(r.status, 0);
    const c = engine.find("bg")!;
    assert.equal(r.stdout, `${c.id}\n`);
    assert.deepEqual(engine.trail(), ["POST /containers/create?name=bg", `POST /containers/${c.id}/wait?condition=next-exit`, `POST /containers/${c.id}/start`]);
    const body = JSON.parse(engine.calls.find((x) => x.path === "/containers/create")!.body) as Record<string, unknown>;
    assert.equal(body.AttachStdout, false);
    assert.deepEqual(body.Cmd, ["sleep", "100"]);
    assert.equal(c.state, "running");
  });

  test("run attached without a TTY: frames demultiplexed, the exit status from wait", async () => {
    const r = await hako(["run", "--name", "att", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "err\n");
    assert.equal(r.status, 3);
    const c = engine.find("att")!;
    const trail = engine.trail();
    assert.deepEqual(trail, [
      "POST /containers/create?name=att",
      `POST /containers/${c.id}/attach?stderr=1&stdout=1&stream=1`,
      `POST /containers/${c.id}/wait?condition=next-exit`,
      `POST /containers/${c.id}/start`,
    ]);
    const attach = engine.calls.find((x) => x.upgrade)!;
    assert.equal(attach.headers.upgrade, "tcp");
    assert.equal(attach.headers.connection, "Upgrade");
  });

  test("run -i: stdin goes to the container, its end half-closes the connection, output still arrives", async () => {
    const r = await hako(["run", "-i", "--rm", "busybox", "cat"], "hello from stdin\n");
    assert.equal(r.stdout, "hello from stdin\n");
    assert.equal(r.status, 0);
    const trail = engine.trail();
    assert.match(trail[1]!, /\/attach\?stderr=1&stdin=1&stdout=1&stream=1$/);
    assert.match(trail[2]!, /\/wait\?condition=removed$/);
    const body = JSON.parse(engine.calls[1]!.body || engine.calls.find((x) => x.path === "/containers/create")!.body) as Record<string, unknown>;
    assert.equal(body.OpenStdin, true);
    assert.equal(body.StdinOnce, true);
  });

  test("run with a missing image: 'Unable to find image', the pull on stderr, create again", async () => {
    const r = await hako(["run", "-d", "alpine", "sleep", "5"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^Unable to find image 'alpine:latest' locally\n/);
    assert.match(r.stderr, /latest: Pulling from library\/alpine\n/);
    assert.match(r.stderr, /Status: Downloaded newer image for alpine:latest\n/);
    assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
    const trail = engine.trail();
    assert.deepEqual(trail.slice(0, 3), ["POST /containers/create", "POST /images/create?fromImage=alpine&tag=latest", "POST /containers/create"]);
    const pull = engine.calls.find((x) => x.path === "/images/create")!;
    assert.ok(pull.headers["x-registry-auth"], "X-Registry-Auth is sent");
  });

  test("run with an image that cannot be pulled: the pull's error, status 125", async () => {
    const r = await hako(["run", "denied/thing"]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /Unable to find image 'denied\/thing:latest' locally/);
    assert.match(r.stderr, /hako: pull access denied for denied\/thing, repository does not exist or may require 'docker login'\n\nRun 'hako run --help' for more information\n$/);
  });

  test("run: a command that does not exist exits 127, bad flags 125", async () => {
    const r = await hako(["run", "busybox", "nope"]);
    assert.equal(r.status, 127);
    assert.match(r.stderr, /^hako: Error response from daemon: failed to create task .*executable file not found in \$PATH: unknown\n\nRun 'hako run --help' for more information\n$/);
    const bad = await hako(["run", "-m", "12x", "busybox"]);
    assert.equal(bad.status, 125);
    assert.equal(bad.stderr, `invalid argument "12x" for "-m, --memory" flag: invalid suffix: 'x'\nSee 'hako run --help'.\n`);
    const conflict = await hako(["run", "--rm", "--restart", "always", "busybox"]);
    assert.equal(conflict.status, 125);
    assert.equal(conflict.stderr, "hako: conflicting options: cannot specify both --restart and --rm\n\nRun 'hako run --help' for more information\n");
    const tty = await hako(["run", "-it", "busybox"]);
    assert.equal(tty.status, 1);
    assert.equal(tty.stderr, "the input device is not a TTY\n");
  });

  test("ps: docker's table, -q, --no-trunc and --format", async () => {
    for (const c of engine.containers.values()) c.removed = true;
    const now = Math.floor(Date.now() / 1000);
    const up = engine.addContainer("web", ["nginx", "-g", "daemon off;"], { state: "running", created: now - 7200, image: "nginx:1.25", labels: { tier: "front" } });
    const down = engine.addContainer("job", ["sh", "-c", "echo a very long command line indeed"], { state: "exited", exitCode: 2, created: now - 3 * 86400 });
    const r = await hako(["ps", "-a"]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], "CONTAINER ID   IMAGE        COMMAND                  CREATED       STATUS                   PORTS     NAMES");
    assert.equal(lines[1], `${up.id.slice(0, 12)}   nginx:1.25   "nginx -g daemon off;"   2 hours ago   Up 2 hours                         web`);
    assert.equal(lines[2], `${down.id.slice(0, 12)}   busybox      "sh -c echo a very l…"   3 days ago    Exited (2) 2 hours ago             job`);
    assert.deepEqual(engine.trail(), ["GET /containers/json?all=1"]);
    const q = await hako(["ps", "-q"]);
    assert.equal(q.stdout, `${up.id.slice(0, 12)}\n`);
    const f = await hako(["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.Label \"tier\"}} {{.State}}"]);
    assert.equal(f.stdout, `${up.id} web front running\n${down.id} job  exited\n`);
    const filtered = await hako(["ps", "-f", "status=exited", "-f", "name=job", "-n", "3", "-s"]);
    assert.equal(filtered.status, 0);
    const call = engine.calls.filter((c) => c.path === "/containers/json").pop()!;
    assert.equal(call.query.get("filters"), '{"name":{"job":true},"status":{"exited":true}}');
    assert.equal(call.query.get("limit"), "3");
    assert.equal(call.query.get("size"), "1");
    const json = await hako(["ps", "--format", "json"]);
    const row = JSON.parse(json.stdout.trim()) as Record<string, string>;
    assert.deepEqual(Object.keys(row), ["Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts", "Names", "Networks", "Platform", "Ports", "RunningFor", "Size", "State", "Status"]);
    assert.equal(row.Names, "web");
  });

  test("--format failures exit as docker 28's: ps and the other lists 1, inspect 64; an unknown field is an error", async () => {
    engine.addContainer("fmt", ["sleep", "100"], { state: "running" });
    let r = await hako(["ps", "--format", "{{.Bogus}}"]);
    assert.deepEqual([r.status, r.stderr], [1, 'failed to execute template: template: :1:2: executing "" at <.Bogus>: can\'t evaluate field Bogus in type *formatter.ContainerContext\n']);
    r = await hako(["ps", "--format", "{{.Names"]);
    assert.deepEqual([r.status, r.stderr], [1, "failed to parse template: template: :1: unclosed action\n"]);
    r = await hako(["volume", "ls", "--format", "{{.Name"]);
    assert.deepEqual([r.status, r.stderr], [1, "template parsing error: template: :1: unclosed action\n"]);
    r = await hako(["inspect", "-f", "{{.Name", "fmt"]);
    assert.equal(r.status, 64);
  });

  test("exec: inspect, create, hijacked start, exit code from the exec's inspect", async () => {
    const c = engine.addContainer("ex", ["sleep", "100"], { state: "running" });
    const r = await hako(["exec", "-e", "A=1", "-u", "1000", "-w", "/tmp", "ex", "sh", "-c", "echo hi; echo oops >&2; exit 7"]);
    assert.equal(r.stdout, "hi\n");
    assert.equal(r.stderr, "oops\n");
    assert.equal(r.status, 7);
    const trail = engine.trail();
    assert.equal(trail[0], "GET /containers/ex/json");
    assert.equal(trail[1], "POST /containers/ex/exec");
    assert.match(trail[2]!, /^POST \/exec\/[0-9a-f]{64}\/start$/);
    assert.match(trail[3]!, /^GET \/exec\/[0-9a-f]{64}\/json$/);
    assert.equal(
      engine.calls[2]!.body,
      JSON.stringify({ User: "1000", Privileged: false, Tty: false, AttachStdin: false, AttachStderr: true, AttachStdout: true, Detach: false, DetachKeys: "", Env: ["A=1"], WorkingDir: "/tmp", Cmd: ["sh", "-c", "echo hi; echo oops >&2; exit 7"] }),
    );
    assert.equal(engine.calls[3]!.body, '{"Detach":false,"Tty":false}');
    assert.equal(engine.calls[3]!.upgrade, true);
    const missing = await hako(["exec", "ghost", "true"]);
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr, "Error response from daemon: No such container: ghost\n");
    void c;
  });

  test("logs: demultiplexed (frames split across writes), raw for a TTY, options as query", async () => {
    const c = engine.addContainer("lg", ["true"], { state: "exited" });
    c.log.push({ stream: 1, data: "line one\n" }, { stream: 2, data: "problem\n" }, { stream: 1, data: "line two\n" });
    const r = await hako(["logs", "lg"]);
    assert.equal(r.stdout, "line one\nline two\n");
    assert.equal(r.stderr, "problem\n");
    assert.deepEqual(engine.trail(), ["GET /containers/lg/json", `GET /containers/${c.id}/logs?stderr=1&stdout=1&tail=all`]);
    engine.reset();
    const t = await hako(["logs", "-t", "--tail", "5", "--since", "2013-01-02T13:23:37Z", "-f", "--details", "lg"]);
    assert.equal(t.stdout, "2026-11-23T23:20:27.123456789Z line one\n2026-11-23T23:20:27.123456789Z line two\n");
    const q = engine.calls.find((x) => x.path.endsWith("/logs"))!.query;
    assert.equal(q.get("tail"), "5");
    assert.equal(q.get("since"), "1357133017.000000000");
    assert.equal(q.get("follow"), "1");
    assert.equal(q.get("details"), "1");
    const tty = engine.addContainer("lgt", ["true"], { state: "exited", tty: true });
    tty.log.push({ stream: 1, data: "raw\r\n" });
    const raw = await hako(["logs", "lgt"]);
    assert.equal(raw.stdout, "raw\r\n");
  });

  test("cp: a local directory into a container, files and 'dir/.' out, '-' as a tar", { skip: haveTar ? false : "no tar" }, async () => {
    const c = engine.addContainer("files", ["sleep", "1"], { state: "running" });
    const src = path.join(tmp, "src");
    mkdirSync(path.join(src, "sub"), { recursive: true });
    writeFileSync(path.join(src, "a.txt"), "alpha\n");
    writeFileSync(path.join(src, "sub", "b.txt"), "beta\n", { mode: 0o640 });
    symlinkSync("a.txt", path.join(src, "link"));
    mkdirSync(path.join(c.rootfs, "dst"));

    // into an existing directory: the directory itself arrives under its name
    let r = await hako(["cp", src, "files:/dst"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(path.join(c.rootfs, "dst/src/a.txt"), "utf8"), "alpha\n");
    assert.equal(readFileSync(path.join(c.rootfs, "dst/src/sub/b.txt"), "utf8"), "beta\n");
    assert.equal(lstatSync(path.join(c.rootfs, "dst/src/sub/b.txt")).mode & 0o777, 0o640);
    assert.equal(readlinkSync(path.join(c.rootfs, "dst/src/link")), "a.txt");
    const put = engine.calls.find((x) => x.method === "PUT")!;
    assert.equal(put.path, `/containers/files/archive`);
    assert.equal(put.query.get("path"), "/dst");
    assert.equal(put.query.get("noOverwriteDirNonDir"), "true");
    assert.equal(engine.trail()[0], "HEAD /containers/files/archive?path=%2Fdst");

    // to a new name: the directory is renamed
    r = await hako(["cp", src, "files:/renamed"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(path.join(c.rootfs, "renamed/a.txt"), "utf8"), "alpha\n");
    // a single file to a new file name
    r = await hako(["cp", path.join(src, "a.txt"), "files:/dst/copy.txt"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(path.join(c.rootfs, "dst/copy.txt"), "utf8"), "alpha\n");
    // a directory onto an existing file
    r = await hako(["cp", src, "files:/dst/copy.txt"]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, "cannot copy directory\n");

    // out of the container: a file into a directory, a file to a new name
    const out = path.join(tmp, "out");
    mkdirSync(out);
    r = await hako(["cp", "files:/etc/hostname", out]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(path.join(out, "hostname"), "utf8"), `${c.id.slice(0, 12)}\n`);
    r = await hako(["cp", "files:/etc/hostname", path.join(out, "hn")]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(path.join(out, "hn"), "utf8"), `${c.id.slice(0, 12)}\n`);
    // 'dir/.': the contents; a relative destination
    r = await hako(["cp", "files:/dst/src/.", "contents"], "", out);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(path.join(out, "contents/a.txt"), "utf8"), "alpha\n");
    assert.equal(readFileSync(path.join(out, "contents/sub/b.txt"), "utf8"), "beta\n");
    assert.equal(readlinkSync(path.join(out, "contents/link")), "a.txt");
    // a missing source
    r = await hako(["cp", "files:/nothing", out]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, "Error response from daemon: Could not find the file /nothing in container files\n");
    // '-': the tar as the daemon sent it
    r = await hako(["cp", "files:/etc", "-"]);
    assert.equal(r.status, 0, r.stderr);
    const listing = spawnSync("tar", ["-tf", "-"], { input: r.stdoutBytes }).stdout.toString();
    assert.deepEqual(listing.trim().split("\n").sort(), ["etc/", "etc/hostname"]);
    // '-' as the source: a tar from stdin into a directory
    const tarball = spawnSync("tar", ["-C", src, "-cf", "-", "a.txt"]).stdout;
    r = await hako(["cp", "-", "files:/dst/fromstdin"], tarball);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'destination "files:/dst/fromstdin" must be a directory\n');
    mkdirSync(path.join(c.rootfs, "dst/fromstdin"));
    r = await hako(["cp", "-", "files:/dst/fromstdin"], tarball);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(path.join(c.rootfs, "dst/fromstdin/a.txt"), "utf8"), "alpha\n");
  });

  test("rm: -f sends force; names printed; missing ones are errors (ignored with -f)", async () => {
    engine.addContainer("gone", ["sleep", "1"], { state: "running" });
    let r = await hako(["rm", "gone"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^Error response from daemon: cannot remove container "\/gone": container is running/);
    r = await hako(["rm", "-f", "-v", "gone"]);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, "gone\n");
    assert.ok(engine.trail().includes("DELETE /containers/gone?force=1&v=1"));
    r = await hako(["rm", "-f", "gone"]);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "Error response from daemon: No such container: gone\n");
    r = await hako(["rm", "gone", "ghost"]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, "Error response from daemon: No such container: gone\nError response from daemon: No such container: ghost\n");
  });

  test("volume ls: sorted naturally, -q, --format", async () => {
    let r = await hako(["volume", "ls"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "DRIVER    VOLUME NAME\nlocal     vol9\nlocal     vol10\nlocal     zeta\n");
    r = await hako(["volume", "ls", "-q", "-f", "dangling=true"]);
    assert.equal(r.stdout, "vol9\nvol10\nzeta\n");
    assert.equal(engine.calls.filter((c) => c.path === "/volumes").pop()!.query.get("filters"), '{"dangling":{"true":true}}');
    r = await hako(["volume", "ls", "--format", "{{.Name}}:{{.Labels}}:{{.Mountpoint}}"]);
    assert.equal(r.stdout, "vol9::/var/lib/hako/volumes/vol9/_data\nvol10:a=b:/var/lib/hako/volumes/vol10/_data\nzeta::/var/lib/hako/volumes/zeta/_data\n");
  });

  test("run -it on a terminal: raw input, detach keys end the session quietly, partial sequences pass", { skip: haveScript ? false : "no script(1)" }, async () => {
    const cmdline = [HAKO_BIN, "run", "-it", "--name", "tty1", "--detach-keys", "ctrl-a,x", "busybox", "sleep", "100"].join(" ");
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${engine.socket}`, DOCKER_CONFIG: config };
    delete env.HAKO_HOST;
    const child = spawn("script", ["-qfec", cmdline, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    const deadline = Date.now() + 10_000;
    while (engine.find("tty1")?.state !== "running") {
      if (Date.now() > deadline) throw new Error(`the container did not start: ${output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300));
    child.stdin.write("ab");
    await new Promise((r) => setTimeout(r, 100));
    child.stdin.write("\x01c");
    await new Promise((r) => setTimeout(r, 100));
    child.stdin.write("\x01x");
    const status = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("timeout"), 10_000))]);
    child.kill("SIGKILL");
    assert.equal(status, 0, output);
    const c = engine.find("tty1")!;
    assert.equal(c.stdin.join(""), "ab\x01c");
    assert.equal(c.state, "running", "detaching leaves the container running");
    assert.doesNotMatch(output, /escape|error/i);
    const body = c.body as { Tty: boolean; AttachStdin: boolean; StdinOnce: boolean; HostConfig: { ConsoleSize: number[] } };
    assert.equal(body.Tty, true);
    assert.equal(body.StdinOnce, true);
    const attach = engine.calls.find((x) => x.upgrade && x.path.endsWith("/attach"))!;
    assert.equal(attach.query.get("detachKeys"), "ctrl-a,x");
    assert.equal(attach.query.get("stdin"), "1");
    c.removed = true;
  });

  test("run attached: signals go to the container (sig-proxy), the status comes back", async () => {
    const child = spawn(HAKO_BIN, ["run", "--name", "sig", "busybox", "sleep", "100"], {
      env: { ...process.env, DOCKER_HOST: `unix://${engine.socket}`, DOCKER_CONFIG: config, HAKO_HOST: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    const deadline = Date.now() + 10_000;
    while (engine.find("sig")?.state !== "running") {
      if (Date.now() > deadline) throw new Error(`the container did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 100));
    child.kill("SIGINT");
    assert.equal(await exited, 130, stderr);
    const kill = engine.calls.find((c) => c.path.endsWith("/kill"))!;
    assert.equal(kill.query.get("signal"), "INT");
  });

  test("start -a and attach: the stream, then the container's exit status", async () => {
    engine.addContainer("later", ["sh", "-c", "echo started; echo warn >&2; exit 6"]);
    let r = await hako(["start", "-a", "later"]);
    assert.equal(r.stdout, "started\n");
    assert.equal(r.stderr, "warn\n");
    assert.equal(r.status, 6);
    const c = engine.find("later")!;
    assert.deepEqual(engine.trail(), [
      "GET /containers/later/json",
      `POST /containers/${c.id}/attach?stderr=1&stdout=1&stream=1`,
      `POST /containers/${c.id}/wait?condition=next-exit`,
      `POST /containers/${c.id}/start`,
    ]);

    const running = engine.addContainer("live", ["sleep", "100"], { state: "running", openStdin: true });
    engine.reset();
    const child = spawn(HAKO_BIN, ["attach", "live"], { env: { ...process.env, DOCKER_HOST: `unix://${engine.socket}`, DOCKER_CONFIG: config, HAKO_HOST: "" }, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    const deadline = Date.now() + 10_000;
    while (!engine.calls.some((x) => x.upgrade)) {
      if (Date.now() > deadline) throw new Error("no attach");
      await new Promise((res) => setTimeout(res, 20));
    }
    await new Promise((res) => setTimeout(res, 100));
    child.stdin.write("to the container\n");
    await new Promise((res) => setTimeout(res, 100));
    engine.emit(running, { stream: 1, data: "from the container\n" });
    await new Promise((res) => setTimeout(res, 50));
    engine.exit(running, 5);
    assert.equal(await exited, 5);
    assert.equal(out, "from the container\n");
    assert.equal(running.stdin.join(""), "to the container\n");
    const trail = engine.trail();
    assert.equal(trail[0], "POST /containers/live/wait");
    assert.equal(trail[1], "GET /containers/live/json");
    assert.equal(trail[2], "POST /containers/live/attach?stderr=1&stdin=1&stdout=1&stream=1");
    r = await hako(["attach", "later"]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, "You cannot attach to a stopped container, start it first\n");
  });

  test("state commands: names on stdout, errors after them, status 1 when one failed", async () => {
    engine.addContainer("s1", ["sleep", "1"], { state: "running" });
    engine.addContainer("s2", ["sleep", "1"], { state: "exited" });
    let r = await hako(["stop", "-t", "3", "-s", "SIGUSR1", "s1", "ghost", "s2"]);
    assert.equal(r.stdout, "s1\ns2\n");
    assert.equal(r.stderr, "Error response from daemon: No such container: ghost\n");
    assert.equal(r.status, 1);
    assert.ok(engine.trail().includes("POST /containers/s1/stop?signal=SIGUSR1&t=3"));
    r = await hako(["kill", "-s", "HUP", "s2"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^Error response from daemon: Cannot kill container: /);
    r = await hako(["start", "s2", "ghost"]);
    assert.equal(r.stdout, "s2\n");
    assert.equal(r.stderr, "Error response from daemon: No such container: ghost\nError: failed to start containers: ghost\n");
    assert.equal(r.status, 1);
    r = await hako(["restart", "s2"]);
    assert.equal(r.stdout, "s2\n");
    r = await hako(["rename", "s2", "s1"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^Error response from daemon: Conflict\. The container name "\/s1" is already in use.*\nError: failed to rename container named s2\n$/);
    r = await hako(["rename", "s2", "s3"]);
    assert.equal(r.status, 0);
    assert.equal(engine.find("s3")?.name, "s3");
    r = await hako(["wait", "s1"]);
    assert.equal(r.stdout, "143\n");
    r = await hako(["update", "--cpus", "2", "-m", "1g", "s1"]);
    assert.equal(r.stdout, "s1\n");
    assert.equal(JSON.parse(engine.calls.find((c) => c.path.endsWith("/update"))!.body).NanoCpus, 2e9);
    r = await hako(["update", "s1"]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, "you must provide one or more flags when using this command\n");
    r = await hako(["container", "prune", "-f"]);
    assert.match(r.stdout, /^Deleted Containers:\n[0-9a-f]{64}\n[\s\S]*\nTotal reclaimed space: 12\.35kB\n$/);
  });

  test("export, commit, top, diff, inspect, volume create/inspect/rm/prune, system df, events", { skip: haveTar ? false : "no tar" }, async () => {
    const c = engine.addContainer("info", ["sleep", "100"], { state: "running" });
    const out = path.join(tmp, "export.tar");
    let r = await hako(["export", "-o", out, "info"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(spawnSync("tar", ["-tf", out]).stdout.toString(), /\.\/etc\/hostname/);
    r = await hako(["commit", "-a", "me", "-c", "CMD x", "-m", "msg", "--pause=false", "info", "myrepo/x:1"]);
    assert.equal(r.stdout, `sha256:${hex64(9, "c0mm17")}\n`);
    const commit = engine.calls.find((x) => x.path === "/commit")!;
    assert.equal(commit.url.replace(/^\/v1\.\d+/, ""), "/commit?author=me&changes=CMD+x&comment=msg&container=info&pause=0&repo=docker.io%2Fmyrepo%2Fx&tag=1");
    r = await hako(["top", "info", "-ef"]);
    assert.equal(r.stdout, "UID                 PID                 PPID                C                   STIME               TTY                 TIME                CMD\nroot                4242                4200                0                   10:00               ?                   00:00:00            sleep 100\nroot                4250                4242                0                   10:01               pts/0               00:00:01            sh\n");
    assert.equal(engine.calls.find((x) => x.path.endsWith("/top"))!.query.get("ps_args"), "-ef");
    r = await hako(["diff", "info"]);
    assert.equal(r.stdout, "C /etc\nA /etc/new.conf\nD /tmp/gone\n");
    r = await hako(["inspect", "-f", "{{.Name}} {{.State.Status}}", "info", "busybox-missing"]);
    assert.equal(r.stdout, "/info running\n");
    assert.equal(r.stderr, "Error: No such object: busybox-missing\n");
    assert.equal(r.status, 1);
    r = await hako(["container", "inspect", "info"]);
    assert.equal((JSON.parse(r.stdout) as { Id: string }[])[0]!.Id, c.id);
    r = await hako(["volume", "create", "--label", "keep=1", "-o", "type=tmpfs", "kept"]);
    assert.equal(r.stdout, "kept\n");
    assert.equal(engine.calls.find((x) => x.path === "/volumes/create")!.body, '{"Driver":"local","DriverOpts":{"type":"tmpfs"},"Labels":{"keep":"1"},"Name":"kept"}');
    r = await hako(["volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Labels}}", "kept", "nope"]);
    assert.equal(r.stdout, "kept local map[keep:1]\n");
    assert.equal(r.stderr, "Error response from daemon: get nope: no such volume\n");
    r = await hako(["volume", "rm", "vol9", "nope"]);
    assert.equal(r.stdout, "vol9\n");
    assert.equal(r.status, 1);
    r = await hako(["system", "df"]);
    assert.match(r.stdout, /^TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\nImages          1         1         4\.4MB     0B \(0%\)\nContainers /);
    r = await hako(["volume", "prune", "-f", "-a"]);
    assert.match(r.stdout, /^Deleted Volumes:\n[\s\S]*\nTotal reclaimed space: 4\.096kB\n$/);
    assert.equal(engine.calls.find((x) => x.path === "/volumes/prune")!.query.get("filters"), '{"all":{"true":true}}');
    r = await hako(["events", "--since", "2026-01-01T00:00:00Z", "--until", "2026-12-01T00:00:00Z", "-f", "type=container"]);
    assert.match(r.stdout, /^2026-11-2\dT\d\d:\d\d:27\.123456789(Z|[+-]\d\d:\d\d) container create abc \(image=busybox, name=x\)\n/);
    const ev = engine.calls.find((x) => x.path === "/events")!;
    assert.equal(ev.query.get("since"), "1767225600.000000000");
    assert.equal(ev.query.get("filters"), '{"type":{"container":true}}');
    r = await hako(["events", "--format", "{{.Type}}/{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}", "--until", "0s"]);
    // a missing map key prints "<no value>", as Go's templates do
    assert.equal(r.stdout, "container/create abc x\nnetwork/connect net1 bridge\nvolume/create v1 <no value>\n");
    r = await hako(["events", "--format", "{{.Bogus"]);
    assert.equal(r.status, 64);
  });

  test("stats --no-stream: CPU % from the two samples, memory without cache", async () => {
    engine.addContainer("st", ["sleep", "1"], { state: "running" });
    const r = await hako(["stats", "--no-stream", "st"]);
    assert.equal(r.status, 0, r.stderr);
    const [header, row] = r.stdout.split("\n");
    assert.equal(header, "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O         BLOCK I/O        PIDS");
    // (100e6 / 2000e6) × 4 CPUs × 100 = 20 %; 50 MiB - 10 MiB inactive file = 40 MiB of 2 GiB = 1.95 %
    assert.match(row!, /^[0-9a-f]{12}   st        20\.00%    40MiB \/ 2GiB        1\.95%     1\.5kB \/ 2\.5kB   4\.1MB \/ 1\.02kB   3$/);
    assert.equal(engine.calls.find((c) => c.path.endsWith("/stats"))!.query.get("stream"), "0");
  });
});

const dockerSkip = !built ? "dist/hako.cjs is missing" : !existsSync(DOCKER) ? `${DOCKER} is not installed` : false;

describe("cli containers: hako and the docker CLI send and print the same", { skip: dockerSkip }, () => {
  const engine = new FakeEngine();
  let config: string;
  before(async () => {
    await engine.start();
    config = mkdtempSync(path.join(os.tmpdir(), "hako-cli-docker-config-"));
  });
  after(async () => {
    await engine.close();
    rmSync(config, { recursive: true, force: true });
  });

  /** Runs one command line through both CLIs; returns their results and the (versionless) calls each made. */
  async function both(args: string[], input = ""): Promise<{ docker: RunResult; hako: RunResult; dockerCalls: Call[]; hakoCalls: Call[] }> {
    engine.reset();
    const docker = await runBin(DOCKER, args, engine.socket, input, { DOCKER_CONFIG: config });
    const dockerCalls = engine.calls.filter((c) => !c.path.endsWith("/_ping"));
    engine.reset();
    const hako = await runBin(HAKO_BIN, args, engine.socket, input, { DOCKER_CONFIG: config });
    const hakoCalls = engine.calls.filter((c) => !c.path.endsWith("/_ping"));
    return { docker, hako, dockerCalls, hakoCalls };
  }

  const shape = (calls: Call[]): string[] => calls.map((c) => `${c.method} ${c.url.replace(/^\/v1\.\d+/, "").replace(/[0-9a-f]{64}/g, "<id>")}`);

  test("create: the same body for a long command line", async () => {
    const args = [
      "create", "--name", "same", "-e", "FOO=bar", "-m", "64m", "--memory-swap", "-1", "--cpus", "1.5", "-v", "/tmp:/data:ro", "-v", "vol:/v", "-v", "/anon",
      "-p", "127.0.0.1:8080:80/udp", "-p", "9000-9001:9000-9001", "--expose", "7000", "--ulimit", "nofile=100:200", "--restart", "on-failure:3", "--cap-add", "net_admin",
      "--cap-drop", "ALL", "--tmpfs", "/run:size=1m", "--mount", "type=bind,src=/tmp,dst=/mnt,readonly", "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1777",
      "--health-cmd", "true", "--health-interval", "1m30s", "--health-retries", "2", "--init", "-l", "a=b", "--dns", "8.8.8.8", "--add-host", "h:1.2.3.4",
      "--device", "/dev/null:/dev/x:r", "--security-opt", "no-new-privileges", "--sysctl", "net.ipv4.ip_forward=1", "--pids-limit", "50", "--oom-score-adj", "10",
      "--stop-signal", "SIGUSR1", "--stop-timeout", "3", "-w", "/w", "-u", "1:2", "-h", "host", "--network", "none", "--ipc", "private", "--pid", "host",
      "--shm-size", "1g", "--group-add", "audio", "--log-driver", "json-file", "--log-opt", "max-size=1m", "--read-only", "--privileged", "-t", "-i",
      "busybox", "sh", "-c", "echo hi",
    ];
    const r = await both(args);
    assert.equal(r.hako.status, r.docker.status, r.hako.stderr);
    assert.deepEqual(shape(r.hakoCalls), shape(r.dockerCalls));
    // docker collects -v (and -e) in Go maps: their order in the body is random there.
    const normalized = (body: string): unknown => {
      const v = JSON.parse(body) as { HostConfig: { Binds: string[] | null } };
      v.HostConfig.Binds?.sort();
      return v;
    };
    const docker = normalized(r.dockerCalls[0]!.body);
    const hako = normalized(r.hakoCalls[0]!.body);
    assert.deepEqual(hako, docker);
    assert.equal(JSON.stringify(hako), JSON.stringify(docker), "the same key order");
  });

  test("run attached: the same calls in the same order, the same exit status", async () => {
    const r = await both(["run", "busybox", "sh", "-c", "echo out; exit 4"]);
    assert.equal(r.hako.status, 4);
    assert.equal(r.docker.status, 4);
    assert.equal(r.hako.stdout, r.docker.stdout);
    assert.deepEqual(shape(r.hakoCalls), shape(r.dockerCalls));
  });

  test("info commands print the same: top, diff, inspect, port, wait, df, events, volume inspect", async () => {
    for (const c of engine.containers.values()) c.removed = true;
    const now = Math.floor(Date.now() / 1000);
    engine.addContainer("one", ["sleep", "100"], { state: "running", created: now - 7200 });
    engine.addContainer("two", ["sh"], { state: "exited", exitCode: 3, created: now - 100 });
    const lines = [
      ["top", "one"],
      ["diff", "one"],
      ["container", "inspect", "-f", "{{.Name}} {{.State.Status}} {{.Config.Cmd}}", "one", "ghost"],
      ["inspect", "one"],
      ["inspect", "--type", "container", "-f", "{{.Id}}", "two"],
      ["port", "one"],
      ["wait", "two", "ghost"],
      ["pause", "one", "two"],
      ["stop", "two"],
      ["kill", "ghost"],
      ["rm", "-f", "ghost"],
      ["system", "df"],
      ["system", "df", "-v"],
      ["events", "--since", "2026-01-01T00:00:00Z", "--until", "2026-12-01T00:00:00Z"],
      ["events", "--format", "json", "--until", "2026-12-01T00:00:00Z"],
      ["events", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes}} {{.TimeNano}} {{.Scope}}", "--until", "2026-12-01T00:00:00Z"],
      ["volume", "inspect", "vol10", "nope"],
      ["volume", "ls", "--format", "json"],
      ["logs", "two"],
      ["update", "--memory", "64m", "--restart", "on-failure:2", "one"],
    ];
    for (const args of lines) {
      const r = await both(args);
      const what = args.join(" ");
      assert.equal(r.hako.stdout, r.docker.stdout, `${what}: stdout`);
      assert.equal(r.hako.stderr, r.docker.stderr.replaceAll("docker", "hako"), `${what}: stderr`);
      assert.equal(r.hako.status, r.docker.status, `${what}: status`);
      // pause, stop, kill and rm work on their containers in parallel: compare the calls as sets
      assert.deepEqual(shape(r.hakoCalls).sort(), shape(r.dockerCalls).sort(), `${what}: calls`);
      assert.deepEqual(r.hakoCalls.map((c) => c.body.trimEnd()).sort(), r.dockerCalls.map((c) => c.body.trimEnd()).sort(), `${what}: bodies`);
    }
  });

  test("ps -a, ps --format json, volume ls and stats --no-stream print the same", async () => {
    for (const c of engine.containers.values()) c.removed = true;
    const now = Math.floor(Date.now() / 1000);
    engine.addContainer("one", ["nginx", "-g", "daemon off;"], { state: "running", created: now - 7200, labels: { x: "y" } });
    engine.addContainer("two", ["sh"], { state: "exited", exitCode: 1, created: now - 100 });
    for (const args of [["ps", "-a"], ["ps", "-a", "--no-trunc"], ["ps", "--format", "json"], ["volume", "ls"], ["stats", "--no-stream", "one"], ["stats", "--no-stream", "--format", "json", "one"]]) {
      const r = await both(args);
      assert.equal(r.hako.status, r.docker.status, `${args.join(" ")}: ${r.hako.stderr}`);
      assert.equal(r.hako.stdout, r.docker.stdout, args.join(" "));
      assert.deepEqual(shape(r.hakoCalls), shape(r.dockerCalls), args.join(" "));
    }
  });
});
