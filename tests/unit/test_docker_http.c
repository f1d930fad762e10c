/* SPDX-License-Identifier: MIT */
/* The Docker Engine API's HTTP/1.1 answers (exec/docker_http.c), fed whole
 * and a byte at a time, and the multiplexed exec stream (dk_demux). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "docker_api.h"

/* Parse text fed n bytes at a time (the buffer grows as a read would
 * grow it); the last result, with eof given at the end. */
static int feed(const char *text, size_t step, bool eof, struct dk_http_resp *r)
{
	size_t len = strlen(text), n = 0;
	int k = 0;

	memset(r, 0, sizeof(*r));
	while (n < len) {
		n = n + step < len ? n + step : len;
		k = dk_http_parse((const uint8_t *)text, n, false, r);
		if (k != 0)
			return k;
	}
	return eof ? dk_http_parse((const uint8_t *)text, n, true, r) : k;
}

static const char *body(const char *text, struct dk_http_resp *r, size_t *n)
{
	if (r->chunked) {
		*n = r->nbody;
		return (const char *)r->body;
	}
	*n = r->has_len ? (size_t)r->len : strlen(text) - r->head;
	return text + r->head;
}

static void test_lengths(void **state)
{
	static const char *const ok[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
		("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "3\r\n{\"a\r\n4;ext=1\r\n\":1}\r\n0\r\n\r\n"),
		"HTTP/1.0 200 OK\r\ncontent-type: x\r\n\r\n{\"a\":1}",
	};
	struct dk_http_resp r;
	size_t n;

	for (size_t i = 0; i < 3; i++)
		for (size_t step = 1; step < 80; step += 13) {
			const char *b;

			assert_int_equal(feed(ok[i], step, i == 2, &r), 1);
			assert_int_equal(r.status, 200);
			b = body(ok[i], &r, &n);
			assert_int_equal(n, 7);
			assert_memory_equal(b, "{\"a\":1}", 7);
			free(r.body);
		}
	/* Not complete yet: more is waited for; cut by the close: refused. */
	assert_int_equal(feed("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab",
			      64, false, &r),
			 0);
	assert_int_equal(feed("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab",
			      64, true, &r),
			 -EPROTO);
	assert_int_equal(feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
			      "\r\n\r\n5\r\nab",
			      64, true, &r),
			 -EPROTO);
	free(r.body);
	/* No body: 204, 101. */
	assert_int_equal(feed("HTTP/1.1 204 No Content\r\n\r\n", 5, false, &r),
			 1);
	assert_int_equal(feed("HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\n",
			      64, false, &r),
			 1);
	assert_int_equal(r.status, 101);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"SSH-2.0-OpenSSH\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "2\r\nabXY0\r\n\r\n"),
	};
	struct dk_http_resp r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int k = feed(bad[i], 4096, true, &r);

		if (k != -EPROTO)
			fail_msg("'%s': %d, not -EPROTO", bad[i], k);
		free(r.body);
	}
	assert_int_equal(feed("HTTP/1.1 200 OK\r\nContent-Length: "
			      "99999999999999999999\r\n\r\n",
			      4096, false, &r),
			 -EFBIG);
	assert_int_equal(feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
			      "\r\n\r\nffffffffffff\r\n",
			      4096, false, &r),
			 -EFBIG);
}

struct sink {
	char out[64], err[64];
	size_t nout, nerr;
};

static int collect(void *opaque, int stream, const uint8_t *p, size_t n)
{
	struct sink *s = opaque;

	if (stream == 2) {
		memcpy(s->err + s->nerr, p, n);
		s->nerr += n;
	} else {
		memcpy(s->out + s->nout, p, n);
		s->nout += n;
	}
	return 0;
}

static void test_demux(void **state)
{
	static const uint8_t in[] = { 1,   0,	0,   0, 0, 0, 0, 3, 'o', 'u',
				      't', 2,	0,   0, 0, 0, 0, 0, 4,	 'e',
				      'r', 'r', '!', 1, 0, 0, 0, 0, 0,	 0,
				      0,   1,	0,   0, 0, 0, 0, 0, 1,	 'x' };
	static const uint8_t bad[] = { 7, 0, 0, 0, 0, 0, 0, 1, 'z' };

	for (size_t step = 1; step <= sizeof(in); step++) {
		struct dk_demux d = { 0 };
		struct sink s = { 0 };

		for (size_t i = 0; i < sizeof(in); i += step)
			assert_int_equal(dk_demux_feed(&d, in + i,
						       i + step < sizeof(in)
							       ? step
							       : sizeof(in) - i,
						       collect, &s),
					 0);
		assert_int_equal(s.nout, 4);
		assert_memory_equal(s.out, "outx", 4);
		assert_int_equal(s.nerr, 4);
		assert_memory_equal(s.err, "err!", 4);
	}
	{
		struct dk_demux d = { 0 };
		struct sink s = { 0 };

		assert_int_equal(dk_demux_feed(&d, bad, sizeof(bad), collect,
					       &s),
				 -EPROTO);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_demux),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
