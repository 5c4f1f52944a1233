/**
 * The build context: the tar the client sends (plain or compressed),
 * extracted into a directory of hakod's by the native helper (every entry
 * and link stays inside it), with its Dockerfile read and what
 * .dockerignore names removed. The docker CLI already leaves ignored files
 * out; API clients may not, so the daemon applies the file too (applying it
 * twice changes nothing).
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, type Stats } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { InvalidArgumentError, NotFoundError, errorMessage } from "../common/errors.ts";
import { decompressed } from "../image/compression.ts";
import { rootfsPutTar } from "../native/tools.ts";
import { IgnoreMatcher, readIgnoreFile } from "./dockerignore.ts";
import { TarTerminator } from "./tar-end.ts";

export interface BuildContext {
  /** The extracted context (host path, owned by hakod). */
  dir: string;
  /** The Dockerfile's text. */
  dockerfile: string;
  ignore: IgnoreMatcher;
}

/** Extracts `input` into `dir` (created) and reads `dockerfilePath` from it. */
export async function openContext(input: Readable, dir: string, dockerfilePath: string): Promise<BuildContext> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let tar: Readable;
  try {
    const raw = await decompressed(input);
    const terminated = new TarTerminator();
    raw.on("error", (err) => terminated.destroy(err));
    tar = raw.pipe(terminated);
  } catch (err) {
    throw new InvalidArgumentError(`read the build context: ${errorMessage(err)}`, { cause: err });
  }
  try {
    await rootfsPutTar({ root: dir }, "/", tar);
  } catch (err) {
    throw new InvalidArgumentError(`extract the build context: ${errorMessage(err)}`, { cause: err });
  }
  const name = dockerfilePath || "Dockerfile";
  const dfRel = insideContext(name);
  let dockerfile: string;
  try {
    dockerfile = readContextFile(dir, dfRel);
  } catch (err) {
    // A lower-case "dockerfile" is Docker's fallback for the default name.
    if (name === "Dockerfile") {
      try {
        dockerfile = readContextFile(dir, "dockerfile");
      } catch {
        throw new NotFoundError(`Cannot locate specified Dockerfile: ${name}`, { cause: err });
      }
    } else throw new NotFoundError(`Cannot locate specified Dockerfile: ${name}`, { cause: err });
  }
  let ignoreLines: string[] = [];
  try {
    ignoreLines = readIgnoreFile(readContextFile(dir, ".dockerignore"));
  } catch {
    // no .dockerignore
  }
  const ignore = new IgnoreMatcher(ignoreLines);
  if (!ignore.empty) removeIgnored(dir, "", ignore);
  return { dir, dockerfile, ignore };
}

/** A context-relative path that cannot leave the context. */
export function insideContext(p: string): string {
  const rel = path.posix.normalize(`/${p}`).slice(1);
  if (rel.split("/").includes("..")) throw new InvalidArgumentError(`forbidden path outside the build context: ${p}`);
  return rel;
}

/** A regular file of the context, never through a symlink. */
function readContextFile(dir: string, rel: string): string {
  const parts = rel.split("/").filter(Boolean);
  let cur = dir;
  for (const part of parts) {
    cur = path.join(cur, part);
    const st = lstatSync(cur);
    if (st.isSymbolicLink()) throw new InvalidArgumentError(`${rel}: a symbolic link in the build context`);
  }
  const st = lstatSync(cur);
  if (!st.isFile()) throw new InvalidArgumentError(`${rel} is not a file`);
  return readFileSync(cur, "utf8");
}

/** Removes what the matcher ignores; a directory stays when an exception may keep something under it. */
function removeIgnored(dir: string, rel: string, ignore: IgnoreMatcher): void {
  for (const name of readdirSync(path.join(dir, rel))) {
    const childRel = rel ? `${rel}/${name}` : name;
    const abs = path.join(dir, childRel);
    let st: Stats;
    try {
      st = lstatSync(abs);
    } catch {
      continue;
    }
    const ignored = ignore.ignores(childRel);
    if (st.isDirectory() && (!ignored || ignore.hasExceptions)) {
      removeIgnored(dir, childRel, ignore);
      if (ignored && readdirSync(abs).length === 0) rmSync(abs, { recursive: true, force: true });
      continue;
    }
    if (ignored) rmSync(abs, { recursive: true, force: true });
  }
}
