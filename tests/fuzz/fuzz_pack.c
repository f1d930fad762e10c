/* SPDX-License-Identifier: MIT */
/* libFuzzer target for chunk packs: any bytes must walk and verify safely,
 * every refusal must carry a documented code and a reason, and whatever the
 * reader accepts the writer must rebuild byte for byte (one encoding). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pack.h"

/* Called by libFuzzer; declared here for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool why_ok(const struct sd_err *why)
{
	return why->what[0] != '\0' &&
	       memchr(why->what, '\0', sizeof(why->what)) != NULL;
}

/* abort() is the fuzzer's signal for a finding: each one is a reader,
 * verifier or writer bug, never an input error. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t scratch[SD_CHUNK_MAX];
	static struct sd_zctx z;
	static bool ready;
	struct sd_pack_pos pos = { 0 }, again;
	struct sd_pack_writer w;
	struct sd_pack_rec rec;
	struct sd_err why;
	int r, v;

	if (!ready) {
		if (sd_zctx_init(&z) < 0)
			abort();
		ready = true;
	}
	sd_pack_writer_init(&w, size);
	for (;;) {
		why.what[0] = '\0';
		r = sd_pack_next(data, size, &pos, &rec, &why);
		if (r != 1)
			break;
		/* The view lies inside the input and ends where the walk
		 * continues. */
		if ((size_t)(rec.data - data) != rec.off + SD_PACK_HDR_SIZE ||
		    rec.off + SD_PACK_HDR_SIZE + rec.stored_len != pos.off ||
		    pos.off > size || rec.raw_len > SD_CHUNK_MAX)
			abort();

		why.what[0] = '\0';
		v = sd_pack_verify(&z, &rec, scratch, &why);
		if (v != 0 && (v != -EBADMSG || !why_ok(&why)))
			abort();

		if (sd_pack_append(&w, &rec.id, rec.flag, rec.raw_len, rec.data,
				   rec.stored_len) != 0)
			abort();
	}
	if (r == 0 && pos.off != size)
		abort();
	if (r < 0) {
		if ((r != -EPROTO && r != -EMSGSIZE) || !why_ok(&why))
			abort();
		/* A refusal leaves pos on the bad record, and does not depend
		 * on why being present. */
		again = pos;
		if (sd_pack_next(data, size, &again, &rec, NULL) != r ||
		    again.off != pos.off)
			abort();
	}
	if (w.len != pos.off || (w.len && memcmp(w.buf, data, w.len) != 0))
		abort();
	sd_pack_writer_fini(&w);
	return 0;
}
