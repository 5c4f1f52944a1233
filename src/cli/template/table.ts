/**
 * docker/cli's formatter conventions (cli/command/formatter/formatter.go)
 * on top of the template engine:
 *
 * - `table ...` renders a header row, then one row per item, aligned by a
 *   tabwriter (minwidth 10, padding 3, spaces). The header comes from
 *   running the same template on a map of column headers, with docker's
 *   header functions (so `{{upper .Names}}` still prints `NAMES`); errors
 *   there are ignored, as docker ignores them.
 * - `json` means `{{json .}}`; any other format is executed once per item,
 *   each output followed by a newline.
 * - The format is trimmed of spaces and the two-character sequences `\t`
 *   and `\n` become a tab and a newline.
 * - Errors read `template parsing error: template: ...` as docker's do.
 */
import { TemplateError } from "./errors.ts";
import { type ExecOptions } from "./exec.ts";
import { DOCKER_HEADER_FUNCS, type FuncMap } from "./funcs.ts";
import { DOCKER_TABWRITER, type TabWriterOptions, tabwrite } from "./tabwriter.ts";
import { Template } from "./template.ts";
import { compareStrings, isStruct } from "./values.ts";

export const TABLE_FORMAT_KEY = "table";
export const JSON_FORMAT_KEY = "json";
export const JSON_FORMAT = "{{json .}}";

export interface FormatOptions extends Pick<ExecOptions, "strictFields"> {
  /** Extra template functions. */
  funcs?: FuncMap;
  /** The template used for the bare format `table` (each command has its own default). */
  defaultTableFormat?: string;
  tabwriter?: TabWriterOptions;
  /** The template's name in messages (docker version's is "version"). */
  name?: string;
  /** Execution failures as Go words them, without docker's "template parsing error: " (info, version). */
  plainExecuteErrors?: boolean;
}

/** docker's Format.IsTable: any format starting with "table". */
export function isTableFormat(format: string): boolean {
  return format.startsWith(TABLE_FORMAT_KEY);
}

/** docker's Format.IsJSON: exactly "json". */
export function isJSONFormat(format: string): boolean {
  return format === JSON_FORMAT_KEY;
}

/** docker's preFormat: the template text a --format value stands for. */
export function templateText(format: string, options: FormatOptions = {}): string {
  let text = format;
  if (format === TABLE_FORMAT_KEY && options.defaultTableFormat !== undefined) text = options.defaultTableFormat;
  if (isTableFormat(text)) text = text.slice(TABLE_FORMAT_KEY.length);
  else if (isJSONFormat(text)) text = JSON_FORMAT;
  text = text.replace(/^ +| +$/g, "");
  return text.replaceAll("\\t", "\t").replaceAll("\\n", "\n");
}

function dockerError(err: unknown, options: FormatOptions): never {
  if (err instanceof TemplateError && !(options.plainExecuteErrors && err.phase !== "parse")) {
    throw new TemplateError(err.phase, `template parsing error: ${err.message}`, err.output);
  }
  throw err;
}

function parseFormat(text: string, options: FormatOptions): Template {
  try {
    return Template.parse(text, { ...(options.funcs === undefined ? {} : { funcs: options.funcs }), ...(options.name === undefined ? {} : { name: options.name }) });
  } catch (err) {
    dockerError(err, options);
  }
}

/**
 * docker's formatter contexts marshal to JSON as maps (formatter.MarshalJSON
 * calls every exported method without arguments), so `{{json .}}` on a row
 * lists its keys sorted. Plain-object rows get their keys reordered; a
 * class-instance row is wrapped so that its JSON holds what Go would export:
 * fields, getters and argument-less methods whose names start with a capital.
 */
function asContext(row: unknown): unknown {
  if (typeof row !== "object" || row === null || Array.isArray(row) || row instanceof Map) return row;
  const proto = Object.getPrototypeOf(row) as object | null;
  // Plain data marked as a struct (goStruct) keeps its field order, as Go's structs do.
  if (proto === Object.prototype || proto === null) return isStruct(row) ? row : sortedCopy(row as Record<string, unknown>);
  const wrapper = Object.create(row) as Record<string, unknown>;
  // A row that marshals otherwise than it prints (docker's custom MarshalJSON) brings its own toJSON.
  const own = (row as { toJSON?: unknown }).toJSON;
  Object.defineProperty(wrapper, "toJSON", { value: typeof own === "function" ? () => (own as () => unknown).call(row) : () => marshalContext(row), enumerable: false });
  return wrapper;
}

function sortedCopy(obj: Record<string, unknown>): Record<string, unknown> {
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(obj).sort(compareStrings)) sorted[k] = obj[k];
  return sorted;
}

function marshalContext(row: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) if (/^\p{Lu}/u.test(k) && typeof v !== "function") out[k] = v;
  for (let p = Object.getPrototypeOf(row) as object | null; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const [name, desc] of Object.entries(Object.getOwnPropertyDescriptors(p))) {
      if (name in out || !/^\p{Lu}/u.test(name) || name === "FullHeader") continue;
      if (desc.get !== undefined) out[name] = desc.get.call(row);
      else if (typeof desc.value === "function" && (desc.value as () => unknown).length === 0) out[name] = (desc.value as () => unknown).call(row);
    }
  }
  return sortedCopy(out);
}

function renderRows(tmpl: Template, rows: readonly unknown[], options: FormatOptions): string {
  let out = "";
  for (const row of rows) {
    try {
      out += tmpl.execute(asContext(row), { strictFields: options.strictFields ?? false });
    } catch (err) {
      dockerError(err, options);
    }
    out += "\n";
  }
  return out;
}

/**
 * Renders a non-table format: one execution per row, each followed by a
 * newline (`--format json` gives one JSON object per line).
 */
export function renderEach(format: string, rows: readonly unknown[], options: FormatOptions = {}): string {
  const tmpl = parseFormat(templateText(format, options), options);
  return renderRows(tmpl, rows, options);
}

/**
 * Renders `table ...`: the header row (the template run on `headers`, a map
 * from field name to column title), then the rows, aligned into columns.
 * The header is printed even when there are no rows, as docker does.
 */
export function renderTable(
  format: string,
  rows: readonly unknown[],
  headers: Readonly<Record<string, string>>,
  options: FormatOptions = {},
): string {
  const tmpl = parseFormat(templateText(format, options), options);
  const body = renderRows(tmpl, rows, options);
  let header: string;
  try {
    header = tmpl.execute(headers, { funcs: DOCKER_HEADER_FUNCS, missingKey: "zero" });
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    header = err.output;
  }
  return tabwrite(`${header}\n${body}`, options.tabwriter ?? DOCKER_TABWRITER);
}

/**
 * Picks table or per-row rendering from the format, as docker's
 * Context.Write does. A list's format that does not parse exits 1 (its
 * formatter reports it as any other error), not 64.
 */
export function renderFormat(
  format: string,
  rows: readonly unknown[],
  headers: Readonly<Record<string, string>> = {},
  options: FormatOptions = {},
): string {
  const effective = format === TABLE_FORMAT_KEY && options.defaultTableFormat !== undefined ? options.defaultTableFormat : format;
  try {
    return isTableFormat(effective) ? renderTable(format, rows, headers, options) : renderEach(format, rows, options);
  } catch (err) {
    if (err instanceof TemplateError && err.exitStatus !== 1) throw new TemplateError(err.phase, err.message, err.output, 1);
    throw err;
  }
}
