/* SPDX-License-Identifier: MIT */
/* An agent's directory around a command in its workspace (tether exec
 * --agent ID --workspace ITS_WORKSPACE, when the config gives it a "dir"):
 * before, the barrier: the directory is synced, so the command sees every
 * edit made before it started; after, writeback "sync" (docs/config.md):
 * the command's changes go into the directory (tether apply) and that is
 * synced, so the agent sees them and the view's upper layer lets go of
 * them. Conflicts stay where they are, named on stderr, as tether apply
 * does. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "source.h"

/* The longest a barrier waits for a watcher to commit what changed. */
#define BARRIER_MS 60000

/* Run a tether subcommand in this process, its stdout on stderr (or
 * nowhere, quiet): the command's own stdout stays the command's. Its
 * errors still go to stderr. Its exit code. */
static int run(int (*cmd)(int, char **), char **argv, bool quiet)
{
	int argc = 0, saved, code, to;

	while (argv[argc])
		argc++;
	fflush(stdout);
	to = quiet ? open("/dev/null", O_WRONLY | O_CLOEXEC) : STDERR_FILENO;
	saved = to < 0 ? -1 : dup(STDOUT_FILENO);
	if (saved < 0 || dup2(to, STDOUT_FILENO) < 0) {
		if (saved >= 0)
			close(saved);
		if (quiet && to >= 0)
			close(to);
		return CLI_EXIT_FAILURE;
	}
	if (quiet)
		close(to);
	optind = 0; /* glibc: start getopt afresh */
	code = cmd(argc, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	return code;
}

/* The agent's node, workspace, domain and dir, when the command runs in
 * the agent's own workspace and the config gives it a dir: 1; 0 when
 * there is nothing to do; -errno (said). */
static int route(const struct exec_config *cfg, const char *agent,
		 const char *workspace, const char *dir_else, const char **url,
		 const char **ws, const char **domain, const char **dir)
{
	enum exec_writeback mode;
	char err[512];

	if (exec_router_writeback(cfg, agent, &mode, dir, err, sizeof(err)) < 0)
		return 0;
	if (!*dir)
		*dir = dir_else;
	if (!*dir)
		return 0;
	if (exec_router_workspace(cfg, agent, url, ws, domain, err,
				  sizeof(err)) < 0) {
		log_error("%s", err);
		return -EINVAL;
	}
	return strcmp(*ws, workspace) == 0;
}

/* tether sync DIR --node URL --workspace WS [--domain D] [--lazy] into
 * argv (room for 10), NULL-terminated: the count. */
static int sync_args(char **argv, const char *url, const char *ws,
		     const char *domain, const char *dir, bool lazy)
{
	int n = 0;

	argv[n++] = "sync";
	argv[n++] = (char *)dir;
	argv[n++] = "--node";
	argv[n++] = (char *)url;
	argv[n++] = "--workspace";
	argv[n++] = (char *)ws;
	if (domain) {
		argv[n++] = "--domain";
		argv[n++] = (char *)domain;
	}
	if (lazy)
		argv[n++] = "--lazy";
	argv[n] = NULL;
	return n;
}

static int sync_dir(const char *url, const char *ws, const char *domain,
		    const char *dir, bool quiet)
{
	char *argv[10];

	sync_args(argv, url, ws, domain, dir, false);
	return run(cli_sync, argv, quiet) == 0 ? 0 : -EIO;
}

/* A tether watch of dir keeps the node current: ask it to commit what
 * changed until now, instead of scanning the tree. 0 when it did. */
static int watcher_flush(const char *url, const char *ws, const char *dir)
{
	char cache[PATH_MAX], real[PATH_MAX], burl[PATH_MAX + 32];
	uint64_t version;

	if (sd_source_cache_dir(cache, sizeof(cache)) < 0 ||
	    !realpath(dir, real) ||
	    sd_source_watch_url(cache, real, url, ws, burl, sizeof(burl)) < 0)
		return -ENOENT;
	if (cli_barrier_ask(burl, BARRIER_MS, &version) < 0)
		return -EAGAIN;
	log_info("barrier: the watcher of %s committed version %" PRIu64, dir,
		 version);
	return 0;
}

int cli_barrier(const struct exec_config *cfg, const char *agent,
		const char *workspace, const char *dir_else,
		struct cli_sync_bg **bg)
{
	const char *url, *ws, *domain, *dir;
	int r = route(cfg, agent, workspace, dir_else, &url, &ws, &domain,
		      &dir);
	char *argv[10];
	int argc;

	*bg = NULL;
	if (r <= 0)
		return r;
	if (watcher_flush(url, ws, dir) == 0)
		return 0;
	argc = sync_args(argv, url, ws, domain, dir, true);
	optind = 0; /* glibc: start getopt afresh */
	return cli_sync_begin(argc, argv, bg) == 0 ? 0 : -EIO;
}

int cli_writeback(const struct exec_config *cfg, const char *agent,
		  const char *workspace, const char *dir_else)
{
	const char *url, *ws, *domain, *dir;
	enum exec_writeback mode;
	char err[512];
	int r, a;

	if (exec_router_writeback(cfg, agent, &mode, &dir, err, sizeof(err)) <
		    0 ||
	    mode != EXEC_WRITEBACK_SYNC)
		return 0;
	if (!dir)
		dir = dir_else;
	if (!dir) {
		log_error("writeback: agent %s: the config gives it no \"dir\" "
			  "to write its changes to",
			  agent);
		return -EINVAL;
	}
	r = route(cfg, agent, workspace, dir_else, &url, &ws, &domain, &dir);
	if (r <= 0)
		return r;
	{
		char *apply[] = { "apply",	 "--node",   (char *)url,
				  "--workspace", (char *)ws, (char *)dir,
				  NULL };

		a = run(cli_apply, apply, false);
	}
	if (a != 0 && a != 1)
		return -EIO;
	r = sync_dir(url, ws, domain, dir, true);
	return r < 0 ? r : a; /* 1: conflicts, said */
}

int cli_config_open(const char *config, struct exec_config **ret, char *err,
		    size_t errlen)
{
	char path[PATH_MAX], cwd[PATH_MAX];

	if (!config && exec_config_find(path, sizeof(path)) == 0)
		config = path;
	if (config)
		return exec_config_load(config, ret, err, errlen);
	if (!getcwd(cwd, sizeof(cwd))) {
		snprintf(err, errlen, "the current directory: %s",
			 strerror(errno));
		return -errno;
	}
	return exec_config_from_env(cwd, ret, err, errlen);
}

int cli_agent_route(const char *cmd, const char *config, const char *agent,
		    char *url, size_t ucap, char *ws, size_t wcap)
{
	char err[512] = "";
	struct exec_config *cfg = NULL;
	const char *u, *w, *d;
	int r = cli_config_open(config, &cfg, err, sizeof(err));

	if (r == 0)
		r = exec_router_workspace(cfg, agent, &u, &w, &d, err,
					  sizeof(err));
	if (r == 0 && ((size_t)snprintf(url, ucap, "%s", u) >= ucap ||
		       (size_t)snprintf(ws, wcap, "%s", w) >= wcap))
		r = -ENAMETOOLONG;
	if (r < 0)
		log_error("%s --agent %s: %s", cmd, agent,
			  err[0] ? err : strerror(-r));
	exec_config_free(cfg);
	return r;
}
