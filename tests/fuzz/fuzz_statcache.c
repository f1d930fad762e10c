/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the stat cache file: any bytes must parse safely or
 * be refused as damage or another version (never another error but out of
 * memory), and every directory an accepted file holds must be found again
 * by its path, with its names in order, each one a name, and each file's
 * chunk list inside the buffer. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "statcache.h"

/* Called by libFuzzer; declared here for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_names(const struct sd_statcache_dir *d, const uint8_t *buf,
			size_t size, size_t *files)
{
	const uint8_t *p = d->names;
	const char *prev = NULL;
	size_t prev_len = 0;

	for (uint32_t i = 0; i < d->nnames; i++) {
		struct sd_statcache_name f;
		size_t k;

		p = sd_statcache_name_next(p, &f);
		if ((const uint8_t *)f.name < buf ||
		    (const uint8_t *)f.name + f.len > buf + size ||
		    p > buf + size || f.len == 0 || f.len > 255 ||
		    memchr(f.name, '/', f.len) || memchr(f.name, 0, f.len))
			abort();
		k = f.len < prev_len ? f.len : prev_len;
		if (prev &&
		    (memcmp(prev, f.name, k) > 0 ||
		     (memcmp(prev, f.name, k) == 0 && prev_len >= f.len)))
			abort();
		prev = f.name;
		prev_len = f.len;
		if (!f.file)
			continue;
		(*files)++;
		if (f.chunks + (size_t)f.nchunks * 20 > buf + size)
			abort();
		for (uint32_t c = 0; c < f.nchunks; c++)
			(void)sd_statcache_chunk(&f, c);
	}
}

/* abort() is the fuzzer's signal for a finding: a parser or lookup bug. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sd_statcache c;
	uint8_t *buf = malloc(size ? size : 1);
	size_t seen = 0, files = 0;
	int r;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	r = sd_statcache_parse(&c, buf, size);
	if (r == -ENOMEM) {
		free(buf);
		return 0;
	}
	if (r != 0) {
		if ((r != -EINVAL && r != -EPROTONOSUPPORT) || c.t || c.ndirs)
			abort();
		free(buf);
		return 0;
	}
	for (size_t h = 0; h < c.cap; h++) {
		const struct sd_statcache_dir *d = &c.t[h], *f;

		if (!d->key)
			continue;
		seen++;
		if (d->path < buf || d->path + d->len > buf + size)
			abort();
		f = sd_statcache_dir_find(&c, (const char *)d->path, d->len);
		/* Two records of one path: the first is found for both. */
		if (!f || f->len != d->len || memcmp(f->path, d->path, d->len))
			abort();
		check_names(d, buf, size, &files);
	}
	if (seen != c.ndirs || files != c.nfiles)
		abort();
	sd_statcache_free(&c);
	free(buf);
	return 0;
}
