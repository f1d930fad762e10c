/* SPDX-License-Identifier: MIT */
/* One request over one fresh connection, speaking the SP wire format
 * (nng's REQ/REP over ipc:// and tcp://) on a plain socket.
 *
 * For the few places that must not use an nng REQ socket: nng redials and
 * resends after the peer drops the connection, and an nng 1.5 ipc listener
 * stops accepting for good when a peer leaves in the middle of the SP
 * handshake (nanomsg/nng#1518). This always completes the handshake before
 * it sends anything, dials exactly once and never resends. */
#ifndef TETHER_TP_SPCALL_H
#define TETHER_TP_SPCALL_H

#include <stddef.h>
#include <stdint.h>

/* Send frame as one request and wait up to wait_ms for the reply frame,
 * returned in *reply (malloc'd, *reply_len bytes). Returns 0; -ECONNRESET
 * when the peer dropped the connection; -ETIMEDOUT; -EPROTO when the peer
 * does not speak SP REP; or another -errno from dialing. */
int tp_sp_call(const char *url, const uint8_t *frame, size_t len,
	       unsigned wait_ms, uint8_t **reply, size_t *reply_len);

/* A PING (any reply counts) over tp_sp_call: its result. */
int tp_sp_ping(const char *url, unsigned wait_ms);

#endif
