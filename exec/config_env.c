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
	const char *env, *backend;
} kinds[] = {
	{ "sandbox", "sandbox" }, { "none", "host" },	  { "off", "host" },
	{ "host", "host" },	  { "docker", "docker" }, { "ssh", "ssh" },
	{ "vm", "vm" },
};

/* SANDBOX_DOCKER_*: the agent's sandbox.docker, as a file would give it. */
static int docker_env(json_t *agent, char *err, size_t errlen)
{
	static const char *const keys[] = { "image", "memory", "cpus",
					    "timeout" };
	json_t *d = json_object();
	char name[64];

	if (!d || json_object_set_new(agent, "sandbox",
				      json_pack("{s:s, s:o}", "mode", "docker",
						"docker", d)) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v;
		char *end;
		double t;

		snprintf(name, sizeof(name), "SANDBOX_DOCKER_%s", keys[i]);
		for (char *p = name; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		v = getenv(name);
		if (!v || !*v)
			continue;
		if (strcmp(keys[i], "timeout") != 0) {
			json_object_set_new(d, keys[i], json_string(v));
			continue;
		}
		t = strtod(v, &end);
		if (*end || !(t > 0)) {
			snprintf(err, errlen,
				 "environment: %s=%.64s: expected seconds, "
				 "more than 0",
				 name, v);
			return -EINVAL;
		}
		json_object_set_new(d, keys[i], json_real(t));
	}
	if (!json_object_get(d, "image")) {
		snprintf(err, errlen,
			 "environment: SANDBOX_BACKEND=docker needs "
			 "SANDBOX_DOCKER_IMAGE");
		return -EINVAL;
	}
	return 0;
}

/* A number of the environment, whole and more than 0, into obj[key]. */
static int env_number(const char *name, const char *key, json_t *obj, char *err,
		      size_t errlen)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return 0;
	n = strtol(v, &end, 10);
	if (*end || n <= 0 || n > 86400 * 30) {
		snprintf(err, errlen,
			 "environment: %s=%.64s: expected a whole number, "
			 "more than 0",
			 name, v);
		return -EINVAL;
	}
	json_object_set_new(obj, key, json_integer(n));
	return 0;
}

/* SSH_*: a backend "ssh" of the file's form, for the agent. */
static int ssh_env(json_t **backends, char *err, size_t errlen)
{
	static const struct {
		const char *env, *key;
	} strs[] = { { "SSH_HOST", "host" },
		     { "SSH_USER", "user" },
		     { "SSH_KEY_PATH", "key" },
		     { "SSH_KNOWN_HOSTS", "known_hosts" },
		     { "SSH_REMOTE_DIR", "remote_dir" } };
	json_t *b = json_pack("{s:s}", "type", "ssh");
	int r;

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		const char *v = getenv(strs[i].env);

		if (v && *v)
			json_object_set_new(b, strs[i].key, json_string(v));
	}
	if (!json_object_get(b, "host")) {
		json_decref(b);
		snprintf(err, errlen,
			 "environment: SANDBOX_BACKEND=ssh needs SSH_HOST");
		return -EINVAL;
	}
	r = env_number("SSH_PORT", "port", b, err, errlen);
	if (r == 0)
		r = env_number("SSH_TIMEOUT", "connect_timeout", b, err,
			       errlen);
	if (r < 0) {
		json_decref(b);
		return r;
	}
	*backends = json_pack("{s:o}", "ssh", b);
	return *backends ? 0 : -ENOMEM;
}

int exec_config_from_env(const char *cwd, struct exec_config **ret, char *err,
			 size_t errlen)
{
	const char *v = getenv("SANDBOX_BACKEND"), *backend = NULL;
	char ws[32];
	json_t *root, *agent, *backends = NULL;
	char *text;
	int r;

	if (!v || !*v)
		v = "sandbox";
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(v, kinds[i].env) == 0)
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
	agent = json_pack("{s:s, s:s}", "id", EXEC_ENV_AGENT, "workspace", ws);
	if (agent && strcmp(backend, "docker") == 0) {
		r = docker_env(agent, err, errlen);
		if (r < 0 && r != -ENOMEM) {
			json_decref(agent);
			return r;
		}
	} else if (agent && strcmp(backend, "vm") == 0) {
		/* A VM of its own, of tether vm image's default image. */
		json_object_set_new(agent, "sandbox",
				    json_pack("{s:s}", "mode", "vm"));
	} else if (agent) {
		json_object_set_new(agent, "backend", json_string(backend));
	}
	if (agent && strcmp(backend, "ssh") == 0) {
		r = ssh_env(&backends, err, errlen);
		if (r < 0 && r != -ENOMEM) {
			json_decref(agent);
			return r;
		}
	}
	root = agent ? json_pack("{s:{s:[o]}}", "agents", "list", agent) : NULL;
	if (root && backends)
		json_object_set_new(root, "backends", backends);
	else
		json_decref(backends);
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
