/* SPDX-License-Identifier: MIT */
/* The scanner's persistent stat cache: for each directory of the last scan
 * its path, device, inode, mtime, ctime and every name in it (ignored ones
 * too), and for each regular file among them its device, inode, size,
 * mtime, ctime and chunk list. A directory whose stat is unchanged is not
 * listed again, and a file whose stat is unchanged is not read again. Its
 * file is a hint, never trusted: a damaged one is an empty cache.
 *
 * Format ("TSCA", version 2), little-endian: magic 4, version u32, 0 u32,
 * ndirs u32; then ndirs directory records: len u32, path (len bytes, none
 * for the root), dev u64, ino u64, mtime_ns i64, ctime_ns i64 (0: list it
 * again), nnames u32; then nnames name records, in strictly increasing
 * byte order: len u8, name (1 to 255 bytes, no '/' or NUL, not "." or
 * ".."), kind u8 (0: a name only, 1: a file); a file goes on with dev
 * u64, ino u64, size u64, mtime_ns i64, ctime_ns i64 (0: read it again),
 * nchunks u32, then nchunks times id (16 bytes) and len u32. */
#ifndef TETHER_STATCACHE_H
#define TETHER_STATCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

#define SD_STATCACHE_HEADER 16u

/* What a scan saw of a directory (size 0) or a file. */
struct sd_statcache_stat {
	uint64_t dev, ino, size;
	int64_t mtime, ctime;
};

/* A directory of a loaded cache; its strings point into the file's bytes. */
struct sd_statcache_dir {
	uint64_t key; /* of the path; 0: an empty slot */
	const uint8_t *path;
	uint32_t len;
	struct sd_statcache_stat st;
	uint32_t nnames;
	const uint8_t *names; /* its first name record */
};

/* One name of a directory, read from its record. */
struct sd_statcache_name {
	const char *name; /* len bytes, not NUL-terminated */
	uint32_t len;
	bool file; /* when not, the rest is zero */
	struct sd_statcache_stat st;
	uint32_t nchunks;
	const uint8_t *chunks; /* nchunks * 20 bytes, as in the file */
};

/* A loaded cache: read-only once parsed, so any number of threads may
 * look things up at once. */
struct sd_statcache {
	struct sd_statcache_dir *t; /* open addressing, cap a power of 2 */
	size_t cap, ndirs, nfiles;
};

/* Parse the n bytes of a cache file at buf, which stays the caller's and
 * must outlive c. c is set up on success and left empty on failure. 0,
 * -EPROTONOSUPPORT for another version of the format, -EINVAL for any
 * damage (bad magic, a count or a length past the bytes there, a path
 * over SD_PATH_MAX, a name that is not one, names out of order), or
 * -ENOMEM. */
int sd_statcache_parse(struct sd_statcache *c, const uint8_t *buf, size_t n);

/* The directory at path ("" and 0 for the root), or NULL. */
const struct sd_statcache_dir *
sd_statcache_dir_find(const struct sd_statcache *c, const char *path,
		      size_t len);

/* Read the name record at p (a directory's names, or what the previous
 * call returned) into *out; returns the record after it. Only for a
 * directory's first nnames records, which sd_statcache_parse checked. */
const uint8_t *sd_statcache_name_next(const uint8_t *p,
				      struct sd_statcache_name *out);

/* The order of a directory's names: bytes, a prefix first. <0, 0, >0. */
int sd_statcache_name_cmp(const void *a, size_t al, const void *b, size_t bl);

/* Chunk i of a file's record. */
struct sd_chunkref sd_statcache_chunk(const struct sd_statcache_name *f,
				      uint32_t i);

void sd_statcache_free(struct sd_statcache *c);

/* Writing a cache file: the bytes each record takes, then the header and
 * the records written at p, each call returning p advanced. A directory's
 * record is followed by its nnames name records, in increasing order. */
size_t sd_statcache_dir_size(size_t len);
size_t sd_statcache_name_size(size_t len, bool file, uint32_t nchunks);
uint8_t *sd_statcache_put_header(uint8_t *p, uint32_t ndirs);
uint8_t *sd_statcache_put_dir(uint8_t *p, const char *path, size_t len,
			      const struct sd_statcache_stat *st,
			      uint32_t nnames);
/* st NULL: a name only (chunks unused). */
uint8_t *sd_statcache_put_name(uint8_t *p, const char *name, size_t len,
			       const struct sd_statcache_stat *st,
			       const struct sd_chunkref *chunks,
			       uint32_t nchunks);

#endif
