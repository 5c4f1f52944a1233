#define _GNU_SOURCE
#include "util.h"
#include "plan.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void oom(void)
{
	static const char m[] = "hako-shim: out of memory\n";
	(void)!write(2, m, sizeof m - 1);
	_exit(125);
}

void *xmalloc(size_t n) { void *p = malloc(n ? n : 1); if (!p) oom(); return p; }
void *xcalloc(size_t n, size_t size) { void *p = calloc(n ? n : 1, size ? size : 1); if (!p) oom(); return p; }
void *xrealloc(void *p, size_t n) { p = realloc(p, n ? n : 1); if (!p) oom(); return p; }
char *xstrdup(const char *s) { char *p = strdup(s); if (!p) oom(); return p; }

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		if (n == 0) { errno = EIO; return -1; }
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int write_file_at(int dirfd, const char *path, const char *data, size_t len)
{
	int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) return -1;
	int r = write_all(fd, data, len);
	int saved = errno;
	close(fd);
	errno = saved;
	return r;
}

int write_file(const char *path, const char *data, size_t len)
{
	return write_file_at(AT_FDCWD, path, data, len);
}

int open_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	while (*path == '/') path++;
	if (*path == '\0') path = ".";
	int fd;
	do {
		fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
	} while (fd < 0 && (errno == EAGAIN || errno == EINTR));
	return fd;
}

static int mkdir_in_root_depth(int rootfd, const char *path, mode_t mode, int as_file, int depth);

/*
 * A dangling symlink on the way (an image's /var/run -> /run before /run
 * exists): create its target, resolved inside the root like everything else.
 */
static int mkdir_symlink_target(int rootfd, int parent, const char *name, const char *prefix, size_t parent_len, mode_t mode, int depth)
{
	char target[4096];
	ssize_t n = readlinkat(parent, name, target, sizeof target - 1);
	if (n < 0) return -1;
	target[n] = '\0';
	if (target[0] == '/')
		return mkdir_in_root_depth(rootfd, target, mode, 0, depth + 1);
	char *joined = xmalloc(parent_len + (size_t)n + 2);
	memcpy(joined, prefix, parent_len);
	joined[parent_len] = '/';
	memcpy(joined + parent_len + 1, target, (size_t)n + 1);
	int r = mkdir_in_root_depth(rootfd, joined, mode, 0, depth + 1);
	free(joined);
	return r;
}

int mkdir_in_root(int rootfd, const char *path, mode_t mode, int as_file)
{
	return mkdir_in_root_depth(rootfd, path, mode, as_file, 0);
}

static int mkdir_in_root_depth(int rootfd, const char *path, mode_t mode, int as_file, int depth)
{
	if (depth > 40) { errno = ELOOP; return -1; }
	/*
	 * Every prefix is resolved again from the root, so a symlink met on the
	 * way (absolute or relative) is followed as the container would see it.
	 */
	size_t len = strlen(path);
	char *prefix = xmalloc(len + 2);
	size_t plen = 0;
	const char *p = path;
	int ret = 0;
	prefix[0] = '\0';
	while (*p) {
		while (*p == '/') p++;
		if (!*p) break;
		const char *end = strchrnul(p, '/');
		const char *rest = end;
		while (*rest == '/') rest++;
		int last = *rest == '\0';
		size_t clen = (size_t)(end - p);
		size_t parent_len = plen;
		prefix[plen++] = '/';
		memcpy(prefix + plen, p, clen);
		plen += clen;
		prefix[plen] = '\0';
		p = end;

		int fd = open_in_root(rootfd, prefix, O_PATH, 0);
		if (fd >= 0) { close(fd); continue; }
		if (errno != ENOENT) { ret = -1; break; }

		prefix[parent_len] = '\0';
		int parent = open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY, 0);
		prefix[parent_len] = '/';
		if (parent < 0) { ret = -1; break; }
		char *name = strndup(prefix + parent_len + 1, clen);
		int r;
		if (last && as_file) {
			r = openat(parent, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
			if (r >= 0) close(r);
		} else {
			r = mkdirat(parent, name, mode);
		}
		int e = errno;
		if (r < 0 && e == EEXIST && !(last && as_file)) {
			struct stat st;
			if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
				r = mkdir_symlink_target(rootfd, parent, name, prefix, parent_len, mode, depth);
				e = r < 0 ? errno : 0;
			}
		}
		free(name);
		close(parent);
		if (r < 0 && e != EEXIST) { errno = e; ret = -1; break; }
	}
	free(prefix);
	return ret;
}
