/* SPDX-License-Identifier: MIT */
/* The writable view: a workspace version (the lower layer, view.h) under a
 * scratch directory (the upper layer, upper.h) that takes every write,
 * copy-on-write. Names resolve by path: the upper's entry if it has one
 * (a whiteout hides the name), else the lower's, unless the upper's
 * directory is opaque. Every directory made here is opaque, and only
 * directories copied up from the lower are not, so the lower is consulted
 * under a directory exactly when the upper has no opaque directory there.
 * The namespace operations of this file; copy-up is in overlay_copyup.c,
 * reads, writes and attributes of open files in overlay_io.c. */
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

int ov_path(struct tfs *t, fuse_ino_t ino, char *buf)
{
	if (ino == FUSE_ROOT_ID) {
		buf[0] = '\0';
		return 0;
	}
	return tfs_inodes_path(t->inodes, ino, buf, OV_PATH_BUF);
}

int ov_join(char *buf, int len, const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > SD_NAME_MAX)
		return n ? -ENAMETOOLONG : -ENOENT;
	if ((size_t)len + 1 + n > SD_PATH_MAX)
		return -ENAMETOOLONG;
	if (len)
		buf[len++] = '/';
	memcpy(buf + len, name, n + 1);
	return len + (int)n;
}

int ov_split(char *path, int len, const char **base)
{
	char *s = memrchr(path, '/', (size_t)len);

	if (!s) {
		*base = path;
		return 0;
	}
	*s = '\0';
	*base = s + 1;
	return (int)(s - path);
}

void ov_attr_upper(struct fs_attr *a, const struct stat *st, uint64_t ino)
{
	memset(a, 0, sizeof(*a));
	a->st = *st;
	a->ino = ino;
	a->st.st_ino = (ino_t)ino;
	a->st.st_dev = 0;
}

int ov_upper_dir(struct tfs *t, const char *path, int len, bool *opaque)
{
	int fd, r;

	*opaque = false;
	if (atomic_load(&t->clean))
		return -ENOENT;
	fd = fs_upper_dir(t->upper, path, (size_t)len);
	if (fd < 0)
		return fd;
	r = fs_upper_is_opaque(fd, "");
	if (r < 0) {
		close(fd);
		return r;
	}
	*opaque = r == 1;
	return fd;
}

int ov_resolve(struct tfs *t, const char *path, int len, int dfd, bool opaque,
	       const char *name, struct ov_found *f)
{
	struct fs_attr la;
	struct stat st;
	bool low;

	memset(f, 0, sizeof(*f));
	low = !opaque &&
	      fs_view_lookup_path(t->view, path, (size_t)len, &la) == 0;
	f->lower = low;
	if (dfd >= 0) {
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (fs_upper_is_whiteout(&st))
				return -ENOENT;
			if (S_ISDIR(st.st_mode) && low &&
			    S_ISDIR(la.st.st_mode) &&
			    fs_upper_is_opaque(dfd, name) == 0) {
				/* Copied up from the lower: the lower's
				 * number, the upper's attributes. */
				ov_attr_upper(&f->a, &st, la.ino);
				f->a.st.st_nlink = 1;
				f->merged = true;
				return 0;
			}
			f->upper = true;
			f->up_ino = st.st_ino;
			ov_attr_upper(&f->a, &st,
				      tfs_inodes_upper_ino(t->inodes,
							   st.st_ino));
			return 0;
		}
		if (errno != ENOENT)
			return -errno;
	}
	if (!low)
		return -ENOENT;
	f->a = la;
	return 0;
}

int ov_lookup_in(struct tfs *t, fuse_ino_t parent, const char *name,
		 struct ov_found *f)
{
	char path[OV_PATH_BUF];
	int len = ov_path(t, parent, path), plen, dfd, r;
	bool opaque;

	if (len < 0)
		return len;
	plen = len;
	dfd = ov_upper_dir(t, path, plen, &opaque);
	if (dfd < 0 && dfd != -ENOENT && dfd != -ENOTDIR)
		return dfd;
	len = ov_join(path, len, name);
	r = len < 0 ? len : ov_resolve(t, path, len, dfd, opaque, name, f);
	if (dfd >= 0)
		close(dfd);
	return r;
}

int ov_ref(struct tfs *t, fuse_ino_t parent, const char *name,
	   struct ov_found *f)
{
	struct tfs_at at = { parent, name, strlen(name), f->upper, f->up_ino };

	return tfs_inodes_ref(t->inodes, t->view, &f->a, &at);
}

void ov_reply_entry(fuse_req_t req, fuse_ino_t parent, const char *name, int r,
		    struct ov_found *f)
{
	struct tfs *t = tfs_of(req);
	struct fuse_entry_param e = { 0 };

	if (r == 0)
		r = ov_ref(t, parent, name, f);
	if (r == -ENOENT) {
		/* Every change of a name goes through the kernel, or comes
		 * with an invalidation (a new version, a reset). */
		e.entry_timeout = TFS_CACHE_S;
		fuse_reply_entry(req, &e);
		return;
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	e.ino = f->a.ino;
	e.generation = 1;
	e.attr = f->a.st;
	e.attr_timeout = TFS_CACHE_S;
	e.entry_timeout = TFS_CACHE_S;
	if (fuse_reply_entry(req, &e) < 0)
		tfs_inodes_forget(t->inodes, f->a.ino, 1);
}

static void ov_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ov_found f;
	int r;

	tfs_asked(tfs_of(req));
	r = ov_lookup_in(tfs_of(req), parent, name, &f);

	ov_reply_entry(req, parent, name, r, &f);
}

/* ---- merged listings ---- */

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct ov_name *)a)->name,
		      ((const struct ov_name *)b)->name);
}

static int add_name(struct ov_list *l, const char *name, mode_t type,
		    bool hidden)
{
	if (l->n == l->cap) {
		size_t c = l->cap ? l->cap * 2 : 32;
		struct ov_name *e = realloc(l->e, c * sizeof(*e));

		if (!e)
			return -ENOMEM;
		l->e = e;
		l->cap = c;
	}
	l->e[l->n].name = strdup(name);
	if (!l->e[l->n].name)
		return -ENOMEM;
	l->e[l->n].type = type;
	l->e[l->n].hidden = hidden;
	l->n++;
	return 0;
}

void ov_list_free(struct ov_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].name);
	free(l->e);
	memset(l, 0, sizeof(*l));
}

struct lower_fill {
	struct ov_list *l;
	size_t nupper; /* the upper's names, sorted, come first */
	int r;
};

static bool add_lower(void *opaque, const struct fs_dirent *d)
{
	struct lower_fill *lf = opaque;
	struct ov_name key = { .name = (char *)d->name };

	if (d->next_off <= 2) /* "." and ".." */
		return true;
	if (lf->nupper &&
	    bsearch(&key, lf->l->e, lf->nupper, sizeof(key), cmp_name))
		return true;
	lf->r = add_name(lf->l, d->name, d->type, false);
	return lf->r == 0;
}

static mode_t dt_type(unsigned char dt)
{
	switch (dt) {
	case DT_DIR: return S_IFDIR;
	case DT_LNK: return S_IFLNK;
	case DT_FIFO: return S_IFIFO;
	case DT_SOCK: return S_IFSOCK;
	default: return S_IFREG;
	}
}

int ov_list(struct tfs *t, const char *path, int len, struct ov_list *out)
{
	struct fs_attr la;
	struct dirent *de;
	bool opaque = false, low;
	int dfd, r = 0;
	DIR *d;

	memset(out, 0, sizeof(*out));
	dfd = ov_upper_dir(t, path, len, &opaque);
	if (dfd < 0 && dfd != -ENOENT)
		return dfd;
	low = !opaque &&
	      fs_view_lookup_path(t->view, path, (size_t)len, &la) == 0 &&
	      S_ISDIR(la.st.st_mode);
	if (dfd < 0 && !low)
		return -ENOENT;
	if (dfd >= 0) {
		d = fdopendir(dfd);
		if (!d) {
			close(dfd);
			return -errno;
		}
		while (r == 0 && (de = readdir(d))) {
			struct stat st;
			bool wo;

			if (!strcmp(de->d_name, ".") ||
			    !strcmp(de->d_name, ".."))
				continue;
			wo = de->d_type == DT_CHR &&
			     fstatat(dirfd(d), de->d_name, &st,
				     AT_SYMLINK_NOFOLLOW) == 0 &&
			     fs_upper_is_whiteout(&st);
			r = add_name(out, de->d_name, dt_type(de->d_type), wo);
		}
		closedir(d);
		if (out->n)
			qsort(out->e, out->n, sizeof(*out->e), cmp_name);
	}
	if (r == 0 && low) {
		struct lower_fill lf = { out, out->n, 0 };

		r = fs_view_readdir(t->view, la.ino, 0, add_lower, &lf);
		if (r == 0)
			r = lf.r;
	}
	/* Whiteouts only hid lower names: drop them. */
	for (size_t i = 0, j = 0; r == 0 && i <= out->n; i++) {
		if (i == out->n) {
			out->n = j;
			break;
		}
		if (out->e[i].hidden)
			free(out->e[i].name);
		else
			out->e[j++] = out->e[i];
	}
	if (r < 0)
		ov_list_free(out);
	return r;
}

/* ---- directories ---- */

struct snap {
	struct ov_list l;
	char path[OV_PATH_BUF];
	int len;
};

static void ov_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct tfs *t = tfs_of(req);
	struct snap *s;
	bool opaque;
	int r, dfd;

	tfs_asked(t); /* a listing follows */
	fi->fh = 0;
	fi->cache_readdir = 0;
	if (atomic_load(&t->clean)) {
		fuse_reply_open(req, fi);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = s->len = ov_path(t, ino, s->path);
	if (r >= 0) {
		dfd = ov_upper_dir(t, s->path, s->len, &opaque);
		if (dfd == -ENOENT) {
			/* Nothing of it in the upper: the lower's listing,
			 * by the lower's own number for it. */
			free(s);
			fuse_reply_open(req, fi);
			return;
		}
		if (dfd >= 0)
			close(dfd);
		r = dfd < 0 ? dfd : ov_list(t, s->path, s->len, &s->l);
	}
	if (r < 0) {
		free(s);
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uintptr_t)s;
	if (fuse_reply_open(req, fi) < 0) {
		ov_list_free(&s->l);
		free(s);
	}
}

static void ov_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct snap *s = (struct snap *)(uintptr_t)fi->fh;

	(void)ino;
	if (s) {
		ov_list_free(&s->l);
		free(s);
	}
	fuse_reply_err(req, 0);
}

static void snap_readdir(fuse_req_t req, fuse_ino_t ino, struct snap *s,
			 size_t size, off_t off, bool plus)
{
	struct tfs *t = tfs_of(req);
	char *buf = malloc(size ? size : 1);
	size_t len = 0;
	bool opaque;
	int dfd = ov_upper_dir(t, s->path, s->len, &opaque);

	if (!buf) {
		if (dfd >= 0)
			close(dfd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < s->l.n + 2; i++) {
		const char *name = i == 0   ? "."
				   : i == 1 ? ".."
					    : s->l.e[i - 2].name;
		struct fuse_entry_param e = { 0 };
		struct ov_found f;
		char path[OV_PATH_BUF];
		size_t n;
		int plen;

		e.attr.st_mode = S_IFDIR;
		if (i >= 2) {
			memcpy(path, s->path, (size_t)s->len + 1);
			plen = ov_join(path, s->len, name);
			/* Gone since the listing: left out. */
			if (plen < 0 || ov_resolve(t, path, plen, dfd, opaque,
						   name, &f) < 0)
				continue;
			/* Every entry with an inode is a lookup the kernel
			 * counts; taking it numbers an upper object. */
			if (plus && ov_ref(t, ino, name, &f) < 0)
				break;
			e.attr = f.a.st;
			e.ino = f.a.ino;
			if (!e.ino) /* not numbered yet: only the type counts */
				e.attr.st_ino =
					(ino_t)((1ull << 63) | f.up_ino);
			if (plus) {
				e.generation = 1;
				e.attr_timeout = TFS_CACHE_S;
				e.entry_timeout = TFS_CACHE_S;
			}
		}
		if (plus)
			n = fuse_add_direntry_plus(req, buf + len, size - len,
						   name, &e, (off_t)(i + 1));
		else
			n = fuse_add_direntry(req, buf + len, size - len, name,
					      &e.attr, (off_t)(i + 1));
		if (n > size - len) {
			if (plus && i >= 2)
				tfs_inodes_forget(t->inodes, e.ino, 1);
			break;
		}
		len += n;
	}
	if (dfd >= 0)
		close(dfd);
	fuse_reply_buf(req, buf, len);
	free(buf);
}

static void ov_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct snap *s = (struct snap *)(uintptr_t)fi->fh;

	if (s)
		snap_readdir(req, ino, s, size, off, false);
	else
		tfs_readdir_lower(req, ino, size, off, false);
}

static void ov_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	struct snap *s = (struct snap *)(uintptr_t)fi->fh;

	if (s)
		snap_readdir(req, ino, s, size, off, true);
	else
		tfs_readdir_lower(req, ino, size, off, true);
}

/* ---- making names ---- */

/* Remove a whiteout at name in dfd, if there is one: 1 if there was. */
static int clear_whiteout(int dfd, const char *name)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!fs_upper_is_whiteout(&st))
		return -EEXIST;
	return unlinkat(dfd, name, 0) < 0 ? -errno : 1;
}

/* Give what a command made to whoever made it (the node runs as root). */
static void own(fuse_req_t req, int dfd, const char *name)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);

	if (geteuid() == 0 && (c->uid || c->gid))
		(void)fchownat(dfd, name, c->uid, c->gid, AT_SYMLINK_NOFOLLOW);
}

/* The directory of the new name (parent, name), made in the upper, its
 * whiteout removed: a descriptor, *had_whiteout set. */
static int new_name(struct tfs *t, fuse_ino_t parent, const char *name,
		    bool *had_whiteout)
{
	char path[OV_PATH_BUF];
	int len = ov_path(t, parent, path), dfd, r;

	if (len < 0)
		return len;
	if (strlen(name) > SD_NAME_MAX)
		return -ENAMETOOLONG;
	atomic_store(&t->clean, false);
	dfd = ov_chain(t, path, len);
	if (dfd < 0)
		return dfd;
	r = clear_whiteout(dfd, name);
	if (r < 0) {
		close(dfd);
		return r;
	}
	*had_whiteout = r == 1;
	return dfd;
}

/* Reply with the new name's entry: the upper object at name in dfd. */
static void reply_new(fuse_req_t req, fuse_ino_t parent, const char *name,
		      int dfd)
{
	struct ov_found f = { .upper = true };
	struct stat st;
	int r = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	else {
		f.up_ino = st.st_ino;
		ov_attr_upper(&f.a, &st,
			      tfs_inodes_upper_ino(tfs_of(req)->inodes,
						   st.st_ino));
	}
	ov_reply_entry(req, parent, name, r, &f);
}

/* The end of a mknod or a symlink, nslock held: dfd is the directory the
 * name was made in, or -errno. Unlocks and replies. */
static void made(fuse_req_t req, fuse_ino_t parent, const char *name, int dfd)
{
	struct tfs *t = tfs_of(req);

	if (dfd < 0) {
		pthread_mutex_unlock(&t->nslock);
		fuse_reply_err(req, -dfd);
		return;
	}
	own(req, dfd, name);
	pthread_mutex_unlock(&t->nslock);
	reply_new(req, parent, name, dfd);
	close(dfd);
}

static void ov_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct tfs *t = tfs_of(req);
	bool wo;
	int dfd;

	(void)rdev;
	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	pthread_mutex_lock(&t->nslock);
	dfd = new_name(t, parent, name, &wo);
	if (dfd >= 0 && (mknodat(dfd, name, mode, 0) < 0 ||
			 fchmodat(dfd, name, mode & 07777, 0) < 0)) {
		close(dfd);
		dfd = -errno;
	}
	made(req, parent, name, dfd);
}

static void ov_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct tfs *t = tfs_of(req);
	struct stat st;
	bool wo;
	int dfd, fd, r = 0;

	pthread_mutex_lock(&t->nslock);
	dfd = new_name(t, parent, name, &wo);
	if (dfd < 0) {
		pthread_mutex_unlock(&t->nslock);
		fuse_reply_err(req, -dfd);
		return;
	}
	if (mkdirat(dfd, name, mode) < 0)
		r = -errno;
	/* A new directory never merges with the lower (see the top). */
	fd = r ? -1
	       : openat(dfd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* The node's umask is not the caller's; a setgid parent's bit,
	 * which mkdir passed on, stays. */
	if (r == 0 && fd >= 0 &&
	    (fstat(fd, &st) < 0 ||
	     fchmod(fd, (mode & 07777) | (st.st_mode & S_ISGID)) < 0))
		r = -errno;
	if (r == 0 && (fd < 0 || (r = fs_upper_set_opaque(fd)) < 0)) {
		r = fd < 0 ? -errno : r;
		log_error("view %s: cannot mark the new directory %s opaque: "
			  "%s",
			  t->name, name, strerror(-r));
		(void)unlinkat(dfd, name, AT_REMOVEDIR);
	}
	if (fd >= 0)
		close(fd);
	if (r == 0)
		own(req, dfd, name);
	pthread_mutex_unlock(&t->nslock);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_new(req, parent, name, dfd);
	close(dfd);
}

static void ov_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	struct tfs *t = tfs_of(req);
	bool wo;
	int dfd;

	pthread_mutex_lock(&t->nslock);
	dfd = new_name(t, parent, name, &wo);
	if (dfd >= 0 && symlinkat(link, dfd, name) < 0) {
		close(dfd);
		dfd = -errno;
	}
	made(req, parent, name, dfd);
}

static void ov_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct tfs *t = tfs_of(req);
	struct fuse_entry_param e = { 0 };
	struct ov_found f = { .upper = true };
	struct stat st;
	bool wo;
	int dfd, fd = -1, r = 0;

	pthread_mutex_lock(&t->nslock);
	dfd = new_name(t, parent, name, &wo);
	if (dfd < 0) {
		r = dfd;
	} else {
		fd = openat(dfd, name,
			    (fi->flags & ~(O_APPEND | O_NOCTTY)) | O_CREAT |
				    O_NOFOLLOW | O_CLOEXEC,
			    mode);
		/* The kernel applied the caller's umask: not the node's. */
		if (fd < 0 || fchmod(fd, mode & 07777) < 0 ||
		    fstat(fd, &st) < 0)
			r = -errno;
		else
			own(req, dfd, name);
		close(dfd);
	}
	pthread_mutex_unlock(&t->nslock);
	if (r == 0) {
		f.up_ino = st.st_ino;
		ov_attr_upper(&f.a, &st,
			      tfs_inodes_upper_ino(t->inodes, st.st_ino));
		r = ov_ref(t, parent, name, &f);
	}
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, -r);
		return;
	}
	e.ino = f.a.ino;
	e.generation = 1;
	e.attr = f.a.st;
	e.attr_timeout = TFS_CACHE_S;
	e.entry_timeout = TFS_CACHE_S;
	/* Without OPENs there is no RELEASE to close a handle: writes then
	 * open the file themselves (overlay_io.c). */
	if (t->no_open) {
		close(fd);
		fd = -1;
	}
	fi->fh = fd >= 0 ? (uint64_t)fd + 1 : 0;
	fi->keep_cache = 1;
	if (fuse_reply_create(req, &e, fi) < 0) {
		tfs_inodes_forget(t->inodes, e.ino, 1);
		if (fd >= 0)
			close(fd);
	}
}

static void ov_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	struct tfs *t = tfs_of(req);
	struct tfs_inode *x = tfs_inodes_find(t->inodes, ino);
	char path[OV_PATH_BUF];
	const char *base = "";
	bool wo;
	int len, sfd = -1, dfd = -1, r;

	if (!x) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	pthread_mutex_lock(&t->nslock);
	r = ov_copy_up(t, x, true);
	len = r < 0 ? r : ov_path(t, ino, path);
	if (len < 0)
		r = len;
	if (r == 0) {
		int dlen = ov_split(path, len, &base);

		sfd = r = fs_upper_dir(t->upper, path, (size_t)dlen);
	}
	if (r >= 0)
		dfd = r = new_name(t, newparent, newname, &wo);
	if (r >= 0 && linkat(sfd, base, dfd, newname, 0) < 0)
		r = -errno;
	pthread_mutex_unlock(&t->nslock);
	if (sfd >= 0)
		close(sfd);
	if (r < 0) {
		if (dfd >= 0)
			close(dfd);
		fuse_reply_err(req, -r);
		return;
	}
	reply_new(req, newparent, newname, dfd);
	close(dfd);
}

/* ---- removing names ---- */

int ov_hide_lower(struct tfs *t, const char *dir, int dlen, int dfd,
		  const char *name)
{
	char path[OV_PATH_BUF];
	struct fs_attr la;
	int len, fd, r;

	memcpy(path, dir, (size_t)dlen + 1);
	len = ov_join(path, dlen, name);
	if (len < 0)
		return len;
	if (dfd >= 0 && fs_upper_is_opaque(dfd, "") == 1)
		return 0;
	if (fs_view_lookup_path(t->view, path, (size_t)len, &la) < 0)
		return 0;
	ov_note(t, path, len);
	fd = dfd >= 0 ? dfd : ov_chain(t, dir, dlen);
	if (fd < 0)
		return fd;
	r = fs_upper_whiteout(fd, name);
	if (fd != dfd)
		close(fd);
	return r;
}

static void ov_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct tfs *t = tfs_of(req);
	char dir[OV_PATH_BUF];
	struct ov_found f;
	struct stat st;
	bool opaque;
	int dlen, dfd, r;

	pthread_mutex_lock(&t->nslock);
	r = ov_lookup_in(t, parent, name, &f);
	dlen = r < 0 ? r : ov_path(t, parent, dir);
	if (dlen < 0) {
		r = dlen;
		goto out;
	}
	if (S_ISDIR(f.a.st.st_mode)) {
		r = -EISDIR;
		goto out;
	}
	/* The link count of the names left must drop. */
	r = ov_up_group(t, parent, name, &f);
	if (r < 0)
		goto out;
	atomic_store(&t->clean, false);
	dfd = ov_upper_dir(t, dir, dlen, &opaque);
	if (f.upper) {
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
		else
			ov_keep_open(t, dfd, name, &st);
		if (r == 0 && unlinkat(dfd, name, 0) < 0)
			r = -errno;
		else if (r == 0 && st.st_nlink <= 1)
			tfs_inodes_unindex(t->inodes, st.st_ino);
	}
	if (r == 0)
		r = ov_hide_lower(t, dir, dlen, dfd, name);
	if (dfd >= 0)
		close(dfd);
out:
	pthread_mutex_unlock(&t->nslock);
	fuse_reply_err(req, -r);
}

int ov_drop_upper_dir(int dfd, const char *name)
{
	struct stat st;

	if (dfd < 0 || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISDIR(st.st_mode))
		return 0;
	return util_rm_rf_at(dfd, name);
}

static void ov_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct tfs *t = tfs_of(req);
	char dir[OV_PATH_BUF], path[OV_PATH_BUF];
	struct ov_list l;
	struct ov_found f;
	bool opaque;
	int dlen, len, dfd, r;

	pthread_mutex_lock(&t->nslock);
	r = ov_lookup_in(t, parent, name, &f);
	dlen = r < 0 ? r : ov_path(t, parent, dir);
	if (dlen < 0) {
		r = dlen;
		goto out;
	}
	if (!S_ISDIR(f.a.st.st_mode)) {
		r = -ENOTDIR;
		goto out;
	}
	memcpy(path, dir, (size_t)dlen + 1);
	len = ov_join(path, dlen, name);
	r = len < 0 ? len : ov_list(t, path, len, &l);
	if (r < 0)
		goto out;
	r = l.n ? -ENOTEMPTY : 0;
	ov_list_free(&l);
	if (r < 0)
		goto out;
	atomic_store(&t->clean, false);
	dfd = ov_upper_dir(t, dir, dlen, &opaque);
	r = ov_drop_upper_dir(dfd, name);
	if (r == 0)
		r = ov_hide_lower(t, dir, dlen, dfd, name);
	if (dfd >= 0)
		close(dfd);
out:
	pthread_mutex_unlock(&t->nslock);
	fuse_reply_err(req, -r);
}

const struct fuse_lowlevel_ops tfs_rw_ops = {
	.init = tfs_op_init,
	.lookup = ov_lookup,
	.forget = tfs_op_forget,
	.forget_multi = tfs_op_forget_multi,
	.getattr = ov_getattr,
	.setattr = ov_setattr,
	.readlink = ov_readlink,
	.mknod = ov_mknod,
	.mkdir = ov_mkdir,
	.unlink = ov_unlink,
	.rmdir = ov_rmdir,
	.symlink = ov_symlink,
	.rename = ov_rename,
	.link = ov_link,
	.open = ov_open,
	.read = ov_read,
	.write = ov_write,
	.release = ov_release,
	.fsync = ov_fsync,
	.opendir = ov_opendir,
	.readdir = ov_readdir,
	.readdirplus = ov_readdirplus,
	.releasedir = ov_releasedir,
	.statfs = ov_statfs,
	.create = ov_create,
	.fallocate = ov_fallocate,
};
