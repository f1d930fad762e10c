/* SPDX-License-Identifier: MIT */
/* Agent side of workspace sync (see source.h and docs/protocol.md). */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "mkdirs.h"
#include "pack.h"
#include "zchunk.h"

#define CALL_MS	      120000
#define THREADS_MAX   8
#define TASKS_AT_ONCE 16

struct loc {
	struct sd_id id;
	uint32_t entry; /* index in the manifest, +1; 0: not found yet */
	uint32_t len;
	uint64_t off;
};

struct sender {
	struct tp_link *link;
	const struct sd_source_opts *o;
	const struct sd_manifest *m;
	int root; /* the workspace directory */
	uint64_t session;
	struct loc *tasks; /* sorted by file and offset */
	size_t ntasks;
	atomic_size_t next;
	atomic_uint_fast64_t chunks_done, raw_done, wire;
	uint64_t raw_total;
	pthread_mutex_t lock;
	int err;
	struct sd_err why;
};

int sd_source_cache_dir(char *buf, size_t cap)
{
	const char *e = getenv("TETHER_CACHE"), *x = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n;

	if (e && *e)
		n = snprintf(buf, cap, "%s", e);
	else if (x && *x)
		n = snprintf(buf, cap, "%s/tether", x);
	else
		n = snprintf(buf, cap, "%s/.cache/tether",
			     home && *home ? home : "/tmp");
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* ---- what the node had last time ---- */

static void load_last(const char *path, struct sd_manifest *m)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ uint8_t *buf = NULL;
	struct stat st;
	size_t got = 0;

	sd_manifest_init(m);
	if (fd < 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_size > SD_ENC_MAX)
		return;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return;
	while (got < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);

		if (k <= 0)
			return;
		got += (size_t)k;
	}
	if (sd_manifest_decode(buf, got, m, NULL) < 0) {
		sd_manifest_free(m);
		sd_manifest_init(m);
	}
}

static void save_last(const char *path, const struct sd_manifest *m)
{
	_cleanup_free_ uint8_t *enc = NULL;
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	size_t len;

	if (sd_manifest_encode(m, &enc, &len) < 0 ||
	    asprintf(&tmp, "%s.tmp", path) < 0)
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, enc, len) != (ssize_t)len || rename(tmp, path) < 0)
		unlink(tmp);
}

/* ---- calls ---- */

static int call(struct tp_chan *c, const struct tp_msg *req, struct tp_msg *rep,
		uint16_t want, struct sd_err *why)
{
	char err[TP_ERRMSG_MAX + 64] = "";
	int r = tp_chan_call(c, req, rep, CALL_MS, err, sizeof(err));

	if (r < 0)
		return sd_err_set(why, r, "%s: %s", tp_type_name(req->type),
				  err[0] ? err : strerror(-r));
	if (rep->type != want)
		return sd_err_set(why, -EPROTO, "%s: unexpected reply %s",
				  tp_type_name(req->type),
				  tp_type_name(rep->type));
	return 0;
}

/* ---- sending chunks ---- */

static int loc_cmp(const void *a, const void *b)
{
	const struct loc *x = a, *y = b;

	if (x->entry != y->entry)
		return x->entry < y->entry ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* An open-addressing table of wanted chunk ids (len 1: wanted, not yet
 * found; entry set: found there). */
struct loctab {
	struct loc *tab;
	size_t cap, found;
};

/* Record where entry e's wanted chunks are. */
static void locate_in(struct sender *sd, struct loctab *t, size_t e)
{
	const struct sd_entry *en = &sd->m->e[e];
	uint64_t off = 0;

	if (en->type != SD_T_FILE)
		return;
	for (uint32_t c = 0; c < en->nchunks; c++) {
		const struct sd_chunkref *ref = &en->chunks[c];
		struct loc *x;
		size_t h;

		for (h = sd_id_key(&ref->id) & (t->cap - 1); t->tab[h].len;
		     h = (h + 1) & (t->cap - 1)) {
			x = &t->tab[h];
			if (!sd_id_eq(&x->id, &ref->id))
				continue;
			if (!x->entry) {
				x->entry = (uint32_t)e + 1;
				x->off = off;
				x->len = ref->len;
				sd->tasks[t->found++] = *x;
				sd->raw_total += ref->len;
			}
			break;
		}
		off += ref->len;
	}
}

/* Find where each wanted chunk sits in the scanned tree: first in the
 * files the delta d changed, where new chunks almost always are, then, for
 * any still missing, in every file. */
static int locate(struct sender *sd, const uint8_t *ids, size_t n,
		  const struct sd_delta *d, struct sd_err *why)
{
	struct loctab t = { .cap = 16 };

	while (t.cap < 2 * n)
		t.cap <<= 1;
	t.tab = calloc(t.cap, sizeof(*t.tab));
	sd->tasks = calloc(n ? n : 1, sizeof(*sd->tasks));
	if (!t.tab || !sd->tasks) {
		free(t.tab);
		return sd_err_set(why, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		struct sd_id id;
		size_t h;

		memcpy(id.b, ids + i * SD_ID_SIZE, SD_ID_SIZE);
		for (h = sd_id_key(&id) & (t.cap - 1);
		     t.tab[h].len || t.tab[h].entry; h = (h + 1) & (t.cap - 1))
			if (sd_id_eq(&t.tab[h].id, &id))
				break;
		t.tab[h].id = id;
		t.tab[h].len = 1; /* occupied */
	}
	for (size_t i = 0; i < d->put.count && t.found < n; i++) {
		const struct sd_entry *p = &d->put.e[i];
		size_t e = sd_manifest_lower_bound(sd->m, p->path, p->path_len);

		if (e < sd->m->count)
			locate_in(sd, &t, e);
	}
	for (size_t e = 0; e < sd->m->count && t.found < n; e++)
		locate_in(sd, &t, e);
	free(t.tab);
	if (t.found != n)
		return sd_err_set(
			why, -EPROTO,
			"the node wants %zu chunks this tree does not "
			"have",
			n - t.found);
	qsort(sd->tasks, n, sizeof(*sd->tasks), loc_cmp);
	sd->ntasks = n;
	return 0;
}

static void sender_fail(struct sender *sd, int r, const struct sd_err *why)
{
	pthread_mutex_lock(&sd->lock);
	if (!sd->err) {
		sd->err = r;
		sd->why = *why;
	}
	pthread_mutex_unlock(&sd->lock);
}

static int flush(struct sender *sd, struct tp_chan *c, bool *busy,
		 struct sd_pack_writer *w, struct sd_err *why)
{
	struct tp_msg req = { .type = TP_SYNC_PUT }, rep;
	char err[TP_ERRMSG_MAX + 64] = "";
	int r;

	if (*busy) {
		r = tp_chan_finish(c, &rep, err, sizeof(err));
		*busy = false;
		if (r < 0)
			return sd_err_set(why, r, "SYNC_PUT: %s",
					  err[0] ? err : strerror(-r));
	}
	if (!w || w->count == 0)
		return 0;
	req.put.session = sd->session;
	req.put.pack = (struct tp_bytes){ w->buf, (uint32_t)w->len };
	r = tp_chan_begin(c, &req, CALL_MS);
	if (r < 0)
		return sd_err_set(why, r, "SYNC_PUT: %s", strerror(-r));
	*busy = true;
	atomic_fetch_add(&sd->wire, w->len);
	sd_pack_writer_reset(w);
	return 0;
}

static int send_range(struct sender *sd, struct tp_chan *c, bool *busy,
		      struct sd_pack_writer *w, struct sd_zctx *z, uint8_t *buf,
		      size_t from, size_t to, struct sd_err *why)
{
	int fd = -1;
	uint32_t fd_entry = 0;
	int r = 0;

	for (size_t i = from; i < to && r == 0; i++) {
		const struct loc *t = &sd->tasks[i];
		const struct sd_entry *e = &sd->m->e[t->entry - 1];
		struct sd_id got;
		ssize_t k;

		if (fd_entry != t->entry) {
			if (fd >= 0)
				close(fd);
			fd = openat(sd->root, e->path,
				    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			fd_entry = t->entry;
			if (fd < 0) {
				r = sd_err_set(why, -errno, "%s: %s", e->path,
					       strerror(errno));
				break;
			}
		}
		k = pread(fd, buf, t->len, (off_t)t->off);
		if (k != (ssize_t)t->len) {
			r = sd_err_set(
				why, k < 0 ? -errno : -EAGAIN,
				"%s changed while it was synced: run the "
				"sync again",
				e->path);
			break;
		}
		for (;;) {
			r = sd_pack_add(w, z, sd->o->level, buf, t->len, &got);
			if (r != -EMSGSIZE)
				break;
			r = flush(sd, c, busy, w, why);
			if (r < 0)
				break;
		}
		if (r < 0) {
			if (!why->what[0])
				sd_err_set(why, r, "packing %s: %s", e->path,
					   strerror(-r));
			break;
		}
		if (!sd_id_eq(&got, &t->id)) {
			r = sd_err_set(
				why, -EAGAIN,
				"%s changed while it was synced: run the "
				"sync again",
				e->path);
			break;
		}
		atomic_fetch_add(&sd->chunks_done, 1);
		atomic_fetch_add(&sd->raw_done, t->len);
	}
	if (fd >= 0)
		close(fd);
	return r;
}

struct worker_arg {
	struct sender *sd;
	bool lead; /* reports progress */
};

static void *send_worker(void *arg)
{
	struct worker_arg *a = arg;
	struct sender *sd = a->sd;
	struct sd_pack_writer w;
	struct sd_zctx z = { 0 };
	struct tp_chan *c = NULL;
	struct sd_err why = { "" };
	uint8_t *buf = malloc(SD_CHUNK_MAX);
	uint64_t last_ms = 0;
	bool busy = false;
	size_t i;
	int r;

	sd_pack_writer_init(&w, TP_BULK_MAX);
	r = !buf ? -ENOMEM : sd_zctx_init(&z);
	if (r == 0)
		r = tp_chan_open(sd->link, &c);
	if (r < 0)
		sd_err_set(&why, r, "starting a sender: %s", strerror(-r));
	while (r == 0 && !sd->err &&
	       (i = atomic_fetch_add(&sd->next, TASKS_AT_ONCE)) < sd->ntasks) {
		size_t to = i + TASKS_AT_ONCE;

		r = send_range(sd, c, &busy, &w, &z, buf, i,
			       to > sd->ntasks ? sd->ntasks : to, &why);
		if (a->lead && sd->o->progress &&
		    util_now_ms() - last_ms >= 200) {
			last_ms = util_now_ms();
			sd->o->progress(sd->o->progress_opaque,
					atomic_load(&sd->chunks_done),
					sd->ntasks, atomic_load(&sd->raw_done),
					sd->raw_total);
		}
	}
	if (r == 0)
		r = flush(sd, c, &busy, &w, &why);
	if (r == 0)
		r = flush(sd, c, &busy, NULL, &why);
	else if (busy)
		flush(sd, c, &busy, NULL, &(struct sd_err){ "" });
	if (r < 0)
		sender_fail(sd, r, &why);
	tp_chan_close(c);
	sd_pack_writer_fini(&w);
	sd_zctx_fini(&z);
	free(buf);
	return NULL;
}

static int send_chunks(struct sender *sd, struct sd_err *why)
{
	unsigned n = sd->o->inflight ? sd->o->inflight : 2;
	struct worker_arg args[THREADS_MAX];
	pthread_t th[THREADS_MAX];
	unsigned started = 0;

	if (n > THREADS_MAX)
		n = THREADS_MAX;
	if ((size_t)n * TASKS_AT_ONCE > sd->ntasks)
		n = (unsigned)(sd->ntasks / TASKS_AT_ONCE) + 1;
	pthread_mutex_init(&sd->lock, NULL);
	atomic_init(&sd->next, 0);
	for (unsigned i = 1; i < n; i++) {
		args[i] = (struct worker_arg){ sd, false };
		if (pthread_create(&th[started], NULL, send_worker, &args[i]))
			break;
		started++;
	}
	args[0] = (struct worker_arg){ sd, true };
	send_worker(&args[0]);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&sd->lock);
	if (sd->err) {
		*why = sd->why;
		return sd->err;
	}
	if (sd->o->progress)
		sd->o->progress(sd->o->progress_opaque, sd->ntasks, sd->ntasks,
				sd->raw_total, sd->raw_total);
	return 0;
}

/* ---- one sync ---- */

static int offer(struct tp_chan *c, const struct sd_source_opts *o,
		 uint64_t session, const uint8_t *enc, size_t len,
		 uint8_t **ids, size_t *nids, struct sd_err *why)
{
	struct tp_msg req = { .type = TP_SYNC_OFFER }, rep;
	size_t off = 0;
	int r;

	req.offer.workspace =
		(struct tp_bytes){ (const uint8_t *)o->workspace,
				   (uint32_t)strlen(o->workspace) };
	req.offer.session = session;
	req.offer.total = len;
	do {
		size_t n = len - off > TP_BULK_MAX ? TP_BULK_MAX : len - off;

		req.offer.offset = off;
		req.offer.data = (struct tp_bytes){ enc + off, (uint32_t)n };
		off += n;
		r = call(c, &req, &rep, off < len ? TP_OK : TP_SYNC_WANT, why);
		if (r < 0)
			return r;
	} while (off < len);
	*nids = rep.want.total;
	*ids = malloc((rep.want.total ? rep.want.total : 1) * SD_ID_SIZE);
	if (!*ids)
		return sd_err_set(why, -ENOMEM, "out of memory");
	for (uint64_t have = 0;;) {
		if (rep.want.index != have || rep.want.total != *nids)
			return sd_err_set(why, -EPROTO,
					  "SYNC_WANT out of order");
		memcpy(*ids + have * SD_ID_SIZE, rep.want.ids,
		       (size_t)rep.want.count * SD_ID_SIZE);
		have += rep.want.count;
		if (have == *nids)
			return 0;
		if (rep.want.count == 0)
			return sd_err_set(why, -EPROTO,
					  "SYNC_WANT: empty page");
		req = (struct tp_msg){ .type = TP_SYNC_NEED,
				       .need = { session, have } };
		r = call(c, &req, &rep, TP_SYNC_WANT, why);
		if (r < 0)
			return r;
	}
}

static uint64_t new_session(void)
{
	uint64_t s = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		(void)!read(fd, &s, sizeof(s));
		close(fd);
	}
	s ^= (uint64_t)util_now_us() * 0x9e3779b97f4a7c15ull;
	return s ? s : 1;
}

struct sd_source {
	struct tp_link *link;
	const struct sd_source_opts *o;
	struct tp_chan *c;
	char *real;	 /* the directory, resolved */
	int root;	 /* and open */
	char *stat_path; /* the stat cache */
	char *last_path; /* the manifest the node committed last */
	/* That manifest in memory (loaded once), and whether the file is
	 * behind it. */
	struct sd_manifest last;
	bool last_loaded, last_dirty, lazy_save;
};

static int push_once(struct sd_source *s, struct sd_manifest *m,
		     const struct sd_delta *hint, bool force_full,
		     struct sd_source_report *rep, struct sd_err *why)
{
	const struct sd_source_opts *o = s->o;
	struct tp_msg req = { .type = TP_SYNC_BEGIN }, reply;
	struct sd_manifest empty, *base = &s->last;
	struct sd_delta d;
	struct sender sd = { .link = s->link, .o = o, .m = m, .root = s->root };
	_cleanup_free_ uint8_t *enc = NULL, *ids = NULL;
	size_t len, nids = 0;
	bool hint_used = false;
	uint64_t cur;
	int r;

	req.begin.workspace =
		(struct tp_bytes){ (const uint8_t *)o->workspace,
				   (uint32_t)strlen(o->workspace) };
	if (o->domain)
		req.begin.domain =
			(struct tp_bytes){ (const uint8_t *)o->domain,
					   (uint32_t)strlen(o->domain) };
	r = call(s->c, &req, &reply, TP_SYNC_STATE, why);
	if (r < 0)
		return r;
	cur = reply.state.version;
	rep->version = cur;
	if (cur && !memcmp(reply.state.root, m->root.b, SD_ID_SIZE)) {
		/* The node already has exactly this tree. */
		m->version = cur;
		rep->up_to_date = true;
		return 0;
	}
	m->version = cur + 1;
	if (!s->last_loaded) {
		load_last(s->last_path, &s->last);
		s->last_loaded = true;
	}
	sd_manifest_init(&empty);
	if (force_full || !s->last.sealed || s->last.version != cur ||
	    memcmp(reply.state.root, s->last.root.b, SD_ID_SIZE)) {
		r = sd_manifest_seal(&empty, why);
		if (r < 0)
			return r;
		base = &empty;
		rep->full = true;
	}
	if (base == &s->last && hint && hint->base_version == s->last.version &&
	    sd_id_eq(&hint->base_root, &s->last.root) &&
	    sd_id_eq(&hint->root, &m->root)) {
		/* The caller's delta from last: no diff of the trees. Only
		 * its version is the node's next. d borrows what hint owns. */
		d = *hint;
		d.version = m->version;
		r = sd_delta_encode(&d, &enc, &len);
		hint_used = true;
	} else {
		sd_delta_init(&d);
		r = sd_delta_diff(base, m, &d);
		if (r == 0)
			r = sd_delta_encode(&d, &enc, &len);
	}
	rep->changed = d.put.count + d.ndel;
	sd_manifest_free(&empty);
	if (r < 0) {
		if (!hint_used)
			sd_delta_free(&d);
		return sd_err_set(why, r, "building the delta: %s",
				  strerror(-r));
	}
	rep->offer_bytes = len;
	sd.session = new_session();
	r = offer(s->c, o, sd.session, enc, len, &ids, &nids, why);
	if (r == 0)
		r = locate(&sd, ids, nids, &d, why);
	if (!hint_used)
		sd_delta_free(&d);
	if (r < 0) {
		free(sd.tasks);
		return r;
	}
	r = send_chunks(&sd, why);
	rep->chunks_sent = sd.chunks_done;
	rep->raw_bytes = sd.raw_done;
	rep->wire_bytes = sd.wire;
	free(sd.tasks);
	if (r < 0)
		return r;
	req = (struct tp_msg){ .type = TP_SYNC_COMMIT };
	req.commit.session = sd.session;
	req.commit.version = m->version;
	memcpy(req.commit.root, m->root.b, SD_ID_SIZE);
	r = call(s->c, &req, &reply, TP_SYNC_STATE, why);
	if (r < 0)
		return r;
	rep->version = reply.state.version;
	return 0;
}

/* A cache file's name: the hex of XXH3-128 over the NUL-terminated parts. */
static int cache_name(const char *dir, const char *url, const char *ws,
		      char hex[SD_ID_HEX])
{
	struct sd_hasher *h = sd_hasher_new();
	struct sd_id key;

	if (!h)
		return -ENOMEM;
	sd_hasher_update(h, dir, strlen(dir) + 1);
	if (url) {
		sd_hasher_update(h, url, strlen(url) + 1);
		sd_hasher_update(h, ws, strlen(ws) + 1);
	}
	sd_hasher_final(h, &key);
	sd_hasher_free(h);
	sd_id_hex(&key, hex);
	return 0;
}

int sd_source_open(struct tp_link *link, const struct sd_source_opts *o,
		   struct sd_source **ret, struct sd_err *why)
{
	struct sd_source *s = calloc(1, sizeof(*s));
	char hex[SD_ID_HEX], stat_hex[SD_ID_HEX];
	int r;

	if (!s)
		return sd_err_set(why, -ENOMEM, "out of memory");
	s->link = link;
	s->o = o;
	s->root = -1;
	sd_manifest_init(&s->last);
	s->real = realpath(o->dir, NULL);
	if (!s->real) {
		r = sd_err_set(why, -errno, "%s: %s", o->dir, strerror(errno));
		goto fail;
	}
	s->root = open(s->real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root < 0) {
		r = sd_err_set(why, -errno, "%s: %s", s->real, strerror(errno));
		goto fail;
	}
	/* The stat cache is about this directory's files only, whatever node
	 * they go to; the manifest a node committed is per (directory, node,
	 * workspace). */
	r = cache_name(s->real, NULL, NULL, stat_hex);
	if (r == 0)
		r = cache_name(s->real, tp_link_url(link), o->workspace, hex);
	if (r < 0) {
		sd_err_set(why, r, "out of memory");
		goto fail;
	}
	r = util_mkdirs(o->cache_dir, 0700);
	if (r < 0) {
		sd_err_set(why, r, "cache %s: %s", o->cache_dir, strerror(-r));
		goto fail;
	}
	if (asprintf(&s->stat_path, "%s/%s.stat", o->cache_dir, stat_hex) < 0 ||
	    asprintf(&s->last_path, "%s/%s.last", o->cache_dir, hex) < 0) {
		r = sd_err_set(why, -ENOMEM, "out of memory");
		goto fail;
	}
	r = tp_chan_open(link, &s->c);
	if (r < 0) {
		sd_err_set(why, r, "%s: %s", tp_link_url(link), strerror(-r));
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	sd_source_close(s);
	return r;
}

void sd_source_set_lazy_save(struct sd_source *s, bool lazy)
{
	s->lazy_save = lazy;
}

const char *sd_source_dir(const struct sd_source *s)
{
	return s->real;
}

int sd_source_scan(struct sd_source *s, struct sd_manifest *m,
		   struct sd_scan_stats *st, struct sd_err *why)
{
	struct sd_scan_opts so = s->o->scan;

	so.cache = s->stat_path;
	return sd_scan(s->real, &so, m, st, why);
}

int sd_source_push_delta(struct sd_source *s, struct sd_manifest *m,
			 const struct sd_delta *d, struct sd_source_report *rep,
			 struct sd_err *why)
{
	int r = push_once(s, m, d, false, rep, why);

	if (r == -ESTALE) {
		/* Someone else committed in between: offer it all again. */
		memset(why, 0, sizeof(*why));
		r = push_once(s, m, NULL, true, rep, why);
	}
	if (r < 0)
		return r;
	/* m is what the node has now: the base of the next delta. */
	sd_manifest_free(&s->last);
	s->last = *m;
	s->last_loaded = true;
	sd_manifest_init(m);
	s->last_dirty = true;
	if (!s->lazy_save) {
		save_last(s->last_path, &s->last);
		s->last_dirty = false;
	}
	return 0;
}

int sd_source_push(struct sd_source *s, struct sd_manifest *m,
		   struct sd_source_report *rep, struct sd_err *why)
{
	return sd_source_push_delta(s, m, NULL, rep, why);
}

const struct sd_manifest *sd_source_last(const struct sd_source *s)
{
	return s->last_loaded ? &s->last : NULL;
}

void sd_source_close(struct sd_source *s)
{
	if (!s)
		return;
	if (s->last_dirty)
		save_last(s->last_path, &s->last);
	tp_chan_close(s->c);
	if (s->root >= 0)
		close(s->root);
	sd_manifest_free(&s->last);
	free(s->real);
	free(s->stat_path);
	free(s->last_path);
	free(s);
}

int sd_source_sync(struct tp_link *link, const struct sd_source_opts *o,
		   struct sd_source_report *rep, struct sd_err *why)
{
	struct sd_source *s = NULL;
	struct sd_manifest m;
	uint64_t t0 = util_now_ms();
	int r;

	memset(rep, 0, sizeof(*rep));
	sd_manifest_init(&m);
	r = sd_source_open(link, o, &s, why);
	if (r == 0)
		r = sd_source_scan(s, &m, &rep->scan, why);
	if (r == 0)
		r = sd_source_push(s, &m, rep, why);
	sd_manifest_free(&m);
	sd_source_close(s);
	rep->ms = util_now_ms() - t0;
	return r;
}
