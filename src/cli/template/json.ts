/**
 * JSON the way docker's `json` template function writes it: Go's
 * encoding/json with SetEscapeHTML(false) and the trailing newline trimmed.
 * Objects keep their key order (they stand for Go structs, whose fields
 * encode in declaration order); `Map`s encode with sorted keys like Go maps.
 * Go escapes U+2028/U+2029 and writes other control characters as \u00XX.
 */
import { compareStrings } from "./values.ts";

class Unsupported extends Error {}

const ESCAPES: Record<number, string> = { 0x22: '\\"', 0x5c: "\\\\", 0x08: "\\b", 0x0c: "\\f", 0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t" };

function encodeString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    const esc = ESCAPES[cp];
    if (esc !== undefined) out += esc;
    else if (cp < 0x20) out += `\\u00${cp.toString(16).padStart(2, "0")}`;
    else if (cp === 0x2028 || cp === 0x2029) out += `\\u${cp.toString(16)}`;
    else if (cp >= 0xd800 && cp < 0xe000) out += "\\ufffd";
    else out += ch;
  }
  return `${out}"`;
}

function encode(v: unknown, seen: Set<object>): string | undefined {
  switch (typeof v) {
    case "undefined":
      return undefined;
    case "string":
      return encodeString(v);
    case "boolean":
      return v ? "true" : "false";
    case "bigint":
      return v.toString();
    case "number":
      if (!Number.isFinite(v)) throw new Unsupported(`json: unsupported value: ${v}`);
      return Object.is(v, -0) ? "0" : String(v);
    case "function":
    case "symbol":
      throw new Unsupported(`json: unsupported type: ${typeof v}`);
  }
  if (v === null) return "null";
  const obj = v as object;
  if (seen.has(obj)) throw new Unsupported("json: unsupported value: encountered a cycle");
  seen.add(obj);
  try {
    const toJSON = (obj as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") return encode(toJSON.call(obj), seen) ?? "null";
    if (Array.isArray(obj)) return `[${obj.map((x) => encode(x, seen) ?? "null").join(",")}]`;
    let entries: [string, unknown][];
    if (obj instanceof Map) {
      entries = [...obj.entries()].map(([k, x]) => [String(k), x] as [string, unknown]);
      entries.sort((a, b) => compareStrings(a[0], b[0]));
    } else {
      entries = Object.entries(obj);
    }
    const parts: string[] = [];
    for (const [k, x] of entries) {
      const e = encode(x, seen);
      if (e !== undefined) parts.push(`${encodeString(k)}:${e}`);
    }
    return `{${parts.join(",")}}`;
  } finally {
    seen.delete(obj);
  }
}

/**
 * Encodes like docker's `json` function. Values Go cannot encode (NaN,
 * functions, cycles) give "" because docker ignores the encoder's error.
 */
export function goJSON(v: unknown): string {
  try {
    return encode(v, new Set()) ?? "null";
  } catch (err) {
    if (err instanceof Unsupported) return "";
    throw err;
  }
}
