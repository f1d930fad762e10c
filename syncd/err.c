/* SPDX-License-Identifier: MIT */
/* The one way every syncd module says why it refused something. */
#include <stdarg.h>
#include <stdio.h>

#include "manifest.h"

int sd_err_set(struct sd_err *why, int code, const char *fmt, ...)
{
	va_list ap;

	if (why) {
		va_start(ap, fmt);
		vsnprintf(why->what, sizeof(why->what), fmt, ap);
		va_end(ap);
	}
	return code;
}
