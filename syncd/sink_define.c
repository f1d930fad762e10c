/* SPDX-License-Identifier: MIT */
/* Metadata ahead of content on the node (docs/protocol.md, "Metadata ahead
 * of content"): a lazy commit may hold pending files, whose chunk lists the
 * source has not computed yet. A view's reader of one asks the source for
 * it (SYNC_ASK, the answer to a SYNC_SERVE poll) and waits; the source
 * reads the file and defines it (SYNC_DEFINE); the chunks follow as
 * SYNC_FILLs. Definitions live in memory for as long as the current version
 * has the file pending as it was defined. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "sink_int.h"

/* A reader asks again this often while it waits: a source that took the
 * ask and went away leaves it to the next one. */
#define REASK_MS 1000
/* Asks queued per workspace: readers past this wait for room. */
#define ASKS_MAX 256

/* A pending file as the node has it: which one a reader wants, and which
 * one a definition is for. */
struct pend {
	char *path;
	uint64_t size;
	int64_t mtime_ns;
};

struct sdk_def {
	struct sdk_def *next;
	struct pend p;
	char *err;	 /* the source could not define it: why; else NULL */
	uint32_t n, got; /* chunks in all, and come so far (in pages) */
	struct sd_chunkref *chunks;
	bool done; /* every page came: readers may use it */
};

static bool same(const struct pend *a, const char *path, uint64_t size,
		 int64_t mtime_ns)
{
	return a->size == size && a->mtime_ns == mtime_ns &&
	       strcmp(a->path, path) == 0;
}

static void def_free(struct sdk_def *d)
{
	free(d->p.path);
	free(d->err);
	free(d->chunks);
	free(d);
}

/* Whether (path, size, mtime) is a pending file of w's current version.
 * Sink lock held. */
static bool pending_now(const struct ws *w, const char *path, uint64_t size,
			int64_t mtime_ns)
{
	const struct sd_entry *e =
		sd_manifest_find(&w->cur, path, strlen(path));

	return e && e->type == SD_T_PENDING && e->size == size &&
	       e->mtime_ns == mtime_ns;
}

void sdk_defs_prune(struct ws *w)
{
	size_t k = 0;

	for (struct sdk_def **pp = &w->defs; *pp;) {
		struct sdk_def *d = *pp;

		if (pending_now(w, d->p.path, d->p.size, d->p.mtime_ns)) {
			pp = &d->next;
			continue;
		}
		*pp = d->next;
		def_free(d);
	}
	for (size_t i = 0; i < w->nasks; i++) {
		struct pend *a = &w->asks[i];

		if (pending_now(w, a->path, a->size, a->mtime_ns))
			w->asks[k++] = *a;
		else
			free(a->path);
	}
	w->nasks = k;
}

size_t sdk_defs_chunks(const struct ws *w)
{
	size_t n = 0;

	for (const struct sdk_def *d = w->defs; d; d = d->next)
		n += d->got;
	return n;
}

void sdk_defs_live(const struct ws *w, struct sdk_idset *set)
{
	for (const struct sdk_def *d = w->defs; d; d = d->next)
		for (uint32_t i = 0; i < d->got; i++)
			sdk_idset_insert(set, &d->chunks[i].id);
}

void sdk_defs_free(struct ws *w)
{
	while (w->defs) {
		struct sdk_def *d = w->defs;

		w->defs = d->next;
		def_free(d);
	}
	for (size_t i = 0; i < w->nasks; i++)
		free(w->asks[i].path);
	free(w->asks);
	w->asks = NULL;
	w->nasks = w->capasks = 0;
}

/* A complete definition of (path, size, mtime), for readers. */
static struct sdk_def *def_find(const struct ws *w, const char *path,
				uint64_t size, int64_t mtime_ns)
{
	for (struct sdk_def *d = w->defs; d; d = d->next)
		if (d->done && same(&d->p, path, size, mtime_ns))
			return d;
	return NULL;
}

/* Queue an ask for the file, unless it is queued. Sink lock held. */
static void ask(struct ws *w, const char *path, uint64_t size, int64_t mtime_ns)
{
	struct pend a = { NULL, size, mtime_ns };

	for (size_t i = 0; i < w->nasks; i++)
		if (same(&w->asks[i], path, size, mtime_ns))
			return;
	if (w->nasks >= ASKS_MAX)
		return;
	if (w->nasks == w->capasks) {
		size_t cap = w->capasks ? 2 * w->capasks : 8;
		struct pend *v = realloc(w->asks, cap * sizeof(*v));

		if (!v)
			return;
		w->asks = v;
		w->capasks = cap;
	}
	a.path = strdup(path);
	if (a.path)
		w->asks[w->nasks++] = a;
}

bool sdk_asked(const struct ws *w)
{
	return w->nasks > 0;
}

void sdk_ask_reply(struct tp_req *req, struct ws *w, uint64_t session)
{
	struct pend a = w->asks[0];
	struct tp_msg m = { .type = TP_SYNC_ASK };

	m.ask = (struct tp_sync_ask){
		.session = session,
		.path = { (const uint8_t *)a.path, (uint32_t)strlen(a.path) },
		.size = a.size,
		.mtime_ns = a.mtime_ns,
	};
	/* Encoded before it returns: the path may go. */
	tp_req_reply(req, &m);
	memmove(w->asks, w->asks + 1, (w->nasks - 1) * sizeof(*w->asks));
	w->nasks--;
	free(a.path);
}

/* A copy of n chunk refs, or NULL. */
static struct sd_chunkref *refs_dup(const struct sd_chunkref *c, uint32_t n)
{
	struct sd_chunkref *v = malloc((n ? n : 1) * sizeof(*v));

	if (v && n)
		memcpy(v, c, n * sizeof(*v));
	return v;
}

int sd_sink_define_await(struct sd_sink *s, const char *name, const char *path,
			 uint64_t size, int64_t mtime_ns, unsigned timeout_ms,
			 struct sd_chunkref **chunks, uint32_t *n,
			 struct sd_err *why)
{
	int64_t end = util_now_ms() + timeout_ms, reask = 0;
	struct ws *w;
	int r = 0;

	*chunks = NULL;
	*n = 0;
	pthread_mutex_lock(&s->lock);
	w = sdk_ws_find(s, name, strlen(name));
	if (!w)
		r = sd_err_set(why, -ENOENT, "workspace %s: not on this node",
			       name);
	while (r == 0) {
		const struct sd_entry *e =
			sd_manifest_find(&w->cur, path, strlen(path));
		const struct sdk_def *d = def_find(w, path, size, mtime_ns);
		int64_t now = util_now_ms();

		if (e && e->type == SD_T_FILE && e->size == size &&
		    e->mtime_ns == mtime_ns) {
			/* A later version has it hashed. */
			*chunks = refs_dup(e->chunks, e->nchunks);
			*n = e->nchunks;
			r = *chunks ? 0 : -ENOMEM;
			break;
		}
		if (d && d->err) {
			r = sd_err_set(why, -EIO, "the source: %s", d->err);
			break;
		}
		if (d) {
			*chunks = refs_dup(d->chunks, d->n);
			*n = d->n;
			r = *chunks ? 0 : -ENOMEM;
			break;
		}
		if (s->quiesced || s->stopping) {
			r = -ESHUTDOWN;
			break;
		}
		if (now >= end) {
			r = -ETIMEDOUT;
			break;
		}
		if (now >= reask) {
			if (pending_now(w, path, size, mtime_ns)) {
				ask(w, path, size, mtime_ns);
				pthread_cond_signal(&s->polls_cond);
			}
			reask = now + REASK_MS;
		}
		sdk_wait_until(&s->arrived, &s->lock,
			       reask < end ? reask : end);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* The ids of the n chunks c the store lacks, each once, into out. */
static size_t lacking(const struct ws *w, const struct sd_chunkref *c,
		      uint32_t n, struct sd_id *out)
{
	size_t k = 0;

	for (uint32_t i = 0; i < n; i++) {
		const struct sd_id *id = &c[i].id;
		bool dup = false;

		if (sd_store_has(w->dom->store, id))
			continue;
		/* A file's repeated chunk (zeros, say) is asked for once:
		 * the last few ids are all a repeat usually is next to. */
		for (size_t j = k > 8 ? k - 8 : 0; j < k && !dup; j++)
			dup = sd_id_eq(&out[j], id);
		if (!dup)
			out[k++] = *id;
	}
	return k;
}

/* A definition of (path, size, mtime), complete or still coming. */
static struct sdk_def *def_any(const struct ws *w, const char *path,
			       uint64_t size, int64_t mtime_ns)
{
	for (struct sdk_def *d = w->defs; d; d = d->next)
		if (same(&d->p, path, size, mtime_ns))
			return d;
	return NULL;
}

static void def_unlink(struct ws *w, struct sdk_def *d)
{
	for (struct sdk_def **pp = &w->defs; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			return;
		}
}

/* Take page v into w's definitions (sink lock held): 0 with the page's
 * lacking ids in ids (*nids), or -EPROTO with why. */
static int take_page(struct sd_sink *s, struct ws *w, const char *path,
		     const struct tp_sync_define *v,
		     const struct sd_chunkref *page, struct sdk_def **fresh,
		     struct sd_id *ids, size_t *nids, struct sd_err *why)
{
	struct sdk_def *d = def_any(w, path, v->size, v->mtime_ns);
	uint64_t sum = 0;

	if (!pending_now(w, path, v->size, v->mtime_ns))
		return 0; /* the version moved on: nothing wanted */
	if (v->index == 0) {
		if (d && d->done)
			return 0; /* defined already */
		if (d) {
			/* Started again (the source lost its place). */
			def_unlink(w, d);
			def_free(d);
		}
		d = *fresh;
		*fresh = NULL;
		d->next = w->defs;
		w->defs = d;
	} else if (!d || d->done || d->got != v->index || d->n != v->total) {
		return sd_err_set(why, -EPROTO,
				  "%s: a page of its chunk list at %" PRIu32
				  " of %" PRIu32 ", not the next one",
				  path, v->index, v->total);
	}
	memcpy(d->chunks + d->got, page, v->count * sizeof(*page));
	d->got += v->count;
	*nids = lacking(w, page, v->count, ids);
	if (d->got < d->n)
		return 0;
	for (uint32_t i = 0; i < d->n; i++)
		sum += d->chunks[i].len;
	if (!d->err && sum != d->p.size) {
		def_unlink(w, d);
		def_free(d);
		*nids = 0;
		return sd_err_set(why, -EPROTO,
				  "%s: chunks of %" PRIu64
				  " bytes, size %" PRIu64,
				  path, sum, v->size);
	}
	d->done = true;
	if (d->err)
		log_warn(
			"workspace %s: %s: the source cannot give its content: "
			"%s",
			w->name, path, d->err);
	pthread_cond_broadcast(&s->arrived);
	return 0;
}

void sdk_define(struct sd_sink *s, struct tp_req *req,
		const struct tp_sync_define *v)
{
	struct tp_msg m = { .type = TP_SYNC_WANT };
	char path[TP_PATH_MAX + 1];
	struct sdk_def *fresh = NULL;
	struct sd_chunkref *page;
	struct sd_err why = { "" };
	struct sd_id *ids;
	size_t nids = 0;
	struct ws *w;
	int r = 0;

	/* The decoder checked path, err, the page's place and lens. */
	memcpy(path, v->path.ptr, v->path.len);
	path[v->path.len] = '\0';
	page = malloc((v->count ? v->count : 1) * sizeof(*page));
	ids = malloc((v->count ? v->count : 1) * sizeof(*ids));
	if (page && ids && v->index == 0) {
		fresh = calloc(1, sizeof(*fresh));
		if (fresh) {
			fresh->p = (struct pend){ strdup(path), v->size,
						  v->mtime_ns };
			fresh->n = v->total;
			fresh->chunks = malloc((v->total ? v->total : 1) *
					       sizeof(*fresh->chunks));
			if (v->err.len)
				fresh->err = strndup((const char *)v->err.ptr,
						     v->err.len);
		}
		if (!fresh || !fresh->p.path || !fresh->chunks ||
		    (v->err.len && !fresh->err))
			r = -ENOMEM;
	}
	if (!page || !ids || r < 0) {
		if (fresh)
			def_free(fresh);
		free(page);
		free(ids);
		tp_req_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	for (uint32_t i = 0; i < v->count; i++)
		tp_define_ref_get(v->refs, i, page[i].id.b, &page[i].len);
	pthread_mutex_lock(&s->lock);
	w = sdk_ws_find(s, (const char *)v->workspace.ptr, v->workspace.len);
	if (!w)
		r = sd_err_set(&why, -ENOENT,
			       "workspace %.*s: not on this node",
			       (int)v->workspace.len, v->workspace.ptr);
	else
		r = take_page(s, w, path, v, page, &fresh, ids, &nids, &why);
	pthread_mutex_unlock(&s->lock);
	if (fresh)
		def_free(fresh);
	free(page);
	if (r < 0) {
		tp_req_reply_error(req, -r, "%s", why.what);
	} else {
		m.want = (struct tp_sync_want){ .session = v->session,
						.total = nids,
						.count = (uint32_t)nids,
						.ids = nids ? ids[0].b : NULL };
		tp_req_reply(req, &m);
	}
	free(ids);
}
