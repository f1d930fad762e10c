/* SPDX-License-Identifier: MIT */
/* Deltas: building one by hand or by diffing two manifests (a merge walk),
 * and applying one (another merge walk, then a seal). */
#include "manifest.h"
#include "manifest_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- sorted deltas ---- */

int sdm_delta_sorted(const struct sd_delta *d, struct sd_err *why)
{
	struct shown s, t;

	for (size_t i = 1; i < d->ndel; i++) {
		if (sd_path_cmp(d->del[i - 1], d->del_len[i - 1], d->del[i],
				d->del_len[i]) >= 0)
			return sd_err_set(
				why, -EINVAL, "delta: delete %s not after %s",
				sdm_show(&s, d->del[i], d->del_len[i]),
				sdm_show(&t, d->del[i - 1], d->del_len[i - 1]));
	}
	/* An ancestor sorts before its descendants: look each prefix up
	 * among the earlier deletes. */
	for (size_t i = 1; i < d->ndel; i++) {
		const char *p = d->del[i];

		for (size_t k = 0; k < d->del_len[i]; k++) {
			size_t lo = 0, hi = i;

			if (p[k] != '/')
				continue;
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;
				int c = sd_path_cmp(d->del[mid],
						    d->del_len[mid], p, k);

				if (c == 0)
					return sd_err_set(
						why, -EINVAL,
						"delta: delete %s is inside "
						"deleted %s",
						sdm_show(&s, p, d->del_len[i]),
						sdm_show(&t, p, k));
				if (c < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
		}
	}
	for (size_t i = 1; i < d->put.count; i++) {
		if (sdm_entry_cmp(&d->put.e[i - 1], &d->put.e[i]) >= 0)
			return sd_err_set(why, -EINVAL,
					  "delta: put %s not after %s",
					  sdm_show(&s, d->put.e[i].path,
						   d->put.e[i].path_len),
					  sdm_show(&t, d->put.e[i - 1].path,
						   d->put.e[i - 1].path_len));
	}
	return 0;
}

int sdm_del_push(struct sd_delta *d, const char *path, size_t len)
{
	char *p;

	if (d->ndel == d->del_cap) {
		size_t cap = d->del_cap ? d->del_cap * 2 : 16;
		char **nd = realloc(d->del, cap * sizeof(*nd));
		uint32_t *nl;

		if (!nd)
			return -ENOMEM;
		d->del = nd;
		nl = realloc(d->del_len, cap * sizeof(*nl));
		if (!nl)
			return -ENOMEM;
		d->del_len = nl;
		d->del_cap = cap;
	}
	p = malloc(len + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, path, len);
	p[len] = '\0';
	d->del[d->ndel] = p;
	d->del_len[d->ndel++] = (uint32_t)len;
	return 0;
}

void sd_delta_init(struct sd_delta *d)
{
	memset(d, 0, sizeof(*d));
	sd_manifest_init(&d->put);
}

void sd_delta_free(struct sd_delta *d)
{
	for (size_t i = 0; i < d->ndel; i++)
		free(d->del[i]);
	free(d->del);
	free(d->del_len);
	sd_manifest_free(&d->put);
	sd_delta_init(d);
}

int sd_delta_delete(struct sd_delta *d, const char *path, size_t len,
		    struct sd_err *why)
{
	int r = sd_path_check(path, len, why);

	if (r < 0)
		return r;
	if (d->ndel >= SD_ENTRIES_MAX)
		return sd_err_set(why, -EINVAL, "delta: over %u deletes",
				  SD_ENTRIES_MAX);
	r = sdm_del_push(d, path, len);
	return r < 0 ? sd_err_set(why, r, "out of memory") : 0;
}

struct del_ref {
	char *p;
	uint32_t len;
};

static int del_ref_cmp(const void *a, const void *b)
{
	const struct del_ref *x = a, *y = b;

	return sd_path_cmp(x->p, x->len, y->p, y->len);
}

int sd_delta_seal(struct sd_delta *d, struct sd_err *why)
{
	struct del_ref *refs;
	int r;

	if (d->version <= d->base_version)
		return sd_err_set(why, -EINVAL,
				  "delta: version %llu does not follow %llu",
				  (unsigned long long)d->version,
				  (unsigned long long)d->base_version);
	for (size_t i = 0; i < d->ndel; i++) {
		r = sd_path_check(d->del[i], d->del_len[i], why);
		if (r < 0)
			return r;
	}
	if (d->ndel > 1) {
		refs = malloc(d->ndel * sizeof(*refs));
		if (!refs)
			return sd_err_set(why, -ENOMEM, "out of memory");
		for (size_t i = 0; i < d->ndel; i++)
			refs[i] = (struct del_ref){ d->del[i], d->del_len[i] };
		qsort(refs, d->ndel, sizeof(*refs), del_ref_cmp);
		for (size_t i = 0; i < d->ndel; i++) {
			d->del[i] = refs[i].p;
			d->del_len[i] = refs[i].len;
		}
		free(refs);
	}
	for (size_t i = 0; i < d->put.count; i++) {
		r = sdm_entry_check(&d->put.e[i], why);
		if (r < 0)
			return r;
	}
	if (sdm_sort(&d->put) < 0)
		return sd_err_set(why, -ENOMEM, "out of memory");
	return sdm_delta_sorted(d, why);
}

/* The order of a->e[i] and b->e[j] in a merge walk of both, an exhausted
 * side sorting last. */
static int walk_cmp(const struct sd_manifest *a, size_t i,
		    const struct sd_manifest *b, size_t j)
{
	if (i == a->count)
		return 1;
	if (j == b->count)
		return -1;
	return sdm_entry_cmp(&a->e[i], &b->e[j]);
}

/* Whether path's parent is a directory in m (a top-level path's is). */
static bool parent_is_dir(const struct sd_manifest *m, const char *path,
			  size_t len, size_t *hint)
{
	size_t plen = sdm_parent_len(path, len), p = *hint;

	if (!plen)
		return true;
	if (p >= m->count || m->e[p].path_len != plen ||
	    memcmp(m->e[p].path, path, plen) != 0) {
		p = sdm_search(m->e, m->count, path, plen);
		if (p == m->count)
			return false;
		*hint = p;
	}
	return m->e[p].type == SD_T_DIR;
}

/* Whether two entries at the same path are the same: by their hashes,
 * which cover every field (as chunk ids stand for chunk contents), and the
 * fields that are cheapest to compare. */
static bool same_entry(const struct sd_entry *a, const struct sd_entry *b)
{
	return a->type == b->type && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns && a->mode == b->mode &&
	       sd_id_eq(&a->hash, &b->hash);
}

int sd_delta_diff(const struct sd_manifest *old, const struct sd_manifest *new,
		  struct sd_delta *d)
{
	size_t i = 0, j = 0, hint = SIZE_MAX;
	int r = 0;

	sd_delta_init(d);
	if (!old->sealed || !new->sealed || new->version <= old->version)
		return -EINVAL;
	d->base_version = old->version;
	d->base_root = old->root;
	d->version = new->version;
	d->root = new->root;
	while (r == 0 && (i < old->count || j < new->count)) {
		/* (Never an offset from a NULL array: UBSan rightly objects.) */
		const struct sd_entry *a = i < old->count ? &old->e[i] : NULL;
		const struct sd_entry *b = j < new->count ? &new->e[j] : NULL;
		int c = walk_cmp(old, i, new, j);

		if (c < 0) {
			/* Gone. Its parent is gone or no longer a directory
			 * exactly when an ancestor's delete covers it. */
			if (parent_is_dir(new, a->path, a->path_len, &hint))
				r = sdm_del_push(d, a->path, a->path_len);
			i++;
		} else if (c > 0) {
			r = sdm_entry_share(&d->put, new, b);
			j++;
		} else {
			if (!same_entry(a, b)) {
				if (a->type == SD_T_DIR && b->type != SD_T_DIR)
					r = sdm_del_push(d, a->path,
							 a->path_len);
				if (r == 0)
					r = sdm_entry_share(&d->put, new, b);
			}
			i++;
			j++;
		}
	}
	if (r < 0)
		sd_delta_free(d);
	return r;
}

/* The tree rules around put entry m->e[k] of an applied delta, the rest of
 * m having held together before: its parent is a directory, and when it is
 * not a directory itself, nothing is left under it. The messages are
 * sdm_tree_check()'s. */
static int check_put(const struct sd_manifest *m, size_t k, struct sd_err *why)
{
	const struct sd_entry *e = &m->e[k];
	const char *slash = memrchr(e->path, '/', e->path_len);
	char key[SD_PATH_MAX + 1];
	struct shown s, t;
	size_t len = e->path_len, c;

	if (slash) {
		size_t plen = (size_t)(slash - e->path);
		size_t p = sdm_search(m->e, k, e->path, plen);

		if (p == k)
			return sd_err_set(why, -EINVAL,
					  "%s: parent directory %s is missing",
					  sdm_show(&s, e->path, len),
					  sdm_show(&t, e->path, plen));
		if (m->e[p].type != SD_T_DIR)
			return sd_err_set(why, -EINVAL,
					  "%s: parent %s is not a directory",
					  sdm_show(&s, e->path, len),
					  sdm_show(&t, e->path, plen));
	}
	if (e->type == SD_T_DIR || len >= SD_PATH_MAX)
		return 0;
	memcpy(key, e->path, len);
	key[len] = '/';
	c = sdm_lower_bound(m->e, m->count, key, len + 1);
	if (c < m->count && m->e[c].path_len > len &&
	    memcmp(m->e[c].path, key, len + 1) == 0)
		return sd_err_set(why, -EINVAL,
				  "%s: parent %s is not a directory",
				  sdm_show(&s, m->e[c].path, m->e[c].path_len),
				  sdm_show(&t, e->path, len));
	return 0;
}

/* Count entry e into m's totals (sign 1) or out of them (-1). */
static void totals_add(struct sd_manifest *m, const struct sd_entry *e,
		       int sign)
{
	uint64_t one = (uint64_t)(int64_t)sign; /* 1 or 2^64 - 1 */

	if (e->type != SD_T_DIR)
		m->nfiles += one;
	if (e->type == SD_T_FILE || e->type == SD_T_PENDING)
		m->nbytes += one * e->size;
	if (e->type == SD_T_PENDING)
		m->npending += one;
}

static int apply(const struct sd_manifest *base, const struct sd_delta *d,
		 bool check_root, struct sd_manifest *out, struct sd_err *why)
{
	char a[SD_ID_HEX], b[SD_ID_HEX], key[SD_PATH_MAX + 1];
	const struct sd_manifest *put = &d->put;
	struct shown s;
	uint8_t *gone = NULL;
	size_t i, j, *at = NULL, *links = NULL, nlinks = 0;
	int r;

	sd_manifest_init(out);
	if (!base->sealed)
		return sd_err_set(why, -EINVAL,
				  "delta: base manifest not sealed");
	if (d->base_version != base->version ||
	    !sd_id_eq(&d->base_root, &base->root))
		return sd_err_set(
			why, -ESTALE,
			"delta from version %llu (root %s) does not apply "
			"to version %llu (root %s)",
			(unsigned long long)d->base_version,
			sd_id_hex(&d->base_root, a),
			(unsigned long long)base->version,
			sd_id_hex(&base->root, b));
	if (d->version <= d->base_version)
		return sd_err_set(why, -EINVAL,
				  "delta: version %llu does not follow %llu",
				  (unsigned long long)d->version,
				  (unsigned long long)d->base_version);
	if ((r = sdm_delta_sorted(d, why)) < 0)
		return r;

	gone = calloc(base->count ? base->count : 1, 1);
	if (!gone)
		return sd_err_set(why, -ENOMEM, "out of memory");
	for (i = 0; i < d->ndel; i++) {
		size_t len = d->del_len[i], k = base->count;

		if (len <= SD_PATH_MAX)
			k = sdm_search(base->e, base->count, d->del[i], len);
		if (k == base->count) {
			r = sd_err_set(
				why, -EINVAL,
				"delta: delete of %s, not in version %llu",
				sdm_show(&s, d->del[i], len),
				(unsigned long long)base->version);
			goto out;
		}
		gone[k] = 1;
		if (base->e[k].type != SD_T_DIR)
			continue;
		/* The subtree is the run of paths that start "path/". */
		memcpy(key, d->del[i], len);
		key[len] = '/';
		for (k = sdm_lower_bound(base->e, base->count, key, len + 1);
		     k < base->count && base->e[k].path_len > len &&
		     memcmp(base->e[k].path, key, len + 1) == 0;
		     k++)
			gone[k] = 1;
	}

	/* The result is sorted and has no path twice by construction (base
	 * and put are sorted, a put replaces the entry at its path), and
	 * base held together: only what the delta touched is checked. The
	 * base's entries between two puts are appended as runs, and the
	 * totals are the base's, less what went, plus what was put. */
	out->nfiles = base->nfiles;
	out->nbytes = base->nbytes;
	out->npending = base->npending;
	for (i = 0; i < base->count; i++)
		if (gone[i])
			totals_add(out, &base->e[i], -1);
	r = sdm_entries_reserve(out, base->count + put->count);
	at = malloc((put->count + base->nhardlinks + 1) * sizeof(*at));
	links = calloc(put->count + base->nhardlinks + 1, sizeof(*links));
	if (!at || !links)
		r = -ENOMEM;
	for (i = 0, j = 0; r == 0 && (i < base->count || j < put->count);) {
		size_t k = base->count, from;

		if (j < put->count)
			k = i + sdm_lower_bound(base->e + i, base->count - i,
						put->e[j].path,
						put->e[j].path_len);
		while (r == 0 && i < k) {
			const uint8_t *g = memchr(gone + i, 1, k - i);

			from = i;
			i = g ? (size_t)(g - gone) : k;
			for (size_t h = from; base->nhardlinks && h < i; h++)
				if (base->e[h].type == SD_T_HARDLINK)
					links[nlinks++] = out->count + h - from;
			r = sdm_entries_share(out, base, &base->e[from],
					      i - from);
			i += i < k; /* past a gone one */
		}
		if (r < 0 || j == put->count)
			break;
		if (i < base->count &&
		    sdm_entry_cmp(&base->e[i], &put->e[j]) == 0) {
			if (!gone[i])
				totals_add(out, &base->e[i], -1);
			i++;
		}
		totals_add(out, &put->e[j], 1);
		if (put->e[j].type == SD_T_HARDLINK)
			links[nlinks++] = out->count;
		at[j++] = out->count;
		r = sdm_entry_share(out, put, &put->e[j - 1]);
	}
	if (r < 0) {
		r = sd_err_set(why, r, "out of memory");
		goto out;
	}
	out->version = d->version;
	for (j = 0; j < put->count && r == 0; j++)
		r = check_put(out, at[j], why);
	for (i = 0; i < nlinks && r == 0; i++)
		r = sdm_hardlink_check(out->e, out->count, links[i], why);
	if (r == 0 && sdm_entries_root(out->e, out->count, &out->root) < 0)
		r = sd_err_set(why, -ENOMEM, "out of memory");
	if (r < 0)
		goto out;
	out->nhardlinks = nlinks;
	out->sealed = true;
	if (check_root && !sd_id_eq(&out->root, &d->root)) {
		r = sd_err_set(why, -EINVAL,
			       "root hash mismatch: expected %s, got %s",
			       sd_id_hex(&d->root, a),
			       sd_id_hex(&out->root, b));
		goto out;
	}
	free(gone);
	free(at);
	free(links);
	return 0;
out:
	free(gone);
	free(at);
	free(links);
	sd_manifest_free(out);
	return r;
}

int sd_delta_apply(const struct sd_manifest *base, const struct sd_delta *d,
		   struct sd_manifest *out, struct sd_err *why)
{
	return apply(base, d, true, out, why);
}

int sd_delta_result(const struct sd_manifest *base, const struct sd_delta *d,
		    struct sd_manifest *out, struct sd_err *why)
{
	return apply(base, d, false, out, why);
}
