/*
 * hako-shim pin SRC DST / unpin DST: the helper binary pinned read-only.
 *
 * CVE-2019-5736: a process of the container can open the helper through
 * /proc/<pid>/exe while the helper sets up an exec or the container's init,
 * and write to the file on the host. runc and crun copy themselves into a
 * sealed memfd on every run for this; that copy and the second execve are
 * a megabyte and ~1.5 ms of every start and exec. hakod pins the helper
 * once instead: a read-only bind mount of the binary, under its exec root.
 * A write through /proc/<pid>/exe then reaches a read-only mount (EROFS),
 * and the container's mount namespace cannot remount what the host holds.
 * main.c skips the memfd copy for a binary on a read-only mount.
 */
#define _GNU_SOURCE
#include "container.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every mount stacked on DST, from a daemon that died holding an older binary. */
static void unmount_all(const char *dst)
{
	for (int i = 0; i < 64 && umount2(dst, MNT_DETACH | UMOUNT_NOFOLLOW) == 0; i++) {}
}

int pin_main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[0], "unpin") == 0) {
		unmount_all(argv[1]);
		if (unlink(argv[1]) < 0 && errno != ENOENT) {
			fprintf(stderr, "hako-shim unpin: unlink %s: %s\n", argv[1], strerror(errno));
			return 1;
		}
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: hako-shim pin SRC DST | hako-shim unpin DST\n");
		return 2;
	}
	const char *src = argv[1], *dst = argv[2];
	unmount_all(dst);
	int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0700);
	if (fd < 0) {
		fprintf(stderr, "hako-shim pin: create %s: %s\n", dst, strerror(errno));
		return 1;
	}
	close(fd);
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0) {
		fprintf(stderr, "hako-shim pin: bind %s on %s: %s\n", src, dst, strerror(errno));
		return 1;
	}
	/* Private: the pin must not propagate into (or out of) peers of the exec root's mount. */
	if (mount(NULL, dst, NULL, MS_PRIVATE, NULL) < 0 ||
	    mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) {
		int e = errno;
		umount2(dst, MNT_DETACH);
		fprintf(stderr, "hako-shim pin: make %s read-only: %s\n", dst, strerror(e));
		return 1;
	}
	return 0;
}
