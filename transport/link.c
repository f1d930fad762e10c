/* SPDX-License-Identifier: MIT */
/* A link's public face: picks the implementation for a url (link_impl.h)
 * and decodes every reply the same way, whichever carried it. */
#include "link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_impl.h"

/* ipc:// and tcp:// go over splink.c unless TETHER_LINK=nng asks for an
 * nng REQ socket; tls+tcp:// needs nng's TLS. */
static bool use_nng(const char *url)
{
	const char *want = getenv("TETHER_LINK");

	if (strncmp(url, "ipc://", 6) != 0 && strncmp(url, "tcp://", 6) != 0)
		return true;
	return want && strcmp(want, "nng") == 0;
}

int tp_link_open(const char *url, struct tp_link **ret)
{
	char *copy = strdup(url);
	int r;

	if (!copy)
		return -ENOMEM;
	r = use_nng(url) ? tp_nnglink_open(url, ret) : tp_splink_open(url, ret);
	if (r < 0) {
		free(copy);
		return r;
	}
	(*ret)->url = copy;
	return 0;
}

void tp_link_close(struct tp_link *l)
{
	char *url;

	if (!l)
		return;
	url = l->url;
	l->ops->close(l);
	free(url);
}

const char *tp_link_url(const struct tp_link *l)
{
	return l->url;
}

void tp_link_init(struct tp_link *l, const struct tp_link_ops *ops)
{
	l->ops = ops;
	l->chans = NULL;
	pthread_mutex_init(&l->lock, NULL);
}

void tp_link_fini(struct tp_link *l)
{
	pthread_mutex_destroy(&l->lock);
}

int tp_chan_open(struct tp_link *l, struct tp_chan **ret)
{
	int r = l->ops->chan_open(l, ret);

	if (r < 0)
		return r;
	(*ret)->link = l;
	pthread_mutex_lock(&l->lock);
	(*ret)->next = l->chans;
	l->chans = *ret;
	pthread_mutex_unlock(&l->lock);
	return 0;
}

void tp_chan_close(struct tp_chan *c)
{
	struct tp_link *l;

	if (!c)
		return;
	l = c->link;
	pthread_mutex_lock(&l->lock);
	for (struct tp_chan **pp = &l->chans; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	pthread_mutex_unlock(&l->lock);
	l->ops->chan_close(c);
}

void tp_chan_abort(struct tp_chan *c)
{
	c->link->ops->chan_abort(c);
}

int tp_chan_begin(struct tp_chan *c, const struct tp_msg *req,
		  uint32_t timeout_ms)
{
	return c->link->ops->begin(c, req, timeout_ms);
}

int tp_chan_finish(struct tp_chan *c, struct tp_msg *reply, char *err,
		   size_t errlen)
{
	struct tp_decode_err derr = { 0 };
	const uint8_t *frame;
	size_t len;
	int r;

	if (err && errlen)
		err[0] = 0;
	r = c->link->ops->finish(c, &frame, &len);
	if (r < 0)
		return r;
	r = tp_msg_decode(frame, len, reply, &derr);
	if (r == -EPROTONOSUPPORT) {
		if (err)
			snprintf(
				err, errlen,
				"protocol version mismatch: node speaks %u, this client speaks %u",
				derr.peer_version, TP_VERSION);
		return r;
	}
	if (r < 0) {
		if (err)
			snprintf(err, errlen, "malformed reply: %s", derr.what);
		return -EPROTO;
	}
	if (reply->type == TP_ERROR) {
		if (err)
			snprintf(err, errlen, "%.*s",
				 (int)reply->error.message.len,
				 (const char *)reply->error.message.ptr);
		return reply->error.code > 0 ? -reply->error.code : -EIO;
	}
	return 0;
}

int tp_chan_call(struct tp_chan *c, const struct tp_msg *req,
		 struct tp_msg *reply, uint32_t timeout_ms, char *err,
		 size_t errlen)
{
	int r = tp_chan_begin(c, req, timeout_ms);

	if (r < 0) {
		if (err && errlen)
			err[0] = 0;
		return r;
	}
	return tp_chan_finish(c, reply, err, errlen);
}

bool tp_url_loopback(const char *url)
{
	const char *host, *end;
	size_t n;

	if (strncmp(url, "tcp://", 6) != 0)
		return false;
	host = url + 6;
	end = strrchr(host, ':');
	n = end ? (size_t)(end - host) : strlen(host);
	return (n >= 4 && strncmp(host, "127.", 4) == 0) ||
	       (n == 9 && strncmp(host, "localhost", 9) == 0) ||
	       (n == 5 && strncmp(host, "[::1]", 5) == 0);
}
