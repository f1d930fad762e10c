/* SPDX-License-Identifier: MIT */
/* gen-tree's shared parts: its random streams, and the sizes and bytes of
 * the files it makes (gen-tree-text.c). */
#ifndef TETHER_GEN_TREE_H
#define TETHER_GEN_TREE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Determinism: every byte comes from xoshiro256** seeded through splitmix64,
 * with integer arithmetic only (no libm, no rand()), so a seed gives the
 * same tree on any machine and any later version of these files that keeps
 * GEN_FORMAT. Change the generator only together with GEN_FORMAT.
 */
#define GEN_FORMAT 1

#define LARGE_MIN (1ull << 20)
#define LARGE_MAX (50ull << 20)

/* xoshiro256** */
struct rng {
	uint64_t s[4];
};

/* A stream for (seed, purpose, index): independent of every other. */
void gt_rng_init(struct rng *r, uint64_t seed, uint64_t purpose,
		 uint64_t index);

static inline uint64_t gt_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t gt_rng_next(struct rng *r)
{
	uint64_t *s = r->s, res = gt_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = gt_rotl(s[3], 45);
	return res;
}

/* Uniform in [0, n), n > 0 (Lemire's multiply; the bias is below 2^-32
 * for every n used here, and it is deterministic either way). */
static inline uint64_t gt_rng_below(struct rng *r, uint64_t n)
{
	return (uint64_t)(((gt_rng_next(r) >> 32) * (n & 0xffffffffull)) >>
			  32) +
	       (n >> 32 ? (gt_rng_next(r) % (n >> 32)) << 32 : 0);
}

/* Purposes of the streams. */
enum {
	P_LAYOUT = 1,
	P_FILE,
	P_CONTENT,
	P_WORDS,
	P_EDIT,
	P_BRANCH,
	P_EDIT_ONE,
};

/* A small file's size: log-normal-like, 87% under 16 KiB. */
uint64_t gt_draw_small(struct rng *r);
/* A large file's size: LARGE_MIN to LARGE_MAX. */
uint64_t gt_draw_large(struct rng *r);
/* Word i of the vocabulary into out (NUL-terminated); its length. */
size_t gt_word(char *out, uint32_t i);
/* Make the identifiers of seed's source-like text. 0 or -ENOMEM. */
int gt_idents_init(uint64_t seed);
/* n bytes of source-like text, or of random bytes, at dst. */
void gt_gen_text(struct rng *r, char *dst, size_t n);
void gt_gen_random(struct rng *r, char *dst, size_t n);

#endif
