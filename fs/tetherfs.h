/* SPDX-License-Identifier: MIT */
/* tetherfs: a workspace version served through FUSE (libfuse3 low-level
 * API, multithreaded), read-only: the lower layer of DESIGN.md's view.
 * Metadata comes from the inode table (view.h) with long kernel cache
 * timeouts; file bytes come from the chunk store, verified on every read.
 * Installing a new version invalidates exactly what it changed, so
 * unchanged files keep their page cache. */
#ifndef TETHER_TETHERFS_H
#define TETHER_TETHERFS_H

#include <stdbool.h>

#include "manifest.h"
#include "store.h"
#include "view.h"

struct tfs;

/* Where a view's file bytes come from. get puts chunk i of the open file
 * f, checked against its id, in dst (cap >= f->chunks[i].len bytes): 0,
 * or -errno with why filled (the read fails with EIO, and why is logged).
 * It runs on FUSE's threads, several at once, and may block (a fetch over
 * the network) but must give up within a bounded time: a read never
 * hangs. */
struct tfs_source {
	int (*get)(void *opaque, const struct fs_file *f, uint32_t i, void *dst,
		   size_t cap, struct sd_err *why);
	void *opaque;
	/* A pending file (f->pending): its chunk list into *out (a copy of
	 * f with its chunks), waiting for it a bounded time. 0 or -errno
	 * with why. NULL: a pending file cannot be read (-EIO). */
	int (*define)(void *opaque, const struct fs_file *f,
		      struct fs_file *out, struct sd_err *why);
};

/* Pending f with its chunk list (t's source's define) into *out; logged
 * on failure. 0, -EIO or -ENOMEM. */
int tfs_define(struct tfs *t, const struct fs_file *f, struct fs_file *out);

/* A source over a local chunk store (opaque = the struct sd_store). */
int tfs_store_get(void *store, const struct fs_file *f, uint32_t i, void *dst,
		  size_t cap, struct sd_err *why);

/* Mount an empty view at mountpoint (an existing directory) reading from
 * src (copied), and serve it on threads of its own. name shows in the
 * mount table as "tether:NAME". upper: NULL for a read-only view, or the
 * directory of its upper layer (upper.h; created if missing, kept across
 * mounts): every write lands there, copy-on-write. 0, or -errno with why
 * filled (no /dev/fuse, a mount that fails, an upper that cannot be
 * opened). */
int tfs_mount(const char *mountpoint, const char *name,
	      const struct tfs_source *src, const char *upper, struct tfs **ret,
	      struct sd_err *why);

/* A writable view: discard its upper layer, so it shows its version as
 * it is (tether reset). Open files keep working on what they had. 0;
 * -EROFS (a read-only view); or -errno. */
int tfs_reset(struct tfs *t);

/* A writable view's bases (bases.h), or NULL. */
struct fs_bases *tfs_bases(struct tfs *t);

/* The version served now, held until fs_view_release(*hold) (view.h). */
const struct sd_manifest *tfs_hold(struct tfs *t, void **hold);

/* A writable view's upper tree directory (upper.h): a new descriptor the
 * caller closes, for reading (tether changes); -EROFS for a read-only
 * view, or -errno. */
int tfs_upper_tree(struct tfs *t);

/* Whether the view is still mounted and served: false once someone
 * unmounted it (fusermount3 -u) and its loop ended. */
bool tfs_alive(struct tfs *t);

/* Serve version m (sealed; copied, see view.h) from now on. A writable
 * view's upper lets go of what m now holds as it is (a change written
 * back and synced). 0 or -ENOMEM (the previous version stays). */
int tfs_set(struct tfs *t, const struct sd_manifest *m);

/* Unmount (lazily, so an open file or a cwd inside does not keep the node
 * from stopping) and stop the threads. Accepts NULL. */
void tfs_unmount(struct tfs *t);

/* A mount left behind by a node that died: detach it if there is one at
 * path. 0 (nothing there, or detached) or -errno. */
int tfs_clear_stale(const char *path);

#endif
