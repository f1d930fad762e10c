/* SPDX-License-Identifier: MIT */
#include "failpoint.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char *armed;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	armed = getenv("TETHER_FAILPOINT");
}

void util_failpoint(const char *name)
{
	pthread_once(&once, load);
	if (armed && strcmp(armed, name) == 0)
		raise(SIGKILL);
}
