/* SPDX-License-Identifier: MIT */
/* The source's internals, shared by source.c (scan, offer, commit),
 * source_send.c (the chunks the node wants: sent before the commit, or
 * after a lazy one, while the node's views ask for some first) and
 * source_define.c (pending files read and defined on demand). */
#ifndef TETHER_SOURCE_INT_H
#define TETHER_SOURCE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "manifest.h"
#include "source.h"

#define SDS_CALL_MS 120000

/* Where a wanted chunk is in the scanned tree. */
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
	/* After a lazy commit: chunks go as SYNC_FILLs of the workspace,
	 * not SYNC_PUTs of the session. */
	bool fill;
	struct loc *tasks; /* sorted by file and offset */
	size_t ntasks;
	atomic_uchar *sent; /* per task: sent (by the bulk or on demand) */
	atomic_size_t next;
	atomic_uint_fast64_t chunks_done, raw_done, wire;
	atomic_uint_fast64_t served; /* of wire: sent on demand */
	uint64_t raw_total;
	int64_t started_ms; /* of the bulk sending, for o->bwlimit */
	atomic_bool stop;
	atomic_bool bulk_done; /* every task sent (a fill) */
	pthread_mutex_t lock;
	int err;
	struct sd_err why;
	/* A fill in the background (source_send.c). */
	pthread_t bulk_th, serve_th;
	bool bulk_started, serve_started;
	struct tp_chan *serve_chan;
};

/* Find where each of the n wanted ids is in sd->m: first in the files the
 * delta d changed, then anywhere. Fills sd->tasks. 0 or -errno. */
int sds_locate(struct sender *sd, const uint8_t *ids, size_t n,
	       const struct sd_delta *d, struct sd_err *why);

/* Free sd's tasks (after sds_locate()). */
void sds_fini(struct sender *sd);

struct sd_pack_writer;
struct sd_zctx;

/* Pack tasks[from, to) into w and send them on c, as the bulk does (sent:
 * the marks of sd's own tasks, or NULL). 0 or -errno with why. */
int sds_send_tasks(struct sender *sd, struct tp_chan *c, bool *busy,
		   struct sd_pack_writer *w, struct sd_zctx *z, uint8_t *buf,
		   const struct loc *tasks, atomic_uchar *sent, size_t from,
		   size_t to, bool asked, struct sd_err *why);

/* A node's view waits for the pending file the SYNC_ASK a names: read it,
 * define it on sd->serve_chan, and send the chunks the node lacks on fc
 * (source_define.c). 0 (also when the file cannot be defined: the node
 * is told why) or -errno with why. */
struct tp_sync_ask;
int sds_define(struct sender *sd, struct tp_chan *fc, bool *busy,
	       struct sd_pack_writer *w, struct sd_zctx *z, uint8_t *buf,
	       const struct tp_sync_ask *a, struct sd_err *why);

/* Send every task, several requests in flight, from the caller's thread
 * and helpers. 0 or the first -errno with why. */
int sds_send(struct sender *sd, struct sd_err *why);

/* After a lazy commit: send the tasks in the background and answer the
 * node's SYNC_SERVE polls first. sd is the caller's until sds_fill_end().
 * 0 or -errno. */
int sds_fill_start(struct sender *sd, struct sd_err *why);

/* Wait for the fill's end (or, when stop, end it now: the node asks the
 * next sync for the rest), and free sd's tasks. 0 or the first -errno
 * with why. */
int sds_fill_end(struct sender *sd, bool stop, struct sd_err *why);

#endif
