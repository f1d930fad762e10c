/* SPDX-License-Identifier: MIT */
/* The agent's side of workspace sync: scan the directory, offer the delta
 * from what the node holds, send the chunks it wants (compressed, packed,
 * several requests in flight), commit. */
#ifndef TETHER_SOURCE_H
#define TETHER_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "link.h"
#include "scan.h"

struct sd_source_opts {
	const char *dir;       /* the workspace on this machine */
	const char *workspace; /* its name on the node */
	const char *domain;    /* chunk store on the node; NULL: its own */
	const char *cache_dir; /* stat cache and last manifests */
	struct sd_scan_opts scan;
	int level;	   /* zstd level */
	unsigned inflight; /* SYNC_PUTs in flight; 0: default */
	/* Commit before the chunks (a node with views takes it; another
	 * gets them first): they follow in the background, those its views
	 * wait for first. See sd_source_fill_wait(). */
	bool lazy;
	/* With lazy, metadata ahead of content: the scan before the first
	 * push does not read the files the stat cache does not know, but
	 * commits them pending (sd_scan_opts.pending); the node's views ask
	 * for those they read, and the source reads them on demand while
	 * it hashes the rest (sd_source_sync() does; a caller with its own
	 * loop: sd_source_define()). Not with passthrough, whose views
	 * check bytes against chunk ids. */
	bool meta_first;
	uint64_t bwlimit; /* bytes a second of chunk packs sent in bulk; 0 */
	/* Name the directory to the node: one on this host with views then
	 * reads the files from it instead of asking for chunks. */
	bool passthrough;
	/* Called now and then while chunks are sent (NULL: none). */
	void (*progress)(void *opaque, uint64_t chunks_done,
			 uint64_t chunks_total, uint64_t raw_done,
			 uint64_t raw_total);
	void *progress_opaque;
};

struct sd_source_report {
	struct sd_scan_stats scan;
	uint64_t version; /* committed (or already current) */
	bool up_to_date;  /* nothing to send: the node had this tree */
	bool full;	  /* sent a full snapshot, not a delta */
	uint64_t changed; /* entries added, replaced or deleted */
	uint64_t offer_bytes;
	uint64_t chunks_sent;
	uint64_t raw_bytes;  /* of the chunks sent, before zstd */
	uint64_t wire_bytes; /* of the chunk packs sent */
	uint64_t ms;	     /* wall time, scan included */
	bool lazy;	     /* committed first: the chunks are following */
	uint64_t commit_ms; /* when the version was committed, from the start */
};

/* One sync of o->dir to workspace o->workspace over link: open, scan,
 * push, close. Returns 0, or -errno with why (one line: what failed and
 * why). */
int sd_source_sync(struct tp_link *link, const struct sd_source_opts *o,
		   struct sd_source_report *rep, struct sd_err *why);

/* The pieces, for a caller that syncs again and again (tether watch). */
struct sd_source;

/* o is borrowed for the source's lifetime. 0 or -errno with why. */
int sd_source_open(struct tp_link *link, const struct sd_source_opts *o,
		   struct sd_source **ret, struct sd_err *why);

/* Save the last-committed manifest only at close, not after every push. */
void sd_source_set_lazy_save(struct sd_source *s, bool lazy);

/* The directory, resolved. */
const char *sd_source_dir(const struct sd_source *s);

/* A full scan (stat cache used) into *m, initialised here: files the
 * cache does not know are left pending when o->meta_first applies. */
int sd_source_scan(struct sd_source *s, struct sd_manifest *m,
		   struct sd_scan_stats *st, struct sd_err *why);

/* sd_source_scan() and sd_source_push(): when the node turns the lazy
 * commit down (it has no views) and the scan left files pending, they are
 * read and it is pushed again. */
int sd_source_scan_push(struct sd_source *s, struct sd_source_report *rep,
			struct sd_err *why);

/* After a push that committed pending files (metadata ahead of content):
 * read and hash them (a full scan, the stat cache filled) and push that,
 * the node's views served meanwhile. rep gets the files hashed, the
 * version, and the offer's bytes. No-op when nothing is pending. */
int sd_source_define(struct sd_source *s, struct sd_source_report *rep,
		     struct sd_err *why);

/* Make the node's workspace hold sealed m (its version is set here). On
 * success m is taken (left empty) and becomes sd_source_last(). rep's
 * scan and ms are left alone. */
int sd_source_push(struct sd_source *s, struct sd_manifest *m,
		   struct sd_source_report *rep, struct sd_err *why);

/* sd_source_push() given d, the delta from sd_source_last() to m (as
 * sd_scan_update() makes it): offered as is when the node holds that last
 * version, which spares a diff of the whole tree; else as
 * sd_source_push(). d is borrowed for the call. */
int sd_source_push_delta(struct sd_source *s, struct sd_manifest *m,
			 const struct sd_delta *d, struct sd_source_report *rep,
			 struct sd_err *why);

/* After a push that committed lazily (rep->lazy), its chunks go in the
 * background, and the chunks the node's views wait for go first, until
 * all are sent: wait for that and add what was sent to rep (0 or -errno
 * with why); or, when stop, end it now (0): the node asks the next push
 * for the rest. No-op without a fill in progress. The next push and
 * sd_source_close() stop one. */
/* Whether a lazy push's chunks are still being sent, or files it
 * committed pending are not read yet. */
bool sd_source_filling(const struct sd_source *s);

int sd_source_fill_wait(struct sd_source *s, bool stop,
			struct sd_source_report *rep, struct sd_err *why);

/* The manifest the node committed last, as far as this source knows, or
 * NULL before the first push. */
const struct sd_manifest *sd_source_last(const struct sd_source *s);

void sd_source_close(struct sd_source *s);

/* The ipc:// URL where a tether watch of dir (resolved) to workspace ws on
 * url answers the barrier: a socket in cache_dir named for the three.
 * 0, or -ENAMETOOLONG (no room in a socket path), -ENOMEM. */
int sd_source_watch_url(const char *cache_dir, const char *dir, const char *url,
			const char *ws, char *out, size_t cap);

/* The default cache directory: $TETHER_CACHE, else
 * $XDG_CACHE_HOME/tether, else ~/.cache/tether. Written to buf. */
int sd_source_cache_dir(char *buf, size_t cap);

#endif
