/* SPDX-License-Identifier: MIT */
/* treegen's file system side: entries made (files, directories, symlinks,
 * times), directories made writable on the way when we are not root, and
 * a tree walked into a sorted list of its entries. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "treegen.h"

static struct timespec ts_of(int64_t ns)
{
	int64_t s = ns / 1000000000, n = ns % 1000000000;

	if (n < 0) {
		n += 1000000000;
		s--;
	}
	return (struct timespec){ .tv_sec = (time_t)s, .tv_nsec = (long)n };
}

void set_mtime(int root, const char *path, int64_t ns)
{
	struct timespec ts[2];

	ts[0] = ts[1] = ts_of(ns);
	if (utimensat(root, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
		die("utimensat %s: %s", shown(path), strerror(errno));
}

/* ---- writing ---- */

void write_all(int fd, const uint8_t *p, size_t n, const char *path)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			die("write %s: %s", shown(path), strerror(errno));
		p += k;
		n -= (size_t)k;
	}
}

/* Make a directory's owner-writable when we are not root (a 0555 one). */
static void dir_writable(int root, const char *dir)
{
	struct stat st;

	if (geteuid() == 0)
		return;
	if (fstatat(root, *dir ? dir : ".", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !(st.st_mode & S_IWUSR))
		fchmodat(root, *dir ? dir : ".", (st.st_mode & 07777) | 0700,
			 0);
}

void parent_writable(int root, const char *path)
{
	char *p = parent_of(path);

	if (!p)
		die("out of memory");
	dir_writable(root, p);
	free(p);
}

static void make_file(int root, const char *path, const uint8_t *p, size_t n,
		      mode_t mode)
{
	_cleanup_close_ int fd = -1;

	parent_writable(root, path);
	fd = openat(root, path,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		die("create %s: %s", shown(path), strerror(errno));
	write_all(fd, p, n, path);
	if (fchmod(fd, mode) < 0)
		die("chmod %s: %s", shown(path), strerror(errno));
}

void make_random_file(struct rng *r, int root, const char *path, size_t n,
		      bool repeated)
{
	uint8_t *buf = content(r, n, repeated);

	make_file(root, path, buf, n, random_file_mode(r));
	free(buf);
}

void make_dir(int root, const char *path, mode_t mode)
{
	parent_writable(root, path);
	if (mkdirat(root, path, 0700) < 0)
		die("mkdir %s: %s", shown(path), strerror(errno));
	if (fchmodat(root, path, mode, 0) < 0)
		die("chmod %s: %s", shown(path), strerror(errno));
}

void make_symlink(int root, const char *target, const char *path)
{
	parent_writable(root, path);
	if (symlinkat(target, root, path) < 0)
		die("symlink %s: %s", shown(path), strerror(errno));
}

/* ---- walking a tree ---- */

void ents_free(struct ents *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void walk_dir(int dfd, const char *rel, struct ents *l)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d)
		die("%s: %s", *rel ? shown(rel) : ".", strerror(errno));
	while ((errno = 0, de = readdir(d))) {
		struct ent *e;
		char *p;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!*rel && !strcmp(de->d_name, ".git"))
			continue;
		if (l->n == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 256;
			l->v = realloc(l->v, l->cap * sizeof(*l->v));
			if (!l->v)
				die("out of memory");
		}
		p = join(rel, de->d_name);
		e = &l->v[l->n];
		if (fstatat(dirfd(d), de->d_name, &e->st, AT_SYMLINK_NOFOLLOW) <
		    0)
			die("stat %s: %s", shown(p), strerror(errno));
		e->path = p;
		l->n++;
		if (S_ISDIR(e->st.st_mode)) {
			int cfd = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			if (cfd < 0)
				die("open %s: %s", shown(p), strerror(errno));
			walk_dir(cfd, p, l);
		}
	}
	if (errno)
		die("readdir %s: %s", *rel ? shown(rel) : ".", strerror(errno));
	closedir(d);
}

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ent *)a)->path,
		      ((const struct ent *)b)->path);
}

/* Every entry below root (not root itself), sorted bytewise by path. */
void walk_tree(int root, struct ents *l)
{
	int fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		die("open: %s", strerror(errno));
	memset(l, 0, sizeof(*l));
	walk_dir(fd, "", l);
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), ent_cmp);
}
