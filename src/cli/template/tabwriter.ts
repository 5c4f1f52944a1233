/**
 * Elastic tabstops as Go's text/tabwriter computes them (docker's fork,
 * which measures cells in terminal columns): cells are tab-terminated,
 * a column is a run of consecutive lines that have a cell there, its width
 * is max(minwidth, widest cell + padding), and the last cell of a line is
 * not part of any column, so it is never padded.
 */

export interface TabWriterOptions {
  minwidth: number;
  tabwidth: number;
  padding: number;
  padchar: string;
  alignRight?: boolean;
  /** Print '|' between columns (Go's Debug flag). */
  debug?: boolean;
}

/** docker/cli's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`. */
export const DOCKER_TABWRITER: TabWriterOptions = { minwidth: 10, tabwidth: 1, padding: 3, padchar: " " };

interface Cell {
  text: string;
  width: number;
  htab: boolean;
}

// East Asian Wide and Fullwidth ranges plus emoji, which take two columns.
const WIDE: [number, number][] = [
  [0x1100, 0x115f],
  [0x231a, 0x231b],
  [0x2329, 0x232a],
  [0x23e9, 0x23ec],
  [0x23f0, 0x23f0],
  [0x23f3, 0x23f3],
  [0x25fd, 0x25fe],
  [0x2614, 0x2615],
  [0x2648, 0x2653],
  [0x267f, 0x267f],
  [0x2693, 0x2693],
  [0x26a1, 0x26a1],
  [0x26aa, 0x26ab],
  [0x26bd, 0x26be],
  [0x26c4, 0x26c5],
  [0x26ce, 0x26ce],
  [0x26d4, 0x26d4],
  [0x26ea, 0x26ea],
  [0x26f2, 0x26f3],
  [0x26f5, 0x26f5],
  [0x26fa, 0x26fa],
  [0x26fd, 0x26fd],
  [0x2705, 0x2705],
  [0x270a, 0x270b],
  [0x2728, 0x2728],
  [0x274c, 0x274c],
  [0x274e, 0x274e],
  [0x2753, 0x2755],
  [0x2757, 0x2757],
  [0x2795, 0x2797],
  [0x27b0, 0x27b0],
  [0x27bf, 0x27bf],
  [0x2b1b, 0x2b1c],
  [0x2b50, 0x2b50],
  [0x2b55, 0x2b55],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x17000, 0x18cff],
  [0x1b000, 0x1b2ff],
  [0x1f004, 0x1f004],
  [0x1f0cf, 0x1f0cf],
  [0x1f18e, 0x1f18e],
  [0x1f191, 0x1f19a],
  [0x1f200, 0x1f251],
  [0x1f300, 0x1f64f],
  [0x1f680, 0x1f6ff],
  [0x1f7e0, 0x1f7eb],
  [0x1f90c, 0x1f9ff],
  [0x1fa70, 0x1faff],
  [0x20000, 0x3fffd],
];

const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}\p{Cc}]$/u;

function runeWidth(cp: number, ch: string): number {
  if (cp < 0x300) return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ? 0 : 1;
  if (ZERO_WIDTH.test(ch)) return 0;
  let lo = 0;
  let hi = WIDE.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = WIDE[mid]!;
    if (cp < a) hi = mid - 1;
    else if (cp > b) lo = mid + 1;
    else return 2;
  }
  return 1;
}

/** Terminal columns taken by `s` (go-runewidth's StringWidth, simplified). */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += runeWidth(ch.codePointAt(0)!, ch);
  return w;
}

/**
 * Aligns tab-separated text. `\t` and `\v` end cells, `\n` and `\f` end
 * lines; `\f` also ends every column (Go's flush), and comes out as `\n`.
 */
export function tabwrite(text: string, opts: TabWriterOptions = DOCKER_TABWRITER): string {
  let out = "";
  // Segments separated by formfeeds are formatted independently.
  const segments = text.split("\f");
  segments.forEach((segment, si) => {
    const last = si === segments.length - 1;
    const lines: Cell[][] = [];
    const rawLines = segment.split("\n");
    rawLines.forEach((raw) => {
      const cells: Cell[] = [];
      let cur = "";
      for (const ch of raw) {
        if (ch === "\t" || ch === "\v") {
          cells.push({ text: cur, width: displayWidth(cur), htab: ch === "\t" });
          cur = "";
        } else cur += ch;
      }
      cells.push({ text: cur, width: displayWidth(cur), htab: false });
      lines.push(cells);
    });
    // At the very end Go only terminates the pending cell if it has text.
    const tail = lines[lines.length - 1]!;
    if (last && tail[tail.length - 1]!.text === "") tail.pop();
    out += formatLines(lines, opts);
    if (!last) out += "\n";
  });
  return out;
}

function formatLines(lines: Cell[][], opts: TabWriterOptions): string {
  let out = "";
  const widths: number[] = [];
  const padding = (textw: number, cellw: number): string => {
    if (opts.padchar === "\t") {
      if (opts.tabwidth === 0) return "";
      const cw = Math.ceil(cellw / opts.tabwidth) * opts.tabwidth;
      return "\t".repeat(Math.ceil((cw - textw) / opts.tabwidth));
    }
    return opts.padchar.repeat(Math.max(cellw - textw, 0));
  };
  const writeLines = (line0: number, line1: number): void => {
    for (let i = line0; i < line1; i++) {
      const line = lines[i]!;
      line.forEach((c, j) => {
        if (j > 0 && opts.debug) out += "|";
        if (c.text === "") {
          if (j < widths.length) out += padding(c.width, widths[j]!);
        } else if (!opts.alignRight) {
          out += c.text;
          if (j < widths.length) out += padding(c.width, widths[j]!);
        } else {
          if (j < widths.length) out += padding(c.width, widths[j]!);
          out += c.text;
        }
      });
      if (i + 1 < lines.length) out += "\n";
    }
  };
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    for (let i = line0; i < line1; i++) {
      if (column >= lines[i]!.length - 1) continue;
      writeLines(line0, i);
      line0 = i;
      let width = opts.minwidth;
      for (; i < line1; i++) {
        const line = lines[i]!;
        if (column >= line.length - 1) break;
        width = Math.max(width, line[column]!.width + opts.padding);
      }
      widths.push(width);
      format(line0, i);
      widths.pop();
      line0 = i;
    }
    writeLines(line0, line1);
  };
  format(0, lines.length);
  return out;
}
