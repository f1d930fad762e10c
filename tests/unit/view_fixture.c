/* SPDX-License-Identifier: MIT */
/* The view suites' fixture (view_fixture.h). */
#include "view_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- building manifests ---- */

void install(struct fs_view *v, const struct sd_entry *e, size_t n,
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
int walk(struct fs_view *v, const char *path, struct fs_attr *a)
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

uint64_t ino_of(struct fs_view *v, const char *path)
{
	struct fs_attr a;
	int r = walk(v, path, &a);

	if (r)
		fail_msg("lookup '%s': %d", path, r);
	return a.ino;
}

bool collect(void *opaque, const struct fs_dirent *d)
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

struct listing *list(struct fs_view *v, uint64_t ino, uint64_t off, size_t stop)
{
	struct listing *l = calloc(1, sizeof(*l));

	assert_non_null(l);
	l->stop = stop;
	assert_int_equal(fs_view_readdir(v, ino, off, collect, l), 0);
	return l;
}

void assert_dent(const struct dent *d, const char *name, uint64_t ino,
		 mode_t type)
{
	if (d->len != strlen(name) || memcmp(d->name, name, d->len))
		fail_msg("readdir gave '%s', wanted '%s'", d->name, name);
	assert_int_equal(d->ino, ino);
	assert_int_equal(d->type, type);
}

/* ---- invalidations ---- */

void record(void *opaque, enum fs_inval kind, uint64_t ino, uint64_t parent,
	    const char *name, size_t len)
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

size_t n_inode(const struct rec *r, uint64_t ino)
{
	size_t k = 0;

	for (size_t i = 0; i < r->n; i++)
		k += r->x[i].kind == FS_INVAL_INODE && r->x[i].ino == ino;
	return k;
}

size_t n_entry(const struct rec *r, uint64_t parent, const char *name)
{
	size_t k = 0;

	for (size_t i = 0; i < r->n; i++)
		k += r->x[i].kind == FS_INVAL_ENTRY &&
		     r->x[i].parent == parent && r->x[i].len == strlen(name) &&
		     !memcmp(r->x[i].name, name, r->x[i].len);
	return k;
}

size_t n_kind(const struct rec *r, enum fs_inval kind)
{
	size_t k = 0;

	for (size_t i = 0; i < r->n; i++)
		k += r->x[i].kind == kind;
	return k;
}

void rec_reset(struct rec *r, struct fs_view *v, uint64_t version)
{
	r->v = v;
	r->version = version;
	r->n = 0;
}
