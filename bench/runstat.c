/* SPDX-License-Identifier: MIT */
/* runstat: run a command and append its wall time, CPU time and peak RSS
 * (its whole reaped process tree, from wait4) to a file, for bench/sync.sh. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stats.h"

static const char usage[] =
	"usage: runstat -o FILE [-l LABEL] -- CMD [ARG...]\n"
	"  Runs CMD with this process's stdin, stdout and stderr, waits for it,\n"
	"  appends one line to FILE:\n"
	"    LABEL wall_s=S user_s=S sys_s=S maxrss_kb=K status=N\n"
	"  and exits with CMD's status (128+signal if it was killed). CPU is\n"
	"  CMD's and that of every descendant it reaped; maxrss_kb is the\n"
	"  largest single process of that tree (getrusage semantics), not a sum.\n"
	"  Writes nothing to stdout: usable as rsync's --rsync-path.\n";

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	const char *out = NULL, *label = "run";
	struct rusage ru;
	double t0, t1;
	int opt, status, code, fd;
	char line[512];
	pid_t pid;

	while ((opt = getopt(argc, argv, "+o:l:h")) != -1) {
		switch (opt) {
		case 'o': out = optarg; break;
		case 'l': label = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!out || optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "runstat: %s: %s\n", out, strerror(errno));
		return 2;
	}
	t0 = bench_now_ms();
	pid = fork();
	if (pid < 0) {
		perror("runstat: fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "runstat: %s: %s\n", argv[optind],
			strerror(errno));
		_exit(127);
	}
	/* A signal for the command (^C) must not leave it unwaited. */
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("runstat: wait4");
			return 2;
		}
	}
	t1 = bench_now_ms();
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	snprintf(line, sizeof(line),
		 "%s wall_s=%.3f user_s=%.3f sys_s=%.3f maxrss_kb=%ld "
		 "status=%d\n",
		 label, (t1 - t0) / 1e3, tv_s(ru.ru_utime), tv_s(ru.ru_stime),
		 ru.ru_maxrss, code);
	if (write(fd, line, strlen(line)) < 0)
		perror("runstat: write");
	close(fd);
	return code;
}
