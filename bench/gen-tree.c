/* SPDX-License-Identifier: MIT */
/* gen-tree: a deterministic repo-like tree for the workspace sync benchmarks
 * (docs/bench.md), and deterministic edits and branch switches of any tree. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "gen-tree.h"

#define DEFAULT_FILES  80000u
#define DEFAULT_BYTES  1300000000ull
#define MAX_DEPTH      10u
#define VOCAB	       1024u /* words per directory before a digit suffix */
#define BUF_SIZE       (1u << 20)
#define PATH_CAP       4096u
#define EDIT_FILES_MAX (1u << 24)

static const char usage[] =
	"usage: gen-tree DIR [--seed N] [--files N] [--bytes B]\n"
	"       gen-tree --edit DIR --seed N (--fraction F | --count K)\n"
	"       gen-tree --branch DIR --seed N [--fraction F]\n"
	"  DIR            generate a repo-like tree in DIR (new or empty):\n"
	"                 default 80000 files, 1.3 GB, about one directory per\n"
	"                 ten files, depth up to 10, log-normal-like sizes with\n"
	"                 most files under 16 KiB (source-like text), a tail of\n"
	"                 large files up to 50 MiB (text, incompressible, mixed),\n"
	"                 a .git directory with packs, duplicates, symlinks.\n"
	"                 --bytes without --files keeps 80000 files; --files\n"
	"                 without --bytes scales the bytes (16250 per file).\n"
	"  --edit DIR     modify F of the regular files of DIR (or exactly K) in\n"
	"                 place: a small replacement that shifts the rest of a\n"
	"                 file up to 1 MiB, a 1-64 byte overwrite in a larger one.\n"
	"                 Works on any tree; skips .git directories.\n"
	"  --branch DIR   a branch switch touching F of the files (default 0.1):\n"
	"                 60% modified, 15% deleted, 15% added, 10% renamed;\n"
	"                 .git/index and .git/HEAD rewritten if present.\n"
	"  --seed N       default 1; the same seed gives the same bytes.\n"
	"  Prints what it did on stderr. Exit 0, 1 on error, 2 on bad usage.\n";

/* ---- the tree ---- */

enum kind {
	K_TEXT,	  /* source-like */
	K_SCRIPT, /* source-like, mode 0755 */
	K_BIN,	  /* incompressible (images, archives) */
	K_LTEXT,  /* large, compressible: logs, csv, sql dumps */
	K_LBIN,	  /* large, incompressible */
	K_MIXED,  /* large, 64 KiB blocks alternating text and random */
	K_GIT,	  /* under .git: incompressible */
};

struct dir {
	uint32_t parent;
	uint32_t depth;
	uint32_t nsub, nfiles;	   /* names handed out so far */
	uint32_t word_off, stride; /* per-directory vocabulary permutation */
	char *path;		   /* relative to the root, "" for the root */
	char first[64];		   /* the name of its first file, if any */
};

struct file {
	uint32_t dir;
	uint32_t slot; /* index among the files of its directory */
	uint64_t size;
	uint64_t content; /* content stream index (a duplicate shares it) */
	uint8_t kind;
};

struct tree {
	uint64_t seed;
	struct dir *dirs;
	uint32_t ndirs;
	struct file *files;
	uint32_t nfiles;
	uint64_t packs; /* bytes of .git packs */
};

static const char *const top_names[] = {
	"src",	   "lib",    "include",	    "docs",   "tests",	  "tools",
	"scripts", "vendor", "third_party", "assets", "examples", "config",
};
#define NTOP (sizeof(top_names) / sizeof(top_names[0]))

static const char *ext_of(const struct file *f, struct rng *r)
{
	static const char *const text[] = { ".c",    ".h",    ".py", ".js",
					    ".go",   ".rs",   ".md", ".txt",
					    ".json", ".yaml", ".c",  ".h" };
	static const char *const bin[] = { ".png", ".jpg",  ".gz",
					   ".so",  ".woff", ".bin" };

	switch (f->kind) {
	case K_SCRIPT: return gt_rng_below(r, 2) ? ".sh" : ".py";
	case K_BIN: return bin[gt_rng_below(r, 6)];
	case K_LTEXT: return gt_rng_below(r, 2) ? ".log" : ".sql";
	case K_LBIN: return gt_rng_below(r, 2) ? ".mp4" : ".zip";
	case K_MIXED: return ".tar";
	default: return text[gt_rng_below(r, 12)];
	}
}

/* Name number k in directory d: a word from d's permutation of the
 * vocabulary (odd stride: a bijection on VOCAB), a digit suffix past it.
 * Words end in a vowel and suffixes are digits, so names never collide;
 * files always carry an extension, directories never do. */
static size_t dir_word(char *out, const struct dir *d, uint32_t k)
{
	size_t n = gt_word(out, (d->word_off + k * d->stride) % VOCAB);

	if (k >= VOCAB)
		n += (size_t)sprintf(out + n, "%" PRIu32, k);
	return n;
}

static int tree_layout(struct tree *t, uint32_t nfiles, uint64_t bytes)
{
	struct rng r;
	uint32_t nsym = nfiles / 2000 < 3 ? 3 : nfiles / 2000;
	uint32_t nloose = nfiles / 100, nbody, i;
	uint64_t sum = 0, remain;

	gt_rng_init(&r, t->seed, P_LAYOUT, 0);
	t->ndirs = nfiles / 10 < 2 ? 2 : nfiles / 10;
	t->dirs = calloc(t->ndirs, sizeof(*t->dirs));
	/* body + loose objects; symlinks and .git's fixed files come later */
	if (nfiles < nsym + nloose + 16)
		return -EINVAL;
	t->nfiles = nfiles - nsym - 10;
	t->files = calloc(t->nfiles, sizeof(*t->files));
	if (!t->dirs || !t->files)
		return -ENOMEM;
	t->dirs[0].word_off = (uint32_t)gt_rng_below(&r, VOCAB);
	t->dirs[0].stride = (uint32_t)gt_rng_below(&r, VOCAB) | 1;
	t->dirs[0].path = strdup("");
	for (i = 1; i < t->ndirs; i++) {
		struct dir *d = &t->dirs[i], *p;
		/* The smaller of two draws: older (shallower) directories
		 * get more children, as in a real tree. */
		uint32_t a = (uint32_t)gt_rng_below(&r, i),
			 b = (uint32_t)gt_rng_below(&r, i);
		uint32_t pi = i <= NTOP ? 0 : (a < b ? a : b);
		char name[32];

		while (t->dirs[pi].depth >= MAX_DEPTH - 1)
			pi = t->dirs[pi].parent;
		p = &t->dirs[pi];
		d->parent = pi;
		d->depth = p->depth + 1;
		d->word_off = (uint32_t)gt_rng_below(&r, VOCAB);
		d->stride = (uint32_t)gt_rng_below(&r, VOCAB) | 1;
		if (pi == 0 && p->nsub < NTOP)
			strcpy(name, top_names[p->nsub]);
		else
			dir_word(name, p, p->nsub);
		p->nsub++;
		if (asprintf(&d->path, "%s%s%s", p->path, *p->path ? "/" : "",
			     name) < 0)
			return -ENOMEM;
	}
	nbody = t->nfiles - nloose;
	for (i = 0; i < t->nfiles; i++) {
		struct file *f = &t->files[i];
		struct rng fr;

		gt_rng_init(&fr, t->seed, P_FILE, i);
		f->content = i;
		if (i >= nbody) { /* a loose object, placed below */
			f->kind = K_GIT;
			f->size = 100 + gt_rng_below(&fr, 4000);
		} else {
			uint32_t u = (uint32_t)gt_rng_below(&fr, 1000);
			/* Half uniform, half the smaller of two: big
			 * directories near the top, few files deep down. */
			uint32_t a = (uint32_t)gt_rng_below(&fr, t->ndirs),
				 b = (uint32_t)gt_rng_below(&fr, t->ndirs);

			f->dir = gt_rng_below(&fr, 2) ? a : (a < b ? a : b);
			f->kind = u < 50 ? K_BIN : u < 80 ? K_SCRIPT : K_TEXT;
			f->size = gt_draw_small(&fr);
			/* 1% are copies of an earlier file (vendored code,
			 * licences, generated files). */
			if (i > 100 && gt_rng_below(&fr, 100) == 0) {
				const struct file *o =
					&t->files[gt_rng_below(&fr, i)];

				if (o->kind == K_TEXT) {
					f->content = o->content;
					f->size = o->size;
					f->kind = K_TEXT;
				}
			}
		}
		sum += f->size;
	}
	/* Fit the bytes: scale the small files down if they alone exceed
	 * the budget; otherwise turn files into large ones until it is
	 * spent, 35% of the tail going to .git packs. */
	if (sum > bytes) {
		uint64_t fx = (bytes << 16) / sum;

		sum = 0;
		for (i = 0; i < t->nfiles; i++) {
			t->files[i].size = (t->files[i].size * fx) >> 16;
			sum += t->files[i].size;
		}
		return 0;
	}
	t->packs = (bytes - sum) * 35 / 100;
	remain = (bytes - sum) - t->packs;
	for (uint32_t tries = 0; remain >= LARGE_MIN && tries < nbody;
	     tries++) {
		struct file *f = &t->files[gt_rng_below(&r, nbody)];
		uint64_t s = gt_draw_large(&r), u = gt_rng_below(&r, 10);

		if (f->size >= LARGE_MIN ||
		    f->content != (uint64_t)(f - t->files))
			continue;
		if (s - f->size > remain)
			s = f->size + remain;
		remain -= s - f->size;
		f->size = s;
		f->kind = u < 4 ? K_LTEXT : u < 8 ? K_LBIN : K_MIXED;
	}
	return 0;
}

/* ---- writing ---- */

static char *iobuf;

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void fill(uint8_t kind, struct rng *r, uint64_t off, char *dst, size_t n)
{
	if (kind == K_MIXED) {
		/* Blocks alternate by their 64 KiB index in the file. */
		while (n) {
			size_t in = (size_t)(65536 - off % 65536);
			size_t k = in < n ? in : n;

			if ((off / 65536) % 2)
				gt_gen_random(r, dst, k);
			else
				gt_gen_text(r, dst, k);
			off += k;
			dst += k;
			n -= k;
		}
	} else if (kind == K_BIN || kind == K_LBIN || kind == K_GIT) {
		gt_gen_random(r, dst, n);
	} else {
		gt_gen_text(r, dst, n);
	}
}

static int write_file(const char *path, uint8_t kind, uint64_t seed,
		      uint64_t content, uint64_t size, mode_t mode,
		      uint64_t *written)
{
	struct rng r;
	uint64_t off = 0;
	int fd, rc = 0;

	gt_rng_init(&r, seed, P_CONTENT, content);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	while (off < size) {
		size_t n = size - off < BUF_SIZE ? (size_t)(size - off)
						 : BUF_SIZE;

		fill(kind, &r, off, iobuf, n);
		rc = write_all(fd, iobuf, n);
		if (rc < 0)
			break;
		off += n;
	}
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	*written += off;
	return rc;
}

static int fail(const char *what, const char *path, int r)
{
	fprintf(stderr, "gen-tree: %s %s: %s\n", what, path, strerror(-r));
	return 1;
}

static int mkdir_p(const char *path)
{
	return mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* .git: HEAD, config, refs, an index of about 100 bytes per file, loose
 * objects (in t->files), and three packs with their idx files. */
static int write_git(const struct tree *t, const char *root, uint64_t packs,
		     uint64_t *written, uint32_t *count)
{
	static const char *const sub[] = {
		".git",	     ".git/objects",	".git/objects/pack",
		".git/refs", ".git/refs/heads", ".git/refs/tags",
		".git/info",
	};
	static const char *const small[][2] = {
		{ ".git/HEAD", "ref: refs/heads/main\n" },
		{ ".git/config", "[core]\n\trepositoryformatversion = 0\n"
				 "\tfilemode = true\n\tbare = false\n" },
		{ ".git/description", "Unnamed repository.\n" },
		{ ".git/info/exclude", "# git ls-files --others\n" },
	};
	static const uint32_t pct[] = { 60, 30, 10 };
	char p[PATH_CAP];
	int rc;

	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, sub[i]);
		if ((rc = mkdir_p(p)) < 0)
			return fail("mkdir", p, rc);
	}
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		int fd;

		snprintf(p, sizeof(p), "%s/%s", root, small[i][0]);
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			return fail("create", p, -errno);
		rc = write_all(fd, small[i][1], strlen(small[i][1]));
		close(fd);
		if (rc < 0)
			return fail("write", p, rc);
		*written += strlen(small[i][1]);
		(*count)++;
	}
	snprintf(p, sizeof(p), "%s/.git/refs/heads/main", root);
	if ((rc = write_file(p, K_GIT, t->seed, 1ull << 40, 41, 0644,
			     written)) < 0)
		return fail("create", p, rc);
	snprintf(p, sizeof(p), "%s/.git/index", root);
	if ((rc = write_file(p, K_GIT, t->seed, (1ull << 40) + 1,
			     (uint64_t)t->nfiles * 100, 0644, written)) < 0)
		return fail("create", p, rc);
	*count += 2;
	for (uint32_t k = 0; k < 3; k++) {
		uint64_t sz = packs * pct[k] / 100;
		struct rng r;
		char hex[41];

		gt_rng_init(&r, t->seed, P_LAYOUT, 100 + k);
		for (int j = 0; j < 40; j++)
			hex[j] = "0123456789abcdef"[gt_rng_below(&r, 16)];
		hex[40] = 0;
		snprintf(p, sizeof(p), "%s/.git/objects/pack/pack-%s.pack",
			 root, hex);
		if ((rc = write_file(p, K_GIT, t->seed, (1ull << 40) + 10 + k,
				     sz, 0444, written)) < 0)
			return fail("create", p, rc);
		snprintf(p, sizeof(p), "%s/.git/objects/pack/pack-%s.idx", root,
			 hex);
		if ((rc = write_file(p, K_GIT, t->seed, (1ull << 40) + 20 + k,
				     sz / 40 + 1024, 0444, written)) < 0)
			return fail("create", p, rc);
		*count += 2;
	}
	return 0;
}

static int generate(const char *root, uint64_t seed, uint32_t nfiles,
		    uint64_t bytes)
{
	struct tree t = { .seed = seed };
	struct timespec t0, t1;
	uint64_t written = 0, small = 0, packs;
	uint32_t count = 0, nlarge = 0, maxdepth = 0, nsym, ndirs_git = 0;
	char p[PATH_CAP], name[64];
	DIR *dd;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		return fail("mkdir", root, -errno);
	dd = opendir(root);
	if (!dd)
		return fail("open", root, -errno);
	for (struct dirent *e; (e = readdir(dd));) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			closedir(dd);
			fprintf(stderr, "gen-tree: %s: not empty\n", root);
			return 1;
		}
	}
	closedir(dd);
	if ((rc = gt_idents_init(seed)) < 0)
		return fail("init", "", rc);
	if ((rc = tree_layout(&t, nfiles, bytes)) < 0) {
		fprintf(stderr, "gen-tree: --files %" PRIu32 ": %s\n", nfiles,
			rc == -EINVAL ? "too few files (at least 100)"
				      : strerror(-rc));
		return 1;
	}
	packs = t.packs;
	for (uint32_t i = 1; i < t.ndirs; i++) {
		snprintf(p, sizeof(p), "%s/%s", root, t.dirs[i].path);
		if ((rc = mkdir_p(p)) < 0)
			return fail("mkdir", p, rc);
		if (t.dirs[i].depth > maxdepth)
			maxdepth = t.dirs[i].depth;
	}
	if ((rc = write_git(&t, root, packs, &written, &count)) < 0)
		return 1;
	ndirs_git = 7;
	for (uint32_t i = 0; i < t.nfiles; i++) {
		struct file *f = &t.files[i];
		struct rng nr;
		size_t n;

		gt_rng_init(&nr, seed, P_FILE, (1ull << 32) + i);
		if (f->kind == K_GIT) {
			/* .git/objects/XX/<38 hex>, 256 fan-out dirs */
			char hex[41];

			for (int j = 0; j < 40; j++)
				hex[j] = "0123456789abcdef"[gt_rng_below(&nr,
									 16)];
			hex[40] = 0;
			snprintf(p, sizeof(p), "%s/.git/objects/%.2s", root,
				 hex);
			if (mkdir(p, 0755) == 0)
				ndirs_git++;
			else if (errno != EEXIST)
				return fail("mkdir", p, -errno);
			snprintf(p, sizeof(p), "%s/.git/objects/%.2s/%s", root,
				 hex, hex + 2);
		} else {
			struct dir *d = &t.dirs[f->dir];

			n = dir_word(name, d, d->nsub + d->nfiles++);
			snprintf(name + n, sizeof(name) - n, "%s",
				 ext_of(f, &nr));
			if (!d->first[0])
				snprintf(d->first, sizeof(d->first), "%s",
					 name);
			snprintf(p, sizeof(p), "%s/%s%s%s", root, d->path,
				 *d->path ? "/" : "", name);
		}
		rc = write_file(p, f->kind, seed, f->content, f->size,
				f->kind == K_SCRIPT ? 0755 : 0644, &written);
		if (rc == -EEXIST && f->kind == K_GIT)
			continue; /* a repeated object name: skip it */
		if (rc < 0)
			return fail("write", p, rc);
		count++;
		if (f->size >= LARGE_MIN)
			nlarge++;
		if (f->size < 16384)
			small++;
	}
	/* Symlinks: relative, to files and directories, one dangling. */
	nsym = nfiles / 2000 < 3 ? 3 : nfiles / 2000;
	for (uint32_t k = 0; k < nsym; k++) {
		struct rng r;
		char target[PATH_CAP];
		struct dir *d;
		size_t tn = 0;

		gt_rng_init(&r, seed, P_LAYOUT, 1000 + k);
		d = &t.dirs[gt_rng_below(&r, t.ndirs)];
		for (uint32_t j = 0; j < d->depth; j++)
			tn += (size_t)snprintf(target + tn, sizeof(target) - tn,
					       "../");
		if (k == 0) {
			snprintf(target + tn, sizeof(target) - tn,
				 "does/not/exist");
		} else if (k % 5 == 1) {
			snprintf(target + tn, sizeof(target) - tn, "%s",
				 t.dirs[gt_rng_below(&r, t.ndirs)].path);
		} else {
			/* the first file of a random directory with files */
			const struct dir *td =
				&t.dirs[gt_rng_below(&r, t.ndirs)];

			if (!td->first[0])
				td = &t.dirs[0];
			snprintf(target + tn, sizeof(target) - tn, "%s%s%s",
				 td->path, *td->path ? "/" : "",
				 td->first[0] ? td->first : "HEAD.md");
		}
		if (!target[0])
			strcpy(target, ".");
		snprintf(p, sizeof(p), "%s/%s%slink_%" PRIu32, root, d->path,
			 *d->path ? "/" : "", k);
		if (symlink(target, p) < 0)
			return fail("symlink", p, -errno);
		count++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr,
		"gen-tree: %s: seed %" PRIu64 ": %" PRIu32 " entries (%" PRIu32
		" symlinks, %" PRIu32
		" files of 1 MiB or more, %.1f%% under 16 KiB), %" PRIu32
		" directories (depth up to %" PRIu32 "), %" PRIu64
		" bytes (%" PRIu64 " in .git packs) in %.1f s\n",
		root, seed, count, nsym, nlarge,
		100.0 * (double)small / (double)(count ? count : 1),
		t.ndirs + ndirs_git, maxdepth, written, packs * 41 / 40,
		(double)(t1.tv_sec - t0.tv_sec) +
			(double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}

/* ---- edits of any tree ---- */

struct flist {
	char **path; /* relative to the root */
	size_t n, cap;
};

static int flist_add(struct flist *l, const char *rel)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		char **p;

		if (cap > EDIT_FILES_MAX)
			return -E2BIG;
		p = realloc(l->path, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->path = p;
		l->cap = cap;
	}
	l->path[l->n] = strdup(rel);
	if (!l->path[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

/* Every regular file below root/rel, not following symlinks, skipping
 * directories named .git. */
static int walk(const char *root, const char *rel, struct flist *l,
		struct flist *dirs)
{
	char p[PATH_CAP], sub[PATH_CAP];
	struct dirent *e;
	DIR *d;
	int rc = 0;

	snprintf(p, sizeof(p), "%s%s%s", root, *rel ? "/" : "", rel);
	d = opendir(p);
	if (!d)
		return fail("open", p, -errno) ? -EIO : 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "",
			     e->d_name) >= (int)sizeof(sub))
			continue;
		if (e->d_type == DT_DIR) {
			if (!strcmp(e->d_name, ".git"))
				continue;
			if ((rc = flist_add(dirs, sub)) < 0 ||
			    (rc = walk(root, sub, l, dirs)) < 0)
				break;
		} else if (e->d_type == DT_REG) {
			if ((rc = flist_add(l, sub)) < 0)
				break;
		} else if (e->d_type == DT_UNKNOWN) {
			struct stat st;

			if (snprintf(p, sizeof(p), "%s/%s", root, sub) >=
			    (int)sizeof(p))
				continue;
			if (lstat(p, &st) == 0 && S_ISREG(st.st_mode))
				rc = flist_add(l, sub);
			else if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
				rc = flist_add(dirs, sub);
				if (rc == 0)
					rc = walk(root, sub, l, dirs);
			}
			if (rc < 0)
				break;
		}
	}
	closedir(d);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Shuffle the first k of idx (partial Fisher-Yates). */
static void pick(struct rng *r, uint32_t *idx, size_t n, size_t k)
{
	for (size_t i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	for (size_t i = 0; i < k && i < n; i++) {
		size_t j = i + gt_rng_below(r, n - i);
		uint32_t t = idx[i];

		idx[i] = idx[j];
		idx[j] = t;
	}
}

/* Edit one file in place (same inode). Up to 1 MiB: read it, replace
 * `hunks` random ranges of 0-64 bytes with 1-64 bytes of text (the rest
 * shifts, as when an editor saves), write it back. Larger: overwrite 1-64
 * bytes at a random offset. */
static int edit_one(const char *path, struct rng *r, uint32_t hunks)
{
	struct stat st;
	char ins[64];
	int fd, rc = 0;

	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if ((uint64_t)st.st_size > BUF_SIZE - hunks * 64) {
		uint64_t off = gt_rng_below(r, (uint64_t)st.st_size);
		size_t n = 1 + (size_t)gt_rng_below(r, 64);

		gt_gen_random(r, ins, n);
		if (pwrite(fd, ins, n, (off_t)off) < 0)
			rc = -errno;
	} else {
		size_t len = 0;
		ssize_t got;

		while ((got = pread(fd, iobuf + len, BUF_SIZE - len,
				    (off_t)len)) > 0)
			len += (size_t)got;
		for (uint32_t h = 0; h < hunks; h++) {
			size_t pos = (size_t)gt_rng_below(r, len + 1);
			size_t del = (size_t)gt_rng_below(
				r, (len - pos < 64 ? len - pos : 64) + 1);
			size_t add = 1 + (size_t)gt_rng_below(r, 64);

			gt_gen_text(r, ins, add);
			memmove(iobuf + pos + add, iobuf + pos + del,
				len - pos - del);
			memcpy(iobuf + pos, ins, add);
			len = len - del + add;
		}
		if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
			rc = -errno;
		else
			rc = write_all(fd, iobuf, len);
	}
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

static int edit_tree(const char *root, uint64_t seed, double fraction,
		     long count, bool branch)
{
	struct flist files = { 0 }, dirs = { 0 };
	uint32_t *idx;
	size_t k, nmod, ndel, nren, nadd, i;
	struct rng r;
	char p[PATH_CAP], q[PATH_CAP];
	int rc;

	if (walk(root, "", &files, &dirs) < 0)
		return 1;
	if (!files.n) {
		fprintf(stderr, "gen-tree: %s: no regular files\n", root);
		return 1;
	}
	qsort(files.path, files.n, sizeof(char *), cmp_str);
	qsort(dirs.path, dirs.n, sizeof(char *), cmp_str);
	if (gt_idents_init(seed) < 0)
		return fail("init", "", -ENOMEM);
	gt_rng_init(&r, seed, branch ? P_BRANCH : P_EDIT, 0);
	k = count >= 0 ? (size_t)count
		       : (size_t)(fraction * (double)files.n + 0.5);
	if (k == 0 && fraction > 0)
		k = 1;
	if (k > files.n)
		k = files.n;
	idx = calloc(files.n, sizeof(*idx));
	if (!idx)
		return fail("alloc", "", -ENOMEM);
	pick(&r, idx, files.n, k);
	if (branch) {
		nmod = k * 60 / 100;
		ndel = k * 15 / 100;
		nren = k * 10 / 100;
		nadd = k - nmod - ndel - nren;
	} else {
		nmod = k;
		ndel = nren = nadd = 0;
	}
	for (i = 0; i < nmod; i++) {
		struct rng er;

		gt_rng_init(&er, seed, P_EDIT_ONE, i);
		snprintf(p, sizeof(p), "%s/%s", root, files.path[idx[i]]);
		rc = edit_one(p, &er,
			      branch ? 1 + (uint32_t)gt_rng_below(&er, 5) : 1);
		if (rc < 0)
			return fail("edit", p, rc);
	}
	for (; i < nmod + ndel; i++) {
		snprintf(p, sizeof(p), "%s/%s", root, files.path[idx[i]]);
		if (unlink(p) < 0)
			return fail("delete", p, -errno);
	}
	/* Renames move a file into another directory (or the root) under its
	 * own name, or a numbered one if that is taken. */
	for (; i < nmod + ndel + nren; i++) {
		const char *rel = files.path[idx[i]], *base = strrchr(rel, '/');
		const char *to = dirs.n ? dirs.path[gt_rng_below(&r, dirs.n)]
					: "";

		base = base ? base + 1 : rel;
		snprintf(p, sizeof(p), "%s/%s", root, rel);
		for (uint32_t n = 0;; n++) {
			if (n)
				snprintf(q, sizeof(q), "%s/%s%s%s.%" PRIu32,
					 root, to, *to ? "/" : "", base, n);
			else
				snprintf(q, sizeof(q), "%s/%s%s%s", root, to,
					 *to ? "/" : "", base);
			if (renameat2(AT_FDCWD, p, AT_FDCWD, q,
				      RENAME_NOREPLACE) == 0)
				break;
			if (errno != EEXIST || n > 1000)
				return fail("rename", p, -errno);
		}
	}
	/* Additions: text files of the small-file sizes in directories that
	 * have files, one new directory per 50. */
	for (size_t a = 0; a < nadd; a++) {
		const char *rel = files.path[gt_rng_below(&r, files.n)];
		const char *slash = strrchr(rel, '/');
		int dl = slash ? (int)(slash - rel) : 0;
		uint64_t written = 0;

		if (a % 50 == 49) {
			snprintf(q, sizeof(q),
				 "%s/%.*s%sbranch_%" PRIx64 "_%zu", root, dl,
				 rel, dl ? "/" : "", seed, a);
			if (mkdir(q, 0755) < 0 && errno != EEXIST)
				return fail("mkdir", q, -errno);
			if (snprintf(p, sizeof(p), "%s/new.c", q) >=
			    (int)sizeof(p))
				return fail("create", q, -ENAMETOOLONG);
		} else {
			snprintf(p, sizeof(p),
				 "%s/%.*s%sbranch_%" PRIx64 "_%zu.c", root, dl,
				 rel, dl ? "/" : "", seed, a);
		}
		rc = write_file(p, K_TEXT, seed, (1ull << 48) + a,
				gt_draw_small(&r), 0644, &written);
		if (rc < 0 && rc != -EEXIST)
			return fail("create", p, rc);
	}
	if (branch) {
		uint64_t w = 0;
		struct stat st;
		int fd;

		snprintf(p, sizeof(p), "%s/.git/index", root);
		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			unlink(p);
			if ((rc = write_file(p, K_GIT, seed, 1ull << 44,
					     (uint64_t)st.st_size, 0644, &w)) <
			    0)
				return fail("write", p, rc);
		}
		snprintf(p, sizeof(p), "%s/.git/HEAD", root);
		fd = lstat(p, &st) == 0 && S_ISREG(st.st_mode)
			     ? open(p, O_WRONLY | O_TRUNC | O_CLOEXEC)
			     : -1;
		if (fd >= 0) {
			int l = snprintf(q, sizeof(q),
					 "ref: refs/heads/branch-%" PRIu64 "\n",
					 seed);

			rc = write_all(fd, q, (size_t)l);
			close(fd);
			if (rc < 0)
				return fail("write", p, rc);
		}
	}
	fprintf(stderr,
		"gen-tree: %s: seed %" PRIu64 ": of %zu files: %zu modified, "
		"%zu deleted, %zu renamed, %zu added\n",
		root, seed, files.n, nmod, ndel, nren, nadd);
	return 0;
}

/* ---- main ---- */

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -EINVAL;
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "files", required_argument, NULL, 'f' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "edit", no_argument, NULL, 'e' },
		{ "branch", no_argument, NULL, 'B' },
		{ "fraction", required_argument, NULL, 'F' },
		{ "count", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t seed = 1, files = 0, bytes = 0, v;
	double fraction = -1;
	long count = -1;
	bool edit = false, branch = false;
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
		case 'f':
		case 'b':
		case 'k':
			if (parse_u64(optarg, &v) < 0) {
				fprintf(stderr, "gen-tree: %s: not a number\n",
					optarg);
				return 2;
			}
			if (opt == 's')
				seed = v;
			else if (opt == 'f')
				files = v;
			else if (opt == 'b')
				bytes = v;
			else
				count = v > EDIT_FILES_MAX ? EDIT_FILES_MAX
							   : (long)v;
			break;
		case 'e': edit = true; break;
		case 'B': branch = true; break;
		case 'F':
			errno = 0;
			fraction = strtod(optarg, &end);
			if (errno || *end ||
			    !(fraction >= 0 && fraction <= 1)) {
				fprintf(stderr,
					"gen-tree: --fraction %s: expected 0..1\n",
					optarg);
				return 2;
			}
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (argc - optind != 1 || (edit && branch) ||
	    (edit && fraction < 0 && count < 0) ||
	    (!edit && !branch && (fraction >= 0 || count >= 0)) ||
	    files > (1u << 30)) {
		fputs(usage, stderr);
		return 2;
	}
	iobuf = malloc(BUF_SIZE);
	if (!iobuf)
		return 1;
	if (edit || branch)
		return edit_tree(argv[optind], seed,
				 fraction < 0 ? 0.10 : fraction, count, branch);
	if (!files && !bytes) {
		files = DEFAULT_FILES;
		bytes = DEFAULT_BYTES;
	} else if (!files) {
		files = DEFAULT_FILES;
	} else if (!bytes) {
		bytes = files * (DEFAULT_BYTES / DEFAULT_FILES);
	}
	return generate(argv[optind], seed, (uint32_t)files, bytes);
}
