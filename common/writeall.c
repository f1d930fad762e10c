/* SPDX-License-Identifier: MIT */
/* util_write_all (writeall.h). */
#include "writeall.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

int util_write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN) {
			struct pollfd q = { .fd = fd, .events = POLLOUT };

			(void)poll(&q, 1, -1);
			continue;
		}
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}
