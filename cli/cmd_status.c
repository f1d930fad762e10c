/* SPDX-License-Identifier: MIT */
/* tether status: the workspaces a node holds. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "codec.h"
#include "link.h"
#include "log.h"

static const char status_usage[] =
	"usage: tether status --node URL [--json]\n"
	"       tether status [--config FILE] [--json]\n"
	"  --node: each workspace on the node: version, files, bytes, last\n"
	"  commit, and how long a sync in progress has been waiting for its commit.\n"
	"  Else each agent of the config (or of the environment form): its\n"
	"  backend, whether it answers, the commands running there, and the\n"
	"  agent's workspace on it (version, lag, chunks missing).\n";

/* The config's agents (or the environment form's) and their backends. */
static int status_agents(const char *config, bool json)
{
	struct exec_config *cfg = NULL;
	char err[512];
	int r = cli_config_open(config, &cfg, err, sizeof(err));

	if (r < 0) {
		log_error("status: %s", err);
		return CLI_EXIT_FAILURE;
	}
	r = cli_status_agents(cfg, json);
	exec_config_free(cfg);
	return r < 0 ? CLI_EXIT_FAILURE : 0;
}

int cli_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "node", required_argument, NULL, 'N' },
		{ "config", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct tp_msg req = { .type = TP_SYNC_STATUS }, rep;
	char err[TP_ERRMSG_MAX + 64] = "";
	struct tp_link *link = NULL;
	struct tp_chan *ch = NULL;
	struct tp_sync_entry e;
	const char *url = NULL, *config = NULL;
	uint32_t pos = 0;
	bool json = false, first = true;
	int c, r;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'N': url = optarg; break;
		case 'C': config = optarg; break;
		case 'J': json = true; break;
		case 'h': fputs(status_usage, stdout); return 0;
		default: fputs(status_usage, stderr); return CLI_EXIT_USAGE;
		}
	}
	if ((url && config) || optind != argc) {
		fputs(status_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (!url)
		return status_agents(config, json);
	r = tp_link_open(url, &link);
	if (r == 0)
		r = tp_chan_open(link, &ch);
	if (r == 0)
		r = tp_chan_call(ch, &req, &rep, 15000, err, sizeof(err));
	if (r == 0 && rep.type != TP_SYNC_TABLE)
		r = -EPROTO;
	if (r < 0) {
		log_error("status %s: %s", url,
			  err[0]	       ? err
			  : r == -ECONNREFUSED ? "connection refused"
					       : strerror(-r));
		tp_chan_close(ch);
		tp_link_close(link);
		return CLI_EXIT_FAILURE;
	}
	if (json)
		printf("[");
	else
		printf("%-20s %-12s %8s %10s %14s %-19s %-6s %s\n", "WORKSPACE",
		       "DOMAIN", "VERSION", "FILES", "BYTES", "COMMITTED",
		       "LAG", "MISSING");
	while (tp_wstab_next(&rep.wstab, &pos, &e)) {
		char when[32] = "-", lag[32] = "0";
		time_t t = (time_t)(e.state.committed_ms / 1000);
		struct tm tm;

		if (e.state.committed_ms)
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S",
				 localtime_r(&t, &tm));
		if (e.pending_ms)
			snprintf(lag, sizeof(lag), "%.1fs",
				 (double)e.pending_ms / 1000);
		if (json) {
			printf("%s{\"workspace\":\"%.*s\",\"domain\":\"%.*s\","
			       "\"version\":%" PRIu64 ",\"files\":%" PRIu64
			       ",\"bytes\":%" PRIu64
			       ",\"committed_ms\":%" PRIu64
			       ",\"lag_ms\":%" PRIu64 ",\"missing\":%" PRIu64
			       "}",
			       first ? "" : ",", (int)e.name.len, e.name.ptr,
			       (int)e.domain.len, e.domain.ptr, e.state.version,
			       e.state.files, e.state.bytes,
			       e.state.committed_ms, e.pending_ms,
			       e.state.missing);
		} else {
			printf("%-20.*s %-12.*s %8" PRIu64 " %10" PRIu64
			       " %14" PRIu64 " %-19s %-6s %" PRIu64 "\n",
			       (int)e.name.len, e.name.ptr, (int)e.domain.len,
			       e.domain.ptr, e.state.version, e.state.files,
			       e.state.bytes, when, lag, e.state.missing);
		}
		first = false;
	}
	if (json)
		printf("]\n");
	tp_chan_close(ch);
	tp_link_close(link);
	return 0;
}
