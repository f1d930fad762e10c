/* SPDX-License-Identifier: MIT */
/* The barrier through a running `tether watch` (docs/protocol.md, "The
 * watcher's barrier"): the watcher serves SYNC_STATUS on an ipc socket in
 * the cache and answers it once every change made before the request
 * arrived is committed; `tether exec --agent` asks it instead of scanning
 * the whole tree. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "codec.h"
#include "link.h"
#include "log.h"
#include "spcall.h"
#include "sprep.h"

struct held {
	struct held *next;
	struct tp_sprep_req *req;
};

/* On the watcher's own thread, through its poll loop: a plain socket
 * (sprep.h), so an idle watcher does nothing at all. */
struct cli_barrier_srv {
	struct tp_sprep *srv;
	struct held *held;
};

static void on_req(void *opaque, struct tp_sprep_req *req,
		   const struct tp_msg *msg)
{
	struct cli_barrier_srv *b = opaque;
	struct held *h;

	if (msg->type != TP_SYNC_STATUS) {
		tp_sprep_reply_error(req, EOPNOTSUPP,
				     "a tether watch answers SYNC_STATUS only");
		return;
	}
	h = malloc(sizeof(*h));
	if (!h) {
		tp_sprep_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	h->req = req;
	h->next = b->held;
	b->held = h;
}

int cli_barrier_serve(const char *url, struct cli_barrier_srv **ret)
{
	struct cli_barrier_srv *b;
	int r;

	/* Never take the socket of another watcher of the same tree. */
	r = tp_sp_ping(url, 1000);
	if (r == 0 || r == -ETIMEDOUT || r == -ECONNRESET || r == -EPROTO)
		return -EADDRINUSE;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	r = tp_sprep_listen(url, &b->srv);
	if (r < 0) {
		free(b);
		return r;
	}
	*ret = b;
	return 0;
}

int cli_barrier_srv_fd(const struct cli_barrier_srv *b)
{
	return b ? tp_sprep_fd(b->srv) : -1;
}

bool cli_barrier_srv_take(struct cli_barrier_srv *b)
{
	if (!b)
		return false;
	tp_sprep_serve(b->srv, on_req, b);
	return b->held != NULL;
}

void cli_barrier_srv_answer(struct cli_barrier_srv *b, const char *ws,
			    const struct tp_sync_state *st, const char *err)
{
	struct tp_sync_entry e = { 0 };
	struct tp_msg m = { .type = TP_SYNC_TABLE };
	struct held *h;

	if (!b)
		return;
	h = b->held;
	b->held = NULL;
	if (st) {
		e.name = (struct tp_bytes){ (const uint8_t *)ws,
					    (uint32_t)strlen(ws) };
		e.domain = e.name;
		e.state = *st;
		m.wstab.count = 1;
		m.wstab.entries = &e;
	}
	while (h) {
		struct held *next = h->next;

		if (st)
			tp_sprep_reply(h->req, &m);
		else
			tp_sprep_reply_error(h->req, EAGAIN, "%s", err);
		free(h);
		h = next;
	}
}

void cli_barrier_srv_free(struct cli_barrier_srv *b)
{
	if (!b)
		return;
	cli_barrier_srv_answer(b, "", NULL, "the watcher is stopping");
	tp_sprep_free(b->srv);
	free(b);
}

int cli_barrier_ask(const char *url, unsigned ms, uint64_t *version)
{
	struct tp_msg req = { .type = TP_SYNC_STATUS }, rep;
	struct tp_sync_entry e;
	struct tp_link *link = NULL;
	struct tp_chan *ch = NULL;
	char err[TP_ERRMSG_MAX + 64] = "";
	uint32_t pos = 0;
	int r = tp_link_open(url, &link);

	if (r == 0)
		r = tp_chan_open(link, &ch);
	if (r == 0)
		r = tp_chan_call(ch, &req, &rep, ms, err, sizeof(err));
	if (r == 0 &&
	    (rep.type != TP_SYNC_TABLE || !tp_wstab_next(&rep.wstab, &pos, &e)))
		r = -EPROTO;
	if (r == 0)
		*version = e.state.version;
	else if (r != -ECONNREFUSED && r != -ENOENT)
		log_warn("barrier: the watcher at %s: %s (syncing instead)",
			 url, err[0] ? err : strerror(-r));
	tp_chan_close(ch);
	tp_link_close(link);
	return r;
}
