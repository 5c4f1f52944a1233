/*
 * hako-shim tar-extract DIR --whiteouts=overlay|delete
 *
 * Applies one uncompressed layer tar (stdin) to DIR: ustar, GNU (long
 * names 'L'/'K', base-256 numbers) and PAX (x; g for ownership, times and
 * xattrs), streamed with a fixed buffer. Prints one JSON line of counts.
 *
 * A layer is untrusted input. Every name is cleaned lexically first: a
 * leading '/' is dropped (an absolute name lands inside DIR, as Docker's
 * filepath.Join(dest, name) does) and a ".." climbing above DIR is an error,
 * as Docker's "breakout" check makes it. Then the entry's parent directory
 * is opened with openat2(RESOLVE_IN_ROOT), so symlinks met on the way
 * (absolute or relative, even ones this layer just made) resolve inside
 * DIR, and the last component is handled with *at() calls that never follow
 * it. A hardlink's target is resolved the same way and must already be in
 * DIR. Symlinks are stored as they are: what they point at only matters
 * inside the container, where the root is DIR.
 *
 * Whiteouts: ".wh.NAME" becomes overlay's whiteout (char 0:0, mode 0) or
 * deletes NAME; ".wh..wh..opq" becomes trusted.overlay.opaque=y or clears
 * what the directory held before this layer (Docker's unpackedPaths:
 * children this extraction wrote stay). Other ".wh..wh." entries (AUFS
 * metadata) are skipped. trusted.overlay.* xattrs in the archive are never
 * applied: they are overlay's own bookkeeping, and redirect/metacopy values
 * from a layer could point the mount at other files.
 *
 * docker cp (rootfs_tool.c) extracts with --whiteouts=none (".wh." names
 * are plain files), --no-overwrite-dir-non-dir (a directory is never
 * replaced by a non-directory, nor the other way) and --chown=UID:GID
 * (every entry owned by the container's user: copyUIDGID).
 */
#define _GNU_SOURCE
#include "tar.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/* Bigger metadata than this in one PAX or GNU long-name header is not a layer. */
#define META_MAX (16u << 20)

/* WH_NONE (docker cp): ".wh." names are plain files, as Docker's Untar takes them. */
enum { WH_OVERLAY, WH_DELETE, WH_NONE };

struct xattr { char *name; char *value; size_t len; };

/* What a PAX header sets: x for the next entry, g for every entry after it. */
struct pax {
	char *path, *linkpath;
	int has_size, has_uid, has_gid, has_mtime, has_atime;
	uint64_t size;
	int64_t uid, gid;
	struct timespec mtime, atime;
	struct xattr *xattrs;
	size_t nxattrs;
};

struct entry {
	char *name;      /* as the archive names it, for messages */
	char *linkname;
	char type;
	uint64_t size;   /* data bytes that follow the header */
	uid_t uid;
	gid_t gid;
	mode_t mode;
	struct timespec times[2]; /* atime, mtime: utimensat's order */
	unsigned devmajor, devminor;
	const struct pax *global, *local;
};

struct dirtime { char *path; struct timespec times[2]; };

static struct {
	int root;
	int whiteouts;
	const char *entry; /* the entry being applied, for messages */
	uint64_t entries, bytes, nwhiteouts;
	struct strset written; /* delete mode: every path this layer wrote, and its parents */
	struct dirtime *dirs;
	size_t ndirs, capdirs;
	/* docker cp's options: keep a directory from becoming a non-directory and back; one owner for all */
	int no_overwrite_dir_nondir;
	int chown_all;
	uid_t chown_uid;
	gid_t chown_gid;
} g;

/* stdin, read through one fixed buffer */
static struct {
	unsigned char buf[128 * 1024];
	size_t pos, len;
	int eof;
} in;

/* ---- errors ---- */

/* A failing system call: "<entry>: <what>: <strerror>". */
__attribute__((format(printf, 2, 3))) _Noreturn static void fail(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tar_vfail("tar-extract", g.entry, err, fmt, ap);
}

/* The archive itself is wrong; TypeScript tells these apart by "invalid archive". */
__attribute__((format(printf, 1, 2))) _Noreturn static void fail_archive(const char *fmt, ...)
{
	char what[1536];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (g.entry) dprintf(2, "tar-extract: %s: invalid archive: %s\n", g.entry, what);
	else dprintf(2, "tar-extract: invalid archive: %s\n", what);
	exit(1);
}

_Noreturn static void fail_truncated(void)
{
	if (g.entry) dprintf(2, "tar-extract: %s: unexpected end of archive\n", g.entry);
	else dprintf(2, "tar-extract: unexpected end of archive\n");
	exit(1);
}

__attribute__((format(printf, 1, 2))) static void warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char text[1024];
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	dprintf(2, "tar-extract: warning: %s: %s\n", g.entry ? g.entry : "", text);
}

/* ---- reading ---- */

/* Bytes ready in the buffer, reading more when it is empty; 0 at end of input. */
static size_t in_avail(void)
{
	if (in.pos < in.len) return in.len - in.pos;
	if (in.eof) return 0;
	for (;;) {
		ssize_t n = read(0, in.buf, sizeof in.buf);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) fail(errno, "read the archive");
		in.pos = 0;
		in.len = (size_t)n;
		if (n == 0) in.eof = 1;
		return (size_t)n;
	}
}

/* Reads up to n bytes; fewer only at end of input. */
static size_t in_read(void *dst, size_t n)
{
	size_t done = 0;
	while (done < n) {
		size_t a = in_avail();
		if (a == 0) break;
		if (a > n - done) a = n - done;
		memcpy((char *)dst + done, in.buf + in.pos, a);
		in.pos += a;
		done += a;
	}
	return done;
}

static void in_skip(uint64_t n)
{
	while (n > 0) {
		size_t a = in_avail();
		if (a == 0) fail_truncated();
		if (a > n) a = (size_t)n;
		in.pos += a;
		n -= a;
	}
}

static uint64_t padding(uint64_t size) { return (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK; }

/* The data of a metadata header (PAX, GNU long name), NUL terminated, padding consumed. */
static char *read_meta(uint64_t size)
{
	if (size > META_MAX) fail_archive("a %llu-byte metadata header is too large", (unsigned long long)size);
	char *buf = xmalloc((size_t)size + 1);
	if (in_read(buf, (size_t)size) < size) fail_truncated();
	buf[size] = '\0';
	in_skip(padding(size));
	return buf;
}

/* ---- PAX ---- */

static int parse_dec(const char *s, size_t len, int64_t *out)
{
	size_t i = 0;
	int neg = 0;
	if (i < len && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
	if (i == len) return -1;
	int64_t v = 0;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') return -1;
		if (v > (INT64_MAX - 9) / 10) return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = neg ? -v : v;
	return 0;
}

/* "1234567890.5": seconds with an optional fraction, possibly negative. */
static int parse_pax_time(const char *s, size_t len, struct timespec *ts)
{
	const char *dot = memchr(s, '.', len);
	size_t ilen = dot ? (size_t)(dot - s) : len;
	int64_t sec;
	if (ilen == 0 || parse_dec(s, ilen, &sec) < 0) return -1;
	long nsec = 0;
	if (dot) {
		const char *f = dot + 1;
		size_t flen = len - ilen - 1;
		long scale = 100000000;
		for (size_t i = 0; i < flen; i++) {
			if (f[i] < '0' || f[i] > '9') return -1;
			if (scale > 0) { nsec += (f[i] - '0') * scale; scale /= 10; }
		}
	}
	if (s[0] == '-' && nsec > 0) { sec -= 1; nsec = 1000000000 - nsec; }
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = nsec;
	return 0;
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

/* libarchive's xattr values are base64 (padding optional); names are %-encoded. */
static char *b64decode(const char *s, size_t len, size_t *outlen)
{
	char *out = xmalloc(len * 3 / 4 + 3);
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '=' || s[i] == '\n') continue;
		int v = b64val((unsigned char)s[i]);
		if (v < 0) { free(out); return NULL; }
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	*outlen = o;
	return out;
}

static char *urldecode(const char *s, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len) {
			char hex[3] = { s[i + 1], s[i + 2], 0 };
			char *end;
			long v = strtol(hex, &end, 16);
			if (*end == '\0') { out[o++] = (char)v; i += 2; continue; }
		}
		out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

static void pax_add_xattr(struct pax *p, char *name, char *value, size_t len)
{
	p->xattrs = xrealloc(p->xattrs, (p->nxattrs + 1) * sizeof *p->xattrs);
	p->xattrs[p->nxattrs++] = (struct xattr){ name, value, len };
}

static void pax_clear(struct pax *p)
{
	free(p->path);
	free(p->linkpath);
	for (size_t i = 0; i < p->nxattrs; i++) {
		free(p->xattrs[i].name);
		free(p->xattrs[i].value);
	}
	free(p->xattrs);
	memset(p, 0, sizeof *p);
}

#define KEY_IS(k) (klen == sizeof(k) - 1 && memcmp(key, k, klen) == 0)
#define KEY_HAS_PREFIX(k) (klen > sizeof(k) - 1 && memcmp(key, k, sizeof(k) - 1) == 0)

/* Records "LEN key=value\n", LEN counting the whole record. */
static void parse_pax(const char *data, size_t len, struct pax *p, int global)
{
	size_t pos = 0;
	while (pos < len) {
		if (data[pos] == '\0') break; /* some writers pad with NULs */
		size_t i = pos;
		uint64_t rlen = 0;
		while (i < len && data[i] >= '0' && data[i] <= '9' && rlen < len) rlen = rlen * 10 + (uint64_t)(data[i++] - '0');
		if (i >= len || data[i] != ' ' || rlen <= i - pos || rlen > len - pos || data[pos + rlen - 1] != '\n')
			fail_archive("malformed PAX record at byte %zu", pos);
		const char *key = data + i + 1;
		const char *end = data + pos + rlen - 1; /* the '\n' */
		const char *eq = memchr(key, '=', (size_t)(end - key));
		if (!eq) fail_archive("PAX record without '=' at byte %zu", pos);
		size_t klen = (size_t)(eq - key);
		const char *val = eq + 1;
		size_t vlen = (size_t)(end - val);
		int64_t n;

		if (KEY_IS("path") && !global) {
			free(p->path);
			p->path = strndup(val, vlen);
		} else if (KEY_IS("linkpath") && !global) {
			free(p->linkpath);
			p->linkpath = strndup(val, vlen);
		} else if (KEY_IS("size") && !global) {
			if (parse_dec(val, vlen, &n) < 0 || n < 0) fail_archive("bad PAX size %.*s", (int)vlen, val);
			p->size = (uint64_t)n;
			p->has_size = 1;
		} else if (KEY_IS("uid")) {
			if (parse_dec(val, vlen, &n) < 0) fail_archive("bad PAX uid %.*s", (int)vlen, val);
			p->uid = n;
			p->has_uid = 1;
		} else if (KEY_IS("gid")) {
			if (parse_dec(val, vlen, &n) < 0) fail_archive("bad PAX gid %.*s", (int)vlen, val);
			p->gid = n;
			p->has_gid = 1;
		} else if (KEY_IS("mtime")) {
			if (parse_pax_time(val, vlen, &p->mtime) < 0) fail_archive("bad PAX mtime %.*s", (int)vlen, val);
			p->has_mtime = 1;
		} else if (KEY_IS("atime")) {
			if (parse_pax_time(val, vlen, &p->atime) < 0) fail_archive("bad PAX atime %.*s", (int)vlen, val);
			p->has_atime = 1;
		} else if (KEY_HAS_PREFIX("SCHILY.xattr.")) {
			char *value = xmalloc(vlen + 1);
			memcpy(value, val, vlen);
			pax_add_xattr(p, strndup(key + 13, klen - 13), value, vlen);
		} else if (KEY_HAS_PREFIX("LIBARCHIVE.xattr.")) {
			size_t dlen;
			char *value = b64decode(val, vlen, &dlen);
			if (!value) fail_archive("bad base64 in %.*s", (int)klen, key);
			pax_add_xattr(p, urldecode(key + 17, klen - 17), value, dlen);
		} else if (KEY_HAS_PREFIX("GNU.sparse.")) {
			fail_archive("sparse files are not supported");
		}
		/* uname, gname, ctime, comment, charset...: not used */
		pos += (size_t)rlen;
	}
}

/* ---- paths inside the root ---- */

/* The directory dir (relative to the root, "" for the root), created with parents if missing. */
static int open_parent(const char *dir)
{
	const char *p = *dir ? dir : ".";
	int fd = open_in_root(g.root, p, O_PATH | O_DIRECTORY, 0);
	if (fd < 0 && errno == ENOENT) {
		if (mkdir_in_root(g.root, p, 0755, 0) < 0) fail(errno, "create parent directory %s", p);
		fd = open_in_root(g.root, p, O_PATH | O_DIRECTORY, 0);
	}
	if (fd < 0) fail(errno, "open parent directory %s", p);
	return fd;
}

/* rm -r of name in dirfd, never following a symlink. Missing is fine. */
static int remove_tree(int parent, const char *name)
{
	if (unlinkat(parent, name, 0) == 0 || errno == ENOENT) return 0;
	int err = errno;
	if (err != EISDIR && err != EPERM) return -1;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) { errno = errno == ENOTDIR ? err : errno; return -1; }
	DIR *d = fdopendir(fd);
	if (!d) { close(fd); return -1; }
	/* Deleting while reading may hide entries from readdir: go round until rmdir works. */
	for (int pass = 0; pass < 8; pass++) {
		struct dirent *de;
		rewinddir(d);
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
			if (remove_tree(fd, de->d_name) < 0) {
				int e = errno;
				closedir(d);
				errno = e;
				return -1;
			}
		}
		if (unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT) { closedir(d); return 0; }
		if (errno != ENOTEMPTY) break;
	}
	int e = errno;
	closedir(d);
	errno = e;
	return -1;
}

/* Delete mode: this path and its parents were written by this layer (an opaque dir keeps them). */
static void mark_written(const char *path)
{
	if (g.whiteouts != WH_DELETE || !*path) return;
	char *p = xstrdup(path);
	for (;;) {
		if (!strset_add(&g.written, p)) break; /* its parents are there already */
		char *slash = strrchr(p, '/');
		if (!slash) break;
		*slash = '\0';
	}
	free(p);
}

/* ---- applying metadata ---- */

static void set_xattr_list(const struct pax *p, int fd, int pfd, const char *base)
{
	if (!p) return;
	for (size_t i = 0; i < p->nxattrs; i++) {
		const struct xattr *x = &p->xattrs[i];
		if (!strncmp(x->name, OVL_XATTR_PREFIX, strlen(OVL_XATTR_PREFIX))) {
			warn("xattr %s is overlay's own and is not applied", x->name);
			continue;
		}
		int r;
		if (fd >= 0) {
			r = fsetxattr(fd, x->name, x->value, x->len, 0);
		} else {
			char path[4200];
			tar_fd_path(path, sizeof path, pfd, base);
			r = lsetxattr(path, x->name, x->value, x->len, 0);
		}
		if (r < 0) {
			/* Docker's rule: a filesystem (or file type) that takes no such xattr is a warning. */
			if (errno == ENOTSUP || errno == EPERM) warn("xattr %s: %s", x->name, strerror(errno));
			else fail(errno, "set xattr %s", x->name);
		}
	}
}

static void set_xattrs(const struct entry *e, int fd, int pfd, const char *base)
{
	set_xattr_list(e->global, fd, pfd, base);
	set_xattr_list(e->local, fd, pfd, base);
}

/*
 * Ownership, xattrs, mode, times of pfd/base, in that order: chown clears
 * setuid bits and security.capability, so both come after it.
 */
static void set_meta_at(const struct entry *e, int pfd, const char *base, int is_symlink)
{
	if (fchownat(pfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0) fail(errno, "chown");
	set_xattrs(e, -1, pfd, base);
	if (!is_symlink && fchmodat(pfd, base, e->mode, 0) < 0) fail(errno, "chmod");
	if (utimensat(pfd, base, e->times, AT_SYMLINK_NOFOLLOW) < 0) fail(errno, "set times");
}

static void set_meta_fd(const struct entry *e, int fd)
{
	if (fchown(fd, e->uid, e->gid) < 0) fail(errno, "chown");
	set_xattrs(e, fd, -1, NULL);
	if (fchmod(fd, e->mode) < 0) fail(errno, "chmod");
}

static void remember_dir_times(const char *path, const struct timespec times[2])
{
	if (g.ndirs == g.capdirs) {
		g.capdirs = g.capdirs ? g.capdirs * 2 : 256;
		g.dirs = xrealloc(g.dirs, g.capdirs * sizeof *g.dirs);
	}
	g.dirs[g.ndirs].path = xstrdup(path);
	memcpy(g.dirs[g.ndirs].times, times, sizeof g.dirs[0].times);
	g.ndirs++;
}

/* Directory times last: writing their children moved them. */
static void apply_dir_times(void)
{
	for (size_t i = 0; i < g.ndirs; i++) {
		g.entry = g.dirs[i].path;
		int fd = open_in_root(g.root, g.dirs[i].path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
		if (fd < 0) {
			/* removed or replaced by a later entry of the same layer */
			if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) continue;
			fail(errno, "open to set times");
		}
		if (futimens(fd, g.dirs[i].times) < 0) fail(errno, "set times");
		close(fd);
		free(g.dirs[i].path);
	}
	g.entry = NULL;
}

/* ---- entries ---- */

static void write_data(int fd, uint64_t size)
{
	while (size > 0) {
		size_t a = in_avail();
		if (a == 0) fail_truncated();
		if (a > size) a = (size_t)size;
		if (write_all(fd, in.buf + in.pos, a) < 0) fail(errno, "write");
		in.pos += a;
		size -= a;
	}
}

/* The target of a hardlink entry, resolved inside the root (never followed if a symlink). */
static int open_link_target(const struct entry *e, struct stat *st)
{
	char *target = tar_clean_path(e->linkname);
	if (!target) fail_archive("hardlink target \"%s\" escapes the layer root", e->linkname);
	if (!*target) fail_archive("hardlink to the layer root");
	int fd = open_in_root(g.root, target, O_PATH | O_NOFOLLOW, 0);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			fail_archive("hardlink target \"%s\" is not in the layer: %s", e->linkname, strerror(errno));
		fail(errno, "open hardlink target %s", e->linkname);
	}
	free(target);
	if (fstat(fd, st) < 0) fail(errno, "stat hardlink target %s", e->linkname);
	if (S_ISDIR(st->st_mode)) fail_archive("hardlink target \"%s\" is a directory", e->linkname);
	return fd;
}

static void make_hardlink(int target_fd, int pfd, const char *base)
{
	if (linkat(target_fd, "", pfd, base, AT_EMPTY_PATH) == 0) return;
	/* AT_EMPTY_PATH wants CAP_DAC_READ_SEARCH; the fd's /proc link does the same without it. */
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", target_fd);
	if (linkat(AT_FDCWD, path, pfd, base, AT_SYMLINK_FOLLOW) < 0) fail(errno, "hardlink to %s", g.entry);
}

static void apply_entry(struct entry *e, const char *path, const char *dir, const char *base)
{
	if (!*path) {
		/* "./": the layer root is the snapshot's; Docker leaves it alone too */
		if (e->type == '5') return;
		fail_archive("entry of type '%c' would replace the layer root", e->type);
	}
	struct stat link_st;
	int link_fd = e->type == '1' ? open_link_target(e, &link_st) : -1;

	int pfd = open_parent(dir);
	struct stat st;
	int exists = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!exists && errno != ENOENT) fail(errno, "stat");
	if (exists && g.no_overwrite_dir_nondir && !!S_ISDIR(st.st_mode) != (e->type == '5'))
		fail_archive(S_ISDIR(st.st_mode) ? "cannot overwrite directory \"%s\" with non-directory" : "cannot overwrite non-directory \"%s\" with directory", path);
	int keep = exists && e->type == '5' && S_ISDIR(st.st_mode);
	int same_link = exists && link_fd >= 0 && st.st_dev == link_st.st_dev && st.st_ino == link_st.st_ino;
	/* A new entry replaces what was there, never writing through it. */
	if (exists && !keep && !same_link && remove_tree(pfd, base) < 0) fail(errno, "remove the existing entry");

	switch (e->type) {
	case '0': case '\0': case '7': {
		int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
		if (fd < 0) fail(errno, "create");
		write_data(fd, e->size);
		g.bytes += e->size;
		e->size = 0;
		set_meta_fd(e, fd);
		if (futimens(fd, e->times) < 0) fail(errno, "set times");
		if (close(fd) < 0) fail(errno, "close");
		break;
	}
	case '5': {
		if (!keep && mkdirat(pfd, base, 0700) < 0) fail(errno, "mkdir");
		int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) fail(errno, "open directory");
		set_meta_fd(e, fd);
		close(fd);
		remember_dir_times(path, e->times);
		break;
	}
	case '2':
		if (!*e->linkname) fail_archive("a symlink with an empty target");
		if (symlinkat(e->linkname, pfd, base) < 0) fail(errno, "symlink to %s", e->linkname);
		/* A walk of the layer (Docker's size) counts a symlink's length. */
		g.bytes += strlen(e->linkname);
		set_meta_at(e, pfd, base, 1);
		break;
	case '1':
		/*
		 * The inode already has its metadata, from its first entry. Docker
		 * applies the link header's again, but a chown then drops the
		 * file's security.capability; GNU tar only links.
		 */
		if (!same_link) make_hardlink(link_fd, pfd, base);
		close(link_fd);
		break;
	case '3': case '4': case '6': {
		mode_t fmt = e->type == '3' ? S_IFCHR : e->type == '4' ? S_IFBLK : S_IFIFO;
		dev_t dev = e->type == '6' ? 0 : makedev(e->devmajor, e->devminor);
		if (mknodat(pfd, base, fmt | 0600, dev) < 0) fail(errno, "mknod");
		set_meta_at(e, pfd, base, 0);
		break;
	}
	default:
		fail_archive("unsupported entry type '%c'", e->type);
	}
	close(pfd);
	mark_written(path);
}

/* ".wh.NAME" */
static void apply_whiteout(const struct entry *e, const char *dir, const char *name)
{
	if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
		fail_archive("whiteout of \"%s\" names no entry", name);
	if (g.whiteouts == WH_OVERLAY) {
		int pfd = open_parent(dir);
		if (remove_tree(pfd, name) < 0) fail(errno, "remove %s for its whiteout", name);
		/* overlayfs's whiteout: c--------- 0:0 */
		if (mknodat(pfd, name, S_IFCHR | 0, makedev(0, 0)) < 0) fail(errno, "mknod whiteout %s", name);
		if (fchownat(pfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0) fail(errno, "chown whiteout %s", name);
		if (utimensat(pfd, name, e->times, AT_SYMLINK_NOFOLLOW) < 0) fail(errno, "set times of whiteout %s", name);
		close(pfd);
		return;
	}
	int pfd = open_in_root(g.root, *dir ? dir : ".", O_PATH | O_DIRECTORY, 0);
	if (pfd < 0) {
		if (errno == ENOENT || errno == ENOTDIR) return; /* nothing there to delete */
		fail(errno, "open %s", dir);
	}
	if (remove_tree(pfd, name) < 0) fail(errno, "remove %s", name);
	close(pfd);
}

/* Delete mode's opaque dir: remove every child this layer did not write, recursively. */
static void clear_unwritten(int dfd, const char *dpath)
{
	int rfd = dup(dfd);
	if (rfd < 0) fail(errno, "dup");
	DIR *d = fdopendir(rfd);
	if (!d) fail(errno, "read directory %s", dpath);
	char **names;
	size_t n;
	if (tar_read_names(d, &names, &n) < 0) fail(errno, "read directory %s", dpath);
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		size_t plen = strlen(dpath);
		char *child = xmalloc(plen + strlen(names[i]) + 2);
		sprintf(child, "%s%s%s", dpath, plen ? "/" : "", names[i]);
		if (!strset_has(&g.written, child)) {
			if (remove_tree(dfd, names[i]) < 0) fail(errno, "clear %s for the opaque directory", child);
		} else {
			int cfd = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd >= 0) {
				clear_unwritten(cfd, child);
				close(cfd);
			} else if (errno != ENOTDIR && errno != ELOOP) {
				fail(errno, "open %s", child);
			}
		}
		free(child);
	}
	tar_free_names(names, n);
}

/* ".wh..wh..opq" in dir */
static void apply_opaque(const char *dir)
{
	const char *p = *dir ? dir : ".";
	int fd = open_in_root(g.root, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	if (fd < 0 && errno == ENOENT) {
		if (mkdir_in_root(g.root, p, 0755, 0) < 0) fail(errno, "create opaque directory %s", p);
		mark_written(dir);
		fd = open_in_root(g.root, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	}
	if (fd < 0) fail(errno, "open opaque directory %s", p);
	if (g.whiteouts == WH_OVERLAY) {
		if (fsetxattr(fd, OVL_OPAQUE_XATTR, "y", 1, 0) < 0) fail(errno, "set %s on %s", OVL_OPAQUE_XATTR, p);
	} else {
		clear_unwritten(fd, dir);
	}
	close(fd);
}

/* ---- the archive ---- */

static char *field_str(const unsigned char *f, size_t len) { return strndup((const char *)f, strnlen((const char *)f, len)); }

static int64_t field_num(const unsigned char *blk, int off, size_t len, const char *what)
{
	int64_t v;
	if (tar_parse_number(blk + off, len, &v) < 0) fail_archive("bad %s field in a header", what);
	return v;
}

static int is_header_only(char t) { return t == '1' || t == '2' || t == '3' || t == '4' || t == '5' || t == '6'; }

static void handle_entry(struct entry *e)
{
	g.entry = e->name;
	g.entries++;
	if (!*e->name) fail_archive("an entry with an empty name");
	char *path = tar_clean_path(e->name);
	if (!path) {
		dprintf(2, "tar-extract: tar entry \"%s\" escapes the layer root\n", e->name);
		exit(1);
	}
	char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	char *dir = slash ? strndup(path, (size_t)(slash - path)) : xstrdup("");

	if (g.whiteouts == WH_NONE) {
		apply_entry(e, path, dir, base);
	} else if (!strncmp(path, WH_META_PREFIX, strlen(WH_META_PREFIX)) && strcmp(path, WH_OPAQUE) != 0) {
		/* AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): not part of the tree */
	} else if (!strcmp(base, WH_OPAQUE)) {
		apply_opaque(dir);
		g.nwhiteouts++;
	} else if (!strncmp(base, WH_META_PREFIX, strlen(WH_META_PREFIX))) {
		/* other metadata entries: skipped */
	} else if (!strncmp(base, WH_PREFIX, strlen(WH_PREFIX))) {
		apply_whiteout(e, dir, base + strlen(WH_PREFIX));
		g.nwhiteouts++;
	} else {
		apply_entry(e, path, dir, base);
	}
	free(path);
	free(dir);
}

int tar_extract_main(int argc, char **argv)
{
	const char *root = NULL;
	g.whiteouts = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--whiteouts=overlay")) g.whiteouts = WH_OVERLAY;
		else if (!strcmp(argv[i], "--whiteouts=delete")) g.whiteouts = WH_DELETE;
		else if (!strcmp(argv[i], "--whiteouts=none")) g.whiteouts = WH_NONE;
		else if (!strcmp(argv[i], "--no-overwrite-dir-non-dir")) g.no_overwrite_dir_nondir = 1;
		else if (!strncmp(argv[i], "--chown=", 8)) {
			unsigned long u, gg;
			char c;
			if (sscanf(argv[i] + 8, "%lu:%lu%c", &u, &gg, &c) != 2 || u >= 0xffffffffUL || gg >= 0xffffffffUL) { root = NULL; break; }
			g.chown_all = 1;
			g.chown_uid = (uid_t)u;
			g.chown_gid = (gid_t)gg;
		}
		else if (argv[i][0] != '-' && !root) root = argv[i];
		else { root = NULL; break; }
	}
	if (!root || g.whiteouts < 0) {
		dprintf(2, "usage: hako-shim tar-extract DIR --whiteouts=overlay|delete|none [--no-overwrite-dir-non-dir] [--chown=UID:GID] < layer.tar\n");
		return 2;
	}
	umask(0);
	tar_raise_nofile();
	g.root = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g.root < 0) fail(errno, "open the layer root %s", root);

	struct pax global = { 0 }, local = { 0 };
	char *gnu_name = NULL, *gnu_link = NULL;
	int pending = 0; /* a metadata header waits for its entry */
	unsigned char blk[TAR_BLOCK];
	for (;;) {
		g.entry = NULL;
		size_t n = in_read(blk, TAR_BLOCK);
		/* End of input at a block boundary ends the archive, as Go's reader (Docker) takes it. */
		if (n == 0 && !pending) break;
		if (n < TAR_BLOCK) fail_truncated();
		if (tar_is_zero_block(blk)) {
			if (pending) fail_archive("a metadata header without its entry");
			n = in_read(blk, TAR_BLOCK);
			if (n == 0) break;
			if (n < TAR_BLOCK) fail_truncated();
			if (tar_is_zero_block(blk)) break;
			fail_archive("a zero block followed by more headers");
		}
		int64_t sum = field_num(blk, TAR_CHKSUM, 8, "checksum");
		if ((unsigned)sum != tar_checksum(blk, 0) && (unsigned)sum != tar_checksum(blk, 1))
			fail_archive("header checksum mismatch (not a tar stream, or corrupt)");

		char type = (char)blk[TAR_TYPE];
		int64_t hsize = field_num(blk, TAR_SIZE, 12, "size");
		if (hsize < 0) fail_archive("negative size");

		if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
			char *data = read_meta((uint64_t)hsize);
			if (type == 'x') parse_pax(data, (size_t)hsize, &local, 0);
			else if (type == 'g') parse_pax(data, (size_t)hsize, &global, 1);
			else if (type == 'L') { free(gnu_name); gnu_name = xstrdup(data); }
			else { free(gnu_link); gnu_link = xstrdup(data); }
			free(data);
			if (type != 'g') pending = 1;
			continue;
		}
		if (type == 'V') { /* a volume label: not a file */
			in_skip((uint64_t)hsize + padding((uint64_t)hsize));
			continue;
		}
		if (type == 'S') fail_archive("GNU sparse files are not supported");

		struct entry e = { 0 };
		e.type = type;
		int posix = !memcmp(blk + TAR_MAGIC, "ustar\0", 6);
		if (local.path) {
			e.name = xstrdup(local.path);
		} else if (gnu_name) {
			e.name = xstrdup(gnu_name);
		} else {
			char *name = field_str(blk + TAR_NAME, TAR_NAME_LEN);
			char *prefix = posix ? field_str(blk + TAR_PREFIX, TAR_PREFIX_LEN) : xstrdup("");
			e.name = xmalloc(strlen(prefix) + strlen(name) + 2);
			sprintf(e.name, "%s%s%s", prefix, *prefix ? "/" : "", name);
			free(name);
			free(prefix);
		}
		g.entry = e.name;
		e.linkname = local.linkpath ? xstrdup(local.linkpath) : gnu_link ? xstrdup(gnu_link) : field_str(blk + TAR_LINKNAME, 100);
		/* v7's regular type with a trailing '/' is a directory (as Go reads it) */
		if (type == '\0' && e.name[0] && e.name[strlen(e.name) - 1] == '/') e.type = '5';

		uint64_t size = local.has_size ? local.size : (uint64_t)hsize;
		e.size = is_header_only(e.type) ? 0 : size;
		int64_t uid = local.has_uid ? local.uid : global.has_uid ? global.uid : field_num(blk, TAR_UID, 8, "uid");
		int64_t gid = local.has_gid ? local.gid : global.has_gid ? global.gid : field_num(blk, TAR_GID, 8, "gid");
		/* (uid_t)-1 would mean "leave as is" to chown */
		if (uid < 0 || uid >= 0xffffffffLL || gid < 0 || gid >= 0xffffffffLL) fail_archive("uid/gid %lld/%lld out of range", (long long)uid, (long long)gid);
		e.uid = g.chown_all ? g.chown_uid : (uid_t)uid;
		e.gid = g.chown_all ? g.chown_gid : (gid_t)gid;
		e.mode = (mode_t)(field_num(blk, TAR_MODE, 8, "mode") & 07777);
		struct timespec mtime = { .tv_sec = (time_t)field_num(blk, TAR_MTIME, 12, "mtime") };
		if (local.has_mtime) mtime = local.mtime;
		else if (global.has_mtime) mtime = global.mtime;
		struct timespec atime = local.has_atime ? local.atime : global.has_atime ? global.atime : mtime;
		/* Docker: an access time before the modification time is taken as the modification time */
		if (atime.tv_sec < mtime.tv_sec || (atime.tv_sec == mtime.tv_sec && atime.tv_nsec < mtime.tv_nsec)) atime = mtime;
		e.times[0] = atime;
		e.times[1] = mtime;
		if (e.type == '3' || e.type == '4') {
			int64_t ma = field_num(blk, TAR_DEVMAJOR, 8, "devmajor"), mi = field_num(blk, TAR_DEVMINOR, 8, "devminor");
			if (ma < 0 || mi < 0 || ma > 0xffffffffLL || mi > 0xffffffffLL) fail_archive("device number out of range");
			e.devmajor = (unsigned)ma;
			e.devminor = (unsigned)mi;
		}
		e.global = &global;
		e.local = &local;

		handle_entry(&e);
		/* Data the entry did not take (a whiteout's, a skipped entry's), then the padding. */
		in_skip(e.size);
		in_skip(padding(is_header_only(e.type) ? 0 : size));

		free(e.name);
		free(e.linkname);
		pax_clear(&local);
		free(gnu_name);
		free(gnu_link);
		gnu_name = gnu_link = NULL;
		pending = 0;
	}
	g.entry = NULL;
	apply_dir_times();
	/* Whatever follows the end marker is read and dropped, so the writer never sees EPIPE. */
	while (in_avail() > 0) in.pos = in.len;
	printf("{\"entries\":%llu,\"bytes\":%llu,\"whiteouts\":%llu}\n", (unsigned long long)g.entries,
	       (unsigned long long)g.bytes, (unsigned long long)g.nwhiteouts);
	if (fflush(stdout) != 0) fail(errno, "write the result");
	return 0;
}
