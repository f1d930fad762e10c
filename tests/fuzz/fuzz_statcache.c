/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the stat cache file: any bytes must parse safely or
 * be refused as damage (never another error but out of memory), and every
 * record an accepted file holds must be found again by its path, with its
 * chunk list inside the buffer. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "statcache.h"

/* Called by libFuzzer; declared here for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() is the fuzzer's signal for a finding: a parser or lookup bug. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sd_statcache c;
	uint8_t *buf = malloc(size ? size : 1);
	size_t seen = 0;
	int r;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	r = sd_statcache_parse(&c, buf, size); /* takes buf */
	if (r == -ENOMEM)
		return 0;
	if (r != 0) {
		if (r != -EINVAL || c.t || c.buf || c.count)
			abort();
		return 0;
	}
	for (size_t h = 0; h < c.cap; h++) {
		const struct sd_statcache_entry *e = &c.t[h], *f;

		if (!e->key)
			continue;
		seen++;
		if (e->path < c.buf || e->path + e->len > c.buf + size ||
		    e->chunks + (size_t)e->nchunks * 20 > c.buf + size)
			abort();
		f = sd_statcache_find(&c, (const char *)e->path, e->len);
		/* Two records of one path: the first is found for both. */
		if (!f || f->len != e->len || memcmp(f->path, e->path, e->len))
			abort();
		for (uint32_t i = 0; i < e->nchunks; i++)
			(void)sd_statcache_chunk(e, i);
	}
	if (seen != c.count)
		abort();
	sd_statcache_free(&c);
	return 0;
}
