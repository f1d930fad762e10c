/* SPDX-License-Identifier: MIT */
#include "entry_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

struct sd_chunkref ent_chunk(unsigned seed, uint32_t len)
{
	struct sd_chunkref c = { .len = len };

	for (int i = 0; i < SD_ID_SIZE; i++)
		c.id.b[i] = (uint8_t)(seed * 37 + (unsigned)i);
	return c;
}

struct sd_entry ent_dir(const char *p, uint32_t mode)
{
	return (struct sd_entry){ .path = (char *)p,
				  .path_len = (uint32_t)strlen(p),
				  .type = SD_T_DIR,
				  .mode = mode,
				  .mtime_ns = ENT_MTIME };
}

struct sd_entry ent_file(const char *p, const struct sd_chunkref *c, uint32_t n)
{
	struct sd_entry e = { .path = (char *)p,
			      .path_len = (uint32_t)strlen(p),
			      .type = SD_T_FILE,
			      .mode = 0644,
			      .mtime_ns = ENT_MTIME,
			      .nchunks = n,
			      .chunks = n ? (struct sd_chunkref *)c : NULL };

	for (uint32_t i = 0; i < n; i++)
		e.size += c[i].len;
	return e;
}

struct sd_entry ent_link(const char *p, const char *target)
{
	return (struct sd_entry){ .path = (char *)p,
				  .path_len = (uint32_t)strlen(p),
				  .type = SD_T_SYMLINK,
				  .mode = 0777,
				  .mtime_ns = ENT_MTIME,
				  .size = strlen(target),
				  .target = (char *)target,
				  .target_len = (uint32_t)strlen(target) };
}

struct sd_entry ent_hard(const char *p, const char *primary)
{
	return (struct sd_entry){ .path = (char *)p,
				  .path_len = (uint32_t)strlen(p),
				  .type = SD_T_HARDLINK,
				  .target = (char *)primary,
				  .target_len = (uint32_t)strlen(primary) };
}

void ent_build(struct sd_manifest *m, const struct sd_entry *e, size_t n,
	       uint64_t version)
{
	struct sd_err why = { "" };

	sd_manifest_init(m);
	m->version = version;
	for (size_t i = 0; i < n; i++)
		if (sd_manifest_add(m, &e[i], &why))
			fail_msg("add '%s': %s", e[i].path, why.what);
	if (sd_manifest_seal(m, &why))
		fail_msg("seal: %s", why.what);
}
