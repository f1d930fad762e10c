/* SPDX-License-Identifier: MIT */
/* Shared fixture of the codec suites: a hand frame builder for shapes the
 * encoder refuses to make, sample messages, and assertion helpers. */
#ifndef TETHER_CODEC_FIXTURE_H
#define TETHER_CODEC_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

/* Room for a frame past the cap, to test the size refusals. */
#define FB_CAP (TP_FRAME_MAX + 4096u)

struct fb {
	uint8_t *p;
	size_t len;
};

void le_store(uint8_t *p, uint64_t v, unsigned width);
void fb_init(struct fb *f, uint16_t type);
void fb_le(struct fb *f, uint64_t v, unsigned width);
void fb_raw(struct fb *f, const void *src, size_t n);
void fb_str(struct fb *f, const char *s);
void fb_fill(struct fb *f, size_t n, uint8_t c);
void fb_exit(struct fb *f, uint8_t timed_out);
void fb_seal(struct fb *f);
int fb_decode(struct fb *f, struct tp_decode_err *e);
void assert_bytes(struct tp_bytes b, const void *p, size_t n);
void assert_what_has(const struct tp_decode_err *e, const char *s);
void assert_reencodes(const uint8_t *frame, size_t len,
		      const struct tp_msg *dm);
void round_trip(const struct tp_msg *m, struct tp_msg *out, uint8_t **frame);
void assert_truncations_refused(const struct tp_msg *m);
void assert_trailing_refused(const struct tp_msg *m);
struct tp_exit exit_full(void);
void assert_exit_eq(const struct tp_exit *a, const struct tp_exit *b);
extern const char *const sample_argv[];
extern const char *const sample_env[];
extern const struct tp_exec_entry sample_entries[];
uint8_t *encode_ok(const struct tp_msg *m, size_t *len);
/* An EXEC_START frame up to its cwd, with these flags. */
void start_head(struct fb *f, uint32_t flags);
/* tp_msg_encode(m) fails with code and leaves its output untouched. */
void assert_encode_fails(const struct tp_msg *m, int code);
/* Every message type, several shapes; at most SAMPLES_MAX. */
#define SAMPLES_MAX 72
size_t samples(struct tp_msg *out);
extern const uint8_t sample_ids[2 * TP_ID_SIZE];
extern const uint8_t sample_refs[2 * TP_DEFINE_REF];
extern const struct tp_sync_entry sample_ws[2];
struct tp_sync_state sample_state(void);
extern const struct tp_ws_change sample_rows[3];

#endif
