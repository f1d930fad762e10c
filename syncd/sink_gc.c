/* SPDX-License-Identifier: MIT */
/* The sink's garbage collection: the live set of a trust domain (every
 * committed version and every sync in progress) and when to collect. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "log.h"
#include "sink_int.h"

int sdk_idset_init(struct sdk_idset *set, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap <<= 1;
	*set = (struct sdk_idset){ .v = calloc(cap, sizeof(*set->v)),
				   .mask = cap - 1 };
	return set->v ? 0 : -ENOMEM;
}

static struct sd_id *idset_slot(const struct sdk_idset *set,
				const struct sd_id *id)
{
	static const struct sd_id zero;
	size_t h = sd_id_key(id) & set->mask;

	while (!sd_id_eq(&set->v[h], &zero) && !sd_id_eq(&set->v[h], id))
		h = (h + 1) & set->mask;
	return &set->v[h];
}

bool sdk_idset_insert(struct sdk_idset *set, const struct sd_id *id)
{
	static const struct sd_id zero;
	struct sd_id *slot;

	if (sd_id_eq(id, &zero)) {
		bool was = set->zero;

		set->zero = true;
		return !was;
	}
	slot = idset_slot(set, id);
	if (sd_id_eq(slot, id))
		return false;
	*slot = *id;
	return true;
}

int sdk_lacking(struct sd_store *st, const struct sd_entry *ents, size_t count,
		struct sd_id **out, size_t *n, uint64_t *bytes)
{
	struct sdk_idset seen;
	struct sd_id *v = NULL;
	size_t cap = 0, k = 0, all = 0;
	uint64_t b = 0;
	int r;

	for (size_t i = 0; i < count; i++)
		all += ents[i].nchunks;
	r = sdk_idset_init(&seen, all);
	for (size_t i = 0; i < count && r == 0; i++) {
		const struct sd_entry *e = &ents[i];

		for (uint32_t c = 0; c < e->nchunks && r == 0; c++) {
			const struct sd_id *id = &e->chunks[c].id;

			if (!sdk_idset_insert(&seen, id) ||
			    sd_store_has(st, id))
				continue;
			if (k == cap) {
				struct sd_id *nv;

				cap = cap ? 2 * cap : 1024;
				nv = realloc(v, cap * sizeof(*v));
				if (!nv) {
					r = -ENOMEM;
					break;
				}
				v = nv;
			}
			v[k++] = *id;
			b += e->chunks[c].len;
		}
	}
	free(seen.v);
	if (r < 0) {
		free(v);
		return r;
	}
	*out = v;
	*n = k;
	if (bytes)
		*bytes = b;
	return 0;
}

static bool idset_has(void *opaque, const struct sd_id *id)
{
	static const struct sd_id zero;
	const struct sdk_idset *set = opaque;

	if (sd_id_eq(id, &zero))
		return set->zero;
	return sd_id_eq(idset_slot(set, id), id);
}

static size_t manifest_chunks(const struct sd_manifest *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->count; i++)
		n += m->e[i].nchunks;
	return n;
}

static void idset_add_manifest(struct sdk_idset *set,
			       const struct sd_manifest *m)
{
	for (size_t i = 0; i < m->count; i++)
		for (uint32_t c = 0; c < m->e[i].nchunks; c++)
			sdk_idset_insert(set, &m->e[i].chunks[c].id);
}

/* ---- garbage collection ---- */

int sdk_domain_gc(struct sd_sink *s, struct domain *d, struct sd_err *why)
{
	struct sd_store_gc_stats st = { 0 };
	struct sdk_idset set = { 0 };
	size_t total = 0;
	int r;

	pthread_rwlock_wrlock(&d->gc_lock);
	pthread_mutex_lock(&s->lock);
	for (struct ws *w = s->wss; w; w = w->next)
		if (w->dom == d)
			total += manifest_chunks(&w->cur) + sdk_defs_chunks(w);
	for (struct session *x = s->sessions; x; x = x->next)
		if (x->live && x->ws->dom == d)
			total += manifest_chunks(&x->result);
	if (sdk_idset_init(&set, total) == 0) {
		for (struct ws *w = s->wss; w; w = w->next) {
			if (w->dom != d)
				continue;
			idset_add_manifest(&set, &w->cur);
			/* Pending files' chunks, defined on demand. */
			sdk_defs_live(w, &set);
		}
		for (struct session *x = s->sessions; x; x = x->next)
			if (x->live && x->ws->dom == d)
				idset_add_manifest(&set, &x->result);
	}
	pthread_mutex_unlock(&s->lock);
	r = set.v ? sd_store_gc(d->store, idset_has, &set, &st, why)
		  : sd_err_set(why, -ENOMEM, "out of memory");
	pthread_rwlock_unlock(&d->gc_lock);
	free(set.v);
	log_info("domain %s: garbage collection: %" PRIu64
		 " chunks dropped, %" PRIu64 " kept, %" PRIu64 " bytes freed%s",
		 d->name, st.chunks_dropped, st.chunks_kept, st.bytes_freed,
		 r < 0 ? " (stopped early)" : "");
	return r;
}

void sdk_maybe_gc(struct sd_sink *s, struct domain *d)
{
	struct sd_store_stats st;
	struct sd_err why = { "" };
	uint64_t backlog = sd_store_gc_backlog(d->store);

	sd_store_stats(d->store, &st);
	if (backlog < (64u << 20) || backlog < st.stored_bytes / 4)
		return;
	if (sdk_domain_gc(s, d, &why) < 0)
		log_warn("domain %s: garbage collection: %s", d->name,
			 why.what);
}
