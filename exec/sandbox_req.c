/* SPDX-License-Identifier: MIT */
/* A sandbox's settings from text (exec_sandbox_set in sandbox.h): one
 * reading of "256m", "1.5" and "none" for the CLI and the config. */
#include "sandbox.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"

#define CPUS_MAX 4096

static int bad(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "expected %s", what);
	return -EINVAL;
}

int exec_sandbox_set(struct exec_sandbox_req *q, const char *key,
		     const char *value, char *err, size_t errlen)
{
	static const char *const rl_keys[EXEC_RL_N] = {
		[EXEC_RL_NOFILE] = "nofile",
		[EXEC_RL_NPROC] = "nproc",
		[EXEC_RL_FSIZE] = "fsize",
		[EXEC_RL_CORE] = "core",
	};
	uint64_t v;

	if (strcmp(key, "memory") == 0) {
		if (util_parse_size(value, &v) < 0 || v < 4096)
			return bad(err, errlen,
				   "bytes, at least 4k (\"256m\", \"1g\")");
		q->lim.memory = v;
		return 0;
	}
	if (strcmp(key, "cpus") == 0) {
		if (util_parse_milli(value, CPUS_MAX, &v) < 0 || v == 0)
			return bad(err, errlen,
				   "CPUs, more than 0 (\"1\", \"0.5\")");
		q->lim.cpu_milli = (uint32_t)v;
		return 0;
	}
	if (strcmp(key, "pids") == 0) {
		uint32_t n;

		if (util_parse_u32(value, &n) < 0 || n == 0)
			return bad(err, errlen,
				   "a number of processes, 1 or more");
		q->lim.pids = n;
		return 0;
	}
	if (strcmp(key, "network") == 0) {
		if (strcmp(value, "none") != 0 && strcmp(value, "host") != 0)
			return bad(err, errlen, "\"none\" or \"host\"");
		q->net_host = strcmp(value, "host") == 0;
		return 0;
	}
	if (strcmp(key, "mount") == 0) {
		for (unsigned i = 0; i <= EXEC_WS_NONE; i++)
			if (strcmp(value, exec_ws_mode_name(i)) == 0) {
				q->mode = (enum exec_ws_mode)i;
				return 0;
			}
		return bad(err, errlen, "\"cow\", \"ro\", \"rw\" or \"none\"");
	}
	for (unsigned i = 0; i < EXEC_RL_N; i++) {
		bool bytes = i == EXEC_RL_FSIZE || i == EXEC_RL_CORE;

		if (strcmp(key, rl_keys[i]) != 0)
			continue;
		if ((bytes ? util_parse_size(value, &v)
			   : util_parse_u64(value, &v)) < 0)
			return bad(err, errlen,
				   bytes ? "bytes (\"0\", \"64m\")"
					 : "a number");
		q->lim.rl[i] = v;
		q->lim.rl_set |= 1u << i;
		return 0;
	}
	snprintf(err, errlen, "unknown setting");
	return -ENOENT;
}

int exec_sbx_conf_set(struct exec_sbx_conf *s, const char *key,
		      const char *value, char *err, size_t errlen)
{
	static const struct {
		const char *key;
		unsigned bit;
	} bits[] = { { "memory", EXEC_SBX_MEMORY },
		     { "cpus", EXEC_SBX_CPUS },
		     { "pids", EXEC_SBX_PIDS },
		     { "network", EXEC_SBX_NETWORK },
		     { "mount", EXEC_SBX_MOUNT } };
	int r = exec_sandbox_set(&s->req, key, value, err, errlen);

	for (size_t i = 0; r == 0 && i < sizeof(bits) / sizeof(bits[0]); i++)
		if (strcmp(key, bits[i].key) == 0)
			s->set |= bits[i].bit;
	return r;
}

bool exec_sbx_conf_given(const struct exec_sbx_conf *s)
{
	return s->set || s->req.lim.rl_set;
}

void exec_sbx_conf_apply(struct exec_sandbox_req *q,
			 const struct exec_sbx_conf *s)
{
	const struct exec_sandbox_req *g = &s->req;

	if (s->set & EXEC_SBX_MEMORY)
		q->lim.memory = g->lim.memory;
	if (s->set & EXEC_SBX_CPUS)
		q->lim.cpu_milli = g->lim.cpu_milli;
	if (s->set & EXEC_SBX_PIDS)
		q->lim.pids = g->lim.pids;
	if (s->set & EXEC_SBX_NETWORK)
		q->net_host = g->net_host;
	if (s->set & EXEC_SBX_MOUNT)
		q->mode = g->mode;
	for (unsigned i = 0; i < EXEC_RL_N; i++)
		if (g->lim.rl_set & (1u << i)) {
			q->lim.rl[i] = g->lim.rl[i];
			q->lim.rl_set |= 1u << i;
		}
}
