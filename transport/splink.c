/* SPDX-License-Identifier: MIT */
/* The client side of a link as the SP wire format on one plain socket.
 *
 * Why not an nng REQ socket: a `tether exec` is a process per command, and
 * nng 1.5's runtime costs it about 1.1 ms before the first request (13
 * threads started, then a dial handed between them; there is no knob), half
 * of the exec round trip's budget. Here a dial is connect() and our 8-byte
 * header, the first request follows without waiting for the node's, and
 * one reader thread checks that header, then hands each reply to the
 * channel whose request id it echoes. The node side stays nng (server.c). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "codec.h"
#include "link_impl.h"
#include "spwire.h"

/* Longest the 8 bytes of our handshake header may take to go out. */
#define HANDSHAKE_MS 15000

struct sp_chan {
	struct tp_chan base;
	pthread_cond_t cv;
	uint32_t id;	  /* the call's request id; 0: no call waiting */
	int64_t deadline; /* of the call, util_now_ms; 0: none */
	bool aborted;
	uint8_t *reply; /* the reply's frame, kept until the next begin */
	size_t reply_len;
};

struct sp_link {
	struct tp_link base;
	int fd;
	bool ipc;
	pthread_t reader;
	pthread_mutex_t wlock; /* one message written at a time */
	/* Under base.lock, as is every chan's call state: */
	int dead; /* 0, or why every call now fails (-errno) */
	uint32_t next_id;
};

static const struct tp_link_ops sp_ops;

/* Blocking read of exactly n bytes: 0, -ECONNRESET at EOF, or -errno. */
static int read_full(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	ssize_t k;

	while (n > 0) {
		k = recv(fd, p, n, MSG_WAITALL);
		if (k == 0)
			return -ECONNRESET;
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Mark the link dead with why (the first reason wins) and wake every
 * waiting call. Called with l->base.lock held. */
static void kill_locked(struct sp_link *l, int why)
{
	if (!l->dead)
		l->dead = why;
	for (struct tp_chan *c = l->base.chans; c; c = c->next)
		pthread_cond_signal(&((struct sp_chan *)c)->cv);
}

/* One reply: its head, request id and frame. 0, or why the stream ends. */
static int read_one(struct sp_link *l)
{
	uint8_t head[TP_SP_HEAD_MAX], idb[TP_SP_ID_SIZE], *frame;
	int64_t n;
	uint32_t id;
	int r;

	r = read_full(l->fd, head, tp_sp_head_len(l->ipc));
	if (r < 0)
		return r;
	n = tp_sp_get_head(head, l->ipc);
	if (n < TP_SP_ID_SIZE || n > TP_SP_ID_SIZE + 2 * (int64_t)TP_FRAME_MAX)
		return -EPROTO;
	n -= TP_SP_ID_SIZE;
	r = read_full(l->fd, idb, sizeof(idb));
	if (r < 0)
		return r;
	id = (uint32_t)tp_sp_get_be(idb, TP_SP_ID_SIZE);
	frame = malloc(n ? (size_t)n : 1);
	if (!frame)
		return -ENOMEM;
	r = read_full(l->fd, frame, (size_t)n);
	if (r < 0) {
		free(frame);
		return r;
	}
	pthread_mutex_lock(&l->base.lock);
	for (struct tp_chan *b = l->base.chans; b; b = b->next) {
		struct sp_chan *c = (struct sp_chan *)b;

		if (c->id == id) {
			c->id = 0;
			c->reply = frame;
			c->reply_len = (size_t)n;
			frame = NULL;
			pthread_cond_signal(&c->cv);
			break;
		}
	}
	pthread_mutex_unlock(&l->base.lock);
	/* Not awaited (the call timed out or was aborted): dropped. */
	free(frame);
	return 0;
}

static void *reader_main(void *arg)
{
	struct sp_link *l = arg;
	uint8_t peer[TP_SP_HEADER_SIZE];
	int r;

	/* The node's handshake header, which open did not wait for. */
	r = read_full(l->fd, peer, sizeof(peer));
	if (r == 0)
		r = tp_sp_check_header(peer);
	while (r == 0)
		r = read_one(l);
	pthread_mutex_lock(&l->base.lock);
	/* Commands belong to the connection that started them; once it is
	 * gone the node has killed them, so every waiter fails now. */
	kill_locked(l, r == -EPROTO ? -EPROTO : -ECONNRESET);
	pthread_mutex_unlock(&l->base.lock);
	return NULL;
}

int tp_splink_open(const char *url, struct tp_link **ret)
{
	struct sp_link *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	l->ipc = tp_sp_is_ipc(url);
	l->next_id = 1;
	l->fd = tp_sp_dial(url);
	if (l->fd < 0) {
		/* No socket file is nobody listening, as nng reports it. */
		r = l->fd == -ENOENT ? -ECONNREFUSED : l->fd;
		free(l);
		return r;
	}
	/* Requests may follow our header at once: the node reads the header
	 * first, and the reader checks the node's before any reply. */
	r = tp_sp_send_header(l->fd, util_now_ms() + HANDSHAKE_MS);
	if (r == 0) {
		tp_link_init(&l->base, &sp_ops);
		pthread_mutex_init(&l->wlock, NULL);
		r = -pthread_create(&l->reader, NULL, reader_main, l);
		if (r < 0) {
			pthread_mutex_destroy(&l->wlock);
			tp_link_fini(&l->base);
		}
	}
	if (r < 0) {
		close(l->fd);
		free(l);
		return r;
	}
	*ret = &l->base;
	return 0;
}

static void sp_close(struct tp_link *base)
{
	struct sp_link *l = (struct sp_link *)base;

	/* Wakes the reader with EOF. */
	shutdown(l->fd, SHUT_RDWR);
	pthread_join(l->reader, NULL);
	close(l->fd);
	pthread_mutex_destroy(&l->wlock);
	tp_link_fini(&l->base);
	free(l);
}

static int sp_chan_open(struct tp_link *base, struct tp_chan **ret)
{
	struct sp_chan *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;

	if (!c)
		return -ENOMEM;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	(void)base;
	*ret = &c->base;
	return 0;
}

static void sp_chan_close(struct tp_chan *base)
{
	struct sp_chan *c = (struct sp_chan *)base;

	pthread_cond_destroy(&c->cv);
	free(c->reply);
	free(c);
}

static void sp_chan_abort(struct tp_chan *base)
{
	struct sp_chan *c = (struct sp_chan *)base;
	struct sp_link *l = (struct sp_link *)base->link;

	pthread_mutex_lock(&l->base.lock);
	if (c->id) {
		c->aborted = true;
		pthread_cond_signal(&c->cv);
	}
	pthread_mutex_unlock(&l->base.lock);
}

static int sp_begin(struct tp_chan *base, const struct tp_msg *req,
		    uint32_t timeout_ms)
{
	struct sp_chan *c = (struct sp_chan *)base;
	struct sp_link *l = (struct sp_link *)base->link;
	ssize_t n = tp_msg_size(req);
	size_t hlen = tp_sp_head_len(l->ipc);
	uint8_t *buf;
	uint32_t id;
	int r;

	free(c->reply);
	c->reply = NULL;
	if (n < 0)
		return (int)n;
	buf = malloc(hlen + TP_SP_ID_SIZE + (size_t)n);
	if (!buf)
		return -ENOMEM;
	r = tp_msg_write(req, buf + hlen + TP_SP_ID_SIZE, (size_t)n);
	if (r < 0) {
		free(buf);
		return r;
	}
	tp_sp_put_head(buf, l->ipc, (uint64_t)n + TP_SP_ID_SIZE);

	pthread_mutex_lock(&l->base.lock);
	r = l->dead;
	id = TP_SP_ID_BIT | l->next_id;
	l->next_id = (l->next_id + 1) & ~TP_SP_ID_BIT;
	/* Awaited before it is sent: the reply may beat our return. */
	c->id = r ? 0 : id;
	c->aborted = false;
	c->deadline = timeout_ms ? util_now_ms() + timeout_ms : 0;
	pthread_mutex_unlock(&l->base.lock);
	if (r < 0) {
		free(buf);
		return r;
	}
	tp_sp_put_be(buf + hlen, id, TP_SP_ID_SIZE);

	pthread_mutex_lock(&l->wlock);
	r = tp_sp_move(l->fd, true, buf, hlen + TP_SP_ID_SIZE + (size_t)n,
		       c->deadline ? c->deadline : INT64_MAX / 2);
	pthread_mutex_unlock(&l->wlock);
	free(buf);
	if (r < 0) {
		pthread_mutex_lock(&l->base.lock);
		c->id = 0;
		/* Part of a message may be out: the stream is lost. */
		kill_locked(l, -ECONNRESET);
		pthread_mutex_unlock(&l->base.lock);
		shutdown(l->fd, SHUT_RDWR);
	}
	return r;
}

static int sp_finish(struct tp_chan *base, const uint8_t **frame, size_t *len)
{
	struct sp_chan *c = (struct sp_chan *)base;
	struct sp_link *l = (struct sp_link *)base->link;
	struct timespec ts;
	int r = 0;

	pthread_mutex_lock(&l->base.lock);
	while (!c->reply && !c->aborted && !l->dead && r == 0) {
		if (!c->deadline) {
			pthread_cond_wait(&c->cv, &l->base.lock);
			continue;
		}
		ts.tv_sec = (time_t)(c->deadline / 1000);
		ts.tv_nsec = (long)(c->deadline % 1000) * 1000000;
		if (pthread_cond_timedwait(&c->cv, &l->base.lock, &ts) ==
			    ETIMEDOUT &&
		    !c->reply)
			r = -ETIMEDOUT;
	}
	if (c->reply) {
		*frame = c->reply;
		*len = c->reply_len;
		r = 0;
	} else {
		c->id = 0; /* a late reply is dropped */
		if (r == 0)
			r = c->aborted ? -ECANCELED : l->dead;
	}
	pthread_mutex_unlock(&l->base.lock);
	return r;
}

static const struct tp_link_ops sp_ops = {
	.close = sp_close,
	.chan_open = sp_chan_open,
	.chan_close = sp_chan_close,
	.chan_abort = sp_chan_abort,
	.begin = sp_begin,
	.finish = sp_finish,
};
