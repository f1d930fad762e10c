/* SPDX-License-Identifier: MIT */
/* treegen mutate: a deterministic random batch of edits to a tree (content
 * edits, creations, deletions, renames, kind changes, modes, times, links),
 * one line printed per edit. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "treegen.h"

/* Content edits skip files larger than this (the sparse file). */
#define EDIT_MAX (64ull << 20)

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
		mode = S_ISDIR(e->st.st_mode) ? random_dir_mode(&m->r)
					      : random_file_mode(&m->r);
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

int cmd_mutate(const char *dir, uint64_t seed)
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
