/**
 * FROM's image when it is not here yet. dockerd's classic builder pulls it;
 * hako pulls only from registries on this machine (localhost, 127.0.0.0/8,
 * ::1), where a test or a local mirror serves it, and otherwise says that
 * it builds offline: a build never reaches the internet.
 */
import { HakoError, NotFoundError } from "../common/errors.ts";
import { pull, type RegistryOptions } from "../image/distribution.ts";
import type { ImageRecord } from "../image/image-store.ts";
import { familiarString, fullString, normalize } from "../image/reference.ts";
import type { ImageService, Progress } from "../image/service.ts";
import type { AuthConfig } from "../spec/docker-api.ts";

/** Whether a registry host[:port] is this machine. */
export function isLoopbackRegistry(domain: string): boolean {
  const host = domain.startsWith("[") ? domain.slice(1, domain.indexOf("]")) : domain.replace(/:\d+$/, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export interface BaseImageOptions {
  registry?: RegistryOptions;
  /** X-Registry-Config: credentials by registry host. */
  auths?: Record<string, AuthConfig>;
  /** Pull even when the image is here (the `pull` option). */
  pull: boolean;
  progress: Progress;
  signal: AbortSignal;
}

/** The local image `name`, pulled first when it is missing (or `pull` asks) and its registry is local. */
export async function baseImage(images: ImageService, name: string, options: BaseImageOptions): Promise<ImageRecord> {
  let local: ImageRecord | undefined;
  try {
    local = images.resolve(name);
  } catch (err) {
    if (!(HakoError.is(err) && err.code === "ERR_NOT_FOUND")) throw err;
  }
  let ref;
  try {
    ref = normalize(name);
  } catch {
    ref = undefined; // an image ID: only ever local
  }
  const pullable = ref !== undefined && isLoopbackRegistry(ref.domain);
  if (local && !(options.pull && pullable)) return local;
  if (!pullable) {
    throw new NotFoundError(`pull access denied for ${name}: the image is not here and hako builds offline (it pulls only from registries on this machine)`);
  }
  return pull(images, fullString(ref!), {
    ...options.registry,
    ...(options.auths?.[ref!.domain] ? { auth: options.auths[ref!.domain] } : {}),
    progress: options.progress,
    signal: options.signal,
  }).catch((err: unknown) => {
    throw new NotFoundError(`pull ${familiarString(ref!)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  });
}
