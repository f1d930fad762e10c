/* SPDX-License-Identifier: MIT */
/* Unit tests for TP frames with descriptors on a local stream socket
 * (transport/fdframe.h), the channel of tether and tether-plugin: a frame
 * and its descriptors arrive whole and usable; a frame larger than the
 * socket's buffer too; a peer that closes, a header that is no frame, one
 * that claims too much and more descriptors than wanted are refused, and
 * nothing received is left open. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdframe.h"

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
}

static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static void test_round_trip(void **state)
{
	static const char *const argv[] = { "sh", "-c", "echo hi" };
	struct tp_msg m = { .type = TP_EXEC_START }, got;
	struct tp_decode_err de;
	int sv[2], p[2], fds[TP_FD_MAX], before = open_fds();
	unsigned nfds;
	uint8_t *frame;
	size_t len;
	char buf[8];

	pair(sv);
	assert_int_equal(pipe(p), 0);
	m.start.flags = TP_EXEC_F_STDIN;
	m.start.timeout_ms = 1500;
	m.argv_c.v = argv;
	m.argv_c.count = 3;
	assert_int_equal(tp_fd_send(sv[0], &m, p, 2), 0);
	assert_int_equal(tp_fd_recv(sv[1], &frame, &len, fds, &nfds, TP_FD_MAX),
			 0);
	assert_int_equal(nfds, 2);
	assert_int_equal(tp_msg_decode(frame, len, &got, &de), 0);
	assert_int_equal(got.type, TP_EXEC_START);
	assert_int_equal(got.start.timeout_ms, 1500);
	assert_int_equal(got.start.argv.count, 3);
	/* The descriptors are the pipe's: close-on-exec, and they work. */
	assert_true(fcntl(fds[1], F_GETFD) & FD_CLOEXEC);
	assert_int_equal(write(fds[1], "ok", 2), 2);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 2);
	free(frame);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(open_fds(), before);
}

struct big {
	int sock;
	struct tp_msg m;
	int r;
};

static void *send_big(void *arg)
{
	struct big *b = arg;

	b->r = tp_fd_send(b->sock, &b->m, &b->sock, 1);
	return NULL;
}

/* A frame far over the socket's buffer goes in pieces, and arrives with
 * its descriptor. */
static void test_big_frame(void **state)
{
	static char arg[60000];
	static const char *argv[12];
	struct big b = { .m = { .type = TP_EXEC_START } };
	struct tp_msg got;
	struct tp_decode_err de;
	int sv[2], fds[TP_FD_MAX], sndbuf = 4096;
	unsigned nfds;
	uint8_t *frame;
	size_t len;
	pthread_t t;

	pair(sv);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
				    sizeof(sndbuf)),
			 0);
	memset(arg, 'x', sizeof(arg) - 1);
	for (int i = 0; i < 12; i++)
		argv[i] = arg;
	b.sock = sv[0];
	b.m.argv_c.v = argv;
	b.m.argv_c.count = 12;
	assert_int_equal(pthread_create(&t, NULL, send_big, &b), 0);
	assert_int_equal(tp_fd_recv(sv[1], &frame, &len, fds, &nfds, TP_FD_MAX),
			 0);
	pthread_join(t, NULL);
	assert_int_equal(b.r, 0);
	assert_true(len > 12 * sizeof(arg));
	assert_int_equal(nfds, 1);
	assert_int_equal(tp_msg_decode(frame, len, &got, &de), 0);
	assert_int_equal(got.start.argv.count, 12);
	free(frame);
	close(fds[0]);
	close(sv[0]);
	close(sv[1]);
}

/* raw bytes (and n descriptors of a pipe) from one end, what the other
 * end's receive says (maxfds 1). */
static int recv_raw(const void *raw, size_t len, unsigned n, bool close_end)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 3)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)raw, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int sv[2], p[2], fds[3], got[TP_FD_MAX], r, before;
	struct cmsghdr *c;
	unsigned nfds = 99;
	uint8_t *frame = (uint8_t *)1;
	size_t flen = 99;

	pair(sv);
	assert_int_equal(pipe(p), 0);
	before = open_fds();
	fds[0] = fds[1] = fds[2] = p[1];
	if (n) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	assert_int_equal(sendmsg(sv[0], &mh, 0), (ssize_t)len);
	if (close_end)
		shutdown(sv[0], SHUT_WR);
	r = tp_fd_recv(sv[1], &frame, &flen, got, &nfds, 1);
	if (r < 0) {
		assert_null(frame);
		assert_int_equal(nfds, 0);
		assert_int_equal(open_fds(), before); /* nothing left open */
	} else {
		free(frame);
		for (unsigned i = 0; i < nfds; i++)
			close(got[i]);
	}
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	return r;
}

static void test_refusals(void **state)
{
	uint8_t head[TP_HEADER_SIZE] = { 'T',	'T', 'H', 'R', TP_VERSION, 0,
					 TP_OK, 0,   8,	  0,   0,	   0 };
	uint8_t whole[TP_HEADER_SIZE + 8] = { 0 };

	memcpy(whole, head, sizeof(head));
	/* The peer's end, before a frame and within one. */
	assert_int_equal(recv_raw("", 0, 0, true), -ECONNRESET);
	assert_int_equal(recv_raw(head, 7, 1, true), -ECONNRESET);
	assert_int_equal(recv_raw(head, sizeof(head), 1, true), -ECONNRESET);
	/* A header that is no frame, or claims too much. */
	assert_int_equal(recv_raw("GET / HTTP/1.1\r\n", 16, 0, false), -EPROTO);
	head[11] = 0x10; /* a 256 MiB body */
	assert_int_equal(recv_raw(head, sizeof(head), 1, false), -EMSGSIZE);
	/* More descriptors than wanted: all closed. */
	assert_int_equal(recv_raw(whole, sizeof(whole), 3, false), -EPROTO);
	/* And the same frame with as many as wanted is fine. */
	assert_int_equal(recv_raw(whole, sizeof(whole), 1, false), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_big_frame),
		cmocka_unit_test(test_refusals),
	};

	alarm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
