/*
 * hako-shim: hako's native helper. It reads a plan from fd 3 (u32 length,
 * then the plan of plan.h), executes it with syscalls and reports back on
 * the same fd. It holds no policy: TypeScript decided everything.
 */
#define _GNU_SOURCE
#include "container.h"
#include "msg.h"
#include "netlink.h"
#include "tar.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#ifndef HAKO_VERSION
#define HAKO_VERSION "0.0.0"
#endif

extern char **environ;

int g_host_proc_fd = -1;

/*
 * CVE-2019-5736: a container must never reach the host's helper binary
 * through /proc/<pid>/exe and overwrite it. We run from a sealed, anonymous
 * copy instead, as crun and runc do.
 */
static void ensure_sealed_copy(char **argv)
{
	int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (self < 0) return;
	int seals = fcntl(self, F_GET_SEALS);
	if (seals >= 0 && (seals & F_SEAL_WRITE)) { close(self); return; }
	/* Pinned by hakod (pin.c): a read-only mount protects the file as the seals would. */
	struct statvfs vfs;
	if (fstatvfs(self, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) { close(self); return; }
	struct stat st;
	if (fstat(self, &st) < 0) { close(self); return; }
	int mfd = memfd_create("hako-shim", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0) fatal("seal", errno, "memfd_create: %s", strerror(errno));
	off_t off = 0;
	while (off < st.st_size) {
		ssize_t n = sendfile(mfd, self, &off, (size_t)(st.st_size - off));
		if (n <= 0) fatal("seal", errno, "copy the helper: %s", strerror(errno));
	}
	close(self);
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
		fatal("seal", errno, "seal the copy: %s", strerror(errno));
	fexecve(mfd, argv, environ);
	fatal("seal", errno, "exec the sealed copy: %s", strerror(errno));
}

static void read_cap_last_cap(void)
{
	char buf[16] = { 0 };
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	if (fd < 0) return;
	if (read(fd, buf, sizeof buf - 1) > 0) g_cap_last_cap = atoi(buf);
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("hako-shim %s\n", HAKO_VERSION);
		return 0;
	}
	/*
	 * Layer tools: host-side work for hakod's storage, never inside a
	 * container, so neither the plan on fd 3 nor the sealed copy.
	 */
	if (argc > 1 && strcmp(argv[1], "tar-extract") == 0) return tar_extract_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "tar-create") == 0) return tar_create_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "btrfs") == 0) return btrfs_main(argc - 1, argv + 1);
	/* docker cp and export inside a container's root (rootfs_tool.c): host-side too, like the layer tools. */
	if (argc > 1 && strcmp(argv[1], "rootfs-tool") == 0) return rootfs_tool_main(argc - 1, argv + 1);
	/* Tests compare the filter a plan compiles to with libseccomp's own (seccomp_shrink.c). */
	if (argc > 1 && strcmp(argv[1], "seccomp-compile") == 0) return seccomp_compile_main(argc - 1, argv + 1);
	/* hakod pins the helper read-only once, instead of a sealed copy per run (pin.c). */
	if (argc > 1 && (strcmp(argv[1], "pin") == 0 || strcmp(argv[1], "unpin") == 0)) return pin_main(argc - 1, argv + 1);
	/* Deletes what hakod moves into its trash directory, off its event loop (trash.c). */
	if (argc > 1 && strcmp(argv[1], "trash") == 0) return trash_main(argc - 1, argv + 1);
	/* Links, addresses, routes for hakod's networks (netlink.c): host-side, one batch on stdin. */
	if (argc > 1 && strcmp(argv[1], "netlink") == 0) return netlink_main(argc - 1, argv + 1);
	/* The shim once its container runs (shim.c re-execs itself from disk; no plan any more). */
	if (argc > 1 && strcmp(argv[1], "shim-loop") == 0) return shim_loop_main(argc - 1, argv + 1);
	/* hakod's spawner: forks helpers that start here at run_plan, without an exec (spawner.c). */
	if (argc > 1 && strcmp(argv[1], "spawner") == 0) {
		ensure_sealed_copy(argv);
		return spawner_main(argc - 1, argv + 1);
	}
	if (fcntl(g_ctl_fd, F_GETFD) < 0) {
		fprintf(stderr, "hako-shim: expects a plan on fd 3 (it is started by hako, not by hand)\n");
		return 2;
	}
	ensure_sealed_copy(argv); /* before fd 3 turns close-on-exec: the copy needs it */
	return run_plan();
}

/* What every plan needs from the host, looked up once (a warm helper does it before it waits). */
void plan_prelude(void)
{
	if (g_host_proc_fd >= 0) return;
	fcntl(g_ctl_fd, F_SETFD, FD_CLOEXEC);
	read_cap_last_cap();
	g_host_proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (g_host_proc_fd < 0)
		fatal("proc", errno, "open /proc: %s", strerror(errno));
}

/* A plan as TypeScript frames it (src/native/plan.ts encodePlan), read from fd and decoded. */
void read_plan(int fd, struct plan *plan)
{
	uint32_t len;
	if (read_full(fd, &len, sizeof len) < 0)
		fatal("plan", errno, "read the plan length: %s", strerror(errno));
	if (len > 64u << 20)
		fatal("plan", EINVAL, "plan of %u bytes is too large", len);
	uint8_t *buf = xmalloc(len);
	if (read_full(fd, buf, len) < 0)
		fatal("plan", errno, "read the plan: %s", strerror(errno));
	const char *why = "";
	if (plan_decode(buf, len, plan, &why) < 0)
		fatal("plan", EINVAL, "decode the plan: %s", why);
	free(buf);
}

/* The plan on fd 3, executed: what a helper started by hako does, by exec or by the spawner's fork. */
int run_plan(void)
{
	plan_prelude();

	struct plan plan;
	read_plan(g_ctl_fd, &plan);
	seccomp_prepare(&plan);

	switch (plan.mode) {
	case MODE_CREATE:
	case MODE_RUN:
		return container_main(&plan);
	case MODE_EXEC:
	case MODE_EXEC_DETACH:
		return exec_main(&plan);
	case MODE_SHIM:
		return shim_main(&plan);
	default:
		fatal("plan", EINVAL, "unknown mode %u", plan.mode);
	}
}
