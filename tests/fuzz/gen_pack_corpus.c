/* SPDX-License-Identifier: MIT */
/* Writes a few valid chunk packs (raw, zstd, empty and repeated chunks) into
 * the directory given as argv[1]: the seed corpus for fuzz_pack. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack.h"

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static void fill_text(uint8_t *p, size_t n)
{
	static const char line[] = "int main(void) { return 0; }\n";

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)line[i % (sizeof(line) - 1)];
}

static int write_pack(const char *dir, const char *name,
		      const struct sd_pack_writer *w)
{
	char path[4096];
	FILE *f;
	int r = 0;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "wbx");
	if (!f || (w->len && fwrite(w->buf, 1, w->len, f) != w->len))
		r = -errno;
	if (f && fclose(f) != 0 && r == 0)
		r = -errno;
	if (r < 0)
		fprintf(stderr, "gen_pack_corpus: %s: %s\n", path,
			strerror(-r));
	return r;
}

int main(int argc, char **argv)
{
	static uint8_t text[8192], rnd[2048];
	struct sd_pack_writer w;
	struct sd_zctx z;
	int r = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_pack_corpus DIR\n");
		return 2;
	}
	if (sd_zctx_init(&z) < 0)
		return 1;
	fill_text(text, sizeof(text));
	fill_random(rnd, sizeof(rnd), 1);
	sd_pack_writer_init(&w, 1u << 20);

	if (sd_pack_add(&w, &z, 1, text, sizeof(text), NULL) < 0)
		r = -1;
	r = r ? r : write_pack(argv[1], "one-zstd", &w);

	sd_pack_writer_reset(&w);
	if (sd_pack_add(&w, &z, 1, rnd, sizeof(rnd), NULL) < 0)
		r = -1;
	r = r ? r : write_pack(argv[1], "one-raw", &w);

	sd_pack_writer_reset(&w);
	if (sd_pack_add(&w, &z, 1, "", 0, NULL) < 0)
		r = -1;
	r = r ? r : write_pack(argv[1], "empty-chunk", &w);

	/* Several of each, a repeat, and a strong level. */
	sd_pack_writer_reset(&w);
	if (sd_pack_add(&w, &z, 1, text, 3000, NULL) < 0 ||
	    sd_pack_add(&w, &z, 1, rnd, 500, NULL) < 0 ||
	    sd_pack_add(&w, &z, 1, "", 0, NULL) < 0 ||
	    sd_pack_add(&w, &z, 19, text + 5, 6000, NULL) < 0 ||
	    sd_pack_add(&w, &z, -3, text + 7, 4000, NULL) < 0 ||
	    sd_pack_add(&w, &z, 1, text, 3000, NULL) < 0)
		r = -1;
	r = r ? r : write_pack(argv[1], "mixed", &w);

	sd_pack_writer_fini(&w);
	sd_zctx_fini(&z);
	if (r == -1)
		fprintf(stderr, "gen_pack_corpus: building a pack failed\n");
	return r ? 1 : 0;
}
