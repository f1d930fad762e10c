/* SPDX-License-Identifier: MIT */
/* How many files a command changed in a workspace's view: the entries of
 * the view's upper layer (fs/upper.h: DIR/tree) other than directories
 * (files written or copied up, symlinks, whiteouts of removed files)
 * whose inode changed since the command started. A rename counts as two:
 * the whiteout and the new name. */
#ifndef TETHER_UPPER_COUNT_H
#define TETHER_UPPER_COUNT_H

#include <stdint.h>

/* Entries under upper (ROOT/.tether/upper/NAME) changed at or after
 * since_ns (CLOCK_REALTIME); 0 when there is no upper. */
uint32_t exec_upper_changed_since(const char *upper, int64_t since_ns);

#endif
