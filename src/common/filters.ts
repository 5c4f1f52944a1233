/**
 * How dockerd matches a `filters` value against an object, the same for
 * containers, images, networks and volumes (moby's filters.Args and
 * timetypes.GetTimestamp): names and ids by regular expression, labels as
 * "key" or "key=value", and `until`/`since` times as durations or dates.
 */
import { InvalidArgumentError } from "./errors.ts";

/** filters.Args.Match: each value a regular expression matched anywhere in `value` (one that does not compile: equality). */
export function matchesRegexp(patterns: readonly string[], value: string): boolean {
  return patterns.some((p) => {
    try {
      return new RegExp(p).test(value);
    } catch {
      return p === value;
    }
  });
}

/** filters.Args.MatchKVList: every "key" is present and every "key=value" holds. */
export function matchesLabels(filters: readonly string[], labels: Readonly<Record<string, string>>): boolean {
  return filters.every((f) => {
    const eq = f.indexOf("=");
    if (eq < 0) return Object.hasOwn(labels, f);
    return labels[f.slice(0, eq)] === f.slice(eq + 1);
  });
}

const DURATION_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

/** Go's time.ParseDuration, in milliseconds ("1h30m", "90s", "1.5h"); undefined when `text` is not one. */
export function parseGoDurationMs(text: string): number | undefined {
  const m = /^([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+$/.exec(text);
  if (!m) return undefined;
  let total = 0;
  for (const [, num, unit] of text.slice(m[1]!.length).matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)) total += Number(num) * DURATION_UNIT_MS[unit!]!;
  return m[1] === "-" ? -total : total;
}

/**
 * timetypes.GetTimestamp for `until`/`since` filters, in milliseconds since
 * the epoch: a Go duration counts back from now; unix seconds (with a
 * fraction); else an RFC 3339 date or time.
 */
export function filterTime(value: string, what = "until", now = Date.now()): number {
  const duration = parseGoDurationMs(value);
  if (duration !== undefined) return now - duration;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new InvalidArgumentError(`invalid filter '${what}=${value}': not a duration or a timestamp`);
  return t;
}
