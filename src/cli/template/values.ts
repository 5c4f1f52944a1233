/**
 * How plain JavaScript data maps onto the Go kinds text/template reasons
 * about. `undefined` is Go's invalid value (a missing map entry: prints
 * `<no value>`); `null` is a nil pointer or interface (prints `<nil>`);
 * integral numbers and bigints are `int`; other numbers are `float64`;
 * arrays are slices; plain objects and `Map`s are maps with sorted keys;
 * functions are funcs; methods of class instances are Go methods.
 */

/**
 * Set on an object to give the Go type name used in error messages (docker's
 * `*formatter.ContainerContext`); such an object also behaves as a struct,
 * so unknown fields are errors as in docker.
 */
export const GO_TYPE: unique symbol = Symbol.for("hako.template.goType") as never;

/**
 * Marks plain data as a Go struct of `type` (unknown fields are errors),
 * optionally with the JSON it encodes to (Go's json tags may spell a field
 * otherwise than its name: APIVersion is "ApiVersion"). Both stay out of
 * the object's own keys.
 */
export function goStruct<T extends object>(value: T, type: string, json?: (value: T) => unknown): T {
  Object.defineProperty(value, GO_TYPE, { value: type, enumerable: false });
  if (json) Object.defineProperty(value, "toJSON", { value: () => json(value), enumerable: false });
  return value;
}

export type Kind = "invalid" | "nil" | "bool" | "int" | "float" | "string" | "slice" | "map" | "func";

export function kindOf(v: unknown): Kind {
  switch (typeof v) {
    case "undefined":
      return "invalid";
    case "boolean":
      return "bool";
    case "bigint":
      return "int";
    case "number":
      return Number.isInteger(v) ? "int" : "float";
    case "string":
      return "string";
    case "function":
      return "func";
    case "object":
      if (v === null) return "nil";
      return Array.isArray(v) ? "slice" : "map";
    default:
      return "invalid";
  }
}

export function isStruct(v: unknown): boolean {
  return typeof v === "object" && v !== null && (v as Record<symbol, unknown>)[GO_TYPE] !== undefined;
}

/** The Go type name reported in error messages and by `%T`. */
export function goTypeName(v: unknown): string {
  switch (kindOf(v)) {
    case "invalid":
      return "<nil>";
    case "nil":
      return "interface {}";
    case "bool":
      return "bool";
    case "int":
      return "int";
    case "float":
      return "float64";
    case "string":
      return "string";
    case "slice":
      return "[]interface {}";
    case "func":
      return "func(...interface {}) interface {}";
    case "map": {
      const t = (v as Record<symbol, unknown>)[GO_TYPE];
      return typeof t === "string" ? t : "map[string]interface {}";
    }
  }
}

/** Orders strings by code point, as Go orders strings by UTF-8 bytes. */
export function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

function compareKeys(a: unknown, b: unknown): number {
  if (typeof a === "string" && typeof b === "string") return compareStrings(a, b);
  if ((typeof a === "number" || typeof a === "bigint") && (typeof b === "number" || typeof b === "bigint")) {
    return a < b ? -1 : a > b ? 1 : 0;
  }
  return compareStrings(String(a), String(b));
}

/** Map entries in Go's fmt/range order (sorted keys). */
export function mapEntries(m: object): [unknown, unknown][] {
  const entries: [unknown, unknown][] =
    m instanceof Map ? [...m.entries()] : Object.keys(m).map((k) => [k, (m as Record<string, unknown>)[k]]);
  return entries.sort((x, y) => compareKeys(x[0], y[0]));
}

export function mapSize(m: object): number {
  return m instanceof Map ? m.size : Object.keys(m).length;
}

/**
 * Looks up a field or key: own properties of objects, entries of Maps, and
 * for class instances also inherited getters and methods (never those of
 * Object.prototype). `found` is false for a missing key; `method` is true
 * for a function inherited from a class, which templates call like a Go
 * method, while a function stored in the object itself is a func value.
 */
export function lookupField(obj: object, name: string): { found: boolean; value: unknown; method: boolean } {
  if (obj instanceof Map) {
    return obj.has(name) ? { found: true, value: obj.get(name), method: false } : { found: false, value: undefined, method: false };
  }
  if (Object.hasOwn(obj, name)) return { found: true, value: (obj as Record<string, unknown>)[name], method: false };
  const proto = Object.getPrototypeOf(obj) as object | null;
  if (proto !== null && proto !== Object.prototype && name in obj && !(name in Object.prototype)) {
    const value = (obj as Record<string, unknown>)[name];
    return { found: true, value, method: typeof value === "function" };
  }
  return { found: false, value: undefined, method: false };
}

/** Go's truth: false, 0, "", nil, and empty slices and maps are false. */
export function isTrue(v: unknown): boolean {
  switch (kindOf(v)) {
    case "invalid":
    case "nil":
      return false;
    case "bool":
      return v as boolean;
    case "int":
    case "float":
      return typeof v === "bigint" ? v !== 0n : v !== 0;
    case "string":
      return (v as string).length > 0;
    case "slice":
      return (v as unknown[]).length > 0;
    case "map":
      return isStruct(v) || mapSize(v as object) > 0;
    case "func":
      return true;
  }
}

export function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}
