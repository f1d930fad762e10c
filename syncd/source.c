/* SPDX-License-Identifier: MIT */
/* Agent side of workspace sync (see source.h and docs/protocol.md). */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "mkdirs.h"
#include "pack.h"
#include "source_int.h"

#define CALL_MS SDS_CALL_MS
/* Full offers after a commit refused because another sync came first. */
#define PUSH_TRIES 8

int sd_source_cache_dir(char *buf, size_t cap)
{
	const char *e = getenv("TETHER_CACHE"), *x = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n;

	if (e && *e)
		n = snprintf(buf, cap, "%s", e);
	else if (x && *x)
		n = snprintf(buf, cap, "%s/tether", x);
	else
		n = snprintf(buf, cap, "%s/.cache/tether",
			     home && *home ? home : "/tmp");
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* ---- what the node had last time ---- */

static void load_last(const char *path, struct sd_manifest *m)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ uint8_t *buf = NULL;
	struct stat st;
	size_t got = 0;

	sd_manifest_init(m);
	if (fd < 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_size > SD_ENC_MAX)
		return;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return;
	while (got < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);

		if (k <= 0)
			return;
		got += (size_t)k;
	}
	if (sd_manifest_decode(buf, got, m, NULL) < 0) {
		sd_manifest_free(m);
		sd_manifest_init(m);
	}
}

static void save_last(const char *path, const struct sd_manifest *m)
{
	_cleanup_free_ uint8_t *enc = NULL;
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	size_t len;

	/* Per process: syncs of one tree at once each write their own. */
	if (sd_manifest_encode(m, &enc, &len) < 0 ||
	    asprintf(&tmp, "%s.%d.tmp", path, (int)getpid()) < 0)
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, enc, len) != (ssize_t)len || rename(tmp, path) < 0)
		unlink(tmp);
}

/* Whether the file at path holds m's version and root already: its header
 * says so, and it was written whole (temporary file, then rename). */
static bool last_is(const char *path, const struct sd_manifest *m)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t hdr[SD_MANIFEST_HEADER];
	struct sd_id root;
	uint64_t version;

	return fd >= 0 && read(fd, hdr, sizeof(hdr)) == (ssize_t)sizeof(hdr) &&
	       sd_manifest_peek(hdr, sizeof(hdr), &version, &root) == 0 &&
	       version == m->version && sd_id_eq(&root, &m->root);
}

/* ---- calls ---- */

static int call(struct tp_chan *c, const struct tp_msg *req, struct tp_msg *rep,
		uint16_t want, struct sd_err *why)
{
	char err[TP_ERRMSG_MAX + 64] = "";
	int r = tp_chan_call(c, req, rep, CALL_MS, err, sizeof(err));

	if (r < 0)
		return sd_err_set(why, r, "%s: %s", tp_type_name(req->type),
				  err[0] ? err : strerror(-r));
	if (rep->type != want)
		return sd_err_set(why, -EPROTO, "%s: unexpected reply %s",
				  tp_type_name(req->type),
				  tp_type_name(rep->type));
	return 0;
}

/* ---- one sync ---- */

static int offer(struct tp_chan *c, const struct sd_source_opts *o,
		 uint64_t session, const uint8_t *enc, size_t len,
		 uint8_t **ids, size_t *nids, struct sd_err *why)
{
	struct tp_msg req = { .type = TP_SYNC_OFFER }, rep;
	size_t off = 0;
	int r;

	req.offer.workspace =
		(struct tp_bytes){ (const uint8_t *)o->workspace,
				   (uint32_t)strlen(o->workspace) };
	req.offer.session = session;
	req.offer.total = len;
	do {
		size_t n = len - off > TP_BULK_MAX ? TP_BULK_MAX : len - off;

		req.offer.offset = off;
		req.offer.data = (struct tp_bytes){ enc + off, (uint32_t)n };
		off += n;
		r = call(c, &req, &rep, off < len ? TP_OK : TP_SYNC_WANT, why);
		if (r < 0)
			return r;
	} while (off < len);
	*nids = rep.want.total;
	*ids = malloc((rep.want.total ? rep.want.total : 1) * SD_ID_SIZE);
	if (!*ids)
		return sd_err_set(why, -ENOMEM, "out of memory");
	for (uint64_t have = 0;;) {
		if (rep.want.index != have || rep.want.total != *nids)
			return sd_err_set(why, -EPROTO,
					  "SYNC_WANT out of order");
		memcpy(*ids + have * SD_ID_SIZE, rep.want.ids,
		       (size_t)rep.want.count * SD_ID_SIZE);
		have += rep.want.count;
		if (have == *nids)
			return 0;
		if (rep.want.count == 0)
			return sd_err_set(why, -EPROTO,
					  "SYNC_WANT: empty page");
		req = (struct tp_msg){ .type = TP_SYNC_NEED,
				       .need = { session, have } };
		r = call(c, &req, &rep, TP_SYNC_WANT, why);
		if (r < 0)
			return r;
	}
}

static uint64_t new_session(void)
{
	uint64_t s = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		(void)!read(fd, &s, sizeof(s));
		close(fd);
	}
	s ^= (uint64_t)util_now_us() * 0x9e3779b97f4a7c15ull;
	return s ? s : 1;
}

struct sd_source {
	struct tp_link *link;
	const struct sd_source_opts *o;
	struct tp_chan *c;
	char *real;	 /* the directory, resolved */
	int root;	 /* and open */
	char *stat_path; /* the stat cache */
	char *last_path; /* the manifest the node committed last */
	/* That manifest in memory (loaded once), and whether the file is
	 * behind it. */
	struct sd_manifest last;
	bool last_loaded, last_dirty, lazy_save;
	/* A lazy push's chunks, following (sd_source_fill_wait()); and
	 * whether the node refused lazy commits (it has no views). */
	struct sender *fill;
	bool no_lazy;
	int64_t t0_ms; /* of the push in progress */
};

/* SYNC_COMMIT of m's version; lazy: before the chunks. */
static int commit(struct sd_source *s, uint64_t session,
		  const struct sd_manifest *m, bool lazy,
		  struct sd_source_report *rep, struct sd_err *why)
{
	struct tp_msg req = { .type = TP_SYNC_COMMIT }, reply;
	int r;

	req.commit.session = session;
	req.commit.version = m->version;
	memcpy(req.commit.root, m->root.b, SD_ID_SIZE);
	req.commit.flags = lazy ? TP_COMMIT_F_LAZY : 0;
	r = call(s->c, &req, &reply, TP_SYNC_STATE, why);
	if (r < 0)
		return r;
	rep->version = reply.state.version;
	if (!rep->commit_ms)
		rep->commit_ms = (uint64_t)(util_now_ms() - s->t0_ms);
	return 0;
}

static int push_once(struct sd_source *s, struct sd_manifest *m,
		     const struct sd_delta *hint, bool force_full,
		     struct sd_source_report *rep, struct sd_err *why)
{
	const struct sd_source_opts *o = s->o;
	struct tp_msg req = { .type = TP_SYNC_BEGIN }, reply;
	struct sd_manifest empty, *base = &s->last;
	struct sd_delta d;
	struct sender sd = { .link = s->link, .o = o, .m = m, .root = s->root },
		      *fill;
	_cleanup_free_ uint8_t *enc = NULL, *ids = NULL;
	size_t len, nids = 0;
	bool hint_used = false;
	struct stat st;
	uint64_t cur;
	int r;

	req.begin.workspace =
		(struct tp_bytes){ (const uint8_t *)o->workspace,
				   (uint32_t)strlen(o->workspace) };
	if (o->domain)
		req.begin.domain =
			(struct tp_bytes){ (const uint8_t *)o->domain,
					   (uint32_t)strlen(o->domain) };
	if (o->passthrough && fstat(s->root, &st) == 0) {
		req.begin.dir = (struct tp_bytes){ (const uint8_t *)s->real,
						   (uint32_t)strlen(s->real) };
		req.begin.dir_dev = (uint64_t)st.st_dev;
		req.begin.dir_ino = (uint64_t)st.st_ino;
	}
	r = call(s->c, &req, &reply, TP_SYNC_STATE, why);
	if (r < 0)
		return r;
	cur = reply.state.version;
	rep->version = cur;
	if (cur && !memcmp(reply.state.root, m->root.b, SD_ID_SIZE) &&
	    !reply.state.missing) {
		/* The node already has exactly this tree. (With chunks of
		 * it missing, the offer of it again gets them asked for.) */
		m->version = cur;
		rep->up_to_date = true;
		return 0;
	}
	m->version = cur + 1;
	if (!s->last_loaded) {
		load_last(s->last_path, &s->last);
		s->last_loaded = true;
	}
	sd_manifest_init(&empty);
	if (force_full || !s->last.sealed || s->last.version != cur ||
	    memcmp(reply.state.root, s->last.root.b, SD_ID_SIZE)) {
		r = sd_manifest_seal(&empty, why);
		if (r < 0)
			return r;
		base = &empty;
		rep->full = true;
	}
	if (base == &s->last && hint && hint->base_version == s->last.version &&
	    sd_id_eq(&hint->base_root, &s->last.root) &&
	    sd_id_eq(&hint->root, &m->root)) {
		/* The caller's delta from last: no diff of the trees. Only
		 * its version is the node's next. d borrows what hint owns. */
		d = *hint;
		d.version = m->version;
		r = sd_delta_encode(&d, &enc, &len);
		hint_used = true;
	} else {
		sd_delta_init(&d);
		r = sd_delta_diff(base, m, &d);
		if (r == 0)
			r = sd_delta_encode(&d, &enc, &len);
	}
	rep->changed = d.put.count + d.ndel;
	sd_manifest_free(&empty);
	if (r < 0) {
		if (!hint_used)
			sd_delta_free(&d);
		return sd_err_set(why, r, "building the delta: %s",
				  strerror(-r));
	}
	rep->offer_bytes = len;
	sd.session = new_session();
	r = offer(s->c, o, sd.session, enc, len, &ids, &nids, why);
	if (r == 0)
		r = sds_locate(&sd, ids, nids, &d, why);
	if (!hint_used)
		sd_delta_free(&d);
	if (r < 0) {
		sds_fini(&sd);
		return r;
	}
	if (o->lazy && !s->no_lazy && (sd.ntasks || m->npending)) {
		r = commit(s, sd.session, m, true, rep, why);
		if (r == 0) {
			/* The chunks follow, once m is the source's last. */
			fill = malloc(sizeof(*fill));
			if (!fill) {
				sds_fini(&sd);
				return sd_err_set(why, -ENOMEM,
						  "out of memory");
			}
			*fill = sd;
			s->fill = fill;
			rep->lazy = true;
			return 0;
		}
		if (r == -EOPNOTSUPP)
			s->no_lazy = true;
		if (r != -EOPNOTSUPP || m->npending) {
			/* Pending files: sd_source_scan_push() reads them. */
			sds_fini(&sd);
			return r;
		}
		/* A node without views: chunks first, as usual. */
		memset(why, 0, sizeof(*why));
	}
	r = sds_send(&sd, why);
	rep->chunks_sent = sd.chunks_done;
	rep->raw_bytes = sd.raw_done;
	rep->wire_bytes = sd.wire;
	sds_fini(&sd);
	if (r < 0)
		return r;
	return commit(s, sd.session, m, false, rep, why);
}

/* A cache file's name: the hex of XXH3-128 over the NUL-terminated parts. */
static int cache_name(const char *dir, const char *url, const char *ws,
		      char hex[SD_ID_HEX])
{
	struct sd_hasher *h = sd_hasher_new();
	struct sd_id key;

	if (!h)
		return -ENOMEM;
	sd_hasher_update(h, dir, strlen(dir) + 1);
	if (url) {
		sd_hasher_update(h, url, strlen(url) + 1);
		sd_hasher_update(h, ws, strlen(ws) + 1);
	}
	sd_hasher_final(h, &key);
	sd_hasher_free(h);
	sd_id_hex(&key, hex);
	return 0;
}

int sd_source_watch_url(const char *cache_dir, const char *dir, const char *url,
			const char *ws, char *out, size_t cap)
{
	char hex[SD_ID_HEX];
	int n, r = cache_name(dir, url, ws, hex);

	if (r < 0)
		return r;
	/* sun_path holds 107 bytes and a NUL. */
	n = snprintf(out, cap, "ipc://%s/%s.watch", cache_dir, hex);
	return n < 0 || (size_t)n >= cap || n - 6 > 107 ? -ENAMETOOLONG : 0;
}

int sd_source_open(struct tp_link *link, const struct sd_source_opts *o,
		   struct sd_source **ret, struct sd_err *why)
{
	struct sd_source *s = calloc(1, sizeof(*s));
	char hex[SD_ID_HEX], stat_hex[SD_ID_HEX];
	int r;

	if (!s)
		return sd_err_set(why, -ENOMEM, "out of memory");
	s->link = link;
	s->o = o;
	s->root = -1;
	sd_manifest_init(&s->last);
	s->real = realpath(o->dir, NULL);
	if (!s->real) {
		r = sd_err_set(why, -errno, "%s: %s", o->dir, strerror(errno));
		goto fail;
	}
	s->root = open(s->real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root < 0) {
		r = sd_err_set(why, -errno, "%s: %s", s->real, strerror(errno));
		goto fail;
	}
	/* The stat cache is about this directory's files only, whatever node
	 * they go to; the manifest a node committed is per (directory, node,
	 * workspace). */
	r = cache_name(s->real, NULL, NULL, stat_hex);
	if (r == 0)
		r = cache_name(s->real, tp_link_url(link), o->workspace, hex);
	if (r < 0) {
		sd_err_set(why, r, "out of memory");
		goto fail;
	}
	r = util_mkdirs(o->cache_dir, 0700);
	if (r < 0) {
		sd_err_set(why, r, "cache %s: %s", o->cache_dir, strerror(-r));
		goto fail;
	}
	if (asprintf(&s->stat_path, "%s/%s.stat", o->cache_dir, stat_hex) < 0 ||
	    asprintf(&s->last_path, "%s/%s.last", o->cache_dir, hex) < 0) {
		r = sd_err_set(why, -ENOMEM, "out of memory");
		goto fail;
	}
	r = tp_chan_open(link, &s->c);
	if (r < 0) {
		sd_err_set(why, r, "%s: %s", tp_link_url(link), strerror(-r));
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	sd_source_close(s);
	return r;
}

void sd_source_set_lazy_save(struct sd_source *s, bool lazy)
{
	s->lazy_save = lazy;
}

const char *sd_source_dir(const struct sd_source *s)
{
	return s->real;
}

static int scan(struct sd_source *s, struct sd_manifest *m,
		struct sd_scan_stats *st, bool pending, struct sd_err *why)
{
	struct sd_scan_opts so = s->o->scan;

	so.cache = s->stat_path;
	so.pending = pending;
	return sd_scan(s->real, &so, m, st, why);
}

int sd_source_scan(struct sd_source *s, struct sd_manifest *m,
		   struct sd_scan_stats *st, struct sd_err *why)
{
	const struct sd_source_opts *o = s->o;

	return scan(s, m, st,
		    o->lazy && o->meta_first && !o->passthrough && !s->no_lazy,
		    why);
}

int sd_source_scan_push(struct sd_source *s, struct sd_source_report *rep,
			struct sd_err *why)
{
	struct sd_manifest m;
	int r;

	sd_manifest_init(&m);
	r = sd_source_scan(s, &m, &rep->scan, why);
	if (r == 0)
		r = sd_source_push(s, &m, rep, why);
	if (r == -EOPNOTSUPP && m.npending) {
		/* A node without views: every file read, then pushed. */
		memset(why, 0, sizeof(*why));
		sd_manifest_free(&m);
		r = scan(s, &m, &rep->scan, false, why);
		if (r == 0)
			r = sd_source_push(s, &m, rep, why);
	}
	sd_manifest_free(&m);
	return r;
}

int sd_source_define(struct sd_source *s, struct sd_source_report *rep,
		     struct sd_err *why)
{
	struct sd_source_report more = { 0 };
	struct sd_manifest m;
	int r;

	if (!s->last.npending)
		return 0;
	/* The fill of the pending version goes on meanwhile: it answers the
	 * views' asks. The push stops it, and asks the node again for what
	 * is missing. */
	sd_manifest_init(&m);
	r = scan(s, &m, &more.scan, false, why);
	if (r == 0)
		r = sd_source_push(s, &m, &more, why);
	sd_manifest_free(&m);
	rep->scan.hashed_files += more.scan.hashed_files;
	rep->scan.hashed_bytes += more.scan.hashed_bytes;
	rep->offer_bytes += more.offer_bytes;
	rep->chunks_sent += more.chunks_sent;
	rep->raw_bytes += more.raw_bytes;
	rep->wire_bytes += more.wire_bytes;
	if (r == 0)
		rep->version = more.version;
	return r;
}

bool sd_source_filling(const struct sd_source *s)
{
	return s->fill &&
	       (!atomic_load(&s->fill->bulk_done) || s->last.npending);
}

int sd_source_fill_wait(struct sd_source *s, bool stop,
			struct sd_source_report *rep, struct sd_err *why)
{
	struct sender *f = s->fill;
	int r;

	if (!f)
		return 0;
	s->fill = NULL;
	r = sds_fill_end(f, stop, why);
	if (rep) {
		rep->chunks_sent += f->chunks_done;
		rep->raw_bytes += f->raw_done;
		rep->wire_bytes += f->wire;
	}
	free(f);
	return r;
}

int sd_source_push_delta(struct sd_source *s, struct sd_manifest *m,
			 const struct sd_delta *d, struct sd_source_report *rep,
			 struct sd_err *why)
{
	int r;

	/* What a fill in progress has not sent, this push's want asks for
	 * again (the node lists all of its missing chunks). */
	sd_source_fill_wait(s, true, NULL, &(struct sd_err){ "" });
	s->t0_ms = util_now_ms();
	r = push_once(s, m, d, false, rep, why);

	/* Someone else committed in between: offer it all again, as long
	 * as others keep coming first (several syncs of one tree at once). */
	for (int i = 0; r == -ESTALE && i < PUSH_TRIES; i++) {
		memset(why, 0, sizeof(*why));
		r = push_once(s, m, NULL, true, rep, why);
	}
	if (r < 0)
		return r;
	/* m is what the node has now: the base of the next delta. */
	sd_manifest_free(&s->last);
	s->last = *m;
	s->last_loaded = true;
	sd_manifest_init(m);
	/* A no-op sync need not write 3 MB (80k files) of what is there. */
	s->last_dirty = !(rep->up_to_date && last_is(s->last_path, &s->last));
	if (s->last_dirty && !s->lazy_save) {
		save_last(s->last_path, &s->last);
		s->last_dirty = false;
	}
	if (s->fill) {
		/* Its tasks point into the manifest by index: now s->last. */
		s->fill->m = &s->last;
		r = sds_fill_start(s->fill, why);
		if (r < 0) {
			free(s->fill);
			s->fill = NULL;
		}
	}
	return r;
}

int sd_source_push(struct sd_source *s, struct sd_manifest *m,
		   struct sd_source_report *rep, struct sd_err *why)
{
	return sd_source_push_delta(s, m, NULL, rep, why);
}

const struct sd_manifest *sd_source_last(const struct sd_source *s)
{
	return s->last_loaded ? &s->last : NULL;
}

void sd_source_close(struct sd_source *s)
{
	if (!s)
		return;
	sd_source_fill_wait(s, true, NULL, &(struct sd_err){ "" });
	if (s->last_dirty)
		save_last(s->last_path, &s->last);
	tp_chan_close(s->c);
	if (s->root >= 0)
		close(s->root);
	sd_manifest_free(&s->last);
	free(s->real);
	free(s->stat_path);
	free(s->last_path);
	free(s);
}

int sd_source_sync(struct tp_link *link, const struct sd_source_opts *o,
		   struct sd_source_report *rep, struct sd_err *why)
{
	struct sd_source *s = NULL;
	uint64_t t0 = util_now_ms();
	int r;

	memset(rep, 0, sizeof(*rep));
	r = sd_source_open(link, o, &s, why);
	if (r == 0)
		r = sd_source_scan_push(s, rep, why);
	if (r == 0)
		r = sd_source_define(s, rep, why);
	if (r == 0)
		r = sd_source_fill_wait(s, false, rep, why);
	sd_source_close(s);
	rep->ms = util_now_ms() - t0;
	return r;
}
