/* SPDX-License-Identifier: MIT */
/* Manifest entries for the fs suites (test_view*, test_changes): every
 * kind, all at one mtime, and a builder that seals them. */
#ifndef TETHER_ENTRY_FIXTURE_H
#define TETHER_ENTRY_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

#define ENT_MTIME 1700000000123456789ll

/* A chunk reference of len bytes whose id is made from seed. */
struct sd_chunkref ent_chunk(unsigned seed, uint32_t len);
struct sd_entry ent_dir(const char *p, uint32_t mode);
/* Mode 0644, the n chunks at c (borrowed), size their sum. */
struct sd_entry ent_file(const char *p, const struct sd_chunkref *c,
			 uint32_t n);
struct sd_entry ent_link(const char *p, const char *target);
struct sd_entry ent_hard(const char *p, const char *primary);
/* Add e[0..n) to m (initialised here) and seal it; any refusal fails the
 * test, naming the path. */
void ent_build(struct sd_manifest *m, const struct sd_entry *e, size_t n,
	       uint64_t version);

#endif
