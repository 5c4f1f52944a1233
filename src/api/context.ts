/**
 * What the API handlers are given: the daemon's configuration, its logger
 * and event bus, and the engine services, each optional. A route whose
 * service is missing answers 501, so areas can land one at a time and tests
 * can inject fakes.
 */
import { NotImplementedError } from "../common/errors.ts";
import type { EventBus } from "../daemon/events.ts";
import type { AuthConfig } from "../spec/docker-api.ts";
import type { ImageService } from "../image/service.ts";
import type { ArchiveService } from "../engine/archive.ts";
import type { ContainerService } from "../engine/containers.ts";
import type { ExecService } from "../engine/exec.ts";
import type { RegistryOptions } from "../image/distribution.ts";
import type { NetworkService } from "../network/service.ts";
import type { Builder } from "../build/builder.ts";

export type LogFields = Record<string, unknown>;

/** Structured logging: a message plus fields, never free text on stdout. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  readonly debugEnabled: boolean;
}

/** The part of hakod's configuration handlers may read. */
export interface DaemonSettings {
  /** Where hakod keeps its state (DockerRootDir). */
  dataRoot: string;
  debug: boolean;
  /** The addresses it serves, as given (unix:///run/hako/hako.sock, ...). */
  hosts: string[];
}

/** Docker's AuthConfig as POST /auth and X-Registry-Auth carry it. */
export type { AuthConfig };

/** The answer of POST /auth (Docker's AuthResponse). */
export interface AuthResult {
  Status: string;
  IdentityToken?: string;
}

/** Checks credentials against a registry (implemented by src/image/registry/). */
export type Authenticator = (config: AuthConfig, options: { signal: AbortSignal }) => Promise<AuthResult>;

export interface ContainerCounts {
  total: number;
  running: number;
  paused: number;
  stopped: number;
}

/** Counts and storage facts /info reports; each piece is optional. */
export interface SystemInfoSource {
  containers?(): ContainerCounts | Promise<ContainerCounts>;
  images?(): number | Promise<number>;
  /** Storage driver name and its DriverStatus pairs. */
  storage?(): { driver: string; status: [string, string][] } | Promise<{ driver: string; status: [string, string][] }>;
}

/**
 * The engine services hakod wires in. The service types are owned by their
 * modules; until one lands its slot is `unknown` and its routes answer 501.
 */
export interface DaemonServices {
  images?: ImageService;
  /** How the daemon reaches registries (insecure registries, its own credentials). */
  registry?: RegistryOptions;
  containers?: ContainerService;
  exec?: ExecService;
  archive?: ArchiveService;
  networks?: NetworkService;
  /** The classic Dockerfile builder (POST /build). */
  builder?: Builder;
  system?: SystemInfoSource;
  authenticator?: Authenticator;
}

export interface DaemonContext {
  settings: DaemonSettings;
  log: Logger;
  events: EventBus;
  services: DaemonServices;
  /** A stable id for this daemon's data root (SystemInfo.ID). */
  engineId: string;
  startedAt: Date;
}

/**
 * The service in `slot`, or a 501 for the route that needs it.
 *
 * @example const images = requireService(call.ctx, "images") as ImageService;
 */
export function requireService<K extends keyof DaemonServices>(ctx: DaemonContext, slot: K): NonNullable<DaemonServices[K]> {
  const service = ctx.services[slot];
  if (service === undefined || service === null) throw new NotImplementedError(`hakod has no ${slot} service yet`);
  return service as NonNullable<DaemonServices[K]>;
}
