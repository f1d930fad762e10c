/* SPDX-License-Identifier: MIT */
/* Fixtures of the manifest and delta unit suites (manifest_test_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "manifest_test_fixture.h"

struct sd_chunkref chunk(unsigned seed, uint32_t len)
{
	struct sd_chunkref c = { .len = len };

	for (int i = 0; i < SD_ID_SIZE; i++)
		c.id.b[i] = (uint8_t)(seed * 31 + (unsigned)i * 7);
	return c;
}

struct sd_chunkref CH[4];

void chunks_init(void)
{
	CH[0] = chunk(1, 100);
	CH[1] = chunk(2, 65536);
	CH[2] = chunk(3, 7);
	CH[3] = chunk(4, 262144);
}

struct sd_entry dir(const char *p)
{
	return (struct sd_entry){ .path = (char *)p,
				  .path_len = (uint32_t)strlen(p),
				  .type = SD_T_DIR,
				  .mode = 0755,
				  .mtime_ns = 1700000000123456789ll };
}

struct sd_entry file(const char *p, struct sd_chunkref *c, uint32_t n)
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

struct sd_entry symlink_(const char *p, const char *t)
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

struct sd_entry hardlink(const char *p, const char *t)
{
	return (struct sd_entry){ .path = (char *)p,
				  .path_len = (uint32_t)strlen(p),
				  .type = SD_T_HARDLINK,
				  .target = (char *)t,
				  .target_len = (uint32_t)strlen(t) };
}

/* Every kind of entry, odd names, in no particular order. */
size_t sample(struct sd_entry *e)
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
	/* A file whose chunk list is not known yet. */
	e[n] = file("src/sub/later", NULL, 0);
	e[n].type = SD_T_PENDING;
	e[n++].size = 300000;
	return n;
}

void build(struct sd_manifest *m, const struct sd_entry *e, size_t n,
	   uint64_t version)
{
	struct sd_err why = { "" };

	sd_manifest_init(m);
	m->version = version;
	for (size_t i = 0; i < n; i++)
		assert_ok(sd_manifest_add(m, &e[i], &why), why);
	assert_ok(sd_manifest_seal(m, &why), why);
}

void assert_same(const struct sd_manifest *a, const struct sd_manifest *b)
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
	assert_int_equal(a->npending, b->npending);
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

void raw_bytes(struct raw *r, const void *p, size_t n)
{
	if (n == 0)
		return;
	assert_true(r->n + n <= sizeof(r->b));
	memcpy(r->b + r->n, p, n);
	r->n += n;
}

void raw_le(struct raw *r, uint64_t v, int n)
{
	for (int i = 0; i < n; i++) {
		uint8_t b = (uint8_t)(v >> (8 * i));

		raw_bytes(r, &b, 1);
	}
}

void raw_var(struct raw *r, uint64_t v)
{
	do {
		uint8_t b = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));

		raw_bytes(r, &b, 1);
		v >>= 7;
	} while (v);
}

void raw_path(struct raw *r, const char *prev, size_t plen, const char *p,
	      size_t len)
{
	size_t s = 0;

	while (s < plen && s < len && prev[s] == p[s])
		s++;
	raw_var(r, s);
	raw_var(r, len - s);
	raw_bytes(r, p + s, len - s);
}

void raw_entry(struct raw *r, const struct sd_entry *prev,
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
	} else if (e->type == SD_T_PENDING) {
		raw_var(r, e->size);
	} else if (e->type != SD_T_DIR) {
		raw_var(r, e->target_len);
		raw_bytes(r, e->target, e->target_len);
	}
}

/* The root hash of e as given: XXH3-128 of the count (u32) and each
 * entry's hash, the XXH3-128 of its record with the whole path. */
struct sd_id raw_root(const struct sd_entry *e, size_t n)
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
void raw_manifest(struct raw *r, const struct sd_entry *e, size_t n,
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

void raw_delta(struct raw *r, const struct sd_manifest *base, uint64_t version,
	       const struct sd_id *root, const char *const *del, size_t ndel,
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
void refuse_manifest(const struct raw *r, int code, const char *needle)
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
