/* SPDX-License-Identifier: MIT */
/* Shared fixture of the view suites (test_view.c, test_view_versions.c):
 * manifests installed in a view, paths walked one component at a time,
 * listings collected, and the invalidations a new version sends recorded
 * and counted. */
#ifndef TETHER_VIEW_FIXTURE_H
#define TETHER_VIEW_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "entry_fixture.h"
#include "view.h"

/* ---- invalidations ---- */

struct inv {
	enum fs_inval kind;
	uint64_t ino, parent;
	char name[SD_NAME_MAX + 1];
	size_t len;
};

struct rec {
	struct fs_view *v;
	uint64_t version; /* what the view must already show in a call */
	size_t n;
	struct inv x[256];
};

/* The invalidation callback of fs_view_set: records each call in the
 * struct rec at opaque, checking that the view already shows
 * rec->version. */
void record(void *opaque, enum fs_inval kind, uint64_t ino, uint64_t parent,
	    const char *name, size_t len);
/* How many inode invalidations of ino r holds. */
size_t n_inode(const struct rec *r, uint64_t ino);
/* How many entry invalidations of name under parent r holds. */
size_t n_entry(const struct rec *r, uint64_t parent, const char *name);
/* How many invalidations of kind r holds. */
size_t n_kind(const struct rec *r, enum fs_inval kind);
/* Empties r, for the install of version into v. */
void rec_reset(struct rec *r, struct fs_view *v, uint64_t version);

/* ---- building manifests ---- */

/* Build, install (recording invalidations in rec when not NULL) and free
 * the caller's copy at once: the view must not need it. */
void install(struct fs_view *v, const struct sd_entry *e, size_t n,
	     uint64_t version, struct rec *rec);

/* ---- what the view answers ---- */

/* path's attributes, looked up one component at a time from the root. */
int walk(struct fs_view *v, const char *path, struct fs_attr *a);
/* path's inode, or the test fails. */
uint64_t ino_of(struct fs_view *v, const char *path);

struct dent {
	uint64_t ino;
	mode_t type;
	char name[SD_NAME_MAX + 1];
	size_t len;
	uint64_t next;
};

struct listing {
	size_t n, stop; /* stop: return false after that many (0: never) */
	struct dent d[64];
};

/* The readdir callback that fills the struct listing at opaque. */
bool collect(void *opaque, const struct fs_dirent *d);
/* ino's listing from off, stopping after stop entries (0: never); free
 * it. */
struct listing *list(struct fs_view *v, uint64_t ino, uint64_t off,
		     size_t stop);
/* d is name, with inode ino and type. */
void assert_dent(const struct dent *d, const char *name, uint64_t ino,
		 mode_t type);

#endif
