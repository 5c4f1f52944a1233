/**
 * Build arguments as moby's classic builder keeps them (buildargs.go): the
 * values the client passed, the ARGs a stage declared (allowed), the ARGs
 * declared before the first FROM (meta), and which names any stage
 * referenced, for the "were not consumed" warning. The proxy variables are
 * allowed without an ARG and left out of the image history.
 */

const BUILTIN = new Set(["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"]);

export class BuildArgs {
  private allowed = new Map<string, string | undefined>();
  private readonly meta: Map<string, string | undefined>;
  private readonly referenced: Set<string>;
  private readonly fromOptions: Map<string, string | null>;

  constructor(fromOptions: Record<string, string | null>, meta = new Map<string, string | undefined>(), referenced = new Set<string>()) {
    this.fromOptions = new Map(Object.entries(fromOptions));
    this.meta = meta;
    this.referenced = referenced;
  }

  /** A stage's own set: no ARG allowed yet, the meta args and references shared. */
  forStage(): BuildArgs {
    return new BuildArgs(Object.fromEntries(this.fromOptions), this.meta, this.referenced);
  }

  addArg(key: string, value: string | undefined): void {
    this.allowed.set(key, value);
    this.referenced.add(key);
  }

  addMetaArg(key: string, value: string | undefined): void {
    this.meta.set(key, value);
  }

  isReferencedOrNotBuiltin(key: string): boolean {
    return this.allowed.has(key) || !BUILTIN.has(key);
  }

  private value(key: string, source: Map<string, string | undefined>): string | undefined {
    const option = this.fromOptions.get(key);
    if (option !== undefined && option !== null) return option;
    const def = source.get(key);
    if (def === undefined) return this.meta.get(key);
    return def;
  }

  private all(source: Map<string, string | undefined>): Map<string, string> {
    const out = new Map<string, string>();
    for (const key of new Set([...source.keys(), ...BUILTIN])) {
      const v = this.value(key, source);
      if (v !== undefined) out.set(key, v);
    }
    return out;
  }

  /** The allowed args with a value. */
  allAllowed(): Map<string, string> {
    return this.all(this.allowed);
  }

  /** The meta args with a value (what FROM expands with). */
  allMeta(): Map<string, string> {
    return this.all(this.meta);
  }

  /** "k=v" for each allowed arg the environment does not already set. */
  filterAllowed(env: readonly string[]): string[] {
    const keys = new Set(env.map((e) => e.split("=", 1)[0]));
    const out: string[] = [];
    for (const [k, v] of this.allAllowed()) if (!keys.has(k)) out.push(`${k}=${v}`);
    return out;
  }

  /** Docker's warning for --build-arg names no stage declared, or undefined. */
  unusedWarning(): string | undefined {
    const left = [...this.fromOptions.keys()].filter((k) => !this.referenced.has(k) && !BUILTIN.has(k)).sort();
    return left.length ? `[Warning] One or more build-args [${left.join(" ")}] were not consumed\n` : undefined;
  }
}
