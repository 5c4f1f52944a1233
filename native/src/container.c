/*
 * create and run: clone the container's init into its new namespaces, give
 * it its id maps and cgroups from outside, then let it build its rootfs.
 */
#define _GNU_SOURCE
#include "container.h"
#include "msg.h"
#include "netlink.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Opens every cgroup.procs file now, while host paths still mean the host. */
int *open_cgroups(const struct plan *p)
{
	int *fds = xcalloc(p->cgroup_procs.n + 1, sizeof(int));
	for (size_t i = 0; i < p->cgroup_procs.n; i++) {
		fds[i] = open(p->cgroup_procs.v[i], O_WRONLY | O_CLOEXEC);
		if (fds[i] < 0)
			fatal("cgroup", errno, "open %s: %s", p->cgroup_procs.v[i], strerror(errno));
	}
	return fds;
}

/*
 * From the parent, like runc: inside a user namespace the child's own
 * /proc/self files belong to the host's root once it changed ids.
 */
void set_oom_score_adj(const struct plan *p, pid_t pid)
{
	if (!p->has_oom_score_adj) return;
	char path[64], buf[16];
	snprintf(path, sizeof path, "%d/oom_score_adj", pid);
	int n = snprintf(buf, sizeof buf, "%d", p->oom_score_adj);
	if (write_file_at(g_host_proc_fd, path, buf, (size_t)n) < 0) {
		int e = errno;
		if (e == ESRCH && setup_overlaps_cgroups(p)) return; /* see join_cgroups */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fatal("oom_score_adj", e, "set oom_score_adj %d: %s", p->oom_score_adj, strerror(e));
	}
}

void join_cgroups(const struct plan *p, int *fds, pid_t pid)
{
	char buf[16];
	int n = snprintf(buf, sizeof buf, "%d", pid);
	for (size_t i = 0; i < p->cgroup_procs.n; i++) {
		if (write_all(fds[i], buf, (size_t)n) < 0) {
			int e = errno;
			/* Gone while building its mounts: its own error waits for the handshake to read. */
			if (e == ESRCH && setup_overlaps_cgroups(p)) { close(fds[i]); continue; }
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			fatal("cgroup", e, "add pid %d to %s: %s", pid, p->cgroup_procs.v[i], strerror(e));
		}
		close(fds[i]);
	}
	free(fds);
}

/* setns into the given namespaces: the user namespace first (it owns the others), mount last. */
void join_namespaces(const struct plan *p)
{
	int *fds = xcalloc(p->njoins + 1, sizeof(int));
	for (size_t i = 0; i < p->njoins; i++) {
		fds[i] = open(p->joins[i].path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			fatal("namespace", errno, "open namespace %s: %s", p->joins[i].path, strerror(errno));
	}
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < p->njoins; i++) {
			uint32_t t = p->joins[i].type;
			int want = pass == 0 ? t == CLONE_NEWUSER : pass == 2 ? t == CLONE_NEWNS : (t != CLONE_NEWUSER && t != CLONE_NEWNS);
			if (!want) continue;
			if (setns(fds[i], (int)t) < 0)
				fatal("namespace", errno, "join namespace %s: %s", p->joins[i].path, strerror(errno));
			close(fds[i]);
		}
	}
	free(fds);
}

static void write_id_maps(const struct plan *p, pid_t pid)
{
	const struct { const char *file, *map; } maps[] = { { "uid_map", p->uid_map }, { "gid_map", p->gid_map } };
	for (size_t i = 0; i < 2; i++) {
		if (!maps[i].map) continue;
		char path[64];
		snprintf(path, sizeof path, "%d/%s", pid, maps[i].file);
		if (write_file_at(g_host_proc_fd, path, maps[i].map, strlen(maps[i].map)) < 0) {
			int e = errno;
			kill(pid, SIGKILL);
			fatal("user namespace", e, "write %s \"%s\": %s", maps[i].file, maps[i].map, strerror(e));
		}
	}
}

/*
 * Joining a cgroup v1 hierarchy waits for an RCU grace period (~10 ms) in
 * the parent's first cgroup.procs write. Without a user or cgroup
 * namespace the child needs neither its maps nor its cgroup to build its
 * mounts, so it gets a first go at once and builds them meanwhile; the
 * second go (the handshake's) comes once it is in its cgroups, before
 * anything it runs could fork or exec.
 */
int setup_overlaps_cgroups(const struct plan *p)
{
	/* An exec'd process's set-up needs no cgroup either: it waits for the go just before seccomp (process.c). */
	if (p->mode == MODE_EXEC || p->mode == MODE_EXEC_DETACH) return 1;
	return (p->clone_flags & CLONE_NEWNS) && !(p->clone_flags & (CLONE_NEWUSER | CLONE_NEWCGROUP));
}

static _Noreturn void init_child(struct plan *p, int sync, int fifo_fd)
{
	struct msg m;
	close(g_ctl_fd); /* only the parent talks to TypeScript; its EOF must not wait for us */
	if (msg_recv(sync, &m, NULL) <= 0 || m.type != MSG_GO)
		_exit(1);
	int overlapped = setup_overlaps_cgroups(p);
	if (p->clone_flags & CLONE_NEWUSER) {
		/* Become root of the new user namespace now that the maps exist. */
		if (setresgid(0, 0, 0) < 0 && errno != EINVAL)
			child_fail(sync, "user namespace", errno, 1, "setresgid 0: %s", strerror(errno));
		if (setresuid(0, 0, 0) < 0 && errno != EINVAL)
			child_fail(sync, "user namespace", errno, 1, "setresuid 0: %s", strerror(errno));
	}
	/* Only now, inside its cgroup, so the namespace's root is the container's own cgroup. */
	if ((p->clone_flags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
		child_fail(sync, "cgroup namespace", errno, 1, "unshare the cgroup namespace: %s", strerror(errno));
	/* TS allows these only with a uts namespace, new or joined (runc sets them in a joined one too). */
	if (p->hostname || p->domainname) {
		if (p->hostname && sethostname(p->hostname, strlen(p->hostname)) < 0)
			child_fail(sync, "hostname", errno, 1, "sethostname %s: %s", p->hostname, strerror(errno));
		if (p->domainname && setdomainname(p->domainname, strlen(p->domainname)) < 0)
			child_fail(sync, "domainname", errno, 1, "setdomainname %s: %s", p->domainname, strerror(errno));
	}
	if (p->loopback_up && (p->clone_flags & CLONE_NEWNET)) {
		int e = loopback_up();
		if (e < 0) child_fail(sync, "network", -e, 1, "set lo up: %s", strerror(-e));
	}
	int has_mntns = (p->clone_flags & CLONE_NEWNS) != 0;
	int rootfd = -1;
	if (has_mntns)
		rootfd = rootfs_prepare(sync, p);
	if (overlapped && (msg_recv(sync, &m, NULL) <= 0 || m.type != MSG_GO))
		_exit(1); /* the parent gave up while we were building the mounts */
	if (p->pause_hooks) {
		msg_send(sync, MSG_PAUSE, 0, NULL, NULL, -1);
		if (msg_recv(sync, &m, NULL) <= 0 || m.type != MSG_GO)
			_exit(1);
	}
	if (has_mntns) {
		rootfs_pivot(sync, rootfd);
		apply_sysctls(sync, p);
		rootfs_finalize(sync, p);
	} else {
		/* No mount namespace: no mounts either, only a changed root (as runc). */
		rootfs_chroot(sync, p);
		apply_sysctls(sync, p);
	}
	process_exec(sync, p, fifo_fd, 1);
}

/* The host id that container id 0 maps to in a "cid hid size" map, or -1. */
static long host_root_id(const char *map)
{
	const char *q = map;
	while (q && *q) {
		unsigned long cid, hid, size;
		if (sscanf(q, "%lu %lu %lu", &cid, &hid, &size) == 3 && cid == 0 && size > 0)
			return (long)hid;
		q = strchr(q, '\n');
		if (q) q++;
	}
	return -1;
}

/*
 * Everything up to the handshake, shared by run, create and the shim:
 * clone, id maps, cgroups, oom_score_adj. Returns the child's pid; *sync is
 * the parent's end of the handshake socket.
 */
pid_t container_clone(struct plan *p, int *sync)
{
	if (!p->rootfs || !p->rootfs[0])
		fatal("plan", EINVAL, "no rootfs in the plan");
	int *cgfds = open_cgroups(p);
	attach_device_filter(p);
	int fifo_fd = -1;
	if (p->exec_fifo) {
		/* Node cannot mkfifo; the fifo is ours to make. */
		if (mkfifo(p->exec_fifo, 0600) < 0 && errno != EEXIST)
			fatal("start", errno, "mkfifo %s: %s", p->exec_fifo, strerror(errno));
		/* The init writes it as the container's root: in a user namespace that is another host id (runc chowns too). */
		if (p->clone_flags & CLONE_NEWUSER) {
			long uid = p->uid_map ? host_root_id(p->uid_map) : -1;
			long gid = p->gid_map ? host_root_id(p->gid_map) : -1;
			if ((uid >= 0 || gid >= 0) && chown(p->exec_fifo, (uid_t)uid, (gid_t)gid) < 0)
				fatal("start", errno, "chown exec fifo %s: %s", p->exec_fifo, strerror(errno));
		}
		fifo_fd = open(p->exec_fifo, O_PATH | O_CLOEXEC);
		if (fifo_fd < 0)
			fatal("start", errno, "open exec fifo %s: %s", p->exec_fifo, strerror(errno));
	}
	join_namespaces(p);

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		fatal("clone", errno, "socketpair: %s", strerror(errno));

	/* A raw clone is fork with namespace flags: the child goes on from here. */
	unsigned long flags = (unsigned long)(p->clone_flags & ~(uint64_t)CLONE_NEWCGROUP);
	pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0UL);
	if (pid < 0)
		fatal("clone", errno, "clone: %s", strerror(errno));
	if (pid == 0) {
		close(sv[0]);
		init_child(p, sv[1], fifo_fd);
	}
	close(sv[1]);
	/* The child builds its mounts while we join its cgroups (a failure of its own is read by the handshake). */
	if (setup_overlaps_cgroups(p)) msg_send(sv[0], MSG_GO, 0, NULL, NULL, -1);
	if (fifo_fd >= 0) close(fifo_fd);

	if (p->clone_flags & CLONE_NEWUSER)
		write_id_maps(p, pid);
	join_cgroups(p, cgfds, pid);
	set_oom_score_adj(p, pid);
	*sync = sv[0];
	return pid;
}

int container_main(struct plan *p)
{
	int sync;
	pid_t pid = container_clone(p, &sync);
	struct parent_result res;
	parent_handshake(p, pid, sync, -1, &res);
	return monitor_process(pid, res.master_fd);
}
