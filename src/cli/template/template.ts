/**
 * A parsed Go template: parse once, execute against many values.
 *
 * @example
 * const t = Template.parse("{{.Name}} {{upper .State}}");
 * t.execute({ Name: "web", State: "running" }); // "web RUNNING"
 */
import { type ExecOptions, Executor } from "./exec.ts";
import { BUILTINS, DOCKER_FUNCS, type FuncMap, type TemplateFunc, toTemplateFunc } from "./funcs.ts";
import { type ParsedTemplates, parse } from "./parser.ts";

export interface ParseOptions {
  /** The template's name, which Go puts in messages (docker's is ""). */
  name?: string;
  /** Functions beyond Go's builtins; they override docker's of the same name. */
  funcs?: FuncMap;
  /** Include docker's json/split/join/title/lower/upper/pad/truncate (default true). */
  dockerFuncs?: boolean;
}

export interface ExecuteOptions extends ExecOptions {
  /** Replaces functions for this run, as Go's `tmpl.Funcs` after parsing does. */
  funcs?: FuncMap;
  /** Runs this {{define}}d template instead of the top-level one. */
  template?: string;
}

function funcTable(...maps: (FuncMap | undefined)[]): Map<string, TemplateFunc> {
  const table = new Map<string, TemplateFunc>();
  for (const m of maps) {
    if (m === undefined) continue;
    for (const [name, f] of Object.entries(m)) table.set(name, toTemplateFunc(f));
  }
  return table;
}

export class Template {
  private constructor(
    private readonly parsed: ParsedTemplates,
    private readonly funcs: Map<string, TemplateFunc>,
  ) {}

  /** Parses `text`; throws TemplateError (phase "parse") with Go's message. */
  static parse(text: string, options: ParseOptions = {}): Template {
    const funcs = funcTable(options.dockerFuncs === false ? undefined : DOCKER_FUNCS, options.funcs);
    const parsed = parse(text, options.name ?? "", (name) => funcs.has(name) || name in BUILTINS);
    return new Template(parsed, funcs);
  }

  /** The names of the templates defined by the source, the top-level one included. */
  get names(): string[] {
    return [...this.parsed.trees.keys()];
  }

  /** Executes against `data`; throws TemplateError (phase "exec") with Go's message. */
  execute(data: unknown, options: ExecuteOptions = {}): string {
    const funcs = options.funcs === undefined ? this.funcs : new Map([...this.funcs, ...funcTable(options.funcs)]);
    const exec = new Executor(this.parsed, funcs, options);
    return exec.run(data, options.template ?? this.parsed.name);
  }
}

/** Parses and executes in one step. */
export function executeTemplate(text: string, data: unknown, options: ParseOptions & ExecuteOptions = {}): string {
  return Template.parse(text, options).execute(data, options);
}
