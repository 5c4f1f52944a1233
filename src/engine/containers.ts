/**
 * The container service: create, start, stop, kill, wait, remove and the
 * rest of a container's life, over the image's layers, the runtime's plan
 * and one shim per running container. hakod may die and come back: the
 * shims keep the containers, and `init` finds them again.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import path from "node:path";
import type { Logger } from "../api/context.ts";
import type { Cgroup } from "../cgroups/cgroup.ts";
import { openCgroup } from "../cgroups/open.ts";
import { ConflictError, FailedPreconditionError, HakoError, InvalidArgumentError, SyscallError, errorMessage } from "../common/errors.ts";
import { filterTime, matchesLabels } from "../common/filters.ts";
import { writeFileAtomic } from "../common/fs.ts";
import type { EventBus } from "../daemon/events.ts";
import { chainIds, shortId } from "../image/ids.ts";
import type { ImageService } from "../image/service.ts";
import { familiarString, parseReference } from "../image/reference.ts";
import { PlanMode } from "../native/plan.ts";
import { extractLayer, rootfsGetTar, rootfsStat } from "../native/tools.ts";
import { ShimConnection, readExitFile, readShimPid, shimAlive, shimReleased, startContainerShim, type AttachFlags } from "../native/container-shim.ts";
import { planContainer } from "../runtime/plan.ts";
import { parseSignal, withDeviceRules } from "../runtime/runtime.ts";
import { processStartTime } from "../runtime/state.ts";
import type {
  ContainerConfig,
  ContainerCreateRequest,
  ContainerCreateResponse,
  ContainerInspectResponse,
  ContainerSummary,
  ContainerWaitResponse,
  EndpointSettings,
  HostConfig,
  Resources,
} from "../spec/docker-api.ts";
import type { Spec } from "../spec/oci-runtime.ts";
import { layerKey } from "../storage/layer-store.ts";
import { layerLocation } from "./archive.ts";
import { ContainerStore, ZERO_TIME, generateContainerId, initialState, statusOf, type ContainerRecord } from "./container-store.ts";
import { NameRegistry, normalizeName } from "./names.ts";
import { generateSpec, type SpecResult } from "./specgen.ts";
import { mountPointView, mountPointsByDestination } from "./types.ts";
import { VolumeStore } from "./volumes.ts";
import { makeWorkingDir } from "./workdir.ts";
import { attachContainer, checkNetworkMode, containerNetworkSettings, plainNetworkSettings, releaseSlirp, summaryNetworks, summaryPorts } from "../network/container-network.ts";
import { giveBackAll, reclaimAfterExit } from "../network/handover.ts";
import type { NetworkService } from "../network/service.ts";
import { nowRfc3339Nano } from "../common/time.ts";

export interface ContainerServiceOptions {
  /** /var/lib/hako */
  dataRoot: string;
  /** /run/hako: the shims' state, gone at reboot. */
  runRoot: string;
  images: ImageService;
  events: EventBus;
  log: Logger;
  /** Host path of hako-init for --init. */
  initBinary?: string;
  /** The cgroup containers' cgroups go under (default /hako). */
  cgroupParent?: string;
  /** Networking (issue #5): without it containers get a namespace with nothing in it. */
  networks?: NetworkService;
}

type WaitCondition = "not-running" | "next-exit" | "removed";

interface Waiter {
  condition: WaitCondition;
  resolve: (r: ContainerWaitResponse) => void;
}

/** Shims the engine watches: the exit comes over this connection. */
interface Live {
  watch: ShimConnection;
  oomBefore: number;
}

const DEFAULT_LOG_MAX_SIZE = 20 * 1024 * 1024;
const DEFAULT_LOG_MAX_FILES = 5;

/** Docker's default /etc/hosts for a container without a network of its own. */
const DEFAULT_HOSTS =
  "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";


/** The host's resolv.conf without loopback nameservers (they mean nothing inside); Docker's fallback when none is left. */
export function containerResolvConf(host: string): string {
  const lines = host.split("\n").filter((l) => !/^\s*nameserver\s+(127\.|::1\b)/.test(l));
  if (!lines.some((l) => /^\s*nameserver\s/.test(l))) lines.push("nameserver 8.8.8.8", "nameserver 8.8.4.4");
  return `${lines.join("\n").trim()}\n`;
}

export class ContainerService {
  readonly store: ContainerStore;
  readonly names = new NameRegistry();
  readonly volumes: VolumeStore;
  readonly images: ImageService;
  private readonly opts: ContainerServiceOptions;
  private readonly live = new Map<string, Live>();
  private readonly waiters = new Map<string, Waiter[]>();
  /** Attach requests for a container that is not running yet: connected when it starts, before it execs. */
  /** The spec each running container started with (spec.json, read once): what its execs are planned from. */
  private readonly specs = new Map<string, { startedAt: string; spec: Spec }>();
  /** Each container's shim of its last start: a new start waits for it to be gone (shimReleased). */
  private readonly shims = new Map<string, number>();
  private readonly pendingAttach = new Map<string, { flags: AttachFlags; resolve: (c: ShimConnection) => void; reject: (e: unknown) => void }[]>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly removing = new Set<string>();

  constructor(options: ContainerServiceOptions) {
    this.opts = options;
    this.images = options.images;
    this.store = new ContainerStore(path.join(options.dataRoot, "containers"));
    this.volumes = new VolumeStore(path.join(options.dataRoot, "volumes"), { usage: (name) => this.volumeUsers(name) });
    mkdirSync(this.shimRoot(), { recursive: true, mode: 0o700 });
  }

  private shimRoot(): string {
    return path.join(this.opts.runRoot, "containers");
  }

  shimDir(id: string): string {
    return path.join(this.shimRoot(), id);
  }

  private cgroupPath(id: string): string {
    return `${this.opts.cgroupParent ?? "/hako"}/${id}`;
  }

  /**
   * hakod stops; containers keep running in their shims (live restore).
   * Only the watchers go, and an empty per-daemon cgroup parent.
   */
  close(): void {
    for (const l of this.live.values()) l.watch.close();
    this.live.clear();
    for (const t of this.restartTimers.values()) clearTimeout(t);
    const parent = this.opts.cgroupParent;
    if (parent && parent !== "/hako" && this.store.list().every((c) => !c.State.Running)) {
      for (const h of safe(() => readdirSync("/sys/fs/cgroup"), [] as string[])) {
        safe(() => rmdirSync(path.join("/sys/fs/cgroup", h, parent)), undefined);
      }
    }
  }

  /** The host's cgroup v1 hierarchies do not move while hakod runs: their mountinfo is read once. */
  private cgroupMountinfo: string | undefined;
  /** Opened cgroups by container (only paths: what is on disk is read when asked), until the container goes. */
  private readonly cgroups = new Map<string, Cgroup>();

  private cgroup(id: string): Cgroup {
    let cg = this.cgroups.get(id);
    if (!cg) {
      this.cgroupMountinfo ??= readFileSync("/proc/self/mountinfo", "utf8");
      cg = openCgroup(this.cgroupPath(id), { mountinfo: this.cgroupMountinfo });
      if (this.store.get(id)) this.cgroups.set(id, cg);
    }
    return cg;
  }

  // ---------------------------------------------------------------- start-up

  /** Loads records, finds running containers' shims again, and applies restart policies. */
  async init(): Promise<void> {
    const report = this.store.load();
    for (const s of report.skipped) this.opts.log.warn("container record unreadable, left on disk", { id: s.id, error: s.error });
    for (const c of this.store.list()) this.names.reserve(c.Name, c.ID);
    this.images.containerUsage = (imageId) =>
      this.store
        .list()
        .filter((c) => c.Image === imageId)
        .map((c) => ({ id: c.ID, running: c.State.Running }));
    for (const c of this.store.list()) {
      if (!c.State.Running) continue;
      if (shimAlive(this.shimDir(c.ID))) {
        this.shims.set(c.ID, readShimPid(this.shimDir(c.ID))!);
        try {
          await this.watch(c.ID, 0);
          continue;
        } catch (err) {
          this.opts.log.warn("shim alive but unreachable", { id: c.ID, error: errorMessage(err) });
        }
      }
      // It ended while we were away: its exit status waits in exit.json.
      await this.onExit(c.ID, undefined, { restoring: true });
    }
    await this.reapOrphans();
    for (const c of this.store.list()) {
      const policy = c.HostConfig.RestartPolicy?.Name ?? "no";
      const restart = policy === "always" || (policy === "unless-stopped" && !c.HasBeenManuallyStopped);
      if (restart && !c.State.Running && c.HasBeenStartedBefore) {
        this.start(c.ID).catch((err: unknown) => this.opts.log.warn("restart at start-up failed", { id: c.ID, error: errorMessage(err) }));
      }
    }
  }

  /** What has no owner goes: shim dirs, cgroups and layers of containers that have no record. */
  private async reapOrphans(): Promise<void> {
    const known = new Set(this.store.list().map((c) => c.ID));
    for (const id of readdirSync(this.shimRoot())) {
      if (known.has(id)) continue;
      await releaseSlirp(this.shimDir(id)).catch(() => {});
      rmSync(this.shimDir(id), { recursive: true, force: true });
    }
    for (const s of this.images.layers.snapshotter.list()) {
      const id = s.key.replace(/-init$/, "");
      if (/^[0-9a-f]{64}$/.test(id) && s.kind === "active" && !known.has(id)) await this.images.layers.removeContainerLayer(id).catch(() => {});
    }
    try {
      for (const id of readdirSync(path.join("/sys/fs/cgroup/memory", this.opts.cgroupParent ?? "/hako"))) {
        if (/^[0-9a-f]{64}$/.test(id) && !known.has(id)) this.cgroup(id).destroy();
      }
    } catch {
      // no /hako cgroups yet (or a v2 host: the driver's own listing would be needed)
    }
  }

  // ---------------------------------------------------------------- create

  async create(body: ContainerCreateRequest, options: { name?: string } = {}): Promise<ContainerCreateResponse> {
    const { HostConfig: hostConfigIn, NetworkingConfig: networking, ...config } = body;
    if (!config.Image) throw new InvalidArgumentError("config.Image: no image specified");
    checkRequest(config, hostConfigIn);
    if (this.opts.networks && !config.NetworkDisabled) checkNetworkMode(this.opts.networks, hostConfigIn?.NetworkMode, networking);
    const image = this.images.resolve(config.Image);
    const imageConfig = this.images.config(image);
    const id = generateContainerId();
    const name = options.name ? this.names.reserve(options.name, id) : this.names.reserveGenerated(id);
    const paths = this.store.paths(id);
    try {
      const top = this.images.topChainId(image);
      await this.images.layers.createContainerLayer(id, top, {
        "etc/hosts": "",
        "etc/hostname": "",
        "etc/resolv.conf": "",
        // Docker's init layer has them too: tools look for /.dockerenv to know they run in a container.
        ".dockerenv": "",
        "etc/mtab": { symlink: "/proc/mounts" },
      });
      const result = this.specFor(id, name, { ...config, Image: config.Image }, hostConfigIn ?? {}, image.id, imageConfig.config ?? {}, false);
      const record: ContainerRecord = {
        ID: id,
        Name: normalizeName(name),
        Created: nowRfc3339Nano(),
        Path: result.path,
        Args: result.args,
        Config: result.config,
        HostConfig: result.hostConfig,
        Image: image.id,
        ImageName: config.Image,
        State: initialState(),
        RestartCount: 0,
        Driver: this.images.layers.snapshotter.driver,
        Platform: "linux",
        MountPoints: mountPointsByDestination(result.mountPoints),
        LogPath: paths.log,
        HostnamePath: paths.hostname,
        HostsPath: paths.hosts,
        ResolvConfPath: paths.resolvConf,
        ExecIDs: [],
        HasBeenStartedBefore: false,
        HasBeenManuallyStopped: false,
        // The networks asked for besides NetworkMode's, joined at every start (Docker keeps them here too).
        NetworkSettings: { Networks: { ...(networking?.EndpointsConfig ?? {}) } },
      };
      if (result.workingDir) this.makeWorkingDir(id, result.workingDir);
      this.store.create(record);
      this.writeNetworkFiles(record);
      this.publish("create", record);
      return { Id: id, Warnings: result.warnings };
    } catch (err) {
      this.names.releaseId(id);
      await this.images.layers.removeContainerLayer(id).catch(() => {});
      if (this.store.exists(id)) this.store.remove(id);
      this.cgroups.delete(id);
      rmSync(paths.dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** The container's root as the runtime sees it, and the mount that makes it (overlay), if any. */
  private rootfsOf(id: string): { rootfs: string; mount?: { type: string; source: string; options: string[]; cwd?: string }; userRoot: string } {
    const snap = this.images.layers.snapshotter;
    const m = snap.mounts(id)[0]!;
    if (m.type === "bind") return { rootfs: m.source, userRoot: m.source };
    const data = snap.graphDriverData(id);
    // Without mounting, /etc/passwd is read from the nearest layer that has it.
    const dirs = [data.UpperDir, ...(data.LowerDir ?? "").split(":")].filter(Boolean) as string[];
    const userRoot = dirs.find((d) => existsSync(path.join(d, "etc/passwd"))) ?? dirs.at(-1)!;
    return { rootfs: data.MergedDir!, mount: m, userRoot };
  }

  private specFor(
    id: string,
    name: string,
    config: ContainerRecord["Config"],
    hostConfig: HostConfig,
    _imageId: string,
    imageConfig: NonNullable<ReturnType<ImageService["config"]>["config"]>,
    merged: boolean,
    mountPoints?: ContainerRecord["MountPoints"],
  ): SpecResult {
    const paths = this.store.paths(id);
    const root = this.rootfsOf(id);
    return generateSpec({
      id,
      name,
      config,
      merged,
      hostConfig,
      image: { config: imageConfig, user: imageConfig.User },
      rootfs: root.rootfs,
      userRoot: root.userRoot,
      paths: { hosts: paths.hosts, hostname: paths.hostname, resolvConf: paths.resolvConf },
      volumes: (volName, request) => this.volumes.ensure(volName, request),
      ...(mountPoints ? { mountPoints: Object.values(mountPoints) } : {}),
      volumesFrom: (ref) => Object.values(this.store.resolve(ref).MountPoints),
      containerPid: (ref) => {
        const c = this.store.resolve(ref);
        return c.State.Running ? c.State.Pid : undefined;
      },
      ipcShmDir: (ref) => {
        const donor = this.store.resolve(ref);
        if (donor.HostConfig.IpcMode !== "shareable") {
          throw new InvalidArgumentError(`can't join IPC of container ${donor.ID}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)`);
        }
        return shmDirOf(donor.ID);
      },
      ...(hostConfig.IpcMode === "shareable" ? { ownShmDir: shmDirOf(id) } : {}),
      initBinary: this.opts.initBinary,
      cgroupsPath: this.cgroupPath(id),
    });
  }

  /** The working directory made in the container's layer as the merged view will show it (engine/workdir.ts). */
  private makeWorkingDir(id: string, dir: string): void {
    const snap = this.images.layers.snapshotter;
    const lowers = (snap.graphDriverData(id).LowerDir ?? "").split(":").filter(Boolean);
    makeWorkingDir(snap.diffDir(id), lowers, dir);
  }

  private writeNetworkFiles(c: ContainerRecord): void {
    const host = c.HostConfig.NetworkMode === "host";
    const hostname = c.Config.Hostname || c.ID.slice(0, 12);
    writeFileSync(c.HostnamePath, `${hostname}\n`);
    let hosts = host ? readFileSync("/etc/hosts", "utf8") : DEFAULT_HOSTS;
    for (const extra of c.HostConfig.ExtraHosts ?? []) {
      const i = extra.lastIndexOf(":");
      if (i > 0) hosts += `${extra.slice(i + 1)}\t${extra.slice(0, i)}\n`;
    }
    writeFileSync(c.HostsPath, hosts);
    let resolv = "";
    try {
      resolv = readFileSync("/etc/resolv.conf", "utf8");
    } catch {
      // no host resolver configuration
    }
    writeFileSync(c.ResolvConfPath, host ? resolv : containerResolvConf(resolv));
  }

  // ---------------------------------------------------------------- start

  /** Starts a created or exited container; false when it already runs (HTTP 304). */
  async start(ref: string): Promise<boolean> {
    const c = this.store.resolve(ref);
    if (c.State.Running && !c.State.Restarting) return false;
    if (this.removing.has(c.ID)) throw new ConflictError(`container ${c.ID} is marked for removal and cannot be started`);
    const timer = this.restartTimers.get(c.ID);
    if (timer) {
      clearTimeout(timer);
      this.restartTimers.delete(c.ID);
    }
    const image = this.images.images.get(c.Image);
    const imageConfig = image ? (this.images.config(image).config ?? {}) : {};
    if (c.HostConfig.IpcMode === "shareable") {
      mkdirSync(shmDirOf(c.ID), { recursive: true });
      chmodSync(shmDirOf(c.ID), 0o1777);
    }
    const cgroup = this.cgroup(c.ID);
    const shimDir = this.shimDir(c.ID);
    try {
      const result = this.specFor(c.ID, c.Name, c.Config, c.HostConfig, c.Image, imageConfig, true, c.MountPoints);
      const spec = result.spec;
      await this.copyUpVolumes(c);
      // Made again at every start: a power cut that loses it loses nothing.
      writeFileAtomic(path.join(this.store.paths(c.ID).dir, "spec.json"), JSON.stringify(spec), 0o644, "atomic");

      cgroup.create(withDeviceRules(spec));
      await shimReleased(this.shims.get(c.ID), shimDir);
      await releaseSlirp(shimDir).catch(() => {});
      rmSync(shimDir, { recursive: true, force: true });
      mkdirSync(shimDir, { recursive: true, mode: 0o700 });
      const root = this.rootfsOf(c.ID);
      // Docker's sandboxes have lo up; a namespace of its own gets it from the process, before it execs.
      const ownNetns = (spec.linux?.namespaces ?? []).some((n) => n.type === "network" && !n.path);
      const plan = planContainer(spec, {
        loopbackUp: ownNetns,
        bundle: this.store.paths(c.ID).dir,
        mode: PlanMode.Run,
        cgroup,
        waitStart: true,
        seccompCacheDir: path.join(this.opts.runRoot, "seccomp"),
        ...(root.mount ? { rootfsMount: root.mount } : {}),
      });
      const logConfig = c.HostConfig.LogConfig?.Config ?? {};
      const handle = await startContainerShim(plan, {
        shimDir,
        log: {
          path: c.LogPath,
          maxSize: parseLogSize(logConfig["max-size"]) ?? DEFAULT_LOG_MAX_SIZE,
          maxFiles: Number(logConfig["max-file"] ?? DEFAULT_LOG_MAX_FILES),
        },
        openStdin: Boolean(c.Config.OpenStdin),
        stdinOnce: Boolean(c.Config.StdinOnce),
      });
      this.shims.set(c.ID, handle.shimPid);
      let watch: ShimConnection;
      let oomBefore: number;
      // The connections wait at attach.sock until start, so they are made while the networks are
      // joined. Attachers first, then the watcher: no output and no exit can slip past them.
      const attachers = this.pendingAttach.get(c.ID) ?? [];
      this.pendingAttach.delete(c.ID);
      const connecting = attachers.map((p) => ShimConnection.connect(shimDir, p.flags));
      const watching = ShimConnection.connect(shimDir, { watch: true });
      for (const conn of [watching, ...connecting]) conn.catch(() => {}); // handled below, after the networks
      try {
        await this.attachNetworks(c, handle.pid, ownNetns);
        oomBefore = safe(() => cgroup.oomKillCount(), 0);
        watch = await watching;
      } catch (err) {
        for (const conn of [watching, ...connecting]) conn.then((x) => x.close(), () => {});
        // A process that failed its own set-up meanwhile (exec: not found) took its namespaces and its shim along: its error is the one.
        const own = await handle.setupFailure();
        handle.abort();
        for (const p of attachers) p.reject(own ?? err);
        throw own ?? err;
      }
      connecting.forEach((conn, i) => conn.then(attachers[i]!.resolve, attachers[i]!.reject));
      this.live.set(c.ID, { watch, oomBefore });
      // "start" goes out first; the record says "running" while the process execs (the write
      // overlaps the shim's work), and no moment is left where a shim that got "start" has a
      // record saying otherwise: a shim whose caller left before "start" gives up instead.
      const running = handle.start();
      running.catch(() => {}); // awaited below, unless the save throws first
      const before = { State: c.State, HasBeenStartedBefore: c.HasBeenStartedBefore, HasBeenManuallyStopped: c.HasBeenManuallyStopped };
      c.State = {
        ...c.State,
        Running: true,
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: handle.pid,
        ExitCode: 0,
        Error: "",
        StartedAt: nowRfc3339Nano(),
        // The last exit's time stays until the next one (moby's SetRunning).
        Status: "running",
      };
      c.HasBeenStartedBefore = true;
      c.HasBeenManuallyStopped = false;
      this.store.save(c);
      try {
        await running;
      } catch (err) {
        this.live.delete(c.ID);
        watch.close();
        Object.assign(c, before);
        throw err;
      }
      this.specs.set(c.ID, { startedAt: c.State.StartedAt, spec });
      watch.exited.then(
        (status) => this.onExit(c.ID, status),
        () => this.onExit(c.ID, undefined),
      );
      this.publishVolumeEvents("mount", c);
      this.publish("start", c);
      return true;
    } catch (err) {
      safe(() => cgroup.destroy(), undefined);
      // The shim names the pid before the set-up ends: a failure after it finds the networks joined.
      this.releaseNetworks(c.ID);
      this.releaseNamespaceHelpers(c.ID);
      const exit = readExitFile(shimDir);
      c.State = { ...c.State, Running: false, Pid: 0, ExitCode: exit?.exitCode ?? (err as { exitCode?: number }).exitCode ?? 128, Error: errorMessage(err) };
      c.State.Status = statusOf(c.State);
      this.store.save(c);
      for (const p of this.pendingAttach.get(c.ID) ?? []) p.reject(err);
      this.pendingAttach.delete(c.ID);
      if (c.HostConfig.AutoRemove) {
        // dockerd cleans up an --rm container whose start failed; docker run --rm waits for that removal.
        setImmediate(() => void this.remove(c.ID, { force: true, volumes: true }).catch((e: unknown) => this.opts.log.warn("auto-remove after a failed start failed", { id: c.ID, error: errorMessage(e) })));
      }
      if (err instanceof SyscallError && err.stage === "exec") {
        // The seed's wording ("Cannot start container <id>: exec: ..."); the CLI maps it to 127/126.
        const e = new InvalidArgumentError(`Cannot start container ${c.ID}: ${err.message}`);
        (e as InvalidArgumentError & { exitCode?: number }).exitCode = c.State.ExitCode;
        throw e;
      }
      throw err;
    }
  }

  /**
   * The container's networks, between the shim's "pid" and "start": its
   * process waits in its new namespace, so it execs with its interfaces,
   * published ports, /etc/hosts and resolv.conf in place.
   */
  private async attachNetworks(c: ContainerRecord, pid: number, loopbackUp: boolean): Promise<void> {
    const networks = this.opts.networks;
    if (!networks || c.Config.NetworkDisabled) return;
    // A restart after an exit the engine saw no release for (hakod was down).
    await networks.releaseContainer(c.ID);
    await attachContainer(networks, {
      id: c.ID,
      name: c.Name,
      pid,
      networkMode: c.HostConfig.NetworkMode,
      networking: { EndpointsConfig: c.NetworkSettings?.Networks ?? {} },
      ...(c.ModeNetworkDisconnected ? { modeDisconnected: true } : {}),
      hostname: c.Config.Hostname || c.ID.slice(0, 12),
      ...(c.Config.Domainname ? { domainname: c.Config.Domainname } : {}),
      portBindings: c.HostConfig.PortBindings ?? null,
      publishAll: c.HostConfig.PublishAllPorts === true,
      exposedPorts: c.Config.ExposedPorts ?? null,
      extraHosts: c.HostConfig.ExtraHosts ?? null,
      dns: c.HostConfig.Dns ?? null,
      dnsSearch: c.HostConfig.DnsSearch ?? null,
      dnsOptions: c.HostConfig.DnsOptions ?? null,
      hostsPath: c.HostsPath,
      resolvConfPath: c.ResolvConfPath,
      stateDir: this.shimDir(c.ID),
      loopbackUp,
    });
    this.publishNetworkEvents("connect", c.ID, this.opts.networks?.endpointsOf(c.ID) ?? {});
  }

  /** Docker's volume events for a container's named and anonymous volumes, at start (mount) and exit (unmount). */
  private publishVolumeEvents(action: "mount" | "unmount", c: ContainerRecord): void {
    for (const m of Object.values(c.MountPoints)) {
      if (m.Type !== "volume" || !m.Name) continue;
      const attributes: Record<string, string> = { container: c.ID, driver: m.Driver || "local" };
      if (action === "mount") Object.assign(attributes, { destination: m.Destination, "read/write": String(m.RW), propagation: m.Propagation });
      this.opts.events.publish({ type: "volume", action, id: m.Name, attributes });
    }
  }

  /** Docker's network events for a container joining (start) or leaving (exit) its networks. */
  private publishNetworkEvents(action: "connect" | "disconnect", id: string, endpoints: Record<string, { NetworkID: string }>): void {
    const networks = this.opts.networks;
    if (!networks) return;
    for (const [name, ep] of Object.entries(endpoints)) {
      const driver = networks.driverOf(name) ?? "bridge";
      this.opts.events.publish({ type: "network", action, id: ep.NetworkID, attributes: { container: id, name, type: driver } });
    }
  }

  /**
   * Interfaces handed over to the container go back to the host before its
   * namespace goes (stop, rm): virtual ones would die with it.
   */
  private async returnInterfaces(c: ContainerRecord): Promise<void> {
    if (!c.State.Running || !c.State.Pid) return;
    const failures = await giveBackAll({ id: c.ID, pid: c.State.Pid, stateDir: this.shimDir(c.ID) }).catch((err: unknown) => [errorMessage(err)]);
    for (const f of failures) this.opts.log.warn("handed-over interface not given back", { id: c.ID, error: f });
  }

  /** After an exit: slirp4netns stops, interfaces the kernel returned get their host names back. */
  private releaseNamespaceHelpers(id: string): void {
    const dir = this.shimDir(id);
    releaseSlirp(dir).catch((err: unknown) => this.opts.log.warn("stopping slirp4netns failed", { id, error: errorMessage(err) }));
    reclaimAfterExit(dir).then(
      (lost) => {
        for (const l of lost) this.opts.log.warn("handed-over interface lost with the container's namespace", { id, error: l });
      },
      (err: unknown) => this.opts.log.warn("reclaiming handed-over interfaces failed", { id, error: errorMessage(err) }),
    );
  }

  /** Gives a container's addresses, names and port rules back; the kernel already took its veths. Not waited for. */
  private releaseNetworks(id: string): void {
    this.opts.networks?.releaseContainer(id).catch((err: unknown) => this.opts.log.warn("network release failed", { id, error: errorMessage(err) }));
  }

  /**
   * Docker copies what the image has at a new volume's mount point into it,
   * at its first mount, with the directory's owner and mode: read from the
   * container's layers merged (the helper mounts them in its own namespace),
   * so a directory any layer made or changed comes whole.
   */
  private async copyUpVolumes(c: ContainerRecord): Promise<void> {
    for (const m of Object.values(c.MountPoints)) {
      if (m.Type !== "volume" || !m.Name || !m.CopyData || !this.volumes.needsCopyUp(m.Name)) continue;
      const loc = layerLocation(this.images.layers.snapshotter, c.ID);
      // Nothing (or no directory) at the mount point in the image: an empty volume, as in Docker.
      const st = await rootfsStat(loc, `${m.Destination}/`).catch((err: unknown) => {
        if (HakoError.is(err) && err.code === "ERR_NOT_FOUND") return undefined;
        throw err;
      });
      if (st && (st.mode & 0o170000) === 0o040000) await extractLayer(rootfsGetTar(loc, m.Destination, { as: "." }), m.Source, { whiteouts: "delete" });
      this.volumes.markInitialized(m.Name);
    }
  }

  /** Reconnects the exit watcher of a running container (after a hakod restart). */
  private async watch(id: string, oomBefore: number): Promise<void> {
    const watch = await ShimConnection.connect(this.shimDir(id), { watch: true });
    this.live.set(id, { watch, oomBefore });
    watch.exited.then(
      (status) => this.onExit(id, status),
      () => this.onExit(id, undefined),
    );
  }

  /** The process ended: record how, tell waiters, remove or restart as configured. */
  private async onExit(id: string, status: number | undefined, options: { restoring?: boolean } = {}): Promise<void> {
    const live = this.live.get(id);
    this.live.delete(id);
    live?.watch.close();
    const c = this.store.get(id);
    if (!c) return;
    const exit = readExitFile(this.shimDir(id));
    const exitCode = exit?.exitCode ?? status ?? (options.restoring ? 255 : 137);
    const cgroup = this.cgroup(id);
    const oomKilled = exitCode === 137 && safe(() => cgroup.oomKillCount(), 0) > (live?.oomBefore ?? 0);
    safe(() => cgroup.destroy(), undefined);
    c.State = {
      ...c.State,
      Running: false,
      Paused: false,
      Restarting: false,
      Pid: 0,
      ExitCode: exitCode,
      OOMKilled: oomKilled,
      FinishedAt: exit?.finishedAt ?? nowRfc3339Nano(),
      Error: exit?.error ?? "",
    };
    c.State.Status = statusOf(c.State);
    // rm -f killed it, or --rm: the record goes in a moment, nothing of this needs to reach the disk.
    const removing = this.removing.has(id);
    if (!removing && !c.HostConfig.AutoRemove) this.store.save(c);
    // Read before the release forgets them: dockerd reports the disconnects after "die".
    const endpoints = this.opts.networks?.endpointsOf(id) ?? {};
    this.releaseNetworks(id);
    this.releaseNamespaceHelpers(id);
    if (oomKilled) this.publish("oom", c);
    this.publish("die", c, { exitCode: String(exitCode) });
    this.publishNetworkEvents("disconnect", id, endpoints);
    this.publishVolumeEvents("unmount", c);
    this.resolveWaiters(id, ["not-running", "next-exit"], { StatusCode: exitCode, Error: c.State.Error ? { Message: c.State.Error } : null });

    if (c.HostConfig.AutoRemove) {
      // --rm takes the container's anonymous volumes along, as dockerd does.
      await this.remove(id, { force: true, volumes: true }).catch((err: unknown) => this.opts.log.warn("auto-remove failed", { id, error: errorMessage(err) }));
      return;
    }
    if (!options.restoring && !removing) this.maybeRestart(c);
  }

  private maybeRestart(c: ContainerRecord): void {
    const policy = c.HostConfig.RestartPolicy ?? { Name: "no" };
    const failed = c.State.ExitCode !== 0;
    const max = policy.MaximumRetryCount ?? 0;
    const restart =
      !c.HasBeenManuallyStopped &&
      (policy.Name === "always" || policy.Name === "unless-stopped" || (policy.Name === "on-failure" && failed && (max === 0 || c.RestartCount < max)));
    if (!restart) return;
    // Docker's back-off: 100 ms doubling, up to a minute.
    const delay = Math.min(100 * 2 ** Math.min(c.RestartCount, 10), 60_000);
    c.State = { ...c.State, Restarting: true, Running: true, Status: "restarting" };
    this.store.save(c);
    const timer = setTimeout(() => {
      this.restartTimers.delete(c.ID);
      const current = this.store.get(c.ID);
      if (!current || !current.State.Restarting) return;
      current.RestartCount++;
      current.State = { ...current.State, Restarting: false, Running: false };
      current.State.Status = statusOf(current.State);
      this.store.save(current);
      this.start(c.ID).catch((err: unknown) => this.opts.log.warn("restart failed", { id: c.ID, error: errorMessage(err) }));
    }, delay);
    timer.unref();
    this.restartTimers.set(c.ID, timer);
  }

  // ---------------------------------------------------------------- signals

  kill(ref: string, signal = "KILL"): void {
    const c = this.store.resolve(ref);
    if (!c.State.Running || !c.State.Pid) throw new ConflictError(`Container ${c.ID} is not running`);
    const sig = parseSignal(signal);
    this.signalContainer(c, sig);
    if (sig === osConstants.signals.SIGKILL || sig === osConstants.signals.SIGTERM) {
      // docker kill counts as a stop for unless-stopped.
      c.HasBeenManuallyStopped = true;
      this.store.save(c);
    }
    this.publish("kill", c, { signal: String(sig) });
  }

  private signalContainer(c: ContainerRecord, sig: number): void {
    if (c.State.Paused && sig === osConstants.signals.SIGKILL) safe(() => this.cgroup(c.ID).thaw(), undefined);
    try {
      process.kill(c.State.Pid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
    }
  }

  /** docker stop: the stop signal, then SIGKILL after the timeout; false when it was not running (304). */
  async stop(ref: string, options: { signal?: string; timeout?: number } = {}): Promise<boolean> {
    const c = this.store.resolve(ref);
    const timer = this.restartTimers.get(c.ID);
    if (timer) {
      clearTimeout(timer);
      this.restartTimers.delete(c.ID);
      c.State = { ...c.State, Restarting: false, Running: false };
      c.State.Status = statusOf(c.State);
      c.HasBeenManuallyStopped = true;
      this.store.save(c);
      return true;
    }
    if (!c.State.Running) return false;
    c.HasBeenManuallyStopped = true;
    this.store.save(c);
    const sig = parseSignal(options.signal ?? c.Config.StopSignal ?? "SIGTERM");
    const timeout = options.timeout ?? c.Config.StopTimeout ?? 10;
    await this.returnInterfaces(c);
    const exited = this.waitExit(c.ID);
    this.signalContainer(c, sig);
    // dockerd reports each signal of a stop (kill, [kill], die, stop).
    this.publish("kill", c, { signal: String(sig) });
    if (timeout < 0) {
      await exited;
    } else if (!(await withTimeout(exited, timeout * 1000))) {
      this.signalContainer(c, osConstants.signals.SIGKILL);
      this.publish("kill", c, { signal: String(osConstants.signals.SIGKILL) });
      await exited;
    }
    this.publish("stop", this.store.get(c.ID) ?? c);
    return true;
  }

  async restart(ref: string, options: { signal?: string; timeout?: number } = {}): Promise<void> {
    await this.stop(ref, options);
    await this.start(ref);
    const c = this.store.resolve(ref);
    this.publish("restart", c);
  }

  pause(ref: string): void {
    const c = this.store.resolve(ref);
    if (!c.State.Running) throw new ConflictError(`Container ${c.ID} is not running`);
    if (c.State.Paused) throw new ConflictError(`Container ${c.ID} is already paused`);
    this.cgroup(c.ID).freeze();
    c.State = { ...c.State, Paused: true, Status: "paused" };
    this.store.save(c);
    this.publish("pause", c);
  }

  unpause(ref: string): void {
    const c = this.store.resolve(ref);
    if (!c.State.Paused) throw new ConflictError(`Container ${c.ID} is not paused`);
    this.cgroup(c.ID).thaw();
    c.State = { ...c.State, Paused: false, Status: "running" };
    this.store.save(c);
    this.publish("unpause", c);
  }

  // ---------------------------------------------------------------- waiting

  /** Resolves when the live container exits (the engine's own bookkeeping). */
  private waitExit(id: string): Promise<ContainerWaitResponse> {
    return new Promise((resolve) => this.addWaiter(id, { condition: "next-exit", resolve }));
  }

  private addWaiter(id: string, waiter: Waiter): void {
    const list = this.waiters.get(id) ?? [];
    list.push(waiter);
    this.waiters.set(id, list);
  }

  private resolveWaiters(id: string, conditions: WaitCondition[], response: ContainerWaitResponse): void {
    const list = this.waiters.get(id);
    if (!list) return;
    const keep: Waiter[] = [];
    for (const w of list) {
      if (conditions.includes(w.condition)) w.resolve(response);
      else keep.push(w);
    }
    if (keep.length) this.waiters.set(id, keep);
    else this.waiters.delete(id);
  }

  /** POST /containers/{id}/wait: resolves with the status per condition; `signal` abandons the wait. */
  wait(ref: string, condition: WaitCondition = "not-running", signal?: AbortSignal): Promise<ContainerWaitResponse> {
    const c = this.store.resolve(ref);
    if (condition === "not-running" && !c.State.Running) {
      return Promise.resolve({ StatusCode: c.State.ExitCode, Error: c.State.Error ? { Message: c.State.Error } : null });
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { condition, resolve };
      this.addWaiter(c.ID, waiter);
      signal?.addEventListener(
        "abort",
        () => {
          const list = this.waiters.get(c.ID);
          if (list) this.waiters.set(c.ID, list.filter((w) => w !== waiter));
          reject(new FailedPreconditionError("wait abandoned by the client"));
        },
        { once: true },
      );
    });
  }

  // ---------------------------------------------------------------- removal

  async remove(ref: string, options: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const c = this.store.resolve(ref);
    if (this.removing.has(c.ID)) throw new ConflictError(`removal of container ${c.ID} is already in progress`);
    if (c.State.Running && !c.State.Restarting) {
      if (!options.force) {
        // dockerd 28's wording (daemon/delete.go).
        const why = c.State.Paused ? "container is paused and must be unpaused first" : "container is running: stop the container before removing or force remove";
        throw new ConflictError(`cannot remove container "${c.Name}": ${why}`);
      }
    }
    this.removing.add(c.ID);
    try {
      const timer = this.restartTimers.get(c.ID);
      if (timer) clearTimeout(timer);
      this.restartTimers.delete(c.ID);
      c.HasBeenManuallyStopped = true;
      if (c.State.Running && c.State.Pid) {
        await this.returnInterfaces(c);
        const exited = this.waitExit(c.ID);
        this.signalContainer(c, osConstants.signals.SIGKILL);
        // dockerd's rm -f reports the kill it did (kill, die, destroy).
        this.publish("kill", c, { signal: String(osConstants.signals.SIGKILL) });
        await withTimeout(exited, 10_000);
      }
      safe(() => this.cgroup(c.ID).destroy(), undefined);
      await this.images.layers.removeContainerLayer(c.ID);
      await releaseSlirp(this.shimDir(c.ID)).catch(() => {});
      rmSync(this.shimDir(c.ID), { recursive: true, force: true });
      rmSync(shmDirOf(c.ID), { recursive: true, force: true });
      this.store.remove(c.ID);
      this.specs.delete(c.ID);
      this.cgroups.delete(c.ID);
      this.shims.delete(c.ID);
      this.names.releaseId(c.ID);
      this.releaseNetworks(c.ID);
      // Attach requests waiting for a start that will never come.
      for (const p of this.pendingAttach.get(c.ID) ?? []) p.reject(new ConflictError(`container ${c.ID} was removed before it started`));
      this.pendingAttach.delete(c.ID);
      if (options.volumes) {
        for (const m of Object.values(c.MountPoints)) {
          if (m.Type === "volume" && m.Name && m.Anonymous) {
            try {
              this.volumes.remove(m.Name);
            } catch {
              // still used by another container: it stays, as with Docker
            }
          }
        }
      }
      this.publish("destroy", c);
      this.resolveWaiters(c.ID, ["removed", "not-running", "next-exit"], { StatusCode: c.State.ExitCode, Error: null });
    } finally {
      this.removing.delete(c.ID);
    }
  }

  /**
   * Records (or with null forgets) a network the container joins at every
   * start besides its NetworkMode's: what `network connect` and
   * `disconnect` leave behind, as Docker keeps them in the container.
   */
  recordNetwork(ref: string, network: string, endpoint: EndpointSettings | null, modeNetwork = false): void {
    const c = this.store.resolve(ref);
    const networks = { ...(c.NetworkSettings?.Networks ?? {}) };
    if (endpoint) networks[network] = endpoint;
    else delete networks[network];
    c.NetworkSettings = { ...(c.NetworkSettings ?? {}), Networks: networks };
    if (modeNetwork && endpoint) delete c.ModeNetworkDisconnected;
    else if (modeNetwork) c.ModeNetworkDisconnected = true;
    this.store.save(c);
  }

  rename(ref: string, newName: string): void {
    const c = this.store.resolve(ref);
    const old = c.Name;
    c.Name = normalizeName(this.names.rename(old, newName, c.ID));
    this.store.save(c);
    this.publish("rename", c, { oldName: old });
  }

  async prune(filters: Record<string, string[]> = {}): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of this.store.list()) {
      if (c.State.Running) continue;
      if (!matchesLabels(filters.label ?? [], c.Config.Labels ?? {})) continue;
      // label!=k or label!=k=v: containers with such a label stay.
      if ((filters["label!"] ?? []).some((l) => matchesLabels([l], c.Config.Labels ?? {}))) continue;
      const until = filters.until?.[0];
      if (until && Date.parse(c.Created) >= filterTime(until)) continue;
      reclaimed += (await this.images.layers.snapshotter.usage(c.ID).catch(() => ({ size: 0 }))).size;
      await this.remove(c.ID);
      deleted.push(c.ID);
    }
    return { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
  }

  // ---------------------------------------------------------------- reading

  inspect(ref: string, options: { size?: boolean } = {}): ContainerInspectResponse {
    const c = this.store.resolve(ref);
    const snap = this.images.layers.snapshotter;
    return {
      Id: c.ID,
      Created: c.Created,
      Path: c.Path,
      Args: c.Args,
      State: { ...c.State, Status: statusOf(c.State, this.removing.has(c.ID)) },
      Image: c.Image,
      ResolvConfPath: c.ResolvConfPath,
      HostnamePath: c.HostnamePath,
      HostsPath: c.HostsPath,
      LogPath: c.LogPath,
      Name: c.Name,
      RestartCount: c.RestartCount,
      Driver: c.Driver,
      Platform: c.Platform ?? "linux",
      MountLabel: "",
      ProcessLabel: "",
      AppArmorProfile: "",
      ExecIDs: c.ExecIDs.length ? c.ExecIDs : null,
      HostConfig: c.HostConfig,
      GraphDriver: { Name: snap.driver, Data: snap.exists(c.ID) ? snap.graphDriverData(c.ID) : {} },
      ...(options.size ? { SizeRw: 0, SizeRootFs: 0 } : {}),
      Mounts: Object.values(c.MountPoints).map(mountPointView),
      Config: c.Config,
      NetworkSettings: this.opts.networks
        ? (containerNetworkSettings(this.opts.networks, {
            id: c.ID,
            networkMode: c.HostConfig.NetworkMode,
            pid: c.State.Pid,
            running: c.State.Running,
            networking: { EndpointsConfig: c.NetworkSettings?.Networks ?? {} },
            ...(c.ModeNetworkDisconnected ? { modeDisconnected: true } : {}),
            stateDir: this.shimDir(c.ID),
          }) as ContainerInspectResponse["NetworkSettings"])
        : (plainNetworkSettings({ id: c.ID, networkMode: c.HostConfig.NetworkMode, pid: c.State.Pid, running: c.State.Running }) as ContainerInspectResponse["NetworkSettings"]),
    } as ContainerInspectResponse;
  }

  list(options: { all?: boolean; limit?: number; size?: boolean; filters?: Record<string, string[]> } = {}): ContainerSummary[] {
    const f = options.filters ?? {};
    let list = this.store.list().filter((c) => options.all || c.State.Running || (f.status?.length ?? 0) > 0 || f.exited?.length);
    list = list.filter((c) => matchesFilters(c, f, this));
    if (options.limit && options.limit > 0) list = list.slice(0, options.limit);
    return list.map((c) => this.summary(c));
  }

  private summary(c: ContainerRecord): ContainerSummary {
    let imageName = c.ImageName;
    const image = this.images.images.get(c.Image);
    if (!image) imageName = c.Image;
    else {
      try {
        imageName = familiarString(parseReference(c.ImageName));
      } catch {
        imageName = c.ImageName;
      }
      // Docker shows the image ID when the name now points at another image.
      try {
        if (this.images.resolve(c.ImageName).id !== c.Image) imageName = c.Image;
      } catch {
        imageName = c.Image;
      }
    }
    return {
      Id: c.ID,
      Names: [c.Name],
      Image: imageName,
      ImageID: c.Image,
      Command: [c.Path, ...c.Args].map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(" "),
      Created: Math.floor(Date.parse(c.Created) / 1000),
      Ports: this.opts.networks && c.State.Running ? summaryPorts(this.opts.networks, c.ID, c.Config.ExposedPorts, this.shimDir(c.ID)) : [],
      Labels: c.Config.Labels ?? {},
      State: statusOf(c.State, this.removing.has(c.ID)),
      Status: humanStatus(c),
      HostConfig: { NetworkMode: c.HostConfig.NetworkMode || "default" },
      NetworkSettings: { Networks: this.networksOf(c) },
      Mounts: Object.values(c.MountPoints).map(mountPointView),
    };
  }

  /** NetworkSettings.Networks as ps shows it: the live endpoints, or those the container joins at its next start. */
  networksOf(c: ContainerRecord): Record<string, EndpointSettings> {
    const svc = this.opts.networks;
    if (!svc) return {};
    if (c.State.Running) return summaryNetworks(svc, { id: c.ID, networkMode: c.HostConfig.NetworkMode, pid: c.State.Pid, stateDir: this.shimDir(c.ID) });
    return (
      containerNetworkSettings(svc, {
        id: c.ID,
        networkMode: c.HostConfig.NetworkMode,
        pid: 0,
        running: false,
        networking: { EndpointsConfig: c.NetworkSettings?.Networks ?? {} },
        ...(c.ModeNetworkDisconnected ? { modeDisconnected: true } : {}),
        stateDir: this.shimDir(c.ID),
      }).Networks ?? {}
    );
  }

  /** Containers that use a volume, by id (volume rm and prune refuse those). */
  private volumeUsers(name: string): string[] {
    return this.store
      .list()
      .filter((c) => Object.values(c.MountPoints).some((m) => m.Type === "volume" && m.Name === name))
      .map((c) => c.ID);
  }

  /** The live cgroup of a running container. */
  liveCgroup(ref: string): { record: ContainerRecord; cgroup: Cgroup } {
    const c = this.store.resolve(ref);
    if (!c.State.Running) throw new ConflictError(`Container ${c.ID} is not running`);
    return { record: c, cgroup: this.cgroup(c.ID) };
  }

  /**
   * docker update: new limits for the container's cgroup and its record.
   * As in moby's UpdateContainer, a field the request leaves at zero (the
   * docker CLI sends every field) keeps the container's value; a restart
   * policy changes only when one is named.
   */
  update(ref: string, resources: Resources & { RestartPolicy?: HostConfig["RestartPolicy"] }): { Warnings: string[] } {
    const c = this.store.resolve(ref);
    const merged = mergeUpdate(c.ID, c.HostConfig, resources);
    if (c.State.Running) {
      const image = this.images.images.get(c.Image);
      const imageConfig = image ? (this.images.config(image).config ?? {}) : {};
      const spec = this.specFor(c.ID, c.Name, c.Config, merged, c.Image, imageConfig, true, c.MountPoints).spec;
      const r = spec.linux?.resources ?? {};
      this.cgroup(c.ID).update({ memory: r.memory, cpu: r.cpu, pids: r.pids, blockIO: r.blockIO });
    }
    c.HostConfig = merged;
    this.store.save(c);
    this.publish("update", c);
    return { Warnings: [] };
  }

  // ---------------------------------------------------------------- attach

  /**
   * A connection to the container's stdio. For a container that has not
   * started yet, it resolves when it starts, before its process execs, so
   * nothing it prints is missed (docker run attaches before start).
   */
  attach(ref: string, flags: AttachFlags, signal?: AbortSignal): Promise<ShimConnection> {
    const c = this.store.resolve(ref);
    if (c.State.Running && shimAlive(this.shimDir(c.ID))) return ShimConnection.connect(this.shimDir(c.ID), flags);
    return new Promise((resolve, reject) => {
      const entry = {
        flags,
        // A client that left while its attach was being connected: detach it again.
        resolve: (conn: ShimConnection) => (signal?.aborted ? (conn.close(), reject(new FailedPreconditionError("attach abandoned by the client"))) : resolve(conn)),
        reject,
      };
      const list = this.pendingAttach.get(c.ID) ?? [];
      list.push(entry);
      this.pendingAttach.set(c.ID, list);
      // Only this request's entry goes: other clients waiting for the same start stay.
      signal?.addEventListener(
        "abort",
        () => {
          const pending = this.pendingAttach.get(c.ID)?.filter((p) => p !== entry) ?? [];
          if (pending.length) this.pendingAttach.set(c.ID, pending);
          else this.pendingAttach.delete(c.ID);
          reject(new FailedPreconditionError("attach abandoned by the client"));
        },
        { once: true },
      );
    });
  }

  /** Drops a pending attach (the client went away before start). */
  cancelAttach(ref: string): void {
    const c = this.store.find(ref);
    if (c) this.pendingAttach.delete(c.ID);
  }

  /** Resize the container's terminal through its shim. */
  async resize(ref: string, rows: number, cols: number): Promise<void> {
    const c = this.store.resolve(ref);
    if (!c.State.Running) throw new ConflictError(`Container ${c.ID} is not running`);
    const conn = await ShimConnection.connect(this.shimDir(c.ID), {});
    conn.resize(rows, cols);
    conn.close();
  }

  /** The OCI spec the container runs with (exec takes its process template from it). */
  runningSpec(ref: string): { record: ContainerRecord; spec: Spec } {
    const c = this.store.resolve(ref);
    const kept = this.specs.get(c.ID);
    if (kept && kept.startedAt === c.State.StartedAt) return { record: c, spec: kept.spec };
    const spec = JSON.parse(readFileSync(path.join(this.store.paths(c.ID).dir, "spec.json"), "utf8")) as Spec;
    this.specs.set(c.ID, { startedAt: c.State.StartedAt, spec });
    return { record: c, spec };
  }

  /** Process start time of the init, for guarding against pid reuse. */
  pidAlive(c: ContainerRecord): boolean {
    return c.State.Pid > 0 && processStartTime(c.State.Pid) > 0;
  }

  /** The image layer chains containers stand on (kept by image GC). */
  layerChainsInUse(): string[] {
    const out: string[] = [];
    for (const c of this.store.list()) {
      const image = this.images.images.get(c.Image);
      if (image) {
        const top = chainIds(image.layers.map((l) => l.diffId)).at(-1);
        if (top) out.push(top);
      }
    }
    return out;
  }

  snapshotKeyOfImage(imageId: string): string | undefined {
    const image = this.images.images.get(imageId);
    const top = image ? this.images.topChainId(image) : undefined;
    return top ? layerKey(top) : undefined;
  }

  /** Image names as events show them, by the name a container was created from (a handful per daemon). */
  private readonly familiarNames = new Map<string, string>();

  publish(action: string, c: ContainerRecord, extra: Record<string, string> = {}): void {
    let image = this.familiarNames.get(c.ImageName);
    if (image === undefined) {
      try {
        image = familiarString(parseReference(c.ImageName));
      } catch {
        image = c.ImageName; // an ID
      }
      if (this.familiarNames.size >= 256) this.familiarNames.clear();
      this.familiarNames.set(c.ImageName, image);
    }
    this.opts.events.publish({
      type: "container",
      action,
      id: c.ID,
      attributes: { image, name: c.Name.replace(/^\//, ""), ...(c.Config.Labels ?? {}), ...extra },
    });
  }

  shortId(id: string): string {
    return shortId(id);
  }
}

// ---------------------------------------------------------------- helpers

function safe<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.then(
      () => {
        clearTimeout(t);
        resolve(true);
      },
      () => {
        clearTimeout(t);
        resolve(true);
      },
    );
  });
}

/** The numeric limits `docker update` sets when the request's value is not zero. */
const UPDATABLE_NUMBERS = [
  "BlkioWeight",
  "CpuShares",
  "NanoCpus",
  "CpuPeriod",
  "CpuQuota",
  "MemorySwap",
  "MemoryReservation",
  "KernelMemory",
  "CpuRealtimePeriod",
  "CpuRealtimeRuntime",
] as const;

/** moby's UpdateContainer: the request's non-zero fields over the container's HostConfig, with its refusals. */
export function mergeUpdate(id: string, current: HostConfig, update: Resources & { RestartPolicy?: HostConfig["RestartPolicy"] }): HostConfig {
  const set = (v: number | null | undefined): v is number => typeof v === "number" && v !== 0;
  const conflict = (message: string): never => {
    throw new ConflictError(`Cannot update container ${id}: ${message}`);
  };
  // Nano CPUs and a CPU period/quota are one limit said two ways: the one set first stays in charge.
  if (set(update.NanoCpus) && set(current.CpuPeriod)) conflict("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set");
  if (set(update.NanoCpus) && set(current.CpuQuota)) conflict("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set");
  if (set(update.CpuPeriod) && set(current.NanoCpus)) conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set");
  if (set(update.CpuQuota) && set(current.NanoCpus)) conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set");
  const out: HostConfig = structuredClone(current);
  for (const k of UPDATABLE_NUMBERS) if (set(update[k])) out[k] = update[k];
  if (set(update.Memory)) {
    if (update.Memory > (current.MemorySwap ?? 0) && !set(update.MemorySwap)) {
      conflict("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
    }
    out.Memory = update.Memory;
  }
  if (update.CpusetCpus) out.CpusetCpus = update.CpusetCpus;
  if (update.CpusetMems) out.CpusetMems = update.CpusetMems;
  // 0 and -1 both mean unlimited; Docker keeps 0.
  if (typeof update.PidsLimit === "number") out.PidsLimit = update.PidsLimit <= 0 ? 0 : update.PidsLimit;
  const policy = update.RestartPolicy;
  if (policy?.Name) {
    if (!["no", "always", "on-failure", "unless-stopped"].includes(policy.Name)) throw new InvalidArgumentError(`invalid restart policy '${policy.Name}'`);
    if (current.AutoRemove && policy.Name !== "no") conflict("Restart policy cannot be updated because AutoRemove is enabled for the container");
    out.RestartPolicy = { Name: policy.Name, MaximumRetryCount: policy.MaximumRetryCount ?? 0 };
  }
  return out;
}


/** "10m", "512k", "1g" (Docker's log-opt sizes, decimal-free binary units). */
export function parseLogSize(s: string | undefined): number | undefined {
  if (!s) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)b?$/i.exec(s.trim());
  if (!m) throw new InvalidArgumentError(`invalid max-size "${s}"`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g"];
  return Math.floor(Number(m[1]) * mult);
}

function matchesFilters(c: ContainerRecord, f: Record<string, string[]>, svc: ContainerService): boolean {
  const status = statusOf(c.State);
  if (f.status?.length && !f.status.includes(status)) return false;
  if (f.exited?.length && (status !== "exited" || !f.exited.includes(String(c.State.ExitCode)))) return false;
  if (f.id?.length && !f.id.some((p) => c.ID.startsWith(p))) return false;
  if (f.name?.length && !f.name.some((n) => regexMatches(n.replace(/^\//, ""), c.Name.replace(/^\//, "")))) return false;
  if (f.label?.length && !matchesLabels(f.label, c.Config.Labels ?? {})) return false;
  if (f.ancestor?.length) {
    const ok = f.ancestor.some((a) => {
      try {
        return svc.images.resolve(a).id === c.Image;
      } catch {
        return false;
      }
    });
    if (!ok) return false;
  }
  if (f.before?.length) {
    const ref = svc.store.find(f.before[0]!);
    if (!ref || Date.parse(c.Created) >= Date.parse(ref.Created)) return false;
  }
  if (f.since?.length) {
    const ref = svc.store.find(f.since[0]!);
    if (!ref || Date.parse(c.Created) <= Date.parse(ref.Created)) return false;
  }
  // A volume by name, a bind by its source, either by its destination (moby's list filter).
  if (f.volume?.length && !Object.values(c.MountPoints).some((m) => f.volume!.includes(m.Name || m.Source) || f.volume!.includes(m.Destination))) return false;
  if (f.network?.length) {
    const networks = svc.networksOf(c);
    if (!f.network.some((n) => n in networks || Object.values(networks).some((ep) => ep?.NetworkID && ep.NetworkID.startsWith(n)))) return false;
  }
  if (f.expose?.length && !f.expose.some((p) => p in (c.Config.ExposedPorts ?? {}))) return false;
  if (f.publish?.length && !f.publish.some((p) => p in (c.HostConfig.PortBindings ?? {}))) return false;
  // No swarm here: nothing is a task.
  if (f["is-task"]?.includes("true")) return false;
  if (f.health?.length) {
    const h = c.State.Health?.Status ?? "none";
    if (!f.health.includes(h)) return false;
  }
  return true;
}

/**
 * Where a shareable container's /dev/shm lives on the host: a directory on
 * the host's own /dev/shm (memory, as Docker's per-container tmpfs), bound
 * into it and into every container that joins its IPC namespace. Its
 * --shm-size is not enforced there.
 */
function shmDirOf(id: string): string {
  return `/dev/shm/hako-ipc-${id}`;
}

/** moby's verifyContainerSettings on the request as given (before the defaults fill the hostname in). */
function checkRequest(config: ContainerConfig, hostConfig: HostConfig | undefined): void {
  if (hostConfig?.UTSMode === "host" && config.Hostname) throw new InvalidArgumentError("conflicting options: hostname and the UTS mode");
  if (config.StopSignal) {
    try {
      parseSignal(config.StopSignal);
    } catch {
      throw new InvalidArgumentError(`Invalid signal: ${config.StopSignal}`);
    }
  }
}

/** Go's regexp.MatchString as moby's filters use it: a pattern that does not compile matches nothing. */
function regexMatches(pattern: string, s: string): boolean {
  try {
    return new RegExp(pattern).test(s);
  } catch {
    return false;
  }
}

/** "Up 2 minutes", "Exited (0) 5 seconds ago": what docker ps shows in STATUS. */
export function humanStatus(c: ContainerRecord, now = Date.now()): string {
  const s = c.State;
  if (s.Running) {
    if (s.Restarting) return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    const up = `Up ${humanDuration(now - Date.parse(s.StartedAt))}`;
    const health = s.Health?.Status && s.Health.Status !== "none" ? ` (${s.Health.Status === "starting" ? "health: starting" : s.Health.Status})` : "";
    return s.Paused ? `${up} (Paused)` : `${up}${health}`;
  }
  if (s.Dead) return "Dead";
  if (!s.StartedAt || s.StartedAt === ZERO_TIME) return "Created";
  if (!s.FinishedAt || s.FinishedAt === ZERO_TIME) return "";
  return `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
}

/** docker/go-units HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

