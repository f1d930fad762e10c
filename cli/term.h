/* SPDX-License-Identifier: MIT */
/* Terminal and signal plumbing for the CLI: a signalfd for the signals a
 * client forwards, raw mode for -t. */
#ifndef TETHER_TERM_H
#define TETHER_TERM_H

#include <stdbool.h>
#include <stdint.h>
#include <termios.h>

/* Block SIGINT, SIGTERM, SIGHUP, SIGWINCH in this thread (call before any
 * thread starts, so all inherit it) and return a signalfd for them. */
int cli_signals_open(void);

/* Close the signalfd and unblock its signals again, so that a client stuck
 * in teardown still dies of SIGTERM or Ctrl-C. Accepts -1. */
void cli_signals_close(int fd);

/* Window size of fd's terminal; false when fd is not a terminal. */
bool cli_term_size(int fd, uint16_t *rows, uint16_t *cols);

/* Put fd's terminal in raw mode, saving the old mode. 0 or -errno. */
int cli_term_raw(int fd, struct termios *saved);
void cli_term_restore(int fd, const struct termios *saved);

#endif
