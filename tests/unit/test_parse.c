/* SPDX-License-Identifier: MIT */
/* Unit tests for checked number, size, duration and signal parsing. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parse.h"

static void test_u64_u32(void **state)
{
	uint64_t v;
	uint32_t w;

	assert_int_equal(util_parse_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(util_parse_u64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(util_parse_u64("18446744073709551616", &v), -ERANGE);
	assert_int_equal(util_parse_u64("-1", &v), -EINVAL);
	assert_int_equal(util_parse_u64(" 1", &v), -EINVAL);
	assert_int_equal(util_parse_u64("1x", &v), -EINVAL);
	assert_int_equal(util_parse_u64("", &v), -EINVAL);
	assert_int_equal(util_parse_u32("4294967295", &w), 0);
	assert_true(w == UINT32_MAX);
	assert_int_equal(util_parse_u32("4294967296", &w), -ERANGE);
}

static void test_int(void **state)
{
	int v;

	assert_int_equal(util_parse_int("-42", &v), 0);
	assert_int_equal(v, -42);
	assert_int_equal(util_parse_int("2147483648", &v), -ERANGE);
	assert_int_equal(util_parse_int("12 ", &v), -EINVAL);
}

static void test_seconds(void **state)
{
	uint32_t ms;

	assert_int_equal(util_parse_seconds_ms("30", &ms), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(util_parse_seconds_ms("1.5", &ms), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(util_parse_seconds_ms("0.0019", &ms), 0);
	assert_int_equal(ms, 1); /* digits past milliseconds are dropped */
	assert_int_equal(util_parse_seconds_ms("2592000", &ms), 0);
	assert_int_equal(util_parse_seconds_ms("2592000.5", &ms), -ERANGE);
	assert_int_equal(util_parse_seconds_ms("2592001", &ms), -ERANGE);
	assert_int_equal(util_parse_seconds_ms("1.", &ms), -EINVAL);
	assert_int_equal(util_parse_seconds_ms(".5", &ms), -EINVAL);
	assert_int_equal(util_parse_seconds_ms("1s", &ms), -EINVAL);
	assert_int_equal(util_parse_seconds_ms("-1", &ms), -EINVAL);
}

static void test_size(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{ "0", 0 },
		{ "512", 512 },
		{ "4k", 4096 },
		{ "256m", 256u << 20 },
		{ "256M", 256u << 20 },
		{ "1G", 1u << 30 },
		{ "2GiB", 2ull << 30 },
		{ "64mb", 64u << 20 },
		{ "1t", 1ull << 40 },
		{ "7b", 7 },
	};
	static const char *const bad[] = { "",	 "m",	"1.5g", "-1",
					   "1x", "1mm", "1 m",	"1kib2" };
	uint64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(util_parse_size(ok[i].s, &v), 0);
		assert_int_equal(v, ok[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(util_parse_size(bad[i], &v), -EINVAL);
	assert_int_equal(util_parse_size("18446744073709551615", &v), 0);
	assert_int_equal(util_parse_size("18446744073709551616", &v), -ERANGE);
	assert_int_equal(util_parse_size("17179869184g", &v), -ERANGE);
}

static void test_milli(void **state)
{
	uint64_t v;

	assert_int_equal(util_parse_milli("1.5", 10, &v), 0);
	assert_int_equal(v, 1500);
	assert_int_equal(util_parse_milli("0.001", 10, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(util_parse_milli("10", 10, &v), 0);
	assert_int_equal(v, 10000);
	assert_int_equal(util_parse_milli("10.5", 10, &v), -ERANGE);
	assert_int_equal(util_parse_milli("11", 10, &v), -ERANGE);
	assert_int_equal(util_parse_milli(".5", 10, &v), -EINVAL);
	assert_int_equal(util_parse_milli("1.", 10, &v), -EINVAL);
}

static void test_signal(void **state)
{
	int s;

	assert_int_equal(util_parse_signal("9", &s), 0);
	assert_int_equal(s, 9);
	assert_int_equal(util_parse_signal("KILL", &s), 0);
	assert_int_equal(s, SIGKILL);
	assert_int_equal(util_parse_signal("sigterm", &s), 0);
	assert_int_equal(s, SIGTERM);
	assert_int_equal(util_parse_signal("0", &s), -EINVAL);
	assert_int_equal(util_parse_signal("65", &s), -EINVAL);
	assert_int_equal(util_parse_signal("SIGNOPE", &s), -EINVAL);
	assert_int_equal(util_parse_signal("", &s), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64_u32), cmocka_unit_test(test_int),
		cmocka_unit_test(test_seconds), cmocka_unit_test(test_signal),
		cmocka_unit_test(test_size),	cmocka_unit_test(test_milli),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
