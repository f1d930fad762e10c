/* SPDX-License-Identifier: MIT */
/* sbx-probe: what the sandbox tests run inside a sandbox to meet its
 * limits: allocate and touch memory, or fork until forks fail. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char usage[] =
	"usage: sbx-probe mem MIB | fork N\n"
	"  mem MIB  allocate MIB MiB and write every page; print \"touched MIB\"\n"
	"  fork N   fork up to N children that sleep; print \"forked K\" (K < N\n"
	"           when a fork failed, with its error), then end them\n";

static int mem(long mib)
{
	size_t n = (size_t)mib << 20;
	char *p = malloc(n);

	if (!p) {
		printf("malloc failed\n");
		return 1;
	}
	for (size_t i = 0; i < n; i += 4096)
		p[i] = 1;
	printf("touched %ld\n", mib);
	free(p);
	return 0;
}

static int forks(long n)
{
	long k;
	int e = 0;

	for (k = 0; k < n; k++) {
		pid_t pid = fork();

		if (pid == 0) {
			signal(SIGTERM, SIG_DFL);
			pause();
			_exit(0);
		}
		if (pid < 0) {
			e = errno;
			break;
		}
	}
	printf("forked %ld%s%s\n", k, e ? ": " : "", e ? strerror(e) : "");
	fflush(stdout);
	/* The children share our process group; we go with them. */
	signal(SIGTERM, SIG_IGN);
	kill(0, SIGTERM);
	while (wait(NULL) > 0)
		;
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc == 3 ? strtol(argv[2], NULL, 10) : 0;

	if (n > 0 && strcmp(argv[1], "mem") == 0)
		return mem(n);
	if (n > 0 && strcmp(argv[1], "fork") == 0)
		return forks(n);
	fputs(usage, stderr);
	return 2;
}
