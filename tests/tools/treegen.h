/* SPDX-License-Identifier: MIT */
/* treegen: what its files share: messages and path helpers
 * (treegen_util.c), the seeded random streams, names and contents
 * (treegen_rng.c), making entries and walking a tree (treegen_fs.c), and
 * the entry points of the gen, mutate and digest commands
 * (treegen_gen.c, treegen_mutate.c, treegen_digest.c). Single-threaded;
 * every random choice comes from one seeded stream, so that the same seed
 * gives the same tree and the same edits. */
#ifndef TETHER_TREEGEN_H
#define TETHER_TREEGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The deepest a directory that receives entries may be. */
#define DEPTH_MAX 5

/* ---- treegen_util.c ---- */

/* Prints "treegen: MESSAGE" to stderr and exits with status 1. */
__attribute__((format(printf, 1, 2), noreturn)) void die(const char *fmt, ...);

/* A path for messages and the digest: every byte visible. */
void put_escaped(FILE *f, const char *p, size_t n);
/* p with every byte visible, in a static buffer valid for the next three
 * calls. */
const char *shown(const char *p);

struct strs {
	char **v;
	size_t n, cap;
};

void strs_push(struct strs *s, const char *p);
void strs_free(struct strs *s);

/* parent "" + name -> "name"; else "parent/name" (free). */
char *join(const char *parent, const char *name);
/* How many components p has ("" has none). */
int depth_of(const char *p);
/* The relative symlink target that names `to` from a link placed in
 * directory `from` (both relative to the root; free). */
char *rel_target(const char *from, const char *to);
/* The directory path is in ("" for the root; free). */
char *parent_of(const char *path);

/* ---- treegen_rng.c ---- */

/* A seeded generator: xoshiro256** fed by splitmix64. */
struct rng {
	uint64_t s[4];
};

void rng_seed(struct rng *r, uint64_t seed);
/* Uniform in [0, n); n > 0. */
uint64_t below(struct rng *r, uint64_t n);
/* True pct times in 100. */
bool chance(struct rng *r, unsigned pct);
void fill_random(struct rng *r, uint8_t *p, size_t n);
/* A time from 1938 to 2096, in nanoseconds since the epoch. */
int64_t random_mtime(struct rng *r);
/* A mode for a file, or for a directory, odd ones among them. */
mode_t random_file_mode(struct rng *r);
mode_t random_dir_mode(struct rng *r);

/* The number of odd name styles; name_make() takes one of them, or
 * NAME_LONG_STYLE for the 255-byte name. */
#define NAME_LONG_STYLE ((size_t)14)

struct namer {
	unsigned serial;
};

/* A fresh name into buf (NAME_MAX + 1 bytes): style k, or the 255-byte
 * name for k == NAME_LONG_STYLE. */
void name_make(struct namer *nm, size_t k, char *buf);
/* A fresh name of a random style, mostly plain. */
void name_random(struct namer *nm, struct rng *r, char *buf);

/* Random content of n bytes (free): random, text-like, or (repeated) a
 * block repeated with a few changes, so that chunks repeat within the
 * file. */
uint8_t *content(struct rng *r, size_t n, bool repeated);
/* A file size: mostly small, a few hundred KiB at most. */
size_t random_size(struct rng *r);

/* ---- treegen_fs.c ---- */

/* Sets path's mtime (not following a symlink). */
void set_mtime(int root, const char *path, int64_t ns);
void write_all(int fd, const uint8_t *p, size_t n, const char *path);
/* Makes the directory path is in owner-writable when we are not root (a
 * 0555 one). */
void parent_writable(int root, const char *path);
/* A new file of n random bytes and a random mode. */
void make_random_file(struct rng *r, int root, const char *path, size_t n,
		      bool repeated);
void make_dir(int root, const char *path, mode_t mode);
void make_symlink(int root, const char *target, const char *path);

struct ent {
	char *path;
	struct stat st;
};

struct ents {
	struct ent *v;
	size_t n, cap;
};

/* Every entry below root (not root itself, nor a top-level .git), sorted
 * bytewise by path. */
void walk_tree(int root, struct ents *l);
void ents_free(struct ents *l);

/* ---- the commands ---- */

/* treegen_gen.c: a random tree of nfiles files in dir. */
int cmd_gen(const char *dir, uint64_t seed, unsigned nfiles, bool sparse);
/* treegen_mutate.c: a random batch of edits to the tree in dir. */
int cmd_mutate(const char *dir, uint64_t seed);
/* treegen_digest.c: one line per entry of the tree in dir, to stdout. */
int cmd_digest(const char *dir);

#endif
