/** What the benches share: their settings, log, clean-up, stopping on a signal, seeded randomness and result tables. */

export function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

/** A whole-number setting from the environment; unset or empty is `fallback`. */
export function intEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number.parseInt(raw, 10);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name}=${raw}: expected an integer >= ${min}`);
  return n;
}

/**
 * Ctrl-C (and SIGTERM, SIGHUP) does not kill a bench: `stop` notes it, so
 * the bench ends after the current `step` and still cleans up.
 */
export function onStopSignal(step: string, stop: (signal: string) => void): void {
  let stopping = false;
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      if (!stopping) log(`\n${sig}: stopping after the current ${step}, then cleaning up`);
      stopping = true;
      stop(sig);
    });
  }
}

/** Undo steps, run last first; one that fails is logged and the rest still run. */
export class Cleanup {
  readonly #steps: { what: string; fn: () => unknown }[] = [];

  add(what: string, fn: () => unknown): void {
    this.#steps.push({ what, fn });
  }

  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step.fn();
      } catch (err) {
        log(`clean-up: ${step.what}: ${(err as Error).message}`);
      }
    }
  }
}

/** A small seeded PRNG (mulberry32): the same seed, the same numbers, so runs can be compared. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Rows as aligned columns, the first row a header underlined with dashes. */
export function table(rows: string[][], rightAligned: Set<number>): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows
    .map((r, i) => {
      const line = r.map((cell, c) => (rightAligned.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ").trimEnd();
      return i === 0 ? `${line}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : line;
    })
    .join("\n");
}

/** Runs a bench's main: its resolved number is the exit status; a throw is logged after `prefix` and exits 1. */
export function runMain(main: () => Promise<number>, prefix: string): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      log(`${prefix}: ${(err as Error)?.stack ?? err}`);
      process.exitCode = 1;
    },
  );
}
