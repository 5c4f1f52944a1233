#define _GNU_SOURCE
#include "msg.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int g_ctl_fd = 3;

int send_with_fd(int sock, const void *data, size_t len, int passfd)
{
	struct iovec iov = { (void *)data, len };
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (passfd >= 0) {
		memset(&u, 0, sizeof u);
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof u.buf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &passfd, sizeof(int));
	}
	ssize_t n;
	do n = sendmsg(sock, &mh, MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : 0;
}

int msg_send(int fd, uint32_t type, int err, const char *stage, const char *text, int passfd)
{
	struct msg m;
	memset(&m, 0, sizeof m);
	m.type = type;
	m.err = err;
	if (stage) snprintf(m.stage, sizeof m.stage, "%s", stage);
	if (text) snprintf(m.text, sizeof m.text, "%s", text);
	return send_with_fd(fd, &m, sizeof m, passfd);
}

int msg_recv(int fd, struct msg *m, int *passfd)
{
	struct iovec iov = { m, sizeof *m };
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	if (passfd) *passfd = -1;
	ssize_t n;
	int reset = 0;
	/*
	 * A peer that exits with our message unread leaves us ECONNRESET, and
	 * the kernel reports that before what the peer sent first (its error):
	 * once reported, the queue reads again.
	 */
	do n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && (errno == EINTR || (errno == ECONNRESET && !reset++)));
	if (n < 0) return -1;
	if (n == 0) return 0;
	if ((size_t)n < sizeof *m) { errno = EPROTO; return -1; }
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && passfd)
			memcpy(passfd, CMSG_DATA(c), sizeof(int));
	}
	m->stage[sizeof m->stage - 1] = '\0';
	m->text[sizeof m->text - 1] = '\0';
	return 1;
}

void child_fail(int sync_fd, const char *stage, int err, int code, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (sync_fd < 0 || msg_send(sync_fd, MSG_ERROR, err, stage, text, -1) < 0) {
		/* Nobody listens any more (after start): stderr is all there is. */
		dprintf(2, "hako: %s: %s\n", stage, text);
	}
	_exit(code);
}

void ctl_printf(const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0) return;
	if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
	line[n++] = '\n';
	/* A plan read from a file (benchmarks) has no reader: ignore failures. */
	(void)write_all(g_ctl_fd, line, (size_t)n);
}

void ctl_error(const char *stage, int err, const char *text)
{
	char clean[1024];
	size_t i;
	for (i = 0; text[i] && i < sizeof clean - 1; i++)
		clean[i] = (text[i] == '\n' || text[i] == '\r') ? ' ' : text[i];
	clean[i] = '\0';
	ctl_printf("error %s %d %s", stage, err, clean);
	/* Also readable by a person running the helper by hand. */
	if (isatty(2)) dprintf(2, "hako-shim: %s: %s\n", stage, clean);
}

int ctl_readline(char *buf, int size)
{
	int n = 0;
	while (n < size - 1) {
		char c;
		ssize_t r = read(g_ctl_fd, &c, 1);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) return n > 0 ? n : -1;
		if (c == '\n') break;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return n;
}

void fatal(const char *stage, int err, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	ctl_error(stage, err, text);
	exit(1);
}
