/* SPDX-License-Identifier: MIT */
/* The relay of tether-ssh: each connection to a local unix socket is
 * carried to a unix socket on the remote (a tether node's) by a channel of
 * one SSH session (direct-streamlocal, OpenSSH's streamlocal forwarding):
 * no port is opened on the remote, and one login serves every command. */
#ifndef TETHER_SSHRELAY_H
#define TETHER_SSHRELAY_H

#include <libssh/libssh.h>

/* Whether a channel to remote_sock opens now (the node listens there). */
int tssh_probe(ssh_session s, const char *remote_sock);

/* Serve listen_fd (bound at path) until no connection has been open for
 * idle_s seconds (0: never), path is another socket now (a proxy started
 * after this one), or the session is lost (-ECONNRESET, logged). 0 when
 * idle or replaced. */
int tssh_relay(ssh_session s, int listen_fd, const char *path,
	       const char *remote_sock, unsigned idle_s);

#endif
