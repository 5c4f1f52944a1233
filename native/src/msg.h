/*
 * Messages between the helper's parent and the container process it cloned
 * (a SOCK_SEQPACKET socketpair), and the text lines the parent exchanges with
 * TypeScript on the control fd (fd 3):
 *
 *   helper -> TS   "pid <host pid>"            the process is set up and waits
 *                  "hooks <host pid>"          paused before pivot_root for hooks
 *                  "error <stage> <errno> <text>"
 *   TS -> helper   "resume"                    after the hooks ran
 *                  "start"                     run mode with T_WAIT_START
 */
#ifndef HAKO_MSG_H
#define HAKO_MSG_H

#include <stdint.h>
#include <stdarg.h>
#include <stddef.h>

enum msg_type {
	MSG_GO = 1,     /* parent -> child: go on */
	MSG_READY = 2,  /* child -> parent: set up, about to wait for start */
	MSG_PAUSE = 3,  /* child -> parent: before pivot_root, run hooks */
	MSG_ERROR = 4,  /* child -> parent: failed (stage, errno, text) */
	MSG_PTY = 5,    /* child -> parent: the pty master, as SCM_RIGHTS */
};

struct msg {
	uint32_t type;
	int32_t err;
	char stage[32];
	char text[1024];
};

/* One sendmsg of data, with passfd as SCM_RIGHTS unless it is -1. */
int send_with_fd(int sock, const void *data, size_t len, int passfd);
int msg_send(int fd, uint32_t type, int err, const char *stage, const char *text, int passfd);
/* Returns 1 on a message, 0 on EOF, -1 on error. *passfd is -1 unless a fd came. */
int msg_recv(int fd, struct msg *m, int *passfd);

/* The child's side: report the failure to the parent and exit with code. */
_Noreturn void child_fail(int sync_fd, const char *stage, int err, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The control channel to TypeScript. */
extern int g_ctl_fd;
void ctl_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctl_error(const char *stage, int err, const char *text);
/* Reads one line from the control fd; returns its length or -1 on EOF/error. */
int ctl_readline(char *buf, int size);
/* Reports a failure of the helper itself and exits 1. */
_Noreturn void fatal(const char *stage, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
