/* SPDX-License-Identifier: MIT */
/* Unit tests for the chunk codec: round trips at several levels, raw
 * fallback for data that does not compress, and a decoder that produces
 * exactly the expected size or refuses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zstd.h>

#include "zchunk.h"

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

/* Source-like text: compresses well. */
static void fill_text(uint8_t *p, size_t n)
{
	static const char line[] = "static int foo(struct bar *b) { return "
				   "b->baz + 42; }\n";

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)line[i % (sizeof(line) - 1)];
}

static int setup(void **state)
{
	struct sd_zctx *z = calloc(1, sizeof(*z));

	if (!z || sd_zctx_init(z) < 0)
		return -1;
	*state = z;
	return 0;
}

static int teardown(void **state)
{
	sd_zctx_fini(*state);
	free(*state);
	return 0;
}

static void round_trip(struct sd_zctx *z, int level, const uint8_t *src,
		       size_t n, uint8_t want_flag)
{
	uint8_t *c = malloc(n ? n : 1), *d = malloc(n ? n : 1);
	size_t clen = 12345;
	uint8_t flag = 99;

	assert_non_null(c);
	assert_non_null(d);
	assert_int_equal(sd_z_compress(z, level, src, n, c, n, &clen, &flag),
			 0);
	assert_int_equal(flag, want_flag);
	if (flag == SD_Z_RAW)
		assert_int_equal(clen, n);
	else
		assert_true(clen <= n - n / 32);
	assert_int_equal(sd_z_decompress(z, flag, c, clen, d, n), 0);
	assert_memory_equal(d, src, n);
	free(c);
	free(d);
}

static void test_text_compresses_and_round_trips(void **state)
{
	uint8_t *src = malloc(SD_CHUNK_MAX);

	fill_text(src, SD_CHUNK_MAX);
	round_trip(*state, SD_Z_LEVEL_DEFAULT, src, SD_CHUNK_MAX, SD_Z_ZSTD);
	round_trip(*state, SD_Z_LEVEL_DEFAULT, src, 4096, SD_Z_ZSTD);
	round_trip(*state, 19, src, 65536, SD_Z_ZSTD);
	free(src);
}

static void test_negative_level(void **state)
{
	uint8_t *src = malloc(65536);

	assert_int_equal(sd_z_level_check(-5), 0);
	fill_text(src, 65536);
	round_trip(*state, -5, src, 65536, SD_Z_ZSTD);
	free(src);
}

static void test_incompressible_kept_raw(void **state)
{
	uint8_t *src = malloc(SD_CHUNK_MAX);

	fill_random(src, SD_CHUNK_MAX, 1);
	round_trip(*state, SD_Z_LEVEL_DEFAULT, src, SD_CHUNK_MAX, SD_Z_RAW);
	round_trip(*state, SD_Z_LEVEL_DEFAULT, src, 100, SD_Z_RAW);
	free(src);
}

/* Saving less than n/32 is not worth a decode on every read. */
static void test_marginal_gain_kept_raw(void **state)
{
	size_t n = 65536, clen;
	uint8_t *src = malloc(n), *c = malloc(n);
	uint8_t flag;

	/* Runs of zeros in random bytes: zstd saves ~2.7% (1783 bytes),
	 * under the 2048 that n / 32 asks for. */
	fill_random(src, n, 7);
	for (size_t i = 0; i < n; i += 4096)
		memset(src + i, 0, 120);
	assert_int_equal(sd_z_compress(*state, 1, src, n, c, n, &clen, &flag),
			 0);
	assert_int_equal(flag, SD_Z_RAW);
	assert_int_equal(clen, n);
	free(src);
	free(c);
}

static void test_empty_chunk_is_raw(void **state)
{
	uint8_t c[1], d[1];
	size_t clen = 7;
	uint8_t flag = 9;

	assert_int_equal(sd_z_compress(*state, 1, "", 0, c, 0, &clen, &flag),
			 0);
	assert_int_equal(flag, SD_Z_RAW);
	assert_int_equal(clen, 0);
	assert_int_equal(sd_z_decompress(*state, SD_Z_RAW, c, 0, d, 0), 0);
	/* zstd bytes for an empty chunk are never produced: refuse. */
	assert_int_equal(sd_z_decompress(*state, SD_Z_ZSTD, c, 0, d, 0),
			 -EBADMSG);
}

static void test_compress_argument_errors(void **state)
{
	uint8_t *src = calloc(1, SD_CHUNK_MAX + 1);
	uint8_t *dst = malloc(SD_CHUNK_MAX + 1);
	size_t clen;
	uint8_t flag;

	assert_int_equal(sd_z_compress(*state, 1, src, SD_CHUNK_MAX + 1, dst,
				       SD_CHUNK_MAX + 1, &clen, &flag),
			 -EMSGSIZE);
	assert_int_equal(sd_z_compress(*state, 1, src, 1000, dst, 999, &clen,
				       &flag),
			 -ENOBUFS);
	assert_int_equal(sd_z_compress(*state, ZSTD_maxCLevel() + 1, src, 1000,
				       dst, 1000, &clen, &flag),
			 -EINVAL);
	assert_int_equal(sd_z_level_check(ZSTD_minCLevel() - 1), -EINVAL);
	free(src);
	free(dst);
}

/* The decoder must produce exactly raw_len bytes and never write past
 * them, whatever the frame says about its own size. */
static void test_decompress_exact_size(void **state)
{
	size_t n = 8192, clen;
	uint8_t *src = malloc(n), *c = malloc(n), *d = malloc(n + 64);
	uint8_t flag;

	fill_text(src, n);
	assert_int_equal(sd_z_compress(*state, 1, src, n, c, n, &clen, &flag),
			 0);
	assert_int_equal(flag, SD_Z_ZSTD);

	/* Asked for less than the frame holds: refused, bounded. */
	memset(d, 0xa5, n + 64);
	assert_int_equal(sd_z_decompress(*state, flag, c, clen, d, 100),
			 -EBADMSG);
	for (size_t i = 100; i < n + 64; i++)
		assert_int_equal(d[i], 0xa5);
	/* Asked for more: refused. */
	assert_int_equal(sd_z_decompress(*state, flag, c, clen, d, n + 1),
			 -EBADMSG);
	/* Raw with a length that disagrees: refused. */
	assert_int_equal(sd_z_decompress(*state, SD_Z_RAW, src, 10, d, 11),
			 -EBADMSG);
	/* Unknown flag, cap. */
	assert_int_equal(sd_z_decompress(*state, 2, c, clen, d, n), -EBADMSG);
	assert_int_equal(sd_z_decompress(*state, SD_Z_RAW, c, 0, d,
					 SD_CHUNK_MAX + 1),
			 -EMSGSIZE);
	/* And the context still works after all those refusals. */
	assert_int_equal(sd_z_decompress(*state, flag, c, clen, d, n), 0);
	assert_memory_equal(d, src, n);
	free(src);
	free(c);
	free(d);
}

static void test_decompress_corrupt(void **state)
{
	size_t n = 65536, clen;
	uint8_t *src = malloc(n), *c = malloc(n), *d = malloc(n);
	uint8_t flag;

	fill_text(src, n);
	assert_int_equal(sd_z_compress(*state, 1, src, n, c, n, &clen, &flag),
			 0);
	/* Truncated frame. */
	assert_int_equal(sd_z_decompress(*state, flag, c, clen - 1, d, n),
			 -EBADMSG);
	/* Not zstd at all. */
	fill_random(c, 64, 3);
	assert_int_equal(sd_z_decompress(*state, flag, c, 64, d, n), -EBADMSG);
	free(src);
	free(c);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_compresses_and_round_trips),
		cmocka_unit_test(test_negative_level),
		cmocka_unit_test(test_incompressible_kept_raw),
		cmocka_unit_test(test_marginal_gain_kept_raw),
		cmocka_unit_test(test_empty_chunk_is_raw),
		cmocka_unit_test(test_compress_argument_errors),
		cmocka_unit_test(test_decompress_exact_size),
		cmocka_unit_test(test_decompress_corrupt),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
