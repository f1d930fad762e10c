/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the config file (exec/config.c): any bytes parse,
 * or are refused with one line that starts with the origin; and a config
 * that parses routes every agent it lists (the loader's promise that
 * routing a listed agent cannot fail on a dangling name). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "config.h"

/* Called by libFuzzer; declared here for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() is the fuzzer's signal for a finding. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct exec_config *c = NULL;
	char err[512] = "";
	int r = exec_config_parse((const char *)data, size, "fuzz", &c, err,
				  sizeof(err));

	if (r < 0) {
		if (c || (r != -EINVAL && r != -ENOMEM))
			abort();
		if (r == -EINVAL &&
		    (strncmp(err, "fuzz", 4) != 0 || strchr(err, '\n')))
			abort();
		return 0;
	}
	if (!c)
		abort();
	for (size_t i = 0; i < c->n_agents; i++) {
		const char *id = c->agents[i].id;
		const struct exec_policy *p;
		struct exec_sandbox_req q;
		struct exec_backend *b = NULL;

		r = exec_router_resolve(c, id, &b, NULL, err, sizeof(err));
		if (r < 0 && r != -ENOMEM && r != -ENAMETOOLONG && r != -ENOENT)
			abort();
		exec_backend_free(b);
		if (exec_router_sandbox(c, id, &q, err, sizeof(err)) < 0 ||
		    exec_router_policy(c, id, &p, err, sizeof(err)) < 0)
			abort();
	}
	exec_config_free(c);
	return 0;
}
