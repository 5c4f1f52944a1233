/**
 * hako create (docker/cli cli/command/container/create.go): the flags as a
 * create request, the image pulled when the daemon does not have it
 * ("Unable to find image '...' locally", progress on stderr), warnings
 * printed, the container's ID on stdout.
 */
import { existsSync, closeSync, openSync, unlinkSync, writeSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { API_VERSION } from "../../../api/version.ts";
import { ApiError } from "../../client.ts";
import type { FlagValues } from "../../flags.ts";
import { registryAuthFor } from "../../auth.ts";
import { displayJsonMessages } from "../../progress.ts";
import { familiarName, familiarString, parseReference, tagNameOnly, type Reference } from "../../../image/reference.ts";
import { canonicalIp } from "./parse.ts";
import type { CliCommand, CliContext } from "../command.ts";
import { DISCARD, storeFor } from "../image/common.ts";
import { CREATE_FLAGS, parseContainerConfig, usageErrorText, type ContainerConfigs } from "./opts.ts";
import { ttySize } from "../../terminal.ts";

export interface CreateOptions {
  name?: string;
  platform?: string;
  pull: string;
  quiet: boolean;
}

/** validatePullOpt. */
export function validatePullOpt(val: string): void {
  if (!["always", "missing", "never", ""].includes(val)) {
    throw new Error(`invalid pull option: '${val}': must be one of "always", "missing" or "never"`);
  }
}

/** The body of an answer, read to the end. */
export async function readBody(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A writer for progress output on the CLI's stderr. */
export function stderrSink(ctx: CliContext): { write(text: string): boolean; isTTY: boolean; columns?: number } {
  return { write: (t: string) => (ctx.err(t), true), isTTY: process.stderr.isTTY === true, columns: process.stderr.columns };
}

/** reference.ParseAnyReference: an image ID (or sha256:ID) is not a name and is never pulled. */
function namedReference(image: string): Reference | undefined {
  if (/^[a-f0-9]{64}$/.test(image) || /^sha256:[a-f0-9]{64}$/.test(image)) return undefined;
  return tagNameOnly(parseReference(image));
}

/** pullImage: POST /images/create with the progress on stderr (nothing with -q). */
export async function pullForCreate(ctx: CliContext, ref: Reference, platform: string | undefined, quiet: boolean): Promise<void> {
  const messages = ctx.client().stream("POST", "/images/create", {
    query: { fromImage: familiarName(ref), platform: platform || undefined, tag: ref.digest ?? ref.tag },
    headers: { "X-Registry-Auth": registryAuthFor(ref, storeFor(ctx)) },
  });
  await displayJsonMessages(messages, { out: quiet ? DISCARD : stderrSink(ctx) });
}

/** docker's localhostDNSWarning. */
function localhostDnsWarning(dns: unknown): string | undefined {
  for (const d of (dns as string[] | undefined) ?? []) {
    const ip = canonicalIp(d);
    if (ip !== undefined && (/^127\./.test(ip) || ip === "::1")) return `Localhost DNS (${ip}) may fail in containers.`;
  }
  return undefined;
}

/**
 * createContainer: POST /containers/create?name=&platform=; on 404 with a
 * named image and --pull=missing, pulls and creates again. Writes the ID to
 * --cidfile. Resolves with the new container's ID.
 */
export async function createContainer(ctx: CliContext, configs: ContainerConfigs, options: CreateOptions): Promise<string> {
  const cidFile = configs.containerIdFile;
  let cidFd: number | undefined;
  if (cidFile !== "") {
    if (existsSync(cidFile)) throw new Error(`container ID file found, make sure the other container isn't running or delete ${cidFile}`);
    try {
      cidFd = openSync(cidFile, "w", 0o666);
    } catch (err) {
      throw new Error(`failed to create the container ID file: ${(err as Error).message}`);
    }
  }
  let written = false;
  try {
    const ref = namedReference(configs.image);
    if (options.pull === "always" && ref) await pullForCreate(ctx, ref, options.platform, options.quiet);
    const platform = options.platform ? options.platform.toLowerCase() : undefined;
    const create = (): Promise<{ Id: string; Warnings?: string[] | null }> =>
      ctx.client().json("POST", "/containers/create", { query: { name: options.name || undefined, platform }, body: configs.body });
    let response: { Id: string; Warnings?: string[] | null };
    try {
      response = await create();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404 && ref && options.pull === "missing")) throw err;
      if (!options.quiet) ctx.err(`Unable to find image '${familiarString(ref)}' locally\n`);
      await pullForCreate(ctx, ref, options.platform, options.quiet);
      response = await create();
    }
    const warnings = [...(response.Warnings ?? [])];
    const dnsWarning = localhostDnsWarning((configs.hostConfig as { Dns?: unknown }).Dns);
    if (dnsWarning) warnings.push(dnsWarning);
    for (const w of warnings) ctx.err(`WARNING: ${w}\n`);
    if (cidFd !== undefined) {
      try {
        writeSync(cidFd, response.Id);
        written = true;
      } catch (err) {
        throw new Error(`failed to write the container ID to the file: ${(err as Error).message}`);
      }
    }
    return response.Id;
  } finally {
    if (cidFd !== undefined) {
      closeSync(cidFd);
      if (!written) {
        try {
          unlinkSync(cidFile);
        } catch {
          // already gone
        }
      }
    }
  }
}

/** The options of create/run that are not the container's. */
export function createOptionsOf(flags: FlagValues): CreateOptions {
  return {
    name: (flags.name as string | undefined) || undefined,
    platform: (flags.platform as string | undefined) || process.env.DOCKER_DEFAULT_PLATFORM || undefined,
    pull: flags.pull as string,
    quiet: flags.quiet === true,
  };
}

/** Parses create/run's command line; on a problem prints docker's message and gives 125. */
export function parseOrReport(ctx: CliContext, flags: FlagValues, args: readonly string[], apiVersion?: string): ContainerConfigs | number {
  try {
    validatePullOpt(flags.pull as string);
    return parseContainerConfig(flags, args[0]!, args.slice(1), { consoleSize: ttySize(ctx.stdout), apiVersion });
  } catch (err) {
    ctx.err(usageErrorText(err, ctx.path));
    return 125;
  }
}

/**
 * parseOrReport for the daemon's API version, parsed while the client
 * negotiates it (the ping is in flight meanwhile) at the client's own
 * version, and again in the rare case the daemon speaks an older one.
 * A command line that does not parse gives up the negotiation, so no
 * daemon is started for it.
 */
export async function parseWhileNegotiating(ctx: CliContext, flags: FlagValues, args: readonly string[]): Promise<ContainerConfigs | number> {
  const client = ctx.client();
  const negotiated = client.apiVersion();
  const configs = parseOrReport(ctx, flags, args, API_VERSION);
  if (typeof configs === "number") {
    client.giveUpAutostart();
    negotiated.catch(() => undefined);
    return configs;
  }
  const version = await negotiated;
  return version === API_VERSION ? configs : parseOrReport(ctx, flags, args, version);
}

export const create: CliCommand = {
  name: "create",
  usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
  summary: "Create a new container",
  args: [1, -1],
  stopAtFirstArg: true,
  flags: CREATE_FLAGS,
  async run(ctx, flags, args) {
    const configs = await parseWhileNegotiating(ctx, flags, args);
    if (typeof configs === "number") return configs;
    const id = await createContainer(ctx, configs, createOptionsOf(flags));
    ctx.out(`${id}\n`);
    return 0;
  },
};
