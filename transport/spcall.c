/* SPDX-License-Identifier: MIT */
#include "spcall.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "codec.h"
#include "spwire.h"

#define SP_REQ_ID (TP_SP_ID_BIT | 1u)

/* The reply's payload, request id checked and dropped. */
static int read_reply(int fd, bool ipc, int64_t deadline, uint8_t **reply,
		      size_t *reply_len)
{
	uint8_t head[TP_SP_HEAD_MAX], id[TP_SP_ID_SIZE], *body = NULL;
	int64_t n;
	int r;

	r = tp_sp_move(fd, false, head, tp_sp_head_len(ipc), deadline);
	if (r < 0)
		return r;
	n = tp_sp_get_head(head, ipc);
	if (n < TP_SP_ID_SIZE || n > TP_SP_ID_SIZE + 2 * (int64_t)TP_FRAME_MAX)
		return -EPROTO;
	n -= TP_SP_ID_SIZE;
	r = tp_sp_move(fd, false, id, sizeof(id), deadline);
	if (r == 0 && tp_sp_get_be(id, TP_SP_ID_SIZE) != SP_REQ_ID)
		r = -EPROTO;
	if (r == 0 && !(body = malloc(n ? (size_t)n : 1)))
		r = -ENOMEM;
	if (r == 0)
		r = tp_sp_move(fd, false, body, (size_t)n, deadline);
	if (r < 0) {
		free(body);
		return r;
	}
	*reply = body;
	*reply_len = (size_t)n;
	return 0;
}

int tp_sp_call(const char *url, const uint8_t *frame, size_t len,
	       unsigned wait_ms, uint8_t **reply, size_t *reply_len)
{
	int64_t deadline = util_now_ms() + wait_ms;
	bool ipc = tp_sp_is_ipc(url);
	uint8_t head[TP_SP_HEAD_MAX + TP_SP_ID_SIZE];
	size_t hlen;
	int fd, r;

	fd = tp_sp_dial(url);
	if (fd < 0)
		return fd;
	/* The whole handshake, both ways, before anything else. */
	r = tp_sp_handshake(fd, deadline);
	if (r == 0) {
		hlen = tp_sp_put_head(head, ipc, len + TP_SP_ID_SIZE);
		tp_sp_put_be(head + hlen, SP_REQ_ID, TP_SP_ID_SIZE);
		r = tp_sp_move(fd, true, head, hlen + TP_SP_ID_SIZE, deadline);
	}
	if (r == 0)
		r = tp_sp_move(fd, true, (void *)frame, len, deadline);
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
