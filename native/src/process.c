/*
 * The last steps of every container process, init or exec'd, in this order:
 * session and terminal, rlimits, umask, cwd, executable lookup, wait for
 * start, startContainer hooks, fds closed on exec and signals reset,
 * [an exec'd one: wait to be in its cgroups], [seccomp if no_new_privs is off], bounding set, groups and ids,
 * capabilities, no_new_privs, [seccomp], execve.
 *
 * Seccomp goes before the capability drop when no_new_privs is off because
 * loading a filter then needs CAP_SYS_ADMIN (runc does the same).
 */
#define _GNU_SOURCE
#include "container.h"
#include "msg.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int g_cap_last_cap = 40;

static const char *env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);
	for (; env && *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

/*
 * Finds the program as exec.LookPath would inside the container, so errors
 * read as Docker's do. Returns a malloc'd path, or NULL with *code and msg.
 */
/* Go spells errno texts in lower case; Docker's messages come from Go. */
static const char *go_strerror(int err)
{
	static char buf[128];
	snprintf(buf, sizeof buf, "%s", strerror(err));
	if (buf[0] >= 'A' && buf[0] <= 'Z') buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

static char *lookup_executable(const char *name, char *const *env, int *code, char *msg, size_t msgsize)
{
	struct stat st;
	if (strchr(name, '/')) {
		if (stat(name, &st) < 0) {
			*code = errno == ENOENT ? 127 : 126;
			snprintf(msg, msgsize, "exec: \"%s\": stat %s: %s", name, name, go_strerror(errno));
			return NULL;
		}
		if (S_ISDIR(st.st_mode)) {
			*code = 126;
			snprintf(msg, msgsize, "exec: \"%s\": is a directory", name);
			return NULL;
		}
		if (!(st.st_mode & 0111)) {
			*code = 126;
			snprintf(msg, msgsize, "exec: \"%s\": permission denied", name);
			return NULL;
		}
		return xstrdup(name);
	}
	const char *path = env_get(env, "PATH");
	if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	char *copy = xstrdup(path), *save = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *full = xmalloc(strlen(dir) + strlen(name) + 2);
		sprintf(full, "%s/%s", *dir ? dir : ".", name);
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) {
			free(copy);
			return full;
		}
		free(full);
	}
	free(copy);
	*code = 127;
	snprintf(msg, msgsize, "exec: \"%s\": executable file not found in $PATH", name);
	return NULL;
}

static void set_rlimits(int sync, const struct plan *p)
{
	for (size_t i = 0; i < p->nrlimits; i++) {
		struct rlimit rl = { (rlim_t)p->rlimits[i].soft, (rlim_t)p->rlimits[i].hard };
		if (setrlimit((int)p->rlimits[i].resource, &rl) < 0)
			child_fail(sync, "rlimit", errno, 1, "setrlimit %u: %s", p->rlimits[i].resource, strerror(errno));
	}
}

static void wait_for_start(int sync, int fifo_fd)
{
	if (fifo_fd >= 0) {
		/* Opening blocks until `start` opens the other end (runc's exec.fifo). */
		char path[64];
		/* Through the host's /proc, opened before clone: without a mount namespace the rootfs has no /proc. */
		snprintf(path, sizeof path, "self/fd/%d", fifo_fd);
		msg_send(sync, MSG_READY, 0, NULL, NULL, -1);
		int fd = openat(g_host_proc_fd, path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			child_fail(-1, "start", errno, 1, "open exec fifo: %s", strerror(errno));
		if (write_all(fd, "0", 1) < 0)
			child_fail(-1, "start", errno, 1, "write exec fifo: %s", strerror(errno));
		/* fd stays open, close-on-exec: `start` reads EOF once execve happened (or we died). */
		close(fifo_fd);
		/* The parent is gone after create: failures from here go to stderr. */
		close(sync);
		return;
	}
	struct msg m;
	msg_send(sync, MSG_READY, 0, NULL, NULL, -1);
	int r = msg_recv(sync, &m, NULL);
	if (r <= 0 || m.type != MSG_GO)
		_exit(1); /* the parent died or gave up: nothing to report to */
}

static void run_start_hooks(int sync, const struct plan *p)
{
	for (size_t i = 0; i < p->nstart_hooks; i++) {
		const struct hook *h = &p->start_hooks[i];
		int in[2];
		if (pipe2(in, O_CLOEXEC) < 0)
			child_fail(sync, "startContainer hook", errno, 1, "pipe: %s", strerror(errno));
		pid_t pid = fork();
		if (pid < 0)
			child_fail(sync, "startContainer hook", errno, 1, "fork: %s", strerror(errno));
		if (pid == 0) {
			dup2(in[0], 0);
			char *const noargs[] = { h->path, NULL };
			execve(h->path, h->args[0] ? h->args : noargs, h->env);
			_exit(127);
		}
		close(in[0]);
		const char *state = p->hook_state ? p->hook_state : "{}";
		signal(SIGPIPE, SIG_IGN);
		(void)write_all(in[1], state, strlen(state));
		close(in[1]);
		int status = 0;
		time_t deadline = h->timeout ? time(NULL) + h->timeout : 0;
		for (;;) {
			pid_t w = waitpid(pid, &status, deadline ? WNOHANG : 0);
			if (w == pid) break;
			if (w < 0 && errno != EINTR)
				child_fail(sync, "startContainer hook", errno, 1, "wait: %s", strerror(errno));
			if (deadline && time(NULL) >= deadline) {
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
				child_fail(sync, "startContainer hook", ETIMEDOUT, 1, "hook %s timed out", h->path);
			}
			if (w == 0) { struct timespec ts = { 0, 5000000 }; nanosleep(&ts, NULL); }
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			child_fail(sync, "startContainer hook", 0, 1, "hook %s failed with status %d", h->path, status);
	}
}

static void apply_user_and_caps(int sync, const struct plan *p)
{
	if (p->has_caps) {
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			child_fail(sync, "capabilities", errno, 1, "keep caps: %s", strerror(errno));
		for (int c = 0; c <= g_cap_last_cap; c++) {
			if (p->cap_bounding & (1ULL << c)) continue;
			if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
				child_fail(sync, "capabilities", errno, 1, "drop capability %d from the bounding set: %s", c, strerror(errno));
		}
	}
	if (p->has_user) {
		gid_t *gids = xcalloc(p->ngids ? p->ngids : 1, sizeof(gid_t));
		for (size_t i = 0; i < p->ngids; i++) gids[i] = p->gids[i];
		/* setgroups is denied in some user namespaces: then only an empty list could work. */
		if (setgroups(p->ngids, gids) < 0 && !(errno == EPERM && p->ngids == 0))
			child_fail(sync, "user", errno, 1, "setgroups: %s", strerror(errno));
		free(gids);
		if (setresgid(p->gid, p->gid, p->gid) < 0)
			child_fail(sync, "user", errno, 1, "setresgid %u: %s", p->gid, strerror(errno));
		if (setresuid(p->uid, p->uid, p->uid) < 0)
			child_fail(sync, "user", errno, 1, "setresuid %u: %s", p->uid, strerror(errno));
	}
	if (p->has_caps) {
		if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
			child_fail(sync, "capabilities", errno, 1, "clear keep caps: %s", strerror(errno));
		struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct data[2];
		memset(data, 0, sizeof data);
		data[0].effective = (uint32_t)p->cap_effective;
		data[1].effective = (uint32_t)(p->cap_effective >> 32);
		data[0].permitted = (uint32_t)p->cap_permitted;
		data[1].permitted = (uint32_t)(p->cap_permitted >> 32);
		data[0].inheritable = (uint32_t)p->cap_inheritable;
		data[1].inheritable = (uint32_t)(p->cap_inheritable >> 32);
		if (syscall(SYS_capset, &hdr, data) < 0)
			child_fail(sync, "capabilities", errno, 1, "capset: %s", strerror(errno));
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
			child_fail(sync, "capabilities", errno, 1, "clear ambient capabilities: %s", strerror(errno));
		for (int c = 0; c <= g_cap_last_cap; c++) {
			if (!(p->cap_ambient & (1ULL << c))) continue;
			/* Like runc: an ambient capability the kernel refuses is not fatal. */
			(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
		}
	}
}

void process_exec(int sync, const struct plan *p, int fifo_fd, int is_init)
{
	if (setsid() < 0 && is_init)
		child_fail(sync, "setsid", errno, 1, "setsid: %s", strerror(errno));
	if (p->terminal)
		terminal_setup_child(sync, p);
	set_rlimits(sync, p);
	umask(p->has_umask ? p->umask : 022);

	if (p->cwd && p->cwd[0] && chdir(p->cwd) < 0)
		child_fail(sync, "cwd", errno, 1, "chdir to cwd (\"%s\") set in config.json failed: %s", p->cwd, strerror(errno));

	char msg[1024];
	int code = 0;
	char *exe = lookup_executable(p->args.v[0], p->env.v, &code, msg, sizeof msg);
	if (!exe)
		child_fail(sync, "exec", code == 127 ? ENOENT : EACCES, code, "%s", msg);

	if (is_init)
		wait_for_start(sync, fifo_fd);
	else
		msg_send(sync, MSG_READY, 0, NULL, NULL, -1);
	if (is_init && fifo_fd >= 0) sync = -1;

	if (is_init)
		run_start_hooks(sync, p);

	/*
	 * Before any filter exists (a profile need not allow these):
	 * nothing of ours may survive into the container (CVE-2024-21626), and
	 * dispositions and the mask survive execve, so hand over a clean slate.
	 */
	if (syscall(SYS_close_range, 3 + p->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		child_fail(sync, "exec", errno, 1, "close_range: %s", strerror(errno));
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);

	/*
	 * An exec'd process came this far while its helper joined it to the
	 * container's cgroups: it goes on, to the filter and its program, only
	 * once it is in them (and before a filter could deny the recvmsg).
	 */
	if (!is_init) {
		struct msg m;
		if (msg_recv(sync, &m, NULL) <= 0 || m.type != MSG_GO)
			_exit(1);
	}
	if (p->has_seccomp && !p->no_new_privs)
		seccomp_load_plan(sync, p);
	apply_user_and_caps(sync, p);
	if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(sync, "no_new_privs", errno, 1, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
	if (p->has_seccomp && p->no_new_privs)
		seccomp_load_plan(sync, p);

	char *const empty_env[] = { NULL };
	execve(exe, p->args.v, p->env.n ? p->env.v : empty_env);
	int err = errno;
	child_fail(sync, "exec", err, err == ENOENT ? 127 : 126, "exec: \"%s\": %s", p->args.v[0], go_strerror(err));
}
