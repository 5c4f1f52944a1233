/**
 * Telling an empty layer diff from a real one before storing it: a tar
 * with no entries starts with a zero block. dockerd records a step that
 * changed no file as an `empty_layer` history entry without a layer
 * (image.NewChildImage), and so does hako.
 */
import type { Readable } from "node:stream";
import { peekStream } from "../common/stream.ts";

const BLOCK = 512;

/** `diff` given back whole when it has entries; undefined (and the stream ended) when it has none. */
export async function emptyLayerStream(diff: Readable): Promise<Readable | undefined> {
  const { head, stream } = await peekStream(diff, BLOCK);
  const block = head.subarray(0, BLOCK);
  if (block.length === 0 || block.every((b) => b === 0)) {
    stream.destroy();
    return undefined;
  }
  return stream;
}
