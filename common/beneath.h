/* SPDX-License-Identifier: MIT */
/* Open a path that must stay under a directory, following no symlink on
 * the way: trees that commands or agents write to may swap a directory
 * for a link at any moment. */
#ifndef TETHER_BENEATH_H
#define TETHER_BENEATH_H

/* openat2(root, relpath, flags | O_NOFOLLOW | O_CLOEXEC) resolved beneath
 * root with no symlinks or magic links ("" is root itself); on a kernel
 * without openat2 (before 5.6), a plain openat with O_NOFOLLOW. A
 * descriptor, or -1 with errno (ELOOP/EXDEV: the path leaves root or
 * crosses a symlink). */
int util_open_beneath(int root, const char *relpath, int flags);

#endif
