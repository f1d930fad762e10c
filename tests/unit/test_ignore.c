/* SPDX-License-Identifier: MIT */
/* Unit tests for the ignore rules (syncd/ignore.c): each gitignore rule on
 * its own, then random trees whose walk must agree with git itself. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ignore.h"
#include "ignore_fixture.h"
#include "log.h"
#include "manifest.h"

/* Is path ignored, as a walk would find (through sd_ignore_check()): 1, 0
 * or -errno. Creates the directories above path. */
static int check_cfg(struct fx *f, const struct sd_ignore_config *cfg,
		     const char *path, bool is_dir)
{
	struct sd_ignore_config def;
	struct sd_ignore *ig;
	int r;

	if (!cfg) {
		sd_ignore_config_init(&def);
		cfg = &def;
	}
	fx_mkparent(f, path);
	assert_int_equal(sd_ignore_new(cfg, &ig), 0);
	r = sd_ignore_check(ig, f->rootfd, path, strlen(path), is_dir);
	sd_ignore_free(ig);
	return r;
}

static void expect(struct fx *f, const struct sd_ignore_config *cfg,
		   const char *path, bool is_dir, int want, int line)
{
	int r = check_cfg(f, cfg, path, is_dir);

	if (r != want)
		fail_msg("line %d: '%s'%s: got %d, want %d", line, path,
			 is_dir ? " (dir)" : "", r, want);
}

#define IGN(p)	  expect(f, NULL, (p), false, 1, __LINE__)
#define KEEP(p)	  expect(f, NULL, (p), false, 0, __LINE__)
#define IGN_D(p)  expect(f, NULL, (p), true, 1, __LINE__)
#define KEEP_D(p) expect(f, NULL, (p), true, 0, __LINE__)

/* ---- one rule at a time ---- */

static void test_comments_blank(void **state)
{
	struct fx *f = *state;

	fx_put(f, ".gitignore", "# comment\n\n   \n#a\n\\#b\n c\n\t\n");
	KEEP("# comment");
	KEEP("#a");
	IGN("#b");
	IGN(" c");
	KEEP("c");
	KEEP(" ");
	KEEP("   ");
	IGN("\t"); /* only spaces are trimmed */
}

static void test_trailing_spaces(void **state)
{
	struct fx *f = *state;

	fx_put(f, ".gitignore", "a   \nb\\ \nc\\  \nd \\ \ne\t\n");
	IGN("a");
	KEEP("a ");
	KEEP("a   ");
	IGN("b ");
	KEEP("b");
	IGN("c ");
	KEEP("c  ");
	IGN("d  ");
	KEEP("d");
	IGN("e\t");
	KEEP("e");
}

static void test_escapes(void **state)
{
	struct fx *f = *state;

	fx_put(f, ".gitignore",
	       "\\!imp\n\\*\n\\?q\n\\[x]\nback\\\\slash\n\\a\\b\ntrail\\\n");
	IGN("!imp");
	KEEP("imp");
	IGN("*");
	KEEP("a");
	IGN("?q");
	KEEP("aq");
	IGN("[x]");
	KEEP("x");
	IGN("back\\slash");
	IGN("ab");
	/* A trailing backslash escapes nothing: the pattern matches no name. */
	KEEP("trail");
	KEEP("trail\\");
}

static void test_negation_last_wins(void **state)
{
	struct fx *f = *state;

	fx_put(f, ".gitignore",
	       "*.log\n!keep.log\nagain.log\n!again.log\n!again.log\n");
	fx_put(f, "o/.gitignore", "!x.tmp\n*.tmp\n");
	IGN("a.log");
	KEEP("keep.log");
	KEEP("again.log");
	IGN("sub/a.log");
	KEEP("sub/keep.log");
	/* The negation comes first, so the later pattern wins. */
	IGN("o/x.tmp");
}

static void test_parent_excluded(void **state)
{
	struct fx *f = *state;
	struct sd_ignore_config cfg;
	struct strv files = { 0 };
	const char *want[] = { ".gitignore", "out/keep.txt", "top.txt" };

	fx_put(f, ".gitignore",
	       "build/\n!build/keep.txt\nout/*\n!out/keep.txt\n!build/\n"
	       "build/\n");
	fx_put(f, "build/keep.txt", "");
	/* Never read: git does not look inside an excluded directory. */
	fx_put(f, "build/.gitignore", "!*\n");
	fx_put(f, "out/a.txt", "");
	fx_put(f, "out/keep.txt", "");
	fx_put(f, "top.txt", "");
	IGN_D("build");
	IGN("build/keep.txt");
	KEEP_D("out");
	IGN("out/a.txt");
	KEEP("out/keep.txt");

	sd_ignore_config_init(&cfg);
	fx_walk(f, &cfg, &files, NULL);
	assert_int_equal(files.n, 3);
	for (size_t i = 0; i < files.n; i++)
		assert_string_equal(files.v[i], want[i]);
	strv_free(&files);
}

static void test_dir_only(void **state)
{
	struct fx *f = *state;

	fx_put(f, ".gitignore", "tmp/\ncache/\n/anch/\n");
	IGN_D("tmp");
	KEEP("tmp");
	IGN_D("a/tmp");
	KEEP("a/tmp");
	IGN_D("anch");
	KEEP("anch");
	KEEP_D("a/anch");
	/* A symlink to a directory is not a directory (git's DT_LNK). */
	fx_mkdirs(f, "real");
	assert_int_equal(symlinkat("real", f->rootfd, "cache"), 0);
	KEEP("cache");
}

static void test_anchored(void **state)
{
	struct fx *f = *state;

	fx_put(f, ".gitignore", "/top\nmid/dle\nany\n/dir/\nend/\n");
	IGN("top");
	KEEP("a/top");
	IGN("mid/dle");
	KEEP("x/mid/dle");
	IGN("any");
	IGN("a/b/any");
	IGN_D("dir");
	KEEP_D("a/dir");
	/* A trailing slash alone does not anchor. */
	IGN_D("a/b/end");
}

static void test_nested_relative(void **state)
{
	struct fx *f = *state;

	fx_put(f, "sub/.gitignore", "/x\ny/z\nw\n");
	IGN("sub/x");
	KEEP("x");
	KEEP("sub/q/x");
	IGN("sub/y/z");
	KEEP("y/z");
	KEEP("sub/a/y/z");
	IGN("sub/w");
	IGN("sub/q/w");
	KEEP("w");
	KEEP("other/w");
}

static void test_star_question(void **state)
{
	struct fx *f = *state;

	fx_put(f, ".gitignore",
	       "*.c\na?c\nd*r\n/s/*.h\n/m*n/o\n/q?r/s\n/t?u/v\n/w[!x]y/z\n");
	IGN("x.c");
	IGN("dir/x.c");
	IGN(".c");
	KEEP("x.cc");
	IGN("abc");
	KEEP("ac");
	KEEP("abbc");
	IGN("dr");
	IGN("door");
	IGN("s/x.h");
	KEEP("s/t/x.h"); /* '*' does not cross '/' */
	IGN("mxyn/o");
	KEEP("m/n/o");
	IGN("q1r/s");
	/* Neither '?' nor a class matches the '/' between components. */
	KEEP("t/u/v");
	IGN("t.u/v");
	KEEP("w/y/z");
	IGN("w.y/z");
}

static void test_classes(void **state)
{
	struct fx *f = *state;

	fx_put(f, ".gitignore",
	       "[ab]1\n[c-e]2\n[!f-h]3\n[^i]4\n[]]5\n[[:digit:]]6\n"
	       "[[:upper:]x]7\n[a-]8\n[\\]]9\n[[:bogus:]]x\n[unterminated\n"
	       "[a-c-e]0\n[[:space:]]s\n]\n*a]b\nc]d\n");
	IGN("a1");
	IGN("b1");
	KEEP("c1");
	IGN("d2");
	KEEP("f2");
	IGN("x3");
	KEEP("g3");
	IGN("j4");
	KEEP("i4");
	IGN("]5");
	IGN("06");
	KEEP("a6");
	IGN("Q7");
	IGN("x7");
	KEEP("q7");
	IGN("-8");
	IGN("a8");
	KEEP("b8");
	IGN("]9");
	KEEP("bx");
	KEEP("[unterminated");
	KEEP("u");
	IGN("b0");
	IGN("-0");
	IGN("e0");
	KEEP("d0");
	IGN(" s");
	IGN("\ts");
	KEEP("\vs"); /* git's isspace() has no \v */
	/* Outside a class ']' is a plain byte. */
	IGN("]");
	KEEP("z");
	IGN("xa]b");
	IGN("a]b");
	KEEP("xzzb");
	IGN("c]d");
	KEEP("czd");
}

static void test_double_star(void **state)
{
	struct fx *f = *state;

	fx_put(f, ".gitignore",
	       "**/logs\n/pkg/**\na/**/b\n**/x/**/y.txt\nfoo**/bar\n/x**y\n"
	       "c**d\n/k/**\\/b\n");
	IGN_D("logs");
	IGN_D("q/r/logs");
	IGN("logs");
	IGN("pkg/x");
	IGN_D("pkg/d");
	KEEP_D("pkg");
	IGN("a/b");
	IGN("a/x/b");
	IGN("a/x/y/b");
	KEEP("b");
	KEEP("q/a/b");
	IGN("x/y.txt");
	IGN("p/x/q/r/y.txt");
	/* git's quirk: the literal "foo" is compared first, and the rest
	 * "**" then counts as leading, so it crosses directories. */
	IGN("fooz/bar");
	IGN("foo/q/r/bar");
	/* ... while not followed by '/' it is a plain '*'. */
	IGN("xzy");
	KEEP("x/a/y");
	IGN("cXd");
	IGN("s/cd");
	/* Before an escaped '/', "**" crosses directories but cannot match
	 * nothing. */
	IGN("k/x/b");
	IGN("k/x/y/b");
	KEEP("k/b");
}

static void test_deeper_overrides(void **state)
{
	struct fx *f = *state;

	fx_put(f, ".gitignore", "*.txt\n");
	fx_put(f, "sub/.gitignore", "!*.txt\n");
	fx_put(f, "sub/deeper/.gitignore", "a.txt\n");
	IGN("a.txt");
	KEEP("sub/a.txt");
	KEEP("sub/other/a.txt");
	IGN("sub/deeper/a.txt");
	KEEP("sub/deeper/b.txt");
	IGN("elsewhere/a.txt");
}

static void test_tetherignore(void **state)
{
	struct fx *f = *state;

	fx_put(f, ".gitignore", "*.log\n");
	fx_put(f, ".tetherignore", "!debug.log\nsecret/\n");
	IGN("a.log");
	KEEP("debug.log");
	IGN_D("secret");
	/* A deeper .gitignore beats a shallower .tetherignore. */
	fx_put(f, "sub/.gitignore", "debug.log\n");
	IGN("sub/debug.log");
	/* .tetherignore alone. */
	fx_put(f, "t/.tetherignore", "x\n");
	IGN("t/x");
	KEEP("x");
	/* Same level: .tetherignore comes after .gitignore, both ways. */
	fx_put(f, "u/.gitignore", "!y\nz\n");
	fx_put(f, "u/.tetherignore", "y\n!z\n");
	IGN("u/y");
	KEEP("u/z");
}

static void test_dot_git(void **state)
{
	struct fx *f = *state;
	struct sd_ignore_config cfg;
	const char *pats[] = { "/.git/" };

	fx_put(f, ".gitignore", "!.git\n!.git/\n");
	IGN_D(".git");
	IGN(".git");
	IGN_D("sub/.git");
	KEEP(".gitx");
	KEEP_D(".git.d");
	KEEP(".GIT");

	sd_ignore_config_init(&cfg);
	cfg.keep_dot_git = true;
	expect(f, &cfg, ".git", true, 0, __LINE__);
	expect(f, &cfg, "sub/.git", true, 0, __LINE__);
	/* With keep_dot_git, rules decide. */
	fx_put(f, ".gitignore", "");
	cfg.patterns = pats;
	cfg.npatterns = 1;
	expect(f, &cfg, ".git", true, 1, __LINE__);
	expect(f, &cfg, "sub/.git", true, 0, __LINE__);
}

static void test_extra_patterns(void **state)
{
	struct fx *f = *state;
	struct sd_ignore_config cfg;
	const char *pats[] = { "*.o",	 "/root-only", "dir/\n#c\nsecond",
			       "!never", "\\#lit",     "  " };
	char long_pat[SD_IGNORE_PATTERN_MAX + 2];
	const char *bad[] = { long_pat };
	struct sd_ignore *ig = NULL;

	sd_ignore_config_init(&cfg);
	cfg.patterns = pats;
	cfg.npatterns = sizeof(pats) / sizeof(pats[0]);
	fx_put(f, "sub/.gitignore", "!keep.o\n");
	fx_put(f, ".gitignore", "!b.o\n");
	expect(f, &cfg, "a.o", false, 1, __LINE__);
	expect(f, &cfg, "sub/a.o", false, 1, __LINE__);
	expect(f, &cfg, "sub/keep.o", false, 0, __LINE__);
	/* In-tree rules beat the config's. */
	expect(f, &cfg, "b.o", false, 0, __LINE__);
	expect(f, &cfg, "root-only", false, 1, __LINE__);
	expect(f, &cfg, "sub/root-only", false, 0, __LINE__);
	expect(f, &cfg, "dir", true, 1, __LINE__);
	expect(f, &cfg, "x/dir", true, 1, __LINE__);
	expect(f, &cfg, "second", false, 1, __LINE__);
	expect(f, &cfg, "#c", false, 0, __LINE__);
	expect(f, &cfg, "#lit", false, 1, __LINE__);
	expect(f, &cfg, "never", false, 0, __LINE__);
	/* Without the config, none of it. */
	KEEP("a.o");

	memset(long_pat, 'x', sizeof(long_pat) - 1);
	long_pat[sizeof(long_pat) - 1] = '\0';
	cfg.patterns = bad;
	cfg.npatterns = 1;
	assert_int_equal(sd_ignore_new(&cfg, &ig), -EINVAL);
	assert_null(ig);
	long_pat[SD_IGNORE_PATTERN_MAX] = '\0';
	assert_int_equal(sd_ignore_new(&cfg, &ig), 0);
	sd_ignore_free(ig);
}

static void test_file_format(void **state)
{
	struct fx *f = *state;
	static const char gi[] = "\xef\xbb\xbf"
				 "bom\r\ncrlf\r\n\r\nnul\0tail\n\0x\n"
				 "mid\xef\xbb\xbfy\nlast";

	fx_put_n(f, ".gitignore", gi, sizeof(gi) - 1);
	fx_put(f, ".tetherignore", "\xef\xbb\xbftb\n");
	IGN("bom");
	KEEP("\xef\xbb\xbf"
	     "bom");
	IGN("crlf");
	KEEP("crlf\r");
	IGN("nul"); /* a NUL ends the line */
	KEEP("tail");
	KEEP("x");
	IGN("mid\xef\xbb\xbfy");
	IGN("last"); /* no final newline */
	IGN("tb");
}

static void test_non_utf8(void **state)
{
	struct fx *f = *state;

	fx_put(f, ".gitignore",
	       "\xff\xfe\n[\x80-\xff]z\ncaf\xc3\xa9/\n*\xe9\n?\xa9q\n");
	IGN("\xff\xfe");
	KEEP("\xff");
	IGN("\xe9z");
	IGN("\x80z");
	KEEP("az");
	IGN_D("caf\xc3\xa9");
	KEEP("caf\xc3\xa9");
	IGN("x\xe9");
	/* '?' is one byte, not one character. */
	IGN("\xc3\xa9q");
	KEEP("\xa9q");
}

static void test_unusable_files(void **state)
{
	struct fx *f = *state;
	struct sd_ignore_config cfg;
	const char *log;
	char *big;
	int warnings = 4;

	sd_ignore_config_init(&cfg);
	cfg.root_name = f->root;
	/* A directory, a symlink, a FIFO, one byte too large. */
	fx_mkdirs(f, "d/.gitignore");
	fx_put(f, "s/rules", "x\n");
	assert_int_equal(symlinkat("rules", f->rootfd, "s/.gitignore"), 0);
	fx_mkdirs(f, "p");
	assert_int_equal(mkfifoat(f->rootfd, "p/.gitignore", 0644), 0);
	big = malloc(SD_IGNORE_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, '\n', SD_IGNORE_FILE_MAX + 1);
	memcpy(big, "x\n", 2);
	fx_put_n(f, "big/.gitignore", big, SD_IGNORE_FILE_MAX + 1);
	fx_put_n(f, "ok/.gitignore", big, SD_IGNORE_FILE_MAX);
	free(big);
	if (geteuid() != 0) {
		fx_put(f, "perm/.gitignore", "x\n");
		assert_int_equal(fchmodat(f->rootfd, "perm/.gitignore", 0, 0),
				 0);
		warnings++;
	} else {
		print_message("running as root: no permission-denied case\n");
	}

	fx_cap_begin();
	expect(f, &cfg, "d/x", false, 0, __LINE__);
	expect(f, &cfg, "s/x", false, 0, __LINE__);
	expect(f, &cfg, "p/x", false, 0, __LINE__);
	expect(f, &cfg, "big/x", false, 0, __LINE__);
	expect(f, &cfg, "ok/x", false, 1, __LINE__);
	if (warnings == 5)
		expect(f, &cfg, "perm/x", false, 0, __LINE__);
	log = fx_cap_end();

	/* One line per file, naming it and the cause. */
	assert_int_equal(fx_count_lines(log), warnings);
	assert_non_null(strstr(log, "/d/.gitignore: not a regular file"));
	assert_non_null(strstr(log, "/s/.gitignore: is a symbolic link"));
	assert_non_null(strstr(log, "/p/.gitignore: not a regular file"));
	assert_non_null(strstr(log, "/big/.gitignore: larger than 1 MiB"));
	assert_non_null(strstr(log, f->root));
	if (warnings == 5)
		assert_non_null(strstr(log, "/perm/.gitignore: Permission"));
}

static void test_long_pattern(void **state)
{
	struct fx *f = *state;
	size_t n = SD_IGNORE_PATTERN_MAX;
	char *text = malloc(2 * n + 8);
	const char *log;

	/* "x***...": exactly the limit, kept; "y***...": one more, skipped. */
	assert_non_null(text);
	memset(text, '*', 2 * n + 8);
	text[0] = 'x';
	text[n] = '\n';
	text[n + 1] = 'y';
	text[2 * n + 2] = '\n';
	fx_put_n(f, ".gitignore", text, 2 * n + 3);
	free(text);
	fx_cap_begin();
	IGN("xy");
	KEEP("yz");
	log = fx_cap_end();
	/* Each check reads the file afresh: one line each. */
	assert_int_equal(fx_count_lines(log), 2);
	assert_non_null(strstr(log, ".gitignore line 2: pattern longer than"));
}

static void test_enter_contract(void **state)
{
	struct sd_ignore_config cfg;
	struct sd_ignore *ig;
	char lng[SD_PATH_MAX + 8];

	sd_ignore_config_init(&cfg);
	assert_int_equal(sd_ignore_new(&cfg, &ig), 0);
	assert_int_equal(sd_ignore_depth(ig), 0);
	assert_int_equal(sd_ignore_enter_dir(ig, "a", 1, -1), -EINVAL);
	assert_int_equal(sd_ignore_enter_dir(ig, "", 0, -1), 0);
	assert_int_equal(sd_ignore_enter_dir(ig, "", 0, -1), -EINVAL);
	assert_int_equal(sd_ignore_enter_dir(ig, "a/b", 3, -1), -EINVAL);
	assert_int_equal(sd_ignore_enter_dir(ig, "..", 2, -1), -EINVAL);
	assert_int_equal(sd_ignore_enter_dir(ig, "a", 1, -1), 0);
	assert_int_equal(sd_ignore_enter_dir(ig, "b", 1, -1), -EINVAL);
	assert_int_equal(sd_ignore_enter_dir(ig, "ab/c", 4, -1), -EINVAL);
	assert_int_equal(sd_ignore_enter_dir(ig, "a/", 2, -1), -EINVAL);
	assert_int_equal(sd_ignore_enter_dir(ig, "a/.", 3, -1), -EINVAL);
	assert_int_equal(sd_ignore_enter_dir(ig, "a/b/c", 5, -1), -EINVAL);
	assert_int_equal(sd_ignore_enter_dir(ig, "a/b\0", 4, -1), -EINVAL);
	assert_int_equal(sd_ignore_depth(ig), 2);
	/* Not NUL-terminated: only len bytes count. */
	assert_int_equal(sd_ignore_enter_dir(ig, "a/bXYZ", 3, -1), 0);
	assert_int_equal(sd_ignore_depth(ig), 3);
	assert_false(sd_ignore_match(ig, "a/b/c", 5, false));
	assert_true(sd_ignore_match(ig, "a/b/.git", 8, true));
	sd_ignore_leave_dir(ig);
	sd_ignore_leave_dir(ig);
	assert_int_equal(sd_ignore_enter_dir(ig, "x", 1, -1), 0);
	memset(lng, 'q', sizeof(lng));
	lng[0] = 'x';
	lng[1] = '/';
	assert_int_equal(sd_ignore_enter_dir(ig, lng, SD_PATH_MAX, -1),
			 -ENAMETOOLONG);
	assert_int_equal(sd_ignore_depth(ig), 2);
	sd_ignore_reset(ig);
	assert_int_equal(sd_ignore_depth(ig), 0);
	assert_int_equal(sd_ignore_enter_dir(ig, "", 0, -1), 0);
	sd_ignore_free(ig);
	sd_ignore_free(NULL);
}

static void test_enter_listed(void **state)
{
	struct fx *f = *state;
	struct sd_ignore_config cfg;
	struct sd_ignore *ig;

	assert_int_equal(sd_ignore_rule_file(".gitignore", 10),
			 SD_IGNORE_HAS_GITIGNORE);
	assert_int_equal(sd_ignore_rule_file(".tetherignore", 13),
			 SD_IGNORE_HAS_TETHERIGNORE);
	assert_int_equal(sd_ignore_rule_file(".gitignorex", 10),
			 SD_IGNORE_HAS_GITIGNORE);
	assert_int_equal(sd_ignore_rule_file(".gitignore", 9), 0);
	assert_int_equal(sd_ignore_rule_file("gitignore", 9), 0);

	fx_put(f, ".gitignore", "a\n");
	fx_put(f, ".tetherignore", "b\n");
	sd_ignore_config_init(&cfg);
	assert_int_equal(sd_ignore_new(&cfg, &ig), 0);
	/* Only the files said to be present are read. */
	assert_int_equal(sd_ignore_enter_dir_listed(ig, "", 0, f->rootfd,
						    SD_IGNORE_HAS_TETHERIGNORE),
			 0);
	assert_false(sd_ignore_match(ig, "a", 1, false));
	assert_true(sd_ignore_match(ig, "b", 1, false));
	sd_ignore_leave_dir(ig);
	assert_int_equal(sd_ignore_enter_dir_listed(ig, "", 0, f->rootfd, 0),
			 0);
	assert_false(sd_ignore_match(ig, "a", 1, false));
	assert_false(sd_ignore_match(ig, "b", 1, false));
	sd_ignore_leave_dir(ig);
	/* Listed but gone: no rules, no warning. */
	assert_int_equal(unlinkat(f->rootfd, ".gitignore", 0), 0);
	fx_cap_begin();
	assert_int_equal(
		sd_ignore_enter_dir_listed(ig, "", 0, f->rootfd,
					   SD_IGNORE_HAS_GITIGNORE |
						   SD_IGNORE_HAS_TETHERIGNORE),
		0);
	assert_string_equal(fx_cap_end(), "");
	assert_false(sd_ignore_match(ig, "a", 1, false));
	assert_true(sd_ignore_match(ig, "b", 1, false));
	sd_ignore_free(ig);
}

static void test_check_random_access(void **state)
{
	struct fx *f = *state;
	struct sd_ignore_config cfg;
	struct sd_ignore *ig;

#define CHECK(p, d) sd_ignore_check(ig, f->rootfd, (p), strlen(p), (d))
	fx_put(f, ".gitignore", "ign/\n");
	fx_put(f, "a/.gitignore", "*.x\n");
	fx_put(f, "a/b/.gitignore", "!keep.x\n");
	fx_mkdirs(f, "c/d");
	assert_int_equal(symlinkat("a", f->rootfd, "lnk"), 0);
	sd_ignore_config_init(&cfg);
	assert_int_equal(sd_ignore_new(&cfg, &ig), 0);
	assert_int_equal(CHECK("a/b/keep.x", false), 0);
	assert_int_equal(sd_ignore_depth(ig), 3);
	assert_int_equal(CHECK("a/b/q.x", false), 1);
	/* Leaves a/b and a: their rules no longer apply. */
	assert_int_equal(CHECK("c/d/q.x", false), 0);
	assert_int_equal(sd_ignore_depth(ig), 3);
	assert_int_equal(CHECK("a/q.x", false), 1);
	assert_int_equal(sd_ignore_depth(ig), 2);
	assert_int_equal(CHECK("top", false), 0);
	/* Under an ignored directory, which need not exist. */
	assert_int_equal(CHECK("ign/x/y", false), 1);
	assert_int_equal(CHECK("nope/x", false), -ENOENT);
	assert_int_equal(CHECK("lnk/q.x", false), -ENOTDIR);
	assert_int_equal(CHECK("", false), -EINVAL);
	assert_int_equal(CHECK("a//b", false), -EINVAL);
	assert_int_equal(CHECK("/a", false), -EINVAL);
	assert_int_equal(CHECK("a/", false), -EINVAL);
	assert_int_equal(CHECK("a/../b", false), -EINVAL);
	assert_int_equal(CHECK("./a", false), -EINVAL);

	/* Rules are read on entry: a change shows after a reset. */
	assert_int_equal(CHECK("c/d/q.x", false), 0);
	fx_put(f, "c/.gitignore", "*.x\n");
	assert_int_equal(CHECK("c/d/r.x", false), 0);
	sd_ignore_reset(ig);
	assert_int_equal(CHECK("c/d/r.x", false), 1);
	sd_ignore_free(ig);
#undef CHECK
}

static void test_pathological(void **state)
{
	struct fx *f = *state;
	char name[251], deep[256] = "";

	/* git's wildmatch gives up early on these instead of backtracking
	 * exponentially; a port that lost that would time the suite out. */
	fx_put(f, ".gitignore",
	       "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\n"
	       "**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/z\n"
	       "a*/**/*a*/**/*a*/**/*a*/**/*a*/**/*a*/**/*a*/**/*q\n"
	       "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n");
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	KEEP(name);
	for (int i = 0; i < 40; i++)
		strcat(deep, "a/");
	strcat(deep, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	KEEP(deep);
	strcpy(deep + strlen(deep) - 1, "q");
	IGN(deep);
}

/* ---- against git ---- */

static void test_git_differential(void **state)
{
	struct fx *f = *state;
	uint64_t seed = fx_env_u64("TETHER_IGNORE_SEED", 0x7e7e1ull);
	unsigned cases = (unsigned)fx_env_u64("TETHER_IGNORE_CASES", 500);
	unsigned long paths = 0, ignored = 0, checks = 0;
	struct gen_case *g;

	if (!fx_git_setup(f)) {
		print_message("git not found: differential test skipped\n");
		skip();
	}
	g = malloc(sizeof(*g));
	assert_non_null(g);
	for (unsigned c = 0; c < cases; c++) {
		struct sd_ignore_config cfg;
		struct strv ours = { 0 }, seen = { 0 }, theirs = { 0 };
		struct sd_ignore *ig;
		size_t i, j;
		bool bad = false;

		fx_clear_worktree(f);
		gen_case_make(g, seed * 0x100000001b3ull + c);
		fx_write_case(f, g);
		sd_ignore_config_init(&cfg);
		cfg.patterns = g->extrap;
		cfg.npatterns = (size_t)g->nextra;
		fx_walk(f, &cfg, &ours, &seen);

		/* Random access agrees with the walk, in any order. */
		assert_int_equal(sd_ignore_new(&cfg, &ig), 0);
		for (int k = 0; k < g->count; k++) {
			const struct gen_node *n =
				&g->n[(k * 37 + (int)c) % g->count];
			int want = !strv_has(&seen, n->path);
			int got = sd_ignore_check(ig, f->rootfd, n->path,
						  n->len, n->kind == 1);

			checks++;
			if (got != want) {
				fprintf(stderr,
					"case %u (TETHER_IGNORE_SEED=%llu): "
					"sd_ignore_check('%s') = %d, walk "
					"says %d\n",
					c, (unsigned long long)seed, n->path,
					got, want);
				for (size_t q = 0; q < seen.n; q++)
					gen_dump_bytes("walk kept", seen.v[q],
						       strlen(seen.v[q]));
				gen_case_dump(g);
				fail();
			}
		}
		sd_ignore_free(ig);

		fx_git_view(f, g);
		fx_git_others(f, &theirs);

		/* Both sorted: a merge shows each difference. */
		for (i = 0, j = 0; i < ours.n || j < theirs.n;) {
			int d = i == ours.n ? 1
				: j == theirs.n
					? -1
					: strcmp(ours.v[i], theirs.v[j]);

			if (d == 0) {
				i++;
				j++;
				continue;
			}
			if (!bad)
				fprintf(stderr,
					"case %u (TETHER_IGNORE_SEED=%llu): "
					"differs from git ls-files\n",
					c, (unsigned long long)seed);
			bad = true;
			gen_dump_bytes(d < 0 ? "kept by us, ignored by git"
					     : "ignored by us, kept by git",
				       d < 0 ? ours.v[i] : theirs.v[j],
				       strlen(d < 0 ? ours.v[i] : theirs.v[j]));
			if (d < 0)
				i++;
			else
				j++;
		}
		if (bad) {
			gen_case_dump(g);
			fail_msg("case %u disagrees with git", c);
		}
		for (int k = 0; k < g->count; k++)
			if (g->n[k].kind != 1)
				paths++;
		ignored += 0;
		for (int k = 0; k < g->count; k++)
			if (g->n[k].kind != 1 &&
			    !strv_has(&theirs, g->n[k].path))
				ignored++;
		strv_free(&ours);
		strv_free(&seen);
		strv_free(&theirs);
		gen_case_free(g);
	}
	free(g);
	print_message("%u random cases agree with git: %lu files, %lu of them "
		      "ignored; %lu random-access checks\n",
		      cases, paths, ignored, checks);
}

/* Each random pattern alone in its own directory, over the same names: a
 * pattern that git and we read differently cannot hide behind another. */
static void test_git_patterns(void **state)
{
	enum { PER_ROUND = 100 };
	struct fx *f = *state;
	uint64_t seed = fx_env_u64("TETHER_IGNORE_SEED", 0x7e7e1ull);
	unsigned rounds =
		(unsigned)fx_env_u64("TETHER_IGNORE_PATTERN_ROUNDS", 20);
	unsigned long pairs = 0, ignored = 0;
	static char pats[PER_ROUND][128];

	if (!fx_git_setup(f)) {
		print_message("git not found: pattern test skipped\n");
		skip();
	}
	for (unsigned r = 0; r < rounds; r++) {
		struct sd_ignore_config cfg;
		struct strv ours = { 0 }, theirs = { 0 };
		size_t i, j;
		bool bad = false;

		/* The same names every round; only the patterns change. */
		for (int k = 0; k < PER_ROUND; k++) {
			char path[300];

			gen_wild_pattern(seed * 1000003u + r * PER_ROUND + k,
					 pats[k], sizeof(pats[k]));
			for (size_t n = 0; r == 0 && n < gen_wild_nnames; n++) {
				snprintf(path, sizeof(path), "p%03d/%s", k,
					 gen_wild_names[n]);
				fx_put(f, path, "");
			}
			snprintf(path, sizeof(path), "p%03d/.gitignore", k);
			fx_put(f, path, pats[k]);
		}
		sd_ignore_config_init(&cfg);
		fx_walk(f, &cfg, &ours, NULL);
		fx_git_others(f, &theirs);
		for (i = 0, j = 0; i < ours.n || j < theirs.n;) {
			int d = i == ours.n ? 1
				: j == theirs.n
					? -1
					: strcmp(ours.v[i], theirs.v[j]);
			const char *p;

			if (d == 0) {
				i++;
				j++;
				continue;
			}
			p = d < 0 ? ours.v[i++] : theirs.v[j++];
			bad = true;
			fprintf(stderr, "round %u (TETHER_IGNORE_SEED=%llu):\n",
				r, (unsigned long long)seed);
			gen_dump_bytes("pattern", pats[atoi(p + 1)],
				       strlen(pats[atoi(p + 1)]));
			gen_dump_bytes(d < 0 ? "kept by us, ignored by git"
					     : "ignored by us, kept by git",
				       p, strlen(p));
		}
		if (bad)
			fail_msg("round %u disagrees with git", r);
		/* Each directory's .gitignore is never ignored by itself. */
		pairs += PER_ROUND * gen_wild_nnames;
		ignored += PER_ROUND * (gen_wild_nnames + 1) - theirs.n;
		strv_free(&ours);
		strv_free(&theirs);
	}
	print_message("%lu pattern/path pairs agree with git, %lu of them "
		      "ignored\n",
		      pairs, ignored);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_comments_blank, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_trailing_spaces, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_escapes, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_negation_last_wins,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_parent_excluded, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_dir_only, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_anchored, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_nested_relative, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_star_question, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_classes, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_double_star, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_deeper_overrides, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_tetherignore, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_dot_git, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_extra_patterns, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_file_format, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_non_utf8, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_unusable_files, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_long_pattern, fx_setup,
						fx_teardown),
		cmocka_unit_test(test_enter_contract),
		cmocka_unit_test_setup_teardown(test_enter_listed, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_random_access,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_pathological, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_git_differential, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_git_patterns, fx_setup,
						fx_teardown),
	};

	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
