/* SPDX-License-Identifier: MIT */
/* manifest-ops DIR [ROUNDS]: the cost of each manifest operation a watch
 * event pays, on the manifest of DIR (scanned once): seal (sort, tree
 * check, root hash), a copy of every entry, diff and apply of a one-entry
 * delta, encode and decode of that delta. Medians in microseconds. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "manifest.h"
#include "scan.h"

#define MAX_ROUNDS 101

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void report(const char *what, int64_t *us, int n)
{
	qsort(us, (size_t)n, sizeof(*us), cmp_i64);
	printf("%-28s p50 %8lld us   max %8lld us\n", what,
	       (long long)us[n / 2], (long long)us[n - 1]);
}

/* A copy of sealed src, with entry `edit` (a file) given a new mtime. */
static int copy_edited(const struct sd_manifest *src, size_t edit,
		       struct sd_manifest *out)
{
	struct sd_entry e;
	int r = 0;

	sd_manifest_init(out);
	out->version = src->version + 1;
	for (size_t i = 0; r == 0 && i < src->count; i++) {
		if (i != edit) {
			r = sd_manifest_add_from(out, src, i, NULL);
			continue;
		}
		e = src->e[i];
		e.mtime_ns += 1000;
		r = sd_manifest_add(out, &e, NULL);
	}
	return r;
}

int main(int argc, char **argv)
{
	struct sd_scan_opts o = { 0 };
	struct sd_scan_stats st;
	struct sd_manifest base, next, applied, dec_m;
	struct sd_delta d, dd;
	struct sd_err why = { 0 };
	int64_t t[7][MAX_ROUNDS], t0;
	int rounds = argc > 2 ? atoi(argv[2]) : 21, r;
	size_t edit = 0, len;
	uint8_t *buf;

	if (argc < 2 || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: manifest-ops DIR [ROUNDS<=%d]\n",
			MAX_ROUNDS);
		return 2;
	}
	if (getenv("MO_MALLOPT")) {
		mallopt(M_MMAP_THRESHOLD, 256 << 20);
		mallopt(M_TRIM_THRESHOLD, 512 << 20);
	}
	sd_cdc_init(&o.cdc, NULL, NULL);
	r = sd_scan(argv[1], &o, &base, &st, &why);
	if (r < 0) {
		fprintf(stderr, "manifest-ops: %s: %s\n", argv[1], why.what);
		return 1;
	}
	base.version = 1;
	for (size_t i = base.count / 2; i < base.count; i++)
		if (base.e[i].type == SD_T_FILE) {
			edit = i;
			break;
		}
	printf("%zu entries; one edited: %s\n", base.count, base.e[edit].path);
	for (int k = 0; k < rounds; k++) {
		t0 = util_now_us();
		r = copy_edited(&base, edit, &next);
		t[0][k] = util_now_us() - t0;
		t0 = util_now_us();
		r = r ? r : sd_manifest_seal(&next, &why);
		t[1][k] = util_now_us() - t0;
		t0 = util_now_us();
		r = r ? r : sd_delta_diff(&base, &next, &d);
		t[2][k] = util_now_us() - t0;
		t0 = util_now_us();
		r = r ? r : sd_delta_encode(&d, &buf, &len);
		t[3][k] = util_now_us() - t0;
		t0 = util_now_us();
		r = r ? r : sd_delta_decode(buf, len, &dd, &why);
		t[4][k] = util_now_us() - t0;
		t0 = util_now_us();
		r = r ? r : sd_delta_apply(&base, &dd, &applied, &why);
		t[5][k] = util_now_us() - t0;
		t0 = util_now_us();
		if (r == 0) {
			uint8_t *mb;
			size_t ml;

			r = sd_manifest_encode(&applied, &mb, &ml);
			if (r == 0) {
				r = sd_manifest_decode(mb, ml, &dec_m, &why);
				free(mb);
				sd_manifest_free(&dec_m);
			}
		}
		t[6][k] = util_now_us() - t0;
		if (r < 0) {
			fprintf(stderr, "manifest-ops: round %d: %s (%s)\n", k,
				strerror(-r), why.what);
			return 1;
		}
		free(buf);
		sd_delta_free(&d);
		sd_delta_free(&dd);
		sd_manifest_free(&next);
		sd_manifest_free(&applied);
	}
	report("copy all + 1 edited", t[0], rounds);
	report("seal (sort, check, root)", t[1], rounds);
	report("diff", t[2], rounds);
	report("delta encode", t[3], rounds);
	report("delta decode", t[4], rounds);
	report("delta apply (node)", t[5], rounds);
	report("full encode + decode", t[6], rounds);
	sd_manifest_free(&base);
	return 0;
}
