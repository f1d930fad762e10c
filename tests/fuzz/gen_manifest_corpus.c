/* SPDX-License-Identifier: MIT */
/* Writes valid manifest and delta encodings into the directory given as
 * argv[1]: the seed corpus for fuzz_manifest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "manifest_fixture.h"

static int write_seed(const char *dir, const char *name, unsigned i,
		      const uint8_t *buf, size_t len)
{
	char path[4096];
	FILE *f;
	int r = 0;

	if (snprintf(path, sizeof(path), "%s/%s-%u", dir, name, i) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "wbx");
	if (!f || fwrite(buf, 1, len, f) != len)
		r = -errno;
	if (f && fclose(f) != 0 && r == 0)
		r = -errno;
	if (r < 0)
		fprintf(stderr, "gen_manifest_corpus: %s: %s\n", path,
			strerror(-r));
	return r;
}

static int seed_delta(const char *dir, unsigned i, const struct sd_manifest *a,
		      const struct sd_manifest *b)
{
	struct sd_delta d;
	uint8_t *buf;
	size_t len;
	int r;

	r = sd_delta_diff(a, b, &d);
	if (r == 0)
		r = sd_delta_encode(&d, &buf, &len);
	if (r == 0) {
		r = write_seed(dir, "delta", i, buf, len);
		free(buf);
	}
	sd_delta_free(&d);
	return r;
}

int main(int argc, char **argv)
{
	struct sd_manifest m[FUZZ_VARIANTS], empty;
	unsigned i, n = 0;
	uint8_t *buf;
	size_t len;
	int r = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: gen-manifest-corpus DIR\n");
		return 2;
	}
	sd_manifest_init(&empty);
	for (i = 0; i < FUZZ_VARIANTS && r == 0; i++, n++)
		r = fuzz_manifest_variant(&m[i], i);
	/* Each manifest; deltas from the base to each variant (what the
	 * fuzzer applies to), from the empty tree, and between variants. */
	for (i = 0; i < n && r == 0; i++) {
		r = sd_manifest_encode(&m[i], &buf, &len);
		if (r == 0) {
			r = write_seed(argv[1], "manifest", i, buf, len);
			free(buf);
		}
	}
	if (r == 0)
		r = sd_manifest_encode(&empty, &buf, &len);
	if (r == 0) {
		r = write_seed(argv[1], "manifest", n, buf, len);
		free(buf);
	}
	for (i = 1; i < n && r == 0; i++)
		r = seed_delta(argv[1], i, &m[0], &m[i]);
	if (r == 0)
		r = seed_delta(argv[1], n, &empty, &m[0]);
	for (i = 2; i < n && r == 0; i++)
		r = seed_delta(argv[1], n + i, &m[i - 1], &m[i]);
	while (n--)
		sd_manifest_free(&m[n]);
	if (r < 0) {
		fprintf(stderr, "gen_manifest_corpus: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
