/*
 * hako-shim rootfs-tool [--mount TYPE SOURCE DATA CWD [--ro]] ROOT OP [PATH] [OPTIONS]
 *
 * docker cp and docker export: file access inside a container's root that
 * can never leave it. ROOT is /proc/<pid>/root of a running container, a
 * snapshot directory (vfs, btrfs), or, with --mount, the directory a
 * merged view is mounted on first: in a mount namespace of this process
 * alone (unshare + rprivate), so nothing reaches the host's mount table and
 * the mount goes when the helper exits. CWD is where mount(2) runs (overlay
 * lowerdirs are relative links).
 *
 * Every path is resolved with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
 * from ROOT's fd: ".." and absolute symlinks stop at the container's root,
 * so a link to /etc/shadow names the container's file, never the host's.
 * Paths as Docker reads them (container.ResolvePath): the directory part
 * follows symlinks, the last element only with a trailing "/" or "/.".
 *
 *   stat PATH      one JSON line: name, size, mode (st_mode), mtimeSec,
 *                  mtimeNsec, linkTarget (a symlink resolved in the root)
 *   realpath PATH  one JSON line {"path": ...}: PATH with every symlink followed
 *   get PATH [--as NAME]
 *                  a tar of PATH on stdout, its entry named as docker cp names
 *                  it (or NAME: a volume's root asked for by its container path)
 *   put PATH [--no-overwrite-dir-non-dir] [--chown=UID:GID]
 *                  extracts the tar on stdin under the directory PATH (all
 *                  symlinks followed), inside that directory as its own root
 *   export         the whole root as a tar on stdout
 *
 * Exit status: 0; 1 failure (message on stderr); 2 usage; 3 PATH not
 * found; 4 PATH (put) is not a directory.
 */
#define _GNU_SOURCE
#include "tar.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_NOT_FOUND 3
#define EXIT_NOT_DIR 4

__attribute__((format(printf, 3, 4))) _Noreturn static void die(int status, int err, const char *fmt, ...)
{
	char what[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (err) dprintf(2, "rootfs-tool: %s: %s\n", what, strerror(err));
	else dprintf(2, "rootfs-tool: %s\n", what);
	exit(status);
}

/* A missing path (or a file where a directory was to be) is the caller's "not found". */
_Noreturn static void die_lookup(int err, const char *path)
{
	if (err == ENOENT || err == ENOTDIR) die(EXIT_NOT_FOUND, err, "%s", path);
	die(1, err, "resolve %s", path);
}

/*
 * PATH as filepath.Join("/", PATH) makes it, without the leading '/':
 * ".." stops at the root instead of failing. "" is the root.
 */
static char *clean_in_root(const char *path)
{
	return clean_relative_path(path, 1);
}

/* "a/b/" and "a/b/.": the last element is followed (Docker's PreserveTrailingDotOrSeparator). */
static int follows_last(const char *path)
{
	size_t len = strlen(path);
	return len == 0 || path[len - 1] == '/' || !strcmp(path, ".") || (len >= 2 && !strcmp(path + len - 2, "/."));
}

static int ends_with_dot(const char *path)
{
	size_t len = strlen(path);
	return !strcmp(path, ".") || (len >= 2 && !strcmp(path + len - 2, "/."));
}

/*
 * PATH with every symlink followed inside the root, as an absolute path
 * (Go's FollowSymlinkInScope): what the container would open. Missing
 * elements are kept as they are. NULL with ELOOP after 255 links.
 */
static char *scoped_realpath(int root, const char *path)
{
	struct sbuf resolved = { 0 };
	sbuf_add(&resolved, "", 0);
	char *rest = xstrdup(path);
	const char *p = rest;
	int links = 0;
	for (;;) {
		while (*p == '/') p++;
		if (!*p) break;
		const char *end = strchrnul(p, '/');
		size_t clen = (size_t)(end - p);
		if (clen == 1 && p[0] == '.') { p = end; continue; }
		if (clen == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = strrchr(resolved.data, '/');
			resolved.len = slash ? (size_t)(slash - resolved.data) : 0;
			resolved.data[resolved.len] = '\0';
			p = end;
			continue;
		}
		size_t keep = resolved.len;
		sbuf_add(&resolved, "/", 1);
		sbuf_add(&resolved, p, clen);
		p = end;
		int fd = open_in_root(root, resolved.data, O_PATH | O_NOFOLLOW, 0);
		if (fd < 0) continue;
		char target[4097];
		ssize_t n = readlinkat(fd, "", target, sizeof target - 1);
		close(fd);
		if (n <= 0) continue; /* not a symlink */
		target[n] = '\0';
		if (++links > 255) {
			free(rest);
			sbuf_free(&resolved);
			errno = ELOOP;
			return NULL;
		}
		resolved.len = target[0] == '/' ? 0 : keep;
		resolved.data[resolved.len] = '\0';
		char *next = xmalloc((size_t)n + strlen(p) + 2);
		sprintf(next, "%s/%s", target, p);
		free(rest);
		rest = next;
		p = rest;
	}
	free(rest);
	if (resolved.len == 0) sbuf_add(&resolved, "/", 1);
	return resolved.data;
}

/* A JSON string: quotes, backslash and control bytes escaped; other bytes as they are. */
static void json_string(struct sbuf *b, const char *s)
{
	sbuf_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			sbuf_add(b, e, 2);
		} else if (c < 0x20) {
			char e[8];
			snprintf(e, sizeof e, "\\u%04x", c);
			sbuf_addstr(b, e);
		} else {
			sbuf_add(b, s, 1);
		}
	}
	sbuf_add(b, "\"", 1);
}

static void print_line(struct sbuf *b)
{
	sbuf_add(b, "\n", 1);
	if (write_all(1, b->data, b->len) < 0) die(1, errno, "write the result");
	sbuf_free(b);
}

/*
 * What PATH names for stat and get: *dirfd and *name (NULL when *dirfd is
 * the target itself), and the name Docker gives it (filepath.Base of the
 * path as asked; the tar entry is named so).
 */
struct target {
	int dirfd;
	char *name;
	char *basename;
	char *clean;
};

static void resolve_target(int root, const char *path, struct target *t)
{
	t->clean = clean_in_root(path);
	t->name = NULL;
	if (!*t->clean || follows_last(path)) {
		t->dirfd = open_in_root(root, *t->clean ? t->clean : ".", O_PATH | O_DIRECTORY, 0);
		if (t->dirfd < 0) die_lookup(errno, path);
		if (!*t->clean) t->basename = xstrdup(ends_with_dot(path) ? "." : "/");
		else if (ends_with_dot(path)) t->basename = xstrdup(".");
		else t->basename = xstrdup(strrchr(t->clean, '/') ? strrchr(t->clean, '/') + 1 : t->clean);
		return;
	}
	char *slash = strrchr(t->clean, '/');
	char *dir = slash ? strndup(t->clean, (size_t)(slash - t->clean)) : xstrdup(".");
	t->name = xstrdup(slash ? slash + 1 : t->clean);
	t->basename = xstrdup(t->name);
	t->dirfd = open_in_root(root, dir, O_PATH | O_DIRECTORY, 0);
	if (t->dirfd < 0) die_lookup(errno, path);
	free(dir);
	struct stat st;
	if (fstatat(t->dirfd, t->name, &st, AT_SYMLINK_NOFOLLOW) < 0) die_lookup(errno, path);
}

static int op_stat(int root, const char *path)
{
	struct target t;
	resolve_target(root, path, &t);
	struct stat st;
	if (fstatat(t.dirfd, t.name ? t.name : "", &st, AT_SYMLINK_NOFOLLOW | (t.name ? 0 : AT_EMPTY_PATH)) < 0) die_lookup(errno, path);
	char *link = NULL;
	if (S_ISLNK(st.st_mode)) {
		char *abs = xmalloc(strlen(t.clean) + 2);
		sprintf(abs, "/%s", t.clean);
		link = scoped_realpath(root, abs);
		if (!link) die(1, errno, "resolve the symlink %s", path);
		free(abs);
	}
	struct sbuf b = { 0 };
	char num[160];
	sbuf_addstr(&b, "{\"name\":");
	json_string(&b, t.basename);
	snprintf(num, sizeof num, ",\"size\":%lld,\"mode\":%u,\"mtimeSec\":%lld,\"mtimeNsec\":%ld,\"linkTarget\":", (long long)st.st_size,
		 (unsigned)st.st_mode, (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
	sbuf_addstr(&b, num);
	json_string(&b, link ? link : "");
	sbuf_add(&b, "}", 1);
	print_line(&b);
	return 0;
}

static int op_realpath(int root, const char *path)
{
	char *abs = scoped_realpath(root, path);
	if (!abs) die(1, errno, "resolve %s", path);
	struct sbuf b = { 0 };
	sbuf_addstr(&b, "{\"path\":");
	json_string(&b, abs);
	sbuf_add(&b, "}", 1);
	print_line(&b);
	return 0;
}

static int op_get(int root, const char *path, const char *as)
{
	struct target t;
	resolve_target(root, path, &t);
	if (as) t.basename = xstrdup(as);
	/* the root itself: its contents as "./..." (Docker renames the top directory after the path) */
	tar_create_entry(t.dirfd, t.name ? t.name : ".", !strcmp(t.basename, "/") ? "." : t.basename);
	return 0;
}

static int op_put(int root, const char *path, int argc, char **argv)
{
	char *clean = clean_in_root(path);
	int fd = open_in_root(root, *clean ? clean : ".", O_PATH, 0);
	if (fd < 0) die_lookup(errno, path);
	struct stat st;
	if (fstat(fd, &st) < 0) die(1, errno, "stat %s", path);
	if (!S_ISDIR(st.st_mode)) die(EXIT_NOT_DIR, 0, "extraction point is not a directory");
	/* The extraction's own root is the destination: tar-extract keeps every entry and link inside it. */
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/self/fd/%d", fd);
	char **args = xcalloc((size_t)argc + 4, sizeof *args);
	int n = 0;
	args[n++] = "tar-extract";
	args[n++] = dir;
	args[n++] = "--whiteouts=none";
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--no-overwrite-dir-non-dir") != 0 && strncmp(argv[i], "--chown=", 8) != 0)
			die(2, 0, "put: unknown option %s", argv[i]);
		args[n++] = argv[i];
	}
	return tar_extract_main(n, args);
}

/* The merged view on TARGET in a mount namespace of our own: the host never sees it. */
static void mount_private(const char *type, const char *source, const char *data, const char *cwd, const char *target, int ro)
{
	if (unshare(CLONE_NEWNS) < 0) die(1, errno, "unshare the mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die(1, errno, "make / private");
	if (*cwd && chdir(cwd) < 0) die(1, errno, "chdir %s", cwd);
	if (mount(source, target, type, ro ? MS_RDONLY : 0, *data ? data : NULL) < 0)
		die(1, errno, "mount %s on %s", type, target);
}

static _Noreturn void usage(void)
{
	die(2, 0, "usage: hako-shim rootfs-tool [--mount TYPE SOURCE DATA CWD [--ro]] ROOT stat|realpath|get|put|export [PATH] [OPTIONS]");
}

int rootfs_tool_main(int argc, char **argv)
{
	int i = 1;
	if (i < argc && !strcmp(argv[i], "--mount")) {
		if (argc < i + 6) usage();
		int ro = argc > i + 5 && !strcmp(argv[i + 5], "--ro");
		/* the target is ROOT, the argument after the mount's */
		int root_at = i + 5 + ro;
		if (root_at >= argc) usage();
		mount_private(argv[i + 1], argv[i + 2], argv[i + 3], argv[i + 4], argv[root_at], ro);
		i = root_at;
	}
	if (argc < i + 2) usage();
	const char *rootpath = argv[i], *op = argv[i + 1];
	int root = open(rootpath, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) die(1, errno, "open the root %s", rootpath);
	if (!strcmp(op, "export") && argc == i + 2) {
		tar_create_entry(root, NULL, NULL);
		return 0;
	}
	if (argc < i + 3) usage();
	const char *path = argv[i + 2];
	if (!strcmp(op, "stat") && argc == i + 3) return op_stat(root, path);
	if (!strcmp(op, "realpath") && argc == i + 3) return op_realpath(root, path);
	if (!strcmp(op, "get") && argc == i + 3) return op_get(root, path, NULL);
	if (!strcmp(op, "get") && argc == i + 5 && !strcmp(argv[i + 3], "--as") && *argv[i + 4] && !strchr(argv[i + 4], '/'))
		return op_get(root, path, argv[i + 4]);
	if (!strcmp(op, "put")) return op_put(root, path, argc - i - 3, argv + i + 3);
	usage();
}
