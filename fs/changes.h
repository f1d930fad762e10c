/* SPDX-License-Identifier: MIT */
/* What commands changed in a workspace: its upper layer (upper.h) compared
 * with the lower version it sits on. Node side of `tether changes`. */
#ifndef TETHER_FS_CHANGES_H
#define TETHER_FS_CHANGES_H

#include <stdbool.h>
#include <stdint.h>

#include "manifest.h"

enum fs_change_kind {
	FS_CHANGE_CREATED = 1,	/* not in the lower version */
	FS_CHANGE_MODIFIED = 2, /* in the lower version, something differs */
	FS_CHANGE_DELETED = 3,	/* in the lower version, gone from the view */
};

struct fs_change {
	enum fs_change_kind kind;
	const char *path; /* relative to the workspace, NUL-terminated */
	uint32_t path_len;
	uint8_t type;  /* enum sd_type of what the view shows (DELETED: of the
		       * lower entry); fifos and other special files are
		       * SD_T_FILE */
	uint64_t size; /* the view's (DELETED: the lower entry's) */
	/* The agent changed this path too: the lower version's entry is not
	 * the one a command first changed (or both created it). Writing the
	 * change back would overwrite the agent's edit: it is reported,
	 * never applied. Set by fs_views_changes(); the walk leaves it
	 * false. */
	bool conflict;
};

/* Called once per change, in path order (memcmp), path valid for the call
 * only. Returning false stops the walk (fs_changes_walk returns 0). */
typedef bool (*fs_change_fn)(void *opaque, const struct fs_change *c);

/* Walk the upper tree (tree: a directory descriptor of DIR/tree, see
 * upper.h; borrowed, not consumed) against lower (sealed, borrowed for the
 * call) and call fn once per change. Nothing is followed: every
 * directory is opened beneath tree without crossing a symlink.
 *
 * What is a change, path by path (the lower version against the view):
 *   - a whiteout: DELETED when the lower has the path, and so is every
 *     lower entry below it (each its own row); else nothing;
 *   - a file, symlink, fifo or other special file: CREATED when the
 *     lower has nothing there, else MODIFIED (a copy-up only happens on a
 *     write or an attribute change, so its bytes are never compared);
 *     over a lower directory, the lower entries below are DELETED too;
 *   - a directory: CREATED when the lower has nothing there; MODIFIED
 *     when the lower has something else there, when it is opaque (it
 *     replaced the lower directory), or when its permission bits are not
 *     the lower directory's; else no row of its own. Then its entries,
 *     and when it is opaque or below an opaque one, every lower entry
 *     below it that the upper does not name is DELETED.
 * A hard link is listed as the file it is (type SD_T_FILE, its primary's
 * size); a directory's size is 0. Each path comes once, and nothing the
 * walk saw change under it (an entry removed or replaced while it ran:
 * commands may still be writing) makes it fail.
 *
 * The list is built whole, then sorted: memory is a row (32 bytes) per
 * change plus the upper paths it names. Returns 0 (also when fn stopped
 * it); -EMSGSIZE when the upper holds more than SD_ENTRIES_MAX entries
 * or more than SD_DECODED_MAX bytes of names; -ENAMETOOLONG for a path
 * in it longer than SD_PATH_MAX; -EINVAL when lower is not sealed;
 * -ENOMEM; or the -errno of reading the upper. Blocks on the upper's
 * file system; safe on any thread, any number at once. */
int fs_changes_walk(int tree, const struct sd_manifest *lower, fs_change_fn fn,
		    void *opaque);

#endif
