/**
 * Docker's raw-stream multiplexing (moby pkg/stdcopy): without a TTY,
 * attach, exec and logs carry stdout and stderr on one connection as frames
 * `[u8 stream][0 0 0][u32 big-endian length][payload]`, stream 1 stdout,
 * 2 stderr (0 stdin, 3 "systemerr" for a failure after the upgrade). With a
 * TTY the bytes travel as they are, in application/vnd.docker.raw-stream.
 */
import type { Writable } from "node:stream";

export const enum StdStream {
  Stdin = 0,
  Stdout = 1,
  Stderr = 2,
  Systemerr = 3,
}

/** The content type of a hijacked stream: multiplexed unless the container has a TTY. */
export function rawStreamType(tty: boolean): string {
  return tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream";
}

/** One stdcopy frame. */
export function stdFrame(stream: StdStream, payload: Buffer | string): Buffer {
  const data = typeof payload === "string" ? Buffer.from(payload) : payload;
  const frame = Buffer.allocUnsafe(8 + data.length);
  frame.writeUInt32BE(stream << 24, 0);
  frame.writeUInt32BE(data.length, 4);
  data.copy(frame, 8);
  return frame;
}

/**
 * Writes container output to a client: framed when `multiplexed`, raw
 * otherwise. Returns write()'s answer so callers can wait for 'drain'.
 */
export function writeOutput(out: Writable, multiplexed: boolean, stream: StdStream, payload: Buffer): boolean {
  if (payload.length === 0) return true;
  return out.write(multiplexed ? stdFrame(stream, payload) : payload);
}

/** Splits a stdcopy byte stream back into frames (for tests and clients); keeps a partial frame for the next push. */
export class StdFrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { stream: StdStream; data: Buffer }[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: { stream: StdStream; data: Buffer }[] = [];
    while (this.pending.length >= 8) {
      const length = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + length) break;
      frames.push({ stream: this.pending[0] as StdStream, data: this.pending.subarray(8, 8 + length) });
      this.pending = this.pending.subarray(8 + length);
    }
    return frames;
  }

  /** Bytes of an unfinished frame. */
  get buffered(): number {
    return this.pending.length;
  }
}
