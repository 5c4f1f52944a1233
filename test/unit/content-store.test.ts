/**
 * ContentStore in a temp dir, and the digest helpers it is built on:
 * verified ingest from buffers and streams, nothing visible after a
 * mismatch or a stream error, existing blobs, concurrent ingests of one
 * blob, start-up cleanup, and flat memory for a 300 MB stream.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { HakoError, InvalidArgumentError, NotFoundError } from "../../src/common/errors.ts";
import { ContentStore } from "../../src/image/content-store.ts";
import { tempDirs } from "../helpers/temp.ts";
import {
  DigestingStream,
  digestAlgorithm,
  digestHex,
  parseDigest,
  sha256Digest,
  verifyingStream,
} from "../../src/image/digest.ts";

const tempDir = tempDirs();

function newStore(): ContentStore {
  const dir = tempDir("hako-content-");
  return new ContentStore(join(dir, "content"));
}

function ingestDirs(store: ContentStore): string[] {
  return readdirSync(join(store.root, "ingest"));
}

/** A stream of `chunks` buffers, one per tick, like a network body. */
function slowStream(chunks: Buffer[]): Readable {
  return Readable.from(
    (async function* () {
      for (const c of chunks) {
        await new Promise((r) => setImmediate(r));
        yield c;
      }
    })(),
  );
}

function sink(): Writable {
  return new Writable({ write: (_c, _e, cb) => cb() });
}

const HELLO = Buffer.from("hello, hako\n");
const HELLO_DIGEST = sha256Digest(HELLO);

describe("parseDigest", () => {
  it("accepts sha256 and sha512 with lowercase hex of the right length", () => {
    const d256 = `sha256:${"a".repeat(64)}`;
    const d512 = `sha512:${"b".repeat(128)}`;
    assert.equal(parseDigest(d256), d256);
    assert.equal(parseDigest(d512), d512);
    assert.equal(digestAlgorithm(d512), "sha512");
    assert.equal(digestHex(d256), "a".repeat(64));
  });

  it("rejects everything else with InvalidArgumentError", () => {
    for (const [s, why] of [
      ["", "invalid checksum digest format"],
      ["sha256", "invalid checksum digest format"],
      ["sha256:", "invalid checksum digest format"],
      [":abc", "invalid checksum digest format"],
      [`sha256:${"a".repeat(63)}`, "invalid checksum digest length"],
      [`sha256:${"A".repeat(64)}`, "invalid checksum digest format"],
      [`sha256:${"g".repeat(64)}`, "invalid checksum digest format"],
      [`sha512:${"a".repeat(64)}`, "invalid checksum digest length"],
      [`md5:${"a".repeat(32)}`, "unsupported digest algorithm"],
      [`sha384:${"a".repeat(96)}`, "unsupported digest algorithm"],
      [`sha256:../../${"a".repeat(58)}`, "invalid checksum digest format"],
    ] as const) {
      assert.throws(() => parseDigest(s), (err: unknown) => err instanceof InvalidArgumentError && err.message.endsWith(why), s);
    }
  });
});

describe("DigestingStream / verifyingStream", () => {
  it("passes bytes through and reports digest and size at the end", async () => {
    const ds = new DigestingStream();
    assert.throws(() => ds.digest());
    const out: Buffer[] = [];
    await pipeline(
      Readable.from([Buffer.from("hello, "), Buffer.from("hako\n")]),
      ds,
      new Writable({ write: (c, _e, cb) => (out.push(c), cb()) }),
    );
    assert.equal(Buffer.concat(out).toString(), "hello, hako\n");
    assert.equal(ds.digest(), HELLO_DIGEST);
    assert.equal(ds.bytes, HELLO.length);
  });

  it("verifyingStream accepts the expected bytes", async () => {
    const vs = verifyingStream({ digest: HELLO_DIGEST, size: HELLO.length });
    await pipeline(Readable.from([HELLO]), vs, sink());
    assert.equal(vs.digest(), HELLO_DIGEST);
  });

  it("fails at the end on a digest mismatch, naming both digests", async () => {
    const wrong = sha256Digest("something else");
    await assert.rejects(
      pipeline(Readable.from([HELLO]), verifyingStream({ digest: wrong }), sink()),
      (err: unknown) =>
        err instanceof InvalidArgumentError && err.message === `digest mismatch: expected ${wrong}, got ${HELLO_DIGEST}`,
    );
  });

  it("fails as soon as the size is exceeded", async () => {
    let pulled = 0;
    const src = Readable.from(
      (function* () {
        for (let i = 0; i < 1000; i++) {
          pulled++;
          yield Buffer.alloc(1024);
        }
      })(),
    );
    await assert.rejects(
      pipeline(src, verifyingStream({ digest: HELLO_DIGEST, size: 2048 }), sink()),
      /size mismatch for sha256:[0-9a-f]{64}: expected 2048 bytes, got more than 2048 bytes/,
    );
    assert.ok(pulled < 100, `read ${pulled} chunks after the limit`);
  });

  it("fails on a short stream", async () => {
    await assert.rejects(
      pipeline(Readable.from([HELLO]), verifyingStream({ digest: HELLO_DIGEST, size: HELLO.length + 1 }), sink()),
      /expected 13 bytes, got 12 bytes/,
    );
  });
});

describe("ContentStore", () => {
  it("ingests a buffer, verifies it and makes it readable", async () => {
    const store = newStore();
    const info = await store.ingest({ digest: HELLO_DIGEST, size: HELLO.length }, HELLO);
    assert.deepEqual(info, { digest: HELLO_DIGEST, size: HELLO.length });
    assert.equal(store.path(HELLO_DIGEST), join(store.root, "blobs", "sha256", digestHex(HELLO_DIGEST)));
    assert.deepEqual(readFileSync(store.path(HELLO_DIGEST)), HELLO);
    assert.equal(statSync(store.path(HELLO_DIGEST)).mode & 0o777, 0o444);
    assert.equal(store.has(HELLO_DIGEST), true);
    assert.deepEqual(store.info(HELLO_DIGEST), info);
    assert.deepEqual(store.list(), [HELLO_DIGEST]);
    const chunks: Buffer[] = [];
    for await (const c of store.read(HELLO_DIGEST)) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), HELLO);
    assert.deepEqual(ingestDirs(store), []);
  });

  it("computes the digest when none is expected, and streams from a Readable", async () => {
    const store = newStore();
    const parts = [Buffer.from("a".repeat(100_000)), Buffer.from("b".repeat(50_000)), Buffer.from("c")];
    const whole = Buffer.concat(parts);
    const seen: number[] = [];
    const info = await store.ingest({}, slowStream(parts), { ref: "layer/1", onProgress: (n) => seen.push(n) });
    assert.deepEqual(info, { digest: sha256Digest(whole), size: whole.length });
    assert.deepEqual(readFileSync(store.path(info.digest)), whole);
    assert.equal(seen.at(-1), whole.length);
    assert.deepEqual(ingestDirs(store), []);
  });

  it("stores sha512 blobs under blobs/sha512", async () => {
    const store = newStore();
    const d = `sha512:${createHash("sha512").update(HELLO).digest("hex")}`;
    await store.ingest({ digest: d }, HELLO);
    assert.deepEqual(readFileSync(join(store.root, "blobs", "sha512", digestHex(d))), HELLO);
    assert.deepEqual(store.list(), [d]);
  });

  it("leaves nothing behind on a digest mismatch", async () => {
    const store = newStore();
    const wrong = sha256Digest("not these bytes");
    await assert.rejects(store.ingest({ digest: wrong }, slowStream([HELLO])), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError && HakoError.is(err));
      assert.equal(err.message, `digest mismatch: expected ${wrong}, got ${HELLO_DIGEST}`);
      return true;
    });
    assert.deepEqual(store.list(), []);
    assert.equal(store.has(wrong), false);
    assert.equal(store.has(HELLO_DIGEST), false);
    assert.deepEqual(ingestDirs(store), []);
  });

  it("rejects a size mismatch either way, stopping a long stream early", async () => {
    const store = newStore();
    await assert.rejects(store.ingest({ digest: HELLO_DIGEST, size: HELLO.length + 5 }, HELLO), /size mismatch.*expected 17 bytes, got 12 bytes/);
    await assert.rejects(store.ingest({ size: 3 }, HELLO), /expected 3 bytes, got more than 3 bytes/);
    let pulled = 0;
    const endless = new Readable({
      read() {
        pulled++;
        this.push(Buffer.alloc(64 * 1024));
      },
    });
    await assert.rejects(store.ingest({ digest: HELLO_DIGEST, size: 100_000 }, endless), /got more than 100000 bytes/);
    assert.ok(pulled < 10);
    assert.equal(endless.destroyed, true);
    assert.deepEqual(store.list(), []);
    assert.deepEqual(ingestDirs(store), []);
  });

  it("leaves nothing behind when the stream fails", async () => {
    const store = newStore();
    let n = 0;
    const failing = new Readable({
      read() {
        if (n++ < 3) this.push(Buffer.alloc(1000, 1));
        else this.destroy(new Error("connection reset"));
      },
    });
    await assert.rejects(store.ingest({}, failing), /connection reset/);
    assert.deepEqual(store.list(), []);
    assert.deepEqual(ingestDirs(store), []);
  });

  it("does not rewrite an existing blob and drains the input", async () => {
    const store = newStore();
    await store.ingest({ digest: HELLO_DIGEST }, HELLO);
    const before = statSync(store.path(HELLO_DIGEST));
    const input = slowStream([HELLO]);
    const info = await store.ingest({ digest: HELLO_DIGEST, size: HELLO.length }, input);
    assert.deepEqual(info, { digest: HELLO_DIGEST, size: HELLO.length });
    assert.equal(input.readableEnded, true);
    const now = statSync(store.path(HELLO_DIGEST));
    assert.equal(now.ino, before.ino);
    assert.equal(now.mtimeMs, before.mtimeMs);
    // A stored blob cannot have another size.
    await assert.rejects(store.ingest({ digest: HELLO_DIGEST, size: 99 }, HELLO), /size mismatch/);
  });

  it("survives concurrent ingests of the same blob", async () => {
    const store = newStore();
    const parts = Array.from({ length: 20 }, (_, i) => Buffer.alloc(10_000, i));
    const whole = Buffer.concat(parts);
    const digest = sha256Digest(whole);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.ingest({ digest, size: whole.length }, slowStream(parts), { ref: `pull-${i}` })),
    );
    for (const r of results) assert.deepEqual(r, { digest, size: whole.length });
    assert.deepEqual(readFileSync(store.path(digest)), whole);
    assert.deepEqual(store.list(), [digest]);
    assert.deepEqual(ingestDirs(store), []);
  });

  it("shows nothing until the blob is complete; cleanIngest removes leftovers but not live ingests", async () => {
    const store = newStore();
    // A pull killed mid-blob leaves only its ingest directory.
    mkdirSync(join(store.root, "ingest", "killed-pull"));
    writeFileSync(join(store.root, "ingest", "killed-pull", "data"), "partial");

    const input = new PassThrough();
    const pending = store.ingest({ digest: HELLO_DIGEST }, input, { ref: "live" });
    input.write(HELLO.subarray(0, 5));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(store.has(HELLO_DIGEST), false);
    assert.equal(ingestDirs(store).length, 2);

    assert.equal(store.cleanIngest(), 1);
    assert.deepEqual(ingestDirs(store).filter((d) => d.startsWith("killed")), []);
    input.end(HELLO.subarray(5));
    await pending;
    assert.equal(store.has(HELLO_DIGEST), true);
    assert.deepEqual(ingestDirs(store), []);

    // After a restart (a new store on the same root) every leftover goes.
    mkdirSync(join(store.root, "ingest", "another"));
    const restarted = new ContentStore(store.root);
    assert.equal(restarted.cleanIngest({ olderThanMs: 60_000 }), 0);
    assert.equal(restarted.cleanIngest(), 1);
    assert.deepEqual(restarted.list(), [HELLO_DIGEST]);
  });

  it("readJson parses small blobs and refuses non-JSON and oversized ones", async () => {
    const store = newStore();
    const manifest = Buffer.from('{"schemaVersion":2,"layers":[]}');
    const { digest } = await store.ingest({}, manifest);
    assert.deepEqual(store.readJson(digest), { schemaVersion: 2, layers: [] });
    assert.deepEqual(store.readBytes(digest), manifest);
    const { digest: notJson } = await store.ingest({}, Buffer.from("not json"));
    assert.throws(() => store.readJson(notJson), InvalidArgumentError);
    assert.throws(() => store.readJson(digest, 10), /more than the 10 allowed/);
  });

  it("read, readJson and delete of a missing blob", async () => {
    const store = newStore();
    const missing = sha256Digest("missing");
    assert.throws(() => store.read(missing), (err: unknown) => err instanceof NotFoundError);
    assert.throws(() => store.readJson(missing), NotFoundError);
    assert.equal(store.info(missing), undefined);
    assert.equal(store.delete(missing), false);
    await store.ingest({}, HELLO);
    assert.equal(store.delete(HELLO_DIGEST), true);
    assert.equal(store.has(HELLO_DIGEST), false);
    assert.deepEqual(store.list(), []);
  });

  it("rejects malformed digests before touching the disk", async () => {
    const store = newStore();
    assert.throws(() => store.path("sha256:../../etc/passwd"), InvalidArgumentError);
    assert.throws(() => store.has("busybox"), InvalidArgumentError);
    await assert.rejects(store.ingest({ digest: "sha256:abc" }, HELLO), InvalidArgumentError);
    await assert.rejects(store.ingest({ size: -1 }, HELLO), InvalidArgumentError);
  });

  it("keeps memory flat for a 300 MB stream", async () => {
    const store = newStore();
    const CHUNK = 256 * 1024;
    const TOTAL = 300 * 1024 * 1024;
    const chunkAt = (i: number) => Buffer.alloc(CHUNK, (i * 31 + 7) & 0xff);
    const expected = createHash("sha256");
    for (let i = 0; i * CHUNK < TOTAL; i++) expected.update(chunkAt(i));
    const digest = `sha256:${expected.digest("hex")}`;

    let i = 0;
    const source = new Readable({
      read() {
        this.push(i * CHUNK < TOTAL ? chunkAt(i++) : null);
      },
    });
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    try {
      const info = await store.ingest({ digest, size: TOTAL }, source);
      assert.deepEqual(info, { digest, size: TOTAL });
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    const growth = (peak - base) / (1024 * 1024);
    assert.ok(growth < 60, `rss grew by ${growth.toFixed(1)} MB`);
    assert.equal(statSync(store.path(digest)).size, TOTAL);
    store.delete(digest);
  });
});
