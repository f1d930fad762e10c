/* SPDX-License-Identifier: MIT */
/* Unit tests for the chunk store's crash safety and damage at rest:
 * corruption detected on read (a flipped bit in a chunk or a header),
 * everything kept across a reopen, recovery from a torn or damaged index
 * and from pack garbage, and a file that is not an index. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pack.h"
#include "store.h"
#include "store_fixture.h"

/* One flipped bit at rest: the read fails naming the chunk and the pack,
 * never returns the bytes, and the chunk can be put again. */
static void check_flip(bool text)
{
	static const uint32_t seeds[] = { 20, 21, 22 };
	const size_t len = 9000, rec = SD_PACK_HDR_SIZE + len;
	uint8_t *dst = malloc(SD_CHUNK_MAX);
	char *dir = tmpdir();
	char hex[SD_ID_HEX];
	struct sd_pack_writer w;
	struct sd_pack_pos pos = { 0 };
	struct sd_pack_rec pr;
	struct sd_err why;
	struct sd_id ids[3];
	struct sd_store *s = open_ok(dir);
	size_t raw_len;
	off_t off;

	build(&w, seeds, 3, len, text, ids);
	assert_int_equal(put(s, &w), 3);
	sd_store_close(s);

	/* Middle of record 1's stored bytes. */
	sd_pack_next(w.buf, w.len, &pos, &pr, NULL);
	sd_pack_next(w.buf, w.len, &pos, &pr, NULL);
	off = (off_t)(pr.off + SD_PACK_HDR_SIZE + pr.stored_len / 2);
	if (!text)
		assert_int_equal(pr.off, rec);
	flip_byte(path(dir, "packs/00000000.pack"), off);

	s = open_ok(dir);
	memset(dst, 0, SD_CHUNK_MAX);
	assert_int_equal(sd_store_get(s, &ids[1], dst, SD_CHUNK_MAX, &raw_len,
				      &why),
			 -EIO);
	assert_non_null(strstr(why.what, sd_id_hex(&ids[1], hex)));
	assert_non_null(strstr(why.what, "packs/00000000.pack"));
	check_get(s, 20, len, text);
	check_get(s, 22, len, text);
	/* Forgotten, so that it is sent and stored again. */
	assert_false(sd_store_has(s, &ids[1]));
	assert_int_equal(put(s, &w), 1);
	check_get(s, 21, len, text);
	sd_store_close(s);

	/* The good copy is the one found after a reopen. */
	s = open_ok(dir);
	check_get(s, 21, len, text);
	sd_store_close(s);
	sd_pack_writer_fini(&w);
	rmtree(dir);
	free(dst);
}

static void test_flipped_byte_raw(void **state)
{
	check_flip(false);
}

static void test_flipped_byte_zstd(void **state)
{
	check_flip(true);
}

static void test_flipped_header_byte(void **state)
{
	static const uint32_t seeds[] = { 30 };
	uint8_t *dst = malloc(SD_CHUNK_MAX);
	char *dir = tmpdir();
	struct sd_pack_writer w;
	struct sd_err why;
	struct sd_id id;
	struct sd_store *s = open_ok(dir);
	size_t raw_len;

	build(&w, seeds, 1, 1000, true, &id);
	assert_int_equal(put(s, &w), 1);
	flip_byte(path(dir, "packs/00000000.pack"), 10); /* inside the id */
	assert_int_equal(
		sd_store_get(s, &id, dst, SD_CHUNK_MAX, &raw_len, &why), -EIO);
	assert_non_null(strstr(why.what, "header"));
	sd_pack_writer_fini(&w);
	sd_store_close(s);
	rmtree(dir);
	free(dst);
}

static void test_reopen_keeps_everything(void **state)
{
	uint32_t seeds[40];
	char *dir = tmpdir();
	struct sd_store_stats st1, st2;
	struct sd_pack_writer w;
	struct sd_store *s = open_ok(dir);

	for (uint32_t b = 0; b < 4; b++) {
		for (uint32_t i = 0; i < 10; i++)
			seeds[i] = 100 + b * 10 + i;
		build(&w, seeds, 10, 20000 + b, b % 2 == 0, NULL);
		assert_int_equal(put(s, &w), 10);
		sd_pack_writer_fini(&w);
	}
	sd_store_stats(s, &st1);
	sd_store_close(s);

	s = open_ok(dir);
	sd_store_stats(s, &st2);
	assert_int_equal(st2.chunks, 40);
	assert_int_equal(st2.chunks, st1.chunks);
	assert_int_equal(st2.stored_bytes, st1.stored_bytes);
	assert_int_equal(st2.raw_bytes, st1.raw_bytes);
	assert_int_equal(st2.index_dropped, 0);
	for (uint32_t b = 0; b < 4; b++)
		for (uint32_t i = 0; i < 10; i++)
			check_get(s, 100 + b * 10 + i, 20000 + b, b % 2 == 0);
	sd_store_close(s);
	rmtree(dir);
}

static void test_torn_index_tail(void **state)
{
	static const uint32_t seeds[] = { 50, 51, 52, 53, 54 };
	static const uint8_t zeros[IDX_REC];
	char *dir = tmpdir();
	struct sd_store_stats st;
	struct sd_pack_writer w;
	struct sd_id ids[5];
	struct sd_store *s = open_ok(dir);
	int fd;

	build(&w, seeds, 5, 4000, true, ids);
	assert_int_equal(put(s, &w), 5);
	sd_store_close(s);

	/* The last record torn mid-way. */
	assert_int_equal(
		truncate(path(dir, "index"), IDX_HDR + 4 * IDX_REC + 20), 0);
	s = open_ok(dir);
	sd_store_stats(s, &st);
	assert_int_equal(st.chunks, 4);
	assert_int_equal(st.index_dropped, 1);
	for (int i = 0; i < 4; i++)
		check_get(s, seeds[i], 4000, true);
	assert_false(sd_store_has(s, &ids[4]));
	assert_int_equal(fsize(path(dir, "index")), IDX_HDR + 4 * IDX_REC);
	/* The lost chunk is simply sent again. */
	assert_int_equal(put(s, &w), 1);
	sd_store_close(s);

	/* A whole record of zeros (a crash after the size grew but before
	 * the data landed) is a torn tail too. */
	fd = open(path(dir, "index"), O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, zeros, sizeof(zeros)), sizeof(zeros));
	close(fd);
	s = open_ok(dir);
	sd_store_stats(s, &st);
	assert_int_equal(st.chunks, 5);
	assert_int_equal(st.index_dropped, 1);
	assert_int_equal(fsize(path(dir, "index")), IDX_HDR + 5 * IDX_REC);
	for (int i = 0; i < 5; i++)
		check_get(s, seeds[i], 4000, true);
	sd_store_close(s);
	sd_pack_writer_fini(&w);
	rmtree(dir);
}

/* A damaged record in the middle of the index costs only that chunk. */
static void test_damaged_index_record(void **state)
{
	static const uint32_t seeds[] = { 60, 61, 62 };
	char *dir = tmpdir();
	struct sd_store_stats st;
	struct sd_pack_writer w;
	struct sd_id ids[3];
	struct sd_store *s = open_ok(dir);

	build(&w, seeds, 3, 4000, true, ids);
	assert_int_equal(put(s, &w), 3);
	sd_store_close(s);
	flip_byte(path(dir, "index"), IDX_HDR + IDX_REC + 5);
	s = open_ok(dir);
	sd_store_stats(s, &st);
	assert_int_equal(st.chunks, 2);
	assert_int_equal(st.index_dropped, 1);
	assert_false(sd_store_has(s, &ids[1]));
	check_get(s, 60, 4000, true);
	check_get(s, 62, 4000, true);
	assert_int_equal(put(s, &w), 1);
	check_get(s, 61, 4000, true);
	sd_store_close(s);
	sd_pack_writer_fini(&w);
	rmtree(dir);
}

/* Pack bytes past the index (a crash between the pack write and the index
 * append) and packs past the last indexed one are dropped at open. */
static void test_pack_garbage(void **state)
{
	static const uint32_t seeds[] = { 70, 71 }, more[] = { 72 };
	char *dir = tmpdir();
	struct sd_pack_writer w;
	struct sd_store *s = open_ok(dir);
	off_t size;
	int fd;

	build(&w, seeds, 2, 3000, false, NULL);
	assert_int_equal(put(s, &w), 2);
	sd_store_close(s);
	size = fsize(path(dir, "packs/00000000.pack"));

	fd = open(path(dir, "packs/00000000.pack"), O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, w.buf, 1000), 1000);
	close(fd);
	fd = open(path(dir, "packs/00000001.pack"), O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, w.buf, 1000), 1000);
	close(fd);

	s = open_ok(dir);
	assert_int_equal(fsize(path(dir, "packs/00000000.pack")), size);
	assert_int_equal(access(path(dir, "packs/00000001.pack"), F_OK), -1);
	sd_pack_writer_fini(&w);
	build(&w, more, 1, 3000, false, NULL);
	assert_int_equal(put(s, &w), 1);
	sd_store_close(s);

	s = open_ok(dir);
	check_get(s, 70, 3000, false);
	check_get(s, 71, 3000, false);
	check_get(s, 72, 3000, false);
	sd_store_close(s);
	sd_pack_writer_fini(&w);
	rmtree(dir);
}

static void test_not_an_index(void **state)
{
	char *dir = tmpdir();
	struct sd_store *s = NULL;
	struct sd_err why;
	FILE *f = fopen(path(dir, "index"), "w");

	assert_non_null(f);
	fputs("hello, world, not an index", f);
	fclose(f);
	assert_int_equal(sd_store_open(dir, &s, &why), -EBADMSG);
	assert_non_null(strstr(why.what, "index"));
	rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flipped_byte_raw),
		cmocka_unit_test(test_flipped_byte_zstd),
		cmocka_unit_test(test_flipped_header_byte),
		cmocka_unit_test(test_reopen_keeps_everything),
		cmocka_unit_test(test_torn_index_tail),
		cmocka_unit_test(test_damaged_index_record),
		cmocka_unit_test(test_pack_garbage),
		cmocka_unit_test(test_not_an_index),
	};

	return cmocka_run_group_tests(tests, store_setup, store_teardown);
}
