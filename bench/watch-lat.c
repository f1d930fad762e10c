/* SPDX-License-Identifier: MIT */
/* watch-lat: save-to-visible latency of a sync watcher. Saves a file with a
 * unique token in SRC and times until DST's copy holds it (inotify). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

#define FILES_MAX   64
#define SAMPLES_MAX 100000
#define FILE_CAP    (1u << 20) /* the probed files are small */

static const char usage[] =
	"usage: watch-lat [-n N] [-g MS] [-t MS] [-r FILE] SRC DST REL...\n"
	"  N times (default 200), round-robin over the files REL (relative to\n"
	"  SRC and DST, each at most 1 MiB): rewrite SRC/REL in place as its\n"
	"  original content plus a line with a unique token, then wait until\n"
	"  DST/REL contains the token (inotify on its directory, and a check\n"
	"  every millisecond as a backstop). A sample is the time from before\n"
	"  the open() of the save to the read that found the token.\n"
	"  -g MS  pause between samples: MS plus 0..MS of jitter (default 25)\n"
	"  -t MS  give up on a sample after MS (default 5000): counted, not timed\n"
	"  -r FILE  every sample in ms, one a line\n"
	"  The files get their original content back at the end. Prints:\n"
	"    watch-lat n=N p50_ms= p90_ms= p99_ms= max_ms= mean_ms= timeouts=\n";

struct probe {
	char src[PATH_MAX], dst[PATH_MAX];
	char *orig;
	size_t len;
	int wd;
};

static int read_file(const char *path, char *buf, size_t cap, size_t *len)
{
	size_t n = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)r;
	close(fd);
	*len = n;
	return 0;
}

static int save(const char *path, const char *a, size_t na, const char *b,
		size_t nb)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, a, na) != (ssize_t)na ||
	    (nb && write(fd, b, nb) != (ssize_t)nb))
		rc = -EIO;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	return rc;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long n = 200, gap = 25, tmo = 5000;
	const char *rfile = NULL;
	struct probe p[FILES_MAX];
	size_t np = 0, nok = 0, timeouts = 0;
	double *ms, sum = 0;
	char *buf, tok[96];
	uint64_t jit = 0x9e3779b97f4a7c15ull;
	int opt, ifd;

	while ((opt = getopt(argc, argv, "n:g:t:r:h")) != -1) {
		switch (opt) {
		case 'n':
		case 'g':
		case 't': {
			unsigned long v;

			if (parse_uint(optarg, opt == 'n' ? SAMPLES_MAX : 60000,
				       &v) < 0 ||
			    (opt != 'g' && v == 0)) {
				fprintf(stderr,
					"watch-lat: -%c %s: bad number\n", opt,
					optarg);
				return 2;
			}
			*(opt == 'n' ? &n : opt == 'g' ? &gap : &tmo) = v;
			break;
		}
		case 'r': rfile = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (argc - optind < 3 || argc - optind - 2 > FILES_MAX) {
		fputs(usage, stderr);
		return 2;
	}
	ms = calloc(n, sizeof(*ms));
	buf = malloc(FILE_CAP + sizeof(tok) + 8);
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (!ms || !buf || ifd < 0) {
		perror("watch-lat: init");
		return 1;
	}
	for (int i = optind + 2; i < argc; i++, np++) {
		struct probe *q = &p[np];
		char dir[PATH_MAX], *slash;

		snprintf(q->src, sizeof(q->src), "%s/%s", argv[optind],
			 argv[i]);
		snprintf(q->dst, sizeof(q->dst), "%s/%s", argv[optind + 1],
			 argv[i]);
		q->orig = malloc(FILE_CAP);
		if (!q->orig ||
		    read_file(q->src, q->orig, FILE_CAP, &q->len) < 0 ||
		    q->len == FILE_CAP) {
			fprintf(stderr,
				"watch-lat: %s: unreadable or over 1 MiB\n",
				q->src);
			return 1;
		}
		snprintf(dir, sizeof(dir), "%s", q->dst);
		slash = strrchr(dir, '/');
		*slash = 0;
		q->wd = inotify_add_watch(ifd, dir,
					  IN_MOVED_TO | IN_CLOSE_WRITE |
						  IN_CREATE | IN_MODIFY);
		if (q->wd < 0) {
			fprintf(stderr, "watch-lat: inotify %s: %s\n", dir,
				strerror(errno));
			return 1;
		}
	}
	for (unsigned long i = 0; i < n; i++) {
		struct probe *q = &p[i % np];
		struct timespec pause;
		double t0, t1, deadline;
		int l, found = 0;

		jit = jit * 6364136223846793005ull + 1442695040888963407ull;
		pause.tv_sec = 0;
		pause.tv_nsec =
			(long)(gap + (gap ? (jit >> 33) % (gap + 1) : 0)) *
			1000000L;
		while (pause.tv_nsec >= 1000000000L) {
			pause.tv_sec++;
			pause.tv_nsec -= 1000000000L;
		}
		nanosleep(&pause, NULL);
		l = snprintf(tok, sizeof(tok), "// tether-watch-lat %ld %lu\n",
			     (long)getpid(), i);
		/* Drain stale events so a wake-up means news. */
		while (read(ifd, buf, FILE_CAP) > 0)
			;
		t0 = bench_now_ms();
		if (save(q->src, q->orig, q->len, tok, (size_t)l) < 0) {
			fprintf(stderr, "watch-lat: save %s: %s\n", q->src,
				strerror(errno));
			return 1;
		}
		deadline = t0 + (double)tmo;
		for (;;) {
			size_t got;
			struct pollfd pfd = { .fd = ifd, .events = POLLIN };

			if (read_file(q->dst, buf, FILE_CAP + sizeof(tok),
				      &got) == 0 &&
			    got >= (size_t)l &&
			    memcmp(buf + got - l, tok, (size_t)l) == 0) {
				found = 1;
				break;
			}
			t1 = bench_now_ms();
			if (t1 >= deadline)
				break;
			if (poll(&pfd, 1, 1) > 0)
				while (read(ifd, buf, FILE_CAP) > 0)
					;
		}
		t1 = bench_now_ms();
		if (!found) {
			timeouts++;
			continue;
		}
		ms[nok++] = t1 - t0;
		sum += t1 - t0;
	}
	for (size_t i = 0; i < np; i++)
		save(p[i].src, p[i].orig, p[i].len, NULL, 0);
	if (rfile) {
		FILE *f = fopen(rfile, "w");

		for (size_t i = 0; f && i < nok; i++)
			fprintf(f, "%.3f\n", ms[i]);
		if (f)
			fclose(f);
	}
	if (!nok) {
		printf("watch-lat n=0 timeouts=%zu\n", timeouts);
		return 1;
	}
	qsort(ms, nok, sizeof(*ms), bench_cmp_double);
	printf("watch-lat n=%zu p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f "
	       "max_ms=%.2f mean_ms=%.2f timeouts=%zu\n",
	       nok, bench_pct(ms, nok, 50), bench_pct(ms, nok, 90),
	       bench_pct(ms, nok, 99), ms[nok - 1], sum / (double)nok,
	       timeouts);
	return 0;
}
