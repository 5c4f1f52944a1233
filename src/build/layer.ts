/**
 * Telling an empty layer diff from a real one before storing it: a tar
 * with no entries starts with a zero block. dockerd records a step that
 * changed no file as an `empty_layer` history entry without a layer
 * (image.NewChildImage), and so does hako.
 */
import { Readable } from "node:stream";

const BLOCK = 512;

/** `diff` given back whole when it has entries; undefined (and the stream ended) when it has none. */
export function emptyLayerStream(diff: Readable): Promise<Readable | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const cleanup = (): void => {
      diff.off("readable", onReadable);
      diff.off("end", onEnd);
      diff.off("error", onError);
    };
    const decide = (ended: boolean): void => {
      cleanup();
      const head = Buffer.concat(chunks);
      const block = head.subarray(0, BLOCK);
      if (block.length === 0 || block.every((b) => b === 0)) {
        diff.destroy();
        resolve(undefined);
        return;
      }
      if (ended) {
        // The stream is over: its bytes travel in a new one.
        resolve(Readable.from([head]));
        return;
      }
      diff.unshift(head);
      resolve(diff);
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (have < BLOCK && (chunk = diff.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        have += chunk.length;
      }
      if (have >= BLOCK) decide(false);
    };
    const onEnd = (): void => decide(true);
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    diff.on("readable", onReadable);
    diff.on("end", onEnd);
    diff.on("error", onError);
  });
}
