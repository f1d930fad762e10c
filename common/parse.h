/* SPDX-License-Identifier: MIT */
/* Checked number parsing (never atoi): whole string, range-checked.
 * Each returns 0 and writes *ret, or -EINVAL / -ERANGE and leaves it. */
#ifndef TETHER_PARSE_H
#define TETHER_PARSE_H

#include <stdint.h>

int util_parse_u64(const char *s, uint64_t *ret);
int util_parse_u32(const char *s, uint32_t *ret);
int util_parse_int(const char *s, int *ret);

/* Seconds as a decimal ("1.5", "30"), to milliseconds; max 30 days. */
int util_parse_seconds_ms(const char *s, uint32_t *ret_ms);

/* A signal number or name ("9", "KILL", "SIGKILL"); 1..64. */
int util_parse_signal(const char *s, int *ret);

#endif
