/* SPDX-License-Identifier: MIT */
/* Client side of a link: one REQ socket dialed to a node, and channels (nng
 * contexts) that each carry one request at a time, so a client keeps
 * several requests outstanding (long polls beside control messages). */
#ifndef TETHER_LINK_H
#define TETHER_LINK_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "codec.h"

struct tp_link;
struct tp_chan;

/* tp_link_open: dial url (tcp://, ipc://, tls+tcp://) synchronously, so a
 * node that is not there fails now: -ECONNREFUSED (also for an ipc path
 * that does not exist), -EINVAL / -EHOSTUNREACH (bad URL). An unreachable
 * host takes the kernel's TCP connect timeout. A peer that does not speak
 * SP fails the first call with -EPROTO (on ipc:// and tcp:// the first
 * request goes out without waiting for the peer's handshake).
 * Once the connection is lost, every call on the link fails -ECONNRESET
 * (a command's node has then already killed it), so callers never hang on
 * a dead peer. Returns 0 and *ret. */
int tp_link_open(const char *url, struct tp_link **ret);

/* Close the socket; channels must be closed first. Accepts NULL. */
void tp_link_close(struct tp_link *l);

const char *tp_link_url(const struct tp_link *l);

/* Whether url is tcp:// to a loopback address: 127.0.0.0/8, localhost or
 * [::1]. */
bool tp_url_loopback(const char *url);

/* A channel: thread-confined (one thread uses it at a time), but
 * tp_chan_abort() may be called from any thread. */
int tp_chan_open(struct tp_link *l, struct tp_chan **ret);
void tp_chan_close(struct tp_chan *c);

/* tp_chan_call: send *req, wait for the reply up to timeout_ms, decode it
 * into *reply (views valid until the next call on c or its close).
 * An ERROR reply returns -code with its text in err; other failures:
 * -ETIMEDOUT, -ECONNRESET (link lost), -ECANCELED (aborted), -EPROTO (a
 * malformed reply; err says why), -EPROTONOSUPPORT (node of another
 * version). err (may be NULL) gets one line without the "tether: " prefix. */
int tp_chan_call(struct tp_chan *c, const struct tp_msg *req,
		 struct tp_msg *reply, uint32_t timeout_ms, char *err,
		 size_t errlen);

/* tp_chan_call in two halves, so that a caller keeps requests in flight
 * on several channels (pipelining): tp_chan_begin sends *req (encoded at
 * once: req may go out of scope) and returns while the reply is received;
 * tp_chan_finish waits for it, with tp_chan_call's results. Exactly one
 * finish follows each successful begin. */
int tp_chan_begin(struct tp_chan *c, const struct tp_msg *req,
		  uint32_t timeout_ms);
int tp_chan_finish(struct tp_chan *c, struct tp_msg *reply, char *err,
		   size_t errlen);

/* Abort the call in progress on c (it returns -ECANCELED). Any thread. */
void tp_chan_abort(struct tp_chan *c);

#endif
