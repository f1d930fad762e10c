/* SPDX-License-Identifier: MIT */
/* REQ side of a link: synchronous dial, calls over nng contexts with aio so
 * a lost connection or an abort wakes every waiting caller at once. */
#include "link.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "error.h"
#include "log.h"
#include "nngmsg.h"

struct tp_chan {
	struct tp_link *link;
	nng_ctx ctx;
	nng_aio *aio;
	nng_msg *reply; /* kept until the next call: decoded views point here */
	struct tp_chan *next;
};

struct tp_link {
	nng_socket sock;
	char *url;
	pthread_mutex_t lock; /* chans, lost, closed */
	pthread_cond_t closed_cv;
	struct tp_chan *chans;
	bool lost;
	bool closed;
};

#define CLOSE_WAIT_S 2

static void on_pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct tp_link *l = arg;

	/* Commands belong to the connection that started them; once it is
	 * gone the node has killed them, so fail every waiter now. */
	pthread_mutex_lock(&l->lock);
	l->lost = true;
	for (struct tp_chan *c = l->chans; c; c = c->next)
		nng_aio_cancel(c->aio);
	pthread_mutex_unlock(&l->lock);
}

int tp_link_open(const char *url, struct tp_link **ret)
{
	struct tp_link *l;
	nng_dialer d;
	int rv;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->url = strdup(url);
	if (!l->url) {
		free(l);
		return -ENOMEM;
	}
	pthread_mutex_init(&l->lock, NULL);
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
	nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, 100);
	nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT, 1000);
	nng_socket_set_bool(l->sock, NNG_OPT_TCP_NODELAY, true);
	rv = nng_dialer_start(d, 0);
	if (rv)
		goto fail_close;
	rv = nng_pipe_notify(l->sock, NNG_PIPE_EV_REM_POST, on_pipe_removed, l);
	if (rv)
		goto fail_close;
	*ret = l;
	return 0;

fail_close:
	nng_close(l->sock);
fail_free:
	pthread_cond_destroy(&l->closed_cv);
	pthread_mutex_destroy(&l->lock);
	free(l->url);
	free(l);
	return tp_errno_from_nng(rv);
}

static void *close_thread(void *arg)
{
	struct tp_link *l = arg;

	nng_close(l->sock);
	pthread_mutex_lock(&l->lock);
	l->closed = true;
	pthread_cond_signal(&l->closed_cv);
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

void tp_link_close(struct tp_link *l)
{
	struct timespec deadline;
	pthread_t t;
	bool done;

	if (!l)
		return;
	/* nng 1.5 can deadlock in nng_close (nanomsg/nng#648, #1813, fixed
	 * in later nng): close on a helper thread and give up after
	 * CLOSE_WAIT_S, leaking the socket, rather than hang our caller. */
	if (pthread_create(&t, NULL, close_thread, l) != 0) {
		close_thread(l);
	} else {
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += CLOSE_WAIT_S;
		pthread_mutex_lock(&l->lock);
		while (!l->closed &&
		       pthread_cond_timedwait(&l->closed_cv, &l->lock,
					      &deadline) == 0)
			;
		done = l->closed;
		pthread_mutex_unlock(&l->lock);
		if (!done) {
			log_warn(
				"closing the link to %s is stuck in nng; leaving it",
				l->url);
			pthread_detach(t);
			return;
		}
		pthread_join(t, NULL);
	}
	pthread_cond_destroy(&l->closed_cv);
	pthread_mutex_destroy(&l->lock);
	free(l->url);
	free(l);
}

const char *tp_link_url(const struct tp_link *l)
{
	return l->url;
}

int tp_chan_open(struct tp_link *l, struct tp_chan **ret)
{
	struct tp_chan *c = calloc(1, sizeof(*c));
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
	c->link = l;
	pthread_mutex_lock(&l->lock);
	c->next = l->chans;
	l->chans = c;
	pthread_mutex_unlock(&l->lock);
	*ret = c;
	return 0;
}

void tp_chan_close(struct tp_chan *c)
{
	struct tp_chan **pp;

	if (!c)
		return;
	pthread_mutex_lock(&c->link->lock);
	for (pp = &c->link->chans; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	pthread_mutex_unlock(&c->link->lock);
	nng_aio_free(c->aio);
	nng_ctx_close(c->ctx);
	if (c->reply)
		nng_msg_free(c->reply);
	free(c);
}

void tp_chan_abort(struct tp_chan *c)
{
	nng_aio_cancel(c->aio);
}

static int aio_run(struct tp_chan *c)
{
	bool lost;
	int rv;

	nng_aio_wait(c->aio);
	rv = nng_aio_result(c->aio);
	pthread_mutex_lock(&c->link->lock);
	lost = c->link->lost;
	pthread_mutex_unlock(&c->link->lock);
	if (rv && lost)
		return -ECONNRESET;
	return tp_errno_from_nng(rv);
}

int tp_chan_begin(struct tp_chan *c, const struct tp_msg *req,
		  uint32_t timeout_ms)
{
	nng_msg *msg;
	int r;

	if (c->reply) {
		nng_msg_free(c->reply);
		c->reply = NULL;
	}
	pthread_mutex_lock(&c->link->lock);
	r = c->link->lost ? -ECONNRESET : 0;
	pthread_mutex_unlock(&c->link->lock);
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

int tp_chan_finish(struct tp_chan *c, struct tp_msg *reply, char *err,
		   size_t errlen)
{
	struct tp_decode_err derr = { 0 };
	int r;

	if (err && errlen)
		err[0] = 0;
	r = aio_run(c);
	if (r < 0)
		return r;
	c->reply = nng_aio_get_msg(c->aio);

	r = tp_msg_decode(nng_msg_body(c->reply), nng_msg_len(c->reply), reply,
			  &derr);
	if (r == -EPROTONOSUPPORT) {
		if (err)
			snprintf(
				err, errlen,
				"protocol version mismatch: node speaks %u, this client speaks %u",
				derr.peer_version, TP_VERSION);
		return r;
	}
	if (r < 0) {
		if (err)
			snprintf(err, errlen, "malformed reply: %s", derr.what);
		return -EPROTO;
	}
	if (reply->type == TP_ERROR) {
		if (err)
			snprintf(err, errlen, "%.*s",
				 (int)reply->error.message.len,
				 (const char *)reply->error.message.ptr);
		return reply->error.code > 0 ? -reply->error.code : -EIO;
	}
	return 0;
}

int tp_chan_call(struct tp_chan *c, const struct tp_msg *req,
		 struct tp_msg *reply, uint32_t timeout_ms, char *err,
		 size_t errlen)
{
	int r = tp_chan_begin(c, req, timeout_ms);

	if (r < 0) {
		if (err && errlen)
			err[0] = 0;
		return r;
	}
	return tp_chan_finish(c, reply, err, errlen);
}
