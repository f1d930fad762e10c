/* SPDX-License-Identifier: MIT */
/* treegen gen: a deterministic random tree with every entry kind tether
 * syncs: files (empty, small, big of repeated content), nested and empty
 * directories, symlinks of every sort, hard links, odd modes, odd names,
 * random mtimes, and optionally a 2 GiB sparse file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "treegen.h"

#define SPARSE_SIZE (2ull << 30)

/* ---- gen ---- */

struct gen {
	struct rng r;
	struct namer nm;
	int root;
	struct strs dirs;  /* "" is the root */
	struct strs files; /* regular files, primary names */
	struct strs links; /* everything with an mtime to set */
};

static const char *pick(struct rng *r, const struct strs *s)
{
	return s->v[below(r, s->n)];
}

/* A directory that may receive more entries (not too deep). */
static const char *pick_dir(struct gen *g)
{
	for (;;) {
		const char *d = pick(&g->r, &g->dirs);

		if (depth_of(d) < DEPTH_MAX)
			return d;
	}
}

static char *gen_path(struct gen *g, const char *dir, size_t style)
{
	char name[NAME_MAX + 1];

	if (style == SIZE_MAX)
		name_random(&g->nm, &g->r, name);
	else
		name_make(&g->nm, style, name);
	return join(dir, name);
}

static void gen_file(struct gen *g, const char *dir, size_t style, size_t n,
		     bool repeated)
{
	char *p = gen_path(g, dir, style);

	make_random_file(&g->r, g->root, p, n, repeated);
	strs_push(&g->files, p);
	free(p);
}

static int cmp_depth_desc(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;

	return depth_of(y) - depth_of(x);
}

static void gen_sparse(struct gen *g)
{
	static const uint64_t at[] = { (1u << 20) + 7, (1ull << 30) + 12345,
				       SPARSE_SIZE - 4096 };
	_cleanup_close_ int fd = -1;
	uint8_t blk[4096];
	const char *path = "sparse-2g.img";

	fd = openat(g->root, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0644);
	if (fd < 0)
		die("create %s: %s", path, strerror(errno));
	if (ftruncate(fd, (off_t)SPARSE_SIZE) < 0)
		die("truncate %s: %s", path, strerror(errno));
	for (size_t i = 0; i < UTIL_ARRAY_SIZE(at); i++) {
		fill_random(&g->r, blk, sizeof(blk));
		if (pwrite(fd, blk, sizeof(blk), (off_t)at[i]) !=
		    (ssize_t)sizeof(blk))
			die("write %s: %s", path, strerror(errno));
	}
	strs_push(&g->links, path);
}

int cmd_gen(const char *dir, uint64_t seed, unsigned nfiles, bool sparse)
{
	struct gen g = { .root = -1 };
	size_t ndirs = 4 + nfiles / 8;

	rng_seed(&g.r, seed);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		die("mkdir %s: %s", dir, strerror(errno));
	g.root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g.root < 0)
		die("%s: %s", dir, strerror(errno));
	strs_push(&g.dirs, "");

	/* Directories, nested up to DEPTH_MAX. */
	for (size_t i = 0; i < ndirs; i++) {
		char *p = gen_path(&g, pick_dir(&g), SIZE_MAX);

		make_dir(g.root, p, 0755);
		strs_push(&g.dirs, p);
		free(p);
	}

	/* One file of every name style, the 255-byte name, empty files,
	 * big files of repeated content. */
	for (size_t k = 0; k <= NAME_LONG_STYLE; k++)
		gen_file(&g, pick_dir(&g), k, random_size(&g.r), false);
	gen_file(&g, "", 0, 0, false);
	gen_file(&g, pick_dir(&g), 0, 0, false);
	for (uint64_t i = 0, n = 2 + below(&g.r, 2); i < n; i++)
		gen_file(&g, pick_dir(&g), 0,
			 (1u << 20) + (size_t)below(&g.r, 2u << 20), true);
	while (g.files.n < nfiles)
		gen_file(&g, pick_dir(&g), SIZE_MAX, random_size(&g.r), false);

	/* Hard links: a few files get one or two more names. */
	for (int i = 0; i < 4; i++) {
		const char *f = pick(&g.r, &g.files);

		for (uint64_t k = 0, n = 1 + below(&g.r, 2); k < n; k++) {
			char *p = gen_path(&g, pick_dir(&g), SIZE_MAX);

			parent_writable(g.root, p);
			if (linkat(g.root, f, g.root, p, 0) < 0)
				die("link %s: %s", shown(p), strerror(errno));
			free(p);
		}
	}

	/* Symlinks: relative to a file and to a directory, absolute (to a
	 * directory and to nothing), dangling, odd bytes in the target. */
	{
		const char *targets[6];
		char *rel_f, *rel_d, *d1 = strdup(pick_dir(&g)),
				     *d2 = strdup(pick_dir(&g));

		if (!d1 || !d2)
			die("out of memory");
		rel_f = rel_target(d1, pick(&g.r, &g.files));
		rel_d = rel_target(d2, pick(&g.r, &g.dirs));
		targets[0] = rel_f;
		targets[1] = *rel_d ? rel_d : ".";
		targets[2] = "/etc";
		targets[3] = "/nonexistent-tether-target/x";
		targets[4] = "no-such-target";
		targets[5] = "odd\xff\x01 target/..";
		for (size_t i = 0; i < UTIL_ARRAY_SIZE(targets); i++) {
			const char *in = i == 0	  ? d1
					 : i == 1 ? d2
						  : pick_dir(&g);
			char *p = gen_path(&g, in, SIZE_MAX);

			make_symlink(g.root, targets[i], p);
			strs_push(&g.links, p);
			free(p);
		}
		free(rel_f);
		free(rel_d);
		free(d1);
		free(d2);
	}

	if (sparse)
		gen_sparse(&g);

	/* Empty directories: made last so that nothing lands in them. */
	for (int i = 0; i < 3; i++) {
		char *p = gen_path(&g, pick_dir(&g), SIZE_MAX);

		make_dir(g.root, p, 0755);
		strs_push(&g.dirs, p);
		free(p);
	}

	/* Times last: entries made after a directory change its mtime.
	 * Directory modes too (a 0555 one takes no more entries). */
	for (size_t i = 0; i < g.files.n; i++)
		set_mtime(g.root, g.files.v[i], random_mtime(&g.r));
	for (size_t i = 0; i < g.links.n; i++)
		set_mtime(g.root, g.links.v[i], random_mtime(&g.r));
	qsort(g.dirs.v, g.dirs.n, sizeof(*g.dirs.v), cmp_depth_desc);
	for (size_t i = 0; i < g.dirs.n; i++) {
		const char *d = g.dirs.v[i];

		if (!*d)
			continue;
		if (fchmodat(g.root, d, random_dir_mode(&g.r), 0) < 0)
			die("chmod %s: %s", shown(d), strerror(errno));
		set_mtime(g.root, d, random_mtime(&g.r));
	}
	strs_free(&g.dirs);
	strs_free(&g.files);
	strs_free(&g.links);
	close(g.root);
	return 0;
}
