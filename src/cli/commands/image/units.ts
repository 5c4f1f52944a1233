/**
 * How the docker CLI prints times, sizes and IDs in image tables:
 * docker/go-units (HumanDuration, HumanSizeWithPrecision), Go's time
 * formats, and docker/cli's formatter helpers (TruncateID, Ellipsis).
 */
import { displayWidth } from "../../template/index.ts";

const DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

function trimZeros(s: string): string {
  return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
}

/**
 * Go's fmt `%.{prec}g`: `prec` significant digits, trailing zeros dropped,
 * the exponent form when the exponent is below -4 or at least `prec`
 * ("1e+03").
 */
export function goFormatG(x: number, prec: number): string {
  if (x === 0) return "0";
  if (!Number.isFinite(x)) return x > 0 ? "+Inf" : x < 0 ? "-Inf" : "NaN";
  const p = Math.max(prec, 1);
  const [mantissa, exponent] = x.toExponential(p - 1).split("e") as [string, string];
  const exp = Number(exponent);
  if (exp < -4 || exp >= p) {
    const sign = exp < 0 ? "-" : "+";
    return `${trimZeros(mantissa)}e${sign}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  return trimZeros(x.toFixed(Math.max(0, p - 1 - exp)));
}

/**
 * go-units HumanSizeWithPrecision: decimal units (kB = 1000 B).
 *
 * @example humanSizeWithPrecision(4_261_000, 3) // "4.26MB"
 */
export function humanSizeWithPrecision(bytes: number, precision: number): string {
  let size = bytes;
  let i = 0;
  while (size >= 1000 && i < DECIMAL_UNITS.length - 1) {
    size /= 1000;
    i++;
  }
  return `${goFormatG(size, precision)}${DECIMAL_UNITS[i]}`;
}

/** go-units HumanSize: four significant digits ("Total reclaimed space: 1.234MB"). */
export function humanSize(bytes: number): string {
  return humanSizeWithPrecision(bytes, 4);
}

/**
 * go-units HumanDuration: "Less than a second", "About a minute",
 * "2 hours", "3 days", "2 weeks", "5 months", "2 years".
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

/** "<duration> ago" for a Unix time in seconds. */
export function createdSince(unixSeconds: number, now: number = Date.now()): string {
  return `${humanDuration(now - unixSeconds * 1000)} ago`;
}

const p2 = (n: number): string => String(n).padStart(2, "0");

function offsetText(date: Date, colon: boolean): string {
  const off = -date.getTimezoneOffset();
  const sign = off < 0 ? "-" : "+";
  const abs = Math.abs(off);
  return `${sign}${p2(Math.trunc(abs / 60))}${colon ? ":" : ""}${p2(abs % 60)}`;
}

/** The local zone's abbreviation, as Go prints it ("UTC", "CET"); the numeric offset when there is none. */
function zoneName(date: Date): string {
  if (date.getTimezoneOffset() === 0) {
    const tz = process.env.TZ;
    if (tz === undefined || tz === "" || /^(UTC|Etc\/UTC|UTC0|Universal|Zulu|Etc\/Universal)$/i.test(tz)) return "UTC";
  }
  try {
    const part = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(date).find((p) => p.type === "timeZoneName")?.value;
    if (part && !/^GMT[+-]/.test(part)) return part === "GMT" && date.getTimezoneOffset() === 0 ? "UTC" : part;
  } catch {
    // no Intl zone data
  }
  return offsetText(date, false);
}

/** Go's time.Time.String() of a Unix time, local: "2024-05-01 12:00:00 +0000 UTC". */
export function goTimeString(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${offsetText(d, false)} ${zoneName(d)}`;
}

/** Go's time.RFC3339 of a Unix time, local: "2024-05-01T12:00:00Z" or "...+02:00". */
export function rfc3339(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const zone = d.getTimezoneOffset() === 0 ? "Z" : offsetText(d, true);
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}T${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}${zone}`;
}

/** docker/cli formatter.TruncateID: the algorithm prefix dropped, 12 characters kept. */
export function truncateId(id: string): string {
  const colon = id.indexOf(":");
  const s = colon >= 0 ? id.slice(colon + 1) : id;
  return s.length > 12 ? s.slice(0, 12) : s;
}

/** docker/cli formatter.Ellipsis: at most `max` display columns, the last one "…" when cut. */
export function ellipsis(s: string, max: number): string {
  if (max <= 0) return "";
  const chars = [...s];
  if (max === 1) return chars[0] ?? "";
  if (displayWidth(s) <= max) return s;
  let out = "";
  let width = 0;
  for (const ch of chars) {
    const w = displayWidth(ch);
    if (width + w > max - 1) break;
    out += ch;
    width += w;
  }
  return `${out}…`;
}
