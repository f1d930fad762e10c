/* SPDX-License-Identifier: MIT */
/* The node the sandbox backend runs commands on: a tether node of this
 * user on this host, with views, that tether starts when nothing answers
 * at its socket and that stops itself once idle. Nothing to install or
 * run first: this is the embedded default. */
#ifndef TETHER_LOCAL_NODE_H
#define TETHER_LOCAL_NODE_H

#include <stddef.h>

/* Stop after this long without a request while no command runs. */
#define EXEC_LOCAL_IDLE_S 600

/* Where it lives: $TETHER_SANDBOX_HOME, else $XDG_STATE_HOME/tether/
 * sandbox, else ~/.local/state/tether/sandbox; its socket is HOME/node.sock
 * (url "ipc://HOME/node.sock") and its root HOME/root. 0, or -errno with
 * err: -ENAMETOOLONG when the socket's path does not fit a unix socket
 * address (set TETHER_SANDBOX_HOME to a shorter one). */
int exec_local_node_paths(char *home, size_t home_cap, char *url,
			  size_t url_cap, char *err, size_t errlen);

/* Make sure it answers at url: started (tether node --listen URL --root
 * HOME/root --view --idle-exit, in the background, its log in
 * HOME/node.log) unless it does; two callers at once start one node.
 * $TETHER_SANDBOX_IDLE (seconds) replaces the idle time. 0, or -errno
 * with err naming the cause (the log's last line when it did not start). */
int exec_local_node_ensure(const char *home, const char *url, char *err,
			   size_t errlen);

#endif
