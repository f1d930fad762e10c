/* SPDX-License-Identifier: MIT */
/* Unit tests for the FUSE view's inode table (fs/view.h) under
 * concurrency: readers that look up, list, read links and open files
 * while a writer installs version after version. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "entry_fixture.h"
#include "view.h"

/* ---- readers racing a writer ---- */

#define RACE_VERSIONS 50
#define RACE_READERS  3

struct race {
	struct fs_view *v;
	atomic_bool stop;
	atomic_uint bad;
	atomic_uint loops;
	char why[RACE_READERS][128];
};

struct reader {
	struct race *x;
	int id;
	struct fs_view *v;
	unsigned n;
};

static void race_bad(struct reader *rd, const char *what, int r)
{
	if (atomic_fetch_add(&rd->x->bad, 1) == 0)
		snprintf(rd->x->why[rd->id], sizeof(rd->x->why[0]), "%s: %d",
			 what, r);
}

/* Each listed name, looked up from inside the callback: the view must
 * answer while readdir runs. What it answers may be the next version. */
static bool race_dirent(void *opaque, const struct fs_dirent *d)
{
	struct reader *rd = opaque;
	struct fs_attr a;
	int r = fs_view_getattr(rd->v, d->ino, &a);

	if (r && r != -ENOENT)
		race_bad(rd, "getattr in readdir", r);
	if (r == 0 && (a.st.st_mode & S_IFMT) != d->type)
		race_bad(rd, "type", (int)a.st.st_mode);
	rd->n++;
	return true;
}

static void *race_reader(void *arg)
{
	struct reader *rd = arg;
	struct fs_view *v = rd->x->v;
	uint64_t last = 0;

	rd->v = v;
	do {
		struct fs_attr a, d;
		struct fs_file f;
		char buf[64];
		uint64_t now = fs_view_version(v), files, bytes;
		ssize_t k;
		int r;

		if (now < last)
			race_bad(rd, "version went back", (int)now);
		last = now;
		r = fs_view_readdir(v, FS_VIEW_ROOT_INO, 0, race_dirent, rd);
		if (r)
			race_bad(rd, "readdir root", r);
		r = fs_view_lookup(v, FS_VIEW_ROOT_INO, "dir", 3, &d);
		if (r == 0) {
			r = fs_view_readdir(v, d.ino, 0, race_dirent, rd);
			if (r && r != -ENOENT)
				race_bad(rd, "readdir dir", r);
			r = fs_view_lookup(v, d.ino, "f1", 2, &a);
			if (r && r != -ENOENT)
				race_bad(rd, "lookup f1", r);
		} else if (r != -ENOENT) {
			race_bad(rd, "lookup dir", r);
		}
		r = fs_view_lookup(v, FS_VIEW_ROOT_INO, "toggle", 6, &a);
		if (r == 0) {
			r = fs_view_readdir(v, a.ino, 1, race_dirent, rd);
			if (r && r != -ENOENT && r != -ENOTDIR)
				race_bad(rd, "readdir toggle", r);
		}
		r = fs_view_lookup(v, FS_VIEW_ROOT_INO, "link", 4, &a);
		if (r == 0) {
			k = fs_view_readlink(v, a.ino, buf, sizeof(buf));
			if (k < 0 && k != -ENOENT)
				race_bad(rd, "readlink", (int)k);
			if (k > 0 && buf[0] != 't')
				race_bad(rd, "readlink target", buf[0]);
		}
		r = fs_view_lookup(v, FS_VIEW_ROOT_INO, "a0", 2, &a);
		if (r == 0 && fs_view_open(v, a.ino, &f) == 0) {
			if (f.size &&
			    fs_file_chunk_at(&f, f.size - 1) != f.nchunks - 1)
				race_bad(rd, "chunk_at", (int)f.nchunks);
			fs_file_free(&f);
		}
		fs_view_counts(v, &files, &bytes);
		atomic_fetch_add(&rd->x->loops, 1);
	} while (!atomic_load(&rd->x->stop));
	return NULL;
}

static void count_inval(void *opaque, enum fs_inval kind, uint64_t ino,
			uint64_t parent, const char *name, size_t len)
{
	(*(unsigned *)opaque)++;
}

static void test_race(void **state)
{
	static char names[10][8], targets[RACE_VERSIONS + 1][8];
	struct race *x = calloc(1, sizeof(*x));
	struct reader rd[RACE_READERS];
	pthread_t t[RACE_READERS];
	struct sd_chunkref c[4] = { ent_chunk(1, 10), ent_chunk(2, 20),
				    ent_chunk(3, 30), ent_chunk(4, 40) };
	unsigned ninval = 0;

	assert_non_null(x);
	assert_int_equal(fs_view_new(&x->v), 0);
	for (int i = 0; i < RACE_READERS; i++) {
		rd[i] = (struct reader){ .x = x, .id = i };
		assert_int_equal(
			pthread_create(&t[i], NULL, race_reader, &rd[i]), 0);
	}
	for (int k = 1; k <= RACE_VERSIONS; k++) {
		struct sd_entry e[20];
		struct sd_manifest m;
		size_t n = 0;

		e[n++] = ent_file("a0", c, 1 + (uint32_t)k % 4);
		e[n++] = ent_dir("dir", 0755);
		for (int i = 0; i < 10; i++) {
			snprintf(names[i], sizeof(names[i]), "dir/f%d", i);
			if ((i + k) % 3)
				e[n++] = ent_file(names[i], c + i % 4, 1);
		}
		if (k % 2)
			e[n++] = ent_hard("hl", "a0");
		snprintf(targets[k], sizeof(targets[k]), "t%d", k);
		e[n++] = ent_link("link", targets[k]);
		if (k % 2) {
			e[n++] = ent_file("toggle", c, 1);
		} else {
			e[n++] = ent_dir("toggle", 0755);
			e[n++] = ent_file("toggle/in", c, 1);
		}
		ent_build(&m, e, n, (uint64_t)k);
		assert_int_equal(fs_view_set(x->v, &m, count_inval, &ninval),
				 0);
		sd_manifest_free(&m);
	}
	atomic_store(&x->stop, true);
	for (int i = 0; i < RACE_READERS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < RACE_READERS; i++)
		if (x->why[i][0])
			fail_msg("reader %d: %s", i, x->why[i]);
	assert_int_equal(atomic_load(&x->bad), 0);
	assert_true(atomic_load(&x->loops) >= RACE_READERS);
	assert_true(ninval > 0);
	print_message("%u reader loops, %u invalidations\n",
		      atomic_load(&x->loops), ninval);
	assert_int_equal(fs_view_version(x->v), RACE_VERSIONS);
	fs_view_free(x->v);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_race),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
