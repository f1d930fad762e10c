/* SPDX-License-Identifier: MIT */
/* Lazy workspaces on the node (docs/protocol.md, "Lazy workspaces"): the
 * chunks a lazy commit left missing, the readers of a view that wait for
 * one, the source's SYNC_SERVE polls that hand their ids out, and the
 * SYNC_FILLs that bring the chunks. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "pack.h"
#include "sink_int.h"

/* A reader hands its ids out again this often while it waits: a source
 * that took them and went away leaves them to the next one. */
#define REQUEUE_MS 1000
/* Ids queued per workspace: readers past this wait for room. */
#define QUEUE_MAX (4 * TP_WANT_MAX)

/* A SYNC_SERVE held until a reader queues ids or wait_ms passes. */
struct poll {
	struct poll *next;
	struct tp_req *req;
	struct ws *ws;
	uint64_t session;
	int64_t due_ms;
};

void sdk_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t at_ms)
{
	struct timespec ts = { .tv_sec = at_ms / 1000,
			       .tv_nsec = (at_ms % 1000) * 1000000 };

	pthread_cond_timedwait(cond, lock, &ts);
}

static int id_cmp(const void *a, const void *b)
{
	return sd_id_cmp(a, b);
}

int sdk_missing_of(struct ws *w, const struct sd_manifest *m,
		   struct sd_id **out, size_t *n)
{
	int r = sdk_lacking(w->dom->store, m->e, m->count, out, n, NULL);

	if (r == 0 && *n)
		qsort(*out, *n, sizeof(**out), id_cmp);
	return r;
}

void sdk_missing_set(struct sd_sink *s, struct ws *w, struct sd_id *ids,
		     size_t n)
{
	uint8_t *got = n ? calloc(n, 1) : NULL;

	free(w->miss);
	free(w->miss_got);
	w->miss = NULL;
	w->miss_got = NULL;
	w->nmiss = w->nmissing = 0;
	if (n && !got) {
		/* Without the marks, the count cannot go down: keep it at
		 * zero rather than lie upwards for ever. */
		free(ids);
		return;
	}
	w->miss = ids;
	w->miss_got = got;
	w->nmiss = w->nmissing = n;
	pthread_cond_broadcast(&s->arrived);
}

/* Mark id arrived in w. Sink lock held. */
static void mark(struct ws *w, const struct sd_id *id)
{
	struct sd_id *hit;

	if (!w->nmissing)
		return;
	hit = bsearch(id, w->miss, w->nmiss, sizeof(*id), id_cmp);
	if (hit && !w->miss_got[hit - w->miss]) {
		w->miss_got[hit - w->miss] = 1;
		if (--w->nmissing == 0)
			log_info("workspace %s: every chunk of version %" PRIu64
				 " is here",
				 w->name, w->cur.version);
	}
}

void sdk_arrived(struct sd_sink *s, struct domain *d, const void *pack,
		 size_t len)
{
	struct sd_pack_pos pos = { 0 };
	struct sd_pack_rec rec;

	pthread_mutex_lock(&s->lock);
	while (sd_pack_next(pack, len, &pos, &rec, NULL) == 1)
		for (struct ws *w = s->wss; w; w = w->next)
			if (w->dom == d)
				mark(w, &rec.id);
	pthread_cond_broadcast(&s->arrived);
	pthread_mutex_unlock(&s->lock);
}

ssize_t sdk_store_pack(struct sd_sink *s, struct domain *d, const void *pack,
		       size_t len, struct sd_err *why)
{
	struct sd_err gwhy = { "" };
	ssize_t n = sd_store_put_batch(d->store, pack, len, why);

	if (n == -ENOSPC && sdk_domain_gc(s, d, &gwhy) == 0) {
		/* A full disk may be full of chunks nothing needs any more. */
		memset(why, 0, sizeof(*why));
		n = sd_store_put_batch(d->store, pack, len, why);
	}
	if (n > 0)
		sdk_arrived(s, d, pack, len);
	return n;
}

/* ---- the readers' queue (sink lock held) ---- */

static bool queued(const struct ws *w, const struct sd_id *id)
{
	for (size_t i = 0; i < w->nq; i++)
		if (sd_id_eq(&w->q[i], id))
			return true;
	return false;
}

static void enqueue(struct ws *w, const struct sd_id *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (w->nq >= QUEUE_MAX || queued(w, &ids[i]) ||
		    sd_store_has(w->dom->store, &ids[i]))
			continue;
		if (w->nq == w->capq) {
			size_t cap = w->capq ? 2 * w->capq : 64;
			struct sd_id *v = realloc(w->q, cap * sizeof(*v));

			if (!v)
				return;
			w->q = v;
			w->capq = cap;
		}
		w->q[w->nq++] = ids[i];
	}
}

/* Answer p with the oldest file its workspace's readers wait to have
 * asked for, else with up to TP_WANT_MAX of its queued ids, oldest first,
 * and free it. */
static void answer(struct poll *p)
{
	struct tp_msg m = { .type = TP_SYNC_WANT };
	struct ws *w = p->ws;
	uint32_t n = (uint32_t)(w->nq > TP_WANT_MAX ? TP_WANT_MAX : w->nq);

	if (sdk_asked(w)) {
		sdk_ask_reply(p->req, w, p->session);
		free(p);
		return;
	}
	m.want.session = p->session;
	m.want.total = n;
	m.want.count = n;
	m.want.ids = n ? w->q[0].b : NULL;
	tp_req_reply(p->req, &m);
	if (n)
		memmove(w->q, w->q + n, (w->nq - n) * sizeof(*w->q));
	w->nq -= n;
	free(p);
}

/* Answer the polls whose workspace has ids queued, or whose wait is over
 * (all of them when all). The next due time, or -1. Sink lock held. */
static int64_t answer_due(struct sd_sink *s, bool all)
{
	int64_t now = util_now_ms(), next = -1;

	for (struct poll **pp = &s->polls; *pp;) {
		struct poll *p = *pp;

		if (all || p->ws->nq || sdk_asked(p->ws) || p->due_ms <= now) {
			*pp = p->next;
			if (all)
				p->ws->nq = 0;
			answer(p);
			continue;
		}
		if (next < 0 || p->due_ms < next)
			next = p->due_ms;
		pp = &p->next;
	}
	return next;
}

static void *lazy_thread(void *arg)
{
	struct sd_sink *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		int64_t next = answer_due(s, s->quiesced);

		if (next < 0)
			pthread_cond_wait(&s->polls_cond, &s->lock);
		else
			sdk_wait_until(&s->polls_cond, &s->lock, next);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int sdk_lazy_start(struct sd_sink *s)
{
	pthread_condattr_t ca;
	int r;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->polls_cond, &ca);
	pthread_cond_init(&s->arrived, &ca);
	pthread_condattr_destroy(&ca);
	r = -pthread_create(&s->lazy_th, NULL, lazy_thread, s);
	s->lazy_started = r == 0;
	return r;
}

void sdk_lazy_stop(struct sd_sink *s)
{
	/* The caller set s->stopping and broadcast s->cond. */
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->polls_cond);
	pthread_cond_broadcast(&s->arrived);
	pthread_mutex_unlock(&s->lock);
	if (s->lazy_started)
		pthread_join(s->lazy_th, NULL);
	s->lazy_started = false;
	while (s->polls) {
		/* Never answered: the server that owns them is gone. */
		struct poll *p = s->polls;

		s->polls = p->next;
		free(p);
	}
}

void sd_sink_quiesce(struct sd_sink *s)
{
	pthread_mutex_lock(&s->lock);
	s->quiesced = true;
	answer_due(s, true);
	pthread_cond_broadcast(&s->arrived);
	pthread_mutex_unlock(&s->lock);
}

/* ---- requests ---- */

void sdk_serve(struct sd_sink *s, struct tp_req *req,
	       const struct tp_sync_serve *v)
{
	struct poll *p = calloc(1, sizeof(*p));
	struct ws *w;

	if (!p) {
		tp_req_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	pthread_mutex_lock(&s->lock);
	w = sdk_ws_find(s, (const char *)v->workspace.ptr, v->workspace.len);
	if (!w) {
		pthread_mutex_unlock(&s->lock);
		free(p);
		tp_req_reply_error(req, ENOENT,
				   "workspace %.*s: not on this node",
				   (int)v->workspace.len, v->workspace.ptr);
		return;
	}
	*p = (struct poll){ s->polls, req, w, v->session,
			    util_now_ms() + v->wait_ms };
	if (w->nq || sdk_asked(w) || !v->wait_ms || s->quiesced) {
		answer(p);
	} else {
		s->polls = p;
		pthread_cond_signal(&s->polls_cond);
	}
	pthread_mutex_unlock(&s->lock);
}

void sdk_fill(struct sd_sink *s, struct tp_req *req,
	      const struct tp_sync_fill *f)
{
	struct sd_err why = { "" };
	struct ws *w;
	ssize_t n;

	pthread_mutex_lock(&s->lock);
	w = sdk_ws_find(s, (const char *)f->workspace.ptr, f->workspace.len);
	pthread_mutex_unlock(&s->lock);
	if (!w) {
		tp_req_reply_error(req, ENOENT,
				   "workspace %.*s: not on this node",
				   (int)f->workspace.len, f->workspace.ptr);
		return;
	}
	n = sdk_store_pack(s, w->dom, f->pack.ptr, f->pack.len, &why);
	if (n < 0)
		tp_req_reply_error(req, (int)-n, "workspace %s: %s", w->name,
				   why.what);
	else
		tp_req_reply_ok(req, (uint64_t)n);
}

int sd_sink_await(struct sd_sink *s, const char *name, const struct sd_id *ids,
		  size_t n, unsigned timeout_ms)
{
	int64_t end = util_now_ms() + timeout_ms, requeue = 0;
	struct ws *w;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	w = sdk_ws_find(s, name, strlen(name));
	if (!w)
		r = -ENOENT;
	while (r == 0 && !sd_store_has(w->dom->store, &ids[0])) {
		int64_t now = util_now_ms();

		if (s->quiesced || s->stopping) {
			r = -ESHUTDOWN;
			break;
		}
		if (now >= end) {
			r = -ETIMEDOUT;
			break;
		}
		if (now >= requeue) {
			enqueue(w, ids, n);
			pthread_cond_signal(&s->polls_cond);
			requeue = now + REQUEUE_MS;
		}
		sdk_wait_until(&s->arrived, &s->lock,
			       requeue < end ? requeue : end);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}
