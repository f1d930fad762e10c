/* SPDX-License-Identifier: MIT */
/* ns per sd_ignore_match() over a synthetic repo-like walk under a
 * realistic rule set: a 70-pattern root .gitignore (C, Python, Node,
 * editors), two nested ones, a .tetherignore and config patterns. The
 * default tree (a budget of 210000 entries, 157k made) has 82k entries
 * outside ignored directories, so the walk matches 82k times. Timed in
 * thread CPU time, the walk included (about 24 ns an entry without rules).
 * Usage: ignore-match [BUDGET [ROUNDS]]. Deterministic. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ignore.h"

static const char ROOT_RULES[] =
	"# C\n*.o\n*.a\n*.so\n*.so.*\n*.obj\n*.ko\n*.elf\n*.d\n*.gch\n"
	"*.pch\n*.lib\n*.exe\n*.out\n*.app\n*.dSYM/\n*.su\n*.idb\n*.pdb\n"
	"/build*/\n/builddir/\ncompile_commands.json\n.cache/\n"
	"# Python\n__pycache__/\n*.py[cod]\n*$py.class\n.Python\ndist/\n"
	"*.egg-info/\n.eggs/\n.venv/\nvenv/\n.tox/\n.pytest_cache/\n"
	".mypy_cache/\n.coverage\n.coverage.*\nhtmlcov/\n*.egg\n"
	"# Node\nnode_modules/\nnpm-debug.log*\nyarn-debug.log*\n"
	"yarn-error.log*\n.pnpm-store/\n.next/\n/coverage/\n*.tsbuildinfo\n"
	".eslintcache\n.parcel-cache/\n*.min.js.map\n"
	"# editors and OS\n.idea/\n.vscode/*\n!.vscode/settings.json\n"
	"!.vscode/extensions.json\n*.swp\n*.swo\n*~\n.DS_Store\nThumbs.db\n"
	"# project\n*.log\n!keep.log\n/tmp/\n/out/\ndocs/_build/\n"
	"**/testdata/**/*.golden\nsecrets/**\n*.local\n.env\n.env.*\n"
	"!.env.example\n";
static const char DOCS_RULES[] = "_static/gen/\n*.pdf\n!manual.pdf\n";
static const char WEB_RULES[] = "/public/build/\n*.css.map\n/.svelte-kit/\n"
				"!vendor/*.min.js\n";
static const char TETHER_RULES[] = "/assets/*.psd\n/data/\n";
static const char *const CONFIG[] = { "*.swp", ".tether/", "/scratch/" };

static const char *const DIRS[] = {
	"src",	  "lib",      "include",      "test",	     "tests",
	"docs",	  "web",      "internal",     "pkg",	     "cmd",
	"utils",  "core",     "api",	      "components",  "models",
	"views",  "scripts",  "tools",	      "build",	     "dist",
	"vendor", "fixtures", "node_modules", "__pycache__", "net",
	"fs",	  "io",	      "db",	      "testdata",    "assets",
};
static const char *const WORDS[] = {
	"main",	  "util",   "parser", "lexer",	 "server", "client",
	"config", "index",  "app",    "handler", "router", "store",
	"cache",  "buffer", "types",  "errors",	 "log",	   "hash",
	"chunk",  "sync",   "watch",  "ignore",	 "test",   "bench",
};
/* Weighted towards sources, with the build droppings a tree carries. */
static const char *const EXTS[] = {
	".c",  ".c",   ".h",	".h",  ".py",  ".py", ".js",  ".js",
	".ts", ".tsx", ".json", ".md", ".go",  ".rs", ".o",   ".pyc",
	".d",  ".log", ".txt",	".sh", ".css", ".so", ".swp", ".min.js",
};

struct rng {
	uint64_t s;
};

static uint32_t rnd(struct rng *r)
{
	r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(r->s >> 33);
}

/* The synthetic tree, made before timing: node i's children are
 * kids[first .. first + count). */
struct node {
	char name[48];
	uint8_t len;
	bool dir, rules; /* rules: has rule files in the skeleton */
	uint32_t first, count;
};

static struct node *nodes;
static uint32_t nnodes, cap;

static uint32_t add(void)
{
	if (nnodes == cap) {
		cap = cap ? 2 * cap : 4096;
		nodes = realloc(nodes, cap * sizeof(*nodes));
		if (!nodes)
			abort();
	}
	memset(&nodes[nnodes], 0, sizeof(*nodes));
	return nnodes++;
}

/* Children of directory d, 4..27 entries (subdirectories mostly near
 * the top), then the rest of budget split evenly among the subdirectories,
 * so the tree holds about budget entries whatever gets ignored. */
static void grow(struct rng *r, uint32_t d, int depth, size_t budget)
{
	uint32_t n = 4 + rnd(r) % 24, first = nnodes, dirs = 0;

	if (n > budget)
		n = (uint32_t)budget;
	nodes[d].first = first;
	nodes[d].count = n;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t id = add(); /* may move nodes */
		struct node *e = &nodes[id];

		e->dir = depth < 9 && rnd(r) % 100 < (depth < 2 ? 40 : 25);
		if (e->dir)
			snprintf(e->name, sizeof(e->name), "%s",
				 DIRS[rnd(r) % (sizeof(DIRS) / sizeof(*DIRS))]);
		else
			snprintf(
				e->name, sizeof(e->name), "%s%u%s",
				WORDS[rnd(r) % (sizeof(WORDS) / sizeof(*WORDS))],
				rnd(r) % 50,
				EXTS[rnd(r) % (sizeof(EXTS) / sizeof(*EXTS))]);
		if (depth == 0 && i < 2) {
			/* Make sure the nested rule files are met. */
			snprintf(e->name, sizeof(e->name), i ? "web" : "docs");
			e->dir = e->rules = true;
		}
		e->len = (uint8_t)strlen(e->name);
		dirs += e->dir;
	}
	budget -= n;
	for (uint32_t i = 0; i < n && dirs; i++)
		if (nodes[first + i].dir)
			grow(r, first + i, depth + 1, budget / dirs);
}

struct stats {
	uint64_t matches, ignored;
};

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The scanner's loop: enter, match every entry, descend into the kept
 * directories, leave. Rule files exist only in the skeleton at skel. */
static void walk(struct sd_ignore *ig, int skel, uint32_t d, char *path,
		 size_t len, struct stats *st)
{
	const struct node *dn = &nodes[d];
	int fd = -1;

	if (dn->rules)
		fd = openat(skel, len ? path : ".", O_RDONLY | O_DIRECTORY);
	if (sd_ignore_enter_dir(ig, path, len, fd) < 0)
		abort();
	if (fd >= 0)
		close(fd);
	for (uint32_t i = 0; i < dn->count; i++) {
		const struct node *e = &nodes[dn->first + i];
		size_t cl = len ? len + 1 + e->len : e->len;

		if (len)
			path[len] = '/';
		memcpy(path + (len ? len + 1 : 0), e->name, e->len + 1u);
		st->matches++;
		if (sd_ignore_match(ig, path, cl, e->dir)) {
			st->ignored++;
			continue;
		}
		if (e->dir && e->count)
			walk(ig, skel, dn->first + i, path, cl, st);
	}
	path[len] = '\0';
	sd_ignore_leave_dir(ig);
}

static void put(int dfd, const char *name, const char *text)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
}

int main(int argc, char **argv)
{
	size_t entries = argc > 1 ? strtoul(argv[1], NULL, 10) : 210000;
	unsigned rounds = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 5;
	char skel_path[] = "/tmp/tether-ignore-bench-XXXXXX";
	struct sd_ignore_config cfg;
	struct sd_ignore *ig;
	double best = 1e30;
	int skel;

	if (!mkdtemp(skel_path))
		return 1;
	skel = open(skel_path, O_RDONLY | O_DIRECTORY);
	if (skel < 0 || mkdirat(skel, "docs", 0755) < 0 ||
	    mkdirat(skel, "web", 0755) < 0)
		return 1;
	put(skel, ".gitignore", ROOT_RULES);
	put(skel, ".tetherignore", TETHER_RULES);
	put(skel, "docs/.gitignore", DOCS_RULES);
	put(skel, "web/.gitignore", WEB_RULES);

	{
		struct rng r = { 42 };
		uint32_t root = add();

		nodes[root].dir = nodes[root].rules = true;
		grow(&r, root, 0, entries);
		printf("tree: %u entries\n", nnodes - 1);
	}
	sd_ignore_config_init(&cfg);
	cfg.patterns = CONFIG;
	cfg.npatterns = sizeof(CONFIG) / sizeof(*CONFIG);
	if (sd_ignore_new(&cfg, &ig) < 0)
		return 1;
	for (unsigned k = 0; k < rounds; k++) {
		struct stats st = { 0 };
		char path[4096] = "";
		uint64_t t0 = cpu_ns();
		double ns;

		walk(ig, skel, 0, path, 0, &st);
		ns = (double)(cpu_ns() - t0) / (double)st.matches;
		if (ns < best)
			best = ns;
		printf("round %u: %llu matches (%llu ignored), %.1f ns/match "
		       "(CPU time of the whole walk)\n",
		       k, (unsigned long long)st.matches,
		       (unsigned long long)st.ignored, ns);
	}
	printf("best: %.1f ns/match\n", best);
	sd_ignore_free(ig);
	free(nodes);
	unlinkat(skel, "docs/.gitignore", 0);
	unlinkat(skel, "web/.gitignore", 0);
	unlinkat(skel, "docs", AT_REMOVEDIR);
	unlinkat(skel, "web", AT_REMOVEDIR);
	unlinkat(skel, ".gitignore", 0);
	unlinkat(skel, ".tetherignore", 0);
	close(skel);
	rmdir(skel_path);
	return 0;
}
