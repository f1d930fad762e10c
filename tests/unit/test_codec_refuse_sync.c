/* SPDX-License-Identifier: MIT */
/* Unit tests for the wire codec's SYNC_* messages: every malformed or
 * oversized shape (names, sessions, pieces past their totals, commit
 * flags, SERVE and FILL, definitions, fetches, manifests, gets and chunks)
 * is refused with the right code and a reason naming the field, by the
 * decoder and by the encoder. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "codec_fixture.h"

static void test_sync_shapes(void **state)
{
	static const char *const bad_names[] = { ".hidden", "a/b", "a b",
						 "caf\xc3\xa9", ".." };
	struct tp_decode_err e;
	struct fb f;
	char long_name[TP_NAME_MAX + 2];

	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		fb_init(&f, TP_SYNC_BEGIN);
		fb_str(&f, bad_names[i]);
		fb_str(&f, "");
		assert_int_equal(fb_decode(&f, &e), -EPROTO);
		assert_what_has(&e, "SYNC_BEGIN.workspace: not a name");
	}
	/* An empty workspace is refused; an empty domain means "its own". */
	fb_init(&f, TP_SYNC_BEGIN);
	fb_str(&f, "");
	fb_str(&f, "");
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	fb_init(&f, TP_SYNC_BEGIN);
	fb_str(&f, "w");
	fb_str(&f, long_name);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "SYNC_BEGIN.domain");

	/* Session 0 is never valid. */
	fb_init(&f, TP_SYNC_PUT);
	fb_le(&f, 0, 8);
	fb_str(&f, "");
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_PUT.session");

	/* An offer piece past its total. */
	fb_init(&f, TP_SYNC_OFFER);
	fb_str(&f, "w");
	fb_le(&f, 1, 8);
	fb_le(&f, 8, 8);
	fb_le(&f, 10, 8);
	fb_str(&f, "abc");
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_OFFER.data: bytes 8+3 past the total 10");

	/* A want page past its total, over the cap, and short of its ids. */
	fb_init(&f, TP_SYNC_WANT);
	fb_le(&f, 1, 8);
	fb_le(&f, 2, 8);
	fb_le(&f, 1, 8);
	fb_le(&f, 2, 4);
	fb_fill(&f, 28, 0);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "past the total");
	fb_init(&f, TP_SYNC_WANT);
	fb_le(&f, 1, 8);
	fb_le(&f, UINT64_MAX, 8);
	fb_le(&f, 0, 8);
	fb_le(&f, TP_WANT_MAX + 1, 4);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	fb_init(&f, TP_SYNC_WANT);
	fb_le(&f, 1, 8);
	fb_le(&f, 2, 8);
	fb_le(&f, 0, 8);
	fb_le(&f, 2, 4);
	fb_raw(&f, sample_ids, TP_ID_SIZE + 3);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_WANT.ids: truncated");

	/* A table entry whose name is not a name. */
	fb_init(&f, TP_SYNC_TABLE);
	fb_le(&f, 1, 4);
	fb_str(&f, "ok");
	fb_str(&f, "no/pe");
	fb_fill(&f, 0, 0);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_TABLE[0].domain");

	/* A bad workspace in EXEC_START. */
	start_head(&f, 0);
	fb_str(&f, "");
	fb_str(&f, "../x");
	fb_le(&f, 1, 4);
	fb_str(&f, "ls");
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_START.workspace");
}

/* A SYNC_COMMIT frame up to its flags. */
static void commit_head(struct fb *f)
{
	fb_init(f, TP_SYNC_COMMIT);
	fb_le(f, 1, 8);
	fb_le(f, 2, 8);
	fb_raw(f, sample_ids, TP_ID_SIZE);
}

static void serve_frame(struct fb *f, const char *ws, uint64_t session,
			uint32_t wait_ms)
{
	fb_init(f, TP_SYNC_SERVE);
	fb_str(f, ws);
	fb_le(f, session, 8);
	fb_le(f, wait_ms, 4);
}

/* What version 3 added: SYNC_STATE.missing, SYNC_COMMIT.flags,
 * SYNC_SERVE and SYNC_FILL. */
static void test_lazy_shapes(void **state)
{
	static const uint32_t bad_flags[] = { 1u << 1, 1u << 31, 0xffffffff };
	static const char *const bad_names[] = { "", ".w", "../w", "a b",
						 "caf\xc3\xa9" };
	uint8_t *big = calloc(1, TP_BULK_MAX + 1);
	char long_name[TP_NAME_MAX + 2];
	struct tp_decode_err e;
	struct tp_msg m;
	struct fb f;

	assert_non_null(big);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';

	/* A commit's flags: LAZY or nothing; any other bit is refused. */
	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		commit_head(&f);
		fb_le(&f, bad_flags[i], 4);
		assert_int_equal(fb_decode(&f, &e), -EPROTO);
		assert_what_has(&e, "SYNC_COMMIT.flags: unknown bits");
	}
	assert_string_equal(e.what,
			    "SYNC_COMMIT.flags: unknown bits 0xfffffffe");
	for (uint32_t flags = 0; flags <= TP_COMMIT_F_ALL_; flags++) {
		commit_head(&f);
		fb_le(&f, flags, 4);
		assert_int_equal(fb_decode(&f, &e), 0);
	}
	/* Version 2's commit, without flags, is short. */
	commit_head(&f);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_COMMIT.flags: truncated");

	/* Version 2's state, without missing, is short; so is a table entry
	 * without it (its pending_ms is read as missing). */
	fb_init(&f, TP_SYNC_STATE);
	fb_le(&f, 1, 8);
	fb_raw(&f, sample_ids, TP_ID_SIZE);
	fb_le(&f, 1, 8);
	fb_le(&f, 1, 8);
	fb_le(&f, 1, 8);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_STATE.missing: truncated");
	fb_init(&f, TP_SYNC_TABLE);
	fb_le(&f, 1, 4);
	fb_str(&f, "w");
	fb_str(&f, "w");
	fb_le(&f, 1, 8);
	fb_raw(&f, sample_ids, TP_ID_SIZE);
	fb_le(&f, 1, 8);
	fb_le(&f, 1, 8);
	fb_le(&f, 1, 8);
	fb_le(&f, 0, 8);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_TABLE[0].pending_ms: truncated");

	/* SYNC_SERVE: a name, a session that is not 0, a bounded wait. */
	serve_frame(&f, "w", 0, 100);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "SYNC_SERVE.session: 0 is not a session");
	serve_frame(&f, "w", 1, TP_SERVE_WAIT_MAX + 1);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what,
			    "SYNC_SERVE.wait_ms: 60001 ms over the 60000 ms "
			    "cap");
	serve_frame(&f, "w", 1, UINT32_MAX);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_SERVE.wait_ms");
	serve_frame(&f, "w", UINT64_MAX, TP_SERVE_WAIT_MAX);
	assert_int_equal(fb_decode(&f, &e), 0);
	serve_frame(&f, "w", 1, 0);
	assert_int_equal(fb_decode(&f, &e), 0);
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		serve_frame(&f, bad_names[i], 1, 0);
		assert_int_equal(fb_decode(&f, &e), -EPROTO);
		assert_what_has(&e, "SYNC_SERVE.workspace: not a name");
		fb_init(&f, TP_SYNC_FILL);
		fb_str(&f, bad_names[i]);
		fb_str(&f, "");
		assert_int_equal(fb_decode(&f, &e), -EPROTO);
		assert_what_has(&e, "SYNC_FILL.workspace: not a name");
	}
	serve_frame(&f, long_name, 1, 0);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "SYNC_SERVE.workspace: 65 bytes, over the 64");
	fb_init(&f, TP_SYNC_SERVE);
	fb_raw(&f, "\3\0\0\0w\0x", 7);
	fb_le(&f, 1, 8);
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what,
			    "SYNC_SERVE.workspace: string contains NUL");

	/* SYNC_FILL: a name, then a pack of at most TP_BULK_MAX bytes, the
	 * cap checked on the length alone. */
	fb_init(&f, TP_SYNC_FILL);
	fb_str(&f, long_name);
	fb_str(&f, "");
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "SYNC_FILL.workspace");
	fb_init(&f, TP_SYNC_FILL);
	fb_str(&f, "w");
	fb_fill(&f, TP_BULK_MAX + 1, 0);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_string_equal(e.what, "SYNC_FILL.pack: 1040385 bytes, over the "
				    "1040384-byte cap");
	fb_init(&f, TP_SYNC_FILL);
	fb_str(&f, "w");
	fb_le(&f, UINT32_MAX, 4);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "SYNC_FILL.pack");
	fb_init(&f, TP_SYNC_FILL);
	fb_str(&f, "w");
	fb_le(&f, TP_BULK_MAX, 4);
	fb_raw(&f, "TCK", 3);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_FILL.pack: 1040384 bytes claimed, 3 left");
	fb_init(&f, TP_SYNC_FILL);
	fb_str(&f, "w");
	fb_fill(&f, TP_BULK_MAX, 0);
	assert_int_equal(fb_decode(&f, &e), 0);
	fb_init(&f, TP_SYNC_FILL);
	fb_str(&f, "w");
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_FILL.pack: truncated length");

	/* The encoder refuses the same: sizes first, then shapes. */
	m = (struct tp_msg){ .type = TP_SYNC_COMMIT,
			     .commit = { 1, 2, { 0 }, TP_COMMIT_F_LAZY } };
	free(encode_ok(&m, &(size_t){ 0 }));
	m.commit.flags = 1u << 1;
	assert_encode_fails(&m, -EINVAL);
	m.commit.flags = UINT32_MAX;
	assert_encode_fails(&m, -EINVAL);

	m = (struct tp_msg){
		.type = TP_SYNC_SERVE,
		.serve = { { (const uint8_t *)"w", 1 }, 1, TP_SERVE_WAIT_MAX }
	};
	free(encode_ok(&m, &(size_t){ 0 }));
	m.serve.wait_ms = TP_SERVE_WAIT_MAX + 1;
	assert_encode_fails(&m, -EINVAL);
	m.serve.wait_ms = 0;
	m.serve.session = 0;
	assert_encode_fails(&m, -EINVAL);
	m.serve.session = 1;
	m.serve.workspace = (struct tp_bytes){ (const uint8_t *)".w", 2 };
	assert_encode_fails(&m, -EINVAL);
	m.serve.workspace = (struct tp_bytes){ NULL, 0 };
	assert_encode_fails(&m, -EINVAL);
	m.serve.workspace = (struct tp_bytes){ (const uint8_t *)long_name,
					       TP_NAME_MAX + 1 };
	assert_encode_fails(&m, -EMSGSIZE);

	m = (struct tp_msg){ .type = TP_SYNC_FILL,
			     .fill = { { (const uint8_t *)"w", 1 },
				       { big, TP_BULK_MAX + 1 } } };
	assert_encode_fails(&m, -EMSGSIZE);
	m.fill.pack.len = TP_BULK_MAX;
	free(encode_ok(&m, &(size_t){ 0 }));
	m.fill.pack = (struct tp_bytes){ NULL, 5 };
	assert_encode_fails(&m, -EINVAL);
	m.fill.pack = (struct tp_bytes){ NULL, 0 };
	m.fill.workspace = (struct tp_bytes){ (const uint8_t *)"a/b", 3 };
	assert_encode_fails(&m, -EINVAL);
	m.fill.workspace = (struct tp_bytes){ NULL, 0 };
	assert_encode_fails(&m, -EINVAL);
	free(big);
}

static void get_head(struct fb *f, uint32_t count)
{
	fb_init(f, TP_SYNC_GET);
	fb_str(f, "w");
	fb_le(f, count, 4);
}

/* SYNC_FETCH, SYNC_MANIFEST, SYNC_GET, SYNC_CHUNKS. */
/* SYNC_DEFINE's head: workspace "w", session 1, path, size, mtime, err,
 * total, index, count. */
static void define_page_head(struct fb *f, const char *path, uint64_t size,
			     const char *err, uint32_t total, uint32_t index,
			     uint32_t count)
{
	fb_init(f, TP_SYNC_DEFINE);
	fb_str(f, "w");
	fb_le(f, 1, 8);
	fb_str(f, path);
	fb_le(f, size, 8);
	fb_le(f, 0, 8);
	fb_str(f, err);
	fb_le(f, total, 4);
	fb_le(f, index, 4);
	fb_le(f, count, 4);
}

/* A whole list in one page (or, with err, none). */
static void define_head(struct fb *f, const char *path, uint64_t size,
			const char *err, uint32_t count)
{
	define_page_head(f, path, size, err, err[0] ? 0 : count, 0, count);
}

static void define_ref(struct fb *f, uint8_t id, uint32_t len)
{
	uint8_t raw[TP_ID_SIZE] = { id };

	fb_raw(f, raw, sizeof(raw));
	fb_le(f, len, 4);
}

static void test_define_shapes(void **state)
{
	struct tp_decode_err e;
	struct fb f;

	/* A definition: its lens, none 0, sum to its size. */
	define_head(&f, "a/b", 7, "", 2);
	define_ref(&f, 1, 3);
	define_ref(&f, 2, 4);
	assert_int_equal(fb_decode(&f, &e), 0);
	define_head(&f, "a/b", 8, "", 2);
	define_ref(&f, 1, 3);
	define_ref(&f, 2, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "SYNC_DEFINE.refs: chunks of 7 bytes, "
				    "size 8");
	define_head(&f, "a/b", 3, "", 2);
	define_ref(&f, 1, 3);
	define_ref(&f, 2, 0);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "SYNC_DEFINE.refs[1]: an empty chunk");
	/* Fewer refs than the count; more is a trailing byte. */
	define_head(&f, "a/b", 3, "", 2);
	define_ref(&f, 1, 3);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "SYNC_DEFINE.refs: truncated (2 chunks)");
	define_head(&f, "a/b", 3, "", 1);
	define_ref(&f, 1, 3);
	fb_le(&f, 0, 1);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	/* Over the caps, refused on the counts alone. */
	define_head(&f, "a/b", 3, "", TP_DEFINE_MAX + 1);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_string_equal(e.what, "SYNC_DEFINE.count: 49153 chunks over "
				    "the 49152 cap");
	define_page_head(&f, "a/b", 3, "", TP_DEFINE_TOTAL_MAX + 1, 0, 1);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "SYNC_DEFINE.total: 16777217 chunks over");
	/* A page: inside the list, not empty, summing to no more than
	 * size. */
	define_page_head(&f, "a/b", 10, "", 3, 1, 2);
	define_ref(&f, 1, 3);
	define_ref(&f, 2, 4);
	assert_int_equal(fb_decode(&f, &e), 0);
	define_page_head(&f, "a/b", 6, "", 3, 1, 2);
	define_ref(&f, 1, 3);
	define_ref(&f, 2, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_DEFINE.refs: chunks of 7 bytes, size 6");
	define_page_head(&f, "a/b", 10, "", 3, 2, 2);
	define_ref(&f, 1, 3);
	define_ref(&f, 2, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "SYNC_DEFINE.count: chunks 2+2 of 3");
	define_page_head(&f, "a/b", 10, "", 3, 0, 0);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "SYNC_DEFINE.count: chunks 0+0 of 3");
	/* An error carries no chunks, and needs no sum. */
	define_head(&f, "a/b", 3, "gone", 0);
	assert_int_equal(fb_decode(&f, &e), 0);
	define_page_head(&f, "a/b", 3, "gone", 1, 0, 1);
	define_ref(&f, 1, 3);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "SYNC_DEFINE.count: 1 chunks with an "
				    "error");
	/* The path is a workspace path. */
	define_head(&f, "../x", 0, "", 0);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_DEFINE.path");
	define_head(&f, "/etc/passwd", 0, "", 0);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_DEFINE.path");
	/* SYNC_ASK: a session that is not 0 and a workspace path. */
	fb_init(&f, TP_SYNC_ASK);
	fb_le(&f, 0, 8);
	fb_str(&f, "a");
	fb_le(&f, 1, 8);
	fb_le(&f, 1, 8);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "SYNC_ASK.session: 0 is not a session");
	fb_init(&f, TP_SYNC_ASK);
	fb_le(&f, 1, 8);
	fb_str(&f, "a//b");
	fb_le(&f, 1, 8);
	fb_le(&f, 1, 8);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_ASK.path");
	fb_init(&f, TP_SYNC_ASK);
	fb_le(&f, 1, 8);
	fb_str(&f, "a");
	fb_le(&f, 1, 8);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_ASK.mtime_ns: truncated");
}

static void test_read_shapes(void **state)
{
	uint8_t *ids = calloc(TP_GET_MAX + 1, TP_ID_SIZE);
	struct tp_decode_err e;
	struct tp_msg m;
	struct fb f;

	assert_non_null(ids);

	/* The workspace is a name, as in SYNC_BEGIN; never empty. */
	fb_init(&f, TP_SYNC_FETCH);
	fb_str(&f, "../w");
	fb_le(&f, 0, 8);
	fb_le(&f, 0, 8);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_FETCH.workspace: not a name");
	fb_init(&f, TP_SYNC_FETCH);
	fb_str(&f, "");
	fb_le(&f, 0, 8);
	fb_le(&f, 0, 8);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_FETCH.workspace");

	/* A page of version 0, past its total, over the cap. */
	fb_init(&f, TP_SYNC_MANIFEST);
	fb_le(&f, 0, 8);
	fb_le(&f, 4, 8);
	fb_le(&f, 0, 8);
	fb_str(&f, "TMAN");
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_MANIFEST.version: 0 is not");
	fb_init(&f, TP_SYNC_MANIFEST);
	fb_le(&f, 1, 8);
	fb_le(&f, 10, 8);
	fb_le(&f, 8, 8);
	fb_str(&f, "abc");
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_MANIFEST.data: bytes 8+3 past the total 10");
	fb_init(&f, TP_SYNC_MANIFEST);
	fb_le(&f, 1, 8);
	fb_le(&f, 2, 8);
	fb_le(&f, 3, 8);
	fb_str(&f, "");
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "past the total 2");
	fb_init(&f, TP_SYNC_MANIFEST);
	fb_le(&f, 1, 8);
	fb_le(&f, UINT64_MAX, 8);
	fb_le(&f, 0, 8);
	fb_le(&f, TP_BULK_MAX + 1, 4);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "SYNC_MANIFEST.data");

	/* GET: count 0, over the cap (before any id is looked at), and ids
	 * that are not exactly count * 16 bytes. */
	get_head(&f, 0);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_GET.count: 0 chunks");
	get_head(&f, TP_GET_MAX + 1);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "SYNC_GET.count: 1025 chunks over the 1024 cap");
	get_head(&f, UINT32_MAX);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	get_head(&f, 2);
	fb_raw(&f, ids, 2 * TP_ID_SIZE - 1);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_GET.ids: truncated (2 ids need 32 bytes, "
			    "31 left)");
	get_head(&f, 2);
	fb_raw(&f, ids, 3 * TP_ID_SIZE);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "16 trailing bytes");
	get_head(&f, TP_GET_MAX);
	fb_raw(&f, ids, TP_GET_MAX * TP_ID_SIZE);
	assert_int_equal(fb_decode(&f, &e), 0);
	fb_init(&f, TP_SYNC_GET);
	fb_str(&f, "a b");
	fb_le(&f, 1, 4);
	fb_raw(&f, ids, TP_ID_SIZE);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_GET.workspace: not a name");

	/* CHUNKS: a reply holds 1 .. TP_GET_MAX records. */
	fb_init(&f, TP_SYNC_CHUNKS);
	fb_le(&f, 0, 4);
	fb_str(&f, "");
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "SYNC_CHUNKS.count: 0 chunks");
	fb_init(&f, TP_SYNC_CHUNKS);
	fb_le(&f, TP_GET_MAX + 1, 4);
	fb_str(&f, "");
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "SYNC_CHUNKS.count");
	fb_init(&f, TP_SYNC_CHUNKS);
	fb_le(&f, 1, 4);
	fb_le(&f, TP_BULK_MAX + 1, 4);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "SYNC_CHUNKS.pack");

	/* The encoder refuses the same: sizes first, then shapes. */
	m = (struct tp_msg){
		.type = TP_SYNC_GET,
		.get = { { (const uint8_t *)"w", 1 }, TP_GET_MAX + 1, ids }
	};
	assert_encode_fails(&m, -EMSGSIZE);
	m.get.count = 0;
	assert_encode_fails(&m, -EINVAL);
	m.get.count = 1;
	m.get.ids = NULL;
	assert_encode_fails(&m, -EINVAL);
	m.get.ids = ids;
	m.get.workspace = (struct tp_bytes){ (const uint8_t *)".w", 2 };
	assert_encode_fails(&m, -EINVAL);
	m = (struct tp_msg){ .type = TP_SYNC_CHUNKS,
			     .chunks = { TP_GET_MAX + 1 } };
	assert_encode_fails(&m, -EMSGSIZE);
	m.chunks.count = 0;
	assert_encode_fails(&m, -EINVAL);
	m.chunks = (struct tp_sync_chunks){ 1, { ids, TP_BULK_MAX + 1 } };
	assert_encode_fails(&m, -EMSGSIZE);
	m = (struct tp_msg){ .type = TP_SYNC_MANIFEST,
			     .manifest = { 0, 1, 0, { ids, 1 } } };
	assert_encode_fails(&m, -EINVAL);
	m.manifest.version = 1;
	m.manifest.offset = 1;
	assert_encode_fails(&m, -EINVAL);
	m.manifest = (struct tp_sync_manifest){
		1, UINT64_MAX, 0, { ids, TP_BULK_MAX + 1 }
	};
	assert_encode_fails(&m, -EMSGSIZE);
	m = (struct tp_msg){ .type = TP_SYNC_FETCH };
	assert_encode_fails(&m, -EINVAL);
	free(ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_shapes),
		cmocka_unit_test(test_lazy_shapes),
		cmocka_unit_test(test_define_shapes),
		cmocka_unit_test(test_read_shapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
