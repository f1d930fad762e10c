/* SPDX-License-Identifier: MIT */
/* Bounded byte ring with absolute offsets: position = offset % cap, so a
 * reader's offset stays meaningful however much was overwritten. */
#include "ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int exec_ring_init(struct exec_ring *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->buf = malloc(cap);
	if (!r->buf)
		return -ENOMEM;
	r->cap = cap;
	return 0;
}

void exec_ring_fini(struct exec_ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

size_t exec_ring_write_ptr(struct exec_ring *r, size_t max, uint8_t **ptr)
{
	size_t pos = (size_t)(r->end % r->cap);
	size_t n = r->cap - pos;

	*ptr = r->buf + pos;
	return n < max ? n : max;
}

void exec_ring_commit(struct exec_ring *r, size_t n)
{
	r->end += n;
	if (r->end - r->start > r->cap)
		r->start = r->end - r->cap;
}

void exec_ring_write(struct exec_ring *r, const void *data, size_t n)
{
	const uint8_t *p = data;

	/* Only the last cap bytes can survive. */
	if (n > r->cap) {
		r->end += n - r->cap;
		p += n - r->cap;
		n = r->cap;
	}
	while (n) {
		uint8_t *dst;
		size_t k = exec_ring_write_ptr(r, n, &dst);

		memcpy(dst, p, k);
		exec_ring_commit(r, k);
		p += k;
		n -= k;
	}
}

size_t exec_ring_read_ptr(const struct exec_ring *r, const uint8_t **ptr)
{
	size_t pos = (size_t)(r->start % r->cap);
	size_t n = r->cap - pos;

	*ptr = r->buf + pos;
	if (n > r->end - r->start)
		n = (size_t)(r->end - r->start);
	return n;
}

void exec_ring_consume(struct exec_ring *r, size_t n)
{
	r->start += n;
}

size_t exec_ring_view(const struct exec_ring *r, uint64_t off, size_t max,
		      const uint8_t **ptr, uint64_t *from)
{
	size_t pos, n;

	if (off < r->start)
		off = r->start;
	if (off > r->end)
		off = r->end;
	*from = off;
	pos = r->cap ? (size_t)(off % r->cap) : 0;
	*ptr = r->buf + pos;
	n = r->cap - pos;
	if (n > r->end - off)
		n = (size_t)(r->end - off);
	return n < max ? n : max;
}
