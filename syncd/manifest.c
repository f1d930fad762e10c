/* SPDX-License-Identifier: MIT */
/* Manifests: the path rules, arena storage, the entry and tree rules,
 * sorting, sealing and lookups. Encodings: manifest_codec.c; deltas:
 * manifest_delta.c. */
#include "manifest.h"
#include "manifest_int.h"
#include "thp.h"

#include <errno.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Arena blocks double from BLK_MIN up to BLK_MAX; a larger request gets a
 * block of its own size. */
#define BLK_MIN (64u << 10)
#define BLK_MAX (64u << 20)

_Static_assert(sizeof(struct sd_chunkref) == SD_ID_SIZE + 4,
	       "sd_chunkref has padding: sd_entry_equal() compares bytes");

/* ---- display ---- */

const char *sdm_show(struct shown *out, const char *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	out->s[o++] = '\'';
	for (i = 0; i < len; i++) {
		uint8_t c = (uint8_t)p[i];
		bool plain = c >= 0x20 && c < 0x7f && c != '\'' && c != '\\';

		if (o + (plain ? 1 : 4) > SHOW_MAX + 1)
			break;
		if (plain) {
			out->s[o++] = (char)c;
		} else {
			out->s[o++] = '\\';
			out->s[o++] = 'x';
			out->s[o++] = hex[c >> 4];
			out->s[o++] = hex[c & 15];
		}
	}
	out->s[o++] = '\'';
	if (i < len) {
		memcpy(out->s + o, "...", 3);
		o += 3;
	}
	out->s[o] = '\0';
	return out->s;
}

/* ---- paths ---- */

int sd_path_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;

	if (c)
		return c;
	return (alen > blen) - (alen < blen);
}

int sd_path_check(const char *path, size_t len, struct sd_err *why)
{
	struct shown s;
	size_t start = 0;

	if (len == 0)
		return sd_err_set(why, -EINVAL, "path '': empty");
	if (len > SD_PATH_MAX)
		return sd_err_set(why, -EINVAL, "path %s: %zu bytes, over %u",
				  sdm_show(&s, path, len), len, SD_PATH_MAX);
	if (memchr(path, '\0', len))
		return sd_err_set(why, -EINVAL, "path %s: contains NUL",
				  sdm_show(&s, path, len));
	if (path[0] == '/')
		return sd_err_set(why, -EINVAL,
				  "path %s: absolute (leading '/')",
				  sdm_show(&s, path, len));
	if (path[len - 1] == '/')
		return sd_err_set(why, -EINVAL, "path %s: trailing '/'",
				  sdm_show(&s, path, len));
	/* One pass over the bytes: components are short, a memchr() call
	 * per component costs more than it saves. */
	for (size_t i = 0; i <= len; i++) {
		const char *p = path + start;
		size_t n = i - start;

		if (i < len && path[i] != '/')
			continue;
		start = i + 1;
		if (n == 0)
			return sd_err_set(why, -EINVAL,
					  "path %s: empty component",
					  sdm_show(&s, path, len));
		if (n > SD_NAME_MAX)
			return sd_err_set(
				why, -EINVAL,
				"path %s: component of %zu bytes, over %u",
				sdm_show(&s, path, len), n, SD_NAME_MAX);
		if (p[0] == '.' && (n == 1 || (n == 2 && p[1] == '.')))
			return sd_err_set(why, -EINVAL,
					  "path %s: '%.*s' component",
					  sdm_show(&s, path, len), (int)n, p);
	}
	return 0;
}

/* The index of the first of e[0..n) whose path is >= (path, len). */
size_t sdm_lower_bound(const struct sd_entry *e, size_t n, const char *path,
		       size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sd_path_cmp(e[mid].path, e[mid].path_len, path, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The index of (path, len) in e[0..n), or n. */
size_t sdm_search(const struct sd_entry *e, size_t n, const char *path,
		  size_t len)
{
	size_t i = sdm_lower_bound(e, n, path, len);

	if (i < n && e[i].path_len == len && memcmp(e[i].path, path, len) == 0)
		return i;
	return n;
}

/* The length of the parent's path, or 0 for a top-level path. */
size_t sdm_parent_len(const char *path, size_t len)
{
	while (len > 0 && path[len - 1] != '/')
		len--;
	return len ? len - 1 : 0;
}

/* ---- arena ---- */

/* A block of entry bytes. refs counts the manifests whose entries may
 * point into it: the one that allocated it, and each that shares it. */
struct blk {
	struct blk *next; /* the owner's chain */
	atomic_size_t refs;
	size_t used, cap;
	max_align_t data[];
};

/* Blocks a manifest shares with others, and the manifests it took them
 * from last (a merge alternates between two). */
#define TAGS 4u
struct borrowed {
	const void *tags[TAGS];
	unsigned next_tag;
	const void *copy_tag; /* the last src found too spread to share */
	size_t n, cap;
	struct blk *b[];
};

/* Past this many blocks, a manifest's entries are copied rather than
 * shared: versions sharing versions would otherwise pin one more small
 * block each (their delta's), without end. */
#define SHARE_MAX 64u

static struct blk *blk_new(size_t cap)
{
	struct blk *nb = malloc(sizeof(*nb) + cap);

	if (!nb)
		return NULL;
	util_thp_hint(nb, sizeof(*nb) + cap);
	nb->next = NULL;
	atomic_init(&nb->refs, 1);
	nb->used = 0;
	nb->cap = cap;
	return nb;
}

static void blk_unref(struct blk *b)
{
	if (atomic_fetch_sub(&b->refs, 1) == 1)
		free(b);
}

void *sdm_arena_alloc(struct sd_manifest *m, size_t n, size_t align)
{
	struct blk *b = m->arena;
	size_t off = 0;

	if (b)
		off = (b->used + align - 1) & ~(align - 1);
	if (!b || off > b->cap || b->cap - off < n) {
		size_t cap = b ? b->cap * 2 : BLK_MIN;
		struct blk *nb;

		if (cap > BLK_MAX)
			cap = BLK_MAX;
		if (cap < n)
			cap = n;
		nb = blk_new(cap);
		if (!nb)
			return NULL;
		nb->next = b;
		m->arena = b = nb;
		off = 0;
	}
	b->used = off + n;
	return (char *)b->data + off;
}

/* Make the next n bytes of allocations come from one block. */
int sdm_arena_reserve(struct sd_manifest *m, size_t n)
{
	struct blk *b = m->arena, *nb;

	if (n == 0 || (b && b->cap - b->used >= n))
		return 0;
	if (n < BLK_MIN)
		n = BLK_MIN;
	nb = blk_new(n);
	if (!nb)
		return -ENOMEM;
	nb->next = b;
	m->arena = nb;
	return 0;
}

void sdm_arena_rewind(struct sd_manifest *m)
{
	struct blk *b = m->arena;

	/* Only a block nobody shares: what it held is overwritten. */
	if (b && atomic_load(&b->refs) == 1)
		b->used = 0;
}

/* What identifies src's storage: its newest own block, else the first it
 * shares. Once m has shared src, m holds a reference on that very block,
 * so its address cannot be reused by another manifest while m lives. NULL:
 * src has no bytes. */
static const void *storage_tag(const struct sd_manifest *src)
{
	const struct borrowed *sb = src->borrowed;

	if (src->arena)
		return src->arena;
	return sb && sb->n ? sb->b[0] : NULL;
}

/* Whether m already holds src's blocks. */
static bool shares(const struct sd_manifest *m, const void *tag)
{
	const struct borrowed *mb = m->borrowed;

	for (unsigned i = 0; mb && i < TAGS; i++)
		if (mb->tags[i] == tag)
			return true;
	return false;
}

/* Room for one more block in m's list. 0 or -ENOMEM. */
static int borrowed_room(struct sd_manifest *m)
{
	struct borrowed *mb = m->borrowed;

	if (!mb || mb->n == mb->cap) {
		size_t cap = mb ? 2 * mb->cap : 16;
		struct borrowed *nb =
			realloc(mb, sizeof(*mb) + cap * sizeof(mb->b[0]));

		if (!nb)
			return -ENOMEM;
		if (!mb)
			*nb = (struct borrowed){ 0 };
		nb->cap = cap;
		m->borrowed = nb;
	}
	return 0;
}

static int borrow(struct sd_manifest *m, struct blk *b)
{
	struct borrowed *mb;

	if (borrowed_room(m) < 0)
		return -ENOMEM;
	mb = m->borrowed;
	atomic_fetch_add(&b->refs, 1);
	mb->b[mb->n++] = b;
	return 0;
}

/* Make m hold every block src's entries point into (once per src). 0;
 * 1 when src spans too many blocks to share (copy its entries instead);
 * -ENOMEM. */
static int share_blocks(struct sd_manifest *m, const struct sd_manifest *src)
{
	const struct borrowed *sb = src->borrowed;
	const void *tag = storage_tag(src);
	size_t n = sb ? sb->n : 0;
	struct borrowed *mb;
	struct blk *b;
	int r = 0;

	if (!tag || shares(m, tag))
		return 0;
	mb = m->borrowed;
	if (mb && mb->copy_tag == tag)
		return 1;
	for (b = src->arena; b; b = b->next)
		n++;
	if (n > SHARE_MAX) {
		/* Remembered, so the next entry of src does not count its
		 * blocks again. (A tag of a src since freed can only make m
		 * copy what it could have shared.) */
		if (borrowed_room(m) < 0)
			return -ENOMEM;
		((struct borrowed *)m->borrowed)->copy_tag = tag;
		return 1;
	}
	for (size_t i = 0; sb && i < sb->n && r == 0; i++)
		r = borrow(m, sb->b[i]);
	for (b = src->arena; b && r == 0; b = b->next)
		r = borrow(m, b);
	if (r < 0)
		return r;
	mb = m->borrowed;
	if (mb)
		mb->tags[mb->next_tag++ % TAGS] = tag;
	return 0;
}

/* Append entry e of sealed src to m, its bytes shared with src when src's
 * blocks allow, else copied. Unchecked; clears m->sealed. 0 or -ENOMEM. */
int sdm_entry_share(struct sd_manifest *m, const struct sd_manifest *src,
		    const struct sd_entry *e)
{
	return sdm_entries_share(m, src, e, 1);
}

int sdm_entries_share(struct sd_manifest *m, const struct sd_manifest *src,
		      const struct sd_entry *e, size_t n)
{
	int r = n ? share_blocks(m, src) : 0;

	if (r < 0)
		return r;
	if (sdm_entries_reserve(m, n) < 0)
		return -ENOMEM;
	if (r == 1) {
		for (size_t i = 0; i < n && r >= 0; i++)
			r = sdm_entry_copy(m, &e[i]);
		return r < 0 ? r : 0;
	}
	if (n == 0)
		return 0;
	m->sealed = false;
	memcpy(&m->e[m->count], e, n * sizeof(*e));
	m->count += n;
	return 0;
}

int sdm_entries_reserve(struct sd_manifest *m, size_t more)
{
	struct sd_entry *e;
	size_t cap;

	if (m->cap - m->count >= more)
		return 0;
	cap = m->cap ? m->cap * 2 : 64;
	if (cap < m->count + more)
		cap = m->count + more;
	if (cap > SIZE_MAX / sizeof(*e))
		return -ENOMEM;
	e = realloc(m->e, cap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	util_thp_hint(e + m->count, (cap - m->count) * sizeof(*e));
	m->e = e;
	m->cap = cap;
	return 0;
}

void sd_manifest_init(struct sd_manifest *m)
{
	static const uint8_t no_entries[4]; /* count 0 */

	memset(m, 0, sizeof(*m));
	sd_id_of(&m->root, no_entries, sizeof(no_entries));
	m->sealed = true;
}

void sd_manifest_free(struct sd_manifest *m)
{
	struct borrowed *mb = m->borrowed;
	struct blk *b = m->arena;

	while (b) {
		struct blk *next = b->next;

		blk_unref(b);
		b = next;
	}
	for (size_t i = 0; mb && i < mb->n; i++)
		blk_unref(mb->b[i]);
	free(mb);
	free(m->e);
	sd_manifest_init(m);
}

/* Copy e into m's storage, unchecked. */
int sdm_entry_copy(struct sd_manifest *m, const struct sd_entry *e)
{
	struct sd_entry *d;
	char *p;

	if (sdm_entries_reserve(m, 1) < 0)
		return -ENOMEM;
	m->sealed = false;
	d = &m->e[m->count];
	*d = *e;
	p = sdm_arena_alloc(m, (size_t)e->path_len + 1, 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, e->path, e->path_len);
	p[e->path_len] = '\0';
	d->path = p;
	d->target = NULL;
	if (e->type == SD_T_SYMLINK || e->type == SD_T_HARDLINK) {
		p = sdm_arena_alloc(m, (size_t)e->target_len + 1, 1);
		if (!p)
			return -ENOMEM;
		memcpy(p, e->target, e->target_len);
		p[e->target_len] = '\0';
		d->target = p;
	}
	d->chunks = NULL;
	if (e->nchunks) {
		size_t n = (size_t)e->nchunks * sizeof(*e->chunks);

		d->chunks = sdm_arena_alloc(m, n, alignof(struct sd_chunkref));
		if (!d->chunks)
			return -ENOMEM;
		memcpy(d->chunks, e->chunks, n);
	}
	m->count++;
	return 0;
}

/* ---- entries ---- */

/* The rules of one entry on its own (sd_manifest_add()). */
int sdm_entry_check(const struct sd_entry *e, struct sd_err *why)
{
	struct shown s, t;
	int r;

	r = sd_path_check(e->path, e->path_len, why);
	if (r < 0)
		return r;
	if (e->mode & ~07777u)
		return sd_err_set(why, -EINVAL,
				  "%s: mode 0%o has bits outside 07777",
				  sdm_show(&s, e->path, e->path_len), e->mode);
	if (e->type != SD_T_FILE && e->nchunks)
		return sd_err_set(why, -EINVAL, "%s: chunks on a non-file",
				  sdm_show(&s, e->path, e->path_len));
	if ((e->type == SD_T_FILE || e->type == SD_T_DIR ||
	     e->type == SD_T_PENDING) &&
	    (e->target || e->target_len))
		return sd_err_set(why, -EINVAL, "%s: target on a %s",
				  sdm_show(&s, e->path, e->path_len),
				  e->type == SD_T_DIR ? "directory" : "file");

	if ((e->type == SD_T_FILE || e->type == SD_T_PENDING) &&
	    e->size > SD_FILE_MAX)
		return sd_err_set(why, -EINVAL, "%s: size %llu over %llu",
				  sdm_show(&s, e->path, e->path_len),
				  (unsigned long long)e->size,
				  (unsigned long long)SD_FILE_MAX);

	switch (e->type) {
	case SD_T_FILE: {
		uint64_t sum = 0;

		if (e->nchunks > SD_CHUNKS_MAX)
			return sd_err_set(why, -EINVAL,
					  "%s: %u chunks, over %u",
					  sdm_show(&s, e->path, e->path_len),
					  e->nchunks, SD_CHUNKS_MAX);
		if (e->nchunks && !e->chunks)
			return sd_err_set(why, -EINVAL,
					  "%s: %u chunks, list NULL",
					  sdm_show(&s, e->path, e->path_len),
					  e->nchunks);
		/* nchunks < 2^24 and len < 2^32: the sum cannot wrap. */
		for (uint32_t i = 0; i < e->nchunks; i++) {
			if (e->chunks[i].len == 0)
				return sd_err_set(
					why, -EINVAL, "%s: chunk %u is empty",
					sdm_show(&s, e->path, e->path_len), i);
			sum += e->chunks[i].len;
		}
		if (sum != e->size)
			return sd_err_set(
				why, -EINVAL,
				"%s: chunk lens sum to %llu, size is %llu",
				sdm_show(&s, e->path, e->path_len),
				(unsigned long long)sum,
				(unsigned long long)e->size);
		return 0;
	}
	case SD_T_PENDING: return 0; /* size checked above, no chunks */
	case SD_T_DIR:
		if (e->size)
			return sd_err_set(why, -EINVAL,
					  "%s: directory with size %llu",
					  sdm_show(&s, e->path, e->path_len),
					  (unsigned long long)e->size);
		return 0;
	case SD_T_SYMLINK:
		if (!e->target || e->target_len == 0)
			return sd_err_set(why, -EINVAL,
					  "%s: symlink without target",
					  sdm_show(&s, e->path, e->path_len));
		if (e->target_len > SD_PATH_MAX)
			return sd_err_set(
				why, -EINVAL,
				"%s: symlink target of %u bytes, over %u",
				sdm_show(&s, e->path, e->path_len),
				e->target_len, SD_PATH_MAX);
		if (memchr(e->target, '\0', e->target_len))
			return sd_err_set(
				why, -EINVAL, "%s: symlink target %s has NUL",
				sdm_show(&s, e->path, e->path_len),
				sdm_show(&t, e->target, e->target_len));
		if (e->size != e->target_len)
			return sd_err_set(
				why, -EINVAL,
				"%s: symlink size %llu, target is %u bytes",
				sdm_show(&s, e->path, e->path_len),
				(unsigned long long)e->size, e->target_len);
		return 0;
	case SD_T_HARDLINK: {
		struct sd_err tw;

		if (!e->target || e->target_len == 0)
			return sd_err_set(why, -EINVAL,
					  "%s: hardlink without target",
					  sdm_show(&s, e->path, e->path_len));
		if (sd_path_check(e->target, e->target_len, &tw) < 0)
			return sd_err_set(why, -EINVAL,
					  "%s: hardlink target: %s",
					  sdm_show(&s, e->path, e->path_len),
					  tw.what);
		if (e->size || e->mode || e->mtime_ns)
			return sd_err_set(
				why, -EINVAL,
				"%s: hardlink with size, mode or mtime (they "
				"are its target's)",
				sdm_show(&s, e->path, e->path_len));
		return 0;
	}
	default:
		return sd_err_set(why, -EINVAL, "%s: unknown type %u",
				  sdm_show(&s, e->path, e->path_len), e->type);
	}
}

bool sd_entry_equal(const struct sd_entry *a, const struct sd_entry *b)
{
	if (a->path_len != b->path_len || a->type != b->type ||
	    a->mode != b->mode || a->size != b->size ||
	    a->mtime_ns != b->mtime_ns || a->target_len != b->target_len ||
	    a->nchunks != b->nchunks)
		return false;
	if (memcmp(a->path, b->path, a->path_len) != 0)
		return false;
	if (a->target_len && memcmp(a->target, b->target, a->target_len) != 0)
		return false;
	return a->nchunks == 0 ||
	       memcmp(a->chunks, b->chunks,
		      (size_t)a->nchunks * sizeof(*a->chunks)) == 0;
}

int sd_manifest_copy(struct sd_manifest *dst, const struct sd_manifest *src,
		     struct sd_err *why)
{
	int r = 0;

	sd_manifest_init(dst);
	if (!src->sealed)
		return sd_err_set(why, -EINVAL,
				  "manifest: copy of an unsealed "
				  "one");
	r = sdm_entries_share(dst, src, src->e, src->count);
	if (r < 0) {
		sd_manifest_free(dst);
		return sd_err_set(why, r, "manifest: out of memory");
	}
	/* The same entries in the same order, each with its hash: what
	 * sealing would find and compute, src has. */
	dst->version = src->version;
	dst->root = src->root;
	dst->nhardlinks = src->nhardlinks;
	dst->nfiles = src->nfiles;
	dst->nbytes = src->nbytes;
	dst->npending = src->npending;
	dst->sealed = true;
	return 0;
}

int sd_manifest_add_from(struct sd_manifest *m, const struct sd_manifest *src,
			 size_t i, struct sd_err *why)
{
	int r;

	if (!src->sealed || i >= src->count)
		return sd_err_set(why, -EINVAL,
				  "manifest: copy from an unsealed manifest");
	if (m->count >= SD_ENTRIES_MAX)
		return sd_err_set(why, -EINVAL, "manifest: over %u entries",
				  SD_ENTRIES_MAX);
	r = sdm_entry_share(m, src, &src->e[i]);
	return r < 0 ? sd_err_set(why, r, "manifest: out of memory") : 0;
}

int sd_manifest_add(struct sd_manifest *m, const struct sd_entry *e,
		    struct sd_err *why)
{
	int r = sdm_entry_check(e, why);

	if (r < 0)
		return r;
	if (m->count >= SD_ENTRIES_MAX)
		return sd_err_set(why, -EINVAL, "manifest: over %u entries",
				  SD_ENTRIES_MAX);
	r = sdm_entry_copy(m, e);
	if (r == 0)
		r = sdm_entry_hash(&m->e[m->count - 1]);
	return r < 0 ? sd_err_set(why, r, "manifest: out of memory") : 0;
}

/* ---- sealing ---- */

/* A run being sorted: the entry and eight bytes of its path from the
 * current depth, big-endian, zero-padded. Paths hold no NUL, so the padding
 * sorts a path that ends before one that goes on, as memcmp order wants,
 * and equal keys of a path that ends within them mean equal paths. */
struct skey {
	uint64_t k;
	const struct sd_entry *e;
};

static uint64_t key_at(const struct sd_entry *e, size_t d)
{
	uint8_t b[8] = { 0 };
	uint64_t k = 0;

	if (d < e->path_len)
		memcpy(b, e->path + d,
		       e->path_len - d < 8 ? e->path_len - d : 8);
	for (int i = 0; i < 8; i++)
		k = k << 8 | b[i];
	return k;
}

static int skey_cmp(const void *a, const void *b)
{
	return sdm_entry_cmp(((const struct skey *)a)->e,
			     ((const struct skey *)b)->e);
}

static void swap_key(struct skey *a, struct skey *b)
{
	struct skey t = *a;

	*a = *b;
	*b = t;
}

static uint64_t median3(uint64_t x, uint64_t y, uint64_t z)
{
	if (x > y) {
		uint64_t t = x;

		x = y;
		y = t;
	}
	return z < x ? x : z > y ? y : z;
}

/* Three-way radix quicksort (Bentley and Sedgewick) on eight bytes at a
 * time, of paths that agree on their first d bytes. Paths in a tree share
 * long prefixes, which a comparison sort compares again and again; this
 * looks at each byte about once, and its partition passes read only the key
 * array. budget bounds the recursion: past it, qsort() finishes the run. */
static void ksort(struct skey *a, size_t n, size_t d, unsigned budget)
{
	while (n > 1) {
		size_t lt = 0, i = 0, gt = n;
		uint64_t v;

		if (n < 12) {
			for (size_t k = 1; k < n; k++)
				for (size_t j = k;
				     j > 0 &&
				     sdm_entry_cmp(a[j - 1].e, a[j].e) > 0;
				     j--)
					swap_key(&a[j - 1], &a[j]);
			return;
		}
		if (budget == 0) {
			qsort(a, n, sizeof(*a), skey_cmp);
			return;
		}
		v = median3(a[0].k, a[n / 2].k, a[n - 1].k);
		while (i < gt) {
			if (a[i].k < v)
				swap_key(&a[lt++], &a[i++]);
			else if (a[i].k > v)
				swap_key(&a[i], &a[--gt]);
			else
				i++;
		}
		ksort(a, lt, d, budget - 1);
		ksort(a + gt, n - gt, d, budget - 1);
		a += lt;
		n = gt - lt;
		if (a[0].e->path_len < d + 8)
			return; /* equal paths: sdm_tree_check() reports them */
		d += 8;
		for (i = 0; i < n; i++)
			a[i].k = key_at(a[i].e, d);
	}
}

/* Sort m by path. When it was not in order already, the entries are then
 * copied, in order, into a new entry array and one new arena block: what
 * is read together (by sdm_tree_check(), the root hash, an encoder, a merge
 * walk, lookups) is then stored together, and costs no cache or TLB miss
 * per entry. */
int sdm_sort(struct sd_manifest *m)
{
	struct sd_manifest n;
	struct skey *p;
	size_t i;
	int r = 0;

	for (i = 1; i < m->count; i++)
		if (sdm_entry_cmp(&m->e[i - 1], &m->e[i]) > 0)
			break;
	if (i >= m->count)
		return 0;
	p = malloc(m->count * sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (i = 0; i < m->count; i++)
		p[i] = (struct skey){ key_at(&m->e[i], 0), &m->e[i] };
	ksort(p, m->count, 0, 64);
	/* The entries in their new order; the bytes stay where they are. */
	sd_manifest_init(&n);
	r = sdm_entries_reserve(&n, m->count);
	for (i = 0; r == 0 && i < m->count; i++)
		n.e[i] = *p[i].e;
	free(p);
	if (r < 0)
		return r;
	free(m->e);
	m->e = n.e;
	m->cap = n.cap;
	return 0;
}

int sdm_hardlink_check(const struct sd_entry *e, size_t n, size_t i,
		       struct sd_err *why)
{
	size_t k = sdm_search(e, n, e[i].target, e[i].target_len);
	struct shown s, t;
	const char *what = NULL;

	if (k == n)
		what = "is missing";
	else if (e[k].type != SD_T_FILE)
		what = "is not a regular file";
	else if (k > i)
		what = "sorts after it";
	if (!what)
		return 0;
	return sd_err_set(why, -EINVAL, "hardlink %s: target %s %s",
			  sdm_show(&s, e[i].path, e[i].path_len),
			  sdm_show(&t, e[i].target, e[i].target_len), what);
}

/* The whole-tree rules over sorted entries. A parent is found through the
 * last directory seen with its length (last[len], index + 1), which it is
 * but for a name sorting between a directory and its children ("a/b!"
 * between "a/b" and "a/b/c"): then by binary search. */
int sdm_tree_check(struct sd_manifest *m, struct sd_err *why)
{
	const struct sd_entry *e = m->e;
	size_t n = m->count, *last, links = 0;
	uint64_t files = 0, bytes = 0, pending = 0;
	struct shown s, t;
	int r = 0;

	last = calloc(SD_PATH_MAX + 1, sizeof(*last));
	if (!last)
		return sd_err_set(why, -ENOMEM, "manifest: out of memory");
	for (size_t i = 0; i < n && r == 0; i++) {
		const char *path = e[i].path, *slash;
		size_t plen, p;

		if (i && sdm_entry_cmp(&e[i - 1], &e[i]) >= 0) {
			r = sd_err_set(why, -EINVAL, "duplicate path %s",
				       sdm_show(&s, path, e[i].path_len));
			break;
		}
		slash = memrchr(path, '/', e[i].path_len);
		if (slash) {
			plen = (size_t)(slash - path);
			p = last[plen];
			if (p && memcmp(e[p - 1].path, path, plen) == 0)
				p--;
			else
				p = sdm_search(e, i, path, plen);
			if (p == i)
				r = sd_err_set(
					why, -EINVAL,
					"%s: parent directory %s is missing",
					sdm_show(&s, path, e[i].path_len),
					sdm_show(&t, path, plen));
			else if (e[p].type != SD_T_DIR)
				r = sd_err_set(
					why, -EINVAL,
					"%s: parent %s is not a directory",
					sdm_show(&s, path, e[i].path_len),
					sdm_show(&t, path, plen));
		}
		if (e[i].type == SD_T_DIR)
			last[e[i].path_len] = i + 1;
		else
			files++;
		if (e[i].type == SD_T_FILE || e[i].type == SD_T_PENDING)
			bytes += e[i].size;
		pending += e[i].type == SD_T_PENDING;
		if (r == 0 && e[i].type == SD_T_HARDLINK) {
			r = sdm_hardlink_check(e, n, i, why);
			links++;
		}
	}
	free(last);
	m->nhardlinks = links;
	m->nfiles = files;
	m->nbytes = bytes;
	m->npending = pending;
	return r;
}

int sd_manifest_seal(struct sd_manifest *m, struct sd_err *why)
{
	int r;

	/* Every entry was checked on its way in (sd_manifest_add, the
	 * decoders, copies from sealed manifests): what is left to check is
	 * how they fit together. */
	m->sealed = false;
	r = sdm_sort(m);
	if (r < 0)
		return sd_err_set(why, r, "manifest: out of memory");
	r = sdm_tree_check(m, why);
	if (r < 0)
		return r;
	r = sdm_entries_root(m->e, m->count, &m->root);
	if (r < 0)
		return sd_err_set(why, r, "manifest: out of memory");
	m->sealed = true;
	return 0;
}

const struct sd_entry *sd_manifest_find(const struct sd_manifest *m,
					const char *path, size_t len)
{
	size_t i = sdm_search(m->e, m->count, path, len);

	return i < m->count ? &m->e[i] : NULL;
}

size_t sd_manifest_lower_bound(const struct sd_manifest *m, const char *path,
			       size_t len)
{
	return sdm_lower_bound(m->e, m->count, path, len);
}

const struct sd_entry *sd_manifest_resolve(const struct sd_manifest *m,
					   const struct sd_entry *e)
{
	if (e->type != SD_T_HARDLINK)
		return e;
	return sd_manifest_find(m, e->target, e->target_len);
}
