/* SPDX-License-Identifier: MIT */
/* The barrier through a running `tether watch` (docs/protocol.md, "The
 * watcher's barrier"): the watcher serves SYNC_STATUS on an ipc socket in
 * the cache and answers it once every change made before the request
 * arrived is committed; `tether exec --agent` asks it instead of scanning
 * the whole tree. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cli.h"
#include "codec.h"
#include "link.h"
#include "log.h"
#include "server.h"
#include "spcall.h"

struct held {
	struct held *next;
	struct tp_req *req;
};

struct cli_barrier_srv {
	struct tp_server *srv;
	int efd;
	pthread_mutex_t lock;
	struct held *held;
};

/* On an nng thread: hold the request for the watcher's loop. */
static void on_req(struct tp_req *req, const struct tp_msg *msg, void *opaque)
{
	struct cli_barrier_srv *b = opaque;
	struct held *h;

	if (msg->type != TP_SYNC_STATUS) {
		tp_req_reply_error(req, EOPNOTSUPP,
				   "a tether watch answers SYNC_STATUS only");
		return;
	}
	h = malloc(sizeof(*h));
	if (!h) {
		tp_req_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	h->req = req;
	pthread_mutex_lock(&b->lock);
	h->next = b->held;
	b->held = h;
	pthread_mutex_unlock(&b->lock);
	(void)!write(b->efd, &(uint64_t){ 1 }, sizeof(uint64_t));
}

int cli_barrier_serve(const char *url, struct cli_barrier_srv **ret)
{
	struct cli_barrier_srv *b;
	int r;

	/* Never a second listener on a served ipc socket (nng#1518, see
	 * tether node): another watcher of the same tree has it. */
	r = tp_sp_ping(url, 1000);
	if (r == 0 || r == -ETIMEDOUT || r == -ECONNRESET || r == -EPROTO)
		return -EADDRINUSE;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = b->efd < 0 ? -errno : tp_server_new(url, on_req, NULL, b, &b->srv);
	if (r < 0) {
		cli_barrier_srv_free(b);
		return r;
	}
	*ret = b;
	return 0;
}

int cli_barrier_srv_fd(const struct cli_barrier_srv *b)
{
	return b ? b->efd : -1;
}

void cli_barrier_srv_answer(struct cli_barrier_srv *b, const char *ws,
			    const struct tp_sync_state *st, const char *err)
{
	struct tp_sync_entry e = { 0 };
	struct tp_msg m = { .type = TP_SYNC_TABLE };
	struct held *h;
	uint64_t n;

	if (!b)
		return;
	(void)!read(b->efd, &n, sizeof(n));
	pthread_mutex_lock(&b->lock);
	h = b->held;
	b->held = NULL;
	pthread_mutex_unlock(&b->lock);
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
			tp_req_reply(h->req, &m);
		else
			tp_req_reply_error(h->req, EAGAIN, "%s", err);
		free(h);
		h = next;
	}
}

void cli_barrier_srv_free(struct cli_barrier_srv *b)
{
	if (!b)
		return;
	/* Held requests are the server's to drop. */
	tp_server_free(b->srv);
	while (b->held) {
		struct held *h = b->held;

		b->held = h->next;
		free(h);
	}
	if (b->efd >= 0)
		close(b->efd);
	pthread_mutex_destroy(&b->lock);
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
