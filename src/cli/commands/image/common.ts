/** Pieces the image commands share: --filter values, stdin, quiet output, the credential store. */
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

/** A sink for progress output that -q suppresses. */
export const DISCARD = { write: (_text: string): boolean => true, isTTY: false };

/** The whole of stdin. */
export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
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
export function openErrorText(file: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const reason =
    code === "ENOENT" ? "no such file or directory" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : (err as Error).message;
  return `open ${file}: ${reason}`;
}

/** An image name in a request path: slashes kept (as the docker CLI sends them), the rest escaped. */
export function imagePath(name: string): string {
  return name.split("/").map(encodeURIComponent).join("/");
}
