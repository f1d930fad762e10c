/* SPDX-License-Identifier: MIT */
/* Command policy (policy.h). */
#include "policy.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *exec_policy_name(enum exec_policy_mode m)
{
	static const char *const names[] = { "full", "allowlist", "deny" };

	return (unsigned)m < 3 ? names[m] : "?";
}

/* The first executable path/name in the PATH list, resolved. */
static bool lookup(const char *name, const char *path, char *out, size_t cap)
{
	const char *p = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";

	while (*p) {
		size_t n = strcspn(p, ":");
		char cand[PATH_MAX];

		if ((size_t)snprintf(cand, sizeof(cand), "%.*s/%s", (int)n,
				     n ? p : ".", name) < sizeof(cand) &&
		    access(cand, X_OK) == 0 && realpath(cand, out) &&
		    strlen(out) < cap)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

int exec_policy_check(const struct exec_policy *p, const char *argv0,
		      const char *path, bool local, char *resolved, size_t rcap,
		      char *why, size_t whylen)
{
	char buf[PATH_MAX];

	resolved[0] = '\0';
	if (p->mode == EXEC_POLICY_FULL)
		return 0;
	if (p->mode == EXEC_POLICY_DENY) {
		snprintf(why, whylen, "its policy is deny: no command runs");
		return -EACCES;
	}
	if (strchr(argv0, '/')) {
		if (local && !realpath(argv0, buf)) {
			snprintf(why, whylen, "%s: %s", argv0, strerror(errno));
			return -EACCES;
		}
		if (!local)
			snprintf(buf, sizeof(buf), "%s", argv0);
	} else if (!local) {
		snprintf(why, whylen,
			 "%s: on a backend off this host, an allowlist needs "
			 "the program's absolute path",
			 argv0);
		return -EACCES;
	} else if (!lookup(argv0, path, buf, sizeof(buf))) {
		snprintf(why, whylen, "%s: not found in PATH", argv0);
		return -EACCES;
	}
	snprintf(resolved, rcap, "%s", buf);
	for (size_t i = 0; i < p->nallow; i++)
		if (fnmatch(p->allow[i], buf, FNM_PATHNAME) == 0)
			return 0;
	snprintf(why, whylen, "the allowlist does not hold %s", buf);
	return -EACCES;
}
