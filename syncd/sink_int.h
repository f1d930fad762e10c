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

/* Drop every chunk of domain d that no committed version and no sync in
 * progress needs. Holds d's GC lock for writing: offers and commits in the
 * domain wait. Takes the sink lock; call with neither held. */
int sdk_domain_gc(struct sd_sink *s, struct domain *d, struct sd_err *why);

/* After a commit: collect once the chunks put since the last collection
 * pass 64 MiB and a quarter of what the store holds. */
void sdk_maybe_gc(struct sd_sink *s, struct domain *d);

#endif
