/* SPDX-License-Identifier: MIT */
/* The stat cache file: parse, look up, write (statcache.h). */
#include "statcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#define CACHE_MAGIC   "TSCA"
#define CACHE_VERSION 2u
/* len, dev, ino, mtime, ctime, nnames */
#define DIR_FIXED 40u
/* len, kind */
#define NAME_FIXED 2u
/* dev, ino, size, mtime, ctime, nchunks */
#define FILE_FIXED  44u
#define CHUNK_BYTES 20u

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

static void insert(struct sd_statcache *c, const struct sd_statcache_dir *d)
{
	size_t h = d->key & (c->cap - 1);

	while (c->t[h].key)
		h = (h + 1) & (c->cap - 1);
	c->t[h] = *d;
}

static const uint8_t *rd_stat(const uint8_t *p, struct sd_statcache_stat *st,
			      bool file)
{
	st->dev = rd(p, 8);
	st->ino = rd(p + 8, 8);
	p += 16;
	st->size = file ? rd(p, 8) : 0;
	p += file ? 8 : 0;
	st->mtime = (int64_t)rd(p, 8);
	st->ctime = (int64_t)rd(p + 8, 8);
	return p + 16;
}

/* Whether name (len bytes) can be one entry of a directory. */
static bool name_ok(const uint8_t *name, size_t len)
{
	return len && memchr(name, '/', len) == NULL &&
	       memchr(name, '\0', len) == NULL &&
	       !(len == 1 && name[0] == '.') &&
	       !(len == 2 && name[0] == '.' && name[1] == '.');
}

int sd_statcache_name_cmp(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c ? c : (al > bl) - (al < bl);
}

/* Check the nnames name records of a directory at buf + *pos, counting
 * the files into *nfiles. */
static int parse_names(const uint8_t *buf, size_t n, size_t *pos,
		       uint32_t nnames, size_t *nfiles)
{
	const uint8_t *prev = NULL;
	size_t prev_len = 0;

	for (uint32_t i = 0; i < nnames; i++) {
		const uint8_t *name;
		size_t len;
		uint8_t kind;
		uint32_t nchunks;

		if (n - *pos < NAME_FIXED)
			return -EINVAL;
		len = buf[*pos];
		if (n - *pos - NAME_FIXED < len)
			return -EINVAL;
		name = buf + *pos + 1;
		kind = buf[*pos + 1 + len];
		*pos += NAME_FIXED + len;
		if (!name_ok(name, len) || kind > 1 ||
		    (prev &&
		     sd_statcache_name_cmp(prev, prev_len, name, len) >= 0))
			return -EINVAL;
		prev = name;
		prev_len = len;
		if (kind == 0)
			continue;
		if (n - *pos < FILE_FIXED)
			return -EINVAL;
		nchunks = (uint32_t)rd(buf + *pos + 40, 4);
		*pos += FILE_FIXED;
		if (nchunks > (n - *pos) / CHUNK_BYTES)
			return -EINVAL;
		*pos += (size_t)nchunks * CHUNK_BYTES;
		(*nfiles)++;
	}
	return 0;
}

int sd_statcache_parse(struct sd_statcache *c, const uint8_t *buf, size_t n)
{
	size_t pos = SD_STATCACHE_HEADER, nfiles = 0;
	uint32_t ndirs;
	int r = -EINVAL;

	*c = (struct sd_statcache){ 0 };
	if (n < SD_STATCACHE_HEADER || memcmp(buf, CACHE_MAGIC, 4))
		goto bad;
	if (rd(buf + 4, 4) != CACHE_VERSION) {
		r = -EPROTONOSUPPORT;
		goto bad;
	}
	ndirs = (uint32_t)rd(buf + 12, 4);
	if (ndirs > (n - SD_STATCACHE_HEADER) / DIR_FIXED)
		goto bad;
	c->cap = 16;
	while (c->cap < 2 * (size_t)ndirs)
		c->cap <<= 1;
	c->t = calloc(c->cap, sizeof(*c->t));
	if (!c->t) {
		r = -ENOMEM;
		goto bad;
	}
	for (uint32_t i = 0; i < ndirs; i++) {
		struct sd_statcache_dir d;

		if (n - pos < DIR_FIXED)
			goto bad;
		d.len = (uint32_t)rd(buf + pos, 4);
		pos += 4;
		if (d.len > SD_PATH_MAX || n - pos < (size_t)d.len + 36)
			goto bad;
		d.path = buf + pos;
		pos = (size_t)(rd_stat(buf + pos + d.len, &d.st, false) - buf);
		d.nnames = (uint32_t)rd(buf + pos, 4);
		pos += 4;
		d.names = buf + pos;
		if (parse_names(buf, n, &pos, d.nnames, &nfiles) < 0)
			goto bad;
		d.key = path_key(d.path, d.len);
		insert(c, &d);
	}
	c->ndirs = ndirs;
	c->nfiles = nfiles;
	return 0;
bad:
	free(c->t);
	*c = (struct sd_statcache){ 0 };
	return r;
}

const struct sd_statcache_dir *
sd_statcache_dir_find(const struct sd_statcache *c, const char *path,
		      size_t len)
{
	uint64_t k;

	if (!c->t)
		return NULL;
	k = path_key(path, len);
	for (size_t h = k & (c->cap - 1); c->t[h].key;
	     h = (h + 1) & (c->cap - 1)) {
		const struct sd_statcache_dir *d = &c->t[h];

		if (d->key == k && d->len == len && !memcmp(d->path, path, len))
			return d;
	}
	return NULL;
}

const uint8_t *sd_statcache_name_next(const uint8_t *p,
				      struct sd_statcache_name *out)
{
	*out = (struct sd_statcache_name){ .name = (const char *)p + 1,
					   .len = p[0] };
	p += 1 + out->len;
	out->file = *p++ == 1;
	if (!out->file)
		return p;
	p = rd_stat(p, &out->st, true);
	out->nchunks = (uint32_t)rd(p, 4);
	out->chunks = p + 4;
	return out->chunks + (size_t)out->nchunks * CHUNK_BYTES;
}

struct sd_chunkref sd_statcache_chunk(const struct sd_statcache_name *f,
				      uint32_t i)
{
	struct sd_chunkref ref;

	memcpy(ref.id.b, f->chunks + CHUNK_BYTES * i, SD_ID_SIZE);
	ref.len = (uint32_t)rd(f->chunks + CHUNK_BYTES * i + SD_ID_SIZE, 4);
	return ref;
}

void sd_statcache_free(struct sd_statcache *c)
{
	free(c->t);
	*c = (struct sd_statcache){ 0 };
}

static uint8_t *put(uint8_t *p, uint64_t v, unsigned w)
{
	for (unsigned i = 0; i < w; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + w;
}

static uint8_t *put_stat(uint8_t *p, const struct sd_statcache_stat *st,
			 bool file)
{
	p = put(p, st->dev, 8);
	p = put(p, st->ino, 8);
	if (file)
		p = put(p, st->size, 8);
	p = put(p, (uint64_t)st->mtime, 8);
	return put(p, (uint64_t)st->ctime, 8);
}

size_t sd_statcache_dir_size(size_t len)
{
	return DIR_FIXED + len;
}

size_t sd_statcache_name_size(size_t len, bool file, uint32_t nchunks)
{
	return NAME_FIXED + len +
	       (file ? FILE_FIXED + (size_t)nchunks * CHUNK_BYTES : 0);
}

uint8_t *sd_statcache_put_header(uint8_t *p, uint32_t ndirs)
{
	memcpy(p, CACHE_MAGIC, 4);
	p = put(p + 4, CACHE_VERSION, 4);
	p = put(p, 0, 4);
	return put(p, ndirs, 4);
}

uint8_t *sd_statcache_put_dir(uint8_t *p, const char *path, size_t len,
			      const struct sd_statcache_stat *st,
			      uint32_t nnames)
{
	p = put(p, len, 4);
	memcpy(p, path, len);
	p = put_stat(p + len, st, false);
	return put(p, nnames, 4);
}

uint8_t *sd_statcache_put_name(uint8_t *p, const char *name, size_t len,
			       const struct sd_statcache_stat *st,
			       const struct sd_chunkref *chunks,
			       uint32_t nchunks)
{
	*p++ = (uint8_t)len;
	memcpy(p, name, len);
	p += len;
	*p++ = st != NULL;
	if (!st)
		return p;
	p = put_stat(p, st, true);
	p = put(p, nchunks, 4);
	for (uint32_t c = 0; c < nchunks; c++) {
		memcpy(p, chunks[c].id.b, SD_ID_SIZE);
		p = put(p + SD_ID_SIZE, chunks[c].len, 4);
	}
	return p;
}
