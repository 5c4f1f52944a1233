/*
 * The json-file log, byte for byte as Docker writes it
 * (daemon/logger/jsonfilelog): one object per line,
 *   {"log":"<line with its \n>","stream":"stdout","time":"<RFC 3339 nano, UTC>"}
 * escaped as Docker's jsonlog does (\" \\ \n \r, other control characters
 * and < > & as \u00XX, U+2028/2029 as \u202X, each byte of invalid UTF-8 as
 * \ufffd). A line longer than 16 KiB goes out in 16 KiB pieces without \n,
 * all with the time of the first piece (Docker's partial messages).
 * Rotation as Docker's: before an entry, when the file has reached the max
 * size, <log>.(n-1) → .n … <log> → <log>.1 and a new <log>; one file means
 * truncate.
 */
#define _GNU_SOURCE
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_BYTES (16 * 1024)
#define OBUF_SIZE (64 * 1024)

struct partial {
	char *buf;     /* LINE_MAX_BYTES, allocated on first use */
	size_t len;
	int has_ts;    /* a piece of this line went out already: the rest keeps its time */
	struct timespec ts;
};

static struct {
	int fd;
	char *path;
	uint64_t max_size, size;
	uint32_t max_files;
	size_t olen;
	struct partial part[3];
} L = { .fd = -1 };

static char obuf[OBUF_SIZE];

size_t format_rfc3339nano(char *out, size_t size, const struct timespec *ts)
{
	struct tm tm;
	time_t secs = ts->tv_sec;
	gmtime_r(&secs, &tm);
	int n = snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n < 0 || (size_t)n >= size) return 0;
	unsigned ns = (unsigned)ts->tv_nsec % 1000000000u;
	if (ns > 0) {
		char frac[11] = ".";
		for (int i = 9; i >= 1; i--, ns /= 10) frac[i] = (char)('0' + ns % 10);
		size_t fl = 10;
		while (frac[fl - 1] == '0') fl--;
		frac[fl] = '\0';
		n += snprintf(out + n, size - (size_t)n, "%s", frac);
	}
	n += snprintf(out + n, size - (size_t)n, "Z");
	return (size_t)n < size ? (size_t)n : size - 1;
}

static void flush_obuf(void)
{
	if (L.olen && L.fd >= 0)
		(void)write_all(L.fd, obuf, L.olen); /* a full disk loses lines, never the container */
	L.olen = 0;
}

static void put(const char *s, size_t n)
{
	while (n > 0) {
		size_t room = OBUF_SIZE - L.olen;
		size_t take = n < room ? n : room;
		memcpy(obuf + L.olen, s, take);
		L.olen += take;
		L.size += take;
		s += take;
		n -= take;
		if (L.olen == OBUF_SIZE) flush_obuf();
	}
}

static int open_log(int flags)
{
	int fd = open(L.path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | flags, 0640);
	if (fd < 0) return -1;
	struct stat st;
	L.size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	L.fd = fd;
	return 0;
}

static void rotate(void)
{
	flush_obuf();
	close(L.fd);
	L.fd = -1;
	if (L.max_files >= 2) {
		size_t n = strlen(L.path) + 16;
		char *from = xmalloc(n), *to = xmalloc(n);
		for (uint32_t i = L.max_files - 1; i > 1; i--) {
			snprintf(from, n, "%s.%u", L.path, i - 1);
			snprintf(to, n, "%s.%u", L.path, i);
			(void)rename(from, to);
		}
		snprintf(to, n, "%s.1", L.path);
		(void)rename(L.path, to);
		free(from);
		free(to);
	}
	if (open_log(O_TRUNC | O_APPEND) < 0) L.size = 0; /* later lines are lost; the container goes on */
}

int shim_log_open(const char *path, uint64_t max_size, uint32_t max_files)
{
	L.path = xstrdup(path);
	L.max_size = max_size;
	L.max_files = max_files ? max_files : 1;
	return open_log(O_APPEND);
}

/* The length of the valid UTF-8 sequence at s (Go's utf8.DecodeRune), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n, unsigned *rune)
{
	unsigned char b = s[0];
	size_t len;
	unsigned lo = 0x80, hi = 0xbf, r;
	if (b >= 0xc2 && b <= 0xdf) { len = 2; r = b & 0x1f; }
	else if (b >= 0xe0 && b <= 0xef) {
		len = 3; r = b & 0x0f;
		if (b == 0xe0) lo = 0xa0;
		if (b == 0xed) hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		len = 4; r = b & 0x07;
		if (b == 0xf0) lo = 0x90;
		if (b == 0xf4) hi = 0x8f;
	} else return 0;
	if (n < len) return 0;
	for (size_t i = 1; i < len; i++) {
		unsigned char c = s[i];
		if (c < (i == 1 ? lo : 0x80) || c > (i == 1 ? hi : 0xbf)) return 0;
		r = (r << 6) | (c & 0x3f);
	}
	*rune = r;
	return len;
}

static void put_escaped(const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0, i = 0;
	while (i < n) {
		unsigned char b = s[i];
		if (b < 0x80) {
			if (b >= 0x20 && b != '\\' && b != '"' && b != '<' && b != '>' && b != '&') { i++; continue; }
			put((const char *)s + start, i - start);
			char e[6] = { '\\', 'u', '0', '0', hex[b >> 4], hex[b & 0xf] };
			if (b == '\\' || b == '"') { e[1] = (char)b; put(e, 2); }
			else if (b == '\n') { e[1] = 'n'; put(e, 2); }
			else if (b == '\r') { e[1] = 'r'; put(e, 2); }
			else put(e, 6);
			start = ++i;
			continue;
		}
		unsigned rune = 0;
		size_t len = utf8_len(s + i, n - i, &rune);
		if (len == 0) {
			put((const char *)s + start, i - start);
			put("\\ufffd", 6);
			start = ++i;
			continue;
		}
		if (rune == 0x2028 || rune == 0x2029) {
			put((const char *)s + start, i - start);
			put(rune == 0x2028 ? "\\u2028" : "\\u2029", 6);
			i += len;
			start = i;
			continue;
		}
		i += len;
	}
	put((const char *)s + start, n - start);
}

static void entry(int stream, const char *line, size_t len, int newline, const struct timespec *ts)
{
	if (L.fd < 0 && L.olen == 0) return;
	if (L.max_size && L.size >= L.max_size) rotate();
	char when[64];
	size_t wl = format_rfc3339nano(when, sizeof when, ts);
	put("{\"log\":\"", 8);
	put_escaped((const unsigned char *)line, len);
	if (newline) put("\\n", 2);
	put(stream == SHIM_STDERR ? "\",\"stream\":\"stderr\",\"time\":\"" : "\",\"stream\":\"stdout\",\"time\":\"", 28);
	put(when, wl);
	put("\"}\n", 3);
}

static struct timespec now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

/* A piece of a line too long for one entry (or cut by EOF): without \n, with the line's first time. */
static void partial_out(int stream, struct partial *pt)
{
	if (!pt->has_ts) { pt->ts = now(); pt->has_ts = 1; }
	entry(stream, pt->buf, pt->len, 0, &pt->ts);
	pt->len = 0;
}

void shim_log_write(int stream, const char *data, size_t len)
{
	if (L.fd < 0 || (stream != SHIM_STDOUT && stream != SHIM_STDERR)) return;
	struct partial *pt = &L.part[stream];
	while (len > 0) {
		size_t room = LINE_MAX_BYTES - pt->len;
		size_t look = len < room ? len : room;
		const char *nl = memchr(data, '\n', look);
		if (nl) {
			size_t n = (size_t)(nl - data);
			if (pt->len == 0 && !pt->has_ts) {
				struct timespec ts = now();
				entry(stream, data, n, 1, &ts);
			} else {
				memcpy(pt->buf + pt->len, data, n);
				pt->len += n;
				struct timespec ts = pt->has_ts ? pt->ts : now();
				entry(stream, pt->buf, pt->len, 1, &ts);
				pt->len = 0;
				pt->has_ts = 0;
			}
			data += n + 1;
			len -= n + 1;
			continue;
		}
		if (!pt->buf) pt->buf = xmalloc(LINE_MAX_BYTES);
		memcpy(pt->buf + pt->len, data, look);
		pt->len += look;
		data += look;
		len -= look;
		if (pt->len == LINE_MAX_BYTES) partial_out(stream, pt);
	}
}

void shim_log_end(int stream)
{
	if (stream != SHIM_STDOUT && stream != SHIM_STDERR) return;
	struct partial *pt = &L.part[stream];
	if (pt->len) partial_out(stream, pt);
	pt->has_ts = 0;
}

void shim_log_flush(void)
{
	flush_obuf();
}
