/* SPDX-License-Identifier: MIT */
/* Reading a committed version back off the node (tether mount): SYNC_FETCH
 * pages a workspace's manifest, SYNC_GET copies chunk records out of its
 * domain's store as they are, without decoding or recompressing them. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "pack.h"
#include "sink_int.h"
#include "store.h"

/* Every record fits an empty reply pack, so a GET whose first chunk the
 * store holds always gets it. */
_Static_assert(TP_BULK_MAX >= SD_PACK_REC_MAX,
	       "a SYNC_CHUNKS pack must hold the largest record");

/* ---- SYNC_FETCH ---- */

static bool enc_is(const struct ws *w, uint64_t version,
		   const struct sd_id *root)
{
	return w->enc && w->enc_version == version &&
	       sd_id_eq(&w->enc_root, root);
}

/* Answer from the cache (enc_lock held, the cache valid). */
static void reply_page(struct tp_req *req, const struct ws *w, uint64_t offset)
{
	struct tp_msg m = { .type = TP_SYNC_MANIFEST };
	uint64_t left;

	if (offset > w->enc_len) {
		tp_req_reply_error(req, EINVAL,
				   "workspace %s: offset %" PRIu64
				   " is past the %zu-byte manifest of version "
				   "%" PRIu64,
				   w->name, offset, w->enc_len, w->enc_version);
		return;
	}
	left = w->enc_len - offset;
	m.manifest.version = w->enc_version;
	m.manifest.total = w->enc_len;
	m.manifest.offset = offset;
	m.manifest.data = (struct tp_bytes){
		w->enc + offset,
		(uint32_t)(left > TP_BULK_MAX ? TP_BULK_MAX : left)
	};
	/* The reply copies the page into its frame: the cache may be
	 * replaced as soon as enc_lock is released. */
	tp_req_reply(req, &m);
}

/* The version a FETCH asked for is not the current one. */
static void reply_stale(struct tp_req *req, const struct ws *w,
			uint64_t current)
{
	tp_req_reply_error(req, ESTALE,
			   "workspace %s is at version %" PRIu64 " now",
			   w->name, current);
}

/* The cache misses: encode cur under the commit lock, which keeps it from
 * changing (a commit swaps cur holding both it and the sink lock), and
 * answer. A FETCH that comes during a commit waits for it here. */
static void fetch_encode(struct tp_req *req, struct ws *w,
			 const struct tp_sync_fetch *f)
{
	uint64_t version;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r = 0;

	pthread_mutex_lock(&w->commit_lock);
	version = w->cur.version;
	if (f->version && f->version != version) {
		pthread_mutex_unlock(&w->commit_lock);
		reply_stale(req, w, version);
		return;
	}
	pthread_mutex_lock(&w->enc_lock);
	/* Another FETCH may have encoded this version meanwhile. */
	if (!enc_is(w, version, &w->cur.root)) {
		free(w->enc);
		w->enc = NULL;
		w->enc_len = 0;
		w->enc_version = 0;
		r = sd_manifest_encode(&w->cur, &buf, &len);
		if (r == 0) {
			w->enc = buf;
			w->enc_len = len;
			w->enc_version = version;
			w->enc_root = w->cur.root;
		}
	}
	pthread_mutex_unlock(&w->commit_lock);
	if (r < 0)
		tp_req_reply_error(req, -r,
				   "workspace %s: encoding the manifest of "
				   "version %" PRIu64 ": %s",
				   w->name, version, strerror(-r));
	else
		reply_page(req, w, f->offset);
	pthread_mutex_unlock(&w->enc_lock);
}

void sdk_fetch(struct sd_sink *s, struct tp_req *req,
	       const struct tp_sync_fetch *f)
{
	struct sd_id root = { { 0 } };
	uint64_t version = 0;
	struct ws *w;

	pthread_mutex_lock(&s->lock);
	w = sdk_ws_find(s, (const char *)f->workspace.ptr, f->workspace.len);
	if (w) {
		version = w->cur.version;
		root = w->cur.root;
	}
	pthread_mutex_unlock(&s->lock);
	/* Versions only grow: one that had a version keeps having one. */
	if (!w || version == 0) {
		tp_req_reply_error(req, ENOENT, "workspace %.*s has no version",
				   (int)f->workspace.len, f->workspace.ptr);
		return;
	}
	if (f->version && f->version != version) {
		reply_stale(req, w, version);
		return;
	}
	/* The usual case, every page after a version's first: no encoding,
	 * and no waiting for a commit in progress. */
	pthread_mutex_lock(&w->enc_lock);
	if (enc_is(w, version, &root)) {
		reply_page(req, w, f->offset);
		pthread_mutex_unlock(&w->enc_lock);
		return;
	}
	pthread_mutex_unlock(&w->enc_lock);
	fetch_encode(req, w, f);
}

/* ---- SYNC_GET ---- */

void sdk_get(struct sd_sink *s, struct tp_req *req, const struct tp_sync_get *g)
{
	struct tp_msg m = { .type = TP_SYNC_CHUNKS };
	struct sd_err why = { "" };
	struct sd_id id = { { 0 } };
	struct sd_store *store;
	size_t len = 0;
	uint32_t i;
	uint8_t *buf;
	ssize_t n = 0;
	struct ws *w;

	pthread_mutex_lock(&s->lock);
	w = sdk_ws_find(s, (const char *)g->workspace.ptr, g->workspace.len);
	pthread_mutex_unlock(&s->lock);
	if (!w) {
		tp_req_reply_error(req, ENOENT,
				   "workspace %.*s: unknown to this node",
				   (int)g->workspace.len, g->workspace.ptr);
		return;
	}
	buf = malloc(TP_BULK_MAX);
	if (!buf) {
		tp_req_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	store = w->dom->store;
	/* Records are copied straight into the reply's pack: the store
	 * checks each header against its index and the client verifies the
	 * bytes, as every put does. The GC lock keeps a collection from
	 * dropping a chunk between its lookup and its read. */
	pthread_rwlock_rdlock(&w->dom->gc_lock);
	for (i = 0; i < g->count; i++) {
		memcpy(id.b, g->ids + (size_t)i * TP_ID_SIZE, TP_ID_SIZE);
		n = sd_store_get_stored(store, &id, buf + len,
					TP_BULK_MAX - len, &why);
		/* Past the first chunk, any failure (the pack is full, a
		 * chunk is missing or unreadable) ends the pack: count tells
		 * the client where to ask again, and that request hears the
		 * error. */
		if (n < 0)
			break;
		len += (size_t)n;
	}
	pthread_rwlock_unlock(&w->dom->gc_lock);
	if (i == 0) {
		char hex[SD_ID_HEX];

		if (n == -ENOENT)
			tp_req_reply_error(req, ENOENT,
					   "workspace %s: chunk %s is not in "
					   "the store of domain %s",
					   w->name, sd_id_hex(&id, hex),
					   w->dom->name);
		else
			tp_req_reply_error(req, n == -ENOMEM ? ENOMEM : EIO,
					   "workspace %s: %s", w->name,
					   why.what);
	} else {
		m.chunks.count = i;
		m.chunks.pack = (struct tp_bytes){ buf, (uint32_t)len };
		tp_req_reply(req, &m);
	}
	free(buf);
}
