/* SPDX-License-Identifier: MIT */
/* A manifest is a versioned snapshot of a workspace tree: one entry per path
 * (type, mode, size, mtime, symlink target, chunk list), sorted, with a root
 * hash over its canonical encoding. A delta turns one version into the next.
 * Both have a binary encoding (docs/protocol.md) whose decoder treats every
 * byte as hostile. The FUSE view (fs/) answers metadata from this structure,
 * so lookups are by path with a binary search. */
#ifndef TETHER_MANIFEST_H
#define TETHER_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "chunkid.h"

/* Caps the decoder enforces before allocating. */
#define SD_PATH_MAX    4096u	    /* one path, bytes, like PATH_MAX */
#define SD_NAME_MAX    255u	    /* one component, like NAME_MAX */
#define SD_ENTRIES_MAX (16u << 20)  /* entries in one manifest or delta */
#define SD_CHUNKS_MAX  (1u << 24)   /* chunks of one file */
#define SD_FILE_MAX    (1ull << 44) /* 16 TiB */
#define SD_ENC_MAX     (1ull << 32) /* an encoded manifest or delta */

enum sd_type {
	SD_T_FILE = 1,
	SD_T_DIR = 2,
	SD_T_SYMLINK = 3,
	/* Another name of a file: target names the entry that holds the
	 * data (the link group's first path in manifest order, a SD_T_FILE).
	 * size, mode, mtime and chunks are the primary's. */
	SD_T_HARDLINK = 4,
};

struct sd_chunkref {
	struct sd_id id;
	uint32_t len; /* uncompressed bytes */
};

struct sd_entry {
	/* Relative to the workspace root: components separated by one '/',
	 * no leading or trailing '/', no "." or ".." components, no empty
	 * component, no NUL, each at most SD_NAME_MAX bytes, any other byte
	 * allowed (names need not be UTF-8). NUL-terminated for convenience;
	 * path_len excludes the NUL. The root itself has no entry. */
	char *path;
	uint32_t path_len;
	uint8_t type;	  /* enum sd_type */
	uint32_t mode;	  /* permission bits only: mode & 07777 */
	uint64_t size;	  /* FILE: bytes; SYMLINK: target length; else 0 */
	int64_t mtime_ns; /* nanoseconds since the epoch */
	/* SYMLINK: the link's target, stored as is, never followed (may be
	 * absolute or contain ".."; it is data). HARDLINK: the primary's path.
	 * Else NULL. NUL-terminated; target_len excludes the NUL. */
	char *target;
	uint32_t target_len;
	/* FILE: the chunks, in order, whose lens sum to size. Else 0/NULL. */
	uint32_t nchunks;
	struct sd_chunkref *chunks;
};

struct sd_manifest {
	uint64_t version;  /* 0: the empty tree before the first sync */
	struct sd_id root; /* valid after sd_manifest_seal() */
	size_t count;
	struct sd_entry *e; /* sorted by path, memcmp order, no duplicates */
	/* implementation: storage for paths, targets and chunk lists */
	void *arena;
	size_t cap;
};

/* Why a decode or a check refused its input: names the field or path. */
struct sd_err {
	char what[256];
};

/* Check one relative path against the rules above. Returns 0, or -EINVAL
 * with why filled (e.g. "path 'a/../b': '..' component"). */
int sd_path_check(const char *path, size_t len, struct sd_err *why);

void sd_manifest_init(struct sd_manifest *m);
void sd_manifest_free(struct sd_manifest *m);

/* Append a copy of *e (path, target and chunks are copied). Entries may be
 * added in any order; sd_manifest_seal() sorts. Returns 0, -EINVAL (with
 * why) for an entry that breaks a rule, -ENOMEM. */
int sd_manifest_add(struct sd_manifest *m, const struct sd_entry *e,
		    struct sd_err *why);

/* Sort, then check the whole tree: no duplicate path, every entry's parent
 * directory present as a SD_T_DIR, every hardlink's target an earlier
 * SD_T_FILE, chunk lens summing to size; then compute m->root. Returns 0 or
 * -EINVAL with why. */
int sd_manifest_seal(struct sd_manifest *m, struct sd_err *why);

/* Binary search. NULL when absent. */
const struct sd_entry *sd_manifest_find(const struct sd_manifest *m,
					const char *path, size_t len);

/* The index of the first entry with path >= (path, len): with a directory
 * prefix "dir/", iterate its subtree from there. */
size_t sd_manifest_lower_bound(const struct sd_manifest *m, const char *path,
			       size_t len);

/* Full encoding of a sealed manifest (version, root, entries). *buf is
 * malloc'd. Returns 0, -ENOMEM. */
int sd_manifest_encode(const struct sd_manifest *m, uint8_t **buf, size_t *len);

/* Decode and seal; refuses (-EINVAL/-EMSGSIZE with why) anything
 * sd_manifest_add or sd_manifest_seal would, trailing bytes, and a stored
 * root hash that does not match the entries. m is initialised here. */
int sd_manifest_decode(const void *buf, size_t len, struct sd_manifest *m,
		       struct sd_err *why);

/* A delta from one version to the next: entries to add or replace (full
 * entries) and paths to delete (a deleted directory's subtree is deleted
 * with it; the delta lists only its top). Renames are a delete plus an
 * add whose chunks the node already has. */
struct sd_delta {
	uint64_t base_version;
	struct sd_id base_root;
	uint64_t version;
	struct sd_id root;	/* the root hash the result must have */
	struct sd_manifest put; /* entries to add or replace (not sealed) */
	size_t ndel;
	char **del; /* malloc'd paths, sorted */
	uint32_t *del_len;
};

void sd_delta_init(struct sd_delta *d);
void sd_delta_free(struct sd_delta *d);

/* The delta from sealed old to sealed new. Returns 0, -ENOMEM. */
int sd_delta_diff(const struct sd_manifest *old, const struct sd_manifest *new,
		  struct sd_delta *d);

/* Apply d to sealed base, giving a sealed *out (initialised here) with
 * out->version = d->version. Refuses (-EINVAL with why) a delta whose
 * base_version/base_root do not match base (-ESTALE), a delete of a path
 * not in base, or a result that breaks a rule or whose root hash is not
 * d->root. base is not modified. */
int sd_delta_apply(const struct sd_manifest *base, const struct sd_delta *d,
		   struct sd_manifest *out, struct sd_err *why);

int sd_delta_encode(const struct sd_delta *d, uint8_t **buf, size_t *len);
int sd_delta_decode(const void *buf, size_t len, struct sd_delta *d,
		    struct sd_err *why);

#endif
