/* SPDX-License-Identifier: MIT */
#include "views.h"

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunkid.h"
#include "clock.h"
#include "log.h"
#include "beneath.h"
#include "sink.h"
#include "tetherfs.h"
#include "upper.h"
#include "view.h"

/* Chunks of the same file asked for with the one a read waits for. */
#define READAHEAD 16
/* Chunks that did not arrive, remembered for a fetch timeout: the kernel
 * retries a failed read, which must fail at once, not wait again. */
#define GAVE_UP 16

struct gave_up {
	struct sd_id id;
	int64_t at_ms;
};

struct view;

struct fs_views {
	char *dir;   /* ROOT/views */
	char *upper; /* ROOT/.tether/upper: each view's upper layer */
	struct sd_sink *sink;
	unsigned fetch_ms;
	pthread_mutex_t lock;
	struct view *list;
};

struct view {
	struct view *next;
	char *name;
	struct tfs *fs; /* NULL: mounting failed (logged), not retried */
	struct fs_views *owner;
	struct sd_store *store;
	pthread_mutex_t lock; /* gave_up */
	struct gave_up gave_up[GAVE_UP];
	unsigned next_gave_up;
};

/* Whether w gave up on id less than a fetch timeout ago; remember that it
 * gives up now, when now. */
static bool gave_up(struct view *w, const struct sd_id *id, bool now)
{
	int64_t t = util_now_ms();
	bool hit = false;

	pthread_mutex_lock(&w->lock);
	for (unsigned k = 0; k < GAVE_UP && !hit; k++)
		hit = w->gave_up[k].at_ms &&
		      t - w->gave_up[k].at_ms < w->owner->fetch_ms &&
		      sd_id_eq(&w->gave_up[k].id, id);
	if (now) {
		w->gave_up[w->next_gave_up] = (struct gave_up){ *id, t };
		w->next_gave_up = (w->next_gave_up + 1) % GAVE_UP;
	}
	pthread_mutex_unlock(&w->lock);
	return hit;
}

/* Chunk i of f read from the source's directory, when the workspace has a
 * passthrough (sink.h): 0; -ENOENT without one; -EIO (why) when the file
 * there no longer has those bytes. */
static int pass_get(struct view *w, const struct fs_file *f, uint32_t i,
		    void *dst, size_t cap, struct sd_err *why)
{
	const struct sd_chunkref *c = &f->chunks[i];
	uint64_t off = i ? f->ends[i - 1] : 0;
	char dir[PATH_MAX];
	struct sd_id got;
	ssize_t n;
	int dfd, fd;

	if (!f->path ||
	    sd_sink_passthrough(w->owner->sink, w->name, dir, sizeof(dir)) != 1)
		return -ENOENT;
	if (cap < c->len)
		return sd_err_set(why, -EIO, "chunk of %" PRIu32 " bytes",
				  c->len);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fd = dfd < 0 ? -1 : util_open_beneath(dfd, f->path, O_RDONLY);
	if (dfd >= 0)
		close(dfd);
	if (fd < 0)
		return sd_err_set(why, -EIO,
				  "passthrough %s/%s: %s (changed since it "
				  "was synced?)",
				  dir, f->path, strerror(errno));
	n = pread(fd, dst, c->len, (off_t)off);
	close(fd);
	if (n == (ssize_t)c->len)
		sd_id_of(&got, dst, c->len);
	if (n != (ssize_t)c->len || !sd_id_eq(&got, &c->id))
		return sd_err_set(why, -EIO,
				  "passthrough %s/%s: not the bytes synced "
				  "(changed since: sync again)",
				  dir, f->path);
	return 0;
}

/* A tfs_source over the workspace's chunk store (opaque = the view): a
 * chunk a lazy commit left missing is awaited from the source. */
static int lazy_get(void *opaque, const struct fs_file *f, uint32_t i,
		    void *dst, size_t cap, struct sd_err *why)
{
	struct view *w = opaque;
	struct sd_id ids[READAHEAD + 1];
	size_t n = 0;
	int r = tfs_store_get(w->store, f, i, dst, cap, why);

	if (r != -ENOENT)
		return r;
	r = pass_get(w, f, i, dst, cap, why);
	if (r != -ENOENT)
		return r;
	if (gave_up(w, &f->chunks[i].id, false))
		return sd_err_set(why, -EIO,
				  "not here, and it did not arrive the last "
				  "time it was waited for");
	for (uint32_t k = i; k < f->nchunks && n < READAHEAD + 1; k++)
		ids[n++] = f->chunks[k].id;
	r = sd_sink_await(w->owner->sink, w->name, ids, n, w->owner->fetch_ms);
	if (r == -ETIMEDOUT) {
		gave_up(w, &ids[0], true);
		return sd_err_set(why, -EIO,
				  "did not arrive within %.1f s (is a tether "
				  "sync, watch or exec of the source still "
				  "running?)",
				  w->owner->fetch_ms / 1000.0);
	}
	if (r < 0)
		return sd_err_set(why, -EIO, "%s",
				  r == -ESHUTDOWN ? "the node is stopping"
						  : strerror(-r));
	memset(why, 0, sizeof(*why));
	return tfs_store_get(w->store, f, i, dst, cap, why);
}

/* A tfs_source define (opaque = the view): a pending file's chunk list,
 * asked of the source and awaited. */
static int lazy_define(void *opaque, const struct fs_file *f,
		       struct fs_file *out, struct sd_err *why)
{
	struct view *w = opaque;
	struct sd_chunkref *c = NULL;
	struct sd_id key;
	uint32_t n = 0;
	int r;

	/* The kernel retries a failed read: the one that waited stands for
	 * it a fetch timeout long. */
	sd_id_of(&key, f->path, strlen(f->path));
	if (gave_up(w, &key, false))
		return sd_err_set(why, -EIO,
				  "its content was waited for and did not "
				  "arrive");
	r = sd_sink_define_await(w->owner->sink, w->name, f->path, f->size,
				 f->mtime_ns, w->owner->fetch_ms, &c, &n, why);
	if (r == -ETIMEDOUT) {
		gave_up(w, &key, true);
		return sd_err_set(why, -EIO,
				  "its content (metadata went ahead) did not "
				  "arrive within %.1f s (is a tether sync, "
				  "watch or exec of the source still running?)",
				  w->owner->fetch_ms / 1000.0);
	}
	if (r == -ESHUTDOWN)
		return sd_err_set(why, -EIO, "the node is stopping");
	if (r < 0)
		return why->what[0] ? r
				    : sd_err_set(why, r, "%s", strerror(-r));
	*out = (struct fs_file){ .ino = f->ino,
				 .size = f->size,
				 .path = strdup(f->path) };
	r = out->path ? fs_file_set_chunks(out, c, n) : -ENOMEM;
	free(c);
	if (r < 0) {
		fs_file_free(out);
		return sd_err_set(why, r, "out of memory");
	}
	return 0;
}

int fs_views_new(const char *root, struct sd_sink *sink, unsigned fetch_ms,
		 struct fs_views **ret)
{
	struct fs_views *v;
	struct dirent *d;
	DIR *dir;
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		int r = -errno;

		log_error_errno(r, "--view: /dev/fuse");
		return r;
	}
	close(fd);
	v = calloc(1, sizeof(*v));
	if (!v || asprintf(&v->dir, "%s/views", root) < 0 ||
	    asprintf(&v->upper, "%s/.tether/upper", root) < 0) {
		if (v)
			free(v->dir);
		free(v);
		return -ENOMEM;
	}
	pthread_mutex_init(&v->lock, NULL);
	v->sink = sink;
	v->fetch_ms = fetch_ms;
	if (mkdir(v->dir, 0755) < 0 && errno != EEXIST) {
		int r = -errno;

		log_error_errno(r, "views %s", v->dir);
		fs_views_free(v);
		return r;
	}
	/* A node killed with -9 leaves its views mounted, answering nothing
	 * (ENOTCONN): detach them before anything looks there. */
	dir = opendir(v->dir);
	while (dir && (d = readdir(dir))) {
		char *p;

		if (d->d_name[0] == '.' ||
		    asprintf(&p, "%s/%s", v->dir, d->d_name) < 0)
			continue;
		if (tfs_clear_stale(p) < 0)
			log_warn("views: %s: cannot detach a stale mount", p);
		free(p);
	}
	if (dir)
		closedir(dir);
	*ret = v;
	return 0;
}

static struct view *view_add(struct fs_views *v, const char *name,
			     struct sd_store *store)
{
	struct view *w = calloc(1, sizeof(*w));
	struct sd_err why = { "" };
	char *path = NULL, *upper = NULL;
	int r;

	if (w) {
		w->owner = v;
		w->store = store;
		pthread_mutex_init(&w->lock, NULL);
	}
	if (!w || !(w->name = strdup(name)) ||
	    asprintf(&path, "%s/%s", v->dir, name) < 0 ||
	    asprintf(&upper, "%s/%s", v->upper, name) < 0) {
		if (w)
			free(w->name);
		free(w);
		free(path);
		return NULL;
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		log_error_errno(-errno, "view %s: %s", name, path);
	} else {
		struct tfs_source src = { lazy_get, w, lazy_define };

		r = tfs_mount(path, name, &src, upper, &w->fs, &why);
		if (r < 0)
			log_error("%s; the workspace has no view", why.what);
		else
			log_info("workspace %s: view mounted at %s", name,
				 path);
	}
	free(path);
	free(upper);
	w->next = v->list;
	v->list = w;
	return w;
}

void fs_views_on_version(void *opaque, const char *name,
			 const struct sd_manifest *cur, struct sd_store *store)
{
	struct fs_views *v = opaque;
	struct view *w;

	pthread_mutex_lock(&v->lock);
	for (w = v->list; w && strcmp(w->name, name) != 0; w = w->next)
		;
	if (!w)
		w = view_add(v, name, store);
	pthread_mutex_unlock(&v->lock);
	/* The sink calls under the workspace's commit lock, so versions of
	 * one workspace arrive in order. */
	if (w && w->fs && tfs_set(w->fs, cur) < 0)
		log_error("view %s: out of memory: it stays at the version "
			  "before %" PRIu64,
			  name, cur->version);
}

/* name's view, when it is mounted and served. */
static struct tfs *find(struct fs_views *v, const char *name)
{
	struct view *w;

	pthread_mutex_lock(&v->lock);
	for (w = v->list; w && strcmp(w->name, name) != 0; w = w->next)
		;
	pthread_mutex_unlock(&v->lock);
	return w && w->fs && tfs_alive(w->fs) ? w->fs : NULL;
}

/* tether changes: each change with whether the agent changed it too. */
struct with_bases {
	fs_change_fn fn;
	void *opaque;
	const struct sd_manifest *lower;
	struct fs_bases *bases;
};

static bool flag_conflict(void *opaque, const struct fs_change *c)
{
	struct with_bases *wb = opaque;
	const struct sd_entry *cur =
		sd_manifest_find(wb->lower, c->path, c->path_len);
	struct fs_change d = *c;
	struct sd_id id;
	bool had;

	/* Against the base a command changed: the lower entry it shadowed
	 * must still be there as it was; where it had nothing, nothing
	 * must have come. A path with no base is the lower's only when
	 * the agent made it since (a command made nothing there first). */
	if (wb->bases &&
	    fs_bases_get(wb->bases, c->path, c->path_len, &had, &id) == 1)
		d.conflict = had ? !cur || memcmp(&cur->hash, &id, sizeof(id))
				 : cur != NULL;
	else
		d.conflict = cur != NULL;
	return wb->fn(wb->opaque, &d);
}

int fs_views_changes(struct fs_views *v, const char *name, fs_change_fn fn,
		     void *opaque, struct sd_err *why)
{
	struct tfs *fs = find(v, name);
	struct with_bases wb = { fn, opaque, NULL, NULL };
	void *hold;
	int tree, r;

	if (!fs)
		return sd_err_set(why, -ENOENT, "workspace %s has no view",
				  name);
	tree = tfs_upper_tree(fs);
	if (tree < 0)
		return sd_err_set(why, tree,
				  "workspace %s: its upper layer: %s", name,
				  strerror(-tree));
	wb.lower = tfs_hold(fs, &hold);
	wb.bases = tfs_bases(fs);
	r = fs_changes_walk(tree, wb.lower, flag_conflict, &wb);
	fs_view_release(hold);
	close(tree);
	if (r < 0)
		sd_err_set(why, r, "workspace %s: reading its changes: %s",
			   name, strerror(-r));
	return r;
}

void fs_read_free(struct fs_read *r)
{
	if (!r)
		return;
	free(r->target);
	free(r->data);
	memset(r, 0, sizeof(*r));
}

/* Read base in dfd (an upper directory) into out. */
static int read_entry(int dfd, const char *base, uint64_t off, uint32_t max,
		      struct fs_read *out)
{
	struct stat st;
	ssize_t n;
	int fd;

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (fs_upper_is_whiteout(&st))
		return -ENOENT;
	out->mode = st.st_mode & 07777;
	out->mtime_ns =
		(int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	out->size = (uint64_t)st.st_size;
	if (S_ISDIR(st.st_mode)) {
		out->type = SD_T_DIR;
		out->size = 0;
		return 0;
	}
	if (S_ISLNK(st.st_mode)) {
		out->type = SD_T_SYMLINK;
		out->target = malloc(SD_PATH_MAX + 1);
		if (!out->target)
			return -ENOMEM;
		n = readlinkat(dfd, base, out->target, SD_PATH_MAX);
		if (n <= 0)
			return n < 0 ? -errno : -EINVAL;
		out->target[n] = '\0';
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return -EINVAL; /* a fifo or a socket: nothing to carry */
	out->type = SD_T_FILE;
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	out->data = malloc(max ? max : 1);
	n = out->data ? pread(fd, out->data, max, (off_t)off) : -1;
	if (n < 0 && !out->data)
		errno = ENOMEM;
	close(fd);
	if (n < 0)
		return -errno;
	out->len = (uint32_t)n;
	return 0;
}

int fs_views_read(struct fs_views *v, const char *name, const char *path,
		  size_t len, uint64_t off, uint32_t max, struct fs_read *out,
		  struct sd_err *why)
{
	struct tfs *fs = find(v, name);
	char buf[SD_PATH_MAX + 1];
	const char *base = buf;
	char *slash;
	int tree, dfd, r;

	memset(out, 0, sizeof(*out));
	if (!fs)
		return sd_err_set(why, -ENOENT, "workspace %s has no view",
				  name);
	r = sd_path_check(path, len, why);
	if (r < 0)
		return r;
	memcpy(buf, path, len);
	buf[len] = '\0';
	tree = tfs_upper_tree(fs);
	if (tree < 0)
		return sd_err_set(why, tree,
				  "workspace %s: its upper layer: %s", name,
				  strerror(-tree));
	slash = strrchr(buf, '/');
	if (slash) {
		*slash = '\0';
		base = slash + 1;
	}
	dfd = util_open_beneath(tree, slash ? buf : "", O_RDONLY | O_DIRECTORY);
	r = dfd < 0 ? -errno : read_entry(dfd, base, off, max, out);
	if (dfd >= 0)
		close(dfd);
	close(tree);
	if (r < 0) {
		fs_read_free(out);
		if (slash)
			*slash = '/';
		return sd_err_set(why, r == -ENOTDIR ? -ENOENT : r,
				  "workspace %s: %s in its changes: %s", name,
				  buf,
				  r == -ENOENT || r == -ENOTDIR
					  ? "not there (changed since?)"
					  : strerror(-r));
	}
	return 0;
}

int fs_views_reset(struct fs_views *v, const char *name, struct sd_err *why)
{
	struct tfs *fs = find(v, name);
	int r;

	if (!fs)
		return sd_err_set(why, -ENOENT, "workspace %s has no view",
				  name);
	r = tfs_reset(fs);
	if (r < 0)
		sd_err_set(why, r, "workspace %s: discarding its changes: %s",
			   name, strerror(-r));
	else
		log_info("workspace %s: changes discarded", name);
	return r;
}

int fs_views_dir(struct fs_views *v, const char *name, char *out, size_t cap)
{
	if (!find(v, name))
		return -ENOENT;
	if ((size_t)snprintf(out, cap, "%s/%s", v->dir, name) >= cap)
		return -ENAMETOOLONG;
	return 0;
}

void fs_views_free(struct fs_views *v)
{
	if (!v)
		return;
	while (v->list) {
		struct view *w = v->list;

		v->list = w->next;
		tfs_unmount(w->fs);
		pthread_mutex_destroy(&w->lock);
		free(w->name);
		free(w);
	}
	pthread_mutex_destroy(&v->lock);
	free(v->dir);
	free(v->upper);
	free(v);
}
