/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the wire codec: any bytes must decode safely, and
 * whatever decodes must re-encode to the identical frame (one encoding). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* Called by libFuzzer; declared here for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Rebuilds the encode-side fields from the decoded views, as a relay
 * would, and checks the result byte for byte. abort() is the fuzzer's
 * signal for a finding: a mismatch is a codec bug, never an input error. */
static void check_round_trip(const uint8_t *data, size_t size,
			     const struct tp_msg *dm)
{
	struct tp_msg m = *dm;
	struct tp_exec_entry *ents = NULL;
	struct tp_sync_entry *ws = NULL;
	struct tp_ws_change *rows = NULL;
	char **argv = NULL, **env = NULL;
	uint8_t *again = NULL;
	ssize_t n;

	if (m.type == TP_EXEC_START) {
		argv = tp_strv_dup(&m.start.argv);
		env = tp_strv_dup(&m.start.env);
		if (!argv || !env)
			abort();
		m.argv_c = (struct tp_cstrv){ (const char *const *)argv,
					      m.start.argv.count };
		m.env_c = (struct tp_cstrv){ (const char *const *)env,
					     m.start.env.count };
	} else if (m.type == TP_EXEC_TABLE) {
		uint32_t pos = 0, i = 0;

		/* count <= TP_TABLE_MAX: the decoder checked it. */
		ents = calloc((size_t)m.table.count + 1, sizeof(*ents));
		if (!ents)
			abort();
		while (i < m.table.count &&
		       tp_table_next(&m.table, &pos, &ents[i]))
			i++;
		if (i != m.table.count || pos != m.table.size)
			abort();
		m.table.entries = ents;
	} else if (m.type == TP_SYNC_TABLE) {
		uint32_t pos = 0, i = 0;

		/* count <= TP_WSTAB_MAX: the decoder checked it. */
		ws = calloc((size_t)m.wstab.count + 1, sizeof(*ws));
		if (!ws)
			abort();
		while (i < m.wstab.count &&
		       tp_wstab_next(&m.wstab, &pos, &ws[i]))
			i++;
		if (i != m.wstab.count || pos != m.wstab.size)
			abort();
		m.wstab.entries = ws;
	} else if (m.type == TP_WS_CHANGED) {
		uint32_t pos = 0, i = 0;

		/* count <= TP_WSCHG_MAX: the decoder checked it. */
		rows = calloc((size_t)m.changed.count + 1, sizeof(*rows));
		if (!rows)
			abort();
		while (i < m.changed.count &&
		       tp_changed_next(&m.changed, &pos, &rows[i]))
			i++;
		if (i != m.changed.count || pos != m.changed.size)
			abort();
		/* A client resolves these under its own directory. */
		for (i = 0; i < m.changed.count; i++)
			if (!tp_path_ok(rows[i].path.ptr, rows[i].path.len))
				abort();
		m.changed.rows = rows;
	} else if (m.type == TP_WS_READ &&
		   !tp_path_ok(m.wsread.path.ptr, m.wsread.path.len)) {
		abort();
	}

	n = tp_msg_encode(&m, &again);
	if (n < 0 || (size_t)n != size || memcmp(again, data, size) != 0)
		abort();

	free(again);
	free(argv);
	free(env);
	free(ents);
	free(ws);
	free(rows);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tp_decode_err err;
	struct tp_msg m;
	int r;

	r = tp_msg_decode(data, size, &m, &err);
	if (r == 0) {
		check_round_trip(data, size, &m);
		return 0;
	}
	/* Every refusal must be one of the documented codes and say why. */
	if (r != -EPROTO && r != -EPROTONOSUPPORT && r != -EMSGSIZE)
		abort();
	if (err.what[0] == '\0' || !memchr(err.what, '\0', sizeof(err.what)))
		abort();
	/* The decoder must not depend on err being present. */
	if (tp_msg_decode(data, size, &m, NULL) != r)
		abort();
	return 0;
}
