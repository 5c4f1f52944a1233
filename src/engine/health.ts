/**
 * Healthchecks (Config.Healthcheck): one monitor per running container runs
 * the probe through the exec machinery on a timer and keeps State.Health in
 * the container record, as dockerd's daemon/health.go does. Monitors follow
 * the container's events (start, die, pause, unpause, destroy), so the
 * container service needs no knowledge of them.
 */
import type { ExecService } from "./exec.ts";
import type { EngineEvent, EventBus } from "../daemon/events.ts";
import { errorMessage } from "../common/errors.ts";
import type { HealthConfig, HealthcheckResult } from "../spec/docker-api.ts";
import type { ContainerRecord } from "./container-store.ts";
import type { ContainerService } from "./containers.ts";

const SECOND_NS = 1_000_000_000;
/** dockerd's defaults (daemon/health.go). */
export const HEALTH_DEFAULTS = {
  intervalNs: 30 * SECOND_NS,
  timeoutNs: 30 * SECOND_NS,
  startPeriodNs: 0,
  startIntervalNs: 5 * SECOND_NS,
  retries: 3,
} as const;
/** Results kept in State.Health.Log. */
export const MAX_LOG_ENTRIES = 5;
/** Bytes of a probe's output kept per result. */
export const MAX_OUTPUT_LEN = 4096;

export interface HealthMonitorOptions {
  containers: ContainerService;
  events: EventBus;
  exec: ExecService;
}

interface Monitor {
  timer?: NodeJS.Timeout;
  stopped: boolean;
  /** The probe running now, killed when the monitor stops. */
  kill?: () => void;
}

/** The probe's command line, or undefined when the container has no healthcheck. */
export function probeCommand(c: Pick<ContainerRecord, "Config">): string[] | undefined {
  const test = c.Config.Healthcheck?.Test;
  if (!test || test.length === 0) return undefined;
  switch (test[0]) {
    case "NONE":
      return undefined;
    case "CMD":
      return test.length > 1 ? test.slice(1) : undefined;
    case "CMD-SHELL": {
      if (test.length < 2) return undefined;
      const shell = (c.Config as { Shell?: string[] | null }).Shell;
      return [...(shell && shell.length ? shell : ["/bin/sh", "-c"]), test.slice(1).join(" ")];
    }
    default:
      return undefined;
  }
}

/** A duration as Go's time.Duration prints it ("1.5s", "500ms", "1m0s"), for Docker's timeout message. */
export function goDuration(ns: number): string {
  if (ns === 0) return "0s";
  if (ns < 1000) return `${ns}ns`;
  if (ns < 1_000_000) return `${trim(ns / 1000)}µs`;
  if (ns < SECOND_NS) return `${trim(ns / 1_000_000)}ms`;
  const totalSeconds = ns / SECOND_NS;
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds - hours * 3600 - minutes * 60;
  if (hours) return `${hours}h${minutes}m${trim(seconds)}s`;
  if (minutes) return `${minutes}m${trim(seconds)}s`;
  return `${trim(seconds)}s`;
}

function trim(n: number): string {
  return String(Number(n.toFixed(9)));
}

function nsOr(value: number | undefined, fallback: number): number {
  return value && value > 0 ? value : fallback;
}

/** RFC 3339 with nanosecond digits, as Go marshals times. */
function timestamp(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000000Z`;
}

export class HealthMonitor {
  private readonly containers: ContainerService;
  private readonly exec: ExecService;
  private readonly monitors = new Map<string, Monitor>();
  private readonly unsubscribe: () => void;

  constructor(options: HealthMonitorOptions) {
    this.containers = options.containers;
    this.exec = options.exec;
    this.unsubscribe = options.events.observe((ev) => this.onEvent(ev));
    // Containers that kept running across a hakod restart: their monitors resume, their status stays.
    for (const c of this.containers.store.list()) {
      if (c.State.Running && !c.State.Paused && probeCommand(c)) this.begin(c.ID, { reset: !c.State.Health });
    }
  }

  close(): void {
    this.unsubscribe();
    for (const id of [...this.monitors.keys()]) this.end(id);
  }

  /** Whether a monitor runs for the container (tests, diagnostics). */
  watching(id: string): boolean {
    return this.monitors.has(id);
  }

  private onEvent(ev: EngineEvent): void {
    if (ev.Type !== "container") return;
    const id = ev.Actor.ID;
    switch (ev.Action) {
      case "start":
        this.begin(id, { reset: true });
        break;
      case "unpause":
        this.begin(id, { reset: false });
        break;
      case "die":
      case "pause":
      case "destroy":
        this.end(id);
        break;
    }
  }

  private begin(id: string, options: { reset: boolean }): void {
    this.end(id);
    const c = this.containers.store.get(id);
    if (!c || !probeCommand(c)) return;
    if (options.reset || !c.State.Health) {
      c.State.Health = { Status: "starting", FailingStreak: 0, Log: c.State.Health?.Log ?? [] };
      this.save(c);
    }
    const monitor: Monitor = { stopped: false };
    this.monitors.set(id, monitor);
    this.schedule(id, monitor);
  }

  private end(id: string): void {
    const monitor = this.monitors.get(id);
    if (!monitor) return;
    monitor.stopped = true;
    if (monitor.timer) clearTimeout(monitor.timer);
    monitor.kill?.();
    this.monitors.delete(id);
  }

  /** The next probe: the start interval while starting within the start period, else the interval. */
  private schedule(id: string, monitor: Monitor): void {
    const c = this.containers.store.get(id);
    if (!c || monitor.stopped) return;
    const hc = c.Config.Healthcheck ?? {};
    const startPeriod = nsOr(hc.StartPeriod, HEALTH_DEFAULTS.startPeriodNs);
    const sinceStart = (Date.now() - Date.parse(c.State.StartedAt)) * 1e6;
    const inStartPeriod = sinceStart < startPeriod && c.State.Health?.Status === "starting";
    const ns = inStartPeriod ? nsOr(hc.StartInterval, HEALTH_DEFAULTS.startIntervalNs) : nsOr(hc.Interval, HEALTH_DEFAULTS.intervalNs);
    monitor.timer = setTimeout(() => void this.tick(id, monitor), Math.max(1, Math.round(ns / 1e6)));
    // A pending probe must not keep hakod (or a test process) alive.
    monitor.timer.unref();
  }

  private async tick(id: string, monitor: Monitor): Promise<void> {
    monitor.timer = undefined;
    if (monitor.stopped) return;
    const c = this.containers.store.get(id);
    if (!c || !c.State.Running) return;
    const result = await this.probe(c, monitor);
    if (monitor.stopped) return;
    this.record(id, c.Config.Healthcheck ?? {}, result);
    this.schedule(id, monitor);
  }

  /** Runs the probe once as an exec; a probe that cannot run is a failure with its error as output. */
  private async probe(c: ContainerRecord, monitor: Monitor): Promise<HealthcheckResult> {
    const start = Date.now();
    const cmd = probeCommand(c)!;
    const timeoutNs = nsOr(c.Config.Healthcheck?.Timeout, HEALTH_DEFAULTS.timeoutNs);
    let execId: string | undefined;
    try {
      execId = this.exec.create(c.ID, { Cmd: cmd, AttachStdout: true, AttachStderr: true }, { probe: true });
      const session = await this.exec.start(execId);
      const output = new CappedBuffer(MAX_OUTPUT_LEN);
      session.stdout?.on("data", (b: Buffer) => output.push(b));
      session.stderr?.on("data", (b: Buffer) => output.push(b));
      monitor.kill = () => session.kill();
      let timedOut = false;
      let timer: NodeJS.Timeout | undefined;
      // After a timeout-kill the probe gets a moment to close: one that left a background process
      // holding its output pipe never would, and the monitor must go on without it.
      const abandoned = new Promise<number>((resolve) => {
        timer = setTimeout(() => {
          timedOut = true;
          session.kill();
          setTimeout(() => resolve(-1), 1000).unref();
        }, Math.max(1, Math.round(timeoutNs / 1e6)));
      });
      const code = await Promise.race([session.exited, abandoned]);
      clearTimeout(timer);
      monitor.kill = undefined;
      if (timedOut) {
        return { Start: timestamp(start), End: timestamp(Date.now()), ExitCode: -1, Output: `Health check exceeded timeout (${goDuration(timeoutNs)})` };
      }
      return { Start: timestamp(start), End: timestamp(Date.now()), ExitCode: code, Output: output.text() };
    } catch (err) {
      // A probe that cannot run (command not found: ExecStartError) fails with its error as output.
      return { Start: timestamp(start), End: timestamp(Date.now()), ExitCode: -1, Output: errorMessage(err) };
    } finally {
      if (execId) this.exec.forget(execId);
    }
  }

  /** dockerd's handleProbeResult: the log, the failing streak, the status, an event when it changed. */
  private record(id: string, hc: HealthConfig, result: HealthcheckResult): void {
    const c = this.containers.store.get(id);
    if (!c || !c.State.Running) return;
    const health = c.State.Health ?? { Status: "starting", FailingStreak: 0, Log: [] };
    const before = health.Status;
    const log = [...(health.Log ?? []), result].slice(-MAX_LOG_ENTRIES);
    let { Status: status, FailingStreak: streak } = health;
    if (result.ExitCode === 0) {
      streak = 0;
      status = "healthy";
    } else {
      // While starting, failures within the start period do not count.
      const startPeriod = nsOr(hc.StartPeriod, HEALTH_DEFAULTS.startPeriodNs);
      const sinceStart = (Date.parse(result.Start) - Date.parse(c.State.StartedAt)) * 1e6;
      if (!(status === "starting" && sinceStart < startPeriod)) {
        streak++;
        if (streak >= (hc.Retries && hc.Retries > 0 ? hc.Retries : HEALTH_DEFAULTS.retries)) status = "unhealthy";
      }
    }
    c.State.Health = { Status: status, FailingStreak: streak, Log: log };
    this.save(c);
    if (status !== before) this.containers.publish(`health_status: ${status}`, c);
  }

  private save(c: ContainerRecord): void {
    try {
      this.containers.store.save(c);
    } catch {
      // removed while the probe ran
    }
  }
}

/** Keeps the first `limit` bytes written (dockerd's limitedBuffer). */
class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}

  push(b: Buffer): void {
    if (this.size >= this.limit) return;
    const part = b.subarray(0, this.limit - this.size);
    this.chunks.push(part);
    this.size += part.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}
