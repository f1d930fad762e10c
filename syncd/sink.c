/* SPDX-License-Identifier: MIT */
/* Node side of workspace sync (see sink.h). */
#include "sink.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "mkdirs.h"
#include "log.h"
#include "manifest.h"
#include "sink_int.h"
#include "store.h"
#include "tree.h"
#include "wslog.h"
#include "zchunk.h"

/* A sync that sends more than this gets packs of its own, so that if it
 * never commits the GC frees its chunks without needing room to copy. */
#define OWN_PACKS	  (16u << 20)
#define OFFER_MAX	  (1ull << 30) /* one encoded delta held in memory */
#define SESSION_MAX	  256	       /* syncs in progress on the node */
#define PIPE_SESSIONS_MAX 4	       /* ... and from one connection */

int sd_sink_owns(uint16_t type)
{
	return (type >= TP_SYNC_BEGIN && type <= TP_SYNC_TABLE) ||
	       (type >= TP_SYNC_FETCH && type <= TP_SYNC_CHUNKS) ||
	       type == TP_SYNC_SERVE || type == TP_SYNC_FILL ||
	       type == TP_SYNC_DEFINE;
}

/* ---- files ---- */

int sdk_write_durable(const char *path, const void *p, size_t n)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	int r = 0;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < n && r == 0;) {
		ssize_t k = write(fd, (const uint8_t *)p + off, n - off);

		if (k < 0 && errno != EINTR)
			r = -errno;
		else if (k > 0)
			off += (size_t)k;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size > SD_ENC_MAX)
		return -EFBIG;
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t k = read(fd, *buf + got, (size_t)st.st_size - got);

		if (k <= 0) {
			free(*buf);
			return k < 0 ? -errno : -EIO;
		}
		got += (size_t)k;
	}
	(*buf)[got] = 0;
	*len = got;
	return 0;
}

/* ---- domains and workspaces (sink lock held) ---- */

static struct domain *domain_get(struct sd_sink *s, const char *name,
				 struct sd_err *why)
{
	_cleanup_free_ char *dir = NULL;
	struct domain *d;
	int r;

	for (d = s->domains; d; d = d->next)
		if (!strcmp(d->name, name))
			return d;
	d = calloc(1, sizeof(*d));
	if (!d || asprintf(&dir, "%s/stores/%s", s->state, name) < 0) {
		free(d);
		snprintf(why->what, sizeof(why->what), "out of memory");
		return NULL;
	}
	snprintf(d->name, sizeof(d->name), "%s", name);
	pthread_rwlock_init(&d->gc_lock, NULL);
	r = sd_store_open(dir, &d->store, why);
	if (r < 0) {
		free(d);
		return NULL;
	}
	d->next = s->domains;
	s->domains = d;
	return d;
}

static void ws_free(struct ws *w)
{
	if (!w)
		return;
	sd_manifest_free(&w->cur);
	pthread_mutex_destroy(&w->commit_lock);
	pthread_mutex_destroy(&w->enc_lock);
	free(w->enc);
	free(w->meta);
	free(w->dir);
	free(w->stage);
	free(w->miss);
	free(w->miss_got);
	free(w->q);
	sdk_defs_free(w);
	free(w->pass);
	sd_wslog_close(w->log);
	free(w);
}

/* Load (or create, when create) a workspace's state and finish a commit a
 * crash interrupted. */
static struct ws *ws_load(struct sd_sink *s, const char *name,
			  const char *domain, bool create, struct sd_err *why)
{
	_cleanup_free_ char *dpath = NULL, *mark = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	struct sd_id *miss = NULL;
	size_t nmiss = 0;
	struct sd_wslog_state st;
	struct sd_tree t;
	struct ws *w = calloc(1, sizeof(*w));
	size_t len;
	int r;

	if (!w)
		goto nomem;
	snprintf(w->name, sizeof(w->name), "%s", name);
	pthread_mutex_init(&w->commit_lock, NULL);
	pthread_mutex_init(&w->enc_lock, NULL);
	sd_manifest_init(&w->cur);
	if (asprintf(&w->meta, "%s/ws/%s", s->state, name) < 0 ||
	    asprintf(&w->dir, "%s/%s", s->wsroot, name) < 0 ||
	    asprintf(&w->stage, "%s/.stage-%s", s->wsroot, name) < 0 ||
	    asprintf(&dpath, "%s/domain", w->meta) < 0 ||
	    asprintf(&mark, "%s/tree-stale", w->meta) < 0)
		goto nomem;
	r = read_file(dpath, &buf, &len);
	if (r == -ENOENT && create) {
		r = util_mkdirs(w->meta, 0700);
		if (r == 0)
			r = sdk_write_durable(dpath, domain, strlen(domain));
		if (r < 0) {
			snprintf(why->what, sizeof(why->what),
				 "workspace %s: %s: %s", name, w->meta,
				 strerror(-r));
			goto fail;
		}
		buf = (uint8_t *)strdup(domain);
		if (!buf)
			goto nomem;
	} else if (r < 0) {
		snprintf(why->what, sizeof(why->what), "workspace %s: %s: %s",
			 name, dpath, strerror(-r));
		goto fail;
	}
	if (!tp_name_ok(buf, strlen((char *)buf))) {
		snprintf(why->what, sizeof(why->what),
			 "workspace %s: %s holds no domain name", name, dpath);
		goto fail;
	}
	w->dom = domain_get(s, (char *)buf, why);
	if (!w->dom)
		goto fail;
	r = sd_wslog_open(w->meta, &w->log, &st, why);
	if (r < 0)
		goto fail;
	t = (struct sd_tree){ w->dir, w->stage };
	w->tree_stale = access(mark, F_OK) == 0;
	if (s->views && st.redo && !w->tree_stale) {
		/* The views are the workspace now: nothing to redo. */
		r = sdk_tree_stale_mark(w, why);
		if (r < 0) {
			sd_wslog_state_free(&st);
			goto fail;
		}
	}
	if (s->views || w->tree_stale) {
		sd_tree_clear_stage(&t);
	} else if (st.redo) {
		/* The last commit may not have reached the tree: redo it. */
		struct sd_tree_src src = { sdk_tree_read, w->dom->store };

		log_warn("workspace %s: the node stopped without folding its "
			 "log: redoing version %" PRIu64 " in the tree",
			 w->name, st.cur.version);

		r = sd_tree_redo(&t, &st.prev, &st.last, &st.cur, &src, why);
		if (r == 0)
			r = sd_tree_sync(&t, &st.last, &st.cur, why);
		if (r < 0) {
			sd_wslog_state_free(&st);
			goto fail;
		}
	} else {
		sd_tree_clear_stage(&t);
	}
	w->cur = st.cur;
	w->tree_synced = true;
	sd_manifest_init(&st.cur);
	sdk_pass_load(s, w);
	r = w->pass ? 0 : sdk_missing_of(w, &w->cur, &miss, &nmiss);
	if (r < 0) {
		sd_wslog_state_free(&st);
		goto nomem;
	}
	sdk_missing_set(s, w, miss, nmiss);
	if (nmiss || w->cur.npending)
		log_warn("workspace %s: %zu chunks and %" PRIu64
			 " file contents of version %" PRIu64
			 " have not arrived (a lazy sync did not finish); a "
			 "sync brings them",
			 w->name, nmiss, w->cur.npending, w->cur.version);
	else if (w->tree_stale && !s->views && w->cur.version &&
		 sdk_tree_rebuild(s, w, &w->cur, why) < 0) {
		sd_wslog_state_free(&st);
		goto fail;
	}
	w->committed_ms = st.committed_ms;
	sd_wslog_state_free(&st);
	w->next = s->wss;
	s->wss = w;
	return w;
nomem:
	snprintf(why->what, sizeof(why->what), "out of memory");
fail:
	ws_free(w);
	return NULL;
}

struct ws *sdk_ws_find(struct sd_sink *s, const char *name, size_t len)
{
	for (struct ws *w = s->wss; w; w = w->next)
		if (strlen(w->name) == len && !memcmp(w->name, name, len))
			return w;
	return NULL;
}

/* ---- sessions (sink lock held) ---- */

/* A session is its connection's: another client cannot name it. */
static struct session *session_find(struct sd_sink *s, uint64_t id,
				    uint32_t pipe)
{
	for (struct session *x = s->sessions; x; x = x->next)
		if (x->id == id && x->pipe == pipe)
			return x;
	return NULL;
}

static unsigned pipe_sessions(struct sd_sink *s, uint32_t pipe)
{
	unsigned n = 0;

	for (struct session *x = s->sessions; x; x = x->next)
		n += x->pipe == pipe;
	return n;
}

static void session_free(struct session *x)
{
	/* The next sync does not share the packs of one that sent a lot. */
	if (x->own_packs)
		sd_store_roll(x->ws->dom->store, NULL);
	sd_delta_free(&x->delta);
	free(x->buf);
	free(x->want);
	sd_manifest_free(&x->result);
	free(x);
}

/* Unlink x; it is freed now or by its last user's unref. */
static void session_drop(struct sd_sink *s, struct session *x)
{
	for (struct session **p = &s->sessions; *p; p = &(*p)->next) {
		if (*p == x) {
			*p = x->next;
			s->nsessions--;
			x->dead = true;
			if (x->refs == 0)
				session_free(x);
			return;
		}
	}
}

static void session_unref(struct sd_sink *s, struct session *x)
{
	pthread_mutex_lock(&s->lock);
	if (--x->refs == 0 && x->dead)
		session_free(x);
	pthread_mutex_unlock(&s->lock);
}

/* ---- replies ---- */

static void state_of(const struct ws *w, struct tp_sync_state *st)
{
	*st = (struct tp_sync_state){ .version = w->cur.version,
				      .files = w->cur.nfiles,
				      .bytes = w->cur.nbytes,
				      .committed_ms = w->committed_ms,
				      .missing =
					      w->nmissing + w->cur.npending };
	if (w->cur.version)
		memcpy(st->root, w->cur.root.b, TP_ID_SIZE);
}

static void reply_state(struct tp_req *req, const struct ws *w)
{
	struct tp_msg m = { .type = TP_SYNC_STATE };

	state_of(w, &m.state);
	tp_req_reply(req, &m);
}

static void reply_want(struct tp_req *req, const struct session *x,
		       uint64_t index)
{
	struct tp_msg m = { .type = TP_SYNC_WANT };
	uint64_t n = index < x->nwant ? x->nwant - index : 0;

	m.want.session = x->id;
	m.want.total = x->nwant;
	m.want.index = index < x->nwant ? index : x->nwant;
	m.want.count = (uint32_t)(n > TP_WANT_MAX ? TP_WANT_MAX : n);
	m.want.ids = m.want.count ? x->want[index].b : NULL;
	tp_req_reply(req, &m);
}

/* ---- handlers (on a worker thread) ---- */

static void do_begin(struct sd_sink *s, struct tp_req *req,
		     const struct tp_sync_begin *b)
{
	char name[TP_NAME_MAX + 1], domain[TP_NAME_MAX + 1];
	struct sd_err why = { "" };
	struct ws *w;

	snprintf(name, sizeof(name), "%.*s", (int)b->workspace.len,
		 b->workspace.ptr);
	snprintf(domain, sizeof(domain), "%.*s",
		 (int)(b->domain.len ? b->domain.len : b->workspace.len),
		 b->domain.len ? b->domain.ptr : b->workspace.ptr);
	pthread_mutex_lock(&s->lock);
	w = sdk_ws_find(s, name, strlen(name));
	if (!w)
		w = ws_load(s, name, domain, true, &why);
	if (w && b->domain.len && strcmp(w->dom->name, domain)) {
		pthread_mutex_unlock(&s->lock);
		tp_req_reply_error(req, EPERM,
				   "workspace %s uses domain %s, not %s", name,
				   w->dom->name, domain);
		return;
	}
	pthread_mutex_unlock(&s->lock);
	if (!w) {
		tp_req_reply_error(req, EIO, "%s", why.what);
		return;
	}
	sdk_pass_begin(s, w, &b->dir, b->dir_dev, b->dir_ino);
	pthread_mutex_lock(&s->lock);
	reply_state(req, w);
	pthread_mutex_unlock(&s->lock);
}

/* The chunks the entries the delta puts need that the store lacks, each
 * once; every entry's of the result while a lazy commit's chunks are
 * still missing (a source that died mid-fill gets them asked again). */
static int compute_want(struct sd_sink *s, struct session *x,
			const struct sd_delta *d)
{
	const struct sd_entry *ents = d->put.e;
	size_t count = d->put.count;

	pthread_mutex_lock(&s->lock);
	if (x->ws->nmissing) {
		ents = x->result.e;
		count = x->result.count;
	}
	if (x->ws->pass)
		count = 0; /* the views read the source's directory */
	pthread_mutex_unlock(&s->lock);
	return sdk_lacking(x->ws->dom->store, ents, count, &x->want, &x->nwant,
			   &x->want_bytes);
}

/* The whole delta is here: check it against the committed version and
 * work out what to ask for. */
static void offer_complete(struct sd_sink *s, struct tp_req *req,
			   struct session *x)
{
	struct sd_manifest empty, *base;
	struct sd_err why = { "" };
	struct sd_delta d;
	int r;

	sd_delta_init(&d);
	sd_manifest_init(&empty);
	sd_manifest_seal(&empty, NULL);
	r = sd_delta_decode(x->buf, x->total, &d, &why);
	if (r < 0) {
		tp_req_reply_error(req, EINVAL, "workspace %s: offer: %s",
				   x->ws->name, why.what);
		goto out;
	}
	pthread_mutex_lock(&x->ws->commit_lock);
	base = d.base_version == 0 ? &empty : &x->ws->cur;
	r = sd_delta_apply(base, &d, &x->result, &why);
	pthread_mutex_unlock(&x->ws->commit_lock);
	if (r < 0) {
		tp_req_reply_error(req, -r, "workspace %s: offer: %s",
				   x->ws->name, why.what);
		goto out;
	}
	/* From here the store must keep every chunk of the result: the want
	 * list leaves out the ones it holds. */
	pthread_rwlock_rdlock(&x->ws->dom->gc_lock);
	pthread_mutex_lock(&s->lock);
	x->live = true;
	pthread_mutex_unlock(&s->lock);
	r = compute_want(s, x, &d);
	pthread_rwlock_unlock(&x->ws->dom->gc_lock);
	if (r < 0) {
		tp_req_reply_error(req, ENOMEM, "out of memory");
		goto out;
	}
	if (x->want_bytes > OWN_PACKS) {
		struct sd_err rwhy = { "" };

		x->own_packs = sd_store_roll(x->ws->dom->store, &rwhy) == 0;
	}
	free(x->buf);
	x->buf = NULL;
	x->offered = true;
	if (d.base_version != 0) {
		x->delta = d;
		x->have_delta = true;
		sd_delta_init(&d);
	}
	reply_want(req, x, 0);
out:
	sd_delta_free(&d);
	if (!x->offered) {
		/* Refused: the session and its buffer go now, not with the
		 * connection. */
		pthread_mutex_lock(&s->lock);
		session_drop(s, x);
		pthread_mutex_unlock(&s->lock);
	}
}

static void offer_piece(struct sd_sink *s, struct tp_req *req,
			struct session *x, const struct tp_sync_offer *o)
{
	/* Memory follows what arrived, not what the first piece claimed. */
	uint8_t *buf = realloc(x->buf, x->got + o->data.len + 1);

	if (!buf) {
		tp_req_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	x->buf = buf;
	memcpy(x->buf + x->got, o->data.ptr, o->data.len);
	x->got += o->data.len;
	if (x->got < x->total)
		tp_req_reply_ok(req, x->got);
	else
		offer_complete(s, req, x);
}

static void do_offer(struct sd_sink *s, struct tp_req *req,
		     const struct tp_sync_offer *o)
{
	struct session *x;
	struct ws *w;

	pthread_mutex_lock(&s->lock);
	w = sdk_ws_find(s, (const char *)o->workspace.ptr, o->workspace.len);
	x = session_find(s, o->session, tp_req_pipe(req));
	if (!w) {
		pthread_mutex_unlock(&s->lock);
		tp_req_reply_error(req, ENOENT,
				   "workspace %.*s: no SYNC_BEGIN yet",
				   (int)o->workspace.len, o->workspace.ptr);
		return;
	}
	if (!x && o->offset == 0) {
		if (o->total > OFFER_MAX || s->nsessions >= SESSION_MAX ||
		    pipe_sessions(s, tp_req_pipe(req)) >= PIPE_SESSIONS_MAX) {
			pthread_mutex_unlock(&s->lock);
			tp_req_reply_error(req, E2BIG,
					   "workspace %s: offer of %" PRIu64
					   " bytes refused (at most %llu; %u "
					   "syncs at once, %u per connection)",
					   w->name, o->total, OFFER_MAX,
					   SESSION_MAX, PIPE_SESSIONS_MAX);
			return;
		}
		x = calloc(1, sizeof(*x));
		if (!x) {
			pthread_mutex_unlock(&s->lock);
			tp_req_reply_error(req, ENOMEM, "out of memory");
			return;
		}
		x->id = o->session;
		x->pipe = tp_req_pipe(req);
		x->ws = w;
		x->total = o->total;
		x->started_ms = util_now_ms();
		sd_manifest_init(&x->result);
		x->next = s->sessions;
		s->sessions = x;
		s->nsessions++;
	}
	if (x)
		x->refs++;
	pthread_mutex_unlock(&s->lock);
	if (!x || x->ws != w || x->offered || o->total != x->total ||
	    o->offset != x->got)
		tp_req_reply_error(req, EPROTO,
				   "workspace %s: offer piece at %" PRIu64
				   " does not continue session %" PRIx64,
				   w->name, o->offset, o->session);
	else
		offer_piece(s, req, x, o);
	if (x)
		session_unref(s, x);
}

static struct session *session_ready(struct sd_sink *s, struct tp_req *req,
				     uint64_t id)
{
	struct session *x;

	pthread_mutex_lock(&s->lock);
	x = session_find(s, id, tp_req_pipe(req));
	if (x && x->offered)
		x->refs++;
	pthread_mutex_unlock(&s->lock);
	if (!x || !x->offered) {
		tp_req_reply_error(req, ENOENT,
				   "sync session %" PRIx64
				   " unknown or not offered yet (the node may "
				   "have restarted: sync again)",
				   id);
		return NULL;
	}
	return x;
}

static void do_put(struct sd_sink *s, struct tp_req *req,
		   const struct tp_sync_put *p)
{
	struct session *x = session_ready(s, req, p->session);
	struct sd_err why = { "" };
	ssize_t n;

	if (!x)
		return;
	n = sdk_store_pack(s, x->ws->dom, p->pack.ptr, p->pack.len, &why);
	if (n < 0)
		tp_req_reply_error(req, (int)-n, "workspace %s: %s",
				   x->ws->name, why.what);
	else
		tp_req_reply_ok(req, (uint64_t)n);
	session_unref(s, x);
}

struct commit_point {
	struct ws *w;
	const struct sd_delta *d;
	bool reached;
	struct sd_id *miss; /* the new version's missing chunks */
	size_t nmiss;
};

static int commit_point(void *opaque, struct sd_err *why)
{
	struct commit_point *cp = opaque;
	int r = sd_wslog_append(cp->w->log, cp->d, why);

	cp->reached = r == 0;
	return r;
}

/* The part of a commit that needs the store's chunks to stay (the garbage
 * collector's lock held for reading): the check that they are all there
 * (all but a lazy commit's), and the tree update, which reads them. A
 * node with views keeps no tree: the commit point is all. A tree a view
 * node left behind is built afresh after it. */
static int commit_held(struct sd_sink *s, struct session *x, bool lazy,
		       const struct sd_tree *t, const struct sd_tree_src *src,
		       struct commit_point *cp, struct sd_err *why)
{
	struct ws *w = x->ws;
	size_t missing = 0;
	bool had_missing;
	int r;

	for (size_t i = 0; i < x->nwant; i++)
		missing += !sd_store_has(w->dom->store, &x->want[i]);
	pthread_mutex_lock(&s->lock);
	had_missing = w->nmissing > 0;
	pthread_mutex_unlock(&s->lock);
	if (missing && !lazy) {
		snprintf(why->what, sizeof(why->what),
			 "workspace %s: %zu of %zu chunks still missing",
			 w->name, missing, x->nwant);
		return -ENOENT;
	}
	if (x->result.npending && !lazy)
		return sd_err_set(why, -EINVAL,
				  "workspace %s: %" PRIu64
				  " files have no chunk list yet: only a "
				  "lazy commit may hold them",
				  w->name, x->result.npending);
	/* The log and the tree take the delta from the committed version:
	 * the offered one when it was, else (a full snapshot) the diff. */
	if (!x->have_delta) {
		r = sd_delta_diff(&w->cur, &x->result, &x->delta);
		if (r < 0) {
			snprintf(why->what, sizeof(why->what), "out of memory");
			return r;
		}
		x->have_delta = true;
	}
	cp->d = &x->delta;
	if (missing || had_missing) {
		/* What the new version still lacks, for SYNC_STATE and the
		 * views' readers (set with the version, in commit_locked). */
		r = sdk_missing_of(w, &x->result, &cp->miss, &cp->nmiss);
		if (r < 0)
			return sd_err_set(why, r, "out of memory");
	}
	if (!s->views && !w->tree_stale)
		return sd_tree_update(t, &w->cur, cp->d, &x->result, src,
				      commit_point, cp, why);
	r = s->views ? sdk_tree_stale_mark(w, why) : 0;
	if (r == 0)
		r = commit_point(cp, why);
	if (r == 0 && !s->views)
		r = sdk_tree_rebuild(s, w, &x->result, why);
	return r;
}

static int commit_locked(struct sd_sink *s, struct session *x,
			 const struct tp_sync_commit *c, struct sd_err *why)
{
	struct ws *w = x->ws;
	struct sd_tree t = { w->dir, w->stage };
	struct sd_tree_src src = { sdk_tree_read, w->dom->store };
	struct commit_point cp = { .w = w };
	bool lazy = c->flags & TP_COMMIT_F_LAZY;
	int r;

	if (lazy && !s->views) {
		snprintf(why->what, sizeof(why->what),
			 "workspace %s: a lazy commit needs a node that serves "
			 "views (tether node --view)",
			 w->name);
		return -EOPNOTSUPP;
	}
	if (c->version != w->cur.version + 1 ||
	    x->result.version != c->version) {
		snprintf(why->what, sizeof(why->what),
			 "workspace %s is at version %" PRIu64
			 " now: commit of version %" PRIu64
			 " refused (another sync came first)",
			 w->name, w->cur.version, c->version);
		return -ESTALE;
	}
	if (memcmp(x->result.root.b, c->root, TP_ID_SIZE)) {
		char want[SD_ID_HEX], got[SD_ID_HEX];
		struct sd_id id;

		memcpy(id.b, c->root, TP_ID_SIZE);
		snprintf(why->what, sizeof(why->what),
			 "workspace %s: commit of root %s refused: the offer "
			 "gives root %s",
			 w->name, sd_id_hex(&id, got),
			 sd_id_hex(&x->result.root, want));
		return -EINVAL;
	}
	pthread_rwlock_rdlock(&w->dom->gc_lock);
	r = commit_held(s, x, lazy, &t, &src, &cp, why);
	pthread_rwlock_unlock(&w->dom->gc_lock);
	if (!cp.reached) {
		free(cp.miss);
		return r;
	}
	if (r < 0)
		log_error("workspace %s: version %" PRIu64
			  " is committed but its tree update failed (%s): a "
			  "restart of the node redoes it",
			  w->name, x->result.version, why->what);
	pthread_mutex_lock(&s->lock);
	sd_manifest_free(&w->cur);
	w->cur = x->result;
	sd_manifest_init(&x->result);
	w->committed_ms = (uint64_t)util_epoch_ms();
	w->tree_synced = false; /* until after_commit() */
	sdk_missing_set(s, w, cp.miss, cp.nmiss);
	sdk_defs_prune(w);
	pthread_mutex_unlock(&s->lock);
	if (cp.nmiss)
		log_info("workspace %s: version %" PRIu64
			 " committed with %zu chunks to come",
			 w->name, w->cur.version, cp.nmiss);
	return r;
}

/* After the reply, off the client's path, before the next commit point
 * (the commit lock is still held): make the tree durable, so that a
 * restart only ever redoes the last log record; and now and then fold the
 * log into a new base. */
static void after_commit(struct ws *w, const struct sd_delta *d)
{
	struct sd_tree t = { w->dir, w->stage };
	struct sd_err why = { "" };

	/* A stale tree has nothing to sync (a rebuilt one was synced). */
	if (!w->tree_stale && sd_tree_sync(&t, d, &w->cur, &why) < 0) {
		log_warn("workspace %s: %s (a restart redoes the last commit)",
			 w->name, why.what);
		return;
	}
	w->tree_synced = true;
	if (sd_wslog_wants_compact(w->log) &&
	    sd_wslog_compact(w->log, &w->cur, &why) < 0)
		log_warn("workspace %s: %s (the log keeps growing)", w->name,
			 why.what);
}

static void do_commit(struct sd_sink *s, struct tp_req *req,
		      const struct tp_sync_commit *c)
{
	struct session *x = session_ready(s, req, c->session);
	struct sd_err why = { "" };
	int r;

	if (!x)
		return;
	pthread_mutex_lock(&x->ws->commit_lock);
	r = commit_locked(s, x, c, &why);
	if (r == -ENOSPC && x->result.version == c->version) {
		/* Not committed (the version would have moved on): the disk
		 * filled while staging. Collect, and try once more. */
		struct sd_err gwhy = { "" };

		if (sdk_domain_gc(s, x->ws->dom, &gwhy) == 0) {
			memset(&why, 0, sizeof(why));
			r = commit_locked(s, x, c, &why);
		}
	}
	if (r < 0) {
		pthread_mutex_unlock(&x->ws->commit_lock);
		tp_req_reply_error(req, -r, "%s", why.what);
		/* Missing chunks can still come; a node without views takes
		 * the commit again, not lazily. */
		if (r != -ENOENT && r != -EOPNOTSUPP) {
			pthread_mutex_lock(&s->lock);
			session_drop(s, x);
			pthread_mutex_unlock(&s->lock);
		}
	} else {
		if (s->on_version)
			s->on_version(s->on_version_opaque, x->ws->name,
				      &x->ws->cur, x->ws->dom->store);
		pthread_mutex_lock(&s->lock);
		reply_state(req, x->ws);
		session_drop(s, x);
		pthread_mutex_unlock(&s->lock);
		after_commit(x->ws, &x->delta);
		sdk_maybe_gc(s, x->ws->dom);
		pthread_mutex_unlock(&x->ws->commit_lock);
	}
	session_unref(s, x);
}

void sd_sink_on_version(struct sd_sink *s, sd_sink_version_fn fn, void *opaque)
{
	struct ws *w;

	pthread_mutex_lock(&s->lock);
	s->on_version = fn;
	s->on_version_opaque = opaque;
	w = s->wss;
	pthread_mutex_unlock(&s->lock);
	/* Workspaces are only ever added at the head: these stay. */
	for (; w; w = w->next) {
		pthread_mutex_lock(&w->commit_lock);
		if (w->cur.version)
			fn(opaque, w->name, &w->cur, w->dom->store);
		pthread_mutex_unlock(&w->commit_lock);
	}
}

static void do_status(struct sd_sink *s, struct tp_req *req)
{
	struct tp_msg m = { .type = TP_SYNC_TABLE };
	struct tp_sync_entry *ents;
	uint32_t n = 0;
	uint64_t now = (uint64_t)util_now_ms();

	pthread_mutex_lock(&s->lock);
	for (struct ws *w = s->wss; w; w = w->next)
		n++;
	n = n > TP_WSTAB_MAX ? TP_WSTAB_MAX : n;
	ents = calloc(n + 1, sizeof(*ents));
	if (!ents) {
		pthread_mutex_unlock(&s->lock);
		tp_req_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	n = 0;
	for (struct ws *w = s->wss; w && n < TP_WSTAB_MAX; w = w->next, n++) {
		struct tp_sync_entry *e = &ents[n];

		e->name = (struct tp_bytes){ (const uint8_t *)w->name,
					     (uint32_t)strlen(w->name) };
		e->domain = (struct tp_bytes){ (const uint8_t *)w->dom->name,
					       (uint32_t)strlen(w->dom->name) };
		state_of(w, &e->state);
		for (struct session *x = s->sessions; x; x = x->next)
			if (x->ws == w &&
			    now - x->started_ms + 1 > e->pending_ms)
				e->pending_ms = now - x->started_ms + 1;
	}
	m.wstab.count = n;
	m.wstab.entries = ents;
	tp_req_reply(req, &m);
	pthread_mutex_unlock(&s->lock);
	free(ents);
}

static void run_job(struct sd_sink *s, struct tp_req *req,
		    const struct tp_msg *m)
{
	switch (m->type) {
	case TP_SYNC_BEGIN: do_begin(s, req, &m->begin); break;
	case TP_SYNC_OFFER: do_offer(s, req, &m->offer); break;
	case TP_SYNC_NEED: {
		struct session *x = session_ready(s, req, m->need.session);

		if (x) {
			reply_want(req, x, m->need.index);
			session_unref(s, x);
		}
		break;
	}
	case TP_SYNC_PUT: do_put(s, req, &m->put); break;
	case TP_SYNC_COMMIT: do_commit(s, req, &m->commit); break;
	case TP_SYNC_STATUS: do_status(s, req); break;
	case TP_SYNC_FETCH: sdk_fetch(s, req, &m->fetch); break;
	case TP_SYNC_GET: sdk_get(s, req, &m->get); break;
	case TP_SYNC_SERVE: sdk_serve(s, req, &m->serve); break;
	case TP_SYNC_FILL: sdk_fill(s, req, &m->fill); break;
	case TP_SYNC_DEFINE: sdk_define(s, req, &m->define); break;
	default:
		tp_req_reply_error(req, EPROTO, "%s is not a request",
				   tp_type_name(m->type));
	}
}

static void *worker(void *arg)
{
	struct sd_sink *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct job *j;

		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->stopping)
			break;
		j = s->head;
		s->head = j->next;
		if (!s->head)
			s->tail = &s->head;
		pthread_mutex_unlock(&s->lock);
		run_job(s, j->req, &j->msg);
		free(j);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

void sd_sink_handle(struct tp_req *req, const struct tp_msg *msg, void *opaque)
{
	struct sd_sink *s = opaque;
	struct job *j = malloc(sizeof(*j));

	if (!j) {
		tp_req_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	/* The frame msg views stays valid until the reply; *msg itself does
	 * not outlive this call. */
	*j = (struct job){ NULL, req, *msg };
	pthread_mutex_lock(&s->lock);
	*s->tail = j;
	s->tail = &j->next;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

void sd_sink_pipe_gone(uint32_t pipe_id, void *opaque)
{
	struct sd_sink *s = opaque;
	struct session **p;

	/* A session whose client is gone is never committed; its chunks stay
	 * in the store, so the next sync does not send them again. A worker
	 * using it frees it when done. */
	pthread_mutex_lock(&s->lock);
	for (p = &s->sessions; *p;) {
		struct session *x = *p;

		if (x->pipe == pipe_id) {
			*p = x->next;
			s->nsessions--;
			x->dead = true;
			if (x->refs == 0)
				session_free(x);
		} else {
			p = &x->next;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

int sd_sink_workspace_dir(void *opaque, const char *name, char *out, size_t cap,
			  char *err, size_t errcap)
{
	struct sd_sink *s = opaque;
	struct ws *w;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	w = sdk_ws_find(s, name, strlen(name));
	if (!w || w->cur.version == 0) {
		snprintf(err, errcap,
			 "workspace %s: nothing synced to this node yet "
			 "(tether sync DIR --workspace %s)",
			 name, name);
		r = -ENOENT;
	} else if (w->tree_stale && s->views) {
		snprintf(err, errcap,
			 "workspace %s: this node keeps it in its view only, "
			 "and the view is not mounted (see the node's log)",
			 name);
		r = -ENOENT;
	} else if (w->tree_stale) {
		snprintf(err, errcap,
			 "workspace %s: %zu chunks and %" PRIu64
			 " file contents of version %" PRIu64
			 " have not arrived (a lazy sync did not finish): "
			 "sync it again",
			 name, w->nmissing, w->cur.npending, w->cur.version);
		r = -ENOENT;
	} else if (!realpath(w->dir, out) || strlen(out) >= cap) {
		snprintf(err, errcap, "workspace %s: %s: %s", name, w->dir,
			 strerror(errno));
		r = -EIO;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- life cycle ---- */

static int load_all(struct sd_sink *s)
{
	_cleanup_free_ char *dir = NULL;
	struct dirent *de;
	DIR *d;

	if (asprintf(&dir, "%s/ws", s->state) < 0)
		return -ENOMEM;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		struct sd_err why = { "" };

		if (!tp_name_ok((const uint8_t *)de->d_name,
				strlen(de->d_name)))
			continue;
		if (!ws_load(s, de->d_name, NULL, false, &why))
			log_warn("%s (the workspace is skipped)", why.what);
	}
	closedir(d);
	return 0;
}

int sd_sink_new(const char *root, bool views, struct sd_sink **ret)
{
	struct sd_sink *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->views = views;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	r = sdk_lazy_start(s);
	if (r < 0) {
		sd_sink_free(s);
		return r;
	}
	s->tail = &s->head;
	if (asprintf(&s->root, "%s", root) < 0 ||
	    asprintf(&s->state, "%s/.tether", root) < 0 ||
	    asprintf(&s->wsroot, "%s/workspaces", root) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	r = util_mkdirs(s->state, 0700);
	if (r == 0)
		r = util_mkdirs(s->wsroot, 0755);
	if (r == 0) {
		_cleanup_free_ char *stores = NULL;

		r = asprintf(&stores, "%s/stores", s->state) < 0
			    ? -ENOMEM
			    : util_mkdirs(stores, 0700);
	}
	if (r < 0) {
		log_error_errno(r, "node state under %s", root);
		goto fail;
	}
	r = load_all(s);
	if (r < 0) {
		log_error_errno(r, "loading workspaces from %s", s->state);
		goto fail;
	}
	for (; s->nth < WORKERS; s->nth++) {
		r = -pthread_create(&s->th[s->nth], NULL, worker, s);
		if (r < 0)
			goto fail;
	}
	*ret = s;
	return 0;
fail:
	sd_sink_free(s);
	return r;
}

void sd_sink_stop(struct sd_sink *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < s->nth; i++)
		pthread_join(s->th[i], NULL);
	s->nth = 0;
	sdk_lazy_stop(s);
}

void sd_sink_free(struct sd_sink *s)
{
	if (!s)
		return;
	sd_sink_stop(s);
	while (s->head) {
		struct job *j = s->head;

		s->head = j->next;
		free(j);
	}
	while (s->sessions) {
		struct session *x = s->sessions;

		s->sessions = x->next;
		session_free(x);
	}
	while (s->wss) {
		struct ws *w = s->wss;
		struct sd_err why = { "" };

		/* The workers are gone, each commit's tree update done: fold
		 * the log of each synced tree, so a restart redoes nothing
		 * (after a big sync, redoing is rewriting every file). */
		if (w->tree_synced && sd_wslog_records(w->log) &&
		    sd_wslog_compact(w->log, &w->cur, &why) < 0)
			log_warn("workspace %s: %s (a restart redoes the last "
				 "commit)",
				 w->name, why.what);
		s->wss = w->next;
		ws_free(w);
	}
	while (s->domains) {
		struct domain *d = s->domains;

		s->domains = d->next;
		sd_store_close(d->store);
		pthread_rwlock_destroy(&d->gc_lock);
		free(d);
	}
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->arrived);
	pthread_cond_destroy(&s->polls_cond);
	free(s->root);
	free(s->state);
	free(s->wsroot);
	free(s);
}
