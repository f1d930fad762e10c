/* SPDX-License-Identifier: MIT */
/* Scope-bound cleanup for locals (_cleanup_free_, _cleanup_close_); disarm on
 * hand-off with TAKE_PTR / TAKE_FD. */
#ifndef TETHER_CLEANUP_H
#define TETHER_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void util_freep(void *p)
{
	free(*(void **)p);
}

static inline void util_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void util_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_free_	 _cleanup_(util_freep)
#define _cleanup_close_	 _cleanup_(util_closep)
#define _cleanup_fclose_ _cleanup_(util_fclosep)

#define TAKE_PTR(p)                        \
	({                                 \
		__typeof__(p) _tmp_ = (p); \
		(p) = NULL;                \
		_tmp_;                     \
	})

#define TAKE_FD(fd)               \
	({                        \
		int _tmp_ = (fd); \
		(fd) = -1;        \
		_tmp_;            \
	})

#define UTIL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
