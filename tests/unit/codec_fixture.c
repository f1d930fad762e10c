/* SPDX-License-Identifier: MIT */
/* Shared fixture of the codec suites (see codec_fixture.h). */
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

void le_store(uint8_t *p, uint64_t v, unsigned width)
{
	for (unsigned i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- a hand frame builder, for shapes the encoder refuses to make ---- */

void fb_init(struct fb *f, uint16_t type)
{
	f->p = malloc(FB_CAP);
	assert_non_null(f->p);
	memcpy(f->p, TP_MAGIC, 4);
	le_store(f->p + 4, TP_VERSION, 2);
	le_store(f->p + 6, type, 2);
	le_store(f->p + 8, 0, 4);
	f->len = TP_HEADER_SIZE;
}

void fb_le(struct fb *f, uint64_t v, unsigned width)
{
	assert_true(f->len + width <= FB_CAP);
	le_store(f->p + f->len, v, width);
	f->len += width;
}

void fb_raw(struct fb *f, const void *src, size_t n)
{
	assert_true(f->len + n <= FB_CAP);
	memcpy(f->p + f->len, src, n);
	f->len += n;
}

void fb_str(struct fb *f, const char *s)
{
	fb_le(f, strlen(s), 4);
	fb_raw(f, s, strlen(s));
}

/* A length prefix then n copies of c. */
void fb_fill(struct fb *f, size_t n, uint8_t c)
{
	fb_le(f, n, 4);
	assert_true(f->len + n <= FB_CAP);
	memset(f->p + f->len, c, n);
	f->len += n;
}

void fb_exit(struct fb *f, uint8_t timed_out)
{
	fb_le(f, 0, 4);
	fb_le(f, 0, 4);
	fb_le(f, timed_out, 1);
	fb_le(f, 0, 8);
	fb_le(f, 0, 8);
	fb_le(f, 0, 8);
	fb_le(f, 0, 8);
	fb_le(f, 0, 1); /* limits */
	fb_le(f, 0, 4); /* files_changed */
}

/* Fixes the header's body length to what was built. */
void fb_seal(struct fb *f)
{
	le_store(f->p + 8, f->len - TP_HEADER_SIZE, 4);
}

int fb_decode(struct fb *f, struct tp_decode_err *e)
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

uint8_t *encode_ok(const struct tp_msg *m, size_t *len)
{
	uint8_t *buf = NULL;
	ssize_t n = tp_msg_encode(m, &buf);

	assert_true(n >= TP_HEADER_SIZE);
	assert_non_null(buf);
	*len = (size_t)n;
	return buf;
}

void assert_bytes(struct tp_bytes b, const void *p, size_t n)
{
	assert_int_equal(b.len, n);
	if (n)
		assert_memory_equal(b.ptr, p, n);
}

void assert_what_has(const struct tp_decode_err *e, const char *s)
{
	assert_true(e->what[0] != '\0');
	if (!strstr(e->what, s))
		fail_msg("err.what \"%s\" lacks \"%s\"", e->what, s);
}

/* Re-encodes a decoded message the way a relay would and checks the bytes
 * are identical: one canonical encoding per value. */
void assert_reencodes(const uint8_t *frame, size_t len, const struct tp_msg *dm)
{
	struct tp_msg m = *dm;
	struct tp_exec_entry *ents = NULL;
	struct tp_sync_entry *ws = NULL;
	struct tp_ws_change *rows = NULL;
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
	} else if (m.type == TP_SYNC_TABLE) {
		uint32_t pos = 0, i = 0;

		ws = calloc(m.wstab.count + 1, sizeof(*ws));
		assert_non_null(ws);
		while (tp_wstab_next(&m.wstab, &pos, &ws[i]))
			i++;
		assert_int_equal(i, m.wstab.count);
		m.wstab.entries = ws;
	} else if (m.type == TP_WS_CHANGED) {
		uint32_t pos = 0, i = 0;

		rows = calloc(m.changed.count + 1, sizeof(*rows));
		assert_non_null(rows);
		while (tp_changed_next(&m.changed, &pos, &rows[i]))
			i++;
		assert_int_equal(i, m.changed.count);
		m.changed.rows = rows;
	}
	again = encode_ok(&m, &n);
	assert_int_equal(n, len);
	assert_memory_equal(again, frame, len);
	free(again);
	free(argv);
	free(env);
	free(ents);
	free(ws);
	free(rows);
}

/* Encodes m, decodes it into *out (borrowing *frame, which the caller
 * frees) and checks the re-encoding. */
void round_trip(const struct tp_msg *m, struct tp_msg *out, uint8_t **frame)
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
void assert_truncations_refused(const struct tp_msg *m)
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

void assert_trailing_refused(const struct tp_msg *m)
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

struct tp_exit exit_full(void)
{
	return (struct tp_exit){
		.code = -1,
		.signal = 9,
		.timed_out = 1,
		.wall_us = UINT64_MAX,
		.user_us = 1,
		.sys_us = 0x0102030405060708ull,
		.maxrss_kb = 123456,
		.limits = TP_LIMIT_MEMORY | TP_LIMIT_PIDS,
		.files_changed = 70000,
	};
}

void assert_exit_eq(const struct tp_exit *a, const struct tp_exit *b)
{
	assert_int_equal(a->code, b->code);
	assert_int_equal(a->signal, b->signal);
	assert_int_equal(a->timed_out, b->timed_out);
	assert_int_equal(a->wall_us, b->wall_us);
	assert_int_equal(a->user_us, b->user_us);
	assert_int_equal(a->sys_us, b->sys_us);
	assert_int_equal(a->maxrss_kb, b->maxrss_kb);
	assert_int_equal(a->limits, b->limits);
	assert_int_equal(a->files_changed, b->files_changed);
}

/* A set of valid messages, one or more per type, shared by the round-trip,
 * truncation and trailing-byte tests. */
const char *const sample_argv[] = { "sh", "-c", "echo héllo >&2" };
const char *const sample_env[] = { "PATH=/bin", "EMPTY=", "X==y" };
const struct tp_exec_entry sample_entries[] = {
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

#define B(s) ((const uint8_t *)(s))

const uint8_t sample_ids[2 * TP_ID_SIZE] = { 0xaa, [TP_ID_SIZE] = 0xbb };
/* Two chunk refs of SYNC_DEFINE: ids, then lens 5 and 0x010000. */
const uint8_t sample_refs[2 * TP_DEFINE_REF] = {
	0xaa, [TP_ID_SIZE] = 5, [TP_DEFINE_REF] = 0xbb,
	[TP_DEFINE_REF + TP_ID_SIZE + 2] = 1
};

struct tp_sync_state sample_state(void)
{
	return (struct tp_sync_state){ .version = 3,
				       .root = { 0xde, 0xad },
				       .files = 80000,
				       .bytes = 1300000000,
				       .committed_ms = 1795000000000,
				       .missing = 0x0102030405060708ull };
}

const struct tp_sync_entry sample_ws[2] = {
	{ { B("a"), 1 }, { B("a"), 1 }, { 0 }, 0 },
	{ { B("b-2"), 3 }, { B("shared"), 6 }, { 7, { 1 }, 2, 3, 4, 5 }, 1500 },
};

/* In path order: "a" < "a.b" < "a/\xff" ('.' 0x2e, '/' 0x2f). */
const struct tp_ws_change sample_rows[3] = {
	{ TP_CHANGE_CREATED, TP_CHANGE_DIR, 0, 0, { B("a"), 1 } },
	{ TP_CHANGE_MODIFIED, TP_CHANGE_FILE, 1, UINT64_MAX, { B("a.b"), 3 } },
	{ TP_CHANGE_DELETED, TP_CHANGE_SYMLINK, 0, 7, { B("a/\xff"), 3 } },
};

size_t samples(struct tp_msg *out)
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
							4 },
					       .workspace = { B("ws-1"), 4 } },
				    .argv_c = { sample_argv, 3 },
				    .env_c = { sample_env, 3 } };
	out[n++] = (struct tp_msg){ .type = TP_EXEC_START,
				    .argv_c = { sample_argv, 1 } };
	out[n++] = (struct tp_msg){
		.type = TP_EXEC_START,
		.start = { .flags = TP_EXEC_F_SANDBOX,
			   .sandbox = { .ws_mode = TP_SBX_WS_RO,
					.ws_src = { B("/srv/a"), 6 },
					.memory = 64 << 20,
					.cpu_milli = 500,
					.pids = 32,
					.rl_set = 5,
					.rl = { 64, 0, 1 << 20, 0 } } },
		.argv_c = { sample_argv, 2 }
	};
	out[n++] = (struct tp_msg){ .type = TP_EXEC_STARTED,
				    .started = { 7, 4242 } };
	out[n++] = (struct tp_msg){
		.type = TP_EXEC_STARTED,
		.started = { .id = 8,
			     .pid = 4243,
			     .has_output = 1,
			     .output = { .out = { (const uint8_t *)"hi\n", 3 },
					 .state = TP_STATE_EXITED,
					 .exit = exit_full() } }
	};
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
	out[n++] = (struct tp_msg){ .type = TP_SYNC_BEGIN,
				    .begin = { { B("agent.a_1"), 9 },
					       { B("team"), 4 },
					       { B("/home/a/proj"), 12 },
					       2049,
					       1234567 } };
	out[n++] = (struct tp_msg){ .type = TP_SYNC_BEGIN,
				    .begin = { { B("w"), 1 } } };
	out[n++] = (struct tp_msg){ .type = TP_SYNC_STATE,
				    .state = sample_state() };
	out[n++] = (struct tp_msg){
		.type = TP_SYNC_OFFER,
		.offer = { { B("w"), 1 }, 9, 3, 10, { B("delta"), 5 } }
	};
	out[n++] = (struct tp_msg){ .type = TP_SYNC_NEED, .need = { 9, 2 } };
	out[n++] = (struct tp_msg){ .type = TP_SYNC_WANT,
				    .want = { 9, 5, 3, 2, sample_ids } };
	out[n++] = (struct tp_msg){ .type = TP_SYNC_WANT,
				    .want = { 9, 0, 0, 0, NULL } };
	out[n++] = (struct tp_msg){ .type = TP_SYNC_PUT,
				    .put = { 9, { B("pack"), 4 } } };
	out[n++] = (struct tp_msg){ .type = TP_SYNC_COMMIT,
				    .commit = { 9, 4, { 1, 2, 3 } } };
	out[n++] = (struct tp_msg){
		.type = TP_SYNC_COMMIT,
		.commit = { UINT64_MAX, 5, { 0xff }, TP_COMMIT_F_LAZY }
	};
	out[n++] = (struct tp_msg){ .type = TP_SYNC_STATUS };
	out[n++] = (struct tp_msg){ .type = TP_PING };
	out[n++] = (struct tp_msg){ .type = TP_SYNC_TABLE,
				    .wstab = { .count = 2,
					       .entries = sample_ws } };
	out[n++] = (struct tp_msg){ .type = TP_SYNC_FETCH,
				    .fetch = { { B("ws-1"), 4 }, 0, 0 } };
	out[n++] = (struct tp_msg){
		.type = TP_SYNC_FETCH,
		.fetch = { { B("w"), 1 }, UINT64_MAX, 1040384 }
	};
	out[n++] = (struct tp_msg){ .type = TP_SYNC_MANIFEST,
				    .manifest = {
					    7, 12, 4, { B("manifest"), 8 } } };
	/* The last page: nothing past the end. */
	out[n++] = (struct tp_msg){ .type = TP_SYNC_MANIFEST,
				    .manifest = { 1, 12, 12, { 0 } } };
	out[n++] = (struct tp_msg){ .type = TP_SYNC_GET,
				    .get = { { B("w"), 1 }, 2, sample_ids } };
	out[n++] = (struct tp_msg){ .type = TP_SYNC_CHUNKS,
				    .chunks = { 1, { B("pack"), 4 } } };
	/* A poll that answers at once, and one that waits the longest. */
	out[n++] = (struct tp_msg){ .type = TP_SYNC_SERVE,
				    .serve = { { B("agent.a_1"), 9 }, 9, 0 } };
	out[n++] = (struct tp_msg){
		.type = TP_SYNC_SERVE,
		.serve = { { B("w"), 1 }, UINT64_MAX, TP_SERVE_WAIT_MAX }
	};
	out[n++] =
		(struct tp_msg){ .type = TP_SYNC_FILL,
				 .fill = { { B("w"), 1 }, { B("pack"), 4 } } };
	/* A pack of no bytes holds no chunks. */
	out[n++] = (struct tp_msg){ .type = TP_SYNC_FILL,
				    .fill = { { B("ws-1"), 4 } } };
	out[n++] = (struct tp_msg){
		.type = TP_SYNC_ASK,
		.ask = { 7, { B("src/\xff a.c"), 9 }, 65541, -1 }
	};
	/* A file of two chunks, one the source could not read, and the
	 * last two chunks of three. */
	out[n++] = (struct tp_msg){ .type = TP_SYNC_DEFINE,
				    .define = { .workspace = { B("w"), 1 },
						.session = 7,
						.path = { B("src/a.c"), 7 },
						.size = 65541,
						.mtime_ns = 1700000000123456789,
						.total = 2,
						.count = 2,
						.refs = sample_refs } };
	out[n++] = (struct tp_msg){
		.type = TP_SYNC_DEFINE,
		.define = { .workspace = { B("w"), 1 },
			    .session = UINT64_MAX,
			    .path = { B("a"), 1 },
			    .size = 9,
			    .err = { B("changed since it was synced"), 27 } }
	};
	out[n++] = (struct tp_msg){ .type = TP_SYNC_DEFINE,
				    .define = { .workspace = { B("w"), 1 },
						.session = 1,
						.path = { B("e"), 1 },
						.size = 70000,
						.total = 3,
						.index = 1,
						.count = 2,
						.refs = sample_refs } };
	out[n++] = (struct tp_msg){ .type = TP_WS_CHANGES,
				    .changes = { { B("ws-1"), 4 } } };
	out[n++] = (struct tp_msg){ .type = TP_WS_CHANGES,
				    .changes = { { B("w"), 1 },
						 { B("src/\x01 x"), 7 } } };
	out[n++] = (struct tp_msg){
		.type = TP_WS_CHANGED,
		.changed = { .more = 1, .count = 3, .rows = sample_rows }
	};
	/* The last page of a list. */
	out[n++] = (struct tp_msg){ .type = TP_WS_CHANGED,
				    .changed = { .count = 1,
						 .rows = sample_rows + 2 } };
	/* No changes at all. */
	out[n++] = (struct tp_msg){ .type = TP_WS_CHANGED };
	out[n++] = (struct tp_msg){ .type = TP_WS_RESET,
				    .reset = { { B("agent.a_1"), 9 } } };
	out[n++] = (struct tp_msg){ .type = TP_WS_READ,
				    .wsread = { { B("w"), 1 },
						{ B("src/\xff x"), 7 },
						0,
						TP_READ_MAX } };
	/* Attributes only, from anywhere. */
	out[n++] = (struct tp_msg){
		.type = TP_WS_READ,
		.wsread = { { B("ws-1"), 4 }, { B("a"), 1 }, UINT64_MAX, 0 }
	};
	out[n++] = (struct tp_msg){ .type = TP_WS_DATA,
				    .wsdata = { TP_CHANGE_FILE,
						0644,
						-1,
						1u << 20,
						{ 0 },
						{ B("0123456789"), 10 } } };
	out[n++] = (struct tp_msg){ .type = TP_WS_DATA,
				    .wsdata = { TP_CHANGE_SYMLINK,
						07777,
						INT64_MIN,
						4,
						{ B("../x"), 4 },
						{ 0 } } };
	out[n++] = (struct tp_msg){ .type = TP_WS_DATA,
				    .wsdata = { .type = TP_CHANGE_DIR,
						.mode = 0755,
						.mtime_ns =
							1795000000123456789 } };
	out[n++] = (struct tp_msg){
		.type = TP_PAIR,
		.pair = { { B("k3x9abcd"), 8 },
			  { B("\x30\x59"), 2 },
			  { B("0123456789abcdef0123456789abcdef"), 32 } }
	};
	out[n++] = (struct tp_msg){
		.type = TP_PAIRED,
		.paired = { { B("\x30\x82"), 2 },
			    { B("\x30\x83\x00"), 3 },
			    { B("fedcba9876543210fedcba9876543210"), 32 } }
	};
	assert_true(n <= SAMPLES_MAX);
	return n;
}

/* ---- refusals ---- */

void start_head(struct fb *f, uint32_t flags)
{
	fb_init(f, TP_EXEC_START);
	fb_le(f, flags, 4);
	fb_le(f, 0, 4);
	fb_le(f, 24, 2);
	fb_le(f, 80, 2);
}

void assert_encode_fails(const struct tp_msg *m, int code)
{
	uint8_t *buf = (uint8_t *)"untouched";

	assert_int_equal(tp_msg_encode(m, &buf), code);
	assert_string_equal((const char *)buf, "untouched");
}
