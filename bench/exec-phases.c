/* SPDX-License-Identifier: MIT */
/* exec-phases: where one `tether exec -- CMD` round trip spends its time.
 * Each run is a fresh forked process doing what the node backend does. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

#include "backend.h"
#include "log.h"
#include "remote.h"

#define PH_RUNS_MAX  100000
#define PH_HANG_S    10 /* a run still going after this is a hang */
#define PH_HANGS_MAX 20

/* The phases, in the order one run goes through them. */
enum {
	PH_OPEN,  /* exec_remote_open: connect, SP handshake, reader thread */
	PH_RUN,	  /* exec_remote_run: EXEC_START (with FIRST: one round trip
		   * for a short command), then EXEC_READs until the exit */
	PH_CLOSE, /* exec_remote_close: shutdown, join the reader */
	PH_EXIT,  /* parent's view: fork + _exit + reap, minus the above */
	PH_TOTAL, /* parent's view: fork to reaped */
	PH_N,
};

static const char *const ph_name[PH_N] = {
	"open_dial", "run", "close", "fork_exit", "total",
};

static const char usage[] =
	"usage: exec-phases [-n RUNS] [-s] URL CMD [ARG...]\n"
	"  Runs CMD on the tether node at URL RUNS times (default 200), each in a\n"
	"  freshly forked process that does what `tether exec --node URL -- CMD`\n"
	"  does after startup, and prints the median and p90 of each phase in ms.\n"
	"  -s: no stdin forwarding (like tether exec -n)\n"
	"  A run still going after 10 s is killed (SIGALRM), counted as a hang in\n"
	"  the phase it had reached, and run again.\n"
	"  Not measured: execve and dynamic linking of the tether binary (compare\n"
	"  `tether --version` against `true` with bench/lat for that).\n";

/* In the child: one round trip, phase times into t[]. 0 or exit code. */
static int child_run(const char *url, char **argv, bool fwd_stdin, double *t)
{
	char *env[] = { NULL };
	struct exec_spec spec = { .argv = argv,
				  .env = env,
				  .forward_stdin = fwd_stdin };
	struct exec_io io = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, -1 };
	struct exec_result res = { 0 };
	struct exec_remote *r;
	double a, b;

	a = bench_now_ms();
	if (exec_remote_open(url, &r) < 0)
		return 4;
	b = bench_now_ms();
	t[PH_OPEN] = b - a;
	if (exec_remote_run(r, &spec, &io, &res) < 0)
		return 5;
	a = bench_now_ms();
	t[PH_RUN] = a - b;
	exec_remote_close(r);
	t[PH_CLOSE] = bench_now_ms() - a;
	return res.status.code == 0 && res.status.signal == 0 ? 0 : 7;
}

int main(int argc, char **argv)
{
	long runs = 200;
	bool fwd_stdin = true;
	double *all, *col;
	const char *url;
	int opt, devnull;
	long hangs[PH_N] = { 0 }, n_hangs = 0;

	while ((opt = getopt(argc, argv, "+n:sh")) != -1) {
		switch (opt) {
		case 'n': {
			char *end;

			errno = 0;
			runs = strtol(optarg, &end, 10);
			if (errno || *end || runs < 1 || runs > PH_RUNS_MAX) {
				fprintf(stderr,
					"exec-phases: -n %s: expected 1..%d\n",
					optarg, PH_RUNS_MAX);
				return 2;
			}
			break;
		}
		case 's': fwd_stdin = false; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (argc - optind < 2) {
		fputs(usage, stderr);
		return 2;
	}
	url = argv[optind];
	argv += optind + 1;
	log_init_from_env();

	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	/* Children write their phase times here; each starts the client
	 * cold, as tether does. */
	all = mmap(NULL, (size_t)runs * PH_N * sizeof(double),
		   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	col = calloc((size_t)runs, sizeof(double));
	if (devnull < 0 || all == MAP_FAILED || !col) {
		perror("exec-phases: setup");
		return 1;
	}
	for (long i = 0; i < runs; i++) {
		double *t = all + i * PH_N, t0, sum = 0;
		int status;
		pid_t pid;

		for (int p = 0; p < PH_N; p++)
			t[p] = -1;
		t0 = bench_now_ms();
		pid = fork();
		if (pid < 0) {
			perror("exec-phases: fork");
			return 1;
		}
		if (pid == 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDOUT_FILENO);
			alarm(PH_HANG_S);
			_exit(child_run(url, argv, fwd_stdin, t));
		}
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR) {
				perror("exec-phases: waitpid");
				return 1;
			}
		t[PH_TOTAL] = bench_now_ms() - t0;
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
			int p = 0;

			while (p < PH_EXIT && t[p] >= 0)
				p++;
			hangs[p]++;
			fprintf(stderr, "exec-phases: run %ld hung in %s\n",
				i + 1, ph_name[p]);
			if (++n_hangs > PH_HANGS_MAX) {
				fprintf(stderr,
					"exec-phases: more than %d hangs, giving up\n",
					PH_HANGS_MAX);
				return 1;
			}
			i--;
			continue;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "exec-phases: run %ld failed (%s %d)\n",
				i + 1, WIFEXITED(status) ? "exit" : "signal",
				WIFEXITED(status) ? WEXITSTATUS(status)
						  : WTERMSIG(status));
			return 1;
		}
		for (int p = 0; p < PH_EXIT; p++)
			sum += t[p];
		t[PH_EXIT] = t[PH_TOTAL] - sum;
	}

	printf("%-10s %9s %9s %9s %6s\n", "phase", "p50 ms", "p90 ms",
	       "mean ms", "hangs");
	for (int p = 0; p < PH_N; p++) {
		double mean = 0;

		for (long i = 0; i < runs; i++) {
			col[i] = all[i * PH_N + p];
			mean += col[i];
		}
		qsort(col, (size_t)runs, sizeof(double), bench_cmp_double);
		printf("%-10s %9.3f %9.3f %9.3f %6ld\n", ph_name[p],
		       col[(runs - 1) / 2], col[(runs * 9 + 9) / 10 - 1],
		       mean / (double)runs, hangs[p]);
	}
	free(col);
	munmap(all, (size_t)runs * PH_N * sizeof(double));
	close(devnull);
	return 0;
}
