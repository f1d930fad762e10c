/* SPDX-License-Identifier: MIT */
/* A node's workspace read from afar, for `tether mount`: its committed
 * manifest (SYNC_FETCH, paged) and its chunks on demand (SYNC_GET), kept in
 * a local chunk store so a chunk crosses the link once. A tfs_source: a
 * read that needs a chunk fetches it and the next ones of the same file. */
#ifndef TETHER_FS_FETCH_H
#define TETHER_FS_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "manifest.h"
#include "view.h"

struct fs_fetch;

/* Connect to url for workspace, with the local chunk cache in cache_dir
 * (an sd_store, created when absent). 0 or -errno with why filled. */
int fs_fetch_open(const char *url, const char *workspace, const char *cache_dir,
		  struct fs_fetch **ret, struct sd_err *why);

/* The workspace's committed version on the node (0: none yet). 0 or
 * -errno with why filled (-ENOENT: the node has no such workspace). */
int fs_fetch_version(struct fs_fetch *r, uint64_t *version, struct sd_err *why);

/* The workspace's current manifest, all of it, decoded and checked (the
 * decoder treats the node's bytes as hostile) into *m (initialised here;
 * the caller frees it). Restarts when a commit moves the version on in the
 * middle. 0 or -errno with why filled. */
int fs_fetch_manifest(struct fs_fetch *r, struct sd_manifest *m,
		      struct sd_err *why);

/* A piece of a file that commands wrote in the node's view: read by path
 * (WS_READ), not by chunk (cli/mount_upper.c). id names the piece in the
 * mount's manifest; it is made up, not a hash of the bytes. */
struct fs_piece {
	struct sd_id id;
	char *path; /* malloc'd */
	uint64_t off;
	uint32_t len;
};

/* Free n pieces and v. */
void fs_pieces_free(struct fs_piece *v, size_t n);

/* The pieces of the manifest the mount shows now: v (n of them) is taken
 * and the previous set freed. */
void fs_fetch_set_pieces(struct fs_fetch *r, struct fs_piece *v, size_t n);

/* tfs_source get (opaque = the fs_fetch): a piece by path, else a chunk
 * from the cache or the node. */
int fs_fetch_get(void *opaque, const struct fs_file *f, uint32_t i, void *dst,
		 size_t cap, struct sd_err *why);

/* The node's version the mount now shows (copied): a pending file's
 * content comes with the version that has it hashed. 0 or -ENOMEM. */
int fs_fetch_set_lower(struct fs_fetch *r, const struct sd_manifest *m);

/* tfs_source define (opaque = the fs_fetch): the chunks of a pending file
 * once a version of the node has it hashed (with the same size and
 * mtime), waited for a bounded time. */
int fs_fetch_define(void *opaque, const struct fs_file *f, struct fs_file *out,
		    struct sd_err *why);

void fs_fetch_close(struct fs_fetch *r);

#endif
