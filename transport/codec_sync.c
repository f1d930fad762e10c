/* SPDX-License-Identifier: MIT */
/* The codec of the workspace-sync messages (SYNC_*, docs/protocol.md,
 * "Workspace sync", "Reading a workspace" and "Lazy workspaces"): their
 * bodies to and from struct tp_msg, with the helpers of codec_int.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "codec.h"
#include "codec_int.h"

/* ---- SYNC_DEFINE refs: an id, then a u32 len ---- */

void tp_define_ref_get(const uint8_t *refs, uint32_t i, uint8_t id[TP_ID_SIZE],
		       uint32_t *len)
{
	const uint8_t *p = refs + (size_t)i * TP_DEFINE_REF;

	if (id)
		memcpy(id, p, TP_ID_SIZE);
	p += TP_ID_SIZE;
	*len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

void tp_define_ref_put(uint8_t *refs, uint32_t i, const uint8_t id[TP_ID_SIZE],
		       uint32_t len)
{
	uint8_t *p = refs + (size_t)i * TP_DEFINE_REF;

	memcpy(p, id, TP_ID_SIZE);
	for (unsigned k = 0; k < 4; k++)
		p[TP_ID_SIZE + k] = (uint8_t)(len >> (8 * k));
}

/* ---- decoding ---- */

static int get_session(struct rd *r, uint64_t *out)
{
	int k = tpc_get_u64(r, "session", out);

	if (k == 0 && *out == 0)
		return tpc_fail(r, -EPROTO, "session", -1,
				"0 is not a session");
	return k;
}

static int get_sync_state(struct rd *r, struct tp_sync_state *s)
{
	int k;

	if ((k = tpc_get_u64(r, "version", &s->version)) < 0 ||
	    (k = tpc_get_id(r, "root", s->root)) < 0 ||
	    (k = tpc_get_u64(r, "files", &s->files)) < 0 ||
	    (k = tpc_get_u64(r, "bytes", &s->bytes)) < 0 ||
	    (k = tpc_get_u64(r, "committed_ms", &s->committed_ms)) < 0 ||
	    (k = tpc_get_u64(r, "missing", &s->missing)) < 0)
		return k;
	return 0;
}

static int get_wsentry(struct rd *r, struct tp_sync_entry *e)
{
	int k;

	if ((k = tpc_get_name(r, "name", false, &e->name)) < 0 ||
	    (k = tpc_get_name(r, "domain", false, &e->domain)) < 0 ||
	    (k = get_sync_state(r, &e->state)) < 0 ||
	    (k = tpc_get_u64(r, "pending_ms", &e->pending_ms)) < 0)
		return k;
	return 0;
}

static int get_wsentry_any(struct rd *r, void *out)
{
	return get_wsentry(r, out);
}

static int get_wstab(struct rd *r, struct tp_sync_table *t)
{
	struct tp_sync_entry e;

	t->entries = NULL;
	return tpc_get_rows(r, TP_WSTAB_MAX, get_wsentry_any, &e, &t->count,
			    &t->ptr, &t->size);
}

static int get_commit(struct rd *r, struct tp_sync_commit *c)
{
	int k;

	if ((k = get_session(r, &c->session)) < 0 ||
	    (k = tpc_get_u64(r, "version", &c->version)) < 0 ||
	    (k = tpc_get_id(r, "root", c->root)) < 0 ||
	    (k = tpc_get_u32(r, "flags", &c->flags)) < 0)
		return k;
	/* Refused, not ignored: a later version may give a bit a meaning an
	 * old node must not silently skip. */
	if (c->flags & ~(uint32_t)TP_COMMIT_F_ALL_)
		return tpc_fail(r, -EPROTO, "flags", -1,
				"unknown bits 0x%" PRIx32,
				c->flags & ~(uint32_t)TP_COMMIT_F_ALL_);
	return 0;
}

static int get_serve(struct rd *r, struct tp_sync_serve *s)
{
	int k;

	if ((k = tpc_get_name(r, "workspace", false, &s->workspace)) < 0 ||
	    (k = get_session(r, &s->session)) < 0 ||
	    (k = tpc_get_u32(r, "wait_ms", &s->wait_ms)) < 0)
		return k;
	/* A wait, not a size: past the cap is malformed, not oversized. */
	if (s->wait_ms > TP_SERVE_WAIT_MAX)
		return tpc_fail(r, -EPROTO, "wait_ms", -1,
				"%" PRIu32 " ms over the %u ms cap", s->wait_ms,
				TP_SERVE_WAIT_MAX);
	return 0;
}

static int get_ask(struct rd *r, struct tp_sync_ask *a)
{
	uint64_t t;
	int k;

	if ((k = get_session(r, &a->session)) < 0 ||
	    (k = tpc_get_path(r, "path", &a->path)) < 0 ||
	    (k = tpc_get_u64(r, "size", &a->size)) < 0 ||
	    (k = tpc_get_u64(r, "mtime_ns", &t)) < 0)
		return k;
	memcpy(&a->mtime_ns, &t, sizeof(t));
	return 0;
}

static int get_define(struct rd *r, struct tp_sync_define *d)
{
	uint64_t t, sum = 0;
	int k;

	if ((k = tpc_get_name(r, "workspace", false, &d->workspace)) < 0 ||
	    (k = get_session(r, &d->session)) < 0 ||
	    (k = tpc_get_path(r, "path", &d->path)) < 0 ||
	    (k = tpc_get_u64(r, "size", &d->size)) < 0 ||
	    (k = tpc_get_u64(r, "mtime_ns", &t)) < 0 ||
	    (k = tpc_get_str(r, "err", -1, TP_ERRMSG_MAX, &d->err)) < 0 ||
	    (k = tpc_get_u32(r, "total", &d->total)) < 0 ||
	    (k = tpc_get_u32(r, "index", &d->index)) < 0 ||
	    (k = tpc_get_u32(r, "count", &d->count)) < 0)
		return k;
	memcpy(&d->mtime_ns, &t, sizeof(t));
	if (d->total > TP_DEFINE_TOTAL_MAX)
		return tpc_fail(r, -EMSGSIZE, "total", -1,
				"%" PRIu32 " chunks over the %u cap", d->total,
				TP_DEFINE_TOTAL_MAX);
	if (d->count > TP_DEFINE_MAX)
		return tpc_fail(r, -EMSGSIZE, "count", -1,
				"%" PRIu32 " chunks over the %u cap", d->count,
				TP_DEFINE_MAX);
	if (d->err.len && (d->count || d->total || d->index))
		return tpc_fail(r, -EPROTO, "count", -1,
				"%" PRIu32 " chunks with an error", d->count);
	if (!d->err.len && (d->count == 0 || d->index > d->total ||
			    d->count > d->total - d->index))
		return tpc_fail(r, -EPROTO, "count", -1,
				"chunks %" PRIu32 "+%" PRIu32 " of %" PRIu32,
				d->index, d->count, d->total);
	if ((uint64_t)d->count * TP_DEFINE_REF > r->len - r->pos)
		return tpc_fail(r, -EPROTO, "refs", -1,
				"truncated (%" PRIu32 " chunks)", d->count);
	d->refs = r->p + r->pos;
	for (uint32_t i = 0; i < d->count; i++) {
		uint32_t len;

		tp_define_ref_get(d->refs, i, NULL, &len);
		if (len == 0)
			return tpc_fail(r, -EPROTO, "refs", (int)i,
					"an empty chunk");
		sum += len;
	}
	r->pos += d->count * TP_DEFINE_REF;
	/* A whole list sums to size; a page, to no more. */
	if (!d->err.len &&
	    (sum > d->size || (d->count == d->total && sum != d->size)))
		return tpc_fail(r, -EPROTO, "refs", -1,
				"chunks of %" PRIu64 " bytes, size %" PRIu64,
				sum, d->size);
	return 0;
}

static int get_want(struct rd *r, struct tp_sync_want *w)
{
	int k;

	if ((k = get_session(r, &w->session)) < 0 ||
	    (k = tpc_get_u64(r, "total", &w->total)) < 0 ||
	    (k = tpc_get_u64(r, "index", &w->index)) < 0 ||
	    (k = tpc_get_u32(r, "count", &w->count)) < 0)
		return k;
	if (w->count > TP_WANT_MAX)
		return tpc_fail(r, -EMSGSIZE, "count", -1,
				"%" PRIu32 " ids over the %u cap", w->count,
				TP_WANT_MAX);
	if (w->index > w->total || w->count > w->total - w->index)
		return tpc_fail(r, -EPROTO, "count", -1,
				"ids %" PRIu64 "+%" PRIu32
				" past the total %" PRIu64,
				w->index, w->count, w->total);
	if ((uint64_t)w->count * TP_ID_SIZE > r->len - r->pos)
		return tpc_fail(r, -EPROTO, "ids", -1,
				"truncated (%" PRIu32 " ids)", w->count);
	w->ids = r->p + r->pos;
	r->pos += w->count * TP_ID_SIZE;
	return 0;
}

static int get_offer(struct rd *r, struct tp_sync_offer *o)
{
	int k;

	if ((k = tpc_get_name(r, "workspace", false, &o->workspace)) < 0 ||
	    (k = get_session(r, &o->session)) < 0 ||
	    (k = tpc_get_u64(r, "offset", &o->offset)) < 0 ||
	    (k = tpc_get_u64(r, "total", &o->total)) < 0 ||
	    (k = tpc_get_blob(r, "data", -1, TP_BULK_MAX, true, &o->data)) < 0)
		return k;
	if (o->offset > o->total || o->data.len > o->total - o->offset)
		return tpc_fail(r, -EPROTO, "data", -1,
				"bytes %" PRIu64 "+%" PRIu32
				" past the total %" PRIu64,
				o->offset, o->data.len, o->total);
	return 0;
}

static int get_manifest(struct rd *r, struct tp_sync_manifest *p)
{
	int k;

	if ((k = tpc_get_u64(r, "version", &p->version)) < 0)
		return k;
	/* A node with nothing committed answers ENOENT, never a page. */
	if (p->version == 0)
		return tpc_fail(r, -EPROTO, "version", -1,
				"0 is not a committed version");
	if ((k = tpc_get_u64(r, "total", &p->total)) < 0 ||
	    (k = tpc_get_u64(r, "offset", &p->offset)) < 0 ||
	    (k = tpc_get_blob(r, "data", -1, TP_BULK_MAX, true, &p->data)) < 0)
		return k;
	if (p->offset > p->total || p->data.len > p->total - p->offset)
		return tpc_fail(r, -EPROTO, "data", -1,
				"bytes %" PRIu64 "+%" PRIu32
				" past the total %" PRIu64,
				p->offset, p->data.len, p->total);
	return 0;
}

/* The count of a SYNC_GET or SYNC_CHUNKS: 1 .. TP_GET_MAX. */
static int get_count(struct rd *r, uint32_t *out)
{
	int k = tpc_get_u32(r, "count", out);

	if (k < 0)
		return k;
	if (*out == 0)
		return tpc_fail(r, -EPROTO, "count", -1, "0 chunks");
	if (*out > TP_GET_MAX)
		return tpc_fail(r, -EMSGSIZE, "count", -1,
				"%" PRIu32 " chunks over the %u cap", *out,
				TP_GET_MAX);
	return 0;
}

static int get_get(struct rd *r, struct tp_sync_get *g)
{
	int k;

	if ((k = tpc_get_name(r, "workspace", false, &g->workspace)) < 0 ||
	    (k = get_count(r, &g->count)) < 0)
		return k;
	/* Fewer bytes is refused here, more as trailing bytes: either way
	 * the ids are exactly count * TP_ID_SIZE bytes. */
	if ((uint64_t)g->count * TP_ID_SIZE > r->len - r->pos)
		return tpc_fail(r, -EPROTO, "ids", -1,
				"truncated (%" PRIu32 " ids need %" PRIu32
				" bytes, %" PRIu32 " left)",
				g->count, g->count * TP_ID_SIZE,
				r->len - r->pos);
	g->ids = r->p + r->pos;
	r->pos += g->count * TP_ID_SIZE;
	return 0;
}

int tpc_decode_sync(struct rd *r, struct tp_msg *m)
{
	int k = 0;

	switch (m->type) {
	case TP_SYNC_BEGIN:
		if ((k = tpc_get_name(r, "workspace", false,
				      &m->begin.workspace)) < 0 ||
		    (k = tpc_get_name(r, "domain", true, &m->begin.domain)) <
			    0 ||
		    (k = tpc_get_str(r, "dir", -1, TP_PATH_MAX,
				     &m->begin.dir)) < 0 ||
		    (k = tpc_get_u64(r, "dir_dev", &m->begin.dir_dev)) < 0 ||
		    (k = tpc_get_u64(r, "dir_ino", &m->begin.dir_ino)) < 0)
			return k;
		if (m->begin.dir.len && m->begin.dir.ptr[0] != '/')
			return tpc_fail(r, -EPROTO, "dir", -1,
					"not an absolute path");
		break;
	case TP_SYNC_STATE: k = get_sync_state(r, &m->state); break;
	case TP_SYNC_OFFER: k = get_offer(r, &m->offer); break;
	case TP_SYNC_NEED:
		if ((k = get_session(r, &m->need.session)) < 0 ||
		    (k = tpc_get_u64(r, "index", &m->need.index)) < 0)
			return k;
		break;
	case TP_SYNC_WANT: k = get_want(r, &m->want); break;
	case TP_SYNC_PUT:
		if ((k = get_session(r, &m->put.session)) < 0 ||
		    (k = tpc_get_blob(r, "pack", -1, TP_BULK_MAX, true,
				      &m->put.pack)) < 0)
			return k;
		break;
	case TP_SYNC_COMMIT: k = get_commit(r, &m->commit); break;
	case TP_SYNC_STATUS: break;
	case TP_SYNC_TABLE: k = get_wstab(r, &m->wstab); break;
	case TP_SYNC_FETCH:
		if ((k = tpc_get_name(r, "workspace", false,
				      &m->fetch.workspace)) < 0 ||
		    (k = tpc_get_u64(r, "version", &m->fetch.version)) < 0 ||
		    (k = tpc_get_u64(r, "offset", &m->fetch.offset)) < 0)
			return k;
		break;
	case TP_SYNC_MANIFEST: k = get_manifest(r, &m->manifest); break;
	case TP_SYNC_GET: k = get_get(r, &m->get); break;
	case TP_SYNC_CHUNKS:
		if ((k = get_count(r, &m->chunks.count)) < 0 ||
		    (k = tpc_get_blob(r, "pack", -1, TP_BULK_MAX, true,
				      &m->chunks.pack)) < 0)
			return k;
		break;
	case TP_SYNC_SERVE: k = get_serve(r, &m->serve); break;
	case TP_SYNC_ASK: k = get_ask(r, &m->ask); break;
	case TP_SYNC_DEFINE: k = get_define(r, &m->define); break;
	case TP_SYNC_FILL:
		if ((k = tpc_get_name(r, "workspace", false,
				      &m->fill.workspace)) < 0 ||
		    (k = tpc_get_blob(r, "pack", -1, TP_BULK_MAX, true,
				      &m->fill.pack)) < 0)
			return k;
		break;
	default:
		return tpc_fail(r, -EPROTO, "type", -1, "unknown type %u",
				m->type);
	}
	return k;
}

bool tp_wstab_next(const struct tp_sync_table *t, uint32_t *pos,
		   struct tp_sync_entry *out)
{
	return t && tpc_next_row(t->ptr, t->size, "SYNC_TABLE", get_wsentry_any,
				 pos, out);
}

/* ---- encoding ---- */

static void put_sync_state(struct wr *w, const struct tp_sync_state *s)
{
	tpc_put_le(w, s->version, 8);
	tpc_put_raw(w, s->root, TP_ID_SIZE);
	tpc_put_le(w, s->files, 8);
	tpc_put_le(w, s->bytes, 8);
	tpc_put_le(w, s->committed_ms, 8);
	tpc_put_le(w, s->missing, 8);
}

static void put_wstab(struct wr *w, const struct tp_sync_table *t)
{
	if (!tpc_list_ok(w, t->count, TP_WSTAB_MAX, t->entries))
		return;
	tpc_put_le(w, t->count, 4);
	for (uint32_t i = 0; i < t->count && !w->r; i++) {
		tpc_put_bytes(w, &t->entries[i].name, TP_NAME_MAX);
		tpc_put_bytes(w, &t->entries[i].domain, TP_NAME_MAX);
		put_sync_state(w, &t->entries[i].state);
		tpc_put_le(w, t->entries[i].pending_ms, 8);
	}
}

static void put_want(struct wr *w, const struct tp_sync_want *q)
{
	if (!tpc_list_ok(w, q->count, TP_WANT_MAX, q->ids))
		return;
	tpc_put_le(w, q->session, 8);
	tpc_put_le(w, q->total, 8);
	tpc_put_le(w, q->index, 8);
	tpc_put_le(w, q->count, 4);
	tpc_put_raw(w, q->ids, (size_t)q->count * TP_ID_SIZE);
}

static void put_get(struct wr *w, const struct tp_sync_get *g)
{
	/* Over the cap is a size refusal, made before anything is
	 * allocated; 0 is left to the decoder's check. */
	if (!tpc_list_ok(w, g->count, TP_GET_MAX, g->ids))
		return;
	tpc_put_bytes(w, &g->workspace, TP_NAME_MAX);
	tpc_put_le(w, g->count, 4);
	tpc_put_raw(w, g->ids, (size_t)g->count * TP_ID_SIZE);
}

static void put_define(struct wr *w, const struct tp_sync_define *d)
{
	if (!tpc_list_ok(w, d->count, TP_DEFINE_MAX, d->refs))
		return;
	tpc_put_bytes(w, &d->workspace, TP_NAME_MAX);
	tpc_put_le(w, d->session, 8);
	tpc_put_bytes(w, &d->path, TP_PATH_MAX);
	tpc_put_le(w, d->size, 8);
	tpc_put_le(w, (uint64_t)d->mtime_ns, 8);
	tpc_put_bytes(w, &d->err, TP_ERRMSG_MAX);
	tpc_put_le(w, d->total, 4);
	tpc_put_le(w, d->index, 4);
	tpc_put_le(w, d->count, 4);
	tpc_put_raw(w, d->refs, (size_t)d->count * TP_DEFINE_REF);
}

void tpc_put_sync(struct wr *w, const struct tp_msg *m)
{
	switch (m->type) {
	case TP_SYNC_BEGIN:
		tpc_put_bytes(w, &m->begin.workspace, TP_NAME_MAX);
		tpc_put_bytes(w, &m->begin.domain, TP_NAME_MAX);
		tpc_put_bytes(w, &m->begin.dir, TP_PATH_MAX);
		tpc_put_le(w, m->begin.dir_dev, 8);
		tpc_put_le(w, m->begin.dir_ino, 8);
		break;
	case TP_SYNC_STATE: put_sync_state(w, &m->state); break;
	case TP_SYNC_OFFER:
		tpc_put_bytes(w, &m->offer.workspace, TP_NAME_MAX);
		tpc_put_le(w, m->offer.session, 8);
		tpc_put_le(w, m->offer.offset, 8);
		tpc_put_le(w, m->offer.total, 8);
		tpc_put_bytes(w, &m->offer.data, TP_BULK_MAX);
		break;
	case TP_SYNC_NEED:
		tpc_put_le(w, m->need.session, 8);
		tpc_put_le(w, m->need.index, 8);
		break;
	case TP_SYNC_WANT: put_want(w, &m->want); break;
	case TP_SYNC_PUT:
		tpc_put_le(w, m->put.session, 8);
		tpc_put_bytes(w, &m->put.pack, TP_BULK_MAX);
		break;
	case TP_SYNC_COMMIT:
		tpc_put_le(w, m->commit.session, 8);
		tpc_put_le(w, m->commit.version, 8);
		tpc_put_raw(w, m->commit.root, TP_ID_SIZE);
		tpc_put_le(w, m->commit.flags, 4);
		break;
	case TP_SYNC_STATUS: break;
	case TP_SYNC_TABLE: put_wstab(w, &m->wstab); break;
	case TP_SYNC_FETCH:
		tpc_put_bytes(w, &m->fetch.workspace, TP_NAME_MAX);
		tpc_put_le(w, m->fetch.version, 8);
		tpc_put_le(w, m->fetch.offset, 8);
		break;
	case TP_SYNC_MANIFEST:
		tpc_put_le(w, m->manifest.version, 8);
		tpc_put_le(w, m->manifest.total, 8);
		tpc_put_le(w, m->manifest.offset, 8);
		tpc_put_bytes(w, &m->manifest.data, TP_BULK_MAX);
		break;
	case TP_SYNC_GET: put_get(w, &m->get); break;
	case TP_SYNC_CHUNKS:
		/* Only the cap: the chunks are in the pack. */
		if (!tpc_list_ok(w, m->chunks.count, TP_GET_MAX, &m->chunks))
			break;
		tpc_put_le(w, m->chunks.count, 4);
		tpc_put_bytes(w, &m->chunks.pack, TP_BULK_MAX);
		break;
	case TP_SYNC_SERVE:
		tpc_put_bytes(w, &m->serve.workspace, TP_NAME_MAX);
		tpc_put_le(w, m->serve.session, 8);
		tpc_put_le(w, m->serve.wait_ms, 4);
		break;
	case TP_SYNC_FILL:
		tpc_put_bytes(w, &m->fill.workspace, TP_NAME_MAX);
		tpc_put_bytes(w, &m->fill.pack, TP_BULK_MAX);
		break;
	case TP_SYNC_ASK:
		tpc_put_le(w, m->ask.session, 8);
		tpc_put_bytes(w, &m->ask.path, TP_PATH_MAX);
		tpc_put_le(w, m->ask.size, 8);
		tpc_put_le(w, (uint64_t)m->ask.mtime_ns, 8);
		break;
	case TP_SYNC_DEFINE: put_define(w, &m->define); break;
	default: w->r = -EINVAL; break;
	}
}
