/**
 * The part of Go's fmt that templates reach: Sprint, Sprintln and Sprintf
 * over the value model of values.ts, with Go's verbs, flags, width and
 * precision, its float formatting (shortest `%v`, exact round-half-even
 * `%.Nf`/`%e`/`%g`), strconv.Quote for `%q`, `map[k:v]` and `[a b]` for
 * composites, and its in-band errors (`%!d(string=x)`, `%!s(MISSING)`,
 * `%!(EXTRA int=1)`).
 */
import { isPrint, quote, quoteRune } from "../../common/strconv.ts";
import { goTypeName, kindOf, lookupField, mapEntries } from "./values.ts";

export { isPrint, quote };

interface Flags {
  plus: boolean;
  minus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  plusV: boolean;
  sharpV: boolean;
  wid: number;
  widPresent: boolean;
  prec: number;
  precPresent: boolean;
}

function newFlags(): Flags {
  return {
    plus: false,
    minus: false,
    sharp: false,
    space: false,
    zero: false,
    plusV: false,
    sharpV: false,
    wid: 0,
    widPresent: false,
    prec: 0,
    precPresent: false,
  };
}

function runeCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

// ---------------------------------------------------------------------------
// strconv (quoting: common/strconv.ts)

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function canBackquote(s: string): boolean {
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0x60 || cp === 0xfeff) return false;
    if ((cp < 0x20 && cp !== 9) || cp === 0x7f) return false;
    if (cp >= 0xd800 && cp < 0xe000) return false;
  }
  return true;
}

// Decimal digits of a double, as strconv's decimal type: value = 0.d × 10^dp.

interface Decimal {
  d: string;
  dp: number;
}

function trimZeros(dec: Decimal): Decimal {
  let d = dec.d.replace(/0+$/, "");
  let dp = dec.dp;
  const lead = d.length - d.replace(/^0+/, "").length;
  d = d.slice(lead);
  dp -= lead;
  if (d === "") dp = 0;
  return { d, dp };
}

/** The shortest digits that round-trip (what Go's 'g', -1 and %v use). */
function shortestDecimal(x: number): Decimal {
  if (x === 0) return { d: "", dp: 0 };
  const [mant, exp] = x.toExponential().split("e") as [string, string];
  return trimZeros({ d: mant.replace(".", ""), dp: Number(exp) + 1 });
}

/** A finite non-negative double as mant × 2^exp, mant an integer below 2^53 (the form of strconv's %b). */
function float64Parts(x: number): { mant: bigint; exp: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const biased = (hi >>> 20) & 0x7ff;
  const fraction = (BigInt(hi & 0xfffff) << 32n) | BigInt(view.getUint32(4));
  // A subnormal lacks the implicit leading 1 and shares the smallest exponent.
  return biased === 0 ? { mant: fraction, exp: -1074 } : { mant: fraction | (1n << 52n), exp: biased - 1075 };
}

/** The exact decimal expansion of a finite positive double. */
function exactDecimal(x: number): Decimal {
  if (x === 0) return { d: "", dp: 0 };
  const { mant, exp: e } = float64Parts(x);
  if (e >= 0) {
    const s = (mant << BigInt(e)).toString();
    return trimZeros({ d: s, dp: s.length });
  }
  const s = (mant * 5n ** BigInt(-e)).toString();
  return trimZeros({ d: s, dp: s.length + e });
}

/** Rounds to nd digits, half to even on the exact digits (strconv's decimal.Round). */
function roundDecimal(dec: Decimal, nd: number): Decimal {
  if (nd < 0 || nd >= dec.d.length) return dec;
  const next = dec.d.charCodeAt(nd) - 48;
  let up: boolean;
  if (next === 5 && nd + 1 === dec.d.length) up = nd > 0 && (dec.d.charCodeAt(nd - 1) - 48) % 2 === 1;
  else up = next >= 5;
  if (!up) return trimZeros({ d: dec.d.slice(0, nd), dp: dec.dp });
  let i = nd - 1;
  while (i >= 0 && dec.d[i] === "9") i--;
  if (i < 0) return { d: "1", dp: dec.dp + 1 };
  return trimZeros({ d: dec.d.slice(0, i) + String.fromCharCode(dec.d.charCodeAt(i) + 1), dp: dec.dp });
}

function digitAt(dec: Decimal, i: number): string {
  return i >= 0 && i < dec.d.length ? dec.d[i]! : "0";
}

function fmtE(dec: Decimal, prec: number, e: string): string {
  let s = dec.d.length === 0 ? "0" : dec.d[0]!;
  if (prec > 0) {
    s += ".";
    for (let i = 1; i <= prec; i++) s += digitAt(dec, i);
  }
  const exp = dec.d.length === 0 ? 0 : dec.dp - 1;
  const abs = Math.abs(exp);
  return `${s}${e}${exp < 0 ? "-" : "+"}${abs < 10 ? "0" : ""}${abs}`;
}

function fmtF(dec: Decimal, prec: number): string {
  let s = "";
  if (dec.dp > 0) {
    for (let i = 0; i < dec.dp; i++) s += digitAt(dec, i);
  } else s = "0";
  if (prec > 0) {
    s += ".";
    for (let i = 1; i <= prec; i++) s += digitAt(dec, dec.dp + i - 1);
  }
  return s;
}

function fmtHexFloat(x: number, prec: number, upper: boolean): string {
  let s: string;
  if (x === 0) {
    s = `0x0${prec > 0 ? `.${"0".repeat(prec)}` : ""}p+00`;
  } else {
    let { mant, exp } = float64Parts(x);
    // 1.fraction × 2^exp: a subnormal is shifted up until its leading 1 stands where a normal number's is.
    exp += 52;
    while ((mant & (1n << 52n)) === 0n) {
      mant <<= 1n;
      exp--;
    }
    mant &= (1n << 52n) - 1n;
    // 52 fraction bits = 13 hex digits.
    let frac = mant;
    let digits = 13;
    if (prec >= 0 && prec < 13) {
      const shift = BigInt(4 * (13 - prec));
      const half = 1n << (shift - 1n);
      const rem = frac & ((1n << shift) - 1n);
      frac >>= shift;
      if (rem > half || (rem === half && (frac & 1n) === 1n)) frac++;
      digits = prec;
      if (frac >> BigInt(4 * prec) !== 0n) {
        frac = 0n;
        exp++;
      }
    }
    let fs = digits > 0 ? frac.toString(16).padStart(digits, "0") : "";
    if (prec < 0) fs = fs.replace(/0+$/, "");
    else if (prec > 13) fs = fs.padEnd(prec, "0");
    const ae = Math.abs(exp);
    s = `0x1${fs ? `.${fs}` : ""}p${exp < 0 ? "-" : "+"}${ae < 10 ? "0" : ""}${ae}`;
  }
  return upper ? s.toUpperCase() : s;
}

/**
 * strconv.FormatFloat(x, verb, prec, 64) for verbs e E f F g G b x X;
 * prec -1 means the shortest representation.
 */
export function formatFloat(x: number, verb: string, prec: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "+Inf" : "-Inf";
  const neg = x < 0 || Object.is(x, -0);
  const abs = Math.abs(x);
  const sign = neg ? "-" : "";
  if (verb === "b") {
    const { mant, exp } = float64Parts(abs);
    return `${sign}${mant}p${exp >= 0 ? "+" : ""}${exp}`;
  }
  if (verb === "x" || verb === "X") return sign + fmtHexFloat(abs, prec, verb === "X");
  const shortest = prec < 0;
  let dec: Decimal;
  if (shortest) {
    dec = shortestDecimal(abs);
  } else {
    dec = exactDecimal(abs);
    if (verb === "e" || verb === "E") dec = roundDecimal(dec, prec + 1);
    else if (verb === "f" || verb === "F") dec = roundDecimal(dec, dec.dp + prec);
    else {
      if (prec === 0) prec = 1;
      dec = roundDecimal(dec, prec);
    }
  }
  switch (verb) {
    case "e":
    case "E":
      return sign + fmtE(dec, shortest ? Math.max(dec.d.length - 1, 0) : prec, verb);
    case "f":
    case "F":
      return sign + fmtF(dec, shortest ? Math.max(dec.d.length - dec.dp, 0) : prec);
    default: {
      let p = shortest ? dec.d.length : prec;
      let eprec = p;
      if (eprec > dec.d.length && dec.d.length >= dec.dp) eprec = dec.d.length;
      if (shortest) eprec = 6;
      const exp = dec.dp - 1;
      if (exp < -4 || exp >= eprec) {
        if (p > dec.d.length) p = dec.d.length;
        return sign + fmtE(dec, Math.max(p - 1, 0), verb === "g" ? "e" : "E");
      }
      if (p > dec.dp) p = dec.d.length;
      return sign + fmtF(dec, Math.max(p - dec.dp, 0));
    }
  }
}

// ---------------------------------------------------------------------------
// The printer

/**
 * Go's error and fmt.Stringer interfaces: an Error instance prints its
 * message, a class instance with an `Error()` or `String()` method prints
 * what that returns.
 */
function stringerText(obj: object): string | undefined {
  if (obj instanceof Error) return obj.message;
  for (const name of ["Error", "String"]) {
    const m = lookupField(obj, name);
    if (m.method) {
      const text = (m.value as () => unknown).call(obj);
      if (typeof text === "string") return text;
    }
  }
  return undefined;
}

class Printer {
  buf = "";
  f: Flags = newFlags();

  private padding(n: number): string {
    if (n <= 0) return "";
    return (this.f.zero ? "0" : " ").repeat(n);
  }

  pad(s: string): void {
    if (!this.f.widPresent || this.f.wid === 0) {
      this.buf += s;
      return;
    }
    const width = this.f.wid - runeCount(s);
    if (!this.f.minus) this.buf += this.padding(width) + s;
    else this.buf += s + this.padding(width);
  }

  /** Pads with spaces whatever the zero flag says. */
  padSpaces(s: string): void {
    const zero = this.f.zero;
    this.f.zero = false;
    this.pad(s);
    this.f.zero = zero;
  }

  truncate(s: string): string {
    if (this.f.precPresent) {
      const runes = [...s];
      if (runes.length > this.f.prec) return runes.slice(0, this.f.prec).join("");
    }
    return s;
  }

  fmtBool(v: boolean, verb: string, arg: unknown): void {
    if (verb === "t" || verb === "v") this.pad(v ? "true" : "false");
    else this.badVerb(verb, arg);
  }

  fmtInteger(v: bigint, base: number, verb: string, upper: boolean): void {
    const f = this.f;
    const negative = v < 0n;
    const u = negative ? -v : v;
    let prec = 0;
    if (f.precPresent) {
      prec = f.prec;
      if (prec === 0 && u === 0n) {
        const zero = f.zero;
        f.zero = false;
        this.buf += this.padding(f.wid);
        f.zero = zero;
        return;
      }
    } else if (f.zero && f.widPresent) {
      prec = f.wid;
      if (negative || f.plus || f.space) prec--;
    }
    let digits = u.toString(base);
    if (upper) digits = digits.toUpperCase();
    if (digits.length < prec) digits = "0".repeat(prec - digits.length) + digits;
    if (f.sharp) {
      if (base === 2) digits = `0b${digits}`;
      else if (base === 8 && digits[0] !== "0") digits = `0${digits}`;
      else if (base === 16) digits = (upper ? "0X" : "0x") + digits;
    }
    if (verb === "O") digits = `0o${digits}`;
    if (negative) digits = `-${digits}`;
    else if (f.plus) digits = `+${digits}`;
    else if (f.space) digits = ` ${digits}`;
    this.padSpaces(digits);
  }

  fmtInt(v: number | bigint, verb: string, arg: unknown): void {
    const big = typeof v === "bigint" ? v : BigInt(v);
    switch (verb) {
      case "v":
      case "d":
        return this.fmtInteger(big, 10, verb, false);
      case "b":
        return this.fmtInteger(big, 2, verb, false);
      case "o":
      case "O":
        return this.fmtInteger(big, 8, verb, false);
      case "x":
        return this.fmtInteger(big, 16, verb, false);
      case "X":
        return this.fmtInteger(big, 16, verb, true);
      case "c": {
        const cp = big < 0n || big > 0x10ffffn || (big >= 0xd800n && big < 0xe000n) ? 0xfffd : Number(big);
        return this.pad(String.fromCodePoint(cp));
      }
      case "q": {
        const cp = big < 0n || big > 0x10ffffn ? 0xfffd : Number(big);
        if (this.f.sharp && isPrint(cp)) return this.padSpaces(`'${String.fromCodePoint(cp)}'`);
        return this.padSpaces(quoteRune(cp, this.f.plus));
      }
      case "U": {
        let h = (big < 0n ? big + (1n << 64n) : big).toString(16).toUpperCase();
        const prec = this.f.precPresent && this.f.prec > 4 ? this.f.prec : 4;
        h = h.padStart(prec, "0");
        let s = `U+${h}`;
        if (this.f.sharp && big >= 0n && big <= 0x10ffffn && isPrint(Number(big))) s += ` '${String.fromCodePoint(Number(big))}'`;
        return this.padSpaces(s);
      }
      case "e":
      case "E":
      case "f":
      case "F":
      case "g":
      case "G":
        // JavaScript cannot tell 2.0 from 2: a float verb on an integral
        // number formats it as the float64 it most likely was.
        return this.fmtFloatVerb(Number(big), verb, arg);
      default:
        return this.badVerb(verb, arg);
    }
  }

  fmtFloatVerb(v: number, verb: string, arg: unknown): void {
    switch (verb) {
      case "v":
        return this.fmtFloat(v, "g", -1);
      case "b":
      case "g":
      case "G":
      case "x":
      case "X":
        return this.fmtFloat(v, verb, -1);
      case "f":
      case "e":
      case "E":
      case "F":
        return this.fmtFloat(v, verb, 6);
      default:
        return this.badVerb(verb, arg);
    }
  }

  fmtFloat(v: number, verb: string, prec: number): void {
    const f = this.f;
    if (f.precPresent) prec = f.prec;
    let num = formatFloat(v, verb, prec);
    if (num[0] !== "-" && num[0] !== "+") num = `+${num}`;
    if (f.space && num[0] === "+" && !f.plus) num = ` ${num.slice(1)}`;
    if (num[1] === "I" || num[1] === "N") {
      if (num[1] === "N" && !f.space && !f.plus) num = num.slice(1);
      this.padSpaces(num);
      return;
    }
    if (f.sharp && verb !== "b") {
      let digits = 0;
      if (verb === "v" || verb === "g" || verb === "G" || verb === "x") digits = prec === -1 ? 6 : prec;
      let tail = "";
      let hasPoint = false;
      let sawNonzero = false;
      let body = num;
      for (let i = 1; i < body.length; i++) {
        const c = body[i]!;
        if (c === ".") {
          hasPoint = true;
          continue;
        }
        if (c === "p" || c === "P" || ((c === "e" || c === "E") && verb !== "x" && verb !== "X")) {
          tail = body.slice(i);
          body = body.slice(0, i);
          break;
        }
        if (c !== "0") sawNonzero = true;
        if (sawNonzero) digits--;
      }
      if (!hasPoint) {
        if (body.length === 2 && body[1] === "0") digits--;
        body += ".";
      }
      if (digits > 0) body += "0".repeat(digits);
      num = body + tail;
    }
    if (f.plus || num[0] !== "+") {
      if (f.zero && f.widPresent && f.wid > num.length) {
        this.buf += num[0] + "0".repeat(f.wid - num.length) + num.slice(1);
        return;
      }
      this.pad(num);
      return;
    }
    this.pad(num.slice(1));
  }

  fmtString(s: string, verb: string, arg: unknown): void {
    switch (verb) {
      case "v":
        if (this.f.sharpV) return this.pad(quote(s));
        return this.pad(this.truncate(s));
      case "s":
        return this.pad(this.truncate(s));
      case "x":
      case "X":
        return this.fmtSbx(s, verb === "X");
      case "q": {
        const t = this.truncate(s);
        if (this.f.sharp && canBackquote(t)) return this.pad(`\`${t}\``);
        return this.pad(quote(t, this.f.plus));
      }
      default:
        return this.badVerb(verb, arg);
    }
  }

  fmtSbx(s: string, upper: boolean): void {
    let bytes = [...Buffer.from(s, "utf8")];
    if (this.f.precPresent && this.f.prec < bytes.length) bytes = bytes.slice(0, this.f.prec);
    if (bytes.length === 0) {
      if (this.f.widPresent) this.buf += " ".repeat(this.f.wid);
      return;
    }
    const prefix = this.f.sharp ? (upper ? "0X" : "0x") : "";
    const hex = bytes.map((b) => (upper ? hex2(b).toUpperCase() : hex2(b)));
    const out = this.f.space ? hex.map((h) => prefix + h).join(" ") : prefix + hex.join("");
    this.padSpaces(out);
  }

  badVerb(verb: string, arg: unknown): void {
    this.buf += `%!${verb}(`;
    if (arg === null || arg === undefined) this.buf += "<nil>";
    else {
      this.buf += `${goTypeName(arg)}=`;
      this.printArg(arg, "v", 1);
    }
    this.buf += ")";
  }

  printArg(arg: unknown, verb: string, depth = 0): void {
    const kind = kindOf(arg);
    if (kind === "invalid" || kind === "nil") {
      if (depth > 0) this.buf += "<nil>";
      else if (verb === "T" || verb === "v") this.padSpaces("<nil>");
      else this.badVerb(verb, arg);
      return;
    }
    if (verb === "T") {
      this.pad(this.truncate(goTypeName(arg)));
      return;
    }
    if (kind === "map" && "vsxXq".includes(verb) && !this.f.sharpV) {
      const text = stringerText(arg as object);
      if (text !== undefined) return this.fmtString(text, verb, arg);
    }
    switch (kind) {
      case "bool":
        return this.fmtBool(arg as boolean, verb, arg);
      case "int":
        return this.fmtInt(arg as number | bigint, verb, arg);
      case "float":
        return this.fmtFloatVerb(arg as number, verb, arg);
      case "string":
        return this.fmtString(arg as string, verb, arg);
      case "slice":
        return this.printElements(arg, arg as unknown[], "[", (v) => this.printNested(v, verb));
      case "map":
        return this.printElements(arg, mapEntries(arg as object), "map[", ([k, v]) => {
          this.printNested(k, verb);
          this.buf += ":";
          this.printNested(v, verb);
        });
      case "func":
        if (verb === "v" || verb === "p") this.pad("0x0");
        else this.badVerb(verb, arg);
        return;
    }
  }

  /** A slice's or map's elements: Go syntax (`T{a, b}`) under %#v, else `[a b]` after `open`. */
  private printElements<T>(arg: unknown, items: readonly T[], open: string, printItem: (item: T) => void): void {
    const [start, sep, end] = this.f.sharpV ? [`${goTypeName(arg)}{`, ", ", "}"] : [open, " ", "]"];
    this.buf += start;
    items.forEach((item, i) => {
      if (i > 0) this.buf += sep;
      printItem(item);
    });
    this.buf += end;
  }

  private printNested(v: unknown, verb: string): void {
    if (v === null || v === undefined) {
      this.buf += this.f.sharpV ? "interface {}(nil)" : "<nil>";
      return;
    }
    this.printArg(v, verb, 1);
  }
}

/** fmt.Sprint: spaces between operands when neither side is a string. */
export function sprint(args: unknown[]): string {
  const p = new Printer();
  let prevString = false;
  args.forEach((arg, i) => {
    const isString = typeof arg === "string";
    if (i > 0 && !isString && !prevString) p.buf += " ";
    p.f = newFlags();
    p.printArg(arg, "v");
    prevString = isString;
  });
  return p.buf;
}

/** fmt.Sprintln: spaces between all operands, newline at the end. */
export function sprintln(args: unknown[]): string {
  const p = new Printer();
  args.forEach((arg, i) => {
    if (i > 0) p.buf += " ";
    p.f = newFlags();
    p.printArg(arg, "v");
  });
  return `${p.buf}\n`;
}

/** The text `{{.}}` prints for a value (fmt.Sprint of one operand). */
export function formatValue(v: unknown): string {
  return sprint([v]);
}

const TOO_LARGE = 1e6;

function parseNum(s: string, start: number, end: number): { num: number; isNum: boolean; next: number } {
  let num = 0;
  let isNum = false;
  let i = start;
  if (start >= end) return { num: 0, isNum: false, next: end };
  for (; i < end && s[i]! >= "0" && s[i]! <= "9"; i++) {
    if (num > TOO_LARGE || num < -TOO_LARGE) return { num: 0, isNum: false, next: end };
    num = num * 10 + (s.charCodeAt(i) - 48);
    isNum = true;
  }
  return { num, isNum, next: i };
}

/** fmt.Sprintf. */
export function sprintf(format: string, args: unknown[]): string {
  const p = new Printer();
  const end = format.length;
  let argNum = 0;
  let afterIndex = false;
  let reordered = false;
  let goodArgNum = true;

  const argNumber = (i: number): number => {
    afterIndex = false;
    if (i >= end || format[i] !== "[") return i;
    reordered = true;
    // parseArgNumber: "[n]" with n one-based.
    const rest = format.slice(i);
    if (rest.length < 3) {
      goodArgNum = false;
      return i + 1;
    }
    for (let j = 1; j < rest.length; j++) {
      if (rest[j] === "]") {
        const { num, isNum, next } = parseNum(rest, 1, j);
        if (!isNum || next !== j) {
          goodArgNum = false;
          return i + j + 1;
        }
        const index = num - 1;
        if (index >= 0 && index < args.length) {
          argNum = index;
          afterIndex = true;
          return i + j + 1;
        }
        goodArgNum = false;
        afterIndex = true;
        return i + j + 1;
      }
    }
    goodArgNum = false;
    return i + 1;
  };
  const intFromArg = (): { num: number; isInt: boolean } => {
    if (argNum >= args.length) return { num: 0, isInt: false };
    const a = args[argNum];
    argNum++;
    if (kindOf(a) !== "int") return { num: 0, isInt: false };
    const n = Number(a);
    if (n > TOO_LARGE || n < -TOO_LARGE) return { num: 0, isInt: false };
    return { num: n, isInt: true };
  };

  let i = 0;
  while (i < end) {
    goodArgNum = true;
    const lasti = i;
    while (i < end && format[i] !== "%") i++;
    if (i > lasti) p.buf += format.slice(lasti, i);
    if (i >= end) break;
    i++;
    const f = (p.f = newFlags());
    flags: for (; i < end; i++) {
      switch (format[i]) {
        case "#":
          f.sharp = true;
          break;
        case "0":
          f.zero = !f.minus;
          break;
        case "+":
          f.plus = true;
          break;
        case "-":
          f.minus = true;
          f.zero = false;
          break;
        case " ":
          f.space = true;
          break;
        default:
          break flags;
      }
    }
    i = argNumber(i);
    if (i < end && format[i] === "*") {
      i++;
      const r = intFromArg();
      f.wid = r.num;
      f.widPresent = r.isInt;
      if (!f.widPresent) p.buf += "%!(BADWIDTH)";
      if (f.wid < 0) {
        f.wid = -f.wid;
        f.minus = true;
        f.zero = false;
      }
      afterIndex = false;
    } else {
      const r = parseNum(format, i, end);
      f.wid = r.num;
      f.widPresent = r.isNum;
      i = r.next;
      if (afterIndex && f.widPresent) goodArgNum = false;
    }
    if (i + 1 <= end && format[i] === ".") {
      i++;
      if (afterIndex) goodArgNum = false;
      i = argNumber(i);
      if (i < end && format[i] === "*") {
        i++;
        const r = intFromArg();
        f.prec = r.num;
        f.precPresent = r.isInt;
        if (f.prec < 0) {
          f.prec = 0;
          f.precPresent = false;
        }
        if (!f.precPresent) p.buf += "%!(BADPREC)";
        afterIndex = false;
      } else {
        const r = parseNum(format, i, end);
        f.prec = r.num;
        f.precPresent = true;
        i = r.next;
      }
    }
    if (!afterIndex) i = argNumber(i);
    if (i >= end) {
      p.buf += "%!(NOVERB)";
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i)!);
    i += verb.length;
    if (verb === "%") {
      p.buf += "%";
      continue;
    }
    if (!goodArgNum) {
      p.buf += `%!${verb}(BADINDEX)`;
      continue;
    }
    if (argNum >= args.length) {
      p.buf += `%!${verb}(MISSING)`;
      continue;
    }
    if (verb === "v") {
      f.sharpV = f.sharp;
      f.sharp = false;
      f.plusV = f.plus;
      f.plus = false;
    }
    p.printArg(args[argNum], verb);
    argNum++;
  }
  if (!reordered && argNum < args.length) {
    p.f = newFlags();
    p.buf += "%!(EXTRA ";
    args.slice(argNum).forEach((arg, k) => {
      if (k > 0) p.buf += ", ";
      if (arg === null || arg === undefined) p.buf += "<nil>";
      else {
        p.buf += `${goTypeName(arg)}=`;
        p.printArg(arg, "v");
      }
    });
    p.buf += ")";
  }
  return p.buf;
}
