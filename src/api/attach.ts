/**
 * One attach session (POST /containers/{id}/attach): the container's
 * output to the client (stdcopy frames without a TTY, raw bytes with one),
 * the client's bytes to the container's stdin through moby's escape proxy
 * (the detach keys, ctrl-p ctrl-q by default, end the session and leave
 * the container running), and the end of the session on the container's
 * exit, on detach, or when the client goes away.
 */
import type { Readable, Writable } from "node:stream";
import { InvalidArgumentError } from "../common/errors.ts";
import type { ContainerService } from "../engine/containers.ts";
import type { ContainerRecord } from "../engine/container-store.ts";
import { readLogs } from "../engine/logs.ts";
import type { ShimConnection } from "../native/container-shim.ts";
import { StdStream, writeOutput } from "./stream.ts";

/** moby/term's ASCII table: the names a detach key may be given by. */
const CTRL_KEYS: Record<string, number> = { "ctrl-@": 0, "ctrl-[": 27, "ctrl-\\": 28, "ctrl-]": 29, "ctrl-^": 30, "ctrl-_": 31 };
for (let i = 0; i < 26; i++) CTRL_KEYS[`ctrl-${String.fromCharCode(97 + i)}`] = i + 1;

/** ctrl-p, ctrl-q: dockerd's default detach sequence. */
export const DEFAULT_DETACH_KEYS = [16, 17];

/**
 * moby/term.ToBytes: "ctrl-p,ctrl-q", "a,ctrl-b", ... into the bytes they
 * stand for; "" gives the default. An unknown ctrl- name is a 400 with
 * dockerd's wording; other multi-character names are skipped, as moby skips them.
 */
export function parseDetachKeys(spec: string | null | undefined): number[] {
  if (!spec) return DEFAULT_DETACH_KEYS;
  const codes: number[] = [];
  for (const key of spec.split(",")) {
    if (key.length === 1) {
      codes.push(key.charCodeAt(0) & 0xff);
      continue;
    }
    const code = CTRL_KEYS[key.toLowerCase()];
    if (code !== undefined) codes.push(code);
    else if (key.toLowerCase().startsWith("ctrl-")) throw new InvalidArgumentError(`Invalid detach keys (${spec}) provided: Unknown character: '${key}'`);
  }
  return codes.length ? codes : DEFAULT_DETACH_KEYS;
}

/**
 * moby/term's escape proxy: bytes that could begin the detach sequence are
 * held back; the whole sequence means "detach", a mismatch lets the held
 * bytes through after all.
 */
export class DetachKeyMatcher {
  private matched = 0;

  constructor(private readonly keys: number[]) {}

  /** The bytes to pass on, and whether the sequence was completed (bytes after it are dropped). */
  feed(chunk: Buffer): { data: Buffer; detached: boolean } {
    if (this.keys.length === 0) return { data: chunk, detached: false };
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) return { data: Buffer.from(out), detached: true };
        continue;
      }
      // A mismatch: what was held back is ordinary input after all.
      for (let i = 0; i < this.matched; i++) out.push(this.keys[i]!);
      this.matched = 0;
      if (byte === this.keys[0]) this.matched = 1;
      else out.push(byte);
    }
    return { data: Buffer.from(out), detached: false };
  }
}

export interface AttachRequest {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** Replay the log first. */
  logs: boolean;
  /** Stay attached to the live streams. */
  stream: boolean;
  detachKeys: number[];
}

export interface AttachIo {
  /** Where the output goes (the hijacked socket, or a plain response). */
  out: Writable;
  /** The client's bytes (the hijacked socket); none on a plain response. */
  input?: Readable;
  /** Bytes the client sent with the request head. */
  head?: Buffer;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

/** How a session ended. */
export type AttachEnd = "exited" | "detached" | "client-gone" | "stdin-closed" | "logs-only";

/** Replays the json-file log of `c` for logs=1. */
async function replayLogs(c: ContainerRecord, request: AttachRequest, io: AttachIo, multiplexed: boolean): Promise<void> {
  for await (const entry of readLogs(c.LogPath, { stdout: request.stdout, stderr: request.stderr, signal: io.signal })) {
    if (io.signal.aborted) return;
    const stream = entry.stream === "stderr" ? StdStream.Stderr : StdStream.Stdout;
    if (!writeOutput(io.out, multiplexed, stream, Buffer.from(entry.log))) await drained(io.out, io.signal);
  }
}

/** Resolves when `out` has taken what was written, or is gone, or the client left. */
export function drained(out: Writable, signal: AbortSignal): Promise<void> {
  if (signal.aborted || out.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      out.off("drain", done);
      out.off("close", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    out.on("drain", done);
    out.on("close", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Runs an attach session to its end. The caller has already answered
 * (101 or 200) and closes `out` afterwards. For a container that has not
 * started, the session waits for its start (docker run attaches first).
 */
export async function runAttach(service: ContainerService, c: ContainerRecord, request: AttachRequest, io: AttachIo): Promise<AttachEnd> {
  const tty = Boolean(c.Config.Tty);
  const multiplexed = !tty;
  if (request.logs) await replayLogs(c, request, io, multiplexed);
  if (!request.stream) return "logs-only";
  if (io.signal.aborted) return "client-gone";

  const useStdin = request.stdin && Boolean(c.Config.OpenStdin);
  const connecting = service.attach(c.ID, { stdin: useStdin, stdout: request.stdout, stderr: request.stderr }, io.signal);
  // dockerd reports the attach when it is asked for (docker run: create, attach, start).
  service.publish("attach", service.store.get(c.ID) ?? c);
  const conn: ShimConnection = await connecting;
  return new Promise<AttachEnd>((resolve) => {
    let finished = false;
    const finish = (how: AttachEnd): void => {
      if (finished) return;
      finished = true;
      io.signal.removeEventListener("abort", onAbort);
      io.input?.off("data", onInput);
      io.input?.off("end", onInputEnd);
      io.out.off("drain", onDrain);
      conn.close();
      resolve(how);
    };
    const onAbort = (): void => finish("client-gone");
    const onDrain = (): void => conn.resume();

    conn.onOutput((stream, data) => {
      if (finished) return;
      if (!writeOutput(io.out, multiplexed, stream === 2 ? StdStream.Stderr : StdStream.Stdout, data)) conn.pause();
    });
    io.out.on("drain", onDrain);
    // The shim sends the exit frame after the last output frame, so everything was written by now.
    void conn.exited.then(() => finish("exited"));
    io.signal.addEventListener("abort", onAbort, { once: true });
    if (io.signal.aborted) onAbort();

    // Detach keys are a terminal's: without a TTY every byte is the process's (moby's CopyStreams).
    const matcher = tty ? new DetachKeyMatcher(request.detachKeys) : undefined;
    const onInput = (chunk: Buffer): void => {
      if (finished) return;
      const { data, detached } = matcher ? matcher.feed(chunk) : { data: chunk, detached: false };
      if (useStdin && data.length) conn.write(data);
      if (detached) {
        service.publish("detach", service.store.get(c.ID) ?? c);
        finish("detached");
      }
    };
    // moby's attach: a client done writing closes the container's stdin
    // when it is StdinOnce (without a TTY); otherwise it ends the session.
    const onInputEnd = (): void => {
      if (finished) return;
      if (c.Config.StdinOnce && !tty) conn.closeStdin();
      else finish("stdin-closed");
    };
    if (request.stdin && io.input) {
      if (io.head?.length) onInput(io.head);
      io.input.on("data", onInput);
      io.input.on("end", onInputEnd);
    }
  });
}
