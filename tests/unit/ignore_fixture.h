/* SPDX-License-Identifier: MIT */
/* Shared fixture of the ignore suite: a private temp directory, file and
 * string-set helpers, the scanner-like walk, stderr capture, git runs, and
 * random trees and rule files made from a seed so a failing case replays. */
#ifndef TETHER_IGNORE_FIXTURE_H
#define TETHER_IGNORE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ignore.h"

/* ---- a private temp directory per test ---- */

struct fx {
	char root[256];
	int rootfd;
};

/* cmocka setup and teardown: *state becomes a struct fx. */
int fx_setup(void **state);
int fx_teardown(void **state);

/* rm -rf of name in dfd (making directories writable on the way). */
void fx_rm_rf_at(int dfd, const char *name);
/* mkdir -p below the root: of the first len bytes of path, of path, of
 * path's parent. */
void fx_mkdirs_n(struct fx *f, const char *path, size_t len);
void fx_mkdirs(struct fx *f, const char *path);
void fx_mkparent(struct fx *f, const char *path);
/* Writes a file below the root, its parent directories made. */
void fx_put_n(struct fx *f, const char *path, const void *data, size_t n);
void fx_put(struct fx *f, const char *path, const char *text);

/* stderr into a buffer between begin and end (what end returns, valid
 * until the next capture). */
void fx_cap_begin(void);
const char *fx_cap_end(void);
int fx_count_lines(const char *s);

/* ---- string sets and the walk ---- */

struct strv {
	char **v;
	size_t n, cap;
};

void strv_add(struct strv *s, const char *p, size_t n);
void strv_sort(struct strv *s);
bool strv_has(const struct strv *s, const char *p); /* sorted s */
void strv_free(struct strv *s);

/* The scanner's walk of the root under cfg: depth-first, each directory
 * listed before it is entered (sd_ignore_enter_dir_listed()), an ignored
 * directory not entered. files gets every non-directory kept, seen (may be
 * NULL) every entry kept; both sorted. */
void fx_walk(struct fx *f, const struct sd_ignore_config *cfg,
	     struct strv *files, struct strv *seen);

/* ---- git ---- */

/* Runs argv (posix_spawnp); its stdout into *out (NUL-terminated, malloc'd)
 * unless out is NULL. Returns the exit status, 127 if it could not run. */
int fx_run(char *const argv[], char **out, size_t *len);
/* A git repository at the root, git confined to it and blind to every
 * exclude but the tree's. false if git cannot be run. */
bool fx_git_setup(struct fx *f);
/* What `git ls-files --others --exclude-standard -z` lists, sorted. */
void fx_git_others(struct fx *f, struct strv *out);
/* Everything at the root but .git removed. */
void fx_clear_worktree(struct fx *f);
/* A number from the environment, or def. */
uint64_t fx_env_u64(const char *name, uint64_t def);

/* ---- random cases ---- */

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

/* Writes g's tree and rule files below the root. */
void fx_write_case(struct fx *f, struct gen_case *g);
/* Rewrites g for git: each .tetherignore's rules appended to its
 * .gitignore, the config patterns as .git/info/exclude. */
void fx_git_view(struct fx *f, const struct gen_case *g);

#endif
