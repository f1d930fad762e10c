/* SPDX-License-Identifier: MIT */
/* Unit tests for the chunk store's puts and gets: round trips, dedup,
 * incompressible chunks kept raw, the stored form forwarded to another
 * store, refusal of a batch with a bad chunk, pack rolling, a second open,
 * concurrent puts, and a full disk. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cmocka.h>

#include "pack.h"
#include "store.h"
#include "store_fixture.h"

static void test_round_trip(void **state)
{
	static const uint32_t seeds[] = { 1, 2, 3 };
	char *dir = tmpdir();
	struct sd_store_stats st;
	struct sd_pack_writer w;
	struct sd_err why;
	struct sd_id ids[3], absent = { { 0xee } };
	uint8_t small[10];
	struct sd_store *s = open_ok(dir);
	size_t raw_len;

	build(&w, seeds, 3, 70000, true, ids);
	assert_int_equal(put(s, &w), 3);
	for (int i = 0; i < 3; i++)
		check_get(s, seeds[i], 70000, true);
	sd_store_stats(s, &st);
	assert_int_equal(st.chunks, 3);
	assert_int_equal(st.raw_bytes, 3 * 70000);
	assert_true(st.stored_bytes < st.raw_bytes / 2);
	assert_int_equal(st.packs, 1);

	/* Everything already held: nothing new. */
	assert_int_equal(put(s, &w), 0);
	assert_int_equal(fsize(path(dir, "index")), IDX_HDR + 3 * IDX_REC);

	assert_false(sd_store_has(s, &absent));
	assert_int_equal(sd_store_get(s, &absent, small, 10, &raw_len, &why),
			 -ENOENT);
	assert_non_null(strstr(why.what, "not in the store"));
	assert_int_equal(sd_store_get(s, &ids[0], small, 10, &raw_len, &why),
			 -ENOBUFS);
	assert_int_equal(raw_len, 70000);

	/* An empty batch and an empty chunk. */
	assert_int_equal(sd_store_put_batch(s, "", 0, &why), 0);
	sd_pack_writer_fini(&w);
	build(&w, seeds, 1, 0, false, NULL);
	assert_int_equal(put(s, &w), 1);
	check_get(s, 1, 0, false);

	sd_pack_writer_fini(&w);
	sd_store_close(s);
	rmtree(dir);
}

static void test_duplicates_stored_once(void **state)
{
	static const uint32_t seeds[] = { 7, 8, 7, 7, 8, 9 };
	char *dir = tmpdir();
	struct sd_store_stats st;
	struct sd_pack_writer w;
	struct sd_store *s = open_ok(dir);

	build(&w, seeds, 6, 5000, false, NULL);
	assert_int_equal(put(s, &w), 3);
	sd_store_stats(s, &st);
	assert_int_equal(st.chunks, 3);
	assert_int_equal(fsize(path(dir, "packs/00000000.pack")),
			 3 * (SD_PACK_HDR_SIZE + 5000));
	assert_int_equal(fsize(path(dir, "index")), IDX_HDR + 3 * IDX_REC);
	check_get(s, 7, 5000, false);
	check_get(s, 8, 5000, false);
	check_get(s, 9, 5000, false);
	sd_pack_writer_fini(&w);
	sd_store_close(s);
	rmtree(dir);
}

static void test_incompressible_kept_raw(void **state)
{
	static const uint32_t seeds[] = { 42 };
	uint8_t *rec = malloc(SD_PACK_REC_MAX);
	char *dir = tmpdir();
	struct sd_store_stats st;
	struct sd_pack_writer w;
	struct sd_id id;
	struct sd_store *s = open_ok(dir);

	build(&w, seeds, 1, 100000, false, &id);
	assert_int_equal(put(s, &w), 1);
	sd_store_stats(s, &st);
	assert_int_equal(st.stored_bytes, 100000);
	assert_int_equal(st.raw_bytes, 100000);
	assert_int_equal(sd_store_get_stored(s, &id, rec, SD_PACK_REC_MAX,
					     NULL),
			 SD_PACK_HDR_SIZE + 100000);
	assert_int_equal(rec[3], SD_Z_RAW);
	check_get(s, 42, 100000, false);
	sd_pack_writer_fini(&w);
	sd_store_close(s);
	rmtree(dir);
	free(rec);
}

/* The stored form moves to another store without recompression and is
 * accepted there (forwarding between nodes). */
static void test_get_stored_forwards(void **state)
{
	static const uint32_t seeds[] = { 5, 6 };
	uint8_t *rec = malloc(SD_PACK_REC_MAX);
	char *d1 = tmpdir(), *d2 = tmpdir();
	struct sd_pack_writer w, fw;
	struct sd_pack_pos pos = { 0 };
	struct sd_pack_rec pr;
	struct sd_id ids[2];
	struct sd_err why;
	struct sd_store *a = open_ok(d1), *b = open_ok(d2);
	ssize_t n;

	build(&w, seeds, 2, 30000, true, ids);
	assert_int_equal(put(a, &w), 2);
	sd_pack_writer_init(&fw, SD_STORE_BATCH_MAX);
	for (int i = 0; i < 2; i++) {
		n = sd_store_get_stored(a, &ids[i], rec, SD_PACK_REC_MAX, &why);
		assert_true(n > SD_PACK_HDR_SIZE);
		assert_int_equal(sd_pack_next(rec, (size_t)n, &pos, &pr, NULL),
				 1);
		assert_int_equal(pr.flag, SD_Z_ZSTD);
		assert_int_equal(sd_pack_append(&fw, &pr.id, pr.flag,
						pr.raw_len, pr.data,
						pr.stored_len),
				 0);
		pos = (struct sd_pack_pos){ 0 };
	}
	/* Same bytes as what arrived at the first store. */
	assert_int_equal(fw.len, w.len);
	assert_memory_equal(fw.buf, w.buf, w.len);
	assert_int_equal(put(b, &fw), 2);
	check_get(b, 5, 30000, true);
	check_get(b, 6, 30000, true);
	assert_int_equal(sd_store_get_stored(a, &ids[0], rec, 10, &why),
			 -ENOBUFS);
	sd_pack_writer_fini(&w);
	sd_pack_writer_fini(&fw);
	sd_store_close(a);
	sd_store_close(b);
	rmtree(d1);
	rmtree(d2);
	free(rec);
}

static void test_bad_chunk_stores_nothing(void **state)
{
	static const uint32_t seeds[] = { 10, 11, 12 };
	char *dir = tmpdir();
	char hex[SD_ID_HEX], msg[256];
	struct sd_store_stats st;
	struct sd_pack_writer w;
	struct sd_pack_pos pos = { 0 };
	struct sd_pack_rec rec;
	struct sd_err why;
	struct sd_id ids[3];
	struct sd_store *s = open_ok(dir);

	build(&w, seeds, 3, 3000, false, ids);
	/* Damage the stored bytes of record 1 (raw: hashes differently). */
	sd_pack_next(w.buf, w.len, &pos, &rec, NULL);
	sd_pack_next(w.buf, w.len, &pos, &rec, NULL);
	((uint8_t *)rec.data)[17] ^= 0x40;

	assert_int_equal(sd_store_put_batch(s, w.buf, w.len, &why), -EBADMSG);
	snprintf(msg, sizeof(msg),
		 "pack record 1: chunk %s: bytes do not match the id",
		 sd_id_hex(&ids[1], hex));
	assert_memory_equal(why.what, msg, strlen(msg));
	for (int i = 0; i < 3; i++)
		assert_false(sd_store_has(s, &ids[i]));
	sd_store_stats(s, &st);
	assert_int_equal(st.chunks, 0);
	assert_int_equal(fsize(path(dir, "packs/00000000.pack")), 0);
	assert_int_equal(fsize(path(dir, "index")), IDX_HDR);

	/* A malformed batch: refused with the record named. */
	assert_int_equal(sd_store_put_batch(s, w.buf, w.len - 1, &why),
			 -EPROTO);
	assert_non_null(strstr(why.what, "pack record 2: stored length"));
	assert_int_equal(sd_store_put_batch(s, w.buf, SD_STORE_BATCH_MAX + 1,
					    &why),
			 -EMSGSIZE);
	sd_store_stats(s, &st);
	assert_int_equal(st.chunks, 0);

	sd_pack_writer_fini(&w);
	sd_store_close(s);
	rmtree(dir);
}

static void test_pack_roll(void **state)
{
	const struct sd_store_opts opts = { .pack_roll = 100000 };
	char *dir = tmpdir();
	struct sd_store_stats st;
	struct sd_pack_writer w;
	struct sd_store *s = NULL;
	uint32_t seed;

	assert_int_equal(sd_store_open_opts(dir, &opts, &s, NULL), 0);
	for (seed = 200; seed < 220; seed++) {
		build(&w, &seed, 1, 30000, false, NULL);
		assert_int_equal(put(s, &w), 1);
		sd_pack_writer_fini(&w);
	}
	sd_store_stats(s, &st);
	/* 3 records of 30028 bytes fit under 100000, the 4th rolls. */
	assert_int_equal(st.packs, 7);
	assert_int_equal(fsize(path(dir, "packs/00000000.pack")),
			 3 * (SD_PACK_HDR_SIZE + 30000));
	assert_int_equal(access(path(dir, "packs/00000006.pack"), F_OK), 0);
	sd_store_close(s);

	s = open_ok(dir);
	sd_store_stats(s, &st);
	assert_int_equal(st.chunks, 20);
	for (seed = 200; seed < 220; seed++)
		check_get(s, seed, 30000, false);
	sd_store_close(s);
	rmtree(dir);
}

static void test_second_open_busy(void **state)
{
	char *dir = tmpdir();
	struct sd_store *s = open_ok(dir), *t = NULL;
	struct sd_err why;

	assert_int_equal(sd_store_open(dir, &t, &why), -EBUSY);
	assert_null(t);
	assert_non_null(strstr(why.what, "in use"));
	sd_store_close(s);
	s = open_ok(dir);
	sd_store_close(s);
	rmtree(dir);
}

#define THREADS	  4
#define TH_CHUNKS 120
#define TH_BATCH  8
#define TH_LEN	  6000

struct worker {
	struct sd_store *s;
	uint32_t first;
	ssize_t stored;
	int err;
};

/* Each worker puts all TH_CHUNKS chunks, starting at a different one, so
 * that the same ids race in different batches; and reads back what it
 * put. */
static void *worker(void *arg)
{
	struct worker *wk = arg;
	struct sd_zctx zc;
	struct sd_pack_writer w;
	uint8_t *buf = malloc(SD_CHUNK_MAX);
	struct sd_err why;
	size_t raw_len;
	struct sd_id id;
	ssize_t r;

	if (!buf || sd_zctx_init(&zc) < 0) {
		wk->err = -ENOMEM;
		return NULL;
	}
	sd_pack_writer_init(&w, SD_STORE_BATCH_MAX);
	for (uint32_t i = 0; i < TH_CHUNKS && !wk->err; i++) {
		uint32_t seed = 1000 + (wk->first + i) % TH_CHUNKS;

		make_chunk(buf, TH_LEN, seed, seed % 2);
		if (sd_pack_add(&w, &zc, 1, buf, TH_LEN, &id) < 0)
			wk->err = -EINVAL;
		if (w.count == TH_BATCH || i == TH_CHUNKS - 1) {
			r = sd_store_put_batch(wk->s, w.buf, w.len, &why);
			if (r < 0)
				wk->err = (int)r;
			else
				wk->stored += r;
			sd_pack_writer_reset(&w);
		}
		if (sd_store_has(wk->s, &id) &&
		    sd_store_get(wk->s, &id, buf, SD_CHUNK_MAX, &raw_len,
				 &why) != 0)
			wk->err = -EIO;
	}
	sd_pack_writer_fini(&w);
	sd_zctx_fini(&zc);
	free(buf);
	return NULL;
}

static void test_concurrent_puts(void **state)
{
	char *dir = tmpdir();
	struct worker wk[THREADS];
	pthread_t th[THREADS];
	struct sd_store_stats st;
	struct sd_store *s = open_ok(dir);
	ssize_t total = 0;

	for (int i = 0; i < THREADS; i++) {
		wk[i] = (struct worker){ .s = s, .first = (uint32_t)i * 37 };
		assert_int_equal(pthread_create(&th[i], NULL, worker, &wk[i]),
				 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(wk[i].err, 0);
		total += wk[i].stored;
	}
	/* Each chunk stored by exactly one of the racing puts. */
	assert_int_equal(total, TH_CHUNKS);
	sd_store_stats(s, &st);
	assert_int_equal(st.chunks, TH_CHUNKS);
	sd_store_close(s);

	s = open_ok(dir);
	assert_int_equal(fsize(path(dir, "index")),
			 IDX_HDR + TH_CHUNKS * IDX_REC);
	for (uint32_t i = 0; i < TH_CHUNKS; i++)
		check_get(s, 1000 + i, TH_LEN, (1000 + i) % 2);
	sd_store_close(s);
	rmtree(dir);
}

/* A store on a 1 MiB tmpfs: filling it gives -ENOSPC with a clear reason,
 * and every chunk stored before is still there, now and after reopening. */
static void test_disk_full(void **state)
{
	char *dir = tmpdir();
	struct sd_store_stats st;
	struct sd_pack_writer w;
	struct sd_err why = { "" };
	struct sd_store *s;
	uint32_t seeds[4], stored = 0, batch;
	ssize_t r = 0;

	if (mount_tmpfs(dir, "1m") < 0) {
		rmtree(dir);
		skip();
	}
	s = open_ok(dir);
	/* Batches of four incompressible 60000-byte chunks: ~240 KiB each,
	 * so the fifth cannot fit. */
	for (batch = 0; batch < 10; batch++) {
		for (int i = 0; i < 4; i++)
			seeds[i] = 300 + batch * 4 + (uint32_t)i;
		build(&w, seeds, 4, 60000, false, NULL);
		r = sd_store_put_batch(s, w.buf, w.len, &why);
		sd_pack_writer_fini(&w);
		if (r < 0)
			break;
		assert_int_equal(r, 4);
		stored += 4;
	}
	assert_int_equal(r, -ENOSPC);
	assert_true(stored >= 8);
	assert_non_null(strstr(why.what, dir));
	assert_non_null(strstr(why.what, "No space left on device"));
	sd_store_stats(s, &st);
	assert_int_equal(st.chunks, stored);
	for (uint32_t i = 0; i < stored; i++)
		check_get(s, 300 + i, 60000, false);
	/* A small put still fits in what the cut-back freed. */
	seeds[0] = 999;
	build(&w, seeds, 1, 100, false, NULL);
	assert_int_equal(put(s, &w), 1);
	sd_pack_writer_fini(&w);
	sd_store_close(s);

	s = open_ok(dir);
	sd_store_stats(s, &st);
	assert_int_equal(st.chunks, stored + 1);
	assert_int_equal(st.index_dropped, 0);
	for (uint32_t i = 0; i < stored; i++)
		check_get(s, 300 + i, 60000, false);
	check_get(s, 999, 100, false);
	sd_store_close(s);

	assert_int_equal(umount(dir), 0);
	rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_duplicates_stored_once),
		cmocka_unit_test(test_incompressible_kept_raw),
		cmocka_unit_test(test_get_stored_forwards),
		cmocka_unit_test(test_bad_chunk_stores_nothing),
		cmocka_unit_test(test_pack_roll),
		cmocka_unit_test(test_second_open_busy),
		cmocka_unit_test(test_concurrent_puts),
		cmocka_unit_test(test_disk_full),
	};

	return cmocka_run_group_tests(tests, store_setup, store_teardown);
}
