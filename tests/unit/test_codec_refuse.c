/* SPDX-License-Identifier: MIT */
/* Unit tests for the wire codec: malformed or oversized frames and EXEC_*
 * messages are refused with the right code and a reason naming the field,
 * by the decoder and by the encoder. The SYNC_* refusals are in
 * test_codec_refuse_sync.c, the WS_* ones in test_codec_refuse_ws.c. */
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

/* ---- frame-level refusals ---- */

static void test_short_and_bad_magic(void **state)
{
	static const uint8_t list[] = { 'T', 'T', 'H', 'R', 6, 0,
					10,  0,	  0,   0,   0, 0 };
	struct tp_decode_err e;
	struct tp_msg m;
	uint8_t buf[12];

	assert_int_equal(tp_msg_decode(NULL, 0, &m, &e), -EPROTO);
	assert_true(e.what[0] != '\0');
	assert_int_equal(tp_msg_decode(list, 0, &m, &e), -EPROTO);
	assert_int_equal(tp_msg_decode(list, 11, &m, &e), -EPROTO);
	assert_what_has(&e, "11 bytes");
	assert_int_equal(tp_msg_decode(list, 12, &m, &e), 0);

	memcpy(buf, list, sizeof(buf));
	buf[0] = 't';
	assert_int_equal(tp_msg_decode(buf, sizeof(buf), &m, &e), -EPROTO);
	assert_what_has(&e, "magic");
	/* err is optional. */
	assert_int_equal(tp_msg_decode(buf, sizeof(buf), &m, NULL), -EPROTO);
}

static void test_wrong_version(void **state)
{
	struct tp_decode_err e;
	struct tp_msg m;
	uint8_t *buf;
	uint8_t garbage[TP_HEADER_SIZE];
	size_t len;

	/* An older peer and a newer one. */
	buf = encode_ok(&(struct tp_msg){ .type = TP_EXEC_LIST }, &len);
	le_store(buf + 4, 2, 2);
	assert_int_equal(tp_msg_decode(buf, len, &m, &e), -EPROTONOSUPPORT);
	assert_int_equal(e.peer_version, 2);
	assert_string_equal(e.what, "version 2 (this side speaks 6)");
	le_store(buf + 4, 7, 2);
	assert_int_equal(tp_msg_decode(buf, len, &m, &e), -EPROTONOSUPPORT);
	assert_int_equal(e.peer_version, 7);
	assert_string_equal(e.what, "version 7 (this side speaks 6)");
	free(buf);

	/* Whatever follows the version, a newer peer hears "version". */
	memcpy(garbage, "TTHR", 4);
	le_store(garbage + 4, 0xbeef, 2);
	le_store(garbage + 6, 999, 2);
	le_store(garbage + 8, 0xffffffff, 4);
	assert_int_equal(tp_msg_decode(garbage, sizeof(garbage), &m, &e),
			 -EPROTONOSUPPORT);
	assert_int_equal(e.peer_version, 0xbeef);
	le_store(garbage + 4, 0, 2);
	assert_int_equal(tp_msg_decode(garbage, sizeof(garbage), &m, &e),
			 -EPROTONOSUPPORT);
	assert_int_equal(e.peer_version, 0);
	assert_int_equal(tp_msg_decode(garbage, sizeof(garbage), &m, NULL),
			 -EPROTONOSUPPORT);

	/* Even over the size cap. */
	buf = calloc(1, TP_FRAME_MAX + 1);
	assert_non_null(buf);
	memcpy(buf, "TTHR", 4);
	le_store(buf + 4, 7, 2);
	assert_int_equal(tp_msg_decode(buf, TP_FRAME_MAX + 1, &m, &e),
			 -EPROTONOSUPPORT);
	assert_int_equal(e.peer_version, 7);
	free(buf);
}

static void test_body_length_mismatch(void **state)
{
	struct tp_msg m = { .type = TP_OK, .ok = 1 }, d;
	struct tp_decode_err e;
	uint8_t *buf;
	size_t len;

	buf = encode_ok(&m, &len);
	le_store(buf + 8, 7, 4);
	assert_int_equal(tp_msg_decode(buf, len, &d, &e), -EPROTO);
	assert_what_has(&e, "frame");
	le_store(buf + 8, 9, 4);
	assert_int_equal(tp_msg_decode(buf, len, &d, &e), -EPROTO);
	/* u32 arithmetic must not wrap into a match. */
	le_store(buf + 8, 0xffffffff, 4);
	assert_int_equal(tp_msg_decode(buf, len, &d, &e), -EPROTO);
	le_store(buf + 8, 0xfffffff4, 4);
	assert_int_equal(tp_msg_decode(buf, len, &d, &e), -EPROTO);
	free(buf);
}

static void test_frame_over_cap(void **state)
{
	struct tp_decode_err e;
	struct tp_msg m;
	struct fb f;

	/* A well-formed header whose frame is one byte too long. */
	fb_init(&f, TP_EXEC_WRITE);
	fb_le(&f, 1, 8);
	fb_le(&f, 0, 8);
	fb_fill(&f, TP_FRAME_MAX + 1 - f.len - 4 - 1, 'd');
	fb_le(&f, 0, 1);
	assert_int_equal(f.len, TP_FRAME_MAX + 1);
	fb_seal(&f);
	assert_int_equal(tp_msg_decode(f.p, f.len, &m, &e), -EMSGSIZE);
	assert_what_has(&e, "1048577 bytes");
	assert_what_has(&e, "1048576");
	free(f.p);
}

static void test_unknown_type(void **state)
{
	static const uint16_t types[] = { 0, TP_TYPE_MAX_, 999, UINT16_MAX };
	struct tp_decode_err e;
	struct tp_msg m;
	uint8_t buf[TP_HEADER_SIZE];

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		memcpy(buf, "TTHR", 4);
		le_store(buf + 4, TP_VERSION, 2);
		le_store(buf + 6, types[i], 2);
		le_store(buf + 8, 0, 4);
		assert_int_equal(tp_msg_decode(buf, sizeof(buf), &m, &e),
				 -EPROTO);
		assert_what_has(&e, "type");
	}
}

static void test_truncation_points(void **state)
{
	struct tp_msg s[SAMPLES_MAX];
	size_t n = samples(s);

	for (size_t i = 0; i < n; i++)
		assert_truncations_refused(&s[i]);
}

static void test_trailing_byte(void **state)
{
	struct tp_msg s[SAMPLES_MAX];
	size_t n = samples(s);

	for (size_t i = 0; i < n; i++)
		assert_trailing_refused(&s[i]);
}

/* ---- field refusals ---- */

static void test_nul_in_strings(void **state)
{
	struct tp_decode_err e;
	struct fb f;

	start_head(&f, 0);
	fb_raw(&f, "\4\0\0\0/t\0p", 8);
	fb_le(&f, 1, 4);
	fb_str(&f, "ls");
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "EXEC_START.cwd: string contains NUL");

	start_head(&f, 0);
	fb_str(&f, "");
	fb_str(&f, ""); /* workspace */
	fb_le(&f, 4, 4);
	fb_str(&f, "a");
	fb_str(&f, "b");
	fb_str(&f, "c");
	fb_raw(&f, "\2\0\0\0d\0", 6);
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "EXEC_START.argv[3]: string contains NUL");

	start_head(&f, 0);
	fb_str(&f, "");
	fb_str(&f, ""); /* workspace */
	fb_le(&f, 1, 4);
	fb_str(&f, "ls");
	fb_le(&f, 1, 4);
	fb_raw(&f, "\3\0\0\0A=\0", 7);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_START.env[0]");

	fb_init(&f, TP_ERROR);
	fb_le(&f, EIO, 4);
	fb_raw(&f, "\1\0\0\0\0", 5);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "ERROR.message");

	fb_init(&f, TP_EXEC_TABLE);
	fb_le(&f, 1, 4);
	fb_le(&f, 1, 8);
	fb_le(&f, 1, 4);
	fb_le(&f, 0, 4);
	fb_le(&f, 0, 1);
	fb_exit(&f, 0);
	fb_le(&f, 0, 8);
	fb_raw(&f, "\3\0\0\0a\0b", 7);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what,
			    "EXEC_TABLE[0].cmdline: string contains NUL");
}

static void test_string_over_cap(void **state)
{
	struct tp_decode_err e;
	struct fb f;

	/* Really present, one byte over. */
	start_head(&f, 0);
	fb_str(&f, "");
	fb_str(&f, ""); /* workspace */
	fb_le(&f, 2, 4);
	fb_str(&f, "ls");
	fb_fill(&f, TP_STR_MAX + 1, 'a');
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "EXEC_START.argv[1]");
	assert_what_has(&e, "65537");

	/* Only claimed: the cap is checked before the bytes. */
	start_head(&f, 0);
	fb_le(&f, 0xffffffff, 4);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "EXEC_START.cwd");

	/* At the cap exactly, but the bytes are not there. */
	start_head(&f, 0);
	fb_le(&f, TP_STR_MAX, 4);
	fb_raw(&f, "abc", 3);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);

	fb_init(&f, TP_ERROR);
	fb_le(&f, EIO, 4);
	fb_fill(&f, TP_ERRMSG_MAX + 1, 'm');
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "ERROR.message");

	fb_init(&f, TP_EXEC_TABLE);
	fb_le(&f, 1, 4);
	fb_le(&f, 1, 8);
	fb_le(&f, 1, 4);
	fb_le(&f, 0, 4);
	fb_le(&f, 0, 1);
	fb_exit(&f, 0);
	fb_le(&f, 0, 8);
	fb_fill(&f, TP_STR_MAX + 1, 'c');
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "cmdline");
}

static void test_data_over_cap(void **state)
{
	struct tp_decode_err e;
	struct fb f;

	fb_init(&f, TP_EXEC_OUTPUT);
	fb_le(&f, 0, 8);
	fb_fill(&f, TP_DATA_MAX + 1, 'o');
	fb_le(&f, 0, 8);
	fb_le(&f, 0, 4);
	fb_le(&f, 0, 1);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "EXEC_OUTPUT.out");

	fb_init(&f, TP_EXEC_OUTPUT);
	fb_le(&f, 0, 8);
	fb_le(&f, 0, 4);
	fb_le(&f, 0, 8);
	fb_fill(&f, TP_DATA_MAX + 1, 'e');
	fb_le(&f, 0, 1);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "EXEC_OUTPUT.err");

	fb_init(&f, TP_EXEC_WRITE);
	fb_le(&f, 1, 8);
	fb_le(&f, 0, 8);
	fb_fill(&f, TP_DATA_MAX + 1, 'i');
	fb_le(&f, 0, 1);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "EXEC_WRITE.data");
}

static void test_strv_shapes(void **state)
{
	struct tp_decode_err e;
	struct fb f;

	/* Count over the cap, checked before any element. */
	start_head(&f, 0);
	fb_str(&f, "");
	fb_str(&f, ""); /* workspace */
	fb_le(&f, TP_STRV_MAX + 1, 4);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "EXEC_START.argv");

	start_head(&f, 0);
	fb_str(&f, "");
	fb_str(&f, ""); /* workspace */
	fb_le(&f, 1, 4);
	fb_str(&f, "ls");
	fb_le(&f, TP_STRV_MAX + 1, 4);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "EXEC_START.env");

	/* Count larger than the elements present. */
	start_head(&f, 0);
	fb_str(&f, "");
	fb_str(&f, ""); /* workspace */
	fb_le(&f, 3, 4);
	fb_str(&f, "ls");
	fb_str(&f, "-l");
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "argv[2]");

	/* Empty argv. */
	start_head(&f, 0);
	fb_str(&f, "");
	fb_str(&f, ""); /* workspace */
	fb_le(&f, 0, 4);
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_START.argv");

	/* Empty argv element. */
	start_head(&f, 0);
	fb_str(&f, "");
	fb_str(&f, ""); /* workspace */
	fb_le(&f, 2, 4);
	fb_str(&f, "ls");
	fb_str(&f, "");
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_START.argv[1]: empty");

	/* env without '=', with an empty name, and empty. */
	static const char *const bad_env[] = { "PATH", "=x", "" };
	for (size_t i = 0; i < 3; i++) {
		start_head(&f, 0);
		fb_str(&f, "");
		fb_str(&f, ""); /* workspace */
		fb_le(&f, 1, 4);
		fb_str(&f, "ls");
		fb_le(&f, 2, 4);
		fb_str(&f, "A=1");
		fb_str(&f, bad_env[i]);
		assert_int_equal(fb_decode(&f, &e), -EPROTO);
		assert_what_has(&e, "EXEC_START.env[1]");
	}
}

/* A SANDBOX start whose block has these values (the others 0). */
static void sandbox_start(struct fb *f, unsigned mode, const char *src,
			  uint32_t cpu, uint32_t rl_set)
{
	start_head(f, TP_EXEC_F_SANDBOX);
	fb_str(f, "");
	fb_str(f, ""); /* workspace */
	fb_le(f, 1, 4);
	fb_str(f, "ls");
	fb_le(f, 0, 4);
	fb_le(f, 0, 1);	   /* net_host */
	fb_le(f, mode, 1); /* ws_mode */
	fb_str(f, src);
	fb_str(f, "");
	fb_le(f, 0, 8);
	fb_le(f, cpu, 4);
	fb_le(f, 0, 4);
	fb_le(f, rl_set, 4);
	for (int i = 0; i < 4; i++)
		fb_le(f, 0, 8);
}

static void test_sandbox_shapes(void **state)
{
	struct tp_decode_err e;
	struct fb f;

	sandbox_start(&f, 0, "/srv", 1000, 0xf);
	assert_int_equal(fb_decode(&f, &e), 0);
	sandbox_start(&f, 4, "", 0, 0);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_START.sandbox.ws_mode");
	sandbox_start(&f, 0, "srv", 0, 0);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_START.sandbox.ws_src: not an absolute path");
	sandbox_start(&f, 0, "", TP_SBX_CPU_MAX + 1, 0);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_START.sandbox.cpu_milli");
	sandbox_start(&f, 0, "", 0, 0x10);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_START.sandbox.rl_set: unknown bits 0x10");
	/* The flag without its block. */
	start_head(&f, TP_EXEC_F_SANDBOX);
	fb_str(&f, "");
	fb_str(&f, "");
	fb_le(&f, 1, 4);
	fb_str(&f, "ls");
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_START.sandbox.net_host");

	/* An exit block's limits: two bits. */
	fb_init(&f, TP_EXEC_OUTPUT);
	fb_le(&f, 0, 8);
	fb_str(&f, "");
	fb_le(&f, 0, 8);
	fb_str(&f, "");
	fb_le(&f, 1, 1); /* EXITED */
	fb_le(&f, 0, 4);
	fb_le(&f, 0, 4);
	fb_le(&f, 0, 1);
	for (int i = 0; i < 4; i++)
		fb_le(&f, 0, 8);
	fb_le(&f, 4, 1);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "exit.limits: unknown bits 0x4");
}

static void test_flag_and_enum_values(void **state)
{
	static const uint32_t bad_flags[] = { 1u << 5, 1u << 31, 0xffffffff };
	struct tp_decode_err e;
	struct fb f;

	for (size_t i = 0; i < 3; i++) {
		start_head(&f, bad_flags[i]);
		fb_str(&f, "");
		fb_str(&f, ""); /* workspace */
		fb_le(&f, 1, 4);
		fb_str(&f, "ls");
		fb_le(&f, 0, 4);
		assert_int_equal(fb_decode(&f, &e), -EPROTO);
		assert_what_has(&e, "EXEC_START.flags");
	}

	/* state 2 */
	fb_init(&f, TP_EXEC_OUTPUT);
	fb_le(&f, 0, 8);
	fb_le(&f, 0, 4);
	fb_le(&f, 0, 8);
	fb_le(&f, 0, 4);
	fb_le(&f, 2, 1);
	fb_exit(&f, 0);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_OUTPUT.state");

	/* timed_out 2 */
	fb_init(&f, TP_EXEC_OUTPUT);
	fb_le(&f, 0, 8);
	fb_le(&f, 0, 4);
	fb_le(&f, 0, 8);
	fb_le(&f, 0, 4);
	fb_le(&f, 1, 1);
	fb_exit(&f, 2);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_OUTPUT.exit.timed_out");

	/* eof 2 */
	fb_init(&f, TP_EXEC_WRITE);
	fb_le(&f, 1, 8);
	fb_le(&f, 0, 8);
	fb_str(&f, "x");
	fb_le(&f, 2, 1);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_WRITE.eof");

	/* signo out of 1..64 */
	static const int32_t bad_sig[] = { 0, 65, -1, INT32_MIN };
	for (size_t i = 0; i < 4; i++) {
		fb_init(&f, TP_EXEC_SIGNAL);
		fb_le(&f, 1, 8);
		fb_le(&f, (uint32_t)bad_sig[i], 4);
		assert_int_equal(fb_decode(&f, &e), -EPROTO);
		assert_what_has(&e, "EXEC_SIGNAL.signo");
	}
}

static void table_entry(struct fb *f, uint32_t flags, uint8_t st,
			uint8_t timed_out)
{
	fb_le(f, 1, 8);
	fb_le(f, 1, 4);
	fb_le(f, flags, 4);
	fb_le(f, st, 1);
	fb_exit(f, timed_out);
	fb_le(f, 0, 8);
	fb_str(f, "ls");
}

static void test_table_shapes(void **state)
{
	struct tp_decode_err e;
	struct fb f;

	fb_init(&f, TP_EXEC_TABLE);
	fb_le(&f, TP_TABLE_MAX + 1, 4);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "EXEC_TABLE.count");

	/* Count larger than the entries present. */
	fb_init(&f, TP_EXEC_TABLE);
	fb_le(&f, 3, 4);
	table_entry(&f, 0, 1, 0);
	table_entry(&f, 0, 1, 0);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_TABLE[2]");

	fb_init(&f, TP_EXEC_TABLE);
	fb_le(&f, 2, 4);
	table_entry(&f, 0, 1, 0);
	table_entry(&f, 32, 1, 0);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_TABLE[1].flags");

	fb_init(&f, TP_EXEC_TABLE);
	fb_le(&f, 1, 4);
	table_entry(&f, 0, 2, 0);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_TABLE[0].state");

	/* A running entry carries an all-zero exit block. */
	fb_init(&f, TP_EXEC_TABLE);
	fb_le(&f, 1, 4);
	table_entry(&f, 0, 0, 1);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_TABLE[0].exit");
}

/* ---- encode refusals ---- */

static void test_encode_size_refusals(void **state)
{
	char *longs = malloc(TP_STR_MAX + 2);
	const char **argv = calloc(TP_STRV_MAX + 1, sizeof(*argv));
	struct tp_exec_entry *ents = calloc(TP_TABLE_MAX + 1, sizeof(*ents));
	uint8_t *data = calloc(1, TP_DATA_MAX + 1);
	struct tp_msg m;

	assert_non_null(longs);
	assert_non_null(argv);
	assert_non_null(ents);
	assert_non_null(data);
	memset(longs, 's', TP_STR_MAX + 1);
	longs[TP_STR_MAX + 1] = '\0';

	m = (struct tp_msg){ .type = TP_ERROR,
			     .error = { EIO, { data, TP_ERRMSG_MAX + 1 } } };
	assert_encode_fails(&m, -EMSGSIZE);

	argv[0] = "ls";
	argv[1] = longs;
	m = (struct tp_msg){ .type = TP_EXEC_START, .argv_c = { argv, 2 } };
	assert_encode_fails(&m, -EMSGSIZE);
	m.argv_c.count = 1;
	m.env_c = (struct tp_cstrv){ argv + 1, 1 };
	assert_encode_fails(&m, -EMSGSIZE);
	m.env_c.count = 0;
	m.start.cwd =
		(struct tp_bytes){ (const uint8_t *)longs, TP_STR_MAX + 1 };
	assert_encode_fails(&m, -EMSGSIZE);

	for (uint32_t i = 0; i <= TP_STRV_MAX; i++)
		argv[i] = "a";
	m = (struct tp_msg){ .type = TP_EXEC_START,
			     .argv_c = { argv, TP_STRV_MAX + 1 } };
	assert_encode_fails(&m, -EMSGSIZE);

	/* Every field within its cap, the frame over TP_FRAME_MAX. */
	longs[TP_STR_MAX] = '\0';
	for (uint32_t i = 0; i < 20; i++)
		argv[i] = longs;
	m = (struct tp_msg){ .type = TP_EXEC_START, .argv_c = { argv, 20 } };
	assert_encode_fails(&m, -EMSGSIZE);

	m = (struct tp_msg){ .type = TP_EXEC_OUTPUT,
			     .output = { .out = { data, TP_DATA_MAX + 1 } } };
	assert_encode_fails(&m, -EMSGSIZE);
	m.output.out.len = 0;
	m.output.err = (struct tp_bytes){ data, TP_DATA_MAX + 1 };
	assert_encode_fails(&m, -EMSGSIZE);
	m = (struct tp_msg){ .type = TP_EXEC_WRITE,
			     .write = { .data = { data, TP_DATA_MAX + 1 } } };
	assert_encode_fails(&m, -EMSGSIZE);

	m = (struct tp_msg){ .type = TP_EXEC_TABLE,
			     .table = { .count = TP_TABLE_MAX + 1,
					.entries = ents } };
	assert_encode_fails(&m, -EMSGSIZE);
	for (uint32_t i = 0; i < TP_TABLE_MAX; i++)
		ents[i].cmdline =
			(struct tp_bytes){ (const uint8_t *)longs, 1000 };
	m.table.count = TP_TABLE_MAX;
	assert_encode_fails(&m, -EMSGSIZE);

	free(longs);
	free(argv);
	free(ents);
	free(data);
}

static void test_encode_invalid_refusals(void **state)
{
	static const char *const argv[] = { "ls", "", NULL };
	static const char *const bad_env[] = { "NOEQUALS" };
	struct tp_msg m;

	assert_encode_fails(&(struct tp_msg){ .type = 0 }, -EINVAL);
	assert_encode_fails(&(struct tp_msg){ .type = 999 }, -EINVAL);
	assert_int_equal(tp_msg_encode(NULL, &(uint8_t *){ NULL }), -EINVAL);

	/* Empty argv, empty element, NULL element, bad env, bad flags. */
	m = (struct tp_msg){ .type = TP_EXEC_START };
	assert_encode_fails(&m, -EINVAL);
	m.argv_c = (struct tp_cstrv){ argv, 2 };
	assert_encode_fails(&m, -EINVAL);
	m.argv_c = (struct tp_cstrv){ argv, 3 };
	assert_encode_fails(&m, -EINVAL);
	m.argv_c = (struct tp_cstrv){ NULL, 1 };
	assert_encode_fails(&m, -EINVAL);
	m.argv_c = (struct tp_cstrv){ argv, 1 };
	m.env_c = (struct tp_cstrv){ bad_env, 1 };
	assert_encode_fails(&m, -EINVAL);
	m.env_c.count = 0;
	m.start.flags = 1u << 5;
	assert_encode_fails(&m, -EINVAL);
	m.start.flags = 0;
	m.start.cwd = (struct tp_bytes){ (const uint8_t *)"a\0b", 3 };
	assert_encode_fails(&m, -EINVAL);

	m = (struct tp_msg){ .type = TP_EXEC_OUTPUT, .output = { .state = 2 } };
	assert_encode_fails(&m, -EINVAL);
	m = (struct tp_msg){ .type = TP_EXEC_WRITE, .write = { .eof = 2 } };
	assert_encode_fails(&m, -EINVAL);
	m = (struct tp_msg){ .type = TP_EXEC_WRITE,
			     .write = { .data = { NULL, 5 } } };
	assert_encode_fails(&m, -EINVAL);
	m = (struct tp_msg){ .type = TP_EXEC_SIGNAL, .signal = { 1, 0 } };
	assert_encode_fails(&m, -EINVAL);
	m.signal.signo = 65;
	assert_encode_fails(&m, -EINVAL);
	m = (struct tp_msg){ .type = TP_EXEC_TABLE, .table = { .count = 1 } };
	assert_encode_fails(&m, -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_and_bad_magic),
		cmocka_unit_test(test_wrong_version),
		cmocka_unit_test(test_body_length_mismatch),
		cmocka_unit_test(test_frame_over_cap),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_truncation_points),
		cmocka_unit_test(test_trailing_byte),
		cmocka_unit_test(test_nul_in_strings),
		cmocka_unit_test(test_string_over_cap),
		cmocka_unit_test(test_data_over_cap),
		cmocka_unit_test(test_strv_shapes),
		cmocka_unit_test(test_sandbox_shapes),
		cmocka_unit_test(test_flag_and_enum_values),
		cmocka_unit_test(test_table_shapes),
		cmocka_unit_test(test_encode_size_refusals),
		cmocka_unit_test(test_encode_invalid_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
