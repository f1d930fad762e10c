/* SPDX-License-Identifier: MIT */
/* fsops helpers both commands use: fatal errors, messages that show every
 * byte, errno names, and whole-buffer writes and reads. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsops.h"

/* ---- messages ---- */

void fsops_die(const char *fmt, ...)
{
	va_list ap;

	fputs("fsops: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* n bytes of p with every byte visible, for messages; four results may be
 * in use at once. */
const char *fsops_shown_n(const void *p, size_t n)
{
	static char buf[4][1200];
	static unsigned k;
	char *out = buf[k++ % 4];
	const unsigned char *s = p;
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < sizeof(buf[0]); i++) {
		if (s[i] > 0x20 && s[i] < 0x7f && s[i] != '\\')
			out[o++] = (char)s[i];
		else
			o += (size_t)snprintf(out + o, 5, "\\x%02x", s[i]);
	}
	out[o] = '\0';
	return out;
}

const char *fsops_shown(const char *p)
{
	return fsops_shown_n(p, strlen(p));
}

#define ERRNO_ENTRY(x) \
	{              \
		x, #x  \
	}
static const struct {
	int e;
	const char *name;
} errno_names[] = {
	ERRNO_ENTRY(EPERM),	   ERRNO_ENTRY(ENOENT),
	ERRNO_ENTRY(EINTR),	   ERRNO_ENTRY(EIO),
	ERRNO_ENTRY(ENXIO),	   ERRNO_ENTRY(EBADF),
	ERRNO_ENTRY(EAGAIN),	   ERRNO_ENTRY(ENOMEM),
	ERRNO_ENTRY(EACCES),	   ERRNO_ENTRY(EFAULT),
	ERRNO_ENTRY(EBUSY),	   ERRNO_ENTRY(EEXIST),
	ERRNO_ENTRY(EXDEV),	   ERRNO_ENTRY(ENODEV),
	ERRNO_ENTRY(ENOTDIR),	   ERRNO_ENTRY(EISDIR),
	ERRNO_ENTRY(EINVAL),	   ERRNO_ENTRY(ENFILE),
	ERRNO_ENTRY(EMFILE),	   ERRNO_ENTRY(ETXTBSY),
	ERRNO_ENTRY(EFBIG),	   ERRNO_ENTRY(ENOSPC),
	ERRNO_ENTRY(ESPIPE),	   ERRNO_ENTRY(EROFS),
	ERRNO_ENTRY(EMLINK),	   ERRNO_ENTRY(ERANGE),
	ERRNO_ENTRY(ENAMETOOLONG), ERRNO_ENTRY(ENOSYS),
	ERRNO_ENTRY(ENOTEMPTY),	   ERRNO_ENTRY(ELOOP),
	ERRNO_ENTRY(EOVERFLOW),	   ERRNO_ENTRY(EOPNOTSUPP),
	ERRNO_ENTRY(EDQUOT),	   ERRNO_ENTRY(ESTALE),
	ERRNO_ENTRY(ENOTCONN),	   ERRNO_ENTRY(EBADMSG),
};

/* "ENOENT (No such file or directory)"; four results may be in use. */
const char *fsops_err_name(int e)
{
	static char buf[4][128];
	static unsigned k;
	char *out = buf[k++ % 4];

	for (size_t i = 0; i < FSOPS_ARRAY_SIZE(errno_names); i++)
		if (errno_names[i].e == e) {
			snprintf(out, sizeof(buf[0]), "%s (%s)",
				 errno_names[i].name, strerror(e));
			return out;
		}
	snprintf(out, sizeof(buf[0]), "errno %d (%s)", e, strerror(e));
	return out;
}

/* ---- I/O ---- */

int fsops_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n) {
		ssize_t k = write(fd, s, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = EIO;
			return -1;
		}
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Reads up to n bytes at off, short only at the end of the file. */
ssize_t fsops_pread_full(int fd, void *p, size_t n, off_t off)
{
	size_t have = 0;

	while (have < n) {
		ssize_t k = pread(fd, (uint8_t *)p + have, n - have,
				  off + (off_t)have);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			break;
		have += (size_t)k;
	}
	return (ssize_t)have;
}
