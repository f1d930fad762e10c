/* SPDX-License-Identifier: MIT */
/* What the lower layer held at each path when a view's upper layer first
 * shadowed it (a copy-up, a whiteout, a name replaced): the base a
 * command's change was made against. tether changes compares it with the
 * version the view shows now: a path the agent changed too is a conflict,
 * never written back. Kept in a file next to the upper (DIR/bases), so a
 * node restart keeps it; discarded with the upper by a reset. */
#ifndef TETHER_FS_BASES_H
#define TETHER_FS_BASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunkid.h"

struct fs_bases;

/* Open (creating) the record file at path and load it. A record cut
 * short by a crash is dropped (the file is cut back to the last whole
 * one). 0 or -errno (-EBADMSG: a record that cannot be one). */
int fs_bases_open(const char *path, struct fs_bases **ret);
void fs_bases_free(struct fs_bases *b);

/* The records of buf (size bytes, untrusted) in memory, with no file
 * behind them (for tests and the fuzzer): 0, *ret and *used (the bytes of
 * whole records); -EBADMSG for a record that cannot be one; -ENOMEM. */
int fs_bases_parse(const uint8_t *buf, size_t size, struct fs_bases **ret,
		   size_t *used);

/* How many paths have a base. */
size_t fs_bases_count(struct fs_bases *b);

/* path (len bytes) is shadowed now; the lower had the entry of hash id
 * there, or nothing (id NULL). Only the first note of a path counts.
 * Thread-safe. 0 or -errno (the record could not be written). */
int fs_bases_note(struct fs_bases *b, const char *path, size_t len,
		  const struct sd_id *id);

/* The base of path: 1 with *had (whether the lower had an entry) and *id
 * (its hash, when had); 0 when path was never noted. Thread-safe. */
int fs_bases_get(struct fs_bases *b, const char *path, size_t len, bool *had,
		 struct sd_id *id);

/* The upper no longer shadows path (its change reached the lower): its
 * base goes, and a later change notes a new one. 0 or -errno. */
int fs_bases_forget(struct fs_bases *b, const char *path, size_t len);

/* Forget every base (tether reset). 0 or -errno. */
int fs_bases_clear(struct fs_bases *b);

#endif
