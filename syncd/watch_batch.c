/* SPDX-License-Identifier: MIT */
/* The watcher's batches (watch_batch.h): a deduplicating set of paths,
 * their strings in an arena that is reused from one batch to the next. */
#include "watch_batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#define ARENA_BLOCK (64u * 1024u)

struct arena_blk {
	struct arena_blk *next;
	size_t used, cap;
	char data[];
};

struct batch_impl {
	struct arena_blk *head, *cur;
	size_t cap;	  /* of paths[] */
	uint32_t *slots;  /* index + 1, 0 = empty */
	uint64_t *hashes; /* per path */
	size_t slot_mask; /* slots - 1 */
	bool full;	  /* outgrew SD_WATCH_PATHS_MAX */
};

void sd_watch_batch_init(struct sd_watch_batch *b)
{
	memset(b, 0, sizeof(*b));
}

void sd_watch_batch_fini(struct sd_watch_batch *b)
{
	struct batch_impl *im = b->impl;

	if (im) {
		struct arena_blk *a = im->head;

		while (a) {
			struct arena_blk *n = a->next;

			free(a);
			a = n;
		}
		free(im->slots);
		free(im->hashes);
		free(im);
	}
	free(b->paths);
	memset(b, 0, sizeof(*b));
}

int sdw_batch_prepare(struct sd_watch_batch *b)
{
	struct batch_impl *im = b->impl;

	if (!im) {
		im = calloc(1, sizeof(*im));
		if (!im)
			return -ENOMEM;
		b->impl = im;
	}
	for (struct arena_blk *a = im->head; a; a = a->next)
		a->used = 0;
	im->cur = im->head;
	if (im->slots)
		memset(im->slots, 0, (im->slot_mask + 1) * sizeof(*im->slots));
	im->full = false;
	b->count = 0;
	b->rescan = false;
	return 0;
}

static char *arena_dup(struct batch_impl *im, const char *s, size_t len)
{
	struct arena_blk *a = im->cur;
	char *p;

	while (a && a->cap - a->used < len + 1)
		a = a->next;
	if (!a) {
		size_t cap = len + 1 > ARENA_BLOCK ? len + 1 : ARENA_BLOCK;

		a = malloc(sizeof(*a) + cap);
		if (!a)
			return NULL;
		a->used = 0;
		a->cap = cap;
		/* Blocks stay in order of creation; a fresh one goes last so
		 * that a reset walks them all again. */
		a->next = NULL;
		if (!im->head) {
			im->head = a;
		} else {
			struct arena_blk *t = im->cur ? im->cur : im->head;

			while (t->next)
				t = t->next;
			t->next = a;
		}
	}
	im->cur = a;
	p = a->data + a->used;
	memcpy(p, s, len);
	p[len] = '\0';
	a->used += len + 1;
	return p;
}

static int batch_grow(struct sd_watch_batch *b, struct batch_impl *im)
{
	size_t ncap = im->cap ? 2 * im->cap : 256;
	size_t nslots = 2 * ncap;
	const char **np;
	uint64_t *nh;
	uint32_t *ns;

	np = realloc(b->paths, ncap * sizeof(*np));
	if (!np)
		return -ENOMEM;
	b->paths = np;
	nh = realloc(im->hashes, ncap * sizeof(*nh));
	if (!nh)
		return -ENOMEM;
	im->hashes = nh;
	ns = calloc(nslots, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	free(im->slots);
	im->slots = ns;
	im->slot_mask = nslots - 1;
	im->cap = ncap;
	for (size_t i = 0; i < b->count; i++) {
		size_t s = im->hashes[i] & im->slot_mask;

		while (ns[s])
			s = (s + 1) & im->slot_mask;
		ns[s] = (uint32_t)i + 1;
	}
	return 0;
}

int sdw_batch_add(struct sd_watch_batch *b, const char *path, size_t len)
{
	struct batch_impl *im = b->impl;
	uint64_t h;
	size_t s;

	if (im->full)
		return 0;
	if (b->count >= SD_WATCH_PATHS_MAX) {
		/* Only the flag: a batch this large is routine for a big
		 * checkout, not a fault worth a warning. */
		im->full = true;
		b->count = 0;
		b->rescan = true;
		return 0;
	}
	h = XXH3_64bits(path, len);
	if (im->slots) {
		for (s = h & im->slot_mask; im->slots[s];
		     s = (s + 1) & im->slot_mask) {
			size_t i = im->slots[s] - 1;

			if (im->hashes[i] == h &&
			    strncmp(b->paths[i], path, len) == 0 &&
			    b->paths[i][len] == '\0')
				return 0;
		}
	}
	if (b->count == im->cap && batch_grow(b, im) < 0)
		return -ENOMEM;
	b->paths[b->count] = arena_dup(im, path, len);
	if (!b->paths[b->count])
		return -ENOMEM;
	im->hashes[b->count] = h;
	for (s = h & im->slot_mask; im->slots[s]; s = (s + 1) & im->slot_mask)
		;
	im->slots[s] = (uint32_t)++b->count;
	return 0;
}
