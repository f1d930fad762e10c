/* SPDX-License-Identifier: MIT */
/* Unit tests for manifests: path rules, entry and tree rules, the encoding
 * (against an encoder written from docs/protocol.md), root hashes, and
 * hostile input to the decoder. Deltas: test_delta.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "manifest_test_fixture.h"

/* ---- paths ---- */

static void test_path_accept(void **state)
{
	struct sd_err why = { "" };
	char p[SD_PATH_MAX + 2];

	assert_ok(sd_path_check("a", 1, &why), why);
	assert_ok(sd_path_check("a/b/c", 5, &why), why);
	assert_ok(sd_path_check("...", 3, &why), why);
	assert_ok(sd_path_check(".a/..b/a..", 10, &why), why);
	assert_ok(sd_path_check("caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac", 12,
				&why),
		  why);
	/* Every byte but NUL and '/', alone and inside a name. */
	for (int c = 1; c < 256; c++) {
		p[0] = (char)c;
		p[1] = 'x';
		p[2] = (char)c;
		if (c == '/')
			continue;
		assert_ok(sd_path_check(p + 1, 2, &why), why);
		if (c != '.')
			assert_ok(sd_path_check(p, 1, &why), why);
	}
	/* Invalid UTF-8 is fine: names are bytes. */
	assert_ok(sd_path_check("\xff\xfe\xc3", 3, &why), why);
	/* 255-byte names; 4096 bytes in all. */
	memset(p, 'n', 255);
	assert_ok(sd_path_check(p, 255, &why), why);
	memset(p, 'n', SD_PATH_MAX);
	for (size_t i = 100; i < SD_PATH_MAX; i += 101)
		p[i] = '/';
	assert_ok(sd_path_check(p, SD_PATH_MAX, &why), why);
}

static void refuse_path(const char *p, size_t len, const char *needle)
{
	struct sd_err why = { "" };
	int r = sd_path_check(p, len, &why);

	if (r != -EINVAL || !strstr(why.what, needle))
		fail_msg("path check gave %d '%s', wanted '...%s...'", r,
			 why.what, needle);
	assert_non_null(memchr(why.what, '\0', sizeof(why.what)));
	/* The decision does not depend on why. */
	assert_int_equal(sd_path_check(p, len, NULL), -EINVAL);
}

static void test_path_refuse(void **state)
{
	char p[SD_PATH_MAX + 2];

	refuse_path("", 0, "empty");
	refuse_path("/a", 2, "absolute");
	refuse_path("/", 1, "absolute");
	refuse_path("a/", 2, "trailing");
	refuse_path("a//b", 4, "empty component");
	refuse_path(".", 1, "'.' component");
	refuse_path("..", 2, "'..' component");
	refuse_path("a/./b", 5, "'.' component");
	refuse_path("a/../b", 6, "path 'a/../b': '..' component");
	refuse_path("a/..", 4, "'..' component");
	refuse_path("a\0b", 3, "path 'a\\x00b': contains NUL");
	/* Non-printable bytes are shown escaped. */
	refuse_path("\x01\xff/../x", 7, "path '\\x01\\xff/../x'");
	refuse_path("it's\\/..", 8, "'it\\x27s\\x5c/..'");
	memset(p, 'n', 256);
	refuse_path(p, 256, "component of 256 bytes");
	memcpy(p, "ok/", 3); /* now 3 + 253 bytes */
	assert_int_equal(sd_path_check(p, 256, NULL), 0);
	memset(p, 'n', SD_PATH_MAX + 1);
	for (size_t i = 200; i < SD_PATH_MAX; i += 200)
		p[i] = '/';
	refuse_path(p, SD_PATH_MAX + 1, "4097 bytes, over 4096");
	/* A long path is cut short in the message. */
	refuse_path(p, SD_PATH_MAX + 1, "nnnn'...: ");
}

static void test_path_cmp(void **state)
{
	assert_true(sd_path_cmp("a", 1, "a.txt", 5) < 0);
	assert_true(sd_path_cmp("a.txt", 5, "a/x", 3) < 0);
	assert_true(sd_path_cmp("a/x", 3, "a", 1) > 0);
	assert_true(sd_path_cmp("\xff", 1, "a", 1) > 0); /* unsigned bytes */
	assert_int_equal(sd_path_cmp("ab", 2, "ab", 2), 0);
	assert_true(sd_path_cmp("", 0, "a", 1) < 0);
}

/* ---- entries and trees ---- */

static void refuse_add(const struct sd_entry *e, const char *needle)
{
	struct sd_err why = { "" };
	struct sd_manifest m;
	int r;

	sd_manifest_init(&m);
	r = sd_manifest_add(&m, e, &why);
	if (r != -EINVAL || !strstr(why.what, needle))
		fail_msg("add gave %d '%s', wanted '...%s...'", r, why.what,
			 needle);
	assert_int_equal(m.count, 0);
	sd_manifest_free(&m);
}

static void test_add_refuse(void **state)
{
	struct sd_chunkref zero = chunk(9, 0);
	struct sd_entry e;

	e = file("f", CH, 2);
	e.mode = 0100644;
	refuse_add(&e, "mode 0100644 has bits outside 07777");
	e = file("f", CH, 2);
	e.size++;
	refuse_add(&e, "chunk lens sum to 65636, size is 65637");
	e = file("f", &zero, 1);
	refuse_add(&e, "chunk 0 is empty");
	e = file("f", NULL, 0);
	e.size = SD_FILE_MAX + 1;
	refuse_add(&e, "over");
	e = file("f", CH, 1);
	e.target = "x";
	e.target_len = 1;
	refuse_add(&e, "target on a file");
	e = dir("d");
	e.size = 1;
	refuse_add(&e, "directory with size");
	e = dir("d");
	e.nchunks = 1;
	e.chunks = CH;
	refuse_add(&e, "chunks on a non-file");
	e = symlink_("s", "t");
	e.target_len = 0;
	e.target = NULL;
	refuse_add(&e, "symlink without target");
	e = symlink_("s", "t");
	e.size = 5;
	refuse_add(&e, "symlink size 5");
	e = symlink_("s", "a\0b");
	e.target_len = 3;
	e.size = 3;
	refuse_add(&e, "has NUL");
	e = hardlink("h", "../x");
	refuse_add(&e, "hardlink target: path '../x'");
	e = hardlink("h", "x");
	e.mode = 0644;
	refuse_add(&e, "hardlink with size, mode or mtime");
	e = dir("a/../b");
	refuse_add(&e, "'..' component");
	e = dir("d");
	e.type = 6;
	refuse_add(&e, "unknown type 6");
	/* A pending file: a size, no chunks, no target. */
	e = dir("p");
	e.type = SD_T_PENDING;
	e.size = SD_FILE_MAX + 1;
	refuse_add(&e, "size 17592186044417 over");
	e.size = 3;
	e.target = "x";
	e.target_len = 1;
	refuse_add(&e, "target on a file");
	e.type = 0;
	refuse_add(&e, "unknown type 0");
}

static void refuse_seal(const struct sd_entry *e, size_t n, const char *needle)
{
	struct sd_err why = { "" };
	struct sd_manifest m;
	int r;

	sd_manifest_init(&m);
	for (size_t i = 0; i < n; i++)
		assert_ok(sd_manifest_add(&m, &e[i], &why), why);
	r = sd_manifest_seal(&m, &why);
	if (r != -EINVAL || !strstr(why.what, needle))
		fail_msg("seal gave %d '%s', wanted '...%s...'", r, why.what,
			 needle);
	assert_false(m.sealed);
	sd_manifest_free(&m);
}

static void test_seal_refuse(void **state)
{
	struct sd_entry e[4];

	e[0] = dir("a");
	e[1] = dir("a");
	refuse_seal(e, 2, "duplicate path 'a'");
	e[0] = file("a", NULL, 0);
	e[1] = file("a/b", NULL, 0);
	refuse_seal(e, 2, "'a/b': parent 'a' is not a directory");
	e[0] = file("x/y", NULL, 0);
	refuse_seal(e, 1, "parent directory 'x' is missing");
	e[0] = dir("a");
	e[1] = file("a/b/c", NULL, 0);
	refuse_seal(e, 2, "parent directory 'a/b' is missing");
	e[0] = hardlink("h", "f");
	refuse_seal(e, 1, "hardlink 'h': target 'f' is missing");
	e[1] = dir("f");
	refuse_seal(e, 2, "target 'f' is not a regular file");
	e[0] = hardlink("a", "f");
	e[1] = file("f", CH, 1);
	refuse_seal(e, 2, "target 'f' sorts after it");
	e[0] = hardlink("h", "g");
	e[1] = file("f", CH, 1);
	e[2] = hardlink("g", "f");
	refuse_seal(e, 3, "target 'g' is not a regular file");
}

static void test_round_trip(void **state)
{
	struct sd_manifest m, d, again;
	struct sd_entry e[32];
	struct sd_err why = { "" };
	uint8_t *buf, *buf2;
	size_t n = sample(e), len, len2;
	const struct sd_entry *f;
	struct raw *raw = malloc(sizeof(*raw));

	build(&m, e, n, 9);
	assert_true(m.sealed);
	assert_int_equal(m.count, n);
	for (size_t i = 1; i < m.count; i++)
		assert_true(sd_path_cmp(m.e[i - 1].path, m.e[i - 1].path_len,
					m.e[i].path, m.e[i].path_len) < 0);
	assert_ok(sd_manifest_encode(&m, &buf, &len), why);
	assert_ok(sd_manifest_decode(buf, len, &d, &why), why);
	assert_true(d.sealed);
	assert_same(&m, &d);
	assert_int_equal(m.nhardlinks, 2);
	assert_int_equal(d.nhardlinks, 2);
	assert_int_equal(m.nfiles, 13); /* 17 entries, 4 directories */
	assert_int_equal(m.npending, 1);
	assert_int_equal(d.npending, 1);
	f = sd_manifest_find(&d, "src/sub/later", 13);
	assert_non_null(f);
	assert_int_equal(f->type, SD_T_PENDING);
	assert_int_equal(f->size, 300000);
	assert_int_equal(f->nchunks, 0);
	assert_ok(sd_manifest_encode(&d, &buf2, &len2), why);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
	/* Its header alone states its version and root. */
	{
		uint64_t version = 0;
		struct sd_id root;

		assert_int_equal(sd_manifest_peek(buf, SD_MANIFEST_HEADER,
						  &version, &root),
				 0);
		assert_int_equal(version, 9);
		assert_memory_equal(root.b, m.root.b, SD_ID_SIZE);
		assert_int_equal(sd_manifest_peek(buf, SD_MANIFEST_HEADER - 1,
						  &version, &root),
				 -EINVAL);
		buf[0] ^= 1;
		assert_int_equal(sd_manifest_peek(buf, len, &version, &root),
				 -EINVAL);
		buf[0] ^= 1;
	}
	/* The documented encoding, written independently, is these bytes. */
	raw_manifest(raw, m.e, m.count, 9);
	assert_int_equal(raw->n, len);
	assert_memory_equal(raw->b, buf, len);

	/* Lookups. */
	f = sd_manifest_find(&d, "src/main2.c", 11);
	assert_non_null(f);
	assert_int_equal(f->type, SD_T_HARDLINK);
	f = sd_manifest_resolve(&d, f);
	assert_non_null(f);
	assert_string_equal(f->path, "src/main.c");
	assert_int_equal(f->size, CH[0].len + CH[1].len);
	assert_null(sd_manifest_find(&d, "src/main", 8));
	assert_null(sd_manifest_find(&d, "zzz", 3));
	f = &d.e[sd_manifest_lower_bound(&d, "src/", 4)];
	assert_string_equal(f->path, "src/abs");
	assert_int_equal(sd_manifest_lower_bound(&d, "\xff", 1), d.count);

	/* Sealing again, or decoding into a used struct, changes nothing. */
	assert_ok(sd_manifest_seal(&m, &why), why);
	assert_same(&m, &d);
	assert_ok(sd_manifest_decode(buf, len, &again, &why), why);
	assert_same(&again, &m);
	sd_manifest_free(&again);
	free(buf);
	free(buf2);
	sd_manifest_free(&m);
	sd_manifest_free(&d);
	free(raw);
}

/* A copy is the same manifest (entries, root, counts, version), sealed,
 * and lives on after the original is freed; an unsealed one is refused. */
static void test_copy(void **state)
{
	struct sd_manifest m, c, again;
	struct sd_entry e[32];
	struct sd_err why = { "" };
	size_t n = sample(e);
	uint8_t *a, *b;
	size_t alen, blen;

	build(&m, e, n, 42);
	assert_ok(sd_manifest_copy(&c, &m, &why), why);
	assert_true(c.sealed);
	assert_int_equal(c.version, 42);
	assert_true(sd_id_eq(&c.root, &m.root));
	assert_int_equal(c.count, m.count);
	assert_int_equal(c.nfiles, m.nfiles);
	assert_int_equal(c.nbytes, m.nbytes);
	assert_int_equal(c.nhardlinks, m.nhardlinks);
	assert_int_equal(c.npending, 1);
	assert_same(&m, &c);
	assert_ok(sd_manifest_encode(&m, &a, &alen), why);
	sd_manifest_free(&m);
	/* The bytes it shares outlive the original. */
	assert_ok(sd_manifest_encode(&c, &b, &blen), why);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	/* What sealing computes, the copy has. */
	assert_ok(sd_manifest_copy(&again, &c, &why), why);
	assert_ok(sd_manifest_seal(&again, &why), why);
	assert_true(sd_id_eq(&again.root, &c.root));
	sd_manifest_free(&again);
	c.sealed = false;
	assert_int_equal(sd_manifest_copy(&again, &c, &why), -EINVAL);
	assert_int_equal(again.count, 0);
	c.sealed = true;
	sd_manifest_free(&c);
	free(a);
	free(b);
}

static void test_empty(void **state)
{
	struct sd_manifest a, b, c;
	struct sd_err why = { "" };
	uint8_t *buf;
	size_t len;

	sd_manifest_init(&a);
	assert_true(a.sealed);
	assert_int_equal(a.version, 0);
	sd_manifest_init(&b);
	assert_ok(sd_manifest_seal(&b, &why), why);
	assert_memory_equal(a.root.b, b.root.b, SD_ID_SIZE);
	assert_ok(sd_manifest_encode(&a, &buf, &len), why);
	assert_int_equal(len, 34);
	assert_ok(sd_manifest_decode(buf, len, &c, &why), why);
	assert_same(&a, &c);
	sd_manifest_free(&c);
	free(buf);
	/* A zero-filled struct is not sealed. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(sd_manifest_encode(&c, &buf, &len), -EINVAL);
	sd_manifest_free(&a);
	sd_manifest_free(&b);
}

/* ---- root hash ---- */

/* Change field f of entry i of a sample; false when that change does not
 * apply to that entry. The change keeps the tree valid. */
static bool mutate(struct sd_entry *e, size_t n, size_t i, int f,
		   struct sd_chunkref *ch, char *buf)
{
	struct sd_entry *x = &e[i];
	bool parent = false, target = false;

	for (size_t k = 0; k < n; k++) {
		if (e[k].path_len > x->path_len &&
		    !memcmp(e[k].path, x->path, x->path_len) &&
		    e[k].path[x->path_len] == '/')
			parent = true;
		if (e[k].type == SD_T_HARDLINK && !strcmp(e[k].target, x->path))
			target = true;
	}
	switch (f) {
	case 0: /* path: rename a leaf */
		if (parent || target)
			return false;
		snprintf(buf, 600, "%s~", x->path);
		x->path = buf;
		x->path_len++;
		return true;
	case 1: /* mode */
		if (x->type == SD_T_HARDLINK)
			return false;
		x->mode ^= 01;
		return true;
	case 2: /* mtime */
		if (x->type == SD_T_HARDLINK)
			return false;
		x->mtime_ns += 1;
		return true;
	case 3: /* a chunk id */
		if (!x->nchunks)
			return false;
		memcpy(ch, x->chunks, x->nchunks * sizeof(*ch));
		ch[x->nchunks - 1].id.b[15] ^= 0x80;
		x->chunks = ch;
		return true;
	case 4: /* a chunk len, and so the size */
		if (!x->nchunks)
			return false;
		memcpy(ch, x->chunks, x->nchunks * sizeof(*ch));
		ch[0].len++;
		x->chunks = ch;
		x->size++;
		return true;
	case 5: /* another chunk, and so the size */
		if (x->type != SD_T_FILE)
			return false;
		if (x->nchunks)
			memcpy(ch, x->chunks, x->nchunks * sizeof(*ch));
		ch[x->nchunks++] = CH[2];
		x->chunks = ch;
		x->size += CH[2].len;
		return true;
	case 6: /* target */
		if (x->type == SD_T_SYMLINK) {
			snprintf(buf, 600, "%sX", x->target);
			x->target = buf;
			x->target_len++;
			x->size++;
			return true;
		}
		if (x->type == SD_T_HARDLINK) {
			/* "src/main.c" has another file before it. */
			x->target = "a.b";
			x->target_len = 3;
			return true;
		}
		return false;
	case 7: /* type */
		if (parent || target)
			return false;
		if (x->type == SD_T_DIR) {
			*x = file(x->path, NULL, 0);
			return true;
		}
		if (x->type == SD_T_FILE && x->nchunks == 0) {
			*x = dir(x->path);
			return true;
		}
		return false;
	}
	return false;
}

static void test_root(void **state)
{
	struct sd_entry base[32], e[32];
	struct sd_chunkref ch[8];
	struct sd_manifest a, b;
	size_t n = sample(base);
	int tried = 0;
	char buf[600];
	uint8_t *x, *y;
	size_t xl, yl;
	struct sd_err why = { "" };

	build(&a, base, n, 1);
	for (size_t i = 0; i < n; i++) {
		int fields = 0;

		for (int f = 0; f < 8; f++) {
			memcpy(e, base, sizeof(e));
			if (!mutate(e, n, i, f, ch, buf))
				continue;
			build(&b, e, n, 1);
			if (sd_id_eq(&a.root, &b.root))
				fail_msg("entry '%s' field %d: same root",
					 base[i].path, f);
			sd_manifest_free(&b);
			fields++;
			tried++;
		}
		assert_true(fields >= 1);
	}
	assert_true(tried >= 50);

	/* Only the version: same root, and encodings differ only there. */
	build(&b, base, n, 77);
	assert_memory_equal(a.root.b, b.root.b, SD_ID_SIZE);
	assert_ok(sd_manifest_encode(&a, &x, &xl), why);
	assert_ok(sd_manifest_encode(&b, &y, &yl), why);
	assert_int_equal(xl, yl);
	assert_memory_not_equal(x + 6, y + 6, 8);
	assert_memory_equal(x + 14, y + 14, xl - 14);
	/* The order entries were added in does not matter either. */
	sd_manifest_free(&b);
	for (size_t i = 0; i < n; i++)
		e[i] = base[n - 1 - i];
	build(&b, e, n, 1);
	assert_memory_equal(a.root.b, b.root.b, SD_ID_SIZE);
	free(x);
	free(y);
	sd_manifest_free(&a);
	sd_manifest_free(&b);
}

/* ---- decoding hostile input ---- */

static void test_decode_truncated(void **state)
{
	struct sd_manifest m, old, cur;
	struct sd_entry e[32];
	struct sd_delta d, dd;
	struct sd_err why;
	uint8_t *buf, *dbuf;
	size_t n = sample(e), len, dlen;

	build(&m, e, n, 3);
	assert_ok(sd_manifest_encode(&m, &buf, &len), why);
	for (size_t l = 0; l < len; l++) {
		struct sd_manifest t;

		why.what[0] = '\0';
		if (sd_manifest_decode(buf, l, &t, &why) >= 0)
			fail_msg("manifest truncated to %zu bytes decoded", l);
		assert_true(why.what[0] != '\0');
		sd_manifest_free(&t);
	}
	/* And every length of a delta. */
	build(&old, e, 5, 1);
	memmove(e + 2, e + 3, (n - 3) * sizeof(*e)); /* without "empty" */
	build(&cur, e, n - 1, 2);
	assert_ok(sd_delta_diff(&old, &cur, &d), why);
	assert_true(d.ndel > 0 && d.put.count > 0);
	assert_ok(sd_delta_encode(&d, &dbuf, &dlen), why);
	for (size_t l = 0; l < dlen; l++) {
		why.what[0] = '\0';
		if (sd_delta_decode(dbuf, l, &dd, &why) >= 0)
			fail_msg("delta truncated to %zu bytes decoded", l);
		assert_true(why.what[0] != '\0');
		sd_delta_free(&dd);
	}
	assert_ok(sd_delta_decode(dbuf, dlen, &dd, &why), why);
	sd_delta_free(&dd);
	free(buf);
	free(dbuf);
	sd_delta_free(&d);
	sd_manifest_free(&m);
	sd_manifest_free(&old);
	sd_manifest_free(&cur);
}

static void test_decode_flips(void **state)
{
	struct sd_manifest m, t;
	struct sd_entry e[32];
	uint8_t *buf;
	size_t n = sample(e), len;
	struct sd_err why;

	build(&m, e, n, 3);
	assert_ok(sd_manifest_encode(&m, &buf, &len), why);
	for (size_t i = 0; i < len; i++) {
		static const uint8_t bits[] = { 0x01, 0x80, 0x24 };

		if (i >= 6 && i < 14) /* the version: not in the root */
			continue;
		for (size_t b = 0; b < sizeof(bits); b++) {
			buf[i] ^= bits[b];
			if (sd_manifest_decode(buf, len, &t, &why) == 0)
				fail_msg("byte %zu ^ 0x%02x decoded", i,
					 bits[b]);
			buf[i] ^= bits[b];
		}
	}
	assert_ok(sd_manifest_decode(buf, len, &t, &why), why);
	sd_manifest_free(&t);
	free(buf);
	sd_manifest_free(&m);
}

static void test_decode_refuse(void **state)
{
	struct raw *r = malloc(sizeof(*r));
	struct sd_entry e[8];
	struct sd_chunkref bad[2];

	/* A flipped root. */
	e[0] = dir("a");
	e[1] = file("a/f", CH, 2);
	raw_manifest(r, e, 2, 1);
	r->b[20] ^= 1;
	refuse_manifest(r, -EINVAL, "root hash mismatch");
	/* Trailing bytes. */
	raw_manifest(r, e, 2, 1);
	r->b[r->n++] = 0;
	refuse_manifest(r, -EINVAL, "1 trailing bytes");
	/* Duplicates, directly and out of order. */
	e[2] = file("a/f", CH, 2);
	raw_manifest(r, e, 3, 1);
	refuse_manifest(r, -EINVAL, "duplicate path 'a/f'");
	e[1] = file("a/g", CH, 1);
	e[2] = file("a/f", CH, 1);
	raw_manifest(r, e, 3, 1);
	refuse_manifest(r, -EINVAL, "sorts before 'a/g'");
	/* '..' and friends: whatever sd_manifest_add refuses. */
	e[1] = file("a/..", CH, 1);
	raw_manifest(r, e, 2, 1);
	refuse_manifest(r, -EINVAL, "path 'a/..': '..' component");
	e[0] = file("/etc", CH, 1);
	raw_manifest(r, e, 1, 1);
	refuse_manifest(r, -EINVAL, "absolute");
	e[0] = file("a\0b", CH, 1);
	e[0].path_len = 3;
	raw_manifest(r, e, 1, 1);
	refuse_manifest(r, -EINVAL, "contains NUL");
	/* A missing parent. */
	e[0] = dir("a");
	e[1] = file("b/c", CH, 1);
	raw_manifest(r, e, 2, 1);
	refuse_manifest(r, -EINVAL, "parent directory 'b' is missing");
	/* A hardlink to a missing file, and to a file sorting after it. */
	e[1] = hardlink("a/h", "a/x");
	raw_manifest(r, e, 2, 1);
	refuse_manifest(r, -EINVAL, "target 'a/x' is missing");
	e[2] = file("a/x", CH, 1);
	raw_manifest(r, e, 3, 1);
	refuse_manifest(r, -EINVAL, "sorts after it");
	/* Chunk lens that do not sum to the size. */
	e[1] = file("a/f", CH, 2);
	e[1].size--;
	raw_manifest(r, e, 2, 1);
	refuse_manifest(r, -EINVAL, "chunk lens sum to");
	bad[0] = CH[0];
	bad[1] = chunk(5, 0);
	e[1] = file("a/f", bad, 2);
	raw_manifest(r, e, 2, 1);
	refuse_manifest(r, -EINVAL, "chunk 1: length 0");
	/* Mode bits, type. */
	e[1] = file("a/f", CH, 1);
	e[1].mode = 0170000;
	raw_manifest(r, e, 2, 1);
	refuse_manifest(r, -EINVAL, "bits outside 07777");
	e[1] = dir("a/d");
	e[1].type = 9;
	raw_manifest(r, e, 2, 1);
	refuse_manifest(r, -EINVAL, "unknown type 9");
	/* A shared prefix that is not the longest: one encoding only. */
	e[0] = dir("a");
	e[1] = dir("ab");
	raw_manifest(r, e, 2, 1);
	assert_int_equal(r->b[34 + 1 + 1 + 1 + 1 + 2 + 8], 1); /* shared */
	r->b[34 + 14] = 0;
	r->b[34 + 15] = 2;
	memmove(r->b + 34 + 17, r->b + 34 + 16, r->n - (34 + 16));
	r->b[34 + 16] = 'a';
	r->n++;
	/* (The root hash is checked after the entries: it cannot be what
	 * refuses this.) */
	refuse_manifest(r, -EINVAL, "is not the longest");
	/* A varint with a needless continuation byte. */
	e[0] = file("f", CH, 1);
	raw_manifest(r, e, 1, 1);
	r->b[34] = 0x80; /* shared = 0, in two bytes */
	memmove(r->b + 35, r->b + 34, r->n - 34);
	r->b[35] = 0x00;
	r->n++;
	refuse_manifest(r, -EINVAL, "varint not minimal");
	/* Caps and header. */
	raw_manifest(r, e, 1, 1);
	r->b[30] = 0xff;
	r->b[31] = 0xff;
	r->b[32] = 0xff;
	r->b[33] = 0x7f;
	refuse_manifest(r, -EMSGSIZE, "entries, over");
	r->b[30] = 1; /* 65537 entries in a few bytes */
	r->b[31] = 0;
	r->b[32] = 1;
	r->b[33] = 0;
	refuse_manifest(r, -EINVAL, "65537 entries in");
	raw_manifest(r, e, 1, 1);
	r->b[4] = 1;
	refuse_manifest(r, -EPROTONOSUPPORT, "format 1, this build reads 2");
	r->b[4] = 3;
	refuse_manifest(r, -EPROTONOSUPPORT, "format 3, this build reads 2");
	r->b[0] = 'X';
	refuse_manifest(r, -EINVAL, "bad magic");
	/* A 4 KiB path from a few bytes is over SD_PATH_MAX just past it. */
	e[0] = dir("d");
	raw_manifest(r, e, 1, 1);
	r->b[35] = 0x81; /* suffix length 4097: two bytes */
	memmove(r->b + 37, r->b + 36, r->n - 36);
	r->b[36] = 0x20;
	r->n++;
	refuse_manifest(r, -EMSGSIZE, "path of 4097 bytes");
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_accept),
		cmocka_unit_test(test_path_refuse),
		cmocka_unit_test(test_path_cmp),
		cmocka_unit_test(test_add_refuse),
		cmocka_unit_test(test_seal_refuse),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_root),
		cmocka_unit_test(test_decode_truncated),
		cmocka_unit_test(test_decode_flips),
		cmocka_unit_test(test_decode_refuse),
	};

	chunks_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
