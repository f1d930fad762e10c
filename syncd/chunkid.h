/* SPDX-License-Identifier: MIT */
/* Chunk and manifest ids: XXH3-128 of the uncompressed bytes, stored in
 * XXH128's canonical (big-endian) form so that ids compare and print the
 * same on every host. */
#ifndef TETHER_CHUNKID_H
#define TETHER_CHUNKID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SD_ID_SIZE 16
#define SD_ID_HEX  (2 * SD_ID_SIZE + 1) /* with the NUL */

struct sd_id {
	uint8_t b[SD_ID_SIZE];
};

/* The id of len bytes at data. */
void sd_id_of(struct sd_id *out, const void *data, size_t len);

/* Streaming form, for hashes over many pieces (a manifest's root hash). */
struct sd_hasher;
struct sd_hasher *sd_hasher_new(void);
void sd_hasher_update(struct sd_hasher *h, const void *data, size_t len);
void sd_hasher_final(struct sd_hasher *h, struct sd_id *out);
void sd_hasher_free(struct sd_hasher *h);

/* Lowercase hex, NUL-terminated. Returns out. */
char *sd_id_hex(const struct sd_id *id, char out[SD_ID_HEX]);

/* Parse 32 hex digits (either case). Returns 0 or -EINVAL. */
int sd_id_parse(const char *hex, struct sd_id *out);

static inline int sd_id_cmp(const struct sd_id *a, const struct sd_id *b)
{
	return memcmp(a->b, b->b, SD_ID_SIZE);
}

static inline bool sd_id_eq(const struct sd_id *a, const struct sd_id *b)
{
	return memcmp(a->b, b->b, SD_ID_SIZE) == 0;
}

/* The first 8 bytes as an integer: ids are uniform, so this is a good
 * hash-table key. */
static inline uint64_t sd_id_key(const struct sd_id *id)
{
	uint64_t k;

	memcpy(&k, id->b, sizeof(k));
	return k;
}

#endif
