/* SPDX-License-Identifier: MIT */
/* The manifest and delta encodings (docs/protocol.md, "Manifests and
 * deltas"): one form each, written and read; the root hash. */
#include "manifest.h"
#include "manifest_int.h"

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
#define MAN_HDR SD_MANIFEST_HEADER
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

/* The staging buffer a root hash is computed through. It must hold the
 * largest single reservation a record writer makes (a path or a target plus
 * two varints). */
#define STAGE_SIZE (64u << 10)

_Static_assert(SD_PATH_MAX + 2 * VAR_MAX < STAGE_SIZE, "stage too small");

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
static void wr_path(struct wr *w, const char *prev, size_t plen, const char *p,
		    size_t len)
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
	wr_path(w, prev ? prev->path : NULL, prev ? prev->path_len : 0, e->path,
		e->path_len);
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
	case SD_T_PENDING: put_var(w, e->size); break;
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

/* An entry's own record, whole path: its hash. Most fit on the stack; a
 * file of many chunks gets a buffer of its size. */
#define REC_STACK 4096u

int sdm_entry_hash(struct sd_entry *e)
{
	uint8_t stack[REC_STACK];
	size_t bound = 4 * VAR_MAX + e->path_len + 1 + 2 + 8 +
		       (size_t)e->nchunks * (SD_ID_SIZE + VAR_MAX) + VAR_MAX +
		       (e->target ? e->target_len : 0);
	struct wr w = { .buf = stack, .cap = sizeof(stack) };

	if (bound > sizeof(stack)) {
		w.buf = malloc(bound);
		if (!w.buf)
			return -ENOMEM;
		w.cap = bound;
	}
	/* The room is there: wr_room() never grows w. */
	wr_entry(&w, NULL, e);
	sd_id_of(&e->hash, w.buf, w.len);
	if (w.buf != stack)
		free(w.buf);
	return 0;
}

/* The root hash: XXH3-128 of count (u32) and each entry's hash. */
int sdm_entries_root(const struct sd_entry *e, size_t n, struct sd_id *out)
{
	uint8_t stage[256 * SD_ID_SIZE];
	struct sd_hasher *h;
	size_t k = 0;

	h = sd_hasher_new();
	if (!h)
		return -ENOMEM;
	stage[0] = (uint8_t)n;
	stage[1] = (uint8_t)(n >> 8);
	stage[2] = (uint8_t)(n >> 16);
	stage[3] = (uint8_t)(n >> 24);
	sd_hasher_update(h, stage, 4);
	for (size_t i = 0; i < n; i++) {
		memcpy(stage + k, e[i].hash.b, SD_ID_SIZE);
		k += SD_ID_SIZE;
		if (k == sizeof(stage)) {
			sd_hasher_update(h, stage, k);
			k = 0;
		}
	}
	sd_hasher_update(h, stage, k);
	sd_hasher_final(h, out);
	sd_hasher_free(h);
	return 0;
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

int sd_delta_encode(const struct sd_delta *d, uint8_t **buf, size_t *len)
{
	struct wr w = { 0 };

	if (d->ndel > SD_ENTRIES_MAX || d->put.count > SD_ENTRIES_MAX)
		return -EMSGSIZE;
	if (sdm_delta_sorted(d, NULL) < 0)
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

__attribute__((format(printf, 3, 4))) static int rd_fail(struct rd *r, int code,
							 const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sd_err_set(r->why, code, "%s %zu (byte %zu): %s", r->what,
			  r->idx, (size_t)(r->p - r->start), msg);
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
			       sdm_show(&s, prev, plen));
	if (shared < plen) {
		uint8_t a = suf[0], b = (uint8_t)prev[shared];

		if (a == b)
			return rd_fail(r, -EINVAL,
				       "shared prefix %llu is not the longest",
				       (unsigned long long)shared);
		if (a < b)
			return rd_fail(r, -EINVAL, "path sorts before %s",
				       sdm_show(&s, prev, plen));
	}
	e = rd_spend(r, shared + slen + 1);
	if (e < 0)
		return e;
	p = sdm_arena_alloc(m, shared + slen + 1, 1);
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
	p = sdm_arena_alloc(m, n + 1, 1);
	if (!p)
		return rd_fail(r, -ENOMEM, "out of memory");
	memcpy(p, r->p, n);
	p[n] = '\0';
	r->p += n;
	e->target = p;
	e->target_len = (uint32_t)n;
	return 0;
}

/* A pending file's size: no chunks follow. */
static int rd_size(struct rd *r, struct sd_entry *e)
{
	return rd_var(r, "size", &e->size);
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
	e->chunks = sdm_arena_alloc(m, n * sizeof(*e->chunks),
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
		const struct sd_entry *prev = r->idx ? &m->e[m->count - 1]
						     : NULL;
		struct sd_entry e = { 0 };

		k = rd_path(r, m, prev ? prev->path : NULL,
			    prev ? prev->path_len : 0, &e.path, &e.path_len);
		if (k < 0)
			return k;
		if (rd_left(r) < 1)
			return rd_truncated(r);
		e.type = *r->p++;
		if (e.type >= SD_T_FILE && e.type <= SD_T_PENDING &&
		    e.type != SD_T_HARDLINK) {
			if (rd_left(r) < 10)
				return rd_truncated(r);
			e.mode = (uint32_t)get_le(r->p, 2);
			e.mtime_ns = (int64_t)get_le(r->p + 2, 8);
			r->p += 10;
		}
		switch (e.type) {
		case SD_T_FILE: k = rd_chunks(r, m, &e); break;
		case SD_T_DIR: k = 0; break;
		case SD_T_SYMLINK:
			k = rd_target(r, m, &e);
			e.size = e.target_len;
			break;
		case SD_T_HARDLINK: k = rd_target(r, m, &e); break;
		case SD_T_PENDING: k = rd_size(r, &e); break;
		default: return rd_fail(r, -EINVAL, "unknown type %u", e.type);
		}
		if (k < 0)
			return k;
		k = sdm_entry_check(&e, r->why);
		if (k == 0 && sdm_entry_hash(&e) < 0)
			k = rd_fail(r, -ENOMEM, "out of memory");
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
		return sd_err_set(r->why, -EINVAL, "not a %s (bad magic)",
				  kind);
	if (len < 6)
		return sd_err_set(r->why, -EINVAL, "%s truncated: %zu bytes",
				  kind, len);
	format = get_le(r->p + 4, 2);
	if (format != SD_MANIFEST_FORMAT)
		return sd_err_set(r->why, -EPROTONOSUPPORT,
				  "%s format %llu, this build reads %u", kind,
				  (unsigned long long)format,
				  SD_MANIFEST_FORMAT);
	if ((uint64_t)len > SD_ENC_MAX)
		return sd_err_set(r->why, -EMSGSIZE,
				  "%s of %zu bytes, over %llu", kind, len,
				  (unsigned long long)SD_ENC_MAX);
	if (len < hdr)
		return sd_err_set(r->why, -EINVAL, "%s truncated: %zu bytes",
				  kind, len);
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
	if (sdm_entries_reserve(m, n) < 0 || sdm_arena_reserve(m, guess) < 0)
		return sd_err_set(r->why, -ENOMEM, "out of memory");
	return 0;
}

int sd_manifest_peek(const void *buf, size_t len, uint64_t *version,
		     struct sd_id *root)
{
	struct rd r = { .start = buf,
			.p = buf,
			.end = (const uint8_t *)buf + len,
			.why = NULL };
	int k = rd_header(&r, MAN_MAGIC, MAN_HDR, "manifest");

	if (k < 0)
		return k;
	*version = get_le(r.p, 8);
	memcpy(root->b, r.p + 8, SD_ID_SIZE);
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
		k = sd_err_set(why, -EMSGSIZE,
			       "manifest: %llu entries, over %u",
			       (unsigned long long)count, SD_ENTRIES_MAX);
		goto out;
	}
	if (count > rd_left(&r) / REC_MIN) {
		k = sd_err_set(why, -EINVAL,
			       "manifest: %llu entries in %zu bytes",
			       (unsigned long long)count, rd_left(&r));
		goto out;
	}
	if ((k = rd_reserve(&r, m, count)) < 0 ||
	    (k = rd_entries(&r, m, count)) < 0)
		goto out;
	if (r.p != r.end) {
		k = sd_err_set(why, -EINVAL, "manifest: %zu trailing bytes",
			       rd_left(&r));
		goto out;
	}
	if (sdm_entries_root(m->e, m->count, &root) < 0) {
		k = sd_err_set(why, -ENOMEM, "manifest: out of memory");
		goto out;
	}
	if (!sd_id_eq(&root, &m->root)) {
		k = sd_err_set(
			why, -EINVAL,
			"manifest root hash mismatch: stored %s, computed %s",
			sd_id_hex(&m->root, a), sd_id_hex(&root, b));
		goto out;
	}
	if ((k = sdm_tree_check(m, why)) < 0)
		goto out;
	m->sealed = true;
	return 0;
out:
	sd_manifest_free(m);
	return k;
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
		k = sd_err_set(why, -EINVAL,
			       "delta: version %llu does not follow %llu",
			       (unsigned long long)d->version,
			       (unsigned long long)d->base_version);
		goto out;
	}
	if (ndel > SD_ENTRIES_MAX || nput > SD_ENTRIES_MAX) {
		k = sd_err_set(why, -EMSGSIZE,
			       "delta: %llu deletes and %llu puts, over %u",
			       (unsigned long long)ndel,
			       (unsigned long long)nput, SD_ENTRIES_MAX);
		goto out;
	}
	if (ndel * DEL_MIN + nput * REC_MIN > rd_left(&r)) {
		k = sd_err_set(why, -EINVAL,
			       "delta: %llu deletes and %llu puts in %zu bytes",
			       (unsigned long long)ndel,
			       (unsigned long long)nput, rd_left(&r));
		goto out;
	}
	d->del = malloc((ndel ? ndel : 1) * sizeof(*d->del));
	d->del_len = malloc((ndel ? ndel : 1) * sizeof(*d->del_len));
	if (!d->del || !d->del_len) {
		k = sd_err_set(why, -ENOMEM, "out of memory");
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
		if (sdm_del_push(d, p, plen2) < 0) {
			k = sd_err_set(why, -ENOMEM, "out of memory");
			goto out;
		}
		sdm_arena_rewind(&scratch);
	}
	r.what = "delta put";
	if ((k = rd_reserve(&r, &d->put, nput)) < 0 ||
	    (k = rd_entries(&r, &d->put, nput)) < 0)
		goto out;
	if (r.p != r.end) {
		k = sd_err_set(why, -EINVAL, "delta: %zu trailing bytes",
			       rd_left(&r));
		goto out;
	}
	if ((k = sdm_delta_sorted(d, why)) < 0)
		goto out;
	sd_manifest_free(&scratch);
	return 0;
out:
	sd_manifest_free(&scratch);
	sd_delta_free(d);
	return k;
}
