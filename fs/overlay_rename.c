/* SPDX-License-Identifier: MIT */
/* The writable view's renames, and its reset. A file renames in the upper
 * (copied up first when it is the lower's). A directory that is only the
 * upper's renames there too; one that merges with the lower cannot (the
 * lower's path does not move), so it is rebuilt at its new name as an
 * opaque directory: its upper entries moved, its lower ones copied. That
 * costs the bytes of its lower files, once; renaming a directory of the
 * agent's tree is rare next to renaming files. */
#include "overlay.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "rmtree.h"

static int fill(struct tfs *t, char *path, int len, int tfd);

/* A new opaque directory name in dfd with mode: a descriptor or -errno. */
static int new_opaque_dir(int dfd, const char *name, mode_t mode)
{
	int fd, r;

	if (mkdirat(dfd, name, 0700) < 0)
		return -errno;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = fs_upper_set_opaque(fd);
	if (r == 0 && fchmod(fd, mode & 07777) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* Copy the lower's f (at path) to name in tfd. */
static int copy_lower(struct tfs *t, const struct ov_found *f, int tfd,
		      const char *name)
{
	struct timespec ts[2] = { f->a.st.st_atim, f->a.st.st_mtim };
	char target[SD_PATH_MAX + 1];
	struct fs_file ff;
	ssize_t n;
	int fd, r;

	if (S_ISLNK(f->a.st.st_mode)) {
		n = fs_view_readlink(t->view, f->a.ino, target, sizeof(target));
		if (n < 0)
			return (int)n;
		if (symlinkat(target, tfd, name) < 0)
			return -errno;
		(void)utimensat(tfd, name, ts, AT_SYMLINK_NOFOLLOW);
		return 0;
	}
	r = fs_view_open(t->view, f->a.ino, &ff);
	if (r < 0)
		return r;
	fd = openat(tfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		fs_file_free(&ff);
		return -errno;
	}
	r = ov_copy_bytes(t, &ff, fd);
	if (r == 0 &&
	    (fchmod(fd, f->a.st.st_mode & 07777) < 0 || futimens(fd, ts) < 0))
		r = -errno;
	close(fd);
	fs_file_free(&ff);
	return r;
}

static int move_group(struct tfs *t, char *path, int plen, int len,
		      const struct ov_found *f, int tfd, const char *name)
{
	struct fs_file ff;
	bool opaque;
	int dfd, r = fs_view_open(t->view, f->a.ino, &ff);

	if (r < 0)
		return r;
	r = ov_copy_up_at(t, path, len, &f->a, &ff, true);
	fs_file_free(&ff);
	if (r < 0)
		return r;
	path[plen] = '\0';
	dfd = ov_upper_dir(t, path, plen, &opaque);
	if (dfd < 0)
		return dfd;
	r = renameat(dfd, name, tfd, name) < 0 ? -errno : 0;
	close(dfd);
	return r;
}

/* One entry of a merged directory being rebuilt in tfd. */
static int fill_one(struct tfs *t, char *path, int len, int ufd, bool opaque,
		    const char *name, int tfd)
{
	struct timespec ts[2];
	struct ov_found f;
	int clen, nfd, r;

	clen = ov_join(path, len, name);
	if (clen < 0)
		return clen;
	r = ov_resolve(t, path, clen, ufd, opaque, name, &f);
	if (r == -ENOENT)
		goto out; /* gone meanwhile */
	if (r < 0)
		goto out;
	ov_note(t, path, clen);
	if (f.upper) {
		/* The upper's own: it moves, and keeps its inode. */
		r = renameat(ufd, name, tfd, name) < 0 ? -errno : 0;
		goto out;
	}
	if (S_ISREG(f.a.st.st_mode) && f.a.st.st_nlink > 1) {
		/* A hard link group: up where it is, with all its names,
		 * then this name moves like the upper's own. */
		r = move_group(t, path, len, clen, &f, tfd, name);
		goto out;
	}
	if (!S_ISDIR(f.a.st.st_mode)) {
		r = copy_lower(t, &f, tfd, name);
		goto out;
	}
	/* A directory of the lower (perhaps merged): rebuilt below. */
	nfd = new_opaque_dir(tfd, name, f.a.st.st_mode);
	if (nfd < 0) {
		r = nfd;
		goto out;
	}
	r = fill(t, path, clen, nfd);
	ts[0] = f.a.st.st_atim;
	ts[1] = f.a.st.st_mtim;
	(void)futimens(nfd, ts);
	close(nfd);
out:
	path[len] = '\0';
	return r;
}

/* Rebuild the merged directory at path (len bytes; path has room for
 * OV_PATH_BUF) in the opaque directory tfd. */
static int fill(struct tfs *t, char *path, int len, int tfd)
{
	struct ov_list l;
	bool opaque = false;
	int ufd, r;

	r = ov_list(t, path, len, &l);
	if (r < 0)
		return r;
	ufd = ov_upper_dir(t, path, len, &opaque);
	if (ufd < 0 && ufd != -ENOENT) {
		ov_list_free(&l);
		return ufd;
	}
	for (size_t i = 0; r == 0 && i < l.n; i++)
		r = fill_one(t, path, len, ufd, opaque, l.e[i].name, tfd);
	if (ufd >= 0)
		close(ufd);
	ov_list_free(&l);
	return r;
}

/* Rename the merged directory src (path spath, name sname in sfd) to
 * dname in dfd (nothing there, or an empty directory). */
static int move_merged(struct tfs *t, const struct ov_found *src, char *spath,
		       int slen, int sfd, const char *sname, int dfd,
		       const char *dname)
{
	struct timespec ts[2] = { src->a.st.st_atim, src->a.st.st_mtim };
	int work = fs_upper_work(t->upper), tfd, r;
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "mv-%u", atomic_fetch_add(&t->seq, 1));
	tfd = new_opaque_dir(work, tmp, src->a.st.st_mode);
	if (tfd < 0)
		return tfd;
	r = fill(t, spath, slen, tfd);
	(void)futimens(tfd, ts);
	close(tfd);
	if (r == 0 && renameat(work, tmp, dfd, dname) < 0)
		r = -errno;
	if (r < 0) {
		/* What moved out of the upper is lost with it: say so. */
		log_error("view %s: renaming directory %s: %s", t->name, spath,
			  strerror(-r));
		(void)util_rm_rf_at(work, tmp);
		return r;
	}
	return ov_drop_upper_dir(sfd, sname);
}

/* Make room at dname in dfd for a directory: a whiteout goes, an upper
 * directory (merged-empty, so only whiteouts in it) is emptied. */
static int clear_dir_target(int dfd, const char *dname)
{
	struct stat st;
	int fd;

	if (fstatat(dfd, dname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fs_upper_is_whiteout(&st))
		return unlinkat(dfd, dname, 0) < 0 ? -errno : 0;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	fd = openat(dfd, dname,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : util_rm_dir_contents(fd);
}

static int rename_dir(struct tfs *t, const struct ov_found *src, char *spath,
		      int slen, int sfd, const char *name, int dfd,
		      const char *newname)
{
	int r = clear_dir_target(dfd, newname), fd, opq;

	if (r < 0)
		return r;
	opq = fs_upper_is_opaque(sfd, name);
	if (src->lower && opq != 1)
		return move_merged(t, src, spath, slen, sfd, name, dfd,
				   newname);
	if (renameat(sfd, name, dfd, newname) < 0)
		return -errno;
	/* Wherever it lands, the lower of that path must not show. */
	fd = openat(dfd, newname,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = fs_upper_set_opaque(fd);
	close(fd);
	return r;
}

static int rename_file(struct tfs *t, const struct ov_found *src, int sfd,
		       const char *name, int dfd, const char *newname)
{
	struct stat old;
	bool had;

	if (!src->upper) {
		struct tfs_inode *x = tfs_inodes_find(t->inodes, src->a.ino);
		int r = x ? ov_copy_up(t, x, true) : -ESTALE;

		if (r < 0)
			return r;
	}
	had = fstatat(dfd, newname, &old, AT_SYMLINK_NOFOLLOW) == 0 &&
	      !fs_upper_is_whiteout(&old) && !S_ISDIR(old.st_mode);
	if (had)
		ov_keep_open(t, dfd, newname, &old);
	if (renameat(sfd, name, dfd, newname) < 0)
		return -errno;
	if (had && old.st_nlink <= 1)
		tfs_inodes_unindex(t->inodes, old.st_ino);
	return 0;
}

/* The checks rename(2) makes of the two names. */
static int check(struct tfs *t, const struct ov_found *src,
		 const struct ov_found *dst, const char *dpath, int dlen,
		 unsigned int flags)
{
	bool sdir = S_ISDIR(src->a.st.st_mode),
	     ddir = S_ISDIR(dst->a.st.st_mode);
	struct ov_list l;
	int r;

	if (flags & RENAME_NOREPLACE)
		return -EEXIST;
	if ((src->a.ino && src->a.ino == dst->a.ino) ||
	    (src->upper && dst->upper && src->up_ino == dst->up_ino))
		return 1; /* the same file: nothing to do */
	if (sdir && !ddir)
		return -ENOTDIR;
	if (!sdir && ddir)
		return -EISDIR;
	if (!ddir)
		return 0;
	r = ov_list(t, dpath, dlen, &l);
	if (r < 0)
		return r;
	r = l.n ? -ENOTEMPTY : 0;
	ov_list_free(&l);
	return r;
}

void ov_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct tfs *t = tfs_of(req);
	char sdir[OV_PATH_BUF], ddir[OV_PATH_BUF], spath[OV_PATH_BUF],
		dpath[OV_PATH_BUF];
	struct ov_found src, dst;
	int sdlen, ddlen, slen, dlen, sfd = -1, dfd = -1, r;

	if (flags & ~(unsigned)RENAME_NOREPLACE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	pthread_mutex_lock(&t->nslock);
	r = sdlen = ov_path(t, parent, sdir);
	if (r >= 0)
		r = ddlen = ov_path(t, newparent, ddir);
	if (r >= 0) {
		memcpy(spath, sdir, (size_t)sdlen + 1);
		memcpy(dpath, ddir, (size_t)ddlen + 1);
		r = slen = ov_join(spath, sdlen, name);
	}
	if (r >= 0)
		r = dlen = ov_join(dpath, ddlen, newname);
	if (r >= 0)
		r = ov_lookup_in(t, parent, name, &src);
	if (r >= 0) {
		r = ov_lookup_in(t, newparent, newname, &dst);
		if (r == 0)
			r = check(t, &src, &dst, dpath, dlen, flags);
		else if (r == -ENOENT)
			r = 0;
		/* A replaced name of a lower hard link group. */
		if (r == 0 && dst.a.ino)
			r = ov_up_group(t, newparent, newname, &dst);
	}
	if (r != 0)
		goto out;
	atomic_store(&t->clean, false);
	ov_note(t, dpath, dlen);
	r = sfd = ov_chain(t, sdir, sdlen);
	if (r >= 0)
		r = dfd = ov_chain(t, ddir, ddlen);
	if (r < 0)
		goto out;
	if (S_ISDIR(src.a.st.st_mode))
		r = rename_dir(t, &src, spath, slen, sfd, name, dfd, newname);
	else
		r = rename_file(t, &src, sfd, name, dfd, newname);
	if (r == 0)
		r = ov_hide_lower(t, sdir, sdlen, sfd, name);
	if (r == 0 && src.a.ino)
		tfs_inodes_move(t->inodes, src.a.ino, newparent, newname);
out:
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	pthread_mutex_unlock(&t->nslock);
	fuse_reply_err(req, r > 0 ? 0 : -r);
}

/* ---- reset ---- */

/* What the kernel must forget after a reset. */
struct inval {
	uint64_t ino; /* 0: only the entry */
	uint64_t parent;
	char *name;
};

struct invals {
	struct inval *v;
	size_t n, cap;
	int r;
};

static void add_inval(struct invals *iv, uint64_t ino, uint64_t parent,
		      const char *name)
{
	if (iv->r < 0)
		return;
	if (iv->n == iv->cap) {
		size_t c = iv->cap ? iv->cap * 2 : 64;
		struct inval *v = realloc(iv->v, c * sizeof(*v));

		if (!v) {
			iv->r = -ENOMEM;
			return;
		}
		iv->v = v;
		iv->cap = c;
	}
	iv->v[iv->n].name = name ? strdup(name) : NULL;
	iv->v[iv->n].ino = ino;
	iv->v[iv->n].parent = parent;
	iv->n++;
}

static void held(void *opaque, const struct tfs_inode *x)
{
	add_inval(opaque, x->ino, x->parent, x->name);
}

/* Names the upper hid: the kernel keeps them as negative entries under
 * the lower's number of their directory (a directory with whiteouts is
 * never opaque, so it is the lower's). */
static void whiteouts(struct tfs *t, int dfd, char *path, int len,
		      struct invals *iv)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	struct fs_attr la;
	uint64_t dir_ino = 0;

	if (!d) {
		close(dfd);
		return;
	}
	if (fs_view_lookup_path(t->view, path, (size_t)len, &la) == 0)
		dir_ino = len ? la.ino : FUSE_ROOT_ID;
	while ((de = readdir(d))) {
		struct stat st;
		int clen, fd;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_CHR && dir_ino &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
			    0 &&
		    fs_upper_is_whiteout(&st))
			add_inval(iv, 0, dir_ino, de->d_name);
		if (de->d_type != DT_DIR)
			continue;
		clen = ov_join(path, len, de->d_name);
		fd = clen < 0 ? -1
			      : openat(dirfd(d), de->d_name,
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					       O_CLOEXEC);
		if (fd >= 0)
			whiteouts(t, fd, path, clen, iv);
		path[len] = '\0';
	}
	closedir(d);
}

int tfs_rw_reset(struct tfs *t)
{
	struct invals iv = { 0 };
	char path[OV_PATH_BUF] = "";
	int fd, r;

	pthread_mutex_lock(&t->nslock);
	fd = fs_upper_dir(t->upper, "", 0);
	if (fd >= 0)
		whiteouts(t, fd, path, 0, &iv);
	r = fs_upper_reset(t->upper);
	if (r == 0) {
		tfs_inodes_reset(t->inodes, held, &iv);
		atomic_store(&t->clean, true);
	}
	pthread_mutex_unlock(&t->nslock);
	if (r < 0) {
		log_error("view %s: discarding the upper layer: %s", t->name,
			  strerror(-r));
	} else if (t->mounted) {
		/* Outside nslock: the kernel takes its directory locks for
		 * these, which a request waiting on nslock may hold. */
		for (size_t i = 0; i < iv.n; i++) {
			if (iv.v[i].name)
				(void)fuse_lowlevel_notify_inval_entry(
					t->se, iv.v[i].parent, iv.v[i].name,
					strlen(iv.v[i].name));
			if (iv.v[i].ino)
				(void)fuse_lowlevel_notify_inval_inode(
					t->se, iv.v[i].ino, 0, 0);
		}
		(void)fuse_lowlevel_notify_inval_inode(t->se, FUSE_ROOT_ID, 0,
						       0);
	}
	for (size_t i = 0; i < iv.n; i++)
		free(iv.v[i].name);
	free(iv.v);
	return r;
}
