/* SPDX-License-Identifier: MIT */
/* The chunk store: pack files written in batches, an index appended after
 * the packs are durable, an in-memory table loaded from the index. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "pack.h"
#include "zchunk.h"

#define IDX_MAGIC     "TTHRCIDX"
#define IDX_VERSION   1u
#define IDX_HDR_SIZE  16u
#define IDX_REC_SIZE  48u
#define IDX_SUM_OFF   40u
#define IDX_READ_RECS 4096u /* records per read at open */

/* 2^20 packs of 256 MiB is 256 TiB; a larger number in a record whose
 * checksum holds is still refused, so nothing sizes an array from it. */
#define PACKS_MAX (1u << 20)

#define PACK_NAME_MAX sizeof("00000000.pack")

/* Where a chunk lives. Never removed: a chunk found corrupt is marked bad
 * and its slot reused by the next put of the same id. */
struct loc {
	struct sd_id id;
	uint64_t off; /* of the record header in the pack */
	uint32_t pack;
	uint32_t raw_len;
	uint32_t stored_len;
	uint8_t flag;
	bool bad;
};

/* Open addressing with linear probing over slot (entry index + 1, 0 for
 * empty), keyed by sd_id_key(); at most half full. */
struct table {
	struct loc *e;
	uint32_t n, ecap;
	uint32_t *slot;
	uint32_t nslot; /* a power of two, or 0 */
};

struct sd_store {
	char *dir;
	int dfd, pdfd, ifd;
	uint64_t roll;

	/* wlock serialises puts and guards the write side below. Lock
	 * order: wlock, then lock. */
	pthread_mutex_t wlock;
	int pack_fd; /* current pack, read-write */
	uint32_t pack_no;
	uint64_t pack_end; /* bytes of the current pack the index covers */
	uint64_t index_end;

	/* lock guards the table, the read fds, the context pool and the
	 * stats; it is never held across disk I/O except open(2). */
	pthread_mutex_t lock;
	struct table t;
	int *rfd; /* per pack number, read-only, -1 until first read */
	uint32_t nrfd;
	struct sd_zctx **zpool;
	size_t nz, zcap;
	struct sd_store_stats st;
};

__attribute__((format(printf, 3, 4))) static int fail(struct sd_err *why, int r,
						      const char *fmt, ...)
{
	va_list ap;

	if (why) {
		va_start(ap, fmt);
		vsnprintf(why->what, sizeof(why->what), fmt, ap);
		va_end(ap);
	}
	return r;
}

/* Quota exhaustion is the same event as a full disk to the caller. */
static int disk_errno(int e)
{
	return e == EDQUOT ? -ENOSPC : -e;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void pack_name(char out[PACK_NAME_MAX], uint32_t n)
{
	snprintf(out, PACK_NAME_MAX, "%08u.pack", n % 100000000u);
}

/* ---- the table ---- */

static int64_t table_find(const struct table *t, const struct sd_id *id)
{
	uint32_t mask = t->nslot - 1, i, s;

	if (!t->nslot)
		return -1;
	for (i = (uint32_t)sd_id_key(id) & mask; (s = t->slot[i]);
	     i = (i + 1) & mask)
		if (sd_id_eq(&t->e[s - 1].id, id))
			return s - 1;
	return -1;
}

static void slot_insert(struct table *t, uint32_t idx)
{
	uint32_t mask = t->nslot - 1, i;

	i = (uint32_t)sd_id_key(&t->e[idx].id) & mask;
	while (t->slot[i])
		i = (i + 1) & mask;
	t->slot[i] = idx + 1;
}

/* Room for n entries in all, so that inserts up to there cannot fail. */
static int table_reserve(struct table *t, uint64_t n)
{
	uint32_t nslot, ecap, i;
	uint32_t *slot;
	struct loc *e;

	if (n > UINT32_MAX / 4)
		return -EOVERFLOW;
	if (n > t->ecap) {
		ecap = t->ecap ? t->ecap : 1024;
		while (ecap < n)
			ecap *= 2;
		e = realloc(t->e, (size_t)ecap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		t->e = e;
		t->ecap = ecap;
	}
	if (2 * n > t->nslot) {
		nslot = t->nslot ? t->nslot : 2048;
		while (nslot < 2 * n)
			nslot *= 2;
		slot = calloc(nslot, sizeof(*slot));
		if (!slot)
			return -ENOMEM;
		free(t->slot);
		t->slot = slot;
		t->nslot = nslot;
		for (i = 0; i < t->n; i++)
			slot_insert(t, i);
	}
	return 0;
}

/* Add l, or overwrite the entry with its id. Capacity must be reserved. */
static struct loc *table_set(struct table *t, const struct loc *l,
			     struct loc *old)
{
	int64_t i = table_find(t, &l->id);

	if (i >= 0) {
		*old = t->e[i];
		t->e[i] = *l;
		return old;
	}
	t->e[t->n] = *l;
	slot_insert(t, t->n);
	t->n++;
	return NULL;
}

static void table_fini(struct table *t)
{
	free(t->e);
	free(t->slot);
	*t = (struct table){ 0 };
}

static void stats_add(struct sd_store_stats *st, const struct loc *l, int sign)
{
	if (l->bad)
		return;
	st->chunks += (uint64_t)(int64_t)sign;
	st->stored_bytes += (uint64_t)((int64_t)sign * l->stored_len);
	st->raw_bytes += (uint64_t)((int64_t)sign * l->raw_len);
}

/* Under lock. */
static void store_set(struct sd_store *s, const struct loc *l)
{
	struct loc old;

	if (table_set(&s->t, l, &old))
		stats_add(&s->st, &old, -1);
	stats_add(&s->st, l, +1);
}

/* ---- files ---- */

static int write_all(int fd, const void *buf, size_t n, uint64_t off)
{
	const uint8_t *p = buf;
	ssize_t w;

	while (n) {
		w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Step the iovec array past done bytes. */
static void iov_advance(struct iovec **iov, int *cnt, size_t done)
{
	while (*cnt && done >= (*iov)->iov_len) {
		done -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + done;
		(*iov)->iov_len -= done;
	}
}

/* Writes all of iov (modified). */
static int writev_all(int fd, struct iovec *iov, int cnt, uint64_t off)
{
	ssize_t w;

	while (cnt) {
		w = pwritev(fd, iov, cnt < IOV_MAX ? cnt : IOV_MAX, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		off += (uint64_t)w;
		iov_advance(&iov, &cnt, (size_t)w);
	}
	return 0;
}

/* Reads all of iov (modified); -ENODATA at end of file. */
static int readv_all(int fd, struct iovec *iov, int cnt, uint64_t off)
{
	ssize_t r;

	while (cnt) {
		r = preadv(fd, iov, cnt, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ENODATA;
		off += (uint64_t)r;
		iov_advance(&iov, &cnt, (size_t)r);
	}
	return 0;
}

/* Under lock: the read-only fd of pack n, opened on first use. */
static int rfd_get(struct sd_store *s, uint32_t n)
{
	char name[PACK_NAME_MAX];
	uint32_t cap;
	int *a, fd;

	if (n >= PACKS_MAX)
		return -ERANGE;
	if (n >= s->nrfd) {
		cap = s->nrfd ? s->nrfd : 16;
		while (cap <= n)
			cap *= 2;
		a = realloc(s->rfd, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		for (uint32_t i = s->nrfd; i < cap; i++)
			a[i] = -1;
		s->rfd = a;
		s->nrfd = cap;
	}
	if (s->rfd[n] < 0) {
		pack_name(name, n);
		fd = openat(s->pdfd, name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		s->rfd[n] = fd;
	}
	return s->rfd[n];
}

/* ---- index records ---- */

static void irec_encode(uint8_t out[IDX_REC_SIZE], const struct loc *l)
{
	memcpy(out, l->id.b, SD_ID_SIZE);
	put_le32(out + 16, l->pack);
	put_le32(out + 20, l->raw_len);
	put_le64(out + 24, l->off);
	put_le32(out + 32, l->stored_len);
	out[36] = l->flag;
	out[37] = out[38] = out[39] = 0;
	put_le64(out + IDX_SUM_OFF, XXH3_64bits(out, IDX_SUM_OFF));
}

/* False when the checksum fails: a torn or damaged record. */
static bool irec_decode(const uint8_t in[IDX_REC_SIZE], struct loc *l)
{
	if (get_le64(in + IDX_SUM_OFF) != XXH3_64bits(in, IDX_SUM_OFF))
		return false;
	memcpy(l->id.b, in, SD_ID_SIZE);
	l->pack = get_le32(in + 16);
	l->raw_len = get_le32(in + 20);
	l->off = get_le64(in + 24);
	l->stored_len = get_le32(in + 32);
	l->flag = in[36];
	l->bad = false;
	return true;
}

/* What the pack reader would accept, so that reads need not ask again. */
static bool loc_sane(const struct loc *l)
{
	if (l->pack >= PACKS_MAX || l->raw_len > SD_CHUNK_MAX)
		return false;
	if (l->flag == SD_Z_RAW)
		return l->stored_len == l->raw_len;
	if (l->flag == SD_Z_ZSTD)
		return l->raw_len && l->stored_len &&
		       l->stored_len <= ZSTD_compressBound(l->raw_len);
	return false;
}

static uint64_t loc_end(const struct loc *l)
{
	return l->off + SD_PACK_HDR_SIZE + l->stored_len;
}

/* ---- open ---- */

static int create_index(struct sd_store *s, struct sd_err *why)
{
	uint8_t hdr[IDX_HDR_SIZE];
	char tmp[64];
	int fd, r = 0;

	/* A private name and link(2), not rename(2): a racing opener can
	 * never replace an index another process already holds. */
	snprintf(tmp, sizeof(tmp), "index.tmp.%ld", (long)getpid());
	unlinkat(s->dfd, tmp, 0);
	fd = openat(s->dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(why, disk_errno(errno),
			    "chunk store %s: creating the index: %s", s->dir,
			    strerror(errno));
	memcpy(hdr, IDX_MAGIC, 8);
	put_le32(hdr + 8, IDX_VERSION);
	put_le32(hdr + 12, IDX_REC_SIZE);
	r = write_all(fd, hdr, sizeof(hdr), 0);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && linkat(s->dfd, tmp, s->dfd, "index", 0) < 0 &&
	    errno != EEXIST)
		r = -errno;
	unlinkat(s->dfd, tmp, 0);
	if (r == 0 && fsync(s->dfd) < 0)
		r = -errno;
	if (r < 0)
		return fail(why, disk_errno(-r),
			    "chunk store %s: creating the index: %s", s->dir,
			    strerror(-r));
	return 0;
}

static int open_index(struct sd_store *s, struct sd_err *why)
{
	uint8_t hdr[IDX_HDR_SIZE];
	struct stat st;
	ssize_t n;
	int r;

	s->ifd = openat(s->dfd, "index", O_RDWR | O_CLOEXEC);
	if (s->ifd < 0 && errno == ENOENT) {
		r = create_index(s, why);
		if (r < 0)
			return r;
		s->ifd = openat(s->dfd, "index", O_RDWR | O_CLOEXEC);
	}
	if (s->ifd < 0)
		return fail(why, -errno, "chunk store %s: index: %s", s->dir,
			    strerror(errno));
	if (flock(s->ifd, LOCK_EX | LOCK_NB) < 0)
		return fail(why, errno == EWOULDBLOCK ? -EBUSY : -errno,
			    "chunk store %s: in use by another process",
			    s->dir);
	if (fstat(s->ifd, &st) < 0)
		return fail(why, -errno, "chunk store %s: index: %s", s->dir,
			    strerror(errno));
	n = pread(s->ifd, hdr, sizeof(hdr), 0);
	if (n < 0)
		return fail(why, -errno, "chunk store %s: index: %s", s->dir,
			    strerror(errno));
	if (n < (ssize_t)sizeof(hdr) || memcmp(hdr, IDX_MAGIC, 8) != 0)
		return fail(why, -EBADMSG,
			    "chunk store %s: index: not a chunk store index "
			    "(bad header)",
			    s->dir);
	if (get_le32(hdr + 8) != IDX_VERSION ||
	    get_le32(hdr + 12) != IDX_REC_SIZE)
		return fail(why, -EPROTONOSUPPORT,
			    "chunk store %s: index: version %u with %u-byte "
			    "records, this build reads version %u",
			    s->dir, get_le32(hdr + 8), get_le32(hdr + 12),
			    IDX_VERSION);
	s->index_end = (uint64_t)st.st_size;
	return 0;
}

/* The size of pack n, from a cache filled during open (single-threaded,
 * so no lock). -1: no such pack; -2: out of memory. */
static int64_t pack_size(struct sd_store *s, int64_t **sizes, uint32_t *nsz,
			 uint32_t n)
{
	struct stat st;
	int64_t *a;
	uint32_t cap;
	int fd;

	if (n >= *nsz) {
		cap = *nsz ? *nsz : 16;
		while (cap <= n)
			cap *= 2;
		a = realloc(*sizes, cap * sizeof(*a));
		if (!a)
			return -2;
		for (uint32_t i = *nsz; i < cap; i++)
			a[i] = -3;
		*sizes = a;
		*nsz = cap;
	}
	if ((*sizes)[n] == -3) {
		fd = rfd_get(s, n);
		if (fd == -ENOMEM)
			return -2;
		(*sizes)[n] = fd >= 0 && fstat(fd, &st) == 0 ? st.st_size : -1;
	}
	return (*sizes)[n];
}

/* Read every index record into the table; cut a torn tail. */
static int load_index(struct sd_store *s, struct sd_err *why)
{
	uint64_t size = s->index_end, off, keep_end = IDX_HDR_SIZE;
	uint8_t *buf = NULL;
	int64_t *sizes = NULL, psz;
	uint32_t nsz = 0;
	struct loc l;
	size_t got;
	ssize_t n;
	int r = 0;

	buf = malloc((size_t)IDX_READ_RECS * IDX_REC_SIZE);
	if (!buf)
		return -ENOMEM;
	r = table_reserve(&s->t, (size - IDX_HDR_SIZE) / IDX_REC_SIZE);
	if (r == -EOVERFLOW)
		r = fail(why, r, "chunk store %s: index: too many records",
			 s->dir);
	if (r < 0)
		goto out;
	for (off = IDX_HDR_SIZE; off + IDX_REC_SIZE <= size; off += got) {
		n = pread(s->ifd, buf, (size_t)IDX_READ_RECS * IDX_REC_SIZE,
			  (off_t)off);
		if (n < 0 && errno == EINTR) {
			got = 0;
			continue;
		}
		if (n < 0) {
			r = fail(why, -errno, "chunk store %s: index: %s",
				 s->dir, strerror(errno));
			goto out;
		}
		got = (size_t)n / IDX_REC_SIZE * IDX_REC_SIZE;
		if (got == 0)
			break;
		for (size_t i = 0; i < got; i += IDX_REC_SIZE) {
			if (!irec_decode(buf + i, &l)) {
				s->st.index_dropped++;
				continue;
			}
			keep_end = off + i + IDX_REC_SIZE;
			psz = loc_sane(&l) ? pack_size(s, &sizes, &nsz, l.pack)
					   : -1;
			if (psz == -2) {
				r = -ENOMEM;
				goto out;
			}
			if (psz < 0 || loc_end(&l) > (uint64_t)psz) {
				s->st.index_dropped++;
				continue;
			}
			store_set(s, &l);
			if (l.pack > s->pack_no ||
			    (l.pack == s->pack_no &&
			     loc_end(&l) > s->pack_end)) {
				s->pack_no = l.pack;
				s->pack_end = loc_end(&l);
			}
		}
	}
	/* A partial record, or damaged ones with nothing good after them,
	 * is a write the crash interrupted: nothing was acknowledged on it. */
	if (keep_end < size) {
		s->st.index_dropped += (size - off) ? 1 : 0;
		if (ftruncate(s->ifd, (off_t)keep_end) < 0 ||
		    fsync(s->ifd) < 0) {
			r = fail(why, disk_errno(errno),
				 "chunk store %s: index: cutting a torn tail: "
				 "%s",
				 s->dir, strerror(errno));
			goto out;
		}
		s->index_end = keep_end;
	}
out:
	free(sizes);
	free(buf);
	return r;
}

/* Pack files numbered past the current one hold nothing the index points
 * to (a crash after a roll): remove them. */
static void remove_stray_packs(struct sd_store *s)
{
	struct dirent *de;
	unsigned long n;
	char *end;
	DIR *d;
	int fd;

	fd = openat(s->pdfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (strlen(de->d_name) != PACK_NAME_MAX - 1 ||
		    strcmp(de->d_name + 8, ".pack") != 0)
			continue;
		n = strtoul(de->d_name, &end, 10);
		if (end == de->d_name + 8 && n > s->pack_no)
			unlinkat(s->pdfd, de->d_name, 0);
	}
	closedir(d);
}

/* Open pack n for appending at end, cutting what lies past it. */
static int open_pack(struct sd_store *s, uint32_t n, uint64_t end,
		     struct sd_err *why)
{
	char name[PACK_NAME_MAX];
	struct stat st;
	int fd;

	pack_name(name, n);
	fd = openat(s->pdfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(why, disk_errno(errno),
			    "chunk store %s: packs/%s: %s", s->dir, name,
			    strerror(errno));
	/* The new name must be durable before an index record uses it. */
	if (fstat(fd, &st) < 0 ||
	    ((uint64_t)st.st_size > end && ftruncate(fd, (off_t)end) < 0) ||
	    fsync(s->pdfd) < 0) {
		int e = errno;

		close(fd);
		return fail(why, disk_errno(e), "chunk store %s: packs/%s: %s",
			    s->dir, name, strerror(e));
	}
	if (s->pack_fd >= 0)
		close(s->pack_fd);
	s->pack_fd = fd;
	s->pack_no = n;
	s->pack_end = end;
	return 0;
}

int sd_store_open(const char *dir, struct sd_store **ret, struct sd_err *why)
{
	return sd_store_open_opts(dir, NULL, ret, why);
}

int sd_store_open_opts(const char *dir, const struct sd_store_opts *opts,
		       struct sd_store **ret, struct sd_err *why)
{
	struct sd_store *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dfd = s->pdfd = s->ifd = s->pack_fd = -1;
	pthread_mutex_init(&s->wlock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	s->roll = opts && opts->pack_roll ? opts->pack_roll
					  : SD_STORE_PACK_ROLL;
	s->dir = strdup(dir);
	if (!s->dir) {
		r = -ENOMEM;
		goto fail;
	}

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = fail(why, disk_errno(errno), "chunk store %s: %s", dir,
			 strerror(errno));
		goto fail;
	}
	s->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0) {
		r = fail(why, -errno, "chunk store %s: %s", dir,
			 strerror(errno));
		goto fail;
	}
	if (mkdirat(s->dfd, "packs", 0700) < 0 && errno != EEXIST) {
		r = fail(why, disk_errno(errno), "chunk store %s: packs: %s",
			 dir, strerror(errno));
		goto fail;
	}
	s->pdfd = openat(s->dfd, "packs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->pdfd < 0) {
		r = fail(why, -errno, "chunk store %s: packs: %s", dir,
			 strerror(errno));
		goto fail;
	}
	r = open_index(s, why);
	if (r < 0)
		goto fail;
	r = load_index(s, why);
	if (r < 0)
		goto fail;
	remove_stray_packs(s);
	r = open_pack(s, s->pack_no, s->pack_end, why);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	if (r == -ENOMEM)
		fail(why, r, "chunk store %s: out of memory", dir);
	sd_store_close(s);
	return r;
}

void sd_store_close(struct sd_store *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->nrfd; i++)
		if (s->rfd[i] >= 0)
			close(s->rfd[i]);
	free(s->rfd);
	for (size_t i = 0; i < s->nz; i++) {
		sd_zctx_fini(s->zpool[i]);
		free(s->zpool[i]);
	}
	free(s->zpool);
	if (s->pack_fd >= 0)
		close(s->pack_fd);
	if (s->ifd >= 0)
		close(s->ifd);
	if (s->pdfd >= 0)
		close(s->pdfd);
	if (s->dfd >= 0)
		close(s->dfd);
	table_fini(&s->t);
	pthread_mutex_destroy(&s->wlock);
	pthread_mutex_destroy(&s->lock);
	free(s->dir);
	free(s);
}

/* ---- contexts: a pool, one per concurrent caller ---- */

static struct sd_zctx *zctx_take(struct sd_store *s)
{
	struct sd_zctx *z = NULL;

	pthread_mutex_lock(&s->lock);
	if (s->nz)
		z = s->zpool[--s->nz];
	pthread_mutex_unlock(&s->lock);
	if (z)
		return z;
	z = calloc(1, sizeof(*z));
	if (z && sd_zctx_init(z) < 0) {
		free(z);
		z = NULL;
	}
	return z;
}

static void zctx_give(struct sd_store *s, struct sd_zctx *z)
{
	struct sd_zctx **a;

	pthread_mutex_lock(&s->lock);
	if (s->nz == s->zcap) {
		a = realloc(s->zpool, (s->zcap ? 2 * s->zcap : 4) * sizeof(*a));
		if (a) {
			s->zpool = a;
			s->zcap = s->zcap ? 2 * s->zcap : 4;
		}
	}
	if (s->nz < s->zcap) {
		s->zpool[s->nz++] = z;
		z = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (z) {
		sd_zctx_fini(z);
		free(z);
	}
}

/* ---- queries ---- */

bool sd_store_has(struct sd_store *s, const struct sd_id *id)
{
	int64_t i;
	bool has;

	pthread_mutex_lock(&s->lock);
	i = table_find(&s->t, id);
	has = i >= 0 && !s->t.e[i].bad;
	pthread_mutex_unlock(&s->lock);
	return has;
}

void sd_store_stats(struct sd_store *s, struct sd_store_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->st;
	out->packs = s->pack_no + 1;
	pthread_mutex_unlock(&s->lock);
}

/* ---- put ---- */

/* Parse and verify the whole batch; *recs is malloc'd. */
static int batch_check(struct sd_store *s, const void *buf, size_t len,
		       struct sd_pack_rec **recs, uint32_t *count,
		       struct sd_err *why)
{
	struct sd_pack_pos pos = { 0 };
	struct sd_pack_rec rec, *a;
	struct sd_zctx *z;
	void *scratch;
	uint32_t n = 0;
	int r;

	while ((r = sd_pack_next(buf, len, &pos, &rec, why)) > 0)
		n++;
	if (r < 0)
		return r;
	*count = n;
	*recs = NULL;
	if (!n)
		return 0;
	a = malloc((size_t)n * sizeof(*a));
	scratch = malloc(SD_CHUNK_MAX);
	z = zctx_take(s);
	if (!a || !scratch || !z) {
		r = -ENOMEM;
		goto out;
	}
	pos = (struct sd_pack_pos){ 0 };
	for (uint32_t i = 0; i < n; i++) {
		sd_pack_next(buf, len, &pos, &a[i], NULL);
		r = sd_pack_verify(z, &a[i], scratch, why);
		if (r < 0)
			goto out;
	}
	*recs = a;
	a = NULL;
out:
	if (z)
		zctx_give(s, z);
	free(scratch);
	free(a);
	return r;
}

/* Start pack pack_no + 1. Under wlock. */
static int roll_pack(struct sd_store *s, struct sd_err *why)
{
	char name[PACK_NAME_MAX];
	int fd;

	if (s->pack_no + 1 >= PACKS_MAX)
		return fail(why, -ENOSPC, "chunk store %s: %u packs, no more",
			    s->dir, PACKS_MAX);
	pack_name(name, s->pack_no + 1);
	/* A file of that name is a leftover nothing references. */
	fd = openat(s->pdfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0 || fsync(s->pdfd) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return fail(why, disk_errno(e),
			    "chunk store %s: creating packs/%s: %s", s->dir,
			    name, strerror(e));
	}
	close(s->pack_fd);
	s->pack_fd = fd;
	s->pack_no++;
	s->pack_end = 0;
	return 0;
}

/* Append the chosen records (keep[i]) to the pack and the index, in that
 * order, each fsynced; on failure cut both back. Under wlock. */
static int batch_write(struct sd_store *s, const struct sd_pack_rec *recs,
		       uint32_t n, const bool *keep, uint32_t nkeep,
		       uint64_t bytes, struct loc *locs, struct sd_err *why)
{
	char name[PACK_NAME_MAX];
	struct iovec *iov = NULL;
	uint8_t *ibuf = NULL;
	uint64_t off;
	int niov = 0, r;

	if (s->pack_end && s->pack_end + bytes > s->roll) {
		r = roll_pack(s, why);
		if (r < 0)
			return r;
	}
	pack_name(name, s->pack_no);
	iov = malloc((size_t)nkeep * sizeof(*iov));
	ibuf = malloc((size_t)nkeep * IDX_REC_SIZE);
	if (!iov || !ibuf) {
		r = -ENOMEM;
		goto out;
	}
	off = s->pack_end;
	for (uint32_t i = 0, k = 0; i < n; i++) {
		const struct sd_pack_rec *c = &recs[i];
		const uint8_t *start = c->data - SD_PACK_HDR_SIZE;
		size_t size = SD_PACK_HDR_SIZE + (size_t)c->stored_len;

		if (!keep[i])
			continue;
		/* Records that sit next to each other in the batch go out
		 * as one piece, as they arrived. */
		if (niov &&
		    (uint8_t *)iov[niov - 1].iov_base + iov[niov - 1].iov_len ==
			    start)
			iov[niov - 1].iov_len += size;
		else
			iov[niov++] = (struct iovec){ (void *)start, size };
		locs[k] = (struct loc){ .id = c->id,
					.off = off,
					.pack = s->pack_no,
					.raw_len = c->raw_len,
					.stored_len = c->stored_len,
					.flag = c->flag };
		irec_encode(ibuf + (size_t)k * IDX_REC_SIZE, &locs[k]);
		off += size;
		k++;
	}

	r = writev_all(s->pack_fd, iov, niov, s->pack_end);
	if (r == 0 && fsync(s->pack_fd) < 0)
		r = -errno;
	if (r < 0) {
		r = fail(why, disk_errno(-r),
			 "chunk store %s: writing packs/%s: %s", s->dir, name,
			 strerror(-r));
		goto cut_pack;
	}
	r = write_all(s->ifd, ibuf, (size_t)nkeep * IDX_REC_SIZE, s->index_end);
	if (r == 0 && fsync(s->ifd) < 0)
		r = -errno;
	if (r < 0) {
		/* A torn index record would be cut at the next open anyway;
		 * cutting it now keeps appends contiguous. */
		if (ftruncate(s->ifd, (off_t)s->index_end) == 0)
			fsync(s->ifd);
		r = fail(why, disk_errno(-r),
			 "chunk store %s: appending to the index: %s", s->dir,
			 strerror(-r));
		goto cut_pack;
	}
	s->pack_end = off;
	s->index_end += (uint64_t)nkeep * IDX_REC_SIZE;
	goto out;

cut_pack:
	/* Nothing indexes these bytes: the store is back where it was. */
	if (ftruncate(s->pack_fd, (off_t)s->pack_end) == 0)
		fsync(s->pack_fd);
out:
	free(iov);
	free(ibuf);
	return r;
}

ssize_t sd_store_put_batch(struct sd_store *s, const void *pack_buf, size_t len,
			   struct sd_err *why)
{
	struct sd_pack_rec *recs = NULL;
	struct table seen = { 0 };
	struct loc *locs = NULL;
	uint32_t n = 0, nkeep = 0;
	bool *keep = NULL;
	uint64_t bytes = 0;
	int r;

	if (len > SD_STORE_BATCH_MAX)
		return fail(why, -EMSGSIZE,
			    "chunk batch of %zu bytes over the %u-byte cap",
			    len, SD_STORE_BATCH_MAX);
	r = batch_check(s, pack_buf, len, &recs, &n, why);
	if (r < 0 || n == 0)
		goto out;
	keep = calloc(n, sizeof(*keep));
	r = keep ? table_reserve(&seen, n) : -ENOMEM;
	if (r < 0)
		goto out;

	pthread_mutex_lock(&s->wlock);
	/* Holding wlock, nobody else can add an id between this check and
	 * the insert below. */
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < n; i++) {
		int64_t j = table_find(&s->t, &recs[i].id);
		struct loc l = { .id = recs[i].id }, old;

		if ((j >= 0 && !s->t.e[j].bad) || table_find(&seen, &l.id) >= 0)
			continue;
		table_set(&seen, &l, &old);
		keep[i] = true;
		nkeep++;
		bytes += SD_PACK_HDR_SIZE + (uint64_t)recs[i].stored_len;
	}
	/* So that, once the index holds them, the table cannot fail to. */
	r = nkeep ? table_reserve(&s->t, (uint64_t)s->t.n + nkeep) : 0;
	pthread_mutex_unlock(&s->lock);
	if (r < 0 || nkeep == 0)
		goto unlock;

	locs = malloc((size_t)nkeep * sizeof(*locs));
	if (!locs) {
		r = -ENOMEM;
		goto unlock;
	}
	r = batch_write(s, recs, n, keep, nkeep, bytes, locs, why);
	if (r < 0)
		goto unlock;
	pthread_mutex_lock(&s->lock);
	for (uint32_t k = 0; k < nkeep; k++)
		store_set(s, &locs[k]);
	pthread_mutex_unlock(&s->lock);
unlock:
	pthread_mutex_unlock(&s->wlock);
out:
	if (r == -ENOMEM)
		fail(why, r, "chunk store %s: out of memory storing a batch",
		     s->dir);
	table_fini(&seen);
	free(locs);
	free(keep);
	free(recs);
	return r < 0 ? r : (ssize_t)nkeep;
}

/* ---- get ---- */

/* Find id and the fd of its pack. */
static int locate(struct sd_store *s, const struct sd_id *id, struct loc *l,
		  int *fd, struct sd_err *why)
{
	char hex[SD_ID_HEX], name[PACK_NAME_MAX];
	int64_t i;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	i = table_find(&s->t, id);
	if (i < 0 || s->t.e[i].bad) {
		r = -ENOENT;
	} else {
		*l = s->t.e[i];
		*fd = rfd_get(s, l->pack);
	}
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return fail(why, r, "chunk %s: not in the store %s",
			    sd_id_hex(id, hex), s->dir);
	if (*fd < 0) {
		pack_name(name, l->pack);
		return fail(why, *fd == -ENOMEM ? -ENOMEM : -EIO,
			    "chunk %s: chunk store %s: packs/%s: %s",
			    sd_id_hex(id, hex), s->dir, name, strerror(-*fd));
	}
	return 0;
}

/* A read that came back wrong: forget the chunk so it is fetched again,
 * and say where it was. */
static int corrupt(struct sd_store *s, const struct loc *l, const char *cause,
		   struct sd_err *why)
{
	char hex[SD_ID_HEX], name[PACK_NAME_MAX];
	int64_t i;

	pthread_mutex_lock(&s->lock);
	i = table_find(&s->t, &l->id);
	if (i >= 0 && !s->t.e[i].bad && s->t.e[i].pack == l->pack &&
	    s->t.e[i].off == l->off) {
		stats_add(&s->st, &s->t.e[i], -1);
		s->t.e[i].bad = true;
	}
	pthread_mutex_unlock(&s->lock);
	pack_name(name, l->pack);
	return fail(why, -EIO, "chunk %s in %s/packs/%s at offset %llu: %s",
		    sd_id_hex(&l->id, hex), s->dir, name,
		    (unsigned long long)l->off, cause);
}

static int read_failed(struct sd_store *s, const struct loc *l, int r,
		       struct sd_err *why)
{
	char hex[SD_ID_HEX], name[PACK_NAME_MAX];

	/* Short: the pack ends before a record the index vouched for. */
	if (r == -ENODATA)
		return corrupt(s, l, "the pack file is truncated", why);
	pack_name(name, l->pack);
	return fail(why, -EIO, "chunk %s in %s/packs/%s at offset %llu: %s",
		    sd_id_hex(&l->id, hex), s->dir, name,
		    (unsigned long long)l->off, strerror(-r));
}

int sd_store_get(struct sd_store *s, const struct sd_id *id, void *dst,
		 size_t cap, size_t *raw_len, struct sd_err *why)
{
	uint8_t hdr[SD_PACK_HDR_SIZE], want[SD_PACK_HDR_SIZE];
	struct sd_zctx *z = NULL;
	uint8_t *stored = NULL;
	struct iovec iov[2];
	struct sd_id got;
	struct loc l;
	int fd, r;

	r = locate(s, id, &l, &fd, why);
	if (r < 0)
		return r;
	*raw_len = l.raw_len;
	if (cap < l.raw_len) {
		char hex[SD_ID_HEX];

		return fail(why, -ENOBUFS,
			    "chunk %s: %u bytes, the buffer holds %zu",
			    sd_id_hex(id, hex), l.raw_len, cap);
	}
	if (l.flag == SD_Z_RAW) {
		stored = dst;
	} else {
		stored = malloc(l.stored_len);
		z = zctx_take(s);
		if (!stored || !z) {
			r = fail(why, -ENOMEM, "chunk store %s: out of memory",
				 s->dir);
			goto out;
		}
	}
	iov[0] = (struct iovec){ hdr, sizeof(hdr) };
	iov[1] = (struct iovec){ stored, l.stored_len };
	r = readv_all(fd, iov, 2, l.off);
	if (r < 0) {
		r = read_failed(s, &l, r, why);
		goto out;
	}
	sd_pack_hdr_encode(want, &l.id, l.flag, l.raw_len, l.stored_len);
	if (memcmp(hdr, want, sizeof(hdr)) != 0) {
		r = corrupt(s, &l, "the record header is not the one indexed",
			    why);
		goto out;
	}
	if (l.flag != SD_Z_RAW) {
		r = sd_z_decompress(z, l.flag, stored, l.stored_len, dst,
				    l.raw_len);
		if (r == -ENOMEM)
			goto out;
		if (r < 0) {
			r = corrupt(s, &l, "the stored bytes do not decode",
				    why);
			goto out;
		}
	}
	sd_id_of(&got, dst, l.raw_len);
	if (!sd_id_eq(&got, &l.id))
		r = corrupt(s, &l, "the bytes do not match the id", why);
out:
	if (z)
		zctx_give(s, z);
	if (stored != dst)
		free(stored);
	return r;
}

ssize_t sd_store_get_stored(struct sd_store *s, const struct sd_id *id,
			    void *dst, size_t cap, struct sd_err *why)
{
	uint8_t want[SD_PACK_HDR_SIZE];
	struct iovec iov;
	size_t size;
	struct loc l;
	int fd, r;

	r = locate(s, id, &l, &fd, why);
	if (r < 0)
		return r;
	size = SD_PACK_HDR_SIZE + (size_t)l.stored_len;
	if (cap < size) {
		char hex[SD_ID_HEX];

		return fail(why, -ENOBUFS,
			    "chunk %s: a %zu-byte record, the buffer holds %zu",
			    sd_id_hex(id, hex), size, cap);
	}
	iov = (struct iovec){ dst, size };
	r = readv_all(fd, &iov, 1, l.off);
	if (r < 0)
		return read_failed(s, &l, r, why);
	sd_pack_hdr_encode(want, &l.id, l.flag, l.raw_len, l.stored_len);
	if (memcmp(dst, want, sizeof(want)) != 0)
		return corrupt(s, &l,
			       "the record header is not the one indexed", why);
	return (ssize_t)size;
}
