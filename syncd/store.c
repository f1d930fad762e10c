/* SPDX-License-Identifier: MIT */
/* The chunk store: pack files written in batches, an index appended after
 * the packs are durable, an in-memory table loaded from the index. Opening
 * it (the index read and checked, the packs found) is in store_open.c,
 * its garbage collector, which rewrites packs and replaces the index, in
 * store_gc.c. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pack.h"
#include "store_int.h"

int sds_fail(struct sd_err *why, int r, const char *fmt, ...)
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
int sds_disk_errno(int e)
{
	return e == EDQUOT ? -ENOSPC : -e;
}

void sds_pack_name(char out[PACK_NAME_MAX], uint32_t n)
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
int sds_table_reserve(struct table *t, uint64_t n)
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

void sds_table_fini(struct table *t)
{
	free(t->e);
	free(t->slot);
	*t = (struct table){ 0 };
}

/* Remove the bad entries and clear every pin. Entry numbers change: only
 * under wlock, with nothing holding one. Capacity is kept, so what a put
 * reserved stays reserved. */
void sds_table_compact(struct table *t)
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

void sds_stats_add(struct sd_store_stats *st, const struct loc *l, int sign)
{
	if (l->bad)
		return;
	st->chunks += (uint64_t)(int64_t)sign;
	st->stored_bytes += (uint64_t)((int64_t)sign * l->stored_len);
	st->raw_bytes += (uint64_t)((int64_t)sign * l->raw_len);
}

/* Under lock. */
void sds_store_set(struct sd_store *s, const struct loc *l)
{
	struct loc old;

	if (table_set(&s->t, l, &old))
		sds_stats_add(&s->st, &old, -1);
	sds_stats_add(&s->st, l, +1);
}

/* ---- files ---- */

int sds_write_all(int fd, const void *buf, size_t n, uint64_t off)
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
int sds_readv_all(int fd, struct iovec *iov, int cnt, uint64_t off)
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
struct pack *sds_pack_slot(struct sd_store *s, uint32_t n)
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
 * more read in flight on it; sds_pack_unref() ends the read. */
int sds_pack_ref(struct sd_store *s, uint32_t n)
{
	char name[PACK_NAME_MAX];
	struct pack *p = sds_pack_slot(s, n);

	if (!p)
		return n >= PACKS_MAX ? -ERANGE : -ENOMEM;
	if (!p->exists)
		return -ENOENT;
	if (p->fd < 0) {
		sds_pack_name(name, n);
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

void sds_pack_unref(struct sd_store *s, uint32_t n)
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
void sds_pack_forget(struct sd_store *s, uint32_t n)
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
int sds_pack_create(struct sd_store *s, uint32_t *no, struct sd_err *why)
{
	char name[PACK_NAME_MAX];
	uint32_t n = s->next_no;
	struct pack *p;
	int fd;

	if (n >= PACKS_MAX)
		return sds_fail(why, -ENOSPC,
				"chunk store %s: %u packs, no more", s->dir,
				PACKS_MAX);
	pthread_mutex_lock(&s->lock);
	p = sds_pack_slot(s, n);
	pthread_mutex_unlock(&s->lock);
	if (!p)
		return -ENOMEM;
	sds_pack_name(name, n);
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
		return sds_fail(why, sds_disk_errno(e),
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
void sds_pack_grew(struct sd_store *s, uint32_t n, uint64_t bytes)
{
	s->pk[n].size += bytes;
	s->st.pack_bytes += bytes;
}

/* ---- contexts: a pool, one per concurrent caller ---- */

struct sd_zctx *sds_zctx_take(struct sd_store *s)
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

void sds_zctx_give(struct sd_store *s, struct sd_zctx *z)
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
	z = sds_zctx_take(s);
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
		sds_zctx_give(s, z);
	free(scratch);
	free(a);
	return r;
}

/* Start a new current pack. Under wlock. */
int sds_roll_pack(struct sd_store *s, struct sd_err *why)
{
	uint32_t no;
	int fd = sds_pack_create(s, &no, why);

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
		r = sds_roll_pack(s, why);
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
		r = sds_roll_pack(s, why);
		if (r < 0)
			return r;
	}
	sds_pack_name(name, s->pack_no);
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
		sds_irec_encode(ibuf + (size_t)k * IDX_REC_SIZE, &locs[k]);
		off += size;
		k++;
	}

	r = writev_all(s->pack_fd, iov, niov, s->pack_end);
	if (r == 0 && !s->cache && fsync(s->pack_fd) < 0)
		r = -errno;
	if (r < 0) {
		r = sds_fail(why, sds_disk_errno(-r),
			     "chunk store %s: writing packs/%s: %s", s->dir,
			     name, strerror(-r));
		goto cut_pack;
	}
	r = sds_write_all(s->ifd, ibuf, (size_t)nkeep * IDX_REC_SIZE,
			  s->index_end);
	if (r == 0 && !s->cache && fsync(s->ifd) < 0)
		r = -errno;
	if (r < 0) {
		/* A torn index record would be cut at the next open anyway;
		 * cutting it now keeps appends contiguous. */
		if (ftruncate(s->ifd, (off_t)s->index_end) == 0)
			fsync(s->ifd);
		r = sds_fail(why, sds_disk_errno(-r),
			     "chunk store %s: appending to the index: %s",
			     s->dir, strerror(-r));
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
		return sds_fail(why, -EMSGSIZE,
				"chunk batch of %zu bytes over the %u-byte cap",
				len, SD_STORE_BATCH_MAX);
	r = batch_check(s, pack_buf, len, &recs, &n, why);
	if (r < 0 || n == 0)
		goto out;
	keep = calloc(n, sizeof(*keep));
	r = keep ? sds_table_reserve(&seen, n) : -ENOMEM;
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
	r = nkeep ? sds_table_reserve(&s->t, (uint64_t)s->t.n + nkeep) : 0;
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
		sds_store_set(s, &locs[k]);
	sds_pack_grew(s, s->pack_no, bytes);
	s->backlog += bytes;
	pthread_mutex_unlock(&s->lock);
unlock:
	pthread_mutex_unlock(&s->wlock);
out:
	if (r == -ENOMEM)
		sds_fail(why, r,
			 "chunk store %s: out of memory storing a batch",
			 s->dir);
	sds_table_fini(&seen);
	free(locs);
	free(keep);
	free(recs);
	return r < 0 ? r : (ssize_t)nkeep;
}

/* ---- get ---- */

/* Find id and the fd of its pack, which stays open, even if a GC moves
 * the chunk and unlinks the pack, until sds_pack_unref(s, l->pack). */
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
		*fd = sds_pack_ref(s, l->pack);
	}
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return sds_fail(why, r, "chunk %s: not in the store %s",
				sd_id_hex(id, hex), s->dir);
	if (*fd < 0) {
		sds_pack_name(name, l->pack);
		return sds_fail(why, *fd == -ENOMEM ? -ENOMEM : -EIO,
				"chunk %s: chunk store %s: packs/%s: %s",
				sd_id_hex(id, hex), s->dir, name,
				strerror(-*fd));
	}
	return 0;
}

/* A read that came back wrong: forget the chunk so it is fetched again,
 * and say where it was. */
int sds_corrupt(struct sd_store *s, const struct loc *l, const char *cause,
		struct sd_err *why)
{
	char hex[SD_ID_HEX], name[PACK_NAME_MAX];
	int64_t i;

	pthread_mutex_lock(&s->lock);
	i = table_find(&s->t, &l->id);
	if (i >= 0 && !s->t.e[i].bad && s->t.e[i].pack == l->pack &&
	    s->t.e[i].off == l->off) {
		sds_stats_add(&s->st, &s->t.e[i], -1);
		s->t.e[i].bad = true;
	}
	pthread_mutex_unlock(&s->lock);
	sds_pack_name(name, l->pack);
	return sds_fail(why, -EIO, "chunk %s in %s/packs/%s at offset %llu: %s",
			sd_id_hex(&l->id, hex), s->dir, name,
			(unsigned long long)l->off, cause);
}

static int read_failed(struct sd_store *s, const struct loc *l, int r,
		       struct sd_err *why)
{
	char hex[SD_ID_HEX], name[PACK_NAME_MAX];

	/* Short: the pack ends before a record the index vouched for. */
	if (r == -ENODATA)
		return sds_corrupt(s, l, "the pack file is truncated", why);
	sds_pack_name(name, l->pack);
	return sds_fail(why, -EIO, "chunk %s in %s/packs/%s at offset %llu: %s",
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

		return sds_fail(why, -ENOBUFS,
				"chunk %s: %u bytes, the buffer holds %zu",
				sd_id_hex(&l.id, hex), l.raw_len, cap);
	}
	if (l.flag == SD_Z_RAW) {
		stored = dst;
	} else {
		stored = malloc(l.stored_len);
		z = sds_zctx_take(s);
		if (!stored || !z) {
			r = sds_fail(why, -ENOMEM,
				     "chunk store %s: out of memory", s->dir);
			goto out;
		}
	}
	iov[0] = (struct iovec){ hdr, sizeof(hdr) };
	iov[1] = (struct iovec){ stored, l.stored_len };
	r = sds_readv_all(fd, iov, 2, l.off);
	if (r < 0) {
		r = read_failed(s, &l, r, why);
		goto out;
	}
	sd_pack_hdr_encode(want, &l.id, l.flag, l.raw_len, l.stored_len);
	if (memcmp(hdr, want, sizeof(hdr)) != 0) {
		r = sds_corrupt(
			s, &l, "the record header is not the one indexed", why);
		goto out;
	}
	if (l.flag != SD_Z_RAW) {
		r = sd_z_decompress(z, l.flag, stored, l.stored_len, dst,
				    l.raw_len);
		if (r == -ENOMEM)
			goto out;
		if (r < 0) {
			r = sds_corrupt(s, &l, "the stored bytes do not decode",
					why);
			goto out;
		}
	}
	sd_id_of(&got, dst, l.raw_len);
	if (!sd_id_eq(&got, &l.id))
		r = sds_corrupt(s, &l, "the bytes do not match the id", why);
out:
	if (z)
		sds_zctx_give(s, z);
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
	sds_pack_unref(s, l.pack);
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

		return sds_fail(
			why, -ENOBUFS,
			"chunk %s: a %zu-byte record, the buffer holds %zu",
			sd_id_hex(&l->id, hex), size, cap);
	}
	iov = (struct iovec){ dst, size };
	r = sds_readv_all(fd, &iov, 1, l->off);
	if (r < 0)
		return read_failed(s, l, r, why);
	sd_pack_hdr_encode(want, &l->id, l->flag, l->raw_len, l->stored_len);
	if (memcmp(dst, want, sizeof(want)) != 0)
		return sds_corrupt(
			s, l, "the record header is not the one indexed", why);
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
	sds_pack_unref(s, l.pack);
	return r;
}
