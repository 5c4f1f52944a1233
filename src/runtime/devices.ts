/**
 * The device nodes every container gets (runtime-spec "Default Devices")
 * and the device-cgroup rules that must allow them.
 */
import type { LinuxDevice, LinuxDeviceCgroup } from "../spec/oci-runtime.ts";

export const DEFAULT_DEVICES: readonly LinuxDevice[] = [
  { path: "/dev/null", type: "c", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/zero", type: "c", major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/full", type: "c", major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/random", type: "c", major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/urandom", type: "c", major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/tty", type: "c", major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
];

/** Links /dev gets in every container (runtime-spec "Dev symbolic links"). */
export const DEFAULT_DEV_SYMLINKS: readonly { target: string; path: string }[] = [
  { target: "/proc/self/fd", path: "/dev/fd" },
  { target: "/proc/self/fd/0", path: "/dev/stdin" },
  { target: "/proc/self/fd/1", path: "/dev/stdout" },
  { target: "/proc/self/fd/2", path: "/dev/stderr" },
  { target: "pts/ptmx", path: "/dev/ptmx" },
];

/** Allow rules for the default nodes and the pty multiplexer, appended after the config's rules (as runc). */
export const DEFAULT_DEVICE_RULES: readonly LinuxDeviceCgroup[] = [
  ...DEFAULT_DEVICES.map((d) => ({ allow: true, type: "c" as const, major: d.major, minor: d.minor, access: "rwm" })),
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" }, // /dev/pts/ptmx
  { allow: true, type: "c", major: 136, minor: null, access: "rwm" }, // /dev/pts/*
];

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

export function deviceTypeBits(type: LinuxDevice["type"]): number {
  switch (type) {
    case "b":
      return S_IFBLK;
    case "p":
      return S_IFIFO;
    default:
      return S_IFCHR;
  }
}
