/* SPDX-License-Identifier: MIT */
/* Journaled update of a workspace tree from one manifest version to the
 * next (see tree.h). Every path is resolved one component at a time with
 * O_NOFOLLOW from the tree's own descriptor, so nothing a command left in
 * the tree (a symlink where a directory was) can redirect a write. */
#include "tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "failpoint.h"
#include "rmtree.h"
#include "zchunk.h"

/* Past this many new files, one syncfs beats an fsync each. */
#define FSYNC_EACH_MAX 32

/* ---- walking paths without following anything ---- */

/* The directories of the last path opened, each still open: manifest order
 * visits a directory's entries together and its subdirectories next, so
 * the next path mostly shares all but its last components. */
struct walker {
	int root;
	int *fds;     /* fds[i]: component i of dir */
	size_t *ends; /* ends[i]: where component i of dir ends */
	size_t depth, cap;
	char dir[SD_PATH_MAX + 1];
};

static void walker_close_to(struct walker *w, size_t depth)
{
	while (w->depth > depth)
		close(w->fds[--w->depth]);
}

static void walker_reset(struct walker *w)
{
	walker_close_to(w, 0);
	free(w->fds);
	free(w->ends);
	w->fds = NULL;
	w->ends = NULL;
	w->cap = 0;
}

/* One component under cur, as a real directory: created when missing
 * (mode 0755 until its entry sets it), and whatever else stands there
 * replaced. The new descriptor, or -errno. */
static int open_component(int cur, const char *comp)
{
	int next = -1;

	for (int tries = 0;; tries++) {
		next = openat(cur, comp,
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next >= 0 || tries == 2)
			break;
		if (errno == ENOTDIR || errno == ELOOP) {
			int r = util_rm_rf_at(cur, comp);

			if (r < 0)
				return r;
		} else if (errno != ENOENT) {
			break;
		}
		if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST)
			break;
	}
	return next >= 0 ? next : -errno;
}

/* Open dir path (len bytes, "" for the root) as a real directory, each
 * component without following it. */
static int open_dir(struct walker *w, const char *path, size_t len, int *out)
{
	char comp[SD_NAME_MAX + 1];
	size_t k = 0, i;

	if (len > SD_PATH_MAX)
		return -ENAMETOOLONG;
	/* How many open components path shares with the last one. */
	while (k < w->depth && w->ends[k] <= len &&
	       (w->ends[k] == len || path[w->ends[k]] == '/') &&
	       !memcmp(w->dir, path, w->ends[k]))
		k++;
	walker_close_to(w, k);
	i = k ? w->ends[k - 1] + 1 : 0;
	memcpy(w->dir, path, len);
	while (i < len) {
		const char *slash = memchr(path + i, '/', len - i);
		size_t j = slash ? (size_t)(slash - path) : len;
		int cur = w->depth ? w->fds[w->depth - 1] : w->root, fd;

		if (j - i > SD_NAME_MAX)
			return -ENAMETOOLONG;
		if (w->depth == w->cap) {
			size_t cap = w->cap ? 2 * w->cap : 16;
			int *fds = realloc(w->fds, cap * sizeof(*fds));
			size_t *ends;

			if (!fds)
				return -ENOMEM;
			w->fds = fds;
			ends = realloc(w->ends, cap * sizeof(*ends));
			if (!ends)
				return -ENOMEM;
			w->ends = ends;
			w->cap = cap;
		}
		memcpy(comp, path + i, j - i);
		comp[j - i] = '\0';
		fd = open_component(cur, comp);
		if (fd < 0)
			return fd;
		w->fds[w->depth] = fd;
		w->ends[w->depth++] = j;
		i = j + 1;
	}
	*out = w->depth ? w->fds[w->depth - 1] : w->root;
	return 0;
}

/* The parent directory of path and its last component. */
static int open_parent(struct walker *w, const char *path, size_t len, int *fd,
		       const char **leaf)
{
	const char *slash = memrchr(path, '/', len);
	size_t plen = slash ? (size_t)(slash - path) : 0;

	*leaf = slash ? slash + 1 : path;
	return open_dir(w, path, plen, fd);
}

/* ---- the change set of one delta ---- */

static bool same_chunks(const struct sd_entry *a, const struct sd_entry *b)
{
	if (a->nchunks != b->nchunks)
		return false;
	for (uint32_t i = 0; i < a->nchunks; i++)
		if (!sd_id_eq(&a->chunks[i].id, &b->chunks[i].id) ||
		    a->chunks[i].len != b->chunks[i].len)
			return false;
	return true;
}

/* A put that needs new bytes on disk (a staged file or symlink), as
 * opposed to a directory, a hard link, or a metadata-only change. */
static bool needs_stage(const struct sd_manifest *old, const struct sd_entry *e)
{
	const struct sd_entry *o;

	if (e->type == SD_T_SYMLINK)
		return true;
	if (e->type != SD_T_FILE)
		return false;
	o = sd_manifest_find(old, e->path, e->path_len);
	return !o || o->type != SD_T_FILE || !same_chunks(o, e);
}

static bool is_dir_type(uint8_t t)
{
	return t == SD_T_DIR;
}

/* Staged files are named by version and put index, so that a redo never
 * takes the files of an update that did not reach its commit point, in
 * directories of at most STAGE_BUCKET files (one flat directory of 80,000
 * is slow to fill on ext4): "VERSION-BUCKET/INDEX". */
#define STAGE_BUCKET 1024u

static void stage_name(char buf[64], uint64_t version, size_t i)
{
	snprintf(buf, 64, "%" PRIu64 "-%zu/%zu", version, i / STAGE_BUCKET, i);
}

/* The bucket directory of put i, made when i opens a new one. */
static int stage_bucket(int sfd, uint64_t version, size_t i, size_t *made)
{
	char dir[48];

	if (*made == i / STAGE_BUCKET + 1)
		return 0;
	snprintf(dir, sizeof(dir), "%" PRIu64 "-%zu", version,
		 i / STAGE_BUCKET);
	if (mkdirat(sfd, dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	*made = i / STAGE_BUCKET + 1;
	return 0;
}

static struct timespec ts_of(int64_t ns)
{
	int64_t s = ns / 1000000000, r = ns % 1000000000;

	if (r < 0) {
		r += 1000000000;
		s--;
	}
	return (struct timespec){ .tv_sec = s, .tv_nsec = r };
}

/* ---- staging (before the commit point) ---- */

static bool all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int stage_file(int sfd, const char *name, const struct sd_entry *e,
		      const struct sd_tree_src *src, uint8_t *buf,
		      struct sd_err *why)
{
	_cleanup_close_ int fd = -1;
	struct timespec ts[2];
	uint64_t off = 0;
	int r;

	fd = openat(sfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return sd_err_set(why, -errno, "staging %s: %s", e->path,
				  strerror(errno));
	for (uint32_t i = 0; i < e->nchunks; i++) {
		uint32_t n = e->chunks[i].len;

		r = src->read(src->opaque, &e->chunks[i].id, buf, n, why);
		if (r < 0)
			return r;
		/* Runs of zeros stay holes: a sparse file stays sparse. */
		if (!all_zero(buf, n)) {
			for (uint32_t done = 0; done < n;) {
				ssize_t k = pwrite(fd, buf + done, n - done,
						   (off_t)(off + done));

				if (k < 0) {
					if (errno == EINTR)
						continue;
					return sd_err_set(why, -errno,
							  "writing %s: %s",
							  e->path,
							  strerror(errno));
				}
				done += (uint32_t)k;
			}
		}
		off += n;
	}
	if (ftruncate(fd, (off_t)e->size) < 0 ||
	    fchmod(fd, (mode_t)e->mode) < 0)
		return sd_err_set(why, -errno, "staging %s: %s", e->path,
				  strerror(errno));
	ts[0] = ts[1] = ts_of(e->mtime_ns);
	if (futimens(fd, ts) < 0)
		return sd_err_set(why, -errno, "staging %s: %s", e->path,
				  strerror(errno));
	return 0;
}

static int stage_all(const struct sd_tree *t, int sfd,
		     const struct sd_manifest *old, const struct sd_delta *d,
		     const struct sd_tree_src *src, bool redo,
		     struct sd_err *why)
{
	_cleanup_free_ uint8_t *buf = malloc(SD_CHUNK_MAX);
	size_t staged = 0, made = 0;
	char name[64];
	int r;

	if (!buf)
		return sd_err_set(why, -ENOMEM, "out of memory");
	for (size_t i = 0; i < d->put.count; i++) {
		const struct sd_entry *e = &d->put.e[i];
		struct timespec ts[2];

		if (!needs_stage(old, e))
			continue;
		if (staged++ == 1 && !redo)
			util_failpoint("tree-staging");
		r = stage_bucket(sfd, d->version, i, &made);
		if (r < 0)
			return sd_err_set(why, r, "staging %s: %s", e->path,
					  strerror(-r));
		stage_name(name, d->version, i);
		if (e->type == SD_T_FILE) {
			r = stage_file(sfd, name, e, src, buf, why);
			if (r < 0)
				return r;
			continue;
		}
		if (symlinkat(e->target, sfd, name) < 0)
			return sd_err_set(why, -errno, "staging symlink %s: %s",
					  e->path, strerror(errno));
		ts[0] = ts[1] = ts_of(e->mtime_ns);
		if (utimensat(sfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return sd_err_set(why, -errno, "staging symlink %s: %s",
					  e->path, strerror(errno));
	}
	return 0;
}

/* ---- applying (after the commit point; idempotent) ---- */

static int entry_fail(struct sd_err *why, int r, const char *what,
		      const struct sd_entry *e)
{
	return sd_err_set(why, r, "%s %s: %s", what, e->path, strerror(-r));
}

static int lstat_type(int pfd, const char *leaf, mode_t *fmt)
{
	struct stat st;

	if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	*fmt = st.st_mode & S_IFMT;
	return 0;
}

/* Deletions, and whatever sits where a put needs another kind of entry. */
static int apply_deletes(struct walker *w, const struct sd_delta *d,
			 const struct sd_manifest *new, struct sd_err *why)
{
	const char *leaf;
	mode_t fmt = 0;
	int pfd, r;

	for (size_t i = 0; i < d->ndel; i++) {
		const struct sd_entry *n =
			sd_manifest_find(new, d->del[i], d->del_len[i]);

		r = open_parent(w, d->del[i], d->del_len[i], &pfd, &leaf);
		if (r == -ENOENT)
			continue;
		if (r == 0 && n && lstat_type(pfd, leaf, &fmt) == 0 &&
		    (fmt == S_IFDIR) == is_dir_type(n->type))
			continue;
		if (r == 0)
			r = util_rm_rf_at(pfd, leaf);
		if (r < 0)
			return sd_err_set(why, r, "deleting %s: %s", d->del[i],
					  strerror(-r));
	}
	for (size_t i = 0; i < d->put.count; i++) {
		const struct sd_entry *e = &d->put.e[i];

		r = open_parent(w, e->path, e->path_len, &pfd, &leaf);
		if (r < 0)
			return entry_fail(why, r, "opening the parent of", e);
		if (lstat_type(pfd, leaf, &fmt) < 0)
			continue;
		if ((fmt == S_IFDIR) != is_dir_type(e->type)) {
			r = util_rm_rf_at(pfd, leaf);
			if (r < 0)
				return entry_fail(why, r, "replacing", e);
		}
	}
	return 0;
}

static int apply_puts(struct walker *w, int sfd, const struct sd_manifest *old,
		      const struct sd_delta *d, struct sd_err *why)
{
	struct timespec ts[2];
	const char *leaf;
	char name[64];
	int pfd, r;

	for (size_t i = 0; i < d->put.count; i++) {
		const struct sd_entry *e = &d->put.e[i];

		if (e->type == SD_T_DIR) {
			/* Writable by its owner until its entries are in
			 * place; apply_dir_meta() sets the mode last. */
			r = open_dir(w, e->path, e->path_len, &pfd);
			if (r == 0 &&
			    fchmod(pfd, (mode_t)e->mode | S_IRWXU) < 0)
				r = -errno;
			if (r < 0)
				return entry_fail(why, r, "creating", e);
			continue;
		}
		if (e->type == SD_T_HARDLINK)
			continue;
		r = open_parent(w, e->path, e->path_len, &pfd, &leaf);
		if (r < 0)
			return entry_fail(why, r, "opening the parent of", e);
		if (!needs_stage(old, e)) {
			/* Same bytes: only mode and time change. */
			ts[0] = ts[1] = ts_of(e->mtime_ns);
			if (fchmodat(pfd, leaf, (mode_t)e->mode, 0) < 0 ||
			    utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
				return entry_fail(why, -errno, "updating", e);
			continue;
		}
		stage_name(name, d->version, i);
		if (renameat(sfd, name, pfd, leaf) < 0) {
			mode_t fmt;

			/* Recovery: renamed before the crash. */
			if (errno == ENOENT && lstat_type(pfd, leaf, &fmt) == 0)
				continue;
			return entry_fail(why, -errno, "placing", e);
		}
	}
	return 0;
}

/* Whether a put (in d) changed the bytes of the file at path. */
static bool content_changed(const struct sd_manifest *old,
			    const struct sd_delta *d, const char *path,
			    size_t len)
{
	for (size_t i = 0; i < d->put.count; i++) {
		const struct sd_entry *e = &d->put.e[i];

		if (e->path_len == len && !memcmp(e->path, path, len))
			return needs_stage(old, e);
	}
	return false;
}

/* Hard links: new ones, and old ones whose file got new bytes (a rename
 * replaced its inode). */
static int apply_links(struct walker *w, const struct sd_manifest *old,
		       const struct sd_delta *d, const struct sd_manifest *new,
		       struct sd_err *why)
{
	const char *leaf, *tleaf;
	int pfd, tfd, r;

	if (new->nhardlinks == 0)
		return 0;
	for (size_t i = 0; i < new->count; i++) {
		const struct sd_entry *e = &new->e[i];
		const struct sd_entry *o;
		struct walker tw;

		if (e->type != SD_T_HARDLINK)
			continue;
		/* Not before the test: a walker is a few KiB to clear, and
		 * this loop sees every entry of the tree. */
		tw = (struct walker){ .root = w->root };
		o = sd_manifest_find(old, e->path, e->path_len);
		if (o && o->type == SD_T_HARDLINK &&
		    o->target_len == e->target_len &&
		    !memcmp(o->target, e->target, e->target_len) &&
		    !content_changed(old, d, e->target, e->target_len))
			continue;
		r = open_parent(&tw, e->target, e->target_len, &tfd, &tleaf);
		if (r == 0)
			r = open_parent(w, e->path, e->path_len, &pfd, &leaf);
		if (r == 0 && unlinkat(pfd, leaf, 0) < 0 && errno != ENOENT)
			r = -errno;
		if (r == 0 && linkat(tfd, tleaf, pfd, leaf, 0) < 0)
			r = -errno;
		walker_reset(&tw);
		if (r < 0)
			return entry_fail(why, r, "linking", e);
	}
	return 0;
}

static int cmp_desc(const void *a, const void *b)
{
	const struct sd_entry *x = *(const struct sd_entry *const *)a;
	const struct sd_entry *y = *(const struct sd_entry *const *)b;
	size_t n = x->path_len < y->path_len ? x->path_len : y->path_len;
	int c = memcmp(x->path, y->path, n);

	if (c == 0)
		c = x->path_len < y->path_len ? -1 : x->path_len > y->path_len;
	return -c;
}

/* The directories a delta touched, deepest first, each once: those it puts,
 * and the parents of what it puts or deletes (adding, removing or renaming
 * an entry changes its directory). *ret is malloc'd. */
static bool puts_sorted(const struct sd_delta *d)
{
	for (size_t i = 1; i < d->put.count; i++)
		if (sd_path_cmp(d->put.e[i - 1].path, d->put.e[i - 1].path_len,
				d->put.e[i].path, d->put.e[i].path_len) >= 0)
			return false;
	return true;
}

/* Whether d puts a file at path. */
static bool puts_file(const struct sd_delta *d, bool sorted, const char *path,
		      size_t len)
{
	size_t lo = 0, hi = d->put.count;

	if (!sorted) {
		for (size_t i = 0; i < d->put.count; i++)
			if (d->put.e[i].type == SD_T_FILE &&
			    d->put.e[i].path_len == len &&
			    !memcmp(d->put.e[i].path, path, len))
				return true;
		return false;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = sd_path_cmp(d->put.e[mid].path, d->put.e[mid].path_len,
				    path, len);

		if (c == 0)
			return d->put.e[mid].type == SD_T_FILE;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int touched_dirs(const struct sd_delta *d, const struct sd_manifest *new,
			const struct sd_entry ***ret, size_t *count)
{
	size_t n = 0, u = 0, nlinks, cap = d->put.count + d->ndel;
	const struct sd_entry **dirs;
	bool sorted = puts_sorted(d);

	/* A hard link re-made because its file was rewritten changes its
	 * directory too. */
	nlinks = new->nhardlinks;
	dirs = calloc(2 * cap + nlinks + 1, sizeof(*dirs));
	if (!dirs)
		return -ENOMEM;
	for (size_t i = 0; nlinks && i < new->count; i++) {
		const struct sd_entry *h = &new->e[i], *e;
		const char *slash = memrchr(h->path, '/', h->path_len);

		if (h->type == SD_T_HARDLINK && slash &&
		    puts_file(d, sorted, h->target, h->target_len) &&
		    (e = sd_manifest_find(new, h->path,
					  (size_t)(slash - h->path))))
			dirs[n++] = e;
	}
	for (size_t i = 0; i < cap; i++) {
		const char *p = i < d->put.count ? d->put.e[i].path
						 : d->del[i - d->put.count];
		size_t len = i < d->put.count ? d->put.e[i].path_len
					      : d->del_len[i - d->put.count];
		const char *slash = memrchr(p, '/', len);
		const struct sd_entry *e;

		if (i < d->put.count && d->put.e[i].type == SD_T_DIR)
			dirs[n++] = &d->put.e[i];
		if (slash &&
		    (e = sd_manifest_find(new, p, (size_t)(slash - p))))
			dirs[n++] = e;
	}
	qsort(dirs, n, sizeof(*dirs), cmp_desc);
	for (size_t i = 0; i < n; i++)
		if (!u || sd_path_cmp(dirs[u - 1]->path, dirs[u - 1]->path_len,
				      dirs[i]->path, dirs[i]->path_len))
			dirs[u++] = dirs[i];
	*ret = dirs;
	*count = u;
	return 0;
}

/* Before the changes: every touched directory that exists becomes
 * writable by its owner (a node that is not root could not place entries
 * in a 0555 directory); apply_dir_meta() restores the modes. */
static int unlock_dirs(struct walker *w, const struct sd_delta *d,
		       const struct sd_manifest *new, struct sd_err *why)
{
	_cleanup_free_ const struct sd_entry **dirs = NULL;
	const char *leaf;
	struct stat st;
	size_t n;
	int pfd;

	if (touched_dirs(d, new, &dirs, &n) < 0)
		return sd_err_set(why, -ENOMEM, "out of memory");
	/* Shallowest first: a directory's parent is writable before it. */
	for (size_t i = n; i-- > 0;) {
		if (open_parent(w, dirs[i]->path, dirs[i]->path_len, &pfd,
				&leaf) < 0 ||
		    fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode) || (st.st_mode & S_IRWXU) == S_IRWXU)
			continue;
		if (fchmodat(pfd, leaf, (st.st_mode & 07777) | S_IRWXU, 0) < 0)
			return entry_fail(why, -errno, "opening up", dirs[i]);
	}
	return 0;
}

/* Set every touched directory's mode and mtime, deepest first. */
static int apply_dir_meta(struct walker *w, const struct sd_delta *d,
			  const struct sd_manifest *new, struct sd_err *why)
{
	_cleanup_free_ const struct sd_entry **dirs = NULL;
	struct timespec ts[2];
	const char *leaf;
	size_t n;
	int pfd, r;

	if (touched_dirs(d, new, &dirs, &n) < 0)
		return sd_err_set(why, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		r = open_parent(w, dirs[i]->path, dirs[i]->path_len, &pfd,
				&leaf);
		ts[0] = ts[1] = ts_of(dirs[i]->mtime_ns);
		if (r == 0 &&
		    (fchmodat(pfd, leaf, (mode_t)dirs[i]->mode, 0) < 0 ||
		     utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0))
			r = -errno;
		if (r < 0)
			return entry_fail(why, r,
					  "setting the mode and time of",
					  dirs[i]);
	}
	return 0;
}

static int apply_all(const struct sd_tree *t, int sfd,
		     const struct sd_manifest *old, const struct sd_delta *d,
		     const struct sd_manifest *new, bool redo,
		     struct sd_err *why)
{
	struct walker w = { 0 };
	int r;

	w.root = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w.root < 0)
		return sd_err_set(why, -errno, "workspace %s: %s", t->dir,
				  strerror(errno));
	r = unlock_dirs(&w, d, new, why);
	if (r == 0)
		r = apply_deletes(&w, d, new, why);
	if (!redo)
		util_failpoint("tree-deleted");
	if (r == 0)
		r = apply_puts(&w, sfd, old, d, why);
	if (r == 0)
		r = apply_links(&w, old, d, new, why);
	if (r == 0)
		r = apply_dir_meta(&w, d, new, why);
	walker_reset(&w);
	close(w.root);
	return r;
}

/* ---- entry points ---- */

static int open_stage(const struct sd_tree *t, bool clear, struct sd_err *why)
{
	int fd;

	if (mkdir(t->stage, 0700) < 0 && errno != EEXIST)
		return sd_err_set(why, -errno, "stage %s: %s", t->stage,
				  strerror(errno));
	fd = open(t->stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return sd_err_set(why, -errno, "stage %s: %s", t->stage,
				  strerror(errno));
	if (clear) {
		int r = util_rm_dir_contents(dup(fd));

		if (r < 0) {
			close(fd);
			return sd_err_set(why, r, "clearing %s: %s", t->stage,
					  strerror(-r));
		}
	}
	return fd;
}

int sd_tree_update(const struct sd_tree *t, const struct sd_manifest *old,
		   const struct sd_delta *d, const struct sd_manifest *new,
		   const struct sd_tree_src *src, sd_tree_commit_fn commit,
		   void *opaque, struct sd_err *why)
{
	_cleanup_close_ int sfd = -1;
	int r;

	if (mkdir(t->dir, 0755) < 0 && errno != EEXIST)
		return sd_err_set(why, -errno, "workspace %s: %s", t->dir,
				  strerror(errno));
	sfd = open_stage(t, true, why);
	if (sfd < 0)
		return sfd;
	r = stage_all(t, sfd, old, d, src, false, why);
	if (r == 0)
		r = commit(opaque, why);
	if (r < 0) {
		/* Before the commit point: the old version is untouched. */
		(void)!util_rm_dir_contents(dup(sfd));
		return r;
	}
	util_failpoint("tree-journaled");
	r = apply_all(t, sfd, old, d, new, false, why);
	util_failpoint("tree-applied");
	return r;
}

int sd_tree_redo(const struct sd_tree *t, const struct sd_manifest *old,
		 const struct sd_delta *d, const struct sd_manifest *new,
		 const struct sd_tree_src *src, struct sd_err *why)
{
	_cleanup_close_ int sfd = -1;
	int r;

	if (mkdir(t->dir, 0755) < 0 && errno != EEXIST)
		return sd_err_set(why, -errno, "workspace %s: %s", t->dir,
				  strerror(errno));
	/* Staged files were not synced before the commit point: write them
	 * again from the store (where every chunk is durable), whatever the
	 * stage or the tree holds. */
	sfd = open_stage(t, true, why);
	if (sfd < 0)
		return sfd;
	r = stage_all(t, sfd, old, d, src, true, why);
	if (r == 0)
		r = apply_all(t, sfd, old, d, new, true, why);
	return r;
}

static int fsync_at(int dfd, const char *leaf)
{
	_cleanup_close_ int fd =
		openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	/* A symlink cannot be opened: its parent's fsync covers it. */
	if (fd < 0)
		return errno == ELOOP ? 0 : -errno;
	return fsync(fd) < 0 ? -errno : 0;
}

int sd_tree_sync(const struct sd_tree *t, const struct sd_delta *d,
		 const struct sd_manifest *new, struct sd_err *why)
{
	_cleanup_free_ const struct sd_entry **dirs = NULL;
	struct walker w = { 0 };
	size_t ndirs, nfiles = 0;
	const char *leaf;
	int pfd, r = 0;

	w.root = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w.root < 0)
		return sd_err_set(why, -errno, "workspace %s: %s", t->dir,
				  strerror(errno));
	if (touched_dirs(d, new, &dirs, &ndirs) < 0) {
		close(w.root);
		return sd_err_set(why, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < d->put.count; i++)
		nfiles += d->put.e[i].type == SD_T_FILE;
	if (nfiles + ndirs > FSYNC_EACH_MAX) {
		if (syncfs(w.root) < 0)
			r = -errno;
	} else {
		for (size_t i = 0; i < d->put.count && r == 0; i++) {
			const struct sd_entry *e = &d->put.e[i];

			if (e->type != SD_T_FILE)
				continue;
			r = open_parent(&w, e->path, e->path_len, &pfd, &leaf);
			if (r == 0)
				r = fsync_at(pfd, leaf);
		}
		for (size_t i = 0; i < ndirs && r == 0; i++) {
			r = open_parent(&w, dirs[i]->path, dirs[i]->path_len,
					&pfd, &leaf);
			if (r == 0)
				r = fsync_at(pfd, leaf);
		}
		/* The top of the tree has no entry but holds entries too. */
		if (r == 0 && fsync(w.root) < 0)
			r = -errno;
	}
	walker_reset(&w);
	close(w.root);
	if (r < 0)
		return sd_err_set(why, r, "syncing %s: %s", t->dir,
				  strerror(-r));
	sd_tree_clear_stage(t);
	return 0;
}

void sd_tree_clear_stage(const struct sd_tree *t)
{
	int fd =
		open(t->stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0)
		(void)!util_rm_dir_contents(fd);
}
