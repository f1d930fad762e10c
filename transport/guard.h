/* SPDX-License-Identifier: MIT */
/* Keeps a node's ipc:// listener accepting.
 *
 * nng 1.5 (Debian 12) stops accepting on an ipc listener for good when a
 * peer connects and leaves before the node has written its SP handshake
 * header (the write fails with EPIPE, nng maps it to NNG_ECLOSED, and its
 * listener treats that as "closed, no further action"; nanomsg/nng#1518).
 * Any local process can cause it: a client killed while dialing, a health
 * check doing a bare connect.
 *
 * The guard asks the node a PING over a fresh connection every second
 * (tp_sp_call). When two in a row get no answer within 2 s, it listens
 * afresh on a temporary path
 * and renames that socket over the node's path, so new clients reach a
 * working listener while connections on the old one carry on. The old
 * listener is closed once its last connection has gone (a close unlinks
 * its path, so the live socket's name is kept through a hard link).
 *
 * tcp:// needs no guard: a peer that leaves early makes the node's first
 * write fail with ECONNRESET, which nng's listener retries after. */
#ifndef TETHER_TP_GUARD_H
#define TETHER_TP_GUARD_H

#include <nng/nng.h>

struct tp_guard;

/* Guard listener l of sock, before it starts, listening on url
 * (ipc://PATH). Returns 0 and *ret, or -errno: -ENAMETOOLONG when PATH
 * leaves no room for the temporary names beside it. */
int tp_guard_start(nng_socket sock, nng_listener l, const char *url,
		   struct tp_guard **ret);

/* Feed every NNG_PIPE_EV_ADD_POST and NNG_PIPE_EV_REM_POST of the socket:
 * the guard counts connections per listener. Accepts NULL. */
void tp_guard_pipe_event(struct tp_guard *g, nng_pipe p, nng_pipe_ev ev);

/* Stop probing (before the socket closes, so no listener is made on a
 * closing socket). Pipe events are still taken. Accepts NULL. */
void tp_guard_stop(struct tp_guard *g);

/* Free, after the socket has closed; its listeners went with it. Accepts
 * NULL. */
void tp_guard_free(struct tp_guard *g);

#endif
