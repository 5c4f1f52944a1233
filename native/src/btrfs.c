/*
 * hako-shim btrfs subvolume-create PATH
 *               btrfs snapshot SRC DST [--readonly]
 *               btrfs subvolume-delete PATH
 *               btrfs is-btrfs PATH        (exit 0 yes, 1 no, 2 cannot tell)
 *
 * The btrfs snapshotter's few operations, straight from the ioctls in
 * <linux/btrfs.h>, so hosts need no btrfs-progs. Each ioctl goes to the
 * directory that holds (or will hold) the subvolume, with the last
 * component as its name.
 */
#define _GNU_SOURCE
#include "tar.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* The root directory of every subvolume has this inode number. */
#define BTRFS_SUBVOL_ROOT_INO 256

static int fail(const char *op, const char *path, int err)
{
	dprintf(2, "btrfs: %s %s: %s\n", op, path, strerror(err));
	return 1;
}

/* Opens the directory holding path and points *name at its last component. */
static int open_parent(const char *path, char **copy, const char **name)
{
	char *p = xstrdup(path);
	size_t len = strlen(p);
	while (len > 1 && p[len - 1] == '/') p[--len] = '\0';
	char *slash = strrchr(p, '/');
	const char *dir = ".";
	if (slash == p) {
		dir = "/";
		*name = p + 1;
	} else if (slash) {
		*slash = '\0';
		dir = p;
		*name = slash + 1;
	} else {
		*name = p;
	}
	*copy = p;
	if (!**name || !strcmp(*name, ".") || !strcmp(*name, "..")) { errno = EINVAL; return -1; }
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Copies name into an ioctl's name field of size bytes; -1 with ENAMETOOLONG when it does not fit with its NUL. */
static int set_name(char *field, size_t size, const char *name)
{
	if (strlen(name) >= size) { errno = ENAMETOOLONG; return -1; }
	strcpy(field, name);
	return 0;
}

/*
 * Calls op with the directory holding path and path's last component, the
 * pair every subvolume ioctl takes. A parent that cannot be opened fails
 * as "<what> <path>".
 */
static int at_parent(const char *what, const char *path, int (*op)(int dfd, const char *name, const void *arg), const void *arg)
{
	char *copy;
	const char *name;
	int dfd = open_parent(path, &copy, &name);
	if (dfd < 0) {
		int err = errno;
		free(copy);
		return fail(what, path, err);
	}
	int r = op(dfd, name, arg);
	close(dfd);
	free(copy);
	return r;
}

static int create_at(int dfd, const char *name, const void *path)
{
	struct btrfs_ioctl_vol_args args;
	memset(&args, 0, sizeof args);
	if (set_name(args.name, sizeof args.name, name) < 0 || ioctl(dfd, BTRFS_IOC_SUBVOL_CREATE, &args) < 0)
		return fail("subvolume-create", path, errno);
	return 0;
}

static int subvolume_create(const char *path) { return at_parent("subvolume-create", path, create_at, path); }

struct snapshot_args { const char *src, *dst; int sfd, readonly; };

static int snapshot_at(int dfd, const char *name, const void *arg)
{
	const struct snapshot_args *s = arg;
	struct btrfs_ioctl_vol_args_v2 args;
	memset(&args, 0, sizeof args);
	args.fd = s->sfd;
	args.flags = s->readonly ? BTRFS_SUBVOL_RDONLY : 0;
	if (set_name(args.name, sizeof args.name, name) < 0) return fail("snapshot", s->dst, errno);
	if (ioctl(dfd, BTRFS_IOC_SNAP_CREATE_V2, &args) < 0) {
		dprintf(2, "btrfs: snapshot %s %s: %s\n", s->src, s->dst, strerror(errno));
		return 1;
	}
	return 0;
}

static int snapshot(const char *src, const char *dst, int readonly)
{
	int sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0) return fail("snapshot: open", src, errno);
	const struct snapshot_args s = { src, dst, sfd, readonly };
	int r = at_parent("snapshot: open the parent of", dst, snapshot_at, &s);
	close(sfd);
	return r;
}

static int destroy_at(int dfd, const char *name, const char *shown);

/*
 * A subvolume holding other subvolumes cannot be destroyed (ENOTEMPTY):
 * find them (a directory whose inode is a subvolume root) and destroy
 * them first, deepest first, as Docker's btrfs driver does.
 */
static int destroy_nested(int fd, const char *shown)
{
	int rfd = dup(fd);
	if (rfd < 0) return -1;
	DIR *d = fdopendir(rfd);
	if (!d) { close(rfd); return -1; }
	struct dirent *de;
	int ret = 0;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) continue;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
		struct stat st;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) continue;
		if (st.st_ino == BTRFS_SUBVOL_ROOT_INO) {
			if (destroy_at(fd, de->d_name, shown) != 0) { ret = -1; break; }
		} else {
			int cfd = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) continue;
			ret = destroy_nested(cfd, shown);
			close(cfd);
			if (ret) break;
		}
	}
	closedir(d);
	return ret;
}

static int destroy_at(int dfd, const char *name, const char *shown)
{
	struct btrfs_ioctl_vol_args args;
	memset(&args, 0, sizeof args);
	if (set_name(args.name, sizeof args.name, name) < 0) return fail("subvolume-delete", shown, errno);
	if (ioctl(dfd, BTRFS_IOC_SNAP_DESTROY, &args) == 0) return 0;
	if (errno != ENOTEMPTY) return fail("subvolume-delete", shown, errno);
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) return fail("subvolume-delete", shown, errno);
	int r = destroy_nested(fd, shown);
	close(fd);
	if (r) return 1;
	if (ioctl(dfd, BTRFS_IOC_SNAP_DESTROY, &args) < 0) return fail("subvolume-delete", shown, errno);
	return 0;
}

static int delete_at(int dfd, const char *name, const void *path) { return destroy_at(dfd, name, path); }

static int subvolume_delete(const char *path) { return at_parent("subvolume-delete", path, delete_at, path); }

static int is_btrfs(const char *path)
{
	struct statfs sf;
	if (statfs(path, &sf) < 0) {
		fail("is-btrfs", path, errno);
		return 2;
	}
	return sf.f_type == BTRFS_SUPER_MAGIC ? 0 : 1;
}

int btrfs_main(int argc, char **argv)
{
	const char *op = argc > 1 ? argv[1] : "";
	if (!strcmp(op, "subvolume-create") && argc == 3) return subvolume_create(argv[2]);
	if (!strcmp(op, "subvolume-delete") && argc == 3) return subvolume_delete(argv[2]);
	if (!strcmp(op, "is-btrfs") && argc == 3) return is_btrfs(argv[2]);
	if (!strcmp(op, "snapshot") && (argc == 4 || (argc == 5 && !strcmp(argv[4], "--readonly"))))
		return snapshot(argv[2], argv[3], argc == 5);
	dprintf(2, "usage: hako-shim btrfs subvolume-create PATH | snapshot SRC DST [--readonly] | subvolume-delete PATH | is-btrfs PATH\n");
	return 2;
}
