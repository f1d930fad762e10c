/* SPDX-License-Identifier: MIT */
/* A node's FUSE views: each workspace's committed version mounted
 * read-only at ROOT/views/NAME (tetherfs.h), following every commit. */
#ifndef TETHER_FS_VIEWS_H
#define TETHER_FS_VIEWS_H

#include "changes.h"
#include "manifest.h"
#include "store.h"

struct fs_views;

struct sd_sink;

/* Under root: create ROOT/views and detach any view a node that died left
 * mounted there. A view reads its chunks from the store the sink names
 * with each version; one the store lacks yet (a lazy commit's) it awaits
 * from sink (sd_sink_await()) for up to fetch_ms, then the read fails
 * with EIO and the reason is logged. 0 or -errno (logged: also when
 * /dev/fuse cannot be opened). */
int fs_views_new(const char *root, struct sd_sink *sink, unsigned fetch_ms,
		 struct fs_views **ret);

/* sd_sink_version_fn: mount NAME's view on its first version, then serve
 * each new one. A view that cannot be mounted is logged once and left
 * out; sync and exec go on without it. */
void fs_views_on_version(void *opaque, const char *name,
			 const struct sd_manifest *cur, struct sd_store *store);

/* tether changes: what commands changed in view name's upper layer
 * against its current version, one fn call each (changes.h). 0; -ENOENT
 * (no such view) with why filled; or the walk's -errno. Runs on the
 * caller's thread; the view keeps serving meanwhile. */
int fs_views_changes(struct fs_views *v, const char *name, fs_change_fn fn,
		     void *opaque, struct sd_err *why);

/* tether reset: discard view name's upper layer: the view shows its lower
 * version again, and the kernel forgets what it cached of the upper.
 * 0, or -errno with why filled (-ENOENT: no such view). */
int fs_views_reset(struct fs_views *v, const char *name, struct sd_err *why);

/* One entry of a view's upper layer, read for writeback (tether apply). */
struct fs_read {
	uint8_t type;  /* enum sd_type: SD_T_FILE, SD_T_DIR, SD_T_SYMLINK */
	uint32_t mode; /* permission bits */
	int64_t mtime_ns;
	uint64_t size; /* a file's whole size; a symlink's target length */
	char *target;  /* a symlink's target, malloc'd; else NULL */
	uint8_t *data; /* a file's bytes from off, malloc'd; else NULL */
	uint32_t len;  /* bytes in data (less than max only at the end) */
};

/* Read path (len bytes, relative to the workspace, checked like a
 * manifest path) in view name's upper layer: its kind and attributes,
 * and for a file up to max bytes from off. Only what the upper holds:
 * -ENOENT for a path it does not (the lower's bytes are the agent's
 * already). 0, or -errno with why filled. Free with fs_read_free(). */
int fs_views_read(struct fs_views *v, const char *name, const char *path,
		  size_t len, uint64_t off, uint32_t max, struct fs_read *out,
		  struct sd_err *why);
void fs_read_free(struct fs_read *r);

/* Where commands of workspace name run: the view's mount point into out
 * (cap bytes), when name has a view that is mounted. 0; -ENOENT (no
 * view: use the workspace's directory); -ENAMETOOLONG. */
int fs_views_dir(struct fs_views *v, const char *name, char *out, size_t cap);

/* Unmount every view. Accepts NULL. */
void fs_views_free(struct fs_views *v);

#endif
