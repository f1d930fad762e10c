/* SPDX-License-Identifier: MIT */
/* gen-tree's random streams, file sizes and file contents (gen-tree.h). */
#include "gen-tree.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- PRNG ---- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A stream for (seed, purpose, index): independent of every other. */
void gt_rng_init(struct rng *r, uint64_t seed, uint64_t purpose, uint64_t index)
{
	uint64_t x = seed ^ (purpose * 0xd1342543de82ef95ull) ^
		     (index * 0x2545f4914f6cdd1dull) ^ GEN_FORMAT;

	splitmix64(&x);
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

/* ---- sizes ---- */

/*
 * Small files: a discrete approximation of a log-normal, per mille per
 * power-of-two bucket [lo, hi), uniform inside. 87% are under 16 KiB; the
 * mean is about 11 KB, about 0.9 GB for 80000 files, close to a kernel
 * source tree (the rest of the default 1.3 GB is the large-file tail).
 */
static const struct {
	uint32_t lo, hi, permille;
} size_table[] = {
	{ 0, 1, 5 },	       { 1, 64, 15 },	       { 64, 256, 45 },
	{ 256, 1024, 125 },    { 1024, 2048, 145 },    { 2048, 4096, 175 },
	{ 4096, 8192, 190 },   { 8192, 16384, 172 },   { 16384, 32768, 70 },
	{ 32768, 65536, 35 },  { 65536, 131072, 15 },  { 131072, 262144, 5 },
	{ 262144, 524288, 2 }, { 524288, 1048576, 1 },
};

uint64_t gt_draw_small(struct rng *r)
{
	uint64_t u = gt_rng_below(r, 1000), acc = 0;
	size_t i;

	for (i = 0; i < sizeof(size_table) / sizeof(size_table[0]); i++) {
		acc += size_table[i].permille;
		if (u < acc)
			break;
	}
	if (size_table[i].hi - size_table[i].lo <= 1)
		return size_table[i].lo;
	/* Several octaves in one bucket: pick the octave, then uniform. */
	uint64_t lo = size_table[i].lo, hi = size_table[i].hi;
	if (lo >= 64) {
		uint64_t oct = 0;
		while ((lo << (oct + 1)) < hi)
			oct++;
		lo <<= gt_rng_below(r, oct + 1);
		hi = lo * 2;
	}
	return lo + gt_rng_below(r, hi - lo);
}

/* Large: one of the octaves 1-2 MiB ... 32-64 MiB uniformly, capped. */
uint64_t gt_draw_large(struct rng *r)
{
	uint64_t a = LARGE_MIN << gt_rng_below(r, 6),
		 s = a + gt_rng_below(r, a);

	return s > LARGE_MAX ? LARGE_MAX : s;
}

/* ---- words and text ---- */

static const char *const syl_c = "bdfgklmnprstvz";
static const char *const syl_v = "aeiou";

/* Word i of the CV-syllable vocabulary: base-70 digits of i, each spelt as a
 * consonant-vowel pair (so the split is unambiguous), 2 of them below 4900,
 * 3 above: distinct words for every i below 70^3. */
size_t gt_word(char *out, uint32_t i)
{
	size_t n = 0;
	uint32_t nsyl = i < 70 * 70 ? 2 : 3;

	for (uint32_t k = 0; k < nsyl; k++) {
		uint32_t d = i % 70;

		i /= 70;
		out[n++] = syl_c[d % 14];
		out[n++] = syl_v[d / 14];
	}
	out[n] = 0;
	return n;
}

static const char *const keywords[] = {
	"static",   "int",	"return", "if",	   "else",   "for",
	"while",    "struct",	"const",  "void",  "char",   "unsigned",
	"size_t",   "uint64_t", "break",  "case",  "switch", "sizeof",
	"NULL",	    "goto",	"err",	  "out",   "def",    "self",
	"import",   "from",	"class",  "None",  "func",   "let",
	"var",	    "pub",	"fn",	  "impl",  "match",  "use",
	"continue", "bool",	"true",	  "false", "assert", "errno",
	"len",	    "buf",	"ret",	  "data",  "ctx",    "opts",
};
#define NKEYWORDS (sizeof(keywords) / sizeof(keywords[0]))
static const char *const seps[] = { " ",  " ", ", ",  " = ",  "(", ") ",
				    "->", ".", " + ", " && ", "[", "] " };
#define NSEPS (sizeof(seps) / sizeof(seps[0]))

#define NIDENT 4096u
static char *ident[NIDENT];
static uint8_t ident_len[NIDENT];

/* Identifiers: snake_case of one to three vocabulary words, per seed. */
int gt_idents_init(uint64_t seed)
{
	struct rng r;
	char w[16];

	gt_rng_init(&r, seed, P_WORDS, 0);
	for (uint32_t i = 0; i < NIDENT; i++) {
		char buf[64];
		size_t n = 0, parts = 1 + gt_rng_below(&r, 3);

		for (size_t p = 0; p < parts; p++) {
			size_t wl = gt_word(w, (uint32_t)gt_rng_below(&r, 600));

			if (p)
				buf[n++] = '_';
			memcpy(buf + n, w, wl);
			n += wl;
		}
		ident[i] = malloc(n + 1);
		if (!ident[i])
			return -ENOMEM;
		memcpy(ident[i], buf, n);
		ident[i][n] = 0;
		ident_len[i] = (uint8_t)n;
	}
	return 0;
}

/* Skewed towards small indices, like identifier frequencies in code. */
static inline uint32_t zipfish(struct rng *r, uint32_t n)
{
	uint64_t a = gt_rng_below(r, n), b = gt_rng_below(r, n);

	return (uint32_t)(a * b / n);
}

static size_t put(char *dst, size_t at, size_t cap, const char *s, size_t n)
{
	if (at + n > cap)
		n = cap - at;
	memcpy(dst + at, s, n);
	return at + n;
}

/* Source-like text: indented lines of keywords, identifiers, numbers and
 * punctuation, some comments and blank lines; fills exactly n bytes. Like
 * real code, a file mostly uses a few dozen identifiers of its own (a
 * window of the skewed global list) and repeats whole lines: that is what
 * gives zstd about 3-4x on it, near real source. */
void gt_gen_text(struct rng *r, char *dst, size_t n)
{
	static const char tabs[] = "\t\t\t\t\t";
	size_t at = 0, line[16];
	uint32_t nline = 0, base = zipfish(r, NIDENT);
	char num[24];

	while (at < n) {
		uint32_t kind = (uint32_t)gt_rng_below(r, 16);
		uint32_t ntok;

		if (kind == 0) {
			at = put(dst, at, n, "\n", 1);
			continue;
		}
		if (kind <= 3 && nline > 1) {
			/* a line seen before, from the start of that line
			 * to the start of the next one */
			uint32_t k = (uint32_t)gt_rng_below(
				r, (nline < 16 ? nline : 16) - 1);
			size_t from = line[(nline - 2 - k) % 16],
			       to = line[(nline - 1 - k) % 16];

			if (to > from && at + (to - from) <= n) {
				memmove(dst + at, dst + from, to - from);
				at += to - from;
				continue;
			}
		}
		line[nline++ % 16] = at;
		at = put(dst, at, n, tabs, gt_rng_below(r, 5));
		if (kind == 6) {
			at = put(dst, at, n, "/*", 2);
			ntok = 4 + (uint32_t)gt_rng_below(r, 9);
			for (uint32_t t = 0; t < ntok; t++) {
				uint32_t i = zipfish(r, NIDENT);

				at = put(dst, at, n, " ", 1);
				at = put(dst, at, n, ident[i], ident_len[i]);
			}
			at = put(dst, at, n, " */\n", 4);
			continue;
		}
		ntok = 2 + (uint32_t)gt_rng_below(r, 6);
		for (uint32_t t = 0; t < ntok; t++) {
			uint32_t c = (uint32_t)gt_rng_below(r, 20);

			if (t) {
				const char *sp = seps[zipfish(r, NSEPS)];

				at = put(dst, at, n, sp, strlen(sp));
			}
			if (c < 6) {
				const char *k = keywords[zipfish(r, NKEYWORDS)];

				at = put(dst, at, n, k, strlen(k));
			} else if (c == 6) {
				int l = snprintf(num, sizeof(num), "%" PRIu64,
						 gt_rng_below(r, 256));

				at = put(dst, at, n, num, (size_t)l);
			} else {
				uint32_t i = c < 17 ? (base + zipfish(r, 48)) %
							      NIDENT
						    : zipfish(r, NIDENT);

				at = put(dst, at, n, ident[i], ident_len[i]);
			}
		}
		if (gt_rng_below(r, 4))
			at = put(dst, at, n, ";\n", 2);
		else
			at = put(dst, at, n, " {\n", 3);
	}
}

void gt_gen_random(struct rng *r, char *dst, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t v = gt_rng_next(r);

		memcpy(dst + i, &v, 8);
	}
	if (i < n) {
		uint64_t v = gt_rng_next(r);

		memcpy(dst + i, &v, n - i);
	}
}
