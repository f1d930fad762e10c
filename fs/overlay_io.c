/* SPDX-License-Identifier: MIT */
/* The writable view's files and attributes. Where the kernel opens files
 * without asking (FUSE's no-open mode, as the read-only view) a read or
 * write of an upper file opens the upper's file for that request: an open
 * is a few microseconds, an OPEN and a RELEASE round trip per file many
 * more, and no descriptor is held per file (a build makes thousands). A
 * lower file is read by inode. Where the kernel cannot, an open upper
 * file's handle is its descriptor plus one (0: a lower file). A write to
 * a lower file copies it up first (overlay.c). */
#include "overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* The upper's directory holding ino, and ino's name in it (into path):
 * a descriptor or -errno. The root is "." in the tree. */
static int upper_at(struct tfs *t, fuse_ino_t ino, char *path,
		    const char **base)
{
	int len = ov_path(t, ino, path), dlen;

	if (len < 0)
		return len;
	if (len == 0) {
		*base = ".";
		return fs_upper_dir(t->upper, "", 0);
	}
	dlen = ov_split(path, len, base);
	return fs_upper_dir(t->upper, path, (size_t)dlen);
}

/* Open ino's upper file with the caller's flags: those that create or
 * position are the kernel's business (it sends the offset of an O_APPEND
 * write itself). A descriptor or -errno. */
static int open_upper(struct tfs *t, fuse_ino_t ino, int flags)
{
	char path[OV_PATH_BUF];
	const char *base;
	int dfd = upper_at(t, ino, path, &base), fd;

	if (dfd < 0)
		return dfd;
	fd = openat(dfd, base,
		    (flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_APPEND)) |
			    O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	close(dfd);
	return fd;
}

/* A descriptor for a read or a write of x, an upper file (close it when
 * *own): its handle's, the one kept for it once unlinked, or a new one.
 * Opened under nslock, so a rename cannot move it between the path and
 * the open. Or -errno. */
static int io_fd(struct tfs *t, fuse_ino_t ino, struct tfs_inode *x,
		 struct fuse_file_info *fi, int flags, bool *own)
{
	int fd;

	*own = false;
	if (fi && fi->fh)
		return (int)fi->fh - 1;
	pthread_mutex_lock(&x->lock);
	fd = x->fd >= 0 ? dup(x->fd) : -1;
	pthread_mutex_unlock(&x->lock);
	if (fd < 0) {
		pthread_mutex_lock(&t->nslock);
		fd = open_upper(t, ino, flags);
		pthread_mutex_unlock(&t->nslock);
	}
	*own = fd >= 0;
	return fd;
}

static bool is_dir(fuse_ino_t ino, const struct tfs_inode *x)
{
	return ino == FUSE_ROOT_ID || (x && S_ISDIR(x->attr.st.st_mode));
}

/* ino's attributes now: 0 and *a, or -errno. */
static int attr_of(struct tfs *t, fuse_ino_t ino, struct fuse_file_info *fi,
		   struct fs_attr *a)
{
	struct tfs_inode *x =
		ino == FUSE_ROOT_ID ? NULL : tfs_inodes_find(t->inodes, ino);
	bool dir = is_dir(ino, x);
	char path[OV_PATH_BUF];
	const char *base;
	struct stat st;
	int dfd, len;

	if (fi && fi->fh && fstat((int)fi->fh - 1, &st) == 0) {
		ov_attr_upper(a, &st, ino);
		return 0;
	}
	if (ino != FUSE_ROOT_ID && !x)
		return fs_view_getattr(t->view, ino, a);
	/* Kept open: the very file, whatever its name means now. */
	if (x && x->upper && x->fd >= 0 && fstat(x->fd, &st) == 0) {
		ov_attr_upper(a, &st, ino);
		return 0;
	}
	if ((dir && !atomic_load(&t->clean)) || (x && x->upper)) {
		dfd = upper_at(t, ino, path, &base);
		/* The name may mean another file by now (this one was
		 * unlinked or renamed over). */
		if (dfd >= 0 &&
		    fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !fs_upper_is_whiteout(&st) &&
		    !(x && x->upper && x->indexed && st.st_ino != x->up_ino) &&
		    !(x && x->upper && !x->indexed)) {
			close(dfd);
			ov_attr_upper(a, &st, ino);
			if (dir && !(x && x->upper))
				a->st.st_nlink = 1;
			return 0;
		}
		if (dfd >= 0)
			close(dfd);
	}
	if (x && x->upper) {
		/* Unlinked while the kernel holds it. */
		if (x->fd >= 0 && fstat(x->fd, &st) == 0)
			ov_attr_upper(a, &st, ino);
		else
			*a = x->attr;
		return 0;
	}
	if (dir) {
		len = ov_path(t, ino, path);
		if (len >= 0 &&
		    fs_view_lookup_path(t->view, path, (size_t)len, a) == 0) {
			a->ino = ino;
			a->st.st_ino = (ino_t)ino;
			return 0;
		}
		*a = x ? x->attr : *a;
		return x ? 0 : -ENOENT;
	}
	if (fs_view_getattr(t->view, ino, a) < 0)
		*a = x->attr; /* left the view: open across a version */
	return 0;
}

void ov_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_attr a;
	int r = attr_of(tfs_of(req), ino, fi, &a);

	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &a.st, TFS_CACHE_S);
}

/* Apply a SETATTR to the upper object base in dfd (or its open fd). */
static int apply_attr(int dfd, const char *base, int fd, const struct stat *st,
		      int to_set)
{
	int ofd = -1, r = 0;

	if (to_set & FUSE_SET_ATTR_MODE) {
		if (fd >= 0 ? fchmod(fd, st->st_mode & 07777)
			    : fchmodat(dfd, base, st->st_mode & 07777, 0))
			return -errno;
	}
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = to_set & FUSE_SET_ATTR_UID ? st->st_uid : (uid_t)-1;
		gid_t gid = to_set & FUSE_SET_ATTR_GID ? st->st_gid : (gid_t)-1;

		if (fchownat(dfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (fd < 0) {
			ofd = openat(dfd, base,
				     O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
			if (ofd < 0)
				return -errno;
		}
		r = ftruncate(fd >= 0 ? fd : ofd, st->st_size) < 0 ? -errno : 0;
		if (ofd >= 0)
			close(ofd);
		if (r < 0)
			return r;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		      FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
					  { .tv_nsec = UTIME_OMIT } };

		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			ts[0] = st->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			ts[1] = st->st_mtim;
		if (fd >= 0 ? futimens(fd, ts)
			    : utimensat(dfd, base, ts, AT_SYMLINK_NOFOLLOW))
			return -errno;
	}
	return 0;
}

void ov_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi)
{
	struct tfs *t = tfs_of(req);
	struct tfs_inode *x =
		ino == FUSE_ROOT_ID ? NULL : tfs_inodes_find(t->inodes, ino);
	char path[OV_PATH_BUF];
	const char *base;
	struct fs_attr a;
	int dfd = -1, len, r = 0;

	if (ino != FUSE_ROOT_ID && !x) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	pthread_mutex_lock(&t->nslock);
	atomic_store(&t->clean, false);
	if (is_dir(ino, x)) {
		/* A directory's attributes are its upper directory's. */
		len = ov_path(t, ino, path);
		if (len > 0)
			ov_note(t, path, len);
		r = len < 0 ? len : ov_chain(t, path, len);
		if (r >= 0)
			close(r);
	} else if (!x->upper) {
		bool empty = (to_set & FUSE_SET_ATTR_SIZE) &&
			     attr->st_size == 0;

		r = ov_copy_up(t, x, !empty);
	}
	if (r >= 0)
		r = dfd = upper_at(t, ino, path, &base);
	if (r >= 0)
		r = apply_attr(dfd, base, fi && fi->fh ? (int)fi->fh - 1 : -1,
			       attr, to_set);
	pthread_mutex_unlock(&t->nslock);
	if (dfd >= 0)
		close(dfd);
	if (r == 0)
		r = attr_of(t, ino, fi, &a);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &a.st, TFS_CACHE_S);
}

void ov_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct tfs *t = tfs_of(req);
	struct tfs_inode *x = tfs_inodes_find(t->inodes, ino);
	char path[OV_PATH_BUF], buf[SD_PATH_MAX + 1];
	const char *base;
	ssize_t n;
	int dfd;

	if (x && x->upper) {
		dfd = upper_at(t, ino, path, &base);
		n = dfd < 0 ? dfd : readlinkat(dfd, base, buf, sizeof(buf) - 1);
		if (dfd >= 0 && n < 0)
			n = -errno;
		if (dfd >= 0)
			close(dfd);
		if (n >= 0)
			buf[n] = '\0';
	} else {
		n = fs_view_readlink(t->view, ino, buf, sizeof(buf));
	}
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_readlink(req, buf);
}

void ov_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tfs *t = tfs_of(req);
	struct tfs_inode *x = tfs_inodes_find(t->inodes, ino);
	bool wr = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	int r = 0, fd = -1;

	if (t->no_open) {
		/* The kernel stops asking (tfs_op_init). */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (!x) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (wr && !x->upper) {
		pthread_mutex_lock(&t->nslock);
		r = ov_copy_up(t, x, !(fi->flags & O_TRUNC));
		pthread_mutex_unlock(&t->nslock);
	}
	if (r == 0 && x->upper) {
		pthread_mutex_lock(&t->nslock);
		r = fd = open_upper(t, ino, fi->flags);
		pthread_mutex_unlock(&t->nslock);
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	/* Only this mount changes the upper, so the kernel's pages stay
	 * right; a reset invalidates them. */
	fi->fh = fd >= 0 ? (uint64_t)fd + 1 : 0;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) < 0 && fd >= 0)
		close(fd);
}

void ov_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	struct tfs *t = tfs_of(req);
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
	struct tfs_inode *x = tfs_inodes_find(t->inodes, ino);
	bool own;
	int fd;

	if (!fi->fh && (!x || !x->upper)) {
		tfs_read_lower(req, x, size, off);
		return;
	}
	fd = io_fd(t, ino, x, fi, O_RDONLY, &own);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = fd;
	bv.buf[0].pos = off;
	fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
	if (own)
		close(fd);
}

/* A record for a write without a handle: copied up first. */
static int write_target(struct tfs *t, fuse_ino_t ino, struct tfs_inode **ret)
{
	struct tfs_inode *x = tfs_inodes_find(t->inodes, ino);
	int r = 0;

	if (!x)
		return -ESTALE;
	if (!x->upper) {
		pthread_mutex_lock(&t->nslock);
		r = ov_copy_up(t, x, true);
		pthread_mutex_unlock(&t->nslock);
	}
	*ret = x;
	return r;
}

void ov_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, struct fuse_file_info *fi)
{
	struct tfs *t = tfs_of(req);
	struct tfs_inode *x = NULL;
	ssize_t n;
	bool own = false;
	int fd = fi->fh ? (int)fi->fh - 1 : write_target(t, ino, &x);

	if (fd >= 0 && !fi->fh)
		fd = io_fd(t, ino, x, fi, O_WRONLY, &own);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	n = pwrite(fd, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_write(req, (size_t)n);
	if (own)
		close(fd);
}

void ov_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	if (fi->fh)
		close((int)fi->fh - 1);
	fuse_reply_err(req, 0);
}

void ov_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi)
{
	struct tfs *t = tfs_of(req);
	struct tfs_inode *x = tfs_inodes_find(t->inodes, ino);
	bool own = false;
	int fd, r = 0;

	/* A lower file has nothing of the command's to make durable. */
	if (fi->fh || (x && x->upper)) {
		fd = io_fd(t, ino, x, fi, O_RDONLY, &own);
		if (fd < 0)
			r = -fd;
		else if ((datasync ? fdatasync(fd) : fsync(fd)) < 0)
			r = errno;
		if (own)
			close(fd);
	}
	fuse_reply_err(req, r);
}

void ov_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		  off_t length, struct fuse_file_info *fi)
{
	struct tfs *t = tfs_of(req);
	struct tfs_inode *x = NULL;
	bool own = false;
	int fd = fi->fh ? (int)fi->fh - 1 : write_target(t, ino, &x);

	if (fd >= 0 && !fi->fh)
		fd = io_fd(t, ino, x, fi, O_WRONLY, &own);
	if (fd < 0)
		fuse_reply_err(req, -fd);
	else if (fallocate(fd, mode, offset, length) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_err(req, 0);
	if (own)
		close(fd);
}

/* Space is the upper's (where writes go); files count both layers. */
void ov_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct tfs *t = tfs_of(req);
	struct statvfs st;
	uint64_t files = 0, bytes = 0;

	(void)ino;
	if (fstatvfs(fs_upper_work(t->upper), &st) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fs_view_counts(t->view, &files, &bytes);
	st.f_files += (fsfilcnt_t)files;
	st.f_namemax = SD_NAME_MAX;
	fuse_reply_statfs(req, &st);
}
