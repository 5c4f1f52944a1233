/**
 * Query-string parameters as dockerd reads them: booleans in httputils'
 * lenient spelling, integers, and the `filters` JSON argument in its two
 * forms ({"key":["v"]} and the legacy {"key":{"v":true}}).
 */
import { InvalidArgumentError } from "../common/errors.ts";

/** moby's httputils.BoolValue: absent, "", "0", "no", "false" and "none" are false. */
export function boolParam(query: URLSearchParams, name: string): boolean {
  const v = (query.get(name) ?? "").trim().toLowerCase();
  return !(v === "" || v === "0" || v === "no" || v === "false" || v === "none");
}

/** moby's httputils.BoolValueOrDefault: the default when the parameter is absent. */
export function boolParamOr(query: URLSearchParams, name: string, fallback: boolean): boolean {
  return query.has(name) ? boolParam(query, name) : fallback;
}

/** An integer parameter; absent or empty gives `fallback`, anything else non-numeric is a 400. */
export function intParam(query: URLSearchParams, name: string, fallback: number): number {
  const raw = query.get(name);
  if (raw === null || raw.trim() === "") return fallback;
  if (!/^[-+]?\d+$/.test(raw.trim())) throw new InvalidArgumentError(`invalid value for ${name}: ${JSON.stringify(raw)} is not an integer`);
  return Number(raw.trim());
}

/** Parsed `filters`: each key with its values. */
export type Filters = Map<string, string[]>;

/**
 * The `filters` parameter, validated against the keys an endpoint accepts.
 *
 * @example parseFilters(call.query, ["type", "event", "container"])
 */
export function parseFilters(query: URLSearchParams, accepted?: readonly string[]): Filters {
  const raw = query.get("filters");
  const out: Filters = new Map();
  if (raw === null || raw.trim() === "") return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new InvalidArgumentError(`invalid filter: ${(err as Error).message}`, { cause: err });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError("invalid filter: expected a JSON object");
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    let values: string[];
    if (Array.isArray(value)) values = value.map(String);
    else if (typeof value === "object" && value !== null) values = Object.entries(value).filter(([, on]) => on === true).map(([v]) => v);
    else throw new InvalidArgumentError(`invalid filter: the value of "${key}" must be a list or an object`);
    if (accepted && !accepted.includes(key)) throw new InvalidArgumentError(`invalid filter '${key}'`);
    out.set(key, values);
  }
  return out;
}
