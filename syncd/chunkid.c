/* SPDX-License-Identifier: MIT */
/* XXH3-128 ids in canonical byte order. */
#include "chunkid.h"

#include <errno.h>
#include <xxhash.h>

void sd_id_of(struct sd_id *out, const void *data, size_t len)
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
	memcpy(out->b, c.digest, SD_ID_SIZE);
}

struct sd_hasher *sd_hasher_new(void)
{
	XXH3_state_t *s = XXH3_createState();

	if (s && XXH3_128bits_reset(s) != XXH_OK) {
		XXH3_freeState(s);
		s = NULL;
	}
	return (struct sd_hasher *)s;
}

void sd_hasher_update(struct sd_hasher *h, const void *data, size_t len)
{
	XXH3_128bits_update((XXH3_state_t *)h, data, len);
}

void sd_hasher_final(struct sd_hasher *h, struct sd_id *out)
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits_digest((XXH3_state_t *)h));
	memcpy(out->b, c.digest, SD_ID_SIZE);
}

void sd_hasher_free(struct sd_hasher *h)
{
	if (h)
		XXH3_freeState((XXH3_state_t *)h);
}

char *sd_id_hex(const struct sd_id *id, char out[SD_ID_HEX])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < SD_ID_SIZE; i++) {
		out[2 * i] = digits[id->b[i] >> 4];
		out[2 * i + 1] = digits[id->b[i] & 15];
	}
	out[2 * SD_ID_SIZE] = '\0';
	return out;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sd_id_parse(const char *hex, struct sd_id *out)
{
	for (int i = 0; i < SD_ID_SIZE; i++) {
		int hi = hexval(hex[2 * i]), lo;

		if (hi < 0)
			return -EINVAL;
		lo = hexval(hex[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		out->b[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[2 * SD_ID_SIZE] == '\0' ? 0 : -EINVAL;
}
