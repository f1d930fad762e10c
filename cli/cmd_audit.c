/* SPDX-License-Identifier: MIT */
/* tether audit: read the audit log (exec/audit.h), or check its chain. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "cli.h"
#include "config.h"
#include "log.h"

static const char usage[] =
	"usage: tether audit [--agent ID] [--json] [--file PATH] [--config FILE]\n"
	"       tether audit verify [--file PATH] [--config FILE]\n"
	"  Every tether exec appends a \"start\" record before its command runs and\n"
	"  an \"end\" record after, to the audit log: $TETHER_AUDIT, else the\n"
	"  config's \"audit\", else ~/.local/state/tether/audit.log.\n"
	"  --agent ID   only that agent's records\n"
	"  --json       the records as they are in the log, one JSON object a line\n"
	"  verify       check the hash chain and the head: exit 0 when intact, 1\n"
	"               with the first bad line named when edited or truncated\n";

static const char *str(json_t *o, const char *k, const char *dflt)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : dflt;
}

/* One record as a line of text. */
static void show(json_t *o)
{
	const char *ev = str(o, "event", "?");

	printf("%-24s %-14s %-10s %-5s", str(o, "time", "?"),
	       str(o, "agent", "-"), str(o, "backend", "-"), ev);
	if (strcmp(ev, "start") == 0) {
		json_t *a = json_object_get(o, "argv"), *v;
		size_t i;

		json_array_foreach(a, i, v) printf(" %s", json_string_value(v));
	} else if (json_object_get(o, "error")) {
		printf(" exit %" JSON_INTEGER_FORMAT " (%s)",
		       json_integer_value(json_object_get(o, "exit")),
		       str(o, "error", ""));
	} else {
		printf(" exit %" JSON_INTEGER_FORMAT ", %.3f s",
		       json_integer_value(json_object_get(o, "exit")),
		       (double)json_integer_value(
			       json_object_get(o, "wall_us")) /
			       1e6);
	}
	putchar('\n');
}

int cli_audit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "agent", required_argument, NULL, 'A' },
		{ "json", no_argument, NULL, 'J' },
		{ "file", required_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *agent = NULL, *file = NULL, *config = NULL;
	char path[PATH_MAX], err[PATH_MAX + 128], cfgpath[PATH_MAX];
	struct exec_config *cfg = NULL;
	bool json = false, verify = false;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int c, r;

	/* Options before or after "verify": getopt moves it to the end. */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'A': agent = optarg; break;
		case 'J': json = true; break;
		case 'f': file = optarg; break;
		case 'C': config = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc && strcmp(argv[optind], "verify") == 0) {
		verify = true;
		optind++;
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (!file) {
		if (!config && exec_config_find(cfgpath, sizeof(cfgpath)) == 0)
			config = cfgpath;
		if (config &&
		    exec_config_load(config, &cfg, err, sizeof(err)) < 0) {
			log_error("%s", err);
			return CLI_EXIT_FAILURE;
		}
		r = exec_audit_path(cfg ? cfg->audit_path : NULL, path,
				    sizeof(path), err, sizeof(err));
		exec_config_free(cfg);
		if (r < 0) {
			log_error("%s", err);
			return CLI_EXIT_FAILURE;
		}
		file = path;
	}
	if (verify) {
		struct exec_audit_check chk;

		r = exec_audit_verify(file, &chk, err, sizeof(err));
		if (r < 0) {
			log_error("%s", err);
			return CLI_EXIT_FAILURE;
		}
		if (r > 0) {
			log_error("audit log %s: line %" PRIu64 ": %s", file,
				  chk.bad_line, chk.what);
			return 1;
		}
		printf("tether audit: %s: %" PRIu64
		       " records, the chain and its head agree\n",
		       file, chk.records);
		return 0;
	}
	f = fopen(file, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0; /* nothing has run yet */
		log_error_errno(-errno, "audit log %s", file);
		return CLI_EXIT_FAILURE;
	}
	while (getline(&line, &cap, f) >= 0) {
		json_t *o = json_loads(line, 0, NULL);

		if (o && (!agent || strcmp(str(o, "agent", ""), agent) == 0)) {
			if (json)
				fputs(line, stdout);
			else
				show(o);
		}
		json_decref(o);
	}
	free(line);
	fclose(f);
	return 0;
}
