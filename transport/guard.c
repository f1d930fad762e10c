/* SPDX-License-Identifier: MIT */
/* The ipc listener guard: see guard.h for why. */
#include "guard.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "error.h"
#include "log.h"
#include "spcall.h"

#define PROBE_EVERY_MS 1000
#define PROBE_WAIT_MS  2000
/* Unanswered probes in a row before listening afresh: a node too busy to
 * answer one PING in 2 s is not taken for a wedged one. */
#define PROBE_MISSES 2
/* Listeners at once: the live one plus retired ones still carrying
 * connections. */
#define MAX_LISTENERS 32
/* Room the temporary names ".k" and ".N" need after the path. */
#define SUFFIX_ROOM 12

struct lstn {
	nng_listener l;
	unsigned pipes; /* connections added and not yet removed */
	bool retired;
};

struct tp_guard {
	nng_socket sock;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char url[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	pthread_t thread;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t wake;
	struct lstn ls[MAX_LISTENERS];
	unsigned n_ls;
	unsigned generation; /* temporary names */
	bool reap;	     /* a retired listener may have emptied */
	bool stop;
};

static struct lstn *find(struct tp_guard *g, int id)
{
	for (unsigned i = 0; i < g->n_ls; i++)
		if (nng_listener_id(g->ls[i].l) == id)
			return &g->ls[i];
	return NULL;
}

void tp_guard_pipe_event(struct tp_guard *g, nng_pipe p, nng_pipe_ev ev)
{
	struct lstn *x;

	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	x = find(g, nng_listener_id(nng_pipe_listener(p)));
	if (x && ev == NNG_PIPE_EV_ADD_POST) {
		x->pipes++;
	} else if (x && ev == NNG_PIPE_EV_REM_POST && x->pipes > 0) {
		if (--x->pipes == 0 && x->retired) {
			/* Closing a listener from nng's pipe callback could
			 * wait on this very callback: the thread does it. */
			g->reap = true;
			pthread_cond_signal(&g->wake);
		}
	}
	pthread_mutex_unlock(&g->lock);
}

/* Whether the node answers a PING on a fresh connection. */
static bool answers(const struct tp_guard *g)
{
	int r = tp_sp_ping(g->url, PROBE_WAIT_MS);

	return r == 0 || r == -ENOMEM;
}

/* Close retired listeners that carry no connection. Called unlocked, from
 * the guard thread only (the one that changes the path's socket). */
static void reap(struct tp_guard *g)
{
	char keep[sizeof(g->path)];
	nng_listener dead;
	unsigned i;

	for (;;) {
		pthread_mutex_lock(&g->lock);
		g->reap = false;
		for (i = 0; i < g->n_ls; i++)
			if (g->ls[i].retired && g->ls[i].pipes == 0)
				break;
		if (i == g->n_ls) {
			pthread_mutex_unlock(&g->lock);
			return;
		}
		dead = g->ls[i].l;
		g->ls[i] = g->ls[--g->n_ls];
		pthread_mutex_unlock(&g->lock);

		/* The close unlinks the path, which now names the live
		 * socket: keep a second name and put it back. A client
		 * dialing in between (microseconds) finds no socket. */
		snprintf(keep, sizeof(keep), "%.*s.k",
			 (int)(sizeof(keep) - SUFFIX_ROOM), g->path);
		if (link(g->path, keep) < 0) {
			log_warn_errno(-errno, "ipc listener guard: %s", keep);
			keep[0] = '\0';
		}
		nng_listener_close(dead);
		if (keep[0] && rename(keep, g->path) < 0)
			log_error_errno(-errno,
					"ipc listener guard: restoring %s",
					g->path);
	}
}

/* Listen afresh and take over the path; the old listener is retired. */
static void relisten(struct tp_guard *g)
{
	char tmp[sizeof(g->path)], url[sizeof(g->url)];
	nng_listener nl;
	unsigned i;
	int rv;

	pthread_mutex_lock(&g->lock);
	if (g->n_ls == MAX_LISTENERS) {
		pthread_mutex_unlock(&g->lock);
		log_error("node %s: not answering, and %u listeners are open "
			  "already; not listening afresh",
			  g->url, MAX_LISTENERS);
		return;
	}
	pthread_mutex_unlock(&g->lock);
	snprintf(tmp, sizeof(tmp), "%.*s.%u", (int)(sizeof(tmp) - SUFFIX_ROOM),
		 g->path, ++g->generation % 100000);
	snprintf(url, sizeof(url), "ipc://%s", tmp);
	(void)unlink(tmp);
	rv = nng_listener_create(&nl, g->sock, url);
	if (rv == 0)
		nng_listener_set_int(nl, NNG_OPT_IPC_PERMISSIONS, 0600);
	if (rv == 0 && (rv = nng_listener_start(nl, 0)) != 0)
		nng_listener_close(nl);
	if (rv) {
		log_error("node %s: not answering, and listening afresh "
			  "failed: %s",
			  g->url, strerror(-tp_errno_from_nng(rv)));
		return;
	}
	if (rename(tmp, g->path) < 0) {
		log_error_errno(-errno,
				"node %s: not answering, and taking "
				"over the path failed",
				g->url);
		nng_listener_close(nl);
		return;
	}
	pthread_mutex_lock(&g->lock);
	for (i = 0; i < g->n_ls; i++)
		g->ls[i].retired = true;
	g->ls[g->n_ls++] = (struct lstn){ .l = nl };
	pthread_mutex_unlock(&g->lock);
	log_warn("node %s: the listener stopped accepting (nng 1.5, "
		 "nanomsg/nng#1518); listening afresh",
		 g->url);
}

static void *guard_thread(void *arg)
{
	struct tp_guard *g = arg;
	struct timespec at;
	unsigned misses = 0;

	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_sec += PROBE_EVERY_MS / 1000;
		while (!g->stop && !g->reap &&
		       pthread_cond_timedwait(&g->wake, &g->lock, &at) == 0)
			;
		if (g->stop)
			break;
		if (g->reap) {
			pthread_mutex_unlock(&g->lock);
			reap(g);
			pthread_mutex_lock(&g->lock);
			continue;
		}
		pthread_mutex_unlock(&g->lock);
		misses = answers(g) ? 0 : misses + 1;
		if (misses == PROBE_MISSES) {
			relisten(g);
			reap(g);
			misses = 0;
		}
		pthread_mutex_lock(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

int tp_guard_start(nng_socket sock, nng_listener l, const char *url,
		   struct tp_guard **ret)
{
	struct tp_guard *g;
	pthread_condattr_t ca;
	int r;

	if (strncmp(url, "ipc://", 6) != 0)
		return -EINVAL;
	if (strlen(url + 6) + SUFFIX_ROOM >= sizeof(g->path))
		return -ENAMETOOLONG;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->sock = sock;
	snprintf(g->path, sizeof(g->path), "%s", url + 6);
	snprintf(g->url, sizeof(g->url), "%s", url);
	g->ls[g->n_ls++] = (struct lstn){ .l = l };
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->wake, &ca);
	pthread_condattr_destroy(&ca);
	r = pthread_create(&g->thread, NULL, guard_thread, g);
	if (r) {
		pthread_cond_destroy(&g->wake);
		pthread_mutex_destroy(&g->lock);
		free(g);
		return -r;
	}
	*ret = g;
	return 0;
}

void tp_guard_stop(struct tp_guard *g)
{
	bool join;

	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	join = !g->stop;
	g->stop = true;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
	if (join)
		pthread_join(g->thread, NULL);
}

void tp_guard_free(struct tp_guard *g)
{
	if (!g)
		return;
	tp_guard_stop(g);
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
