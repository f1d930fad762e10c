/* SPDX-License-Identifier: MIT */
/* The upper layer's directory (upper.h): its tree, its work area, and the
 * marks (whiteouts, opaque directories) that hide the lower layer. */
#include "upper.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "beneath.h"
#include "mkdirs.h"
#include "rmtree.h"

struct fs_upper {
	int dir; /* DIR */
	/* DIR/tree: a reset swaps it (holding lock for writing) while
	 * readers open paths under it (holding it for reading). */
	pthread_rwlock_t lock;
	int tree;
	int work; /* DIR/work */
	struct fs_bases *bases;
	unsigned discards;
};

/* Remove what a reset left in work (a crash in the middle), and copy-ups
 * a crash interrupted: nothing in work outlives a restart. */
static int clear_work(int work)
{
	int fd = openat(work, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -errno : util_rm_dir_contents(fd);
}

static int open_sub(int dir, const char *name)
{
	int fd;

	if (mkdirat(dir, name, 0755) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int fs_upper_open(const char *dir, struct fs_upper **ret)
{
	struct fs_upper *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return -ENOMEM;
	u->dir = u->tree = u->work = -1;
	pthread_rwlock_init(&u->lock, NULL);
	r = util_mkdirs(dir, 0755);
	if (r == 0) {
		u->dir = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = u->dir < 0 ? -errno : 0;
	}
	if (r == 0)
		r = u->tree = open_sub(u->dir, "tree");
	if (r >= 0)
		r = u->work = open_sub(u->dir, "work");
	if (r >= 0)
		r = clear_work(u->work);
	if (r >= 0) {
		char *p = NULL;

		r = asprintf(&p, "%s/bases", dir) < 0
			    ? -ENOMEM
			    : fs_bases_open(p, &u->bases);
		free(p);
	}
	if (r < 0) {
		fs_upper_free(u);
		return r;
	}
	*ret = u;
	return 0;
}

void fs_upper_free(struct fs_upper *u)
{
	if (!u)
		return;
	if (u->tree >= 0)
		close(u->tree);
	if (u->work >= 0)
		close(u->work);
	if (u->dir >= 0)
		close(u->dir);
	fs_bases_free(u->bases);
	pthread_rwlock_destroy(&u->lock);
	free(u);
}

struct fs_bases *fs_upper_bases(const struct fs_upper *u)
{
	return u->bases;
}

int fs_upper_work(const struct fs_upper *u)
{
	return u->work;
}

int fs_upper_dir(struct fs_upper *u, const char *path, size_t len)
{
	char buf[4097];
	int fd;

	/* A new open, never a dup: a dup shares the directory offset, and
	 * the callers list directories. */
	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len);
	buf[len] = '\0';
	pthread_rwlock_rdlock(&u->lock);
	fd = len == 0 ? openat(u->tree, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
		      : util_open_beneath(u->tree, buf, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		fd = -errno;
	pthread_rwlock_unlock(&u->lock);
	return fd;
}

bool fs_upper_is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

int fs_upper_whiteout(int dirfd, const char *name)
{
	return mknodat(dirfd, name, S_IFCHR | 0000, makedev(0, 0)) < 0 ? -errno
								       : 0;
}

int fs_upper_is_opaque(int dirfd, const char *name)
{
	char v;
	int fd = *name ? openat(dirfd, name,
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
		       : dirfd;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = fgetxattr(fd, FS_UPPER_OPAQUE_XATTR, &v, 1);
	if (fd != dirfd)
		close(fd);
	if (n < 0)
		return errno == ENODATA || errno == ENOTSUP ? 0 : -errno;
	return n == 1 && v == 'y';
}

int fs_upper_set_opaque(int fd)
{
	return fsetxattr(fd, FS_UPPER_OPAQUE_XATTR, "y", 1, 0) < 0 ? -errno : 0;
}

int fs_upper_is_empty(struct fs_upper *u)
{
	int fd = fs_upper_dir(u, "", 0);
	struct dirent *de;
	DIR *d;
	int r = 1;

	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			r = 0;
			break;
		}
	closedir(d);
	return r;
}

int fs_upper_reset(struct fs_upper *u)
{
	char name[32];
	int fd, r, r2;

	snprintf(name, sizeof(name), "discard-%u", u->discards++);
	if (renameat(u->dir, "tree", u->work, name) < 0)
		return -errno;
	fd = open_sub(u->dir, "tree");
	if (fd < 0) {
		/* Put the old tree back: better than a view without one. */
		(void)renameat(u->work, name, u->dir, "tree");
		return fd;
	}
	pthread_rwlock_wrlock(&u->lock);
	close(u->tree);
	u->tree = fd;
	pthread_rwlock_unlock(&u->lock);
	r = fs_bases_clear(u->bases);
	r2 = util_rm_rf_at(u->work, name);
	return r < 0 ? r : r2;
}
