/*
 * cgroup v2's device rules: the program TypeScript wrote
 * (src/cgroups/device-filter.ts) loaded as BPF_PROG_TYPE_CGROUP_DEVICE and
 * attached to the container's cgroup directory. It stays attached when
 * our fds close, and goes with the directory. Programs already on that
 * directory (a previous start of the same cgroup) are ours and are taken
 * off first, so the new rules are the only ones of this level.
 */
#include "container.h"
#include "msg.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int bpf(int cmd, union bpf_attr *attr)
{
	return (int)syscall(SYS_bpf, cmd, attr, sizeof *attr);
}

/* Detaches what is attached to `dir` itself (not what it inherits). */
static void detach_old(int dir, const char *path)
{
	uint32_t ids[64];
	union bpf_attr q;
	memset(&q, 0, sizeof q);
	q.query.target_fd = (uint32_t)dir;
	q.query.attach_type = BPF_CGROUP_DEVICE;
	q.query.prog_ids = (uint64_t)(uintptr_t)ids;
	q.query.prog_cnt = 64;
	if (bpf(BPF_PROG_QUERY, &q) < 0)
		fatal("cgroup", errno, "query the device programs of %s: %s", path, strerror(errno));
	for (uint32_t i = 0; i < q.query.prog_cnt && i < 64; i++) {
		union bpf_attr g;
		memset(&g, 0, sizeof g);
		g.prog_id = ids[i];
		int prog = bpf(BPF_PROG_GET_FD_BY_ID, &g);
		if (prog < 0) continue; /* gone meanwhile */
		union bpf_attr d;
		memset(&d, 0, sizeof d);
		d.target_fd = (uint32_t)dir;
		d.attach_bpf_fd = (uint32_t)prog;
		d.attach_type = BPF_CGROUP_DEVICE;
		if (bpf(BPF_PROG_DETACH, &d) < 0 && errno != ENOENT)
			fatal("cgroup", errno, "detach the old device program of %s: %s", path, strerror(errno));
		close(prog);
	}
}

void attach_device_filter(const struct plan *p)
{
	if (!p->device_filter_dir) return;
	const char *path = p->device_filter_dir;
	static char log[16384];
	union bpf_attr load;
	memset(&load, 0, sizeof load);
	load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	load.insns = (uint64_t)(uintptr_t)p->device_filter;
	load.insn_cnt = p->device_filter_len;
	load.license = (uint64_t)(uintptr_t)"Apache";
	int prog = bpf(BPF_PROG_LOAD, &load);
	if (prog < 0) {
		/* Again with the verifier's log, for the message. */
		int err = errno;
		load.log_buf = (uint64_t)(uintptr_t)log;
		load.log_size = sizeof log;
		load.log_level = 1;
		if (bpf(BPF_PROG_LOAD, &load) >= 0 || !log[0]) log[0] = '\0';
		size_t n = strlen(log);
		while (n && log[n - 1] == '\n') log[--n] = '\0';
		fatal("cgroup", err, "load the device filter for %s: %s%s%s", path, strerror(err), log[0] ? ": " : "", log);
	}
	int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		fatal("cgroup", errno, "open %s: %s", path, strerror(errno));
	detach_old(dir, path);
	union bpf_attr at;
	memset(&at, 0, sizeof at);
	at.target_fd = (uint32_t)dir;
	at.attach_bpf_fd = (uint32_t)prog;
	at.attach_type = BPF_CGROUP_DEVICE;
	/* With the programs of the levels above: each must allow (as v1's hierarchy). */
	at.attach_flags = BPF_F_ALLOW_MULTI;
	if (bpf(BPF_PROG_ATTACH, &at) < 0)
		fatal("cgroup", errno, "attach the device filter to %s: %s", path, strerror(errno));
	close(dir);
	close(prog);
}
