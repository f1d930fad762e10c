/* SPDX-License-Identifier: MIT */
/* A manifest version written out as a plain directory on the node (the
 * fallback view where FUSE is missing, and what `tether exec --workspace`
 * runs in until the FUSE view exists). An update is journaled so that after
 * a crash the directory is either the old version or, once recovery has
 * rolled the journal forward, the new one. */
#ifndef TETHER_TREE_H
#define TETHER_TREE_H

#include <stdint.h>

#include "manifest.h"

/* Where file contents come from: fill exactly len bytes at dst with the
 * chunk id's bytes, verified. 0 or -errno with why filled. */
struct sd_tree_src {
	int (*read)(void *opaque, const struct sd_id *id, void *dst,
		    uint32_t len, struct sd_err *why);
	void *opaque;
};

/* The paths of one workspace's tree on the node. stage must be on the same
 * filesystem as dir (renamed into it). */
struct sd_tree {
	const char *dir;   /* the tree itself */
	const char *stage; /* scratch for new files */
};

/* The commit point: make the delta durable (the caller's log) so that a
 * restart redoes it. 0 or -errno with why. */
typedef int (*sd_tree_commit_fn)(void *opaque, struct sd_err *why);

/* Make t->dir, which holds sealed version old, hold sealed new = old + d
 * (the caller has applied and verified d). Every chunk new needs must be
 * readable from src. Steps: write new files and symlinks under stage (mode
 * and mtime set; fsync'd, or one syncfs for many); commit(), the commit
 * point; then delete, create directories, rename, link and set directory
 * times in dir. The tree is not synced at the end: call sd_tree_sync()
 * before the next commit point, so that a crash never has to redo more
 * than the last delta. A failure before the commit point (a full disk, a
 * missing chunk) removes what it staged and leaves old intact: the return
 * is -errno with why naming the path and cause. A failure after it is
 * finished by sd_tree_redo() (the caller's log holds d).
 *
 * Nothing is followed: a symlink that a command planted where the
 * manifest has a directory is replaced by the directory. Entries of dir
 * that no manifest knows (files a command wrote) are left alone unless a
 * path the delta deletes or changes the type of holds them. */
int sd_tree_update(const struct sd_tree *t, const struct sd_manifest *old,
		   const struct sd_delta *d, const struct sd_manifest *new,
		   const struct sd_tree_src *src, sd_tree_commit_fn commit,
		   void *opaque, struct sd_err *why);

/* After a restart: redo the last committed delta d (old -> new), whether
 * the crash came before, during or after its application: the files are
 * staged again from src and every step is idempotent. */
int sd_tree_redo(const struct sd_tree *t, const struct sd_manifest *old,
		 const struct sd_delta *d, const struct sd_manifest *new,
		 const struct sd_tree_src *src, struct sd_err *why);

/* Make what d did to the tree (now holding new) durable: fsync the files
 * it put and the directories it touched (one syncfs when there are many),
 * then clear the stage. */
int sd_tree_sync(const struct sd_tree *t, const struct sd_delta *d,
		 const struct sd_manifest *new, struct sd_err *why);

/* Remove whatever is in the stage (an update that never reached its
 * commit point). */
void sd_tree_clear_stage(const struct sd_tree *t);

#endif
