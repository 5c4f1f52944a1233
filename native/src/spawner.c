/*
 * hako-shim spawner: hakod's fork server for helpers.
 *
 * hakod (Node) starts a helper for every container start and every exec.
 * Node's spawn forks the whole daemon, a process of tens of megabytes, and
 * blocks until the child has exec'd the helper: ~2.5 ms of each start and
 * each exec. The spawner is one small helper process, started once: for
 * each request it forks itself (no exec at all: the child is already the
 * helper, run from the same pinned or sealed binary) into run_plan().
 *
 * It speaks Node's IPC channel (the "ipc" stdio slot, JSON lines, file
 * descriptors as SCM_RIGHTS with a NODE_HANDLE message that Node answers
 * with NODE_HANDLE_ACK), so the ends of the child's stdio and control
 * sockets reach hakod as ordinary net.Sockets:
 *
 *   hakod → {"spawn":J,"slots":"ppnp","detached":1}   per slot of fds 0-3: p a socket, n /dev/null
 *   ← NODE_HANDLE {"job":J,"slot":i,"pid":P} + the fd, once per "p" slot, all at
 *     once; Node acknowledges each, in order
 *   ← {"job":J,"pid":P} once every socket is on its way
 *   ← {"exit":J,"status":S} when the child is reaped
 *
 * A warm helper is forked ahead of need, so that a start or an exec pays
 * for none of the above (a fork and the hand-overs' round trip through
 * hakod's event loop):
 *
 *   hakod → {"warm":J,"slots":"nppp"}   the slots it expects the next use to
 *           want (fd 3 always a socket; no "slots": "pppp")
 *   ← the sockets and {"job":J,"pid":P}, as for a spawn
 *   hakod → on fd 3, when it takes the helper: "KKKKD\n", the kinds of fds
 *           0-3 (p keep, n /dev/null) and D 1 for a session of its own;
 *           then the plan, as for any helper
 *
 * A warm helper whose fd 3 closes before that exits quietly.
 *
 * With --parent-slice-us N it first asks the scheduler for a short slice
 * for hakod's main thread (sched.c): the event loop then wakes promptly
 * even when a container process holds the CPU it wakes on.
 *
 * The sockets are stream socketpairs, as Node's own spawn makes them,
 * hakod's end non-blocking as Node's spawn makes its own.
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
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_LINE 4096
#define MAX_CHILDREN 4096

static int ipc = -1;
static char inbuf[1 << 16];
static size_t inlen;

static struct { pid_t pid; long job; } children[MAX_CHILDREN];

static void remember(pid_t pid, long job)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (children[i].pid == 0) {
			children[i].pid = pid;
			children[i].job = job;
			return;
		}
	}
}

static long forget(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (children[i].pid == pid) {
			children[i].pid = 0;
			return children[i].job;
		}
	}
	return -1;
}

/* One JSON line to hakod, with an fd riding along when fd >= 0 (a blocking socket: all of it goes). */
static int send_line(const char *line, int fd)
{
	return send_with_fd(ipc, line, strlen(line), fd);
}

/* A number after "key": in a JSON line, or -1. */
static long field(const char *line, const char *key)
{
	char pat[32];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *at = strstr(line, pat);
	if (!at) return -1;
	return strtol(at + strlen(pat), NULL, 10);
}

static void spawn_one(const char *line);

/* Handles every complete line in the buffer (an ACK outside a wait is stale). */
static void drain_lines(void)
{
	char *nl;
	while ((nl = memchr(inbuf, '\n', inlen))) {
		char line[MAX_LINE];
		size_t used = (size_t)(nl - inbuf) + 1;
		snprintf(line, sizeof line, "%.*s", (int)(used - 1), inbuf);
		memmove(inbuf, inbuf + used, inlen - used);
		inlen -= used;
		if (strstr(line, "\"spawn\":") || strstr(line, "\"warm\":")) spawn_one(line);
		/* Anything else (NODE_HANDLE_ACK/NACK, messages of later versions) is not ours. */
	}
}

static int read_ipc(void)
{
	if (inlen == sizeof inbuf) inlen = 0; /* a line longer than the buffer: dropped */
	ssize_t n = read(ipc, inbuf + inlen, sizeof inbuf - inlen);
	if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
	if (n <= 0) return -1;
	inlen += (size_t)n;
	return 0;
}

/*
 * Takes the first ACK (1) or NACK (2: the fd did not arrive with its
 * message; send it again, as Node does) out of the buffer, leaving the
 * other lines (spawn requests) for the main loop; 0 when there is none yet.
 */
static int take_ack(void)
{
	size_t pos = 0;
	char *nl;
	while (pos < inlen && (nl = memchr(inbuf + pos, '\n', inlen - pos))) {
		size_t end = (size_t)(nl - inbuf) + 1;
		int kind = memmem(inbuf + pos, end - pos, "\"NODE_HANDLE_ACK\"", 17) ? 1 : memmem(inbuf + pos, end - pos, "\"NODE_HANDLE_NACK\"", 18) ? 2 : 0;
		if (kind) {
			memmove(inbuf + pos, inbuf + end, inlen - end);
			inlen -= end - pos;
			return kind;
		}
		pos = end;
	}
	return 0;
}

/* Node acknowledges each handle, in the order they came: 0 ACK, 1 NACK, -1 gone. */
static int wait_ack(void)
{
	for (;;) {
		int kind = take_ack();
		if (kind) return kind - 1;
		struct pollfd p = { ipc, POLLIN, 0 };
		int r = poll(&p, 1, 10000);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0 || read_ipc() < 0) return -1;
	}
}

/* fds 0-3 of a helper from its slots: kind p its socket, n /dev/null. */
static int wire_slots(int slots[4][2], const char *kinds)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int i = 0; i < 4; i++) {
		int src = kinds[i] == 'p' ? slots[i][1] : devnull;
		if (src < 0 || dup2(src, i) < 0) return -1;
	}
	return 0; /* devnull (above fd 3) goes with the spawner's other fds */
}

/*
 * A warm helper's wait for its use: the header line on fd 3 names which of
 * its sockets hakod keeps; the others become /dev/null, as in a cold spawn.
 */
static void await_use(void)
{
	char head[6];
	if (read_full(3, head, sizeof head) < 0 || head[5] != '\n') _exit(0); /* hakod let it go, or is gone */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int i = 0; i < 3; i++) {
		if (head[i] == 'p') continue;
		if (null < 0 || dup2(null, i) < 0) _exit(125);
	}
	if (null >= 0) close(null);
	if (head[4] == '1') setsid();
}

static _Noreturn void child_main(int slots[4][2], const char *kinds, int detached, int warm)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (detached) setsid();
	if (wire_slots(slots, kinds) < 0) _exit(125);
	/* Nothing of the spawner's (its channel to hakod, other children's sockets) goes along. */
	syscall(SYS_close_range, 4, ~0U, 0);
	if (warm) {
		plan_prelude();
		await_use();
	}
	_exit(run_plan());
}

/* hakod's end of slot i of a helper, in Node's handle message. */
static int send_handle(long job, int slot, pid_t pid, int fd)
{
	char out[256];
	snprintf(out, sizeof out, "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":{\"job\":%ld,\"slot\":%d,\"pid\":%d}}\n", job, slot, pid);
	return send_line(out, fd);
}

static void spawn_one(const char *line)
{
	int warm = strstr(line, "\"warm\":") != NULL;
	long job = field(line, warm ? "warm" : "spawn");
	const char *k = strstr(line, "\"slots\":\"");
	char kinds[5] = "nnnn";
	if (warm) memcpy(kinds, "pppp", 4);
	if (k) {
		k += 9;
		for (int i = 0; i < 4 && (k[i] == 'p' || k[i] == 'n'); i++) kinds[i] = k[i];
	}
	if (warm) kinds[3] = 'p'; /* it waits for its use on fd 3 */
	int detached = !warm && field(line, "detached") == 1;
	int slots[4][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 }, { -1, -1 } };
	char out[256];
	for (int i = 0; i < 4; i++) {
		if (kinds[i] == 'p' && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, slots[i]) < 0) {
			snprintf(out, sizeof out, "{\"job\":%ld,\"error\":\"socketpair: %s\"}\n", job, strerror(errno));
			send_line(out, -1);
			for (int j = 0; j < i; j++) if (slots[j][0] >= 0) { close(slots[j][0]); close(slots[j][1]); }
			return;
		}
		/*
		 * hakod's end must not block: libuv takes a handle received over
		 * IPC as it is, and a blocking write of an exec's stdin would stop
		 * the event loop while the process waits for its stdout to be read.
		 * The process's end stays blocking, as a program expects.
		 */
		if (kinds[i] == 'p') fcntl(slots[i][0], F_SETFL, fcntl(slots[i][0], F_GETFL) | O_NONBLOCK);
	}
	pid_t pid = fork();
	if (pid == 0) child_main(slots, kinds, detached, warm);
	int err = errno;
	for (int i = 0; i < 4; i++) if (slots[i][1] >= 0) close(slots[i][1]);
	if (pid < 0) {
		snprintf(out, sizeof out, "{\"job\":%ld,\"error\":\"fork: %s\"}\n", job, strerror(err));
		send_line(out, -1);
		for (int i = 0; i < 4; i++) if (slots[i][0] >= 0) close(slots[i][0]);
		return;
	}
	remember(pid, job);
	/*
	 * Every socket goes at once, and the acknowledgements are read after:
	 * Node handles each message with its own fd (SCM_RIGHTS data is never
	 * coalesced) and answers them in order, so the n-th answer is for the
	 * n-th socket still unanswered. One round trip through hakod's event
	 * loop instead of one per socket. A NACK (the fd did not arrive: Node
	 * says so on MSG_CTRUNC) sends that one again, at the end of the line.
	 */
	int queue[12], head = 0, tail = 0, tries[4] = { 0 };
	for (int i = 0; i < 4; i++) {
		if (slots[i][0] < 0) continue;
		if (send_handle(job, i, pid, slots[i][0]) < 0) exit(1); /* hakod is gone */
		queue[tail++] = i;
	}
	while (head < tail) {
		int i = queue[head++];
		int r = wait_ack();
		if (r == 1 && ++tries[i] < 3 && tail < (int)(sizeof queue / sizeof queue[0])) {
			if (send_handle(job, i, pid, slots[i][0]) < 0) exit(1);
			queue[tail++] = i;
			continue;
		}
		if (r != 0) exit(1); /* hakod is gone, or never takes the fd */
	}
	for (int i = 0; i < 4; i++) if (slots[i][0] >= 0) close(slots[i][0]);
	snprintf(out, sizeof out, "{\"job\":%ld,\"pid\":%d}\n", job, pid);
	if (send_line(out, -1) < 0) exit(1);
}

static void reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		long job = forget(pid);
		if (job < 0) continue;
		char out[96];
		snprintf(out, sizeof out, "{\"exit\":%ld,\"status\":%d}\n", job, exit_code_of(status));
		if (send_line(out, -1) < 0) exit(1);
	}
}

int spawner_main(int argc, char **argv)
{
	const char *fd = getenv("NODE_CHANNEL_FD");
	if (!fd) {
		fprintf(stderr, "hako-shim spawner: no NODE_CHANNEL_FD (hakod starts it with an ipc channel)\n");
		return 2;
	}
	/* --parent-slice-us N: hakod's event loop (its main thread: its pid) asks for a short slice (sched.c). */
	if (argc > 2 && strcmp(argv[1], "--parent-slice-us") == 0 && request_short_slice(getppid(), (unsigned)atoi(argv[2])) < 0)
		fprintf(stderr, "hako-shim spawner: a %s µs slice for hakod: %s (left as it is)\n", argv[2], strerror(errno));
	ipc = atoi(fd);
	unsetenv("NODE_CHANNEL_FD");
	unsetenv("NODE_CHANNEL_SERIALIZATION_MODE");
	fcntl(ipc, F_SETFD, FD_CLOEXEC);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) fatal("spawner", errno, "signalfd: %s", strerror(errno));
	for (;;) {
		struct pollfd p[2] = { { ipc, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR) continue;
			fatal("spawner", errno, "poll: %s", strerror(errno));
		}
		if (p[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) > 0) {}
			reap();
		}
		if (p[0].revents) {
			if (read_ipc() < 0) return 0; /* hakod closed the channel: its children go on without us */
			drain_lines();
		}
	}
}
