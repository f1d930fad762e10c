/* SPDX-License-Identifier: MIT */
/* PAIR and PAIRED (transport/codec_pair.c): round trips, and what the
 * decoder refuses: a MAC of the wrong size, an empty key or certificate,
 * a token id that is no name. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"

static const uint8_t mac[TP_PAIR_MAC] = { 1, 2, 3, 4, 5, 6, 7, 8 };

static struct tp_bytes b(const void *p, size_t n)
{
	return (struct tp_bytes){ .ptr = p, .len = (uint32_t)n };
}

static int round_trip(const struct tp_msg *m, struct tp_msg *out,
		      uint8_t **frame)
{
	ssize_t n = tp_msg_encode(m, frame);
	struct tp_decode_err err;

	if (n < 0)
		return (int)n;
	return tp_msg_decode(*frame, (size_t)n, out, &err);
}

static void test_pair(void **state)
{
	struct tp_msg m = { .type = TP_PAIR }, d;
	uint8_t *frame = NULL;

	m.pair.token = b("k3x9", 4);
	m.pair.key = b("\x30\x59\x30", 3);
	m.pair.mac = b(mac, sizeof(mac));
	assert_int_equal(round_trip(&m, &d, &frame), 0);
	assert_int_equal(d.type, TP_PAIR);
	assert_int_equal(d.pair.token.len, 4);
	assert_memory_equal(d.pair.token.ptr, "k3x9", 4);
	assert_int_equal(d.pair.key.len, 3);
	assert_memory_equal(d.pair.mac.ptr, mac, sizeof(mac));
	free(frame);
	frame = NULL;

	/* The encoder refuses what the decoder would. */
	m.pair.mac = b(mac, 31);
	assert_int_equal(tp_msg_encode(&m, &frame), -EINVAL);
	m.pair.mac = b(mac, sizeof(mac));
	m.pair.token = b("../x", 4);
	assert_true(round_trip(&m, &d, &frame) < 0);
	free(frame);
	frame = NULL;
	m.pair.token = b("k3x9", 4);
	m.pair.key = b("", 0);
	assert_true(round_trip(&m, &d, &frame) < 0);
	free(frame);
}

static void test_paired(void **state)
{
	struct tp_msg m = { .type = TP_PAIRED }, d;
	uint8_t ca[300], cert[TP_PAIR_DER_MAX + 1];
	uint8_t *frame = NULL;

	memset(ca, 0xca, sizeof(ca));
	memset(cert, 0xce, sizeof(cert));
	m.paired.ca = b(ca, sizeof(ca));
	m.paired.cert = b(cert, 100);
	m.paired.mac = b(mac, sizeof(mac));
	assert_int_equal(round_trip(&m, &d, &frame), 0);
	assert_int_equal(d.paired.ca.len, sizeof(ca));
	assert_int_equal(d.paired.cert.len, 100);
	assert_memory_equal(d.paired.cert.ptr, cert, 100);
	free(frame);
	frame = NULL;
	m.paired.cert = b(cert, sizeof(cert));
	assert_int_equal(tp_msg_encode(&m, &frame), -EMSGSIZE);
	assert_string_equal(tp_type_name(TP_PAIRED), "PAIRED");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pair),
		cmocka_unit_test(test_paired),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
