/* SPDX-License-Identifier: MIT */
/* Unit tests for deltas: diff, encoding, hostile input, apply, chains of
 * versions, and random trees edited over many versions, diffed and
 * applied. */
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
		cmocka_unit_test(test_delta_basic),
		cmocka_unit_test(test_delta_decode_refuse),
		cmocka_unit_test(test_apply_chain),
		cmocka_unit_test(test_random_versions),
	};

	chunks_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
