/**
 * The Go fmt renderings that end up in Docker's image history strings:
 * %q of a []string (`["a" "b"]`), %v of one (`[a b]`), time.Duration's
 * String (`1m30s`) and the HEALTHCHECK line, so `docker history` of a hako
 * build reads like one of dockerd's.
 */
import { InvalidArgumentError } from "../common/errors.ts";
import { quote, quoteRune } from "../common/strconv.ts";
import type { ImageRuntimeConfig } from "../spec/oci-image.ts";

/** Go's %q of a []string. */
export function goQuoteList(list: readonly string[] | null | undefined): string {
  return `[${(list ?? []).map((s) => quote(s)).join(" ")}]`;
}

/** Go's %v of a []string. */
export function goList(list: readonly string[] | null | undefined): string {
  return `[${(list ?? []).join(" ")}]`;
}

/** time.Duration.String() of nanoseconds. */
export function goDuration(ns: number): string {
  if (ns === 0) return "0s";
  const neg = ns < 0;
  let v = Math.abs(ns);
  let out: string;
  if (v < 1e9) {
    if (v < 1e3) out = `${v}ns`;
    else if (v < 1e6) out = `${trim(v / 1e3)}µs`;
    else out = `${trim(v / 1e6)}ms`;
  } else {
    const h = Math.floor(v / 3.6e12);
    v -= h * 3.6e12;
    const m = Math.floor(v / 6e10);
    v -= m * 6e10;
    const s = trim(v / 1e9);
    out = h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
  }
  return neg ? `-${out}` : out;
}

function trim(n: number): string {
  return String(Number(n.toFixed(9)));
}

const UNITS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 6e10, h: 3.6e12 };

/** time.ParseDuration: "30s", "1m30s", "1.5h", "500ms" → nanoseconds. */
export function parseGoDuration(s: string): number {
  if (s === "0") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) throw new InvalidArgumentError(`time: invalid duration "${s}"`);
    total += Number(m[1]) * UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (s === "") throw new InvalidArgumentError(`time: invalid duration ""`);
  return Math.round(total);
}

/** The history comment of HEALTHCHECK (dockerd's %q of the HealthConfig struct). */
export function healthcheckComment(h: NonNullable<ImageRuntimeConfig["Healthcheck"]>): string {
  const d = (n: number | undefined): string => quote(goDuration(n ?? 0));
  return `HEALTHCHECK &{${goQuoteList(h.Test)} ${d(h.Interval)} ${d(h.Timeout)} ${d(h.StartPeriod)} ${d(h.StartInterval)} ${quoteRune(h.Retries ?? 0)}}`;
}
