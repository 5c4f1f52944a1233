/**
 * The value parsers behind docker's container flags, with docker's
 * semantics and error messages: go-units (RAMInBytes, ParseUlimit), Go's
 * time.ParseDuration, docker/cli's opts package (NanoCPUs, restart
 * policies, env and label files, --mount, --network, devices, sysctls,
 * extra hosts), internal/volumespec (-v) and go-connections/nat (-p).
 */
import { isIP } from "node:net";
import { readFileSync } from "node:fs";
import path from "node:path";

/** A flag value that does not parse; the message is pflag's "invalid argument ..." line. */
export class FlagValueError extends Error {}

/** Wraps a value parser's error the way pflag reports a flag's Set error. */
export function flagValue<T>(flag: string, raw: string, parse: (v: string) => T): T {
  try {
    return parse(raw);
  } catch (err) {
    throw new FlagValueError(`invalid argument "${raw}" for "${flag}" flag: ${(err as Error).message}`);
  }
}

// --- go-units -------------------------------------------------------------

const BINARY: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
const DECIMAL: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };
const GO_FLOAT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** strconv.ParseFloat for the decimal forms (Go also takes inf/nan/hex, which never reach here). */
export function parseGoFloat(s: string): number {
  if (!GO_FLOAT.test(s)) throw new Error(`strconv.ParseFloat: parsing ${JSON.stringify(s)}: invalid syntax`);
  return Number(s);
}

function parseSize(sizeStr: string, units: Record<string, number>): number {
  let sep = -1;
  for (let i = sizeStr.length - 1; i >= 0; i--) {
    if ("01234567890. ".includes(sizeStr[i]!)) {
      sep = i;
      break;
    }
  }
  if (sep === -1) throw new Error(`invalid size: '${sizeStr}'`);
  let num: string;
  let sfx: string;
  if (sizeStr[sep] !== " ") {
    num = sizeStr.slice(0, sep + 1);
    sfx = sizeStr.slice(sep + 1);
  } else {
    num = sizeStr.slice(0, sep);
    sfx = sizeStr.slice(sep + 1);
  }
  let size = parseGoFloat(num);
  if (size < 0) throw new Error(`invalid size: '${sizeStr}'`);
  if (sfx.length === 0) return Math.trunc(size);
  const bad = (): Error => new Error(`invalid suffix: '${sfx.length > 3 ? sfx : sfx.toLowerCase()}'`);
  if (sfx.length > 3) throw bad();
  sfx = sfx.toLowerCase();
  if (sfx[0] === "b") {
    if (sfx.length > 1) throw bad();
    return Math.trunc(size);
  }
  const mul = units[sfx[0]!];
  if (mul === undefined) throw bad();
  size *= mul;
  if ((sfx.length === 2 && sfx[1] !== "b") || (sfx.length === 3 && sfx.slice(1) !== "ib")) throw bad();
  return Math.trunc(size);
}

/**
 * go-units RAMInBytes: "64m" → 67108864; units k, m, g, t, p are powers of
 * 1024, case-insensitive, with an optional "b"/"ib"; a plain number is bytes.
 *
 * @throws Error "invalid size: 'x'" / "invalid suffix: 'q'"
 */
export function ramInBytes(s: string): number {
  return parseSize(s, BINARY);
}

/** go-units FromHumanSize: like ramInBytes with powers of 1000. */
export function fromHumanSize(s: string): number {
  return parseSize(s, DECIMAL);
}

/** opts.MemSwapBytes: "-1" (unlimited) or a size. */
export function memSwapBytes(s: string): number {
  return s === "-1" ? -1 : ramInBytes(s);
}

/**
 * opts.ParseCPUs: a rational number of CPUs ("1.5", "3/2", "2e-1") as
 * nano-CPUs; more precision than a nano-CPU is an error.
 *
 * @example parseCpus("1.5") // 1500000000
 */
export function parseCpus(value: string): number {
  const rat = parseRational(value);
  if (!rat) throw new Error(`failed to parse ${value} as a rational number`);
  const num = rat[0] * 1_000_000_000n;
  if (num % rat[1] !== 0n) throw new Error("value is too precise");
  return Number(num / rat[1]);
}

/** big.Rat SetString for the forms docker users write: "a/b", decimals with an exponent. */
function parseRational(s: string): [bigint, bigint] | undefined {
  const frac = /^([+-]?\d+)\/(\d+)$/.exec(s);
  if (frac) {
    const den = BigInt(frac[2]!);
    if (den === 0n) return undefined;
    return [BigInt(frac[1]!), den];
  }
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
  if (!m || (m[2] === "" && (m[3] === undefined || m[3] === ""))) return undefined;
  const sign = m[1] === "-" ? -1n : 1n;
  const intPart = m[2] ?? "";
  const fracPart = m[3] ?? "";
  const exp = Number(m[4] ?? "0") - fracPart.length;
  let num = BigInt(`${intPart}${fracPart}` || "0") * sign;
  let den = 1n;
  if (exp >= 0) num *= 10n ** BigInt(exp);
  else den = 10n ** BigInt(-exp);
  return [num, den];
}

const GO_DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * Go's time.ParseDuration, in nanoseconds: "1h30m", "1.5s", "300ms", "0".
 *
 * @throws Error `time: invalid duration "x"` (Go's messages)
 */
export function parseGoDuration(s: string): number {
  const orig = s;
  const quoted = JSON.stringify(orig);
  let neg = false;
  if (s.startsWith("-") || s.startsWith("+")) {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw new Error(`time: invalid duration ${quoted}`);
  let total = 0;
  while (s !== "") {
    const m = /^(\d*)(?:\.(\d*))?/.exec(s)!;
    if (m[0] === "" || m[0] === ".") throw new Error(`time: invalid duration ${quoted}`);
    s = s.slice(m[0].length);
    const unit = /^[^\d.]*/.exec(s)![0];
    if (unit === "") throw new Error(`time: missing unit in duration ${quoted}`);
    const mult = GO_DURATION_UNITS[unit];
    if (mult === undefined) throw new Error(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`);
    s = s.slice(unit.length);
    total += Number(`${m[1] || "0"}.${m[2] ?? ""}0`) * mult;
  }
  total = Math.round(total);
  return neg ? -total : total;
}

const ULIMIT_NAMES = new Set(["core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"]);

export interface Ulimit {
  Name: string;
  Hard: number;
  Soft: number;
}

function parseInt64(s: string): number {
  if (!/^[+-]?\d+$/.test(s)) throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(s)}: invalid syntax`);
  return Number(s);
}

/**
 * go-units ParseUlimit: "nofile=1024:2048" (soft[:hard]; hard defaults to soft).
 *
 * @throws Error "invalid ulimit type: x", "ulimit soft limit must be less than or equal to hard limit: 3 > 2"
 */
export function parseUlimit(val: string): Ulimit {
  const eq = val.indexOf("=");
  if (eq < 0) throw new Error(`invalid ulimit argument: ${val}`);
  const name = val.slice(0, eq);
  if (!ULIMIT_NAMES.has(name)) throw new Error(`invalid ulimit type: ${name}`);
  const values = val.slice(eq + 1).split(":");
  if (values.length > 2) throw new Error(`too many limit value arguments - ${val.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``);
  const hardGiven = values.length === 2 ? parseInt64(values[1]!) : undefined;
  const soft = parseInt64(values[0]!);
  const hard = hardGiven ?? soft;
  if (hard !== -1) {
    if (soft === -1) throw new Error(`ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: ${hard}`);
    if (soft > hard) throw new Error(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  }
  return { Name: name, Hard: hard, Soft: soft };
}

// --- opts -----------------------------------------------------------------

export interface RestartPolicy {
  Name: string;
  MaximumRetryCount: number;
}

/**
 * opts.ParseRestartPolicy: "no", "always", "unless-stopped", "on-failure[:N]";
 * "" gives an empty policy (left to the daemon).
 */
export function parseRestartPolicy(policy: string): RestartPolicy | Record<string, never> {
  if (policy === "") return {};
  const colon = policy.indexOf(":");
  const name = colon < 0 ? policy : policy.slice(0, colon);
  const count = colon < 0 ? "" : policy.slice(colon + 1);
  if (colon >= 0 && name === "") throw new Error("invalid restart policy format: no policy provided before colon");
  let max = 0;
  if (count !== "") {
    if (!/^[+-]?\d+$/.test(count)) throw new Error("invalid restart policy format: maximum retry count must be an integer");
    max = Number(count);
  }
  return { Name: name, MaximumRetryCount: max };
}

/**
 * opts.ValidateEnv: "KEY=VALUE" as given; a bare "KEY" takes the value of
 * the client's environment when it has one (else stays "KEY").
 */
export function validateEnv(val: string, env: NodeJS.ProcessEnv = process.env): string {
  const eq = val.indexOf("=");
  const key = eq < 0 ? val : val.slice(0, eq);
  if (key === "") throw new Error(`invalid environment variable: ${val}`);
  if (eq >= 0) return val;
  const v = env[key];
  return v !== undefined ? `${key}=${v}` : val;
}

/**
 * pkg/kvfile Parse: a file of KEY[=VALUE] lines (# comments, blank lines,
 * leading whitespace and a UTF-8 BOM ignored); a KEY without a value takes
 * `lookup(KEY)` and is left out when that finds nothing.
 */
export function parseKvFile(file: string, lookup?: (key: string) => string | undefined): string[] {
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`open ${file}: ${code === "ENOENT" ? "no such file or directory" : code === "EACCES" ? "permission denied" : (err as Error).message}`);
  }
  return parseKvText(content, file, lookup);
}

/** kvfile's parser over the file's bytes. */
export function parseKvText(content: Buffer, file: string, lookup?: (key: string) => string | undefined): string[] {
  const lines: string[] = [];
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const rawLines: Buffer[] = [];
  let from = 0;
  for (let i = 0; i <= content.length; i++) {
    if (i === content.length || content[i] === 0x0a) {
      if (i > from || i < content.length) rawLines.push(content.subarray(from, i));
      from = i + 1;
    }
  }
  for (let i = 0; i < rawLines.length; i++) {
    let bytes = rawLines[i]!;
    if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, -1);
    let line: string;
    try {
      line = decoder.decode(bytes);
    } catch {
      throw new Error(`invalid env file (${file}): invalid utf8 bytes at line ${i + 1}: [${[...bytes].join(" ")}]`);
    }
    if (i === 0) line = line.replace(/^\uFEFF/, "");
    line = line.replace(/^\s+/u, "");
    if (line.length === 0 || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const key = eq < 0 ? line : line.slice(0, eq);
    if (key.length === 0) throw new Error(`invalid env file (${file}): no variable name on line '${line}'`);
    if (/[ \t]/.test(key)) throw new Error(`invalid env file (${file}): variable '${key}' contains whitespaces`);
    if (eq >= 0) {
      lines.push(line);
      continue;
    }
    if (lookup) {
      const v = lookup(line);
      if (v !== undefined) lines.push(`${key}=${v}`);
    }
  }
  return lines;
}

/**
 * opts.ReadKVEnvStrings: the --env-file variables, then the -e ones (later
 * ones override earlier ones with the same name).
 */
export function readKvEnvStrings(files: readonly string[], overrides: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  for (const f of files) out.push(...parseKvFile(f, (k) => env[k]));
  out.push(...overrides);
  return out;
}

/** opts.ConvertKVStringsToMap. */
export function kvStringsToMap(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    out[eq < 0 ? v : v.slice(0, eq)] = eq < 0 ? "" : v.slice(eq + 1);
  }
  return out;
}

/** opts.ValidateLabel. */
export function validateLabel(value: string): string {
  const eq = value.indexOf("=");
  const key = (eq < 0 ? value : value.slice(0, eq)).replace(/^[ \t]+/, "");
  if (key === "") throw new Error(`invalid label '${value}': empty name`);
  if (/[ \t]/.test(key)) throw new Error(`label '${key}' contains whitespaces`);
  return value;
}

const SYSCTL_NAMES = new Set(["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]);

/** opts.ValidateSysctl: namespaced sysctls only (kernel IPC ones, net.*, fs.mqueue.*). */
export function validateSysctl(val: string): string {
  const eq = val.indexOf("=");
  const key = eq < 0 ? "" : val.slice(0, eq);
  if (eq < 0 || key === "") throw new Error(`sysctl '${val}' is not allowed`);
  if (SYSCTL_NAMES.has(key) || key.startsWith("net.") || key.startsWith("fs.mqueue.")) return val;
  throw new Error(`sysctl '${val}' is not allowed`);
}

/** net.ParseIP + String(): the canonical form of an address, or undefined. */
export function canonicalIp(s: string): string | undefined {
  const v = s.trim();
  const family = isIP(v);
  if (family === 4) return /(^|\.)0\d/.test(v) ? undefined : v;
  if (family === 6) {
    try {
      const host = new URL(`http://[${v}]/`).hostname;
      const inner = host.slice(1, -1);
      const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(inner);
      if (mapped) {
        const hi = parseInt(mapped[1]!, 16);
        const lo = parseInt(mapped[2]!, 16);
        return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
      }
      return inner;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** opts.ValidateIPAddress. */
export function validateIpAddress(val: string): string {
  const ip = canonicalIp(val);
  if (ip === undefined) throw new Error(`IP address is not correctly formatted: ${val}`);
  return ip;
}

/** opts.ValidateExtraHost: "host:ip", "host=ip", "[ipv6]" brackets, "host-gateway". */
export function validateExtraHost(val: string): string {
  let sep = val.indexOf("=");
  if (sep < 0) sep = val.indexOf(":");
  const k = sep < 0 ? val : val.slice(0, sep);
  let v = sep < 0 ? "" : val.slice(sep + 1);
  if (sep < 0 || k === "" || k.includes(":")) throw new Error(`bad format for add-host: ${JSON.stringify(val)}`);
  if (v !== "host-gateway") {
    if (v.length > 2 && v.startsWith("[") && v.endsWith("]")) v = v.slice(1, -1);
    if (canonicalIp(v) === undefined) throw new Error(`invalid IP address in add-host: ${JSON.stringify(v)}`);
  }
  return `${k}:${v}`;
}

const DOMAIN_RE = /^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])))*)\.?\s*$/;

/** opts.ValidateDNSSearch. */
export function validateDnsSearch(val: string): string {
  val = val.replace(/^ +| +$/g, "");
  if (val === ".") return val;
  if (!/[a-zA-Z]/.test(val)) throw new Error(`${val} is not a valid domain`);
  const m = DOMAIN_RE.exec(val);
  if (m && m[1]!.length < 255) return m[1]!;
  throw new Error(`${val} is not a valid domain`);
}

/** opts.ValidateLink: "name" or "name:alias". */
export function validateLink(val: string): string {
  if (val === "") throw new Error("empty string specified for links");
  if (val.split(":").length > 2) throw new Error(`bad format for links: ${val}`);
  return val;
}

/** net.ParseMAC for the 6-byte colon/dash forms. */
export function validMac(s: string): boolean {
  return /^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(s.trim()) || /^([0-9a-fA-F]{4}\.){2}[0-9a-fA-F]{4}$/.test(s.trim());
}

const DEVICE_CGROUP_RULE = /^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$/;

/** validateDeviceCgroupRule: "c 1:3 rwm". */
export function validateDeviceCgroupRule(val: string): string {
  if (!DEVICE_CGROUP_RULE.test(val)) throw new Error(`invalid device cgroup format '${val}'`);
  return val;
}

/** validateAttach: stdin, stdout or stderr (any case). */
export function validateAttach(val: string): string {
  const s = val.toLowerCase();
  if (s === "stdin" || s === "stdout" || s === "stderr") return s;
  throw new Error("valid streams are STDIN, STDOUT and STDERR");
}

function validDeviceMode(mode: string): boolean {
  if (mode === "") return false;
  const seen = new Set<string>();
  for (const c of mode) {
    if (!"rwm".includes(c) || seen.has(c)) return false;
    seen.add(c);
  }
  return true;
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

/** Go's path.Clean. */
export function goPathClean(p: string): string {
  if (p === "") return ".";
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

/** validateDevice (validateLinuxPath) then parseLinuxDevice: "/dev/x[:/dev/y][:rwm]". */
export function parseDevice(device: string): DeviceMapping {
  if (device.split(":").length - 1 > 2) throw new Error(`bad format for path: ${device}`);
  const split = device.split(":");
  if (split[0] === "") throw new Error(`bad format for path: ${device}`);
  let containerPath: string;
  let val: string;
  if (split.length === 1) {
    containerPath = split[0]!;
    val = goPathClean(containerPath);
  } else if (split.length === 2) {
    if (validDeviceMode(split[1]!)) {
      containerPath = split[0]!;
      val = `${goPathClean(containerPath)}:${split[1]}`;
    } else {
      containerPath = split[1]!;
      val = `${split[0]}:${goPathClean(containerPath)}`;
    }
  } else {
    containerPath = split[1]!;
    if (!validDeviceMode(split[2]!)) throw new Error(`bad mode specified: ${split[2]}`);
    val = device;
  }
  if (!containerPath.startsWith("/")) throw new Error(`${containerPath} is not an absolute path`);
  const arr = val.split(":");
  let dst = "";
  let permissions = "rwm";
  if (arr.length === 3) permissions = arr[2]!;
  if (arr.length >= 2) {
    if (validDeviceMode(arr[1]!)) permissions = arr[1]!;
    else dst = arr[1]!;
  }
  const src = arr[0]!;
  if (dst === "") dst = src;
  return { PathOnHost: src, PathInContainer: dst, CgroupPermissions: permissions };
}

export interface ThrottleDevice {
  Path: string;
  Rate: number;
}

/** opts.ValidateThrottleBpsDevice: "/dev/sda:1mb". */
export function parseThrottleBps(val: string): ThrottleDevice {
  const colon = val.indexOf(":");
  const k = colon < 0 ? val : val.slice(0, colon);
  if (colon < 0 || k === "") throw new Error(`bad format: ${val}`);
  if (!k.startsWith("/dev/")) throw new Error(`bad format for device path: ${val}`);
  let rate: number;
  try {
    rate = ramInBytes(val.slice(colon + 1));
  } catch {
    throw new Error(`invalid rate for device: ${val}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb`);
  }
  return { Path: k, Rate: rate };
}

/** opts.ValidateThrottleIOpsDevice: "/dev/sda:1000". */
export function parseThrottleIops(val: string): ThrottleDevice {
  const colon = val.indexOf(":");
  const k = colon < 0 ? val : val.slice(0, colon);
  if (colon < 0 || k === "") throw new Error(`bad format: ${val}`);
  if (!k.startsWith("/dev/")) throw new Error(`bad format for device path: ${val}`);
  const v = val.slice(colon + 1);
  if (!/^\d+$/.test(v)) throw new Error(`invalid rate for device: ${val}. The correct format is <device-path>:<number>. Number must be a positive integer`);
  return { Path: k, Rate: Number(v) };
}

/** opts.ValidateWeightDevice: "/dev/sda:200" (10..1000, or 0). */
export function parseWeightDevice(val: string): { Path: string; Weight: number } {
  const colon = val.indexOf(":");
  const k = colon < 0 ? val : val.slice(0, colon);
  if (colon < 0 || k === "") throw new Error(`bad format: ${val}`);
  if (!k.startsWith("/dev/")) throw new Error(`bad format for device path: ${val}`);
  const v = val.slice(colon + 1);
  const weight = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(weight) || weight > 65535 || (weight > 0 && (weight < 10 || weight > 1000))) throw new Error(`invalid weight for device: ${val}`);
  return { Path: k, Weight: weight };
}

/** encoding/csv for one record: comma-separated fields, "quoted" fields with "" escapes. */
export function parseCsvRecord(value: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (value[i] === '"') {
      i++;
      for (;;) {
        if (i >= value.length) throw new Error(`parse error on line 1, column ${i + 1}: extraneous or missing " in quoted-field`);
        if (value[i] === '"') {
          if (value[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += value[i++];
      }
      if (i < value.length && value[i] !== ",") throw new Error(`parse error on line 1, column ${i + 1}: extraneous or missing " in quoted-field`);
    } else {
      const comma = value.indexOf(",", i);
      const end = comma < 0 ? value.length : comma;
      field = value.slice(i, end);
      if (field.includes('"')) throw new Error(`parse error on line 1, column ${i + field.indexOf('"') + 1}: bare " in non-quoted-field`);
      i = end;
    }
    fields.push(field);
    if (i >= value.length) break;
    i++; // the comma
  }
  return fields;
}

function parseGoBool(s: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  throw new Error("invalid syntax");
}

/** A mount in the API's shape (mount.Mount), keys in docker's order. */
export interface MountSpec {
  Type?: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
  Consistency?: string;
  BindOptions?: { Propagation?: string; NonRecursive?: boolean; CreateMountpoint?: boolean; ReadOnlyNonRecursive?: boolean; ReadOnlyForceRecursive?: boolean };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; Subpath?: string; DriverConfig?: { Name?: string; Options?: Record<string, string> } };
  ImageOptions?: { Subpath?: string };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number; Options?: string[][] };
}

/**
 * opts.MountOpt.Set: "type=bind,src=/a,dst=/b,readonly", volumes by
 * default; relative sources starting with "." made absolute.
 */
export function parseMount(value: string, cwd: string = process.cwd()): MountSpec {
  const fields = parseCsvRecord(value);
  let type = "volume";
  let source: string | undefined;
  let target: string | undefined;
  let readOnly = false;
  let consistency: string | undefined;
  let bind: NonNullable<MountSpec["BindOptions"]> | undefined;
  let vol: NonNullable<MountSpec["VolumeOptions"]> | undefined;
  let image: NonNullable<MountSpec["ImageOptions"]> | undefined;
  let tmpfs: NonNullable<MountSpec["TmpfsOptions"]> | undefined;
  const volumeOptions = (): NonNullable<MountSpec["VolumeOptions"]> => {
    vol ??= { Labels: {} };
    vol.DriverConfig ??= {};
    return vol;
  };
  const bindOptions = (): NonNullable<MountSpec["BindOptions"]> => (bind ??= {});
  const setOnMap = (target: Record<string, string>, v: string): void => {
    const eq = v.indexOf("=");
    const k = eq < 0 ? v : v.slice(0, eq);
    if (k !== "") target[k] = eq < 0 ? "" : v.slice(eq + 1);
  };
  for (const field of fields) {
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const val = eq < 0 ? "" : field.slice(eq + 1);
    if (eq < 0) {
      if (key === "readonly" || key === "ro") {
        readOnly = true;
        continue;
      }
      if (key === "volume-nocopy") {
        volumeOptions().NoCopy = true;
        continue;
      }
      if (key === "bind-nonrecursive") {
        bindOptions().NonRecursive = true;
        continue;
      }
      throw new Error(`invalid field '${field}' must be a key=value pair`);
    }
    const boolOf = (msg: string): boolean => {
      try {
        return parseGoBool(val);
      } catch {
        throw new Error(msg);
      }
    };
    switch (key) {
      case "type":
        type = val.toLowerCase();
        break;
      case "source":
      case "src":
        source = val;
        if (!path.isAbsolute(val) && val.startsWith(".")) source = path.resolve(cwd, val);
        break;
      case "target":
      case "dst":
      case "destination":
        target = val;
        break;
      case "readonly":
      case "ro":
        readOnly = boolOf(`invalid value for ${key}: ${val}`);
        break;
      case "consistency":
        consistency = val.toLowerCase();
        break;
      case "bind-propagation":
        bindOptions().Propagation = val.toLowerCase();
        break;
      case "bind-nonrecursive":
        bindOptions().NonRecursive = boolOf(`invalid value for ${key}: ${val}`);
        break;
      case "bind-recursive":
        switch (val) {
          case "enabled":
            bindOptions();
            break;
          case "disabled":
            bindOptions().NonRecursive = true;
            break;
          case "writable":
            bindOptions().ReadOnlyNonRecursive = true;
            break;
          case "readonly":
            bindOptions().ReadOnlyForceRecursive = true;
            break;
          default:
            throw new Error(`invalid value for ${key}: ${val} (must be "enabled", "disabled", "writable", or "readonly")`);
        }
        break;
      case "volume-subpath":
        volumeOptions().Subpath = val;
        break;
      case "volume-nocopy":
        volumeOptions().NoCopy = boolOf(`invalid value for volume-nocopy: ${val}`);
        break;
      case "volume-label":
        setOnMap((volumeOptions().Labels ??= {}), val);
        break;
      case "volume-driver":
        volumeOptions().DriverConfig!.Name = val;
        break;
      case "volume-opt": {
        const dc = volumeOptions().DriverConfig!;
        setOnMap((dc.Options ??= {}), val);
        break;
      }
      case "image-subpath":
        (image ??= {}).Subpath = val;
        break;
      case "tmpfs-size":
        try {
          (tmpfs ??= {}).SizeBytes = ramInBytes(val);
        } catch {
          throw new Error(`invalid value for ${key}: ${val}`);
        }
        break;
      case "tmpfs-mode": {
        if (!/^[0-7]+$/.test(val) || parseInt(val, 8) > 0xffffffff) throw new Error(`invalid value for ${key}: ${val}`);
        (tmpfs ??= {}).Mode = parseInt(val, 8);
        break;
      }
      default:
        throw new Error(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (type === "") throw new Error("type is required");
  if (target === undefined || target === "") throw new Error("target is required");
  if (vol && type !== "volume") throw new Error(`cannot mix 'volume-*' options with mount type '${type}'`);
  if (image && type !== "image") throw new Error(`cannot mix 'image-*' options with mount type '${type}'`);
  if (bind && type !== "bind") throw new Error(`cannot mix 'bind-*' options with mount type '${type}'`);
  if (tmpfs && type !== "tmpfs") throw new Error(`cannot mix 'tmpfs-*' options with mount type '${type}'`);
  if (bind?.ReadOnlyNonRecursive && !readOnly) throw new Error("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction");
  if (bind?.ReadOnlyForceRecursive) {
    if (!readOnly) throw new Error("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction");
    if (bind.Propagation !== "rprivate") throw new Error("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction");
  }
  const m: MountSpec = { Type: type };
  if (source) m.Source = source;
  m.Target = target;
  if (readOnly) m.ReadOnly = true;
  if (consistency) m.Consistency = consistency;
  if (bind) m.BindOptions = stripEmpty(bind);
  if (vol) {
    const v: NonNullable<MountSpec["VolumeOptions"]> = {};
    if (vol.NoCopy) v.NoCopy = true;
    if (vol.Labels && Object.keys(vol.Labels).length) v.Labels = vol.Labels;
    if (vol.Subpath) v.Subpath = vol.Subpath;
    if (vol.DriverConfig) v.DriverConfig = stripEmpty({ Name: vol.DriverConfig.Name || undefined, Options: vol.DriverConfig.Options && Object.keys(vol.DriverConfig.Options).length ? vol.DriverConfig.Options : undefined });
    m.VolumeOptions = v;
  }
  if (image) m.ImageOptions = stripEmpty({ Subpath: image.Subpath || undefined });
  if (tmpfs) m.TmpfsOptions = stripEmpty({ SizeBytes: tmpfs.SizeBytes || undefined, Mode: tmpfs.Mode || undefined });
  return m;
}

function stripEmpty<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== false && v !== "" && v !== 0) out[k] = v;
  return out as T;
}

/** internal/volumespec Parse: source, target and the type a -v spec stands for. */
export interface VolumeSpec {
  type: "bind" | "volume";
  source: string;
  target: string;
  readOnly: boolean;
}

export function parseVolumeSpec(spec: string): VolumeSpec {
  const vol: VolumeSpec = { type: "volume", source: "", target: "", readOnly: false };
  if (spec.length === 0) throw new Error("invalid empty volume spec");
  if (spec.length <= 2) {
    vol.target = spec;
    return vol;
  }
  const chars = [...spec, "\u0000"];
  let buffer: string[] = [];
  const populate = (ch: string): void => {
    const s = buffer.join("");
    if (buffer.length === 0) throw new Error("empty section between colons");
    if (vol.source === "" && ch === "\u0000") {
      vol.target = s;
      return;
    }
    if (vol.source === "") {
      vol.source = s;
      return;
    }
    if (vol.target === "") {
      vol.target = s;
      return;
    }
    if (ch === ":") throw new Error("too many colons");
    for (const option of s.split(",")) {
      if (option === "ro") vol.readOnly = true;
      else if (option === "rw") vol.readOnly = false;
      // nocopy, a propagation and unknown options do not change the type
    }
  };
  for (const ch of chars) {
    if (ch === ":" && buffer.length === 1 && /\p{L}/u.test(buffer[0]!)) {
      buffer.push(ch);
    } else if (ch === ":" || ch === "\u0000") {
      try {
        populate(ch);
      } catch (err) {
        throw new Error(`invalid spec: ${spec}: ${(err as Error).message}`);
      }
      buffer = [];
    } else buffer.push(ch);
  }
  vol.type = vol.source !== "" && isFilePath(vol.source) ? "bind" : "volume";
  return vol;
}

function isFilePath(source: string): boolean {
  if (".~/".includes(source[0]!)) return true;
  if ([...source].length === 1) return false;
  if (source.startsWith("\\\\")) return true;
  return /^\p{L}:/u.test(source);
}

// --- go-connections/nat ------------------------------------------------------

export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

function parsePortRange(ports: string): [number, number] {
  if (ports === "") throw new Error("empty string specified for ports");
  const one = (s: string): number => {
    if (!/^\d+$/.test(s) || Number(s) > 65535) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(s)}: invalid syntax`);
    return Number(s);
  };
  if (!ports.includes("-")) {
    const p = one(ports);
    return [p, p];
  }
  const parts = ports.split("-");
  const start = one(parts[0]!);
  const end = one(parts[1]!);
  if (end < start) throw new Error(`invalid range specified for port: ${ports}`);
  return [start, end];
}

/** nat.SplitProtoPort: "80/udp" → ["udp", "80"]; tcp by default. */
export function splitProtoPort(raw: string): [string, string] {
  const slash = raw.indexOf("/");
  const port = slash < 0 ? raw : raw.slice(0, slash);
  let proto = slash < 0 ? "" : raw.slice(slash + 1);
  if (port === "") return ["", ""];
  if (proto === "") proto = "tcp";
  return [proto, port];
}

function splitParts(raw: string): [string, string, string] {
  const parts = raw.split(":");
  if (parts.length === 1) return ["", "", parts[0]!];
  if (parts.length === 2) return ["", parts[0]!, parts[1]!];
  if (parts.length === 3) return [parts[0]!, parts[1]!, parts[2]!];
  const n = parts.length;
  return [parts.slice(0, n - 2).join(":"), parts[n - 2]!, parts[n - 1]!];
}

/** nat.ParsePortSpec: "[ip:][hostPort:]containerPort[/proto]", ranges allowed. */
export function parsePortSpec(raw: string): { port: string; binding: PortBinding }[] {
  let [ip, hostPort, containerPort] = splitParts(raw);
  let [proto, cport] = splitProtoPort(containerPort);
  proto = proto.toLowerCase();
  if (ip.startsWith("[")) {
    const close = ip.indexOf("]");
    if (close < 0 || close !== ip.length - 1) throw new Error(`invalid IP address ${ip}: address ${ip}:: missing ']' in address`);
    ip = ip.slice(1, close);
  }
  if (ip !== "" && canonicalIp(ip) === undefined) throw new Error(`invalid IP address: ${ip}`);
  if (cport === "") throw new Error(`no port specified: ${raw}<empty>`);
  if (!["tcp", "udp", "sctp"].includes(proto)) throw new Error(`invalid proto: ${proto}`);
  let start: number;
  let end: number;
  try {
    [start, end] = parsePortRange(cport);
  } catch {
    throw new Error(`invalid containerPort: ${cport}`);
  }
  let hStart = 0;
  let hEnd = 0;
  if (hostPort !== "") {
    try {
      [hStart, hEnd] = parsePortRange(hostPort);
    } catch {
      throw new Error(`invalid hostPort: ${hostPort}`);
    }
    if (end - start !== hEnd - hStart && end !== start) {
      throw new Error(`invalid ranges specified for container and host Ports: ${cport} and ${hostPort}`);
    }
  }
  const count = end - start + 1;
  const out: { port: string; binding: PortBinding }[] = [];
  for (let i = 0; i < count; i++) {
    let hp = "";
    if (hostPort !== "") {
      hp = String(hStart + i);
      if (count === 1 && hStart !== hEnd) hp += `-${hEnd}`;
    }
    out.push({ port: `${start + i}/${proto}`, binding: { HostIp: ip, HostPort: hp } });
  }
  return out;
}

/** convertToStandardNotation: "published=8080,target=80,protocol=udp" → "8080:80/udp". */
export function convertPublishNotation(publish: string): string {
  if (!publish.includes("=")) return publish;
  const params: Record<string, string> = { protocol: "tcp" };
  for (const param of publish.split(",")) {
    const eq = param.indexOf("=");
    if (eq <= 0) throw new Error(`invalid publish opts format (should be name=value but got '${param}')`);
    params[param.slice(0, eq)] = param.slice(eq + 1);
  }
  return `${params.published ?? ""}:${params.target ?? ""}/${params.protocol}`;
}

/** nat.ParsePortSpecs over -p values: ExposedPorts and PortBindings. */
export function parsePortSpecs(specs: readonly string[]): { exposed: Record<string, Record<string, never>>; bindings: Record<string, PortBinding[]> } {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, PortBinding[]> = {};
  for (const spec of specs) {
    for (const { port, binding } of parsePortSpec(convertPublishNotation(spec))) {
      exposed[port] ??= {};
      (bindings[port] ??= []).push(binding);
    }
  }
  return { exposed, bindings };
}

/** --expose: "80", "80/udp", "8000-8010/tcp". */
export function parseExpose(e: string): string[] {
  if (e.includes(":")) throw new Error(`invalid port format for --expose: ${e}`);
  const [proto, port] = splitProtoPort(e);
  let start: number;
  let end: number;
  try {
    [start, end] = parsePortRange(port);
  } catch (err) {
    throw new Error(`invalid range format for --expose: ${e}, error: ${(err as Error).message}`);
  }
  const out: string[] = [];
  for (let i = start; i <= end; i++) out.push(`${i}/${proto}`);
  return out;
}

// --- --network ----------------------------------------------------------------

export interface NetworkAttachment {
  target: string;
  aliases: string[];
  driverOpts?: Record<string, string>;
  links: string[];
  ipv4Address: string;
  ipv6Address: string;
  linkLocalIps: string[];
  macAddress: string;
  gwPriority: number;
}

/** opts.NetworkOpt.Set: a name, or "name=x,alias=y,ip=...,driver-opt=k=v,gw-priority=N". */
export function parseNetworkOpt(value: string): NetworkAttachment {
  const n: NetworkAttachment = { target: "", aliases: [], links: [], ipv4Address: "", ipv6Address: "", linkLocalIps: [], macAddress: "", gwPriority: 0 };
  if (!/\w+=\w+(,\w+=\w+)*/.test(value)) {
    n.target = value;
    return n;
  }
  for (const field of parseCsvRecord(value)) {
    const lower = field.toLowerCase();
    const eq = lower.indexOf("=");
    if (eq <= 0) throw new Error(`invalid field ${field}`);
    const key = lower.slice(0, eq).trim();
    const val = lower.slice(eq + 1).trim();
    switch (key) {
      case "name":
        n.target = val;
        break;
      case "alias":
        n.aliases.push(val);
        break;
      case "ip":
        n.ipv4Address = val;
        break;
      case "ip6":
        n.ipv6Address = val;
        break;
      case "mac-address":
        n.macAddress = val;
        break;
      case "link-local-ip":
        n.linkLocalIps.push(val);
        break;
      case "driver-opt": {
        const deq = val.indexOf("=");
        if (deq <= 0) throw new Error("invalid key value pair format in driver options");
        (n.driverOpts ??= {})[val.slice(0, deq).trim()] = val.slice(deq + 1).trim();
        break;
      }
      case "gw-priority":
        if (!/^[+-]?\d+$/.test(val)) throw new Error(`invalid gw-priority (${val}): invalid syntax`);
        n.gwPriority = Number(val);
        break;
      default:
        throw new Error(`invalid field key ${key}`);
    }
  }
  if (n.target === "") throw new Error("network name/id is not specified");
  return n;
}

/** container.NetworkMode.IsUserDefined: not default, bridge, host, none or container:<id>. */
export function isUserDefinedNetwork(mode: string): boolean {
  return !["default", "bridge", "host", "none"].includes(mode) && !mode.startsWith("container:");
}

/** docker's normalizeCapabilities: upper case, CAP_ prefixed (except ALL), unique, sorted. */
export function normalizeCapabilities(caps: readonly string[]): string[] | null {
  const out = new Set<string>();
  for (let c of caps) {
    c = c.toUpperCase();
    if (c !== "ALL" && !c.startsWith("CAP_")) c = `CAP_${c}`;
    out.add(c);
  }
  if (out.size === 0) return null;
  return [...out].sort();
}

/** parseSecurityOpts: validates, and inlines a seccomp profile file as compact JSON. */
export function parseSecurityOpts(opts: readonly string[]): string[] {
  return opts.map((opt) => {
    let sep = opt.indexOf("=");
    let k = sep < 0 ? opt : opt.slice(0, sep);
    if (sep < 0 && k !== "no-new-privileges") {
      sep = opt.indexOf(":");
      k = sep < 0 ? opt : opt.slice(0, sep);
    }
    const v = sep < 0 ? "" : opt.slice(sep + 1);
    if ((sep < 0 || v === "") && k !== "no-new-privileges") throw new Error(`Invalid --security-opt: ${JSON.stringify(opt)}`);
    if (k === "seccomp" && v !== "builtin" && v !== "unconfined") {
      let content: string;
      try {
        content = readFileSync(v, "utf8");
      } catch (err) {
        throw new Error(`opening seccomp profile (${v}) failed: ${(err as Error).message}`);
      }
      try {
        return `seccomp=${JSON.stringify(JSON.parse(content))}`;
      } catch (err) {
        throw new Error(`compacting json for seccomp profile (${v}) failed: ${(err as Error).message}`);
      }
    }
    return opt;
  });
}
