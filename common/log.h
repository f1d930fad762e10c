/* SPDX-License-Identifier: MIT */
/* Logging to stderr with levels; every user-facing failure is one line that
 * starts with "tether: ". log_*_errno() return their code for tail calls. */
#ifndef TETHER_LOG_H
#define TETHER_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* Reads TETHER_LOG, then LOG_LEVEL (error|warn|info|debug); default warn.
 * Call once at start-up, before threads. */
void log_init_from_env(void);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Thread-safe: each call writes one whole line with a single write(2). */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Appends ": strerror(-r)" and returns r (r must be a negative errno). */
int log_msg_errno(enum log_level level, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)                                         \
	do {                                                   \
		if (log_get_level() >= LOG_LEVEL_DEBUG)        \
			log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__); \
	} while (0)

#define log_error_errno(r, ...) log_msg_errno(LOG_LEVEL_ERROR, (r), __VA_ARGS__)
#define log_warn_errno(r, ...)	log_msg_errno(LOG_LEVEL_WARN, (r), __VA_ARGS__)
#define log_debug_errno(r, ...) log_msg_errno(LOG_LEVEL_DEBUG, (r), __VA_ARGS__)

#endif
