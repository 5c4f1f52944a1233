/**
 * Executes parsed templates with Go's text/template semantics: field chains
 * over maps and method-like properties, variables with block scoping,
 * if/with/range (sorted map keys, break/continue, else), template/block
 * invocation with a fresh variable scope, typed function arguments, and
 * Go's error messages with `NAME:LINE:COL` locations in byte offsets.
 */
import { TemplateError } from "./errors.ts";
import { quote, formatValue } from "./fmt.ts";
import { BUILTINS, type ParamType, type TemplateFunc } from "./funcs.ts";
import {
  type ArgNode,
  type BranchNode,
  type ChainNode,
  type CommandNode,
  type FieldNode,
  type IdentifierNode,
  type Node,
  type NumberNode,
  type ParsedTemplates,
  type PipeNode,
  type TemplateNode,
  type VariableNode,
  nodeString,
} from "./parser.ts";
import { goTypeName, isStruct, isTrue, kindOf, lookupField, mapEntries } from "./values.ts";

/**
 * What a missing map key yields: `default` is Go's `<no value>` (the
 * invalid value), `zero` an empty string (Go's zero value of a
 * map[string]string, what docker's header maps give), `error` fails as
 * Go's `missingkey=error` does.
 */
export type MissingKey = "default" | "zero" | "error";

export interface ExecOptions {
  /**
   * Treat every object as a Go struct: an unknown field is an error
   * (`can't evaluate field Foo in type ...`) as for docker's typed data,
   * instead of a missing map key. Objects carrying GO_TYPE always are.
   */
  strictFields?: boolean;
  missingKey?: MissingKey;
}

/** Deepest nesting of {{template}} calls (Go allows 100000; JS stacks are smaller). */
export const MAX_EXEC_DEPTH = 1000;

const MISSING: unique symbol = Symbol("missing");
type Final = unknown;

const BREAK = Symbol("break");
const CONTINUE = Symbol("continue");

class ExecFailure {
  constructor(readonly message: string) {}
}

interface Variable {
  name: string;
  value: unknown;
}

type Located = Node | ArgNode | CommandNode;

export class Executor {
  private out = "";
  private vars: Variable[] = [];
  private depth = 0;
  private node: Located | null = null;
  private tmplName: string;

  constructor(
    private readonly set: ParsedTemplates,
    private readonly funcs: Map<string, TemplateFunc>,
    private readonly opts: ExecOptions,
  ) {
    this.tmplName = set.name;
  }

  /** Runs the template called `name` (the top-level one by default). */
  run(data: unknown, name = this.set.name): string {
    this.tmplName = name;
    const root = this.set.trees.get(name);
    const dot = data === null ? undefined : data;
    this.vars = [{ name: "$", value: dot }];
    try {
      if (root === undefined) this.errorf(`${quote(name)} is an incomplete or empty template`);
      this.walk(dot, root);
    } catch (err) {
      if (err instanceof ExecFailure) throw new TemplateError("exec", err.message, this.out);
      if (err instanceof RangeError && /call stack/.test(err.message)) {
        throw new TemplateError("exec", `template: ${name}: exceeded maximum template depth`, this.out);
      }
      throw err;
    }
    return this.out;
  }

  private errorf(msg: string): never {
    if (this.node === null) throw new ExecFailure(`template: ${this.tmplName}: ${msg}`);
    const prefix = this.set.text.slice(0, this.node.pos);
    const nl = prefix.lastIndexOf("\n");
    const col = Buffer.byteLength(nl < 0 ? prefix : prefix.slice(nl + 1), "utf8");
    let line = 1;
    for (let i = 0; i < prefix.length; i++) if (prefix.charCodeAt(i) === 10) line++;
    const where = `${this.set.name}:${line}:${col}`;
    throw new ExecFailure(`template: ${where}: executing ${quote(this.tmplName)} at <${nodeString(this.node)}>: ${msg}`);
  }

  // -------------------------------------------------------------------------
  // Walking the tree

  private walk(dot: unknown, node: Node): void {
    this.node = node;
    switch (node.type) {
      case "action": {
        const val = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) this.printValue(node, val);
        return;
      }
      case "break":
        throw BREAK;
      case "continue":
        throw CONTINUE;
      case "if":
      case "with":
        return this.walkIfOrWith(dot, node);
      case "list":
        for (const n of node.nodes) this.walk(dot, n);
        return;
      case "range":
        return this.walkRange(dot, node);
      case "template":
        return this.walkTemplate(dot, node);
      case "text":
        this.out += node.text;
        return;
    }
  }

  private walkIfOrWith(dot: unknown, node: BranchNode): void {
    const mark = this.vars.length;
    try {
      const val = this.evalPipeline(dot, node.pipe);
      if (isTrue(val)) this.walk(node.type === "with" ? val : dot, node.list);
      else if (node.elseList) this.walk(dot, node.elseList);
    } finally {
      this.vars.length = mark;
    }
  }

  private walkRange(dot: unknown, r: BranchNode): void {
    this.node = r;
    const outer = this.vars.length;
    try {
      const val = this.evalPipeline(dot, r.pipe);
      const mark = this.vars.length;
      const decls = r.pipe.decl.length;
      const one = (index: unknown, elem: unknown): void => {
        if (decls > 0) this.vars[this.vars.length - 1]!.value = elem;
        if (decls > 1) this.vars[this.vars.length - 2]!.value = index;
        try {
          this.walk(elem, r.list);
        } catch (err) {
          if (err !== CONTINUE) throw err;
        } finally {
          this.vars.length = mark;
        }
      };
      let ran = false;
      switch (kindOf(val)) {
        case "slice":
          (val as unknown[]).forEach((elem, i) => {
            ran = true;
            one(i, elem);
          });
          break;
        case "map":
          for (const [k, v] of mapEntries(val as object)) {
            ran = true;
            one(k, v);
          }
          break;
        case "int": {
          if (decls > 1) this.errorf(`can't use ${formatValue(val)} to iterate over more than one variable`);
          const n = Number(val);
          for (let i = 0; i < n; i++) {
            ran = true;
            one(i, i);
          }
          break;
        }
        case "invalid":
        case "nil":
          break;
        default:
          this.errorf(`range can't iterate over ${formatValue(val)}`);
      }
      if (!ran && r.elseList) this.walk(dot, r.elseList);
    } catch (err) {
      if (err !== BREAK) throw err;
    } finally {
      this.vars.length = outer;
    }
  }

  private walkTemplate(dot: unknown, t: TemplateNode): void {
    this.node = t;
    const tree = this.set.trees.get(t.name);
    if (tree === undefined) this.errorf(`template ${quote(t.name)} not defined`);
    if (this.depth >= MAX_EXEC_DEPTH) this.errorf(`exceeded maximum template depth (${MAX_EXEC_DEPTH})`);
    const newDot = this.evalPipeline(dot, t.pipe);
    const saved = { vars: this.vars, name: this.tmplName };
    this.vars = [{ name: "$", value: newDot }];
    this.tmplName = t.name;
    this.depth++;
    try {
      this.walk(newDot, tree);
    } finally {
      this.depth--;
      this.vars = saved.vars;
      this.tmplName = saved.name;
    }
  }

  // -------------------------------------------------------------------------
  // Evaluation

  private evalPipeline(dot: unknown, pipe: PipeNode | null): unknown {
    if (pipe === null) return undefined;
    this.node = pipe;
    let value: Final = MISSING;
    for (const cmd of pipe.cmds) value = this.evalCommand(dot, cmd, value);
    for (const v of pipe.decl) {
      if (pipe.isAssign) this.setVar(v.ident[0]!, value);
      else this.vars.push({ name: v.ident[0]!, value });
    }
    return value;
  }

  private setVar(name: string, value: unknown): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
    this.errorf(`undefined variable: ${name}`);
  }

  private varValue(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) return this.vars[i]!.value;
    }
    this.errorf(`undefined variable: ${name}`);
  }

  private notAFunction(args: ArgNode[] | null, final: Final): void {
    if ((args !== null && args.length > 1) || final !== MISSING) {
      this.errorf(`can't give argument to non-function ${nodeString(args![0]!)}`);
    }
  }

  private evalCommand(dot: unknown, cmd: CommandNode, final: Final): unknown {
    const first = cmd.args[0]!;
    switch (first.type) {
      case "field":
        return this.evalFieldNode(dot, first, cmd.args, final);
      case "chain":
        return this.evalChainNode(dot, first, cmd.args, final);
      case "identifier":
        return this.evalFunction(dot, first, cmd, cmd.args, final);
      case "pipe":
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first);
      case "variable":
        return this.evalVariableNode(dot, first, cmd.args, final);
    }
    this.node = first;
    this.notAFunction(cmd.args, final);
    switch (first.type) {
      case "bool":
        return first.value;
      case "dot":
        return dot;
      case "nil":
        this.errorf("nil is not a command");
      // falls through (unreachable)
      case "number":
        return this.idealConstant(first);
      case "string":
        return first.text;
    }
  }

  private idealConstant(n: NumberNode): unknown {
    this.node = n;
    const isHexInt = /^[+-]?0[xX]/.test(n.text) && !/[pP]/.test(n.text);
    if (n.isFloat && !isHexInt && !n.text.startsWith("'") && /[.eEpP]/.test(n.text)) return n.float;
    if (n.isInt) return n.int;
    this.errorf(`${n.text} overflows int`);
  }

  private evalFieldNode(dot: unknown, field: FieldNode, args: ArgNode[] | null, final: Final): unknown {
    this.node = field;
    return this.evalFieldChain(dot, dot, field, field.ident, args, final);
  }

  private evalChainNode(dot: unknown, chain: ChainNode, args: ArgNode[] | null, final: Final): unknown {
    this.node = chain;
    if (chain.node.type === "nil") this.errorf(`indirection through explicit nil in ${nodeString(chain)}`);
    const receiver = this.evalArg(dot, "value", chain.node);
    return this.evalFieldChain(dot, receiver, chain, chain.fields, args, final);
  }

  private evalVariableNode(dot: unknown, v: VariableNode, args: ArgNode[] | null, final: Final): unknown {
    this.node = v;
    const value = this.varValue(v.ident[0]!);
    if (v.ident.length === 1) {
      this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(dot, value, v, v.ident.slice(1), args, final);
  }

  private evalFieldChain(
    dot: unknown,
    receiver: unknown,
    node: Located,
    ident: string[],
    args: ArgNode[] | null,
    final: Final,
  ): unknown {
    const n = ident.length;
    for (let i = 0; i < n - 1; i++) receiver = this.evalField(dot, ident[i]!, node, null, MISSING, receiver);
    return this.evalField(dot, ident[n - 1]!, node, args, final, receiver);
  }

  private evalField(
    dot: unknown,
    fieldName: string,
    node: Located,
    args: ArgNode[] | null,
    final: Final,
    receiver: unknown,
  ): unknown {
    if (receiver === undefined) {
      if (this.opts.missingKey === "error") this.errorf(`nil data; no entry for key ${quote(fieldName)}`);
      return undefined;
    }
    if (receiver === null) this.errorf(`nil pointer evaluating interface {}.${fieldName}`);
    if (kindOf(receiver) === "map") {
      const { found, value, method: isMethod } = lookupField(receiver as object, fieldName);
      if (isMethod) {
        const method: TemplateFunc = { params: [], variadic: "any", fn: (value as (...a: unknown[]) => unknown).bind(receiver) as TemplateFunc["fn"] };
        return this.evalCall(dot, method, false, node, fieldName, args, final);
      }
      const hasArgs = (args !== null && args.length > 1) || final !== MISSING;
      if (this.opts.strictFields || isStruct(receiver)) {
        if (!found) this.errorf(`can't evaluate field ${fieldName} in type ${goTypeName(receiver)}`);
        if (hasArgs) this.errorf(`${fieldName} has arguments but cannot be invoked as function`);
        return value;
      }
      if (hasArgs) this.errorf(`${fieldName} is not a method but has arguments`);
      if (!found || value === undefined) {
        if (this.opts.missingKey === "error") this.errorf(`map has no entry for key ${quote(fieldName)}`);
        if (this.opts.missingKey === "zero") return "";
        return undefined;
      }
      return value;
    }
    this.errorf(`can't evaluate field ${fieldName} in type ${goTypeName(receiver)}`);
  }

  private evalFunction(dot: unknown, node: IdentifierNode, cmd: Located, args: ArgNode[] | null, final: Final): unknown {
    this.node = node;
    const name = node.name;
    const own = this.funcs.get(name);
    const fn = own ?? BUILTINS[name];
    if (fn === undefined) this.errorf(`${quote(name)} is not a defined function`);
    return this.evalCall(dot, fn, own === undefined, cmd, name, args, final);
  }

  private evalCall(
    dot: unknown,
    fn: TemplateFunc,
    isBuiltin: boolean,
    node: Located,
    name: string,
    args: ArgNode[] | null,
    final: Final,
  ): unknown {
    const argNodes = args === null ? [] : args.slice(1);
    const numIn = argNodes.length + (final !== MISSING ? 1 : 0);
    const numFixed = fn.params.length;
    if (fn.variadic !== undefined) {
      if (numIn < numFixed) this.errorf(`wrong number of args for ${name}: want at least ${numFixed} got ${argNodes.length}`);
    } else if (numIn !== numFixed) {
      this.errorf(`wrong number of args for ${name}: want ${numFixed} got ${numIn}`);
    }

    if (isBuiltin && (name === "and" || name === "or")) {
      let v: unknown;
      for (const arg of argNodes) {
        v = this.evalArg(dot, "value", arg);
        if (isTrue(v) === (name === "or")) return v;
      }
      if (final !== MISSING) v = final;
      return v;
    }

    const argv: unknown[] = [];
    let i = 0;
    for (; i < numFixed && i < argNodes.length; i++) argv.push(this.evalArg(dot, fn.params[i]!, argNodes[i]!));
    if (fn.variadic !== undefined) {
      for (; i < argNodes.length; i++) argv.push(this.evalArg(dot, fn.variadic, argNodes[i]!));
    }
    if (final !== MISSING) {
      const t = fn.variadic !== undefined && numIn - 1 >= numFixed ? fn.variadic : fn.params[numIn - 1]!;
      argv.push(this.validateType(final, t));
    }
    try {
      return (fn.fn as (...a: unknown[]) => unknown)(...argv);
    } catch (err) {
      if (err instanceof ExecFailure) throw err;
      this.node = node;
      const msg = err instanceof Error ? err.message : String(err);
      this.errorf(`error calling ${name}: ${msg}`);
    }
  }

  private validateType(value: unknown, type: ParamType): unknown {
    switch (type) {
      case "value":
        return value;
      case "any":
        return value === undefined ? null : value;
      case "strings":
        if (value === undefined || value === null) return null;
        if (Array.isArray(value) && value.every((x) => typeof x === "string")) return value;
        break;
      case "string":
        if (typeof value === "string") return value;
        break;
      case "int":
        if (kindOf(value) === "int") return typeof value === "bigint" && Number.isSafeInteger(Number(value)) ? Number(value) : value;
        break;
      case "bool":
        if (typeof value === "boolean") return value;
        break;
    }
    const goType = type === "strings" ? "[]string" : type;
    if (value === undefined) this.errorf(`invalid value; expected ${goType}`);
    this.errorf(`wrong type for value; expected ${goType}; got ${goTypeName(value)}`);
  }

  private evalArg(dot: unknown, type: ParamType, n: ArgNode): unknown {
    this.node = n;
    switch (n.type) {
      case "dot":
        return this.validateType(dot, type);
      case "nil":
        if (type === "any" || type === "value" || type === "strings") return null;
        this.errorf(`cannot assign nil to ${type}`);
      // falls through (unreachable)
      case "field":
        return this.validateType(this.evalFieldNode(dot, n, [n], MISSING), type);
      case "variable":
        return this.validateType(this.evalVariableNode(dot, n, null, MISSING), type);
      case "pipe":
        return this.validateType(this.evalPipeline(dot, n), type);
      case "identifier":
        return this.validateType(this.evalFunction(dot, n, n, null, MISSING), type);
      case "chain":
        return this.validateType(this.evalChainNode(dot, n, null, MISSING), type);
    }
    switch (type) {
      case "bool":
        if (n.type === "bool") return n.value;
        this.errorf(`expected bool; found ${nodeString(n)}`);
      // falls through (unreachable)
      case "int":
        if (n.type === "number" && n.isInt) return n.int;
        this.errorf(`expected integer; found ${nodeString(n)}`);
      // falls through (unreachable)
      case "string":
        if (n.type === "string") return n.text;
        this.errorf(`expected string; found ${nodeString(n)}`);
      // falls through (unreachable)
      case "strings":
        this.errorf(`can't handle ${nodeString(n)} for arg of type []string`);
      // falls through (unreachable)
      case "any":
      case "value":
        if (n.type === "bool") return n.value;
        if (n.type === "string") return n.text;
        return this.idealConstant(n);
    }
  }

  private printValue(node: Located, v: unknown): void {
    this.node = node;
    if (typeof v === "function") this.errorf(`can't print ${nodeString(node)} of type ${goTypeName(v)}`);
    this.out += v === undefined ? "<no value>" : formatValue(v);
  }
}
