/*
 * hako-init: PID 1 for `--init` (what Docker's docker-init, tini, does):
 *
 *   hako-init [--] COMMAND [ARG...]
 *
 * runs COMMAND as its child in its own process group (the terminal's
 * foreground group when there is a terminal), forwards every signal it can
 * catch to it, reaps every zombie that comes its way, and exits with
 * COMMAND's status (128+n when a signal ended it). A separate, tiny binary:
 * it lives in the container for the container's whole life.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Signals the kernel sends to whoever caused them, and terminal stops: never forwarded (as tini). */
static int not_forwarded(int sig)
{
	return sig == SIGFPE || sig == SIGILL || sig == SIGSEGV || sig == SIGBUS || sig == SIGABRT ||
	       sig == SIGTRAP || sig == SIGSYS || sig == SIGTTIN || sig == SIGTTOU;
}

int main(int argc, char **argv)
{
	int first = 1;
	if (first < argc && strcmp(argv[first], "--") == 0) first++;
	if (first >= argc || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fprintf(stderr, "usage: hako-init [--] command [args...]\n");
		return 2;
	}

	/* Every signal waits for sigwaitinfo: a blocked signal reaches even a namespace's PID 1. */
	sigset_t all, old;
	sigfillset(&all);
	for (int s = 1; s < NSIG; s++)
		if (not_forwarded(s)) sigdelset(&all, s);
	sigprocmask(SIG_BLOCK, &all, &old);
	/* So the child may take the terminal from the background (tini does the same). */
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);

	pid_t child = fork();
	if (child < 0) {
		fprintf(stderr, "hako-init: fork: %s\n", strerror(errno));
		return 1;
	}
	if (child == 0) {
		setpgid(0, 0);
		/* No terminal (ENOTTY, ENXIO) is fine. */
		(void)tcsetpgrp(STDIN_FILENO, getpgrp());
		signal(SIGTTIN, SIG_DFL);
		signal(SIGTTOU, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[first], argv + first);
		int e = errno;
		fprintf(stderr, "hako-init: exec %s failed: %s\n", argv[first], strerror(e));
		_exit(e == ENOENT ? 127 : 126);
	}

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0) continue; /* EINTR */
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		/* Several exits can make one SIGCHLD: reap all of them. */
		for (;;) {
			int st;
			pid_t w = waitpid(-1, &st, WNOHANG);
			if (w <= 0) break;
			if (w == child) {
				/* Whatever else is left dies with PID 1 (in a pid namespace). */
				while (waitpid(-1, NULL, WNOHANG) > 0) {}
				return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
			}
		}
	}
}
