/* SPDX-License-Identifier: MIT */
/* A node's side of a sandboxed EXEC_START (sandbox_run.h). */
#include "sandbox_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert((int)EXEC_WS_COW == TP_SBX_WS_COW &&
		       (int)EXEC_WS_RO == TP_SBX_WS_RO &&
		       (int)EXEC_WS_RW == TP_SBX_WS_RW &&
		       (int)EXEC_WS_NONE == TP_SBX_WS_NONE,
	       "the wire's workspace modes are the sandbox's");
_Static_assert(EXEC_RL_N == TP_SBX_RL_N, "one rlimit list");

static char *dup_bytes(struct tp_bytes b)
{
	char *s = malloc(b.len + 1);

	if (s) {
		memcpy(s, b.ptr, b.len);
		s[b.len] = '\0';
	}
	return s;
}

/* cwd as the sandbox sees it: under src, the same place under at. */
static char *inside(const char *cwd, const char *src, const char *at)
{
	size_t n = src ? strlen(src) : 0;
	char *out;

	if (!cwd)
		return strdup(at ? at : "/tmp");
	if (src && strncmp(cwd, src, n) == 0 && (cwd[n] == '/' || !cwd[n])) {
		if (asprintf(&out, "%s%s", at, cwd + n) < 0)
			return NULL;
		return out;
	}
	return strdup(cwd);
}

int exec_sandbox_run_prepare(struct exec_sandbox_run *r,
			     const struct tp_sandbox *b, const char *root,
			     const char *ws_dir, const char *cwd,
			     char *const *argv, const char *name, char *err,
			     size_t errlen)
{
	struct exec_limits lim = { .memory = b->memory,
				   .cpu_milli = b->cpu_milli,
				   .pids = b->pids,
				   .rl_set = b->rl_set };
	struct exec_sandbox sb = { .net_host = b->net_host,
				   .mode = (enum exec_ws_mode)b->ws_mode };
	int e;

	memset(r, 0, sizeof(*r));
	if (b->ws_mode != TP_SBX_WS_NONE) {
		r->src = b->ws_src.len ? dup_bytes(b->ws_src)
			 : ws_dir      ? strdup(ws_dir)
				       : NULL;
		if (r->src)
			r->at = b->ws_at.len ? dup_bytes(b->ws_at)
					     : strdup(r->src);
		if ((b->ws_src.len || ws_dir) && (!r->src || !r->at))
			goto nomem;
	}
	/* A workspace left out leaves no directory of its to start in. */
	if (b->ws_mode == TP_SBX_WS_NONE && ws_dir)
		cwd = NULL;
	r->cwd = inside(cwd, r->src, r->at);
	if (!r->cwd)
		goto nomem;
	for (unsigned i = 0; i < EXEC_RL_N; i++) {
		if (!(b->rl_set & (1u << i)))
			continue;
		lim.rl[i] = b->rl[i];
		r->rl[r->nrl++] = (struct exec_rlimit){ exec_rl_resource(i),
							b->rl[i], b->rl[i] };
	}
	e = exec_cgroup_new(name, &lim, &r->cg, err, errlen);
	if (e < 0) {
		exec_sandbox_run_fini(r);
		return e;
	}
	r->hide[0] = root;
	sb.ws_src = r->src;
	sb.ws_at = r->at;
	sb.cwd = r->cwd;
	sb.hide = r->hide;
	sb.nhide = root ? 1 : 0;
	sb.cgroups = exec_cgroup_procs(r->cg, &sb.ncgroups);
	r->argv = exec_sandbox_argv(&sb, argv);
	if (!r->argv)
		goto nomem;
	return 0;
nomem:
	exec_sandbox_run_fini(r);
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

void exec_sandbox_run_fini(struct exec_sandbox_run *r)
{
	free(r->argv);
	free(r->src);
	free(r->at);
	free(r->cwd);
	exec_cgroup_free(r->cg);
	memset(r, 0, sizeof(*r));
}

uint8_t exec_sandbox_run_limits(const struct exec_cgroup *cg)
{
	struct exec_cgroup_events ev;

	exec_cgroup_events(cg, &ev);
	return (ev.oom_killed ? TP_LIMIT_MEMORY : 0) |
	       (ev.pids_max ? TP_LIMIT_PIDS : 0);
}
