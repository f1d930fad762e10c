/* SPDX-License-Identifier: MIT */
/* Manifests and deltas: arena storage, the path rules, sorting and the tree
 * check, the canonical encodings (docs/protocol.md) and the merge walks. */
#include "manifest.h"

#include <errno.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- encoding constants (docs/protocol.md, "Manifests and deltas") ---- */

static const uint8_t MAN_MAGIC[4] = { 'T', 'M', 'A', 'N' };
static const uint8_t DLT_MAGIC[4] = { 'T', 'D', 'L', 'T' };

/* magic 4, format 2, version 8, root 16, count 4 */
#define MAN_HDR	      34u
#define MAN_HASH_FROM 30u /* the root hash covers count and the entries */
/* magic 4, format 2, base_version 8, base_root 16, version 8, root 16,
 * ndel 4, nput 4 */
#define DLT_HDR 62u

/* The fewest bytes a record can take: shared, suffix_len, one suffix byte,
 * type, then a hardlink's target_len and one target byte. Counts are checked
 * against the bytes left with these before anything is allocated. */
#define REC_MIN	  6u
#define DEL_MIN	  3u
#define CHUNK_MIN 17u /* id, one-byte len */

#define VAR_MAX 10u /* bytes of a LEB128 uint64 */

/* Arena blocks double from BLK_MIN up to BLK_MAX; a larger request gets a
 * block of its own size. */
#define BLK_MIN (64u << 10)
#define BLK_MAX (64u << 20)

/* The staging buffer a root hash is computed through. It must hold the
 * largest single reservation a record writer makes (a path or a target plus
 * two varints). */
#define STAGE_SIZE (64u << 10)

_Static_assert(sizeof(struct sd_chunkref) == SD_ID_SIZE + 4,
	       "sd_chunkref has padding: sd_entry_equal() compares bytes");
_Static_assert(SD_PATH_MAX + 2 * VAR_MAX < STAGE_SIZE, "stage too small");

/* ---- errors and display ---- */

__attribute__((format(printf, 3, 4))) static int
fail(struct sd_err *why, int code, const char *fmt, ...)
{
	va_list ap;

	if (why) {
		va_start(ap, fmt);
		vsnprintf(why->what, sizeof(why->what), fmt, ap);
		va_end(ap);
	}
	return code;
}

#define SHOW_MAX 96u

/* A path or target for a message: quoted, escaped, capped. */
struct shown {
	char s[SHOW_MAX + 8];
};

static const char *show(struct shown *out, const char *p, size_t len)
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

static const char *show_id(char out[SD_ID_HEX], const struct sd_id *id)
{
	return sd_id_hex(id, out);
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

static int entry_cmp(const struct sd_entry *a, const struct sd_entry *b)
{
	return sd_path_cmp(a->path, a->path_len, b->path, b->path_len);
}

int sd_path_check(const char *path, size_t len, struct sd_err *why)
{
	struct shown s;
	size_t start = 0;

	if (len == 0)
		return fail(why, -EINVAL, "path '': empty");
	if (len > SD_PATH_MAX)
		return fail(why, -EINVAL, "path %s: %zu bytes, over %u",
			    show(&s, path, len), len, SD_PATH_MAX);
	if (memchr(path, '\0', len))
		return fail(why, -EINVAL, "path %s: contains NUL",
			    show(&s, path, len));
	if (path[0] == '/')
		return fail(why, -EINVAL, "path %s: absolute (leading '/')",
			    show(&s, path, len));
	if (path[len - 1] == '/')
		return fail(why, -EINVAL, "path %s: trailing '/'",
			    show(&s, path, len));
	/* One pass over the bytes: components are short, a memchr() call
	 * per component costs more than it saves. */
	for (size_t i = 0; i <= len; i++) {
		const char *p = path + start;
		size_t n = i - start;

		if (i < len && path[i] != '/')
			continue;
		start = i + 1;
		if (n == 0)
			return fail(why, -EINVAL, "path %s: empty component",
				    show(&s, path, len));
		if (n > SD_NAME_MAX)
			return fail(why, -EINVAL,
				    "path %s: component of %zu bytes, over %u",
				    show(&s, path, len), n, SD_NAME_MAX);
		if (p[0] == '.' && (n == 1 || (n == 2 && p[1] == '.')))
			return fail(why, -EINVAL, "path %s: '%.*s' component",
				    show(&s, path, len), (int)n, p);
	}
	return 0;
}

/* The index of the first of e[0..n) whose path is >= (path, len). */
static size_t lower_bound(const struct sd_entry *e, size_t n, const char *path,
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
static size_t search(const struct sd_entry *e, size_t n, const char *path,
		     size_t len)
{
	size_t i = lower_bound(e, n, path, len);

	if (i < n && e[i].path_len == len && memcmp(e[i].path, path, len) == 0)
		return i;
	return n;
}

/* The length of the parent's path, or 0 for a top-level path. */
static size_t parent_len(const char *path, size_t len)
{
	while (len > 0 && path[len - 1] != '/')
		len--;
	return len ? len - 1 : 0;
}

/* ---- arena ---- */

struct blk {
	struct blk *next;
	size_t used, cap;
	max_align_t data[];
};

static void *arena_alloc(struct sd_manifest *m, size_t n, size_t align)
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
		nb = malloc(sizeof(*nb) + cap);
		if (!nb)
			return NULL;
		nb->next = b;
		nb->used = 0;
		nb->cap = cap;
		m->arena = b = nb;
		off = 0;
	}
	b->used = off + n;
	return (char *)b->data + off;
}

/* Make the next n bytes of allocations come from one block. */
static int arena_reserve(struct sd_manifest *m, size_t n)
{
	struct blk *b = m->arena, *nb;

	if (n == 0 || (b && b->cap - b->used >= n))
		return 0;
	if (n < BLK_MIN)
		n = BLK_MIN;
	nb = malloc(sizeof(*nb) + n);
	if (!nb)
		return -ENOMEM;
	nb->next = b;
	nb->used = 0;
	nb->cap = n;
	m->arena = nb;
	return 0;
}

static size_t arena_used(const struct sd_manifest *m)
{
	size_t n = 0;

	for (const struct blk *b = m->arena; b; b = b->next)
		n += b->used;
	return n;
}

static int entries_reserve(struct sd_manifest *m, size_t more)
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
	struct blk *b = m->arena;

	while (b) {
		struct blk *next = b->next;

		free(b);
		b = next;
	}
	free(m->e);
	sd_manifest_init(m);
}

/* Copy e into m's storage, unchecked. */
static int entry_copy(struct sd_manifest *m, const struct sd_entry *e)
{
	struct sd_entry *d;
	char *p;

	if (entries_reserve(m, 1) < 0)
		return -ENOMEM;
	m->sealed = false;
	d = &m->e[m->count];
	*d = *e;
	p = arena_alloc(m, (size_t)e->path_len + 1, 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, e->path, e->path_len);
	p[e->path_len] = '\0';
	d->path = p;
	d->target = NULL;
	if (e->type == SD_T_SYMLINK || e->type == SD_T_HARDLINK) {
		p = arena_alloc(m, (size_t)e->target_len + 1, 1);
		if (!p)
			return -ENOMEM;
		memcpy(p, e->target, e->target_len);
		p[e->target_len] = '\0';
		d->target = p;
	}
	d->chunks = NULL;
	if (e->nchunks) {
		size_t n = (size_t)e->nchunks * sizeof(*e->chunks);

		d->chunks = arena_alloc(m, n, alignof(struct sd_chunkref));
		if (!d->chunks)
			return -ENOMEM;
		memcpy(d->chunks, e->chunks, n);
	}
	m->count++;
	return 0;
}

/* ---- entries ---- */

/* The rules of one entry on its own (sd_manifest_add()). */
static int entry_check(const struct sd_entry *e, struct sd_err *why)
{
	struct shown s, t;
	int r;

	r = sd_path_check(e->path, e->path_len, why);
	if (r < 0)
		return r;
	if (e->mode & ~07777u)
		return fail(why, -EINVAL, "%s: mode 0%o has bits outside 07777",
			    show(&s, e->path, e->path_len), e->mode);
	if (e->type != SD_T_FILE && e->nchunks)
		return fail(why, -EINVAL, "%s: chunks on a non-file",
			    show(&s, e->path, e->path_len));
	if ((e->type == SD_T_FILE || e->type == SD_T_DIR) &&
	    (e->target || e->target_len))
		return fail(why, -EINVAL, "%s: target on a %s",
			    show(&s, e->path, e->path_len),
			    e->type == SD_T_FILE ? "file" : "directory");

	switch (e->type) {
	case SD_T_FILE: {
		uint64_t sum = 0;

		if (e->size > SD_FILE_MAX)
			return fail(why, -EINVAL, "%s: size %llu over %llu",
				    show(&s, e->path, e->path_len),
				    (unsigned long long)e->size,
				    (unsigned long long)SD_FILE_MAX);
		if (e->nchunks > SD_CHUNKS_MAX)
			return fail(why, -EINVAL, "%s: %u chunks, over %u",
				    show(&s, e->path, e->path_len), e->nchunks,
				    SD_CHUNKS_MAX);
		if (e->nchunks && !e->chunks)
			return fail(why, -EINVAL, "%s: %u chunks, list NULL",
				    show(&s, e->path, e->path_len), e->nchunks);
		/* nchunks < 2^24 and len < 2^32: the sum cannot wrap. */
		for (uint32_t i = 0; i < e->nchunks; i++) {
			if (e->chunks[i].len == 0)
				return fail(why, -EINVAL, "%s: chunk %u is empty",
					    show(&s, e->path, e->path_len), i);
			sum += e->chunks[i].len;
		}
		if (sum != e->size)
			return fail(why, -EINVAL,
				    "%s: chunk lens sum to %llu, size is %llu",
				    show(&s, e->path, e->path_len),
				    (unsigned long long)sum,
				    (unsigned long long)e->size);
		return 0;
	}
	case SD_T_DIR:
		if (e->size)
			return fail(why, -EINVAL, "%s: directory with size %llu",
				    show(&s, e->path, e->path_len),
				    (unsigned long long)e->size);
		return 0;
	case SD_T_SYMLINK:
		if (!e->target || e->target_len == 0)
			return fail(why, -EINVAL, "%s: symlink without target",
				    show(&s, e->path, e->path_len));
		if (e->target_len > SD_PATH_MAX)
			return fail(why, -EINVAL,
				    "%s: symlink target of %u bytes, over %u",
				    show(&s, e->path, e->path_len), e->target_len,
				    SD_PATH_MAX);
		if (memchr(e->target, '\0', e->target_len))
			return fail(why, -EINVAL, "%s: symlink target %s has NUL",
				    show(&s, e->path, e->path_len),
				    show(&t, e->target, e->target_len));
		if (e->size != e->target_len)
			return fail(why, -EINVAL,
				    "%s: symlink size %llu, target is %u bytes",
				    show(&s, e->path, e->path_len),
				    (unsigned long long)e->size, e->target_len);
		return 0;
	case SD_T_HARDLINK: {
		struct sd_err tw;

		if (!e->target || e->target_len == 0)
			return fail(why, -EINVAL, "%s: hardlink without target",
				    show(&s, e->path, e->path_len));
		if (sd_path_check(e->target, e->target_len, &tw) < 0)
			return fail(why, -EINVAL, "%s: hardlink target: %s",
				    show(&s, e->path, e->path_len), tw.what);
		if (e->size || e->mode || e->mtime_ns)
			return fail(why, -EINVAL,
				    "%s: hardlink with size, mode or mtime (they "
				    "are its target's)",
				    show(&s, e->path, e->path_len));
		return 0;
	}
	default:
		return fail(why, -EINVAL, "%s: unknown type %u",
			    show(&s, e->path, e->path_len), e->type);
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

int sd_manifest_add(struct sd_manifest *m, const struct sd_entry *e,
		    struct sd_err *why)
{
	int r = entry_check(e, why);

	if (r < 0)
		return r;
	if (m->count >= SD_ENTRIES_MAX)
		return fail(why, -EINVAL, "manifest: over %u entries",
			    SD_ENTRIES_MAX);
	r = entry_copy(m, e);
	return r < 0 ? fail(why, r, "manifest: out of memory") : 0;
}

/* ---- writer: a growing buffer, or a staging buffer for a hash ---- */

struct wr {
	uint8_t *buf;
	size_t len, cap;
	struct sd_hasher *h; /* when set: buf is flushed into h when full */
	int err;
};

static bool wr_room(struct wr *w, size_t n)
{
	uint8_t *nb;
	size_t cap;

	if (w->cap - w->len >= n)
		return true;
	if (w->err)
		return false;
	if (w->h) {
		sd_hasher_update(w->h, w->buf, w->len);
		w->len = 0;
		return true; /* n < STAGE_SIZE: see the assert above */
	}
	cap = w->cap ? w->cap * 2 : 4096;
	if (cap < w->len + n)
		cap = w->len + n;
	if (cap > SD_ENC_MAX)
		cap = SD_ENC_MAX;
	if (cap - w->len < n) {
		w->err = -EMSGSIZE;
		return false;
	}
	nb = realloc(w->buf, cap);
	if (!nb) {
		w->err = -ENOMEM;
		return false;
	}
	w->buf = nb;
	w->cap = cap;
	return true;
}

/* The put_* helpers write into room wr_room() made. */
static inline void put_bytes(struct wr *w, const void *p, size_t n)
{
	if (n)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static inline void put_le(struct wr *w, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		w->buf[w->len++] = (uint8_t)(v >> (8 * i));
}

static inline void put_var(struct wr *w, uint64_t v)
{
	while (v >= 0x80) {
		w->buf[w->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	w->buf[w->len++] = (uint8_t)v;
}

/* The length of the common prefix of a and b, n bytes at most; eight bytes
 * at a time, as paths in one directory share long prefixes. */
static size_t common_prefix(const char *a, const char *b, size_t n)
{
	size_t s = 0;

	for (; s + 8 <= n; s += 8) {
		uint64_t x, y;

		memcpy(&x, a + s, 8);
		memcpy(&y, b + s, 8);
		if (x != y) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return s + (size_t)(__builtin_ctzll(x ^ y) >> 3);
#else
			return s + (size_t)(__builtin_clzll(x ^ y) >> 3);
#endif
		}
	}
	while (s < n && a[s] == b[s])
		s++;
	return s;
}

/* A path as the longest prefix it shares with prev, then the rest. */
static void wr_path(struct wr *w, const char *prev, size_t plen,
		    const char *p, size_t len)
{
	size_t s = common_prefix(prev, p, plen < len ? plen : len);

	if (!wr_room(w, 2 * VAR_MAX + len - s))
		return;
	put_var(w, s);
	put_var(w, len - s);
	put_bytes(w, p + s, len - s);
}

static void wr_entry(struct wr *w, const struct sd_entry *prev,
		     const struct sd_entry *e)
{
	wr_path(w, prev ? prev->path : NULL, prev ? prev->path_len : 0,
		e->path, e->path_len);
	if (!wr_room(w, 1 + 2 + 8 + 2 * VAR_MAX))
		return;
	put_le(w, e->type, 1);
	if (e->type != SD_T_HARDLINK) {
		put_le(w, e->mode, 2);
		put_le(w, (uint64_t)e->mtime_ns, 8);
	}
	switch (e->type) {
	case SD_T_FILE:
		put_var(w, e->size);
		put_var(w, e->nchunks);
		for (uint32_t i = 0; i < e->nchunks; i++) {
			if (!wr_room(w, SD_ID_SIZE + VAR_MAX))
				return;
			put_bytes(w, e->chunks[i].id.b, SD_ID_SIZE);
			put_var(w, e->chunks[i].len);
		}
		break;
	case SD_T_SYMLINK:
	case SD_T_HARDLINK:
		if (!wr_room(w, VAR_MAX + e->target_len))
			return;
		put_var(w, e->target_len);
		put_bytes(w, e->target, e->target_len);
		break;
	}
}

static void wr_entries(struct wr *w, const struct sd_entry *e, size_t n)
{
	for (size_t i = 0; i < n && !w->err; i++)
		wr_entry(w, i ? &e[i - 1] : NULL, &e[i]);
}

/* The root hash: XXH3-128 of count (u32) and the encoded entries. */
static int entries_root(const struct sd_entry *e, size_t n, struct sd_id *out)
{
	struct wr w = { .cap = STAGE_SIZE };

	w.buf = malloc(STAGE_SIZE);
	w.h = sd_hasher_new();
	if (!w.buf || !w.h) {
		free(w.buf);
		sd_hasher_free(w.h);
		return -ENOMEM;
	}
	put_le(&w, n, 4);
	wr_entries(&w, e, n);
	sd_hasher_update(w.h, w.buf, w.len);
	sd_hasher_final(w.h, out);
	sd_hasher_free(w.h);
	free(w.buf);
	return 0;
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
	return entry_cmp(((const struct skey *)a)->e,
			 ((const struct skey *)b)->e);
}

static void swap_key(struct skey *a, struct skey *b)
{
	struct skey t = *a;

	*a = *b;
	*b = t;
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
		uint64_t v, x, y, z;

		if (n < 12) {
			for (size_t k = 1; k < n; k++)
				for (size_t j = k;
				     j > 0 && entry_cmp(a[j - 1].e, a[j].e) > 0;
				     j--)
					swap_key(&a[j - 1], &a[j]);
			return;
		}
		if (budget == 0) {
			qsort(a, n, sizeof(*a), skey_cmp);
			return;
		}
		x = a[0].k;
		y = a[n / 2].k;
		z = a[n - 1].k;
		v = x < y ? (y < z ? y : x < z ? z : x)
			  : (x < z ? x : y < z ? z : y);
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
			return; /* equal paths: tree_check() reports them */
		d += 8;
		for (i = 0; i < n; i++)
			a[i].k = key_at(a[i].e, d);
	}
}

/* Sort m by path. When it was not in order already, the entries are then
 * copied, in order, into a new entry array and one new arena block: what
 * is read together (by tree_check(), the root hash, an encoder, a merge
 * walk, lookups) is then stored together, and costs no cache or TLB miss
 * per entry. */
static int sort_entries(struct sd_manifest *m)
{
	struct sd_manifest n;
	struct skey *p;
	size_t i;
	int r = 0;

	for (i = 1; i < m->count; i++)
		if (entry_cmp(&m->e[i - 1], &m->e[i]) > 0)
			break;
	if (i >= m->count)
		return 0;
	p = malloc(m->count * sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (i = 0; i < m->count; i++)
		p[i] = (struct skey){ key_at(&m->e[i], 0), &m->e[i] };
	ksort(p, m->count, 0, 64);
	sd_manifest_init(&n);
	/* Alignment of chunk lists costs at most 3 bytes an entry. */
	r = entries_reserve(&n, m->count);
	if (r == 0)
		r = arena_reserve(&n, arena_used(m) + 4 * m->count);
	for (i = 0; r == 0 && i < m->count; i++)
		r = entry_copy(&n, p[i].e);
	free(p);
	if (r < 0) {
		sd_manifest_free(&n);
		return r;
	}
	n.version = m->version;
	sd_manifest_free(m);
	*m = n;
	return 0;
}

/* The whole-tree rules over sorted entries. */
static int tree_check(const struct sd_manifest *m, struct sd_err *why)
{
	const struct sd_entry *e = m->e;
	size_t n = m->count, last = n; /* the previous entry's parent */
	struct shown s, t;

	for (size_t i = 0; i < n; i++) {
		size_t plen = parent_len(e[i].path, e[i].path_len), p;

		if (i && entry_cmp(&e[i - 1], &e[i]) >= 0)
			return fail(why, -EINVAL, "duplicate path %s",
				    show(&s, e[i].path, e[i].path_len));
		if (plen) {
			/* Siblings come in runs: try the last parent first. */
			if (last < n && e[last].path_len == plen &&
			    memcmp(e[last].path, e[i].path, plen) == 0)
				p = last;
			else
				p = search(e, i, e[i].path, plen);
			if (p == i)
				return fail(why, -EINVAL,
					    "%s: parent directory %s is missing",
					    show(&s, e[i].path, e[i].path_len),
					    show(&t, e[i].path, plen));
			if (e[p].type != SD_T_DIR)
				return fail(why, -EINVAL,
					    "%s: parent %s is not a directory",
					    show(&s, e[i].path, e[i].path_len),
					    show(&t, e[i].path, plen));
			last = p;
		}
		if (e[i].type == SD_T_HARDLINK) {
			size_t k = search(e, n, e[i].target, e[i].target_len);

			if (k == n)
				return fail(why, -EINVAL,
					    "hardlink %s: target %s is missing",
					    show(&s, e[i].path, e[i].path_len),
					    show(&t, e[i].target,
						 e[i].target_len));
			if (e[k].type != SD_T_FILE)
				return fail(why, -EINVAL,
					    "hardlink %s: target %s is not a "
					    "regular file",
					    show(&s, e[i].path, e[i].path_len),
					    show(&t, e[i].target,
						 e[i].target_len));
			if (k > i)
				return fail(why, -EINVAL,
					    "hardlink %s: target %s sorts after "
					    "it",
					    show(&s, e[i].path, e[i].path_len),
					    show(&t, e[i].target,
						 e[i].target_len));
		}
	}
	return 0;
}

int sd_manifest_seal(struct sd_manifest *m, struct sd_err *why)
{
	int r;

	m->sealed = false;
	for (size_t i = 0; i < m->count; i++) {
		r = entry_check(&m->e[i], why);
		if (r < 0)
			return r;
	}
	r = sort_entries(m);
	if (r < 0)
		return fail(why, r, "manifest: out of memory");
	r = tree_check(m, why);
	if (r < 0)
		return r;
	r = entries_root(m->e, m->count, &m->root);
	if (r < 0)
		return fail(why, r, "manifest: out of memory");
	m->sealed = true;
	return 0;
}

const struct sd_entry *sd_manifest_find(const struct sd_manifest *m,
					const char *path, size_t len)
{
	size_t i = search(m->e, m->count, path, len);

	return i < m->count ? &m->e[i] : NULL;
}

size_t sd_manifest_lower_bound(const struct sd_manifest *m, const char *path,
			       size_t len)
{
	return lower_bound(m->e, m->count, path, len);
}

const struct sd_entry *sd_manifest_resolve(const struct sd_manifest *m,
					   const struct sd_entry *e)
{
	if (e->type != SD_T_HARDLINK)
		return e;
	return sd_manifest_find(m, e->target, e->target_len);
}

/* ---- encoders ---- */

static int wr_finish(struct wr *w, uint8_t **buf, size_t *len)
{
	if (w->err) {
		free(w->buf);
		return w->err;
	}
	*buf = w->buf;
	*len = w->len;
	return 0;
}

int sd_manifest_encode(const struct sd_manifest *m, uint8_t **buf, size_t *len)
{
	struct wr w = { 0 };

	if (!m->sealed)
		return -EINVAL;
	/* A typical entry takes 30 to 60 bytes: one or two reallocs. */
	if (!wr_room(&w, MAN_HDR + m->count * 48))
		return w.err;
	put_bytes(&w, MAN_MAGIC, 4);
	put_le(&w, SD_MANIFEST_FORMAT, 2);
	put_le(&w, m->version, 8);
	put_bytes(&w, m->root.b, SD_ID_SIZE);
	put_le(&w, m->count, 4);
	wr_entries(&w, m->e, m->count);
	return wr_finish(&w, buf, len);
}

/* Whether d is sorted as the header defines it; why names the first
 * offence. */
static int delta_sorted(const struct sd_delta *d, struct sd_err *why)
{
	struct shown s, t;

	for (size_t i = 1; i < d->ndel; i++) {
		if (sd_path_cmp(d->del[i - 1], d->del_len[i - 1], d->del[i],
				d->del_len[i]) >= 0)
			return fail(why, -EINVAL,
				    "delta: delete %s not after %s",
				    show(&s, d->del[i], d->del_len[i]),
				    show(&t, d->del[i - 1], d->del_len[i - 1]));
	}
	/* An ancestor sorts before its descendants: look each prefix up
	 * among the earlier deletes. */
	for (size_t i = 1; i < d->ndel; i++) {
		const char *p = d->del[i];

		for (size_t k = 0; k < d->del_len[i]; k++) {
			size_t lo = 0, hi = i;

			if (p[k] != '/')
				continue;
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;
				int c = sd_path_cmp(d->del[mid], d->del_len[mid],
						    p, k);

				if (c == 0)
					return fail(why, -EINVAL,
						    "delta: delete %s is inside "
						    "deleted %s",
						    show(&s, p, d->del_len[i]),
						    show(&t, p, k));
				if (c < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
		}
	}
	for (size_t i = 1; i < d->put.count; i++) {
		if (entry_cmp(&d->put.e[i - 1], &d->put.e[i]) >= 0)
			return fail(why, -EINVAL, "delta: put %s not after %s",
				    show(&s, d->put.e[i].path,
					 d->put.e[i].path_len),
				    show(&t, d->put.e[i - 1].path,
					 d->put.e[i - 1].path_len));
	}
	return 0;
}

int sd_delta_encode(const struct sd_delta *d, uint8_t **buf, size_t *len)
{
	struct wr w = { 0 };

	if (d->ndel > SD_ENTRIES_MAX || d->put.count > SD_ENTRIES_MAX)
		return -EMSGSIZE;
	if (delta_sorted(d, NULL) < 0)
		return -EINVAL;
	if (!wr_room(&w, DLT_HDR + d->ndel * 16 + d->put.count * 48))
		return w.err;
	put_bytes(&w, DLT_MAGIC, 4);
	put_le(&w, SD_MANIFEST_FORMAT, 2);
	put_le(&w, d->base_version, 8);
	put_bytes(&w, d->base_root.b, SD_ID_SIZE);
	put_le(&w, d->version, 8);
	put_bytes(&w, d->root.b, SD_ID_SIZE);
	put_le(&w, d->ndel, 4);
	put_le(&w, d->put.count, 4);
	for (size_t i = 0; i < d->ndel && !w.err; i++)
		wr_path(&w, i ? d->del[i - 1] : NULL, i ? d->del_len[i - 1] : 0,
			d->del[i], d->del_len[i]);
	wr_entries(&w, d->put.e, d->put.count);
	return wr_finish(&w, buf, len);
}

/* ---- decoders ---- */

struct rd {
	const uint8_t *start, *p, *end;
	const char *what; /* "manifest entry", "delta put", "delta delete" */
	size_t idx;
	size_t budget; /* bytes left of SD_DECODED_MAX */
	struct sd_err *why;
};

__attribute__((format(printf, 3, 4))) static int
rd_fail(struct rd *r, int code, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fail(r->why, code, "%s %zu (byte %zu): %s", r->what, r->idx,
		    (size_t)(r->p - r->start), msg);
}

static size_t rd_left(const struct rd *r)
{
	return (size_t)(r->end - r->p);
}

static int rd_truncated(struct rd *r)
{
	return rd_fail(r, -EINVAL, "truncated");
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* A minimal LEB128 varint. */
static int rd_var(struct rd *r, const char *field, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < VAR_MAX; i++) {
		uint8_t b;

		if (r->p == r->end)
			return rd_truncated(r);
		b = *r->p++;
		if (i == VAR_MAX - 1 && b > 1)
			return rd_fail(r, -EINVAL, "%s: varint over 64 bits",
				       field);
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (b == 0 && i > 0)
				return rd_fail(r, -EINVAL,
					       "%s: varint not minimal", field);
			*out = v;
			return 0;
		}
	}
	return rd_fail(r, -EINVAL, "%s: varint over 64 bits", field);
}

static int rd_spend(struct rd *r, size_t n)
{
	if (n > r->budget)
		return rd_fail(r, -EMSGSIZE, "decodes to over %llu bytes",
			       (unsigned long long)SD_DECODED_MAX);
	r->budget -= n;
	return 0;
}

/* A path as the previous one's first `shared` bytes plus a suffix; it must
 * sort strictly after prev, with shared the longest common prefix. The
 * result is copied into m's arena, NUL-terminated. */
static int rd_path(struct rd *r, struct sd_manifest *m, const char *prev,
		   size_t plen, char **path, uint32_t *len)
{
	uint64_t shared, slen;
	const uint8_t *suf;
	struct shown s;
	char *p;
	int e;

	if ((e = rd_var(r, "shared prefix", &shared)) < 0 ||
	    (e = rd_var(r, "suffix length", &slen)) < 0)
		return e;
	if (shared > plen)
		return rd_fail(r, -EINVAL,
			       "shared prefix %llu longer than the previous "
			       "path (%zu)",
			       (unsigned long long)shared, plen);
	if (slen > SD_PATH_MAX - shared)
		return rd_fail(r, -EMSGSIZE, "path of %llu bytes, over %u",
			       (unsigned long long)(shared + slen),
			       SD_PATH_MAX);
	if (slen > rd_left(r))
		return rd_truncated(r);
	suf = r->p;
	if (slen == 0)
		return rd_fail(r, -EINVAL, "%s path %s",
			       plen ? "duplicate" : "empty",
			       show(&s, prev, plen));
	if (shared < plen) {
		uint8_t a = suf[0], b = (uint8_t)prev[shared];

		if (a == b)
			return rd_fail(r, -EINVAL,
				       "shared prefix %llu is not the longest",
				       (unsigned long long)shared);
		if (a < b)
			return rd_fail(r, -EINVAL, "path sorts before %s",
				       show(&s, prev, plen));
	}
	e = rd_spend(r, shared + slen + 1);
	if (e < 0)
		return e;
	p = arena_alloc(m, shared + slen + 1, 1);
	if (!p)
		return rd_fail(r, -ENOMEM, "out of memory");
	if (shared)
		memcpy(p, prev, shared);
	memcpy(p + shared, suf, slen);
	p[shared + slen] = '\0';
	r->p += slen;
	*path = p;
	*len = (uint32_t)(shared + slen);
	return 0;
}

static int rd_target(struct rd *r, struct sd_manifest *m, struct sd_entry *e)
{
	uint64_t n;
	char *p;
	int k;

	if ((k = rd_var(r, "target length", &n)) < 0)
		return k;
	if (n > SD_PATH_MAX)
		return rd_fail(r, -EMSGSIZE, "target of %llu bytes, over %u",
			       (unsigned long long)n, SD_PATH_MAX);
	if (n > rd_left(r))
		return rd_truncated(r);
	if ((k = rd_spend(r, n + 1)) < 0)
		return k;
	p = arena_alloc(m, n + 1, 1);
	if (!p)
		return rd_fail(r, -ENOMEM, "out of memory");
	memcpy(p, r->p, n);
	p[n] = '\0';
	r->p += n;
	e->target = p;
	e->target_len = (uint32_t)n;
	return 0;
}

static int rd_chunks(struct rd *r, struct sd_manifest *m, struct sd_entry *e)
{
	uint64_t n, len;
	int k;

	if ((k = rd_var(r, "size", &e->size)) < 0 ||
	    (k = rd_var(r, "chunk count", &n)) < 0)
		return k;
	if (n > SD_CHUNKS_MAX)
		return rd_fail(r, -EMSGSIZE, "%llu chunks, over %u",
			       (unsigned long long)n, SD_CHUNKS_MAX);
	if (n > rd_left(r) / CHUNK_MIN)
		return rd_truncated(r);
	if (n == 0)
		return 0;
	if ((k = rd_spend(r, n * sizeof(*e->chunks))) < 0)
		return k;
	e->chunks = arena_alloc(m, n * sizeof(*e->chunks),
				alignof(struct sd_chunkref));
	if (!e->chunks)
		return rd_fail(r, -ENOMEM, "out of memory");
	e->nchunks = (uint32_t)n;
	for (uint32_t i = 0; i < n; i++) {
		if (rd_left(r) < SD_ID_SIZE)
			return rd_truncated(r);
		memcpy(e->chunks[i].id.b, r->p, SD_ID_SIZE);
		r->p += SD_ID_SIZE;
		if ((k = rd_var(r, "chunk length", &len)) < 0)
			return k;
		if (len == 0 || len > UINT32_MAX)
			return rd_fail(r, -EINVAL, "chunk %u: length %llu", i,
				       (unsigned long long)len);
		e->chunks[i].len = (uint32_t)len;
	}
	return 0;
}

/* n records into m (whose entry array holds n more), in strictly increasing
 * path order, each checked as sd_manifest_add() checks it. */
static int rd_entries(struct rd *r, struct sd_manifest *m, size_t n)
{
	int k;

	m->sealed = false;
	for (r->idx = 0; r->idx < n; r->idx++) {
		const struct sd_entry *prev = r->idx ? &m->e[m->count - 1] : NULL;
		struct sd_entry e = { 0 };

		k = rd_path(r, m, prev ? prev->path : NULL,
			    prev ? prev->path_len : 0, &e.path, &e.path_len);
		if (k < 0)
			return k;
		if (rd_left(r) < 1)
			return rd_truncated(r);
		e.type = *r->p++;
		if (e.type >= SD_T_FILE && e.type <= SD_T_SYMLINK) {
			if (rd_left(r) < 10)
				return rd_truncated(r);
			e.mode = (uint32_t)get_le(r->p, 2);
			e.mtime_ns = (int64_t)get_le(r->p + 2, 8);
			r->p += 10;
		}
		switch (e.type) {
		case SD_T_FILE:
			k = rd_chunks(r, m, &e);
			break;
		case SD_T_DIR:
			k = 0;
			break;
		case SD_T_SYMLINK:
			k = rd_target(r, m, &e);
			e.size = e.target_len;
			break;
		case SD_T_HARDLINK:
			k = rd_target(r, m, &e);
			break;
		default:
			return rd_fail(r, -EINVAL, "unknown type %u", e.type);
		}
		if (k < 0)
			return k;
		k = entry_check(&e, r->why);
		if (k < 0)
			return k;
		m->e[m->count++] = e;
	}
	return 0;
}

static int rd_header(struct rd *r, const uint8_t magic[4], size_t hdr,
		     const char *kind)
{
	size_t len = rd_left(r);
	uint64_t format;

	if (len < 4 || memcmp(r->p, magic, 4) != 0)
		return fail(r->why, -EINVAL, "not a %s (bad magic)", kind);
	if (len < 6)
		return fail(r->why, -EINVAL, "%s truncated: %zu bytes", kind,
			    len);
	format = get_le(r->p + 4, 2);
	if (format != SD_MANIFEST_FORMAT)
		return fail(r->why, -EPROTONOSUPPORT,
			    "%s format %llu, this build reads %u", kind,
			    (unsigned long long)format, SD_MANIFEST_FORMAT);
	if ((uint64_t)len > SD_ENC_MAX)
		return fail(r->why, -EMSGSIZE, "%s of %zu bytes, over %llu",
			    kind, len, (unsigned long long)SD_ENC_MAX);
	if (len < hdr)
		return fail(r->why, -EINVAL, "%s truncated: %zu bytes", kind,
			    len);
	r->p += 6;
	return 0;
}

/* Entry array and arena sized for n records in the bytes left, so that a
 * decode is a few allocations. */
static int rd_reserve(struct rd *r, struct sd_manifest *m, size_t n)
{
	size_t guess = rd_left(r) + n * 32;

	if (guess > r->budget)
		guess = r->budget;
	if (entries_reserve(m, n) < 0 || arena_reserve(m, guess) < 0)
		return fail(r->why, -ENOMEM, "out of memory");
	return 0;
}

int sd_manifest_decode(const void *buf, size_t len, struct sd_manifest *m,
		       struct sd_err *why)
{
	struct rd r = { .start = buf,
			.p = buf,
			.end = (const uint8_t *)buf + len,
			.what = "manifest entry",
			.budget = SD_DECODED_MAX,
			.why = why };
	char a[SD_ID_HEX], b[SD_ID_HEX];
	struct sd_id root;
	uint64_t count;
	int k;

	sd_manifest_init(m);
	if ((k = rd_header(&r, MAN_MAGIC, MAN_HDR, "manifest")) < 0)
		return k;
	m->version = get_le(r.p, 8);
	memcpy(m->root.b, r.p + 8, SD_ID_SIZE);
	count = get_le(r.p + 24, 4);
	r.p += 28;
	if (count > SD_ENTRIES_MAX) {
		k = fail(why, -EMSGSIZE, "manifest: %llu entries, over %u",
			 (unsigned long long)count, SD_ENTRIES_MAX);
		goto out;
	}
	if (count > rd_left(&r) / REC_MIN) {
		k = fail(why, -EINVAL, "manifest: %llu entries in %zu bytes",
			 (unsigned long long)count, rd_left(&r));
		goto out;
	}
	if ((k = rd_reserve(&r, m, count)) < 0 ||
	    (k = rd_entries(&r, m, count)) < 0)
		goto out;
	if (r.p != r.end) {
		k = fail(why, -EINVAL, "manifest: %zu trailing bytes",
			 rd_left(&r));
		goto out;
	}
	/* The decoder took only the one encoding, so hashing the bytes as
	 * they came is hashing what sd_manifest_encode() would write. */
	sd_id_of(&root, (const uint8_t *)buf + MAN_HASH_FROM,
		 len - MAN_HASH_FROM);
	if (!sd_id_eq(&root, &m->root)) {
		k = fail(why, -EINVAL,
			 "manifest root hash mismatch: stored %s, computed %s",
			 show_id(a, &m->root), show_id(b, &root));
		goto out;
	}
	if ((k = tree_check(m, why)) < 0)
		goto out;
	m->sealed = true;
	return 0;
out:
	sd_manifest_free(m);
	return k;
}

static int del_push(struct sd_delta *d, const char *path, size_t len)
{
	char *p;

	if (d->ndel == d->del_cap) {
		size_t cap = d->del_cap ? d->del_cap * 2 : 16;
		char **nd = realloc(d->del, cap * sizeof(*nd));
		uint32_t *nl;

		if (!nd)
			return -ENOMEM;
		d->del = nd;
		nl = realloc(d->del_len, cap * sizeof(*nl));
		if (!nl)
			return -ENOMEM;
		d->del_len = nl;
		d->del_cap = cap;
	}
	p = malloc(len + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, path, len);
	p[len] = '\0';
	d->del[d->ndel] = p;
	d->del_len[d->ndel++] = (uint32_t)len;
	return 0;
}

int sd_delta_decode(const void *buf, size_t len, struct sd_delta *d,
		    struct sd_err *why)
{
	struct rd r = { .start = buf,
			.p = buf,
			.end = (const uint8_t *)buf + len,
			.what = "delta delete",
			.budget = SD_DECODED_MAX,
			.why = why };
	/* Deletes are decoded through a scratch manifest's arena, then
	 * copied out to the malloc'd strings the delta keeps. */
	struct sd_manifest scratch;
	uint64_t ndel, nput;
	int k;

	sd_delta_init(d);
	sd_manifest_init(&scratch);
	if ((k = rd_header(&r, DLT_MAGIC, DLT_HDR, "delta")) < 0)
		return k;
	d->base_version = get_le(r.p, 8);
	memcpy(d->base_root.b, r.p + 8, SD_ID_SIZE);
	d->version = get_le(r.p + 24, 8);
	memcpy(d->root.b, r.p + 32, SD_ID_SIZE);
	ndel = get_le(r.p + 48, 4);
	nput = get_le(r.p + 52, 4);
	r.p += 56;
	if (d->version <= d->base_version) {
		k = fail(why, -EINVAL, "delta: version %llu does not follow %llu",
			 (unsigned long long)d->version,
			 (unsigned long long)d->base_version);
		goto out;
	}
	if (ndel > SD_ENTRIES_MAX || nput > SD_ENTRIES_MAX) {
		k = fail(why, -EMSGSIZE,
			 "delta: %llu deletes and %llu puts, over %u",
			 (unsigned long long)ndel, (unsigned long long)nput,
			 SD_ENTRIES_MAX);
		goto out;
	}
	if (ndel * DEL_MIN + nput * REC_MIN > rd_left(&r)) {
		k = fail(why, -EINVAL,
			 "delta: %llu deletes and %llu puts in %zu bytes",
			 (unsigned long long)ndel, (unsigned long long)nput,
			 rd_left(&r));
		goto out;
	}
	d->del = malloc((ndel ? ndel : 1) * sizeof(*d->del));
	d->del_len = malloc((ndel ? ndel : 1) * sizeof(*d->del_len));
	if (!d->del || !d->del_len) {
		k = fail(why, -ENOMEM, "out of memory");
		goto out;
	}
	d->del_cap = ndel ? ndel : 1;
	for (r.idx = 0; r.idx < ndel; r.idx++) {
		const char *prev = r.idx ? d->del[r.idx - 1] : NULL;
		size_t plen = r.idx ? d->del_len[r.idx - 1] : 0;
		uint32_t plen2;
		char *p;

		/* The scratch arena is reset per path: one block. */
		if ((k = rd_path(&r, &scratch, prev, plen, &p, &plen2)) < 0)
			goto out;
		if ((k = sd_path_check(p, plen2, why)) < 0)
			goto out;
		if (del_push(d, p, plen2) < 0) {
			k = fail(why, -ENOMEM, "out of memory");
			goto out;
		}
		((struct blk *)scratch.arena)->used = 0;
	}
	r.what = "delta put";
	if ((k = rd_reserve(&r, &d->put, nput)) < 0 ||
	    (k = rd_entries(&r, &d->put, nput)) < 0)
		goto out;
	if (r.p != r.end) {
		k = fail(why, -EINVAL, "delta: %zu trailing bytes", rd_left(&r));
		goto out;
	}
	if ((k = delta_sorted(d, why)) < 0)
		goto out;
	sd_manifest_free(&scratch);
	return 0;
out:
	sd_manifest_free(&scratch);
	sd_delta_free(d);
	return k;
}

/* ---- deltas ---- */

void sd_delta_init(struct sd_delta *d)
{
	memset(d, 0, sizeof(*d));
	sd_manifest_init(&d->put);
}

void sd_delta_free(struct sd_delta *d)
{
	for (size_t i = 0; i < d->ndel; i++)
		free(d->del[i]);
	free(d->del);
	free(d->del_len);
	sd_manifest_free(&d->put);
	sd_delta_init(d);
}

int sd_delta_delete(struct sd_delta *d, const char *path, size_t len,
		    struct sd_err *why)
{
	int r = sd_path_check(path, len, why);

	if (r < 0)
		return r;
	if (d->ndel >= SD_ENTRIES_MAX)
		return fail(why, -EINVAL, "delta: over %u deletes",
			    SD_ENTRIES_MAX);
	r = del_push(d, path, len);
	return r < 0 ? fail(why, r, "out of memory") : 0;
}

struct del_ref {
	char *p;
	uint32_t len;
};

static int del_ref_cmp(const void *a, const void *b)
{
	const struct del_ref *x = a, *y = b;

	return sd_path_cmp(x->p, x->len, y->p, y->len);
}

int sd_delta_seal(struct sd_delta *d, struct sd_err *why)
{
	struct del_ref *refs;
	int r;

	if (d->version <= d->base_version)
		return fail(why, -EINVAL,
			    "delta: version %llu does not follow %llu",
			    (unsigned long long)d->version,
			    (unsigned long long)d->base_version);
	for (size_t i = 0; i < d->ndel; i++) {
		r = sd_path_check(d->del[i], d->del_len[i], why);
		if (r < 0)
			return r;
	}
	if (d->ndel > 1) {
		refs = malloc(d->ndel * sizeof(*refs));
		if (!refs)
			return fail(why, -ENOMEM, "out of memory");
		for (size_t i = 0; i < d->ndel; i++)
			refs[i] = (struct del_ref){ d->del[i], d->del_len[i] };
		qsort(refs, d->ndel, sizeof(*refs), del_ref_cmp);
		for (size_t i = 0; i < d->ndel; i++) {
			d->del[i] = refs[i].p;
			d->del_len[i] = refs[i].len;
		}
		free(refs);
	}
	for (size_t i = 0; i < d->put.count; i++) {
		r = entry_check(&d->put.e[i], why);
		if (r < 0)
			return r;
	}
	if (sort_entries(&d->put) < 0)
		return fail(why, -ENOMEM, "out of memory");
	return delta_sorted(d, why);
}

/* Whether path's parent is a directory in m (a top-level path's is). */
static bool parent_is_dir(const struct sd_manifest *m, const char *path,
			  size_t len, size_t *hint)
{
	size_t plen = parent_len(path, len), p = *hint;

	if (!plen)
		return true;
	if (p >= m->count || m->e[p].path_len != plen ||
	    memcmp(m->e[p].path, path, plen) != 0) {
		p = search(m->e, m->count, path, plen);
		if (p == m->count)
			return false;
		*hint = p;
	}
	return m->e[p].type == SD_T_DIR;
}

int sd_delta_diff(const struct sd_manifest *old, const struct sd_manifest *new,
		  struct sd_delta *d)
{
	size_t i = 0, j = 0, hint = SIZE_MAX;
	int r = 0;

	sd_delta_init(d);
	if (!old->sealed || !new->sealed || new->version <= old->version)
		return -EINVAL;
	d->base_version = old->version;
	d->base_root = old->root;
	d->version = new->version;
	d->root = new->root;
	while (r == 0 && (i < old->count || j < new->count)) {
		const struct sd_entry *a = i < old->count ? &old->e[i] : NULL;
		const struct sd_entry *b = j < new->count ? &new->e[j] : NULL;
		int c = !a ? 1 : !b ? -1 : entry_cmp(a, b);

		if (c < 0) {
			/* Gone. Its parent is gone or no longer a directory
			 * exactly when an ancestor's delete covers it. */
			if (parent_is_dir(new, a->path, a->path_len, &hint))
				r = del_push(d, a->path, a->path_len);
			i++;
		} else if (c > 0) {
			r = entry_copy(&d->put, b);
			j++;
		} else {
			if (!sd_entry_equal(a, b)) {
				if (a->type == SD_T_DIR && b->type != SD_T_DIR)
					r = del_push(d, a->path, a->path_len);
				if (r == 0)
					r = entry_copy(&d->put, b);
			}
			i++;
			j++;
		}
	}
	if (r < 0)
		sd_delta_free(d);
	return r;
}

int sd_delta_apply(const struct sd_manifest *base, const struct sd_delta *d,
		   struct sd_manifest *out, struct sd_err *why)
{
	char a[SD_ID_HEX], b[SD_ID_HEX], key[SD_PATH_MAX + 1];
	const struct sd_manifest *put = &d->put;
	struct shown s;
	uint8_t *gone = NULL;
	size_t i, j;
	int r;

	sd_manifest_init(out);
	if (!base->sealed)
		return fail(why, -EINVAL, "delta: base manifest not sealed");
	if (d->base_version != base->version ||
	    !sd_id_eq(&d->base_root, &base->root))
		return fail(why, -ESTALE,
			    "delta from version %llu (root %s) does not apply "
			    "to version %llu (root %s)",
			    (unsigned long long)d->base_version,
			    show_id(a, &d->base_root),
			    (unsigned long long)base->version,
			    show_id(b, &base->root));
	if (d->version <= d->base_version)
		return fail(why, -EINVAL,
			    "delta: version %llu does not follow %llu",
			    (unsigned long long)d->version,
			    (unsigned long long)d->base_version);
	if ((r = delta_sorted(d, why)) < 0)
		return r;

	gone = calloc(base->count ? base->count : 1, 1);
	if (!gone)
		return fail(why, -ENOMEM, "out of memory");
	for (i = 0; i < d->ndel; i++) {
		size_t len = d->del_len[i], k = base->count;

		if (len <= SD_PATH_MAX)
			k = search(base->e, base->count, d->del[i], len);
		if (k == base->count) {
			r = fail(why, -EINVAL,
				 "delta: delete of %s, not in version %llu",
				 show(&s, d->del[i], len),
				 (unsigned long long)base->version);
			goto out;
		}
		gone[k] = 1;
		if (base->e[k].type != SD_T_DIR)
			continue;
		/* The subtree is the run of paths that start "path/". */
		memcpy(key, d->del[i], len);
		key[len] = '/';
		for (k = lower_bound(base->e, base->count, key, len + 1);
		     k < base->count && base->e[k].path_len > len &&
		     memcmp(base->e[k].path, key, len + 1) == 0;
		     k++)
			gone[k] = 1;
	}

	if (entries_reserve(out, base->count + put->count) < 0 ||
	    arena_reserve(out, arena_used(base) + arena_used(put)) < 0) {
		r = fail(why, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0, j = 0, r = 0; r == 0 && (i < base->count || j < put->count);) {
		int c = i == base->count ? 1
			: j == put->count ? -1
					  : entry_cmp(&base->e[i], &put->e[j]);

		if (c < 0) {
			if (!gone[i])
				r = entry_copy(out, &base->e[i]);
			i++;
		} else {
			r = entry_copy(out, &put->e[j]);
			i += c == 0;
			j++;
		}
	}
	if (r < 0) {
		r = fail(why, r, "out of memory");
		goto out;
	}
	out->version = d->version;
	if ((r = sd_manifest_seal(out, why)) < 0)
		goto out;
	if (!sd_id_eq(&out->root, &d->root)) {
		r = fail(why, -EINVAL, "root hash mismatch: expected %s, got %s",
			 show_id(a, &d->root), show_id(b, &out->root));
		goto out;
	}
	free(gone);
	return 0;
out:
	free(gone);
	sd_manifest_free(out);
	return r;
}
