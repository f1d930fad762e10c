/* SPDX-License-Identifier: MIT */
/* The ignore suite's fixture (ignore_fixture.h). Random patterns are made
 * from the tree's own names (so that they match often), then bent with
 * wildcards, classes, "**", anchors, negation, escapes and file quirks. */
#include "ignore_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

/* ---- a private temp directory per test ---- */

void fx_rm_rf_at(int dfd, const char *name)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int fd;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlinkat(dfd, name, 0);
		return;
	}
	fchmodat(dfd, name, 0700, 0);
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		d = fdopendir(fd);
		if (!d) {
			close(fd);
		} else {
			while ((de = readdir(d)))
				if (strcmp(de->d_name, ".") &&
				    strcmp(de->d_name, ".."))
					fx_rm_rf_at(dirfd(d), de->d_name);
			closedir(d);
		}
	}
	unlinkat(dfd, name, AT_REMOVEDIR);
}

int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/tether-ignore-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->root))
		return -1;
	f->rootfd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->rootfd < 0)
		return -1;
	*state = f;
	return 0;
}

int fx_teardown(void **state)
{
	struct fx *f = *state;

	close(f->rootfd);
	fx_rm_rf_at(AT_FDCWD, f->root);
	free(f);
	return 0;
}

/* mkdir -p of the first len bytes of path, below the root. */
void fx_mkdirs_n(struct fx *f, const char *path, size_t len)
{
	char buf[4096];

	assert_true(len < sizeof(buf));
	memcpy(buf, path, len);
	buf[len] = '\0';
	for (size_t i = 0; i <= len; i++) {
		if (i < len && buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (i > 0 && mkdirat(f->rootfd, buf, 0755) < 0)
			assert_int_equal(errno, EEXIST);
		if (i < len)
			buf[i] = '/';
	}
}

void fx_mkdirs(struct fx *f, const char *path)
{
	fx_mkdirs_n(f, path, strlen(path));
}

void fx_mkparent(struct fx *f, const char *path)
{
	const char *s = strrchr(path, '/');

	if (s)
		fx_mkdirs_n(f, path, (size_t)(s - path));
}

void fx_put_n(struct fx *f, const char *path, const void *data, size_t n)
{
	int fd;

	fx_mkparent(f, path);
	fd = openat(f->rootfd, path,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		    0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

void fx_put(struct fx *f, const char *path, const char *text)
{
	fx_put_n(f, path, text, strlen(text));
}

/* ---- stderr capture, for warnings ---- */

static int cap_fd = -1, cap_saved = -1;
static char cap_buf[8192];

void fx_cap_begin(void)
{
	char tmpl[] = "/tmp/tether-ignore-log-XXXXXX";

	cap_fd = mkstemp(tmpl);
	assert_true(cap_fd >= 0);
	unlink(tmpl);
	cap_saved = dup(STDERR_FILENO);
	assert_true(cap_saved >= 0);
	dup2(cap_fd, STDERR_FILENO);
}

const char *fx_cap_end(void)
{
	ssize_t n;

	dup2(cap_saved, STDERR_FILENO);
	close(cap_saved);
	n = pread(cap_fd, cap_buf, sizeof(cap_buf) - 1, 0);
	close(cap_fd);
	cap_buf[n > 0 ? n : 0] = '\0';
	return cap_buf;
}

int fx_count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* ---- string sets and the walk ---- */

void strv_add(struct strv *s, const char *p, size_t n)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		assert_non_null(s->v);
	}
	s->v[s->n] = malloc(n + 1);
	assert_non_null(s->v[s->n]);
	memcpy(s->v[s->n], p, n);
	s->v[s->n++][n] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void strv_sort(struct strv *s)
{
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), cmp_str);
}

bool strv_has(const struct strv *s, const char *p)
{
	return s->n && bsearch(&p, s->v, s->n, sizeof(*s->v), cmp_str);
}

void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* The scanner's walk: depth-first, an ignored directory is not entered;
 * each directory is listed first, so only its rule files are opened.
 * files gets every non-directory kept, seen every entry kept. */
static void walk_dir(struct sd_ignore *ig, int dfd, char *path, size_t len,
		     struct strv *files, struct strv *seen)
{
	struct strv names = { 0 };
	struct dirent *de;
	unsigned present = 0;
	DIR *d;
	int fd;

	fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	assert_true(fd >= 0);
	d = fdopendir(fd);
	assert_non_null(d);
	/* The dup shares its offset with dfd, which a listing may have left
	 * at the end. */
	rewinddir(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			strv_add(&names, de->d_name, strlen(de->d_name));
	closedir(d);
	for (size_t i = 0; i < names.n; i++)
		present |= sd_ignore_rule_file(names.v[i], strlen(names.v[i]));
	assert_int_equal(
		sd_ignore_enter_dir_listed(ig, path, len, dfd, present), 0);
	for (size_t i = 0; i < names.n; i++) {
		const char *name = names.v[i];
		size_t nl = strlen(name), cl = len ? len + 1 + nl : nl;
		struct stat st;
		bool is_dir;

		assert_true(cl < 4096);
		if (len)
			path[len] = '/';
		memcpy(path + (len ? len + 1 : 0), name, nl);
		path[cl] = '\0';
		assert_int_equal(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW),
				 0);
		is_dir = S_ISDIR(st.st_mode);
		if (sd_ignore_match(ig, path, cl, is_dir))
			continue;
		if (seen)
			strv_add(seen, path, cl);
		if (is_dir) {
			int cfd = openat(dfd, name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			assert_true(cfd >= 0);
			walk_dir(ig, cfd, path, cl, files, seen);
			close(cfd);
		} else {
			strv_add(files, path, cl);
		}
		path[len] = '\0';
	}
	strv_free(&names);
	sd_ignore_leave_dir(ig);
}

void fx_walk(struct fx *f, const struct sd_ignore_config *cfg,
	     struct strv *files, struct strv *seen)
{
	struct sd_ignore *ig;
	char path[4096] = "";

	assert_int_equal(sd_ignore_new(cfg, &ig), 0);
	walk_dir(ig, f->rootfd, path, 0, files, seen);
	assert_int_equal(sd_ignore_depth(ig), 0);
	sd_ignore_free(ig);
	strv_sort(files);
	if (seen)
		strv_sort(seen);
}

/* ---- git, and random cases on disk ---- */

void fx_write_case(struct fx *f, struct gen_case *g)
{
	for (int i = 0; i < g->count; i++) {
		const struct gen_node *n = &g->n[i];

		if (n->kind == 1)
			assert_int_equal(mkdirat(f->rootfd, n->path, 0755), 0);
		else if (n->kind == 2)
			assert_int_equal(symlinkat(i % 2 ? "." : "missing",
						   f->rootfd, n->path),
					 0);
		else
			fx_put(f, n->path, "");
	}
	for (int i = 0; i <= g->count; i++) {
		char p[300];
		const char *d = i ? g->n[i - 1].path : "";

		if (g->gi[i]) {
			snprintf(p, sizeof(p), "%s%s.gitignore", d,
				 i ? "/" : "");
			fx_put_n(f, p, g->gi[i]->b, g->gi[i]->n);
		}
		if (g->ti[i]) {
			snprintf(p, sizeof(p), "%s%s.tetherignore", d,
				 i ? "/" : "");
			fx_put_n(f, p, g->ti[i]->b, g->ti[i]->n);
		}
	}
}

/* Runs argv (posix_spawn: no fork of this ASan-sized process), its stdout
 * into *out (NUL-terminated, malloc'd) unless out is NULL. Returns the exit
 * status, 127 if it could not be run. */
int fx_run(char *const argv[], char **out, size_t *len)
{
	posix_spawn_file_actions_t fa;
	int pfd[2], status, r;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	pid_t pid;

	assert_non_null(b);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, pfd[1],
							  STDOUT_FILENO),
			 0);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (r != 0) {
		close(pfd[0]);
		free(b);
		return 127;
	}
	for (;;) {
		ssize_t got;

		if (n + 1 >= cap) {
			cap *= 2;
			b = realloc(b, cap);
			assert_non_null(b);
		}
		got = read(pfd[0], b + n, cap - n - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	close(pfd[0]);
	b[n] = '\0';
	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	if (out) {
		*out = b;
		*len = n;
	} else {
		free(b);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* git reads .tetherignore's rules as if they followed .gitignore's, and
 * the config's as .git/info/exclude. */
void fx_git_view(struct fx *f, const struct gen_case *g)
{
	struct gen_buf *b = malloc(sizeof(*b));
	char p[300];

	assert_non_null(b);
	for (int i = 0; i <= g->count; i++) {
		const char *d = i ? g->n[i - 1].path : "";

		if (!g->ti[i])
			continue;
		b->n = 0;
		gen_buf_add(b, g->gi[i]->b, g->gi[i]->n);
		if (b->n && b->b[b->n - 1] != '\n')
			gen_buf_ch(b, '\n');
		gen_buf_add(b, g->ti[i]->b, g->ti[i]->n);
		snprintf(p, sizeof(p), "%s%s.gitignore", d, i ? "/" : "");
		fx_put_n(f, p, b->b, b->n);
	}
	b->n = 0;
	for (int i = 0; i < g->nextra; i++) {
		gen_buf_str(b, g->extra[i]);
		gen_buf_ch(b, '\n');
	}
	fx_put_n(f, ".git/info/exclude", b->b, b->n);
	free(b);
}

void fx_clear_worktree(struct fx *f)
{
	struct dirent *de;
	int fd = fcntl(f->rootfd, F_DUPFD_CLOEXEC, 3);
	DIR *d = fdopendir(fd);
	struct strv names = { 0 };

	assert_non_null(d);
	rewinddir(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, ".git"))
			strv_add(&names, de->d_name, strlen(de->d_name));
	closedir(d);
	for (size_t i = 0; i < names.n; i++)
		fx_rm_rf_at(f->rootfd, names.v[i]);
	strv_free(&names);
}

uint64_t fx_env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long x;

	if (!v || !*v)
		return def;
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || *end)
		fail_msg("%s: not a number: %s", name, v);
	return x;
}

/* A git repository at the fixture's root, with git confined to it and
 * blind to every exclude but the tree's. false if git cannot be run. */
bool fx_git_setup(struct fx *f)
{
	/* -C: git runs in the case's directory and nowhere else. */
	char *init[] = { "git",	 "-C", f->root, "-c", "init.defaultBranch=main",
			 "init", "-q", NULL };
	char *ver[] = { "git", "--version", NULL };

	if (fx_run(ver, NULL, NULL) != 0)
		return false;
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	setenv("HOME", "/nonexistent-tether-test", 1);
	setenv("XDG_CONFIG_HOME", "/nonexistent-tether-test", 1);
	setenv("LC_ALL", "C", 1);
	unsetenv("GIT_DIR");
	unsetenv("GIT_WORK_TREE");
	unsetenv("GIT_INDEX_FILE");
	unsetenv("GIT_CEILING_DIRECTORIES");
	assert_int_equal(fx_run(init, NULL, NULL), 0);
	assert_int_equal(faccessat(f->rootfd, ".git/HEAD", F_OK, 0), 0);
	return true;
}

/* What `git ls-files --others --exclude-standard` lists, sorted. */
void fx_git_others(struct fx *f, struct strv *out)
{
	char *ls[] = { "git",	   "-C",       f->root,
		       "ls-files", "--others", "--exclude-standard",
		       "-z",	   NULL };
	char *buf;
	size_t n;

	assert_int_equal(fx_run(ls, &buf, &n), 0);
	for (char *p = buf; p < buf + n; p += strlen(p) + 1)
		strv_add(out, p, strlen(p));
	free(buf);
	strv_sort(out);
}

/* ---- random cases ---- */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned rn(struct rng *r, unsigned n)
{
	return (unsigned)(rnd(r) % n);
}

static bool chance(struct rng *r, unsigned pct)
{
	return rn(r, 100) < pct;
}

void gen_buf_add(struct gen_buf *b, const void *p, size_t n)
{
	if (b->n + n > sizeof(b->b))
		n = sizeof(b->b) - b->n;
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

void gen_buf_str(struct gen_buf *b, const char *s)
{
	gen_buf_add(b, s, strlen(s));
}

void gen_buf_ch(struct gen_buf *b, char c)
{
	gen_buf_add(b, &c, 1);
}

static const char *const NAMES[] = {
	"a",	     "b",	  "c",
	"ab",	     "abc",	  "foo",
	"bar",	     "x.c",	  "x.o",
	"y.o",	     "lib.a",	  "a.log",
	"debug.log", "build",	  "out",
	"doc",	     "src",	  "node_modules",
	"Makefile",  "README.md", "A",
	"Foo",	     "1",	  "2.txt",
	"a-b",	     ".hidden",	  ".env",
	"#hash",     "!bang",	  "sp ace",
	"trail ",    " lead",	  "[x]",
	"st*r",	     "q?",	  "b\\s",
	"br]",	     "\xff\xfe",  "caf\xc3\xa9",
	"\x80",	     "tab\tx",	  "x",
	"y",	     "z",	  "aa",
	"**",	     "*",	  "-",
	"!",	     "#",	  "\\",
	"a b  ",     "^",	  "[!a]",
	"nl\nx",
};
static const char ALPHA[] = "abcxyzAB019._- #![]*?\\^:\x80\xe9\xff";

static void make_name(struct rng *r, char *out, size_t *len)
{
	for (;;) {
		if (chance(r, 65)) {
			strcpy(out,
			       NAMES[rn(r, sizeof(NAMES) / sizeof(NAMES[0]))]);
		} else {
			unsigned n = 1 + rn(r, 6);

			for (unsigned i = 0; i < n; i++)
				out[i] = ALPHA[rn(r, sizeof(ALPHA) - 1)];
			out[n] = '\0';
		}
		if (strcmp(out, ".") && strcmp(out, "..") &&
		    strcmp(out, ".git") && strcmp(out, ".gitignore") &&
		    strcmp(out, ".tetherignore"))
			break;
	}
	*len = strlen(out);
}

static void make_tree(struct rng *r, struct gen_case *g, const char *ppath,
		      size_t plen, int depth)
{
	int k = depth == 0 ? 3 + (int)rn(r, 5) : (int)rn(r, 5);

	for (int i = 0; i < k && g->count < GEN_MAXN; i++) {
		struct gen_node *n = &g->n[g->count];
		char name[64];
		size_t nl;
		bool dup = false;

		make_name(r, name, &nl);
		n->len = plen ? plen + 1 + nl : nl;
		if (plen) {
			memcpy(n->path, ppath, plen);
			n->path[plen] = '/';
		}
		memcpy(n->path + (plen ? plen + 1 : 0), name, nl + 1);
		for (int j = 0; j < g->count && !dup; j++)
			dup = strcmp(g->n[j].path, n->path) == 0;
		if (dup)
			continue;
		n->depth = depth;
		n->kind = depth < 4 && chance(r, 35) ? 1 : chance(r, 5) ? 2 : 0;
		g->count++;
		if (n->kind == 1)
			make_tree(r, g, n->path, n->len, depth + 1);
	}
}

/* A name's bytes as a pattern: mostly literal (escaped where needed),
 * sometimes with wildcards and classes that may or may not match. */
static void emit_lit(struct rng *r, struct gen_buf *b, const char *s, size_t n)
{
	static const char *const classes[] = {
		"[[:alpha:]]", "[[:digit:]]", "[[:punct:]]", "[[:space:]]",
		"[[:upper:]]", "[[:lower:]]", "[[:alnum:]]", "[[:xdigit:]]",
		"[[:print:]]", "[[:graph:]]", "[[:cntrl:]]", "[[:blank:]]",
		"[[:nope:]]",  "[[:alpha]",
	};

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		unsigned k = rn(r, 100);

		if (k < 6) {
			gen_buf_ch(b, '?');
		} else if (k < 10) {
			gen_buf_ch(b, '*');
			i += rn(r, 3);
		} else if (k < 15) {
			/* A class around c, maybe negated, maybe a range. */
			gen_buf_ch(b, '[');
			if (chance(r, 25))
				gen_buf_ch(b, chance(r, 50) ? '!' : '^');
			if (chance(r, 30))
				gen_buf_ch(
					b,
					(char)ALPHA[rn(r, sizeof(ALPHA) - 1)]);
			if (chance(r, 40)) {
				unsigned char lo = c > 10 ? c - rn(r, 10) : c;
				unsigned char hi = c < 245 ? c + rn(r, 10) : c;

				if (strchr("]\\-!^[", lo) && lo)
					gen_buf_ch(b, '\\');
				gen_buf_ch(b, (char)lo);
				gen_buf_ch(b, '-');
				if (strchr("]\\-!^[", hi) && hi)
					gen_buf_ch(b, '\\');
				gen_buf_ch(b, (char)hi);
			} else {
				if (strchr("]\\-!^[", c))
					gen_buf_ch(b, '\\');
				gen_buf_ch(b, (char)c);
			}
			gen_buf_ch(b, ']');
		} else if (k < 17) {
			gen_buf_str(b,
				    classes[rn(r, sizeof(classes) /
							  sizeof(classes[0]))]);
		} else {
			if (strchr("*?[\\", c) || (k < 20 && c != '\n'))
				gen_buf_ch(b, '\\');
			gen_buf_ch(b, (char)c);
		}
	}
}

static void make_pattern(struct rng *r, struct gen_case *g, int dir,
			 struct gen_buf *out)
{
	const char *dpath = dir < 0 ? "" : g->n[dir].path;
	size_t dlen = dir < 0 ? 0 : g->n[dir].len;
	const char *comps[16];
	size_t clen[16];
	int nc = 0, cand[GEN_MAXN], ncand = 0;
	char rel[256], tmp[64];
	struct gen_buf b = { .n = 0 };
	unsigned mode;

	for (int i = 0; i < g->count; i++)
		if (g->n[i].len > dlen &&
		    (dlen == 0 || (memcmp(g->n[i].path, dpath, dlen) == 0 &&
				   g->n[i].path[dlen] == '/')))
			cand[ncand++] = i;
	if (ncand && chance(r, 80)) {
		const struct gen_node *t = &g->n[cand[rn(r, (unsigned)ncand)]];

		strcpy(rel, t->path + (dlen ? dlen + 1 : 0));
	} else {
		size_t l;

		make_name(r, tmp, &l);
		strcpy(rel, tmp);
	}
	for (char *p = rel, *s; nc < 16; p = s + 1) {
		s = strchr(p, '/');
		comps[nc] = p;
		clen[nc++] = s ? (size_t)(s - p) : strlen(p);
		if (!s)
			break;
	}

	mode = rn(r, 100);
	if (mode < 30) {
		emit_lit(r, &b, comps[nc - 1], clen[nc - 1]);
	} else if (mode < 52) {
		if (chance(r, 50))
			gen_buf_ch(&b, '/');
		for (int i = 0; i < nc; i++) {
			/* Now and then a wildcard where the path has a '/'. */
			if (i && chance(r, 6))
				gen_buf_str(&b, chance(r, 50) ? "?" : "[!q]");
			else if (i)
				gen_buf_ch(&b, '/');
			if (chance(r, 8))
				gen_buf_str(&b, chance(r, 50) ? "*" : "**");
			else
				emit_lit(r, &b, comps[i], clen[i]);
		}
	} else if (mode < 62) {
		gen_buf_str(&b, chance(r, 20) ? "/**/" : "**/");
		emit_lit(r, &b, comps[nc - 1], clen[nc - 1]);
	} else if (mode < 72) {
		int j = (int)rn(r, (unsigned)nc);

		for (int i = 0; i <= j; i++) {
			if (i)
				gen_buf_ch(&b, '/');
			emit_lit(r, &b, comps[i], clen[i]);
		}
		gen_buf_str(&b, chance(r, 40)	? "/**"
				: chance(r, 50) ? "/*"
						: "/");
	} else if (mode < 82) {
		emit_lit(r, &b, comps[0], clen[0]);
		gen_buf_str(&b, chance(r, 70) ? "/**/" : "**/");
		emit_lit(r, &b, comps[nc - 1], clen[nc - 1]);
	} else {
		static const char junk[] = "ab*?[]!^-/\\:# ";
		unsigned n = 1 + rn(r, 8);

		for (unsigned i = 0; i < n; i++)
			gen_buf_ch(&b, junk[rn(r, sizeof(junk) - 1)]);
		if (chance(r, 10))
			gen_buf_ch(&b, '\0');
	}
	if (chance(r, 20))
		gen_buf_ch(&b, '/');

	/* Negate, and keep a leading '#' / '!' and a trailing space literal
	 * (mostly). */
	if (chance(r, 25))
		gen_buf_ch(out, '!');
	if (b.n && (b.b[0] == '#' || b.b[0] == '!') && chance(r, 85))
		gen_buf_ch(out, '\\');
	if (b.n && b.b[b.n - 1] == ' ' && chance(r, 85)) {
		b.b[b.n - 1] = '\\';
		gen_buf_ch(&b, ' ');
	}
	gen_buf_add(out, b.b, b.n);
	if (chance(r, 8))
		gen_buf_str(out, chance(r, 50) ? " " : "   ");
}

static struct gen_buf *make_rules(struct rng *r, struct gen_case *g, int dir,
				  bool bom)
{
	struct gen_buf *b = calloc(1, sizeof(*b));
	unsigned lines = 1 + rn(r, 8);
	const char *eol = chance(r, 15) ? "\r\n" : "\n";

	assert_non_null(b);
	if (bom)
		gen_buf_str(b, "\xef\xbb\xbf");
	for (unsigned i = 0; i < lines; i++) {
		if (chance(r, 8))
			gen_buf_str(b, chance(r, 50) ? "# a comment" : "#*");
		else if (chance(r, 5))
			gen_buf_str(b, chance(r, 50) ? "" : "  ");
		else
			make_pattern(r, g, dir, b);
		if (i + 1 < lines || chance(r, 80))
			gen_buf_str(b, eol);
	}
	return b;
}

void gen_case_make(struct gen_case *g, uint64_t seed)
{
	struct rng rs = { seed }, *r = &rs;

	memset(g, 0, sizeof(*g));
	make_tree(r, g, "", 0, 0);
	for (int i = 0; i <= g->count; i++) {
		int dir = i - 1;

		if (i && g->n[dir].kind != 1)
			continue;
		if (chance(r, i ? 35 : 85))
			g->gi[i] = make_rules(r, g, dir, chance(r, 8));
		if (chance(r, 25)) {
			g->ti[i] = make_rules(r, g, dir, false);
			if (!g->gi[i])
				g->gi[i] = calloc(1, sizeof(struct gen_buf));
			assert_non_null(g->gi[i]);
		}
	}
	if (chance(r, 25)) {
		g->nextra = 1 + (int)rn(r, 3);
		for (int i = 0; i < g->nextra; i++) {
			struct gen_buf b = { .n = 0 };

			make_pattern(r, g, -1, &b);
			b.n = strnlen(b.b, b.n);
			if (b.n >= sizeof(g->extra[i]))
				b.n = sizeof(g->extra[i]) - 1;
			memcpy(g->extra[i], b.b, b.n);
			g->extra[i][b.n] = '\0';
			g->extrap[i] = g->extra[i];
		}
	}
}

void gen_case_free(struct gen_case *g)
{
	for (int i = 0; i <= GEN_MAXN; i++) {
		free(g->gi[i]);
		free(g->ti[i]);
	}
}

void gen_dump_bytes(const char *what, const char *p, size_t n)
{
	fprintf(stderr, "  %s: \"", what);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\n')
			fputs("\\n\"\n     \"", stderr);
		else if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	fputs("\"\n", stderr);
}

void gen_case_dump(const struct gen_case *g)
{
	static const char *const kinds[] = { "file", "dir", "symlink" };

	for (int i = 0; i < g->count; i++)
		gen_dump_bytes(kinds[g->n[i].kind], g->n[i].path, g->n[i].len);
	for (int i = 0; i <= g->count; i++) {
		char what[300];
		const char *d = i ? g->n[i - 1].path : "";

		if (g->gi[i]) {
			snprintf(what, sizeof(what), "%s%s.gitignore", d,
				 i ? "/" : "");
			gen_dump_bytes(what, g->gi[i]->b, g->gi[i]->n);
		}
		if (g->ti[i]) {
			snprintf(what, sizeof(what), "%s%s.tetherignore", d,
				 i ? "/" : "");
			gen_dump_bytes(what, g->ti[i]->b, g->ti[i]->n);
		}
	}
	for (int i = 0; i < g->nextra; i++)
		gen_dump_bytes("config pattern", g->extra[i],
			       strlen(g->extra[i]));
}

const char *const gen_wild_names[] = {
	"a",	  "b",	 "ab",	   "ba",   "aa",     "abd",   "a-b",	 "-",
	"]",	  "[",	 "!",	   "^",	   "\\",     "*",     "?",	 ":",
	"x]",	  "a[b", "]a",	   "A",	   "Z",	     "9",     "z9",	 "\xe9",
	"a b",	  "!a",	 "#a",	   "d/b",  "d/a",    "d/x/b", "d/x/y/b", "e]/a",
	"e]/b/a", "f/g", "f/ab/g", "ac/a", "ac/d/b",
};
const size_t gen_wild_nnames = sizeof(gen_wild_names) / sizeof(*gen_wild_names);

void gen_wild_pattern(uint64_t seed, char *out, size_t size)
{
	static const char lits[] = "abdefgxAz9-]!^:";
	static const char esc[] = "ab]*?[\\!^-";
	static const char members[] = "ab-]![^:\\xdz9";
	static const char *const items[] = {
		"a-d",	     "x-\\]",	  "]-a",       "[:alpha:]", "[:digit:]",
		"[:punct:]", "[:upper:]", "[:bogus:]", "[:",	    "[:a]",
		"[::]",	     "\\",	  "--",	       "a-",	    "-a",
	};
	struct rng r = { seed };
	struct gen_buf b = { .n = 0 };
	unsigned k = 1 + rn(&r, 6);

	if (chance(&r, 15))
		gen_buf_ch(&b, '/');
	for (unsigned i = 0; i < k; i++) {
		switch (rn(&r, 12)) {
		case 0:
		case 1:
		case 2: gen_buf_ch(&b, lits[rn(&r, sizeof(lits) - 1)]); break;
		case 3: gen_buf_ch(&b, '?'); break;
		case 4: gen_buf_ch(&b, '*'); break;
		case 5: gen_buf_str(&b, "**"); break;
		case 6: gen_buf_ch(&b, '/'); break;
		case 7: gen_buf_str(&b, "**/"); break;
		case 8:
			gen_buf_ch(&b, '\\');
			gen_buf_ch(&b, esc[rn(&r, sizeof(esc) - 1)]);
			break;
		case 9:
		case 10: {
			unsigned m = 1 + rn(&r, 3);

			gen_buf_ch(&b, '[');
			if (chance(&r, 25))
				gen_buf_ch(&b, chance(&r, 50) ? '!' : '^');
			for (unsigned j = 0; j < m; j++) {
				if (chance(&r, 50))
					gen_buf_ch(
						&b,
						members[rn(&r, sizeof(members) -
								       1)]);
				else
					gen_buf_str(
						&b,
						items[rn(&r,
							 sizeof(items) /
								 sizeof(*items))]);
			}
			if (chance(&r, 90))
				gen_buf_ch(&b, ']');
			break;
		}
		default: gen_buf_str(&b, "/**");
		}
	}
	if (chance(&r, 4))
		gen_buf_ch(&b, '\\');
	if (chance(&r, 15))
		gen_buf_ch(&b, '/');
	if (b.n >= size)
		b.n = size - 1;
	memcpy(out, b.b, b.n);
	out[b.n] = '\0';
}
