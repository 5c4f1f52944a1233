/**
 * Mount option strings (as in config.json and mount(8)) split into MS_*
 * flags, propagation flags and the data string the filesystem gets.
 */
import { InvalidArgumentError } from "../common/errors.ts";

export const MS = {
  RDONLY: 0x1n,
  NOSUID: 0x2n,
  NODEV: 0x4n,
  NOEXEC: 0x8n,
  SYNCHRONOUS: 0x10n,
  REMOUNT: 0x20n,
  MANDLOCK: 0x40n,
  DIRSYNC: 0x80n,
  NOSYMFOLLOW: 0x100n,
  NOATIME: 0x400n,
  NODIRATIME: 0x800n,
  BIND: 0x1000n,
  REC: 0x4000n,
  SILENT: 0x8000n,
  UNBINDABLE: 0x20000n,
  PRIVATE: 0x40000n,
  SLAVE: 0x80000n,
  SHARED: 0x100000n,
  RELATIME: 0x200000n,
  STRICTATIME: 0x1000000n,
  LAZYTIME: 0x2000000n,
} as const;

/** option → [set, clear] */
const FLAG_OPTIONS: Record<string, [bigint, bigint]> = {
  defaults: [0n, 0n],
  ro: [MS.RDONLY, 0n],
  rw: [0n, MS.RDONLY],
  suid: [0n, MS.NOSUID],
  nosuid: [MS.NOSUID, 0n],
  dev: [0n, MS.NODEV],
  nodev: [MS.NODEV, 0n],
  exec: [0n, MS.NOEXEC],
  noexec: [MS.NOEXEC, 0n],
  sync: [MS.SYNCHRONOUS, 0n],
  async: [0n, MS.SYNCHRONOUS],
  dirsync: [MS.DIRSYNC, 0n],
  remount: [MS.REMOUNT, 0n],
  mand: [MS.MANDLOCK, 0n],
  nomand: [0n, MS.MANDLOCK],
  atime: [0n, MS.NOATIME],
  noatime: [MS.NOATIME, 0n],
  diratime: [0n, MS.NODIRATIME],
  nodiratime: [MS.NODIRATIME, 0n],
  relatime: [MS.RELATIME, 0n],
  norelatime: [0n, MS.RELATIME],
  strictatime: [MS.STRICTATIME, 0n],
  nostrictatime: [0n, MS.STRICTATIME],
  lazytime: [MS.LAZYTIME, 0n],
  nolazytime: [0n, MS.LAZYTIME],
  symfollow: [0n, MS.NOSYMFOLLOW],
  nosymfollow: [MS.NOSYMFOLLOW, 0n],
  bind: [MS.BIND, 0n],
  rbind: [MS.BIND | MS.REC, 0n],
};

const PROPAGATION_OPTIONS: Record<string, bigint> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

/** Options that only mean something to other tools; accepted and dropped. */
const IGNORED_OPTIONS = new Set(["tmpcopyup", "nocopy", "z", "Z", "U", "notmpcopyup"]);

export interface ParsedMountOptions {
  flags: bigint;
  propagation: bigint;
  data: string;
}

export function parseMountOptions(options: readonly string[] = []): ParsedMountOptions {
  let flags = 0n;
  let propagation = 0n;
  const data: string[] = [];
  for (const opt of options) {
    const flag = FLAG_OPTIONS[opt];
    if (flag) {
      flags = (flags | flag[0]) & ~flag[1];
      continue;
    }
    const prop = PROPAGATION_OPTIONS[opt];
    if (prop !== undefined) {
      propagation = prop;
      continue;
    }
    if (IGNORED_OPTIONS.has(opt)) continue;
    if (opt === "idmap" || opt === "ridmap") {
      throw new InvalidArgumentError(`mount option "${opt}" (id-mapped mounts) is not supported`);
    }
    data.push(opt);
  }
  return { flags, propagation, data: data.join(",") };
}

/** Propagation of the rootfs (linux.rootfsPropagation). */
export function parsePropagation(value: string): bigint {
  const prop = PROPAGATION_OPTIONS[value];
  if (prop === undefined) throw new InvalidArgumentError(`rootfsPropagation "${value}" is not one of ${Object.keys(PROPAGATION_OPTIONS).join(", ")}`);
  return prop;
}
