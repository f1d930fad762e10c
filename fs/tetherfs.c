/* SPDX-License-Identifier: MIT */
#include "tetherfs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define CACHE_S TFS_CACHE_S

static void reply_entry(fuse_req_t req, int r, struct fs_attr *a)
{
	struct tfs *t = tfs_of(req);
	struct fuse_entry_param e = { 0 };

	if (r == 0)
		r = tfs_inodes_ref(t->inodes, t->view, a, NULL);
	if (r == -ENOENT) {
		/* A negative entry the kernel may keep: a new version that
		 * adds the name invalidates it. */
		e.entry_timeout = CACHE_S;
		fuse_reply_entry(req, &e);
		return;
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	e.ino = a->ino;
	e.generation = 1;
	e.attr = a->st;
	e.attr_timeout = CACHE_S;
	e.entry_timeout = CACHE_S;
	/* The kernel did not take it (the request was interrupted). */
	if (fuse_reply_entry(req, &e) < 0)
		tfs_inodes_forget(t->inodes, a->ino, 1);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_attr a;
	int r;

	tfs_asked(tfs_of(req));
	r = fs_view_lookup(tfs_of(req)->view, parent, name, strlen(name), &a);

	reply_entry(req, r, &a);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct tfs *t = tfs_of(req);
	struct tfs_inode *x;
	struct fs_attr a;
	int r = fs_view_getattr(t->view, ino, &a);

	(void)fi;
	/* An inode the kernel still holds answers for itself once it left
	 * the view (a file open across a new version). */
	if (r == -ENOENT && (x = tfs_inodes_find(t->inodes, ino))) {
		a = x->attr;
		r = 0;
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &a.st, CACHE_S);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[SD_PATH_MAX + 1];
	ssize_t n = fs_view_readlink(tfs_of(req)->view, ino, buf, sizeof(buf));

	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_readlink(req, buf);
}

struct dirbuf {
	fuse_req_t req;
	struct fs_view *view;
	bool plus; /* readdirplus: each name with its attributes */
	fuse_ino_t dir;
	char *p;
	size_t cap, len;
};

static bool add_dirent(void *opaque, const struct fs_dirent *d)
{
	struct dirbuf *b = opaque;
	struct stat st = { .st_ino = d->ino, .st_mode = d->type };
	char name[SD_NAME_MAX + 1];
	size_t n;

	if (d->name_len > SD_NAME_MAX)
		return false;
	memcpy(name, d->name, d->name_len);
	name[d->name_len] = '\0';
	if (b->plus) {
		struct fuse_entry_param e = { .attr = st };
		struct fs_attr a;
		bool dot =
			(d->name_len == 1 && name[0] == '.') ||
			(d->name_len == 2 && name[0] == '.' && name[1] == '.');

		/* "." and "..": no entry, so no lookup reference. A name a
		 * commit removed meanwhile is left out. */
		if (!dot && fs_view_getattr(b->view, d->ino, &a) < 0)
			return true;
		if (!dot) {
			e.ino = a.ino;
			e.generation = 1;
			e.attr = a.st;
			e.attr_timeout = CACHE_S;
			e.entry_timeout = CACHE_S;
		}
		n = fuse_add_direntry_plus(b->req, b->p + b->len,
					   b->cap - b->len, name, &e,
					   (off_t)d->next_off);
		/* Every entry with an inode is a lookup the kernel counts. */
		if (!dot && n <= b->cap - b->len) {
			struct tfs *t = tfs_of(b->req);
			struct tfs_at at = { b->dir, name, d->name_len, false,
					     0 };

			if (tfs_inodes_ref(t->inodes, b->view, &a,
					   t->upper ? &at : NULL) < 0)
				return false;
		}
	} else {
		n = fuse_add_direntry(b->req, b->p + b->len, b->cap - b->len,
				      name, &st, (off_t)d->next_off);
	}
	if (n > b->cap - b->len)
		return false; /* full: this entry comes in the next call */
	b->len += n;
	return true;
}

void tfs_readdir_lower(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       bool plus)
{
	struct dirbuf b = { req, tfs_of(req)->view,	  plus,
			    ino, malloc(size ? size : 1), size,
			    0 };
	int r;

	tfs_asked(tfs_of(req));
	if (!b.p) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = fs_view_readdir(tfs_of(req)->view, ino, (uint64_t)off, add_dirent,
			    &b);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, b.p, b.len);
	free(b.p);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	tfs_readdir_lower(req, ino, size, off, false);
}

/* A listing that brings every name's attributes along: a walk of the tree
 * (find, ls -l, git status) costs a request per directory page, not a
 * LOOKUP per name. */
static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	tfs_readdir_lower(req, ino, size, off, true);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	/* Reads go by inode (inodes.h): nothing to keep per open. Where the
	 * kernel can, it stops asking (an OPEN and a RELEASE round trip
	 * less per file). */
	if (tfs_of(req)->no_open) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	fi->keep_cache = 1; /* an inode's bytes never change */
	fuse_reply_open(req, fi);
}

void tfs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	tfs_inodes_forget(tfs_of(req)->inodes, ino, nlookup);
	fuse_reply_none(req);
}

void tfs_op_forget_multi(fuse_req_t req, size_t count,
			 struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		tfs_inodes_forget(tfs_of(req)->inodes, forgets[i].ino,
				  forgets[i].nlookup);
	fuse_reply_none(req);
}

void tfs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct tfs *t = userdata;

	/* No OPEN, RELEASE or FLUSH round trip per file where the kernel
	 * can do without (a writable view then opens the upper's file for
	 * each read or write of it, overlay_io.c). */
	t->no_open = conn->capable & FUSE_CAP_NO_OPEN_SUPPORT;
	/* A writable view copies up on a truncate: O_TRUNC must come as a
	 * SETATTR, since no OPEN carries it. */
	if (t->upper && t->no_open)
		conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
}

int tfs_store_get(void *store, const struct fs_file *f, uint32_t i, void *dst,
		  size_t cap, struct sd_err *why)
{
	const struct sd_chunkref *c = &f->chunks[i];
	size_t got = 0;
	int r = sd_store_get(store, &c->id, dst, cap, &got, why);

	if (r == 0 && got != c->len) {
		snprintf(why->what, sizeof(why->what),
			 "%zu bytes, the manifest says %" PRIu32, got, c->len);
		r = -EIO;
	}
	return r;
}

int tfs_define(struct tfs *t, const struct fs_file *f, struct fs_file *out)
{
	struct sd_err why = { "" };
	int r = t->src.define ? t->src.define(t->src.opaque, f, out, &why)
			      : sd_err_set(&why, -EIO,
					   "its content is not known here "
					   "yet");

	if (r < 0) {
		log_error("view %s: %s: %s", t->name, f->path ? f->path : "?",
			  why.what[0] ? why.what : strerror(-r));
		return r == -ENOMEM ? r : -EIO;
	}
	return 0;
}

/* The chunks of h's lower file: f, or once defined, a pending one's
 * (under h->lock). NULL with *r set when it cannot be had. */
static const struct fs_file *chunks_of(struct tfs *t, struct tfs_inode *h,
				       int *r)
{
	struct fs_file *d;

	if (!h->f.pending)
		return &h->f;
	if (h->def)
		return h->def;
	d = calloc(1, sizeof(*d));
	*r = d ? tfs_define(t, &h->f, d) : -ENOMEM;
	if (*r < 0) {
		free(d);
		return NULL;
	}
	h->def = d;
	return d;
}

/* Chunk i of f (h's) into h->buf (under h->lock). 0 or -errno, logged. */
static int load_chunk(struct tfs *t, struct tfs_inode *h,
		      const struct fs_file *f, uint32_t i)
{
	const struct sd_chunkref *c = &f->chunks[i];
	struct sd_err why = { "" };
	int r;

	if (h->cached == i)
		return 0;
	if (h->cap < c->len) {
		uint8_t *nb = realloc(h->buf, c->len);

		if (!nb)
			return -ENOMEM;
		h->buf = nb;
		h->cap = c->len;
	}
	h->cached = UINT32_MAX;
	r = t->src.get(t->src.opaque, f, i, h->buf, h->cap, &why);
	if (r < 0) {
		char hex[SD_ID_HEX];

		log_error("view %s: inode %" PRIu64 ": chunk %s: %s", t->name,
			  f->ino, sd_id_hex(&c->id, hex),
			  why.what[0] ? why.what : strerror(-r));
		return r == -ENOMEM ? r : -EIO;
	}
	h->cached = i;
	return 0;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)fi;
	tfs_read_lower(req, tfs_inodes_find(tfs_of(req)->inodes, ino), size,
		       off);
}

void tfs_read_lower(fuse_req_t req, struct tfs_inode *h, size_t size, off_t off)
{
	const struct fs_file *f;
	uint64_t pos = (uint64_t)off, end;
	uint8_t *out;
	size_t n = 0;
	int r = 0;

	if (!h || !h->is_file) {
		log_error("view %s: a read of an inode the kernel never looked "
			  "up, or that left the upper layer",
			  tfs_of(req)->name);
		fuse_reply_err(req, EIO);
		return;
	}
	if (off < 0 || pos >= h->f.size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	end = h->f.size - pos < size ? h->f.size : pos + size;
	out = malloc((size_t)(end - pos));
	if (!out) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&h->lock);
	f = chunks_of(tfs_of(req), h, &r);
	for (uint32_t i = f ? fs_file_chunk_at(f, pos) : 0; f && pos < end;
	     i++) {
		uint64_t cstart = f->ends[i] - f->chunks[i].len;
		uint64_t take = (f->ends[i] < end ? f->ends[i] : end) - pos;

		r = load_chunk(tfs_of(req), h, f, i);
		if (r < 0)
			break;
		memcpy(out + n, h->buf + (pos - cstart), (size_t)take);
		n += (size_t)take;
		pos += take;
	}
	pthread_mutex_unlock(&h->lock);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, (const char *)out, n);
	free(out);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st = { .f_bsize = 4096,
			      .f_frsize = 4096,
			      .f_namemax = SD_NAME_MAX };
	uint64_t files = 0, bytes = 0;

	(void)ino;
	fs_view_counts(tfs_of(req)->view, &files, &bytes);
	st.f_blocks = (fsblkcnt_t)((bytes + 4095) / 4096);
	st.f_files = (fsfilcnt_t)files;
	fuse_reply_statfs(req, &st);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = op_lookup,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.init = tfs_op_init,
	.forget = tfs_op_forget,
	.forget_multi = tfs_op_forget_multi,
	.open = op_open,
	.read = op_read,
	.statfs = op_statfs,
};

static void *loop_main(void *arg)
{
	struct tfs *t = arg;
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();

	if (!cfg) {
		log_error("view %s: out of memory", t->name);
		return NULL;
	}
	fuse_loop_cfg_set_max_threads(cfg, 8);
	fuse_session_loop_mt(t->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	atomic_store(&t->loop_done, true);
	return NULL;
}

/* Tell the kernel to forget what a new version changed. ENOENT means it
 * had nothing cached for it. */
static void on_inval(void *opaque, enum fs_inval kind, uint64_t ino,
		     uint64_t parent, const char *name, size_t name_len)
{
	struct tfs *t = opaque;
	int r;

	if (!atomic_load(&t->asked) &&
	    (kind != FS_INVAL_INODE || ino != FUSE_ROOT_ID))
		return; /* nothing of it in the kernel yet */
	/* Attributes only (offset -1): an inode's bytes never change, a file
	 * with new bytes is a new inode (view.h), so its pages stay good for
	 * whoever still reads it. */
	if (kind == FS_INVAL_INODE)
		r = fuse_lowlevel_notify_inval_inode(t->se, ino, -1, 0);
	else
		r = fuse_lowlevel_notify_inval_entry(t->se, parent, name,
						     name_len);
	if (r < 0 && r != -ENOENT)
		log_debug("view %s: invalidating inode %" PRIu64 ": %s",
			  t->name, kind == FS_INVAL_INODE ? ino : parent,
			  strerror(-r));
}

int tfs_set(struct tfs *t, const struct sd_manifest *m)
{
	void *hold = NULL;
	const struct sd_manifest *old = t->upper ? fs_view_hold(t->view, &hold)
						 : NULL;
	int r = fs_view_set(t->view, m, t->mounted ? on_inval : NULL, t);

	/* What commands changed and the agent now has too leaves the
	 * upper (overlay_prune.c). */
	if (r == 0 && old)
		tfs_rw_prune(t, old, m);
	if (hold)
		fs_view_release(hold);
	return r;
}

int tfs_reset(struct tfs *t)
{
	return t->upper ? tfs_rw_reset(t) : -EROFS;
}

int tfs_upper_tree(struct tfs *t)
{
	int fd;

	if (!t->upper)
		return -EROFS;
	pthread_mutex_lock(&t->nslock);
	fd = fs_upper_dir(t->upper, "", 0);
	pthread_mutex_unlock(&t->nslock);
	return fd;
}

struct fs_bases *tfs_bases(struct tfs *t)
{
	return t->upper ? fs_upper_bases(t->upper) : NULL;
}

const struct sd_manifest *tfs_hold(struct tfs *t, void **hold)
{
	return fs_view_hold(t->view, hold);
}

bool tfs_alive(struct tfs *t)
{
	return !atomic_load(&t->loop_done);
}

int tfs_mount(const char *mountpoint, const char *name,
	      const struct tfs_source *src, const char *upper, struct tfs **ret,
	      struct sd_err *why)
{
	struct tfs *t = calloc(1, sizeof(*t));
	char opts[160];
	char *argv[] = { "tether", "-o", opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct stat st;
	int r;

	if (!t)
		return -ENOMEM;
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(
		opts, sizeof(opts),
		"%sallow_other,default_permissions,fsname=tether:%s,subtype=tether",
		upper ? "" : "ro,", name);
	t->src = *src;
	pthread_mutex_init(&t->nslock, NULL);
	t->mountpoint = strdup(mountpoint);
	r = t->mountpoint ? fs_view_new(&t->view) : -ENOMEM;
	if (r == 0)
		r = tfs_inodes_new(&t->inodes);
	if (r == 0 && upper) {
		r = fs_upper_open(upper, &t->upper);
		if (r < 0)
			snprintf(why->what, sizeof(why->what),
				 "view %s: upper layer %s: %s", name, upper,
				 strerror(-r));
		else
			atomic_store(&t->clean,
				     fs_upper_is_empty(t->upper) == 1);
	}
	if (r < 0)
		goto fail;
	t->se = fuse_session_new(&args, upper ? &tfs_rw_ops : &ops, sizeof(ops),
				 t);
	if (!t->se) {
		snprintf(why->what, sizeof(why->what),
			 "view %s: cannot start a FUSE session", name);
		r = -EIO;
		goto fail;
	}
	if (fuse_session_mount(t->se, mountpoint) != 0) {
		snprintf(
			why->what, sizeof(why->what),
			"view %s: cannot mount FUSE at %s (is /dev/fuse there?)",
			name, mountpoint);
		r = -ENODEV;
		goto fail;
	}
	t->mounted = true;
	r = -pthread_create(&t->loop, NULL, loop_main, t);
	if (r < 0) {
		snprintf(why->what, sizeof(why->what), "view %s: %s", name,
			 strerror(-r));
		goto fail;
	}
	t->loop_started = true;
	/* Answered by the loop (never stat a view before it runs). */
	if (stat(mountpoint, &st) == 0)
		t->dev = st.st_dev;
	fuse_opt_free_args(&args);
	*ret = t;
	return 0;
fail:
	fuse_opt_free_args(&args);
	tfs_unmount(t);
	return r;
}

/* End the FUSE connection of the mount on dev, whoever still holds it: its
 * requests fail with ENOTCONN and our loop's reads end. Through the
 * fusectl file system, mounted here if nobody did. */
static void abort_conn(dev_t dev)
{
	static const char ctl[] = "/sys/fs/fuse/connections";
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "%s/%u/abort", ctl, minor(dev));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT &&
	    mount("fusectl", ctl, "fusectl", 0, NULL) == 0)
		fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void)!write(fd, "1", 1);
		close(fd);
	}
}

void tfs_unmount(struct tfs *t)
{
	struct timespec ts;

	if (!t)
		return;
	if (t->se) {
		fuse_session_exit(t->se);
		/* The loop's reads of /dev/fuse end with the connection: the
		 * unmount ends it unless a process still holds a file or a
		 * cwd in the view (the lazy unmount leaves those be), or
		 * someone unmounted it lazily before us; then abort it. */
		/* Unmounted here first: fuse_session_unmount() closes
		 * /dev/fuse, which the loop's threads may still read (a race
		 * TSan sees); it closes it below, once they are gone (the
		 * connection then reports POLLERR, and it unmounts nothing
		 * more). Without the right to (not root), fusermount3 does
		 * it now. */
		if (t->mounted && umount2(t->mountpoint, MNT_DETACH) < 0 &&
		    errno != EINVAL) {
			fuse_session_unmount(t->se);
			t->mounted = false;
		}
		if (t->loop_started) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			if (pthread_timedjoin_np(t->loop, NULL, &ts) != 0) {
				abort_conn(t->dev);
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += 5;
				if (pthread_timedjoin_np(t->loop, NULL, &ts) !=
				    0) {
					log_warn("view %s: its FUSE loop does "
						 "not stop; leaving it",
						 t->name);
					return;
				}
			}
		}
		if (t->mounted)
			fuse_session_unmount(t->se);
		fuse_session_destroy(t->se);
	}
	tfs_inodes_free(t->inodes);
	fs_view_free(t->view);
	fs_upper_free(t->upper);
	pthread_mutex_destroy(&t->nslock);
	free(t->mountpoint);
	free(t);
}

int tfs_clear_stale(const char *path)
{
	if (umount2(path, MNT_DETACH) == 0) {
		log_warn("detached a stale view at %s (a node died)", path);
		return 0;
	}
	return errno == EINVAL || errno == ENOENT ? 0 : -errno;
}
