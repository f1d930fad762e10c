/* SPDX-License-Identifier: MIT */
/* The inode table of the FUSE view (view.h): every installed version is an
 * immutable snapshot (a manifest copy, its inodes, parents and listings). */
#include "view.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
/* What st_blksize advertises: the kernel sizes its reads from it, and a
 * chunk is tens of KiB, so smaller reads would fetch a chunk many times. */
#define VIEW_BLKSIZE 65536

/* One version. Nothing in it changes once it is installed, so a query only
 * needs the view's lock to take a reference, and works without it (a
 * readdir callback may call back into the view). Slots name directories in
 * the listings: slot 0 is the root, slot i + 1 entry i. */
struct ver {
	atomic_uint refs;
	struct sd_manifest m; /* the view's copy, sharing the caller's bytes */
	uint64_t *ino;	      /* per entry; a hardlink's is its primary's */
	uint32_t *parent;     /* per entry: its parent's slot */
	uint32_t *nlink;      /* per entry (a hardlink's is unused) */
	uint32_t root_nlink;
	/* The children of slot s are kids[off[s] .. off[s + 1]), entry
	 * indexes in manifest order (CSR), so readdir seeks in O(1). */
	uint32_t *off;
	uint32_t *kids;
	/* inode -> entry index, open addressing, NONE when free. Hardlink
	 * names are left out: their inode is their primary's. A hash and not
	 * an array indexed by inode, because inode numbers are never reused
	 * and so grow with every path ever created, not with the tree. */
	uint32_t *tab;
	size_t tab_mask;
};

struct fs_view {
	/* Guards cur: the pointer and taking a reference on it. */
	pthread_rwlock_t lock;
	/* Serializes writers: next_ino, reading cur without lock, and one
	 * version's invalidations heard before the next's. Taken before
	 * lock. */
	pthread_mutex_t set_lock;
	struct ver *cur; /* holds one reference */
	uint64_t next_ino;
};

/* What one fs_view_set() tells its callback. name points into the old or
 * the new version's paths, both alive until the calls are over. */
struct inval_ent {
	uint64_t parent;
	const char *name;
	uint32_t name_len;
};

struct invals {
	struct inval_ent *ent;
	size_t nent, ent_cap;
	uint64_t *ino; /* sorted and deduplicated before the calls */
	size_t nino, ino_cap;
};

static void *arr(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 64;
	void *q;

	if (n < *cap)
		return 0;
	q = realloc(*p, c * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

static void ver_free(struct ver *w)
{
	free(w->ino);
	free(w->parent);
	free(w->nlink);
	free(w->off);
	free(w->kids);
	free(w->tab);
	sd_manifest_free(&w->m);
	free(w);
}

static struct ver *ver_get(struct fs_view *v)
{
	struct ver *w;

	pthread_rwlock_rdlock(&v->lock);
	w = v->cur;
	atomic_fetch_add_explicit(&w->refs, 1, memory_order_relaxed);
	pthread_rwlock_unlock(&v->lock);
	return w;
}

/* The last reference may be dropped by a reader after fs_view_set()
 * replaced the version: the manifest's blocks are reference-counted, so
 * freeing it on any thread is fine. */
static void ver_put(struct ver *w)
{
	if (atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) == 1)
		ver_free(w);
}

static uint64_t slot_ino(const struct ver *w, uint32_t s)
{
	return s ? w->ino[s - 1] : FS_VIEW_ROOT_INO;
}

static size_t ino_hash(uint64_t ino, size_t mask)
{
	/* Inode numbers are consecutive: Fibonacci hashing spreads them. */
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 32) & mask;
}

/* The slot of the entry (or the root) that owns ino, or NONE. */
static uint32_t ver_find(const struct ver *w, uint64_t ino)
{
	size_t h;

	if (ino == FS_VIEW_ROOT_INO)
		return 0;
	for (h = ino_hash(ino, w->tab_mask); w->tab[h] != NONE;
	     h = (h + 1) & w->tab_mask)
		if (w->ino[w->tab[h]] == ino)
			return w->tab[h] + 1;
	return NONE;
}

static bool slot_is_dir(const struct ver *w, uint32_t s)
{
	return s == 0 || w->m.e[s - 1].type == SD_T_DIR;
}

static mode_t type_bits(uint8_t type)
{
	switch (type) {
	case SD_T_DIR: return S_IFDIR;
	case SD_T_SYMLINK: return S_IFLNK;
	default: return S_IFREG; /* SD_T_FILE, SD_T_HARDLINK, SD_T_PENDING */
	}
}

static const char *base_name(const struct sd_entry *e, uint32_t *len)
{
	const char *s = memrchr(e->path, '/', e->path_len);
	const char *b = s ? s + 1 : e->path;

	*len = e->path_len - (uint32_t)(b - e->path);
	return b;
}

static struct timespec ts_from_ns(int64_t ns)
{
	struct timespec t = { .tv_sec = ns / 1000000000,
			      .tv_nsec = ns % 1000000000 };

	/* C division truncates; tv_nsec must stay in [0, 1e9). */
	if (t.tv_nsec < 0) {
		t.tv_nsec += 1000000000;
		t.tv_sec--;
	}
	return t;
}

static void attr_fill(const struct ver *w, uint32_t s, struct fs_attr *out)
{
	memset(out, 0, sizeof(*out));
	out->ino = slot_ino(w, s);
	out->st.st_ino = (ino_t)out->ino;
	out->st.st_blksize = VIEW_BLKSIZE;
	if (s == 0) {
		out->st.st_mode = S_IFDIR | 0755;
		out->st.st_nlink = w->root_nlink;
	} else {
		const struct sd_entry *e = &w->m.e[s - 1];
		struct timespec t = ts_from_ns(e->mtime_ns);

		out->st.st_mode = type_bits(e->type) | (mode_t)e->mode;
		out->st.st_nlink = w->nlink[s - 1];
		out->st.st_size = (off_t)e->size;
		out->st.st_blocks = (blkcnt_t)((e->size + 511) / 512);
		out->st.st_mtim = t;
		out->st.st_ctim = t;
		out->st.st_atim = t;
	}
}

/* ---- building a version ---- */

static int ver_copy(struct ver **ret, const struct sd_manifest *m)
{
	struct ver *w = calloc(1, sizeof(*w));
	int r = 0;

	if (!w)
		return -ENOMEM;
	atomic_init(&w->refs, 1);
	r = sd_manifest_copy(&w->m, m, NULL);
	if (r == 0) {
		size_t n = w->m.count;

		w->ino = arr(n, sizeof(*w->ino));
		w->parent = arr(n, sizeof(*w->parent));
		w->nlink = arr(n, sizeof(*w->nlink));
		w->kids = arr(n, sizeof(*w->kids));
		/* n + 1 slots, and one more for the fill below */
		w->off = arr(n + 3, sizeof(*w->off));
		if (!w->ino || !w->parent || !w->nlink || !w->kids || !w->off)
			r = -ENOMEM;
	}
	if (r < 0) {
		ver_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

/* Parents, link counts and listings: what does not depend on inodes. */
/* The slot (index + 1) of e's parent directory, which a sealed manifest
 * has: through last[len], the slot of the last directory seen with that
 * path length, which it is but for a name sorting between a directory and
 * its children ("a/b!" between "a/b" and "a/b/c"); then by search. */
static uint32_t parent_slot(const struct sd_manifest *m, const uint32_t *last,
			    const struct sd_entry *e, size_t plen)
{
	uint32_t p = last ? last[plen] : 0;

	if (p && memcmp(m->e[p - 1].path, e->path, plen) == 0)
		return p;
	return (uint32_t)(sd_manifest_find(m, e->path, plen) - m->e) + 1;
}

static void ver_tree(struct ver *w)
{
	const struct sd_manifest *m = &w->m;
	uint32_t n = (uint32_t)m->count;
	uint32_t *last = calloc(SD_PATH_MAX + 1, sizeof(*last));

	w->root_nlink = 2;
	for (uint32_t j = 0; j < n; j++) {
		const struct sd_entry *e = &m->e[j];
		const char *s = memrchr(e->path, '/', e->path_len);
		uint32_t p = 0;

		/* Sealed: the parent is there, as a directory, and the
		 * primary of a hardlink is an earlier file. */
		if (s)
			p = parent_slot(m, last, e, (size_t)(s - e->path));
		if (last && e->type == SD_T_DIR)
			last[e->path_len] = j + 1;
		w->parent[j] = p;
		w->off[p + 2]++;
		w->nlink[j] = e->type == SD_T_DIR ? 2 : 1;
		if (e->type == SD_T_DIR)
			(*(p ? &w->nlink[p - 1] : &w->root_nlink))++;
		if (e->type == SD_T_HARDLINK)
			w->nlink[sd_manifest_resolve(m, e) - m->e]++;
	}
	/* Counted into off[s + 2]: the prefix sums leave the start of slot s
	 * in off[s + 1], the fill's cursor, which the fill moves to the end
	 * of s, the start of s + 1, where off[s + 1] belongs. */
	for (uint32_t s = 1; s < n + 3; s++)
		w->off[s] += w->off[s - 1];
	for (uint32_t j = 0; j < n; j++)
		w->kids[w->off[w->parent[j] + 1]++] = j;
	free(last);
}

/* Whether w has o's paths, types and hardlink targets, in o's order:
 * then its parents, listings and link counts are o's. Most versions are
 * (a file's bytes or times changed), and the pointers tell it for most
 * entries without reading a path. */
static bool ver_same_shape(const struct ver *o, const struct ver *w)
{
	if (o->m.count != w->m.count)
		return false;
	for (size_t j = 0; j < w->m.count; j++) {
		const struct sd_entry *a = &o->m.e[j], *b = &w->m.e[j];

		if (a->type != b->type || a->path_len != b->path_len ||
		    (a->path != b->path &&
		     memcmp(a->path, b->path, a->path_len) != 0))
			return false;
		if (a->type == SD_T_HARDLINK &&
		    (a->target_len != b->target_len ||
		     memcmp(a->target, b->target, a->target_len) != 0))
			return false;
	}
	return true;
}

static void ver_tree_of(struct ver *w, const struct ver *o)
{
	size_t n = w->m.count;

	memcpy(w->parent, o->parent, n * sizeof(*w->parent));
	memcpy(w->nlink, o->nlink, n * sizeof(*w->nlink));
	memcpy(w->kids, o->kids, n * sizeof(*w->kids));
	memcpy(w->off, o->off, (n + 3) * sizeof(*w->off));
	w->root_nlink = o->root_nlink;
}

/* Enter entry j (not a hardlink name) under its inode. */
static void tab_put(struct ver *w, uint32_t j)
{
	size_t h;

	for (h = ino_hash(w->ino[j], w->tab_mask); w->tab[h] != NONE;
	     h = (h + 1) & w->tab_mask)
		;
	w->tab[h] = j;
}

static int ver_hash(struct ver *w)
{
	size_t cap = 16;

	while (cap < 2 * (w->m.count + 1))
		cap <<= 1;
	w->tab = malloc(cap * sizeof(*w->tab));
	if (!w->tab)
		return -ENOMEM;
	memset(w->tab, 0xff, cap * sizeof(*w->tab));
	w->tab_mask = cap - 1;
	for (uint32_t j = 0; j < w->m.count; j++)
		if (w->m.e[j].type != SD_T_HARDLINK)
			tab_put(w, j);
	return 0;
}

/* Take slot h out of o's copied table in w, moving later entries of its
 * probe run back (linear probing has no tombstones). key() of a slot is
 * the inode in o, the table's until it is patched. */
static void tab_del(struct ver *w, const struct ver *o, size_t h)
{
	size_t i = h, j = h;

	for (;;) {
		size_t k;

		j = (j + 1) & w->tab_mask;
		if (w->tab[j] == NONE)
			break;
		k = ino_hash(o->ino[w->tab[j]], w->tab_mask);
		/* Stays when its home is cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		w->tab[i] = w->tab[j];
		i = j;
	}
	w->tab[i] = NONE;
}

/* Whether entry j of w, a version of o's shape, has another inode than
 * in o and one of its own in the table. */
static bool ino_moved(const struct ver *w, const struct ver *o, uint32_t j)
{
	return w->ino[j] != o->ino[j] && w->m.e[j].type != SD_T_HARDLINK;
}

/* The table of a version of o's shape: o's, with the entries whose inode
 * changed moved; rebuilt when many did. */
static int ver_hash_of(struct ver *w, const struct ver *o)
{
	uint32_t n = (uint32_t)w->m.count, moved = 0;
	size_t cap = o->tab_mask + 1;

	for (uint32_t j = 0; j < n; j++)
		moved += ino_moved(w, o, j);
	if (moved > n / 16)
		return ver_hash(w);
	w->tab = malloc(cap * sizeof(*w->tab));
	if (!w->tab)
		return -ENOMEM;
	memcpy(w->tab, o->tab, cap * sizeof(*w->tab));
	w->tab_mask = o->tab_mask;
	/* All out under their old inodes first: tab_del() reads those. */
	for (uint32_t j = 0; moved && j < n; j++) {
		size_t h = ino_hash(o->ino[j], w->tab_mask);

		if (!ino_moved(w, o, j))
			continue;
		while (w->tab[h] != j)
			h = (h + 1) & w->tab_mask;
		tab_del(w, o, h);
	}
	for (uint32_t j = 0; moved && j < n; j++)
		if (ino_moved(w, o, j))
			tab_put(w, j);
	return 0;
}

static int inval_inode(struct invals *iv, uint64_t ino)
{
	if (grow((void **)&iv->ino, &iv->ino_cap, iv->nino, sizeof(*iv->ino)))
		return -ENOMEM;
	iv->ino[iv->nino++] = ino;
	return 0;
}

/* Name j of w appeared or went: its dentry and its parent's listing. */
static int inval_name(struct invals *iv, const struct ver *w, uint32_t j)
{
	uint64_t parent = slot_ino(w, w->parent[j]);
	struct inval_ent *x;

	if (grow((void **)&iv->ent, &iv->ent_cap, iv->nent, sizeof(*iv->ent)))
		return -ENOMEM;
	x = &iv->ent[iv->nent++];
	x->parent = parent;
	x->name = base_name(&w->m.e[j], &x->name_len);
	return inval_inode(iv, parent);
}

/* Entry i of o is gone, or its path now means another inode. The old
 * inode itself stays as it was (its bytes never change, see ver_assign):
 * a process that has it open keeps its pages and its attributes, and the
 * kernel forgets it once unused. But a hardlink name's inode is its
 * group's, whose nlink fell. */
static int inval_gone(struct invals *iv, const struct ver *o, uint32_t i)
{
	int r = inval_name(iv, o, i);

	if (r < 0 || o->m.e[i].type != SD_T_HARDLINK)
		return r;
	return inval_inode(iv, o->ino[i]);
}

/* Whether a file's bytes differ between two versions of its entry (of
 * one type). A pending file's are the same while its size and mtime are:
 * the source checks them when it reads the file. */
static bool content_changed(const struct sd_entry *a, const struct sd_entry *b)
{
	if (a->type == SD_T_PENDING)
		return a->size != b->size || a->mtime_ns != b->mtime_ns;
	if (a->type != SD_T_FILE)
		return false;
	if (a->size != b->size || a->nchunks != b->nchunks)
		return true;
	for (uint32_t k = 0; k < a->nchunks; k++)
		if (!sd_id_eq(&a->chunks[k].id, &b->chunks[k].id))
			return true;
	return false;
}

/* The inode of each entry of w, from o's: a path keeps its inode while it
 * keeps its kind and, for a file, its bytes. A file with new bytes is a
 * new inode, as the rename that replaced it on the node's tree makes it
 * there: a process that has the old one open keeps reading the old bytes
 * (its chunk list is its own), and the new one has no stale pages to drop.
 * A hardlink name takes its primary's (assigned earlier:
 * the primary comes first), and a path that was a hardlink name gets a new
 * one, since its old inode may stay its old primary's. So the inodes of
 * the entries that own one stay distinct. Also collects what the kernel
 * must forget, from the same merge of the two sorted entry arrays. */
static int ver_assign(const struct ver *o, struct ver *w, uint64_t *next,
		      struct invals *iv)
{
	const struct sd_entry *oe = NULL, *we;
	uint32_t i = 0, j = 0;
	int c, r = 0;

	while (r == 0 && (i < o->m.count || j < w->m.count)) {
		if (i < o->m.count)
			oe = &o->m.e[i];
		if (i == o->m.count)
			c = 1;
		else if (j == w->m.count)
			c = -1;
		else if (oe->path == w->m.e[j].path)
			c = 0; /* the same bytes: both share the source's */
		else
			c = sd_path_cmp(oe->path, oe->path_len, w->m.e[j].path,
					w->m.e[j].path_len);
		if (c < 0) {
			r = inval_gone(iv, o, i++);
			continue;
		}
		we = &w->m.e[j];
		/* Most entries are the very same as before, bytes shared:
		 * the same inode, nothing to forget. */
		if (c == 0 && we->type != SD_T_HARDLINK &&
		    memcmp(oe, we, sizeof(*we)) == 0) {
			w->ino[j++] = o->ino[i++];
			continue;
		}
		if (we->type == SD_T_HARDLINK)
			w->ino[j] =
				w->ino[sd_manifest_resolve(&w->m, we) - w->m.e];
		else if (c == 0 && oe->type == we->type &&
			 !content_changed(oe, we))
			w->ino[j] = o->ino[i];
		else
			w->ino[j] = (*next)++;
		if (c > 0)
			r = inval_name(iv, w, j);
		else if (w->ino[j] != o->ino[i])
			r = inval_gone(iv, o, i);
		else if (!sd_entry_equal(oe, we))
			r = inval_inode(iv, w->ino[j]);
		/* A new name in a link group changes the group's nlink. */
		if (r == 0 && c >= 0 && we->type == SD_T_HARDLINK &&
		    (c > 0 || w->ino[j] != o->ino[i]))
			r = inval_inode(iv, w->ino[j]);
		if (c == 0)
			i++;
		j++;
	}
	return r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void invals_unique(struct invals *iv)
{
	size_t k = 0;

	if (iv->nino)
		qsort(iv->ino, iv->nino, sizeof(*iv->ino), cmp_u64);
	for (size_t i = 0; i < iv->nino; i++)
		if (k == 0 || iv->ino[k - 1] != iv->ino[i])
			iv->ino[k++] = iv->ino[i];
	iv->nino = k;
}

/* ---- the API ---- */

int fs_view_new(struct fs_view **ret)
{
	struct fs_view *v = calloc(1, sizeof(*v));
	struct sd_manifest empty;
	int r;

	if (!v)
		return -ENOMEM;
	sd_manifest_init(&empty);
	r = ver_copy(&v->cur, &empty);
	if (r == 0) {
		ver_tree(v->cur);
		r = ver_hash(v->cur);
		if (r < 0)
			ver_free(v->cur);
	}
	if (r < 0) {
		free(v);
		return r;
	}
	pthread_rwlock_init(&v->lock, NULL);
	pthread_mutex_init(&v->set_lock, NULL);
	v->next_ino = FS_VIEW_ROOT_INO + 1;
	*ret = v;
	return 0;
}

void fs_view_free(struct fs_view *v)
{
	if (!v)
		return;
	ver_put(v->cur);
	pthread_rwlock_destroy(&v->lock);
	pthread_mutex_destroy(&v->set_lock);
	free(v);
}

int fs_view_set(struct fs_view *v, const struct sd_manifest *m,
		fs_view_inval_fn fn, void *opaque)
{
	struct invals iv = { 0 };
	struct ver *old, *w;
	uint64_t next;
	bool same;
	int r;

	if (!m->sealed)
		return -EINVAL;
	pthread_mutex_lock(&v->set_lock);
	/* Only writers replace cur, and set_lock makes this one the only. */
	old = v->cur;
	next = v->next_ino;
	/* Everything that can fail comes before the swap, so a failure
	 * leaves the previous version installed and no inode used. */
	r = ver_copy(&w, m);
	if (r < 0)
		goto out;
	same = ver_same_shape(old, w);
	if (same)
		ver_tree_of(w, old);
	else
		ver_tree(w);
	r = ver_assign(old, w, &next, &iv);
	if (r == 0)
		r = same ? ver_hash_of(w, old) : ver_hash(w);
	if (r < 0) {
		ver_free(w);
		goto out;
	}
	invals_unique(&iv);

	pthread_rwlock_wrlock(&v->lock);
	v->cur = w;
	pthread_rwlock_unlock(&v->lock);
	v->next_ino = next;

	/* Outside the lock: the callback may reach the kernel, which may
	 * call back into the view from another thread. */
	for (size_t k = 0; fn && k < iv.nent; k++)
		fn(opaque, FS_INVAL_ENTRY, 0, iv.ent[k].parent, iv.ent[k].name,
		   iv.ent[k].name_len);
	for (size_t k = 0; fn && k < iv.nino; k++)
		fn(opaque, FS_INVAL_INODE, iv.ino[k], 0, NULL, 0);
	ver_put(old);
out:
	pthread_mutex_unlock(&v->set_lock);
	free(iv.ent);
	free(iv.ino);
	return r;
}

uint64_t fs_view_version(struct fs_view *v)
{
	struct ver *w = ver_get(v);
	uint64_t version = w->m.version;

	ver_put(w);
	return version;
}

int fs_view_lookup(struct fs_view *v, uint64_t parent, const char *name,
		   size_t name_len, struct fs_attr *out)
{
	char path[SD_PATH_MAX + 1];
	struct ver *w = ver_get(v);
	const struct sd_entry *e;
	uint32_t s = ver_find(w, parent);
	size_t len = 0;
	int r = -ENOENT;

	if (s == NONE)
		goto out;
	if (!slot_is_dir(w, s)) {
		r = -ENOTDIR;
		goto out;
	}
	/* Names from the kernel are checked as a manifest's: such a name
	 * cannot be in it, and must not make a path that finds another. */
	if (name_len == 0 || name_len > SD_NAME_MAX ||
	    memchr(name, '/', name_len) || memchr(name, '\0', name_len))
		goto out;
	if (s) {
		e = &w->m.e[s - 1];
		if (e->path_len + 1 + name_len > SD_PATH_MAX)
			goto out;
		memcpy(path, e->path, e->path_len);
		path[e->path_len] = '/';
		len = e->path_len + 1;
	}
	memcpy(path + len, name, name_len);
	e = sd_manifest_find(&w->m, path, len + name_len);
	if (e) {
		attr_fill(w, ver_find(w, w->ino[e - w->m.e]), out);
		r = 0;
	}
out:
	ver_put(w);
	return r;
}

int fs_view_lookup_path(struct fs_view *v, const char *path, size_t len,
			struct fs_attr *out)
{
	struct ver *w = ver_get(v);
	const struct sd_entry *e = len ? sd_manifest_find(&w->m, path, len)
				       : NULL;
	int r = -ENOENT;

	if (len == 0) {
		attr_fill(w, 0, out);
		r = 0;
	} else if (e) {
		attr_fill(w, ver_find(w, w->ino[e - w->m.e]), out);
		r = 0;
	}
	ver_put(w);
	return r;
}

int fs_view_entry_id(struct fs_view *v, const char *path, size_t len,
		     struct sd_id *id)
{
	struct ver *w = ver_get(v);
	const struct sd_entry *e = len ? sd_manifest_find(&w->m, path, len)
				       : NULL;

	if (e)
		*id = e->hash;
	ver_put(w);
	return e ? 0 : -ENOENT;
}

int fs_view_names(struct fs_view *v, uint64_t ino, fs_view_name_fn fn,
		  void *opaque)
{
	struct ver *w = ver_get(v);
	int r = -ENOENT;

	for (size_t j = 0; j < w->m.count; j++) {
		if (w->ino[j] != ino)
			continue;
		r = 0;
		if (!fn(opaque, w->m.e[j].path, w->m.e[j].path_len))
			break;
	}
	ver_put(w);
	return r;
}

const struct sd_manifest *fs_view_hold(struct fs_view *v, void **hold)
{
	struct ver *w = ver_get(v);

	*hold = w;
	return &w->m;
}

void fs_view_release(void *hold)
{
	ver_put(hold);
}

int fs_view_getattr(struct fs_view *v, uint64_t ino, struct fs_attr *out)
{
	struct ver *w = ver_get(v);
	uint32_t s = ver_find(w, ino);

	if (s != NONE)
		attr_fill(w, s, out);
	ver_put(w);
	return s == NONE ? -ENOENT : 0;
}

ssize_t fs_view_readlink(struct fs_view *v, uint64_t ino, char *buf, size_t cap)
{
	struct ver *w = ver_get(v);
	uint32_t s = ver_find(w, ino);
	const struct sd_entry *e = s && s != NONE ? &w->m.e[s - 1] : NULL;
	ssize_t r;

	if (s == NONE)
		r = -ENOENT;
	else if (!e || e->type != SD_T_SYMLINK)
		r = -EINVAL;
	else if (cap <= e->target_len)
		r = -ERANGE;
	else {
		memcpy(buf, e->target, e->target_len);
		buf[e->target_len] = '\0';
		r = e->target_len;
	}
	ver_put(w);
	return r;
}

int fs_view_readdir(struct fs_view *v, uint64_t ino, uint64_t off,
		    fs_view_dir_fn fn, void *opaque)
{
	char name[SD_NAME_MAX + 1];
	struct ver *w = ver_get(v);
	uint32_t s = ver_find(w, ino);
	uint64_t n;
	int r = 0;

	if (s == NONE || !slot_is_dir(w, s)) {
		r = s == NONE ? -ENOENT : -ENOTDIR;
		goto out;
	}
	n = 2 + (uint64_t)(w->off[s + 1] - w->off[s]);
	/* The version is ours until ver_put(): fn runs without the lock. */
	for (; off < n; off++) {
		struct fs_dirent d = { .type = S_IFDIR,
				       .name = name,
				       .next_off = off + 1 };

		if (off < 2) {
			d.ino = off ? slot_ino(w, s ? w->parent[s - 1] : 0)
				    : slot_ino(w, s);
			d.name_len = off + 1;
			memcpy(name, "..", d.name_len);
		} else {
			uint32_t j = w->kids[w->off[s] + off - 2];
			uint32_t len;
			const char *b = base_name(&w->m.e[j], &len);

			d.ino = w->ino[j];
			d.type = type_bits(w->m.e[j].type);
			d.name_len = len;
			memcpy(name, b, len);
		}
		name[d.name_len] = '\0';
		if (!fn(opaque, &d))
			break;
	}
out:
	ver_put(w);
	return r;
}

int fs_view_open(struct fs_view *v, uint64_t ino, struct fs_file *out)
{
	struct ver *w = ver_get(v);
	uint32_t s = ver_find(w, ino);
	const struct sd_entry *e;
	struct fs_file f = { .ino = ino };
	int r = 0;

	if (s == NONE) {
		r = -ENOENT;
		goto out;
	}
	if (slot_is_dir(w, s)) {
		r = -EISDIR;
		goto out;
	}
	e = &w->m.e[s - 1];
	if (e->type == SD_T_PENDING) {
		/* Its chunk list comes later: tfs_source.define. */
		f.size = e->size;
		f.pending = true;
		f.mtime_ns = e->mtime_ns;
		f.path = strndup(e->path, e->path_len);
		r = f.path ? 0 : -ENOMEM;
		if (r == 0)
			*out = f;
		goto out;
	}
	if (e->type != SD_T_FILE) {
		r = -EINVAL;
		goto out;
	}
	f.size = e->size;
	f.path = strndup(e->path, e->path_len);
	r = f.path ? fs_file_set_chunks(&f, e->chunks, e->nchunks) : -ENOMEM;
	if (r < 0)
		fs_file_free(&f);
	else
		*out = f;
out:
	ver_put(w);
	return r;
}

int fs_file_set_chunks(struct fs_file *f, const struct sd_chunkref *c,
		       uint32_t n)
{
	uint64_t end = 0;

	f->chunks = arr(n, sizeof(*f->chunks));
	f->ends = arr(n, sizeof(*f->ends));
	if (!f->chunks || !f->ends) {
		free(f->chunks);
		free(f->ends);
		f->chunks = NULL;
		f->ends = NULL;
		return -ENOMEM;
	}
	if (n)
		memcpy(f->chunks, c, n * sizeof(*f->chunks));
	for (uint32_t i = 0; i < n; i++) {
		end += f->chunks[i].len;
		f->ends[i] = end;
	}
	f->nchunks = n;
	f->pending = false;
	return 0;
}

void fs_file_free(struct fs_file *f)
{
	if (!f)
		return;
	free(f->chunks);
	free(f->ends);
	free(f->path);
	memset(f, 0, sizeof(*f));
}

uint32_t fs_file_chunk_at(const struct fs_file *f, uint64_t off)
{
	uint32_t lo = 0, hi = f->nchunks;

	/* The first chunk ending past off; f->nchunks when off >= size. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (f->ends[mid] > off)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

void fs_view_counts(struct fs_view *v, uint64_t *files, uint64_t *bytes)
{
	struct ver *w = ver_get(v);

	*files = w->m.nfiles;
	*bytes = w->m.nbytes;
	ver_put(w);
}
