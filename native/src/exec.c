/* exec: run one more process inside a running container's namespaces. */
#define _GNU_SOURCE
#include "container.h"
#include "msg.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int exec_main(struct plan *p)
{
	int *cgfds = open_cgroups(p);
	join_namespaces(p);

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		fatal("exec", errno, "socketpair: %s", strerror(errno));
	/* Only a child enters the joined pid namespace. */
	pid_t pid = fork();
	if (pid < 0)
		fatal("exec", errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* Its set-up starts at once; the go comes once we joined it to the cgroups (process_exec waits for it). */
		close(sv[0]);
		close(g_ctl_fd);
		process_exec(sv[1], p, -1, 0);
	}
	close(sv[1]);
	join_cgroups(p, cgfds, pid);
	set_oom_score_adj(p, pid);

	struct parent_result res;
	parent_handshake(p, pid, sv[0], -1, &res);
	/*
	 * Not a relay (no tty): the process's stdout and stderr are ours too.
	 * We keep them (out of the way of our own messages) until it is reaped,
	 * and let them go just before the exit code is said: hakod then finds
	 * the end of the output and the code in one wake-up, not one for each.
	 */
	int held[2] = { -1, -1 };
	if (res.master_fd < 0) {
		held[0] = fcntl(1, F_DUPFD_CLOEXEC, 3);
		held[1] = fcntl(2, F_DUPFD_CLOEXEC, 3);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		for (int fd = 0; fd <= 2 && null >= 0; fd++) dup2(null, fd);
		if (null > 2) close(null);
	}
	int code = monitor_process(pid, res.master_fd);
	for (int i = 0; i < 2; i++) if (held[i] >= 0) close(held[i]);
	/* Before we are reaped: hakod answers with this, not with our exit (our parent's report). */
	ctl_printf("exit %d", code);
	return code;
}
