/* SPDX-License-Identifier: MIT */
/* Shared fixture of the config suites (test_config.c, test_config_gateway.c):
 * test JSON written with ' for " to stay readable, parsed; the one-line
 * errors and the routes it gives checked. */
#ifndef TETHER_CONFIG_FIXTURE_H
#define TETHER_CONFIG_FIXTURE_H

#include <stdint.h>

#include "backend.h"
#include "config.h"

#define ERR_CAP 512

/* q with ' turned to " (free). */
char *dq(const char *q);
/* exec_config_parse of q, origin "tether.json"; err holds ERR_CAP. */
int parse_q(const char *q, struct exec_config **ret, char *err);
/* Parses, or fails the test with the error. */
struct exec_config *parse_ok(const char *q);
/* Fails to parse with one line that holds each of the NULL-ended wants. */
void expect_error(const char *q, ...);
/* Resolves agent and checks the instance it gets. */
void expect_route(const struct exec_config *c, const char *agent,
		  const struct exec_backend_ops *ops, const char *name,
		  const char *url, uint32_t timeout_ms);

#endif
