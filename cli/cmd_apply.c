/* SPDX-License-Identifier: MIT */
/* tether apply: write what commands changed in a node's view of a workspace
 * back into the agent's directory; a path both sides changed is left alone. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "codec.h"
#include "config.h"
#include "link.h"
#include "log.h"
#include "manifest.h"
#include "writeall.h"

static const char usage[] =
	"usage: tether apply (--node URL --workspace NAME | [--config FILE] --agent ID)\n"
	"                    [--dry-run] [--json] DIR\n"
	"  write what commands changed in the node's view of workspace NAME into\n"
	"  DIR, the agent's copy of it (see tether changes): files, directories\n"
	"  and symlinks with their modes and mtimes, deletions included. A\n"
	"  conflict (a path DIR changed too, synced or not since the node's\n"
	"  version) is left as DIR has it and named on stderr; so is a directory\n"
	"  to delete that holds what the node never saw. Every file lands whole\n"
	"  (a temporary file, then rename), and no path is followed through a\n"
	"  symlink in DIR.\n"
	"  --agent ID  the node and workspace the config gives agent ID, and DIR\n"
	"             when left out (its \"dir\"); refused when its backend's\n"
	"             writeback is none\n"
	"  --dry-run  print what would be done; change nothing\n"
	"  --json     one object: {\"workspace\",\"dir\",\"dry_run\",\"created\",\n"
	"             \"modified\",\"deleted\",\"conflicts\",\"failed\",\"bytes\",\n"
	"             \"changes\":[{\"kind\",\"type\",\"size\",\"path\",\"conflict\",\n"
	"             \"status\",\"error\"},...]}\n"
	"  Exit status: 0 all applied; 1 a conflict or a path not applied; 255\n"
	"  the node could not be asked.\n";

/* A page of changes walks the view's whole upper layer on the node. */
#define CALL_MS 60000
/* Reads of a file that keeps changing on the node before it is given up,
 * and of a manifest that commits keep moving on. */
#define TRIES	    3
#define TEMP_PREFIX ".tether-apply-"

enum status {
	ST_PENDING, /* not reached (a link error stopped the run) */
	ST_APPLIED,
	ST_CONFLICT,
	ST_FAILED,
	ST_KEPT,    /* a deleted directory kept for the conflict under it */
	ST_PLANNED, /* --dry-run */
};

static const char *const status_names[] = {
	[ST_PENDING] = "pending",   [ST_APPLIED] = "applied",
	[ST_CONFLICT] = "conflict", [ST_FAILED] = "failed",
	[ST_KEPT] = "kept",	    [ST_PLANNED] = "planned",
};

struct row {
	size_t off; /* of the path in the arena, NUL-terminated */
	uint32_t len;
	uint8_t kind, type, status;
	bool conflict;
	bool holds_conflict; /* a conflict lies below this path */
	uint64_t size;
	char *error; /* --json: why it failed */
};

/* A directory whose attributes are set once everything in it is done. */
struct dirfix {
	size_t off; /* a prefix of a row's path in the arena */
	uint32_t len;
	size_t row; /* its own CREATED or MODIFIED row (mode too), or SIZE_MAX */
};

struct apply {
	const char *url, *name, *dir;
	struct exec_config *cfg; /* --agent: url, name and dir borrow from it */
	bool dry_run, json;
	struct tp_chan *ch;
	int root; /* DIR */
	struct row *rows;
	size_t n, cap;
	char *paths; /* the rows' paths, each NUL-terminated */
	size_t used, pcap;
	struct dirfix *fix;
	size_t nfix, fixcap;
	uint64_t created, modified, deleted, conflicts, failed, bytes;
	int fatal; /* a link or protocol error: nothing more is asked */
	char err[TP_ERRMSG_MAX + 64];
	char shown[CLI_PATH_SHOWN];
};

static const char *row_path(const struct apply *a, const struct row *r)
{
	return a->paths + r->off;
}

/* An mtime off the wire as futimens() takes it, the access time left. */
static void mtime_ts(int64_t ns, struct timespec ts[2])
{
	ts[0] = (struct timespec){ .tv_nsec = UTIME_OMIT };
	ts[1] = (struct timespec){ ns / 1000000000, ns % 1000000000 };
	if (ts[1].tv_nsec < 0) {
		ts[1].tv_sec--;
		ts[1].tv_nsec += 1000000000;
	}
}

/* ---- listing ---- */

/* cli_change_fn: keep each row. The decoder checked every path is a
 * workspace path (tp_path_ok): relative, no "." or ".." component. */
static int add_row(void *opaque, const struct tp_ws_change *c)
{
	struct apply *a = opaque;

	if (a->n == SD_ENTRIES_MAX ||
	    a->used + c->path.len + 1 > SD_DECODED_MAX) {
		snprintf(a->err, sizeof(a->err),
			 "more changes than tether apply takes at once (%u "
			 "or %llu bytes of paths)",
			 SD_ENTRIES_MAX, (unsigned long long)SD_DECODED_MAX);
		return -EMSGSIZE;
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 256;
		struct row *v = realloc(a->rows, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->rows = v;
		a->cap = cap;
	}
	if (a->pcap - a->used < c->path.len + 1u) {
		size_t cap = a->pcap ? a->pcap : 64u << 10;
		char *p;

		while (cap - a->used < c->path.len + 1u)
			cap *= 2;
		p = realloc(a->paths, cap);
		if (!p)
			return -ENOMEM;
		a->paths = p;
		a->pcap = cap;
	}
	memcpy(a->paths + a->used, c->path.ptr, c->path.len);
	a->paths[a->used + c->path.len] = '\0';
	a->rows[a->n++] = (struct row){ .off = a->used,
					.len = c->path.len,
					.kind = c->kind,
					.type = c->type,
					.conflict = c->conflict,
					.size = c->size };
	a->used += c->path.len + 1u;
	return 0;
}

static struct row *find_row(struct apply *a, const char *p, size_t len)
{
	size_t lo = 0, hi = a->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct row *r = &a->rows[mid];
		int c = sd_path_cmp(row_path(a, r), r->len, p, len);

		if (c == 0)
			return r;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A directory with a conflict below it stays, and says nothing more. */
static void mark_conflicts(struct apply *a)
{
	for (size_t i = 0; i < a->n; i++) {
		const char *p = row_path(a, &a->rows[i]);

		if (!a->rows[i].conflict)
			continue;
		for (uint32_t k = 0; k < a->rows[i].len; k++) {
			struct row *up;

			if (p[k] != '/')
				continue;
			up = find_row(a, p, k);
			if (up)
				up->holds_conflict = true;
		}
	}
}

/* ---- reporting ---- */

static const char *shown(struct apply *a, const char *p, size_t len)
{
	cli_path_show((const uint8_t *)p, len, a->shown);
	return a->shown;
}

static void failed(struct apply *a, struct row *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One line naming the path and the cause; the row is not applied. */
static void failed(struct apply *a, struct row *r, const char *fmt, ...)
{
	char why[TP_ERRMSG_MAX + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_error("apply: %s: %s", shown(a, row_path(a, r), r->len), why);
	if (r->status == ST_APPLIED) /* its directory's attributes failed */
		*(r->kind == TP_CHANGE_CREATED	  ? &a->created
		  : r->kind == TP_CHANGE_MODIFIED ? &a->modified
						  : &a->deleted) -= 1;
	r->status = ST_FAILED;
	a->failed++;
	if (a->json && !r->error)
		r->error = strdup(why);
}

static void applied(struct apply *a, struct row *r, uint64_t bytes)
{
	r->status = ST_APPLIED;
	a->bytes += bytes;
	if (r->kind == TP_CHANGE_CREATED)
		a->created++;
	else if (r->kind == TP_CHANGE_MODIFIED)
		a->modified++;
	else
		a->deleted++;
}

/* ---- DIR ---- */

/* Open the directory path (len bytes of a workspace path; 0: DIR itself)
 * under DIR one component at a time, following nothing: a descriptor, or
 * -ENOENT, -ENOTDIR (a file on the way), -ELOOP (a symlink on the way),
 * -errno. Without openat2 as much as with it. */
static int open_dir(const struct apply *a, const char *path, size_t len)
{
	char comp[TP_COMP_MAX + 1];
	int fd = openat(a->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t i = 0;

	if (fd < 0)
		return -errno;
	while (i < len) {
		size_t j = i;
		struct stat st;
		int next, e;

		while (j < len && path[j] != '/')
			j++;
		/* A workspace path's components are 1 to 255 bytes. */
		memcpy(comp, path + i, j - i);
		comp[j - i] = '\0';
		next = openat(fd, comp,
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		e = errno;
		if (next < 0 && e == ENOTDIR &&
		    fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode))
			e = ELOOP;
		close(fd);
		if (next < 0)
			return -e;
		fd = next;
		i = j + 1;
	}
	return fd;
}

/* Where a path's last component starts: its parent is the len before. */
static size_t base_at(const char *p, size_t len)
{
	size_t i = len;

	while (i > 0 && p[i - 1] != '/')
		i--;
	return i;
}

/* The parent of row r, open; -errno (reported) when it cannot be. */
static int open_parent(struct apply *a, struct row *r, size_t base)
{
	int fd = open_dir(a, row_path(a, r), base ? base - 1 : 0);

	if (fd >= 0)
		return fd;
	if (r->kind == TP_CHANGE_DELETED && (fd == -ENOENT || fd == -ENOTDIR))
		return fd; /* nothing there to delete */
	if (fd == -ELOOP || fd == -ENOTDIR)
		failed(a, r, "%s in %s on the way: not followed, left as it is",
		       fd == -ELOOP ? "a symlink" : "a file", a->dir);
	else if (fd == -ENOENT)
		failed(a, r, "its directory is not in %s", a->dir);
	else
		failed(a, r, "opening its directory in %s: %s", a->dir,
		       strerror(-fd));
	return fd;
}

static int fix_later(struct apply *a, size_t off, uint32_t len, size_t row)
{
	if (len == 0)
		return 0; /* DIR itself is not the view's to set */
	if (a->nfix == a->fixcap) {
		size_t cap = a->fixcap ? a->fixcap * 2 : 64;
		struct dirfix *v = realloc(a->fix, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->fix = v;
		a->fixcap = cap;
	}
	a->fix[a->nfix++] = (struct dirfix){ off, len, row };
	return 0;
}

static void temp_name(char *out, size_t cap)
{
	static uint32_t counter;
	uint32_t x = 0;

	if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
		x = (uint32_t)getpid() * 2654435761u;
	snprintf(out, cap, TEMP_PREFIX "%08" PRIx32, x ^ counter++);
}

/* Why a directory to remove is not empty, for the row that removes it. */
static const char *nonempty(const struct row *r)
{
	return r->holds_conflict ? "a conflict is in it"
				 : "it holds what the node never saw (not "
				   "synced, or ignored): left as it is";
}

/* Put what is at tmp in dfd over base. A directory in the way goes first
 * when it is empty: the rows of what the version had in it came first. 0
 * or -errno (reported). */
static int replace(struct apply *a, struct row *r, int dfd, const char *tmp,
		   const char *base)
{
	int k;

	if (renameat(dfd, tmp, dfd, base) == 0)
		return 0;
	k = -errno;
	if (k == -EISDIR || k == -ENOTEMPTY || k == -EEXIST) {
		if (unlinkat(dfd, base, AT_REMOVEDIR) == 0 &&
		    renameat(dfd, tmp, dfd, base) == 0)
			return 0;
		k = -errno;
		if (k == -ENOTEMPTY || k == -EEXIST) {
			failed(a, r, "a directory is in the way, and %s",
			       nonempty(r));
			return k;
		}
	}
	failed(a, r, "renaming it into place: %s", strerror(-k));
	return k;
}

/* ---- the node ---- */

static bool link_error(int r)
{
	return r == -ECONNRESET || r == -ECONNREFUSED || r == -ETIMEDOUT ||
	       r == -ECANCELED || r == -EPROTO || r == -EPROTONOSUPPORT;
}

/* WS_READ of row r's path (or of another len bytes at path): 0 and
 * rep->wsdata, valid until the next call. -ENOENT: the view has no such
 * entry any more. A link or protocol error sets a->fatal. Other errors
 * leave the node's text in a->err. */
static int node_read(struct apply *a, const char *path, size_t len,
		     uint64_t off, uint32_t max, struct tp_msg *rep)
{
	struct tp_msg req = { .type = TP_WS_READ };
	int k;

	req.wsread = (struct tp_ws_read){
		{ (const uint8_t *)a->name, (uint32_t)strlen(a->name) },
		{ (const uint8_t *)path, (uint32_t)len },
		off,
		max,
	};
	a->err[0] = '\0';
	k = tp_chan_call(a->ch, &req, rep, CALL_MS, a->err, sizeof(a->err));
	if (k == 0 && rep->type != TP_WS_DATA) {
		snprintf(a->err, sizeof(a->err),
			 "the node answered %s to WS_READ",
			 tp_type_name(rep->type));
		k = -EPROTO;
	}
	if (k < 0 && link_error(k))
		a->fatal = k;
	return k;
}

/* A failed WS_READ of row r, said once. */
static void read_failed(struct apply *a, struct row *r, int k)
{
	if (a->fatal)
		return;
	if (k == -ENOENT)
		failed(a, r, "gone from the view since it was listed: skipped");
	else
		failed(a, r, "reading it from the node: %s",
		       a->err[0] ? a->err : strerror(-k));
}

/* ---- writing ---- */

/* Holes are found block by block: sparse files stay sparse. */
#define HOLE_BLOCK 4096u

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* A piece at the file's offset: runs of zero blocks skipped (holes), the
 * rest written in one call a run. 0 or -errno. */
static int write_piece(int fd, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i, b = n - i < HOLE_BLOCK ? n - i : HOLE_BLOCK;
		bool zero = all_zero(p + i, b);
		int k;

		do {
			j += b;
			b = n - j < HOLE_BLOCK ? n - j : HOLE_BLOCK;
		} while (j < n && all_zero(p + j, b) == zero);
		if (zero)
			k = lseek(fd, (off_t)(j - i), SEEK_CUR) < 0 ? -errno
								    : 0;
		else
			k = util_write_all(fd, p + i, j - i);
		if (k < 0)
			return k;
		i = j;
	}
	return 0;
}

/* The file in rep (its first piece), all its pieces into a temp file in
 * dfd, then over base. 0; -EAGAIN when it changed on the node while it
 * was read (nothing reported: the caller tries again); else -errno,
 * reported. */
static int put_file(struct apply *a, struct row *r, int dfd, const char *base,
		    struct tp_msg *rep)
{
	const struct tp_ws_data *d = &rep->wsdata;
	const uint64_t size = d->size;
	const int64_t mtime = d->mtime_ns;
	const uint32_t mode = d->mode;
	char tmp[32];
	uint64_t off = 0;
	int fd = -1, k = 0;

	for (int i = 0; i < 16 && fd < 0; i++) {
		temp_name(tmp, sizeof(tmp));
		fd = openat(dfd, tmp,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				    O_CLOEXEC,
			    0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		k = -errno;
		failed(a, r, "creating a temporary file beside it: %s",
		       strerror(-k));
		return k;
	}
	for (;;) {
		/* Every piece is of the entry the first one described:
		 * writing to it changes its mtime. */
		if (d->type != TP_CHANGE_FILE || d->size != size ||
		    d->mtime_ns != mtime || d->data.len > size - off) {
			k = -EAGAIN;
			break;
		}
		k = write_piece(fd, d->data.ptr, d->data.len);
		if (k < 0) {
			failed(a, r, "writing it: %s", strerror(-k));
			break;
		}
		off += d->data.len;
		if (off == size)
			break;
		if (d->data.len < TP_READ_MAX) {
			k = -EAGAIN; /* it ended early: shorter now */
			break;
		}
		k = node_read(a, row_path(a, r), r->len, off, TP_READ_MAX, rep);
		if (k < 0) {
			read_failed(a, r, k);
			break;
		}
	}
	if (k == 0) {
		struct timespec ts[2];

		mtime_ts(mtime, ts);
		if (ftruncate(fd, (off_t)size) < 0 || fchmod(fd, mode) < 0 ||
		    futimens(fd, ts) < 0 || fsync(fd) < 0) {
			k = -errno;
			failed(a, r, "writing it: %s", strerror(-k));
		}
	}
	if (close(fd) < 0 && k == 0) {
		k = -errno;
		failed(a, r, "writing it: %s", strerror(-k));
	}
	if (k == 0)
		k = replace(a, r, dfd, tmp, base);
	if (k < 0)
		unlinkat(dfd, tmp, 0);
	else
		applied(a, r, size);
	return k;
}

static int put_symlink(struct apply *a, struct row *r, int dfd,
		       const char *base, const struct tp_ws_data *d)
{
	char target[TP_PATH_MAX + 1], tmp[32];
	struct timespec ts[2];
	int k = -EEXIST;

	mtime_ts(d->mtime_ns, ts);
	/* The decoder checked: 1 to TP_PATH_MAX bytes, no NUL. It is data:
	 * never followed here. */
	memcpy(target, d->target.ptr, d->target.len);
	target[d->target.len] = '\0';
	for (int i = 0; i < 16 && k == -EEXIST; i++) {
		temp_name(tmp, sizeof(tmp));
		k = symlinkat(target, dfd, tmp) == 0 ? 0 : -errno;
	}
	if (k < 0) {
		failed(a, r, "creating a symlink beside it: %s", strerror(-k));
		return k;
	}
	(void)utimensat(dfd, tmp, ts, AT_SYMLINK_NOFOLLOW);
	k = replace(a, r, dfd, tmp, base);
	if (k < 0)
		unlinkat(dfd, tmp, 0);
	else
		applied(a, r, 0);
	return k;
}

/* A directory now; its mode and mtime once everything in it is done. */
static int put_dir(struct apply *a, struct row *r, int dfd, const char *base)
{
	struct stat st;
	int k = 0;

	if (mkdirat(dfd, base, 0700) < 0) {
		k = -errno;
		if (k == -EEXIST &&
		    fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode))
			k = 0;
		else if (k == -EEXIST && unlinkat(dfd, base, 0) == 0)
			k = mkdirat(dfd, base, 0700) == 0 ? 0 : -errno;
	}
	if (k < 0) {
		failed(a, r, "making the directory: %s", strerror(-k));
		return k;
	}
	k = fix_later(a, r->off, r->len, (size_t)(r - a->rows));
	if (k < 0)
		failed(a, r, "%s", strerror(-k));
	else
		applied(a, r, 0);
	return k;
}

/* A created or modified path: what the view has there now. */
static void put_row(struct apply *a, struct row *r)
{
	const char *p = row_path(a, r);
	size_t base = base_at(p, r->len);
	struct tp_msg rep;
	int dfd, k = -EAGAIN;

	dfd = open_parent(a, r, base);
	if (dfd < 0)
		return;
	if (fix_later(a, r->off, base ? (uint32_t)base - 1 : 0, SIZE_MAX) < 0) {
		failed(a, r, "%s", strerror(ENOMEM));
		close(dfd);
		return;
	}
	for (int t = 0; t < TRIES && k == -EAGAIN; t++) {
		k = node_read(a, p, r->len, 0, TP_READ_MAX, &rep);
		if (k < 0) {
			read_failed(a, r, k);
			break;
		}
		switch (rep.wsdata.type) {
		case TP_CHANGE_FILE:
			k = put_file(a, r, dfd, p + base, &rep);
			break;
		case TP_CHANGE_SYMLINK:
			k = put_symlink(a, r, dfd, p + base, &rep.wsdata);
			break;
		default: k = put_dir(a, r, dfd, p + base); break;
		}
	}
	if (k == -EAGAIN)
		failed(a, r,
		       "kept changing on the node while it was read (%d "
		       "tries): skipped",
		       TRIES);
	close(dfd);
}

/* A deleted path: gone from DIR (absent is fine). A directory goes once
 * it is empty: every entry the version had below it is a row of its own,
 * removed before it (deepest first); what else is there, the node never
 * saw, and it stays. */
static void remove_row(struct apply *a, struct row *r)
{
	const char *p = row_path(a, r);
	size_t base = base_at(p, r->len);
	int dfd = open_parent(a, r, base), k = 0;

	if (dfd == -ENOENT || dfd == -ENOTDIR) {
		applied(a, r, 0);
		return;
	}
	if (dfd < 0)
		return;
	if (unlinkat(dfd, p + base,
		     r->type == TP_CHANGE_DIR ? AT_REMOVEDIR : 0) < 0 &&
	    errno != ENOENT)
		k = -errno;
	if ((k == -ENOTEMPTY || k == -EEXIST) && r->holds_conflict) {
		/* Said already: the conflict stays, and so does the
		 * directory it is in. */
		r->status = ST_KEPT;
		close(dfd);
		return;
	}
	if (k == -ENOTEMPTY || k == -EEXIST)
		failed(a, r, "not removed: %s", nonempty(r));
	else if (k < 0)
		failed(a, r, "removing it: %s", strerror(-k));
	else if (fix_later(a, r->off, base ? (uint32_t)base - 1 : 0, SIZE_MAX) <
		 0)
		failed(a, r, "%s", strerror(ENOMEM));
	else
		applied(a, r, 0);
	close(dfd);
}

static int fix_order(const void *x, const void *y, void *arena)
{
	const struct dirfix *a = x, *b = y;
	const char *p = arena;

	return sd_path_cmp(p + a->off, a->len, p + b->off, b->len);
}

/* The directories changes were made in, deepest first: the view's mtime
 * (and for a directory of its own row, its mode), now that nothing more
 * is written in them. A directory the view no longer has keeps what it
 * has. */
static void fix_dirs(struct apply *a)
{
	if (a->nfix)
		qsort_r(a->fix, a->nfix, sizeof(*a->fix), fix_order, a->paths);
	for (size_t i = a->nfix; i-- > 0 && !a->fatal;) {
		const struct dirfix *f = &a->fix[i];
		struct row *r = f->row == SIZE_MAX ? NULL : &a->rows[f->row];
		const char *p = a->paths + f->off;
		struct timespec ts[2];
		struct tp_msg rep;
		int fd, k;

		/* Sorted: the same directory comes together; the one with
		 * a row of its own sorts anywhere among them. */
		if (i > 0 && fix_order(&a->fix[i - 1], f, a->paths) == 0) {
			if (a->fix[i - 1].row == SIZE_MAX)
				a->fix[i - 1].row = f->row;
			continue;
		}
		if (r && r->status != ST_APPLIED)
			continue;
		fd = open_dir(a, p, f->len);
		if (fd < 0) {
			if (r)
				failed(a, r, "setting its mode and mtime: %s",
				       strerror(-fd));
			continue;
		}
		k = node_read(a, p, f->len, 0, 0, &rep);
		if (k == 0 && rep.wsdata.type == TP_CHANGE_DIR) {
			mtime_ts(rep.wsdata.mtime_ns, ts);
			if ((r && fchmod(fd, rep.wsdata.mode) < 0) ||
			    futimens(fd, ts) < 0)
				k = -errno;
			if (k < 0 && r)
				failed(a, r, "setting its mode and mtime: %s",
				       strerror(-k));
		} else if (r && k == 0) {
			failed(a, r, "no longer a directory in the view");
		} else if (r) {
			read_failed(a, r, k);
		}
		close(fd);
	}
}

/* ---- what DIR had when the node last heard of it ---- */

/* The workspace's current version on the node, which the view sits on:
 * its manifest, paged with SYNC_FETCH, decoded (the decoder treats the
 * node's bytes as hostile). 0, or -errno with a->err filled. */
static int fetch_lower(struct apply *a, struct sd_manifest *m)
{
	struct tp_msg req = { .type = TP_SYNC_FETCH }, rep;
	uint64_t version = 0, off = 0, total = 0;
	struct sd_err why = { "" };
	uint8_t *buf = NULL;
	int k, stale = 0;

	req.fetch.workspace = (struct tp_bytes){ (const uint8_t *)a->name,
						 (uint32_t)strlen(a->name) };
	for (;;) {
		const struct tp_sync_manifest *p = &rep.manifest;

		req.fetch.version = version;
		req.fetch.offset = off;
		k = tp_chan_call(a->ch, &req, &rep, CALL_MS, a->err,
				 sizeof(a->err));
		if (k == -ESTALE && ++stale < TRIES) {
			/* A commit moved the version on: start over. */
			free(buf);
			buf = NULL;
			version = off = total = 0;
			continue;
		}
		if (k == 0 && rep.type != TP_SYNC_MANIFEST) {
			snprintf(a->err, sizeof(a->err),
				 "the node answered %s to SYNC_FETCH",
				 tp_type_name(rep.type));
			k = -EPROTO;
		}
		if (k < 0)
			break;
		if ((buf && (p->version != version || p->total != total)) ||
		    p->offset != off || p->total > SD_ENC_MAX ||
		    p->data.len > p->total - off ||
		    (p->data.len == 0 && off < p->total)) {
			snprintf(a->err, sizeof(a->err),
				 "SYNC_MANIFEST: a page at %" PRIu64
				 " that does not follow the one before",
				 p->offset);
			k = -EPROTO;
			break;
		}
		if (!buf) {
			version = p->version;
			total = p->total;
			buf = malloc(total ? total : 1);
			if (!buf) {
				k = -ENOMEM;
				break;
			}
		}
		if (p->data.len)
			memcpy(buf + off, p->data.ptr, p->data.len);
		off += p->data.len;
		if (off == total)
			break;
	}
	if (k == 0) {
		k = sd_manifest_decode(buf, (size_t)total, m, &why);
		if (k < 0)
			snprintf(a->err, sizeof(a->err),
				 "the manifest of version %" PRIu64 ": %s",
				 version, why.what);
		else if (m->version != version) {
			snprintf(a->err, sizeof(a->err),
				 "the manifest of version %" PRIu64
				 " says version %" PRIu64,
				 version, m->version);
			k = -EPROTO;
		}
	}
	free(buf);
	return k;
}

/* Whether DIR has at row r's path what the version has there (nothing,
 * where it has nothing; a directory, where both have one): else the agent
 * changed it since its last sync, and the command's change would undo
 * that. A path behind a symlink or a file in DIR is left to the run to
 * refuse. */
static bool unchanged(struct apply *a, const struct row *r,
		      const struct sd_manifest *lower)
{
	const char *p = row_path(a, r);
	size_t base = base_at(p, r->len);
	const struct sd_entry *e = sd_manifest_find(lower, p, r->len);
	char target[TP_PATH_MAX + 1];
	int dfd = open_dir(a, p, base ? base - 1 : 0), k;
	struct stat st;
	ssize_t n;

	if (dfd < 0)
		return dfd != -ENOENT || !e || r->kind == TP_CHANGE_DELETED;
	k = fstatat(dfd, p + base, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	n = k == 0 && S_ISLNK(st.st_mode)
		    ? readlinkat(dfd, p + base, target, sizeof(target))
		    : -1;
	close(dfd);
	if (k < 0)
		return k != -ENOENT || !e || r->kind == TP_CHANGE_DELETED;
	if (!e) /* two new directories are one */
		return r->type == TP_CHANGE_DIR && S_ISDIR(st.st_mode);
	e = sd_manifest_resolve(lower, e);
	if (!e)
		return false;
	switch (e->type) {
	case SD_T_DIR: return S_ISDIR(st.st_mode);
	case SD_T_SYMLINK:
		return n == (ssize_t)e->target_len &&
		       memcmp(target, e->target, (size_t)n) == 0;
	default:
		return S_ISREG(st.st_mode) && (uint64_t)st.st_size == e->size &&
		       (uint32_t)(st.st_mode & 07777) == e->mode &&
		       (int64_t)st.st_mtim.tv_sec * 1000000000 +
				       st.st_mtim.tv_nsec ==
			       e->mtime_ns;
	}
}

/* ---- the run ---- */

static void conflict(struct apply *a, struct row *r)
{
	log_error("conflict: %s%s: changed in the workspace and by a command; "
		  "left as it is",
		  shown(a, row_path(a, r), r->len),
		  r->type == TP_CHANGE_DIR ? "/" : "");
	r->status = ST_CONFLICT;
	a->conflicts++;
}

/* Deletions first, deepest first (so that a directory a command replaced
 * is gone before what replaces it is made); then creations in path order
 * (a directory before what is in it); then directories' attributes. */
static void run(struct apply *a)
{
	static const char *const verbs[] = {
		[TP_CHANGE_CREATED] = "create",
		[TP_CHANGE_MODIFIED] = "modify",
		[TP_CHANGE_DELETED] = "delete",
	};

	for (size_t i = 0; i < a->n; i++) {
		struct row *r = &a->rows[i];

		if (r->conflict) {
			conflict(a, r);
		} else if (a->dry_run) {
			applied(a, r,
				r->type == TP_CHANGE_FILE &&
						r->kind != TP_CHANGE_DELETED
					? r->size
					: 0);
			r->status = ST_PLANNED;
			if (!a->json)
				printf("%-6s %12" PRIu64 "  %s%s\n",
				       verbs[r->kind], r->size,
				       shown(a, row_path(a, r), r->len),
				       r->type == TP_CHANGE_DIR ? "/" : "");
		}
	}
	if (a->dry_run)
		return;
	for (size_t i = a->n; i-- > 0 && !a->fatal;)
		if (!a->rows[i].conflict &&
		    a->rows[i].kind == TP_CHANGE_DELETED)
			remove_row(a, &a->rows[i]);
	for (size_t i = 0; i < a->n && !a->fatal; i++)
		if (!a->rows[i].conflict &&
		    a->rows[i].kind != TP_CHANGE_DELETED)
			put_row(a, &a->rows[i]);
	if (!a->fatal)
		fix_dirs(a);
}

static int print_json(const struct apply *a)
{
	json_t *list = json_array(), *top;
	int k = 0;

	top = json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
			"workspace", a->name, "dir", a->dir, "dry_run",
			a->dry_run, "created", (json_int_t)a->created,
			"modified", (json_int_t)a->modified, "deleted",
			(json_int_t)a->deleted, "conflicts",
			(json_int_t)a->conflicts, "failed",
			(json_int_t)a->failed, "bytes", (json_int_t)a->bytes,
			"changes", list);
	if (!top)
		return -ENOMEM;
	for (size_t i = 0; i < a->n && k == 0; i++) {
		const struct row *r = &a->rows[i];
		struct tp_bytes path = { (const uint8_t *)row_path(a, r),
					 r->len };
		json_t *o = json_pack("{s:s, s:s, s:I}", "kind",
				      cli_change_kinds[r->kind], "type",
				      cli_change_types[r->type], "size",
				      (json_int_t)r->size);

		if (!o || cli_json_path(o, &path) < 0 ||
		    json_object_set_new(o, "conflict",
					json_boolean(r->conflict)) < 0 ||
		    json_object_set_new(o, "status",
					json_string(status_names[r->status])) <
			    0 ||
		    (r->error &&
		     json_object_set_new(o, "error", json_string(r->error)) <
			     0) ||
		    json_array_append_new(list, o) < 0) {
			json_decref(o);
			k = -ENOMEM;
		}
	}
	if (k == 0 && json_dumpf(top, stdout, JSON_COMPACT) < 0)
		k = -EIO;
	if (k == 0)
		putchar('\n');
	json_decref(top);
	return k;
}

/* --agent: where the config routes it, and whether it may write back. */
static int from_agent(struct apply *a, const char *agent, const char *config)
{
	const char *url, *ws, *domain, *dir;
	enum exec_writeback mode;
	char path[PATH_MAX], err[512];
	int r;

	if (!config) {
		r = exec_config_find(path, sizeof(path));
		if (r < 0) {
			log_error("apply --agent %s: no config (--config FILE, "
				  "$TETHER_CONFIG or ./tether.json)",
				  agent);
			return r;
		}
		config = path;
	}
	r = exec_config_load(config, &a->cfg, err, sizeof(err));
	if (r == 0)
		r = exec_router_workspace(a->cfg, agent, &url, &ws, &domain,
					  err, sizeof(err));
	if (r == 0)
		r = exec_router_writeback(a->cfg, agent, &mode, &dir, err,
					  sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		return r;
	}
	if (mode == EXEC_WRITEBACK_NONE) {
		log_error("apply --agent %s: its backend's writeback is none: "
			  "its changes stay in the view",
			  agent);
		return -EPERM;
	}
	if (!a->url)
		a->url = url;
	if (!a->name)
		a->name = ws;
	a->dir = dir;
	return 0;
}

static int parse(int argc, char **argv, struct apply *a)
{
	static const struct option opts[] = {
		{ "node", required_argument, NULL, 'N' },
		{ "workspace", required_argument, NULL, 'W' },
		{ "agent", required_argument, NULL, 'A' },
		{ "config", required_argument, NULL, 'C' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *agent = NULL, *config = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'N': a->url = optarg; break;
		case 'W': a->name = optarg; break;
		case 'A': agent = optarg; break;
		case 'C': config = optarg; break;
		case 'n': a->dry_run = true; break;
		case 'J': a->json = true; break;
		case 'h': fputs(usage, stdout); return 1;
		default: fputs(usage, stderr); return -EINVAL;
		}
	}
	/* A config that does not route the agent, or forbids it, is no
	 * usage error. */
	if (agent && from_agent(a, agent, config) < 0)
		return -EPERM;
	if (optind == argc - 1)
		a->dir = argv[optind];
	else if (optind != argc || !a->dir)
		a->dir = NULL;
	if (!a->url || !a->name || !a->dir) {
		fputs(usage, stderr);
		return -EINVAL;
	}
	if (!tp_name_ok((const uint8_t *)a->name, strlen(a->name))) {
		log_error("--workspace %s: not a name (1-%u of A-Z a-z 0-9 _ - "
			  "., not starting with '.')",
			  a->name, TP_NAME_MAX);
		return -EINVAL;
	}
	return 0;
}

int cli_apply(int argc, char **argv)
{
	struct apply a = { .root = -1 };
	struct sd_manifest lower;
	struct tp_link *link = NULL;
	int r, code = CLI_EXIT_FAILURE;

	r = parse(argc, argv, &a);
	if (r) {
		exec_config_free(a.cfg);
		return r > 0	     ? 0
		       : r == -EPERM ? CLI_EXIT_FAILURE
				     : CLI_EXIT_USAGE;
	}
	sd_manifest_init(&lower);
	a.root = open(a.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a.root < 0) {
		log_error("apply: %s: %s", a.dir, strerror(errno));
		exec_config_free(a.cfg);
		return CLI_EXIT_FAILURE;
	}
	r = tp_link_open(a.url, &link);
	if (r == 0)
		r = tp_chan_open(link, &a.ch);
	if (r == 0)
		r = cli_changes_fetch(a.ch, a.name, add_row, &a, a.err,
				      sizeof(a.err));
	if (r == 0 && a.n) /* nothing to compare DIR with otherwise */
		r = fetch_lower(&a, &lower);
	if (r == 0) {
		for (size_t i = 0; i < a.n; i++)
			if (!a.rows[i].conflict &&
			    !unchanged(&a, &a.rows[i], &lower))
				a.rows[i].conflict = true;
		mark_conflicts(&a);
		run(&a);
		r = a.fatal;
	}
	sd_manifest_free(&lower);
	tp_chan_close(a.ch);
	tp_link_close(link);
	if (r < 0) {
		log_error("apply %s: %s", a.url,
			  a.err[0]	       ? a.err
			  : r == -ECONNREFUSED ? "connection refused"
					       : strerror(-r));
		goto out;
	}
	if (a.json) {
		if (print_json(&a) < 0) {
			log_error("apply %s: writing the JSON failed", a.name);
			goto out;
		}
	} else {
		printf("tether apply%s: %" PRIu64 " created, %" PRIu64
		       " modified, %" PRIu64 " deleted, %" PRIu64 " conflicts",
		       a.dry_run ? " (dry run)" : "", a.created, a.modified,
		       a.deleted, a.conflicts);
		if (a.failed)
			printf(", %" PRIu64 " failed", a.failed);
		printf(" (%" PRIu64 " bytes)\n", a.bytes);
	}
	code = a.conflicts || a.failed ? 1 : 0;
out:
	for (size_t i = 0; i < a.n; i++)
		free(a.rows[i].error);
	free(a.rows);
	free(a.paths);
	free(a.fix);
	close(a.root);
	exec_config_free(a.cfg);
	return code;
}
