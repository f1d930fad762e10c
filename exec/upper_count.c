/* SPDX-License-Identifier: MIT */
/* Counting a command's changes in a view's upper layer (upper_count.h). */
#include "upper_count.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int64_t ctime_ns(const struct stat *st)
{
	return (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

/* Entries of dfd (closed here) and below; depth bounds the recursion. */
static void walk(int dfd, int64_t since, uint64_t *n, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;

	if (!d) {
		close(dfd);
		return;
	}
	while ((e = readdir(d))) {
		struct stat st;
		int sub;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISDIR(st.st_mode)) {
			if (ctime_ns(&st) >= since)
				(*n)++;
			continue;
		}
		sub = depth < 256 ? openat(dirfd(d), e->d_name,
					   O_RDONLY | O_DIRECTORY | O_CLOEXEC |
						   O_NOFOLLOW)
				  : -1;
		if (sub >= 0)
			walk(sub, since, n, depth + 1);
	}
	closedir(d);
}

uint32_t exec_upper_changed_since(const char *upper, int64_t since_ns)
{
	char path[PATH_MAX];
	uint64_t n = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/tree", upper);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	walk(fd, since_ns, &n, 0);
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}
