/* SPDX-License-Identifier: MIT */
/* Metadata ahead of content on the source (docs/protocol.md): a node's
 * view waits for a pending file, which the source reads now, defines
 * (SYNC_DEFINE) and sends the chunks of that the node lacks. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdc.h"
#include "source_int.h"

/* Why the pending file of the ask cannot be defined, or NULL: then its
 * chunk list is in *refs (malloc'd), *n, read from the tree now (or the
 * version's, when it has them). e is its entry. */
static const char *read_pending(struct sender *sd, const struct tp_sync_ask *a,
				const struct sd_entry **ep,
				struct sd_chunkref **refs, uint32_t *n,
				char *buf, size_t cap)
{
	const struct sd_entry *e =
		sd_manifest_find(sd->m, (const char *)a->path.ptr, a->path.len);
	struct stat st, st2;
	uint64_t size = 0;
	int fd, r;

	*ep = e;
	if (!e || (e->type != SD_T_PENDING && e->type != SD_T_FILE) ||
	    e->size != a->size || e->mtime_ns != a->mtime_ns)
		return "not in the version the source holds (sync again)";
	if (e->type == SD_T_FILE) {
		*refs = malloc((e->nchunks ? e->nchunks : 1) * sizeof(**refs));
		if (!*refs)
			return "out of memory";
		memcpy(*refs, e->chunks, e->nchunks * sizeof(**refs));
		*n = e->nchunks;
		return NULL;
	}
	fd = openat(sd->root, e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(buf, cap, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return buf;
	}
	if ((uint64_t)st.st_size != e->size ||
	    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec !=
		    e->mtime_ns) {
		close(fd);
		return "changed since it was synced (sync again)";
	}
	r = sd_cdc_file_refs(&sd->o->scan.cdc, fd, e->size, refs, n, &size);
	if (r == 0 &&
	    (fstat(fd, &st2) < 0 || st2.st_size != st.st_size ||
	     st2.st_mtim.tv_nsec != st.st_mtim.tv_nsec ||
	     st2.st_mtim.tv_sec != st.st_mtim.tv_sec || size != e->size)) {
		free(*refs);
		r = -EAGAIN;
	}
	close(fd);
	if (r == -EAGAIN)
		return "changed while it was read (sync again)";
	if (r < 0) {
		snprintf(buf, cap, "%s", strerror(-r));
		return buf;
	}
	return NULL;
}

/* SYNC_DEFINE of the n chunks refs[first..] of the ask's file (total in
 * all), or of why it cannot be (no): the ids the node lacks into rep. */
static int define_page(struct sender *sd, const struct tp_sync_ask *a,
		       const char *no, const struct sd_chunkref *refs,
		       uint32_t total, uint32_t first, uint32_t n,
		       struct tp_msg *rep, struct sd_err *why)
{
	struct tp_msg req = { .type = TP_SYNC_DEFINE };
	char err[TP_ERRMSG_MAX + 64] = "";
	uint8_t *wire = malloc((n ? n : 1) * (size_t)TP_DEFINE_REF);
	int r;

	if (!wire)
		return sd_err_set(why, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < n; i++)
		tp_define_ref_put(wire, i, refs[first + i].id.b,
				  refs[first + i].len);
	req.define = (struct tp_sync_define){
		.workspace = { (const uint8_t *)sd->o->workspace,
			       (uint32_t)strlen(sd->o->workspace) },
		.session = sd->session,
		.path = a->path,
		.size = a->size,
		.mtime_ns = a->mtime_ns,
		.err = { (const uint8_t *)(no ? no : ""),
			 (uint32_t)(no ? strlen(no) : 0) },
		.total = total,
		.index = first,
		.count = n,
		.refs = wire,
	};
	r = tp_chan_call(sd->serve_chan, &req, rep, SDS_CALL_MS, err,
			 sizeof(err));
	free(wire);
	if (r == 0 && rep->type != TP_SYNC_WANT)
		r = -EPROTO;
	return r < 0 ? sd_err_set(why, r, "SYNC_DEFINE: %s",
				  err[0] ? err : strerror(-r))
		     : 0;
}

/* A view waits for the bytes of a pending file: read it, define it
 * (SYNC_DEFINE, a page at a time), and send the chunks of each page the
 * node lacks at once. */
int sds_define(struct sender *sd, struct tp_chan *fc, bool *busy,
	       struct sd_pack_writer *w, struct sd_zctx *z, uint8_t *buf,
	       const struct tp_sync_ask *a, struct sd_err *why)
{
	const struct sd_entry *e = NULL;
	struct sd_chunkref *refs = NULL;
	struct loc *tasks = NULL;
	struct tp_msg rep;
	char ebuf[256];
	const char *no;
	uint64_t off = 0;
	uint32_t n = 0;
	int r = 0;

	no = read_pending(sd, a, &e, &refs, &n, ebuf, sizeof(ebuf));
	if (no)
		return define_page(sd, a, no, NULL, 0, 0, 0, &rep, why);
	tasks = calloc(n && n < TP_DEFINE_MAX ? n : TP_DEFINE_MAX,
		       sizeof(*tasks));
	if (!tasks)
		r = sd_err_set(why, -ENOMEM, "out of memory");
	for (uint32_t first = 0; r == 0 && first < n;) {
		uint32_t k = n - first < TP_DEFINE_MAX ? n - first
						       : TP_DEFINE_MAX;
		size_t nt = 0, want = 0;

		r = define_page(sd, a, NULL, refs, n, first, k, &rep, why);
		/* The wanted ids come in file order, each once: a walk
		 * along both finds where each is. */
		for (uint32_t i = first; r == 0 && i < first + k; i++) {
			if (want < rep.want.count &&
			    !memcmp(rep.want.ids + want * SD_ID_SIZE,
				    refs[i].id.b, SD_ID_SIZE)) {
				tasks[nt++] =
					(struct loc){ refs[i].id,
						      (uint32_t)(e - sd->m->e) +
							      1,
						      refs[i].len, off };
				want++;
			}
			off += refs[i].len;
		}
		if (r == 0)
			r = sds_send_tasks(sd, fc, busy, w, z, buf, tasks, NULL,
					   0, nt, true, why);
		first += k;
	}
	free(tasks);
	free(refs);
	return r;
}
