/* SPDX-License-Identifier: MIT */
/* The codec of the messages about a workspace's view (WS_*, docs/protocol.md,
 * "Changes in a view"): what commands changed in it, reading that back, and
 * discarding it. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "codec.h"
#include "codec_int.h"

/* ---- paths ---- */

/* Why n bytes at p are not a workspace path, or NULL when they are. The
 * rules of sd_path_check() (syncd/manifest.h), which transport cannot
 * link: what a node lists or is asked to read is what a manifest holds. */
static const char *path_why(const uint8_t *p, size_t n)
{
	size_t start = 0;

	if (n == 0)
		return "empty";
	if (n > TP_PATH_MAX)
		return "too long";
	if (memchr(p, '\0', n))
		return "string contains NUL";
	if (p[0] == '/')
		return "absolute (leading '/')";
	if (p[n - 1] == '/')
		return "trailing '/'";
	for (size_t i = 0; i <= n; i++) {
		const uint8_t *c = p + start;
		size_t len = i - start;

		if (i < n && p[i] != '/')
			continue;
		start = i + 1;
		if (len == 0)
			return "empty component";
		if (len > TP_COMP_MAX)
			return "component over 255 bytes";
		if (c[0] == '.' && len == 1)
			return "'.' component";
		if (c[0] == '.' && len == 2 && c[1] == '.')
			return "'..' component";
	}
	return NULL;
}

bool tp_path_ok(const uint8_t *p, size_t n)
{
	return p && !path_why(p, n);
}

/* ---- decoding ---- */

int tpc_get_path(struct rd *r, const char *field, struct tp_bytes *out)
{
	const char *why;
	int k = tpc_get_str(r, field, -1, TP_PATH_MAX, out);

	if (k < 0)
		return k;
	why = path_why(out->ptr, out->len);
	if (why)
		return tpc_fail(r, -EPROTO, field, -1, "%s", why);
	return 0;
}

static int64_t to_i64(uint64_t u)
{
	int64_t v;

	/* memcpy keeps the two's-complement reinterpretation well defined. */
	memcpy(&v, &u, sizeof(v));
	return v;
}

/* Memcmp order of two paths, a prefix first (as sd_path_cmp). */
static int path_cmp(const struct tp_bytes *a, const struct tp_bytes *b)
{
	uint32_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(a->ptr, b->ptr, n) : 0;

	if (c)
		return c;
	return (a->len > b->len) - (a->len < b->len);
}

static int get_type(struct rd *r, uint8_t *out)
{
	int k = tpc_get_u8(r, "type", out);

	if (k == 0 && (*out < TP_CHANGE_FILE || *out > TP_CHANGE_SYMLINK))
		return tpc_fail(r, -EPROTO, "type", -1, "unknown type %u",
				*out);
	return k;
}

static int get_change(struct rd *r, struct tp_ws_change *c)
{
	int k;

	if ((k = tpc_get_u8(r, "kind", &c->kind)) < 0)
		return k;
	if (c->kind < TP_CHANGE_CREATED || c->kind > TP_CHANGE_DELETED)
		return tpc_fail(r, -EPROTO, "kind", -1, "unknown kind %u",
				c->kind);
	if ((k = get_type(r, &c->type)) < 0 ||
	    (k = tpc_get_bool(r, "conflict", &c->conflict)) < 0 ||
	    (k = tpc_get_u64(r, "size", &c->size)) < 0 ||
	    (k = tpc_get_path(r, "path", &c->path)) < 0)
		return k;
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

static int get_read(struct rd *r, struct tp_ws_read *q)
{
	int k;

	if ((k = tpc_get_name(r, "workspace", false, &q->workspace)) < 0 ||
	    (k = tpc_get_path(r, "path", &q->path)) < 0 ||
	    (k = tpc_get_u64(r, "offset", &q->offset)) < 0 ||
	    (k = tpc_get_u32(r, "max", &q->max)) < 0)
		return k;
	if (q->max > TP_READ_MAX)
		return tpc_fail(r, -EMSGSIZE, "max", -1,
				"%" PRIu32 " bytes over the %u-byte cap",
				q->max, TP_READ_MAX);
	return 0;
}

/* One encoding per entry: what a kind does not have is empty or 0. */
static int get_data(struct rd *r, struct tp_ws_data *d)
{
	uint64_t mtime;
	int k;

	if ((k = get_type(r, &d->type)) < 0 ||
	    (k = tpc_get_u32(r, "mode", &d->mode)) < 0)
		return k;
	if (d->mode & ~07777u)
		return tpc_fail(r, -EPROTO, "mode", -1,
				"0%" PRIo32 " has bits outside 07777", d->mode);
	if ((k = tpc_get_u64(r, "mtime_ns", &mtime)) < 0 ||
	    (k = tpc_get_u64(r, "size", &d->size)) < 0 ||
	    (k = tpc_get_str(r, "target", -1, TP_PATH_MAX, &d->target)) < 0)
		return k;
	d->mtime_ns = to_i64(mtime);
	if (d->type == TP_CHANGE_SYMLINK && d->target.len == 0)
		return tpc_fail(r, -EPROTO, "target", -1, "empty on a symlink");
	if (d->type != TP_CHANGE_SYMLINK && d->target.len)
		return tpc_fail(r, -EPROTO, "target", -1, "set on a %s",
				d->type == TP_CHANGE_FILE ? "file"
							  : "directory");
	if (d->type == TP_CHANGE_SYMLINK && d->size != d->target.len)
		return tpc_fail(r, -EPROTO, "size", -1,
				"%" PRIu64 ", not the target's %" PRIu32
				" bytes",
				d->size, d->target.len);
	if (d->type == TP_CHANGE_DIR && d->size)
		return tpc_fail(r, -EPROTO, "size", -1,
				"%" PRIu64 " on a directory", d->size);
	if ((k = tpc_get_blob(r, "data", -1, TP_READ_MAX, true, &d->data)) < 0)
		return k;
	if (d->type != TP_CHANGE_FILE && d->data.len)
		return tpc_fail(r, -EPROTO, "data", -1, "set on a %s",
				d->type == TP_CHANGE_DIR ? "directory"
							 : "symlink");
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
	case TP_WS_READ: return get_read(r, &m->wsread);
	case TP_WS_DATA: return get_data(r, &m->wsdata);
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
	if (!tpc_list_ok(w, t->count, TP_WSCHG_MAX, t->rows))
		return;
	tpc_put_le(w, t->more, 1);
	tpc_put_le(w, t->count, 4);
	for (uint32_t i = 0; i < t->count && !w->r; i++) {
		const struct tp_ws_change *c = &t->rows[i];

		tpc_put_le(w, c->kind, 1);
		tpc_put_le(w, c->type, 1);
		tpc_put_le(w, c->conflict, 1);
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
	case TP_WS_READ:
		if (!w->r && m->wsread.max > TP_READ_MAX)
			w->r = -EMSGSIZE;
		tpc_put_bytes(w, &m->wsread.workspace, TP_NAME_MAX);
		tpc_put_bytes(w, &m->wsread.path, TP_PATH_MAX);
		tpc_put_le(w, m->wsread.offset, 8);
		tpc_put_le(w, m->wsread.max, 4);
		break;
	case TP_WS_DATA: {
		const struct tp_ws_data *d = &m->wsdata;
		uint64_t mtime;

		memcpy(&mtime, &d->mtime_ns, sizeof(mtime));
		tpc_put_le(w, d->type, 1);
		tpc_put_le(w, d->mode, 4);
		tpc_put_le(w, mtime, 8);
		tpc_put_le(w, d->size, 8);
		tpc_put_bytes(w, &d->target, TP_PATH_MAX);
		tpc_put_bytes(w, &d->data, TP_READ_MAX);
		break;
	}
	default: w->r = -EINVAL; break;
	}
}
