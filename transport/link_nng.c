/* SPDX-License-Identifier: MIT */
/* The client side of a link as an nng REQ socket (tls+tcp://, or any url
 * when TETHER_LINK=nng): synchronous dial, calls over nng contexts with aio
 * so a lost connection or an abort wakes every waiting caller at once. */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include "error.h"
#include "link_impl.h"
#include "log.h"
#include "nngmsg.h"
#include "tlsclient.h"

struct nng_chan {
	struct tp_chan base;
	nng_ctx ctx;
	nng_aio *aio;
	nng_msg *reply; /* kept until the next call: decoded views point here */
};

struct nng_link {
	struct tp_link base;
	nng_socket sock;
	/* Under base.lock: */
	pthread_cond_t closed_cv;
	bool lost;
	bool closed;
};

#define CLOSE_WAIT_S 2

static const struct tp_link_ops nng_ops;

static void on_pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct nng_link *l = arg;

	/* Commands belong to the connection that started them; once it is
	 * gone the node has killed them, so fail every waiter now. */
	pthread_mutex_lock(&l->base.lock);
	l->lost = true;
	for (struct tp_chan *c = l->base.chans; c; c = c->next)
		nng_aio_cancel(((struct nng_chan *)c)->aio);
	pthread_mutex_unlock(&l->base.lock);
}

int tp_nnglink_open(const char *url, struct tp_link **ret)
{
	struct nng_link *l;
	nng_dialer d;
	int rv;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	tp_link_init(&l->base, &nng_ops);
	pthread_cond_init(&l->closed_cv, NULL);
	rv = nng_req0_open(&l->sock);
	if (rv)
		goto fail_free;
	/* Requests are idempotent by design (offsets), but a resend after a
	 * reconnect would reach a node that no longer knows us: never resend. */
	nng_socket_set_ms(l->sock, NNG_OPT_REQ_RESENDTIME,
			  NNG_DURATION_INFINITE);
	nng_socket_set_size(l->sock, NNG_OPT_RECVMAXSZ, 2 * TP_FRAME_MAX);
	rv = nng_dialer_create(&d, l->sock, url);
	if (rv)
		goto fail_close;
	if (strncmp(url, "tls+tcp://", 10) == 0) {
		void *cfg;
		bool paired;
		int r = tp_tls_client_config(url, &cfg, &paired);

		if (r < 0) {
			nng_close(l->sock);
			pthread_cond_destroy(&l->closed_cv);
			tp_link_fini(&l->base);
			free(l);
			return r;
		}
		rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg); /* the dialer holds it */
		if (rv)
			goto fail_close;
	}
	nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, 100);
	nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT, 1000);
	nng_socket_set_bool(l->sock, NNG_OPT_TCP_NODELAY, true);
	rv = nng_dialer_start(d, 0);
	if (rv)
		goto fail_close;
	rv = nng_pipe_notify(l->sock, NNG_PIPE_EV_REM_POST, on_pipe_removed, l);
	if (rv)
		goto fail_close;
	*ret = &l->base;
	return 0;

fail_close:
	nng_close(l->sock);
fail_free:
	pthread_cond_destroy(&l->closed_cv);
	tp_link_fini(&l->base);
	free(l);
	return tp_errno_from_nng(rv);
}

static void *close_thread(void *arg)
{
	struct nng_link *l = arg;

	nng_close(l->sock);
	pthread_mutex_lock(&l->base.lock);
	l->closed = true;
	pthread_cond_signal(&l->closed_cv);
	pthread_mutex_unlock(&l->base.lock);
	return NULL;
}

static void nng_link_close(struct tp_link *base)
{
	struct nng_link *l = (struct nng_link *)base;
	struct timespec deadline;
	pthread_t t;
	bool done;

	/* nng 1.5 can deadlock in nng_close (nanomsg/nng#648, #1813, fixed
	 * in later nng): close on a helper thread and give up after
	 * CLOSE_WAIT_S, leaking the socket, rather than hang our caller. */
	if (pthread_create(&t, NULL, close_thread, l) != 0) {
		close_thread(l);
	} else {
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += CLOSE_WAIT_S;
		pthread_mutex_lock(&l->base.lock);
		while (!l->closed &&
		       pthread_cond_timedwait(&l->closed_cv, &l->base.lock,
					      &deadline) == 0)
			;
		done = l->closed;
		pthread_mutex_unlock(&l->base.lock);
		if (!done) {
			log_warn(
				"closing the link to %s is stuck in nng; leaving it",
				l->base.url);
			pthread_detach(t);
			return;
		}
		pthread_join(t, NULL);
	}
	pthread_cond_destroy(&l->closed_cv);
	tp_link_fini(&l->base);
	free(l);
}

static int nng_chan_open(struct tp_link *base, struct tp_chan **ret)
{
	struct nng_link *l = (struct nng_link *)base;
	struct nng_chan *c = calloc(1, sizeof(*c));
	int rv;

	if (!c)
		return -ENOMEM;
	rv = nng_ctx_open(&c->ctx, l->sock);
	if (rv) {
		free(c);
		return tp_errno_from_nng(rv);
	}
	rv = nng_aio_alloc(&c->aio, NULL, NULL);
	if (rv) {
		nng_ctx_close(c->ctx);
		free(c);
		return tp_errno_from_nng(rv);
	}
	*ret = &c->base;
	return 0;
}

static void nng_chan_close(struct tp_chan *base)
{
	struct nng_chan *c = (struct nng_chan *)base;
	nng_aio_free(c->aio);
	nng_ctx_close(c->ctx);
	if (c->reply)
		nng_msg_free(c->reply);
	free(c);
}

static void nng_chan_abort(struct tp_chan *base)
{
	nng_aio_cancel(((struct nng_chan *)base)->aio);
}

static int aio_run(struct nng_chan *c)
{
	struct nng_link *l = (struct nng_link *)c->base.link;
	bool lost;
	int rv;

	nng_aio_wait(c->aio);
	rv = nng_aio_result(c->aio);
	pthread_mutex_lock(&l->base.lock);
	lost = l->lost;
	pthread_mutex_unlock(&l->base.lock);
	if (rv && lost)
		return -ECONNRESET;
	return tp_errno_from_nng(rv);
}

static int nng_begin(struct tp_chan *base, const struct tp_msg *req,
		     uint32_t timeout_ms)
{
	struct nng_chan *c = (struct nng_chan *)base;
	struct nng_link *l = (struct nng_link *)base->link;
	nng_msg *msg;
	int r;

	if (c->reply) {
		nng_msg_free(c->reply);
		c->reply = NULL;
	}
	pthread_mutex_lock(&l->base.lock);
	r = l->lost ? -ECONNRESET : 0;
	pthread_mutex_unlock(&l->base.lock);
	if (r < 0)
		return r;

	r = tp_msg_to_nng(req, &msg);
	if (r < 0)
		return r;
	nng_aio_set_timeout(c->aio, timeout_ms ? (nng_duration)timeout_ms
					       : NNG_DURATION_INFINITE);
	nng_aio_set_msg(c->aio, msg);
	nng_ctx_send(c->ctx, c->aio);
	r = aio_run(c);
	if (r < 0) {
		nng_msg_free(nng_aio_get_msg(c->aio));
		return r;
	}
	/* The reply is received in the background until tp_chan_finish. */
	nng_ctx_recv(c->ctx, c->aio);
	return 0;
}

static int nng_finish(struct tp_chan *base, const uint8_t **frame, size_t *len)
{
	struct nng_chan *c = (struct nng_chan *)base;
	int r = aio_run(c);

	if (r < 0)
		return r;
	c->reply = nng_aio_get_msg(c->aio);
	*frame = nng_msg_body(c->reply);
	*len = nng_msg_len(c->reply);
	return 0;
}

static const struct tp_link_ops nng_ops = {
	.close = nng_link_close,
	.chan_open = nng_chan_open,
	.chan_close = nng_chan_close,
	.chan_abort = nng_chan_abort,
	.begin = nng_begin,
	.finish = nng_finish,
};
