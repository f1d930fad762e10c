/* SPDX-License-Identifier: MIT */
/* Unit tests for the chunk store: round trips, dedup, refusal of a batch
 * with a bad chunk, corruption detected on read, recovery from a torn index
 * and from pack garbage, pack rolling, concurrent puts, a full disk, and
 * garbage collection (live set, full disk, crashes, concurrency). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pack.h"
#include "store.h"

#define IDX_HDR 16
#define IDX_REC 48

static struct sd_zctx z;

/* Chunk seed's bytes: text-like (compresses) or random (does not). */
static void make_chunk(uint8_t *p, size_t n, uint32_t seed, bool text)
{
	uint64_t x = (uint64_t)seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = text ? (uint8_t)("abcdefgh \n"[x % 10]) : (uint8_t)x;
	}
	if (text && n >= 4)
		memcpy(p, &seed, 4);
}

/* A pack of chunks seeds[0..n), each len bytes. */
static void build(struct sd_pack_writer *w, const uint32_t *seeds, size_t n,
		  size_t len, bool text, struct sd_id *ids)
{
	uint8_t *buf = malloc(len ? len : 1);

	assert_non_null(buf);
	sd_pack_writer_init(w, SD_STORE_BATCH_MAX);
	for (size_t i = 0; i < n; i++) {
		make_chunk(buf, len, seeds[i], text);
		assert_int_equal(sd_pack_add(w, &z, 1, buf, len,
					     ids ? &ids[i] : NULL),
				 0);
	}
	free(buf);
}

static void check_get(struct sd_store *s, uint32_t seed, size_t len, bool text)
{
	uint8_t *want = malloc(len ? len : 1), *got = malloc(SD_CHUNK_MAX);
	struct sd_err why = { "" };
	struct sd_id id;
	size_t raw_len = 0;

	make_chunk(want, len, seed, text);
	sd_id_of(&id, want, len);
	assert_true(sd_store_has(s, &id));
	if (sd_store_get(s, &id, got, SD_CHUNK_MAX, &raw_len, &why) != 0)
		fail_msg("get of chunk %u: %s", seed, why.what);
	assert_int_equal(raw_len, len);
	assert_memory_equal(got, want, len);
	free(want);
	free(got);
}

static char *tmpdir(void)
{
	char *d = strdup("/tmp/tether-store-XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *f)
{
	return remove(p);
}

static void rmtree(char *d)
{
	nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
}

static char *path(const char *dir, const char *rel)
{
	static char p[4096];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return p;
}

static off_t fsize(const char *p)
{
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	return st.st_size;
}

static struct sd_store *open_ok(const char *dir)
{
	struct sd_store *s = NULL;
	struct sd_err why = { "" };

	if (sd_store_open(dir, &s, &why) != 0)
		fail_msg("open %s: %s", dir, why.what);
	return s;
}

static ssize_t put(struct sd_store *s, const struct sd_pack_writer *w)
{
	struct sd_err why = { "" };
	ssize_t r = sd_store_put_batch(s, w->buf, w->len, &why);

	if (r < 0 && r != -ENOSPC)
		fail_msg("put: %s", why.what);
	return r;
}

static int setup(void **state)
{
	return sd_zctx_init(&z);
}

static int teardown(void **state)
{
	sd_zctx_fini(&z);
	return 0;
}

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

static void flip_byte(const char *p, off_t off)
{
	uint8_t c;
	int fd = open(p, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x10;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

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

	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=1m") < 0) {
		print_message("skipping: cannot mount a tmpfs in a private "
			      "mount namespace: %s\n",
			      strerror(errno));
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

/* ---- garbage collection ---- */

/* The layout most GC tests start from: L_N incompressible chunks of L_LEN
 * bytes put in batches of 10 with a roll size that makes each batch its
 * own pack, so pack p holds chunks 10p .. 10p+9 (p = 5 is the current
 * one). layout_live() makes packs 0 and 4 dead, 1 and 5 mostly dead (to be
 * rewritten), 2 all live and 3 mostly live (kept as they are). */
#define L_N    60
#define L_LEN  9000
#define L_SEED 4000
#define L_REC  (SD_PACK_HDR_SIZE + L_LEN)
#define L_ROLL 100000
#define L_LIVE (2 + 10 + 7 + 3)

static const struct sd_store_opts l_opts = { .pack_roll = L_ROLL };

static bool layout_live(uint32_t i)
{
	switch (i / 10) {
	case 0:
	case 4: return false;
	case 1: return i % 5 == 0;
	case 2: return true;
	case 3: return i % 10 < 7;
	default: return i % 10 < 3;
	}
}

/* The chunks a test knows, by id, with their verdict. */
struct known {
	struct sd_id id;
	uint32_t seed;
	bool live;
	uint32_t calls; /* times live() asked */
};

struct judge {
	struct known *k;
	size_t n;
	uint32_t unknown; /* live() asked about a chunk not in k */
	/* Optional: what to do on the first call. */
	void (*first)(struct judge *j);
	bool started;
	unsigned delay_us; /* per call */
	void *user;
};

static int known_cmp(const void *a, const void *b)
{
	return sd_id_cmp(&((const struct known *)a)->id,
			 &((const struct known *)b)->id);
}

static struct sd_id seed_id(uint32_t seed, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	struct sd_id id;

	assert_non_null(buf);
	make_chunk(buf, len, seed, false);
	sd_id_of(&id, buf, len);
	free(buf);
	return id;
}

static void judge_init(struct judge *j)
{
	*j = (struct judge){ .k = calloc(L_N, sizeof(*j->k)), .n = L_N };
	assert_non_null(j->k);
	for (uint32_t i = 0; i < L_N; i++)
		j->k[i] = (struct known){ .id = seed_id(L_SEED + i, L_LEN),
					  .seed = L_SEED + i,
					  .live = layout_live(i) };
	qsort(j->k, j->n, sizeof(*j->k), known_cmp);
}

static struct known *judge_find(struct judge *j, const struct sd_id *id)
{
	struct known key = { .id = *id };

	return bsearch(&key, j->k, j->n, sizeof(*j->k), known_cmp);
}

static bool judge_live(void *opaque, const struct sd_id *id)
{
	struct judge *j = opaque;
	struct known *k = judge_find(j, id);

	if (!j->started) {
		j->started = true;
		if (j->first)
			j->first(j);
	}
	if (j->delay_us)
		usleep(j->delay_us);
	if (!k) {
		j->unknown++;
		return false;
	}
	k->calls++;
	return k->live;
}

static void layout_put(struct sd_store *s)
{
	struct sd_pack_writer w;
	uint32_t seeds[10];

	for (uint32_t p = 0; p < L_N / 10; p++) {
		for (uint32_t i = 0; i < 10; i++)
			seeds[i] = L_SEED + p * 10 + i;
		build(&w, seeds, 10, L_LEN, false, NULL);
		assert_int_equal(put(s, &w), 10);
		sd_pack_writer_fini(&w);
	}
}

static char *layout_new(void)
{
	char *dir = tmpdir();
	struct sd_store *s = NULL;

	assert_int_equal(sd_store_open_opts(dir, &l_opts, &s, NULL), 0);
	layout_put(s);
	sd_store_close(s);
	return dir;
}

/* The pack files in dir/packs: how many, and their bytes. */
static uint32_t disk_packs(const char *dir, uint64_t *bytes)
{
	char p[4096];
	struct dirent *de;
	struct stat st;
	uint32_t n = 0;
	DIR *d;

	snprintf(p, sizeof(p), "%s/packs", dir);
	d = opendir(p);
	assert_non_null(d);
	*bytes = 0;
	while ((de = readdir(d))) {
		if (!strstr(de->d_name, ".pack"))
			continue;
		snprintf(p, sizeof(p), "%s/packs/%s", dir, de->d_name);
		assert_int_equal(stat(p, &st), 0);
		*bytes += (uint64_t)st.st_size;
		n++;
	}
	closedir(d);
	return n;
}

/* The store s on dir holds every live chunk of the layout, verified, and
 * only pack files its index references. With exact, nothing else of the
 * layout either; without (after a crash), a dead chunk still held must
 * read back right. */
static void layout_check(struct sd_store *s, const char *dir, bool exact)
{
	struct sd_store_stats st;
	uint64_t bytes;

	for (uint32_t i = 0; i < L_N; i++) {
		struct sd_id id = seed_id(L_SEED + i, L_LEN);

		if (layout_live(i) || sd_store_has(s, &id))
			check_get(s, L_SEED + i, L_LEN, false);
		else if (!layout_live(i) && exact)
			assert_false(sd_store_has(s, &id));
	}
	sd_store_stats(s, &st);
	assert_int_equal(st.index_dropped, 0);
	if (exact)
		assert_int_equal(st.chunks, L_LIVE);
	assert_int_equal(disk_packs(dir, &bytes), st.packs);
	assert_int_equal(bytes, st.pack_bytes);
	assert_int_equal(access(path(dir, "index.new"), F_OK), -1);
}

static int gc_ok(struct sd_store *s, struct judge *j,
		 struct sd_store_gc_stats *st)
{
	struct sd_err why = { "" };
	int r = sd_store_gc(s, judge_live, j, st, &why);

	if (r < 0 && r != -ENOSPC)
		fail_msg("gc: %s", why.what);
	return r;
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

static bool all_live(void *opaque, const struct sd_id *id)
{
	return true;
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

static int mount_tmpfs(char *dir, const char *size)
{
	char opt[64];

	snprintf(opt, sizeof(opt), "size=%s", size);
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, opt) < 0) {
		print_message("skipping: cannot mount a tmpfs in a private "
			      "mount namespace: %s\n",
			      strerror(errno));
		return -1;
	}
	return 0;
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

/* The child of the crash tests: GC the layout in argv[2], with whatever
 * TETHER_FAILPOINT says. */
static int gc_child(const char *dir)
{
	struct sd_store *s = NULL;
	struct sd_err why = { "" };
	struct judge j;
	int r;

	judge_init(&j);
	r = sd_store_open_opts(dir, &l_opts, &s, &why);
	if (r == 0)
		r = sd_store_gc(s, judge_live, &j, NULL, &why);
	if (r < 0)
		fprintf(stderr, "gc child: %s\n", why.what);
	sd_store_close(s);
	free(j.k);
	return r < 0 ? 2 : 0;
}

/* After a crash at any point of a GC, the store opens, holds every live
 * chunk, keeps no pack its index does not reference, and a second GC
 * finishes the job. */
static void crash_check(const char *dir)
{
	struct sd_store_gc_stats gst;
	struct sd_store *s = NULL;
	struct judge j;

	assert_int_equal(sd_store_open_opts(dir, &l_opts, &s, NULL), 0);
	layout_check(s, dir, false);
	judge_init(&j);
	assert_int_equal(gc_ok(s, &j, &gst), 0);
	layout_check(s, dir, true);
	sd_store_close(s);
	s = open_ok(dir);
	layout_check(s, dir, true);
	sd_store_close(s);
	free(j.k);
}

static void test_gc_crash_failpoints(void **state)
{
	static const char *const fps[] = {
		"store-gc-dead-unlinked", "store-gc-copying",
		"store-gc-packs-synced",  "store-gc-index-written",
		"store-gc-committed",	  "store-gc-source-unlinked",
	};

	for (size_t f = 0; f < sizeof(fps) / sizeof(fps[0]); f++) {
		char *dir = layout_new();
		int status;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			char *argv[] = { "test-store", "gc-child", dir, NULL };

			setenv("TETHER_FAILPOINT", fps[f], 1);
			execv("/proc/self/exe", argv);
			_exit(127);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("failpoint %s: the GC did not reach it "
				 "(status %#x)",
				 fps[f], status);
		crash_check(dir);
		rmtree(dir);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A GC in a child, killed after delay_s (or let finish when negative).
 * Returns whether it was killed. */
static bool gc_killed_after(const char *dir, double delay_s)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(gc_child(dir));
	if (delay_s >= 0) {
		struct timespec ts = {
			.tv_sec = (time_t)delay_s,
			.tv_nsec = (long)((delay_s - (double)(time_t)delay_s) *
					  1e9),
		};

		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status))
		assert_int_equal(WEXITSTATUS(status), 0);
	return WIFSIGNALED(status);
}

/* SIGKILL at random instants of a GC (spread over the time one takes). */
static void test_gc_crash_random(void **state)
{
	char *dir = layout_new();
	unsigned int seed = (unsigned int)time(NULL);
	double t0 = now_s(), took;
	int killed = 0;

	assert_false(gc_killed_after(dir, -1));
	took = now_s() - t0;
	rmtree(dir);
	print_message("gc in a child: %.1f ms; random seed %u\n", took * 1e3,
		      seed);
	srand(seed);
	for (int i = 0; i < 24; i++) {
		double d = took * ((double)rand() / RAND_MAX);

		dir = layout_new();
		killed += gc_killed_after(dir, d);
		crash_check(dir);
		rmtree(dir);
	}
	print_message("%d of 24 killed mid-way\n", killed);
}

/* Puts, gets and get_stored from other threads while a GC runs: every
 * read is right (chunks that move included), and no chunk put during the
 * GC is lost, including dead ones put again. */
#define C_WRITERS 2
#define C_READERS 2

struct crowd {
	struct sd_store *s;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool go, done;
	uint32_t during; /* batches put while the GC ran */
	int gc_again;	 /* a second GC started from live(): -EBUSY */
	bool has_ok;	 /* sd_store_has() works from live() */
};

struct crowd_worker {
	struct crowd *c;
	uint32_t no;
	uint32_t *seeds; /* put: all must be held at the end */
	size_t nseeds;
	uint64_t reads;
	int err;
	char what[300];
};

static void crowd_wait(struct crowd *c)
{
	pthread_mutex_lock(&c->mu);
	while (!c->go)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

static bool crowd_done(struct crowd *c)
{
	bool d;

	pthread_mutex_lock(&c->mu);
	d = c->done;
	pthread_mutex_unlock(&c->mu);
	return d;
}

static void crowd_first(struct judge *j)
{
	struct crowd *c = j->user;
	struct sd_id id = seed_id(L_SEED + 20, L_LEN);

	c->gc_again = sd_store_gc(c->s, judge_live, j, NULL, NULL);
	c->has_ok = sd_store_has(c->s, &id);
	pthread_mutex_lock(&c->mu);
	c->go = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* New chunks, and the dead chunks of pack 0 and 4 put again. */
static void *crowd_writer(void *arg)
{
	struct crowd_worker *wk = arg;
	struct sd_pack_writer w;
	struct sd_zctx zc;
	struct sd_err why;
	uint8_t *buf = malloc(L_LEN);
	ssize_t r;

	wk->seeds = calloc(4096, sizeof(*wk->seeds));
	if (!buf || !wk->seeds || sd_zctx_init(&zc) < 0) {
		wk->err = -ENOMEM;
		return NULL;
	}
	sd_pack_writer_init(&w, SD_STORE_BATCH_MAX);
	crowd_wait(wk->c);
	for (uint32_t b = 0; b < 200 && !wk->err; b++) {
		for (uint32_t i = 0; i < 4; i++) {
			uint32_t seed = 20000 + wk->no * 10000 + b * 4 + i;

			if (i == 0 && b < 10)
				seed = L_SEED + (wk->no ? 40 : 0) + b;
			make_chunk(buf, L_LEN, seed, false);
			if (sd_pack_add(&w, &zc, 1, buf, L_LEN, NULL) < 0)
				wk->err = -EINVAL;
			wk->seeds[wk->nseeds++] = seed;
		}
		r = sd_store_put_batch(wk->c->s, w.buf, w.len, &why);
		if (r < 0) {
			wk->err = (int)r;
			snprintf(wk->what, sizeof(wk->what), "%s", why.what);
		}
		sd_pack_writer_reset(&w);
		pthread_mutex_lock(&wk->c->mu);
		wk->c->during += !wk->c->done && r > 0;
		pthread_mutex_unlock(&wk->c->mu);
		if (crowd_done(wk->c) && b >= 10)
			break;
	}
	sd_pack_writer_fini(&w);
	sd_zctx_fini(&zc);
	free(buf);
	return NULL;
}

/* Read every live chunk of the layout, over and over, until the GC ends. */
static void *crowd_reader(void *arg)
{
	struct crowd_worker *wk = arg;
	uint8_t *want = malloc(L_LEN), *got = malloc(SD_PACK_REC_MAX);
	struct sd_err why;
	size_t raw_len;
	ssize_t n;

	if (!want || !got) {
		wk->err = -ENOMEM;
		return NULL;
	}
	crowd_wait(wk->c);
	do {
		for (uint32_t i = 0; i < L_N && !wk->err; i++) {
			struct sd_id id;

			if (!layout_live(i))
				continue;
			make_chunk(want, L_LEN, L_SEED + i, false);
			sd_id_of(&id, want, L_LEN);
			if (wk->no % 2 == 0) {
				if (sd_store_get(wk->c->s, &id, got, L_LEN,
						 &raw_len, &why) != 0 ||
				    raw_len != L_LEN ||
				    memcmp(got, want, L_LEN) != 0)
					wk->err = -EIO;
			} else {
				n = sd_store_get_stored(wk->c->s, &id, got,
							SD_PACK_REC_MAX, &why);
				if (n != L_REC || memcmp(got + SD_PACK_HDR_SIZE,
							 want, L_LEN) != 0)
					wk->err = -EIO;
			}
			if (wk->err)
				snprintf(wk->what, sizeof(wk->what),
					 "chunk %u: %s", i, why.what);
			wk->reads++;
		}
	} while (!wk->err && !crowd_done(wk->c));
	free(want);
	free(got);
	return NULL;
}

static void test_gc_concurrent(void **state)
{
	char *dir = layout_new();
	struct crowd c = { .mu = PTHREAD_MUTEX_INITIALIZER,
			   .cv = PTHREAD_COND_INITIALIZER };
	struct crowd_worker wk[C_WRITERS + C_READERS];
	pthread_t th[C_WRITERS + C_READERS];
	struct sd_store_gc_stats gst;
	struct sd_store_stats st;
	struct judge j;
	uint64_t reads = 0;

	assert_int_equal(sd_store_open_opts(dir, &l_opts, &c.s, NULL), 0);
	judge_init(&j);
	j.first = crowd_first;
	j.user = &c;
	j.delay_us = 2000; /* ~120 ms of judging, with puts arriving */
	for (uint32_t i = 0; i < C_WRITERS + C_READERS; i++) {
		wk[i] = (struct crowd_worker){ .c = &c, .no = i % 2 };
		assert_int_equal(pthread_create(&th[i], NULL,
						i < C_WRITERS ? crowd_writer
							      : crowd_reader,
						&wk[i]),
				 0);
	}
	assert_int_equal(gc_ok(c.s, &j, &gst), 0);
	pthread_mutex_lock(&c.mu);
	c.done = true;
	c.go = true; /* should live() never have run */
	pthread_cond_broadcast(&c.cv);
	pthread_mutex_unlock(&c.mu);
	for (uint32_t i = 0; i < C_WRITERS + C_READERS; i++) {
		pthread_join(th[i], NULL);
		if (wk[i].err)
			fail_msg("worker %u: %d: %s", i, wk[i].err, wk[i].what);
		reads += wk[i].reads;
	}
	assert_int_equal(c.gc_again, -EBUSY);
	assert_true(c.has_ok);
	/* Chunks put during the GC are never judged. */
	assert_int_equal(j.unknown, 0);
	assert_true(reads > 0);
	assert_true(c.during > 0);
	print_message("%u batches put and %llu reads during the GC\n", c.during,
		      (unsigned long long)reads);
	assert_true(gst.packs_deleted + gst.packs_rewritten > 0);

	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < L_N; i++)
			if (layout_live(i))
				check_get(c.s, L_SEED + i, L_LEN, false);
		for (uint32_t w = 0; w < C_WRITERS; w++)
			for (size_t i = 0; i < wk[w].nseeds; i++)
				check_get(c.s, wk[w].seeds[i], L_LEN, false);
		sd_store_stats(c.s, &st);
		assert_int_equal(st.index_dropped, 0);
		sd_store_close(c.s);
		c.s = open_ok(dir);
	}
	sd_store_close(c.s);
	for (uint32_t w = 0; w < C_WRITERS; w++)
		free(wk[w].seeds);
	free(j.k);
	rmtree(dir);
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

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_duplicates_stored_once),
		cmocka_unit_test(test_incompressible_kept_raw),
		cmocka_unit_test(test_get_stored_forwards),
		cmocka_unit_test(test_bad_chunk_stores_nothing),
		cmocka_unit_test(test_flipped_byte_raw),
		cmocka_unit_test(test_flipped_byte_zstd),
		cmocka_unit_test(test_flipped_header_byte),
		cmocka_unit_test(test_reopen_keeps_everything),
		cmocka_unit_test(test_torn_index_tail),
		cmocka_unit_test(test_damaged_index_record),
		cmocka_unit_test(test_pack_garbage),
		cmocka_unit_test(test_pack_roll),
		cmocka_unit_test(test_second_open_busy),
		cmocka_unit_test(test_not_an_index),
		cmocka_unit_test(test_concurrent_puts),
		cmocka_unit_test(test_disk_full),
		cmocka_unit_test(test_gc_trivial),
		cmocka_unit_test(test_gc_live_set),
		cmocka_unit_test(test_gc_everything_dead),
		cmocka_unit_test(test_gc_merges_small_packs),
		cmocka_unit_test(test_gc_disk_full),
		cmocka_unit_test(test_gc_many_copies),
		cmocka_unit_test(test_gc_disk_full_retry),
		cmocka_unit_test(test_gc_crash_failpoints),
		cmocka_unit_test(test_gc_crash_random),
		cmocka_unit_test(test_gc_concurrent),
	};

	/* The GC crash tests run this binary as the process to kill. */
	if (argc == 3 && strcmp(argv[1], "gc-child") == 0) {
		int r = sd_zctx_init(&z) < 0 ? 2 : gc_child(argv[2]);

		sd_zctx_fini(&z);
		return r;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
