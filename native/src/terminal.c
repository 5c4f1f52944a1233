/*
 * The pseudo-terminal. It is opened inside the container, from the
 * container's own devpts instance, so /dev/pts/N exists there; the master
 * goes back to the parent (or a --console-socket) over SCM_RIGHTS.
 */
#define _GNU_SOURCE
#include "container.h"
#include "msg.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

void terminal_setup_child(int sync, const struct plan *p)
{
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		child_fail(sync, "terminal", errno, 1, "open /dev/ptmx: %s", strerror(errno));
	int unlock = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		child_fail(sync, "terminal", errno, 1, "unlock pty: %s", strerror(errno));
	int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		child_fail(sync, "terminal", errno, 1, "open pty peer: %s", strerror(errno));
	if (p->rows || p->cols) {
		struct winsize ws = { .ws_row = (unsigned short)p->rows, .ws_col = (unsigned short)p->cols };
		ioctl(master, TIOCSWINSZ, &ws);
	}
	if (p->has_user && p->uid != 0)
		(void)!fchown(slave, p->uid, (gid_t)-1);
	if (msg_send(sync, MSG_PTY, 0, NULL, NULL, master) < 0)
		child_fail(sync, "terminal", errno, 1, "send pty master: %s", strerror(errno));
	close(master);
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		child_fail(sync, "terminal", errno, 1, "set controlling terminal: %s", strerror(errno));
	for (int fd = 0; fd < 3; fd++)
		if (dup2(slave, fd) < 0)
			child_fail(sync, "terminal", errno, 1, "dup2: %s", strerror(errno));
	if (slave > 2) close(slave);
}

int send_fd_to_socket(const char *socket_path, int fd)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) return -1;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(socket_path) >= sizeof addr.sun_path) { close(s); errno = ENAMETOOLONG; return -1; }
	strcpy(addr.sun_path, socket_path);
	if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) { int e = errno; close(s); errno = e; return -1; }
	/* runc sends the pty name as the payload; consoles such as the test suite's recvtty read it. */
	static const char name[] = "/dev/ptmx";
	int n = send_with_fd(s, name, sizeof name - 1, fd);
	int e = errno;
	close(s);
	errno = e;
	return n < 0 ? -1 : 0;
}
