/* SPDX-License-Identifier: MIT */
/* Unit tests for the chunker: chunks tile the input within their bounds,
 * boundaries are pinned forever, an insertion only disturbs its neighbours,
 * and chunking a file gives what chunking its bytes in memory gives. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cdc.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* n pseudo-random bytes, the same on every host: splitmix64 outputs in
 * little-endian order. */
static uint8_t *random_bytes(size_t n, uint64_t seed)
{
	uint8_t *b = malloc(n ? n : 1);
	uint64_t v = 0;

	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0)
			v = splitmix64(&seed);
		b[i] = (uint8_t)(v >> (8 * (i % 8)));
	}
	return b;
}

static struct sd_cdc make(uint32_t min, uint32_t avg, uint32_t max)
{
	struct sd_cdc_params p = { .min = min, .avg = avg, .max = max };
	struct sd_cdc c;
	struct sd_err why = { { 0 } };

	assert_int_equal(sd_cdc_init(&c, &p, &why), 0);
	return c;
}

/* Chunk n bytes in memory, as a stream would: each cut sees everything
 * that is left. Returns the number of chunks; lens is malloc'd. */
static size_t chunk_mem(const struct sd_cdc *c, const uint8_t *b, size_t n,
			uint32_t **lens)
{
	size_t off = 0, cnt = 0, cap = 0;

	*lens = NULL;
	while (off < n) {
		size_t k = sd_cdc_cut(c, b + off, n - off, true);

		assert_true(k > 0 && k <= n - off);
		if (cnt == cap) {
			cap = cap ? 2 * cap : 64;
			*lens = realloc(*lens, cap * sizeof(**lens));
			assert_non_null(*lens);
		}
		(*lens)[cnt++] = (uint32_t)k;
		off += k;
	}
	return cnt;
}

/* ---- parameters ---- */

static void test_gear_table_is_splitmix(void **state)
{
	uint64_t x = UINT64_C(0x7465746865726364); /* "tethercd" */

	for (int i = 0; i < 256; i++)
		assert_int_equal(sd_cdc_gear[i], splitmix64(&x));
}

static void test_init_defaults(void **state)
{
	struct sd_cdc c;

	assert_int_equal(sd_cdc_init(&c, NULL, NULL), 0);
	assert_int_equal(c.min, 16 * KiB);
	assert_int_equal(c.avg, 64 * KiB);
	assert_int_equal(c.max, 256 * KiB);
	/* Normalization level 2 around log2(64 Ki) = 16 bits. */
	assert_int_equal(__builtin_popcountll(c.mask_s), 18);
	assert_int_equal(__builtin_popcountll(c.mask_l), 14);
	assert_true(c.mask_s & (UINT64_C(1) << 63));
	assert_true(c.mask_l & (UINT64_C(1) << 63));
	/* The smallest and largest accepted sets. */
	make(64, 128, 129);
	make(256 * KiB - 1, 256 * KiB, SD_CDC_MAX_LIMIT);
}

static void test_init_refuses(void **state)
{
	static const struct {
		struct sd_cdc_params p;
		const char *what;
	} bad[] = {
		{ { 32, 64 * KiB, 256 * KiB }, "min 32 is below 64" },
		{ { 0, 64 * KiB, 256 * KiB }, "min 0 is below 64" },
		{ { 16 * KiB, 64 * KiB, 1 * MiB },
		  "max 1048576 is above 524288" },
		{ { 16 * KiB, 60000, 256 * KiB }, "avg 60000 is not a power" },
		{ { 16 * KiB, 0, 256 * KiB }, "avg 0 is not a power" },
		{ { 64 * KiB, 64 * KiB, 256 * KiB }, "min 65536 is not below" },
		{ { 128 * KiB, 64 * KiB, 256 * KiB },
		  "min 131072 is not below" },
		{ { 16 * KiB, 256 * KiB, 256 * KiB },
		  "avg 262144 is not below" },
		{ { 16 * KiB, 64 * KiB, 32 * KiB }, "avg 65536 is not below" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sd_err why = { { 0 } };
		struct sd_cdc c, before;

		memset(&c, 0xa5, sizeof(c));
		before = c;
		assert_int_equal(sd_cdc_init(&c, &bad[i].p, &why), -EINVAL);
		if (!strstr(why.what, bad[i].what))
			fail_msg("params %zu: got '%s', want '%s'", i, why.what,
				 bad[i].what);
		assert_memory_equal(&c, &before, sizeof(c));
		/* why is optional. */
		assert_int_equal(sd_cdc_init(&c, &bad[i].p, NULL), -EINVAL);
	}
}

/* ---- cuts ---- */

static void test_cut_edges(void **state)
{
	struct sd_cdc c = make(16 * KiB, 64 * KiB, 256 * KiB);
	uint8_t *z = calloc(1, 1 * MiB);

	assert_non_null(z);
	assert_int_equal(sd_cdc_cut(&c, z, 0, true), 0);
	assert_int_equal(sd_cdc_cut(&c, z, 0, false), 0);
	assert_int_equal(sd_cdc_cut(&c, z, 1, true), 1);
	assert_int_equal(sd_cdc_cut(&c, z, 16 * KiB, true), 16 * KiB);
	assert_int_equal(sd_cdc_cut(&c, z, 16 * KiB, false), 0);
	/* Zeros never cut: the hash settles on a value with top bits set. */
	assert_int_equal(sd_cdc_cut(&c, z, 256 * KiB - 1, true), 256 * KiB - 1);
	assert_int_equal(sd_cdc_cut(&c, z, 256 * KiB - 1, false), 0);
	assert_int_equal(sd_cdc_cut(&c, z, 256 * KiB, false), 256 * KiB);
	assert_int_equal(sd_cdc_cut(&c, z, 256 * KiB, true), 256 * KiB);
	assert_int_equal(sd_cdc_cut(&c, z, 1 * MiB, false), 256 * KiB);
	free(z);
}

/* A cut depends on the bytes only: never on how much follows it. Less than
 * the cut (without eof) asks for more. */
static void test_cut_ignores_what_follows(void **state)
{
	struct sd_cdc c = make(256, 1 * KiB, 4 * KiB);
	size_t n = 256 * KiB, off = 0, chunks = 0;
	uint8_t *b = random_bytes(n, 7);

	while (n - off > c.max) {
		size_t k = sd_cdc_cut(&c, b + off, n - off, false);

		assert_true(k > c.min && k <= c.max);
		for (size_t m = c.min + 1; m <= c.max + 1; m++) {
			size_t got = sd_cdc_cut(&c, b + off, m, false);

			if (m < k)
				assert_int_equal(got, 0);
			else
				assert_int_equal(got, k);
			if (m >= k)
				assert_int_equal(
					sd_cdc_cut(&c, b + off, m, true), k);
		}
		off += k;
		chunks++;
	}
	assert_true(chunks > 100);
	free(b);
}

static void test_chunks_tile_within_bounds(void **state)
{
	static const struct sd_cdc_params sets[] = {
		{ 16 * KiB, 64 * KiB, 256 * KiB },
		{ 64, 256, 1 * KiB },
		{ 64, 128, 129 },
		{ 2 * KiB, 8 * KiB, 64 * KiB },
		{ 128 * KiB, 256 * KiB, SD_CDC_MAX_LIMIT },
	};
	size_t n = 8 * MiB + 1234;
	uint8_t *b = random_bytes(n, 1);

	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		struct sd_cdc c = make(sets[s].min, sets[s].avg, sets[s].max);
		uint32_t *lens;
		size_t cnt = chunk_mem(&c, b, n, &lens);
		uint64_t sum = 0;

		assert_true(cnt > 1);
		for (size_t i = 0; i < cnt; i++) {
			if (i + 1 < cnt)
				assert_in_range(lens[i], c.min + 1, c.max);
			else
				assert_in_range(lens[i], 1, c.max);
			sum += lens[i];
		}
		assert_int_equal(sum, n);
		free(lens);
	}
	free(b);
}

/* The id of each chunk's id, in order. */
static void ids_digest(const uint8_t *b, const uint32_t *lens, size_t cnt,
		       char hex[SD_ID_HEX])
{
	struct sd_hasher *h = sd_hasher_new();
	struct sd_id id;
	size_t off = 0;

	assert_non_null(h);
	for (size_t i = 0; i < cnt; i++) {
		sd_id_of(&id, b + off, lens[i]);
		sd_hasher_update(h, id.b, sizeof(id.b));
		off += lens[i];
	}
	sd_hasher_final(h, &id);
	sd_hasher_free(h);
	sd_id_hex(&id, hex);
}

/* The id of the lengths, as 32-bit little-endian. */
static void lens_digest(const uint32_t *lens, size_t cnt, char hex[SD_ID_HEX])
{
	struct sd_hasher *h = sd_hasher_new();
	struct sd_id id;

	assert_non_null(h);
	for (size_t i = 0; i < cnt; i++) {
		uint8_t le[4] = { (uint8_t)lens[i], (uint8_t)(lens[i] >> 8),
				  (uint8_t)(lens[i] >> 16),
				  (uint8_t)(lens[i] >> 24) };

		sd_hasher_update(h, le, sizeof(le));
	}
	sd_hasher_final(h, &id);
	sd_hasher_free(h);
	sd_id_hex(&id, hex);
}

/* The boundaries are part of the store format: dedup across versions and
 * hosts needs them fixed. If this fails, the chunker changed: don't. */
static void test_boundaries_are_pinned(void **state)
{
	static const uint32_t want[] = {
		75704, 73822,  65595, 83073, 92405, 65744, 67545, 71213,
		74417, 69053,  74389, 42866, 68402, 94138, 23207, 93305,
		75541, 79213,  76448, 94056, 45319, 66307, 26879, 18230,
		31715, 121867, 66279, 90303, 90356, 79761,
	};
	struct sd_cdc c = make(16 * KiB, 64 * KiB, 256 * KiB);
	size_t n = 2 * MiB;
	uint8_t *b = random_bytes(n, 42);
	char hex[SD_ID_HEX];
	struct sd_id id;
	uint32_t *lens;
	size_t cnt = chunk_mem(&c, b, n, &lens);

	assert_int_equal(cnt, sizeof(want) / sizeof(want[0]));
	assert_memory_equal(lens, want, sizeof(want));
	sd_id_of(&id, b, lens[0]);
	assert_string_equal(sd_id_hex(&id, hex),
			    "be0d2590ba534d179c891cae3f209b89");
	ids_digest(b, lens, cnt, hex);
	assert_string_equal(hex, "d365be6a8b746ba86f728980046e4530");
	free(lens);

	/* Small chunks: thousands of cuts under both masks. */
	c = make(64, 256, 1 * KiB);
	cnt = chunk_mem(&c, b, n, &lens);
	assert_int_equal(cnt, 7220);
	lens_digest(lens, cnt, hex);
	assert_string_equal(hex, "27715fa74c40d16ae6cf75e30bd9f79b");
	free(lens);
	free(b);
}

/* Ids of the chunks of b: malloc'd. */
static size_t chunk_ids(const struct sd_cdc *c, const uint8_t *b, size_t n,
			struct sd_id **ids)
{
	uint32_t *lens;
	size_t cnt = chunk_mem(c, b, n, &lens), off = 0;

	*ids = calloc(cnt ? cnt : 1, sizeof(**ids));
	assert_non_null(*ids);
	for (size_t i = 0; i < cnt; i++) {
		sd_id_of(&(*ids)[i], b + off, lens[i]);
		off += lens[i];
	}
	free(lens);
	return cnt;
}

/* One byte inserted in the middle of a file: the chunks before it stay, and
 * the chunking falls back in step within a chunk or two after it, so a sync
 * sends only the chunks around the change. */
static void test_insert_changes_only_neighbours(void **state)
{
	struct sd_cdc c = make(16 * KiB, 64 * KiB, 256 * KiB);
	size_t n = 4 * MiB, mid = n / 2 + 333;
	uint8_t *a = random_bytes(n, 99), *b = malloc(n + 1);
	struct sd_id *ia, *ib;
	size_t na, nb, pre = 0, suf = 0, fresh = 0;

	assert_non_null(b);
	memcpy(b, a, mid);
	b[mid] = 0x5a;
	memcpy(b + mid + 1, a + mid, n - mid);
	na = chunk_ids(&c, a, n, &ia);
	nb = chunk_ids(&c, b, n + 1, &ib);
	assert_true(na > 30);

	while (pre < na && pre < nb && sd_id_eq(&ia[pre], &ib[pre]))
		pre++;
	while (suf < na - pre && suf < nb - pre &&
	       sd_id_eq(&ia[na - 1 - suf], &ib[nb - 1 - suf]))
		suf++;
	/* Every chunk that ends before the insertion is kept. */
	{
		uint32_t *lens;
		size_t cnt = chunk_mem(&c, a, n, &lens), end = 0, before = 0;

		for (size_t i = 0; i < cnt && end + lens[i] <= mid; i++) {
			end += lens[i];
			before++;
		}
		free(lens);
		assert_true(pre >= before);
	}
	/* At most 3 chunks differ, out of ~60. */
	fresh = nb - pre - suf;
	if (fresh > 3 || na - pre - suf > 3)
		fail_msg("%zu of %zu chunks new, %zu of %zu gone", fresh, nb,
			 na - pre - suf, na);
	assert_true(fresh >= 1);
	free(ia);
	free(ib);
	free(a);
	free(b);
}

static void test_mean_chunk_size(void **state)
{
	static const struct sd_cdc_params sets[] = {
		{ 16 * KiB, 64 * KiB, 256 * KiB },
		{ 2 * KiB, 8 * KiB, 32 * KiB },
	};
	size_t n = 64 * MiB;
	uint8_t *b = random_bytes(n, 2024);

	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		struct sd_cdc c = make(sets[s].min, sets[s].avg, sets[s].max);
		uint32_t *lens;
		size_t cnt = chunk_mem(&c, b, n, &lens);
		double mean = (double)n / (double)cnt;

		if (mean < 0.75 * c.avg || mean > 1.25 * c.avg)
			fail_msg("avg %u: mean chunk %.0f", c.avg, mean);
		free(lens);
	}
	free(b);
}

/* ---- files ---- */

static int temp_file(const uint8_t *b, size_t n)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/test-cdc-XXXXXX", dir ? dir : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	for (size_t off = 0; off < n;) {
		ssize_t k = write(fd, b + off, n - off);

		assert_true(k > 0);
		off += (size_t)k;
	}
	return fd;
}

struct collect {
	uint8_t *data; /* the concatenation of the chunks */
	size_t len, cap;
	uint32_t lens[4096];
	size_t cnt;
	size_t stop_at; /* return 7 from this call on, when not 0 */
};

static int collect_chunk(void *opaque, const uint8_t *data, size_t len)
{
	struct collect *x = opaque;

	if (x->stop_at && x->cnt + 1 == x->stop_at) {
		x->cnt++;
		return 7;
	}
	assert_true(len > 0);
	assert_true(x->cnt < 4096);
	assert_true(len <= x->cap - x->len);
	memcpy(x->data + x->len, data, len);
	x->len += len;
	x->lens[x->cnt++] = (uint32_t)len;
	return 0;
}

static void test_file_matches_memory(void **state)
{
	struct sd_cdc c = make(16 * KiB, 64 * KiB, 256 * KiB);
	const size_t sizes[] = {
		0,
		1,
		16 * KiB - 1,
		16 * KiB,
		16 * KiB + 1,
		64 * KiB,
		256 * KiB,
		256 * KiB + 1,
		4 * MiB - 1,
		4 * MiB,
		4 * MiB + 12345,
		9 * MiB + 7,
	};
	size_t big = 9 * MiB + 7;
	uint8_t *b = random_bytes(big, 5);
	struct collect *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	x->cap = big;
	x->data = malloc(big);
	assert_non_null(x->data);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		/* Right, absent, too small and too large size hints. */
		const uint64_t hints[] = { n, 0, n / 2, 2 * n + 7, 1ull << 40 };
		int fd = temp_file(b, n);
		uint32_t *lens;
		size_t cnt = chunk_mem(&c, b, n, &lens);

		for (size_t h = 0; h < sizeof(hints) / sizeof(hints[0]); h++) {
			x->len = 0;
			x->cnt = 0;
			assert_int_equal(sd_cdc_file(&c, fd, hints[h],
						     collect_chunk, x),
					 0);
			if (x->cnt != cnt || x->len != n)
				fail_msg("size %zu hint %llu: %zu chunks, %zu "
					 "bytes; want %zu, %zu",
					 n, (unsigned long long)hints[h],
					 x->cnt, x->len, cnt, n);
			assert_memory_equal(x->lens, lens, cnt * sizeof(*lens));
			assert_memory_equal(x->data, b, n);
		}
		free(lens);
		close(fd);
	}
	free(x->data);
	free(x);
	free(b);
}

struct check_ids {
	const uint8_t *b;
	size_t off, cnt;
};

static int check_id(void *opaque, const struct sd_chunkref *ref,
		    const uint8_t *data)
{
	struct check_ids *x = opaque;
	struct sd_id id;

	assert_memory_equal(data, x->b + x->off, ref->len);
	sd_id_of(&id, x->b + x->off, ref->len);
	assert_true(sd_id_eq(&id, &ref->id));
	x->off += ref->len;
	x->cnt++;
	return 0;
}

static void test_file_refs(void **state)
{
	struct sd_cdc c = make(16 * KiB, 64 * KiB, 256 * KiB);
	size_t n = 3 * MiB + 17;
	uint8_t *b = random_bytes(n, 11);
	int fd = temp_file(b, n);
	struct check_ids ci = { .b = b };
	struct sd_chunkref *refs = NULL;
	struct sd_id *ids;
	uint32_t nrefs = 0;
	uint64_t size = 0;
	size_t cnt = chunk_ids(&c, b, n, &ids);

	assert_int_equal(sd_cdc_file_refs(&c, fd, n, &refs, &nrefs, &size), 0);
	assert_int_equal(nrefs, cnt);
	assert_int_equal(size, n);
	for (size_t i = 0; i < cnt; i++)
		assert_true(sd_id_eq(&refs[i].id, &ids[i]));
	free(refs);

	assert_int_equal(sd_cdc_file_ids(&c, fd, n, check_id, &ci), 0);
	assert_int_equal(ci.cnt, cnt);
	assert_int_equal(ci.off, n);
	close(fd);

	/* Empty: no chunks, no array. */
	fd = temp_file(b, 0);
	refs = (void *)1;
	assert_int_equal(sd_cdc_file_refs(&c, fd, 0, &refs, &nrefs, &size), 0);
	assert_null(refs);
	assert_int_equal(nrefs, 0);
	assert_int_equal(size, 0);
	close(fd);
	free(ids);
	free(b);
}

static void test_file_callback_stops(void **state)
{
	struct sd_cdc c = make(16 * KiB, 64 * KiB, 256 * KiB);
	size_t n = 2 * MiB;
	uint8_t *b = random_bytes(n, 3);
	int fd = temp_file(b, n);
	struct collect *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	x->cap = n;
	x->data = malloc(n);
	x->stop_at = 2;
	assert_int_equal(sd_cdc_file(&c, fd, n, collect_chunk, x), 7);
	assert_int_equal(x->cnt, 2);
	close(fd);
	free(x->data);
	free(x);
	free(b);
}

static void test_file_errors(void **state)
{
	struct sd_cdc c = make(16 * KiB, 64 * KiB, 256 * KiB);
	struct collect *x = calloc(1, sizeof(*x));
	struct sd_chunkref *refs = (void *)1;
	uint32_t nrefs = 5;
	uint64_t size = 5;
	int p[2], fd;

	assert_non_null(x);
	assert_int_equal(sd_cdc_file(&c, -1, 0, collect_chunk, x), -EBADF);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "abc", 3), 3);
	assert_int_equal(sd_cdc_file(&c, p[0], 0, collect_chunk, x), -ESPIPE);
	assert_int_equal(sd_cdc_file_refs(&c, p[0], 0, &refs, &nrefs, &size),
			 -ESPIPE);
	assert_ptr_equal(refs, (void *)1);
	assert_int_equal(nrefs, 5);
	assert_int_equal(size, 5);
	close(p[0]);
	close(p[1]);
	fd = open(".", O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(sd_cdc_file(&c, fd, 0, collect_chunk, x), -EISDIR);
	close(fd);
	assert_int_equal(x->cnt, 0);
	free(x);
}

struct change {
	struct collect *x;
	int fd;
	const uint8_t *more; /* appended, when not NULL */
	size_t at, n;	     /* the file's size after the change */
};

/* At the first chunk, grow or shrink the file under the reader. */
static int change_chunk(void *opaque, const uint8_t *data, size_t len)
{
	struct change *ch = opaque;

	if (ch->x->cnt == 0) {
		if (ch->more)
			assert_int_equal(pwrite(ch->fd, ch->more,
						ch->n - ch->at, (off_t)ch->at),
					 (ssize_t)(ch->n - ch->at));
		else
			assert_int_equal(ftruncate(ch->fd, (off_t)ch->n), 0);
	}
	return collect_chunk(ch->x, data, len);
}

/* A file that changes size while read is chunked as read returned it: a
 * prefix of what it held, tiled as in memory, no error. */
static void test_file_changes_size(void **state)
{
	struct sd_cdc c = make(16 * KiB, 64 * KiB, 256 * KiB);
	size_t n = 6 * MiB, grown = 9 * MiB, shrunk = 1 * MiB;
	uint8_t *b = random_bytes(grown, 8);
	struct collect *x = calloc(1, sizeof(*x));
	struct change ch = { .x = x };
	uint32_t *lens;
	size_t cnt;

	assert_non_null(x);
	x->cap = grown;
	x->data = malloc(grown);
	assert_non_null(x->data);

	/* Grows from 6 to 9 MiB after the first 4 MiB were read. */
	ch.fd = temp_file(b, n);
	ch.more = b + n;
	ch.at = n;
	ch.n = grown;
	assert_int_equal(sd_cdc_file(&c, ch.fd, n, change_chunk, &ch), 0);
	assert_true(x->len >= n && x->len <= grown);
	assert_memory_equal(x->data, b, x->len);
	cnt = chunk_mem(&c, b, x->len, &lens);
	assert_int_equal(x->cnt, cnt);
	assert_memory_equal(x->lens, lens, cnt * sizeof(*lens));
	free(lens);
	close(ch.fd);

	/* Shrinks from 6 to 1 MiB: what was read before still counts. */
	x->len = 0;
	x->cnt = 0;
	ch.fd = temp_file(b, n);
	ch.more = NULL;
	ch.n = shrunk;
	assert_int_equal(sd_cdc_file(&c, ch.fd, n, change_chunk, &ch), 0);
	assert_true(x->len >= shrunk && x->len <= n);
	assert_memory_equal(x->data, b, x->len);
	cnt = chunk_mem(&c, b, x->len, &lens);
	assert_int_equal(x->cnt, cnt);
	assert_memory_equal(x->lens, lens, cnt * sizeof(*lens));
	free(lens);
	close(ch.fd);
	free(x->data);
	free(x);
	free(b);
}

/* A sparse 2 GiB file reads as zeros, which never cut: 8192 chunks of max
 * bytes, all one id. */
static void test_file_sparse_2g(void **state)
{
	struct sd_cdc c = make(16 * KiB, 64 * KiB, 256 * KiB);
	uint64_t n = UINT64_C(2) << 30, size = 0;
	struct sd_chunkref *refs = NULL;
	uint8_t *z = calloc(1, 256 * KiB);
	uint32_t nrefs = 0;
	struct sd_id id;
	int fd = temp_file(NULL, 0);

	assert_non_null(z);
	assert_int_equal(ftruncate(fd, (off_t)n), 0);
	assert_int_equal(sd_cdc_file_refs(&c, fd, n, &refs, &nrefs, &size), 0);
	assert_int_equal(size, n);
	assert_int_equal(nrefs, n / (256 * KiB));
	sd_id_of(&id, z, 256 * KiB);
	for (uint32_t i = 0; i < nrefs; i++) {
		assert_int_equal(refs[i].len, 256 * KiB);
		assert_true(sd_id_eq(&refs[i].id, &id));
	}
	free(refs);
	free(z);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gear_table_is_splitmix),
		cmocka_unit_test(test_init_defaults),
		cmocka_unit_test(test_init_refuses),
		cmocka_unit_test(test_cut_edges),
		cmocka_unit_test(test_cut_ignores_what_follows),
		cmocka_unit_test(test_chunks_tile_within_bounds),
		cmocka_unit_test(test_boundaries_are_pinned),
		cmocka_unit_test(test_insert_changes_only_neighbours),
		cmocka_unit_test(test_mean_chunk_size),
		cmocka_unit_test(test_file_matches_memory),
		cmocka_unit_test(test_file_refs),
		cmocka_unit_test(test_file_callback_stops),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_file_changes_size),
		cmocka_unit_test(test_file_sparse_2g),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
