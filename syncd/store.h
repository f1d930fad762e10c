/* SPDX-License-Identifier: MIT */
/* The node's content-addressed chunk store: append-only pack files plus an
 * append-only index, crash-safe, every chunk verified against its id. */
#ifndef TETHER_STORE_H
#define TETHER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "chunkid.h"
#include "manifest.h" /* struct sd_err */

/* On disk, in the store's directory:
 *   index                 16-byte header ("TTHRCIDX", u32 version 1,
 *                         u32 record size 48), then 48-byte records:
 *                         id[16], u32 pack, u32 raw_len, u64 offset,
 *                         u32 stored_len, u8 flags, 3 zero bytes,
 *                         u64 XXH3-64 of the 40 bytes before it (LE)
 *   index.new             an index being written by sd_store_gc(); a
 *                         leftover is deleted at open
 *   packs/NNNNNNNN.pack   pack records (docs/protocol.md, "Chunk packs")
 *                         exactly as they arrived; offset points at the
 *                         record's header. NNNNNNNN is the pack number in
 *                         decimal, 8 digits.
 * A chunk is in the index only once its pack bytes are on disk (fsync of
 * the pack, then append and fsync of the index). At open, a torn or
 * unreadable index tail is cut off, index records that fail their
 * checksum or point past their pack are dropped (the chunk is simply
 * absent and gets sent again), records of a pack file that no longer
 * exists are skipped (a GC deleted it before it could rewrite the index),
 * pack files no index record references are deleted, and pack bytes past
 * the last record of the newest pack are cut off or overwritten. A pack
 * number is never used twice while the index names it. */
#define SD_STORE_PACK_ROLL (256ull << 20) /* start a new pack past this */
#define SD_STORE_BATCH_MAX (64u << 20)	  /* one sd_store_put_batch() */

struct sd_store;

struct sd_store_opts {
	uint64_t pack_roll; /* 0: SD_STORE_PACK_ROLL */
	/* A cache of chunks that can be fetched again (tether mount): puts
	 * are not fsynced. A crash may then lose the last chunks put, or
	 * leave index records whose bytes fail their check on read, which
	 * the store forgets (-EIO once, -ENOENT after): never wrong bytes. */
	bool cache;
};

struct sd_store_stats {
	uint64_t chunks;	/* distinct chunks held */
	uint64_t stored_bytes;	/* their stored (compressed) bytes */
	uint64_t raw_bytes;	/* their uncompressed bytes */
	uint32_t packs;		/* pack files in use */
	uint64_t pack_bytes;	/* their size on disk, dead records included */
	uint64_t index_dropped; /* index records dropped at open */
};

/* Open the store in dir, creating dir, packs/ and index when absent (dir
 * 0700, files 0600), and recover from a crash as described above. The
 * index is locked (flock) so a second process gets -EBUSY.
 * opts may be NULL. Writes *ret only on success.
 * Returns 0; -EBUSY; -EBADMSG for an index that is not one (bad header);
 * -EPROTONOSUPPORT for another index version; -ENOSPC; another -errno of
 * the file system; -ENOMEM. why (may be NULL) names the path and cause. */
int sd_store_open(const char *dir, struct sd_store **ret, struct sd_err *why);
int sd_store_open_opts(const char *dir, const struct sd_store_opts *opts,
		       struct sd_store **ret, struct sd_err *why);

/* Close files, free memory. NULL is fine. No other call may be running on
 * s or start after. Everything put has already been made durable. */
void sd_store_close(struct sd_store *s);

/* Threads: every call below may run concurrently with any other on the
 * same store. Puts are serialised by one writer mutex (their expensive
 * part, verification, runs before it is taken); lookups take a short
 * table mutex; reads and decompression run outside both. */

/* Whether the store holds the chunk (and has not found it corrupt). Never
 * blocks on disk. */
bool sd_store_has(struct sd_store *s, const struct sd_id *id);

/* Store the chunks of a pack (pack_buf, len bytes, untrusted: a SYNC_PUT
 * body). All records are parsed and verified (decode + id) first: if any
 * is malformed or does not match its id, nothing of the batch is stored.
 * Then the chunks not yet held (each id once, however often it appears)
 * are appended to the current pack, the pack is fsynced, their index
 * records appended and the index fsynced. Blocks on disk I/O.
 * Returns the number of chunks newly stored (0 when all were present);
 * -EPROTO/-EMSGSIZE for a malformed pack (why names the record);
 * -EBADMSG for a chunk that does not match its id; -EMSGSIZE for len over
 * SD_STORE_BATCH_MAX; -ENOSPC when the disk or quota is full (the partial
 * write is cut back: the store holds exactly what it held before); -EIO
 * or another -errno; -ENOMEM. pack_buf is borrowed for the call. */
ssize_t sd_store_put_batch(struct sd_store *s, const void *pack_buf, size_t len,
			   struct sd_err *why);

/* Read a chunk into dst (cap bytes), decompressing it and checking its id;
 * writes *raw_len. Never hands out bytes that do not match the id: a
 * corrupt chunk is -EIO (why names the id, the pack file and the offset)
 * and is forgotten, so sd_store_has() says false and the next put stores
 * a good copy. Blocks on disk I/O.
 * Returns 0; -ENOENT when absent; -ENOBUFS if cap < the chunk's raw size
 * (*raw_len says how much is needed); -EIO; -ENOMEM. */
int sd_store_get(struct sd_store *s, const struct sd_id *id, void *dst,
		 size_t cap, size_t *raw_len, struct sd_err *why);

/* Copy the chunk's whole pack record (header + stored bytes, as in a
 * SYNC_PUT) into dst (cap bytes; SD_PACK_REC_MAX always suffices), to
 * forward the chunk without recompressing it. The header is checked
 * against the index; the stored bytes are not decoded (the receiver's
 * put verifies them, as every put does). Blocks on disk I/O.
 * Returns the record's length; -ENOENT; -ENOBUFS if cap is too small; -EIO
 * when the header read back is not the one indexed. */
ssize_t sd_store_get_stored(struct sd_store *s, const struct sd_id *id,
			    void *dst, size_t cap, struct sd_err *why);

void sd_store_stats(struct sd_store *s, struct sd_store_stats *out);

/* Start a new pack (when the current one holds anything): a big batch of
 * puts that goes into packs of its own can be dropped whole by the GC,
 * which needs no free space for that. 0 or -errno (a pack file could not
 * be created; the current pack stays). */
int sd_store_roll(struct sd_store *s, struct sd_err *why);

/* ---- garbage collection ---- */

struct sd_store_gc_stats {
	uint64_t chunks_kept;	 /* judged: live() said yes, or put meanwhile */
	uint64_t chunks_dropped; /* judged: live() said no; no longer held */
	uint64_t bytes_freed;	 /* pack bytes removed minus bytes rewritten */
	uint64_t packs_deleted;	 /* packs with no live chunk, unlinked */
	uint64_t packs_rewritten; /* packs whose live chunks moved, unlinked */
};

/* Called once for each chunk the GC judges, to say whether it is still
 * needed. Runs on the GC's thread with none of the store's locks held (it
 * may call sd_store_has() and the other queries). opaque is the GC's. */
typedef bool (*sd_store_live_fn)(void *opaque, const struct sd_id *id);

/* Keep exactly the chunks live() says yes to, and those put while the GC
 * runs; reclaim the rest.
 *
 * The current pack is rolled first, so every pack that existed when the GC
 * began can be collected. live() is called once per chunk in those packs;
 * a chunk it rejects is absent from then on (sd_store_has() false; a put
 * stores it again), unless a put of it arrived while the GC was judging.
 * A caller that decided from sd_store_has() that it need not send a chunk
 * (e.g. an open sync session) must count that chunk live.
 * Then, in this order, each step crash-safe (docs/protocol.md, "Chunk
 * packs", "Garbage collection"):
 *   1. packs with no live chunk are unlinked: this needs no free space;
 *   2. packs more than half dead, most dead bytes first, then small packs
 *      (under 1/16 of the roll size, when there are two or more), have
 *      their live chunks verified and copied to new packs; every pack's
 *      worth of copies is committed: the new packs are fsynced, a new
 *      index of every held chunk replaces the old one (index.new, fsync,
 *      rename, fsync of the directory), then the old packs are unlinked;
 *   3. the index is rewritten without the dropped chunks, when step 2 did
 *      not already.
 * A copy that hits a full disk is undone, what was copied before it is
 * committed (freeing its old packs) and the copy tried once more; if it
 * still does not fit, the GC stops there: the store holds every chunk it
 * kept and is consistent, on disk and in memory, whatever stopped it. A
 * chunk found corrupt while being copied is forgotten, as a read would.
 *
 * Threads: puts, sd_store_has(), sd_store_get() and
 * sd_store_get_stored() run concurrently with the GC; a read of a chunk
 * being moved reads the old copy or the new one, both verified. Puts wait
 * while the GC writes a new index (48 bytes per chunk held). One GC at a
 * time. Blocks on disk I/O for as long as it takes.
 * st (may be NULL) is filled even on failure, with what was done.
 * Returns 0; -EBUSY when another GC is running; -ENOSPC when the disk
 * filled before the GC was done (why names the file; what was freed stays
 * freed); -EINVAL for a NULL live; another -errno of the file system;
 * -ENOMEM. */
int sd_store_gc(struct sd_store *s, sd_store_live_fn live, void *opaque,
		struct sd_store_gc_stats *st, struct sd_err *why);

/* Bytes of chunk records no GC has judged yet: after open, everything (a
 * store does not remember its last GC); then what was put since the last
 * sd_store_gc() began judging. Dead bytes a GC chose to leave (in packs
 * less than half dead) are not counted, so a policy such as "collect when
 * the backlog passes a quarter of pack_bytes" does not collect in a loop.
 * Never blocks on disk. */
uint64_t sd_store_gc_backlog(struct sd_store *s);

#endif
