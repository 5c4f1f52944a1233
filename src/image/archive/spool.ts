/**
 * The outer archive of a `docker load`, unpacked to a spool directory
 * before anything is read from it: docker save writes manifest.json after
 * the layers, so nothing can be imported while the stream is still coming.
 * Memory stays flat: each member streams to its own file.
 *
 * Member names are validated (no absolute names, no `..`), and nothing
 * from the archive is created on disk under its own name: regular files
 * become `<spool>/m<N>`, and symlinks and hardlinks (docker save links a
 * layer.tar seen twice to the first copy) are kept as a table and resolved
 * inside the archive's namespace only, so no member can reach outside it.
 */
import { createReadStream, readFileSync } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import tarStream, { type Header } from "tar-stream";
import { InvalidArgumentError } from "../../common/errors.ts";
import { decompress, sniffCompression } from "../compression.ts";

type Member = { kind: "file"; file: string; size: number } | { kind: "dir" } | { kind: "symlink"; target: string } | { kind: "hardlink"; target: string };

/** The largest JSON member (manifest.json, index.json, a config, a manifest) read into memory. */
export const MAX_JSON_MEMBER = 16 * 1024 * 1024;

const MAX_LINK_HOPS = 40;

/**
 * A member name as a clean relative path ("./a//b/" → "a/b"); "" for the
 * root. InvalidArgumentError for absolute names and any `..` component.
 */
export function cleanMemberName(name: string): string {
  if (name.startsWith("/")) throw traversal(name);
  const parts: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") throw traversal(name);
    parts.push(part);
  }
  return parts.join("/");
}

function traversal(name: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid archive: member ${JSON.stringify(name)} has an absolute path or a ".." component`);
}

export class SpooledArchive {
  readonly dir: string;
  readonly #members = new Map<string, Member>();
  #count = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Number of members (files, directories, links) read. */
  get size(): number {
    return this.#members.size;
  }

  /** Unpacks `input` (a tar, plain, gzip or zstd compressed) into the spool directory. */
  async unpack(input: Readable): Promise<void> {
    const { compression, stream } = await sniffCompression(input);
    const plain = decompress(stream, compression);
    // tar-stream reads old v7 headers too with allowUnknownFormat; the checksum still guards them.
    const extract = tarStream.extract({ allowUnknownFormat: true } as Parameters<typeof tarStream.extract>[0]);
    const onError = (err: Error): void => {
      extract.destroy(err);
    };
    plain.on("error", onError);
    plain.pipe(extract as unknown as NodeJS.WritableStream);
    let entries = 0;
    try {
      for await (const entry of extract) {
        entries++;
        await this.#add(entry);
      }
    } catch (err) {
      plain.unpipe(extract as unknown as NodeJS.WritableStream);
      plain.destroy();
      throw outerError(err, compression, entries);
    } finally {
      plain.off("error", onError);
    }
    if (entries === 0) {
      throw new InvalidArgumentError(`invalid archive: the input is empty or not a tar archive`);
    }
  }

  async #add(entry: Entry): Promise<void> {
    const header = entry.header;
    const name = cleanMemberName(header.name);
    switch (header.type) {
      case "file":
      case "contiguous-file": {
        const file = path.join(this.dir, `m${this.#count++}`);
        const size = await writeEntry(entry, file);
        if (name === "") throw new InvalidArgumentError(`invalid archive: a file member has an empty name`);
        this.#members.set(name, { kind: "file", file, size });
        return;
      }
      case "directory":
        await drain(entry);
        if (name !== "") this.#members.set(name, { kind: "dir" });
        return;
      case "symlink":
        await drain(entry);
        if (name === "") return;
        this.#members.set(name, { kind: "symlink", target: header.linkname ?? "" });
        return;
      case "link":
        await drain(entry);
        if (name === "") return;
        this.#members.set(name, { kind: "hardlink", target: cleanMemberName(header.linkname ?? "") });
        return;
      default:
        // devices, fifos, unknown types: nothing an image archive needs.
        await drain(entry);
    }
  }

  /**
   * The regular file a member name leads to, symlinks and hardlinks
   * followed inside the archive; undefined when there is none.
   * InvalidArgumentError for a link pointing outside the archive or a loop.
   */
  lookup(name: string): { file: string; size: number; name: string } | undefined {
    let current = cleanMemberName(name);
    for (let hops = 0; hops <= MAX_LINK_HOPS; hops++) {
      const resolved = this.#resolveParents(current);
      const m = this.#members.get(resolved);
      if (m === undefined || m.kind === "dir") return undefined;
      if (m.kind === "file") return { file: m.file, size: m.size, name: resolved };
      current = m.kind === "hardlink" ? m.target : this.#symlinkTarget(resolved, m.target);
    }
    throw new InvalidArgumentError(`invalid archive: too many levels of links resolving ${JSON.stringify(name)}`);
  }

  has(name: string): boolean {
    return this.lookup(name) !== undefined;
  }

  /** A member's bytes (small members only). */
  readBytes(name: string, maxBytes = MAX_JSON_MEMBER): Buffer {
    const m = this.lookup(name);
    if (m === undefined) throw new InvalidArgumentError(`invalid archive: ${name} is missing`);
    if (m.size > maxBytes) throw new InvalidArgumentError(`invalid archive: ${name} is ${m.size} bytes, more than the ${maxBytes} allowed`);
    return readFileSync(m.file);
  }

  /** A member parsed as JSON; InvalidArgumentError naming it when it is not. */
  readJson<T>(name: string): { value: T; bytes: Buffer } {
    const bytes = this.readBytes(name);
    try {
      return { value: JSON.parse(bytes.toString("utf8")) as T, bytes };
    } catch (err) {
      throw new InvalidArgumentError(`invalid archive: ${name} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
  }

  open(name: string): Readable {
    const m = this.lookup(name);
    if (m === undefined) throw new InvalidArgumentError(`invalid archive: ${name} is missing`);
    return createReadStream(m.file);
  }

  /** Symlink target of `name` as an archive path; InvalidArgumentError when it leaves the archive. */
  #symlinkTarget(name: string, target: string): string {
    if (target.startsWith("/")) throw outside(name, target);
    const joined = path.posix.normalize(path.posix.join(path.posix.dirname(name), target));
    if (joined === ".." || joined.startsWith("../") || joined.startsWith("/")) throw outside(name, target);
    return joined === "." ? "" : joined.replace(/\/+$/, "");
  }

  /** `name` with symlinked directories among its parents replaced by their targets. */
  #resolveParents(name: string): string {
    const parts = name.split("/");
    if (parts.length < 2) return name;
    for (let hops = 0; hops <= MAX_LINK_HOPS; hops++) {
      let changed = false;
      for (let i = 1; i < parts.length; i++) {
        const prefix = parts.slice(0, i).join("/");
        const m = this.#members.get(prefix);
        if (m?.kind === "symlink" || m?.kind === "hardlink") {
          const target = m.kind === "hardlink" ? m.target : this.#symlinkTarget(prefix, m.target);
          const rest = parts.slice(i);
          parts.splice(0, parts.length, ...(target === "" ? [] : target.split("/")), ...rest);
          changed = true;
          break;
        }
      }
      if (!changed) return parts.join("/");
    }
    throw new InvalidArgumentError(`invalid archive: too many levels of links resolving ${JSON.stringify(name)}`);
  }
}

/** An entry of tar-stream's extract: its header and a stream of its data. */
type Entry = AsyncIterable<unknown> & { header: Header };

function outside(name: string, target: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid archive: link ${JSON.stringify(name)} points outside the archive (${JSON.stringify(target)})`);
}

async function writeEntry(entry: Entry, file: string): Promise<number> {
  const fh = await open(file, "wx", 0o600);
  let bytes = 0;
  try {
    for await (const chunk of entry) {
      const buf = chunk as Buffer;
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off);
        off += bytesWritten;
      }
      bytes += buf.length;
    }
  } finally {
    await fh.close();
  }
  return bytes;
}

async function drain(entry: Entry): Promise<void> {
  for await (const _ of entry) {
    // links, directories and devices carry no data worth keeping
  }
}

/** The outer archive's failure as the user should read it. */
function outerError(err: unknown, compression: string, entries: number): Error {
  if (err instanceof InvalidArgumentError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/Unexpected end of data/.test(message)) {
    if (entries === 0) return new InvalidArgumentError(`invalid archive: not a tar archive (the input ends before a whole tar header)`, { cause: err });
    return new InvalidArgumentError(`invalid archive: unexpected end of data: the archive is truncated (after ${entries} members)`, { cause: err });
  }
  if (/Invalid tar header|unknown format|Invalid header|Header exceeds/.test(message)) {
    const what = entries === 0 ? "not a tar archive" : `corrupt tar header after ${entries} members`;
    return new InvalidArgumentError(`invalid archive: ${what}${compression === "none" ? "" : ` (after ${compression} decompression)`}: ${message}`, { cause: err });
  }
  if (compression !== "none" && /unexpected end of file|incorrect header check|invalid|corrupt/i.test(message)) {
    return new InvalidArgumentError(`invalid archive: corrupt or truncated ${compression} data: ${message}`, { cause: err });
  }
  return err instanceof Error ? err : new Error(message);
}
