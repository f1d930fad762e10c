/* SPDX-License-Identifier: MIT */
#include "spwire.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"

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
	int fd, r, one = 1;

	if (!colon || !colon[1] ||
	    (n = (size_t)(colon - hostport)) >= sizeof(host))
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
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		r = fd;
	}
	freeaddrinfo(ai);
	return r;
}

bool tp_sp_is_ipc(const char *url)
{
	return strncmp(url, "ipc://", 6) == 0;
}

int tp_sp_dial(const char *url)
{
	if (tp_sp_is_ipc(url))
		return dial_ipc(url + 6);
	if (strncmp(url, "tcp://", 6) == 0)
		return dial_tcp(url + 6);
	return -EPROTONOSUPPORT;
}

int tp_sp_move(int fd, bool out, void *buf, size_t n, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = out ? POLLOUT : POLLIN };
	uint8_t *p = buf;
	int64_t now;
	ssize_t k;

	while (n > 0) {
		k = out ? send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT)
			: recv(fd, p, n, MSG_DONTWAIT);
		if (k == 0)
			return -ECONNRESET;
		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (errno == EPIPE)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		now = util_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return -errno;
	}
	return 0;
}

void tp_sp_put_be(uint8_t *p, uint64_t v, unsigned width)
{
	for (unsigned i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

uint64_t tp_sp_get_be(const uint8_t *p, unsigned width)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < width; i++)
		v = v << 8 | p[i];
	return v;
}

void tp_sp_header(uint8_t h[TP_SP_HEADER_SIZE], unsigned proto)
{
	memcpy(h, "\0SP\0", 4);
	tp_sp_put_be(h + 4, proto, 2);
	h[6] = h[7] = 0;
}

int tp_sp_send_header(int fd, int64_t deadline)
{
	uint8_t mine[TP_SP_HEADER_SIZE];

	tp_sp_header(mine, TP_SP_REQ0);
	return tp_sp_move(fd, true, mine, sizeof(mine), deadline);
}

int tp_sp_check_header_of(const uint8_t peer[TP_SP_HEADER_SIZE], unsigned proto)
{
	return memcmp(peer, "\0SP\0", 4) != 0 ||
			       tp_sp_get_be(peer + 4, 2) != proto
		       ? -EPROTO
		       : 0;
}

int tp_sp_check_header(const uint8_t peer[TP_SP_HEADER_SIZE])
{
	return tp_sp_check_header_of(peer, TP_SP_REP0);
}

int tp_sp_handshake(int fd, int64_t deadline)
{
	uint8_t peer[TP_SP_HEADER_SIZE];
	int r = tp_sp_send_header(fd, deadline);

	if (r == 0)
		r = tp_sp_move(fd, false, peer, sizeof(peer), deadline);
	return r < 0 ? r : tp_sp_check_header(peer);
}

size_t tp_sp_put_head(uint8_t *head, bool ipc, uint64_t len)
{
	size_t hlen = tp_sp_head_len(ipc);

	head[0] = 1;
	tp_sp_put_be(head + hlen - 8, len, 8);
	return hlen;
}

int64_t tp_sp_get_head(const uint8_t *head, bool ipc)
{
	uint64_t n;

	if (ipc && head[0] != 1)
		return -EPROTO;
	n = tp_sp_get_be(head + tp_sp_head_len(ipc) - 8, 8);
	return n > INT64_MAX ? -EPROTO : (int64_t)n;
}
