/* SPDX-License-Identifier: MIT */
/* tether exec's audit records (exec/audit.h, docs/config.md "Audit"):
 * "start" before the command runs, "end" after, tied by an id. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <jansson.h>

#include "audit.h"
#include "cli.h"
#include "codec.h"
#include "log.h"

static json_t *now_utc(void)
{
	struct timeval tv;
	struct tm tm;
	char buf[40];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), ".%03ldZ",
		 (long)(tv.tv_usec / 1000));
	return json_string(buf);
}

static json_t *strs(char *const *v, bool names_only)
{
	json_t *a = json_array();

	for (size_t i = 0; a && v && v[i]; i++) {
		size_t n = names_only ? strcspn(v[i], "=") : strlen(v[i]);

		json_array_append_new(a, json_stringn(v[i], n));
	}
	return a;
}

static json_t *sandbox_obj(const struct exec_sandbox_req *q)
{
	json_t *o;

	if (!q)
		return json_null();
	o = json_pack("{s:s, s:s}", "network", q->net_host ? "host" : "none",
		      "mount", exec_ws_mode_name(q->mode));
	if (o && q->lim.memory)
		json_object_set_new(o, "memory",
				    json_integer((json_int_t)q->lim.memory));
	if (o && q->lim.cpu_milli)
		json_object_set_new(o, "cpu_milli",
				    json_integer(q->lim.cpu_milli));
	if (o && q->lim.pids)
		json_object_set_new(o, "pids", json_integer(q->lim.pids));
	for (unsigned i = 0; o && i < EXEC_RL_N; i++)
		if (q->lim.rl_set & (1u << i))
			json_object_set_new(
				o, exec_rl_name(i),
				json_integer((json_int_t)q->lim.rl[i]));
	return o;
}

static int append(const struct cli_audit *a, json_t *rec)
{
	char err[PATH_MAX + 128];
	int r;

	if (!rec) {
		log_error("audit log %s: out of memory", a->path);
		return -ENOMEM;
	}
	r = exec_audit_append(a->path, rec, err, sizeof(err));
	json_decref(rec);
	if (r < 0)
		log_error("%s", err);
	return r;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

int cli_audit_start(struct cli_audit *a, const char *config_path,
		    const char *agent, const struct exec_backend *b,
		    const struct exec_spec *spec, const char *policy)
{
	char err[PATH_MAX + 128];
	int r = exec_audit_path(config_path, a->path, sizeof(a->path), err,
				sizeof(err));

	if (r < 0) {
		log_error("%s", err);
		return r;
	}
	exec_audit_id(a->id);
	a->agent = agent;
	a->backend = b->name;
	return append(
		a, json_pack("{s:s, s:s, s:o, s:o, s:s, s:s, s:o, s:o, "
			     "s:o, s:o, s:o, s:o, s:I, s:s}",
			     "event", "start", "id", a->id, "time", now_utc(),
			     "agent", str_or_null(agent), "backend", b->name,
			     "type", b->ops->type, "url", str_or_null(b->url),
			     "argv", strs(spec->argv, false), "cwd",
			     str_or_null(spec->cwd), "workspace",
			     str_or_null(spec->workspace), "env",
			     strs(spec->env, true), "sandbox",
			     sandbox_obj(spec->sandbox), "timeout_ms",
			     (json_int_t)spec->timeout_ms, "policy", policy));
}

int cli_audit_end(const struct cli_audit *a, const struct exec_result *res,
		  int run_error, int exit_code)
{
	const struct exec_status *st = &res->status;
	json_t *limits;
	bool rec_bytes;

	if (run_error < 0)
		return append(
			a, json_pack("{s:s, s:s, s:o, s:o, s:s, s:i, s:s}",
				     "event", "end", "id", a->id, "time",
				     now_utc(), "agent", str_or_null(a->agent),
				     "backend", a->backend, "exit", exit_code,
				     "error", strerror(-run_error)));
	limits = json_array();
	rec_bytes = res->counted;
	if (limits && (res->limits & TP_LIMIT_MEMORY))
		json_array_append_new(limits, json_string("memory"));
	if (limits && (res->limits & TP_LIMIT_PIDS))
		json_array_append_new(limits, json_string("pids"));
	return append(
		a,
		json_pack("{s:s, s:s, s:o, s:o, s:s, s:i, s:i, s:b, "
			  "s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}",
			  "event", "end", "id", a->id, "time", now_utc(),
			  "agent", str_or_null(a->agent), "backend", a->backend,
			  "exit", exit_code, "signal", st->signal, "timed_out",
			  res->timed_out, "wall_us", (json_int_t)st->wall_us,
			  "user_us", (json_int_t)st->user_us, "sys_us",
			  (json_int_t)st->sys_us, "max_rss_kb",
			  (json_int_t)st->maxrss_kb, "limits_hit", limits,
			  "out_bytes",
			  rec_bytes ? json_integer((json_int_t)res->out_bytes)
				    : json_null(),
			  "err_bytes",
			  rec_bytes ? json_integer((json_int_t)res->err_bytes)
				    : json_null(),
			  "files_changed",
			  res->files_known
				  ? json_integer((json_int_t)res->files_changed)
				  : json_null()));
}
