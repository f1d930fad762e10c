/* SPDX-License-Identifier: MIT */
#include "inodes.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#define BUCKETS (1u << 16)

struct tfs_inodes {
	pthread_mutex_t lock;
	struct tfs_inode **b;
};

static struct tfs_inode **slot(struct tfs_inodes *t, uint64_t ino)
{
	struct tfs_inode **pp = &t->b[(ino * 0x9e3779b97f4a7c15ull) >> 48];

	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->next;
	return pp;
}

int tfs_inodes_new(struct tfs_inodes **ret)
{
	struct tfs_inodes *t = calloc(1, sizeof(*t));

	if (!t || !(t->b = calloc(BUCKETS, sizeof(*t->b)))) {
		free(t);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	*ret = t;
	return 0;
}

static void rec_free(struct tfs_inode *x)
{
	if (x->is_file)
		fs_file_free(&x->f);
	pthread_mutex_destroy(&x->lock);
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
	free(t);
}

int tfs_inodes_ref(struct tfs_inodes *t, struct fs_view *v,
		   const struct fs_attr *a)
{
	struct tfs_inode **pp, *x;
	int r;

	pthread_mutex_lock(&t->lock);
	pp = slot(t, a->ino);
	if (*pp) {
		(*pp)->nlookup++;
		(*pp)->attr = *a;
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	pthread_mutex_unlock(&t->lock);

	/* New: the chunk list is taken outside the lock. */
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->ino = a->ino;
	x->attr = *a;
	x->nlookup = 1;
	x->cached = UINT32_MAX;
	x->is_file = S_ISREG(a->st.st_mode);
	if (x->is_file && (r = fs_view_open(v, a->ino, &x->f)) < 0) {
		free(x);
		return r;
	}
	pthread_mutex_init(&x->lock, NULL);
	pthread_mutex_lock(&t->lock);
	pp = slot(t, a->ino);
	if (*pp) {
		/* Another lookup of the same inode got here first. */
		(*pp)->nlookup++;
		pthread_mutex_unlock(&t->lock);
		rec_free(x);
		return 0;
	}
	*pp = x;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

void tfs_inodes_forget(struct tfs_inodes *t, uint64_t ino, uint64_t n)
{
	struct tfs_inode **pp, *x = NULL;

	pthread_mutex_lock(&t->lock);
	pp = slot(t, ino);
	if (*pp && (*pp)->nlookup <= n) {
		x = *pp;
		*pp = x->next;
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
