/* SPDX-License-Identifier: MIT */
/* Writing a whole buffer to a descriptor, blocking or not. */
#ifndef TETHER_WRITEALL_H
#define TETHER_WRITEALL_H

#include <stddef.h>

/* Write all n bytes of p to fd: retried on EINTR, and on EAGAIN after
 * waiting for fd to be writable. 0, or -errno of the failed write (a
 * zero-length write is -EIO). */
int util_write_all(int fd, const void *p, size_t n);

#endif
