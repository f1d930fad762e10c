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
