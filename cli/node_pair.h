/* SPDX-License-Identifier: MIT */
/* A node's tls+tcp: its authority (ROOT/.tls), the listener's TLS config,
 * one-time pairing tokens (tether node pair) and the PAIR request that
 * spends one (docs/protocol.md, "Pairing"). */
#ifndef TETHER_NODE_PAIR_H
#define TETHER_NODE_PAIR_H

#include <stddef.h>

#include "codec.h"
#include "server.h"

#define NODE_PAIR_TTL_S 600 /* a token is good this long */

struct node_tls;

/* The authority of the node at root (made on first use) and a server TLS
 * config that verifies clients against it when they have a certificate
 * (paired) and lets the others in to pair. 0 and *ret, or -errno with
 * err. */
int node_tls_open(const char *root, struct node_tls **ret, char *err,
		  size_t errlen);
/* The config for tp_server_new_tls. */
void *node_tls_config(struct node_tls *t);
void node_tls_free(struct node_tls *t);

/* Answer a PAIR: the token spent (whatever the outcome), a certificate for
 * the client's key when it proves the token. */
void node_pair_handle(struct tp_req *req, const struct tp_msg *msg,
		      struct node_tls *t);

/* tether node pair --root DIR [--ttl S]: print a new one-time token. */
int cli_node_pair(int argc, char **argv);

#endif
