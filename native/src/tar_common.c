/* What the tar reader and writer share: header numbers, name cleaning, directory listings, failure messages, small containers. */
#define _GNU_SOURCE
#include "tar.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

int tar_parse_number(const unsigned char *field, size_t len, int64_t *out)
{
	if (len > 0 && (field[0] & 0x80)) {
		/* base-256, two's complement; bit 0x40 of the first byte is the sign (as Go reads it) */
		unsigned char inv = (field[0] & 0x40) ? 0xff : 0;
		uint64_t v = 0;
		for (size_t i = 0; i < len; i++) {
			unsigned char c = field[i] ^ inv;
			if (i == 0) c &= 0x7f;
			if (v >> 56) return -1;
			v = (v << 8) | c;
		}
		if (v >> 63) return -1;
		*out = inv ? ~(int64_t)v : (int64_t)v;
		return 0;
	}
	/* Octal between blanks; an all-blank field reads as 0, as GNU tar and Go read it. */
	size_t i = 0;
	while (i < len && (field[i] == ' ' || field[i] == '\0')) i++;
	uint64_t v = 0;
	for (; i < len && field[i] >= '0' && field[i] <= '7'; i++) {
		if (v >> 60) return -1;
		v = (v << 3) | (uint64_t)(field[i] - '0');
	}
	for (; i < len; i++)
		if (field[i] != ' ' && field[i] != '\0') return -1;
	*out = (int64_t)v;
	return 0;
}

int tar_format_octal(unsigned char *field, size_t len, uint64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%0*llo", (int)len - 1, (unsigned long long)v);
	if (n < 0 || (size_t)n > len - 1) return -1;
	memcpy(field, tmp, (size_t)n);
	field[len - 1] = '\0';
	return 0;
}

void tar_format_base256(unsigned char *field, size_t len, int64_t v)
{
	uint64_t u = (uint64_t)v;
	for (size_t i = len; i-- > 0;) {
		field[i] = (unsigned char)(u & 0xff);
		u >>= 8;
	}
	field[0] = v < 0 ? 0xff : 0x80;
}

unsigned tar_checksum(const unsigned char *blk, int signed_bytes)
{
	unsigned sum = 0;
	for (int i = 0; i < TAR_BLOCK; i++) {
		int c = (i >= TAR_CHKSUM && i < TAR_CHKSUM + 8) ? ' ' : (signed_bytes ? (int)(signed char)blk[i] : blk[i]);
		sum += (unsigned)c;
	}
	return sum;
}

int tar_is_zero_block(const unsigned char *blk)
{
	for (int i = 0; i < TAR_BLOCK; i++)
		if (blk[i]) return 0;
	return 1;
}

char *clean_relative_path(const char *name, int clamp_at_root)
{
	size_t len = strlen(name);
	char *out = xmalloc(len + 1);
	size_t o = 0;
	const char *p = name;
	while (*p) {
		while (*p == '/') p++;
		if (!*p) break;
		const char *end = strchrnul(p, '/');
		size_t clen = (size_t)(end - p);
		if (clen == 1 && p[0] == '.') {
			/* "." adds nothing */
		} else if (clen == 2 && p[0] == '.' && p[1] == '.') {
			if (o == 0 && !clamp_at_root) { free(out); return NULL; }
			while (o > 0 && out[o - 1] != '/') o--;
			if (o > 0) o--; /* the separator before the dropped component */
		} else {
			if (o > 0) out[o++] = '/';
			memcpy(out + o, p, clen);
			o += clen;
		}
		p = end;
	}
	out[o] = '\0';
	return out;
}

char *tar_clean_path(const char *name)
{
	return clean_relative_path(name, 0);
}

void sbuf_add(struct sbuf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1) cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void sbuf_addstr(struct sbuf *b, const char *s) { sbuf_add(b, s, strlen(s)); }

void sbuf_free(struct sbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* FNV-1a: short paths, no adversary gains from collisions but time. */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static size_t strset_find(char **slots, size_t cap, const char *str)
{
	size_t i = (size_t)hash_str(str) & (cap - 1);
	while (slots[i] && strcmp(slots[i], str) != 0) i = (i + 1) & (cap - 1);
	return i;
}

int strset_add(struct strset *s, const char *str)
{
	if ((s->count + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		char **slots = xcalloc(cap, sizeof *slots);
		for (size_t i = 0; i < s->cap; i++)
			if (s->slots[i]) slots[strset_find(slots, cap, s->slots[i])] = s->slots[i];
		free(s->slots);
		s->slots = slots;
		s->cap = cap;
	}
	size_t i = strset_find(s->slots, s->cap, str);
	if (s->slots[i]) return 0;
	s->slots[i] = xstrdup(str);
	s->count++;
	return 1;
}

int strset_has(const struct strset *s, const char *str)
{
	if (!s->cap) return 0;
	return s->slots[strset_find(s->slots, s->cap, str)] != NULL;
}

void strset_free(struct strset *s)
{
	for (size_t i = 0; i < s->cap; i++) free(s->slots[i]);
	free(s->slots);
	s->slots = NULL;
	s->cap = s->count = 0;
}

void tar_fd_path(char *buf, size_t size, int dirfd, const char *name)
{
	snprintf(buf, size, "/proc/self/fd/%d/%s", dirfd, name);
}

void tar_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

_Noreturn void tar_vfail(const char *tool, const char *where, int err, const char *fmt, va_list ap)
{
	char what[1024];
	vsnprintf(what, sizeof what, fmt, ap);
	const char *sep = where ? ": " : "";
	if (!where) where = "";
	if (err) dprintf(2, "%s: %s%s%s: %s\n", tool, where, sep, what, strerror(err));
	else dprintf(2, "%s: %s%s%s\n", tool, where, sep, what);
	exit(1);
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int tar_read_names(DIR *d, char ***names, size_t *count)
{
	char **list = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
		if (n == cap) list = xrealloc(list, (cap = cap ? cap * 2 : 64) * sizeof *list);
		list[n++] = xstrdup(de->d_name);
	}
	if (errno) {
		int err = errno;
		tar_free_names(list, n);
		errno = err;
		return -1;
	}
	qsort(list, n, sizeof *list, cmp_name);
	*names = list;
	*count = n;
	return 0;
}

void tar_free_names(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++) free(names[i]);
	free(names);
}
