/* SPDX-License-Identifier: MIT */
/* The scanner's internals, shared by scan.c (hard links, hashing, the
 * manifest, updates), scan_walk.c (the walk, on every core) and
 * scan_cache.c (the stat cache: what it vouches for, and writing it
 * back). */
#ifndef TETHER_SCAN_INT_H
#define TETHER_SCAN_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "ignore.h"
#include "scan.h"
#include "statcache.h"

/* No item: a name that is ignored, not syncable or gone. */
#define SDN_NONE UINT32_MAX

struct item {
	char *path;
	uint32_t len;
	uint8_t type;
	uint32_t mode;
	uint64_t size;
	int64_t mtime, ctime;
	uint64_t dev, ino, nlink;
	char *target;
	struct sd_chunkref *chunks;
	uint32_t nchunks;
	bool hash, racy;
	int err; /* hashing failed: -errno */
};

/* A directory the walk went through, for the next stat cache: its stat
 * (taken before it was listed) and every name in it, in byte order. */
struct dirrec {
	uint32_t item; /* the directory's; SDN_NONE for the root */
	struct sd_statcache_stat st;
	uint32_t nnames;
	char *names; /* NUL-separated, names_len bytes; NULL when from: */
	size_t names_len;
	const struct sd_statcache_dir *cached;
	uint32_t *kids; /* per name, its item or SDN_NONE */
};

struct scan {
	const struct sd_scan_opts *o;
	int root;
	struct sd_ignore *ig;
	struct item *v;
	size_t n, cap;
	struct dirrec *dirs;
	size_t ndirs, capdirs;
	struct sd_scan_stats *st;
	struct sd_err *why;
	/* the cache as loaded; the walker threads share the main scan's */
	struct sd_statcache cache;
	uint8_t *cache_buf;
	/* files whose chunks, and directories whose names, came from it */
	size_t hits, dir_hits;
	/* hashing */
	size_t *todo, ntodo;
	atomic_size_t next;
	int64_t start_ns;
};

int64_t sdn_ns_of(const struct timespec *t);

/* How close to the scan's start a change may be and still be missed by a
 * stat: a file or directory changed since then is looked at again. */
int64_t sdn_racy_ns(void);

/* A new zeroed item at the end of sc->v, or NULL. */
struct item *sdn_item_new(struct scan *sc);

/* Walk the whole tree from sc->root (entered in sc->ig) into sc->v and
 * sc->dirs, on every core; path is a buffer of SD_PATH_MAX + SD_NAME_MAX
 * + 2 bytes. 0 or -errno with sc->why set. */
int sdn_walk(struct scan *sc, char *path);

/* Going through a directory record's names in order, listed or cached. */
struct sdn_names {
	const char *own;    /* the next listed name, or NULL: */
	const uint8_t *rec; /* the next cached record */
};

struct sdn_names sdn_names_of(const struct dirrec *d);

/* The next of d's names, len bytes (NUL-terminated when listed); for a
 * cached one, its record in *f unless f is NULL. Only d->nnames times. */
const char *sdn_names_next(struct sdn_names *it, size_t *len,
			   struct sd_statcache_name *f);

/* Load sc->o->cache into sc->cache; any problem is an empty cache. */
void sdn_cache_load(struct scan *sc);

/* Take the chunks of the cached file f (NULL: none) for it when its stat
 * is f's. */
bool sdn_cache_reuse(struct item *it, const struct sd_statcache_name *f);

/* Write what this scan saw to sc->o->cache, unless it is what the cache
 * held already. Failures are logged: the cache is only a hint. */
void sdn_cache_save(struct scan *sc);

/* Free the loaded cache and the directory records. */
void sdn_cache_fini(struct scan *sc);

#endif
