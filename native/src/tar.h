/*
 * Layer tools: the helper's modes that read and write image layer tars
 * (tar_extract.c, tar_create.c, with tar_common.c) and drive btrfs
 * (btrfs.c). They run on the host, on behalf of hakod's storage, never
 * inside a container, and share nothing with the fd-3 plan protocol: they
 * talk with plain stdin/stdout/stderr and exit codes.
 */
#ifndef HAKO_TAR_H
#define HAKO_TAR_H

#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Entry points, called from main() with argv[0] the mode's name. */
int tar_extract_main(int argc, char **argv);
int tar_create_main(int argc, char **argv);
int btrfs_main(int argc, char **argv);
/* rootfs_tool.c: docker cp and export inside a container's root (see there). */
int rootfs_tool_main(int argc, char **argv);
/* tar_create.c's writer for rootfs-tool: NAME of DIRFD as ARCNAME (NULL: DIRFD's contents), then the end blocks. */
void tar_create_entry(int dirfd, const char *name, const char *arcname);

#define TAR_BLOCK 512

/* Offsets of the ustar header fields (POSIX.1-1988; GNU shares the first 345 bytes). */
#define TAR_NAME 0
#define TAR_NAME_LEN 100
#define TAR_MODE 100
#define TAR_UID 108
#define TAR_GID 116
#define TAR_SIZE 124
#define TAR_MTIME 136
#define TAR_CHKSUM 148
#define TAR_TYPE 156
#define TAR_LINKNAME 157
#define TAR_MAGIC 257
#define TAR_VERSION 263
#define TAR_UNAME 265
#define TAR_GNAME 297
#define TAR_DEVMAJOR 329
#define TAR_DEVMINOR 337
#define TAR_PREFIX 345
#define TAR_PREFIX_LEN 155

/* Overlay's marks on an upper dir, and their names in a layer tar. */
#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"
#define OVL_OPAQUE_XATTR "trusted.overlay.opaque"
#define OVL_XATTR_PREFIX "trusted.overlay."

/*
 * A numeric header field: octal digits (surrounded by spaces or NULs), or
 * GNU base-256 (high bit of the first byte set; 0xff starts a negative
 * number). Returns 0, or -1 when the field is not a number or overflows.
 */
int tar_parse_number(const unsigned char *field, size_t len, int64_t *out);
/* Octal, zero padded, NUL terminated; -1 when v does not fit. */
int tar_format_octal(unsigned char *field, size_t len, uint64_t v);
/* GNU base-256 for what octal cannot hold (device numbers). */
void tar_format_base256(unsigned char *field, size_t len, int64_t v);
/* The header checksum: the sum of its bytes with the checksum field as spaces. */
unsigned tar_checksum(const unsigned char *blk, int signed_bytes);
int tar_is_zero_block(const unsigned char *blk);

/*
 * Cleans an entry name lexically: drops leading '/', "." components and
 * repeated or trailing '/', folds "..". Returns a new string ("" names the
 * root), or NULL when a ".." climbs above the root.
 */
char *tar_clean_path(const char *name);
/* NAME cleaned of "", "." and ".." elements, without a leading '/'; a ".." at
 * the top is NULL, or stays at the top with clamp_at_root (filepath.Join("/", NAME)). */
char *clean_relative_path(const char *name, int clamp_at_root);

/* A growable byte buffer. */
struct sbuf { char *data; size_t len, cap; };
void sbuf_add(struct sbuf *b, const void *p, size_t n);
void sbuf_addstr(struct sbuf *b, const char *s);
void sbuf_free(struct sbuf *b);

/* A set of strings (paths written by one extraction). */
struct strset { char **slots; size_t cap, count; };
/* Returns 1 when s was added, 0 when it was already there. Copies s. */
int strset_add(struct strset *s, const char *str);
int strset_has(const struct strset *s, const char *str);
void strset_free(struct strset *s);

/*
 * The path of name inside the directory dirfd as seen through /proc, for
 * the l*xattr calls that have no *at() form: the last component is never
 * followed, and dirfd pins the directory already resolved inside the root.
 */
void tar_fd_path(char *buf, size_t size, int dirfd, const char *name);

/*
 * Reports a failure on stderr and exits 1:
 * "<tool>: [<where>: ]<what>[: <strerror(err)>]", where is left out when
 * NULL and the strerror when err is 0 (the failure is no system call's).
 */
_Noreturn void tar_vfail(const char *tool, const char *where, int err, const char *fmt, va_list ap);

/*
 * The names in d but "." and "..", sorted by bytes, for output that does
 * not depend on the order the filesystem lists them in. -1 with errno set
 * when the directory cannot be read; free the result with tar_free_names.
 */
int tar_read_names(DIR *d, char ***names, size_t *count);
void tar_free_names(char **names, size_t count);

/* Raises the soft open-files limit to the hard one: a deep tree holds a fd per level. */
void tar_raise_nofile(void);

#endif
