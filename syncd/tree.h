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
 * filesystem as dir (renamed into it) and journal in a directory that
 * outlives crashes. */
struct sd_tree {
	const char *dir;     /* the tree itself */
	const char *stage;   /* scratch for new files */
	const char *journal; /* the roll-forward record */
};

/* Make t->dir, which holds sealed version old, hold new = old + d (the
 * caller has applied and verified d). Every chunk new needs must be
 * readable from src. Steps: write new files and symlinks under stage (mode
 * and mtime set), syncfs; write the journal (the commit point); then
 * delete, create directories, rename, link and set directory times in dir;
 * syncfs. The journal stays until sd_tree_finish(): the caller saves new
 * as the workspace's manifest first. A failure before the commit point (a full
 * disk, a missing chunk) removes what it staged and leaves old intact: the
 * return is -errno with why naming the path and cause. After the commit
 * point failures are retried by sd_tree_recover(). Entries of dir that no
 * manifest knows (files a command wrote) are left alone unless a path the
 * delta deletes or changes the type of holds them.
 *
 * Nothing is followed: a symlink that a command planted where the
 * manifest has a directory is replaced by the directory. */
int sd_tree_update(const struct sd_tree *t, const struct sd_manifest *old,
		   const struct sd_delta *d, const struct sd_manifest *new,
		   const struct sd_tree_src *src, struct sd_err *why);

/* Remove the journal and the stage: the update is complete and the caller
 * has saved the new manifest. */
void sd_tree_finish(const struct sd_tree *t);

/* After a restart, with saved the manifest the caller last saved: if a
 * journal is present, finish the update it records and return 1 with *new
 * (initialised here) the version it completed, which the caller saves
 * before calling sd_tree_finish(); else clear the stage and return 0.
 * -errno with why on failure. */
int sd_tree_recover(const struct sd_tree *t, const struct sd_manifest *saved,
		    struct sd_manifest *new, struct sd_err *why);

#endif
