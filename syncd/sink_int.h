/* SPDX-License-Identifier: MIT */
/* The sink's internals, shared by sink.c (the SYNC_* handlers, workspaces,
 * sessions), sink_gc.c (chunk-id sets, garbage collection) and sink_read.c
 * (SYNC_FETCH and SYNC_GET: reading a committed version back). */
#ifndef TETHER_SINK_INT_H
#define TETHER_SINK_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "manifest.h"
#include "server.h"
#include "sink.h"
#include "store.h"
#include "wslog.h"

#define WORKERS 2

struct pend;
struct sdk_def;

struct domain {
	struct domain *next;
	char name[TP_NAME_MAX + 1];
	struct sd_store *store;
	/* Readers: work that relies on chunks the store holds (an offer's
	 * want list, a commit). Writer: the garbage collector. Taken after a
	 * workspace's commit lock, never before. */
	pthread_rwlock_t gc_lock;
};

struct ws {
	struct ws *next;
	char name[TP_NAME_MAX + 1];
	struct domain *dom;
	char *meta;		     /* .tether/ws/NAME */
	char *dir;		     /* workspaces/NAME */
	char *stage;		     /* workspaces/.stage-NAME */
	struct sd_wslog *log;	     /* committed versions, durable */
	pthread_mutex_t commit_lock; /* cur, log and tree on commits */
	struct sd_manifest cur;	     /* committed; read under the sink lock */
	uint64_t committed_ms;
	/* The tree holds cur durably (under commit_lock): a node that stops
	 * now can fold the log, so its restart has nothing to redo. */
	bool tree_synced;
	/* SYNC_FETCH pages one encoding of cur, made by the first FETCH of
	 * each version (sink_read.c) rather than once a page: at most one
	 * per workspace, freed with it. enc_lock guards the four fields and
	 * is taken after commit_lock, never with the sink lock held. */
	pthread_mutex_t enc_lock;
	uint8_t *enc;
	size_t enc_len;
	uint64_t enc_version; /* 0: nothing cached */
	struct sd_id enc_root;
	/* The tree (dir) does not hold cur: the node serves views, which are
	 * the workspace, or a view node left it behind. ROOT/.tether/ws/NAME/
	 * tree-stale says so durably; a node without views rebuilds the tree
	 * once every chunk of cur is there. Under commit_lock. */
	bool tree_stale;
	/* Lazy commits (sink_lazy.c), under the sink lock: the chunks of cur
	 * the store lacked (sorted, each once), those arrived since marked
	 * in miss_got, nmissing of them still missing; and the ids readers
	 * of the view wait for, oldest first, for SYNC_SERVE. */
	struct sd_id *miss;
	uint8_t *miss_got;
	size_t nmiss, nmissing;
	struct sd_id *q;
	size_t nq, capq;
	/* Metadata ahead of content (sink_define.c), under the sink lock:
	 * the pending files of cur readers wait for, to ask the source for
	 * (SYNC_ASK), oldest first; and the definitions that came
	 * (SYNC_DEFINE). */
	struct pend *asks;
	size_t nasks, capasks;
	struct sdk_def *defs;
	/* Passthrough (sink_pass.c): the source's directory on this host,
	 * which views read file bytes from, or NULL. Under the sink lock;
	 * ROOT/.tether/ws/NAME/passthrough keeps it across restarts. */
	char *pass;
};

struct session {
	struct session *next;
	uint64_t id;
	uint32_t pipe;
	struct ws *ws;
	uint64_t started_ms;
	uint8_t *buf; /* the encoded delta, arriving */
	uint64_t total, got;
	bool offered; /* the delta is decoded and result built */
	struct sd_manifest result;
	/* The offered delta, kept when it is from the committed version. */
	struct sd_delta delta;
	bool have_delta;
	bool live; /* result counts for the garbage collector (sink lock) */
	bool own_packs; /* rolled at its start: roll again at its end */
	unsigned refs;	/* workers using it, under the sink lock */
	bool dead;	/* unlinked: freed by the last unref */
	struct sd_id *want;
	size_t nwant;
	uint64_t want_bytes; /* their uncompressed bytes */
};

struct poll;

struct job {
	struct job *next;
	struct tp_req *req;
	struct tp_msg msg; /* its views point into the request frame */
};

struct sd_sink {
	char *root, *state, *wsroot;
	pthread_mutex_t lock; /* lists, sessions, ws->cur swaps */
	pthread_cond_t cond;
	struct domain *domains;
	struct ws *wss;
	struct session *sessions;
	unsigned nsessions;
	struct job *head, **tail;
	bool stopping;
	bool views; /* the node serves views: lazy commits, no trees */
	/* Lazy workspaces (sink_lazy.c), under the lock: chunks arrived
	 * (readers wait on it); SYNC_SERVE polls held, and their thread. */
	pthread_cond_t arrived, polls_cond;
	struct poll *polls;
	bool quiesced, lazy_started;
	pthread_t lazy_th;
	sd_sink_version_fn on_version; /* see sd_sink_on_version() */
	void *on_version_opaque;
	pthread_t th[WORKERS];
	unsigned nth;
};

/* The workspace named by the len bytes at name, or NULL. Sink lock held.
 * A workspace found stays valid: none is freed while the sink runs. */
struct ws *sdk_ws_find(struct sd_sink *s, const char *name, size_t len);

/* SYNC_FETCH: a page of the workspace's committed manifest, encoded once
 * per version. SYNC_GET: the stored records of the chunks asked for, in
 * one chunk pack. Each runs on a worker thread with no lock held, takes
 * what it needs (sink lock, commit lock, enc_lock, the domain's GC lock
 * for reading) and ends req with exactly one reply. f and g borrow the
 * request frame. */
void sdk_fetch(struct sd_sink *s, struct tp_req *req,
	       const struct tp_sync_fetch *f);
void sdk_get(struct sd_sink *s, struct tp_req *req,
	     const struct tp_sync_get *g);

/* Write n bytes at p to path durably: a temporary file, fsync, rename.
 * 0 or -errno. */
int sdk_write_durable(const char *path, const void *p, size_t n);

/* ---- the tree (sink_tree.c) ---- */

/* sd_tree_src read (opaque = the struct sd_store): a chunk of len bytes,
 * checked. 0 or -errno with why. */
int sdk_tree_read(void *opaque, const struct sd_id *id, void *dst, uint32_t len,
		  struct sd_err *why);

/* Say durably that w's tree does not hold its current version
 * (ROOT/.tether/ws/NAME/tree-stale). Under w's commit lock. */
int sdk_tree_stale_mark(struct ws *w, struct sd_err *why);

/* Build w's tree afresh for m, whose chunks are all in the store (the GC
 * lock held for reading); the tree is then no longer stale. */
int sdk_tree_rebuild(struct sd_sink *s, struct ws *w,
		     const struct sd_manifest *m, struct sd_err *why);

/* ---- lazy workspaces (sink_lazy.c) ---- */

/* The chunks m needs that w's store lacks, sorted, each once, into *out
 * (malloc'd, NULL when none) and *n. Call with the domain's GC lock held
 * (for reading) and not the sink lock. 0 or -ENOMEM. */
int sdk_missing_of(struct ws *w, const struct sd_manifest *m,
		   struct sd_id **out, size_t *n);

/* Make ids (taken) w's missing chunks. Sink lock held. */
void sdk_missing_set(struct sd_sink *s, struct ws *w, struct sd_id *ids,
		     size_t n);

/* The chunks of pack (len bytes, stored just now in domain d) arrived:
 * mark them in every workspace of d that lacks them and wake the readers
 * waiting. Takes the sink lock. */
void sdk_arrived(struct sd_sink *s, struct domain *d, const void *pack,
		 size_t len);

/* Passthrough (sink_pass.c). SYNC_BEGIN's dir: turn w's passthrough on
 * when the node serves views and dir (with dev and ino) is that very
 * directory here, off otherwise; then the chunks w's version lacks are
 * counted again. Call with no lock held. */
void sdk_pass_begin(struct sd_sink *s, struct ws *w, const struct tp_bytes *dir,
		    uint64_t dev, uint64_t ino);

/* At load: w's passthrough as it was, if the directory is still there
 * (sink lock not needed: w is not shared yet). */
void sdk_pass_load(struct sd_sink *s, struct ws *w);

/* SYNC_SERVE and SYNC_FILL, on a worker thread with no lock held. */
void sdk_serve(struct sd_sink *s, struct tp_req *req,
	       const struct tp_sync_serve *v);
void sdk_fill(struct sd_sink *s, struct tp_req *req,
	      const struct tp_sync_fill *f);

/* Wait on cond (its clock is CLOCK_MONOTONIC, as util_now_ms()'s) until
 * at_ms at the latest. */
void sdk_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t at_ms);

/* ---- metadata ahead of content (sink_define.c) ---- */

/* Whether a reader of w waits for a pending file to be asked for; then
 * answer a SYNC_SERVE poll (req, its session) with the oldest ask, which
 * leaves the queue. Sink lock held. */
bool sdk_asked(const struct ws *w);
void sdk_ask_reply(struct tp_req *req, struct ws *w, uint64_t session);

/* After w's current version changed: drop the definitions and asks of
 * files it no longer has pending as they were. Sink lock held. */
void sdk_defs_prune(struct ws *w);

/* The chunks of w's definitions: how many (with repeats), and into set,
 * so that the garbage collector keeps them. Sink lock held. */
struct sdk_idset;
size_t sdk_defs_chunks(const struct ws *w);
void sdk_defs_live(const struct ws *w, struct sdk_idset *set);

/* Free w's definitions and asks (the workspace goes). */
void sdk_defs_free(struct ws *w);

/* SYNC_DEFINE, on a worker thread with no lock held. */
void sdk_define(struct sd_sink *s, struct tp_req *req,
		const struct tp_sync_define *v);

/* Start and stop the thread that answers held SYNC_SERVE polls when they
 * are due. */
int sdk_lazy_start(struct sd_sink *s);
void sdk_lazy_stop(struct sd_sink *s);

/* Put a pack into d's store; a full disk is retried once after a garbage
 * collection. The new chunks' count or -errno with why. */
ssize_t sdk_store_pack(struct sd_sink *s, struct domain *d, const void *pack,
		       size_t len, struct sd_err *why);

/* A set of chunk ids: open addressing, the all-zero id marking empty
 * slots (and kept aside when it is a member). */
struct sdk_idset {
	struct sd_id *v;
	size_t mask;
	bool zero;
};

/* Room for n ids. 0 or -ENOMEM; free set->v. */
int sdk_idset_init(struct sdk_idset *set, size_t n);

/* Add id; true when it was not there yet. */
bool sdk_idset_insert(struct sdk_idset *set, const struct sd_id *id);

/* The chunks of the count entries at ents that store st lacks, each once,
 * in entry order: *out (malloc'd, NULL when none), *n, and their bytes in
 * *bytes (unless NULL). 0 or -ENOMEM. */
int sdk_lacking(struct sd_store *st, const struct sd_entry *ents, size_t count,
		struct sd_id **out, size_t *n, uint64_t *bytes);

/* Drop every chunk of domain d that no committed version and no sync in
 * progress needs. Holds d's GC lock for writing: offers and commits in the
 * domain wait. Takes the sink lock; call with neither held. */
int sdk_domain_gc(struct sd_sink *s, struct domain *d, struct sd_err *why);

/* After a commit: collect once the chunks put since the last collection
 * pass 64 MiB and a quarter of what the store holds. */
void sdk_maybe_gc(struct sd_sink *s, struct domain *d);

#endif
