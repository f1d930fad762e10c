/* SPDX-License-Identifier: MIT */
/* Random trees and rule files for the ignore suite's comparison with git:
 * names with odd bytes, nested .gitignore / .tetherignore files and config
 * patterns, built from a seed so that a failing case can be replayed. */
#ifndef TETHER_IGNORE_GEN_H
#define TETHER_IGNORE_GEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A byte buffer; appends past its size are cut. */
struct gen_buf {
	char b[8192];
	size_t n;
};

/* Entries of one tree, at most. */
#define GEN_MAXN 72

struct gen_node {
	char path[256];
	size_t len;
	int kind; /* 0 file, 1 directory, 2 symlink */
	int depth;
};

struct gen_case {
	struct gen_node n[GEN_MAXN];
	int count;
	/* Rule files of the root (index 0) and of each directory node i
	 * (index i + 1). */
	struct gen_buf *gi[GEN_MAXN + 1], *ti[GEN_MAXN + 1];
	char extra[4][300];
	const char *extrap[4];
	int nextra;
};

void gen_buf_add(struct gen_buf *b, const void *p, size_t n);
void gen_buf_str(struct gen_buf *b, const char *s);
void gen_buf_ch(struct gen_buf *b, char c);

/* The case of one seed: a tree (names that are never ".", "..", ".git" or a
 * rule file's), rule files for the root and some directories (a directory
 * with a .tetherignore always has a .gitignore, possibly empty), and 0 to 3
 * config patterns. Free with gen_case_free(). */
void gen_case_make(struct gen_case *g, uint64_t seed);
void gen_case_free(struct gen_case *g);

/* One pattern of a grammar dense in the matcher's corners: classes
 * (negated, ranges, escapes, [:name:] known and unknown, "[:" without
 * ":]", unterminated), '?', '*', "**" in every position, escapes, a
 * trailing '\'. NUL-terminated, at most size - 1 bytes. */
void gen_wild_pattern(uint64_t seed, char *out, size_t size);

/* The paths such patterns are tried on, relative to the pattern's
 * directory; those with a '/' are files in subdirectories. */
extern const char *const gen_wild_names[];
extern const size_t gen_wild_nnames;

/* The tree, every rule file and the config patterns, bytes escaped, to
 * stderr. */
void gen_case_dump(const struct gen_case *g);
void gen_dump_bytes(const char *what, const char *p, size_t n);

#endif
