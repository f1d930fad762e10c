/* SPDX-License-Identifier: MIT */
/* The codec of the messages about a workspace's view (WS_*, docs/protocol.md,
 * "Changes in a view"): what commands changed in it, and discarding that. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "codec.h"
#include "codec_int.h"

/* ---- decoding ---- */

/* Memcmp order of two paths, a prefix first (as sd_path_cmp). */
static int path_cmp(const struct tp_bytes *a, const struct tp_bytes *b)
{
	uint32_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(a->ptr, b->ptr, n) : 0;

	if (c)
		return c;
	return (a->len > b->len) - (a->len < b->len);
}

static int get_change(struct rd *r, struct tp_ws_change *c)
{
	int k;

	if ((k = tpc_get_u8(r, "kind", &c->kind)) < 0)
		return k;
	if (c->kind < TP_CHANGE_CREATED || c->kind > TP_CHANGE_DELETED)
		return tpc_fail(r, -EPROTO, "kind", -1, "unknown kind %u",
				c->kind);
	if ((k = tpc_get_u8(r, "type", &c->type)) < 0)
		return k;
	if (c->type < TP_CHANGE_FILE || c->type > TP_CHANGE_SYMLINK)
		return tpc_fail(r, -EPROTO, "type", -1, "unknown type %u",
				c->type);
	if ((k = tpc_get_u64(r, "size", &c->size)) < 0 ||
	    (k = tpc_get_str(r, "path", -1, TP_PATH_MAX, &c->path)) < 0)
		return k;
	if (c->path.len == 0)
		return tpc_fail(r, -EPROTO, "path", -1, "empty");
	return 0;
}

static int get_change_any(struct rd *r, void *out)
{
	return get_change(r, out);
}

/* Rows must come in strictly increasing path order, so that the last one
 * is where the next page starts and no path is listed twice. */
struct ordered {
	struct tp_ws_change row;
	struct tp_bytes prev; /* len 0: the first row */
};

static int get_change_ordered(struct rd *r, void *scratch)
{
	struct ordered *o = scratch;
	int k = get_change(r, &o->row);

	if (k < 0)
		return k;
	if (o->prev.len && path_cmp(&o->prev, &o->row.path) >= 0)
		return tpc_fail(r, -EPROTO, "path", -1,
				"not after the previous row's path");
	o->prev = o->row.path;
	return 0;
}

static int get_changed(struct rd *r, struct tp_ws_changed *t)
{
	struct ordered o = { 0 };
	int k;

	t->rows = NULL;
	if ((k = tpc_get_bool(r, "more", &t->more)) < 0 ||
	    (k = tpc_get_rows(r, TP_WSCHG_MAX, get_change_ordered, &o,
			      &t->count, &t->ptr, &t->size)) < 0)
		return k;
	/* A client would ask again from the same place forever. */
	if (t->more && t->count == 0)
		return tpc_fail(r, -EPROTO, "more", -1, "set on an empty page");
	return 0;
}

int tpc_decode_ws(struct rd *r, struct tp_msg *m)
{
	int k;

	switch (m->type) {
	case TP_WS_CHANGES:
		if ((k = tpc_get_name(r, "workspace", false,
				      &m->changes.workspace)) < 0 ||
		    (k = tpc_get_str(r, "after", -1, TP_PATH_MAX,
				     &m->changes.after)) < 0)
			return k;
		return 0;
	case TP_WS_CHANGED: return get_changed(r, &m->changed);
	case TP_WS_RESET:
		return tpc_get_name(r, "workspace", false, &m->reset.workspace);
	default:
		return tpc_fail(r, -EPROTO, "type", -1, "unknown type %u",
				m->type);
	}
}

bool tp_changed_next(const struct tp_ws_changed *t, uint32_t *pos,
		     struct tp_ws_change *out)
{
	return t && tpc_next_row(t->ptr, t->size, "WS_CHANGED", get_change_any,
				 pos, out);
}

/* ---- encoding ---- */

static void put_changed(struct wr *w, const struct tp_ws_changed *t)
{
	if (w->r)
		return;
	if (t->count > TP_WSCHG_MAX) {
		w->r = -EMSGSIZE;
		return;
	}
	if (t->count && !t->rows) {
		w->r = -EINVAL;
		return;
	}
	tpc_put_le(w, t->more, 1);
	tpc_put_le(w, t->count, 4);
	for (uint32_t i = 0; i < t->count && !w->r; i++) {
		const struct tp_ws_change *c = &t->rows[i];

		tpc_put_le(w, c->kind, 1);
		tpc_put_le(w, c->type, 1);
		tpc_put_le(w, c->size, 8);
		tpc_put_bytes(w, &c->path, TP_PATH_MAX);
	}
}

void tpc_put_ws(struct wr *w, const struct tp_msg *m)
{
	switch (m->type) {
	case TP_WS_CHANGES:
		tpc_put_bytes(w, &m->changes.workspace, TP_NAME_MAX);
		tpc_put_bytes(w, &m->changes.after, TP_PATH_MAX);
		break;
	case TP_WS_CHANGED: put_changed(w, &m->changed); break;
	case TP_WS_RESET:
		tpc_put_bytes(w, &m->reset.workspace, TP_NAME_MAX);
		break;
	default: w->r = -EINVAL; break;
	}
}
