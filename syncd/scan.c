/* SPDX-License-Identifier: MIT */
/* Workspace scanner with a persistent stat cache (see scan.h). */
#include "scan.h"

#include <dirent.h>
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
#include "ignore.h"
#include "log.h"
#include "statcache.h"
#include "thp.h"

#define MAX_TRIES 3

/* A file changed this close to the scan could change again within the
 * same timestamp tick, and its stat would not show it: such a file is
 * hashed again next time. Linux stamps files from its coarse clock, one
 * tick (1-10 ms) behind the real one: twice the tick, and 10 ms at least.
 * (It was a flat 100 ms: every file a checkout wrote just before a sync
 * was read again by the next one.) */
static int64_t racy_ns(void)
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

struct item {
	char *path;
	uint32_t len;
	uint8_t type;
	uint32_t mode;
	uint64_t size;
	int64_t mtime, ctime;
	uint64_t dev, ino, nlink;
	char *target;
	struct sd_chunkref *chunks;
	uint32_t nchunks;
	bool hash, racy;
	int err; /* hashing failed: -errno */
};

struct scan {
	const struct sd_scan_opts *o;
	int root;
	struct sd_ignore *ig;
	struct item *v;
	size_t n, cap;
	struct sd_scan_stats *st;
	struct sd_err *why;
	/* the cache as loaded; the walker threads share the main scan's */
	struct sd_statcache cache;
	/* hashing */
	size_t *todo, ntodo;
	size_t hits;	/* files whose chunks came from it */
	bool racy_seen; /* a file must be read again next time */
	atomic_size_t next;
	int64_t start_ns;
};

static int64_t ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000ll + t->tv_nsec;
}

/* Load the cache; any problem just means an empty cache. */
static void cache_load(struct scan *sc)
{
	_cleanup_close_ int fd = -1;
	uint8_t *buf;
	struct stat sb;
	size_t got = 0, n;

	if (!sc->o->cache)
		return;
	fd = open(sc->o->cache, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size < SD_STATCACHE_HEADER ||
	    (uint64_t)sb.st_size > SD_ENC_MAX)
		return;
	n = (size_t)sb.st_size;
	buf = malloc(n);
	if (!buf)
		return;
	util_thp_hint(buf, n);
	while (got < n) {
		ssize_t k = read(fd, buf + got, n - got);

		if (k <= 0) {
			free(buf);
			return;
		}
		got += (size_t)k;
	}
	if (sd_statcache_parse(&sc->cache, buf, n) == -EINVAL)
		log_warn("stat cache %s is damaged: rescanning every file",
			 sc->o->cache);
}

/* Reuse the cached chunks when nothing about the file changed. */
static bool cache_reuse(struct scan *sc, struct item *it)
{
	const struct sd_statcache_entry *e =
		sd_statcache_find(&sc->cache, it->path, it->len);
	uint64_t sum = 0;

	if (!e || e->dev != it->dev || e->ino != it->ino ||
	    e->size != it->size || e->mtime != it->mtime ||
	    e->ctime != it->ctime || e->ctime == 0)
		return false;
	it->chunks = calloc(e->nchunks ? e->nchunks : 1, sizeof(*it->chunks));
	if (!it->chunks)
		return false;
	for (uint32_t i = 0; i < e->nchunks; i++) {
		it->chunks[i] = sd_statcache_chunk(e, i);
		sum += it->chunks[i].len;
	}
	it->nchunks = e->nchunks;
	if (sum != it->size) {
		free(it->chunks);
		it->chunks = NULL;
		it->nchunks = 0;
		return false;
	}
	return true;
}

static void cache_save(struct scan *sc)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_close_ int fd = -1;
	size_t size = 16;
	uint32_t count = 0;
	uint8_t *p;

	if (!sc->o->cache)
		return;
	for (size_t i = 0; i < sc->n; i++) {
		const struct item *it = &sc->v[i];

		if (it->type != SD_T_FILE)
			continue;
		size += sd_statcache_record_size(it->len, it->nchunks);
		count++;
		sc->racy_seen |= it->racy;
	}
	/* Every file came from the cache, which holds nothing else: it is
	 * already what this scan would write. */
	if (sc->hits == count && sc->cache.count == count && !sc->racy_seen)
		return;
	buf = malloc(size);
	/* Per process: syncs of one tree at once each write their own. */
	if (!buf ||
	    asprintf(&tmp, "%s.%d.tmp", sc->o->cache, (int)getpid()) < 0)
		return;
	p = sd_statcache_put_header(buf, count);
	for (size_t i = 0; i < sc->n; i++) {
		const struct item *it = &sc->v[i];

		/* ctime 0 never matches: a racy file is read again. */
		if (it->type == SD_T_FILE)
			p = sd_statcache_put_record(p, it->path, it->len,
						    it->dev, it->ino, it->size,
						    it->mtime,
						    it->racy ? 0 : it->ctime,
						    it->chunks, it->nchunks);
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, size) != (ssize_t)size ||
	    rename(tmp, sc->o->cache) < 0) {
		log_warn("stat cache %s not saved: %s", sc->o->cache,
			 strerror(errno));
		unlink(tmp);
	}
}

/* ---- the walk ---- */

static struct item *item_new(struct scan *sc)
{
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? 2 * sc->cap : 1024;
		struct item *v = realloc(sc->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		util_thp_hint(v + sc->n, (cap - sc->n) * sizeof(*v));
		sc->v = v;
		sc->cap = cap;
	}
	memset(&sc->v[sc->n], 0, sizeof(sc->v[0]));
	return &sc->v[sc->n++];
}

static int walk(struct scan *sc, int dfd, char *path, size_t plen);

static int add_entry(struct scan *sc, int dfd, const char *name, char *path,
		     size_t plen)
{
	size_t nlen = strlen(name), len = plen ? plen + 1 + nlen : nlen;
	struct item *it;
	struct stat sb;
	bool is_dir;
	int r;

	if (len > SD_PATH_MAX) {
		log_warn("%.*s/%s: path longer than %u bytes, not synced",
			 (int)plen, path, name, SD_PATH_MAX);
		return 0;
	}
	if (plen)
		path[plen] = '/';
	memcpy(path + (plen ? plen + 1 : 0), name, nlen + 1);
	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0
				       : sd_err_set(sc->why, -errno, "%s: %s",
						    path, strerror(errno));
	is_dir = S_ISDIR(sb.st_mode);
	if (sd_ignore_match(sc->ig, path, len, is_dir))
		return 0;
	if (!is_dir && !S_ISREG(sb.st_mode) && !S_ISLNK(sb.st_mode)) {
		sc->st->skipped++;
		return 0;
	}
	it = item_new(sc);
	if (!it || !(it->path = strndup(path, len)))
		return sd_err_set(sc->why, -ENOMEM, "out of memory");
	it->len = (uint32_t)len;
	it->mode = sb.st_mode & 07777;
	it->mtime = ns_of(&sb.st_mtim);
	it->ctime = ns_of(&sb.st_ctim);
	it->dev = sb.st_dev;
	it->ino = sb.st_ino;
	it->nlink = sb.st_nlink;
	if (S_ISREG(sb.st_mode)) {
		it->type = SD_T_FILE;
		it->size = (uint64_t)sb.st_size;
		it->hash = !cache_reuse(sc, it);
		sc->hits += !it->hash;
		return 0;
	}
	if (S_ISLNK(sb.st_mode)) {
		char buf[SD_PATH_MAX + 1];
		ssize_t k = readlinkat(dfd, name, buf, sizeof(buf));

		if (k < 0)
			return errno == ENOENT
				       ? (sc->n--, free(it->path), 0)
				       : sd_err_set(sc->why, -errno, "%s: %s",
						    path, strerror(errno));
		if (k == 0 || k > (ssize_t)SD_PATH_MAX) {
			log_warn("%s: symlink target of %zd bytes, not synced",
				 path, k);
			sc->n--;
			free(it->path);
			return 0;
		}
		it->type = SD_T_SYMLINK;
		it->target = strndup(buf, (size_t)k);
		it->size = (uint64_t)k;
		return it->target
			       ? 0
			       : sd_err_set(sc->why, -ENOMEM, "out of memory");
	}
	it->type = SD_T_DIR;
	{
		_cleanup_close_ int cfd =
			openat(dfd, name,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (cfd < 0)
			return errno == ENOENT
				       ? 0
				       : sd_err_set(sc->why, -errno, "%s: %s",
						    path, strerror(errno));
		r = walk(sc, cfd, path, len);
	}
	path[plen] = '\0';
	return r;
}

/* The names in directory dfd, NUL-separated in *buf (malloc'd), and which
 * ignore files are among them. 0 or -errno. getdents64 on dfd itself, not
 * a DIR: fdopendir() costs a dup, an fcntl, an fstat and a close more per
 * directory, a fifth of a no-op scan's system calls. dfd is read from its
 * current offset, the start for a directory just opened. */
#define DENTS_BUF 32768
static int list_dir(int dfd, char **buf, size_t *len, unsigned *present)
{
	_cleanup_free_ char *dents = malloc(DENTS_BUF);
	size_t cap = 0, n;
	ssize_t got;
	int r = 0;

	*buf = NULL;
	*len = 0;
	*present = 0;
	if (!dents)
		return -ENOMEM;
	while (r == 0 && (got = getdents64(dfd, dents, DENTS_BUF)) > 0) {
		for (ssize_t off = 0; r == 0 && off < got;) {
			const struct dirent64 *de =
				(const struct dirent64 *)(const void *)(dents +
									off);
			const char *name = de->d_name;

			off += de->d_reclen;
			if (!strcmp(name, ".") || !strcmp(name, ".."))
				continue;
			if (!strcmp(name, SD_IGNORE_GITIGNORE))
				*present |= SD_IGNORE_HAS_GITIGNORE;
			else if (!strcmp(name, SD_IGNORE_TETHERIGNORE))
				*present |= SD_IGNORE_HAS_TETHERIGNORE;
			n = strlen(name) + 1;
			if (cap - *len < n) {
				char *nb;

				cap = cap ? 2 * cap : 4096;
				while (cap - *len < n)
					cap *= 2;
				nb = realloc(*buf, cap);
				if (!nb) {
					r = -ENOMEM;
					break;
				}
				*buf = nb;
			}
			memcpy(*buf + *len, name, n);
			*len += n;
		}
	}
	if (r == 0 && got < 0)
		r = -errno;
	if (r < 0) {
		free(*buf);
		*buf = NULL;
		*len = 0;
	}
	return r;
}

/* Walk directory dfd (path, plen bytes) with its own ignore rules: the
 * names are listed first, so only the rule files it has are opened. */
static int walk(struct scan *sc, int dfd, char *path, size_t plen)
{
	_cleanup_free_ char *names = NULL;
	unsigned present;
	size_t len;
	int r = list_dir(dfd, &names, &len, &present);

	if (r < 0)
		return sd_err_set(sc->why, r, "%s: %s", plen ? path : ".",
				  strerror(-r));
	r = sd_ignore_enter_dir_listed(sc->ig, path, plen, dfd, present);
	if (r < 0)
		return sd_err_set(sc->why, r, "%s: ignore rules: %s",
				  plen ? path : ".", strerror(-r));
	for (size_t off = 0; r == 0 && off < len;
	     off += strlen(names + off) + 1) {
		r = add_entry(sc, dfd, names + off, path, plen);
		path[plen] = '\0';
	}
	sd_ignore_leave_dir(sc->ig);
	return r;
}

/* ---- the walk on every core ---- */

#define WALK_THREADS_MAX 8

/* The top-level directories of the tree, walked by several threads: each
 * has its own items, rule stack and path buffer; the stat cache is shared,
 * read-only. */
struct walk_job {
	struct scan *main;
	char **dirs;
	size_t ndirs;
	atomic_size_t next;
};

struct walker_thread {
	struct walk_job *job;
	struct scan sc;
	struct sd_scan_stats st;
	struct sd_err why;
	int r;
};

static void *walk_thread(void *arg)
{
	struct walker_thread *t = arg;
	struct scan *m = t->job->main;
	struct sd_ignore_config icfg;
	char *path = malloc(SD_PATH_MAX + SD_NAME_MAX + 2);
	size_t i;

	t->sc = (struct scan){ .o = m->o,
			       .root = m->root,
			       .st = &t->st,
			       .why = &t->why,
			       .cache = m->cache,
			       .start_ns = m->start_ns };
	sd_ignore_config_init(&icfg);
	icfg.patterns = m->o->ignore;
	icfg.npatterns = m->o->nignore;
	t->r = path ? sd_ignore_new(&icfg, &t->sc.ig) : -ENOMEM;
	if (t->r == 0)
		t->r = sd_ignore_enter_dir(t->sc.ig, "", 0, m->root);
	if (t->r < 0)
		sd_err_set(&t->why, t->r, "ignore rules: %s", strerror(-t->r));
	while (t->r == 0 &&
	       (i = atomic_fetch_add(&t->job->next, 1)) < t->job->ndirs) {
		path[0] = '\0';
		t->r = add_entry(&t->sc, m->root, t->job->dirs[i], path, 0);
	}
	sd_ignore_free(t->sc.ig);
	t->sc.ig = NULL;
	free(path);
	return NULL;
}

/* Walk the whole tree from the root (entered in m->ig): entries at the top
 * here, the directories there on every core. */
static int walk_parallel(struct scan *m, char *path)
{
	struct walk_job job = { .main = m };
	struct walker_thread t[WALK_THREADS_MAX] = { 0 };
	pthread_t th[WALK_THREADS_MAX];
	unsigned n = m->o->threads, started = 0;
	size_t cap = 0;
	struct dirent *de;
	int fd = openat(m->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	int r = 0;

	if (!d) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return sd_err_set(m->why, r, ".: %s", strerror(-r));
	}
	while (r == 0 && (errno = 0, de = readdir(d))) {
		struct stat sb;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(m->root, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) <
			    0 ||
		    !S_ISDIR(sb.st_mode)) {
			r = add_entry(m, m->root, de->d_name, path, 0);
			path[0] = '\0';
			continue;
		}
		if (job.ndirs == cap) {
			char **v =
				realloc(job.dirs, (cap = cap ? 2 * cap : 64) *
							  sizeof(*v));

			if (!v) {
				r = sd_err_set(m->why, -ENOMEM,
					       "out of memory");
				break;
			}
			job.dirs = v;
		}
		job.dirs[job.ndirs] = strdup(de->d_name);
		if (!job.dirs[job.ndirs++])
			r = sd_err_set(m->why, -ENOMEM, "out of memory");
	}
	if (r == 0 && errno)
		r = sd_err_set(m->why, -errno, ".: %s", strerror(errno));
	closedir(d);
	if (n == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);

		/* With the inode cache cold the walk waits on the disk:
		 * more walkers than cores keep more reads in flight (80k
		 * files, caches dropped, 2 cores: 1.3-1.7 s with 2, 0.8 s
		 * with 8; no difference with the cache warm). */
		n = c > 0 ? 4 * (unsigned)c : 1;
	}
	if (n > WALK_THREADS_MAX)
		n = WALK_THREADS_MAX;
	if (n > job.ndirs)
		n = job.ndirs ? (unsigned)job.ndirs : 1;
	atomic_init(&job.next, 0);
	for (unsigned i = 0; r == 0 && i < n; i++)
		t[i].job = &job;
	for (; r == 0 && started + 1 < n; started++)
		if (pthread_create(&th[started], NULL, walk_thread,
				   &t[started + 1]))
			break;
	if (r == 0)
		walk_thread(&t[0]);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	/* Every thread's items join the main list (the strings move with
	 * them). */
	for (unsigned i = 0; r == 0 && i <= started && i < n; i++) {
		struct scan *ts = &t[i].sc;

		if (t[i].r < 0) {
			*m->why = t[i].why;
			r = t[i].r;
		}
		m->st->skipped += t[i].st.skipped;
		m->hits += ts->hits;
		for (size_t k = 0; r == 0 && k < ts->n; k++) {
			struct item *it = item_new(m);

			if (!it) {
				r = sd_err_set(m->why, -ENOMEM,
					       "out of memory");
				break;
			}
			*it = ts->v[k];
			ts->v[k].path = NULL;
			ts->v[k].target = NULL;
			ts->v[k].chunks = NULL;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		for (size_t k = 0; k < t[i].sc.n; k++) {
			free(t[i].sc.v[k].path);
			free(t[i].sc.v[k].target);
			free(t[i].sc.v[k].chunks);
		}
		free(t[i].sc.v);
	}
	for (size_t i = 0; i < job.ndirs; i++)
		free(job.dirs[i]);
	free(job.dirs);
	return r;
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
		it->mtime = ns_of(&b.st_mtim);
		it->ctime = ns_of(&b.st_ctim);
		if ((ns_of(&a.st_mtim) == it->mtime &&
		     ns_of(&a.st_ctim) == it->ctime &&
		     (uint64_t)b.st_size == size) ||
		    tries + 1 == MAX_TRIES) {
			it->racy = tries + 1 == MAX_TRIES &&
				   ns_of(&a.st_ctim) != it->ctime;
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
		if (it->mtime >= sc->start_ns - racy_ns() ||
		    it->ctime >= sc->start_ns - racy_ns())
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
	sd_statcache_free(&sc->cache);
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
	sc.start_ns = ns_of(&t0);
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
	cache_load(&sc);
	r = sd_ignore_enter_dir(sc.ig, "", 0, sc.root);
	if (r < 0) {
		sd_err_set(why, r, "%s: ignore rules: %s", root, strerror(-r));
		goto out;
	}
	r = walk_parallel(&sc, path);
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
		cache_save(&sc);
out:
	clock_gettime(CLOCK_REALTIME, &t1);
	st->ms = (uint64_t)(ns_of(&t1) - ns_of(&t0)) / 1000000;
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
	size_t n = len - (size_t)(base - p);

	return (n == strlen(SD_IGNORE_GITIGNORE) &&
		!memcmp(base, SD_IGNORE_GITIGNORE, n)) ||
	       (n == strlen(SD_IGNORE_TETHERIGNORE) &&
		!memcmp(base, SD_IGNORE_TETHERIGNORE, n));
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
	it = item_new(sc);
	if (!it || !(it->path = strndup(p, len)))
		return -ENOMEM;
	it->len = (uint32_t)len;
	it->mode = sb.st_mode & 07777;
	it->mtime = ns_of(&sb.st_mtim);
	it->ctime = ns_of(&sb.st_ctim);
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
	sc.start_ns = ns_of(&t0);
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
	st->ms = (uint64_t)(ns_of(&t1) - ns_of(&t0)) / 1000000;
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	scan_fini(&sc, r, out);
	if (r != 0 || delta == &own)
		sd_delta_free(delta);
	return r;
}
