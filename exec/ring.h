/* SPDX-License-Identifier: MIT */
/* A bounded byte ring addressed by absolute stream offsets: it keeps the
 * last cap bytes of a stream for replay (attach) and long-poll reads. */
#ifndef TETHER_RING_H
#define TETHER_RING_H

#include <stddef.h>
#include <stdint.h>

struct exec_ring {
	uint8_t *buf;
	size_t cap;
	uint64_t start; /* offset of the oldest byte held */
	uint64_t end; /* offset one past the newest byte (bytes ever written) */
};

/* Allocate cap bytes. 0 or -ENOMEM. */
int exec_ring_init(struct exec_ring *r, size_t cap);
void exec_ring_fini(struct exec_ring *r);

/* The contiguous free region at the write position, at most max bytes,
 * overwriting the oldest bytes if needed (start advances on commit).
 * Returns its length (> 0 when cap > 0 and max > 0). */
size_t exec_ring_write_ptr(struct exec_ring *r, size_t max, uint8_t **ptr);

/* Account n bytes written at the write pointer. */
void exec_ring_commit(struct exec_ring *r, size_t n);

/* Append a buffer (overwriting the oldest bytes past cap). */
void exec_ring_write(struct exec_ring *r, const void *data, size_t n);

/* Reading as a FIFO (stdin buffer): the contiguous bytes at start, and
 * dropping n of them. Use with exec_ring_room() so nothing is overwritten. */
size_t exec_ring_read_ptr(const struct exec_ring *r, const uint8_t **ptr);
void exec_ring_consume(struct exec_ring *r, size_t n);

/* Free bytes before the oldest held byte would be overwritten. */
static inline size_t exec_ring_room(const struct exec_ring *r)
{
	return r->cap - (size_t)(r->end - r->start);
}

/* A view of up to max held bytes from offset off (clamped up to start),
 * contiguous, so it may stop at the physical end of the buffer; the rest
 * follows from the next offset. Returns the length, start offset in *from. */
size_t exec_ring_view(const struct exec_ring *r, uint64_t off, size_t max,
		      const uint8_t **ptr, uint64_t *from);

#endif
