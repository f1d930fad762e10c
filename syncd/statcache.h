/* SPDX-License-Identifier: MIT */
/* The scanner's persistent stat cache: for each file of the last scan its
 * path, device, inode, size, mtime, ctime and chunk list, so that a file
 * whose stat is unchanged is not read again. Its file is a hint, never
 * trusted: a damaged one is an empty cache.
 *
 * Format ("TSCA", version 1), little-endian: magic 4, version u32, 0 u32,
 * count u32; then count records: len u32, path (len bytes), dev u64, ino
 * u64, size u64, mtime_ns i64, ctime_ns i64 (0: hash it again), nchunks
 * u32, then nchunks times id (16 bytes) and len u32. */
#ifndef TETHER_STATCACHE_H
#define TETHER_STATCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

#define SD_STATCACHE_HEADER 16u

struct sd_statcache_entry {
	uint64_t key; /* of the path; 0: an empty slot */
	const uint8_t *path;
	uint32_t len;
	uint64_t dev, ino, size;
	int64_t mtime, ctime;
	uint32_t nchunks;
	const uint8_t *chunks; /* nchunks * 20 bytes, as in the file */
};

/* A loaded cache: read-only once parsed, so any number of threads may
 * look things up at once. */
struct sd_statcache {
	uint8_t *buf;
	struct sd_statcache_entry *t; /* open addressing, cap a power of 2 */
	size_t cap, count;
};

/* Parse the n bytes of a cache file in buf, which the cache takes (it is
 * freed here on failure). c is set up on success and left empty on
 * failure. 0, -EINVAL for any damage (bad magic or version, a count or a
 * length past the bytes there, a path over SD_PATH_MAX), -ENOMEM. */
int sd_statcache_parse(struct sd_statcache *c, uint8_t *buf, size_t n);

/* The entry for path, or NULL. */
const struct sd_statcache_entry *
sd_statcache_find(const struct sd_statcache *c, const char *path, size_t len);

/* Chunk i of e. */
struct sd_chunkref sd_statcache_chunk(const struct sd_statcache_entry *e,
				      uint32_t i);

void sd_statcache_free(struct sd_statcache *c);

/* Writing a cache file: the bytes a record takes, then the header and
 * each record written at p, which each returns advanced. */
size_t sd_statcache_record_size(size_t len, uint32_t nchunks);
uint8_t *sd_statcache_put_header(uint8_t *p, uint32_t count);
uint8_t *sd_statcache_put_record(uint8_t *p, const char *path, size_t len,
				 uint64_t dev, uint64_t ino, uint64_t size,
				 int64_t mtime, int64_t ctime,
				 const struct sd_chunkref *chunks,
				 uint32_t nchunks);

#endif
