/* SPDX-License-Identifier: MIT */
/* Writes one valid frame of each message type (and a few variants) into the
 * directory given as argv[1]: the seed corpus for fuzz_codec. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

static int write_frame(const char *dir, const char *name,
		       const struct tp_msg *m)
{
	char path[4096];
	uint8_t *buf = NULL;
	ssize_t n;
	FILE *f;
	int r = 0;

	n = tp_msg_encode(m, &buf);
	if (n < 0) {
		fprintf(stderr, "gen_corpus: %s: encode failed: %s\n", name,
			strerror((int)-n));
		return (int)n;
	}
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path)) {
		free(buf);
		return -ENAMETOOLONG;
	}
	f = fopen(path, "wbx");
	if (!f || fwrite(buf, 1, (size_t)n, f) != (size_t)n)
		r = -errno;
	if (f && fclose(f) != 0 && r == 0)
		r = -errno;
	if (r < 0)
		fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(-r));
	free(buf);
	return r;
}

int main(int argc, char **argv)
{
	static const char *const args[] = { "sh", "-c", "echo hi; exit 3" };
	static const char *const env[] = { "PATH=/usr/bin:/bin", "K=" };
	static const struct tp_exec_entry ents[] = {
		{ .id = 1,
		  .pid = 100,
		  .flags = TP_EXEC_F_DETACH,
		  .state = TP_STATE_RUNNING,
		  .started_ms = 1700000000000ull,
		  .cmdline = { (const uint8_t *)"sleep 60", 8 } },
		{ .id = 2,
		  .pid = 101,
		  .state = TP_STATE_EXITED,
		  .exit = { .code = 0,
			    .signal = 15,
			    .timed_out = 1,
			    .wall_us = 2000000,
			    .maxrss_kb = 4096 },
		  .started_ms = 1700000000001ull,
		  .cmdline = { (const uint8_t *)"make -j8", 8 } },
	};
	static const uint8_t ids[2 * TP_ID_SIZE] = { 1, [TP_ID_SIZE] = 2 };
	const struct tp_sync_entry ws[1] = {
		{ { (const uint8_t *)"w", 1 },
		  { (const uint8_t *)"w", 1 },
		  { 1, { 3 }, 1, 1, 1, 1 },
		  0 },
	};
	const struct tp_ws_change rows[3] = {
		{ TP_CHANGE_CREATED,
		  TP_CHANGE_DIR,
		  0,
		  0,
		  { (const uint8_t *)"a", 1 } },
		{ TP_CHANGE_MODIFIED,
		  TP_CHANGE_FILE,
		  1,
		  12,
		  { (const uint8_t *)"a.b", 3 } },
		{ TP_CHANGE_DELETED,
		  TP_CHANGE_SYMLINK,
		  0,
		  3,
		  { (const uint8_t *)"a/\xff", 3 } },
	};
	const struct {
		const char *name;
		struct tp_msg m;
	} seeds[] = {
		{ "error",
		  { .type = TP_ERROR,
		    .error = { 2,
			       { (const uint8_t *)"no such command", 15 } } } },
		{ "ok", { .type = TP_OK, .ok = 65536 } },
		{ "exec_start",
		  { .type = TP_EXEC_START,
		    .start = { .flags = TP_EXEC_F_TTY | TP_EXEC_F_STDIN,
			       .timeout_ms = 30000,
			       .rows = 24,
			       .cols = 80,
			       .cwd = { (const uint8_t *)"src", 3 },
			       .workspace = { (const uint8_t *)"ws", 2 } },
		    .argv_c = { args, 3 },
		    .env_c = { env, 2 } } },
		{ "exec_started",
		  { .type = TP_EXEC_STARTED, .started = { 7, 4242 } } },
		{ "exec_read",
		  { .type = TP_EXEC_READ, .read = { 7, 1024, 0, 30000 } } },
		{ "exec_output_running",
		  { .type = TP_EXEC_OUTPUT,
		    .output = { .out_off = 0,
				.out = { (const uint8_t *)"hi\n", 3 },
				.err_off = 5,
				.err = { (const uint8_t *)"w\0x", 3 },
				.state = TP_STATE_RUNNING } } },
		{ "exec_output_exited",
		  { .type = TP_EXEC_OUTPUT,
		    .output = { .out_off = 3,
				.err_off = 8,
				.state = TP_STATE_EXITED,
				.exit = { .code = 3,
					  .wall_us = 1500,
					  .user_us = 700,
					  .sys_us = 300,
					  .maxrss_kb = 2048 } } } },
		{ "exec_write",
		  { .type = TP_EXEC_WRITE,
		    .write = { 7, 0, { (const uint8_t *)"input\n", 6 }, 1 } } },
		{ "exec_signal",
		  { .type = TP_EXEC_SIGNAL, .signal = { 7, 15 } } },
		{ "exec_resize",
		  { .type = TP_EXEC_RESIZE, .resize = { 7, 50, 132 } } },
		{ "exec_list", { .type = TP_EXEC_LIST } },
		{ "exec_table",
		  { .type = TP_EXEC_TABLE,
		    .table = { .count = 2, .entries = ents } } },
		{ "sync_begin",
		  { .type = TP_SYNC_BEGIN,
		    .begin = { { (const uint8_t *)"agent-1", 7 },
			       { (const uint8_t *)"team", 4 },
			       { (const uint8_t *)"/home/a/proj", 12 },
			       2049,
			       1234567 } } },
		{ "sync_state",
		  { .type = TP_SYNC_STATE,
		    .state = { 3, { 1, 2 }, 10, 4096, 1700000000000ull } } },
		{ "sync_state_missing",
		  { .type = TP_SYNC_STATE,
		    .state = { 4, { 1, 2 }, 10, 4096, 1700000000000ull, 7 } } },
		{ "sync_offer",
		  { .type = TP_SYNC_OFFER,
		    .offer = { { (const uint8_t *)"w", 1 },
			       5,
			       0,
			       4,
			       { (const uint8_t *)"TSDL", 4 } } } },
		{ "sync_need", { .type = TP_SYNC_NEED, .need = { 5, 1 } } },
		{ "sync_want",
		  { .type = TP_SYNC_WANT, .want = { 5, 2, 0, 2, ids } } },
		{ "sync_put",
		  { .type = TP_SYNC_PUT,
		    .put = { 5, { (const uint8_t *)"pack", 4 } } } },
		{ "sync_commit",
		  { .type = TP_SYNC_COMMIT, .commit = { 5, 4, { 9 } } } },
		{ "sync_commit_lazy",
		  { .type = TP_SYNC_COMMIT,
		    .commit = { 5, 4, { 9 }, TP_COMMIT_F_LAZY } } },
		{ "sync_status", { .type = TP_SYNC_STATUS } },
		{ "sync_table",
		  { .type = TP_SYNC_TABLE,
		    .wstab = { .count = 1, .entries = ws } } },
		{ "sync_fetch",
		  { .type = TP_SYNC_FETCH,
		    .fetch = { { (const uint8_t *)"w", 1 }, 3, 0 } } },
		{ "sync_manifest",
		  { .type = TP_SYNC_MANIFEST,
		    .manifest = { 3, 8, 4, { (const uint8_t *)"TMAN", 4 } } } },
		{ "sync_get",
		  { .type = TP_SYNC_GET,
		    .get = { { (const uint8_t *)"w", 1 }, 2, ids } } },
		{ "sync_chunks",
		  { .type = TP_SYNC_CHUNKS,
		    .chunks = { 1, { (const uint8_t *)"TCK", 3 } } } },
		{ "sync_serve",
		  { .type = TP_SYNC_SERVE,
		    .serve = { { (const uint8_t *)"w", 1 }, 5, 30000 } } },
		{ "sync_fill",
		  { .type = TP_SYNC_FILL,
		    .fill = { { (const uint8_t *)"w", 1 },
			      { (const uint8_t *)"TCK", 3 } } } },
		{ "ws_changes",
		  { .type = TP_WS_CHANGES,
		    .changes = { { (const uint8_t *)"w", 1 },
				 { (const uint8_t *)"a/b", 3 } } } },
		{ "ws_changed",
		  { .type = TP_WS_CHANGED,
		    .changed = { .more = 1, .count = 3, .rows = rows } } },
		{ "ws_reset",
		  { .type = TP_WS_RESET,
		    .reset = { { (const uint8_t *)"w", 1 } } } },
		{ "ws_read",
		  { .type = TP_WS_READ,
		    .wsread = { { (const uint8_t *)"w", 1 },
				{ (const uint8_t *)"a/b.c", 5 },
				TP_READ_MAX,
				TP_READ_MAX } } },
		{ "ws_data_file",
		  { .type = TP_WS_DATA,
		    .wsdata = { TP_CHANGE_FILE,
				0755,
				1700000000123456789ll,
				9,
				{ 0 },
				{ (const uint8_t *)"#!/bin/sh", 9 } } } },
		{ "ws_data_dir",
		  { .type = TP_WS_DATA,
		    .wsdata = { .type = TP_CHANGE_DIR, .mode = 01777 } } },
		{ "ws_data_symlink",
		  { .type = TP_WS_DATA,
		    .wsdata = { TP_CHANGE_SYMLINK,
				0777,
				-1,
				5,
				{ (const uint8_t *)"../up", 5 },
				{ 0 } } } },
		{ "pair",
		  { .type = TP_PAIR,
		    .pair = { { (const uint8_t *)"k3x9abcd", 8 },
			      { (const uint8_t *)"\x30\x59\x30\x13", 4 },
			      { (const uint8_t *)"0123456789abcdef"
						 "0123456789abcdef",
				32 } } } },
		{ "paired",
		  { .type = TP_PAIRED,
		    .paired = { { (const uint8_t *)"\x30\x82\x01", 3 },
				{ (const uint8_t *)"\x30\x82\x02", 3 },
				{ (const uint8_t *)"0123456789abcdef"
						   "0123456789abcdef",
				  32 } } } },
	};

	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		if (write_frame(argv[1], seeds[i].name, &seeds[i].m) < 0)
			return 1;
	return 0;
}
