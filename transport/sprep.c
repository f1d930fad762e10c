/* SPDX-License-Identifier: MIT */
/* A REP server on a plain unix socket (sprep.h). */
#include "sprep.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "spwire.h"

#define WRITE_MS 1000 /* a reply a peer does not take in this long: gone */

struct conn {
	int fd; /* -1 once closed */
	bool header_in;
	unsigned refs; /* the server's while open, and one per request */
};

struct tp_sprep_req {
	struct conn *c;
	uint8_t id[TP_SP_ID_SIZE];
};

struct tp_sprep {
	int lfd, efd;
	char *path;
	struct conn *conns[TP_SPREP_CONNS];
};

static void conn_unref(struct conn *c)
{
	if (--c->refs == 0)
		free(c);
}

static void conn_close(struct tp_sprep *s, struct conn *c)
{
	for (size_t i = 0; i < TP_SPREP_CONNS; i++)
		if (s->conns[i] == c)
			s->conns[i] = NULL;
	if (c->fd >= 0) {
		epoll_ctl(s->efd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	conn_unref(c);
}

int tp_sprep_listen(const char *url, struct tp_sprep **ret)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };
	struct tp_sprep *s;
	const char *path;
	int r = 0;

	if (strncmp(url, "ipc://", 6) != 0)
		return -EPROTONOSUPPORT;
	path = url + 6;
	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, strlen(path));
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return -ENOMEM;
	}
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	s->efd = epoll_create1(EPOLL_CLOEXEC);
	if (s->lfd < 0 || s->efd < 0)
		r = -errno;
	/* The caller asked whether anyone answers there: a file left is a
	 * dead socket. */
	if (r == 0 && unlink(path) < 0 && errno != ENOENT)
		r = -errno;
	if (r == 0 && (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		       listen(s->lfd, 16) < 0 ||
		       epoll_ctl(s->efd, EPOLL_CTL_ADD, s->lfd, &ev) < 0))
		r = -errno;
	if (r < 0) {
		if (s->lfd >= 0)
			close(s->lfd);
		if (s->efd >= 0)
			close(s->efd);
		free(s->path);
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int tp_sprep_fd(const struct tp_sprep *s)
{
	return s ? s->efd : -1;
}

static void accept_all(struct tp_sprep *s)
{
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		struct conn *c;
		size_t i = 0;

		if (fd < 0)
			return;
		while (i < TP_SPREP_CONNS && s->conns[i])
			i++;
		c = i < TP_SPREP_CONNS ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->refs = 1;
		ev.data.ptr = c;
		if (epoll_ctl(s->efd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		s->conns[i] = c;
	}
}

static int send_frame(struct conn *c, const uint8_t id[TP_SP_ID_SIZE],
		      const uint8_t *frame, size_t len)
{
	uint8_t head[TP_SP_HEAD_MAX + TP_SP_ID_SIZE];
	int64_t deadline = util_now_ms() + WRITE_MS;
	size_t hlen = tp_sp_put_head(head, true, len + TP_SP_ID_SIZE);
	int r;

	memcpy(head + hlen, id, TP_SP_ID_SIZE);
	r = tp_sp_move(c->fd, true, head, hlen + TP_SP_ID_SIZE, deadline);
	return r ? r : tp_sp_move(c->fd, true, (void *)frame, len, deadline);
}

static int read_header(struct conn *c, int64_t deadline)
{
	uint8_t h[TP_SP_HEADER_SIZE], rep[TP_SP_HEADER_SIZE];
	int r = tp_sp_move(c->fd, false, h, sizeof(h), deadline);

	if (r == 0 && tp_sp_check_header_of(h, TP_SP_REQ0) < 0)
		r = -EPROTO;
	tp_sp_header(rep, TP_SP_REP0);
	if (r == 0)
		r = tp_sp_move(c->fd, true, rep, sizeof(rep), deadline);
	c->header_in = r == 0;
	return r;
}

/* One request off c, handed to fn. 0, or -errno to close c. */
static int read_request(struct conn *c, int64_t deadline, tp_sprep_fn fn,
			void *opaque)
{
	uint8_t head[TP_SP_HEAD_MAX], *body = NULL;
	struct tp_sprep_req *q = calloc(1, sizeof(*q));
	struct tp_msg m;
	struct tp_decode_err err = { 0 };
	int64_t n;
	int r;

	if (!q)
		return -ENOMEM;
	r = tp_sp_move(c->fd, false, head, tp_sp_head_len(true), deadline);
	n = r ? -1 : tp_sp_get_head(head, true);
	if (r == 0 &&
	    (n < TP_SP_ID_SIZE || n > TP_SP_ID_SIZE + (int64_t)TP_FRAME_MAX))
		r = -EPROTO;
	if (r == 0)
		r = tp_sp_move(c->fd, false, q->id, TP_SP_ID_SIZE, deadline);
	if (r == 0 && !(tp_sp_get_be(q->id, TP_SP_ID_SIZE) & TP_SP_ID_BIT))
		r = -EPROTO;
	n -= TP_SP_ID_SIZE;
	if (r == 0 && !(body = malloc(n ? (size_t)n : 1)))
		r = -ENOMEM;
	if (r == 0)
		r = tp_sp_move(c->fd, false, body, (size_t)n, deadline);
	if (r < 0) {
		free(body);
		free(q);
		return r;
	}
	q->c = c;
	c->refs++;
	if (tp_msg_decode(body, (size_t)n, &m, &err) < 0)
		tp_sprep_reply_error(q, EPROTO, "%s", err.what);
	else
		fn(opaque, q, &m);
	free(body);
	return 0;
}

/* Whether c has more bytes waiting (or its peer closed: the read says). */
static bool more(const struct conn *c)
{
	uint8_t b;

	return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) != -1 ||
	       (errno != EAGAIN && errno != EWOULDBLOCK);
}

void tp_sprep_serve(struct tp_sprep *s, tp_sprep_fn fn, void *opaque)
{
	struct epoll_event evs[16];
	int n = epoll_wait(s->efd, evs, 16, 0);

	for (int i = 0; i < n; i++) {
		struct conn *c = evs[i].data.ptr;
		int64_t deadline = util_now_ms() + TP_SPREP_READ_MS;
		int r = 0;

		if (!c) {
			accept_all(s);
			continue;
		}
		if (!c->header_in)
			r = read_header(c, deadline);
		while (r == 0 && more(c))
			r = read_request(c, deadline, fn, opaque);
		if (r < 0)
			conn_close(s, c);
	}
}

void tp_sprep_reply(struct tp_sprep_req *req, const struct tp_msg *m)
{
	uint8_t *frame = NULL;
	ssize_t n = tp_msg_encode(m, &frame);

	if (n < 0) {
		tp_sprep_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	if (req->c->fd >= 0 && send_frame(req->c, req->id, frame, (size_t)n))
		shutdown(req->c->fd, SHUT_RDWR); /* the loop closes it */
	free(frame);
	conn_unref(req->c);
	free(req);
}

void tp_sprep_reply_error(struct tp_sprep_req *req, int code, const char *fmt,
			  ...)
{
	uint8_t *frame = NULL;
	va_list ap;
	ssize_t n;

	va_start(ap, fmt);
	n = tp_error_vencode(code, &frame, fmt, ap);
	va_end(ap);
	if (req->c->fd >= 0 &&
	    (n < 0 || send_frame(req->c, req->id, frame, (size_t)n)))
		shutdown(req->c->fd, SHUT_RDWR);
	free(frame);
	conn_unref(req->c);
	free(req);
}

void tp_sprep_free(struct tp_sprep *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < TP_SPREP_CONNS; i++)
		if (s->conns[i])
			conn_close(s, s->conns[i]);
	close(s->lfd);
	close(s->efd);
	unlink(s->path);
	free(s->path);
	free(s);
}
