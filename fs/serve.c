/* SPDX-License-Identifier: MIT */
/* WS_CHANGES, WS_READ and WS_RESET on a node (serve.h): pages of a view's
 * changes, each from a fresh walk of its upper layer, what a change holds,
 * and discarding them. */
#include "serve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "manifest.h"
#include "views.h"

/* The wire carries enum fs_change_kind and enum sd_type as they are. */
_Static_assert((int)TP_CHANGE_CREATED == (int)FS_CHANGE_CREATED &&
		       (int)TP_CHANGE_MODIFIED == (int)FS_CHANGE_MODIFIED &&
		       (int)TP_CHANGE_DELETED == (int)FS_CHANGE_DELETED,
	       "change kinds");
_Static_assert((int)TP_CHANGE_FILE == (int)SD_T_FILE &&
		       (int)TP_CHANGE_DIR == (int)SD_T_DIR &&
		       (int)TP_CHANGE_SYMLINK == (int)SD_T_SYMLINK,
	       "change types");
_Static_assert(TP_PATH_MAX == SD_PATH_MAX, "a change's path fits a row");
_Static_assert(TP_COMP_MAX == SD_NAME_MAX, "tp_path_ok is sd_path_check");
/* A row of the longest path always fits an empty page. */
_Static_assert(TP_HEADER_SIZE + TP_CHANGED_HEAD + TP_CHANGE_ROW_FIXED +
			       TP_PATH_MAX <=
		       TP_FRAME_MAX,
	       "one row per page at least");

bool fs_serve_owns(uint16_t type)
{
	return type == TP_WS_CHANGES || type == TP_WS_RESET ||
	       type == TP_WS_READ;
}

#ifdef TETHER_HAVE_FUSE

/* One page: the rows after the cursor, until the row cap or the frame
 * cap. Paths are copied (a change's path lives for its callback only)
 * into buf, which the frame cap bounds. */
struct page {
	struct tp_bytes after;
	struct tp_ws_change rows[TP_WSCHG_MAX];
	uint32_t off[TP_WSCHG_MAX]; /* of each row's path in buf */
	uint32_t count;
	uint8_t more;
	size_t frame; /* the reply's length so far */
	char *buf;
	size_t used, cap;
	int err;
};

static bool take(void *opaque, const struct fs_change *c)
{
	struct page *p = opaque;
	struct tp_bytes path = { (const uint8_t *)c->path, c->path_len };
	size_t row = TP_CHANGE_ROW_FIXED + (size_t)c->path_len;

	/* The walk lists every change each time; the cursor skips those
	 * the client has (paths in memcmp order, as the wire's rows). */
	if (p->after.len &&
	    sd_path_cmp(c->path, c->path_len, (const char *)p->after.ptr,
			p->after.len) <= 0)
		return true;
	if (p->count == TP_WSCHG_MAX || p->frame + row > TP_FRAME_MAX) {
		p->more = 1;
		return false;
	}
	if (p->cap - p->used < path.len) {
		size_t cap = p->cap ? p->cap * 2 : 64u << 10;
		char *b;

		while (cap - p->used < path.len)
			cap *= 2;
		b = realloc(p->buf, cap);
		if (!b) {
			p->err = -ENOMEM;
			return false;
		}
		p->buf = b;
		p->cap = cap;
	}
	memcpy(p->buf + p->used, c->path, path.len);
	p->off[p->count] = (uint32_t)p->used;
	p->rows[p->count++] = (struct tp_ws_change){
		.kind = (uint8_t)c->kind,
		.type = c->type,
		.conflict = c->conflict,
		.size = c->size,
		.path = { NULL, path.len },
	};
	p->used += path.len;
	p->frame += row;
	return true;
}

static void changes(struct tp_req *req, const struct tp_ws_changes *q,
		    struct fs_views *views, const char *name)
{
	struct tp_msg m = { .type = TP_WS_CHANGED };
	struct sd_err why = { "" };
	struct page *p = calloc(1, sizeof(*p));
	int r;

	if (!p) {
		tp_req_reply_error(req, ENOMEM, "workspace %s: out of memory",
				   name);
		return;
	}
	p->after = q->after;
	p->frame = TP_HEADER_SIZE + TP_CHANGED_HEAD;
	r = fs_views_changes(views, name, take, p, &why);
	if (r == 0)
		r = p->err;
	if (r < 0) {
		if (why.what[0])
			tp_req_reply_error(req, -r, "%s", why.what);
		else
			tp_req_reply_error(req, -r, "workspace %s: changes: %s",
					   name, strerror(-r));
	} else {
		for (uint32_t i = 0; i < p->count; i++)
			p->rows[i].path.ptr =
				(const uint8_t *)p->buf + p->off[i];
		m.changed = (struct tp_ws_changed){ .more = p->more,
						    .count = p->count,
						    .rows = p->rows };
		tp_req_reply(req, &m);
	}
	free(p->buf);
	free(p);
}

/* One entry of the view's upper layer, and a piece of a file's bytes. */
static void read_entry(struct tp_req *req, const struct tp_ws_read *q,
		       struct fs_views *views, const char *name)
{
	struct tp_msg m = { .type = TP_WS_DATA };
	struct sd_err why = { "" };
	struct fs_read f = { 0 };
	char path[TP_PATH_MAX + 1];
	int r;

	/* The decoder checked it is a workspace path (tp_path_ok). */
	memcpy(path, q->path.ptr, q->path.len);
	path[q->path.len] = '\0';
	r = fs_views_read(views, name, path, q->path.len, q->offset, q->max, &f,
			  &why);
	if (r < 0) {
		if (why.what[0])
			tp_req_reply_error(req, -r, "%s", why.what);
		else
			tp_req_reply_error(req, -r, "workspace %s: read: %s",
					   name, strerror(-r));
		return;
	}
	/* One encoding per entry (docs/protocol.md, "WS_DATA"): what a kind
	 * does not have goes out empty, whatever the file system said (a
	 * directory's st_size, say). */
	m.wsdata = (struct tp_ws_data){ .type = f.type,
					.mode = f.mode & 07777,
					.mtime_ns = f.mtime_ns };
	if (f.type == SD_T_FILE) {
		m.wsdata.size = f.size;
		m.wsdata.data = (struct tp_bytes){ f.data, f.len };
	} else if (f.type == SD_T_SYMLINK && f.target) {
		size_t n = strnlen(f.target, TP_PATH_MAX + 1);

		m.wsdata.size = n;
		m.wsdata.target = (struct tp_bytes){ (const uint8_t *)f.target,
						     (uint32_t)n };
	}
	/* Encoded before it returns: f may go. An entry the wire cannot
	 * carry (a length past the caps) becomes an ERROR naming why. */
	tp_req_reply(req, &m);
	fs_read_free(&f);
}

static void reset(struct tp_req *req, struct fs_views *views, const char *name)
{
	struct sd_err why = { "" };
	int r = fs_views_reset(views, name, &why);

	if (r == 0)
		tp_req_reply_ok(req, 0);
	else if (why.what[0])
		tp_req_reply_error(req, -r, "%s", why.what);
	else
		tp_req_reply_error(req, -r, "workspace %s: reset: %s", name,
				   strerror(-r));
}

#endif

void fs_serve_handle(struct tp_req *req, const struct tp_msg *msg,
		     struct fs_views *views)
{
	const struct tp_bytes *ws =
		msg->type == TP_WS_CHANGES ? &msg->changes.workspace
		: msg->type == TP_WS_READ  ? &msg->wsread.workspace
					   : &msg->reset.workspace;
	char name[TP_NAME_MAX + 1];

	if (!fs_serve_owns(msg->type)) {
		tp_req_reply_error(req, EPROTO, "%s is not a request",
				   tp_type_name(msg->type));
		return;
	}
	/* The decoder checked it is a name: 1 to TP_NAME_MAX bytes. */
	memcpy(name, ws->ptr, ws->len);
	name[ws->len] = '\0';
#ifdef TETHER_HAVE_FUSE
	if (views) {
		if (msg->type == TP_WS_CHANGES)
			changes(req, &msg->changes, views, name);
		else if (msg->type == TP_WS_READ)
			read_entry(req, &msg->wsread, views, name);
		else
			reset(req, views, name);
		return;
	}
	tp_req_reply_error(req, ENOENT,
			   "workspace %s has no view: start the node with "
			   "--view",
			   name);
#else
	(void)views;
	tp_req_reply_error(req, ENOENT,
			   "workspace %s has no view: this tether was built "
			   "without FUSE (libfuse3-dev)",
			   name);
#endif
}
