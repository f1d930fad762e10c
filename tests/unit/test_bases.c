/* SPDX-License-Identifier: MIT */
/* Unit tests for a view's bases (fs/bases.h): the first note of a path
 * wins, a forgotten path takes a new note, everything survives a reopen,
 * a record cut short by a crash is dropped (and the file cut back), a
 * record that cannot be one is refused, and a clear empties the file. */
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
#include <unistd.h>

#include <cmocka.h>

#include "bases.h"

static char file[64];

static int setup(void **state)
{
	int fd;

	(void)state;
	snprintf(file, sizeof(file), "/tmp/test-bases.XXXXXX");
	fd = mkstemp(file);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(file);
	return 0;
}

static struct sd_id id_of(uint8_t seed)
{
	struct sd_id id;

	memset(id.b, seed, sizeof(id.b));
	return id;
}

/* The base of path: 1 had, 0 not had, -1 none. */
static int base_of(struct fs_bases *b, const char *path, uint8_t *seed)
{
	struct sd_id id;
	bool had;

	if (fs_bases_get(b, path, strlen(path), &had, &id) != 1)
		return -1;
	*seed = had ? id.b[0] : 0;
	return had;
}

static void test_first_note_wins_and_persists(void **state)
{
	struct fs_bases *b;
	struct sd_id a = id_of(7), c = id_of(9);
	uint8_t seed;

	(void)state;
	assert_int_equal(fs_bases_open(file, &b), 0);
	assert_int_equal(base_of(b, "x", &seed), -1);
	assert_int_equal(fs_bases_note(b, "x", 1, &a), 0);
	assert_int_equal(fs_bases_note(b, "x", 1, &c), 0);
	assert_int_equal(fs_bases_note(b, "dir/y", 5, NULL), 0);
	assert_int_equal(base_of(b, "x", &seed), 1);
	assert_int_equal(seed, 7);
	assert_int_equal(base_of(b, "dir/y", &seed), 0);
	/* Forgotten: the next note is the base. */
	assert_int_equal(fs_bases_forget(b, "x", 1), 0);
	assert_int_equal(base_of(b, "x", &seed), -1);
	assert_int_equal(fs_bases_note(b, "x", 1, &c), 0);
	fs_bases_free(b);

	assert_int_equal(fs_bases_open(file, &b), 0);
	assert_int_equal(base_of(b, "x", &seed), 1);
	assert_int_equal(seed, 9);
	assert_int_equal(base_of(b, "dir/y", &seed), 0);
	assert_int_equal(fs_bases_note(b, "", 0, &a), -EINVAL);
	fs_bases_free(b);
}

static void test_many_paths(void **state)
{
	struct fs_bases *b;
	char p[32];
	uint8_t seed;

	(void)state;
	assert_int_equal(fs_bases_open(file, &b), 0);
	for (int i = 0; i < 5000; i++) {
		struct sd_id id = id_of((uint8_t)i);

		snprintf(p, sizeof(p), "d%d/f%d", i % 17, i);
		assert_int_equal(fs_bases_note(b, p, strlen(p), &id), 0);
	}
	fs_bases_free(b);
	assert_int_equal(fs_bases_open(file, &b), 0);
	for (int i = 0; i < 5000; i++) {
		snprintf(p, sizeof(p), "d%d/f%d", i % 17, i);
		assert_int_equal(base_of(b, p, &seed), 1);
		assert_int_equal(seed, (uint8_t)i);
	}
	fs_bases_free(b);
}

static void test_torn_record_dropped(void **state)
{
	struct fs_bases *b;
	struct sd_id a = id_of(3);
	struct stat st;
	uint8_t seed;
	off_t whole;

	(void)state;
	assert_int_equal(fs_bases_open(file, &b), 0);
	assert_int_equal(fs_bases_note(b, "kept", 4, &a), 0);
	assert_int_equal(fs_bases_note(b, "torn/path", 9, &a), 0);
	fs_bases_free(b);
	assert_int_equal(stat(file, &st), 0);
	whole = st.st_size;
	/* A crash in the middle of the last record. */
	assert_int_equal(truncate(file, whole - 3), 0);
	assert_int_equal(fs_bases_open(file, &b), 0);
	assert_int_equal(base_of(b, "kept", &seed), 1);
	assert_int_equal(base_of(b, "torn/path", &seed), -1);
	fs_bases_free(b);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_size, whole - (21 + 9));
}

static void test_garbage_refused_and_clear(void **state)
{
	static const uint8_t bad[25] = { 4, 0, 0, 0, 7 }; /* had = 7 */
	struct fs_bases *b;
	struct sd_id a = id_of(1);
	struct stat st;
	uint8_t seed;
	int fd;

	(void)state;
	fd = open(file, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, bad, sizeof(bad)), (ssize_t)sizeof(bad));
	close(fd);
	assert_int_equal(fs_bases_open(file, &b), -EBADMSG);

	assert_int_equal(truncate(file, 0), 0);
	assert_int_equal(fs_bases_open(file, &b), 0);
	assert_int_equal(fs_bases_note(b, "a", 1, &a), 0);
	assert_int_equal(fs_bases_clear(b), 0);
	assert_int_equal(base_of(b, "a", &seed), -1);
	fs_bases_free(b);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_size, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_first_note_wins_and_persists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_paths, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_torn_record_dropped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_garbage_refused_and_clear,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
