/* SPDX-License-Identifier: MIT */
/* A REP server on a plain unix socket (ipc://), for a single-threaded
 * poll loop that answers few requests: the SP wire of spwire.h, no
 * threads, and nothing at all while idle. A watcher's barrier socket uses
 * it; a node, which serves many clients at once, uses nng (server.h).
 * Requests are read whole when their connection is readable, for at most
 * TP_SPREP_READ_MS, so a peer that stalls mid-request costs the loop that
 * long once and loses its connection. */
#ifndef TETHER_TP_SPREP_H
#define TETHER_TP_SPREP_H

#include <stdint.h>

#include "codec.h"

#define TP_SPREP_READ_MS 200
#define TP_SPREP_CONNS	 64 /* connections at once; more are closed */

struct tp_sprep;
struct tp_sprep_req; /* a request to answer, once */

/* Listen on url (ipc://PATH), replacing a socket file nobody listens on.
 * 0 and *ret, or -errno: -EPROTONOSUPPORT for another scheme. */
int tp_sprep_listen(const char *url, struct tp_sprep **ret);

/* Poll it for POLLIN: readable when a connection or a request waits. */
int tp_sprep_fd(const struct tp_sprep *s);

/* Called with each decoded request; answer req with tp_sprep_reply() or
 * tp_sprep_reply_error(), now or later. A frame that does not decode gets
 * its error reply here. */
typedef void (*tp_sprep_fn)(void *opaque, struct tp_sprep_req *req,
			    const struct tp_msg *m);

/* Accept and read what is ready, handing requests to fn. */
void tp_sprep_serve(struct tp_sprep *s, tp_sprep_fn fn, void *opaque);

/* Answer and free req (its connection may have gone: then just free). */
void tp_sprep_reply(struct tp_sprep_req *req, const struct tp_msg *m);
void tp_sprep_reply_error(struct tp_sprep_req *req, int code, const char *fmt,
			  ...) __attribute__((format(printf, 3, 4)));

/* Close the listener and every connection; requests not answered are
 * freed. The socket file is removed. Accepts NULL. */
void tp_sprep_free(struct tp_sprep *s);

#endif
