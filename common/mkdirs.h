/* SPDX-License-Identifier: MIT */
/* Create a directory and its missing parents. */
#ifndef TETHER_MKDIRS_H
#define TETHER_MKDIRS_H

#include <sys/types.h>

/* mkdir -p path with mode for each directory it creates (those that exist
 * are left as they are). 0, -ENAMETOOLONG past PATH_MAX, or -errno. */
int util_mkdirs(const char *path, mode_t mode);

#endif
