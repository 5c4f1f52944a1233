/**
 * Layer blobs come plain, gzipped or zstd-compressed; layers are applied and
 * diff IDs computed on the uncompressed tar. Detection is by magic bytes,
 * so a blob whose media type lies still decompresses right.
 */
import { Readable, Transform, type TransformCallback } from "node:stream";
import { createGunzip, createGzip } from "node:zlib";
import { Decompress as ZstdDecompress } from "fzstd";
import { peekStream } from "../common/stream.ts";
import { MediaType } from "../spec/oci-image.ts";

export type Compression = "none" | "gzip" | "zstd";

export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return "zstd";
  return "none";
}

export function compressionOfMediaType(mediaType: string): Compression {
  if (mediaType.endsWith("gzip")) return "gzip";
  if (mediaType.endsWith("zstd")) return "zstd";
  return "none";
}

/** The layer media type for a compression, in the Docker or OCI family. */
export function layerMediaType(compression: Compression, oci: boolean): string {
  if (oci) return compression === "gzip" ? MediaType.OciLayerGzip : compression === "zstd" ? MediaType.OciLayerZstd : MediaType.OciLayer;
  return compression === "gzip" ? MediaType.DockerLayerGzip : compression === "zstd" ? MediaType.DockerLayerZstd : MediaType.DockerLayer;
}

class ZstdStream extends Transform {
  #z = new ZstdDecompress((data) => {
    this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.#z.push(chunk);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.#z.push(new Uint8Array(0), true);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}

/** Reads the first bytes of `input` to learn its compression, and gives a stream of all of it back. */
export async function sniffCompression(input: Readable): Promise<{ compression: Compression; stream: Readable }> {
  const { head, stream } = await peekStream(input, 4);
  return { compression: detectCompression(head), stream };
}

/** A stream of the uncompressed bytes of `input`. */
export function decompress(input: Readable, compression: Compression): Readable {
  if (compression === "none") return input;
  const stage: Transform = compression === "gzip" ? createGunzip() : new ZstdStream();
  input.on("error", (err) => stage.destroy(err));
  return input.pipe(stage);
}

/** The uncompressed bytes of `input`, whatever its compression. */
export async function decompressed(input: Readable): Promise<Readable> {
  const { compression, stream } = await sniffCompression(input);
  return decompress(stream, compression);
}

export function gzipped(input: Readable): Readable {
  const gz = createGzip({ level: 6 });
  input.on("error", (err) => gz.destroy(err));
  return input.pipe(gz);
}
