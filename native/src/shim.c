/*
 * The shim (MODE_SHIM, docs/engine.md): one per container, nobody's child
 * but init's, so the container outlives hakod. It sets the container up as
 * run mode does, then owns its stdio: the json-file log, attach clients on
 * <dir>/attach.sock, and exit.json when the process is gone.
 *
 * Control lines on fd 3, until "running" (or an error):
 *   shim <shim pid>   attach.sock listens
 *   pid <pid>         the process is set up and waits for "start"
 *   running           it exec'd
 *   error <stage> <errno> <text>
 * attach.sock frames: [u8 type][u32 big-endian length][payload]
 *   client → shim: H flags (1 stdin, 2 stdout, 4 stderr, 8 watch), I data,
 *                  C (close stdin), R u16 rows u16 cols
 *   shim → client: '1' stdout, '2' stderr, X i32 exit status
 *
 * Its life: fork (the parent exits at once, so its spawner reaps it),
 * setsid, subreaper; attach.sock and shim.pid; the process's stdio (pipes,
 * or the pty master from the handshake); clone and handshake as run mode
 * (container_clone, parent_handshake); "running"; then a re-exec from the
 * binary on disk (reexec_from_disk) and the event loop (poll): SIGCHLD
 * through a signalfd, output to the log and the clients, stdin and resize
 * from the clients. At the end: exit.json, X to every client, files gone.
 */
#define _GNU_SOURCE
#include "container.h"
#include "msg.h"
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 128
/*
 * A client this far behind holds the output back (the process blocks on a
 * full pipe, as Docker's attach does) while it still takes something; one
 * that takes nothing for STALL_MS is dropped, so nobody blocks the process
 * for long.
 */
#define CLIENT_OUT_CAP (4u << 20)
#define CLIENT_OUT_HARD (CLIENT_OUT_CAP + (8u << 20)) /* never buffered beyond this */
#define STALL_MS 3000
#define CLIENT_FRAME_MAX (1u << 20) /* the largest frame a client may send */
#define READ_CHUNK (64 * 1024)
#define EXIT_GRACE_MS 100            /* output still open this long after the exit: stop reading */
#define DRAIN_IDLE_MS 2000           /* at the end, a client that takes nothing this long is left */

#define F_STDIN 1
#define F_STDOUT 2
#define F_STDERR 4
#define F_WATCH 8 /* only the exit frame: no bit of its own needed */

struct buf { char *d; size_t off, len, cap; };

struct client {
	int fd;
	int flags;   /* -1 until its H frame: it gets every output frame, filtered once H comes */
	struct buf out, in;
	struct timespec progress; /* it last took output (or connected) */
	int shut;    /* at the end: all was sent and our side is shut */
};

static struct {
	struct plan *p;           /* set-up only: NULL after the re-exec */
	uint32_t stdio_flags;
	pid_t self;
	char sock_path[PATH_MAX];
	char *pid_path, *exit_path, *exit_tmp;
	int listen_fd, sfd;
	pid_t child;
	int tty, master;
	int out_fd[3];            /* [1] stdout (or the pty master), [2] stderr */
	int in_fd;                /* the stdin pipe or the master; -1 when closed */
	struct buf in_pending;    /* stdin not yet taken by the process */
	int in_close_pending;
	struct client *stdin_owner; /* StdinOnce: the first client that attached stdin */
	int stdin_owner_done;
	struct client *clients[MAX_CLIENTS];
	int nclients;
	int exited, status;
	struct timespec exit_time;
	int throttled;                /* output not read: a client is CLIENT_OUT_CAP behind */
	struct timespec unthrottled;  /* when that last ended */
	int finished;
	int mnt_hold;                 /* the process's mount namespace (hold_mount_namespace) */
} S = { .listen_fd = -1, .sfd = -1, .master = -1, .out_fd = { -1, -1, -1 }, .in_fd = -1, .mnt_hold = -1 };

static char iobuf[READ_CHUNK];

/* ------------------------------------------------------------------ buffers */

static void buf_append(struct buf *b, const void *data, size_t n)
{
	if (b->off && b->off + b->len + n > b->cap) {
		memmove(b->d, b->d + b->off, b->len);
		b->off = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n) cap *= 2;
		b->d = xrealloc(b->d, cap);
		b->cap = cap;
	}
	memcpy(b->d + b->off + b->len, data, n);
	b->len += n;
}

static void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0) {
		/* Idle shims hold no buffers. */
		free(b->d);
		memset(b, 0, sizeof *b);
	}
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void frame_header(unsigned char *h, char type, uint32_t len)
{
	h[0] = (unsigned char)type;
	h[1] = (unsigned char)(len >> 24);
	h[2] = (unsigned char)(len >> 16);
	h[3] = (unsigned char)(len >> 8);
	h[4] = (unsigned char)len;
}

static int64_t ms_since(const struct timespec *t)
{
	struct timespec n;
	clock_gettime(CLOCK_MONOTONIC, &n);
	return (int64_t)(n.tv_sec - t->tv_sec) * 1000 + (n.tv_nsec - t->tv_nsec) / 1000000;
}

/* ------------------------------------------------------------------ files */

static void json_string(struct buf *b, const char *s)
{
	buf_append(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[8];
		if (c == '"' || c == '\\') { e[0] = '\\'; e[1] = (char)c; buf_append(b, e, 2); }
		else if (c < 0x20) { snprintf(e, sizeof e, "\\u%04x", c); buf_append(b, e, 6); }
		else buf_append(b, s, 1);
	}
	buf_append(b, "\"", 1);
}

/* exit.json, through a temporary file and rename, so a reader sees all of it or nothing. */
static void write_exit_file(int code, int sig, const char *error)
{
	struct timespec ts;
	char when[64], head[160];
	clock_gettime(CLOCK_REALTIME, &ts);
	format_rfc3339nano(when, sizeof when, &ts);
	struct buf b = { 0 };
	int n = snprintf(head, sizeof head, "{\"exitCode\":%d,\"signal\":%d,\"finishedAt\":\"%s\"", code, sig, when);
	buf_append(&b, head, (size_t)n);
	if (error) {
		buf_append(&b, ",\"error\":", 9);
		json_string(&b, error);
	}
	buf_append(&b, "}\n", 2);
	int fd = open(S.exit_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		int ok = write_all(fd, b.d + b.off, b.len) == 0;
		close(fd);
		if (ok) rename(S.exit_tmp, S.exit_path);
		else unlink(S.exit_tmp);
	}
	free(b.d);
}

static char *join(const char *dir, const char *name)
{
	char *s = xmalloc(strlen(dir) + strlen(name) + 2);
	sprintf(s, "%s/%s", dir, name);
	return s;
}

static void write_pid_file(void)
{
	char *tmp = join(S.p->shim_dir, "shim.pid.tmp");
	char line[24];
	int n = snprintf(line, sizeof line, "%d", S.self);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || write_all(fd, line, (size_t)n) < 0 || close(fd) < 0 || rename(tmp, S.pid_path) < 0)
		fatal("shim", errno, "write %s: %s", S.pid_path, strerror(errno));
	free(tmp);
}

static void listen_attach(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char *path = join(S.p->shim_dir, "attach.sock");
	if (strlen(path) >= sizeof S.sock_path)
		fatal("shim", ENAMETOOLONG, "%s: the path is too long", path);
	strcpy(S.sock_path, path);
	if (strlen(path) < sizeof addr.sun_path) {
		strcpy(addr.sun_path, path);
	} else {
		/* Deep state dirs (a long --exec-root) exceed sun_path: bind through a
		 * directory fd instead; clients connect the same way. The fd stays open
		 * for the shim's life, which is what keeps the name short. */
		int dfd = open(S.p->shim_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			fatal("shim", errno, "open %s: %s", S.p->shim_dir, strerror(errno));
		snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/attach.sock", dfd);
	}
	free(path);
	S.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (S.listen_fd < 0)
		fatal("shim", errno, "socket: %s", strerror(errno));
	unlink(addr.sun_path); /* a stale one from a shim that was killed */
	mode_t old = umask(0177); /* 0600 from the start: no window where others could connect */
	int r = bind(S.listen_fd, (struct sockaddr *)&addr, sizeof addr);
	int e = errno;
	umask(old);
	if (r < 0)
		fatal("shim", e, "bind %s: %s", addr.sun_path, strerror(e));
	if (listen(S.listen_fd, MAX_CLIENTS) < 0)
		fatal("shim", errno, "listen %s: %s", addr.sun_path, strerror(errno));
}

/* Whatever ends the shim before the normal end (a fatal() of the set-up): leave a trace. */
static void at_exit(void)
{
	if (S.finished || getpid() != S.self) return;
	S.finished = 1;
	if (S.exit_path) write_exit_file(128, 0, S.p ? "the shim failed while setting the container up" : "the shim failed");
	if (S.sock_path[0]) unlink(S.sock_path);
	if (S.pid_path) unlink(S.pid_path);
}

/* ------------------------------------------------------------------ clients */

static void drop_client(struct client *c);

static void close_stdin_now(void)
{
	if (S.in_fd >= 0 && !S.tty) close(S.in_fd);
	S.in_fd = -1;
	S.in_close_pending = 0;
	if (S.in_pending.len) buf_consume(&S.in_pending, S.in_pending.len);
}

static void close_stdin(void)
{
	if (S.in_pending.len) S.in_close_pending = 1;
	else close_stdin_now();
}

/* Writes pending stdin; returns when the process does not take more now. */
static void flush_stdin(void)
{
	while (S.in_fd >= 0 && S.in_pending.len) {
		ssize_t n = write(S.in_fd, S.in_pending.d + S.in_pending.off, S.in_pending.len);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0 && errno == EAGAIN) return;
		if (n <= 0) { close_stdin_now(); return; } /* the process closed its stdin */
		buf_consume(&S.in_pending, (size_t)n);
	}
	if (S.in_close_pending && !S.in_pending.len) close_stdin_now();
}

/* Sends what the client's socket takes now; -1 when the client is gone. */
static int client_flush(struct client *c)
{
	while (c->out.len) {
		ssize_t n = send(c->fd, c->out.d + c->out.off, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0 && errno == EAGAIN) return 0;
		if (n <= 0) return -1;
		buf_consume(&c->out, (size_t)n);
		clock_gettime(CLOCK_MONOTONIC, &c->progress);
	}
	return 0;
}

/* Queues a frame; 0, or -1 when the client had to be dropped. */
static int client_send(struct client *c, char type, const void *data, uint32_t len, int force)
{
	if (!force && c->out.len + len + 5 > CLIENT_OUT_HARD) { drop_client(c); return -1; }
	unsigned char h[5];
	frame_header(h, type, len);
	buf_append(&c->out, h, 5);
	if (len) buf_append(&c->out, data, len);
	if (c->flags >= 0 && client_flush(c) < 0) { drop_client(c); return -1; }
	return 0;
}

/* The H frame came: drop the output frames queued before that it did not ask for. -1: dropped. */
static int client_identified(struct client *c, int flags)
{
	c->flags = flags;
	if (c->out.len && (flags & (F_STDOUT | F_STDERR)) != (F_STDOUT | F_STDERR)) {
		struct buf kept = { 0 };
		size_t i = 0;
		const unsigned char *d = (const unsigned char *)c->out.d + c->out.off;
		while (i + 5 <= c->out.len) {
			uint32_t len = be32(d + i + 1);
			int want = (d[i] == '1' && (flags & F_STDOUT)) || (d[i] == '2' && (flags & F_STDERR)) || (d[i] != '1' && d[i] != '2');
			if (want) buf_append(&kept, d + i, 5 + len);
			i += 5 + len;
		}
		free(c->out.d);
		c->out = kept;
	}
	if ((flags & F_STDIN) && (S.stdio_flags & STDIO_STDIN_ONCE) && !S.stdin_owner && !S.stdin_owner_done)
		S.stdin_owner = c;
	if (client_flush(c) < 0) { drop_client(c); return -1; }
	return 0;
}

static void drop_client(struct client *c)
{
	for (int i = 0; i < S.nclients; i++) {
		if (S.clients[i] != c) continue;
		S.clients[i] = S.clients[--S.nclients];
		break;
	}
	if (c == S.stdin_owner) {
		/* StdinOnce: the first attach with stdin is gone, so is the process's stdin. */
		S.stdin_owner = NULL;
		S.stdin_owner_done = 1;
		close_stdin();
	}
	close(c->fd);
	free(c->out.d);
	free(c->in.d);
	free(c);
}

static void accept_clients(void)
{
	for (;;) {
		int fd = accept4(S.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) continue;
			return; /* EAGAIN, or out of fds: the rest wait in the backlog */
		}
		if (S.nclients >= MAX_CLIENTS) { close(fd); continue; }
		struct client *c = xcalloc(1, sizeof *c);
		c->fd = fd;
		c->flags = -1;
		clock_gettime(CLOCK_MONOTONIC, &c->progress);
		S.clients[S.nclients++] = c;
	}
}

/* Handles the complete frames in c->in; -1 when the client was dropped. */
static int client_frames(struct client *c)
{
	while (c->in.len >= 5) {
		const unsigned char *d = (const unsigned char *)c->in.d + c->in.off;
		uint32_t len = be32(d + 1);
		if (len > CLIENT_FRAME_MAX) { drop_client(c); return -1; }
		if (c->in.len < 5 + (size_t)len) break;
		const unsigned char *payload = d + 5;
		switch (d[0]) {
		case 'H':
			if (c->flags < 0 && client_identified(c, len ? payload[0] : 0) < 0) return -1;
			break;
		case 'I':
			if (S.in_fd >= 0 && !S.in_close_pending && c->flags > 0 && (c->flags & F_STDIN)) {
				buf_append(&S.in_pending, payload, len);
				flush_stdin();
			}
			break;
		case 'C':
			if (c->flags > 0 && (c->flags & F_STDIN)) {
				if (c == S.stdin_owner) { S.stdin_owner = NULL; S.stdin_owner_done = 1; }
				close_stdin();
			}
			break;
		case 'R':
			if (S.tty && S.master >= 0 && len >= 4) {
				struct winsize ws = { .ws_row = (unsigned short)(payload[0] << 8 | payload[1]),
						      .ws_col = (unsigned short)(payload[2] << 8 | payload[3]) };
				ioctl(S.master, TIOCSWINSZ, &ws);
			}
			break;
		default:
			break; /* newer clients may know more frames */
		}
		buf_consume(&c->in, 5 + (size_t)len);
	}
	return 0;
}

static void client_readable(struct client *c)
{
	char buf[16384];
	ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
	if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
	if (n <= 0) { drop_client(c); return; }
	buf_append(&c->in, buf, (size_t)n);
	client_frames(c);
}

static void broadcast(int stream, const char *data, size_t len)
{
	char type = stream == SHIM_STDERR ? '2' : '1';
	int want = stream == SHIM_STDERR ? F_STDERR : F_STDOUT;
	for (int i = S.nclients - 1; i >= 0; i--) {
		struct client *c = S.clients[i];
		if (c->flags < 0 || (c->flags & want))
			client_send(c, type, data, (uint32_t)len, 0);
	}
}

/* ------------------------------------------------------------------ the process */

static void reap(void)
{
	pid_t w;
	int st;
	while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
		if (w == S.child && !S.exited) {
			S.exited = 1;
			S.status = st;
			clock_gettime(CLOCK_MONOTONIC, &S.exit_time);
		}
	}
}

/* One read of a stream: 1 data, 2 nothing now, 0 at EOF (for a pty, EIO: every slave is closed). */
static int read_output(int stream)
{
	ssize_t n = read(S.out_fd[stream], iobuf, sizeof iobuf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 2;
	if (n <= 0) return 0;
	shim_log_write(stream, iobuf, (size_t)n);
	shim_log_flush();
	broadcast(stream, iobuf, (size_t)n);
	return 1;
}

static void close_output(int stream)
{
	shim_log_end(stream);
	shim_log_flush();
	/* The pty master stays while stdin still goes there (resize too): it is closed at exit. */
	if (S.out_fd[stream] >= 0 && S.out_fd[stream] != S.master)
		close(S.out_fd[stream]);
	S.out_fd[stream] = -1;
}

/* After exit.json: X to every client (as long as they take it), files removed, exit. */
static _Noreturn void end(int code)
{
	S.finished = 1;
	/* New clients find no socket and read exit.json instead. */
	if (S.listen_fd >= 0) close(S.listen_fd);
	unlink(S.sock_path);
	unsigned char x[4] = { (unsigned char)(code >> 24), (unsigned char)(code >> 16), (unsigned char)(code >> 8), (unsigned char)code };
	for (int i = S.nclients - 1; i >= 0; i--) {
		struct client *c = S.clients[i];
		if (c->flags < 0) c->flags = 0; /* no H yet: it still gets what is queued and the exit */
		client_send(c, 'X', x, 4, 1);
	}
	/*
	 * Whoever listened has the exit now (or queued, if slow): the mounts go
	 * here, not after a slow reader, and shim.pid with them, which tells a
	 * new start of this container that its layer is free again.
	 */
	if (S.mnt_hold >= 0) close(S.mnt_hold);
	S.mnt_hold = -1;
	unlink(S.pid_path);
	/*
	 * A client is closed only after it closed its side: closing a unix
	 * socket with input left unread (stdin the process never took) resets
	 * the connection, and the client's read then loses the output and the
	 * exit queued for it. So: send all, shut our side, read and drop what
	 * it still sends until its end.
	 */
	struct timespec progress;
	clock_gettime(CLOCK_MONOTONIC, &progress);
	for (;;) {
		struct pollfd fds[MAX_CLIENTS];
		int n = 0;
		for (int i = 0; i < S.nclients; i++) {
			struct client *c = S.clients[i];
			if (!c->out.len && !c->shut) {
				shutdown(c->fd, SHUT_WR);
				c->shut = 1;
			}
			fds[n++] = (struct pollfd){ c->fd, (short)(POLLIN | (c->out.len ? POLLOUT : 0)), 0 };
		}
		if (n == 0) break;
		int64_t left = DRAIN_IDLE_MS - ms_since(&progress);
		if (left <= 0) break;
		if (poll(fds, (nfds_t)n, (int)left) < 0 && errno != EINTR) break;
		for (int i = n - 1; i >= 0; i--) {
			if (!fds[i].revents) continue;
			struct client *c = S.clients[i];
			size_t before = c->out.len;
			if ((fds[i].revents & POLLOUT) && client_flush(c) < 0) { drop_client(c); continue; }
			if (c->out.len != before) clock_gettime(CLOCK_MONOTONIC, &progress);
			if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				char sink[16384];
				ssize_t got = recv(c->fd, sink, sizeof sink, MSG_DONTWAIT);
				if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) { drop_client(c); continue; }
				if (got > 0) clock_gettime(CLOCK_MONOTONIC, &progress);
			}
		}
	}
	_exit(0);
}

/* The end: the log flushed, exit.json, then the clients. */
static _Noreturn void finish(int code, int sig)
{
	for (int s = SHIM_STDOUT; s <= SHIM_STDERR; s++) shim_log_end(s);
	shim_log_flush();
	write_exit_file(code, sig, NULL);
	end(code);
}

void shim_fail(const char *stage, int err, const char *text, int code)
{
	char msg[1200];
	snprintf(msg, sizeof msg, "%s: %s", stage, text);
	/* exit.json first: whoever reads the error line finds it there. */
	S.finished = 1;
	shim_log_flush();
	write_exit_file(code, 0, msg);
	ctl_error(stage, err, text);
	accept_clients();
	end(code);
}

void shim_before_go(void)
{
	/*
	 * Whoever connected before "start" (docker run attaches first) is taken
	 * in now, so it misses none of the output.
	 */
	accept_clients();
}

/* Holds the output back while a client is far behind; drops one that stalled. */
static void update_throttle(void)
{
	int behind = 0;
	for (int i = S.nclients - 1; i >= 0; i--) {
		struct client *c = S.clients[i];
		if (c->out.len < CLIENT_OUT_CAP) continue;
		if (ms_since(&c->progress) >= STALL_MS) { drop_client(c); continue; }
		behind = 1;
	}
	if (S.throttled && !behind) clock_gettime(CLOCK_MONOTONIC, &S.unthrottled);
	S.throttled = behind;
}

static void reexec_from_disk(void);
static void hold_mount_namespace(void);
static int child_ends_soon(void);

static void event_loop(void)
{
	enum { P_SIG, P_LISTEN, P_OUT, P_ERR, P_IN, P_CLIENTS };
	struct pollfd fds[P_CLIENTS + MAX_CLIENTS];
	for (;;) {
		int stdin_busy = S.in_pending.len > 0;
		fds[P_SIG] = (struct pollfd){ S.sfd, POLLIN, 0 };
		fds[P_LISTEN] = (struct pollfd){ S.listen_fd, POLLIN, 0 };
		fds[P_OUT] = (struct pollfd){ S.out_fd[1], POLLIN, 0 };
		fds[P_ERR] = (struct pollfd){ S.out_fd[2], POLLIN, 0 };
		fds[P_IN] = (struct pollfd){ stdin_busy ? S.in_fd : -1, POLLOUT, 0 };
		int n = S.nclients;
		struct client *polled[MAX_CLIENTS];
		for (int i = 0; i < n; i++) {
			struct client *c = S.clients[i];
			polled[i] = c;
			short ev = 0;
			/* Stdin the process does not take yet: its writers wait (backpressure). */
			if (!(stdin_busy && c->flags > 0 && (c->flags & F_STDIN))) ev |= POLLIN;
			if (c->flags >= 0 && c->out.len) ev |= POLLOUT;
			fds[P_CLIENTS + i] = (struct pollfd){ c->fd, ev, 0 };
		}
		int timeout = -1;
		if (S.throttled) {
			fds[P_OUT].fd = fds[P_ERR].fd = -1;
			for (int i = 0; i < n; i++) {
				if (polled[i]->out.len < CLIENT_OUT_CAP) continue;
				int64_t left = STALL_MS - ms_since(&polled[i]->progress);
				if (left < 0) left = 0;
				if (timeout < 0 || left < timeout) timeout = (int)left;
			}
		} else if (S.exited) {
			if (S.out_fd[1] < 0 && S.out_fd[2] < 0) break;
			/* The grace runs from the exit, or from when the clients caught up. */
			int64_t left = EXIT_GRACE_MS - ms_since(&S.exit_time);
			int64_t since = EXIT_GRACE_MS - ms_since(&S.unthrottled);
			if (S.unthrottled.tv_sec && since > left) left = since;
			if (left <= 0) break; /* a grandchild holds the output open: stop reading */
			timeout = (int)left;
		}
		if (poll(fds, (nfds_t)(P_CLIENTS + n), timeout) < 0) {
			if (errno == EINTR) continue;
			fatal("shim", errno, "poll: %s", strerror(errno));
		}
		if (fds[P_SIG].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(S.sfd, &si, sizeof si) == sizeof si) {}
			reap();
		}
		for (int s = 1; s <= 2; s++) {
			if (fds[s == 1 ? P_OUT : P_ERR].revents & (POLLIN | POLLHUP | POLLERR))
				if (!read_output(s)) close_output(s);
		}
		if (fds[P_IN].revents) flush_stdin();
		for (int i = 0; i < n; i++) {
			struct client *c = polled[i];
			short re = fds[P_CLIENTS + i].revents;
			if (!re) continue;
			/* Dropped meanwhile (a full buffer)? Then it is no longer listed. */
			int alive = 0;
			for (int j = 0; j < S.nclients; j++) alive |= S.clients[j] == c;
			if (!alive) continue;
			if (re & POLLOUT) {
				if (client_flush(c) < 0) { drop_client(c); continue; }
			}
			if (re & (POLLIN | POLLHUP | POLLERR)) client_readable(c);
		}
		if (fds[P_LISTEN].revents & POLLIN) accept_clients();
		update_throttle();
	}
	/* Whatever the process wrote before it exited is read; later output of strays is not ours. */
	for (int s = 1; s <= 2; s++) {
		if (S.out_fd[s] < 0) continue;
		int fl = fcntl(S.out_fd[s], F_GETFL);
		fcntl(S.out_fd[s], F_SETFL, fl | O_NONBLOCK);
		for (int i = 0; i < 64 && read_output(s) == 1; i++) {}
		close_output(s);
	}
	int code = exit_code_of(S.status);
	finish(code, WIFSIGNALED(S.status) ? WTERMSIG(S.status) : 0);
}

/* ------------------------------------------------------------------ set-up */

/* The process's 0-2: pipes (stdin only with OpenStdin) or /dev/null; returns /dev/null's fd. */
static int make_stdio(int child_fds[3])
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		fatal("shim", errno, "open /dev/null: %s", strerror(errno));
	child_fds[0] = child_fds[1] = child_fds[2] = devnull;
	if (S.tty) return devnull; /* the process opens its pty; the master comes back in the handshake */
	int pp[2];
	for (int s = 1; s <= 2; s++) {
		if (pipe2(pp, O_CLOEXEC) < 0)
			fatal("shim", errno, "pipe: %s", strerror(errno));
		fcntl(pp[0], F_SETFL, O_NONBLOCK); /* ours only: the process's end stays blocking */
		S.out_fd[s] = pp[0];
		child_fds[s] = pp[1];
	}
	if (S.stdio_flags & STDIO_OPEN_STDIN) {
		if (pipe2(pp, O_CLOEXEC) < 0)
			fatal("shim", errno, "pipe: %s", strerror(errno));
		child_fds[0] = pp[0];
		S.in_fd = pp[1];
	}
	return devnull;
}

/* The set-up's part of the plan: not needed once the process runs. */
static void release_plan(struct plan *p)
{
	free(p->seccomp_prog);
	p->seccomp_prog = NULL;
	for (size_t i = 0; i < p->nseccomp_rules; i++) {
		free(p->seccomp_rules[i].syscall);
		free(p->seccomp_rules[i].args);
	}
	free(p->seccomp_rules);
	p->seccomp_rules = NULL;
	p->nseccomp_rules = 0;
	for (size_t i = 0; i < p->nmounts; i++) {
		free(p->mounts[i].source);
		free(p->mounts[i].target);
		free(p->mounts[i].fstype);
		free(p->mounts[i].data);
	}
	free(p->mounts);
	p->mounts = NULL;
	p->nmounts = 0;
	struct strvec *vecs[] = { &p->env, &p->args, &p->masks, &p->readonly, &p->seccomp_arches, &p->cgroup_procs };
	for (size_t v = 0; v < sizeof vecs / sizeof vecs[0]; v++) {
		for (size_t i = 0; i < vecs[v]->n; i++) free(vecs[v]->v[i]);
		free(vecs[v]->v);
		memset(vecs[v], 0, sizeof *vecs[v]);
	}
}

int shim_main(struct plan *p)
{
	S.p = p;
	S.stdio_flags = p->stdio_flags;
	if (!p->shim_dir || !p->shim_dir[0])
		fatal("plan", EINVAL, "shim mode needs a state dir");
	/* Our 0-2 must be taken, so pipes never land there. */
	for (;;) {
		int fd = open("/dev/null", O_RDWR);
		if (fd > 2) close(fd);
		if (fd < 0 || fd > 2) break;
	}

	/* The spawner reaps this parent at once; the shim is init's, in its own session. */
	pid_t pid = fork();
	if (pid < 0)
		fatal("shim", errno, "fork: %s", strerror(errno));
	if (pid > 0) _exit(0);
	setsid();
	S.self = getpid();
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

	/* SIGCHLD through a signalfd, blocked from before the clone; hakod kills containers, not us. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	S.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (S.sfd < 0)
		fatal("shim", errno, "signalfd: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);

	if (mkdir(p->shim_dir, 0700) < 0 && errno != EEXIST)
		fatal("shim", errno, "mkdir %s: %s", p->shim_dir, strerror(errno));
	S.pid_path = join(p->shim_dir, "shim.pid");
	S.exit_path = join(p->shim_dir, "exit.json");
	S.exit_tmp = join(p->shim_dir, "exit.json.tmp");
	unlink(S.exit_path); /* a previous run's */
	listen_attach();
	write_pid_file();
	atexit(at_exit);
	ctl_printf("shim %d", S.self);

	if (p->log_path && p->log_path[0] && shim_log_open(p->log_path, p->log_max_size, p->log_max_files) < 0)
		fatal("log", errno, "open the log %s: %s", p->log_path, strerror(errno));

	S.tty = p->terminal;
	int child_fds[3];
	int devnull = make_stdio(child_fds);
	for (int i = 0; i < 3; i++)
		if (dup2(child_fds[i], i) < 0)
			fatal("shim", errno, "dup2: %s", strerror(errno));
	int sync;
	S.child = container_clone(p, &sync);
	/* Not before the clone: the process inherits it and needs its own /proc. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Only the process holds its ends now: their EOF is its EOF. */
	for (int i = 0; i < 3; i++) {
		dup2(devnull, i);
		if (child_fds[i] != devnull) close(child_fds[i]);
	}
	close(devnull);

	struct parent_result res;
	parent_handshake(p, S.child, sync, -1, &res);
	if (S.tty) {
		if (res.master_fd < 0) shim_fail("terminal", EIO, "no pty master from the container process", 128);
		S.master = res.master_fd;
		fcntl(S.master, F_SETFL, fcntl(S.master, F_GETFL) | O_NONBLOCK);
		S.out_fd[1] = S.master;
		if (p->stdio_flags & STDIO_OPEN_STDIN) S.in_fd = S.master;
	} else if (S.in_fd >= 0) {
		fcntl(S.in_fd, F_SETFL, fcntl(S.in_fd, F_GETFL) | O_NONBLOCK);
	}
	hold_mount_namespace();
	ctl_printf("running");
	close(g_ctl_fd);
	g_ctl_fd = -1; /* a later error line must not land on a reused fd */
	if (chdir("/") < 0) {} /* hold no directory of the caller's */
	if (!child_ends_soon()) reexec_from_disk();
	/* On the set-up's image (a process that ended at once, or no loop binary on disk): the same loop, here. */
	release_plan(p);
	S.p = NULL;
	malloc_trim(0); /* an idle shim keeps what it needs, nothing of the set-up */
	event_loop();
	return 0;
}

/*
 * The process's mount namespace, held open until the end (the re-exec
 * hands the fd to the loop image with the others). Without it, the exit of
 * the process's last task tears the namespace down (its overlay and every
 * other mount, with an RCU grace period) before the kernel tells the shim:
 * ~1 ms between the process ending and hakod hearing of it. Held, the
 * teardown comes once exit.json is written and the X frames are sent (end).
 */
static void hold_mount_namespace(void)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/ns/mnt", S.child);
	S.mnt_hold = open(path, O_RDONLY | O_CLOEXEC); /* -1: only a faster exit is lost */
}

/*
 * A process that ends at once (`docker run --rm busybox true`) ends before a
 * re-exec would have paid off; the re-exec then only competes for a CPU with
 * hakod, which has the exit to handle. So wait a moment for SIGCHLD first
 * (read nothing: the loop, on whichever image, reads it). Output and clients
 * wait at most that long.
 */
#define SHIM_GRACE_MS 10

static int child_ends_soon(void)
{
	struct pollfd p = { S.sfd, POLLIN, 0 };
	int r;
	while ((r = poll(&p, 1, SHIM_GRACE_MS)) < 0 && errno == EINTR) {}
	return r > 0;
}

/* ------------------------------------------------------------------ re-exec */

/*
 * The sealed copy the set-up ran from (CVE-2019-5736) is a memfd: a private
 * megabyte per shim. Once the process runs, nothing of the container can
 * reach the shim any more (it is in no namespace of the container's and
 * not dumpable), so the shim goes on as containerd's shim does, from the
 * binary on disk, whose pages all shims share. Its state goes along as fds
 * and a few words of argv: nothing was read yet from the process or from
 * a client.
 */
static int same_binary(const char *path)
{
	int a = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), b = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sa, sb;
	int same = a >= 0 && b >= 0 && fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_size == sb.st_size && S_ISREG(sb.st_mode);
	/* Pinned (pin.c), not a sealed copy: the very file, no need to compare a megabyte. */
	if (same && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino) {
		close(a);
		close(b);
		return 1;
	}
	char *x = iobuf, *y = iobuf + sizeof iobuf / 2;
	size_t half = sizeof iobuf / 2;
	for (off_t off = 0; same && off < sa.st_size; off += (off_t)half) {
		ssize_t n = pread(a, x, half, off);
		same = n > 0 && pread(b, y, half, off) == n && memcmp(x, y, (size_t)n) == 0;
	}
	if (a >= 0) close(a);
	if (b >= 0) close(b);
	return same;
}

static void reexec_from_disk(void)
{
	char self[PATH_MAX];
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, self, sizeof self - 1) : -1;
	if (fd >= 0) close(fd);
	if (n <= 0) return;
	self[n] = '\0'; /* argv[0]: the helper's path as hakod started it */
	if (self[0] != '/' || !same_binary(self)) return;

	char words[12][PATH_MAX + 16];
	int k = 0;
	snprintf(words[k++], sizeof words[0], "dir=%s", S.p->shim_dir);
	snprintf(words[k++], sizeof words[0], "log=%s", S.p->log_path ? S.p->log_path : "");
	snprintf(words[k++], sizeof words[0], "logmax=%llu,%u", (unsigned long long)S.p->log_max_size, S.p->log_max_files);
	snprintf(words[k++], sizeof words[0], "child=%d", S.child);
	snprintf(words[k++], sizeof words[0], "stdio=%u,%d", S.stdio_flags, S.tty);
	snprintf(words[k++], sizeof words[0], "fds=%d,%d,%d,%d,%d,%d", S.listen_fd, S.out_fd[1], S.out_fd[2], S.in_fd, S.master, S.mnt_hold);
	int len = snprintf(words[k], sizeof words[0], "clients=");
	for (int i = 0; i < S.nclients && len < (int)sizeof words[0] - 16; i++)
		len += snprintf(words[k] + len, sizeof words[0] - (size_t)len, "%s%d", i ? "," : "", S.clients[i]->fd);
	k++;
	/* The loop's own image when it was built beside the helper (a fraction of its pages). */
	char loop[PATH_MAX + 16];
	const char *slash = strrchr(self, '/');
	snprintf(loop, sizeof loop, "%.*s/hako-shim-loop", (int)(slash - self), self);
	const char *image = access(loop, X_OK) == 0 ? loop : self;
	char *argv[16] = { image == loop ? "hako-shim-loop" : "hako-shim", "shim-loop" };
	for (int i = 0; i < k; i++) argv[2 + i] = words[i];
	argv[2 + k] = NULL;

	int fds[6 + MAX_CLIENTS], nfds = 0;
	fds[nfds++] = S.listen_fd;
	for (int i = 1; i <= 2; i++) fds[nfds++] = S.out_fd[i];
	fds[nfds++] = S.in_fd;
	fds[nfds++] = S.master;
	fds[nfds++] = S.mnt_hold;
	for (int i = 0; i < S.nclients; i++) fds[nfds++] = S.clients[i]->fd;
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0) fcntl(fds[i], F_SETFD, 0);
	S.finished = 1; /* the next image owns the files now */
	extern char **environ;
	execve(image, argv, environ);
	S.finished = 0;
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0) fcntl(fds[i], F_SETFD, FD_CLOEXEC);
}

static int parse_ints(const char *s, int *out, int max)
{
	int n = 0;
	while (*s && n < max) {
		char *end;
		out[n++] = (int)strtol(s, &end, 10);
		if (*end != ',') break;
		s = end + 1;
	}
	return n;
}

int shim_loop_main(int argc, char **argv)
{
	const char *dir = NULL, *log = NULL;
	unsigned long long log_max = 0;
	unsigned log_files = 1;
	int fds[6] = { -1, -1, -1, -1, -1, -1 }, clients[MAX_CLIENTS], nclients = 0;
	g_ctl_fd = -1; /* fd 3 is somebody else here */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strncmp(a, "dir=", 4)) dir = a + 4;
		else if (!strncmp(a, "log=", 4)) log = a + 4;
		else if (!strncmp(a, "logmax=", 7)) sscanf(a + 7, "%llu,%u", &log_max, &log_files);
		else if (!strncmp(a, "child=", 6)) S.child = atoi(a + 6);
		else if (!strncmp(a, "stdio=", 6)) sscanf(a + 6, "%u,%d", &S.stdio_flags, &S.tty);
		else if (!strncmp(a, "fds=", 4)) parse_ints(a + 4, fds, 6);
		else if (!strncmp(a, "clients=", 8)) nclients = parse_ints(a + 8, clients, MAX_CLIENTS);
	}
	if (!dir || S.child <= 0 || fds[0] < 0) {
		fprintf(stderr, "hako-shim: shim-loop is the shim's own continuation, not a command\n");
		return 2;
	}
	S.self = getpid();
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* as before the exec: no /proc/<pid>/exe for others */
	S.pid_path = join(dir, "shim.pid");
	S.exit_path = join(dir, "exit.json");
	S.exit_tmp = join(dir, "exit.json.tmp");
	snprintf(S.sock_path, sizeof S.sock_path, "%s/attach.sock", dir);
	S.listen_fd = fds[0];
	S.out_fd[1] = fds[1];
	S.out_fd[2] = fds[2];
	S.in_fd = fds[3];
	S.master = fds[4];
	S.mnt_hold = fds[5];
	for (int i = 0; i < 6; i++)
		if (fds[i] >= 0) fcntl(fds[i], F_SETFD, FD_CLOEXEC);
	/* SIGCHLD stayed blocked across the exec: an exit meanwhile is pending, not lost. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	S.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (S.sfd < 0) {
		fprintf(stderr, "hako-shim: signalfd: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	for (int i = 0; i < nclients; i++) {
		fcntl(clients[i], F_SETFD, FD_CLOEXEC);
		struct client *c = xcalloc(1, sizeof *c);
		c->fd = clients[i];
		c->flags = -1;
		clock_gettime(CLOCK_MONOTONIC, &c->progress);
		S.clients[S.nclients++] = c;
	}
	atexit(at_exit);
	if (log && log[0] && shim_log_open(log, log_max, log_files) < 0) {
		/* Lines are lost, the container goes on. */
	}
	event_loop();
	return 0;
}
