/* SPDX-License-Identifier: MIT */
/* The writable view's pieces (overlay.c: names; overlay_copyup.c: copy-up;
 * overlay_io.c: files and attributes; overlay_rename.c: renames and reset;
 * overlay_prune.c: letting go of what a new version holds). Private to
 * fs/. */
#ifndef TETHER_FS_OVERLAY_H
#define TETHER_FS_OVERLAY_H

#include "tetherfs_int.h"

/* A path buffer: SD_PATH_MAX bytes and the NUL. */
#define OV_PATH_BUF (SD_PATH_MAX + 1)

/* What a name means in the merged view. */
struct ov_found {
	struct fs_attr a; /* as the kernel sees it; a.ino 0: an upper
			   * object the kernel holds no number for yet */
	bool upper;	  /* an upper object: a.st is its stat */
	uint64_t up_ino;  /* upper: its st_ino */
	bool merged;	  /* a directory in both layers, by the lower's ino */
	bool lower;	  /* the lower has the path (shown or not) */
};

/* One name of a merged listing. */
struct ov_name {
	char *name;
	mode_t type; /* S_IF* */
	bool hidden; /* a whiteout (only while the listing is built) */
};

struct ov_list {
	struct ov_name *e;
	size_t n, cap;
};

/* ino's path into buf (OV_PATH_BUF bytes): its length, or -errno. */
int ov_path(struct tfs *t, fuse_ino_t ino, char *buf);

/* Append "/name" (or "name" at the root) to the path of len bytes in buf:
 * the new length, -ENAMETOOLONG, or -ENOENT for an empty name. */
int ov_join(char *buf, int len, const char *name);

/* Split path (len > 0 bytes) in place at its last '/': the directory's
 * length ("" for a name at the root), *base the last name. */
int ov_split(char *path, int len, const char **base);

/* The upper's directory at path: a descriptor and *opaque; -ENOENT when
 * the upper has none (or holds nothing at all), or -errno. */
int ov_upper_dir(struct tfs *t, const char *path, int len, bool *opaque);

/* What name (the last component of path, len bytes) means: dfd is the
 * upper's directory of path's parent, or -1 when it has none; opaque is
 * whether that directory is. 0 and *f, -ENOENT, or -errno. */
int ov_resolve(struct tfs *t, const char *path, int len, int dfd, bool opaque,
	       const char *name, struct ov_found *f);

/* ov_resolve for (parent, name). */
int ov_lookup_in(struct tfs *t, fuse_ino_t parent, const char *name,
		 struct ov_found *f);

/* Count a kernel reference to what f found at (parent, name): numbers an
 * upper object (f->a.ino). 0 or -errno. */
int ov_ref(struct tfs *t, fuse_ino_t parent, const char *name,
	   struct ov_found *f);

/* Reply to a LOOKUP-like request with r (0: f) and count the reference. */
void ov_reply_entry(fuse_req_t req, fuse_ino_t parent, const char *name, int r,
		    struct ov_found *f);

/* An upper stat as the kernel sees it, numbered ino. */
void ov_attr_upper(struct fs_attr *a, const struct stat *st, uint64_t ino);

/* The merged listing of directory path, without "." and "..", upper
 * names first: 0, -ENOENT, -ENOTDIR or -errno. Free with ov_list_free. */
int ov_list(struct tfs *t, const char *path, int len, struct ov_list *out);
void ov_list_free(struct ov_list *l);

/* The upper is about to shadow path: note what the lower has there, its
 * base (bases.h), if it has something. nslock held. Logs a failure. */
void ov_note(struct tfs *t, const char *path, int len);

/* The upper's directory at path, made (with the lower's mode and mtime)
 * with each of its parents that it lacks: a descriptor or -errno.
 * nslock held. */
int ov_chain(struct tfs *t, const char *path, int len);

/* Copy the lower's file or symlink a (f: its chunks, for a file) at path
 * (len bytes) up, its bytes too when data; the other names of a lower
 * hard link group follow it, and a record the kernel holds for it now
 * means the upper file. nslock held. 0 or -errno. */
int ov_copy_up_at(struct tfs *t, const char *path, int len,
		  const struct fs_attr *a, const struct fs_file *f, bool data);

/* Copy record x (a lower file or symlink) up to its path, its bytes too
 * when data (else empty: it is about to be truncated); the other names of
 * a lower hard link group follow it. Nothing when it is up already.
 * nslock held. 0 or -errno. */
int ov_copy_up(struct tfs *t, struct tfs_inode *x, bool data);

/* Each chunk of lower file f in order, fetched and checked: fn gets its
 * bytes (n of them, at offset off of the file, valid for the call) and
 * returns 0 to go on, else what ov_each_chunk() returns. 0, -EIO (a chunk
 * could not be had, logged), -ENOMEM, or fn's. */
typedef int (*ov_chunk_fn)(void *opaque, const uint8_t *p, uint32_t n,
			   uint64_t off);
int ov_each_chunk(struct tfs *t, const struct fs_file *f, ov_chunk_fn fn,
		  void *opaque);

/* Copy lower file f's bytes into fd, leaving holes for chunks of zeros
 * (a sparse file stays sparse). 0 or -errno (-EIO: a chunk could not be
 * had, logged). */
int ov_copy_bytes(struct tfs *t, const struct fs_file *f, int fd);

/* After a name left (dir, name): hide the lower's entry of that path
 * when it has one and the directory is not opaque. dfd: the upper's
 * directory, or -1 to make it. nslock held. 0 or -errno. */
int ov_hide_lower(struct tfs *t, const char *dir, int dlen, int dfd,
		  const char *name);

/* Remove the upper's directory name in dfd (-1: none), if there is one:
 * once the merged directory is empty only whiteouts are left in it.
 * 0 or -errno. */
int ov_drop_upper_dir(int dfd, const char *name);

/* Before (parent, name), found as f, loses its name: a file of a lower
 * hard link group is copied up with its group, so the link count of the
 * names left drops as it should; f is found again. nslock held. 0 or
 * -errno. */
int ov_up_group(struct tfs *t, fuse_ino_t parent, const char *name,
		struct ov_found *f);

/* The upper file name in dfd (stat st) is about to lose a name (perhaps
 * its last): if the kernel holds it, keep it open, for its attributes
 * and reads once its record's name no longer finds it. */
void ov_keep_open(struct tfs *t, int dfd, const char *name,
		  const struct stat *st);

/* overlay_io.c */
void ov_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ov_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi);
void ov_readlink(fuse_req_t req, fuse_ino_t ino);
void ov_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ov_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi);
void ov_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, struct fuse_file_info *fi);
void ov_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ov_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi);
void ov_statfs(fuse_req_t req, fuse_ino_t ino);
void ov_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		  off_t length, struct fuse_file_info *fi);

/* overlay_rename.c */
void ov_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags);

#endif
