/* SPDX-License-Identifier: MIT */
/* Seed corpus for fuzz-bases: bases files written by fs_bases_note() and
 * fs_bases_forget() themselves (empty, one base, many with odd path
 * bytes, forgotten and noted again). Usage: gen-bases-corpus DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bases.h"

/* Write the bases file of n notes (every third forgotten) to DIR/name. */
static int seed(const char *dir, const char *name, unsigned n)
{
	struct fs_bases *b;
	char path[4096], p[64];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	if (fs_bases_open(path, &b) < 0) {
		perror(path);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		struct sd_id id;
		int len = snprintf(p, sizeof(p), "d%u/f\x01\xff%u", i % 5, i);

		memset(id.b, (int)i, sizeof(id.b));
		if (fs_bases_note(b, p, (size_t)len, i % 2 ? &id : NULL) < 0 ||
		    (i % 3 == 0 && fs_bases_forget(b, p, (size_t)len) < 0)) {
			fs_bases_free(b);
			return -1;
		}
	}
	fs_bases_free(b);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen-bases-corpus DIR\n");
		return 2;
	}
	return seed(argv[1], "empty", 0) || seed(argv[1], "one", 1) ||
			       seed(argv[1], "many", 40)
		       ? 1
		       : 0;
}
