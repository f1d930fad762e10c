/* SPDX-License-Identifier: MIT */
/* Logging: level from the environment, one write(2) per line so lines from
 * concurrent threads and processes never interleave. */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static _Atomic int level = LOG_LEVEL_WARN;

static int parse_level(const char *s)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, names[i]) == 0)
			return i;
	if (strcasecmp(s, "warning") == 0)
		return LOG_LEVEL_WARN;
	return -1;
}

void log_init_from_env(void)
{
	const char *vars[] = { "TETHER_LOG", "LOG_LEVEL" };

	for (int i = 0; i < 2; i++) {
		const char *v = getenv(vars[i]);
		int l;

		if (!v || !*v)
			continue;
		l = parse_level(v);
		if (l >= 0) {
			level = l;
			return;
		}
	}
}

void log_set_level(enum log_level l)
{
	level = l;
}

enum log_level log_get_level(void)
{
	return level;
}

static void emit(enum log_level l, const char *suffix, const char *fmt,
		 va_list ap) __attribute__((format(printf, 3, 0)));

static void emit(enum log_level l, const char *suffix, const char *fmt,
		 va_list ap)
{
	char line[2048];
	int n = 0;

	if ((int)l > level)
		return;
	n = snprintf(line, sizeof(line), "tether: %s",
		     l == LOG_LEVEL_DEBUG  ? "debug: "
		     : l == LOG_LEVEL_WARN ? "warning: "
					   : "");
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (n >= (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	if (suffix)
		n += snprintf(line + n, sizeof(line) - (size_t)n, ": %s",
			      suffix);
	if (n >= (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* Best effort: a log line that cannot be written is not an error. */
	while (write(STDERR_FILENO, line, (size_t)n) < 0 && errno == EINTR)
		;
}

void log_vmsg(enum log_level l, const char *fmt, va_list ap)
{
	int saved = errno;

	emit(l, NULL, fmt, ap);
	errno = saved;
}

void log_msg(enum log_level l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(l, fmt, ap);
	va_end(ap);
}

int log_msg_errno(enum log_level l, int r, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	emit(l, strerror_r(r < 0 ? -r : r, buf, sizeof(buf)), fmt, ap);
	va_end(ap);
	errno = saved;
	return r;
}
