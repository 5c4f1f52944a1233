/* The parent's side of the handshake with a process it cloned. */
#define _GNU_SOURCE
#include "container.h"
#include "msg.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int exit_code_of(int status)
{
	if (WIFEXITED(status)) return WEXITSTATUS(status);
	if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
	return 1;
}

static _Noreturn void give_up(const struct plan *p, pid_t child, const char *stage, const char *text)
{
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	if (p->mode == MODE_SHIM) shim_fail(stage, ECANCELED, text, 128);
	fatal(stage, ECANCELED, "%s", text);
}

void parent_handshake(const struct plan *p, pid_t child, int sync, int console_fd, struct parent_result *out)
{
	struct msg m;
	char line[64];
	(void)console_fd;
	out->master_fd = -1;
	/* A child that already failed while building its mounts (overlapped set-up) left its error to read below. */
	if (msg_send(sync, MSG_GO, 0, NULL, NULL, -1) < 0 && !(setup_overlaps_cgroups(p) && errno == EPIPE))
		give_up(p, child, "handshake", "the container process is gone");
	/*
	 * A shim whose process waits for start, with no hooks to pause for,
	 * names the pid now: its namespaces exist, and hakod joins it to its
	 * networks while the child still builds its mounts. A set-up failure
	 * from here on comes as the answer to "start" instead.
	 */
	int early_pid = p->mode == MODE_SHIM && p->wait_start && !p->pause_hooks;
	if (early_pid) ctl_printf("pid %d", child);
	for (;;) {
		int fd = -1;
		int r = msg_recv(sync, &m, &fd);
		if (r == 0) break; /* execve closed the child's end */
		if (r < 0) give_up(p, child, "handshake", strerror(errno));
		switch (m.type) {
		case MSG_PAUSE:
			ctl_printf("hooks %d", child);
			if (ctl_readline(line, sizeof line) < 0 || strcmp(line, "resume") != 0)
				give_up(p, child, "hooks", "hooks failed or the caller went away");
			msg_send(sync, MSG_GO, 0, NULL, NULL, -1);
			break;
		case MSG_PTY:
			if (p->console_socket) {
				if (send_fd_to_socket(p->console_socket, fd) < 0) {
					int e = errno;
					kill(child, SIGKILL);
					waitpid(child, NULL, 0);
					fatal("terminal", e, "send the pty master to %s: %s", p->console_socket, strerror(e));
				}
				close(fd);
			} else {
				out->master_fd = fd;
			}
			break;
		case MSG_READY:
			if (!early_pid) ctl_printf("pid %d", child);
			if (p->mode == MODE_CREATE || p->mode == MODE_EXEC_DETACH)
				exit(0);
			if (p->mode == MODE_RUN || p->mode == MODE_SHIM) {
				if (p->wait_start && (ctl_readline(line, sizeof line) < 0 || strcmp(line, "start") != 0))
					give_up(p, child, "start", "the caller went away before start");
				if (p->mode == MODE_SHIM) shim_before_go();
				msg_send(sync, MSG_GO, 0, NULL, NULL, -1);
			}
			break;
		case MSG_ERROR: {
			int status = 0;
			if (p->mode != MODE_SHIM) ctl_error(m.stage, m.err, m.text);
			if (fd >= 0) close(fd);
			while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
			/* The shim writes exit.json first, so it is there when the error line arrives. */
			if (p->mode == MODE_SHIM) shim_fail(m.stage, m.err, m.text, exit_code_of(status));
			exit(exit_code_of(status));
		}
		default:
			give_up(p, child, "handshake", "unexpected message from the container process");
		}
	}
	close(sync);
}
