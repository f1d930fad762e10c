/* SPDX-License-Identifier: MIT */
/* zstd for one chunk at a time, with reusable contexts and a raw fallback
 * for data that does not compress. */
#include "zchunk.h"

#include <errno.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

_Static_assert(SD_Z_BOUND_MAX == ZSTD_COMPRESSBOUND(SD_CHUNK_MAX),
	       "SD_Z_BOUND_MAX must be zstd's bound for SD_CHUNK_MAX");

/* The one place zstd's error codes become errnos. Corrupt input is the
 * caller's to classify; here only resource and argument failures differ. */
static int errno_from_zstd(size_t code, int corrupt)
{
	switch (ZSTD_getErrorCode(code)) {
	case ZSTD_error_memory_allocation: return -ENOMEM;
	case ZSTD_error_dstSize_tooSmall: return -ENOBUFS;
	case ZSTD_error_parameter_unsupported:
	case ZSTD_error_parameter_outOfBound: return -EINVAL;
	default: return corrupt;
	}
}

int sd_zctx_init(struct sd_zctx *z)
{
	z->c = ZSTD_createCCtx();
	z->d = ZSTD_createDCtx();
	if (!z->c || !z->d) {
		sd_zctx_fini(z);
		return -ENOMEM;
	}
	return 0;
}

void sd_zctx_fini(struct sd_zctx *z)
{
	ZSTD_freeCCtx(z->c);
	ZSTD_freeDCtx(z->d);
	z->c = NULL;
	z->d = NULL;
}

int sd_z_level_check(int level)
{
	return level >= ZSTD_minCLevel() && level <= ZSTD_maxCLevel() ? 0
								      : -EINVAL;
}

int sd_z_compress(struct sd_zctx *z, int level, const void *src, size_t n,
		  void *dst, size_t cap, size_t *out_len, uint8_t *flag)
{
	size_t save, r;

	if (n > SD_CHUNK_MAX)
		return -EMSGSIZE;
	if (cap < n)
		return -ENOBUFS;
	if (sd_z_level_check(level) < 0)
		return -EINVAL;

	/* Giving zstd only n - save bytes of room makes "does not pay" the
	 * same as "does not fit", so no bound-sized scratch is needed. */
	save = n / 32 > 1 ? n / 32 : 1;
	if (n > save) {
		r = ZSTD_compressCCtx(z->c, dst, n - save, src, n, level);
		if (!ZSTD_isError(r)) {
			*out_len = r;
			*flag = SD_Z_ZSTD;
			return 0;
		}
		if (ZSTD_getErrorCode(r) != ZSTD_error_dstSize_tooSmall)
			return errno_from_zstd(r, -EIO);
	}
	if (n)
		memcpy(dst, src, n);
	*out_len = n;
	*flag = SD_Z_RAW;
	return 0;
}

int sd_z_decompress(struct sd_zctx *z, uint8_t flag, const void *src, size_t n,
		    void *dst, size_t raw_len)
{
	size_t r;
	int e;

	if (raw_len > SD_CHUNK_MAX)
		return -EMSGSIZE;
	switch (flag) {
	case SD_Z_RAW:
		if (n != raw_len)
			return -EBADMSG;
		if (n)
			memcpy(dst, src, n);
		return 0;
	case SD_Z_ZSTD:
		if (n == 0)
			return -EBADMSG;
		/* Single-shot decoding writes straight into dst and stops at
		 * its capacity, so a frame that lies about its content size
		 * cannot make it write or allocate more. */
		r = ZSTD_decompressDCtx(z->d, dst, raw_len, src, n);
		if (ZSTD_isError(r)) {
			e = errno_from_zstd(r, -EBADMSG);
			return e == -ENOMEM ? e : -EBADMSG;
		}
		return r == raw_len ? 0 : -EBADMSG;
	default: return -EBADMSG;
	}
}
