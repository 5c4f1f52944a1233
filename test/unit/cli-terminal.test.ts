/**
 * The interactive plumbing of run/exec/attach: detach keys (moby/term's
 * ToBytes and escape proxy), the 8-byte stream framing (moby stdcopy) with
 * frames split anywhere, and hijacked connections over node:http — both
 * the 101 upgrade and the plain 200 of older daemons, with the half-close
 * on stdin's end.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import { PassThrough, Readable, Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { FrameSplitter, StreamFramingError, demuxTo, openHijack, stdFrame, type StdFrame } from "../../src/cli/hijack.ts";
import { DEFAULT_DETACH_KEYS, EscapeProxy, detachKeysOrDefault, parseDetachKeys, streamIO } from "../../src/cli/terminal.ts";

describe("detach keys", () => {
  test("moby/term ToBytes", () => {
    assert.deepEqual([...parseDetachKeys("ctrl-p,ctrl-q")], [16, 17]);
    assert.deepEqual([...parseDetachKeys("ctrl-a,x")], [1, 120]);
    assert.deepEqual([...parseDetachKeys("ctrl-@,ctrl-[,ctrl-\\,ctrl-_,DEL,a")], [0, 27, 28, 31, 127, 97]);
    assert.throws(() => parseDetachKeys("ctrl-1"), /^Error: Unknown character: 'ctrl-1'$/);
    assert.throws(() => parseDetachKeys("shift-a"), /Unknown character: 'shift-a'/);
    assert.deepEqual([...DEFAULT_DETACH_KEYS], [16, 17]);
    let warned = "";
    assert.deepEqual([...detachKeysOrDefault("bogus-key", (t) => (warned = t))], [16, 17]);
    assert.match(warned, /invalid detach escape keys, using default: Unknown character: 'bogus-key'/);
    assert.deepEqual([...detachKeysOrDefault(undefined)], [16, 17]);
  });

  const feedAll = (proxy: EscapeProxy, chunks: (string | number[])[]): { out: string; detached: boolean } => {
    let out = "";
    let detached = false;
    for (const c of chunks) {
      const r = proxy.feed(typeof c === "string" ? Buffer.from(c, "latin1") : Uint8Array.from(c));
      out += r.data.toString("latin1");
      if (r.detached) {
        detached = true;
        break;
      }
    }
    return { out, detached };
  };

  test("the escape proxy: plain input passes, the sequence detaches and is not sent", () => {
    assert.deepEqual(feedAll(new EscapeProxy(), ["hello\r"]), { out: "hello\r", detached: false });
    assert.deepEqual(feedAll(new EscapeProxy(), ["ls", [16, 17], "after"]), { out: "ls", detached: true });
    assert.deepEqual(feedAll(new EscapeProxy(), [[0x61, 16, 17, 0x62]]), { out: "a", detached: true }, "what follows the sequence is dropped");
  });

  test("a sequence split over reads is held back, then detaches", () => {
    const p = new EscapeProxy();
    let r = p.feed(Uint8Array.from([0x61, 16]));
    assert.equal(r.data.toString("latin1"), "a");
    assert.equal(p.pending, 1);
    r = p.feed(Uint8Array.from([17]));
    assert.equal(r.detached, true);
    assert.equal(r.data.length, 0);
    assert.equal(p.detached, true);
  });

  test("a partial sequence followed by something else is passed on whole", () => {
    assert.deepEqual(feedAll(new EscapeProxy(), [[16], "x"]), { out: "\x10x", detached: false });
    assert.deepEqual(feedAll(new EscapeProxy(parseDetachKeys("ctrl-a,b,c")), [[1, 0x62], "d"]), { out: "\x01bd", detached: false });
    // moby does not re-examine the byte that broke a partial match as a new start:
    // ctrl-p ctrl-p ctrl-q does not detach.
    assert.deepEqual(feedAll(new EscapeProxy(), [[16, 16, 17]]), { out: "\x10\x10\x11", detached: false });
    assert.deepEqual(feedAll(new EscapeProxy(), [[16], [16], [17]]), { out: "\x10\x10\x11", detached: false });
  });

  test("custom keys; empty keys disable detaching", () => {
    assert.deepEqual(feedAll(new EscapeProxy(parseDetachKeys("ctrl-a,x")), ["ab", [1], "c", [1], "x"]), { out: "ab\x01c", detached: true });
    assert.deepEqual(feedAll(new EscapeProxy(new Uint8Array(0)), [[16, 17]]), { out: "\x10\x11", detached: false });
  });
});

describe("multiplexed streams (stdcopy)", () => {
  const frames = [stdFrame(1, "out one\n"), stdFrame(2, "err\n"), stdFrame(0, "stdin-as-stdout\n"), stdFrame(1, Buffer.alloc(70_000, 0x41)), stdFrame(1, "")];
  const all = Buffer.concat(frames);

  async function collect(chunks: Buffer[]): Promise<StdFrame[]> {
    const splitter = new FrameSplitter();
    const out: StdFrame[] = [];
    for (const c of chunks) out.push(...splitter.push(c));
    return out;
  }

  const expected = (got: StdFrame[]): [number, string][] => got.map((f) => [f.stream, f.data.length > 100 ? `${f.data.length}` : f.data.toString()]);
  const want: [number, string][] = [
    [1, "out one\n"],
    [2, "err\n"],
    [1, "stdin-as-stdout\n"],
    [1, "70000"],
    [1, ""],
  ];

  test("whole frames", async () => {
    assert.deepEqual(expected(await collect([all])), want);
  });

  test("split at every byte", async () => {
    const chunks: Buffer[] = [];
    for (let i = 0; i < all.length; i += 1) chunks.push(all.subarray(i, i + 1));
    assert.deepEqual(expected(await collect(chunks.slice(0, 200).concat([all.subarray(200)]))), want);
    const small: Buffer[] = [];
    for (let i = 0; i < 100; i++) small.push(all.subarray(i, i + 1));
    small.push(all.subarray(100));
    assert.deepEqual(expected(await collect(small)), want);
  });

  test("split inside headers and payloads at odd places", async () => {
    const cuts = [3, 9, 17, 30, 31, 5000, 70_010];
    const chunks: Buffer[] = [];
    let prev = 0;
    for (const c of cuts) {
      chunks.push(all.subarray(prev, c));
      prev = c;
    }
    chunks.push(all.subarray(prev));
    assert.deepEqual(expected(await collect(chunks)), want);
  });

  test("a partial frame at the end is dropped; stream 3 and unknown streams fail", async () => {
    assert.deepEqual(expected(await collect([stdFrame(1, "ok"), stdFrame(1, "cut").subarray(0, 9)])), [[1, "ok"]]);
    await assert.rejects(collect([stdFrame(3, "boom")]), (err: unknown) => err instanceof StreamFramingError && err.message === "error from daemon in stream: boom");
    await assert.rejects(collect([stdFrame(7, "x")]), /unrecognized stream: 7/);
  });

  test("demuxTo writes each stream to its own sink, with backpressure", async () => {
    const sink = (): { w: Writable; text: () => string } => {
      const parts: Buffer[] = [];
      const w = new Writable({
        highWaterMark: 4,
        write(chunk: Buffer, _enc, cb) {
          parts.push(chunk);
          setImmediate(cb);
        },
      });
      return { w, text: () => Buffer.concat(parts).toString() };
    };
    const out = sink();
    const err = sink();
    await demuxTo(Readable.from([all.subarray(0, 5), all.subarray(5, 40), all.subarray(40)]), out.w, err.w);
    assert.equal(err.text(), "err\n");
    assert.equal(out.text().length, "out one\n".length + "stdin-as-stdout\n".length + 70_000);
    // stderr not attached: its frames are dropped
    const only = sink();
    await demuxTo(Readable.from([all]), only.w, undefined);
    assert.ok(only.text().startsWith("out one\nstdin-as-stdout\n"));
  });

  test("demuxTo fails with a stream-3 message and with the source's error", async () => {
    const out = new PassThrough();
    out.resume();
    await assert.rejects(demuxTo(Readable.from([stdFrame(1, "ok\n"), stdFrame(3, "boom")]), out, out), /error from daemon in stream: boom/);
    const broken = new PassThrough();
    const pending = demuxTo(broken, out, out);
    broken.write(stdFrame(1, "partial"));
    broken.destroy(new Error("connection reset"));
    await assert.rejects(pending, /connection reset/);
  });
});

describe("hijacked connections", () => {
  let dir: string;
  let socket: string;
  let legacySocket: string;
  let server: http.Server;
  let legacy: http.Server;
  const seen: { url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "hako-hijack-"));
    socket = path.join(dir, "s.sock");
    legacySocket = path.join(dir, "legacy.sock");
    // No 'upgrade' listener: node answers upgrade requests as plain ones, as an old daemon does.
    legacy = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        seen.push({ url: req.url ?? "", headers: req.headers, body });
        if (req.url === "/missing") {
          res.writeHead(404, { "Content-Type": "application/json" });
          res.end('{"message":"No such container: missing"}');
          return;
        }
        // an old daemon: 200, then raw bytes both ways until it closes
        res.on("error", () => {});
        res.writeHead(200, { "Content-Type": "application/vnd.docker.raw-stream" });
        res.flushHeaders();
        res.write("legacy hello\n");
        setTimeout(() => res.end("legacy bye\n"), 50);
      });
    });
    server = http.createServer((_req, res) => {
      res.writeHead(500);
      res.end();
    });
    server.on("upgrade", (req, sock: Socket, head: Buffer) => {
      seen.push({ url: req.url ?? "", headers: req.headers, body: head.toString() });
      sock.on("error", () => {});
      // the status line and the first frame in one write: the client gets them as head bytes
      sock.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n${stdFrame(1, "early\n").toString("latin1")}`, "latin1");
      let input = "";
      sock.on("data", (d: Buffer) => (input += d.toString()));
      sock.on("end", () => {
        // stdin ended (the client half-closed): answer with what came, then close
        if (sock.writable) {
          sock.write(stdFrame(1, `got: ${input}`));
          sock.write(stdFrame(2, "done\n"));
        }
        sock.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    await new Promise<void>((resolve) => legacy.listen(legacySocket, resolve));
  });
  after(async () => {
    for (const s of [server, legacy]) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test("101: upgrade headers sent, bytes read with the headers kept, half-close keeps the output coming", async () => {
    const outcome = await openHijack({ socketPath: socket, method: "POST", path: "/containers/x/attach?stream=1", headers: { "Content-Type": "text/plain" } });
    assert.ok(outcome.conn);
    const conn = outcome.conn;
    assert.equal(conn.upgraded, true);
    assert.equal(conn.contentType, "application/vnd.docker.multiplexed-stream");
    const last = seen[seen.length - 1]!;
    assert.equal(last.headers.connection, "Upgrade");
    assert.equal(last.headers.upgrade, "tcp");
    const stdin = new PassThrough();
    const out = new PassThrough();
    const err = new PassThrough();
    let outText = "";
    let errText = "";
    out.on("data", (d: Buffer) => (outText += d.toString()));
    err.on("data", (d: Buffer) => (errText += d.toString()));
    const session = streamIO({ conn, tty: false, stdin, stdout: out, stderr: err });
    stdin.write("typed input");
    stdin.end();
    const result = await session;
    assert.equal(result.detached, false);
    assert.equal(outText, "early\ngot: typed input");
    assert.equal(errText, "done\n");
  });

  test("a body (exec start) goes with the upgrade request", async () => {
    const body = Buffer.from('{"Detach":false,"Tty":false}');
    const outcome = await openHijack({ socketPath: socket, method: "POST", path: "/exec/e/start", headers: { "Content-Type": "application/json" } }, body);
    assert.ok(outcome.conn);
    assert.equal(seen[seen.length - 1]!.body, '{"Detach":false,"Tty":false}');
    outcome.conn.close();
  });

  test("200 from an older daemon: the body is the raw stream", async () => {
    const outcome = await openHijack({ socketPath: legacySocket, method: "POST", path: "/containers/old/attach" });
    assert.ok(outcome.conn);
    assert.equal(outcome.conn.upgraded, false);
    let text = "";
    for await (const chunk of outcome.conn.reader) text += (chunk as Buffer).toString();
    assert.equal(text, "legacy hello\nlegacy bye\n");
    outcome.conn.close();
  });

  test("an error status comes back as the response to read", async () => {
    const outcome = await openHijack({ socketPath: legacySocket, method: "POST", path: "/missing" });
    assert.ok(outcome.response);
    assert.equal(outcome.response.statusCode, 404);
    let text = "";
    for await (const chunk of outcome.response) text += (chunk as Buffer).toString();
    assert.equal(text, '{"message":"No such container: missing"}');
  });

  test("a TTY session: raw output, and the detach keys end it without sending them", async () => {
    const outcome = await openHijack({ socketPath: socket, method: "POST", path: "/containers/t/attach" });
    const conn = outcome.conn!;
    const written: Buffer[] = [];
    const origWrite = conn.write.bind(conn);
    conn.write = (data) => {
      written.push(Buffer.from(data));
      return origWrite(data);
    };
    const stdin = new PassThrough();
    const out = new PassThrough();
    out.resume();
    const session = streamIO({ conn, tty: true, stdin, stdout: out, detachKeys: "ctrl-a,x" });
    stdin.write("ls\r");
    stdin.write(Buffer.from([1]));
    stdin.write("x");
    const result = await session;
    assert.equal(result.detached, true);
    assert.equal(Buffer.concat(written).toString(), "ls\r");
  });
});
