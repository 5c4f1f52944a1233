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
import { Transform, type Readable, type TransformCallback, type Writable } from "node:stream";

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
 * Splits a multiplexed byte stream into frames (objects on the readable
 * side), whatever the chunking: headers and payloads may arrive split
 * across chunks. A frame of stream 3 fails the stream with the daemon's
 * message; a partial frame at the end is dropped, as stdcopy does.
 */
export class StdDemuxer extends Transform {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor() {
    super({ readableObjectMode: true });
  }

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    if (buf.length > 0) {
      this.chunks.push(buf);
      this.buffered += buf.length;
    }
    try {
      this.drainFrames();
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.chunks = [];
    this.buffered = 0;
    callback();
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
    if (this.chunks[0]!.length < HEADER_LEN) {
      const all = Buffer.concat(this.chunks, this.buffered);
      this.chunks = [all];
    }
    return this.chunks[0]!.subarray(0, HEADER_LEN);
  }

  private drainFrames(): void {
    while (this.buffered >= HEADER_LEN) {
      const header = this.peekHeader();
      const stream = header[0]!;
      const size = header.readUInt32BE(4);
      if (stream > SYSTEMERR) throw new StreamFramingError(`unrecognized stream: ${stream}`);
      if (this.buffered < HEADER_LEN + size) return;
      const frame = this.takeBytes(HEADER_LEN + size);
      const payload = Buffer.from(frame.subarray(HEADER_LEN));
      if (stream === SYSTEMERR) throw new StreamFramingError(`error from daemon in stream: ${payload.toString()}`);
      this.push({ stream: stream === STDERR ? 2 : 1, data: payload } satisfies StdFrame);
    }
  }
}

function writeAll(out: Writable, data: Buffer): Promise<void> | undefined {
  if (out.write(data)) return undefined;
  return new Promise((resolve) => {
    const done = (): void => {
      out.off("drain", done);
      out.off("close", done);
      out.off("error", done);
      resolve();
    };
    out.on("drain", done);
    out.on("close", done);
    out.on("error", done);
  });
}

/**
 * stdcopy.StdCopy: demultiplexes `source` to `stdout` and `stderr` (either
 * may be absent: its frames are dropped) until the source ends; rejects on
 * a framing error or a stream-3 message.
 */
export async function demuxTo(source: Readable, stdout: Writable | undefined, stderr: Writable | undefined): Promise<void> {
  const demuxer = new StdDemuxer();
  source.on("error", (err) => demuxer.destroy(err));
  source.pipe(demuxer);
  for await (const frame of demuxer as AsyncIterable<StdFrame>) {
    const out = frame.stream === 2 ? stderr : stdout;
    if (out) await writeAll(out, frame.data);
  }
}

/** Copies a raw (TTY) stream to `out` until it ends. */
export async function copyRaw(source: Readable, out: Writable | undefined): Promise<void> {
  for await (const chunk of source) {
    if (out) await writeAll(out, chunk as Buffer);
  }
}
