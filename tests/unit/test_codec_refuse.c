/* SPDX-License-Identifier: MIT */
/* Unit tests for the wire codec: every malformed or oversized shape is
 * refused with the right code and a reason naming the field, by the decoder
 * and by the encoder. */
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

static void start_head(struct fb *f, uint32_t flags)
{
	fb_init(f, TP_EXEC_START);
	fb_le(f, flags, 4);
	fb_le(f, 0, 4);
	fb_le(f, 24, 2);
	fb_le(f, 80, 2);
}

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

static void assert_encode_fails(const struct tp_msg *m, int code)
{
	uint8_t *buf = (uint8_t *)"untouched";

	assert_int_equal(tp_msg_encode(m, &buf), code);
	assert_string_equal((const char *)buf, "untouched");
}

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

static void change_row_c(struct fb *f, uint8_t kind, uint8_t type,
			 uint8_t conflict, const char *path)
{
	fb_le(f, kind, 1);
	fb_le(f, type, 1);
	fb_le(f, conflict, 1);
	fb_le(f, 0, 8);
	fb_str(f, path);
}

static void change_row(struct fb *f, uint8_t kind, uint8_t type,
		       const char *path)
{
	change_row_c(f, kind, type, 0, path);
}

static void changed_head(struct fb *f, uint8_t more, uint32_t count)
{
	fb_init(f, TP_WS_CHANGED);
	fb_le(f, more, 1);
	fb_le(f, count, 4);
}

/* Paths the manifest rules refuse, and why (docs/protocol.md, "Paths"). */
static const struct {
	const char *path, *why;
} bad_paths[] = {
	{ "..", "'..' component" },
	{ "../etc/passwd", "'..' component" },
	{ "a/..", "'..' component" },
	{ "a/../../b", "'..' component" },
	{ ".", "'.' component" },
	{ "a/./b", "'.' component" },
	{ "/etc/passwd", "absolute (leading '/')" },
	{ "/", "absolute (leading '/')" },
	{ "a/", "trailing '/'" },
	{ "a//b", "empty component" },
};

/* Two rows in this order must be refused as out of order. */
static void assert_order_refused(const char *a, const char *b)
{
	struct tp_decode_err e;
	struct fb f;

	changed_head(&f, 0, 2);
	change_row(&f, TP_CHANGE_CREATED, TP_CHANGE_FILE, a);
	change_row(&f, TP_CHANGE_CREATED, TP_CHANGE_FILE, b);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(
		e.what,
		"WS_CHANGED[1].path: not after the previous row's path");
}

/* WS_CHANGES, WS_CHANGED, WS_RESET. */
static void test_ws_shapes(void **state)
{
	static const char *const bad_names[] = { "", ".w", "../w", "a b" };
	static const uint8_t bad_kinds[] = { 0, 4, 255 };
	struct tp_ws_change rows[2] = {
		{ TP_CHANGE_CREATED,
		  TP_CHANGE_FILE,
		  0,
		  1,
		  { (const uint8_t *)"b", 1 } },
		{ TP_CHANGE_CREATED,
		  TP_CHANGE_FILE,
		  0,
		  1,
		  { (const uint8_t *)"a", 1 } },
	};
	char *big = malloc(TP_PATH_MAX + 1);
	char long_comp[TP_COMP_MAX + 2];
	struct tp_decode_err e;
	struct tp_msg m;
	struct fb f;

	assert_non_null(big);
	memset(big, 'p', TP_PATH_MAX + 1);
	memset(long_comp, 'c', sizeof(long_comp) - 1);
	long_comp[sizeof(long_comp) - 1] = '\0';

	/* The workspace is a name, never empty. */
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		fb_init(&f, TP_WS_CHANGES);
		fb_str(&f, bad_names[i]);
		fb_str(&f, "");
		assert_int_equal(fb_decode(&f, &e), -EPROTO);
		assert_what_has(&e, "WS_CHANGES.workspace");
		fb_init(&f, TP_WS_RESET);
		fb_str(&f, bad_names[i]);
		assert_int_equal(fb_decode(&f, &e), -EPROTO);
		assert_what_has(&e, "WS_RESET.workspace");
	}
	/* The cursor: text, at most TP_PATH_MAX bytes, the cap checked on
	 * the length alone. */
	fb_init(&f, TP_WS_CHANGES);
	fb_str(&f, "w");
	fb_fill(&f, TP_PATH_MAX + 1, 'a');
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "WS_CHANGES.after: 4097 bytes, over the 4096");
	fb_init(&f, TP_WS_CHANGES);
	fb_str(&f, "w");
	fb_le(&f, UINT32_MAX, 4);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	fb_init(&f, TP_WS_CHANGES);
	fb_str(&f, "w");
	fb_raw(&f, "\3\0\0\0a\0b", 7);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "WS_CHANGES.after: string contains NUL");

	/* more is 0 or 1, and an empty page has no more. */
	changed_head(&f, 2, 0);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "WS_CHANGED.more: 2 is not 0 or 1");
	changed_head(&f, 1, 0);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "WS_CHANGED.more: set on an empty page");
	changed_head(&f, 0, 0);
	assert_int_equal(fb_decode(&f, &e), 0);

	/* The count: over the cap before any row is read; more than the rows
	 * present. */
	changed_head(&f, 0, TP_WSCHG_MAX + 1);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "WS_CHANGED.count: 4097 entries over the 4096");
	changed_head(&f, 0, 3);
	change_row(&f, TP_CHANGE_CREATED, TP_CHANGE_FILE, "a");
	change_row(&f, TP_CHANGE_CREATED, TP_CHANGE_FILE, "b");
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "WS_CHANGED[2].kind: truncated");

	/* kind and type: the values listed, nothing else (a hard link is
	 * listed as a file, so 4 is not a type). */
	for (size_t i = 0; i < sizeof(bad_kinds); i++) {
		changed_head(&f, 0, 2);
		change_row(&f, TP_CHANGE_DELETED, TP_CHANGE_DIR, "a");
		change_row(&f, bad_kinds[i], TP_CHANGE_FILE, "b");
		assert_int_equal(fb_decode(&f, &e), -EPROTO);
		assert_what_has(&e, "WS_CHANGED[1].kind: unknown kind");
		changed_head(&f, 0, 1);
		change_row(&f, TP_CHANGE_MODIFIED, bad_kinds[i], "a");
		assert_int_equal(fb_decode(&f, &e), -EPROTO);
		assert_what_has(&e, "WS_CHANGED[0].type: unknown type");
	}

	/* path: 1 .. TP_PATH_MAX bytes of text. */
	changed_head(&f, 0, 1);
	change_row(&f, TP_CHANGE_CREATED, TP_CHANGE_FILE, "");
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "WS_CHANGED[0].path: empty");
	changed_head(&f, 0, 2);
	change_row(&f, TP_CHANGE_CREATED, TP_CHANGE_FILE, "a");
	fb_le(&f, TP_CHANGE_CREATED, 1);
	fb_le(&f, TP_CHANGE_FILE, 1);
	fb_le(&f, 0, 1);
	fb_le(&f, 0, 8);
	fb_fill(&f, TP_PATH_MAX + 1, 'b');
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "WS_CHANGED[1].path");
	changed_head(&f, 0, 1);
	fb_le(&f, TP_CHANGE_CREATED, 1);
	fb_le(&f, TP_CHANGE_FILE, 1);
	fb_le(&f, 0, 1);
	fb_le(&f, 0, 8);
	fb_raw(&f, "\3\0\0\0a\0b", 7);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "WS_CHANGED[0].path: string contains NUL");

	/* conflict is 0 or 1. */
	for (unsigned v = 0; v < 3; v++) {
		changed_head(&f, 0, 1);
		change_row_c(&f, TP_CHANGE_MODIFIED, TP_CHANGE_FILE, (uint8_t)v,
			     "a");
		assert_int_equal(fb_decode(&f, &e), v < 2 ? 0 : -EPROTO);
	}
	assert_string_equal(e.what, "WS_CHANGED[0].conflict: 2 is not 0 or 1");
	changed_head(&f, 0, 1);
	change_row_c(&f, TP_CHANGE_MODIFIED, TP_CHANGE_FILE, 0xff, "a");
	assert_int_equal(fb_decode(&f, &e), -EPROTO);

	/* A row's path is a workspace path: nothing a client could be led
	 * out of its directory by. */
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		changed_head(&f, 0, 2);
		change_row(&f, TP_CHANGE_CREATED, TP_CHANGE_DIR, "!");
		change_row(&f, TP_CHANGE_DELETED, TP_CHANGE_FILE,
			   bad_paths[i].path);
		assert_int_equal(fb_decode(&f, &e), -EPROTO);
		assert_what_has(&e, "WS_CHANGED[1].path: ");
		assert_what_has(&e, bad_paths[i].why);
	}
	changed_head(&f, 0, 1);
	change_row(&f, TP_CHANGE_CREATED, TP_CHANGE_FILE, long_comp);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what,
			    "WS_CHANGED[0].path: component over 255 bytes");
	long_comp[255] = '\0';
	changed_head(&f, 0, 1);
	change_row(&f, TP_CHANGE_CREATED, TP_CHANGE_FILE, long_comp);
	assert_int_equal(fb_decode(&f, &e), 0);

	/* Rows in strictly increasing memcmp order, a prefix first: "a" <
	 * "a-" < "a.b" < "a/b" ('-' 0x2d, '.' 0x2e, '/' 0x2f), bytes
	 * unsigned. */
	assert_order_refused("a", "a");
	assert_order_refused("b", "a");
	assert_order_refused("a/b", "a.b");
	assert_order_refused("a.b", "a-");
	assert_order_refused("ab", "a");
	assert_order_refused("\xff", "~");
	changed_head(&f, 0, 5);
	change_row(&f, TP_CHANGE_CREATED, TP_CHANGE_DIR, "a");
	change_row(&f, TP_CHANGE_CREATED, TP_CHANGE_FILE, "a-");
	change_row(&f, TP_CHANGE_CREATED, TP_CHANGE_FILE, "a.b");
	change_row(&f, TP_CHANGE_CREATED, TP_CHANGE_FILE, "a/b");
	change_row(&f, TP_CHANGE_CREATED, TP_CHANGE_FILE, "a/\xff");
	assert_int_equal(fb_decode(&f, &e), 0);

	/* The encoder refuses the same: sizes first, then shapes. */
	m = (struct tp_msg){ .type = TP_WS_CHANGED,
			     .changed = { .count = TP_WSCHG_MAX + 1,
					  .rows = rows } };
	assert_encode_fails(&m, -EMSGSIZE);
	m.changed = (struct tp_ws_changed){ .count = 1 };
	assert_encode_fails(&m, -EINVAL);
	m.changed = (struct tp_ws_changed){ .count = 2, .rows = rows };
	assert_encode_fails(&m, -EINVAL);
	m.changed.count = 1;
	free(encode_ok(&m, &(size_t){ 0 }));
	m.changed.more = 1;
	m.changed.count = 0;
	assert_encode_fails(&m, -EINVAL);
	m.changed.more = 2;
	m.changed.count = 1;
	assert_encode_fails(&m, -EINVAL);
	m.changed.more = 0;
	rows[0].kind = 0;
	assert_encode_fails(&m, -EINVAL);
	rows[0].kind = TP_CHANGE_CREATED;
	rows[0].type = 4;
	assert_encode_fails(&m, -EINVAL);
	rows[0].type = TP_CHANGE_FILE;
	rows[0].conflict = 2;
	assert_encode_fails(&m, -EINVAL);
	rows[0].conflict = 1;
	free(encode_ok(&m, &(size_t){ 0 }));
	rows[0].path = (struct tp_bytes){ (const uint8_t *)"b/../..", 7 };
	assert_encode_fails(&m, -EINVAL);
	rows[0].path = (struct tp_bytes){ (const uint8_t *)"/etc", 4 };
	assert_encode_fails(&m, -EINVAL);
	rows[0].path =
		(struct tp_bytes){ (const uint8_t *)big, TP_PATH_MAX + 1 };
	assert_encode_fails(&m, -EMSGSIZE);
	rows[0].path = (struct tp_bytes){ NULL, 0 };
	assert_encode_fails(&m, -EINVAL);
	m = (struct tp_msg){ .type = TP_WS_CHANGES,
			     .changes = { { (const uint8_t *)"w", 1 },
					  { (const uint8_t *)big,
					    TP_PATH_MAX + 1 } } };
	assert_encode_fails(&m, -EMSGSIZE);
	m.changes.after = (struct tp_bytes){ (const uint8_t *)"a\0", 2 };
	assert_encode_fails(&m, -EINVAL);
	m.changes.after = (struct tp_bytes){ NULL, 0 };
	m.changes.workspace = (struct tp_bytes){ NULL, 0 };
	assert_encode_fails(&m, -EINVAL);
	m = (struct tp_msg){ .type = TP_WS_RESET,
			     .reset = { { (const uint8_t *)"a/b", 3 } } };
	assert_encode_fails(&m, -EINVAL);
	free(big);
}

static void read_head(struct fb *f, const char *ws, const char *path)
{
	fb_init(f, TP_WS_READ);
	fb_str(f, ws);
	fb_str(f, path);
}

/* A WS_DATA frame up to its target (data follows). */
static void data_head(struct fb *f, uint8_t type, uint32_t mode, uint64_t size,
		      const char *target)
{
	fb_init(f, TP_WS_DATA);
	fb_le(f, type, 1);
	fb_le(f, mode, 4);
	fb_le(f, (uint64_t)-5, 8);
	fb_le(f, size, 8);
	fb_str(f, target);
}

/* WS_READ and WS_DATA: the path a client asks for, and what a node may
 * answer with: one encoding for each kind of entry. */
static void test_ws_read_data_shapes(void **state)
{
	static const char *const bad_names[] = { "", ".w", "../w", "a/b" };
	uint8_t *big = calloc(1, TP_READ_MAX + 1);
	struct tp_decode_err e;
	struct tp_msg m;
	struct fb f;

	assert_non_null(big);
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		read_head(&f, bad_names[i], "a");
		fb_le(&f, 0, 8);
		fb_le(&f, 0, 4);
		assert_int_equal(fb_decode(&f, &e), -EPROTO);
		assert_what_has(&e, "WS_READ.workspace");
	}
	/* The path: never one that could leave the workspace. */
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		read_head(&f, "w", bad_paths[i].path);
		fb_le(&f, 0, 8);
		fb_le(&f, 0, 4);
		assert_int_equal(fb_decode(&f, &e), -EPROTO);
		assert_what_has(&e, "WS_READ.path: ");
		assert_what_has(&e, bad_paths[i].why);
	}
	read_head(&f, "w", "");
	fb_le(&f, 0, 8);
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "WS_READ.path: empty");
	fb_init(&f, TP_WS_READ);
	fb_str(&f, "w");
	fb_fill(&f, TP_PATH_MAX + 1, 'a');
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "WS_READ.path: 4097 bytes, over the 4096");
	fb_init(&f, TP_WS_READ);
	fb_str(&f, "w");
	fb_raw(&f, "\3\0\0\0a\0b", 7);
	fb_le(&f, 0, 8);
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "WS_READ.path: string contains NUL");
	/* max: at most a piece. */
	read_head(&f, "w", "a/b\xff");
	fb_le(&f, UINT64_MAX, 8);
	fb_le(&f, TP_READ_MAX, 4);
	assert_int_equal(fb_decode(&f, &e), 0);
	read_head(&f, "w", "a");
	fb_le(&f, 0, 8);
	fb_le(&f, TP_READ_MAX + 1, 4);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_string_equal(e.what,
			    "WS_READ.max: 1040385 bytes over the 1040384-byte "
			    "cap");
	read_head(&f, "w", "a");
	fb_le(&f, 0, 8);
	fb_le(&f, UINT32_MAX, 4);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);

	/* type: 1, 2 or 3 (a hard link is a file). */
	for (unsigned t = 0; t < 256; t += 1 + (t > 8) * 40) {
		data_head(&f, (uint8_t)t, 0644, 0, "");
		fb_le(&f, 0, 4);
		assert_int_equal(fb_decode(&f, &e),
				 t == TP_CHANGE_FILE || t == TP_CHANGE_DIR
					 ? 0
					 : -EPROTO);
		if (t != TP_CHANGE_FILE && t != TP_CHANGE_DIR)
			assert_what_has(&e, t == TP_CHANGE_SYMLINK
						    ? "WS_DATA.target: empty "
						      "on a symlink"
						    : "WS_DATA.type: unknown");
	}
	/* mode: permission bits only. */
	data_head(&f, TP_CHANGE_FILE, 010000, 0, "");
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what,
			    "WS_DATA.mode: 010000 has bits outside 07777");
	data_head(&f, TP_CHANGE_DIR, UINT32_MAX, 0, "");
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	data_head(&f, TP_CHANGE_DIR, 07777, 0, "");
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), 0);
	/* target: a symlink's alone, and its length is the size. */
	data_head(&f, TP_CHANGE_FILE, 0644, 1, "x");
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "WS_DATA.target: set on a file");
	data_head(&f, TP_CHANGE_DIR, 0755, 0, "x");
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "WS_DATA.target: set on a directory");
	data_head(&f, TP_CHANGE_SYMLINK, 0777, 3, "/x");
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what,
			    "WS_DATA.size: 3, not the target's 2 bytes");
	data_head(&f, TP_CHANGE_SYMLINK, 0777, 2, "/x");
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), 0);
	data_head(&f, TP_CHANGE_DIR, 0755, 4096, "");
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "WS_DATA.size: 4096 on a directory");
	fb_init(&f, TP_WS_DATA);
	fb_le(&f, TP_CHANGE_SYMLINK, 1);
	fb_le(&f, 0777, 4);
	fb_le(&f, 0, 8);
	fb_le(&f, TP_PATH_MAX + 1, 8);
	fb_fill(&f, TP_PATH_MAX + 1, 't');
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "WS_DATA.target: 4097 bytes, over the 4096");
	/* data: a file's alone, at most a piece. */
	data_head(&f, TP_CHANGE_DIR, 0755, 0, "");
	fb_str(&f, "d");
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "WS_DATA.data: set on a directory");
	data_head(&f, TP_CHANGE_SYMLINK, 0777, 1, "t");
	fb_str(&f, "d");
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_string_equal(e.what, "WS_DATA.data: set on a symlink");
	data_head(&f, TP_CHANGE_FILE, 0644, 3, "");
	fb_raw(&f, "\3\0\0\0a\0b", 7);
	assert_int_equal(fb_decode(&f, &e), 0);
	data_head(&f, TP_CHANGE_FILE, 0644, 0, "");
	fb_fill(&f, TP_READ_MAX + 1, 0);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "WS_DATA.data: 1040385 bytes, over the 1040384");

	/* The encoder refuses the same. */
	m = (struct tp_msg){ .type = TP_WS_READ,
			     .wsread = { { (const uint8_t *)"w", 1 },
					 { (const uint8_t *)"a", 1 },
					 0,
					 TP_READ_MAX + 1 } };
	assert_encode_fails(&m, -EMSGSIZE);
	m.wsread.max = 1;
	free(encode_ok(&m, &(size_t){ 0 }));
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		m.wsread.path = (struct tp_bytes){
			(const uint8_t *)bad_paths[i].path,
			(uint32_t)strlen(bad_paths[i].path)
		};
		assert_encode_fails(&m, -EINVAL);
		assert_false(tp_path_ok(m.wsread.path.ptr, m.wsread.path.len));
	}
	m.wsread.path = (struct tp_bytes){ NULL, 0 };
	assert_encode_fails(&m, -EINVAL);
	assert_false(tp_path_ok(NULL, 0));
	assert_true(tp_path_ok((const uint8_t *)"a/.b/..c/\xff", 10));

	m = (struct tp_msg){ .type = TP_WS_DATA,
			     .wsdata = { .type = TP_CHANGE_FILE,
					 .mode = 0644,
					 .data = { big, TP_READ_MAX + 1 } } };
	assert_encode_fails(&m, -EMSGSIZE);
	m.wsdata.data.len = TP_READ_MAX;
	free(encode_ok(&m, &(size_t){ 0 }));
	m.wsdata.mode = 0100644;
	assert_encode_fails(&m, -EINVAL);
	m.wsdata.mode = 0644;
	m.wsdata.type = TP_CHANGE_DIR;
	assert_encode_fails(&m, -EINVAL);
	m.wsdata.data.len = 0;
	free(encode_ok(&m, &(size_t){ 0 }));
	m.wsdata.type = 0;
	assert_encode_fails(&m, -EINVAL);
	m.wsdata.type = TP_CHANGE_FILE;
	m.wsdata.target = (struct tp_bytes){ (const uint8_t *)"t", 1 };
	assert_encode_fails(&m, -EINVAL);
	m.wsdata.type = TP_CHANGE_SYMLINK;
	assert_encode_fails(&m, -EINVAL); /* size 0, target 1 byte */
	m.wsdata.size = 1;
	free(encode_ok(&m, &(size_t){ 0 }));
	free(big);
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
		cmocka_unit_test(test_sync_shapes),
		cmocka_unit_test(test_lazy_shapes),
		cmocka_unit_test(test_define_shapes),
		cmocka_unit_test(test_read_shapes),
		cmocka_unit_test(test_ws_shapes),
		cmocka_unit_test(test_ws_read_data_shapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
