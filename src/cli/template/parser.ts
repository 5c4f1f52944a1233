/**
 * Parser for Go's text/template: builds the same tree shapes as Go's
 * `text/template/parse` (actions, if/range/with with else chains, define,
 * template, block, break/continue, pipelines with declarations, chained
 * fields on parenthesised pipelines) and fails with Go's messages, e.g.
 * `template: :1: function "foo" not defined`.
 */
import { TemplateError } from "./errors.ts";
import { type Item, type ItemType, isKeyword, lex } from "./lexer.ts";

export interface ListNode {
  type: "list";
  pos: number;
  nodes: Node[];
}
export interface TextNode {
  type: "text";
  pos: number;
  text: string;
}
export interface ActionNode {
  type: "action";
  pos: number;
  pipe: PipeNode;
}
export interface BranchNode {
  type: "if" | "range" | "with";
  pos: number;
  pipe: PipeNode;
  list: ListNode;
  elseList: ListNode | null;
}
export interface TemplateNode {
  type: "template";
  pos: number;
  name: string;
  pipe: PipeNode | null;
}
export interface BreakNode {
  type: "break";
  pos: number;
}
export interface ContinueNode {
  type: "continue";
  pos: number;
}
export type Node = ListNode | TextNode | ActionNode | BranchNode | TemplateNode | BreakNode | ContinueNode;

export interface PipeNode {
  type: "pipe";
  pos: number;
  isAssign: boolean;
  decl: VariableNode[];
  cmds: CommandNode[];
}
export interface CommandNode {
  type: "command";
  pos: number;
  args: ArgNode[];
}
export interface FieldNode {
  type: "field";
  pos: number;
  ident: string[];
}
export interface ChainNode {
  type: "chain";
  pos: number;
  node: ArgNode;
  fields: string[];
}
export interface VariableNode {
  type: "variable";
  pos: number;
  ident: string[];
}
export interface IdentifierNode {
  type: "identifier";
  pos: number;
  name: string;
}
export interface DotNode {
  type: "dot";
  pos: number;
}
export interface NilNode {
  type: "nil";
  pos: number;
}
export interface BoolNode {
  type: "bool";
  pos: number;
  value: boolean;
}
export interface StringNode {
  type: "string";
  pos: number;
  quoted: string;
  text: string;
}
export interface NumberNode {
  type: "number";
  pos: number;
  text: string;
  isInt: boolean;
  isFloat: boolean;
  /** The integer value when isInt (a bigint beyond 2^53). */
  int: number | bigint;
  float: number;
}
export type ArgNode =
  | FieldNode
  | ChainNode
  | VariableNode
  | IdentifierNode
  | DotNode
  | NilNode
  | BoolNode
  | StringNode
  | NumberNode
  | PipeNode;

/** A parsed template set: the named trees, all cut from one source text. */
export interface ParsedTemplates {
  name: string;
  text: string;
  trees: Map<string, ListNode>;
}


// ---------------------------------------------------------------------------
// Go string and rune literals

function utf8Encode(cp: number, out: number[]): void {
  const bytes = Buffer.from(String.fromCodePoint(cp), "utf8");
  for (const b of bytes) out.push(b);
}

const SIMPLE_ESCAPES: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, "\\": 92 };

/**
 * Decodes one (possibly escaped) character at `s[i]` inside a literal quoted
 * with `quote`, like strconv.UnquoteChar. Returns the bytes it stands for and
 * the next index, or null for a syntax error.
 */
function unquoteChar(s: string, i: number, quote: string): { bytes: number[]; rune: number; next: number } | null {
  const c = s.codePointAt(i)!;
  const ch = String.fromCodePoint(c);
  if (ch === quote && (quote === "'" || quote === '"')) return null;
  if (ch !== "\\") {
    const bytes: number[] = [];
    utf8Encode(c, bytes);
    return { bytes, rune: c, next: i + ch.length };
  }
  if (i + 1 >= s.length) return null;
  const e = s[i + 1]!;
  if (e in SIMPLE_ESCAPES) return { bytes: [SIMPLE_ESCAPES[e]!], rune: SIMPLE_ESCAPES[e]!, next: i + 2 };
  if (e === "'" || e === '"') {
    if (e !== quote) return null;
    return { bytes: [e.charCodeAt(0)], rune: e.charCodeAt(0), next: i + 2 };
  }
  if (e === "x" || e === "u" || e === "U") {
    const n = e === "x" ? 2 : e === "u" ? 4 : 8;
    const hex = s.slice(i + 2, i + 2 + n);
    if (hex.length !== n || !/^[0-9a-fA-F]+$/.test(hex)) return null;
    const v = parseInt(hex, 16);
    if (e === "x") return { bytes: [v], rune: v, next: i + 2 + n };
    if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) return null;
    const bytes: number[] = [];
    utf8Encode(v, bytes);
    return { bytes, rune: v, next: i + 2 + n };
  }
  if (e >= "0" && e <= "7") {
    const oct = s.slice(i + 1, i + 4);
    if (!/^[0-7]{3}$/.test(oct)) return null;
    const v = parseInt(oct, 8);
    if (v > 255) return null;
    return { bytes: [v], rune: v, next: i + 4 };
  }
  return null;
}

/** strconv.Unquote for "..." and `...` literals; null on a syntax error. */
export function unquoteString(quoted: string): string | null {
  if (quoted.length < 2) return null;
  const q = quoted[0]!;
  if (quoted[quoted.length - 1] !== q) return null;
  const body = quoted.slice(1, -1);
  if (q === "`") {
    if (body.includes("`")) return null;
    return body.replaceAll("\r", "");
  }
  if (q !== '"') return null;
  if (body.includes("\n")) return null;
  const bytes: number[] = [];
  let i = 0;
  while (i < body.length) {
    const r = unquoteChar(body, i, q);
    if (r === null) return null;
    bytes.push(...r.bytes);
    i = r.next;
  }
  return Buffer.from(bytes).toString("utf8");
}

function parseCharConstant(text: string): number | string {
  const body = text.slice(1);
  const r = unquoteChar(body, 0, "'");
  if (r === null) return "invalid syntax";
  if (body.slice(r.next) !== "'") return `malformed character constant: ${text}`;
  return r.rune;
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** Go's underscoreOK: underscores only between digits or after a base prefix. */
function underscoreOK(s: string): boolean {
  let saw = "^";
  let i = 0;
  if (s.length >= 1 && (s[0] === "-" || s[0] === "+")) s = s.slice(1);
  let hex = false;
  if (s.length >= 2 && s[0] === "0" && "bBoOxX".includes(s[1]!)) {
    i = 2;
    saw = "0";
    hex = s[1] === "x" || s[1] === "X";
  }
  for (; i < s.length; i++) {
    const c = s[i]!;
    if ((c >= "0" && c <= "9") || (hex && /[a-fA-F]/.test(c))) {
      saw = "0";
      continue;
    }
    if (c === "_") {
      if (saw !== "0") return false;
      saw = "_";
      continue;
    }
    if (saw === "_") return false;
    saw = "!";
  }
  return saw !== "_";
}

/** strconv.ParseInt(text, 0, 64) (with sign) or null. */
function parseGoInt(text: string): bigint | null {
  let s = text;
  let neg = false;
  if (s[0] === "+" || s[0] === "-") {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "") return null;
  let base = 10;
  if (s[0] === "0" && s.length > 1) {
    const p = s[1]!.toLowerCase();
    if (p === "x") base = 16;
    else if (p === "o") base = 8;
    else if (p === "b") base = 2;
    else base = 8;
    s = base === 8 && p !== "o" ? s.slice(1) : s.slice(2);
  }
  if (text.includes("_")) {
    if (!underscoreOK(text)) return null;
    s = s.replaceAll("_", "");
  }
  if (s === "") return null;
  const digits = "0123456789abcdef".slice(0, base);
  let v = 0n;
  for (const c of s.toLowerCase()) {
    const d = digits.indexOf(c);
    if (d < 0) return null;
    v = v * BigInt(base) + BigInt(d);
  }
  if (neg) v = -v;
  if (v < INT64_MIN || v > INT64_MAX) return null;
  return v;
}

/** strconv.ParseUint(text, 0, 64) or null. */
function parseGoUint(text: string): bigint | null {
  if (/^[+-]/.test(text)) return null;
  const v = parseGoInt(`-${text}`);
  if (v !== null) return -v;
  // Beyond int64: parse the magnitude without the int64 bound.
  const m = /^(?:0[xX]([0-9a-fA-F_]+)|0[oO]([0-7_]+)|0[bB]([01_]+)|0([0-7_]*)|([1-9][0-9_]*))$/.exec(text);
  if (m === null || (text.includes("_") && !underscoreOK(text))) return null;
  const [, hex, oct, bin, oct0, dec] = m;
  const digits = (hex ?? oct ?? bin ?? oct0 ?? dec ?? "").replaceAll("_", "");
  const prefix = hex !== undefined ? "0x" : oct !== undefined || oct0 !== undefined ? "0o" : bin !== undefined ? "0b" : "";
  if (digits === "") return null;
  const u = BigInt(prefix + digits);
  return u <= (1n << 64n) - 1n ? u : null;
}

/** strconv.ParseFloat(text, 64) for decimal and hex floats, or null. */
function parseGoFloat(text: string): number | null {
  if (text.includes("_") && !underscoreOK(text)) return null;
  const s = text.replaceAll("_", "");
  const m = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?\d+)$/.exec(s);
  if (m) {
    const [, sign, int = "", frac = "", exp] = m;
    if (int === "" && frac === "") return null;
    let v = 0;
    for (const c of int + frac) v = v * 16 + parseInt(c, 16);
    v = v * 2 ** (Number(exp) - 4 * frac.length);
    if (!Number.isFinite(v)) return null;
    return sign === "-" ? -v : v;
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return null;
  const v = Number(s);
  return Number.isFinite(v) ? v : null;
}

function newNumber(pos: number, text: string, type: ItemType): NumberNode | string {
  const n: NumberNode = { type: "number", pos, text, isInt: false, isFloat: false, int: 0, float: 0 };
  if (type === "charConstant") {
    const r = parseCharConstant(text);
    if (typeof r === "string") return r;
    n.isInt = n.isFloat = true;
    n.int = n.float = r;
    return n;
  }
  if (type === "complex" || text.endsWith("i")) return `complex numbers are not supported: ${JSON.stringify(text)}`;
  const i = parseGoInt(text);
  if (i !== null) {
    n.isInt = true;
    n.int = Number.isSafeInteger(Number(i)) ? Number(i) : i;
    n.isFloat = true;
    n.float = Number(i);
    return n;
  }
  {
    // Fits uint64 but not int64: Go keeps it and fails when it is used.
    const u = parseGoUint(text);
    if (u !== null) {
      n.isFloat = true;
      n.float = Number(u);
      return n;
    }
  }
  const f = parseGoFloat(text);
  if (f !== null) {
    if (!/[.eEpP]/.test(text)) return `integer overflow: ${JSON.stringify(text)}`;
    n.isFloat = true;
    n.float = f;
    if (Number.isInteger(f) && BigInt(f) >= INT64_MIN && BigInt(f) <= INT64_MAX) {
      n.isInt = true;
      n.int = Number.isSafeInteger(f) ? f : BigInt(f);
    }
    return n;
  }
  return `illegal number syntax: ${JSON.stringify(text)}`;
}

// ---------------------------------------------------------------------------
// Node printing (Go's Node.String, used in execution error contexts)

export function nodeString(n: Node | ArgNode | CommandNode): string {
  switch (n.type) {
    case "list":
      return n.nodes.map(nodeString).join("");
    case "text":
      return n.text;
    case "action":
      return `{{${nodeString(n.pipe)}}}`;
    case "if":
    case "range":
    case "with": {
      let s = `{{${n.type} ${nodeString(n.pipe)}}}${nodeString(n.list)}`;
      if (n.elseList) s += `{{else}}${nodeString(n.elseList)}`;
      return `${s}{{end}}`;
    }
    case "template":
      return `{{template ${JSON.stringify(n.name)}${n.pipe ? ` ${nodeString(n.pipe)}` : ""}}}`;
    case "break":
      return "{{break}}";
    case "continue":
      return "{{continue}}";
    case "pipe": {
      let s = "";
      if (n.decl.length > 0) s = `${n.decl.map(nodeString).join(", ")} := `;
      return s + n.cmds.map(nodeString).join(" | ");
    }
    case "command":
      return n.args.map((a) => (a.type === "pipe" ? `(${nodeString(a)})` : nodeString(a))).join(" ");
    case "field":
      return n.ident.map((i) => `.${i}`).join("");
    case "chain": {
      const head = n.node.type === "pipe" ? `(${nodeString(n.node)})` : nodeString(n.node);
      return head + n.fields.map((f) => `.${f}`).join("");
    }
    case "variable":
      return n.ident.join(".");
    case "identifier":
      return n.name;
    case "dot":
      return ".";
    case "nil":
      return "nil";
    case "bool":
      return n.value ? "true" : "false";
    case "string":
      return n.quoted;
    case "number":
      return n.text;
  }
}

/** Go's item.String(), used in "unexpected X in Y" messages. */
function itemString(it: Item): string {
  if (it.type === "eof") return "EOF";
  if (it.type === "error") return it.val;
  if (isKeyword(it.type)) return `<${it.val}>`;
  if ([...it.val].length > 10) return `${goQuote([...it.val].slice(0, 10).join(""))}...`;
  return goQuote(it.val);
}

function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\\u00([0-9a-f]{2})/g, "\\x$1");
}

// ---------------------------------------------------------------------------

function isEmptyTree(n: Node | null): boolean {
  if (n === null) return true;
  switch (n.type) {
    case "list":
      return n.nodes.every(isEmptyTree);
    case "text":
      return n.text.trim() === "";
    default:
      return false;
  }
}

interface Marker {
  type: "end" | "else";
  pos: number;
  line: number;
}

class Tree {
  name: string;
  rangeDepth = 0;
  vars: string[] = ["$"];
  root: ListNode | null = null;

  constructor(
    name: string,
    private readonly p: Parser,
  ) {
    this.name = name;
  }

  errorf(msg: string): never {
    return this.p.errorf(msg);
  }

  // Token helpers delegate to the shared cursor.
  next(): Item {
    return this.p.next();
  }
  peek(): Item {
    return this.p.peek();
  }
  backup(n = 1): void {
    this.p.cursor -= n;
  }
  nextNonSpace(): Item {
    for (;;) {
      const t = this.next();
      if (t.type !== "space") return t;
    }
  }
  peekNonSpace(): Item {
    const t = this.nextNonSpace();
    this.backup();
    return t;
  }
  expect(type: ItemType, context: string): Item {
    const t = this.nextNonSpace();
    if (t.type !== type) this.unexpected(t, context);
    return t;
  }
  unexpected(token: Item, context: string): never {
    if (token.type === "error") {
      let extra = "";
      if (this.p.actionLine !== 0 && this.p.actionLine !== token.line) {
        extra = ` in action started at ${this.p.parseName}:${this.p.actionLine}`;
        if (token.val.endsWith(" action")) extra = extra.slice(" in action".length);
      }
      this.errorf(`${itemString(token)}${extra}`);
    }
    this.errorf(`unexpected ${itemString(token)} in ${context}`);
  }

  add(): void {
    const existing = this.p.trees.get(this.name);
    if (existing === undefined || isEmptyTree(existing)) {
      this.p.trees.set(this.name, this.root!);
      return;
    }
    if (!isEmptyTree(this.root)) this.errorf(`template: multiple definition of template ${JSON.stringify(this.name)}`);
  }

  /** The top level: text and actions, plus {{define}}, to EOF. */
  parseTop(): void {
    this.root = { type: "list", pos: this.peek().pos, nodes: [] };
    while (this.peek().type !== "eof") {
      if (this.peek().type === "leftDelim") {
        const mark = this.p.cursor;
        this.next();
        if (this.nextNonSpace().type === "define") {
          const def = new Tree("definition", this.p);
          def.parseDefinition();
          continue;
        }
        this.p.cursor = mark;
      }
      const n = this.textOrAction();
      if ("marker" in n) this.errorf(`unexpected {{${n.marker.type}}}`);
      this.root.nodes.push(n);
    }
  }

  parseDefinition(): void {
    const context = "define clause";
    const tok = this.nextNonSpace();
    if (tok.type !== "string" && tok.type !== "rawString") this.unexpected(tok, context);
    const name = unquoteString(tok.val);
    if (name === null) this.errorf("invalid syntax");
    this.name = name;
    this.expect("rightDelim", context);
    const [list, end] = this.itemList();
    if (end.type !== "end") this.errorf(`unexpected {{${end.type}}} in ${context}`);
    this.root = list;
    this.add();
  }

  itemList(): [ListNode, Marker] {
    const list: ListNode = { type: "list", pos: this.peekNonSpace().pos, nodes: [] };
    while (this.peekNonSpace().type !== "eof") {
      const n = this.textOrAction();
      if ("marker" in n) return [list, n.marker];
      list.nodes.push(n);
    }
    this.errorf("unexpected EOF");
  }

  textOrAction(): Node | { marker: Marker } {
    const token = this.nextNonSpace();
    switch (token.type) {
      case "text":
        return { type: "text", pos: token.pos, text: token.val };
      case "leftDelim": {
        this.p.actionLine = token.line;
        try {
          return this.action();
        } finally {
          this.p.actionLine = 0;
        }
      }
      default:
        this.unexpected(token, "input");
    }
  }

  action(): Node | { marker: Marker } {
    const token = this.nextNonSpace();
    switch (token.type) {
      case "block":
        return this.blockControl();
      case "break":
      case "continue": {
        const t = this.nextNonSpace();
        if (t.type !== "rightDelim") this.unexpected(t, `{{${token.type}}}`);
        if (this.rangeDepth === 0) this.errorf(`{{${token.type}}} outside {{range}}`);
        return { type: token.type, pos: token.pos };
      }
      case "else": {
        const peek = this.peekNonSpace();
        if (peek.type === "if" || peek.type === "with") return { marker: { type: "else", pos: peek.pos, line: peek.line } };
        const t = this.expect("rightDelim", "else");
        return { marker: { type: "else", pos: t.pos, line: t.line } };
      }
      case "end": {
        const t = this.expect("rightDelim", "end");
        return { marker: { type: "end", pos: t.pos, line: t.line } };
      }
      case "if":
      case "range":
      case "with":
        return this.branch(token.type);
      case "template":
        return this.templateControl();
    }
    this.backup();
    const first = this.peek();
    return { type: "action", pos: first.pos, pipe: this.pipeline("command", "rightDelim") };
  }

  pipeline(context: string, end: ItemType): PipeNode {
    const token = this.peekNonSpace();
    const pipe: PipeNode = { type: "pipe", pos: token.pos, isAssign: false, decl: [], cmds: [] };
    decls: for (;;) {
      const v = this.peekNonSpace();
      if (v.type !== "variable") break;
      const mark = this.p.cursor;
      this.next();
      const next = this.peekNonSpace();
      if (next.type === "assign" || next.type === "declare") {
        pipe.isAssign = next.type === "assign";
        this.nextNonSpace();
        pipe.decl.push({ type: "variable", pos: v.pos, ident: v.val.split(".") });
        this.vars.push(v.val);
      } else if (next.type === "char" && next.val === ",") {
        this.nextNonSpace();
        pipe.decl.push({ type: "variable", pos: v.pos, ident: v.val.split(".") });
        this.vars.push(v.val);
        if (context === "range" && pipe.decl.length < 2) {
          const t = this.peekNonSpace().type;
          if (t === "variable" || t === "rightDelim" || t === "rightParen") continue decls;
          this.errorf("range can only initialize variables");
        }
        this.errorf(`too many declarations in ${context}`);
      } else {
        this.p.cursor = mark;
      }
      break;
    }
    for (;;) {
      const token = this.nextNonSpace();
      if (token.type === end) {
        this.checkPipeline(pipe, context);
        return pipe;
      }
      switch (token.type) {
        case "bool":
        case "charConstant":
        case "complex":
        case "dot":
        case "field":
        case "identifier":
        case "number":
        case "nil":
        case "rawString":
        case "string":
        case "variable":
        case "leftParen":
          this.backup();
          pipe.cmds.push(this.command());
          break;
        default:
          this.unexpected(token, context);
      }
    }
  }

  checkPipeline(pipe: PipeNode, context: string): void {
    if (pipe.cmds.length === 0) this.errorf(`missing value for ${context}`);
    pipe.cmds.slice(1).forEach((c, i) => {
      const t = c.args[0]!.type;
      if (t === "bool" || t === "dot" || t === "nil" || t === "number" || t === "string") {
        this.errorf(`non executable command in pipeline stage ${i + 2}`);
      }
    });
  }

  branch(context: "if" | "range" | "with"): BranchNode {
    const mark = this.vars.length;
    try {
      const pipe = this.pipeline(context, "rightDelim");
      if (context === "range") this.rangeDepth++;
      const [list, next] = this.itemList();
      if (context === "range") this.rangeDepth--;
      let elseList: ListNode | null = null;
      if (next.type === "else") {
        const chained = (context === "if" && this.peek().type === "if") || (context === "with" && this.peek().type === "with");
        if (chained) {
          // {{else if b}} is {{else}}{{if b}}...{{end}}, sharing the one {{end}}.
          this.next();
          elseList = { type: "list", pos: next.pos, nodes: [this.branch(context)] };
        } else {
          const [l, n] = this.itemList();
          if (n.type !== "end") this.errorf(`expected end; found {{${n.type}}}`);
          elseList = l;
        }
      }
      return { type: context, pos: pipe.pos, pipe, list, elseList };
    } finally {
      this.vars.length = mark;
    }
  }

  blockControl(): TemplateNode {
    const context = "block clause";
    const token = this.nextNonSpace();
    const name = this.templateName(token, context);
    const pipe = this.pipeline(context, "rightDelim");
    const block = new Tree(name, this.p);
    const [list, end] = block.itemList();
    if (end.type !== "end") this.errorf(`unexpected {{${end.type}}} in ${context}`);
    block.root = list;
    block.add();
    return { type: "template", pos: token.pos, name, pipe };
  }

  templateControl(): TemplateNode {
    const context = "template clause";
    const token = this.nextNonSpace();
    const name = this.templateName(token, context);
    let pipe: PipeNode | null = null;
    if (this.nextNonSpace().type !== "rightDelim") {
      this.backup();
      pipe = this.pipeline(context, "rightDelim");
    }
    return { type: "template", pos: token.pos, name, pipe };
  }

  templateName(token: Item, context: string): string {
    if (token.type !== "string" && token.type !== "rawString") this.unexpected(token, context);
    const s = unquoteString(token.val);
    if (s === null) this.errorf("invalid syntax");
    return s;
  }

  command(): CommandNode {
    const cmd: CommandNode = { type: "command", pos: this.peekNonSpace().pos, args: [] };
    for (;;) {
      this.peekNonSpace();
      const operand = this.operand();
      if (operand !== null) cmd.args.push(operand);
      const token = this.next();
      if (token.type === "space") continue;
      if (token.type === "rightDelim" || token.type === "rightParen") this.backup();
      else if (token.type !== "pipe") this.unexpected(token, "operand");
      break;
    }
    if (cmd.args.length === 0) this.errorf("empty command");
    return cmd;
  }

  operand(): ArgNode | null {
    let node = this.term();
    if (node === null) return null;
    if (this.peek().type === "field") {
      const pos = this.peek().pos;
      const fields: string[] = [];
      while (this.peek().type === "field") fields.push(this.next().val.slice(1));
      switch (node.type) {
        case "field":
          node = { type: "field", pos, ident: [...node.ident, ...fields] };
          break;
        case "variable":
          node = { type: "variable", pos, ident: [...node.ident, ...fields] };
          break;
        case "bool":
        case "string":
        case "number":
        case "nil":
        case "dot":
          this.errorf(`unexpected . after term ${JSON.stringify(nodeString(node))}`);
        // falls through (unreachable)
        default:
          node = { type: "chain", pos, node, fields };
      }
    }
    return node;
  }

  term(): ArgNode | null {
    const token = this.nextNonSpace();
    switch (token.type) {
      case "identifier":
        if (!this.p.hasFunction(token.val)) this.errorf(`function ${JSON.stringify(token.val)} not defined`);
        return { type: "identifier", pos: token.pos, name: token.val };
      case "dot":
        return { type: "dot", pos: token.pos };
      case "nil":
        return { type: "nil", pos: token.pos };
      case "variable": {
        const ident = token.val.split(".");
        if (!this.vars.includes(ident[0]!)) this.errorf(`undefined variable ${JSON.stringify(ident[0])}`);
        return { type: "variable", pos: token.pos, ident };
      }
      case "field":
        return { type: "field", pos: token.pos, ident: token.val.slice(1).split(".") };
      case "bool":
        return { type: "bool", pos: token.pos, value: token.val === "true" };
      case "charConstant":
      case "complex":
      case "number": {
        const n = newNumber(token.pos, token.val, token.type);
        if (typeof n === "string") this.errorf(n);
        return n;
      }
      case "leftParen":
        return this.pipeline("parenthesized pipeline", "rightParen");
      case "string":
      case "rawString": {
        const s = unquoteString(token.val);
        if (s === null) this.errorf("invalid syntax");
        return { type: "string", pos: token.pos, quoted: token.val, text: s };
      }
    }
    this.backup();
    return null;
  }
}

class Parser {
  cursor = 0;
  /** Index of the furthest item read: Go reports that token's line. */
  furthest = 0;
  actionLine = 0;
  readonly trees = new Map<string, ListNode>();

  constructor(
    readonly parseName: string,
    private readonly items: Item[],
    readonly hasFunction: (name: string) => boolean,
  ) {}

  next(): Item {
    const it = this.items[Math.min(this.cursor, this.items.length - 1)]!;
    if (this.cursor > this.furthest) this.furthest = this.cursor;
    this.cursor++;
    return it;
  }

  peek(): Item {
    const it = this.next();
    this.cursor--;
    return it;
  }

  errorf(msg: string): never {
    const line = this.items[Math.min(this.furthest, this.items.length - 1)]!.line;
    throw new TemplateError("parse", `template: ${this.parseName}:${line}: ${msg}`);
  }
}

/**
 * Parses `text` into the named trees it defines: the top-level one under
 * `name` plus every {{define}} and {{block}}. `hasFunction` decides which
 * identifiers are functions (Go rejects unknown ones at parse time).
 */
export function parse(text: string, name: string, hasFunction: (fn: string) => boolean): ParsedTemplates {
  const p = new Parser(name, lex(text), hasFunction);
  const top = new Tree(name, p);
  top.parseTop();
  top.add();
  return { name, text, trees: p.trees };
}
