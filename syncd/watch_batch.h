/* SPDX-License-Identifier: MIT */
/* The watcher's batches of changed paths (struct sd_watch_batch of
 * watch.h): filled by the watcher, each path once. */
#ifndef TETHER_WATCH_BATCH_H
#define TETHER_WATCH_BATCH_H

#include <stddef.h>

#include "watch.h"

/* Empty b for a new batch, keeping its memory: count 0, rescan false.
 * 0 or -ENOMEM. */
int sdw_batch_prepare(struct sd_watch_batch *b);

/* Add path (len bytes, not NUL-terminated) unless b holds it already.
 * Past SD_WATCH_PATHS_MAX paths b becomes a rescan with no paths, and
 * takes no more. 0, or -ENOMEM (b holds what it held). */
int sdw_batch_add(struct sd_watch_batch *b, const char *path, size_t len);

#endif
