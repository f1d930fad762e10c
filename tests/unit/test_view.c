/* SPDX-License-Identifier: MIT */
/* Unit tests for the FUSE view's inode table (fs/view.h): attributes,
 * lookups and listings of one version, inode numbers and invalidations
 * across versions, open files that outlive them, readers racing a writer. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "entry_fixture.h"
#include "view.h"

/* ---- building manifests ---- */

/* Build, install (recording invalidations in rec when not NULL) and free
 * the caller's copy at once: the view must not need it. */
struct rec;
static void record(void *opaque, enum fs_inval kind, uint64_t ino,
		   uint64_t parent, const char *name, size_t len);

static void install(struct fs_view *v, const struct sd_entry *e, size_t n,
		    uint64_t version, struct rec *rec)
{
	struct sd_manifest m;

	ent_build(&m, e, n, version);
	assert_int_equal(fs_view_set(v, &m, rec ? record : NULL, rec), 0);
	sd_manifest_free(&m);
	assert_int_equal(fs_view_version(v), version);
}

/* ---- what the view answers ---- */

/* path's attributes, looked up one component at a time from the root. */
static int walk(struct fs_view *v, const char *path, struct fs_attr *a)
{
	const char *p = path;
	int r = fs_view_getattr(v, FS_VIEW_ROOT_INO, a);

	while (*p && r == 0) {
		const char *s = strchr(p, '/');
		size_t len = s ? (size_t)(s - p) : strlen(p);

		r = fs_view_lookup(v, a->ino, p, len, a);
		p += len + (s ? 1 : 0);
	}
	return r;
}

static uint64_t ino_of(struct fs_view *v, const char *path)
{
	struct fs_attr a;
	int r = walk(v, path, &a);

	if (r)
		fail_msg("lookup '%s': %d", path, r);
	return a.ino;
}

struct dent {
	uint64_t ino;
	mode_t type;
	char name[SD_NAME_MAX + 1];
	size_t len;
	uint64_t next;
};

struct listing {
	size_t n, stop; /* stop: return false after that many (0: never) */
	struct dent d[64];
};

static bool collect(void *opaque, const struct fs_dirent *d)
{
	struct listing *l = opaque;
	struct dent *x;

	assert_true(l->n < 64);
	assert_true(d->name_len <= SD_NAME_MAX);
	x = &l->d[l->n++];
	x->ino = d->ino;
	x->type = d->type;
	x->len = d->name_len;
	memcpy(x->name, d->name, d->name_len);
	x->name[d->name_len] = '\0';
	x->next = d->next_off;
	return l->stop == 0 || l->n < l->stop;
}

static struct listing *list(struct fs_view *v, uint64_t ino, uint64_t off,
			    size_t stop)
{
	struct listing *l = calloc(1, sizeof(*l));

	assert_non_null(l);
	l->stop = stop;
	assert_int_equal(fs_view_readdir(v, ino, off, collect, l), 0);
	return l;
}

static void assert_dent(const struct dent *d, const char *name, uint64_t ino,
			mode_t type)
{
	if (d->len != strlen(name) || memcmp(d->name, name, d->len))
		fail_msg("readdir gave '%s', wanted '%s'", d->name, name);
	assert_int_equal(d->ino, ino);
	assert_int_equal(d->type, type);
}

/* ---- invalidations ---- */

struct inv {
	enum fs_inval kind;
	uint64_t ino, parent;
	char name[SD_NAME_MAX + 1];
	size_t len;
};

struct rec {
	struct fs_view *v;
	uint64_t version; /* what the view must already show in a call */
	size_t n;
	struct inv x[256];
};

static void record(void *opaque, enum fs_inval kind, uint64_t ino,
		   uint64_t parent, const char *name, size_t len)
{
	struct rec *r = opaque;
	struct inv *x;

	/* Called after the swap, outside the lock: the view answers, with
	 * the new version. */
	if (r->v)
		assert_int_equal(fs_view_version(r->v), r->version);
	assert_true(r->n < 256);
	x = &r->x[r->n++];
	x->kind = kind;
	x->ino = ino;
	x->parent = parent;
	x->len = len;
	assert_true(kind == FS_INVAL_INODE || kind == FS_INVAL_ENTRY);
	if (kind == FS_INVAL_ENTRY) {
		assert_true(len > 0 && len <= SD_NAME_MAX);
		memcpy(x->name, name, len);
	}
}

static size_t n_inode(const struct rec *r, uint64_t ino)
{
	size_t k = 0;

	for (size_t i = 0; i < r->n; i++)
		k += r->x[i].kind == FS_INVAL_INODE && r->x[i].ino == ino;
	return k;
}

static size_t n_entry(const struct rec *r, uint64_t parent, const char *name)
{
	size_t k = 0;

	for (size_t i = 0; i < r->n; i++)
		k += r->x[i].kind == FS_INVAL_ENTRY &&
		     r->x[i].parent == parent && r->x[i].len == strlen(name) &&
		     !memcmp(r->x[i].name, name, r->x[i].len);
	return k;
}

static size_t n_kind(const struct rec *r, enum fs_inval kind)
{
	size_t k = 0;

	for (size_t i = 0; i < r->n; i++)
		k += r->x[i].kind == kind;
	return k;
}

static void rec_reset(struct rec *r, struct fs_view *v, uint64_t version)
{
	r->v = v;
	r->version = version;
	r->n = 0;
}

/* ---- one version ---- */

static void test_empty_root(void **state)
{
	struct fs_view *v;
	struct fs_attr a;
	struct fs_file f;
	struct listing *l;
	uint64_t files = 7, bytes = 7;
	char buf[16];

	assert_int_equal(fs_view_new(&v), 0);
	assert_int_equal(fs_view_version(v), 0);
	memset(&a, 0xa5, sizeof(a));
	assert_int_equal(fs_view_getattr(v, FS_VIEW_ROOT_INO, &a), 0);
	assert_int_equal(a.ino, FS_VIEW_ROOT_INO);
	assert_int_equal(a.st.st_ino, FS_VIEW_ROOT_INO);
	assert_int_equal(a.st.st_mode, S_IFDIR | 0755);
	assert_int_equal(a.st.st_nlink, 2);
	assert_int_equal(a.st.st_size, 0);
	assert_int_equal(a.st.st_uid, 0);
	assert_int_equal(a.st.st_gid, 0);
	assert_int_equal(a.st.st_mtim.tv_sec, 0);
	assert_int_equal(a.st.st_mtim.tv_nsec, 0);
	assert_int_equal(a.st.st_ctim.tv_sec, 0);
	assert_true(a.st.st_blksize > 0);

	l = list(v, FS_VIEW_ROOT_INO, 0, 0);
	assert_int_equal(l->n, 2);
	assert_dent(&l->d[0], ".", FS_VIEW_ROOT_INO, S_IFDIR);
	assert_dent(&l->d[1], "..", FS_VIEW_ROOT_INO, S_IFDIR);
	assert_int_equal(l->d[0].next, 1);
	assert_int_equal(l->d[1].next, 2);
	free(l);
	l = list(v, FS_VIEW_ROOT_INO, 2, 0);
	assert_int_equal(l->n, 0);
	free(l);

	assert_int_equal(fs_view_getattr(v, 2, &a), -ENOENT);
	assert_int_equal(fs_view_getattr(v, 0, &a), -ENOENT);
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, "x", 1, &a),
			 -ENOENT);
	assert_int_equal(fs_view_lookup(v, 2, "x", 1, &a), -ENOENT);
	assert_int_equal(fs_view_readdir(v, 2, 0, collect, NULL), -ENOENT);
	assert_int_equal(fs_view_readlink(v, FS_VIEW_ROOT_INO, buf, 16),
			 -EINVAL);
	assert_int_equal(fs_view_readlink(v, 2, buf, 16), -ENOENT);
	assert_int_equal(fs_view_open(v, FS_VIEW_ROOT_INO, &f), -EISDIR);
	assert_int_equal(fs_view_open(v, 2, &f), -ENOENT);
	fs_view_counts(v, &files, &bytes);
	assert_int_equal(files, 0);
	assert_int_equal(bytes, 0);
	fs_view_free(v);
	fs_view_free(NULL);
}

/* Added out of order: the view lists in manifest order. */
static size_t tree(struct sd_entry *e, struct sd_chunkref *c)
{
	size_t n = 0;

	c[0] = ent_chunk(1, 100);
	c[1] = ent_chunk(2, 5000);
	c[2] = ent_chunk(3, 3);
	e[n++] = ent_file("sp ace", c + 2, 1);
	e[n++] = ent_hard("\xff/h", "sp ace");
	e[n++] = ent_dir("\xff", 0755);
	e[n++] = ent_file("new\nline", c, 1);
	e[n++] = ent_link("a/link", "../x/y");
	e[n++] = ent_dir("a/empty", 0755);
	e[n++] = ent_file("a/b/\x01\x7f", c + 2, 1);
	e[n++] = ent_hard("a/b/hard", "a/b/c.txt");
	e[n++] = ent_file("a/b/c.txt", c, 2);
	e[n++] = ent_dir("a/b", 0755);
	e[n++] = ent_dir("a", 0755);
	e[n] = ent_file("f0", NULL, 0);
	e[n].mode = 0600;
	e[n++].mtime_ns = -1; /* just before the epoch */
	return n;
}

static void assert_attr(struct fs_view *v, const char *path, mode_t mode,
			nlink_t nlink, off_t size)
{
	struct fs_attr a, b;

	if (walk(v, path, &a))
		fail_msg("lookup '%s' failed", path);
	if (a.st.st_mode != mode || a.st.st_nlink != nlink ||
	    a.st.st_size != size)
		fail_msg(
			"'%s': mode %o nlink %lu size %lld, wanted %o %lu %lld",
			path, (unsigned)a.st.st_mode,
			(unsigned long)a.st.st_nlink, (long long)a.st.st_size,
			(unsigned)mode, (unsigned long)nlink, (long long)size);
	assert_int_equal(a.st.st_ino, a.ino);
	assert_int_equal(a.st.st_blocks, (size + 511) / 512);
	assert_true(a.st.st_blksize > 0);
	assert_int_equal(a.st.st_uid, 0);
	assert_int_equal(a.st.st_gid, 0);
	/* getattr answers what lookup did */
	assert_int_equal(fs_view_getattr(v, a.ino, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
}

/* Each entry under its own parent, when names sort between a directory
 * and its children ("a/b!" between "a/b" and "a/b/y") and directories of
 * one path length follow each other: the parent index the view builds
 * from the last directory of each length. */
static void test_parents(void **state)
{
	struct sd_chunkref c = ent_chunk(1, 10);
	struct sd_entry e[] = {
		ent_dir("a", 0755),	    ent_dir("a/b", 0755),
		ent_dir("a/b!", 0700),	    ent_file("a/b!/z", &c, 1),
		ent_file("a/b/y", &c, 1),   ent_dir("a/b/d", 0755),
		ent_file("a/b/d/w", &c, 1), ent_dir("a/c", 0711),
		ent_file("a/c/v", &c, 1),   ent_dir("x", 0755),
		ent_dir("x/b", 0755),	    ent_file("x/b/q", &c, 1),
	};
	struct fs_view *v;
	struct fs_attr a;

	assert_int_equal(fs_view_new(&v), 0);
	install(v, e, sizeof(e) / sizeof(e[0]), 1, NULL);
	assert_attr(v, "a", S_IFDIR | 0755, 2 + 3, 0); /* b, b! and c */
	assert_attr(v, "a/b", S_IFDIR | 0755, 2 + 1, 0);
	assert_attr(v, "a/b!", S_IFDIR | 0700, 2, 0);
	assert_attr(v, "a/c", S_IFDIR | 0711, 2, 0);
	assert_attr(v, "x/b", S_IFDIR | 0755, 2, 0);
	assert_int_equal(walk(v, "a/b!/z", &a), 0);
	assert_int_equal(walk(v, "a/b/y", &a), 0);
	assert_int_equal(walk(v, "a/b/d/w", &a), 0);
	assert_int_equal(walk(v, "a/c/v", &a), 0);
	assert_int_equal(walk(v, "x/b/q", &a), 0);
	/* ... and under no other. */
	assert_int_equal(walk(v, "a/b/z", &a), -ENOENT);
	assert_int_equal(walk(v, "a/b!/y", &a), -ENOENT);
	assert_int_equal(walk(v, "x/b/y", &a), -ENOENT);
	assert_int_equal(walk(v, "a/b/q", &a), -ENOENT);
	fs_view_free(v);
}

static void test_tree(void **state)
{
	struct sd_entry e[16];
	struct sd_chunkref c[3];
	size_t n = tree(e, c);
	struct sd_manifest m;
	struct fs_view *v;
	struct fs_attr a;
	uint64_t ino[16], files, bytes;
	char big[SD_NAME_MAX + 1];

	assert_int_equal(fs_view_new(&v), 0);
	ent_build(&m, e, n, 3);
	assert_int_equal(fs_view_set(v, &m, NULL, NULL), 0);
	assert_int_equal(fs_view_version(v), 3);

	assert_attr(v, "", S_IFDIR | 0755, 2 + 2, 0);  /* a and \xff */
	assert_attr(v, "a", S_IFDIR | 0755, 2 + 2, 0); /* b and empty */
	assert_attr(v, "a/b", S_IFDIR | 0755, 2, 0);
	assert_attr(v, "a/empty", S_IFDIR | 0755, 2, 0);
	assert_attr(v, "\xff", S_IFDIR | 0755, 2, 0);
	assert_attr(v, "a/b/c.txt", S_IFREG | 0644, 2, 5100);
	assert_attr(v, "a/b/hard", S_IFREG | 0644, 2, 5100);
	assert_attr(v, "a/b/\x01\x7f", S_IFREG | 0644, 1, 3);
	assert_attr(v, "a/link", S_IFLNK | 0777, 1, 6);
	assert_attr(v, "new\nline", S_IFREG | 0644, 1, 100);
	assert_attr(v, "sp ace", S_IFREG | 0644, 2, 3);
	assert_attr(v, "\xff/h", S_IFREG | 0644, 2, 3);
	assert_attr(v, "f0", S_IFREG | 0600, 1, 0);

	/* Times: all three the mtime, tv_nsec in range before the epoch. */
	walk(v, "a/b/c.txt", &a);
	assert_int_equal(a.st.st_mtim.tv_sec, 1700000000);
	assert_int_equal(a.st.st_mtim.tv_nsec, 123456789);
	assert_int_equal(a.st.st_ctim.tv_nsec, 123456789);
	assert_int_equal(a.st.st_atim.tv_sec, 1700000000);
	walk(v, "f0", &a);
	assert_int_equal(a.st.st_mtim.tv_sec, -1);
	assert_int_equal(a.st.st_mtim.tv_nsec, 999999999);

	/* A hard link's names share one inode; every other inode differs. */
	assert_int_equal(ino_of(v, "a/b/hard"), ino_of(v, "a/b/c.txt"));
	assert_int_equal(ino_of(v, "\xff/h"), ino_of(v, "sp ace"));
	for (size_t i = 0; i < m.count; i++) {
		ino[i] = ino_of(v, m.e[i].path);
		assert_int_not_equal(ino[i], FS_VIEW_ROOT_INO);
		for (size_t j = 0; j < i; j++) {
			const struct sd_entry *p =
				sd_manifest_resolve(&m, &m.e[i]);

			if (p == &m.e[j])
				assert_int_equal(ino[i], ino[j]);
			else
				assert_int_not_equal(ino[i], ino[j]);
		}
	}

	/* Names that cannot be in a manifest find nothing. */
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, "a", 0, &a),
			 -ENOENT);
	assert_int_equal(fs_view_lookup(v, ino_of(v, "a"), "b/c.txt", 7, &a),
			 -ENOENT);
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, "a/b", 3, &a),
			 -ENOENT);
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, "f0\0", 3, &a),
			 -ENOENT);
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, ".", 1, &a),
			 -ENOENT);
	assert_int_equal(fs_view_lookup(v, ino_of(v, "a"), "..", 2, &a),
			 -ENOENT);
	memset(big, 'a', sizeof(big));
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, big,
					SD_NAME_MAX + 1, &a),
			 -ENOENT);
	/* A prefix or an extension of a name is another name. */
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, "f", 1, &a),
			 -ENOENT);
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, "f00", 3, &a),
			 -ENOENT);
	/* Only a directory has names. */
	assert_int_equal(fs_view_lookup(v, ino_of(v, "f0"), "x", 1, &a),
			 -ENOTDIR);
	assert_int_equal(fs_view_lookup(v, ino_of(v, "a/link"), "x", 1, &a),
			 -ENOTDIR);
	assert_int_equal(fs_view_lookup(v, 9999, "x", 1, &a), -ENOENT);

	fs_view_counts(v, &files, &bytes);
	assert_int_equal(files, m.nfiles);
	assert_int_equal(bytes, m.nbytes);
	assert_int_equal(bytes, 5100 + 3 + 100 + 3 + 0);
	sd_manifest_free(&m);
	fs_view_free(v);
}

static void test_readdir(void **state)
{
	struct sd_entry e[16];
	struct sd_chunkref c[3];
	struct fs_view *v;
	struct listing *l;
	uint64_t a, b;

	assert_int_equal(fs_view_new(&v), 0);
	install(v, e, tree(e, c), 1, NULL);
	a = ino_of(v, "a");
	b = ino_of(v, "a/b");

	l = list(v, FS_VIEW_ROOT_INO, 0, 0);
	assert_int_equal(l->n, 2 + 5);
	assert_dent(&l->d[0], ".", FS_VIEW_ROOT_INO, S_IFDIR);
	assert_dent(&l->d[1], "..", FS_VIEW_ROOT_INO, S_IFDIR);
	assert_dent(&l->d[2], "a", a, S_IFDIR);
	assert_dent(&l->d[3], "f0", ino_of(v, "f0"), S_IFREG);
	assert_dent(&l->d[4], "new\nline", ino_of(v, "new\nline"), S_IFREG);
	assert_dent(&l->d[5], "sp ace", ino_of(v, "sp ace"), S_IFREG);
	assert_dent(&l->d[6], "\xff", ino_of(v, "\xff"), S_IFDIR);
	free(l);

	l = list(v, a, 0, 0);
	assert_int_equal(l->n, 2 + 3);
	assert_dent(&l->d[0], ".", a, S_IFDIR);
	assert_dent(&l->d[1], "..", FS_VIEW_ROOT_INO, S_IFDIR);
	assert_dent(&l->d[2], "b", b, S_IFDIR);
	assert_dent(&l->d[3], "empty", ino_of(v, "a/empty"), S_IFDIR);
	assert_dent(&l->d[4], "link", ino_of(v, "a/link"), S_IFLNK);
	free(l);

	/* A hard link name lists as a regular file, with the group's inode. */
	l = list(v, b, 0, 0);
	assert_int_equal(l->n, 2 + 3);
	assert_dent(&l->d[1], "..", a, S_IFDIR);
	assert_dent(&l->d[2], "\x01\x7f", ino_of(v, "a/b/\x01\x7f"), S_IFREG);
	assert_dent(&l->d[3], "c.txt", ino_of(v, "a/b/c.txt"), S_IFREG);
	assert_dent(&l->d[4], "hard", ino_of(v, "a/b/c.txt"), S_IFREG);
	free(l);

	l = list(v, ino_of(v, "a/empty"), 0, 0);
	assert_int_equal(l->n, 2);
	assert_dent(&l->d[1], "..", a, S_IFDIR);
	free(l);

	assert_int_equal(fs_view_readdir(v, ino_of(v, "f0"), 0, collect, NULL),
			 -ENOTDIR);
	assert_int_equal(fs_view_readdir(v, ino_of(v, "a/link"), 0, collect,
					 NULL),
			 -ENOTDIR);
	assert_int_equal(fs_view_readdir(v, ino_of(v, "a/b/hard"), 0, collect,
					 NULL),
			 -ENOTDIR);
	fs_view_free(v);
}

/* Resuming at any offset gives the rest of the listing, in order; so does
 * resuming at the next_off of where a callback stopped. */
static void test_readdir_offsets(void **state)
{
	static char names[20][8];
	struct sd_entry e[21];
	struct fs_view *v;
	struct listing *all, *l;
	size_t n = 0;
	uint64_t d;

	e[n++] = ent_dir("d", 0755);
	for (int i = 0; i < 20; i++) {
		snprintf(names[i], sizeof(names[i]), "d/%c%d", 'z' - i, i);
		e[n++] = i % 3 ? ent_file(names[i], NULL, 0)
			       : ent_dir(names[i], 0755);
	}
	assert_int_equal(fs_view_new(&v), 0);
	install(v, e, n, 1, NULL);
	d = ino_of(v, "d");
	all = list(v, d, 0, 0);
	assert_int_equal(all->n, 22);
	assert_dent(&all->d[0], ".", d, S_IFDIR);
	assert_dent(&all->d[1], "..", FS_VIEW_ROOT_INO, S_IFDIR);
	for (size_t i = 2; i < all->n; i++)
		assert_true(strcmp(all->d[i - 1].name, all->d[i].name) < 0);
	for (uint64_t off = 0; off <= all->n + 2; off++) {
		l = list(v, d, off, 0);
		assert_int_equal(l->n, off < all->n ? all->n - off : 0);
		for (size_t i = 0; i < l->n; i++) {
			assert_memory_equal(&l->d[i], &all->d[off + i],
					    sizeof(l->d[i]));
			assert_int_equal(l->d[i].next, off + i + 1);
		}
		free(l);
	}
	/* A reader that takes one entry at a time, as a full buffer does. */
	for (uint64_t off = 0, k = 0;; k++) {
		l = list(v, d, off, 1);
		if (l->n == 0) {
			assert_int_equal(k, all->n);
			free(l);
			break;
		}
		assert_int_equal(l->n, 1);
		assert_memory_equal(&l->d[0], &all->d[k], sizeof(l->d[0]));
		off = l->d[0].next;
		free(l);
	}
	free(all);
	fs_view_free(v);
}

static void test_readlink(void **state)
{
	static char longt[SD_PATH_MAX + 1];
	struct sd_entry e[5];
	struct fs_view *v;
	char buf[SD_PATH_MAX + 1];
	uint64_t ino;

	memset(longt, 'L', SD_PATH_MAX);
	e[0] = ent_link("l", "../x/\xff y");
	e[1] = ent_link("long", longt);
	e[2] = ent_file("f", NULL, 0);
	e[3] = ent_dir("d", 0755);
	e[4] = ent_hard("h", "f");
	assert_int_equal(fs_view_new(&v), 0);
	install(v, e, 5, 1, NULL);
	ino = ino_of(v, "l");
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(fs_view_readlink(v, ino, buf, sizeof(buf)), 8);
	assert_string_equal(buf, "../x/\xff y");
	/* Room for the NUL is needed, and exactly enough will do. */
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(fs_view_readlink(v, ino, buf, 9), 8);
	assert_string_equal(buf, "../x/\xff y");
	assert_int_equal(fs_view_readlink(v, ino, buf, 8), -ERANGE);
	assert_int_equal(fs_view_readlink(v, ino, buf, 0), -ERANGE);
	ino = ino_of(v, "long");
	assert_int_equal(fs_view_readlink(v, ino, buf, sizeof(buf)),
			 SD_PATH_MAX);
	assert_string_equal(buf, longt);
	assert_int_equal(fs_view_readlink(v, ino, buf, SD_PATH_MAX), -ERANGE);
	assert_int_equal(fs_view_readlink(v, ino_of(v, "f"), buf, 64), -EINVAL);
	assert_int_equal(fs_view_readlink(v, ino_of(v, "h"), buf, 64), -EINVAL);
	assert_int_equal(fs_view_readlink(v, ino_of(v, "d"), buf, 64), -EINVAL);
	assert_int_equal(fs_view_readlink(v, 12345, buf, 64), -ENOENT);
	fs_view_free(v);
}

/* Paths up to SD_PATH_MAX bytes: found; one byte over: not, and no
 * overflow on the way. */
static void test_long_paths(void **state)
{
	static char p[17][SD_PATH_MAX + 1];
	char name[SD_NAME_MAX];
	struct sd_entry e[17];
	struct fs_view *v;
	struct fs_attr a;
	size_t n = 0;

	memset(name, 'n', sizeof(name));
	for (int i = 0; i < 16; i++) {
		size_t len = i ? strlen(p[i - 1]) : 0;

		if (i)
			memcpy(p[i], p[i - 1], len);
		if (i)
			p[i][len++] = '/';
		memset(p[i] + len, 'a' + i, SD_NAME_MAX);
		e[n++] = ent_dir(p[i], 0755);
	}
	/* p[14] is 15 * 256 - 1 = 3839 bytes: a 255-byte name fits in it */
	memcpy(p[16], p[14], strlen(p[14]));
	p[16][strlen(p[14])] = '/';
	memcpy(p[16] + strlen(p[14]) + 1, name, SD_NAME_MAX);
	assert_int_equal(strlen(p[16]), SD_PATH_MAX - 1);
	e[n++] = ent_file(p[16], NULL, 0);
	assert_int_equal(fs_view_new(&v), 0);
	install(v, e, n, 1, NULL);
	assert_int_equal(walk(v, p[16], &a), 0);
	assert_int_equal(a.st.st_mode, S_IFREG | 0644);
	/* p[15] is 4095 bytes: no name fits under it */
	assert_int_equal(strlen(p[15]), SD_PATH_MAX - 1);
	assert_int_equal(walk(v, p[15], &a), 0);
	assert_int_equal(fs_view_lookup(v, a.ino, "x", 1, &a), -ENOENT);
	assert_int_equal(fs_view_lookup(v, a.ino, name, SD_NAME_MAX, &a),
			 -ENOENT);
	fs_view_free(v);
}

static void test_open(void **state)
{
	struct sd_chunkref c[5] = { ent_chunk(1, 100), ent_chunk(2, 65536),
				    ent_chunk(3, 7), ent_chunk(4, 1),
				    ent_chunk(5, 300) };
	struct sd_entry e[6];
	struct fs_view *v;
	struct fs_file f, g;
	uint64_t start = 0;

	e[0] = ent_file("f", c, 5);
	e[1] = ent_file("empty", NULL, 0);
	e[2] = ent_file("one", c + 2, 1);
	e[3] = ent_hard("hl", "f");
	e[4] = ent_dir("d", 0755);
	e[5] = ent_link("l", "f");
	assert_int_equal(fs_view_new(&v), 0);
	install(v, e, 6, 1, NULL);

	assert_int_equal(fs_view_open(v, ino_of(v, "f"), &f), 0);
	assert_int_equal(f.ino, ino_of(v, "f"));
	assert_int_equal(f.size, 100 + 65536 + 7 + 1 + 300);
	assert_int_equal(f.nchunks, 5);
	for (uint32_t i = 0; i < 5; i++) {
		assert_memory_equal(&f.chunks[i], &c[i], sizeof(c[i]));
		assert_int_equal(f.ends[i], start + c[i].len);
		/* first, last byte of each chunk; the bytes around them */
		assert_int_equal(fs_file_chunk_at(&f, start), i);
		assert_int_equal(fs_file_chunk_at(&f, start + c[i].len - 1), i);
		if (start)
			assert_int_equal(fs_file_chunk_at(&f, start - 1),
					 i - 1);
		start += c[i].len;
	}
	assert_int_equal(start, f.size);
	/* every offset of the small chunks, against a linear scan */
	for (uint64_t off = 65536; off < f.size; off++) {
		uint32_t k = 0;

		while (f.ends[k] <= off)
			k++;
		assert_int_equal(fs_file_chunk_at(&f, off), k);
	}

	/* through the other name of the link group: the same file */
	assert_int_equal(fs_view_open(v, ino_of(v, "hl"), &g), 0);
	assert_int_equal(g.ino, f.ino);
	assert_int_equal(g.nchunks, 5);
	assert_memory_equal(g.chunks, f.chunks, 5 * sizeof(*f.chunks));
	fs_file_free(&g);
	fs_file_free(&f);
	assert_null(f.chunks);
	fs_file_free(NULL);

	assert_int_equal(fs_view_open(v, ino_of(v, "one"), &f), 0);
	assert_int_equal(f.nchunks, 1);
	assert_int_equal(f.size, 7);
	assert_int_equal(fs_file_chunk_at(&f, 0), 0);
	assert_int_equal(fs_file_chunk_at(&f, 6), 0);
	fs_file_free(&f);
	assert_int_equal(fs_view_open(v, ino_of(v, "empty"), &f), 0);
	assert_int_equal(f.nchunks, 0);
	assert_int_equal(f.size, 0);
	fs_file_free(&f);

	memset(&f, 0, sizeof(f));
	assert_int_equal(fs_view_open(v, ino_of(v, "d"), &f), -EISDIR);
	assert_int_equal(fs_view_open(v, FS_VIEW_ROOT_INO, &f), -EISDIR);
	assert_int_equal(fs_view_open(v, ino_of(v, "l"), &f), -EINVAL);
	assert_int_equal(fs_view_open(v, 777, &f), -ENOENT);
	assert_null(f.chunks); /* untouched on failure */
	fs_view_free(v);
}

/* ---- versions ---- */

static void test_versions(void **state)
{
	struct sd_chunkref a = ent_chunk(1, 10), b = ent_chunk(2, 20),
			   c2[2] = { a, b };
	struct sd_entry e1[9], e2[9], e4[8];
	struct rec *r = calloc(1, sizeof(*r));
	struct fs_view *v;
	struct fs_attr at;
	uint64_t d, gone, stay, del, keep, kind1, kind2, kind3, mod, sub, x, y,
		nw, files, bytes;

	assert_non_null(r);
	e1[0] = ent_dir("d", 0755);
	e1[1] = ent_file("d/gone", &a, 1);
	e1[2] = ent_file("d/stay", &a, 1);
	e1[3] = ent_file("del", &a, 1);
	e1[4] = ent_file("keep", &b, 1);
	e1[5] = ent_file("kind", &a, 1);
	e1[6] = ent_file("mod", &a, 1);
	e1[7] = ent_dir("sub", 0755);
	e1[8] = ent_file("sub/x", &a, 1);
	e2[0] = e1[0];
	e2[1] = e1[2];
	e2[2] = e1[4];
	e2[3] = ent_dir("kind", 0755);
	e2[4] = ent_file("kind/y", &b, 1);
	e2[5] = ent_file("mod", c2, 2);
	e2[6] = ent_file("new", &b, 1);
	e2[7] = e1[7];
	e2[8] = e1[8];

	assert_int_equal(fs_view_new(&v), 0);
	rec_reset(r, v, 1);
	install(v, e1, 9, 1, r);
	/* The first version: every name is new to the kernel. */
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "keep"), 1);
	assert_int_equal(n_inode(r, FS_VIEW_ROOT_INO), 1);
	d = ino_of(v, "d");
	gone = ino_of(v, "d/gone");
	stay = ino_of(v, "d/stay");
	del = ino_of(v, "del");
	keep = ino_of(v, "keep");
	kind1 = ino_of(v, "kind");
	mod = ino_of(v, "mod");
	sub = ino_of(v, "sub");
	x = ino_of(v, "sub/x");

	rec_reset(r, v, 2);
	install(v, e2, 9, 2, r);
	kind2 = ino_of(v, "kind");
	y = ino_of(v, "kind/y");
	nw = ino_of(v, "new");
	/* what stayed keeps its inode; a kind that changed gets a new one,
	 * and so does a file with new bytes */
	assert_int_equal(ino_of(v, "d"), d);
	assert_int_equal(ino_of(v, "d/stay"), stay);
	assert_int_equal(ino_of(v, "keep"), keep);
	assert_int_not_equal(ino_of(v, "mod"), mod);
	assert_int_equal(ino_of(v, "sub"), sub);
	assert_int_equal(ino_of(v, "sub/x"), x);
	assert_int_not_equal(kind2, kind1);
	assert_true(kind2 > x && y > x && nw > x); /* never reused */

	/* exactly what changed, each once */
	assert_int_equal(n_entry(r, d, "gone"), 1);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "del"), 1);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "kind"), 1);
	assert_int_equal(n_entry(r, kind2, "y"), 1);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "new"), 1);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "mod"), 1);
	assert_int_equal(n_kind(r, FS_INVAL_ENTRY), 6);
	/* An inode that lost its name stays as it is: whoever has it open
	 * keeps its pages and attributes. */
	assert_int_equal(n_inode(r, mod) + n_inode(r, gone) + n_inode(r, del) +
				 n_inode(r, kind1),
			 0);
	assert_int_equal(n_inode(r, d), 1);		   /* lost a name */
	assert_int_equal(n_inode(r, FS_VIEW_ROOT_INO), 1); /* once, of 3 */
	assert_int_equal(n_inode(r, kind2), 1);
	assert_int_equal(n_kind(r, FS_INVAL_INODE), 3);
	assert_int_equal(n_inode(r, keep) + n_inode(r, sub) + n_inode(r, x) +
				 n_inode(r, stay),
			 0);

	assert_int_equal(fs_view_getattr(v, del, &at), -ENOENT);
	assert_int_equal(fs_view_getattr(v, gone, &at), -ENOENT);
	assert_int_equal(fs_view_getattr(v, kind1, &at), -ENOENT);
	assert_int_equal(fs_view_getattr(v, mod, &at), -ENOENT);
	assert_int_equal(fs_view_getattr(v, ino_of(v, "mod"), &at), 0);
	assert_int_equal(at.st.st_size, 30);
	assert_int_equal(fs_view_getattr(v, kind2, &at), 0);
	assert_int_equal(at.st.st_mode, S_IFDIR | 0755);
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, "del", 3, &at),
			 -ENOENT);
	fs_view_counts(v, &files, &bytes);
	assert_int_equal(files, 6);
	assert_int_equal(bytes, 10 + 20 + 20 + 30 + 20 + 10);

	/* The same tree again: nothing to forget. */
	rec_reset(r, v, 3);
	install(v, e2, 9, 3, r);
	assert_int_equal(r->n, 0);
	assert_int_equal(ino_of(v, "kind/y"), y);

	/* A directory becomes a file: its subtree goes with it. */
	memcpy(e4, e2, 3 * sizeof(*e4));
	e4[3] = ent_file("kind", &b, 1);
	memcpy(e4 + 4, e2 + 5, 4 * sizeof(*e4));
	rec_reset(r, v, 4);
	install(v, e4, 8, 4, r);
	kind3 = ino_of(v, "kind");
	assert_true(kind3 != kind2 && kind3 != kind1);
	assert_int_equal(n_entry(r, kind2, "y"), 1);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "kind"), 1);
	assert_int_equal(n_kind(r, FS_INVAL_ENTRY), 2);
	assert_int_equal(n_inode(r, kind2), 1); /* y's parent */
	assert_int_equal(n_inode(r, y), 0);
	assert_int_equal(n_inode(r, FS_VIEW_ROOT_INO), 1);
	assert_int_equal(n_kind(r, FS_INVAL_INODE), 2);
	assert_int_equal(fs_view_readdir(v, kind2, 0, collect, NULL), -ENOENT);
	assert_int_equal(fs_view_lookup(v, kind2, "y", 1, &at), -ENOENT);
	assert_int_equal(fs_view_lookup(v, kind3, "y", 1, &at), -ENOTDIR);

	/* An empty version: every name goes. */
	rec_reset(r, v, 5);
	install(v, NULL, 0, 5, r);
	assert_int_equal(n_kind(r, FS_INVAL_ENTRY), 8);
	assert_int_equal(n_entry(r, sub, "x"), 1);
	assert_int_equal(n_inode(r, keep), 0);
	assert_int_equal(fs_view_getattr(v, keep, &at), -ENOENT);
	assert_int_equal(fs_view_getattr(v, FS_VIEW_ROOT_INO, &at), 0);
	assert_int_equal(at.st.st_nlink, 2);
	fs_view_counts(v, &files, &bytes);
	assert_int_equal(files + bytes, 0);
	fs_view_free(v);
	free(r);
}

/* A file whose mode or mtime changes but not its bytes keeps its inode:
 * only its attributes are dropped, and its pages stay. */
static void test_attrs_only(void **state)
{
	struct sd_chunkref a = ent_chunk(1, 10);
	struct sd_entry e1[1], e2[1];
	struct rec *r = calloc(1, sizeof(*r));
	struct fs_view *v;
	struct fs_attr at;
	uint64_t f;

	assert_non_null(r);
	e1[0] = ent_file("f", &a, 1);
	e2[0] = e1[0];
	e2[0].mode = 0600;
	e2[0].mtime_ns += 1000;
	assert_int_equal(fs_view_new(&v), 0);
	rec_reset(r, v, 1);
	install(v, e1, 1, 1, r);
	f = ino_of(v, "f");
	rec_reset(r, v, 2);
	install(v, e2, 1, 2, r);
	assert_int_equal(ino_of(v, "f"), f);
	assert_int_equal(r->n, 1);
	assert_int_equal(n_inode(r, f), 1);
	assert_int_equal(fs_view_getattr(v, f, &at), 0);
	assert_int_equal(at.st.st_mode, S_IFREG | 0600);
	fs_view_free(v);
	free(r);
}

/* A link group's names come and go: its inode's nlink changes, and a name
 * that leaves the group gets an inode of its own. */
static void test_versions_hardlinks(void **state)
{
	struct sd_chunkref a = ent_chunk(1, 10), b = ent_chunk(2, 20);
	struct rec *r = calloc(1, sizeof(*r));
	struct sd_entry e[3];
	struct fs_view *v;
	struct fs_attr at;
	uint64_t p, q, rr;

	assert_non_null(r);
	assert_int_equal(fs_view_new(&v), 0);
	e[0] = ent_file("p", &a, 1);
	e[1] = ent_hard("q", "p");
	install(v, e, 2, 1, NULL);
	p = ino_of(v, "p");
	assert_int_equal(ino_of(v, "q"), p);
	walk(v, "q", &at);
	assert_int_equal(at.st.st_nlink, 2);

	e[1] = ent_file("q", &b, 1);
	rec_reset(r, v, 2);
	install(v, e, 2, 2, r);
	q = ino_of(v, "q");
	assert_int_not_equal(q, p);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "q"), 1);
	assert_int_equal(n_inode(r, p), 1);
	assert_int_equal(n_kind(r, FS_INVAL_ENTRY), 1);
	assert_int_equal(fs_view_getattr(v, p, &at), 0);
	assert_int_equal(at.st.st_nlink, 1);
	assert_int_equal(fs_view_getattr(v, q, &at), 0);
	assert_int_equal(at.st.st_size, 20);

	e[2] = ent_hard("r", "p");
	rec_reset(r, v, 3);
	install(v, e, 3, 3, r);
	assert_int_equal(ino_of(v, "r"), p);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "r"), 1);
	assert_int_equal(n_inode(r, p), 1);
	assert_int_equal(n_inode(r, q), 0);
	assert_int_equal(fs_view_getattr(v, p, &at), 0);
	assert_int_equal(at.st.st_nlink, 2);

	/* p goes; r becomes a file on its own */
	e[0] = e[1];
	e[1] = ent_file("r", &a, 1);
	rec_reset(r, v, 4);
	install(v, e, 2, 4, r);
	rr = ino_of(v, "r");
	assert_true(rr != p && rr != q);
	assert_int_equal(ino_of(v, "q"), q);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "p"), 1);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "r"), 1);
	assert_int_equal(n_inode(r, p), 1);
	assert_int_equal(n_inode(r, q), 0);
	assert_int_equal(fs_view_getattr(v, p, &at), -ENOENT);
	assert_int_equal(fs_view_getattr(v, rr, &at), 0);
	assert_int_equal(at.st.st_nlink, 1);
	fs_view_free(v);
	free(r);
}

/* Versions of one shape (the same paths and kinds, some files with new
 * bytes), each applied as a delta to the one before, so most entries share
 * their bytes with the installed version, as a node's commits do: the
 * view reuses its parents and listings and patches its inode table. Every
 * name must lead to its inode and back, a replaced inode must be gone,
 * and a hardlink must follow its primary to the new one. Rounds with many
 * changes rebuild the table instead. */
#define SHAPE_N 96
static void test_same_shape(void **state)
{
	static const char *dirs[] = { "a", "b", "c" };
	struct sd_chunkref ch[SHAPE_N];
	struct sd_entry e[SHAPE_N + 4];
	char names[SHAPE_N][16];
	struct sd_manifest cur, next;
	struct sd_err why = { "" };
	uint64_t ino[SHAPE_N + 4], was[SHAPE_N + 4];
	struct fs_view *v;
	struct fs_attr at;
	unsigned seed = 12345;
	size_t n = 0;

	(void)state;
	for (size_t d = 0; d < 3; d++)
		e[n++] = ent_dir(dirs[d], 0755);
	for (size_t i = 0; i < SHAPE_N; i++) {
		snprintf(names[i], sizeof(names[i]), "%s/f%03zu", dirs[i % 3],
			 i);
		ch[i] = ent_chunk((unsigned)i, 100 + (uint32_t)i);
		e[n++] = ent_file(names[i], &ch[i], 1);
	}
	e[n++] = ent_hard("h", "a/f000");
	assert_int_equal(fs_view_new(&v), 0);
	ent_build(&cur, e, n, 1);
	assert_int_equal(fs_view_set(v, &cur, NULL, NULL), 0);
	for (size_t k = 0; k < n; k++)
		ino[k] = ino_of(v, cur.e[k].path);

	for (uint64_t round = 2; round < 200; round++) {
		struct sd_delta d;
		size_t changes = round % 50 == 0 ? SHAPE_N / 2 : 1 + round % 3;

		/* A copy of cur with some files' bytes new. */
		for (size_t k = 0; k < cur.count; k++)
			e[k] = cur.e[k];
		for (size_t c = 0; c < changes; c++) {
			size_t k;

			seed = seed * 1103515245u + 12345u;
			k = (seed >> 8) % cur.count;
			if (e[k].type != SD_T_FILE)
				continue;
			ch[k % SHAPE_N] =
				ent_chunk((unsigned)(round * 1000 + k),
					  e[k].chunks[0].len);
			e[k].chunks = &ch[k % SHAPE_N];
		}
		sd_manifest_init(&next);
		next.version = round;
		for (size_t k = 0; k < cur.count; k++)
			assert_int_equal(sd_manifest_add(&next, &e[k], &why),
					 0);
		assert_int_equal(sd_manifest_seal(&next, &why), 0);
		assert_int_equal(sd_delta_diff(&cur, &next, &d), 0);
		sd_manifest_free(&next);
		assert_int_equal(sd_delta_apply(&cur, &d, &next, &why), 0);
		sd_delta_free(&d);
		assert_int_equal(fs_view_set(v, &next, NULL, NULL), 0);

		memcpy(was, ino, sizeof(ino));
		for (size_t k = 0; k < next.count; k++) {
			const struct sd_entry *a = &cur.e[k], *b = &next.e[k];
			bool same =
				b->type != SD_T_FILE ||
				sd_id_eq(&a->chunks[0].id, &b->chunks[0].id);

			ino[k] = ino_of(v, b->path);
			assert_int_equal(fs_view_getattr(v, ino[k], &at), 0);
			assert_int_equal(at.st.st_size,
					 sd_manifest_resolve(&next, b)->size);
			if (b->type == SD_T_HARDLINK)
				assert_int_equal(ino[k], ino_of(v, "a/f000"));
			else if (same)
				assert_int_equal(ino[k], was[k]);
			else
				assert_int_equal(fs_view_getattr(v, was[k],
								 &at),
						 -ENOENT);
		}
		sd_manifest_free(&cur);
		cur = next;
	}
	sd_manifest_free(&cur);
	fs_view_free(v);
}

/* An open file keeps the version it opened: past new versions, past the
 * caller's manifests, past the view itself. */
static void test_open_outlives(void **state)
{
	struct sd_chunkref c[3] = { ent_chunk(1, 10), ent_chunk(2, 20),
				    ent_chunk(3, 30) };
	struct sd_manifest m1, m2;
	struct sd_entry e[2];
	struct fs_view *v;
	struct fs_file f, g;
	uint64_t ino;

	assert_int_equal(fs_view_new(&v), 0);
	e[0] = ent_file("f", c, 2);
	ent_build(&m1, e, 1, 1);
	assert_int_equal(fs_view_set(v, &m1, NULL, NULL), 0);
	ino = ino_of(v, "f");
	assert_int_equal(fs_view_open(v, ino, &f), 0);

	e[0] = ent_file("f", c + 2, 1);
	e[1] = ent_file("g", c, 1);
	ent_build(&m2, e, 2, 2);
	assert_int_equal(fs_view_set(v, &m2, NULL, NULL), 0);
	sd_manifest_free(&m1);
	/* new bytes: a new inode; the open one is the old file */
	assert_int_not_equal(ino_of(v, "f"), ino);
	assert_int_equal(f.ino, ino);
	assert_int_equal(f.size, 30);
	assert_int_equal(f.nchunks, 2);
	assert_memory_equal(&f.chunks[1], &c[1], sizeof(c[1]));
	assert_int_equal(fs_file_chunk_at(&f, 10), 1);

	assert_int_equal(fs_view_open(v, ino_of(v, "g"), &g), 0);
	install(v, NULL, 0, 3, NULL);
	sd_manifest_free(&m2);
	fs_view_free(v);
	assert_int_equal(f.ends[1], 30);
	assert_memory_equal(&f.chunks[0], &c[0], sizeof(c[0]));
	assert_int_equal(g.nchunks, 1);
	assert_memory_equal(&g.chunks[0], &c[0], sizeof(c[0]));
	fs_file_free(&f);
	fs_file_free(&g);
}

/* ---- readers racing a writer ---- */

#define RACE_VERSIONS 50
#define RACE_READERS  3

struct race {
	struct fs_view *v;
	atomic_bool stop;
	atomic_uint bad;
	atomic_uint loops;
	char why[RACE_READERS][128];
};

struct reader {
	struct race *x;
	int id;
	struct fs_view *v;
	unsigned n;
};

static void race_bad(struct reader *rd, const char *what, int r)
{
	if (atomic_fetch_add(&rd->x->bad, 1) == 0)
		snprintf(rd->x->why[rd->id], sizeof(rd->x->why[0]), "%s: %d",
			 what, r);
}

/* Each listed name, looked up from inside the callback: the view must
 * answer while readdir runs. What it answers may be the next version. */
static bool race_dirent(void *opaque, const struct fs_dirent *d)
{
	struct reader *rd = opaque;
	struct fs_attr a;
	int r = fs_view_getattr(rd->v, d->ino, &a);

	if (r && r != -ENOENT)
		race_bad(rd, "getattr in readdir", r);
	if (r == 0 && (a.st.st_mode & S_IFMT) != d->type)
		race_bad(rd, "type", (int)a.st.st_mode);
	rd->n++;
	return true;
}

static void *race_reader(void *arg)
{
	struct reader *rd = arg;
	struct fs_view *v = rd->x->v;
	uint64_t last = 0;

	rd->v = v;
	do {
		struct fs_attr a, d;
		struct fs_file f;
		char buf[64];
		uint64_t now = fs_view_version(v), files, bytes;
		ssize_t k;
		int r;

		if (now < last)
			race_bad(rd, "version went back", (int)now);
		last = now;
		r = fs_view_readdir(v, FS_VIEW_ROOT_INO, 0, race_dirent, rd);
		if (r)
			race_bad(rd, "readdir root", r);
		r = fs_view_lookup(v, FS_VIEW_ROOT_INO, "dir", 3, &d);
		if (r == 0) {
			r = fs_view_readdir(v, d.ino, 0, race_dirent, rd);
			if (r && r != -ENOENT)
				race_bad(rd, "readdir dir", r);
			r = fs_view_lookup(v, d.ino, "f1", 2, &a);
			if (r && r != -ENOENT)
				race_bad(rd, "lookup f1", r);
		} else if (r != -ENOENT) {
			race_bad(rd, "lookup dir", r);
		}
		r = fs_view_lookup(v, FS_VIEW_ROOT_INO, "toggle", 6, &a);
		if (r == 0) {
			r = fs_view_readdir(v, a.ino, 1, race_dirent, rd);
			if (r && r != -ENOENT && r != -ENOTDIR)
				race_bad(rd, "readdir toggle", r);
		}
		r = fs_view_lookup(v, FS_VIEW_ROOT_INO, "link", 4, &a);
		if (r == 0) {
			k = fs_view_readlink(v, a.ino, buf, sizeof(buf));
			if (k < 0 && k != -ENOENT)
				race_bad(rd, "readlink", (int)k);
			if (k > 0 && buf[0] != 't')
				race_bad(rd, "readlink target", buf[0]);
		}
		r = fs_view_lookup(v, FS_VIEW_ROOT_INO, "a0", 2, &a);
		if (r == 0 && fs_view_open(v, a.ino, &f) == 0) {
			if (f.size &&
			    fs_file_chunk_at(&f, f.size - 1) != f.nchunks - 1)
				race_bad(rd, "chunk_at", (int)f.nchunks);
			fs_file_free(&f);
		}
		fs_view_counts(v, &files, &bytes);
		atomic_fetch_add(&rd->x->loops, 1);
	} while (!atomic_load(&rd->x->stop));
	return NULL;
}

static void count_inval(void *opaque, enum fs_inval kind, uint64_t ino,
			uint64_t parent, const char *name, size_t len)
{
	(*(unsigned *)opaque)++;
}

static void test_race(void **state)
{
	static char names[10][8], targets[RACE_VERSIONS + 1][8];
	struct race *x = calloc(1, sizeof(*x));
	struct reader rd[RACE_READERS];
	pthread_t t[RACE_READERS];
	struct sd_chunkref c[4] = { ent_chunk(1, 10), ent_chunk(2, 20),
				    ent_chunk(3, 30), ent_chunk(4, 40) };
	unsigned ninval = 0;

	assert_non_null(x);
	assert_int_equal(fs_view_new(&x->v), 0);
	for (int i = 0; i < RACE_READERS; i++) {
		rd[i] = (struct reader){ .x = x, .id = i };
		assert_int_equal(
			pthread_create(&t[i], NULL, race_reader, &rd[i]), 0);
	}
	for (int k = 1; k <= RACE_VERSIONS; k++) {
		struct sd_entry e[20];
		struct sd_manifest m;
		size_t n = 0;

		e[n++] = ent_file("a0", c, 1 + (uint32_t)k % 4);
		e[n++] = ent_dir("dir", 0755);
		for (int i = 0; i < 10; i++) {
			snprintf(names[i], sizeof(names[i]), "dir/f%d", i);
			if ((i + k) % 3)
				e[n++] = ent_file(names[i], c + i % 4, 1);
		}
		if (k % 2)
			e[n++] = ent_hard("hl", "a0");
		snprintf(targets[k], sizeof(targets[k]), "t%d", k);
		e[n++] = ent_link("link", targets[k]);
		if (k % 2) {
			e[n++] = ent_file("toggle", c, 1);
		} else {
			e[n++] = ent_dir("toggle", 0755);
			e[n++] = ent_file("toggle/in", c, 1);
		}
		ent_build(&m, e, n, (uint64_t)k);
		assert_int_equal(fs_view_set(x->v, &m, count_inval, &ninval),
				 0);
		sd_manifest_free(&m);
	}
	atomic_store(&x->stop, true);
	for (int i = 0; i < RACE_READERS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < RACE_READERS; i++)
		if (x->why[i][0])
			fail_msg("reader %d: %s", i, x->why[i]);
	assert_int_equal(atomic_load(&x->bad), 0);
	assert_true(atomic_load(&x->loops) >= RACE_READERS);
	assert_true(ninval > 0);
	print_message("%u reader loops, %u invalidations\n",
		      atomic_load(&x->loops), ninval);
	assert_int_equal(fs_view_version(x->v), RACE_VERSIONS);
	fs_view_free(x->v);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_root),
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_parents),
		cmocka_unit_test(test_readdir),
		cmocka_unit_test(test_readdir_offsets),
		cmocka_unit_test(test_readlink),
		cmocka_unit_test(test_long_paths),
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_attrs_only),
		cmocka_unit_test(test_versions_hardlinks),
		cmocka_unit_test(test_same_shape),
		cmocka_unit_test(test_open_outlives),
		cmocka_unit_test(test_race),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
