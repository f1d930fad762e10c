/* SPDX-License-Identifier: MIT */
/* The client side of tls+tcp: this user's key and the nodes it paired
 * with, under $TETHER_TLS_HOME, else $XDG_CONFIG_HOME/tether/tls, else
 * ~/.config/tether/tls: key.pem, and nodes/HOST_PORT/{ca,cert}.pem. */
#ifndef TETHER_TLSCLIENT_H
#define TETHER_TLSCLIENT_H

#include <stdbool.h>
#include <stddef.h>

/* The directory, into out. 0, or -ENOENT (no HOME), -ENAMETOOLONG. */
int tp_tls_home(char *out, size_t cap);

/* Where url's pins live, into out. 0, or -EINVAL (not tls+tcp://). */
int tp_tls_node_dir(const char *url, char *out, size_t cap);

/* Links made from now on skip the pins: pairing, which proves the node by
 * the token instead. */
void tp_tls_pairing(bool on);

/* A client TLS config (nng_tls_config *) for url: pinned (the node's
 * authority trusted, nothing else; this client's certificate shown) when
 * it paired with the node and not pairing now; else unverified, which a
 * node lets no further than pairing. *paired says which. 0, or -errno. */
int tp_tls_client_config(const char *url, void **ret, bool *paired);

#endif
