/**
 * What pull and push share: Docker's progress events, a bounded worker pool
 * that stops everything on the first failure, and retries of transient errors.
 */
import { setTimeout as delay } from "node:timers/promises";
import { HakoError, UnavailableError } from "../../common/errors.ts";

/**
 * One progress message, shaped like moby's jsonmessage.JSONMessage (the Engine
 * API layer adds `progress`, the rendered bar, when it forwards it).
 */
export interface ProgressEvent {
  /** first 12 hex digits of the layer digest */
  id: string;
  status: string;
  progressDetail?: { current?: number; total?: number };
}

/** "sha256:0123456789abcdef…" → "0123456789ab", as Docker truncates layer IDs. */
export function shortId(digest: string): string {
  const hex = digest.slice(digest.indexOf(":") + 1);
  return hex.slice(0, 12);
}

/** Calls `emit` for the first and the last value and at most every `intervalMs` in between. */
export function throttled(emit: (current: number) => void, total: number, intervalMs = 100): (current: number) => void {
  let last = 0;
  let first = true;
  return (current) => {
    const now = Date.now();
    if (first || current >= total || now - last >= intervalMs) {
      first = false;
      last = now;
      emit(current);
    }
  };
}

/** Network failures and 5xx/429 answers are worth another try; bad content and refusals are not. */
export function isTransient(err: unknown): boolean {
  if (err instanceof UnavailableError) return true;
  if (HakoError.is(err)) return false;
  if (typeof err !== "object" || err === null) return false;
  const e = err as NodeJS.ErrnoException;
  if (e.name === "AbortError") return false;
  return (
    ["ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNREFUSED", "ECONNABORTED", "EAI_AGAIN", "ERR_STREAM_PREMATURE_CLOSE"].includes(e.code ?? "") ||
    e.message === "aborted"
  );
}

/** Runs `fn`, retrying transient failures `retries` times with a growing delay. */
export async function withRetries<T>(
  fn: (attempt: number) => Promise<T>,
  opts: { retries: number; delayMs: number; signal?: AbortSignal; onRetry?: (attempt: number, waitMs: number, err: unknown) => void },
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= opts.retries || !isTransient(err) || opts.signal?.aborted) throw err;
      const wait = opts.delayMs * (attempt + 1);
      opts.onRetry?.(attempt + 1, wait, err);
      await delay(wait, undefined, opts.signal ? { signal: opts.signal } : undefined);
    }
  }
}

/**
 * Runs `worker` over `items`, `concurrency` at a time, in order. The first
 * failure aborts the signal handed to the others, stops new work, and is
 * thrown once every started worker has settled.
 */
export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  worker: (item: T, index: number, signal: AbortSignal) => Promise<void>,
  parent?: AbortSignal,
): Promise<void> {
  const ac = new AbortController();
  const onAbort = () => ac.abort(parent?.reason);
  if (parent?.aborted) throw parent.reason ?? new Error("aborted");
  parent?.addEventListener("abort", onAbort, { once: true });
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const run = async () => {
    while (next < items.length && !failed && !ac.signal.aborted) {
      const i = next++;
      try {
        await worker(items[i]!, i, ac.signal);
      } catch (err) {
        if (!failed) {
          failed = true;
          firstError = err;
          ac.abort(err);
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, run));
  } finally {
    parent?.removeEventListener("abort", onAbort);
  }
  if (failed) throw firstError;
  if (parent?.aborted) throw parent.reason ?? new Error("aborted");
}
