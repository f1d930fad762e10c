/* SPDX-License-Identifier: MIT */
/* Backend "sandbox": commands run in the namespace sandbox of the local
 * node (local_node.h), which tether starts when it is not running; the
 * workspace is the node's copy-on-write view of the agent's directory, or
 * the directory itself bound read-only or read-write. The exec protocol
 * client is the node backend's. */
#include "backend.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include "local_node.h"
#include "log.h"

static int sandbox_prepare(struct exec_backend *b)
{
	char home[PATH_MAX], url[PATH_MAX + 16], err[512];
	int r = exec_local_node_paths(home, sizeof(home), url, sizeof(url), err,
				      sizeof(err));

	if (r == 0)
		r = exec_local_node_ensure(home, url, err, sizeof(err));
	if (r < 0) {
		log_error("sandbox failed to start: %s", err);
		return r;
	}
	return exec_node_prepare(b);
}

static int sandbox_run(struct exec_backend *b, const struct exec_spec *spec,
		       const struct exec_io *io, struct exec_result *res)
{
	struct exec_sandbox_req plain = { .mode = EXEC_WS_COW };
	struct exec_spec s = *spec;

	/* Never without one: that is what this backend is. */
	if (!s.sandbox)
		s.sandbox = &plain;
	return exec_node_run(b, &s, io, res);
}

const struct exec_backend_ops exec_backend_sandbox_ops = {
	.type = "sandbox",
	.caps = EXEC_CAP_TTY | EXEC_CAP_DETACH | EXEC_CAP_REMOTE |
		EXEC_CAP_SANDBOX | EXEC_CAP_LOCAL,
	.prepare = sandbox_prepare,
	.run = sandbox_run,
	.release = exec_node_release,
	.health = exec_node_health,
};
