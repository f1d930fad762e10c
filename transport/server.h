/* SPDX-License-Identifier: MIT */
/* Node side of a link: a REP socket served by a pool of nng contexts, each
 * an aio state machine (receive, hand to the handler, reply), so a request
 * can be held (long poll) without holding a thread. */
#ifndef TETHER_SERVER_H
#define TETHER_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"

struct tp_server;
struct tp_req; /* one received request, owed exactly one reply */

/* Called on an nng thread for each well-formed request; msg borrows the
 * request frame, valid until the reply is sent. The handler must end the
 * request with exactly one tp_req_reply*() call, now or later, from any
 * thread. Frames that do not decode are answered by the server itself. */
typedef void (*tp_handler_fn)(struct tp_req *req, const struct tp_msg *msg,
			      void *opaque);

/* Called on an nng thread when a client connection closes. */
typedef void (*tp_pipe_gone_fn)(uint32_t pipe_id, void *opaque);

/* Listen on url and start serving. Returns 0 and *ret, or -errno:
 * -EADDRINUSE, -EADDRNOTAVAIL, -EINVAL (bad URL), -ENOMEM. */
int tp_server_new(const char *url, tp_handler_fn handler, tp_pipe_gone_fn gone,
		  void *opaque, struct tp_server **ret);

/* As tp_server_new, on a tls+tcp:// url with tls (an nng_tls_config *,
 * held by the server). */
int tp_server_new_tls(const char *url, void *tls, tp_handler_fn handler,
		      tp_pipe_gone_fn gone, void *opaque,
		      struct tp_server **ret);

/* Whether the request came over TLS from a peer whose certificate the
 * listener's authority verified (a paired client). */
bool tp_req_verified(const struct tp_req *r);

/* The URL actually listened on: a tcp port 0 replaced by the port the
 * kernel chose. Valid for the server's lifetime. */
const char *tp_server_url(const struct tp_server *s);

/* Stop listening, cancel held requests, free. Accepts NULL. Call with no
 * lock held that the handler takes. */
void tp_server_free(struct tp_server *s);

/* The connection a request came in on (for tp_pipe_gone_fn matching). */
uint32_t tp_req_pipe(const struct tp_req *r);

/* Send the reply and release r. A reply that cannot be encoded turns into
 * an ERROR reply naming why. */
void tp_req_reply(struct tp_req *r, const struct tp_msg *m);

void tp_req_reply_ok(struct tp_req *r, uint64_t value);

/* ERROR reply with a positive errno and a one-line printf message. */
void tp_req_reply_error(struct tp_req *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
