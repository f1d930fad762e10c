/* SPDX-License-Identifier: MIT */
#include "thp.h"

#include <stdint.h>
#include <sys/mman.h>

#define HUGE_SIZE ((uintptr_t)2 << 20)

void util_thp_hint(void *p, size_t n)
{
	uintptr_t a = ((uintptr_t)p + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1);
	uintptr_t b = ((uintptr_t)p + n) & ~(HUGE_SIZE - 1);

	if (p && b > a)
		(void)madvise((void *)a, b - a, MADV_HUGEPAGE);
}
