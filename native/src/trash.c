/*
 * hako-shim trash DIR: deletes what hakod renames into its trash directory
 * (src/common/trash.ts: rm and run --rm rename a container's layers and
 * record there and answer at once).
 *
 * Deleting a container's files one by one from Node costs the event loop a
 * callback per file, in the middle of the next request. This process does
 * it instead, at idle CPU and I/O priority: only time nothing else wants.
 * It watches DIR (inotify) for entries moved in, deletes what is there when
 * it starts, and ends with hakod (parent-death signal).
 */
#define _GNU_SOURCE
#include "container.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_WHO_PROCESS 1

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	/* A failure leaves the entry for hakod's next start (its sweep): nothing else depends on it. */
	if (type == FTW_DP || type == FTW_D || type == FTW_DNR) rmdir(path);
	else unlink(path);
	return 0;
}

/* Depth first, no symlink followed, no other filesystem entered. */
static void remove_tree(const char *dir, const char *name)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return;
	nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void sweep(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) remove_tree(dir, e->d_name);
	}
	closedir(d);
}

int trash_main(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] != '/') {
		fprintf(stderr, "usage: hako-shim trash /abs/dir (hakod starts it)\n");
		return 2;
	}
	const char *dir = argv[1];
	pid_t parent = getppid();
	prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	if (getppid() != parent) return 0; /* hakod already gone */
	struct sched_param none = { 0 };
	sched_setscheduler(0, SCHED_IDLE, &none);
	syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT);

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "hako-shim trash: mkdir %s: %s\n", dir, strerror(errno));
		return 1;
	}
	int in = inotify_init1(IN_CLOEXEC);
	if (in < 0 || inotify_add_watch(in, dir, IN_MOVED_TO | IN_CREATE | IN_ONLYDIR) < 0) {
		fprintf(stderr, "hako-shim trash: watch %s: %s\n", dir, strerror(errno));
		return 1;
	}
	sweep(dir); /* what a crash left, and what came before the watch */
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) return 1;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW) sweep(dir);
			else if (ev->len) remove_tree(dir, ev->name);
			p += sizeof *ev + ev->len;
		}
	}
}
