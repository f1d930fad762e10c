/* SPDX-License-Identifier: MIT */
/* A workspace's committed versions on the node: a base manifest plus an
 * append-only log of the deltas committed since. Appending one record (one
 * fdatasync) is a commit's durable point, so a commit costs the size of its
 * delta, not of the tree; the log is folded into a new base now and then. In
 * the workspace's state directory:
 *   manifest  the base (sd_manifest_encode), replaced by rename
 *   log       records: "TLOG", u32 length, u64 XXH3-64 of the payload, then
 *             the payload, an sd_delta_encode() from the version before
 * A torn or damaged tail is cut off at open: those commits never finished
 * (their client got no reply). */
#ifndef TETHER_WSLOG_H
#define TETHER_WSLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "manifest.h"

struct sd_wslog;

/* What an open found. */
struct sd_wslog_state {
	struct sd_manifest cur; /* the committed version (sealed) */
	/* When the log held records: the last one, and the version before it,
	 * to redo in the tree (a crash may have cut its application short). */
	bool redo;
	struct sd_manifest prev;
	struct sd_delta last;
	uint64_t committed_ms; /* of cur, from the files' mtimes; 0: never */
};

/* Open (creating dir's files as needed) and load. st is initialised here;
 * free it with sd_wslog_state_free(). 0 or -errno with why. */
int sd_wslog_open(const char *dir, struct sd_wslog **ret,
		  struct sd_wslog_state *st, struct sd_err *why);
void sd_wslog_state_free(struct sd_wslog_state *st);

/* Append d (whose base is the last committed version) durably. On failure
 * the log is cut back to what it was. */
int sd_wslog_append(struct sd_wslog *l, const struct sd_delta *d,
		    struct sd_err *why);

/* Records in the log: what a restart would redo the last of. */
unsigned sd_wslog_records(const struct sd_wslog *l);

/* Whether the log has grown enough to be folded into the base. */
bool sd_wslog_wants_compact(const struct sd_wslog *l);

/* Save cur (the last committed version; its tree must be synced) as the
 * base and empty the log. */
int sd_wslog_compact(struct sd_wslog *l, const struct sd_manifest *cur,
		     struct sd_err *why);

void sd_wslog_close(struct sd_wslog *l);

#endif
