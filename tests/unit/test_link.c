/* SPDX-License-Identifier: MIT */
/* Unit tests for the client side of a link (transport/link.h), both
 * implementations (splink.c, and link_nng.c through TETHER_LINK=nng), over
 * ipc:// and tcp://127.0.0.1 against a real nng REP socket with contexts,
 * the way a node answers: replies out of order, late, never, or a peer that
 * drops the connection. Then what only the plain-socket one decodes: a peer
 * that is not SP, and a reply head that claims too much. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "link.h"

/* Every wait is bounded; a hang is a failure. */
#define WAIT_MS	     10000
#define TEST_ALARM_S 60

struct setup {
	bool nng; /* the nng client */
	bool tcp; /* else ipc */
	char dir[64];
	char url[128];
	nng_socket rep;
	nng_listener lst;
};

static int setup(void **state, bool use_nng, bool tcp)
{
	struct setup *s = calloc(1, sizeof(*s));
	int port = 0;

	assert_non_null(s);
	s->nng = use_nng;
	s->tcp = tcp;
	if (use_nng)
		setenv("TETHER_LINK", "nng", 1);
	else
		unsetenv("TETHER_LINK");
	strcpy(s->dir, "/tmp/tether-link.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	assert_int_equal(nng_rep0_open(&s->rep), 0);
	if (tcp) {
		assert_int_equal(
			nng_listen(s->rep, "tcp://127.0.0.1:0", &s->lst, 0), 0);
		assert_int_equal(nng_listener_get_int(
					 s->lst, NNG_OPT_TCP_BOUND_PORT, &port),
				 0);
		snprintf(s->url, sizeof(s->url), "tcp://127.0.0.1:%d", port);
	} else {
		snprintf(s->url, sizeof(s->url), "ipc://%s/node.sock", s->dir);
		assert_int_equal(nng_listen(s->rep, s->url, &s->lst, 0), 0);
	}
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct setup *s = *state;
	char path[128];

	nng_close(s->rep);
	snprintf(path, sizeof(path), "%s/node.sock", s->dir);
	unlink(path);
	rmdir(s->dir);
	free(s);
	return 0;
}

static int sp_ipc(void **st)
{
	return setup(st, false, false);
}
static int sp_tcp(void **st)
{
	return setup(st, false, true);
}
static int nng_ipc(void **st)
{
	return setup(st, true, false);
}
static int nng_tcp(void **st)
{
	return setup(st, true, true);
}

/* ---- the node's side: REP contexts, one request each ---- */

struct rctx {
	nng_ctx ctx;
	nng_aio *aio;
};

static void rctx_open(struct setup *s, struct rctx *r)
{
	assert_int_equal(nng_ctx_open(&r->ctx, s->rep), 0);
	assert_int_equal(nng_aio_alloc(&r->aio, NULL, NULL), 0);
	nng_aio_set_timeout(r->aio, WAIT_MS);
}

static void rctx_close(struct rctx *r)
{
	nng_aio_free(r->aio);
	nng_ctx_close(r->ctx);
}

/* Receive one request: the id of its EXEC_SIGNAL, which tags it. */
static uint64_t rctx_recv(struct rctx *r)
{
	struct tp_msg m;
	nng_msg *msg;

	nng_ctx_recv(r->ctx, r->aio);
	nng_aio_wait(r->aio);
	assert_int_equal(nng_aio_result(r->aio), 0);
	msg = nng_aio_get_msg(r->aio);
	assert_int_equal(tp_msg_decode(nng_msg_body(msg), nng_msg_len(msg), &m,
				       NULL),
			 0);
	assert_int_equal(m.type, TP_EXEC_SIGNAL);
	nng_msg_free(msg);
	return m.signal.id;
}

/* Reply OK(value) to the request r holds. */
static void rctx_reply(struct rctx *r, uint64_t value)
{
	struct tp_msg ok = { .type = TP_OK, .ok = value };
	uint8_t *frame = NULL;
	ssize_t n = tp_msg_encode(&ok, &frame);
	nng_msg *msg;

	assert_true(n > 0);
	assert_int_equal(nng_msg_alloc(&msg, 0), 0);
	assert_int_equal(nng_msg_append(msg, frame, (size_t)n), 0);
	free(frame);
	nng_aio_set_msg(r->aio, msg);
	nng_ctx_send(r->ctx, r->aio);
	nng_aio_wait(r->aio);
	assert_int_equal(nng_aio_result(r->aio), 0);
}

/* ---- the client's side ---- */

static int begin_tag(struct tp_chan *c, uint64_t tag, uint32_t timeout_ms)
{
	struct tp_msg req = { .type = TP_EXEC_SIGNAL };

	req.signal.id = tag;
	req.signal.signo = 1;
	return tp_chan_begin(c, &req, timeout_ms);
}

/* The OK value of the reply to the call begun on c, or -errno. */
static int64_t finish_value(struct tp_chan *c)
{
	struct tp_msg rep;
	char err[256];
	int r = tp_chan_finish(c, &rep, err, sizeof(err));

	if (r < 0)
		return r;
	assert_int_equal(rep.type, TP_OK);
	return (int64_t)rep.ok;
}

/* Two node contexts, a link and two channels on it. */
static void open_two(struct setup *s, struct rctx *ra, struct rctx *rb,
		     struct tp_link **l, struct tp_chan **a, struct tp_chan **b)
{
	rctx_open(s, ra);
	rctx_open(s, rb);
	assert_int_equal(tp_link_open(s->url, l), 0);
	assert_int_equal(tp_chan_open(*l, a), 0);
	assert_int_equal(tp_chan_open(*l, b), 0);
}

/* Replies come back in the other order than their requests went out; each
 * reaches the channel that asked, many times over. */
static void test_out_of_order(void **state)
{
	struct setup *s = *state;
	struct tp_link *l;
	struct tp_chan *a, *b;
	struct rctx ra, rb;

	open_two(s, &ra, &rb, &l, &a, &b);
	for (uint64_t i = 1; i <= 50; i++) {
		uint64_t ta, tb;

		assert_int_equal(begin_tag(a, 2 * i, WAIT_MS), 0);
		assert_int_equal(begin_tag(b, 2 * i + 1, WAIT_MS), 0);
		ta = rctx_recv(&ra);
		tb = rctx_recv(&rb);
		/* Echo each request's tag, the later one first. */
		rctx_reply(&rb, tb);
		rctx_reply(&ra, ta);
		assert_int_equal(finish_value(b), 2 * i + 1);
		assert_int_equal(finish_value(a), 2 * i);
	}
	tp_chan_close(a);
	tp_chan_close(b);
	tp_link_close(l);
	rctx_close(&ra);
	rctx_close(&rb);
}

/* A call times out; its reply arrives late and must not be taken for the
 * reply to the channel's next call. */
static void test_timeout_late_reply(void **state)
{
	struct setup *s = *state;
	struct tp_link *l;
	struct tp_chan *c;
	struct rctx r1, r2;

	rctx_open(s, &r1);
	rctx_open(s, &r2);
	assert_int_equal(tp_link_open(s->url, &l), 0);
	assert_int_equal(tp_chan_open(l, &c), 0);
	assert_int_equal(begin_tag(c, 7, 200), 0);
	assert_int_equal(rctx_recv(&r1), 7);
	assert_int_equal(finish_value(c), -ETIMEDOUT);
	rctx_reply(&r1, 7);
	assert_int_equal(begin_tag(c, 8, WAIT_MS), 0);
	assert_int_equal(rctx_recv(&r2), 8);
	rctx_reply(&r2, 8);
	assert_int_equal(finish_value(c), 8);
	tp_chan_close(c);
	tp_link_close(l);
	rctx_close(&r1);
	rctx_close(&r2);
}

static void *abort_later(void *arg)
{
	usleep(100 * 1000);
	tp_chan_abort(arg);
	return NULL;
}

/* An abort from another thread ends a call the node holds. */
static void test_abort(void **state)
{
	struct setup *s = *state;
	struct tp_link *l;
	struct tp_chan *c;
	struct rctx r;
	pthread_t t;

	rctx_open(s, &r);
	assert_int_equal(tp_link_open(s->url, &l), 0);
	assert_int_equal(tp_chan_open(l, &c), 0);
	assert_int_equal(begin_tag(c, 9, WAIT_MS), 0);
	assert_int_equal(rctx_recv(&r), 9);
	assert_int_equal(pthread_create(&t, NULL, abort_later, c), 0);
	assert_int_equal(finish_value(c), -ECANCELED);
	pthread_join(t, NULL);
	tp_chan_close(c);
	tp_link_close(l);
	rctx_close(&r);
}

/* The node goes away: every call waiting fails at once with ECONNRESET,
 * and so does every later one (no redial, no resend). */
static void test_peer_gone(void **state)
{
	struct setup *s = *state;
	struct tp_link *l;
	struct tp_chan *a, *b;
	struct rctx ra, rb;

	open_two(s, &ra, &rb, &l, &a, &b);
	assert_int_equal(begin_tag(a, 1, WAIT_MS), 0);
	assert_int_equal(begin_tag(b, 2, WAIT_MS), 0);
	rctx_recv(&ra);
	rctx_recv(&rb);
	rctx_close(&ra);
	rctx_close(&rb);
	nng_close(s->rep);
	assert_int_equal(finish_value(a), -ECONNRESET);
	assert_int_equal(finish_value(b), -ECONNRESET);
	assert_int_equal(begin_tag(a, 3, WAIT_MS), -ECONNRESET);
	tp_chan_close(a);
	tp_chan_close(b);
	tp_link_close(l);
	/* teardown closes it again: harmless for nng (ECLOSED) */
}

/* Nothing listens: refused, for a missing ipc path as for a closed port. */
static void test_refused(void **state)
{
	struct setup *s = *state;
	struct tp_link *l = NULL;
	char url[160];

	nng_close(s->rep);
	snprintf(url, sizeof(url), "ipc://%s/nobody.sock", s->dir);
	assert_int_equal(tp_link_open(url, &l), -ECONNREFUSED);
	assert_int_equal(tp_link_open(s->url, &l), -ECONNREFUSED);
}

/* ---- a peer that is not a REP socket (plain-socket client only) ---- */

struct rawpeer {
	int lfd;
	int port;
	const void *send;
	size_t len;
	pthread_t t;
};

static void *rawpeer_main(void *arg)
{
	struct rawpeer *p = arg;
	char buf[64];
	int fd = accept(p->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	(void)!recv(fd, buf, 8, MSG_WAITALL);
	(void)!send(fd, p->send, p->len, MSG_NOSIGNAL);
	/* Hold the connection until the client gives up on it. */
	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
	close(fd);
	return NULL;
}

static void rawpeer_start(struct rawpeer *p, const void *bytes, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	p->send = bytes;
	p->len = len;
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(p->lfd >= 0);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(p->lfd, 1), 0);
	assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&sa, &sl), 0);
	p->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&p->t, NULL, rawpeer_main, p), 0);
}

static void rawpeer_stop(struct rawpeer *p)
{
	pthread_join(p->t, NULL);
	close(p->lfd);
}

static void test_not_sp(void **state)
{
	static const char http[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
	struct rawpeer p;
	struct tp_link *l = NULL;
	struct tp_chan *c;
	char url[64];

	(void)state;
	unsetenv("TETHER_LINK");
	rawpeer_start(&p, http, sizeof(http) - 1);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", p.port);
	/* The first request goes out with the header; it fails on the
	 * peer's header, not by waiting for a reply. */
	assert_int_equal(tp_link_open(url, &l), 0);
	assert_int_equal(tp_chan_open(l, &c), 0);
	begin_tag(c, 1, WAIT_MS);
	assert_int_equal(finish_value(c), -EPROTO);
	tp_chan_close(c);
	tp_link_close(l);
	rawpeer_stop(&p);
}

/* A REP handshake, then a reply head claiming 1 TiB: the link is dead with
 * EPROTO, not an allocation of whatever the peer says. */
static void test_reply_too_big(void **state)
{
	static const uint8_t bytes[] = {
		0,    'S', 'P', 0, 0, 0x31, 0, 0, /* REP handshake */
		0,    0,   1,	0, 0, 0,    0, 0, /* length 2^40 */
		0x80, 0,   0,	1,		  /* request id */
	};
	struct rawpeer p;
	struct tp_link *l = NULL;
	struct tp_chan *c;
	char url[64];
	int r;

	(void)state;
	unsetenv("TETHER_LINK");
	rawpeer_start(&p, bytes, sizeof(bytes));
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", p.port);
	assert_int_equal(tp_link_open(url, &l), 0);
	assert_int_equal(tp_chan_open(l, &c), 0);
	/* The reader may have read the bad head before the request goes out
	 * (it does not wait for one): then begin fails already. Either way
	 * the call ends with EPROTO, and so does the next. */
	r = begin_tag(c, 1, WAIT_MS);
	assert_true(r == 0 || r == -EPROTO);
	assert_int_equal(finish_value(c), -EPROTO);
	assert_int_equal(begin_tag(c, 2, WAIT_MS), -EPROTO);
	tp_chan_close(c);
	tp_link_close(l);
	rawpeer_stop(&p);
}

#define BOTH_WAYS(fn)                                                   \
	cmocka_unit_test_setup_teardown(fn, sp_ipc, teardown),          \
		cmocka_unit_test_setup_teardown(fn, sp_tcp, teardown),  \
		cmocka_unit_test_setup_teardown(fn, nng_ipc, teardown), \
		cmocka_unit_test_setup_teardown(fn, nng_tcp, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH_WAYS(test_out_of_order),
		BOTH_WAYS(test_timeout_late_reply),
		BOTH_WAYS(test_abort),
		BOTH_WAYS(test_peer_gone),
		BOTH_WAYS(test_refused),
		cmocka_unit_test(test_not_sp),
		cmocka_unit_test(test_reply_too_big),
	};

	alarm(TEST_ALARM_S);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
