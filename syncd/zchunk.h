/* SPDX-License-Identifier: MIT */
/* The chunk codec: one chunk compressed with zstd, or kept raw when zstd
 * does not pay; decompression bounded to the size the caller expects. */
#ifndef TETHER_ZCHUNK_H
#define TETHER_ZCHUNK_H

#include <stddef.h>
#include <stdint.h>

/* The largest chunk, uncompressed. The chunker's max size must not exceed
 * it; the pack reader refuses anything bigger. */
#define SD_CHUNK_MAX (512u << 10)

/* The most bytes a zstd frame of SD_CHUNK_MAX bytes may take:
 * ZSTD_COMPRESSBOUND(SD_CHUNK_MAX), spelled out so that this header does not
 * need zstd.h (zchunk.c checks that the two agree). */
#define SD_Z_BOUND_MAX (SD_CHUNK_MAX + (SD_CHUNK_MAX >> 8))

/* Level 1: fast enough to keep up with the link and the disk on one core
 * while still removing most of the redundancy in source trees. */
#define SD_Z_LEVEL_DEFAULT 1

/* How a chunk is stored. The values are the pack record's flags byte
 * (docs/protocol.md, "Chunk packs"). */
enum sd_z_flag {
	SD_Z_RAW = 0,  /* the bytes as they are */
	SD_Z_ZSTD = 1, /* one or more zstd frames */
};

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

/* Reusable compression and decompression state. Not thread-safe: use one
 * per thread (a context is ~1 MiB once it has compressed at level 1). */
struct sd_zctx {
	struct ZSTD_CCtx_s *c;
	struct ZSTD_DCtx_s *d;
};

/* Returns 0 or -ENOMEM; on failure z needs no fini. */
int sd_zctx_init(struct sd_zctx *z);
/* Frees both contexts; z may be zero-filled or already finished. */
void sd_zctx_fini(struct sd_zctx *z);

/* 0 if level is one zstd accepts (ZSTD_minCLevel() .. ZSTD_maxCLevel();
 * negative levels are the fast modes, 0 is zstd's default of 3), else
 * -EINVAL. */
int sd_z_level_check(int level);

/* Compress n bytes at src into dst (cap bytes). Keeps the zstd form only
 * when it saves at least max(1, n / 32) bytes; otherwise copies the bytes
 * as they are. So dst never needs more than n bytes.
 * Writes *out_len and *flag (enum sd_z_flag) on success.
 * Returns 0; -EMSGSIZE if n > SD_CHUNK_MAX; -ENOBUFS if cap < n; -EINVAL
 * for a bad level; -ENOMEM. src and dst are borrowed and must not
 * overlap. */
int sd_z_compress(struct sd_zctx *z, int level, const void *src, size_t n,
		  void *dst, size_t cap, size_t *out_len, uint8_t *flag);

/* Decode n stored bytes (flag SD_Z_RAW or SD_Z_ZSTD) into exactly raw_len
 * bytes at dst. Untrusted input: the output is bounded by raw_len, whatever
 * the frame claims; nothing past dst + raw_len is written.
 * Returns 0; -EBADMSG for an unknown flag, a raw chunk whose n differs from
 * raw_len, an empty or corrupt zstd frame, or one that decodes to any size
 * other than raw_len; -EMSGSIZE if raw_len > SD_CHUNK_MAX; -ENOMEM. */
int sd_z_decompress(struct sd_zctx *z, uint8_t flag, const void *src, size_t n,
		    void *dst, size_t raw_len);

#endif
