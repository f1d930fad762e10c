/* SPDX-License-Identifier: MIT */
/* tether status without --node: every agent of the config (or of the
 * environment form) and its backend: reachable or not, commands running
 * there, and the agent's workspace on it (version, lag, chunks missing).
 * The sandbox backend's node is asked, never started. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "backend.h"
#include "cli.h"
#include "codec.h"
#include "config.h"
#include "docker.h"
#include "link.h"
#include "log.h"
#include "remote.h"
#include "spcall.h"

struct row {
	const char *reach; /* "yes", "this host", "no", "not running" */
	int running;	   /* -1: unknown */
	bool have_ws;
	struct tp_sync_state st;
	uint64_t lag_ms;
};

static void count_running(const struct tp_exec_entry *e, void *opaque)
{
	*(int *)opaque += e->state == TP_STATE_RUNNING;
}

/* The agent's workspace in the node's table, when it has one. */
static void find_ws(const char *url, const char *ws, struct row *w)
{
	struct tp_msg req = { .type = TP_SYNC_STATUS }, rep;
	char err[TP_ERRMSG_MAX + 64];
	struct tp_link *link = NULL;
	struct tp_chan *ch = NULL;
	struct tp_sync_entry e;
	uint32_t pos = 0;

	if (tp_link_open(url, &link) == 0 && tp_chan_open(link, &ch) == 0 &&
	    tp_chan_call(ch, &req, &rep, 5000, err, sizeof(err)) == 0 &&
	    rep.type == TP_SYNC_TABLE)
		while (tp_wstab_next(&rep.wstab, &pos, &e))
			if (e.name.len == strlen(ws) &&
			    memcmp(e.name.ptr, ws, e.name.len) == 0) {
				w->have_ws = true;
				w->st = e.state;
				w->lag_ms = e.pending_ms;
			}
	tp_chan_close(ch);
	tp_link_close(link);
}

static void probe(const struct exec_config *c, const char *agent,
		  const struct exec_backend *b, struct row *w)
{
	const char *url, *ws, *domain;
	struct exec_remote *r = NULL;
	char err[512];

	w->running = -1;
	if (!(b->ops->caps & EXEC_CAP_REMOTE)) {
		w->reach = "this host";
		return;
	}
	if (b->ops == &exec_backend_docker_ops) {
		/* The engine, and the agent's exec sessions it runs; the
		 * workspace's version from the local node that holds its
		 * view, when that runs. */
		w->reach = b->ops->health((struct exec_backend *)b) == 0 ? "yes"
									 : "no";
		if (strcmp(w->reach, "yes") == 0) {
			int n = exec_docker_running(b->docker, agent);

			w->running = n >= 0 ? n : -1;
		}
		if (tp_sp_ping(b->url, 1000) == 0 &&
		    exec_router_workspace(c, agent, &url, &ws, &domain, err,
					  sizeof(err)) == 0)
			find_ws(url, ws, w);
		return;
	}
	if (tp_sp_ping(b->url, 1000) != 0) {
		w->reach = (b->ops->caps & EXEC_CAP_LOCAL) ? "not running"
							   : "no";
		return;
	}
	w->reach = "yes";
	if (exec_remote_open(b->url, &r) == 0) {
		w->running = 0;
		if (exec_remote_list(r, count_running, &w->running) < 0)
			w->running = -1;
		exec_remote_close(r);
	}
	if (exec_router_workspace(c, agent, &url, &ws, &domain, err,
				  sizeof(err)) == 0)
		find_ws(url, ws, w);
}

int cli_status_agents(const struct exec_config *c, bool json)
{
	json_t *all = json ? json_array() : NULL;

	if (!json)
		printf("%-16s %-14s %-8s %-12s %7s %8s %6s %s\n", "AGENT",
		       "BACKEND", "TYPE", "REACHABLE", "RUNNING", "VERSION",
		       "LAG", "MISSING");
	for (size_t i = 0; i < c->n_agents; i++) {
		const char *id = c->agents[i].id;
		struct exec_backend *b = NULL;
		struct row w = { 0 };
		char err[512], run[16] = "-", ver[24] = "-", lag[24] = "-",
			       miss[24] = "-";

		if (exec_router_resolve(c, id, &b, NULL, err, sizeof(err)) <
		    0) {
			log_error("%s", err);
			continue;
		}
		probe(c, id, b, &w);
		if (json) {
			json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "agent",
					      id, "backend", b->name, "type",
					      b->ops->type, "reachable",
					      w.reach);

			if (o && w.running >= 0)
				json_object_set_new(o, "running",
						    json_integer(w.running));
			if (o && w.have_ws) {
				json_object_set_new(
					o, "version",
					json_integer((json_int_t)w.st.version));
				json_object_set_new(
					o, "lag_ms",
					json_integer((json_int_t)w.lag_ms));
				json_object_set_new(
					o, "missing",
					json_integer((json_int_t)w.st.missing));
			}
			json_array_append_new(all, o);
		} else {
			if (w.running >= 0)
				snprintf(run, sizeof(run), "%d", w.running);
			if (w.have_ws) {
				snprintf(ver, sizeof(ver), "%" PRIu64,
					 w.st.version);
				snprintf(lag, sizeof(lag), "%.1fs",
					 (double)w.lag_ms / 1000);
				snprintf(miss, sizeof(miss), "%" PRIu64,
					 w.st.missing);
			}
			printf("%-16s %-14s %-8s %-12s %7s %8s %6s %s\n", id,
			       b->name, b->ops->type, w.reach, run, ver, lag,
			       miss);
		}
		exec_backend_free(b);
	}
	if (json) {
		char *text = all ? json_dumps(all, JSON_COMPACT) : NULL;

		if (text)
			printf("%s\n", text);
		free(text);
		json_decref(all);
	}
	return 0;
}
