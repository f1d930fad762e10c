/* SPDX-License-Identifier: MIT */
#include "fetch.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "link.h"
#include "log.h"
#include "mkdirs.h"
#include "store.h"
#include "tetherfs.h"

/* A call the node does not answer within this fails (a FUSE read then
 * fails with EIO instead of hanging). */
#define CALL_MS 15000
/* Chunks of the same file fetched with the one a read needs. */
#define READAHEAD 16
/* The largest encoded manifest we accept from a node. */
#define MANIFEST_MAX SD_DECODED_MAX

struct fs_fetch {
	char *url;
	char name[TP_NAME_MAX + 1];
	struct sd_store *store;
	/* The link: calls hold it shared; a reconnect, after the node went
	 * away and came back, holds it alone. gen counts reconnects. */
	pthread_rwlock_t lk;
	struct tp_link *link;
	uint64_t gen;
	pthread_mutex_t plk;	 /* pieces and lower */
	struct fs_piece *pieces; /* sorted by id */
	size_t npieces;
	/* The node's latest version the mount has: a pending file's
	 * content comes with the version that has it hashed. */
	struct sd_manifest lower;
};

static int piece_cmp(const void *a, const void *b)
{
	return sd_id_cmp(&((const struct fs_piece *)a)->id,
			 &((const struct fs_piece *)b)->id);
}

void fs_pieces_free(struct fs_piece *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

void fs_fetch_set_pieces(struct fs_fetch *r, struct fs_piece *v, size_t n)
{
	struct fs_piece *old;
	size_t nold;

	if (n)
		qsort(v, n, sizeof(*v), piece_cmp);
	pthread_mutex_lock(&r->plk);
	old = r->pieces;
	nold = r->npieces;
	r->pieces = v;
	r->npieces = n;
	pthread_mutex_unlock(&r->plk);
	fs_pieces_free(old, nold);
}

/* The piece named id, copied (its path malloc'd): 1; 0 when id is no
 * piece's; -ENOMEM. */
static int piece_find(struct fs_fetch *r, const struct sd_id *id,
		      struct fs_piece *out)
{
	struct fs_piece key = { .id = *id }, *hit;
	int found = 0;

	pthread_mutex_lock(&r->plk);
	hit = r->npieces ? bsearch(&key, r->pieces, r->npieces, sizeof(key),
				   piece_cmp)
			 : NULL;
	if (hit) {
		*out = *hit;
		out->path = strdup(hit->path);
		found = out->path ? 1 : -ENOMEM;
	}
	pthread_mutex_unlock(&r->plk);
	return found;
}

int fs_fetch_open(const char *url, const char *workspace, const char *cache_dir,
		  struct fs_fetch **ret, struct sd_err *why)
{
	struct fs_fetch *r = calloc(1, sizeof(*r));
	int e;

	if (!r || !(r->url = strdup(url))) {
		free(r);
		snprintf(why->what, sizeof(why->what), "out of memory");
		return -ENOMEM;
	}
	snprintf(r->name, sizeof(r->name), "%s", workspace);
	pthread_rwlock_init(&r->lk, NULL);
	pthread_mutex_init(&r->plk, NULL);
	sd_manifest_init(&r->lower);
	e = util_mkdirs(cache_dir, 0700);
	if (e < 0)
		snprintf(why->what, sizeof(why->what), "chunk cache %s: %s",
			 cache_dir, strerror(-e));
	else
		e = sd_store_open_opts(cache_dir,
				       &(struct sd_store_opts){ .cache = true },
				       &r->store, why);
	if (e == 0) {
		e = tp_link_open(url, &r->link);
		if (e < 0)
			snprintf(why->what, sizeof(why->what), "%s: %s", url,
				 e == -ECONNREFUSED ? "connection refused"
						    : strerror(-e));
	}
	if (e < 0) {
		fs_fetch_close(r);
		return e;
	}
	*ret = r;
	return 0;
}

void fs_fetch_close(struct fs_fetch *r)
{
	if (!r)
		return;
	tp_link_close(r->link);
	sd_store_close(r->store);
	pthread_rwlock_destroy(&r->lk);
	pthread_mutex_destroy(&r->plk);
	fs_pieces_free(r->pieces, r->npieces);
	sd_manifest_free(&r->lower);
	free(r->url);
	free(r);
}

int fs_fetch_set_lower(struct fs_fetch *r, const struct sd_manifest *m)
{
	struct sd_manifest copy, old;
	int e = sd_manifest_copy(&copy, m, NULL);

	if (e < 0)
		return e;
	pthread_mutex_lock(&r->plk);
	old = r->lower;
	r->lower = copy;
	pthread_mutex_unlock(&r->plk);
	sd_manifest_free(&old);
	return 0;
}

/* The chunks of f's path in the latest version when it has f hashed
 * (same size and mtime): 1 with *out set; 0 while it is pending there;
 * -ESTALE when the path is something else now. */
static int hashed_now(struct fs_fetch *r, const struct fs_file *f,
		      struct fs_file *out)
{
	const struct sd_entry *e;
	int found;

	pthread_mutex_lock(&r->plk);
	e = sd_manifest_find(&r->lower, f->path, strlen(f->path));
	if (e && e->type == SD_T_PENDING && e->size == f->size &&
	    e->mtime_ns == f->mtime_ns)
		found = 0;
	else if (e && e->type == SD_T_FILE && e->size == f->size &&
		 e->mtime_ns == f->mtime_ns)
		found = fs_file_set_chunks(out, e->chunks, e->nchunks) < 0
				? -ENOMEM
				: 1;
	else
		found = -ESTALE;
	pthread_mutex_unlock(&r->plk);
	return found;
}

int fs_fetch_define(void *opaque, const struct fs_file *f, struct fs_file *out,
		    struct sd_err *why)
{
	struct fs_fetch *r = opaque;
	int64_t end = util_now_ms() + CALL_MS;
	int e;

	*out = (struct fs_file){ .ino = f->ino,
				 .size = f->size,
				 .path = strdup(f->path) };
	if (!out->path)
		return sd_err_set(why, -ENOMEM, "out of memory");
	while ((e = hashed_now(r, f, out)) == 0 && util_now_ms() < end)
		usleep(100 * 1000);
	if (e == 1)
		return 0;
	fs_file_free(out);
	if (e == -ENOMEM)
		return sd_err_set(why, e, "out of memory");
	return sd_err_set(why, -EIO,
			  e == -ESTALE ? "changed on the node since it was "
					 "opened"
				       : "its source has not read it yet (a "
					 "lazy sync committed it ahead of its "
					 "content): not on the node within "
					 "%d s",
			  CALL_MS / 1000);
}

/* One call on a channel of its own; the reply's views live in that
 * channel, so the caller gets them through fn before it closes.
 * Reconnects once when the link was lost (the node restarted). */
typedef int (*reply_fn)(void *opaque, const struct tp_msg *rep);

static int call(struct fs_fetch *r, const struct tp_msg *req, uint16_t want,
		reply_fn fn, void *opaque, struct sd_err *why)
{
	char err[TP_ERRMSG_MAX + 64] = "";
	struct tp_chan *ch = NULL;
	struct tp_msg rep;
	uint64_t gen;
	int e;

	for (int attempt = 0;; attempt++) {
		pthread_rwlock_rdlock(&r->lk);
		gen = r->gen;
		e = r->link ? tp_chan_open(r->link, &ch) : -ECONNRESET;
		if (e == 0) {
			e = tp_chan_call(ch, req, &rep, CALL_MS, err,
					 sizeof(err));
			if (e == 0 && rep.type != want) {
				e = -EPROTO;
				snprintf(err, sizeof(err),
					 "unexpected reply type %u", rep.type);
			}
			if (e == 0)
				e = fn(opaque, &rep);
			tp_chan_close(ch);
		}
		pthread_rwlock_unlock(&r->lk);
		if (e != -ECONNRESET || attempt == 1)
			break;
		/* The node went away: dial again, once, whoever gets here
		 * first (a later caller finds gen moved on). */
		pthread_rwlock_wrlock(&r->lk);
		if (r->gen == gen) {
			tp_link_close(r->link);
			r->link = NULL;
			if (tp_link_open(r->url, &r->link) < 0)
				r->link = NULL;
			r->gen++;
		}
		pthread_rwlock_unlock(&r->lk);
	}
	if (e < 0 && !why->what[0])
		snprintf(why->what, sizeof(why->what), "%s: %s", r->url,
			 err[0]		      ? err
			 : e == -ETIMEDOUT    ? "node not answering"
			 : e == -ECONNRESET   ? "connection lost"
			 : e == -ECONNREFUSED ? "connection refused"
					      : strerror(-e));
	return e;
}

struct version_q {
	const char *name;
	uint64_t version;
	bool found;
};

static int on_table(void *opaque, const struct tp_msg *rep)
{
	struct version_q *q = opaque;
	struct tp_sync_entry e;
	uint32_t pos = 0;

	while (tp_wstab_next(&rep->wstab, &pos, &e))
		if (e.name.len == strlen(q->name) &&
		    memcmp(e.name.ptr, q->name, e.name.len) == 0) {
			q->version = e.state.version;
			q->found = true;
		}
	return 0;
}

int fs_fetch_version(struct fs_fetch *r, uint64_t *version, struct sd_err *why)
{
	struct tp_msg req = { .type = TP_SYNC_STATUS };
	struct version_q q = { r->name, 0, false };
	int e = call(r, &req, TP_SYNC_TABLE, on_table, &q, why);

	if (e == 0 && !q.found) {
		snprintf(why->what, sizeof(why->what),
			 "%s: no workspace %s there", r->url, r->name);
		e = -ENOENT;
	}
	if (e == 0)
		*version = q.version;
	return e;
}

struct fetch_q {
	uint64_t version, offset, total;
	uint8_t *buf;
	struct sd_err *why;
};

/* One page of the encoded manifest, checked against what came before. */
static int on_page(void *opaque, const struct tp_msg *rep)
{
	const struct tp_sync_manifest *p = &rep->manifest;
	struct fetch_q *q = opaque;

	if (q->buf && (p->version != q->version || p->total != q->total))
		return -ESTALE;
	if (p->offset != q->offset || p->total > MANIFEST_MAX ||
	    p->data.len > p->total - p->offset ||
	    (p->data.len == 0 && p->offset < p->total)) {
		snprintf(q->why->what, sizeof(q->why->what),
			 "SYNC_MANIFEST: page at %" PRIu64 " of %" PRIu64
			 " holds %" PRIu32 " bytes (asked for %" PRIu64 ")",
			 p->offset, p->total, p->data.len, q->offset);
		return -EPROTO;
	}
	if (!q->buf) {
		q->version = p->version;
		q->total = p->total;
		q->buf = malloc(p->total ? p->total : 1);
		if (!q->buf)
			return -ENOMEM;
	}
	memcpy(q->buf + q->offset, p->data.ptr, p->data.len);
	q->offset += p->data.len;
	return 0;
}

int fs_fetch_manifest(struct fs_fetch *r, struct sd_manifest *m,
		      struct sd_err *why)
{
	struct tp_msg req = { .type = TP_SYNC_FETCH };
	struct fetch_q q = { .why = why };
	int e;

	req.fetch.workspace = (struct tp_bytes){ (const uint8_t *)r->name,
						 (uint32_t)strlen(r->name) };
	for (;;) {
		req.fetch.version = q.version;
		req.fetch.offset = q.offset;
		e = call(r, &req, TP_SYNC_MANIFEST, on_page, &q, why);
		if (e == -ESTALE) {
			/* A commit moved the version on: start over. */
			free(q.buf);
			q = (struct fetch_q){ .why = why };
			why->what[0] = '\0';
			continue;
		}
		if (e < 0 || q.offset == q.total)
			break;
	}
	if (e == 0) {
		e = sd_manifest_decode(q.buf, (size_t)q.total, m, why);
		if (e == 0 && m->version != q.version) {
			snprintf(why->what, sizeof(why->what),
				 "the manifest of version %" PRIu64
				 " says version %" PRIu64,
				 q.version, m->version);
			sd_manifest_free(m);
			e = -EPROTO;
		}
	}
	free(q.buf);
	return e;
}

struct get_q {
	struct fs_fetch *r;
	struct sd_err *why;
};

static int on_chunks(void *opaque, const struct tp_msg *rep)
{
	struct get_q *q = opaque;
	ssize_t n;

	/* The store verifies every record against its id before it keeps
	 * any: what the node sends is not trusted. */
	n = sd_store_put_batch(q->r->store, rep->chunks.pack.ptr,
			       rep->chunks.pack.len, q->why);
	return n < 0 ? (int)n : 0;
}

struct piece_q {
	const struct fs_piece *p;
	void *dst;
	size_t cap;
	struct sd_err *why;
};

static int on_data(void *opaque, const struct tp_msg *rep)
{
	struct piece_q *q = opaque;

	if (rep->wsdata.data.len != q->p->len || q->p->len > q->cap) {
		snprintf(q->why->what, sizeof(q->why->what),
			 "%s changed on the node since it was listed (the "
			 "mount shows the new one within a second)",
			 q->p->path);
		return -EIO;
	}
	memcpy(q->dst, rep->wsdata.data.ptr, q->p->len);
	return 0;
}

/* A piece of a file in the node's upper layer, by path. */
static int get_piece(struct fs_fetch *r, const struct fs_piece *p, void *dst,
		     size_t cap, struct sd_err *why)
{
	struct tp_msg req = { .type = TP_WS_READ };
	struct piece_q q = { p, dst, cap, why };

	req.wsread = (struct tp_ws_read){
		{ (const uint8_t *)r->name, (uint32_t)strlen(r->name) },
		{ (const uint8_t *)p->path, (uint32_t)strlen(p->path) },
		p->off,
		p->len,
	};
	return call(r, &req, TP_WS_DATA, on_data, &q, why);
}

int fs_fetch_get(void *opaque, const struct fs_file *f, uint32_t i, void *dst,
		 size_t cap, struct sd_err *why)
{
	struct fs_fetch *r = opaque;
	uint8_t ids[READAHEAD * TP_ID_SIZE];
	struct tp_msg req = { .type = TP_SYNC_GET };
	struct get_q q = { r, why };
	struct fs_piece p = { .path = NULL };
	uint32_t n = 0;
	int e = piece_find(r, &f->chunks[i].id, &p);

	if (e != 0) {
		if (e == 1)
			e = get_piece(r, &p, dst, cap, why);
		free(p.path);
		return e;
	}
	e = tfs_store_get(r->store, f, i, dst, cap, why);

	/* Absent, or bad bytes the store has just forgotten (a crash of a
	 * cache that does not fsync): fetch it. */
	if (e != -ENOENT && e != -EIO)
		return e;
	why->what[0] = '\0';
	/* This chunk, and the file's next ones the cache lacks. */
	for (uint32_t k = i; k < f->nchunks && n < READAHEAD; k++)
		if (k == i || !sd_store_has(r->store, &f->chunks[k].id))
			memcpy(ids + TP_ID_SIZE * n++, f->chunks[k].id.b,
			       TP_ID_SIZE);
	req.get.workspace = (struct tp_bytes){ (const uint8_t *)r->name,
					       (uint32_t)strlen(r->name) };
	req.get.count = n;
	req.get.ids = ids;
	e = call(r, &req, TP_SYNC_CHUNKS, on_chunks, &q, why);
	return e < 0 ? e : tfs_store_get(r->store, f, i, dst, cap, why);
}
