/* SPDX-License-Identifier: MIT */
/* Unit tests for the FUSE view's inode table (fs/view.h) across versions:
 * inode numbers kept or replaced, exactly the invalidations each change
 * needs, attribute-only changes, link groups that change, deltas of one
 * shape, and open files that outlive their version. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "entry_fixture.h"
#include "view.h"
#include "view_fixture.h"

/* ---- versions ---- */

static void test_versions(void **state)
{
	struct sd_chunkref a = ent_chunk(1, 10), b = ent_chunk(2, 20),
			   c2[2] = { a, b };
	struct sd_entry e1[9], e2[9], e4[8];
	struct rec *r = calloc(1, sizeof(*r));
	struct fs_view *v;
	struct fs_attr at;
	uint64_t d, gone, stay, del, keep, kind1, kind2, kind3, mod, sub, x, y,
		nw, files, bytes;

	assert_non_null(r);
	e1[0] = ent_dir("d", 0755);
	e1[1] = ent_file("d/gone", &a, 1);
	e1[2] = ent_file("d/stay", &a, 1);
	e1[3] = ent_file("del", &a, 1);
	e1[4] = ent_file("keep", &b, 1);
	e1[5] = ent_file("kind", &a, 1);
	e1[6] = ent_file("mod", &a, 1);
	e1[7] = ent_dir("sub", 0755);
	e1[8] = ent_file("sub/x", &a, 1);
	e2[0] = e1[0];
	e2[1] = e1[2];
	e2[2] = e1[4];
	e2[3] = ent_dir("kind", 0755);
	e2[4] = ent_file("kind/y", &b, 1);
	e2[5] = ent_file("mod", c2, 2);
	e2[6] = ent_file("new", &b, 1);
	e2[7] = e1[7];
	e2[8] = e1[8];

	assert_int_equal(fs_view_new(&v), 0);
	rec_reset(r, v, 1);
	install(v, e1, 9, 1, r);
	/* The first version: every name is new to the kernel. */
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "keep"), 1);
	assert_int_equal(n_inode(r, FS_VIEW_ROOT_INO), 1);
	d = ino_of(v, "d");
	gone = ino_of(v, "d/gone");
	stay = ino_of(v, "d/stay");
	del = ino_of(v, "del");
	keep = ino_of(v, "keep");
	kind1 = ino_of(v, "kind");
	mod = ino_of(v, "mod");
	sub = ino_of(v, "sub");
	x = ino_of(v, "sub/x");

	rec_reset(r, v, 2);
	install(v, e2, 9, 2, r);
	kind2 = ino_of(v, "kind");
	y = ino_of(v, "kind/y");
	nw = ino_of(v, "new");
	/* what stayed keeps its inode; a kind that changed gets a new one,
	 * and so does a file with new bytes */
	assert_int_equal(ino_of(v, "d"), d);
	assert_int_equal(ino_of(v, "d/stay"), stay);
	assert_int_equal(ino_of(v, "keep"), keep);
	assert_int_not_equal(ino_of(v, "mod"), mod);
	assert_int_equal(ino_of(v, "sub"), sub);
	assert_int_equal(ino_of(v, "sub/x"), x);
	assert_int_not_equal(kind2, kind1);
	assert_true(kind2 > x && y > x && nw > x); /* never reused */

	/* exactly what changed, each once */
	assert_int_equal(n_entry(r, d, "gone"), 1);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "del"), 1);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "kind"), 1);
	assert_int_equal(n_entry(r, kind2, "y"), 1);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "new"), 1);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "mod"), 1);
	assert_int_equal(n_kind(r, FS_INVAL_ENTRY), 6);
	/* An inode that lost its name stays as it is: whoever has it open
	 * keeps its pages and attributes. */
	assert_int_equal(n_inode(r, mod) + n_inode(r, gone) + n_inode(r, del) +
				 n_inode(r, kind1),
			 0);
	assert_int_equal(n_inode(r, d), 1);		   /* lost a name */
	assert_int_equal(n_inode(r, FS_VIEW_ROOT_INO), 1); /* once, of 3 */
	assert_int_equal(n_inode(r, kind2), 1);
	assert_int_equal(n_kind(r, FS_INVAL_INODE), 3);
	assert_int_equal(n_inode(r, keep) + n_inode(r, sub) + n_inode(r, x) +
				 n_inode(r, stay),
			 0);

	assert_int_equal(fs_view_getattr(v, del, &at), -ENOENT);
	assert_int_equal(fs_view_getattr(v, gone, &at), -ENOENT);
	assert_int_equal(fs_view_getattr(v, kind1, &at), -ENOENT);
	assert_int_equal(fs_view_getattr(v, mod, &at), -ENOENT);
	assert_int_equal(fs_view_getattr(v, ino_of(v, "mod"), &at), 0);
	assert_int_equal(at.st.st_size, 30);
	assert_int_equal(fs_view_getattr(v, kind2, &at), 0);
	assert_int_equal(at.st.st_mode, S_IFDIR | 0755);
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, "del", 3, &at),
			 -ENOENT);
	fs_view_counts(v, &files, &bytes);
	assert_int_equal(files, 6);
	assert_int_equal(bytes, 10 + 20 + 20 + 30 + 20 + 10);

	/* The same tree again: nothing to forget. */
	rec_reset(r, v, 3);
	install(v, e2, 9, 3, r);
	assert_int_equal(r->n, 0);
	assert_int_equal(ino_of(v, "kind/y"), y);

	/* A directory becomes a file: its subtree goes with it. */
	memcpy(e4, e2, 3 * sizeof(*e4));
	e4[3] = ent_file("kind", &b, 1);
	memcpy(e4 + 4, e2 + 5, 4 * sizeof(*e4));
	rec_reset(r, v, 4);
	install(v, e4, 8, 4, r);
	kind3 = ino_of(v, "kind");
	assert_true(kind3 != kind2 && kind3 != kind1);
	assert_int_equal(n_entry(r, kind2, "y"), 1);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "kind"), 1);
	assert_int_equal(n_kind(r, FS_INVAL_ENTRY), 2);
	assert_int_equal(n_inode(r, kind2), 1); /* y's parent */
	assert_int_equal(n_inode(r, y), 0);
	assert_int_equal(n_inode(r, FS_VIEW_ROOT_INO), 1);
	assert_int_equal(n_kind(r, FS_INVAL_INODE), 2);
	assert_int_equal(fs_view_readdir(v, kind2, 0, collect, NULL), -ENOENT);
	assert_int_equal(fs_view_lookup(v, kind2, "y", 1, &at), -ENOENT);
	assert_int_equal(fs_view_lookup(v, kind3, "y", 1, &at), -ENOTDIR);

	/* An empty version: every name goes. */
	rec_reset(r, v, 5);
	install(v, NULL, 0, 5, r);
	assert_int_equal(n_kind(r, FS_INVAL_ENTRY), 8);
	assert_int_equal(n_entry(r, sub, "x"), 1);
	assert_int_equal(n_inode(r, keep), 0);
	assert_int_equal(fs_view_getattr(v, keep, &at), -ENOENT);
	assert_int_equal(fs_view_getattr(v, FS_VIEW_ROOT_INO, &at), 0);
	assert_int_equal(at.st.st_nlink, 2);
	fs_view_counts(v, &files, &bytes);
	assert_int_equal(files + bytes, 0);
	fs_view_free(v);
	free(r);
}

/* A file whose mode or mtime changes but not its bytes keeps its inode:
 * only its attributes are dropped, and its pages stay. */
static void test_attrs_only(void **state)
{
	struct sd_chunkref a = ent_chunk(1, 10);
	struct sd_entry e1[1], e2[1];
	struct rec *r = calloc(1, sizeof(*r));
	struct fs_view *v;
	struct fs_attr at;
	uint64_t f;

	assert_non_null(r);
	e1[0] = ent_file("f", &a, 1);
	e2[0] = e1[0];
	e2[0].mode = 0600;
	e2[0].mtime_ns += 1000;
	assert_int_equal(fs_view_new(&v), 0);
	rec_reset(r, v, 1);
	install(v, e1, 1, 1, r);
	f = ino_of(v, "f");
	rec_reset(r, v, 2);
	install(v, e2, 1, 2, r);
	assert_int_equal(ino_of(v, "f"), f);
	assert_int_equal(r->n, 1);
	assert_int_equal(n_inode(r, f), 1);
	assert_int_equal(fs_view_getattr(v, f, &at), 0);
	assert_int_equal(at.st.st_mode, S_IFREG | 0600);
	fs_view_free(v);
	free(r);
}

/* A link group's names come and go: its inode's nlink changes, and a name
 * that leaves the group gets an inode of its own. */
static void test_versions_hardlinks(void **state)
{
	struct sd_chunkref a = ent_chunk(1, 10), b = ent_chunk(2, 20);
	struct rec *r = calloc(1, sizeof(*r));
	struct sd_entry e[3];
	struct fs_view *v;
	struct fs_attr at;
	uint64_t p, q, rr;

	assert_non_null(r);
	assert_int_equal(fs_view_new(&v), 0);
	e[0] = ent_file("p", &a, 1);
	e[1] = ent_hard("q", "p");
	install(v, e, 2, 1, NULL);
	p = ino_of(v, "p");
	assert_int_equal(ino_of(v, "q"), p);
	walk(v, "q", &at);
	assert_int_equal(at.st.st_nlink, 2);

	e[1] = ent_file("q", &b, 1);
	rec_reset(r, v, 2);
	install(v, e, 2, 2, r);
	q = ino_of(v, "q");
	assert_int_not_equal(q, p);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "q"), 1);
	assert_int_equal(n_inode(r, p), 1);
	assert_int_equal(n_kind(r, FS_INVAL_ENTRY), 1);
	assert_int_equal(fs_view_getattr(v, p, &at), 0);
	assert_int_equal(at.st.st_nlink, 1);
	assert_int_equal(fs_view_getattr(v, q, &at), 0);
	assert_int_equal(at.st.st_size, 20);

	e[2] = ent_hard("r", "p");
	rec_reset(r, v, 3);
	install(v, e, 3, 3, r);
	assert_int_equal(ino_of(v, "r"), p);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "r"), 1);
	assert_int_equal(n_inode(r, p), 1);
	assert_int_equal(n_inode(r, q), 0);
	assert_int_equal(fs_view_getattr(v, p, &at), 0);
	assert_int_equal(at.st.st_nlink, 2);

	/* p goes; r becomes a file on its own */
	e[0] = e[1];
	e[1] = ent_file("r", &a, 1);
	rec_reset(r, v, 4);
	install(v, e, 2, 4, r);
	rr = ino_of(v, "r");
	assert_true(rr != p && rr != q);
	assert_int_equal(ino_of(v, "q"), q);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "p"), 1);
	assert_int_equal(n_entry(r, FS_VIEW_ROOT_INO, "r"), 1);
	assert_int_equal(n_inode(r, p), 1);
	assert_int_equal(n_inode(r, q), 0);
	assert_int_equal(fs_view_getattr(v, p, &at), -ENOENT);
	assert_int_equal(fs_view_getattr(v, rr, &at), 0);
	assert_int_equal(at.st.st_nlink, 1);
	fs_view_free(v);
	free(r);
}

/* Versions of one shape (the same paths and kinds, some files with new
 * bytes), each applied as a delta to the one before, so most entries share
 * their bytes with the installed version, as a node's commits do: the
 * view reuses its parents and listings and patches its inode table. Every
 * name must lead to its inode and back, a replaced inode must be gone,
 * and a hardlink must follow its primary to the new one. Rounds with many
 * changes rebuild the table instead. */
#define SHAPE_N 96
static void test_same_shape(void **state)
{
	static const char *dirs[] = { "a", "b", "c" };
	struct sd_chunkref ch[SHAPE_N];
	struct sd_entry e[SHAPE_N + 4];
	char names[SHAPE_N][16];
	struct sd_manifest cur, next;
	struct sd_err why = { "" };
	uint64_t ino[SHAPE_N + 4], was[SHAPE_N + 4];
	struct fs_view *v;
	struct fs_attr at;
	unsigned seed = 12345;
	size_t n = 0;

	(void)state;
	for (size_t d = 0; d < 3; d++)
		e[n++] = ent_dir(dirs[d], 0755);
	for (size_t i = 0; i < SHAPE_N; i++) {
		snprintf(names[i], sizeof(names[i]), "%s/f%03zu", dirs[i % 3],
			 i);
		ch[i] = ent_chunk((unsigned)i, 100 + (uint32_t)i);
		e[n++] = ent_file(names[i], &ch[i], 1);
	}
	e[n++] = ent_hard("h", "a/f000");
	assert_int_equal(fs_view_new(&v), 0);
	ent_build(&cur, e, n, 1);
	assert_int_equal(fs_view_set(v, &cur, NULL, NULL), 0);
	for (size_t k = 0; k < n; k++)
		ino[k] = ino_of(v, cur.e[k].path);

	for (uint64_t round = 2; round < 200; round++) {
		struct sd_delta d;
		size_t changes = round % 50 == 0 ? SHAPE_N / 2 : 1 + round % 3;

		/* A copy of cur with some files' bytes new. */
		for (size_t k = 0; k < cur.count; k++)
			e[k] = cur.e[k];
		for (size_t c = 0; c < changes; c++) {
			size_t k;

			seed = seed * 1103515245u + 12345u;
			k = (seed >> 8) % cur.count;
			if (e[k].type != SD_T_FILE)
				continue;
			ch[k % SHAPE_N] =
				ent_chunk((unsigned)(round * 1000 + k),
					  e[k].chunks[0].len);
			e[k].chunks = &ch[k % SHAPE_N];
		}
		sd_manifest_init(&next);
		next.version = round;
		for (size_t k = 0; k < cur.count; k++)
			assert_int_equal(sd_manifest_add(&next, &e[k], &why),
					 0);
		assert_int_equal(sd_manifest_seal(&next, &why), 0);
		assert_int_equal(sd_delta_diff(&cur, &next, &d), 0);
		sd_manifest_free(&next);
		assert_int_equal(sd_delta_apply(&cur, &d, &next, &why), 0);
		sd_delta_free(&d);
		assert_int_equal(fs_view_set(v, &next, NULL, NULL), 0);

		memcpy(was, ino, sizeof(ino));
		for (size_t k = 0; k < next.count; k++) {
			const struct sd_entry *a = &cur.e[k], *b = &next.e[k];
			bool same =
				b->type != SD_T_FILE ||
				sd_id_eq(&a->chunks[0].id, &b->chunks[0].id);

			ino[k] = ino_of(v, b->path);
			assert_int_equal(fs_view_getattr(v, ino[k], &at), 0);
			assert_int_equal(at.st.st_size,
					 sd_manifest_resolve(&next, b)->size);
			if (b->type == SD_T_HARDLINK)
				assert_int_equal(ino[k], ino_of(v, "a/f000"));
			else if (same)
				assert_int_equal(ino[k], was[k]);
			else
				assert_int_equal(fs_view_getattr(v, was[k],
								 &at),
						 -ENOENT);
		}
		sd_manifest_free(&cur);
		cur = next;
	}
	sd_manifest_free(&cur);
	fs_view_free(v);
}

/* An open file keeps the version it opened: past new versions, past the
 * caller's manifests, past the view itself. */
static void test_open_outlives(void **state)
{
	struct sd_chunkref c[3] = { ent_chunk(1, 10), ent_chunk(2, 20),
				    ent_chunk(3, 30) };
	struct sd_manifest m1, m2;
	struct sd_entry e[2];
	struct fs_view *v;
	struct fs_file f, g;
	uint64_t ino;

	assert_int_equal(fs_view_new(&v), 0);
	e[0] = ent_file("f", c, 2);
	ent_build(&m1, e, 1, 1);
	assert_int_equal(fs_view_set(v, &m1, NULL, NULL), 0);
	ino = ino_of(v, "f");
	assert_int_equal(fs_view_open(v, ino, &f), 0);

	e[0] = ent_file("f", c + 2, 1);
	e[1] = ent_file("g", c, 1);
	ent_build(&m2, e, 2, 2);
	assert_int_equal(fs_view_set(v, &m2, NULL, NULL), 0);
	sd_manifest_free(&m1);
	/* new bytes: a new inode; the open one is the old file */
	assert_int_not_equal(ino_of(v, "f"), ino);
	assert_int_equal(f.ino, ino);
	assert_int_equal(f.size, 30);
	assert_int_equal(f.nchunks, 2);
	assert_memory_equal(&f.chunks[1], &c[1], sizeof(c[1]));
	assert_int_equal(fs_file_chunk_at(&f, 10), 1);

	assert_int_equal(fs_view_open(v, ino_of(v, "g"), &g), 0);
	install(v, NULL, 0, 3, NULL);
	sd_manifest_free(&m2);
	fs_view_free(v);
	assert_int_equal(f.ends[1], 30);
	assert_memory_equal(&f.chunks[0], &c[0], sizeof(c[0]));
	assert_int_equal(g.nchunks, 1);
	assert_memory_equal(&g.chunks[0], &c[0], sizeof(c[0]));
	fs_file_free(&f);
	fs_file_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_attrs_only),
		cmocka_unit_test(test_versions_hardlinks),
		cmocka_unit_test(test_same_shape),
		cmocka_unit_test(test_open_outlives),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
