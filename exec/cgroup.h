/* SPDX-License-Identifier: MIT */
/* A cgroup per sandboxed command for its memory, cpu and pids limits,
 * under the cgroup the node runs in: cgroup v2 when the node's cgroup has
 * the controllers, else the v1 hierarchies that do (both exist on hybrid
 * machines). The command joins it (sandbox.h); when it is over, what it
 * ran into is read back and the cgroup removed. */
#ifndef TETHER_CGROUP_H
#define TETHER_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox.h"

struct exec_cgroup;

struct exec_cgroup_events {
	bool oom_killed;      /* the memory limit's OOM killer fired */
	bool pids_max;	      /* a fork failed at the pids limit */
	uint64_t memory_peak; /* bytes; 0 when unknown */
};

/* A cgroup named name (unique among the node's commands) with lim's
 * memory, cpu and pids limits. 0 and *ret; *ret NULL when lim sets none.
 * -errno with one line in err naming the file and cause: -ENOTSUP when
 * the machine has no cgroup with a controller asked for. */
int exec_cgroup_new(const char *name, const struct exec_limits *lim,
		    struct exec_cgroup **ret, char *err, size_t errlen);

/* The cgroup.procs files to write "0" into to join it, and how many. */
const char *const *exec_cgroup_procs(const struct exec_cgroup *cg, size_t *n);

/* What its processes ran into so far. */
void exec_cgroup_events(const struct exec_cgroup *cg,
			struct exec_cgroup_events *ev);

/* The counters of the cgroup another process is in (a container's init,
 * on this host): how often its OOM killer fired, and how often a fork
 * failed at its pids limit. */
struct exec_cgroup_counters {
	uint64_t oom_kills, pids_max;
};

/* 0, or -ENOENT when pid's cgroup shows neither (no such process, no
 * memory or pids controller). */
int exec_cgroup_counters(pid_t pid, struct exec_cgroup_counters *c);

/* SIGKILL what is left in it, remove it, free. Accepts NULL. */
void exec_cgroup_free(struct exec_cgroup *cg);

#endif
