/* SPDX-License-Identifier: MIT */
/* The config suites' fixture (config_fixture.h). */
#include "config_fixture.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Test JSON is written with ' for " to stay readable: q to JSON (free). */
char *dq(const char *q)
{
	char *text = strdup(q);

	assert_non_null(text);
	for (char *p = text; *p; p++)
		if (*p == '\'')
			*p = '"';
	return text;
}

int parse_q(const char *q, struct exec_config **ret, char *err)
{
	char *text = dq(q);
	int r;

	err[0] = '\0';
	r = exec_config_parse(text, strlen(text), "tether.json", ret, err,
			      ERR_CAP);
	free(text);
	return r;
}

struct exec_config *parse_ok(const char *q)
{
	struct exec_config *c = NULL;
	char err[ERR_CAP];

	if (parse_q(q, &c, err) < 0)
		fail_msg("unexpected error: %s", err);
	assert_non_null(c);
	return c;
}

/* Fails to parse with one line that holds each of the NULL-ended wants. */
void expect_error(const char *q, ...)
{
	struct exec_config *c = NULL;
	char err[ERR_CAP];
	const char *want;
	va_list ap;

	assert_int_equal(parse_q(q, &c, err), -EINVAL);
	assert_null(c);
	assert_null(strchr(err, '\n'));
	if (strncmp(err, "tether.json", 11) != 0)
		fail_msg("error does not start with the origin: %s", err);
	va_start(ap, q);
	while ((want = va_arg(ap, const char *)))
		if (!strstr(err, want))
			fail_msg("error '%s' does not contain '%s'", err, want);
	va_end(ap);
}

/* Resolves agent and checks the instance it gets. */
void expect_route(const struct exec_config *c, const char *agent,
		  const struct exec_backend_ops *ops, const char *name,
		  const char *url, uint32_t timeout_ms)
{
	struct exec_backend *b = NULL;
	uint32_t t = 12345;
	char err[ERR_CAP] = "";
	int r;

	r = exec_router_resolve(c, agent, &b, &t, err, sizeof(err));
	if (r < 0)
		fail_msg("resolve %s: %d %s", agent, r, err);
	assert_ptr_equal(b->ops, ops);
	assert_string_equal(b->name, name);
	if (url)
		assert_string_equal(b->url, url);
	else
		assert_null(b->url);
	assert_int_equal(t, timeout_ms);
	exec_backend_free(b);
}
