/* SPDX-License-Identifier: MIT */
/* The chunk store: pack files written in batches, an index appended after
 * the packs are durable, an in-memory table loaded from the index, and a
 * garbage collector that rewrites packs and replaces the index. */
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

#include "failpoint.h"
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
#define INDEX_NEW     "index.new"

/* Where a chunk lives. A chunk found corrupt or dropped by a GC is marked
 * bad: absent from then on, its slot reused by the next put of the same
 * id, the entry removed when a GC ends. */
struct loc {
	struct sd_id id;
	uint64_t off; /* of the record header in the pack */
	uint32_t pack;
	uint32_t raw_len;
	uint32_t stored_len;
	uint8_t flag;
	bool bad;
	bool pin; /* put while a GC judges: live whatever live() says */
};

/* A pack file, by number. Numbers only grow while the store is open, so a
 * slot is never reused for another file. */
struct pack {
	int fd;	       /* read-only, -1 until first read */
	uint32_t refs; /* reads in flight on fd */
	uint64_t size; /* bytes in the file */
	bool exists;
	bool gone; /* unlinked: fd closes when the last read ends */
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
	int dfd, pdfd;
	uint64_t roll;

	/* One GC at a time. Lock order: gclock, wlock, lock. */
	pthread_mutex_t gclock;

	/* wlock serialises puts and a GC's commit, and guards the write side
	 * below; the table only grows, or is rebuilt, under it. */
	pthread_mutex_t wlock;
	int ifd;     /* the index, flock()ed */
	int pack_fd; /* current pack, read-write */
	uint32_t pack_no;
	uint64_t pack_end; /* bytes of the current pack the index covers */
	uint64_t index_end;
	uint32_t next_no; /* the next pack number to create */

	/* lock guards the table, the pack slots, the context pool and the
	 * stats; it is never held across disk I/O except open(2). */
	pthread_mutex_t lock;
	struct table t;
	struct pack *pk; /* per pack number */
	uint32_t npk;
	struct sd_zctx **zpool;
	size_t nz, zcap;
	struct sd_store_stats st;
	uint64_t backlog; /* sd_store_gc_backlog() */
	bool gc_pin;	  /* a GC is judging: puts pin what they find */
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

/* Remove the bad entries and clear every pin. Entry numbers change: only
 * under wlock, with nothing holding one. Capacity is kept, so what a put
 * reserved stays reserved. */
static void table_compact(struct table *t)
{
	uint32_t *slot, n = 0;

	for (uint32_t i = 0; i < t->n; i++)
		t->e[i].pin = false;
	slot = t->nslot ? calloc(t->nslot, sizeof(*slot)) : NULL;
	if (!slot)
		return; /* the bad entries stay: harmless, only memory */
	for (uint32_t i = 0; i < t->n; i++)
		if (!t->e[i].bad)
			t->e[n++] = t->e[i];
	free(t->slot);
	t->slot = slot;
	t->n = n;
	for (uint32_t i = 0; i < n; i++)
		slot_insert(t, i);
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

/* ---- pack slots ---- */

/* Under lock (or at open): pack n's slot, grown into when new. NULL for a
 * number out of range or out of memory. */
static struct pack *pack_slot(struct sd_store *s, uint32_t n)
{
	struct pack *a;
	uint32_t cap;

	if (n >= PACKS_MAX)
		return NULL;
	if (n >= s->npk) {
		cap = s->npk ? s->npk : 16;
		while (cap <= n)
			cap *= 2;
		a = realloc(s->pk, cap * sizeof(*a));
		if (!a)
			return NULL;
		for (uint32_t i = s->npk; i < cap; i++)
			a[i] = (struct pack){ .fd = -1 };
		s->pk = a;
		s->npk = cap;
	}
	return &s->pk[n];
}

/* Under lock: the read-only fd of pack n, opened on first use, with one
 * more read in flight on it; pack_unref() ends the read. */
static int pack_ref(struct sd_store *s, uint32_t n)
{
	char name[PACK_NAME_MAX];
	struct pack *p = pack_slot(s, n);

	if (!p)
		return n >= PACKS_MAX ? -ERANGE : -ENOMEM;
	if (!p->exists)
		return -ENOENT;
	if (p->fd < 0) {
		pack_name(name, n);
		p->fd = openat(s->pdfd, name, O_RDONLY | O_CLOEXEC);
		if (p->fd < 0)
			return -errno;
	}
	p->refs++;
	return p->fd;
}

/* A read-only fd to close once no read uses it: readers that found a
 * chunk in a pack just unlinked still read it, through its fd. */
static int pack_closable(struct pack *p)
{
	int fd = p->fd;

	if (!p->gone || p->refs || fd < 0)
		return -1;
	p->fd = -1;
	return fd;
}

static void pack_unref(struct sd_store *s, uint32_t n)
{
	int fd;

	pthread_mutex_lock(&s->lock);
	s->pk[n].refs--;
	fd = pack_closable(&s->pk[n]);
	pthread_mutex_unlock(&s->lock);
	if (fd >= 0)
		close(fd);
}

/* Account for pack n, unlinked; its fd closes when its reads end. */
static void pack_forget(struct sd_store *s, uint32_t n)
{
	struct pack *p;
	int fd;

	pthread_mutex_lock(&s->lock);
	p = &s->pk[n];
	s->st.packs--;
	s->st.pack_bytes -= p->size;
	p->exists = false;
	p->gone = true;
	p->size = 0;
	fd = pack_closable(p);
	pthread_mutex_unlock(&s->lock);
	if (fd >= 0)
		close(fd);
}

/* A new, empty pack file: number s->next_no, opened read-write. Under
 * wlock. Writes *no and returns the fd. */
static int pack_create(struct sd_store *s, uint32_t *no, struct sd_err *why)
{
	char name[PACK_NAME_MAX];
	uint32_t n = s->next_no;
	struct pack *p;
	int fd;

	if (n >= PACKS_MAX)
		return fail(why, -ENOSPC, "chunk store %s: %u packs, no more",
			    s->dir, PACKS_MAX);
	pthread_mutex_lock(&s->lock);
	p = pack_slot(s, n);
	pthread_mutex_unlock(&s->lock);
	if (!p)
		return -ENOMEM;
	pack_name(name, n);
	/* A file of that name is a leftover nothing references. The name
	 * must be durable before an index record uses it. */
	fd = openat(s->pdfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0 || fsync(s->pdfd) < 0) {
		int e = errno;

		if (fd >= 0) {
			close(fd);
			unlinkat(s->pdfd, name, 0);
		}
		return fail(why, disk_errno(e),
			    "chunk store %s: creating packs/%s: %s", s->dir,
			    name, strerror(e));
	}
	pthread_mutex_lock(&s->lock);
	s->pk[n].exists = true;
	s->pk[n].size = 0;
	s->st.packs++;
	pthread_mutex_unlock(&s->lock);
	s->next_no++;
	*no = n;
	return fd;
}

/* Under lock: pack n grew by bytes. */
static void pack_grew(struct sd_store *s, uint32_t n, uint64_t bytes)
{
	s->pk[n].size += bytes;
	s->st.pack_bytes += bytes;
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
	l->pin = false;
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

static void idx_hdr(uint8_t hdr[IDX_HDR_SIZE])
{
	memcpy(hdr, IDX_MAGIC, 8);
	put_le32(hdr + 8, IDX_VERSION);
	put_le32(hdr + 12, IDX_REC_SIZE);
}

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
	idx_hdr(hdr);
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
	struct stat now;
	ssize_t n;
	int r;

	/* A GC in another process may replace the index between our open
	 * and our lock: what we locked must still be the index. */
	for (int tries = 0;; tries++) {
		s->ifd = openat(s->dfd, "index", O_RDWR | O_CLOEXEC);
		if (s->ifd < 0 && errno == ENOENT) {
			r = create_index(s, why);
			if (r < 0)
				return r;
			s->ifd = openat(s->dfd, "index", O_RDWR | O_CLOEXEC);
		}
		if (s->ifd < 0)
			return fail(why, -errno, "chunk store %s: index: %s",
				    s->dir, strerror(errno));
		if (flock(s->ifd, LOCK_EX | LOCK_NB) < 0)
			return fail(why, errno == EWOULDBLOCK ? -EBUSY : -errno,
				    "chunk store %s: in use by another process",
				    s->dir);
		if (fstat(s->ifd, &st) < 0)
			return fail(why, -errno, "chunk store %s: index: %s",
				    s->dir, strerror(errno));
		if (fstatat(s->dfd, "index", &now, 0) == 0 &&
		    now.st_ino == st.st_ino && now.st_dev == st.st_dev)
			break;
		close(s->ifd);
		s->ifd = -1;
		if (tries == 8)
			return fail(why, -EBUSY,
				    "chunk store %s: in use by another process",
				    s->dir);
	}
	/* Ours alone now: a GC that died left it half written. */
	unlinkat(s->dfd, INDEX_NEW, 0);
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

/* What open learns of each pack number the index names. */
struct probe {
	int64_t size; /* -3: not looked at yet; -1: no such file */
	uint64_t end; /* past the last record loaded from it */
	bool used;    /* a record loaded from it */
};

/* The probe of pack n, filled on first use (single-threaded, so no lock);
 * the fd stays open as the pack's read fd. Only ENOENT makes a pack
 * missing: any other failure fails the open, since a missing pack's
 * records are skipped and an unreferenced pack file is deleted. */
static int probe_get(struct sd_store *s, struct probe **pr, uint32_t *npr,
		     uint32_t n, struct probe **out, struct sd_err *why)
{
	char name[PACK_NAME_MAX];
	struct probe *a;
	struct stat st;
	uint32_t cap;
	int fd;

	if (n >= *npr) {
		cap = *npr ? *npr : 16;
		while (cap <= n)
			cap *= 2;
		a = realloc(*pr, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		for (uint32_t i = *npr; i < cap; i++)
			a[i] = (struct probe){ .size = -3 };
		*pr = a;
		*npr = cap;
	}
	*out = &(*pr)[n];
	if ((*out)->size != -3)
		return 0;
	if (!pack_slot(s, n))
		return -ENOMEM;
	pack_name(name, n);
	fd = openat(s->pdfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		(*out)->size = -1;
		return 0;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return fail(why, -e, "chunk store %s: packs/%s: %s", s->dir,
			    name, strerror(e));
	}
	s->pk[n].fd = fd;
	(*out)->size = st.st_size;
	return 0;
}

/* Which pack puts go on appending to: the newest the index names, at the
 * end of its last record; a fresh number past it when that one is gone,
 * so that no number the index names is ever reused. */
static int pick_current(struct sd_store *s, const struct probe *pr,
			uint32_t npr, bool any, uint32_t hi, struct sd_err *why)
{
	s->pack_no = 0;
	s->pack_end = 0;
	if (!any)
		return 0;
	if (hi < npr && pr[hi].used) {
		s->pack_no = hi;
		s->pack_end = pr[hi].end;
		return 0;
	}
	if (hi + 1 >= PACKS_MAX)
		return fail(why, -ENOSPC, "chunk store %s: %u packs, no more",
			    s->dir, PACKS_MAX);
	s->pack_no = hi + 1;
	return 0;
}

/* Read every index record into the table; cut a torn tail; choose the
 * current pack; account for the packs the table uses. */
static int load_index(struct sd_store *s, struct sd_err *why)
{
	uint64_t size = s->index_end, off, keep_end = IDX_HDR_SIZE;
	struct probe *pr = NULL, *p;
	uint8_t *buf = NULL;
	uint32_t npr = 0, hi = 0;
	bool any = false;
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
			if (!loc_sane(&l)) {
				s->st.index_dropped++;
				continue;
			}
			if (!any || l.pack > hi)
				hi = l.pack;
			any = true;
			r = probe_get(s, &pr, &npr, l.pack, &p, why);
			if (r < 0)
				goto out;
			/* A pack a GC deleted before it could rewrite the
			 * index: its chunks were dead. */
			if (p->size == -1)
				continue;
			if (loc_end(&l) > (uint64_t)p->size) {
				s->st.index_dropped++;
				continue;
			}
			store_set(s, &l);
			p->used = true;
			if (loc_end(&l) > p->end)
				p->end = loc_end(&l);
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
	r = pick_current(s, pr, npr, any, hi, why);
	if (r < 0)
		goto out;
	for (uint32_t i = 0; i < npr; i++) {
		if (pr[i].used && i != s->pack_no) {
			s->pk[i].exists = true;
			s->pk[i].size = (uint64_t)pr[i].size;
			s->st.packs++;
			s->st.pack_bytes += (uint64_t)pr[i].size;
		} else if (i < s->npk && s->pk[i].fd >= 0 && i != s->pack_no) {
			close(s->pk[i].fd);
			s->pk[i].fd = -1;
		}
	}
out:
	free(pr);
	free(buf);
	return r;
}

/* Pack files the index does not reference hold nothing anyone needs: a
 * crash after a roll, or during a GC (its new packs before the new index,
 * its old ones after). Remove them. */
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
		if (end != de->d_name + 8 || n == s->pack_no ||
		    (n < s->npk && s->pk[n].exists))
			continue;
		unlinkat(s->pdfd, de->d_name, 0);
	}
	closedir(d);
}

/* Open pack n for appending at end, cutting what lies past it. At open. */
static int open_pack(struct sd_store *s, uint32_t n, uint64_t end,
		     struct sd_err *why)
{
	char name[PACK_NAME_MAX];
	struct stat st;
	int fd;

	if (!pack_slot(s, n))
		return -ENOMEM;
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
	s->pack_fd = fd;
	s->pack_no = n;
	s->pack_end = end;
	s->next_no = n + 1;
	s->pk[n].exists = true;
	s->pk[n].size = end;
	s->st.packs++;
	s->st.pack_bytes += end;
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
	pthread_mutex_init(&s->gclock, NULL);
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
	s->backlog = s->st.pack_bytes;
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
	for (uint32_t i = 0; i < s->npk; i++)
		if (s->pk[i].fd >= 0)
			close(s->pk[i].fd);
	free(s->pk);
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
	pthread_mutex_destroy(&s->gclock);
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
	pthread_mutex_unlock(&s->lock);
}

uint64_t sd_store_gc_backlog(struct sd_store *s)
{
	uint64_t b;

	pthread_mutex_lock(&s->lock);
	b = s->backlog;
	pthread_mutex_unlock(&s->lock);
	return b;
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

/* Start a new current pack. Under wlock. */
static int roll_pack(struct sd_store *s, struct sd_err *why)
{
	uint32_t no;
	int fd = pack_create(s, &no, why);

	if (fd < 0)
		return fd;
	close(s->pack_fd);
	s->pack_fd = fd;
	s->pack_no = no;
	s->pack_end = 0;
	return 0;
}

int sd_store_roll(struct sd_store *s, struct sd_err *why)
{
	int r = 0;

	pthread_mutex_lock(&s->wlock);
	if (s->pack_end > 0)
		r = roll_pack(s, why);
	pthread_mutex_unlock(&s->wlock);
	return r;
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

		if (j >= 0 && !s->t.e[j].bad) {
			/* Stored by this put as much as by the first:
			 * a GC judging now must keep it. */
			if (s->gc_pin)
				s->t.e[j].pin = true;
			continue;
		}
		if (table_find(&seen, &l.id) >= 0)
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
	pack_grew(s, s->pack_no, bytes);
	s->backlog += bytes;
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

/* Find id and the fd of its pack, which stays open, even if a GC moves
 * the chunk and unlinks the pack, until pack_unref(s, l->pack). */
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
		*fd = pack_ref(s, l->pack);
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

static int get_at(struct sd_store *s, const struct loc *lp, int fd, void *dst,
		  size_t cap, struct sd_err *why)
{
	uint8_t hdr[SD_PACK_HDR_SIZE], want[SD_PACK_HDR_SIZE];
	struct sd_zctx *z = NULL;
	const struct loc l = *lp;
	uint8_t *stored = NULL;
	struct iovec iov[2];
	struct sd_id got;
	int r;

	if (cap < l.raw_len) {
		char hex[SD_ID_HEX];

		return fail(why, -ENOBUFS,
			    "chunk %s: %u bytes, the buffer holds %zu",
			    sd_id_hex(&l.id, hex), l.raw_len, cap);
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

int sd_store_get(struct sd_store *s, const struct sd_id *id, void *dst,
		 size_t cap, size_t *raw_len, struct sd_err *why)
{
	struct loc l;
	int fd, r;

	r = locate(s, id, &l, &fd, why);
	if (r < 0)
		return r;
	*raw_len = l.raw_len;
	r = get_at(s, &l, fd, dst, cap, why);
	pack_unref(s, l.pack);
	return r;
}

static ssize_t get_stored_at(struct sd_store *s, const struct loc *l, int fd,
			     void *dst, size_t cap, struct sd_err *why)
{
	uint8_t want[SD_PACK_HDR_SIZE];
	size_t size = SD_PACK_HDR_SIZE + (size_t)l->stored_len;
	struct iovec iov;
	int r;

	if (cap < size) {
		char hex[SD_ID_HEX];

		return fail(why, -ENOBUFS,
			    "chunk %s: a %zu-byte record, the buffer holds %zu",
			    sd_id_hex(&l->id, hex), size, cap);
	}
	iov = (struct iovec){ dst, size };
	r = readv_all(fd, &iov, 1, l->off);
	if (r < 0)
		return read_failed(s, l, r, why);
	sd_pack_hdr_encode(want, &l->id, l->flag, l->raw_len, l->stored_len);
	if (memcmp(dst, want, sizeof(want)) != 0)
		return corrupt(s, l, "the record header is not the one indexed",
			       why);
	return (ssize_t)size;
}

ssize_t sd_store_get_stored(struct sd_store *s, const struct sd_id *id,
			    void *dst, size_t cap, struct sd_err *why)
{
	struct loc l;
	ssize_t r;
	int fd;

	r = locate(s, id, &l, &fd, why);
	if (r < 0)
		return r;
	r = get_stored_at(s, &l, fd, dst, cap, why);
	pack_unref(s, l.pack);
	return r;
}

/* ---- garbage collection ---- */

#define GC_JUDGE_BATCH 1024u	  /* chunks judged per table lock */
#define GC_READ_MAX    (4u << 20) /* one read of adjacent records */
#define GC_SMALL_DIV   16u	  /* a pack under roll / 16 is small */

/* A chunk to judge, where it was when looked up. */
struct gc_ref {
	struct sd_id id;
	uint64_t off;
	uint32_t idx; /* its table entry */
	uint32_t pack;
};

/* A live record to copy, and its pack's place in the order of copying. */
struct gc_item {
	struct loc l;
	uint32_t idx;
	uint32_t rank;
};

/* A chunk copied, not yet committed. */
struct gc_move {
	uint32_t idx, opack, npack;
	uint64_t ooff, noff;
};

struct gc_out {
	uint32_t no;
	int fd;
	uint64_t end;
};

/* One GC's state; only its thread touches it. Entry numbers (idx) stay
 * valid until gc_end(): only puts change the table meanwhile, and they
 * only append entries or overwrite one in place. */
struct gc {
	struct sd_store *s;
	struct sd_store_gc_stats *st;
	struct sd_err *why;
	uint32_t seal;		  /* packs numbered below it are collected */
	uint64_t backlog;	  /* the backlog when it began */
	bool dirty;		  /* the index names chunks the table dropped */
	uint64_t removed, copied; /* bytes unlinked, bytes committed */

	/* Since the last commit: the packs written and the packs their
	 * records came from. */
	struct gc_out *outs;
	size_t nouts, couts;
	uint32_t *srcs;
	size_t nsrcs, csrcs;
	struct gc_move *mv;
	size_t nmv, cmv;
	uint64_t written;

	uint8_t *buf; /* GC_READ_MAX */
	void *scratch;
	struct sd_zctx *z;
};

/* What to undo a pack's copying back to. */
struct gc_pt {
	size_t nouts, nsrcs, nmv;
	uint64_t end, written;
};

/* Room for one more element in *a. */
static int grow(void *a, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? 2 * *cap : 16;
	void *p;

	if (n < *cap)
		return 0;
	p = realloc(*(void **)a, c * size);
	if (!p)
		return -ENOMEM;
	*(void **)a = p;
	*cap = c;
	return 0;
}

static uint64_t rec_size(const struct loc *l)
{
	return SD_PACK_HDR_SIZE + (uint64_t)l->stored_len;
}

/* Seal the current pack so that it too can be collected, and have puts
 * pin what they find. Without room for a new pack file, the current one
 * stays current and is not collected. */
static void gc_begin(struct gc *g)
{
	struct sd_store *s = g->s;

	pthread_mutex_lock(&s->wlock);
	if (s->pack_end > 0)
		roll_pack(s, NULL);
	g->seal = s->pack_no;
	pthread_mutex_lock(&s->lock);
	s->gc_pin = true;
	g->backlog = s->backlog;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&s->wlock);
}

/* Ask live() about every chunk in a sealed pack, without holding a lock
 * while it answers; drop the dead ones from the table at once. */
static int gc_judge(struct gc *g, sd_store_live_fn live, void *opaque)
{
	struct sd_store *s = g->s;
	struct gc_ref *b = malloc(GC_JUDGE_BATCH * sizeof(*b));
	bool *keep = malloc(GC_JUDGE_BATCH * sizeof(*keep));
	uint32_t i = 0, n, k;

	if (!b || !keep) {
		free(b);
		free(keep);
		return -ENOMEM;
	}
	for (;;) {
		pthread_mutex_lock(&s->lock);
		n = s->t.n;
		for (k = 0; i < n && k < GC_JUDGE_BATCH; i++) {
			const struct loc *e = &s->t.e[i];

			if (!e->bad && e->pack < g->seal)
				b[k++] = (struct gc_ref){ e->id, e->off, i,
							  e->pack };
		}
		pthread_mutex_unlock(&s->lock);
		if (k == 0)
			break;
		for (uint32_t q = 0; q < k; q++)
			keep[q] = live(opaque, &b[q].id);
		pthread_mutex_lock(&s->lock);
		for (uint32_t q = 0; q < k; q++) {
			struct loc *e = &s->t.e[b[q].idx];

			/* Found corrupt meanwhile, or put again after that:
			 * not this GC's to judge. */
			if (e->bad || e->pack != b[q].pack ||
			    e->off != b[q].off)
				continue;
			if (keep[q] || e->pin) {
				g->st->chunks_kept++;
				continue;
			}
			stats_add(&s->st, e, -1);
			e->bad = true;
			g->st->chunks_dropped++;
			g->dirty = true;
		}
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_lock(&s->lock);
	s->gc_pin = false;
	s->backlog -= s->backlog < g->backlog ? s->backlog : g->backlog;
	pthread_mutex_unlock(&s->lock);
	free(b);
	free(keep);
	return 0;
}

struct gc_cand {
	uint32_t no;
	uint64_t dead;
};

static int cand_cmp(const void *a, const void *b)
{
	const struct gc_cand *x = a, *y = b;

	if (x->dead != y->dead)
		return x->dead > y->dead ? -1 : 1;
	return x->no < y->no ? -1 : x->no > y->no;
}

/* Sort the sealed packs out: *dead, with no live record; *cand, to copy,
 * most dead bytes first, then the small ones when there are two or more. */
static int gc_plan(struct gc *g, uint32_t **dead, size_t *ndead,
		   uint32_t **cand, size_t *ncand)
{
	struct sd_store *s = g->s;
	size_t nc = 0, nsmall = 0, seal = g->seal ? g->seal : 1;
	uint64_t *live = calloc(seal, sizeof(*live));
	struct gc_cand *c = calloc(seal, sizeof(*c));
	uint32_t *small = calloc(seal, sizeof(*small));

	*ndead = *ncand = 0;
	*dead = calloc(seal, sizeof(**dead));
	*cand = calloc(seal, sizeof(**cand));
	if (!live || !c || !small || !*dead || !*cand) {
		free(live);
		free(c);
		free(small);
		return -ENOMEM;
	}
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < s->t.n; i++) {
		const struct loc *e = &s->t.e[i];

		if (!e->bad && e->pack < g->seal)
			live[e->pack] += rec_size(e);
	}
	for (uint32_t p = 0; p < g->seal && p < s->npk; p++) {
		uint64_t size = s->pk[p].size, d;

		if (!s->pk[p].exists)
			continue;
		d = size > live[p] ? size - live[p] : 0;
		if (!live[p])
			(*dead)[(*ndead)++] = p;
		else if (d > live[p])
			c[nc++] = (struct gc_cand){ p, d };
		else if (size < s->roll / GC_SMALL_DIV)
			small[nsmall++] = p;
	}
	pthread_mutex_unlock(&s->lock);
	if (nc)
		qsort(c, nc, sizeof(*c), cand_cmp);
	for (size_t i = 0; i < nc; i++)
		(*cand)[(*ncand)++] = c[i].no;
	for (size_t i = 0; nsmall >= 2 && i < nsmall; i++)
		(*cand)[(*ncand)++] = small[i];
	free(live);
	free(c);
	free(small);
	return 0;
}

/* Unlink pack p: its records are dead, or committed elsewhere. A pack
 * that will not go stays, unreferenced: the next open or GC removes it. */
static void gc_unlink(struct gc *g, uint32_t p, bool rewritten)
{
	struct sd_store *s = g->s;
	char name[PACK_NAME_MAX];
	uint64_t size;

	pack_name(name, p);
	if (unlinkat(s->pdfd, name, 0) < 0 && errno != ENOENT)
		return;
	pthread_mutex_lock(&s->lock);
	size = s->pk[p].size;
	pthread_mutex_unlock(&s->lock);
	pack_forget(s, p);
	g->removed += size;
	if (rewritten) {
		g->st->packs_rewritten++;
		util_failpoint("store-gc-source-unlinked");
	} else {
		g->st->packs_deleted++;
		util_failpoint("store-gc-dead-unlinked");
	}
}

static int item_cmp(const void *a, const void *b)
{
	const struct gc_item *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->l.off < y->l.off ? -1 : x->l.off > y->l.off;
}

/* The live records of the packs to copy, by pack in the order of cand,
 * then by offset. */
static int gc_collect(struct gc *g, const uint32_t *cand, size_t ncand,
		      struct gc_item **items, size_t *nitems)
{
	struct sd_store *s = g->s;
	uint32_t *rank;
	size_t n = 0;

	*items = NULL;
	*nitems = 0;
	if (!ncand)
		return 0;
	rank = calloc(g->seal, sizeof(*rank));
	if (!rank)
		return -ENOMEM;
	for (size_t c = 0; c < ncand; c++)
		rank[cand[c]] = (uint32_t)c + 1;
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < s->t.n; i++) {
		const struct loc *e = &s->t.e[i];

		n += !e->bad && e->pack < g->seal && rank[e->pack];
	}
	*items = malloc((n ? n : 1) * sizeof(**items));
	for (uint32_t i = 0; *items && i < s->t.n; i++) {
		const struct loc *e = &s->t.e[i];

		if (!e->bad && e->pack < g->seal && rank[e->pack])
			(*items)[(*nitems)++] =
				(struct gc_item){ *e, i, rank[e->pack] };
	}
	pthread_mutex_unlock(&s->lock);
	free(rank);
	if (!*items)
		return -ENOMEM;
	if (*nitems)
		qsort(*items, *nitems, sizeof(**items), item_cmp);
	return 0;
}

/* Append one record to the pack being written, starting a new one past
 * the roll size. */
static int gc_out_write(struct gc *g, const uint8_t *rec, size_t size,
			uint32_t *no, uint64_t *off)
{
	struct sd_store *s = g->s;
	char name[PACK_NAME_MAX];
	struct gc_out *o = g->nouts ? &g->outs[g->nouts - 1] : NULL;
	uint32_t n;
	int fd, r;

	if (!o || (o->end && o->end + size > s->roll)) {
		if (grow(&g->outs, &g->couts, g->nouts, sizeof(*g->outs)) < 0)
			return -ENOMEM;
		pthread_mutex_lock(&s->wlock);
		fd = pack_create(s, &n, g->why);
		pthread_mutex_unlock(&s->wlock);
		if (fd < 0)
			return fd;
		o = &g->outs[g->nouts++];
		*o = (struct gc_out){ n, fd, 0 };
	}
	r = write_all(o->fd, rec, size, o->end);
	if (r < 0) {
		/* A partial write holds space a full disk needs back (the
		 * undo cuts again, should this fail). */
		while (ftruncate(o->fd, (off_t)o->end) < 0 && errno == EINTR)
			;
		pack_name(name, o->no);
		return fail(g->why, disk_errno(-r),
			    "chunk store %s: collecting garbage: writing "
			    "packs/%s: %s",
			    s->dir, name, strerror(-r));
	}
	*no = o->no;
	*off = o->end;
	o->end += size;
	g->written += size;
	pthread_mutex_lock(&s->lock);
	pack_grew(s, o->no, size);
	pthread_mutex_unlock(&s->lock);
	util_failpoint("store-gc-copying");
	return 0;
}

/* Verify one record read back and copy it. A bad one is forgotten. */
static int gc_copy_rec(struct gc *g, const struct gc_item *it,
		       const uint8_t *rec)
{
	const struct loc *l = &it->l;
	const struct sd_pack_rec pr = { .id = l->id,
					.flag = l->flag,
					.raw_len = l->raw_len,
					.stored_len = l->stored_len,
					.data = rec + SD_PACK_HDR_SIZE };
	uint8_t want[SD_PACK_HDR_SIZE];
	uint32_t no = 0;
	uint64_t off = 0;
	int r;

	sd_pack_hdr_encode(want, &l->id, l->flag, l->raw_len, l->stored_len);
	if (memcmp(rec, want, sizeof(want)) != 0) {
		corrupt(g->s, l, "the record header is not the one indexed",
			NULL);
		return 0;
	}
	r = sd_pack_verify(g->z, &pr, g->scratch, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		corrupt(g->s, l, "the bytes do not match the id", NULL);
		return 0;
	}
	r = grow(&g->mv, &g->cmv, g->nmv, sizeof(*g->mv));
	if (r == 0)
		r = gc_out_write(g, rec, (size_t)rec_size(l), &no, &off);
	if (r < 0)
		return r;
	g->mv[g->nmv++] = (struct gc_move){ .idx = it->idx,
					    .opack = l->pack,
					    .npack = no,
					    .ooff = l->off,
					    .noff = off };
	return 0;
}

/* Copy the n live records of one pack (it, by offset), reading runs of
 * adjacent ones at once. Returns 0; 1 when the pack cannot be read (it is
 * left as it is); -ENOSPC; another -errno. */
static int gc_copy_pack(struct gc *g, const struct gc_item *it, size_t n)
{
	struct sd_store *s = g->s;
	uint32_t p = it[0].l.pack;
	struct iovec iov;
	int fd, r = 0;

	pthread_mutex_lock(&s->lock);
	fd = pack_ref(s, p);
	pthread_mutex_unlock(&s->lock);
	if (fd < 0)
		return fd == -ENOMEM ? fd : 1;
	for (size_t i = 0, j; i < n && r == 0; i = j) {
		uint64_t start = it[i].l.off, end = loc_end(&it[i].l);

		for (j = i + 1; j < n && it[j].l.off == end &&
				loc_end(&it[j].l) - start <= GC_READ_MAX;
		     j++)
			end = loc_end(&it[j].l);
		iov = (struct iovec){ g->buf, (size_t)(end - start) };
		r = readv_all(fd, &iov, 1, start);
		if (r == -ENODATA) {
			/* Shorter than the index says: those are lost. */
			for (size_t k = i; k < j; k++)
				corrupt(s, &it[k].l, "the pack is truncated",
					NULL);
			r = 0;
			continue;
		}
		if (r < 0) {
			r = 1;
			break;
		}
		for (size_t k = i; k < j && r == 0; k++)
			r = gc_copy_rec(g, &it[k],
					g->buf + (it[k].l.off - start));
	}
	pack_unref(s, p);
	return r;
}

/* Throw away what was written since pt; with { 0 }, everything not
 * committed. */
static void gc_undo(struct gc *g, const struct gc_pt *pt)
{
	struct sd_store *s = g->s;
	char name[PACK_NAME_MAX];
	struct gc_out *o;

	while (g->nouts > pt->nouts) {
		o = &g->outs[--g->nouts];
		close(o->fd);
		pack_name(name, o->no);
		unlinkat(s->pdfd, name, 0);
		pack_forget(s, o->no);
	}
	if (g->nouts) {
		o = &g->outs[g->nouts - 1];
		/* Should the cut fail, the bytes past end are overwritten by
		 * the next copy or left unreferenced: dead either way. */
		if (ftruncate(o->fd, (off_t)pt->end) == 0 && o->end > pt->end) {
			pthread_mutex_lock(&s->lock);
			s->pk[o->no].size -= o->end - pt->end;
			s->st.pack_bytes -= o->end - pt->end;
			pthread_mutex_unlock(&s->lock);
		}
		o->end = pt->end;
	}
	g->nsrcs = pt->nsrcs;
	g->nmv = pt->nmv;
	g->written = pt->written;
}

static int move_cmp(const void *a, const void *b)
{
	const struct gc_move *x = a, *y = b;

	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Write index.new: every chunk the table holds, copies where they were
 * copied to; then rename it over the index. Under wlock. Writes the new
 * fd, locked, and its size. *unsure: the rename happened but the
 * directory could not be synced. */
static int gc_write_index(struct gc *g, int *nfd, uint64_t *size, bool *unsure)
{
	struct sd_store *s = g->s;
	uint64_t off = IDX_HDR_SIZE;
	uint8_t *buf = malloc((size_t)IDX_READ_RECS * IDX_REC_SIZE);
	size_t mi = 0;
	uint32_t i = 0, k;
	int fd = -1, r;

	*unsure = false;
	if (!buf)
		return -ENOMEM;
	fd = openat(s->dfd, INDEX_NEW, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		goto fail;
	}
	idx_hdr(buf);
	r = write_all(fd, buf, IDX_HDR_SIZE, 0);
	while (r == 0) {
		pthread_mutex_lock(&s->lock);
		for (k = 0; i < s->t.n && k < IDX_READ_RECS; i++) {
			struct loc l = s->t.e[i];

			if (l.bad)
				continue;
			while (mi < g->nmv && g->mv[mi].idx < i)
				mi++;
			if (mi < g->nmv && g->mv[mi].idx == i &&
			    g->mv[mi].opack == l.pack &&
			    g->mv[mi].ooff == l.off) {
				l.pack = g->mv[mi].npack;
				l.off = g->mv[mi].noff;
			}
			irec_encode(buf + (size_t)k * IDX_REC_SIZE, &l);
			k++;
		}
		pthread_mutex_unlock(&s->lock);
		if (k == 0)
			break;
		r = write_all(fd, buf, (size_t)k * IDX_REC_SIZE, off);
		off += (uint64_t)k * IDX_REC_SIZE;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0)
		goto fail;
	util_failpoint("store-gc-index-written");
	if (renameat(s->dfd, INDEX_NEW, s->dfd, "index") < 0) {
		r = -errno;
		goto fail;
	}
	if (fsync(s->dfd) < 0) {
		r = -errno;
		*unsure = true;
	}
	free(buf);
	*nfd = fd;
	*size = off;
	return r;
fail:
	if (fd >= 0) {
		close(fd);
		unlinkat(s->dfd, INDEX_NEW, 0);
	}
	free(buf);
	return r;
}

/* Make the copies since the last commit the chunks' homes: sync the new
 * packs, replace the index (the commit point), point the table at the
 * copies, unlink the packs they came from. On failure before the commit
 * point nothing changes; the copies are undone by the caller. */
static int gc_commit(struct gc *g)
{
	struct sd_store *s = g->s;
	char name[PACK_NAME_MAX];
	uint64_t size = 0;
	bool unsure;
	int nfd = -1, ofd, r = 0;

	for (size_t i = 0; i < g->nouts && r == 0; i++)
		if (fsync(g->outs[i].fd) < 0) {
			r = disk_errno(errno);
			pack_name(name, g->outs[i].no);
		}
	if (r == 0 && g->nouts && fsync(s->pdfd) < 0) {
		r = disk_errno(errno);
		snprintf(name, sizeof(name), ".");
	}
	if (r < 0)
		return fail(g->why, r,
			    "chunk store %s: collecting garbage: syncing "
			    "packs/%s: %s",
			    s->dir, name, strerror(-r));
	util_failpoint("store-gc-packs-synced");
	if (g->nmv)
		qsort(g->mv, g->nmv, sizeof(*g->mv), move_cmp);

	pthread_mutex_lock(&s->wlock);
	r = gc_write_index(g, &nfd, &size, &unsure);
	if (r < 0 && !unsure) {
		pthread_mutex_unlock(&s->wlock);
		return fail(g->why, disk_errno(-r),
			    "chunk store %s: collecting garbage: writing "
			    "the index: %s",
			    s->dir, strerror(-r));
	}
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < g->nmv; i++) {
		const struct gc_move *m = &g->mv[i];
		struct loc *e = &s->t.e[m->idx];

		if (!e->bad && e->pack == m->opack && e->off == m->ooff) {
			e->pack = m->npack;
			e->off = m->noff;
		}
	}
	pthread_mutex_unlock(&s->lock);
	ofd = s->ifd;
	s->ifd = nfd;
	s->index_end = size;
	pthread_mutex_unlock(&s->wlock);
	close(ofd);
	util_failpoint("store-gc-committed");

	g->dirty = false;
	g->copied += g->written;
	for (size_t i = 0; i < g->nouts; i++)
		close(g->outs[i].fd);
	/* Unsure that the new index is the one a crash would find: keep
	 * the old packs it would need; the next GC deletes them. */
	for (size_t i = 0; i < g->nsrcs && !unsure; i++)
		gc_unlink(g, g->srcs[i], true);
	if (g->nsrcs)
		fsync(s->pdfd);
	g->nouts = g->nsrcs = g->nmv = 0;
	g->written = 0;
	if (unsure)
		return fail(g->why, -EIO,
			    "chunk store %s: collecting garbage: syncing the "
			    "directory: %s",
			    s->dir, strerror(-r));
	return 0;
}

/* Copy the live records of each pack to new packs, committing every roll
 * size of copies and, when the disk fills, what was copied so far before
 * trying the pack once more. */
static int gc_rewrite(struct gc *g, const struct gc_item *it, size_t n)
{
	struct sd_store *s = g->s;
	bool retried = false;
	struct gc_pt pt;
	size_t i = 0, j;
	int r;

	while (i < n) {
		for (j = i + 1; j < n && it[j].rank == it[i].rank; j++)
			;
		pt = (struct gc_pt){
			.nouts = g->nouts,
			.nsrcs = g->nsrcs,
			.nmv = g->nmv,
			.end = g->nouts ? g->outs[g->nouts - 1].end : 0,
			.written = g->written,
		};
		r = gc_copy_pack(g, it + i, j - i);
		if (r == 0)
			r = grow(&g->srcs, &g->csrcs, g->nsrcs,
				 sizeof(*g->srcs));
		if (r == 0) {
			g->srcs[g->nsrcs++] = it[i].l.pack;
			i = j;
			retried = false;
			if (g->written >= s->roll) {
				r = gc_commit(g);
				if (r < 0)
					return r;
			}
			continue;
		}
		gc_undo(g, &pt);
		if (r == 1) {
			i = j;
			continue;
		}
		if (r != -ENOSPC || retried || !g->nsrcs)
			return r;
		r = gc_commit(g);
		if (r < 0)
			return r;
		retried = true;
	}
	return 0;
}

/* Stop pinning; drop the entries of dropped chunks from the table. */
static void gc_end(struct gc *g)
{
	struct sd_store *s = g->s;

	pthread_mutex_lock(&s->wlock);
	pthread_mutex_lock(&s->lock);
	s->gc_pin = false;
	table_compact(&s->t);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&s->wlock);
}

int sd_store_gc(struct sd_store *s, sd_store_live_fn live, void *opaque,
		struct sd_store_gc_stats *st, struct sd_err *why)
{
	struct sd_store_gc_stats local;
	struct gc g = { .s = s, .st = st ? st : &local, .why = why };
	uint32_t *dead = NULL, *cand = NULL;
	size_t ndead = 0, ncand = 0, nitems = 0;
	struct gc_item *items = NULL;
	int r;

	*g.st = (struct sd_store_gc_stats){ 0 };
	if (!live)
		return fail(why, -EINVAL,
			    "chunk store %s: collecting garbage: no live() "
			    "callback",
			    s->dir);
	if (pthread_mutex_trylock(&s->gclock) != 0)
		return fail(why, -EBUSY,
			    "chunk store %s: a garbage collection is already "
			    "running",
			    s->dir);
	g.buf = malloc(GC_READ_MAX);
	g.scratch = malloc(SD_CHUNK_MAX);
	g.z = zctx_take(s);
	if (!g.buf || !g.scratch || !g.z) {
		r = -ENOMEM;
		goto out;
	}
	gc_begin(&g);
	r = gc_judge(&g, live, opaque);
	if (r == 0)
		r = gc_plan(&g, &dead, &ndead, &cand, &ncand);
	if (r < 0)
		goto end;
	/* First what needs no space at all: a full disk gets room here. */
	for (size_t i = 0; i < ndead; i++)
		gc_unlink(&g, dead[i], false);
	if (ndead) {
		fsync(s->pdfd);
		g.dirty = true; /* the index names the unlinked packs */
	}
	r = gc_collect(&g, cand, ncand, &items, &nitems);
	if (r == 0)
		r = gc_rewrite(&g, items, nitems);
	/* A rewrite that stopped for space still drops the dead records. */
	if ((r == 0 || r == -ENOSPC) && (g.dirty || g.nsrcs)) {
		int c = gc_commit(&g);

		if (r == 0)
			r = c;
	}
end:
	gc_undo(&g, &(struct gc_pt){ 0 });
	gc_end(&g);
out:
	g.st->bytes_freed = g.removed > g.copied ? g.removed - g.copied : 0;
	pthread_mutex_unlock(&s->gclock);
	if (g.z)
		zctx_give(s, g.z);
	free(g.buf);
	free(g.scratch);
	free(g.outs);
	free(g.srcs);
	free(g.mv);
	free(items);
	free(dead);
	free(cand);
	if (r == -ENOMEM)
		fail(why, r, "chunk store %s: out of memory collecting garbage",
		     s->dir);
	return r;
}
