/* SPDX-License-Identifier: MIT */
/* Ignore rules for the workspace scanner: git's .gitignore semantics, plus
 * .tetherignore files and patterns from the config, kept as a stack of
 * per-directory rule sets that follows a depth-first walk. */
#ifndef TETHER_IGNORE_H
#define TETHER_IGNORE_H

#include <stdbool.h>
#include <stddef.h>

/* Per-directory rule files, read in this order at each level. */
#define SD_IGNORE_GITIGNORE    ".gitignore"
#define SD_IGNORE_TETHERIGNORE ".tetherignore"

/* A rule file larger than this is skipped with a warning. */
#define SD_IGNORE_FILE_MAX (1u << 20)
/* A pattern (one line, after trimming) longer than this is skipped with a
 * warning. git has no such limit; 4096 is PATH_MAX, and it bounds the
 * matcher's worst case, which is linear in the pattern's length. */
#define SD_IGNORE_PATTERN_MAX 4096u

/*
 * Semantics (those of `git ls-files --others --exclude-standard`, checked
 * against git 2.39 by tests/unit/test_ignore.c):
 *
 *  - Syntax is gitignore(5): blank lines and lines starting with '#' are
 *    skipped; trailing spaces are trimmed unless escaped ("a\ "); "\#" and
 *    "\!" start a pattern with a literal '#' or '!'; "!" negates; a trailing
 *    '/' matches directories only; a '/' at the start or in the middle
 *    anchors the pattern to the directory of the file that holds it, else it
 *    matches a name at any depth below that directory; '*', '?', "[...]"
 *    (ranges, '!' or '^' negation, [:alpha:] and the other POSIX classes over
 *    ASCII), "**" leading, trailing and in the middle, down to git's corners
 *    ("foo**" + "/bar" crosses directories, "[[:bogus:]]" matches
 *    nothing). A UTF-8 BOM at the
 *    start of a file and a CR before each LF are dropped; a NUL ends a line.
 *    Names and patterns are byte strings; case matters.
 *  - Precedence, highest first: the deepest directory's rules, then each
 *    shallower directory's, then the config patterns (like git's
 *    core.excludesFile, so an in-tree "!name" can re-include what the config
 *    ignores). Within one directory, .tetherignore's rules come after
 *    .gitignore's, and within a list the last matching pattern wins.
 *  - An entry named ".git" (directory or file) at any depth is always
 *    ignored, whatever the rules say, unless keep_dot_git is set.
 *  - A directory that matches is ignored with everything below it: the
 *    caller does not descend into it, which is also why nothing below an
 *    ignored directory can be re-included.
 *  - A rule file that is not there is no error. One that cannot be used (a
 *    symbolic link, not a regular file, unreadable, larger than
 *    SD_IGNORE_FILE_MAX) is skipped with one warning line naming it, as git
 *    skips it; an over-long pattern is skipped with a warning naming the
 *    file and line. The walk goes on either way.
 */

struct sd_ignore_config {
	/* Do not ignore entries named ".git". Default false. */
	bool keep_dot_git;
	/* Extra patterns, each parsed as the text of a rule file (so normally
	 * one pattern), relative to the root, at the lowest precedence.
	 * Borrowed for the duration of sd_ignore_new(), which copies them. */
	const char *const *patterns;
	size_t npatterns;
	/* How warnings name the root (e.g. the workspace path). Borrowed for
	 * the duration of sd_ignore_new(), which copies it. NULL: ".". */
	const char *root_name;
};

struct sd_ignore;

/* Defaults: .git ignored, no extra patterns, root named ".". */
void sd_ignore_config_init(struct sd_ignore_config *cfg);

/* A rule stack with only the config patterns; the walk then enters the root.
 * Returns 0 and sets *ret, -ENOMEM, or -EINVAL if a config pattern is longer
 * than SD_IGNORE_PATTERN_MAX. */
int sd_ignore_new(const struct sd_ignore_config *cfg, struct sd_ignore **ret);

/* Accepts NULL. */
void sd_ignore_free(struct sd_ignore *ig);

/*
 * The walk descends into rel_dir: push its rules, read from .gitignore and
 * .tetherignore in dirfd (openat, O_NOFOLLOW; dirfd is borrowed for the call
 * only). dirfd < 0 pushes a level without rule files.
 *
 * rel_dir is relative to the root, without leading or trailing '/': ""
 * (len 0) for the root, which must be entered first, then always a child of
 * the directory entered last ("a", then "a/b"). The caller must not enter a
 * directory that sd_ignore_match() ignores. rel_dir need not be
 * NUL-terminated.
 *
 * The rule files' patterns are compiled here, so their cost is paid once
 * per directory, not per match.
 *
 * Returns 0 (warnings for unusable rule files are logged, see above), or,
 * with nothing pushed: -EINVAL (not the root first or not a child of the
 * current directory), -ENAMETOOLONG (len >= SD_PATH_MAX), -ENOMEM, -EMFILE,
 * -ENFILE (out of memory or descriptors: an error, because rules silently
 * dropped would sync what the user meant to keep out).
 * Blocking: two openat() and, for files present, fstat() and read().
 */
int sd_ignore_enter_dir(struct sd_ignore *ig, const char *rel_dir, size_t len,
			int dirfd);

/* Which rule file a directory entry named name (len bytes) is:
 * SD_IGNORE_HAS_GITIGNORE, SD_IGNORE_HAS_TETHERIGNORE, or 0. */
#define SD_IGNORE_HAS_GITIGNORE	   1u
#define SD_IGNORE_HAS_TETHERIGNORE 2u
unsigned sd_ignore_rule_file(const char *name, size_t len);

/* sd_ignore_enter_dir() for a walker that lists a directory before
 * entering it: present is the OR of sd_ignore_rule_file() over its
 * entries, and only those files are opened. Saves the two failed openat()
 * of a directory without rule files (about 2 us a directory here, as much
 * as matching all of its entries). A file listed but gone by then is
 * skipped silently. */
int sd_ignore_enter_dir_listed(struct sd_ignore *ig, const char *rel_dir,
			       size_t len, int dirfd, unsigned present);

/* The walk leaves the directory entered last; pops its rules. */
void sd_ignore_leave_dir(struct sd_ignore *ig);

/* Directories entered and not yet left (0 before the root is entered). */
size_t sd_ignore_depth(const struct sd_ignore *ig);

/*
 * Is the entry rel_path (len bytes, need not be NUL-terminated, no NUL
 * inside) ignored? It must be a direct child of the directory entered last:
 * "name" in the root, "a/b/name" in "a/b". is_dir is true only for a real
 * directory: a symbolic link to one is not (as in git), so "dir/" patterns
 * do not match it.
 *
 * Never allocates, blocks or recurses; const, so several threads may match
 * at once while no thread enters or leaves. One sd_ignore per walking
 * thread. About 80 ns a call under an 80-pattern rule set
 * (bench/ignore-match.c); the worst case is bounded by the path's length
 * times the path's and the pattern's lengths.
 */
bool sd_ignore_match(const struct sd_ignore *ig, const char *rel_path,
		     size_t len, bool is_dir);

/*
 * Random access, for a path met outside a walk (a watcher's event, its skip
 * callback): is rel_path ignored, itself or through a directory above it?
 * Moves the stack as a walk would: leaves the directories not above
 * rel_path and enters the missing ones, each opened below rootfd one
 * component at a time (O_PATH | O_NOFOLLOW) to read its rule files, so a
 * query next to the previous one costs one match. rootfd is borrowed and
 * must be the same directory on every call; do not interleave with a walk
 * on the same sd_ignore. Rule files are read when their directory is
 * entered: after one changes, sd_ignore_reset() makes the next call reread.
 * Not const: one thread at a time.
 *
 * Returns 1 ignored, 0 not, or -errno: -EINVAL (empty path, an empty, "."
 * or ".." component, a NUL), -ENAMETOOLONG, -ENOENT / -ENOTDIR / -ELOOP /
 * -EACCES (a directory above rel_path is gone, is not a directory or a
 * symlink, or cannot be searched), and the errors of sd_ignore_enter_dir().
 */
int sd_ignore_check(struct sd_ignore *ig, int rootfd, const char *rel_path,
		    size_t len, bool is_dir);

/* Leaves every directory entered (after a walk fails half-way, or to reread
 * rule files). */
void sd_ignore_reset(struct sd_ignore *ig);

#endif
