/* SPDX-License-Identifier: MIT */
/* tetherfs: a workspace version served through FUSE (libfuse3 low-level
 * API, multithreaded), read-only: the lower layer of DESIGN.md's view.
 * Metadata comes from the inode table (view.h) with long kernel cache
 * timeouts; file bytes come from the chunk store, verified on every read.
 * Installing a new version invalidates exactly what it changed, so
 * unchanged files keep their page cache. */
#ifndef TETHER_TETHERFS_H
#define TETHER_TETHERFS_H

#include "manifest.h"
#include "store.h"

struct tfs;

/* Mount an empty view at mountpoint (an existing directory) over store,
 * and serve it on threads of its own. name shows in the mount table as
 * "tether:NAME". 0, or -errno with why filled (no /dev/fuse, a mount that
 * fails). */
int tfs_mount(const char *mountpoint, const char *name, struct sd_store *store,
	      struct tfs **ret, struct sd_err *why);

/* Serve version m (sealed; copied, see view.h) from now on. 0 or -ENOMEM
 * (the previous version stays). */
int tfs_set(struct tfs *t, const struct sd_manifest *m);

/* Unmount (lazily, so an open file or a cwd inside does not keep the node
 * from stopping) and stop the threads. Accepts NULL. */
void tfs_unmount(struct tfs *t);

/* A mount left behind by a node that died: detach it if there is one at
 * path. 0 (nothing there, or detached) or -errno. */
int tfs_clear_stale(const char *path);

#endif
