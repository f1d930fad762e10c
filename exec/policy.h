/* SPDX-License-Identifier: MIT */
/* An agent's command policy (docs/config.md, "Policy"): full, an
 * allowlist matched on the resolved executable path, or deny. Decided by
 * tether exec before the command starts, and written to the audit log. */
#ifndef TETHER_POLICY_H
#define TETHER_POLICY_H

#include <stdbool.h>
#include <stddef.h>

enum exec_policy_mode {
	EXEC_POLICY_FULL = 0, /* anything (the default) */
	EXEC_POLICY_ALLOWLIST,
	EXEC_POLICY_DENY, /* nothing */
};

struct exec_policy {
	enum exec_policy_mode mode;
	bool set;     /* given by this layer (an agent's over the defaults') */
	char **allow; /* allowlist: absolute paths, fnmatch patterns */
	size_t nallow;
};

/* Whether argv0 may run. On this host (local: the host and sandbox
 * backends see this file system), a name is looked up in path (the
 * command's PATH) and the result resolved (symlinks, "..") before it is
 * matched; elsewhere only an absolute argv0 can be matched, as given. 0
 * with the path matched in resolved (when there was one to match), or
 * -EACCES with why: "the allowlist does not hold /usr/bin/curl". */
int exec_policy_check(const struct exec_policy *p, const char *argv0,
		      const char *path, bool local, char *resolved, size_t rcap,
		      char *why, size_t whylen);

/* "full", "allowlist", "deny". */
const char *exec_policy_name(enum exec_policy_mode m);

#endif
