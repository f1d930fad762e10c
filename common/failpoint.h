/* SPDX-License-Identifier: MIT */
/* Fault injection for the crash tests: with TETHER_FAILPOINT=NAME in its
 * environment, a process kills itself with SIGKILL on reaching the failpoint
 * NAME, exactly as `kill -9` at that instant would. Without the variable a
 * failpoint costs one load and a branch. */
#ifndef TETHER_FAILPOINT_H
#define TETHER_FAILPOINT_H

void util_failpoint(const char *name);

#endif
