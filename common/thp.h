/* SPDX-License-Identifier: MIT */
/* Transparent huge pages for the large arrays a scan or a manifest fills
 * at once: with THP in "madvise" mode (Debian's default), each 4 KiB page
 * of a fresh allocation costs a fault, and a no-op scan of 80k files
 * touched about 100 MB: 24k faults, a tenth of its CPU on a VM. */
#ifndef TETHER_THP_H
#define TETHER_THP_H

#include <stddef.h>

/* Ask for huge pages over the 2 MiB-aligned part of [p, p + n), when n is
 * large enough to have one; before the memory is first written. A hint:
 * nothing happens where the kernel says no. */
void util_thp_hint(void *p, size_t n);

#endif
