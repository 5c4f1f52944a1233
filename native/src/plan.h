/*
 * The plan: everything the helper does, decided in TypeScript
 * (src/runtime/plan.ts) and encoded by src/native/plan-encoding.ts.
 *
 * Wire format (little endian):
 *   u32 magic "HAKO" (0x4f4b4148), u32 version (PLAN_VERSION)
 *   records: u16 tag, u16 zero, u32 length, payload[length]
 * Payload fields are u32, u64 or str (u32 length + bytes, no NUL).
 * Unknown tags are an error: TS and C are built together.
 */
#ifndef HAKO_PLAN_H
#define HAKO_PLAN_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#define PLAN_MAGIC 0x4f4b4148u
#define PLAN_VERSION 1u

enum plan_tag {
	T_MODE = 1,          /* u32 mode */
	T_ROOTFS = 2,        /* str host path of the rootfs */
	T_ROOTFS_RO = 3,     /* (empty) remount / read-only */
	T_ROOTFS_PROP = 4,   /* u64 MS_* propagation flags for / (default MS_REC|MS_PRIVATE) */
	T_CLONE_FLAGS = 5,   /* u64 CLONE_NEW* to create */
	T_JOIN_NS = 6,       /* u32 CLONE_NEW* type, str path */
	T_UID_MAP = 7,       /* str, as written to /proc/pid/uid_map */
	T_GID_MAP = 8,       /* str */
	T_HOSTNAME = 9,      /* str */
	T_DOMAINNAME = 10,   /* str */
	T_MOUNT = 11,        /* u64 flags, u64 propagation, u32 opts, str source, str target, str fstype, str data */
	T_DEVICE = 12,       /* u32 mode (type|perm), u32 major, u32 minor, u32 uid, u32 gid, str path */
	T_SYMLINK = 13,      /* str target, str path */
	T_MASK = 14,         /* str path */
	T_READONLY = 15,     /* str path */
	T_SYSCTL = 16,       /* str key (dotted), str value */
	T_CGROUP_PROCS = 17, /* str host path of a cgroup.procs file to join */
	T_OOM_SCORE_ADJ = 18,/* u32 (signed) */
	T_CAPS = 19,         /* u64 bounding, effective, inheritable, permitted, ambient */
	T_NO_NEW_PRIVS = 20, /* (empty) */
	T_RLIMIT = 21,       /* u32 resource, u64 soft, u64 hard */
	T_USER = 22,         /* u32 uid, u32 gid, u32 n, n * u32 additional gids */
	T_UMASK = 23,        /* u32 */
	T_CWD = 24,          /* str */
	T_ENV = 25,          /* str, repeated */
	T_ARG = 26,          /* str, repeated */
	T_EXEC_FIFO = 27,    /* str host path: create waits here until start */
	T_TERMINAL = 28,     /* u32 rows, u32 cols */
	T_CONSOLE_SOCKET = 29, /* str: send the pty master there (runc --console-socket) */
	T_SECCOMP = 30,      /* u32 default action, u32 flags, u32 n, n * str arch */
	T_SECCOMP_RULE = 31, /* u32 action, str syscall, u32 n, n * (u32 index, u32 op, u64 value, u64 value2) */
	T_PAUSE_HOOKS = 32,  /* (empty): stop before pivot_root and wait for "resume" */
	T_START_HOOK = 33,   /* u32 timeout s, str path, u32 nargs, args, u32 nenv, env */
	T_HOOK_STATE = 34,   /* str: state JSON given to startContainer hooks on stdin */
	T_PRESERVE_FDS = 35, /* u32: fds 3..3+n-1 stay open in the container process */
	T_TARGET_PID = 36,   /* u32: exec mode, the container's init pid (host view) */
	T_WAIT_START = 37,   /* (empty): run mode, wait for "start" from TS after "pid" */
	T_NS_PID_DIR = 38,   /* reserved */
	T_SEAL_DISABLE = 39, /* reserved */
	T_SECCOMP_CACHE = 40,/* str: file holding the compiled filter (read, or written after compiling) */
	T_ROOTFS_MOUNT = 41, /* u64 flags, str fstype, str source, str data, str cwd: mounted on the rootfs first */
	T_SHIM_DIR = 42,     /* str: shim mode, its state dir (shim.pid, attach.sock, exit.json) */
	T_LOG = 43,          /* str path, u64 max size (0: no rotation), u32 max files: the json-file log */
	T_STDIO = 44,        /* u32 STDIO_* flags */
	T_LOOPBACK_UP = 45,  /* (empty): lo up in the new network namespace before exec (hakod's containers) */
	T_SECCOMP_COMPILED = 46, /* str: file holding the compiled filter, sent instead of the rules: it must be there */
	T_DEVICE_FILTER = 47, /* str cgroup v2 dir, u32 n, n * struct bpf_insn: the device rules, attached to the dir */
	T_MAX
};

enum plan_mode {
	MODE_CREATE = 1, /* set up, report the pid, exit; the init waits on the exec fifo */
	MODE_RUN = 2,    /* set up, start, stay as the parent: forward signals, return the status */
	MODE_EXEC = 3,   /* join a running container's namespaces and run a process there */
	MODE_EXEC_DETACH = 4,
	MODE_SHIM = 5,   /* set up, start, then stay as the container's shim (shim.c), nobody's child */
};

/* T_STDIO flags */
#define STDIO_OPEN_STDIN 0x1 /* the container gets a stdin pipe (OpenStdin) */
#define STDIO_STDIN_ONCE 0x2 /* close it when the first client that attached stdin detaches (StdinOnce) */

/* T_MOUNT opts */
#define MOUNT_OPT_BIND_REMOUNT 0x1 /* bind, then remount with the flags */
#define MOUNT_OPT_FILE 0x2         /* the target is a file, not a directory */
#define MOUNT_OPT_SYSFS_FALLBACK 0x4 /* on EPERM, rbind the host /sys (user namespaces) */
#define MOUNT_OPT_OPTIONAL 0x8     /* a missing source is not an error */

struct mount_entry {
	uint64_t flags, propagation;
	uint32_t opts;
	char *source, *target, *fstype, *data;
};

struct device_entry {
	uint32_t mode, major, minor, uid, gid;
	char *path;
};

struct pair { char *a, *b; };

struct rlimit_entry { uint32_t resource; uint64_t soft, hard; };

struct seccomp_arg { uint32_t index, op; uint64_t value, value2; };

struct seccomp_rule {
	uint32_t action;
	char *syscall;
	uint32_t nargs;
	struct seccomp_arg *args;
};

struct hook {
	uint32_t timeout;
	char *path;
	char **args; /* NULL terminated */
	char **env;  /* NULL terminated */
};

struct join_ns { uint32_t type; char *path; };

struct strvec { size_t n, cap; char **v; /* NULL terminated when n > 0 */ };

struct plan {
	uint32_t mode;
	char *rootfs;
	int rootfs_ro;
	uint64_t rootfs_prop;
	uint64_t clone_flags;
	struct join_ns *joins; size_t njoins;
	char *uid_map, *gid_map;
	char *hostname, *domainname;
	struct mount_entry *mounts; size_t nmounts;
	struct device_entry *devices; size_t ndevices;
	struct pair *symlinks; size_t nsymlinks;
	struct strvec masks, readonly;
	struct pair *sysctls; size_t nsysctls;
	struct strvec cgroup_procs;
	char *device_filter_dir; void *device_filter; uint32_t device_filter_len; /* instructions */
	int has_oom_score_adj; int32_t oom_score_adj;
	int has_caps; uint64_t cap_bounding, cap_effective, cap_inheritable, cap_permitted, cap_ambient;
	int no_new_privs;
	int loopback_up;
	struct rlimit_entry *rlimits; size_t nrlimits;
	int has_user; uint32_t uid, gid; uint32_t *gids; size_t ngids;
	int has_umask; uint32_t umask;
	char *cwd;
	struct strvec env, args;
	char *exec_fifo;
	int terminal; uint32_t rows, cols;
	char *console_socket;
	int has_seccomp; uint32_t seccomp_default, seccomp_flags; struct strvec seccomp_arches;
	struct seccomp_rule *seccomp_rules; size_t nseccomp_rules;
	char *seccomp_cache; int seccomp_cache_only;
	/* The rootfs's own mount (an overlay of image layers), made in the container's namespace. */
	int has_rootfs_mount; uint64_t rootfs_mount_flags;
	char *rootfs_mount_type, *rootfs_mount_source, *rootfs_mount_data, *rootfs_mount_cwd;
	/* The compiled filter (classic BPF), ready before clone: see seccomp_prepare. */
	void *seccomp_prog; size_t seccomp_prog_len;
	int pause_hooks;
	struct hook *start_hooks; size_t nstart_hooks;
	char *hook_state;
	uint32_t preserve_fds;
	pid_t target_pid;
	int wait_start;
	/* shim mode */
	char *shim_dir;
	char *log_path; uint64_t log_max_size; uint32_t log_max_files;
	uint32_t stdio_flags;
};

/* Decodes buf into p. Returns 0, or -1 with errno = EINVAL and *why set. */
int plan_decode(const uint8_t *buf, size_t len, struct plan *p, const char **why);

#endif
