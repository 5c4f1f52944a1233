/*
 * hako-shim tar-create DIR --whiteouts=overlay|none [--parent PARENTDIR]
 *
 * Writes DIR's contents as a layer tar on stdout. The same tree always
 * gives the same bytes (its digest is the layer's diffID): each directory's
 * names in byte order, depth first, a directory before its children; names
 * relative without "./", directories ending in '/'; numeric owners and no
 * user/group names; mtimes in whole seconds (as Docker's tar-split keeps
 * them); ustar headers, with a PAX header only when a field does not fit
 * (long names and link names, sizes from 8 GiB, ids from 2097152, times
 * outside ustar's range) or the entry has xattrs (SCHILY.xattr.*).
 * Hardlinks: the first path of an inode carries the data, later ones are
 * type '1' entries naming it.
 *
 * overlay: overlay's whiteout (char 0:0) is written as an empty ".wh.NAME"
 * file and an opaque directory (trusted.overlay.opaque=y) gets a
 * "DIR/.wh..wh..opq" entry right after its own; trusted.overlay.* xattrs
 * are never written.
 *
 * --parent: a naive diff for snapshotters without an upper dir (vfs,
 * btrfs). An entry is written when it is new or differs from PARENTDIR's
 * (type, mode, owner, size, mtime to the nanosecond, device, symlink target,
 * xattrs); a path of PARENTDIR missing from DIR becomes ".wh.NAME" (only
 * the top-most one); an unchanged directory is written only when something
 * below it is.
 *
 * Memory holds one directory's sorted names per level of depth and the
 * paths of hardlinked inodes; file data streams through (sendfile).
 */
#define _GNU_SOURCE
#include "tar.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define USTAR_MAX_SIZE 077777777777ull /* 8 GiB - 1 */
#define USTAR_MAX_ID 07777777ull      /* 2097151 */

struct xattrs {
	size_t n;
	char **names;
	char **values;
	size_t *lens;
};

struct hdr {
	const char *name;
	const char *linkname;
	char type;
	mode_t mode;
	uint64_t uid, gid, size;
	int64_t mtime;
	unsigned devmajor, devminor;
	const struct xattrs *xattrs;
};

/* A directory whose header waits until something below it is written (--parent). */
struct pending {
	char *path;
	struct stat st;
	int fd;
	int written;
};

struct inode_path { dev_t dev; ino_t ino; char *path; };

static struct {
	int overlay;
	const char *current; /* the path being written, for messages */
	struct pending *stack;
	size_t depth, cap;
	struct inode_path *links; /* open addressing on (dev, ino) */
	size_t nlinks, caplinks;
} g;

static struct {
	unsigned char buf[128 * 1024];
	size_t len;
} out;

__attribute__((format(printf, 2, 3))) _Noreturn static void fail(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tar_vfail("tar-create", g.current, err, fmt, ap);
}

/* ---- output ---- */

static void out_flush(void)
{
	if (out.len && write_all(1, out.buf, out.len) < 0) fail(errno, "write the archive");
	out.len = 0;
}

static void out_write(const void *p, size_t n)
{
	while (n > 0) {
		if (out.len == sizeof out.buf) out_flush();
		size_t a = sizeof out.buf - out.len;
		if (a > n) a = n;
		memcpy(out.buf + out.len, p, a);
		out.len += a;
		p = (const char *)p + a;
		n -= a;
	}
}

static void out_pad(uint64_t size)
{
	static const unsigned char zeros[TAR_BLOCK];
	size_t pad = (size_t)((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);
	out_write(zeros, pad);
}

/*
 * Exactly size bytes of fd. Small files are read into the output buffer
 * (layers are mostly small files: one write per file would dominate);
 * big ones go by sendfile when the kernel takes it, read/write otherwise.
 */
static void out_file(int fd, uint64_t size)
{
	uint64_t left = size;
	if (size <= sizeof out.buf / 2) {
		if (out.len + size > sizeof out.buf) out_flush();
		while (left > 0) {
			ssize_t n = read(fd, out.buf + out.len, (size_t)left);
			if (n < 0 && errno == EINTR) continue;
			if (n < 0) fail(errno, "read file data");
			if (n == 0) fail(0, "file shrank while it was read (%llu bytes missing)", (unsigned long long)left);
			out.len += (size_t)n;
			left -= (uint64_t)n;
		}
		out_pad(size);
		return;
	}
	out_flush();
	int use_sendfile = 1;
	while (left > 0) {
		size_t chunk = left > (1u << 30) ? (1u << 30) : (size_t)left;
		ssize_t n;
		if (use_sendfile) {
			n = sendfile(1, fd, NULL, chunk);
			if (n < 0 && (errno == EINVAL || errno == ENOSYS)) { use_sendfile = 0; continue; }
		} else {
			if (chunk > sizeof out.buf) chunk = sizeof out.buf;
			n = read(fd, out.buf, chunk);
			if (n > 0) {
				if (write_all(1, out.buf, (size_t)n) < 0) fail(errno, "write the archive");
			}
		}
		if (n < 0) {
			if (errno == EINTR) continue;
			fail(errno, "copy file data");
		}
		if (n == 0) fail(0, "file shrank while it was read (%llu bytes missing)", (unsigned long long)left);
		left -= (uint64_t)n;
	}
	out_pad(size);
}

/* ---- headers ---- */

static void pax_record(struct sbuf *b, const char *key, const char *val, size_t vlen)
{
	size_t base = strlen(key) + vlen + 3; /* ' ', '=', '\n' */
	size_t len = base + 1;
	for (;;) { /* the length counts its own digits */
		char tmp[32];
		size_t d = (size_t)snprintf(tmp, sizeof tmp, "%zu", len);
		if (base + d == len) break;
		len = base + d;
	}
	char head[64];
	int hl = snprintf(head, sizeof head, "%zu %s=", len, key);
	sbuf_add(b, head, (size_t)hl);
	sbuf_add(b, val, vlen);
	sbuf_add(b, "\n", 1);
}

static void pax_number(struct sbuf *b, const char *key, long long v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%lld", v);
	pax_record(b, key, tmp, (size_t)n);
}

/* ustar splits a long name at a '/' into prefix (155) and name (100), as Go does. */
static int split_name(const char *name, size_t *prefix_len)
{
	size_t len = strlen(name);
	if (len <= TAR_NAME_LEN) return 0;
	size_t limit = len > TAR_PREFIX_LEN + 1 ? TAR_PREFIX_LEN + 1 : len;
	if (limit == len && name[limit - 1] == '/') limit--;
	size_t i = limit;
	while (i > 0 && name[i - 1] != '/') i--;
	if (i == 0) return -1;
	size_t slash = i - 1, nlen = len - slash - 1;
	if (slash == 0 || nlen > TAR_NAME_LEN || nlen == 0 || slash > TAR_PREFIX_LEN) return -1;
	*prefix_len = slash;
	return 1;
}

static void put_octal(unsigned char *blk, int off, size_t len, uint64_t v)
{
	if (tar_format_octal(blk + off, len, v) < 0) tar_format_base256(blk + off, len, (int64_t)v);
}

static void write_block(unsigned char *blk)
{
	memset(blk + TAR_CHKSUM, ' ', 8);
	unsigned sum = tar_checksum(blk, 0);
	snprintf((char *)blk + TAR_CHKSUM, 8, "%06o", sum);
	blk[TAR_CHKSUM + 7] = ' ';
	out_write(blk, TAR_BLOCK);
}

static void ustar_common(unsigned char *blk)
{
	memcpy(blk + TAR_MAGIC, "ustar\0", 6);
	memcpy(blk + TAR_VERSION, "00", 2);
}

static void emit(const struct hdr *h)
{
	unsigned char blk[TAR_BLOCK];
	struct sbuf pax = { 0 };
	memset(blk, 0, sizeof blk);

	size_t nlen = strlen(h->name), plen = 0;
	int split = split_name(h->name, &plen);
	if (split == 0) {
		memcpy(blk + TAR_NAME, h->name, nlen);
	} else if (split > 0) {
		memcpy(blk + TAR_PREFIX, h->name, plen);
		memcpy(blk + TAR_NAME, h->name + plen + 1, nlen - plen - 1);
	} else {
		pax_record(&pax, "path", h->name, nlen);
		memcpy(blk + TAR_NAME, h->name, TAR_NAME_LEN);
	}
	if (h->linkname) {
		size_t llen = strlen(h->linkname);
		if (llen > 100) pax_record(&pax, "linkpath", h->linkname, llen);
		memcpy(blk + TAR_LINKNAME, h->linkname, llen > 100 ? 100 : llen);
	}
	put_octal(blk, TAR_MODE, 8, h->mode & 07777);
	if (h->uid > USTAR_MAX_ID) pax_number(&pax, "uid", (long long)h->uid);
	put_octal(blk, TAR_UID, 8, h->uid > USTAR_MAX_ID ? 0 : h->uid);
	if (h->gid > USTAR_MAX_ID) pax_number(&pax, "gid", (long long)h->gid);
	put_octal(blk, TAR_GID, 8, h->gid > USTAR_MAX_ID ? 0 : h->gid);
	if (h->size > USTAR_MAX_SIZE) pax_number(&pax, "size", (long long)h->size);
	put_octal(blk, TAR_SIZE, 12, h->size > USTAR_MAX_SIZE ? 0 : h->size);
	int mtime_fits = h->mtime >= 0 && (uint64_t)h->mtime <= USTAR_MAX_SIZE;
	if (!mtime_fits) pax_number(&pax, "mtime", (long long)h->mtime);
	put_octal(blk, TAR_MTIME, 12, mtime_fits ? (uint64_t)h->mtime : 0);
	blk[TAR_TYPE] = (unsigned char)h->type;
	ustar_common(blk);
	put_octal(blk, TAR_DEVMAJOR, 8, h->devmajor);
	put_octal(blk, TAR_DEVMINOR, 8, h->devminor);
	if (h->xattrs) {
		for (size_t i = 0; i < h->xattrs->n; i++) {
			char *key = xmalloc(strlen(h->xattrs->names[i]) + 14);
			sprintf(key, "SCHILY.xattr.%s", h->xattrs->names[i]);
			pax_record(&pax, key, h->xattrs->values[i], h->xattrs->lens[i]);
			free(key);
		}
	}

	if (pax.len) {
		unsigned char x[TAR_BLOCK];
		memset(x, 0, sizeof x);
		/* Go's name for it: DIR/PaxHeaders.0/BASE, cut to fit */
		const char *trim = h->name;
		size_t tl = nlen;
		while (tl > 0 && trim[tl - 1] == '/') tl--;
		const char *slash = memrchr(trim, '/', tl);
		char xname[TAR_NAME_LEN + 1];
		if (slash)
			snprintf(xname, sizeof xname, "%.*s/PaxHeaders.0/%.*s", (int)(slash - trim), trim, (int)(tl - (size_t)(slash - trim) - 1), slash + 1);
		else
			snprintf(xname, sizeof xname, "PaxHeaders.0/%.*s", (int)tl, trim);
		memcpy(x + TAR_NAME, xname, strlen(xname));
		put_octal(x, TAR_MODE, 8, 0644);
		put_octal(x, TAR_UID, 8, 0);
		put_octal(x, TAR_GID, 8, 0);
		put_octal(x, TAR_SIZE, 12, pax.len);
		put_octal(x, TAR_MTIME, 12, 0);
		x[TAR_TYPE] = 'x';
		ustar_common(x);
		put_octal(x, TAR_DEVMAJOR, 8, 0);
		put_octal(x, TAR_DEVMINOR, 8, 0);
		write_block(x);
		out_write(pax.data, pax.len);
		out_pad(pax.len);
	}
	sbuf_free(&pax);
	write_block(blk);
}

/* ---- xattrs ---- */

static void xattrs_free(struct xattrs *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->names[i]);
		free(x->values[i]);
	}
	free(x->names);
	free(x->values);
	free(x->lens);
	memset(x, 0, sizeof *x);
}

static ssize_t x_list(int fd, const char *path, char *buf, size_t size)
{
	return path ? llistxattr(path, buf, size) : flistxattr(fd, buf, size);
}

static ssize_t x_get(int fd, const char *path, const char *name, void *buf, size_t size)
{
	return path ? lgetxattr(path, name, buf, size) : fgetxattr(fd, name, buf, size);
}

/*
 * The xattrs a layer carries, sorted by name: all but overlay's own and
 * security.selinux (the host's labels; Docker and containerd leave it out).
 * From the open fd when name is NULL, else dirfd/name unfollowed.
 */
static void read_xattrs(int dirfd, const char *name, struct xattrs *x)
{
	char pathbuf[4200];
	const char *path = NULL;
	memset(x, 0, sizeof *x);
	if (name) {
		tar_fd_path(pathbuf, sizeof pathbuf, dirfd, name);
		path = pathbuf;
	}
	char *list = NULL;
	ssize_t n;
	for (;;) {
		n = x_list(dirfd, path, NULL, 0);
		if (n < 0 && (errno == ENOTSUP)) return;
		if (n < 0) fail(errno, "list xattrs");
		if (n == 0) return;
		list = xrealloc(list, (size_t)n);
		ssize_t m = x_list(dirfd, path, list, (size_t)n);
		if (m < 0 && errno == ERANGE) continue;
		if (m < 0) fail(errno, "list xattrs");
		n = m;
		break;
	}
	for (char *k = list; k < list + n; k += strlen(k) + 1) {
		if (!strncmp(k, OVL_XATTR_PREFIX, strlen(OVL_XATTR_PREFIX))) {
			/* A redirected or metacopy-only upper entry has no full content here: its diff would lie. */
			if (g.overlay && (!strcmp(k, "trusted.overlay.redirect") || !strcmp(k, "trusted.overlay.metacopy")))
				fail(0, "has %s: the upper dir was written with redirect_dir or metacopy on, and cannot be diffed alone", k);
			continue;
		}
		if (!strcmp(k, "security.selinux")) continue;
		char *val = NULL;
		ssize_t vl;
		for (;;) {
			vl = x_get(dirfd, path, k, NULL, 0);
			if (vl < 0 && errno == ENODATA) break;
			if (vl < 0) fail(errno, "read xattr %s", k);
			val = xrealloc(val, (size_t)vl + 1);
			ssize_t m = x_get(dirfd, path, k, val, (size_t)vl);
			if (m < 0 && errno == ERANGE) continue;
			if (m < 0) fail(errno, "read xattr %s", k);
			vl = m;
			break;
		}
		if (vl < 0) { free(val); continue; } /* removed meanwhile */
		x->names = xrealloc(x->names, (x->n + 1) * sizeof *x->names);
		x->values = xrealloc(x->values, (x->n + 1) * sizeof *x->values);
		x->lens = xrealloc(x->lens, (x->n + 1) * sizeof *x->lens);
		x->names[x->n] = xstrdup(k);
		x->values[x->n] = val ? val : xstrdup("");
		x->lens[x->n] = (size_t)vl;
		x->n++;
	}
	free(list);
	/* insertion sort: a file has a handful */
	for (size_t i = 1; i < x->n; i++) {
		for (size_t j = i; j > 0 && strcmp(x->names[j - 1], x->names[j]) > 0; j--) {
			char *tn = x->names[j]; x->names[j] = x->names[j - 1]; x->names[j - 1] = tn;
			char *tv = x->values[j]; x->values[j] = x->values[j - 1]; x->values[j - 1] = tv;
			size_t tl = x->lens[j]; x->lens[j] = x->lens[j - 1]; x->lens[j - 1] = tl;
		}
	}
}

static int xattrs_equal(const struct xattrs *a, const struct xattrs *b)
{
	if (a->n != b->n) return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->names[i], b->names[i]) || a->lens[i] != b->lens[i] || memcmp(a->values[i], b->values[i], a->lens[i]))
			return 0;
	return 1;
}

/* ---- hardlinks ---- */

static size_t link_slot(struct inode_path *t, size_t cap, dev_t dev, ino_t ino)
{
	size_t i = (size_t)((ino * 0x9e3779b97f4a7c15ull) ^ dev) & (cap - 1);
	while (t[i].path && !(t[i].dev == dev && t[i].ino == ino)) i = (i + 1) & (cap - 1);
	return i;
}

/* The first path written for this inode, or NULL after recording path as it. */
static const char *link_first(const struct stat *st, const char *path)
{
	if ((g.nlinks + 1) * 2 > g.caplinks) {
		size_t cap = g.caplinks ? g.caplinks * 2 : 256;
		struct inode_path *t = xcalloc(cap, sizeof *t);
		for (size_t i = 0; i < g.caplinks; i++)
			if (g.links[i].path) t[link_slot(t, cap, g.links[i].dev, g.links[i].ino)] = g.links[i];
		free(g.links);
		g.links = t;
		g.caplinks = cap;
	}
	size_t i = link_slot(g.links, g.caplinks, st->st_dev, st->st_ino);
	if (g.links[i].path) return g.links[i].path;
	g.links[i] = (struct inode_path){ st->st_dev, st->st_ino, xstrdup(path) };
	g.nlinks++;
	return NULL;
}

/* ---- the tree ---- */

static void hdr_from_stat(struct hdr *h, const char *name, const struct stat *st)
{
	memset(h, 0, sizeof *h);
	h->name = name;
	h->mode = st->st_mode & 07777;
	h->uid = st->st_uid;
	h->gid = st->st_gid;
	h->mtime = st->st_mtim.tv_sec;
}

static int is_opaque(int fd)
{
	char v[4];
	ssize_t n = fgetxattr(fd, OVL_OPAQUE_XATTR, v, sizeof v);
	return n == 1 && v[0] == 'y';
}

static void emit_dir(struct pending *p)
{
	g.current = p->path;
	struct xattrs x;
	read_xattrs(p->fd, NULL, &x);
	struct hdr h;
	hdr_from_stat(&h, p->path, &p->st);
	h.type = '5';
	h.xattrs = &x;
	emit(&h);
	xattrs_free(&x);
	if (g.overlay && is_opaque(p->fd)) {
		char *name = xmalloc(strlen(p->path) + sizeof WH_OPAQUE);
		sprintf(name, "%s%s", p->path, WH_OPAQUE);
		hdr_from_stat(&h, name, &p->st);
		h.type = '0';
		emit(&h);
		free(name);
	}
	p->written = 1;
}

/* Before anything is written, the directories above it that still wait. */
static void flush_pending(void)
{
	for (size_t i = 0; i < g.depth; i++)
		if (!g.stack[i].written) emit_dir(&g.stack[i]);
}

static void emit_whiteout(const char *dirpath, const char *name, const struct stat *st)
{
	char *wh = xmalloc(strlen(dirpath) + strlen(name) + sizeof WH_PREFIX);
	sprintf(wh, "%s%s%s", dirpath, WH_PREFIX, name);
	struct hdr h;
	if (st) {
		hdr_from_stat(&h, wh, st);
	} else {
		/* a deletion found by --parent: nothing to take metadata from, and it must not vary */
		memset(&h, 0, sizeof h);
		h.name = wh;
	}
	h.type = '0';
	emit(&h);
	free(wh);
}

static void emit_nondir(int dirfd, const char *name, const char *path, const struct stat *st)
{
	if (S_ISCHR(st->st_mode) && st->st_rdev == 0 && g.overlay) {
		const char *slash = strrchr(path, '/');
		char *dirpath = slash ? strndup(path, (size_t)(slash - path) + 1) : xstrdup("");
		emit_whiteout(dirpath, name, st);
		free(dirpath);
		return;
	}
	struct hdr h;
	hdr_from_stat(&h, path, st);
	if (st->st_nlink > 1) {
		const char *first = link_first(st, path);
		if (first) {
			h.type = '1';
			h.linkname = first;
			emit(&h);
			return;
		}
	}
	struct xattrs x;
	char target[4097];
	int fd = -1;
	if (S_ISREG(st->st_mode)) {
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) fail(errno, "open");
		struct stat now;
		if (fstat(fd, &now) < 0) fail(errno, "stat");
		if (now.st_ino != st->st_ino || now.st_dev != st->st_dev) fail(0, "replaced while it was read");
		read_xattrs(fd, NULL, &x);
		h.type = '0';
		h.size = (uint64_t)st->st_size;
	} else {
		read_xattrs(dirfd, name, &x);
		if (S_ISLNK(st->st_mode)) {
			ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);
			if (n < 0) fail(errno, "readlink");
			target[n] = '\0';
			h.type = '2';
			h.linkname = target;
		} else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
			h.type = S_ISCHR(st->st_mode) ? '3' : '4';
			h.devmajor = major(st->st_rdev);
			h.devminor = minor(st->st_rdev);
		} else {
			h.type = '6'; /* a fifo: walk() leaves sockets out, as Docker does */
		}
	}
	h.xattrs = &x;
	emit(&h);
	if (fd >= 0) {
		out_file(fd, h.size);
		close(fd);
	}
	xattrs_free(&x);
}

static int differs(int dirfd, int pdirfd, const char *name, const struct stat *a, const struct stat *b)
{
	if (a->st_mode != b->st_mode || a->st_uid != b->st_uid || a->st_gid != b->st_gid) return 1;
	/* a directory's size follows its entries, not its content */
	if (!S_ISDIR(a->st_mode) && a->st_size != b->st_size) return 1;
	/*
	 * As Docker's naive diff: when either side has no sub-second part (a
	 * tree copied through a tar keeps whole seconds), compare seconds only.
	 */
	if (a->st_mtim.tv_sec != b->st_mtim.tv_sec) return 1;
	if (a->st_mtim.tv_nsec != 0 && b->st_mtim.tv_nsec != 0 && a->st_mtim.tv_nsec != b->st_mtim.tv_nsec) return 1;
	if ((S_ISCHR(a->st_mode) || S_ISBLK(a->st_mode)) && a->st_rdev != b->st_rdev) return 1;
	if (S_ISLNK(a->st_mode)) {
		char ta[4097], tb[4097];
		ssize_t na = readlinkat(dirfd, name, ta, sizeof ta), nb = readlinkat(pdirfd, name, tb, sizeof tb);
		if (na < 0 || nb < 0) fail(errno, "readlink");
		if (na != nb || memcmp(ta, tb, (size_t)na)) return 1;
	}
	struct xattrs xa, xb;
	read_xattrs(dirfd, name, &xa);
	read_xattrs(pdirfd, name, &xb);
	int same = xattrs_equal(&xa, &xb);
	xattrs_free(&xa);
	xattrs_free(&xb);
	return !same;
}

/* The names in a directory, sorted by bytes. */
static char **read_names(int dirfd, size_t *count)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) fail(errno, "open directory");
	DIR *d = fdopendir(fd);
	if (!d) fail(errno, "open directory");
	char **names;
	if (tar_read_names(d, &names, count) < 0) fail(errno, "read directory");
	closedir(d);
	return names;
}

/*
 * One directory: dirfd is DIR's, path its name in the archive ("" or
 * "a/b/"); pdirfd the same directory in PARENTDIR, or -1 when there is
 * none (everything below is new) or no --parent.
 */
static void walk(int dirfd, const char *path, int pdirfd)
{
	size_t n, pn = 0;
	char **names = read_names(dirfd, &n);
	char **pnames = pdirfd >= 0 ? read_names(pdirfd, &pn) : NULL;
	size_t i = 0, j = 0;
	size_t plen = strlen(path);
	while (i < n || j < pn) {
		int c = i == n ? 1 : j == pn ? -1 : strcmp(names[i], pnames[j]);
		if (c > 0) {
			/* only in PARENTDIR: deleted */
			g.current = pnames[j];
			flush_pending();
			emit_whiteout(path, pnames[j], NULL);
			j++;
			continue;
		}
		const char *name = names[i++];
		if (c == 0) j++;
		char *child = xmalloc(plen + strlen(name) + 2);
		sprintf(child, "%s%s", path, name);
		g.current = child;
		struct stat st, pst;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT) { free(child); continue; } /* gone since readdir */
			fail(errno, "stat");
		}
		int in_parent = 0, changed = 1;
		if (pdirfd >= 0 && c == 0) {
			if (fstatat(pdirfd, name, &pst, AT_SYMLINK_NOFOLLOW) == 0) in_parent = 1;
			else if (errno != ENOENT) fail(errno, "stat in the parent");
			if (in_parent) changed = differs(dirfd, pdirfd, name, &st, &pst);
		}
		if (S_ISDIR(st.st_mode)) {
			strcat(child, "/");
			int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) fail(errno, "open directory");
			int pfd = -1;
			if (in_parent && S_ISDIR(pst.st_mode)) {
				pfd = openat(pdirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (pfd < 0) fail(errno, "open directory in the parent");
			}
			if (g.depth == g.cap) g.stack = xrealloc(g.stack, (g.cap = g.cap ? g.cap * 2 : 32) * sizeof *g.stack);
			g.stack[g.depth++] = (struct pending){ child, st, fd, 0 };
			if (changed) flush_pending();
			walk(fd, child, pfd);
			g.depth--;
			close(fd);
			if (pfd >= 0) close(pfd);
		} else if (changed && !S_ISSOCK(st.st_mode)) {
			flush_pending();
			g.current = child;
			emit_nondir(dirfd, name, child, &st);
		}
		free(child);
	}
	tar_free_names(names, n);
	if (pnames) tar_free_names(pnames, pn);
}

/*
 * For rootfs-tool (docker cp, export): the entry NAME of directory DIRFD
 * written as ARCNAME ("." makes "./", "./a"...; a directory's whole tree
 * goes), or with NAME NULL DIRFD's contents without an entry for DIRFD
 * itself; then the end-of-archive blocks. Whiteouts are not read: this is
 * a merged view, not a layer.
 */
void tar_create_entry(int dirfd, const char *name, const char *arcname)
{
	g.overlay = 0;
	signal(SIGPIPE, SIG_IGN);
	tar_raise_nofile();
	if (!name) {
		walk(dirfd, "", -1);
	} else {
		struct stat st;
		g.current = arcname;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) fail(errno, "stat");
		if (S_ISDIR(st.st_mode)) {
			char *path = xmalloc(strlen(arcname) + 2);
			sprintf(path, "%s/", arcname);
			int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) fail(errno, "open directory");
			if (g.depth == g.cap) g.stack = xrealloc(g.stack, (g.cap = g.cap ? g.cap * 2 : 32) * sizeof *g.stack);
			g.stack[g.depth++] = (struct pending){ path, st, fd, 0 };
			flush_pending();
			walk(fd, path, -1);
			g.depth--;
			close(fd);
			free(path);
		} else if (!S_ISSOCK(st.st_mode)) {
			emit_nondir(dirfd, name, arcname, &st);
		}
	}
	g.current = NULL;
	static const unsigned char end[2 * TAR_BLOCK];
	out_write(end, sizeof end);
	out_flush();
}

int tar_create_main(int argc, char **argv)
{
	const char *root = NULL, *parent = NULL;
	int wh = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--whiteouts=overlay")) wh = 1;
		else if (!strcmp(argv[i], "--whiteouts=none")) wh = 0;
		else if (!strcmp(argv[i], "--parent") && i + 1 < argc) parent = argv[++i];
		else if (!strncmp(argv[i], "--parent=", 9)) parent = argv[i] + 9;
		else if (argv[i][0] != '-' && !root) root = argv[i];
		else { root = NULL; break; }
	}
	if (!root || wh < 0) {
		dprintf(2, "usage: hako-shim tar-create DIR --whiteouts=overlay|none [--parent PARENTDIR] > layer.tar\n");
		return 2;
	}
	g.overlay = wh;
	/* A reader that went away is an error to report, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	tar_raise_nofile();
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) fail(errno, "open %s", root);
	int pfd = -1;
	if (parent) {
		pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd < 0) fail(errno, "open the parent %s", parent);
	}
	walk(rootfd, "", pfd);
	g.current = NULL;
	static const unsigned char end[2 * TAR_BLOCK];
	out_write(end, sizeof end);
	out_flush();
	return 0;
}
