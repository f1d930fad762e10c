/* SPDX-License-Identifier: MIT */
/* treegen's random streams: a seeded generator, random and text-like
 * bytes, times, modes, odd names, and file contents and sizes. The same
 * seed gives the same values in the same order. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "treegen.h"

/* ---- a seeded generator: xoshiro256** fed by splitmix64 ---- */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/* Uniform in [0, n); n > 0. The bias of a plain modulo is irrelevant here
 * but determinism is not, so no rejection loop either. */
uint64_t below(struct rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

bool chance(struct rng *r, unsigned pct)
{
	return below(r, 100) < pct;
}

void fill_random(struct rng *r, uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint64_t v = rng_next(r);

		memcpy(p, &v, 8);
		p += 8;
		n -= 8;
	}
	if (n) {
		uint64_t v = rng_next(r);

		memcpy(p, &v, n);
	}
}

/* Text-like bytes (compressible), so zstd has something to do. */
static void fill_text(struct rng *r, uint8_t *p, size_t n)
{
	static const char words[][8] = { "int ",   "return", "; ",  "\n",
					 "static", "{",	     "}\n", "x = ",
					 "foo",	   "(void)", "bar", "\t" };

	for (size_t i = 0; i < n;) {
		const char *w = words[below(r, UTIL_ARRAY_SIZE(words))];
		size_t k = strlen(w);

		if (k > n - i)
			k = n - i;
		memcpy(p + i, w, k);
		i += k;
	}
}

int64_t random_mtime(struct rng *r)
{
	/* 1938 to 2096: before the epoch too, with nanoseconds. */
	int64_t s = (int64_t)below(r, 5000000000ull) - 1000000000ll;

	return s * 1000000000ll + (int64_t)below(r, 1000000000ull);
}

static const mode_t file_modes[] = { 0644, 0644, 0644, 0600, 0755,
				     0700, 0444, 0640, 0755, 04755 };
static const mode_t dir_modes[] = { 0755, 0755,	 0755,	0700, 0750,
				    0775, 02755, 01777, 0555 };

mode_t random_file_mode(struct rng *r)
{
	return file_modes[below(r, UTIL_ARRAY_SIZE(file_modes))];
}

mode_t random_dir_mode(struct rng *r)
{
	return dir_modes[below(r, UTIL_ARRAY_SIZE(dir_modes))];
}

/* ---- names ---- */

/* Every kind of odd name; each is used at least once by gen. The
 * counter appended keeps names unique. */
static const char *const name_styles[] = {
	"file",
	"caf\xc3\xa9-\xc3\xa9",	    /* UTF-8 e-acute */
	"\xe6\x97\xa5\xe6\x9c\xac", /* UTF-8 "Japan" */
	"ctl\x01x",
	"bad\xff\xfe byte",
	"sp a  ce ",
	"new\nline",
	"back\\slash",
	"-leading-dash",
	".hidden",
	" leading space",
	"glob*?[x]#~",
	"tab\there",
	"quote'\"",
};
_Static_assert(UTIL_ARRAY_SIZE(name_styles) == NAME_LONG_STYLE,
	       "NAME_LONG_STYLE counts the name styles");

/* A fresh name into buf (NAME_MAX + 1 bytes): style k, or the 255-byte
 * name for k == NAME_LONG_STYLE. */
void name_make(struct namer *nm, size_t k, char *buf)
{
	unsigned id = nm->serial++;

	if (k >= NAME_LONG_STYLE) {
		int n = snprintf(buf, NAME_MAX + 1, "long-%u-", id);

		/* Pad with 3-byte UTF-8, then ASCII, to exactly 255. */
		while (n + 3 <= NAME_MAX) {
			memcpy(buf + n, "\xe6\x97\xa5", 3);
			n += 3;
		}
		while (n < NAME_MAX)
			buf[n++] = 'z';
		buf[n] = '\0';
		return;
	}
	snprintf(buf, NAME_MAX + 1, "%s-%u", name_styles[k], id);
}

void name_random(struct namer *nm, struct rng *r, char *buf)
{
	/* Mostly plain names, like a real tree. */
	size_t k = chance(r, 55) ? 0 : below(r, UTIL_ARRAY_SIZE(name_styles));

	name_make(nm, k, buf);
}

/* Random content of n bytes: random, text-like, or (big) a block repeated
 * with a few changes, so that chunks repeat within the file. */
uint8_t *content(struct rng *r, size_t n, bool repeated)
{
	uint8_t *buf = malloc(n ? n : 1);

	if (!buf)
		die("out of memory");
	if (repeated && n > 0) {
		size_t blk = 16384 + below(r, 49152);

		fill_random(r, buf, blk < n ? blk : n);
		for (size_t off = blk; off < n; off += blk) {
			size_t k = n - off < blk ? n - off : blk;

			memcpy(buf + off, buf, k);
			if (chance(r, 15))
				fill_random(r, buf + off + below(r, k), 1);
		}
	} else if (chance(r, 50)) {
		fill_text(r, buf, n);
	} else {
		fill_random(r, buf, n);
	}
	return buf;
}

size_t random_size(struct rng *r)
{
	uint64_t k = below(r, 100);

	if (k < 10)
		return 0;
	if (k < 45)
		return (size_t)below(r, 200);
	if (k < 85)
		return (size_t)below(r, 16384);
	if (k < 97)
		return 16384 + (size_t)below(r, 200000);
	return 300000 + (size_t)below(r, 400000);
}
