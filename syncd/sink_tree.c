/* SPDX-License-Identifier: MIT */
/* A workspace's tree on the node (sink.h): chunks read for it from the
 * store, and a tree that a node with views left behind (it keeps none):
 * marked stale, and built afresh by a node without views. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "rmtree.h"
#include "sink_int.h"
#include "tree.h"

int sdk_tree_read(void *opaque, const struct sd_id *id, void *dst, uint32_t len,
		  struct sd_err *why)
{
	size_t got = 0;
	int r = sd_store_get(opaque, id, dst, len, &got, why);

	if (r == 0 && got != len) {
		char hex[SD_ID_HEX];

		snprintf(why->what, sizeof(why->what),
			 "chunk %s: %zu bytes, the manifest says %" PRIu32,
			 sd_id_hex(id, hex), got, len);
		return -EIO;
	}
	return r;
}

/* A commit point and nothing else: the tree is left as it is. */
static int no_commit(void *opaque, struct sd_err *why)
{
	(void)opaque;
	(void)why;
	return 0;
}

int sdk_tree_stale_mark(struct ws *w, struct sd_err *why)
{
	_cleanup_free_ char *path = NULL;
	int r;

	if (w->tree_stale)
		return 0;
	if (asprintf(&path, "%s/tree-stale", w->meta) < 0)
		return sd_err_set(why, -ENOMEM, "out of memory");
	r = sdk_write_durable(path, "", 0);
	if (r < 0)
		return sd_err_set(why, r, "workspace %s: %s: %s", w->name, path,
				  strerror(-r));
	w->tree_stale = true;
	return 0;
}

/* What was there moves aside and goes, files commands wrote in it
 * included. */
int sdk_tree_rebuild(struct sd_sink *s, struct ws *w,
		     const struct sd_manifest *m, struct sd_err *why)
{
	_cleanup_free_ char *old = NULL, *mark = NULL;
	struct sd_tree t = { w->dir, w->stage };
	struct sd_tree_src src = { sdk_tree_read, w->dom->store };
	struct sd_manifest empty;
	struct sd_delta d;
	int r;

	if (asprintf(&old, "%s/.old-%s", s->wsroot, w->name) < 0 ||
	    asprintf(&mark, "%s/tree-stale", w->meta) < 0)
		return sd_err_set(why, -ENOMEM, "out of memory");
	log_warn("workspace %s: building its tree for version %" PRIu64
		 " from the chunk store (a node with views kept none; what "
		 "commands wrote in the old tree is dropped)",
		 w->name, m->version);
	util_rm_rf_at(AT_FDCWD, old);
	if ((rename(w->dir, old) < 0 && errno != ENOENT) ||
	    (mkdir(w->dir, 0755) < 0 && errno != EEXIST))
		return sd_err_set(why, -errno, "workspace %s: %s: %s", w->name,
				  w->dir, strerror(errno));
	sd_manifest_init(&empty);
	sd_delta_init(&d);
	r = sd_manifest_seal(&empty, why);
	if (r == 0 && (r = sd_delta_diff(&empty, m, &d)) < 0)
		sd_err_set(why, r, "out of memory");
	if (r == 0)
		r = sd_tree_update(&t, &empty, &d, m, &src, no_commit, NULL,
				   why);
	if (r == 0)
		r = sd_tree_sync(&t, &d, m, why);
	sd_delta_free(&d);
	sd_manifest_free(&empty);
	if (r < 0)
		return r;
	if (unlink(mark) < 0 && errno != ENOENT)
		return sd_err_set(why, -errno, "workspace %s: %s: %s", w->name,
				  mark, strerror(errno));
	w->tree_stale = false;
	util_rm_rf_at(AT_FDCWD, old);
	return 0;
}
