/* SPDX-License-Identifier: MIT */
/* REP server: a growing pool of context workers. A worker whose request is
 * held by the handler stays out of the receive pool; new workers are added
 * so that MIN_IDLE contexts are always receiving, up to MAX_WORKERS. */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "error.h"
#include "guard.h"
#include "log.h"
#include "nngmsg.h"

/* 8 receivers absorb a burst of new requests; 4096 held requests is far
 * beyond what one node's command table allows (each command holds at most
 * a READ and a WRITE). Past it, requests queue in nng until one frees. */
#define MIN_IDLE    8
#define MAX_WORKERS 4096

/* Frames up to this size are read and answered with EMSGSIZE; past it nng
 * drops the connection rather than buffer an unbounded message. */
#define RECV_MAX (8u * TP_FRAME_MAX)

enum worker_state { W_RECV, W_HELD, W_SEND };

struct tp_req {
	struct tp_server *srv;
	nng_aio *aio;
	nng_ctx ctx;
	nng_msg *req; /* the request frame while W_HELD */
	enum worker_state state;
	struct tp_req *next; /* all workers, for teardown */
};

struct tp_server {
	nng_socket sock;
	tp_handler_fn handler;
	tp_pipe_gone_fn gone;
	void *opaque;
	struct tp_guard *guard; /* ipc:// only; set before listening */
	char url[512];
	pthread_mutex_t lock; /* workers, n_idle, closing */
	struct tp_req *workers;
	unsigned n_workers, n_idle;
	bool closing;
};

static void worker_cb(void *arg);

static int worker_add(struct tp_server *s)
{
	struct tp_req *w = calloc(1, sizeof(*w));
	int rv;

	if (!w)
		return -ENOMEM;
	w->srv = s;
	rv = nng_aio_alloc(&w->aio, worker_cb, w);
	if (rv == 0)
		rv = nng_ctx_open(&w->ctx, s->sock);
	if (rv) {
		nng_aio_free(w->aio);
		free(w);
		return tp_errno_from_nng(rv);
	}
	/* Caller holds s->lock. */
	w->next = s->workers;
	s->workers = w;
	s->n_workers++;
	s->n_idle++;
	w->state = W_RECV;
	nng_ctx_recv(w->ctx, w->aio);
	return 0;
}

/* Send msg (consumed; NULL when it could not be built) and release the
 * request frame. */
static void send_msg(struct tp_req *w, nng_msg *msg)
{
	if (w->req) {
		nng_msg_free(w->req);
		w->req = NULL;
	}
	if (!msg) {
		/* Without memory for a reply the best we can do is drop it;
		 * the client's call times out. Recycle the worker. */
		log_error("reply dropped: out of memory");
		pthread_mutex_lock(&w->srv->lock);
		w->state = W_RECV;
		w->srv->n_idle++;
		pthread_mutex_unlock(&w->srv->lock);
		nng_ctx_recv(w->ctx, w->aio);
		return;
	}
	w->state = W_SEND;
	nng_aio_set_msg(w->aio, msg);
	nng_ctx_send(w->ctx, w->aio);
}

static void send_frame(struct tp_req *w, const uint8_t *frame, size_t len)
{
	nng_msg *msg = NULL;

	if (nng_msg_alloc(&msg, 0) != 0)
		msg = NULL;
	else if (nng_msg_append(msg, frame, len) != 0) {
		nng_msg_free(msg);
		msg = NULL;
	}
	send_msg(w, msg);
}

void tp_req_reply(struct tp_req *r, const struct tp_msg *m)
{
	nng_msg *msg;
	int e = tp_msg_to_nng(m, &msg);

	if (e < 0) {
		tp_req_reply_error(r, e == -ENOMEM ? ENOMEM : EIO,
				   "reply %s could not be encoded: %s",
				   tp_type_name(m->type), strerror(-e));
		return;
	}
	send_msg(r, msg);
}

void tp_req_reply_ok(struct tp_req *r, uint64_t value)
{
	struct tp_msg m = { .type = TP_OK, .ok = value };

	tp_req_reply(r, &m);
}

void tp_req_reply_error(struct tp_req *r, int code, const char *fmt, ...)
{
	uint8_t *frame = NULL;
	va_list ap;
	ssize_t n;

	va_start(ap, fmt);
	n = tp_error_vencode(code, &frame, fmt, ap);
	va_end(ap);
	if (n < 0) {
		/* Only ENOMEM: an empty body still releases the client. */
		send_frame(r, (const uint8_t *)"", 0);
		return;
	}
	send_frame(r, frame, (size_t)n);
	free(frame);
}

uint32_t tp_req_pipe(const struct tp_req *r)
{
	return r->req ? nng_pipe_id(nng_msg_get_pipe(r->req)) : 0;
}

static void handle_frame(struct tp_req *w)
{
	struct tp_server *s = w->srv;
	struct tp_decode_err derr = { 0 };
	struct tp_msg m;
	int r;

	r = tp_msg_decode(nng_msg_body(w->req), nng_msg_len(w->req), &m, &derr);
	if (r == -EPROTONOSUPPORT) {
		log_warn(
			"refused a request: protocol version mismatch: peer speaks %u, this node speaks %u",
			derr.peer_version, TP_VERSION);
		tp_req_reply_error(
			w, EPROTONOSUPPORT,
			"protocol version mismatch: peer speaks %u, this node speaks %u",
			derr.peer_version, TP_VERSION);
		return;
	}
	if (r < 0) {
		log_warn("refused a request: %s: %s",
			 r == -EMSGSIZE ? "oversized frame" : "malformed frame",
			 derr.what);
		tp_req_reply_error(w, -r, "%s: %s",
				   r == -EMSGSIZE ? "oversized frame"
						  : "malformed frame",
				   derr.what);
		return;
	}
	if (m.type == TP_PING) {
		tp_req_reply_ok(w, TP_VERSION);
		return;
	}
	s->handler(w, &m, s->opaque);
}

static void worker_cb(void *arg)
{
	struct tp_req *w = arg;
	struct tp_server *s = w->srv;
	int rv = nng_aio_result(w->aio);

	switch (w->state) {
	case W_RECV:
		if (rv) {
			if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
				return;
			/* A receive error (e.g. an oversized message nng
			 * refused) is per message: keep receiving. */
			nng_ctx_recv(w->ctx, w->aio);
			return;
		}
		w->req = nng_aio_get_msg(w->aio);
		pthread_mutex_lock(&s->lock);
		w->state = W_HELD;
		s->n_idle--;
		if (!s->closing && s->n_idle < MIN_IDLE &&
		    s->n_workers < MAX_WORKERS)
			(void)worker_add(s);
		pthread_mutex_unlock(&s->lock);
		if (nng_msg_len(w->req) > TP_FRAME_MAX) {
			tp_req_reply_error(
				w, EMSGSIZE,
				"oversized frame: %zu bytes, over the %u-byte cap",
				nng_msg_len(w->req), TP_FRAME_MAX);
			return;
		}
		handle_frame(w);
		return;
	case W_SEND:
		if (rv) {
			nng_msg_free(nng_aio_get_msg(w->aio));
			if (rv == NNG_ECLOSED)
				return;
		}
		pthread_mutex_lock(&s->lock);
		w->state = W_RECV;
		s->n_idle++;
		pthread_mutex_unlock(&s->lock);
		nng_ctx_recv(w->ctx, w->aio);
		return;
	case W_HELD: return;
	}
}

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct tp_server *s = arg;

	tp_guard_pipe_event(s->guard, p, ev);
	if (ev == NNG_PIPE_EV_REM_POST && s->gone)
		s->gone(nng_pipe_id(p), s->opaque);
}

int tp_server_new(const char *url, tp_handler_fn handler, tp_pipe_gone_fn gone,
		  void *opaque, struct tp_server **ret)
{
	return tp_server_new_tls(url, NULL, handler, gone, opaque, ret);
}

bool tp_req_verified(const struct tp_req *r)
{
	bool v = false;

	if (!r->req || nng_pipe_get_bool(nng_msg_get_pipe(r->req),
					 NNG_OPT_TLS_VERIFIED, &v) != 0)
		return false;
	return v;
}

int tp_server_new_tls(const char *url, void *tls, tp_handler_fn handler,
		      tp_pipe_gone_fn gone, void *opaque,
		      struct tp_server **ret)
{
	struct tp_server *s;
	nng_listener l;
	int rv, r, port;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->handler = handler;
	s->gone = gone;
	s->opaque = opaque;
	pthread_mutex_init(&s->lock, NULL);
	rv = nng_rep0_open(&s->sock);
	if (rv) {
		free(s);
		return tp_errno_from_nng(rv);
	}
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, RECV_MAX);
	nng_socket_set_bool(s->sock, NNG_OPT_TCP_NODELAY, true);
	rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, on_pipe, s);
	if (rv == 0)
		rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_POST, on_pipe, s);
	if (rv)
		goto fail;
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < MIN_IDLE; i++) {
		r = worker_add(s);
		if (r < 0) {
			pthread_mutex_unlock(&s->lock);
			tp_server_free(s);
			return r;
		}
	}
	pthread_mutex_unlock(&s->lock);
	rv = nng_listener_create(&l, s->sock, url);
	if (rv)
		goto fail;
	/* Anyone who can connect can run commands: owner only, whatever the
	 * umask says. */
	if (strncmp(url, "ipc://", 6) == 0) {
		nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0600);
		r = tp_guard_start(s->sock, l, url, &s->guard);
		if (r == -ENAMETOOLONG)
			log_warn("node %s: the path is too long to keep the "
				 "listener guarded; a client that leaves "
				 "during its handshake can stop it accepting",
				 url);
		else if (r < 0)
			log_warn_errno(r, "node %s: listener guard", url);
	}
	if (tls) {
		rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, tls);
		if (rv)
			goto fail;
	}
	rv = nng_listener_start(l, 0);
	if (rv)
		goto fail;
	snprintf(s->url, sizeof(s->url), "%s", url);
	if ((strncmp(url, "tcp://", 6) == 0 ||
	     strncmp(url, "tls+tcp://", 10) == 0) &&
	    nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) == 0) {
		const char *colon = strrchr(url, ':');

		snprintf(s->url, sizeof(s->url), "%.*s:%d", (int)(colon - url),
			 url, port);
	}
	*ret = s;
	return 0;
fail:
	r = tp_errno_from_nng(rv);
	tp_server_free(s);
	return r;
}

const char *tp_server_url(const struct tp_server *s)
{
	return s->url;
}

void tp_server_free(struct tp_server *s)
{
	struct tp_req *w;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->closing = true;
	pthread_mutex_unlock(&s->lock);
	tp_guard_stop(s->guard);
	/* Closing the socket completes every pending aio with NNG_ECLOSED;
	 * nng_aio_free then waits for callbacks still running. */
	nng_close(s->sock);
	for (w = s->workers; w; w = w->next)
		nng_aio_stop(w->aio);
	while ((w = s->workers)) {
		s->workers = w->next;
		nng_aio_free(w->aio);
		if (w->req)
			nng_msg_free(w->req);
		free(w);
	}
	tp_guard_free(s->guard);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
