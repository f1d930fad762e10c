/* SPDX-License-Identifier: MIT */
/* A node's side of an EXEC_START with TP_EXEC_F_SANDBOX: from the wire's
 * sandbox, the workspace and the cwd, what the runner starts (the helper
 * of sandbox.h with its argv, the rlimits) and the command's cgroup. */
#ifndef TETHER_SANDBOX_RUN_H
#define TETHER_SANDBOX_RUN_H

#include <stddef.h>

#include "cgroup.h"
#include "codec.h"
#include "runner.h"
#include "sandbox.h"

struct exec_sandbox_run {
	char **argv; /* the helper's, for exec_proc_spec.argv */
	struct exec_rlimit rl[EXEC_RL_N];
	size_t nrl;
	struct exec_cgroup *cg; /* NULL when no cgroup limit is asked */
	/* owned by the above */
	char *src, *at, *cwd;
	const char *hide[1];
};

/* Make r for running argv in b's sandbox. root: the node's root, hidden
 * in the sandbox. ws_dir: the START's workspace on the node, or NULL.
 * cwd: the command's directory on the node (under ws_dir with one), or
 * NULL for the sandbox's default (the workspace, else /tmp). name: unique
 * among the node's commands (its cgroup's). 0, or -errno with one line in
 * err (a limit this machine cannot keep, a bad path). */
int exec_sandbox_run_prepare(struct exec_sandbox_run *r,
			     const struct tp_sandbox *b, const char *root,
			     const char *ws_dir, const char *cwd,
			     char *const *argv, const char *name, char *err,
			     size_t errlen);

/* Free what prepare made, the cgroup too unless taken (TAKE_PTR(r->cg)). */
void exec_sandbox_run_fini(struct exec_sandbox_run *r);

/* TP_LIMIT_* from what the cgroup saw. */
uint8_t exec_sandbox_run_limits(const struct exec_cgroup *cg);

#endif
