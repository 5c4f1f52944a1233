/** Pieces the image commands share: --filter values, references, input files, stdin, quiet output, the credential store. */
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { HakoError } from "../../../common/errors.ts";
import { parseReference, tagNameOnly, type Reference } from "../../../image/reference.ts";
import { FlagError, type FlagSpec } from "../../flags.ts";
import type { CredentialStore } from "../../../image/registry/credentials.ts";
import { credentialStore } from "../../auth.ts";
import type { CliContext } from "../command.ts";

/** docker's `-f, --filter` (repeatable "name=value"). */
export function filterFlag(short: string | undefined, help = "Filter output based on conditions provided"): FlagSpec {
  return { name: "filter", ...(short ? { short } : {}), type: "list", value: "filter", help };
}

/**
 * The --filter values as the API's filters JSON (docker's filters.Args
 * ToJSON form: {"name": {"value": true}}).
 *
 * @throws FlagError "bad format of filter (expected name=value)"
 */
export function filtersJson(values: readonly string[], extra: Record<string, string[]> = {}): string | undefined {
  const out: Record<string, Record<string, boolean>> = {};
  const add = (name: string, value: string): void => {
    (out[name] ??= {})[value] = true;
  };
  for (const v of values) {
    if (v === "") continue;
    const eq = v.indexOf("=");
    if (eq < 0) throw new FlagError(`invalid argument "${v}" for "-f, --filter" flag: bad format of filter (expected name=value)`);
    add(v.slice(0, eq).trim().toLowerCase(), v.slice(eq + 1).trim());
  }
  for (const [name, list] of Object.entries(extra)) for (const value of list) add(name, value);
  return Object.keys(out).length ? JSON.stringify(out) : undefined;
}

/** reference.ParseNormalizedNamed with the message docker prints. */
export function parseNamed(s: string): Reference {
  try {
    return parseReference(s);
  } catch (err) {
    throw new Error(HakoError.is(err) ? err.message : String(err));
  }
}

/**
 * The NAME[:TAG|@DIGEST] of pull and push: with --all-tags it must name
 * the repository alone; without, a bare name gets the default tag, which
 * docker announces unless -q.
 */
export function remoteReference(ctx: CliContext, arg: string, allTags: boolean, quiet: boolean): Reference {
  const ref = parseNamed(arg);
  const nameOnly = ref.tag === undefined && ref.digest === undefined;
  if (allTags && !nameOnly) throw new Error("tag can't be used with --all-tags/-a");
  if (allTags || !nameOnly) return ref;
  const tagged = tagNameOnly(ref);
  if (!quiet) ctx.out(`Using default tag: ${tagged.tag}\n`);
  return tagged;
}

/** A sink for progress output that -q suppresses. */
export const DISCARD = { write: (_text: string): boolean => true, isTTY: false };

/** The whole of stdin. */
export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * docker's prune prompt: `warning [y/N] `, then a line from stdin; true for
 * "y". A refusal ends the command with status 0 and no message, as docker's does.
 */
export async function confirm(ctx: { out(text: string): void }, warning: string): Promise<boolean> {
  ctx.out(`${warning} [y/N] `);
  return (await readLine()).trim().toLowerCase() === "y";
}

/** Reads one line from stdin (without its line ending); "" at end of input. */
export function readLine(): Promise<string> {
  return new Promise((resolve) => {
    const stdin = process.stdin;
    let text = "";
    const done = (): void => {
      stdin.off("data", onData);
      stdin.off("end", done);
      stdin.off("error", done);
      stdin.pause();
      resolve(text.replace(/\r?\n[\s\S]*$/, "").replace(/\r$/, ""));
    };
    const onData = (chunk: Buffer | string): void => {
      text += chunk.toString();
      if (text.includes("\n")) done();
    };
    stdin.on("data", onData);
    stdin.on("end", done);
    stdin.on("error", done);
    stdin.resume();
  });
}

/** The credential store this invocation uses (--config, $DOCKER_CONFIG, ~/.docker). */
export function storeFor(ctx: CliContext): CredentialStore {
  return credentialStore(ctx.global.config);
}

/** Go's os.Open error text for a Node error ("open x: no such file or directory"). */
function openErrorText(file: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const reason =
    code === "ENOENT" ? "no such file or directory" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : (err as Error).message;
  return `open ${file}: ${reason}`;
}

/**
 * A file to send as a request body. It is opened once first, so a missing or
 * unreadable file fails with Go's os.Open text before any request is made.
 */
export async function openInputFile(file: string): Promise<Readable> {
  try {
    await (await open(file, "r")).close();
  } catch (err) {
    throw new Error(openErrorText(file, err));
  }
  return createReadStream(file);
}

/** An image name in a request path: slashes kept (as the docker CLI sends them), the rest escaped. */
export function imagePath(name: string): string {
  return name.split("/").map(encodeURIComponent).join("/");
}
