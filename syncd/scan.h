/* SPDX-License-Identifier: MIT */
/* The source side's scanner: walks a workspace (ignore rules applied, no
 * symlink followed) into a sealed manifest. A persistent stat cache lets a
 * rescan reuse the chunk list of every file whose stat is unchanged, so a
 * no-op rescan costs little more than the stats; the files that must be
 * read are chunked and hashed on several threads. */
#ifndef TETHER_SCAN_H
#define TETHER_SCAN_H

#include <stdbool.h>
#include <stdint.h>

#include "cdc.h"
#include "manifest.h"

struct sd_scan_opts {
	struct sd_cdc cdc;	   /* chunk sizes (sd_cdc_init) */
	const char *cache;	   /* stat cache file, or NULL for none */
	unsigned threads;	   /* hashing threads; 0: one per CPU */
	const char *const *ignore; /* extra ignore patterns (config) */
	size_t nignore;
	/* Metadata ahead of content: a regular file the stat cache does not
	 * know (one name, not empty) is not read but becomes a
	 * SD_T_PENDING entry, for a lazy commit to a node with views; a
	 * scan without it reads them later. */
	bool pending;
};

struct sd_scan_stats {
	uint64_t files, dirs, symlinks, hardlinks;
	uint64_t bytes;	       /* sum of file sizes */
	uint64_t hashed_files; /* read and chunked this time */
	uint64_t hashed_bytes;
	uint64_t pending; /* files left unread (opts.pending) */
	uint64_t skipped; /* sockets, fifos, devices: not synced */
	/* directories read again, their names not vouched for by the stat
	 * cache */
	uint64_t dirs_listed;
	uint64_t ms; /* wall time of the scan */
};

/* Scan root into *out (initialised here; version 0, sealed). A file that
 * keeps changing while it is read is taken as last read and not cached.
 * Returns 0 or -errno with why naming the path and cause. An entry that
 * vanishes during the walk is simply absent. */
int sd_scan(const char *root, const struct sd_scan_opts *o,
	    struct sd_manifest *out, struct sd_scan_stats *st,
	    struct sd_err *why);

/* Update: *out (initialised here) = prev with the given paths (relative,
 * any order, from a watcher) looked at again: each one that exists and is
 * not ignored is stat'ed (files read and chunked), each one that is gone
 * or is no longer a directory takes its subtree with it. Returns 0; 1 when
 * only a full scan can answer (a changed ignore file, a hard-linked file,
 * too many paths, a result that does not hold together), with *out empty;
 * or -errno with why. prev must be sealed. When delta is not NULL it is
 * initialised here and, on 0, holds the delta from prev to *out (base
 * prev's version and root, version prev's + 1, root out's): a sender
 * whose node holds prev can offer it as is, without diffing the trees. */
int sd_scan_update(const char *root, const struct sd_scan_opts *o,
		   const struct sd_manifest *prev, const char *const *paths,
		   size_t n, struct sd_manifest *out, struct sd_delta *delta,
		   struct sd_scan_stats *st, struct sd_err *why);

/* Whether rel (a directory when is_dir) is ignored under root: rules of
 * every directory on its way are read. For a watcher's skip callback. */
bool sd_scan_ignored(const char *root, const struct sd_scan_opts *o,
		     const char *rel, size_t len, bool is_dir);

#endif
