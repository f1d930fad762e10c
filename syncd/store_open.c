/* SPDX-License-Identifier: MIT */
/* Opening and closing the chunk store (store.h): the index's records and
 * header, the index read, checked and, after a crash, cut back to its
 * last whole record; the packs it names opened, strays removed. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "pack.h"
#include "store_int.h"

#define IDX_MAGIC   "TTHRCIDX"
#define IDX_VERSION 1u
#define IDX_SUM_OFF 40u

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

/* ---- index records ---- */

void sds_irec_encode(uint8_t out[IDX_REC_SIZE], const struct loc *l)
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

uint64_t sds_loc_end(const struct loc *l)
{
	return l->off + SD_PACK_HDR_SIZE + l->stored_len;
}

/* ---- open ---- */

void sds_idx_hdr(uint8_t hdr[IDX_HDR_SIZE])
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
		return sds_fail(why, sds_disk_errno(errno),
				"chunk store %s: creating the index: %s",
				s->dir, strerror(errno));
	sds_idx_hdr(hdr);
	r = sds_write_all(fd, hdr, sizeof(hdr), 0);
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
		return sds_fail(why, sds_disk_errno(-r),
				"chunk store %s: creating the index: %s",
				s->dir, strerror(-r));
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
			return sds_fail(why, -errno,
					"chunk store %s: index: %s", s->dir,
					strerror(errno));
		if (flock(s->ifd, LOCK_EX | LOCK_NB) < 0)
			return sds_fail(
				why, errno == EWOULDBLOCK ? -EBUSY : -errno,
				"chunk store %s: in use by another process",
				s->dir);
		if (fstat(s->ifd, &st) < 0)
			return sds_fail(why, -errno,
					"chunk store %s: index: %s", s->dir,
					strerror(errno));
		if (fstatat(s->dfd, "index", &now, 0) == 0 &&
		    now.st_ino == st.st_ino && now.st_dev == st.st_dev)
			break;
		close(s->ifd);
		s->ifd = -1;
		if (tries == 8)
			return sds_fail(
				why, -EBUSY,
				"chunk store %s: in use by another process",
				s->dir);
	}
	/* Ours alone now: a GC that died left it half written. */
	unlinkat(s->dfd, INDEX_NEW, 0);
	n = pread(s->ifd, hdr, sizeof(hdr), 0);
	if (n < 0)
		return sds_fail(why, -errno, "chunk store %s: index: %s",
				s->dir, strerror(errno));
	if (n < (ssize_t)sizeof(hdr) || memcmp(hdr, IDX_MAGIC, 8) != 0)
		return sds_fail(
			why, -EBADMSG,
			"chunk store %s: index: not a chunk store index "
			"(bad header)",
			s->dir);
	if (get_le32(hdr + 8) != IDX_VERSION ||
	    get_le32(hdr + 12) != IDX_REC_SIZE)
		return sds_fail(
			why, -EPROTONOSUPPORT,
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
	if (!sds_pack_slot(s, n))
		return -ENOMEM;
	sds_pack_name(name, n);
	fd = openat(s->pdfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		(*out)->size = -1;
		return 0;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return sds_fail(why, -e, "chunk store %s: packs/%s: %s", s->dir,
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
		return sds_fail(why, -ENOSPC,
				"chunk store %s: %u packs, no more", s->dir,
				PACKS_MAX);
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
	r = sds_table_reserve(&s->t, (size - IDX_HDR_SIZE) / IDX_REC_SIZE);
	if (r == -EOVERFLOW)
		r = sds_fail(why, r, "chunk store %s: index: too many records",
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
			r = sds_fail(why, -errno, "chunk store %s: index: %s",
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
			if (sds_loc_end(&l) > (uint64_t)p->size) {
				s->st.index_dropped++;
				continue;
			}
			sds_store_set(s, &l);
			p->used = true;
			if (sds_loc_end(&l) > p->end)
				p->end = sds_loc_end(&l);
		}
	}
	/* A partial record, or damaged ones with nothing good after them,
	 * is a write the crash interrupted: nothing was acknowledged on it. */
	if (keep_end < size) {
		s->st.index_dropped += (size - off) ? 1 : 0;
		if (ftruncate(s->ifd, (off_t)keep_end) < 0 ||
		    fsync(s->ifd) < 0) {
			r = sds_fail(
				why, sds_disk_errno(errno),
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

	if (!sds_pack_slot(s, n))
		return -ENOMEM;
	sds_pack_name(name, n);
	fd = openat(s->pdfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return sds_fail(why, sds_disk_errno(errno),
				"chunk store %s: packs/%s: %s", s->dir, name,
				strerror(errno));
	/* The new name must be durable before an index record uses it. */
	if (fstat(fd, &st) < 0 ||
	    ((uint64_t)st.st_size > end && ftruncate(fd, (off_t)end) < 0) ||
	    fsync(s->pdfd) < 0) {
		int e = errno;

		close(fd);
		return sds_fail(why, sds_disk_errno(e),
				"chunk store %s: packs/%s: %s", s->dir, name,
				strerror(e));
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
	s->cache = opts && opts->cache;
	s->dir = strdup(dir);
	if (!s->dir) {
		r = -ENOMEM;
		goto fail;
	}

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = sds_fail(why, sds_disk_errno(errno), "chunk store %s: %s",
			     dir, strerror(errno));
		goto fail;
	}
	s->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0) {
		r = sds_fail(why, -errno, "chunk store %s: %s", dir,
			     strerror(errno));
		goto fail;
	}
	if (mkdirat(s->dfd, "packs", 0700) < 0 && errno != EEXIST) {
		r = sds_fail(why, sds_disk_errno(errno),
			     "chunk store %s: packs: %s", dir, strerror(errno));
		goto fail;
	}
	s->pdfd = openat(s->dfd, "packs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->pdfd < 0) {
		r = sds_fail(why, -errno, "chunk store %s: packs: %s", dir,
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
		sds_fail(why, r, "chunk store %s: out of memory", dir);
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
	sds_table_fini(&s->t);
	pthread_mutex_destroy(&s->gclock);
	pthread_mutex_destroy(&s->wlock);
	pthread_mutex_destroy(&s->lock);
	free(s->dir);
	free(s);
}
