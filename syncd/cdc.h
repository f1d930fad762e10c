/* SPDX-License-Identifier: MIT */
/* Content-defined chunking: FastCDC with a gear hash and normalized chunking
 * (level 2), and whole-file chunking that hands out each chunk's bytes. */
#ifndef TETHER_CDC_H
#define TETHER_CDC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

/* The default sizes, bytes. */
#define SD_CDC_MIN_DEFAULT (16u << 10)
#define SD_CDC_AVG_DEFAULT (64u << 10)
#define SD_CDC_MAX_DEFAULT (256u << 10)
/* Bounds sd_cdc_init() accepts: SD_CDC_MIN_FLOOR <= min < avg < max <=
 * SD_CDC_MAX_LIMIT, avg a power of two. */
#define SD_CDC_MIN_FLOOR 64u
#define SD_CDC_MAX_LIMIT (512u << 10)
/* sd_cdc_file()'s read buffer: 8 * SD_CDC_MAX_LIMIT. */
#define SD_CDC_BUF_SIZE (4u << 20)

struct sd_cdc_params {
	uint32_t min, avg, max;
};

#define SD_CDC_PARAMS_DEFAULT                               \
	((struct sd_cdc_params){ .min = SD_CDC_MIN_DEFAULT, \
				 .avg = SD_CDC_AVG_DEFAULT, \
				 .max = SD_CDC_MAX_DEFAULT })

/* A chunker: a small value, immutable after sd_cdc_init(), so one may be
 * shared by any number of threads. No _fini: it owns nothing. */
struct sd_cdc {
	uint32_t min, avg, max;
	/* A cut is where (fp & mask) == 0: mask_s (log2(avg) + 2 top bits)
	 * before avg bytes, mask_l (log2(avg) - 2 top bits) from there on. */
	uint64_t mask_s, mask_l;
};

/* The gear table: splitmix64 seeded with 0x7465746865726364 ("tethercd"),
 * its first 256 outputs. Chunk boundaries, and so dedup across versions and
 * hosts, depend on it: it must never change. */
extern const uint64_t sd_cdc_gear[256];

/* Check p and set c up. p NULL means SD_CDC_PARAMS_DEFAULT. Returns 0, or
 * -EINVAL with why (when not NULL) naming the bad value, e.g.
 * "cdc: avg 60000 is not a power of two". c is written only on success. */
int sd_cdc_init(struct sd_cdc *c, const struct sd_cdc_params *p,
		struct sd_err *why);

/* The length of the chunk that starts at p, given n bytes from there.
 * eof says that the n bytes are all there is. Returns:
 *   - a length in [min + 1, max] where the content says to cut (the chunk
 *     ends with the byte whose hash matched), else max when n >= max;
 *   - with eof and n < max, n when no cut is found (so n itself when
 *     n <= min, 0 for 0);
 *   - without eof, 0 when n < max and no cut is found: call again with
 *     more data (n >= max always gives an answer).
 * The answer depends only on the bytes, never on how many past the cut were
 * available. Pure; p is borrowed for the call. */
size_t sd_cdc_cut(const struct sd_cdc *c, const uint8_t *p, size_t n, bool eof);

/* Called for each chunk, in file order. data is borrowed: valid only during
 * the call. A nonzero return stops the walk and is returned by it. */
typedef int (*sd_cdc_chunk_fn)(void *opaque, const uint8_t *data, size_t len);

/* Chunk fd from offset 0 to end of file, with pread() (the file offset is
 * not used or moved; fd must be seekable, a pipe gives -ESPIPE). size_hint
 * is the size the caller expects (from fstat): it sizes the buffer (small
 * files get a small one) and a short read that reaches it is taken as end
 * of file (with 0: any short read); it need not be right. A file that
 * changes size while being read is chunked as read returned it. An empty
 * file calls fn never. Returns 0, fn's nonzero return, -ENOMEM, or a -errno
 * of pread(); after an error fn may have seen the chunks before it. Blocks
 * on I/O; allocates at most SD_CDC_BUF_SIZE. */
int sd_cdc_file(const struct sd_cdc *c, int fd, uint64_t size_hint,
		sd_cdc_chunk_fn fn, void *opaque);

/* Like sd_cdc_chunk_fn, with the chunk's id and length already computed:
 * for the sync source, which stores or compresses new chunks as it reads
 * them, without reading the file twice. ref and data are borrowed for the
 * call. */
typedef int (*sd_cdc_ref_fn)(void *opaque, const struct sd_chunkref *ref,
			     const uint8_t *data);

/* sd_cdc_file() with each chunk's id (sd_id_of()) computed before fn is
 * called. Same returns. */
int sd_cdc_file_ids(const struct sd_cdc *c, int fd, uint64_t size_hint,
		    sd_cdc_ref_fn fn, void *opaque);

/* Chunk and id the whole file. On success *refs is a malloc'd array of
 * *nrefs chunk refs (NULL when the file is empty) the caller frees, and
 * *size the bytes read (the sum of the lens). size_hint as for
 * sd_cdc_file(). Returns 0, -ENOMEM, -EFBIG past SD_CHUNKS_MAX chunks, or a
 * -errno of pread(); outputs are written only on success. */
int sd_cdc_file_refs(const struct sd_cdc *c, int fd, uint64_t size_hint,
		     struct sd_chunkref **refs, uint32_t *nrefs,
		     uint64_t *size);

#endif
