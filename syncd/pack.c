/* SPDX-License-Identifier: MIT */
/* Chunk pack records: a checked reader that hands out zero-copy views, a
 * verifier (decode + id), and a writer that builds a pack in one buffer. */
#include "pack.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

int sd_pack_next(const void *buf, size_t len, struct sd_pack_pos *pos,
		 struct sd_pack_rec *rec, struct sd_err *why)
{
	const uint8_t *p = (const uint8_t *)buf + pos->off;
	uint32_t i = pos->index, raw_len, stored_len;
	size_t left;
	uint8_t flag;

	if (pos->off >= len)
		return 0;
	left = len - pos->off;
	if (left < SD_PACK_HDR_SIZE)
		return sd_err_set(
			why, -EPROTO,
			"pack record %u: truncated header (%zu bytes left, "
			"a header takes %u)",
			i, left, SD_PACK_HDR_SIZE);
	if (memcmp(p, SD_PACK_MAGIC, 3) != 0)
		return sd_err_set(why, -EPROTO,
				  "pack record %u: bad magic at offset %zu", i,
				  pos->off);
	flag = p[3];
	if (flag != SD_Z_RAW && flag != SD_Z_ZSTD)
		return sd_err_set(why, -EPROTO,
				  "pack record %u: unknown flags 0x%02x", i,
				  flag);
	raw_len = get_le32(p + 20);
	stored_len = get_le32(p + 24);
	left -= SD_PACK_HDR_SIZE;
	if (raw_len > SD_CHUNK_MAX)
		return sd_err_set(
			why, -EMSGSIZE,
			"pack record %u: raw length %u over the %u-byte "
			"chunk cap",
			i, raw_len, SD_CHUNK_MAX);
	if (stored_len > left)
		return sd_err_set(
			why, -EPROTO,
			"pack record %u: stored length %u runs past the "
			"end (%zu left)",
			i, stored_len, left);
	if (flag == SD_Z_RAW && stored_len != raw_len)
		return sd_err_set(
			why, -EPROTO,
			"pack record %u: raw record stores %u bytes for a "
			"raw length of %u",
			i, stored_len, raw_len);
	if (flag == SD_Z_ZSTD) {
		if (raw_len == 0)
			return sd_err_set(
				why, -EPROTO,
				"pack record %u: zstd record of an empty "
				"chunk (an empty chunk is stored raw)",
				i);
		if (stored_len == 0)
			return sd_err_set(
				why, -EPROTO,
				"pack record %u: zstd record with no bytes", i);
		if (stored_len > ZSTD_compressBound(raw_len))
			return sd_err_set(
				why, -EMSGSIZE,
				"pack record %u: stored length %u over "
				"zstd's bound %zu for %u raw bytes",
				i, stored_len, ZSTD_compressBound(raw_len),
				raw_len);
	}

	memcpy(rec->id.b, p + 4, SD_ID_SIZE);
	rec->flag = flag;
	rec->raw_len = raw_len;
	rec->stored_len = stored_len;
	rec->data = p + SD_PACK_HDR_SIZE;
	rec->off = pos->off;
	rec->index = i;
	pos->off += SD_PACK_HDR_SIZE + (size_t)stored_len;
	pos->index = i + 1;
	return 1;
}

int sd_pack_verify(struct sd_zctx *z, const struct sd_pack_rec *rec,
		   void *scratch, struct sd_err *why)
{
	char want[SD_ID_HEX], got[SD_ID_HEX];
	const void *raw = rec->data;
	struct sd_id id;
	int r;

	if (rec->flag != SD_Z_RAW) {
		r = sd_z_decompress(z, rec->flag, rec->data, rec->stored_len,
				    scratch, rec->raw_len);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return sd_err_set(
				why, -EBADMSG,
				"pack record %u: chunk %s: stored bytes do "
				"not decode to %u bytes",
				rec->index, sd_id_hex(&rec->id, want),
				rec->raw_len);
		raw = scratch;
	}
	sd_id_of(&id, raw, rec->raw_len);
	if (!sd_id_eq(&id, &rec->id))
		return sd_err_set(
			why, -EBADMSG,
			"pack record %u: chunk %s: bytes do not match the "
			"id (they hash to %s)",
			rec->index, sd_id_hex(&rec->id, want),
			sd_id_hex(&id, got));
	return 0;
}

void sd_pack_hdr_encode(uint8_t out[SD_PACK_HDR_SIZE], const struct sd_id *id,
			uint8_t flag, uint32_t raw_len, uint32_t stored_len)
{
	memcpy(out, SD_PACK_MAGIC, 3);
	out[3] = flag;
	memcpy(out + 4, id->b, SD_ID_SIZE);
	put_le32(out + 20, raw_len);
	put_le32(out + 24, stored_len);
}

void sd_pack_writer_init(struct sd_pack_writer *w, size_t max)
{
	*w = (struct sd_pack_writer){ .max = max };
}

void sd_pack_writer_fini(struct sd_pack_writer *w)
{
	free(w->buf);
	*w = (struct sd_pack_writer){ .max = w->max };
}

void sd_pack_writer_reset(struct sd_pack_writer *w)
{
	w->len = 0;
	w->count = 0;
}

/* Room for extra bytes after len. The buffer may run past max by one
 * record (sd_pack_add compresses before it knows the size), never more. */
static int reserve(struct sd_pack_writer *w, size_t extra)
{
	size_t need = w->len + extra, cap;
	uint8_t *p;

	if (need <= w->cap)
		return 0;
	if (need > w->max + SD_PACK_REC_MAX)
		return -EMSGSIZE;
	cap = w->cap ? w->cap : 64u << 10;
	while (cap < need)
		cap *= 2;
	if (cap > w->max + SD_PACK_REC_MAX)
		cap = w->max + SD_PACK_REC_MAX;
	p = realloc(w->buf, cap);
	if (!p)
		return -ENOMEM;
	w->buf = p;
	w->cap = cap;
	return 0;
}

static bool lengths_ok(uint8_t flag, uint32_t raw_len, uint32_t stored_len)
{
	if (raw_len > SD_CHUNK_MAX)
		return false;
	if (flag == SD_Z_RAW)
		return stored_len == raw_len;
	if (flag == SD_Z_ZSTD)
		return raw_len > 0 && stored_len > 0 &&
		       stored_len <= ZSTD_compressBound(raw_len);
	return false;
}

int sd_pack_append(struct sd_pack_writer *w, const struct sd_id *id,
		   uint8_t flag, uint32_t raw_len, const void *stored,
		   uint32_t stored_len)
{
	size_t size = SD_PACK_HDR_SIZE + (size_t)stored_len;
	int r;

	if (!lengths_ok(flag, raw_len, stored_len))
		return -EINVAL;
	if (size > w->max - (w->len < w->max ? w->len : w->max) ||
	    w->count == UINT32_MAX)
		return -EMSGSIZE;
	r = reserve(w, size);
	if (r < 0)
		return r;
	sd_pack_hdr_encode(w->buf + w->len, id, flag, raw_len, stored_len);
	if (stored_len)
		memcpy(w->buf + w->len + SD_PACK_HDR_SIZE, stored, stored_len);
	w->len += size;
	w->count++;
	return 0;
}

int sd_pack_add(struct sd_pack_writer *w, struct sd_zctx *z, int level,
		const void *data, size_t n, struct sd_id *id)
{
	struct sd_id cid;
	size_t out_len;
	uint8_t flag;
	int r;

	if (n > SD_CHUNK_MAX || sd_z_level_check(level) < 0)
		return -EINVAL;
	if (w->len + SD_PACK_HDR_SIZE > w->max || w->count == UINT32_MAX)
		return -EMSGSIZE;
	r = reserve(w, SD_PACK_HDR_SIZE + n);
	if (r < 0)
		return r;
	r = sd_z_compress(z, level, data, n, w->buf + w->len + SD_PACK_HDR_SIZE,
			  n, &out_len, &flag);
	if (r < 0)
		return r;
	if (w->len + SD_PACK_HDR_SIZE + out_len > w->max)
		return -EMSGSIZE;
	sd_id_of(&cid, data, n);
	sd_pack_hdr_encode(w->buf + w->len, &cid, flag, (uint32_t)n,
			   (uint32_t)out_len);
	w->len += SD_PACK_HDR_SIZE + out_len;
	w->count++;
	if (id)
		*id = cid;
	return 0;
}
