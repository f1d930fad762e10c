/* SPDX-License-Identifier: MIT */
/* Private to store.c and store_gc.c: the store's state and the pieces of
 * file, pack and index handling the garbage collector shares. Not API. */
#ifndef TETHER_STORE_INT_H
#define TETHER_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "store.h"

struct sd_zctx;

#define IDX_HDR_SIZE  16u
#define IDX_REC_SIZE  48u
#define IDX_READ_RECS 4096u /* records per read at open */

#define PACK_NAME_MAX sizeof("00000000.pack")
/* 2^20 packs of 256 MiB is 256 TiB; a larger number in a record whose
 * checksum holds is still refused, so nothing sizes an array from it. */
#define PACKS_MAX (1u << 20)
#define INDEX_NEW "index.new"

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
	bool cache; /* sd_store_opts.cache: no fsync on puts */

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

/* Fill why (when not NULL) from fmt and return r. */
__attribute__((format(printf, 3, 4))) int sds_fail(struct sd_err *why, int r,
						   const char *fmt, ...);
/* -errno for errno e, EDQUOT reported as -ENOSPC. */
int sds_disk_errno(int e);
/* "NNNNNNNN.pack", the file name of pack n in packs/. */
void sds_pack_name(char out[PACK_NAME_MAX], uint32_t n);

/* Under lock: count l (unless bad) into st, sign +1 or -1. */
void sds_stats_add(struct sd_store_stats *st, const struct loc *l, int sign);
/* Under wlock and lock: remove the bad entries and clear every pin;
 * entry numbers change. */
void sds_table_compact(struct table *t);

/* Room for n entries in all, so that inserts up to there cannot fail. 0
 * or -ENOMEM. */
int sds_table_reserve(struct table *t, uint64_t n);
void sds_table_fini(struct table *t);
/* Under lock: the table and its stats take l. */
void sds_store_set(struct sd_store *s, const struct loc *l);
/* Under lock (or at open): pack n's slot, grown into when new. NULL for a
 * number out of range or out of memory. */
struct pack *sds_pack_slot(struct sd_store *s, uint32_t n);

/* pwrite()/preadv() all of it at off, retrying on EINTR. 0 or -errno;
 * sds_readv_all() modifies iov and returns -ENODATA at end of file. */
int sds_write_all(int fd, const void *buf, size_t n, uint64_t off);
int sds_readv_all(int fd, struct iovec *iov, int cnt, uint64_t off);

/* Under lock: the read-only fd of pack n with one more read in flight on
 * it, or -errno. sds_pack_unref() (takes lock) ends the read. */
int sds_pack_ref(struct sd_store *s, uint32_t n);
void sds_pack_unref(struct sd_store *s, uint32_t n);
/* Takes lock: account for pack n, unlinked. */
void sds_pack_forget(struct sd_store *s, uint32_t n);
/* Under wlock: create pack s->next_no; writes *no, returns its read-write
 * fd, or -errno with why filled. */
int sds_pack_create(struct sd_store *s, uint32_t *no, struct sd_err *why);
/* Under lock: pack n grew by bytes. */
void sds_pack_grew(struct sd_store *s, uint32_t n, uint64_t bytes);
/* Under wlock: start a new current pack. 0 or -errno with why filled. */
int sds_roll_pack(struct sd_store *s, struct sd_err *why);

/* The index's header, and the record for l. */
void sds_idx_hdr(uint8_t hdr[IDX_HDR_SIZE]);
void sds_irec_encode(uint8_t out[IDX_REC_SIZE], const struct loc *l);
/* The offset just past l's record in its pack. */
uint64_t sds_loc_end(const struct loc *l);

/* Takes lock: a zstd context from the pool (or a new one; NULL when
 * out of memory), and back to the pool. */
struct sd_zctx *sds_zctx_take(struct sd_store *s);
void sds_zctx_give(struct sd_store *s, struct sd_zctx *z);

/* Takes lock: forget the chunk at l, read back wrong, so that it is
 * fetched again. Returns -EIO with why (when not NULL) naming cause. */
int sds_corrupt(struct sd_store *s, const struct loc *l, const char *cause,
		struct sd_err *why);

#endif
