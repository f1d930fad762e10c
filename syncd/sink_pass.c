/* SPDX-License-Identifier: MIT */
/* Passthrough (docs/protocol.md, "Passthrough"): a source on the node's
 * own host names its directory in SYNC_BEGIN; a node that serves views and
 * sees that very directory (same path, device and inode) reads file bytes
 * from it, checked against the chunk ids, instead of asking for chunks. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "sink_int.h"

/* Whether path is, here, the directory with dev and ino. */
static bool same_dir(const char *path, uint64_t dev, uint64_t ino)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	       (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
}

static char *pass_file(const struct ws *w)
{
	char *p;

	return asprintf(&p, "%s/passthrough", w->meta) < 0 ? NULL : p;
}

/* Set w->pass to dir (taken; NULL: off), and count w's missing chunks
 * again: none with a passthrough, what the store lacks without. */
static void pass_set(struct sd_sink *s, struct ws *w, char *dir)
{
	struct sd_id *miss = NULL;
	size_t n = 0;
	bool was;

	pthread_mutex_lock(&s->lock);
	was = w->pass != NULL;
	free(w->pass);
	w->pass = dir;
	pthread_mutex_unlock(&s->lock);
	if (was == (dir != NULL))
		return;
	if (dir)
		log_info("workspace %s: passthrough from %s", w->name, dir);
	else
		log_info("workspace %s: no passthrough", w->name);
	if (!dir) {
		pthread_mutex_lock(&w->commit_lock);
		pthread_rwlock_rdlock(&w->dom->gc_lock);
		if (sdk_missing_of(w, &w->cur, &miss, &n) < 0)
			n = 0;
		pthread_rwlock_unlock(&w->dom->gc_lock);
		pthread_mutex_unlock(&w->commit_lock);
	}
	pthread_mutex_lock(&s->lock);
	sdk_missing_set(s, w, miss, n);
	pthread_mutex_unlock(&s->lock);
}

void sdk_pass_begin(struct sd_sink *s, struct ws *w, const struct tp_bytes *dir,
		    uint64_t dev, uint64_t ino)
{
	_cleanup_free_ char *file = pass_file(w);
	char *path = NULL;
	FILE *f;

	if (s->views && dir->len)
		path = strndup((const char *)dir->ptr, dir->len);
	if (path && !same_dir(path, dev, ino)) {
		free(path);
		path = NULL;
	}
	if (file && path && (f = fopen(file, "we"))) {
		/* Best effort: without it, a restart asks for the chunks. */
		fprintf(f, "%" PRIu64 " %" PRIu64 " %s", dev, ino, path);
		fclose(f);
	} else if (file && !path) {
		unlink(file);
	}
	pass_set(s, w, path);
}

void sdk_pass_load(struct sd_sink *s, struct ws *w)
{
	_cleanup_free_ char *file = pass_file(w);
	char path[PATH_MAX + 1];
	uint64_t dev, ino;
	FILE *f;

	if (!file || !(f = fopen(file, "re")))
		return;
	if (fscanf(f, "%" SCNu64 " %" SCNu64 " %4096[^\n]", &dev, &ino, path) ==
		    3 &&
	    s->views && same_dir(path, dev, ino)) {
		w->pass = strdup(path);
	} else {
		log_warn("workspace %s: its source's directory is not here "
			 "any more (or the node has no views): no passthrough",
			 w->name);
		unlink(file);
	}
	fclose(f);
}

int sd_sink_passthrough(struct sd_sink *s, const char *name, char *out,
			size_t cap)
{
	struct ws *w;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	w = sdk_ws_find(s, name, strlen(name));
	if (w && w->pass && strlen(w->pass) < cap) {
		strcpy(out, w->pass);
		r = 1;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}
