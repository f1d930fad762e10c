/* SPDX-License-Identifier: MIT */
/* Unit tests for the FUSE view's inode table (fs/view.h) with one version
 * installed: attributes, lookups, parents, listings and their offsets,
 * symlink targets, the longest paths, and open files. */
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

/* ---- one version ---- */

static void test_empty_root(void **state)
{
	struct fs_view *v;
	struct fs_attr a;
	struct fs_file f;
	struct listing *l;
	uint64_t files = 7, bytes = 7;
	char buf[16];

	assert_int_equal(fs_view_new(&v), 0);
	assert_int_equal(fs_view_version(v), 0);
	memset(&a, 0xa5, sizeof(a));
	assert_int_equal(fs_view_getattr(v, FS_VIEW_ROOT_INO, &a), 0);
	assert_int_equal(a.ino, FS_VIEW_ROOT_INO);
	assert_int_equal(a.st.st_ino, FS_VIEW_ROOT_INO);
	assert_int_equal(a.st.st_mode, S_IFDIR | 0755);
	assert_int_equal(a.st.st_nlink, 2);
	assert_int_equal(a.st.st_size, 0);
	assert_int_equal(a.st.st_uid, 0);
	assert_int_equal(a.st.st_gid, 0);
	assert_int_equal(a.st.st_mtim.tv_sec, 0);
	assert_int_equal(a.st.st_mtim.tv_nsec, 0);
	assert_int_equal(a.st.st_ctim.tv_sec, 0);
	assert_true(a.st.st_blksize > 0);

	l = list(v, FS_VIEW_ROOT_INO, 0, 0);
	assert_int_equal(l->n, 2);
	assert_dent(&l->d[0], ".", FS_VIEW_ROOT_INO, S_IFDIR);
	assert_dent(&l->d[1], "..", FS_VIEW_ROOT_INO, S_IFDIR);
	assert_int_equal(l->d[0].next, 1);
	assert_int_equal(l->d[1].next, 2);
	free(l);
	l = list(v, FS_VIEW_ROOT_INO, 2, 0);
	assert_int_equal(l->n, 0);
	free(l);

	assert_int_equal(fs_view_getattr(v, 2, &a), -ENOENT);
	assert_int_equal(fs_view_getattr(v, 0, &a), -ENOENT);
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, "x", 1, &a),
			 -ENOENT);
	assert_int_equal(fs_view_lookup(v, 2, "x", 1, &a), -ENOENT);
	assert_int_equal(fs_view_readdir(v, 2, 0, collect, NULL), -ENOENT);
	assert_int_equal(fs_view_readlink(v, FS_VIEW_ROOT_INO, buf, 16),
			 -EINVAL);
	assert_int_equal(fs_view_readlink(v, 2, buf, 16), -ENOENT);
	assert_int_equal(fs_view_open(v, FS_VIEW_ROOT_INO, &f), -EISDIR);
	assert_int_equal(fs_view_open(v, 2, &f), -ENOENT);
	fs_view_counts(v, &files, &bytes);
	assert_int_equal(files, 0);
	assert_int_equal(bytes, 0);
	fs_view_free(v);
	fs_view_free(NULL);
}

/* Added out of order: the view lists in manifest order. */
static size_t tree(struct sd_entry *e, struct sd_chunkref *c)
{
	size_t n = 0;

	c[0] = ent_chunk(1, 100);
	c[1] = ent_chunk(2, 5000);
	c[2] = ent_chunk(3, 3);
	e[n++] = ent_file("sp ace", c + 2, 1);
	e[n++] = ent_hard("\xff/h", "sp ace");
	e[n++] = ent_dir("\xff", 0755);
	e[n++] = ent_file("new\nline", c, 1);
	e[n++] = ent_link("a/link", "../x/y");
	e[n++] = ent_dir("a/empty", 0755);
	e[n++] = ent_file("a/b/\x01\x7f", c + 2, 1);
	e[n++] = ent_hard("a/b/hard", "a/b/c.txt");
	e[n++] = ent_file("a/b/c.txt", c, 2);
	e[n++] = ent_dir("a/b", 0755);
	e[n++] = ent_dir("a", 0755);
	e[n] = ent_file("f0", NULL, 0);
	e[n].mode = 0600;
	e[n++].mtime_ns = -1; /* just before the epoch */
	return n;
}

static void assert_attr(struct fs_view *v, const char *path, mode_t mode,
			nlink_t nlink, off_t size)
{
	struct fs_attr a, b;

	if (walk(v, path, &a))
		fail_msg("lookup '%s' failed", path);
	if (a.st.st_mode != mode || a.st.st_nlink != nlink ||
	    a.st.st_size != size)
		fail_msg(
			"'%s': mode %o nlink %lu size %lld, wanted %o %lu %lld",
			path, (unsigned)a.st.st_mode,
			(unsigned long)a.st.st_nlink, (long long)a.st.st_size,
			(unsigned)mode, (unsigned long)nlink, (long long)size);
	assert_int_equal(a.st.st_ino, a.ino);
	assert_int_equal(a.st.st_blocks, (size + 511) / 512);
	assert_true(a.st.st_blksize > 0);
	assert_int_equal(a.st.st_uid, 0);
	assert_int_equal(a.st.st_gid, 0);
	/* getattr answers what lookup did */
	assert_int_equal(fs_view_getattr(v, a.ino, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
}

/* Each entry under its own parent, when names sort between a directory
 * and its children ("a/b!" between "a/b" and "a/b/y") and directories of
 * one path length follow each other: the parent index the view builds
 * from the last directory of each length. */
static void test_parents(void **state)
{
	struct sd_chunkref c = ent_chunk(1, 10);
	struct sd_entry e[] = {
		ent_dir("a", 0755),	    ent_dir("a/b", 0755),
		ent_dir("a/b!", 0700),	    ent_file("a/b!/z", &c, 1),
		ent_file("a/b/y", &c, 1),   ent_dir("a/b/d", 0755),
		ent_file("a/b/d/w", &c, 1), ent_dir("a/c", 0711),
		ent_file("a/c/v", &c, 1),   ent_dir("x", 0755),
		ent_dir("x/b", 0755),	    ent_file("x/b/q", &c, 1),
	};
	struct fs_view *v;
	struct fs_attr a;

	assert_int_equal(fs_view_new(&v), 0);
	install(v, e, sizeof(e) / sizeof(e[0]), 1, NULL);
	assert_attr(v, "a", S_IFDIR | 0755, 2 + 3, 0); /* b, b! and c */
	assert_attr(v, "a/b", S_IFDIR | 0755, 2 + 1, 0);
	assert_attr(v, "a/b!", S_IFDIR | 0700, 2, 0);
	assert_attr(v, "a/c", S_IFDIR | 0711, 2, 0);
	assert_attr(v, "x/b", S_IFDIR | 0755, 2, 0);
	assert_int_equal(walk(v, "a/b!/z", &a), 0);
	assert_int_equal(walk(v, "a/b/y", &a), 0);
	assert_int_equal(walk(v, "a/b/d/w", &a), 0);
	assert_int_equal(walk(v, "a/c/v", &a), 0);
	assert_int_equal(walk(v, "x/b/q", &a), 0);
	/* ... and under no other. */
	assert_int_equal(walk(v, "a/b/z", &a), -ENOENT);
	assert_int_equal(walk(v, "a/b!/y", &a), -ENOENT);
	assert_int_equal(walk(v, "x/b/y", &a), -ENOENT);
	assert_int_equal(walk(v, "a/b/q", &a), -ENOENT);
	fs_view_free(v);
}

static void test_tree(void **state)
{
	struct sd_entry e[16];
	struct sd_chunkref c[3];
	size_t n = tree(e, c);
	struct sd_manifest m;
	struct fs_view *v;
	struct fs_attr a;
	uint64_t ino[16], files, bytes;
	char big[SD_NAME_MAX + 1];

	assert_int_equal(fs_view_new(&v), 0);
	ent_build(&m, e, n, 3);
	assert_int_equal(fs_view_set(v, &m, NULL, NULL), 0);
	assert_int_equal(fs_view_version(v), 3);

	assert_attr(v, "", S_IFDIR | 0755, 2 + 2, 0);  /* a and \xff */
	assert_attr(v, "a", S_IFDIR | 0755, 2 + 2, 0); /* b and empty */
	assert_attr(v, "a/b", S_IFDIR | 0755, 2, 0);
	assert_attr(v, "a/empty", S_IFDIR | 0755, 2, 0);
	assert_attr(v, "\xff", S_IFDIR | 0755, 2, 0);
	assert_attr(v, "a/b/c.txt", S_IFREG | 0644, 2, 5100);
	assert_attr(v, "a/b/hard", S_IFREG | 0644, 2, 5100);
	assert_attr(v, "a/b/\x01\x7f", S_IFREG | 0644, 1, 3);
	assert_attr(v, "a/link", S_IFLNK | 0777, 1, 6);
	assert_attr(v, "new\nline", S_IFREG | 0644, 1, 100);
	assert_attr(v, "sp ace", S_IFREG | 0644, 2, 3);
	assert_attr(v, "\xff/h", S_IFREG | 0644, 2, 3);
	assert_attr(v, "f0", S_IFREG | 0600, 1, 0);

	/* Times: all three the mtime, tv_nsec in range before the epoch. */
	walk(v, "a/b/c.txt", &a);
	assert_int_equal(a.st.st_mtim.tv_sec, 1700000000);
	assert_int_equal(a.st.st_mtim.tv_nsec, 123456789);
	assert_int_equal(a.st.st_ctim.tv_nsec, 123456789);
	assert_int_equal(a.st.st_atim.tv_sec, 1700000000);
	walk(v, "f0", &a);
	assert_int_equal(a.st.st_mtim.tv_sec, -1);
	assert_int_equal(a.st.st_mtim.tv_nsec, 999999999);

	/* A hard link's names share one inode; every other inode differs. */
	assert_int_equal(ino_of(v, "a/b/hard"), ino_of(v, "a/b/c.txt"));
	assert_int_equal(ino_of(v, "\xff/h"), ino_of(v, "sp ace"));
	for (size_t i = 0; i < m.count; i++) {
		ino[i] = ino_of(v, m.e[i].path);
		assert_int_not_equal(ino[i], FS_VIEW_ROOT_INO);
		for (size_t j = 0; j < i; j++) {
			const struct sd_entry *p =
				sd_manifest_resolve(&m, &m.e[i]);

			if (p == &m.e[j])
				assert_int_equal(ino[i], ino[j]);
			else
				assert_int_not_equal(ino[i], ino[j]);
		}
	}

	/* Names that cannot be in a manifest find nothing. */
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, "a", 0, &a),
			 -ENOENT);
	assert_int_equal(fs_view_lookup(v, ino_of(v, "a"), "b/c.txt", 7, &a),
			 -ENOENT);
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, "a/b", 3, &a),
			 -ENOENT);
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, "f0\0", 3, &a),
			 -ENOENT);
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, ".", 1, &a),
			 -ENOENT);
	assert_int_equal(fs_view_lookup(v, ino_of(v, "a"), "..", 2, &a),
			 -ENOENT);
	memset(big, 'a', sizeof(big));
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, big,
					SD_NAME_MAX + 1, &a),
			 -ENOENT);
	/* A prefix or an extension of a name is another name. */
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, "f", 1, &a),
			 -ENOENT);
	assert_int_equal(fs_view_lookup(v, FS_VIEW_ROOT_INO, "f00", 3, &a),
			 -ENOENT);
	/* Only a directory has names. */
	assert_int_equal(fs_view_lookup(v, ino_of(v, "f0"), "x", 1, &a),
			 -ENOTDIR);
	assert_int_equal(fs_view_lookup(v, ino_of(v, "a/link"), "x", 1, &a),
			 -ENOTDIR);
	assert_int_equal(fs_view_lookup(v, 9999, "x", 1, &a), -ENOENT);

	fs_view_counts(v, &files, &bytes);
	assert_int_equal(files, m.nfiles);
	assert_int_equal(bytes, m.nbytes);
	assert_int_equal(bytes, 5100 + 3 + 100 + 3 + 0);
	sd_manifest_free(&m);
	fs_view_free(v);
}

static void test_readdir(void **state)
{
	struct sd_entry e[16];
	struct sd_chunkref c[3];
	struct fs_view *v;
	struct listing *l;
	uint64_t a, b;

	assert_int_equal(fs_view_new(&v), 0);
	install(v, e, tree(e, c), 1, NULL);
	a = ino_of(v, "a");
	b = ino_of(v, "a/b");

	l = list(v, FS_VIEW_ROOT_INO, 0, 0);
	assert_int_equal(l->n, 2 + 5);
	assert_dent(&l->d[0], ".", FS_VIEW_ROOT_INO, S_IFDIR);
	assert_dent(&l->d[1], "..", FS_VIEW_ROOT_INO, S_IFDIR);
	assert_dent(&l->d[2], "a", a, S_IFDIR);
	assert_dent(&l->d[3], "f0", ino_of(v, "f0"), S_IFREG);
	assert_dent(&l->d[4], "new\nline", ino_of(v, "new\nline"), S_IFREG);
	assert_dent(&l->d[5], "sp ace", ino_of(v, "sp ace"), S_IFREG);
	assert_dent(&l->d[6], "\xff", ino_of(v, "\xff"), S_IFDIR);
	free(l);

	l = list(v, a, 0, 0);
	assert_int_equal(l->n, 2 + 3);
	assert_dent(&l->d[0], ".", a, S_IFDIR);
	assert_dent(&l->d[1], "..", FS_VIEW_ROOT_INO, S_IFDIR);
	assert_dent(&l->d[2], "b", b, S_IFDIR);
	assert_dent(&l->d[3], "empty", ino_of(v, "a/empty"), S_IFDIR);
	assert_dent(&l->d[4], "link", ino_of(v, "a/link"), S_IFLNK);
	free(l);

	/* A hard link name lists as a regular file, with the group's inode. */
	l = list(v, b, 0, 0);
	assert_int_equal(l->n, 2 + 3);
	assert_dent(&l->d[1], "..", a, S_IFDIR);
	assert_dent(&l->d[2], "\x01\x7f", ino_of(v, "a/b/\x01\x7f"), S_IFREG);
	assert_dent(&l->d[3], "c.txt", ino_of(v, "a/b/c.txt"), S_IFREG);
	assert_dent(&l->d[4], "hard", ino_of(v, "a/b/c.txt"), S_IFREG);
	free(l);

	l = list(v, ino_of(v, "a/empty"), 0, 0);
	assert_int_equal(l->n, 2);
	assert_dent(&l->d[1], "..", a, S_IFDIR);
	free(l);

	assert_int_equal(fs_view_readdir(v, ino_of(v, "f0"), 0, collect, NULL),
			 -ENOTDIR);
	assert_int_equal(fs_view_readdir(v, ino_of(v, "a/link"), 0, collect,
					 NULL),
			 -ENOTDIR);
	assert_int_equal(fs_view_readdir(v, ino_of(v, "a/b/hard"), 0, collect,
					 NULL),
			 -ENOTDIR);
	fs_view_free(v);
}

/* Resuming at any offset gives the rest of the listing, in order; so does
 * resuming at the next_off of where a callback stopped. */
static void test_readdir_offsets(void **state)
{
	static char names[20][8];
	struct sd_entry e[21];
	struct fs_view *v;
	struct listing *all, *l;
	size_t n = 0;
	uint64_t d;

	e[n++] = ent_dir("d", 0755);
	for (int i = 0; i < 20; i++) {
		snprintf(names[i], sizeof(names[i]), "d/%c%d", 'z' - i, i);
		e[n++] = i % 3 ? ent_file(names[i], NULL, 0)
			       : ent_dir(names[i], 0755);
	}
	assert_int_equal(fs_view_new(&v), 0);
	install(v, e, n, 1, NULL);
	d = ino_of(v, "d");
	all = list(v, d, 0, 0);
	assert_int_equal(all->n, 22);
	assert_dent(&all->d[0], ".", d, S_IFDIR);
	assert_dent(&all->d[1], "..", FS_VIEW_ROOT_INO, S_IFDIR);
	for (size_t i = 2; i < all->n; i++)
		assert_true(strcmp(all->d[i - 1].name, all->d[i].name) < 0);
	for (uint64_t off = 0; off <= all->n + 2; off++) {
		l = list(v, d, off, 0);
		assert_int_equal(l->n, off < all->n ? all->n - off : 0);
		for (size_t i = 0; i < l->n; i++) {
			assert_memory_equal(&l->d[i], &all->d[off + i],
					    sizeof(l->d[i]));
			assert_int_equal(l->d[i].next, off + i + 1);
		}
		free(l);
	}
	/* A reader that takes one entry at a time, as a full buffer does. */
	for (uint64_t off = 0, k = 0;; k++) {
		l = list(v, d, off, 1);
		if (l->n == 0) {
			assert_int_equal(k, all->n);
			free(l);
			break;
		}
		assert_int_equal(l->n, 1);
		assert_memory_equal(&l->d[0], &all->d[k], sizeof(l->d[0]));
		off = l->d[0].next;
		free(l);
	}
	free(all);
	fs_view_free(v);
}

static void test_readlink(void **state)
{
	static char longt[SD_PATH_MAX + 1];
	struct sd_entry e[5];
	struct fs_view *v;
	char buf[SD_PATH_MAX + 1];
	uint64_t ino;

	memset(longt, 'L', SD_PATH_MAX);
	e[0] = ent_link("l", "../x/\xff y");
	e[1] = ent_link("long", longt);
	e[2] = ent_file("f", NULL, 0);
	e[3] = ent_dir("d", 0755);
	e[4] = ent_hard("h", "f");
	assert_int_equal(fs_view_new(&v), 0);
	install(v, e, 5, 1, NULL);
	ino = ino_of(v, "l");
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(fs_view_readlink(v, ino, buf, sizeof(buf)), 8);
	assert_string_equal(buf, "../x/\xff y");
	/* Room for the NUL is needed, and exactly enough will do. */
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(fs_view_readlink(v, ino, buf, 9), 8);
	assert_string_equal(buf, "../x/\xff y");
	assert_int_equal(fs_view_readlink(v, ino, buf, 8), -ERANGE);
	assert_int_equal(fs_view_readlink(v, ino, buf, 0), -ERANGE);
	ino = ino_of(v, "long");
	assert_int_equal(fs_view_readlink(v, ino, buf, sizeof(buf)),
			 SD_PATH_MAX);
	assert_string_equal(buf, longt);
	assert_int_equal(fs_view_readlink(v, ino, buf, SD_PATH_MAX), -ERANGE);
	assert_int_equal(fs_view_readlink(v, ino_of(v, "f"), buf, 64), -EINVAL);
	assert_int_equal(fs_view_readlink(v, ino_of(v, "h"), buf, 64), -EINVAL);
	assert_int_equal(fs_view_readlink(v, ino_of(v, "d"), buf, 64), -EINVAL);
	assert_int_equal(fs_view_readlink(v, 12345, buf, 64), -ENOENT);
	fs_view_free(v);
}

/* Paths up to SD_PATH_MAX bytes: found; one byte over: not, and no
 * overflow on the way. */
static void test_long_paths(void **state)
{
	static char p[17][SD_PATH_MAX + 1];
	char name[SD_NAME_MAX];
	struct sd_entry e[17];
	struct fs_view *v;
	struct fs_attr a;
	size_t n = 0;

	memset(name, 'n', sizeof(name));
	for (int i = 0; i < 16; i++) {
		size_t len = i ? strlen(p[i - 1]) : 0;

		if (i)
			memcpy(p[i], p[i - 1], len);
		if (i)
			p[i][len++] = '/';
		memset(p[i] + len, 'a' + i, SD_NAME_MAX);
		e[n++] = ent_dir(p[i], 0755);
	}
	/* p[14] is 15 * 256 - 1 = 3839 bytes: a 255-byte name fits in it */
	memcpy(p[16], p[14], strlen(p[14]));
	p[16][strlen(p[14])] = '/';
	memcpy(p[16] + strlen(p[14]) + 1, name, SD_NAME_MAX);
	assert_int_equal(strlen(p[16]), SD_PATH_MAX - 1);
	e[n++] = ent_file(p[16], NULL, 0);
	assert_int_equal(fs_view_new(&v), 0);
	install(v, e, n, 1, NULL);
	assert_int_equal(walk(v, p[16], &a), 0);
	assert_int_equal(a.st.st_mode, S_IFREG | 0644);
	/* p[15] is 4095 bytes: no name fits under it */
	assert_int_equal(strlen(p[15]), SD_PATH_MAX - 1);
	assert_int_equal(walk(v, p[15], &a), 0);
	assert_int_equal(fs_view_lookup(v, a.ino, "x", 1, &a), -ENOENT);
	assert_int_equal(fs_view_lookup(v, a.ino, name, SD_NAME_MAX, &a),
			 -ENOENT);
	fs_view_free(v);
}

static void test_open(void **state)
{
	struct sd_chunkref c[5] = { ent_chunk(1, 100), ent_chunk(2, 65536),
				    ent_chunk(3, 7), ent_chunk(4, 1),
				    ent_chunk(5, 300) };
	struct sd_entry e[6];
	struct fs_view *v;
	struct fs_file f, g;
	uint64_t start = 0;

	e[0] = ent_file("f", c, 5);
	e[1] = ent_file("empty", NULL, 0);
	e[2] = ent_file("one", c + 2, 1);
	e[3] = ent_hard("hl", "f");
	e[4] = ent_dir("d", 0755);
	e[5] = ent_link("l", "f");
	assert_int_equal(fs_view_new(&v), 0);
	install(v, e, 6, 1, NULL);

	assert_int_equal(fs_view_open(v, ino_of(v, "f"), &f), 0);
	assert_int_equal(f.ino, ino_of(v, "f"));
	assert_int_equal(f.size, 100 + 65536 + 7 + 1 + 300);
	assert_int_equal(f.nchunks, 5);
	for (uint32_t i = 0; i < 5; i++) {
		assert_memory_equal(&f.chunks[i], &c[i], sizeof(c[i]));
		assert_int_equal(f.ends[i], start + c[i].len);
		/* first, last byte of each chunk; the bytes around them */
		assert_int_equal(fs_file_chunk_at(&f, start), i);
		assert_int_equal(fs_file_chunk_at(&f, start + c[i].len - 1), i);
		if (start)
			assert_int_equal(fs_file_chunk_at(&f, start - 1),
					 i - 1);
		start += c[i].len;
	}
	assert_int_equal(start, f.size);
	/* every offset of the small chunks, against a linear scan */
	for (uint64_t off = 65536; off < f.size; off++) {
		uint32_t k = 0;

		while (f.ends[k] <= off)
			k++;
		assert_int_equal(fs_file_chunk_at(&f, off), k);
	}

	/* through the other name of the link group: the same file */
	assert_int_equal(fs_view_open(v, ino_of(v, "hl"), &g), 0);
	assert_int_equal(g.ino, f.ino);
	assert_int_equal(g.nchunks, 5);
	assert_memory_equal(g.chunks, f.chunks, 5 * sizeof(*f.chunks));
	fs_file_free(&g);
	fs_file_free(&f);
	assert_null(f.chunks);
	fs_file_free(NULL);

	assert_int_equal(fs_view_open(v, ino_of(v, "one"), &f), 0);
	assert_int_equal(f.nchunks, 1);
	assert_int_equal(f.size, 7);
	assert_int_equal(fs_file_chunk_at(&f, 0), 0);
	assert_int_equal(fs_file_chunk_at(&f, 6), 0);
	fs_file_free(&f);
	assert_int_equal(fs_view_open(v, ino_of(v, "empty"), &f), 0);
	assert_int_equal(f.nchunks, 0);
	assert_int_equal(f.size, 0);
	fs_file_free(&f);

	memset(&f, 0, sizeof(f));
	assert_int_equal(fs_view_open(v, ino_of(v, "d"), &f), -EISDIR);
	assert_int_equal(fs_view_open(v, FS_VIEW_ROOT_INO, &f), -EISDIR);
	assert_int_equal(fs_view_open(v, ino_of(v, "l"), &f), -EINVAL);
	assert_int_equal(fs_view_open(v, 777, &f), -ENOENT);
	assert_null(f.chunks); /* untouched on failure */
	fs_view_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_root),
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_parents),
		cmocka_unit_test(test_readdir),
		cmocka_unit_test(test_readdir_offsets),
		cmocka_unit_test(test_readlink),
		cmocka_unit_test(test_long_paths),
		cmocka_unit_test(test_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
