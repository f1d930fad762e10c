/* SPDX-License-Identifier: MIT */
/* thru: stdout throughput of a whole command. Fork/execs argv with stdout on
 * a pipe, counts every byte it writes, checks the count, reports MB/s. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

/* The consumer reads like `wc -c` would, in fixed chunks; the pipe keeps
 * its default size so every command sees the same consumer. */
#define THRU_CHUNK    (128u << 10)
#define THRU_RUNS_MAX 1000

static const char usage[] =
	"usage: thru [-n RUNS] [-b BYTES] LABEL -- CMD [ARG...]\n"
	"  Runs CMD RUNS times with stdin on /dev/null and stdout on a pipe that\n"
	"  this program drains and counts. With -b, a run whose byte count is not\n"
	"  exactly BYTES, or any run that does not exit 0, fails (exit 1).\n"
	"  Prints one line per run and a summary (MB = 10^6 bytes):\n"
	"    LABEL bytes=N best_s=S median_s=S best_MBps=X median_MBps=X client_cpu_s=C\n"
	"  client_cpu_s is the median user+sys of CMD itself (not of a server).\n";

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -EINVAL;
	*ret = v;
	return 0;
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* One run: *secs wall time from fork to exit, *bytes counted, *cpu client
 * user+sys. Returns 0, or -1 after printing why. */
static int run_once(char **argv, unsigned char *buf, double *secs,
		    uint64_t *bytes, double *cpu)
{
	struct rusage ru;
	int p[2], status, devnull, rc = 0;
	uint64_t n = 0;
	double t0;
	pid_t pid;

	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0) {
		perror("thru: /dev/null");
		return -1;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("thru: pipe");
		close(devnull);
		return -1;
	}
	t0 = (bench_now_ms() / 1e3);
	pid = fork();
	if (pid < 0) {
		perror("thru: fork");
		close(devnull);
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(p[1], STDOUT_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "thru: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	close(devnull);
	for (;;) {
		ssize_t k = read(p[0], buf, THRU_CHUNK);

		if (k > 0) {
			n += (uint64_t)k;
			continue;
		}
		if (k == 0)
			break;
		if (errno == EINTR)
			continue;
		perror("thru: read");
		rc = -1;
		break;
	}
	close(p[0]);
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR) {
			perror("thru: wait4");
			return -1;
		}
	*secs = (bench_now_ms() / 1e3) - t0;
	*bytes = n;
	*cpu = tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "thru: %s: %s %d\n", argv[0],
			WIFEXITED(status) ? "exit" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status)
					  : WTERMSIG(status));
		return -1;
	}
	return rc;
}

int main(int argc, char **argv)
{
	uint64_t expect = 0, runs = 3, bytes = 0;
	bool check = false;
	double *secs = NULL, *cpus = NULL;
	unsigned char *buf = NULL;
	const char *label;
	int opt, rc = 1;

	while ((opt = getopt(argc, argv, "+n:b:h")) != -1) {
		switch (opt) {
		case 'n':
			if (parse_u64(optarg, &runs) < 0 || runs == 0 ||
			    runs > THRU_RUNS_MAX) {
				fprintf(stderr, "thru: -n %s: expected 1..%d\n",
					optarg, THRU_RUNS_MAX);
				return 2;
			}
			break;
		case 'b':
			if (parse_u64(optarg, &expect) < 0) {
				fprintf(stderr,
					"thru: -b %s: expected a byte count\n",
					optarg);
				return 2;
			}
			check = true;
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (argc - optind < 3 || strcmp(argv[optind + 1], "--") != 0) {
		fputs(usage, stderr);
		return 2;
	}
	label = argv[optind];
	argv += optind + 2;

	secs = calloc(runs, sizeof(*secs));
	cpus = calloc(runs, sizeof(*cpus));
	buf = malloc(THRU_CHUNK);
	if (!secs || !cpus || !buf) {
		perror("thru: malloc");
		goto out;
	}
	for (uint64_t r = 0; r < runs; r++) {
		uint64_t n;

		if (run_once(argv, buf, &secs[r], &n, &cpus[r]) < 0)
			goto out;
		if (check && n != expect) {
			fprintf(stderr,
				"thru: %s: run %" PRIu64 ": got %" PRIu64
				" bytes, expected %" PRIu64 "\n",
				label, r + 1, n, expect);
			goto out;
		}
		if (r > 0 && n != bytes) {
			fprintf(stderr,
				"thru: %s: byte count changed between runs (%" PRIu64
				" vs %" PRIu64 ")\n",
				label, n, bytes);
			goto out;
		}
		bytes = n;
		fprintf(stderr,
			"thru: %s run %" PRIu64 ": %" PRIu64
			" bytes in %.3f s, %.1f MB/s, client cpu %.3f s\n",
			label, r + 1, n, secs[r], (double)n / secs[r] / 1e6,
			cpus[r]);
	}
	qsort(secs, runs, sizeof(*secs), bench_cmp_double);
	qsort(cpus, runs, sizeof(*cpus), bench_cmp_double);
	/* Upper median for even counts: the slower of the middle two. */
	printf("%s bytes=%" PRIu64
	       " best_s=%.3f median_s=%.3f best_MBps=%.1f median_MBps=%.1f client_cpu_s=%.3f\n",
	       label, bytes, secs[0], secs[runs / 2],
	       (double)bytes / secs[0] / 1e6,
	       (double)bytes / secs[runs / 2] / 1e6, cpus[runs / 2]);
	rc = 0;
out:
	free(secs);
	free(cpus);
	free(buf);
	return rc;
}
