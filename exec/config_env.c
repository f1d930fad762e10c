/* SPDX-License-Identifier: MIT */
/* The environment form of the config (config.h): what operators of agent
 * gateways set instead of a file (SANDBOX_BACKEND and its settings), made
 * into the same config a file would give, so one parser and one router
 * answer both. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static const struct {
	const char *env, *backend; /* backend NULL: not in this version */
} kinds[] = {
	{ "sandbox", "sandbox" }, { "none", "host" }, { "off", "host" },
	{ "host", "host" },	  { "docker", NULL }, { "ssh", NULL },
	{ "vm", NULL },
};

int exec_config_from_env(const char *cwd, struct exec_config **ret, char *err,
			 size_t errlen)
{
	const char *v = getenv("SANDBOX_BACKEND"), *backend = NULL;
	char ws[32];
	json_t *root;
	char *text;
	int r;

	if (!v || !*v)
		v = "sandbox";
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(v, kinds[i].env) != 0)
			continue;
		if (!kinds[i].backend) {
			snprintf(
				err, errlen,
				"environment: SANDBOX_BACKEND=%s: that backend "
				"is not in this version of tether yet (sandbox "
				"and none are)",
				v);
			return -ENOTSUP;
		}
		backend = kinds[i].backend;
	}
	if (!backend) {
		snprintf(err, errlen,
			 "environment: SANDBOX_BACKEND=%.64s: unknown backend "
			 "(sandbox, none, docker, ssh, vm)",
			 v);
		return -EINVAL;
	}
	/* A workspace per directory: two directories never take turns in
	 * one (each switch would sync the whole tree again). */
	snprintf(ws, sizeof(ws), "cwd-%016llx",
		 (unsigned long long)XXH3_64bits(cwd, strlen(cwd)));
	root = json_pack("{s:{s:[{s:s, s:s, s:s}]}}", "agents", "list", "id",
			 EXEC_ENV_AGENT, "backend", backend, "workspace", ws);
	text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	if (!text) {
		snprintf(err, errlen, "environment: out of memory");
		return -ENOMEM;
	}
	r = exec_config_parse(text, strlen(text), "environment", ret, err,
			      errlen);
	free(text);
	return r;
}
