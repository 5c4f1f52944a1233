/**
 * hako build / hako image build: docker/cli's legacy builder client
 * (cli/command/image/build.go): the context directory as a tar (owned by
 * root, .dockerignore applied, the Dockerfile and .dockerignore always
 * sent), `-` for a tar or a Dockerfile on stdin, POST /build, and the
 * stream printed as jsonmessages. A RUN's non-zero exit is the exit status.
 */
import { randomBytes } from "node:crypto";
import { constants as fsConstants, createReadStream, existsSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { PassThrough, Readable, Transform } from "node:stream";
import tarStream, { type Header } from "tar-stream";
import { IgnoreMatcher, readIgnoreFile } from "../../../build/dockerignore.ts";
import { readJsonLines, type JsonMessage } from "../../client.ts";
import { FlagError } from "../../flags.ts";
import { displayJsonMessages } from "../../progress.ts";
import type { CliCommand } from "../command.ts";
import { humanSizeWithPrecision } from "./units.ts";

/** A tar of `dir` with what `ignore` names left out (but never `keep`). */
function contextTar(dir: string, ignore: IgnoreMatcher, keep: Set<string>, extra?: { name: string; data: Buffer }): Readable {
  const pack = tarStream.pack();
  const out = new PassThrough();
  pack.on("error", (err) => out.destroy(err));
  pack.pipe(out);
  const add = (header: Partial<Header> & { name: string }, body?: Readable | Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (Buffer.isBuffer(body)) pack.entry(header, body, cb);
      else if (body) {
        const sink = pack.entry(header, cb);
        body.on("error", reject);
        body.pipe(sink);
      } else pack.entry(header, cb).end(undefined);
    });
  const walk = async (rel: string): Promise<void> => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const childRel = rel ? `${rel}/${name}` : name;
      const abs = path.join(dir, childRel);
      const st = lstatSync(abs);
      const ignored = ignore.ignores(childRel) && !keep.has(childRel);
      if (ignored && !(st.isDirectory() && ignore.hasExceptions)) continue;
      const base = { uid: 0, gid: 0, mode: st.mode & 0o7777, mtime: st.mtime };
      if (st.isDirectory()) {
        if (!ignored) await add({ ...base, name: `${childRel}/`, type: "directory" });
        await walk(childRel);
      } else if (st.isSymbolicLink()) await add({ ...base, name: childRel, type: "symlink", linkname: readlinkSync(abs) });
      else if (st.isFile()) {
        const fd = openSync(abs, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
        await add({ ...base, name: childRel, type: "file", size: st.size }, createReadStream("", { fd }));
      }
    }
  };
  void (async () => {
    try {
      await walk("");
      if (extra) await add({ name: extra.name, type: "file", mode: 0o600, size: extra.data.length, uid: 0, gid: 0, mtime: new Date() }, extra.data);
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  return out;
}

/** stdin as the context: a tar as it is, anything else a Dockerfile alone. */
async function stdinContext(): Promise<Readable> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const data = Buffer.concat(chunks);
  const compressed = data[0] === 0x1f && data[1] === 0x8b;
  if (compressed || (data.length >= 262 && data.subarray(257, 262).toString("latin1") === "ustar")) return Readable.from([data]);
  const pack = tarStream.pack();
  pack.entry({ name: "Dockerfile", size: data.length, mode: 0o600, mtime: new Date() }, data);
  pack.finalize();
  return Readable.from(pack);
}

/** --build-arg KEY=VALUE, or KEY alone: its value from the environment (null when unset). */
function buildArgs(list: string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const a of list) {
    const eq = a.indexOf("=");
    if (eq >= 0) out[a.slice(0, eq)] = a.slice(eq + 1);
    else out[a] = process.env[a] ?? null;
  }
  return out;
}

export const build: CliCommand = {
  name: "build",
  usage: "[OPTIONS] PATH | URL | -",
  summary: "Build an image from a Dockerfile",
  args: [1, 1],
  flags: [
    { name: "add-host", type: "list", value: "list", help: "Add a custom host-to-IP mapping (host:ip)" },
    { name: "build-arg", type: "list", value: "list", help: "Set build-time variables" },
    { name: "cache-from", type: "list", value: "strings", help: "Images to consider as cache sources" },
    { name: "file", short: "f", type: "string", value: "string", help: "Name of the Dockerfile (Default is 'PATH/Dockerfile')" },
    { name: "force-rm", type: "bool", help: "Always remove intermediate containers" },
    { name: "iidfile", type: "string", value: "string", help: "Write the image ID to the file" },
    { name: "label", type: "list", value: "list", help: "Set metadata for an image" },
    { name: "network", type: "string", value: "string", default: "default", help: "Set the networking mode for the RUN instructions during build" },
    { name: "no-cache", type: "bool", help: "Do not use cache when building the image" },
    { name: "platform", type: "string", value: "string", help: "Set platform if server is multi-platform capable" },
    { name: "pull", type: "bool", help: "Always attempt to pull a newer version of the image" },
    { name: "quiet", short: "q", type: "bool", help: "Suppress the build output and print image ID on success" },
    { name: "rm", type: "bool", default: true, help: "Remove intermediate containers after a successful build" },
    { name: "tag", short: "t", type: "list", value: "list", help: "Name and optionally a tag in the 'name:tag' format" },
    { name: "target", type: "string", value: "string", help: "Set the target build stage to build." },
  ],
  async run(ctx, flags, args) {
    const where = args[0]!;
    if (/^(https?|git):\/\/|^git@|^github\.com\//.test(where)) throw new FlagError("remote build contexts are not supported by hako");
    const quiet = flags.quiet as boolean;
    const file = flags.file as string | undefined;
    let body: Readable;
    let dockerfile = file ?? "";
    if (where === "-") {
      if (file) throw new FlagError("cannot use -f with a context from stdin");
      body = await stdinContext();
    } else {
      if (!existsSync(where) || !statSync(where).isDirectory()) throw new FlagError(`unable to prepare context: path "${where}" not found`);
      const dir = path.resolve(where);
      let extra: { name: string; data: Buffer } | undefined;
      if (file) {
        const abs = path.resolve(file === "-" ? "" : file);
        const rel = path.relative(dir, abs);
        if (file === "-") {
          const chunks: Buffer[] = [];
          for await (const c of process.stdin) chunks.push(c as Buffer);
          extra = { name: `.dockerfile.${randomBytes(10).toString("hex")}`, data: Buffer.concat(chunks) };
          dockerfile = extra.name;
        } else if (rel.startsWith("..") || path.isAbsolute(rel)) {
          // A Dockerfile outside the context travels in it under a name of its own.
          extra = { name: `.dockerfile.${randomBytes(10).toString("hex")}`, data: readFileSync(abs) };
          dockerfile = extra.name;
        } else dockerfile = rel.split(path.sep).join("/");
      }
      let lines: string[] = [];
      try {
        lines = readIgnoreFile(readFileSync(path.join(dir, ".dockerignore"), "utf8"));
      } catch {
        // no .dockerignore
      }
      body = contextTar(dir, new IgnoreMatcher(lines), new Set([dockerfile || "Dockerfile", ".dockerignore"]), extra);
    }
    let sent = 0;
    // Counted as it goes out; docker prints the size once the context is sent.
    const counted = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        sent += chunk.length;
        cb(null, chunk);
      },
      flush(cb) {
        if (!quiet) ctx.out(`Sending build context to Docker daemon  ${humanSizeWithPrecision(sent, 4)}\n`);
        cb();
      },
    });
    body.on("error", (err) => counted.destroy(err));
    body.pipe(counted);

    const query: Record<string, string | string[] | undefined> = {
      t: flags.tag as string[],
      dockerfile: dockerfile || undefined,
      buildargs: JSON.stringify(buildArgs(flags["build-arg"] as string[])),
      labels: JSON.stringify(Object.fromEntries((flags.label as string[]).map((l) => (l.includes("=") ? [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] : [l, ""])))),
      nocache: flags["no-cache"] ? "1" : undefined,
      rm: flags.rm ? "1" : "0",
      forcerm: flags["force-rm"] ? "1" : undefined,
      q: quiet ? "1" : undefined,
      target: (flags.target as string | undefined) || undefined,
      pull: flags.pull ? "1" : undefined,
      networkmode: flags.network as string,
      platform: (flags.platform as string | undefined) || undefined,
      extrahosts: flags["add-host"] as string[],
      cachefrom: JSON.stringify(flags["cache-from"] as string[]),
      version: "1",
    };
    const res = await ctx.client().request("POST", "/build", { query, body: counted, headers: { "Content-Type": "application/x-tar" } });

    let imageId = "";
    let failure: { message: string; code: number } | undefined;
    const held: string[] = [];
    async function* messages(): AsyncGenerator<JsonMessage> {
      for await (const m of readJsonLines<JsonMessage>(res)) {
        if (m.errorDetail || m.error) {
          failure = { message: m.errorDetail?.message ?? m.error ?? "", code: m.errorDetail?.code || 1 };
          return;
        }
        if (m.aux && typeof (m.aux as { ID?: string }).ID === "string") imageId = (m.aux as { ID: string }).ID;
        if (quiet) {
          if (m.stream) held.push(m.stream);
          continue;
        }
        yield m;
      }
    }
    await displayJsonMessages(messages(), { out: ctx.stdout });
    if (failure) {
      if (quiet) ctx.err(held.join(""));
      ctx.err(`${failure.message}\n`);
      return failure.code;
    }
    if (quiet) {
      const id = held.join("").trim() || imageId;
      ctx.out(`${id}\n`);
      imageId ||= id;
    }
    const iidfile = flags.iidfile as string | undefined;
    if (iidfile) writeFileSync(iidfile, imageId);
    return 0;
  },
};


