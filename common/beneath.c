/* SPDX-License-Identifier: MIT */
#include "beneath.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

int util_open_beneath(int root, const char *relpath, int flags)
{
	struct open_how how = {
		.flags = (unsigned)flags | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	if (!*relpath)
		relpath = ".";
	fd = (int)syscall(SYS_openat2, root, relpath, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(root, relpath, flags | O_NOFOLLOW | O_CLOEXEC);
	return fd;
}
