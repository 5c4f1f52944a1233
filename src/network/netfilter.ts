/**
 * The one module that touches netfilter: NAT and filtering for bridge
 * networks and published ports, through `iptables-restore --noflush` (with
 * Debian's nft backend one restore is one nftables transaction: all of it
 * or nothing).
 *
 * hako keeps its rules in its own chains, jumped to from the built-in ones:
 *
 *   nat     PREROUTING  -m addrtype --dst-type LOCAL -j HAKO      DNAT of published ports
 *   nat     OUTPUT      -m addrtype --dst-type LOCAL -j HAKO      ... from the host itself
 *   nat     POSTROUTING -j HAKO-POSTROUTING                        MASQUERADE
 *   filter  FORWARD     -j HAKO-FORWARD  (first)                   accept per bridge
 *   filter  HAKO-FORWARD -j HAKO-ISOLATION (first)                  no traffic between two bridges
 *           (-i BR ! -o BR -j HAKO-ISOLATION-2, there -o BR -j DROP: Docker's two stages)
 *
 * so cleaning up is deleting four jumps and five chains, and nobody else's
 * rules are ever rewritten. Each rule carries a comment naming its owner
 * (`hako:net:<network>`, `hako:ctr:<container>`): replacing or removing an
 * owner's rules is one restore, which also creates whatever chain or jump is
 * missing. What the restore works from is iptables-save's output, read once
 * per process and prefix and then kept up to date in memory with every
 * restore that succeeds: hako is the only writer of its chains, and a save
 * (a process, ~2 ms) on every publish would sit on a container's start. So
 * rules left by an earlier hakod are found the same way, at the first
 * change; a restore that fails (someone else changed our chains) is retried
 * once from a fresh save.
 */
import { spawn } from "node:child_process";
import { InternalError, InvalidArgumentError, NotImplementedError, UnavailableError } from "../common/errors.ts";
import { formatIPv4, formatSubnet, parseIPv4, parseSubnet } from "./subnet.ts";
import { isValidIfName } from "./netlink.ts";

export type PortProto = "tcp" | "udp" | "sctp";

/** One published port: host side (address optional: all of the host's) → container side. */
export interface PortForward {
  proto: PortProto;
  /** Empty, "0.0.0.0" or absent: every address of the host. */
  hostIp?: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

export interface BridgeRulesSpec {
  network: string;
  bridge: string;
  subnet: string;
  /** No traffic in or out of the bridge beyond its own members (`--internal`). */
  internal?: boolean;
  /** Masquerade traffic leaving the subnet (default true; Docker's enable_ip_masquerade). */
  masquerade?: boolean;
}

export interface NetfilterOptions {
  /** Chain name prefix, "HAKO" by default; tests use their own so they never meet hakod's. */
  prefix?: string;
}

type Table = "nat" | "filter";

interface Rule {
  table: Table;
  chain: string;
  /** Matches (before the owner's comment). */
  match: string;
  /** "-j TARGET ..." */
  target: string;
}

interface SavedTable {
  chains: Set<string>;
  /** "-A CHAIN ..." lines as iptables-save wrote them. */
  rules: string[];
}

type SavedState = Map<string, SavedTable>;

const OWNER = /^[A-Za-z0-9_.:-]{1,200}$/;

/** The tail of the change queue of each chain prefix in this process. */
const queues = new Map<string, Promise<unknown>>();

/**
 * The ruleset as hako last knew it, per chain prefix: iptables-save's
 * output with every later restore of that prefix applied. Shared like the
 * queue: every Netfilter of one prefix in this process sees the same.
 */
const known = new Map<string, SavedState>();

function run(cmd: string, args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr!.setEncoding("utf8").on("data", (c: string) => {
      if (stderr.length < 64 * 1024) stderr += c;
    });
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") reject(new UnavailableError(`${cmd} is not installed (apt-get install iptables)`, { cause: err }));
      else reject(new InternalError(`run ${cmd}: ${err.message}`, { cause: err }));
    });
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    if (input !== undefined) {
      child.stdin!.on("error", () => {});
      child.stdin!.end(input);
    }
  });
}

/** iptables-save's output, the tables we use, by table. */
export function parseSave(text: string): SavedState {
  const state: SavedState = new Map();
  let current: SavedTable | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) {
      current = { chains: new Set(), rules: [] };
      state.set(line.slice(1).trim(), current);
    } else if (!current) {
      continue;
    } else if (line.startsWith(":")) {
      current.chains.add(line.slice(1).split(" ")[0]!);
    } else if (line.startsWith("-A ")) {
      current.rules.push(line);
    }
  }
  return state;
}

/**
 * Applies a restore we wrote (`:CHAIN`, `-A`, `-I CHAIN N`, `-D`, `-X`
 * lines) to a saved state, so the state stays what iptables-save would now
 * print, up to spelling: rules keep the words we wrote, which `-D` and the
 * owner's comment match just the same.
 */
export function applyRestore(state: SavedState, input: string): void {
  let current: SavedTable | undefined;
  for (const line of input.split("\n")) {
    if (line.startsWith("*")) {
      const name = line.slice(1).trim();
      current = state.get(name);
      if (!current) state.set(name, (current = { chains: new Set(), rules: [] }));
    } else if (!current) {
      continue;
    } else if (line.startsWith(":")) {
      // Declaring a chain in a --noflush restore creates or flushes it.
      const chain = line.slice(1).split(" ")[0]!;
      current.chains.add(chain);
      current.rules = current.rules.filter((r) => r.split(" ")[1] !== chain);
    } else if (line.startsWith("-A ")) {
      current.rules.push(line);
    } else if (line.startsWith("-I ")) {
      // "-I CHAIN N rest": position does not matter to anything that reads the state.
      const [, chain, , ...rest] = line.split(" ");
      current.rules.unshift(`-A ${chain} ${rest.join(" ")}`);
    } else if (line.startsWith("-D ")) {
      const rule = `-A ${line.slice(3)}`;
      const i = current.rules.indexOf(rule);
      if (i >= 0) current.rules.splice(i, 1);
    } else if (line.startsWith("-X ")) {
      current.chains.delete(line.slice(3).trim());
    }
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function port(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError(`invalid ${what} ${n} (1 to 65535)`);
  return n;
}

export class Netfilter {
  readonly natChain: string;
  readonly postroutingChain: string;
  readonly forwardChain: string;
  readonly isolationChain: string;
  readonly isolation2Chain: string;
  private readonly tagPrefix: string;

  constructor(opts: NetfilterOptions = {}) {
    const prefix = opts.prefix ?? "HAKO";
    if (!/^[A-Z][A-Z0-9_-]{0,14}$/.test(prefix)) throw new InvalidArgumentError(`invalid netfilter chain prefix ${JSON.stringify(prefix)}`);
    this.natChain = prefix;
    this.postroutingChain = `${prefix}-POSTROUTING`;
    this.forwardChain = `${prefix}-FORWARD`;
    this.isolationChain = `${prefix}-ISOLATION`;
    this.isolation2Chain = `${prefix}-ISOLATION-2`;
    this.tagPrefix = prefix.toLowerCase();
  }

  /** The chains and the jumps to them, all of which must exist before any owner's rule. */
  private base(): { table: Table; chain: string; jumps: Array<{ from: string; rule: string }> }[] {
    return [
      {
        table: "nat",
        chain: this.natChain,
        jumps: [
          { from: "PREROUTING", rule: `-A PREROUTING -m addrtype --dst-type LOCAL -j ${this.natChain}` },
          { from: "OUTPUT", rule: `-A OUTPUT -m addrtype --dst-type LOCAL -j ${this.natChain}` },
        ],
      },
      { table: "nat", chain: this.postroutingChain, jumps: [{ from: "POSTROUTING", rule: `-A POSTROUTING -j ${this.postroutingChain}` }] },
      // Docker's two-stage isolation: traffic leaving a bridge for another of ours is dropped in stage 2.
      { table: "filter", chain: this.isolation2Chain, jumps: [] },
      { table: "filter", chain: this.isolationChain, jumps: [{ from: this.forwardChain, rule: `-I ${this.forwardChain} 1 -j ${this.isolationChain}` }] },
      // First in FORWARD: a host whose FORWARD policy is DROP (docker's) still passes our bridges.
      { table: "filter", chain: this.forwardChain, jumps: [{ from: "FORWARD", rule: `-I FORWARD 1 -j ${this.forwardChain}` }] },
    ];
  }

  private ours(chain: string): boolean {
    return this.base().some((b) => b.chain === chain);
  }

  /**
   * Serializes changes: each reads the state and writes a transaction made
   * from it, so two at once would delete the same rule twice. Per prefix and
   * per process, whatever the number of Netfilter objects.
   */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const next = (queues.get(this.natChain) ?? Promise.resolve()).then(fn, fn);
    queues.set(this.natChain, next.catch(() => {}));
    return next;
  }

  /** The ruleset now, read by iptables-save; it becomes the known state. */
  private async save(): Promise<SavedState> {
    known.delete(this.natChain);
    const r = await run("iptables-save", []);
    if (r.code !== 0) throw new InternalError(`iptables-save: ${r.stderr.trim() || `exit status ${r.code}`}`);
    const state = parseSave(r.stdout);
    known.set(this.natChain, state);
    return state;
  }

  /** The known state (no process), or a fresh save when there is none yet. */
  private async current(): Promise<SavedState> {
    return known.get(this.natChain) ?? this.save();
  }

  private async restore(lines: Map<Table, string[]>, context: string): Promise<void> {
    let input = "";
    for (const [table, body] of lines) {
      if (body.length === 0) continue;
      input += `*${table}\n${body.join("\n")}\nCOMMIT\n`;
    }
    if (!input) return;
    const r = await run("iptables-restore", ["-w", "--noflush"], input);
    const state = known.get(this.natChain);
    if (r.code === 0) {
      if (state) applyRestore(state, input);
      return;
    }
    // Nothing of a failed restore was applied, but what we knew may be why it failed.
    known.delete(this.natChain);
    // "line 7 failed": name the rule, not just its number.
    const m = /line (\d+) failed/.exec(r.stderr);
    const bad = m ? input.split("\n")[Number(m[1]) - 1] : undefined;
    throw new InternalError(`${context}: iptables-restore: ${r.stderr.trim() || `exit status ${r.code}`}${bad ? ` (rule: ${bad})` : ""}`);
  }

  private tag(owner: string): string {
    if (!OWNER.test(owner)) throw new InvalidArgumentError(`invalid netfilter rule owner ${JSON.stringify(owner)}`);
    return `${this.tagPrefix}:${owner}`;
  }

  /** What the restore must add so that our chains and jumps exist. */
  private baseLines(state: SavedState, out: Map<Table, string[]>): void {
    for (const b of this.base()) {
      const saved = state.get(b.table);
      const lines = out.get(b.table)!;
      if (!saved?.chains.has(b.chain)) lines.unshift(`:${b.chain} - [0:0]`);
      for (const j of b.jumps) {
        const present = saved?.rules.some((r) => r.startsWith(`-A ${j.from} `) && r.endsWith(`-j ${b.chain}`));
        if (!present) lines.push(j.rule);
      }
    }
  }

  /**
   * Makes `rules` the whole set of rules `owner` has: one restore (which also
   * creates missing chains and jumps) from the known state, or from a fresh
   * save when `fresh` or nothing is known yet. An empty list removes them.
   */
  private replaceOwnerRules(owner: string, rules: Rule[], context: string, fresh = false): Promise<void> {
    let tag: string;
    try {
      tag = this.tag(owner);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.serialize(async () => {
      const fromMemory = !fresh && known.has(this.natChain);
      try {
        await this.restore(this.ownerChange(fromMemory ? await this.current() : await this.save(), tag, rules), context);
      } catch (err) {
        if (!fromMemory) throw err;
        // The state we kept was stale (our chains changed behind our back): once more from a fresh save.
        await this.restore(this.ownerChange(await this.save(), tag, rules), context);
      }
    });
  }

  /** The restore that makes `rules` the whole set of rules tagged `tag`. */
  private ownerChange(state: SavedState, tag: string, rules: Rule[]): Map<Table, string[]> {
    const out = new Map<Table, string[]>([
      ["nat", []],
      ["filter", []],
    ]);
    const tagged = new RegExp(` --comment "?${escapeRegExp(tag)}"?( |$)`);
    for (const table of ["nat", "filter"] as const) {
      for (const line of state.get(table)?.rules ?? []) {
        const chain = line.split(" ")[1]!;
        if (this.ours(chain) && tagged.test(line)) out.get(table)!.push(`-D ${line.slice(3)}`);
      }
    }
    if (rules.length > 0) this.baseLines(state, out);
    for (const r of rules) out.get(r.table)!.push(`-A ${r.chain} ${r.match} -m comment --comment ${tag} ${r.target}`.replace(/ +/g, " "));
    return out;
  }

  /** Creates hako's chains and the jumps to them (idempotent). */
  ensureBase(): Promise<void> {
    return this.serialize(async () => {
      const state = await this.save();
      const out = new Map<Table, string[]>([
        ["nat", []],
        ["filter", []],
      ]);
      this.baseLines(state, out);
      await this.restore(out, "create hako's netfilter chains");
    });
  }

  /** NAT and forwarding for one bridge network; replaces what the network had. */
  setNetworkRules(spec: BridgeRulesSpec): Promise<void> {
    if (!isValidIfName(spec.bridge)) return Promise.reject(new InvalidArgumentError(`invalid bridge name ${JSON.stringify(spec.bridge)}`));
    let subnet: string;
    try {
      subnet = formatSubnet(parseSubnet(spec.subnet));
    } catch (err) {
      return Promise.reject(err);
    }
    const br = spec.bridge;
    const post = this.postroutingChain;
    const fwd = this.forwardChain;
    const iso = this.isolationChain;
    const rules: Rule[] = [];
    if (spec.internal) {
      rules.push(
        { table: "filter", chain: iso, match: `-i ${br} ! -o ${br}`, target: "-j DROP" },
        { table: "filter", chain: iso, match: `-o ${br} ! -i ${br}`, target: "-j DROP" },
        { table: "filter", chain: fwd, match: `-i ${br} -o ${br}`, target: "-j ACCEPT" },
      );
    } else {
      rules.push(
        { table: "filter", chain: iso, match: `-i ${br} ! -o ${br}`, target: `-j ${this.isolation2Chain}` },
        { table: "filter", chain: this.isolation2Chain, match: `-o ${br}`, target: "-j DROP" },
      );
      if (spec.masquerade !== false) rules.push({ table: "nat", chain: post, match: `-s ${subnet} ! -o ${br}`, target: "-j MASQUERADE" });
      rules.push(
        // The host reaching a published port through 127.0.0.1 (route_localnet): the container must answer the gateway.
        { table: "nat", chain: post, match: `-o ${br} -m addrtype --src-type LOCAL`, target: "-j MASQUERADE" },
        // Hairpin: a container reaching a published port of its own bridge goes out and back through the host.
        { table: "nat", chain: post, match: `-s ${subnet} -o ${br} -m conntrack --ctstate DNAT`, target: "-j MASQUERADE" },
        { table: "filter", chain: fwd, match: `-o ${br}`, target: "-j ACCEPT" },
        { table: "filter", chain: fwd, match: `-i ${br}`, target: "-j ACCEPT" },
      );
    }
    return this.replaceOwnerRules(`net:${spec.network}`, rules, `netfilter rules of network ${spec.network} (bridge ${br})`, true);
  }

  removeNetworkRules(network: string): Promise<void> {
    return this.replaceOwnerRules(`net:${network}`, [], `remove netfilter rules of network ${network}`, true);
  }

  /** DNAT for a container's published ports, in one transaction; replaces what it had. */
  publish(containerId: string, forwards: PortForward[]): Promise<void> {
    let rules: Rule[];
    try {
      rules = forwards.map((f) => this.dnatRule(f));
    } catch (err) {
      return Promise.reject(err);
    }
    return this.replaceOwnerRules(`ctr:${containerId}`, rules, `publish ports of container ${containerId}`);
  }

  unpublish(containerId: string): Promise<void> {
    return this.replaceOwnerRules(`ctr:${containerId}`, [], `unpublish ports of container ${containerId}`);
  }

  private dnatRule(f: PortForward): Rule {
    if (f.proto !== "tcp" && f.proto !== "udp" && f.proto !== "sctp") throw new InvalidArgumentError(`invalid protocol ${JSON.stringify(f.proto)} (tcp, udp or sctp)`);
    const hostPort = port(f.hostPort, "host port");
    const containerPort = port(f.containerPort, "container port");
    const containerIp = formatIPv4(parseIPv4(f.containerIp, "container address"));
    let dst = "";
    if (f.hostIp && f.hostIp !== "0.0.0.0") {
      if (f.hostIp.includes(":")) throw new NotImplementedError(`publishing on IPv6 address ${f.hostIp} is not supported yet`);
      dst = `-d ${formatIPv4(parseIPv4(f.hostIp, "host address"))}/32`;
    }
    return {
      table: "nat",
      chain: this.natChain,
      match: `${dst} -p ${f.proto} -m ${f.proto} --dport ${hostPort}`,
      target: `-j DNAT --to-destination ${containerIp}:${containerPort}`,
    };
  }

  /** Rules hako owns (as iptables-save prints them), all or one owner's. */
  async listRules(owner?: string): Promise<string[]> {
    const state = await this.save();
    const tagged = owner === undefined ? undefined : new RegExp(` --comment "?${escapeRegExp(this.tag(owner))}"?( |$)`);
    const out: string[] = [];
    for (const table of ["nat", "filter"]) {
      for (const line of state.get(table)?.rules ?? []) {
        const chain = line.split(" ")[1]!;
        const isJump = [...this.base()].some((b) => line.endsWith(`-j ${b.chain}`));
        if ((this.ours(chain) || isJump) && (!tagged || tagged.test(line))) out.push(line);
      }
    }
    return out;
  }

  /** Removes every jump, rule and chain of this prefix (daemon shutdown with cleanup, tests). */
  teardown(): Promise<void> {
    return this.serialize(async () => {
      const state = await this.save();
      const out = new Map<Table, string[]>([
        ["nat", []],
        ["filter", []],
      ]);
      for (const b of this.base()) {
        const saved = state.get(b.table);
        if (!saved) continue;
        for (const line of saved.rules) {
          const chain = line.split(" ")[1]!;
          if (!this.ours(chain) && line.endsWith(`-j ${b.chain}`)) out.get(b.table)!.push(`-D ${line.slice(3)}`);
        }
      }
      for (const b of this.base()) {
        if (!state.get(b.table)?.chains.has(b.chain)) continue;
        // A chain declaration in a --noflush restore flushes it; then it can go.
        out.get(b.table)!.unshift(`:${b.chain} - [0:0]`);
        out.get(b.table)!.push(`-X ${b.chain}`);
      }
      await this.restore(out, "remove hako's netfilter chains");
      known.delete(this.natChain);
    });
  }
}
