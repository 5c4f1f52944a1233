/**
 * Go's archive/tar reader takes a tar that stops right after an entry's
 * data (no padding, no end-of-archive blocks) as complete, and the docker
 * CLI sends such tars: `docker build -f <file outside the context>` appends
 * the Dockerfile that way. hako's extractor is strict, so the context
 * stream passes through here: an archive that ends on an entry boundary, or
 * inside an entry's padding, gets its padding and the two zero blocks; one
 * cut inside a header or inside data is left as it is, and the extractor
 * reports it as truncated.
 */
import { Transform, type TransformCallback } from "node:stream";

const BLOCK = 512;

/** The size field of a ustar header: octal, or GNU base-256 when the top bit is set. */
function headerSize(block: Buffer): number {
  const field = block.subarray(124, 136);
  if (field[0]! & 0x80) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = field.toString("latin1").replace(/\0.*$/s, "").trim();
  return text === "" ? 0 : parseInt(text, 8) || 0;
}

export class TarTerminator extends Transform {
  /** The header being read (partial). */
  private header: Buffer[] = [];
  private headerLen = 0;
  /** Bytes of data, then of padding, still to come for the current entry. */
  private data = 0;
  private pad = 0;
  /** A zero block was seen: the archive's own end; nothing more to track. */
  private ended = false;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.ended) this.track(chunk);
    cb(null, chunk);
  }

  private track(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.ended) {
      if (this.data > 0) {
        const n = Math.min(this.data, chunk.length - off);
        this.data -= n;
        off += n;
        continue;
      }
      if (this.pad > 0) {
        const n = Math.min(this.pad, chunk.length - off);
        this.pad -= n;
        off += n;
        continue;
      }
      const n = Math.min(BLOCK - this.headerLen, chunk.length - off);
      this.header.push(chunk.subarray(off, off + n));
      this.headerLen += n;
      off += n;
      if (this.headerLen === BLOCK) {
        const block = Buffer.concat(this.header);
        this.header = [];
        this.headerLen = 0;
        if (block.every((b) => b === 0)) {
          this.ended = true;
          return;
        }
        const size = headerSize(block);
        this.data = size;
        this.pad = (BLOCK - (size % BLOCK)) % BLOCK;
      }
    }
  }

  override _flush(cb: TransformCallback): void {
    // Cut inside a header or inside data: truncated, left for the extractor to refuse.
    if (this.ended || this.headerLen > 0 || this.data > 0) return cb();
    cb(null, Buffer.alloc(this.pad + 2 * BLOCK));
  }
}
