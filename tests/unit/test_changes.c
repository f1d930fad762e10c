/* SPDX-License-Identifier: MIT */
/* Unit tests for fs_changes_walk() (fs/changes.h): an upper tree made by
 * hand in the on-disk format of fs/upper.h (whiteouts, opaque
 * directories) against a lower manifest, and the exact list of changes,
 * in path order, that `tether changes` shows. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "changes.h"
#include "entry_fixture.h"
#include "manifest.h"
#include "rmtree.h"
#include "upper.h"

/* ---- the lower version ---- */

static struct sd_chunkref chunks[4];

/* ---- the upper tree, made by hand ---- */

struct fx {
	char dir[64];
	int tree;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	for (unsigned i = 0; i < 4; i++)
		chunks[i] = ent_chunk(i + 1, 10 * (i + 1));
	snprintf(f->dir, sizeof(f->dir), "/tmp/tether-changes.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->tree = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->tree >= 0);
	/* What fs_upper_open() makes: a plain 0755 directory. */
	assert_int_equal(fchmod(f->tree, 0755), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	close(f->tree);
	assert_int_equal(util_rm_rf_at(AT_FDCWD, f->dir), 0);
	free(f);
	return 0;
}

static void mk_dir(struct fx *f, const char *p, mode_t mode)
{
	assert_int_equal(mkdirat(f->tree, p, 0700), 0);
	/* Not the umask's: the mode is what is compared. */
	assert_int_equal(fchmodat(f->tree, p, mode, 0), 0);
}

static void mk_file(struct fx *f, const char *p, const char *bytes)
{
	int fd = openat(f->tree, p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, bytes, strlen(bytes)),
			 (ssize_t)strlen(bytes));
	close(fd);
}

static void mk_link(struct fx *f, const char *p, const char *target)
{
	assert_int_equal(symlinkat(target, f->tree, p), 0);
}

/* A whiteout: a character device 0:0. Unprivileged since Linux 5.8;
 * anything older without CAP_MKNOD cannot run these tests. */
static void mk_whiteout(struct fx *f, const char *p)
{
	if (mknodat(f->tree, p, S_IFCHR | 0000, makedev(0, 0)) < 0) {
		if (errno == EPERM)
			skip();
		fail_msg("mknod %s: %s", p, strerror(errno));
	}
}

static void mk_opaque(struct fx *f, const char *p)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", f->dir, p);
	if (setxattr(path, FS_UPPER_OPAQUE_XATTR, "y", 1, 0) < 0) {
		/* A file system without user xattrs cannot hold an upper. */
		if (errno == ENOTSUP)
			skip();
		fail_msg("setxattr %s: %s", path, strerror(errno));
	}
}

/* ---- the list ---- */

struct got {
	char rows[64][160];
	size_t n;
	size_t stop_after; /* 0: never stop */
};

static const char *const kinds[] = { "?", "created", "modified", "deleted" };
static const char *const types[] = { "?", "file", "dir", "symlink", "?" };

static bool collect(void *opaque, const struct fs_change *c)
{
	struct got *g = opaque;
	char *s;
	int n;

	assert_true(g->n < 64);
	assert_true(c->kind >= FS_CHANGE_CREATED &&
		    c->kind <= FS_CHANGE_DELETED);
	assert_true(c->type >= SD_T_FILE && c->type <= SD_T_SYMLINK);
	assert_int_equal(strlen(c->path), c->path_len);
	s = g->rows[g->n];
	n = snprintf(s, 160, "%s %s %llu ", kinds[c->kind], types[c->type],
		     (unsigned long long)c->size);
	for (uint32_t i = 0; i < c->path_len && n < 150; i++) {
		unsigned char b = (unsigned char)c->path[i];

		n += snprintf(s + n, 160 - (size_t)n,
			      b > 0x20 && b < 0x7f ? "%c" : "\\x%02x", b);
	}
	g->n++;
	return !g->stop_after || g->n < g->stop_after;
}

static void assert_changes(struct fx *f, const struct sd_entry *low, size_t n,
			   const char *const *want, size_t nwant)
{
	struct sd_manifest m;
	struct got g = { .n = 0 };

	ent_build(&m, low, n, 1);
	assert_int_equal(fs_changes_walk(f->tree, &m, collect, &g), 0);
	for (size_t i = 0; i < g.n || i < nwant; i++) {
		if (i >= g.n)
			fail_msg("row %zu: missing, want \"%s\"", i, want[i]);
		if (i >= nwant)
			fail_msg("row %zu: \"%s\", want none", i, g.rows[i]);
		if (strcmp(g.rows[i], want[i]))
			fail_msg("row %zu: \"%s\", want \"%s\"", i, g.rows[i],
				 want[i]);
	}
	sd_manifest_free(&m);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- cases ---- */

static void test_nothing_changed(void **state)
{
	struct fx *f = *state;
	const struct sd_entry low[] = { ent_dir("d", 0755),
					ent_file("d/a", chunks, 1) };

	assert_changes(f, low, N(low), NULL, 0);
	/* A directory copied up with its mode, to hold a whiteout of
	 * something the lower never had: still nothing. */
	mk_dir(f, "d", 0755);
	mk_whiteout(f, "d/never");
	mk_whiteout(f, "nothing");
	assert_changes(f, low, N(low), NULL, 0);
}

static void test_created_file(void **state)
{
	struct fx *f = *state;
	const struct sd_entry low[] = { ent_dir("d", 0755),
					ent_file("d/a", chunks, 1) };
	static const char *const want[] = {
		"created file 3 d/new",
		"created file 0 fifo",
		"created file 5 n.txt",
	};

	mk_file(f, "n.txt", "hello");
	mk_dir(f, "d", 0755);
	mk_file(f, "d/new", "abc");
	/* A fifo (or any special file) is listed as a file. */
	assert_int_equal(mkfifoat(f->tree, "fifo", 0644), 0);
	assert_changes(f, low, N(low), want, N(want));
}

static void test_created_dir(void **state)
{
	struct fx *f = *state;
	const struct sd_entry low[] = { ent_file("top", chunks, 1) };
	static const char *const want[] = {
		"created dir 0 new",
		"created file 2 new/a",
		"created symlink 4 new/etc",
		"created symlink 1 new/l",
		"created dir 0 new/sub",
		"created dir 0 new/sub/deeper",
		"created file 1 new/sub/deeper/b",
	};

	mk_dir(f, "new", 0755);
	mk_file(f, "new/a", "aa");
	mk_link(f, "new/l", "a");
	/* A symlink is data: never followed, even to a directory. */
	mk_link(f, "new/etc", "/etc");
	mk_dir(f, "new/sub", 0700);
	mk_dir(f, "new/sub/deeper", 0755);
	mk_file(f, "new/sub/deeper/b", "b");
	assert_changes(f, low, N(low), want, N(want));
}

static void test_modified_file(void **state)
{
	struct fx *f = *state;
	const struct sd_entry low[] = {
		ent_file("f", chunks, 2), ent_file("g", chunks, 3),
		ent_hard("h", "f"),	  ent_link("l", "f"),
		ent_link("l2", "g"),	  ent_file("same", chunks, 1),
		ent_dir("s", 0755),	  ent_file("s/x", chunks, 4),
	};
	static const char *const want[] = {
		"modified file 3 f",	"modified file 0 h",
		"modified file 1 l",	"modified symlink 4 l2",
		"modified file 12 s/x",
	};

	/* Copied up and written; a hard link's own name copied up; a
	 * symlink replaced by a file; a symlink retargeted (the length is
	 * the view's). "same" was never copied up: not a change. */
	mk_file(f, "f", "xyz");
	mk_file(f, "h", "");
	mk_file(f, "l", "z");
	mk_link(f, "l2", "same");
	mk_dir(f, "s", 0755);
	mk_file(f, "s/x", "twelve bytes");
	assert_changes(f, low, N(low), want, N(want));
}

static void test_whiteout_of_file(void **state)
{
	struct fx *f = *state;
	const struct sd_entry low[] = {
		ent_file("f", chunks, 2),
		ent_file("g", chunks, 3),
		ent_hard("h", "g"),
		ent_link("l", "target"),
	};
	static const char *const want[] = {
		"deleted file 30 f",
		"deleted file 60 h",
		"deleted symlink 6 l",
	};

	mk_whiteout(f, "f");
	/* A hard link has its primary's type and size. */
	mk_whiteout(f, "h");
	mk_whiteout(f, "l");
	assert_changes(f, low, N(low), want, N(want));
}

static void test_whiteout_of_dir(void **state)
{
	struct fx *f = *state;
	const struct sd_entry low[] = {
		ent_dir("d", 0755),	      ent_file("d.txt", chunks, 1),
		ent_file("d/a", chunks, 2),   ent_dir("d/s", 0700),
		ent_file("d/s/b", chunks, 3), ent_hard("d/s/h", "d/a"),
		ent_file("d0", chunks, 1),    ent_file("e", chunks, 1),
	};
	/* Every entry below, each its own row; "d.txt" and "d0" sort on
	 * either side of the subtree and stay. */
	static const char *const want[] = {
		"deleted dir 0 d",	 "deleted file 30 d/a",
		"deleted dir 0 d/s",	 "deleted file 60 d/s/b",
		"deleted file 30 d/s/h",
	};

	mk_whiteout(f, "d");
	assert_changes(f, low, N(low), want, N(want));
}

static void test_opaque_dir(void **state)
{
	struct fx *f = *state;
	const struct sd_entry low[] = {
		ent_dir("d", 0755),	      ent_file("d/a", chunks, 1),
		ent_file("d/b", chunks, 2),   ent_dir("d/s", 0755),
		ent_file("d/s/c", chunks, 3), ent_dir("d/t", 0755),
		ent_file("d/t/x", chunks, 1), ent_file("d/w", chunks, 1),
		ent_dir("keep", 0755),	      ent_file("keep/k", chunks, 1),
	};
	static const char *const want[] = {
		"modified dir 0 d",	 "deleted file 10 d/a",
		"modified file 2 d/b",	 "created file 3 d/n",
		"deleted file 60 d/s/c", "deleted dir 0 d/t",
		"deleted file 10 d/t/x", "deleted file 10 d/w",
	};

	/* rm -rf d; mkdir -p d/s; echo .. > d/b d/n: the new d hides the
	 * lower one, so what it does not name is deleted, d/s too (it is
	 * below an opaque directory). A whiteout in it of a lower entry
	 * counts once. */
	mk_dir(f, "d", 0755);
	mk_opaque(f, "d");
	mk_file(f, "d/b", "bb");
	mk_file(f, "d/n", "nnn");
	mk_dir(f, "d/s", 0755);
	mk_whiteout(f, "d/w");
	assert_changes(f, low, N(low), want, N(want));
}

static void test_file_over_dir(void **state)
{
	struct fx *f = *state;
	const struct sd_entry low[] = {
		ent_dir("d", 0755),	  ent_file("d/a", chunks, 1),
		ent_dir("d/s", 0755),	  ent_file("d/s/b", chunks, 2),
		ent_dir("e", 0755),	  ent_file("e/x", chunks, 1),
		ent_file("f", chunks, 1),
	};
	static const char *const want[] = {
		"modified file 4 d",	"deleted file 10 d/a",
		"deleted dir 0 d/s",	"deleted file 30 d/s/b",
		"modified symlink 1 e", "deleted file 10 e/x",
		"modified dir 0 f",	"created file 1 f/y",
	};

	mk_file(f, "d", "file");
	mk_link(f, "e", "d");
	/* The other way: a directory where the lower has a file. */
	mk_dir(f, "f", 0755);
	mk_opaque(f, "f");
	mk_file(f, "f/y", "y");
	assert_changes(f, low, N(low), want, N(want));
}

static void test_mode_of_merged_dir(void **state)
{
	struct fx *f = *state;
	const struct sd_entry low[] = {
		ent_dir("a", 0755), ent_file("a/x", chunks, 1),
		ent_dir("b", 0755), ent_file("b/y", chunks, 1),
		ent_dir("c", 0700),
	};
	static const char *const want[] = {
		"modified dir 0 a",
		"created file 1 b/new",
		"modified dir 0 c",
	};

	/* chmod 700 a: the directory only; its lower entries stay. A
	 * directory copied up to hold a new file is not a change itself. */
	mk_dir(f, "a", 0700);
	mk_dir(f, "b", 0755);
	mk_file(f, "b/new", "n");
	mk_dir(f, "c", 01700);
	assert_changes(f, low, N(low), want, N(want));
}

static void test_odd_names_and_order(void **state)
{
	struct fx *f = *state;
	const struct sd_entry low[] = {
		ent_dir("a", 0755),
		ent_file("a/b", chunks, 1),
		ent_file("a/c", chunks, 1),
	};
	/* memcmp order of whole paths, bytes unsigned: '-' 0x2d < '.' 0x2e
	 * < '/' 0x2f, so a directory's subtree does not follow it. */
	static const char *const want[] = {
		"created file 1 \\x01ctl",   "modified dir 0 a",
		"created file 1 a-",	     "created file 1 a.b",
		"modified file 1 a/b",	     "deleted file 10 a/c",
		"created file 1 a/\\xff",    "created file 1 sp\\x20ace",
		"created file 1 \\xc3\\xa9",
	};

	mk_dir(f, "a", 0750);
	mk_file(f, "a/b", "B");
	mk_whiteout(f, "a/c");
	mk_file(f, "a/\xff", "F");
	mk_file(f, "a-", "-");
	mk_file(f, "a.b", ".");
	mk_file(f,
		"\x01"
		"ctl",
		"c");
	mk_file(f, "sp ace", " ");
	mk_file(f, "\xc3\xa9", "e");
	assert_changes(f, low, N(low), want, N(want));
}

static void test_opaque_root(void **state)
{
	struct fx *f = *state;
	const struct sd_entry low[] = {
		ent_dir("a", 0755),
		ent_file("a/x", chunks, 1),
		ent_file("b", chunks, 1),
		ent_file("c", chunks, 1),
	};
	static const char *const want[] = {
		"deleted dir 0 a",
		"deleted file 10 a/x",
		"modified file 1 b",
		"deleted file 10 c",
	};

	mk_opaque(f, ".");
	mk_file(f, "b", "b");
	assert_changes(f, low, N(low), want, N(want));
}

/* fn returning false ends the walk, which then returns 0; a lower that is
 * not sealed is refused. */
static void test_stop_and_refusals(void **state)
{
	struct fx *f = *state;
	const struct sd_entry low[] = { ent_file("a", chunks, 1) };
	struct sd_manifest m;
	struct got g = { .stop_after = 2 };

	mk_file(f, "x", "1");
	mk_file(f, "y", "2");
	mk_file(f, "z", "3");
	ent_build(&m, low, N(low), 1);
	assert_int_equal(fs_changes_walk(f->tree, &m, collect, &g), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.rows[1], "created file 1 y");
	m.sealed = false;
	assert_int_equal(fs_changes_walk(f->tree, &m, collect, &g), -EINVAL);
	m.sealed = true;
	assert_int_equal(fs_changes_walk(-1, &m, collect, &g), -EBADF);
	sd_manifest_free(&m);
}

/* A path past SD_PATH_MAX cannot be listed: the walk says so rather than
 * leave it out. */
static void test_path_too_long(void **state)
{
	struct fx *f = *state;
	const struct sd_entry low[] = { ent_file("a", chunks, 1) };
	struct sd_manifest m;
	struct got g = { .n = 0 };
	char name[256];
	int fd = dup(f->tree), next;

	assert_true(fd >= 0);
	memset(name, 'n', 200);
	name[200] = '\0';
	/* 21 levels of 201 bytes: 4221 > 4096. */
	for (int i = 0; i < 21; i++) {
		assert_int_equal(mkdirat(fd, name, 0755), 0);
		next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	close(fd);
	ent_build(&m, low, N(low), 1);
	assert_int_equal(fs_changes_walk(f->tree, &m, collect, &g),
			 -ENAMETOOLONG);
	sd_manifest_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nothing_changed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_created_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_created_dir, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_modified_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_whiteout_of_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_whiteout_of_dir, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_opaque_dir, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_file_over_dir, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mode_of_merged_dir, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_odd_names_and_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_opaque_root, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stop_and_refusals, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_path_too_long, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
