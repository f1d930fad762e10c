/* SPDX-License-Identifier: MIT */
/* The tether command's subcommands: each parses its options and calls the
 * subsystem APIs; the return value is the process exit code. */
#ifndef TETHER_CLI_H
#define TETHER_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

/* A failure of tether itself, as ssh uses it. */
#define CLI_EXIT_FAILURE 255
/* Bad usage. */
#define CLI_EXIT_USAGE 2

int cli_node(int argc, char **argv);
int cli_exec(int argc, char **argv);
int cli_ps(int argc, char **argv);
int cli_attach(int argc, char **argv);
int cli_kill(int argc, char **argv);
int cli_sync(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_watch(int argc, char **argv);
int cli_mount(int argc, char **argv);
int cli_changes(int argc, char **argv);
int cli_reset(int argc, char **argv);

/* The exit code and messages for a finished command: 124 on timeout (with
 * "sandbox timeout exceeded after Ns"), 128+N for signal N, else its code.
 * With json, one JSON object with the status and usage goes to stderr;
 * with stats, a human line. */
int cli_report_result(const struct exec_result *res, uint32_t timeout_ms,
		      const char *backend, bool json, bool stats);

#endif
