/* SPDX-License-Identifier: MIT */
/* Recursive inotify watcher: a tree of watched directories (wd -> node hash,
 * (parent, name) -> node hash), coalesced batches, and rescan fallbacks. */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"
#include "clock.h"
#include "log.h"
#include "watch_batch.h"
#include "watch_tree.h"

#define DIR_MASK                                                          \
	(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | \
	 IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |    \
	 IN_ONLYDIR | IN_EXCL_UNLINK)

/* Bytes per read(2): about 2,000 events (one is at most 16 + NAME_MAX + 1
 * bytes, and the kernel never splits one across reads). */
#define READ_BUF (64u * 1024u)
/* Directories waiting to be listed: bounded like the tree itself. */
#define SCAN_MAX (1u << 24)
/* Longest relative path reported; like the manifest's. */
#define PATH_CAP SD_PATH_MAX
/* Retry unwatched directories at least every this many rescan ticks. */
#define RETRY_TICKS 15u

struct scan_item {
	int wd;
	bool deep;
};

/* Why a batch (or the watcher) fell back to rescans: each warned once. */
enum cause {
	CAUSE_LIMIT,
	CAUSE_WATCH_ERR,
	CAUSE_OVERFLOW,
	CAUSE_ROOT,
	CAUSE_TOO_LONG,
	CAUSE_NOMEM,
	CAUSE_SCAN_ERR,
	CAUSE__MAX,
};

struct sd_watch {
	int ifd;
	/* The root, open only inside sd_watch_new() and sd_watch_read():
	 * an fd held for good would pin the directory and hold back the
	 * IN_DELETE_SELF that says it was deleted. */
	int root_fd;
	char *root_path;
	sd_watch_skip_fn skip;
	void *opaque;
	bool use_proc; /* add watches through /proc/self/fd */

	struct sd_wtree t;

	/* Directories to list, by wd (a node may go away meanwhile); deep:
	 * list known subdirectories too (a moved directory, a resync). */
	struct scan_item *scan;
	size_t nscan, scan_cap;
	bool quiet; /* resync: do not report paths */
	unsigned int epoch;

	bool lost;	  /* this batch must be a rescan */
	bool need_resync; /* the tree may be stale: walk it again */
	bool root_lost;	  /* root gone: re-open it on the next tick */
	bool warned[CAUSE__MAX];
	unsigned long overflows;
	unsigned int rescan_ms;
	int64_t next_tick;
	unsigned int ticks_since_retry;

	struct sd_watch_batch *b; /* the batch being filled */
	char path[PATH_CAP + 1];  /* scratch for event paths */
	char *buf;		  /* READ_BUF bytes of events */
};

static void lose(struct sd_watch *w, enum cause c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Adds one path to the batch being filled. A path that cannot be kept
 * (memory, the cap) turns the batch into a rescan: never dropped quietly. */
static void report(struct sd_watch *w, const char *path, size_t len)
{
	if (w->quiet || !w->b || len == 0)
		return;
	if (sdw_batch_add(w->b, path, len) < 0)
		lose(w, CAUSE_NOMEM, "out of memory collecting changed paths");
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- logging ---- */

static long read_sysctl(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/* The name for a log line: bytes that are not printable ASCII (names need
 * not be UTF-8 and may hold newlines) become \xNN, so it stays one line. */
static const char *quote(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	for (; *s && o + 5 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c >= 0x7f || c == '\\' || c == '\'')
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (*s && o + 4 <= cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* Marks this batch as a rescan and logs the cause: a warning the first time,
 * debug afterwards, so a flood of failures costs the user one line. */
static void lose(struct sd_watch *w, enum cause c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	w->lost = true;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (!w->warned[c]) {
		w->warned[c] = true;
		log_warn("%s", line);
	} else {
		log_debug("%s", line);
	}
}

static void lose_limit(struct sd_watch *w, const char *relpath)
{
	char q[512];
	long fs, user;

	if (w->warned[CAUSE_LIMIT]) {
		lose(w, CAUSE_LIMIT, "inotify watch limit reached at '%s'",
		     quote(relpath, q, sizeof(q)));
		return;
	}
	fs = read_sysctl("/proc/sys/fs/inotify/max_user_watches");
	user = read_sysctl("/proc/sys/user/max_inotify_watches");

	/* Inside a user namespace the namespace's own limit is the one that
	 * bites; on the host both files show the same number. */
	if (user >= 0 && user != fs)
		lose(w, CAUSE_LIMIT,
		     "inotify watch limit reached (user.max_inotify_watches=%ld) at '%s': falling back to full rescans",
		     user, quote(relpath, q, sizeof(q)));
	else
		lose(w, CAUSE_LIMIT,
		     "inotify watch limit reached (fs.inotify.max_user_watches=%ld) at '%s': falling back to full rescans",
		     fs, quote(relpath, q, sizeof(q)));
}

static void scan_push(struct sd_watch *w, int wd, bool deep)
{
	if (w->nscan == w->scan_cap) {
		size_t ncap = w->scan_cap ? 2 * w->scan_cap : 256;
		struct scan_item *ns;

		if (ncap > SCAN_MAX) {
			lose(w, CAUSE_NOMEM,
			     "too many new directories to list at once");
			w->need_resync = true;
			return;
		}
		ns = realloc(w->scan, ncap * sizeof(*ns));
		if (!ns) {
			lose(w, CAUSE_NOMEM,
			     "out of memory listing new directories");
			w->need_resync = true;
			return;
		}
		w->scan = ns;
		w->scan_cap = ncap;
	}
	w->scan[w->nscan].wd = wd;
	w->scan[w->nscan++].deep = deep;
}

static void lose_root(struct sd_watch *w);

/* The root's fd, opened on first use in a read and checked to be the same
 * directory: a root that was replaced is lost, not silently followed. */
static int root_get(struct sd_watch *w)
{
	struct stat st;
	int fd;

	if (w->root_fd >= 0 || w->root_lost)
		return w->root_fd;
	fd = open(w->root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_dev != w->t.root->dev ||
	    st.st_ino != w->t.root->ino) {
		if (fd >= 0)
			close(fd);
		lose_root(w);
		return -1;
	}
	w->root_fd = fd;
	return fd;
}

/* Opens the directory at relpath under the root without following any
 * symlink: the tree may change under us, and a directory swapped for a
 * link must not send the watcher outside the root. */
static int open_beneath(struct sd_watch *w, const char *relpath)
{
	if (root_get(w) < 0) {
		errno = ENOENT; /* the root is gone: so is all under it */
		return -1;
	}
	return util_open_beneath(w->root_fd, relpath, O_RDONLY | O_DIRECTORY);
}

/* Watches the directory open as fd (relpath names it for the fallback).
 * Through /proc/self/fd the watch lands on exactly the inode we hold, and
 * we list that same inode: no window where the path means something else.
 * Returns the wd or -errno. */
static int add_watch(struct sd_watch *w, int fd, const char *relpath)
{
	char p[PATH_CAP + 64];
	int wd;

	if (w->use_proc) {
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		wd = inotify_add_watch(w->ifd, p, DIR_MASK);
	} else {
		snprintf(p, sizeof(p), "%s%s%s", w->root_path,
			 *relpath ? "/" : "", relpath);
		wd = inotify_add_watch(w->ifd, p, DIR_MASK | IN_DONT_FOLLOW);
	}
	return wd < 0 ? -errno : wd;
}

static struct sd_wnode *node_new(struct sd_watch *w, struct sd_wnode *p,
				 const char *name, size_t len, int wd)
{
	struct sd_wnode *n = sd_wtree_add(&w->t, p, name, len);

	if (!n)
		return NULL;
	n->epoch = w->epoch;
	if (wd >= 0 && sd_wtree_watch(&w->t, n, wd) < 0) {
		sd_wtree_drop(&w->t, n, false);
		return NULL;
	}
	return n;
}

/* A directory we could not watch: keep a node so the degraded mode knows
 * what to retry, and make this batch a rescan. Returns r. */
static int mark_unwatched(struct sd_watch *w, struct sd_wnode *p,
			  const char *name, size_t len, const char *relpath,
			  int r)
{
	char q[512];

	if (p && !node_new(w, p, name, len, -1))
		w->need_resync = true;
	if (r == -ENOSPC) {
		lose_limit(w, relpath);
	} else {
		lose(w, CAUSE_WATCH_ERR,
		     "cannot watch '%s': %s: falling back to full rescans",
		     quote(relpath, q, sizeof(q)), strerror(-r));
	}
	return r;
}

/* name under p is, or may be, a directory (created, moved in, found by a
 * listing). Watches it (or finds the watch it already has: a known inode
 * means a directory moved within the tree), places its node and queues it
 * to be listed. pfd: p open, or -1 to open it from the root. */
static int appear(struct sd_watch *w, struct sd_wnode *p, const char *name,
		  size_t len, int pfd, bool deep)
{
	char path[PATH_CAP + 1];
	struct sd_wnode *old = sd_wtree_by_name(&w->t, p, name, len), *x;
	ssize_t pl =
		sd_wtree_child_path(&w->t, p, name, len, path, sizeof(path));
	struct stat st;
	int fd, wd;

	if (old)
		old->epoch = w->epoch; /* still there for a resync walk */
	if (pl == -ENOENT)
		return 0; /* p is in limbo */
	if (pl < 0) {
		char q[512];

		if (old)
			sd_wtree_drop(&w->t, old, true);
		sd_wtree_path(&w->t, p, path, sizeof(path));
		lose(w, CAUSE_TOO_LONG,
		     "a path under '%s' is longer than %u bytes: not watched",
		     quote(path, q, sizeof(q)), PATH_CAP);
		return 0;
	}
	if (w->skip && w->skip(path, (size_t)pl, w->opaque)) {
		if (old)
			sd_wtree_drop(&w->t, old, true);
		return 0;
	}
	if (pfd >= 0)
		fd = openat(pfd, name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	else
		fd = open_beneath(w, path);
	if (fd < 0) {
		int r = -errno;

		/* Gone, or not a directory (a symlink, a file that took the
		 * name): nothing to watch; the events say the rest. */
		if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP ||
		    r == -EXDEV) {
			if (old)
				sd_wtree_drop(&w->t, old, true);
			return 0;
		}
		if (old && old->wd < 0)
			return r; /* still unwatched; already said so */
		if (old)
			sd_wtree_drop(&w->t, old, true);
		return mark_unwatched(w, p, name, len, path, r);
	}
	wd = add_watch(w, fd, path);
	if (wd >= 0 && fstat(fd, &st) < 0)
		st.st_dev = 0, st.st_ino = 0;
	close(fd);
	if (wd < 0) {
		if (wd == -ENOENT || wd == -ENOTDIR) {
			if (old)
				sd_wtree_drop(&w->t, old, true);
			return 0;
		}
		if (old && old->wd < 0)
			return wd;
		if (old)
			sd_wtree_drop(&w->t, old, true);
		return mark_unwatched(w, p, name, len, path, wd);
	}
	x = sd_wtree_by_wd(&w->t, wd);
	if (x == w->t.root) {
		/* The root itself under its own tree (a bind mount): the wd
		 * is the root's, keep it and do not build a cycle. */
		if (old)
			sd_wtree_drop(&w->t, old, true);
		return 0;
	}
	if (x && x == old) {
		if (deep)
			scan_push(w, wd, true);
		return 0;
	}
	if (old && old->wd < 0 && !x) {
		/* A retry that worked: the node stays, now watched. */
		if (sd_wtree_watch(&w->t, old, wd) < 0) {
			inotify_rm_watch(w->ifd, wd);
			w->need_resync = true;
			w->lost = true;
			return 0;
		}
		old->dev = st.st_dev;
		old->ino = st.st_ino;
		scan_push(w, wd, deep);
		return 0;
	}
	if (old)
		sd_wtree_drop(&w->t, old, true);
	if (x) {
		/* Known inode, new place: the directory moved within the
		 * tree. Its watches stay; its paths follow the node, and
		 * everything in it is listed under the new name. */
		if (sd_wtree_is_under(p, x) ||
		    sd_wtree_place(&w->t, x, p, name, len) < 0) {
			w->need_resync = true;
			w->lost = true;
			return 0;
		}
		deep = true;
	} else {
		x = node_new(w, p, name, len, wd);
		if (!x) {
			inotify_rm_watch(w->ifd, wd);
			lose(w, CAUSE_NOMEM,
			     "out of memory watching a directory");
			w->need_resync = true;
			return 0;
		}
	}
	x->dev = st.st_dev;
	x->ino = st.st_ino;
	x->epoch = w->epoch;
	scan_push(w, wd, deep);
	return 0;
}

/* Lists one queued directory: reports every entry, and lets appear()
 * watch and queue each subdirectory. */
static void scan_one(struct sd_watch *w, struct sd_wnode *n, bool deep)
{
	char path[PATH_CAP + 1];
	ssize_t pl = sd_wtree_path(&w->t, n, path, sizeof(path));
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd;

	if (pl < 0)
		return;
	fd = open_beneath(w, path);
	if (fd < 0) {
		int r = -errno;
		struct sd_wnode *c;

		if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP)
			return; /* gone; its events follow */
		if (n == w->t.root) {
			char q[512];

			lose(w, CAUSE_SCAN_ERR,
			     "cannot list '%s': %s: falling back to full rescans",
			     quote(w->root_path, q, sizeof(q)), strerror(-r));
			return;
		}
		/* Watched but not listable (EACCES, EMFILE): as good as
		 * unwatched, so the degraded mode retries it. */
		while ((c = n->child))
			sd_wtree_drop(&w->t, c, true);
		sd_wtree_unwatch(&w->t, n, true);
		mark_unwatched(w, NULL, NULL, 0, path, r);
		return;
	}
	/* A node whose path now names another directory: a move we have not
	 * read yet; its MOVED_TO will list it. */
	if (fstat(fd, &st) < 0 || st.st_dev != n->dev || st.st_ino != n->ino) {
		close(fd);
		return;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		lose(w, CAUSE_NOMEM, "out of memory listing directories");
		return;
	}
	while ((errno = 0, de = readdir(d))) {
		const char *nm = de->d_name;
		size_t len = strlen(nm), at = (size_t)pl + (pl > 0);
		bool dir = de->d_type == DT_DIR;

		if (nm[0] == '.' &&
		    (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
			continue;
		if (at + len < sizeof(path)) {
			if (pl > 0)
				path[pl] = '/';
			memcpy(path + at, nm, len + 1);
			report(w, path, at + len);
			path[pl] = '\0';
		} else {
			lose(w, CAUSE_TOO_LONG,
			     "a changed path is longer than %u bytes",
			     PATH_CAP);
		}
		if (de->d_type == DT_UNKNOWN) {
			struct stat cs;

			dir = fstatat(dirfd(d), nm, &cs, AT_SYMLINK_NOFOLLOW) ==
				      0 &&
			      S_ISDIR(cs.st_mode);
		}
		if (dir)
			appear(w, n, nm, len, dirfd(d), deep);
	}
	if (errno) {
		char q[512];

		lose(w, CAUSE_SCAN_ERR,
		     "cannot list '%s': %s: falling back to full rescans",
		     quote(path, q, sizeof(q)), strerror(errno));
	}
	closedir(d);
}

static void drain(struct sd_watch *w)
{
	while (w->nscan) {
		struct scan_item it = w->scan[--w->nscan];
		struct sd_wnode *n = sd_wtree_by_wd(&w->t, it.wd);

		if (n)
			scan_one(w, n, it.deep);
	}
}

static void lose_root(struct sd_watch *w)
{
	char q[512];

	w->root_lost = true;
	lose(w, CAUSE_ROOT,
	     "watched directory '%s' was moved or deleted: falling back to full rescans",
	     quote(w->root_path, q, sizeof(q)));
}

/* Walks the whole tree again after events were lost: known inodes are found
 * through their watches and put back where they are, directories nobody
 * saw appear are watched, nodes no longer in the tree are dropped. */
static void resync(struct sd_watch *w)
{
	struct sd_wnode *n;

	w->need_resync = false;
	w->epoch++;
	w->t.root->epoch = w->epoch;
	w->quiet = true;
	scan_push(w, w->t.root->wd, true);
	drain(w);
	w->quiet = false;
	/* Sweep; a dropped subtree is skipped whole. */
	n = sd_wtree_next(&w->t, w->t.root, true);
	while (n) {
		struct sd_wnode *next;

		if (n->epoch == w->epoch) {
			n = sd_wtree_next(&w->t, n, true);
			continue;
		}
		next = sd_wtree_next(&w->t, n, false);
		sd_wtree_drop(&w->t, n, true);
		n = next;
	}
}

/* Forgets every watch and builds the tree again from the root's path: the
 * root was replaced (rm -rf && mkdir, a fresh clone) or never watched. */
static void rebuild(struct sd_watch *w)
{
	char q[512];
	struct sd_wnode *n;
	struct stat st;
	int fd, wd;

	while ((n = w->t.root->child))
		sd_wtree_drop(&w->t, n, true);
	while ((n = w->t.limbo.child))
		sd_wtree_drop(&w->t, n, true);
	sd_wtree_unwatch(&w->t, w->t.root, true);
	fd = open(w->root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	wd = add_watch(w, fd, "");
	if (wd < 0 || fstat(fd, &st) < 0) {
		if (wd == -ENOSPC)
			lose_limit(w, ".");
		close(fd);
		return;
	}
	if (w->root_fd >= 0)
		close(w->root_fd);
	w->root_fd = fd;
	w->t.root->dev = st.st_dev;
	w->t.root->ino = st.st_ino;
	if (sd_wtree_watch(&w->t, w->t.root, wd) < 0) {
		inotify_rm_watch(w->ifd, wd);
		return;
	}
	w->root_lost = false;
	w->lost = true; /* whatever happened while it was gone */
	w->quiet = true;
	scan_push(w, wd, false);
	drain(w);
	w->quiet = false;
	w->need_resync = false;
	log_info("watching '%s' again", quote(w->root_path, q, sizeof(q)));
}

/* Tries again every directory that could not be watched. */
static void retry_unwatched(struct sd_watch *w)
{
	struct sd_wnode **v, *n;
	size_t nv = 0, cap = w->t.nunwatched;

	if (!cap)
		return;
	v = malloc(cap * sizeof(*v));
	if (!v)
		return;
	for (n = sd_wtree_next(&w->t, w->t.root, true); n && nv < cap;
	     n = sd_wtree_next(&w->t, n, true))
		if (n->wd < 0)
			v[nv++] = n;
	/* appear() on one unwatched node touches only that node (listing
	 * waits for drain()), so the others in v stay valid. */
	for (size_t i = 0; i < nv; i++) {
		char name[NAME_MAX + 1];
		size_t nl = v[i]->name_len;

		/* appear() may free the node, name and all. */
		memcpy(name, v[i]->name, nl);
		if (appear(w, v[i]->parent, name, nl, -1, false) == -ENOSPC)
			break; /* still full: the rest would fail too */
	}
	free(v);
	drain(w);
}

/* ---- events ---- */

static void handle(struct sd_watch *w, const struct inotify_event *ev)
{
	struct sd_wnode *n, *c;
	size_t len;
	ssize_t pl;

	if (ev->mask & IN_Q_OVERFLOW) {
		long q = read_sysctl("/proc/sys/fs/inotify/max_queued_events");

		w->overflows++;
		w->need_resync = true;
		lose(w, CAUSE_OVERFLOW,
		     "inotify event queue overflowed (fs.inotify.max_queued_events=%ld): events lost, rescanning",
		     q);
		return;
	}
	n = sd_wtree_by_wd(&w->t, ev->wd);
	if (!n)
		return; /* a watch we already dropped */
	if (ev->mask & IN_IGNORED) {
		/* The kernel already dropped this one. */
		sd_wtree_unwatch(&w->t, n, false);
		if (n == w->t.root) {
			lose_root(w);
		} else if (n->parent && n->parent != &w->t.limbo) {
			/* Deleted, or a file system under it unmounted:
			 * look again at what the name holds now. */
			struct sd_wnode *p = n->parent;
			char name[NAME_MAX + 1];
			size_t nl = n->name_len;

			memcpy(name, n->name, nl);
			sd_wtree_drop(&w->t, n, true);
			appear(w, p, name, nl, -1, false);
		} else {
			sd_wtree_drop(&w->t, n, true);
		}
		return;
	}
	if (n == w->t.root &&
	    (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT))) {
		lose_root(w);
		return;
	}
	len = ev->len ? strnlen(ev->name, ev->len) : 0;
	if (len == 0) {
		/* An event on a subdirectory itself: its parent usually
		 * says the same with a name; the set removes the twin. */
		if (n != w->t.root) {
			pl = sd_wtree_path(&w->t, n, w->path, sizeof(w->path));
			if (pl > 0)
				report(w, w->path, (size_t)pl);
		}
		return;
	}
	pl = sd_wtree_child_path(&w->t, n, ev->name, len, w->path,
				 sizeof(w->path));
	if (pl == -ENOENT)
		return; /* in a directory that moved away */
	if (pl < 0) {
		lose(w, CAUSE_TOO_LONG,
		     "a changed path is longer than %u bytes", PATH_CAP);
		return;
	}
	report(w, w->path, (size_t)pl);
	if (!(ev->mask & IN_ISDIR))
		return;
	if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
		appear(w, n, ev->name, len, -1, false);
	} else if (ev->mask & IN_MOVED_FROM) {
		c = sd_wtree_by_name(&w->t, n, ev->name, len);
		if (c && c->wd >= 0) {
			/* Park it: a MOVED_TO in this batch finds it again by
			 * its watch; if none does, it left the tree. */
			c->from_wd = n->wd;
			if (sd_wtree_place(&w->t, c, &w->t.limbo, c->name,
					   c->name_len) < 0)
				sd_wtree_drop(&w->t, c, true);
		} else if (c) {
			sd_wtree_drop(&w->t, c, true);
		}
	} else if (ev->mask & IN_DELETE) {
		c = sd_wtree_by_name(&w->t, n, ev->name, len);
		if (c)
			sd_wtree_drop(&w->t, c, false);
	}
}

/* ---- public ---- */

int sd_watch_new(const char *root, sd_watch_skip_fn skip, void *opaque,
		 struct sd_watch **ret, struct sd_err *why)
{
	struct sd_watch *w;
	struct stat st;
	char q[512];
	int r, wd;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->ifd = -1;
	w->root_fd = -1;
	w->skip = skip;
	w->opaque = opaque;
	w->rescan_ms = SD_WATCH_RESCAN_MS;
	w->buf = malloc(READ_BUF);
	w->root_path = realpath(root, NULL);
	if (!w->root_path) {
		r = -errno;
		snprintf(why->what, sizeof(why->what), "watch '%s': %s",
			 quote(root, q, sizeof(q)), strerror(-r));
		goto fail;
	}
	if (!w->buf || sd_wtree_init(&w->t, -1) < 0) {
		r = -ENOMEM;
		snprintf(why->what, sizeof(why->what), "watch: out of memory");
		goto fail;
	}
	w->root_fd = open(w->root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->root_fd < 0 || fstat(w->root_fd, &st) < 0) {
		r = -errno;
		snprintf(why->what, sizeof(why->what), "watch '%s': %s",
			 quote(root, q, sizeof(q)), strerror(-r));
		goto fail;
	}
	w->t.root->dev = st.st_dev;
	w->t.root->ino = st.st_ino;
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ifd < 0) {
		r = -errno;
		if (r == -EMFILE)
			snprintf(
				why->what, sizeof(why->what),
				"watch '%s': inotify instance limit reached (fs.inotify.max_user_instances=%ld)",
				quote(root, q, sizeof(q)),
				read_sysctl(
					"/proc/sys/fs/inotify/max_user_instances"));
		else
			snprintf(why->what, sizeof(why->what),
				 "watch '%s': inotify: %s",
				 quote(root, q, sizeof(q)), strerror(-r));
		goto fail;
	}
	w->t.ifd = w->ifd;
	w->use_proc = access("/proc/self/fd", X_OK) == 0;
	wd = add_watch(w, w->root_fd, "");
	if (wd == -ENOSPC) {
		/* Not one watch left: run degraded from the start. */
		lose_limit(w, ".");
		w->root_lost = true;
	} else if (wd < 0) {
		r = wd;
		snprintf(why->what, sizeof(why->what), "watch '%s': %s",
			 quote(root, q, sizeof(q)), strerror(-r));
		goto fail;
	} else {
		if (sd_wtree_watch(&w->t, w->t.root, wd) < 0) {
			r = -ENOMEM;
			snprintf(why->what, sizeof(why->what),
				 "watch: out of memory");
			goto fail;
		}
		w->quiet = true;
		scan_push(w, wd, false);
		drain(w);
		w->quiet = false;
	}
	close(w->root_fd);
	w->root_fd = -1;
	/* Anything that went wrong in the walk is owed as a rescan now. */
	w->next_tick = w->lost ? util_now_ms() : util_now_ms() + w->rescan_ms;
	*ret = w;
	return 0;
fail:
	sd_watch_free(w);
	return r;
}

void sd_watch_free(struct sd_watch *w)
{
	if (!w)
		return;
	sd_wtree_fini(&w->t);
	/* Closing the instance drops every watch at once. */
	if (w->ifd >= 0)
		close(w->ifd);
	if (w->root_fd >= 0)
		close(w->root_fd);
	free(w->scan);
	free(w->buf);
	free(w->root_path);
	free(w);
}

int sd_watch_fd(const struct sd_watch *w)
{
	return w->ifd;
}

static bool degraded(const struct sd_watch *w)
{
	return w->root_lost || w->t.nunwatched > 0;
}

int sd_watch_timeout_ms(struct sd_watch *w)
{
	int64_t left;

	if (!degraded(w))
		return -1;
	left = w->next_tick - util_now_ms();
	return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

void sd_watch_set_rescan_interval(struct sd_watch *w, unsigned int ms)
{
	w->rescan_ms = ms ? ms : 1;
	if (w->next_tick > util_now_ms() + w->rescan_ms)
		w->next_tick = util_now_ms() + w->rescan_ms;
}

void sd_watch_get_stats(const struct sd_watch *w, struct sd_watch_stats *out)
{
	out->watched = w->t.nwatched;
	out->unwatched = w->t.nunwatched;
	out->overflows = w->overflows;
	out->root_lost = w->root_lost;
}

/* Processes one read(2) worth of events; returns how many. */
static size_t handle_buf(struct sd_watch *w, const char *buf, size_t n)
{
	size_t off = 0, count = 0;

	while (off + sizeof(struct inotify_event) <= n) {
		struct inotify_event ev;

		memcpy(&ev, buf + off, sizeof(ev));
		if (off + sizeof(ev) + ev.len > n)
			break;
		handle(w,
		       (const struct inotify_event *)(const void *)(buf + off));
		off += sizeof(ev) + ev.len;
		count++;
	}
	return count;
}

/* Directories moved away and not seen again in this batch. Most left the
 * tree. But appear() places directories where they are now, not where the
 * event being handled saw them, so a later, stale IN_MOVED_FROM (renames
 * that swap two directories, a name reused at once) can park one that is
 * still in place: look at its old name before letting it go. */
static void settle_moves(struct sd_watch *w)
{
	struct sd_wnode *n;

	while ((n = w->t.limbo.child)) {
		struct sd_wnode *p = sd_wtree_by_wd(&w->t, n->from_wd);
		char name[NAME_MAX + 1];
		size_t nl = n->name_len;

		if (p && p != n && !sd_wtree_is_under(p, &w->t.limbo)) {
			memcpy(name, n->name, nl);
			/* Finds n by its watch if it is there: puts it
			 * back and lists it (its events were dropped while
			 * it had no path). Never frees n. */
			appear(w, p, name, nl, -1, true);
		}
		if (n->parent == &w->t.limbo)
			sd_wtree_drop(&w->t, n, true);
	}
	drain(w);
}

/* The end of a batch: settle moves, repair the tree, and in degraded mode
 * retry what could not be watched. */
static void finish(struct sd_watch *w, bool any)
{
	int64_t now = util_now_ms();

	settle_moves(w);
	if (w->root_lost) {
		if (now >= w->next_tick)
			rebuild(w);
	} else if (w->need_resync) {
		resync(w);
	}
	if (!degraded(w))
		return;
	if (now < w->next_tick) {
		if (any)
			w->lost = true;
		return;
	}
	w->lost = true;
	w->next_tick = now + w->rescan_ms;
	if (!w->root_lost && w->t.nunwatched &&
	    (w->t.freed || ++w->ticks_since_retry >= RETRY_TICKS)) {
		w->t.freed = false;
		w->ticks_since_retry = 0;
		retry_unwatched(w);
		if (!degraded(w)) {
			char q[512];

			log_info("every directory under '%s' is watched again",
				 quote(w->root_path, q, sizeof(q)));
		}
	}
}

int sd_watch_read(struct sd_watch *w, struct sd_watch_batch *b,
		  unsigned int coalesce_ms, struct sd_err *why)
{
	int64_t start = util_now_ms();
	size_t events = 0;
	bool any = false;
	int r = 0;

	if (sdw_batch_prepare(b) < 0) {
		snprintf(why->what, sizeof(why->what), "watch: out of memory");
		return -ENOMEM;
	}
	if (coalesce_ms > SD_WATCH_BATCH_MS)
		coalesce_ms = SD_WATCH_BATCH_MS;
	w->b = b;
	for (;;) {
		ssize_t n = read(w->ifd, w->buf, READ_BUF);
		int64_t elapsed;
		struct pollfd pfd = { .fd = w->ifd, .events = POLLIN };
		int timeout;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			char q[512];

			r = -errno;
			snprintf(why->what, sizeof(why->what),
				 "watch '%s': read inotify events: %s",
				 quote(w->root_path, q, sizeof(q)),
				 strerror(-r));
			w->lost = true;
			break;
		}
		if (n > 0) {
			any = true;
			events += handle_buf(w, w->buf, (size_t)n);
			drain(w);
			if (events >= SD_WATCH_BATCH_EVENTS)
				break;
		}
		elapsed = util_now_ms() - start;
		if (!any || elapsed >= SD_WATCH_BATCH_MS)
			break;
		if (n > 0)
			continue; /* more may be queued already */
		timeout = (int)coalesce_ms;
		if (timeout > SD_WATCH_BATCH_MS - elapsed)
			timeout = (int)(SD_WATCH_BATCH_MS - elapsed);
		if (timeout <= 0 || poll(&pfd, 1, timeout) == 0)
			break;
	}
	finish(w, any);
	if (w->root_fd >= 0) {
		close(w->root_fd);
		w->root_fd = -1;
	}
	if (w->lost) {
		b->rescan = true;
		w->lost = false;
	}
	w->b = NULL;
	if (b->count > 1)
		qsort(b->paths, b->count, sizeof(*b->paths), cmp_path);
	if (r < 0)
		return r;
	return b->count || b->rescan ? 1 : 0;
}
