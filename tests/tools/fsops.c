/* SPDX-License-Identifier: MIT */
/* fsops: POSIX behaviour checks through any directory (posix), and a seeded
 * random-operation exerciser that applies the same operations to two trees
 * and compares each result and both whole trees after every step (random).
 * This file parses the command line and dispatches to fsops_posix.c and
 * fsops_random.c. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsops.h"

static const char usage_head[] =
	"usage: fsops posix DIR [CHECK...]\n"
	"       fsops random DIR_A DIR_B SEED STEPS [--check-every N] "
	"[--verbose]\n"
	"  posix   run POSIX behaviour checks in a fresh DIR/.fsops-posix-PID\n"
	"          (removed when all pass); prints \"ok NAME\" or \"FAIL NAME:\n"
	"          what was expected, what happened\" per check; CHECK... runs\n"
	"          only the named ones:\n";
static const char usage_tail[] =
	"  random  apply the same SEED-determined operations (create, write,\n"
	"          append, truncate, open O_TRUNC, mkdir, rmdir, unlink, rename,\n"
	"          symlink, link, chmod, utimensat, mmap write, unlink while\n"
	"          open) to DIR_A and DIR_B, which must start identical, and\n"
	"          compare each operation's result, and every N steps (default\n"
	"          1) and at the end both whole trees: type, mode, size, content,\n"
	"          symlink target, link count and group, directory listings;\n"
	"          prints the first difference; --verbose prints every step;\n"
	"          no operation follows a symlink; a file is read again when an\n"
	"          operation wrote it or its stat changed, and all files are\n"
	"          every 50th compare and at the end\n"
	"Exit status: 0 all passed, 1 a check failed or the trees differ,\n"
	"2 usage error or a directory that cannot be used.\n";

static void print_usage(FILE *f)
{
	const char *name;

	fputs(usage_head, f);
	for (size_t k = 0; (name = fsops_posix_check_name(k)); k++)
		fprintf(f, "%s%s",
			k % 4 ? " "
			: k   ? "\n            "
			      : "            ",
			name);
	fputc('\n', f);
	fputs(usage_tail, f);
}

static bool is_check(const char *name)
{
	const char *c;

	for (size_t k = 0; (c = fsops_posix_check_name(k)); k++)
		if (!strcmp(c, name))
			return true;
	return false;
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || *s == '+')
		return false;
	*v = (uint64_t)x;
	return true;
}

int main(int argc, char **argv)
{
	umask(0);
	if (argc >= 3 && !strcmp(argv[1], "posix")) {
		for (int i = 3; i < argc; i++)
			if (!is_check(argv[i])) {
				fprintf(stderr, "fsops: no check named %s\n",
					argv[i]);
				goto bad;
			}
		return fsops_posix_run(argv[2], argv + 3, argc - 3);
	}
	if (argc >= 6 && !strcmp(argv[1], "random")) {
		uint64_t seed, steps, every = 1;
		bool verbose = false;

		if (!parse_u64(argv[4], &seed)) {
			fprintf(stderr, "fsops: SEED %s: not a number\n",
				argv[4]);
			goto bad;
		}
		if (!parse_u64(argv[5], &steps) || steps > FSOPS_STEPS_MAX) {
			fprintf(stderr, "fsops: STEPS %s: 0 to %llu\n", argv[5],
				FSOPS_STEPS_MAX);
			goto bad;
		}
		for (int i = 6; i < argc; i++) {
			if (!strcmp(argv[i], "--verbose")) {
				verbose = true;
			} else if (!strcmp(argv[i], "--check-every") &&
				   i + 1 < argc) {
				if (!parse_u64(argv[++i], &every) || !every ||
				    every > FSOPS_STEPS_MAX) {
					fprintf(stderr,
						"fsops: --check-every "
						"%s: 1 to %llu\n",
						argv[i], FSOPS_STEPS_MAX);
					goto bad;
				}
			} else {
				goto bad;
			}
		}
		return fsops_random_run(argv[2], argv[3], seed, steps, every,
					verbose);
	}
	if (argc == 2 &&
	    (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		print_usage(stdout);
		return 0;
	}
bad:
	print_usage(stderr);
	return 2;
}
