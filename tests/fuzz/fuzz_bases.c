/* SPDX-License-Identifier: MIT */
/* libFuzzer target for a view's bases file (fs/bases.h): any bytes must
 * parse safely or be refused as damage (-EBADMSG, never another error but
 * out of memory); the whole records an accepted file holds parse again
 * alone to the same set, and every path it kept is found. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bases.h"

/* Called by libFuzzer; declared here for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() is the fuzzer's signal for a finding. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fs_bases *b, *again;
	size_t used = 0, used2 = 0, off = 0;
	int r = fs_bases_parse(data, size, &b, &used);

	if (r == -ENOMEM)
		return 0;
	if (r < 0) {
		if (r != -EBADMSG)
			abort();
		return 0;
	}
	if (used > size)
		abort();
	r = fs_bases_parse(data, used, &again, &used2);
	if (r == -ENOMEM) {
		fs_bases_free(b);
		return 0;
	}
	if (r != 0 || used2 != used ||
	    fs_bases_count(again) != fs_bases_count(b))
		abort();
	/* The last record of a path decides: noted (kept, first note wins)
	 * or forgotten. Whatever it says, a lookup answers in range. */
	while (off < used) {
		uint32_t len = (uint32_t)data[off] |
			       (uint32_t)data[off + 1] << 8 |
			       (uint32_t)data[off + 2] << 16 |
			       (uint32_t)data[off + 3] << 24;
		struct sd_id id;
		bool had;
		int g = fs_bases_get(b, (const char *)data + off + 21, len,
				     &had, &id);

		if (g != 0 && g != 1)
			abort();
		off += 21 + (size_t)len;
	}
	if (off != used)
		abort();
	fs_bases_free(again);
	fs_bases_free(b);
	return 0;
}
