/* SPDX-License-Identifier: MIT */
/* The watcher's map of watched directories: a tree of nodes found by inotify
 * wd or by (parent, name), so renames move one node and paths follow. */
#ifndef TETHER_WATCH_TREE_H
#define TETHER_WATCH_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A directory. The root has no parent and an empty name. Unwatched nodes
 * (wd < 0: the watch could not be added) have no children. */
struct sd_wnode {
	struct sd_wnode *parent;
	struct sd_wnode *child; /* first child */
	struct sd_wnode *next, *prev;
	struct sd_wnode *wd_next;   /* chain in the wd table */
	struct sd_wnode *name_next; /* chain in the (parent, name) table */
	char *name;		    /* NUL-terminated, name_len bytes */
	size_t name_len;
	uint64_t name_hash;
	/* for the watcher: the inode watched, and the last resync that
	 * found the node */
	dev_t dev;
	ino_t ino;
	unsigned int epoch;
	int wd;
	int from_wd; /* in limbo: the parent it was moved from */
};

struct sd_wtable {
	struct sd_wnode **b;
	size_t mask; /* buckets - 1 */
	size_t n;
};

/* Chained hash tables grow by doubling at load 1, so lookups stay O(1)
 * with 100k directories; nodes are never copied, so pointers stay valid. */
struct sd_wtree {
	int ifd; /* borrowed inotify fd, for inotify_rm_watch() */
	struct sd_wnode *root;
	/* Parks directories seen in IN_MOVED_FROM until their IN_MOVED_TO
	 * (or the end of the batch, when they left the tree). Its nodes have
	 * no path. */
	struct sd_wnode limbo;
	struct sd_wtable wds, names;
	size_t nwatched;   /* nodes with a wd, the root included */
	size_t nunwatched; /* nodes without, the root excluded */
	bool freed;	   /* a watch went away (the caller clears it) */
};

/* Sets up an empty tree with an unwatched root. Returns 0 or -ENOMEM. */
int sd_wtree_init(struct sd_wtree *t, int ifd);
/* Frees every node; watches are left to close(ifd). */
void sd_wtree_fini(struct sd_wtree *t);

struct sd_wnode *sd_wtree_by_wd(const struct sd_wtree *t, int wd);
struct sd_wnode *sd_wtree_by_name(const struct sd_wtree *t,
				  const struct sd_wnode *parent,
				  const char *name, size_t len);

/* A new unwatched node under p. NULL on -ENOMEM. */
struct sd_wnode *sd_wtree_add(struct sd_wtree *t, struct sd_wnode *p,
			      const char *name, size_t len);
/* Gives unwatched n the watch wd. Returns 0 or -ENOMEM (n unchanged). */
int sd_wtree_watch(struct sd_wtree *t, struct sd_wnode *n, int wd);
/* Forgets n's watch (no-op when it has none). rm also asks the kernel to
 * drop it: for a directory that left the tree or cannot be listed; a
 * deleted directory's watch is already gone. */
void sd_wtree_unwatch(struct sd_wtree *t, struct sd_wnode *n, bool rm);
/* Moves n (a new node, or one anywhere, limbo included) under p as name.
 * The caller makes sure p is not under n. Returns 0, or -ENOMEM and n
 * stays where it was. */
int sd_wtree_place(struct sd_wtree *t, struct sd_wnode *n, struct sd_wnode *p,
		   const char *name, size_t len);
/* Frees top and everything under it, unwatching each (rm as above). Not
 * the root. O(size). */
void sd_wtree_drop(struct sd_wtree *t, struct sd_wnode *top, bool rm);

/* n's path relative to the root into out (cap bytes, NUL-terminated;
 * "" for the root). Returns its length, -ENOENT for a node in limbo, or
 * -ENAMETOOLONG. */
ssize_t sd_wtree_path(const struct sd_wtree *t, const struct sd_wnode *n,
		      char *out, size_t cap);
/* The same for name under p. */
ssize_t sd_wtree_child_path(const struct sd_wtree *t, const struct sd_wnode *p,
			    const char *name, size_t len, char *out,
			    size_t cap);
bool sd_wtree_is_under(const struct sd_wnode *n, const struct sd_wnode *top);

/* Pre-order walk below the root: the node after n, skipping n's subtree
 * unless descend; NULL at the end. Start from t->root. */
struct sd_wnode *sd_wtree_next(const struct sd_wtree *t,
			       const struct sd_wnode *n, bool descend);

#endif
