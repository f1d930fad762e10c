/* SPDX-License-Identifier: MIT */
/* Seed corpus for fuzz-statcache: valid cache files (empty, one directory
 * with one file, many directories of files with chunks, odd name bytes)
 * written with the writer the scanner uses. Usage: gen-statcache-corpus
 * DIR */
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

/* Name i of a directory: in increasing order, odd bytes included. */
static int name_of(char *buf, size_t cap, uint32_t i)
{
	return snprintf(buf, cap, "f%04u\x01\xff", i);
}

/* nd directories "" and "d1".."d<nd-1>", each with n names, every other
 * one a file of k chunks. */
static int seed(const char *dir, const char *name, uint32_t nd, uint32_t n,
		uint32_t k)
{
	struct sd_statcache_stat st = { 2049, 1000, 0, 1700000000000000000ll,
					1700000000000000001ll };
	struct sd_chunkref ch[8];
	size_t size = SD_STATCACHE_HEADER;
	char path[32], nm[32];
	uint8_t *buf, *p;
	int r;

	for (uint32_t c = 0; c < 8; c++) {
		memset(ch[c].id.b, (int)(c * 37 + 1), SD_ID_SIZE);
		ch[c].len = 4096 * (c + 1);
	}
	for (uint32_t d = 0; d < nd; d++) {
		size += sd_statcache_dir_size(
			d ? (size_t)snprintf(path, sizeof(path), "d%u", d) : 0);
		for (uint32_t i = 0; i < n; i++)
			size += sd_statcache_name_size(
				(size_t)name_of(nm, sizeof(nm), i), i % 2 == 0,
				k);
	}
	buf = malloc(size);
	if (!buf)
		return -1;
	p = sd_statcache_put_header(buf, nd);
	for (uint32_t d = 0; d < nd; d++) {
		int len = d ? snprintf(path, sizeof(path), "d%u", d) : 0;

		st.ino = 500 + d;
		st.ctime = d % 3 ? 1700000000000000001ll : 0;
		p = sd_statcache_put_dir(p, path, (size_t)len, &st, n);
		for (uint32_t i = 0; i < n; i++) {
			struct sd_statcache_stat fs = st;
			int nl = name_of(nm, sizeof(nm), i);

			fs.ino = 1000 + i;
			fs.size = 4096ull * k;
			p = sd_statcache_put_name(p, nm, (size_t)nl,
						  i % 2 == 0 ? &fs : NULL, ch,
						  k);
		}
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
	if (seed(argv[1], "empty", 0, 0, 0) || seed(argv[1], "one", 1, 1, 1) ||
	    seed(argv[1], "many", 6, 40, 3) ||
	    seed(argv[1], "nochunks", 2, 5, 0) ||
	    seed(argv[1], "wide", 2, 2, 8))
		return 1;
	return 0;
}
