/**
 * Times as Go's time.RFC3339Nano writes them (Docker's JSON times): UTC,
 * "Z", the fraction to the nanosecond with its trailing zeros dropped
 * ("2026-11-24T19:04:59.1234Z", "2026-11-24T19:04:59Z").
 */

/** `nanos` since the epoch as RFC3339Nano. */
export function rfc3339Nano(nanos: bigint): string {
  const ms = nanos / 1_000_000n;
  const seconds = new Date(Number(ms)).toISOString().slice(0, 19);
  const frac = String(((nanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n)
    .padStart(9, "0")
    .replace(/0+$/, "");
  return `${seconds}${frac ? `.${frac}` : ""}Z`;
}

/** Now, as nanoseconds since the epoch (Node has no nanosecond wall clock: hrtime adds digits within the millisecond). */
export function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
}

/** Now as RFC3339Nano. */
export function nowRfc3339Nano(): string {
  return rfc3339Nano(nowNanos());
}
