/*
 * The parent once the process runs (run and attached exec): forwards
 * signals, copies the terminal, reaps, and returns the exit status the way
 * a shell reports it (128+n for a signal).
 */
#define _GNU_SOURCE
#include "container.h"
#include "msg.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static const int forwarded[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGCONT, SIGWINCH, SIGPIPE,
};

static void copy_winsize(int from, int to)
{
	struct winsize ws;
	if (ioctl(from, TIOCGWINSZ, &ws) == 0 && (ws.ws_row || ws.ws_col))
		ioctl(to, TIOCSWINSZ, &ws);
}

/* Copies what is readable now; returns 0 at EOF/EIO (the other side is gone). */
static int pump(int from, int to)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
	if (n <= 0) return 0;
	(void)write_all(to, buf, (size_t)n); /* a reader gone away is not our end */
	return 1;
}

static void drain(int master)
{
	int fl = fcntl(master, F_GETFL);
	fcntl(master, F_SETFL, fl | O_NONBLOCK);
	char buf[16384];
	for (;;) {
		ssize_t n = read(master, buf, sizeof buf);
		if (n <= 0) break;
		if (write_all(1, buf, (size_t)n) < 0) break;
	}
}

/*
 * Lines from TypeScript on the control fd once the process runs:
 * "resize <rows> <cols>" sizes the pty, "signal <n>" signals the process.
 * Returns 0 at EOF: the caller stops listening (and kills nothing).
 */
struct ctl_lines { char buf[128]; size_t len; };

static void ctl_command(const char *line, pid_t child, int master)
{
	unsigned rows, cols;
	int sig;
	if (sscanf(line, "resize %u %u", &rows, &cols) == 2) {
		struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
		if (master >= 0) ioctl(master, TIOCSWINSZ, &ws);
	} else if (sscanf(line, "signal %d", &sig) == 1 && sig > 0 && sig < NSIG) {
		kill(child, sig);
	}
}

static int read_ctl(struct ctl_lines *c, pid_t child, int master)
{
	ssize_t n = read(g_ctl_fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
	if (n <= 0) return 0;
	c->len += (size_t)n;
	char *nl;
	while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
		*nl = '\0';
		ctl_command(c->buf, child, master);
		size_t used = (size_t)(nl - c->buf) + 1;
		memmove(c->buf, nl + 1, c->len - used);
		c->len -= used;
	}
	if (c->len == sizeof c->buf - 1) c->len = 0; /* no command is this long */
	return 1;
}

int monitor_process(pid_t child, int master)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		fatal("monitor", errno, "signalfd: %s", strerror(errno));
	/* Orphans of a container without its own pid namespace come back to us. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

	struct termios saved;
	int raw = 0;
	if (master >= 0 && isatty(0) && tcgetattr(0, &saved) == 0) {
		struct termios t = saved;
		cfmakeraw(&t);
		if (tcsetattr(0, TCSANOW, &t) == 0) raw = 1;
		copy_winsize(0, master);
	}

	int status = 0, done = 0, stdin_open = master >= 0, master_open = master >= 0;
	int ctl_open = fcntl(g_ctl_fd, F_GETFD) >= 0;
	struct ctl_lines ctl = { .len = 0 };
	/* A dead child may already be waiting to be reaped. */
	if (waitpid(child, &status, WNOHANG) == child) done = 1;
	while (!done) {
		struct pollfd fds[4] = {
			{ sfd, POLLIN, 0 },
			{ stdin_open ? 0 : -1, POLLIN, 0 },
			{ master_open ? master : -1, POLLIN, 0 },
			{ ctl_open ? g_ctl_fd : -1, POLLIN, 0 },
		};
		if (poll(fds, 4, -1) < 0) {
			if (errno == EINTR) continue;
			break;
		}
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == sizeof si) {
				int sig = (int)si.ssi_signo;
				if (sig == SIGCHLD) {
					pid_t w;
					int st;
					while ((w = waitpid(-1, &st, WNOHANG)) > 0)
						if (w == child) { status = st; done = 1; }
				} else if (sig == SIGWINCH) {
					if (master >= 0) copy_winsize(0, master);
				} else if (sig != SIGPIPE) {
					kill(child, sig);
				}
			}
		}
		if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (!pump(0, master)) stdin_open = 0;
		}
		if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (!pump(master, 1)) master_open = 0;
		}
		if (fds[3].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (!read_ctl(&ctl, child, master)) ctl_open = 0;
		}
	}
	if (master >= 0) {
		drain(master);
		close(master);
	}
	if (raw) tcsetattr(0, TCSANOW, &saved);
	return exit_code_of(status);
}
