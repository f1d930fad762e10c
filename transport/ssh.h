/* SPDX-License-Identifier: MIT */
/* An SSH session with libssh for the ssh backend's proxy (tether-ssh):
 * connect with a timeout, the server's key checked against a known_hosts
 * file (strictly, or accepting a new host once), key authentication, and
 * commands run on the remote through its shell. Only tether-ssh links
 * this: libssh has no static archive tether could be linked with. */
#ifndef TETHER_SSH_H
#define TETHER_SSH_H

#include <libssh/libssh.h>
#include <stdbool.h>
#include <stddef.h>

struct tssh_opts {
	const char *host;
	unsigned port;		 /* 0: 22 */
	const char *user;	 /* NULL: this user's name */
	const char *key;	 /* a private key file; NULL: the agent and
				  * ~/.ssh/id_* */
	const char *known_hosts; /* NULL: ~/.ssh/known_hosts */
	bool accept_new;	 /* an unknown host is added, not refused */
	unsigned timeout_s;	 /* connect; 0: 10 */
};

/* Connected and authenticated: 0 and *ret, or -errno with one line in
 * err naming the host and the cause ("host key of 127.0.0.1:2222 does not
 * match the one in FILE", "authentication as root refused", ...). */
int tssh_connect(const struct tssh_opts *o, ssh_session *ret, char *err,
		 size_t errlen);

/* Run cmd on the remote, with n bytes of in as its stdin (then EOF),
 * collecting up to cap - 1 bytes of its stdout in out (NUL-ended; the rest
 * is read and dropped). Its exit status (0-255), or -errno with err. */
int tssh_run(ssh_session s, const char *cmd, const void *in, size_t n,
	     char *out, size_t cap, char *err, size_t errlen);

/* Close and free. Accepts NULL. */
void tssh_close(ssh_session s);

#endif
