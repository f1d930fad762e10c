/* SPDX-License-Identifier: MIT */
/* The source's sender (source_int.h): the chunks a node wants, read from
 * the tree, checked against their ids, packed and sent with several
 * requests in flight; after a lazy commit in the background, with the
 * chunks the node's views wait for first. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "pack.h"
#include "source_int.h"
#include "zchunk.h"

#define THREADS_MAX   8
#define TASKS_AT_ONCE 16
/* A SYNC_SERVE poll waits this long at most for ids. */
#define SERVE_WAIT_MS 1000

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

/* New chunks almost always are in the files the delta changed. */
int sds_locate(struct sender *sd, const uint8_t *ids, size_t n,
	       const struct sd_delta *d, struct sd_err *why)
{
	struct loctab t = { .cap = 16 };

	pthread_mutex_init(&sd->lock, NULL);
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
	sd->sent = calloc(n ? n : 1, sizeof(*sd->sent));
	if (!sd->sent)
		return sd_err_set(why, -ENOMEM, "out of memory");
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
	struct tp_msg req = { .type = sd->fill ? TP_SYNC_FILL : TP_SYNC_PUT },
		      rep;
	const char *what = tp_type_name(req.type);
	char err[TP_ERRMSG_MAX + 64] = "";
	int r;

	if (*busy) {
		r = tp_chan_finish(c, &rep, err, sizeof(err));
		*busy = false;
		if (r < 0)
			return sd_err_set(why, r, "%s: %s", what,
					  err[0] ? err : strerror(-r));
	}
	if (!w || w->count == 0)
		return 0;
	if (sd->fill) {
		req.fill.workspace =
			(struct tp_bytes){ (const uint8_t *)sd->o->workspace,
					   (uint32_t)strlen(sd->o->workspace) };
		req.fill.pack = (struct tp_bytes){ w->buf, (uint32_t)w->len };
	} else {
		req.put.session = sd->session;
		req.put.pack = (struct tp_bytes){ w->buf, (uint32_t)w->len };
	}
	r = tp_chan_begin(c, &req, SDS_CALL_MS);
	if (r < 0)
		return sd_err_set(why, r, "%s: %s", what, strerror(-r));
	*busy = true;
	atomic_fetch_add(&sd->wire, w->len);
	sd_pack_writer_reset(w);
	return 0;
}

/* Pack tasks [from, to) into w, sending w whenever it is full; tasks
 * sent already are skipped unless asked (a node's view waits for them:
 * the bulk may hold them in a pack it has not sent yet). */
int sds_send_tasks(struct sender *sd, struct tp_chan *c, bool *busy,
		   struct sd_pack_writer *w, struct sd_zctx *z, uint8_t *buf,
		   const struct loc *tasks, atomic_uchar *sent, size_t from,
		   size_t to, bool asked, struct sd_err *why)
{
	int fd = -1;
	uint32_t fd_entry = 0;
	int r = 0;

	for (size_t i = from; i < to && r == 0; i++) {
		const struct loc *t = &tasks[i];
		const struct sd_entry *e = &sd->m->e[t->entry - 1];
		struct sd_id got;
		ssize_t k;

		if (sent && atomic_exchange(&sent[i], 1) && !asked)
			continue; /* on demand already */
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

static int send_range(struct sender *sd, struct tp_chan *c, bool *busy,
		      struct sd_pack_writer *w, struct sd_zctx *z, uint8_t *buf,
		      size_t from, size_t to, bool asked, struct sd_err *why)
{
	return sds_send_tasks(sd, c, busy, w, z, buf, sd->tasks, sd->sent, from,
			      to, asked, why);
}

/* --bwlimit: hold the bulk sending back to o->bwlimit bytes a second of
 * chunk packs, on average since it started. */
static void throttle(struct sender *sd)
{
	int64_t due;

	if (!sd->o->bwlimit)
		return;
	due = sd->started_ms +
	      (int64_t)((atomic_load(&sd->wire) - atomic_load(&sd->served)) *
			1000 / sd->o->bwlimit);
	while (!atomic_load(&sd->stop) && util_now_ms() < due) {
		int64_t left = due - util_now_ms();

		usleep((useconds_t)(left > 100 ? 100 : left) * 1000);
	}
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
	while (r == 0 && !sd->err && !atomic_load(&sd->stop) &&
	       (i = atomic_fetch_add(&sd->next, TASKS_AT_ONCE)) < sd->ntasks) {
		size_t to = i + TASKS_AT_ONCE;

		throttle(sd);
		r = send_range(sd, c, &busy, &w, &z, buf, i,
			       to > sd->ntasks ? sd->ntasks : to, false, &why);
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

int sds_send(struct sender *sd, struct sd_err *why)
{
	unsigned n = sd->o->inflight ? sd->o->inflight : 2;
	struct worker_arg args[THREADS_MAX];
	pthread_t th[THREADS_MAX];
	unsigned started = 0;

	if (n > THREADS_MAX)
		n = THREADS_MAX;
	if ((size_t)n * TASKS_AT_ONCE > sd->ntasks)
		n = (unsigned)(sd->ntasks / TASKS_AT_ONCE) + 1;
	atomic_init(&sd->next, 0);
	sd->started_ms = util_now_ms();
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
	if (sd->err) {
		*why = sd->why;
		return sd->err;
	}
	if (sd->o->progress)
		sd->o->progress(sd->o->progress_opaque, sd->ntasks, sd->ntasks,
				sd->raw_total, sd->raw_total);
	return 0;
}

void sds_fini(struct sender *sd)
{
	free(sd->tasks);
	free(sd->sent);
	sd->tasks = NULL;
	sd->sent = NULL;
	pthread_mutex_destroy(&sd->lock);
}

/* ---- after a lazy commit ---- */

static void *bulk_thread(void *arg)
{
	struct sender *sd = arg;
	struct sd_err why = { "" };
	int r = sds_send(sd, &why);

	if (r < 0)
		sender_fail(sd, r, &why);
	else if (!atomic_load(&sd->stop))
		atomic_store(&sd->bulk_done, true);
	return NULL;
}

static int id_loc_cmp(const void *a, const void *b)
{
	return sd_id_cmp(&((const struct loc *)a)->id,
			 &((const struct loc *)b)->id);
}

/* The index in sd->tasks of the task whose id is id, or -1: byid holds
 * the tasks sorted by id, each with its index in off. */
static ssize_t find_task(const struct loc *byid, size_t n, const uint8_t *id)
{
	struct loc key;
	const struct loc *hit;

	memcpy(key.id.b, id, SD_ID_SIZE);
	hit = bsearch(&key, byid, n, sizeof(*byid), id_loc_cmp);
	return hit ? (ssize_t)hit->off : -1;
}

/* Answer the node's SYNC_SERVE polls: the chunks its views wait for go
 * out at once, whatever the bulk sending is at. Ends when the fill is
 * stopped or the node stops asking (it is gone: the bulk sending says
 * so). */
static void *serve_thread(void *arg)
{
	struct sender *sd = arg;
	struct tp_msg req = { .type = TP_SYNC_SERVE }, rep;
	struct sd_pack_writer w;
	struct sd_zctx z = { 0 };
	struct tp_chan *fc = NULL;
	struct sd_err why = { "" };
	uint8_t *buf = malloc(SD_CHUNK_MAX);
	struct loc *byid =
		malloc((sd->ntasks ? sd->ntasks : 1) * sizeof(*byid));
	bool busy = false;
	int r;

	sd_pack_writer_init(&w, TP_BULK_MAX);
	r = !buf || !byid ? -ENOMEM : sd_zctx_init(&z);
	if (r == 0)
		r = tp_chan_open(sd->link, &fc);
	for (size_t i = 0; r == 0 && i < sd->ntasks; i++) {
		byid[i] = sd->tasks[i];
		byid[i].off = i;
	}
	if (r == 0)
		qsort(byid, sd->ntasks, sizeof(*byid), id_loc_cmp);
	req.serve.workspace =
		(struct tp_bytes){ (const uint8_t *)sd->o->workspace,
				   (uint32_t)strlen(sd->o->workspace) };
	req.serve.session = sd->session;
	req.serve.wait_ms = SERVE_WAIT_MS;
	while (r == 0 && !atomic_load(&sd->stop)) {
		char err[TP_ERRMSG_MAX + 64] = "";
		uint64_t wire0 = atomic_load(&sd->wire);

		r = tp_chan_call(sd->serve_chan, &req, &rep,
				 SERVE_WAIT_MS + SDS_CALL_MS, err, sizeof(err));
		if (r == 0 && rep.type == TP_SYNC_ASK) {
			struct tp_sync_ask a = rep.ask;
			char path[TP_PATH_MAX];

			/* rep borrows the channel's frame: the next call
			 * on it reuses that. */
			memcpy(path, a.path.ptr, a.path.len);
			a.path.ptr = (const uint8_t *)path;
			r = sds_define(sd, fc, &busy, &w, &z, buf, &a, &why);
			if (r == 0)
				r = flush(sd, fc, &busy, &w, &why);
			if (r == 0)
				r = flush(sd, fc, &busy, NULL, &why);
			if (r < 0) {
				/* One file that cannot be defined does not
				 * end the serving. */
				log_warn("%s", why.what);
				memset(&why, 0, sizeof(why));
				r = 0;
			}
			continue;
		}
		if (r < 0 || rep.type != TP_SYNC_WANT)
			break;
		for (uint32_t k = 0; k < rep.want.count && r == 0; k++) {
			ssize_t i = find_task(byid, sd->ntasks,
					      rep.want.ids + k * SD_ID_SIZE);

			if (i >= 0)
				r = send_range(sd, fc, &busy, &w, &z, buf,
					       (size_t)i, (size_t)i + 1, true,
					       &why);
		}
		if (r == 0)
			r = flush(sd, fc, &busy, &w, &why);
		if (r == 0)
			r = flush(sd, fc, &busy, NULL, &why);
		/* Not the bulk's: --bwlimit does not count it. (The bulk's
		 * packs sent meanwhile may count here: it only goes
		 * faster.) */
		atomic_fetch_add(&sd->served, atomic_load(&sd->wire) - wire0);
	}
	if (busy)
		flush(sd, fc, &busy, NULL, &(struct sd_err){ "" });
	tp_chan_close(fc);
	sd_pack_writer_fini(&w);
	sd_zctx_fini(&z);
	free(byid);
	free(buf);
	return NULL;
}

int sds_fill_start(struct sender *sd, struct sd_err *why)
{
	int r;

	sd->fill = true;
	atomic_init(&sd->stop, false);
	atomic_init(&sd->bulk_done, false);
	/* sd is a copy of the sender sds_locate() set up: its lock too. */
	pthread_mutex_init(&sd->lock, NULL);
	r = tp_chan_open(sd->link, &sd->serve_chan);
	if (r < 0)
		return sd_err_set(why, r, "SYNC_SERVE: %s", strerror(-r));
	r = -pthread_create(&sd->serve_th, NULL, serve_thread, sd);
	sd->serve_started = r == 0;
	if (r == 0) {
		r = -pthread_create(&sd->bulk_th, NULL, bulk_thread, sd);
		sd->bulk_started = r == 0;
	}
	if (r < 0) {
		sds_fill_end(sd, true, &(struct sd_err){ "" });
		return sd_err_set(why, r, "starting the fill: %s",
				  strerror(-r));
	}
	return 0;
}

int sds_fill_end(struct sender *sd, bool stop, struct sd_err *why)
{
	if (stop)
		atomic_store(&sd->stop, true);
	if (sd->bulk_started)
		pthread_join(sd->bulk_th, NULL);
	sd->bulk_started = false;
	/* The bulk is done: every chunk went, or the fill is over. */
	atomic_store(&sd->stop, true);
	if (sd->serve_chan)
		tp_chan_abort(sd->serve_chan);
	if (sd->serve_started)
		pthread_join(sd->serve_th, NULL);
	sd->serve_started = false;
	tp_chan_close(sd->serve_chan);
	sd->serve_chan = NULL;
	sds_fini(sd);
	if (sd->err && !(stop && sd->err == -ECANCELED)) {
		*why = sd->why;
		return sd->err;
	}
	return 0;
}
