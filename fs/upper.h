/* SPDX-License-Identifier: MIT */
/* The upper layer of a workspace view: the scratch directory that takes
 * every write a command makes (DESIGN.md, "fs/"). The lower layer (a
 * manifest version and its chunks) is never modified.
 *
 * On disk, under the upper's directory DIR (ROOT/.tether/upper/NAME on a
 * node):
 *   DIR/tree  mirrors the workspace's paths:
 *     - a regular file, symlink, fifo or directory there is what the view
 *       shows at that path (a file copied up from the lower layer holds
 *       all of its bytes);
 *     - a whiteout, a character device 0:0 (overlayfs' convention, which
 *       Linux lets anyone create since 5.8), hides the lower entry of its
 *       name;
 *     - a directory with the xattr FS_UPPER_OPAQUE_XATTR (value "y") hides
 *       every lower entry below it: it replaced a lower directory that was
 *       removed, or something that was not a directory.
 *   DIR/bases  what the lower held where the upper first shadowed it
 *       (bases.h);
 *   DIR/work  copy-ups in progress (renamed into tree when complete) and
 *       trees being discarded; never part of the view.
 * A directory in tree without the xattr merges with the lower directory of
 * the same path, if there is one. */
#ifndef TETHER_FS_UPPER_H
#define TETHER_FS_UPPER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "bases.h"

#define FS_UPPER_OPAQUE_XATTR "user.tether.opaque"

struct fs_upper;

/* Open (creating what is missing) the upper at dir. 0 or -errno. */
int fs_upper_open(const char *dir, struct fs_upper **ret);
void fs_upper_free(struct fs_upper *u);

/* The upper's bases (bases.h), valid until fs_upper_free(). */
struct fs_bases *fs_upper_bases(const struct fs_upper *u);

/* A descriptor of DIR/work, where files are made before they are renamed
 * into the tree (same file system). */
int fs_upper_work(const struct fs_upper *u);

/* The directory at path (len bytes, relative; 0 is the tree itself) in
 * the tree, opened O_RDONLY|O_DIRECTORY without following any symlink:
 * a descriptor, or -errno (-ENOENT: not there; -ENOTDIR: not a
 * directory; -ELOOP: a symlink on the way). */
int fs_upper_dir(struct fs_upper *u, const char *path, size_t len);

/* Whether st (from fstatat without following) is a whiteout. */
bool fs_upper_is_whiteout(const struct stat *st);

/* Put a whiteout at name in dirfd (nothing may be there). 0 or -errno. */
int fs_upper_whiteout(int dirfd, const char *name);

/* Whether directory name (in dirfd; "" for dirfd itself) is opaque: 1, 0,
 * or -errno. */
int fs_upper_is_opaque(int dirfd, const char *name);

/* Make the directory open at fd opaque. 0 or -errno (-ENOTSUP: the file
 * system of the upper has no user xattrs). */
int fs_upper_set_opaque(int fd);

/* Whether the tree holds nothing: 1, 0, or -errno. */
int fs_upper_is_empty(struct fs_upper *u);

/* Discard everything in the tree, and the bases: the tree is renamed into work and removed
 * from there, so a crash halfway leaves no half-removed tree behind; the
 * next fs_upper_open() finishes the removal. Invalidates the old tree
 * descriptor. 0 or -errno (then the tree is as it was). */
int fs_upper_reset(struct fs_upper *u);

#endif
