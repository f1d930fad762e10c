/* SPDX-License-Identifier: MIT */
/* Where this program is (selfexe.h). */
#include "selfexe.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int util_self_exe(char *out, size_t cap)
{
	ssize_t n;

	if (cap < 2)
		return -ENAMETOOLONG;
	n = readlink("/proc/self/exe", out, cap - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n == cap - 1)
		return -ENAMETOOLONG;
	out[n] = '\0';
	return 0;
}

int util_sibling_exe(const char *name, char *out, size_t cap)
{
	char *slash;
	int r = util_self_exe(out, cap);

	if (r < 0)
		return r;
	slash = strrchr(out, '/');
	if (!slash)
		return -ENOENT;
	if ((size_t)(slash + 1 - out) + strlen(name) + 1 > cap)
		return -ENAMETOOLONG;
	strcpy(slash + 1, name);
	return access(out, X_OK) == 0 ? 0 : -errno;
}
