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
#include <unistd.h>

#include "log.h"
#include "tetherfs.h"
#include "view.h"

struct view {
	struct view *next;
	char *name;
	struct tfs *fs; /* NULL: mounting failed (logged), not retried */
};

struct fs_views {
	char *dir;   /* ROOT/views */
	char *upper; /* ROOT/.tether/upper: each view's upper layer */
	pthread_mutex_t lock;
	struct view *list;
};

int fs_views_new(const char *root, struct fs_views **ret)
{
	struct fs_views *v = calloc(1, sizeof(*v));
	struct dirent *d;
	DIR *dir;

	if (!v || asprintf(&v->dir, "%s/views", root) < 0 ||
	    asprintf(&v->upper, "%s/.tether/upper", root) < 0) {
		if (v)
			free(v->dir);
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
	char *path = NULL, *upper = NULL;
	int r;

	if (!w || !(w->name = strdup(name)) ||
	    asprintf(&path, "%s/%s", v->dir, name) < 0 ||
	    asprintf(&upper, "%s/%s", v->upper, name) < 0) {
		if (w)
			free(w->name);
		free(w);
		free(path);
		return NULL;
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		log_error_errno(-errno, "view %s: %s", name, path);
	} else {
		struct tfs_source src = { tfs_store_get, store };

		r = tfs_mount(path, name, &src, upper, &w->fs, &why);
		if (r < 0)
			log_error("%s; the workspace has no view", why.what);
		else
			log_info("workspace %s: view mounted at %s", name,
				 path);
	}
	free(path);
	free(upper);
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

/* name's view, when it is mounted and served. */
static struct tfs *find(struct fs_views *v, const char *name)
{
	struct view *w;

	pthread_mutex_lock(&v->lock);
	for (w = v->list; w && strcmp(w->name, name) != 0; w = w->next)
		;
	pthread_mutex_unlock(&v->lock);
	return w && w->fs && tfs_alive(w->fs) ? w->fs : NULL;
}

int fs_views_changes(struct fs_views *v, const char *name, fs_change_fn fn,
		     void *opaque, struct sd_err *why)
{
	struct tfs *fs = find(v, name);
	const struct sd_manifest *m;
	void *hold;
	int tree, r;

	if (!fs)
		return sd_err_set(why, -ENOENT, "workspace %s has no view",
				  name);
	tree = tfs_upper_tree(fs);
	if (tree < 0)
		return sd_err_set(why, tree,
				  "workspace %s: its upper layer: %s", name,
				  strerror(-tree));
	m = tfs_hold(fs, &hold);
	r = fs_changes_walk(tree, m, fn, opaque);
	fs_view_release(hold);
	close(tree);
	if (r < 0)
		sd_err_set(why, r, "workspace %s: reading its changes: %s",
			   name, strerror(-r));
	return r;
}

int fs_views_reset(struct fs_views *v, const char *name, struct sd_err *why)
{
	struct tfs *fs = find(v, name);
	int r;

	if (!fs)
		return sd_err_set(why, -ENOENT, "workspace %s has no view",
				  name);
	r = tfs_reset(fs);
	if (r < 0)
		sd_err_set(why, r, "workspace %s: discarding its changes: %s",
			   name, strerror(-r));
	else
		log_info("workspace %s: changes discarded", name);
	return r;
}

int fs_views_dir(struct fs_views *v, const char *name, char *out, size_t cap)
{
	if (!find(v, name))
		return -ENOENT;
	if ((size_t)snprintf(out, cap, "%s/%s", v->dir, name) >= cap)
		return -ENAMETOOLONG;
	return 0;
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
	free(v->upper);
	free(v);
}
