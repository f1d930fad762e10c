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

/* What a reader gets by following views from off, up to max bytes. */
static size_t gather(const struct exec_ring *r, uint64_t off, uint8_t *dst,
		     size_t max, uint64_t *from)
{
	size_t total = 0;
	const uint8_t *p;
	uint64_t at;
	size_t n;

	n = exec_ring_view(r, off, max, &p, from);
	at = *from;
	while (n) {
		memcpy(dst + total, p, n);
		total += n;
		at += n;
		n = exec_ring_view(r, at, max - total, &p, &at);
	}
	return total;
}

static void test_view_stops_at_wrap(void **state)
{
	struct exec_ring r;
	const uint8_t *p;
	uint64_t from;

	assert_int_equal(exec_ring_init(&r, 8), 0);
	exec_ring_write(&r, "abcdefghij", 10); /* holds "cdefghij" */
	/* Physical layout: "ij" at 0-1, "cdefgh" at 2-7. */
	assert_int_equal(exec_ring_view(&r, 3, 100, &p, &from), 5);
	assert_int_equal(from, 3);
	assert_memory_equal(p, "defgh", 5);
	assert_int_equal(exec_ring_view(&r, 8, 100, &p, &from), 2);
	assert_memory_equal(p, "ij", 2);
	assert_int_equal(exec_ring_view(&r, 10, 100, &p, &from), 0);
	exec_ring_fini(&r);
}

static void test_write_copy_wrap(void **state)
{
	struct exec_ring r;
	uint8_t out[16];
	uint64_t from;
	size_t n;

	assert_int_equal(exec_ring_init(&r, 8), 0);
	exec_ring_write(&r, "abcdef", 6);
	n = gather(&r, 2, out, sizeof(out), &from);
	assert_int_equal(n, 4);
	assert_int_equal(from, 2);
	assert_memory_equal(out, "cdef", 4);

	/* Wraps: "abcdefghij" keeps the last 8 bytes, "cdefghij". */
	exec_ring_write(&r, "ghij", 4);
	assert_int_equal(r.start, 2);
	assert_int_equal(r.end, 10);
	n = gather(&r, 0, out, sizeof(out), &from);
	assert_int_equal(from, 2); /* clamped up: bytes 0-1 were dropped */
	assert_int_equal(n, 8);
	assert_memory_equal(out, "cdefghij", 8);

	/* A copy capped by max, starting mid-wrap. */
	n = gather(&r, 7, out, 2, &from);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "hi", 2);

	/* At or past the end: nothing, from clamped to end. */
	n = gather(&r, 99, out, sizeof(out), &from);
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
	assert_int_equal(gather(&r, 0, out, sizeof(out), &from), 4);
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
		cmocka_unit_test(test_view_stops_at_wrap),
		cmocka_unit_test(test_write_larger_than_cap),
		cmocka_unit_test(test_write_ptr_commit),
		cmocka_unit_test(test_fifo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
