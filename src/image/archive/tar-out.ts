/**
 * The outer tar of a save, written with tar-stream's pack and pumped into
 * the caller's Writable with backpressure both ways: a layer is read from
 * the content store only as fast as `out` takes it.
 */
import type { Readable, Writable } from "node:stream";
import { finished } from "node:stream/promises";
import tarStream, { type Header } from "tar-stream";

export class TarOut {
  readonly #pack = tarStream.pack();
  readonly #out: Writable;
  readonly #pumped: Promise<void>;
  #outputError: Error | undefined;

  constructor(out: Writable) {
    this.#out = out;
    this.#pumped = pump(this.#pack, out);
    // Observed by finish() or abort(); never an unhandled rejection meanwhile.
    this.#pumped.catch((err: Error) => {
      this.#outputError ??= err;
    });
  }

  /** Why writing to `out` failed, when it did: the cause to report rather than the entry that noticed it. */
  get outputError(): Error | undefined {
    return this.#outputError;
  }

  dir(name: string, mtime: Date): Promise<void> {
    return this.#entry({ name: name.endsWith("/") ? name : `${name}/`, type: "directory", mode: 0o755, mtime }, undefined);
  }

  file(name: string, data: Buffer | string, mtime: Date): Promise<void> {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
    return this.#entry({ name, type: "file", mode: 0o644, size: buf.length, mtime }, buf);
  }

  symlink(name: string, target: string, mtime: Date): Promise<void> {
    return this.#entry({ name, type: "symlink", linkname: target, mode: 0o777, mtime }, undefined);
  }

  /** A member of `size` bytes read from `src`; fails when `src` gives a different number of bytes. */
  async stream(name: string, size: number, src: Readable, mtime: Date): Promise<void> {
    if (this.#pack.destroying || this.#pack.destroyed) {
      src.destroy();
      throw closedEarly();
    }
    let settle!: (err?: Error | null) => void;
    const callback = new Promise<void>((resolve, reject) => {
      settle = (err) => (err ? reject(err) : resolve());
    });
    callback.catch(() => {});
    const sink: Sink = this.#pack.entry({ name, type: "file", mode: 0o644, size, mtime }, settle);
    try {
      for await (const chunk of src) {
        if (sink.destroying || sink.destroyed) throw closedEarly();
        if (!sink.write(chunk as Buffer)) await drained(sink);
      }
      sink.end(undefined);
    } catch (err) {
      src.destroy();
      sink.destroy(err as Error);
      throw err;
    }
    await callback;
  }

  /** Ends the archive and `out`, and waits until `out` has taken everything. */
  async finish(): Promise<void> {
    this.#pack.finalize();
    await this.#pumped;
    this.#out.end();
    await finished(this.#out);
  }

  /** Stops writing (the archive in `out` is incomplete); `out` itself is left to the caller. */
  async abort(err: Error): Promise<void> {
    if (!this.#pack.destroyed) this.#pack.destroy(err);
    await this.#pumped.catch(() => {});
  }

  #entry(header: Partial<Header> & { name: string }, data: Buffer | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#pack.destroying || this.#pack.destroyed) {
        reject(closedEarly());
        return;
      }
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (data) this.#pack.entry(header, data, cb);
      else this.#pack.entry(header, cb).end(undefined);
    });
  }

}

/** A tar-stream entry being written: a streamx Writable. */
type Sink = ReturnType<tarStream.Pack["entry"]>;

function closedEarly(): Error {
  return new Error("the archive stream was closed before it was complete");
}

/** Waits for a streamx writable to drain, or fails when it is destroyed first. */
function drained(sink: Sink): Promise<void> {
  return new Promise((resolve, reject) => {
    if (sink.destroying || sink.destroyed) {
      reject(closedEarly());
      return;
    }
    const onDrain = (): void => {
      sink.off("close", onClose);
      resolve();
    };
    const onClose = (): void => {
      sink.off("drain", onDrain);
      reject(closedEarly());
    };
    sink.once("drain", onDrain);
    sink.once("close", onClose);
  });
}

/** Copies the pack into `out`, waiting for `out` to drain; rejects when `out` fails or closes early. */
async function pump(pack: tarStream.Pack, out: Writable): Promise<void> {
  let onError!: (err: Error) => void;
  let onClose!: () => void;
  const outFailed = new Promise<never>((_, reject) => {
    onError = (err) => reject(err);
    onClose = () => {
      if (!out.writableFinished) reject(new Error("the output was closed before the archive was complete"));
    };
    out.on("error", onError);
    out.on("close", onClose);
  });
  outFailed.catch(() => {});
  try {
    for await (const chunk of pack) {
      if (out.destroyed) throw new Error("the output was closed before the archive was complete");
      if (!out.write(chunk)) {
        await Promise.race([new Promise<void>((resolve) => out.once("drain", resolve)), outFailed]);
      }
    }
  } catch (err) {
    if (!pack.destroyed) pack.destroy(err as Error);
    throw err;
  } finally {
    out.off("error", onError);
    out.off("close", onClose);
  }
}
