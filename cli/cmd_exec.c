/* SPDX-License-Identifier: MIT */
/* tether exec: pick the backend (a node URL, or an agent's route in the
 * config), run one command on it, and exit with the command's status. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "backend.h"
#include "cleanup.h"
#include "cli.h"
#include "codec.h"
#include "config.h"
#include "local_node.h"
#include "log.h"
#include "parse.h"
#include "term.h"
#include "upper_count.h"

#define ENV_MAX 1024

static const char usage[] =
	"usage: tether exec [--node URL | [--config FILE] --agent ID] [OPTIONS] -- CMD [ARG...]\n"
	"  With neither, and no config file: the environment form (SANDBOX_BACKEND;\n"
	"  unset: the sandbox backend, the current directory as the workspace)\n"
	"  --node URL         run on the tether node at URL\n"
	"  --config FILE      routing config (default: $TETHER_CONFIG, ./tether.json,\n"
	"                     ~/.config/tether/tether.json)\n"
	"  --agent ID         run where the config routes agent ID\n"
	"  --timeout SECONDS  kill the command's whole tree after SECONDS (exit 124)\n"
	"  --env K=V          set an environment variable (repeatable)\n"
	"  --cwd DIR          working directory (relative: to the node's root, or to\n"
	"                     the workspace; it may not leave a workspace)\n"
	"  --workspace NAME   run in the node's copy of workspace NAME (tether sync)\n"
	"  -t, --tty          run under a pty sized like this terminal\n"
	"  -n, --no-stdin     give the command /dev/null as stdin\n"
	"  --detach           start it, print its id, return (see ps, attach, kill)\n"
	"  --json             print the exit status and resource usage as JSON on stderr\n"
	"  --stats            print a line of exit status and resource usage on stderr\n"
	"  --no-barrier       with --agent in its own workspace and a \"dir\" in the\n"
	"                     config: do not sync the dir first (by default the\n"
	"                     command sees every edit made before it started)\n"
	"sandbox (on a node; any of these implies --sandbox):\n"
	"  --sandbox          run in namespaces: read-only root, private /tmp, no\n"
	"                     network, no capabilities, an init that reaps orphans\n"
	"  --memory SIZE      memory limit (\"256m\"); the OOM killer ends it\n"
	"  --cpus N           CPU limit (\"0.5\", \"2\")\n"
	"  --pids N           most processes at once\n"
	"  --nofile N, --nproc N, --fsize SIZE, --core SIZE   rlimits\n"
	"  --network MODE     none (default: lo only) or host\n"
	"  --mount MODE       the workspace: cow (default: writable, writes go to\n"
	"                     the view's changes), ro, rw or none\n"
	"  --ws-dir DIR       show DIR (on the node) as the workspace\n"
	"  --ws-at DIR        where the workspace appears inside\n";

struct exec_opts {
	const char *node, *config, *agent, *cwd, *workspace;
	const char *ws_dir, *ws_at; /* --ws-dir, --ws-at */
	struct exec_config *cfg;    /* with --agent: for writeback */
	uint32_t timeout_ms;
	bool timeout_set;
	char *env[ENV_MAX + 1];
	size_t n_env;
	bool tty, no_stdin, detach, json, stats, no_barrier;
	bool sandbox;		      /* --sandbox, or the config's */
	struct exec_sbx_conf sbx_cli; /* the limits given here */
	struct exec_sandbox_req sbx;  /* what the command gets */
	const char *dir_else; /* the sandbox backend's dir, when the agent
			       * has none in the config: the cwd */
	char cwdbuf[PATH_MAX];
};

static int parse_opts(int argc, char **argv, struct exec_opts *o)
{
	static const struct option opts[] = {
		{ "node", required_argument, NULL, 'N' },
		{ "config", required_argument, NULL, 'C' },
		{ "agent", required_argument, NULL, 'A' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "env", required_argument, NULL, 'e' },
		{ "cwd", required_argument, NULL, 'w' },
		{ "workspace", required_argument, NULL, 'W' },
		{ "tty", no_argument, NULL, 't' },
		{ "no-stdin", no_argument, NULL, 'n' },
		{ "detach", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'J' },
		{ "stats", no_argument, NULL, 'S' },
		{ "no-barrier", no_argument, NULL, 'B' },
		{ "sandbox", no_argument, NULL, 'X' },
		{ "memory", required_argument, NULL, 0x100 },
		{ "cpus", required_argument, NULL, 0x100 },
		{ "pids", required_argument, NULL, 0x100 },
		{ "nofile", required_argument, NULL, 0x100 },
		{ "nproc", required_argument, NULL, 0x100 },
		{ "fsize", required_argument, NULL, 0x100 },
		{ "core", required_argument, NULL, 0x100 },
		{ "network", required_argument, NULL, 0x100 },
		{ "mount", required_argument, NULL, 0x100 },
		{ "ws-dir", required_argument, NULL, 0x101 },
		{ "ws-at", required_argument, NULL, 0x102 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, li;

	while ((c = getopt_long(argc, argv, "+e:w:tnh", opts, &li)) != -1) {
		switch (c) {
		case 'X': o->sandbox = true; break;
		case 0x100: {
			char err[128];

			if (exec_sbx_conf_set(&o->sbx_cli, opts[li].name,
					      optarg, err, sizeof(err)) < 0) {
				log_error("--%s %s: %s", opts[li].name, optarg,
					  err);
				return -EINVAL;
			}
			o->sandbox = true;
			break;
		}
		case 0x101:
		case 0x102:
			if (optarg[0] != '/') {
				log_error("--%s %s: an absolute path",
					  opts[li].name, optarg);
				return -EINVAL;
			}
			*(c == 0x101 ? &o->ws_dir : &o->ws_at) = optarg;
			o->sandbox = true;
			break;
		case 'N': o->node = optarg; break;
		case 'C': o->config = optarg; break;
		case 'A': o->agent = optarg; break;
		case 'w': o->cwd = optarg; break;
		case 'W':
			if (!tp_name_ok((const uint8_t *)optarg,
					strlen(optarg))) {
				log_error(
					"--workspace %s: not a name (1-%u of A-Z a-z 0-9 _ - ., not starting with '.')",
					optarg, TP_NAME_MAX);
				return -EINVAL;
			}
			o->workspace = optarg;
			break;
		case 't': o->tty = true; break;
		case 'n': o->no_stdin = true; break;
		case 'd': o->detach = true; break;
		case 'J': o->json = true; break;
		case 'S': o->stats = true; break;
		case 'B': o->no_barrier = true; break;
		case 'T':
			if (util_parse_seconds_ms(optarg, &o->timeout_ms) < 0 ||
			    o->timeout_ms == 0) {
				log_error(
					"--timeout %s: expected seconds, more than 0",
					optarg);
				return -EINVAL;
			}
			o->timeout_set = true;
			break;
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				log_error("--env %s: expected NAME=VALUE",
					  optarg);
				return -EINVAL;
			}
			if (o->n_env == ENV_MAX) {
				log_error("--env: more than %d variables",
					  ENV_MAX);
				return -E2BIG;
			}
			o->env[o->n_env++] = optarg;
			break;
		case 'h': fputs(usage, stdout); return 1;
		default: fputs(usage, stderr); return -EINVAL;
		}
	}
	if (optind >= argc) {
		log_error("exec: no command given (tether exec ... -- CMD)");
		return -EINVAL;
	}
	if (o->node && (o->agent || o->config)) {
		log_error(
			"exec: --node and --agent/--config exclude each other");
		return -EINVAL;
	}
	if (!o->node && !o->agent && o->config) {
		log_error("exec --config %s: say which agent (--agent ID)",
			  o->config);
		return -EINVAL;
	}
	return 0;
}

/* The backend for these options: the node at --node, or the agent's. */
static int pick_backend(struct exec_opts *o, struct exec_backend **ret)
{
	struct exec_config *cfg = NULL;
	char path[PATH_MAX], err[512];
	uint32_t timeout_ms = 0;
	int r;

	if (o->node) {
		r = exec_backend_new("node", "node", o->node, ret);
		if (r < 0)
			log_error_errno(r, "node %s", o->node);
		return r;
	}
	if (!o->config) {
		r = exec_config_find(path, sizeof(path));
		if (r < 0 && o->agent) {
			log_error(
				"exec --agent %s: no config file (give --config FILE or set TETHER_CONFIG)",
				o->agent);
			return r;
		}
		if (r == 0 && !o->agent) {
			log_error("exec: say which agent (--agent ID): %s "
				  "routes agents (or --node URL)",
				  path);
			return -EINVAL;
		}
		o->config = r == 0 ? path : NULL;
	}
	if (!o->config) {
		/* No file: the environment form (SANDBOX_BACKEND), the
		 * sandbox backend in the current directory by default. */
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd))) {
			log_error_errno(-errno, "exec: the current directory");
			return -EINVAL;
		}
		r = exec_config_from_env(cwd, &cfg, err, sizeof(err));
		if (r < 0) {
			log_error("%s", err);
			return r;
		}
		o->agent = EXEC_ENV_AGENT;
	} else {
		r = exec_config_load(o->config, &cfg, err, sizeof(err));
		if (r < 0) {
			log_error("%s", err);
			return r;
		}
	}
	r = exec_router_resolve(cfg, o->agent, ret, &timeout_ms, err,
				sizeof(err));
	o->config = NULL; /* path was ours */
	if (r < 0) {
		exec_config_free(cfg);
		log_error("%s", err);
		return r;
	}
	if (!o->timeout_set)
		o->timeout_ms = timeout_ms;
	o->cfg = cfg;
	/* The config's sandbox, under what the command line says. */
	if (exec_router_sandbox(cfg, o->agent, &o->sbx, err, sizeof(err)) > 0)
		o->sandbox = true;
	return 0;
}

int cli_report_result(const struct exec_result *res, uint32_t timeout_ms,
		      const char *backend, bool json, bool stats)
{
	const struct exec_status *st = &res->status;
	int code = res->timed_out ? 124 : exec_status_to_exit_code(st);

	if (res->timed_out)
		log_error("sandbox timeout exceeded after %" PRIu32 "%ss",
			  timeout_ms / 1000, timeout_ms % 1000 ? "+" : "");
	if (res->limits & TP_LIMIT_MEMORY)
		log_error("sandbox memory limit exceeded: the out-of-memory "
			  "killer ended a process of the command");
	if (res->limits & TP_LIMIT_PIDS)
		log_error("sandbox pids limit reached: a fork of the command "
			  "failed");
	if (json) {
		json_t *o = json_pack(
			"{s:i, s:i, s:b, s:f, s:f, s:f, s:I, s:s, s:b, s:b}",
			"exit_code", code, "signal", st->signal, "timed_out",
			res->timed_out, "wall_s", st->wall_us / 1e6, "user_s",
			st->user_us / 1e6, "sys_s", st->sys_us / 1e6,
			"max_rss_kb", (json_int_t)st->maxrss_kb, "backend",
			backend, "memory_limit_hit",
			!!(res->limits & TP_LIMIT_MEMORY), "pids_limit_hit",
			!!(res->limits & TP_LIMIT_PIDS));
		char *text =
			o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6))
			  : NULL;

		if (text)
			fprintf(stderr, "%s\n", text);
		free(text);
		json_decref(o);
	}
	if (stats)
		fprintf(stderr,
			"tether: %s %d, wall %.3fs, user %.3fs, sys %.3fs, max rss %" PRIu64
			" KiB\n",
			st->signal ? "signal" : "exit",
			st->signal ? st->signal : st->code, st->wall_us / 1e6,
			st->user_us / 1e6, st->sys_us / 1e6, st->maxrss_kb);
	return code;
}

/* stdin already /dev/null: nothing to forward, and no stdin round trip. */
static bool stdin_is_devnull(void)
{
	struct stat a, b;

	return fstat(STDIN_FILENO, &a) == 0 && stat("/dev/null", &b) == 0 &&
	       S_ISCHR(a.st_mode) && a.st_rdev == b.st_rdev;
}

/* The agent's directory: its "dir", else the current one (then kept as
 * dir_else, for the barrier); *rel the current directory's place inside
 * it, or NULL when outside. 0, or -errno logged. */
static int agent_dir(struct exec_opts *o, const char **dir, const char **rel)
{
	enum exec_writeback mode;
	char err[512];
	size_t n;

	*rel = NULL;
	if (!getcwd(o->cwdbuf, sizeof(o->cwdbuf)))
		o->cwdbuf[0] = '\0';
	if (exec_router_writeback(o->cfg, o->agent, &mode, dir, err,
				  sizeof(err)) < 0) {
		log_error("%s", err);
		return -EINVAL;
	}
	if (!*dir) {
		if (!o->cwdbuf[0]) {
			log_error("exec: the current directory: %s",
				  strerror(errno));
			return -errno;
		}
		*dir = o->dir_else = o->cwdbuf;
	}
	n = strlen(*dir);
	if (o->cwdbuf[0] && strncmp(o->cwdbuf, *dir, n) == 0 &&
	    (o->cwdbuf[n] == '/' || !o->cwdbuf[n]))
		*rel = o->cwdbuf + n + (o->cwdbuf[n] == '/');
	return 0;
}

/* The agent's workspace on its backend's node: the name, and the command
 * started in the same place inside it as it was in the directory. */
static int agent_workspace(struct exec_opts *o, const char *rel)
{
	const char *url, *ws, *domain;
	char err[512];

	if (!o->workspace) {
		if (exec_router_workspace(o->cfg, o->agent, &url, &ws, &domain,
					  err, sizeof(err)) < 0) {
			log_error("%s", err);
			return -EINVAL;
		}
		o->workspace = ws;
	}
	if (!o->cwd && rel && *rel)
		o->cwd = rel;
	return 0;
}

/* The sandbox and docker backends (a node of their own, here): where the
 * agent's directory goes in the sandbox. cow: the node's view of the
 * agent's workspace, synced by the barrier, appears where the directory
 * is; ro, rw: the directory itself is bound there. A command started
 * inside the directory starts in the same place inside. */
static int sandbox_place(struct exec_opts *o)
{
	const char *dir, *rel;

	o->sandbox = true;
	if (o->sbx.mode == EXEC_WS_NONE)
		return 0;
	if (agent_dir(o, &dir, &rel) < 0)
		return -EINVAL;
	if (o->sbx.mode != EXEC_WS_COW) {
		if (!o->sbx.ws_src)
			o->sbx.ws_src = dir;
		if (!o->cwd && rel)
			o->cwd = o->cwdbuf;
		return 0;
	}
	if (!o->sbx.ws_at)
		o->sbx.ws_at = dir;
	return agent_workspace(o, rel);
}

/* The ssh backend: the agent's directory is its workspace on the remote
 * node, synced by the barrier; commands run in that node's view of it. */
static int remote_place(struct exec_opts *o)
{
	const char *dir, *rel;

	if (agent_dir(o, &dir, &rel) < 0)
		return -EINVAL;
	return agent_workspace(o, rel);
}

/* A docker command in the view of this host's own node: the files it
 * changed there, from the view's upper layer, for the audit (a command
 * a node ran comes with the node's count). */
static void count_changes(const struct exec_opts *o,
			  const struct exec_backend *b,
			  const struct timespec *began, struct exec_result *res)
{
	char home[PATH_MAX], url[PATH_MAX + 16], upper[2 * PATH_MAX], err[256];

	if (res->files_known || !(b->ops->caps & EXEC_CAP_LOCAL) ||
	    !o->workspace || !o->sandbox || o->sbx.mode != EXEC_WS_COW ||
	    exec_local_node_paths(home, sizeof(home), url, sizeof(url), err,
				  sizeof(err)) < 0)
		return;
	snprintf(upper, sizeof(upper), "%s/root/.tether/upper/%s", home,
		 o->workspace);
	res->files_changed = exec_upper_changed_since(
		upper, (int64_t)began->tv_sec * 1000000000 + began->tv_nsec);
	res->files_known = true;
}

/* Scope command: what the command wrote in the view goes with it. */
static int drop_changes(const struct exec_opts *o, const struct exec_backend *b)
{
	char err[TP_ERRMSG_MAX + 64] = "";
	int r;

	if (exec_router_scope(o->cfg, o->agent) != EXEC_SCOPE_COMMAND)
		return 0;
	r = cli_reset_view(b->url, o->workspace, err, sizeof(err));
	if (r < 0)
		log_error("agent %s: discarding the command's changes (scope "
			  "command): %s",
			  o->agent, err[0] ? err : strerror(-r));
	return r;
}

/* The agent's command policy on argv[0]: 0 with "allow" (and the path it
 * matched) in out, 1 with "deny: WHY" when it may not run. The program
 * is resolved on this host when the backend shares its file system. */
static int check_policy(const struct exec_opts *o, const struct exec_backend *b,
			const struct exec_spec *spec, char *out, size_t cap)
{
	const struct exec_policy *p = NULL;
	const char *path = getenv("PATH");
	char resolved[PATH_MAX], why[PATH_MAX + 128];
	bool local = !(b->ops->caps & EXEC_CAP_REMOTE) ||
		     (b->ops->caps & EXEC_CAP_LOCAL);

	snprintf(out, cap, "allow");
	if (!o->cfg ||
	    exec_router_policy(o->cfg, o->agent, &p, why, sizeof(why)) < 0)
		return 0;
	for (size_t i = 0; i < o->n_env; i++)
		if (strncmp(o->env[i], "PATH=", 5) == 0)
			path = o->env[i] + 5;
	if (exec_policy_check(p, spec->argv[0], path, local, resolved,
			      sizeof(resolved), why, sizeof(why)) < 0) {
		snprintf(out, cap, "deny: %s", why);
		return 1;
	}
	if (resolved[0])
		snprintf(out, cap, "allow: %s", resolved);
	return 0;
}

int cli_exec(int argc, char **argv)
{
	struct exec_opts o = { 0 };
	struct exec_backend *b = NULL;
	struct cli_sync_bg *bg = NULL;
	struct exec_result res = { 0 };
	struct timespec began;
	struct termios saved;
	bool raw = false;
	int r, sfd = -1, code = CLI_EXIT_FAILURE;
	char term_env[256];

	r = parse_opts(argc, argv, &o);
	if (r != 0)
		return r > 0 ? 0 : CLI_EXIT_USAGE;

	struct exec_spec spec = {
		.argv = argv + optind,
		.env = o.env,
		.cwd = o.cwd,
		.workspace = o.workspace,
		.tty = o.tty,
		.detach = o.detach,
		/* Under -t the command's stdin is the pty, not /dev/null: only
		 * a forwarded EOF makes the node type VEOF into it. */
		.forward_stdin = !o.no_stdin && !o.detach &&
				 (o.tty || !stdin_is_devnull()),
	};

	if (pick_backend(&o, &b) < 0)
		return CLI_EXIT_FAILURE;
	exec_sbx_conf_apply(&o.sbx, &o.sbx_cli);
	o.sbx.ws_src = o.ws_dir;
	o.sbx.ws_at = o.ws_at;
	if ((b->ops->caps & EXEC_CAP_LOCAL) && sandbox_place(&o) < 0)
		goto out;
	if ((b->ops == &exec_backend_ssh_ops ||
	     b->ops == &exec_backend_vm_ops) &&
	    o.cfg && remote_place(&o) < 0)
		goto out;
	spec.cwd = o.cwd;
	spec.workspace = o.workspace;
	spec.sandbox = o.sandbox ? &o.sbx : NULL;
	spec.timeout_ms = o.timeout_ms;
	if (o.workspace && !(b->ops->caps & EXEC_CAP_REMOTE)) {
		log_error(
			"backend %s: --workspace needs a node (this backend runs in the agent's own directory)",
			b->name);
		goto out;
	}
	if (o.sandbox && !(b->ops->caps & EXEC_CAP_SANDBOX)) {
		log_error("backend %s: --sandbox and its limits need a node "
			  "(this backend runs commands as they are)",
			  b->name);
		goto out;
	}
	if (o.tty && !(b->ops->caps & EXEC_CAP_TTY)) {
		log_error("backend %s: -t is not supported", b->name);
		goto out;
	}
	if (o.detach && !(b->ops->caps & EXEC_CAP_DETACH)) {
		log_error(
			"backend %s: --detach is not supported (it runs commands on this host, in the foreground)",
			b->name);
		goto out;
	}
	if (o.tty) {
		const char *term = getenv("TERM");

		if (!cli_term_size(STDIN_FILENO, &spec.rows, &spec.cols))
			cli_term_size(STDOUT_FILENO, &spec.rows, &spec.cols);
		if (term && o.n_env < ENV_MAX &&
		    (b->ops->caps & EXEC_CAP_REMOTE)) {
			snprintf(term_env, sizeof(term_env), "TERM=%s", term);
			o.env[o.n_env++] = term_env;
		}
	}
	sfd = cli_signals_open();
	if (sfd < 0) {
		log_error_errno(sfd, "signalfd");
		goto out;
	}
	/* Connected (the sandbox's node started) before the barrier syncs
	 * to it. */
	r = exec_backend_prepare(b);
	if (r < 0)
		goto out;
	/* The barrier: the agent's edits so far are the node's before the
	 * command starts. */
	if (o.cfg && o.workspace && !o.no_barrier &&
	    cli_barrier(o.cfg, o.agent, o.workspace, o.dir_else, &bg) < 0)
		goto out;
	if (o.tty && isatty(STDIN_FILENO) &&
	    cli_term_raw(STDIN_FILENO, &saved) == 0)
		raw = true;

	struct exec_io io = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, sfd };
	struct cli_audit au;
	char policy[PATH_MAX + 160];
	int denied = check_policy(&o, b, &spec, policy, sizeof(policy));
	if (cli_audit_start(&au, o.cfg ? o.cfg->audit_path : NULL, o.agent, b,
			    &spec, policy) < 0)
		goto out;
	if (denied) {
		log_error("permission denied in sandbox: agent %s: %s", o.agent,
			  policy + strlen("deny: "));
		code = 126;
		cli_audit_end(&au, &res, -EACCES, code);
		goto out;
	}
	clock_gettime(CLOCK_REALTIME, &began);
	r = b->ops->run(b, &spec, &io, &res);
	if (r >= 0)
		count_changes(&o, b, &began, &res);
	if (raw)
		cli_term_restore(STDIN_FILENO, &saved);
	cli_signals_close(sfd);
	sfd = -1;
	if (r == -ENOENT)
		code = 127;
	else if (r == -EACCES)
		code = 126;
	else if (r < 0)
		code = CLI_EXIT_FAILURE;
	else if (o.detach) {
		printf("%" PRIu64 "\n", res.id);
		code = 0;
	} else {
		code = cli_report_result(&res, o.timeout_ms, b->name, o.json,
					 o.stats);
	}
	if (!o.detach && cli_audit_end(&au, &res, r < 0 ? r : 0, code) < 0 &&
	    code == 0)
		code = CLI_EXIT_FAILURE;
	if (r >= 0 && !o.detach) {
		/* The command's exit code stays, unless it succeeded and its
		 * changes could not be written back. */
		if (o.cfg && o.workspace &&
		    cli_writeback(o.cfg, o.agent, o.workspace, o.dir_else) <
			    0 &&
		    code == 0)
			code = CLI_EXIT_FAILURE;
		if (o.cfg && o.workspace && (b->ops->caps & EXEC_CAP_LOCAL) &&
		    drop_changes(&o, b) < 0 && code == 0)
			code = CLI_EXIT_FAILURE;
	}
	/* The command is done with what the barrier's sync sent; the rest
	 * goes on in the background, once the writeback (whose own sync it
	 * would race with) is over. */
	cli_sync_end(bg);
	bg = NULL;
out:
	cli_sync_end(bg);
	exec_config_free(o.cfg);
	exec_backend_free(b);
	cli_signals_close(sfd);
	return code;
}
