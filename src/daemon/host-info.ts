/**
 * Facts about the host that /info reports: operating system, kernel,
 * hardware, which cgroup features exist (dockerd's pkg/sysinfo), and the
 * warnings dockerd prints when one is missing.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { detectCgroupVersion } from "../cgroups/open.ts";

export interface CgroupFeatures {
  memoryLimit: boolean;
  swapLimit: boolean;
  kernelMemoryTCP: boolean;
  oomKillDisable: boolean;
  cpuCfs: boolean;
  cpuShares: boolean;
  cpuset: boolean;
  pidsLimit: boolean;
  blkioThrottle: boolean;
  ioWeight: boolean;
}

export interface HostFacts {
  kernelVersion: string;
  /** PRETTY_NAME of os-release. */
  operatingSystem: string;
  osVersion: string;
  /** uname -m: x86_64, aarch64. */
  architecture: string;
  ncpu: number;
  memTotal: number;
  hostname: string;
  cgroupVersion: 1 | 2;
  cgroups: CgroupFeatures;
  ipv4Forwarding: boolean;
  bridgeNfIptables: boolean;
  bridgeNfIp6tables: boolean;
  seccomp: boolean;
  warnings: string[];
}

export interface HostFactsOptions {
  /** Where cgroupfs is mounted (tests). */
  cgroupRoot?: string;
  /** Where /proc is (tests). */
  procRoot?: string;
  /** Where os-release is looked for (tests). */
  etcRoot?: string;
}

/** The host's facts, read now. Cheap: a handful of small files. */
export function readHostFacts(options: HostFactsOptions = {}): HostFacts {
  const cgroupRoot = options.cgroupRoot ?? "/sys/fs/cgroup";
  const proc = options.procRoot ?? "/proc";
  const release = readOsRelease(options.etcRoot ?? "/etc");
  const cgroupVersion = detectCgroupVersion(cgroupRoot);
  const cgroups = cgroupVersion === 2 ? cgroupV2Features(cgroupRoot) : cgroupV1Features(cgroupRoot);
  const facts: HostFacts = {
    kernelVersion: os.release(),
    operatingSystem: release.PRETTY_NAME ?? release.NAME ?? "Linux",
    osVersion: release.VERSION_ID ?? "",
    architecture: os.machine(),
    ncpu: os.availableParallelism(),
    memTotal: os.totalmem(),
    hostname: os.hostname(),
    cgroupVersion,
    cgroups,
    ipv4Forwarding: readTrimmed(path.join(proc, "sys/net/ipv4/ip_forward")) === "1",
    bridgeNfIptables: readTrimmed(path.join(proc, "sys/net/bridge/bridge-nf-call-iptables")) === "1",
    bridgeNfIp6tables: readTrimmed(path.join(proc, "sys/net/bridge/bridge-nf-call-ip6tables")) === "1",
    seccomp: /^Seccomp:/m.test(readTrimmed(path.join(proc, "self/status")) ?? ""),
    warnings: [],
  };
  facts.warnings = warningsFor(facts);
  return facts;
}

function readTrimmed(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** os-release as key → value (quotes removed). */
export function readOsRelease(etcRoot = "/etc"): Record<string, string> {
  const text = readTrimmed(path.join(etcRoot, "os-release")) ?? readTrimmed(path.join(etcRoot, "../usr/lib/os-release")) ?? "";
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2]!;
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1).replace(/\\(["\\$`])/g, "$1");
    out[m[1]!] = v;
  }
  return out;
}

function cgroupV1Features(root: string): CgroupFeatures {
  const has = (controller: string, file?: string): boolean => existsSync(file ? path.join(root, controller, file) : path.join(root, controller));
  return {
    memoryLimit: has("memory", "memory.limit_in_bytes"),
    swapLimit: has("memory", "memory.memsw.limit_in_bytes"),
    kernelMemoryTCP: has("memory", "memory.kmem.tcp.limit_in_bytes"),
    oomKillDisable: has("memory", "memory.oom_control"),
    cpuCfs: has("cpu", "cpu.cfs_quota_us") && has("cpu", "cpu.cfs_period_us"),
    cpuShares: has("cpu", "cpu.shares"),
    cpuset: has("cpuset", "cpuset.cpus"),
    pidsLimit: has("pids"),
    blkioThrottle: has("blkio", "blkio.throttle.read_bps_device"),
    ioWeight: has("blkio", "blkio.weight"),
  };
}

function cgroupV2Features(root: string): CgroupFeatures {
  const controllers = new Set((readTrimmed(path.join(root, "cgroup.controllers")) ?? "").split(/\s+/).filter(Boolean));
  // Swap accounting shows as memory.swap.max in child cgroups only.
  const swap = controllers.has("memory") && childHas(root, "memory.swap.max");
  return {
    memoryLimit: controllers.has("memory"),
    swapLimit: swap,
    kernelMemoryTCP: false,
    oomKillDisable: false,
    cpuCfs: controllers.has("cpu"),
    cpuShares: controllers.has("cpu"),
    cpuset: controllers.has("cpuset"),
    pidsLimit: controllers.has("pids"),
    blkioThrottle: controllers.has("io"),
    ioWeight: controllers.has("io"),
  };
}

function childHas(root: string, file: string): boolean {
  try {
    for (const entry of readdirSync(root, { withFileTypes: true })) {
      if (entry.isDirectory() && existsSync(path.join(root, entry.name, file))) return true;
    }
  } catch {
    // unreadable: assume absent
  }
  return false;
}

/** dockerd's /info warnings for what the host lacks (daemon/info_unix.go). */
function warningsFor(f: HostFacts): string[] {
  const w: string[] = [];
  const v1 = f.cgroupVersion === 1;
  if (!f.cgroups.memoryLimit) w.push("WARNING: No memory limit support");
  if (!f.cgroups.swapLimit) w.push("WARNING: No swap limit support");
  if (v1 && !f.cgroups.kernelMemoryTCP) w.push("WARNING: No kernel memory TCP limit support");
  if (v1 && !f.cgroups.oomKillDisable) w.push("WARNING: No oom kill disable support");
  if (!f.cgroups.cpuCfs) w.push("WARNING: No cpu cfs quota support", "WARNING: No cpu cfs period support");
  if (!f.cgroups.cpuShares) w.push("WARNING: No cpu shares support");
  if (!f.cgroups.cpuset) w.push("WARNING: No cpuset support");
  if (!v1 && !f.cgroups.ioWeight) w.push("WARNING: No io.weight support");
  if (!f.cgroups.blkioThrottle) {
    if (v1) {
      w.push(
        "WARNING: No blkio throttle.read_bps_device support",
        "WARNING: No blkio throttle.write_bps_device support",
        "WARNING: No blkio throttle.read_iops_device support",
        "WARNING: No blkio throttle.write_iops_device support",
      );
    } else {
      w.push("WARNING: No io.max (rbps) support", "WARNING: No io.max (wbps) support", "WARNING: No io.max (riops) support", "WARNING: No io.max (wiops) support");
    }
  }
  if (!f.ipv4Forwarding) w.push("WARNING: IPv4 forwarding is disabled");
  return w;
}
