/* SPDX-License-Identifier: MIT */
/* Private to the codec's files (codec.c: frames and exec messages,
 * codec_sync.c: workspace sync, codec_ws.c: a workspace's changes): the
 * decoding cursor, the encoding writer and the field helpers they share.
 * Nothing here is API. */
#ifndef TETHER_CODEC_INT_H
#define TETHER_CODEC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"

/* A cursor over one frame's body. len never exceeds TP_FRAME_MAX, and every
 * check is written as "wanted > len - pos" so nothing can overflow. */
struct rd {
	const uint8_t *p;
	uint32_t len;
	uint32_t pos;
	const char *msg; /* message name, first part of err->what */
	int entry;	 /* table row being read, or -1 */
	struct tp_decode_err *err;
};

/* Encoding runs twice over the same message: once with p == NULL to measure
 * (and refuse oversized fields before anything is allocated), then into a
 * buffer of exactly that size. Errors are sticky in r. */
struct wr {
	uint8_t *p;
	size_t cap;
	size_t len;
	int r;
};

/* ---- decoding: each returns 0 or the code it refused with ---- */

/* Records "MSG[entry].field[idx]: reason" in r->err (when there is one)
 * and returns code. field may be NULL, idx -1 for none. */
int tpc_fail(struct rd *r, int code, const char *field, int idx,
	     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Fixed-width little-endian integers; *out is written even on failure.
 * tpc_get_bool refuses anything but 0 and 1. */
int tpc_get_u8(struct rd *r, const char *field, uint8_t *out);
int tpc_get_u32(struct rd *r, const char *field, uint32_t *out);
int tpc_get_u64(struct rd *r, const char *field, uint64_t *out);
int tpc_get_bool(struct rd *r, const char *field, uint8_t *out);

/* u32 length + bytes, the length checked against cap (-EMSGSIZE) before
 * the bytes are looked at; nul_ok false refuses a NUL (text). out borrows
 * the frame. tpc_get_str is tpc_get_blob for text. */
int tpc_get_blob(struct rd *r, const char *field, int idx, uint32_t cap,
		 bool nul_ok, struct tp_bytes *out);
int tpc_get_str(struct rd *r, const char *field, int idx, uint32_t cap,
		struct tp_bytes *out);

/* A workspace or domain name (tp_name_ok); empty only where empty_ok. */
int tpc_get_name(struct rd *r, const char *field, bool empty_ok,
		 struct tp_bytes *out);

/* A str field that must be a workspace path (tp_path_ok). */
int tpc_get_path(struct rd *r, const char *field, struct tp_bytes *out);

/* TP_ID_SIZE raw bytes. */
int tpc_get_id(struct rd *r, const char *field, uint8_t out[TP_ID_SIZE]);

/* Reads one table row into *out (the row's struct), checking it. */
typedef int (*tpc_entry_fn)(struct rd *r, void *out);

/* A table: u32 count (at most cap, else -EMSGSIZE), then count rows, each
 * checked with get(r, scratch) and left raw in the frame (*ptr, *size) for
 * the caller to iterate with tpc_next_row(). */
int tpc_get_rows(struct rd *r, uint32_t cap, tpc_entry_fn get, void *scratch,
		 uint32_t *count, const uint8_t **ptr, uint32_t *size);

/* The next row of a table tpc_get_rows() accepted: true and *out, *pos
 * advanced, while rows remain. */
bool tpc_next_row(const uint8_t *ptr, uint32_t size, const char *msg,
		  tpc_entry_fn get, uint32_t *pos, void *out);

/* ---- encoding: errors are sticky in w->r ---- */

void tpc_put_raw(struct wr *w, const void *src, size_t n);
void tpc_put_le(struct wr *w, uint64_t v, unsigned width);
/* u32 length + bytes; over cap is -EMSGSIZE, bytes without ptr -EINVAL. */
void tpc_put_bytes(struct wr *w, const struct tp_bytes *b, uint32_t cap);
/* Whether a list of count items at items (cap at most) may be encoded:
 * false when w already failed, or now (-EMSGSIZE over cap, -EINVAL for
 * items missing). */
bool tpc_list_ok(struct wr *w, uint32_t count, uint32_t cap, const void *items);

/* ---- the message families outside codec.c ---- */

/* Bodies of SYNC_* messages (codec_sync.c): m->type is one of them. */
int tpc_decode_sync(struct rd *r, struct tp_msg *m);
void tpc_put_sync(struct wr *w, const struct tp_msg *m);

/* Bodies of WS_* messages (codec_ws.c): m->type is one of them. */
int tpc_decode_ws(struct rd *r, struct tp_msg *m);
void tpc_put_ws(struct wr *w, const struct tp_msg *m);

/* Bodies of PAIR and PAIRED (codec_pair.c). */
int tpc_decode_pair(struct rd *r, struct tp_msg *m);
void tpc_put_pair(struct wr *w, const struct tp_msg *m);

#endif
