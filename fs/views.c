/* SPDX-License-Identifier: MIT */
#include "views.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "tetherfs.h"

struct view {
	struct view *next;
	char *name;
	struct tfs *fs; /* NULL: mounting failed (logged), not retried */
};

struct fs_views {
	char *dir; /* ROOT/views */
	pthread_mutex_t lock;
	struct view *list;
};

int fs_views_new(const char *root, struct fs_views **ret)
{
	struct fs_views *v = calloc(1, sizeof(*v));
	struct dirent *d;
	DIR *dir;

	if (!v || asprintf(&v->dir, "%s/views", root) < 0) {
		free(v);
		return -ENOMEM;
	}
	pthread_mutex_init(&v->lock, NULL);
	if (mkdir(v->dir, 0755) < 0 && errno != EEXIST) {
		int r = -errno;

		log_error_errno(r, "views %s", v->dir);
		fs_views_free(v);
		return r;
	}
	/* A node killed with -9 leaves its views mounted, answering nothing
	 * (ENOTCONN): detach them before anything looks there. */
	dir = opendir(v->dir);
	while (dir && (d = readdir(dir))) {
		char *p;

		if (d->d_name[0] == '.' ||
		    asprintf(&p, "%s/%s", v->dir, d->d_name) < 0)
			continue;
		if (tfs_clear_stale(p) < 0)
			log_warn("views: %s: cannot detach a stale mount", p);
		free(p);
	}
	if (dir)
		closedir(dir);
	*ret = v;
	return 0;
}

static struct view *view_add(struct fs_views *v, const char *name,
			     struct sd_store *store)
{
	struct view *w = calloc(1, sizeof(*w));
	struct sd_err why = { "" };
	char *path = NULL;
	int r;

	if (!w || !(w->name = strdup(name)) ||
	    asprintf(&path, "%s/%s", v->dir, name) < 0) {
		if (w)
			free(w->name);
		free(w);
		return NULL;
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		log_error_errno(-errno, "view %s: %s", name, path);
	} else {
		struct tfs_source src = { tfs_store_get, store };

		r = tfs_mount(path, name, &src, &w->fs, &why);
		if (r < 0)
			log_error("%s; the workspace has no view", why.what);
		else
			log_info("workspace %s: view mounted at %s", name,
				 path);
	}
	free(path);
	w->next = v->list;
	v->list = w;
	return w;
}

void fs_views_on_version(void *opaque, const char *name,
			 const struct sd_manifest *cur, struct sd_store *store)
{
	struct fs_views *v = opaque;
	struct view *w;

	pthread_mutex_lock(&v->lock);
	for (w = v->list; w && strcmp(w->name, name) != 0; w = w->next)
		;
	if (!w)
		w = view_add(v, name, store);
	pthread_mutex_unlock(&v->lock);
	/* The sink calls under the workspace's commit lock, so versions of
	 * one workspace arrive in order. */
	if (w && w->fs && tfs_set(w->fs, cur) < 0)
		log_error("view %s: out of memory: it stays at the version "
			  "before %" PRIu64,
			  name, cur->version);
}

void fs_views_free(struct fs_views *v)
{
	if (!v)
		return;
	while (v->list) {
		struct view *w = v->list;

		v->list = w->next;
		tfs_unmount(w->fs);
		free(w->name);
		free(w);
	}
	pthread_mutex_destroy(&v->lock);
	free(v->dir);
	free(v);
}
