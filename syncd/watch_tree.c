/* SPDX-License-Identifier: MIT */
/* The watcher's directory tree: intrusive sibling lists plus two chained
 * hash tables (by wd, by parent and name) over the same nodes. */
#include "watch_tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include <xxhash.h>

static uint64_t hash_wd(int wd)
{
	return (uint64_t)(uint32_t)wd * 0x9e3779b97f4a7c15ull;
}

static uint64_t hash_name(const struct sd_wnode *parent, const char *name,
			  size_t len)
{
	return XXH3_64bits_withSeed(name, len, (uint64_t)(uintptr_t)parent);
}

static struct sd_wnode **next_of(struct sd_wnode *n, bool by_wd)
{
	return by_wd ? &n->wd_next : &n->name_next;
}

/* Doubles t (or makes its first 64 buckets) when it is at load 1. */
static int table_reserve(struct sd_wtable *t, bool by_wd)
{
	size_t nb;
	struct sd_wnode **b;

	if (t->b && t->n <= t->mask)
		return 0;
	nb = t->b ? 2 * (t->mask + 1) : 64;
	b = calloc(nb, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; t->b && i <= t->mask; i++) {
		struct sd_wnode *n = t->b[i];

		while (n) {
			struct sd_wnode *next = *next_of(n, by_wd);
			size_t h = (by_wd ? hash_wd(n->wd) : n->name_hash) &
				   (nb - 1);

			*next_of(n, by_wd) = b[h];
			b[h] = n;
			n = next;
		}
	}
	free(t->b);
	t->b = b;
	t->mask = nb - 1;
	return 0;
}

static void table_remove(struct sd_wtable *t, struct sd_wnode *n, uint64_t h,
			 bool by_wd)
{
	struct sd_wnode **pp;

	if (!t->b)
		return;
	for (pp = &t->b[h & t->mask]; *pp; pp = next_of(*pp, by_wd)) {
		if (*pp == n) {
			*pp = *next_of(n, by_wd);
			t->n--;
			return;
		}
	}
}

int sd_wtree_init(struct sd_wtree *t, int ifd)
{
	memset(t, 0, sizeof(*t));
	t->ifd = ifd;
	t->limbo.wd = -1;
	t->root = calloc(1, sizeof(*t->root));
	if (!t->root)
		return -ENOMEM;
	t->root->wd = -1;
	return 0;
}

void sd_wtree_fini(struct sd_wtree *t)
{
	struct sd_wnode *n;

	if (t->root) {
		while ((n = t->root->child))
			sd_wtree_drop(t, n, false);
		while ((n = t->limbo.child))
			sd_wtree_drop(t, n, false);
		free(t->root);
	}
	free(t->wds.b);
	free(t->names.b);
	memset(t, 0, sizeof(*t));
}

struct sd_wnode *sd_wtree_by_wd(const struct sd_wtree *t, int wd)
{
	struct sd_wnode *n;

	if (!t->wds.b || wd < 0)
		return NULL;
	for (n = t->wds.b[hash_wd(wd) & t->wds.mask]; n; n = n->wd_next)
		if (n->wd == wd)
			return n;
	return NULL;
}

struct sd_wnode *sd_wtree_by_name(const struct sd_wtree *t,
				  const struct sd_wnode *parent,
				  const char *name, size_t len)
{
	uint64_t h;
	struct sd_wnode *n;

	if (!t->names.b)
		return NULL;
	h = hash_name(parent, name, len);
	for (n = t->names.b[h & t->names.mask]; n; n = n->name_next)
		if (n->name_hash == h && n->parent == parent &&
		    n->name_len == len && memcmp(n->name, name, len) == 0)
			return n;
	return NULL;
}

int sd_wtree_watch(struct sd_wtree *t, struct sd_wnode *n, int wd)
{
	size_t h;

	if (table_reserve(&t->wds, true) < 0)
		return -ENOMEM;
	n->wd = wd;
	h = hash_wd(wd) & t->wds.mask;
	n->wd_next = t->wds.b[h];
	t->wds.b[h] = n;
	t->wds.n++;
	t->nwatched++;
	if (n != t->root)
		t->nunwatched--;
	return 0;
}

void sd_wtree_unwatch(struct sd_wtree *t, struct sd_wnode *n, bool rm)
{
	if (n->wd < 0)
		return;
	table_remove(&t->wds, n, hash_wd(n->wd), true);
	if (rm)
		inotify_rm_watch(t->ifd, n->wd);
	n->wd = -1;
	t->nwatched--;
	if (n != t->root)
		t->nunwatched++;
	t->freed = true;
}

static void link_child(struct sd_wnode *p, struct sd_wnode *n)
{
	n->parent = p;
	n->prev = NULL;
	n->next = p->child;
	if (p->child)
		p->child->prev = n;
	p->child = n;
}

static void unlink_child(struct sd_wnode *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else if (n->parent)
		n->parent->child = n->next;
	if (n->next)
		n->next->prev = n->prev;
	n->next = n->prev = NULL;
	n->parent = NULL;
}

int sd_wtree_place(struct sd_wtree *t, struct sd_wnode *n, struct sd_wnode *p,
		   const char *name, size_t len)
{
	char *nm = n->name;
	size_t h;

	if (table_reserve(&t->names, false) < 0)
		return -ENOMEM;
	if (!nm || n->name_len != len || memcmp(nm, name, len) != 0) {
		nm = malloc(len + 1);
		if (!nm)
			return -ENOMEM;
		memcpy(nm, name, len);
		nm[len] = '\0';
	}
	if (n->parent) {
		table_remove(&t->names, n, n->name_hash, false);
		unlink_child(n);
	}
	if (nm != n->name) {
		free(n->name);
		n->name = nm;
		n->name_len = len;
	}
	link_child(p, n);
	n->name_hash = hash_name(p, nm, len);
	h = n->name_hash & t->names.mask;
	n->name_next = t->names.b[h];
	t->names.b[h] = n;
	t->names.n++;
	return 0;
}

struct sd_wnode *sd_wtree_add(struct sd_wtree *t, struct sd_wnode *p,
			      const char *name, size_t len)
{
	struct sd_wnode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->wd = -1;
	if (sd_wtree_place(t, n, p, name, len) < 0) {
		free(n);
		return NULL;
	}
	t->nunwatched++;
	return n;
}

static void drop_one(struct sd_wtree *t, struct sd_wnode *n, bool rm)
{
	sd_wtree_unwatch(t, n, rm);
	t->nunwatched--;
	table_remove(&t->names, n, n->name_hash, false);
	unlink_child(n);
	free(n->name);
	free(n);
}

void sd_wtree_drop(struct sd_wtree *t, struct sd_wnode *top, bool rm)
{
	struct sd_wnode *n = top;

	/* Leftmost leaf first, then back to its parent: each node is passed
	 * once per child, so the whole is linear and needs no stack. */
	for (;;) {
		struct sd_wnode *p;

		while (n->child)
			n = n->child;
		p = n->parent;
		drop_one(t, n, rm);
		if (n == top)
			return;
		n = p;
	}
}

ssize_t sd_wtree_path(const struct sd_wtree *t, const struct sd_wnode *n,
		      char *out, size_t cap)
{
	size_t len = 0, pos;
	const struct sd_wnode *m;

	for (m = n; m != t->root; m = m->parent) {
		if (!m->parent || m == &t->limbo)
			return -ENOENT;
		len += m->name_len + (m->parent != t->root);
		if (len >= cap)
			return -ENAMETOOLONG;
	}
	out[len] = '\0';
	pos = len;
	for (m = n; m != t->root; m = m->parent) {
		pos -= m->name_len;
		memcpy(out + pos, m->name, m->name_len);
		if (m->parent != t->root)
			out[--pos] = '/';
	}
	return (ssize_t)len;
}

ssize_t sd_wtree_child_path(const struct sd_wtree *t, const struct sd_wnode *p,
			    const char *name, size_t len, char *out, size_t cap)
{
	ssize_t pl = sd_wtree_path(t, p, out, cap);
	size_t at;

	if (pl < 0)
		return pl;
	at = (size_t)pl + (pl > 0);
	if (at + len >= cap)
		return -ENAMETOOLONG;
	if (pl > 0)
		out[pl] = '/';
	memcpy(out + at, name, len);
	out[at + len] = '\0';
	return (ssize_t)(at + len);
}

bool sd_wtree_is_under(const struct sd_wnode *n, const struct sd_wnode *top)
{
	for (; n; n = n->parent)
		if (n == top)
			return true;
	return false;
}

struct sd_wnode *sd_wtree_next(const struct sd_wtree *t,
			       const struct sd_wnode *n, bool descend)
{
	if (descend && n->child)
		return n->child;
	while (n != t->root && !n->next)
		n = n->parent;
	return n == t->root ? NULL : n->next;
}
