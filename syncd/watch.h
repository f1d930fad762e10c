/* SPDX-License-Identifier: MIT */
/* A recursive inotify watcher that hands out coalesced batches of paths that
 * may have changed, and says "rescan" whenever it could have missed one. */
#ifndef TETHER_WATCH_H
#define TETHER_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "manifest.h" /* struct sd_err */

/* One batch never gathers more paths than this; past it the batch turns
 * into a rescan (the consumer would do as much work walking them). */
#define SD_WATCH_PATHS_MAX 65536u
/* A batch is cut after this many inotify events or this much time after
 * its first event, however busy the tree: a burst becomes a few batches
 * and the consumer is never starved. */
#define SD_WATCH_BATCH_EVENTS 16384u
#define SD_WATCH_BATCH_MS     50u
/* In degraded mode, how often a batch asks for a rescan when no event
 * arrives (sd_watch_set_rescan_interval() changes it). */
#define SD_WATCH_RESCAN_MS 2000u

struct sd_watch;

/* Decides whether the directory at relpath (relative to the root, never
 * the root itself, NUL-terminated, len bytes) is left unwatched, e.g. an
 * ignored ".git". A skipped directory is still reported as a path when its
 * own entry changes in its parent; nothing inside it is. Called from
 * sd_watch_new() and sd_watch_read() on their thread; must not call back
 * into the watcher. */
typedef bool (*sd_watch_skip_fn)(const char *relpath, size_t len, void *opaque);

/* What sd_watch_read() hands back. Caller-owned; reused across reads. */
struct sd_watch_batch {
	/* Paths relative to the root that may have changed: created,
	 * written, deleted, renamed from or to, or with changed attributes.
	 * Files or directories; the consumer lstat()s each one. When a
	 * directory appears (created, or moved in or within the tree) its
	 * whole contents are listed too. Unique, sorted in strcmp() order,
	 * never the root itself (""). Borrowed: valid until the next
	 * sd_watch_read() or sd_watch_batch_fini() on this batch. */
	const char **paths;
	size_t count;
	/* Changes may have been lost: the consumer must rescan the whole
	 * tree, treating paths as an incomplete hint. Set after an inotify
	 * queue overflow, when a directory could not be watched (the watch
	 * limit, a permission error), when the root was moved or deleted,
	 * or when a batch outgrew SD_WATCH_PATHS_MAX. While the watcher is
	 * degraded (sd_watch_timeout_ms() >= 0) every batch sets it. */
	bool rescan;
	/* implementation */
	void *impl;
};

void sd_watch_batch_init(struct sd_watch_batch *b);
/* Frees what the batch holds; the struct itself stays the caller's. */
void sd_watch_batch_fini(struct sd_watch_batch *b);

/* Watches every directory under root (the root included), except those
 * skip says to leave out; skip may be NULL, opaque is passed to it and
 * borrowed for the watcher's lifetime. root is copied (as its realpath).
 * *ret is the caller's, freed with sd_watch_free(); why is filled only on
 * failure.
 * Directories found while walking are watched before they are listed, so
 * nothing created during the walk is missed.
 *
 * Returns 0 and sets *ret, or -errno with why filled: -ENOTDIR / -ENOENT /
 * -EACCES for a bad root, -EMFILE when the inotify instance limit
 * (fs.inotify.max_user_instances) is reached, -ENOMEM. Running out of
 * watches (fs.inotify.max_user_watches) is not an error: the watcher
 * logs one warning, starts degraded, and its first batch asks for a
 * rescan. Blocks for the walk: about one directory every few
 * microseconds. The watcher is not thread-safe: one thread uses it. */
int sd_watch_new(const char *root, sd_watch_skip_fn skip, void *opaque,
		 struct sd_watch **ret, struct sd_err *why);

/* Removes every watch and frees the watcher. Accepts NULL. */
void sd_watch_free(struct sd_watch *w);

/* The inotify descriptor to poll for POLLIN. Owned by the watcher; the
 * same for its whole lifetime. */
int sd_watch_fd(const struct sd_watch *w);

/* -1 while every directory is watched. While degraded (a directory could
 * not be watched, or the root is gone), the milliseconds until
 * sd_watch_read() should be called even without POLLIN: changes in
 * unwatched directories make no event, so the consumer polls with this
 * timeout and rescans on each batch. */
int sd_watch_timeout_ms(struct sd_watch *w);

/* Degraded mode: ask for a rescan at least every ms milliseconds
 * (default SD_WATCH_RESCAN_MS; at least 1). */
void sd_watch_set_rescan_interval(struct sd_watch *w, unsigned int ms);

/* Reads pending events into b (emptied first). Never waits when nothing is
 * pending; after the first event it keeps reading until no event came for
 * coalesce_ms, or SD_WATCH_BATCH_MS passed, or SD_WATCH_BATCH_EVENTS
 * events were read; the rest stays queued for the next call. New
 * directories are watched and listed before returning. In degraded mode it
 * also retries the directories it could not watch (after watches were
 * freed, or every 15 rescan intervals) and re-opens a root that was
 * replaced.
 *
 * Returns 1 when b holds work (paths or rescan), 0 when it is empty, or
 * -errno with why filled: -ENOMEM before anything was read (nothing is
 * lost; call again), or a read(2) error on the inotify descriptor (b then
 * says rescan; the watcher keeps working). */
int sd_watch_read(struct sd_watch *w, struct sd_watch_batch *b,
		  unsigned int coalesce_ms, struct sd_err *why);

struct sd_watch_stats {
	size_t watched;		 /* directories with an inotify watch */
	size_t unwatched;	 /* directories that could not get one */
	unsigned long overflows; /* IN_Q_OVERFLOW seen */
	bool root_lost; /* root unwatched: moved, deleted, or no watch left */
};

void sd_watch_get_stats(const struct sd_watch *w, struct sd_watch_stats *out);

#endif
