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
/* Path, target and chunk-list bytes one decode may expand into: prefix
 * compression lets a few input bytes stand for a 4 KiB path, so the input
 * length alone does not bound the memory a hostile encoding asks for. */
#define SD_DECODED_MAX (1ull << 30)
/* Encoding format (docs/protocol.md, "Manifests and deltas"). 2: the root
 * hash is over the entries' own hashes (1 hashed the encoding itself). */
#define SD_MANIFEST_FORMAT 2u

enum sd_type {
	SD_T_FILE = 1,
	SD_T_DIR = 2,
	SD_T_SYMLINK = 3,
	/* Another name of a file: target names the entry that holds the
	 * data (the link group's first path in manifest order, a SD_T_FILE).
	 * size, mode, mtime and chunks are the primary's: in the hardlink's
	 * own entry they are 0/NULL (sd_manifest_resolve() finds the
	 * primary). */
	SD_T_HARDLINK = 4,
	/* A regular file whose chunk list is not known yet: its metadata
	 * went ahead of its content (a lazy commit of files the source had
	 * not hashed; docs/protocol.md, "Metadata ahead of content"). size,
	 * mode and mtime as a file's, no chunks. A node serves its bytes
	 * once the source defines it (SYNC_DEFINE) or a later version has
	 * it as a SD_T_FILE. Never a hardlink's target. */
	SD_T_PENDING = 5,
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
	uint8_t type;  /* enum sd_type */
	uint32_t mode; /* permission bits only: mode & 07777; HARDLINK 0 */
	uint64_t size; /* FILE, PENDING: bytes; SYMLINK: target length; else 0 */
	int64_t mtime_ns; /* nanoseconds since the epoch; HARDLINK 0 */
	/* SYMLINK: the link's target, stored as is, never followed (may be
	 * absolute or contain ".."; it is data): 1 to SD_PATH_MAX bytes, no
	 * NUL. HARDLINK: the primary's path (a valid path, see above). Else
	 * NULL. NUL-terminated; target_len excludes the NUL. */
	char *target;
	uint32_t target_len;
	/* FILE: the chunks, in order, whose lens sum to size; no chunk is
	 * empty, so an empty file has none. Else 0/NULL. */
	uint32_t nchunks;
	struct sd_chunkref *chunks;
	/* XXH3-128 of the entry's own record (its encoding with the whole
	 * path, docs/protocol.md): set when the entry enters a manifest
	 * (sd_manifest_add(), a decoder, a copy), so the root hash costs 16
	 * bytes an entry and no encoding. A caller that edits an entry in
	 * place must not. */
	struct sd_id hash;
};

/* Entries own nothing: their path, target and chunks live in arena blocks
 * and stay where they are until sd_manifest_free(). A copy of an entry
 * from a sealed manifest (sd_manifest_add_from(), sd_delta_apply()) shares
 * the bytes with the original instead of copying them. e itself may move
 * on sd_manifest_add(). Not thread-safe; a sealed manifest may be read by
 * any number of threads at once. */
struct sd_manifest {
	uint64_t version;  /* 0: the empty tree before the first sync */
	struct sd_id root; /* valid after sd_manifest_seal() */
	size_t count;
	struct sd_entry *e; /* sorted by path, memcmp order, no duplicates */
	/* implementation: storage for paths, targets and chunk lists: own
	 * blocks, and blocks of other manifests that entries copied from
	 * them still point into (reference-counted, so manifests may be
	 * freed in any order and on any thread) */
	void *arena;
	void *borrowed;
	size_t cap;
	/* Set by sd_manifest_init(), sd_manifest_seal() and the decoders,
	 * cleared by sd_manifest_add(): e is sorted and checked, root is
	 * current. */
	bool sealed;
	/* Valid when sealed, so no caller needs a pass over e[] for them:
	 * SD_T_HARDLINK entries (a pass looking for them can be skipped
	 * when there are none), entries other than directories, and the
	 * sum of the sizes of SD_T_FILE and SD_T_PENDING entries, and the
	 * SD_T_PENDING entries. */
	size_t nhardlinks;
	uint64_t nfiles, nbytes, npending;
};

/* Why a decode or a check refused its input: names the field or path. */
struct sd_err {
	char what[256];
};

/* Fill why (when not NULL) with a printf-formatted line; return code. The
 * one way every syncd module reports why it refused something. */
__attribute__((format(printf, 3, 4))) int
sd_err_set(struct sd_err *why, int code, const char *fmt, ...);

/* Check one relative path against the rules above. Returns 0, or -EINVAL
 * with why filled (e.g. "path 'a/../b': '..' component"). In every why
 * below, a path is shown in single quotes, with bytes outside printable
 * ASCII, the quote and the backslash escaped as \xNN, cut to 96 characters
 * plus "...". why may be NULL everywhere. */
int sd_path_check(const char *path, size_t len, struct sd_err *why);

/* Memcmp order of two paths, a shorter prefix first: <0, 0, >0. */
int sd_path_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* Whether two entries are the same in every field the encoding carries
 * (path, type, mode, size, mtime, target, chunks). */
bool sd_entry_equal(const struct sd_entry *a, const struct sd_entry *b);

/* An initialised manifest is the empty tree at version 0, sealed (root is
 * the empty manifest's root hash), so it can be the base of a first delta
 * as is. (A zero-filled struct is not sealed.) */
void sd_manifest_init(struct sd_manifest *m);
/* Frees what m owns and re-initialises it. */
void sd_manifest_free(struct sd_manifest *m);

/* Append a copy of *e (path, target and chunks are copied; e is borrowed
 * for the call). Entries may be added in any order; sd_manifest_seal()
 * sorts. Checks the entry on its own: the path, a known type, mode &
 * ~07777 == 0, size <= SD_FILE_MAX and equal to the sum of non-zero chunk
 * lens (FILE) or to target_len (SYMLINK), a target exactly for SYMLINK and
 * HARDLINK (a hardlink's a valid path), chunks only for FILE, and 0 in
 * size, mode and mtime_ns of a HARDLINK. Clears m->sealed. Returns 0,
 * -EINVAL (with why) for an entry that breaks a rule or one past
 * SD_ENTRIES_MAX entries, -ENOMEM. */
int sd_manifest_add(struct sd_manifest *m, const struct sd_entry *e,
		    struct sd_err *why);

/* Append a copy of entry i of sealed src: it was checked when src was
 * built, so it is not checked again (the cheap way to carry most of one
 * version into the next). -EINVAL if src is not sealed, -ENOMEM. */
int sd_manifest_add_from(struct sd_manifest *m, const struct sd_manifest *src,
			 size_t i, struct sd_err *why);

/* dst (initialised here) = a sealed copy of sealed src, version included,
 * sharing src's bytes (sd_manifest_add_from()). 0, -EINVAL (src not
 * sealed), -ENOMEM; dst is empty on failure. */
int sd_manifest_copy(struct sd_manifest *dst, const struct sd_manifest *src,
		     struct sd_err *why);

/* Sort, then check the whole tree (each entry was checked on its way in, by
 * sd_manifest_add(), a decoder or as a copy from a sealed manifest; a
 * caller that edits e[] directly answers for what it writes): no duplicate
 * path, every entry's parent directory present as a SD_T_DIR,
 * every hardlink's target an earlier SD_T_FILE; then compute m->root and set
 * m->sealed. Returns 0, -EINVAL with why (m->sealed stays false), -ENOMEM.
 *
 * The root hash is XXH3-128 of the entry count (u32, little-endian) and
 * then each entry's hash in path order (docs/protocol.md): it covers every
 * field of every entry, and neither the version number nor how the
 * entries are stored. */
int sd_manifest_seal(struct sd_manifest *m, struct sd_err *why);

/* Binary search: m must be sorted (sealed). NULL when absent. The result is
 * borrowed from m. */
const struct sd_entry *sd_manifest_find(const struct sd_manifest *m,
					const char *path, size_t len);

/* The entry that holds e's data: for a HARDLINK its target in m, else e
 * itself. NULL only when a hardlink's target is missing (never in a sealed
 * manifest). */
const struct sd_entry *sd_manifest_resolve(const struct sd_manifest *m,
					   const struct sd_entry *e);

/* The index of the first entry with path >= (path, len): with a directory
 * prefix "dir/", iterate its subtree from there. */
size_t sd_manifest_lower_bound(const struct sd_manifest *m, const char *path,
			       size_t len);

/* Full encoding of a sealed manifest (version, root, entries). *buf is
 * malloc'd, the caller frees it; written only on success. There is exactly
 * one encoding of a manifest. Returns 0, -EINVAL when m is not sealed,
 * -EMSGSIZE past SD_ENC_MAX, -ENOMEM. */
int sd_manifest_encode(const struct sd_manifest *m, uint8_t **buf, size_t *len);

/* The version and root hash an encoded manifest's header states, from its
 * first SD_MANIFEST_HEADER bytes, without the entries (so unchecked
 * against them). 0, -EINVAL for anything that does not start like
 * sd_manifest_encode()'s bytes, -EPROTONOSUPPORT for another format. */
#define SD_MANIFEST_HEADER 34u
int sd_manifest_peek(const void *buf, size_t len, uint64_t *version,
		     struct sd_id *root);

/* Decode and seal; refuses (-EINVAL/-EMSGSIZE with why) anything
 * sd_manifest_add or sd_manifest_seal would, any encoding but the one
 * sd_manifest_encode() gives (so a decoded manifest re-encodes to the same
 * bytes), trailing bytes, and a stored root hash that does not match the
 * entries; -EPROTONOSUPPORT for a format other than SD_MANIFEST_FORMAT.
 * Every count and length is checked against its cap and against the bytes
 * left before anything is allocated. m is initialised here (also on
 * failure: sd_manifest_free() is then a no-op). buf is borrowed for the
 * call. */
int sd_manifest_decode(const void *buf, size_t len, struct sd_manifest *m,
		       struct sd_err *why);

/* A delta from one version to the next: entries to add or replace (full
 * entries) and paths to delete (a deleted directory's subtree is deleted
 * with it; the delta lists only its top). Renames are a delete plus an
 * add whose chunks the node already has.
 *
 * Applying it: first every del path is removed from the base together with
 * its subtree, then every put entry is inserted, replacing an entry at the
 * same path. A put replaces only that one entry: a put of a non-directory
 * over a directory leaves the directory's children in place (and the
 * result is then refused, their parent not being a directory) unless the
 * delta also deletes the directory's path, which removes them first. So a
 * directory that becomes a file, symlink or hardlink is "del P" plus
 * "put P"; any other change of an existing path, type changes into a
 * directory included, is a put alone. sd_delta_diff() produces exactly
 * that.
 *
 * Sorted: del and put.e in strictly increasing path order, and no del path
 * inside another's subtree. sd_delta_diff() and sd_delta_decode() give
 * sorted deltas; one built by hand is sorted with sd_delta_seal(). */
struct sd_delta {
	uint64_t base_version;
	struct sd_id base_root;
	uint64_t version;	/* > base_version */
	struct sd_id root;	/* the root hash the result must have */
	struct sd_manifest put; /* entries to add or replace (not sealed) */
	size_t ndel;
	char **del; /* malloc'd paths, NUL-terminated, sorted */
	uint32_t *del_len;
	size_t del_cap; /* implementation: allocated length of del, del_len */
};

void sd_delta_init(struct sd_delta *d);
/* Frees what d owns (put, del, each del path) and re-initialises it. */
void sd_delta_free(struct sd_delta *d);

/* Append a copy of the path to d->del (path borrowed for the call). Returns
 * 0, -EINVAL (with why) for a path sd_path_check() refuses, -ENOMEM. */
int sd_delta_delete(struct sd_delta *d, const char *path, size_t len,
		    struct sd_err *why);

/* Sort a hand-built delta (del and put.e) and check it is one: no path
 * twice in del or in put, no del inside another del's subtree, every put
 * entry as sd_manifest_add() checks it, version > base_version. Returns 0
 * or -EINVAL with why. */
int sd_delta_seal(struct sd_delta *d, struct sd_err *why);

/* The delta from sealed old to sealed new, into d (initialised here; on
 * failure left empty). base_* are old's, version and root new's. Applied
 * to old, it gives new exactly. Borrowed: old and new, for the call.
 * Returns 0, -EINVAL when either is not sealed or new->version <=
 * old->version, -ENOMEM. */
int sd_delta_diff(const struct sd_manifest *old, const struct sd_manifest *new,
		  struct sd_delta *d);

/* Apply sorted d to sealed base, giving a sealed *out (initialised here;
 * empty on failure) with out->version = d->version. Refuses -ESTALE (why
 * names both versions) a delta whose base_version/base_root do not match
 * base; -EINVAL with why: base not sealed, d not sorted, version not above
 * base_version, a delete of a path not in base, or a result that breaks a
 * rule (as sd_manifest_seal()) or whose root hash is not d->root ("root hash
 * mismatch: expected X, got Y"); -ENOMEM. base and d are borrowed for the
 * call and not modified. */
int sd_delta_apply(const struct sd_manifest *base, const struct sd_delta *d,
		   struct sd_manifest *out, struct sd_err *why);

/* sd_delta_apply() for the side that builds d: d->root is not checked, the
 * result's root is out->root (to be copied into d->root before d is sent). */
int sd_delta_result(const struct sd_manifest *base, const struct sd_delta *d,
		    struct sd_manifest *out, struct sd_err *why);

/* Encoding of a sorted delta; *buf malloc'd as for sd_manifest_encode().
 * Returns 0, -EINVAL when d is not sorted, -EMSGSIZE, -ENOMEM. */
int sd_delta_encode(const struct sd_delta *d, uint8_t **buf, size_t *len);

/* Decode a delta into d (initialised here, also on failure), sorted. Refuses
 * as sd_manifest_decode() does, and whatever sd_delta_seal() would. Whether
 * it applies is sd_delta_apply()'s question. buf borrowed for the call. */
int sd_delta_decode(const void *buf, size_t len, struct sd_delta *d,
		    struct sd_err *why);

#endif
