/* SPDX-License-Identifier: MIT */
/* TP frames with descriptors on a local stream socket (fdframe.h). */
#include "fdframe.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int tp_fd_send(int sock, const struct tp_msg *m, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * TP_FD_MAX)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	uint8_t *frame;
	ssize_t len = tp_msg_encode(m, &frame), k;
	size_t off = 0;
	int r = 0;

	if (len < 0)
		return (int)len;
	if (nfds > TP_FD_MAX) {
		free(frame);
		return -EINVAL;
	}
	if (nfds > 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (off < (size_t)len) {
		iov.iov_base = frame + off;
		iov.iov_len = (size_t)len - off;
		k = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = errno == EPIPE ? -ECONNRESET : -errno;
			break;
		}
		off += (size_t)k;
		mh.msg_control = NULL; /* the descriptors went with the first */
		mh.msg_controllen = 0;
	}
	free(frame);
	return r;
}

/* n bytes into p; the descriptors on the way are kept in fds (or closed,
 * with *over set, past maxfds). */
static int recv_all(int sock, void *p, size_t n, int *fds, unsigned *nfds,
		    unsigned maxfds, bool *over)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * TP_FD_MAX)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *c;
	ssize_t k;
	int fd;

	while (n > 0) {
		iov.iov_base = p;
		iov.iov_len = n;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		k = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0;
			     i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			     i++) {
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(int));
				if (*nfds < maxfds) {
					fds[(*nfds)++] = fd;
				} else {
					close(fd);
					*over = true;
				}
			}
		}
		if (mh.msg_flags & MSG_CTRUNC)
			*over = true;
		if (k == 0)
			return -ECONNRESET;
		p = (uint8_t *)p + k;
		n -= (size_t)k;
	}
	return 0;
}

int tp_fd_recv(int sock, uint8_t **frame, size_t *len, int *fds, unsigned *nfds,
	       unsigned maxfds)
{
	uint8_t head[TP_HEADER_SIZE], *buf = NULL;
	bool over = false;
	uint32_t body;
	int r;

	*frame = NULL;
	*len = 0;
	*nfds = 0;
	r = recv_all(sock, head, sizeof(head), fds, nfds, maxfds, &over);
	if (r >= 0 && memcmp(head, TP_MAGIC, 4) != 0)
		r = -EPROTO;
	if (r >= 0) {
		body = (uint32_t)head[8] | (uint32_t)head[9] << 8 |
		       (uint32_t)head[10] << 16 | (uint32_t)head[11] << 24;
		if (body > TP_FRAME_MAX - TP_HEADER_SIZE)
			r = -EMSGSIZE;
		else if (!(buf = malloc(TP_HEADER_SIZE + body)))
			r = -ENOMEM;
	}
	if (r >= 0) {
		memcpy(buf, head, TP_HEADER_SIZE);
		r = recv_all(sock, buf + TP_HEADER_SIZE, body, fds, nfds,
			     maxfds, &over);
	}
	if (r >= 0 && over)
		r = -EPROTO;
	if (r < 0) {
		free(buf);
		while (*nfds > 0)
			close(fds[--(*nfds)]);
		return r;
	}
	*frame = buf;
	*len = TP_HEADER_SIZE + body;
	return 0;
}
