/* SPDX-License-Identifier: MIT */
/* A node's FUSE views: each workspace's committed version mounted
 * read-only at ROOT/views/NAME (tetherfs.h), following every commit. */
#ifndef TETHER_FS_VIEWS_H
#define TETHER_FS_VIEWS_H

#include "manifest.h"
#include "store.h"

struct fs_views;

/* Under root: create ROOT/views and detach any view a node that died left
 * mounted there. 0 or -errno (logged). */
int fs_views_new(const char *root, struct fs_views **ret);

/* sd_sink_version_fn: mount NAME's view on its first version, then serve
 * each new one. A view that cannot be mounted is logged once and left
 * out; sync and exec go on without it. */
void fs_views_on_version(void *opaque, const char *name,
			 const struct sd_manifest *cur, struct sd_store *store);

/* Unmount every view. Accepts NULL. */
void fs_views_free(struct fs_views *v);

#endif
