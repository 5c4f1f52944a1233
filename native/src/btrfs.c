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

static int subvolume_create(const char *path)
{
	char *copy;
	const char *name;
	int dfd = open_parent(path, &copy, &name);
	if (dfd < 0) return fail("subvolume-create", path, errno);
	struct btrfs_ioctl_vol_args args;
	memset(&args, 0, sizeof args);
	if (strlen(name) > BTRFS_PATH_NAME_MAX) return fail("subvolume-create", path, ENAMETOOLONG);
	strcpy(args.name, name);
	int r = ioctl(dfd, BTRFS_IOC_SUBVOL_CREATE, &args);
	int err = errno;
	close(dfd);
	free(copy);
	return r < 0 ? fail("subvolume-create", path, err) : 0;
}

static int snapshot(const char *src, const char *dst, int readonly)
{
	int sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0) return fail("snapshot: open", src, errno);
	char *copy;
	const char *name;
	int dfd = open_parent(dst, &copy, &name);
	if (dfd < 0) return fail("snapshot: open the parent of", dst, errno);
	struct btrfs_ioctl_vol_args_v2 args;
	memset(&args, 0, sizeof args);
	if (strlen(name) > BTRFS_SUBVOL_NAME_MAX) return fail("snapshot", dst, ENAMETOOLONG);
	args.fd = sfd;
	args.flags = readonly ? BTRFS_SUBVOL_RDONLY : 0;
	strcpy(args.name, name);
	int r = ioctl(dfd, BTRFS_IOC_SNAP_CREATE_V2, &args);
	int err = errno;
	close(dfd);
	close(sfd);
	free(copy);
	if (r < 0) {
		dprintf(2, "btrfs: snapshot %s %s: %s\n", src, dst, strerror(err));
		return 1;
	}
	return 0;
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
	if (strlen(name) > BTRFS_PATH_NAME_MAX) { errno = ENAMETOOLONG; return fail("subvolume-delete", shown, errno); }
	strcpy(args.name, name);
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

static int subvolume_delete(const char *path)
{
	char *copy;
	const char *name;
	int dfd = open_parent(path, &copy, &name);
	if (dfd < 0) return fail("subvolume-delete", path, errno);
	int r = destroy_at(dfd, name, path);
	close(dfd);
	free(copy);
	return r;
}

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
