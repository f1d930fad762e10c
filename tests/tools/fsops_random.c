/* SPDX-License-Identifier: MIT */
/* fsops random: a seeded random-operation exerciser that applies the same
 * operations to two trees and compares each result and both whole trees. */
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsops.h"

#define R_CREATE_MAX (200u << 10) /* bytes of a created file */
#define R_WRITE_MAX  (64u << 10)  /* bytes of one write, mmap write */
#define R_OFF_MAX    (320u << 10) /* write offsets: often past EOF */
#define R_TRUNC_MAX  (300u << 10)
/* Every R_FULL_EVERY-th compare (and the last) rereads every file instead
 * of trusting hashes of files no operation touched. */
#define R_FULL_EVERY 50

/* splitmix64: one word of state, so that a run replays from SEED alone. */
struct rng {
	uint64_t x;
};

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rng_next(struct rng *r)
{
	return mix64(r->x += 0x9e3779b97f4a7c15ull);
}

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
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rng_next(r);

		memcpy(p + i, &v, n - i < 8 ? n - i : 8);
	}
}

/* A content hash; not cryptographic, it only has to tell two trees apart.
 * Each non-zero 8-byte word at offset off adds a mix of both and a zero
 * word adds nothing, so that holes need not be read and the result is a
 * function of the bytes alone, whatever the filesystem's hole layout. */
static uint64_t hash_words(uint64_t h, const uint8_t *p, size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t w = 0;

		memcpy(&w, p + i, n - i < 8 ? n - i : 8);
		if (w)
			h += mix64(w ^ mix64(off + i + 0x9e3779b97f4a7c15ull));
	}
	return h;
}

/* Hashes the data regions SEEK_DATA reports (all of the file without
 * it); a region starts 8-aligned so that words fall at the same offsets
 * however the holes lie. */
static int hash_fd(int fd, uint64_t *out)
{
	static uint8_t buf[1 << 16];
	struct stat st;
	uint64_t h = 0;
	off_t pos = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	while (pos < st.st_size) {
		off_t data = lseek(fd, pos, SEEK_DATA), end;

		if (data < 0 && errno == ENXIO)
			break; /* a hole up to the end */
		if (data < pos || data > st.st_size)
			data = pos;
		end = lseek(fd, data, SEEK_HOLE);
		if (end <= data || end > st.st_size)
			end = st.st_size;
		if ((data & ~(off_t)7) > pos)
			pos = data & ~(off_t)7;
		while (pos < end) {
			size_t want = end - pos < (off_t)sizeof(buf)
					      ? (size_t)(end - pos)
					      : sizeof(buf);
			ssize_t k = fsops_pread_full(fd, buf, want, pos);

			if (k < 0)
				return -errno;
			if (k == 0) /* shrunk meanwhile */
				break;
			h = hash_words(h, buf, (size_t)k, (uint64_t)pos);
			pos += k;
		}
		if (pos < end)
			break;
	}
	*out = mix64(h ^ (uint64_t)st.st_size);
	return 0;
}

struct ent {
	char *path;
	struct stat st;
	char *target;	    /* symlinks */
	uint64_t hash;	    /* regular files */
	const char *leader; /* regular files: the first path of its hard-link
			       group in this tree, NULL if alone here */
};

struct ents {
	struct ent *v;
	size_t n, cap;
};

static void ents_free(struct ents *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].target);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

struct dirty {
	dev_t dev;
	ino_t ino;
};

struct tree {
	const char *name; /* "A" or "B" */
	const char *dir;
	int root;
	struct ents cur, prev; /* this walk, the last one */
	struct dirty *dirty;   /* files written since the last walk */
	size_t ndirty, cap_dirty;
};

enum op_kind {
	OP_CREATE,
	OP_WRITE,
	OP_APPEND,
	OP_TRUNCATE,
	OP_OPEN_TRUNC,
	OP_MKDIR,
	OP_RMDIR,
	OP_UNLINK,
	OP_RENAME,
	OP_SYMLINK,
	OP_LINK,
	OP_CHMOD,
	OP_UTIMENS,
	OP_MMAP,
	OP_UNLINK_OPEN,
	OP_COUNT
};

static const struct {
	const char *name;
	unsigned weight;
} op_info[OP_COUNT] = {
	[OP_CREATE] = { "create", 14 },
	[OP_WRITE] = { "write", 8 },
	[OP_APPEND] = { "append", 5 },
	[OP_TRUNCATE] = { "truncate", 4 },
	[OP_OPEN_TRUNC] = { "open-trunc", 2 },
	[OP_MKDIR] = { "mkdir", 5 },
	[OP_RMDIR] = { "rmdir", 4 },
	[OP_UNLINK] = { "unlink", 4 },
	[OP_RENAME] = { "rename", 9 },
	[OP_SYMLINK] = { "symlink", 3 },
	[OP_LINK] = { "link", 3 },
	[OP_CHMOD] = { "chmod", 3 },
	[OP_UTIMENS] = { "utimensat", 3 },
	[OP_MMAP] = { "mmap-write", 4 },
	[OP_UNLINK_OPEN] = { "unlink-open", 2 },
};

/* One operation, drawn before it is applied to either tree. */
struct op {
	enum op_kind kind;
	char path[PATH_MAX], path2[PATH_MAX], target[PATH_MAX];
	size_t len; /* bytes of run.data */
	uint64_t off, u1, u2;
	mode_t mode;
	unsigned flags;
	struct timespec ts;
};

struct run {
	struct rng r;
	struct tree t[2];
	struct op op;
	uint8_t *data; /* R_CREATE_MAX bytes */
	char desc[3 * 1200 + 64];
	uint64_t seed, every;
	unsigned long ok, errs, compares;
	bool verbose;
};

/* A small pool of names, so that collisions and errors are common. */
static const char *const small_names[] = { "a", "b", "c", "d",
					   "e", "f", "g", "h" };
static const mode_t file_modes[] = { 0644, 0600, 0755, 0640, 0444, 0664 };
static const mode_t dir_modes[] = { 0755, 0700, 0750, 0775 };
static const mode_t chmod_modes[] = { 0644, 0600, 0755, 0700,
				      0444, 0750, 0711, 0555 };

static const char *small_name(struct rng *r)
{
	return small_names[below(r, FSOPS_ARRAY_SIZE(small_names))];
}

/* An entry of the last walk of A of type kind (any when 0, or when there
 * is none). */
static const struct ent *pick_ent(struct run *r, mode_t kind)
{
	const struct ents *l = &r->t[0].prev;
	size_t i = below(&r->r, l->n);

	for (size_t k = 0; kind && k < l->n; k++)
		if ((l->v[(i + k) % l->n].st.st_mode & S_IFMT) == kind)
			return &l->v[(i + k) % l->n];
	return &l->v[i];
}

/* A path for an operation: one that existed at the last walk of A (pct of
 * the time; mostly of type kind), a new name in an existing directory, or
 * a generated path of depth 1 to 3. */
static void pick_path(struct run *r, char *out, unsigned pct, mode_t kind)
{
	const struct ents *l = &r->t[0].prev;
	int depth;

	if (l->n && chance(&r->r, pct)) {
		snprintf(out, PATH_MAX, "%s",
			 pick_ent(r, chance(&r->r, 80) ? kind : 0)->path);
		return;
	}
	if (l->n && chance(&r->r, 40)) {
		const struct ent *e = pick_ent(r, S_IFDIR);

		if (S_ISDIR(e->st.st_mode) &&
		    snprintf(out, PATH_MAX, "%s/%s", e->path,
			     small_name(&r->r)) < PATH_MAX)
			return;
	}
	depth = chance(&r->r, 45) ? 1 : chance(&r->r, 55) ? 2 : 3;
	strcpy(out, small_name(&r->r));
	for (int i = 1; i < depth; i++) {
		strcat(out, "/");
		strcat(out, small_name(&r->r));
	}
}

static size_t random_size(struct rng *r)
{
	uint64_t k = below(r, 100);

	if (k < 10)
		return 0;
	if (k < 55)
		return (size_t)below(r, 4096);
	return (size_t)below(r, R_CREATE_MAX + 1);
}

static void op_make(struct run *r)
{
	struct op *op = &r->op;
	unsigned total = 0, k;

	for (int i = 0; i < OP_COUNT; i++)
		total += op_info[i].weight;
	k = (unsigned)below(&r->r, total);
	op->kind = 0;
	while (k >= op_info[op->kind].weight)
		k -= op_info[op->kind++].weight;
	op->len = 0;
	op->path2[0] = op->target[0] = '\0';
	switch (op->kind) {
	case OP_CREATE:
		pick_path(r, op->path, 30, S_IFREG);
		op->len = random_size(&r->r);
		op->mode =
			file_modes[below(&r->r, FSOPS_ARRAY_SIZE(file_modes))];
		break;
	case OP_WRITE:
	case OP_UNLINK_OPEN:
		pick_path(r, op->path, 75, S_IFREG);
		op->len = 1 + (size_t)below(&r->r, chance(&r->r, 70)
							   ? 4096
							   : R_WRITE_MAX);
		op->off = below(&r->r, chance(&r->r, 70) ? 65536 : R_OFF_MAX);
		break;
	case OP_APPEND:
		pick_path(r, op->path, 75, S_IFREG);
		op->len = 1 + (size_t)below(&r->r, 16384);
		break;
	case OP_TRUNCATE:
		pick_path(r, op->path, 75, S_IFREG);
		op->off = chance(&r->r, 25) ? 0 : below(&r->r, R_TRUNC_MAX);
		break;
	case OP_OPEN_TRUNC:
	case OP_UNLINK: pick_path(r, op->path, 70, S_IFREG); break;
	case OP_RMDIR: pick_path(r, op->path, 70, S_IFDIR); break;
	case OP_MKDIR:
		pick_path(r, op->path, 15, S_IFDIR);
		op->mode = dir_modes[below(&r->r, FSOPS_ARRAY_SIZE(dir_modes))];
		break;
	case OP_RENAME:
		pick_path(r, op->path, 65, 0);
		/* Into itself, or below a file, now and then. */
		if (!chance(&r->r, 15) ||
		    snprintf(op->path2, PATH_MAX, "%s/%s", op->path,
			     small_name(&r->r)) >= PATH_MAX)
			pick_path(r, op->path2, 40, 0);
		op->flags = chance(&r->r, 15) ? RENAME_NOREPLACE : 0;
		break;
	case OP_SYMLINK:
		pick_path(r, op->path, 20, 0);
		k = (unsigned)below(&r->r, 100);
		if (k < 40)
			pick_path(r, op->target, 50, 0);
		else
			snprintf(op->target, PATH_MAX, "%s%s",
				 k < 60	  ? "../"
				 : k < 80 ? "/nonexistent-fsops/"
					  : "/tmp/",
				 small_name(&r->r));
		break;
	case OP_LINK:
		pick_path(r, op->path, 70, S_IFREG);
		pick_path(r, op->path2, 25, 0);
		break;
	case OP_CHMOD:
		pick_path(r, op->path, 70, 0);
		op->mode =
			chmod_modes[below(&r->r, FSOPS_ARRAY_SIZE(chmod_modes))];
		break;
	case OP_UTIMENS:
		pick_path(r, op->path, 70, 0);
		op->ts.tv_sec = (time_t)(1000000000 + below(&r->r, 1000000000));
		op->ts.tv_nsec = (long)below(&r->r, 1000000000);
		break;
	case OP_MMAP:
		pick_path(r, op->path, 75, S_IFREG);
		op->u1 = rng_next(&r->r);
		op->u2 = rng_next(&r->r);
		op->len = R_WRITE_MAX;
		break;
	case OP_COUNT: break;
	}
	fill_random(&r->r, r->data, op->len);
}

static void op_describe(const struct op *op, char *out, size_t cap)
{
	const char *name = op_info[op->kind].name, *p = fsops_shown(op->path);

	switch (op->kind) {
	case OP_CREATE:
		snprintf(out, cap, "%s %s (%zu bytes, mode 0%o)", name, p,
			 op->len, (unsigned)op->mode);
		break;
	case OP_WRITE:
	case OP_UNLINK_OPEN:
		snprintf(out, cap, "%s %s (%zu bytes at %" PRIu64 ")", name, p,
			 op->len, op->off);
		break;
	case OP_APPEND:
		snprintf(out, cap, "%s %s (%zu bytes)", name, p, op->len);
		break;
	case OP_TRUNCATE:
		snprintf(out, cap, "%s %s (to %" PRIu64 ")", name, p, op->off);
		break;
	case OP_MKDIR:
	case OP_CHMOD:
		snprintf(out, cap, "%s %s 0%o", name, p, (unsigned)op->mode);
		break;
	case OP_RENAME:
	case OP_LINK:
		snprintf(out, cap, "%s %s -> %s%s", name, p,
			 fsops_shown(op->path2),
			 op->flags & RENAME_NOREPLACE ? " (RENAME_NOREPLACE)"
						      : "");
		break;
	case OP_SYMLINK:
		snprintf(out, cap, "%s %s -> %s", name, p,
			 fsops_shown(op->target));
		break;
	case OP_UTIMENS:
		snprintf(out, cap, "%s %s (mtime %jd.%09ld)", name, p,
			 (intmax_t)op->ts.tv_sec, op->ts.tv_nsec);
		break;
	case OP_MMAP:
		snprintf(out, cap,
			 "%s %s (range from %016" PRIx64 " %016" PRIx64 ")",
			 name, p, op->u1, op->u2);
		break;
	default: snprintf(out, cap, "%s %s", name, p);
	}
}

/* ---- applying an operation to one tree ---- */

/* The directory holding path, opened below the tree's root without
 * following any symlink (a pre-existing link to /etc must never be
 * written through), and the last component. */
struct loc {
	int dfd;
	char base[NAME_MAX + 1];
};

static int loc_open(const struct tree *t, const char *path, struct loc *l)
{
	char buf[PATH_MAX];
	char *s = buf, *slash;
	int fd;

	l->dfd = -1;
	snprintf(buf, sizeof(buf), "%s", path);
	fd = openat(t->root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((slash = strchr(s, '/'))) {
		int nfd;

		*slash = '\0';
		nfd = openat(fd, s,
			     O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (nfd < 0)
			return -errno;
		fd = nfd;
		s = slash + 1;
	}
	if (strlen(s) > NAME_MAX) {
		close(fd);
		return -ENAMETOOLONG;
	}
	strcpy(l->base, s);
	l->dfd = fd;
	return 0;
}

static void loc_close(struct loc *l)
{
	if (l->dfd >= 0)
		close(l->dfd);
	l->dfd = -1;
}

/* An outcome: "ok ..." on success, "WHAT: ENAME (message)" on failure. */
static void out_err(char *out, size_t cap, const char *what, int e)
{
	snprintf(out, cap, "%s: %s", what, fsops_err_name(e));
}

static void dirty_add(struct tree *t, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return;
	if (t->ndirty == t->cap_dirty) {
		t->cap_dirty = t->cap_dirty ? 2 * t->cap_dirty : 64;
		t->dirty = realloc(t->dirty, t->cap_dirty * sizeof(*t->dirty));
		if (!t->dirty)
			fsops_die("out of memory");
	}
	t->dirty[t->ndirty++] = (struct dirty){ st.st_dev, st.st_ino };
}

/* Opens l for an operation; fifos, sockets and devices of a pre-existing
 * tree are left alone (nothing may block or touch a device). Returns the
 * fd, or -1 with the outcome written. */
static int open_at(struct loc *l, int flags, mode_t mode, char *out, size_t cap)
{
	struct stat st;
	int fd;

	if (fstatat(l->dfd, l->base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) &&
	    !S_ISLNK(st.st_mode)) {
		snprintf(out, cap, "skipped: a special file");
		return -1;
	}
	fd = openat(l->dfd, l->base,
		    flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
	if (fd < 0)
		out_err(out, cap, "open", errno);
	return fd;
}

static void apply_mmap(const struct op *op, const uint8_t *data, int fd,
		       char *out, size_t cap)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), len, start, span;
	struct stat st;
	uint64_t off;
	uint8_t *p;

	if (fstat(fd, &st) < 0) {
		out_err(out, cap, "fstat", errno);
		return;
	}
	if (st.st_size == 0) {
		snprintf(out, cap, "ok empty, nothing mapped");
		return;
	}
	off = op->u1 % (uint64_t)st.st_size;
	len = (uint64_t)st.st_size - off < R_WRITE_MAX
		      ? (size_t)((uint64_t)st.st_size - off)
		      : R_WRITE_MAX;
	len = 1 + (size_t)(op->u2 % len);
	start = (size_t)off & ~(pg - 1);
	span = (size_t)off - start + len;
	p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)start);
	if (p == MAP_FAILED) {
		out_err(out, cap, "mmap", errno);
		return;
	}
	memcpy(p + (off - start), data, len);
	if (msync(p, span, MS_SYNC) < 0)
		out_err(out, cap, "msync", errno);
	else
		snprintf(out, cap, "ok %zu bytes at %" PRIu64, len, off);
	munmap(p, span);
}

static void apply_unlink_open(const struct op *op, const uint8_t *data,
			      struct loc *l, int fd, char *out, size_t cap)
{
	struct stat st;
	uint64_t h;
	ssize_t k;
	int rc;

	if (unlinkat(l->dfd, l->base, 0) < 0) {
		out_err(out, cap, "unlink", errno);
		return;
	}
	k = pwrite(fd, data, op->len, (off_t)op->off);
	if (k < 0) {
		out_err(out, cap, "write after unlink", errno);
		return;
	}
	if (fstat(fd, &st) < 0) {
		out_err(out, cap, "fstat after unlink", errno);
		return;
	}
	rc = hash_fd(fd, &h);
	if (rc < 0) {
		out_err(out, cap, "read after unlink", -rc);
		return;
	}
	snprintf(out, cap,
		 "ok wrote %zd, then size %jd, %ju links, content %016" PRIx64,
		 k, (intmax_t)st.st_size, (uintmax_t)st.st_nlink, h);
}

/* Applies r->op to t; out receives the outcome to compare. */
static void op_apply(struct run *r, struct tree *t, char *out, size_t cap)
{
	const struct op *op = &r->op;
	struct loc a, b = { .dfd = -1 };
	struct stat st;
	struct timespec ts[2];
	ssize_t k;
	int fd = -1, rc;

	if ((rc = loc_open(t, op->path, &a)) < 0) {
		out_err(out, cap, "parent directory", -rc);
		return;
	}
	if ((op->kind == OP_RENAME || op->kind == OP_LINK) &&
	    (rc = loc_open(t, op->path2, &b)) < 0) {
		out_err(out, cap, "parent directory of the target", -rc);
		loc_close(&a);
		return;
	}
	rc = 0;
	out[0] = '\0';
	switch (op->kind) {
	case OP_CREATE:
		if ((fd = open_at(&a, O_WRONLY | O_CREAT | O_TRUNC, op->mode,
				  out, cap)) < 0)
			break;
		dirty_add(t, fd);
		if (fsops_write_all(fd, r->data, op->len) < 0)
			out_err(out, cap, "write", errno);
		else if (fstat(fd, &st) < 0)
			out_err(out, cap, "fstat", errno);
		else
			snprintf(out, cap, "ok size %jd", (intmax_t)st.st_size);
		break;
	case OP_WRITE:
		if ((fd = open_at(&a, O_WRONLY, 0, out, cap)) < 0)
			break;
		dirty_add(t, fd);
		k = pwrite(fd, r->data, op->len, (off_t)op->off);
		if (k < 0)
			out_err(out, cap, "write", errno);
		else
			snprintf(out, cap, "ok wrote %zd", k);
		break;
	case OP_APPEND:
		if ((fd = open_at(&a, O_WRONLY | O_APPEND, 0, out, cap)) < 0)
			break;
		dirty_add(t, fd);
		if (fsops_write_all(fd, r->data, op->len) < 0)
			out_err(out, cap, "write", errno);
		else if (fstat(fd, &st) < 0)
			out_err(out, cap, "fstat", errno);
		else
			snprintf(out, cap, "ok size %jd", (intmax_t)st.st_size);
		break;
	case OP_TRUNCATE:
		if ((fd = open_at(&a, O_WRONLY, 0, out, cap)) < 0)
			break;
		dirty_add(t, fd);
		rc = ftruncate(fd, (off_t)op->off);
		break;
	case OP_OPEN_TRUNC:
		if ((fd = open_at(&a, O_WRONLY | O_TRUNC, 0, out, cap)) < 0)
			break;
		dirty_add(t, fd);
		break;
	case OP_MMAP:
		if ((fd = open_at(&a, O_RDWR, 0, out, cap)) < 0)
			break;
		dirty_add(t, fd);
		apply_mmap(op, r->data, fd, out, cap);
		break;
	case OP_UNLINK_OPEN:
		if ((fd = open_at(&a, O_RDWR, 0, out, cap)) < 0)
			break;
		/* Marked before the unlink: other names may share it. */
		dirty_add(t, fd);
		apply_unlink_open(op, r->data, &a, fd, out, cap);
		break;
	case OP_MKDIR: rc = mkdirat(a.dfd, a.base, op->mode); break;
	case OP_RMDIR: rc = unlinkat(a.dfd, a.base, AT_REMOVEDIR); break;
	case OP_UNLINK: rc = unlinkat(a.dfd, a.base, 0); break;
	case OP_RENAME:
		rc = renameat2(a.dfd, a.base, b.dfd, b.base, op->flags);
		break;
	case OP_SYMLINK: rc = symlinkat(op->target, a.dfd, a.base); break;
	case OP_LINK: rc = linkat(a.dfd, a.base, b.dfd, b.base, 0); break;
	case OP_CHMOD:
		/* Directories keep u+rwx so that the tree stays walkable
		 * when not root. */
		if ((rc = fstatat(a.dfd, a.base, &st, AT_SYMLINK_NOFOLLOW)) < 0)
			break;
		rc = fchmodat(a.dfd, a.base,
			      op->mode | (S_ISDIR(st.st_mode) ? 0700 : 0),
			      AT_SYMLINK_NOFOLLOW);
		break;
	case OP_UTIMENS:
		ts[0] = ts[1] = op->ts;
		if ((rc = utimensat(a.dfd, a.base, ts, AT_SYMLINK_NOFOLLOW)) <
		    0)
			break;
		if ((rc = fstatat(a.dfd, a.base, &st, AT_SYMLINK_NOFOLLOW)) < 0)
			break;
		/* The one place where an mtime is compared. */
		snprintf(out, cap, "ok mtime %jd.%09ld",
			 (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
		break;
	case OP_COUNT: break;
	}
	if (rc < 0)
		out_err(out, cap, op_info[op->kind].name, errno);
	else if (!out[0])
		snprintf(out, cap, "ok");
	if (fd >= 0)
		close(fd);
	loc_close(&a);
	loc_close(&b);
}

/* ---- walking and comparing ---- */

static char *join(const char *parent, const char *name)
{
	char *p;

	if (asprintf(&p, "%s%s%s", parent, *parent ? "/" : "", name) < 0)
		fsops_die("out of memory");
	return p;
}

static struct ent *ents_push(struct ents *l)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v)
			fsops_die("out of memory");
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

/* Adds every entry below dfd (consumed) to t->cur. */
static int walk_dir(struct tree *t, int dfd, const char *rel, char *err,
		    size_t cap)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		rc = -errno;
		close(dfd);
		snprintf(err, cap, "opendir %s: %s",
			 *rel ? fsops_shown(rel) : ".", fsops_err_name(-rc));
		return rc;
	}
	while ((errno = 0, de = readdir(d))) {
		struct ent *e;
		char *p;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		e = ents_push(&t->cur);
		p = e->path = join(rel, de->d_name);
		if (fstatat(dirfd(d), de->d_name, &e->st, AT_SYMLINK_NOFOLLOW) <
		    0) {
			rc = -errno;
			snprintf(err, cap, "stat %s: %s", fsops_shown(p),
				 fsops_err_name(-rc));
			break;
		}
		if (S_ISDIR(e->st.st_mode)) {
			int cfd = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			if (cfd < 0) {
				rc = -errno;
				snprintf(err, cap, "open %s: %s",
					 fsops_shown(p), fsops_err_name(-rc));
				break;
			}
			/* e may move as the list grows; p does not. */
			if ((rc = walk_dir(t, cfd, p, err, cap)) < 0)
				break;
		}
	}
	if (!rc && errno) {
		rc = -errno;
		snprintf(err, cap, "readdir %s: %s",
			 *rel ? fsops_shown(rel) : ".", fsops_err_name(-rc));
	}
	closedir(d);
	return rc;
}

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ent *)a)->path,
		      ((const struct ent *)b)->path);
}

static int inode_cmp(const void *a, const void *b)
{
	const struct ent *x = *(const struct ent *const *)a,
			 *y = *(const struct ent *const *)b;

	if (x->st.st_dev != y->st.st_dev)
		return x->st.st_dev < y->st.st_dev ? -1 : 1;
	if (x->st.st_ino != y->st.st_ino)
		return x->st.st_ino < y->st.st_ino ? -1 : 1;
	return strcmp(x->path, y->path);
}

static void set_leaders(struct ents *l)
{
	struct ent **v = malloc((l->n ? l->n : 1) * sizeof(*v));
	size_t n = 0;

	if (!v)
		fsops_die("out of memory");
	for (size_t i = 0; i < l->n; i++)
		if (S_ISREG(l->v[i].st.st_mode) && l->v[i].st.st_nlink > 1)
			v[n++] = &l->v[i];
	qsort(v, n, sizeof(*v), inode_cmp);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && v[j]->st.st_dev == v[i]->st.st_dev &&
				v[j]->st.st_ino == v[i]->st.st_ino;
		     j++)
			;
		for (size_t k = i; j - i > 1 && k < j; k++)
			v[k]->leader = v[i]->path;
	}
	free(v);
}

static bool is_dirty(const struct tree *t, const struct stat *st)
{
	for (size_t i = 0; i < t->ndirty; i++)
		if (t->dirty[i].dev == st->st_dev &&
		    t->dirty[i].ino == st->st_ino)
			return true;
	return false;
}

/* The hash of e from the last walk, if nothing says its content changed:
 * no operation wrote its inode and its size, mtime and ctime agree. */
static bool reuse_hash(const struct tree *t, size_t *j, struct ent *e)
{
	const struct ents *p = &t->prev;
	const struct ent *o;

	while (*j < p->n && strcmp(p->v[*j].path, e->path) < 0)
		(*j)++;
	if (*j == p->n)
		return false;
	o = &p->v[*j];
	if (strcmp(o->path, e->path) || !S_ISREG(o->st.st_mode) ||
	    o->st.st_dev != e->st.st_dev || o->st.st_ino != e->st.st_ino ||
	    o->st.st_size != e->st.st_size ||
	    o->st.st_mtim.tv_sec != e->st.st_mtim.tv_sec ||
	    o->st.st_mtim.tv_nsec != e->st.st_mtim.tv_nsec ||
	    o->st.st_ctim.tv_sec != e->st.st_ctim.tv_sec ||
	    o->st.st_ctim.tv_nsec != e->st.st_ctim.tv_nsec ||
	    is_dirty(t, &e->st))
		return false;
	e->hash = o->hash;
	return true;
}

/* Walks t into t->cur: every entry below the root, sorted by path, with
 * symlink targets, content hashes and hard-link groups. */
static int tree_scan(struct tree *t, bool full, char *err, size_t cap)
{
	char buf[PATH_MAX];
	size_t j = 0;
	int fd, rc;

	ents_free(&t->cur);
	fd = openat(t->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, cap, "open: %s", fsops_err_name(errno));
		return -1;
	}
	if ((rc = walk_dir(t, fd, "", err, cap)) < 0)
		return rc;
	if (t->cur.n)
		qsort(t->cur.v, t->cur.n, sizeof(t->cur.v[0]), ent_cmp);
	for (size_t i = 0; i < t->cur.n; i++) {
		struct ent *e = &t->cur.v[i];

		if (S_ISLNK(e->st.st_mode)) {
			ssize_t k = readlinkat(t->root, e->path, buf,
					       sizeof(buf) - 1);

			if (k < 0) {
				snprintf(err, cap, "readlink %s: %s",
					 fsops_shown(e->path),
					 fsops_err_name(errno));
				return -1;
			}
			buf[k] = '\0';
			if (!(e->target = strdup(buf)))
				fsops_die("out of memory");
		} else if (S_ISREG(e->st.st_mode) &&
			   (full || !reuse_hash(t, &j, e))) {
			fd = openat(t->root, e->path,
				    O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					    O_CLOEXEC);
			rc = fd < 0 ? -errno : hash_fd(fd, &e->hash);
			if (fd >= 0)
				close(fd);
			if (rc < 0) {
				snprintf(err, cap, "read %s: %s",
					 fsops_shown(e->path),
					 fsops_err_name(-rc));
				return -1;
			}
		}
	}
	set_leaders(&t->cur);
	return 0;
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "regular file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "character device";
	case S_IFBLK: return "block device";
	}
	return "unknown type";
}

/* The next offset from off that may hold data; -1 if only a hole follows. */
static off_t next_data(int fd, off_t off)
{
	off_t d = lseek(fd, off, SEEK_DATA);

	if (d >= 0)
		return d;
	return errno == ENXIO ? -1 : off;
}

/* Where the contents of path differ between the trees, for the report. */
static void content_diff(const struct run *r, const char *path, char *msg,
			 size_t cap)
{
	static uint8_t a[1 << 16], b[1 << 16];
	int fa = openat(r->t[0].root, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC),
	    fb = openat(r->t[1].root, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	off_t off = 0;

	snprintf(msg, cap,
		 "%s: content hashes differ but the bytes read "
		 "again agree",
		 fsops_shown(path));
	while (fa >= 0 && fb >= 0) {
		off_t da = next_data(fa, off), db = next_data(fb, off);
		ssize_t ka, kb, n, i = 0;

		/* Holes in both read as zeros in both: skip them. */
		if (da < 0 && db < 0)
			break;
		off = da < 0 ? db : db < 0 ? da : da < db ? da : db;
		ka = fsops_pread_full(fa, a, sizeof(a), off);
		kb = fsops_pread_full(fb, b, sizeof(b), off);
		n = ka < kb ? ka : kb;
		if (ka < 0 || kb < 0) {
			snprintf(msg, cap, "%s: content differs (reading: %s)",
				 fsops_shown(path), fsops_err_name(errno));
			break;
		}
		while (i < n && a[i] == b[i])
			i++;
		if (i < n) {
			snprintf(msg, cap,
				 "%s: content differs at byte %jd: "
				 "A 0x%02x, B 0x%02x",
				 fsops_shown(path), (intmax_t)(off + i), a[i],
				 b[i]);
			break;
		}
		if (ka != kb) {
			snprintf(msg, cap,
				 "%s: content differs: one ends at "
				 "%jd (A %jd, B %jd bytes read)",
				 fsops_shown(path), (intmax_t)(off + n),
				 (intmax_t)(off + ka), (intmax_t)(off + kb));
			break;
		}
		if (ka < (ssize_t)sizeof(a))
			break;
		off += ka;
	}
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
}

static int ent_diff(const struct run *r, const struct ent *a,
		    const struct ent *b, char *msg, size_t cap)
{
	mode_t fmt = a->st.st_mode & S_IFMT;
	const char *p = fsops_shown(a->path);

	if (fmt != (b->st.st_mode & S_IFMT))
		snprintf(msg, cap, "%s: type differs: A %s, B %s", p,
			 type_name(a->st.st_mode), type_name(b->st.st_mode));
	else if (fmt != S_IFLNK &&
		 (a->st.st_mode & 07777) != (b->st.st_mode & 07777))
		snprintf(msg, cap, "%s: mode differs: A %04o, B %04o", p,
			 (unsigned)(a->st.st_mode & 07777),
			 (unsigned)(b->st.st_mode & 07777));
	else if ((fmt == S_IFREG || fmt == S_IFLNK) &&
		 a->st.st_size != b->st.st_size)
		snprintf(msg, cap, "%s: size differs: A %jd, B %jd", p,
			 (intmax_t)a->st.st_size, (intmax_t)b->st.st_size);
	else if (fmt == S_IFLNK && strcmp(a->target, b->target))
		snprintf(msg, cap,
			 "%s: symlink target differs: A \"%s\", "
			 "B \"%s\"",
			 p, fsops_shown(a->target), fsops_shown(b->target));
	else if (fmt == S_IFREG && a->st.st_nlink != b->st.st_nlink)
		snprintf(msg, cap, "%s: link count differs: A %ju, B %ju", p,
			 (uintmax_t)a->st.st_nlink, (uintmax_t)b->st.st_nlink);
	else if (fmt == S_IFREG &&
		 (!a->leader != !b->leader ||
		  (a->leader && strcmp(a->leader, b->leader))))
		snprintf(msg, cap,
			 "%s: hard-link group differs: A with %s, "
			 "B with %s",
			 p,
			 a->leader ? fsops_shown(a->leader) : "no other name",
			 b->leader ? fsops_shown(b->leader) : "no other name");
	else if (fmt == S_IFREG && a->hash != b->hash)
		content_diff(r, a->path, msg, cap);
	else if ((fmt == S_IFCHR || fmt == S_IFBLK) &&
		 a->st.st_rdev != b->st.st_rdev)
		snprintf(msg, cap, "%s: device number differs", p);
	else
		return 0;
	return -1;
}

/* Both walks entry by entry: a name in one tree only is a difference in
 * its directory's listing. */
static int trees_compare(const struct run *r, char *msg, size_t cap)
{
	const struct ents *a = &r->t[0].cur, *b = &r->t[1].cur;
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		int c = i == a->n   ? 1
			: j == b->n ? -1
				    : strcmp(a->v[i].path, b->v[j].path);

		if (c < 0) {
			snprintf(msg, cap, "%s: in A (%s), missing in B",
				 fsops_shown(a->v[i].path),
				 type_name(a->v[i].st.st_mode));
			return -1;
		}
		if (c > 0) {
			snprintf(msg, cap, "%s: missing in A, in B (%s)",
				 fsops_shown(b->v[j].path),
				 type_name(b->v[j].st.st_mode));
			return -1;
		}
		if (ent_diff(r, &a->v[i], &b->v[j], msg, cap) < 0)
			return -1;
		i++;
		j++;
	}
	return 0;
}

__attribute__((format(printf, 3, 4))) static void
report(const struct run *r, uint64_t step, const char *fmt, ...)
{
	va_list ap;

	if (step)
		printf("fsops random: seed %" PRIu64 ": step %" PRIu64
		       ": after %s%s:\n  ",
		       r->seed, step, r->desc,
		       r->every > 1 ? " (the last operation since the "
				      "previous compare)"
				    : "");
	else
		printf("fsops random: seed %" PRIu64
		       ": before any operation:\n  ",
		       r->seed);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Walks and compares both trees; 0 when they agree. */
static int compare_step(struct run *r, uint64_t step, bool full)
{
	char err[2048];

	for (int k = 0; k < 2; k++) {
		struct tree *t = &r->t[k];

		if (tree_scan(t, full, err, sizeof(err)) < 0) {
			report(r, step, "walking %s (%s): %s", t->name, t->dir,
			       err);
			return 1;
		}
	}
	if (trees_compare(r, err, sizeof(err)) < 0) {
		report(r, step, "%s", err);
		return 1;
	}
	for (int k = 0; k < 2; k++) {
		struct tree *t = &r->t[k];

		ents_free(&t->prev);
		t->prev = t->cur;
		memset(&t->cur, 0, sizeof(t->cur));
		t->ndirty = 0;
	}
	r->compares++;
	return 0;
}

int fsops_random_run(const char *dir_a, const char *dir_b, uint64_t seed,
		     uint64_t steps, uint64_t every, bool verbose)
{
	struct run *r = calloc(1, sizeof(*r));
	const char *dirs[2] = { dir_a, dir_b };
	char out[2][512];
	struct stat st[2];
	int rc;

	if (!r || !(r->data = malloc(R_CREATE_MAX)))
		fsops_die("out of memory");
	r->r.x = seed;
	r->seed = seed;
	r->every = every;
	r->verbose = verbose;
	for (int k = 0; k < 2; k++) {
		r->t[k].name = k ? "B" : "A";
		r->t[k].dir = dirs[k];
		r->t[k].root =
			open(dirs[k], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (r->t[k].root < 0 || fstat(r->t[k].root, &st[k]) < 0)
			fsops_die("%s: %s", dirs[k], fsops_err_name(errno));
	}
	if (st[0].st_dev == st[1].st_dev && st[0].st_ino == st[1].st_ino)
		fsops_die("%s and %s are the same directory", dir_a, dir_b);

	rc = compare_step(r, 0, true);
	for (uint64_t step = 1; !rc && step <= steps; step++) {
		op_make(r);
		op_describe(&r->op, r->desc, sizeof(r->desc));
		for (int k = 0; k < 2; k++)
			op_apply(r, &r->t[k], out[k], sizeof(out[k]));
		if (verbose)
			printf("step %" PRIu64 ": %s: %s\n", step, r->desc,
			       out[0]);
		if (strcmp(out[0], out[1])) {
			report(r, step, "results differ: A %s; B %s", out[0],
			       out[1]);
			rc = 1;
			break;
		}
		if (!strncmp(out[0], "ok", 2))
			r->ok++;
		else
			r->errs++;
		if (step % every == 0 || step == steps)
			rc = compare_step(
				r, step,
				step == steps ||
					(r->compares + 1) % R_FULL_EVERY == 0);
	}
	if (!rc)
		printf("fsops random: %" PRIu64 ": %" PRIu64 " steps, %lu ops "
		       "succeeded, %lu expected errors, checks ok\n",
		       seed, steps, r->ok, r->errs);
	for (int k = 0; k < 2; k++) {
		close(r->t[k].root);
		ents_free(&r->t[k].cur);
		ents_free(&r->t[k].prev);
		free(r->t[k].dirty);
	}
	free(r->data);
	free(r);
	return rc;
}
