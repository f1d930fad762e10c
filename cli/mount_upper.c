/* SPDX-License-Identifier: MIT */
/* tether mount of a node's view: its version with what commands wrote on
 * top (WS_CHANGES, then WS_READ of each change's metadata). The bytes of a
 * file a command wrote are read when the mount's reader asks, in pieces,
 * by path (fs_fetch_set_pieces()). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunkid.h"
#include "cli.h"
#include "codec.h"
#include "fetch.h"
#include "link.h"
#include "zchunk.h"

#define CALL_MS 15000

struct merge {
	/* Reads go on a channel of their own: a change's path points into
	 * the frame of the listing's channel. */
	struct tp_chan *ch;
	const char *name;
	const struct sd_manifest *lower;
	struct sd_delta d;
	struct fs_piece *pieces;
	size_t npieces, cap;
	/* The last deleted path: its subtree's rows say nothing more (a
	 * delta deletes a subtree with its root). */
	char last_del[TP_PATH_MAX + 1];
	uint32_t last_del_len;
	/* Paths put, and the directories above a change (push_ancestors()). */
	char **puts, **parents;
	size_t nputs, capputs, nparents, capparents;
	char prev[TP_PATH_MAX]; /* the row before's path */
	uint32_t prev_len;
	char *err;
	size_t errlen;
};

/* The id of piece k of path as it is now: stable while the file's size
 * and mtime are, so that the mount keeps its cached pages until then. */
static void piece_id(const struct tp_bytes *path, uint64_t size, int64_t mtime,
		     uint64_t k, struct sd_id *out)
{
	static const char tag[] = "tether upper piece";
	struct sd_hasher *h = sd_hasher_new();
	uint64_t v[3] = { size, (uint64_t)mtime, k };

	memset(out, 0, sizeof(*out));
	if (!h)
		return;
	sd_hasher_update(h, tag, sizeof(tag));
	sd_hasher_update(h, path->ptr, path->len);
	sd_hasher_update(h, v, sizeof(v));
	sd_hasher_final(h, out);
	sd_hasher_free(h);
}

static int add_piece(struct merge *m, const struct sd_id *id,
		     const struct tp_bytes *path, uint64_t off, uint32_t len)
{
	struct fs_piece *p;

	if (m->npieces == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 64;

		p = realloc(m->pieces, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		m->pieces = p;
		m->cap = cap;
	}
	p = &m->pieces[m->npieces];
	p->path = strndup((const char *)path->ptr, path->len);
	if (!p->path)
		return -ENOMEM;
	p->id = *id;
	p->off = off;
	p->len = len;
	m->npieces++;
	return 0;
}

static int push(char ***v, size_t *n, size_t *cap, const uint8_t *p, size_t len)
{
	char *s = strndup((const char *)p, len);

	if (!s)
		return -ENOMEM;
	if (*n == *cap) {
		size_t nc = *cap ? 2 * *cap : 64;
		char **nv = realloc(*v, nc * sizeof(*nv));

		if (!nv) {
			free(s);
			return -ENOMEM;
		}
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = s;
	return 0;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entry a change shows, from its WS_READ metadata. */
static int put(struct merge *m, const struct tp_bytes *path,
	       const struct tp_ws_data *dt)
{
	struct sd_entry e = { 0 };
	struct sd_chunkref *refs = NULL;
	struct sd_err why = { "" };
	char buf[TP_PATH_MAX + 1], target[TP_PATH_MAX + 1];
	uint64_t n = 0;
	int r = 0;

	memcpy(buf, path->ptr, path->len);
	buf[path->len] = '\0';
	e.path = buf;
	e.path_len = path->len;
	e.mode = dt->mode;
	e.mtime_ns = dt->mtime_ns;
	switch (dt->type) {
	case TP_CHANGE_DIR: e.type = SD_T_DIR; break;
	case TP_CHANGE_SYMLINK:
		e.type = SD_T_SYMLINK;
		memcpy(target, dt->target.ptr, dt->target.len);
		target[dt->target.len] = '\0';
		e.target = target;
		e.target_len = dt->target.len;
		e.size = dt->target.len;
		break;
	default:
		e.type = SD_T_FILE;
		e.size = dt->size;
		n = (dt->size + SD_CHUNK_MAX - 1) / SD_CHUNK_MAX;
		refs = n ? calloc(n, sizeof(*refs)) : NULL;
		if (n && !refs)
			return -ENOMEM;
		for (uint64_t k = 0; k < n && r == 0; k++) {
			uint64_t off = k * SD_CHUNK_MAX;

			refs[k].len = (uint32_t)(dt->size - off > SD_CHUNK_MAX
							 ? SD_CHUNK_MAX
							 : dt->size - off);
			piece_id(path, dt->size, dt->mtime_ns, k, &refs[k].id);
			r = add_piece(m, &refs[k].id, path, off, refs[k].len);
		}
		e.nchunks = (uint32_t)n;
		e.chunks = refs;
	}
	if (r == 0)
		r = sd_manifest_add(&m->d.put, &e, &why);
	if (r == 0)
		r = push(&m->puts, &m->nputs, &m->capputs, path->ptr,
			 path->len);
	if (r < 0 && why.what[0])
		snprintf(m->err, m->errlen, "%s", why.what);
	free(refs);
	return r;
}

static bool under(const struct merge *m, const struct tp_bytes *p)
{
	return m->last_del_len && p->len > m->last_del_len &&
	       p->ptr[m->last_del_len] == '/' &&
	       !memcmp(p->ptr, m->last_del, m->last_del_len);
}

/* Put path as the view has it now (only a directory, when dir_only). */
static int read_put(struct merge *m, const struct tp_bytes *path, bool dir_only)
{
	struct tp_msg req = { .type = TP_WS_READ }, rep;
	int r;

	req.wsread = (struct tp_ws_read){
		{ (const uint8_t *)m->name, (uint32_t)strlen(m->name) },
		*path,
		0,
		0,
	};
	r = tp_chan_call(m->ch, &req, &rep, CALL_MS, m->err, m->errlen);
	if (r == -ENOENT || r == -EINVAL) {
		/* Gone since it was listed, or a fifo: nothing to show. */
		m->err[0] = '\0';
		return 0;
	}
	if (r == 0 && rep.type != TP_WS_DATA) {
		snprintf(m->err, m->errlen, "the node answered %s to WS_READ",
			 tp_type_name(rep.type));
		r = -EPROTO;
	}
	if (r < 0 || (dir_only && rep.wsdata.type != TP_CHANGE_DIR))
		return r;
	return put(m, path, &rep.wsdata);
}

/* Note every directory above path that the row before did not have
 * above it too (rows come in path order): a directory a command wrote in,
 * or whose child the view copied up, has a new mtime, which no row says. */
static int push_ancestors(struct merge *m, const struct tp_bytes *path)
{
	const uint8_t *p = path->ptr;
	int r = 0;

	for (uint32_t i = 0; i < path->len && r == 0; i++) {
		if (p[i] != '/')
			continue;
		if (m->prev_len > i && m->prev[i] == '/' &&
		    !memcmp(m->prev, p, i))
			continue;
		r = push(&m->parents, &m->nparents, &m->capparents, p, i);
	}
	memcpy(m->prev, p, path->len);
	m->prev_len = path->len;
	return r;
}

/* The directories holding changes that no row put: their mtimes. */
static int put_parents(struct merge *m)
{
	size_t nputs = m->nputs; /* put() appends to the sorted ones */
	int r = 0;

	if (nputs)
		qsort(m->puts, nputs, sizeof(*m->puts), str_cmp);
	if (m->nparents)
		qsort(m->parents, m->nparents, sizeof(*m->parents), str_cmp);
	for (size_t i = 0; i < m->nparents && r == 0; i++) {
		const char *p = m->parents[i];
		struct tp_bytes b = { (const uint8_t *)p, (uint32_t)strlen(p) };

		if ((i && !strcmp(p, m->parents[i - 1])) ||
		    (nputs &&
		     bsearch(&p, m->puts, nputs, sizeof(*m->puts), str_cmp)) ||
		    under(m, &b))
			continue;
		r = read_put(m, &b, true);
	}
	return r;
}

static int on_change(void *opaque, const struct tp_ws_change *c)
{
	struct merge *m = opaque;
	struct sd_err why = { "" };
	int r;

	if (under(m, &c->path))
		return 0;
	r = push_ancestors(m, &c->path);
	if (r < 0)
		return r;
	if (c->kind == TP_CHANGE_DELETED) {
		memcpy(m->last_del, c->path.ptr, c->path.len);
		m->last_del_len = c->path.len;
		r = sd_delta_delete(&m->d, (const char *)c->path.ptr,
				    c->path.len, &why);
		if (r < 0)
			snprintf(m->err, m->errlen, "%s", why.what);
		return r;
	}
	/* A change that replaces a lower entry deletes it first: the put
	 * takes its place, and a directory's subtree goes with it unless
	 * rows of its own put it back. */
	if (c->kind == TP_CHANGE_MODIFIED) {
		const struct sd_entry *low = sd_manifest_find(
			m->lower, (const char *)c->path.ptr, c->path.len);

		if (low && low->type == SD_T_DIR && c->type != TP_CHANGE_DIR) {
			memcpy(m->last_del, c->path.ptr, c->path.len);
			m->last_del_len = c->path.len;
			r = sd_delta_delete(&m->d, (const char *)c->path.ptr,
					    c->path.len, &why);
			if (r < 0) {
				snprintf(m->err, m->errlen, "%s", why.what);
				return r;
			}
		}
	}
	return read_put(m, &c->path, false);
}

int cli_mount_merge(struct tp_link *link, const char *name,
		    const struct sd_manifest *lower, struct sd_manifest *out,
		    struct fs_piece **pieces, size_t *npieces, char *err,
		    size_t errlen)
{
	struct merge m = {
		.name = name, .lower = lower, .err = err, .errlen = errlen
	};
	struct sd_err why = { "" };
	struct tp_chan *list = NULL;
	int r;

	sd_manifest_init(out);
	sd_delta_init(&m.d);
	err[0] = '\0';
	r = tp_chan_open(link, &list);
	if (r == 0)
		r = tp_chan_open(link, &m.ch);
	if (r == 0)
		r = cli_changes_fetch(list, name, on_change, &m, err, errlen);
	tp_chan_close(list);
	if (r == 0)
		r = put_parents(&m);
	tp_chan_close(m.ch);
	strv_free(m.puts, m.nputs);
	strv_free(m.parents, m.nparents);
	if (r == -ENOENT) {
		/* No view there, so nothing written on top. */
		err[0] = '\0';
		r = 0;
	}
	if (r == 0) {
		m.d.base_version = lower->version;
		m.d.base_root = lower->root;
		m.d.version = lower->version + 1;
		r = sd_delta_seal(&m.d, &why);
		if (r == 0)
			r = sd_delta_result(lower, &m.d, out, &why);
		if (r < 0)
			snprintf(err, errlen, "the view's changes: %s",
				 why.what);
	}
	sd_delta_free(&m.d);
	if (r < 0) {
		fs_pieces_free(m.pieces, m.npieces);
		return r;
	}
	*pieces = m.pieces;
	*npieces = m.npieces;
	return 0;
}
