/* SPDX-License-Identifier: MIT */
/* Unit tests for manifests and deltas: path rules, entry and tree rules, the
 * encodings (against an encoder written from docs/protocol.md), root hashes,
 * and random trees edited over many versions, diffed and applied. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "manifest.h"

#define assert_ok(expr, why)                                            \
	do {                                                            \
		int r_ = (expr);                                        \
		if (r_ != 0)                                            \
			fail_msg("%s = %d: %s", #expr, r_, (why).what); \
	} while (0)

/* ---- fixtures ---- */

static struct sd_chunkref chunk(unsigned seed, uint32_t len)
{
	struct sd_chunkref c = { .len = len };

	for (int i = 0; i < SD_ID_SIZE; i++)
		c.id.b[i] = (uint8_t)(seed * 31 + (unsigned)i * 7);
	return c;
}

static struct sd_chunkref CH[4];

static void chunks_init(void)
{
	CH[0] = chunk(1, 100);
	CH[1] = chunk(2, 65536);
	CH[2] = chunk(3, 7);
	CH[3] = chunk(4, 262144);
}

static struct sd_entry dir(const char *p)
{
	return (struct sd_entry){ .path = (char *)p,
				  .path_len = (uint32_t)strlen(p),
				  .type = SD_T_DIR,
				  .mode = 0755,
				  .mtime_ns = 1700000000123456789ll };
}

static struct sd_entry file(const char *p, struct sd_chunkref *c, uint32_t n)
{
	struct sd_entry e = { .path = (char *)p,
			      .path_len = (uint32_t)strlen(p),
			      .type = SD_T_FILE,
			      .mode = 0644,
			      .mtime_ns = -5,
			      .nchunks = n,
			      .chunks = n ? c : NULL };

	for (uint32_t i = 0; i < n; i++)
		e.size += c[i].len;
	return e;
}

static struct sd_entry symlink_(const char *p, const char *t)
{
	return (struct sd_entry){ .path = (char *)p,
				  .path_len = (uint32_t)strlen(p),
				  .type = SD_T_SYMLINK,
				  .mode = 0777,
				  .mtime_ns = 42,
				  .size = strlen(t),
				  .target = (char *)t,
				  .target_len = (uint32_t)strlen(t) };
}

static struct sd_entry hardlink(const char *p, const char *t)
{
	return (struct sd_entry){ .path = (char *)p,
				  .path_len = (uint32_t)strlen(p),
				  .type = SD_T_HARDLINK,
				  .target = (char *)t,
				  .target_len = (uint32_t)strlen(t) };
}

/* Every kind of entry, odd names, in no particular order. */
static size_t sample(struct sd_entry *e)
{
	size_t n = 0;

	e[n++] = file("src/main.c", CH, 2);
	e[n++] = dir("src");
	e[n++] = dir("empty");
	e[n++] = file("empty.txt", NULL, 0);
	e[n++] = dir("src/sub");
	e[n++] = file("src/sub/big", CH, 4);
	e[n++] = symlink_("link", "../outside/abs/..");
	e[n++] = symlink_("src/abs", "/etc/passwd");
	e[n++] = hardlink("src/main2.c", "src/main.c");
	e[n++] = hardlink("zz", "src/main.c");
	e[n++] = file("caf\xc3\xa9 \xe6\x97\xa5", CH + 2, 1);
	e[n++] = file("odd\x01\x7f\xff", CH + 1, 1);
	e[n++] = file("a.b", CH, 1);
	e[n++] = dir("a");
	e[n++] = file("a/b", CH + 3, 1);
	e[n] = file("a/exec", CH, 1);
	e[n++].mode = 04755;
	return n;
}

static void build(struct sd_manifest *m, const struct sd_entry *e, size_t n,
		  uint64_t version)
{
	struct sd_err why = { "" };

	sd_manifest_init(m);
	m->version = version;
	for (size_t i = 0; i < n; i++)
		assert_ok(sd_manifest_add(m, &e[i], &why), why);
	assert_ok(sd_manifest_seal(m, &why), why);
}

static void assert_same(const struct sd_manifest *a,
			const struct sd_manifest *b)
{
	assert_int_equal(a->count, b->count);
	assert_int_equal(a->version, b->version);
	assert_memory_equal(a->root.b, b->root.b, SD_ID_SIZE);
	/* However each was made (sealed, decoded, a delta applied), its
	 * counts are the same. */
	assert_true(a->sealed && b->sealed);
	assert_int_equal(a->nhardlinks, b->nhardlinks);
	assert_int_equal(a->nfiles, b->nfiles);
	assert_int_equal(a->nbytes, b->nbytes);
	for (size_t i = 0; i < a->count; i++) {
		if (!sd_entry_equal(&a->e[i], &b->e[i]))
			fail_msg("entry %zu differs: '%s' vs '%s'", i,
				 a->e[i].path, b->e[i].path);
		assert_int_equal(a->e[i].path[a->e[i].path_len], '\0');
		if (a->e[i].target)
			assert_int_equal(a->e[i].target[a->e[i].target_len],
					 '\0');
	}
}

/* ---- an encoder written from docs/protocol.md, for hostile inputs ---- */

struct raw {
	uint8_t b[1 << 16];
	size_t n;
};

static void raw_bytes(struct raw *r, const void *p, size_t n)
{
	if (n == 0)
		return;
	assert_true(r->n + n <= sizeof(r->b));
	memcpy(r->b + r->n, p, n);
	r->n += n;
}

static void raw_le(struct raw *r, uint64_t v, int n)
{
	for (int i = 0; i < n; i++) {
		uint8_t b = (uint8_t)(v >> (8 * i));

		raw_bytes(r, &b, 1);
	}
}

static void raw_var(struct raw *r, uint64_t v)
{
	do {
		uint8_t b = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));

		raw_bytes(r, &b, 1);
		v >>= 7;
	} while (v);
}

static void raw_path(struct raw *r, const char *prev, size_t plen,
		     const char *p, size_t len)
{
	size_t s = 0;

	while (s < plen && s < len && prev[s] == p[s])
		s++;
	raw_var(r, s);
	raw_var(r, len - s);
	raw_bytes(r, p + s, len - s);
}

static void raw_entry(struct raw *r, const struct sd_entry *prev,
		      const struct sd_entry *e)
{
	raw_path(r, prev ? prev->path : "", prev ? prev->path_len : 0, e->path,
		 e->path_len);
	raw_le(r, e->type, 1);
	if (e->type != SD_T_HARDLINK) {
		raw_le(r, e->mode, 2);
		raw_le(r, (uint64_t)e->mtime_ns, 8);
	}
	if (e->type == SD_T_FILE) {
		raw_var(r, e->size);
		raw_var(r, e->nchunks);
		for (uint32_t i = 0; i < e->nchunks; i++) {
			raw_bytes(r, e->chunks[i].id.b, SD_ID_SIZE);
			raw_var(r, e->chunks[i].len);
		}
	} else if (e->type != SD_T_DIR) {
		raw_var(r, e->target_len);
		raw_bytes(r, e->target, e->target_len);
	}
}

/* The root hash of e as given: XXH3-128 of the count (u32) and each
 * entry's hash, the XXH3-128 of its record with the whole path. */
static struct sd_id raw_root(const struct sd_entry *e, size_t n)
{
	struct raw *one = malloc(sizeof(*one));
	struct sd_hasher *h = sd_hasher_new();
	uint8_t count[4] = { (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16),
			     (uint8_t)(n >> 24) };
	struct sd_id id;

	assert_non_null(one);
	assert_non_null(h);
	sd_hasher_update(h, count, 4);
	for (size_t i = 0; i < n; i++) {
		one->n = 0;
		raw_entry(one, NULL, &e[i]);
		sd_id_of(&id, one->b, one->n);
		sd_hasher_update(h, id.b, SD_ID_SIZE);
	}
	sd_hasher_final(h, &id);
	sd_hasher_free(h);
	free(one);
	return id;
}

/* e as given (any order, any content), with a correct root hash. */
static void raw_manifest(struct raw *r, const struct sd_entry *e, size_t n,
			 uint64_t version)
{
	struct sd_id root = raw_root(e, n);

	r->n = 0;
	raw_bytes(r, "TMAN", 4);
	raw_le(r, 2, 2);
	raw_le(r, version, 8);
	raw_bytes(r, root.b, SD_ID_SIZE);
	raw_le(r, n, 4);
	for (size_t i = 0; i < n; i++)
		raw_entry(r, i ? &e[i - 1] : NULL, &e[i]);
}

static void raw_delta(struct raw *r, const struct sd_manifest *base,
		      uint64_t version, const struct sd_id *root,
		      const char *const *del, size_t ndel,
		      const struct sd_entry *put, size_t nput)
{
	r->n = 0;
	raw_bytes(r, "TDLT", 4);
	raw_le(r, 2, 2);
	raw_le(r, base->version, 8);
	raw_bytes(r, base->root.b, SD_ID_SIZE);
	raw_le(r, version, 8);
	raw_bytes(r, root->b, SD_ID_SIZE);
	raw_le(r, ndel, 4);
	raw_le(r, nput, 4);
	for (size_t i = 0; i < ndel; i++)
		raw_path(r, i ? del[i - 1] : "", i ? strlen(del[i - 1]) : 0,
			 del[i], strlen(del[i]));
	for (size_t i = 0; i < nput; i++)
		raw_entry(r, i ? &put[i - 1] : NULL, &put[i]);
}

/* Decoding raw must fail with code, why mentioning needle. */
static void refuse_manifest(const struct raw *r, int code, const char *needle)
{
	struct sd_err why = { "" };
	struct sd_manifest m;
	int k = sd_manifest_decode(r->b, r->n, &m, &why);

	if (k != code || !strstr(why.what, needle))
		fail_msg("decode gave %d '%s', wanted %d '...%s...'", k,
			 why.what, code, needle);
	assert_int_equal(m.count, 0);
	sd_manifest_free(&m);
}

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
	e.type = 5;
	refuse_add(&e, "unknown type 5");
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
	assert_int_equal(m.nfiles, 12); /* 16 entries, 4 directories */
	assert_ok(sd_manifest_encode(&d, &buf2, &len2), why);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
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

/* ---- deltas ---- */

static void test_delta_basic(void **state)
{
	struct sd_manifest a, b, out, other;
	struct sd_entry e[32], f[32];
	struct sd_delta d, d2;
	struct sd_err why = { "" };
	uint8_t *buf;
	size_t n = sample(e), len, k = 0;
	char *p;

	build(&a, e, n, 4);
	/* src/ becomes a file: its subtree goes with one delete; link and
	 * the hardlinks go; b.new comes. */
	memcpy(f, e, sizeof(f));
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(e[i].path, "src", 3) ||
		    e[i].type == SD_T_HARDLINK || !strcmp(e[i].path, "link"))
			continue;
		f[k++] = e[i];
	}
	f[k++] = file("src", CH, 1);
	f[k++] = file("b.new", CH + 1, 3);
	build(&b, f, k, 5);
	assert_ok(sd_delta_diff(&a, &b, &d), why);
	assert_int_equal(d.base_version, 4);
	assert_int_equal(d.version, 5);
	/* del: link (gone), src (dir to file), zz (gone); not src/... */
	assert_int_equal(d.ndel, 3);
	assert_string_equal(d.del[0], "link");
	assert_string_equal(d.del[1], "src");
	assert_string_equal(d.del[2], "zz");
	assert_int_equal(d.put.count, 2);
	assert_string_equal(d.put.e[0].path, "b.new");
	assert_string_equal(d.put.e[1].path, "src");
	assert_ok(sd_delta_apply(&a, &d, &out, &why), why);
	assert_same(&out, &b);
	sd_manifest_free(&out);

	/* The same delta built by hand, in no order, sealed: it applies. */
	sd_delta_init(&d2);
	d2.base_version = 4;
	d2.base_root = a.root;
	d2.version = 5;
	d2.root = b.root;
	for (size_t i = d.put.count; i-- > 0;)
		assert_ok(sd_manifest_add(&d2.put, &d.put.e[i], &why), why);
	assert_ok(sd_delta_delete(&d2, "zz", 2, &why), why);
	assert_ok(sd_delta_delete(&d2, "src", 3, &why), why);
	assert_ok(sd_delta_delete(&d2, "link", 4, &why), why);
	assert_int_equal(sd_delta_apply(&a, &d2, &out, &why), -EINVAL);
	assert_non_null(strstr(why.what, "not after"));
	assert_ok(sd_delta_seal(&d2, &why), why);
	assert_string_equal(d2.del[0], "link");
	assert_string_equal(d2.put.e[0].path, "b.new");
	assert_ok(sd_delta_apply(&a, &d2, &out, &why), why);
	assert_same(&out, &b);
	sd_manifest_free(&out);
	sd_delta_free(&d2);

	/* The same put without the delete leaves src/'s children under a
	 * file: refused. */
	sd_delta_init(&d2);
	d2.base_version = 4;
	d2.base_root = a.root;
	d2.version = 5;
	d2.root = b.root;
	assert_ok(sd_manifest_add(&d2.put,
				  &b.e[sd_manifest_lower_bound(&b, "src", 3)],
				  &why),
		  why);
	assert_ok(sd_delta_seal(&d2, &why), why);
	assert_int_equal(sd_delta_apply(&a, &d2, &out, &why), -EINVAL);
	assert_non_null(strstr(why.what, "parent 'src' is not a directory"));
	assert_int_equal(out.count, 0);

	/* A delete of what is not there. */
	assert_ok(sd_delta_delete(&d2, "nope", 4, &why), why);
	assert_ok(sd_delta_delete(&d2, "src", 3, &why), why);
	assert_ok(sd_delta_seal(&d2, &why), why);
	assert_string_equal(d2.del[0], "nope");
	assert_int_equal(sd_delta_apply(&a, &d2, &out, &why), -EINVAL);
	assert_string_equal(why.what,
			    "delta: delete of 'nope', not in version 4");
	/* A delete inside another. */
	free(d2.del[0]);
	d2.del[0] = strdup("src/sub");
	d2.del_len[0] = 7;
	assert_int_equal(sd_delta_seal(&d2, &why), -EINVAL);
	assert_non_null(strstr(why.what, "'src/sub' is inside deleted 'src'"));
	assert_int_equal(sd_delta_apply(&a, &d2, &out, &why), -EINVAL);
	assert_int_equal(sd_delta_delete(&d2, "a/../b", 6, &why), -EINVAL);
	sd_delta_free(&d2);

	/* Wrong base: another version, or the same number with other
	 * content. */
	assert_int_equal(sd_delta_apply(&b, &d, &out, &why), -ESTALE);
	assert_non_null(strstr(why.what, "from version 4"));
	assert_non_null(strstr(why.what, "to version 5"));
	memcpy(f, e, sizeof(f));
	f[0].mtime_ns++;
	build(&other, f, n, 4);
	assert_int_equal(sd_delta_apply(&other, &d, &out, &why), -ESTALE);
	assert_non_null(strstr(why.what, "from version 4"));
	sd_manifest_free(&other);

	/* The root it promises must be the one it gives. */
	d.root.b[3] ^= 1;
	assert_int_equal(sd_delta_apply(&a, &d, &out, &why), -EINVAL);
	assert_true(!strncmp(why.what, "root hash mismatch: expected ", 29));
	p = strstr(why.what, ", got ");
	assert_non_null(p);
	{
		char hex[SD_ID_HEX];

		assert_string_equal(p + 6, sd_id_hex(&b.root, hex));
		assert_memory_equal(why.what + 29, sd_id_hex(&d.root, hex), 32);
	}
	d.root.b[3] ^= 1;

	/* Encoded and decoded, the same delta. */
	assert_ok(sd_delta_encode(&d, &buf, &len), why);
	assert_ok(sd_delta_decode(buf, len, &d2, &why), why);
	assert_int_equal(d2.ndel, d.ndel);
	assert_int_equal(d2.put.count, d.put.count);
	assert_ok(sd_delta_apply(&a, &d2, &out, &why), why);
	assert_same(&out, &b);
	sd_manifest_free(&out);
	sd_delta_free(&d2);
	free(buf);

	/* A version that does not move forward. */
	assert_int_equal(sd_delta_diff(&b, &a, &d2), -EINVAL);
	d.version = 4;
	assert_int_equal(sd_delta_apply(&a, &d, &out, &why), -EINVAL);
	assert_non_null(strstr(why.what, "does not follow"));
	assert_int_equal(sd_delta_encode(&d, &buf, &len), 0);
	assert_int_equal(sd_delta_decode(buf, len, &d2, &why), -EINVAL);
	free(buf);

	sd_delta_free(&d);
	sd_manifest_free(&a);
	sd_manifest_free(&b);
}

static void test_delta_decode_refuse(void **state)
{
	struct raw *r = malloc(sizeof(*r));
	struct sd_manifest a;
	struct sd_entry e[4];
	struct sd_delta d;
	struct sd_err why;
	const char *del[3];

	e[0] = dir("a");
	e[1] = file("a/f", CH, 1);
	build(&a, e, 2, 1);
	/* Unsorted, duplicate and nested deletes; a bad path. */
	del[0] = "b";
	del[1] = "a";
	raw_delta(r, &a, 2, &a.root, del, 2, NULL, 0);
	assert_int_equal(sd_delta_decode(r->b, r->n, &d, &why), -EINVAL);
	assert_non_null(strstr(why.what, "sorts before 'b'"));
	del[0] = "bb";
	del[1] = "bb";
	raw_delta(r, &a, 2, &a.root, del, 2, NULL, 0);
	assert_int_equal(sd_delta_decode(r->b, r->n, &d, &why), -EINVAL);
	assert_non_null(strstr(why.what, "duplicate path 'bb'"));
	del[0] = "a";
	del[1] = "a.x";
	del[2] = "a/f";
	raw_delta(r, &a, 2, &a.root, del, 3, NULL, 0);
	assert_int_equal(sd_delta_decode(r->b, r->n, &d, &why), -EINVAL);
	assert_non_null(strstr(why.what, "'a/f' is inside deleted 'a'"));
	del[0] = "a/..";
	raw_delta(r, &a, 2, &a.root, del, 1, NULL, 0);
	assert_int_equal(sd_delta_decode(r->b, r->n, &d, &why), -EINVAL);
	assert_non_null(strstr(why.what, "'..' component"));
	/* Puts: duplicates, bad entries, trailing bytes. */
	e[2] = file("a/f", CH, 1);
	raw_delta(r, &a, 2, &a.root, NULL, 0, e + 1, 2);
	assert_int_equal(sd_delta_decode(r->b, r->n, &d, &why), -EINVAL);
	assert_non_null(strstr(why.what, "duplicate path 'a/f'"));
	e[2] = hardlink("a/h", "../f");
	raw_delta(r, &a, 2, &a.root, NULL, 0, e + 1, 2);
	assert_int_equal(sd_delta_decode(r->b, r->n, &d, &why), -EINVAL);
	assert_non_null(strstr(why.what, "hardlink target"));
	raw_delta(r, &a, 2, &a.root, NULL, 0, e + 1, 1);
	assert_ok(sd_delta_decode(r->b, r->n, &d, &why), why);
	sd_delta_free(&d);
	r->b[r->n++] = 7;
	assert_int_equal(sd_delta_decode(r->b, r->n, &d, &why), -EINVAL);
	assert_non_null(strstr(why.what, "trailing"));
	/* A put that decodes but whose result breaks a rule. */
	e[2] = file("b/f", CH, 1);
	raw_delta(r, &a, 2, &a.root, NULL, 0, e + 2, 1);
	assert_ok(sd_delta_decode(r->b, r->n, &d, &why), why);
	{
		struct sd_manifest out;

		assert_int_equal(sd_delta_apply(&a, &d, &out, &why), -EINVAL);
		assert_non_null(strstr(why.what, "parent directory 'b'"));
	}
	sd_delta_free(&d);
	sd_manifest_free(&a);
	free(r);
}

/* ---- random trees over many versions ---- */

static uint64_t rng;
static size_t handovers; /* hardlink groups that got a new primary */

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t below(size_t n)
{
	return (size_t)(rnd() % n);
}

/* The tree being edited: entries whose strings and chunk lists point into
 * the previous manifest or into pool allocations. */
struct model {
	struct sd_entry e[2048];
	size_t n;
	void *pool[8192];
	size_t npool;
};

static void *pool(struct model *m, size_t n)
{
	void *p = calloc(1, n ? n : 1);

	assert_non_null(p);
	assert_true(m->npool < 8192);
	m->pool[m->npool++] = p;
	return p;
}

static void pool_free(struct model *m)
{
	while (m->npool)
		free(m->pool[--m->npool]);
}

static size_t mfind(const struct model *m, const char *p, size_t len)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].path_len == len && !memcmp(m->e[i].path, p, len))
			return i;
	return SIZE_MAX;
}

static bool under(const struct sd_entry *e, const struct sd_entry *d)
{
	return e->path_len > d->path_len &&
	       !memcmp(e->path, d->path, d->path_len) &&
	       e->path[d->path_len] == '/';
}

static void random_chunks(struct model *m, struct sd_entry *e)
{
	uint32_t n = (uint32_t)below(5);

	e->nchunks = n;
	e->chunks = n ? pool(m, n * sizeof(*e->chunks)) : NULL;
	e->size = 0;
	for (uint32_t i = 0; i < n; i++) {
		/* Few distinct ids: the same chunk recurs, as in real trees. */
		e->chunks[i] =
			chunk((unsigned)below(40), 1 + (uint32_t)below(300000));
		e->size += e->chunks[i].len;
	}
}

static char *random_name(struct model *m, size_t *len)
{
	static const char *const parts[] = {
		"a",	"b",	"src",	       "x.c",
		"\x01", "\xff", "caf\xc3\xa9", "\xe6\x97\xa5",
		" ",	"-",	".",	       "..",
		"a.b",	"\x7f", "Z",	       "~",
		"\\",	"'",	"\xc0\xaf",    "\t",
	};
	char *p = pool(m, 256);
	size_t n = 0;

	if (below(40) == 0) {
		memset(p, 'L', 255);
		*len = 255;
		return p;
	}
	for (size_t k = 1 + below(3); k; k--) {
		const char *s = parts[below(sizeof(parts) / sizeof(*parts))];

		memcpy(p + n, s, strlen(s));
		n += strlen(s);
	}
	if ((n == 1 && p[0] == '.') || (n == 2 && !memcmp(p, "..", 2)))
		p[n++] = 'x';
	*len = n;
	return p;
}

static void random_meta(struct sd_entry *e)
{
	e->mode = (uint32_t)(below(2) ? 0644 : 0755) | (below(20) ? 0 : 01000);
	e->mtime_ns = (int64_t)(rnd() >> 2) - (1ll << 60);
}

/* A FILE in m sorting before path, or SIZE_MAX. */
static size_t random_primary(const struct model *m, const char *p, size_t len)
{
	size_t start = below(m->n ? m->n : 1);

	for (size_t k = 0; k < m->n; k++) {
		size_t i = (start + k) % m->n;

		if (m->e[i].type == SD_T_FILE &&
		    sd_path_cmp(m->e[i].path, m->e[i].path_len, p, len) < 0)
			return i;
	}
	return SIZE_MAX;
}

/* Fill e (path set) as a random entry of any kind. */
static void random_entry(struct model *m, struct sd_entry *e)
{
	size_t k = below(20), t;

	e->target = NULL;
	e->target_len = 0;
	e->nchunks = 0;
	e->chunks = NULL;
	e->size = 0;
	random_meta(e);
	if (k < 4) {
		e->type = SD_T_DIR;
	} else if (k < 7) {
		size_t tl = 1 + below(30);

		e->type = SD_T_SYMLINK;
		e->target = pool(m, tl + 1);
		for (size_t i = 0; i < tl; i++)
			e->target[i] = (char)(1 + below(255));
		e->target_len = (uint32_t)tl;
		e->size = tl;
	} else if (k < 10 &&
		   (t = random_primary(m, e->path, e->path_len)) != SIZE_MAX) {
		e->type = SD_T_HARDLINK;
		e->mode = 0;
		e->mtime_ns = 0;
		e->target = m->e[t].path;
		e->target_len = m->e[t].path_len;
	} else {
		e->type = SD_T_FILE;
		random_chunks(m, e);
	}
}

static bool links_to(const struct sd_entry *h, const struct sd_entry *p)
{
	return h->type == SD_T_HARDLINK && h->target_len == p->path_len &&
	       !memcmp(h->target, p->path, p->path_len);
}

/* Remove the entries marked gone. First, each file that goes, or stops
 * being a file (index retyped), hands its data to the first of its
 * surviving hardlinks, and the others link to that one: the link group's
 * first path is always its primary. */
static void remove_marked(struct model *m, const bool *gone, size_t retyped)
{
	size_t w = 0;

	for (size_t i = 0; i < m->n; i++) {
		const struct sd_entry *p = &m->e[i];
		size_t first = SIZE_MAX;
		char *path;
		uint32_t len;

		if (p->type != SD_T_FILE || (!gone[i] && i != retyped))
			continue;
		for (size_t k = 0; k < m->n; k++) {
			if (gone[k] || !links_to(&m->e[k], p))
				continue;
			if (first == SIZE_MAX ||
			    sd_path_cmp(m->e[k].path, m->e[k].path_len,
					m->e[first].path,
					m->e[first].path_len) < 0)
				first = k;
		}
		if (first == SIZE_MAX)
			continue;
		for (size_t k = 0; k < m->n; k++) {
			if (k == first || gone[k] || !links_to(&m->e[k], p))
				continue;
			m->e[k].target = m->e[first].path;
			m->e[k].target_len = m->e[first].path_len;
		}
		handovers++;
		path = m->e[first].path;
		len = m->e[first].path_len;
		m->e[first] = *p;
		m->e[first].path = path;
		m->e[first].path_len = len;
	}
	for (size_t i = 0; i < m->n; i++)
		if (!gone[i])
			m->e[w++] = m->e[i];
	m->n = w;
}

static void mark_subtree(const struct model *m, size_t d, bool *gone)
{
	for (size_t i = 0; i < m->n; i++)
		if (under(&m->e[i], &m->e[d]))
			gone[i] = true;
}

static void edit_add(struct model *m)
{
	size_t nlen, plen = 0, pi = below(m->n + 1);
	char *name = random_name(m, &nlen);
	const char *parent = "";
	struct sd_entry e = { 0 };

	if (pi < m->n && m->e[pi].type == SD_T_DIR) {
		parent = m->e[pi].path;
		plen = m->e[pi].path_len;
	}
	if (plen + 1 + nlen > SD_PATH_MAX || m->n >= 2000)
		return;
	e.path = pool(m, plen + 1 + nlen + 1);
	memcpy(e.path, parent, plen);
	if (plen)
		e.path[plen++] = '/';
	memcpy(e.path + plen, name, nlen);
	e.path_len = (uint32_t)(plen + nlen);
	if (mfind(m, e.path, e.path_len) != SIZE_MAX)
		return;
	random_entry(m, &e);
	m->e[m->n++] = e;
}

/* Another kind of entry at path i (or a file with other content). */
static void edit_retype(struct model *m, size_t i, bool *gone)
{
	struct sd_entry e = m->e[i];
	size_t t;

	random_entry(m, &e);
	if (e.type == m->e[i].type && e.type != SD_T_FILE)
		return;
	if (m->e[i].type == SD_T_DIR && e.type != SD_T_DIR)
		mark_subtree(m, i, gone);
	if (e.type == SD_T_HARDLINK) {
		t = mfind(m, e.target, e.target_len);
		if (t == i || gone[t])
			return;
	}
	remove_marked(m, gone,
		      m->e[i].type == SD_T_FILE && e.type != SD_T_FILE
			      ? i
			      : SIZE_MAX);
	i = mfind(m, e.path, e.path_len);
	m->e[i] = e;
}

/* A file no hardlink names, or a symlink, moves to the top level. */
static void edit_rename(struct model *m, size_t i)
{
	struct sd_entry e = m->e[i];
	size_t nlen;
	char *name;

	if (e.type != SD_T_FILE && e.type != SD_T_SYMLINK)
		return;
	for (size_t k = 0; k < m->n; k++)
		if (links_to(&m->e[k], &e))
			return;
	name = random_name(m, &nlen);
	if (mfind(m, name, nlen) != SIZE_MAX)
		return;
	e.path = name;
	e.path_len = (uint32_t)nlen;
	m->e[i] = e;
}

static void edit(struct model *m)
{
	static bool gone[2048];
	size_t op = below(10), i;

	if (op < 4 || m->n == 0) {
		edit_add(m);
		return;
	}
	memset(gone, 0, sizeof(gone));
	i = below(m->n);
	switch (op) {
	case 4:
	case 5: /* content and metadata */
		if (m->e[i].type == SD_T_HARDLINK)
			return;
		if (m->e[i].type == SD_T_FILE && below(2))
			random_chunks(m, &m->e[i]);
		random_meta(&m->e[i]);
		return;
	case 6:
	case 7: /* delete; a directory goes with its subtree */
		gone[i] = true;
		if (m->e[i].type == SD_T_DIR)
			mark_subtree(m, i, gone);
		remove_marked(m, gone, SIZE_MAX);
		return;
	case 8: edit_retype(m, i, gone); return;
	default: edit_rename(m, i); return;
	}
}

struct tally {
	size_t steps, dels, puts, dir_replaced, unchanged, links, symlinks, odd;
};

static void check_step(const struct sd_manifest *prev,
		       const struct sd_manifest *cur, struct tally *t)
{
	struct sd_err why = { "" };
	struct sd_manifest dec, out;
	struct sd_delta d, d2;
	uint8_t *buf, *buf2;
	size_t len, len2;

	/* The manifest: one encoding, decoded to the same thing. */
	assert_ok(sd_manifest_encode(cur, &buf, &len), why);
	assert_ok(sd_manifest_decode(buf, len, &dec, &why), why);
	assert_same(&dec, cur);
	assert_ok(sd_manifest_encode(&dec, &buf2, &len2), why);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
	free(buf);
	free(buf2);
	sd_manifest_free(&dec);

	/* The delta names only what changed, tops of deleted subtrees only. */
	assert_ok(sd_delta_diff(prev, cur, &d), why);
	for (size_t i = 0; i < d.put.count; i++) {
		const struct sd_entry *o = sd_manifest_find(
			prev, d.put.e[i].path, d.put.e[i].path_len);

		assert_true(!o || !sd_entry_equal(o, &d.put.e[i]));
	}
	for (size_t i = 0; i < d.ndel; i++) {
		const struct sd_entry *o =
			sd_manifest_find(prev, d.del[i], d.del_len[i]);
		const struct sd_entry *n =
			sd_manifest_find(cur, d.del[i], d.del_len[i]);

		assert_non_null(o);
		if (n) {
			assert_int_equal(o->type, SD_T_DIR);
			assert_int_not_equal(n->type, SD_T_DIR);
			t->dir_replaced++;
		}
	}
	for (size_t i = 0; i < cur->count; i++) {
		t->links += cur->e[i].type == SD_T_HARDLINK;
		t->symlinks += cur->e[i].type == SD_T_SYMLINK;
		for (uint32_t k = 0; k < cur->e[i].path_len; k++)
			if ((uint8_t)cur->e[i].path[k] < 0x20 ||
			    (uint8_t)cur->e[i].path[k] >= 0x80) {
				t->odd++;
				break;
			}
	}
	t->steps++;
	t->dels += d.ndel;
	t->puts += d.put.count;
	if (d.ndel + d.put.count == 0) {
		assert_memory_equal(prev->root.b, cur->root.b, SD_ID_SIZE);
		t->unchanged++;
	} else {
		assert_memory_not_equal(prev->root.b, cur->root.b, SD_ID_SIZE);
	}

	/* Through the wire and applied: exactly the new manifest. */
	assert_ok(sd_delta_encode(&d, &buf, &len), why);
	assert_ok(sd_delta_decode(buf, len, &d2, &why), why);
	assert_ok(sd_delta_encode(&d2, &buf2, &len2), why);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
	assert_ok(sd_delta_apply(prev, &d2, &out, &why), why);
	assert_same(&out, cur);
	sd_manifest_free(&out);
	/* Not to anything else. */
	assert_int_equal(sd_delta_apply(cur, &d2, &out, &why), -ESTALE);
	assert_int_equal(out.count, 0);
	free(buf);
	free(buf2);
	sd_delta_free(&d);
	sd_delta_free(&d2);
}

/* Versions made from versions, each freed as soon as the next exists (as
 * a node keeps only its current one), far past the number of blocks a
 * manifest shares before it copies: every entry still reads right (ASan
 * watches), and the last version is exactly one built from scratch. */
static void test_apply_chain(void **state)
{
	enum { STEPS = 200 };
	struct sd_manifest cur, next, want;
	struct sd_err why = { "" };
	struct sd_entry e[32];
	size_t n = sample(e);
	char names[STEPS][16];
	bool live[STEPS] = { false };
	const struct sd_entry chain = dir("chain");

	build(&cur, e, n, 1);
	for (int k = 0; k < STEPS; k++) {
		struct sd_delta d;
		struct sd_entry f;

		sd_delta_init(&d);
		d.base_version = cur.version;
		d.base_root = cur.root;
		d.version = cur.version + 1;
		snprintf(names[k], sizeof(names[k]), "chain/%03d", k);
		f = file(names[k], CH + (k % 3), 1 + (k % 2));
		f.mtime_ns = k;
		if (k == 0)
			assert_ok(sd_manifest_add(&d.put, &chain, &why), why);
		assert_ok(sd_manifest_add(&d.put, &f, &why), why);
		live[k] = true;
		if (k >= 2 && k % 3 == 0) {
			assert_ok(sd_delta_delete(&d, names[k - 2],
						  strlen(names[k - 2]), &why),
				  why);
			live[k - 2] = false;
		}
		assert_ok(sd_delta_seal(&d, &why), why);
		assert_ok(sd_delta_result(&cur, &d, &next, &why), why);
		sd_delta_free(&d);
		sd_manifest_free(&cur);
		cur = next;
	}
	sd_manifest_init(&want);
	want.version = cur.version;
	for (size_t i = 0; i < n; i++)
		assert_ok(sd_manifest_add(&want, &e[i], &why), why);
	assert_ok(sd_manifest_add(&want, &chain, &why), why);
	for (int k = 0; k < STEPS; k++) {
		struct sd_entry f = file(names[k], CH + (k % 3), 1 + (k % 2));

		f.mtime_ns = k;
		if (live[k])
			assert_ok(sd_manifest_add(&want, &f, &why), why);
	}
	assert_ok(sd_manifest_seal(&want, &why), why);
	assert_same(&cur, &want);
	sd_manifest_free(&cur);
	sd_manifest_free(&want);
}

static void test_random_versions(void **state)
{
	struct model *md = calloc(1, sizeof(*md));
	struct tally t = { 0 };

	assert_non_null(md);
	for (uint64_t seed = 1; seed <= 40; seed++) {
		struct sd_manifest prev, cur, empty;
		struct sd_err why = { "" };

		rng = seed;
		sd_manifest_init(&prev);
		for (uint64_t v = 1; v <= 10; v++) {
			size_t edits = v == 1 ? 150 : 1 + below(20);

			md->n = prev.count;
			if (prev.count)
				memcpy(md->e, prev.e,
				       prev.count * sizeof(*md->e));
			while (edits--)
				edit(md);
			sd_manifest_init(&cur);
			cur.version = v;
			for (size_t i = 0; i < md->n; i++)
				assert_ok(sd_manifest_add(&cur, &md->e[i],
							  &why),
					  why);
			if (sd_manifest_seal(&cur, &why) < 0)
				fail_msg("seed %llu version %llu: %s",
					 (unsigned long long)seed,
					 (unsigned long long)v, why.what);
			pool_free(md);
			check_step(&prev, &cur, &t);
			if (v % 4 == 0) {
				sd_manifest_init(&empty);
				check_step(&empty, &cur, &t);
			}
			sd_manifest_free(&prev);
			prev = cur;
		}
		sd_manifest_free(&prev);
	}
	free(md);
	/* The edits covered what they are there for. */
	assert_true(t.steps >= 400);
	assert_true(t.dels >= 400);
	assert_true(t.puts >= 2000);
	assert_true(t.dir_replaced >= 5);
	assert_true(t.links >= 500 && t.symlinks >= 500 && t.odd >= 1000);
	assert_true(handovers >= 5);
	print_message("random: %zu steps, %zu deletes, %zu puts, %zu dirs "
		      "replaced, %zu unchanged; seen %zu hardlinks, %zu "
		      "symlinks, %zu odd names; %zu primaries handed over\n",
		      t.steps, t.dels, t.puts, t.dir_replaced, t.unchanged,
		      t.links, t.symlinks, t.odd, handovers);
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
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_root),
		cmocka_unit_test(test_decode_truncated),
		cmocka_unit_test(test_decode_flips),
		cmocka_unit_test(test_decode_refuse),
		cmocka_unit_test(test_delta_basic),
		cmocka_unit_test(test_delta_decode_refuse),
		cmocka_unit_test(test_apply_chain),
		cmocka_unit_test(test_random_versions),
	};

	chunks_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
