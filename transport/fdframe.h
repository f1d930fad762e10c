/* SPDX-License-Identifier: MIT */
/* TP frames (codec.h) on a stream socket between two processes of this
 * host, with file descriptors passed alongside (SCM_RIGHTS): the channel
 * between tether and a helper it starts itself (tether-plugin). Both ends
 * are blocking sockets; a caller that must also watch something else polls
 * before it receives. */
#ifndef TETHER_TP_FDFRAME_H
#define TETHER_TP_FDFRAME_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

/* The most descriptors one frame carries. */
#define TP_FD_MAX 4u

/* Encode m and send all of it, the nfds descriptors (TP_FD_MAX at most)
 * attached to its first byte. 0, -ECONNRESET when the peer is gone, or
 * tp_msg_encode's and sendmsg's -errno. */
int tp_fd_send(int sock, const struct tp_msg *m, const int *fds, unsigned nfds);

/* Receive one whole frame into *frame (malloc'd, for tp_msg_decode) and
 * *len, the descriptors that came with it into fds (close-on-exec) and
 * their count into *nfds. 0; -ECONNRESET when the peer closed (before or
 * within the frame); -EPROTO for a header that is no frame, or more than
 * maxfds descriptors (all closed); -EMSGSIZE for a frame over
 * TP_FRAME_MAX; -ENOMEM; or recvmsg's -errno. Nothing is left open on
 * failure. */
int tp_fd_recv(int sock, uint8_t **frame, size_t *len, int *fds, unsigned *nfds,
	       unsigned maxfds);

#endif
