/**
 * IPv4 addresses and subnets as numbers, and the choice of a subnet for a
 * network that nobody named one for: the first of Docker's default pools
 * that overlaps neither a route on the host nor another network.
 */
import { InvalidArgumentError, NotImplementedError, UnavailableError } from "../common/errors.ts";

export interface Subnet {
  /** The network address (host bits zero). */
  base: number;
  prefix: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** "10.1.2.3" → its u32 value, or undefined when it is not a dotted quad. */
export function tryParseIPv4(text: string): number | undefined {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    // "010" is octal to inet_aton and decimal to us: refuse rather than guess.
    if (part.length > 1 && part.startsWith("0")) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value;
}

export function parseIPv4(text: string, what = "IP address"): number {
  const value = tryParseIPv4(text);
  if (value !== undefined) return value;
  if (text.includes(":")) throw new NotImplementedError(`${what} ${text}: IPv6 is not supported yet`);
  throw new InvalidArgumentError(`invalid ${what}: ${JSON.stringify(text)}`);
}

export function formatIPv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * "10.1.0.0/16" → a Subnet. Host bits must be zero, as Docker asks
 * ("invalid subnet 10.1.2.3/16: it should be 10.1.0.0/16").
 */
export function parseSubnet(text: string, what = "subnet"): Subnet {
  const slash = text.indexOf("/");
  if (slash < 0) {
    if (text.includes(":")) throw new NotImplementedError(`${what} ${text}: IPv6 is not supported yet`);
    throw new InvalidArgumentError(`invalid ${what} ${JSON.stringify(text)}: want ADDRESS/PREFIX, such as 10.10.0.0/16`);
  }
  const addr = parseIPv4(text.slice(0, slash), what);
  const prefixText = text.slice(slash + 1);
  const prefix = /^\d{1,2}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= 32)) throw new InvalidArgumentError(`invalid ${what} ${JSON.stringify(text)}: bad prefix length`);
  const base = (addr & maskOf(prefix)) >>> 0;
  if (base !== addr) {
    throw new InvalidArgumentError(`invalid ${what} ${text}: it should be ${formatSubnet({ base, prefix })}`);
  }
  return { base, prefix };
}

export function formatSubnet(s: Subnet): string {
  return `${formatIPv4(s.base)}/${s.prefix}`;
}

export function size(s: Subnet): number {
  return 2 ** (32 - s.prefix);
}

/** The last address (the broadcast address for prefixes up to /30). */
export function lastAddress(s: Subnet): number {
  return s.base + size(s) - 1;
}

export function contains(s: Subnet, addr: number): boolean {
  return addr >= s.base && addr <= lastAddress(s);
}

/** True when b lies wholly inside a. */
export function covers(a: Subnet, b: Subnet): boolean {
  return a.prefix <= b.prefix && contains(a, b.base);
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  return a.base <= lastAddress(b) && b.base <= lastAddress(a);
}

/**
 * Docker's default address pools (libnetwork ipamutils): 172.17.0.0/16 to
 * 172.31.0.0/16, then 192.168.0.0/16 cut into /20s.
 */
export function defaultCandidates(): Subnet[] {
  const out: Subnet[] = [];
  for (let b = 17; b <= 31; b++) out.push({ base: parseIPv4(`172.${b}.0.0`), prefix: 16 });
  for (let c = 0; c < 256; c += 16) out.push({ base: parseIPv4(`192.168.${c}.0`), prefix: 20 });
  return out;
}

/**
 * The first candidate that overlaps nothing in `taken` (routes on the host,
 * other networks' subnets). A default route (/0) is not a collision: it is
 * what every host has.
 */
export function chooseSubnet(taken: Subnet[], candidates: Subnet[] = defaultCandidates()): Subnet {
  const busy = taken.filter((t) => t.prefix > 0);
  const free = candidates.find((c) => !busy.some((t) => overlaps(c, t)));
  if (!free) {
    throw new UnavailableError(
      "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
    );
  }
  return free;
}
