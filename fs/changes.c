/* SPDX-License-Identifier: MIT */
/* What commands changed in a workspace (changes.h): the upper tree walked
 * without following a symlink, each entry compared with the lower
 * manifest, then the whole list sorted by path and handed out. */
#include "changes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"
#include "upper.h"

/* What one walk may hold: upper entries seen, and bytes of their names
 * and of the paths it keeps. The same bounds as a decoded manifest (a
 * lower version never holds more), so a command that fills its upper
 * with names costs the node at most what a workspace of that size does. */
#define UPPER_MAX SD_ENTRIES_MAX
#define BYTES_MAX SD_DECODED_MAX

/* Paths kept for the list: blocks that stay put until the walk ends. */
#define BLOCK_SIZE (64u << 10)

struct row {
	const char *path; /* in the arena, or a lower entry's */
	uint32_t len;
	uint8_t kind;
	uint8_t type;
	uint64_t size;
};

struct block {
	struct block *next;
	size_t used, cap;
	char b[];
};

/* A directory of the upper still to list. */
struct pending {
	const char *path; /* in the arena; "" for the tree itself */
	uint32_t len;
	bool hidden; /* it or a directory above it is opaque */
};

struct walk {
	int tree;
	const struct sd_manifest *lower;
	struct row *rows;
	size_t nrows, caprows;
	struct pending *todo;
	size_t ntodo, captodo;
	struct block *arena;
	uint64_t nupper, bytes;
	/* A child's path while it is looked at; one more byte for the key
	 * that ends a subtree (subtree_end()). */
	char path[SD_PATH_MAX + 2];
};

static int count_bytes(struct walk *w, size_t n)
{
	if (n > BYTES_MAX - w->bytes)
		return -EMSGSIZE;
	w->bytes += n;
	return 0;
}

/* A copy of len bytes of p, NUL-terminated, that lives until the walk
 * ends. */
static int keep(struct walk *w, const char *p, uint32_t len, const char **out)
{
	struct block *b = w->arena;
	size_t need = (size_t)len + 1;
	int r = count_bytes(w, need);

	if (r < 0)
		return r;
	if (!b || b->cap - b->used < need) {
		size_t cap = need > BLOCK_SIZE ? need : BLOCK_SIZE;

		b = malloc(sizeof(*b) + cap);
		if (!b)
			return -ENOMEM;
		b->next = w->arena;
		b->used = 0;
		b->cap = cap;
		w->arena = b;
	}
	memcpy(b->b + b->used, p, len);
	b->b[b->used + len] = '\0';
	*out = b->b + b->used;
	b->used += need;
	return 0;
}

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 256;
	void *p;

	if (n < *cap)
		return 0;
	p = reallocarray(*v, c, size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

static int add(struct walk *w, enum fs_change_kind kind, uint8_t type,
	       uint64_t size, const char *path, uint32_t len)
{
	int r = grow((void **)&w->rows, &w->caprows, w->nrows,
		     sizeof(*w->rows));

	if (r < 0)
		return r;
	w->rows[w->nrows++] =
		(struct row){ path, len, (uint8_t)kind, type, size };
	return 0;
}

static int push(struct walk *w, const char *path, uint32_t len, bool hidden)
{
	int r = grow((void **)&w->todo, &w->captodo, w->ntodo,
		     sizeof(*w->todo));

	if (r < 0)
		return r;
	w->todo[w->ntodo++] = (struct pending){ path, len, hidden };
	return 0;
}

/* A lower entry that the view no longer shows. A hard link is listed as
 * the file it is, with its primary's size. */
static int add_deleted(struct walk *w, const struct sd_entry *e)
{
	const struct sd_entry *p = sd_manifest_resolve(w->lower, e);
	uint8_t type = SD_T_FILE;
	uint64_t size = 0;

	if (p && p->type != SD_T_HARDLINK) {
		type = p->type;
		size = p->type == SD_T_DIR ? 0 : p->size;
	}
	return add(w, FS_CHANGE_DELETED, type, size, e->path, e->path_len);
}

static bool has_prefix(const struct sd_entry *e, const char *p, size_t n)
{
	return e->path_len >= n && memcmp(e->path, p, n) == 0;
}

/* The index of the first lower entry past the subtree of the path in
 * w->path[0..len): every path that starts "PATH/" sorts before "PATH0"
 * ('0' follows '/') and nothing else does. Uses w->path[len]. */
static size_t subtree_end(struct walk *w, uint32_t len)
{
	w->path[len] = '/' + 1;
	return sd_manifest_lower_bound(w->lower, w->path, (size_t)len + 1);
}

/* Everything the lower version has below the path in w->path[0..len),
 * which the upper replaced with a whiteout or a non-directory. */
static int delete_below(struct walk *w, uint32_t len)
{
	size_t i, end;
	int r = 0;

	w->path[len] = '/';
	i = sd_manifest_lower_bound(w->lower, w->path, (size_t)len + 1);
	end = subtree_end(w, len);
	for (; i < end && r == 0; i++)
		r = add_deleted(w, &w->lower->e[i]);
	return r;
}

static int name_cmp(const void *a, const void *b)
{
	/* strcmp compares bytes as unsigned char: memcmp order, a prefix
	 * first, as sd_path_cmp. */
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool name_in(char *const *names, size_t n, const char *p, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = sd_path_cmp(names[mid], strlen(names[mid]), p, len);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Directory d is opaque, or below one: the lower entries under it that
 * the upper does not name are gone from the view. An entry whose first
 * component below d is in the upper is that child's business (a
 * whiteout, a file over a directory, or a directory listed in turn). */
static int delete_hidden(struct walk *w, const struct pending *d,
			 char *const *names, size_t n)
{
	const struct sd_manifest *m = w->lower;
	size_t pre = d->len ? (size_t)d->len + 1 : 0;
	size_t i = 0;
	int r = 0;

	if (d->len) {
		memcpy(w->path, d->path, d->len);
		w->path[d->len] = '/';
		i = sd_manifest_lower_bound(m, w->path, pre);
	}
	while (i < m->count && r == 0 && has_prefix(&m->e[i], w->path, pre)) {
		const struct sd_entry *e = &m->e[i];
		const char *rest = e->path + pre;
		size_t rest_len = e->path_len - pre;
		const char *slash = memchr(rest, '/', rest_len);
		size_t first = slash ? (size_t)(slash - rest) : rest_len;

		if (!name_in(names, n, rest, first)) {
			r = add_deleted(w, e);
			i++;
		} else if (!slash) {
			i++;
		} else {
			/* w->path holds "D/" already: make it "D/FIRST". */
			memcpy(w->path + pre, rest, first);
			i = subtree_end(w, (uint32_t)(pre + first));
		}
	}
	return r;
}

/* One entry of the upper, its path in w->path[0..len), st from fstatat
 * in dirfd without following. */
static int look_at(struct walk *w, const struct pending *d, int dirfd,
		   const char *name, uint32_t len, const struct stat *st)
{
	const struct sd_entry *low = sd_manifest_find(w->lower, w->path, len);
	const char *kept;
	uint8_t type;
	uint64_t size;
	int r, opaque;

	if (fs_upper_is_whiteout(st)) {
		if (!low)
			return 0;
		r = add_deleted(w, low);
		if (r == 0 && low->type == SD_T_DIR)
			r = delete_below(w, len);
		return r;
	}
	if (S_ISDIR(st->st_mode)) {
		opaque = fs_upper_is_opaque(dirfd, name);
		if (opaque == -ENOENT || opaque == -ENOTDIR || opaque == -ELOOP)
			return 0; /* replaced since it was listed */
		if (opaque < 0)
			return opaque;
		r = keep(w, w->path, len, &kept);
		if (r < 0)
			return r;
		/* A directory that is opaque replaced the lower one (rm -rf
		 * then mkdir): the path is modified, whatever its mode. */
		if (!low)
			r = add(w, FS_CHANGE_CREATED, SD_T_DIR, 0, kept, len);
		else if (low->type != SD_T_DIR || opaque ||
			 (st->st_mode & 07777) != low->mode)
			r = add(w, FS_CHANGE_MODIFIED, SD_T_DIR, 0, kept, len);
		if (r == 0)
			r = push(w, kept, len, d->hidden || opaque);
		return r;
	}
	type = S_ISLNK(st->st_mode) ? SD_T_SYMLINK : SD_T_FILE;
	size = S_ISREG(st->st_mode) || S_ISLNK(st->st_mode)
		       ? (uint64_t)st->st_size
		       : 0;
	r = keep(w, w->path, len, &kept);
	if (r < 0)
		return r;
	/* A copy-up happens only on a write or an attribute change, so a
	 * file the upper holds where the lower has one is modified. */
	r = add(w, low ? FS_CHANGE_MODIFIED : FS_CHANGE_CREATED, type, size,
		kept, len);
	if (r == 0 && low && low->type == SD_T_DIR)
		r = delete_below(w, len);
	return r;
}

/* The names in dir (".", ".." left out), sorted, into *names (one
 * allocation per name); counted against the walk's caps. */
static int list(struct walk *w, DIR *dir, char ***names, size_t *n)
{
	size_t cap = 0;
	struct dirent *de;
	int r;

	*names = NULL;
	*n = 0;
	for (;;) {
		errno = 0;
		de = readdir(dir);
		if (!de) {
			if (errno)
				return -errno;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (w->nupper >= UPPER_MAX)
			return -EMSGSIZE;
		w->nupper++;
		r = count_bytes(w, strlen(de->d_name) + 1);
		if (r == 0)
			r = grow((void **)names, &cap, *n, sizeof(**names));
		if (r < 0)
			return r;
		(*names)[*n] = strdup(de->d_name);
		if (!(*names)[*n])
			return -ENOMEM;
		(*n)++;
	}
	if (*n)
		qsort(*names, *n, sizeof(**names), name_cmp);
	return 0;
}

static int visit(struct walk *w, struct pending d)
{
	char **names = NULL;
	size_t n = 0;
	DIR *dir;
	int fd, r;

	fd = util_open_beneath(w->tree, d.len ? d.path : "",
			       O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		r = -errno;
		/* Gone, or made something else, since its parent was
		 * listed: commands keep running while the walk does. */
		if (d.len && (r == -ENOENT || r == -ENOTDIR || r == -ELOOP ||
			      r == -EXDEV))
			return 0;
		return r;
	}
	if (d.len == 0) {
		r = fs_upper_is_opaque(fd, "");
		if (r < 0) {
			close(fd);
			return r;
		}
		d.hidden = r > 0;
	}
	dir = fdopendir(fd);
	if (!dir) {
		r = -errno;
		close(fd);
		return r;
	}
	r = list(w, dir, &names, &n);
	for (size_t i = 0; i < n && r == 0; i++) {
		size_t nl = strlen(names[i]);
		size_t len = d.len ? (size_t)d.len + 1 + nl : nl;
		struct stat st;

		if (len > SD_PATH_MAX) {
			r = -ENAMETOOLONG;
			break;
		}
		if (d.len) {
			memcpy(w->path, d.path, d.len);
			w->path[d.len] = '/';
		}
		memcpy(w->path + len - nl, names[i], nl);
		if (fstatat(dirfd(dir), names[i], &st, AT_SYMLINK_NOFOLLOW) <
		    0) {
			if (errno != ENOENT)
				r = -errno;
			continue;
		}
		r = look_at(w, &d, dirfd(dir), names[i], (uint32_t)len, &st);
	}
	if (r == 0 && d.hidden)
		r = delete_hidden(w, &d, names, n);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(dir);
	return r;
}

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	return sd_path_cmp(x->path, x->len, y->path, y->len);
}

static void walk_fini(struct walk *w)
{
	while (w->arena) {
		struct block *next = w->arena->next;

		free(w->arena);
		w->arena = next;
	}
	free(w->rows);
	free(w->todo);
}

int fs_changes_walk(int tree, const struct sd_manifest *lower, fs_change_fn fn,
		    void *opaque)
{
	struct walk *w;
	int r;

	if (!lower || !lower->sealed || !fn)
		return -EINVAL;
	/* On the heap: the path scratch is 4 KiB, and the caller may be on
	 * a thread with a small stack. */
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->tree = tree;
	w->lower = lower;
	/* Directories wait on a stack rather than a recursion: a tree 2048
	 * levels deep costs neither 2048 frames nor 2048 descriptors, since
	 * each directory is closed before the next is opened. Order does
	 * not matter until the sort. */
	r = push(w, "", 0, false);
	while (r == 0 && w->ntodo)
		r = visit(w, w->todo[--w->ntodo]);
	if (r == 0 && w->nrows)
		qsort(w->rows, w->nrows, sizeof(*w->rows), row_cmp);
	for (size_t i = 0; r == 0 && i < w->nrows; i++) {
		const struct row *x = &w->rows[i];
		struct fs_change c = {
			.kind = (enum fs_change_kind)x->kind,
			.path = x->path,
			.path_len = x->len,
			.type = x->type,
			.size = x->size,
		};

		if (!fn(opaque, &c))
			break;
	}
	walk_fini(w);
	free(w);
	return r;
}
