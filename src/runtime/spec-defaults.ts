/**
 * Default configs: the one `hako-runtime spec` writes (runc's shape) and the
 * pieces of Docker's default container (moby oci/defaults.go) that the
 * engine and the tests build configs from.
 */
import { OCI_VERSION, type Mount, type Spec } from "../spec/oci-runtime.ts";
import { DOCKER_DEFAULT_CAPABILITIES } from "./capabilities.ts";

export const DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Paths Docker hides from unprivileged containers. */
export const DOCKER_MASKED_PATHS: readonly string[] = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/interrupts",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

/** Paths Docker leaves visible but read-only. */
export const DOCKER_READONLY_PATHS: readonly string[] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/** Docker's default mounts (proc, /dev, devpts, sysfs, cgroup, mqueue, shm). */
export function dockerDefaultMounts(): Mount[] {
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["ro", "nosuid", "noexec", "nodev"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"] },
  ];
}

/** What `hako-runtime spec` writes: runc's default, a shell in ./rootfs. */
export function defaultSpec(options: { rootless?: boolean } = {}): Spec {
  const caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ["sh"],
      env: [DEFAULT_PATH_ENV, "TERM=xterm"],
      cwd: "/",
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "hako",
    mounts: dockerDefaultMounts().filter((m) => m.destination !== "/dev/shm").concat([
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    ]),
    linux: {
      resources: { devices: [{ allow: false, access: "rwm" }] },
      namespaces: [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, { type: "cgroup" }],
      maskedPaths: [...DOCKER_MASKED_PATHS],
      readonlyPaths: [...DOCKER_READONLY_PATHS],
    },
  };
  if (options.rootless) {
    spec.linux!.namespaces!.push({ type: "user" });
    spec.linux!.uidMappings = [{ containerID: 0, hostID: process.getuid?.() ?? 0, size: 1 }];
    spec.linux!.gidMappings = [{ containerID: 0, hostID: process.getgid?.() ?? 0, size: 1 }];
    delete spec.linux!.resources;
  }
  return spec;
}

/** Docker's unprivileged defaults applied to a process: capabilities, no terminal. */
export function dockerDefaultCapabilities(): NonNullable<NonNullable<Spec["process"]>["capabilities"]> {
  const caps = [...DOCKER_DEFAULT_CAPABILITIES];
  return { bounding: caps, effective: caps, permitted: caps };
}
