/* SPDX-License-Identifier: MIT */
/* Writeback "sync" (docs/config.md): after a command of an agent ran in
 * its workspace's view, its changes go into the agent's directory (tether
 * apply) and that is synced (tether sync), so the agent sees them and the
 * view's upper layer lets go of them. Conflicts stay where they are, named
 * on stderr, as tether apply does. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "log.h"

/* Run a tether subcommand in this process, its stdout on stderr: the
 * command's own stdout stays the command's. Its exit code. */
static int run(int (*cmd)(int, char **), char **argv)
{
	int argc = 0, saved, code;

	while (argv[argc])
		argc++;
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	if (saved < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
		if (saved >= 0)
			close(saved);
		return CLI_EXIT_FAILURE;
	}
	optind = 0; /* glibc: start getopt afresh */
	code = cmd(argc, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	return code;
}

int cli_writeback(const struct exec_config *cfg, const char *agent,
		  const char *workspace)
{
	const char *dir, *url, *ws, *domain;
	enum exec_writeback mode;
	char err[512];
	int a, s;

	if (exec_router_writeback(cfg, agent, &mode, &dir, err, sizeof(err)) <
		    0 ||
	    mode != EXEC_WRITEBACK_SYNC)
		return 0;
	if (exec_router_workspace(cfg, agent, &url, &ws, &domain, err,
				  sizeof(err)) < 0) {
		log_error("writeback: %s", err);
		return -EINVAL;
	}
	if (strcmp(ws, workspace) != 0)
		return 0; /* not the agent's own workspace: nowhere to write */
	if (!dir) {
		log_error("writeback: agent %s: the config gives it no \"dir\" "
			  "to write its changes to",
			  agent);
		return -EINVAL;
	}
	{
		char *apply[] = { "apply",	 "--node",   (char *)url,
				  "--workspace", (char *)ws, (char *)dir,
				  NULL };
		char *sync[] = { "sync",
				 (char *)dir,
				 "--node",
				 (char *)url,
				 "--workspace",
				 (char *)ws,
				 domain ? "--domain" : NULL,
				 (char *)domain,
				 NULL };

		a = run(cli_apply, apply);
		if (a != 0 && a != 1)
			return -EIO;
		s = run(cli_sync, sync);
	}
	if (s != 0)
		return -EIO;
	return a; /* 1: conflicts, said */
}
