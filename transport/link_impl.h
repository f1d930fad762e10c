/* SPDX-License-Identifier: MIT */
/* The two client implementations behind link.h: splink.c (the SP wire
 * format on a plain socket, for ipc:// and tcp://) and link_nng.c (an nng
 * REQ socket, for tls+tcp:// and when TETHER_LINK=nng). link.c picks one
 * per url and does what they share: the reply's decoding and errors. */
#ifndef TETHER_TP_LINK_IMPL_H
#define TETHER_TP_LINK_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "link.h"

struct tp_link_ops {
	void (*close)(struct tp_link *l);
	int (*chan_open)(struct tp_link *l, struct tp_chan **ret);
	void (*chan_close)(struct tp_chan *c);
	void (*chan_abort)(struct tp_chan *c);
	/* tp_chan_begin's contract. */
	int (*begin)(struct tp_chan *c, const struct tp_msg *req,
		     uint32_t timeout_ms);
	/* Wait for the reply of the call begun on c: its frame, valid until
	 * the next begin or the close of c, or tp_chan_finish's errors
	 * before decoding (-ETIMEDOUT, -ECONNRESET, -ECANCELED). */
	int (*finish)(struct tp_chan *c, const uint8_t **frame, size_t *len);
};

/* The head of every implementation's link and channel. link.c keeps the
 * list of open channels; an implementation walks it under lock, which also
 * guards whatever per-call state it keeps. */
struct tp_link {
	const struct tp_link_ops *ops;
	char *url;
	pthread_mutex_t lock;
	struct tp_chan *chans;
};

struct tp_chan {
	struct tp_link *link;
	struct tp_chan *next;
};

/* For an implementation's open and close: the head's lock and list. */
void tp_link_init(struct tp_link *l, const struct tp_link_ops *ops);
void tp_link_fini(struct tp_link *l);

/* Open a link of each kind; url is kept by the caller until
 * tp_link_close (link.c owns the copy in l->url). */
int tp_splink_open(const char *url, struct tp_link **ret);
int tp_nnglink_open(const char *url, struct tp_link **ret);

#endif
