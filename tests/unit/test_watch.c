/* SPDX-License-Identifier: MIT */
/* Unit tests for the inotify watcher on real temp dirs: edits, nested
 * creates, a 10k burst, renames, deletes, skips, and the rescan fallbacks
 * (watch limit in a private user namespace, queue overflow, root lost). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "watch.h"

#define DEADLINE_MS 10000
#define COALESCE_MS 5

/* ---- helpers ---- */

struct col {
	char **v;
	size_t n, cap;
	unsigned int rescans, batches;
	struct sd_watch_batch b;
};

static void col_init(struct col *c)
{
	memset(c, 0, sizeof(*c));
	sd_watch_batch_init(&c->b);
}

static void col_reset(struct col *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	c->n = 0;
	c->rescans = 0;
	c->batches = 0;
}

static void col_fini(struct col *c)
{
	col_reset(c);
	free(c->v);
	sd_watch_batch_fini(&c->b);
}

static void col_add(struct col *c, const char *p)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		assert_non_null(c->v);
	}
	c->v[c->n] = strdup(p);
	assert_non_null(c->v[c->n]);
	c->n++;
}

static bool col_has(const struct col *c, const char *p)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i], p) == 0)
			return true;
	return false;
}

static bool col_has_prefix(const struct col *c, const char *pre)
{
	for (size_t i = 0; i < c->n; i++)
		if (strncmp(c->v[i], pre, strlen(pre)) == 0)
			return true;
	return false;
}

/* One poll (at most ms, less when the watcher wants a tick) and one read;
 * returns sd_watch_read()'s result. */
static int pump(struct sd_watch *w, struct col *c, int ms)
{
	struct pollfd pfd = { .fd = sd_watch_fd(w), .events = POLLIN };
	int t = sd_watch_timeout_ms(w);
	struct sd_err why = { { 0 } };
	int r;

	if (t < 0 || t > ms)
		t = ms;
	poll(&pfd, 1, t);
	r = sd_watch_read(w, &c->b, COALESCE_MS, &why);
	assert_true(r >= 0);
	if (r == 0)
		return 0;
	c->batches++;
	if (c->b.rescan)
		c->rescans++;
	for (size_t i = 0; i < c->b.count; i++) {
		/* Sorted and unique within a batch. */
		if (i > 0)
			assert_true(strcmp(c->b.paths[i - 1], c->b.paths[i]) <
				    0);
		assert_true(c->b.paths[i][0] != '\0');
		col_add(c, c->b.paths[i]);
	}
	return r;
}

static bool wait_path(struct sd_watch *w, struct col *c, const char *p)
{
	int64_t end = util_now_ms() + DEADLINE_MS;

	while (!col_has(c, p)) {
		int64_t left = end - util_now_ms();

		if (left <= 0)
			return false;
		pump(w, c, (int)(left > 200 ? 200 : left));
	}
	return true;
}

static bool wait_rescan(struct sd_watch *w, struct col *c)
{
	int64_t end = util_now_ms() + DEADLINE_MS;

	while (!c->rescans) {
		int64_t left = end - util_now_ms();

		if (left <= 0)
			return false;
		pump(w, c, (int)(left > 200 ? 200 : left));
	}
	return true;
}

/* Reads for ms more, so late events land in c. */
static void settle(struct sd_watch *w, struct col *c, int ms)
{
	int64_t end = util_now_ms() + ms;

	while (util_now_ms() < end)
		pump(w, c, 20);
}

static char *make_tmp(void)
{
	char t[] = "/tmp/tether-watch-XXXXXX";
	char *d = mkdtemp(t);

	assert_non_null(d);
	d = strdup(d);
	assert_non_null(d);
	return d;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static void rm_rf(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void pathf(char *out, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void pathf(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < cap);
}

static void put(const char *root, const char *rel, const char *data)
{
	char p[4096];
	int fd;

	pathf(p, sizeof(p), "%s/%s", root, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static void mk(const char *root, const char *rel)
{
	char p[4096];

	pathf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void mv(const char *from_root, const char *from, const char *to_root,
	       const char *to)
{
	char a[4096], b[4096];

	pathf(a, sizeof(a), "%s/%s", from_root, from);
	pathf(b, sizeof(b), "%s/%s", to_root, to);
	assert_int_equal(rename(a, b), 0);
}

static size_t ndirs;

static int count_dir(const char *p, const struct stat *st, int flag,
		     struct FTW *f)
{
	if (flag == FTW_D)
		ndirs++;
	return 0;
}

/* Directories under root, root included: what the watcher must hold. */
static size_t count_dirs(const char *root)
{
	ndirs = 0;
	nftw(root, count_dir, 16, FTW_PHYS);
	return ndirs;
}

/* Watches the kernel holds on the watcher's inotify fd: what it really
 * watches, not what it believes. */
static size_t kernel_watches(struct sd_watch *w)
{
	char p[64], line[512];
	size_t n = 0;
	FILE *f;

	pathf(p, sizeof(p), "/proc/self/fdinfo/%d", sd_watch_fd(w));
	f = fopen(p, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "inotify wd:", 11) == 0)
			n++;
	fclose(f);
	return n;
}

static struct sd_watch *watch(const char *root, sd_watch_skip_fn skip)
{
	struct sd_watch *w = NULL;
	struct sd_err why = { { 0 } };

	assert_int_equal(sd_watch_new(root, skip, NULL, &w, &why), 0);
	assert_non_null(w);
	return w;
}

/* stderr into a file while a test provokes warnings. A failed assertion
 * skips capture_end(): the teardown puts stderr back. */
struct capture {
	int saved;
	int fd;
};

static struct capture *active_cap;

static void capture_start(struct capture *cap)
{
	char t[] = "/tmp/tether-watch-log-XXXXXX";

	active_cap = cap;
	cap->fd = mkstemp(t);
	assert_true(cap->fd >= 0);
	unlink(t);
	fflush(stderr);
	cap->saved = dup(STDERR_FILENO);
	assert_true(cap->saved >= 0);
	assert_true(dup2(cap->fd, STDERR_FILENO) >= 0);
}

/* Restores stderr; returns what was written (caller frees). */
static char *capture_end(struct capture *cap)
{
	char *s;
	off_t n;

	active_cap = NULL;
	fflush(stderr);
	dup2(cap->saved, STDERR_FILENO);
	close(cap->saved);
	n = lseek(cap->fd, 0, SEEK_END);
	s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(pread(cap->fd, s, (size_t)n, 0), n);
	close(cap->fd);
	/* Shown as-is, so a failing run still has the log. */
	fputs(s, stderr);
	return s;
}

static int teardown(void **state)
{
	if (active_cap)
		free(capture_end(active_cap));
	return 0;
}

static unsigned int count_str(const char *hay, const char *needle)
{
	unsigned int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static long read_long(const char *path)
{
	char buf[32] = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

/* ---- behaviour ---- */

static void test_edit(void **state)
{
	char *root = make_tmp();
	struct sd_watch_stats st;
	struct sd_watch *w;
	struct col c;

	mk(root, "sub");
	put(root, "sub/b.txt", "one");
	put(root, "a.txt", "one");
	col_init(&c);
	w = watch(root, NULL);
	sd_watch_get_stats(w, &st);
	assert_int_equal(st.watched, 2);
	assert_int_equal(sd_watch_timeout_ms(w), -1);
	/* Nothing happened yet: an empty read, not a rescan. */
	assert_int_equal(pump(w, &c, 0), 0);

	put(root, "sub/b.txt", "two");
	assert_true(wait_path(w, &c, "sub/b.txt"));
	assert_false(col_has(&c, "a.txt"));
	put(root, "a.txt", "two");
	assert_true(wait_path(w, &c, "a.txt"));
	assert_int_equal(c.rescans, 0);

	sd_watch_free(w);
	col_fini(&c);
	rm_rf(root);
	free(root);
}

/* mkdir -p a/b/c && echo > a/b/c/f: the watcher learns of a before b, c
 * and f exist or just after; whichever, f is reported. */
static void test_nested_create(void **state)
{
	char *root = make_tmp();
	struct sd_watch *w;
	struct col c;
	char p[256];

	col_init(&c);
	w = watch(root, NULL);
	for (int i = 0; i < 20; i++) {
		pathf(p, sizeof(p), "a%d", i);
		mk(root, p);
		pathf(p, sizeof(p), "a%d/b", i);
		mk(root, p);
		pathf(p, sizeof(p), "a%d/b/c", i);
		mk(root, p);
		pathf(p, sizeof(p), "a%d/b/c/f", i);
		put(root, p, "x");
	}
	for (int i = 0; i < 20; i++) {
		pathf(p, sizeof(p), "a%d/b/c/f", i);
		assert_true(wait_path(w, &c, p));
		pathf(p, sizeof(p), "a%d/b/c", i);
		assert_true(col_has(&c, p));
	}
	assert_int_equal(c.rescans, 0);
	/* And the new directories are watched: a later write shows. */
	put(root, "a7/b/c/g", "y");
	assert_true(wait_path(w, &c, "a7/b/c/g"));
	assert_int_equal(count_dirs(root), 1 + 20 * 3);
	{
		struct sd_watch_stats st;

		sd_watch_get_stats(w, &st);
		assert_int_equal(st.watched, 1 + 20 * 3);
	}
	sd_watch_free(w);
	col_fini(&c);
	rm_rf(root);
	free(root);
}

#define BURST 10000

struct burst {
	const char *root;
	int r;
};

static void *burst_thread(void *arg)
{
	struct burst *bu = arg;
	char p[4096];

	bu->r = 0;
	/* Half in the root, half in a directory made mid-burst. */
	for (int i = 0; i < BURST; i++) {
		if (i == BURST / 2) {
			pathf(p, sizeof(p), "%s/burst", bu->root);
			if (mkdir(p, 0755) < 0)
				bu->r = -errno;
		}
		pathf(p, sizeof(p), "%s/%sf%05d", bu->root,
		      i >= BURST / 2 ? "burst/" : "", i);
		/* mknod: one IN_CREATE per file, so 10k files fit the
		 * default 16k-event queue and no rescan is needed. */
		if (mknod(p, S_IFREG | 0644, 0) < 0)
			bu->r = -errno;
	}
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_burst(void **state)
{
	char *root = make_tmp();
	long q = read_long("/proc/sys/fs/inotify/max_queued_events");
	struct burst bu = { .root = root };
	struct sd_watch *w;
	pthread_t th;
	struct col c;
	size_t missing = 0;
	char p[64];

	col_init(&c);
	w = watch(root, NULL);
	assert_int_equal(pthread_create(&th, NULL, burst_thread, &bu), 0);
	/* Read while the burst runs, then until quiet. */
	for (int64_t end = util_now_ms() + DEADLINE_MS; util_now_ms() < end;) {
		pump(w, &c, 50);
		pathf(p, sizeof(p), "burst/f%05d", BURST - 1);
		if (col_has_prefix(&c, "burst/") && c.n >= BURST + 1 &&
		    col_has(&c, p))
			break;
		if (c.rescans)
			break;
	}
	pthread_join(th, NULL);
	assert_int_equal(bu.r, 0);
	settle(w, &c, 100);
	qsort(c.v, c.n, sizeof(*c.v), cmp_str);
	for (int i = 0; i < BURST; i++) {
		char *k = p;

		pathf(p, sizeof(p), "%sf%05d", i >= BURST / 2 ? "burst/" : "",
		      i);
		if (!bsearch(&k, c.v, c.n, sizeof(*c.v), cmp_str))
			missing++;
	}
	print_message("burst: %zu paths in %u batches, %u rescans, %zu "
		      "missing\n",
		      c.n, c.batches, c.rescans, missing);
	/* Covered: every file reported, or a rescan owned up to the loss. */
	assert_true(missing == 0 || c.rescans > 0);
	/* One IN_CREATE per file: the default queue holds them all. */
	if (q > BURST + 100)
		assert_int_equal(c.rescans, 0);
	/* Coalesced while it streams in: how much depends on how the
	 * writer thread is scheduled, so only a loose bound. */
	assert_true(c.batches >= 1);
	assert_true(c.batches <= BURST / 5);

	/* A burst already queued when the consumer wakes (the consumer was
	 * busy) comes out in a few batches: SD_WATCH_BATCH_EVENTS or
	 * SD_WATCH_BATCH_MS each. */
	col_reset(&c);
	for (int i = 0; i < BURST; i++) {
		char f[4096];

		pathf(f, sizeof(f), "%s/g%05d", root, i);
		assert_int_equal(mknod(f, S_IFREG | 0644, 0), 0);
	}
	pathf(p, sizeof(p), "g%05d", BURST - 1);
	assert_true(wait_path(w, &c, p));
	settle(w, &c, 50);
	print_message("queued burst: %zu paths in %u batches\n", c.n,
		      c.batches);
	if (q > BURST + 100) {
		assert_int_equal(c.n, BURST);
		assert_int_equal(c.rescans, 0);
		assert_true(c.batches <= 10);
	}
	sd_watch_free(w);
	col_fini(&c);
	rm_rf(root);
	free(root);
}

static void test_rename_dir(void **state)
{
	char *root = make_tmp(), *out = make_tmp();
	struct sd_watch_stats st;
	struct sd_watch *w;
	struct col c;

	mk(root, "old");
	mk(root, "old/sub");
	put(root, "old/sub/keep", "k");
	mk(root, "p1");
	mk(root, "p1/d");
	mk(root, "p1/d/e");
	mk(root, "p2");
	mk(root, "gone");
	mk(root, "gone/deep");
	mk(out, "in");
	mk(out, "in/deep");
	put(out, "in/deep/f", "f");
	col_init(&c);
	w = watch(root, NULL);

	/* Renamed in place: the subtree's watches follow the new name. */
	mv(root, "old", root, "new");
	put(root, "new/sub/x", "x");
	assert_true(wait_path(w, &c, "new/sub/x"));
	assert_true(col_has(&c, "old"));
	assert_true(col_has(&c, "new"));
	/* The moved directory's contents are listed under the new name. */
	assert_true(col_has(&c, "new/sub/keep"));
	assert_false(col_has(&c, "old/sub/x"));

	/* To another parent, then renamed again right away. */
	mv(root, "p1/d", root, "p2/d");
	mv(root, "p2/d", root, "p2/d2");
	put(root, "p2/d2/e/y", "y");
	assert_true(wait_path(w, &c, "p2/d2/e/y"));

	/* Moved out: no longer watched. */
	mv(root, "gone", out, "gone");
	assert_true(wait_path(w, &c, "gone"));
	put(out, "gone/deep/z", "z");
	/* Moved in: watched, and its contents reported. */
	mv(out, "in", root, "in");
	assert_true(wait_path(w, &c, "in/deep/f"));
	put(root, "in/deep/g", "g");
	assert_true(wait_path(w, &c, "in/deep/g"));
	put(root, "marker", "m");
	assert_true(wait_path(w, &c, "marker"));
	assert_false(col_has_prefix(&c, "gone/"));
	assert_int_equal(c.rescans, 0);

	/* The watcher holds exactly the tree's directories: the one moved
	 * out is no longer watched by the kernel either. */
	sd_watch_get_stats(w, &st);
	assert_int_equal(st.watched, count_dirs(root));
	assert_int_equal(st.unwatched, 0);
	assert_int_equal(kernel_watches(w), count_dirs(root));

	sd_watch_free(w);
	col_fini(&c);
	rm_rf(root);
	rm_rf(out);
	free(root);
	free(out);
}

/* Renames whose events, read after the fact, look stale: two directories
 * swapped (RENAME_EXCHANGE), a directory moved over an empty one, a name
 * freed and taken again in one burst. */
static void test_rename_races(void **state)
{
	char *root = make_tmp();
	struct sd_watch_stats st;
	struct sd_watch *w;
	struct col c;
	char a[4096], b[4096];

	mk(root, "a");
	mk(root, "a/in_a");
	mk(root, "b");
	mk(root, "b/in_b");
	mk(root, "x");
	mk(root, "x/in_x");
	mk(root, "empty");
	mk(root, "p");
	mk(root, "p/q");
	col_init(&c);
	w = watch(root, NULL);

	pathf(a, sizeof(a), "%s/a", root);
	pathf(b, sizeof(b), "%s/b", root);
	assert_int_equal(renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE),
			 0);
	mv(root, "x", root, "empty");
	mv(root, "p", root, "p2");
	mk(root, "p");
	mv(root, "p2/q", root, "p/q");
	put(root, "marker", "m");
	assert_true(wait_path(w, &c, "marker"));
	settle(w, &c, 50);
	col_reset(&c);

	put(root, "a/in_b/f1", "1");
	put(root, "b/in_a/f2", "2");
	put(root, "empty/in_x/f3", "3");
	put(root, "p/q/f4", "4");
	assert_true(wait_path(w, &c, "a/in_b/f1"));
	assert_true(wait_path(w, &c, "b/in_a/f2"));
	assert_true(wait_path(w, &c, "empty/in_x/f3"));
	assert_true(wait_path(w, &c, "p/q/f4"));
	assert_false(col_has_prefix(&c, "a/in_a"));
	assert_false(col_has_prefix(&c, "b/in_b"));
	sd_watch_get_stats(w, &st);
	assert_int_equal(st.watched, count_dirs(root));
	assert_int_equal(kernel_watches(w), count_dirs(root));
	sd_watch_free(w);
	col_fini(&c);
	rm_rf(root);
	free(root);
}

static void test_delete(void **state)
{
	char *root = make_tmp();
	struct sd_watch_stats st;
	struct sd_watch *w;
	struct col c;

	mk(root, "d");
	mk(root, "d/e");
	put(root, "d/e/f", "f");
	put(root, "g", "g");
	col_init(&c);
	w = watch(root, NULL);
	sd_watch_get_stats(w, &st);
	assert_int_equal(st.watched, 3);

	put(root, "d/e/f", "f2");
	assert_true(wait_path(w, &c, "d/e/f"));
	col_reset(&c);
	{
		char p[4096];

		pathf(p, sizeof(p), "%s/g", root);
		assert_int_equal(unlink(p), 0);
		pathf(p, sizeof(p), "%s/d", root);
		rm_rf(p);
	}
	assert_true(wait_path(w, &c, "g"));
	assert_true(wait_path(w, &c, "d"));
	assert_true(wait_path(w, &c, "d/e/f"));
	settle(w, &c, 50);
	assert_int_equal(c.rescans, 0);
	sd_watch_get_stats(w, &st);
	assert_int_equal(st.watched, 1);
	assert_int_equal(kernel_watches(w), 1);

	/* A directory recreated under the same name is watched anew. */
	mk(root, "d");
	put(root, "d/new", "n");
	assert_true(wait_path(w, &c, "d/new"));
	put(root, "d/new2", "n");
	assert_true(wait_path(w, &c, "d/new2"));
	sd_watch_free(w);
	col_fini(&c);
	rm_rf(root);
	free(root);
}

static unsigned int skip_calls;

static bool skip_git(const char *rel, size_t len, void *opaque)
{
	const char *base = strrchr(rel, '/');

	skip_calls++;
	assert_int_equal(strlen(rel), len);
	base = base ? base + 1 : rel;
	return strcmp(base, ".git") == 0;
}

static void test_skip(void **state)
{
	char *root = make_tmp();
	struct sd_watch_stats st;
	struct sd_watch *w;
	struct col c;

	mk(root, ".git");
	mk(root, ".git/objects");
	mk(root, "src");
	col_init(&c);
	skip_calls = 0;
	w = watch(root, skip_git);
	assert_true(skip_calls >= 2);
	sd_watch_get_stats(w, &st);
	assert_int_equal(st.watched, 2); /* root and src */

	put(root, ".git/HEAD", "ref");
	mk(root, ".git/objects/ab");
	put(root, ".git/objects/ab/cd", "obj");
	mk(root, "src/.git");
	put(root, "src/.git/x", "x");
	put(root, "src/y", "y");
	put(root, "marker", "m");
	assert_true(wait_path(w, &c, "marker"));
	assert_true(wait_path(w, &c, "src/y"));
	settle(w, &c, 50);
	assert_false(col_has_prefix(&c, ".git/"));
	assert_false(col_has_prefix(&c, "src/.git/"));
	/* The skipped directory's own entry still shows in its parent. */
	assert_true(col_has(&c, "src/.git"));
	sd_watch_get_stats(w, &st);
	assert_int_equal(st.watched, 2);
	assert_int_equal(kernel_watches(w), 2);
	sd_watch_free(w);
	col_fini(&c);
	rm_rf(root);
	free(root);
}

static void test_overflow(void **state)
{
	char *root = make_tmp();
	long q = read_long("/proc/sys/fs/inotify/max_queued_events");
	struct sd_watch_stats st;
	struct capture cap;
	struct sd_watch *w;
	struct col c;
	char pa[4096], pb[4096], *log;
	int fa, fb;

	if (q <= 0 || q > (1 << 20)) {
		print_message("max_queued_events=%ld: cannot fill the queue\n",
			      q);
		rm_rf(root);
		free(root);
		skip();
	}
	put(root, "a", "");
	put(root, "b", "");
	mk(root, "d1");
	pathf(pa, sizeof(pa), "%s/a", root);
	pathf(pb, sizeof(pb), "%s/b", root);
	fa = open(pa, O_WRONLY | O_CLOEXEC);
	fb = open(pb, O_WRONLY | O_CLOEXEC);
	assert_true(fa >= 0 && fb >= 0);
	col_init(&c);
	capture_start(&cap);
	w = watch(root, NULL);

	for (int round = 0; round < 2; round++) {
		/* Alternating files: no two queued events are equal, so
		 * none merge; q + 64 of them overflow the queue. */
		for (long i = 0; i < q + 64; i++)
			assert_int_equal(pwrite(i & 1 ? fb : fa, "x", 1, 0), 1);
		if (round == 0) {
			/* Lost with the overflow: the resync must find
			 * them. */
			mv(root, "d1", root, "d2");
			mk(root, "d2/inner");
		}
		assert_true(wait_rescan(w, &c));
		settle(w, &c, 50);
		sd_watch_get_stats(w, &st);
		assert_int_equal(st.overflows, (unsigned long)round + 1);
		col_reset(&c);
	}
	log = capture_end(&cap);
	assert_int_equal(count_str(log, "inotify event queue overflowed"), 1);
	free(log);

	/* Complete again: renamed and unseen directories are watched under
	 * their real names, with no more rescans. */
	assert_int_equal(sd_watch_timeout_ms(w), -1);
	put(root, "d2/inner/z", "z");
	assert_true(wait_path(w, &c, "d2/inner/z"));
	assert_int_equal(c.rescans, 0);
	sd_watch_get_stats(w, &st);
	assert_int_equal(st.watched, count_dirs(root));
	assert_int_equal(kernel_watches(w), count_dirs(root));
	close(fa);
	close(fb);
	sd_watch_free(w);
	col_fini(&c);
	rm_rf(root);
	free(root);
}

static void test_root_lost(void **state)
{
	char *root = make_tmp();
	struct sd_watch_stats st;
	struct capture cap;
	struct sd_watch *w;
	struct col c;
	char *log;

	mk(root, "sub");
	put(root, "sub/f", "f");
	col_init(&c);
	capture_start(&cap);
	w = watch(root, NULL);
	sd_watch_set_rescan_interval(w, 30);
	rm_rf(root);
	assert_true(wait_rescan(w, &c));
	sd_watch_get_stats(w, &st);
	assert_true(st.root_lost);
	assert_true(sd_watch_timeout_ms(w) >= 0);
	/* Degraded: each tick is a rescan, even with no event. */
	col_reset(&c);
	assert_true(wait_rescan(w, &c));

	/* Recreated (rm -rf && mkdir, a fresh clone): watched again. */
	assert_int_equal(mkdir(root, 0755), 0);
	mk(root, "x");
	for (int64_t end = util_now_ms() + DEADLINE_MS;
	     util_now_ms() < end && st.root_lost;) {
		pump(w, &c, 50);
		sd_watch_get_stats(w, &st);
	}
	assert_false(st.root_lost);
	log = capture_end(&cap);
	assert_int_equal(count_str(log, "was moved or deleted"), 1);
	free(log);
	assert_int_equal(sd_watch_timeout_ms(w), -1);
	col_reset(&c);
	put(root, "x/g", "g");
	assert_true(wait_path(w, &c, "x/g"));
	assert_int_equal(c.rescans, 0);
	sd_watch_free(w);
	col_fini(&c);
	rm_rf(root);
	free(root);
}

/* ---- the watch limit, in a private user namespace ----
 *
 * inotify's watch limit is counted per user namespace (ucounts): a child
 * that enters a fresh namespace may lower /proc/sys/user/max_inotify_watches
 * for itself alone; the host's fs.inotify.max_user_watches is untouched.
 * As root, the child is mapped to an unprivileged host uid so that it could
 * not change a host setting even by mistake. */

#define LIMIT	   6
#define HOST_ID	   100000
#define CHILD_DIRS 10

#define CHECK(cond)                                           \
	do {                                                  \
		if (!(cond)) {                                \
			dprintf(STDERR_FILENO,                \
				"child check failed: %s:%d: " \
				"%s\n",                       \
				__FILE__, __LINE__, #cond);   \
			_exit(1);                             \
		}                                             \
	} while (0)

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

/* Reads batches until pred holds or the deadline; counts batches and
 * rescans (no cmocka in the child). */
struct child_col {
	unsigned int batches, rescans;
	bool seen;
};

static void child_pump(struct sd_watch *w, struct sd_watch_batch *b,
		       struct child_col *cc, const char *want)
{
	struct pollfd pfd = { .fd = sd_watch_fd(w), .events = POLLIN };
	struct sd_err why;
	int t = sd_watch_timeout_ms(w);
	int r;

	poll(&pfd, 1, t < 0 || t > 100 ? 100 : t);
	r = sd_watch_read(w, b, COALESCE_MS, &why);
	CHECK(r >= 0);
	if (r == 0)
		return;
	cc->batches++;
	if (b->rescan)
		cc->rescans++;
	for (size_t i = 0; want && i < b->count; i++)
		if (strcmp(b->paths[i], want) == 0)
			cc->seen = true;
}

static int limit_child(const char *root, int go_fd)
{
	struct sd_watch_stats st;
	struct sd_watch_batch b;
	struct sd_watch *w = NULL;
	struct sd_err why;
	struct child_col cc = { 0 };
	char p[4096], v[32];
	int64_t end;
	char ch;

	if (read(go_fd, &ch, 1) != 1)
		return 2;
	if (geteuid() != 0 || getuid() != 0) {
		CHECK(setgroups(0, NULL) == 0 || errno == EPERM);
		CHECK(setresgid(0, 0, 0) == 0);
		CHECK(setresuid(0, 0, 0) == 0);
	}
	CHECK(write_file("/proc/sys/user/max_inotify_watches", "6") == 0);
	CHECK(read_long("/proc/sys/user/max_inotify_watches") == LIMIT);
	for (int i = 0; i < CHILD_DIRS; i++) {
		snprintf(p, sizeof(p), "%s/d%d", root, i);
		CHECK(mkdir(p, 0755) == 0);
	}
	sd_watch_batch_init(&b);

	/* More directories than watches: the walk runs out, says so once,
	 * and the watcher starts degraded. */
	CHECK(sd_watch_new(root, NULL, NULL, &w, &why) == 0);
	/* Ticks far apart for now: batches below come from events. */
	sd_watch_set_rescan_interval(w, 60000);
	sd_watch_get_stats(w, &st);
	CHECK(st.watched == LIMIT);
	CHECK(st.unwatched == CHILD_DIRS + 1 - LIMIT);
	CHECK(sd_watch_timeout_ms(w) == 0);
	child_pump(w, &b, &cc, NULL);
	CHECK(cc.batches == 1 && cc.rescans == 1);

	/* More directories while degraded: every batch of events is a
	 * rescan... */
	for (int i = 0; i < CHILD_DIRS; i++) {
		snprintf(p, sizeof(p), "%s/n%d", root, i);
		CHECK(mkdir(p, 0755) == 0);
		snprintf(p, sizeof(p), "%s/n%d/f", root, i);
		CHECK(mknod(p, S_IFREG | 0644, 0) == 0);
	}
	cc = (struct child_col){ 0 };
	for (end = util_now_ms() + DEADLINE_MS;
	     util_now_ms() < end && !cc.seen;)
		child_pump(w, &b, &cc, "n9");
	for (end = util_now_ms() + 100; util_now_ms() < end;)
		child_pump(w, &b, &cc, NULL);
	CHECK(cc.seen);
	CHECK(cc.batches >= 1);
	CHECK(cc.rescans == cc.batches);
	sd_watch_get_stats(w, &st);
	CHECK(st.unwatched == 2 * CHILD_DIRS + 1 - LIMIT);
	/* ...even one that by itself lost nothing, */
	cc = (struct child_col){ 0 };
	snprintf(p, sizeof(p), "%s/plain", root);
	CHECK(mknod(p, S_IFREG | 0644, 0) == 0);
	for (end = util_now_ms() + DEADLINE_MS;
	     util_now_ms() < end && !cc.seen;)
		child_pump(w, &b, &cc, "plain");
	CHECK(cc.seen);
	CHECK(cc.rescans == cc.batches);
	/* ...and ticks come without events: changes in unwatched
	 * directories make none. */
	sd_watch_set_rescan_interval(w, 20);
	cc = (struct child_col){ 0 };
	for (end = util_now_ms() + 300; util_now_ms() < end;)
		child_pump(w, &b, &cc, NULL);
	CHECK(cc.batches >= 3);
	CHECK(cc.rescans == cc.batches);

	/* Room again: the retries watch everything, the watcher leaves
	 * degraded mode, and edits anywhere show without rescans. */
	snprintf(v, sizeof(v), "%d", 1000);
	CHECK(write_file("/proc/sys/user/max_inotify_watches", v) == 0);
	for (end = util_now_ms() + DEADLINE_MS;
	     util_now_ms() < end && sd_watch_timeout_ms(w) >= 0;)
		child_pump(w, &b, &cc, NULL);
	sd_watch_get_stats(w, &st);
	CHECK(st.unwatched == 0);
	CHECK(st.watched == 2 * CHILD_DIRS + 1);
	CHECK(sd_watch_timeout_ms(w) == -1);
	while (sd_watch_read(w, &b, 0, &why) > 0)
		;
	cc = (struct child_col){ 0 };
	snprintf(p, sizeof(p), "%s/n%d/g", root, CHILD_DIRS - 1);
	CHECK(mknod(p, S_IFREG | 0644, 0) == 0);
	for (end = util_now_ms() + DEADLINE_MS;
	     util_now_ms() < end && !cc.seen;) {
		snprintf(p, sizeof(p), "n%d/g", CHILD_DIRS - 1);
		child_pump(w, &b, &cc, p);
	}
	CHECK(cc.seen);
	CHECK(cc.rescans == 0);
	sd_watch_free(w);
	sd_watch_batch_fini(&b);
	return 0;
}

static void test_watch_limit(void **state)
{
	char *root = make_tmp();
	bool as_root = geteuid() == 0;
	int ready[2], go[2], status = 0;
	struct capture cap;
	char *log, ch;
	pid_t pid;
	int64_t end;

	if (as_root)
		assert_int_equal(chown(root, HOST_ID, HOST_ID), 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	capture_start(&cap);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		if (unshare(CLONE_NEWUSER) < 0)
			_exit(77);
		if (!as_root) {
			char m[64];

			/* Unprivileged: map ourselves to root in it. */
			snprintf(m, sizeof(m), "0 %u 1", (unsigned)getuid());
			write_file("/proc/self/setgroups", "deny");
			if (write_file("/proc/self/uid_map", m) < 0)
				_exit(77);
			snprintf(m, sizeof(m), "0 %u 1", (unsigned)getgid());
			if (write_file("/proc/self/gid_map", m) < 0)
				_exit(77);
		}
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		_exit(limit_child(root, go[0]));
	}
	close(ready[1]);
	close(go[0]);
	if (read(ready[0], &ch, 1) == 1 && as_root) {
		char p[64];
		char m[64];

		snprintf(m, sizeof(m), "0 %d 1", HOST_ID);
		snprintf(p, sizeof(p), "/proc/%d/uid_map", (int)pid);
		assert_int_equal(write_file(p, m), 0);
		snprintf(p, sizeof(p), "/proc/%d/gid_map", (int)pid);
		assert_int_equal(write_file(p, m), 0);
	}
	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);
	close(ready[0]);
	for (end = util_now_ms() + 4 * DEADLINE_MS;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (util_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		poll(NULL, 0, 20);
	}
	log = capture_end(&cap);
	rm_rf(root);
	free(root);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		free(log);
		skip();
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* One warning, naming the limit that bit, however many failed. */
	assert_int_equal(count_str(log, "inotify watch limit reached"), 1);
	assert_int_equal(count_str(log, "user.max_inotify_watches=6"), 1);
	assert_int_equal(count_str(log, "falling back to full rescans"), 1);
	free(log);
	/* The host's own limit is untouched. */
	assert_true(read_long("/proc/sys/fs/inotify/max_user_watches") !=
		    LIMIT);
}

static void test_bad_root(void **state)
{
	struct sd_watch *w = NULL;
	struct sd_err why = { { 0 } };
	char *root = make_tmp();
	char p[4096];

	pathf(p, sizeof(p), "%s/missing", root);
	assert_int_equal(sd_watch_new(p, NULL, NULL, &w, &why), -ENOENT);
	assert_null(w);
	assert_non_null(strstr(why.what, "missing"));
	put(root, "file", "x");
	pathf(p, sizeof(p), "%s/file", root);
	assert_int_equal(sd_watch_new(p, NULL, NULL, &w, &why), -ENOTDIR);
	assert_null(w);
	sd_watch_free(NULL);
	rm_rf(root);
	free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_edit, teardown),
		cmocka_unit_test_teardown(test_nested_create, teardown),
		cmocka_unit_test_teardown(test_burst, teardown),
		cmocka_unit_test_teardown(test_rename_dir, teardown),
		cmocka_unit_test_teardown(test_rename_races, teardown),
		cmocka_unit_test_teardown(test_delete, teardown),
		cmocka_unit_test_teardown(test_skip, teardown),
		cmocka_unit_test_teardown(test_overflow, teardown),
		cmocka_unit_test_teardown(test_root_lost, teardown),
		cmocka_unit_test_teardown(test_watch_limit, teardown),
		cmocka_unit_test_teardown(test_bad_root, teardown),
	};

	/* WATCH_TEST=test_burst runs one test. */
	if (getenv("WATCH_TEST"))
		cmocka_set_test_filter(getenv("WATCH_TEST"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
