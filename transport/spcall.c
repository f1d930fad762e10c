/* SPDX-License-Identifier: MIT */
/* SP over a plain socket: the 8-byte header each way ("\0SP\0", protocol
 * number big-endian, two zero bytes), then per message an 8-byte big-endian
 * length (on ipc preceded by a message-type byte 1) and the payload; a REQ
 * payload starts with a 4-byte request id whose top bit is set, which the
 * REP peer echoes at the start of its reply. */
#include "spcall.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "codec.h"

#define SP_REQ0	  0x30
#define SP_REP0	  0x31
#define SP_REQ_ID 0x80000001u

static int dial_ipc(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int dial_tcp(const char *hostport)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	const char *colon = strrchr(hostport, ':');
	char host[256];
	size_t n;
	int fd, r;

	if (!colon || (n = (size_t)(colon - hostport)) >= sizeof(host))
		return -EINVAL;
	memcpy(host, hostport, n);
	host[n] = '\0';
	/* [::1]:port */
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai)
		return -EHOSTUNREACH;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
	} else if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		r = -errno;
		close(fd);
	} else {
		r = fd;
	}
	freeaddrinfo(ai);
	return r;
}

int tp_sp_dial(const char *url)
{
	if (strncmp(url, "ipc://", 6) == 0)
		return dial_ipc(url + 6);
	if (strncmp(url, "tcp://", 6) == 0)
		return dial_tcp(url + 6);
	return -EPROTONOSUPPORT;
}

/* Move n bytes out (send) or in (recv) before deadline (util_now_ms):
 * 0, -ETIMEDOUT, -ECONNRESET when the peer closed, or -errno. */
static int move_all(int fd, bool out, void *buf, size_t n, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = out ? POLLOUT : POLLIN };
	uint8_t *p = buf;
	int64_t now;
	ssize_t k;

	while (n > 0) {
		now = util_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)(deadline - now)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		k = out ? send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT)
			: recv(fd, p, n, MSG_DONTWAIT);
		if (k == 0)
			return -ECONNRESET;
		if (k < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void put_be(uint8_t *p, uint64_t v, unsigned width)
{
	for (unsigned i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, unsigned width)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < width; i++)
		v = v << 8 | p[i];
	return v;
}

/* The reply's length-prefixed payload, request id checked and dropped. */
static int read_reply(int fd, bool ipc, int64_t deadline, uint8_t **reply,
		      size_t *reply_len)
{
	size_t hlen = ipc ? 9 : 8;
	uint8_t head[9], id[4], *body = NULL;
	uint64_t n;
	int r;

	r = move_all(fd, false, head, hlen, deadline);
	if (r < 0)
		return r;
	n = get_be(head + hlen - 8, 8);
	if ((ipc && head[0] != 1) || n < 4 ||
	    n > 4 + 2 * (uint64_t)TP_FRAME_MAX)
		return -EPROTO;
	r = move_all(fd, false, id, 4, deadline);
	if (r == 0 && get_be(id, 4) != SP_REQ_ID)
		r = -EPROTO;
	if (r == 0 && !(body = malloc(n - 4 ? (size_t)n - 4 : 1)))
		r = -ENOMEM;
	if (r == 0)
		r = move_all(fd, false, body, (size_t)n - 4, deadline);
	if (r < 0) {
		free(body);
		return r;
	}
	*reply = body;
	*reply_len = (size_t)n - 4;
	return 0;
}

int tp_sp_call(const char *url, const uint8_t *frame, size_t len,
	       unsigned wait_ms, uint8_t **reply, size_t *reply_len)
{
	static const uint8_t mine[8] = { 0, 'S', 'P', 0, 0, SP_REQ0, 0, 0 };
	int64_t deadline = util_now_ms() + wait_ms;
	bool ipc = strncmp(url, "ipc://", 6) == 0;
	size_t hlen = ipc ? 9 : 8;
	uint8_t peer[8], head[9 + 4];
	int fd, r;

	fd = tp_sp_dial(url);
	if (fd < 0)
		return fd;
	/* The whole handshake, both ways, before anything else. */
	r = move_all(fd, true, (void *)mine, sizeof(mine), deadline);
	if (r == 0)
		r = move_all(fd, false, peer, sizeof(peer), deadline);
	if (r == 0 &&
	    (memcmp(peer, "\0SP\0", 4) != 0 || get_be(peer + 4, 2) != SP_REP0))
		r = -EPROTO;
	if (r == 0) {
		head[0] = 1;
		put_be(head + hlen - 8, len + 4, 8);
		put_be(head + hlen, SP_REQ_ID, 4);
		r = move_all(fd, true, head, hlen + 4, deadline);
	}
	if (r == 0)
		r = move_all(fd, true, (void *)frame, len, deadline);
	if (r == 0)
		r = read_reply(fd, ipc, deadline, reply, reply_len);
	close(fd);
	return r;
}

int tp_sp_ping(const char *url, unsigned wait_ms)
{
	struct tp_msg ping = { .type = TP_PING };
	uint8_t *frame = NULL, *reply = NULL;
	size_t len = 0;
	ssize_t n = tp_msg_encode(&ping, &frame);
	int r;

	if (n < 0)
		return (int)n;
	r = tp_sp_call(url, frame, (size_t)n, wait_ms, &reply, &len);
	free(frame);
	free(reply);
	return r;
}
