/* SPDX-License-Identifier: MIT */
/* The scanner's stat cache (statcache.h): loading it, taking a file's
 * chunks from it, and writing what a scan saw back to it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "scan_int.h"
#include "thp.h"

void sdn_cache_load(struct scan *sc)
{
	_cleanup_close_ int fd = -1;
	uint8_t *buf;
	struct stat sb;
	size_t got = 0, n;
	int r;

	if (!sc->o->cache)
		return;
	fd = open(sc->o->cache, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size < SD_STATCACHE_HEADER ||
	    (uint64_t)sb.st_size > SD_ENC_MAX)
		return;
	n = (size_t)sb.st_size;
	buf = malloc(n);
	if (!buf)
		return;
	util_thp_hint(buf, n);
	while (got < n) {
		ssize_t k = read(fd, buf + got, n - got);

		if (k <= 0) {
			free(buf);
			return;
		}
		got += (size_t)k;
	}
	r = sd_statcache_parse(&sc->cache, buf, n);
	if (r < 0) {
		free(buf);
		if (r == -EINVAL)
			log_warn("stat cache %s is damaged: rescanning every "
				 "file",
				 sc->o->cache);
		else if (r == -EPROTONOSUPPORT)
			log_info("stat cache %s is from another version of "
				 "tether: rescanning every file",
				 sc->o->cache);
		return;
	}
	sc->cache_buf = buf;
}

bool sdn_cache_reuse(struct item *it, const struct sd_statcache_name *f)
{
	uint64_t sum = 0;

	if (!f || !f->file || f->st.dev != it->dev || f->st.ino != it->ino ||
	    f->st.size != it->size || f->st.mtime != it->mtime ||
	    f->st.ctime != it->ctime || f->st.ctime == 0)
		return false;
	it->chunks = calloc(f->nchunks ? f->nchunks : 1, sizeof(*it->chunks));
	if (!it->chunks)
		return false;
	for (uint32_t i = 0; i < f->nchunks; i++) {
		it->chunks[i] = sd_statcache_chunk(f, i);
		sum += it->chunks[i].len;
	}
	it->nchunks = f->nchunks;
	if (sum != it->size) {
		free(it->chunks);
		it->chunks = NULL;
		it->nchunks = 0;
		return false;
	}
	return true;
}

/* The item of a file the cache can vouch for next time, or NULL. */
static const struct item *file_of(const struct scan *sc, uint32_t kid)
{
	return kid != SDN_NONE && sc->v[kid].type == SD_T_FILE ? &sc->v[kid]
							       : NULL;
}

static bool is_racy(const struct scan *sc, int64_t mtime, int64_t ctime)
{
	int64_t since = sc->start_ns - sdn_racy_ns();

	return mtime >= since || ctime >= since;
}

/* Whether the cache holds exactly what this scan saw: every directory's
 * names and every file's chunks came from it, it holds nothing else, and
 * nothing is racy. */
static bool unchanged(const struct scan *sc)
{
	size_t nfiles = 0;

	if (sc->dir_hits != sc->ndirs || sc->cache.ndirs != sc->ndirs)
		return false;
	for (size_t i = 0; i < sc->ndirs; i++)
		if (is_racy(sc, sc->dirs[i].st.mtime, sc->dirs[i].st.ctime))
			return false;
	/* (Every item is a name of a directory walked.) */
	for (size_t i = 0; i < sc->n; i++) {
		if (sc->v[i].type != SD_T_FILE)
			continue;
		if (sc->v[i].racy)
			return false;
		nfiles++;
	}
	return sc->hits == nfiles && sc->cache.nfiles == nfiles;
}

/* The bytes the cache file takes. */
static size_t cache_size(const struct scan *sc)
{
	size_t size = SD_STATCACHE_HEADER;

	for (size_t i = 0; i < sc->ndirs; i++) {
		const struct dirrec *d = &sc->dirs[i];
		struct sdn_names it = sdn_names_of(d);

		size += sd_statcache_dir_size(
			d->item == SDN_NONE ? 0 : sc->v[d->item].len);
		for (uint32_t k = 0; k < d->nnames; k++) {
			const struct item *f = file_of(sc, d->kids[k]);
			size_t len;

			sdn_names_next(&it, &len, NULL);
			size += sd_statcache_name_size(len, f != NULL,
						       f ? f->nchunks : 0);
		}
	}
	return size;
}

static uint8_t *put_dir(const struct scan *sc, uint8_t *p,
			const struct dirrec *d)
{
	const struct item *di = d->item == SDN_NONE ? NULL : &sc->v[d->item];
	struct sd_statcache_stat st = d->st;
	struct sdn_names it = sdn_names_of(d);

	/* ctime 0 never matches: a racy directory is listed again, a racy
	 * file read again. */
	if (is_racy(sc, st.mtime, st.ctime))
		st.ctime = 0;
	p = sd_statcache_put_dir(p, di ? di->path : "", di ? di->len : 0, &st,
				 d->nnames);
	for (uint32_t k = 0; k < d->nnames; k++) {
		const struct item *f = file_of(sc, d->kids[k]);
		struct sd_statcache_stat fs;
		size_t len;
		const char *name = sdn_names_next(&it, &len, NULL);

		if (f)
			fs = (struct sd_statcache_stat){
				.dev = f->dev,
				.ino = f->ino,
				.size = f->size,
				.mtime = f->mtime,
				.ctime = f->racy ? 0 : f->ctime,
			};
		p = sd_statcache_put_name(p, name, len, f ? &fs : NULL,
					  f ? f->chunks : NULL,
					  f ? f->nchunks : 0);
	}
	return p;
}

void sdn_cache_save(struct scan *sc)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_close_ int fd = -1;
	size_t size;
	uint8_t *p;

	if (!sc->o->cache || unchanged(sc))
		return;
	size = cache_size(sc);
	buf = malloc(size);
	/* Per process: syncs of one tree at once each write their own. */
	if (!buf ||
	    asprintf(&tmp, "%s.%d.tmp", sc->o->cache, (int)getpid()) < 0)
		return;
	p = sd_statcache_put_header(buf, (uint32_t)sc->ndirs);
	for (size_t i = 0; i < sc->ndirs; i++)
		p = put_dir(sc, p, &sc->dirs[i]);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, size) != (ssize_t)size ||
	    rename(tmp, sc->o->cache) < 0) {
		log_warn("stat cache %s not saved: %s", sc->o->cache,
			 strerror(errno));
		unlink(tmp);
	}
}

void sdn_cache_fini(struct scan *sc)
{
	for (size_t i = 0; i < sc->ndirs; i++) {
		free(sc->dirs[i].names);
		free(sc->dirs[i].kids);
	}
	free(sc->dirs);
	sc->dirs = NULL;
	sc->ndirs = sc->capdirs = 0;
	sd_statcache_free(&sc->cache);
	free(sc->cache_buf);
	sc->cache_buf = NULL;
}
