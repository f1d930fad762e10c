/* SPDX-License-Identifier: MIT */
/* When a new version of the workspace arrives, the upper lets go of what
 * the version now holds as it is: a file whose bytes, size and mode the
 * version has (a change written back to the agent, then synced), the
 * same symlink, a whiteout of a path the version no longer has. Else
 * every change written back would stay in the upper, shown as changed,
 * and the agent's next edit of it would look like a conflict. Only the
 * paths the version changed are looked at. */
#include "overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "log.h"

/* The upper file's bytes where the lower's chunk is: 1 when they differ
 * (or cannot be read), which ends the walk. */
struct cmp {
	int fd;
	uint8_t *buf;
	size_t cap;
};

static int cmp_chunk(void *opaque, const uint8_t *p, uint32_t n, uint64_t off)
{
	struct cmp *c = opaque;

	if (c->cap < n) {
		uint8_t *nb = realloc(c->buf, n);

		if (!nb)
			return 1;
		c->buf = nb;
		c->cap = n;
	}
	return pread(c->fd, c->buf, n, (off_t)off) != (ssize_t)n ||
	       memcmp(p, c->buf, n) != 0;
}

/* Whether the upper file open at fd holds exactly lower file f's bytes. */
static bool same_bytes(struct tfs *t, const struct fs_file *f, int fd)
{
	struct cmp c = { fd, NULL, 0 };
	int r = ov_each_chunk(t, f, cmp_chunk, &c);

	free(c.buf);
	return r == 0;
}

/* Whether base in dfd (stat st) is what the lower's entry at path (e,
 * in cur; NULL: none) is, so the upper need not keep it. */
static bool redundant(struct tfs *t, int dfd, const char *base,
		      const struct stat *st, const char *path, int len,
		      const struct sd_entry *e, const struct sd_manifest *cur)
{
	char target[SD_PATH_MAX + 1];
	struct fs_attr la;
	struct fs_file f;
	bool same;
	ssize_t n;
	int fd;

	if (fs_upper_is_whiteout(st))
		return e == NULL;
	if (!e)
		return false;
	if (S_ISLNK(st->st_mode)) {
		n = readlinkat(dfd, base, target, sizeof(target) - 1);
		return e->type == SD_T_SYMLINK && n == (ssize_t)e->target_len &&
		       memcmp(target, e->target, (size_t)n) == 0;
	}
	e = sd_manifest_resolve(cur, e);
	/* An upper file with other names keeps them: left alone. */
	if (!e || e->type != SD_T_FILE || !S_ISREG(st->st_mode) ||
	    st->st_nlink != 1 || (uint64_t)st->st_size != e->size ||
	    (st->st_mode & 07777) != e->mode)
		return false;
	if (fs_view_lookup_path(t->view, path, (size_t)len, &la) < 0 ||
	    fs_view_open(t->view, la.ino, &f) < 0)
		return false;
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	same = fd >= 0 && same_bytes(t, &f, fd);
	if (fd >= 0)
		close(fd);
	fs_file_free(&f);
	return same;
}

/* What the kernel must look up again: a name under its directory; or,
 * name NULL, a directory whose attributes are the lower's again. */
struct gone {
	uint64_t parent;
	char *name;
	char *dir; /* a name's directory path, to drop if left empty */
};

struct gones {
	struct gone *v;
	size_t n, cap;
};

static void add_gone(struct gones *g, uint64_t parent, const char *name,
		     const char *dir)
{
	if (g->n == g->cap) {
		size_t c = g->cap ? g->cap * 2 : 16;
		struct gone *v = realloc(g->v, c * sizeof(*v));

		if (!v)
			return;
		g->v = v;
		g->cap = c;
	}
	g->v[g->n].name = name ? strdup(name) : NULL;
	if (name && !g->v[g->n].name)
		return;
	g->v[g->n].dir = dir ? strdup(dir) : NULL;
	g->v[g->n].parent = parent;
	g->n++;
}

static void prune_path(struct tfs *t, const char *at, int len,
		       const struct sd_entry *e, const struct sd_manifest *cur,
		       struct gones *g)
{
	char path[OV_PATH_BUF];
	const char *base;
	struct fs_attr pa;
	struct stat st;
	bool opaque;
	int dlen, dfd;

	memcpy(path, at, (size_t)len + 1);
	dlen = ov_split(path, len, &base);
	dfd = ov_upper_dir(t, path, dlen, &opaque);
	if (dfd < 0)
		return;
	if (!opaque && fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISDIR(st.st_mode) &&
	    redundant(t, dfd, base, &st, at, len, e, cur)) {
		if (!fs_upper_is_whiteout(&st))
			ov_keep_open(t, dfd, base, &st);
		if (unlinkat(dfd, base, 0) == 0) {
			if (!fs_upper_is_whiteout(&st))
				tfs_inodes_unindex(t->inodes, st.st_ino);
			(void)fs_bases_forget(fs_upper_bases(t->upper), at,
					      (size_t)len);
			/* The directory is the lower's (not opaque): the
			 * kernel knows it by the lower's number. */
			if (dlen == 0 ||
			    fs_view_lookup_path(t->view, path, (size_t)dlen,
						&pa) == 0)
				add_gone(g, dlen ? pa.ino : FUSE_ROOT_ID, base,
					 path);
		}
	}
	close(dfd);
}

/* Whether the upper directory fd names every entry the version has
 * directly under path (len bytes). */
static bool names_all(int fd, const struct sd_manifest *cur, const char *path,
		      size_t len)
{
	char pre[OV_PATH_BUF];
	struct stat st;

	memcpy(pre, path, len);
	pre[len] = '/';
	for (size_t i = sd_manifest_lower_bound(cur, pre, len + 1);
	     i < cur->count; i++) {
		const struct sd_entry *e = &cur->e[i];

		if (e->path_len <= len + 1 || memcmp(e->path, pre, len + 1))
			break;
		if (memchr(e->path + len + 1, '/', e->path_len - len - 1))
			continue; /* deeper: its own directory answers */
		if (fstatat(fd, e->path + len + 1, &st, AT_SYMLINK_NOFOLLOW) <
			    0 ||
		    fs_upper_is_whiteout(&st))
			return false;
	}
	return true;
}

/* A directory a command made (opaque) that the version now has too, with
 * every name in it the upper has: it may merge with it (the view stays
 * the same), so what in it the version holds as it is can go next. */
static void unblind(struct tfs *t, const char *at, int len,
		    const struct sd_entry *e, const struct sd_manifest *cur)
{
	char path[OV_PATH_BUF];
	bool opaque;
	int fd;

	if (!e || e->type != SD_T_DIR)
		return;
	memcpy(path, at, (size_t)len + 1);
	fd = ov_upper_dir(t, path, len, &opaque);
	if (fd < 0)
		return;
	if (opaque && names_all(fd, cur, at, (size_t)len) &&
	    fremovexattr(fd, FS_UPPER_OPAQUE_XATTR) < 0)
		log_warn("view %s: %s: %s", t->name, at, strerror(errno));
	close(fd);
}

/* Upper directories that hold nothing, merge with the version's and have
 * its mode go, from path up: the view then shows the version's. */
static void drop_empty(struct tfs *t, char *path, int len, struct gones *g)
{
	while (len > 0) {
		const char *base;
		struct fs_attr la;
		struct stat st;
		bool opaque;
		int dlen, dfd, fd;

		fd = ov_upper_dir(t, path, len, &opaque);
		if (fd < 0)
			return;
		close(fd);
		if (opaque ||
		    fs_view_lookup_path(t->view, path, (size_t)len, &la) < 0)
			return;
		dlen = ov_split(path, len, &base);
		dfd = ov_upper_dir(t, path, dlen, &opaque);
		if (dfd < 0)
			return;
		if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    (st.st_mode & 07777) != (la.st.st_mode & 07777) ||
		    unlinkat(dfd, base, AT_REMOVEDIR) < 0) {
			close(dfd);
			return;
		}
		close(dfd);
		add_gone(g, la.ino, NULL, NULL);
		len = dlen;
	}
}

static int grow_dirs(size_t **dirs, size_t *cap, size_t n)
{
	size_t c = *cap ? *cap * 2 : 64, *d;

	if (n < *cap)
		return 0;
	d = realloc(*dirs, c * sizeof(*d));
	if (!d)
		return -ENOMEM;
	*dirs = d;
	*cap = c;
	return 0;
}

void tfs_rw_prune(struct tfs *t, const struct sd_manifest *old,
		  const struct sd_manifest *cur)
{
	struct gones g = { 0 };
	size_t i = 0, j = 0, *dirs = NULL, ndirs = 0, dcap = 0;

	if (atomic_load(&t->clean))
		return;
	pthread_mutex_lock(&t->nslock);
	/* Both sorted by path: the paths the new version changed. */
	while (i < old->count || j < cur->count) {
		const struct sd_entry *a = i < old->count ? &old->e[i] : NULL;
		const struct sd_entry *b = j < cur->count ? &cur->e[j] : NULL;
		int c = !a   ? 1
			: !b ? -1
			     : sd_path_cmp(a->path, a->path_len, b->path,
					   b->path_len);

		if (c < 0) {
			prune_path(t, a->path, (int)a->path_len, NULL, cur, &g);
		} else if (c > 0 ||
			   memcmp(&a->hash, &b->hash, sizeof(a->hash))) {
			unblind(t, b->path, (int)b->path_len, b, cur);
			prune_path(t, b->path, (int)b->path_len, b, cur, &g);
			if (b->type == SD_T_DIR && ndirs < SD_ENTRIES_MAX &&
			    grow_dirs(&dirs, &dcap, ndirs) == 0)
				dirs[ndirs++] = j;
		}
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	/* Directories the version changed, deepest first (the reverse of
	 * path order): what is left of them in the upper may be nothing. */
	while (ndirs) {
		const struct sd_entry *d = &cur->e[dirs[--ndirs]];
		char path[OV_PATH_BUF];

		memcpy(path, d->path, (size_t)d->path_len + 1);
		drop_empty(t, path, (int)d->path_len, &g);
	}
	free(dirs);
	for (size_t k = 0, n = g.n; k < n; k++) {
		char path[OV_PATH_BUF];
		int len;

		/* The directory of each name that went, and up. */
		if (!g.v[k].name || !g.v[k].dir)
			continue;
		len = (int)strlen(g.v[k].dir);
		memcpy(path, g.v[k].dir, (size_t)len + 1);
		drop_empty(t, path, len, &g);
	}
	pthread_mutex_unlock(&t->nslock);
	for (size_t k = 0; k < g.n; k++) {
		if (t->mounted && g.v[k].name)
			(void)fuse_lowlevel_notify_inval_entry(
				t->se, g.v[k].parent, g.v[k].name,
				strlen(g.v[k].name));
		else if (t->mounted)
			(void)fuse_lowlevel_notify_inval_inode(
				t->se, g.v[k].parent, 0, 0);
		free(g.v[k].name);
		free(g.v[k].dir);
	}
	if (g.n)
		log_debug("view %s: %zu changes reached version %llu", t->name,
			  g.n, (unsigned long long)cur->version);
	free(g.v);
}
