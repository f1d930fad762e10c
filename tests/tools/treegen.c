/* SPDX-License-Identifier: MIT */
/* treegen: deterministic random trees with every entry kind tether syncs
 * (gen), random batches of edits to them (mutate), and a byte-exact digest
 * of a tree to compare a source with its copy on a node (digest). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cleanup.h"

static const char usage[] =
	"usage: treegen gen DIR SEED [--files N] [--sparse]\n"
	"       treegen mutate DIR SEED\n"
	"       treegen digest DIR\n"
	"  gen     create a random tree in DIR (created if missing): files\n"
	"          (empty, small, 1-3 MiB of repeated content), nested and empty\n"
	"          directories, symlinks (relative, absolute, dangling, to\n"
	"          directories), hard links, odd modes, odd names, random\n"
	"          mtimes; --sparse adds a 2 GiB sparse file\n"
	"  mutate  apply a random batch of edits to the tree in DIR; prints one\n"
	"          line per edit\n"
	"  digest  print one line per entry, sorted bytewise by path:\n"
	"          PATH TYPE MODE SIZE MTIME_NS HASH|TARGET LINK-GROUP\n"
	"          (bytes outside ! to ~ and the backslash shown as \\xNN;\n"
	"          a top-level .git is skipped)\n"
	"The same SEED gives the same tree and the same edits.\n";

#define FILES_DEFAULT 100u
#define FILES_MAX     100000u
#define DEPTH_MAX     5
/* Content edits skip files larger than this (the sparse file). */
#define EDIT_MAX    (64ull << 20)
#define SPARSE_SIZE (2ull << 30)
#define BUF_SIZE    (1u << 20) /* digest reads */

/* ---- errors ---- */

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt,
								...)
{
	va_list ap;

	fputs("treegen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* A path for messages and the digest: every byte visible. */
static void put_escaped(FILE *f, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c > 0x20 && c < 0x7f && c != '\\')
			fputc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
}

static const char *shown(const char *p)
{
	static char buf[4][1200];
	static unsigned k;
	char *out = buf[k++ % 4];
	size_t o = 0;

	for (; *p && o + 5 < sizeof(buf[0]); p++) {
		unsigned char c = (unsigned char)*p;

		if (c > 0x20 && c < 0x7f && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
	}
	out[o] = '\0';
	return out;
}

/* ---- a seeded generator: xoshiro256** fed by splitmix64 ---- */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
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
static uint64_t below(struct rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

static bool chance(struct rng *r, unsigned pct)
{
	return below(r, 100) < pct;
}

static void fill_random(struct rng *r, uint8_t *p, size_t n)
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

static int64_t random_mtime(struct rng *r)
{
	/* 1938 to 2096: before the epoch too, with nanoseconds. */
	int64_t s = (int64_t)below(r, 5000000000ull) - 1000000000ll;

	return s * 1000000000ll + (int64_t)below(r, 1000000000ull);
}

static struct timespec ts_of(int64_t ns)
{
	int64_t s = ns / 1000000000, n = ns % 1000000000;

	if (n < 0) {
		n += 1000000000;
		s--;
	}
	return (struct timespec){ .tv_sec = (time_t)s, .tv_nsec = (long)n };
}

static void set_mtime(int root, const char *path, int64_t ns)
{
	struct timespec ts[2];

	ts[0] = ts[1] = ts_of(ns);
	if (utimensat(root, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
		die("utimensat %s: %s", shown(path), strerror(errno));
}

static const mode_t file_modes[] = { 0644, 0644, 0644, 0600, 0755,
				     0700, 0444, 0640, 0755, 04755 };
static const mode_t dir_modes[] = { 0755, 0755,	 0755,	0700, 0750,
				    0775, 02755, 01777, 0555 };

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
#define NAME_LONG_STYLE UTIL_ARRAY_SIZE(name_styles)

struct namer {
	unsigned serial;
};

/* A fresh name into buf (NAME_MAX + 1 bytes): style k, or the 255-byte
 * name for k == NAME_LONG_STYLE. */
static void name_make(struct namer *nm, size_t k, char *buf)
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

static void name_random(struct namer *nm, struct rng *r, char *buf)
{
	/* Mostly plain names, like a real tree. */
	size_t k = chance(r, 55) ? 0 : below(r, UTIL_ARRAY_SIZE(name_styles));

	name_make(nm, k, buf);
}

/* ---- path lists ---- */

struct strs {
	char **v;
	size_t n, cap;
};

static void strs_push(struct strs *s, const char *p)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			die("out of memory");
	}
	s->v[s->n] = strdup(p);
	if (!s->v[s->n])
		die("out of memory");
	s->n++;
}

static void strs_free(struct strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* parent "" + name -> "name"; else "parent/name". */
static char *join(const char *parent, const char *name)
{
	char *p;

	if (asprintf(&p, "%s%s%s", parent, *parent ? "/" : "", name) < 0)
		die("out of memory");
	return p;
}

static int depth_of(const char *p)
{
	int d = *p ? 1 : 0;

	for (; *p; p++)
		d += *p == '/';
	return d;
}

/* The relative symlink target that names `to` from a link placed in
 * directory `from` (both relative to the root). */
static char *rel_target(const char *from, const char *to)
{
	int d = depth_of(from);
	size_t n = strlen(to) + 3 * (size_t)d + 1;
	char *p = malloc(n);

	if (!p)
		die("out of memory");
	p[0] = '\0';
	for (int i = 0; i < d; i++)
		strcat(p, "../");
	strcat(p, to);
	return p;
}

/* ---- writing ---- */

static void write_all(int fd, const uint8_t *p, size_t n, const char *path)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			die("write %s: %s", shown(path), strerror(errno));
		p += k;
		n -= (size_t)k;
	}
}

/* Make a directory's owner-writable when we are not root (a 0555 one). */
static void dir_writable(int root, const char *dir)
{
	struct stat st;

	if (geteuid() == 0)
		return;
	if (fstatat(root, *dir ? dir : ".", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !(st.st_mode & S_IWUSR))
		fchmodat(root, *dir ? dir : ".", (st.st_mode & 07777) | 0700,
			 0);
}

static char *parent_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? strndup(path, (size_t)(s - path)) : strdup("");
}

static void parent_writable(int root, const char *path)
{
	char *p = parent_of(path);

	if (!p)
		die("out of memory");
	dir_writable(root, p);
	free(p);
}

/* Random content of n bytes: random, text-like, or (big) a block repeated
 * with a few changes, so that chunks repeat within the file. */
static uint8_t *content(struct rng *r, size_t n, bool repeated)
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

static size_t random_size(struct rng *r)
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

static void make_file(int root, const char *path, const uint8_t *p, size_t n,
		      mode_t mode)
{
	_cleanup_close_ int fd = -1;

	parent_writable(root, path);
	fd = openat(root, path,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		die("create %s: %s", shown(path), strerror(errno));
	write_all(fd, p, n, path);
	if (fchmod(fd, mode) < 0)
		die("chmod %s: %s", shown(path), strerror(errno));
}

static void make_random_file(struct rng *r, int root, const char *path,
			     size_t n, bool repeated)
{
	uint8_t *buf = content(r, n, repeated);

	make_file(root, path, buf, n,
		  file_modes[below(r, UTIL_ARRAY_SIZE(file_modes))]);
	free(buf);
}

static void make_dir(int root, const char *path, mode_t mode)
{
	parent_writable(root, path);
	if (mkdirat(root, path, 0700) < 0)
		die("mkdir %s: %s", shown(path), strerror(errno));
	if (fchmodat(root, path, mode, 0) < 0)
		die("chmod %s: %s", shown(path), strerror(errno));
}

static void make_symlink(int root, const char *target, const char *path)
{
	parent_writable(root, path);
	if (symlinkat(target, root, path) < 0)
		die("symlink %s: %s", shown(path), strerror(errno));
}

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

static int cmd_gen(const char *dir, uint64_t seed, unsigned nfiles, bool sparse)
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
		if (fchmodat(g.root, d,
			     dir_modes[below(&g.r, UTIL_ARRAY_SIZE(dir_modes))],
			     0) < 0)
			die("chmod %s: %s", shown(d), strerror(errno));
		set_mtime(g.root, d, random_mtime(&g.r));
	}
	strs_free(&g.dirs);
	strs_free(&g.files);
	strs_free(&g.links);
	close(g.root);
	return 0;
}

/* ---- walking a tree ---- */

struct ent {
	char *path;
	struct stat st;
};

struct ents {
	struct ent *v;
	size_t n, cap;
};

static void ents_free(struct ents *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void walk_dir(int dfd, const char *rel, struct ents *l)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d)
		die("%s: %s", *rel ? shown(rel) : ".", strerror(errno));
	while ((errno = 0, de = readdir(d))) {
		struct ent *e;
		char *p;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!*rel && !strcmp(de->d_name, ".git"))
			continue;
		if (l->n == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 256;
			l->v = realloc(l->v, l->cap * sizeof(*l->v));
			if (!l->v)
				die("out of memory");
		}
		p = join(rel, de->d_name);
		e = &l->v[l->n];
		if (fstatat(dirfd(d), de->d_name, &e->st, AT_SYMLINK_NOFOLLOW) <
		    0)
			die("stat %s: %s", shown(p), strerror(errno));
		e->path = p;
		l->n++;
		if (S_ISDIR(e->st.st_mode)) {
			int cfd = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			if (cfd < 0)
				die("open %s: %s", shown(p), strerror(errno));
			walk_dir(cfd, p, l);
		}
	}
	if (errno)
		die("readdir %s: %s", *rel ? shown(rel) : ".", strerror(errno));
	closedir(d);
}

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ent *)a)->path,
		      ((const struct ent *)b)->path);
}

/* Every entry below root (not root itself), sorted bytewise by path. */
static void walk_tree(int root, struct ents *l)
{
	int fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		die("open: %s", strerror(errno));
	memset(l, 0, sizeof(*l));
	walk_dir(fd, "", l);
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), ent_cmp);
}

/* ---- mutate ---- */

enum op {
	OP_MODIFY,
	OP_APPEND,
	OP_TRUNCATE,
	OP_INSERT,
	OP_CREATE,
	OP_DELETE,
	OP_DELETE_DIR,
	OP_RENAME,
	OP_RENAME_OVER,
	OP_RENAME_DIR,
	OP_CHMOD,
	OP_TOUCH,
	OP_FILE_TO_DIR,
	OP_FILE_TO_SYMLINK,
	OP_SYMLINK_TO_FILE,
	OP_DIR_TO_FILE,
	OP_DIR_TO_SYMLINK,
	OP_LINK,
	OP_UNLINK_LINK,
	OP_MKDIR,
	OP_SYMLINK,
	OP_RETARGET,
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	[OP_MODIFY] = "modify",
	[OP_APPEND] = "append",
	[OP_TRUNCATE] = "truncate",
	[OP_INSERT] = "insert-byte",
	[OP_CREATE] = "create",
	[OP_DELETE] = "delete",
	[OP_DELETE_DIR] = "delete-dir",
	[OP_RENAME] = "rename",
	[OP_RENAME_OVER] = "rename-over",
	[OP_RENAME_DIR] = "rename-dir",
	[OP_CHMOD] = "chmod",
	[OP_TOUCH] = "touch",
	[OP_FILE_TO_DIR] = "file-to-dir",
	[OP_FILE_TO_SYMLINK] = "file-to-symlink",
	[OP_SYMLINK_TO_FILE] = "symlink-to-file",
	[OP_DIR_TO_FILE] = "dir-to-file",
	[OP_DIR_TO_SYMLINK] = "dir-to-symlink",
	[OP_LINK] = "link",
	[OP_UNLINK_LINK] = "unlink-hardlink",
	[OP_MKDIR] = "mkdir",
	[OP_SYMLINK] = "symlink",
	[OP_RETARGET] = "retarget",
};

struct mut {
	struct rng r;
	struct namer nm;
	int root;
	struct ents l;
};

static void say(enum op op, const char *a, const char *b)
{
	printf("%s ", op_names[op]);
	put_escaped(stdout, a, strlen(a));
	if (b) {
		fputs(" -> ", stdout);
		put_escaped(stdout, b, strlen(b));
	}
	putchar('\n');
}

typedef bool (*ent_pred)(const struct ent *e);

static bool is_file(const struct ent *e)
{
	return S_ISREG(e->st.st_mode);
}

static bool is_editable(const struct ent *e)
{
	return S_ISREG(e->st.st_mode) && (uint64_t)e->st.st_size <= EDIT_MAX;
}

static bool is_nonempty_editable(const struct ent *e)
{
	return is_editable(e) && e->st.st_size > 0;
}

static bool is_dir(const struct ent *e)
{
	return S_ISDIR(e->st.st_mode);
}

static bool is_symlink(const struct ent *e)
{
	return S_ISLNK(e->st.st_mode);
}

static bool is_not_dir(const struct ent *e)
{
	return !S_ISDIR(e->st.st_mode);
}

static bool is_any(const struct ent *e)
{
	return true;
}

static bool is_linked(const struct ent *e)
{
	return S_ISREG(e->st.st_mode) && e->st.st_nlink > 1;
}

/* A random entry matching pred, or NULL. */
static const struct ent *pick_ent(struct mut *m, ent_pred pred)
{
	size_t n = 0, k;

	for (size_t i = 0; i < m->l.n; i++)
		n += pred(&m->l.v[i]);
	if (!n)
		return NULL;
	k = below(&m->r, n);
	for (size_t i = 0; i < m->l.n; i++)
		if (pred(&m->l.v[i]) && k-- == 0)
			return &m->l.v[i];
	return NULL;
}

/* A directory ("" for the root) not deeper than DEPTH_MAX - 1. */
static const char *pick_dir_m(struct mut *m)
{
	for (int tries = 0; tries < 8; tries++) {
		const struct ent *e = pick_ent(m, is_dir);

		if (!e || chance(&m->r, 15))
			return "";
		if (depth_of(e->path) < DEPTH_MAX)
			return e->path;
	}
	return "";
}

/* A name not in use in dir (an earlier batch may have taken one). */
static char *new_path(struct mut *m, const char *dir)
{
	char name[NAME_MAX + 1];
	struct stat st;

	for (;;) {
		char *p;

		name_random(&m->nm, &m->r, name);
		p = join(dir, name);
		if (fstatat(m->root, p, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT)
			return p;
		free(p);
	}
}

static void rm_rf(int dfd, const char *name)
{
	int fd;
	DIR *d;
	struct dirent *de;

	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return;
	if (errno != EISDIR && errno != EPERM)
		die("unlink %s: %s", shown(name), strerror(errno));
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", shown(name), strerror(errno));
	if (geteuid() != 0)
		fchmod(fd, 0700);
	d = fdopendir(fd);
	if (!d)
		die("opendir %s: %s", shown(name), strerror(errno));
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rm_rf(dirfd(d), de->d_name);
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0)
		die("rmdir %s: %s", shown(name), strerror(errno));
}

static void remove_path(int root, const char *path)
{
	parent_writable(root, path);
	rm_rf(root, path);
}

static int open_rw(int root, const char *path, int flags)
{
	int fd = openat(root, path, flags | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == EACCES) {
		fchmodat(root, path, 0600, 0);
		fd = openat(root, path, flags | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		die("open %s: %s", shown(path), strerror(errno));
	return fd;
}

static void op_insert(struct mut *m, const struct ent *e)
{
	size_t n = (size_t)e->st.st_size, at;
	uint8_t *buf = malloc(n + 1);
	_cleanup_close_ int fd = open_rw(m->root, e->path, O_RDWR);

	if (!buf)
		die("out of memory");
	if (pread(fd, buf, n, 0) != (ssize_t)n)
		die("read %s: %s", shown(e->path), strerror(errno));
	at = n / 2 + (n > 64 ? (size_t)below(&m->r, n / 8 + 1) : 0);
	if (at > n)
		at = n;
	memmove(buf + at + 1, buf + at, n - at);
	fill_random(&m->r, buf + at, 1);
	if (pwrite(fd, buf, n + 1, 0) != (ssize_t)(n + 1))
		die("write %s: %s", shown(e->path), strerror(errno));
	free(buf);
}

/* Apply one edit of kind op. Returns false when the tree has nothing it
 * applies to. */
static bool mutate_one(struct mut *m, enum op op)
{
	const struct ent *e = NULL;
	char *p = NULL, *q = NULL;
	int fd;

	switch (op) {
	case OP_MODIFY: {
		uint8_t buf[64];
		size_t n;

		if (!(e = pick_ent(m, is_nonempty_editable)))
			return false;
		n = 1 + (size_t)below(&m->r, sizeof(buf));
		fill_random(&m->r, buf, n);
		fd = open_rw(m->root, e->path, O_WRONLY);
		if (pwrite(fd, buf, n,
			   (off_t)below(&m->r, (uint64_t)e->st.st_size)) < 0)
			die("write %s: %s", shown(e->path), strerror(errno));
		close(fd);
		say(op, e->path, NULL);
		return true;
	}
	case OP_APPEND: {
		size_t n;
		uint8_t *buf;

		if (!(e = pick_ent(m, is_editable)))
			return false;
		n = 1 + (size_t)below(&m->r, 20000);
		buf = content(&m->r, n, false);
		fd = open_rw(m->root, e->path, O_WRONLY | O_APPEND);
		write_all(fd, buf, n, e->path);
		close(fd);
		free(buf);
		say(op, e->path, NULL);
		return true;
	}
	case OP_TRUNCATE:
		if (!(e = pick_ent(m, is_nonempty_editable)))
			return false;
		fd = open_rw(m->root, e->path, O_WRONLY);
		if (ftruncate(fd,
			      (off_t)below(&m->r, (uint64_t)e->st.st_size)) < 0)
			die("truncate %s: %s", shown(e->path), strerror(errno));
		close(fd);
		say(op, e->path, NULL);
		return true;
	case OP_INSERT: {
		/* Into the largest editable file: the dedup case. */
		for (size_t i = 0; i < m->l.n; i++)
			if (is_nonempty_editable(&m->l.v[i]) &&
			    (!e || m->l.v[i].st.st_size > e->st.st_size))
				e = &m->l.v[i];
		if (!e)
			return false;
		op_insert(m, e);
		say(op, e->path, NULL);
		return true;
	}
	case OP_CREATE:
		p = new_path(m, pick_dir_m(m));
		make_random_file(&m->r, m->root, p, random_size(&m->r), false);
		say(op, p, NULL);
		break;
	case OP_DELETE:
		if (!(e = pick_ent(m, is_not_dir)))
			return false;
		remove_path(m->root, e->path);
		say(op, e->path, NULL);
		return true;
	case OP_DELETE_DIR:
	case OP_DIR_TO_FILE:
	case OP_DIR_TO_SYMLINK:
		if (!(e = pick_ent(m, is_dir)))
			return false;
		remove_path(m->root, e->path);
		if (op == OP_DIR_TO_FILE)
			make_random_file(&m->r, m->root, e->path,
					 random_size(&m->r), false);
		else if (op == OP_DIR_TO_SYMLINK)
			make_symlink(m->root, "was-a-dir", e->path);
		say(op, e->path, NULL);
		return true;
	case OP_RENAME: {
		/* Same directory, or across directories. */
		if (!(e = pick_ent(m, is_not_dir)))
			return false;
		if (chance(&m->r, 50)) {
			q = parent_of(e->path);
			p = new_path(m, q);
			free(q);
			q = NULL;
		} else {
			p = new_path(m, pick_dir_m(m));
		}
		parent_writable(m->root, e->path);
		parent_writable(m->root, p);
		if (renameat(m->root, e->path, m->root, p) < 0)
			die("rename %s: %s", shown(e->path), strerror(errno));
		say(op, e->path, p);
		break;
	}
	case OP_RENAME_OVER: {
		const struct ent *t;

		if (!(e = pick_ent(m, is_not_dir)) ||
		    !(t = pick_ent(m, is_file)) || e == t)
			return false;
		parent_writable(m->root, e->path);
		parent_writable(m->root, t->path);
		if (renameat(m->root, e->path, m->root, t->path) < 0)
			die("rename %s: %s", shown(e->path), strerror(errno));
		say(op, e->path, t->path);
		return true;
	}
	case OP_RENAME_DIR: {
		const char *to;
		size_t n;

		if (!(e = pick_ent(m, is_dir)))
			return false;
		to = pick_dir_m(m);
		n = strlen(e->path);
		/* Not into itself or its own subtree. */
		if (!strncmp(to, e->path, n) && (to[n] == '\0' || to[n] == '/'))
			to = "";
		p = new_path(m, to);
		parent_writable(m->root, e->path);
		parent_writable(m->root, p);
		if (renameat(m->root, e->path, m->root, p) < 0)
			die("rename %s: %s", shown(e->path), strerror(errno));
		say(op, e->path, p);
		break;
	}
	case OP_CHMOD: {
		mode_t mode;

		if (!(e = pick_ent(m, is_any)) || S_ISLNK(e->st.st_mode))
			return false;
		mode = S_ISDIR(e->st.st_mode)
			       ? dir_modes[below(&m->r,
						 UTIL_ARRAY_SIZE(dir_modes))]
			       : file_modes[below(&m->r,
						  UTIL_ARRAY_SIZE(file_modes))];
		if (fchmodat(m->root, e->path, mode, 0) < 0)
			die("chmod %s: %s", shown(e->path), strerror(errno));
		say(op, e->path, NULL);
		return true;
	}
	case OP_TOUCH:
		if (!(e = pick_ent(m, is_any)))
			return false;
		set_mtime(m->root, e->path, random_mtime(&m->r));
		say(op, e->path, NULL);
		return true;
	case OP_FILE_TO_DIR:
	case OP_FILE_TO_SYMLINK:
		if (!(e = pick_ent(m, is_file)))
			return false;
		remove_path(m->root, e->path);
		if (op == OP_FILE_TO_DIR) {
			make_dir(m->root, e->path, 0755);
			if (chance(&m->r, 60)) {
				p = new_path(m, e->path);
				make_random_file(&m->r, m->root, p,
						 random_size(&m->r), false);
			}
		} else {
			make_symlink(m->root, "was-a-file", e->path);
		}
		say(op, e->path, NULL);
		break;
	case OP_SYMLINK_TO_FILE:
		if (!(e = pick_ent(m, is_symlink)))
			return false;
		remove_path(m->root, e->path);
		make_random_file(&m->r, m->root, e->path, random_size(&m->r),
				 false);
		say(op, e->path, NULL);
		return true;
	case OP_LINK:
		if (!(e = pick_ent(m, is_file)))
			return false;
		p = new_path(m, pick_dir_m(m));
		parent_writable(m->root, p);
		if (linkat(m->root, e->path, m->root, p, 0) < 0)
			die("link %s: %s", shown(p), strerror(errno));
		say(op, e->path, p);
		break;
	case OP_UNLINK_LINK:
		if (!(e = pick_ent(m, is_linked)))
			return false;
		remove_path(m->root, e->path);
		say(op, e->path, NULL);
		return true;
	case OP_MKDIR:
		p = new_path(m, pick_dir_m(m));
		make_dir(m->root, p, 0755);
		say(op, p, NULL);
		break;
	case OP_SYMLINK: {
		const struct ent *t = pick_ent(m, is_any);
		const char *dir = pick_dir_m(m);

		q = t ? rel_target(dir, t->path) : strdup("dangling");
		p = new_path(m, dir);
		make_symlink(m->root, q, p);
		say(op, p, q);
		break;
	}
	case OP_RETARGET: {
		/* A new target, keeping the link's mtime half of the time. */
		char *t = NULL;

		if (!(e = pick_ent(m, is_symlink)))
			return false;
		if (asprintf(&t, "retargeted-%" PRIu64, below(&m->r, 1000000)) <
		    0)
			die("out of memory");
		remove_path(m->root, e->path);
		make_symlink(m->root, t, e->path);
		if (chance(&m->r, 50))
			set_mtime(m->root, e->path,
				  (int64_t)e->st.st_mtim.tv_sec * 1000000000ll +
					  e->st.st_mtim.tv_nsec);
		say(op, e->path, t);
		free(t);
		return true;
	}
	case OP_COUNT: return false;
	}
	free(p);
	free(q);
	return true;
}

static int cmd_mutate(const char *dir, uint64_t seed)
{
	struct mut m = { .root = -1 };
	unsigned nops, done = 0;

	rng_seed(&m.r, seed);
	/* New names mostly differ from an earlier batch's (new_path()
	 * checks). */
	m.nm.serial = (unsigned)(1000000 + (seed % 100000) * 100);
	m.root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m.root < 0)
		die("%s: %s", dir, strerror(errno));
	nops = 10 + (unsigned)below(&m.r, 15);
	for (unsigned tries = 0; done < nops && tries < 20 * nops; tries++) {
		walk_tree(m.root, &m.l);
		done += mutate_one(&m, (enum op)below(&m.r, OP_COUNT));
		ents_free(&m.l);
	}
	close(m.root);
	return 0;
}

/* ---- digest ---- */

/* XXH3-128 of a file's bytes; holes are hashed as zeros without being
 * read, so that a 2 GiB sparse file costs little. */
static void hash_file(int root, const struct ent *e, char out[33])
{
	static const uint8_t zero[BUF_SIZE];
	_cleanup_close_ int fd =
		openat(root, e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_free_ uint8_t *buf = malloc(BUF_SIZE);
	XXH3_state_t *h = XXH3_createState();
	XXH128_canonical_t c;
	off_t off = 0, size = e->st.st_size;

	if (fd < 0)
		die("open %s: %s", shown(e->path), strerror(errno));
	if (!buf || !h || XXH3_128bits_reset(h) != XXH_OK)
		die("out of memory");
	while (off < size) {
		off_t data = lseek(fd, off, SEEK_DATA), end;

		if (data < 0 && errno == ENXIO)
			data = size; /* a hole up to the end */
		else if (data < 0 || data > size)
			data = off; /* no SEEK_DATA: read it all */
		while (off < data) {
			size_t k = data - off < (off_t)sizeof(zero)
					   ? (size_t)(data - off)
					   : sizeof(zero);

			XXH3_128bits_update(h, zero, k);
			off += (off_t)k;
		}
		if (off >= size)
			break;
		end = lseek(fd, off, SEEK_HOLE);
		if (end <= off || end > size)
			end = size;
		while (off < end) {
			size_t want = end - off < (off_t)BUF_SIZE
					      ? (size_t)(end - off)
					      : BUF_SIZE;
			ssize_t k = pread(fd, buf, want, off);

			if (k <= 0)
				die("read %s: %s", shown(e->path),
				    k < 0 ? strerror(errno) : "short file");
			XXH3_128bits_update(h, buf, (size_t)k);
			off += k;
		}
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h));
	XXH3_freeState(h);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", c.digest[i]);
}

static int cmd_digest(const char *dir)
{
	int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct ents l;

	if (root < 0)
		die("%s: %s", dir, strerror(errno));
	walk_tree(root, &l);
	for (size_t i = 0; i < l.n; i++) {
		const struct ent *e = &l.v[i];
		mode_t fmt = e->st.st_mode & S_IFMT;
		const char *leader = NULL;
		char type = fmt == S_IFREG    ? 'f'
			    : fmt == S_IFDIR  ? 'd'
			    : fmt == S_IFLNK  ? 'l'
			    : fmt == S_IFIFO  ? 'p'
			    : fmt == S_IFSOCK ? 's'
					      : 'c';
		uint64_t size = fmt == S_IFDIR ? 0 : (uint64_t)e->st.st_size;
		int64_t mtime = (int64_t)e->st.st_mtim.tv_sec * 1000000000ll +
				e->st.st_mtim.tv_nsec;

		put_escaped(stdout, e->path, strlen(e->path));
		printf(" %c %04o %" PRIu64 " %" PRId64 " ", type,
		       (unsigned)(e->st.st_mode & 07777), size, mtime);
		if (fmt == S_IFREG) {
			char hex[33];

			hash_file(root, e, hex);
			fputs(hex, stdout);
		} else if (fmt == S_IFLNK) {
			char t[PATH_MAX + 1];
			ssize_t k = readlinkat(root, e->path, t, sizeof(t));

			if (k < 0)
				die("readlink %s: %s", shown(e->path),
				    strerror(errno));
			put_escaped(stdout, t, (size_t)k);
		} else {
			fputc('-', stdout);
		}
		/* The link group: the first of its names in this tree, when
		 * it has more than one here (names outside the tree are not
		 * part of it). */
		if (fmt == S_IFREG && e->st.st_nlink > 1) {
			size_t names = 0;

			for (size_t k = 0; k < l.n; k++) {
				const struct stat *o = &l.v[k].st;

				if (S_ISREG(o->st_mode) &&
				    o->st_dev == e->st.st_dev &&
				    o->st_ino == e->st.st_ino) {
					if (!names)
						leader = l.v[k].path;
					names++;
				}
			}
			if (names < 2)
				leader = NULL;
		}
		fputc(' ', stdout);
		if (leader)
			put_escaped(stdout, leader, strlen(leader));
		else
			fputc('-', stdout);
		fputc('\n', stdout);
	}
	ents_free(&l);
	close(root);
	if (fflush(stdout) != 0 || ferror(stdout))
		die("writing the digest: %s", strerror(errno));
	return 0;
}

/* ---- main ---- */

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		die("%s %s: not a number", what, s);
	return (uint64_t)v;
}

int main(int argc, char **argv)
{
	umask(0);
	if (argc >= 3 && !strcmp(argv[1], "gen")) {
		unsigned files = FILES_DEFAULT;
		bool sparse = false;
		uint64_t seed;

		if (argc < 4)
			goto bad;
		seed = parse_u64(argv[3], "SEED");
		for (int i = 4; i < argc; i++) {
			if (!strcmp(argv[i], "--sparse")) {
				sparse = true;
			} else if (!strcmp(argv[i], "--files") &&
				   i + 1 < argc) {
				uint64_t n = parse_u64(argv[++i], "--files");

				if (n < 1 || n > FILES_MAX)
					die("--files %s: 1 to %u", argv[i],
					    FILES_MAX);
				files = (unsigned)n;
			} else {
				goto bad;
			}
		}
		return cmd_gen(argv[2], seed, files, sparse);
	}
	if (argc == 4 && !strcmp(argv[1], "mutate"))
		return cmd_mutate(argv[2], parse_u64(argv[3], "SEED"));
	if (argc == 3 && !strcmp(argv[1], "digest"))
		return cmd_digest(argv[2]);
	if (argc == 2 &&
	    (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return 0;
	}
bad:
	fputs(usage, stderr);
	return 2;
}
