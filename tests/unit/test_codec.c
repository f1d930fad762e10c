/* SPDX-License-Identifier: MIT */
/* Unit tests for the wire codec: every message round-trips with edge values,
 * and every malformed or oversized shape is refused with the right code. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"

/* Room for a frame past the cap, to test the size refusals. */
#define FB_CAP (TP_FRAME_MAX + 4096u)

static void le_store(uint8_t *p, uint64_t v, unsigned width)
{
	for (unsigned i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- a hand frame builder, for shapes the encoder refuses to make ---- */

struct fb {
	uint8_t *p;
	size_t len;
};

static void fb_init(struct fb *f, uint16_t type)
{
	f->p = malloc(FB_CAP);
	assert_non_null(f->p);
	memcpy(f->p, TP_MAGIC, 4);
	le_store(f->p + 4, TP_VERSION, 2);
	le_store(f->p + 6, type, 2);
	le_store(f->p + 8, 0, 4);
	f->len = TP_HEADER_SIZE;
}

static void fb_le(struct fb *f, uint64_t v, unsigned width)
{
	assert_true(f->len + width <= FB_CAP);
	le_store(f->p + f->len, v, width);
	f->len += width;
}

static void fb_raw(struct fb *f, const void *src, size_t n)
{
	assert_true(f->len + n <= FB_CAP);
	memcpy(f->p + f->len, src, n);
	f->len += n;
}

static void fb_str(struct fb *f, const char *s)
{
	fb_le(f, strlen(s), 4);
	fb_raw(f, s, strlen(s));
}

/* A length prefix then n copies of c. */
static void fb_fill(struct fb *f, size_t n, uint8_t c)
{
	fb_le(f, n, 4);
	assert_true(f->len + n <= FB_CAP);
	memset(f->p + f->len, c, n);
	f->len += n;
}

static void fb_exit(struct fb *f, uint8_t timed_out)
{
	fb_le(f, 0, 4);
	fb_le(f, 0, 4);
	fb_le(f, timed_out, 1);
	fb_le(f, 0, 8);
	fb_le(f, 0, 8);
	fb_le(f, 0, 8);
	fb_le(f, 0, 8);
}

/* Fixes the header's body length to what was built. */
static void fb_seal(struct fb *f)
{
	le_store(f->p + 8, f->len - TP_HEADER_SIZE, 4);
}

static int fb_decode(struct fb *f, struct tp_decode_err *e)
{
	struct tp_msg m;
	int r;

	fb_seal(f);
	r = tp_msg_decode(f->p, f->len, &m, e);
	free(f->p);
	f->p = NULL;
	return r;
}

/* ---- helpers ---- */

static uint8_t *encode_ok(const struct tp_msg *m, size_t *len)
{
	uint8_t *buf = NULL;
	ssize_t n = tp_msg_encode(m, &buf);

	assert_true(n >= TP_HEADER_SIZE);
	assert_non_null(buf);
	*len = (size_t)n;
	return buf;
}

static void assert_bytes(struct tp_bytes b, const void *p, size_t n)
{
	assert_int_equal(b.len, n);
	if (n)
		assert_memory_equal(b.ptr, p, n);
}

static void assert_what_has(const struct tp_decode_err *e, const char *s)
{
	assert_true(e->what[0] != '\0');
	if (!strstr(e->what, s))
		fail_msg("err.what \"%s\" lacks \"%s\"", e->what, s);
}

/* Re-encodes a decoded message the way a relay would and checks the bytes
 * are identical: one canonical encoding per value. */
static void assert_reencodes(const uint8_t *frame, size_t len,
			     const struct tp_msg *dm)
{
	struct tp_msg m = *dm;
	struct tp_exec_entry *ents = NULL;
	char **argv = NULL, **env = NULL;
	uint8_t *again;
	size_t n;

	if (m.type == TP_EXEC_START) {
		argv = tp_strv_dup(&m.start.argv);
		env = tp_strv_dup(&m.start.env);
		assert_non_null(argv);
		assert_non_null(env);
		m.argv_c = (struct tp_cstrv){ (const char *const *)argv,
					      m.start.argv.count };
		m.env_c = (struct tp_cstrv){ (const char *const *)env,
					     m.start.env.count };
	} else if (m.type == TP_EXEC_TABLE) {
		uint32_t pos = 0, i = 0;

		ents = calloc(m.table.count + 1, sizeof(*ents));
		assert_non_null(ents);
		while (tp_table_next(&m.table, &pos, &ents[i]))
			i++;
		assert_int_equal(i, m.table.count);
		m.table.entries = ents;
	}
	again = encode_ok(&m, &n);
	assert_int_equal(n, len);
	assert_memory_equal(again, frame, len);
	free(again);
	free(argv);
	free(env);
	free(ents);
}

/* Encodes m, decodes it into *out (borrowing *frame, which the caller
 * frees) and checks the re-encoding. */
static void round_trip(const struct tp_msg *m, struct tp_msg *out,
		       uint8_t **frame)
{
	struct tp_decode_err e;
	size_t len;

	*frame = encode_ok(m, &len);
	assert_int_equal(tp_msg_decode(*frame, len, out, &e), 0);
	assert_int_equal(out->version, TP_VERSION);
	assert_int_equal(out->type, m->type);
	assert_reencodes(*frame, len, out);
}

/* Every shorter body must be refused as malformed: no field is optional
 * except the exit block, which the state byte before it governs. */
static void assert_truncations_refused(const struct tp_msg *m)
{
	struct tp_decode_err e;
	struct tp_msg out;
	uint8_t *buf;
	size_t len;

	buf = encode_ok(m, &len);
	for (size_t body = 0; body < len - TP_HEADER_SIZE; body++) {
		le_store(buf + 8, body, 4);
		if (tp_msg_decode(buf, TP_HEADER_SIZE + body, &out, &e) !=
		    -EPROTO)
			fail_msg("%s cut to %zu body bytes not refused",
				 tp_type_name(m->type), body);
		assert_true(e.what[0] != '\0');
	}
	free(buf);
}

static void assert_trailing_refused(const struct tp_msg *m)
{
	struct tp_decode_err e;
	struct tp_msg out;
	uint8_t *buf, *big;
	size_t len;

	buf = encode_ok(m, &len);
	big = malloc(len + 1);
	assert_non_null(big);
	memcpy(big, buf, len);
	big[len] = 0;
	le_store(big + 8, len + 1 - TP_HEADER_SIZE, 4);
	assert_int_equal(tp_msg_decode(big, len + 1, &out, &e), -EPROTO);
	assert_what_has(&e, "trailing");
	free(big);
	free(buf);
}

static struct tp_exit exit_full(void)
{
	return (struct tp_exit){
		.code = -1,
		.signal = 9,
		.timed_out = 1,
		.wall_us = UINT64_MAX,
		.user_us = 1,
		.sys_us = 0x0102030405060708ull,
		.maxrss_kb = 123456,
	};
}

static void assert_exit_eq(const struct tp_exit *a, const struct tp_exit *b)
{
	assert_int_equal(a->code, b->code);
	assert_int_equal(a->signal, b->signal);
	assert_int_equal(a->timed_out, b->timed_out);
	assert_int_equal(a->wall_us, b->wall_us);
	assert_int_equal(a->user_us, b->user_us);
	assert_int_equal(a->sys_us, b->sys_us);
	assert_int_equal(a->maxrss_kb, b->maxrss_kb);
}

/* A set of valid messages, one or more per type, shared by the round-trip,
 * truncation and trailing-byte tests. */
static const char *const sample_argv[] = { "sh", "-c", "echo héllo >&2" };
static const char *const sample_env[] = { "PATH=/bin", "EMPTY=", "X==y" };
static const struct tp_exec_entry sample_entries[] = {
	{ .id = 1,
	  .pid = 100,
	  .flags = TP_EXEC_F_DETACH,
	  .state = 0,
	  .started_ms = 1700000000000ull,
	  .cmdline = { (const uint8_t *)"sleep 10", 8 } },
	{ .id = UINT64_MAX,
	  .pid = 2,
	  .flags = 0,
	  .state = 1,
	  .exit = { .code = 3, .wall_us = 5 },
	  .started_ms = 0,
	  .cmdline = { (const uint8_t *)"", 0 } },
};

static size_t samples(struct tp_msg *out)
{
	size_t n = 0;

	out[n++] = (struct tp_msg){
		.type = TP_ERROR,
		.error = { ENOENT, { (const uint8_t *)"nope", 4 } }
	};
	out[n++] = (struct tp_msg){ .type = TP_ERROR };
	out[n++] = (struct tp_msg){ .type = TP_OK, .ok = UINT64_MAX };
	out[n++] = (struct tp_msg){ .type = TP_EXEC_START,
				    .start = { .flags = TP_EXEC_F_ALL_,
					       .timeout_ms = 1,
					       .rows = 24,
					       .cols = 80,
					       .cwd = { (const uint8_t *)"/tmp",
							4 } },
				    .argv_c = { sample_argv, 3 },
				    .env_c = { sample_env, 3 } };
	out[n++] = (struct tp_msg){ .type = TP_EXEC_START,
				    .argv_c = { sample_argv, 1 } };
	out[n++] = (struct tp_msg){ .type = TP_EXEC_STARTED,
				    .started = { 7, 4242 } };
	out[n++] = (struct tp_msg){ .type = TP_EXEC_READ,
				    .read = { 7, 0, UINT64_MAX, 30000 } };
	out[n++] = (struct tp_msg){ .type = TP_EXEC_OUTPUT,
				    .output = {
					    .out_off = 5,
					    .out = { (const uint8_t *)"ab", 2 },
					    .err_off = 0,
					    .state = TP_STATE_RUNNING } };
	out[n++] =
		(struct tp_msg){ .type = TP_EXEC_OUTPUT,
				 .output = { .out_off = 1,
					     .err_off = 2,
					     .err = { (const uint8_t *)"x", 1 },
					     .state = TP_STATE_EXITED,
					     .exit = exit_full() } };
	out[n++] = (struct tp_msg){
		.type = TP_EXEC_WRITE,
		.write = { 7, 10, { (const uint8_t *)"in", 2 }, 1 }
	};
	out[n++] =
		(struct tp_msg){ .type = TP_EXEC_SIGNAL, .signal = { 7, 15 } };
	out[n++] = (struct tp_msg){ .type = TP_EXEC_RESIZE,
				    .resize = { 7, 50, 132 } };
	out[n++] = (struct tp_msg){ .type = TP_EXEC_LIST };
	out[n++] = (struct tp_msg){ .type = TP_EXEC_TABLE,
				    .table = { .count = 2,
					       .entries = sample_entries } };
	out[n++] = (struct tp_msg){ .type = TP_EXEC_TABLE };
	return n;
}

/* ---- round trips ---- */

static void test_header_is_frozen(void **state)
{
	/* The golden bytes of one frame: the header layout and LE order
	 * must never change, or older peers cannot even read the ERROR. */
	static const uint8_t want[] = {
		'T',  'T',  'H',  'R',	1,    0,    5,	  0,	28,   0,    0,
		0,    0x01, 0x02, 0,	0,    0,    0,	  0,	0, /* id */
		0,    0,    0,	  0,	0,    0,    0,	  0,	   /* out_off */
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x30, 0x75, 0,
		0, /* wait_ms 30000 */
	};
	struct tp_msg m = { .type = TP_EXEC_READ,
			    .read = { 0x0201, 0, UINT64_MAX, 30000 } };
	uint8_t *buf;
	size_t len;

	buf = encode_ok(&m, &len);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	free(buf);
}

static void test_error_round_trip(void **state)
{
	char *big = malloc(TP_ERRMSG_MAX);
	struct tp_msg m = { .type = TP_ERROR }, d;
	uint8_t *frame;

	assert_non_null(big);
	memset(big, 'e', TP_ERRMSG_MAX);
	m.error.code = EPROTONOSUPPORT;
	m.error.message =
		(struct tp_bytes){ (const uint8_t *)big, TP_ERRMSG_MAX };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.error.code, EPROTONOSUPPORT);
	assert_bytes(d.error.message, big, TP_ERRMSG_MAX);
	free(frame);

	m.error.code = INT32_MAX;
	m.error.message = (struct tp_bytes){ NULL, 0 };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.error.code, INT32_MAX);
	assert_int_equal(d.error.message.len, 0);
	free(frame);
	free(big);
}

static void test_error_encode(void **state)
{
	struct tp_msg d;
	uint8_t *frame;
	ssize_t n;
	char *big = malloc(TP_ERRMSG_MAX + 100);

	n = tp_error_encode(ENOENT, "tether: ls: command not found", &frame);
	assert_true(n > 0);
	assert_int_equal(tp_msg_decode(frame, (size_t)n, &d, NULL), 0);
	assert_int_equal(d.type, TP_ERROR);
	assert_int_equal(d.error.code, ENOENT);
	assert_bytes(d.error.message, "tether: ls: command not found", 29);
	free(frame);

	/* The house returns -errno; the wire carries it positive. */
	n = tp_error_encode(-EMSGSIZE, NULL, &frame);
	assert_true(n > 0);
	assert_int_equal(tp_msg_decode(frame, (size_t)n, &d, NULL), 0);
	assert_int_equal(d.error.code, EMSGSIZE);
	assert_int_equal(d.error.message.len, 0);
	free(frame);

	/* Over the cap: cut to exactly TP_ERRMSG_MAX. */
	assert_non_null(big);
	memset(big, 'a', TP_ERRMSG_MAX + 99);
	big[TP_ERRMSG_MAX + 99] = '\0';
	n = tp_error_encode(EIO, big, &frame);
	assert_true(n > 0);
	assert_int_equal(tp_msg_decode(frame, (size_t)n, &d, NULL), 0);
	assert_int_equal(d.error.message.len, TP_ERRMSG_MAX);
	free(frame);

	/* A two-byte character straddling the cap is dropped whole. */
	memcpy(big + TP_ERRMSG_MAX - 1, "\xc3\xa9", 2);
	n = tp_error_encode(EIO, big, &frame);
	assert_true(n > 0);
	assert_int_equal(tp_msg_decode(frame, (size_t)n, &d, NULL), 0);
	assert_int_equal(d.error.message.len, TP_ERRMSG_MAX - 1);
	free(frame);
	free(big);
}

static void test_ok_round_trip(void **state)
{
	static const uint64_t values[] = { 0, 1, 0x8000000000000000ull,
					   UINT64_MAX };
	struct tp_msg m = { .type = TP_OK }, d;
	uint8_t *frame;

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		m.ok = values[i];
		round_trip(&m, &d, &frame);
		assert_int_equal(d.ok, values[i]);
		free(frame);
	}
}

static void test_exec_start_round_trip(void **state)
{
	char *longarg = malloc(TP_STR_MAX + 1);
	const char *argv[] = { "prog", NULL, "-", "ünïcode", "a b" };
	const char *env[] = { "A=", "PATH=/usr/bin:/bin", "K==v" };
	struct tp_msg m = { .type = TP_EXEC_START }, d;
	struct tp_bytes s;
	uint32_t pos = 0;
	uint8_t *frame;
	char **copy;

	assert_non_null(longarg);
	memset(longarg, 'x', TP_STR_MAX);
	longarg[TP_STR_MAX] = '\0';
	argv[1] = longarg;
	m.start = (struct tp_exec_start){
		.flags = TP_EXEC_F_TTY | TP_EXEC_F_STDIN,
		.timeout_ms = UINT32_MAX,
		.rows = 0,
		.cols = UINT16_MAX,
		.cwd = { (const uint8_t *)"/home/u/ws", 10 },
	};
	m.argv_c = (struct tp_cstrv){ argv, 5 };
	m.env_c = (struct tp_cstrv){ env, 3 };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.start.flags, TP_EXEC_F_TTY | TP_EXEC_F_STDIN);
	assert_int_equal(d.start.timeout_ms, UINT32_MAX);
	assert_int_equal(d.start.rows, 0);
	assert_int_equal(d.start.cols, UINT16_MAX);
	assert_bytes(d.start.cwd, "/home/u/ws", 10);
	assert_int_equal(d.start.argv.count, 5);
	assert_int_equal(d.start.env.count, 3);
	for (int i = 0; i < 5; i++) {
		assert_true(tp_strv_next(&d.start.argv, &pos, &s));
		assert_bytes(s, argv[i], strlen(argv[i]));
	}
	assert_false(tp_strv_next(&d.start.argv, &pos, &s));
	copy = tp_strv_dup(&d.start.env);
	assert_non_null(copy);
	for (int i = 0; i < 3; i++)
		assert_string_equal(copy[i], env[i]);
	assert_null(copy[3]);
	free(copy);
	free(frame);

	/* Empty cwd, no env. */
	m.start = (struct tp_exec_start){ 0 };
	m.argv_c = (struct tp_cstrv){ argv, 1 };
	m.env_c = (struct tp_cstrv){ NULL, 0 };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.start.cwd.len, 0);
	assert_int_equal(d.start.env.count, 0);
	copy = tp_strv_dup(&d.start.env);
	assert_non_null(copy);
	assert_null(copy[0]);
	free(copy);
	free(frame);
	free(longarg);
}

static void test_exec_start_max_argv(void **state)
{
	const char **argv = calloc(TP_STRV_MAX, sizeof(*argv));
	struct tp_msg m = { .type = TP_EXEC_START }, d;
	uint8_t *frame;

	assert_non_null(argv);
	for (uint32_t i = 0; i < TP_STRV_MAX; i++)
		argv[i] = "arg";
	m.argv_c = (struct tp_cstrv){ argv, TP_STRV_MAX };
	m.env_c = (struct tp_cstrv){ argv, 0 };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.start.argv.count, TP_STRV_MAX);
	free(frame);
	free(argv);
}

static void test_started_read_round_trip(void **state)
{
	struct tp_msg m = { .type = TP_EXEC_STARTED }, d;
	uint8_t *frame;

	m.started = (struct tp_exec_started){ UINT64_MAX, INT32_MIN };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.started.id, UINT64_MAX);
	assert_int_equal(d.started.pid, INT32_MIN);
	free(frame);

	m = (struct tp_msg){ .type = TP_EXEC_READ,
			     .read = { 0, UINT64_MAX, 0, UINT32_MAX } };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.read.id, 0);
	assert_int_equal(d.read.out_off, UINT64_MAX);
	assert_int_equal(d.read.err_off, 0);
	assert_int_equal(d.read.wait_ms, UINT32_MAX);
	free(frame);
}

static void test_output_round_trip(void **state)
{
	uint8_t *out = malloc(TP_DATA_MAX), *err = malloc(TP_DATA_MAX);
	struct tp_msg m = { .type = TP_EXEC_OUTPUT }, d;
	struct tp_exit ex = exit_full();
	uint8_t *frame;

	assert_non_null(out);
	assert_non_null(err);
	/* Stream bytes are binary: NUL included. */
	for (uint32_t i = 0; i < TP_DATA_MAX; i++) {
		out[i] = (uint8_t)i;
		err[i] = (uint8_t)(255 - i);
	}
	m.output = (struct tp_exec_output){
		.out_off = UINT64_MAX - TP_DATA_MAX,
		.out = { out, TP_DATA_MAX },
		.err_off = 0,
		.err = { err, TP_DATA_MAX },
		.state = TP_STATE_EXITED,
		.exit = ex,
	};
	round_trip(&m, &d, &frame);
	assert_int_equal(d.output.out_off, UINT64_MAX - TP_DATA_MAX);
	assert_bytes(d.output.out, out, TP_DATA_MAX);
	assert_int_equal(d.output.err_off, 0);
	assert_bytes(d.output.err, err, TP_DATA_MAX);
	assert_int_equal(d.output.state, TP_STATE_EXITED);
	assert_exit_eq(&d.output.exit, &ex);
	free(frame);

	/* Running: no exit block on the wire, and none decoded. */
	m.output = (struct tp_exec_output){ .out_off = 3,
					    .state = TP_STATE_RUNNING,
					    .exit = ex };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.output.out.len, 0);
	assert_int_equal(d.output.err.len, 0);
	assert_int_equal(d.output.state, TP_STATE_RUNNING);
	assert_int_equal(d.output.exit.code, 0);
	assert_int_equal(d.output.exit.wall_us, 0);
	free(frame);
	free(out);
	free(err);
}

static void test_write_signal_resize_list(void **state)
{
	uint8_t *data = calloc(1, TP_DATA_MAX);
	struct tp_msg m = { .type = TP_EXEC_WRITE }, d;
	uint8_t *frame;
	size_t len;

	assert_non_null(data);
	data[TP_DATA_MAX - 1] = 0xff;
	m.write = (struct tp_exec_write){
		UINT64_MAX, UINT64_MAX, { data, TP_DATA_MAX }, 1
	};
	round_trip(&m, &d, &frame);
	assert_int_equal(d.write.id, UINT64_MAX);
	assert_int_equal(d.write.in_off, UINT64_MAX);
	assert_bytes(d.write.data, data, TP_DATA_MAX);
	assert_int_equal(d.write.eof, 1);
	free(frame);

	m.write = (struct tp_exec_write){ 1, 0, { NULL, 0 }, 0 };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.write.data.len, 0);
	assert_int_equal(d.write.eof, 0);
	free(frame);

	for (int32_t sig = 1; sig <= 64; sig += 63) {
		m = (struct tp_msg){ .type = TP_EXEC_SIGNAL,
				     .signal = { 9, sig } };
		round_trip(&m, &d, &frame);
		assert_int_equal(d.signal.id, 9);
		assert_int_equal(d.signal.signo, sig);
		free(frame);
	}

	m = (struct tp_msg){ .type = TP_EXEC_RESIZE,
			     .resize = { 3, UINT16_MAX, 0 } };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.resize.id, 3);
	assert_int_equal(d.resize.rows, UINT16_MAX);
	assert_int_equal(d.resize.cols, 0);
	free(frame);

	m = (struct tp_msg){ .type = TP_EXEC_LIST };
	frame = encode_ok(&m, &len);
	assert_int_equal(len, TP_HEADER_SIZE);
	assert_int_equal(tp_msg_decode(frame, len, &d, NULL), 0);
	assert_int_equal(d.type, TP_EXEC_LIST);
	free(frame);
	free(data);
}

static void test_table_round_trip(void **state)
{
	struct tp_exec_entry in[3] = {
		{ .id = 0,
		  .pid = 1,
		  .flags = TP_EXEC_F_ALL_,
		  .state = 0,
		  .started_ms = UINT64_MAX,
		  .cmdline = { (const uint8_t *)"make -j8", 8 } },
		{ .id = UINT64_MAX,
		  .pid = -1,
		  .flags = 0,
		  .state = 1,
		  .exit = exit_full(),
		  .started_ms = 0,
		  .cmdline = { NULL, 0 } },
		/* Running, with leftovers in exit: zeros on the wire. */
		{ .id = 5,
		  .pid = 6,
		  .state = 0,
		  .exit = exit_full(),
		  .cmdline = { (const uint8_t *)"x", 1 } },
	};
	struct tp_msg m = { .type = TP_EXEC_TABLE }, d;
	struct tp_exec_entry e;
	uint32_t pos = 0;
	uint8_t *frame;

	m.table = (struct tp_exec_table){ .count = 3, .entries = in };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.table.count, 3);
	for (int i = 0; i < 3; i++) {
		assert_true(tp_table_next(&d.table, &pos, &e));
		assert_int_equal(e.id, in[i].id);
		assert_int_equal(e.pid, in[i].pid);
		assert_int_equal(e.flags, in[i].flags);
		assert_int_equal(e.state, in[i].state);
		assert_int_equal(e.started_ms, in[i].started_ms);
		assert_bytes(e.cmdline, in[i].cmdline.ptr, in[i].cmdline.len);
		if (e.state == TP_STATE_EXITED) {
			assert_exit_eq(&e.exit, &in[i].exit);
		} else {
			struct tp_exit zero = { 0 };

			assert_exit_eq(&e.exit, &zero);
		}
	}
	assert_false(tp_table_next(&d.table, &pos, &e));
	free(frame);

	m.table = (struct tp_exec_table){ .count = 0 };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.table.count, 0);
	pos = 0;
	assert_false(tp_table_next(&d.table, &pos, &e));
	free(frame);
}

static void test_table_max_entries(void **state)
{
	struct tp_exec_entry *in = calloc(TP_TABLE_MAX, sizeof(*in));
	struct tp_msg m = { .type = TP_EXEC_TABLE }, d;
	uint8_t *frame;

	assert_non_null(in);
	for (uint32_t i = 0; i < TP_TABLE_MAX; i++) {
		in[i].id = i;
		in[i].cmdline = (struct tp_bytes){ (const uint8_t *)"true", 4 };
	}
	m.table =
		(struct tp_exec_table){ .count = TP_TABLE_MAX, .entries = in };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.table.count, TP_TABLE_MAX);
	free(frame);

	/* docs/protocol.md promises a full table fits with 953-byte command
	 * lines (70 fixed bytes per entry), and not with 954 each. */
	char *line = malloc(954);
	assert_non_null(line);
	memset(line, 'c', 954);
	for (uint32_t i = 0; i < TP_TABLE_MAX; i++)
		in[i].cmdline = (struct tp_bytes){ (const uint8_t *)line, 953 };
	round_trip(&m, &d, &frame);
	free(frame);
	for (uint32_t i = 0; i < TP_TABLE_MAX; i++)
		in[i].cmdline.len = 954;
	assert_int_equal(tp_msg_encode(&m, &frame), -EMSGSIZE);
	free(line);
	free(in);
}

static void test_type_names(void **state)
{
	assert_string_equal(tp_type_name(TP_ERROR), "ERROR");
	assert_string_equal(tp_type_name(TP_EXEC_START), "EXEC_START");
	assert_string_equal(tp_type_name(TP_EXEC_TABLE), "EXEC_TABLE");
	assert_string_equal(tp_type_name(0), "unknown");
	assert_string_equal(tp_type_name(TP_TYPE_MAX_), "unknown");
	assert_string_equal(tp_type_name(UINT16_MAX), "unknown");
}

/* ---- frame-level refusals ---- */

static void test_short_and_bad_magic(void **state)
{
	static const uint8_t list[] = { 'T', 'T', 'H', 'R', 1, 0,
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

	buf = encode_ok(&(struct tp_msg){ .type = TP_EXEC_LIST }, &len);
	le_store(buf + 4, 2, 2);
	assert_int_equal(tp_msg_decode(buf, len, &m, &e), -EPROTONOSUPPORT);
	assert_int_equal(e.peer_version, 2);
	assert_string_equal(e.what, "version 2 (this side speaks 1)");
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
	le_store(buf + 4, 2, 2);
	assert_int_equal(tp_msg_decode(buf, TP_FRAME_MAX + 1, &m, &e),
			 -EPROTONOSUPPORT);
	assert_int_equal(e.peer_version, 2);
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
	struct tp_msg s[32];
	size_t n = samples(s);

	for (size_t i = 0; i < n; i++)
		assert_truncations_refused(&s[i]);
}

static void test_trailing_byte(void **state)
{
	struct tp_msg s[32];
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
	fb_le(&f, TP_STRV_MAX + 1, 4);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "EXEC_START.argv");

	start_head(&f, 0);
	fb_str(&f, "");
	fb_le(&f, 1, 4);
	fb_str(&f, "ls");
	fb_le(&f, TP_STRV_MAX + 1, 4);
	assert_int_equal(fb_decode(&f, &e), -EMSGSIZE);
	assert_what_has(&e, "EXEC_START.env");

	/* Count larger than the elements present. */
	start_head(&f, 0);
	fb_str(&f, "");
	fb_le(&f, 3, 4);
	fb_str(&f, "ls");
	fb_str(&f, "-l");
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "argv[2]");

	/* Empty argv. */
	start_head(&f, 0);
	fb_str(&f, "");
	fb_le(&f, 0, 4);
	fb_le(&f, 0, 4);
	assert_int_equal(fb_decode(&f, &e), -EPROTO);
	assert_what_has(&e, "EXEC_START.argv");

	/* Empty argv element. */
	start_head(&f, 0);
	fb_str(&f, "");
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
		fb_le(&f, 1, 4);
		fb_str(&f, "ls");
		fb_le(&f, 2, 4);
		fb_str(&f, "A=1");
		fb_str(&f, bad_env[i]);
		assert_int_equal(fb_decode(&f, &e), -EPROTO);
		assert_what_has(&e, "EXEC_START.env[1]");
	}
}

static void test_flag_and_enum_values(void **state)
{
	static const uint32_t bad_flags[] = { 1u << 3, 1u << 31, 0xffffffff };
	struct tp_decode_err e;
	struct fb f;

	for (size_t i = 0; i < 3; i++) {
		start_head(&f, bad_flags[i]);
		fb_str(&f, "");
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
	table_entry(&f, 8, 1, 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_is_frozen),
		cmocka_unit_test(test_error_round_trip),
		cmocka_unit_test(test_error_encode),
		cmocka_unit_test(test_ok_round_trip),
		cmocka_unit_test(test_exec_start_round_trip),
		cmocka_unit_test(test_exec_start_max_argv),
		cmocka_unit_test(test_started_read_round_trip),
		cmocka_unit_test(test_output_round_trip),
		cmocka_unit_test(test_write_signal_resize_list),
		cmocka_unit_test(test_table_round_trip),
		cmocka_unit_test(test_table_max_entries),
		cmocka_unit_test(test_type_names),
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
		cmocka_unit_test(test_flag_and_enum_values),
		cmocka_unit_test(test_table_shapes),
		cmocka_unit_test(test_encode_size_refusals),
		cmocka_unit_test(test_encode_invalid_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
