/**
 * Linux capabilities by name and bit (include/uapi/linux/capability.h), and
 * the sets Docker uses. Masks are computed here; the helper only applies them.
 */
import { readFileSync } from "node:fs";
import { InvalidArgumentError } from "../common/errors.ts";
import type { LinuxCapabilities } from "../spec/oci-runtime.ts";

export const CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

/** Docker's default set for unprivileged containers: CapEff 00000000a80425fb. */
export const DOCKER_DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** The bit of a capability; accepts "CAP_X", "X" and any case, as docker --cap-add does. */
export function capabilityBit(name: string): number {
  const upper = name.toUpperCase();
  const full = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  const bit = CAPABILITIES.indexOf(full);
  if (bit < 0) throw new InvalidArgumentError(`unknown capability "${name}"`);
  return bit;
}

export function capabilityMask(names: readonly string[] = []): bigint {
  let mask = 0n;
  for (const n of names) mask |= 1n << BigInt(capabilityBit(n));
  return mask;
}

export function capabilityNames(mask: bigint): string[] {
  const names: string[] = [];
  for (let bit = 0; bit < CAPABILITIES.length; bit++) if (mask & (1n << BigInt(bit))) names.push(CAPABILITIES[bit]!);
  return names;
}

/** The five masks of an OCI capabilities object. */
export function capabilitySets(caps: LinuxCapabilities): {
  bounding: bigint;
  effective: bigint;
  inheritable: bigint;
  permitted: bigint;
  ambient: bigint;
} {
  return {
    bounding: capabilityMask(caps.bounding),
    effective: capabilityMask(caps.effective),
    inheritable: capabilityMask(caps.inheritable),
    permitted: capabilityMask(caps.permitted),
    ambient: capabilityMask(caps.ambient),
  };
}

/**
 * What this host can grant: its own bounding set. `--privileged` grants
 * exactly this, so it works where a capability is missing from the host
 * (this machine lacks CAP_SYS_RESOURCE).
 */
export function hostCapabilities(): string[] {
  try {
    const status = readFileSync("/proc/self/status", "utf8");
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status);
    if (m) return capabilityNames(BigInt(`0x${m[1]}`));
  } catch {
    // not Linux, or /proc hidden: fall through to every known capability
  }
  return [...CAPABILITIES];
}
