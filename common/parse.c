/* SPDX-License-Identifier: MIT */
/* Checked number parsing for options and config values. */
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"

int util_parse_u64(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end)
		return -EINVAL;
	*ret = v;
	return 0;
}

int util_parse_u32(const char *s, uint32_t *ret)
{
	uint64_t v;
	int r = util_parse_u64(s, &v);

	if (r < 0)
		return r;
	if (v > UINT32_MAX)
		return -ERANGE;
	*ret = (uint32_t)v;
	return 0;
}

int util_parse_int(const char *s, int *ret)
{
	long v;
	char *end;

	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno == ERANGE || v > INT32_MAX || v < INT32_MIN)
		return -ERANGE;
	if (*end)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

int util_parse_milli(const char *s, uint64_t max_whole, uint64_t *ret)
{
	uint64_t whole = 0, frac = 0, scale = 1000;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		whole = whole * 10 + (uint64_t)(*p - '0');
		if (whole > max_whole)
			return -ERANGE;
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*p - '0') * scale;
			}
		}
	}
	if (*p)
		return -EINVAL;
	if (whole == max_whole && frac)
		return -ERANGE;
	*ret = whole * 1000 + frac;
	return 0;
}

int util_parse_seconds_ms(const char *s, uint32_t *ret_ms)
{
	uint64_t v;
	int r = util_parse_milli(s, 30ULL * 86400, &v);

	if (r == 0)
		*ret_ms = (uint32_t)v;
	return r;
}

int util_parse_size(const char *s, uint64_t *ret)
{
	static const char units[] = "kmgt";
	uint64_t v = 0, mul = 1;
	const char *p = s, *u;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (*p && (u = strchr(units, tolower((unsigned char)*p)))) {
		for (long i = 0; i <= u - units; i++)
			mul *= 1024;
		p++;
		if (*p == 'i' || *p == 'I')
			p++;
	}
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p)
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*ret = v * mul;
	return 0;
}

static const struct {
	const char *name;
	int sig;
} signames[] = {
	{ "HUP", SIGHUP },	 { "INT", SIGINT },   { "QUIT", SIGQUIT },
	{ "ILL", SIGILL },	 { "TRAP", SIGTRAP }, { "ABRT", SIGABRT },
	{ "BUS", SIGBUS },	 { "FPE", SIGFPE },   { "KILL", SIGKILL },
	{ "USR1", SIGUSR1 },	 { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
	{ "PIPE", SIGPIPE },	 { "ALRM", SIGALRM }, { "TERM", SIGTERM },
	{ "CHLD", SIGCHLD },	 { "CONT", SIGCONT }, { "STOP", SIGSTOP },
	{ "TSTP", SIGTSTP },	 { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },
	{ "URG", SIGURG },	 { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
	{ "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH },
	{ "IO", SIGIO },	 { "PWR", SIGPWR },   { "SYS", SIGSYS },
};

int util_parse_signal(const char *s, int *ret)
{
	int v;

	if (!s || !*s)
		return -EINVAL;
	if (isdigit((unsigned char)*s)) {
		if (util_parse_int(s, &v) < 0 || v < 1 || v > 64)
			return -EINVAL;
		*ret = v;
		return 0;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < UTIL_ARRAY_SIZE(signames); i++)
		if (strcasecmp(s, signames[i].name) == 0) {
			*ret = signames[i].sig;
			return 0;
		}
	return -EINVAL;
}
