/* SPDX-License-Identifier: MIT */
/* Base manifest plus delta log (see wslog.h). */
#include "wslog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cleanup.h"
#include "log.h"

#define REC_MAGIC    "TLOG"
#define REC_HDR	     16
#define COMPACT_LOG  (8u << 20) /* bytes of log before folding */
#define COMPACT_RECS 64u

struct sd_wslog {
	char *dir, *base_path, *log_path;
	int fd; /* the log, O_APPEND */
	uint64_t size;
	unsigned records;
};

static uint64_t le(const uint8_t *p, unsigned w)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < w; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int slurp(int fd, uint8_t **buf, size_t *len)
{
	struct stat st;
	size_t got = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size > SD_ENC_MAX)
		return -EFBIG;
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t k = pread(fd, *buf + got, (size_t)st.st_size - got,
				  (off_t)got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			free(*buf);
			*buf = NULL;
			return k < 0 ? -errno : -EIO;
		}
		got += (size_t)k;
	}
	*len = got;
	return 0;
}

static uint64_t mtime_ms(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return 0;
	return (uint64_t)st.st_mtim.tv_sec * 1000 +
	       (uint64_t)st.st_mtim.tv_nsec / 1000000;
}

static int load_base(struct sd_wslog *l, struct sd_wslog_state *st,
		     struct sd_err *why)
{
	_cleanup_close_ int fd = open(l->base_path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	if (fd < 0 && errno == ENOENT)
		return sd_manifest_seal(&st->cur, why);
	if (fd < 0)
		return sd_err_set(why, -errno, "%s: %s", l->base_path,
				  strerror(errno));
	r = slurp(fd, &buf, &len);
	if (r < 0)
		return sd_err_set(why, r, "%s: %s", l->base_path, strerror(-r));
	r = sd_manifest_decode(buf, len, &st->cur, why);
	if (r < 0)
		return r;
	st->committed_ms = mtime_ms(fd);
	return 0;
}

/* Apply every whole record newer than the base; cut the log after the
 * last good one. */
static int replay(struct sd_wslog *l, struct sd_wslog_state *st,
		  struct sd_err *why)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len, pos = 0;
	int r;

	r = slurp(l->fd, &buf, &len);
	if (r < 0)
		return sd_err_set(why, r, "%s: %s", l->log_path, strerror(-r));
	while (len - pos >= REC_HDR) {
		const uint8_t *h = buf + pos;
		uint64_t n = le(h + 4, 4);
		struct sd_manifest next;
		struct sd_delta d;
		struct sd_err derr;

		if (memcmp(h, REC_MAGIC, 4) || n > len - pos - REC_HDR ||
		    XXH3_64bits(h + REC_HDR, n) != le(h + 8, 8))
			break;
		sd_delta_init(&d);
		if (sd_delta_decode(h + REC_HDR, n, &d, &derr) < 0) {
			sd_delta_free(&d);
			break;
		}
		if (d.version <= st->cur.version) {
			/* Folded into the base already. */
			sd_delta_free(&d);
			pos += REC_HDR + n;
			continue;
		}
		r = sd_delta_apply(&st->cur, &d, &next, &derr);
		if (r < 0) {
			log_warn("%s: record at %zu does not apply (%s): the "
				 "log is cut there",
				 l->log_path, pos, derr.what);
			sd_delta_free(&d);
			break;
		}
		sd_manifest_free(&st->prev);
		sd_delta_free(&st->last);
		st->prev = st->cur;
		st->cur = next;
		st->last = d;
		st->redo = true;
		pos += REC_HDR + n;
		l->records++;
	}
	if (pos != len) {
		log_warn("%s: cutting %zu bytes of an unfinished commit",
			 l->log_path, len - pos);
		if (ftruncate(l->fd, (off_t)pos) < 0 || fsync(l->fd) < 0)
			return sd_err_set(why, -errno, "%s: %s", l->log_path,
					  strerror(errno));
	}
	l->size = pos;
	if (st->redo)
		st->committed_ms = mtime_ms(l->fd);
	return 0;
}

int sd_wslog_open(const char *dir, struct sd_wslog **ret,
		  struct sd_wslog_state *st, struct sd_err *why)
{
	struct sd_wslog *l = calloc(1, sizeof(*l));
	int r;

	memset(st, 0, sizeof(*st));
	sd_manifest_init(&st->cur);
	sd_manifest_init(&st->prev);
	sd_delta_init(&st->last);
	if (l)
		l->fd = -1;
	if (!l || !(l->dir = strdup(dir)) ||
	    asprintf(&l->base_path, "%s/manifest", dir) < 0 ||
	    asprintf(&l->log_path, "%s/log", dir) < 0) {
		r = sd_err_set(why, -ENOMEM, "out of memory");
		goto fail;
	}
	l->fd = open(l->log_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC,
		     0600);
	if (l->fd < 0) {
		r = sd_err_set(why, -errno, "%s: %s", l->log_path,
			       strerror(errno));
		goto fail;
	}
	r = load_base(l, st, why);
	if (r == 0)
		r = replay(l, st, why);
	if (r < 0)
		goto fail;
	*ret = l;
	return 0;
fail:
	sd_wslog_state_free(st);
	memset(st, 0, sizeof(*st));
	sd_manifest_init(&st->cur);
	sd_manifest_init(&st->prev);
	sd_delta_init(&st->last);
	sd_wslog_close(l);
	return r;
}

void sd_wslog_state_free(struct sd_wslog_state *st)
{
	sd_manifest_free(&st->cur);
	sd_manifest_free(&st->prev);
	sd_delta_free(&st->last);
}

int sd_wslog_append(struct sd_wslog *l, const struct sd_delta *d,
		    struct sd_err *why)
{
	_cleanup_free_ uint8_t *enc = NULL;
	uint8_t h[REC_HDR] = REC_MAGIC;
	uint64_t sum;
	size_t len, done = 0;
	int r;

	r = sd_delta_encode(d, &enc, &len);
	if (r < 0)
		return sd_err_set(why, r, "encoding the delta: %s",
				  strerror(-r));
	if (len > UINT32_MAX)
		return sd_err_set(why, -EFBIG, "a delta of %zu bytes", len);
	sum = XXH3_64bits(enc, len);
	for (unsigned i = 0; i < 4; i++)
		h[4 + i] = (uint8_t)(len >> (8 * i));
	for (unsigned i = 0; i < 8; i++)
		h[8 + i] = (uint8_t)(sum >> (8 * i));
	while (done < REC_HDR + len) {
		const uint8_t *p = done < REC_HDR ? h + done
						  : enc + done - REC_HDR;
		size_t n = done < REC_HDR ? REC_HDR - done
					  : len - (done - REC_HDR);
		ssize_t k = write(l->fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			goto undo;
		done += (size_t)k;
	}
	if (fdatasync(l->fd) < 0)
		goto undo;
	l->size += REC_HDR + len;
	l->records++;
	return 0;
undo:
	r = -errno;
	if (ftruncate(l->fd, (off_t)l->size) < 0)
		log_warn("%s: cannot cut back an unfinished record: %s",
			 l->log_path, strerror(errno));
	return sd_err_set(why, r, "%s: %s", l->log_path, strerror(-r));
}

unsigned sd_wslog_records(const struct sd_wslog *l)
{
	return l->records;
}

bool sd_wslog_wants_compact(const struct sd_wslog *l)
{
	return l->size > COMPACT_LOG || l->records > COMPACT_RECS;
}

int sd_wslog_compact(struct sd_wslog *l, const struct sd_manifest *cur,
		     struct sd_err *why)
{
	_cleanup_free_ uint8_t *enc = NULL;
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1, dfd = -1;
	size_t len, done = 0;
	int r;

	r = sd_manifest_encode(cur, &enc, &len);
	if (r < 0)
		return sd_err_set(why, r, "encoding the manifest: %s",
				  strerror(-r));
	if (asprintf(&tmp, "%s.tmp", l->base_path) < 0)
		return sd_err_set(why, -ENOMEM, "out of memory");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	while (done < len) {
		ssize_t k = write(fd, enc + done, len - done);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			goto fail;
		done += (size_t)k;
	}
	if (fsync(fd) < 0 || rename(tmp, l->base_path) < 0)
		goto fail;
	dfd = open(l->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		goto fail;
	/* Records up to cur are in the base now: a crash before the cut
	 * only leaves records the next open skips. */
	if (ftruncate(l->fd, 0) < 0 || fsync(l->fd) < 0)
		goto fail;
	l->size = 0;
	l->records = 0;
	return 0;
fail:
	r = -errno;
	unlink(tmp);
	return sd_err_set(why, r, "saving %s: %s", l->base_path, strerror(-r));
}

void sd_wslog_close(struct sd_wslog *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	free(l->dir);
	free(l->base_path);
	free(l->log_path);
	free(l);
}
