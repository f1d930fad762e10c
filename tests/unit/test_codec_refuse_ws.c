/* SPDX-License-Identifier: MIT */
/* Unit tests for the wire codec's WS_* messages: every malformed or
 * oversized shape (workspaces, cursors, change rows and their order, paths
 * that could leave the workspace, reads and the data answered) is refused
 * with the right code and a reason naming the field, by the decoder and by
 * the encoder. */
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
		cmocka_unit_test(test_ws_shapes),
		cmocka_unit_test(test_ws_read_data_shapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
