/* SPDX-License-Identifier: MIT */
/* Backend "node": commands run on a tether node reached by URL, through
 * the exec protocol client. */
#include "backend.h"

#include <errno.h>

#include "remote.h"

int exec_node_prepare(struct exec_backend *b)
{
	struct exec_remote *r;
	int e = exec_remote_open(b->url, &r);

	if (e < 0)
		return e;
	b->priv = r;
	return 0;
}

int exec_node_run(struct exec_backend *b, const struct exec_spec *spec,
		  const struct exec_io *io, struct exec_result *res)
{
	if (spec->detach)
		return exec_remote_start(b->priv, spec, &res->id);
	return exec_remote_run(b->priv, spec, io, res);
}

void exec_node_release(struct exec_backend *b)
{
	exec_remote_close(b->priv);
	b->priv = NULL;
}

static void ignore_entry(const struct tp_exec_entry *e, void *opaque)
{
}

int exec_node_health(struct exec_backend *b)
{
	return b->priv ? exec_remote_list(b->priv, ignore_entry, NULL)
		       : -ENOTCONN;
}

const struct exec_backend_ops exec_backend_node_ops = {
	.type = "node",
	.caps = EXEC_CAP_TTY | EXEC_CAP_DETACH | EXEC_CAP_REMOTE |
		EXEC_CAP_SANDBOX,
	.prepare = exec_node_prepare,
	.run = exec_node_run,
	.release = exec_node_release,
	.health = exec_node_health,
};
