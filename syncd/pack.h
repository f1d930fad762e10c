/* SPDX-License-Identifier: MIT */
/* Chunk packs: a byte string of self-describing chunk records, the one
 * format of a SYNC_PUT batch on the wire and of a pack file at rest. */
#ifndef TETHER_PACK_H
#define TETHER_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunkid.h"
#include "manifest.h" /* struct sd_err */
#include "zchunk.h"

/* A record (docs/protocol.md, "Chunk packs"), little-endian, no padding:
 *   0  3  magic "TCK"
 *   3  1  flags: enum sd_z_flag (0 raw, 1 zstd); any other value refused
 *   4 16  id: XXH3-128 of the raw bytes, canonical form
 *  20  4  raw_len: uncompressed bytes, <= SD_CHUNK_MAX
 *  24  4  stored_len: bytes that follow; raw: == raw_len;
 *         zstd: 1 .. ZSTD_compressBound(raw_len), raw_len >= 1
 *  28     the stored bytes
 * An empty chunk (raw_len 0) is allowed, stored raw with no bytes: it is
 * what the codec produces for empty input, and its id is still checked. */
#define SD_PACK_MAGIC	 "TCK"
#define SD_PACK_HDR_SIZE 28u
/* The largest record: header plus the zstd bound of the largest chunk. */
#define SD_PACK_REC_MAX (SD_PACK_HDR_SIZE + SD_Z_BOUND_MAX)

/* A validated record, viewing the pack it came from. */
struct sd_pack_rec {
	struct sd_id id;
	uint8_t flag; /* enum sd_z_flag */
	uint32_t raw_len;
	uint32_t stored_len;
	const uint8_t *data; /* the stored bytes: borrowed from the pack */
	size_t off;	     /* where the record (its header) starts */
	uint32_t index;	     /* its number in the pack, from 0 */
};

/* Where a walk stands: start from { 0 }. */
struct sd_pack_pos {
	size_t off;	/* next record's offset */
	uint32_t index; /* next record's number */
};

/* Read the record at pos from buf (len bytes, untrusted). Every field is
 * checked before anything is exposed; the stored bytes are not decoded
 * (sd_pack_verify() does that).
 * Returns 1 with *rec filled and pos advanced; 0 at the end (pos->off ==
 * len); on a refusal pos is left alone and why (may be NULL) names the
 * record and the cause, e.g. "pack record 3: stored length 900000 runs past
 * the end (512 left)":
 *   -EPROTO   truncated header, bad magic, unknown flags, stored length past
 *             the end, a raw record whose stored length is not its raw
 *             length, a zstd record with no bytes or an empty chunk;
 *   -EMSGSIZE raw length over SD_CHUNK_MAX, or zstd bytes over
 *             ZSTD_compressBound(raw length).
 * rec->data views buf: valid while buf is. Never allocates. */
int sd_pack_next(const void *buf, size_t len, struct sd_pack_pos *pos,
		 struct sd_pack_rec *rec, struct sd_err *why);

/* Check that a record's stored bytes decode to raw_len bytes whose id is
 * rec->id; call it before trusting anything from outside. scratch must
 * hold rec->raw_len bytes (SD_CHUNK_MAX always does); on success it holds
 * the raw bytes of a zstd record (a raw record is hashed in place and
 * scratch is untouched). z is used by this thread only.
 * Returns 0; -EBADMSG with why ("pack record 3: chunk <id>: bytes do not
 * match the id (they hash to <id>)"); -ENOMEM. */
int sd_pack_verify(struct sd_zctx *z, const struct sd_pack_rec *rec,
		   void *scratch, struct sd_err *why);

/* The header bytes of a record with these fields. */
void sd_pack_hdr_encode(uint8_t out[SD_PACK_HDR_SIZE], const struct sd_id *id,
			uint8_t flag, uint32_t raw_len, uint32_t stored_len);

/* A pack being built: records appended to one growing buffer that never
 * exceeds max bytes (e.g. TP_BULK_MAX for one SYNC_PUT). Not thread-safe. */
struct sd_pack_writer {
	uint8_t *buf;
	size_t len, cap, max;
	uint32_t count; /* records so far */
};

/* max: the cap on the whole pack; at least SD_PACK_REC_MAX lets every
 * chunk fit in an empty pack. */
void sd_pack_writer_init(struct sd_pack_writer *w, size_t max);
void sd_pack_writer_fini(struct sd_pack_writer *w);
/* Forget the records, keep the buffer. */
void sd_pack_writer_reset(struct sd_pack_writer *w);

/* Append one chunk already in its stored form (from sd_z_compress(), or a
 * store's sd_store_get_stored()). Nothing is checked against the id: the
 * receiver verifies.
 * Returns 0; -EMSGSIZE when the record would take the pack past max (flush
 * it and append again to a fresh one); -EINVAL for lengths the reader
 * would refuse; -ENOMEM. stored is copied. */
int sd_pack_append(struct sd_pack_writer *w, const struct sd_id *id,
		   uint8_t flag, uint32_t raw_len, const void *stored,
		   uint32_t stored_len);

/* Hash and compress n raw bytes straight into the pack's buffer (no
 * intermediate copy). Writes the chunk's id to *id when id is not NULL.
 * Returns 0; -EMSGSIZE when the compressed record does not fit under max
 * (nothing is appended: flush and add again, which compresses again);
 * -EINVAL for n > SD_CHUNK_MAX or a bad level; -ENOMEM. */
int sd_pack_add(struct sd_pack_writer *w, struct sd_zctx *z, int level,
		const void *data, size_t n, struct sd_id *id);

#endif
