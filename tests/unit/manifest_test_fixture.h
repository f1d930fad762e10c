/* SPDX-License-Identifier: MIT */
/* What the manifest and delta unit suites share: sample entries, a builder,
 * a comparison, and an encoder written from docs/protocol.md (not from the
 * code under test) for hostile inputs. */
#ifndef TETHER_MANIFEST_TEST_FIXTURE_H
#define TETHER_MANIFEST_TEST_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

#define assert_ok(expr, why)                                            \
	do {                                                            \
		int r_ = (expr);                                        \
		if (r_ != 0)                                            \
			fail_msg("%s = %d: %s", #expr, r_, (why).what); \
	} while (0)

/* Four chunks of different lengths, set by chunks_init(). */
extern struct sd_chunkref CH[4];

struct raw {
	uint8_t b[1 << 16];
	size_t n;
};

struct sd_chunkref chunk(unsigned seed, uint32_t len);
void chunks_init(void);
struct sd_entry dir(const char *p);
struct sd_entry file(const char *p, struct sd_chunkref *c, uint32_t n);
struct sd_entry symlink_(const char *p, const char *t);
struct sd_entry hardlink(const char *p, const char *t);
size_t sample(struct sd_entry *e);
void build(struct sd_manifest *m, const struct sd_entry *e, size_t n,
	   uint64_t version);
void assert_same(const struct sd_manifest *a, const struct sd_manifest *b);
void raw_bytes(struct raw *r, const void *p, size_t n);
void raw_le(struct raw *r, uint64_t v, int n);
void raw_var(struct raw *r, uint64_t v);
void raw_path(struct raw *r, const char *prev, size_t plen, const char *p,
	      size_t len);
void raw_entry(struct raw *r, const struct sd_entry *prev,
	       const struct sd_entry *e);
struct sd_id raw_root(const struct sd_entry *e, size_t n);
void raw_manifest(struct raw *r, const struct sd_entry *e, size_t n,
		  uint64_t version);
void raw_delta(struct raw *r, const struct sd_manifest *base, uint64_t version,
	       const struct sd_id *root, const char *const *del, size_t ndel,
	       const struct sd_entry *put, size_t nput);
void refuse_manifest(const struct raw *r, int code, const char *needle);

#endif
