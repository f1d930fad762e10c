/* SPDX-License-Identifier: MIT */
/* The small fixed manifest fuzz_manifest applies decoded deltas to, and the
 * variants of it gen_manifest_corpus diffs against it for seeds. */
#ifndef TETHER_MANIFEST_FIXTURE_H
#define TETHER_MANIFEST_FIXTURE_H

#include <stddef.h>

#include "manifest.h"

#define FUZZ_BASE_VERSION 1u
#define FUZZ_VARIANTS	  7u

/* Build variant v < FUZZ_VARIANTS into m, sealed: 0 is the base, at
 * FUZZ_BASE_VERSION; v > 0 is an edit of it at version FUZZ_BASE_VERSION +
 * v. Returns 0, or < 0 for a fixture bug (m is then empty). */
int fuzz_manifest_variant(struct sd_manifest *m, unsigned v);

#endif
