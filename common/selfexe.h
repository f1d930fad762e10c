/* SPDX-License-Identifier: MIT */
/* Where this program is, and the programs installed next to it
 * (tether-ssh, tether-plugin, tether-vm-image). */
#ifndef TETHER_SELFEXE_H
#define TETHER_SELFEXE_H

#include <stddef.h>

/* This program's path (/proc/self/exe) into out: 0, or -errno
 * (-ENAMETOOLONG when it does not fit). */
int util_self_exe(char *out, size_t cap);

/* The path of the program name in this program's directory into out: 0,
 * or -errno (-ENOENT when it is not there, -EACCES when it is not
 * executable). out is filled even then, for the error line. */
int util_sibling_exe(const char *name, char *out, size_t cap);

#endif
