/* SPDX-License-Identifier: MIT */
/* The writable view's copy-up (overlay.h): making the upper hold a path,
 * a lower file's bytes, symlink or hard link group, with the base of what
 * it shadows noted; and keeping an upper file open once its name goes. */
#include "overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

void ov_note(struct tfs *t, const char *path, int len)
{
	struct sd_id id;
	int r;

	if (len <= 0 || fs_view_entry_id(t->view, path, (size_t)len, &id) < 0)
		return;
	r = fs_bases_note(fs_upper_bases(t->upper), path, (size_t)len, &id);
	if (r < 0)
		log_error("view %s: recording the base of %.*s: %s (a conflict "
			  "on it may go unseen)",
			  t->name, len, path, strerror(-r));
}

/* Copy-up puts an entry into upper directory dfd: the directory keeps the
 * times it had (before), as overlayfs's do: no command changed it. */
static void keep_times(int dfd, const struct stat *before)
{
	struct timespec ts[2] = { before->st_atim, before->st_mtim };

	(void)futimens(dfd, ts);
}

int ov_chain(struct tfs *t, const char *path, int len)
{
	int fd = fs_upper_dir(t->upper, "", 0);
	int i = 0;

	while (fd >= 0 && i < len) {
		char comp[SD_NAME_MAX + 1];
		int j = i, nfd;

		while (j < len && path[j] != '/')
			j++;
		if (j - i > (int)SD_NAME_MAX) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(comp, path + i, (size_t)(j - i));
		comp[j - i] = '\0';
		nfd = openat(fd, comp,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT) {
			struct fs_attr la;
			struct timespec ts[2];
			struct stat pst;
			bool kept = fstat(fd, &pst) == 0;

			/* Not in the upper yet, so it is the lower's. */
			if (fs_view_lookup_path(t->view, path, (size_t)j, &la) <
				    0 ||
			    !S_ISDIR(la.st.st_mode)) {
				close(fd);
				return -ENOENT;
			}
			if (mkdirat(fd, comp, 0700) < 0 && errno != EEXIST) {
				nfd = -errno;
				close(fd);
				return nfd;
			}
			if (kept)
				keep_times(fd, &pst);
			nfd = openat(fd, comp,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
			if (nfd >= 0) {
				ts[0] = la.st.st_atim;
				ts[1] = la.st.st_mtim;
				(void)fchmod(nfd, la.st.st_mode & 07777);
				(void)futimens(nfd, ts);
			}
		}
		close(fd);
		fd = nfd < 0 ? -errno : nfd;
		i = j + 1;
	}
	return fd;
}

int ov_each_chunk(struct tfs *t, const struct fs_file *f, ov_chunk_fn fn,
		  void *opaque)
{
	struct fs_file def = { 0 };
	uint8_t *buf = NULL;
	size_t cap = 0;
	uint64_t off = 0;
	int r = 0;

	if (f->pending) {
		r = tfs_define(t, f, &def);
		if (r < 0)
			return r;
		f = &def;
	}
	for (uint32_t i = 0; r == 0 && i < f->nchunks; i++) {
		uint32_t n = f->chunks[i].len;
		struct sd_err why = { "" };

		if (cap < n) {
			uint8_t *nb = realloc(buf, n);

			if (!nb) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
			cap = n;
		}
		r = t->src.get(t->src.opaque, f, i, buf, cap, &why);
		if (r < 0) {
			log_error("view %s: inode %" PRIu64 ": chunk %" PRIu32
				  ": %s",
				  t->name, f->ino, i,
				  why.what[0] ? why.what : strerror(-r));
			r = -EIO;
			break;
		}
		r = fn(opaque, buf, n, off);
		off += n;
	}
	free(buf);
	fs_file_free(&def);
	return r;
}

/* A chunk into the copy: a chunk of zeros stays a hole. */
static int put_chunk(void *opaque, const uint8_t *p, uint32_t n, uint64_t off)
{
	int fd = *(int *)opaque;
	bool zero = true;

	for (uint32_t k = 0; k < n && zero; k++)
		zero = p[k] == 0;
	if (!zero && pwrite(fd, p, n, (off_t)off) != (ssize_t)n)
		return errno ? -errno : -EIO;
	return 0;
}

int ov_copy_bytes(struct tfs *t, const struct fs_file *f, int fd)
{
	int r = ov_each_chunk(t, f, put_chunk, &fd);

	if (r == 0 && ftruncate(fd, (off_t)f->size) < 0)
		r = -errno;
	return r;
}

struct link_names {
	struct tfs *t;
	const char *primary;
	int pfd;
	const char *pbase;
	int r;
};

/* Another name of a lower hard link group that was copied up: the same
 * upper file, unless the upper already has something of that name. */
static bool link_name(void *opaque, const char *path, size_t len)
{
	struct link_names *ln = opaque;
	char p[OV_PATH_BUF];
	const char *base;
	struct stat st, pst;
	bool kept;
	int dlen, dfd;

	if (strcmp(path, ln->primary) == 0)
		return true;
	ov_note(ln->t, path, (int)len);
	memcpy(p, path, len + 1);
	dlen = ov_split(p, (int)len, &base);
	dfd = ov_chain(ln->t, p, dlen);
	if (dfd < 0) {
		ln->r = dfd;
		return false;
	}
	kept = fstat(dfd, &pst) == 0;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno == ENOENT) {
		if (linkat(ln->pfd, ln->pbase, dfd, base, 0) < 0)
			ln->r = -errno;
		else if (kept)
			keep_times(dfd, &pst);
	}
	close(dfd);
	return ln->r == 0;
}

int ov_copy_up_at(struct tfs *t, const char *at, int len,
		  const struct fs_attr *a, const struct fs_file *f, bool data)
{
	char path[OV_PATH_BUF], tmp[32], target[SD_PATH_MAX + 1];
	const char *base;
	struct timespec ts[2] = { a->st.st_atim, a->st.st_mtim };
	struct tfs_inode *x = tfs_inodes_find(t->inodes, a->ino);
	struct stat st, pst;
	bool kept;
	int dlen, pfd, fd = -1, r = 0;

	if (len <= 0)
		return len < 0 ? len : -EPERM;
	memcpy(path, at, (size_t)len + 1);
	atomic_store(&t->clean, false);
	ov_note(t, at, len);
	dlen = ov_split(path, len, &base);
	pfd = ov_chain(t, path, dlen);
	if (pfd < 0)
		return pfd;
	kept = fstat(pfd, &pst) == 0;
	/* The upper already has it (a directory rename copied it): the
	 * record now means that file. */
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !fs_upper_is_whiteout(&st))
		goto done;
	if (S_ISLNK(a->st.st_mode)) {
		ssize_t n = fs_view_readlink(t->view, a->ino, target,
					     sizeof(target));

		if (n < 0 || symlinkat(target, pfd, base) < 0) {
			r = n < 0 ? -EIO : -errno;
			goto out;
		}
		if (kept)
			keep_times(pfd, &pst);
		(void)utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
		if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
		goto done;
	}
	if (!S_ISREG(a->st.st_mode) || !f) {
		r = -EINVAL;
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "up-%u", atomic_fetch_add(&t->seq, 1));
	fd = openat(fs_upper_work(t->upper), tmp,
		    O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (data)
		r = ov_copy_bytes(t, f, fd);
	if (r == 0 && (fchmod(fd, a->st.st_mode & 07777) < 0 ||
		       futimens(fd, ts) < 0 || fstat(fd, &st) < 0))
		r = -errno;
	if (r == 0 && renameat(fs_upper_work(t->upper), tmp, pfd, base) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(fs_upper_work(t->upper), tmp, 0);
		goto out;
	}
	if (kept)
		keep_times(pfd, &pst);
	if (a->st.st_nlink > 1) {
		struct link_names ln = { t, at, pfd, base, 0 };

		(void)fs_view_names(t->view, a->ino, link_name, &ln);
		r = ln.r;
	}
done:
	if (x && !x->upper)
		tfs_inodes_set_upper(t->inodes, x, st.st_ino);
out:
	if (fd >= 0)
		close(fd);
	close(pfd);
	return r;
}

/* Whether x's path still names x (it may have been unlinked, or renamed
 * over, while open). */
static bool still_named(struct tfs *t, struct tfs_inode *x, const char *at,
			int len)
{
	char path[OV_PATH_BUF];
	const char *base;
	struct ov_found f;
	bool opaque;
	int dlen, dfd, r;

	memcpy(path, at, (size_t)len + 1);
	dlen = ov_split(path, len, &base);
	dfd = ov_upper_dir(t, path, dlen, &opaque);
	if (dfd < 0 && dfd != -ENOENT)
		return false;
	r = ov_resolve(t, at, len, dfd, opaque, base, &f);
	if (dfd >= 0)
		close(dfd);
	return r == 0 && !f.upper && f.a.ino == x->ino;
}

/* A lower file written after it lost its name: its copy has no name
 * either (O_TMPFILE in the work area), kept open by its record. */
static int copy_up_unnamed(struct tfs *t, struct tfs_inode *x, bool data)
{
	struct stat st;
	int fd, r = 0;

	if (!x->is_file)
		return -ENOENT;
	fd = openat(fs_upper_work(t->upper), ".",
		    O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (data)
		r = ov_copy_bytes(t, &x->f, fd);
	if (r == 0 &&
	    (fchmod(fd, x->attr.st.st_mode & 07777) < 0 || fstat(fd, &st) < 0))
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	pthread_mutex_lock(&x->lock);
	if (x->fd >= 0)
		close(x->fd);
	x->fd = fd;
	pthread_mutex_unlock(&x->lock);
	tfs_inodes_set_upper(t->inodes, x, st.st_ino);
	return 0;
}

struct other_name {
	struct tfs *t;
	struct tfs_inode *x;
	char *path; /* OV_PATH_BUF: the name found */
	int len;
};

static bool named(void *opaque, const char *path, size_t len)
{
	struct other_name *o = opaque;

	if (!still_named(o->t, o->x, path, (int)len))
		return true;
	memcpy(o->path, path, len + 1);
	o->len = (int)len;
	return false;
}

int ov_copy_up(struct tfs *t, struct tfs_inode *x, bool data)
{
	char path[OV_PATH_BUF];
	int len;

	if (x->upper)
		return 0;
	len = ov_path(t, x->ino, path);
	if (len < 0)
		return len;
	/* A hard link group's record keeps the name of its last lookup,
	 * which may be gone while others still name it. */
	if (!still_named(t, x, path, len)) {
		struct other_name o = { t, x, path, -1 };

		if (x->attr.st.st_nlink > 1)
			(void)fs_view_names(t->view, x->ino, named, &o);
		if (o.len < 0)
			return copy_up_unnamed(t, x, data);
		len = o.len;
	}
	return ov_copy_up_at(t, path, len, &x->attr, x->is_file ? &x->f : NULL,
			     data);
}

int ov_up_group(struct tfs *t, fuse_ino_t parent, const char *name,
		struct ov_found *f)
{
	struct tfs_inode *x;
	int r;

	if (f->upper || !S_ISREG(f->a.st.st_mode) || f->a.st.st_nlink < 2)
		return 0;
	x = tfs_inodes_find(t->inodes, f->a.ino);
	r = x ? ov_copy_up(t, x, true) : -ESTALE;
	return r < 0 ? r : ov_lookup_in(t, parent, name, f);
}

void ov_keep_open(struct tfs *t, int dfd, const char *name,
		  const struct stat *st)
{
	uint64_t ino;
	struct tfs_inode *x;

	if (!S_ISREG(st->st_mode) ||
	    !(ino = tfs_inodes_upper_ino(t->inodes, st->st_ino)) ||
	    !(x = tfs_inodes_find(t->inodes, ino)))
		return;
	pthread_mutex_lock(&x->lock);
	if (x->fd < 0)
		x->fd = openat(dfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (x->fd < 0)
		x->fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	pthread_mutex_unlock(&x->lock);
}
