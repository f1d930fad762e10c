/* SPDX-License-Identifier: MIT */
/* Unit tests for chunk packs: what the writer builds the reader walks back
 * exactly; every malformed record is refused with its index and cause;
 * verification catches bytes that do not match their id. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pack.h"

static struct sd_zctx z;
static uint8_t scratch[SD_CHUNK_MAX];

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

static void fill_text(uint8_t *p, size_t n, char c)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i % 61 == 60 ? '\n' : c + i % 7);
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

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A pack of three good records: text (zstd), random (raw), empty (raw). */
static void build_three(struct sd_pack_writer *w, uint8_t *text, uint8_t *rnd,
			struct sd_id ids[3])
{
	sd_pack_writer_init(w, 1u << 20);
	fill_text(text, 20000, 'a');
	fill_random(rnd, 3000, 5);
	assert_int_equal(sd_pack_add(w, &z, 1, text, 20000, &ids[0]), 0);
	assert_int_equal(sd_pack_add(w, &z, 1, rnd, 3000, &ids[1]), 0);
	assert_int_equal(sd_pack_add(w, &z, 1, "", 0, &ids[2]), 0);
	assert_int_equal(w->count, 3);
}

static void test_round_trip(void **state)
{
	static uint8_t text[20000], rnd[3000];
	struct sd_pack_pos pos = { 0 };
	struct sd_pack_writer w;
	struct sd_pack_rec rec;
	struct sd_id ids[3], id;
	struct sd_err why;
	size_t prev = 0;

	build_three(&w, text, rnd, ids);
	sd_id_of(&id, text, sizeof(text));
	assert_true(sd_id_eq(&id, &ids[0]));

	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(sd_pack_next(w.buf, w.len, &pos, &rec, &why),
				 1);
		assert_int_equal(rec.index, i);
		assert_int_equal(rec.off, prev);
		assert_true(sd_id_eq(&rec.id, &ids[i]));
		assert_ptr_equal(rec.data, w.buf + prev + SD_PACK_HDR_SIZE);
		assert_int_equal(sd_pack_verify(&z, &rec, scratch, &why), 0);
		prev = pos.off;
	}
	assert_int_equal(pos.off, w.len);
	assert_int_equal(sd_pack_next(w.buf, w.len, &pos, &rec, &why), 0);

	/* Records: text compressed, random and empty raw. */
	pos = (struct sd_pack_pos){ 0 };
	sd_pack_next(w.buf, w.len, &pos, &rec, NULL);
	assert_int_equal(rec.flag, SD_Z_ZSTD);
	assert_int_equal(rec.raw_len, 20000);
	assert_true(rec.stored_len < 2000);
	sd_pack_verify(&z, &rec, scratch, NULL);
	assert_memory_equal(scratch, text, sizeof(text));
	sd_pack_next(w.buf, w.len, &pos, &rec, NULL);
	assert_int_equal(rec.flag, SD_Z_RAW);
	assert_int_equal(rec.stored_len, 3000);
	assert_memory_equal(rec.data, rnd, 3000);
	sd_pack_next(w.buf, w.len, &pos, &rec, NULL);
	assert_int_equal(rec.flag, SD_Z_RAW);
	assert_int_equal(rec.raw_len, 0);
	assert_int_equal(rec.stored_len, 0);
	sd_pack_writer_fini(&w);

	/* An empty pack has no records. */
	pos = (struct sd_pack_pos){ 0 };
	assert_int_equal(sd_pack_next("", 0, &pos, &rec, &why), 0);
}

/* sd_pack_append copies a stored form byte for byte: a forwarded record is
 * the same record. */
static void test_append_matches_add(void **state)
{
	static uint8_t text[20000], rnd[3000];
	struct sd_pack_writer w, w2;
	struct sd_pack_pos pos = { 0 };
	struct sd_pack_rec rec;
	struct sd_id ids[3];

	build_three(&w, text, rnd, ids);
	sd_pack_writer_init(&w2, 1u << 20);
	while (sd_pack_next(w.buf, w.len, &pos, &rec, NULL) == 1)
		assert_int_equal(sd_pack_append(&w2, &rec.id, rec.flag,
						rec.raw_len, rec.data,
						rec.stored_len),
				 0);
	assert_int_equal(w2.len, w.len);
	assert_memory_equal(w2.buf, w.buf, w.len);
	sd_pack_writer_fini(&w);
	sd_pack_writer_fini(&w2);
}

static void test_writer_caps(void **state)
{
	static uint8_t rnd[4096];
	struct sd_pack_writer w;
	struct sd_id id = { { 1 } };

	fill_random(rnd, sizeof(rnd), 9);
	/* Room for one 4096-byte raw record and change. */
	sd_pack_writer_init(&w, 2 * SD_PACK_HDR_SIZE + 4096 + 100);
	assert_int_equal(sd_pack_add(&w, &z, 1, rnd, 4096, NULL), 0);
	assert_int_equal(sd_pack_add(&w, &z, 1, rnd, 4096, NULL), -EMSGSIZE);
	assert_int_equal(sd_pack_append(&w, &id, SD_Z_RAW, 4096, rnd, 4096),
			 -EMSGSIZE);
	/* Nothing was appended by the refusals. */
	assert_int_equal(w.len, SD_PACK_HDR_SIZE + 4096);
	assert_int_equal(w.count, 1);
	assert_int_equal(sd_pack_append(&w, &id, SD_Z_RAW, 100, rnd, 100), 0);

	/* Lengths the reader would refuse are refused here. */
	assert_int_equal(sd_pack_append(&w, &id, SD_Z_RAW, 10, rnd, 9),
			 -EINVAL);
	assert_int_equal(sd_pack_append(&w, &id, 7, 10, rnd, 10), -EINVAL);
	assert_int_equal(sd_pack_append(&w, &id, SD_Z_ZSTD, 0, rnd, 0),
			 -EINVAL);
	assert_int_equal(sd_pack_add(&w, &z, 1, rnd, SD_CHUNK_MAX + 1, NULL),
			 -EINVAL);

	sd_pack_writer_reset(&w);
	assert_int_equal(w.len, 0);
	assert_int_equal(sd_pack_add(&w, &z, 1, rnd, 4096, NULL), 0);
	sd_pack_writer_fini(&w);
}

/* A buffer of three good records followed by one bad header. */
struct bad {
	uint8_t buf[4096];
	size_t len;
	size_t bad_off;
};

static void good_prefix(struct bad *b)
{
	struct sd_pack_writer w;
	uint8_t data[200];

	fill_text(data, sizeof(data), 'k');
	sd_pack_writer_init(&w, sizeof(b->buf));
	for (int i = 0; i < 3; i++) {
		data[0] = (uint8_t)i;
		assert_int_equal(
			sd_pack_add(&w, &z, 1, data, sizeof(data), NULL), 0);
	}
	memcpy(b->buf, w.buf, w.len);
	b->bad_off = b->len = w.len;
	sd_pack_writer_fini(&w);
}

static void append_hdr(struct bad *b, const char *magic, uint8_t flag,
		       uint32_t raw_len, uint32_t stored_len, size_t follow)
{
	uint8_t *p = b->buf + b->len;

	memcpy(p, magic, 3);
	p[3] = flag;
	memset(p + 4, 0x11, SD_ID_SIZE);
	put_le32(p + 20, raw_len);
	put_le32(p + 24, stored_len);
	memset(p + SD_PACK_HDR_SIZE, 0x28, follow);
	b->len += SD_PACK_HDR_SIZE + follow;
}

/* Walks to the bad record; checks the code, the message and that pos did
 * not move. */
static void expect_refusal(const struct bad *b, int code, const char *msg)
{
	struct sd_pack_pos pos = { 0 };
	struct sd_pack_rec rec;
	struct sd_err why = { "" };
	int r;

	while ((r = sd_pack_next(b->buf, b->len, &pos, &rec, &why)) == 1)
		;
	assert_int_equal(r, code);
	assert_string_equal(why.what, msg);
	assert_int_equal(pos.off, b->bad_off);
	assert_int_equal(pos.index, 3);
	/* why is optional. */
	assert_int_equal(sd_pack_next(b->buf, b->len, &pos, &rec, NULL), code);
}

static void test_refusals(void **state)
{
	struct bad b;
	char msg[256];

	good_prefix(&b);
	append_hdr(&b, "TCK", SD_Z_ZSTD, 500000, 900000, 512);
	expect_refusal(&b, -EPROTO,
		       "pack record 3: stored length 900000 runs past the end "
		       "(512 left)");

	good_prefix(&b);
	b.len += 10;
	snprintf(msg, sizeof(msg),
		 "pack record 3: truncated header (10 bytes left, a header "
		 "takes %u)",
		 SD_PACK_HDR_SIZE);
	memset(b.buf + b.bad_off, 'T', 10);
	expect_refusal(&b, -EPROTO, msg);

	good_prefix(&b);
	append_hdr(&b, "XCK", SD_Z_RAW, 4, 4, 4);
	snprintf(msg, sizeof(msg), "pack record 3: bad magic at offset %zu",
		 b.bad_off);
	expect_refusal(&b, -EPROTO, msg);

	good_prefix(&b);
	append_hdr(&b, "TCK", 0x81, 4, 4, 4);
	expect_refusal(&b, -EPROTO, "pack record 3: unknown flags 0x81");

	good_prefix(&b);
	append_hdr(&b, "TCK", SD_Z_RAW, SD_CHUNK_MAX + 1, 4, 4);
	snprintf(msg, sizeof(msg),
		 "pack record 3: raw length %u over the %u-byte chunk cap",
		 SD_CHUNK_MAX + 1, SD_CHUNK_MAX);
	expect_refusal(&b, -EMSGSIZE, msg);

	good_prefix(&b);
	append_hdr(&b, "TCK", SD_Z_RAW, 5, 4, 4);
	expect_refusal(&b, -EPROTO,
		       "pack record 3: raw record stores 4 bytes for a raw "
		       "length of 5");

	good_prefix(&b);
	append_hdr(&b, "TCK", SD_Z_ZSTD, 0, 4, 4);
	expect_refusal(&b, -EPROTO,
		       "pack record 3: zstd record of an empty chunk (an "
		       "empty chunk is stored raw)");

	good_prefix(&b);
	append_hdr(&b, "TCK", SD_Z_ZSTD, 10, 0, 0);
	expect_refusal(&b, -EPROTO, "pack record 3: zstd record with no bytes");

	/* compressBound(10) is 73. */
	good_prefix(&b);
	append_hdr(&b, "TCK", SD_Z_ZSTD, 10, 74, 74);
	expect_refusal(&b, -EMSGSIZE,
		       "pack record 3: stored length 74 over zstd's bound 73 "
		       "for 10 raw bytes");
}

static void test_verify_catches_mismatch(void **state)
{
	static uint8_t text[20000], rnd[3000];
	struct sd_pack_pos pos = { 0 };
	struct sd_pack_writer w;
	struct sd_pack_rec rec;
	struct sd_id ids[3];
	struct sd_err why;
	char hex[SD_ID_HEX], msg[256];
	size_t off;

	build_three(&w, text, rnd, ids);
	/* A flipped byte in the raw record: still a well-formed record. */
	sd_pack_next(w.buf, w.len, &pos, &rec, NULL);
	off = pos.off;
	w.buf[off + SD_PACK_HDR_SIZE + 100] ^= 1;
	sd_pack_next(w.buf, w.len, &pos, &rec, NULL);
	assert_int_equal(sd_pack_verify(&z, &rec, scratch, &why), -EBADMSG);
	snprintf(msg, sizeof(msg),
		 "pack record 1: chunk %s: bytes do not "
		 "match the id (they hash to ",
		 sd_id_hex(&ids[1], hex));
	assert_memory_equal(why.what, msg, strlen(msg));

	/* A corrupt zstd record. */
	pos = (struct sd_pack_pos){ 0 };
	w.buf[SD_PACK_HDR_SIZE + 5] ^= 0xff;
	sd_pack_next(w.buf, w.len, &pos, &rec, NULL);
	assert_int_equal(sd_pack_verify(&z, &rec, scratch, &why), -EBADMSG);
	snprintf(msg, sizeof(msg),
		 "pack record 0: chunk %s: ", sd_id_hex(&ids[0], hex));
	assert_memory_equal(why.what, msg, strlen(msg));

	/* The wrong id on good bytes. */
	pos = (struct sd_pack_pos){ 0 };
	sd_pack_next(w.buf, w.len, &pos, &rec, NULL);
	sd_pack_next(w.buf, w.len, &pos, &rec, NULL);
	sd_pack_next(w.buf, w.len, &pos, &rec, NULL);
	assert_int_equal(sd_pack_verify(&z, &rec, scratch, &why), 0);
	rec.id.b[0] ^= 1;
	assert_int_equal(sd_pack_verify(&z, &rec, scratch, &why), -EBADMSG);
	sd_pack_writer_fini(&w);
}

/* The largest chunk, incompressible, fits one SYNC_PUT-sized pack. */
static void test_largest_record(void **state)
{
	uint8_t *big = malloc(SD_CHUNK_MAX);
	struct sd_pack_pos pos = { 0 };
	struct sd_pack_writer w;
	struct sd_pack_rec rec;

	fill_random(big, SD_CHUNK_MAX, 11);
	sd_pack_writer_init(&w, 1016u << 10);
	assert_int_equal(sd_pack_add(&w, &z, 1, big, SD_CHUNK_MAX, NULL), 0);
	assert_int_equal(sd_pack_next(w.buf, w.len, &pos, &rec, NULL), 1);
	assert_int_equal(rec.flag, SD_Z_RAW);
	assert_int_equal(rec.raw_len, SD_CHUNK_MAX);
	assert_int_equal(sd_pack_verify(&z, &rec, scratch, NULL), 0);
	sd_pack_writer_fini(&w);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_append_matches_add),
		cmocka_unit_test(test_writer_caps),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_verify_catches_mismatch),
		cmocka_unit_test(test_largest_record),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
