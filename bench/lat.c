/* SPDX-License-Identifier: MIT */
/* lat: round-trip latency of whole commands. Fork/execs each given argv N
 * times, interleaved round-robin so noise hits every command alike, and
 * prints p50/p90/p99/mean per command in milliseconds. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

/* Hard caps: a command line names a handful of commands, and a run that
 * needs more samples than this is a different benchmark. */
#define LAT_CMDS_MAX  16
#define LAT_RUNS_MAX  1000000
#define LAT_SEP	      "---"
#define LAT_HANGS_MAX 20

struct cmd {
	const char *label;
	char **argv;	 /* borrowed from main's argv, NULL-terminated */
	double *samples; /* ms, one per measured run */
	size_t n;
	size_t hangs; /* runs killed after the timeout, not in samples */
};

/* What one run came to. */
enum { RUN_OK, RUN_HANG, RUN_FAIL };

static const char usage[] =
	"usage: lat [-n RUNS] [-w WARMUP] [-t TIMEOUT_MS] [-r RAWDIR] [--] LABEL CMD [ARG...] [--- LABEL CMD [ARG...]]...\n"
	"  Runs every CMD RUNS times (after WARMUP unmeasured runs), interleaved\n"
	"  round-robin, stdin and stdout on /dev/null, stderr inherited. Any run\n"
	"  that does not exit 0 aborts the benchmark (exit 1). A run still going\n"
	"  after TIMEOUT_MS (default 10000) is killed (SIGKILL), counted as a hang\n"
	"  and left out of the figures; RUNS measured runs are still collected.\n"
	"  Prints one line per command:\n"
	"    LABEL n=N p50=MS p90=MS p99=MS mean=MS min=MS max=MS hangs=K\n"
	"  -r RAWDIR writes every sample (ms) to RAWDIR/LABEL.txt\n";

static int parse_count(const char *s, long max, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* One fork/exec/wait of c->argv: RUN_OK with *ms, RUN_HANG when it ran
 * past timeout_ms (killed and reaped), RUN_FAIL after saying why. */
static int run_once(const struct cmd *c, int devnull, int timeout_ms,
		    double *ms)
{
	double t0 = bench_now_ms(), t1;
	bool hung = false;
	int status, pfd, r;
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		perror("lat: fork");
		return RUN_FAIL;
	}
	if (pid == 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		execvp(c->argv[0], c->argv);
		fprintf(stderr, "lat: %s: %s\n", c->argv[0], strerror(errno));
		_exit(127);
	}
	/* The pidfd becomes readable when the child exits; waitpid after it
	 * (or after the kill) reaps without racing a reused pid. */
	pfd = pidfd_open(pid, 0);
	if (pfd >= 0) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };

		do
			r = poll(&p, 1, timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			hung = true;
			kill(pid, SIGKILL);
		}
		close(pfd);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			perror("lat: waitpid");
			return RUN_FAIL;
		}
	t1 = bench_now_ms();
	if (hung) {
		fprintf(stderr, "lat: %s: still running after %d ms, killed\n",
			c->label, timeout_ms);
		return RUN_HANG;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "lat: %s: %s %d\n", c->label,
			WIFEXITED(status) ? "exit" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status)
					  : WTERMSIG(status));
		return RUN_FAIL;
	}
	*ms = t1 - t0;
	return RUN_OK;
}

static int write_raw(const char *dir, const struct cmd *c)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.txt", dir, c->label);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "lat: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	for (size_t i = 0; i < c->n; i++)
		fprintf(f, "%.4f\n", c->samples[i]);
	return fclose(f) ? -errno : 0;
}

static void report(struct cmd *c)
{
	double sum = 0;

	for (size_t i = 0; i < c->n; i++)
		sum += c->samples[i];
	qsort(c->samples, c->n, sizeof(double), bench_cmp_double);
	printf("%s n=%zu p50=%.3f p90=%.3f p99=%.3f mean=%.3f min=%.3f max=%.3f hangs=%zu\n",
	       c->label, c->n, bench_pct(c->samples, c->n, 50),
	       bench_pct(c->samples, c->n, 90), bench_pct(c->samples, c->n, 99),
	       sum / (double)c->n, c->samples[0], c->samples[c->n - 1],
	       c->hangs);
}

int main(int argc, char **argv)
{
	struct cmd cmds[LAT_CMDS_MAX];
	long runs = 200, warmup = 5, timeout_ms = 10000;
	const char *rawdir = NULL;
	size_t n_cmds = 0;
	int opt, devnull, i, rc = 1;

	while ((opt = getopt(argc, argv, "+n:w:t:r:h")) != -1) {
		switch (opt) {
		case 'n':
			if (parse_count(optarg, LAT_RUNS_MAX, &runs) < 0 ||
			    runs == 0) {
				fprintf(stderr, "lat: -n %s: expected 1..%d\n",
					optarg, LAT_RUNS_MAX);
				return 2;
			}
			break;
		case 'w':
			if (parse_count(optarg, LAT_RUNS_MAX, &warmup) < 0) {
				fprintf(stderr, "lat: -w %s: expected 0..%d\n",
					optarg, LAT_RUNS_MAX);
				return 2;
			}
			break;
		case 't':
			if (parse_count(optarg, 3600 * 1000, &timeout_ms) < 0 ||
			    timeout_ms == 0) {
				fprintf(stderr,
					"lat: -t %s: expected 1..3600000 ms\n",
					optarg);
				return 2;
			}
			break;
		case 'r': rawdir = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}

	/* getopt stopped at "--" (consumed) or the first label: split the
	 * rest at each "---" into LABEL CMD [ARG...]. Not at "--", which the
	 * commands themselves use (tether exec ... -- true). */
	i = optind;
	while (i < argc) {
		int start = i;

		while (i < argc && strcmp(argv[i], LAT_SEP) != 0)
			i++;
		if (i - start < 2) {
			fputs("lat: each command needs a LABEL and a CMD\n",
			      stderr);
			fputs(usage, stderr);
			return 2;
		}
		if (n_cmds == LAT_CMDS_MAX) {
			fprintf(stderr, "lat: more than %d commands\n",
				LAT_CMDS_MAX);
			return 2;
		}
		if (strchr(argv[start], '/')) {
			fprintf(stderr, "lat: label %s: no '/' allowed\n",
				argv[start]);
			return 2;
		}
		cmds[n_cmds] = (struct cmd){ .label = argv[start],
					     .argv = &argv[start + 1] };
		n_cmds++;
		if (i < argc)
			argv[i++] = NULL; /* terminates the previous argv */
	}
	if (n_cmds == 0) {
		fputs(usage, stderr);
		return 2;
	}

	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		perror("lat: /dev/null");
		return 1;
	}
	for (size_t c = 0; c < n_cmds; c++) {
		cmds[c].samples = calloc((size_t)runs, sizeof(double));
		if (!cmds[c].samples) {
			perror("lat: calloc");
			goto out;
		}
	}

	/* Round r starts with command r % n_cmds, so no command always runs
	 * right after the same other one (caches, a just-closed socket). A
	 * hung run is retried in the same round; a command that keeps hanging
	 * ends the benchmark. */
	for (long r = 0; r < warmup + runs; r++) {
		for (size_t k = 0; k < n_cmds; k++) {
			struct cmd *c = &cmds[((size_t)r + k) % n_cmds];
			double ms;
			int how;

			while ((how = run_once(c, devnull, (int)timeout_ms,
					       &ms)) == RUN_HANG) {
				if (++c->hangs > LAT_HANGS_MAX) {
					fprintf(stderr,
						"lat: %s: more than %d hangs, giving up\n",
						c->label, LAT_HANGS_MAX);
					goto out;
				}
			}
			if (how == RUN_FAIL)
				goto out;
			if (r >= warmup)
				c->samples[c->n++] = ms;
		}
	}

	for (size_t c = 0; c < n_cmds; c++) {
		if (rawdir && write_raw(rawdir, &cmds[c]) < 0)
			goto out;
		report(&cmds[c]);
	}
	rc = 0;
out:
	for (size_t c = 0; c < n_cmds; c++)
		free(cmds[c].samples);
	close(devnull);
	return rc;
}
