/* SPDX-License-Identifier: MIT */
/* What tetherfs.c (the session, the read-only view) and overlay.c (the
 * writable view on top of it) share. Private to fs/. */
#ifndef TETHER_FS_TETHERFS_INT_H
#define TETHER_FS_TETHERFS_INT_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "inodes.h"
#include "tetherfs.h"
#include "upper.h"
#include "view.h"

/* The view says when something changes (tfs_set invalidates it; in a
 * writable view every change to the upper goes through the kernel), so
 * the kernel may keep every answer until then. */
#define TFS_CACHE_S 86400.0

struct tfs {
	struct fuse_session *se;
	struct fs_view *view;
	struct tfs_inodes *inodes; /* what the kernel holds (inodes.h) */
	bool no_open; /* the kernel opens files without asking us */
	struct tfs_source src;
	char *mountpoint;
	dev_t dev; /* the mount's: its connection in /sys/fs/fuse/connections */
	char name[64];
	pthread_t loop;
	bool loop_started;
	bool mounted;
	atomic_bool loop_done;
	/* A writable view: the upper layer, or NULL. */
	struct fs_upper *upper;
	/* Serializes whatever changes the upper (and so the meaning of a
	 * name): copy-ups, creates, removals, renames, reset. Reads and
	 * writes of open files do not take it. */
	pthread_mutex_t nslock;
	/* The upper holds nothing: every name is the lower's, no upper
	 * lookups needed (nslock to clear; read without). */
	atomic_bool clean;
	/* The kernel has looked a name up or listed a directory: before
	 * that it holds no dentry (not even a negative one) to forget, so a
	 * first version invalidates the root alone (tfs_asked()). */
	atomic_bool asked;
	atomic_uint seq; /* names for files made in the upper's work area */
};

static inline struct tfs *tfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Directory listings (tetherfs.c): the lower version's listing of ino,
 * for READDIR or READDIRPLUS. at_names: a writable view, whose records
 * remember where they were found. */
void tfs_readdir_lower(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       bool plus);

/* READ of a lower file record h (tetherfs.c). */
void tfs_read_lower(fuse_req_t req, struct tfs_inode *h, size_t size,
		    off_t off);

/* The writable view's operations (overlay.c). */
extern const struct fuse_lowlevel_ops tfs_rw_ops;

/* Discard the upper of t and make the kernel forget what it cached of it
 * (overlay.c). 0 or -errno. */
int tfs_rw_reset(struct tfs *t);

/* After a new version (cur; old the one before): drop from the upper
 * what cur now holds exactly as it is (overlay_prune.c). */
void tfs_rw_prune(struct tfs *t, const struct sd_manifest *old,
		  const struct sd_manifest *cur);

/* Ops both tables share (tetherfs.c). */
void tfs_op_init(void *userdata, struct fuse_conn_info *conn);
void tfs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void tfs_op_forget_multi(fuse_req_t req, size_t count,
			 struct fuse_forget_data *forgets);

/* Call before a handler that may answer a name or a listing reads the
 * view (tetherfs.c, on_inval). */
static inline void tfs_asked(struct tfs *t)
{
	if (!atomic_load_explicit(&t->asked, memory_order_relaxed))
		atomic_store(&t->asked, true);
}

#endif
