/**
 * Template functions: Go's builtins (text/template funcs.go) and docker's
 * additions (docker/cli templates/templates.go), each with the Go parameter
 * types that decide argument checking, so `{{upper 1}}` fails as in docker.
 */
import { goJSON } from "./json.ts";
import { sprint, sprintf, sprintln } from "./fmt.ts";
import { goTypeName, isTrue, kindOf, lookupField, utf8Length } from "./values.ts";

/**
 * Go parameter types: `any` is interface{} (a missing value arrives as
 * null), `value` is reflect.Value (passed untouched), the others are checked
 * and converted like Go's typed parameters.
 */
export type ParamType = "any" | "value" | "string" | "int" | "bool" | "strings";

export interface TemplateFunc {
  params: ParamType[];
  /** Type of each argument after the fixed ones; absent for a fixed arity. */
  variadic?: ParamType;
  fn: (...args: never[]) => unknown;
}

/** A plain function is taken as `func(args ...interface{}) interface{}`. */
export type FuncMap = Record<string, TemplateFunc | ((...args: never[]) => unknown)>;

/** Thrown by a function to report `error calling NAME: MESSAGE`. */
export class FuncError extends Error {}

export function toTemplateFunc(f: TemplateFunc | ((...args: never[]) => unknown)): TemplateFunc {
  return typeof f === "function" ? { params: [], variadic: "any", fn: f } : f;
}

function def<A extends unknown[]>(params: ParamType[], fn: (...args: A) => unknown, variadic?: ParamType): TemplateFunc {
  return variadic === undefined
    ? { params, fn: fn as unknown as TemplateFunc["fn"] }
    : { params, variadic, fn: fn as unknown as TemplateFunc["fn"] };
}

// ---------------------------------------------------------------------------
// Go builtins

function indexArg(index: unknown, cap: number): number {
  const k = kindOf(index);
  if (k === "invalid" || k === "nil") throw new FuncError("cannot index slice/array with nil");
  if (k !== "int") throw new FuncError(`cannot index slice/array with type ${goTypeName(index)}`);
  const x = Number(index);
  if (x < 0 || x > cap) throw new FuncError(`index out of range: ${index}`);
  return x;
}

function mapKey(index: unknown): string {
  if (index === undefined || index === null) throw new FuncError("value is nil; should be of type string");
  if (typeof index !== "string") throw new FuncError(`value has type ${goTypeName(index)}; should be string`);
  return index;
}

function index(item: unknown, ...indexes: unknown[]): unknown {
  if (item === undefined || item === null) throw new FuncError("index of untyped nil");
  for (const ix of indexes) {
    if (item === undefined || item === null) throw new FuncError("index of nil pointer");
    switch (kindOf(item)) {
      case "slice": {
        const a = item as unknown[];
        const x = indexArg(ix, a.length);
        if (x === a.length) throw new FuncError(`index out of range: ${x}`);
        item = a[x];
        break;
      }
      case "string": {
        const b = Buffer.from(item as string, "utf8");
        const x = indexArg(ix, b.length);
        if (x === b.length) throw new FuncError(`index out of range: ${x}`);
        item = b[x];
        break;
      }
      case "map":
        if (item instanceof Map) item = item.get(ix);
        else item = lookupField(item as object, mapKey(ix)).value;
        break;
      default:
        throw new FuncError(`can't index item of type ${goTypeName(item)}`);
    }
  }
  return item;
}

function slice(item: unknown, ...indexes: unknown[]): unknown {
  if (item === undefined || item === null) throw new FuncError("slice of untyped nil");
  if (indexes.length > 3) throw new FuncError(`too many slice indexes: ${indexes.length}`);
  let len: number;
  const k = kindOf(item);
  if (k === "string") {
    if (indexes.length === 3) throw new FuncError("cannot 3-index slice a string");
    len = utf8Length(item as string);
  } else if (k === "slice") {
    len = (item as unknown[]).length;
  } else {
    throw new FuncError(`can't slice item of type ${goTypeName(item)}`);
  }
  const idx = [0, len, len];
  indexes.forEach((ix, i) => {
    idx[i] = indexArg(ix, len);
  });
  if (idx[0]! > idx[1]!) throw new FuncError(`invalid slice index: ${idx[0]} > ${idx[1]}`);
  if (indexes.length === 3 && idx[1]! > idx[2]!) throw new FuncError(`invalid slice index: ${idx[1]} > ${idx[2]}`);
  if (k === "string") return Buffer.from(item as string, "utf8").subarray(idx[0], idx[1]).toString("utf8");
  return (item as unknown[]).slice(idx[0], idx[1]);
}

function length(item: unknown): number {
  switch (kindOf(item)) {
    case "invalid":
    case "nil":
      throw new FuncError("len of nil pointer");
    case "string":
      return utf8Length(item as string);
    case "slice":
      return (item as unknown[]).length;
    case "map":
      return item instanceof Map ? item.size : Object.keys(item as object).length;
    default:
      throw new FuncError(`len of type ${goTypeName(item)}`);
  }
}

function call(fn: unknown, ...args: unknown[]): unknown {
  if (fn === undefined || fn === null) throw new FuncError("call of nil");
  if (typeof fn !== "function") throw new FuncError(`non-function of type ${goTypeName(fn)}`);
  return (fn as (...a: unknown[]) => unknown)(...args);
}

type Basic = "bool" | "number" | "string" | null;

/** Go's basicKind, except that int and float64 compare with each other. */
function basicKind(v: unknown): Basic {
  switch (kindOf(v)) {
    case "bool":
      return "bool";
    case "int":
    case "float":
      return "number";
    case "string":
      return "string";
    default:
      return null;
  }
}

const BAD_COMPARISON_TYPE = "invalid type for comparison";
const BAD_COMPARISON = "incompatible types for comparison";

function isNilish(v: unknown): boolean {
  return v === undefined || v === null;
}

function eq(arg1: unknown, ...arg2: unknown[]): boolean {
  if (arg2.length === 0) throw new FuncError("missing argument for comparison");
  const k1 = basicKind(arg1);
  for (const arg of arg2) {
    const k2 = basicKind(arg);
    let truth: boolean;
    if (k1 !== k2) {
      if (!isNilish(arg1) && !isNilish(arg)) throw new FuncError(BAD_COMPARISON);
      truth = false;
    } else if (k1 === "number") {
      // Loose equality: a bigint and a number compare by value.
      truth = (arg1 as number) == (arg as number);
    } else if (k1 !== null) {
      truth = arg1 === arg;
    } else if (isNilish(arg1) || isNilish(arg)) {
      truth = isNilish(arg1) && isNilish(arg);
    } else {
      const t1 = kindOf(arg1);
      const t2 = kindOf(arg);
      if (t1 !== t2) {
        throw new FuncError(sprintf("non-comparable types %s: %v, %s: %v", [arg1, goTypeName(arg1), goTypeName(arg), arg]));
      }
      if (t2 !== "func") throw new FuncError(sprintf("non-comparable type %s: %v", [arg, goTypeName(arg)]));
      truth = arg1 === arg;
    }
    if (truth) return true;
  }
  return false;
}

function lt(arg1: unknown, arg2: unknown): boolean {
  const k1 = basicKind(arg1);
  if (k1 === null) throw new FuncError(BAD_COMPARISON_TYPE);
  const k2 = basicKind(arg2);
  if (k2 === null) throw new FuncError(BAD_COMPARISON_TYPE);
  if (k1 !== k2) throw new FuncError(BAD_COMPARISON);
  if (k1 === "bool") throw new FuncError(BAD_COMPARISON_TYPE);
  if (k1 === "string") return compareBytes(arg1 as string, arg2 as string) < 0;
  return (arg1 as number) < (arg2 as number);
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function le(a: unknown, b: unknown): boolean {
  return lt(a, b) || eq(a, b);
}

/** Arguments of html/js/urlquery: one string as is, otherwise fmt.Sprint. */
function evalArgs(args: unknown[]): string {
  if (args.length === 1 && typeof args[0] === "string") return args[0];
  return sprint(args.map((a) => (a === null || a === undefined ? "<no value>" : a)));
}

const HTML_ESCAPES: Record<string, string> = { "\0": "\uFFFD", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;" };

export function htmlEscape(s: string): string {
  return s.replace(/[\0"'&<>]/g, (c) => HTML_ESCAPES[c]!);
}

const JS_ESCAPES: Record<string, string> = {
  "\\": "\\\\",
  "'": "\\'",
  '"': '\\"',
  "<": "\\u003C",
  ">": "\\u003E",
  "&": "\\u0026",
  "=": "\\u003D",
};

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

export function jsEscape(s: string): string {
  let out = "";
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    const esc = JS_ESCAPES[ch];
    if (esc !== undefined) out += esc;
    else if (cp < 0x20) out += `\\u00${cp.toString(16).toUpperCase().padStart(2, "0")}`;
    else if (cp < 0x80) out += ch;
    else if (PRINTABLE.test(ch)) out += ch;
    else out += `\\u${cp.toString(16).toUpperCase().padStart(4, "0")}`;
  }
  return out;
}

/** url.QueryEscape. */
export function queryEscape(s: string): string {
  let out = "";
  for (const b of Buffer.from(s, "utf8")) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === " ") out += "+";
    else out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The functions every template has (Go's builtins). */
export const BUILTINS: Record<string, TemplateFunc> = {
  and: def(["value"], () => undefined, "value"),
  or: def(["value"], () => undefined, "value"),
  call: def(["value"], call, "value"),
  html: def([], (...a: unknown[]) => htmlEscape(evalArgs(a)), "any"),
  index: def(["value"], index, "value"),
  slice: def(["value"], slice, "value"),
  js: def([], (...a: unknown[]) => jsEscape(evalArgs(a)), "any"),
  len: def(["value"], length),
  not: def(["value"], (v: unknown) => !isTrue(v)),
  print: def([], (...a: unknown[]) => sprint(a), "any"),
  printf: def(["string"], (f: string, ...a: unknown[]) => sprintf(f, a), "any"),
  println: def([], (...a: unknown[]) => sprintln(a), "any"),
  urlquery: def([], (...a: unknown[]) => queryEscape(evalArgs(a)), "any"),
  eq: def(["value"], eq, "value"),
  ne: def(["value", "value"], (a: unknown, b: unknown) => !eq(a, b)),
  lt: def(["value", "value"], lt),
  le: def(["value", "value"], le),
  gt: def(["value", "value"], (a: unknown, b: unknown) => !le(a, b)),
  ge: def(["value", "value"], (a: unknown, b: unknown) => !lt(a, b)),
};

// ---------------------------------------------------------------------------
// docker/cli templates/templates.go

/** Maps each rune with a simple (one rune to one rune) case mapping, as Go's unicode.ToUpper does. */
function mapRunes(s: string, f: (ch: string) => string): string {
  let out = "";
  for (const ch of s) {
    const m = f(ch);
    out += [...m].length === 1 ? m : ch;
  }
  return out;
}

const toUpperRune = (ch: string): string => ch.toUpperCase();
const toLowerRune = (ch: string): string => (ch === "\u0130" ? "i" : ch.toLowerCase());

/** strings.Title: upper-cases the first letter of each word. */
export function title(s: string): string {
  let prev = " ";
  let out = "";
  for (const ch of s) {
    out += isSeparator(prev) ? mapRunes(ch, toUpperRune) : ch;
    prev = ch;
  }
  return out;
}

function isSeparator(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  if (cp <= 0x7f) return !/[0-9a-zA-Z_]/.test(ch);
  if (/[\p{L}\p{Nd}]/u.test(ch)) return false;
  return /\s/u.test(ch);
}

/** strings.Split: an empty separator splits after each UTF-8 sequence. */
export function split(s: string, sep: string): string[] {
  return sep === "" ? [...s] : s.split(sep);
}

/** docker's padWithSpace: pads a non-empty string on both sides. */
export function padWithSpace(source: string, prefix: number, suffix: number): string {
  if (source === "") return source;
  if (prefix < 0 || suffix < 0) throw new FuncError("strings: negative Repeat count");
  return " ".repeat(prefix) + source + " ".repeat(suffix);
}

/** docker's truncateWithLength: the first `length` bytes. */
export function truncateWithLength(source: string, length: number): string {
  const bytes = Buffer.from(source, "utf8");
  if (bytes.length < length) return source;
  if (length < 0) throw new FuncError(`runtime error: slice bounds out of range [:${length}]`);
  return bytes.subarray(0, length).toString("utf8");
}

/** docker's basicFunctions. */
export const DOCKER_FUNCS: Record<string, TemplateFunc> = {
  json: def(["any"], goJSON),
  split: def(["string", "string"], split),
  join: def(["strings", "string"], (a: string[] | null, sep: string) => (a ?? []).join(sep)),
  title: def(["string"], title),
  lower: def(["string"], (s: string) => mapRunes(s, toLowerRune)),
  upper: def(["string"], (s: string) => mapRunes(s, toUpperRune)),
  pad: def(["string", "int", "int"], padWithSpace),
  truncate: def(["string", "int"], truncateWithLength),
};

const identity = (s: string): string => s;

/**
 * docker's HeaderFunctions: used for a table's header row so that
 * `{{upper .Name}}` still prints the header text unchanged (pad is kept so
 * that the header lines up with its column).
 */
export const DOCKER_HEADER_FUNCS: Record<string, TemplateFunc> = {
  json: def(["string"], identity),
  split: def(["string", "string"], identity),
  join: def(["string", "string"], identity),
  title: def(["string"], identity),
  lower: def(["string"], identity),
  upper: def(["string"], identity),
  truncate: def(["string", "int"], identity),
};
