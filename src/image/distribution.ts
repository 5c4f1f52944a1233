/**
 * pull, push and login: the image service talking to registries, with
 * Docker's progress messages (moby distribution/pull_v2.go, push_v2.go).
 */
import { Transform } from "node:stream";
import { InvalidArgumentError, UnauthorizedError } from "../common/errors.ts";
import type { AuthConfig, JSONMessage } from "../spec/docker-api.ts";
import type { Descriptor, ImageConfig } from "../spec/oci-image.ts";
import { decompressed } from "./compression.ts";
import { chainIds, shortId } from "./ids.ts";
import type { ImageRecord } from "./image-store.ts";
import { familiarName, familiarString, normalize, parseReference, registryHost, repository, splitSearchTerm, type Reference } from "./reference.ts";
import { RegistryClient, type RegistryCredentials, type SearchResult } from "./registry/client.ts";
import { throttled } from "./registry/jobs.ts";
import { pullImage } from "./registry/pull.ts";
import { pushImage } from "./registry/push.ts";
import type { ImageService, Progress } from "./service.ts";

export interface RegistryOptions {
  /** Docker's insecure-registries: host[:port] or CIDRs reached over plain HTTP. */
  insecureRegistries?: string[];
  /** Credentials for a registry host when the request brought none (the daemon's own config.json). */
  credentialsFor?: (host: string) => RegistryCredentials | undefined;
}

function credentialsOf(auth: AuthConfig | undefined): RegistryCredentials | undefined {
  if (!auth) return undefined;
  if (auth.identitytoken) return { identitytoken: auth.identitytoken, username: auth.username };
  if (auth.username || auth.password) return { username: auth.username ?? "", password: auth.password ?? "" };
  if (auth.auth) {
    const decoded = Buffer.from(auth.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

export function registryClient(domain: string, auth: AuthConfig | undefined, options: RegistryOptions): RegistryClient {
  const host = registryHost(domain);
  return new RegistryClient({
    host,
    insecureRegistries: options.insecureRegistries,
    credentials: credentialsOf(auth) ?? options.credentialsFor?.(domain) ?? options.credentialsFor?.(host),
    userAgent: "hako",
  });
}

/** docker pull: fetch, store and extract; the image is complete before it gets a name. */
export async function pull(
  service: ImageService,
  name: string,
  options: RegistryOptions & { auth?: AuthConfig; platform?: { os: string; architecture: string; variant?: string }; progress?: Progress; signal?: AbortSignal },
): Promise<ImageRecord> {
  const ref = normalize(name);
  const progress = options.progress ?? (() => {});
  const client = registryClient(ref.domain, options.auth, options);
  const reference = ref.digest ?? ref.tag!;
  progress({ status: `Pulling from ${ref.path}`, id: ref.digest ?? ref.tag });
  // Docker prints no layer lines for an image it already has ("Digest:", "Image is up to date"):
  // "Already exists" lines wait until another line comes or the image turns out to be known.
  let held: JSONMessage[] | undefined = [];
  const release = (): void => {
    for (const m of held ?? []) progress(m);
    held = undefined;
  };
  // Layers extract bottom up while the ones above them still download, as Docker does.
  const waiting = new Map<string, { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void }>();
  const blobReady = (digest: string): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } => {
    let w = waiting.get(digest);
    if (!w) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => {});
      w = { promise, resolve, reject };
      waiting.set(digest, w);
    }
    return w;
  };
  const downloaded = new Map<string, string>();
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let extraction: Promise<{ diffIds: string[]; size: number; config: ImageConfig }> | undefined;
  let extractionError: unknown;

  const emit = (m: JSONMessage): void => {
    release();
    progress(m);
  };
  const extractAll = async (configBytes: Buffer, layers: Descriptor[]): Promise<{ diffIds: string[]; size: number; config: ImageConfig }> => {
    const config = JSON.parse(configBytes.toString("utf8")) as ImageConfig;
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== layers.length) {
      throw new InvalidArgumentError(`image config lists ${diffIds.length} layers but the manifest ${layers.length}`);
    }
    const chains = chainIds(diffIds);
    let size = 0;
    // Layers are applied bottom up: each stands on the one before.
    for (let i = 0; i < layers.length; i++) {
      const desc = layers[i]!;
      const id = shortId(desc.digest);
      if (!service.layers.has(chains[i]!)) {
        if (!service.content.has(desc.digest)) await blobReady(desc.digest).promise;
        emit({ status: "Extracting", id, progressDetail: { current: 0, total: desc.size } });
        // Counted in the pipe, not with a "data" listener: that would set the blob flowing
        // before the extraction reads it (and lose the first chunks).
        let read = 0;
        const report = throttled((n) => emit({ status: "Extracting", id, progressDetail: { current: n, total: desc.size } }), desc.size);
        const counter = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            read += chunk.length;
            report(read);
            cb(null, chunk);
          },
        });
        const blob = service.content.read(desc.digest);
        blob.on("error", (err) => counter.destroy(err));
        await service.layers.register(await decompressed(blob.pipe(counter)), i ? chains[i - 1] : undefined, diffIds[i]);
        emit({ status: "Pull complete", id });
      }
      size += service.layers.contentSize(chains[i]!);
    }
    return { diffIds, size, config };
  };

  try {
    let result;
    try {
      result = await pullImage({
        client,
        repo: ref.path,
        reference,
        platform: options.platform,
        hasBlob: (digest) => service.content.has(digest),
        blobSink: async (desc, stream) => {
          await service.content.ingest({ digest: desc.digest, size: desc.size }, stream);
          // Ready for extraction once "Download complete" is out, so the lines keep Docker's order.
          downloaded.set(shortId(desc.digest), desc.digest);
        },
        onLayers: (configBytes, layers) => {
          extraction = extractAll(configBytes, layers);
          extraction.catch((err: unknown) => {
            extractionError = err;
            controller.abort(err);
          });
        },
        onProgress: (e) => {
          const digest = e.status === "Download complete" ? downloaded.get(e.id) : undefined;
          if (digest) queueMicrotask(() => blobReady(digest).resolve());
          const m: JSONMessage = { status: e.status, id: e.id, ...(e.progressDetail ? { progressDetail: e.progressDetail } : {}) };
          if (held && e.status === "Already exists") held.push(m);
          else {
            release();
            progress(m);
          }
        },
        signal: controller.signal,
      });
    } catch (err) {
      for (const w of waiting.values()) w.reject(err);
      if (extraction) await extraction.catch(() => {});
      throw extractionError ?? err;
    }
    if (service.images.get(result.configDescriptor.digest)) held = undefined;
    else release();
    const { diffIds, size, config } = await extraction!;
    await service.content.ingest({ digest: result.manifest.digest }, result.manifest.bytes);
    if (result.index) await service.content.ingest({ digest: result.index.digest }, result.index.bytes);
    await service.content.ingest({ digest: result.configDescriptor.digest, size: result.configDescriptor.size }, result.config);

    const id = result.configDescriptor.digest;
    const existed = service.images.get(id);
    const wasTagged = ref.tag ? service.images.tagsOf(id).includes(`${repository(ref)}:${ref.tag}`) : true;
    service.images.put({
      ...(existed ?? {}),
      id,
      manifestDigest: result.manifest.digest,
      layers: diffIds.map((diffId, i) => ({ diffId, blob: result.layers[i] })),
      created: config.created ?? new Date().toISOString(),
      size,
      source: existed?.source ?? "pull",
    });
    const repoDigest = `${repository(ref)}@${result.indexDigest ?? result.manifest.digest}`;
    service.images.addRepoDigest(id, repoDigest);
    if (ref.tag) service.images.tag(id, ref);
    progress({ status: `Digest: ${result.indexDigest ?? result.manifest.digest}` });
    const shown = familiarString(ref);
    progress({ status: existed && wasTagged ? `Status: Image is up to date for ${shown}` : `Status: Downloaded newer image for ${shown}` });
    return service.images.get(id)!;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    client.close();
  }
}

/**
 * docker pull --all-tags: every tag the registry lists, one after the other,
 * with one Status line for the repository at the end (moby's
 * pullRepository): "Downloaded newer image" when any tag brought something.
 */
export async function pullAllTags(
  service: ImageService,
  name: string,
  options: RegistryOptions & { auth?: AuthConfig; platform?: { os: string; architecture: string; variant?: string }; progress?: Progress; signal?: AbortSignal },
): Promise<string[]> {
  const ref = normalize(name);
  const progress = options.progress ?? (() => {});
  const client = registryClient(ref.domain, options.auth, options);
  let tags: string[];
  try {
    tags = await client.listTags(ref.path, { signal: options.signal });
  } finally {
    client.close();
  }
  let newer = false;
  for (const tag of tags) {
    await pull(service, `${repository(ref)}:${tag}`, {
      ...options,
      progress: (m) => {
        // Each tag's own Status line is folded into the repository's.
        if (typeof m.status === "string" && m.status.startsWith("Status: ")) newer ||= m.status.startsWith("Status: Downloaded newer image");
        else progress(m);
      },
    });
  }
  const shown = familiarName(ref);
  progress({ status: newer ? `Status: Downloaded newer image for ${shown}` : `Status: Image is up to date for ${shown}` });
  return tags;
}

/** docker push: the tag named, or every tag of the repository when none is. */
export async function push(
  service: ImageService,
  name: string,
  options: RegistryOptions & { auth?: AuthConfig; progress?: Progress; signal?: AbortSignal; allTags?: boolean },
): Promise<{ tag: string; digest: string; size: number }[]> {
  const progress = options.progress ?? (() => {});
  const named = parseReference(name);
  // Docker ≥ 20.10 pushes :latest when no tag is named; --all-tags pushes every tag of the repository.
  const refs: Reference[] = options.allTags
    ? Object.keys(service.images.references().tags)
        .map((t) => parseReference(t))
        .filter((r) => repository(r) === repository(named))
    : [normalize(name)];
  if (refs.length === 0) throw new InvalidArgumentError(`An image does not exist locally with the tag: ${familiarString(named)}`);
  progress({ status: `The push refers to repository [${repository(named)}]` });
  const client = registryClient(named.domain, options.auth, options);
  const results: { tag: string; digest: string; size: number }[] = [];
  try {
    for (const ref of refs) {
      const record = service.images.resolve(familiarString(ref));
      const { bytes, mediaType, manifest } = await service.manifestFor(record, progress);
      const mountFrom = service.images
        .repoDigestsOf(record.id)
        .map((d) => parseReference(d))
        .filter((r) => r.domain === named.domain && r.path !== named.path)
        .map((r) => r.path);
      const pushed = await pushImage({
        client,
        repo: named.path,
        tag: ref.tag,
        manifest: { bytes, mediaType },
        config: { descriptor: manifest.config, bytes: service.content.readBytes(record.id) },
        layers: manifest.layers.map((d) => ({ descriptor: d, open: () => service.content.read(d.digest) })),
        onProgress: (e) => progress({ status: e.status, id: e.id, ...(e.progressDetail ? { progressDetail: e.progressDetail } : {}) }),
        mountFrom,
        signal: options.signal,
      });
      service.images.addRepoDigest(record.id, `${repository(named)}@${pushed.digest}`);
      const tag = ref.tag ?? ref.digest ?? "latest";
      progress({ status: `${tag}: digest: ${pushed.digest} size: ${pushed.size}` });
      progress({ aux: { Tag: tag, Digest: pushed.digest, Size: pushed.size } } as JSONMessage);
      results.push({ tag, digest: pushed.digest, size: pushed.size });
    }
  } finally {
    client.close();
  }
  return results;
}

const DEFAULT_SEARCH_LIMIT = 25;

/**
 * docker search: a v1 index's repositories matching `term`. A term whose
 * first part names a host ("localhost:5000/x", "my.reg/x") asks that
 * registry; any other asks Docker Hub's index (moby's splitReposSearchTerm).
 * Filters: is-official, stars (a minimum) and is-automated (deprecated: true
 * matches nothing, and every result says false).
 */
export async function search(
  term: string,
  options: RegistryOptions & { limit?: number; filters?: Map<string, string[]>; auth?: AuthConfig; signal?: AbortSignal },
): Promise<SearchResult[]> {
  const filters = options.filters ?? new Map<string, string[]>();
  const boolFilter = (key: string): boolean | undefined => {
    const values = filters.get(key);
    if (!values?.length) return undefined;
    const v = values[0]!.toLowerCase();
    if (v === "true" || v === "1") return true;
    if (v === "false" || v === "0") return false;
    throw new InvalidArgumentError(`invalid filter '${key}=${values[0]}'`);
  };
  if (boolFilter("is-automated")) return [];
  const official = boolFilter("is-official");
  let minStars = 0;
  for (const v of filters.get("stars") ?? []) {
    if (!/^[-+]?\d+$/.test(v)) throw new InvalidArgumentError(`invalid filter 'stars=${v}'`);
    minStars = Math.max(minStars, Number(v));
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(term)) throw new InvalidArgumentError(`invalid repository name: repository name (${term}) should not have a scheme`);
  const limit = options.limit || DEFAULT_SEARCH_LIMIT;
  if (limit < 1 || limit > 100) throw new InvalidArgumentError(`limit ${limit} is outside the range of [1, 100]`);
  const { index, remote } = splitSearchTerm(term);
  const client = new RegistryClient({
    host: index,
    index: true,
    insecureRegistries: options.insecureRegistries,
    credentials: credentialsOf(options.auth) ?? options.credentialsFor?.(index === "docker.io" ? "docker.io" : index),
    userAgent: "hako",
  });
  try {
    const results = await client.search(remote, limit, { signal: options.signal });
    return results
      .filter((r) => (official === undefined || r.is_official === official) && r.star_count >= minStars)
      .map((r) => ({ ...r, is_automated: false }));
  } finally {
    client.close();
  }
}

/** POST /auth: checks credentials against the registry. */
export async function login(auth: AuthConfig, options: RegistryOptions): Promise<{ Status: string; IdentityToken: string }> {
  const server = auth.serveraddress || "docker.io";
  const domain = server.replace(/^https?:\/\//, "").replace(/\/v[12]\/?$/, "").replace(/\/$/, "");
  const client = registryClient(domain === "index.docker.io" ? "docker.io" : domain, auth, { ...options, credentialsFor: undefined });
  try {
    let ping;
    try {
      ping = await client.ping();
    } catch (err) {
      // dockerd's loginV2: "login attempt to http://host:5000/v2/ failed with status: 401 Unauthorized".
      if ((err as { code?: string }).code === "ERR_UNAUTHORIZED") {
        const endpoint = `${(await client.baseUrl()).origin}/v2/`;
        throw new UnauthorizedError(`login attempt to ${endpoint} failed with status: 401 Unauthorized`, { cause: err });
      }
      throw err;
    }
    if (!ping.authenticated && ping.auth) {
      // A bearer registry answers /v2/ only with a token: asking for one checks the password.
      await client.blobExists("hako-login-check/none", `sha256:${"0".repeat(64)}`).catch((err: unknown) => {
        if ((err as { code?: string }).code === "ERR_UNAUTHORIZED") throw err;
      });
    }
    return { Status: "Login Succeeded", IdentityToken: "" };
  } finally {
    client.close();
  }
}
