/**
 * Hijacked connections to the Engine API (attach, exec start): a POST with
 * `Connection: Upgrade` and `Upgrade: tcp`, answered with
 * `101 UPGRADED` (or, by older daemons, a plain `200 OK`) after which the
 * connection carries raw bytes both ways — stdin to the daemon, the
 * container's output back (docker/cli's hijack.go, moby client/hijack.go).
 *
 * Without a TTY the output is multiplexed (moby api/pkg/stdcopy): frames of
 * an 8-byte header `[stream, 0, 0, 0, size as big-endian uint32]` and `size`
 * bytes of payload; stream 0 (stdin) and 1 go to stdout, 2 to stderr, 3 is
 * an error of the daemon. The same framing is used by `logs`.
 */
import http, { type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Readable, Writable } from "node:stream";

/** A connection taken over from HTTP: raw bytes both ways. */
export interface HijackedConnection {
  /** What the daemon sends (bytes read along with the headers come first). */
  readonly reader: Readable;
  /** The socket underneath (writes go here). */
  readonly socket: Socket;
  /** The response's Content-Type: application/vnd.docker.raw-stream or .multiplexed-stream (API >= 1.42). */
  readonly contentType: string | undefined;
  /** True for 101 Switching Protocols, false for an old daemon's 200. */
  readonly upgraded: boolean;
  /** Sends bytes to the daemon; false when the socket wants a 'drain'. Errors of a closed socket are swallowed. */
  write(data: Uint8Array): boolean;
  /** Half-closes the connection (docker's CloseWrite): the daemon sees stdin end, output keeps coming. */
  closeWrite(): void;
  /** Closes both directions. */
  close(): void;
}

/** The outcome of a hijack request: a connection, or the daemon's error response (status >= 400). */
export type HijackOutcome = { conn: HijackedConnection; response?: undefined } | { conn?: undefined; response: IncomingMessage };

/**
 * Sends `options` (node:http request options: socketPath or host/port,
 * method, path, headers) with the upgrade headers and resolves once the
 * daemon has answered: with the hijacked connection on 101 or 2xx, with
 * the response itself on an error status (for the caller to read).
 */
export function openHijack(options: http.RequestOptions, body?: Buffer): Promise<HijackOutcome> {
  const headers: Record<string, string> = { ...(options.headers as Record<string, string> | undefined), Connection: "Upgrade", Upgrade: "tcp" };
  if (body !== undefined) headers["Content-Length"] = String(body.length);
  return new Promise((resolve, reject) => {
    // A given createConnection is the connection itself; otherwise one of its own (no pooling agent).
    const req = http.request({ ...(options.createConnection ? {} : { agent: false }), ...options, headers });
    let settled = false;
    const settle = (outcome: HijackOutcome): void => {
      settled = true;
      resolve(outcome);
    };
    req.on("upgrade", (res: IncomingMessage, socket: Socket, head: Buffer) => {
      socket.setNoDelay?.(true);
      if (head.length > 0) socket.unshift(head);
      settle({ conn: socketConnection(socket, contentTypeOf(res), true) });
    });
    req.on("response", (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (status >= 400 || status < 200) {
        settle({ response: res });
        return;
      }
      // An old daemon: 200 OK, then raw bytes. The body parser hands them to
      // us as the response body; writes go straight to the socket.
      const socket = res.socket as Socket;
      socket.setNoDelay?.(true);
      settle({ conn: responseConnection(res, socket, contentTypeOf(res)) });
    });
    req.on("error", (err) => {
      if (!settled) reject(err);
    });
    req.end(body);
  });
}

function contentTypeOf(res: IncomingMessage): string | undefined {
  const v = res.headers["content-type"];
  return Array.isArray(v) ? v[0] : v;
}

function writer(socket: Socket): Pick<HijackedConnection, "write" | "closeWrite" | "close"> {
  // A daemon that went away makes writes fail with EPIPE/ECONNRESET: the
  // output side reports the end, so write errors are not errors here.
  socket.on("error", () => {});
  return {
    write(data) {
      if (socket.destroyed || !socket.writable) return true;
      return socket.write(data);
    },
    closeWrite() {
      if (!socket.destroyed && socket.writable) socket.end();
    },
    close() {
      socket.destroy();
    },
  };
}

/** A connection handed over after the answer's headers (by openHijack, or by the client's own HTTP/1.1 exchange). */
export function socketConnection(socket: Socket, contentType: string | undefined, upgraded: boolean): HijackedConnection {
  return { reader: socket, socket, contentType, upgraded, ...writer(socket) };
}

function responseConnection(res: IncomingMessage, socket: Socket, contentType: string | undefined): HijackedConnection {
  const w = writer(socket);
  return { reader: res, socket, contentType, upgraded: false, ...w, close: () => (res.destroy(), w.close()) };
}

/** stdcopy's stream numbers. */
export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const SYSTEMERR = 3;

/** One frame of a multiplexed stream: its stream (1 stdout, 2 stderr; stdin's 0 is reported as 1) and payload. */
export interface StdFrame {
  stream: 1 | 2;
  data: Buffer;
}

const HEADER_LEN = 8;

/** Builds one multiplexed frame (tests, fake daemons). */
export function stdFrame(stream: number, data: string | Uint8Array): Buffer {
  const payload = typeof data === "string" ? Buffer.from(data) : Buffer.from(data);
  const header = Buffer.alloc(HEADER_LEN);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** A stream error the daemon sent on stream 3, or a frame of an unknown stream. */
export class StreamFramingError extends Error {}

/**
 * Splits a multiplexed byte stream into frames, whatever the chunking:
 * headers and payloads may arrive split across chunks. A frame of stream 3
 * throws the daemon's message; bytes of a frame not yet whole wait for the
 * next chunk (and are dropped at the end, as stdcopy drops them).
 */
export class FrameSplitter {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** The frames `chunk` completes, in order. */
  push(chunk: Buffer): StdFrame[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: StdFrame[] = [];
    while (this.buffered >= HEADER_LEN) {
      const header = this.peekHeader();
      const stream = header[0]!;
      const size = header.readUInt32BE(4);
      if (stream > SYSTEMERR) throw new StreamFramingError(`unrecognized stream: ${stream}`);
      if (this.buffered < HEADER_LEN + size) break;
      const frame = this.takeBytes(HEADER_LEN + size);
      const payload = Buffer.from(frame.subarray(HEADER_LEN));
      if (stream === SYSTEMERR) throw new StreamFramingError(`error from daemon in stream: ${payload.toString()}`);
      frames.push({ stream: stream === STDERR ? 2 : 1, data: payload });
    }
    return frames;
  }

  private takeBytes(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }

  private peekHeader(): Buffer {
    if (this.chunks[0]!.length < HEADER_LEN) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    return this.chunks[0]!.subarray(0, HEADER_LEN);
  }
}

/**
 * Reads `source` to its end (or its close), giving each chunk to `take`;
 * when a write `take` made wants a drain, reading waits for it. Plain
 * events rather than a pipe and an async iterator: those cost a short
 * `hako run` a millisecond to set up. Rejects with the source's error or
 * with what `take` throws (the source is then destroyed).
 */
function pump(source: Readable, take: (chunk: Buffer) => Writable[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let ended = false;
    let waiting = 0;
    const finish = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      source.off("data", onData);
      source.off("end", onEnd);
      source.off("close", onEnd);
      source.off("error", finish);
      if (err === undefined) resolve();
      else {
        source.destroy();
        reject(err);
      }
    };
    // The end can come while writes wait for a drain: they finish first.
    const onEnd = (): void => {
      ended = true;
      if (waiting === 0) finish();
    };
    const onData = (chunk: Buffer | string): void => {
      let full: Writable[];
      try {
        full = take(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
      } catch (err) {
        finish(err);
        return;
      }
      if (full.length === 0) return;
      source.pause();
      waiting = full.length;
      for (const out of full) {
        const done = (): void => {
          out.off("drain", done);
          out.off("close", done);
          out.off("error", done);
          if (--waiting > 0 || settled) return;
          if (ended) finish();
          else source.resume();
        };
        out.on("drain", done);
        out.on("close", done);
        out.on("error", done);
      }
    };
    source.on("data", onData);
    source.on("end", onEnd);
    source.on("close", onEnd);
    source.on("error", finish);
    source.resume();
  });
}

/**
 * stdcopy.StdCopy: demultiplexes `source` to `stdout` and `stderr` (either
 * may be absent: its frames are dropped) until the source ends; rejects on
 * a framing error or a stream-3 message.
 */
export function demuxTo(source: Readable, stdout: Writable | undefined, stderr: Writable | undefined): Promise<void> {
  const frames = new FrameSplitter();
  return pump(source, (chunk) => {
    const full: Writable[] = [];
    for (const frame of frames.push(chunk)) {
      const out = frame.stream === 2 ? stderr : stdout;
      if (out && !out.write(frame.data) && !full.includes(out)) full.push(out);
    }
    return full;
  });
}

/** Copies a raw (TTY) stream to `out` until it ends. */
export function copyRaw(source: Readable, out: Writable | undefined): Promise<void> {
  return pump(source, (chunk) => (out && !out.write(chunk) ? [out] : []));
}
