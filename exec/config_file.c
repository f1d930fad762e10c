/* SPDX-License-Identifier: MIT */
/* The config file: found where tether looks, and read, capped (config.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "config_int.h"

/* The whole file into *ret (len in *ret_len); -EFBIG past the cap. One
 * allocation of the cap, whose pages are touched only as far as the file
 * goes; st_size is not trusted (a pipe, a file still growing). */
static int read_capped(int fd, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = malloc(EXEC_CONFIG_FILE_MAX + 1);
	size_t len = 0;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	while (len <= EXEC_CONFIG_FILE_MAX) {
		n = read(fd, buf + len, EXEC_CONFIG_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > EXEC_CONFIG_FILE_MAX)
		return -EFBIG;
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

int exec_config_load(const char *path, struct exec_config **ret, char *err,
		     size_t errlen)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	r = fd < 0 ? -errno : read_capped(fd, &text, &len);
	if (r >= 0)
		return exec_config_parse(text, len, path, ret, err, errlen);
	if (err && errlen) {
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		cfg_one_line(err);
	}
	return r;
}

/* buf = a + b, or -ENAMETOOLONG. */
static int join(char *buf, size_t len, const char *a, const char *b)
{
	int n = snprintf(buf, len, "%s%s", a, b);

	return n >= 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

int exec_config_find(char *buf, size_t len)
{
	const char *env = getenv("TETHER_CONFIG");
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	int r;

	if (env && *env)
		return join(buf, len, env, "");
	if (access("tether.json", F_OK) == 0)
		return join(buf, len, "tether.json", "");
	/* XDG: a relative XDG_CONFIG_HOME is invalid and ignored. */
	if (xdg && xdg[0] == '/')
		r = join(buf, len, xdg, "/tether/tether.json");
	else if (home && *home)
		r = join(buf, len, home, "/.config/tether/tether.json");
	else
		return -ENOENT;
	if (r < 0)
		return r;
	return access(buf, F_OK) == 0 ? 0 : -ENOENT;
}
