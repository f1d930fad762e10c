/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the Docker Engine API's answers (exec/docker_http.c)
 * and the exec stream's demultiplexer: any bytes parse or are refused with
 * -EPROTO or -EFBIG; an answer taken as complete has its head and body
 * inside the bytes given, and the same answer fed a byte at a time gives
 * the same status and body. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "docker_api.h"

/* Called by libFuzzer; declared here for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count(void *opaque, int stream, const uint8_t *p, size_t n)
{
	size_t *total = opaque;

	if (stream < 0 || stream > 2 || !n)
		abort();
	*total += n;
	return 0;
}

/* The body of a complete answer: (pointer, length), checked in range. */
static const uint8_t *body(const uint8_t *data, size_t size,
			   const struct dk_http_resp *r, size_t *n)
{
	if (r->head > size)
		abort();
	if (r->chunked) {
		*n = r->nbody;
		return r->body;
	}
	if (r->has_len) {
		if (r->len > size - r->head &&
		    !(r->status < 200 || r->status == 204 || r->status == 304))
			abort();
		*n = r->len <= size - r->head ? (size_t)r->len : 0;
	} else {
		*n = size - r->head;
	}
	return data + r->head;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dk_http_resp a = { 0 }, b = { 0 };
	struct dk_demux d = { 0 };
	size_t total = 0, na, nb, n;
	const uint8_t *ba, *bb;
	int ka, kb = 0;

	ka = dk_http_parse(data, size, true, &a);
	if (ka != 1 && ka != -EPROTO && ka != -EFBIG && ka != -ENOMEM)
		abort();
	for (n = 1; n <= size; n++) {
		kb = dk_http_parse(data, n, n == size, &b);
		if (kb != 0)
			break;
	}
	if (ka == 1 && kb == 1 && n == size) {
		ba = body(data, size, &a, &na);
		bb = body(data, size, &b, &nb);
		if (a.status != b.status || na != nb ||
		    (na && memcmp(ba, bb, na) != 0))
			abort();
	}
	free(a.body);
	free(b.body);
	if (dk_demux_feed(&d, data, size, count, &total) == 0 && total > size)
		abort();
	return 0;
}
