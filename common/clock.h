/* SPDX-License-Identifier: MIT */
/* Monotonic time in milliseconds, the unit of every deadline in tether. */
#ifndef TETHER_CLOCK_H
#define TETHER_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t util_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Wall-clock time, Unix epoch milliseconds: for timestamps shown to people,
 * never for deadlines. */
static inline int64_t util_epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
