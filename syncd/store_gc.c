/* SPDX-License-Identifier: MIT */
/* The chunk store's garbage collector: asks which chunks are live, unlinks
 * dead packs, copies the live records of sparse ones, replaces the index. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/uio.h>
#include <unistd.h>

#include "failpoint.h"
#include "pack.h"
#include "store_int.h"
#include "zchunk.h"

uint64_t sd_store_gc_backlog(struct sd_store *s)
{
	uint64_t b;

	pthread_mutex_lock(&s->lock);
	b = s->backlog;
	pthread_mutex_unlock(&s->lock);
	return b;
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
		sds_roll_pack(s, NULL);
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
			sds_stats_add(&s->st, e, -1);
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

	sds_pack_name(name, p);
	if (unlinkat(s->pdfd, name, 0) < 0 && errno != ENOENT)
		return;
	pthread_mutex_lock(&s->lock);
	size = s->pk[p].size;
	pthread_mutex_unlock(&s->lock);
	sds_pack_forget(s, p);
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
		fd = sds_pack_create(s, &n, g->why);
		pthread_mutex_unlock(&s->wlock);
		if (fd < 0)
			return fd;
		o = &g->outs[g->nouts++];
		*o = (struct gc_out){ n, fd, 0 };
	}
	r = sds_write_all(o->fd, rec, size, o->end);
	if (r < 0) {
		/* A partial write holds space a full disk needs back (the
		 * undo cuts again, should this fail). */
		while (ftruncate(o->fd, (off_t)o->end) < 0 && errno == EINTR)
			;
		sds_pack_name(name, o->no);
		return sds_fail(g->why, sds_disk_errno(-r),
				"chunk store %s: collecting garbage: writing "
				"packs/%s: %s",
				s->dir, name, strerror(-r));
	}
	*no = o->no;
	*off = o->end;
	o->end += size;
	g->written += size;
	pthread_mutex_lock(&s->lock);
	sds_pack_grew(s, o->no, size);
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
		sds_corrupt(g->s, l, "the record header is not the one indexed",
			    NULL);
		return 0;
	}
	r = sd_pack_verify(g->z, &pr, g->scratch, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		sds_corrupt(g->s, l, "the bytes do not match the id", NULL);
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
	fd = sds_pack_ref(s, p);
	pthread_mutex_unlock(&s->lock);
	if (fd < 0)
		return fd == -ENOMEM ? fd : 1;
	for (size_t i = 0, j; i < n && r == 0; i = j) {
		uint64_t start = it[i].l.off, end = sds_loc_end(&it[i].l);

		for (j = i + 1; j < n && it[j].l.off == end &&
				sds_loc_end(&it[j].l) - start <= GC_READ_MAX;
		     j++)
			end = sds_loc_end(&it[j].l);
		iov = (struct iovec){ g->buf, (size_t)(end - start) };
		r = sds_readv_all(fd, &iov, 1, start);
		if (r == -ENODATA) {
			/* Shorter than the index says: those are lost. */
			for (size_t k = i; k < j; k++)
				sds_corrupt(s, &it[k].l,
					    "the pack is truncated", NULL);
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
	sds_pack_unref(s, p);
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
		sds_pack_name(name, o->no);
		unlinkat(s->pdfd, name, 0);
		sds_pack_forget(s, o->no);
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
	sds_idx_hdr(buf);
	r = sds_write_all(fd, buf, IDX_HDR_SIZE, 0);
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
			sds_irec_encode(buf + (size_t)k * IDX_REC_SIZE, &l);
			k++;
		}
		pthread_mutex_unlock(&s->lock);
		if (k == 0)
			break;
		r = sds_write_all(fd, buf, (size_t)k * IDX_REC_SIZE, off);
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
			r = sds_disk_errno(errno);
			sds_pack_name(name, g->outs[i].no);
		}
	if (r == 0 && g->nouts && fsync(s->pdfd) < 0) {
		r = sds_disk_errno(errno);
		snprintf(name, sizeof(name), ".");
	}
	if (r < 0)
		return sds_fail(g->why, r,
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
		return sds_fail(g->why, sds_disk_errno(-r),
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
		return sds_fail(
			g->why, -EIO,
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
	sds_table_compact(&s->t);
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
		return sds_fail(why, -EINVAL,
				"chunk store %s: collecting garbage: no live() "
				"callback",
				s->dir);
	if (pthread_mutex_trylock(&s->gclock) != 0)
		return sds_fail(
			why, -EBUSY,
			"chunk store %s: a garbage collection is already "
			"running",
			s->dir);
	g.buf = malloc(GC_READ_MAX);
	g.scratch = malloc(SD_CHUNK_MAX);
	g.z = sds_zctx_take(s);
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
		sds_zctx_give(s, g.z);
	free(g.buf);
	free(g.scratch);
	free(g.outs);
	free(g.srcs);
	free(g.mv);
	free(items);
	free(dead);
	free(cand);
	if (r == -ENOMEM)
		sds_fail(why, r,
			 "chunk store %s: out of memory collecting garbage",
			 s->dir);
	return r;
}
