/* SPDX-License-Identifier: MIT */
/* Unit tests for the chunk store's garbage collection: bad arguments, the
 * live set kept exactly, everything dead, small packs merged, a full disk
 * (dead packs deleted first, a rewrite that finds no room, a copy retried
 * after a commit), and copies committed on the way. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pack.h"
#include "store.h"
#include "store_fixture.h"

static bool all_live(void *opaque, const struct sd_id *id)
{
	return true;
}

/* Bad arguments and a GC of an empty store. */
static void test_gc_trivial(void **state)
{
	char *dir = tmpdir();
	struct sd_store_gc_stats gst;
	struct sd_store *s = open_ok(dir);
	struct sd_err why = { "" };

	assert_int_equal(sd_store_gc(s, NULL, NULL, &gst, &why), -EINVAL);
	assert_int_equal(sd_store_gc(s, all_live, NULL, &gst, &why), 0);
	assert_int_equal(gst.chunks_kept + gst.chunks_dropped, 0);
	assert_int_equal(sd_store_gc_backlog(s), 0);
	sd_store_close(s);
	rmtree(dir);
}

/* GC keeps exactly what live() says, asks once per chunk, deletes the
 * dead packs, rewrites the mostly dead ones, and the result survives a
 * reopen; a dropped chunk can be stored again. */
static void test_gc_live_set(void **state)
{
	char *dir = layout_new();
	struct sd_store_gc_stats gst;
	struct sd_store_stats st0, st1, st2;
	struct sd_pack_writer w;
	struct judge j;
	uint64_t bytes;
	uint32_t seed = L_SEED; /* chunk 0: dead */
	struct sd_store *s = NULL;

	assert_int_equal(sd_store_open_opts(dir, &l_opts, &s, NULL), 0);
	judge_init(&j);
	sd_store_stats(s, &st0);
	assert_int_equal(st0.chunks, L_N);
	assert_int_equal(st0.packs, 6);
	assert_int_equal(st0.pack_bytes, (uint64_t)L_N * L_REC);
	assert_int_equal(sd_store_gc_backlog(s), st0.pack_bytes);

	assert_int_equal(gc_ok(s, &j, &gst), 0);
	for (size_t i = 0; i < j.n; i++)
		assert_int_equal(j.k[i].calls, 1);
	assert_int_equal(j.unknown, 0);
	assert_int_equal(gst.chunks_kept, L_LIVE);
	assert_int_equal(gst.chunks_dropped, L_N - L_LIVE);
	assert_int_equal(gst.packs_deleted, 2);
	assert_int_equal(gst.packs_rewritten, 2);
	/* Packs 0, 1, 4, 5 gone; 5 live records copied. */
	assert_int_equal(gst.bytes_freed, 4 * 10 * L_REC - 5 * L_REC);
	layout_check(s, dir, true);
	sd_store_stats(s, &st1);
	assert_int_equal(st1.pack_bytes, st0.pack_bytes - gst.bytes_freed);
	/* 2, 3, the copies, and the current pack (empty). */
	assert_int_equal(st1.packs, 4);
	assert_int_equal(disk_packs(dir, &bytes), 4);
	assert_int_equal(bytes, (2 * 10 + 5) * L_REC);
	assert_int_equal(sd_store_gc_backlog(s), 0);
	assert_int_equal(fsize(path(dir, "index")), IDX_HDR + L_LIVE * IDX_REC);

	/* A dropped chunk is simply stored again. */
	build(&w, &seed, 1, L_LEN, false, NULL);
	assert_int_equal(put(s, &w), 1);
	check_get(s, L_SEED, L_LEN, false);
	assert_int_equal(sd_store_gc_backlog(s), L_REC);
	sd_store_close(s);

	assert_int_equal(sd_store_open_opts(dir, &l_opts, &s, NULL), 0);
	sd_store_stats(s, &st2);
	assert_int_equal(st2.chunks, L_LIVE + 1);
	assert_int_equal(st2.index_dropped, 0);
	check_get(s, L_SEED, L_LEN, false);
	for (uint32_t i = 1; i < L_N; i++) {
		struct sd_id id = seed_id(L_SEED + i, L_LEN);

		if (layout_live(i))
			check_get(s, L_SEED + i, L_LEN, false);
		else
			assert_false(sd_store_has(s, &id));
	}
	/* Nothing known live after open: the backlog is the whole store. */
	assert_int_equal(sd_store_gc_backlog(s), st2.pack_bytes);

	/* Everything live: nothing to do, nothing lost. */
	for (size_t i = 0; i < j.n; i++) {
		j.k[i].live = true;
		j.k[i].calls = 0;
	}
	assert_int_equal(gc_ok(s, &j, &gst), 0);
	assert_int_equal(gst.chunks_dropped, 0);
	assert_int_equal(gst.chunks_kept, L_LIVE + 1);
	assert_int_equal(gst.packs_deleted + gst.packs_rewritten, 0);
	sd_store_stats(s, &st2);
	assert_int_equal(st2.chunks, L_LIVE + 1);
	sd_store_close(s);

	sd_pack_writer_fini(&w);
	free(j.k);
	rmtree(dir);
}

/* Every chunk dead: every pack goes, and the store still works. */
static void test_gc_everything_dead(void **state)
{
	char *dir = layout_new();
	struct sd_store_gc_stats gst;
	struct sd_store_stats st;
	struct judge j;
	uint64_t bytes;
	struct sd_store *s = NULL;

	assert_int_equal(sd_store_open_opts(dir, &l_opts, &s, NULL), 0);
	judge_init(&j);
	for (size_t i = 0; i < j.n; i++)
		j.k[i].live = false;
	assert_int_equal(gc_ok(s, &j, &gst), 0);
	assert_int_equal(gst.chunks_dropped, L_N);
	assert_int_equal(gst.packs_deleted, 6);
	assert_int_equal(gst.bytes_freed, (uint64_t)L_N * L_REC);
	sd_store_stats(s, &st);
	assert_int_equal(st.chunks, 0);
	assert_int_equal(disk_packs(dir, &bytes), 1); /* the current one */
	assert_int_equal(bytes, 0);
	assert_int_equal(fsize(path(dir, "index")), IDX_HDR);
	layout_put(s);
	sd_store_close(s);

	s = open_ok(dir);
	sd_store_stats(s, &st);
	assert_int_equal(st.chunks, L_N);
	for (uint32_t i = 0; i < L_N; i++)
		check_get(s, L_SEED + i, L_LEN, false);
	sd_store_close(s);
	free(j.k);
	rmtree(dir);
}

/* Each GC seals the current pack; small packs are merged, so the number
 * of packs stays bounded however often GC runs. */
static void test_gc_merges_small_packs(void **state)
{
	const struct sd_store_opts opts = { .pack_roll = 1 << 20 };
	char *dir = tmpdir();
	struct sd_store_gc_stats gst;
	struct sd_store_stats st;
	struct sd_pack_writer w;
	struct sd_store *s = NULL;
	uint64_t merged = 0;

	assert_int_equal(sd_store_open_opts(dir, &opts, &s, NULL), 0);
	for (uint32_t round = 0; round < 8; round++) {
		uint32_t seed = 7000 + round;

		build(&w, &seed, 1, 3000, false, NULL);
		assert_int_equal(put(s, &w), 1);
		sd_pack_writer_fini(&w);
		assert_int_equal(sd_store_gc(s, all_live, NULL, &gst, NULL), 0);
		merged += gst.packs_rewritten;
		sd_store_stats(s, &st);
		assert_true(st.packs <= 3);
		assert_int_equal(st.chunks, round + 1);
	}
	assert_true(merged >= 6);
	sd_store_close(s);
	s = open_ok(dir);
	for (uint32_t round = 0; round < 8; round++)
		check_get(s, 7000 + round, 3000, false);
	sd_store_close(s);
	rmtree(dir);
}

/* Write a file until the disk is full: not one more byte fits. */
static void fill_disk(const char *dir)
{
	static uint8_t block[4096];
	int fd = open(path(dir, "filler"), O_WRONLY | O_CREAT | O_APPEND, 0600);
	ssize_t n;

	assert_true(fd >= 0);
	do
		n = write(fd, block, sizeof(block));
	while (n > 0);
	assert_int_equal(errno, ENOSPC);
	do
		n = write(fd, block, 1);
	while (n > 0);
	close(fd);
}

/* On a disk with no free byte at all, GC deletes the dead packs (which
 * needs no space), and then puts work again. A rewrite that finds no room
 * stops cleanly: -ENOSPC, every live chunk still there. */
static void test_gc_disk_full(void **state)
{
	const struct sd_store_opts opts = { .pack_roll = 200000 };
	char *dir = tmpdir();
	struct sd_store_gc_stats gst;
	struct sd_store_stats st;
	struct sd_pack_writer w;
	struct sd_err why = { "" };
	struct judge j = { 0 };
	struct sd_store *s = NULL;
	uint32_t seeds[3], n = 0, seed;
	ssize_t r = 0;

	if (mount_tmpfs(dir, "1m") < 0) {
		rmtree(dir);
		skip();
	}
	assert_int_equal(sd_store_open_opts(dir, &opts, &s, NULL), 0);
	/* Three incompressible 60000-byte chunks a batch and a pack. */
	while (r >= 0) {
		for (int i = 0; i < 3; i++)
			seeds[i] = 8000 + n + (uint32_t)i;
		build(&w, seeds, 3, 60000, false, NULL);
		r = sd_store_put_batch(s, w.buf, w.len, &why);
		sd_pack_writer_fini(&w);
		if (r >= 0) {
			assert_int_equal(r, 3);
			n += 3;
		}
	}
	assert_int_equal(r, -ENOSPC);
	assert_true(n >= 9);
	fill_disk(dir);
	seed = 9999;
	build(&w, &seed, 1, 100, false, NULL);
	assert_int_equal(sd_store_put_batch(s, w.buf, w.len, &why), -ENOSPC);

	/* Pack 0 dead, pack 1 two thirds dead, the rest live. */
	j.n = n + 1;
	j.k = calloc(n + 1, sizeof(*j.k));
	assert_non_null(j.k);
	for (uint32_t i = 0; i < n; i++)
		j.k[i] = (struct known){ .id = seed_id(8000 + i, 60000),
					 .seed = 8000 + i,
					 .live = i >= 3 && (i >= 6 || i == 4) };
	j.k[n] = (struct known){ .id = seed_id(9999, 100),
				 .seed = 9999,
				 .live = true };
	qsort(j.k, j.n, sizeof(*j.k), known_cmp);
	/* The dead pack's room lets the rest (index, copy of pack 1) fit. */
	assert_int_equal(gc_ok(s, &j, &gst), 0);
	assert_int_equal(gst.packs_deleted, 1);
	assert_int_equal(gst.packs_rewritten, 1);
	assert_int_equal(gst.chunks_dropped, 5);
	assert_true(gst.bytes_freed >= 3 * 60000);
	/* The room the dead pack left is enough for a small put. */
	assert_int_equal(put(s, &w), 1);
	sd_pack_writer_fini(&w);
	sd_store_stats(s, &st);
	assert_int_equal(st.chunks, n - 5 + 1);
	for (uint32_t i = 0; i < n; i++)
		if (i >= 6 || i == 4)
			check_get(s, 8000 + i, 60000, false);
	check_get(s, 9999, 100, false);

	/* Full again, with only a rewrite left to do (pack 2 two thirds
	 * dead): it cannot be done, and nothing is damaged. */
	fill_disk(dir);
	for (size_t i = 0; i < j.n; i++)
		j.k[i].live = j.k[i].seed != 8006 && j.k[i].seed != 8007 &&
			      j.k[i].seed >= 8004;
	assert_int_equal(sd_store_gc(s, judge_live, &j, &gst, &why), -ENOSPC);
	assert_non_null(strstr(why.what, "No space left on device"));
	assert_int_equal(gst.packs_rewritten, 0);
	for (uint32_t i = 8; i < n; i++)
		check_get(s, 8000 + i, 60000, false);
	check_get(s, 8004, 60000, false);
	check_get(s, 9999, 100, false);
	sd_store_close(s);
	assert_int_equal(sd_store_open_opts(dir, &opts, &s, NULL), 0);
	for (uint32_t i = 8; i < n; i++)
		check_get(s, 8000 + i, 60000, false);
	check_get(s, 8004, 60000, false);

	/* With room again, the rewrite happens. */
	assert_int_equal(unlink(path(dir, "filler")), 0);
	assert_int_equal(gc_ok(s, &j, &gst), 0);
	assert_true(gst.packs_rewritten >= 1);
	sd_store_stats(s, &st);
	for (uint32_t i = 8; i < n; i++)
		check_get(s, 8000 + i, 60000, false);
	check_get(s, 8004, 60000, false);
	assert_int_equal(st.chunks, n - 8 + 1 + 1);
	sd_store_close(s);

	free(j.k);
	assert_int_equal(umount(dir), 0);
	rmtree(dir);
}

/* Copies past the roll size are committed on the way: every pack 70%
 * dead, so all six are rewritten, in two commits; a record found corrupt
 * while copying is forgotten, not copied. */
static void test_gc_many_copies(void **state)
{
	char *dir = layout_new();
	struct sd_store_gc_stats gst;
	struct sd_store_stats st;
	struct judge j;
	uint64_t bytes;
	struct sd_store *s = NULL;

	/* Chunk 11 (pack 1, record 1), live: one flipped bit. */
	flip_byte(path(dir, "packs/00000001.pack"), L_REC + 28 + 100);
	assert_int_equal(sd_store_open_opts(dir, &l_opts, &s, NULL), 0);
	judge_init(&j);
	for (size_t i = 0; i < j.n; i++)
		j.k[i].live = (j.k[i].seed - L_SEED) % 10 < 3;
	assert_int_equal(gc_ok(s, &j, &gst), 0);
	assert_int_equal(gst.packs_rewritten, 6);
	assert_int_equal(gst.packs_deleted, 0);
	assert_int_equal(gst.chunks_kept, 18);
	assert_false(sd_store_has(s, &(struct sd_id){ 0 }));
	for (uint32_t i = 0; i < L_N; i++) {
		struct sd_id id = seed_id(L_SEED + i, L_LEN);

		if (i % 10 < 3 && i != 11)
			check_get(s, L_SEED + i, L_LEN, false);
		else
			assert_false(sd_store_has(s, &id));
	}
	sd_store_stats(s, &st);
	assert_int_equal(st.chunks, 17);
	/* 17 records: 11 (the roll size), then a commit after the source
	 * pack that passed it, 3, a commit, 3; and the current pack. */
	assert_int_equal(disk_packs(dir, &bytes), 4);
	assert_int_equal(bytes, 17 * L_REC);
	assert_int_equal(bytes, st.pack_bytes);
	assert_int_equal(fsize(path(dir, "index")), IDX_HDR + 17 * IDX_REC);
	sd_store_close(s);

	assert_int_equal(sd_store_open_opts(dir, &l_opts, &s, NULL), 0);
	sd_store_stats(s, &st);
	assert_int_equal(st.chunks, 17);
	assert_int_equal(st.index_dropped, 0);
	for (uint32_t i = 0; i < L_N; i++)
		if (i % 10 < 3 && i != 11)
			check_get(s, L_SEED + i, L_LEN, false);
	sd_store_close(s);
	free(j.k);
	rmtree(dir);
}

/* Room for one copy but not two: the first is committed, which frees its
 * old pack, and the second is tried again and fits. */
static void test_gc_disk_full_retry(void **state)
{
	const struct sd_store_opts opts = { .pack_roll = 200000 };
	char *dir = tmpdir();
	struct sd_store_gc_stats gst;
	struct sd_pack_writer w;
	struct judge j = { 0 };
	struct sd_store *s = NULL;
	uint32_t seeds[3];
	struct stat fst;

	if (mount_tmpfs(dir, "1m") < 0) {
		rmtree(dir);
		skip();
	}
	assert_int_equal(sd_store_open_opts(dir, &opts, &s, NULL), 0);
	for (uint32_t b = 0; b < 3; b++) {
		for (uint32_t i = 0; i < 3; i++)
			seeds[i] = 8100 + b * 3 + i;
		build(&w, seeds, 3, 60000, false, NULL);
		assert_int_equal(put(s, &w), 3);
		sd_pack_writer_fini(&w);
	}
	/* Pack 0 live, packs 1 and 2 one chunk live each (60028 bytes, 15
	 * pages of tmpfs); 20 pages free. */
	j.n = 9;
	j.k = calloc(9, sizeof(*j.k));
	assert_non_null(j.k);
	for (uint32_t i = 0; i < 9; i++)
		j.k[i] = (struct known){ .id = seed_id(8100 + i, 60000),
					 .seed = 8100 + i,
					 .live = i < 3 || i == 3 || i == 6 };
	qsort(j.k, j.n, sizeof(*j.k), known_cmp);
	fill_disk(dir);
	assert_int_equal(stat(path(dir, "filler"), &fst), 0);
	assert_int_equal(truncate(path(dir, "filler"), fst.st_size - 20 * 4096),
			 0);

	assert_int_equal(gc_ok(s, &j, &gst), 0);
	assert_int_equal(gst.packs_rewritten, 2);
	assert_int_equal(gst.chunks_dropped, 4);
	for (uint32_t i = 0; i < 9; i++)
		if (i < 4 || i == 6)
			check_get(s, 8100 + i, 60000, false);
	sd_store_close(s);
	assert_int_equal(sd_store_open_opts(dir, &opts, &s, NULL), 0);
	for (uint32_t i = 0; i < 9; i++) {
		struct sd_id id = seed_id(8100 + i, 60000);

		if (i < 4 || i == 6)
			check_get(s, 8100 + i, 60000, false);
		else
			assert_false(sd_store_has(s, &id));
	}
	sd_store_close(s);
	free(j.k);
	assert_int_equal(umount(dir), 0);
	rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gc_trivial),
		cmocka_unit_test(test_gc_live_set),
		cmocka_unit_test(test_gc_everything_dead),
		cmocka_unit_test(test_gc_merges_small_packs),
		cmocka_unit_test(test_gc_disk_full),
		cmocka_unit_test(test_gc_many_copies),
		cmocka_unit_test(test_gc_disk_full_retry),
	};

	return cmocka_run_group_tests(tests, store_setup, store_teardown);
}
