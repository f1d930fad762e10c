/* SPDX-License-Identifier: MIT */
/* A small tree with every kind of entry, and seven edits of it: a file's
 * content, a new subtree, a deleted directory, a directory that becomes a
 * file, a file that becomes a directory, moved hardlinks, odd names. */
#include "manifest_fixture.h"

#include <string.h>

static struct sd_chunkref chunk(unsigned seed, uint32_t len)
{
	struct sd_chunkref c = { .len = len };

	for (int i = 0; i < SD_ID_SIZE; i++)
		c.id.b[i] = (uint8_t)(seed * 37 + (unsigned)i);
	return c;
}

static int add(struct sd_manifest *m, const char *path, uint8_t type,
	       const char *target, const struct sd_chunkref *c, uint32_t n)
{
	struct sd_entry e = { .path = (char *)path,
			      .path_len = (uint32_t)strlen(path),
			      .type = type,
			      .mode = type == SD_T_DIR ? 0755 : 0644,
			      .mtime_ns = 1700000000000000000ll };

	if (type == SD_T_SYMLINK || type == SD_T_HARDLINK) {
		e.target = (char *)target;
		e.target_len = (uint32_t)strlen(target);
	}
	if (type == SD_T_SYMLINK) {
		e.size = e.target_len;
		e.mode = 0777;
	}
	if (type == SD_T_HARDLINK) {
		e.mode = 0;
		e.mtime_ns = 0;
	}
	e.nchunks = n;
	e.chunks = (struct sd_chunkref *)c;
	for (uint32_t i = 0; i < n; i++)
		e.size += c[i].len;
	return sd_manifest_add(m, &e, NULL);
}

int fuzz_manifest_variant(struct sd_manifest *m, unsigned v)
{
	struct sd_chunkref c[3] = { chunk(1, 4096), chunk(2, 100),
				    chunk(3, 65536) };
	int r = 0;

	sd_manifest_init(m);
	m->version = FUZZ_BASE_VERSION + v;
	r |= add(m, "d", v == 4 ? SD_T_FILE : SD_T_DIR, NULL, c, 0);
	if (v != 4) {
		r |= add(m, "d/e", SD_T_DIR, NULL, NULL, 0);
		r |= add(m, "d/e/x.c", SD_T_FILE, NULL, c + 1, 1);
		r |= add(m, "d/f", SD_T_FILE, NULL, c, v == 1 ? 3 : 2);
		r |= add(m, "d/l", SD_T_SYMLINK, "../g", NULL, 0);
	}
	if (v != 3)
		r |= add(m, "empty", SD_T_DIR, NULL, NULL, 0);
	r |= add(m, "g", v == 5 ? SD_T_DIR : SD_T_FILE, NULL, c + 2,
		 v == 5 ? 0 : 1);
	if (v == 5)
		r |= add(m, "g/in", SD_T_FILE, NULL, c, 1);
	r |= add(m, "h", SD_T_HARDLINK, v == 4 ? "g" : "d/f", NULL, 0);
	r |= add(m, "s", SD_T_SYMLINK, "/abs/../target", NULL, 0);
	r |= add(m, "\x01odd \xff\xc3\xa9", SD_T_FILE, NULL, NULL, 0);
	if (v == 2) {
		r |= add(m, "new", SD_T_DIR, NULL, NULL, 0);
		r |= add(m, "new/a", SD_T_FILE, NULL, c + 1, 2);
		r |= add(m, "new/b", SD_T_HARDLINK, "new/a", NULL, 0);
	}
	if (v == 6)
		r |= add(m, "h2", SD_T_HARDLINK, "g", NULL, 0);
	/* A file whose chunk list is not known yet, and in the next variant
	 * known. */
	if (v == 1 || v == 2) {
		struct sd_entry e = { .path = "later",
				      .path_len = 5,
				      .type = v == 1 ? SD_T_PENDING : SD_T_FILE,
				      .mode = 0644,
				      .size = 4096,
				      .mtime_ns = 1700000000000000000ll,
				      .nchunks = v == 1 ? 0 : 1,
				      .chunks = c };

		r |= sd_manifest_add(m, &e, NULL);
	}
	if (r == 0)
		r = sd_manifest_seal(m, NULL);
	if (r < 0)
		sd_manifest_free(m);
	return r;
}
