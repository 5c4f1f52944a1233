/**
 * Output helpers shared by hako's commands: sizes the way go-units prints
 * them, column alignment and --format (both from the Go template package,
 * src/cli/template/).
 */
import { renderEach, tabwrite, type FormatOptions, type TabWriterOptions } from "./template/index.ts";

const DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/** Go's %.4g: four significant digits, trailing zeros dropped. */
function g4(n: number): string {
  return String(Number(n.toPrecision(4)));
}

function customSize(size: number, base: number, units: string[]): string {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return `${g4(size)}${units[i]}`;
}

/**
 * go-units HumanSize: decimal units, 4 significant digits.
 *
 * @example humanSize(12_345_678) // "12.35MB"
 */
export function humanSize(bytes: number): string {
  return customSize(bytes, 1000, DECIMAL_UNITS);
}

/**
 * go-units BytesSize: binary units (docker info's Total Memory).
 *
 * @example bytesSize(25_270_000_000) // "23.53GiB"
 */
export function bytesSize(bytes: number): string {
  return customSize(bytes, 1024, BINARY_UNITS);
}

/** text/tabwriter as `docker version` sets it up: tabwriter.NewWriter(out, 20, 1, 1, ' ', 0). */
export const VERSION_TABWRITER: TabWriterOptions = { minwidth: 20, tabwidth: 1, padding: 1, padchar: " " };

/**
 * Renders --format for a single value (version, info, inspect of one
 * object): docker's formatter rules through the Go template engine, with
 * "json" meaning {{json .}}; the output ends with a newline.
 *
 * @example renderFormat("{{.Server.Version}}", { Server: { Version: "0.1.0" } }) // "0.1.0\n"
 */
export function renderFormat(format: string, value: unknown, options: FormatOptions = {}): string {
  return renderEach(format, [value], options);
}

/**
 * Parses a --format up front, as docker does before any request: a bad
 * template is a TemplateError of phase "parse" (exit status 64).
 */
export function checkFormat(format: string, options: FormatOptions = {}): void {
  renderEach(format, [], options);
}

export { tabwrite };
