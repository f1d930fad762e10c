/* SPDX-License-Identifier: MIT */
/* treegen: deterministic random trees with every entry kind tether syncs
 * (gen), random batches of edits to them (mutate), and a byte-exact digest
 * of a tree to compare a source with its copy on a node (digest). This
 * file reads the command line; the commands are in treegen_gen.c,
 * treegen_mutate.c and treegen_digest.c. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "treegen.h"

static const char usage[] =
	"usage: treegen gen DIR SEED [--files N] [--sparse]\n"
	"       treegen mutate DIR SEED\n"
	"       treegen digest DIR\n"
	"  gen     create a random tree in DIR (created if missing): files\n"
	"          (empty, small, 1-3 MiB of repeated content), nested and empty\n"
	"          directories, symlinks (relative, absolute, dangling, to\n"
	"          directories), hard links, odd modes, odd names, random\n"
	"          mtimes; --sparse adds a 2 GiB sparse file\n"
	"  mutate  apply a random batch of edits to the tree in DIR; prints one\n"
	"          line per edit\n"
	"  digest  print one line per entry, sorted bytewise by path:\n"
	"          PATH TYPE MODE SIZE MTIME_NS HASH|TARGET LINK-GROUP\n"
	"          (bytes outside ! to ~ and the backslash shown as \\xNN;\n"
	"          a top-level .git is skipped)\n"
	"The same SEED gives the same tree and the same edits.\n";

#define FILES_DEFAULT 100u
#define FILES_MAX     100000u

/* ---- main ---- */

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		die("%s %s: not a number", what, s);
	return (uint64_t)v;
}

int main(int argc, char **argv)
{
	umask(0);
	if (argc >= 3 && !strcmp(argv[1], "gen")) {
		unsigned files = FILES_DEFAULT;
		bool sparse = false;
		uint64_t seed;

		if (argc < 4)
			goto bad;
		seed = parse_u64(argv[3], "SEED");
		for (int i = 4; i < argc; i++) {
			if (!strcmp(argv[i], "--sparse")) {
				sparse = true;
			} else if (!strcmp(argv[i], "--files") &&
				   i + 1 < argc) {
				uint64_t n = parse_u64(argv[++i], "--files");

				if (n < 1 || n > FILES_MAX)
					die("--files %s: 1 to %u", argv[i],
					    FILES_MAX);
				files = (unsigned)n;
			} else {
				goto bad;
			}
		}
		return cmd_gen(argv[2], seed, files, sparse);
	}
	if (argc == 4 && !strcmp(argv[1], "mutate"))
		return cmd_mutate(argv[2], parse_u64(argv[3], "SEED"));
	if (argc == 3 && !strcmp(argv[1], "digest"))
		return cmd_digest(argv[2]);
	if (argc == 2 &&
	    (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return 0;
	}
bad:
	fputs(usage, stderr);
	return 2;
}
