/* SPDX-License-Identifier: MIT */
/* Unit tests for the wire codec: every message round-trips with edge values
 * and re-encodes to the same bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "codec_fixture.h"

/* ---- round trips ---- */

static void test_header_is_frozen(void **state)
{
	/* The golden bytes of one frame: the header layout and LE order
	 * must never change, or older peers cannot even read the ERROR.
	 * Only the version (here 3) moves. */
	static const uint8_t want[] = {
		'T',  'T',  'H',  'R',	6,    0,    5,	  0,	28,   0,    0,
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

/* The sandbox block travels with SANDBOX, every field at its extremes. */
static void test_exec_start_sandbox(void **state)
{
	const char *argv[] = { "make" };
	struct tp_msg m = { .type = TP_EXEC_START }, d;
	struct tp_sandbox *b = &m.start.sandbox;
	uint8_t *frame;

	m.start.flags = TP_EXEC_F_SANDBOX;
	b->net_host = 1;
	b->ws_mode = TP_SBX_WS_NONE;
	b->ws_src = (struct tp_bytes){ (const uint8_t *)"/srv/ws", 7 };
	b->ws_at = (struct tp_bytes){ (const uint8_t *)"/workspace", 10 };
	b->memory = UINT64_MAX;
	b->cpu_milli = TP_SBX_CPU_MAX;
	b->pids = UINT32_MAX;
	b->rl_set = 0xf;
	b->rl[0] = 1;
	b->rl[3] = UINT64_MAX;
	m.argv_c = (struct tp_cstrv){ argv, 1 };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.start.flags, TP_EXEC_F_SANDBOX);
	assert_int_equal(d.start.sandbox.net_host, 1);
	assert_int_equal(d.start.sandbox.ws_mode, TP_SBX_WS_NONE);
	assert_bytes(d.start.sandbox.ws_src, "/srv/ws", 7);
	assert_bytes(d.start.sandbox.ws_at, "/workspace", 10);
	assert_int_equal(d.start.sandbox.memory, UINT64_MAX);
	assert_int_equal(d.start.sandbox.cpu_milli, TP_SBX_CPU_MAX);
	assert_int_equal(d.start.sandbox.pids, UINT32_MAX);
	assert_int_equal(d.start.sandbox.rl_set, 0xf);
	assert_int_equal(d.start.sandbox.rl[0], 1);
	assert_int_equal(d.start.sandbox.rl[1], 0);
	assert_int_equal(d.start.sandbox.rl[3], UINT64_MAX);
	free(frame);

	/* Without the flag, no block on the wire whatever the struct says. */
	m.start.flags = 0;
	round_trip(&m, &d, &frame);
	assert_int_equal(d.start.sandbox.memory, 0);
	assert_int_equal(d.start.sandbox.ws_src.len, 0);
	free(frame);
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
	assert_int_equal(d.started.has_output, 0);
	free(frame);

	/* With the first output (a START with TP_EXEC_F_FIRST). */
	m.started.has_output = 1;
	m.started.output = (struct tp_exec_output){
		.out_off = 0,
		.out = { (const uint8_t *)"hi\n", 3 },
		.err_off = 0,
		.err = { (const uint8_t *)"e", 1 },
		.state = TP_STATE_EXITED,
		.exit = { .code = 3, .wall_us = 1234 },
	};
	round_trip(&m, &d, &frame);
	assert_int_equal(d.started.has_output, 1);
	assert_int_equal(d.started.output.out.len, 3);
	assert_memory_equal(d.started.output.out.ptr, "hi\n", 3);
	assert_int_equal(d.started.output.err.len, 1);
	assert_int_equal(d.started.output.state, TP_STATE_EXITED);
	assert_int_equal(d.started.output.exit.code, 3);
	assert_int_equal(d.started.output.exit.wall_us, 1234);
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

	m = (struct tp_msg){ .type = TP_PING };
	frame = encode_ok(&m, &len);
	assert_int_equal(len, TP_HEADER_SIZE);
	assert_int_equal(tp_msg_decode(frame, len, &d, NULL), 0);
	assert_int_equal(d.type, TP_PING);
	assert_string_equal(tp_type_name(TP_PING), "PING");
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

	/* docs/protocol.md promises a full table fits with 948-byte command
	 * lines (75 fixed bytes per entry), and not with 949 each. */
	char *line = malloc(949);
	assert_non_null(line);
	memset(line, 'c', 949);
	for (uint32_t i = 0; i < TP_TABLE_MAX; i++)
		in[i].cmdline = (struct tp_bytes){ (const uint8_t *)line, 948 };
	round_trip(&m, &d, &frame);
	free(frame);
	for (uint32_t i = 0; i < TP_TABLE_MAX; i++)
		in[i].cmdline.len = 949;
	assert_int_equal(tp_msg_encode(&m, &frame), -EMSGSIZE);
	free(line);
	free(in);
}

/* Every sync sample keeps its values through encode and decode. */
static void test_sync_round_trip(void **state)
{
	struct tp_msg s[SAMPLES_MAX], d;
	size_t n = samples(s), seen = 0;
	uint8_t *frame;

	for (size_t i = 0; i < n; i++) {
		if ((s[i].type < TP_SYNC_BEGIN || s[i].type > TP_SYNC_TABLE) &&
		    (s[i].type < TP_SYNC_FETCH || s[i].type > TP_SYNC_CHUNKS) &&
		    s[i].type != TP_SYNC_SERVE && s[i].type != TP_SYNC_FILL &&
		    s[i].type != TP_SYNC_ASK && s[i].type != TP_SYNC_DEFINE)
			continue;
		seen++;
		round_trip(&s[i], &d, &frame);
		switch (d.type) {
		case TP_SYNC_BEGIN:
			assert_bytes(d.begin.workspace,
				     s[i].begin.workspace.ptr,
				     s[i].begin.workspace.len);
			assert_bytes(d.begin.domain, s[i].begin.domain.ptr,
				     s[i].begin.domain.len);
			break;
		case TP_SYNC_STATE:
			assert_memory_equal(&d.state, &s[i].state,
					    sizeof(d.state));
			break;
		case TP_SYNC_OFFER:
			assert_int_equal(d.offer.session, 9);
			assert_int_equal(d.offer.offset, 3);
			assert_int_equal(d.offer.total, 10);
			assert_bytes(d.offer.data, "delta", 5);
			break;
		case TP_SYNC_WANT:
			assert_int_equal(d.want.count, s[i].want.count);
			assert_int_equal(d.want.total, s[i].want.total);
			assert_int_equal(d.want.index, s[i].want.index);
			if (d.want.count)
				assert_memory_equal(d.want.ids, sample_ids,
						    sizeof(sample_ids));
			break;
		case TP_SYNC_PUT: assert_bytes(d.put.pack, "pack", 4); break;
		case TP_SYNC_COMMIT:
			assert_int_equal(d.commit.session, s[i].commit.session);
			assert_int_equal(d.commit.version, s[i].commit.version);
			assert_memory_equal(d.commit.root, s[i].commit.root,
					    TP_ID_SIZE);
			assert_int_equal(d.commit.flags, s[i].commit.flags);
			break;
		case TP_SYNC_TABLE: {
			struct tp_sync_entry e;
			uint32_t pos = 0;

			assert_int_equal(d.wstab.count, 2);
			assert_true(tp_wstab_next(&d.wstab, &pos, &e));
			assert_true(tp_wstab_next(&d.wstab, &pos, &e));
			assert_bytes(e.domain, "shared", 6);
			assert_int_equal(e.pending_ms, 1500);
			assert_int_equal(e.state.version, 7);
			assert_int_equal(e.state.committed_ms, 4);
			assert_int_equal(e.state.missing, 5);
			assert_false(tp_wstab_next(&d.wstab, &pos, &e));
			break;
		}
		case TP_SYNC_FETCH:
			assert_bytes(d.fetch.workspace,
				     s[i].fetch.workspace.ptr,
				     s[i].fetch.workspace.len);
			assert_int_equal(d.fetch.version, s[i].fetch.version);
			assert_int_equal(d.fetch.offset, s[i].fetch.offset);
			break;
		case TP_SYNC_MANIFEST:
			assert_int_equal(d.manifest.version,
					 s[i].manifest.version);
			assert_int_equal(d.manifest.total, 12);
			assert_int_equal(d.manifest.offset,
					 s[i].manifest.offset);
			assert_bytes(d.manifest.data, s[i].manifest.data.ptr,
				     s[i].manifest.data.len);
			break;
		case TP_SYNC_GET:
			assert_bytes(d.get.workspace, "w", 1);
			assert_int_equal(d.get.count, 2);
			assert_memory_equal(d.get.ids, sample_ids,
					    sizeof(sample_ids));
			break;
		case TP_SYNC_CHUNKS:
			assert_int_equal(d.chunks.count, 1);
			assert_bytes(d.chunks.pack, "pack", 4);
			break;
		case TP_SYNC_SERVE:
			assert_bytes(d.serve.workspace,
				     s[i].serve.workspace.ptr,
				     s[i].serve.workspace.len);
			assert_int_equal(d.serve.session, s[i].serve.session);
			assert_int_equal(d.serve.wait_ms, s[i].serve.wait_ms);
			break;
		case TP_SYNC_FILL:
			assert_bytes(d.fill.workspace, s[i].fill.workspace.ptr,
				     s[i].fill.workspace.len);
			assert_bytes(d.fill.pack, s[i].fill.pack.ptr,
				     s[i].fill.pack.len);
			break;
		case TP_SYNC_ASK:
			assert_int_equal(d.ask.session, s[i].ask.session);
			assert_bytes(d.ask.path, s[i].ask.path.ptr,
				     s[i].ask.path.len);
			assert_int_equal(d.ask.size, s[i].ask.size);
			assert_int_equal(d.ask.mtime_ns, s[i].ask.mtime_ns);
			break;
		case TP_SYNC_DEFINE:
			assert_bytes(d.define.workspace, "w", 1);
			assert_int_equal(d.define.session, s[i].define.session);
			assert_bytes(d.define.path, s[i].define.path.ptr,
				     s[i].define.path.len);
			assert_int_equal(d.define.size, s[i].define.size);
			assert_int_equal(d.define.mtime_ns,
					 s[i].define.mtime_ns);
			assert_bytes(d.define.err, s[i].define.err.ptr,
				     s[i].define.err.len);
			assert_int_equal(d.define.total, s[i].define.total);
			assert_int_equal(d.define.index, s[i].define.index);
			assert_int_equal(d.define.count, s[i].define.count);
			if (d.define.count)
				assert_memory_equal(d.define.refs, sample_refs,
						    sizeof(sample_refs));
			break;
		}
		free(frame);
	}
	assert_int_equal(seen, 26);
}

/* SYNC_FETCH / SYNC_MANIFEST / SYNC_GET / SYNC_CHUNKS at their limits. */
static void test_read_round_trip(void **state)
{
	uint8_t *bulk = malloc(TP_BULK_MAX);
	uint8_t *ids = malloc(TP_GET_MAX * TP_ID_SIZE);
	char name[TP_NAME_MAX];
	struct tp_msg m, d;
	uint8_t *frame;

	assert_non_null(bulk);
	assert_non_null(ids);
	/* Manifest pages and packs are binary: NUL included. */
	for (uint32_t i = 0; i < TP_BULK_MAX; i++)
		bulk[i] = (uint8_t)(i * 7);
	for (uint32_t i = 0; i < TP_GET_MAX * TP_ID_SIZE; i++)
		ids[i] = (uint8_t)(i / TP_ID_SIZE + i);
	memset(name, 'n', sizeof(name));

	m = (struct tp_msg){
		.type = TP_SYNC_FETCH,
		.fetch = { { (const uint8_t *)name, TP_NAME_MAX },
			   UINT64_MAX,
			   UINT64_MAX },
	};
	round_trip(&m, &d, &frame);
	assert_bytes(d.fetch.workspace, name, TP_NAME_MAX);
	assert_int_equal(d.fetch.version, UINT64_MAX);
	assert_int_equal(d.fetch.offset, UINT64_MAX);
	free(frame);

	/* A full page ending at the largest total. */
	m = (struct tp_msg){ .type = TP_SYNC_MANIFEST,
			     .manifest = { UINT64_MAX,
					   UINT64_MAX,
					   UINT64_MAX - TP_BULK_MAX,
					   { bulk, TP_BULK_MAX } } };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.manifest.version, UINT64_MAX);
	assert_int_equal(d.manifest.total, UINT64_MAX);
	assert_int_equal(d.manifest.offset, UINT64_MAX - TP_BULK_MAX);
	assert_bytes(d.manifest.data, bulk, TP_BULK_MAX);
	free(frame);

	/* An empty manifest page at the end. */
	m.manifest = (struct tp_sync_manifest){ 1, 0, 0, { NULL, 0 } };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.manifest.total, 0);
	assert_int_equal(d.manifest.data.len, 0);
	free(frame);

	for (uint32_t count = 1; count <= TP_GET_MAX; count += TP_GET_MAX - 1) {
		m = (struct tp_msg){
			.type = TP_SYNC_GET,
			.get = { { (const uint8_t *)"ws", 2 }, count, ids }
		};
		round_trip(&m, &d, &frame);
		assert_bytes(d.get.workspace, "ws", 2);
		assert_int_equal(d.get.count, count);
		assert_memory_equal(d.get.ids, ids, count * TP_ID_SIZE);
		free(frame);
	}

	m = (struct tp_msg){ .type = TP_SYNC_CHUNKS,
			     .chunks = { TP_GET_MAX, { bulk, TP_BULK_MAX } } };
	round_trip(&m, &d, &frame);
	assert_int_equal(d.chunks.count, TP_GET_MAX);
	assert_bytes(d.chunks.pack, bulk, TP_BULK_MAX);
	free(frame);

	assert_string_equal(tp_type_name(TP_SYNC_FETCH), "SYNC_FETCH");
	assert_string_equal(tp_type_name(TP_SYNC_MANIFEST), "SYNC_MANIFEST");
	assert_string_equal(tp_type_name(TP_SYNC_GET), "SYNC_GET");
	assert_string_equal(tp_type_name(TP_SYNC_CHUNKS), "SYNC_CHUNKS");
	free(bulk);
	free(ids);
}

/* WS_CHANGES / WS_CHANGED / WS_RESET keep their values, and pages at
 * their limits fit as codec.h says they do. */
static void test_ws_round_trip(void **state)
{
	struct tp_msg s[SAMPLES_MAX], m, d;
	size_t n = samples(s), seen = 0, len;
	struct tp_ws_change *rows, c;
	char *paths, after[TP_PATH_MAX];
	uint32_t pos = 0;
	uint8_t *frame;

	for (size_t i = 0; i < n; i++) {
		if (s[i].type < TP_WS_CHANGES || s[i].type > TP_WS_DATA)
			continue;
		seen++;
		round_trip(&s[i], &d, &frame);
		switch (d.type) {
		case TP_WS_CHANGES:
			assert_bytes(d.changes.workspace,
				     s[i].changes.workspace.ptr,
				     s[i].changes.workspace.len);
			assert_bytes(d.changes.after, s[i].changes.after.ptr,
				     s[i].changes.after.len);
			break;
		case TP_WS_CHANGED:
			assert_int_equal(d.changed.more, s[i].changed.more);
			assert_int_equal(d.changed.count, s[i].changed.count);
			pos = 0;
			for (uint32_t k = 0; k < d.changed.count; k++) {
				const struct tp_ws_change *w =
					&s[i].changed.rows[k];

				assert_true(
					tp_changed_next(&d.changed, &pos, &c));
				assert_int_equal(c.kind, w->kind);
				assert_int_equal(c.type, w->type);
				assert_int_equal(c.conflict, w->conflict);
				assert_int_equal(c.size, w->size);
				assert_bytes(c.path, w->path.ptr, w->path.len);
			}
			assert_false(tp_changed_next(&d.changed, &pos, &c));
			break;
		case TP_WS_RESET:
			assert_bytes(d.reset.workspace, "agent.a_1", 9);
			break;
		case TP_WS_READ:
			assert_bytes(d.wsread.workspace,
				     s[i].wsread.workspace.ptr,
				     s[i].wsread.workspace.len);
			assert_bytes(d.wsread.path, s[i].wsread.path.ptr,
				     s[i].wsread.path.len);
			assert_true(d.wsread.offset == s[i].wsread.offset);
			assert_int_equal(d.wsread.max, s[i].wsread.max);
			break;
		case TP_WS_DATA:
			assert_int_equal(d.wsdata.type, s[i].wsdata.type);
			assert_int_equal(d.wsdata.mode, s[i].wsdata.mode);
			assert_true(d.wsdata.mtime_ns == s[i].wsdata.mtime_ns);
			assert_true(d.wsdata.size == s[i].wsdata.size);
			assert_bytes(d.wsdata.target, s[i].wsdata.target.ptr,
				     s[i].wsdata.target.len);
			assert_bytes(d.wsdata.data, s[i].wsdata.data.ptr,
				     s[i].wsdata.data.len);
			break;
		}
		free(frame);
	}
	assert_int_equal(seen, 11);

	/* A cursor of the longest path. */
	memset(after, 0xfe, sizeof(after));
	m = (struct tp_msg){ .type = TP_WS_CHANGES,
			     .changes = { { (const uint8_t *)"w", 1 },
					  { (const uint8_t *)after,
					    TP_PATH_MAX } } };
	round_trip(&m, &d, &frame);
	assert_bytes(d.changes.after, after, TP_PATH_MAX);
	free(frame);

	/* The most rows a page holds, short paths. */
	rows = calloc(TP_WSCHG_MAX, sizeof(*rows));
	paths = malloc((size_t)TP_WSCHG_MAX * TP_PATH_MAX);
	assert_non_null(rows);
	assert_non_null(paths);
	for (uint32_t i = 0; i < TP_WSCHG_MAX; i++) {
		char *p = paths + (size_t)i * TP_PATH_MAX;

		snprintf(p, 8, "p%05u", i);
		rows[i] = (struct tp_ws_change){ TP_CHANGE_DELETED,
						 TP_CHANGE_FILE,
						 i & 1,
						 i,
						 { (const uint8_t *)p, 6 } };
	}
	m = (struct tp_msg){
		.type = TP_WS_CHANGED,
		.changed = { .more = 1, .count = TP_WSCHG_MAX, .rows = rows }
	};
	round_trip(&m, &d, &frame);
	assert_int_equal(d.changed.count, TP_WSCHG_MAX);
	free(frame);

	/* Longest paths: a row is TP_CHANGE_ROW_FIXED bytes plus its path,
	 * so 255 fit a frame and 256 do not. Components of 199 bytes. */
	for (uint32_t i = 0; i < 256; i++) {
		char *p = paths + (size_t)i * TP_PATH_MAX;

		memset(p, 'x', TP_PATH_MAX);
		for (uint32_t k = 199; k < TP_PATH_MAX; k += 200)
			p[k] = '/';
		snprintf(p, 8, "p%05u", i);
		p[6] = 'x';
		rows[i].path.len = TP_PATH_MAX;
	}
	m.changed.count = 255;
	frame = encode_ok(&m, &len);
	assert_int_equal(len,
			 TP_HEADER_SIZE + TP_CHANGED_HEAD +
				 255 * (TP_CHANGE_ROW_FIXED + TP_PATH_MAX));
	free(frame);
	m.changed.count = 256;
	assert_int_equal(tp_msg_encode(&m, &frame), -EMSGSIZE);

	assert_string_equal(tp_type_name(TP_WS_CHANGES), "WS_CHANGES");
	assert_string_equal(tp_type_name(TP_WS_CHANGED), "WS_CHANGED");
	assert_string_equal(tp_type_name(TP_WS_RESET), "WS_RESET");
	assert_string_equal(tp_type_name(TP_WS_READ), "WS_READ");
	assert_string_equal(tp_type_name(TP_WS_DATA), "WS_DATA");
	free(rows);
	free(paths);
}

/* A whole piece of a file and the longest target fit a frame; the
 * numbers of the new messages are those docs/protocol.md gives. */
static void test_ws_data_limits(void **state)
{
	uint8_t *piece = malloc(TP_READ_MAX), *frame;
	char target[TP_PATH_MAX];
	struct tp_msg m, d;
	size_t len;

	assert_non_null(piece);
	assert_int_equal(TP_WS_READ, 29);
	assert_int_equal(TP_WS_DATA, 30);
	for (uint32_t i = 0; i < TP_READ_MAX; i++)
		piece[i] = (uint8_t)(i * 7);
	m = (struct tp_msg){ .type = TP_WS_DATA,
			     .wsdata = { .type = TP_CHANGE_FILE,
					 .mode = 0600,
					 .size = UINT64_MAX,
					 .data = { piece, TP_READ_MAX } } };
	round_trip(&m, &d, &frame);
	assert_bytes(d.wsdata.data, piece, TP_READ_MAX);
	free(frame);
	frame = encode_ok(&m, &len);
	assert_true(len <= TP_FRAME_MAX);
	free(frame);

	/* A target is data: absolute, "..", any byte but NUL. */
	memset(target, '.', sizeof(target));
	target[0] = '/';
	m = (struct tp_msg){ .type = TP_WS_DATA,
			     .wsdata = { .type = TP_CHANGE_SYMLINK,
					 .mode = 0777,
					 .size = TP_PATH_MAX,
					 .target = { (const uint8_t *)target,
						     TP_PATH_MAX } } };
	round_trip(&m, &d, &frame);
	assert_bytes(d.wsdata.target, target, TP_PATH_MAX);
	free(frame);

	/* The longest request. */
	memset(target, 'x', sizeof(target));
	for (uint32_t k = 254; k < TP_PATH_MAX; k += 256)
		target[k] = '/';
	m = (struct tp_msg){ .type = TP_WS_READ,
			     .wsread = {
				     { (const uint8_t *)"w", 1 },
				     { (const uint8_t *)target, TP_PATH_MAX },
				     1,
				     TP_READ_MAX } };
	round_trip(&m, &d, &frame);
	assert_bytes(d.wsread.path, target, TP_PATH_MAX);
	free(frame);
	free(piece);
}

/* Version 3's fields sit where docs/protocol.md puts them: SYNC_STATE's
 * missing after committed_ms, SYNC_COMMIT's flags after root; SYNC_SERVE
 * and SYNC_FILL in the order of their tables. */
static void test_lazy_layout(void **state)
{
	static const uint8_t commit[] = {
		9,    0, 0, 0, 0, 0, 0, 0, /* session */
		4,    0, 0, 0, 0, 0, 0, 0, /* version */
		0xab, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xcd, /* root */
		1,    0, 0, 0, /* flags: LAZY */
	};
	static const uint8_t serve[] = {
		1,    0,    0, 0, 'w',		/* workspace */
		7,    0,    0, 0, 0,   0, 0, 0, /* session */
		0x60, 0xea, 0, 0,		/* wait_ms 60000 */
	};
	static const uint8_t fill[] = {
		2, 0, 0, 0, 'w', 's',	   /* workspace */
		3, 0, 0, 0, 'T', 'C', 'K', /* pack */
	};
	struct tp_msg m;
	uint8_t *frame, tail[16];
	size_t len;

	assert_int_equal(TP_VERSION, 6);
	assert_int_equal(TP_SYNC_SERVE, 31);
	assert_int_equal(TP_SYNC_FILL, 32);
	assert_int_equal(TP_SYNC_ASK, 33);
	assert_int_equal(TP_SYNC_DEFINE, 34);
	assert_int_equal(TP_PAIR, 35);
	assert_int_equal(TP_PAIRED, 36);
	assert_int_equal(TP_TYPE_MAX_, 37);
	assert_int_equal(TP_COMMIT_F_LAZY, 1);
	assert_int_equal(TP_SERVE_WAIT_MAX, 60000);

	/* missing: the last 8 bytes of the state. */
	m = (struct tp_msg){ .type = TP_SYNC_STATE, .state = sample_state() };
	frame = encode_ok(&m, &len);
	assert_int_equal(len, TP_HEADER_SIZE + 8 + TP_ID_SIZE + 4 * 8);
	le_store(tail, 1795000000000, 8); /* committed_ms */
	le_store(tail + 8, 0x0102030405060708ull, 8);
	assert_memory_equal(frame + len - 16, tail, 16);
	free(frame);

	m = (struct tp_msg){ .type = TP_SYNC_COMMIT,
			     .commit = { 9, 4, { 0xab }, TP_COMMIT_F_LAZY } };
	m.commit.root[TP_ID_SIZE - 1] = 0xcd;
	frame = encode_ok(&m, &len);
	assert_int_equal(len, TP_HEADER_SIZE + sizeof(commit));
	assert_memory_equal(frame + TP_HEADER_SIZE, commit, sizeof(commit));
	free(frame);

	m = (struct tp_msg){
		.type = TP_SYNC_SERVE,
		.serve = { { (const uint8_t *)"w", 1 }, 7, TP_SERVE_WAIT_MAX }
	};
	frame = encode_ok(&m, &len);
	assert_int_equal(len, TP_HEADER_SIZE + sizeof(serve));
	assert_memory_equal(frame + TP_HEADER_SIZE, serve, sizeof(serve));
	assert_int_equal(frame[6], TP_SYNC_SERVE);
	free(frame);

	m = (struct tp_msg){ .type = TP_SYNC_FILL,
			     .fill = { { (const uint8_t *)"ws", 2 },
				       { (const uint8_t *)"TCK", 3 } } };
	frame = encode_ok(&m, &len);
	assert_int_equal(len, TP_HEADER_SIZE + sizeof(fill));
	assert_memory_equal(frame + TP_HEADER_SIZE, fill, sizeof(fill));
	assert_int_equal(frame[6], TP_SYNC_FILL);
	free(frame);

	assert_string_equal(tp_type_name(TP_SYNC_SERVE), "SYNC_SERVE");
	assert_string_equal(tp_type_name(TP_SYNC_FILL), "SYNC_FILL");
}

/* SYNC_FILL, SYNC_SERVE, SYNC_STATE and SYNC_TABLE at their limits. */
static void test_lazy_round_trip(void **state)
{
	uint8_t *bulk = malloc(TP_BULK_MAX);
	char name[TP_NAME_MAX];
	struct tp_sync_entry ents[1], e;
	struct tp_msg m, d;
	uint32_t pos = 0;
	uint8_t *frame;
	size_t len;

	assert_non_null(bulk);
	/* Packs are binary: NUL included. */
	for (uint32_t i = 0; i < TP_BULK_MAX; i++)
		bulk[i] = (uint8_t)(i * 13);
	memset(name, 'n', sizeof(name));

	m = (struct tp_msg){ .type = TP_SYNC_FILL,
			     .fill = { { (const uint8_t *)name, TP_NAME_MAX },
				       { bulk, TP_BULK_MAX } } };
	round_trip(&m, &d, &frame);
	assert_bytes(d.fill.workspace, name, TP_NAME_MAX);
	assert_bytes(d.fill.pack, bulk, TP_BULK_MAX);
	free(frame);
	/* The largest fill fits a frame. */
	frame = encode_ok(&m, &len);
	assert_true(len <= TP_FRAME_MAX);
	free(frame);

	m = (struct tp_msg){
		.type = TP_SYNC_SERVE,
		.serve = { { (const uint8_t *)name, TP_NAME_MAX }, 1, 1 }
	};
	round_trip(&m, &d, &frame);
	assert_bytes(d.serve.workspace, name, TP_NAME_MAX);
	assert_int_equal(d.serve.session, 1);
	assert_int_equal(d.serve.wait_ms, 1);
	free(frame);

	/* Every chunk of a version can be missing. */
	m = (struct tp_msg){ .type = TP_SYNC_STATE, .state = sample_state() };
	m.state.missing = UINT64_MAX;
	round_trip(&m, &d, &frame);
	assert_true(d.state.missing == UINT64_MAX);
	assert_int_equal(d.state.committed_ms, 1795000000000);
	free(frame);
	m.state.missing = 0;
	round_trip(&m, &d, &frame);
	assert_int_equal(d.state.missing, 0);
	free(frame);

	ents[0] = sample_ws[0];
	ents[0].state = sample_state();
	m = (struct tp_msg){ .type = TP_SYNC_TABLE,
			     .wstab = { .count = 1, .entries = ents } };
	round_trip(&m, &d, &frame);
	assert_true(tp_wstab_next(&d.wstab, &pos, &e));
	assert_memory_equal(&e.state, &ents[0].state, sizeof(e.state));
	assert_int_equal(e.pending_ms, 0);
	assert_false(tp_wstab_next(&d.wstab, &pos, &e));
	free(frame);
	free(bulk);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_is_frozen),
		cmocka_unit_test(test_error_round_trip),
		cmocka_unit_test(test_error_encode),
		cmocka_unit_test(test_ok_round_trip),
		cmocka_unit_test(test_exec_start_round_trip),
		cmocka_unit_test(test_exec_start_sandbox),
		cmocka_unit_test(test_exec_start_max_argv),
		cmocka_unit_test(test_started_read_round_trip),
		cmocka_unit_test(test_output_round_trip),
		cmocka_unit_test(test_write_signal_resize_list),
		cmocka_unit_test(test_table_round_trip),
		cmocka_unit_test(test_table_max_entries),
		cmocka_unit_test(test_sync_round_trip),
		cmocka_unit_test(test_read_round_trip),
		cmocka_unit_test(test_ws_round_trip),
		cmocka_unit_test(test_ws_data_limits),
		cmocka_unit_test(test_lazy_layout),
		cmocka_unit_test(test_lazy_round_trip),
		cmocka_unit_test(test_type_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
