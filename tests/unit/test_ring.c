/* SPDX-License-Identifier: MIT */
/* Unit tests for the output ring: offsets stay absolute across wrap and
 * overwrite, copies clamp to what is held, FIFO use never overwrites. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ring.h"

static void test_write_copy_wrap(void **state)
{
	struct exec_ring r;
	uint8_t out[16];
	uint64_t from;
	size_t n;

	assert_int_equal(exec_ring_init(&r, 8), 0);
	exec_ring_write(&r, "abcdef", 6);
	n = exec_ring_copy(&r, 2, out, sizeof(out), &from);
	assert_int_equal(n, 4);
	assert_int_equal(from, 2);
	assert_memory_equal(out, "cdef", 4);

	/* Wraps: "abcdefghij" keeps the last 8 bytes, "cdefghij". */
	exec_ring_write(&r, "ghij", 4);
	assert_int_equal(r.start, 2);
	assert_int_equal(r.end, 10);
	n = exec_ring_copy(&r, 0, out, sizeof(out), &from);
	assert_int_equal(from, 2); /* clamped up: bytes 0-1 were dropped */
	assert_int_equal(n, 8);
	assert_memory_equal(out, "cdefghij", 8);

	/* A copy capped by max, starting mid-wrap. */
	n = exec_ring_copy(&r, 7, out, 2, &from);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "hi", 2);

	/* At or past the end: nothing, from clamped to end. */
	n = exec_ring_copy(&r, 99, out, sizeof(out), &from);
	assert_int_equal(n, 0);
	assert_int_equal(from, 10);
	exec_ring_fini(&r);
}

static void test_write_larger_than_cap(void **state)
{
	struct exec_ring r;
	uint8_t out[8];
	uint64_t from;

	assert_int_equal(exec_ring_init(&r, 4), 0);
	exec_ring_write(&r, "0123456789", 10);
	assert_int_equal(r.end, 10);
	assert_int_equal(r.start, 6);
	assert_int_equal(exec_ring_copy(&r, 0, out, sizeof(out), &from), 4);
	assert_int_equal(from, 6);
	assert_memory_equal(out, "6789", 4);
	exec_ring_fini(&r);
}

static void test_write_ptr_commit(void **state)
{
	struct exec_ring r;
	uint8_t *p;
	size_t n;

	assert_int_equal(exec_ring_init(&r, 8), 0);
	exec_ring_write(&r, "abcde", 5);
	/* Contiguous region runs to the physical end only. */
	n = exec_ring_write_ptr(&r, 100, &p);
	assert_int_equal(n, 3);
	memcpy(p, "fgh", 3);
	exec_ring_commit(&r, 3);
	n = exec_ring_write_ptr(&r, 2, &p);
	assert_int_equal(n, 2);
	assert_ptr_equal(p, r.buf);
	exec_ring_fini(&r);
}

static void test_fifo(void **state)
{
	struct exec_ring r;
	const uint8_t *p;
	size_t n;

	assert_int_equal(exec_ring_init(&r, 8), 0);
	assert_int_equal(exec_ring_room(&r), 8);
	exec_ring_write(&r, "abcdef", 6);
	assert_int_equal(exec_ring_room(&r), 2);
	n = exec_ring_read_ptr(&r, &p);
	assert_int_equal(n, 6);
	exec_ring_consume(&r, 5);
	assert_int_equal(exec_ring_room(&r), 7);
	exec_ring_write(&r, "ghijkl", 6); /* wraps */
	n = exec_ring_read_ptr(&r, &p);
	assert_int_equal(n, 3); /* "fgh" up to the physical end */
	assert_memory_equal(p, "fgh", 3);
	exec_ring_consume(&r, 3);
	n = exec_ring_read_ptr(&r, &p);
	assert_int_equal(n, 4);
	assert_memory_equal(p, "ijkl", 4);
	exec_ring_consume(&r, 4);
	assert_int_equal(exec_ring_read_ptr(&r, &p), 0);
	exec_ring_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_copy_wrap),
		cmocka_unit_test(test_write_larger_than_cap),
		cmocka_unit_test(test_write_ptr_commit),
		cmocka_unit_test(test_fifo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
