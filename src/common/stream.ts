/**
 * Looking at the start of a stream before deciding what to do with it
 * (its compression, whether a layer diff has any entry), then handing the
 * stream on whole.
 */
import { Readable } from "node:stream";

/**
 * The first `bytes` of `input` (fewer when it ends before), and a stream
 * that yields everything from the start: `input` itself with the bytes put
 * back, or a new one holding them when `input` already ended.
 */
export function peekStream(input: Readable, bytes: number): Promise<{ head: Buffer; stream: Readable }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const cleanup = (): void => {
      input.off("readable", onReadable);
      input.off("end", onEnd);
      input.off("error", onError);
    };
    const finish = (ended: boolean): void => {
      cleanup();
      const head = Buffer.concat(chunks);
      if (ended) {
        resolve({ head, stream: Readable.from(head.length ? [head] : []) });
        return;
      }
      input.unshift(head);
      resolve({ head, stream: input });
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (have < bytes && (chunk = input.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        have += chunk.length;
      }
      if (have >= bytes) finish(false);
    };
    const onEnd = (): void => finish(true);
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    input.on("readable", onReadable);
    input.on("end", onEnd);
    input.on("error", onError);
  });
}
