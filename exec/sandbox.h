/* SPDX-License-Identifier: MIT */
/* The namespace sandbox a node runs a command in (DESIGN.md, "Backends"):
 * user, mount, pid, ipc, uts and (network none) net namespaces, the root
 * read-only, a private /tmp, the workspace bound where the command expects
 * it, rlimits, and cgroup limits (cgroup.h). The runner starts the helper,
 * `tether __sandbox ARGS -- CMD` (exec_sandbox_argv()), which sets the
 * namespaces up, runs an init as pid 1 that reaps every orphan, and exits
 * as the command did. */
#ifndef TETHER_SANDBOX_H
#define TETHER_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How the workspace appears in the sandbox. */
enum exec_ws_mode {
	EXEC_WS_COW = 0,  /* the node's view, writable: writes land in its
			   * upper (tether changes) */
	EXEC_WS_RO = 1,	  /* bound read-only */
	EXEC_WS_RW = 2,	  /* bound read-write: writes reach the source */
	EXEC_WS_NONE = 3, /* not there at all */
};

/* rlimits a sandbox may set (bit i of exec_limits.rl_set: rl[i]). */
enum {
	EXEC_RL_NOFILE,
	EXEC_RL_NPROC,
	EXEC_RL_FSIZE, /* bytes */
	EXEC_RL_CORE,  /* bytes */
	EXEC_RL_N,
};

struct exec_limits {
	uint64_t memory;    /* bytes; 0: none */
	uint32_t cpu_milli; /* CPUs x 1000; 0: none */
	uint32_t pids;	    /* 0: none */
	uint32_t rl_set;    /* bit per EXEC_RL_* */
	uint64_t rl[EXEC_RL_N];
};

/* What a client asks of a command's sandbox (exec_spec.sandbox). */
struct exec_sandbox_req {
	bool net_host;
	enum exec_ws_mode mode;
	const char *ws_src; /* NULL: the workspace (the node's view of it) */
	const char *ws_at;  /* NULL: where ws_src is */
	struct exec_limits lim;
};

struct exec_sandbox {
	bool net_host; /* false: a network namespace with lo only */
	enum exec_ws_mode mode;
	const char *ws_src;	 /* the directory to show, on this host; NULL:
				* no workspace */
	const char *ws_at;	 /* where, inside; absolute */
	const char *cwd;	 /* the command's, inside; absolute */
	const char *const *hide; /* paths covered by an empty directory */
	size_t nhide;
	const char *const *cgroups; /* cgroup.procs files to join */
	size_t ncgroups;
};

/* Settings given in layers (a backend's, the agents' defaults, an
 * agent's, the command line's), each on top of the one before: which
 * were given, and their values. */
enum {
	EXEC_SBX_MEMORY = 1u << 0,
	EXEC_SBX_CPUS = 1u << 1,
	EXEC_SBX_PIDS = 1u << 2,
	EXEC_SBX_NETWORK = 1u << 3,
	EXEC_SBX_MOUNT = 1u << 4,
};

struct exec_sbx_conf {
	unsigned set; /* EXEC_SBX_* given here; rlimits: req.lim.rl_set */
	struct exec_sandbox_req req;
};

/* exec_sandbox_set() on s->req, noting the setting as given. */
int exec_sbx_conf_set(struct exec_sbx_conf *s, const char *key,
		      const char *value, char *err, size_t errlen);
/* Whether s gives anything. */
bool exec_sbx_conf_given(const struct exec_sbx_conf *s);
/* What s gives, onto q. */
void exec_sbx_conf_apply(struct exec_sandbox_req *q,
			 const struct exec_sbx_conf *s);

/* Set one setting of q from text, as the CLI and the config give it:
 * "memory" (bytes, "256m"), "cpus" ("1.5"), "pids", "nofile", "nproc",
 * "fsize" and "core" (bytes), "network" ("none", "host"), "mount"
 * ("cow", "ro", "rw", "none"). 0; -ENOENT for an unknown key; -EINVAL
 * with what was expected in err. */
int exec_sandbox_set(struct exec_sandbox_req *q, const char *key,
		     const char *value, char *err, size_t errlen);

/* The helper's argv for running argv in sb: a NULL-terminated array, one
 * allocation (free() it); strings borrowed from sb and argv. NULL when
 * out of memory. */
char **exec_sandbox_argv(const struct exec_sandbox *sb, char *const *argv);

/* "cow", "ro", "rw", "none". */
const char *exec_ws_mode_name(enum exec_ws_mode m);

/* The rlimit resource (RLIMIT_*) of an EXEC_RL_* index. */
int exec_rl_resource(unsigned i);
/* "nofile", "nproc", "fsize", "core". */
const char *exec_rl_name(unsigned i);

/* `tether __sandbox`: the helper's main (argv[0] is "__sandbox"). Exits
 * as the command did (its code, or killed by its signal), or 125 with one
 * line on stderr when the sandbox could not be made, 126/127 when the
 * command could not be run. */
int exec_sandbox_main(int argc, char **argv);

#endif
