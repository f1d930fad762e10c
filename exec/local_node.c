/* SPDX-License-Identifier: MIT */
/* The sandbox backend's node on this host (local_node.h). */
#include "local_node.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "daemon.h"
#include "clock.h"
#include "mkdirs.h"
#include "spcall.h"

#define START_MS 15000 /* a node that does not answer by then failed */

static int fail(char *err, size_t errlen, int r, const char *what)
{
	snprintf(err, errlen, "%s", what);
	return r;
}

int exec_local_node_paths(char *home, size_t home_cap, char *url,
			  size_t url_cap, char *err, size_t errlen)
{
	const char *h = getenv("TETHER_SANDBOX_HOME");
	const char *x = getenv("XDG_STATE_HOME"), *u = getenv("HOME");
	struct sockaddr_un a;
	int n;

	if (h && *h)
		n = snprintf(home, home_cap, "%s", h);
	else if (x && x[0] == '/')
		n = snprintf(home, home_cap, "%s/tether/sandbox", x);
	else if (u && u[0] == '/')
		n = snprintf(home, home_cap, "%s/.local/state/tether/sandbox",
			     u);
	else
		return fail(err, errlen, -ENOENT,
			    "the sandbox's node: no HOME to keep it in (set "
			    "TETHER_SANDBOX_HOME)");
	if (home[0] != '/')
		return fail(err, errlen, -EINVAL,
			    "TETHER_SANDBOX_HOME: not an absolute path");
	if (n < 0 || (size_t)n >= home_cap ||
	    strlen(home) + strlen("/node.sock") >= sizeof(a.sun_path)) {
		snprintf(err, errlen,
			 "the sandbox's node: %s/node.sock is too long for a "
			 "unix socket (set TETHER_SANDBOX_HOME to a shorter "
			 "directory)",
			 home);
		return -ENAMETOOLONG;
	}
	n = snprintf(url, url_cap, "ipc://%s/node.sock", home);
	return n < 0 || (size_t)n >= url_cap
		       ? fail(err, errlen, -ENAMETOOLONG, "url too long")
		       : 0;
}

int exec_local_node_ensure(const char *home, const char *url, char *err,
			   size_t errlen)
{
	const char *env = getenv("TETHER_SANDBOX_IDLE");
	char root[PATH_MAX], log[PATH_MAX], lock[PATH_MAX], idle[32];
	char *argv[] = { "tether", "node", "--listen", (char *)url,
			 "--root", root,   "--view",   "--idle-exit",
			 idle,	   NULL };
	const struct exec_daemon d = {
		.what = "the sandbox's node",
		.exe = "/proc/self/exe",
		.argv = argv,
		.url = url,
		.log = log,
		.lock = lock,
		.start_ms = START_MS,
	};
	int r;

	if (tp_sp_ping(url, 1000) == 0)
		return 0;
	snprintf(root, sizeof(root), "%s/root", home);
	snprintf(log, sizeof(log), "%s/node.log", home);
	snprintf(lock, sizeof(lock), "%s/start.lock", home);
	snprintf(idle, sizeof(idle), "%s", env && *env ? env : "600");
	r = util_mkdirs(root, 0700);
	if (r < 0) {
		snprintf(err, errlen, "the sandbox's node: %s: %s", root,
			 strerror(-r));
		return r;
	}
	return exec_daemon_ensure(&d, err, errlen);
}
