/**
 * Pieces the container commands share: the API's container shapes (as much
 * of them as the client reads), error texts as docker prints them, and
 * docker's parallelOperation for commands over several containers.
 */
import { ApiError, DaemonUnreachableError } from "../../client.ts";
import { FlagError } from "../../flags.ts";
import { HakoError, errorMessage } from "../../../common/errors.ts";
import type { CliContext } from "../command.ts";

/** GET /containers/json items (container.Summary). */
export interface ContainerSummary {
  Id: string;
  Names?: string[] | null;
  Image?: string;
  ImageID?: string;
  Command?: string;
  Created?: number;
  Ports?: PortWire[] | null;
  SizeRw?: number;
  SizeRootFs?: number;
  Labels?: Record<string, string> | null;
  State?: string;
  Status?: string;
  HostConfig?: { NetworkMode?: string };
  NetworkSettings?: { Networks?: Record<string, unknown> | null } | null;
  Mounts?: { Name?: string; Source?: string; Driver?: string; Type?: string }[] | null;
  ImageManifestDescriptor?: { platform?: { os?: string; architecture?: string; variant?: string } } | null;
}

export interface PortWire {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

/** GET /containers/{id}/json (the parts the client reads). */
export interface ContainerInspect {
  Id: string;
  Name?: string;
  Config?: { Tty?: boolean; OpenStdin?: boolean; Image?: string } | null;
  HostConfig?: { AutoRemove?: boolean } | null;
  State?: { Running?: boolean; Paused?: boolean; Restarting?: boolean; Status?: string; ExitCode?: number } | null;
  NetworkSettings?: { Ports?: Record<string, { HostIp: string; HostPort: string }[] | null> | null } | null;
}

/** How docker prints an error of one container among several: the daemon's with its prefix. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return `Error response from daemon: ${err.message}`;
  if (err instanceof DaemonUnreachableError) return err.message;
  return HakoError.is(err) ? err.message : errorMessage(err);
}

/** A container's id or name in a request path. */
export function containerPath(idOrName: string): string {
  return `/containers/${encodeURIComponent(idOrName)}`;
}

/**
 * docker's parallelOperation: runs `op` on every container (at most 50 at a
 * time), then reports in the order given: `onSuccess` for those that
 * worked, the errors (joined with newlines) on stderr. Resolves with the
 * exit status: 1 when any failed.
 */
export async function forEachContainer(
  ctx: CliContext,
  names: readonly string[],
  op: (name: string) => Promise<unknown>,
  onSuccess: (name: string) => void = (name) => ctx.out(`${name}\n`),
  options: { parallel?: number; ignore?: (err: unknown, name: string) => boolean } = {},
): Promise<number> {
  const parallel = options.parallel ?? 50;
  const results: Promise<unknown>[] = [];
  let running = 0;
  const queue: (() => void)[] = [];
  const acquire = (): Promise<void> =>
    running < parallel
      ? (running++, Promise.resolve())
      : new Promise<void>((resolve) => queue.push(() => (running++, resolve())));
  const release = (): void => {
    running--;
    queue.shift()?.();
  };
  for (const name of names) {
    results.push(
      acquire().then(async () => {
        try {
          return await op(name);
        } finally {
          release();
        }
      }),
    );
  }
  const errors: string[] = [];
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    try {
      await results[i];
      onSuccess(name);
    } catch (err) {
      if (err instanceof DaemonUnreachableError) throw err;
      if (options.ignore?.(err, name)) {
        ctx.err(`${errorText(err)}\n`);
        continue;
      }
      errors.push(errorText(err));
    }
  }
  if (errors.length === 0) return 0;
  ctx.err(`${errors.join("\n")}\n`);
  return 1;
}

export { confirm, readLine } from "../image/common.ts";

/**
 * The --filter values as the API's filters JSON, as docker's filters.Args
 * marshals them: {"name": {"value": true}}, both levels in sorted key order
 * (Go maps).
 *
 * @throws FlagError "bad format of filter (expected name=value)"
 */
export function filtersJson(values: readonly string[], extra: Record<string, string[]> = {}): string | undefined {
  const out: Record<string, Set<string>> = {};
  for (const v of values) {
    if (v === "") continue;
    const eq = v.indexOf("=");
    if (eq < 0) throw new FlagError(`invalid argument "${v}" for "-f, --filter" flag: bad format of filter (expected name=value)`);
    (out[v.slice(0, eq).trim().toLowerCase()] ??= new Set()).add(v.slice(eq + 1).trim());
  }
  for (const [name, list] of Object.entries(extra)) for (const value of list) (out[name] ??= new Set()).add(value);
  const names = Object.keys(out).sort();
  if (names.length === 0) return undefined;
  const sorted: Record<string, Record<string, boolean>> = {};
  for (const name of names) {
    sorted[name] = {};
    for (const value of [...out[name]!].sort()) sorted[name][value] = true;
  }
  return JSON.stringify(sorted);
}
