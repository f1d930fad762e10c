/* SPDX-License-Identifier: MIT */
/* A helper process of this user that tether starts in the background when
 * nothing answers at its url, and that stops itself once idle: the sandbox
 * backend's local node, the ssh backend's proxy. */
#ifndef TETHER_DAEMON_H
#define TETHER_DAEMON_H

#include <stddef.h>

struct exec_daemon {
	const char *what;  /* for errors: "the sandbox's node" */
	const char *exe;   /* the program */
	char *const *argv; /* its argv, NULL-terminated */
	const char *url;   /* it answers SP pings here once up */
	const char *log;   /* its stdout and stderr, appended */
	const char *lock;  /* held while one caller starts it */
	unsigned start_ms; /* it is up within this, or failed */
};

/* Make sure d answers at d->url: started (detached: a session of its own,
 * stdin /dev/null) unless it does; two callers at once start one. 0, or
 * -errno with err: "WHAT did not start: LINE", LINE the last its log got
 * (without a "tether: " it begins with). */
int exec_daemon_ensure(const struct exec_daemon *d, char *err, size_t errlen);

#endif
