/* SPDX-License-Identifier: MIT */
#include "inodes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUCKETS (1u << 16)

struct tfs_inodes {
	pthread_mutex_t lock;
	struct tfs_inode **b;	 /* by ino */
	struct tfs_inode **up;	 /* upper records by up_ino (indexed) */
	uint64_t next_upper_ino; /* the next number for an upper object */
};

static size_t hash(uint64_t k)
{
	return (size_t)((k * 0x9e3779b97f4a7c15ull) >> 48);
}

static struct tfs_inode **slot(struct tfs_inodes *t, uint64_t ino)
{
	struct tfs_inode **pp = &t->b[hash(ino)];

	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->next;
	return pp;
}

static struct tfs_inode **up_slot(struct tfs_inodes *t, uint64_t up_ino)
{
	struct tfs_inode **pp = &t->up[hash(up_ino)];

	while (*pp && (*pp)->up_ino != up_ino)
		pp = &(*pp)->up_next;
	return pp;
}

int tfs_inodes_new(struct tfs_inodes **ret)
{
	struct tfs_inodes *t = calloc(1, sizeof(*t));

	if (!t || !(t->b = calloc(BUCKETS, sizeof(*t->b))) ||
	    !(t->up = calloc(BUCKETS, sizeof(*t->up)))) {
		if (t)
			free(t->b);
		free(t);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->next_upper_ino = FS_UPPER_INO_BASE;
	*ret = t;
	return 0;
}

static void rec_free(struct tfs_inode *x)
{
	if (x->is_file)
		fs_file_free(&x->f);
	if (x->def)
		fs_file_free(x->def);
	free(x->def);
	if (x->fd >= 0)
		close(x->fd);
	pthread_mutex_destroy(&x->lock);
	free(x->name);
	free(x->buf);
	free(x);
}

void tfs_inodes_free(struct tfs_inodes *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < BUCKETS; i++)
		while (t->b[i]) {
			struct tfs_inode *x = t->b[i];

			t->b[i] = x->next;
			rec_free(x);
		}
	pthread_mutex_destroy(&t->lock);
	free(t->b);
	free(t->up);
	free(t);
}

static void unindex(struct tfs_inodes *t, struct tfs_inode *x)
{
	struct tfs_inode **pp;

	if (!x->indexed)
		return;
	for (pp = &t->up[hash(x->up_ino)]; *pp != x; pp = &(*pp)->up_next)
		;
	*pp = x->up_next;
	x->indexed = false;
}

static void index_upper(struct tfs_inodes *t, struct tfs_inode *x,
			uint64_t up_ino)
{
	struct tfs_inode **pp;

	unindex(t, x);
	/* A record that had the number before lost its file (unindex was
	 * missed, say a reset): the newest owner wins. */
	pp = up_slot(t, up_ino);
	if (*pp) {
		struct tfs_inode *old = *pp;

		*pp = old->up_next;
		old->indexed = false;
	}
	x->upper = true;
	x->up_ino = up_ino;
	x->indexed = true;
	x->up_next = t->up[hash(up_ino)];
	t->up[hash(up_ino)] = x;
}

/* Record where x was found (table lock). -ENOMEM leaves the old name. */
static int set_at(struct tfs_inode *x, const struct tfs_at *at)
{
	char *n;

	if (!at)
		return 0;
	x->parent = at->parent;
	if (x->name && strlen(x->name) == at->name_len &&
	    memcmp(x->name, at->name, at->name_len) == 0)
		return 0;
	n = strndup(at->name, at->name_len);
	if (!n)
		return -ENOMEM;
	free(x->name);
	x->name = n;
	return 0;
}

/* An existing record for what the lookup found (table lock). */
static struct tfs_inode *find_at(struct tfs_inodes *t, struct fs_attr *a,
				 const struct tfs_at *at)
{
	struct tfs_inode *x;

	if (at && at->upper) {
		x = *up_slot(t, at->up_ino);
		if (x) {
			a->ino = x->ino;
			a->st.st_ino = (ino_t)x->ino;
		}
		return x;
	}
	return *slot(t, a->ino);
}

int tfs_inodes_ref(struct tfs_inodes *t, struct fs_view *v, struct fs_attr *a,
		   const struct tfs_at *at)
{
	struct tfs_inode *x;
	int r;

	pthread_mutex_lock(&t->lock);
	x = find_at(t, a, at);
	if (x) {
		r = set_at(x, at);
		if (r == 0) {
			x->nlookup++;
			x->attr = *a;
		}
		pthread_mutex_unlock(&t->lock);
		return r;
	}
	pthread_mutex_unlock(&t->lock);

	/* New: a lower file's chunk list is taken outside the lock. */
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->fd = -1;
	x->attr = *a;
	x->nlookup = 1;
	x->cached = UINT32_MAX;
	x->is_file = S_ISREG(a->st.st_mode) && !(at && at->upper);
	if (x->is_file && (r = fs_view_open(v, a->ino, &x->f)) < 0) {
		free(x);
		return r;
	}
	pthread_mutex_init(&x->lock, NULL);
	pthread_mutex_lock(&t->lock);
	if (set_at(x, at) < 0) {
		pthread_mutex_unlock(&t->lock);
		rec_free(x);
		return -ENOMEM;
	}
	if (find_at(t, a, at)) {
		/* Another lookup of the same inode got here first. */
		struct tfs_inode *y = find_at(t, a, at);

		y->nlookup++;
		pthread_mutex_unlock(&t->lock);
		rec_free(x);
		return 0;
	}
	if (at && at->upper) {
		a->ino = t->next_upper_ino++;
		a->st.st_ino = (ino_t)a->ino;
		x->attr = *a;
		index_upper(t, x, at->up_ino);
	}
	x->ino = a->ino;
	x->next = t->b[hash(x->ino)];
	t->b[hash(x->ino)] = x;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

uint64_t tfs_inodes_upper_ino(struct tfs_inodes *t, uint64_t up_ino)
{
	struct tfs_inode *x;
	uint64_t ino;

	pthread_mutex_lock(&t->lock);
	x = *up_slot(t, up_ino);
	ino = x ? x->ino : 0;
	pthread_mutex_unlock(&t->lock);
	return ino;
}

void tfs_inodes_forget(struct tfs_inodes *t, uint64_t ino, uint64_t n)
{
	struct tfs_inode **pp, *x = NULL;

	pthread_mutex_lock(&t->lock);
	pp = slot(t, ino);
	if (*pp && (*pp)->nlookup <= n) {
		x = *pp;
		*pp = x->next;
		unindex(t, x);
	} else if (*pp) {
		(*pp)->nlookup -= n;
	}
	pthread_mutex_unlock(&t->lock);
	if (x)
		rec_free(x);
}

struct tfs_inode *tfs_inodes_find(struct tfs_inodes *t, uint64_t ino)
{
	struct tfs_inode *x;

	pthread_mutex_lock(&t->lock);
	x = *slot(t, ino);
	pthread_mutex_unlock(&t->lock);
	return x;
}

int tfs_inodes_path(struct tfs_inodes *t, uint64_t ino, char *buf, size_t cap)
{
	/* Built from the end: names are prepended as the walk goes up. */
	size_t pos = cap - 1;
	int depth = 0;

	if (cap == 0)
		return -ENAMETOOLONG;
	buf[pos] = '\0';
	pthread_mutex_lock(&t->lock);
	while (ino != 1) {
		struct tfs_inode *x = *slot(t, ino);
		size_t n;

		/* A cycle cannot happen (the kernel never moves a directory
		 * under itself), but a bound costs nothing. */
		if (!x || !x->name || ++depth > 2048) {
			pthread_mutex_unlock(&t->lock);
			return -ESTALE;
		}
		n = strlen(x->name);
		if (n + (pos < cap - 1) > pos) {
			pthread_mutex_unlock(&t->lock);
			return -ENAMETOOLONG;
		}
		if (pos < cap - 1)
			buf[--pos] = '/';
		pos -= n;
		memcpy(buf + pos, x->name, n);
		ino = x->parent;
	}
	pthread_mutex_unlock(&t->lock);
	memmove(buf, buf + pos, cap - pos);
	return (int)(cap - 1 - pos);
}

void tfs_inodes_set_upper(struct tfs_inodes *t, struct tfs_inode *x,
			  uint64_t up_ino)
{
	pthread_mutex_lock(&t->lock);
	index_upper(t, x, up_ino);
	pthread_mutex_unlock(&t->lock);
}

void tfs_inodes_unindex(struct tfs_inodes *t, uint64_t up_ino)
{
	struct tfs_inode *x;

	pthread_mutex_lock(&t->lock);
	x = *up_slot(t, up_ino);
	if (x)
		unindex(t, x);
	pthread_mutex_unlock(&t->lock);
}

void tfs_inodes_move(struct tfs_inodes *t, uint64_t ino, uint64_t parent,
		     const char *name)
{
	struct tfs_at at = { parent, name, strlen(name), false, 0 };
	struct tfs_inode *x;

	pthread_mutex_lock(&t->lock);
	x = *slot(t, ino);
	if (x)
		(void)set_at(x, &at);
	pthread_mutex_unlock(&t->lock);
}

void tfs_inodes_reset(struct tfs_inodes *t, tfs_inodes_fn fn, void *opaque)
{
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < BUCKETS; i++) {
		for (struct tfs_inode *x = t->b[i]; x; x = x->next) {
			if (fn)
				fn(opaque, x);
			unindex(t, x);
			x->upper = false;
		}
	}
	pthread_mutex_unlock(&t->lock);
}
