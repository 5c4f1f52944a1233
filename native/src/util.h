/* Small helpers shared by every part of the helper. */
#ifndef HAKO_UTIL_H
#define HAKO_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct strvec;

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
void strvec_push(struct strvec *v, char *s);

/* Writes all of buf, retrying on EINTR and short writes. */
int write_all(int fd, const void *buf, size_t len);
/* Reads exactly len bytes; returns 0, or -1 (errno set; EIO on early EOF). */
int read_full(int fd, void *buf, size_t len);
/* Writes a string to a file (for /proc and cgroup files). */
int write_file(const char *path, const char *data, size_t len);
int write_file_at(int dirfd, const char *path, const char *data, size_t len);

/*
 * Opens path inside the directory root without following links out of it
 * (openat2 RESOLVE_IN_ROOT), so a symlink in a container image can never
 * lead a mount or a write onto the host.
 */
int open_in_root(int rootfd, const char *path, int flags, mode_t mode);
/* mkdir -p inside root, same guarantees; the last component a file when as_file. */
int mkdir_in_root(int rootfd, const char *path, mode_t mode, int as_file);

/* sched.c: a short EEVDF slice for a latency-bound thread (not inherited by its children). */
int request_short_slice(pid_t tid, unsigned slice_us);

#endif
