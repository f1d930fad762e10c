/* SPDX-License-Identifier: MIT */
/* Frames encoded straight into nng messages, shared by both link ends. */
#ifndef TETHER_NNGMSG_H
#define TETHER_NNGMSG_H

#include <nng/nng.h>

#include "codec.h"

/* Encode *m into a new nng message (no intermediate buffer). Returns 0 and
 * *ret (owned by the caller until sent), or the tp_msg_size/tp_msg_write
 * errors, or -ENOMEM. */
int tp_msg_to_nng(const struct tp_msg *m, nng_msg **ret);

#endif
