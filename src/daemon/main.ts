/**
 * hakod: the daemon serving the Docker Engine API on a unix socket
 * (/run/hako/hako.sock by default). Start-up: parse flags, claim the pid
 * file and the socket, wire the services into the API, serve; SIGTERM or
 * SIGINT closes the listeners and removes the socket and pid file.
 */
import { randomUUID } from "node:crypto";
import { lstatSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import type { DaemonContext, DaemonServices } from "../api/context.ts";
import { createRouter } from "../api/routes/register.ts";
import { ApiServer } from "../api/server.ts";
import { buildInfo } from "../api/version.ts";
import { errorMessage, isErrno } from "../common/errors.ts";
import { writeFileAtomic } from "../common/fs.ts";
import { VERSION } from "../common/version.ts";
import { daemonUsage, parseDaemonArgs, type DaemonConfig } from "./config.ts";
import { EventBus } from "./events.ts";
import { prepareUnixSocket, removePidFile, removeSocket, secureUnixSocket, writePidFile } from "./listen.ts";
import { LogfmtLogger } from "./log.ts";
import { login, type RegistryOptions } from "../image/distribution.ts";
import { openImageService } from "../image/setup.ts";
import { ArchiveService } from "../engine/archive.ts";
import { Builder } from "../build/builder.ts";
import { removeStaleImageViews } from "../build/image-view.ts";
import { ExecService } from "../engine/exec.ts";
import { ContainerService } from "../engine/containers.ts";
import { builtHelperPath, helperPath, pinHelper } from "../native/shim.ts";
import { startSpawner } from "../native/spawner.ts";
import { startTrashDeleter } from "../native/trash-deleter.ts";
import { createNetworkService, reconcileNetworks, shutdownNetworks } from "../network/setup.ts";

/** The daemon's stable id (SystemInfo.ID), kept in <data-root>/engine-id as dockerd does. */
function engineId(dataRoot: string): string {
  const file = path.join(dataRoot, "engine-id");
  try {
    const id = readFileSync(file, "utf8").trim();
    if (id) return id;
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
  }
  const id = randomUUID();
  writeFileAtomic(file, `${id}\n`, 0o600);
  return id;
}

/** Engine services as they exist today; each area adds its own here. */
/** The filesystem type under the data root, for docker info's "Backing Filesystem". */
function backingFilesystem(dataRoot: string): string {
  let best = "";
  let type = "unknown";
  for (const line of readFileSync("/proc/self/mounts", "utf8").split("\n")) {
    const [, mountPoint, fstype] = line.split(" ");
    if (!mountPoint || !fstype) continue;
    if ((dataRoot === mountPoint || dataRoot.startsWith(mountPoint.endsWith("/") ? mountPoint : `${mountPoint}/`)) && mountPoint.length >= best.length) {
      best = mountPoint;
      type = fstype === "ext4" ? "extfs" : fstype;
    }
  }
  return type;
}

async function createServices(config: DaemonConfig, events: EventBus, log: LogfmtLogger): Promise<DaemonServices> {
  const images = await openImageService(config.dataRoot, { storageDriver: config.storageDriver });
  const registry: RegistryOptions = { insecureRegistries: config.insecureRegistries };
  const networks = createNetworkService({ dataRoot: config.dataRoot, log });
  const containers = new ContainerService({
    dataRoot: config.dataRoot,
    runRoot: config.execRoot,
    images,
    events,
    log,
    initBinary: path.join(path.dirname(builtHelperPath()), "hako-init"),
    cgroupParent: config.cgroupParent,
    networks,
  });
  await containers.init();
  const live = containers.store.list().filter((c) => c.State.Running && c.State.Pid > 0);
  await reconcileNetworks(networks, live.map((c) => ({ id: c.ID, pid: c.State.Pid })), log);
  const archive = new ArchiveService({ containers });
  // Contexts of builds a crash interrupted are of no use: the directory starts empty.
  const buildTmp = path.join(config.dataRoot, "build", "tmp");
  rmSync(buildTmp, { recursive: true, force: true });
  await removeStaleImageViews(images);
  return {
    networks,
    images,
    containers,
    exec: new ExecService({ containers, events }),
    archive,
    builder: new Builder({ images, containers, archive, tmpRoot: buildTmp, log, registry }),
    registry,
    authenticator: (auth) => login(auth, registry),
    system: {
      containers: () => {
        const all = containers.store.list();
        const running = all.filter((c) => c.State.Running && !c.State.Paused).length;
        const paused = all.filter((c) => c.State.Paused).length;
        return { total: all.length, running, paused, stopped: all.length - running - paused };
      },
      images: () => images.images.list().length,
      storage: () => ({
        driver: images.layers.snapshotter.driver,
        status: [
          ["Backing Filesystem", backingFilesystem(config.dataRoot)],
          ["Supports d_type", "true"],
        ],
      }),
    },
  };
}

export async function runDaemon(config: DaemonConfig): Promise<void> {
  const log = new LogfmtLogger({ debug: config.debug });
  process.on("uncaughtException", (err) => {
    // One broken request must not take down every client's API (net/http
    // recovers handler panics the same way); containers live in their shims anyway.
    log.error("uncaught exception", { error: err.message, stack: err.stack });
  });
  process.on("unhandledRejection", (reason) => {
    log.error("unhandled rejection", { error: errorMessage(reason), stack: reason instanceof Error ? reason.stack : undefined });
  });

  log.info("Starting up", { version: VERSION, commit: buildInfo().gitCommit, pid: process.pid });
  mkdirSync(config.dataRoot, { recursive: true, mode: 0o711 });
  writePidFile(config.pidfile);
  const sockets: { path: string; ino: number | undefined }[] = [];
  const unpinHelper = pinHelper(config.execRoot, (why) => log.warn("helper not pinned read-only: each run copies it instead", { error: why }));
  // The event loop asks for the shortest slice the scheduler gives (0.1 ms): a container
  // process just started on the CPU it wakes on would otherwise hold it off for its whole slice.
  const stopSpawner = startSpawner(helperPath(), { parentSliceUs: 100, warm: true });
  const stopTrashDeleter = startTrashDeleter(helperPath(), path.join(config.dataRoot, "trash"), (why) =>
    log.warn("removed containers' files are deleted in-process", { error: why }),
  );
  const cleanup = (): void => {
    for (const s of sockets) removeSocket(s.path, s.ino);
    stopTrashDeleter();
    stopSpawner();
    unpinHelper();
    removePidFile(config.pidfile);
  };

  let server: ApiServer | undefined;
  let services: DaemonServices | undefined;
  try {
    const events = new EventBus();
    services = await createServices(config, events, log);
    const ctx: DaemonContext = {
      settings: { dataRoot: config.dataRoot, debug: config.debug, hosts: config.hosts.map((h) => h.url) },
      log,
      events,
      services,
      engineId: engineId(config.dataRoot),
      startedAt: new Date(),
    };
    server = new ApiServer(createRouter(), ctx);
    for (const host of config.hosts) {
      if (host.proto === "unix") {
        await prepareUnixSocket(host.path, log);
        // Created with no permissions (dockerd's umask 0777), opened up to
        // root and the group only once chmod/chown ran: no window where others connect.
        const umask = process.umask(0o777);
        try {
          await server.listen(host);
        } finally {
          process.umask(umask);
        }
        sockets.push({ path: host.path, ino: lstatSync(host.path).ino });
        secureUnixSocket(host.path, config.group, log);
        log.info("API listen on " + host.path);
      } else {
        const listening = await server.listen(host);
        const addr = listening.address();
        const port = typeof addr === "object" && addr ? addr.port : host.port;
        log.warn("API listens on TCP without TLS: anyone who can reach it is root on this host", { addr: `${host.host}:${port}` });
        log.info(`API listen on ${host.host}:${port}`);
      }
    }
  } catch (err) {
    await server?.close();
    cleanup();
    throw err;
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn("forced shutdown", { signal });
      cleanup();
      process.exit(1);
    }
    stopping = true;
    log.info(`Processing signal '${signal}'`);
    const force = setTimeout(() => {
      log.warn("listeners did not close in time");
      cleanup();
      process.exit(0);
    }, 5000);
    force.unref();
    void server!.close().finally(async () => {
      services?.exec?.close();
      services?.containers?.close();
      if (services?.networks) await shutdownNetworks(services.networks, config.dataRoot, log);
      cleanup();
      log.info("Daemon shutdown complete");
      process.exit(0);
    });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // dockerd reloads its configuration on SIGHUP; there is nothing to reload yet.
  process.on("SIGHUP", () => log.info("SIGHUP received: nothing to reload"));
  log.info("Daemon has completed initialization");
}

/** Parses the command line and starts serving; resolves with an exit status only when hakod should exit now. */
async function main(argv: string[]): Promise<number | undefined> {
  let invocation;
  try {
    invocation = parseDaemonArgs(argv);
  } catch (err) {
    process.stderr.write(`hakod: ${errorMessage(err)}\nSee 'hakod --help'.\n`);
    return 125;
  }
  if (invocation.kind === "help") {
    process.stdout.write(daemonUsage());
    return 0;
  }
  if (invocation.kind === "version") {
    const b = buildInfo();
    process.stdout.write(`hakod version ${VERSION}, build ${b.gitCommit}\n`);
    return 0;
  }
  try {
    await runDaemon(invocation.config);
    return undefined;
  } catch (err) {
    process.stderr.write(`hakod: failed to start daemon: ${errorMessage(err)}\n`);
    return 1;
  }
}

void main(process.argv.slice(2)).then((code) => {
  if (code !== undefined) process.exitCode = code;
});
