/* SPDX-License-Identifier: MIT */
/* Private to manifest.c, manifest_codec.c and manifest_delta.c: the pieces
 * of storage, checking and display they share. Nothing here is API. */
#ifndef TETHER_MANIFEST_INT_H
#define TETHER_MANIFEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

/* Fill why (when not NULL) and return code. */

/* A path or target for a message: in single quotes, bytes outside
 * printable ASCII and the quote and backslash as \xNN, cut at SHOW_MAX
 * characters plus "...". */
#define SHOW_MAX 96u
struct shown {
	char s[SHOW_MAX + 8];
};
const char *sdm_show(struct shown *out, const char *p, size_t len);

static inline int sdm_entry_cmp(const struct sd_entry *a,
				const struct sd_entry *b)
{
	return sd_path_cmp(a->path, a->path_len, b->path, b->path_len);
}

/* Over sorted e[0..n): the first index whose path is >= (path, len); the
 * index of (path, len), or n. */
size_t sdm_lower_bound(const struct sd_entry *e, size_t n, const char *path,
		       size_t len);
size_t sdm_search(const struct sd_entry *e, size_t n, const char *path,
		  size_t len);
/* The length of path's parent, 0 for a top-level path. */
size_t sdm_parent_len(const char *path, size_t len);

/* Storage. sdm_arena_alloc() returns n bytes aligned to align (a power of
 * two) that live until sd_manifest_free(), or NULL. sdm_arena_reserve()
 * makes the next n bytes come from one block; sdm_arena_rewind() makes the
 * newest block's space free again (for scratch use only: what it held is
 * overwritten). */
void *sdm_arena_alloc(struct sd_manifest *m, size_t n, size_t align);
int sdm_arena_reserve(struct sd_manifest *m, size_t n);
void sdm_arena_rewind(struct sd_manifest *m);
/* Room for `more` entries in m->e. 0 or -ENOMEM. */
int sdm_entries_reserve(struct sd_manifest *m, size_t more);
/* Append a copy of e (into m's arena), unchecked; clears m->sealed. 0 or
 * -ENOMEM. */
int sdm_entry_copy(struct sd_manifest *m, const struct sd_entry *e);
/* Append entry e of src (sealed, or at least not to be changed while m
 * lives) to m, sharing its bytes with src where src's blocks allow, else
 * copying them. Unchecked; clears m->sealed. 0 or -ENOMEM. */
int sdm_entry_share(struct sd_manifest *m, const struct sd_manifest *src,
		    const struct sd_entry *e);
/* The same for the n entries from e (within src): one check of src's
 * blocks for the run. 0 or -ENOMEM. */
int sdm_entries_share(struct sd_manifest *m, const struct sd_manifest *src,
		      const struct sd_entry *e, size_t n);

/* The rules of one entry on its own (sd_manifest_add()). */
int sdm_entry_check(const struct sd_entry *e, struct sd_err *why);
/* Hardlink e[i]'s target, in sorted e[0..n): present, a regular file, and
 * before it. 0 or -EINVAL with why. */
int sdm_hardlink_check(const struct sd_entry *e, size_t n, size_t i,
		       struct sd_err *why);
/* The whole-tree rules over sorted entries (sd_manifest_seal()); sets
 * m->nhardlinks, nfiles and nbytes. */
int sdm_tree_check(struct sd_manifest *m, struct sd_err *why);
/* Sort m->e by path; 0 or -ENOMEM. */
int sdm_sort(struct sd_manifest *m);
/* Set e->hash from e's other fields (manifest_codec.c). 0 or -ENOMEM. */
int sdm_entry_hash(struct sd_entry *e);
/* The root hash of e[0..n), from their hashes (manifest_codec.c). 0 or
 * -ENOMEM. */
int sdm_entries_root(const struct sd_entry *e, size_t n, struct sd_id *out);

/* Whether d is sorted as manifest.h defines it; why names the first
 * offence. 0 or -EINVAL. */
int sdm_delta_sorted(const struct sd_delta *d, struct sd_err *why);
/* Append a malloc'd copy of the path to d->del, unchecked. 0 or -ENOMEM. */
int sdm_del_push(struct sd_delta *d, const char *path, size_t len);

#endif
