/**
 * hako network create|ls|inspect|rm|connect|disconnect|prune (docker/cli
 * cli/command/network/) over the /networks endpoints.
 */
import { renderFormat } from "../../template/index.ts";
import type { CliCommand, CliContext } from "../command.ts";
import { naturalLess } from "../container/changes.ts";
import { confirm, errorText, filtersJson } from "../container/common.ts";
import { printInspected } from "../inspect.ts";
import { flagValue, kvStringsToMap, validateIpAddress, validateLabel } from "../container/parse.ts";
import { contains, parseSubnet, tryParseIPv4 } from "../../../network/subnet.ts";
import { NETWORK_HEADERS, NetworkRow, networkFormat, type NetworkWire } from "./format.ts";

const FORMAT_HELP = "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.";

interface IpamConfigWire {
  Subnet?: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

/** docker's subnetMatches: is `data` (an address, or a CIDR's address) inside `subnet`? IPv4 only here. */
function subnetMatches(subnet: string, data: string): boolean {
  let s;
  try {
    s = parseSubnet(subnet.includes("/") ? normalizeCidr(subnet) : `${subnet}/32`);
  } catch {
    throw new Error(`invalid subnet ${subnet}: invalid CIDR address: ${subnet}`);
  }
  const addr = tryParseIPv4(data.split("/")[0]!);
  if (addr === undefined) throw new Error(`invalid CIDR address: ${data}`);
  return contains(s, addr);
}

/** A CIDR with host bits cleared (docker's net.ParseCIDR keeps the network). */
function normalizeCidr(cidr: string): string {
  const [addr, bits] = cidr.split("/") as [string, string];
  const n = tryParseIPv4(addr);
  const prefix = Number(bits);
  if (n === undefined || !/^\d+$/.test(bits) || prefix > 32) throw new Error(`invalid CIDR address: ${cidr}`);
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  const base = (n & mask) >>> 0;
  return `${[base >>> 24, (base >>> 16) & 255, (base >>> 8) & 255, base & 255].join(".")}/${prefix}`;
}

/** docker's createIPAMConfig: subnets, each with at most one ip-range and gateway inside it. */
export function ipamConfig(subnets: string[], ranges: string[], gateways: string[], aux: Record<string, string>): IpamConfigWire[] {
  if (subnets.length < ranges.length || subnets.length < gateways.length) throw new Error("every ip-range or gateway must have a corresponding subnet");
  const data = new Map<string, IpamConfigWire>();
  for (const s of subnets) {
    for (const k of data.keys()) {
      if (subnetMatches(s, k) || subnetMatches(k, s)) throw new Error("multiple overlapping subnet configuration is not supported");
    }
    data.set(s, { Subnet: s });
  }
  for (const r of ranges) {
    let match = false;
    for (const s of subnets) {
      if (!subnetMatches(s, r)) continue;
      const d = data.get(s)!;
      if (d.IPRange) throw new Error(`cannot configure multiple ranges (${r}, ${d.IPRange}) on the same subnet (${s})`);
      d.IPRange = r;
      match = true;
    }
    if (!match) throw new Error(`no matching subnet for range ${r}`);
  }
  for (const g of gateways) {
    let match = false;
    for (const s of subnets) {
      if (!subnetMatches(s, g)) continue;
      const d = data.get(s)!;
      if (d.Gateway) throw new Error(`cannot configure multiple gateways (${g}, ${d.Gateway}) for the same subnet (${s})`);
      d.Gateway = g;
      match = true;
    }
    if (!match) throw new Error(`no matching subnet for gateway ${g}`);
  }
  for (const [key, addr] of Object.entries(aux)) {
    let match = false;
    for (const s of subnets) {
      if (!subnetMatches(s, addr)) continue;
      (data.get(s)!.AuxiliaryAddresses ??= {})[key] = addr;
      match = true;
    }
    if (!match) throw new Error(`no matching subnet for aux-address ${addr}`);
  }
  return [...data.values()];
}

function networkPath(ref: string, suffix = ""): string {
  return `/networks/${encodeURIComponent(ref)}${suffix}`;
}

const networkCreate: CliCommand = {
  name: "create",
  usage: "[OPTIONS] NETWORK",
  summary: "Create a network",
  args: [1, 1],
  flags: [
    { name: "attachable", type: "bool", help: "Enable manual container attachment" },
    { name: "aux-address", type: "list", value: "map", help: "Auxiliary IPv4 or IPv6 addresses used by Network driver (default map[])" },
    { name: "config-from", type: "string", value: "string", help: "The network from which to copy the configuration" },
    { name: "config-only", type: "bool", help: "Create a configuration only network" },
    { name: "driver", short: "d", type: "string", value: "string", default: "bridge", help: 'Driver to manage the Network (default "bridge")' },
    { name: "gateway", type: "list", value: "strings", help: "IPv4 or IPv6 Gateway for the master subnet" },
    { name: "ingress", type: "bool", help: "Create swarm routing-mesh network" },
    { name: "internal", type: "bool", help: "Restrict external access to the network" },
    { name: "ip-range", type: "list", value: "strings", help: "Allocate container ip from a sub-range" },
    { name: "ipam-driver", type: "string", value: "string", default: "default", help: 'IP Address Management Driver (default "default")' },
    { name: "ipam-opt", type: "list", value: "map", help: "Set IPAM driver specific options (default map[])" },
    { name: "ipv6", type: "bool", help: "Enable IPv6 networking" },
    { name: "label", type: "list", value: "list", help: "Set metadata on a network" },
    { name: "opt", short: "o", type: "list", value: "map", help: "Set driver specific options (default map[])" },
    { name: "scope", type: "string", value: "string", help: "Control the network's scope" },
    { name: "subnet", type: "list", value: "strings", help: "Subnet in CIDR format that represents a network segment" },
  ],
  async run(ctx, flags, args) {
    const config = ipamConfig(
      (flags.subnet as string[]).flatMap(splitList),
      (flags["ip-range"] as string[]).flatMap(splitList),
      (flags.gateway as string[]).flatMap(splitList),
      kvStringsToMap(flags["aux-address"] as string[]),
    );
    const labels = (flags.label as string[]).map((l) => flagValue("--label", l, validateLabel));
    const body: Record<string, unknown> = {
      Name: args[0]!,
      Driver: flags.driver as string,
      Scope: (flags.scope as string | undefined) ?? "",
      EnableIPv6: flags.ipv6 === true,
      IPAM: { Driver: flags["ipam-driver"] as string, Config: config, Options: kvStringsToMap(flags["ipam-opt"] as string[]) },
      Internal: flags.internal === true,
      Attachable: flags.attachable === true,
      Ingress: flags.ingress === true,
      ConfigOnly: flags["config-only"] === true,
      Options: kvStringsToMap(flags.opt as string[]),
      Labels: kvStringsToMap(labels),
    };
    const from = flags["config-from"] as string | undefined;
    if (from) body.ConfigFrom = { Network: from };
    const res = await ctx.client().json<{ Id: string; Warning?: string }>("POST", "/networks/create", { body });
    if (res.Warning) ctx.err(`${res.Warning}\n`);
    ctx.out(`${res.Id}\n`);
    return 0;
  },
};

/** pflag's string slices: "a,b" is two values. */
function splitList(v: string): string[] {
  return v.split(",").filter((s) => s !== "");
}

const networkLs: CliCommand = {
  name: "ls",
  aliases: ["list"],
  usage: "[OPTIONS]",
  summary: "List networks",
  args: [0, 0],
  flags: [
    { name: "filter", short: "f", type: "list", value: "filter", help: 'Provide filter values (e.g. "driver=bridge")' },
    { name: "format", type: "string", value: "string", help: `${FORMAT_HELP.replace("template:\n", "template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n")}` },
    { name: "no-trunc", type: "bool", help: "Do not truncate the output" },
    { name: "quiet", short: "q", type: "bool", help: "Only display network IDs" },
  ],
  async run(ctx, flags) {
    const quiet = flags.quiet === true;
    const format = networkFormat((flags.format as string | undefined) || "table", quiet);
    renderFormat(format, [], NETWORK_HEADERS);
    const filters = filtersJson(flags.filter as string[]);
    const list = (await ctx.client().json<NetworkWire[] | null>("GET", "/networks", { query: { filters } })) ?? [];
    list.sort((a, b) => (naturalLess(a.Name, b.Name) ? -1 : naturalLess(b.Name, a.Name) ? 1 : 0));
    const trunc = flags["no-trunc"] !== true;
    ctx.out(renderFormat(format, list.map((n) => new NetworkRow(n, trunc)), NETWORK_HEADERS));
    return 0;
  },
};

const networkInspect: CliCommand = {
  name: "inspect",
  usage: "[OPTIONS] NETWORK [NETWORK...]",
  summary: "Display detailed information on one or more networks",
  args: [1, -1],
  flags: [
    { name: "format", short: "f", type: "string", value: "string", help: FORMAT_HELP },
    { name: "verbose", short: "v", type: "bool", help: "Verbose output for diagnostics" },
  ],
  run(ctx, flags, args) {
    const verbose = flags.verbose === true ? "true" : undefined;
    return printInspected(ctx, args, (flags.format as string | undefined) || undefined, (ref) =>
      ctx.client().json("GET", networkPath(ref), { query: { verbose } }),
    );
  },
};

/** Runs `fn` for each name; errors are printed together after, with status 1 (docker's network rm). */
async function forEachName(ctx: CliContext, names: string[], fn: (name: string) => Promise<boolean>): Promise<number> {
  const errors: string[] = [];
  for (const name of names) {
    try {
      if (await fn(name)) ctx.out(`${name}\n`);
    } catch (err) {
      errors.push(errorText(err));
    }
  }
  if (errors.length === 0) return 0;
  ctx.err(`${errors.join("\n")}\n`);
  return 1;
}

const networkRm: CliCommand = {
  name: "rm",
  aliases: ["remove"],
  usage: "NETWORK [NETWORK...]",
  summary: "Remove one or more networks",
  args: [1, -1],
  flags: [{ name: "force", short: "f", type: "bool", help: "Do not error if the network does not exist" }],
  run(ctx, flags, args) {
    return forEachName(ctx, args, async (name) => {
      try {
        const res = await ctx.client().request("DELETE", networkPath(name));
        res.resume();
        return true;
      } catch (err) {
        if (flags.force === true && (err as { code?: string }).code === "ERR_NOT_FOUND") return false;
        throw err;
      }
    });
  },
};

const networkConnect: CliCommand = {
  name: "connect",
  usage: "[OPTIONS] NETWORK CONTAINER",
  summary: "Connect a container to a network",
  args: [2, 2],
  flags: [
    { name: "alias", type: "list", value: "strings", help: "Add network-scoped alias for the container" },
    { name: "driver-opt", type: "list", value: "strings", help: "driver options for the network" },
    { name: "ip", type: "string", value: "string", help: "IPv4 address (e.g., \"172.30.100.104\")" },
    { name: "ip6", type: "string", value: "string", help: "IPv6 address (e.g., \"2001:db8::33\")" },
    { name: "link", type: "list", value: "list", help: "Add link to another container" },
    { name: "link-local-ip", type: "list", value: "strings", help: "Add a link-local address for the container" },
  ],
  async run(ctx, flags, args) {
    const ip = flags.ip as string | undefined;
    const ip6 = flags.ip6 as string | undefined;
    const endpoint = {
      IPAMConfig: {
        IPv4Address: ip ? flagValue("--ip", ip, validateIpAddress) : "",
        IPv6Address: ip6 ? flagValue("--ip6", ip6, validateIpAddress) : "",
        LinkLocalIPs: (flags["link-local-ip"] as string[]).flatMap(splitList),
      },
      Links: flags.link as string[],
      Aliases: (flags.alias as string[]).flatMap(splitList),
      DriverOpts: kvStringsToMap((flags["driver-opt"] as string[]).flatMap(splitList)),
    };
    const res = await ctx.client().request("POST", networkPath(args[0]!, "/connect"), { body: { Container: args[1]!, EndpointConfig: endpoint } });
    res.resume();
    return 0;
  },
};

const networkDisconnect: CliCommand = {
  name: "disconnect",
  usage: "[OPTIONS] NETWORK CONTAINER",
  summary: "Disconnect a container from a network",
  args: [2, 2],
  flags: [{ name: "force", short: "f", type: "bool", help: "Force the container to disconnect from a network" }],
  async run(ctx, flags, args) {
    const res = await ctx.client().request("POST", networkPath(args[0]!, "/disconnect"), { body: { Container: args[1]!, Force: flags.force === true } });
    res.resume();
    return 0;
  },
};

function containerInterfacesPath(container: string, suffix = ""): string {
  return `/hako/containers/${encodeURIComponent(container)}/interfaces${suffix}`;
}

/** hako's extension (the seed's dknet): a host interface moves into a running container's network namespace. */
const networkAttachInterface: CliCommand = {
  name: "attach-interface",
  usage: "[OPTIONS] CONTAINER HOST_INTERFACE",
  summary: "Move a host interface into a running container's network namespace (hako extension)",
  args: [2, 2],
  flags: [{ name: "name", type: "string", value: "string", help: "Name of the interface inside the container (default: its host name)" }],
  async run(ctx, flags, args) {
    const name = flags.name as string | undefined;
    const rec = await ctx.client().json<{ Name: string }>("POST", containerInterfacesPath(args[0]!), {
      body: { HostInterface: args[1]!, ...(name ? { Name: name } : {}) },
    });
    ctx.out(`${rec.Name}\n`);
    return 0;
  },
};

const networkDetachInterface: CliCommand = {
  name: "detach-interface",
  usage: "CONTAINER INTERFACE",
  summary: "Give a handed-over interface back to the host under its original name (hako extension)",
  args: [2, 2],
  flags: [],
  async run(ctx, _flags, args) {
    const res = await ctx.client().request("DELETE", containerInterfacesPath(args[0]!, `/${encodeURIComponent(args[1]!)}`));
    res.resume();
    return 0;
  },
};

const networkInterfaces: CliCommand = {
  name: "interfaces",
  usage: "CONTAINER",
  summary: "List the host interfaces a container holds (hako extension)",
  args: [1, 1],
  flags: [],
  async run(ctx, _flags, args) {
    const list = (await ctx.client().json<Array<{ Name: string; HostInterface: string; Physical: boolean }> | null>("GET", containerInterfacesPath(args[0]!))) ?? [];
    const rows = [["NAME", "HOST INTERFACE", "KIND"], ...list.map((r) => [r.Name, r.HostInterface, r.Physical ? "physical" : "virtual"])];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    ctx.out(rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]! + 3) : c)).join("") + "\n").join(""));
    return 0;
  },
};

const PRUNE_WARNING = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?";

/** POST /networks/prune; the "Deleted Networks:" text (empty when nothing went). */
export async function pruneNetworks(ctx: CliContext, filterValues: string[]): Promise<string> {
  const report = await ctx.client().json<{ NetworksDeleted?: string[] | null }>("POST", "/networks/prune", { query: { filters: filtersJson(filterValues) } });
  const deleted = report?.NetworksDeleted ?? [];
  if (deleted.length === 0) return "";
  return `Deleted Networks:\n${deleted.map((d) => `${d}\n`).join("")}`;
}

const networkPrune: CliCommand = {
  name: "prune",
  usage: "[OPTIONS]",
  summary: "Remove all unused networks",
  args: [0, 0],
  flags: [
    { name: "filter", type: "list", value: "filter", help: 'Provide filter values (e.g. "until=<timestamp>")' },
    { name: "force", short: "f", type: "bool", help: "Do not prompt for confirmation" },
  ],
  async run(ctx, flags) {
    if (flags.force !== true) {
      if (!(await confirm(ctx, PRUNE_WARNING))) return 0;
    }
    const output = await pruneNetworks(ctx, flags.filter as string[]);
    if (output !== "") ctx.out(`${output}\n`);
    return 0;
  },
};

export const network: CliCommand = {
  name: "network",
  usage: "COMMAND",
  summary: "Manage networks",
  subcommands: [networkAttachInterface, networkConnect, networkCreate, networkDetachInterface, networkDisconnect, networkInspect, networkInterfaces, networkLs, networkPrune, networkRm],
};
