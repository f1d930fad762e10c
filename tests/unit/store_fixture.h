/* SPDX-License-Identifier: MIT */
/* Shared fixture of the chunk store suites (test_store.c,
 * test_store_recover.c, test_store_gc.c, test_store_gc_crash.c): chunks
 * made from a seed, packs of them, stores in temporary directories, and
 * the layout of packs the GC tests start from with the judge that says
 * which of its chunks are live. */
#ifndef TETHER_STORE_FIXTURE_H
#define TETHER_STORE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pack.h"
#include "store.h"

/* The index file: a header, then one record a chunk. */
#define IDX_HDR 16
#define IDX_REC 48

/* Group setup and teardown: the compression context build() uses. */
int store_setup(void **state);
int store_teardown(void **state);

/* Chunk seed's bytes: text-like (compresses) or random (does not). */
void make_chunk(uint8_t *p, size_t n, uint32_t seed, bool text);
/* A pack of chunks seeds[0..n), each len bytes; their ids in ids when not
 * NULL. */
void build(struct sd_pack_writer *w, const uint32_t *seeds, size_t n,
	   size_t len, bool text, struct sd_id *ids);
/* The store holds chunk seed and reads it back right. */
void check_get(struct sd_store *s, uint32_t seed, size_t len, bool text);
/* A new directory under /tmp (free with rmtree). */
char *tmpdir(void);
/* Removes d and everything below it, and frees d. */
void rmtree(char *d);
/* dir/rel in a static buffer. */
char *path(const char *dir, const char *rel);
off_t fsize(const char *p);
/* Opens the store in dir, or fails the test with the reason. */
struct sd_store *open_ok(const char *dir);
/* Puts w's batch: the chunks stored, or -ENOSPC; anything else fails the
 * test. */
ssize_t put(struct sd_store *s, const struct sd_pack_writer *w);
/* Flips a bit of the byte at off in the file p. */
void flip_byte(const char *p, off_t off);
/* A tmpfs of size mounted on dir, in a private mount namespace; -1 with a
 * message (the caller skips) when that cannot be done. */
int mount_tmpfs(char *dir, const char *size);

/* ---- garbage collection ---- */

/* The layout most GC tests start from: L_N incompressible chunks of L_LEN
 * bytes put in batches of 10 with a roll size that makes each batch its
 * own pack, so pack p holds chunks 10p .. 10p+9 (p = 5 is the current
 * one). layout_live() makes packs 0 and 4 dead, 1 and 5 mostly dead (to be
 * rewritten), 2 all live and 3 mostly live (kept as they are). */
#define L_N    60
#define L_LEN  9000
#define L_SEED 4000
#define L_REC  (SD_PACK_HDR_SIZE + L_LEN)
#define L_ROLL 100000
#define L_LIVE (2 + 10 + 7 + 3)

extern const struct sd_store_opts l_opts;

bool layout_live(uint32_t i);

/* The chunks a test knows, by id, with their verdict. */
struct known {
	struct sd_id id;
	uint32_t seed;
	bool live;
	uint32_t calls; /* times live() asked */
};

struct judge {
	struct known *k;
	size_t n;
	uint32_t unknown; /* live() asked about a chunk not in k */
	/* Optional: what to do on the first call. */
	void (*first)(struct judge *j);
	bool started;
	unsigned delay_us; /* per call */
	void *user;
};

/* Orders known chunks by id (qsort, bsearch). */
int known_cmp(const void *a, const void *b);
/* The id of chunk seed (incompressible, len bytes). */
struct sd_id seed_id(uint32_t seed, size_t len);
/* j knows the layout's chunks, with layout_live()'s verdicts. */
void judge_init(struct judge *j);
/* The live() of sd_store_gc, with j as its opaque. */
bool judge_live(void *opaque, const struct sd_id *id);
/* Puts the layout's chunks into s. */
void layout_put(struct sd_store *s);
/* A new directory holding a store of the layout (free with rmtree). */
char *layout_new(void);
/* The pack files in dir/packs: how many, and their bytes. */
uint32_t disk_packs(const char *dir, uint64_t *bytes);
/* The store s on dir holds every live chunk of the layout, verified, and
 * only pack files its index references. With exact, nothing else of the
 * layout either; without (after a crash), a dead chunk still held must
 * read back right. */
void layout_check(struct sd_store *s, const char *dir, bool exact);
/* GC of s judged by j: 0 or -ENOSPC; anything else fails the test. */
int gc_ok(struct sd_store *s, struct judge *j, struct sd_store_gc_stats *st);

#endif
