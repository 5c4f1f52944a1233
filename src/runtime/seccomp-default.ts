/**
 * Docker's default seccomp profile for unprivileged containers, and the
 * daemon-side step that turns it into an OCI `linux.seccomp` for one container.
 *
 * Transcribed (facts only, in hako's own representation) from moby/profiles
 * tag seccomp/v0.1.0, commit c936cc7b4074219137bc0bee45670f5e4618d462
 * (seccomp/default_linux.go and seccomp/seccomp_linux.go). That tag is the
 * profile as it left moby/moby `profiles/seccomp` in July 2025, i.e. what
 * Docker 28.x ships; Docker 24–27 carry a subset of the same rules (fewer
 * names in the unconditional allow list, lsm_* not yet gated on CAP_SYS_ADMIN).
 * Later profile tags (v0.2.x, 2026) also deny AF_ALG sockets; not included.
 */

import os from "node:os";
import { InvalidArgumentError } from "../common/errors.ts";
import type { LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSyscall } from "../spec/oci-runtime.ts";

export interface ProfileRule {
  names: string[];
  action: LinuxSeccompAction;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
  /** Every listed condition must hold for the rule to be kept. */
  includes?: { caps?: string[]; arches?: string[]; minKernel?: string };
  /** The rule is dropped if any listed condition holds. */
  excludes?: { caps?: string[]; arches?: string[] };
}

export interface DockerSeccompProfile {
  defaultAction: LinuxSeccompAction;
  defaultErrnoRet: number;
  archMap: { architecture: string; subArchitectures: string[] }[];
  rules: ProfileRule[];
}

const EPERM = 1;
const ENOSYS = 38;
const AF_VSOCK = 40;

// Any of these in clone(2)'s flags creates a namespace, which only CAP_SYS_ADMIN may do.
const CLONE_NEWNS = 0x00020000;
const CLONE_NEWCGROUP = 0x02000000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;
const CLONE_NAMESPACE_FLAGS =
  CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET; // 0x7e020000

// personality(2) personas a container may switch to: the ones 32-bit and
// legacy-uname software needs, plus the 0xffffffff "query only" call.
const PER_LINUX = 0x0;
const PER_LINUX32 = 0x8;
const UNAME26 = 0x20000;
const PERSONALITY_QUERY = 0xffffffff;

function words(list: string): string[] {
  return list.trim().split(/\s+/);
}

function allow(names: string[], conditions: Omit<ProfileRule, "names" | "action"> = {}): ProfileRule {
  return { names, action: "SCMP_ACT_ALLOW", ...conditions };
}

function allowWithCap(cap: string, names: string[]): ProfileRule {
  return allow(names, { includes: { caps: [cap] } });
}

function allowIfArg0(name: string, value: number, op: LinuxSeccompArg["op"]): ProfileRule {
  return allow([name], { args: [{ index: 0, value, op }] });
}

// Harmless for any process: allowed whatever the capabilities, arch or kernel.
// Names the running libseccomp does not know are skipped by the runtime, which
// is why names of newer kernels can sit here unconditionally.
const UNCONDITIONAL = words(`
  accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
  clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
  clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
  dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
  epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
  fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat
  fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64
  fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64
  futex_wait futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32
  geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
  getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit
  get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday
  getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init inotify_init1 inotify_rm_watch
  io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set
  io_setup io_submit ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self
  lchown lchown32 lgetxattr link linkat listen listmount listxattr listxattrat llistxattr _llseek
  lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack membarrier memfd_create
  memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect
  mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
  mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock munlockall
  munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open
  pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl
  pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev
  pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg
  remap_file_pages removexattr removexattrat rename renameat renameat2 restart_syscall
  riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn
  rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity
  sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
  sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
  sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64
  send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid
  setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid
  setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt
  set_thread_area set_tid_address setuid setuid32 setxattr setxattrat shmat shmctl shmdt shmget
  shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice stat
  stat64 statfs statfs64 statmount statx symlink symlinkat sync sync_file_range syncfs sysinfo tee
  tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
  timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
  timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat
  uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write
  writev
`);

const RULES: ProfileRule[] = [
  allow(UNCONDITIONAL),

  // Before 4.8 a ptraced process could use ptrace to step around seccomp itself.
  allow(["process_vm_readv", "process_vm_writev", "ptrace"], { includes: { minKernel: "4.8" } }),

  // AF_VSOCK reaches the hypervisor/host, which a container must not talk to directly.
  allowIfArg0("socket", AF_VSOCK, "SCMP_CMP_NE"),

  allowIfArg0("personality", PER_LINUX, "SCMP_CMP_EQ"),
  allowIfArg0("personality", PER_LINUX32, "SCMP_CMP_EQ"),
  allowIfArg0("personality", UNAME26, "SCMP_CMP_EQ"),
  allowIfArg0("personality", UNAME26 | PER_LINUX32, "SCMP_CMP_EQ"),
  allowIfArg0("personality", PERSONALITY_QUERY, "SCMP_CMP_EQ"),

  allow(["sync_file_range2", "swapcontext"], { includes: { arches: ["ppc64le"] } }),
  allow(words("arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls"), {
    includes: { arches: ["arm", "arm64"] },
  }),
  allow(["arch_prctl"], { includes: { arches: ["amd64", "x32"] } }),
  allow(["modify_ldt"], { includes: { arches: ["amd64", "x32", "x86"] } }),
  allow(["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"], {
    includes: { arches: ["s390", "s390x"] },
  }),
  allow(["riscv_flush_icache"], { includes: { arches: ["riscv64"] } }),

  allowWithCap("CAP_DAC_READ_SEARCH", ["open_by_handle_at"]),
  allowWithCap(
    "CAP_SYS_ADMIN",
    words(`
      bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie
      lsm_get_self_attr lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount open_tree
      perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare
    `),
  ),

  // Without CAP_SYS_ADMIN, clone is fine as long as it creates no namespace.
  // s390 swaps clone's first two arguments, so the flags are argument 1 there.
  {
    names: ["clone"],
    action: "SCMP_ACT_ALLOW",
    args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, op: "SCMP_CMP_MASKED_EQ" }],
    excludes: { caps: ["CAP_SYS_ADMIN"], arches: ["s390", "s390x"] },
  },
  {
    names: ["clone"],
    action: "SCMP_ACT_ALLOW",
    args: [{ index: 1, value: CLONE_NAMESPACE_FLAGS, op: "SCMP_CMP_MASKED_EQ" }],
    includes: { arches: ["s390", "s390x"] },
    excludes: { caps: ["CAP_SYS_ADMIN"] },
  },
  // clone3 passes its flags in memory seccomp cannot inspect; ENOSYS (not EPERM)
  // makes glibc and others fall back to the filterable clone.
  { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS, excludes: { caps: ["CAP_SYS_ADMIN"] } },

  allowWithCap("CAP_SYS_BOOT", ["reboot"]),
  allowWithCap("CAP_SYS_CHROOT", ["chroot"]),
  allowWithCap("CAP_SYS_MODULE", ["delete_module", "init_module", "finit_module"]),
  allowWithCap("CAP_SYS_PACCT", ["acct"]),
  allowWithCap(
    "CAP_SYS_PTRACE",
    words("kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace"),
  ),
  allowWithCap("CAP_SYS_RAWIO", ["iopl", "ioperm"]),
  allowWithCap("CAP_SYS_TIME", ["settimeofday", "stime", "clock_settime", "clock_settime64"]),
  allowWithCap("CAP_SYS_TTY_CONFIG", ["vhangup"]),
  allowWithCap("CAP_SYS_NICE", ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
  allowWithCap("CAP_SYSLOG", ["syslog"]),
  allowWithCap("CAP_BPF", ["bpf"]),
  allowWithCap("CAP_PERFMON", ["perf_event_open"]),
];

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

// Frozen because it is shared by every container the daemon creates, as are
// the profiles resolveDockerDefault makes from it.
export const DOCKER_DEFAULT_PROFILE: DockerSeccompProfile = deepFreeze({
  defaultAction: "SCMP_ACT_ERRNO",
  defaultErrnoRet: EPERM,
  // No entry for ppc64le, x86, arm and other 32-bit hosts: there Docker leaves
  // `architectures` empty, so the runtime filters the native arch only.
  archMap: [
    { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
    { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] },
    { architecture: "SCMP_ARCH_MIPS64", subArchitectures: ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"] },
    { architecture: "SCMP_ARCH_MIPS64N32", subArchitectures: ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"] },
    { architecture: "SCMP_ARCH_MIPSEL64", subArchitectures: ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"] },
    { architecture: "SCMP_ARCH_MIPSEL64N32", subArchitectures: ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"] },
    { architecture: "SCMP_ARCH_S390X", subArchitectures: ["SCMP_ARCH_S390"] },
    { architecture: "SCMP_ARCH_RISCV64", subArchitectures: [] },
  ],
  rules: RULES,
});

// Profile conditions name arches the way libseccomp does ("x86", "mipsel64"),
// which differs from GOARCH ("386", "mips64le") for a few of them.
const GOARCH_TO_PROFILE_ARCH: Record<string, string> = {
  "386": "x86",
  mips64p32: "mips64n32",
  mips64le: "mipsel64",
  mips64p32le: "mipsel64n32",
  mipsle: "mipsel",
};

const PROFILE_ARCH_TO_SCMP: Record<string, string> = {
  x86: "SCMP_ARCH_X86",
  amd64: "SCMP_ARCH_X86_64",
  arm: "SCMP_ARCH_ARM",
  arm64: "SCMP_ARCH_AARCH64",
  mips64: "SCMP_ARCH_MIPS64",
  mips64n32: "SCMP_ARCH_MIPS64N32",
  mipsel64: "SCMP_ARCH_MIPSEL64",
  mipsel64n32: "SCMP_ARCH_MIPSEL64N32",
  mipsel: "SCMP_ARCH_MIPSEL",
  ppc: "SCMP_ARCH_PPC",
  ppc64: "SCMP_ARCH_PPC64",
  ppc64le: "SCMP_ARCH_PPC64LE",
  riscv64: "SCMP_ARCH_RISCV64",
  s390: "SCMP_ARCH_S390",
  s390x: "SCMP_ARCH_S390X",
};

/** The host's architecture as a Go GOARCH name, which Docker keys the profile on. */
function hostGoArch(): string {
  switch (process.arch) {
    case "x64":
      return "amd64";
    case "ia32":
      return "386";
    case "mipsel":
      return "mipsle";
    // Node reports little-endian POWER as "ppc64" too.
    case "ppc64":
      return os.endianness() === "LE" ? "ppc64le" : "ppc64";
    default:
      return process.arch;
  }
}

interface KernelVersion {
  major: number;
  minor: number;
}

// Like Docker, only "major.minor" counts, so "4.8.0-generic" and "4.8-1-amd64" are 4.8.
function parseKernel(release: string): KernelVersion {
  const m = /^\s*(\d+)\.(\d+)/.exec(release);
  if (!m) throw new InvalidArgumentError(`failed to parse kernel version ${JSON.stringify(release)}`);
  return { major: Number(m[1]), minor: Number(m[2]) };
}

function kernelAtLeast(have: KernelVersion, want: KernelVersion): boolean {
  return have.major > want.major || (have.major === want.major && have.minor >= want.minor);
}

/**
 * The OCI seccomp config Docker's daemon generates from its default profile
 * for a container with the given capabilities (the bounding set).
 * `arch` is a GOARCH name ("amd64", "arm64", "s390x"; "386" or "x86" both
 * work) and defaults to the host's; `kernel` defaults to os.release().
 */
/**
 * Resolved profiles by capability set, arch and kernel. Containers with the
 * same inputs share one (frozen) object, so the plan made from it and its
 * encoded records are reused by every start, not only by a container's execs.
 */
const resolvedDefaults = new Map<string, LinuxSeccomp>();

export function resolveDockerDefault(options: { capabilities: string[]; arch?: string; kernel?: string }): LinuxSeccomp {
  const key = `${options.arch ?? ""}|${options.kernel ?? ""}|${[...options.capabilities].sort().join(",")}`;
  let resolved = resolvedDefaults.get(key);
  if (!resolved) {
    resolved = deepFreeze(resolveDefault(options));
    if (resolvedDefaults.size > 64) resolvedDefaults.clear();
    resolvedDefaults.set(key, resolved);
  }
  return resolved;
}

function resolveDefault(options: { capabilities: string[]; arch?: string; kernel?: string }): LinuxSeccomp {
  const profile = DOCKER_DEFAULT_PROFILE;
  const goArch = options.arch ?? hostGoArch();
  const arch = GOARCH_TO_PROFILE_ARCH[goArch] ?? goArch;
  const caps = new Set(options.capabilities);

  // Parsed lazily, as Docker does, so a bad release string only fails when a rule needs it.
  let kernel: KernelVersion | undefined;
  const currentKernel = (): KernelVersion => (kernel ??= parseKernel(options.kernel ?? os.release()));

  const keep = (rule: ProfileRule): boolean => {
    const { includes, excludes } = rule;
    if (excludes) {
      if (excludes.arches?.includes(arch)) return false;
      if (excludes.caps?.some((c) => caps.has(c))) return false;
    }
    if (includes) {
      if (includes.arches?.length && !includes.arches.includes(arch)) return false;
      if (includes.caps?.some((c) => !caps.has(c))) return false;
      if (includes.minKernel !== undefined && !kernelAtLeast(currentKernel(), parseKernel(includes.minKernel))) {
        return false;
      }
    }
    return true;
  };

  const result: LinuxSeccomp = { defaultAction: profile.defaultAction, defaultErrnoRet: profile.defaultErrnoRet };

  const scmpArch = PROFILE_ARCH_TO_SCMP[arch];
  const entry = scmpArch === undefined ? undefined : profile.archMap.find((a) => a.architecture === scmpArch);
  if (entry) result.architectures = [entry.architecture, ...entry.subArchitectures];

  result.syscalls = profile.rules.filter(keep).map((rule): LinuxSyscall => {
    const syscall: LinuxSyscall = { names: [...rule.names], action: rule.action };
    if (rule.errnoRet !== undefined) syscall.errnoRet = rule.errnoRet;
    if (rule.args) syscall.args = rule.args.map((a) => ({ ...a }));
    return syscall;
  });
  return result;
}
