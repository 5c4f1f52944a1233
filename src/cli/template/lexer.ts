/**
 * Tokenizer for Go's text/template syntax, with the same token boundaries and
 * error texts as Go's `text/template/parse` lexer: `{{- ` / ` -}}` trim
 * markers need the ASCII space, comments must touch the delimiters, actions
 * may span lines, and `.Foo.Bar` arrives as two field tokens.
 *
 * Positions are UTF-16 offsets into the source; error reporting converts them
 * to Go's byte offsets.
 */

export type ItemType =
  | "error"
  | "bool"
  | "char"
  | "charConstant"
  | "complex"
  | "assign"
  | "declare"
  | "eof"
  | "field"
  | "identifier"
  | "leftDelim"
  | "leftParen"
  | "number"
  | "pipe"
  | "rawString"
  | "rightDelim"
  | "rightParen"
  | "space"
  | "string"
  | "text"
  | "variable"
  // Keywords.
  | "block"
  | "break"
  | "continue"
  | "dot"
  | "define"
  | "else"
  | "end"
  | "if"
  | "nil"
  | "range"
  | "template"
  | "with";

export interface Item {
  type: ItemType;
  pos: number;
  val: string;
  line: number;
}

const KEYWORDS: Record<string, ItemType> = {
  ".": "dot",
  block: "block",
  break: "break",
  continue: "continue",
  define: "define",
  else: "else",
  end: "end",
  if: "if",
  range: "range",
  nil: "nil",
  template: "template",
  with: "with",
};

const KEYWORD_TYPES = new Set<ItemType>(Object.values(KEYWORDS));

export function isKeyword(type: ItemType): boolean {
  return KEYWORD_TYPES.has(type);
}

const LEFT = "{{";
const RIGHT = "}}";
const LEFT_COMMENT = "/*";
const RIGHT_COMMENT = "*/";

function isSpace(c: string): boolean {
  return c === " " || c === "\t" || c === "\r" || c === "\n";
}

const LETTER_OR_DIGIT = /^[\p{L}\p{Nd}_]$/u;

function isAlphaNumeric(c: string): boolean {
  return c !== "" && LETTER_OR_DIGIT.test(c);
}

function hasLeftTrimMarker(s: string, at: number): boolean {
  return s.length - at >= 2 && s[at] === "-" && isSpace(s[at + 1]!);
}

function hasRightTrimMarker(s: string, at: number): boolean {
  return s.length - at >= 2 && isSpace(s[at]!) && s[at + 1] === "-";
}

function countNewlines(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if (s.charCodeAt(i) === 10) n++;
  return n;
}

/** Formats a rune the way Go's `%#U` does: `U+0041 'A'`. */
function describeRune(c: string): string {
  const cp = c.codePointAt(0)!;
  const hex = cp.toString(16).toUpperCase().padStart(4, "0");
  return /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(c) ? `U+${hex} '${c}'` : `U+${hex}`;
}

class LexError {
  constructor(readonly message: string) {}
}

/**
 * Splits `input` into items. Lexing stops at the first error, which is the
 * last item (type "error"); otherwise the last item is "eof".
 */
export function lex(input: string): Item[] {
  const items: Item[] = [];
  let pos = 0;
  let start = 0;
  let line = 1;
  let startLine = 1;
  let parenDepth = 0;

  const emit = (type: ItemType): void => {
    items.push({ type, pos: start, val: input.slice(start, pos), line: startLine });
    start = pos;
    startLine = line;
  };
  const ignore = (): void => {
    line += countNewlines(input, start, pos);
    start = pos;
    startLine = line;
  };
  const peekChar = (): string => {
    if (pos >= input.length) return "";
    const cp = input.codePointAt(pos)!;
    return String.fromCodePoint(cp);
  };
  const nextChar = (): string => {
    const c = peekChar();
    pos += c.length;
    if (c === "\n") line++;
    return c;
  };
  const fail = (message: string): never => {
    throw new LexError(message);
  };

  const atRightDelim = (): { delim: boolean; trim: boolean } => {
    if (hasRightTrimMarker(input, pos) && input.startsWith(RIGHT, pos + 2)) return { delim: true, trim: true };
    if (input.startsWith(RIGHT, pos)) return { delim: true, trim: false };
    return { delim: false, trim: false };
  };
  const atTerminator = (): boolean => {
    const c = peekChar();
    if (c === "" || isSpace(c)) return true;
    if (".,|:()".includes(c)) return true;
    return input.startsWith(RIGHT, pos);
  };
  const leftTrimLength = (at: number): number => {
    let i = at;
    while (i < input.length && isSpace(input[i]!)) i++;
    return i - at;
  };

  /** Returns false at EOF. */
  const lexText = (): boolean => {
    const x = input.indexOf(LEFT, pos);
    if (x < 0) {
      pos = input.length;
      if (pos > start) {
        line += countNewlines(input, start, pos);
        emit("text");
      }
      emit("eof");
      return false;
    }
    pos = x;
    let trimLength = 0;
    if (hasLeftTrimMarker(input, pos + LEFT.length)) {
      let i = pos;
      while (i > start && isSpace(input[i - 1]!)) i--;
      trimLength = pos - i;
    }
    pos -= trimLength;
    if (pos > start) {
      line += countNewlines(input, start, pos);
      emit("text");
    }
    pos += trimLength;
    ignore();
    return true;
  };

  /** Lexes from a left delimiter to the matching right delimiter (or a comment). */
  const lexAction = (): void => {
    pos += LEFT.length;
    const trim = hasLeftTrimMarker(input, pos);
    const afterMarker = trim ? 2 : 0;
    if (input.startsWith(LEFT_COMMENT, pos + afterMarker)) {
      pos += afterMarker;
      ignore();
      lexComment();
      return;
    }
    emit("leftDelim");
    pos += afterMarker;
    ignore();
    parenDepth = 0;
    lexInsideAction();
  };

  const lexComment = (): void => {
    pos += LEFT_COMMENT.length;
    const i = input.indexOf(RIGHT_COMMENT, pos);
    if (i < 0) fail("unclosed comment");
    pos = i + RIGHT_COMMENT.length;
    const { delim, trim } = atRightDelim();
    if (!delim) fail("comment ends before closing delimiter");
    if (trim) pos += 2;
    pos += RIGHT.length;
    if (trim) pos += leftTrimLength(pos);
    ignore();
  };

  const lexRightDelim = (trim: boolean): void => {
    if (trim) {
      pos += 2;
      ignore();
    }
    pos += RIGHT.length;
    emit("rightDelim");
    if (trim) {
      pos += leftTrimLength(pos);
      ignore();
    }
  };

  const lexInsideAction = (): void => {
    for (;;) {
      const { delim, trim } = atRightDelim();
      if (delim) {
        if (parenDepth === 0) {
          lexRightDelim(trim);
          return;
        }
        fail("unclosed left paren");
      }
      const c = nextChar();
      if (c === "") fail("unclosed action");
      else if (isSpace(c)) {
        pos -= 1;
        if (c === "\n") line--;
        if (lexSpace()) return;
      } else if (c === "=") emit("assign");
      else if (c === ":") {
        if (nextChar() !== "=") fail("expected :=");
        emit("declare");
      } else if (c === "|") emit("pipe");
      else if (c === '"') lexQuote();
      else if (c === "`") lexRawQuote();
      else if (c === "$") lexVariable();
      else if (c === "'") lexChar();
      else if (c === "." && pos < input.length && !(input[pos]! >= "0" && input[pos]! <= "9")) {
        lexFieldOrVariable("field");
      } else if (c === "." || c === "+" || c === "-" || (c >= "0" && c <= "9")) {
        pos -= 1;
        lexNumber();
      } else if (isAlphaNumeric(c)) {
        pos -= c.length;
        lexIdentifier();
      } else if (c === "(") {
        emit("leftParen");
        parenDepth++;
      } else if (c === ")") {
        emit("rightParen");
        parenDepth--;
        if (parenDepth < 0) fail(`unexpected right paren ${describeRune(c)}`);
      } else if (c.codePointAt(0)! < 0x7f && c.codePointAt(0)! >= 0x20) emit("char");
      else fail(`unrecognized character in action: ${describeRune(c)}`);
    }
  };

  /** Returns true when it consumed the trim-marked right delimiter. */
  const lexSpace = (): boolean => {
    let numSpaces = 0;
    while (isSpace(peekChar())) {
      nextChar();
      numSpaces++;
    }
    if (hasRightTrimMarker(input, pos - 1) && input.startsWith(RIGHT, pos - 1 + 2)) {
      pos -= 1;
      if (input[pos] === "\n") line--;
      if (numSpaces === 1) {
        lexRightDelim(true);
        return true;
      }
    }
    emit("space");
    return false;
  };

  const lexIdentifier = (): void => {
    while (isAlphaNumeric(peekChar())) nextChar();
    const word = input.slice(start, pos);
    if (!atTerminator()) fail(`bad character ${describeRune(peekChar())}`);
    const kw = KEYWORDS[word];
    if (kw !== undefined && word !== ".") emit(kw);
    else if (word === "true" || word === "false") emit("bool");
    else emit("identifier");
  };

  const lexVariable = (): void => {
    if (atTerminator()) {
      emit("variable");
      return;
    }
    lexFieldOrVariable("variable");
  };

  const lexFieldOrVariable = (type: "field" | "variable"): void => {
    if (atTerminator()) {
      emit(type === "variable" ? "variable" : "dot");
      return;
    }
    while (isAlphaNumeric(peekChar())) nextChar();
    if (!atTerminator()) fail(`bad character ${describeRune(peekChar())}`);
    emit(type);
  };

  const lexChar = (): void => {
    for (;;) {
      const c = nextChar();
      if (c === "\\") {
        const r = nextChar();
        if (r !== "" && r !== "\n") continue;
        fail("unterminated character constant");
      }
      if (c === "" || c === "\n") fail("unterminated character constant");
      if (c === "'") break;
    }
    emit("charConstant");
  };

  const accept = (valid: string): boolean => {
    const c = peekChar();
    if (c !== "" && valid.includes(c)) {
      nextChar();
      return true;
    }
    return false;
  };
  const acceptRun = (valid: string): void => {
    while (accept(valid));
  };
  const scanNumber = (): boolean => {
    accept("+-");
    let digits = "0123456789_";
    if (accept("0")) {
      if (accept("xX")) digits = "0123456789abcdefABCDEF_";
      else if (accept("oO")) digits = "01234567_";
      else if (accept("bB")) digits = "01_";
    }
    acceptRun(digits);
    if (accept(".")) acceptRun(digits);
    if (digits.length === 11 && accept("eE")) {
      accept("+-");
      acceptRun("0123456789_");
    }
    if (digits.length === 23 && accept("pP")) {
      accept("+-");
      acceptRun("0123456789_");
    }
    accept("i");
    if (isAlphaNumeric(peekChar())) {
      nextChar();
      return false;
    }
    return true;
  };
  const lexNumber = (): void => {
    if (!scanNumber()) fail(`bad number syntax: ${JSON.stringify(input.slice(start, pos))}`);
    const sign = peekChar();
    if (sign === "+" || sign === "-") {
      if (!scanNumber() || input[pos - 1] !== "i") fail(`bad number syntax: ${JSON.stringify(input.slice(start, pos))}`);
      emit("complex");
    } else {
      emit("number");
    }
  };

  const lexQuote = (): void => {
    for (;;) {
      const c = nextChar();
      if (c === "\\") {
        const r = nextChar();
        if (r !== "" && r !== "\n") continue;
        fail("unterminated quoted string");
      }
      if (c === "" || c === "\n") fail("unterminated quoted string");
      if (c === '"') break;
    }
    emit("string");
  };

  const lexRawQuote = (): void => {
    for (;;) {
      const c = nextChar();
      if (c === "") fail("unterminated raw quoted string");
      if (c === "`") break;
    }
    emit("rawString");
  };

  try {
    while (lexText()) lexAction();
  } catch (err) {
    if (!(err instanceof LexError)) throw err;
    items.push({ type: "error", pos: start, val: err.message, line: startLine });
  }
  return items;
}
