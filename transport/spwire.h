/* SPDX-License-Identifier: MIT */
/* The SP wire format (nng's REQ/REP over ipc:// and tcp://) on a plain
 * socket: the 8-byte header each way ("\0SP\0", protocol number big-endian,
 * two zero bytes), then per message an 8-byte big-endian length (on ipc
 * preceded by a message-type byte 1) and the payload. A REQ payload starts
 * with a 4-byte request id whose top bit is set, which the REP peer echoes
 * at the start of its reply. */
#ifndef TETHER_TP_SPWIRE_H
#define TETHER_TP_SPWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes before a message's payload, and before the request id in it. */
#define TP_SP_HEAD_MAX 9
#define TP_SP_ID_SIZE  4
#define TP_SP_ID_BIT   0x80000000u

/* A connected socket to an ipc://PATH or tcp://HOST:PORT url (TCP_NODELAY
 * on tcp), or -errno: -ECONNREFUSED or -ENOENT when nothing listens there,
 * -EINVAL for a url without a port, -EHOSTUNREACH for a host that does not
 * resolve, -EPROTONOSUPPORT for another scheme. */
int tp_sp_dial(const char *url);

/* Whether url is ipc:// (its messages carry the type byte). */
bool tp_sp_is_ipc(const char *url);

/* Move n bytes out (send) or in (recv) before deadline (util_now_ms), with
 * poll and MSG_DONTWAIT so a blocking socket works too: 0, -ETIMEDOUT,
 * -ECONNRESET when the peer closed, or -errno. */
int tp_sp_move(int fd, bool out, void *buf, size_t n, int64_t deadline);

#define TP_SP_HEADER_SIZE 8
#define TP_SP_REQ0	  0x30 /* the protocol numbers of REQ and REP */
#define TP_SP_REP0	  0x31

/* The header of an SP socket of protocol proto. */
void tp_sp_header(uint8_t h[TP_SP_HEADER_SIZE], unsigned proto);
/* Whether a peer's header is that of protocol proto: 0 or -EPROTO. */
int tp_sp_check_header_of(const uint8_t peer[TP_SP_HEADER_SIZE],
			  unsigned proto);

/* The whole handshake as a REQ peer, both ways, before deadline: 0,
 * -EPROTO when the peer is not an SP REP socket, or tp_sp_move's errors. */
int tp_sp_handshake(int fd, int64_t deadline);

/* Its halves, for a peer that sends before the reply header is in: our
 * header (tp_sp_move's results), and the check of the peer's (0 or
 * -EPROTO). */
int tp_sp_send_header(int fd, int64_t deadline);
int tp_sp_check_header(const uint8_t peer[TP_SP_HEADER_SIZE]);

/* The message head for a payload of len bytes (request id included) into
 * head: its length, 8 or 9. */
size_t tp_sp_put_head(uint8_t *head, bool ipc, uint64_t len);

/* The payload length from a head of tp_sp_head_len(ipc) bytes, or -EPROTO
 * when the type byte is wrong. */
int64_t tp_sp_get_head(const uint8_t *head, bool ipc);

static inline size_t tp_sp_head_len(bool ipc)
{
	return ipc ? 9 : 8;
}

void tp_sp_put_be(uint8_t *p, uint64_t v, unsigned width);
uint64_t tp_sp_get_be(const uint8_t *p, unsigned width);

#endif
