/*
 * The container's filesystem view, built inside its new mount namespace:
 * propagation first (nothing may leak to the host), the rootfs bound onto
 * itself (pivot_root wants a mount point), the configured mounts resolved
 * inside the rootfs, /dev nodes, pivot_root, then the /proc and /sys
 * protections that need the final tree.
 */
#define _GNU_SOURCE
#include "container.h"
#include "msg.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define PROPAGATION_MASK (MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE)

/* Flags the kernel locks on a mount seen from a less privileged user namespace. */
static unsigned long locked_flags(const char *path)
{
	struct statvfs sv;
	unsigned long f = 0;
	if (statvfs(path, &sv) < 0) return 0;
	if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
	if (sv.f_flag & ST_RDONLY) f |= MS_RDONLY;
	return f;
}

/* A bind remount; retried with the flags the kernel locked, as they must be kept. */
static int remount_bind(const char *path, unsigned long flags)
{
	unsigned long f = MS_BIND | MS_REMOUNT | (flags & ~(unsigned long)(MS_BIND | MS_REMOUNT | PROPAGATION_MASK));
	if (mount(NULL, path, NULL, f, NULL) == 0) return 0;
	if (errno != EPERM) return -1;
	unsigned long locked = locked_flags(path) & ~(unsigned long)MS_RDONLY;
	return mount(NULL, path, NULL, f | locked, NULL);
}

static int reopen_target(int rootfd, const char *target, char *procpath, size_t size, int *fd)
{
	if (*fd >= 0) close(*fd);
	*fd = open_in_root(rootfd, target, O_PATH, 0);
	if (*fd < 0) return -1;
	snprintf(procpath, size, "/proc/self/fd/%d", *fd);
	return 0;
}

static void do_mount(int sync, int rootfd, const struct mount_entry *m)
{
	char procpath[64];
	int tfd = -1;
	int is_bind = (m->flags & MS_BIND) != 0;

	if (is_bind && (m->opts & MOUNT_OPT_OPTIONAL) && access(m->source, F_OK) < 0)
		return;
	if (mkdir_in_root(rootfd, m->target, 0755, (m->opts & MOUNT_OPT_FILE) != 0) < 0)
		child_fail(sync, "mount", errno, 1, "create mount point %s in rootfs: %s", m->target, strerror(errno));
	if (reopen_target(rootfd, m->target, procpath, sizeof procpath, &tfd) < 0)
		child_fail(sync, "mount", errno, 1, "open mount point %s in rootfs: %s", m->target, strerror(errno));

	if (is_bind) {
		if (mount(m->source, procpath, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0)
			child_fail(sync, "mount", errno, 1, "bind mount %s on %s: %s", m->source, m->target, strerror(errno));
		if (m->opts & MOUNT_OPT_BIND_REMOUNT) {
			/* The fd still names the directory under the new mount: look again. */
			if (reopen_target(rootfd, m->target, procpath, sizeof procpath, &tfd) < 0 ||
			    remount_bind(procpath, m->flags) < 0)
				child_fail(sync, "mount", errno, 1, "remount %s with its options: %s", m->target, strerror(errno));
		}
	} else {
		unsigned long flags = m->flags & ~(unsigned long)PROPAGATION_MASK;
		const char *data = m->data[0] ? m->data : NULL;
		if (mount(m->source, procpath, m->fstype, flags, data) < 0) {
			int err = errno;
			if (err == EPERM && (m->opts & MOUNT_OPT_SYSFS_FALLBACK)) {
				/* sysfs of a network namespace we do not own: show the host's, read-only. */
				if (mount("/sys", procpath, NULL, MS_BIND | MS_REC, NULL) < 0 ||
				    reopen_target(rootfd, m->target, procpath, sizeof procpath, &tfd) < 0 ||
				    remount_bind(procpath, flags | MS_RDONLY) < 0)
					child_fail(sync, "mount", errno, 1, "bind /sys on %s: %s", m->target, strerror(errno));
			} else {
				child_fail(sync, "mount", err, 1, "mount %s (%s) on %s: %s", m->source, m->fstype, m->target, strerror(err));
			}
		}
	}
	if (m->propagation) {
		if (reopen_target(rootfd, m->target, procpath, sizeof procpath, &tfd) < 0 ||
		    mount(NULL, procpath, NULL, m->propagation, NULL) < 0)
			child_fail(sync, "mount", errno, 1, "set propagation of %s: %s", m->target, strerror(errno));
	}
	close(tfd);
}

static void make_device(int sync, int rootfd, const struct device_entry *d)
{
	char *slash = strrchr(d->path, '/');
	char parent_path[4096];
	const char *name = slash ? slash + 1 : d->path;
	snprintf(parent_path, sizeof parent_path, "%.*s", slash ? (int)(slash - d->path) : 0, d->path);
	if (mkdir_in_root(rootfd, parent_path[0] ? parent_path : "/", 0755, 0) < 0)
		child_fail(sync, "device", errno, 1, "create %s: %s", parent_path, strerror(errno));
	int dirfd = open_in_root(rootfd, parent_path[0] ? parent_path : "/", O_PATH | O_DIRECTORY, 0);
	if (dirfd < 0)
		child_fail(sync, "device", errno, 1, "open %s: %s", parent_path, strerror(errno));
	unlinkat(dirfd, name, 0);
	if (mknodat(dirfd, name, d->mode, makedev(d->major, d->minor)) == 0) {
		if (fchownat(dirfd, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
			child_fail(sync, "device", errno, 1, "chown %s: %s", d->path, strerror(errno));
		/* mknod applies the umask; the configured mode wins. */
		char procpath[64];
		int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			snprintf(procpath, sizeof procpath, "/proc/self/fd/%d", fd);
			chmod(procpath, d->mode & 07777);
			close(fd);
		}
	} else if (errno == EPERM) {
		/* In a user namespace mknod is refused: bind the host's node instead. */
		int fd = openat(dirfd, name, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0000);
		if (fd < 0)
			child_fail(sync, "device", errno, 1, "create %s: %s", d->path, strerror(errno));
		char procpath[64];
		snprintf(procpath, sizeof procpath, "/proc/self/fd/%d", fd);
		if (mount(d->path, procpath, NULL, MS_BIND, NULL) < 0)
			child_fail(sync, "device", errno, 1, "bind %s: %s", d->path, strerror(errno));
		close(fd);
	} else {
		child_fail(sync, "device", errno, 1, "mknod %s: %s", d->path, strerror(errno));
	}
	close(dirfd);
}

static void make_symlink(int sync, int rootfd, const struct pair *s)
{
	char *slash = strrchr(s->b, '/');
	char parent_path[4096];
	snprintf(parent_path, sizeof parent_path, "%.*s", slash ? (int)(slash - s->b) : 0, s->b);
	int dirfd = open_in_root(rootfd, parent_path[0] ? parent_path : "/", O_PATH | O_DIRECTORY, 0);
	if (dirfd < 0)
		child_fail(sync, "symlink", errno, 1, "open %s: %s", parent_path, strerror(errno));
	if (symlinkat(s->a, dirfd, slash ? slash + 1 : s->b) < 0 && errno != EEXIST)
		child_fail(sync, "symlink", errno, 1, "symlink %s -> %s: %s", s->b, s->a, strerror(errno));
	close(dirfd);
}

/* The mount point holding path: the longest mount point in mountinfo that prefixes it. */
static int parent_mount_point(const char *path, char *out, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f) return -1;
	char *line = NULL;
	size_t cap = 0, best = 0;
	out[0] = '\0';
	while (getline(&line, &cap, f) > 0) {
		char mp[4096];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1) continue;
		size_t n = strlen(mp);
		int prefix = strcmp(mp, "/") == 0 ||
			(strncmp(path, mp, n) == 0 && (path[n] == '/' || path[n] == '\0'));
		if (prefix && n >= best) {
			best = n;
			snprintf(out, size, "%s", mp);
		}
	}
	free(line);
	fclose(f);
	return out[0] ? 0 : -1;
}

int rootfs_prepare(int sync, const struct plan *p)
{
	unsigned long prop = p->rootfs_prop == (uint64_t)-1 ? (MS_REC | MS_PRIVATE) : (unsigned long)p->rootfs_prop;
	/* An unbindable / could not be bound below: it is applied to the new root in rootfs_finalize. */
	if (prop & MS_UNBINDABLE) prop = MS_REC | MS_PRIVATE;
	/* Before anything else: unless the config asks otherwise, no mount made from here reaches the host. */
	if (mount(NULL, "/", NULL, prop, NULL) < 0)
		child_fail(sync, "rootfs", errno, 1, "set propagation of /: %s", strerror(errno));
	if (prop & MS_SHARED) {
		/* pivot_root refuses a new root whose parent mount is shared. */
		char mp[4096];
		if (parent_mount_point(p->rootfs, mp, sizeof mp) == 0 && mount(NULL, mp, NULL, MS_PRIVATE, NULL) < 0)
			child_fail(sync, "rootfs", errno, 1, "make %s private: %s", mp, strerror(errno));
	}
	if (p->has_rootfs_mount) {
		/*
		 * The image's layers, mounted here in the container's own namespace:
		 * gone with it, nothing to clean on the host. Overlay lowerdirs are
		 * short relative links (l/XXXX), so mount(2) runs from their directory
		 * to keep the options under a page however many layers there are.
		 */
		if (p->rootfs_mount_cwd[0] && chdir(p->rootfs_mount_cwd) < 0)
			child_fail(sync, "rootfs", errno, 1, "chdir %s: %s", p->rootfs_mount_cwd, strerror(errno));
		if (mount(p->rootfs_mount_source, p->rootfs, p->rootfs_mount_type, (unsigned long)p->rootfs_mount_flags,
			  p->rootfs_mount_data[0] ? p->rootfs_mount_data : NULL) < 0)
			child_fail(sync, "rootfs", errno, 1, "mount %s rootfs on %s (%s): %s", p->rootfs_mount_type, p->rootfs,
				   p->rootfs_mount_data, strerror(errno));
		if (chdir("/") < 0)
			child_fail(sync, "rootfs", errno, 1, "chdir /: %s", strerror(errno));
	}
	if (mount(p->rootfs, p->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		child_fail(sync, "rootfs", errno, 1, "bind the rootfs %s onto itself: %s", p->rootfs, strerror(errno));
	int rootfd = open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		child_fail(sync, "rootfs", errno, 1, "open rootfs %s: %s", p->rootfs, strerror(errno));

	for (size_t i = 0; i < p->nmounts; i++)
		do_mount(sync, rootfd, &p->mounts[i]);
	for (size_t i = 0; i < p->ndevices; i++)
		make_device(sync, rootfd, &p->devices[i]);
	for (size_t i = 0; i < p->nsymlinks; i++)
		make_symlink(sync, rootfd, &p->symlinks[i]);
	return rootfd;
}

void rootfs_pivot(int sync, int rootfd)
{
	if (fchdir(rootfd) < 0)
		child_fail(sync, "pivot_root", errno, 1, "chdir to rootfs: %s", strerror(errno));
	/* pivot_root(".", ".") stacks the old root on the new one; no put_old directory needed. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		child_fail(sync, "pivot_root", errno, 1, "pivot_root: %s", strerror(errno));
	/* Slave first, so the detach below does not propagate to the host's copy. */
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		child_fail(sync, "pivot_root", errno, 1, "make old root slave: %s", strerror(errno));
	if (umount2(".", MNT_DETACH) < 0)
		child_fail(sync, "pivot_root", errno, 1, "detach old root: %s", strerror(errno));
	if (chdir("/") < 0)
		child_fail(sync, "pivot_root", errno, 1, "chdir /: %s", strerror(errno));
	close(rootfd);
}

void rootfs_chroot(int sync, const struct plan *p)
{
	if (chroot(p->rootfs) < 0)
		child_fail(sync, "chroot", errno, 1, "chroot %s: %s", p->rootfs, strerror(errno));
	if (chdir("/") < 0)
		child_fail(sync, "chroot", errno, 1, "chdir /: %s", strerror(errno));
}

void apply_sysctls(int sync, const struct plan *p)
{
	for (size_t i = 0; i < p->nsysctls; i++) {
		char path[512];
		int n = snprintf(path, sizeof path, "/proc/sys/%s", p->sysctls[i].a);
		for (int j = (int)strlen("/proc/sys/"); j < n; j++)
			if (path[j] == '.') path[j] = '/';
		if (write_file(path, p->sysctls[i].b, strlen(p->sysctls[i].b)) < 0)
			child_fail(sync, "sysctl", errno, 1, "set %s=%s: %s", p->sysctls[i].a, p->sysctls[i].b, strerror(errno));
	}
}

void rootfs_finalize(int sync, const struct plan *p)
{
	for (size_t i = 0; i < p->masks.n; i++) {
		const char *path = p->masks.v[i];
		struct stat st;
		if (stat(path, &st) < 0) {
			if (errno == ENOENT) continue;
			child_fail(sync, "masked-paths", errno, 1, "stat %s: %s", path, strerror(errno));
		}
		int r = S_ISDIR(st.st_mode)
			? mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0k")
			: mount("/dev/null", path, NULL, MS_BIND, NULL);
		if (r < 0)
			child_fail(sync, "masked-paths", errno, 1, "mask %s: %s", path, strerror(errno));
	}
	for (size_t i = 0; i < p->readonly.n; i++) {
		const char *path = p->readonly.v[i];
		if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
			if (errno == ENOENT) continue;
			child_fail(sync, "readonly-paths", errno, 1, "bind %s: %s", path, strerror(errno));
		}
		if (remount_bind(path, MS_RDONLY | MS_REC) < 0)
			child_fail(sync, "readonly-paths", errno, 1, "remount %s read-only: %s", path, strerror(errno));
	}
	if (p->rootfs_ro && remount_bind("/", MS_RDONLY) < 0)
		child_fail(sync, "rootfs", errno, 1, "remount / read-only: %s", strerror(errno));
	/* Last, as unbindable forbids the binds above: the configured propagation of the container's own root. */
	if (p->rootfs_prop != (uint64_t)-1 && mount(NULL, "/", NULL, (unsigned long)p->rootfs_prop, NULL) < 0)
		child_fail(sync, "rootfs", errno, 1, "set propagation of the new root: %s", strerror(errno));
}
