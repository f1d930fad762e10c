/* SPDX-License-Identifier: MIT */
/* The stat cache file: parse, look up, write (statcache.h). */
#include "statcache.h"

#include "thp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#define CACHE_MAGIC   "TSCA"
#define CACHE_VERSION 1u
/* len, dev, ino, size, mtime, ctime, nchunks */
#define RECORD_FIXED 48u
#define CHUNK_BYTES  20u

static uint64_t rd(const uint8_t *p, unsigned w)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < w; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint64_t path_key(const void *p, size_t n)
{
	uint64_t k = XXH3_64bits(p, n);

	return k ? k : 1;
}

static void insert(struct sd_statcache *c, const struct sd_statcache_entry *e)
{
	size_t h = e->key & (c->cap - 1);

	while (c->t[h].key)
		h = (h + 1) & (c->cap - 1);
	c->t[h] = *e;
}

int sd_statcache_parse(struct sd_statcache *c, uint8_t *buf, size_t n)
{
	size_t pos = SD_STATCACHE_HEADER;
	uint32_t count;
	int r = -EINVAL;

	*c = (struct sd_statcache){ 0 };
	if (n < SD_STATCACHE_HEADER || memcmp(buf, CACHE_MAGIC, 4) ||
	    rd(buf + 4, 4) != CACHE_VERSION)
		goto bad;
	count = (uint32_t)rd(buf + 12, 4);
	if (count > (n - SD_STATCACHE_HEADER) / RECORD_FIXED)
		goto bad;
	c->cap = 16;
	while (c->cap < 2 * (size_t)count)
		c->cap <<= 1;
	c->t = calloc(c->cap, sizeof(*c->t));
	if (!c->t) {
		r = -ENOMEM;
		goto bad;
	}
	util_thp_hint(c->t, c->cap * sizeof(*c->t));
	for (uint32_t i = 0; i < count; i++) {
		struct sd_statcache_entry e;

		if (n - pos < 4)
			goto bad;
		e.len = (uint32_t)rd(buf + pos, 4);
		pos += 4;
		if (e.len > SD_PATH_MAX || n - pos < (size_t)e.len + 44)
			goto bad;
		e.path = buf + pos;
		pos += e.len;
		e.dev = rd(buf + pos, 8);
		e.ino = rd(buf + pos + 8, 8);
		e.size = rd(buf + pos + 16, 8);
		e.mtime = (int64_t)rd(buf + pos + 24, 8);
		e.ctime = (int64_t)rd(buf + pos + 32, 8);
		e.nchunks = (uint32_t)rd(buf + pos + 40, 4);
		pos += 44;
		if (e.nchunks > (n - pos) / CHUNK_BYTES)
			goto bad;
		e.chunks = buf + pos;
		pos += (size_t)e.nchunks * CHUNK_BYTES;
		e.key = path_key(e.path, e.len);
		insert(c, &e);
	}
	c->buf = buf;
	c->count = count;
	return 0;
bad:
	free(c->t);
	free(buf);
	*c = (struct sd_statcache){ 0 };
	return r;
}

const struct sd_statcache_entry *sd_statcache_find(const struct sd_statcache *c,
						   const char *path, size_t len)
{
	uint64_t k;

	if (!c->t)
		return NULL;
	k = path_key(path, len);
	for (size_t h = k & (c->cap - 1); c->t[h].key;
	     h = (h + 1) & (c->cap - 1)) {
		const struct sd_statcache_entry *e = &c->t[h];

		if (e->key == k && e->len == len && !memcmp(e->path, path, len))
			return e;
	}
	return NULL;
}

struct sd_chunkref sd_statcache_chunk(const struct sd_statcache_entry *e,
				      uint32_t i)
{
	struct sd_chunkref ref;

	memcpy(ref.id.b, e->chunks + CHUNK_BYTES * i, SD_ID_SIZE);
	ref.len = (uint32_t)rd(e->chunks + CHUNK_BYTES * i + SD_ID_SIZE, 4);
	return ref;
}

void sd_statcache_free(struct sd_statcache *c)
{
	free(c->t);
	free(c->buf);
	*c = (struct sd_statcache){ 0 };
}

static uint8_t *put(uint8_t *p, uint64_t v, unsigned w)
{
	for (unsigned i = 0; i < w; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + w;
}

size_t sd_statcache_record_size(size_t len, uint32_t nchunks)
{
	return RECORD_FIXED + len + (size_t)nchunks * CHUNK_BYTES;
}

uint8_t *sd_statcache_put_header(uint8_t *p, uint32_t count)
{
	memcpy(p, CACHE_MAGIC, 4);
	p = put(p + 4, CACHE_VERSION, 4);
	p = put(p, 0, 4);
	return put(p, count, 4);
}

uint8_t *sd_statcache_put_record(uint8_t *p, const char *path, size_t len,
				 uint64_t dev, uint64_t ino, uint64_t size,
				 int64_t mtime, int64_t ctime,
				 const struct sd_chunkref *chunks,
				 uint32_t nchunks)
{
	p = put(p, len, 4);
	memcpy(p, path, len);
	p += len;
	p = put(p, dev, 8);
	p = put(p, ino, 8);
	p = put(p, size, 8);
	p = put(p, (uint64_t)mtime, 8);
	p = put(p, (uint64_t)ctime, 8);
	p = put(p, nchunks, 4);
	for (uint32_t c = 0; c < nchunks; c++) {
		memcpy(p, chunks[c].id.b, SD_ID_SIZE);
		p = put(p + SD_ID_SIZE, chunks[c].len, 4);
	}
	return p;
}
