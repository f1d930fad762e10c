/* SPDX-License-Identifier: MIT */
/* The inode table of the FUSE view: a workspace version (a sealed
 * manifest) seen as inodes, answered from memory.
 *
 * Inode numbers are stable across versions: a path keeps its number as long
 * as its kind (file, directory, symlink) and, for a file, its bytes stay
 * the same, so the kernel keeps the dentries, attributes and page cache of
 * what did not change, and a new version invalidates exactly what it
 * changed (fs_view_set's callback). A file with new bytes is a new inode,
 * as the rename that replaced it is on the node's tree: whoever has the
 * old one open keeps reading the old bytes.
 * The root is FS_VIEW_ROOT_INO (FUSE_ROOT_ID). A hard link's names share the
 * inode of the group's primary entry.
 *
 * Thread-safe: any number of readers (the FUSE worker threads) at once with
 * one writer (the commit that installs a new version). Every query copies
 * what it returns, so nothing it hands out changes under the caller. */
#ifndef TETHER_FS_VIEW_H
#define TETHER_FS_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "manifest.h"

#define FS_VIEW_ROOT_INO 1

struct fs_view;

/* What a lookup or getattr returns: the inode and its attributes, filled
 * for FUSE (st_ino, st_mode with the type bits, st_nlink, st_size,
 * st_mtim/st_ctim/st_atim all the entry's mtime, st_blocks, st_blksize,
 * st_uid/st_gid 0). Directories have nlink 2 + subdirectories; a hard
 * link group's inode has nlink = its number of names. The root directory
 * has mode 0755 and mtime 0 unless the manifest says otherwise (it has no
 * entry). */
struct fs_attr {
	uint64_t ino;
	struct stat st;
};

/* One directory entry as readdir returns it. name points into the
 * caller's buffer (fs_view_readdir). */
struct fs_dirent {
	uint64_t ino;
	mode_t type; /* S_IFDIR, S_IFREG, S_IFLNK */
	const char *name;
	size_t name_len;
	uint64_t next_off; /* the offset to continue after this entry */
};

/* An open file's content map: its chunks in order, a private copy, so a
 * file opened before a new version keeps reading the version it opened. */
struct fs_file {
	uint64_t ino;
	uint64_t size;
	uint32_t nchunks;
	struct sd_chunkref *chunks; /* malloc'd */
	uint64_t *ends; /* malloc'd: ends[i] = end offset of chunk i */
	char *path;	/* malloc'd: its path in the version it came from */
	/* A pending file (SD_T_PENDING): no chunks yet, its size and mtime
	 * name the bytes the source is to define (tfs_source.define). */
	bool pending;
	int64_t mtime_ns;
};

/* How a new version changes what the kernel may have cached, one call per
 * item (after the writer lock is released, so the callback may call
 * fuse_lowlevel_notify_inval_*):
 *   FS_INVAL_INODE: ino's attributes changed (mode, mtime, nlink; for a
 *     directory, its list of names): drop them. Never its bytes: a file
 *     whose bytes change is a new inode.
 *   FS_INVAL_ENTRY: the name (parent, name) now means something else or
 *     nothing: drop that dentry (also a negative one, for a new name). */
enum fs_inval { FS_INVAL_INODE = 1, FS_INVAL_ENTRY = 2 };
typedef void (*fs_view_inval_fn)(void *opaque, enum fs_inval kind, uint64_t ino,
				 uint64_t parent, const char *name,
				 size_t name_len);

int fs_view_new(struct fs_view **ret);
void fs_view_free(struct fs_view *v);

/* Install m (sealed) as the current version. The view takes a copy (which
 * shares m's bytes, see manifest.h), so m stays the caller's. Before the
 * first call the view is an empty root directory. fn (may be NULL) hears
 * what the kernel must forget, computed from the previous version.
 * 0 or -ENOMEM (the previous version stays). */
int fs_view_set(struct fs_view *v, const struct sd_manifest *m,
		fs_view_inval_fn fn, void *opaque);

/* The version installed (0 before any). */
uint64_t fs_view_version(struct fs_view *v);

/* name in directory parent: 0 and *out; -ENOENT (no such name, or parent
 * is gone); -ENOTDIR (parent is not a directory). */
int fs_view_lookup(struct fs_view *v, uint64_t parent, const char *name,
		   size_t name_len, struct fs_attr *out);

/* The entry at path (len bytes, relative to the workspace; len 0 is the
 * root): 0 and *out, or -ENOENT. For the upper layer, which works by
 * path. */
int fs_view_lookup_path(struct fs_view *v, const char *path, size_t len,
			struct fs_attr *out);

/* The hash of the entry at path (sd_entry.hash): 0 and *id, or -ENOENT
 * (the root has no entry). */
int fs_view_entry_id(struct fs_view *v, const char *path, size_t len,
		     struct sd_id *id);

/* Every path of inode ino in the current version (a hard link group has
 * several), one fn call each with a NUL-terminated path valid for the
 * call, until fn returns false. 0 or -ENOENT. A pass over the whole
 * version: for copying a hard link group up, not for every request. */
typedef bool (*fs_view_name_fn)(void *opaque, const char *path, size_t len);
int fs_view_names(struct fs_view *v, uint64_t ino, fs_view_name_fn fn,
		  void *opaque);

/* The current version itself, held (it stays valid, although a newer one
 * may be installed) until fs_view_release(*hold). */
const struct sd_manifest *fs_view_hold(struct fs_view *v, void **hold);
void fs_view_release(void *hold);

/* ino's attributes: 0 or -ENOENT (not in the current version). */
int fs_view_getattr(struct fs_view *v, uint64_t ino, struct fs_attr *out);

/* A symlink's target into buf (cap bytes, NUL-terminated): its length, or
 * -ENOENT, -EINVAL (not a symlink), -ERANGE (cap too small). */
ssize_t fs_view_readlink(struct fs_view *v, uint64_t ino, char *buf,
			 size_t cap);

/* Directory ino's entries from offset off (0: the start; "." and ".." are
 * the first two, at offsets 0 and 1, then the names in manifest order),
 * one fn call each until fn returns false or the end. Names are copied to
 * a buffer of the view's own for the call. 0, -ENOENT or -ENOTDIR. */
typedef bool (*fs_view_dir_fn)(void *opaque, const struct fs_dirent *d);
int fs_view_readdir(struct fs_view *v, uint64_t ino, uint64_t off,
		    fs_view_dir_fn fn, void *opaque);

/* Open ino for reading: *out filled (free with fs_file_free); a pending
 * file's without chunks (out->pending). 0, -ENOENT, -EISDIR, -EINVAL (a
 * symlink), -ENOMEM. */
int fs_view_open(struct fs_view *v, uint64_t ino, struct fs_file *out);
void fs_file_free(struct fs_file *f);

/* Give f a copy of the n chunks c (and their ends): f is then no longer
 * pending. 0 or -ENOMEM (f unchanged). */
int fs_file_set_chunks(struct fs_file *f, const struct sd_chunkref *c,
		       uint32_t n);

/* The index of the chunk holding byte off of f (off < f->size). */
uint32_t fs_file_chunk_at(const struct fs_file *f, uint64_t off);

/* For statfs: the current version's entry count and byte total. */
void fs_view_counts(struct fs_view *v, uint64_t *files, uint64_t *bytes);

#endif
