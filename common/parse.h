/* SPDX-License-Identifier: MIT */
/* Checked number parsing (never atoi): whole string, range-checked.
 * Each returns 0 and writes *ret, or -EINVAL / -ERANGE and leaves it. */
#ifndef TETHER_PARSE_H
#define TETHER_PARSE_H

#include <stdint.h>

int util_parse_u64(const char *s, uint64_t *ret);
int util_parse_u32(const char *s, uint32_t *ret);
int util_parse_int(const char *s, int *ret);

/* A decimal ("1.5", "30") in thousandths, the whole part at most
 * max_whole (and not past it with a fraction). */
int util_parse_milli(const char *s, uint64_t max_whole, uint64_t *ret);

/* Seconds as a decimal ("1.5", "30"), to milliseconds; max 30 days. */
int util_parse_seconds_ms(const char *s, uint32_t *ret_ms);

/* Bytes, with an optional 1024-based unit: "512", "256k", "256m", "1G",
 * "2GiB", "64mb". */
int util_parse_size(const char *s, uint64_t *ret);

/* A signal number or name ("9", "KILL", "SIGKILL"); 1..64. */
int util_parse_signal(const char *s, int *ret);

#endif
