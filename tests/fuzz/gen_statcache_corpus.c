/* SPDX-License-Identifier: MIT */
/* Seed corpus for fuzz-statcache: valid cache files (empty, one file, many
 * files with chunks, odd path bytes) written with the writer the scanner
 * uses. Usage: gen-statcache-corpus DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statcache.h"

static int write_seed(const char *dir, const char *name, const uint8_t *p,
		      size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n) {
		perror(path);
		if (f)
			fclose(f);
		return -1;
	}
	return fclose(f);
}

/* n records "f0".."f<n-1>" (path bytes varied), k chunks each. */
static int seed(const char *dir, const char *name, uint32_t n, uint32_t k)
{
	struct sd_chunkref ch[8];
	size_t size = SD_STATCACHE_HEADER;
	uint8_t *buf, *p;
	char path[32];
	int r;

	for (uint32_t c = 0; c < 8; c++) {
		memset(ch[c].id.b, (int)(c * 37 + 1), SD_ID_SIZE);
		ch[c].len = 4096 * (c + 1);
	}
	for (uint32_t i = 0; i < n; i++)
		size += sd_statcache_record_size(
			(size_t)snprintf(path, sizeof(path), "d/f%u\x01\xff",
					 i),
			k);
	buf = malloc(size);
	if (!buf)
		return -1;
	p = sd_statcache_put_header(buf, n);
	for (uint32_t i = 0; i < n; i++) {
		int len = snprintf(path, sizeof(path), "d/f%u\x01\xff", i);

		p = sd_statcache_put_record(p, path, (size_t)len, 2049,
					    1000 + i, 4096ull * k,
					    1700000000000000000ll + i,
					    i % 3 ? 1700000000000000001ll : 0,
					    ch, k);
	}
	r = write_seed(dir, name, buf, (size_t)(p - buf));
	free(buf);
	return r;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen-statcache-corpus DIR\n");
		return 2;
	}
	if (seed(argv[1], "empty", 0, 0) || seed(argv[1], "one", 1, 1) ||
	    seed(argv[1], "many", 40, 3) || seed(argv[1], "nochunks", 5, 0) ||
	    seed(argv[1], "wide", 2, 8))
		return 1;
	return 0;
}
