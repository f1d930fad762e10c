/* SPDX-License-Identifier: MIT */
/* Workspace scanner with a persistent stat cache (see scan.h). */
#include "scan_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

#define MAX_TRIES 3

/* A file changed this close to the scan could change again within the
 * same timestamp tick, and its stat would not show it: such a file is
 * hashed again next time. Linux stamps files from its coarse clock, one
 * tick (1-10 ms) behind the real one: twice the tick, and 10 ms at least.
 * (It was a flat 100 ms: every file a checkout wrote just before a sync
 * was read again by the next one.) */
int64_t sdn_racy_ns(void)
{
	static _Atomic int64_t ns;
	int64_t v = atomic_load_explicit(&ns, memory_order_relaxed);
	struct timespec res;

	if (v)
		return v;
	v = 10000000;
	if (clock_getres(CLOCK_REALTIME_COARSE, &res) == 0 &&
	    2 * (res.tv_sec * 1000000000ll + res.tv_nsec) > v)
		v = 2 * (res.tv_sec * 1000000000ll + res.tv_nsec);
	atomic_store_explicit(&ns, v, memory_order_relaxed);
	return v;
}

int64_t sdn_ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000ll + t->tv_nsec;
}

/* ---- hard links ---- */

static int cmp_ino(const void *a, const void *b)
{
	const struct item *x = *(const struct item *const *)a;
	const struct item *y = *(const struct item *const *)b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return sd_path_cmp(x->path, x->len, y->path, y->len);
}

/* Files with more than one name in the tree: the first name in manifest
 * order keeps the data, the others become SD_T_HARDLINK to it. */
static int link_groups(struct scan *sc)
{
	_cleanup_free_ struct item **v = NULL;
	size_t n = 0;

	for (size_t i = 0; i < sc->n; i++)
		n += sc->v[i].type == SD_T_FILE && sc->v[i].nlink > 1;
	if (n < 2)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < sc->n; i++)
		if (sc->v[i].type == SD_T_FILE && sc->v[i].nlink > 1)
			v[n++] = &sc->v[i];
	qsort(v, n, sizeof(*v), cmp_ino);
	for (size_t i = 1; i < n; i++) {
		struct item *p = v[i - 1];

		while (p->type == SD_T_HARDLINK)
			p = (struct item *)(void *)p->target; /* see below */
		if (v[i]->dev != p->dev || v[i]->ino != p->ino)
			continue;
		/* Point at the primary item for now; the target path is
		 * filled in once every item is final. */
		free(v[i]->chunks);
		v[i]->chunks = NULL;
		v[i]->nchunks = 0;
		v[i]->type = SD_T_HARDLINK;
		v[i]->hash = false;
		v[i]->target = (char *)p;
		sc->st->hardlinks++;
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i]->type != SD_T_HARDLINK)
			continue;
		v[i]->target =
			strndup(((struct item *)(void *)v[i]->target)->path,
				((struct item *)(void *)v[i]->target)->len);
		if (!v[i]->target)
			return -ENOMEM;
	}
	return 0;
}

/* ---- hashing ---- */

static int hash_one(struct scan *sc, struct item *it)
{
	for (int tries = 0;; tries++) {
		_cleanup_close_ int fd =
			openat(sc->root, it->path,
			       O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
		struct stat a, b;
		uint64_t size = 0;
		int r;

		if (fd < 0 || fstat(fd, &a) < 0)
			return -errno;
		free(it->chunks);
		it->chunks = NULL;
		r = sd_cdc_file_refs(&sc->o->cdc, fd, (uint64_t)a.st_size,
				     &it->chunks, &it->nchunks, &size);
		if (r < 0)
			return r;
		if (fstat(fd, &b) < 0)
			return -errno;
		it->size = size;
		it->mode = b.st_mode & 07777;
		it->mtime = sdn_ns_of(&b.st_mtim);
		it->ctime = sdn_ns_of(&b.st_ctim);
		if ((sdn_ns_of(&a.st_mtim) == it->mtime &&
		     sdn_ns_of(&a.st_ctim) == it->ctime &&
		     (uint64_t)b.st_size == size) ||
		    tries + 1 == MAX_TRIES) {
			it->racy = tries + 1 == MAX_TRIES &&
				   sdn_ns_of(&a.st_ctim) != it->ctime;
			return 0;
		}
	}
}

static void *hasher(void *arg)
{
	struct scan *sc = arg;
	size_t i;

	while ((i = atomic_fetch_add(&sc->next, 1)) < sc->ntodo) {
		struct item *it = &sc->v[sc->todo[i]];

		it->err = hash_one(sc, it);
	}
	return NULL;
}

static int hash_all(struct scan *sc)
{
	unsigned n = sc->o->threads;
	pthread_t th[16];
	unsigned started = 0;

	if (n == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);

		n = c > 0 ? (unsigned)c : 1;
	}
	if (n > 16)
		n = 16;
	sc->todo = malloc((sc->n + 1) * sizeof(*sc->todo));
	if (!sc->todo)
		return -ENOMEM;
	for (size_t i = 0; i < sc->n; i++) {
		struct item *it = &sc->v[i];

		if (it->type != SD_T_FILE || !it->hash)
			continue;
		if (sc->o->pending && it->nlink == 1 && it->size) {
			it->type = SD_T_PENDING;
			it->hash = false;
			continue;
		}
		sc->todo[sc->ntodo++] = i;
	}
	if (n > sc->ntodo)
		n = sc->ntodo ? (unsigned)sc->ntodo : 1;
	atomic_init(&sc->next, 0);
	for (; started + 1 < n; started++)
		if (pthread_create(&th[started], NULL, hasher, sc) != 0)
			break;
	hasher(sc);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < sc->ntodo; i++) {
		struct item *it = &sc->v[sc->todo[i]];

		if (it->err == -ENOENT) {
			/* Deleted while we looked: absent from this scan. */
			it->type = 0;
			continue;
		}
		if (it->err < 0)
			return sd_err_set(sc->why, it->err, "%s: %s", it->path,
					  strerror(-it->err));
		sc->st->hashed_files++;
		sc->st->hashed_bytes += it->size;
	}
	return 0;
}

/* ---- putting it together ---- */

/* The manifest entry of an item (views its strings), counted in the
 * stats. */
static struct sd_entry item_entry(struct scan *sc, struct item *it)
{
	struct sd_entry e = {
		.path = it->path,
		.path_len = it->len,
		.type = it->type,
	};

	if (it->type != SD_T_HARDLINK) {
		e.mode = it->mode;
		e.mtime_ns = it->mtime;
	}
	if (it->type == SD_T_PENDING) {
		e.size = it->size;
		sc->st->files++;
		sc->st->pending++;
		sc->st->bytes += it->size;
	} else if (it->type == SD_T_FILE) {
		e.size = it->size;
		e.nchunks = it->nchunks;
		e.chunks = it->chunks;
		sc->st->files++;
		sc->st->bytes += it->size;
		if (it->mtime >= sc->start_ns - sdn_racy_ns() ||
		    it->ctime >= sc->start_ns - sdn_racy_ns())
			it->racy = true;
	} else if (it->type == SD_T_SYMLINK) {
		e.size = it->size;
		sc->st->symlinks++;
	} else if (it->type == SD_T_DIR) {
		sc->st->dirs++;
	}
	if (it->target) {
		e.target = it->target;
		e.target_len = (uint32_t)strlen(it->target);
	}
	return e;
}

static int build(struct scan *sc, struct sd_manifest *out)
{
	for (size_t i = 0; i < sc->n; i++) {
		struct sd_entry e;
		int r;

		if (!sc->v[i].type)
			continue;
		e = item_entry(sc, &sc->v[i]);
		r = sd_manifest_add(out, &e, sc->why);
		if (r < 0)
			return r;
	}
	return sd_manifest_seal(out, sc->why);
}

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	return sd_path_cmp(x->path, x->len, y->path, y->len);
}

/* The item at path among the sorted items, or NULL. */
static const struct item *find_item(const struct scan *sc, const char *path,
				    size_t len)
{
	size_t lo = 0, hi = sc->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = sd_path_cmp(sc->v[mid].path, sc->v[mid].len, path, len);

		if (c == 0)
			return &sc->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Whether a delete in d (sorted) covers path's subtree parent. */
static bool under_delete(const struct sd_delta *d, const char *path, size_t len)
{
	for (size_t k = 1; k < len; k++) {
		size_t lo = 0, hi = d->ndel;

		if (path[k] != '/')
			continue;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = sd_path_cmp(d->del[mid], d->del_len[mid], path,
					    k);

			if (c == 0)
				return true;
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return false;
}

/* What the restat found, as the delta d from prev: a put for each item that
 * is new or differs, a delete for each looked-at entry that is gone (or
 * was a directory and is not), its subtree with it. Then *out is prev with
 * d applied, d's root set to its root. */
static int merge(struct scan *sc, const struct sd_manifest *prev,
		 const uint8_t *skip, struct sd_manifest *out,
		 struct sd_delta *d)
{
	const struct sd_entry *p;
	const struct item *it;
	int r = 0;

	if (sc->n) /* (qsort's array may not be NULL, even when empty) */
		qsort(sc->v, sc->n, sizeof(*sc->v), cmp_item);
	d->base_version = prev->version;
	d->base_root = prev->root;
	d->version = prev->version + 1;
	for (size_t j = 0; j < sc->n && r == 0; j++) {
		struct sd_entry e;

		if (!sc->v[j].type)
			continue;
		e = item_entry(sc, &sc->v[j]);
		p = sd_manifest_find(prev, e.path, e.path_len);
		if (!p || !sd_entry_equal(p, &e))
			r = sd_manifest_add(&d->put, &e, sc->why);
	}
	for (size_t k = 0; k < prev->count && r == 0; k++) {
		const uint8_t *next = memchr(skip + k, 1, prev->count - k);

		if (!next)
			break;
		k = (size_t)(next - skip);
		p = &prev->e[k];
		it = find_item(sc, p->path, p->path_len);
		if (it && it->type &&
		    (p->type != SD_T_DIR || it->type == SD_T_DIR))
			continue;
		if (!under_delete(d, p->path, p->path_len))
			r = sd_delta_delete(d, p->path, p->path_len, sc->why);
	}
	if (r == 0)
		r = sd_delta_seal(d, sc->why);
	if (r == 0)
		r = sd_delta_result(prev, d, out, sc->why);
	if (r == 0)
		d->root = out->root;
	return r;
}

/* Everything a scan holds; on failure, *out goes back to empty. */
static void scan_fini(struct scan *sc, int r, struct sd_manifest *out)
{
	for (size_t i = 0; i < sc->n; i++) {
		free(sc->v[i].path);
		free(sc->v[i].target);
		free(sc->v[i].chunks);
	}
	free(sc->v);
	free(sc->todo);
	sdn_cache_fini(sc);
	sd_ignore_free(sc->ig);
	if (sc->root >= 0)
		close(sc->root);
	if (r != 0) {
		sd_manifest_free(out);
		sd_manifest_init(out);
	}
}

int sd_scan(const char *root, const struct sd_scan_opts *o,
	    struct sd_manifest *out, struct sd_scan_stats *st,
	    struct sd_err *why)
{
	struct sd_ignore_config icfg;
	struct scan sc = { .o = o, .st = st, .why = why, .root = -1 };
	char *path = NULL;
	struct timespec t0, t1;
	int r;

	memset(st, 0, sizeof(*st));
	sd_manifest_init(out);
	clock_gettime(CLOCK_REALTIME, &t0);
	sc.start_ns = sdn_ns_of(&t0);
	sd_ignore_config_init(&icfg);
	icfg.patterns = o->ignore;
	icfg.npatterns = o->nignore;
	icfg.root_name = root;
	r = sd_ignore_new(&icfg, &sc.ig);
	if (r < 0)
		return sd_err_set(why, r, "ignore rules: %s", strerror(-r));
	sc.root = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	path = malloc(SD_PATH_MAX + SD_NAME_MAX + 2);
	if (sc.root < 0 || !path) {
		r = sd_err_set(why, sc.root < 0 ? -errno : -ENOMEM, "%s: %s",
			       root, strerror(sc.root < 0 ? errno : ENOMEM));
		goto out;
	}
	path[0] = '\0';
	sdn_cache_load(&sc);
	r = sd_ignore_enter_dir(sc.ig, "", 0, sc.root);
	if (r < 0) {
		sd_err_set(why, r, "%s: ignore rules: %s", root, strerror(-r));
		goto out;
	}
	r = sdn_walk(&sc, path);
	sd_ignore_leave_dir(sc.ig);
	if (r == 0)
		r = link_groups(&sc) < 0
			    ? sd_err_set(why, -ENOMEM, "out of memory")
			    : 0;
	if (r == 0)
		r = hash_all(&sc);
	if (r == 0)
		r = build(&sc, out);
	if (r == 0)
		sdn_cache_save(&sc);
out:
	clock_gettime(CLOCK_REALTIME, &t1);
	st->ms = (uint64_t)(sdn_ns_of(&t1) - sdn_ns_of(&t0)) / 1000000;
	free(path);
	scan_fini(&sc, r, out);
	return r;
}

/* ---- incremental update ---- */

#define UPDATE_MAX 4096

/* A rule stack for random access (sd_ignore_check), or NULL. */
static struct sd_ignore *ignore_new(const struct sd_scan_opts *o,
				    const char *rootname)
{
	struct sd_ignore_config icfg;
	struct sd_ignore *ig;

	sd_ignore_config_init(&icfg);
	icfg.patterns = o->ignore;
	icfg.npatterns = o->nignore;
	icfg.root_name = rootname;
	return sd_ignore_new(&icfg, &ig) < 0 ? NULL : ig;
}

bool sd_scan_ignored(const char *root, const struct sd_scan_opts *o,
		     const char *rel, size_t len, bool is_dir)
{
	struct sd_ignore *ig = ignore_new(o, root);
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	/* Errors mean "not ignored": a watch too many costs less than a
	 * directory missed. */
	if (ig && fd >= 0)
		r = sd_ignore_check(ig, fd, rel, len, is_dir);
	if (fd >= 0)
		close(fd);
	sd_ignore_free(ig);
	return r == 1;
}

static bool is_rule_file(const char *p, size_t len)
{
	const char *slash = memrchr(p, '/', len);
	const char *base = slash ? slash + 1 : p;

	return sd_ignore_rule_file(base, len - (size_t)(base - p)) != 0;
}

/* Look at one changed path again: its new item, or none (gone, ignored,
 * not syncable). Returns 0, 1 (needs a full scan) or -errno. */
static int restat(struct scan *sc, const char *p, size_t len,
		  bool *gone_or_file)
{
	struct stat sb;
	struct item *it;

	*gone_or_file = true;
	if (fstatat(sc->root, p, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	/* Ignored, or under an ignored or vanished directory: not there. */
	if (sd_ignore_check(sc->ig, sc->root, p, len, S_ISDIR(sb.st_mode)) != 0)
		return 0;
	if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode) &&
	    !S_ISLNK(sb.st_mode))
		return 0;
	if (S_ISREG(sb.st_mode) && sb.st_nlink > 1)
		return 1;
	it = sdn_item_new(sc);
	if (!it || !(it->path = strndup(p, len)))
		return -ENOMEM;
	it->len = (uint32_t)len;
	it->mode = sb.st_mode & 07777;
	it->mtime = sdn_ns_of(&sb.st_mtim);
	it->ctime = sdn_ns_of(&sb.st_ctim);
	if (S_ISDIR(sb.st_mode)) {
		it->type = SD_T_DIR;
		*gone_or_file = false;
	} else if (S_ISREG(sb.st_mode)) {
		it->type = SD_T_FILE;
		it->size = (uint64_t)sb.st_size;
		it->hash = true;
	} else {
		char buf[SD_PATH_MAX + 1];
		ssize_t k = readlinkat(sc->root, p, buf, sizeof(buf));

		if (k <= 0 || k > (ssize_t)SD_PATH_MAX) {
			sc->n--;
			free(it->path);
			return k < 0 && errno != ENOENT ? -errno : 0;
		}
		it->type = SD_T_SYMLINK;
		it->size = (uint64_t)k;
		it->target = strndup(buf, (size_t)k);
		if (!it->target)
			return -ENOMEM;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The paths and their parent directories (whose mtimes an added, removed
 * or renamed entry changed), sorted and unique; one allocation each. */
static char **with_parents(const char *const *paths, size_t n, size_t *count)
{
	char **v = calloc(2 * n + 1, sizeof(*v));
	size_t k = 0, u = 0;

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *slash = strrchr(paths[i], '/');

		v[k++] = strdup(paths[i]);
		if (slash)
			v[k++] = strndup(paths[i], (size_t)(slash - paths[i]));
		if (!v[k - 1] || (slash && !v[k - 2]))
			goto fail;
	}
	qsort(v, k, sizeof(*v), cmp_str);
	for (size_t i = 0; i < k; i++) {
		if (u && !strcmp(v[u - 1], v[i]))
			free(v[i]);
		else
			v[u++] = v[i];
	}
	*count = u;
	return v;
fail:
	for (size_t i = 0; i < k; i++)
		free(v[i]);
	free(v);
	return NULL;
}

int sd_scan_update(const char *root, const struct sd_scan_opts *o,
		   const struct sd_manifest *prev, const char *const *given,
		   size_t ngiven, struct sd_manifest *out,
		   struct sd_delta *delta, struct sd_scan_stats *st,
		   struct sd_err *why)
{
	struct sd_delta own;
	struct scan sc = { .o = o, .st = st, .why = why, .root = -1 };
	_cleanup_free_ uint8_t *skip = NULL;
	char **paths = NULL;
	struct timespec t0, t1;
	size_t n = 0;
	int r = 0;

	memset(st, 0, sizeof(*st));
	sd_manifest_init(out);
	if (!delta)
		delta = &own;
	sd_delta_init(delta);
	clock_gettime(CLOCK_REALTIME, &t0);
	sc.start_ns = sdn_ns_of(&t0);
	if (ngiven > UPDATE_MAX)
		return 1;
	for (size_t i = 0; i < ngiven; i++)
		if (is_rule_file(given[i], strlen(given[i])))
			return 1;
	paths = with_parents(given, ngiven, &n);
	if (!paths)
		return sd_err_set(why, -ENOMEM, "out of memory");
	skip = calloc(prev->count + 1, 1);
	sc.ig = ignore_new(o, root);
	sc.root = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!skip || !sc.ig || sc.root < 0) {
		r = sd_err_set(why, skip && sc.ig ? -errno : -ENOMEM, "%s: %s",
			       root, strerror(skip && sc.ig ? errno : ENOMEM));
		goto out;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		const char *p = paths[i];
		size_t len = strlen(p);
		const struct sd_entry *e = sd_manifest_find(prev, p, len);
		bool drop_subtree;

		if (e && e->type == SD_T_HARDLINK)
			r = 1;
		if (e && r == 0)
			skip[e - prev->e] = 1;
		if (r == 0)
			r = restat(&sc, p, len, &drop_subtree);
		if (r == 0 && drop_subtree && len < SD_PATH_MAX) {
			char pre[SD_PATH_MAX + 1];
			size_t a, b;

			memcpy(pre, p, len);
			pre[len] = '/';
			a = sd_manifest_lower_bound(prev, pre, len + 1);
			pre[len] = '/' + 1;
			b = sd_manifest_lower_bound(prev, pre, len + 1);
			memset(skip + a, 1, b - a);
		}
	}
	if (r == 0 && prev->nhardlinks) {
		/* Hard links into a file that changed would now dangle. */
		for (size_t k = 0; k < prev->count && r == 0; k++)
			if (prev->e[k].type == SD_T_HARDLINK) {
				const struct sd_entry *t = sd_manifest_find(
					prev, prev->e[k].target,
					prev->e[k].target_len);

				if (t && skip[t - prev->e])
					r = 1;
			}
	}
	if (r == 0)
		r = hash_all(&sc);
	if (r == 0) {
		r = merge(&sc, prev, skip, out, delta);
		if (r == -EINVAL)
			r = 1; /* e.g. a parent that is not there yet */
	}
out:
	clock_gettime(CLOCK_REALTIME, &t1);
	st->ms = (uint64_t)(sdn_ns_of(&t1) - sdn_ns_of(&t0)) / 1000000;
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	scan_fini(&sc, r, out);
	if (r != 0 || delta == &own)
		sd_delta_free(delta);
	return r;
}
