/* SPDX-License-Identifier: MIT */
/* tether ps, attach, kill: the commands a node is running, by id. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "parse.h"
#include "remote.h"
#include "term.h"

/* Parse "--node URL" plus want positional args; 0, 1 (help) or -EINVAL. */
static int parse_node_opts(int argc, char **argv, const char *usage,
			   const char **node, int min_pos, int max_pos)
{
	static const struct option opts[] = {
		{ "node", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, npos;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'N': *node = optarg; break;
		case 'h': fputs(usage, stdout); return 1;
		default: fputs(usage, stderr); return -EINVAL;
		}
	}
	npos = argc - optind;
	if (!*node || npos < min_pos || npos > max_pos) {
		fputs(usage, stderr);
		return -EINVAL;
	}
	return 0;
}

static int parse_id(const char *s, uint64_t *id)
{
	if (util_parse_u64(s, id) < 0 || *id == 0) {
		log_error("'%s' is not a command id", s);
		return -EINVAL;
	}
	return 0;
}

static void print_entry(const struct tp_exec_entry *e, void *opaque)
{
	char when[32], status[32];
	time_t t = (time_t)(e->started_ms / 1000);
	struct tm tm;

	strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&t, &tm));
	if (e->state == TP_STATE_RUNNING)
		snprintf(status, sizeof(status), "running");
	else if (e->exit.timed_out)
		snprintf(status, sizeof(status), "timeout");
	else if (e->exit.signal)
		snprintf(status, sizeof(status), "signal %d", e->exit.signal);
	else
		snprintf(status, sizeof(status), "exit %d", e->exit.code);
	printf("%-6" PRIu64 " %-8d %-10s %-9s %-8s %.*s\n", e->id, e->pid,
	       status, e->flags & TP_EXEC_F_DETACH ? "detached" : "attached",
	       when, (int)e->cmdline.len, (const char *)e->cmdline.ptr);
}

int cli_ps(int argc, char **argv)
{
	static const char usage[] = "usage: tether ps --node URL\n";
	struct exec_remote *r;
	const char *node = NULL;
	int e;

	e = parse_node_opts(argc, argv, usage, &node, 0, 0);
	if (e)
		return e > 0 ? 0 : CLI_EXIT_USAGE;
	if (exec_remote_open(node, &r) < 0)
		return CLI_EXIT_FAILURE;
	printf("%-6s %-8s %-10s %-9s %-8s %s\n", "ID", "PID", "STATUS", "MODE",
	       "STARTED", "COMMAND");
	e = exec_remote_list(r, print_entry, NULL);
	exec_remote_close(r);
	return e < 0 ? CLI_EXIT_FAILURE : 0;
}

int cli_attach(int argc, char **argv)
{
	static const char usage[] =
		"usage: tether attach --node URL ID\n"
		"  replays the output the node still holds, then follows it;\n"
		"  exits with the command's status (Ctrl-C stops following only)\n";
	struct exec_result res = { 0 };
	struct exec_remote *r;
	const char *node = NULL;
	uint64_t id;
	int e, sfd;

	e = parse_node_opts(argc, argv, usage, &node, 1, 1);
	if (e)
		return e > 0 ? 0 : CLI_EXIT_USAGE;
	if (parse_id(argv[optind], &id) < 0)
		return CLI_EXIT_USAGE;
	sfd = cli_signals_open();
	if (sfd < 0)
		return CLI_EXIT_FAILURE;
	if (exec_remote_open(node, &r) < 0) {
		close(sfd);
		return CLI_EXIT_FAILURE;
	}
	struct exec_io io = { -1, STDOUT_FILENO, STDERR_FILENO, sfd };
	e = exec_remote_follow(r, id, &io, false, false, &res);
	cli_signals_close(sfd);
	exec_remote_close(r);
	if (e == -EINTR)
		return 130;
	if (e < 0)
		return CLI_EXIT_FAILURE;
	return cli_report_result(&res, 0, "node", false, false);
}

int cli_kill(int argc, char **argv)
{
	static const char usage[] =
		"usage: tether kill --node URL ID [SIGNAL]\n"
		"  signals the command's process group (default TERM)\n";
	struct exec_remote *r;
	const char *node = NULL;
	uint64_t id;
	int e, sig = SIGTERM;

	e = parse_node_opts(argc, argv, usage, &node, 1, 2);
	if (e)
		return e > 0 ? 0 : CLI_EXIT_USAGE;
	if (parse_id(argv[optind], &id) < 0)
		return CLI_EXIT_USAGE;
	if (optind + 1 < argc &&
	    util_parse_signal(argv[optind + 1], &sig) < 0) {
		log_error("'%s' is not a signal", argv[optind + 1]);
		return CLI_EXIT_USAGE;
	}
	if (exec_remote_open(node, &r) < 0)
		return CLI_EXIT_FAILURE;
	e = exec_remote_signal(r, id, sig);
	exec_remote_close(r);
	return e < 0 ? CLI_EXIT_FAILURE : 0;
}
