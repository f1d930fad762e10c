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
	if (*n > TP_DEFINE_MAX) {
		free(*refs);
		snprintf(buf, cap,
			 "%" PRIu32 " chunks, over the %u of one SYNC_DEFINE: "
			 "it comes with the next version",
			 *n, TP_DEFINE_MAX);
		return buf;
	}
	return NULL;
}

/* A view waits for the bytes of a pending file: read it, define it
 * (SYNC_DEFINE), and send the chunks of it the node lacks at once. */
int sds_define(struct sender *sd, struct tp_chan *fc, bool *busy,
	       struct sd_pack_writer *w, struct sd_zctx *z, uint8_t *buf,
	       const struct tp_sync_ask *a, struct sd_err *why)
{
	struct tp_msg req = { .type = TP_SYNC_DEFINE }, rep;
	const struct sd_entry *e = NULL;
	struct sd_chunkref *refs = NULL;
	uint8_t *wire = NULL;
	struct loc *tasks = NULL;
	char err[TP_ERRMSG_MAX + 64] = "", ebuf[256];
	const char *no;
	uint32_t n = 0;
	size_t nt = 0;
	int r;

	no = read_pending(sd, a, &e, &refs, &n, ebuf, sizeof(ebuf));
	wire = no ? NULL : malloc((n ? n : 1) * (size_t)TP_DEFINE_REF);
	if (!no && !wire) {
		free(refs);
		return sd_err_set(why, -ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; !no && i < n; i++) {
		uint8_t *p = wire + (size_t)i * TP_DEFINE_REF;
		uint32_t len = refs[i].len;

		memcpy(p, refs[i].id.b, SD_ID_SIZE);
		p[SD_ID_SIZE] = (uint8_t)len;
		p[SD_ID_SIZE + 1] = (uint8_t)(len >> 8);
		p[SD_ID_SIZE + 2] = (uint8_t)(len >> 16);
		p[SD_ID_SIZE + 3] = (uint8_t)(len >> 24);
	}
	req.define = (struct tp_sync_define){
		.workspace = { (const uint8_t *)sd->o->workspace,
			       (uint32_t)strlen(sd->o->workspace) },
		.session = sd->session,
		.path = a->path,
		.size = a->size,
		.mtime_ns = a->mtime_ns,
		.err = { (const uint8_t *)(no ? no : ""),
			 (uint32_t)(no ? strlen(no) : 0) },
		.count = no ? 0 : n,
		.refs = wire,
	};
	r = tp_chan_call(sd->serve_chan, &req, &rep, SDS_CALL_MS, err,
			 sizeof(err));
	free(wire);
	if (r == 0 && rep.type != TP_SYNC_WANT)
		r = -EPROTO;
	if (r < 0 || no || rep.want.count == 0) {
		free(refs);
		return r < 0 ? sd_err_set(why, r, "SYNC_DEFINE: %s",
					  err[0] ? err : strerror(-r))
			     : 0;
	}
	/* The wanted chunks, where they are in the file, in file order. */
	tasks = calloc(rep.want.count, sizeof(*tasks));
	for (uint64_t off = 0, i = 0; tasks && i < n; off += refs[i].len, i++)
		for (uint32_t k = 0; k < rep.want.count; k++)
			if (!memcmp(rep.want.ids + (size_t)k * SD_ID_SIZE,
				    refs[i].id.b, SD_ID_SIZE)) {
				tasks[nt++] =
					(struct loc){ refs[i].id,
						      (uint32_t)(e - sd->m->e) +
							      1,
						      refs[i].len, off };
				break;
			}
	free(refs);
	if (!tasks)
		return sd_err_set(why, -ENOMEM, "out of memory");
	r = sds_send_tasks(sd, fc, busy, w, z, buf, tasks, NULL, 0, nt, true,
			   why);
	free(tasks);
	return r;
}
